"""Layer, group and instance normalisation: each sample normalised over its trailing
dimensions, over groups of its channels, or each of its channels alone.

    mu, var = mean and biased variance of x over the last k dims
    xhat = (x - mu) / sqrt(var + eps),   y = xhat * weight + bias

Backward, with M entries per normalised group and dxhat = dy * weight:

    dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / sqrt(var + eps)
    dweight = sum over the leading dims of dy * xhat,   dbias = sum of dy

Group normalisation is layer normalisation of x (N, G, C/G * L) followed by a
per-channel affine; instance normalisation is batch normalisation of x (1, N * C, L),
each (sample, channel) a channel of its own (`batch_norm_forward`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from scratch.functional.batchnorm import (
    BatchNormCache,
    BatchNormGrads,
    batch_norm_backward,
    batch_norm_forward,
)


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


def _mean(a: np.ndarray, ndim: int) -> np.ndarray:
    """The mean of a over its last ndim dims, kept as size-1 dims: a BLAS matrix-vector
    product with a vector of 1/M (numpy's float32 mean is 3x slower at a GroupNorm's
    (128, 4, 3136); speed suite: groupnorm-4-16)."""
    rows = np.ascontiguousarray(a).reshape(-1, math.prod(a.shape[a.ndim - ndim:]))
    m = rows @ np.full(rows.shape[1], 1 / rows.shape[1], a.dtype)  # (R,)
    return m.reshape(a.shape[:a.ndim - ndim] + (1,) * ndim)


def layer_norm_forward(x: np.ndarray, ndim: int, weight: np.ndarray | None,
                       bias: np.ndarray | None, eps: float
                       ) -> tuple[np.ndarray, LayerNormCache]:
    """y for x (*, *normalized_shape) normalised over its last `ndim` dims, and the cache."""
    axes = tuple(range(x.ndim - ndim, x.ndim))
    mu = _mean(x, ndim)  # (*, 1...)
    xc = x - mu
    var = _mean(xc * xc, ndim)
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
        dx = inv * (dxhat - _mean(dxhat, len(axes)) - xhat * _mean(dxhat * xhat, len(axes)))
    return LayerNormGrads(dx, dweight, dbias)


class GroupNormGrads(NamedTuple):
    """The gradients of `group_norm_forward`; None where not asked for or without that
    parameter."""

    input: np.ndarray | None  # (N, C, L)
    weight: np.ndarray | None  # (C,)
    bias: np.ndarray | None  # (C,)


def group_norm_forward(x: np.ndarray, groups: int, weight: np.ndarray | None,
                       bias: np.ndarray | None, eps: float
                       ) -> tuple[np.ndarray, LayerNormCache]:
    """y for x (N, C, L): each sample's channels split into `groups` consecutive groups of
    C / groups, each group normalised over its C / groups * L values,

        xhat = (x - mean_group) / sqrt(var_group + eps)   (var biased),
        y[n, c] = xhat[n, c] * weight[c] + bias[c]        (weight, bias (C,) or None),

    and the cache: `layer_norm_forward`'s of x viewed as (N, G, C/G * L), without affine.
    """
    n, c, length = x.shape
    xhat, cache = layer_norm_forward(x.reshape(n, groups, -1), 1, None, None, eps)
    y = xhat.reshape(n, c, length)  # (N, C, L)
    if weight is not None:
        y = y * weight[:, None]
    if bias is not None:
        y = y + bias[:, None]
    return y, cache


def group_norm_backward(grad_out: np.ndarray, cache: LayerNormCache,
                        weight: np.ndarray | None, *, bias_grad: bool = True,
                        input_grad: bool = True) -> GroupNormGrads:
    """`GroupNormGrads` (input, weight, bias) of group_norm_forward from its cache: with
    g = dL/dy (N, C, L) and dxhat = g * weight[c],

        dweight[c] = sum over n, l of g * xhat,   dbias[c] = sum over n, l of g,
        dx = layer_norm_backward of dxhat over each group (N, G, C/G * L).

    The weight's gradient is None without a weight, the bias's None unless bias_grad.
    """
    n, c, length = grad_out.shape
    xhat = cache.xhat.reshape(n, c, length)
    dweight = None if weight is None else np.einsum("ncl,ncl->c", grad_out, xhat)  # (C,)
    dbias = grad_out.sum(axis=(0, 2)) if bias_grad else None  # (C,)
    dx = None
    if input_grad:
        dxhat = grad_out if weight is None else grad_out * weight[:, None]  # (N, C, L)
        dx = layer_norm_backward(dxhat.reshape(cache.xhat.shape), cache, bias_grad=False
                                 ).input.reshape(n, c, length)
    return GroupNormGrads(dx, dweight, dbias)


def _per_instance(v: np.ndarray | None, n: int) -> np.ndarray | None:
    """A per-channel (C,) array repeated for each of n samples: (N * C,)."""
    return None if v is None else np.tile(v, n)


def instance_norm_forward(x: np.ndarray, weight: np.ndarray | None, bias: np.ndarray | None,
                          eps: float, running: tuple[np.ndarray, np.ndarray] | None = None
                          ) -> tuple[np.ndarray, BatchNormCache]:
    """y for x (N, C, L): each (sample, channel) normalised over its own L values (biased
    variance), or with running=(mean, var) (C,) by those; then scaled by weight and shifted
    by bias (each (C,) or None):

        y[n, c] = (x[n, c] - mean[n, c]) / sqrt(var[n, c] + eps) * weight[c] + bias[c]

    Returns y and the cache of `batch_norm_forward` over x viewed as (1, N * C, L); its
    mean and var, (N * C,), are each instance's.
    """
    n, c, length = x.shape
    run = None if running is None else tuple(_per_instance(r, n) for r in running)
    y, cache = batch_norm_forward(x.reshape(1, n * c, length), _per_instance(weight, n),
                                  _per_instance(bias, n), eps, run)  # y (1, N*C, L)
    return y.reshape(n, c, length), cache


def instance_norm_backward(grad_out: np.ndarray, cache: BatchNormCache,
                           weight: np.ndarray | None, *, batch_stats: bool = True,
                           input_grad: bool = True) -> BatchNormGrads:
    """`BatchNormGrads` (input (N, C, L), weight (C,), bias (C,)) of instance_norm_forward:
    batch norm's over (1, N * C, L), the parameter gradients summed over the samples,

        dweight[c] = sum over n, l of g * xhat,   dbias[c] = sum over n, l of g.

    batch_stats: whether forward used each instance's own statistics.
    """
    n, c, length = grad_out.shape
    grads = batch_norm_backward(grad_out.reshape(1, n * c, length), cache,
                                _per_instance(weight, n), batch_stats=batch_stats,
                                input_grad=input_grad)
    dx = None if grads.input is None else grads.input.reshape(n, c, length)
    return BatchNormGrads(dx, grads.weight.reshape(n, c).sum(axis=0),
                          grads.bias.reshape(n, c).sum(axis=0))
