"""Weights files of every format twinbench reads: `.npz`, `.safetensors` and torch's `.pt`.

`load(path)` and `save(obj, path)` choose the format by suffix. `.npz` and
`.safetensors` are scratch's own (`scratch.save` / `scratch.load`, NumPy
only); `.pt` / `.pth` are torch's, here because scratch never imports torch:

- `save` writes what `torch.save(model.state_dict(), path)` writes: a dict of
  tensors (nested dicts and strings allowed, as in a training checkpoint),
  atomically through `scratch.atomic.write_atomic`.
- `load` reads with `torch.load(..., weights_only=True)`, which unpickles only
  tensors, containers and plain values, never arbitrary objects, and refuses a
  file holding anything but a (possibly nested) dict of tensors, numbers and
  strings, naming what it found. Tensors come back as NumPy arrays. It keeps the
  size limit `scratch.load` keeps (`max_bytes`), from the zip's directory before
  torch reads the storages and from the tensors' shapes before any is copied out (a
  tensor saved as an expanded view of a small storage would otherwise grow while it is
  copied), and refuses tensors with no data (on the meta device) by name.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping

import numpy as np
import torch

import scratch
from scratch.atomic import write_atomic
from scratch.serialization import DEFAULT_MAX_BYTES, TORCH_SUFFIXES

SUFFIXES = (".npz", ".safetensors", *TORCH_SUFFIXES)


def is_torch_file(path: str | os.PathLike) -> bool:
    return os.fspath(path).lower().endswith(TORCH_SUFFIXES)


def check_suffix(path: str | os.PathLike) -> None:
    """Refuse a path whose suffix names no format twinbench writes."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{os.fspath(path)}: expected a file name ending in "
                         f"{', '.join(SUFFIXES)}, got {suffix or 'no suffix'!r}")


def save(obj: Mapping, path: str | os.PathLike) -> None:
    """Write a (nested) dict of arrays, numbers and strings in the format `path`'s suffix names."""
    check_suffix(path)
    if not is_torch_file(path):
        scratch.save(obj, path)
        return
    if not isinstance(obj, Mapping):
        raise TypeError(f"save expects a dict such as model.state_dict(), got {type(obj).__name__}")
    state = _to_torch(obj, "")
    write_atomic(path, lambda f: torch.save(state, f))


def load(path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES) -> dict:
    """Read a weights file of any supported format; tensors come back as NumPy arrays.

    At most `max_bytes` of array data, as `scratch.load`; more is a ValueError naming the
    file, before the data is read or copied.
    """
    check_suffix(path)
    if not is_torch_file(path):
        return scratch.load(path, max_bytes=max_bytes)
    path = os.fspath(path)
    if os.path.exists(path) and not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: expected a torch state_dict file (the zip archive torch.save "
                         "writes), got a file that is not a zip archive")
    if os.path.exists(path):
        with zipfile.ZipFile(path) as zf:  # the storages, by the directory's word
            stored = sum(i.file_size for i in zf.infolist() if "/data/" in i.filename)
        _check_size(stored, max_bytes, path, "its storages")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise ValueError(f"{path}: expected a torch state_dict file (torch.save of a dict of "
                         f"tensors, numbers and strings), found one torch.load(weights_only="
                         f"True) refuses to read: {_reason(err)}") from None
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path}: expected a state_dict (a dict of names to tensors), "
                         f"got {type(obj).__name__}")
    _check_size(sum(t.numel() * t.element_size() for t in _tensors(obj)), max_bytes, path,
                "its tensors")
    return _to_numpy(obj, path, "")


def _tensors(obj: Mapping):
    for value in obj.values():
        if isinstance(value, Mapping):
            yield from _tensors(value)
        elif torch.is_tensor(value):
            yield value


def _check_size(nbytes: int, max_bytes: int, path: str, what: str) -> None:
    if nbytes > max_bytes:
        raise ValueError(f"{path}: {what} hold {nbytes} bytes, more than max_bytes "
                         f"({max_bytes}); pass max_bytes=... to read it")


def _reason(err: Exception) -> str:
    """The line of torch's long refusal that says what the file held (an unsupported
    global: a class or function the pickle would call), not its general advice."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    for line in lines:
        if "unsupported global" in line.lower() or "Unsupported operand" in line:
            return line.removeprefix("WeightsUnpickler error: ").split(" Please use")[0]
    return lines[-1] if lines else type(err).__name__


def _to_torch(obj: Mapping, prefix: str) -> dict:
    out = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out[key] = _to_torch(value, name + "/")
        elif isinstance(value, str) or (isinstance(value, np.ndarray) and value.dtype.kind == "U"
                                        and value.ndim == 0):
            out[key] = str(value)
        else:
            arr = np.asarray(value)
            if arr.dtype.kind not in "biuf":
                raise TypeError(f"save: {name!r} is a {arr.dtype} array; a .pt state_dict "
                                "holds numeric tensors, numbers and strings")
            out[key] = torch.from_numpy(arr.copy())  # own memory: torch.save keeps strides
    return out


def _to_numpy(obj: Mapping, path: str, prefix: str) -> dict:
    out = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if not isinstance(key, str):
            raise ValueError(f"{path}: expected a state_dict with string keys, "
                             f"got key {key!r} ({type(key).__name__})")
        if isinstance(value, Mapping):
            out[key] = _to_numpy(value, path, name + "/")
        elif torch.is_tensor(value) and value.is_meta:
            raise ValueError(f"{path}: expected tensors with data, but tensor {name!r} is on "
                             "the meta device (a shape without values)")
        elif torch.is_tensor(value):
            try:
                out[key] = value.detach().cpu().numpy().copy()
            except TypeError as err:  # bfloat16 and other types NumPy lacks
                raise ValueError(f"{path}: tensor {name!r} has dtype {value.dtype}, which "
                                 f"NumPy cannot hold: {err}") from None
        elif isinstance(value, str):
            out[key] = np.array(value)
        elif isinstance(value, (bool, int, float)):
            out[key] = np.asarray(value)
        else:
            raise ValueError(f"{path}: expected a state_dict (names to tensors), but "
                             f"{name!r} holds a {type(value).__name__}")
    return out
