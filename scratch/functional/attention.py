"""Multi-head attention, forward and backward, as torch's F.multi_head_attention_forward.

With head dim d = E / H, per head:

    q = query W_q^T + b_q,  k = key W_k^T + b_k,  v = value W_v^T + b_v
    S = (q / sqrt(d)) k^T + mask,   P = softmax(S) (rows),   P' = dropout(P)
    head = P' v,   output = concat(heads) W_o^T + b_o

Masks: bool entries True mean "may not attend" and become -inf; float masks are
added. `bias_k`/`bias_v` append one learned key/value (and a zero mask column),
`add_zero_attn` one zero key/value after that. Arrays here are batch-major:
query (N, L, E), key (N, S, kdim), value (N, S, vdim).

A row of S that is -inf throughout (a fully padded sequence) has no softmax, and
torch answers it two ways, chosen here by `zero_masked_rows`. Its weights path
(need_weights=True) takes the plain softmax: NaN in every weight of the row, and so in
the output and every gradient it reaches. Its scaled_dot_product_attention path
(need_weights=False, the one TransformerEncoderLayer takes) sets P's row to 0: the
row's heads are 0, its output is the out projection's bias, and it passes no gradient
back (dS = P * (...) = 0).

Backward, with G = dL/dP' (plus any gradient given for the returned weights):

    dP = G * dropout scale,   dS = P * (dP - rowsum(dP * P)),
    dq = dS k / sqrt(d),   dk = dS^T q / sqrt(d),   dv = P'^T dhead
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from scratch.functional.activation import softmax, softmax_backward
from scratch.functional.dropout import dropout_scale
from scratch.functional.linear import linear, linear_backward


class MultiheadAttentionCache(NamedTuple):
    """What `multi_head_attention_backward` needs from the forward."""

    query: np.ndarray  # (N, L, E)
    key: np.ndarray  # (N, S, kdim)
    value: np.ndarray  # (N, S, vdim)
    num_heads: int
    w_q: np.ndarray
    w_k: np.ndarray
    w_v: np.ndarray
    w_o: np.ndarray
    qs: np.ndarray  # the scaled query heads q / sqrt(d) (N, H, L, d)
    kh: np.ndarray  # key heads, bias_k and the zero key appended (N, H, S', d)
    vh: np.ndarray  # value heads (N, H, S', d)
    p: np.ndarray  # softmax(S) (N, H, L, S')
    keep: np.ndarray | None  # dropout's scale (N, H, L, S'), None without dropout
    p_used: np.ndarray  # P' = P * keep (N, H, L, S')
    concat: np.ndarray  # the heads' outputs side by side (N, L, E)
    scale: np.floating  # 1 / sqrt(d)
    has_bias_kv: bool
    add_zero_attn: bool


class MultiheadAttentionGrads(NamedTuple):
    """The gradients of `multi_head_attention_forward`, named after its arguments; the
    inputs' are None without input_grad, bias_k's and bias_v's without those biases."""

    query: np.ndarray | None  # (N, L, E)
    key: np.ndarray | None  # (N, S, kdim)
    value: np.ndarray | None  # (N, S, vdim)
    w_q: np.ndarray
    w_k: np.ndarray
    w_v: np.ndarray
    b_q: np.ndarray
    b_k: np.ndarray
    b_v: np.ndarray
    w_o: np.ndarray
    b_o: np.ndarray
    bias_k: np.ndarray | None  # (1, 1, E)
    bias_v: np.ndarray | None  # (1, 1, E)


def canonical_mask(mask: np.ndarray | None, dtype, name: str) -> np.ndarray | None:
    """A bool mask as 0 / -inf floats (True: masked), a float mask as it is, as torch."""
    if mask is None:
        return None
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray of bool or float, "
                        f"got {type(mask).__name__}")
    if mask.dtype == np.bool_:
        return np.where(mask, dtype.type(-np.inf), dtype.type(0))
    if not np.issubdtype(mask.dtype, np.floating):
        raise TypeError(f"only bool and floating types of {name} are supported, got {mask.dtype}")
    return mask.astype(dtype, copy=False)


def safe_softmax(s: np.ndarray) -> np.ndarray:
    """softmax(s) over the last axis, 0 on a row that is -inf throughout (torch's
    `_safe_softmax`, inside scaled_dot_product_attention), without NaN or a warning."""
    dead = np.all(s == -np.inf, axis=-1, keepdims=True)  # (..., 1)
    if not dead.any():
        return softmax(s, -1)
    return np.where(dead, s.dtype.type(0), softmax(np.where(dead, s.dtype.type(0), s), -1))


def multi_head_attention_forward(query, key, value, num_heads: int, w_q, w_k, w_v, b_q, b_k,
                                 b_v, w_o, b_o, *, bias_k=None, bias_v=None,
                                 add_zero_attn: bool = False, mask=None, dropout_p: float = 0.0,
                                 rng: np.random.Generator | None = None,
                                 zero_masked_rows: bool = False
                                 ) -> tuple[np.ndarray, np.ndarray, MultiheadAttentionCache]:
    """Attention output (N, L, E), head weights P' (N, H, L, S'), and the cache for backward.

    `mask` is the merged additive mask, broadcastable to (N, H, L, S') where S' counts
    bias_k and the zero key; dropout_p > 0 draws P's mask from `rng` (`dropout_scale`).
    zero_masked_rows: a fully masked row's weights are 0 (`safe_softmax`, torch's
    need_weights=False path) instead of NaN (the plain softmax, its need_weights=True path).
    """
    n, length, e = query.shape
    d = e // num_heads
    q = linear(query, w_q, b_q)  # (N, L, E)
    k = linear(key, w_k, b_k)  # (N, S, E)
    v = linear(value, w_v, b_v)
    if bias_k is not None:
        k = np.concatenate([k, np.broadcast_to(bias_k.reshape(1, 1, e), (n, 1, e))], axis=1)
        v = np.concatenate([v, np.broadcast_to(bias_v.reshape(1, 1, e), (n, 1, e))], axis=1)

    def heads(t):
        return t.reshape(n, t.shape[1], num_heads, d).transpose(0, 2, 1, 3)  # (N, H, S, d)

    qh, kh, vh = heads(q), heads(k), heads(v)
    if add_zero_attn:
        zero = np.zeros((n, num_heads, 1, d), q.dtype)
        kh, vh = np.concatenate([kh, zero], axis=2), np.concatenate([vh, zero], axis=2)
    scale = q.dtype.type(math.sqrt(1.0 / d))
    qs = qh * scale  # (N, H, L, d)
    s = qs @ kh.transpose(0, 1, 3, 2)  # (N, H, L, S')
    if mask is not None:
        s = s + mask
    p = safe_softmax(s) if zero_masked_rows else softmax(s, -1)  # (N, H, L, S')
    keep = None
    if dropout_p > 0:
        # p = 1 draws nothing: every weight is dropped
        keep = (np.zeros_like(p) if dropout_p >= 1
                else dropout_scale(rng, p.shape, dropout_p, q.dtype))  # (N, H, L, S')
        p_used = p * keep
    else:
        p_used = p
    heads_out = p_used @ vh  # (N, H, L, d)
    concat = heads_out.transpose(0, 2, 1, 3).reshape(n, length, e)  # (N, L, E)
    out = linear(concat, w_o, b_o)  # (N, L, E)
    cache = MultiheadAttentionCache(query, key, value, num_heads, w_q, w_k, w_v, w_o, qs, kh,
                                    vh, p, keep, p_used, concat, scale, bias_k is not None,
                                    add_zero_attn)
    return out, p_used, cache


def multi_head_attention_backward(grad_out: np.ndarray, grad_weights: np.ndarray | None,
                                  cache: MultiheadAttentionCache, *, input_grad: bool = True
                                  ) -> MultiheadAttentionGrads:
    """Gradients of `multi_head_attention_forward`.

    Args:
        grad_out: dL/doutput (N, L, E).
        grad_weights: dL/dP' (N, H, L, S') or None.
        input_grad: if False, the query, key and value gradients are None and their
            matmuls skipped.
    """
    c = cache
    n, length, e = grad_out.shape
    d = e // c.num_heads
    out_grads = linear_backward(grad_out, c.concat, c.w_o)
    dconcat = out_grads.input  # (N, L, E)
    dheads = dconcat.reshape(n, length, c.num_heads, d).transpose(0, 2, 1, 3)  # (N, H, L, d)
    dp = dheads @ c.vh.transpose(0, 1, 3, 2)  # (N, H, L, S')
    dvh = c.p_used.transpose(0, 1, 3, 2) @ dheads  # (N, H, S', d)
    if grad_weights is not None:
        dp = dp + grad_weights
    if c.keep is not None:
        dp = dp * c.keep
    ds = softmax_backward(dp, c.p, -1)  # (N, H, L, S')
    dqh = (ds @ c.kh) * c.scale  # (N, H, L, d)
    dkh = ds.transpose(0, 1, 3, 2) @ c.qs  # (N, H, S', d)
    if c.add_zero_attn:
        dkh, dvh = dkh[:, :, :-1], dvh[:, :, :-1]

    def merge(t):
        return t.transpose(0, 2, 1, 3).reshape(n, t.shape[2], e)  # (N, S, E)

    dq, dk, dv = merge(dqh), merge(dkh), merge(dvh)
    dbias_k = dbias_v = None
    if c.has_bias_kv:
        dbias_k = dk[:, -1].sum(axis=0).reshape(1, 1, e)
        dbias_v = dv[:, -1].sum(axis=0).reshape(1, 1, e)
        dk, dv = dk[:, :-1], dv[:, :-1]
    gq, gk, gv = (linear_backward(g, x, w, input_grad=input_grad)
                  for g, x, w in ((dq, c.query, c.w_q), (dk, c.key, c.w_k), (dv, c.value, c.w_v)))
    return MultiheadAttentionGrads(gq.input, gk.input, gv.input, gq.weight, gk.weight,
                                   gv.weight, gq.bias, gk.bias, gv.bias, out_grads.weight,
                                   out_grads.bias, dbias_k, dbias_v)
