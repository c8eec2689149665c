"""Input validation shared by the layers: clear errors naming what was expected and what came."""

from __future__ import annotations

import numpy as np


def check_input(
    x,
    layer: str,
    *,
    dtype: np.dtype | None = None,
    ndim: int | tuple[int, ...] | None = None,
    min_ndim: int | None = None,
    size: tuple[int, int] | None = None,
    shape_doc: str = "",
) -> np.ndarray:
    """Validate a layer input and return it.

    Args:
        x: the input; must already be an ndarray (no silent conversion of lists).
        layer: the layer's repr-like name used in messages, e.g. "Linear(784, 128)".
        dtype: required floating dtype (the layer's parameter dtype), or None for any float.
        ndim / min_ndim: required number of dimensions.
        size: (axis, expected length) that must match, e.g. (-1, in_features).
        shape_doc: the expected shape written out, e.g. "(N, 784)".
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{layer} expects a numpy.ndarray of shape {shape_doc}, "
                        f"got {type(x).__name__}")
    expect = f" of shape {shape_doc}" if shape_doc else ""
    if dtype is not None and x.dtype != dtype:
        raise TypeError(
            f"{layer} expects {np.dtype(dtype)} input{expect} (the dtype of its parameters), "
            f"got {x.dtype}; convert with x.astype(np.{np.dtype(dtype)}) "
            f"or call model.to(np.{x.dtype}) first"
        )
    if dtype is None and x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{layer} expects float32 or float64 input{expect}, got {x.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if x.ndim not in allowed:
            raise ValueError(f"{layer} expects input{expect} ({' or '.join(map(str, allowed))}-D),"
                             f" got shape {x.shape} ({x.ndim}-D)")
    if min_ndim is not None and x.ndim < min_ndim:
        raise ValueError(f"{layer} expects input{expect} (at least {min_ndim}-D), "
                         f"got shape {x.shape} ({x.ndim}-D)")
    if size is not None:
        axis, n = size
        if x.shape[axis] != n:
            raise ValueError(f"{layer} expects input{expect}, got shape {x.shape}: "
                             f"size {x.shape[axis]} at dim {axis}, expected {n}")
    return x


def check_grad(grad_out, expected_shape: tuple[int, ...], layer: str) -> np.ndarray:
    """Validate the upstream gradient passed to backward()."""
    if not isinstance(grad_out, np.ndarray):
        raise TypeError(f"{layer}.backward expects a numpy.ndarray, got {type(grad_out).__name__}")
    if grad_out.shape != expected_shape:
        raise ValueError(f"{layer}.backward expects grad_out of shape {expected_shape} "
                         f"(the forward output's), got {grad_out.shape}")
    return grad_out


def check_window(layer: str, shape: tuple[int, ...], kernel: tuple[int, int],
                 padding, dilation: tuple[int, int] = (1, 1)) -> None:
    """Raise ValueError if the padded input (..., H, W) is smaller than the (dilated) kernel.

    padding: (ph, pw) on each side, or (top, bottom, left, right).
    """
    top, bottom, left, right = (padding if len(padding) == 4
                                else (padding[0],) * 2 + (padding[1],) * 2)
    hp, wp = shape[-2] + top + bottom, shape[-1] + left + right
    eh, ew = (d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if hp < eh or wp < ew:
        dilated = f", dilated to {eh} x {ew}" if (eh, ew) != tuple(kernel) else ""
        raise ValueError(f"{layer}: padded input size per channel ({hp} x {wp}) is smaller than "
                         f"the kernel ({kernel[0]} x {kernel[1]}{dilated}); got input of shape "
                         f"{shape}")


def require_forward(cache, layer: str):
    if cache is None:
        raise RuntimeError(f"{layer}.backward called before forward")
    return cache
