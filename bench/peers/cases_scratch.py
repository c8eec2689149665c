"""scratch itself through the same public check: the audit's first rows.

No adapter is written here: `check` drives any scratch module with the built-in
`scratch_adapter`, and `scratch_optimizer` drives scratch's optimizers.
"""

from __future__ import annotations

import numpy as np
import torch

import scratch
from bench.compare.check import check, check_optimizer, scratch_optimizer
from bench.peers.case import PeerCase

PEER = "scratch"


def _layer(kind: str, make, twin, shape: tuple, target=None) -> PeerCase:
    def run():
        rng = np.random.default_rng(0)
        module = make(np.random.default_rng(1))
        x = rng.standard_normal(shape)
        extra = () if target is None else (target(rng),)
        return check(module, twin(), x, *extra)
    return PeerCase(PEER, kind, type(make(np.random.default_rng(1))).__name__,
                    f"{shape} input", run)


def _optimizer(cls, torch_cls, kwargs: dict) -> PeerCase:
    def run():
        return check_optimizer(scratch_optimizer(cls, **kwargs),
                               lambda ps: torch_cls(ps, **kwargs), steps=10)
    args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    return PeerCase(PEER, "optimizer", cls.__name__, f"{args}, 10 steps", run)


def cases() -> list[PeerCase]:
    classes = lambda rng: rng.integers(0, 4, 6)  # noqa: E731
    return [
        _layer("layer", lambda r: scratch.Linear(5, 3, rng=r), lambda: torch.nn.Linear(5, 3),
               (4, 5)),
        _layer("layer", lambda r: scratch.Conv2d(2, 4, 3, padding=1, rng=r),
               lambda: torch.nn.Conv2d(2, 4, 3, padding=1), (2, 2, 7, 7)),
        _layer("layer", lambda r: scratch.MaxPool2d(2), lambda: torch.nn.MaxPool2d(2),
               (2, 3, 6, 6)),
        _layer("layer", lambda r: scratch.AvgPool2d(2), lambda: torch.nn.AvgPool2d(2),
               (2, 3, 6, 6)),
        _layer("layer", lambda r: scratch.BatchNorm1d(3), lambda: torch.nn.BatchNorm1d(3),
               (6, 3)),
        _layer("layer", lambda r: scratch.BatchNorm2d(3), lambda: torch.nn.BatchNorm2d(3),
               (4, 3, 3, 3)),
        _layer("activation", lambda r: scratch.ReLU(), torch.nn.ReLU, (4, 5)),
        _layer("activation", lambda r: scratch.Sigmoid(), torch.nn.Sigmoid, (4, 5)),
        _layer("activation", lambda r: scratch.Tanh(), torch.nn.Tanh, (4, 5)),
        _layer("loss", lambda r: scratch.CrossEntropyLoss(), torch.nn.CrossEntropyLoss,
               (6, 4), classes),
        _layer("loss", lambda r: scratch.MSELoss(), torch.nn.MSELoss, (6, 4),
               lambda rng: rng.standard_normal((6, 4))),
        _optimizer(scratch.optim.SGD, torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
        _optimizer(scratch.optim.Adagrad, torch.optim.Adagrad, {"lr": 0.1}),
        _optimizer(scratch.optim.RMSprop, torch.optim.RMSprop, {"lr": 0.01}),
        _optimizer(scratch.optim.Adam, torch.optim.Adam, {"lr": 0.01}),
    ]
