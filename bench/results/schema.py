"""What a JSON value read from disk must look like, checked field by field before use.

A schema is plain data:

- a type, `str`, `int`, `bool`, `list` or `dict`: a value of exactly that type
  (an int is not a bool; a list or dict of anything);
- `NUMBER`: a finite int or float (not a bool); `POSITIVE`: one above 0 (a time
  that is divided by); `MEASURE`: a number, or NaN for "not measured" (what
  json.dumps writes for a float('nan'));
- `TWIN`: "scratch", "torch" or "torch-cuda"; `DIGITS`: a whole number written
  in digits (a batch size used as a key);
- `NAME`: a name that is safe in a file name, a table cell and a markdown link
  (letters, digits, `.`, `_`, `-`; an experiment's name);
- `TIME`: an ISO 8601 time;
- a dict `{key: schema}`: an object holding those keys (others are allowed and
  not read); `Optional(schema)` marks a key that may be missing;
- a list `[schema]`: a list whose items all match; `Some(schema)`: such a list
  of at least one item;
- `MapOf(schema, key)`: an object whose values all match, its keys `key` (any
  string by default);
- `Maybe(schema)`: also null.

`problems(value, schema)` lists what does not match, each naming the path to
the value (`matmul[0].gflops: expected a finite number, got nan`), so that a
damaged file is refused in one line instead of failing deep inside a table.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import NamedTuple

NUMBER = "a finite number"
POSITIVE = "a number above 0"
TWIN = "scratch, torch or torch-cuda"
DIGITS = "a whole number in digits"
MEASURE = "a number or NaN"
NAME = "a name of letters, digits, '.', '_' and '-'"
TIME = "an ISO 8601 time"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# Problems named in one message; the rest are counted.
SHOWN = 3


class Optional(NamedTuple):
    """A key that may be missing from its object."""

    of: object


class Some(NamedTuple):
    """A list of at least one item, each matching `of`."""

    of: object


class Maybe(NamedTuple):
    """A value that may also be null."""

    of: object


class MapOf(NamedTuple):
    """An object whose values match `of` and whose keys match `key`."""

    of: object
    key: object = str


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_time(v) -> bool:
    try:
        dt.datetime.fromisoformat(v)
    except (TypeError, ValueError):
        return False
    return True


_SCALARS = {
    NUMBER: lambda v: _is_number(v) and math.isfinite(v),
    POSITIVE: lambda v: _is_number(v) and math.isfinite(v) and v > 0,
    TWIN: lambda v: v in ("scratch", "torch", "torch-cuda"),
    DIGITS: lambda v: isinstance(v, str) and v.isascii() and v.isdigit(),
    MEASURE: lambda v: _is_number(v) and not math.isinf(v),
    NAME: lambda v: isinstance(v, str) and NAME_PATTERN.fullmatch(v) is not None,
    TIME: lambda v: isinstance(v, str) and _is_time(v),
}
_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "a list",
               dict: "an object"}


def _got(value) -> str:
    return f"got {value!r:.40}"


def _key(key: str) -> str:
    """A key as a path names it: plain when it is a name, else quoted (on one line)."""
    return key if NAME_PATTERN.fullmatch(key) else f"{key!r:.40}"


def problems(value, schema, where: str = "") -> list[str]:
    """What in `value` does not match `schema`: "path: expected ..., got ...", in order."""
    if isinstance(schema, Maybe):
        return [] if value is None else problems(value, schema.of, where)
    at = f"{where}: " if where else ""
    if isinstance(schema, str):
        return [] if _SCALARS[schema](value) else [f"{at}expected {schema}, {_got(value)}"]
    if isinstance(schema, type):
        exact = type(value) is schema
        return [] if exact else [f"{at}expected {_TYPE_NAMES[schema]}, {_got(value)}"]
    if isinstance(schema, (list, Some)):
        if type(value) is not list or (isinstance(schema, Some) and not value):
            return [f"{at}expected a list{' of at least one item' * isinstance(schema, Some)}, "
                    f"{_got(value)}"]
        return [p for i, item in enumerate(value) for p in problems(item, schema[0],
                                                                     f"{where}[{i}]")]
    if type(value) is not dict:
        return [f"{at}expected an object, {_got(value)}"]
    prefix = f"{where}." if where else ""
    if isinstance(schema, MapOf):
        return [p for k, v in value.items()
                for p in [*problems(k, schema.key, f"{prefix}{_key(k)} (a key)"),
                          *problems(v, schema.of, f"{prefix}{_key(k)}")]]
    out = []
    for key, want in schema.items():
        if key not in value:
            if not isinstance(want, Optional):
                out.append(f"{prefix}{key}: missing")
            continue
        out += problems(value[key], want.of if isinstance(want, Optional) else want,
                        f"{prefix}{key}")
    return out


def summary(found: list[str]) -> str:
    """The first few problems in one line, and how many more there are."""
    more = len(found) - SHOWN
    return "; ".join(found[:SHOWN]) + (f"; and {more} more" if more > 0 else "")
