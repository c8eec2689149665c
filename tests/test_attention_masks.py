"""Fully masked attention rows, path by path, as torch gives them.

A query whose every key is masked (a fully padded sequence, or a row of attn_mask that is
True throughout) has no softmax. torch answers it two ways, read here from torch itself
through the twin: MultiheadAttention with need_weights=False (scaled_dot_product_attention,
the path TransformerEncoderLayer always takes) gives the row weights 0, so its output is
out_proj.bias and every gradient stays finite; with need_weights=True the weights, the
output and the gradients that row reaches are NaN. Parity's rule (`ParityResult.failures`)
fails a pair whose NaN pattern differs, so each comparison below holds scratch to torch's
NaNs as well as its numbers, at the per-dtype `TOLERANCES`.
"""

import itertools

import numpy as np
import pytest
import torch

import reference
import scratch
from bench.compare import TOLERANCES, compare

DTYPES = [np.float64, np.float32]
N, L, S, E, H = 3, 4, 5, 6, 3


def _padding(fully_padded: int = 1) -> np.ndarray:
    """(N, S) bool, True past each sample's length; sample `fully_padded` has no key."""
    lengths = np.array([S, 2, 3])
    lengths[fully_padded] = 0
    return np.arange(S)[None, :] >= lengths[:, None]


def _masks(kind: str, dtype, rng) -> dict:
    """The mask options of one case; each leaves at least one query with no key."""
    if kind == "padding":
        return {"key_padding_mask": _padding()}
    if kind == "float padding":  # -inf as a float mask, with finite values beside it
        kpm = np.where(_padding(), -np.inf, rng.standard_normal((N, S))).astype(dtype)
        return {"key_padding_mask": kpm}
    row = np.zeros((L, S), bool)
    row[2] = True  # query 2 may attend to nothing, in every sample
    if kind == "attn_mask row":
        return {"attn_mask": row}
    if kind == "both":
        return {"attn_mask": row, "key_padding_mask": _padding()}
    raise ValueError(kind)


def _seq(rng, steps, dtype, batch_first):
    return rng.standard_normal((N, steps, E) if batch_first else (steps, N, E)).astype(dtype)


def _finite(res) -> None:
    for name, (ours, theirs) in res.pairs.items():
        assert np.isfinite(ours).all() and np.isfinite(theirs).all(), name


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("need_weights", [False, True], ids=["no_weights", "weights"])
@pytest.mark.parametrize("kind", ["padding", "float padding", "attn_mask row", "both"])
def test_attention_fully_masked_row(kind, need_weights, dtype):
    rng = np.random.default_rng(30)
    for batch_first, bias, average in itertools.product((False, True), (True, False),
                                                        (True, False)):
        m = scratch.MultiheadAttention(E, H, bias=bias, batch_first=batch_first, rng=rng,
                                       dtype=dtype)
        if bias:  # torch zeroes out_proj.bias at init; a drawn one shows in the masked row
            m.out_proj.bias.data[...] = rng.standard_normal(E)
        q, kv = _seq(rng, L, dtype, batch_first), _seq(rng, S, dtype, batch_first)
        opts = {"need_weights": need_weights, "average_attn_weights": average,
                **_masks(kind, dtype, rng)}
        with np.errstate(invalid="ignore"):  # the weights path's NaN is the answer
            res = compare(m, q, kv, kv, options=opts, rng=rng)
        res.assert_close(TOLERANCES[np.dtype(dtype)])
        out = res.pairs["output"][1]
        if need_weights:  # torch's weights path: the masked rows are NaN
            assert np.isnan(out).any() and np.isnan(res.pairs["in_proj_weight.grad"][1]).any()
        else:  # torch's attention path: 0 weights, out_proj.bias out, finite gradients
            _finite(res)
            row = (out[1] if batch_first else out[:, 1]) if "padding" in kind else (
                out[:, 2] if batch_first else out[2])
            bias_out = m.out_proj.bias.data if bias else np.zeros(E, dtype)
            np.testing.assert_array_equal(row, np.broadcast_to(bias_out, row.shape))


def test_attention_with_bias_kv_is_never_fully_masked(rng):
    """bias_k and the zero key add keys no mask covers: the row attends to them, on both
    paths, finite, as torch."""
    m = scratch.MultiheadAttention(E, H, add_bias_kv=True, add_zero_attn=True, rng=rng,
                                   dtype=np.float64)
    q, kv = _seq(rng, L, np.float64, False), _seq(rng, S, np.float64, False)
    for need_weights in (False, True):
        res = compare(m, q, kv, kv, options={"key_padding_mask": _padding(),
                                             "need_weights": need_weights}, rng=rng)
        res.assert_close(TOLERANCES[np.dtype(np.float64)])
        _finite(res)


def test_safe_softmax_zeroes_only_rows_masked_throughout():
    """The kernel: a row of -inf gives 0 (no NaN, no warning), any other row the softmax."""
    s = np.array([[-np.inf, -np.inf, -np.inf], [0.0, -np.inf, 1.0], [1.0, 2.0, 3.0]])
    with np.errstate(all="raise"):
        p = scratch.functional.safe_softmax(s)
    np.testing.assert_array_equal(p[0], 0.0)
    np.testing.assert_allclose(p[1:], scratch.functional.softmax(s[1:], -1), rtol=1e-15)


def _encoder(norm_first, batch_first, layers, dtype, rng):
    layer = scratch.TransformerEncoderLayer(E, H, 7, 0.0, "relu", 1e-5, batch_first,
                                            norm_first, rng=rng, dtype=dtype)
    if layers == 0:
        return layer, "src_mask"
    return scratch.TransformerEncoder(layer, layers, scratch.LayerNorm(E, dtype=dtype),
                                      enable_nested_tensor=False), "mask"


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layers", [0, 2], ids=["TransformerEncoderLayer",
                                                "TransformerEncoder"])
def test_encoder_with_a_fully_padded_sequence(layers, dtype):
    """Forward and every gradient against torch, post-norm and pre-norm, both layouts, with
    and without a causal mask beside the padding: all finite in both twins."""
    rng = np.random.default_rng(31)
    for norm_first, batch_first, causal in itertools.product((False, True), (False, True),
                                                             (False, True)):
        model, mask_name = _encoder(norm_first, batch_first, layers, dtype, rng)
        opts = {"src_key_padding_mask": _padding()}
        if causal:
            opts[mask_name] = np.triu(np.ones((S, S), bool), 1)
        res = compare(model, _seq(rng, S, dtype, batch_first), options=opts, rng=rng)
        res.assert_close(TOLERANCES[np.dtype(dtype)])
        _finite(res)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_encoder_trains_with_a_fully_padded_sequence(dtype):
    """Five SGD steps of a TransformerEncoder and a linear head on a batch holding one fully
    padded sequence: the losses and the weights stay finite and equal torch's."""
    rng = np.random.default_rng(32)
    layer = scratch.TransformerEncoderLayer(E, H, 7, 0.0, batch_first=True, rng=rng,
                                            dtype=dtype)
    model = scratch.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    twin = reference.twin(model)
    x = _seq(rng, S, dtype, True)
    target = rng.standard_normal(x.shape).astype(dtype)
    kpm = _padding()
    ours, theirs = scratch.optim.SGD(model.parameters(), lr=0.1), torch.optim.SGD(
        twin.parameters(), lr=0.1)
    loss_fn, torch_loss_fn = scratch.MSELoss(), torch.nn.MSELoss()
    tol = TOLERANCES[np.dtype(dtype)]
    for _ in range(5):
        ours.zero_grad()
        loss = loss_fn(model(x, src_key_padding_mask=kpm), target)
        model.backward(loss_fn.backward())
        ours.step()
        theirs.zero_grad()
        torch_loss = torch_loss_fn(twin(reference.to_torch(x),
                                        src_key_padding_mask=torch.from_numpy(kpm)),
                                   reference.to_torch(target))
        torch_loss.backward()
        theirs.step()
        assert np.isfinite(loss)
        assert loss == pytest.approx(torch_loss.item(), rel=10 * tol.rtol, abs=tol.atol)
    torch_state = twin.state_dict()
    for name, value in model.state_dict().items():
        assert np.isfinite(value).all(), name
        np.testing.assert_allclose(value, reference.to_numpy(torch_state[name]),
                                   rtol=10 * tol.rtol, atol=10 * tol.atol, err_msg=name)
