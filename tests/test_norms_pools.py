"""GroupNorm, InstanceNorm1d/2d, AdaptiveMaxPool2d, MaxPool1d and AvgPool1d beyond the
parity catalogue: the adaptive max kernel against its plain specification bit for bit,
torch's tie, NaN and -inf rules, unbatched inputs, running statistics over several steps,
reprs, and the errors for bad input.

Bit for bit (np.array_equal) for adaptive max pooling: a max is exact and routing a
gradient is a copy; where an element wins several windows the routed gradients are small
integers, so their sum is exact in any order. Against torch, the normalisations are held
to the parity tolerances (`bench.compare.TOLERANCES`).
"""

import warnings

import numpy as np
import pytest
import torch

import reference
import scratch
import scratch.functional as F
from bench.compare import TOLERANCES
from scratch.functional import plain

DTYPES = [np.float32, np.float64]
# (input (H, W), output (OH, OW)): shrinking, overlapping, global, growing, one axis kept
ADAPTIVE_GRID = [((7, 5), (3, 2)), ((9, 8), (4, 8)), ((5, 6), (1, 1)), ((2, 3), (5, 4)),
                 ((6, 6), (3, 3)), ((4, 7), (4, 3))]


def _close_to_torch(ours: np.ndarray, theirs: torch.Tensor):
    tol = TOLERANCES[ours.dtype]
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=tol.rtol, atol=tol.atol)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("in_hw,out_hw", ADAPTIVE_GRID, ids=str)
def test_adaptive_max_pool2d_matches_plain_bit_for_bit(in_hw, out_hw, dtype, rng):
    """Integer inputs full of ties: the winner, its index and the routed gradient are the
    plain loop's, which scans each window as torch's CPU kernel does."""
    x = rng.integers(-2, 3, (2, 3, *in_hw)).astype(dtype)
    y, idx = F.adaptive_max_pool2d_forward(x, out_hw)
    want_y, want_idx = plain.adaptive_max_pool2d(x, out_hw)
    assert y.dtype == dtype and idx.dtype == np.int64
    assert np.array_equal(y, want_y) and np.array_equal(idx, want_idx)
    g = rng.integers(-3, 4, y.shape).astype(dtype)
    dx = F.adaptive_max_pool2d_backward(g, idx, x.shape)
    assert dx.dtype == dtype
    assert np.array_equal(dx, plain.adaptive_max_pool2d_backward(g, x))


@pytest.mark.parametrize("in_hw,out_hw", ADAPTIVE_GRID, ids=str)
def test_adaptive_max_pool2d_nan_and_minus_inf_windows_are_torchs(in_hw, out_hw, rng):
    """A window holding NaN outputs NaN and routes to its last NaN; a window of -inf only
    routes to its first element, as torch's return_indices says."""
    x = rng.standard_normal((2, 2, *in_hw))
    x[rng.random(x.shape) < 0.15] = np.nan
    x[0, 1] = -np.inf  # a whole plane of -inf
    y, idx = F.adaptive_max_pool2d_forward(x, out_hw)
    want_y, want_idx = plain.adaptive_max_pool2d(x, out_hw)
    assert np.array_equal(y, want_y, equal_nan=True) and np.array_equal(idx, want_idx)
    ty, tidx = torch.nn.functional.adaptive_max_pool2d(torch.from_numpy(x), out_hw, True)
    assert np.array_equal(y, ty.numpy(), equal_nan=True)
    assert np.array_equal(idx, tidx.numpy())


@pytest.mark.parametrize("build,shape", [
    (lambda: scratch.AdaptiveMaxPool2d((2, 3), return_indices=True), (3, 5, 7)),
    (lambda: scratch.MaxPool1d(3, 2, 1, return_indices=True), (3, 9)),
    (lambda: scratch.AvgPool1d(3, 2, 1, count_include_pad=False), (3, 9)),
    (lambda: scratch.InstanceNorm1d(3, affine=True), (3, 9)),
    (lambda: scratch.InstanceNorm2d(3, affine=True), (3, 4, 5)),
], ids=["AdaptiveMaxPool2d", "MaxPool1d", "AvgPool1d", "InstanceNorm1d", "InstanceNorm2d"])
def test_unbatched_inputs_are_torchs(build, shape, rng):
    """An input without its batch dim gives torch's output (and indices) and gradient."""
    m = build()
    m.to(np.float64)
    t = reference.twin(m)
    x = rng.standard_normal(shape)
    tx = torch.from_numpy(x).requires_grad_()
    out, tout = m(x), t(tx)
    if isinstance(out, tuple):
        assert np.array_equal(out[1], tout[1].numpy())
        out, tout = out[0], tout[0]
    assert out.shape == tuple(tout.shape)
    _close_to_torch(out, tout)
    g = rng.standard_normal(out.shape)
    tout.backward(torch.from_numpy(g))
    _close_to_torch(m.backward(g), tx.grad)


def test_instance_norm_running_statistics_follow_torchs_over_steps(rng):
    """Three training steps of differing batch sizes, then eval: torch's rule averages each
    instance's unbiased statistics, and num_batches_tracked stays 0."""
    m = scratch.InstanceNorm2d(3, momentum=0.3, affine=True, track_running_stats=True,
                               dtype=np.float64)
    t = reference.twin(m)
    for n in (4, 1, 2):
        x = rng.standard_normal((n, 3, 4, 5)) * 3 + 1
        m(x), t(torch.from_numpy(x))
    for name in ("running_mean", "running_var"):
        _close_to_torch(getattr(m, name), getattr(t, name))
    assert int(m.num_batches_tracked) == int(t.num_batches_tracked) == 0
    m.eval(), t.eval()
    x = rng.standard_normal((2, 3, 4, 5))
    _close_to_torch(m(x), t(torch.from_numpy(x)))


def test_group_norm_channels_not_divisible_by_groups_is_refused():
    with pytest.raises(ValueError, match=r"num_channels \(6\) must be divisible by "
                                         r"num_groups \(4\)"):
        scratch.GroupNorm(4, 6)
    with pytest.raises(ValueError, match="num_groups must be a positive int, got 0"):
        scratch.GroupNorm(0, 6)
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 6, \*\), got shape "
                                         r"\(2, 4, 3\): size 4 at dim 1, expected 6"):
        scratch.GroupNorm(2, 6)(np.zeros((2, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"at least 2-D"):
        scratch.GroupNorm(2, 6)(np.zeros(6, np.float32))


def test_instance_norm_bad_input_is_torchs_refusal():
    """One spatial element has no statistics of its own; channels other than num_features
    are refused where they would meet a parameter or a running statistic, else a warning
    (torch's), and the layer normalises what came."""
    with pytest.raises(ValueError, match=r"more than 1 spatial element.*\(2, 3, 1\)"):
        scratch.InstanceNorm1d(3)(np.zeros((2, 3, 1), np.float32))
    norm = scratch.InstanceNorm1d(3, track_running_stats=True).eval()
    assert norm(np.ones((2, 3, 1), np.float32)).shape == (2, 3, 1)  # running stats: allowed
    with pytest.raises(ValueError, match=r"4 channels, expected 3"):
        scratch.InstanceNorm2d(3, affine=True)(np.zeros((2, 4, 3, 3), np.float32))
    x = np.random.default_rng(0).standard_normal((2, 4, 5)).astype(np.float32)
    with pytest.warns(UserWarning, match="do not match num_features"):
        y = scratch.InstanceNorm1d(3)(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _close_to_torch(y, torch.nn.InstanceNorm1d(3)(torch.from_numpy(x)))


def test_one_dimensional_pools_speak_in_one_dimension():
    pool = scratch.MaxPool1d(2)
    with pytest.raises(ValueError, match=r"\(N, C, L\) or \(C, L\).*\(1, 2, 3, 4\)"):
        pool(np.zeros((1, 2, 3, 4), np.float32))
    pool(np.zeros((1, 2, 6), np.float32))
    with pytest.raises(ValueError, match=r"grad_out of shape \(1, 2, 3\).*got \(1, 2, 1, 3\)"):
        pool.backward(np.zeros((1, 2, 1, 3), np.float32))
    with pytest.raises(TypeError, match="kernel_size must be an int or a tuple of one int"):
        scratch.AvgPool1d((2, 2))


@pytest.mark.parametrize("build", [
    lambda: scratch.GroupNorm(2, 6, 1e-3, bias=False),
    lambda: scratch.GroupNorm(3, 3, affine=False),
    lambda: scratch.InstanceNorm1d(4, affine=True, track_running_stats=True),
    lambda: scratch.InstanceNorm2d(4, momentum=None),
    lambda: scratch.AdaptiveMaxPool2d((2, None), True),
    lambda: scratch.MaxPool1d(3, 2, 1, 2, True, True),
    lambda: scratch.AvgPool1d(3, 2, 1, True, False),
], ids=range(7))
def test_repr_and_state_dict_keys_are_torchs(build):
    m = build()
    t = reference.twin(m)
    assert repr(m) == repr(t)
    assert list(m.state_dict()) == list(t.state_dict())
