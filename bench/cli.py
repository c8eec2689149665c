"""The `twinbench` command line: one subcommand per job.

Each feature module exposes `add_command(subparsers)`, which registers its
subcommand and sets `func` to the function that runs it.
"""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    from bench import accuracy, bench_cli, data_cli, parity, report, train_cli

    parser = argparse.ArgumentParser(
        prog="twinbench",
        description="A NumPy network and its PyTorch twin, compared.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parity.add_command(sub)
    data_cli.add_command(sub)
    train_cli.add_command(sub)
    accuracy.add_command(sub)
    report.add_command(sub)
    bench_cli.add_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
