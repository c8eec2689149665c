"""scratch.utils gradient clipping against torch.nn.utils: every norm_type, both dtypes."""

import itertools

import numpy as np
import pytest
import torch

import scratch
from bench.compare import TOLERANCES
from scratch import utils
from scratch.testing import max_rel_diff

SHAPES = [(5, 3), (3,), (1,), (2, 3, 4)]
NORMS = [2.0, 1.0, 3.5, float("inf"), -float("inf"), 0.0, "inf"]


def _pairs(dtype, rng, missing=(1,)):
    """Parameters with random gradients, and torch's; those in `missing` have none."""
    params, tparams = [], []
    for i, s in enumerate(SHAPES):
        p = scratch.Parameter(np.zeros(s, dtype))
        tp = torch.zeros(s, dtype=reference_dtype(dtype), requires_grad=True)
        if i not in missing:
            g = (rng.standard_normal(s) * 3).astype(dtype)
            p.grad = g.copy()
            tp.grad = torch.from_numpy(g.copy())
        params.append(p)
        tparams.append(tp)
    return params, tparams


def reference_dtype(dtype):
    return torch.float64 if dtype == np.float64 else torch.float32


def _grads_close(params, tparams, dtype):
    tol = TOLERANCES[np.dtype(dtype)]
    for p, tp in zip(params, tparams):
        assert p.has_grad == (tp.grad is not None)
        if tp.grad is not None:
            np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=tol.rtol, atol=tol.atol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("norm_type, max_norm", list(itertools.product(NORMS, [0.5, 1e3])),
                         ids=str)
def test_clip_grad_norm_matches_torch(norm_type, max_norm, dtype, rng):
    params, tparams = _pairs(dtype, rng)
    total = utils.clip_grad_norm_(params, max_norm, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type)
    assert total.dtype == dtype and total.shape == ()
    assert max_rel_diff(total, ttotal.numpy()) <= TOLERANCES[np.dtype(dtype)].rtol
    _grads_close(params, tparams, dtype)
    assert not params[1].has_grad  # a parameter without a gradient stays without


def test_clip_grad_norm_single_parameter_generator_and_none(rng):
    params, tparams = _pairs(np.float64, rng, missing=())
    total = utils.clip_grad_norm_(params[0], 1.0)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams[0], 1.0)
    assert total == pytest.approx(float(ttotal), rel=1e-12)
    utils.clip_grad_norm_((p for p in params), 0.1, foreach=True)
    torch.nn.utils.clip_grad_norm_((p for p in tparams), 0.1)
    _grads_close(params, tparams, np.float64)
    assert utils.clip_grad_norm_([scratch.Parameter(np.ones(2))], 1.0) == 0.0


def test_error_if_nonfinite(rng):
    params, tparams = _pairs(np.float64, rng)
    params[0].grad[0, 0] = np.nan
    tparams[0].grad[0, 0] = np.nan
    with pytest.raises(RuntimeError, match="non-finite"):
        utils.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError, match="non-finite"):
        torch.nn.utils.clip_grad_norm_(tparams, 1.0, error_if_nonfinite=True)
    total = utils.clip_grad_norm_(params, 1.0)  # scales by the NaN norm anyway, as torch
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, 1.0)
    assert np.isnan(total) and torch.isnan(ttotal)
    assert np.isnan(params[2].grad).all() and torch.isnan(tparams[2].grad).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("clip_value", [0.0, 0.7, 5])
def test_clip_grad_value_matches_torch(clip_value, dtype, rng):
    params, tparams = _pairs(dtype, rng)
    assert utils.clip_grad_value_(params, clip_value) is None
    torch.nn.utils.clip_grad_value_(tparams, clip_value)
    _grads_close(params, tparams, dtype)
    assert np.abs(params[0].grad).max() <= clip_value


def test_refuses_what_is_not_a_parameter():
    with pytest.raises(TypeError, match="expected scratch Parameters, got ndarray"):
        utils.clip_grad_norm_([np.ones(3)], 1.0)
