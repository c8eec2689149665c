"""Max and average pooling over strided window views, with torch's tie rule.

Both pad the input (with -inf for max, zeros for average) and take its (kh, kw)
windows as a view. Max pooling gathers the windows once into one contiguous
slab per kernel offset and reduces over the slabs; average pooling adds the
offsets straight from the view. Backward sends the gradient back through
col2im, or, for max pooling over disjoint windows, writes each offset's share
straight into place.
"""

from __future__ import annotations

import numpy as np

from scratch.functional.shapes import pad, unpad
from scratch.functional.windows import col2im, offset_views, offsets_first, windows


def _padded_shape(x_shape: tuple[int, ...], padding: tuple[int, int]) -> tuple[int, ...]:
    n, c, h, w = x_shape
    return n, c, h + 2 * padding[0], w + 2 * padding[1]


def max_pool2d_forward(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
                       padding: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """y (N, C, OH, OW), the largest element of each window, and the slabs
    (kh*kw, N, C, OH, OW) that `max_pool2d_backward` needs.

    A NaN in a window makes its output NaN, as in torch. Which element won is worked
    out in backward, so inference pays only for the max.
    """
    xp = pad(x, padding, -np.inf)  # (N, C, Hp, Wp)
    slabs = offsets_first(windows(xp, kernel, stride))  # (kh*kw, N, C, OH, OW)
    return slabs.max(axis=0), slabs


def first_max(slabs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mark each window's maximum in slabs (K, ...), the first in row-major order on ties.

    That is torch's CPU rule; a window holding NaN routes to its last NaN instead.
    Returns a bool array like slabs with one True per window.
    """
    winner = slabs == y  # (K, ...) every maximal element
    seen = winner[0].copy()
    for k in range(1, len(slabs)):  # keep the first tie only: a few cheap bool passes
        winner[k] &= ~seen
        seen |= winner[k]
    nan = np.isnan(y)
    if nan.any():  # NaN == NaN is False, so those windows have no winner yet
        for k in range(len(slabs) - 1, -1, -1):
            last = nan & np.isnan(slabs[k])
            winner[k] |= last
            nan &= ~last
    return winner


def max_pool2d_backward(grad_out: np.ndarray, x_shape: tuple[int, ...],
                        kernel: tuple[int, int], stride: tuple[int, int],
                        padding: tuple[int, int], slabs: np.ndarray, y: np.ndarray
                        ) -> np.ndarray:
    """dx (N, C, H, W): each window's gradient, all of it to the window's `first_max`.

    Args:
        grad_out: (N, C, OH, OW); x_shape: the forward input's (N, C, H, W);
        slabs, y: from `max_pool2d_forward`.
    """
    g = np.ascontiguousarray(grad_out)  # (N, C, OH, OW), read kh*kw + 1 times
    winner = first_max(slabs, y)  # (kh*kw, N, C, OH, OW) bool, one True per window
    # A multiply routes the gradient without np.where's select (speed suite: cnn-16-32
    # backward), but 0 * inf is NaN: non-finite gradients take np.where.
    finite = np.isfinite(g).all()
    if finite and stride[0] >= kernel[0] and stride[1] >= kernel[1]:
        # Disjoint windows: each offset's product goes straight to its place in dx.
        dxp = np.zeros(_padded_shape(x_shape, padding), g.dtype)  # (N, C, Hp, Wp)
        for k, dst in enumerate(offset_views(dxp, kernel, stride, g.shape[2:])):
            np.multiply(winner[k], g, out=dst)
        return unpad(dxp, padding)
    dslabs = winner * g if finite else np.where(winner, g, g.dtype.type(0))
    dwin = dslabs.reshape(*kernel, *g.shape)  # (kh, kw, N, C, OH, OW)
    # Overlapping windows add up where one element is the maximum of several.
    return unpad(col2im(dwin, _padded_shape(x_shape, padding), stride), padding)


def avg_pool2d_forward(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
                       padding: tuple[int, int]) -> np.ndarray:
    """y (N, C, OH, OW), the mean of each window, zero padding counted in the divisor."""
    win = windows(pad(x, padding), kernel, stride)  # (N, C, OH, OW, kh, kw), a view
    kh, kw = kernel
    y = win[..., 0, 0].copy()  # (N, C, OH, OW)
    for k in range(1, kh * kw):  # one vectorised add per kernel offset, row-major
        y += win[..., k // kw, k % kw]
    y /= kh * kw  # dtype kept
    return y


def avg_pool2d_backward(grad_out: np.ndarray, x_shape: tuple[int, ...],
                        kernel: tuple[int, int], stride: tuple[int, int],
                        padding: tuple[int, int]) -> np.ndarray:
    """dx (N, C, H, W): each window's gradient shared equally, g / (kh*kw), by its elements."""
    kh, kw = kernel
    share = grad_out / (kh * kw)  # (N, C, OH, OW)
    dwin = np.broadcast_to(share, (kh, kw, *share.shape))  # (kh, kw, N, C, OH, OW)
    return unpad(col2im(dwin, _padded_shape(x_shape, padding), stride), padding)
