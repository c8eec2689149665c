"""Batch normalisation over (N, C, L) arrays: per-channel statistics as BLAS products.

Every per-channel reduction over (N, L) is a matrix-vector product or an
einsum contraction rather than a `.sum(axis=(0, 2))` over two strided axes.
Forward centres the input once and keeps the centred array for backward;
backward uses the closed form
    dx = (weight / sigma) * (g - mean(g) - xhat * mean(g * xhat)),
whose two per-channel sums are also dL/dbias and dL/dweight. The per-element passes
(forward's scale and shift, backward's three terms) run in cache-sized blocks of
samples on scratch's threads (`parallel.sample_blocks`; speed suite: batchnorm2d-16).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scratch import parallel


def channel_sum(a: np.ndarray) -> np.ndarray:
    """Sum of a (N, C, L) over N and L, per channel, as a BLAS matrix-vector product."""
    return (a @ np.ones(a.shape[2], a.dtype)).sum(axis=0)  # (C,)


class BatchNormCache(NamedTuple):
    """What `batch_norm_forward` computed besides y: `batch_norm_backward` takes xc and
    inv_std, the caller updates running statistics from mean and var."""

    xc: np.ndarray  # x - mean (N, C, L)
    inv_std: np.ndarray  # 1 / sqrt(var + eps) (C,)
    mean: np.ndarray  # the mean used (C,)
    var: np.ndarray  # the (biased, for batch statistics) variance used (C,)


class BatchNormGrads(NamedTuple):
    """The gradients of `batch_norm_forward`; input None where not asked for."""

    input: np.ndarray | None  # (N, C, L)
    weight: np.ndarray  # sum(g * xhat) (C,), computed with or without an affine weight
    bias: np.ndarray  # sum(g) (C,)


def batch_norm_forward(x: np.ndarray, weight: np.ndarray | None, bias: np.ndarray | None,
                       eps: float, running: tuple[np.ndarray, np.ndarray] | None = None
                       ) -> tuple[np.ndarray, BatchNormCache]:
    """Normalise x (N, C, L) per channel; scale by weight and shift by bias (each (C,) or None).

    With running=None the batch's mean and biased variance are used, else the given
    (mean, var), e.g. the running statistics in eval mode.

    Returns:
        y (N, C, L) and a `BatchNormCache`.
    """
    n = x.shape[0] * x.shape[2]  # values per channel
    mean = channel_sum(x) / n if running is None else running[0]  # (C,)
    xc = x - mean[:, None]  # (N, C, L)
    var = np.einsum("ncl,ncl->c", xc, xc) / n if running is None else running[1]  # (C,)
    inv_std = 1 / np.sqrt(var + x.dtype.type(eps))  # (C,)
    # y = xhat * weight + bias as one scale and one shift: two passes over the data
    scale = inv_std * weight if weight is not None else inv_std  # (C,)
    y = _scale_shift(xc, scale, None if bias is None else -bias)  # (N, C, L)
    return y, BatchNormCache(xc, inv_std, mean, var)


def _scale_shift(u: np.ndarray, a: np.ndarray, c: np.ndarray | None,
                 v: np.ndarray | None = None, b: np.ndarray | None = None) -> np.ndarray:
    """u a - v b - c per channel ((C,) each; v b and c optional) for (N, C, L) arrays,
    block by block of samples on scratch's threads, each block's passes in cache."""
    out = np.empty(u.shape, np.result_type(u, a))  # (N, C, L)
    blocks = parallel.sample_blocks(len(u), u[0].size)
    a, c = a[:, None], None if c is None else c[:, None]
    b = None if b is None else b[:, None]

    def run(r: slice) -> None:  # the blocks r, one thread's
        for s in blocks[r]:
            o = np.multiply(u[s], a, out=out[s])
            if v is not None:
                o -= v[s] * b
            if c is not None:
                o -= c

    parallel.map_batches(run, len(blocks), (3 if v is None else 4) * out.nbytes)
    return out


def batch_norm_backward(grad_out: np.ndarray, cache: BatchNormCache,
                        weight: np.ndarray | None, *, batch_stats: bool = True,
                        input_grad: bool = True) -> BatchNormGrads:
    """`BatchNormGrads` (input, weight, bias) of batch_norm_forward, from its cache.

    Args:
        grad_out: (N, C, L); weight: (C,) or None (no affine scale).
        batch_stats: whether forward normalised with the batch's statistics (then the
            mean and variance depend on x, and dx has the two correction terms).
        input_grad: if False, dx is None.
    Returns:
        dx (N, C, L) or None, dweight = sum(g * xhat) (C,), dbias = sum(g) (C,).
    """
    xc, inv_std = cache.xc, cache.inv_std
    n = xc.shape[0] * xc.shape[2]  # values per channel
    sum_g = channel_sum(grad_out)  # (C,)
    sum_g_xhat = np.einsum("ncl,ncl->c", grad_out, xc) * inv_std  # (C,)
    if not input_grad:
        return BatchNormGrads(None, sum_g_xhat, sum_g)
    a = inv_std * weight if weight is not None else inv_std  # (C,) dy/dxhat / sigma
    if batch_stats:  # dx = a * (g - mean(g) - xhat * mean(g * xhat))
        dx = _scale_shift(grad_out, a, a * sum_g / n, xc, a * inv_std * sum_g_xhat / n)
    else:
        dx = _scale_shift(grad_out, a, None)  # (N, C, L)
    return BatchNormGrads(dx, sum_g_xhat, sum_g)
