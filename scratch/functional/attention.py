"""Multi-head attention, forward and backward, as torch's F.multi_head_attention_forward.

With head dim d = E / H, per head:

    q = query W_q^T + b_q,  k = key W_k^T + b_k,  v = value W_v^T + b_v
    S = (q / sqrt(d)) k^T + mask,   P = softmax(S) (rows),   P' = dropout(P)
    head = P' v,   output = concat(heads) W_o^T + b_o

Masks: bool entries True mean "may not attend" and become -inf; float masks are
added. `bias_k`/`bias_v` append one learned key/value (and a zero mask column),
`add_zero_attn` one zero key/value after that. Arrays here are batch-major:
query (N, L, E), key (N, S, kdim), value (N, S, vdim).

Backward, with G = dL/dP' (plus any gradient given for the returned weights):

    dP = G * dropout scale,   dS = P * (dP - rowsum(dP * P)),
    dq = dS k / sqrt(d),   dk = dS^T q / sqrt(d),   dv = P'^T dhead
"""

from __future__ import annotations

import math

import numpy as np

from scratch.functional.activation import softmax, softmax_backward


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


def _project(x, w, b):
    y = x @ w.T  # (N, S, E)
    return y if b is None else y + b


def multi_head_attention_forward(query, key, value, num_heads: int, w_q, w_k, w_v, b_q, b_k,
                                 b_v, w_o, b_o, *, bias_k=None, bias_v=None,
                                 add_zero_attn: bool = False, mask=None, dropout_p: float = 0.0,
                                 rng: np.random.Generator | None = None):
    """Attention output (N, L, E), head weights P' (N, H, L, S'), and a cache for backward.

    `mask` is the merged additive mask, broadcastable to (N, H, L, S') where S' counts
    bias_k and the zero key; dropout_p > 0 draws P's mask from `rng`.
    """
    n, length, e = query.shape
    d = e // num_heads
    q = _project(query, w_q, b_q)  # (N, L, E)
    k = _project(key, w_k, b_k)  # (N, S, E)
    v = _project(value, w_v, b_v)
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
    p = softmax(s, -1)  # (N, H, L, S')
    keep = None
    if dropout_p > 0:
        if dropout_p >= 1:
            keep = np.zeros_like(p)
        else:
            keep = ((rng.random(p.shape, dtype=np.float32) >= dropout_p)
                    * q.dtype.type(1 / (1 - dropout_p)))
        p_used = p * keep
    else:
        p_used = p
    heads_out = p_used @ vh  # (N, H, L, d)
    concat = heads_out.transpose(0, 2, 1, 3).reshape(n, length, e)  # (N, L, E)
    out = concat @ w_o.T  # (N, L, E)
    if b_o is not None:
        out += b_o
    cache = (query, key, value, num_heads, w_q, w_k, w_v, w_o, qs, kh, vh, p, keep, p_used,
             concat, scale, bias_k is not None, add_zero_attn)
    return out, p_used, cache


def multi_head_attention_backward(grad_out, grad_weights, cache, *, input_grad: bool = True):
    """Gradients of `multi_head_attention_forward`.

    Args:
        grad_out: dL/doutput (N, L, E).
        grad_weights: dL/dP' (N, H, L, S') or None.

    Returns:
        dict: "query", "key", "value" (None without input_grad), "w_q", "w_k", "w_v",
        "b_q", "b_k", "b_v", "w_o", "b_o", "bias_k", "bias_v" (None without bias_kv).
    """
    (query, key, value, num_heads, w_q, w_k, w_v, w_o, qs, kh, vh, p, keep, p_used, concat,
     scale, has_bias_kv, zero_attn) = cache
    n, length, e = grad_out.shape
    d = e // num_heads
    g2 = grad_out.reshape(-1, e)  # (N*L, E)
    out = {"w_o": g2.T @ concat.reshape(-1, e), "b_o": g2.sum(axis=0)}
    dconcat = grad_out @ w_o  # (N, L, E)
    dheads = dconcat.reshape(n, length, num_heads, d).transpose(0, 2, 1, 3)  # (N, H, L, d)
    dp = dheads @ vh.transpose(0, 1, 3, 2)  # (N, H, L, S')
    dvh = p_used.transpose(0, 1, 3, 2) @ dheads  # (N, H, S', d)
    if grad_weights is not None:
        dp = dp + grad_weights
    if keep is not None:
        dp = dp * keep
    ds = softmax_backward(dp, p, -1)  # (N, H, L, S')
    dqh = (ds @ kh) * scale  # (N, H, L, d)
    dkh = ds.transpose(0, 1, 3, 2) @ qs  # (N, H, S', d)
    if zero_attn:
        dkh, dvh = dkh[:, :, :-1], dvh[:, :, :-1]

    def merge(t):
        return t.transpose(0, 2, 1, 3).reshape(n, t.shape[2], e)  # (N, S, E)

    dq, dk, dv = merge(dqh), merge(dkh), merge(dvh)
    out["bias_k"] = out["bias_v"] = None
    if has_bias_kv:
        out["bias_k"] = dk[:, -1].sum(axis=0).reshape(1, 1, e)
        out["bias_v"] = dv[:, -1].sum(axis=0).reshape(1, 1, e)
        dk, dv = dk[:, :-1], dv[:, :-1]
    for name, g, x, w in (("q", dq, query, w_q), ("k", dk, key, w_k), ("v", dv, value, w_v)):
        g2 = g.reshape(-1, e)  # (N*S, E)
        out[f"w_{name}"] = g2.T @ x.reshape(-1, x.shape[-1])  # (E, in)
        out[f"b_{name}"] = g2.sum(axis=0)
        out[{"q": "query", "k": "key", "v": "value"}[name]] = (g @ w) if input_grad else None
    return out
