"""The layers written straight from their definitions: loops over output positions, plain NumPy.

Slow, and kept for that: each function is the formula of its layer's docstring
and of torch's documentation, line by line, so the fast kernels beside it
(conv.py, pool.py, batchnorm.py, recurrent.py) can be tested against something a
reader checks by eye. Inputs are (N, C, H, W) (batch norm: (N, C, L)); kernel,
stride, padding and dilation are (h, w) pairs. The pools visit only the window's
taps that lie inside the input, as torch's CPU kernels do, instead of padding.
The recurrent layers (one direction of one layer) take x (L, N, in) and walk it
one step at a time, backward by the chain rule through each step in reverse.
"""

from __future__ import annotations

import numpy as np

from scratch.functional.activation import sigmoid
from scratch.functional.recurrent import RecurrentGrads
from scratch.functional.shapes import conv_output_size


def _out_hw(x_shape, kernel, stride, padding, dilation=(1, 1), ceil_mode=False
            ) -> tuple[int, int]:
    return tuple(conv_output_size(x_shape[2 + a], kernel[a], stride[a], padding[a],
                                  dilation[a], ceil_mode) for a in (0, 1))


def _pad(x: np.ndarray, padding, value=0.0) -> np.ndarray:
    (ph, pw) = padding
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _taps(i: int, j: int, kernel, stride, padding, dilation, shape):
    """The input positions (h, w) of window (i, j) that lie inside the (H, W) input, in
    row-major window order: h = sh*i + dh*p - ph, w = sw*j + dw*q - pw."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    return [(sh * i + dh * p - ph, sw * j + dw * q - pw)
            for p in range(kh) for q in range(kw)
            if 0 <= sh * i + dh * p - ph < shape[2] and 0 <= sw * j + dw * q - pw < shape[3]]


def conv2d(x, weight, bias, stride, padding, dilation=(1, 1), groups=1) -> np.ndarray:
    """out[n, o, i, j] = bias[o] + sum_{c, p, q} weight[o, c, p, q] * xp[n, g*Cg + c, sh*i + dh*p,
    sw*j + dw*q], xp the input zero-padded by (ph, pw), g = o // (out / groups) the group of
    output channel o and Cg = C / groups its input channels."""
    kernel = weight.shape[2:]
    oh, ow = _out_hw(x.shape, kernel, stride, padding, dilation)
    xp = _pad(x, padding)  # (N, C, Hp, Wp)
    out, cg = weight.shape[:2]
    y = np.zeros((x.shape[0], out, oh, ow), x.dtype)  # (N, out, OH, OW)
    for o in range(out):
        g = o // (out // groups)
        for i in range(oh):
            for j in range(ow):
                for p in range(kernel[0]):
                    for q in range(kernel[1]):
                        h, w = stride[0] * i + dilation[0] * p, stride[1] * j + dilation[1] * q
                        y[:, o, i, j] += xp[:, g * cg:(g + 1) * cg, h, w] @ weight[o, :, p, q]
    if bias is not None:
        y += bias[None, :, None, None]
    return y


def conv2d_backward(grad_out, x, weight, stride, padding, dilation=(1, 1), groups=1):
    """(dx, dweight, dbias) of conv2d for upstream gradient g = grad_out (N, out, OH, OW):

        dweight[o, c, p, q] = sum_{n, i, j} g[n, o, i, j]
                                            * xp[n, g*Cg + c, sh*i + dh*p, sw*j + dw*q]
        dbias[o]            = sum_{n, i, j} g[n, o, i, j]
        dxp[n, g*Cg + c, sh*i + dh*p, sw*j + dw*q] += g[n, o, i, j] * weight[o, c, p, q]
    """
    kernel = weight.shape[2:]
    (ph, pw), (h, w) = padding, x.shape[2:]
    xp = _pad(x, padding)  # (N, C, Hp, Wp)
    dxp = np.zeros_like(xp)  # (N, C, Hp, Wp)
    dweight = np.zeros_like(weight)  # (out, Cg, kh, kw)
    out, cg = weight.shape[:2]
    for o in range(out):
        grp = slice((o // (out // groups)) * cg, (o // (out // groups) + 1) * cg)
        for i in range(grad_out.shape[2]):
            for j in range(grad_out.shape[3]):
                g = grad_out[:, o, i, j]  # (N,)
                for p in range(kernel[0]):
                    for q in range(kernel[1]):
                        r, c = stride[0] * i + dilation[0] * p, stride[1] * j + dilation[1] * q
                        dweight[o, :, p, q] += g @ xp[:, grp, r, c]
                        dxp[:, grp, r, c] += g[:, None] * weight[o, :, p, q]
    dbias = grad_out.sum(axis=(0, 2, 3))  # (out,)
    return dxp[:, :, ph:ph + h, pw:pw + w], dweight, dbias


def max_pool2d(x, kernel, stride, padding, dilation=(1, 1), ceil_mode=False) -> np.ndarray:
    """out[n, c, i, j] = max over the window's taps inside the input (`_taps`) of x[n, c, h, w];
    padding never wins, as if it were -inf."""
    oh, ow = _out_hw(x.shape, kernel, stride, padding, dilation, ceil_mode)
    y = np.empty((*x.shape[:2], oh, ow), x.dtype)  # (N, C, OH, OW)
    for i in range(oh):
        for j in range(ow):
            taps = _taps(i, j, kernel, stride, padding, dilation, x.shape)
            y[:, :, i, j] = np.stack([x[:, :, h, w] for h, w in taps]).max(axis=0)
    return y


def _winners(x, kernel, stride, padding, dilation, ceil_mode):
    """For each window (i, j) and (n, c), the tap torch's CPU kernel keeps: the first
    with val > max or val NaN, scanning the taps in row-major order (so ties go to the
    first maximum, NaN to the last NaN). Yields (i, j, h, w), h and w (N, C) each."""
    oh, ow = _out_hw(x.shape, kernel, stride, padding, dilation, ceil_mode)
    for i in range(oh):
        for j in range(ow):
            taps = _taps(i, j, kernel, stride, padding, dilation, x.shape)
            best = np.full(x.shape[:2], -np.inf)
            h = np.full(x.shape[:2], taps[0][0])
            w = np.full(x.shape[:2], taps[0][1])
            for th, tw in taps:
                v = x[:, :, th, tw]
                take = (v > best) | np.isnan(v)
                best = np.where(take, v, best)
                h, w = np.where(take, th, h), np.where(take, tw, w)
            yield i, j, h, w


def max_pool2d_indices(x, kernel, stride, padding, dilation=(1, 1), ceil_mode=False):
    """return_indices: the flat index h * W + w of each window's winner (N, C, OH, OW)."""
    oh, ow = _out_hw(x.shape, kernel, stride, padding, dilation, ceil_mode)
    idx = np.empty((*x.shape[:2], oh, ow), np.int64)
    for i, j, h, w in _winners(x, kernel, stride, padding, dilation, ceil_mode):
        idx[:, :, i, j] = h * x.shape[3] + w
    return idx


def max_pool2d_backward(grad_out, x, kernel, stride, padding, dilation=(1, 1),
                        ceil_mode=False) -> np.ndarray:
    """dx: each window's gradient g[n, c, i, j], all of it to the window's winner
    (`_winners`: torch's CPU rule). Overlapping windows add up."""
    dx = np.zeros_like(x)  # (N, C, H, W)
    n, c = np.meshgrid(np.arange(x.shape[0]), np.arange(x.shape[1]), indexing="ij")
    for i, j, h, w in _winners(x, kernel, stride, padding, dilation, ceil_mode):
        np.add.at(dx, (n, c, h, w), grad_out[:, :, i, j])
    return dx


def _avg_divisor(i, j, x_shape, kernel, stride, padding, count_include_pad, divisor_override):
    """torch's divisor of window (i, j): divisor_override; else the window clipped to the
    padded input (count_include_pad) or to the input itself."""
    if divisor_override is not None:
        return divisor_override
    count = 1
    for a, o in ((0, i), (1, j)):
        start = stride[a] * o - padding[a]
        end = min(start + kernel[a], x_shape[2 + a] + padding[a])
        if not count_include_pad:
            start, end = max(start, 0), min(end, x_shape[2 + a])
        count *= end - start
    return count


def avg_pool2d(x, kernel, stride, padding, ceil_mode=False, count_include_pad=True,
               divisor_override=None) -> np.ndarray:
    """out[n, c, i, j] = sum of x[n, c, h, w] over the window's taps inside the input
    (padding adds zeros) / the window's divisor (`_avg_divisor`; kh * kw by default)."""
    oh, ow = _out_hw(x.shape, kernel, stride, padding, (1, 1), ceil_mode)
    y = np.empty((*x.shape[:2], oh, ow), x.dtype)  # (N, C, OH, OW)
    for i in range(oh):
        for j in range(ow):
            taps = _taps(i, j, kernel, stride, padding, (1, 1), x.shape)
            total = sum(x[:, :, h, w] for h, w in taps)
            y[:, :, i, j] = total / _avg_divisor(i, j, x.shape, kernel, stride, padding,
                                                 count_include_pad, divisor_override)
    return y


def avg_pool2d_backward(grad_out, x, kernel, stride, padding, ceil_mode=False,
                        count_include_pad=True, divisor_override=None) -> np.ndarray:
    """dx[n, c, h, w] += g[n, c, i, j] / divisor(i, j) for every tap (h, w) of window (i, j)."""
    dx = np.zeros_like(x)  # (N, C, H, W)
    for i in range(grad_out.shape[2]):
        for j in range(grad_out.shape[3]):
            share = grad_out[:, :, i, j] / _avg_divisor(
                i, j, x.shape, kernel, stride, padding, count_include_pad, divisor_override)
            for h, w in _taps(i, j, kernel, stride, padding, (1, 1), x.shape):
                dx[:, :, h, w] += share
    return dx


def adaptive_avg_pool2d(x, out_hw) -> np.ndarray:
    """out[n, c, i, j] = mean of x[n, c, h0:h1, w0:w1], h0 = floor(i H / OH),
    h1 = ceil((i + 1) H / OH), and likewise for w (torch's adaptive windows)."""
    (h, w), (oh, ow) = x.shape[2:], out_hw
    y = np.empty((*x.shape[:2], oh, ow), x.dtype)
    for i in range(oh):
        for j in range(ow):
            h0, h1 = (i * h) // oh, -(-((i + 1) * h) // oh)
            w0, w1 = (j * w) // ow, -(-((j + 1) * w) // ow)
            y[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return y


def adaptive_avg_pool2d_backward(grad_out, x) -> np.ndarray:
    """dx[n, c, h0:h1, w0:w1] += g[n, c, i, j] / ((h1 - h0) (w1 - w0)) for every window."""
    (h, w), (oh, ow) = x.shape[2:], grad_out.shape[2:]
    dx = np.zeros_like(x)
    for i in range(oh):
        for j in range(ow):
            h0, h1 = (i * h) // oh, -(-((i + 1) * h) // oh)
            w0, w1 = (j * w) // ow, -(-((j + 1) * w) // ow)
            dx[:, :, h0:h1, w0:w1] += (grad_out[:, :, i, j] / ((h1 - h0) * (w1 - w0)))[
                :, :, None, None]
    return dx


def _adaptive_winners(x, out_hw):
    """For each adaptive window (i, j) and (n, c), the element torch's CPU kernel keeps:
    starting at the window's first element with max -inf, the first with val > max or val
    NaN, in row-major order. Yields (i, j, h, w), h and w (N, C) each."""
    (h, w), (oh, ow) = x.shape[2:], out_hw
    for i in range(oh):
        for j in range(ow):
            h0, h1 = (i * h) // oh, -(-((i + 1) * h) // oh)
            w0, w1 = (j * w) // ow, -(-((j + 1) * w) // ow)
            best = np.full(x.shape[:2], -np.inf)
            bh, bw = np.full(x.shape[:2], h0), np.full(x.shape[:2], w0)
            for th in range(h0, h1):
                for tw in range(w0, w1):
                    v = x[:, :, th, tw]
                    take = (v > best) | np.isnan(v)
                    best = np.where(take, v, best)
                    bh, bw = np.where(take, th, bh), np.where(take, tw, bw)
            yield i, j, bh, bw


def adaptive_max_pool2d(x, out_hw) -> tuple[np.ndarray, np.ndarray]:
    """out[n, c, i, j] = max of x[n, c, h0:h1, w0:w1] (the windows of adaptive_avg_pool2d),
    and the flat index h * W + w of the element `_adaptive_winners` keeps."""
    y = np.empty((*x.shape[:2], *out_hw), x.dtype)  # (N, C, OH, OW)
    idx = np.empty((*x.shape[:2], *out_hw), np.int64)
    n, c = np.meshgrid(np.arange(x.shape[0]), np.arange(x.shape[1]), indexing="ij")
    for i, j, h, w in _adaptive_winners(x, out_hw):
        y[:, :, i, j] = x[n, c, h, w]
        idx[:, :, i, j] = h * x.shape[3] + w
    return y, idx


def adaptive_max_pool2d_backward(grad_out, x) -> np.ndarray:
    """dx: each window's gradient g[n, c, i, j], all of it to the window's winner."""
    dx = np.zeros_like(x)  # (N, C, H, W)
    n, c = np.meshgrid(np.arange(x.shape[0]), np.arange(x.shape[1]), indexing="ij")
    for i, j, h, w in _adaptive_winners(x, grad_out.shape[2:]):
        np.add.at(dx, (n, c, h, w), grad_out[:, :, i, j])
    return dx


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


# --- recurrent layers: the equations of recurrent.py's docstring, one step at a time -------


def _steps(length: int, reverse: bool) -> list[int]:
    """The time indices in walking order: 0..L-1, or L-1..0 for the reverse direction."""
    return list(range(length - 1, -1, -1) if reverse else range(length))


def _lin(x, w, b):
    """x w^T + b (b None: no bias)."""
    return x @ w.T if b is None else x @ w.T + b


def _grads(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr, bias):
    """RecurrentGrads, the bias gradients None where there is no bias."""
    return RecurrentGrads(dx, dh0, dc0, dw_ih, dw_hh, db_ih if bias else None,
                          db_hh if bias else None, dw_hr)


def rnn(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh", reverse=False):
    """h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act = tanh or relu, from
    h0 (N, H); returns every h_t (L, N, H) and the last one walked, h_n."""
    out = np.empty(x.shape[:2] + h0.shape[1:], x.dtype)  # (L, N, H)
    h = h0
    for t in _steps(len(x), reverse):
        a = _lin(x[t], w_ih, b_ih) + _lin(h, w_hh, b_hh)  # (N, H)
        h = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0)
        out[t] = h
    return out, h


def rnn_backward(grad_out, grad_h_n, x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh",
                 reverse=False) -> RecurrentGrads:
    """The gradients of rnn for g = grad_out (L, N, H) and grad_h_n (None: zero), from the
    last step walked to the first, dh being the gradient reaching h_t:

        dh   = g_t + dh (carried from the step after),  da = dh act'(a),
               act' = 1 - h_t^2 (tanh); 1 where a > 0, else 0 (relu; torch's 0 at 0)
        dx_t = da W_ih,  dW_ih += da^T x_t,  dW_hh += da^T h_{t-1},  db_ih, db_hh += sum_n da
        dh   = da W_hh, carried to the step before; what reaches h0 is dh0
    """
    out, _ = rnn(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity, reverse)  # (L, N, H)
    steps = _steps(len(x), reverse)
    dx, dw_ih, dw_hh = np.zeros_like(x), np.zeros_like(w_ih), np.zeros_like(w_hh)
    db_ih, db_hh = np.zeros_like(w_ih[:, 0]), np.zeros_like(w_hh[:, 0])  # (H,)
    dh = np.zeros_like(h0) if grad_h_n is None else grad_h_n  # (N, H)
    for k in range(len(steps) - 1, -1, -1):
        t = steps[k]
        h_prev = out[steps[k - 1]] if k else h0  # (N, H)
        dh = dh + grad_out[t]
        da = dh * (1 - out[t] * out[t]) if nonlinearity == "tanh" else dh * (out[t] > 0)
        dx[t] = da @ w_ih
        dw_ih += da.T @ x[t]
        dw_hh += da.T @ h_prev
        db_ih += da.sum(axis=0)
        db_hh += da.sum(axis=0)
        dh = da @ w_hh
    return _grads(dx, dh, None, dw_ih, dw_hh, db_ih, db_hh, None, b_ih is not None)


def _lstm_gates(x_t, h, w_ih, w_hh, b_ih, b_hh):
    """i, f, g, o (N, H) each: sig, sig, tanh, sig of the four chunks of
    x_t W_ih^T + b_ih + h W_hh^T + b_hh."""
    i, f, g, o = np.split(_lin(x_t, w_ih, b_ih) + _lin(h, w_hh, b_hh), 4, axis=1)
    return sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)


def lstm(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr=None, reverse=False):
    """c_t = f c_{t-1} + i g,  m_t = o tanh(c_t),  h_t = m_t (or m_t W_hr^T with a
    projection), gates from `_lstm_gates`, from h0 (N, H_out) and c0 (N, H); returns every
    h_t (L, N, H_out) and the last step's h_n and c_n."""
    out = np.empty(x.shape[:2] + h0.shape[1:], x.dtype)  # (L, N, H_out)
    h, c = h0, c0
    for t in _steps(len(x), reverse):
        i, f, g, o = _lstm_gates(x[t], h, w_ih, w_hh, b_ih, b_hh)
        c = f * c + i * g  # (N, H)
        m = o * np.tanh(c)
        h = m if w_hr is None else m @ w_hr.T  # (N, H_out)
        out[t] = h
    return out, h, c


def lstm_backward(grad_out, grad_h_n, grad_c_n, x, h0, c0, w_ih, w_hh, b_ih, b_hh,
                  w_hr=None, reverse=False) -> RecurrentGrads:
    """The gradients of lstm for g = grad_out (L, N, H_out), grad_h_n and grad_c_n (None:
    zero), from the last step walked to the first, dh and dc being what reaches h_t, c_t:

        dh  = g_t + dh,  dW_hr += dh^T m_t,  dm = dh W_hr (dm = dh without projection)
        dc  = dc + dm o (1 - tanh(c_t)^2)
        da  = [dc g i (1 - i), dc c_{t-1} f (1 - f), dc i (1 - g^2), dm tanh(c_t) o (1 - o)]
        dx_t = da W_ih,  dW_ih += da^T x_t,  dW_hh += da^T h_{t-1},  db_ih, db_hh += sum_n da
        dh  = da W_hh and dc = dc f, carried to the step before
    """
    steps = _steps(len(x), reverse)
    hs, cs = [h0], [c0]  # the state before each step, in walking order
    for t in steps[:-1]:  # one step of lstm from the state before it
        _, h, c = lstm(x[t:t + 1], hs[-1], cs[-1], w_ih, w_hh, b_ih, b_hh, w_hr)
        hs.append(h)
        cs.append(c)
    dx, dw_ih, dw_hh = np.zeros_like(x), np.zeros_like(w_ih), np.zeros_like(w_hh)
    db_ih, db_hh = np.zeros_like(w_ih[:, 0]), np.zeros_like(w_hh[:, 0])  # (4H,)
    dw_hr = None if w_hr is None else np.zeros_like(w_hr)
    dh = np.zeros_like(h0) if grad_h_n is None else grad_h_n  # (N, H_out)
    dc = np.zeros_like(c0) if grad_c_n is None else grad_c_n  # (N, H)
    for k in range(len(steps) - 1, -1, -1):
        t, h_prev, c_prev = steps[k], hs[k], cs[k]
        i, f, g, o = _lstm_gates(x[t], h_prev, w_ih, w_hh, b_ih, b_hh)
        tc = np.tanh(f * c_prev + i * g)  # tanh(c_t)
        dh = dh + grad_out[t]
        if w_hr is None:
            dm = dh
        else:
            dw_hr += dh.T @ (o * tc)
            dm = dh @ w_hr  # (N, H)
        dc = dc + dm * o * (1 - tc * tc)
        da = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                             dc * i * (1 - g * g), dm * tc * o * (1 - o)], axis=1)  # (N, 4H)
        dx[t] = da @ w_ih
        dw_ih += da.T @ x[t]
        dw_hh += da.T @ h_prev
        db_ih += da.sum(axis=0)
        db_hh += da.sum(axis=0)
        dh, dc = da @ w_hh, dc * f
    return _grads(dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh, dw_hr, b_ih is not None)


def _gru_gates(x_t, h, w_ih, w_hh, b_ih, b_hh):
    """r, z, n and gh_n (N, H) each, with gi = x_t W_ih^T + b_ih and gh = h W_hh^T + b_hh
    in chunks r, z, n: r = sig(gi_r + gh_r), z = sig(gi_z + gh_z), n = tanh(gi_n + r gh_n)."""
    gi_r, gi_z, gi_n = np.split(_lin(x_t, w_ih, b_ih), 3, axis=1)  # (N, H) each
    gh_r, gh_z, gh_n = np.split(_lin(h, w_hh, b_hh), 3, axis=1)
    r, z = sigmoid(gi_r + gh_r), sigmoid(gi_z + gh_z)
    return r, z, np.tanh(gi_n + r * gh_n), gh_n


def gru(x, h0, w_ih, w_hh, b_ih, b_hh, reverse=False):
    """h_t = (1 - z) n + z h_{t-1}, gates from `_gru_gates`, from h0 (N, H); returns every
    h_t (L, N, H) and the last one walked, h_n."""
    out = np.empty(x.shape[:2] + h0.shape[1:], x.dtype)  # (L, N, H)
    h = h0
    for t in _steps(len(x), reverse):
        r, z, n, _ = _gru_gates(x[t], h, w_ih, w_hh, b_ih, b_hh)
        h = (1 - z) * n + z * h
        out[t] = h
    return out, h


def gru_backward(grad_out, grad_h_n, x, h0, w_ih, w_hh, b_ih, b_hh, reverse=False
                 ) -> RecurrentGrads:
    """The gradients of gru for g = grad_out (L, N, H) and grad_h_n (None: zero), from the
    last step walked to the first, dh being the gradient reaching h_t and dr, dz, dn those
    of the gates' arguments:

        dh  = g_t + dh,  dn = dh (1 - z) (1 - n^2),  dz = dh (h_{t-1} - n) z (1 - z),
        dr  = dn gh_n r (1 - r)
        dgi = [dr, dz, dn],  dgh = [dr, dz, dn r]
        dx_t = dgi W_ih,  dW_ih += dgi^T x_t,  db_ih += sum_n dgi,
        dW_hh += dgh^T h_{t-1},  db_hh += sum_n dgh
        dh  = dh z + dgh W_hh, carried to the step before
    """
    out, _ = gru(x, h0, w_ih, w_hh, b_ih, b_hh, reverse)  # (L, N, H)
    steps = _steps(len(x), reverse)
    dx, dw_ih, dw_hh = np.zeros_like(x), np.zeros_like(w_ih), np.zeros_like(w_hh)
    db_ih, db_hh = np.zeros_like(w_ih[:, 0]), np.zeros_like(w_hh[:, 0])  # (3H,)
    dh = np.zeros_like(h0) if grad_h_n is None else grad_h_n  # (N, H)
    for k in range(len(steps) - 1, -1, -1):
        t = steps[k]
        h_prev = out[steps[k - 1]] if k else h0  # (N, H)
        r, z, n, gh_n = _gru_gates(x[t], h_prev, w_ih, w_hh, b_ih, b_hh)
        dh = dh + grad_out[t]
        dn = dh * (1 - z) * (1 - n * n)
        dz = dh * (h_prev - n) * z * (1 - z)
        dr = dn * gh_n * r * (1 - r)
        dgi = np.concatenate([dr, dz, dn], axis=1)  # (N, 3H)
        dgh = np.concatenate([dr, dz, dn * r], axis=1)
        dx[t] = dgi @ w_ih
        dw_ih += dgi.T @ x[t]
        dw_hh += dgh.T @ h_prev
        db_ih += dgi.sum(axis=0)
        db_hh += dgh.sum(axis=0)
        dh = dh * z + dgh @ w_hh
    return _grads(dx, dh, None, dw_ih, dw_hh, db_ih, db_hh, None, b_ih is not None)


# --- the transposed convolution: each input pixel scatters its kernel ----------------------

def _transposed_full(x_shape, weight, stride, padding, output_padding, dilation, groups):
    """The output size (OH, OW) and a zero output (N, C_out, OH + 2ph, OW + 2pw) before the
    padding is cut off (its last output_padding rows / columns no pixel reaches)."""
    oh, ow = ((x_shape[2 + a] - 1) * stride[a] - 2 * padding[a]
              + dilation[a] * (weight.shape[2 + a] - 1) + output_padding[a] + 1 for a in (0, 1))
    full = np.zeros((x_shape[0], weight.shape[1] * groups, oh + 2 * padding[0],
                     ow + 2 * padding[1]), weight.dtype)
    return (oh, ow), full


def conv_transpose2d(x, weight, bias, stride, padding, output_padding=(0, 0), dilation=(1, 1),
                     groups=1) -> np.ndarray:
    """For every input pixel (n, c, i, j) and kernel tap (p, q), with Co = C_out / groups and
    g = c // (C_in / groups) the group of input channel c:

        yfull[n, g*Co + o, sh*i + dh*p, sw*j + dw*q] += x[n, c, i, j] * weight[c, o, p, q]

    then y = yfull[:, :, ph:ph + OH, pw:pw + OW] + bias, OH = (H - 1)*sh - 2*ph
    + dh*(kh - 1) + oph + 1 (and OW alike)."""
    (oh, ow), y = _transposed_full(x.shape, weight, stride, padding, output_padding, dilation,
                                   groups)
    cin, co = weight.shape[:2]
    for c in range(cin):
        grp = slice((c // (cin // groups)) * co, (c // (cin // groups) + 1) * co)
        for i in range(x.shape[2]):
            for j in range(x.shape[3]):
                for p in range(weight.shape[2]):
                    for q in range(weight.shape[3]):
                        r, s = stride[0] * i + dilation[0] * p, stride[1] * j + dilation[1] * q
                        y[:, grp, r, s] += x[:, c, i, j, None] * weight[c, :, p, q]
    y = y[:, :, padding[0]:padding[0] + oh, padding[1]:padding[1] + ow]  # (N, C_out, OH, OW)
    return y if bias is None else y + bias[None, :, None, None]


def conv_transpose2d_backward(grad_out, x, weight, stride, padding, output_padding=(0, 0),
                              dilation=(1, 1), groups=1):
    """(dx, dweight, dbias) of conv_transpose2d for g = grad_out (N, C_out, OH, OW), gfull
    its zero-padded (by ph, pw) copy, the same scatter read backwards:

        dx[n, c, i, j]      += gfull[n, g*Co + o, sh*i + dh*p, sw*j + dw*q] * weight[c, o, p, q]
        dweight[c, o, p, q] += x[n, c, i, j] * gfull[n, g*Co + o, sh*i + dh*p, sw*j + dw*q]
        dbias[o]             = sum_{n, h, w} g[n, o, h, w]
    """
    (oh, ow), gfull = _transposed_full(x.shape, weight, stride, padding, output_padding,
                                       dilation, groups)
    gfull[:, :, padding[0]:padding[0] + oh, padding[1]:padding[1] + ow] = grad_out
    dx, dweight = np.zeros_like(x), np.zeros_like(weight)
    cin, co = weight.shape[:2]
    for c in range(cin):
        grp = slice((c // (cin // groups)) * co, (c // (cin // groups) + 1) * co)
        for i in range(x.shape[2]):
            for j in range(x.shape[3]):
                for p in range(weight.shape[2]):
                    for q in range(weight.shape[3]):
                        r, s = stride[0] * i + dilation[0] * p, stride[1] * j + dilation[1] * q
                        dx[:, c, i, j] += gfull[:, grp, r, s] @ weight[c, :, p, q]
                        dweight[c, :, p, q] += x[:, c, i, j] @ gfull[:, grp, r, s]
    return dx, dweight, grad_out.sum(axis=(0, 2, 3))


def _interp_taps(size, out, scale, mode, align_corners, dtype, shortcuts):
    """[(index, weight), ...] per output index d along one axis: torch's rule, one scalar at
    a time (nearest in float32; linear in dtype; O = S copied; see functional/upsample.py)."""
    taps = []
    for d in range(out):
        if mode in ("nearest", "nearest-exact"):
            exact = mode == "nearest-exact"
            r = (np.float32(1.0 / scale) if scale is not None
                 else np.float32(size) / np.float32(out))
            if shortcuts and not exact and out in (size, 2 * size):
                src = d if out == size else d // 2
            else:
                pos = (np.float32(d) + np.float32(0.5)) * r if exact else np.float32(d) * r
                src = min(int(np.floor(pos)), size - 1)
            taps.append([(src, 1.0)])
            continue
        dt = np.dtype(dtype).type
        if out == size:
            taps.append([(d, 1.0)])
            continue
        if align_corners:
            t = (dt(size - 1) / dt(out - 1) if out > 1 else dt(0)) * dt(d)
        else:
            r = dt(1.0 / scale) if scale is not None else dt(size) / dt(out)
            t = max(r * (dt(d) + dt(0.5)) - dt(0.5), dt(0))
        i0 = min(int(np.floor(t)), size - 1)
        l1 = min(max(t - dt(i0), dt(0)), dt(1))
        taps.append([(i0, dt(1) - l1), (min(i0 + 1, size - 1), l1)])
    return taps


def interpolate(x, plan):
    """y (N, C, *O) of x (N, C, L) or (N, C, H, W), one output pixel at a time:
    y[..., i, j] = sum over taps (p, a) of rows i and (q, b) of columns j of a b x[..., p, q]."""
    shortcuts = x.ndim == 4
    x4 = x if x.ndim == 4 else x[:, :, None, :]
    size, scales = (plan.size, plan.scales) if x.ndim == 4 else ((1, *plan.size),
                                                                (None, *plan.scales))
    rows = _interp_taps(x4.shape[2], size[0], scales[0], plan.mode, plan.align_corners,
                        x.dtype, shortcuts)
    cols = _interp_taps(x4.shape[3], size[1], scales[1], plan.mode, plan.align_corners,
                        x.dtype, shortcuts)
    y = np.zeros((*x4.shape[:2], *size), x.dtype)
    for i in range(size[0]):
        for j in range(size[1]):
            for p, a in rows[i]:
                y[:, :, i, j] += a * sum(b * x4[:, :, p, q] for q, b in cols[j])
    return y if x.ndim == 4 else y[:, :, 0]


def interpolate_backward(grad_out, x_shape, plan):
    """dx of interpolate: each output's gradient scattered to its taps with their weights,
    dx[..., p, q] += a b g[..., i, j]."""
    shortcuts = len(x_shape) == 4
    shape4 = tuple(x_shape) if shortcuts else (*x_shape[:2], 1, x_shape[2])
    g = grad_out if shortcuts else grad_out[:, :, None, :]
    scales = plan.scales if shortcuts else (None, *plan.scales)
    rows = _interp_taps(shape4[2], g.shape[2], scales[0], plan.mode, plan.align_corners,
                        g.dtype, shortcuts)
    cols = _interp_taps(shape4[3], g.shape[3], scales[1], plan.mode, plan.align_corners,
                        g.dtype, shortcuts)
    dx = np.zeros(shape4, g.dtype)
    for i in range(g.shape[2]):
        for j in range(g.shape[3]):
            for p, a in rows[i]:
                for q, b in cols[j]:
                    dx[:, :, p, q] += a * b * g[:, :, i, j]
    return dx if shortcuts else dx[:, :, 0]
