"""The transposed convolution: the adjoint of conv2d in its input, run on conv2d's own kernels.

For a weight W (C_in, C_out/G, kh, kw) read as a convolution from C_out to C_in
channels, conv_transpose2d(x, W) is that convolution's input gradient with x as
the upstream gradient. So there is no engine here:

    forward       y  = conv2d_input_grad(x, W)        (W2.T @ x's columns, col2im)
    input grad    dx = conv2d(g, W)                   (im2col of g, one matmul)
    weight grad   dW = conv2d's weight grad with x as its upstream gradient and g as its
                       input: x2 @ cols(g).T, the columns backward built for dx
    bias grad     db = g summed over (n, h, w)

each through scratch.functional.conv (groups, dilation, batch chunks).
scratch.functional.plain.conv_transpose2d is the definition as a loop over input
pixels, each scattering its kernel onto the output.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scratch.functional.batchnorm import channel_sum
from scratch.functional.conv import (
    _sample_bytes,
    batch_chunks,
    conv2d_backward,
    conv2d_forward,
    conv2d_input_grad,
)
from scratch.functional.shapes import conv_output_size


def conv_transpose_output_size(size: int, kernel: int, stride: int, padding: int,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """torch's output size of a transposed convolution along one axis:

        out = (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1

    the largest input of the matching convolution whose output has `size` elements, less
    the stride - 1 rows a stride may leave over, plus output_padding of them back.
    """
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def conv_transpose2d_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                             stride: tuple[int, int], padding: tuple[int, int],
                             output_padding: tuple[int, int] = (0, 0), *,
                             dilation: tuple[int, int] = (1, 1), groups: int = 1
                             ) -> np.ndarray:
    """y = conv_transpose2d(x): each input pixel scatters its kernel onto the output,

        y[n, G(c) + o, sh i + dh p - ph, sw j + dw q - pw] += x[n, c, i, j] weight[c, o, p, q]

    (plus bias[o]), computed as conv2d's input gradient, batch chunk by batch chunk.
    Backward needs only x and the weight, which the caller holds: no cache.

    Args:
        x: (N, C_in, H, W); weight: (C_in, C_out/groups, kh, kw); bias: (C_out,) or None.
        padding: rows / columns cut from each side of the full output.
        output_padding: rows / columns added at the bottom / right (zeros plus bias).
    Returns:
        y (N, C_out, OH, OW), contiguous; OH = conv_transpose_output_size(H, ...) and OW alike.
    """
    n, _, h, w = x.shape
    out_hw = tuple(conv_transpose_output_size(size, k, s, p, op, d) for size, k, s, p, op, d
                   in zip((h, w), weight.shape[2:], stride, padding, output_padding, dilation))
    c_out = weight.shape[1] * groups
    y = np.empty((n, c_out, *out_hw), np.result_type(x, weight))  # (N, C_out, OH, OW)
    for s in batch_chunks(n, _sample_bytes(weight, groups, h * w, y.itemsize)):
        y[s] = conv2d_input_grad(x[s], weight, out_hw, stride, padding, dilation=dilation,
                                 groups=groups)  # (n, C_out, OH, OW)
    if bias is not None:
        y += bias[:, None, None]
    return y


class ConvTranspose2dGrads(NamedTuple):
    """The gradients of `conv_transpose2d_forward`, each a fresh array; None where not asked."""

    input: np.ndarray | None  # (N, C_in, H, W)
    weight: np.ndarray  # (C_in, C_out/groups, kh, kw)
    bias: np.ndarray | None  # (C_out,)


def conv_transpose2d_backward(grad_out: np.ndarray, x: np.ndarray, weight: np.ndarray,
                              stride: tuple[int, int], padding: tuple[int, int], *,
                              dilation: tuple[int, int] = (1, 1), groups: int = 1,
                              input_grad: bool = True, bias_grad: bool = True
                              ) -> ConvTranspose2dGrads:
    """Gradients of conv_transpose2d_forward, g = grad_out (N, C_out, OH, OW):

        dx[n, c, i, j]    = sum_{o, p, q} g[n, G(c) + o, sh i + dh p - ph, sw j + dw q - pw]
                                          weight[c, o, p, q]                 (= conv2d(g, W))
        dweight[c, o, p, q] = sum_{n, i, j} x[n, c, i, j]
                                            g[n, G(c) + o, sh i + dh p - ph, sw j + dw q - pw]
        dbias[o]          = sum_{n, h, w} g[n, o, h, w]

    with g read as zero outside the output. The columns of g are built once: for dx (by
    conv2d_forward) and reused for dweight (by conv2d_backward), or built for dweight alone
    when input_grad is False.
    """
    n, _, h, w = x.shape
    # conv2d(g) reaches H + output_padding // stride rows: more than H only where
    # output_padding >= stride (allowed below the dilation). x is 0 at those extra rows.
    reach = tuple(conv_output_size(size, k, s, p, d) for size, k, s, p, d
                  in zip(grad_out.shape[2:], weight.shape[2:], stride, padding, dilation))
    xg = x if reach == (h, w) else np.pad(
        x, ((0, 0), (0, 0), (0, reach[0] - h), (0, reach[1] - w)))  # (N, C_in, RH, RW)
    dx = cols = None
    if input_grad:
        dx, cols = conv2d_forward(grad_out, weight, None, stride, padding, dilation=dilation,
                                  groups=groups)  # (N, C_in, RH, RW)
        dx = dx[:, :, :h, :w]  # (N, C_in, H, W)
    dweight = conv2d_backward(xg, grad_out, weight, stride, padding, dilation=dilation,
                              groups=groups, cols=cols, input_grad=False,
                              bias_grad=False).weight  # (C_in, C_out/G, kh, kw)
    dbias = channel_sum(grad_out.reshape(n, grad_out.shape[1], -1)) if bias_grad else None
    return ConvTranspose2dGrads(dx, dweight, dbias)
