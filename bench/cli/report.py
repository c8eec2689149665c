"""`twinbench report`: tables and plots from the records, of a run or of the published reference.

    twinbench report RUN_DIR              rebuild a run's tables, plots and summary.md
    twinbench report                      rebuild results/, README and docs/ from the published set
    twinbench report --check              exit 1 if results/, the README or docs/ are stale
    twinbench report --publish RUN_DIR [RUN_DIR ...]
                                          make a run (or its parts) the published reference

The published reference is the checkout's results/: the records its manifest
(results/published.json) lists, shown in results/*.md, the README and docs/*.md. Only
--publish changes it, all or nothing, and it replaces the whole set: no table
keeps a row of an older machine or run. Every record is checked first (a
regular file, a valid record, an experiment of the registry); all the parts of
a run planned in parts must come from one machine (one machine id); and a run
that lacks rows of the full reference (`twinbench bench --full`, `twinbench
peers`, `twinbench peers --race`) is refused, naming what is missing, unless
--allow-incomplete.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.cli.args import ALLOW_INCOMPLETE_HELP, NAME_HELP, fail, publish_options, say_finished


def _run(args: argparse.Namespace) -> int:
    from bench.datasets import class_names
    from bench.results.records import all_record_files, find_checkout, published_dir
    from bench.results.report import check_published, finish_run, published_pages, write_report

    if args.run_dir is not None:
        if args.check or args.publish:
            fail(args, "RUN_DIR goes with --publish RUN_DIR, not with --check or alone "
                       "beside --publish")
        if not args.run_dir.is_dir():
            fail(args, f"{args.run_dir} is not a directory: expected a run directory")
        if not ((args.run_dir / "records").is_dir() and all_record_files(args.run_dir)):
            print(f"twinbench report: {args.run_dir} is an empty run: no records to report "
                  "(a run interrupted before its first record)", file=sys.stderr)
            return 1
        say_finished(finish_run(args.run_dir, publish=False, class_names=class_names))
        return 0
    checkout = find_checkout()
    if checkout is None:
        fail(args, "the published results live in a twinbench checkout: run from one, or "
                   "pass a RUN_DIR")
    if args.publish is not None:
        first, *parts = args.publish
        say_finished(finish_run(first, publish=True, **publish_options(args), parts=parts,
                                class_names=class_names, checkout=checkout, render=False))
        return 0
    if args.check:
        stale = check_published(checkout)
        if stale:
            print("stale (run `twinbench report`): " + ", ".join(stale))
            return 1
        print("README, docs/ and results/ are up to date with the published records")
        return 0
    stale = write_report(published_dir(checkout), published_pages(checkout),
                         class_names=class_names)
    print("updated: " + (", ".join(stale) if stale else "nothing (already up to date)"))
    return 0


def add_command(sub) -> None:
    p = sub.add_parser("report", help="tables and plots of a run, or of the published reference",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", nargs="?", type=Path, metavar="RUN_DIR",
                   help="a run directory (from `twinbench bench` or `accuracy`) whose tables, "
                        "plots and summary to rebuild; without it, the published reference")
    p.add_argument("--check", action="store_true",
                   help="change nothing; exit 1 if the README, docs/*.md or results/ are stale")
    p.add_argument("--publish", type=Path, nargs="+", metavar="RUN_DIR",
                   help="maintainers: make RUN_DIR's records (with several: the parts of one "
                        "run, all from one machine) the published reference, replacing the "
                        "old one, and rebuild results/, the README and docs/ from them")
    p.add_argument("--name", metavar="NAME", help=NAME_HELP)
    p.add_argument("--allow-incomplete", action="store_true", help=ALLOW_INCOMPLETE_HELP)
    p.set_defaults(func=_run, parser=p)
