"""The `twinbench` command line: one file per command, argparse and printing only.

Each command module exposes `add_command(subparsers)`, which registers its
subcommand and sets `func` to the function that runs it and `parser` to its
parser (for errors shown with its usage); the work itself is done by the
library packages below (imported when the command runs, so that `twinbench
--help` and `twinbench data` start without loading torch). `args` holds the
parser and the checked numeric types every command shares.

`main` reports the errors a user can fix (`bench.errors.UserError`: a data set
that cannot be had, a file that is not what it should be, a diverged run) as
one message naming the file and what was wrong, with exit status 1, and Ctrl-C
with status 130; any other exception is a bug and keeps its traceback.
A write the machine refuses (a full disk, a read-only file system) is one such line
too (`bench.errors.write_error`), whichever command wrote.
`--debug` or TWINBENCH_DEBUG=1 shows the traceback of a user error too.
"""

from __future__ import annotations

import argparse
import os
import sys

from bench.cli import (
    accuracy,
    bench,
    check,
    convert,
    data,
    demo,
    evaluate,
    experiments,
    export,
    parity,
    peers,
    predict,
    report,
    train,
)
from bench.cli.args import Parser

COMMANDS = (experiments, parity, check, peers, data, train, evaluate, accuracy, report, bench,
            convert, export, predict, demo)

# The third-party packages of the `bench` extra, by import name.
BENCH_EXTRAS = {"torch", "pandas", "tabulate", "pytest_benchmark", "threadpoolctl", "tqdm",
                "platformdirs", "matplotlib", "pytest", "sklearn"}
# Packages of the optional extras (pyproject.toml), by import name: extra.
OPTIONAL_EXTRAS = {"safetensors": "formats", "PIL": "formats", "onnx": "export",
                   "onnxruntime": "export", "starlette": "demo", "uvicorn": "demo",
                   "markdown_it": "demo"}
DEBUG_ENV = "TWINBENCH_DEBUG"
HOW_TO_RUN = ("run twinbench through tox, which installs them: `tox -e bench -- COMMAND` "
              "(or pip install -e '.[bench]' into a virtual environment)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="twinbench",
        description="A NumPy network and its PyTorch twin, compared. "
                    "Run through tox: `tox -e bench -- COMMAND ...`.",
    )
    parser.add_argument("--debug", action="store_true",
                        help=f"show the traceback of every error, also of those that are the "
                             f"input's fault (same as {DEBUG_ENV}=1)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="`twinbench COMMAND --help` explains each")
    for command in COMMANDS:
        command.add_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from bench.errors import UserError, install_hint, write_error
    from bench.results.records import ResultsDirError

    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        try:
            return int(args.func(args) or 0)
        except OSError as err:  # a full disk or read-only file system: the user's to fix
            refused = None if isinstance(err, UserError) else write_error(err)
            if refused is None:
                raise
            raise refused from err
    except ResultsDirError as err:
        if debug:
            raise
        print(f"twinbench {args.command}: {err}", file=sys.stderr)
        return 2
    except UserError as err:
        if debug:
            raise
        print(f"twinbench {args.command}: {err}\n(--debug shows where this came from)",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if debug:
            raise
        # What was complete is saved (every file is written atomically); the command
        # that was interrupted has said how to continue, where it can.
        print(f"\ntwinbench {args.command}: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as err:
        top = (err.name or "").split(".")[0]
        if top in OPTIONAL_EXTRAS:
            print(f"twinbench {args.command}: this command needs the package {err.name!r} of "
                  f"the optional extra {OPTIONAL_EXTRAS[top]!r}: "
                  f"{install_hint(OPTIONAL_EXTRAS[top])}", file=sys.stderr)
            return 2
        if top not in BENCH_EXTRAS:
            raise
        print(f"twinbench {args.command}: this command needs the package {err.name!r}, which "
              f"this Python ({sys.executable}) lacks; {HOW_TO_RUN}", file=sys.stderr)
        return 2


INTERRUPTED = 130  # the exit status of a command stopped by Ctrl-C


def run() -> None:
    """The `twinbench` console script (and `python -m bench`): exit with `main`'s status.

    After Ctrl-C the command has kept its records and said where they are; the process then
    ends at once instead of tearing torch down (most of a second)."""
    code = main()
    if code == INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(INTERRUPTED)
    sys.exit(code)
