"""Conv2d against torch over a grid of shapes, finite differences, errors, and CNN layer specs.

The grid crosses kernel sizes 1/3/5, strides 1/2 and paddings 0/1/2 with
both dtypes; each cell runs three input configurations that between them
cover batch 1 and 6, in-channels 1/3/4, out-channels 1/2/5, bias on and off,
and odd, square and non-square images.
"""

import math

import numpy as np
import pytest

import reference
import scratch
from bench.compare import TOLERANCES, compare
from bench.experiments import Experiment, build_model, input_shape

DTYPES = [np.float32, np.float64]
GRADCHECK_TOL = 1e-6

# (batch, in_channels, out_channels, H, W, bias)
CONFIGS = [
    (1, 1, 2, 7, 7, True),
    (6, 3, 5, 9, 11, False),
    (4, 4, 1, 11, 8, True),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("padding", [0, 1, 2])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("kernel", [1, 3, 5])
def test_conv2d_grid_matches_torch(kernel, stride, padding, dtype):
    rng = np.random.default_rng(100 * kernel + 10 * stride + padding)
    for batch, cin, cout, h, w, bias in CONFIGS:
        m = scratch.Conv2d(cin, cout, kernel, stride, padding, bias=bias, rng=rng, dtype=dtype)
        x = rng.standard_normal((batch, cin, h, w)).astype(dtype)
        res = compare(m, x, rng=rng)
        out, _ = res.pairs["output"]
        assert out.shape == (batch, cout, (h + 2 * padding - kernel) // stride + 1,
                             (w + 2 * padding - kernel) // stride + 1)
        expected = {"output", "input.grad", "weight.grad"} | ({"bias.grad"} if bias else set())
        assert set(res.pairs) == expected
        res.assert_close(TOLERANCES[np.dtype(dtype)])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kernel,stride,padding", [
    ((3, 1), (1, 2), (1, 0)),
    ((2, 4), (2, 3), (0, 2)),
    ((5, 3), 3, (2, 1)),  # windows overlap in rows only: col2im adds
    (2, 2, 0),  # windows tile the image: col2im writes each element once
])
def test_conv2d_pairs_and_tiling(kernel, stride, padding, dtype, rng):
    m = scratch.Conv2d(3, 4, kernel, stride, padding, rng=rng, dtype=dtype)
    x = rng.standard_normal((5, 3, 10, 9)).astype(dtype)
    compare(m, x, rng=rng).assert_close(TOLERANCES[np.dtype(dtype)])


def test_conv2d_unbatched_input_matches_torch(rng):
    m = scratch.Conv2d(2, 3, 3, padding=1, rng=rng, dtype=np.float64)
    x = rng.standard_normal((2, 6, 5))
    res = compare(m, x, rng=rng)
    assert res.pairs["output"][0].shape == (3, 6, 5)
    assert res.pairs["input.grad"][0].shape == (2, 6, 5)
    res.assert_close(TOLERANCES[np.dtype(np.float64)])


def test_conv2d_keeps_float32(rng):
    m = scratch.Conv2d(3, 4, 3, 2, 1, rng=rng)
    x = rng.standard_normal((2, 3, 9, 9)).astype(np.float32)
    y = m(x)
    dx = m.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == m.weight.grad.dtype == m.bias.grad.dtype == np.float32


def test_conv2d_eval_backward_rebuilds_the_columns(rng):
    """Eval mode caches only x; its backward must equal the train-mode one."""
    m = scratch.Conv2d(3, 2, 3, padding=1, rng=rng, dtype=np.float64)
    x = rng.standard_normal((2, 3, 7, 7))
    g = rng.standard_normal((2, 2, 7, 7))
    m(x)
    dx_train = m.backward(g)
    dw_train = m.weight.grad.copy()
    m.zero_grad()
    m.eval()
    m(x)
    np.testing.assert_array_equal(m.backward(g), dx_train)
    np.testing.assert_array_equal(m.weight.grad, dw_train)


def test_conv2d_backward_accumulates(rng):
    m = scratch.Conv2d(2, 2, 3, rng=rng, dtype=np.float64)
    x = rng.standard_normal((2, 2, 5, 5))
    g = rng.standard_normal((2, 2, 3, 3))
    m(x)
    m.backward(g)
    once = m.weight.grad.copy(), m.bias.grad.copy()
    m.backward(g)
    np.testing.assert_allclose(m.weight.grad, 2 * once[0])
    np.testing.assert_allclose(m.bias.grad, 2 * once[1])


@pytest.mark.parametrize("kernel,stride,padding,bias", [
    (3, 1, 1, True), (5, 2, 2, False), ((3, 2), (2, 1), (0, 1), True), (1, 2, 0, True),
])
def test_conv2d_gradcheck(kernel, stride, padding, bias):
    rng = np.random.default_rng(3)
    m = scratch.Conv2d(2, 3, kernel, stride, padding, bias=bias, rng=rng, dtype=np.float64)
    x = rng.standard_normal((2, 2, 7, 6))
    result = scratch.gradcheck(m, x, rng=rng, tol=GRADCHECK_TOL)
    assert set(result.errors) == {"input", "weight"} | ({"bias"} if bias else set())
    assert result.max_error <= GRADCHECK_TOL


def test_conv2d_parameters_follow_torch():
    m = scratch.Conv2d(4, 6, (3, 5), rng=np.random.default_rng(0))
    t = reference.twin(m)
    assert {k: v.shape for k, v in m.state_dict().items()} == {
        k: tuple(v.shape) for k, v in t.state_dict().items()}
    assert m.weight.shape == (6, 4, 3, 5) and m.bias.shape == (6,)
    bound = 1 / math.sqrt(4 * 3 * 5)  # torch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    big = scratch.Conv2d(16, 64, 3, rng=np.random.default_rng(0))
    bound_big = 1 / math.sqrt(16 * 9)
    for p, b in ((m.weight, bound), (m.bias, bound), (big.weight, bound_big)):
        assert np.abs(p.data).max() <= b
    assert np.abs(big.weight.data).max() > 0.95 * bound_big  # the whole range is used
    assert repr(m) == "Conv2d(4, 6, kernel_size=(3, 5), stride=(1, 1))"
    assert repr(scratch.Conv2d(1, 2, 3, 2, 1, bias=False, rng=np.random.default_rng(0))) == (
        "Conv2d(1, 2, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)")


def test_conv2d_errors(rng):
    m = scratch.Conv2d(3, 4, 3, rng=rng)
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 3, H, W\).*size 2 at dim"):
        m(np.zeros((2, 2, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"\(3 or 4-D\), got shape \(2, 75\)"):
        m(np.zeros((2, 75), np.float32))
    with pytest.raises(TypeError, match="expects float32 input.*got float64"):
        m(np.zeros((2, 3, 8, 8)))
    with pytest.raises(TypeError, match="expects a numpy.ndarray"):
        m([[1.0]])
    with pytest.raises(ValueError, match=r"padded input size per channel \(2 x 8\) is smaller "
                                         r"than the kernel \(3 x 3\)"):
        m(np.zeros((1, 3, 2, 8), np.float32))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        scratch.Conv2d(1, 1, 1, rng=rng).backward(np.zeros((1, 1, 1, 1), np.float32))
    m(np.zeros((2, 3, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"grad_out of shape \(2, 4, 6, 6\)"):
        m.backward(np.zeros((2, 4, 8, 8), np.float32))
    with pytest.raises(ValueError, match="kernel_size must be >= 1"):
        scratch.Conv2d(1, 1, 0, rng=rng)
    with pytest.raises(ValueError, match="padding must be >= 0"):
        scratch.Conv2d(1, 1, 3, padding=-1, rng=rng)
    with pytest.raises(TypeError, match="stride must be an int or a pair of ints"):
        scratch.Conv2d(1, 1, 3, stride=(1, 2, 3), rng=rng)
    with pytest.raises(ValueError, match="in_channels and out_channels >= 1"):
        scratch.Conv2d(0, 1, 3, rng=rng)


# --- CNN layer specs in experiments ------------------------------------------------------

CNN = Experiment(name="toy-cnn", dataset="mnist", layout="image", layers=(
    "conv 4 3 pad=1", "batchnorm", "relu", "maxpool 2", "conv 6 5 stride=2 bias=false",
    "batchnorm2d", "avgpool 2 stride=1", "flatten", "dropout 0.1", "linear 10"))


def test_layer_specs_build_a_cnn_with_inferred_sizes():
    model = build_model(CNN, np.random.default_rng(0))
    conv1, bn1, _, pool1, conv2, bn2, avg, _, _, linear = model
    assert (conv1.in_channels, conv1.out_channels, conv1.kernel_size, conv1.padding) == (
        1, 4, (3, 3), (1, 1))
    assert type(bn1) is scratch.BatchNorm2d and bn1.num_features == 4
    assert pool1.kernel_size == 2 and pool1.stride == 2
    assert (conv2.in_channels, conv2.stride, conv2.bias) == (4, (2, 2), None)
    assert bn2.num_features == 6 and (avg.kernel_size, avg.stride) == (2, 1)
    # 28 -> 28 (pad 1) -> 14 (pool) -> 5 (5x5 stride 2) -> 4 (avg 2 stride 1)
    assert linear.in_features == 6 * 4 * 4
    assert input_shape(CNN) == (1, 28, 28)
    x = np.random.default_rng(1).standard_normal((3, 1, 28, 28)).astype(np.float32)
    assert model(x).shape == (3, 10)
    assert type(build_model(Experiment("m", "mnist", ("linear 8", "batchnorm")),
                            np.random.default_rng(0))[1]) is scratch.BatchNorm1d


@pytest.mark.parametrize("layers,layout,message", [
    (("conv 4 3",), "flat", r"layer 'conv 4 3': needs image input"),
    (("conv 4 3", "linear 10"), "image", r"layer 'linear 10': needs flat input .* \(N, 4, 26, "
                                         r"26\); put a 'flatten' before it"),
    (("conv 4",), "image", r"layer 'conv 4': expected out_channels kernel_size"),
    (("conv 4 3 padding=1",), "image", r"unknown options \['padding'\]"),
    (("conv 4 3 pad=x",), "image", "pad must be an integer, got 'x'"),
    (("conv 4 3 bias=no",), "image", "bias must be true or false"),
    (("conv 4 29",), "image", "kernel of size 29 does not fit input of size 28"),
    (("maxpool 2 pad=2",), "image", "padding should be at most half of the kernel size"),
    (("batchnorm2d",), "flat", "needs image input"),
    (("linear 10",), "nhwc", "layout must be 'flat' or 'image'"),
])
def test_layer_spec_errors(layers, layout, message):
    exp = Experiment(name="bad", dataset="mnist", layers=layers, layout=layout)
    with pytest.raises(ValueError, match=message):
        build_model(exp, np.random.default_rng(0))


def test_conv2d_float32_stays_within_rounding_of_float64_at_batch_64(rng):
    """Independent of torch: float32 results sit within float32 rounding of float64 ones."""
    m = scratch.Conv2d(3, 8, 3, padding=1, rng=rng)
    m64 = scratch.Conv2d(3, 8, 3, padding=1, rng=rng, dtype=np.float64)
    m64.load_state_dict(m.state_dict())
    x = rng.standard_normal((64, 3, 11, 9)).astype(np.float32)
    g = rng.standard_normal((64, 8, 11, 9)).astype(np.float32)
    pairs = [(m(x), m64(x.astype(np.float64))),
             (m.backward(g), m64.backward(g.astype(np.float64))),
             (m.weight.grad, m64.weight.grad), (m.bias.grad, m64.bias.grad)]
    for a, b in pairs:
        assert np.abs(a - b).max() <= 2e-6 * np.abs(b).max()  # ~ 16 float32 ulps of the scale
