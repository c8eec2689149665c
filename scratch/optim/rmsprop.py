"""RMSprop (plain, centered, with momentum), exactly as `torch.optim.RMSprop`."""

from __future__ import annotations

import numpy as np

from scratch.module import Parameter
from scratch.optim._functional import lerp_
from scratch.optim.optimizer import Optimizer, check_hyperparameter


class RMSprop(Optimizer):
    """RMSprop, torch's formulation (eps outside the square root, momentum on the ratio).

    For each parameter p with a gradient g (one without is skipped), at step t, with
    square_avg v, grad_avg m and momentum_buffer b all starting at zero:
        g <- -g if maximize
        g <- g + weight_decay * p
        v <- alpha * v + (1 - alpha) * g^2
        if centered:
            m <- alpha * m + (1 - alpha) * g
            d <- sqrt(v - m^2) + eps
        else:
            d <- sqrt(v) + eps
        if momentum > 0:
            b <- momentum * b + g / d
            p <- p - lr * b
        else:
            p <- p - lr * g / d

    Args:
        params: iterable of Parameters, (name, Parameter) pairs, or dicts defining
            parameter groups.
        lr: learning rate (default 1e-2).
        alpha: smoothing constant of the squared-gradient average (default 0.99).
        eps: added to the denominator, outside the square root (default 1e-8).
        weight_decay: L2 penalty folded into the gradient (default 0).
        momentum: momentum factor (default 0).
        centered: normalise by the estimated variance of the gradient instead of its
            second moment (default False).
        capturable, differentiable: only False (CUDA graphs, autograd: see `Optimizer`).
        foreach: torch's kernel choice; same arithmetic, any value accepted.
        maximize: ascend instead of descend.
        All positional, in torch's order.
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False,
                 capturable: bool = False, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps,
                                      centered=centered, weight_decay=weight_decay,
                                      capturable=capturable, foreach=foreach, maximize=maximize,
                                      differentiable=differentiable))

    def _check_group(self, group: dict) -> None:
        check_hyperparameter("lr", group["lr"], what="learning rate")
        check_hyperparameter("eps", group["eps"])
        check_hyperparameter("momentum", group["momentum"])
        check_hyperparameter("weight_decay", group["weight_decay"])
        check_hyperparameter("alpha", group["alpha"])
        super()._check_group(group)

    def _update(self, p: Parameter, group: dict, state: dict) -> None:
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(p.data)
            if group["momentum"] > 0:
                state["momentum_buffer"] = np.zeros_like(p.data)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(p.data)
        state["step"] += 1  # kept for torch's state_dict; the update does not use it
        alpha, lr, wd = group["alpha"], group["lr"], group["weight_decay"]
        g = -p.grad if group["maximize"] else p.grad
        if wd:
            g = g + wd * p.data  # a new array: p.grad stays as backward left it

        v = state["square_avg"]
        v *= alpha
        v += (1 - alpha) * g * g  # torch's addcmul: (value * g) * g
        if group["centered"]:
            m = state["grad_avg"]
            lerp_(m, g, 1 - alpha)
            d = v - m * m
            np.sqrt(d, out=d)
        else:
            d = np.sqrt(v)
        d += group["eps"]

        if group["momentum"] > 0:
            b = state["momentum_buffer"]
            b *= group["momentum"]
            b += g / d
            p.data -= lr * b
        else:
            p.data -= lr * g / d  # torch's addcdiv: (value * g) / d
