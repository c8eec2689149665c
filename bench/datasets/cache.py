"""The on-disk cache: where it lives, atomic writes, and the source sidecar.

Layout: `<root>/<data set>/<standard IDX name>` (uncompressed, verified before
it is written) plus `<root>/<data set>/source.json` recording where each file
came from. The root is `$TWINBENCH_DATA`, else the platform's user cache dir.

Every write goes to a temporary file in the same directory, is fsynced, then
renamed over the target with os.replace, so a reader sees the old file or
the new one, never half of one; the temporary file is removed on any
exception, KeyboardInterrupt included.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from bench.datasets.errors import CacheError

ENV_VAR = "TWINBENCH_DATA"
SIDECAR = "source.json"
PART_SUFFIX = ".part"


def _current_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it; put it straight back
    os.umask(mask)
    return mask


# mkstemp creates files 0600; cache files get the usual mode (0644 under umask 022).
_FILE_MODE = 0o666 & ~_current_umask()


def default_root() -> Path:
    """`$TWINBENCH_DATA`, else e.g. ~/.cache/twinbench/data on Linux."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    import platformdirs  # only needed when no override is set

    return Path(platformdirs.user_cache_dir("twinbench")) / "data"


def ensure_dir(path: Path) -> Path:
    """Create `path` (and parents) if needed; CacheError naming it if we cannot."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CacheError(
            f"cannot create the cache directory {path}: {e.strerror or e} "
            f"({type(e).__name__}). Fix: point {ENV_VAR} (or cache_dir=) at a writable "
            f"directory."
        ) from e
    if not os.access(path, os.W_OK | os.X_OK):
        raise CacheError(
            f"the cache directory {path} is not writable. Fix: point {ENV_VAR} "
            f"(or cache_dir=) at a writable directory."
        )
    return path


@contextlib.contextmanager
def temp_file(directory: Path, name: str) -> Iterator[tuple[IO[bytes], Path]]:
    """An open temporary file next to `directory/name`, removed when the block ends.

    The caller may os.replace it into place inside the block; otherwise (or on
    any exception, KeyboardInterrupt included) it is deleted.
    """
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=PART_SUFFIX)
    except OSError as e:
        raise CacheError(
            f"cannot write to the cache directory {directory}: {e.strerror or e}. "
            f"Fix: point {ENV_VAR} (or cache_dir=) at a writable directory."
        ) from e
    path = Path(tmp)
    try:
        with contextlib.suppress(OSError):  # not on every platform / file system
            os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            yield f, path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def atomic_write(path: Path, data: bytes | bytearray | memoryview) -> None:
    """Write `data` to `path` so that no reader ever sees a partial file."""
    with temp_file(path.parent, path.name) as (f, tmp):
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
        os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not supported everywhere, hence best effort.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def sweep_stale_parts(directory: Path, older_than_s: float = 3600.0) -> None:
    """Remove temporary files a killed process (SIGKILL, power loss) left behind.

    Only old ones: a younger one may belong to a fetch running right now.
    """
    if not directory.is_dir():
        return
    now = time.time()
    for p in directory.glob(f".*{PART_SUFFIX}"):  # files, and pip's download dirs
        with contextlib.suppress(OSError):
            if now - p.stat().st_mtime > older_than_s:
                shutil.rmtree(p) if p.is_dir() else p.unlink()


def read_sidecar(directory: Path) -> dict[str, Any]:
    """The recorded provenance of a cached data set ({} if none or unreadable)."""
    try:
        data = json.loads((directory / SIDECAR).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_sidecar(directory: Path, record: dict[str, Any]) -> None:
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    atomic_write(directory / SIDECAR, text.encode("utf-8"))
