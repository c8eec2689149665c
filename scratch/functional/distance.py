"""Cosine similarity along a dim, and its gradient with respect to both inputs.

torch's definition (ATen's cosine_similarity): each input is divided by its own norm,
clamped below at eps, and the products are summed, which keeps the result within
[-1, 1]:
    y = sum_d (x1 / n1) (x2 / n2),  n_i = max(||x_i||, eps) along dim.
The inputs broadcast against each other; each gradient is summed back to its input's shape.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class CosineSimilarityCache(NamedTuple):
    """What `cosine_similarity_backward` needs from `cosine_similarity_forward`."""

    x1: np.ndarray  # the first input, broadcast to the common shape (*)
    x2: np.ndarray  # the second input, broadcast likewise
    norm1: np.ndarray  # ||x1|| along dim, keepdims (*, 1, *)
    norm2: np.ndarray
    clamped1: np.ndarray  # max(||x1||, eps), keepdims
    clamped2: np.ndarray
    y: np.ndarray  # the output, keepdims
    dim: int
    shape1: tuple[int, ...]  # each input's own shape, for the gradients
    shape2: tuple[int, ...]


class CosineSimilarityGrads(NamedTuple):
    x1: np.ndarray
    x2: np.ndarray


def sum_to_shape(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The adjoint of broadcasting an array of `shape` to g's shape: g summed over the
    dims broadcasting added or stretched."""
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                      if n == 1 and g.shape[lead + i] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape) if axes else g


def cosine_similarity_forward(x1: np.ndarray, x2: np.ndarray, dim: int, eps: float
                              ) -> tuple[np.ndarray, CosineSimilarityCache]:
    """y = sum_d (x1 / max(||x1||, eps)) (x2 / max(||x2||, eps)) along dim, the inputs
    broadcast together; dim is already checked against the common shape."""
    a, b = np.broadcast_arrays(x1, x2)
    n1 = np.sqrt((a * a).sum(axis=dim, keepdims=True))  # (*, 1, *)
    n2 = np.sqrt((b * b).sum(axis=dim, keepdims=True))
    c1, c2 = np.maximum(n1, a.dtype.type(eps)), np.maximum(n2, a.dtype.type(eps))
    y = ((a / c1) * (b / c2)).sum(axis=dim, keepdims=True)  # (*, 1, *)
    return y.squeeze(dim), CosineSimilarityCache(a, b, n1, n2, c1, c2, y, dim, x1.shape,
                                                 x2.shape)


def cosine_similarity_backward(grad_out: np.ndarray, cache: CosineSimilarityCache
                               ) -> CosineSimilarityGrads:
    """dL/dx1 = g (x2 / (n1 n2) - y x1 / (n1 ||x1||)), n_i the clamped norms, and the same
    with 1 and 2 swapped; the norm's derivative x / ||x|| is taken as torch's, through the
    unclamped norm (the clamp runs outside autograd) and 0 where ||x|| = 0."""
    a, b, n1, n2, c1, c2, y, dim, shape1, shape2 = cache
    g = np.expand_dims(grad_out, dim)  # (*, 1, *)

    def grad(own, other, norm, clamped, other_clamped, shape):
        unit = own / np.where(norm == 0, 1, norm)  # x / ||x||, 0 where x = 0
        return sum_to_shape(g * (other / (clamped * other_clamped) - y * unit / clamped), shape)

    return CosineSimilarityGrads(grad(a, b, n1, c1, c2, shape1), grad(b, a, n2, c2, c1, shape2))
