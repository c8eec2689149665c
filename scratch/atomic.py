"""The one atomic writer: every file twinbench writes appears whole or not at all.

Data goes to a temporary file in the target's directory, named `.NAME.XXXX.part`
(NAME the target's name: whose it is shows), is fsynced, and is then renamed
over the target (`os.replace`) or, for files that must never be overwritten
(records), hard-linked to a new name (`os.link` fails if the name exists); the
directory is fsynced after, so that the rename survives a power loss. The
temporary file is removed on any exception, KeyboardInterrupt included, so an
interrupted write leaves the old file and no debris. A write killed outright
(SIGKILL, power loss) leaves its temporary: `sweep_stale_parts` removes old
ones, matched by the one pattern, `STALE_PATTERN`.

Files get the mode a plain `open` would give under the user's umask
(`file_mode`), not mkstemp's 0600. scratch.save, reference's writers and every
writer in bench use this module.

A write that fails (a full disk, a read-only or refusing directory) raises an OSError
naming the target, never the temporary, with `bytes_needed` set to the size of the data
where it is known (None for a streaming writer); `on_error` receives that same error and
may turn it into the caller's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

PART_SUFFIX = ".part"
# Every temporary this writer makes, and the download directories bench makes beside
# them (`.wheel-XXXX.part`): a dot, anything, the suffix.
STALE_PATTERN = f".*{PART_SUFFIX}"

OnError = Callable[[OSError], Exception]
Data = str | bytes | bytearray | memoryview | Callable[[IO[bytes]], None]


def file_mode() -> int:
    """The mode a plain `open(path, "w")` would give a new file: 0o666 less the umask.

    mkstemp creates files 0600 whatever the umask; every file twinbench writes gets this
    mode instead (0644 under umask 022, 0640 under 027), read when the file is written.
    """
    mask = os.umask(0o022)  # the only way to read it is to set it; put it straight back
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def temp_file(directory: str | os.PathLike, name: str, *, on_error: OnError | None = None
              ) -> Iterator[tuple[IO[bytes], Path]]:
    """An open temporary file `.NAME.XXXX.part` in `directory`, removed when the block ends.

    The caller may os.replace it into place inside the block; otherwise (or on any
    exception, KeyboardInterrupt included) it is deleted. If the directory refuses
    the file, `on_error(err)` (when given) is raised instead of the OSError, so that
    callers can say what to fix.
    """
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=PART_SUFFIX)
    except OSError as err:
        named = at_target(err, Path(directory) / name, None)
        raise (named if on_error is None else on_error(named)) from err
    path = Path(tmp)
    try:
        with contextlib.suppress(OSError):  # not on every platform / file system
            os.fchmod(fd, file_mode())
        f = os.fdopen(fd, "wb")
        try:
            yield f, path
        except BaseException:
            # Closing flushes the buffer, which a full disk refuses again: the error in
            # flight already says why, and the one raised here would hide it.
            with contextlib.suppress(OSError):
                f.close()
            raise
        f.close()
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def write_atomic(path: str | os.PathLike, data: Data, *, overwrite: bool = True,
                 on_error: OnError | None = None) -> None:
    """Write `data` to `path` so that no reader ever sees a partial file.

    `data` is bytes, a str (written as UTF-8), or `write(f)`, called with the open
    temporary file (for writers that stream, as np.savez and torch.save do).
    With overwrite=False an existing `path` raises FileExistsError and is left as it was.
    Any other OSError (a full disk, a directory in the way) becomes `on_error(err)` when
    given, as a temporary file the directory refuses does.
    """
    path = Path(os.path.abspath(path))
    size = None if callable(data) else len(data.encode("utf-8") if isinstance(data, str)
                                            else data)
    with temp_file(path.parent, path.name, on_error=on_error) as (f, tmp):
        try:
            if callable(data):
                data(f)
            else:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
            if overwrite:
                os.replace(tmp, path)
            else:
                os.link(tmp, path)
        except OSError as err:  # a full disk, a directory in the way: say what to fix
            if isinstance(err, FileExistsError) and not overwrite:
                raise
            named = at_target(err, path, size)
            raise (named if on_error is None else on_error(named)) from err
    _fsync_dir(path.parent)


def at_target(err: OSError, path: Path, size: int | None) -> OSError:
    """`err` as it reads to the user: naming `path`, the file they asked for, instead of
    the temporary (or of no file, as a full disk's write does), and carrying `bytes_needed`,
    the size of the data, where known."""
    named = OSError(err.errno, err.strerror or str(err), os.fspath(path))  # its subclass
    named.bytes_needed = size
    return named


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not supported everywhere, hence best effort.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def sweep_stale_parts(directory: str | os.PathLike, older_than_s: float = 3600.0) -> None:
    """Remove the temporaries (files, or directories) matching `STALE_PATTERN` in `directory`
    that a killed process left behind.

    Only old ones: a younger one may belong to a writer running right now.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return
    now = time.time()
    for p in directory.glob(STALE_PATTERN):
        with contextlib.suppress(OSError):
            if now - p.stat().st_mtime > older_than_s:
                shutil.rmtree(p) if p.is_dir() else p.unlink()
