"""MultiheadAttention, as `torch.nn.MultiheadAttention`; the math is in
scratch.functional.attention.

Backward API (several inputs, two outputs):

    out, weights = mha(query, key, value, key_padding_mask=None, need_weights=True, ...)
    dquery, dkey, dvalue = mha.backward(grad_output, grad_attn_weights=None)

For self-attention (query, key and value the same array) the input gradient
is dquery + dkey + dvalue. `grad_attn_weights` (the shape of the returned
weights, or None) lets a loss on the weights flow back, as in torch.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scratch import functional as F
from scratch import init
from scratch._checks import check_grad, check_input, require_forward
from scratch.linear import Linear
from scratch.module import Module, Parameter, check_float_dtype


class _AttentionCache(NamedTuple):
    kernel: F.MultiheadAttentionCache
    batched: bool
    need_weights: bool
    average_attn_weights: bool
    weights_shape: tuple[int, ...]  # the kernel's (N, H, L, S')
    query_shape: tuple[int, ...]  # as the caller gave it


class MultiheadAttention(Module):
    """Attention over H heads of size embed_dim / H (formulas: scratch.functional.attention).

    Args (torch's, in its order):
        embed_dim, num_heads: E and H; E must divide by H.
        dropout: dropout on the attention weights in training; masks from `rng`
            (torch draws its own, so twins agree with dropout only in eval or at 0).
        bias: in_proj_bias and out_proj.bias.
        add_bias_kv: learn bias_k, bias_v (1, 1, E) appended to key and value.
        add_zero_attn: append a zero key and value.
        kdim, vdim: key and value feature sizes (default E); when either differs
            from E the parameters are q_proj_weight, k_proj_weight, v_proj_weight
            instead of one in_proj_weight (3E, E).
        batch_first: inputs and output (N, L, E) instead of (L, N, E).
        rng, dtype: keyword only: initial weights and dropout masks; float32 or float64.

    forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False) -> (attn_output, attn_weights or None):
        query (L, N, E), key (S, N, kdim), value (S, N, vdim); unbatched (L, E) etc.
        key_padding_mask (N, S) bool (True: ignore that key) or float (added).
        attn_mask (L, S) or (N * H, L, S), bool or float, likewise.
        is_causal: a hint that attn_mask is causal, as torch; it needs attn_mask.
        attn_weights (N, L, S) averaged over heads, or (N, H, L, S); S counts
        bias_k and the zero key.
        A query whose every key is masked (a fully padded sequence) gets what torch
        gives it on each path: with need_weights=False (TransformerEncoderLayer's) it
        attends to nothing, its output is out_proj.bias and its gradient finite; with
        need_weights=True its weights, output and gradients are NaN.

    Initialisation as torch: xavier_uniform_ projections, zero in_proj_bias and
    out_proj.bias, xavier_normal_ bias_k / bias_v; out_proj.weight as Linear's.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim=None, vdim=None,
                 batch_first: bool = False, *, rng: np.random.Generator, dtype=np.float32):
        super().__init__()
        dt = check_float_dtype(dtype)
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got "
                             f"embed_dim={embed_dim} and num_heads={num_heads} instead")
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim must be divisible by num_heads, got {embed_dim} "
                             f"and {num_heads}")
        if not 0 <= dropout <= 1:
            raise ValueError(f"dropout must be in [0, 1], got {dropout}")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.dropout, self.batch_first = float(dropout), batch_first
        self.head_dim = embed_dim // num_heads
        self.add_zero_attn = add_zero_attn
        self.rng = rng
        e = embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(np.empty((3 * e, e), dt))
        else:
            self.q_proj_weight = Parameter(np.empty((e, e), dt))
            self.k_proj_weight = Parameter(np.empty((e, self.kdim), dt))
            self.v_proj_weight = Parameter(np.empty((e, self.vdim), dt))
        self.in_proj_bias = Parameter(np.zeros(3 * e, dt)) if bias else None
        self.out_proj = Linear(e, e, bias=bias, rng=rng, dtype=dt)
        if add_bias_kv:
            self.bias_k = Parameter(np.empty((1, 1, e), dt))
            self.bias_v = Parameter(np.empty((1, 1, e), dt))
        else:
            self.bias_k = self.bias_v = None
        self._cache = None
        self._reset_parameters(rng)

    def _reset_parameters(self, rng) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight, rng=rng)
        else:
            for p in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(p, rng=rng)
        if self.in_proj_bias is not None:
            self.in_proj_bias.data.fill(0)
            self.out_proj.bias.data.fill(0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k, rng=rng)
            init.xavier_normal_(self.bias_v, rng=rng)

    def _name(self) -> str:
        return f"MultiheadAttention({self.embed_dim}, {self.num_heads})"

    def _proj(self):
        """(w_q, w_k, w_v, b_q, b_k, b_v) as arrays (views into in_proj_* when packed)."""
        e = self.embed_dim
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight.data
            ws = (w[:e], w[e:2 * e], w[2 * e:])
        else:
            ws = (self.q_proj_weight.data, self.k_proj_weight.data, self.v_proj_weight.data)
        b = self.in_proj_bias
        bs = (None,) * 3 if b is None else (b.data[:e], b.data[e:2 * e], b.data[2 * e:])
        return ws + bs

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True,
                attn_mask=None, average_attn_weights: bool = True, is_causal: bool = False):
        name, dt, e, h = self._name(), self.out_proj.weight.dtype, self.embed_dim, self.num_heads
        check_input(query, name, dtype=dt, ndim=(2, 3), size=(-1, e), shape_doc=f"(L, N, {e})")
        batched = query.ndim == 3
        check_input(key, name + " key", dtype=dt, ndim=query.ndim, size=(-1, self.kdim),
                    shape_doc=f"(S, N, {self.kdim})")
        check_input(value, name + " value", dtype=dt, ndim=query.ndim, size=(-1, self.vdim),
                    shape_doc=f"(S, N, {self.vdim})")

        def batch_major(t):
            if not batched:
                return t[None]
            return t if self.batch_first else t.transpose(1, 0, 2)

        q, k, v = batch_major(query), batch_major(key), batch_major(value)  # (N, L|S, *)
        if k.shape[:2] != v.shape[:2] or q.shape[0] != k.shape[0]:
            raise ValueError(f"{name}: key {key.shape} and value {value.shape} must share "
                             f"their sequence and batch dims, and the batch must be query's "
                             f"{query.shape}")
        n, length, src = q.shape[0], q.shape[1], k.shape[1]
        extra = int(self.bias_k is not None) + int(self.add_zero_attn)
        kpm = F.canonical_mask(key_padding_mask, dt, "key_padding_mask")
        am = F.canonical_mask(attn_mask, dt, "attn_mask")
        if is_causal and am is None:
            raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use "
                               "the Transformer module method `generate_square_subsequent_mask`"
                               " to create this mask.")
        mask = None
        if am is not None:
            if am.shape == (length, src):
                am = am[None, None]  # (1, 1, L, S)
            elif am.shape == (n * h, length, src):
                am = am.reshape(n, h, length, src)
            else:
                raise ValueError(f"{name}: attn_mask must be ({length}, {src}) or "
                                 f"({n * h}, {length}, {src}), got {am.shape}")
            mask = np.pad(am, [(0, 0)] * 3 + [(0, extra)])
        if kpm is not None:
            want = (n, src) if batched else (src,)
            if kpm.shape != want:
                raise ValueError(f"{name}: key_padding_mask must be {want}, got {kpm.shape}")
            kpm = np.pad(kpm.reshape(n, 1, 1, src), [(0, 0)] * 3 + [(0, extra)])  # (N,1,1,S')
            mask = kpm if mask is None else mask + kpm
        w_q, w_k, w_v, b_q, b_k, b_v = self._proj()
        ob = self.out_proj.bias
        out, weights, cache = F.multi_head_attention_forward(
            q, k, v, h, w_q, w_k, w_v, b_q, b_k, b_v, self.out_proj.weight.data,
            None if ob is None else ob.data,
            bias_k=None if self.bias_k is None else self.bias_k.data,
            bias_v=None if self.bias_v is None else self.bias_v.data,
            add_zero_attn=self.add_zero_attn, mask=mask,
            dropout_p=self.dropout if self.training else 0.0, rng=self.rng,
            zero_masked_rows=not need_weights)
        self._cache = _AttentionCache(cache, batched, need_weights, average_attn_weights,
                                      weights.shape, query.shape)
        out = out[0] if not batched else (out if self.batch_first else out.transpose(1, 0, 2))
        out = np.ascontiguousarray(out)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(axis=1)  # (N, L, S')
        return out, (weights if batched else weights[0])

    def backward(self, grad_output, grad_attn_weights=None, *, input_grad: bool = True):
        cache, batched, need_weights, average, w_shape, q_shape = require_forward(
            self._cache, self._name())
        check_grad(grad_output, q_shape, self._name())
        g = grad_output[None] if not batched else (
            grad_output if self.batch_first else grad_output.transpose(1, 0, 2))
        gw = None
        if grad_attn_weights is not None:
            if not need_weights:
                raise ValueError(f"{self._name()}.backward got grad_attn_weights but forward "
                                 f"returned no weights (need_weights=False)")
            shown = (w_shape[:1] + w_shape[2:]) if average else w_shape
            check_grad(grad_attn_weights, shown if batched else shown[1:], self._name())
            gw = grad_attn_weights if batched else grad_attn_weights[None]
            if average:  # the mean over heads spreads its gradient evenly
                gw = np.broadcast_to(gw[:, None] / self.num_heads, w_shape)
        grads = F.multi_head_attention_backward(g, gw, cache, input_grad=input_grad)
        if self._qkv_same_embed_dim:
            self.in_proj_weight.accumulate_grad(
                np.concatenate([grads.w_q, grads.w_k, grads.w_v]))
        else:
            self.q_proj_weight.accumulate_grad(grads.w_q)
            self.k_proj_weight.accumulate_grad(grads.w_k)
            self.v_proj_weight.accumulate_grad(grads.w_v)
        if self.in_proj_bias is not None:
            self.in_proj_bias.accumulate_grad(np.concatenate([grads.b_q, grads.b_k, grads.b_v]))
            self.out_proj.bias.accumulate_grad(grads.b_o)
        self.out_proj.weight.accumulate_grad(grads.w_o)
        if self.bias_k is not None:
            self.bias_k.accumulate_grad(grads.bias_k)
            self.bias_v.accumulate_grad(grads.bias_v)
        if not input_grad:
            return None, None, None

        def user(t):
            if not batched:
                return t[0]
            return np.ascontiguousarray(t if self.batch_first else t.transpose(1, 0, 2))

        return user(grads.query), user(grads.key), user(grads.value)

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
