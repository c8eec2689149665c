"""Recurrent cells and one direction of one recurrent layer, forward and backward through time.

Gate layouts are torch's (weight_ih is (G*H, in), weight_hh (G*H, H_out)):

    RNN   h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh),            act = tanh or relu
    LSTM  i, f, g, o = chunks of x W_ih^T + b_ih + h W_hh^T + b_hh  (G = 4)
          c' = sig(f) c + sig(i) tanh(g),  m = sig(o) tanh(c'),  h' = m (or m W_hr^T with proj)
    GRU   r, z = sig(chunks of x W_ih^T + b_ih + h W_hh^T + b_hh)   (G = 3)
          n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn)),  h' = (1 - z) n + z h

The input projection x W_ih^T + b_ih of every step is one matmul before the
loop (`gx`, (L, N, G*H)); only h W_hh^T runs step by step. Backward walks the
steps in reverse, collecting the gradient of each step's input pre-activation
(`dgx`) and hidden pre-activation (`dgh`, which differs from dgx only in
GRU's n gate); the weight gradients are then one matmul each over all steps.
"""

from __future__ import annotations

import numpy as np

from scratch.functional.activation import sigmoid

MODES = ("RNN_TANH", "RNN_RELU", "LSTM", "GRU")
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _rnn_step(mode, gx, h, c, w_hh, b_hh, w_hr):
    a = gx + h @ w_hh.T  # (N, H)
    if b_hh is not None:
        a += b_hh
    h_new = np.tanh(a) if mode == "RNN_TANH" else np.maximum(a, 0)  # (N, H)
    return h_new, None, h_new


def _rnn_step_back(mode, dh, dc, cache, w_hh, w_hr):
    h_new = cache
    da = dh * (1 - h_new * h_new) if mode == "RNN_TANH" else dh * (h_new > 0)  # (N, H)
    return da, da, da @ w_hh, None, None


def _gate_sigmoid(a: np.ndarray) -> np.ndarray:
    """sigmoid(a) = (1 + tanh(a / 2)) / 2, in place: one transcendental instead of the
    stable `sigmoid`'s exp, two divisions and a select (4x faster on a (32, 512) block).
    Its error is within an ulp of 1/2 in absolute terms, which is what a gate needs: it
    multiplies bounded states. (Relative accuracy for a << 0, which log-sigmoid needs,
    is lost; so `sigmoid` stays as it is.)"""
    a *= 0.5
    np.tanh(a, out=a)
    a *= 0.5
    a += 0.5
    return a


def _lstm_step(mode, gx, h, c, w_hh, b_hh, w_hr):
    gates = h @ w_hh.T  # (N, 4H): the pre-activations of i, f, g, o (b_hh is in gx)
    gates += gx
    hs = gates.shape[-1] // 4
    g = np.tanh(gates[:, 2 * hs:3 * hs])  # (N, H)
    _gate_sigmoid(gates)  # i, f, o in place; g's block is set next
    gates[:, 2 * hs:3 * hs] = g
    i, f, o = gates[:, :hs], gates[:, hs:2 * hs], gates[:, 3 * hs:]  # (N, H)
    c_new = f * c  # (N, H)
    c_new += i * g
    tc = np.tanh(c_new)
    m = o * tc  # (N, H)
    h_new = m if w_hr is None else m @ w_hr.T  # (N, H_out)
    return h_new, c_new, (gates, c, tc, m)


def _lstm_step_back(mode, dh, dc, cache, w_hh, w_hr):
    gates, c, tc, m = cache  # gates: (N, 4H) = i, f, g, o after their activations
    hs = gates.shape[-1] // 4
    i, f, g, o = (gates[:, k * hs:(k + 1) * hs] for k in range(4))  # (N, H)
    dm = dh if w_hr is None else dh @ w_hr  # (N, H)
    dtc = 1 - tc * tc
    dtc *= o
    dtc *= dm
    dc = dc + dtc  # (N, H)
    da = gates * (1 - gates)  # (N, 4H): sigmoid' = s (1 - s) for i, f, o
    np.multiply(g, g, out=da[:, 2 * hs:3 * hs])
    np.subtract(1, da[:, 2 * hs:3 * hs], out=da[:, 2 * hs:3 * hs])  # tanh' = 1 - g^2
    da[:, :hs] *= dc * g
    da[:, hs:2 * hs] *= dc * c
    da[:, 2 * hs:3 * hs] *= dc * i
    da[:, 3 * hs:] *= dm * tc
    return da, da, da @ w_hh, dc * f, (dh, m)


def _gru_step(mode, gx, h, c, w_hh, b_hh, w_hr):
    gh = h @ w_hh.T  # (N, 3H)
    if b_hh is not None:
        gh += b_hh
    hs = gh.shape[-1] // 3
    r = sigmoid(gx[:, :hs] + gh[:, :hs])  # (N, H)
    z = sigmoid(gx[:, hs:2 * hs] + gh[:, hs:2 * hs])
    n = np.tanh(gx[:, 2 * hs:] + r * gh[:, 2 * hs:])
    h_new = (1 - z) * n + z * h  # (N, H)
    return h_new, None, (r, z, n, h, gh[:, 2 * hs:])


def _gru_step_back(mode, dh, dc, cache, w_hh, w_hr):
    r, z, n, h, ghn = cache
    dan = dh * (1 - z) * (1 - n * n)  # (N, H)
    dar = dan * ghn * r * (1 - r)
    daz = dh * (h - n) * z * (1 - z)
    dgx = np.concatenate([dar, daz, dan], axis=1)  # (N, 3H)
    dgh = np.concatenate([dar, daz, dan * r], axis=1)  # (N, 3H)
    return dgx, dgh, dh * z + dgh @ w_hh, None, None


_STEPS = {"RNN_TANH": (_rnn_step, _rnn_step_back), "RNN_RELU": (_rnn_step, _rnn_step_back),
          "LSTM": (_lstm_step, _lstm_step_back), "GRU": (_gru_step, _gru_step_back)}


def recurrent_direction_forward(mode: str, gx: np.ndarray, h0: np.ndarray,
                                c0: np.ndarray | None, w_hh: np.ndarray,
                                b_hh: np.ndarray | None, w_hr: np.ndarray | None = None,
                                reverse: bool = False):
    """Run one direction of one layer over the sequence.

    Args:
        mode: "RNN_TANH", "RNN_RELU", "LSTM" or "GRU".
        gx: x W_ih^T + b_ih for every step, (L, N, G*H).
        h0: (N, H_out); c0: (N, H) for LSTM, else None.
        w_hh, b_hh, w_hr: the layer's weights for this direction (w_hr: LSTM proj_size only).
        reverse: walk the steps from L-1 down to 0 (the reverse direction).

    Returns:
        (output (L, N, H_out), h_n (N, H_out), c_n (N, H) or None, cache for backward).
    """
    step, _ = _STEPS[mode]
    if b_hh is not None and mode != "GRU":  # one add for all steps (GRU's n gate needs b_hn)
        gx, b_hh = gx + b_hh, None
    steps = range(gx.shape[0] - 1, -1, -1) if reverse else range(gx.shape[0])
    out = np.empty((gx.shape[0],) + h0.shape, dtype=gx.dtype)  # (L, N, H_out)
    h_prev = np.empty_like(out)  # (L, N, H_out): the state each step started from
    caches = [None] * gx.shape[0]
    h, c = h0, c0
    for t in steps:
        h_prev[t] = h
        h, c, caches[t] = step(mode, gx[t], h, c, w_hh, b_hh, w_hr)
        out[t] = h
    return out, h, c, (mode, caches, h_prev, w_hh, w_hr, reverse)


def recurrent_direction_backward(grad_out: np.ndarray, grad_h_n: np.ndarray | None,
                                 grad_c_n: np.ndarray | None, cache):
    """Backward through time for one direction of one layer.

    Args:
        grad_out: dL/doutput, (L, N, H_out).
        grad_h_n, grad_c_n: dL/dh_n (N, H_out) and dL/dc_n (N, H), or None for zero.
        cache: from `recurrent_direction_forward`.

    Returns:
        dict with "gx" (dL/d(x W_ih^T + b_ih), (L, N, G*H)), "h0", "c0" (None unless
        LSTM), "weight_hh", "bias_hh" and "weight_hr" (None without projection).
    """
    mode, caches, h_prev, w_hh, w_hr, reverse = cache
    _, step_back = _STEPS[mode]
    length = grad_out.shape[0]
    steps = range(length) if reverse else range(length - 1, -1, -1)
    gsize = w_hh.shape[0]
    dgx = np.empty(grad_out.shape[:2] + (gsize,), dtype=grad_out.dtype)  # (L, N, G*H)
    dgh = dgx if mode != "GRU" else np.empty_like(dgx)  # (L, N, G*H)
    dh = np.zeros_like(h_prev[0]) if grad_h_n is None else grad_h_n  # (N, H_out)
    dc = None
    if mode == "LSTM":
        hidden = gsize // 4
        dc = np.zeros(dh.shape[:-1] + (hidden,), dh.dtype) if grad_c_n is None else grad_c_n
    dw_hr = None if w_hr is None else np.zeros_like(w_hr)
    for t in steps:
        gx_t, gh_t, dh, dc_new, proj = step_back(mode, dh + grad_out[t], dc, caches[t], w_hh,
                                                   w_hr)
        dgx[t] = gx_t
        if dgh is not dgx:
            dgh[t] = gh_t
        if mode == "LSTM":
            dc = dc_new
            if w_hr is not None:
                dw_hr += proj[0].T @ proj[1]  # (H_out, H)
    g2 = dgh.reshape(-1, gsize)  # (L*N, G*H)
    return {"gx": dgx, "h0": dh, "c0": dc,
            "weight_hh": g2.T @ h_prev.reshape(-1, h_prev.shape[-1]),  # (G*H, H_out)
            "bias_hh": g2.sum(axis=0), "weight_hr": dw_hr}
