"""save / load: state dicts to `.npz` or `.safetensors` files, never pickle.

The suffix chooses the format:

- `.npz` (and any suffix other than the ones below): a zip of .npy arrays plus a
  marker entry identifying the format. `load` checks every member's header before
  it reads any data (numbers only, sizes that match the zip's, at most `max_bytes`)
  and reads with `allow_pickle=False`.
- `.safetensors`: the safetensors format (Hugging Face's), through the
  `safetensors` package's NumPy API, imported only when such a file is read or
  written (`pip install safetensors`, or the checkout's extra: `pip install -e
  '.[formats]'`), so `import scratch` loads numpy alone. Arrays become tensors;
  strings (a checkpoint's JSON entries) go into
  the header's string metadata beside the format marker. A file written from a
  state dict holds exactly the tensors `safetensors.torch.load_file` hands to
  `load_state_dict`, and any safetensors file of tensors (torch's included) loads.
- `.pt` / `.pth` are torch's: `reference.formats` reads and writes them.

Nested dicts (e.g. {"model": ..., "optimizer": ...}) are flattened with "/" in
the keys. Files are written by the one atomic writer, `scratch.atomic.write_atomic`,
so an interrupted save never leaves a half-written file; the file gets the mode
umask allows, as `open` would give.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections.abc import Mapping

import numpy as np

from scratch.atomic import write_atomic

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


def _safetensors():
    try:
        import safetensors.numpy
    except ImportError as err:
        raise ImportError("reading or writing .safetensors files needs the safetensors package: "
                          "pip install safetensors (in the twinbench checkout: "
                          "pip install -e '.[formats]')") from err
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
        write_atomic(path, _safetensors_bytes(flat))
    else:
        write_atomic(path, lambda f: np.savez(f, **{_MARKER: np.array(FORMAT)}, **flat))


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


# What `load` accepts in a member: numbers (bool, integers, floats, complex), and strings
# only as single values (the format marker, JSON metadata). Objects would need pickle;
# bytes, structured and other kinds are nothing `save` writes.
_NUMERIC_KINDS = "biufc"
DEFAULT_MAX_BYTES = 2**30


def _member_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str
                   ) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data bytes) from one member's .npy header, checked before any data
    is read: a numeric dtype (or a single string), and as many data bytes as the zip says
    the member holds."""
    what = f"{path}: member {info.filename!r}"
    with zf.open(info) as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            elif version in ((2, 0), (3, 0)):
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"unknown .npy version {version}")
        except ValueError as err:
            raise ValueError(f"{what} is not a valid .npy array: {err}") from err
        header_len = f.tell()
    if any(n < 0 for n in shape):
        raise ValueError(f"{what}: its header declares the negative shape {shape}")
    if dtype.hasobject:
        raise ValueError(f"{what} holds pickled data (an object array), which scratch.load "
                         "refuses (it could run arbitrary code)")
    if dtype.kind not in _NUMERIC_KINDS and not (dtype.kind == "U" and shape == ()):
        raise ValueError(f"{what} has dtype {dtype}: expected numbers (a string only as a "
                         f"single value), shape {shape}")
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize  # exact, never overflows
    if nbytes != info.file_size - header_len:
        raise ValueError(f"{what}: its header declares {shape} of {dtype} ({nbytes} bytes), "
                         f"but the member holds {info.file_size - header_len} data bytes")
    return shape, dtype, nbytes


def load(path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES) -> dict:
    """Read a file written by `save` (or any safetensors file); nested dicts come back nested.

    A .safetensors file is refused if its data exceed `max_bytes`. In an .npz, every
    member's .npy header is checked before anything is read: numeric arrays
    only (strings as single values, as `save` writes them), data sizes that match the
    zip's, and at most `max_bytes` of array data in all (default 2**30, 1 GiB, far above
    any model here; pass a larger value for a larger checkpoint).

    Raises ValueError naming the file and the member if the file is not a scratch
    checkpoint, holds pickled or non-numeric data, more data than `max_bytes`, keys that
    cannot nest (both "a" and "a/b"), or is damaged.
    """
    path = os.fspath(path)
    _refuse_torch_suffix(path, "load")
    if path.lower().endswith(SAFETENSORS):
        return _nest(_load_safetensors(path, max_bytes), path)
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a scratch checkpoint: expected an .npz (zip) file "
                         "written by scratch.save")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            names = [i.filename for i in infos]
            if f"{_MARKER}.npy" not in names:
                raise ValueError(f"{path} is not a scratch checkpoint: no {_MARKER!r} entry "
                                 f"(found {names[:5]})")
            _check_contiguous(zf, infos, path)
            keys: dict[str, zipfile.ZipInfo] = {}
            total = 0
            for info in infos:
                if not info.filename.endswith(".npy"):
                    raise ValueError(f"{path}: member {info.filename!r} is not a .npy array; "
                                     "scratch.save writes nothing else")
                key = info.filename[:-4]
                if key in keys:
                    raise ValueError(f"{path}: member {info.filename!r} appears twice")
                _, _, nbytes = _member_header(zf, info, path)
                total += nbytes
                if total > max_bytes:
                    raise ValueError(f"{path}: its arrays hold over {max_bytes} bytes (by "
                                     f"member {info.filename!r}), more than max_bytes; pass "
                                     "scratch.load(path, max_bytes=...) to read it")
                keys[key] = info
            fmt = _read_member(zf, keys.pop(_MARKER), path)
            if fmt.dtype.kind != "U" or str(fmt) != FORMAT:
                raise ValueError(f"{path}: unsupported checkpoint format {str(fmt)!r}, "
                                 f"expected {FORMAT!r}")
            flat = {k: _read_member(zf, info, path) for k, info in keys.items()}
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError,
            RuntimeError) as err:  # RuntimeError: a member flagged as encrypted
        raise ValueError(f"{path} is not a readable scratch checkpoint: {err}") from err
    return _nest(flat, path)


def _check_contiguous(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], path: str) -> None:
    """The members the zip's directory lists must fill the file up to that directory, one
    after the other, as `save` writes them: a damaged directory that lists fewer members
    than the file holds would otherwise drop arrays without a word."""
    pos = 0
    fp = zf.fp
    for info in sorted(infos, key=lambda i: i.header_offset):
        fp.seek(info.header_offset)
        local = fp.read(30)
        if info.header_offset != pos or len(local) < 30 or local[:4] != b"PK\x03\x04":
            raise ValueError(f"{path}: damaged zip: member {info.filename!r} is not where "
                             "the directory says, or members are missing from the directory")
        name_len, extra_len = int.from_bytes(local[26:28], "little"), \
            int.from_bytes(local[28:30], "little")
        pos = info.header_offset + 30 + name_len + extra_len + info.compress_size
        if info.flag_bits & 0x08:  # a data descriptor follows the data
            fp.seek(pos)
            pos += 16 if fp.read(4) == b"PK\x07\x08" else 12
    if pos != zf.start_dir:
        raise ValueError(f"{path}: damaged zip: {zf.start_dir - pos} bytes before its directory "
                         "belong to no member it lists")


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str) -> np.ndarray:
    with zf.open(info) as f:
        try:
            return np.lib.format.read_array(f, allow_pickle=False)
        except ValueError as err:
            raise ValueError(f"{path}: member {info.filename!r} is damaged: {err}") from err


def _nest(flat: dict[str, np.ndarray], path: str) -> dict:
    """{"a/b": x} -> {"a": {"b": x}}; a key that is both a value and a dict is refused."""
    out: dict = {}
    for key, arr in flat.items():  # in the file's order, which is the order saved
        parts = key.split(_SEP)
        if not all(parts):
            raise ValueError(f"{path}: member {key + '.npy'!r} has an empty key part")
        node = out
        for i, part in enumerate(parts):
            here = _SEP.join(parts[:i + 1])
            last = i == len(parts) - 1
            if part in node and (last or not isinstance(node[part], dict)):
                raise ValueError(f"{path}: {here!r} is both an array and a group of arrays "
                                 f"(member {key + '.npy'!r})")
            if last:
                node[part] = arr
            else:
                node = node.setdefault(part, {})
    return out


# The safetensors dtypes NumPy holds; bfloat16 and the float8 kinds it has no type for.
_SAFETENSORS_NUMPY = ("F64", "F32", "F16", "I64", "I32", "I16", "I8", "U64", "U32", "U16",
                      "U8", "BOOL")
_MAX_HEADER = 100 * 2**20  # the safetensors package's own limit on the header


def _check_safetensors_dtypes(header: bytes, path: str) -> None:
    """Refuse, naming it, a tensor of a dtype NumPy cannot hold (the package would raise a
    TypeError of its own for it); a header that is not JSON is left to the package."""
    try:
        entries = json.loads(header)
    except ValueError:
        return
    for name, entry in entries.items() if isinstance(entries, dict) else ():
        dtype = entry.get("dtype") if isinstance(entry, dict) else None
        if name != "__metadata__" and dtype is not None and dtype not in _SAFETENSORS_NUMPY:
            raise ValueError(f"{path}: tensor {name!r} has dtype {dtype}, which NumPy cannot "
                             f"hold; expected one of {', '.join(_SAFETENSORS_NUMPY)} (convert "
                             "it to float32 first, e.g. tensor.float() in torch)")


def _load_safetensors(path: str, max_bytes: int) -> dict[str, np.ndarray]:
    st = _safetensors()
    try:
        with open(path, "rb") as f:
            header_len = int.from_bytes(f.read(8), "little")  # the format's first 8 bytes
            header = f.read(min(header_len, _MAX_HEADER))
        data_bytes = os.path.getsize(path) - 8 - header_len
    except OSError as err:
        raise ValueError(f"{path} is not a readable .safetensors file: {err}") from err
    if data_bytes > max_bytes:
        raise ValueError(f"{path}: its tensors hold {data_bytes} bytes, more than max_bytes "
                         f"({max_bytes}); pass scratch.load(path, max_bytes=...) to read it")
    _check_safetensors_dtypes(header, path)
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
