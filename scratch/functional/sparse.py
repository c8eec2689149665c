"""Embedding lookup, its gradient, and torch's in-place max-norm renormalisation.

    y[...] = weight[idx[...]]                                   (*, D)
    dweight[i] = sum over positions p with idx[p] == i of dy[p]   (rows never looked up: 0)

With scale_grad_by_freq each position's gradient is divided by how often its
index occurs in the batch; the padding_idx row gets no gradient.
"""

from __future__ import annotations

import numpy as np


def embedding_renorm_(weight: np.ndarray, idx: np.ndarray, max_norm: float,
                      norm_type: float) -> None:
    """Rescale, in place, every row of `weight` that `idx` looks up and whose `norm_type`
    norm exceeds max_norm, to norm max_norm / (norm + 1e-7) * norm, as torch's
    embedding_renorm_ (which is not differentiated: the lookup sees the new rows)."""
    rows = np.unique(idx)
    norms = np.linalg.norm(weight[rows].astype(np.float64), ord=norm_type, axis=1)  # (R,)
    over = norms > max_norm
    scale = (max_norm / (norms[over] + 1e-7)).astype(weight.dtype)
    weight[rows[over]] *= scale[:, None]


def embedding_forward(weight: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return weight[idx]  # (*, D)


def embedding_backward(grad_out: np.ndarray, idx: np.ndarray, num_embeddings: int,
                       padding_idx: int | None, scale_grad_by_freq: bool) -> np.ndarray:
    """dL/dweight (num_embeddings, D) from dL/dy (*, D)."""
    flat = idx.reshape(-1)  # (M,)
    g = grad_out.reshape(len(flat), -1)  # (M, D)
    if scale_grad_by_freq:
        counts = np.bincount(flat, minlength=num_embeddings)
        g = g / counts[flat, None].astype(g.dtype)
    dweight = np.zeros((num_embeddings, g.shape[1]), grad_out.dtype)
    np.add.at(dweight, flat, g)
    if padding_idx is not None:
        dweight[padding_idx] = 0
    return dweight
