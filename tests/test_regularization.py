"""Dropout and batch norm over several steps: masks, running statistics, train/eval switches."""

import numpy as np
import pytest
import torch

import reference
import scratch
from bench.compare import TOLERANCES, compare

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kwargs", [{}, {"momentum": None}, {"momentum": 0.3, "eps": 1e-3},
                                    {"affine": False}], ids=repr)
@pytest.mark.parametrize("cls,features", [(scratch.BatchNorm1d, (5,)),
                                          (scratch.BatchNorm1d, (5, 3)),
                                          (scratch.BatchNorm2d, (5, 4, 3))],
                         ids=["1d-NC", "1d-NCL", "2d"])
def test_batchnorm_running_stats_over_steps(cls, features, kwargs, dtype, rng):
    bn = cls(5, dtype=dtype, **kwargs)
    tbn = reference.twin(bn)
    tol = TOLERANCES[np.dtype(dtype)]
    for step in range(6):
        x = (rng.standard_normal((8, *features)) * (step + 1) + step).astype(dtype)
        out, tout = bn(x), tbn(reference.to_torch(x))
        np.testing.assert_allclose(out, tout.detach().numpy(), rtol=tol.rtol, atol=tol.atol)
    state, tstate = bn.state_dict(), tbn.state_dict()
    assert int(state["num_batches_tracked"]) == 6
    for key in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(state[key], tstate[key].numpy(), rtol=tol.rtol, atol=tol.atol)
    bn.eval()
    tbn.eval()
    x = rng.standard_normal((3, *features)).astype(dtype)
    res = compare(bn, x, rng=rng)  # a fresh twin from bn's state, in eval mode
    res.assert_close(tol)
    np.testing.assert_allclose(bn(x), tbn(reference.to_torch(x)).detach().numpy(),
                               rtol=tol.rtol, atol=tol.atol)


def test_batchnorm_normalises_in_training():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)) * 5 + 3
    y = scratch.BatchNorm1d(4, dtype=np.float64)(x)
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(y.std(0), 1, rtol=1e-3)  # eps=1e-5 keeps it just under 1


def test_batchnorm_bad_input():
    bn = scratch.BatchNorm1d(4)
    with pytest.raises(ValueError, match=r"\(N, C\) or \(N, C, L\).*got shape \(2, 5\)"):
        bn(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match=r"more than 1 value per channel.*\(1, 4\)"):
        bn(np.zeros((1, 4), np.float32))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\) \(4-D\), got shape \(2, 4\)"):
        scratch.BatchNorm2d(4)(np.zeros((2, 4), np.float32))
    bn.eval()
    assert bn(np.zeros((1, 4), np.float32)).shape == (1, 4)  # eval mode takes a single sample


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_mask_statistics_and_scaling(p):
    d = scratch.Dropout(p, rng=np.random.default_rng(0))
    x = np.ones((200, 500), np.float32)
    y = d(x)
    kept = y != 0
    assert kept.mean() == pytest.approx(1 - p, abs=0.005)  # 100,000 draws
    np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-6)
    g = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    np.testing.assert_array_equal(d.backward(g), g * y)  # same mask, same scale


def test_dropout_eval_and_edge_probabilities(rng):
    x = rng.standard_normal((4, 6)).astype(np.float32)
    d = scratch.Dropout(0.5, rng=rng).eval()
    np.testing.assert_array_equal(d(x), x)
    np.testing.assert_array_equal(d.backward(x), x)
    np.testing.assert_array_equal(scratch.Dropout(0.0, rng=rng)(x), x)
    one = scratch.Dropout(1.0, rng=rng)
    assert not one(x).any() and not one.backward(x).any()
    torch_one = torch.nn.Dropout(1.0)(torch.from_numpy(x))
    assert not torch_one.any()
    with pytest.raises(ValueError, match=r"in \[0, 1\], got 1.5"):
        scratch.Dropout(1.5, rng=rng)
    with pytest.raises(TypeError, match="Generator"):
        scratch.Dropout(0.5, rng=None)


def test_dropout_twins_draw_identical_masks_over_many_steps():
    model = scratch.Sequential(scratch.Dropout(0.4, rng=np.random.default_rng(3)))
    tmodel = reference.twin(model)
    for _ in range(5):
        x = np.random.default_rng().standard_normal((16, 9)).astype(np.float32)
        np.testing.assert_array_equal(model(x), tmodel(torch.from_numpy(x)).numpy())


def test_same_seed_same_masks_different_seed_different_masks():
    x = np.ones((50, 50), np.float32)
    a = scratch.Dropout(0.5, rng=np.random.default_rng(1))(x)
    b = scratch.Dropout(0.5, rng=np.random.default_rng(1))(x)
    c = scratch.Dropout(0.5, rng=np.random.default_rng(2))(x)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
