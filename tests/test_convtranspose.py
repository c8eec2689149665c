"""ConvTranspose1d and ConvTranspose2d: the fast kernels against the plain scatter, output_size,
torch's arguments, errors and parameters. (Parity with torch over the catalogue's cases is in
tests/test_parity.py, finite differences in tests/test_gradcheck.py.)

The fast kernels run Conv2d's im2col / col2im and sum in another order than the plain loops:
float64 results agree to RTOL_F64 relative to the output's scale.
"""

import numpy as np
import pytest
import torch

import reference
import scratch
from bench.compare import TOLERANCES, compare
from scratch import functional as F
from scratch import parallel
from scratch.functional import conv as conv_kernels

RTOL_F64 = 1e-12

# (C_in, C_out, kernel, stride, padding, output_padding, dilation, groups, H, W)
GEOMETRIES = [
    (3, 4, (3, 3), (1, 1), (0, 0), (0, 0), (1, 1), 1, 5, 6),
    (4, 6, (3, 3), (2, 2), (1, 1), (1, 1), (1, 1), 2, 5, 4),
    (3, 2, (3, 2), (2, 1), (1, 0), (1, 0), (1, 2), 1, 4, 5),
    (2, 3, (3, 3), (1, 1), (1, 1), (1, 1), (2, 2), 1, 4, 4),  # output_padding >= stride
    (4, 4, (2, 2), (2, 2), (0, 0), (0, 0), (1, 1), 4, 3, 3),  # windows tile: depthwise
    (2, 3, (4, 4), (3, 3), (2, 2), (2, 2), (2, 2), 1, 3, 4),
]


def _close(got, want, rtol=RTOL_F64):
    scale = max(np.abs(want).max(initial=0.0), 1.0)
    np.testing.assert_allclose(got, want, rtol=0, atol=rtol * scale)


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
def test_fast_kernels_equal_the_plain_scatter(geometry, rng):
    cin, cout, k, s, p, op, d, g, h, w = geometry
    x = rng.standard_normal((3, cin, h, w))
    weight = rng.standard_normal((cin, cout // g, *k))
    bias = rng.standard_normal(cout)
    y = F.conv_transpose2d_forward(x, weight, bias, s, p, op, dilation=d, groups=g)
    want = F.plain.conv_transpose2d(x, weight, bias, s, p, op, d, g)
    assert y.shape == want.shape == (3, cout, *(
        F.conv_transpose_output_size(n, k[a], s[a], p[a], op[a], d[a])
        for a, n in enumerate((h, w))))
    _close(y, want)
    gy = rng.standard_normal(y.shape)
    grads = F.conv_transpose2d_backward(gy, x, weight, s, p, dilation=d, groups=g)
    dx, dw, db = F.plain.conv_transpose2d_backward(gy, x, weight, s, p, op, d, g)
    _close(grads.input, dx)
    _close(grads.weight, dw)
    _close(grads.bias, db)


def test_input_grad_false_skips_dx_and_keeps_the_weight_gradient(rng):
    x, weight = rng.standard_normal((2, 2, 4, 4)), rng.standard_normal((2, 3, 3, 3))
    gy = rng.standard_normal((2, 3, 7, 7))
    full = F.conv_transpose2d_backward(gy, x, weight, (1, 1), (1, 1), dilation=(2, 2))
    part = F.conv_transpose2d_backward(gy, x, weight, (1, 1), (1, 1), dilation=(2, 2),
                                       input_grad=False, bias_grad=False)
    assert part.input is None and part.bias is None
    np.testing.assert_array_equal(part.weight, full.weight)


def test_a_chunked_batch_equals_one_chunk(rng, monkeypatch):
    m = scratch.ConvTranspose2d(3, 4, 3, 2, 1, 1, rng=rng, dtype=np.float64)
    x = rng.standard_normal((7, 3, 5, 5))
    y = m(x)
    dx = m.backward(np.ones_like(y))
    dw = m.weight.grad.copy()
    monkeypatch.setattr(parallel, "MIN_THREAD_BYTES", 0)
    monkeypatch.setattr(parallel, "CORES", 1)
    monkeypatch.setattr(conv_kernels, "CHUNK_BYTES", 1)
    m.zero_grad()
    _close(m(x), y)
    _close(m.backward(np.ones_like(y)), dx)
    _close(m.weight.grad, dw)


@pytest.mark.parametrize("size", [(9, 7), (1, 2, 9, 7), [8, 6], (2, 8, 6)])
def test_output_size_matches_torch(size, rng):
    m = scratch.ConvTranspose2d(2, 3, 4, 2, 1, rng=rng, dtype=np.float64)
    unbatched = len(size) == 3
    x = rng.standard_normal((2, 4, 3) if unbatched else (1, 2, 4, 3))
    res = compare(m, x, options={"output_size": size}, rng=rng)
    assert res.pairs["output"][0].shape[-2:] == tuple(size[-2:])
    res.assert_close(TOLERANCES[np.dtype(np.float64)])


def test_unreachable_output_size_names_the_sizes(rng):
    m = scratch.ConvTranspose2d(2, 3, 4, 2, 1, rng=rng)
    x = np.zeros((1, 2, 4, 3), np.float32)
    with pytest.raises(ValueError) as ours:
        m(x, output_size=(10, 6))
    assert str(ours.value) == (
        "ConvTranspose2d: requested an output size of (10, 6), but no output_padding reaches "
        "it: valid sizes range from (8, 6) to (9, 7) (for an input of (4, 3))")
    with pytest.raises(ValueError, match="valid sizes range from"):  # torch refuses it too
        reference.twin(m)(torch.zeros(1, 2, 4, 3), output_size=(10, 6))
    with pytest.raises(ValueError, match=r"for 4D input, output_size must have 2 or 4 elements "
                                         r"\(got 3\)"):
        m(x, output_size=(1, 9, 7))
    with pytest.raises(ValueError, match=r"requested an output size of \(19,\).*\(12,\) to "
                                         r"\(14,\)"):
        scratch.ConvTranspose1d(2, 3, 3, 3, rng=rng)(np.zeros((2, 4), np.float32),
                                                      output_size=[19])


def test_arguments_torch_refuses_are_refused(rng):
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for '
                                         "ConvTranspose2d"):
        scratch.ConvTranspose2d(2, 3, 3, padding_mode="reflect", rng=rng)
    with pytest.raises(ValueError, match="padding must be an int or a tuple"):
        scratch.ConvTranspose1d(2, 3, 3, padding="same", rng=rng)
    with pytest.raises(ValueError, match="divisible by groups"):
        scratch.ConvTranspose2d(3, 4, 3, groups=2, rng=rng)
    m = scratch.ConvTranspose2d(2, 3, 3, stride=2, output_padding=2, rng=rng)
    x = np.zeros((1, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match="output_padding must be smaller than either stride or "
                                         "dilation"):
        m(x)
    with pytest.raises(RuntimeError, match="output padding must be smaller"):
        reference.twin(m)(torch.zeros(1, 2, 3, 3))
    assert m(x, output_size=(8, 8)).shape == (1, 3, 8, 8)  # output_size overrides it, as torch
    with pytest.raises(ValueError, match=r"gives an output of \(0, 0\): too small"):
        scratch.ConvTranspose2d(2, 3, 2, padding=1, rng=rng)(np.zeros((1, 2, 1, 1), np.float32))
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 2, H, W\) or \(2, H, W\), "
                                         r"got shape \(1, 3, 4, 4\)"):
        scratch.ConvTranspose2d(2, 3, 3, rng=rng)(np.zeros((1, 3, 4, 4), np.float32))


@pytest.mark.parametrize("cls,args", [
    ("ConvTranspose2d", (4, 6, (3, 2), 2, 1, 1, 2, False, 1)),
    ("ConvTranspose2d", (2, 3, 3, 1, 0, 0, 1, True, 2)),
    ("ConvTranspose1d", (4, 2, 5, 3, 2, 1, 2)),
])
def test_parameters_repr_and_initialisation_follow_torch(cls, args, rng):
    ours = getattr(scratch, cls)(*args, rng=rng, dtype=np.float64)
    theirs = getattr(torch.nn, cls)(*args, dtype=torch.float64)
    assert repr(ours) == repr(theirs)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    # kaiming_uniform_(a=sqrt(5)) on the transposed shape: fan_in = C_out / G * prod(kernel)
    bound = 1 / np.sqrt(ours.weight.shape[1] * np.prod(ours.kernel_size))
    assert np.abs(ours.weight.data).max() <= bound
    assert np.abs(ours.weight.data).max() > 0.8 * bound


def test_backward_accumulates_and_keeps_float32(rng):
    m = scratch.ConvTranspose2d(3, 2, 3, 2, rng=rng)
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    y = m(x)
    dx = m.backward(np.ones_like(y))
    first = m.weight.grad.copy()
    m(x)
    assert m.backward(np.ones_like(y), input_grad=False) is None
    np.testing.assert_allclose(m.weight.grad, 2 * first, rtol=1e-6)
    assert y.dtype == dx.dtype == m.weight.grad.dtype == m.bias.grad.dtype == np.float32
