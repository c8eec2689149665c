"""Conv2d: the layer's arguments, parameters and cache; its im2col kernels live in
scratch.functional (conv2d_forward, conv2d_backward).
"""

from __future__ import annotations

import math

import numpy as np

from scratch import functional as F
from scratch import init
from scratch._checks import check_grad, check_input, check_window, require_forward
from scratch.module import Module, Parameter, check_float_dtype


class Conv2d(Module):
    """2-D convolution (cross-correlation, as every framework), as `torch.nn.Conv2d`.

    For input x (N, C_in, H, W), zero-padded by (ph, pw) to xp, and upstream gradient
    g = dL/dout:

        out(N_i, C_out_j) = bias(C_out_j) + sum_k weight(C_out_j, k) ⋆ input(N_i, k)

    with ⋆ 2-D cross-correlation at stride (sh, sw), element by element

        out[n, o, i, j] = bias[o] + sum_{c, p, q} weight[o, c, p, q] xp[n, c, sh i + p, sw j + q]

    and the gradients

        dweight[o, c, p, q] = sum_{n, i, j} g[n, o, i, j] xp[n, c, sh i + p, sw j + q]
        dbias[o]            = sum_{n, i, j} g[n, o, i, j]
        dxp[n, c, sh i + p, sw j + q] += sum_o g[n, o, i, j] weight[o, c, p, q]
                                         for every (i, j, p, q); dx = dxp without its padding

    Computed by im2col and one matmul (scratch.functional.conv2d_forward / _backward);
    scratch.functional.plain.conv2d is the formula above as loops.

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
        OH = (H + 2 ph - kh) // sh + 1 and OW likewise (scratch.functional.conv_output_size).

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
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 *, rng: np.random.Generator, dtype=np.float32):
        super().__init__()
        dt = check_float_dtype(dtype)
        # torch's positional order, so no argument binds to another parameter; the
        # ones not implemented yet are refused, never ignored.
        for name, value, default in (
                ("dilation", F.pair(dilation, "dilation", minimum=1), (1, 1)),
                ("groups", groups, 1), ("padding_mode", padding_mode, "zeros")):
            if value != default:
                raise NotImplementedError(f"Conv2d: {name}={value!r} is not implemented yet "
                                          f"(only {default!r})")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        if self.in_channels < 1 or self.out_channels < 1:
            raise ValueError(f"Conv2d needs in_channels and out_channels >= 1, got "
                             f"{in_channels} and {out_channels}")
        self.kernel_size = F.pair(kernel_size, "kernel_size", minimum=1)
        self.stride = F.pair(stride, "stride", minimum=1)
        self.padding = F.pair(padding, "padding", minimum=0)
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

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_input(x, self._name(), dtype=self.weight.dtype, ndim=(3, 4),
                    size=(-3, self.in_channels),
                    shape_doc=f"(N, {self.in_channels}, H, W) or ({self.in_channels}, H, W)")
        check_window(self._name(), x.shape, self.kernel_size, self.padding)
        unbatched = x.ndim == 3
        x4 = x[None] if unbatched else x  # (N, C, H, W)
        bias = None if self.bias is None else self.bias.data
        y, cols = F.conv2d_forward(x4, self.weight.data, bias, self.stride, self.padding)
        # Train mode keeps the columns for dW; eval mode keeps only x (no im2col copy held
        # alive during big-batch inference) and rebuilds them if backward is called anyway.
        self._cache = (x4, cols if self.training else None, unbatched, y.shape)
        return y[0] if unbatched else y  # (N, out, OH, OW)

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        x, cols, unbatched, out_shape = require_forward(self._cache, self._name())
        check_grad(grad_out, out_shape[1:] if unbatched else out_shape, self._name())
        dx, dweight, dbias = F.conv2d_backward(
            grad_out.reshape(out_shape), x, self.weight.data, self.stride, self.padding,
            cols=cols, input_grad=input_grad, bias_grad=self.bias is not None)
        self.weight.accumulate_grad(dweight)
        if dbias is not None:
            self.bias.accumulate_grad(dbias)
        if dx is None:
            return None
        return dx[0] if unbatched else dx  # (N, C, H, W)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.bias is None:
            s += ", bias=False"
        return s
