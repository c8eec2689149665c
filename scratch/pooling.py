"""MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, MaxUnpool2d, AdaptiveMaxPool2d, MaxPool1d and
AvgPool1d: arguments as torch stores them, validation, unbatched inputs, cache.

The window kernels live in scratch.functional (max_pool2d_forward / _backward /
_indices, avg_pool2d_forward / _backward, adaptive_avg_pool2d_forward / _backward,
max_unpool2d_forward / _backward, adaptive_max_pool2d_forward / _backward); the 1-D
pools run the 2-D kernels on (N, C, 1, L) with a (1, k) window, as Conv1d does.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scratch import functional as F
from scratch._checks import check_grad, check_input, check_window, require_forward
from scratch.module import Module


class _PoolCache(NamedTuple):
    x_shape: tuple[int, ...]  # (N, C, H, W), unbatched input counted as N = 1
    out_shape: tuple[int, ...]  # (N, C, OH, OW)
    unbatched: bool
    slabs: np.ndarray | None = None  # max pooling: max_pool2d_forward's (kh*kw, N, C, OH, OW)
    y: np.ndarray | None = None  # max pooling: the output, which backward's tie rule reads
    indices: np.ndarray | None = None  # adaptive max pooling: each window's winner (N, C, OH, OW)


class _UnpoolCache(NamedTuple):
    indices: np.ndarray  # (N, C, H, W)
    out_shape: tuple[int, ...]  # (N, C, OH, OW)
    unbatched: bool


class _Pool2d(Module):
    """Shared plumbing: arguments as torch stores them, validation, unbatched inputs."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1):
        super().__init__()
        self._k = F.pair(kernel_size, "kernel_size", minimum=1)
        self._s = self._k if stride is None else F.pair(stride, "stride", minimum=1)
        self._p = F.pair(padding, "padding", minimum=0)
        self._d = F.pair(dilation, "dilation", minimum=1)
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
        if x.shape[-3] == 0 or x.shape[-2] == 0 or x.shape[-1] == 0:
            raise ValueError(f"{self._name()} expects non-empty channel and spatial dims "
                             f"(only the batch may be 0), got shape {x.shape}")
        check_window(self._name(), x.shape, self._k, self._p, self._d)
        unbatched = x.ndim == 3
        return (x[None] if unbatched else x), unbatched

    def _grad(self, grad_out: np.ndarray) -> tuple[np.ndarray, _PoolCache]:
        """grad_out checked against the cached forward, as (N, C, OH, OW), and the cache."""
        cache = require_forward(self._cache, self._name())
        out_shape = cache.out_shape
        check_grad(grad_out, out_shape[1:] if cache.unbatched else out_shape, self._name())
        return grad_out.reshape(out_shape), cache


class MaxPool2d(_Pool2d):
    """Largest value of each window, as `torch.nn.MaxPool2d`.

    For input x padded with -inf by (ph, pw) to xp (in ceil mode also past the bottom
    and right edge, as far as the last window reaches), and upstream gradient g = dL/dout:

        out[n, c, i, j] = max_{p, q} xp[n, c, sh i + dh p, sw j + dw q]
        dxp[n, c, sh i + dh p*, sw j + dw q*] += g[n, c, i, j],  (p*, q*) the window's argmax;
        dx = dxp without its padding

    Ties: the whole gradient of a window goes to its first maximal element in
    row-major window order, as torch's CPU kernel routes it (a window holding NaN:
    to its last NaN; one whose input elements are all -inf: to the first of them,
    never to the padding); where windows overlap, an element that is the maximum of
    several collects all their gradients. return_indices gives that element's flat
    index h * W + w in its input plane, as torch (what MaxUnpool2d takes).

    Computed over per-offset slabs (scratch.functional.max_pool2d_forward / _backward);
    scratch.functional.plain.max_pool2d is the formula above as loops.

    Args:
        kernel_size: int or (kh, kw).
        stride: int or (sh, sw); default kernel_size (non-overlapping windows).
        padding: int or (ph, pw), at most half the kernel; pads with -inf, so padding
            is never the maximum.
        dilation: int or (dh, dw), spacing of the window's elements (default 1).
        return_indices: also return the argmax indices (int64, the output's shape).
        ceil_mode: round the output size up instead of down (a last, partial window),
            torch's rule in scratch.functional.conv_output_size.

    Shape:
        (N, C, H, W) or (C, H, W) -> (N, C, OH, OW), OH = (H + 2 ph - dh (kh - 1) - 1) // sh + 1
        (rounded up in ceil mode; scratch.functional.conv_output_size).

    Example:
        >>> MaxPool2d(2)(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4))
        array([[[[ 5.,  7.],
                 [13., 15.]]]], dtype=float32)
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False):
        super().__init__(kernel_size, stride, padding, dilation)
        self.dilation = dilation
        self.return_indices = bool(return_indices)
        self.ceil_mode = bool(ceil_mode)

    def forward(self, input: np.ndarray):
        x4, unbatched = self._input(input)  # (N, C, H, W)
        y, slabs = F.max_pool2d_forward(x4, self._k, self._s, self._p, dilation=self._d,
                                        ceil_mode=self.ceil_mode)  # y (N, C, OH, OW)
        self._cache = _PoolCache(x4.shape, y.shape, unbatched, slabs, y)
        if self.return_indices:
            idx = F.max_pool2d_indices(slabs, y, x4.shape, self._k, self._s, self._p,
                                       self._d, self.ceil_mode)  # (N, C, OH, OW)
            return (y[0], idx[0]) if unbatched else (y, idx)
        return y[0] if unbatched else y

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        g, cache = self._grad(grad_out)
        if not input_grad:
            return None
        dx = F.max_pool2d_backward(g, cache.x_shape, self._k, self._s, self._p, cache.slabs,
                                   cache.y, dilation=self._d, ceil_mode=self.ceil_mode)
        return dx[0] if cache.unbatched else dx  # (N, C, H, W)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(_Pool2d):
    """Mean of each window, as `torch.nn.AvgPool2d`.

    For input x zero-padded by (ph, pw) to xp (in ceil mode also past the bottom and
    right edge), and upstream gradient g = dL/dout:

        out[n, c, i, j] = sum_{p, q} xp[n, c, sh i + p, sw j + q] / D[i, j]
        dxp[n, c, sh i + p, sw j + q] += g[n, c, i, j] / D[i, j]  for every (i, j, p, q);
        dx = dxp without its padding

    with the divisor D torch's: divisor_override if given; else the window's size
    clipped to the padded input (count_include_pad=True: kh * kw except for ceil
    mode's partial windows) or to the input itself (count_include_pad=False).

    Computed one kernel offset at a time over all windows
    (scratch.functional.avg_pool2d_forward / _backward); scratch.functional.plain.avg_pool2d
    is the formula above as loops.

    Args:
        kernel_size: int or (kh, kw).
        stride: int or (sh, sw); default kernel_size.
        padding: int or (ph, pw), at most half the kernel; zeros.
        ceil_mode: round the output size up instead of down.
        count_include_pad: count the zero padding in the divisor (default True).
        divisor_override: a fixed divisor instead (nonzero int), default None.

    Shape:
        (N, C, H, W) or (C, H, W) -> (N, C, OH, OW), OH = (H + 2 ph - kh) // sh + 1
        (rounded up in ceil mode; scratch.functional.conv_output_size).

    Example:
        >>> AvgPool2d(2)(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4))
        array([[[[ 2.5,  4.5],
                 [10.5, 12.5]]]], dtype=float32)
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None):
        super().__init__(kernel_size, stride, padding)
        if divisor_override is not None and (
                not isinstance(divisor_override, (int, np.integer)) or divisor_override == 0):
            raise ValueError(f"AvgPool2d: divisor_override must be a nonzero int or None, got "
                             f"{divisor_override!r}")
        self.ceil_mode = bool(ceil_mode)
        self.count_include_pad = bool(count_include_pad)
        self.divisor_override = divisor_override

    def _options(self) -> dict:
        return {"ceil_mode": self.ceil_mode, "count_include_pad": self.count_include_pad,
                "divisor_override": self.divisor_override}

    def forward(self, input: np.ndarray) -> np.ndarray:
        x4, unbatched = self._input(input)  # (N, C, H, W)
        y = F.avg_pool2d_forward(x4, self._k, self._s, self._p,
                                 **self._options())  # (N, C, OH, OW)
        self._cache = _PoolCache(x4.shape, y.shape, unbatched)
        return y[0] if unbatched else y

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        g, cache = self._grad(grad_out)
        if not input_grad:
            return None
        dx = F.avg_pool2d_backward(g, cache.x_shape, self._k, self._s, self._p,
                                   **self._options())
        return dx[0] if cache.unbatched else dx  # (N, C, H, W)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AdaptivePool2d(Module):
    """Shared plumbing of the adaptive pools: output_size as torch takes it, validation,
    unbatched inputs."""

    def __init__(self, output_size):
        super().__init__()
        name = type(self).__name__
        if output_size is None:  # torch's annotation allows it, its forward then fails
            raise TypeError(f"{name}: output_size must be an int or a pair (an entry may be "
                            f"None), got None")
        both = ((output_size, output_size) if isinstance(output_size, (int, np.integer))
                else tuple(output_size))
        if len(both) != 2 or not all(v is None or (isinstance(v, (int, np.integer)) and v >= 0)
                                     for v in both):
            raise TypeError(f"{name}: output_size must be an int or a pair of "
                            f"non-negative ints or None, got {output_size!r}")
        self.output_size = output_size
        self._out = both
        self._cache = None

    def _name(self) -> str:
        return f"{type(self).__name__}({self.output_size})"

    def _input(self, x: np.ndarray) -> tuple[np.ndarray, bool, tuple[int, int]]:
        """x checked, as (N, C, H, W), whether it came unbatched, and (OH, OW)."""
        check_input(x, self._name(), ndim=(3, 4), shape_doc="(N, C, H, W) or (C, H, W)")
        if 0 in x.shape[-3:]:
            raise ValueError(f"{self._name()} expects non-empty channel and spatial dims (only "
                             f"the batch may be 0), got shape {x.shape}")
        unbatched = x.ndim == 3
        x4 = x[None] if unbatched else x  # (N, C, H, W)
        out_hw = tuple(x4.shape[2 + a] if o is None else int(o) for a, o in enumerate(self._out))
        return x4, unbatched, out_hw

    def _grad(self, grad_out: np.ndarray) -> tuple[np.ndarray, _PoolCache]:
        """grad_out checked against the cached forward, as (N, C, OH, OW), and the cache."""
        cache = require_forward(self._cache, type(self).__name__)
        out_shape = cache.out_shape
        check_grad(grad_out, out_shape[1:] if cache.unbatched else out_shape,
                   type(self).__name__)
        return grad_out.reshape(out_shape), cache

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(_AdaptivePool2d):
    """Average over windows chosen to give a fixed output size, as `torch.nn.AdaptiveAvgPool2d`.

    Window i along an axis of input size S and output size O covers
    floor(i S / O) .. ceil((i + 1) S / O) - 1 (windows may overlap by one):

        out[n, c, i, j] = mean of x[n, c, rows(i), cols(j)]
        dx[n, c, rows(i), cols(j)] += g[n, c, i, j] / (|rows(i)| |cols(j)|)

    AdaptiveAvgPool2d(1) is global average pooling. Computed as Ah @ x @ Aw^T with
    averaging matrices (scratch.functional.adaptive_avg_pool2d_forward / _backward);
    scratch.functional.plain.adaptive_avg_pool2d is the definition as loops.

    Args:
        output_size: int (square), or (OH, OW) with either entry None to keep the
            input's size along that axis.

    Shape: (N, C, H, W) or (C, H, W) -> (N, C, OH, OW).
    """

    def forward(self, input: np.ndarray) -> np.ndarray:
        x4, unbatched, out_hw = self._input(input)  # (N, C, H, W)
        y = F.adaptive_avg_pool2d_forward(x4, out_hw)  # (N, C, OH, OW)
        self._cache = _PoolCache(x4.shape, y.shape, unbatched)
        return y[0] if unbatched else y

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        g, cache = self._grad(grad_out)
        if not input_grad:
            return None
        dx = F.adaptive_avg_pool2d_backward(g, cache.x_shape)
        return dx[0] if cache.unbatched else dx


class MaxUnpool2d(Module):
    """The partial inverse of MaxPool2d, as `torch.nn.MaxUnpool2d`: each input value goes to
    the place its index names, every other output element is zero.

        out[n, c].flat[indices[n, c, i, j]] = x[n, c, i, j],   dx[n, c, i, j] =
        g[n, c].flat[indices[n, c, i, j]]

    Args:
        kernel_size, stride (default kernel_size), padding: those of the MaxPool2d it
            inverts; they set the default output size.

    forward(x, indices, output_size=None): x and indices (N, C, H, W) or (C, H, W), the
    indices as MaxPool2d(return_indices=True) gives them; output_size (OH, OW) (or with
    leading (N, C)) to pick among the sizes the pool could have come from.

    Shape: output (N, C, OH, OW), OH = (H - 1) sh - 2 ph + kh by default.
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self._k = F.pair(kernel_size, "kernel_size", minimum=1)
        self._s = self._k if stride is None else F.pair(stride, "stride", minimum=1)
        self._p = F.pair(padding, "padding", minimum=0)
        self.kernel_size, self.padding = self._k, self._p
        self.stride = self._s
        self._cache = None

    def _out_hw(self, in_hw, output_size) -> tuple[int, int]:
        default = tuple((in_hw[a] - 1) * self._s[a] - 2 * self._p[a] + self._k[a]
                        for a in (0, 1))
        if output_size is None:
            return default
        size = tuple(output_size)[-2:]
        if len(tuple(output_size)) not in (2, 3, 4) or not all(
                isinstance(v, (int, np.integer)) for v in size):
            raise ValueError(f"MaxUnpool2d: output_size must be (OH, OW) or end with them, got "
                             f"{output_size!r}")
        for a in (0, 1):
            if not default[a] - self._s[a] < size[a] < default[a] + self._s[a]:
                raise ValueError(f"MaxUnpool2d: invalid output_size {tuple(output_size)}: "
                                 f"each of (OH, OW) must lie strictly between "
                                 f"{tuple(d - s for d, s in zip(default, self._s))} and "
                                 f"{tuple(d + s for d, s in zip(default, self._s))}")
        return tuple(int(v) for v in size)

    def forward(self, input: np.ndarray, indices: np.ndarray, output_size=None) -> np.ndarray:
        name = f"MaxUnpool2d({self.kernel_size})"
        check_input(input, name, ndim=(3, 4), shape_doc="(N, C, H, W) or (C, H, W)")
        if not isinstance(indices, np.ndarray) or not np.issubdtype(indices.dtype, np.integer):
            raise TypeError(f"{name} expects integer indices (a numpy.ndarray) of shape "
                            f"{input.shape}, got "
                            f"{getattr(indices, 'dtype', type(indices).__name__)}")
        if indices.shape != input.shape:
            raise ValueError(f"{name} expects indices of the input's shape {input.shape}, got "
                             f"{indices.shape}")
        unbatched = input.ndim == 3
        x4, i4 = (input[None], indices[None]) if unbatched else (input, indices)  # (N, C, H, W)
        out_hw = self._out_hw(x4.shape[2:], output_size)
        if indices.size and (indices.min() < 0 or indices.max() >= out_hw[0] * out_hw[1]):
            bad = indices.min() if indices.min() < 0 else indices.max()
            raise ValueError(f"{name}: found an invalid max index {bad} (output planes are of "
                             f"size {out_hw[0]}x{out_hw[1]})")
        y = F.max_unpool2d_forward(x4, i4, out_hw)  # (N, C, OH, OW)
        self._cache = _UnpoolCache(i4, y.shape, unbatched)
        return y[0] if unbatched else y

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        i4, out_shape, unbatched = require_forward(self._cache, "MaxUnpool2d")
        check_grad(grad_out, out_shape[1:] if unbatched else out_shape, "MaxUnpool2d")
        if not input_grad:
            return None
        dx = F.max_unpool2d_backward(grad_out.reshape(out_shape), i4)
        return dx[0] if unbatched else dx

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveMaxPool2d(_AdaptivePool2d):
    """Largest value of each adaptive window, as `torch.nn.AdaptiveMaxPool2d`.

    The windows are AdaptiveAvgPool2d's: along an axis of input size S and output size O,
    window i covers floor(i S / O) .. ceil((i + 1) S / O) - 1. With upstream gradient
    g = dL/dout:

        out[n, c, i, j] = max of x[n, c, rows(i), cols(j)]
        dx[n, c, h*, w*] += g[n, c, i, j],  (h*, w*) the window's argmax

    Ties go to the first maximal element in row-major window order (a window holding
    NaN: its last NaN; a window of -inf: its first element), as torch's CPU kernel;
    overlapping windows add up where one element wins several. return_indices gives
    the winner's flat index h * W + w in its input plane (int64), as torch.

    Computed over gathered windows (scratch.functional.adaptive_max_pool2d_forward /
    _backward); scratch.functional.plain.adaptive_max_pool2d is the definition as loops.

    Args:
        output_size: int (square), or (OH, OW) with either entry None to keep the
            input's size along that axis.
        return_indices: also return the argmax indices (int64, the output's shape).

    Shape: (N, C, H, W) or (C, H, W) -> (N, C, OH, OW) (or (C, OH, OW)).
    """

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__(output_size)
        self.return_indices = bool(return_indices)

    def forward(self, input: np.ndarray):
        x4, unbatched, out_hw = self._input(input)  # (N, C, H, W)
        y, idx = F.adaptive_max_pool2d_forward(x4, out_hw)  # (N, C, OH, OW) each
        self._cache = _PoolCache(x4.shape, y.shape, unbatched, indices=idx)
        if unbatched:
            y, idx = y[0], idx[0]
        return (y, idx) if self.return_indices else y

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        g, cache = self._grad(grad_out)
        if not input_grad:
            return None
        dx = F.adaptive_max_pool2d_backward(g, cache.indices, cache.x_shape)  # (N, C, H, W)
        return dx[0] if cache.unbatched else dx


class _Pool1d:
    """A 2-D pool run on (N, C, 1, L) (or (C, 1, L)) with a (1, k) window, as Conv1d runs
    Conv2d's kernels: the input and the gradient gain the unit axis, the results lose it."""

    def forward(self, input: np.ndarray):
        check_input(input, self._name(), ndim=(2, 3), shape_doc="(N, C, L) or (C, L)")
        out = super().forward(input[..., None, :])  # (N, C, 1, OL)
        if isinstance(out, tuple):  # (output, indices): h = 0, so the index is w
            return tuple(o[..., 0, :] for o in out)
        return out[..., 0, :]

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        cache = require_forward(self._cache, self._name())
        n, c, _, length = cache.out_shape
        check_grad(grad_out, (c, length) if cache.unbatched else (n, c, length), self._name())
        dx = super().backward(grad_out[..., None, :], input_grad=input_grad)
        return None if dx is None else dx[..., 0, :]  # (N, C, L)


class MaxPool1d(_Pool1d, MaxPool2d):
    """Largest value of each window along L, as `torch.nn.MaxPool1d`: MaxPool2d with a
    (1, k) window on (N, C, 1, L).

        out[n, c, i] = max_p xp[n, c, s i + d p],   dx[n, c, s i + d p*] += g[n, c, i]

    xp the input padded with -inf, p* the window's first maximum (torch's tie rule, as
    MaxPool2d); return_indices gives its index along L.

    Args: kernel_size, stride (default kernel_size), padding (at most half the kernel),
    dilation, return_indices, ceil_mode: ints (or 1-tuples), as MaxPool2d's.

    Shape: (N, C, L) or (C, L) -> (N, C, OL), OL = (L + 2 p - d (k - 1) - 1) // s + 1
    (rounded up in ceil mode; scratch.functional.conv_output_size).
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False):
        k = F.single(kernel_size, "kernel_size", minimum=1)
        s = k if stride is None else F.single(stride, "stride", minimum=1)
        super().__init__((1, k), (1, s), (0, F.single(padding, "padding", minimum=0)),
                         (1, F.single(dilation, "dilation", minimum=1)), return_indices,
                         ceil_mode)
        # Kept as given, like torch's MaxPool1d; stride defaults to kernel_size.
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.dilation = padding, dilation


class AvgPool1d(_Pool1d, AvgPool2d):
    """Mean of each window along L, as `torch.nn.AvgPool1d`: AvgPool2d with a (1, k) window
    on (N, C, 1, L).

        out[n, c, i] = sum_p xp[n, c, s i + p] / D[i],   dx[n, c, s i + p] += g[n, c, i] / D[i]

    xp the input zero-padded, D[i] = k, or in ceil mode the last window clipped to the
    padded input, or without count_include_pad the window clipped to the input.

    Args: kernel_size, stride (default kernel_size), padding (at most half the kernel):
    ints or 1-tuples, stored as 1-tuples as torch stores them; ceil_mode,
    count_include_pad (default True).

    Shape: (N, C, L) or (C, L) -> (N, C, OL), OL = (L + 2 p - k) // s + 1 (rounded up in
    ceil mode).
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True):
        k = F.single(kernel_size, "kernel_size", minimum=1)
        s = k if stride is None else F.single(stride, "stride", minimum=1)
        p = F.single(padding, "padding", minimum=0)
        super().__init__((1, k), (1, s), (0, p), ceil_mode, count_include_pad)
        self.kernel_size, self.stride, self.padding = (k,), (s,), (p,)
