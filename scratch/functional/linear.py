"""The affine map of Linear, forward and backward.

With the leading dimensions of x and of the upstream gradient g = dL/dy taken as M rows:

    y = x W^T + b,   dW = g^T x  (out, in),   db = sum_rows g  (out,),   dx = g W  (*, in)

MultiheadAttention's input and output projections are the same map.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scratch import parallel


class LinearGrads(NamedTuple):
    """The gradients of `linear`; None where not asked for."""

    input: np.ndarray | None  # (*, in)
    weight: np.ndarray  # (out, in)
    bias: np.ndarray | None  # (out,)


def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """y = x W^T + b for x (*, in), weight (out, in), bias (out,) or None; y (*, out)."""
    y = parallel.matmul(x, weight.T)  # (*, out)
    if bias is not None:
        y += bias
    return y


def linear_backward(grad_out: np.ndarray, x: np.ndarray, weight: np.ndarray, *,
                    input_grad: bool = True, bias_grad: bool = True) -> LinearGrads:
    """dW = g^T x, db = sum_rows g, dx = g W, each a fresh array.

    Args:
        grad_out: (*, out); x: the forward input (*, in); weight: (out, in).
        input_grad: if False, dx is None and its matmul is skipped.
        bias_grad: if False, db is None.
    """
    out, inp = weight.shape
    g2 = grad_out.reshape(-1, out)  # (M, out), M = prod(*)
    x2 = x.reshape(-1, inp)  # (M, in)
    if len(g2) == 1:  # one sample: an outer product beats BLAS's k=1 matmul (speed suite:
        # mlp-128 batch 1 step)
        dweight = np.multiply(g2.T, x2)  # (out, in)
    else:
        dweight = parallel.matmul(g2.T, x2)  # (out, in)
    dbias = g2.sum(axis=0) if bias_grad else None  # (out,)
    dx = parallel.matmul(grad_out, weight) if input_grad else None  # (*, in)
    return LinearGrads(dx, dweight, dbias)
