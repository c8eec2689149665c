"""Layer normalisation: each sample normalised over its trailing dimensions.

    mu, var = mean and biased variance of x over the last k dims
    xhat = (x - mu) / sqrt(var + eps),   y = xhat * weight + bias

Backward, with M entries per normalised group and dxhat = dy * weight:

    dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / sqrt(var + eps)
    dweight = sum over the leading dims of dy * xhat,   dbias = sum of dy
"""

from __future__ import annotations

import numpy as np


def layer_norm_forward(x: np.ndarray, ndim: int, weight: np.ndarray | None,
                       bias: np.ndarray | None, eps: float):
    """y for x (*, *normalized_shape) normalised over its last `ndim` dims; (y, cache)."""
    axes = tuple(range(x.ndim - ndim, x.ndim))
    mu = x.mean(axis=axes, keepdims=True)  # (*, 1...)
    xc = x - mu
    var = (xc * xc).mean(axis=axes, keepdims=True)
    inv = 1 / np.sqrt(var + x.dtype.type(eps))  # (*, 1...)
    xhat = xc * inv  # (*, *normalized_shape)
    y = xhat if weight is None else xhat * weight
    if bias is not None:
        y = y + bias
    return y, (xhat, inv, axes, weight)


def layer_norm_backward(grad_out: np.ndarray, cache, *, input_grad: bool = True):
    """(dx or None, dweight or None, dbias or None) for `layer_norm_forward`'s cache."""
    xhat, inv, axes, weight = cache
    lead = tuple(range(grad_out.ndim - len(axes)))
    dweight = None if weight is None else (grad_out * xhat).sum(axis=lead)
    dbias = grad_out.sum(axis=lead)
    dx = None
    if input_grad:
        dxhat = grad_out if weight is None else grad_out * weight
        dx = inv * (dxhat - dxhat.mean(axis=axes, keepdims=True)
                    - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True))
    return dx, dweight, dbias
