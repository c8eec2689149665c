"""Finite-difference checks of every component's backward, in float64."""

import numpy as np
import pytest

import scratch
from bench.compare import CASES, too_big_for_gradcheck
from scratch.testing import array_leaves

GRADCHECK_TOL = 1e-6  # max relative error, float64 central differences with eps=1e-6

# Cases drawn at kinks (ReLU at exact 0, pooling ties) have no derivative there to
# estimate; Embedding's max_norm opts out (Case.gradcheck).
SMALL_CASES = [c for c in CASES if c.gradcheck and not c.at_kinks
               and not too_big_for_gradcheck(c.build(np.random.default_rng(0), np.float64))]


@pytest.mark.parametrize("case", SMALL_CASES, ids=lambda c: c.name)
def test_component_gradcheck(case):
    rng = np.random.default_rng(7)
    module = case.build(rng, np.dtype(np.float64))
    inputs, target, options = case.arguments(3, np.float64, rng)
    result = scratch.gradcheck(module, *inputs, target=target, options=options, rng=rng,
                               tol=GRADCHECK_TOL)
    n_float = len(array_leaves(inputs, floats_only=True))
    leaves = [f"input{i}" if i else "input" for i in range(n_float)]
    assert not n_float or result.errors["input"] <= GRADCHECK_TOL
    assert set(result.errors) == {*leaves, *(n for n, _ in module.named_parameters())}


def test_small_mlp_gradcheck(rng):
    model = scratch.Sequential(
        scratch.Linear(6, 5, rng=rng, dtype=np.float64), scratch.Tanh(),
        scratch.Linear(5, 4, rng=rng, dtype=np.float64), scratch.LeakyReLU(),
        scratch.Linear(4, 3, rng=rng, dtype=np.float64),
    )
    x = rng.standard_normal((4, 6))
    result = scratch.gradcheck(model, x, rng=rng)
    assert result.max_error <= GRADCHECK_TOL
    assert len(result.errors) == 7  # input + 3 weights + 3 biases


def test_gradcheck_catches_wrong_backward(rng):
    class WrongSigmoid(scratch.Sigmoid):
        def _bwd(self, grad_out, y):
            return grad_out * y  # forgot (1 - y)

    with pytest.raises(ValueError, match="gradcheck failed for WrongSigmoid"):
        scratch.gradcheck(WrongSigmoid(), rng.standard_normal((3, 4)), rng=rng)


def test_gradcheck_refuses_float32(rng):
    with pytest.raises(TypeError, match="float64"):
        scratch.gradcheck(scratch.ReLU(), rng.standard_normal((2, 2)).astype(np.float32), rng=rng)


def test_gradcheck_fails_a_nan_gradient(rng):
    class NaNSigmoid(scratch.Sigmoid):
        def _bwd(self, grad_out, y):
            return grad_out * np.nan

    result = scratch.gradcheck(NaNSigmoid(), rng.standard_normal((3, 4)), rng=rng,
                               raise_on_failure=False)
    assert np.isnan(result.errors["input"]) and np.isnan(result.max_error)
    with pytest.raises(ValueError, match="relative error nan in 'input'"):
        scratch.gradcheck(NaNSigmoid(), rng.standard_normal((3, 4)), rng=rng)


def test_gradcheck_measures_with_max_rel_diff(rng):
    """Errors are max_rel_diff(analytic, numeric), scaled by the numeric gradient."""
    class HalfSigmoid(scratch.Sigmoid):
        def _bwd(self, grad_out, y):
            return 0.5 * super()._bwd(grad_out, y)  # half the true gradient

    result = scratch.gradcheck(HalfSigmoid(), rng.standard_normal((3, 4)), rng=rng,
                               raise_on_failure=False)
    assert result.errors["input"] == pytest.approx(0.5, rel=1e-6)
