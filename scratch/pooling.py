"""MaxPool2d and AvgPool2d: arguments as torch stores them, validation, unbatched inputs, cache.

The window kernels live in scratch.functional (max_pool2d_forward / _backward,
avg_pool2d_forward / _backward). Floor mode only (torch's default
ceil_mode=False); AvgPool2d counts the zero padding in its divisor (torch's
default count_include_pad=True).
"""

from __future__ import annotations

import numpy as np

from scratch import functional as F
from scratch._checks import check_grad, check_input, check_window, require_forward
from scratch.module import Module


class _Pool2d(Module):
    """Shared plumbing: arguments as torch stores them, validation, unbatched inputs."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self._k = F.pair(kernel_size, "kernel_size", minimum=1)
        self._s = self._k if stride is None else F.pair(stride, "stride", minimum=1)
        self._p = F.pair(padding, "padding", minimum=0)
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

    def _input(self, x: np.ndarray) -> tuple[np.ndarray, bool]:
        """x checked, as (N, C, H, W), and whether it came unbatched."""
        check_input(x, self._name(), ndim=(3, 4), shape_doc="(N, C, H, W) or (C, H, W)")
        check_window(self._name(), x.shape, self._k, self._p)
        unbatched = x.ndim == 3
        return (x[None] if unbatched else x), unbatched

    def _grad(self, grad_out: np.ndarray) -> tuple[np.ndarray, tuple]:
        """grad_out checked against the cached forward, as (N, C, OH, OW), and the cache."""
        cache = require_forward(self._cache, self._name())
        out_shape, unbatched = cache[1:3]
        check_grad(grad_out, out_shape[1:] if unbatched else out_shape, self._name())
        return grad_out.reshape(out_shape), cache

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Largest value of each window, as `torch.nn.MaxPool2d` (dilation 1, floor mode).

    For input x padded with -inf by (ph, pw) to xp, and upstream gradient g = dL/dout:

        out[n, c, i, j] = max_{p, q} xp[n, c, sh i + p, sw j + q]
        dxp[n, c, sh i + p*, sw j + q*] += g[n, c, i, j],  (p*, q*) the window's argmax;
        dx = dxp without its padding

    Ties: the whole gradient of a window goes to its first maximal element in
    row-major window order, as torch's CPU kernel routes it (a window holding NaN:
    to its last NaN); where windows overlap, an element that is the maximum of
    several collects all their gradients.

    Computed over per-offset slabs (scratch.functional.max_pool2d_forward / _backward);
    scratch.functional.plain.max_pool2d is the formula above as loops.

    Args:
        kernel_size: int or (kh, kw).
        stride: int or (sh, sw); default kernel_size (non-overlapping windows).
        padding: int or (ph, pw), at most half the kernel; pads with -inf, so padding
            is never the maximum.

    Shape:
        (N, C, H, W) or (C, H, W) -> (N, C, OH, OW), OH = (H + 2 ph - kh) // sh + 1
        (scratch.functional.conv_output_size).

    Example:
        >>> MaxPool2d(2)(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4))
        array([[[[ 5.,  7.],
                 [13., 15.]]]], dtype=float32)
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        x4, unbatched = self._input(x)  # (N, C, H, W)
        y, slabs = F.max_pool2d_forward(x4, self._k, self._s, self._p)  # y (N, C, OH, OW)
        self._cache = (x4.shape, y.shape, unbatched, slabs, y)
        return y[0] if unbatched else y

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        g, (x_shape, _, unbatched, slabs, y) = self._grad(grad_out)
        if not input_grad:
            return None
        dx = F.max_pool2d_backward(g, x_shape, self._k, self._s, self._p, slabs, y)
        return dx[0] if unbatched else dx  # (N, C, H, W)


class AvgPool2d(_Pool2d):
    """Mean of each window, as `torch.nn.AvgPool2d` (ceil_mode=False, count_include_pad=True).

    For input x zero-padded by (ph, pw) to xp, and upstream gradient g = dL/dout:

        out[n, c, i, j] = sum_{p, q} xp[n, c, sh i + p, sw j + q] / (kh kw)
        dxp[n, c, sh i + p, sw j + q] += g[n, c, i, j] / (kh kw)  for every (i, j, p, q);
        dx = dxp without its padding

    Computed one kernel offset at a time over all windows
    (scratch.functional.avg_pool2d_forward / _backward); scratch.functional.plain.avg_pool2d
    is the formula above as loops.

    Args:
        kernel_size: int or (kh, kw).
        stride: int or (sh, sw); default kernel_size.
        padding: int or (ph, pw), at most half the kernel; zeros, counted in the
            divisor kh*kw.

    Shape:
        (N, C, H, W) or (C, H, W) -> (N, C, OH, OW), OH = (H + 2 ph - kh) // sh + 1
        (scratch.functional.conv_output_size).

    Example:
        >>> AvgPool2d(2)(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4))
        array([[[[ 2.5,  4.5],
                 [10.5, 12.5]]]], dtype=float32)
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        x4, unbatched = self._input(x)  # (N, C, H, W)
        y = F.avg_pool2d_forward(x4, self._k, self._s, self._p)  # (N, C, OH, OW)
        self._cache = (x4.shape, y.shape, unbatched)
        return y[0] if unbatched else y

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        g, (x_shape, _, unbatched) = self._grad(grad_out)
        if not input_grad:
            return None
        dx = F.avg_pool2d_backward(g, x_shape, self._k, self._s, self._p)
        return dx[0] if unbatched else dx  # (N, C, H, W)
