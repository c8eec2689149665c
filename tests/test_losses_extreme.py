"""Losses at extreme logits (+-1e4, ties, confident one-hot) stay finite and match torch."""

import numpy as np
import pytest

import scratch
from bench.compare import TOLERANCES, compare

DTYPES = [np.float32, np.float64]


def _extreme_logits(dtype):
    return np.array([
        [1e4, -1e4, 0.0, 5.0],      # one huge winner
        [-1e4, -1e4, -1e4, -1e4],   # all tied, hugely negative
        [1e4, 1e4, -1e4, 0.0],      # tie at the top
        [0.0, 0.0, 0.0, 0.0],       # uniform
        [30.0, -30.0, -30.0, -30.0],  # confident and correct
        [-1e4, 1e4, 3.0, -2.0],     # confident and wrong
    ], dtype=dtype)


TARGETS = np.array([0, 2, 1, 3, 0, 0])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("loss", [
    scratch.CrossEntropyLoss(),
    scratch.CrossEntropyLoss(reduction="none"),
    scratch.CrossEntropyLoss(reduction="sum", label_smoothing=0.2),
], ids=repr)
def test_cross_entropy_extreme_logits(loss, dtype, rng):
    x = _extreme_logits(dtype)
    res = compare(loss, x, target=TARGETS, rng=rng)
    for a, _ in res.pairs.values():
        assert np.all(np.isfinite(a))
    res.assert_close(TOLERANCES[np.dtype(dtype)])


def test_confident_wrong_prediction_costs_the_logit_gap():
    # log-sum-exp: loss = 1e4 - (-1e4) = 2e4 exactly, where a naive softmax gives inf or nan.
    x = np.array([[-1e4, 1e4]])
    assert scratch.CrossEntropyLoss()(x, np.array([0])) == pytest.approx(2e4, rel=1e-15)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_extreme(reduction, dtype, rng):
    x = np.array([[1e4, -1e4, 0.0], [50.0, -50.0, 1e-3]], dtype=dtype)
    t = np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 1.0]], dtype=dtype)
    res = compare(scratch.BCEWithLogitsLoss(reduction=reduction), x, target=t, rng=rng)
    for a, _ in res.pairs.values():
        assert np.all(np.isfinite(a))
    res.assert_close(TOLERANCES[np.dtype(dtype)])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_softmax_and_sigmoid_at_extremes(dtype, rng):
    x = _extreme_logits(dtype)
    for module in (scratch.Softmax(dim=1), scratch.Sigmoid(), scratch.Tanh()):
        res = compare(module, x, rng=rng)
        for a, _ in res.pairs.values():
            assert np.all(np.isfinite(a)), module
        res.assert_close(TOLERANCES[np.dtype(dtype)])
