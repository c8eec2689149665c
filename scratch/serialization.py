"""save / load: state dicts to `.npz` files without pickle.

A checkpoint is a zip of .npy arrays plus a marker entry identifying the
format. Nested dicts (e.g. {"model": ..., "optimizer": ...}) are flattened with
"/" in the keys. Files are written to a temporary name and renamed, so an
interrupted save never leaves a half-written checkpoint.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Mapping

import numpy as np

FORMAT = "twinbench-scratch-checkpoint-v1"
_MARKER = "__format__"
_SEP = "/"


def _flatten(obj: Mapping, prefix: str = "") -> dict[str, np.ndarray]:
    flat: dict[str, np.ndarray] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or _SEP in key or not key or key == _MARKER:
            raise ValueError(f"save: keys must be non-empty strings without {_SEP!r} "
                             f"and not {_MARKER!r}, got {key!r}")
        name = prefix + key
        if isinstance(value, Mapping):
            if not value:
                raise ValueError(f"save: empty mapping at {name!r} cannot be stored")
            flat.update(_flatten(value, name + _SEP))
            continue
        arr = np.asarray(value)
        if arr.dtype == object:
            raise TypeError(f"save: {name!r} is {type(value).__name__}, which needs pickle; "
                            "expected arrays, numbers, strings or dicts of them")
        flat[name] = arr
    return flat


def save(obj: Mapping, path: str | os.PathLike) -> None:
    """Write a (possibly nested) dict of arrays, numbers and strings to `path` atomically."""
    if not isinstance(obj, Mapping):
        raise TypeError(f"save expects a dict such as model.state_dict(), got {type(obj).__name__}")
    flat = _flatten(obj)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{_MARKER: np.array(FORMAT)}, **flat)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by `save`; nested dicts come back nested.

    Raises ValueError if the file is not a scratch checkpoint or holds pickled data.
    """
    path = os.fspath(path)
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a scratch checkpoint: expected an .npz (zip) file "
                         "written by scratch.save")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if _MARKER not in npz.files:
                raise ValueError(f"{path} is not a scratch checkpoint: no {_MARKER!r} entry "
                                 f"(found {npz.files[:5]})")
            fmt = str(npz[_MARKER])
            if fmt != FORMAT:
                raise ValueError(f"{path}: unsupported checkpoint format {fmt!r}, "
                                 f"expected {FORMAT!r}")
            flat = {k: npz[k] for k in npz.files if k != _MARKER}
    except ValueError as err:
        if "pickle" in str(err):
            raise ValueError(f"{path} holds pickled data, which scratch.load refuses "
                             "(it could run arbitrary code)") from err
        raise
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise ValueError(f"{path} is not a readable scratch checkpoint: {err}") from err
    out: dict = {}
    for key, arr in flat.items():
        *parents, leaf = key.split(_SEP)
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = arr
    return out
