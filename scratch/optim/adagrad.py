"""Adagrad with learning-rate decay, exactly as `torch.optim.Adagrad` (dense gradients)."""

from __future__ import annotations

import numpy as np

from scratch.module import Parameter
from scratch.optim.optimizer import Optimizer, check_hyperparameter


class Adagrad(Optimizer):
    """Adagrad, torch's formulation.

    For each parameter p with a gradient g (one without is skipped, its state kept), at
    step t = 1, 2, ..., with the sum of squares s starting at initial_accumulator_value:
        g <- -g if maximize
        g <- g + weight_decay * p
        clr <- lr / (1 + (t - 1) * lr_decay)
        s <- s + g^2
        p <- p - clr * g / (sqrt(s) + eps)

    As in torch, the state ("step" and "sum") is created when the optimizer is, and
    the accumulator always starts at the constructor's initial_accumulator_value: a
    per-group value is kept in the group but not used.

    Args:
        params: iterable of Parameters, (name, Parameter) pairs, or dicts defining
            parameter groups.
        lr: learning rate (default 1e-2).
        lr_decay: learning-rate decay per step (default 0).
        weight_decay: L2 penalty folded into the gradient (default 0).
        initial_accumulator_value: starting value of the sum of squares (default 0).
        eps: added to the denominator, outside the square root (default 1e-10).
        foreach, fused: torch's kernel choices; same arithmetic, any value accepted.
        maximize: ascend instead of descend.
        differentiable: only False (no autograd in scratch).
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10,
                 foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps,
                                      weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      foreach=foreach, maximize=maximize,
                                      differentiable=differentiable, fused=fused))
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, self.state.setdefault(p, {}))

    def _check_group(self, group: dict) -> None:
        check_hyperparameter("lr", group["lr"], what="learning rate")
        check_hyperparameter("lr_decay", group["lr_decay"])
        check_hyperparameter("weight_decay", group["weight_decay"])
        check_hyperparameter("initial_accumulator_value", group["initial_accumulator_value"])
        check_hyperparameter("eps", group["eps"])
        super()._check_group(group)

    def _init_state(self, p: Parameter, state: dict) -> None:
        if not state:
            state["step"] = 0
            state["sum"] = np.full_like(p.data, self.defaults["initial_accumulator_value"])

    def _update(self, p: Parameter, group: dict, state: dict) -> None:
        self._init_state(p, state)  # parameters from a later add_param_group
        state["step"] += 1
        g = -p.grad if group["maximize"] else p.grad
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.data  # a new array: p.grad stays untouched
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])

        s = state["sum"]
        s += g * g
        std = np.sqrt(s)
        std += group["eps"]
        p.data -= clr * g / std  # torch's addcdiv: (value * g) / std
