"""MaxPool2d and AvgPool2d over strided window views, with torch's defaults and tie rule.

Both take the (kh, kw) windows of the padded input as a view (see scratch/conv.py).
MaxPool2d gathers them once into one contiguous slab per kernel offset and reduces
over the slabs; AvgPool2d adds the offsets straight from the view. Backward sends
the gradient back through conv's col2im. Floor mode only
(torch's default ceil_mode=False); AvgPool2d counts the zero padding in its
divisor (torch's default count_include_pad=True).
"""

from __future__ import annotations

import numpy as np

from scratch._checks import check_grad, check_input, require_forward
from scratch.conv import (
    _check_window,
    _col2im,
    _offset_views,
    _offsets_first,
    _pad,
    _pair,
    _windows,
)
from scratch.module import Module


class _Pool2d(Module):
    """Shared plumbing: arguments as torch stores them, validation, unbatched inputs."""

    _pad_value = 0.0

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self._k = _pair(kernel_size, "kernel_size", minimum=1)
        self._s = self._k if stride is None else _pair(stride, "stride", minimum=1)
        self._p = _pair(padding, "padding", minimum=0)
        if self._p[0] > self._k[0] // 2 or self._p[1] > self._k[1] // 2:
            # torch refuses this too: a window could then hold padding only
            raise ValueError(f"{type(self).__name__}: padding should be at most half of the "
                             f"kernel size, got padding={padding}, kernel_size={kernel_size}")
        # Kept as given, like torch (an int stays an int); stride defaults to kernel_size.
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self._cache = None

    def _name(self) -> str:
        return f"{type(self).__name__}({self.kernel_size})"

    def _windows(self, x: np.ndarray):
        """(x as (N, C, H, W), whether it was unbatched, padded x, windows (N,C,OH,OW,kh,kw))."""
        check_input(x, self._name(), ndim=(3, 4), shape_doc="(N, C, H, W) or (C, H, W)")
        _check_window(self._name(), x.shape, self._k, self._p)
        unbatched = x.ndim == 3
        x4 = x[None] if unbatched else x  # (N, C, H, W)
        xp = _pad(x4, self._p, self._pad_value)  # (N, C, Hp, Wp)
        return x4, unbatched, xp, _windows(xp, self._k, self._s)

    def _backward_windows(self, grad_out: np.ndarray):
        """Check grad_out against the cached forward; return it as (N, C, OH, OW) and the cache."""
        cache = require_forward(self._cache, self._name())
        x_shape, xp_shape, unbatched = cache[:3]
        n, c = x_shape[:2]
        out_shape = (n, c, *self._out_hw(xp_shape))
        check_grad(grad_out, out_shape[1:] if unbatched else out_shape, self._name())
        # Contiguous: backward reads it kh*kw + 1 times (grad_out is often a padded view).
        return np.ascontiguousarray(grad_out.reshape(out_shape)), cache

    def _out_hw(self, xp_shape) -> tuple[int, int]:
        return ((xp_shape[2] - self._k[0]) // self._s[0] + 1,
                (xp_shape[3] - self._k[1]) // self._s[1] + 1)

    def _finish(self, dxp: np.ndarray, x_shape, unbatched: bool) -> np.ndarray:
        """Drop the padding from dxp (N, C, Hp, Wp) and the batch axis if the input had none."""
        (ph, pw), (h, w) = self._p, x_shape[2:]
        dx = dxp[:, :, ph:ph + h, pw:pw + w]  # (N, C, H, W)
        return dx[0] if unbatched else dx

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Largest value of each window, as `torch.nn.MaxPool2d` (dilation 1, floor mode).

    Args:
        kernel_size: int or (kh, kw).
        stride: int or (sh, sw); default kernel_size (non-overlapping windows).
        padding: int or (ph, pw), at most half the kernel; pads with -inf, so padding
            is never the maximum.

    Shape:
        (N, C, H, W) or (C, H, W) -> (N, C, OH, OW), OH = (H + 2 ph - kh) // sh + 1.

    Ties: the whole gradient of a window goes to its first maximal element in
    row-major window order, as torch's CPU kernel routes it; where windows
    overlap, an element that is the maximum of several collects all their gradients.

    Example:
        >>> MaxPool2d(2)(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4))
        array([[[[ 5.,  7.],
                 [13., 15.]]]], dtype=float32)
    """

    _pad_value = -np.inf

    def forward(self, x: np.ndarray) -> np.ndarray:
        x4, unbatched, xp, win = self._windows(x)  # win (N, C, OH, OW, kh, kw), a view
        slabs = _offsets_first(win)  # (kh*kw, N, C, OH, OW)
        y = slabs.max(axis=0)  # (N, C, OH, OW); a NaN in a window wins, as in torch
        # Which element won is worked out in backward, so inference pays only for the max.
        self._cache = (x4.shape, xp.shape, unbatched, slabs, y)
        return y[0] if unbatched else y

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        g, (x_shape, xp_shape, unbatched, slabs, y) = self._backward_windows(grad_out)
        if not input_grad:
            return None
        winner = _first_max(slabs, y)  # (kh*kw, N, C, OH, OW) bool, one True per window
        # All of each window's gradient to its maximum. A multiply is ~10x faster than
        # np.where, but 0 * inf is NaN: non-finite gradients take the exact, slow route.
        finite = np.isfinite(g).all()
        if finite and self._s[0] >= self._k[0] and self._s[1] >= self._k[1]:
            # Disjoint windows: each offset's product goes straight to its place in dx.
            dxp = np.zeros(xp_shape, g.dtype)  # (N, C, Hp, Wp)
            for k, dst in enumerate(_offset_views(dxp, self._k, self._s, g.shape[2:])):
                np.multiply(winner[k], g, out=dst)
            return self._finish(dxp, x_shape, unbatched)
        dslabs = winner * g if finite else np.where(winner, g, g.dtype.type(0))
        dwin = dslabs.reshape(*self._k, *g.shape)  # (kh, kw, N, C, OH, OW)
        # Overlapping windows add up where one element is the maximum of several.
        return self._finish(_col2im(dwin, xp_shape, self._s), x_shape, unbatched)


def _first_max(slabs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mark each window's maximum in slabs (K, ...), the first in row-major order on ties.

    That is torch's CPU rule; a window holding NaN routes to its last NaN instead.
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


class AvgPool2d(_Pool2d):
    """Mean of each window, as `torch.nn.AvgPool2d` (ceil_mode=False, count_include_pad=True).

    Args:
        kernel_size: int or (kh, kw).
        stride: int or (sh, sw); default kernel_size.
        padding: int or (ph, pw), at most half the kernel; zeros, counted in the
            divisor kh*kw.

    Shape:
        (N, C, H, W) or (C, H, W) -> (N, C, OH, OW), OH = (H + 2 ph - kh) // sh + 1.

    Example:
        >>> AvgPool2d(2)(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4))
        array([[[[ 2.5,  4.5],
                 [10.5, 12.5]]]], dtype=float32)
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        x4, unbatched, xp, win = self._windows(x)  # win (N, C, OH, OW, kh, kw), a view
        kh, kw = self._k
        y = win[..., 0, 0].copy()  # (N, C, OH, OW)
        for k in range(1, kh * kw):  # one vectorised add per kernel offset, as MaxPool2d
            y += win[..., k // kw, k % kw]
        y /= kh * kw  # the divisor counts padding (count_include_pad=True); dtype kept
        self._cache = (x4.shape, xp.shape, unbatched)
        return y[0] if unbatched else y

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        g, (x_shape, xp_shape, unbatched) = self._backward_windows(grad_out)
        if not input_grad:
            return None
        kh, kw = self._k
        share = g / (kh * kw)  # (N, C, OH, OW): each window element's part of the gradient
        dwin = np.broadcast_to(share, (kh, kw, *g.shape))  # (kh, kw, N, C, OH, OW)
        return self._finish(_col2im(dwin, xp_shape, self._s), x_shape, unbatched)
