"""The `twinbench` command line: one file per command, argparse and printing only.

Each command module exposes `add_command(subparsers)`, which registers its
subcommand and sets `func` to the function that runs it; the work itself is
done by the library packages below (imported when the command runs, so that
`twinbench --help` and `twinbench data` start without loading torch).
"""

from __future__ import annotations

import argparse

from bench.cli import (
    accuracy,
    bench,
    convert,
    data,
    demo,
    evaluate,
    export,
    parity,
    predict,
    report,
    train,
)

COMMANDS = (parity, data, train, evaluate, accuracy, report, bench, convert, export, predict,
            demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="twinbench",
        description="A NumPy network and its PyTorch twin, compared.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
