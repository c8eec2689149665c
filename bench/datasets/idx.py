"""The IDX file format (as used by MNIST): decompress, check, parse, write.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number
of dimensions), one big-endian uint32 per dimension, then the data in C order.
Only type 0x08 (unsigned byte) occurs in the MNIST family.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import zlib

import numpy as np

from bench.datasets.errors import HashMismatchError, IDXFormatError
from bench.datasets.specs import FileSpec

GZIP_MAGIC = b"\x1f\x8b"


def sha256(data: bytes | bytearray | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def maybe_gunzip(data: bytes, what: str, expected_size: int | None = None) -> bytes:
    """`data` decompressed if it is gzip (judged by content, not name), else as is.

    Reads at most one byte past `expected_size`, so a wrong or hostile file
    cannot blow up memory; a larger result is reported as wrong size by `parse`.
    """
    if not data.startswith(GZIP_MAGIC):
        return data
    limit = -1 if expected_size is None else expected_size + 1
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            return f.read(limit)
    except EOFError as e:  # the stream ends before its end marker
        raise IDXFormatError(f"{what}: truncated gzip data ({e})") from e
    except (OSError, zlib.error) as e:  # bad header, bad CRC or length, bad deflate data
        raise IDXFormatError(f"{what}: corrupt gzip data ({e})") from e


# A gzipped IDX file is never much larger than the IDX bytes it holds (deflate's worst case
# adds 5 bytes per 16 KiB block); anything larger is not one of our files.
GZIP_SLACK = 1 << 20


def check_file(path, spec: FileSpec, what: str) -> None:
    """Refuse a file on disk that cannot be `spec`'s, from its first 4 bytes and its size,
    before it is read: a raw IDX file must carry the magic number and be exactly
    `spec.nbytes` long, a gzipped one at most `spec.nbytes + GZIP_SLACK`."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(4 + 4 * len(spec.shape))
    if head.startswith(GZIP_MAGIC):
        if size > spec.nbytes + GZIP_SLACK:
            raise IDXFormatError(f"{what}: {size} bytes of gzip data is more than the "
                                 f"{spec.nbytes} bytes of {spec.name} could take")
        return
    check_header(head, spec, what)
    if size != spec.nbytes:
        why = "truncated" if size < spec.nbytes else "trailing bytes"
        raise IDXFormatError(f"{what}: expected {spec.nbytes} bytes for {spec.name}, the file "
                             f"has {size} ({why})")


def header(shape: tuple[int, ...]) -> bytes:
    """IDX header for an unsigned-byte array of `shape`."""
    return struct.pack(f">I{len(shape)}I", 0x0800 | len(shape), *shape)


def encode(array: np.ndarray) -> bytes:
    """IDX bytes of a uint8 array (any number of dimensions)."""
    if array.dtype != np.uint8:
        raise TypeError(f"IDX files here hold uint8, got {array.dtype}")
    return header(array.shape) + np.ascontiguousarray(array).tobytes()


def check_header(data: bytes | bytearray, spec: FileSpec, what: str) -> int:
    """Check the magic number and dimensions at the start of `data` against `spec`;
    the header's length."""
    ndim = len(spec.shape)
    if len(data) < 4:
        raise IDXFormatError(f"{what}: {len(data)} bytes is too short for an IDX file")
    (magic,) = struct.unpack(">I", data[:4])
    if magic != spec.magic:
        raise IDXFormatError(
            f"{what}: wrong IDX magic number: expected 0x{spec.magic:08x} "
            f"(unsigned bytes, {ndim} dimension{'s' * (ndim > 1)}), got 0x{magic:08x}"
        )
    head = 4 + 4 * ndim
    if len(data) < head:
        raise IDXFormatError(f"{what}: file ends inside the IDX header ({len(data)} bytes)")
    shape = struct.unpack(f">{ndim}I", data[4:head])
    if shape != spec.shape:
        kind = "labels" if ndim == 1 else "images"
        raise IDXFormatError(
            f"{what}: wrong dimensions: expected {kind} of shape {spec.shape}, "
            f"the header says {shape}"
        )
    return head


def parse(data: bytes | bytearray, spec: FileSpec, what: str) -> np.ndarray:
    """The uint8 array in IDX `data`, checked against `spec`'s magic and shape.

    Returns a view on `data` (writable when `data` is a bytearray).
    """
    head = check_header(data, spec, what)
    body = len(data) - head
    if body != spec.nbytes - head:
        raise IDXFormatError(
            f"{what}: expected {spec.nbytes - head} data bytes for shape {spec.shape}, "
            f"got {body} ({'truncated' if body < spec.nbytes - head else 'trailing bytes'})"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=head).reshape(spec.shape)


def verify(data: bytes | bytearray, spec: FileSpec, what: str, fix: str) -> np.ndarray:
    """Parse IDX `data` and check its SHA-256 against the pinned one; the array."""
    array = parse(data, spec, what)
    actual = sha256(data)
    if actual != spec.sha256:
        raise HashMismatchError(what, spec.sha256, actual, fix)
    return array


def check_pair(images: np.ndarray, labels: np.ndarray, what: str, num_classes: int) -> None:
    """Images and labels of one split belong together: same count, labels in range."""
    if len(images) != len(labels):
        raise IDXFormatError(
            f"{what}: {len(labels)} labels for {len(images)} images; the counts must match"
        )
    if labels.size and int(labels.max()) >= num_classes:
        raise IDXFormatError(
            f"{what}: labels must be in 0..{num_classes - 1}, found {int(labels.max())}"
        )
