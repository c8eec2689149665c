"""Every component against its torch twin: output, dL/dx and every parameter gradient."""

import numpy as np
import pytest

import scratch
from bench.compare import CASES, TOLERANCES, ParityResult, compare, run_case

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


F32 = TOLERANCES[np.dtype(np.float32)]


def test_a_float32_module_computing_in_float64_fails_on_dtype(rng, monkeypatch):
    """Close values are not enough: the helper never casts, so the dtype is checked."""
    real = scratch.Softmax.forward
    monkeypatch.setattr(scratch.Softmax, "forward",
                        lambda self, x: real(self, x.astype(np.float64)))
    res = compare(scratch.Softmax(dim=1), rng.standard_normal((4, 6)).astype(np.float32),
                  rng=rng)
    assert res.failures(F32) == ["output: dtype float64 vs torch float32",
                                 "input.grad: dtype float64 vs torch float32"]


def test_parameter_gradients_and_buffers_are_checked_for_dtype(rng):
    bn = scratch.BatchNorm1d(3, dtype=np.float32)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    res = compare(bn, x, rng=rng)
    assert set(res.pairs) == {"output", "input.grad", "weight.grad", "bias.grad",
                              "running_mean", "running_var", "num_batches_tracked"}
    assert res.failures(F32) == []
    for name in ("weight.grad", "running_var", "num_batches_tracked"):
        a, b = res.pairs[name]
        bad = ParityResult({name: (a.astype(np.float64 if a.dtype != np.float64 else np.int32),
                                   b)})
        assert bad.failures(F32) == [f"{name}: dtype {bad.pairs[name][0].dtype} vs torch "
                                     f"{b.dtype}"]
    a, b = res.pairs["num_batches_tracked"]
    assert ParityResult({"n": (a + 1, b)}).failures(F32) == ["n: 2 vs torch 1"]


@pytest.mark.parametrize("side", ["scratch", "torch"])
def test_nan_on_either_side_fails(side):
    a = np.array([1.0, 2.0, 3.0], np.float32)
    b = a.copy()
    (a if side == "scratch" else b)[1] = np.nan
    assert ParityResult({"y": (a, b)}).failures(F32) == [
        f"y: NaN pattern differs ({int(np.isnan(a).sum())} NaN in scratch, "
        f"{int(np.isnan(b).sum())} in torch)"]


def test_matching_nan_and_inf_patterns_pass_and_differing_infinities_fail():
    a = np.array([1.0, np.nan, np.inf, -np.inf], np.float64)
    assert ParityResult({"y": (a, a.copy())}).failures(TOLERANCES[np.dtype(np.float64)]) == []
    flipped = a.copy()
    flipped[2] = -np.inf
    assert ParityResult({"y": (a, flipped)}).failures(TOLERANCES[np.dtype(np.float64)])
    finite = a.copy()
    finite[3] = -1e300
    assert ParityResult({"y": (a, finite)}).failures(TOLERANCES[np.dtype(np.float64)])


def test_piecewise_gradients_at_exact_zero_are_torchs(rng):
    """At x == 0 torch's ReLU passes no gradient and LeakyReLU passes negative_slope times
    it; the catalogue's 'at exact zeros' cases hold both to torch, and the draw must
    really put zeros there."""
    for name in ("ReLU at exact zeros", "LeakyReLU() at exact zeros"):
        case = next(c for c in CASES if c.name == name)
        x, _ = case.inputs(8, np.float64, np.random.default_rng(0))
        assert (x == 0).sum() >= 8
        res = compare(case.build(rng, np.dtype(np.float64)), x, rng=rng)
        res.assert_close(TOLERANCES[np.dtype(np.float64)])
        dx, tdx = res.pairs["input.grad"]
        np.testing.assert_array_equal(dx[x == 0], tdx[x == 0])
        if name.startswith("ReLU"):
            assert not tdx[x == 0].any()
