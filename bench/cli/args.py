"""What the commands share: a strict parser, checked numeric types, and a recorded run's
options and last words.

`Parser` turns argparse's prefix matching off (`--epoch` is not `--epochs`)
and makes a subcommand report an unknown option itself, with its own usage,
instead of leaving it to the top-level parser. The numeric types reject a
value out of range while the arguments are parsed, before any data loads.
A command that records a run (bench, accuracy, peers) takes `add_run_options`,
checks them with `publish_checkout` before any work, hands `publish_options` to
`results.report.finish_run`, and tells what it did with `say_finished`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


class Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args=None, namespace=None):
        ns, extra = super().parse_known_args(args, namespace)
        # A subcommand's parser is called with the arguments after its name: anything it
        # does not know is an error of that subcommand, shown with its usage.
        if extra and self._subparsers is None:
            self.error(f"unrecognized arguments: {' '.join(extra)}")
        return ns, extra


def _number(kind, minimum, what: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum or (kind is float and value != value):  # NaN compares false
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    parse.__name__ = what  # argparse names the type in some messages
    return parse


positive_int = _number(int, 1, "a positive integer")
non_negative_int = _number(int, 0, "a non-negative integer")
positive_float = _number(float, sys.float_info.min, "a positive number")
_port_number = _number(int, 0, "a port number (0-65535; 0: any free port)")


def port(text: str) -> int:
    value = _port_number(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number (0-65535; 0: any free port), "
                                         f"got {text!r}")
    return value


def fail(args: argparse.Namespace, message: str) -> None:
    """Stop with `message` under the running subcommand's usage (exit status 2)."""
    args.parser.error(message)


NAME_HELP = ("with --publish: the published run set's name (default: keep its name, else "
             "'reference')")
ALLOW_INCOMPLETE_HELP = ("with --publish: publish even a run that lacks rows of the full "
                         "reference (the full speed grid, the ceiling, every experiment's "
                         "accuracy and time to accuracy, lockstep, the peers); without it "
                         "such a run is refused, naming what is missing, and nothing changes")


def add_run_options(p: argparse.ArgumentParser) -> None:
    """--run-dir, --publish and --name, for a command that records a run."""
    p.add_argument("--run-dir", type=Path, metavar="DIR",
                   help="add the records to this run directory instead of a new one")
    p.add_argument("--publish", action="store_true",
                   help="maintainers: afterwards make this run part of the published "
                        "reference (results/ and the README)")
    p.add_argument("--name", metavar="NAME", help=NAME_HELP)
    p.add_argument("--allow-incomplete", action="store_true", help=ALLOW_INCOMPLETE_HELP)


def publish_options(args: argparse.Namespace) -> dict:
    """`finish_run`'s publishing keywords from the command's arguments: the set's --name,
    --allow-incomplete, the rows a complete reference holds (`measure.main`), and the
    registry's experiment names (a record of any other is refused)."""
    from bench.experiments import EXPERIMENTS
    from bench.measure.main import reference_requirements

    return {"name": args.name, "allow_incomplete": args.allow_incomplete,
            "required": reference_requirements(), "experiments": frozenset(EXPERIMENTS)}


def publish_checkout(args: argparse.Namespace) -> Path | None:
    """The checkout that --publish writes into, found before any work starts (None without
    --publish); outside a checkout, --publish stops with the command's usage."""
    if not args.publish:
        return None
    from bench.results.records import find_checkout

    checkout = find_checkout()
    if checkout is None:
        fail(args, "--publish writes the checkout's results/ and README: run from a "
                   "twinbench checkout")
    return checkout


def say_finished(done, *, summary: bool = True) -> None:
    """Tell what `finish_run` did (`done`, a FinishedRun): with `summary`, the summary's
    text too."""
    if done.summary is not None:
        if summary:
            print(f"\n{done.text}")
        print(f"summary, tables and plots: {done.run} ({done.summary.name})")
    if done.published is not None:
        n = len(done.published.files or ())
        parts = f" with {', '.join(map(str, done.parts))}" if done.parts else ""
        print(f"published {done.run}{parts} as {done.published.name!r} into "
              f"{done.published.directory} ({n} record{'s' * (n != 1)}, replacing the "
              f"published set): "
              + (", ".join(done.changed) if done.changed else "no table changed"))


def say_interrupted(run: Path) -> int:
    """After Ctrl-C in any phase of a command that records into `run`: say where its
    records are (every record is written whole, so each finished one is kept), or that
    there are none; returns 130, the exit status of an interrupted command."""
    from bench.results.records import all_record_files

    done = all_record_files(run) if (run / "records").is_dir() else []
    if done:
        print(f"\ninterrupted: {len(done)} finished record{'s' * (len(done) != 1)} kept in "
              f"{run}; `twinbench report {run}` builds their tables. Nothing outside the run "
              "directory changed.", flush=True)
    else:
        print(f"\ninterrupted before the first record: {run} holds none. Nothing outside "
              "the run directory changed.", flush=True)
    return 130
