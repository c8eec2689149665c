"""DeZero 0.0.13 through the public twin check.

DeZero is define-by-run autograd: inputs are wrapped in `Variable`, the output's
`.grad` is set to the upstream gradient before `.backward()`, and every gradient is
read from `.grad.data`. Layers (`dezero.layers`) hold `Parameter`s under torch-like
shapes, except Linear's W, which is (in, out); functions (`dezero.functions`) are
checked on a `Layer` that holds nothing. Optimizers take `setup(layer)` and `update()`.
Recurrent layers are stateful, one time step per call (`reset_state()` starts a sequence);
a sequence is L calls.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from bench.compare.check import (
    SAME,
    TRANSPOSED,
    Adapter,
    OptimizerAdapter,
    Param,
    check,
    check_optimizer,
)
from bench.peers.case import PeerCase, stacked
from bench.peers.load import load

PEER = "dezero"


def _dz():
    return load(PEER)


def _param(torch_name: str, path: str, layout=None) -> Param:
    def write(m, a):
        _resolve(m, path).data = a
    return Param(torch_name, lambda m: _resolve(m, path).data,
                 lambda m: _resolve(m, path).grad, set=write,
                 **({"layout": layout} if layout else {}))


def _resolve(m, path):
    for part in path.split("."):
        m = getattr(m, part)
    return m


def _backward(m, out, g):
    dz = _dz()
    if isinstance(g, tuple):
        raise TypeError("one output expected")
    out.grad = dz.Variable(np.asarray(g))
    out.backward()


def _adapter(params=(), forward=None, **kw) -> Adapter:
    return Adapter(forward=forward or (lambda m, x: m(x)), backward=_backward,
                   params=params, wrap=lambda x: _dz().Variable(x),
                   input_grad=lambda v: v.grad.data, zero_grad="cleargrads", **kw)


# Found by the audit (tests/test_peers.py reproduces them):
# functions.MeanSquaredError.forward computes `(diff ** 2).sum() / len(diff)`
# (functions.py line 414, backward line 421): it divides by len(diff), the batch size
# N (axis 0), not by the number of elements; for an (N, C) input it is C times
# torch's MSELoss (reduction='mean'), for an (N,) input it agrees.
MSE_NOTE = "divides by len(diff) = N (axis 0), not N*C: C times MSELoss() on (N, C)"
# optimizers.Adam folds the bias corrections into the step size,
# lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps) (optimizers.py, Adam.lr
# and update_one): eps is added to the uncorrected sqrt(v), i.e. it acts as
# eps / sqrt(1 - beta2^t) in torch's form (31.6 eps at step 1). Kingma & Ba's
# "efficient" variant; differences ~1e-8 relative, visible only in float64.
ADAM_NOTE = "eps added to uncorrected sqrt(v): torch's eps / sqrt(1 - beta2^t)"


def _case(kind, name, config, make, twin, shape, params=(), forward=None, target=None,
          prepare=None, grad_inputs=(0,), note="") -> PeerCase:
    def run():
        rng = np.random.default_rng(0)
        x = rng.standard_normal(shape)
        extra = () if target is None else (target(rng),)
        return check(make(), twin(), x, *extra,
                     adapter=_adapter(params, forward, prepare=prepare,
                                      grad_inputs=grad_inputs))
    return PeerCase(PEER, kind, name, config, run, note=note)


def _holder():
    return _dz().Layer()


def _fn(name: str, *args):
    return lambda m, *xs: getattr(_dz().functions, name)(*xs, *args)


def _optimizer(name: str, kwargs: dict, torch_cls, torch_kwargs: dict, note="") -> PeerCase:
    def setup(arrays):
        dz = _dz()
        holder = dz.Layer()
        for i, a in enumerate(arrays):
            setattr(holder, f"p{i}", dz.Parameter(a.copy()))
        opt = getattr(dz.optimizers, name)(**kwargs).setup(holder)
        return holder, opt, len(arrays)

    def step(state, grads):
        holder, opt, n = state
        for i, g in enumerate(grads):
            getattr(holder, f"p{i}").grad = _dz().Variable(g)
        opt.update()

    def params(state):
        holder, _, n = state
        return [getattr(holder, f"p{i}").data for i in range(n)]

    def run():
        return check_optimizer(OptimizerAdapter(setup, step, params),
                               lambda ps: torch_cls(ps, **torch_kwargs), steps=10)
    args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    targs = ", ".join(f"{k}={v}" for k, v in torch_kwargs.items())
    return PeerCase(PEER, "optimizer", name, f"{args} vs {torch_cls.__name__}({targs}), "
                    "10 steps", run, note=note)


def _batchnorm_prepare(m, x):
    with _dz().no_grad():
        m(_dz().Variable(x))  # creates gamma, beta, avg_mean, avg_var at the input's size


# --- recurrent layers ---------------------------------------------------------------------
# layers.RNN: h = tanh(x2h(x) + h2h(h)), x2h a Linear with bias, h2h without; layers.LSTM:
# x2{f,i,o,u} with bias, h2{f,i,o,u} without (layers.py). On the first step h (and c) is
# None and the h2* terms are left out: torch's zero initial state. Each W is (in, out),
# torch's block transposed; torch's gate order i, f, g, o is their i, f, u, o; the x2*
# biases are torch's b_ih and, h2* having none, the twins' b_hh is set to 0.
# Found by the audit (tests/test_peers.py reproduces it): RNN.__init__ builds
# `h2h = Linear(hidden_size, in_size=in_size, nobias=True)` (layers.py line 234): with
# in_size given, h2h.W is (in_size, hidden_size), not (hidden, hidden), and the second
# step's h @ W raises unless in_size == hidden_size. Left lazy (in_size=None) it is
# created from h on the second step and is right.
RNN_IN_SIZE_NOTE = ("h2h is built as Linear(hidden, in_size=in_size): with in_size != hidden "
                    "the second step's h @ h2h.W raises")
SEQ = (3, 5, 4)  # (N, L, input), torch's batch_first layout; step t is x[:, t]


def _sequence(m, x):
    # L calls from a fresh state: the outputs are a list of (N, hidden) Variables.
    m.reset_state()
    return [m(x[:, t]) for t in range(x.shape[1])]


def _sequence_backward(m, hs, g):
    # One backward through the whole unrolled graph: of sum_t <h_t, g_t>, whose gradient
    # at each h_t is the upstream g_t (DeZero has no stack to make one output).
    F = _dz().functions
    loss = sum(F.sum(h * _dz().Variable(g[:, t])) for t, h in enumerate(hs))
    loss.backward()


def _recurrent_prepare(m, x):
    with _dz().no_grad():
        _sequence(m, _dz().Variable(x[:, :2]))  # two steps: the h2* weights are made on the 2nd
    m.reset_state()


def _gates(torch_name: str, prefix: str, gates: tuple[str, ...], attr: str) -> Param:
    # One torch tensor stacks the four gates; they hold one Linear per gate (`x2i`, ...).
    def write(m, g, a):
        getattr(getattr(m, prefix + g), attr).data = a
    return stacked(torch_name, gates, lambda m, g: getattr(getattr(m, prefix + g), attr).data,
                   lambda m, g: getattr(getattr(m, prefix + g), attr).grad.data, write,
                   TRANSPOSED if attr == "W" else SAME)


def _recurrent(lstm: bool, in_size: int | None, note="") -> PeerCase:
    def run():
        rng = np.random.default_rng(0)
        tm = (torch.nn.LSTM if lstm else torch.nn.RNN)(4, 6, batch_first=True)
        with torch.no_grad():
            tm.bias_hh_l0.zero_()
        layer = getattr(_dz().layers, "LSTM" if lstm else "RNN")(6, in_size=in_size)
        if lstm:
            gates = ("i", "f", "u", "o")
            params = [_gates("weight_ih_l0", "x2", gates, "W"),
                      _gates("weight_hh_l0", "h2", gates, "W"),
                      _gates("bias_ih_l0", "x2", gates, "b")]
        else:
            params = [_param("weight_ih_l0", "x2h.W", TRANSPOSED),
                      _param("weight_hh_l0", "h2h.W", TRANSPOSED), _param("bias_ih_l0", "x2h.b")]
        adapter = _adapter(params, _sequence, prepare=_recurrent_prepare)
        adapter = replace(adapter, backward=_sequence_backward, torch_output=lambda o: o[0],
                          output=lambda hs: np.stack([h.data for h in hs], axis=1))
        return check(layer, tm, rng.standard_normal(SEQ), adapter=adapter)
    name = "layers.LSTM" if lstm else "layers.RNN"
    twin = f"{'LSTM' if lstm else 'RNN'}(4, 6, batch_first=True), bias_hh_l0 = 0"
    return PeerCase(PEER, "layer", name, f"hidden_size=6, in_size={in_size}, 5 calls vs {twin}",
                    run, note=note)


def cases() -> list[PeerCase]:
    L = lambda: _dz().layers  # noqa: E731
    bn_params = [_param("weight", "gamma"), _param("bias", "beta"),
                 Param("running_mean", lambda m: m.avg_mean.data, None,
                       set=lambda m, a: setattr(m.avg_mean, "data", a)),
                 Param("running_var", lambda m: m.avg_var.data, None,
                       set=lambda m, a: setattr(m.avg_var, "data", a))]
    classes = lambda rng: rng.integers(0, 4, 6)  # noqa: E731
    return [
        _case("layer", "layers.Linear", "out_size=3 vs Linear(5, 3)",
              lambda: L().Linear(3, in_size=5), lambda: torch.nn.Linear(5, 3), (4, 5),
              [_param("weight", "W", TRANSPOSED), _param("bias", "b")]),
        _case("layer", "layers.Conv2d", "3x3, stride=1, pad=1 vs Conv2d(2, 4, 3, padding=1)",
              lambda: L().Conv2d(4, 3, stride=1, pad=1, in_channels=2),
              lambda: torch.nn.Conv2d(2, 4, 3, padding=1), (2, 2, 7, 7),
              [_param("weight", "W"), _param("bias", "b")]),
        _case("layer", "layers.Conv2d", "3x3, stride=2, pad=0 vs Conv2d(2, 4, 3, stride=2)",
              lambda: L().Conv2d(4, 3, stride=2, pad=0, in_channels=2),
              lambda: torch.nn.Conv2d(2, 4, 3, stride=2), (2, 2, 7, 7),
              [_param("weight", "W"), _param("bias", "b")]),
        _case("layer", "functions.pooling", "2x2, stride 2 vs MaxPool2d(2, 2)", _holder,
              lambda: torch.nn.MaxPool2d(2, 2), (2, 3, 6, 6), forward=_fn("pooling", 2, 2)),
        _case("layer", "functions.average_pooling", "2x2, stride 2 vs AvgPool2d(2, 2)",
              _holder, lambda: torch.nn.AvgPool2d(2, 2), (2, 3, 6, 6),
              forward=_fn("average_pooling", 2, 2)),
        _case("layer", "layers.BatchNorm", "training, (N, C) vs BatchNorm1d(3, eps=2e-5)",
              lambda: L().BatchNorm(), lambda: torch.nn.BatchNorm1d(3, eps=2e-5), (6, 3),
              bn_params, prepare=_batchnorm_prepare),
        _case("layer", "layers.BatchNorm", "training, (N, C, H, W) vs BatchNorm2d(3, eps=2e-5)",
              lambda: L().BatchNorm(), lambda: torch.nn.BatchNorm2d(3, eps=2e-5), (4, 3, 3, 3),
              bn_params, prepare=_batchnorm_prepare),
        _recurrent(False, None), _recurrent(False, 4, note=RNN_IN_SIZE_NOTE),
        _recurrent(True, None), _recurrent(True, 4),
        _case("activation", "functions.relu", "vs ReLU()", _holder, torch.nn.ReLU, (4, 5),
              forward=_fn("relu")),
        _case("activation", "functions.sigmoid", "vs Sigmoid()", _holder, torch.nn.Sigmoid,
              (4, 5), forward=_fn("sigmoid")),
        _case("activation", "functions.tanh", "vs Tanh()", _holder, torch.nn.Tanh, (4, 5),
              forward=_fn("tanh")),
        _case("activation", "functions.leaky_relu", "slope=0.2 vs LeakyReLU(0.2)", _holder,
              lambda: torch.nn.LeakyReLU(0.2), (4, 5), forward=_fn("leaky_relu", 0.2)),
        _case("activation", "functions.softmax", "axis=1 vs Softmax(dim=1)", _holder,
              lambda: torch.nn.Softmax(dim=1), (4, 5), forward=_fn("softmax")),
        _case("loss", "functions.softmax_cross_entropy", "vs CrossEntropyLoss()", _holder,
              torch.nn.CrossEntropyLoss, (6, 4), forward=_fn("softmax_cross_entropy"),
              target=classes),
        _case("loss", "functions.mean_squared_error", "(N, 4) vs MSELoss()", _holder,
              torch.nn.MSELoss, (6, 4), forward=_fn("mean_squared_error"),
              target=lambda rng: rng.standard_normal((6, 4)), note=MSE_NOTE),
        _case("loss", "functions.mean_squared_error", "(N,) vs MSELoss()", _holder,
              torch.nn.MSELoss, (6,), forward=_fn("mean_squared_error"),
              target=lambda rng: rng.standard_normal(6)),
        _optimizer("SGD", {"lr": 0.1}, torch.optim.SGD, {"lr": 0.1}),
        _optimizer("MomentumSGD", {"lr": 0.1, "momentum": 0.9}, torch.optim.SGD,
                   {"lr": 0.1, "momentum": 0.9}),
        _optimizer("AdaGrad", {"lr": 0.1, "eps": 1e-10}, torch.optim.Adagrad,
                   {"lr": 0.1, "eps": 1e-10}),
        _optimizer("Adam", {"alpha": 0.01}, torch.optim.Adam, {"lr": 0.01}, note=ADAM_NOTE),
    ]
