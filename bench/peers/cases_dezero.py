"""DeZero 0.0.13 through the public twin check.

DeZero is define-by-run autograd: inputs are wrapped in `Variable`, the output's
`.grad` is set to the upstream gradient before `.backward()`, and every gradient is
read from `.grad.data`. Layers (`dezero.layers`) hold `Parameter`s under torch-like
shapes, except Linear's W, which is (in, out); functions (`dezero.functions`) are
checked on a `Layer` that holds nothing. Optimizers take `setup(layer)` and `update()`.
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
)
from bench.peers.case import PeerCase
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
