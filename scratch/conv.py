"""Conv1d and Conv2d: the layers' arguments, parameters and cache; the im2col kernels live in
scratch.functional (conv2d_forward, conv2d_backward), Conv1d runs them on (N, C, 1, L).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from scratch import functional as F
from scratch import init
from scratch._checks import check_grad, check_input, check_window, require_forward
from scratch.module import Module, Parameter, check_float_dtype

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvCache(NamedTuple):
    x: np.ndarray  # (N, C, H, W) as the kernels saw it: Conv1d's (N, C, 1, L), padded
    cols: tuple[np.ndarray, ...] | None  # conv2d_forward's columns (train mode only)
    unbatched: bool
    out_shape: tuple[int, ...]  # (N, out, OH, OW)


class _ConvNd(Module):
    """Shared plumbing of Conv1d and Conv2d: arguments as torch stores them, parameters, the
    padding, and the (N, C, H, W) view the 2-D kernels run on (Conv1d: H = 1)."""

    _dims = 2
    _shape_doc = "(N, C, H, W) or (C, H, W)"

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 *, rng: np.random.Generator, dtype=np.float32):
        super().__init__()
        dt = check_float_dtype(dtype)
        name = type(self).__name__
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        if self.in_channels < 1 or self.out_channels < 1:
            raise ValueError(f"{name} needs in_channels and out_channels >= 1, got "
                             f"{in_channels} and {out_channels}")
        if not isinstance(groups, (int, np.integer)) or groups < 1:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups!r}")
        if self.in_channels % groups or self.out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {PADDING_MODES}, got "
                             f"{padding_mode!r}")
        self.kernel_size = self._tuple(kernel_size, "kernel_size", 1)
        self.stride = self._tuple(stride, "stride", 1)
        self.dilation = self._tuple(dilation, "dilation", 1)
        self.groups = int(groups)
        self.padding_mode = padding_mode
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: invalid padding string {padding!r}, should be "
                                 f"'same' or 'valid'")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided "
                                 f"convolutions, got stride={stride!r}")
            self.padding = padding
            pads = [(0, 0)] * self._dims
            if padding == "same":  # torch: total d*(k - 1), the odd one on the right
                pads = [(d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)
                        for k, d in zip(self.kernel_size, self.dilation)]
        else:
            self.padding = self._tuple(padding, "padding", 0)
            pads = [(p, p) for p in self.padding]
        if self._dims == 1:
            pads = [(0, 0), *pads]
        # The 2-D view the kernels run on: (h, w) pairs, and the padding as four sides.
        self._k, self._s, self._d = (self._2d(v) for v in (self.kernel_size, self.stride,
                                                           self.dilation))
        self._sides = (*pads[0], *pads[1])  # (top, bottom, left, right)
        symmetric = pads[0][0] == pads[0][1] and pads[1][0] == pads[1][1]
        # zeros on both sides alike go into the im2col buffer (the default path); any
        # other padding is applied beforehand by F.pad and folded back by F.pad_backward
        self._kernel_pad = (pads[0][0], pads[1][0]) if (
            symmetric and padding_mode == "zeros") else None
        self._pad_mode = "constant" if padding_mode == "zeros" else padding_mode
        self.output_padding = (0,) * self._dims  # torch's convolutions all hold one
        self.weight = Parameter(np.empty(self._weight_shape(), dt))
        self.bias = Parameter(np.empty(self.out_channels, dt)) if bias else None
        self._cache = None
        self.reset_parameters(rng=rng)

    def _tuple(self, value, name: str, minimum: int) -> tuple[int, ...]:
        if self._dims == 1:
            return (F.single(value, name, minimum=minimum),)
        return F.pair(value, name, minimum=minimum)

    def _2d(self, t: tuple[int, ...]) -> tuple[int, int]:
        return (1, t[0]) if self._dims == 1 else t

    def _weight_shape(self) -> tuple[int, ...]:
        return (self.out_channels, self.in_channels // self.groups, *self.kernel_size)

    def reset_parameters(self, *, rng: np.random.Generator) -> None:
        # torch: kaiming_uniform_(a=sqrt(5)) == U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
        # fan_in = in_channels / groups * prod(kernel_size)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), rng=rng)
        if self.bias is not None:
            fan_in, _ = init.calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound, rng=rng)

    def _name(self) -> str:
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
                f"kernel_size={self.kernel_size})")

    def _as_4d(self, input: np.ndarray) -> tuple[np.ndarray, bool]:
        """The checked input as the kernels' (N, C, H, W) (Conv1d: (N, C, 1, L)), and
        whether it came unbatched."""
        d = self._dims
        check_input(input, self._name(), dtype=self.weight.dtype, ndim=(d + 1, d + 2),
                    size=(-d - 1, self.in_channels),
                    shape_doc=self._shape_doc.replace("C", str(self.in_channels)))
        unbatched = input.ndim == d + 1
        x4 = input[None] if unbatched else input  # (N, C, H, W) or (N, C, L)
        return (x4[:, :, None, :] if d == 1 else x4), unbatched  # (N, C, H, W)

    def _from_4d(self, a: np.ndarray, unbatched: bool) -> np.ndarray:
        """A kernel's (N, C, H, W) result in the caller's layout (the inverse of _as_4d)."""
        if self._dims == 1:
            a = a[:, :, 0]  # (N, C, L)
        return a[0] if unbatched else a

    def forward(self, input: np.ndarray) -> np.ndarray:
        x4, unbatched = self._as_4d(input)  # (N, C, H, W)
        check_window(self._name(), x4.shape, self._k, self._sides, self._d)
        if self._kernel_pad is None:
            x4 = F.pad(x4, self._sides, mode=self._pad_mode)  # (N, C, Hp, Wp)
        bias = None if self.bias is None else self.bias.data
        w4 = self.weight.data.reshape(self.out_channels, -1, *self._k)  # (out, C/G, kh, kw)
        y, cols = F.conv2d_forward(x4, w4, bias, self._s, self._kernel_pad or (0, 0),
                                   dilation=self._d, groups=self.groups)
        # Train mode keeps the columns for dW; eval mode keeps only the input (no im2col copy held
        # alive during big-batch inference) and rebuilds them if backward is called anyway.
        self._cache = _ConvCache(x4, cols if self.training else None, unbatched, y.shape)
        return self._from_4d(y, unbatched)  # (N, out, OH, OW)

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        x, cols, unbatched, out_shape = require_forward(self._cache, self._name())
        expected = out_shape if self._dims == 2 else out_shape[:2] + out_shape[3:]
        check_grad(grad_out, expected[1:] if unbatched else expected, self._name())
        w4 = self.weight.data.reshape(*self.weight.shape[:2], *self._k)  # (out, C/G, kh, kw)
        grads = self._grads(grad_out.reshape(out_shape), x, w4, cols, input_grad)
        self.weight.accumulate_grad(grads.weight)
        if grads.bias is not None:
            self.bias.accumulate_grad(grads.bias)
        if grads.input is None:
            return None
        dx = grads.input  # (N, C, Hp, Wp)
        if self._kernel_pad is None:
            dx = F.pad_backward(dx, self._sides, mode=self._pad_mode)  # (N, C, H, W)
        return self._from_4d(dx, unbatched)

    def _grads(self, grad_out, x, w4, cols, input_grad: bool):
        """The kernel's gradients (input, weight, bias) for the 4-D grad_out and input."""
        return F.conv2d_backward(
            grad_out, x, w4, self._s, self._kernel_pad or (0, 0), dilation=self._d,
            groups=self.groups, cols=cols, input_grad=input_grad,
            bias_grad=self.bias is not None)

    def extra_repr(self) -> str:
        # torch's _ConvNd.extra_repr
        n = self._dims
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    """2-D convolution (cross-correlation, as every framework), as `torch.nn.Conv2d`.

    For input x (N, C_in, H, W) padded to xp (zeros by (ph, pw) on each side, or as
    padding / padding_mode say), groups G, and upstream gradient g = dL/dout:

        out[n, o, i, j] = bias[o] + sum_{c, p, q} weight[o, c, p, q]
                                    * xp[n, G(o) + c, sh i + dh p, sw j + dw q]

    with c over the C_in / G input channels of output channel o's group, which start
    at G(o) = (o // (C_out / G)) * C_in / G, and the gradients

        dweight[o, c, p, q] = sum_{n, i, j} g[n, o, i, j] xp[n, G(o) + c, sh i + dh p, sw j + dw q]
        dbias[o]            = sum_{n, i, j} g[n, o, i, j]
        dxp[n, G(o) + c, sh i + dh p, sw j + dw q] += g[n, o, i, j] weight[o, c, p, q]
                                         for every (o, i, j, p, q)

    and dx = dxp sent back through the padding (zeros: the interior; reflect,
    replicate, circular: each border element's gradient added onto the element it
    copied). Computed by im2col and one matmul per group (scratch.functional.conv2d_forward
    / _backward); scratch.functional.plain.conv2d is the formula above as loops.

    Args:
        in_channels: C_in, channels of the input.
        out_channels: C_out, number of filters.
        kernel_size: int or (kh, kw).
        stride: int or (sh, sw), default 1.
        padding: int or (ph, pw) added on each side, default 0; or 'valid' (none) or
            'same' (output size = input size, stride 1 only: d (k - 1) in all, the odd
            one at the bottom / right, as torch).
        dilation: int or (dh, dw), spacing of the kernel's elements, default 1.
        groups: G; input and output channels split into G groups, each convolved
            separately (G = C_in: depthwise). Both channel counts divisible by G.
        bias: if False, no additive per-channel bias.
        padding_mode: 'zeros' (default), 'reflect', 'replicate' or 'circular'.
        rng: Generator for the initial weights (keyword only, required).
        dtype: float32 (default) or float64.

    Shape:
        input (N, C_in, H, W) or unbatched (C_in, H, W) -> output (N, C_out, OH, OW), with
        OH = (H + pt + pb - dh (kh - 1) - 1) // sh + 1 and OW likewise
        (scratch.functional.conv_output_size).

    Attributes:
        weight: (C_out, C_in / G, kh, kw), init U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
            fan_in = C_in / G * kh * kw (torch's kaiming_uniform_ with a=sqrt(5)).
        bias: (C_out,), same distribution.

    Example:
        >>> m = Conv2d(1, 8, 3, padding=1, rng=np.random.default_rng(0))
        >>> m(np.zeros((16, 1, 28, 28), np.float32)).shape
        (16, 8, 28, 28)
    """


class Conv1d(_ConvNd):
    """1-D convolution, as `torch.nn.Conv1d`: Conv2d's math on (N, C, 1, L) with a (1, k)
    kernel, so every argument means what it means there, along L only.

        out[n, o, i] = bias[o] + sum_{c, p} weight[o, c, p] xp[n, G(o) + c, s i + d p]

    Args: as Conv2d, each an int or a tuple of one int (padding also 'same' / 'valid').

    Shape:
        input (N, C_in, L) or unbatched (C_in, L) -> output (N, C_out, OL),
        OL = (L + 2 p - d (k - 1) - 1) // s + 1.

    Attributes:
        weight: (C_out, C_in / G, k); bias: (C_out,); torch's initialisation.
    """

    _dims = 1
    _shape_doc = "(N, C, L) or (C, L)"
