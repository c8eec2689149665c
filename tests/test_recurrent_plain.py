"""The recurrent kernels of scratch.functional against plain.rnn / lstm / gru, the equations.

One direction of one layer, forward (output, h_n, c_n) and every gradient of
`RecurrentGrads` (input, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, weight_hr),
with and without bias, projection (LSTM), both directions, and the LSTM's steps in
blocks of 1, 2, 3 steps and in one block (`BLOCK_BYTES` forced small).

Bit for bit (np.array_equal) where the arithmetic is the same: the relu RNN on
integer-valued data, where relu keeps every value an integer and its derivative is
0 or 1, so every product and partial sum is exact (below 2**24) and the order of
additions (the fast kernel's one matmul over all steps against the plain loop's sum
step by step; its bias_hh folded into the projection) cannot show.
Everywhere else, on normal random data, within TOL[dtype] by `max_rel_diff`: the sums
run in another order, and the fast LSTM activates its gates with one tanh
(sig(a) = tanh(a/2)/2 + 1/2, accurate in absolute terms) where plain uses the sigmoid.
"""

import numpy as np
import pytest
import torch

import scratch.functional as F
from scratch.functional import plain, recurrent
from scratch.testing import max_rel_diff

DTYPES = [np.float32, np.float64]
# Relative to the largest magnitude: about 40 units of rounding (eps 1.2e-7 and 2.2e-16),
# as tests/test_functional.py. The worst seen over this file's grid is ~10x smaller.
TOL = {np.dtype(np.float32): 5e-6, np.dtype(np.float64): 1e-14}
# (mode, proj_size)
MODES = [("RNN_TANH", 0), ("RNN_RELU", 0), ("GRU", 0), ("LSTM", 0), ("LSTM", 2)]
L, N, IN, H = 7, 3, 4, 5


def _data(rng, mode, proj, bias, dtype, ints=False):
    """Weights, inputs, initial state and upstream gradients for one direction of one layer:
    normal (weights scaled by 1/2), or small integers as floats if `ints`."""
    def draw(*shape, scale=1.0, high=2):
        a = rng.integers(-high, high + 1, shape) if ints else rng.standard_normal(shape) * scale
        return a.astype(dtype)

    gh, h_out = F.GATES[mode] * H, proj or H
    lstm = mode == "LSTM"
    return dict(
        x=draw(L, N, IN), h0=draw(N, h_out), c0=draw(N, H) if lstm else None,
        w_ih=draw(gh, IN, scale=0.5, high=1), w_hh=draw(gh, h_out, scale=0.5, high=1),
        b_ih=draw(gh, scale=0.5) if bias else None, b_hh=draw(gh, scale=0.5) if bias else None,
        w_hr=draw(proj, H, scale=0.5, high=1) if proj else None,
        g=draw(L, N, h_out), g_h=draw(N, h_out), g_c=draw(N, H) if lstm else None)


def _fast(mode, d, reverse, input_grad=True):
    """(output, h_n, c_n) and RecurrentGrads of the fast kernels."""
    out, h, c, cache = F.recurrent_direction_forward(
        mode, d["x"], d["h0"], d["c0"], d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"], d["w_hr"],
        reverse=reverse)
    grads = F.recurrent_direction_backward(d["g"], d["g_h"], d["g_c"], cache,
                                           input_grad=input_grad)
    return (out, h, c), grads


def _plain(mode, d, reverse):
    """(output, h_n, c_n) and RecurrentGrads of the plain loops."""
    w = (d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"])
    if mode == "LSTM":
        outs = plain.lstm(d["x"], d["h0"], d["c0"], *w, d["w_hr"], reverse)
        grads = plain.lstm_backward(d["g"], d["g_h"], d["g_c"], d["x"], d["h0"], d["c0"], *w,
                                    d["w_hr"], reverse)
        return outs, grads
    if mode == "GRU":
        outs = plain.gru(d["x"], d["h0"], *w, reverse)
        return (*outs, None), plain.gru_backward(d["g"], d["g_h"], d["x"], d["h0"], *w, reverse)
    act = "tanh" if mode == "RNN_TANH" else "relu"
    outs = plain.rnn(d["x"], d["h0"], *w, act, reverse)
    return (*outs, None), plain.rnn_backward(d["g"], d["g_h"], d["x"], d["h0"], *w, act,
                                             reverse)


def _pairs(fast, slow):
    """(name, fast array, plain array) for every output and gradient; a gradient that one
    side gives and the other leaves None fails here."""
    (outs, grads), (p_outs, p_grads) = fast, slow
    pairs = list(zip(("output", "h_n", "c_n"), outs, p_outs))
    pairs += [(f, getattr(grads, f), getattr(p_grads, f)) for f in grads._fields]
    for name, a, b in pairs:
        assert (a is None) == (b is None), f"{name}: {type(a).__name__} vs {type(b).__name__}"
    return [(name, a, b) for name, a, b in pairs if a is not None]


def _close(fast, slow, dtype, *, exact=False):
    """Bit for bit if `exact`, else every array within TOL[dtype] of its largest magnitude."""
    for name, a, b in _pairs(fast, slow):
        assert a.shape == b.shape and a.dtype == b.dtype == dtype, name
        if exact:
            assert np.array_equal(a, b), name
        else:
            assert max_rel_diff(a, b) <= TOL[np.dtype(dtype)], (name, max_rel_diff(a, b))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("mode,proj", MODES, ids=lambda v: str(v))
def test_recurrent_direction_matches_plain(mode, proj, bias, reverse, dtype):
    rng = np.random.default_rng(len(mode) + 2 * proj + 3 * bias + 5 * reverse)
    d = _data(rng, mode, proj, bias, dtype)
    _close(_fast(mode, d, reverse), _plain(mode, d, reverse), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_relu_rnn_on_integers_matches_plain_bit_for_bit(bias, reverse, dtype):
    rng = np.random.default_rng(11 + bias + 2 * reverse)
    d = _data(rng, "RNN_RELU", 0, bias, dtype, ints=True)
    fast, slow = _fast("RNN_RELU", d, reverse), _plain("RNN_RELU", d, reverse)
    pairs = _pairs(fast, slow)
    # Exact while every value is a small integer (float32 holds each one up to 2**24, and
    # products of two below 2**12), and not vacuous: no array is all zeros.
    assert max(np.abs(b).max() for _, _, b in pairs) < 2**12
    assert all(np.any(b) for _, _, b in pairs)
    _close(fast, slow, dtype, exact=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("proj", [0, 2], ids=["no-proj", "proj"])
@pytest.mark.parametrize("block_steps", [1, 2, 3, L])
def test_lstm_in_blocks_of_steps_matches_plain(block_steps, proj, dtype, monkeypatch):
    """Blocks of 1, 2, 3 steps of 7 (a block starts from the previous block's cell, the
    last block is shorter) and all 7 in one, in both directions."""
    step_bytes = N * 4 * H * np.dtype(dtype).itemsize
    monkeypatch.setattr(recurrent, "BLOCK_BYTES", block_steps * step_bytes)
    assert len(recurrent._step_blocks(range(L), step_bytes)) == -(-L // block_steps)
    rng = np.random.default_rng(block_steps + proj)
    for reverse in (False, True):
        d = _data(rng, "LSTM", proj, True, dtype)
        _close(_fast("LSTM", d, reverse), _plain("LSTM", d, reverse), dtype)


def _same_grads(a, b, fields):
    for f in fields:
        x, y = getattr(a, f), getattr(b, f)
        assert (x is None and y is None) or np.array_equal(x, y), f


@pytest.mark.parametrize("mode,proj", MODES, ids=lambda v: str(v))
def test_input_grad_false_skips_only_the_input_gradient(mode, proj):
    """input_grad=False leaves `input` None and every other gradient bit for bit as it was;
    None for dL/dh_n and dL/dc_n is the same as zeros."""
    d = _data(np.random.default_rng(3), mode, proj, True, np.float64)
    (_, full), (_, skipped) = _fast(mode, d, True), _fast(mode, d, True, input_grad=False)
    assert full.input is not None and skipped.input is None
    _same_grads(full, skipped, full._fields[1:])
    zeros = dict(d, g_h=np.zeros_like(d["g_h"]),
                 g_c=None if d["g_c"] is None else np.zeros_like(d["g_c"]))
    (_, given), (_, absent) = _fast(mode, zeros, False), _fast(mode, dict(d, g_h=None, g_c=None),
                                                              False)
    _same_grads(given, absent, full._fields)


def _torch(mode, proj, d, reverse):
    """(output, h_n, c_n) and RecurrentGrads of torch.nn.RNN / LSTM / GRU with the same
    weights, one layer, one direction (reverse: run on the time-flipped sequence), the
    gradients by autograd."""
    kw = {"bias": d["b_ih"] is not None, "dtype": torch.float64}
    if mode.startswith("RNN"):
        kw["nonlinearity"] = mode[4:].lower()
    if proj:
        kw["proj_size"] = proj
    m = getattr(torch.nn, {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(mode, mode))(IN, H, **kw)
    with torch.no_grad():
        for name, p in m.named_parameters():  # weight_ih_l0 -> d["w_ih"], bias_hh_l0 -> b_hh
            p.copy_(torch.from_numpy(d[name[0] + "_" + name.split("_")[1]]))
    x, h0 = (torch.tensor(d[k], requires_grad=True) for k in ("x", "h0"))
    c0 = None if d["c0"] is None else torch.tensor(d["c0"], requires_grad=True)
    xs = x.flip(0) if reverse else x
    if c0 is None:
        out, h_n = m(xs, h0[None])
        c_n = None
    else:
        out, (h_n, c_n) = m(xs, (h0[None], c0[None]))
    out = out.flip(0) if reverse else out  # (L, N, H_out)
    loss = (out * torch.from_numpy(d["g"])).sum() + (h_n[0] * torch.from_numpy(d["g_h"])).sum()
    if c_n is not None:
        loss = loss + (c_n[0] * torch.from_numpy(d["g_c"])).sum()
    loss.backward()
    params = dict(m.named_parameters())

    def numpy(t):
        return None if t is None else t.detach().numpy()

    grads = F.RecurrentGrads(
        numpy(x.grad), numpy(h0.grad), numpy(None if c0 is None else c0.grad),
        *(numpy(params[f"{f}_l0"].grad) if f"{f}_l0" in params else None
          for f in F.RecurrentGrads._fields[3:]))
    return (numpy(out), numpy(h_n[0]), numpy(None if c_n is None else c_n[0])), grads


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("mode,proj", MODES, ids=lambda v: str(v))
def test_plain_is_torchs_layer(mode, proj, bias, reverse):
    """The specification itself against torch, float64, forward and every gradient."""
    d = _data(np.random.default_rng(7), mode, proj, bias, np.float64)
    for name, a, b in _pairs(_plain(mode, d, reverse), _torch(mode, proj, d, reverse)):
        assert max_rel_diff(a, b) <= TOL[np.dtype(np.float64)], name
