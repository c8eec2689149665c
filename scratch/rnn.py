"""RNN, LSTM and GRU: stacked, optionally bidirectional recurrent layers, as torch.nn.

The math of one direction of one layer (input projection, cells, backward through
time, every gradient) is in `scratch.functional.recurrent`; this file holds the
parameters (torch's names: `weight_ih_l0`, `weight_hh_l1_reverse`, `weight_hr_l0` ...),
the layer stacking, dropout between layers and the shapes.

Backward API (a recurrent module has several outputs and inputs):

    out, h_n = rnn(x, h0)                 # LSTM: out, (h_n, c_n) = lstm(x, (h0, c0))
    dx, dh0 = rnn.backward(grad_output, grad_h_n=None)
    dx, dh0, dc0 = lstm.backward(grad_output, grad_h_n=None, grad_c_n=None)

Each gradient has the shape of what it differentiates (dh0 the shape of h_n,
also when no h0 was given: it is then the gradient at the zero state); a
None upstream gradient is zero. Parameter gradients are added into `.grad`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from scratch import functional as F
from scratch import init
from scratch._checks import check_grad, check_input, require_forward
from scratch.module import Module, Parameter, check_float_dtype

# A direction's weights, in the order of recurrent_direction_forward's arguments and of
# RecurrentGrads' fields; the parameter of layer k is f"{name}_l{k}" (+ "_reverse").
_WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")


def _check_state(h, expected: tuple[int, ...], name: str, layer: str, dtype) -> np.ndarray:
    if not isinstance(h, np.ndarray):
        raise TypeError(f"{layer} expects {name} to be a numpy.ndarray of shape {expected}, "
                        f"got {type(h).__name__}")
    if h.shape != expected:
        raise ValueError(f"{layer} expects {name} of shape {expected}, got {h.shape}")
    if h.dtype != dtype:
        raise TypeError(f"{layer} expects {name} of dtype {dtype}, got {h.dtype}")
    return h


class LayerCache(NamedTuple):
    """One layer's forward, for backward."""

    dropout_scale: np.ndarray | None  # (L, N, D*H_out): the mask over 1 - p, or None
    directions: list[F.RecurrentCache]  # forward, then reverse


class RNNCache(NamedTuple):
    """A forward pass of RNNBase, for backward."""

    layers: list[LayerCache]
    batched: bool
    length: int
    batch: int
    h_shape: tuple[int, ...]  # (D*layers, N, H_out)
    c_shape: tuple[int, ...] | None  # (D*layers, N, H), LSTM only
    out_shape: tuple[int, ...]  # (L, N, D*H_out)


class RNNBase(Module):
    """The shared machinery of RNN, LSTM and GRU (torch.nn.RNNBase).

    Shapes (L sequence length, N batch, D = 2 if bidirectional else 1,
    H_out = proj_size or hidden_size):
        input (L, N, input_size), or (N, L, input_size) with batch_first, or (L, input_size)
        h0 / h_n (D * num_layers, N, H_out), or (D * num_layers, H_out) unbatched
        c0 / c_n (D * num_layers, N, hidden_size) (LSTM)
        output (L, N, D * H_out) (batch_first: (N, L, D * H_out)), the last layer's h at
        every step, both directions concatenated.

    Dropout (probability `dropout`, training only) multiplies each layer's output
    but the last by a mask `rng.random(shape, dtype=float32) >= p` over 1 - p, drawn
    from the module's Generator; torch draws its own masks, so the twins agree
    with dropout only in eval mode or at p = 0.

    Every parameter starts U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as torch.
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, *,
                 rng: np.random.Generator, dtype=np.float32):
        super().__init__()
        dt = check_float_dtype(dtype)
        name = type(self).__name__
        for arg, value in (("input_size", input_size), ("hidden_size", hidden_size),
                           ("num_layers", num_layers), ("proj_size", proj_size)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name}: {arg} should be an int, got {type(value).__name__}")
        if input_size <= 0 or hidden_size <= 0 or num_layers <= 0:
            raise ValueError(f"{name}: input_size, hidden_size and num_layers must be greater "
                             f"than zero, got {input_size}, {hidden_size}, {num_layers}")
        if not 0 <= proj_size < hidden_size:
            raise ValueError(f"{name}: proj_size must be in [0, hidden_size={hidden_size}), "
                             f"got {proj_size}")
        if isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout should be a number in [0, 1], got {dropout!r}")
        for arg, value in (("bias", bias), ("batch_first", batch_first),
                           ("bidirectional", bidirectional)):
            if not isinstance(value, bool):
                raise TypeError(f"{name}: {arg} should be a bool, got {type(value).__name__}")
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        self.rng = rng
        gate_size = F.GATES[mode] * hidden_size
        out_size = proj_size or hidden_size
        for layer in range(num_layers):
            for suffix in ("", "_reverse")[:self.num_directions]:
                in_size = input_size if layer == 0 else out_size * self.num_directions
                setattr(self, f"weight_ih_l{layer}{suffix}",
                        Parameter(np.empty((gate_size, in_size), dt)))
                setattr(self, f"weight_hh_l{layer}{suffix}",
                        Parameter(np.empty((gate_size, out_size), dt)))
                if bias:
                    setattr(self, f"bias_ih_l{layer}{suffix}", Parameter(np.empty(gate_size, dt)))
                    setattr(self, f"bias_hh_l{layer}{suffix}", Parameter(np.empty(gate_size, dt)))
                if proj_size:
                    setattr(self, f"weight_hr_l{layer}{suffix}",
                            Parameter(np.empty((proj_size, hidden_size), dt)))
        self._cache = None
        self.reset_parameters(rng=rng)

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def reset_parameters(self, *, rng: np.random.Generator) -> None:
        bound = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound, rng=rng)

    def _name(self) -> str:
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size})"

    def _weights(self, layer: int, direction: int):
        sfx = "_reverse" if direction else ""
        params = self._parameters
        return tuple(params[n].data if n in params else None
                     for n in (f"{w}_l{layer}{sfx}" for w in _WEIGHTS))

    def _state_shapes(self, batch: int | None):
        lead = (self.num_directions * self.num_layers,) + (() if batch is None else (batch,))
        return lead + (self.proj_size or self.hidden_size,), lead + (self.hidden_size,)

    def forward(self, input: np.ndarray, hx=None):
        dtype = self.weight_ih_l0.dtype
        check_input(input, self._name(), dtype=dtype, ndim=(2, 3), size=(-1, self.input_size),
                    shape_doc=f"(L, N, {self.input_size}) or (L, {self.input_size})")
        batched = input.ndim == 3
        x = input if not batched else (input.transpose(1, 0, 2) if self.batch_first else input)
        if not batched:
            x = x[:, None, :]  # (L, 1, in)
        length, batch = x.shape[:2]
        h_shape, c_shape = self._state_shapes(batch if batched else None)
        is_lstm = self.mode == "LSTM"
        if hx is None:
            h0 = np.zeros(h_shape, dtype)
            c0 = np.zeros(c_shape, dtype) if is_lstm else None
        elif is_lstm:
            if not (isinstance(hx, tuple) and len(hx) == 2):
                raise TypeError(f"{self._name()} expects hx to be a tuple (h0, c0), "
                                f"got {type(hx).__name__}")
            h0 = _check_state(hx[0], h_shape, "h0", self._name(), dtype)
            c0 = _check_state(hx[1], c_shape, "c0", self._name(), dtype)
        else:
            h0, c0 = _check_state(hx, h_shape, "hx", self._name(), dtype), None
        if not batched:
            h0 = h0[:, None, :]  # (D*layers, 1, H_out)
            c0 = None if c0 is None else c0[:, None, :]
        layers = []
        h_n, c_n = [], []
        inp = x  # (L, N, in)
        for layer in range(self.num_layers):
            outs, caches = [], []
            for d in range(self.num_directions):
                w_ih, w_hh, b_ih, b_hh, w_hr = self._weights(layer, d)
                k = layer * self.num_directions + d
                out, h, c, cache = F.recurrent_direction_forward(
                    self.mode, inp, h0[k], None if c0 is None else c0[k], w_ih, w_hh, b_ih,
                    b_hh, w_hr, reverse=bool(d))
                outs.append(out)
                caches.append(cache)
                h_n.append(h)
                c_n.append(c)
            out = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=-1)  # (L, N, D*H_out)
            scale = None
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                scale = F.dropout_scale(self.rng, out.shape, self.dropout, dtype)
                out, scale = F.dropout(out, scale)
            layers.append(LayerCache(scale, caches))
            inp = out
        output = inp  # (L, N, D*H_out)
        h_n = np.stack(h_n)  # (D*layers, N, H_out)
        c_n = np.stack(c_n) if is_lstm else None
        self._cache = RNNCache(layers, batched, length, batch, h_n.shape,
                               None if c_n is None else c_n.shape, output.shape)
        if not batched:
            output, h_n = output[:, 0], h_n[:, 0]
            c_n = None if c_n is None else c_n[:, 0]
        elif self.batch_first:
            output = output.transpose(1, 0, 2)
        output = np.ascontiguousarray(output)
        return (output, (h_n, c_n)) if is_lstm else (output, h_n)

    def _backward(self, grad_output, grad_h_n, grad_c_n, input_grad: bool):
        layers, batched, length, batch, h_shape, c_shape, out_shape = require_forward(
            self._cache, self._name())
        name = self._name()
        user_out = (out_shape if not batched else (
            (batch, length, out_shape[-1]) if self.batch_first else out_shape))
        if not batched:
            user_out = (length, out_shape[-1])
        check_grad(grad_output, user_out, name)
        g = grad_output
        if not batched:
            g = g[:, None, :]
        elif self.batch_first:
            g = g.transpose(1, 0, 2)  # (L, N, D*H_out)

        def state(grad, shape):
            if grad is None:
                return None
            check_grad(grad, shape if batched else shape[:1] + shape[2:], name)
            return grad if batched else grad[:, None, :]

        dh_n = state(grad_h_n, h_shape)
        dc_n = None if c_shape is None else state(grad_c_n, c_shape)
        dh0 = np.zeros(h_shape, g.dtype)
        dc0 = None if c_shape is None else np.zeros(c_shape, g.dtype)
        out_size = self.proj_size or self.hidden_size
        dinput = None
        for layer in range(self.num_layers - 1, -1, -1):
            scale, caches = layers[layer]
            if scale is not None:
                g = F.dropout_backward(g, scale)
            dinput = None
            for d in range(self.num_directions):
                k = layer * self.num_directions + d
                grads = F.recurrent_direction_backward(
                    g[..., d * out_size:(d + 1) * out_size],
                    None if dh_n is None else dh_n[k], None if dc_n is None else dc_n[k],
                    caches[d], input_grad=input_grad or layer > 0)
                dh0[k] = grads.h0
                if dc0 is not None:
                    dc0[k] = grads.c0
                sfx = "_reverse" if d else ""
                for weight in _WEIGHTS:
                    grad = getattr(grads, weight)
                    if grad is not None:
                        self._parameters[f"{weight}_l{layer}{sfx}"].accumulate_grad(grad)
                if grads.input is not None:  # (L, N, in)
                    dinput = grads.input if dinput is None else dinput + grads.input
            g = dinput
        dx = None
        if input_grad:
            dx = dinput[:, 0] if not batched else (
                dinput.transpose(1, 0, 2) if self.batch_first else dinput)
            dx = np.ascontiguousarray(dx)
        if not batched:
            dh0 = dh0[:, 0]
            dc0 = None if dc0 is None else dc0[:, 0]
        return (dx, dh0) if dc0 is None else (dx, dh0, dc0)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for arg, default in (("bias", True), ("batch_first", False), ("dropout", 0.0),
                             ("bidirectional", False)):
            if getattr(self, arg) != default:
                s += f", {arg}={getattr(self, arg)}"
        return s


class RNN(RNNBase):
    """Elman RNN, as `torch.nn.RNN`: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh).

    Args (torch's, in its order): input_size, hidden_size, num_layers=1,
    nonlinearity="tanh" ("tanh" or "relu"), bias=True, batch_first=False,
    dropout=0.0, bidirectional=False; keyword-only rng (initial weights and
    dropout masks) and dtype. Shapes, dropout and initialisation: see RNNBase.

    backward(grad_output, grad_h_n=None, *, input_grad=True) -> (dx, dh0): dx is None
    with input_grad=False.

    Example:
        >>> rnn = RNN(10, 20, 2, rng=np.random.default_rng(0))
        >>> out, h_n = rnn(np.zeros((5, 3, 10), np.float32))
        >>> out.shape, h_n.shape
        ((5, 3, 20), (2, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, *,
                 rng: np.random.Generator, dtype=np.float32):
        modes = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}
        if nonlinearity not in modes:
            raise ValueError(f"RNN nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(modes[nonlinearity], input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, rng=rng, dtype=dtype)
        self.nonlinearity = nonlinearity

    def backward(self, grad_output, grad_h_n=None, *, input_grad: bool = True):
        return self._backward(grad_output, grad_h_n, None, input_grad)


class LSTM(RNNBase):
    """Long short-term memory, as `torch.nn.LSTM` (gates i, f, g, o; see
    scratch.functional.recurrent for the equations).

    Args (torch's, in its order): input_size, hidden_size, num_layers=1, bias=True,
    batch_first=False, dropout=0.0, bidirectional=False, proj_size=0 (h is
    projected to proj_size by weight_hr_l{k}, (proj_size, hidden_size)); keyword-only
    rng and dtype. forward(input, hx=None) with hx = (h0, c0) returns
    (output, (h_n, c_n)).

    backward(grad_output, grad_h_n=None, grad_c_n=None, *, input_grad=True)
    -> (dx, dh0, dc0).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, *,
                 rng: np.random.Generator, dtype=np.float32):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, rng=rng, dtype=dtype)

    def backward(self, grad_output, grad_h_n=None, grad_c_n=None, *, input_grad: bool = True):
        return self._backward(grad_output, grad_h_n, grad_c_n, input_grad)


class GRU(RNNBase):
    """Gated recurrent unit, as `torch.nn.GRU` (gates r, z, n; see
    scratch.functional.recurrent).

    Args (torch's, in its order): input_size, hidden_size, num_layers=1, bias=True,
    batch_first=False, dropout=0.0, bidirectional=False; keyword-only rng and dtype.

    backward(grad_output, grad_h_n=None, *, input_grad=True) -> (dx, dh0).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, *, rng: np.random.Generator, dtype=np.float32):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, rng=rng, dtype=dtype)

    def backward(self, grad_output, grad_h_n=None, *, input_grad: bool = True):
        return self._backward(grad_output, grad_h_n, None, input_grad)
