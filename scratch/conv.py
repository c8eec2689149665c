"""Conv2d by im2col: every receptive field becomes a column, the convolution one matmul.

Forward takes the (kh, kw) windows of the padded input as a strided view
(`sliding_window_view`, no copy), lays them out once as columns (C*kh*kw,
N*OH*OW) and multiplies by the (out, C*kh*kw) weight matrix, the whole batch
in one matmul. Backward reuses the columns for dW (one more matmul) and
scatters the column gradients back onto the image (col2im). The window
helpers here are shared with scratch/pooling.py.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from scratch import init
from scratch._checks import check_grad, check_input, require_forward
from scratch.module import Module, Parameter, check_float_dtype


def _pair(value, name: str, *, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints as (h, w), each at least `minimum`."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) for v in pair):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])


def _pad(x: np.ndarray, padding: tuple[int, int], value: float = 0.0) -> np.ndarray:
    """x (N, C, H, W) with `padding` rows / columns of `value` on each side (x itself if none)."""
    ph, pw = padding
    if ph == pw == 0:
        return x
    n, c, h, w = x.shape
    # A filled array and one slice copy: same result as np.pad, ~10x less overhead at batch 1.
    xp = np.full((n, c, h + 2 * ph, w + 2 * pw), value, dtype=x.dtype)  # (N, C, Hp, Wp)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    return xp


def _check_window(layer: str, shape: tuple[int, ...], kernel: tuple[int, int],
                  padding: tuple[int, int]) -> None:
    """Raise ValueError if the padded input (N, C, H, W) is smaller than the kernel."""
    hp, wp = shape[-2] + 2 * padding[0], shape[-1] + 2 * padding[1]
    if hp < kernel[0] or wp < kernel[1]:
        raise ValueError(f"{layer}: padded input size per channel ({hp} x {wp}) is smaller than "
                         f"the kernel ({kernel[0]} x {kernel[1]}); got input of shape {shape}")


def _windows(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """Every (kh, kw) window of xp (N, C, Hp, Wp) at the given stride, as a read-only view.

    Returns shape (N, C, OH, OW, kh, kw) with OH = (Hp - kh) // sh + 1 (torch's floor mode).
    The same view as sliding_window_view(xp, kernel, axis=(2, 3))[:, :, ::sh, ::sw], built
    directly from the strides: that helper's checks cost more than a batch-1 conv.
    """
    n, c, hp, wp = xp.shape
    (kh, kw), (sh, sw) = kernel, stride
    oh, ow = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    s_n, s_c, s_h, s_w = xp.strides
    shape, strides = (n, c, oh, ow, kh, kw), (s_n, s_c, s_h * sh, s_w * sw, s_h, s_w)
    if not xp.flags.c_contiguous:
        return as_strided(xp, shape, strides, writeable=False)  # (N, C, OH, OW, kh, kw)
    # The ndarray constructor takes ~1 us where as_strided takes ~5: at batch 1 that is
    # a tenth of a CNN's forward pass. It needs a contiguous buffer, hence the branch.
    win = np.ndarray(shape, xp.dtype, xp, 0, strides)  # (N, C, OH, OW, kh, kw)
    win.flags.writeable = False
    return win


def _offsets_first(win: np.ndarray) -> np.ndarray:
    """Copy windows (N, C, OH, OW, kh, kw) to (kh*kw, N, C, OH, OW), each offset one slab.

    One gather, after which every per-offset operation (max, compare, add) runs over a
    contiguous slab instead of striding through the image kh*kw times.
    """
    n, c, oh, ow, kh, kw = win.shape
    return np.ascontiguousarray(win.transpose(4, 5, 0, 1, 2, 3)).reshape(kh * kw, n, c, oh, ow)


def _col2im(dwin: np.ndarray, padded_shape: tuple[int, ...], stride: tuple[int, int]
            ) -> np.ndarray:
    """Sum window gradients back onto the padded image: the adjoint of `_windows`.

    Args:
        dwin: gradient per window element, shape (kh, kw, A, B, OH, OW) (any strides),
            (A, B) being (N, C) (pooling) or (C, N) (Conv2d, channel-major).
        padded_shape: (A, B, Hp, Wp) of the padded input.
    Returns:
        dxp, shape padded_shape; rows / columns no window reached stay zero.
    """
    kh, kw, _, _, oh, ow = dwin.shape
    sh, sw = stride
    dxp = np.zeros(padded_shape, dtype=dwin.dtype)  # (A, B, Hp, Wp)
    # One vectorised strided write per kernel offset, kh*kw in all (9 for 3x3), each over the
    # whole batch. np.add.at on a writeable window view does it in one call but measured ~7x
    # slower; so did one 6-D transpose-copy for tiling windows (its inner loop is kw long).
    overlap = sh < kh or sw < kw
    for k, dst in enumerate(_offset_views(dxp, (kh, kw), stride, (oh, ow))):
        if overlap:
            dst += dwin[divmod(k, kw)]
        else:  # each element lies in one window at most
            dst[...] = dwin[divmod(k, kw)]
    return dxp


def _offset_views(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
                  out_hw: tuple[int, int]) -> list[np.ndarray]:
    """For each kernel offset (i, j), row-major, the writeable view xp[:, :, i + sh*oh, j + sw*ow]
    over all outputs (oh, ow): shape (N, C, OH, OW) each."""
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_hw
    return [xp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
            for i in range(kh) for j in range(kw)]


class Conv2d(Module):
    """2-D convolution (cross-correlation, as every framework), as `torch.nn.Conv2d`.

    Args:
        in_channels: C_in, channels of the input.
        out_channels: C_out, number of filters.
        kernel_size: int or (kh, kw).
        stride: int or (sh, sw), default 1.
        padding: int or (ph, pw) zeros added on each side, default 0.
        bias: if False, no additive per-channel bias.
        rng: Generator for the initial weights (keyword only, required).
        dtype: float32 (default) or float64.

    Shape:
        input (N, C_in, H, W) or unbatched (C_in, H, W) -> output (N, C_out, OH, OW), with
        OH = (H + 2 ph - kh) // sh + 1 and OW likewise.

    Attributes:
        weight: (C_out, C_in, kh, kw), init U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
            fan_in = C_in * kh * kw (torch's kaiming_uniform_ with a=sqrt(5)).
        bias: (C_out,), same distribution.

    Example:
        >>> m = Conv2d(1, 8, 3, padding=1, rng=np.random.default_rng(0))
        >>> m(np.zeros((16, 1, 28, 28), np.float32)).shape
        (16, 8, 28, 28)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, *, rng: np.random.Generator, dtype=np.float32):
        super().__init__()
        dt = check_float_dtype(dtype)
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        if self.in_channels < 1 or self.out_channels < 1:
            raise ValueError(f"Conv2d needs in_channels and out_channels >= 1, got "
                             f"{in_channels} and {out_channels}")
        self.kernel_size = _pair(kernel_size, "kernel_size", minimum=1)
        self.stride = _pair(stride, "stride", minimum=1)
        self.padding = _pair(padding, "padding", minimum=0)
        self.weight = Parameter(np.empty((self.out_channels, self.in_channels,
                                          *self.kernel_size), dt))
        self.bias = Parameter(np.empty(self.out_channels, dt)) if bias else None
        self._cache = None
        self.reset_parameters(rng=rng)

    def reset_parameters(self, *, rng: np.random.Generator) -> None:
        # torch: kaiming_uniform_(a=sqrt(5)) == U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), rng=rng)
        if self.bias is not None:
            fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound, rng=rng)

    def _name(self) -> str:
        return f"Conv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size})"

    def _columns(self, x: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """im2col: x (N, C, H, W) -> columns (C*kh*kw, N*OH*OW), and the output's (OH, OW)."""
        n, c, h, w = x.shape
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        # Padded channel-major, (C, N, Hp, Wp): each channel's rows of the columns then
        # come from one contiguous block rather than from N blocks strided across the batch
        # (backward's col2im gains most: 2-3x at 32 channels).
        xp = np.zeros((c, n, h + 2 * ph, w + 2 * pw), x.dtype)  # (C, N, Hp, Wp)
        xp[:, :, ph:ph + h, pw:pw + w] = x.transpose(1, 0, 2, 3)
        win = _windows(xp, self.kernel_size, self.stride)  # (C, N, OH, OW, kh, kw), a view
        oh, ow = win.shape[2:4]
        # The one copy of the forward pass. Rows are ordered (c, i, j) like the weight's
        # (in, kh, kw); columns (n, oh, ow), so the whole batch is one matrix.
        cols = win.transpose(0, 4, 5, 1, 2, 3).reshape(c * kh * kw, n * oh * ow)  # (K, N*L)
        return cols, (oh, ow)

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_input(x, self._name(), dtype=self.weight.dtype, ndim=(3, 4),
                    size=(-3, self.in_channels),
                    shape_doc=f"(N, {self.in_channels}, H, W) or ({self.in_channels}, H, W)")
        _check_window(self._name(), x.shape, self.kernel_size, self.padding)
        unbatched = x.ndim == 3
        x4 = x[None] if unbatched else x  # (N, C, H, W)
        n = len(x4)
        cols, (oh, ow) = self._columns(x4)  # (K, N*L), K = C*kh*kw, L = OH*OW
        w2 = self.weight.data.reshape(self.out_channels, -1)  # (out, K)
        # One big matmul for the whole batch: a few large BLAS calls stay fast where a
        # per-sample batch of small ones stalls on a busy machine.
        y = w2 @ cols  # (out, N*L)
        if self.bias is not None:
            y += self.bias.data[:, None]
        y = np.ascontiguousarray(y.reshape(self.out_channels, n, oh, ow).transpose(1, 0, 2, 3))
        # Train mode keeps the columns for dW; eval mode keeps only x (no im2col copy held
        # alive during big-batch inference) and rebuilds them if backward is called anyway.
        self._cache = (x4, cols if self.training else None, unbatched, (oh, ow))
        return y[0] if unbatched else y  # (N, out, OH, OW)

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        x, cols, unbatched, (oh, ow) = require_forward(self._cache, self._name())
        n, c, h, w = x.shape
        out_shape = (self.out_channels, oh, ow)
        check_grad(grad_out, out_shape if unbatched else (n, *out_shape), self._name())
        if cols is None:
            cols, _ = self._columns(x)  # (K, N*L)
        g = grad_out.reshape(n, *out_shape)  # (N, out, OH, OW)
        dy = g.transpose(1, 0, 2, 3).reshape(self.out_channels, n * oh * ow)  # (out, N*L)
        w2 = self.weight.data.reshape(self.out_channels, -1)  # (out, K)
        self.weight.accumulate_grad(dy @ cols.T)  # (out, K)
        if self.bias is not None:
            self.bias.accumulate_grad(dy.sum(axis=1))  # (out,)
        if not input_grad:
            return None
        dcols = w2.T @ dy  # (K, N*L)
        kh, kw = self.kernel_size
        ph, pw = self.padding
        dwin = dcols.reshape(c, kh, kw, n, oh, ow).transpose(1, 2, 0, 3, 4, 5)  # a view
        dxp = _col2im(dwin, (c, n, h + 2 * ph, w + 2 * pw), self.stride)  # (C, N, Hp, Wp)
        dx = dxp[:, :, ph:ph + h, pw:pw + w].transpose(1, 0, 2, 3)  # (N, C, H, W), a view
        return dx[0] if unbatched else dx

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.bias is None:
            s += ", bias=False"
        return s
