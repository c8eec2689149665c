"""Gradient clipping as `torch.nn.utils`: clip_grad_norm_, clip_grad_value_ and their parts.

Only parameters that have a gradient (`Parameter.has_grad`, torch's
`p.grad is not None`) take part; gradients are changed in place. `foreach`
picks torch's batched kernels there; the arithmetic is the same, so scratch
accepts any value (torch refuses foreach=True only on devices without those
kernels, which the CPU is not).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from scratch.module import Parameter

__all__ = ["clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm"]


def _with_grads(parameters) -> list[Parameter]:
    params = [parameters] if isinstance(parameters, Parameter) else list(parameters)
    for p in params:
        if not isinstance(p, Parameter):
            raise TypeError(f"expected scratch Parameters, got {type(p).__name__}")
    return [p for p in params if p.has_grad]


def vector_norm(x: np.ndarray, norm_type: float) -> np.ndarray:
    """torch.linalg.vector_norm of all of x: (sum |x|^p)^(1/p); max |x| for inf, min |x| for
    -inf, the count of nonzeros for 0. A 0-d array of x's dtype."""
    a = np.abs(x).ravel()
    if norm_type == np.inf:
        out = a.max(initial=0)
    elif norm_type == -np.inf:
        out = a.min(initial=np.inf)
    elif norm_type == 0:
        out = np.count_nonzero(a)
    elif norm_type == 2:
        out = np.sqrt(np.dot(a, a))
    else:
        out = (a ** norm_type).sum() ** (1 / norm_type)
    return np.asarray(out, dtype=x.dtype)


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> np.ndarray:
    """The norm of the per-array norms: the norm of all the arrays concatenated, as torch.

    Returns a 0-d array of the first array's dtype (0.0 for no arrays).
    """
    arrays = [tensors] if isinstance(tensors, np.ndarray) else list(tensors)
    norm_type = float(norm_type)
    if not arrays:
        return np.asarray(0.0)
    dtype = arrays[0].dtype
    norms = np.array([vector_norm(g, norm_type) for g in arrays], dtype=dtype)
    total = vector_norm(norms, norm_type)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
            "so it cannot be clipped. To disable this error and scale the gradients by the "
            "non-finite norm anyway, set `error_if_nonfinite=False`")
    return total


def clip_grads_with_norm_(parameters, max_norm: float, total_norm,
                          foreach: bool | None = None) -> None:
    """grad <- grad * min(max_norm / (total_norm + 1e-6), 1) for every parameter with one.

    The factor is computed in total_norm's dtype and applied even when it is 1, as torch.
    """
    params = _with_grads(parameters)
    if not params:
        return
    total = np.asarray(total_norm)
    coef = np.minimum(total.dtype.type(float(max_norm)) / (total + total.dtype.type(1e-6)), 1.0)
    for p in params:
        p.grad *= coef.astype(p.dtype)


def clip_grad_norm_(parameters: Parameter | Iterable[Parameter], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: bool | None = None) -> np.ndarray:
    """Scale the gradients so their total norm is at most max_norm, as torch.nn.utils.

    total = || (||g_1||_p, ..., ||g_k||_p) ||_p over the parameters with a gradient
    (norm_type p: a float, inf or -inf, or "inf"); every gradient is multiplied by
    min(max_norm / (total + 1e-6), 1).

    Args:
        parameters: a Parameter or an iterable of them.
        max_norm: the largest total norm kept.
        norm_type: the p of the p-norm (default 2).
        error_if_nonfinite: raise RuntimeError if the total norm is NaN or infinite.
        foreach: torch's kernel choice; any value (see the module docstring).

    Returns:
        The total norm before clipping, a 0-d array of the gradients' dtype.
    """
    params = _with_grads(parameters)
    if not params:
        return np.asarray(0.0)
    total = get_total_norm([p.grad for p in params], norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(params, max_norm, total, foreach)
    return total


def clip_grad_value_(parameters: Parameter | Iterable[Parameter], clip_value: float,
                     foreach: bool | None = None) -> None:
    """Clamp every gradient into [-clip_value, clip_value], in place, as torch.nn.utils."""
    clip_value = float(clip_value)
    for p in _with_grads(parameters):
        np.clip(p.grad, -clip_value, clip_value, out=p.grad)
