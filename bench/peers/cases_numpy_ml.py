"""numpy-ml 0.1.2 (`numpy_ml.neural_nets`) through the public twin check.

Its layers are explicit forward/backward objects: parameters in `layer.parameters[...]`,
gradients in `layer.gradients[...]`, created on the first forward pass (hence `prepare`),
images channels-last (N, H, W, C), weights (in, out) and conv kernels (kH, kW, in, out).
Activations are `fn(z)` with the derivative `fn.grad(z)`; optimizers are
`opt(param, grad, name) -> new param`.
Recurrent layers take sequences as (N, n_in, n_t) and step a cell (`RNNCell`,
`LSTMCell`) along the last axis; the hidden state starts at zero.
"""

from __future__ import annotations

import numpy as np
import torch

from bench.compare.check import (
    TRANSPOSED,
    Adapter,
    OptimizerAdapter,
    Param,
    check,
    check_optimizer,
    permuted,
    reshaped,
)
from bench.peers.case import PeerCase, stacked
from bench.peers.load import load

PEER = "numpy-ml"
NHWC, NCHW = (0, 2, 3, 1), (0, 3, 1, 2)


def _nn():
    return load(PEER, "neural_nets")


def _param(torch_name: str, key: str, layout=None, cell: bool = False) -> Param:
    owner = (lambda m: m.cell) if cell else (lambda m: m)

    def write(m, a):
        owner(m).parameters[key] = a
    return Param(torch_name, lambda m: owner(m).parameters[key],
                 lambda m: owner(m).gradients[key], set=write,
                 **({"layout": layout} if layout else {}))


def _warm(m, *xs):
    m.forward(*xs)  # creates the parameters at the input's size


def _layer_adapter(params, images: bool = False, **kw) -> Adapter:
    if images:
        return Adapter(forward=lambda m, x: m.forward(x.transpose(NHWC)).transpose(NCHW),
                       backward=lambda m, out, g: m.backward(g.transpose(NHWC)).transpose(NCHW),
                       params=params, zero_grad="flush_gradients",
                       prepare=lambda m, x: _warm(m, x.transpose(NHWC)), **kw)
    return Adapter(params=params, zero_grad="flush_gradients", prepare=_warm, **kw)


def _dense(act: str | None) -> PeerCase:
    def run():
        rng = np.random.default_rng(0)
        tm = torch.nn.Linear(5, 3) if act is None else torch.nn.Sequential(
            torch.nn.Linear(5, 3), getattr(torch.nn, act)())
        pre = "" if act is None else "0."
        layer = _nn().layers.FullyConnected(3, act_fn=act)
        params = [_param(pre + "weight", "W", TRANSPOSED),
                  _param(pre + "bias", "b", reshaped(1, 3))]
        return check(layer, tm, rng.standard_normal((4, 5)), adapter=_layer_adapter(params))
    return PeerCase(PEER, "layer", "FullyConnected", f"n_out=3, act_fn={act} vs Linear(5, 3)"
                    + (f" + {act}" if act else ""), run)


def _conv(stride: int, pad: int, dilation: int) -> PeerCase:
    def run():
        rng = np.random.default_rng(0)
        tm = torch.nn.Conv2d(2, 4, 3, stride=stride, padding=pad, dilation=dilation + 1)
        layer = _nn().layers.Conv2D(4, (3, 3), pad=pad, stride=stride, dilation=dilation)
        params = [_param("weight", "W", permuted(2, 3, 1, 0)),
                  _param("bias", "b", reshaped(1, 1, 1, 4))]
        return check(layer, tm, rng.standard_normal((2, 2, 7, 7)),
                     adapter=_layer_adapter(params, images=True))
    return PeerCase(PEER, "layer", "Conv2D",
                    f"3x3, stride={stride}, pad={pad}, dilation={dilation} vs Conv2d(2, 4, 3, "
                    f"stride={stride}, padding={pad}, dilation={dilation + 1})", run)


def _pool(mode: str) -> PeerCase:
    def run():
        rng = np.random.default_rng(0)
        tm = (torch.nn.MaxPool2d if mode == "max" else torch.nn.AvgPool2d)(2, 2)
        layer = _nn().layers.Pool2D((2, 2), stride=2, mode=mode)
        return check(layer, tm, rng.standard_normal((2, 3, 6, 6)),
                     adapter=_layer_adapter([], images=True))
    return PeerCase(PEER, "layer", "Pool2D", f"2x2, stride 2, mode={mode} vs "
                    f"{'Max' if mode == 'max' else 'Avg'}Pool2d(2, 2)", run)


def _batchnorm(two_d: bool) -> PeerCase:
    def run():
        rng = np.random.default_rng(0)
        tm = (torch.nn.BatchNorm2d if two_d else torch.nn.BatchNorm1d)(3, momentum=0.1)
        with torch.no_grad():
            tm.weight.uniform_(0.5, 1.5)
            tm.bias.uniform_(-0.5, 0.5)
        layer = (_nn().layers.BatchNorm2D if two_d else _nn().layers.BatchNorm1D)(momentum=0.9)
        params = [_param("weight", "scaler"), _param("bias", "intercept"),
                  Param("running_mean", lambda m: m.parameters["running_mean"], None,
                        set=lambda m, a: m.parameters.__setitem__("running_mean", a)),
                  Param("running_var", lambda m: m.parameters["running_var"], None,
                        set=lambda m, a: m.parameters.__setitem__("running_var", a))]
        x = rng.standard_normal((4, 3, 3, 3) if two_d else (6, 3)) * 2 + 1
        return check(layer, tm, x, adapter=_layer_adapter(params, images=two_d))
    return PeerCase(PEER, "layer", "BatchNorm2D" if two_d else "BatchNorm1D",
                    f"training, momentum=0.9 vs BatchNorm{'2' if two_d else '1'}d(3, "
                    f"momentum=0.1)", run, note=BATCHNORM_NOTE)


# Found by the audit (tests/test_peers.py reproduces it): the running variance is
# updated with the biased batch variance, `X.var(axis=0)  # , ddof=1)` in
# BatchNorm1D.forward (layers.py line 1275; BatchNorm2D line 1057, over axes (0, 1, 2)),
# where torch uses the unbiased one, m / (m - 1) times larger (m values per channel).
# Output and every gradient agree; evaluation-mode outputs then differ.
BATCHNORM_NOTE = ("running_var gets the biased batch variance (X.var(axis=0), ddof=1 "
                  "commented out); torch's is unbiased, m/(m-1) times larger")


class _Activation:
    """An activation object of theirs as a layer: forward fn(z), backward g * fn.grad(z)."""

    def __init__(self, fn):
        self.fn = fn

    def forward(self, z):
        self.z = z
        return self.fn(z)

    def backward(self, g):
        return g * self.fn.grad(self.z)


def _activation(name: str, kwargs: dict, twin: torch.nn.Module) -> PeerCase:
    def run():
        rng = np.random.default_rng(0)
        fn = getattr(_nn().activations, name)(**kwargs)
        return check(_Activation(fn), twin, rng.standard_normal((4, 5)) * 2, adapter=Adapter())
    args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    return PeerCase(PEER, "activation", name, f"{args or 'defaults'} vs {twin!r}", run)


def _cross_entropy() -> PeerCase:
    # Their CrossEntropy takes probabilities and one-hot targets and returns the SUM;
    # its grad(y, softmax(z)) = softmax(z) - y is dL/dz, the gradient at the logits.
    def forward(m, z, target):
        m.z, m.y = z, np.eye(z.shape[1])[target]
        e = np.exp(z - z.max(axis=1, keepdims=True))
        m.p = e / e.sum(axis=1, keepdims=True)
        return m.loss(m.y, m.p)

    def run():
        rng = np.random.default_rng(0)
        return check(_nn().losses.CrossEntropy(), torch.nn.CrossEntropyLoss(reduction="sum"),
                     rng.standard_normal((6, 4)), rng.integers(0, 4, 6),
                     adapter=Adapter(forward=forward,
                                     backward=lambda m, out, g: g * m.grad(m.y, m.p)))
    return PeerCase(PEER, "loss", "CrossEntropy", "loss(onehot, softmax(z)) vs "
                    "CrossEntropyLoss(reduction='sum') on logits z", run)


def _optimizer(name: str, kwargs: dict, torch_cls, torch_kwargs: dict) -> PeerCase:
    def setup(arrays):
        return [a.copy() for a in arrays], getattr(_nn().optimizers, name)(**kwargs)

    def step(state, grads):
        params, opt = state
        for i, g in enumerate(grads):
            params[i] = opt(params[i], g, f"p{i}")
        opt.step()

    def run():
        return check_optimizer(OptimizerAdapter(setup, step, lambda s: s[0]),
                               lambda ps: torch_cls(ps, **torch_kwargs), steps=10)
    args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    targs = ", ".join(f"{k}={v}" for k, v in torch_kwargs.items())
    return PeerCase(PEER, "optimizer", name, f"{args} vs {torch_cls.__name__}({targs}), "
                    "10 steps", run)


# --- recurrent layers ---------------------------------------------------------------------
# Their sequences are (N, n_in, n_t) (RNN.forward loops `X[:, :, t]`, dstacks the states):
# torch's batch_first (N, L, n_in) with the last two axes swapped. The twins are
# torch.nn.RNN / LSTM(4, 6, batch_first=True) on (3, 5, 4); their output (N, L, 6).
SEQ = (3, 5, 4)
TIME_LAST = (0, 2, 1)

# Found by the audit (tests/test_peers.py reproduces them): layers.RNN and layers.LSTM
# cannot be built. LayerBase.__init__ assigns `self.gradients = {}` (layers.py line 35),
# but RNN and LSTM define `gradients` as a read-only property (lines 3985, 4164):
# AttributeError in the constructor, on any Python 3. Past that, their _init_params
# passes `n_in=` to RNNCell / LSTMCell, whose __init__ takes no n_in (TypeError), and
# LSTM.backward unpacks `dLdXt, _ = self.cell.backward(...)`, which returns one array.
WRAPPER_NOTE = ("cannot be constructed: LayerBase.__init__ sets self.gradients, a read-only "
                "property here; then _init_params passes n_in= to a cell that takes none")
# Their cells, stepped as RNN.forward / backward would, are what can be checked. Their
# flush_gradients resets the BPTT accumulators to [] instead of None, so a backward after
# it fails (`dLdAt + []`); the cases restart a sequence with the cell's own _init_params
# (keeping the parameters), which is the state a new cell starts in.
CELL_NOTE = ("flush_gradients leaves the dLdA/dLdC accumulators as [] (not None): a backward "
             "after it raises; sequences restarted with _init_params")


def _restart(cell):
    params = cell.parameters
    cell._init_params()  # empty history, zero gradients, accumulators None
    cell.parameters = params
    cell.gradients = {k: np.zeros_like(v) for k, v in params.items()}


def _unrolled_forward(cell, x):
    # Their RNN.forward, on their layout: one cell step per time step, states dstacked.
    _restart(cell)
    X = x.transpose(TIME_LAST)
    steps = [cell.forward(X[:, :, t]) for t in range(X.shape[2])]
    return np.dstack([s[0] if isinstance(s, tuple) else s for s in steps]).transpose(TIME_LAST)


def _unrolled_backward(cell, out, g):
    # Their RNN.backward: cell.backward from the last step to the first.
    G = g.transpose(TIME_LAST)
    dX = [cell.backward(G[:, :, t]) for t in reversed(range(G.shape[2]))]
    return np.dstack(dX[::-1]).transpose(TIME_LAST)


def _rnn_params(cell: bool):
    # Z = A_prev @ Waa + ba.T + X_t @ Wax + bx.T (RNNCell.forward): Wax (n_in, n_out) and
    # Waa (n_out, n_out) are torch's W_ih, W_hh transposed; bx, ba (n_out, 1) its b_ih, b_hh.
    return [_param("weight_ih_l0", "Wax", TRANSPOSED, cell),
            _param("weight_hh_l0", "Waa", TRANSPOSED, cell),
            _param("bias_ih_l0", "bx", reshaped(6, 1), cell),
            _param("bias_hh_l0", "ba", reshaped(6, 1), cell)]


def _lstm_params(cell: bool):
    # Z_t = hstack([A_prev, X_t]) (LSTMCell.forward), gate = Z_t @ W + b: each W is
    # (n_out + n_in, n_out), rows [:n_out] torch's W_hh block transposed, rows [n_out:]
    # its W_ih block. Gates u (update), f, c (candidate), o are torch's i, f, g, o. One
    # bias (1, n_out) per gate: torch's b_ih + b_hh, so the twin's b_hh is 0.
    owner = (lambda m: m.cell) if cell else (lambda m: m)
    gates = ("u", "f", "c", "o")

    def weight(torch_name, rows):
        def write(m, g, block):
            W = owner(m).parameters["W" + g].astype(block.dtype)  # a copy, in the run's dtype
            W[rows] = block
            owner(m).parameters["W" + g] = W
        return stacked(torch_name, gates, lambda m, g: owner(m).parameters["W" + g][rows],
                       lambda m, g: owner(m).gradients["W" + g][rows], write, TRANSPOSED)

    def write_bias(m, g, b):
        owner(m).parameters["b" + g] = b
    return [weight("weight_ih_l0", slice(6, None)), weight("weight_hh_l0", slice(0, 6)),
            stacked("bias_ih_l0", gates, lambda m, g: owner(m).parameters["b" + g],
                    lambda m, g: owner(m).gradients["b" + g], write_bias, reshaped(1, 6))]


def _recurrent(name: str, wrapper: bool) -> PeerCase:
    lstm = name == "LSTM"
    cls = name if wrapper else name + "Cell"

    def run():
        rng = np.random.default_rng(0)
        tm = (torch.nn.LSTM if lstm else torch.nn.RNN)(4, 6, batch_first=True)
        if lstm:
            with torch.no_grad():
                tm.bias_hh_l0.zero_()
        layer = getattr(_nn().layers, cls)(6)
        params = (_lstm_params if lstm else _rnn_params)(wrapper)
        if wrapper:  # their own loop over time; each call a new sequence, as for the cells
            def forward(m, x):
                _restart(m.cell)
                return m.forward(x.transpose(TIME_LAST)).transpose(TIME_LAST)
            adapter = Adapter(
                forward=forward, backward=lambda m, out, g: m.backward(
                    g.transpose(TIME_LAST)).transpose(TIME_LAST),
                params=params, torch_output=lambda o: o[0],
                prepare=lambda m, x: _warm(m, x.transpose(TIME_LAST)))
        else:
            adapter = Adapter(forward=_unrolled_forward, backward=_unrolled_backward,
                              params=params, torch_output=lambda o: o[0],
                              prepare=lambda m, x: m.forward(x[:, 0]))  # creates the weights
        return check(layer, tm, rng.standard_normal(SEQ), adapter=adapter)
    twin = ("LSTM(4, 6, batch_first=True), bias_hh_l0 = 0 (one bias per gate)" if lstm
            else "RNN(4, 6, batch_first=True)")
    how = "(N, n_in, n_t)" if wrapper else "stepped over n_t as their RNN.forward does"
    return PeerCase(PEER, "layer", cls, f"n_out=6, tanh, {how} vs {twin}, N=3, L=5", run,
                    note=WRAPPER_NOTE if wrapper else CELL_NOTE)


def cases() -> list[PeerCase]:
    return [
        _dense(None), _dense("ReLU"),
        _conv(1, 1, 0), _conv(2, 0, 0), _conv(1, 0, 1),
        _pool("max"), _pool("average"),
        _batchnorm(False), _batchnorm(True),
        _recurrent("RNN", wrapper=True), _recurrent("RNN", wrapper=False),
        _recurrent("LSTM", wrapper=True), _recurrent("LSTM", wrapper=False),
        _activation("ReLU", {}, torch.nn.ReLU()),
        _activation("Sigmoid", {}, torch.nn.Sigmoid()),
        _activation("Tanh", {}, torch.nn.Tanh()),
        _activation("LeakyReLU", {"alpha": 0.2}, torch.nn.LeakyReLU(0.2)),
        _activation("ELU", {"alpha": 1.0}, torch.nn.ELU(1.0)),
        _activation("SELU", {}, torch.nn.SELU()),
        _activation("SoftPlus", {}, torch.nn.Softplus()),
        _cross_entropy(),
        _optimizer("SGD", {"lr": 0.1}, torch.optim.SGD, {"lr": 0.1}),
        _optimizer("SGD", {"lr": 0.1, "momentum": 0.9}, torch.optim.SGD,
                   {"lr": 0.1, "momentum": 0.9}),
        _optimizer("AdaGrad", {"lr": 0.1, "eps": 1e-10}, torch.optim.Adagrad,
                   {"lr": 0.1, "eps": 1e-10}),
        _optimizer("RMSProp", {"lr": 0.01, "decay": 0.99, "eps": 1e-8}, torch.optim.RMSprop,
                   {"lr": 0.01, "alpha": 0.99, "eps": 1e-8}),
        _optimizer("Adam", {"lr": 0.01, "eps": 1e-8}, torch.optim.Adam, {"lr": 0.01, "eps": 1e-8}),
    ]
