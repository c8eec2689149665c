"""The real MNIST and Fashion-MNIST, the input helpers, and `twinbench data`.

Real-data tests read the cache (or a system copy), never the network: CI
fetches both data sets first (tox's commands_pre). A missing data set skips
them locally and fails them under CI=true (see conftest_data.require_real).
"""

from __future__ import annotations

import argparse
import hashlib

import numpy as np
import pytest
from conftest_data import make_toy, require_real

from bench import datasets
from bench.cli import data as data_cli
from bench.datasets import idx

MNIST_COUNTS = {
    "train": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    "test": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
}
FASHION_COUNTS = {"train": [6000] * 10, "test": [1000] * 10}
FIRST_LABELS = {  # the original order, as everyone's copy starts
    ("mnist", "train"): [5, 0, 4, 1, 9, 2, 1, 3, 1, 4],
    ("mnist", "test"): [7, 2, 1, 0, 4, 1, 4, 9, 5, 9],
    ("fashion-mnist", "train"): [9, 0, 0, 3, 0, 2, 7, 2, 5, 5],
    ("fashion-mnist", "test"): [9, 2, 1, 1, 6, 1, 4, 6, 5, 7],
}
# mean / std of pixel/255 over the training images (MNIST's famous 0.1307, 0.3081)
TRAIN_STATS = {"mnist": (0.13066, 0.30811), "fashion-mnist": (0.28604, 0.35302)}


@pytest.fixture(scope="module")
def real():
    """name -> {split: (images, labels)}, loaded once per module."""
    loaded: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}

    def get(name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        if name not in loaded:
            require_real(name)
            loaded[name] = {s: datasets.load(name, s, network=False) for s in datasets.SPLITS}
        return loaded[name]

    return get


# --- the real data ------------------------------------------------------------


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_real_data_shapes_dtypes_counts_and_hashes(real, name):
    data = real(name)
    counts = MNIST_COUNTS if name == "mnist" else FASHION_COUNTS
    spec = datasets.get_spec(name)
    for split, n in (("train", 60_000), ("test", 10_000)):
        images, labels = data[split]
        assert images.shape == (n, 28, 28) and labels.shape == (n,)
        assert images.dtype == labels.dtype == np.uint8
        assert np.bincount(labels, minlength=10).tolist() == counts[split]
        assert labels[:10].tolist() == FIRST_LABELS[(name, split)]
        # Encoding the arrays again gives the pinned IDX bytes: these are the originals.
        images_spec, labels_spec = spec.split_files(split)
        assert hashlib.sha256(idx.encode(images)).hexdigest() == images_spec.sha256
        assert hashlib.sha256(idx.encode(labels)).hexdigest() == labels_spec.sha256


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_real_training_statistics(real, name):
    stats = datasets.pixel_stats(real(name)["train"][0])
    np.testing.assert_allclose((stats.mean, stats.std), TRAIN_STATS[name], atol=1e-5)


def test_real_data_info_says_where_it_came_from(real):
    real("mnist")
    real("fashion-mnist")
    states = {d.name: d for d in datasets.info()}
    for name in ("mnist", "fashion-mnist"):
        assert states[name].verified, [f.problem for f in states[name].files]
        assert states[name].sizes == {"train": 60_000, "test": 10_000}


def test_pinned_table():
    # The table from the issue, character for character.
    want = {
        "mnist": "ba891046 65a50cbb 0fa7898d ff7bcfd4",
        "fashion-mnist": "c59f468a bad3541b 5b4141f0 0402a96d",
    }
    for name, prefixes in want.items():
        spec = datasets.DATASETS[name]
        assert [f.sha256[:8] for f in spec.files] == prefixes.split()
        assert all(len(f.sha256) == 64 for f in spec.files)
        assert [f.shape[0] for f in spec.files] == [60_000, 60_000, 10_000, 10_000]
        assert all(m.startswith("https://") for m in spec.mirrors) and len(spec.mirrors) >= 2
    assert "/usr/share/datasets/fashion-mnist" in datasets.FASHION_MNIST.system_dirs
    with pytest.raises(ValueError, match="unknown data set 'cifar'"):
        datasets.get_spec("cifar")
    with pytest.raises(ValueError, match="split must be one of"):
        datasets.MNIST.split_files("val")


# --- inputs for the twins -----------------------------------------------------


def test_to_inputs_layouts_and_scaling():
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    flat = datasets.to_inputs(images)
    assert flat.shape == (5, 784) and flat.dtype == np.float32
    np.testing.assert_array_equal(flat, images.reshape(5, 784).astype(np.float32) / 255)
    img = datasets.to_inputs(images, layout="image")
    assert img.shape == (5, 1, 28, 28)
    np.testing.assert_array_equal(img.reshape(5, 784), flat)
    assert 0.0 <= flat.min() and flat.max() <= 1.0
    with pytest.raises(ValueError, match="layout must be"):
        datasets.to_inputs(images, layout="nhwc")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected uint8 images"):
        datasets.to_inputs(images.astype(np.float32))


def test_standardising_uses_the_given_statistics():
    images = np.random.default_rng(1).integers(0, 256, (50, 28, 28), dtype=np.uint8)
    stats = datasets.pixel_stats(images)
    x = images.astype(np.float64) / 255
    np.testing.assert_allclose((stats.mean, stats.std), (x.mean(), x.std()), rtol=1e-12)
    z = datasets.to_inputs(images, stats=stats)
    assert z.dtype == np.float32
    np.testing.assert_allclose((z.mean(), z.std()), (0.0, 1.0), atol=1e-5)


def test_load_inputs_standardises_test_split_with_training_statistics(tmp_path):
    toy = make_toy()
    src = toy.write_dir(tmp_path / "src")
    x, y = datasets.load_inputs(toy.spec, "test", layout="image", standardize=True,
                                data_dir=src, cache_dir=tmp_path / "c")
    assert x.shape == (10, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    stats = datasets.pixel_stats(toy.arrays["train-images-idx3-ubyte"])
    expected = datasets.to_inputs(toy.arrays["t10k-images-idx3-ubyte"], layout="image",
                                  stats=stats)
    np.testing.assert_array_equal(x, expected)


def test_stratified_split_is_exact_proportional_and_deterministic():
    labels = np.repeat(np.arange(10), [50, 60, 70, 80, 90, 100, 110, 120, 130, 140])
    np.random.default_rng(3).shuffle(labels)
    train, val = datasets.stratified_split(labels, 0.1, np.random.default_rng(7))
    assert len(val) == 95 and len(train) == len(labels) - 95
    assert np.intersect1d(train, val).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(len(labels)))
    assert np.all(np.diff(val) > 0) and np.all(np.diff(train) > 0)  # original order kept
    share = np.bincount(labels[val], minlength=10) / np.bincount(labels, minlength=10)
    assert np.all(np.abs(share - 0.1) < 0.02)

    again = datasets.stratified_split(labels, 0.1, 7)  # a seed works as well as a Generator
    np.testing.assert_array_equal(again[1], val)
    other = datasets.stratified_split(labels, 0.1, 8)
    assert not np.array_equal(other[1], val)
    assert len(datasets.stratified_split(labels, 123, 0)[1]) == 123


@pytest.mark.parametrize("size", [0.0, 1.0, 0, 950, -3])
def test_stratified_split_rejects_bad_sizes(size):
    with pytest.raises(ValueError, match="size"):
        datasets.stratified_split(np.arange(950) % 10, size, 0)


# --- the command line ---------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="twinbench")
    data_cli.add_command(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(list(argv))


def test_cli_arguments(tmp_path):
    args = parse("data", "fetch")
    assert args.dataset == "all" and args.data_dir is None and callable(args.func)
    args = parse("data", "fetch", "fashion-mnist", "--data-dir", str(tmp_path))
    assert args.dataset == "fashion-mnist" and args.data_dir == tmp_path
    assert parse("data", "info").func is data_cli.run_info
    with pytest.raises(SystemExit):
        parse("data", "fetch", "cifar")


def test_cli_fetch_and_info(tmp_path, monkeypatch, capsys):
    toy = make_toy()
    monkeypatch.setitem(datasets.DATASETS, "toy", toy.spec)
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path / "cache"))
    src = toy.write_dir(tmp_path / "src")

    args = parse("data", "fetch", "toy", "--data-dir", str(src), "--no-progress")
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert f"toy: 4 files verified in {tmp_path / 'cache' / 'toy'} from data dir {src}" in out

    args = parse("data", "info")
    assert args.func(args) == 0
    out = capsys.readouterr().out
    block = out[out.index("toy (Toy)"):]
    assert "verified: yes" in block and f"source:   data dir {src}" in block
    assert "train 30, test 10" in block


def test_cli_fetch_failure_exit_code_and_message(tmp_path, monkeypatch, capsys):
    toy = make_toy()
    monkeypatch.setitem(datasets.DATASETS, "toy", toy.spec)
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path / "cache"))
    args = parse("data", "fetch", "toy", "--offline")
    assert args.func(args) == 1
    err = capsys.readouterr().err
    assert "toy: FAILED" in err and "could not obtain toy/train-images-idx3-ubyte" in err
    args = parse("data", "fetch", "toy", "--data-dir", str(tmp_path / "missing"))
    assert args.func(args) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_cli_info_on_an_empty_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path))
    args = parse("data", "info")
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert out.count("verified: no (0 of 4 files; 0 present)") == 2
    assert "not in the cache" in out
