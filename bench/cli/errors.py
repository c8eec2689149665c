"""How a command reports bad input: one line on stderr naming what was expected and what
came, exit status 1, no traceback."""

from __future__ import annotations

import sys

# What bad input raises in the library: a wrong file, format, architecture or argument.
USER_ERRORS = (ValueError, FileNotFoundError, IsADirectoryError, PermissionError, ImportError)


def fail(command: str, err: BaseException) -> int:
    print(f"twinbench {command}: error: {err}", file=sys.stderr)
    return 1
