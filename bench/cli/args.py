"""What every command's arguments share: a strict parser and checked numeric types.

`Parser` turns argparse's prefix matching off (`--epoch` is not `--epochs`)
and makes a subcommand report an unknown option itself, with its own usage,
instead of leaving it to the top-level parser. The numeric types reject a
value out of range while the arguments are parsed, before any data loads.
"""

from __future__ import annotations

import argparse
import sys


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
