"""The on-disk cache: where it lives, atomic writes, and the source sidecar.

Layout: `<root>/<data set>/<standard IDX name>` (uncompressed, verified before
it is written) plus `<root>/<data set>/source.json` recording where each file
came from. The root is `$TWINBENCH_DATA`, else the platform's user cache dir.

Every write goes through the one atomic writer, `scratch.atomic`: a
reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bench.datasets.errors import CacheError
from scratch import atomic

ENV_VAR = "TWINBENCH_DATA"
SIDECAR = "source.json"


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


def _cache_error(directory: Path):
    def error(err: OSError) -> CacheError:
        return CacheError(
            f"cannot write to the cache directory {directory}: {err.strerror or err}. "
            f"Fix: free space there, or point {ENV_VAR} (or cache_dir=) at a writable "
            f"directory."
        )
    return error


def temp_file(directory: Path, name: str):
    """A temporary file in the cache directory (`scratch.atomic.temp_file`)."""
    return atomic.temp_file(directory, name, on_error=_cache_error(directory))


def store(path: Path, data: bytes | bytearray | memoryview) -> None:
    """Write a verified file into the cache with the one atomic writer."""
    atomic.write_atomic(path, data, on_error=_cache_error(path.parent))


def read_sidecar(directory: Path) -> dict[str, Any]:
    """The recorded provenance of a cached data set ({} if none or unreadable)."""
    try:
        data = json.loads((directory / SIDECAR).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_sidecar(directory: Path, record: dict[str, Any]) -> None:
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    store(directory / SIDECAR, text.encode("utf-8"))
