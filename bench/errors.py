"""The errors a user can cause or fix: the family the command line reports in one line.

`UserError` is the base of every exception that means "the input, the files or
the machine are not as expected", as opposed to a bug: a data set that cannot be
had (`bench.datasets.DatasetError`), a results directory that cannot be written
(`bench.results.records.ResultsDirError`), a file that is not what it should be
(`FileFormatError`: a checkpoint, a record, a README), a training run that
diverged (`bench.training.TrainingDiverged`). `twinbench` (bench.cli.main)
prints such an error's message, which names the file and what was wrong, and
exits with status 1; every other exception is a bug and keeps its traceback.
`--debug` (or TWINBENCH_DEBUG=1) shows the traceback of a user error too.

This module is below every layer of bench, so any of them may raise these.

`INPUT_ERRORS` are what code that cannot raise `UserError` raises for bad input:
scratch and reference (which may not import bench) and the readers of pictures,
weights and ONNX files raise ValueError, FileNotFoundError and their kin. The
commands that hand a user's file to them turn these into `UserError` with
`user_error`.

A write the machine refuses (a full disk or quota, a read-only file system, no
permission) is the user's to fix too: `write_error` is the one place that turns such an
OSError, from any writer (they all go through `scratch.atomic`, which names the target
file), into a `WriteError` saying which file, why, and how much space it needed; `main`
of the command line applies it to every command.
"""

from __future__ import annotations

import errno
import os
import shutil


def install_hint(extra: str) -> str:
    """How to get an optional extra: twinbench is not on PyPI, so from the checkout (or
    through tox, whose bench environment carries every extra the commands need)."""
    return (f"pip install -e '.[{extra}]' in the twinbench checkout (it is not on PyPI), or "
            f"run it as `tox -e bench -- COMMAND`, which has every extra")


class UserError(Exception):
    """Something the user can fix; the message says what and where."""


class FileFormatError(UserError, ValueError):
    """A file twinbench reads (checkpoint, record, manifest, README) is not what it should
    be; the message names the file."""


class WriteError(UserError, OSError):
    """A file could not be written: its directory is full, read-only or not ours."""


# The errnos of a refused write that the user fixes: space, quota, read-only, permission.
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


def write_error(err: OSError) -> WriteError | None:
    """`err` as one line naming the file, the reason and, for a full disk, the space the
    write needed and the space left; None when `err` is not a refused write (a bug)."""
    if err.errno not in WRITE_ERRNOS:
        return None
    where = err.filename or "a file"
    # Permission is refused to readers too: only space and read-only are surely a write.
    verb = "cannot use" if err.errno in (errno.EACCES, errno.EPERM) else "cannot write"
    text = f"{verb} {where}: {err.strerror or err}"
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        needed = getattr(err, "bytes_needed", None)
        text += f"; it needed {_size(needed)}" if needed is not None else ""
        free = free_bytes(os.path.dirname(os.fspath(where)) if err.filename else None)
        text += f", and {_size(free)} are free there" if free is not None else ""
        text += ". Free some space, or write elsewhere"
    return WriteError(text)


def free_bytes(directory: str | os.PathLike | None) -> int | None:
    """Bytes free to the user in `directory`'s file system, or None if it cannot be told."""
    try:
        return shutil.disk_usage(directory).free if directory else None
    except OSError:
        return None


def _size(n: int) -> str:
    return f"{n} bytes" if n < 2**20 else f"{n / 2**20:.1f} MiB"


# What scratch, reference and third-party readers raise for a user's file or argument.
INPUT_ERRORS = (ValueError, FileNotFoundError, IsADirectoryError, PermissionError, ImportError)


def user_error(err: BaseException) -> UserError:
    """`err` (one of INPUT_ERRORS) as a UserError with its message, to raise `from err`."""
    return UserError(str(err))
