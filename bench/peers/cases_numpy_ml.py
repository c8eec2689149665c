"""numpy-ml 0.1.2 (`numpy_ml.neural_nets`) through the public twin check.

Its layers are explicit forward/backward objects: parameters in `layer.parameters[...]`,
gradients in `layer.gradients[...]`, created on the first forward pass (hence `prepare`),
images channels-last (N, H, W, C), weights (in, out) and conv kernels (kH, kW, in, out).
Activations are `fn(z)` with the derivative `fn.grad(z)`; optimizers are
`opt(param, grad, name) -> new param`.
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
from bench.peers.case import PeerCase
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


def cases() -> list[PeerCase]:
    return [
        _dense(None), _dense("ReLU"),
        _conv(1, 1, 0), _conv(2, 0, 0), _conv(1, 0, 1),
        _pool("max"), _pool("average"),
        _batchnorm(False), _batchnorm(True),
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
