"""`twinbench report`: rebuild (or, with --check, check) the tables and plots from the records."""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from bench.results.report import report

    stale = report(args.check)
    if args.check:
        if stale:
            print("stale (run `twinbench report`): " + ", ".join(stale))
            return 1
        print("README and results/*.md are up to date with results/records")
        return 0
    print("updated: " + (", ".join(stale) if stale else "nothing (already up to date)"))
    return 0


def add_command(sub) -> None:
    p = sub.add_parser("report", help="tables in results/ and the README from the records")
    p.add_argument("--check", action="store_true",
                   help="change nothing; exit 1 if README or results/*.md are stale")
    p.set_defaults(func=_run)
