"""Issue 12: every argument torch's layers take, against torch.

Grids over the arguments that interact (pools: stride x dilation x padding x ceil_mode;
conv: groups x bias, padding modes x dilation x stride), odd sizes, batch 1, zero-size
batches and unbatched inputs, both dtypes at the parity tolerances; what the in-place
and implicit-dim options do to arrays and warnings; state_dict keys; and the errors
for arguments and shapes torch refuses. The single-case parity and finite-difference
checks of every new layer are catalogue cases (tests/test_parity.py, test_gradcheck.py).
"""

import itertools
import warnings

import numpy as np
import pytest
import torch

import reference
import scratch
from bench.compare import TOLERANCES, compare

DTYPES = [np.float32, np.float64]
DT_IDS = {np.float32: "float32", np.float64: "float64"}


def _check(module, x, rng, args=(), dropout="native"):
    res = compare(module, x, *args, rng=rng, dropout=dropout)
    res.assert_close(TOLERANCES[np.dtype(x.dtype)])
    return res


# --- pools: stride x dilation x padding x ceil_mode -------------------------------------------

MAX_GRID = list(itertools.product((2, 3), (None, 1, 2, 3), (1, 2), (0, 1), (False, True)))


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS.get)
def test_max_pool_grid_matches_torch(dtype):
    rng = np.random.default_rng(12)
    for k, s, d, p, ceil in MAX_GRID:
        for shape in ((1, 2, 9, 8), (3, 1, 7, 11)):  # batch 1, odd and non-square sizes
            if p > k // 2 or (shape[2] + 2 * p) < d * (k - 1) + 1:
                continue
            m = scratch.MaxPool2d(k, s, p, d, return_indices=True, ceil_mode=ceil)
            x = rng.standard_normal(shape).astype(dtype)
            res = _check(m, x, rng)
            assert res.pairs["output1"][0].dtype == np.int64  # the indices, exactly torch's


AVG_GRID = list(itertools.product((2, 3, (3, 2)), (None, 1, 2), (0, 1), (False, True),
                                  (True, False), (None, 5)))


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS.get)
def test_avg_pool_grid_matches_torch(dtype):
    rng = np.random.default_rng(13)
    for k, s, p, ceil, include, divisor in AVG_GRID:
        if p > min(np.atleast_1d(k)) // 2:
            continue
        x = rng.standard_normal((2, 2, 7, 8)).astype(dtype)
        _check(scratch.AvgPool2d(k, s, p, ceil, include, divisor), x, rng)


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS.get)
@pytest.mark.parametrize("out", [1, 3, (2, None), (None, 4), (5, 7), (9, 2), (None, None)],
                         ids=str)
def test_adaptive_avg_pool_matches_torch(out, dtype, rng):
    for shape in ((1, 2, 7, 5), (3, 1, 9, 4), (2, 8, 6)):  # the last one unbatched
        _check(scratch.AdaptiveAvgPool2d(out), rng.standard_normal(shape).astype(dtype), rng)


@pytest.mark.parametrize("kernel,stride,padding,hw,size", [
    (2, None, 0, (8, 6), None), (3, 2, 1, (9, 7), None), ((2, 3), (2, 2), (1, 0), (8, 7), None),
    (2, None, 0, (9, 7), (9, 7)), (3, 2, 1, (9, 7), (10, 8))])
def test_max_unpool_inverts_max_pool_as_torch(kernel, stride, padding, hw, size, rng):
    x = rng.standard_normal((2, 3, *hw))
    pool = scratch.MaxPool2d(kernel, stride, padding, return_indices=True)
    y, idx = pool(x)
    ty, tidx = reference.twin(pool)(reference.to_torch(x))
    np.testing.assert_array_equal(idx, tidx.numpy())
    args = (idx,) if size is None else (idx, size)
    res = _check(scratch.MaxUnpool2d(kernel, stride, padding), y, rng, args=args)
    if size is not None:
        assert res.pairs["output"][0].shape[2:] == size
    _check(scratch.MaxUnpool2d(kernel, stride, padding), y[0], rng,
           args=(idx[0],) + args[1:])  # unbatched


# --- convolution: groups x bias, padding modes x dilation x stride -----------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS.get)
def test_conv_groups_and_bias_match_torch(dtype):
    rng = np.random.default_rng(21)
    for groups, bias, stride in itertools.product((1, 2, 3, 6), (True, False), (1, 2)):
        m = scratch.Conv2d(6, 6 * (1 + (groups == 6)), 3, stride, 1, 1, groups, bias, rng=rng,
                           dtype=dtype)  # groups=6 with 12 filters: depthwise, multiplier 2
        for shape in ((1, 6, 7, 5), (3, 6, 6, 9)):
            res = _check(m, rng.standard_normal(shape).astype(dtype), rng)
            assert ("bias.grad" in res.pairs) == bias


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS.get)
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv_padding_modes_dilation_stride_match_torch(mode, dtype):
    rng = np.random.default_rng(22)
    for padding, dilation, stride in itertools.product(
            (1, (2, 1), "same", "valid"), (1, 2, (1, 3)), (1, 2)):
        if padding == "same" and stride != 1:
            continue
        m = scratch.Conv2d(2, 3, (3, 2), stride, padding, dilation, padding_mode=mode, rng=rng,
                           dtype=dtype)
        _check(m, rng.standard_normal((2, 2, 7, 8)).astype(dtype), rng)


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS.get)
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv1d_matches_torch(mode, dtype):
    rng = np.random.default_rng(23)
    for k, s, p, d, g in ((3, 1, 1, 1, 1), (4, 1, "same", 2, 2), (5, 2, 2, 1, 4), (2, 3, 0, 3, 1)):
        m = scratch.Conv1d(4, 8, k, s, p, d, g, padding_mode=mode, rng=rng, dtype=dtype)
        for shape in ((1, 4, 13), (3, 4, 10), (4, 11)):
            _check(m, rng.standard_normal(shape).astype(dtype), rng)


def test_same_padding_puts_the_odd_one_at_the_end_as_torch(rng):
    m = scratch.Conv2d(1, 1, (4, 2), padding="same", bias=False, rng=rng, dtype=np.float64)
    m.weight.data[...] = 0
    m.weight.data[0, 0, 0, 0] = 1  # picks x[i - 1, j]: the top pad is 1, the bottom 2
    x = rng.standard_normal((1, 1, 5, 4))
    y = m(x)
    assert y.shape == x.shape
    np.testing.assert_array_equal(y[0, 0, 1:], x[0, 0, :-1])
    np.testing.assert_array_equal(y[0, 0, 0], 0)


# --- batch 0, unbatched -----------------------------------------------------------------------

ZERO_BATCH = [
    lambda r, dt: scratch.Conv2d(3, 4, 3, 1, 1, 2, rng=r, dtype=dt),
    lambda r, dt: scratch.Conv2d(3, 3, 3, padding="same", groups=3, padding_mode="reflect",
                                 rng=r, dtype=dt),
    lambda r, dt: scratch.MaxPool2d(3, 2, 1, 2, True, True),
    lambda r, dt: scratch.AvgPool2d(3, 2, 1, True, False, None),
    lambda r, dt: scratch.AdaptiveAvgPool2d((2, 3)),
    lambda r, dt: scratch.BatchNorm2d(3, dtype=dt),
    lambda r, dt: scratch.BatchNorm2d(3, momentum=None, dtype=dt),
    lambda r, dt: scratch.BatchNorm2d(3, dtype=dt).eval(),
    lambda r, dt: scratch.BatchNorm2d(3, track_running_stats=False, dtype=dt).eval(),
    lambda r, dt: scratch.BatchNorm2d(3, affine=False, dtype=dt),
    lambda r, dt: scratch.Dropout2d(0.5, rng=r),
    lambda r, dt: scratch.ELU(inplace=True),
    lambda r, dt: scratch.Softmax(1),
    lambda r, dt: scratch.Flatten(),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS.get)
@pytest.mark.parametrize("build", ZERO_BATCH, ids=range(len(ZERO_BATCH)))
def test_zero_size_batch_as_torch(build, dtype, rng):
    m = build(rng, np.dtype(dtype))
    res = _check(m, np.zeros((0, 3, 7, 6), dtype), rng)
    assert res.pairs["output"][0].shape[0] == 0
    for name, value in m.named_buffers():  # num_batches_tracked counts the empty step
        np.testing.assert_array_equal(value, res.pairs[name][1])


@pytest.mark.parametrize("cls,features", [(scratch.BatchNorm1d, (4,)),
                                          (scratch.BatchNorm1d, (4, 3)),
                                          (scratch.BatchNorm2d, (4, 3, 2))], ids=str)
def test_batchnorm_steps_with_empty_batches_match_torch(cls, features, rng):
    """Running statistics over steps that include empty batches, momentum None (the
    cumulative average counts the empty step, as torch's num_batches_tracked does)."""
    for kwargs in ({}, {"momentum": None}):
        bn = cls(4, dtype=np.float64, **kwargs)
        tbn = reference.twin(bn)
        for n in (5, 0, 3, 0, 7):
            x = rng.standard_normal((n, *features)) * 2 + 1
            np.testing.assert_allclose(bn(x), tbn(reference.to_torch(x)).detach().numpy(),
                                       rtol=1e-10, atol=1e-12)
        for k, v in tbn.state_dict().items():
            np.testing.assert_allclose(bn.state_dict()[k], v.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("bad_n", [1])
def test_batchnorm_one_value_per_channel_refused_whenever_batch_stats_are_used(bad_n):
    for bn in (scratch.BatchNorm1d(3), scratch.BatchNorm1d(3, track_running_stats=False).eval()):
        with pytest.raises(ValueError, match=r"more than 1 value per channel.*\(1, 3\)"):
            bn(np.zeros((bad_n, 3), np.float32))
    assert scratch.BatchNorm1d(3).eval()(np.zeros((1, 3), np.float32)).shape == (1, 3)


@pytest.mark.parametrize("affine,bias,track", list(itertools.product((True, False), repeat=3)))
@pytest.mark.parametrize("cls", [scratch.BatchNorm1d, scratch.BatchNorm2d],
                         ids=lambda c: c.__name__)
def test_batchnorm_state_dict_keys_are_torchs(cls, affine, bias, track):
    bn = cls(5, affine=affine, track_running_stats=track, bias=bias)
    t = reference.twin(bn)
    assert list(bn.state_dict()) == list(t.state_dict())
    assert (bn.running_mean is None) == (t.running_mean is None) == (not track)
    if track:
        assert bn.state_dict()["num_batches_tracked"].dtype == np.int64


# --- in place, implicit dims, channel dropout ----------------------------------------------------

INPLACE = [lambda r: scratch.ReLU(True), lambda r: scratch.LeakyReLU(0.3, True),
           lambda r: scratch.ELU(1.5, True), lambda r: scratch.SiLU(True),
           lambda r: scratch.Dropout(0.4, True, rng=r),
           lambda r: scratch.Dropout2d(0.4, True, rng=r)]


@pytest.mark.parametrize("build", INPLACE, ids=range(len(INPLACE)))
def test_inplace_writes_into_the_input_as_torch(build, rng):
    m = build(np.random.default_rng(3))
    x = rng.standard_normal((3, 4, 2, 2))
    t = reference.twin(m, dropout="shared")  # the same masks, to compare the values
    xt = reference.to_torch(x)
    y = m(x)
    ty = t(xt)
    assert y is x  # the same array, now holding the result
    np.testing.assert_allclose(y, ty.numpy(), rtol=1e-12, atol=0)
    if not isinstance(m, scratch.Dropout):  # (the dropout twin draws scratch's masks, out of
        # place; torch's own in-place dropout draws other masks)
        np.testing.assert_allclose(x, xt.numpy(), rtol=1e-12, atol=0)  # torch's input too
    g = rng.standard_normal(x.shape)
    res = _check(build(np.random.default_rng(3)), rng.standard_normal(x.shape), rng,
                 dropout="shared")
    assert res.pairs["input.grad"][0].shape == x.shape
    m.backward(g)  # the gradient needs what forward overwrote: it was kept


def test_not_inplace_leaves_the_input_alone(rng):
    x = rng.standard_normal((3, 4))
    before = x.copy()
    for m in (scratch.ReLU(), scratch.ELU(), scratch.SiLU(), scratch.Dropout(0.5, rng=rng)):
        assert m(x) is not x
    np.testing.assert_array_equal(x, before)
    assert scratch.Identity()(x) is x  # torch's Identity returns its input


@pytest.mark.parametrize("cls", [scratch.Softmax, scratch.LogSoftmax], ids=lambda c: c.__name__)
@pytest.mark.parametrize("ndim", [0, 1, 2, 3, 4])
def test_implicit_dim_follows_torch_and_warns(cls, ndim, rng):
    x = rng.standard_normal((2, 3, 4, 5)[:ndim])
    t = getattr(torch.nn, cls.__name__)()
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        y = cls()(x)
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        ty = t(reference.to_torch(x))
    np.testing.assert_allclose(y, ty.numpy(), rtol=1e-12, atol=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an explicit dim never warns
        cls(0)(x)


def test_softmax_dim_out_of_range_names_the_range():
    with pytest.raises(IndexError, match=r"range of \[-1, 0\], but got 1"):
        scratch.Softmax(1)(np.array(2.0))
    with pytest.raises(IndexError, match=r"range of \[-2, 1\], but got 2"):
        scratch.LogSoftmax(2)(np.zeros((2, 2)))


def test_dropout2d_drops_whole_channels_and_refuses_3d(rng):
    d = scratch.Dropout2d(0.5, rng=rng)
    y = d(np.ones((20, 30, 3, 4), np.float32))
    per_map = y.reshape(20, 30, -1)
    assert np.all((per_map == 0).all(axis=2) | (per_map == 2).all(axis=2))
    assert 0.4 < (per_map[:, :, 0] == 0).mean() < 0.6
    with pytest.raises(ValueError, match=r"\(N, C, H, W\) \(4-D\), got shape \(3, 4, 5\).*"
                                         r"x\[None\]"):
        d(np.zeros((3, 4, 5), np.float32))


def test_flatten_and_unflatten_dims(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    for s, e in ((0, -1), (1, 2), (-3, -2), (2, 2), (0, 0)):
        _check(scratch.Flatten(s, e), x, rng)
    for dim, sizes in ((1, (3, 1)), (-1, (5, 1)), (2, [2, -1]), (0, (1, 2))):
        _check(scratch.Unflatten(dim, sizes), x, rng)


# --- errors: arguments and shapes torch refuses --------------------------------------------------


def test_conv_argument_errors_name_the_argument(rng):
    with pytest.raises(ValueError, match=r"divisible by groups \(2\)"):
        scratch.Conv2d(3, 4, 3, groups=2, rng=rng)
    with pytest.raises(ValueError, match="groups must be a positive integer, got 0"):
        scratch.Conv2d(3, 4, 3, groups=0, rng=rng)
    with pytest.raises(ValueError, match="invalid padding string 'full'"):
        scratch.Conv2d(3, 4, 3, padding="full", rng=rng)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        scratch.Conv2d(3, 4, 3, 2, "same", rng=rng)
    with pytest.raises(ValueError, match="padding_mode must be one of.*got 'mirror'"):
        scratch.Conv2d(3, 4, 3, padding_mode="mirror", rng=rng)
    with pytest.raises(ValueError, match="dilation must be >= 1"):
        scratch.Conv2d(3, 4, 3, dilation=0, rng=rng)
    with pytest.raises(TypeError, match="kernel_size must be an int or a tuple of one int"):
        scratch.Conv1d(3, 4, (3, 3), rng=rng)
    m = scratch.Conv2d(3, 4, 3, padding=3, padding_mode="reflect", rng=rng)
    with pytest.raises(ValueError, match=r"reflect padding must be smaller than the input size: "
                                         r"got padding \(3, 3\) for size 3"):
        m(np.zeros((1, 3, 3, 8), np.float32))
    m = scratch.Conv2d(3, 4, 3, padding=4, padding_mode="circular", rng=rng)
    with pytest.raises(ValueError, match="circular padding must be at most the input size"):
        m(np.zeros((1, 3, 3, 8), np.float32))
    with pytest.raises(ValueError, match=r"smaller than the kernel \(3 x 3, dilated to 5 x 5\)"):
        scratch.Conv2d(3, 4, 3, dilation=2, rng=rng)(np.zeros((1, 3, 4, 8), np.float32))
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 3, L\) or \(3, L\).*"
                                         r"got shape \(2, 4, 9\)"):
        scratch.Conv1d(3, 4, 3, rng=rng)(np.zeros((2, 4, 9), np.float32))


def test_pool_argument_and_shape_errors():
    with pytest.raises(ValueError, match="divisor_override must be a nonzero int"):
        scratch.AvgPool2d(2, divisor_override=0)
    with pytest.raises(ValueError, match="dilation must be >= 1"):
        scratch.MaxPool2d(2, dilation=0)
    with pytest.raises(TypeError, match="output_size must be an int or a pair"):
        scratch.AdaptiveAvgPool2d((2, 3, 4))
    with pytest.raises(TypeError, match="got None"):
        scratch.AdaptiveAvgPool2d(None)
    with pytest.raises(ValueError, match=r"non-empty channel and spatial dims.*\(1, 0, 4, 4\)"):
        scratch.MaxPool2d(2)(np.zeros((1, 0, 4, 4)))
    with pytest.raises(ValueError, match=r"non-empty.*\(1, 2, 0, 4\)"):
        scratch.AdaptiveAvgPool2d(2)(np.zeros((1, 2, 0, 4)))
    unpool = scratch.MaxUnpool2d(2)
    x = np.zeros((1, 1, 2, 2))
    with pytest.raises(ValueError, match=r"indices of the input's shape \(1, 1, 2, 2\), got "
                                         r"\(1, 1, 2, 3\)"):
        unpool(x, np.zeros((1, 1, 2, 3), np.int64))
    with pytest.raises(ValueError, match="invalid max index 16 \\(output planes are of size "
                                         "4x4\\)"):
        unpool(x, np.full((1, 1, 2, 2), 16))
    with pytest.raises(ValueError, match=r"invalid output_size \(6, 6\)"):
        unpool(x, np.zeros((1, 1, 2, 2), np.int64), (6, 6))
    with pytest.raises(TypeError, match="integer indices"):
        unpool(x, np.zeros((1, 1, 2, 2)))


def test_shape_errors_of_the_other_new_layers():
    with pytest.raises(ValueError, match=r"unflattened_size \(4, 2\) does not split size 6"):
        scratch.Unflatten(1, (4, 2))(np.zeros((2, 6)))
    with pytest.raises(NotImplementedError, match="named dim"):
        scratch.Unflatten("features", (2, 3))
    with pytest.raises(IndexError, match=r"start_dim=3 is out of range \[-3, 2\]"):
        scratch.Flatten(3)(np.zeros((2, 3, 4)))
    relu = scratch.ReLU(inplace=True)
    ro = np.zeros(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="inplace=True\\) needs a writeable input"):
        relu(ro)


def test_max_pool_minus_inf_windows_match_torch(rng):
    """A window whose input elements are all -inf: torch's index and gradient go to its
    first input element, not to the padding."""
    x = np.where(rng.random((2, 3, 7, 8)) < 0.8, -np.inf, rng.standard_normal((2, 3, 7, 8)))
    for k, s, p, d, ceil in ((2, 2, 1, 1, False), (3, 1, 1, 1, False), (3, 2, 1, 2, True)):
        m = scratch.MaxPool2d(k, s, p, d, return_indices=True, ceil_mode=ceil)
        res = compare(m, x, rng=rng)
        for name in ("output", "output1"):
            np.testing.assert_array_equal(*res.pairs[name])
        np.testing.assert_allclose(*res.pairs["input.grad"], rtol=1e-10, atol=1e-12)


REPRS = [
    lambda r: scratch.Conv2d(3, 6, 3, 2, "valid", 2, 3, False, "reflect", rng=r),
    lambda r: scratch.Conv2d(3, 6, (3, 1), 1, "same", rng=r),
    lambda r: scratch.Conv1d(2, 4, 3, 2, 1, rng=r),
    lambda r: scratch.MaxPool2d(3, 2, 1, 2, True, True),
    lambda r: scratch.AvgPool2d(3, 2, 1, True, False, 4),
    lambda r: scratch.AdaptiveAvgPool2d((2, None)),
    lambda r: scratch.MaxUnpool2d(2),
    lambda r: scratch.BatchNorm2d(3, momentum=None, bias=False),
    lambda r: scratch.ELU(0.5, True), lambda r: scratch.SiLU(), lambda r: scratch.Softplus(2, 3),
    lambda r: scratch.Identity(), lambda r: scratch.LogSoftmax(),
    lambda r: scratch.Dropout2d(0.2, rng=r), lambda r: scratch.Dropout(0.1, True, rng=r),
    lambda r: scratch.Unflatten(1, (2, 3)), lambda r: scratch.ReLU(True),
    lambda r: scratch.LeakyReLU(0.2, True),
]


@pytest.mark.parametrize("build", REPRS, ids=range(len(REPRS)))
def test_repr_is_torchs(build, rng):
    m = build(rng)
    assert repr(m) == repr(reference.twin(m))
