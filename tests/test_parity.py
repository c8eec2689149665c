"""Every component against its torch twin: output, dL/dx and every parameter gradient."""

import numpy as np
import pytest

import scratch
from bench.compare import CASES, TOLERANCES, compare, run_case

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("batch", [1, 5, 64])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_component_matches_torch(case, batch, dtype):
    if batch < case.min_batch:
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            run_case(case, dtype, batch, seed=batch)
        return
    res = run_case(case, dtype, batch, seed=batch)
    assert "output" in res.pairs
    assert "input.grad" in res.pairs or case.name.startswith("Embedding")  # indices: no grad
    res.assert_close(TOLERANCES[np.dtype(dtype)])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("in_f,out_f", [(1, 1), (3, 17), (17, 3), (784, 10), (129, 65)])
def test_linear_widths(in_f, out_f, dtype, rng):
    m = scratch.Linear(in_f, out_f, rng=rng, dtype=dtype)
    x = rng.standard_normal((7, in_f)).astype(dtype)
    res = compare(m, x, rng=rng)
    assert set(res.pairs) == {"output", "input.grad", "weight.grad", "bias.grad"}
    res.assert_close(TOLERANCES[np.dtype(dtype)])


def test_parity_helper_detects_a_wrong_gradient(rng, monkeypatch):
    """The helper must fail when scratch's backward is off, or every parity test is hollow."""

    def wrong_bwd(self, grad_out, y):
        return grad_out * (1 - y)  # missing the square

    monkeypatch.setattr(scratch.Tanh, "_bwd", wrong_bwd)
    res = compare(scratch.Tanh(), rng.standard_normal((4, 6)), rng=rng)
    assert res.max_rel("output") < 1e-15
    with pytest.raises(AssertionError, match="input.grad"):
        res.assert_close(TOLERANCES[np.dtype(np.float64)])


def test_upstream_gradient_is_not_uniform(rng):
    """A ones gradient would hide errors that cancel across outputs (numpy-ml's BatchNorm test)."""
    m = scratch.Sigmoid()
    x = rng.standard_normal((3, 5))
    res = compare(m, x, rng=rng)
    dx, _ = res.pairs["input.grad"]
    y = 1 / (1 + np.exp(-x))
    ones_grad = y * (1 - y)
    assert not np.allclose(dx, ones_grad)
