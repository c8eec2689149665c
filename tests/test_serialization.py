"""scratch.save / scratch.load: exact round trips, no pickle, no half-written files."""

import os

import numpy as np
import pytest

import scratch
from scratch import serialization


def _model(rng, dtype=np.float32):
    """With batch norm's buffers (an int64 counter among them) between two layers' weights."""
    return scratch.Sequential(scratch.Linear(5, 4, rng=rng, dtype=dtype),
                              scratch.BatchNorm1d(4, dtype=dtype), scratch.Tanh(),
                              scratch.Linear(4, 3, rng=rng, dtype=dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_round_trip_is_exact(tmp_path, rng, dtype):
    model = _model(rng, dtype)
    model(rng.standard_normal((6, 5)).astype(dtype))  # running statistics away from 0 and 1
    path = tmp_path / "model.npz"
    scratch.save(model.state_dict(), path)
    loaded = scratch.load(path)
    assert list(loaded) == list(model.state_dict())
    for k, v in model.state_dict().items():
        assert loaded[k].dtype == v.dtype
        np.testing.assert_array_equal(loaded[k], v)
    other = _model(np.random.default_rng(99), dtype)
    other.load_state_dict(loaded)
    x = rng.standard_normal((2, 5)).astype(dtype)
    np.testing.assert_array_equal(other(x), model(x))


def test_nested_checkpoint_round_trip(tmp_path, rng):
    ckpt = {"model": _model(rng).state_dict(), "epoch": 3, "name": "mlp", "lr": 0.125}
    scratch.save(ckpt, tmp_path / "c.npz")
    back = scratch.load(tmp_path / "c.npz")
    assert int(back["epoch"]) == 3 and str(back["name"]) == "mlp" and float(back["lr"]) == 0.125
    np.testing.assert_array_equal(back["model"]["0.weight"], ckpt["model"]["0.weight"])


def test_load_refuses_pickled_arrays(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, __format__=np.array(serialization.FORMAT),
             payload=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickled data"):
        scratch.load(path)


def test_save_refuses_objects_that_need_pickle(tmp_path):
    with pytest.raises(TypeError, match="needs pickle"):
        scratch.save({"w": [object()]}, tmp_path / "x.npz")
    assert list(tmp_path.iterdir()) == []


def test_interrupted_save_leaves_old_file_and_no_temp(tmp_path, rng, monkeypatch):
    path = tmp_path / "model.npz"
    scratch.save({"w": np.arange(3.0)}, path)

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(serialization.np, "savez", boom)
    with pytest.raises(KeyboardInterrupt):
        scratch.save({"w": np.zeros(3)}, path)
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]
    np.testing.assert_array_equal(scratch.load(path)["w"], np.arange(3.0))
