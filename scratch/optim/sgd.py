"""SGD with momentum, dampening, Nesterov and weight decay, exactly as `torch.optim.SGD`."""

from __future__ import annotations

from scratch.module import Parameter
from scratch.optim.optimizer import Optimizer, check_hyperparameter


class SGD(Optimizer):
    """Stochastic gradient descent, torch's formulation.

    For each parameter p with a gradient g (one without is skipped), at step t:
        g <- g + weight_decay * p
        if momentum:
            b <- g                                 (t = 1)
            b <- momentum * b + (1 - dampening) g  (t > 1)
            g <- g + momentum * b if nesterov else b
        p <- p - lr * g            (p + lr * g with maximize=True)

    Args:
        params: iterable of Parameters, (name, Parameter) pairs, or dicts defining
            parameter groups.
        lr: learning rate (default 1e-3, as torch).
        momentum, dampening, weight_decay: as above, default 0.
        nesterov: Nesterov momentum; needs momentum > 0 and dampening == 0.
        maximize: ascend instead of descend.
        foreach, fused: torch's kernel choices; same arithmetic, any value accepted.
        differentiable: only False (no autograd in scratch).
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False,
                 fused: bool | None = None):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused))

    def _check_group(self, group: dict) -> None:
        check_hyperparameter("lr", group["lr"], what="learning rate")
        check_hyperparameter("momentum", group["momentum"])
        check_hyperparameter("weight_decay", group["weight_decay"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum > 0 and zero dampening, "
                             f"got momentum={group['momentum']}, dampening={group['dampening']}")
        super()._check_group(group)

    def _update(self, p: Parameter, group: dict, state: dict) -> None:
        # In place wherever torch's formula allows: a step touches every weight several
        # times, and each needless temporary is one more pass over all of them.
        g = -p.grad if group["maximize"] else p.grad
        wd, mu, damp = group["weight_decay"], group["momentum"], group["dampening"]
        if wd:
            g = g + wd * p.data  # a new array: p.grad stays as backward left it
        if mu:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= mu
                buf += (1 - damp) * g if damp else g  # (1 - 0) * g == g exactly: skip the pass
            g = g + mu * buf if group["nesterov"] else buf
        p.data -= group["lr"] * g
