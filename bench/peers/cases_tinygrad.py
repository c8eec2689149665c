"""tinygrad through the public twin check (CPU device; it compiles kernels with clang).

tinygrad is lazy autograd: `out.backward(Tensor(g))` fills `.grad` of every tensor the
output depends on; arrays come back with `.numpy()`. `nn.Linear`, `nn.Conv2d`,
`nn.BatchNorm` keep torch's names and shapes; activations, pooling and losses are
Tensor methods; `nn.optim` optimizers step over a list of Tensors under
`Context(TRAINING=1)` (also what puts BatchNorm in training mode). `nn.LSTMCell`, its
only recurrent layer, is one step `cell(x, (h, c)) -> (h, c)` with torch's weights. Its kernels are
compiled per shape and dtype, so the finite-difference check (hundreds of forward
passes) runs on the smaller cases only.
"""

from __future__ import annotations

import numpy as np
import torch

from bench.compare.check import Adapter, OptimizerAdapter, Param, check, check_optimizer
from bench.peers.case import PeerCase
from bench.peers.load import load

PEER = "tinygrad"


def _tg():
    return load(PEER)


def _tensor(a):
    if isinstance(a, _tg().Tensor):
        return a
    return _tg().Tensor(np.array(a, order="C"))  # 0-d stays 0-d (ascontiguousarray makes it 1-d)


def _param(torch_name: str, attr: str) -> Param:
    return Param(torch_name, lambda m: getattr(m, attr).numpy(),
                 lambda m: getattr(m, attr).grad,
                 set=lambda m, a: setattr(m, attr, _tensor(a)))


def _buffer(torch_name: str, attr: str) -> Param:
    return Param(torch_name, lambda m: getattr(m, attr).numpy(), None,
                 set=lambda m, a: setattr(m, attr, _tensor(a)))


def _zero(m):
    for v in vars(m).values():
        if hasattr(v, "grad"):
            v.grad = None


def _forward(call):
    def forward(m, *xs):
        with _tg().Context(TRAINING=1):
            return call(m, *xs)
    return forward


def _backward(m, out, g):
    out.backward(_tensor(np.asarray(g, dtype=out.dtype.fmt or np.float64)))


class Holder:
    """For the Tensor methods: nothing to hold."""


def _case(kind, name, config, make, twin, shapes, call, params=(), extra=(), fd=True,
          grad_inputs=(0,), torch_output=None) -> PeerCase:
    def run():
        rng = np.random.default_rng(0)
        xs = [rng.standard_normal(s) for s in shapes] + [e(rng) for e in extra]
        adapter = Adapter(forward=_forward(call), backward=_backward, params=params,
                          wrap=_tensor, input_grad=lambda t: t.grad, zero_grad=_zero,
                          output=lambda o: o.numpy(), grad_inputs=grad_inputs,
                          torch_output=torch_output)
        return check(make(), twin(), *xs, adapter=adapter, finite_differences=fd)
    return PeerCase(PEER, kind, name, config, run)


def _act(method, twin, *args, **kwargs):
    return _case("activation", f"Tensor.{method}", f"{args or ''}{kwargs or ''} vs {twin()!r}",
                 Holder, twin, [(4, 6)], lambda m, x: getattr(x, method)(*args, **kwargs))


def _optimizer(name: str, kwargs: dict, torch_cls, torch_kwargs: dict) -> PeerCase:
    def setup(arrays):
        params = [_tensor(a.copy()) for a in arrays]
        for p in params:
            p.requires_grad = True
        return params, getattr(_tg().nn.optim, name)(params, **kwargs)

    def step(state, grads):
        params, opt = state
        for p, g in zip(params, grads):
            p.grad = _tensor(g)
        with _tg().Context(TRAINING=1):
            opt.step()

    def run():
        return check_optimizer(OptimizerAdapter(setup, step, lambda s: [p.numpy() for p in s[0]]),
                               lambda ps: torch_cls(ps, **torch_kwargs), steps=10,
                               dtypes=(np.float32,))
    args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    targs = ", ".join(f"{k}={v}" for k, v in torch_kwargs.items())
    return PeerCase(PEER, "optimizer", f"nn.optim.{name}",
                    f"{args} vs {torch_cls.__name__}({targs}), 10 steps, float32 only", run,
                    note=OPTIM_NOTE)


# Found by the audit (tests/test_peers.py reproduces it): tinygrad.nn.optim.Optimizer
# stores lr as a float32 Tensor and creates its state (momentum buffers, Adam moments)
# in OPTIM_DTYPE, float32 by default, whatever the parameters' dtype. On float64
# parameters plain SGD and Adam step with lr rounded to float32 (relative error ~1e-8
# per step), and SGD with momentum raises "assign dtype mismatch" in
# LARS._step's `self.b[i].assign(...)`. So its optimizers are checked in float32.
OPTIM_NOTE = ("float64 parameters: lr and state kept in float32 (OPTIM_DTYPE); momentum "
              "raises 'assign dtype mismatch'")


def _lstm_sequence(m, x):
    # nn.LSTMCell.__call__ is one step from hc (zeros when None), weights torch's
    # (weight_ih (4H, in), weight_hh (4H, H), gates i, f, g, o, both biases): stepped
    # over x[:, t] of a batch_first (N, L, in) input, states stacked on axis 1.
    hc, hs = None, []
    for t in range(x.shape[1]):
        hc = m(x[:, t], hc)
        hs.append(hc[0])
    return _tg().Tensor.stack(*hs, dim=1)


def cases() -> list[PeerCase]:
    nn = lambda: _tg().nn  # noqa: E731
    classes = lambda rng: rng.integers(0, 4, 6)  # noqa: E731
    wb = [_param("weight", "weight"), _param("bias", "bias")]
    bn = wb + [_buffer("running_mean", "running_mean"), _buffer("running_var", "running_var")]
    return [
        _case("layer", "nn.Linear", "(5, 3) vs Linear(5, 3)", lambda: nn().Linear(5, 3),
              lambda: torch.nn.Linear(5, 3), [(4, 5)], lambda m, x: m(x), wb),
        _case("layer", "nn.Conv2d", "(2, 4, 3, padding=1) vs Conv2d(2, 4, 3, padding=1)",
              lambda: nn().Conv2d(2, 4, 3, padding=1),
              lambda: torch.nn.Conv2d(2, 4, 3, padding=1), [(2, 2, 7, 7)],
              lambda m, x: m(x), wb, fd=False),
        _case("layer", "nn.Conv2d", "(2, 4, 3, stride=2) vs Conv2d(2, 4, 3, stride=2)",
              lambda: nn().Conv2d(2, 4, 3, stride=2), lambda: torch.nn.Conv2d(2, 4, 3, stride=2),
              [(2, 2, 7, 7)], lambda m, x: m(x), wb, fd=False),
        _case("layer", "Tensor.max_pool2d", "(2, 2) vs MaxPool2d(2, 2)", Holder,
              lambda: torch.nn.MaxPool2d(2, 2), [(2, 3, 6, 6)], lambda m, x: x.max_pool2d((2, 2))),
        _case("layer", "Tensor.avg_pool2d", "(2, 2) vs AvgPool2d(2, 2)", Holder,
              lambda: torch.nn.AvgPool2d(2, 2), [(2, 3, 6, 6)], lambda m, x: x.avg_pool2d((2, 2))),
        _case("layer", "nn.BatchNorm", "(3), training, (N, C, H, W) vs BatchNorm2d(3)",
              lambda: nn().BatchNorm(3), lambda: torch.nn.BatchNorm2d(3), [(4, 3, 3, 3)],
              lambda m, x: m(x), bn, fd=False),
        _case("layer", "nn.BatchNorm", "(3), training, (N, C) vs BatchNorm1d(3)",
              lambda: nn().BatchNorm(3), lambda: torch.nn.BatchNorm1d(3), [(6, 3)],
              lambda m, x: m(x), bn, fd=False),
        _case("layer", "nn.LSTMCell", "(4, 6), 5 steps vs LSTM(4, 6, batch_first=True)",
              lambda: nn().LSTMCell(4, 6), lambda: torch.nn.LSTM(4, 6, batch_first=True),
              [(3, 5, 4)], _lstm_sequence,
              [_param(f"{w}_{k}_l0", f"{w}_{k}") for w in ("weight", "bias")
               for k in ("ih", "hh")], fd=False, torch_output=lambda o: o[0]),
        _act("relu", torch.nn.ReLU),
        _act("sigmoid", torch.nn.Sigmoid),
        _act("tanh", torch.nn.Tanh),
        _act("leaky_relu", lambda: torch.nn.LeakyReLU(0.2), 0.2),
        _act("elu", lambda: torch.nn.ELU(0.7), 0.7),
        _act("gelu", lambda: torch.nn.GELU(approximate="tanh")),
        _act("silu", torch.nn.SiLU),
        _act("softplus", torch.nn.Softplus),
        _act("hardtanh", lambda: torch.nn.Hardtanh(-0.5, 0.5), -0.5, 0.5),
        _act("softmax", lambda: torch.nn.Softmax(-1)),
        _act("log_softmax", lambda: torch.nn.LogSoftmax(-1)),
        _case("loss", "Tensor.sparse_categorical_crossentropy", "vs CrossEntropyLoss()", Holder,
              torch.nn.CrossEntropyLoss, [(6, 4)],
              lambda m, x, y: x.sparse_categorical_crossentropy(_tensor(y)), extra=[classes]),
        _case("loss", "Tensor.binary_crossentropy_logits", "vs BCEWithLogitsLoss()", Holder,
              torch.nn.BCEWithLogitsLoss, [(6, 4)],
              lambda m, x, y: x.binary_crossentropy_logits(_tensor(y)),
              extra=[lambda rng: rng.uniform(0, 1, (6, 4))]),
        _optimizer("SGD", {"lr": 0.1}, torch.optim.SGD, {"lr": 0.1}),
        _optimizer("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}, torch.optim.SGD,
                   {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
        _optimizer("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}, torch.optim.SGD,
                   {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
        _optimizer("Adam", {"lr": 0.01}, torch.optim.Adam, {"lr": 0.01}),
        _optimizer("AdamW", {"lr": 0.01, "weight_decay": 0.1}, torch.optim.AdamW,
                   {"lr": 0.01, "weight_decay": 0.1}),
    ]
