"""The one twin-comparison engine (bench.compare.twins): the upstream gradient both twins get,
the pairs it collects for both entries, and the check's rule for judging them (parity's rule
is held by tests/test_parity.py)."""

import numpy as np
import pytest
import torch

import reference
import scratch
from bench.compare import (
    TOLERANCES,
    Adapter,
    AdapterError,
    ParityResult,
    check,
    compare,
    scratch_adapter,
)
from bench.compare.twins import numbered

F64 = TOLERANCES[np.dtype(np.float64)]
F32 = TOLERANCES[np.dtype(np.float32)]


def test_both_twins_get_the_recorded_upstream_gradient(rng):
    """dL/dx of a Linear layer is g W for the upstream g: both twins' input gradients must
    be that product for the g the result records (standard normal, the output's shape)."""
    layer = scratch.Linear(5, 3, rng=rng, dtype=np.float64)
    res = compare(layer, rng.standard_normal((4, 5)), rng=rng)
    (g,) = res.upstream
    assert g.shape == (4, 3) and g.dtype == np.float64 and np.abs(g).std() > 0.1
    for side in res.pairs["input.grad"]:
        np.testing.assert_allclose(side, g @ layer.weight.data, rtol=1e-12, atol=1e-14)


def test_a_reduced_loss_gets_a_scalar_upstream_gradient_and_integer_outputs_none(rng):
    x, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    res = compare(scratch.MSELoss(), x, target=t, rng=rng)
    (u,) = res.upstream
    assert u.shape == () and 0.5 <= u < 2.0
    for side in res.pairs["input.grad"]:  # d/dx of u * mean((x - t)^2), float64
        np.testing.assert_allclose(side, u * 2 * (x - t) / x.size, rtol=1e-12, atol=1e-15)
    # MaxPool2d's indices are compared exactly and take no gradient: one upstream, not two.
    res = compare(scratch.MaxPool2d(2, return_indices=True), rng.standard_normal((1, 2, 4, 4)),
                  rng=rng)
    assert [u.shape for u in res.upstream] == [(1, 2, 2, 2)]
    assert res.pairs["output1"][0].dtype == np.int64 and not res.failures(F64)


def test_parity_and_the_check_collect_the_same_pairs(rng):
    """Same module, same weights, same seed: the check's rows are the parity helper's pairs,
    by the same names and to the same numbers."""
    layer = scratch.Sequential(scratch.Linear(4, 6, rng=rng, dtype=np.float64), scratch.Tanh(),
                               scratch.BatchNorm1d(6, dtype=np.float64))
    x = rng.standard_normal((5, 4))
    twin = reference.twin(layer)
    res = compare(layer, x, rng=np.random.default_rng(7))
    report = check(layer, twin, x, rng=np.random.default_rng(7), dtypes=(np.float64,),
                   finite_differences=False)
    assert [r.tensor for r in report.rows] == list(res.pairs)
    assert [r.max_abs for r in report.rows] == [res.max_abs(n) for n in res.pairs]


def test_the_checks_rule_reshapes_unit_axes_and_notes_a_dtype():
    """Another library's layer may keep an (n, 1) column for torch's (n,) vector and compute
    in its own precision: the check reshapes and notes where parity fails."""
    w = np.linspace(-1.0, 1.0, 4)
    res = ParityResult({
        "column": (w.reshape(4, 1), w.copy()),
        "float64": (w, w.astype(np.float32)),
        "square": (w.reshape(2, 2), w.copy()),
        "nan": (np.where(w > 0, np.nan, w), w.copy()),
    })
    rows = {r.tensor: r for r in res.rows("float32", F32)}
    assert rows["column"].ok and rows["column"].shape == (4,) and rows["column"].note == ""
    assert rows["float64"].ok and rows["float64"].note == "layer gave float64"
    assert not rows["square"].ok and rows["square"].note == "shape (2, 2), torch's (4,)"
    assert not rows["nan"].ok
    assert [f.split(":")[0] for f in res.failures(F32)] == ["column", "float64", "square", "nan"]


def test_a_layer_giving_more_outputs_than_torch_is_an_adapter_error(rng):
    layer = scratch.Linear(5, 3, rng=rng)
    two = Adapter(**{**scratch_adapter(layer).__dict__, "output": lambda y: (y, y)})
    with pytest.raises(AdapterError, match=r"gives 2 output\(s\), torch 1.*output="):
        check(layer, torch.nn.Linear(5, 3), rng.standard_normal((4, 5)), adapter=two)


def test_the_check_drives_scratch_modules_with_several_inputs_and_outputs():
    # scratch's contract: backward(g_0, g_1, ...) per float output, one gradient per float
    # input back (an LSTM's dh0 and dc0 follow its dx and are not compared).
    rng = np.random.default_rng(0)
    lstm = check(scratch.LSTM(3, 4, rng=rng), torch.nn.LSTM(3, 4), rng.standard_normal((5, 2, 3)))
    qkv = [rng.standard_normal((3, 2, 4)) for _ in range(3)]
    mha = check(scratch.MultiheadAttention(4, 2, rng=rng), torch.nn.MultiheadAttention(4, 2), *qkv)
    for report, inputs, outputs in ((lstm, 1, 3), (mha, 3, 2)):
        report.assert_ok()
        names = {row.tensor for row in report.rows if row.dtype == "float64"}
        assert {numbered("input", i) + ".grad" for i in range(inputs)} <= names
        assert {numbered("output", k) for k in range(outputs)} <= names
