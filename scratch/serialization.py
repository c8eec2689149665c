"""save / load: state dicts to `.npz` or `.safetensors` files, never pickle.

The suffix chooses the format:

- `.npz` (and any suffix other than the ones below): a zip of .npy arrays plus a
  marker entry identifying the format, read with `allow_pickle=False`.
- `.safetensors`: the safetensors format (Hugging Face's), through the
  `safetensors` package's NumPy API, imported only when such a file is read or
  written (`pip install twinbench[formats]`), so `import scratch` loads numpy
  alone. Arrays become tensors; strings (a checkpoint's JSON entries) go into
  the header's string metadata beside the format marker. A file written from a
  state dict holds exactly the tensors `safetensors.torch.load_file` hands to
  `load_state_dict`, and any safetensors file of tensors (torch's included) loads.
- `.pt` / `.pth` are torch's: `reference.formats` reads and writes them.

Nested dicts (e.g. {"model": ..., "optimizer": ...}) are flattened with "/" in
the keys. Files are written to a temporary name in the target's directory,
fsynced and renamed (`write_file_atomic`), so an interrupted save never leaves
a half-written file; the file gets the mode umask allows, as `open` would give.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from typing import IO

import numpy as np

FORMAT = "twinbench-scratch-checkpoint-v1"
_MARKER = "__format__"
_SEP = "/"
SAFETENSORS = ".safetensors"
TORCH_SUFFIXES = (".pt", ".pth")


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


def _unflatten(flat: Mapping[str, np.ndarray]) -> dict:
    out: dict = {}
    for key, arr in flat.items():
        *parents, leaf = key.split(_SEP)
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = arr
    return out


def _current_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it; put it straight back
    os.umask(mask)
    return mask


def write_file_atomic(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Call `write(f)` on a temporary file beside `path`, then rename it over `path`.

    On any exception (KeyboardInterrupt included) the temporary file is removed and
    `path` keeps its old contents. mkstemp creates files 0600: the finished file gets
    0666 less the umask instead, as a plain `open` would.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=directory)
    try:
        with contextlib.suppress(OSError):  # not on every platform / file system
            os.fchmod(fd, 0o666 & ~_current_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _safetensors():
    try:
        import safetensors.numpy
    except ImportError as err:
        raise ImportError("reading or writing .safetensors files needs the safetensors package: "
                          "pip install 'twinbench[formats]' (or pip install safetensors)"
                          ) from err
    return safetensors


def _refuse_torch_suffix(path: str, what: str) -> None:
    if path.lower().endswith(TORCH_SUFFIXES):
        raise ValueError(f"{what}: {path} is a torch file ({', '.join(TORCH_SUFFIXES)}); "
                         "scratch reads and writes .npz and .safetensors, "
                         "reference.formats reads and writes torch's .pt files")


def save(obj: Mapping, path: str | os.PathLike) -> None:
    """Write a (possibly nested) dict of arrays, numbers and strings to `path` atomically.

    `.safetensors` selects the safetensors format, any other suffix `.npz`.
    """
    if not isinstance(obj, Mapping):
        raise TypeError(f"save expects a dict such as model.state_dict(), got {type(obj).__name__}")
    path = os.fspath(path)
    _refuse_torch_suffix(path, "save")
    flat = _flatten(obj)
    if path.lower().endswith(SAFETENSORS):
        payload = _safetensors_bytes(flat)
        write_file_atomic(path, lambda f: f.write(payload))
    else:
        write_file_atomic(path, lambda f: np.savez(f, **{_MARKER: np.array(FORMAT)}, **flat))


def _safetensors_bytes(flat: dict[str, np.ndarray]) -> bytes:
    st = _safetensors()
    tensors, metadata = {}, {_MARKER: FORMAT}
    for name, arr in flat.items():
        if arr.dtype.kind == "U" and arr.ndim == 0:
            metadata[name] = str(arr)  # safetensors keeps strings only in its header
        elif arr.dtype.kind in "biuf":
            tensors[name] = np.require(arr, requirements="C")  # keeps 0-d arrays 0-d
        else:
            raise TypeError(f"save: {name!r} is a {arr.dtype} array of shape {arr.shape}; "
                            "a .safetensors file holds numeric arrays and single strings")
    return st.numpy.save(tensors, metadata=metadata)


def load(path: str | os.PathLike) -> dict:
    """Read a file written by `save` (or any safetensors file); nested dicts come back nested.

    Raises ValueError if the file is not a scratch checkpoint or holds pickled data.
    """
    path = os.fspath(path)
    _refuse_torch_suffix(path, "load")
    if path.lower().endswith(SAFETENSORS):
        return _unflatten(_load_safetensors(path))
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
    return _unflatten(flat)


def _load_safetensors(path: str) -> dict[str, np.ndarray]:
    st = _safetensors()
    try:
        with st.safe_open(path, framework="numpy") as f:
            metadata = f.metadata() or {}
            flat = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)
    except (st.SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable .safetensors file: {err}") from err
    fmt = metadata.get(_MARKER)
    if fmt is None:
        return flat  # written elsewhere (torch, Hugging Face): tensors only, metadata not ours
    if fmt != FORMAT:
        raise ValueError(f"{path}: unsupported checkpoint format {fmt!r}, expected {FORMAT!r}")
    flat.update({k: np.array(v) for k, v in metadata.items() if k != _MARKER})
    return flat
