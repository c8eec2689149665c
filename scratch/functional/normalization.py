"""Layer normalisation: each sample normalised over its trailing dimensions.

    mu, var = mean and biased variance of x over the last k dims
    xhat = (x - mu) / sqrt(var + eps),   y = xhat * weight + bias

Backward, with M entries per normalised group and dxhat = dy * weight:

    dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / sqrt(var + eps)
    dweight = sum over the leading dims of dy * xhat,   dbias = sum of dy
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class LayerNormCache(NamedTuple):
    """What `layer_norm_backward` needs from `layer_norm_forward`."""

    xhat: np.ndarray  # (x - mu) / sqrt(var + eps), (*, *normalized_shape)
    inv_std: np.ndarray  # 1 / sqrt(var + eps), (*, 1...)
    axes: tuple[int, ...]  # the normalised dims
    weight: np.ndarray | None  # normalized_shape, or None


class LayerNormGrads(NamedTuple):
    """The gradients of `layer_norm_forward`; None where not asked for or without that
    parameter."""

    input: np.ndarray | None  # (*, *normalized_shape)
    weight: np.ndarray | None  # normalized_shape
    bias: np.ndarray | None  # normalized_shape


def layer_norm_forward(x: np.ndarray, ndim: int, weight: np.ndarray | None,
                       bias: np.ndarray | None, eps: float
                       ) -> tuple[np.ndarray, LayerNormCache]:
    """y for x (*, *normalized_shape) normalised over its last `ndim` dims, and the cache."""
    axes = tuple(range(x.ndim - ndim, x.ndim))
    mu = x.mean(axis=axes, keepdims=True)  # (*, 1...)
    xc = x - mu
    var = (xc * xc).mean(axis=axes, keepdims=True)
    inv = 1 / np.sqrt(var + x.dtype.type(eps))  # (*, 1...)
    xhat = xc * inv  # (*, *normalized_shape)
    y = xhat if weight is None else xhat * weight
    if bias is not None:
        y = y + bias
    return y, LayerNormCache(xhat, inv, axes, weight)


def layer_norm_backward(grad_out: np.ndarray, cache: LayerNormCache, *, bias_grad: bool = True,
                        input_grad: bool = True) -> LayerNormGrads:
    """`LayerNormGrads` (input, weight, bias) from `layer_norm_forward`'s cache; the
    weight's is None without a weight, the bias's None unless bias_grad."""
    xhat, inv, axes, weight = cache
    lead = tuple(range(grad_out.ndim - len(axes)))
    dweight = None if weight is None else (grad_out * xhat).sum(axis=lead)
    dbias = grad_out.sum(axis=lead) if bias_grad else None
    dx = None
    if input_grad:
        dxhat = grad_out if weight is None else grad_out * weight
        dx = inv * (dxhat - dxhat.mean(axis=axes, keepdims=True)
                    - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True))
    return LayerNormGrads(dx, dweight, dbias)
