"""`twinbench report`: tables and plots from the records, of a run or of the published reference.

    twinbench report RUN_DIR              rebuild a run's tables, plots and summary.md
    twinbench report                      rebuild results/, README and docs/ from the published set
    twinbench report --check              exit 1 if results/, the README or docs/ are stale
    twinbench report --publish RUN_DIR    add a run's records to the published reference

The published reference is the checkout's results/: the records its manifest
(results/published.json) lists, shown in results/*.md, the README and docs/*.md. Only
--publish adds to it, all or nothing: every record of the run is checked first
(a regular file, a valid record, an experiment of the registry), and a run
that would leave a published table with fewer rows is refused unless
--allow-shrink.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.cli.args import ALLOW_SHRINK_HELP, NAME_HELP, fail, publish_options, say_finished


def _run(args: argparse.Namespace) -> int:
    from bench.datasets import class_names
    from bench.results.records import find_checkout, published_dir
    from bench.results.report import check_published, finish_run, published_pages, write_report

    if args.run_dir is not None:
        if args.check or args.publish:
            fail(args, "RUN_DIR goes with --publish RUN_DIR, not with --check or alone "
                       "beside --publish")
        if not (args.run_dir / "records").is_dir():
            fail(args, f"{args.run_dir} holds no records/: expected a run directory")
        say_finished(finish_run(args.run_dir, publish=False, class_names=class_names))
        return 0
    checkout = find_checkout()
    if checkout is None:
        fail(args, "the published results live in a twinbench checkout: run from one, or "
                   "pass a RUN_DIR")
    if args.publish is not None:
        say_finished(finish_run(args.publish, publish=True, **publish_options(args),
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
    p.add_argument("--publish", type=Path, metavar="RUN_DIR",
                   help="maintainers: add RUN_DIR's records to the published reference and "
                        "rebuild results/, the README and docs/ from it")
    p.add_argument("--name", metavar="NAME", help=NAME_HELP)
    p.add_argument("--allow-shrink", action="store_true", help=ALLOW_SHRINK_HELP)
    p.set_defaults(func=_run, parser=p)
