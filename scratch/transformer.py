"""TransformerEncoderLayer and TransformerEncoder, as torch.nn's.

A layer is self-attention and a two-layer feed-forward block, each with a
residual connection and a LayerNorm, in torch's two orders:

    norm_first=False (post-norm):  x = norm1(x + sa(x));  x = norm2(x + ff(x))
    norm_first=True  (pre-norm):   x = x + sa(norm1(x));  x = x + ff(norm2(x))

    sa(x) = dropout1(self_attn(x, x, x)),  ff(x) = dropout2(linear2(dropout(act(linear1(x)))))

Backward runs the same graph in reverse: through a residual x + f(x) the
gradient is g + f.backward(g); self-attention's input gradient is
dquery + dkey + dvalue, the three being one array.

Dropout masks come from the layer's Generator; torch draws its own (and
functional dropout inside attention), so the twins agree with dropout only in
eval mode or at dropout=0. torch's fused inference path (eval, no grad) and
the nested-tensor path of TransformerEncoder compute the same function in
another order; the parity tests run torch with gradients on, the documented
path, and the fast one only within float32 tolerance.
"""

from __future__ import annotations

import copy

import numpy as np

from scratch.activation import GELU, ReLU
from scratch.attention import MultiheadAttention
from scratch.dropout import Dropout
from scratch.linear import Linear
from scratch.module import Module, ModuleList, check_float_dtype
from scratch.normalization import LayerNorm


class TransformerEncoderLayer(Module):
    """Self-attention and feed-forward with residuals and LayerNorm, as torch.

    Args (torch's, in its order): d_model, nhead, dim_feedforward=2048, dropout=0.1,
    activation="relu" ("relu", "gelu" or a scratch activation Module such as
    GELU("tanh")), layer_norm_eps=1e-5, batch_first=False, norm_first=False,
    bias=True (in every Linear, attention projection and LayerNorm); keyword-only
    rng and dtype.

    forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        src (S, N, E), (N, S, E) with batch_first, or (S, E); masks as
        MultiheadAttention's attn_mask and key_padding_mask. Output: src's shape.
    backward(grad_out, *, input_grad=True) -> dsrc.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation="relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True, *,
                 rng: np.random.Generator, dtype=np.float32):
        super().__init__()
        dt = check_float_dtype(dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, rng=rng, dtype=dt)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, rng=rng, dtype=dt)
        self.dropout = Dropout(dropout, rng=rng)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, rng=rng, dtype=dt)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dt)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dt)
        self.dropout1 = Dropout(dropout, rng=rng)
        self.dropout2 = Dropout(dropout, rng=rng)
        if isinstance(activation, str):
            if activation not in ("relu", "gelu"):
                raise RuntimeError(f"activation should be relu/gelu, not {activation}")
            activation = ReLU() if activation == "relu" else GELU()
        elif not isinstance(activation, Module):
            raise TypeError(f"TransformerEncoderLayer activation must be 'relu', 'gelu' or a "
                            f"scratch Module (it needs a backward), got "
                            f"{type(activation).__name__}")
        self.activation = activation
        self._sa_input = None

    def _sa(self, x, mask, kpm, is_causal):
        out, _ = self.self_attn(x, x, x, attn_mask=mask, key_padding_mask=kpm,
                                need_weights=False, is_causal=is_causal)
        return self.dropout1(out)

    def _sa_back(self, g):
        dq, dk, dv = self.self_attn.backward(self.dropout1.backward(g))
        return dq + dk + dv

    def _ff(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def _ff_back(self, g):
        g = self.linear2.backward(self.dropout2.backward(g))
        return self.linear1.backward(self.activation.backward(self.dropout.backward(g)))

    def forward(self, src: np.ndarray, src_mask=None, src_key_padding_mask=None,
                is_causal: bool = False) -> np.ndarray:
        x = src
        if self.norm_first:
            x = x + self._sa(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff(self.norm2(x))
        x = self.norm1(x + self._sa(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff(x))

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        g = grad_out
        if self.norm_first:
            g = g + self.norm2.backward(self._ff_back(g))
            g = g + self.norm1.backward(self._sa_back(g))
        else:
            g = self.norm2.backward(g)
            g = self.norm1.backward(g + self._ff_back(g))
            g = g + self._sa_back(g)
        return g if input_grad else None


class TransformerEncoder(Module):
    """num_layers copies of encoder_layer applied in turn, then `norm` if given, as torch.

    Args (torch's, in its order):
        encoder_layer: a TransformerEncoderLayer; each layer is a deep copy of it, so
            all start with its weights (as torch). The copies share its Generator.
        num_layers: how many.
        norm: a LayerNorm (or any Module) applied to the output, or None.
        enable_nested_tensor, mask_check: switches of torch's nested-tensor inference
            path, which computes the same function faster; scratch has one path, so
            they change nothing here (they are kept for the twin).

    forward(src, mask=None, src_key_padding_mask=None, is_causal=None) -> output of
    src's shape; backward(grad_out) -> dsrc.
    """

    def __init__(self, encoder_layer: Module, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True):
        super().__init__()
        if not isinstance(encoder_layer, Module):
            raise TypeError(f"TransformerEncoder expects encoder_layer to be a scratch Module, "
                            f"got {type(encoder_layer).__name__}")
        # Copies keep their own weights but share the Generators: dropout masks differ
        # from layer to layer, as torch's do.
        rngs = {id(m.rng): m.rng for m in encoder_layer.modules()
                if isinstance(getattr(m, "rng", None), np.random.Generator)}
        self.layers = ModuleList([copy.deepcopy(encoder_layer, dict(rngs))
                                  for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check

    def forward(self, src: np.ndarray, mask=None, src_key_padding_mask=None,
                is_causal: bool | None = None) -> np.ndarray:
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=bool(is_causal))
        return x if self.norm is None else self.norm(x)

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        g = grad_out if self.norm is None else self.norm.backward(grad_out)
        for layer in reversed(list(self.layers)):
            g = layer.backward(g)
        return g if input_grad else None
