"""ConvTranspose1d and ConvTranspose2d: the layers' arguments, parameters and cache; the math is
scratch.functional's conv_transpose2d_forward / _backward, which run the convolution's own
kernels (a transposed convolution is the input gradient of a convolution).
"""

from __future__ import annotations

import numpy as np

from scratch import functional as F
from scratch.conv import _ConvCache, _ConvNd


class _ConvTransposeNd(_ConvNd):
    """Shared plumbing of ConvTranspose1d and ConvTranspose2d: _ConvNd's arguments in torch's
    transposed order, output_padding, the weight as (in, out / groups, *kernel)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", *, rng: np.random.Generator, dtype=np.float32):
        name = type(self).__name__
        if padding_mode != "zeros":  # torch's words
            raise ValueError(f'Only "zeros" padding mode is supported for {name}, got '
                             f"padding_mode={padding_mode!r}")
        if isinstance(padding, str):
            raise ValueError(f"{name}: padding must be an int or a tuple of ints (the rows cut "
                             f"from each side of the output), got {padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, rng=rng, dtype=dtype)
        self.output_padding = self._tuple(output_padding, "output_padding", 0)

    def _weight_shape(self) -> tuple[int, ...]:
        return (self.in_channels, self.out_channels // self.groups, *self.kernel_size)

    def _output_padding(self, input: np.ndarray, output_size) -> tuple[int, ...]:
        """output_padding, or the one that gives `output_size` (torch's _output_padding:
        the spatial sizes, optionally led by N and C; each in [min, min + stride - 1])."""
        d, name = self._dims, type(self).__name__
        if output_size is None:
            for op, s, dil in zip(self.output_padding, self.stride, self.dilation):
                if op >= s and op >= dil:
                    raise ValueError(
                        f"{name}: output_padding must be smaller than either stride or "
                        f"dilation, got output_padding={self.output_padding}, "
                        f"stride={self.stride}, dilation={self.dilation}")
            return self.output_padding
        size = [int(v) for v in output_size]
        leading = input.ndim - d  # N and C, or C alone
        if len(size) == leading + d:
            size = size[leading:]
        if len(size) != d:
            raise ValueError(f"ConvTranspose{d}D: for {input.ndim}D input, output_size must "
                             f"have {d} or {leading + d} elements (got {len(size)})")
        low = [F.conv_transpose_output_size(n, k, s, p, 0, dil) for n, k, s, p, dil in zip(
            input.shape[leading:], self.kernel_size, self.stride, self.padding, self.dilation)]
        high = [m + s - 1 for m, s in zip(low, self.stride)]
        if any(not lo <= v <= hi for v, lo, hi in zip(size, low, high)):
            raise ValueError(
                f"{name}: requested an output size of {tuple(size)}, but no output_padding "
                f"reaches it: valid sizes range from {tuple(low)} to {tuple(high)} (for an "
                f"input of {tuple(input.shape[leading:])})")
        return tuple(v - lo for v, lo in zip(size, low))

    def forward(self, input: np.ndarray, output_size=None) -> np.ndarray:
        x4, unbatched = self._as_4d(input)  # (N, C_in, H, W)
        op = self._output_padding(input, output_size)
        op2 = (0, *op) if self._dims == 1 else op
        out_hw = [F.conv_transpose_output_size(n, k, s, p, o, d) for n, k, s, p, o, d in zip(
            x4.shape[2:], self._k, self._s, self._kernel_pad, op2, self._d)]
        if min(out_hw) < 1:
            raise ValueError(
                f"{self._name()}: an input of {tuple(input.shape[input.ndim - self._dims:])} "
                f"gives an output of {tuple(out_hw[2 - self._dims:])}: too small; it needs "
                f"less padding or a larger input")
        bias = None if self.bias is None else self.bias.data
        w4 = self.weight.data.reshape(*self.weight.shape[:2], *self._k)  # (in, out/G, kh, kw)
        y = F.conv_transpose2d_forward(x4, w4, bias, self._s, self._kernel_pad, op2,
                                       dilation=self._d, groups=self.groups)
        # backward needs only the input: no columns (they are of the upstream gradient)
        self._cache = _ConvCache(x4, None, unbatched, y.shape)
        return self._from_4d(y, unbatched)  # (N, C_out, OH, OW)

    def _grads(self, grad_out, x, w4, cols, input_grad: bool):
        return F.conv_transpose2d_backward(
            grad_out, x, w4, self._s, self._kernel_pad, dilation=self._d, groups=self.groups,
            input_grad=input_grad, bias_grad=self.bias is not None)


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution, as `torch.nn.ConvTranspose2d`: the adjoint of Conv2d's
    input, so each input pixel scatters the kernel, scaled by its value, onto the output.

    For input x (N, C_in, H, W), groups G (Co = C_out / G output channels per group, input
    channel c in group g(c) = c // (C_in / G)) and upstream gradient g = dL/dout:

        full[n, g(c) Co + o, sh i + dh p, sw j + dw q] += x[n, c, i, j] weight[c, o, p, q]
        out = full[:, :, ph:ph + OH, pw:pw + OW] + bias[o]

    (full has output_padding more rows / columns at the bottom / right, which no pixel
    reaches), and, gfull = g zero-padded by (ph, pw),

        dx[n, c, i, j]      = sum_{o, p, q} gfull[n, g(c) Co + o, sh i + dh p, sw j + dw q]
                                            weight[c, o, p, q]   (Conv2d's forward of g)
        dweight[c, o, p, q] = sum_{n, i, j} x[n, c, i, j]
                                            gfull[n, g(c) Co + o, sh i + dh p, sw j + dw q]
        dbias[o]            = sum_{n, h, w} g[n, o, h, w]

    Computed by Conv2d's kernels (scratch.functional.conv_transpose2d_forward / _backward);
    scratch.functional.plain.conv_transpose2d is the scatter above as loops.

    Args:
        in_channels, out_channels: C_in, C_out.
        kernel_size: int or (kh, kw).
        stride: int or (sh, sw), default 1: the spacing of the scattered kernels.
        padding: int or (ph, pw), default 0: rows / columns cut from each side of the full
            output (the padding of the convolution this one is the adjoint of).
        output_padding: int or pair, default 0: rows / columns added at the bottom / right,
            each smaller than the stride or the dilation (stride > 1 leaves OH ambiguous).
        groups: G; channel counts divisible by G.
        bias: if False, no additive per-channel bias.
        dilation: int or (dh, dw), the spacing of the kernel's elements, default 1.
        padding_mode: 'zeros' only, as torch.
        rng: Generator for the initial weights (keyword only, required).
        dtype: float32 (default) or float64.

    forward(input, output_size=None): output_size, (OH, OW) or (N, C_out, OH, OW), picks
    the output_padding that gives it, which must lie in [0, stride - 1]; otherwise a
    ValueError names the requested size and the range of reachable ones.

    Shape:
        input (N, C_in, H, W) or unbatched (C_in, H, W) -> output (N, C_out, OH, OW),
        OH = (H - 1) sh - 2 ph + dh (kh - 1) + output_padding_h + 1 and OW likewise
        (scratch.functional.conv_transpose_output_size).

    Attributes:
        weight: (C_in, C_out / G, kh, kw), init U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
            fan_in = C_out / G * kh * kw (torch's kaiming_uniform_ with a=sqrt(5) on this
            shape).
        bias: (C_out,), same distribution.

    Example:
        >>> m = ConvTranspose2d(8, 1, 4, stride=2, padding=1, rng=np.random.default_rng(0))
        >>> m(np.zeros((16, 8, 14, 14), np.float32)).shape
        (16, 1, 28, 28)
    """


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution, as `torch.nn.ConvTranspose1d`: ConvTranspose2d's math on
    (N, C, 1, L) with a (1, k) kernel, so every argument means what it means there, along L.

        full[n, g(c) Co + o, s i + d p] += x[n, c, i] weight[c, o, p]
        out = full[:, :, pad:pad + OL] + bias[o]

    Args: as ConvTranspose2d, each an int or a tuple of one int.

    Shape:
        input (N, C_in, L) or unbatched (C_in, L) -> output (N, C_out, OL),
        OL = (L - 1) s - 2 pad + d (k - 1) + output_padding + 1.

    Attributes:
        weight: (C_in, C_out / G, k); bias: (C_out,); torch's initialisation.
    """

    _dims = 1
    _shape_doc = "(N, C, L) or (C, L)"
