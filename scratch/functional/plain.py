"""The layers written straight from their definitions: loops over output positions, plain NumPy.

Slow, and kept for that: each function is the formula of its layer's docstring
and of torch's documentation, line by line, so the fast kernels beside it
(conv.py, pool.py, batchnorm.py) can be tested against something a reader
checks by eye. Inputs are (N, C, H, W) (batch norm: (N, C, L)); kernel,
stride and padding are (h, w) pairs.
"""

from __future__ import annotations

import numpy as np

from scratch.functional.shapes import conv_output_size


def _out_hw(x_shape, kernel, stride, padding) -> tuple[int, int]:
    return (conv_output_size(x_shape[2], kernel[0], stride[0], padding[0]),
            conv_output_size(x_shape[3], kernel[1], stride[1], padding[1]))


def _pad(x: np.ndarray, padding, value=0.0) -> np.ndarray:
    (ph, pw) = padding
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _window(i: int, j: int, kernel, stride) -> tuple[slice, slice, slice, slice]:
    """Index of window (i, j): rows sh*i .. sh*i + kh - 1, columns sw*j .. sw*j + kw - 1."""
    (kh, kw), (sh, sw) = kernel, stride
    return np.s_[:, :, sh * i:sh * i + kh, sw * j:sw * j + kw]


def conv2d(x, weight, bias, stride, padding) -> np.ndarray:
    """out[n, o, i, j] = bias[o] + sum_{c, p, q} weight[o, c, p, q] * xp[n, c, sh*i + p, sw*j + q],
    xp the input zero-padded by (ph, pw)."""
    kernel = weight.shape[2:]
    oh, ow = _out_hw(x.shape, kernel, stride, padding)
    xp = _pad(x, padding)  # (N, C, Hp, Wp)
    y = np.zeros((x.shape[0], weight.shape[0], oh, ow), x.dtype)  # (N, out, OH, OW)
    for i in range(oh):
        for j in range(ow):
            patch = xp[_window(i, j, kernel, stride)]  # (N, C, kh, kw)
            y[:, :, i, j] = np.einsum("ncpq,ocpq->no", patch, weight)
    if bias is not None:
        y += bias[None, :, None, None]
    return y


def conv2d_backward(grad_out, x, weight, stride, padding):
    """(dx, dweight, dbias) of conv2d for upstream gradient g = grad_out (N, out, OH, OW):

        dweight[o, c, p, q] = sum_{n, i, j} g[n, o, i, j] * xp[n, c, sh*i + p, sw*j + q]
        dbias[o]            = sum_{n, i, j} g[n, o, i, j]
        dxp[n, c, sh*i + p, sw*j + q] += sum_o g[n, o, i, j] * weight[o, c, p, q]
    """
    kernel = weight.shape[2:]
    (ph, pw), (h, w) = padding, x.shape[2:]
    xp = _pad(x, padding)  # (N, C, Hp, Wp)
    dxp = np.zeros_like(xp)  # (N, C, Hp, Wp)
    dweight = np.zeros_like(weight)  # (out, C, kh, kw)
    for i in range(grad_out.shape[2]):
        for j in range(grad_out.shape[3]):
            g = grad_out[:, :, i, j]  # (N, out)
            win = _window(i, j, kernel, stride)
            dweight += np.einsum("no,ncpq->ocpq", g, xp[win])
            dxp[win] += np.einsum("no,ocpq->ncpq", g, weight)
    dbias = grad_out.sum(axis=(0, 2, 3))  # (out,)
    return dxp[:, :, ph:ph + h, pw:pw + w], dweight, dbias


def max_pool2d(x, kernel, stride, padding) -> np.ndarray:
    """out[n, c, i, j] = max_{p, q} xp[n, c, sh*i + p, sw*j + q], xp padded with -inf."""
    oh, ow = _out_hw(x.shape, kernel, stride, padding)
    xp = _pad(x, padding, -np.inf)  # (N, C, Hp, Wp)
    y = np.empty((*x.shape[:2], oh, ow), x.dtype)  # (N, C, OH, OW)
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = xp[_window(i, j, kernel, stride)].max(axis=(2, 3))
    return y


def max_pool2d_backward(grad_out, x, kernel, stride, padding) -> np.ndarray:
    """dx: each window's gradient g[n, c, i, j], all of it to the window's maximum.

    Ties go to the first maximum in row-major window order (np.argmax's rule), a window
    holding NaN to its last NaN: torch's CPU rule. Overlapping windows add up.
    """
    (ph, pw), (h, w) = padding, x.shape[2:]
    xp = _pad(x, padding, -np.inf)  # (N, C, Hp, Wp)
    dxp = np.zeros_like(xp)  # (N, C, Hp, Wp)
    n, c = x.shape[:2]
    for i in range(grad_out.shape[2]):
        for j in range(grad_out.shape[3]):
            win = _window(i, j, kernel, stride)
            flat = xp[win].reshape(n, c, -1)  # (N, C, kh*kw), row-major window order
            nan = np.isnan(flat)
            last_nan = flat.shape[2] - 1 - nan[:, :, ::-1].argmax(axis=2)  # (N, C)
            k = np.where(nan.any(axis=2), last_nan, flat.argmax(axis=2))  # (N, C)
            dflat = np.zeros_like(flat)  # (N, C, kh*kw)
            np.put_along_axis(dflat, k[:, :, None], grad_out[:, :, i, j, None], axis=2)
            dxp[win] += dflat.reshape(xp[win].shape)
    return dxp[:, :, ph:ph + h, pw:pw + w]


def avg_pool2d(x, kernel, stride, padding) -> np.ndarray:
    """out[n, c, i, j] = sum_{p, q} xp[n, c, sh*i + p, sw*j + q] / (kh * kw), xp zero-padded."""
    oh, ow = _out_hw(x.shape, kernel, stride, padding)
    xp = _pad(x, padding)  # (N, C, Hp, Wp)
    y = np.empty((*x.shape[:2], oh, ow), x.dtype)  # (N, C, OH, OW)
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = xp[_window(i, j, kernel, stride)].sum(axis=(2, 3)) / (
                kernel[0] * kernel[1])
    return y


def avg_pool2d_backward(grad_out, x, kernel, stride, padding) -> np.ndarray:
    """dxp[n, c, sh*i + p, sw*j + q] += g[n, c, i, j] / (kh * kw), for every window element."""
    (ph, pw), (h, w) = padding, x.shape[2:]
    dxp = np.zeros_like(_pad(x, padding))  # (N, C, Hp, Wp)
    for i in range(grad_out.shape[2]):
        for j in range(grad_out.shape[3]):
            share = grad_out[:, :, i, j] / (kernel[0] * kernel[1])  # (N, C)
            dxp[_window(i, j, kernel, stride)] += share[:, :, None, None]
    return dxp[:, :, ph:ph + h, pw:pw + w]


def batch_norm(x, weight, bias, eps, running=None) -> np.ndarray:
    """y = (x - mean) / sqrt(var + eps) * weight + bias, per channel of x (N, C, L).

    mean and var are the batch's (biased variance) over N and L, or running = (mean, var).
    """
    mean, var = (x.mean(axis=(0, 2)), x.var(axis=(0, 2))) if running is None else running
    xhat = (x - mean[:, None]) / np.sqrt(var[:, None] + eps)  # (N, C, L)
    if weight is not None:
        xhat = xhat * weight[:, None]
    return xhat + bias[:, None] if bias is not None else xhat


def batch_norm_backward(grad_out, x, weight, eps, running=None):
    """(dx, dweight, dbias) of batch_norm, by the chain rule through mean and var:

        dxhat = g * weight,  dweight = sum(g * xhat),  dbias = sum(g)     (sums over N, L)
        dvar  = sum(dxhat * (x - mean)) * -(var + eps)^(-3/2) / 2
        dmean = -sum(dxhat) / sqrt(var + eps)      (the dvar term vanishes: sum(x - mean) = 0)
        dx    = dxhat / sqrt(var + eps) + dvar * 2 (x - mean) / m + dmean / m,  m = N * L

    With running statistics, mean and var are constants: dx = dxhat / sqrt(var + eps).
    """
    mean, var = (x.mean(axis=(0, 2)), x.var(axis=(0, 2))) if running is None else running
    std = np.sqrt(var + eps)[:, None]  # (C, 1)
    xc = x - mean[:, None]  # (N, C, L)
    dweight = (grad_out * xc / std).sum(axis=(0, 2))  # (C,)
    dbias = grad_out.sum(axis=(0, 2))  # (C,)
    dxhat = grad_out * weight[:, None] if weight is not None else grad_out  # (N, C, L)
    if running is not None:
        return dxhat / std, dweight, dbias
    m = x.shape[0] * x.shape[2]
    dvar = (dxhat * xc).sum(axis=(0, 2))[:, None] * -0.5 * std**-3  # (C, 1)
    dmean = -dxhat.sum(axis=(0, 2))[:, None] / std  # (C, 1)
    return dxhat / std + dvar * 2 * xc / m + dmean / m, dweight, dbias


def erf(x) -> np.ndarray:
    """math.erf of every element, in float64: the specification of functional.erf."""
    import math

    x = np.asarray(x, np.float64)
    return np.array([math.erf(v) for v in x.reshape(-1)], np.float64).reshape(x.shape)
