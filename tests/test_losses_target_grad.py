"""The target's gradient, wherever torch differentiates the target.

`loss.backward(grad, target_grad=True)` returns (dL/dinput, dL/dtarget). Each loss is
held to torch with `target.requires_grad_()` through the parity engine
(`compare(..., target_grad=True)`, the pair "target.grad") for every reduction and
option, in float32 and float64 at `TOLERANCES`; and to central differences over the
target in float64 (relative error 1e-6, step 1e-6, away from the kinks). NLLLoss and
CrossEntropyLoss with class indices have integer targets, which have no gradient:
asking for one is refused by name.
"""

import itertools

import numpy as np
import pytest

import scratch
from bench.compare import TOLERANCES, compare
from scratch.gradcheck import central_difference

DTYPES = [np.float64, np.float32]
REDUCTIONS = ["mean", "sum", "none"]
C = 4

# name -> build(dtype, rng, reduction), and how its input and target are drawn
LOSSES = {
    "MSELoss": (lambda dt, r, red: scratch.MSELoss(reduction=red), "real"),
    "L1Loss": (lambda dt, r, red: scratch.L1Loss(reduction=red), "real"),
    "SmoothL1Loss": (lambda dt, r, red: scratch.SmoothL1Loss(reduction=red), "real"),
    "SmoothL1Loss(beta=0.4)":
        (lambda dt, r, red: scratch.SmoothL1Loss(reduction=red, beta=0.4), "real"),
    "SmoothL1Loss(beta=0)":
        (lambda dt, r, red: scratch.SmoothL1Loss(reduction=red, beta=0.0), "real"),
    "HuberLoss": (lambda dt, r, red: scratch.HuberLoss(reduction=red), "real"),
    "HuberLoss(delta=0.3)": (lambda dt, r, red: scratch.HuberLoss(red, delta=0.3), "real"),
    "BCELoss": (lambda dt, r, red: scratch.BCELoss(reduction=red), "probability"),
    "BCELoss(weight)": (lambda dt, r, red: scratch.BCELoss(
        r.uniform(0.5, 2, C).astype(dt), reduction=red), "probability"),
    "BCEWithLogitsLoss": (lambda dt, r, red: scratch.BCEWithLogitsLoss(reduction=red), "unit"),
    "BCEWithLogitsLoss(weight, pos_weight)": (lambda dt, r, red: scratch.BCEWithLogitsLoss(
        r.uniform(0.5, 2, C).astype(dt), reduction=red,
        pos_weight=r.uniform(0.5, 3, C).astype(dt)), "unit"),
    "CrossEntropyLoss probabilities": (
        lambda dt, r, red: scratch.CrossEntropyLoss(reduction=red), "classes"),
    "CrossEntropyLoss probabilities(weight, label_smoothing)": (
        lambda dt, r, red: scratch.CrossEntropyLoss(r.uniform(0.5, 2, C).astype(dt),
                                                    reduction=red, label_smoothing=0.2),
        "classes"),
    # issue 31: the input is log-probabilities, any real; the target probabilities in (0, 1)
    # (or, with log_target, any real)
    "KLDivLoss": (lambda dt, r, red: scratch.KLDivLoss(reduction=red), "unit"),
    "KLDivLoss(log_target, batchmean for mean)": (lambda dt, r, red: scratch.KLDivLoss(
        reduction="batchmean" if red == "mean" else red, log_target=True), "unit"),
}
# the class dim is 1 for the cross entropy; elementwise weights (C,) weigh the last dim
SHAPES = {"(N,C)": ((3, C), (3, C)), "(N,C,d)": ((2, C, 3), (2, 3, C)), "(C,)": ((C,), (C,))}


def _shape(kind: str, shape: str) -> tuple[int, ...]:
    classes, elementwise = SHAPES[shape]
    return classes if kind == "classes" else elementwise


def _draw(kind: str, shape, rng) -> tuple[np.ndarray, np.ndarray]:
    """(input, target) in float64, away from every kink (|x - t| not near 0, delta, beta)."""
    if kind == "real":
        target = rng.standard_normal(shape)
        offsets = rng.uniform(0.05, 0.2, shape) * rng.choice([-1, 1], shape)
        return target + np.where(rng.random(shape) < 0.5, offsets, 3 * offsets), target
    if kind == "probability":
        return rng.uniform(0.05, 0.95, shape), rng.uniform(0, 1, shape)
    if kind == "unit":
        return rng.standard_normal(shape) * 2, rng.uniform(0, 1, shape)
    q = rng.uniform(0.05, 1, shape)
    return rng.standard_normal(shape), q / q.sum(axis=0 if len(shape) == 1 else 1,
                                                keepdims=True)


CASES = list(itertools.product(LOSSES, REDUCTIONS, SHAPES))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name, reduction, shape", CASES,
                         ids=[f"{n}-{r}-{s}" for n, r, s in CASES])
def test_target_gradient_matches_torch(name, reduction, shape, dtype):
    rng = np.random.default_rng(40)
    build, kind = LOSSES[name]
    shape = _shape(kind, shape)
    x, target = _draw(kind, shape, rng)
    loss = build(dtype, rng, reduction)
    res = compare(loss, x.astype(dtype), target=target.astype(dtype), rng=rng,
                  target_grad=True)
    assert "target.grad" in res.pairs and res.pairs["target.grad"][0].shape == shape
    res.assert_close(TOLERANCES[np.dtype(dtype)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", list(LOSSES))
def test_target_gradient_against_finite_differences(name, reduction):
    rng = np.random.default_rng(41)
    build, kind = LOSSES[name]
    x, target = _draw(kind, _shape(kind, "(N,C,d)"), rng)
    loss = build(np.float64, rng, reduction)
    out = np.asarray(loss(x, target))
    grad = rng.standard_normal(out.shape) if out.ndim else rng.uniform(0.5, 2)
    dx, dt = loss.backward(grad, target_grad=True)

    def objective() -> float:
        return float(np.sum(np.asarray(loss(x, target)) * grad))

    numeric = central_difference(objective, target, 1e-6)
    assert scratch.max_rel_diff(dt, numeric) < 1e-6
    assert scratch.max_rel_diff(dx, central_difference(objective, x, 1e-6)) < 1e-6


def test_the_default_is_the_input_gradient_alone(rng):
    """target_grad=False (the default) keeps backward's contract: dL/dinput, one array."""
    x, t = rng.standard_normal((3, C)), rng.standard_normal((3, C))
    loss = scratch.MSELoss()
    loss(x, t)
    dx = loss.backward(2.0)
    assert isinstance(dx, np.ndarray)
    np.testing.assert_array_equal(dx, loss.backward(2.0, target_grad=True)[0])


def test_bce_target_gradient_is_torchs_at_zero_and_one(rng):
    """torch's target gradient is -w logit(x), of the unclamped loss: infinite at x = 0
    and 1, where the input's is kept finite."""
    p = np.array([0.0, 1.0, 0.3, 1e-30, 1 - 1e-12])
    y = np.array([0.2, 0.5, 0.7, 1.0, 0.4])
    for reduction in REDUCTIONS:
        res = compare(scratch.BCELoss(reduction=reduction), p, target=y, rng=rng,
                      target_grad=True)
        res.assert_close(TOLERANCES[np.dtype(np.float64)])
        assert np.isinf(res.pairs["target.grad"][0][:2]).all()


def test_bce_with_logits_target_gradient_far_out(rng):
    """Logits of +-50 and +-20: pos_weight softplus(-x) - softplus(x) without overflow."""
    x = np.array([-50.0, -20.0, 0.0, 20.0, 50.0], np.float32)
    y = np.array([0.2, 0.5, 0.7, 0.1, 0.4], np.float32)
    for pos_weight in (None, np.full(5, 2.0, np.float32)):
        res = compare(scratch.BCEWithLogitsLoss(reduction="sum", pos_weight=pos_weight), x,
                      target=y, rng=rng, target_grad=True)
        res.assert_close(TOLERANCES[np.dtype(np.float32)])


@pytest.mark.parametrize("loss, target", [
    (scratch.NLLLoss(), np.array([0, 2, 1])),
    (scratch.CrossEntropyLoss(), np.array([0, 2, 1])),
], ids=["NLLLoss", "CrossEntropyLoss class indices"])
def test_class_indices_have_no_target_gradient(loss, target, rng):
    loss(rng.standard_normal((3, C)), target)
    with pytest.raises(ValueError, match="class indices, integers, which have no gradient"):
        loss.backward(target_grad=True)
    assert loss.backward().shape == (3, C)  # the input's gradient is still there


def test_compare_refuses_target_grad_for_a_layer(rng):
    with pytest.raises(TypeError, match="target_grad is for a loss"):
        compare(scratch.ReLU(), rng.standard_normal(3), rng=rng, target_grad=True)
