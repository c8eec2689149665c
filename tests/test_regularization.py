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


# scratch.Dropout against torch's own nn.Dropout. Their masks come from different random
# streams, so they are compared in distribution (the keep rate) and in scaling (each kept
# value is exactly x * (1 / (1 - p)) in the input's dtype, as torch computes it; each dropped
# one exactly 0). Lockstep's shared-mask twin is tested apart, below.
DRAWS = (200, 500)  # 100,000 Bernoulli draws per mask


def _binomial_bound(rate: float, n: int) -> float:
    """Five standard deviations of a mean of n Bernoulli(rate) draws: a correct
    implementation falls outside with probability below 1e-6."""
    return 5 * (rate * (1 - rate) / n) ** 0.5


def _both_dropouts(p, x, seed=0):
    """(output, dL/dx) of scratch.Dropout(p) and of its default twin, nn.Dropout(p)."""
    d = scratch.Dropout(p, rng=np.random.default_rng(seed))
    t = reference.twin(d)
    assert type(t) is torch.nn.Dropout and t.p == p
    torch.manual_seed(seed)
    g = np.random.default_rng(seed + 1).standard_normal(x.shape).astype(x.dtype)
    xt = reference.to_torch(x).requires_grad_(True)
    yt = t(xt)
    yt.backward(reference.to_torch(g))
    y = d(x)
    return g, (y, d.backward(g)), (reference.to_numpy(yt), reference.to_numpy(xt.grad))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.9])
def test_dropout_matches_nn_dropout_in_distribution_and_scaling(p, dtype):
    x = np.random.default_rng(5).uniform(0.5, 2.0, DRAWS).astype(dtype)  # never 0
    g, mine, theirs = _both_dropouts(p, x)
    n = x.size
    scale = x.dtype.type(1 / (1 - p))
    for who, (y, dx) in (("scratch", mine), ("torch", theirs)):
        assert y.dtype == dx.dtype == x.dtype, who
        kept = y != 0
        rate = kept.mean()
        assert abs(rate - (1 - p)) <= _binomial_bound(1 - p, n), (who, rate)
        # rows are independent draws, not one mask repeated: two rows agree at p^2 + (1-p)^2
        agree = (kept[::2] == kept[1::2]).mean()
        same = p * p + (1 - p) * (1 - p)
        assert abs(agree - same) <= _binomial_bound(same, n // 2), (who, agree)
        np.testing.assert_array_equal(y[kept], x[kept] * scale, err_msg=who)
        np.testing.assert_array_equal(dx, np.where(kept, g * scale, 0), err_msg=who)


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0])
def test_dropout_eval_and_edge_probabilities_match_nn_dropout(p, rng):
    """Eval mode is the identity; in training p=0 keeps everything and p=1 drops everything,
    in both (nothing random is left to differ)."""
    x = rng.uniform(0.5, 2.0, (4, 6)).astype(np.float32)
    if p in (0.0, 1.0):
        g, (y, dx), (ty, tdx) = _both_dropouts(p, x)
        expected = x if p == 0 else np.zeros_like(x)
        for out in (y, ty):
            np.testing.assert_array_equal(out, expected)
        for grad in (dx, tdx):
            np.testing.assert_array_equal(grad, g if p == 0 else np.zeros_like(g))
    g = rng.standard_normal(x.shape).astype(np.float32)
    d = scratch.Dropout(p, rng=rng).eval()
    t = reference.twin(d)
    assert not t.training
    np.testing.assert_array_equal(d(x), x)
    np.testing.assert_array_equal(t(reference.to_torch(x)).numpy(), x)
    np.testing.assert_array_equal(d.backward(g), g)


def test_dropout_bad_arguments(rng):
    with pytest.raises(ValueError, match=r"in \[0, 1\], got 1.5"):
        scratch.Dropout(1.5, rng=rng)
    with pytest.raises(TypeError, match="Generator"):
        scratch.Dropout(0.5, rng=None)


def test_default_twin_is_nn_dropout_and_shared_mask_is_asked_for(rng):
    model = scratch.Sequential(scratch.Linear(3, 3, rng=rng), scratch.Dropout(0.4, rng=rng))
    assert type(reference.twin(model)[1]) is torch.nn.Dropout
    assert type(reference.twin(model, dropout="shared")[1]) is reference.SharedMaskDropout
    with pytest.raises(ValueError, match="'native' or 'shared', got 'numpy'"):
        reference.twin(model, dropout="numpy")


def test_shared_mask_twins_draw_identical_masks_over_many_steps():
    """The lockstep test device: a copy of scratch's Generator, the same masks step by step."""
    model = scratch.Sequential(scratch.Dropout(0.4, rng=np.random.default_rng(3)))
    tmodel = reference.twin(model, dropout="shared")
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
