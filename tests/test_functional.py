"""The fast kernels of scratch.functional against the plain versions written from the definitions.

Bit for bit (np.array_equal) wherever both do the same arithmetic:
- max pooling, forward and backward: a max is exact, and routing a gradient is a
  copy; where windows overlap the routed gradients are summed, in another order
  than the plain loop's, so there the gradients are small integers (exact sums);
- average pooling forward on kernels of at most two elements, and its backward
  over disjoint windows (one write per element);
- convolution, average pooling and col2im on integer-valued data, where every
  product and partial sum is exact, so the order of additions (BLAS against
  einsum, offset by offset against window by window) cannot show.
Everywhere else, on normal random data, within TOL[dtype] by `max_rel_diff`.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratch.functional as F
from scratch.functional import plain
from scratch.testing import max_rel_diff

DTYPES = [np.float32, np.float64]
DTYPE_IDS = {np.float32: "float32", np.float64: "float64"}
# Relative to the largest magnitude: about 40 units of rounding (eps 1.2e-7 and 2.2e-16),
# for sums of a few dozen terms (conv) or statistics over a few hundred values (batch norm)
# taken in another order. The worst seen over this file's grid is ~10x smaller.
TOL = {np.dtype(np.float32): 5e-6, np.dtype(np.float64): 1e-14}

# (kernel, stride, padding) for conv; padding may exceed half the kernel there
CONV_GRID = [
    ((1, 1), (1, 1), (0, 0)), ((1, 1), (2, 2), (1, 1)),
    ((3, 3), (1, 1), (1, 1)), ((3, 3), (2, 2), (0, 0)), ((3, 3), (3, 3), (2, 2)),
    ((2, 3), (1, 2), (0, 1)), ((5, 3), (3, 3), (2, 1)), ((2, 2), (2, 2), (0, 0)),
]
# (kernel, stride, padding) for pooling, padding at most half the kernel as torch requires;
# stride >= kernel gives disjoint windows, stride < kernel overlapping ones
POOL_GRID = [
    ((1, 1), (1, 1), (0, 0)), ((2, 2), (2, 2), (0, 0)), ((2, 2), (1, 1), (1, 1)),
    ((3, 3), (1, 1), (1, 1)), ((3, 3), (2, 2), (1, 0)), ((3, 3), (3, 3), (0, 1)),
    ((2, 3), (1, 2), (1, 1)), ((3, 2), (3, 1), (0, 1)), ((2, 2), (3, 3), (1, 0)),
]
SHAPES = [(1, 1, 7, 7), (3, 2, 9, 8)]  # batch 1 and a batch of 3, odd and non-square


def _ids(grid):
    return [f"k{k[0]}x{k[1]}-s{s[0]}x{s[1]}-p{p[0]}x{p[1]}" for k, s, p in grid]


def _ints(rng, shape, dtype, high=4):
    """Small integers as floats: every sum and product of a few hundred of them is exact."""
    return rng.integers(-high, high + 1, shape).astype(dtype)


def _close(fast, slow, dtype, *, exact=False):
    """Bit for bit if `exact`, else within TOL[dtype] of the largest magnitude."""
    assert fast.shape == slow.shape and fast.dtype == slow.dtype == dtype
    if exact:
        assert np.array_equal(fast, slow)
    else:
        assert max_rel_diff(fast, slow) <= TOL[np.dtype(dtype)]


def _out_hw(shape, kernel, stride, padding):
    return tuple(F.conv_output_size(shape[2 + a], kernel[a], stride[a], padding[a])
                 for a in (0, 1))


# --- convolution ----------------------------------------------------------------------------


def _conv_both(x, w, b, g, stride, padding):
    y, cols = F.conv2d_forward(x, w, b, stride, padding)
    fast = (y, *F.conv2d_backward(g, x, w, stride, padding, cols=cols, bias_grad=b is not None))
    slow = (plain.conv2d(x, w, b, stride, padding),
            *plain.conv2d_backward(g, x, w, stride, padding))
    return fast, slow


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS.get)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("kernel,stride,padding", CONV_GRID, ids=_ids(CONV_GRID))
def test_conv2d_matches_plain(kernel, stride, padding, shape, dtype):
    rng = np.random.default_rng(sum(kernel) * 100 + sum(stride) * 10 + sum(padding))
    w_shape = (4, shape[1], *kernel)
    g_shape = (shape[0], 4, *_out_hw(shape, kernel, stride, padding))
    # normal data: within rounding of each other
    x, w, b, g = (rng.standard_normal(s).astype(dtype) for s in (shape, w_shape, 4, g_shape))
    for fast, slow in zip(*_conv_both(x, w, b, g, stride, padding)):
        _close(fast, slow, dtype)
    # integer data: every sum exact, so bit for bit
    x, w, b, g = (_ints(rng, s, dtype) for s in (shape, w_shape, 4, g_shape))
    for fast, slow in zip(*_conv_both(x, w, b, g, stride, padding)):
        _close(fast, slow, dtype, exact=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS.get)
def test_conv2d_backward_rebuilds_columns_and_skips_what_is_not_asked(dtype, rng):
    x = rng.standard_normal((2, 3, 6, 5)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 2)).astype(dtype)
    y, cols = F.conv2d_forward(x, w, None, (2, 1), (1, 1))
    g = rng.standard_normal(y.shape).astype(dtype)
    dx, dw, db = F.conv2d_backward(g, x, w, (2, 1), (1, 1), cols=cols, bias_grad=False)
    dx2, dw2, _ = F.conv2d_backward(g, x, w, (2, 1), (1, 1))  # columns rebuilt from x
    assert db is None and np.array_equal(dx, dx2) and np.array_equal(dw, dw2)
    none, dw3, _ = F.conv2d_backward(g, x, w, (2, 1), (1, 1), cols=cols, input_grad=False)
    assert none is None and np.array_equal(dw3, dw)
    _close(y, plain.conv2d(x, w, None, (2, 1), (1, 1)), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS.get)
def test_conv2d_in_batch_chunks_is_the_one_batch_conv(dtype, rng, monkeypatch):
    """A batch split into chunks (a large batch, here forced by tiny byte limits) gives
    every row of y and dx from its own chunk and sums dW and db over the chunks: bit for
    bit the plain convolution on integer data, with groups, dilation and stride, an
    uneven last chunk, and the columns reused or rebuilt."""
    from scratch import parallel
    from scratch.functional import conv

    monkeypatch.setattr(parallel, "MIN_THREAD_BYTES", 0)  # any batch in chunks
    monkeypatch.setattr(parallel, "CORES", 1)  # as many chunks as CHUNK_BYTES makes
    x = _ints(rng, (5, 4, 7, 6), dtype)
    w = _ints(rng, (6, 2, 3, 2), dtype)  # groups=2
    b = _ints(rng, (6,), dtype)
    opts = dict(stride=(1, 2), padding=(2, 1), dilation=(2, 1), groups=2)
    positions = 7 * 4  # OH x OW
    sample = (w[0].size * 2 + 6) * positions * np.dtype(dtype).itemsize  # (K + out) per position
    monkeypatch.setattr(conv, "CHUNK_BYTES", 2 * sample)  # chunks of 2, 2 and 1
    y, cols = F.conv2d_forward(x, w, b, **opts)
    assert y.shape == (5, 6, 7, 4)
    assert [c.shape[1] for c in cols] == [2 * positions, 2 * positions, positions]
    g = _ints(rng, y.shape, dtype)
    want = (plain.conv2d(x, w, b, **opts), *plain.conv2d_backward(g, x, w, **opts))
    for got in ((y, *F.conv2d_backward(g, x, w, cols=cols, **opts)),
                (y, *F.conv2d_backward(g, x, w, **opts))):  # columns rebuilt per chunk
        for fast, slow in zip(got, want, strict=True):
            _close(fast, slow, dtype, exact=True)
    with pytest.raises(ValueError, match="the columns cover 4 samples, the batch has 5"):
        F.conv2d_backward(g, x, w, cols=cols[:2], **opts)


# --- linear ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS.get)
@pytest.mark.parametrize("lead", [(1,), (5,), (2, 3)], ids=str)  # (1,): the outer-product path
def test_linear_is_its_definition_bit_for_bit(lead, dtype, rng):
    """On integer data (every sum exact): y = x W^T + b, dW = g^T x, db = sum_rows g, dx = g W,
    written out as sums over the rows; input_grad / bias_grad False give None."""
    x, w, b = _ints(rng, (*lead, 4), dtype), _ints(rng, (3, 4), dtype), _ints(rng, 3, dtype)
    g = _ints(rng, (*lead, 3), dtype)
    x2, g2 = x.reshape(-1, 4), g.reshape(-1, 3)  # (M, in), (M, out)
    rows = range(len(x2))
    want_y = np.array([[sum(x2[m, i] * w[o, i] for i in range(4)) + b[o] for o in range(3)]
                       for m in rows], dtype).reshape(*lead, 3)
    want_dw = np.array([[sum(g2[m, o] * x2[m, i] for m in rows) for i in range(4)]
                        for o in range(3)], dtype)
    want_db = np.array([sum(g2[m, o] for m in rows) for o in range(3)], dtype)
    want_dx = np.array([[sum(g2[m, o] * w[o, i] for o in range(3)) for i in range(4)]
                        for m in rows], dtype).reshape(x.shape)
    _close(F.linear(x, w, b), want_y, dtype, exact=True)
    grads = F.linear_backward(g, x, w)
    for got, want in zip(grads, (want_dx, want_dw, want_db), strict=True):
        _close(got, want, dtype, exact=True)
    skipped = F.linear_backward(g, x, w, input_grad=False, bias_grad=False)
    assert skipped.input is None and skipped.bias is None
    assert np.array_equal(skipped.weight, grads.weight)


# --- pooling --------------------------------------------------------------------------------


def _tied(rng, shape, dtype):
    """Values from {0, 1, 2}: most windows hold several maxima."""
    return rng.integers(0, 3, shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS.get)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("kernel,stride,padding", POOL_GRID, ids=_ids(POOL_GRID))
def test_max_pool2d_matches_plain_bit_for_bit(kernel, stride, padding, shape, dtype):
    rng = np.random.default_rng(sum(kernel) * 100 + sum(stride) * 10 + sum(padding))
    overlap = stride[0] < kernel[0] or stride[1] < kernel[1]
    for x in (rng.standard_normal(shape).astype(dtype), _tied(rng, shape, dtype)):
        y, slabs = F.max_pool2d_forward(x, kernel, stride, padding)
        _close(y, plain.max_pool2d(x, kernel, stride, padding), dtype, exact=True)
        # Overlapping windows sum routed gradients in another order: integers keep it exact.
        g = (_ints(rng, y.shape, dtype) if overlap
             else rng.standard_normal(y.shape).astype(dtype))
        dx = F.max_pool2d_backward(g, x.shape, kernel, stride, padding, slabs, y)
        _close(dx, plain.max_pool2d_backward(g, x, kernel, stride, padding), dtype, exact=True)
        if overlap:  # and normal gradients within rounding
            g = rng.standard_normal(y.shape).astype(dtype)
            dx = F.max_pool2d_backward(g, x.shape, kernel, stride, padding, slabs, y)
            _close(dx, plain.max_pool2d_backward(g, x, kernel, stride, padding), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS.get)
@pytest.mark.parametrize("kernel,stride,padding", POOL_GRID, ids=_ids(POOL_GRID))
def test_max_pool2d_nan_windows_and_non_finite_gradients_match_plain(kernel, stride, padding,
                                                                   dtype, rng):
    x = _tied(rng, (2, 2, 8, 7), dtype)
    x[0, 0, 2, 3] = x[0, 0, 3, 3] = x[1, 1, 4, 4] = np.nan  # NaN windows: to their last NaN
    y, slabs = F.max_pool2d_forward(x, kernel, stride, padding)
    assert np.array_equal(y, plain.max_pool2d(x, kernel, stride, padding), equal_nan=True)
    g = _ints(rng, y.shape, dtype)
    g[0, 0, 0, 0], g[1, 1, -1, -1] = np.inf, -np.inf  # takes the np.where route
    for grad in (g, np.where(np.isfinite(g), g, 1)):
        dx = F.max_pool2d_backward(grad, x.shape, kernel, stride, padding, slabs, y)
        assert np.array_equal(dx, plain.max_pool2d_backward(grad, x, kernel, stride, padding),
                              equal_nan=True)


def test_max_pool2d_tie_rule_is_torchs():
    """First maximum in row-major window order; a window with NaN: its last NaN."""
    x = np.array([[[[1, 3, 3], [3, 0, 3], [2, 1, 0]]]], np.float64)  # (1, 1, 3, 3)
    g = np.ones((1, 1, 1, 1))
    expected = np.zeros_like(x)
    expected[0, 0, 0, 1] = 1
    for impl in ("fast", "plain"):
        if impl == "fast":
            y, slabs = F.max_pool2d_forward(x, (3, 3), (3, 3), (0, 0))
            dx = F.max_pool2d_backward(g, x.shape, (3, 3), (3, 3), (0, 0), slabs, y)
        else:
            dx = plain.max_pool2d_backward(g, x, (3, 3), (3, 3), (0, 0))
        assert np.array_equal(dx, expected), impl
    x[0, 0, 1, 0] = x[0, 0, 2, 1] = np.nan
    y, slabs = F.max_pool2d_forward(x, (3, 3), (3, 3), (0, 0))
    dx = F.max_pool2d_backward(g, x.shape, (3, 3), (3, 3), (0, 0), slabs, y)
    assert dx[0, 0, 2, 1] == 1 and dx.sum() == 1
    assert np.array_equal(dx, plain.max_pool2d_backward(g, x, (3, 3), (3, 3), (0, 0)))


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS.get)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("kernel,stride,padding", POOL_GRID, ids=_ids(POOL_GRID))
def test_avg_pool2d_matches_plain(kernel, stride, padding, shape, dtype):
    rng = np.random.default_rng(sum(kernel) * 100 + sum(stride) * 10 + sum(padding))
    size = kernel[0] * kernel[1]
    disjoint = stride[0] >= kernel[0] and stride[1] >= kernel[1]
    x = rng.standard_normal(shape).astype(dtype)
    y = F.avg_pool2d_forward(x, kernel, stride, padding)
    g = rng.standard_normal(y.shape).astype(dtype)
    dx = F.avg_pool2d_backward(g, x.shape, kernel, stride, padding)
    y_plain = plain.avg_pool2d(x, kernel, stride, padding)
    dx_plain = plain.avg_pool2d_backward(g, x, kernel, stride, padding)
    # one or two terms per window: the same sum; disjoint windows: one write per element
    _close(y, y_plain, dtype, exact=size <= 2)
    _close(dx, dx_plain, dtype, exact=disjoint)
    # integers, gradients multiples of the window size: every sum and share exact
    x = _ints(rng, shape, dtype)
    g = _ints(rng, y.shape, dtype) * size
    _close(F.avg_pool2d_forward(x, kernel, stride, padding),
           plain.avg_pool2d(x, kernel, stride, padding), dtype, exact=True)
    _close(F.avg_pool2d_backward(g, x.shape, kernel, stride, padding),
           plain.avg_pool2d_backward(g, x, kernel, stride, padding), dtype, exact=True)


# --- batch norm -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS.get)
@pytest.mark.parametrize("shape", [(1, 3, 25), (8, 3, 1), (4, 5, 36)], ids=str)
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("stats", ["batch", "running"])
def test_batch_norm_matches_plain(stats, affine, shape, dtype, rng):
    c = shape[1]
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    weight, bias = ((rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype))
                    if affine else (None, None))
    running = None
    if stats == "running":
        running = (rng.standard_normal(c).astype(dtype), rng.uniform(0.5, 2, c).astype(dtype))
    y, cache = F.batch_norm_forward(x, weight, bias, 1e-5, running)
    dx, dweight, dbias = F.batch_norm_backward(g, cache, weight, batch_stats=running is None)
    _close(y, plain.batch_norm(x, weight, bias, 1e-5, running), dtype)
    for fast, slow in zip((dx, dweight, dbias),
                          plain.batch_norm_backward(g, x, weight, 1e-5, running)):
        _close(fast, slow, dtype)
    none, dweight2, dbias2 = F.batch_norm_backward(g, cache, weight,
                                                   batch_stats=running is None, input_grad=False)
    assert none is None and np.array_equal(dweight2, dweight) and np.array_equal(dbias2, dbias)


# --- windows and col2im ---------------------------------------------------------------------


def _col2im_loop(dwin, padded_shape, stride):
    """col2im's definition: every window element's gradient added at its place."""
    kh, kw, _, _, oh, ow = dwin.shape
    dxp = np.zeros(padded_shape, dwin.dtype)
    for i in range(oh):
        for j in range(ow):
            for p in range(kh):
                for q in range(kw):
                    dxp[:, :, stride[0] * i + p, stride[1] * j + q] += dwin[p, q, :, :, i, j]
    return dxp


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS.get)
@pytest.mark.parametrize("kernel,stride", [((3, 3), (1, 1)), ((2, 3), (2, 1)), ((2, 2), (2, 2)),
                                           ((2, 1), (3, 2)), ((3, 2), (2, 3))], ids=str)
def test_col2im_adds_bit_for_bit(kernel, stride, dtype, rng):
    padded = (2, 3, 9, 8)
    oh, ow = _out_hw(padded, kernel, stride, (0, 0))
    shape = (*kernel, 2, 3, oh, ow)
    dwin = _ints(rng, shape, dtype)
    _close(F.col2im(dwin, padded, stride), _col2im_loop(dwin, padded, stride), dtype, exact=True)
    dwin = rng.standard_normal(shape).astype(dtype)
    _close(F.col2im(dwin, padded, stride), _col2im_loop(dwin, padded, stride), dtype)


_dims = st.integers(1, 12)


@settings(max_examples=60, deadline=None)
@given(h=_dims, w=_dims, kh=st.integers(1, 5), kw=st.integers(1, 5), sh=st.integers(1, 4),
       sw=st.integers(1, 4), data=st.data())
def test_windows_and_col2im_are_adjoint(h, w, kh, kw, sh, sw, data):
    """<windows(x), d> == <x, col2im(d)> for every x and d: col2im is windows' transpose.
    Integer data keeps both sides exact, so they must be equal."""
    if kh > h or kw > w:
        with pytest.raises(ValueError, match="does not fit"):
            F.windows(np.zeros((1, 1, h, w)), (kh, kw), (sh, sw))
        return
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = _ints(rng, (2, 3, h, w), np.float64)
    win = F.windows(x, (kh, kw), (sh, sw))  # (2, 3, OH, OW, kh, kw)
    assert win.shape == (2, 3, F.conv_output_size(h, kh, sh), F.conv_output_size(w, kw, sw),
                         kh, kw)
    d = _ints(rng, (kh, kw, 2, 3, *win.shape[2:4]), np.float64)
    lhs = np.einsum("abijpq,pqabij->", win, d)
    assert lhs == np.sum(x * F.col2im(d, x.shape, (sh, sw)))
    slabs = F.offsets_first(win)  # (kh*kw, 2, 3, OH, OW)
    assert np.array_equal(slabs.reshape(kh, kw, *slabs.shape[1:]), win.transpose(4, 5, 0, 1, 2, 3))


# --- shapes ---------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(size=st.integers(0, 40), kernel=st.integers(1, 9), stride=st.integers(1, 5),
       padding=st.integers(0, 4), dilation=st.integers(1, 3))
def test_conv_output_size_counts_window_positions(size, kernel, stride, padding, dilation):
    """The number of starts i = 0, s, 2s, ... whose dilated window ends inside the padded input."""
    span = dilation * (kernel - 1) + 1
    positions = len(range(0, size + 2 * padding - span + 1, stride))
    if positions == 0:
        with pytest.raises(ValueError, match=f"kernel of size {kernel} does not fit"):
            F.conv_output_size(size, kernel, stride, padding, dilation)
    else:
        assert F.conv_output_size(size, kernel, stride, padding, dilation) == positions


def test_conv_output_size_matches_the_layers_and_names_the_misfit():
    x = np.zeros((1, 1, 11, 8))
    w = np.zeros((2, 1, 4, 3))
    y, _ = F.conv2d_forward(x, w, None, (2, 3), (1, 0))
    assert y.shape[2:] == (F.conv_output_size(11, 4, 2, 1), F.conv_output_size(8, 3, 3, 0))
    with pytest.raises(ValueError, match=r"kernel of size 29 does not fit input of size 28 "
                                         r"with padding 0"):
        F.conv_output_size(28, 29)


@settings(max_examples=100, deadline=None)
@given(value=st.one_of(st.integers(-2, 5), st.tuples(st.integers(-2, 5), st.integers(-2, 5))),
       minimum=st.integers(0, 1))
def test_pair_reads_an_int_or_a_pair(value, minimum):
    both = (value, value) if isinstance(value, int) else value
    if min(both) < minimum:
        with pytest.raises(ValueError, match=f"stride must be >= {minimum}"):
            F.pair(value, "stride", minimum=minimum)
    else:
        assert F.pair(value, "stride", minimum=minimum) == both


@pytest.mark.parametrize("bad", [(1, 2, 3), (1,), "2", 2.0, (1.0, 2)], ids=repr)
def test_pair_refuses_anything_else(bad):
    with pytest.raises(TypeError, match="padding must be an int or a pair of ints"):
        F.pair(bad, "padding", minimum=0)


@settings(max_examples=60, deadline=None)
@given(ph=st.integers(0, 3), pw=st.integers(0, 3), value=st.sampled_from([0.0, -np.inf, 2.5]))
def test_pad_and_unpad_round_trip(ph, pw, value):
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    xp = F.pad(x, (ph, pw), value)
    assert xp.shape == (2, 3, 4 + 2 * ph, 5 + 2 * pw) and xp.dtype == x.dtype
    assert np.array_equal(F.unpad(xp, (ph, pw)), x)
    border = np.ones(xp.shape, bool)
    border[:, :, ph:ph + 4, pw:pw + 5] = False
    assert np.all(xp[border] == value)


def test_erf_matches_math_erf():
    """functional.erf against math.erf: float64 (series below |x| = 2, continued fraction
    above) within 2e-15; float32 (two fitted polynomials) within 2 ulp, staying float32."""
    rng = np.random.default_rng(0)
    tiny = np.geomspace(1e-37, 1e-2, 500)
    x = np.concatenate([np.linspace(-7, 7, 20001), [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 4.0,
                                                    30.0, -30.0, 1e30, -1e30], tiny, -tiny,
                        3 * rng.standard_normal(5000)])
    np.testing.assert_allclose(F.erf(x), F.plain.erf(x), rtol=0, atol=2e-15)
    x32 = x.astype(np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # none on the way
        got = F.erf(x32)
    assert got.dtype == np.float32
    want = F.plain.erf(x32.astype(np.float64))
    ulp = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(got - want) / ulp) <= 2
    assert np.isnan(F.erf(np.float32([np.nan]))).all()


def test_float32_gelu_is_within_a_twentieth_of_float32_parity():
    """float32 GELU (Abramowitz and Stegun's erf, `_normal_cdf32`) against x Phi(x) in
    float64 from math.erf, from -200 to 200 and at the extremes: the error within 1/20 of
    |y| 1e-4 + 1e-5 (parity's float32 tolerance; measured 0.025), Phi within 4e-7, no
    overflow on the way. A wrong coefficient gives errors of 1e-3 and more."""
    rng = np.random.default_rng(0)
    x = np.concatenate([np.linspace(-200, 200, 40001), 3 * rng.standard_normal(20000),
                        [0.0, -0.0, 1e30, -1e30, 3e38, -3e38]]).astype(np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y, (_, cdf) = F.gelu_forward(x, "none")
    assert y.dtype == cdf.dtype == np.float32
    x64 = x.astype(np.float64)
    phi = (1 + F.plain.erf(x64 / np.sqrt(2))) / 2
    assert np.max(np.abs(cdf - phi)) <= 4e-7  # measured 2.6e-7: the formula and rounding
    want = x64 * phi
    assert np.max(np.abs(y - want) / (1e-5 + 1e-4 * np.abs(want))) <= 1 / 20
    assert np.isnan(F.gelu_forward(np.float32([np.nan]), "none")[0]).all()


# --- issue 12: dilation, groups, ceil mode, divisors, adaptive windows, padding modes ----------

# (kernel, stride, padding, dilation, groups) for conv, against plain.conv2d
CONV_ARGS_GRID = [
    ((3, 3), (1, 1), (2, 2), (2, 2), 1), ((3, 2), (2, 1), (1, 0), (1, 3), 2),
    ((2, 2), (3, 2), (0, 1), (2, 1), 4), ((1, 3), (1, 1), (0, 2), (1, 2), 4),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS.get)
@pytest.mark.parametrize("kernel,stride,padding,dilation,groups", CONV_ARGS_GRID, ids=str)
def test_conv2d_dilation_and_groups_match_plain(kernel, stride, padding, dilation, groups,
                                                dtype, rng):
    shape = (2, 4, 9, 8)
    w_shape = (8, 4 // groups, *kernel)
    out_hw = _out_hw(shape, [d * (k - 1) + 1 for k, d in zip(kernel, dilation)], stride,
                     padding)
    normal = lambda s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    integers = lambda s: _ints(rng, s, dtype)  # noqa: E731  every sum exact: bit for bit
    for data, exact in ((normal, False), (integers, True)):
        x, w, b, g = (data(s) for s in (shape, w_shape, 8, (2, 8, *out_hw)))
        y, cols = F.conv2d_forward(x, w, b, stride, padding, dilation=dilation, groups=groups)
        fast = (y, *F.conv2d_backward(g, x, w, stride, padding, dilation=dilation,
                                      groups=groups, cols=cols))
        slow = (plain.conv2d(x, w, b, stride, padding, dilation, groups),
                *plain.conv2d_backward(g, x, w, stride, padding, dilation, groups))
        for a, e in zip(fast, slow):
            _close(a, e, dtype, exact=exact)


# (kernel, stride, padding, dilation, ceil_mode)
POOL_ARGS_GRID = [
    ((3, 3), (2, 2), (1, 1), (2, 2), True), ((2, 3), (1, 2), (1, 1), (1, 2), False),
    ((3, 2), (3, 1), (0, 1), (1, 1), True), ((2, 2), (2, 2), (0, 0), (3, 1), True),
    ((3, 3), (2, 3), (1, 0), (1, 1), True),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS.get)
@pytest.mark.parametrize("kernel,stride,padding,dilation,ceil", POOL_ARGS_GRID, ids=str)
def test_max_pool2d_dilation_ceil_and_indices_match_plain(kernel, stride, padding, dilation,
                                                          ceil, dtype, rng):
    for x in (rng.standard_normal((2, 3, 9, 8)).astype(dtype), _tied(rng, (2, 3, 9, 8), dtype)):
        y, slabs = F.max_pool2d_forward(x, kernel, stride, padding, dilation=dilation,
                                        ceil_mode=ceil)
        _close(y, plain.max_pool2d(x, kernel, stride, padding, dilation, ceil), dtype,
               exact=True)
        idx = F.max_pool2d_indices(slabs, y, x.shape, kernel, stride, padding, dilation, ceil)
        assert np.array_equal(idx, plain.max_pool2d_indices(x, kernel, stride, padding,
                                                            dilation, ceil))
        g = _ints(rng, y.shape, dtype)  # integers: overlapping sums exact in any order
        dx = F.max_pool2d_backward(g, x.shape, kernel, stride, padding, slabs, y,
                                   dilation=dilation, ceil_mode=ceil)
        _close(dx, plain.max_pool2d_backward(g, x, kernel, stride, padding, dilation, ceil),
               dtype, exact=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS.get)
@pytest.mark.parametrize("ceil,include,divisor", [(True, True, None), (True, False, None),
                                                  (False, False, None), (False, True, 3),
                                                  (True, False, -2)], ids=str)
@pytest.mark.parametrize("kernel,stride,padding", POOL_GRID[2:6], ids=_ids(POOL_GRID[2:6]))
def test_avg_pool2d_options_match_plain(kernel, stride, padding, ceil, include, divisor,
                                        dtype, rng):
    x = rng.standard_normal((2, 3, 9, 8)).astype(dtype)
    opts = {"ceil_mode": ceil, "count_include_pad": include, "divisor_override": divisor}
    y = F.avg_pool2d_forward(x, kernel, stride, padding, **opts)
    _close(y, plain.avg_pool2d(x, kernel, stride, padding, ceil, include, divisor), dtype)
    g = rng.standard_normal(y.shape).astype(dtype)
    _close(F.avg_pool2d_backward(g, x.shape, kernel, stride, padding, **opts),
           plain.avg_pool2d_backward(g, x, kernel, stride, padding, ceil, include, divisor),
           dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS.get)
@pytest.mark.parametrize("in_hw,out_hw", [((7, 5), (3, 2)), ((9, 8), (4, 8)), ((5, 6), (1, 1)),
                                          ((4, 3), (7, 5)), ((10, 10), (5, 2))], ids=str)
def test_adaptive_avg_pool2d_matches_plain(in_hw, out_hw, dtype, rng):
    x = rng.standard_normal((2, 3, *in_hw)).astype(dtype)
    y = F.adaptive_avg_pool2d_forward(x, out_hw)
    _close(y, plain.adaptive_avg_pool2d(x, out_hw), dtype)
    g = rng.standard_normal(y.shape).astype(dtype)
    _close(F.adaptive_avg_pool2d_backward(g, x.shape), plain.adaptive_avg_pool2d_backward(g, x),
           dtype)


@pytest.mark.parametrize("mode,np_mode", [("constant", "constant"), ("reflect", "reflect"),
                                          ("replicate", "edge"), ("circular", "wrap")])
@pytest.mark.parametrize("sides", [(1, 2, 0, 3), (2, 2, 2, 2), (0, 0, 1, 0), (3, 1, 4, 2)],
                         ids=str)
def test_pad_is_numpys_and_pad_backward_its_adjoint(mode, np_mode, sides, rng):
    """pad equals np.pad's mode (the specification), and <pad(x), d> == <x, pad_backward(d)>
    exactly on integers: pad_backward is pad's transpose."""
    x = _ints(rng, (2, 3, 5, 6), np.float64)
    top, bottom, left, right = sides
    xp = F.pad(x, sides, mode=mode)
    assert np.array_equal(xp, np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)),
                                     mode=np_mode))
    d = _ints(rng, xp.shape, np.float64)
    assert np.sum(xp * d) == np.sum(x * F.pad_backward(d, sides, mode=mode))


@settings(max_examples=100, deadline=None)
@given(size=st.integers(1, 30), kernel=st.integers(1, 6), stride=st.integers(1, 4),
       dilation=st.integers(1, 3), data=st.data())
def test_ceil_mode_output_size_is_torchs_rule(size, kernel, stride, dilation, data):
    """Ceil mode counts the window starts s = 0, stride, ... that floor mode counts, plus one
    more where the whole windows leave elements uncovered at the end, if it starts inside
    the input or its left padding (s < size + padding): torch's pooling_output_shape."""
    padding = data.draw(st.integers(0, kernel // 2))
    span = dilation * (kernel - 1) + 1
    padded = size + 2 * padding
    if padded < span:
        return
    whole = [s for s in range(0, padded, stride) if s + span <= padded]  # floor mode's
    extra = whole[-1] + stride
    partial = [extra] if whole[-1] + span < padded and extra < size + padding else []
    assert F.conv_output_size(size, kernel, stride, padding, dilation) == len(whole)
    assert F.conv_output_size(size, kernel, stride, padding, dilation,
                              ceil_mode=True) == len(whole) + len(partial)


@pytest.mark.parametrize("kernel,stride,padding,dilation,ceil", POOL_ARGS_GRID + [
    ((2, 2), (2, 2), (1, 1), (1, 1), False), ((3, 3), (1, 1), (1, 1), (1, 1), False)], ids=str)
def test_max_pool2d_all_minus_inf_windows_route_to_their_first_input_element(
        kernel, stride, padding, dilation, ceil, rng):
    """-inf input ties with -inf padding: torch (and plain) pick the window's first input
    element, so the fast kernel must not pick the padding."""
    x = np.where(rng.random((2, 2, 7, 8)) < 0.7, -np.inf, rng.integers(0, 3, (2, 2, 7, 8)))
    y, slabs = F.max_pool2d_forward(x, kernel, stride, padding, dilation=dilation,
                                    ceil_mode=ceil)
    assert np.isneginf(y).any()
    idx = F.max_pool2d_indices(slabs, y, x.shape, kernel, stride, padding, dilation, ceil)
    assert np.array_equal(idx, plain.max_pool2d_indices(x, kernel, stride, padding, dilation,
                                                        ceil))
    g = _ints(rng, y.shape, np.float64)
    dx = F.max_pool2d_backward(g, x.shape, kernel, stride, padding, slabs, y,
                               dilation=dilation, ceil_mode=ceil)
    assert np.array_equal(dx, plain.max_pool2d_backward(g, x, kernel, stride, padding,
                                                        dilation, ceil))


# --- the module/functional boundary ---------------------------------------------------------


def test_functional_reexports_every_public_name_of_every_submodule():
    """`from scratch import functional as F` reaches all the math: every public function and
    class (the NamedTuple caches and gradients) of every submodule but `plain` is in
    F.__all__, and F's name is that very object."""
    import importlib
    import inspect
    import pkgutil

    missing = []
    for info in pkgutil.iter_modules(F.__path__):
        if info.name == "plain":  # the specification stays a submodule: F.plain.conv2d
            continue
        sub = importlib.import_module(f"scratch.functional.{info.name}")
        for name, obj in vars(sub).items():
            if (not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
                    and obj.__module__ == sub.__name__
                    and (name not in F.__all__ or getattr(F, name) is not obj)):
                missing.append(f"{info.name}.{name}")
    assert not missing, f"not re-exported by scratch.functional: {missing}"
    assert "plain" in F.__all__ and F.plain.__name__ == "scratch.functional.plain"
