"""Upsample and F.interpolate: torch's index and weight rules (non-integer scales, odd sizes,
align_corners, recompute_scale_factor), the fast kernels against the plain loops, the adjoint,
and the argument errors. (Parity over the catalogue's cases is in tests/test_parity.py,
finite differences in tests/test_gradcheck.py.)

Nearest copies: forward bit for bit against torch and the plain loops. (Bi)linear sums two or
four weighted terms as matrix products, in another order than torch's blend: within
TOLERANCES per dtype (float64 rtol 1e-10, float32 1e-4) relative to the input's scale.
"""

import inspect

import numpy as np
import pytest
import torch

import scratch
from bench.compare import TOLERANCES
from scratch import functional as F

SHAPES = [(2, 3, 5, 7), (1, 2, 4, 3), (1, 1, 9, 18), (2, 2, 9), (2, 1, 18)]
# (size or scale_factor, recompute_scale_factor): integer, non-integer, shrinking, per axis
RESIZES = [
    ({"scale_factor": 2}, None), ({"scale_factor": 1.7}, None), ({"scale_factor": 0.6}, None),
    ({"scale_factor": 3.3}, None), ({"scale_factor": 1.05}, None), ({"scale_factor": 2.05}, None),
    ({"scale_factor": 1.7}, True), ({"size": 11}, None), ({"size": 3}, None), ({"size": 1}, None),
]
MODES = [("nearest", None), ("nearest-exact", None), ("linear", None), ("linear", True),
         ("bilinear", None), ("bilinear", False), ("bilinear", True)]


def _cases():
    for shape in SHAPES:
        for mode, align in MODES:
            if len(shape) in F.MODES[mode]:
                for resize, recompute in RESIZES:
                    yield shape, mode, align, resize, recompute


def _torch(x, g, **kw):
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.interpolate(xt, **kw)
    yt.backward(torch.tensor(g))
    return yt.detach().numpy(), xt.grad.numpy()


def _close(a, b, dtype):
    tol = TOLERANCES[np.dtype(dtype)]
    np.testing.assert_allclose(a, b, rtol=tol.rtol, atol=tol.atol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("shape", "mode", "align", "resize", "recompute"), list(_cases()))
def test_matches_torch(shape, mode, align, resize, recompute, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    kw = dict(mode=mode, align_corners=align, recompute_scale_factor=recompute, **resize)
    y = F.interpolate(x, **kw)
    g = rng.standard_normal(y.shape).astype(dtype)
    y_t, dx_t = _torch(x, g, **kw)
    assert y.shape == y_t.shape and y.dtype == x.dtype
    if mode.startswith("nearest"):
        np.testing.assert_array_equal(y, y_t)
    else:
        _close(y, y_t, dtype)
    dx = F.interpolate_backward(g, x.shape, F.interpolate_plan(x.shape, **kw))
    if len(shape) == 3 and mode == "nearest":
        return  # torch's 1-D nearest backward is not its forward's adjoint: test_adjoint
    _close(dx, dx_t, dtype)


@pytest.mark.parametrize(("shape", "mode", "align", "resize", "recompute"), list(_cases()))
def test_fast_against_plain(shape, mode, align, resize, recompute):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    plan = F.interpolate_plan(x.shape, mode=mode, align_corners=align,
                              recompute_scale_factor=recompute, **resize)
    y = F.interpolate_forward(x, plan)
    g = rng.standard_normal(y.shape)
    if mode.startswith("nearest"):
        np.testing.assert_array_equal(y, F.plain.interpolate(x, plan))
    else:
        _close(y, F.plain.interpolate(x, plan), np.float64)
    _close(F.interpolate_backward(g, x.shape, plan), F.plain.interpolate_backward(g, x.shape, plan),
           np.float64)


@pytest.mark.parametrize(("shape", "mode", "align", "resize", "recompute"), list(_cases()))
def test_adjoint(shape, mode, align, resize, recompute):
    """<g, f(x)> = <f*(g), x>: backward is the transpose of forward (also where torch's
    1-D nearest backward takes the O = S and O = 2S shortcuts its forward does not)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape)
    plan = F.interpolate_plan(x.shape, mode=mode, align_corners=align,
                              recompute_scale_factor=recompute, **resize)
    y = F.interpolate_forward(x, plan)
    g = rng.standard_normal(y.shape)
    np.testing.assert_allclose(np.vdot(g, y), np.vdot(F.interpolate_backward(g, x.shape, plan), x),
                               rtol=1e-12)


def test_module_forward_backward_and_input_grad():
    x = np.random.default_rng(3).standard_normal((2, 3, 5, 4))
    up = scratch.Upsample(scale_factor=(1.5, 2), mode="bilinear", align_corners=True)
    y = up(x)
    ref = torch.nn.Upsample(scale_factor=(1.5, 2), mode="bilinear", align_corners=True)
    _close(y, ref(torch.tensor(x)).numpy(), np.float64)
    assert up.backward(np.ones_like(y), input_grad=False) is None
    assert up.backward(np.ones_like(y)).shape == x.shape
    assert up.state_dict() == {}
    with pytest.raises(ValueError, match=r"grad_out of shape \(2, 3, 7, 8\)"):
        up.backward(np.ones((2, 3, 5, 4)))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"size": 4, "scale_factor": 2}, "exactly one of size or scale_factor.*got both"),
    ({}, "exactly one of size or scale_factor.*got neither"),
    ({"scale_factor": 2, "align_corners": True}, "align_corners can only be set.*'nearest'"),
    ({"size": 4, "recompute_scale_factor": True}, "recompute_scale_factor=True is not"),
])
def test_bad_arguments(kwargs, match):
    """Refused at construction and by interpolate, in one line naming what came."""
    with pytest.raises(ValueError, match=match):
        scratch.Upsample(**kwargs)
    with pytest.raises(ValueError, match=match):
        F.interpolate(np.zeros((1, 1, 3, 3)), **kwargs)


def test_refused_not_ignored():
    x = np.zeros((1, 1, 3, 3))
    with pytest.raises(NotImplementedError, match="antialias=True"):
        F.interpolate(x, scale_factor=2, mode="bilinear", antialias=True)
    with pytest.raises(NotImplementedError, match="mode must be one of.*got 'bicubic'"):
        scratch.Upsample(scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match=r"'bilinear' takes a 4-D input.*\(1, 1, 3\) \(3-D\)"):
        F.interpolate(np.zeros((1, 1, 3)), scale_factor=2, mode="bilinear")
    with pytest.raises(ValueError, match=r"input of shape \(N, C, H, W\) \(4-D\), got shape"):
        scratch.Upsample(scale_factor=2, mode="bilinear")(np.zeros((1, 1, 3)))
    with pytest.raises(ValueError, match=r"size must be one number or 2.*\(4, 4, 4\)"):
        F.interpolate(x, size=(4, 4, 4))
    with pytest.raises(ValueError, match=r"output sizes must be greater than 0.*\(0, 0\)"):
        F.interpolate(x, scale_factor=0.2)


def test_interpolate_has_torchs_signature():
    assert inspect.signature(F.interpolate).parameters.keys() == \
        inspect.signature(torch.nn.functional.interpolate).parameters.keys()
    for name, p in inspect.signature(torch.nn.functional.interpolate).parameters.items():
        assert inspect.signature(F.interpolate).parameters[name].default == p.default, name


@pytest.mark.parametrize("shape", [(1, 2, 11), (1, 2, 3, 11)])
def test_nearest_index_is_torchs_float32(shape):
    """11 * 3.7 -> 40: output 37 reads input 10 in float32 (37 * float32(1/3.7) rounds up to
    10.000001), 9 in float64; torch computes in float32 for every dtype."""
    x = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    y = F.interpolate(x, scale_factor=3.7)
    np.testing.assert_array_equal(
        y, torch.nn.functional.interpolate(torch.tensor(x), scale_factor=3.7).numpy())
    assert F.nearest_index(11, 40, 3.7)[37] == 10
