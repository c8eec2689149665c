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
GRU's n gate); the weight gradients are then one matmul each over all steps:

    dW_ih = sum_t dgx_t^T x_t,  db_ih = sum_t dgx_t,  dx_t = dgx_t W_ih
    dW_hh = sum_t dgh_t^T h_{t-1},  db_hh = sum_t dgh_t

The LSTM has its own loops (`_lstm_forward`, `_lstm_backward`): one tanh activates
all four gates, and the steps go in cache-sized blocks whose gate derivatives backward
prepares in a few whole-block operations, leaving the sequential loop to multiply in
dc and dm and carry dh and dc back. `plain.rnn`, `plain.lstm` and `plain.gru` are the
equations above step by step, the specification these kernels are tested against.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scratch import parallel
from scratch.functional.activation import sigmoid

GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


class RecurrentCache(NamedTuple):
    """What `recurrent_direction_backward` needs from `recurrent_direction_forward`."""

    mode: str
    input: np.ndarray  # (L, N, in)
    weight_ih: np.ndarray  # (G*H, in)
    weight_hh: np.ndarray  # (G*H, H_out)
    weight_hr: np.ndarray | None  # (H_out, H), LSTM with projection only
    bias: bool
    reverse: bool
    steps: list  # per piece of the batch (slice, caches): RNN h' per step; GRU a _GRUStep
    # per step; LSTM its _LSTMBlocks
    h_prev: np.ndarray  # (L, N, H_out): the state each step started from
    c0: np.ndarray | None  # (N, H), LSTM only


class RecurrentGrads(NamedTuple):
    """The gradients of one direction of one layer, each named after what it differentiates
    (None: not asked, input_grad=False, or not there: no bias, no c0, no projection)."""

    input: np.ndarray | None  # (L, N, in)
    h0: np.ndarray  # (N, H_out)
    c0: np.ndarray | None  # (N, H)
    weight_ih: np.ndarray  # (G*H, in)
    weight_hh: np.ndarray  # (G*H, H_out)
    bias_ih: np.ndarray | None  # (G*H,)
    bias_hh: np.ndarray | None  # (G*H,)
    weight_hr: np.ndarray | None  # (H_out, H)


class _StepGrads(NamedTuple):
    """One step's backward: dL/d(input pre-activation), dL/d(hidden pre-activation), dL/dh."""

    gx: np.ndarray  # (N, G*H)
    gh: np.ndarray  # (N, G*H)
    h: np.ndarray  # (N, H)


class _GRUStep(NamedTuple):
    """One GRU step's gates (N, H) each, the state it started from and h W_hn^T + b_hn."""

    r: np.ndarray
    z: np.ndarray
    n: np.ndarray
    h: np.ndarray
    ghn: np.ndarray


def _rnn_step(mode, gx, h, w_hh, b_hh):
    a = gx + h @ w_hh.T  # (N, H)
    if b_hh is not None:
        a += b_hh
    h_new = np.tanh(a) if mode == "RNN_TANH" else np.maximum(a, 0)  # (N, H)
    return h_new, h_new


def _rnn_step_back(mode, dh, cache, w_hh):
    h_new = cache
    da = dh * (1 - h_new * h_new) if mode == "RNN_TANH" else dh * (h_new > 0)  # (N, H)
    return _StepGrads(da, da, da @ w_hh)


def _gru_step(mode, gx, h, w_hh, b_hh):
    gh = h @ w_hh.T  # (N, 3H)
    if b_hh is not None:
        gh += b_hh
    hs = gh.shape[-1] // 3
    r = sigmoid(gx[:, :hs] + gh[:, :hs])  # (N, H)
    z = sigmoid(gx[:, hs:2 * hs] + gh[:, hs:2 * hs])
    n = np.tanh(gx[:, 2 * hs:] + r * gh[:, 2 * hs:])
    h_new = (1 - z) * n + z * h  # (N, H)
    return h_new, _GRUStep(r, z, n, h, gh[:, 2 * hs:])


def _gru_step_back(mode, dh, cache, w_hh):
    r, z, n, h, ghn = cache
    dan = dh * (1 - z) * (1 - n * n)  # (N, H)
    dar = dan * ghn * r * (1 - r)
    daz = dh * (h - n) * z * (1 - z)
    dgx = np.concatenate([dar, daz, dan], axis=1)  # (N, 3H)
    dgh = np.concatenate([dar, daz, dan * r], axis=1)  # (N, 3H)
    return _StepGrads(dgx, dgh, dh * z + dgh @ w_hh)


_STEPS = {"RNN_TANH": (_rnn_step, _rnn_step_back), "RNN_RELU": (_rnn_step, _rnn_step_back),
          "GRU": (_gru_step, _gru_step_back)}


def _gate_scale(hs: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Column constants that activate all four LSTM gates with one tanh:
    sig(a) = tanh(a / 2) / 2 + 1/2 for i, f, o and tanh(a) for g, so
    act(a) = tanh(a * s) * s + b with s = 1/2 (1 for g) and b = 1/2 (0 for g).

    This sigmoid is within an ulp of 1/2 in absolute terms, which is what a gate needs:
    it multiplies bounded states. (Its relative accuracy for a << 0, which log-sigmoid
    needs, is lost; so `activation.sigmoid` stays as it is.)"""
    s = np.full(4 * hs, 0.5, dtype)
    s[2 * hs:3 * hs] = 1
    b = np.full(4 * hs, 0.5, dtype)
    b[2 * hs:3 * hs] = 0
    return s, b


# Consecutive steps whose gates take about this many bytes form one block: backward
# prepares every step's gate derivatives for the block in a few whole-block operations
# while the block is in cache (speed suite: lstm-128 step; whole-sequence arrays lost
# at batch 512, per-step ones at batch 1-32).
BLOCK_BYTES = 1 << 20


def _step_blocks(steps, step_bytes: int) -> list[list[int]]:
    """The steps in walking order, cut into blocks of BLOCK_BYTES // step_bytes steps."""
    order, size = list(steps), max(1, BLOCK_BYTES // step_bytes)
    return [order[k:k + size] for k in range(0, len(order), size)]


class _LSTMBlock(NamedTuple):
    """One block of LSTM steps (B of them), in walking order."""

    steps: list[int]  # the time indices t
    gates: np.ndarray  # (B, N, 4H): i, f, g, o after their activations
    cell: np.ndarray  # (B, N, H): c after each step
    tcell: np.ndarray  # (B, N, H): tanh(c)
    m: np.ndarray | None  # (B, N, H): o tanh(c), kept only with a projection (else it is h)


def _lstm_forward(gx, h0, c0, w_hh, w_hr, steps, out):
    """The LSTM loop, block by block of steps (`_step_blocks`), into `out` (L, N, H_out):
    h_n, c_n and the list of `_LSTMBlock`s."""
    n = gx.shape[1]
    hs = w_hh.shape[0] // 4
    scale, shift = _gate_scale(hs, gx.dtype)
    blocks = []
    h, c = h0, c0
    for ts in _step_blocks(steps, n * 4 * hs * gx.itemsize):
        gates = np.empty((len(ts), n, 4 * hs), gx.dtype)  # (B, N, 4H)
        cell, tcell = np.empty((2, len(ts), n, hs), gx.dtype)  # (B, N, H) each
        m_block = None if w_hr is None else np.empty_like(cell)
        for j, t in enumerate(ts):
            a = np.matmul(h, w_hh.T, out=gates[j])  # (N, 4H)
            a += gx[t]  # b_hh is in gx
            a *= scale  # one tanh activates all four gates
            np.tanh(a, out=a)
            a *= scale
            a += shift
            i, f, g, o = (a[:, k * hs:(k + 1) * hs] for k in range(4))  # (N, H)
            c = np.multiply(f, c, out=cell[j])
            c += i * g
            tc = np.tanh(c, out=tcell[j])
            if w_hr is None:
                np.multiply(o, tc, out=out[t])  # (N, H)
            else:
                m = np.multiply(o, tc, out=m_block[j])  # (N, H)
                np.matmul(m, w_hr.T, out=out[t])  # (N, H_out)
            h = out[t]
        blocks.append(_LSTMBlock(ts, gates, cell, tcell, m_block))
    return h, c, blocks


def _previous(states: np.ndarray, first: np.ndarray, reverse: bool) -> np.ndarray:
    """The state each step started from: `first` then the states shifted by one step
    (towards higher t for the reverse direction)."""
    prev = np.empty_like(states)  # (L, N, ...)
    if reverse:
        prev[:-1], prev[-1] = states[1:], first
    else:
        prev[1:], prev[0] = states[:-1], first
    return prev


def _lstm_derivatives(gates, c_prev, tcell, out):
    """What a block's gate gradients are before dc and dm are known, into `out` (B, N, 4H):

        dgx = [dc g i', dc c_prev f', dc i g', dm tc o'],  i' = i (1 - i), g' = 1 - g^2
            = [g i', c_prev f', i g', tc o'] * [dc, dc, dc, dm]

    and returns dtc = o (1 - tc^2) (B, N, H), with which dc += dm dtc."""
    hs = gates.shape[-1] // 4
    e = np.zeros(4 * hs, gates.dtype)
    e[2 * hs:3 * hs] = 1
    np.subtract(1, gates, out=out)
    out *= gates + e  # (1 - s) s for i, f, o; (1 - g)(1 + g) for g
    out[..., :hs] *= gates[..., 2 * hs:3 * hs]
    out[..., hs:2 * hs] *= c_prev
    out[..., 2 * hs:3 * hs] *= gates[..., :hs]
    out[..., 3 * hs:] *= tcell
    dtc = np.multiply(tcell, tcell)
    np.subtract(1, dtc, out=dtc)
    dtc *= gates[..., 3 * hs:]
    return dtc


def _lstm_backward(grad_out, dh, dc, blocks, c0, w_hh, w_hr, dgx):
    """Backward through time for the LSTM, the forward's blocks in reverse: each block's
    derivatives are prepared at once (`_lstm_derivatives`), so that a step only multiplies
    in dc and dm and carries dh = dgx[t] W_hh and dc f to the step before.

    Writes dgx (L, N, 4H); returns dh0, dc0 and dW_hr (None without projection)."""
    n = grad_out.shape[1]
    hs = w_hh.shape[0] // 4
    dw_hr = None if w_hr is None else np.zeros_like(w_hr)
    for k in range(len(blocks) - 1, -1, -1):
        ts, gates, cell, tcell, m_block = blocks[k]
        c_prev = np.empty_like(cell)  # (B, N, H): the cell each step started from
        c_prev[1:], c_prev[0] = cell[:-1], blocks[k - 1].cell[-1] if k else c0
        lo, hi = min(ts), max(ts)
        rows = dgx[lo:hi + 1] if ts[0] == lo else dgx[lo:hi + 1][::-1]  # walking order
        dtc = _lstm_derivatives(gates, c_prev, tcell, rows)
        f = gates[..., hs:2 * hs]
        for j in range(len(ts) - 1, -1, -1):
            dh = dh + grad_out[ts[j]]  # (N, H_out)
            if w_hr is None:
                dm = dh
            else:
                dw_hr += dh.T @ m_block[j]  # (H_out, H)
                dm = dh @ w_hr  # (N, H)
            dc = dc + dm * dtc[j]
            da = rows[j].reshape(n, 4, hs)  # (N, 4, H), a view of dgx
            da[:, :3] *= dc[:, None, :]
            da[:, 3] *= dm
            dh = rows[j] @ w_hh  # (N, H_out)
            dc = dc * f[j]
    return dh, dc, dw_hr


def batch_pieces(n: int, step_flops: int) -> list[slice]:
    """The batch 0..n as the pieces the recurrence runs in, one loop over the steps each:
    parallel.CORES pieces once a step's h W_hh^T (step_flops multiply-adds) is worth
    CORES threads (`parallel.MIN_THREAD_FLOPS` each), else one. The pieces follow the
    machine, not the thread count, so the result does not either (speed suite: lstm-128
    step at 2 threads, batch 32-512)."""
    pieces = parallel.CORES if step_flops >= parallel.CORES * parallel.MIN_THREAD_FLOPS else 1
    return parallel.batch_slices(n, pieces)


def _loop_forward(mode, gx, h0, c0, w_hh, w_hr, b_step, steps, out):
    """The steps of one piece of the batch, into `out` (L, n, H_out): h_n, c_n and the
    piece's step caches (the LSTM's blocks, or one cache per step)."""
    if mode == "LSTM":
        return _lstm_forward(gx, h0, c0, w_hh, w_hr, steps, out)
    step, _ = _STEPS[mode]
    caches = [None] * gx.shape[0]
    h = h0
    for t in steps:
        out[t], caches[t] = step(mode, gx[t], h, w_hh, b_step)
        h = out[t]
    return h, None, caches


def _loop_backward(mode, grad_out, dh, dc, caches, c0, w_hh, w_hr, reverse, dgx, dgh):
    """Backward through the steps of one piece of the batch, writing its rows of dgx and
    dgh (L, n, G*H): dh0, dc0 and dW_hr (the last two None but for the LSTM)."""
    if mode == "LSTM":
        return _lstm_backward(grad_out, dh, dc, caches, c0, w_hh, w_hr, dgx)
    _, step_back = _STEPS[mode]
    length = grad_out.shape[0]
    for t in range(length) if reverse else range(length - 1, -1, -1):
        dgx[t], gh_t, dh = step_back(mode, dh + grad_out[t], caches[t], w_hh)
        if dgh is not dgx:
            dgh[t] = gh_t
    return dh, None, None


def recurrent_direction_forward(mode: str, input: np.ndarray, h0: np.ndarray,
                                c0: np.ndarray | None, w_ih: np.ndarray, w_hh: np.ndarray,
                                b_ih: np.ndarray | None, b_hh: np.ndarray | None,
                                w_hr: np.ndarray | None = None, reverse: bool = False):
    """Run one direction of one layer over the sequence.

    The batch runs in pieces (`batch_pieces`), each piece's loop over the steps on one of
    scratch's threads: a sample's recurrence never meets another sample's.

    Args:
        mode: "RNN_TANH", "RNN_RELU", "LSTM" or "GRU".
        input: the layer's input x, (L, N, in).
        h0: (N, H_out); c0: (N, H) for LSTM, else None.
        w_ih, w_hh, b_ih, b_hh, w_hr: the layer's weights for this direction (biases both
            or neither, as torch's bias flag; w_hr: LSTM proj_size only).
        reverse: walk the steps from L-1 down to 0 (the reverse direction).

    Returns:
        output (L, N, H_out), h_n (N, H_out), c_n (N, H) or None, and a `RecurrentCache`.
    """
    length, n = input.shape[:2]
    gx = parallel.split_matmul(input.reshape(length * n, -1), w_ih.T)  # (L*N, G*H)
    gx = gx.reshape(length, n, -1)  # (L, N, G*H)
    if b_ih is not None:
        gx += b_ih
    b_step = b_hh
    if b_hh is not None and mode != "GRU":  # one add for all steps (GRU's n gate needs b_hn)
        gx += b_hh
        b_step = None
    steps = range(length - 1, -1, -1) if reverse else range(length)
    out = np.empty((length, n, h0.shape[-1]), gx.dtype)  # (L, N, H_out)
    pieces = batch_pieces(n, n * w_hh.size)

    def run(r: slice) -> list:  # the pieces r, one thread's
        return [_loop_forward(mode, gx[:, s], h0[s], None if c0 is None else c0[s], w_hh,
                              w_hr, b_step, steps, out[:, s]) for s in pieces[r]]

    ends = [e for part in parallel.map_batches(run, len(pieces), 1 << 62) for e in part]
    h = np.concatenate([e[0] for e in ends]) if len(ends) > 1 else ends[0][0]  # (N, H_out)
    c = None if c0 is None else (
        np.concatenate([e[1] for e in ends]) if len(ends) > 1 else ends[0][1])  # (N, H)
    caches = [(s, e[2]) for s, e in zip(pieces, ends)]
    h_prev = _previous(out, h0, reverse)  # (L, N, H_out): the state each step started from
    return out, h, c, RecurrentCache(mode, input, w_ih, w_hh, w_hr, b_ih is not None,
                                     reverse, caches, h_prev, c0)


def recurrent_direction_backward(grad_out: np.ndarray, grad_h_n: np.ndarray | None,
                                 grad_c_n: np.ndarray | None, cache: RecurrentCache, *,
                                 input_grad: bool = True) -> RecurrentGrads:
    """Backward through time for one direction of one layer, over the forward's pieces of
    the batch on scratch's threads; dW_hr is summed over the pieces in batch order.

    Args:
        grad_out: dL/doutput, (L, N, H_out).
        grad_h_n, grad_c_n: dL/dh_n (N, H_out) and dL/dc_n (N, H), or None for zero.
        cache: from `recurrent_direction_forward`.
        input_grad: compute dL/dinput; False skips its matmul and leaves it None.

    Returns:
        `RecurrentGrads`: input (or None), h0, c0 (None unless LSTM), weight_ih, weight_hh,
        bias_ih and bias_hh (None without bias), weight_hr (None without projection).
    """
    mode, inp, w_ih, w_hh = cache.mode, cache.input, cache.weight_ih, cache.weight_hh
    h_prev, c0, w_hr = cache.h_prev, cache.c0, cache.weight_hr
    gsize = w_hh.shape[0]
    dgx = np.empty(grad_out.shape[:2] + (gsize,), dtype=grad_out.dtype)  # (L, N, G*H)
    dgh = np.empty_like(dgx) if mode == "GRU" else dgx  # (L, N, G*H)
    dh = np.zeros_like(h_prev[0]) if grad_h_n is None else grad_h_n  # (N, H_out)
    dc = None if c0 is None else (
        np.zeros(c0.shape, dh.dtype) if grad_c_n is None else grad_c_n)  # (N, H)

    def run(r: slice) -> list:  # the pieces r, one thread's
        return [_loop_backward(mode, grad_out[:, s], dh[s], None if dc is None else dc[s],
                               caches, None if c0 is None else c0[s], w_hh, w_hr,
                               cache.reverse, dgx[:, s], dgh[:, s])
                for s, caches in cache.steps[r]]

    ends = [e for part in parallel.map_batches(run, len(cache.steps), 1 << 62) for e in part]
    dh0 = np.concatenate([e[0] for e in ends]) if len(ends) > 1 else ends[0][0]
    dc0 = None if c0 is None else (
        np.concatenate([e[1] for e in ends]) if len(ends) > 1 else ends[0][1])
    dw_hr = ends[0][2]
    for e in ends[1:] if w_hr is not None else ():  # summed in piece order
        dw_hr = dw_hr + e[2]
    gx2 = dgx.reshape(-1, gsize)  # (L*N, G*H)
    gh2 = dgh.reshape(-1, gsize)  # (L*N, G*H)
    return RecurrentGrads(
        input=parallel.split_matmul(gx2, w_ih).reshape(inp.shape) if input_grad else None,
        h0=dh0, c0=dc0,
        weight_ih=parallel.split_matmul(gx2.T, inp.reshape(-1, inp.shape[-1])),  # (G*H, in)
        weight_hh=parallel.split_matmul(gh2.T, h_prev.reshape(-1, h_prev.shape[-1])),
        bias_ih=gx2.sum(axis=0) if cache.bias else None,
        bias_hh=gh2.sum(axis=0) if cache.bias else None,
        weight_hr=dw_hr)
