"""MaxPool2d and AvgPool2d against torch over a grid of shapes, ties, finite differences, errors.

Ties matter for max pooling: torch's CPU kernel sends a window's whole gradient
to its first maximal element in row-major window order, and where windows
overlap an element that is the maximum of several collects all their gradients.
"""

import numpy as np
import pytest
import torch

import reference
import scratch
from bench.compare import TOLERANCES, compare

DTYPES = [np.float32, np.float64]
POOLS = [scratch.MaxPool2d, scratch.AvgPool2d]
GRADCHECK_TOL = 1e-6

# (kernel, stride, padding); padding is at most half the kernel, as torch requires
GRID = [(k, s, p) for k in (1, 2, 3) for s in (None, 1, 2) for p in (0, 1) if p <= k // 2]
# (batch, channels, H, W)
SHAPES = [(1, 1, 7, 7), (6, 3, 9, 11), (4, 4, 11, 8)]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kernel,stride,padding", GRID, ids=str)
@pytest.mark.parametrize("cls", POOLS, ids=lambda c: c.__name__)
def test_pool_grid_matches_torch(cls, kernel, stride, padding, dtype):
    rng = np.random.default_rng(kernel * 10 + (stride or 0) + 7 * padding)
    for shape in SHAPES:
        x = rng.standard_normal(shape).astype(dtype)
        res = compare(cls(kernel, stride, padding), x, rng=rng)
        assert set(res.pairs) == {"output", "input.grad"}
        res.assert_close(TOLERANCES[np.dtype(dtype)])
        assert res.pairs["output"][0].dtype == res.pairs["input.grad"][0].dtype == dtype


@pytest.mark.parametrize("cls", POOLS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("kernel,stride,padding", [
    ((3, 2), (1, 2), (1, 1)), ((2, 3), None, 0), (4, 3, 2), (5, 2, 1)])
def test_pool_pairs_and_gapped_windows(cls, kernel, stride, padding, rng):
    x = rng.standard_normal((3, 2, 10, 9))
    compare(cls(kernel, stride, padding), x, rng=rng).assert_close(
        TOLERANCES[np.dtype(np.float64)])


@pytest.mark.parametrize("cls", POOLS, ids=lambda c: c.__name__)
def test_pool_unbatched_input_matches_torch(cls, rng):
    x = rng.standard_normal((3, 7, 6))
    res = compare(cls(3, 2, 1), x, rng=rng)
    assert res.pairs["output"][0].shape == (3, 4, 3)
    res.assert_close(TOLERANCES[np.dtype(np.float64)])


def _grads(pool, x: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """dL/dx from scratch and from torch for upstream gradient g."""
    pool(x)
    mine = pool.backward(g)
    xt = reference.to_torch(x).requires_grad_(True)
    reference.twin(pool)(xt).backward(reference.to_torch(g))
    return mine, reference.to_numpy(xt.grad)


def test_maxpool_all_equal_window_sends_everything_to_the_first_element():
    x = np.zeros((1, 1, 4, 4), np.float32)  # every window is a four-way tie
    g = np.array([[[[1.0, 2.0], [3.0, 4.0]]]], np.float32)
    mine, theirs = _grads(scratch.MaxPool2d(2), x, g)
    expected = np.zeros((1, 1, 4, 4), np.float32)
    expected[0, 0, ::2, ::2] = g[0, 0]  # each window's top-left corner
    np.testing.assert_array_equal(theirs, expected)
    np.testing.assert_array_equal(mine, expected)


def test_maxpool_overlapping_windows_accumulate_at_a_shared_maximum():
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 1.0  # the maximum of all nine 3x3 windows (stride 1)
    g = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    mine, theirs = _grads(scratch.MaxPool2d(3, stride=1), x, g)
    expected = np.zeros((1, 1, 5, 5))
    expected[0, 0, 2, 2] = g.sum()
    np.testing.assert_array_equal(theirs, expected)
    np.testing.assert_array_equal(mine, expected)


def test_maxpool_plateau_with_overlap_routes_each_window_to_its_first_maximum():
    x = np.zeros((1, 1, 3, 4))
    x[0, 0, 1, :] = 5.0  # a row of equal maxima shared by overlapping 2x2 windows
    g = np.arange(1.0, 7.0).reshape(1, 1, 2, 3)
    mine, theirs = _grads(scratch.MaxPool2d(2, stride=1), x, g)
    expected = np.zeros((1, 1, 3, 4))
    # windows in row 0 and row 1 both take the leftmost 5 of their row-1 pair
    expected[0, 0, 1, :3] = g[0, 0, 0] + g[0, 0, 1]
    np.testing.assert_array_equal(theirs, expected)
    np.testing.assert_array_equal(mine, expected)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kernel,stride,padding", [(2, None, 0), (3, 1, 1), (3, 2, 1), (2, 1, 0)])
def test_maxpool_many_ties_match_torch(kernel, stride, padding, dtype, rng):
    x = rng.integers(0, 3, size=(3, 2, 9, 8)).astype(dtype)  # ties in almost every window
    compare(scratch.MaxPool2d(kernel, stride, padding), x, rng=rng).assert_close(
        TOLERANCES[np.dtype(dtype)])


def test_maxpool_nan_and_inf_follow_torch():
    x = np.array([[[[np.nan, 1.0, np.inf, 2.0], [np.nan, 2.0, 3.0, np.inf]]]])
    g = np.array([[[[1.0, 2.0]]]])
    pool = scratch.MaxPool2d(2)
    y = pool(x)
    assert np.isnan(y[0, 0, 0, 0]) and y[0, 0, 0, 1] == np.inf
    mine, theirs = _grads(pool, x, g)
    np.testing.assert_array_equal(mine, theirs)  # NaN: torch's last NaN; inf: the first inf


def test_pools_keep_float32(rng):
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    for pool in (scratch.MaxPool2d(3, 1, 1), scratch.AvgPool2d(2)):
        y = pool(x)
        assert y.dtype == pool.backward(np.ones_like(y)).dtype == np.float32


@pytest.mark.parametrize("cls", POOLS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("kernel,stride,padding", [(2, None, 0), (3, 1, 1), (3, 2, 1),
                                                   ((2, 3), (1, 2), (1, 0))])
def test_pool_gradcheck(cls, kernel, stride, padding):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 7, 6))
    result = scratch.gradcheck(cls(kernel, stride, padding), x, rng=rng, tol=GRADCHECK_TOL)
    assert result.errors["input"] <= GRADCHECK_TOL


def test_pool_arguments_and_repr_follow_torch():
    for cls, tcls in ((scratch.MaxPool2d, "MaxPool2d"), (scratch.AvgPool2d, "AvgPool2d")):
        assert cls(3).stride == 3 and cls((2, 3)).stride == (2, 3)
        assert repr(cls(2, 1, 1)) == repr(getattr(torch.nn, tcls)(2, 1, 1))
        t = reference.twin(cls(3, 2, 1))
        assert (t.kernel_size, t.stride, t.padding) == (3, 2, 1)


@pytest.mark.parametrize("cls", POOLS, ids=lambda c: c.__name__)
def test_pool_errors(cls):
    with pytest.raises(ValueError, match="padding should be at most half of the kernel size"):
        cls(2, padding=2)
    with pytest.raises(ValueError, match="kernel_size must be >= 1"):
        cls(0)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        cls(2, stride=0)
    pool = cls(2)
    with pytest.raises(ValueError, match=r"\(3 or 4-D\), got shape \(4, 4\)"):
        pool(np.zeros((4, 4), np.float32))
    with pytest.raises(TypeError, match="float32 or float64 input.*got int64"):
        pool(np.zeros((1, 1, 4, 4), np.int64))
    with pytest.raises(ValueError, match=r"padded input size per channel \(1 x 4\) is smaller"):
        pool(np.zeros((1, 1, 1, 4), np.float32))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        pool.backward(np.zeros((1, 1, 2, 2), np.float32))
    pool(np.zeros((1, 1, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"grad_out of shape \(1, 1, 2, 2\)"):
        pool.backward(np.zeros((1, 1, 4, 4), np.float32))
