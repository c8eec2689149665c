"""Activation functions shared by more than one module: the stable sigmoid and log-softmax."""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without overflow: exp only ever sees -|x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """x - logsumexp(x) along `axis`: exact for any finite logits, however large.

    The max is subtracted first, so exp never sees a positive number.
    """
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def log_softmax_backward(grad_out: np.ndarray, out: np.ndarray, axis: int = -1) -> np.ndarray:
    """dL/dx of y = log_softmax(x): g - softmax(x) * sum(g) along `axis`, softmax = exp(y)."""
    return grad_out - np.exp(out) * grad_out.sum(axis=axis, keepdims=True)
