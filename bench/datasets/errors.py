"""Exceptions raised by bench.datasets.

Every error names what was expected and what came, and says how to fix it.
`DatasetError` is the common base, so callers can catch one class; it is a
`bench.errors.UserError`, which the command line reports without a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.errors import UserError


class DatasetError(UserError, RuntimeError):
    """A data set could not be obtained, read or verified."""


class IDXFormatError(DatasetError, ValueError):
    """A file is not a well-formed IDX file of the expected shape (or bad gzip)."""


class HashMismatchError(DatasetError, ValueError):
    """A file parsed fine but its SHA-256 is not the pinned one."""

    def __init__(self, what: str, expected: str, actual: str, fix: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"{what}: SHA-256 of the decompressed IDX bytes is {actual}, expected {expected}. "
            f"These are not the original bytes (corrupt, truncated, or another data set). "
            f"Fix: {fix}"
        )


class CacheError(DatasetError, OSError):
    """The cache directory cannot be created or written."""


class SourceUnavailable(DatasetError):
    """One source could not supply one file; the next source is tried.

    `whole_source` is True when the source as a whole is out (host unreachable,
    directory missing), so it is not asked again for the other files.
    """

    def __init__(self, reason: str, *, whole_source: bool = False) -> None:
        self.whole_source = whole_source
        super().__init__(reason)


class AllSourcesFailed(DatasetError):
    """Every source was tried for a file and none gave verified bytes."""

    def __init__(self, what: str, attempts: Sequence[tuple[str, str]], fix: str) -> None:
        self.attempts = list(attempts)  # (source label, why it failed)
        lines = [f"could not obtain {what} from any source; tried, in order:"]
        lines += [f"  - {label}: {why}" for label, why in self.attempts]
        lines.append(f"Fix: {fix}")
        super().__init__("\n".join(lines))
