"""Every loss argument against torch: each value alone and the combinations that interact.

CrossEntropyLoss over weight x ignore_index x label_smoothing x reduction, with
class indices and class probabilities, on (N, C), (N, C, d1, d2) and unbatched
(C,) inputs, batch 1 and empty batches; NLLLoss likewise; BCELoss and
BCEWithLogitsLoss with weight and broadcast pos_weight; L1, Huber (delta) and
SmoothL1 (beta, 0 included). Output and dL/dx through the parity helper in both
dtypes, finite differences in float64, and the arguments torch refuses.
"""

import itertools
import warnings

import numpy as np
import pytest

import scratch
from bench.compare import TOLERANCES, compare

DTYPES = [np.float64, np.float32]
REDUCTIONS = ["mean", "sum", "none"]
C = 4
SHAPES = {"(N,C)": (5, C), "(N,C,d1,d2)": (3, C, 2, 3), "(C,)": (C,), "batch 1": (1, C),
          "empty": (0, C)}


def _class_target(rng, shape, ignore_index):
    tshape = () if len(shape) == 1 else (shape[0], *shape[2:])
    t = rng.integers(0, C, size=tshape)
    if ignore_index >= 0 and t.size > 1:
        t.flat[::2] = ignore_index  # some ignored, some not
    return t


def _prob_target(rng, shape, dtype):
    q = rng.uniform(0.05, 1, shape)
    return (q / q.sum(axis=0 if len(shape) == 1 else 1, keepdims=True)).astype(dtype)


def assert_matches_torch(res, dtype):
    """Close within the dtype's tolerance; NaN exactly where torch has NaN (an empty mean)."""
    for name, (a, b) in res.pairs.items():
        assert a.shape == b.shape, name
        assert np.array_equal(np.isnan(a), np.isnan(b)), (name, a, b)
        res.pairs[name] = (np.nan_to_num(a), np.nan_to_num(b))
    res.assert_close(TOLERANCES[np.dtype(dtype)])


CE_GRID = list(itertools.product([False, True], [-100, 1], [0.0, 0.2], REDUCTIONS, SHAPES))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("weighted, ignore_index, smoothing, reduction, shape", CE_GRID,
                         ids=["-".join(map(str, c)) for c in CE_GRID])
def test_cross_entropy_class_indices(weighted, ignore_index, smoothing, reduction, shape, dtype,
                                     rng):
    x = rng.standard_normal(SHAPES[shape]).astype(dtype)
    weight = rng.uniform(0.5, 2, C).astype(dtype) if weighted else None
    loss = scratch.CrossEntropyLoss(weight, ignore_index=ignore_index, reduction=reduction,
                                    label_smoothing=smoothing)
    res = compare(loss, x, target=_class_target(rng, x.shape, ignore_index), rng=rng)
    assert_matches_torch(res, dtype)


PROB_GRID = list(itertools.product([False, True], [0.0, 0.2], REDUCTIONS, SHAPES))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("weighted, smoothing, reduction, shape", PROB_GRID,
                         ids=["-".join(map(str, c)) for c in PROB_GRID])
def test_cross_entropy_class_probabilities(weighted, smoothing, reduction, shape, dtype, rng):
    x = rng.standard_normal(SHAPES[shape]).astype(dtype)
    weight = rng.uniform(0.5, 2, C).astype(dtype) if weighted else None
    loss = scratch.CrossEntropyLoss(weight, reduction=reduction, label_smoothing=smoothing,
                                    ignore_index=-3)  # negative: allowed with probabilities
    res = compare(loss, x, target=_prob_target(rng, x.shape, dtype), rng=rng)
    assert_matches_torch(res, dtype)


NLL_GRID = list(itertools.product([False, True], [-100, 2], REDUCTIONS, SHAPES))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("weighted, ignore_index, reduction, shape", NLL_GRID,
                         ids=["-".join(map(str, c)) for c in NLL_GRID])
def test_nll_loss(weighted, ignore_index, reduction, shape, dtype, rng):
    x = scratch.functional.log_softmax(rng.standard_normal(SHAPES[shape]),
                                       0 if shape == "(C,)" else 1).astype(dtype)
    weight = rng.uniform(0.5, 2, C).astype(dtype) if weighted else None
    loss = scratch.NLLLoss(weight, ignore_index=ignore_index, reduction=reduction)
    res = compare(loss, x, target=_class_target(rng, x.shape, ignore_index), rng=rng)
    assert_matches_torch(res, dtype)


def test_every_target_ignored_gives_nan_mean_as_torch(rng):
    x = rng.standard_normal((3, C))
    for loss in (scratch.CrossEntropyLoss(ignore_index=1, label_smoothing=0.1),
                 scratch.NLLLoss(np.ones(C), ignore_index=1)):
        res = compare(loss, x, target=np.ones(3, np.int64), rng=rng)
        assert np.isnan(res.pairs["output"][0]) and np.isnan(res.pairs["output"][1])


# name -> (build(dtype, rng), input transform); shapes (6, 3) and (2, 3, 4) both run
BINARY = {
    "BCELoss": lambda dt, r: scratch.BCELoss(),
    "BCELoss(weight (3,))": lambda dt, r: scratch.BCELoss(r.uniform(0.5, 2, 3).astype(dt)),
    "BCEWithLogitsLoss(weight (3,))":
        lambda dt, r: scratch.BCEWithLogitsLoss(r.uniform(0.5, 2, 3).astype(dt)),
    "BCEWithLogitsLoss(pos_weight (3,))":
        lambda dt, r: scratch.BCEWithLogitsLoss(pos_weight=r.uniform(0.5, 3, 3).astype(dt)),
    "BCEWithLogitsLoss(pos_weight (1,1), weight (1,3))":
        lambda dt, r: scratch.BCEWithLogitsLoss(r.uniform(0.5, 2, (1, 3)).astype(dt),
                                                pos_weight=r.uniform(0.5, 3, (1, 1)).astype(dt)),
}
ELEMENTWISE = {
    "L1Loss": lambda dt, r: scratch.L1Loss(),
    "HuberLoss": lambda dt, r: scratch.HuberLoss(),
    "HuberLoss(delta=0.3)": lambda dt, r: scratch.HuberLoss(delta=0.3),
    "SmoothL1Loss": lambda dt, r: scratch.SmoothL1Loss(),
    "SmoothL1Loss(beta=0.4)": lambda dt, r: scratch.SmoothL1Loss(beta=0.4),
    "SmoothL1Loss(beta=0)": lambda dt, r: scratch.SmoothL1Loss(beta=0.0),
    "MSELoss": lambda dt, r: scratch.MSELoss(),
}


def _with_reduction(build, reduction, dt, r):
    m = build(dt, r)
    m.reduction = reduction
    args, kwargs = m.init_args  # the twin is built from these
    object.__setattr__(m, "init_args", (args, {**kwargs, "reduction": reduction}))
    return m


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(6, 3), (2, 4, 3), (0, 3)], ids=str)
@pytest.mark.parametrize("name", list(BINARY) + list(ELEMENTWISE))
def test_binary_and_elementwise_losses(name, shape, reduction, dtype, rng):
    build = {**BINARY, **ELEMENTWISE}[name]
    loss = _with_reduction(build, reduction, dtype, rng)
    x = rng.standard_normal(shape)
    if name.startswith("BCELoss"):
        x = 1 / (1 + np.exp(-x))
        target = rng.uniform(0, 1, shape)
    elif name.startswith("BCE"):
        target = rng.uniform(0, 1, shape)
    else:
        target = x + rng.standard_normal(shape) * 0.6  # both sides of delta / beta
    res = compare(loss, x.astype(dtype), target=target.astype(dtype), rng=rng)
    assert_matches_torch(res, dtype)


def test_seams_and_clamps_follow_torch(rng):
    """Ties exactly at delta / beta / 0, BCE at x = 0 and 1 (the -100 clamp) and hard labels."""
    x = np.array([0.0, 1.0, -1.0, 0.5, -0.5, 2.0])
    t = np.zeros(6)
    for loss in (scratch.HuberLoss("sum", 0.5), scratch.SmoothL1Loss(reduction="sum", beta=0.5),
                 scratch.SmoothL1Loss(reduction="sum", beta=0.0), scratch.L1Loss(reduction="sum"),
                 scratch.HuberLoss("sum", 1.0)):
        assert_matches_torch(compare(loss, x, target=t, rng=rng), np.float64)
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.3, 1e-30])
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.5, 1.0])
    res = compare(scratch.BCELoss(reduction="none"), p, target=y, rng=rng)
    assert res.pairs["output"][0][:2].tolist() == [100.0, 100.0]
    assert_matches_torch(res, np.float64)


GRADCHECK = [
    ("CrossEntropyLoss(weight, ignore_index, smoothing)", lambda: scratch.CrossEntropyLoss(
        np.array([0.5, 1.0, 2.0, 1.5]), ignore_index=1, label_smoothing=0.2), "class"),
    ("CrossEntropyLoss(weight, smoothing, sum) probabilities", lambda: scratch.CrossEntropyLoss(
        np.array([0.5, 1.0, 2.0, 1.5]), reduction="sum", label_smoothing=0.3), "prob"),
    ("NLLLoss(weight, ignore_index, none)", lambda: scratch.NLLLoss(
        np.array([0.5, 1.0, 2.0, 1.5]), ignore_index=1, reduction="none"), "class"),
    ("BCELoss(weight)", lambda: scratch.BCELoss(np.array([0.5, 2.0, 1.0, 1.5])), "unit"),
    ("BCEWithLogitsLoss(weight, pos_weight)", lambda: scratch.BCEWithLogitsLoss(
        np.array([0.5, 2.0, 1.0, 1.5]), pos_weight=np.array([[3.0], [0.5], [1.0]])), "unit"),
    ("L1Loss", lambda: scratch.L1Loss(), "real"),
    ("HuberLoss(delta=0.5)", lambda: scratch.HuberLoss(delta=0.5), "real"),
    ("SmoothL1Loss(beta=0.5)", lambda: scratch.SmoothL1Loss(beta=0.5), "real"),
    ("SmoothL1Loss(beta=0)", lambda: scratch.SmoothL1Loss(beta=0.0), "real"),
]


@pytest.mark.parametrize("build, kind", [(b, k) for _, b, k in GRADCHECK],
                         ids=[n for n, _, _ in GRADCHECK])
@pytest.mark.parametrize("shape", [(3, C), (2, C, 3)], ids=str)
def test_finite_differences(build, kind, shape, rng):
    if kind not in ("class", "prob"):
        shape = (*shape[:1], *shape[2:], C)  # elementwise weights (4,) weigh the last dim
    x = rng.standard_normal(shape)
    if kind == "class":
        target = _class_target(rng, shape, 1)
    elif kind == "prob":
        target = _prob_target(rng, shape, np.float64)
    elif kind == "unit":
        target = rng.uniform(0, 1, shape)
        if isinstance(build(), scratch.BCELoss):
            x = rng.uniform(0.1, 0.9, shape)
    else:  # away from the kinks at 0 and +-delta, where the derivative jumps
        offsets = rng.uniform(0.05, 0.2, shape) * rng.choice([-1, 1], shape)
        x = np.where(rng.random(shape) < 0.5, offsets, 3 * offsets + np.sign(offsets))
        target = np.zeros(shape)
    loss = build()
    scratch.gradcheck(loss, x, target=target, rng=rng, tol=1e-6)


def test_unbatched_gradcheck(rng):
    for target in (np.array(2), _prob_target(rng, (C,), np.float64)):
        loss = scratch.CrossEntropyLoss(np.array([0.5, 1.0, 2.0, 1.5]), label_smoothing=0.1)
        scratch.gradcheck(loss, rng.standard_normal(C), target=target, rng=rng)


def test_legacy_size_average_and_reduce_follow_torch():
    import torch

    values = [None, True, False, 0, 1]
    for size_average, reduce in itertools.product(values, values):
        if size_average is None and reduce is None:
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            mine = scratch.NLLLoss(size_average=size_average, reduce=reduce).reduction
            theirs = torch.nn.NLLLoss(size_average=size_average, reduce=reduce).reduction
        assert mine == theirs, (size_average, reduce)
        assert len(caught) == 2 and "deprecated" in str(caught[0].message)
    with pytest.warns(UserWarning, match="elementwise_mean"):
        assert scratch.L1Loss(reduction="elementwise_mean").reduction == "mean"


@pytest.mark.parametrize("call, error, message", [
    (lambda: scratch.CrossEntropyLoss(label_smoothing=1.5), ValueError,
     r"label_smoothing must be between 0.0 and 1.0, got 1.5"),
    (lambda: scratch.CrossEntropyLoss(np.ones((2, 2))), ValueError,
     r"weight must be 1-D, one value per class \(C,\), got shape \(2, 2\)"),
    (lambda: scratch.CrossEntropyLoss(np.ones(3))(np.zeros((2, 4)), np.zeros(2, np.int64)),
     ValueError, r"weight should be defined for all 4 classes, shape \(4,\), or be None; "
     r"got weight of shape \(3,\)"),
    (lambda: scratch.CrossEntropyLoss(ignore_index=0)(np.zeros((2, 3)), np.full((2, 3), 1 / 3)),
     ValueError, r"ignore_index=0 is not supported for class-probability"),
    (lambda: scratch.CrossEntropyLoss(ignore_index=1.5), TypeError,
     r"ignore_index must be an int, got 1.5"),
    (lambda: scratch.CrossEntropyLoss()(np.zeros((2, 3, 5)), np.zeros((2, 4), np.int64)),
     ValueError, r"class-index targets of shape \(2, 5\) for input of shape \(2, 3, 5\), "
     r"got \(2, 4\)"),
    (lambda: scratch.CrossEntropyLoss()(np.zeros(3), np.zeros(1, np.int64)), ValueError,
     r"class-index targets of shape \(\) for input of shape \(3,\), got \(1,\)"),
    (lambda: scratch.HuberLoss(delta=0), ValueError, r"HuberLoss: delta must be positive, got 0"),
    (lambda: scratch.SmoothL1Loss(beta=-1), ValueError, r"beta must be >= 0, got -1"),
    (lambda: scratch.BCELoss()(np.array([1.5]), np.array([1.0])), ValueError,
     r"all elements of input should be between 0 and 1, got values in \[1.5, 1.5\]"),
    (lambda: scratch.BCELoss()(np.array([0.5]), np.array([-1.0])), ValueError,
     r"all elements of target should be between 0 and 1"),
    (lambda: scratch.BCELoss(np.ones((2, 3)))(np.full(3, 0.5), np.ones(3)), ValueError,
     r"BCELoss: weight of shape \(2, 3\) does not broadcast to the input's shape \(3,\)"),
    (lambda: scratch.BCEWithLogitsLoss(pos_weight=np.ones(2))(np.zeros((4, 3)), np.ones((4, 3))),
     ValueError, r"pos_weight of shape \(2,\) does not broadcast to the input's shape \(4, 3\)"),
    (lambda: scratch.BCEWithLogitsLoss(np.array(["a"])), TypeError,
     r"weight must be a numeric array, got dtype <U1"),
    (lambda: scratch.L1Loss()(np.zeros(3), np.zeros(4)), ValueError,
     r"L1Loss expects target of the input's shape \(3,\), got \(4,\)"),
    (lambda: scratch.HuberLoss(reduction="avg"), ValueError, r"reduction must be one of"),
])
def test_refused_arguments_and_shapes(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_reduction_none_backward_checks_the_grad_shape(rng):
    loss = scratch.CrossEntropyLoss(reduction="none")
    loss(rng.standard_normal((2, C, 3)), np.zeros((2, 3), np.int64))
    with pytest.raises(ValueError, match=r"grad of shape \(2, 3\), got \(2,\)"):
        loss.backward(np.ones(2))
