"""Recurrent, embedding, normalisation and attention twins over every flag combination.

The catalogue (bench/compare/catalogue.py) holds one case per flag for the parity
table and gradcheck; here every combination runs once per dtype at odd sizes,
with sequence length 1 and uneven padding masks among them.
"""

import itertools

import numpy as np
import pytest
import torch

import reference
import scratch
from bench.compare import TOLERANCES, compare
from bench.compare.catalogue import padding_mask
from scratch import functional as F

DTYPES = [np.float64, np.float32]
RNNS = [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("GRU", {}), ("LSTM", {}),
        ("LSTM", {"proj_size": 2})]


def _close(res, dtype):
    res.assert_close(TOLERANCES[np.dtype(dtype)])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name,kw", RNNS, ids=lambda v: str(v))
def test_recurrent_every_flag(name, kw, dtype):
    rng = np.random.default_rng(1)
    for layers, bias, batch_first, bidirectional, length, with_state in itertools.product(
            (1, 2), (True, False), (False, True), (False, True), (1, 4), (False, True)):
        m = getattr(scratch, name)(3, 5, layers, bias=bias, batch_first=batch_first,
                                   bidirectional=bidirectional, rng=rng, dtype=dtype, **kw)
        n = 3
        x = rng.standard_normal((n, length, 3) if batch_first else (length, n, 3)).astype(dtype)
        d = 2 if bidirectional else 1
        h0 = rng.standard_normal((d * layers, n, kw.get("proj_size") or 5)).astype(dtype)
        c0 = rng.standard_normal((d * layers, n, 5)).astype(dtype)
        state = ((h0, c0) if name == "LSTM" else h0) if with_state else None
        inputs = (x, state) if with_state else (x,)
        res = compare(m, *inputs, rng=rng)
        expected_inputs = 1 + with_state * (2 if name == "LSTM" else 1)
        assert sum(k.startswith("input") for k in res.pairs) == expected_inputs
        _close(res, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kw", [{}, {"proj_size": 2}], ids=str)
@pytest.mark.parametrize("block_steps", [1, 2, 3])
def test_lstm_in_blocks_of_steps(block_steps, kw, dtype, monkeypatch):
    """A long batch walks its steps in blocks (BLOCK_BYTES); here blocks of 1, 2 and 3 of
    7 steps, forced small, so that a block starts from the previous block's cell, in
    both directions, stacked, with and without projection."""
    from scratch.functional import recurrent

    n, hidden = 3, 5
    step_bytes = n * 4 * hidden * np.dtype(dtype).itemsize
    monkeypatch.setattr(recurrent, "BLOCK_BYTES", block_steps * step_bytes)
    assert len(recurrent._step_blocks(range(7), step_bytes)) == -(-7 // block_steps)
    rng = np.random.default_rng(block_steps)
    m = scratch.LSTM(3, hidden, 2, bidirectional=True, rng=rng, dtype=dtype, **kw)
    x = rng.standard_normal((7, n, 3)).astype(dtype)
    h0 = rng.standard_normal((4, n, kw.get("proj_size") or hidden)).astype(dtype)
    c0 = rng.standard_normal((4, n, hidden)).astype(dtype)
    _close(compare(m, x, (h0, c0), rng=rng), dtype)


@pytest.mark.parametrize("name,kw", RNNS, ids=lambda v: str(v))
def test_recurrent_unbatched(name, kw, rng):
    m = getattr(scratch, name)(3, 5, 2, bidirectional=True, rng=rng, dtype=np.float64, **kw)
    x = rng.standard_normal((4, 3))
    h0 = rng.standard_normal((4, kw.get("proj_size") or 5))
    state = (h0, rng.standard_normal((4, 5))) if name == "LSTM" else h0
    out = m(x, state)
    assert out[0].shape == (4, 2 * (kw.get("proj_size") or 5))
    _close(compare(m, x, state, rng=rng), np.float64)


def test_backward_api_returns_initial_state_gradients(rng):
    """LSTM.backward(grad_output, grad_h_n, grad_c_n) -> (dx, dh0, dc0), as documented."""
    m = scratch.LSTM(3, 5, 2, rng=rng, dtype=np.float64)
    x = rng.standard_normal((4, 2, 3))
    out, (h_n, c_n) = m(x)
    dx, dh0, dc0 = m.backward(np.ones_like(out), None, np.ones_like(c_n))
    assert dx.shape == x.shape and dh0.shape == h_n.shape and dc0.shape == c_n.shape
    t = reference.twin(m)
    h0 = torch.zeros(2, 2, 5, dtype=torch.float64, requires_grad=True)
    c0 = torch.zeros(2, 2, 5, dtype=torch.float64, requires_grad=True)
    tout, (_, tc) = t(reference.to_torch(x), (h0, c0))
    (tout.sum() + tc.sum()).backward()
    np.testing.assert_allclose(dh0, h0.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dc0, c0.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_recurrent_dropout_gradcheck(name, rng):
    """Training-mode dropout between layers: masks from the module's rng, backward exact."""
    m = getattr(scratch, name)(3, 4, 3, dropout=0.5, rng=rng, dtype=np.float64)
    x = rng.standard_normal((3, 2, 3))
    out = m(x)[0]
    assert not np.allclose(out, m.eval()(x)[0])  # dropout did something in training
    m.train()
    scratch.gradcheck(m, x, rng=rng)


def test_recurrent_state_dict_keys_match_torch(rng):
    m = scratch.LSTM(3, 5, 2, bidirectional=True, proj_size=2, rng=rng)
    assert list(m.state_dict()) == list(reference.twin(m).state_dict())
    assert "weight_hr_l1_reverse" in m.state_dict()


def test_layernorm_every_flag():
    rng = np.random.default_rng(2)
    for dtype, shape, affine, bias in itertools.product(
            DTYPES, (7, (3, 5)), (True, False), (True, False)):
        m = scratch.LayerNorm(shape, 1e-4, affine, bias, dtype=dtype)
        if affine:  # trained-looking affine parameters, so their gradients are not trivial
            m.weight.data[...] = rng.uniform(0.5, 1.5, m.weight.shape)
            if bias:
                m.bias.data[...] = rng.standard_normal(m.bias.shape)
        trailing = (shape,) if isinstance(shape, int) else shape
        _close(compare(m, rng.standard_normal((2, 3, *trailing)).astype(dtype), rng=rng), dtype)


def test_embedding_every_flag():
    rng = np.random.default_rng(3)
    for dtype, pad, max_norm, norm_type, freq in itertools.product(
            DTYPES, (None, 0, -2), (None, 1.0), (2.0, 1.0), (False, True)):
        m = scratch.Embedding(9, 5, pad, max_norm, norm_type, freq, rng=rng, dtype=dtype)
        idx = rng.integers(0, 9, size=(4, 7))
        idx[0, :3] = 0  # repeated indices and the padding row
        t = reference.twin(m)
        _close(compare(m, idx, rng=rng), dtype)
        t(torch.from_numpy(idx))  # max_norm renormalises the table in place, in both twins
        m(idx)
        for k, v in t.state_dict().items():
            np.testing.assert_allclose(m.state_dict()[k], v.numpy(),
                                       rtol=TOLERANCES[np.dtype(dtype)].rtol,
                                       atol=TOLERANCES[np.dtype(dtype)].atol)


def test_embedding_refuses_sparse(rng):
    with pytest.raises(NotImplementedError, match="sparse=True"):
        scratch.Embedding(5, 3, sparse=True, rng=rng)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_attention_every_flag(dtype):
    rng = np.random.default_rng(4)
    for (bias, bias_kv, zero_attn, kvdim, batch_first, need_weights, average, masks,
         length) in itertools.product((True, False), (False, True), (False, True),
                                      ((None, None), (5, 3)), (False, True), (True, False),
                                      (True, False), ("none", "padding", "both", "float3d"),
                                      (1, 3)):
        kdim, vdim = kvdim
        m = scratch.MultiheadAttention(6, 3, 0.0, bias, bias_kv, zero_attn, kdim, vdim,
                                       batch_first, rng=rng, dtype=dtype)
        n, src = 2, 4

        def seq(steps, f, batch_first=batch_first):
            shape = (2, steps, f) if batch_first else (steps, 2, f)
            return rng.standard_normal(shape).astype(dtype)

        opts = {"need_weights": need_weights, "average_attn_weights": average}
        if masks in ("padding", "both"):
            opts["key_padding_mask"] = padding_mask(rng, n, src)
        if masks == "both":
            opts["attn_mask"] = np.triu(np.ones((length, src), bool), 1)
        if masks == "float3d":
            opts["attn_mask"] = rng.standard_normal((n * 3, length, src)).astype(dtype)
        res = compare(m, seq(length, 6), seq(src, kdim or 6), seq(src, vdim or 6),
                      options=opts, rng=rng)
        assert ("output1" in res.pairs) == need_weights
        _close(res, dtype)


def test_attention_unbatched_and_causal_hint(rng):
    m = scratch.MultiheadAttention(6, 2, rng=rng, dtype=np.float64)
    q = rng.standard_normal((3, 6))
    causal = np.triu(np.ones((3, 3), bool), 1)
    _close(compare(m, q, q, q, options={"attn_mask": causal, "is_causal": True}, rng=rng),
           np.float64)
    with pytest.raises(RuntimeError, match="Need attn_mask"):
        m(q, q, q, is_causal=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_encoder_every_flag(dtype):
    rng = np.random.default_rng(5)
    for norm_first, activation, batch_first, bias, length, norm, mask in itertools.product(
            (False, True), ("relu", "gelu"), (False, True), (True, False), (1, 4),
            (False, True), ("none", "padding", "causal")):
        layer = scratch.TransformerEncoderLayer(6, 3, 7, 0.0, activation, 1e-5, batch_first,
                                                norm_first, bias, rng=rng, dtype=dtype)
        enc = scratch.TransformerEncoder(
            layer, 2, scratch.LayerNorm(6, dtype=dtype) if norm else None,
            enable_nested_tensor=False)
        n = 3
        x = rng.standard_normal((n, length, 6) if batch_first else (length, n, 6)).astype(dtype)
        opts = {}
        if mask == "padding":
            opts["src_key_padding_mask"] = padding_mask(rng, n, length)
        if mask == "causal":
            opts["mask"] = np.triu(np.ones((length, length), bool), 1)
        _close(compare(enc, x, options=opts, rng=rng), dtype)


def test_encoder_layer_activation_module_and_eval_dropout(rng):
    layer = scratch.TransformerEncoderLayer(6, 2, 5, 0.3, scratch.GELU("tanh"), rng=rng,
                                            dtype=np.float64).eval()
    _close(compare(layer, rng.standard_normal((4, 2, 6)), rng=rng), np.float64)


def test_torch_fast_path_agrees_within_float32_tolerance(rng):
    """torch's eval inference path (fused kernels, nested tensors) is another summation
    order of the same function: the twins agree to float32 tolerance there too."""
    layer = scratch.TransformerEncoderLayer(8, 2, 16, 0.1, batch_first=True, rng=rng)
    enc = scratch.TransformerEncoder(layer, 2).eval()
    x = rng.standard_normal((3, 5, 8)).astype(np.float32)
    kpm = padding_mask(rng, 3, 5)
    t = reference.twin(enc)
    with torch.no_grad():
        fast = t(reference.to_torch(x), src_key_padding_mask=torch.from_numpy(kpm)).numpy()
    ours = enc(x, src_key_padding_mask=kpm)
    keep = ~kpm  # the nested-tensor path returns zeros at padded positions
    tol = TOLERANCES[np.dtype(np.float32)]
    np.testing.assert_allclose(ours[keep], fast[keep], rtol=tol.rtol, atol=tol.atol)


def test_encoder_layers_are_copies_sharing_the_generator(rng):
    layer = scratch.TransformerEncoderLayer(6, 2, 5, rng=rng)
    enc = scratch.TransformerEncoder(layer, 2)
    a, b = enc.layers[0], enc.layers[1]
    assert a.linear1.weight is not b.linear1.weight
    np.testing.assert_array_equal(a.linear1.weight.data, b.linear1.weight.data)
    assert a.dropout.rng is b.dropout.rng is layer.dropout.rng


def test_attention_and_encoder_dropout_gradcheck(rng):
    """Training-mode dropout on the attention weights and in the encoder layer: masks
    from the module's rng (replayed by gradcheck), backward exact."""
    m = scratch.MultiheadAttention(4, 2, dropout=0.4, rng=rng, dtype=np.float64)
    q = rng.standard_normal((3, 2, 4))
    scratch.gradcheck(m, q, rng.standard_normal((3, 2, 4)), rng.standard_normal((3, 2, 4)),
                      rng=rng)
    layer = scratch.TransformerEncoderLayer(4, 2, 5, 0.3, rng=rng, dtype=np.float64)
    scratch.gradcheck(layer, q, rng=rng)


def test_encoder_layer_unbatched(rng):
    layer = scratch.TransformerEncoderLayer(6, 2, 5, 0.0, rng=rng, dtype=np.float64)
    x = rng.standard_normal((4, 6))  # (S, E)
    assert layer(x).shape == (4, 6)
    _close(compare(layer, x, rng=rng), np.float64)


def test_embedding_given_weight(rng):
    table = rng.standard_normal((6, 3))
    m = scratch.Embedding(6, 3, padding_idx=1, _weight=table, rng=rng, dtype=np.float64)
    np.testing.assert_array_equal(m.weight.data, table)  # as torch: not zeroed at padding_idx
    _close(compare(m, rng.integers(0, 6, (2, 5)), rng=rng), np.float64)


STACKS = [(name, kw, layers, bidirectional)
          for name, kw in (("RNN", {}), ("GRU", {}), ("LSTM", {}), ("LSTM", {"proj_size": 2}))
          for layers in (1, 2, 3) for bidirectional in (False, True)]


def _torch_layer(m, layer: int) -> torch.nn.Module:
    """Layer `layer` of the scratch stack as a one-layer torch module of the same kind, with
    that layer's weights (torch's `_l{layer}` names become `_l0`)."""
    kw = {"proj_size": m.proj_size} if m.proj_size else {}
    if m.mode.startswith("RNN"):
        kw["nonlinearity"] = m.nonlinearity
    out_size = (m.proj_size or m.hidden_size) * m.num_directions
    t = getattr(torch.nn, type(m).__name__)(
        m.input_size if layer == 0 else out_size, m.hidden_size, 1, bias=m.bias,
        bidirectional=m.bidirectional, **kw).double()
    with torch.no_grad():
        for name, p in t.named_parameters():
            p.copy_(torch.from_numpy(getattr(m, name.replace("_l0", f"_l{layer}")).data))
    return t


@pytest.mark.parametrize("name,kw,layers,bidirectional", STACKS, ids=str)
def test_stacked_dropout_between_layers_only_as_torch_stacks_them(name, kw, layers,
                                                                  bidirectional):
    """Training-mode dropout in a stack of 1-3 layers is torch's: a mask on every layer's
    output but the last (none at all for one layer), none on h_n / c_n. The reference is
    torch's own one-layer modules, stacked by hand with scratch's masks between them (drawn
    from a copy of the module's Generator, in order); output, final states, dx and every
    weight's gradient must agree in float64 (TOLERANCES), and the module's Generator must
    have drawn exactly layers - 1 masks."""
    rng = np.random.default_rng(layers)
    p = 0.5
    m = getattr(scratch, name)(3, 4, layers, dropout=p, bidirectional=bidirectional,
                               rng=np.random.default_rng(0), dtype=np.float64, **kw)
    is_lstm = name == "LSTM"
    x = rng.standard_normal((5, 2, 3))  # (L, N, in)
    masks = np.random.default_rng()
    masks.bit_generator.state = m.rng.bit_generator.state
    out = m(x)
    g = rng.standard_normal(out[0].shape)  # (L, N, D*H_out)
    dx = m.backward(g)[0]

    tx = torch.tensor(x, requires_grad=True)
    inp, finals, tlayers = tx, [], [_torch_layer(m, k) for k in range(layers)]
    for k, t in enumerate(tlayers):
        inp, state = t(inp)
        finals.append(state)
        if k < layers - 1:
            inp = inp * torch.from_numpy(F.dropout_scale(masks, inp.shape, p, np.float64))
    (inp * torch.from_numpy(g)).sum().backward()
    tol = TOLERANCES[np.dtype(np.float64)]
    expect = {"output": (out[0], inp)}
    h_n = out[1][0] if is_lstm else out[1]
    expect["h_n"] = (h_n, torch.cat([s[0] if is_lstm else s for s in finals]))
    if is_lstm:
        expect["c_n"] = (out[1][1], torch.cat([s[1] for s in finals]))
    expect["dx"] = (dx, tx.grad)
    for k, t in enumerate(tlayers):
        for pname, tp in t.named_parameters():
            key = pname.replace("_l0", f"_l{k}")
            expect[key] = (getattr(m, key).grad, tp.grad)
    for key, (ours, theirs) in expect.items():
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=tol.rtol, atol=tol.atol,
                                   err_msg=key)
    # the masks were drawn from the module's Generator, layers - 1 of them and no more
    assert m.rng.random() == masks.random()


@pytest.mark.parametrize("name,kw,layers,bidirectional",
                         [s for s in STACKS if s[2] > 1], ids=str)
def test_stacked_backward_without_input_grad_keeps_the_gradient_between_layers(
        name, kw, layers, bidirectional):
    """backward(input_grad=False), what the training loop calls, skips dL/dx of the input
    only: the gradient still flows between the stack's own layers (through dropout), so
    every parameter gradient is bit for bit the input_grad=True one."""
    rng = np.random.default_rng(7)
    m = getattr(scratch, name)(3, 4, layers, dropout=0.3, bidirectional=bidirectional,
                               rng=rng, dtype=np.float64, **kw)
    x = rng.standard_normal((4, 2, 3))  # (L, N, in)
    out = m(x)[0]
    g = rng.standard_normal(out.shape)
    assert m.backward(g)[0].shape == x.shape
    full = {k: p.grad.copy() for k, p in m.named_parameters()}
    m.zero_grad()
    assert m.backward(g, input_grad=False)[0] is None
    for k, p in m.named_parameters():
        np.testing.assert_array_equal(p.grad, full[k], err_msg=k)
