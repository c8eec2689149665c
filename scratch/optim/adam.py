"""Adam and AdamW (with AMSGrad), exactly as `torch.optim.Adam` / `torch.optim.AdamW`.

AdamW is Adam with decoupled weight decay, as in torch: one update rule, one flag.
The arithmetic follows torch's single-tensor (for-loop) implementation operation by
operation, so that float64 trajectories agree to rounding.
"""

from __future__ import annotations

import numpy as np

from scratch.module import Parameter
from scratch.optim._functional import lerp_
from scratch.optim.optimizer import Optimizer, check_hyperparameter


class Adam(Optimizer):
    """Adam, torch's formulation (bias corrections folded into the step, eps outside).

    For each parameter p with a gradient g (one without is skipped), at step t = 1, 2, ...,
    with m, v and v_max starting at zero and (beta1, beta2) = betas:
        g <- -g if maximize
        if decoupled_weight_decay:  p <- p * (1 - lr * weight_decay)      (AdamW)
        else:                       g <- g + weight_decay * p             (L2, Adam)
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g^2
        if amsgrad: v_max <- max(v_max, v);  v_used = v_max   else v_used = v
        p <- p - lr / (1 - beta1^t) * m / (sqrt(v_used) / sqrt(1 - beta2^t) + eps)

    Args:
        params: iterable of Parameters, (name, Parameter) pairs, or dicts defining
            parameter groups.
        lr: learning rate (default 1e-3).
        betas: decay rates (beta1, beta2) of the running averages of the gradient and
            of its square (default (0.9, 0.999)); each in [0, 1).
        eps: added to the denominator, outside the square root (default 1e-8).
        weight_decay: L2 penalty folded into the gradient (default 0), or decoupled
            decay of the parameter with decoupled_weight_decay.
        amsgrad: normalise by the largest second moment seen so far (default False).
        maximize: ascend instead of descend.
        foreach, fused: torch's kernel choices; same arithmetic, any value accepted.
        capturable, differentiable: only False (CUDA graphs, autograd: see `Optimizer`).
        decoupled_weight_decay: AdamW's decay, p <- p * (1 - lr * weight_decay), applied
            before the moments are updated (default False; AdamW sets it).
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable, fused=fused,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _check_group(self, group: dict) -> None:
        check_hyperparameter("lr", group["lr"], what="learning rate")
        check_hyperparameter("eps", group["eps"])
        betas = group["betas"]
        if len(betas) != 2:
            raise ValueError(f"invalid betas {betas!r}: expected a pair (beta1, beta2)")
        for i, beta in enumerate(betas):
            check_hyperparameter(f"betas[{i}]", beta, 0.0, 1.0,
                                 what=f"beta parameter at index {i}")
        check_hyperparameter("weight_decay", group["weight_decay"])
        super()._check_group(group)

    def _update(self, p: Parameter, group: dict, state: dict) -> None:
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p.data)
            state["exp_avg_sq"] = np.zeros_like(p.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(p.data)
        state["step"] += 1
        t = state["step"]
        lr, wd = group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]

        g = -p.grad if group["maximize"] else p.grad
        if wd:
            if group["decoupled_weight_decay"]:
                p.data *= 1 - lr * wd
            else:
                g = g + wd * p.data  # a new array: p.grad stays as backward left it

        m, v = state["exp_avg"], state["exp_avg_sq"]
        lerp_(m, g, 1 - beta1)
        v *= beta2
        v += (1 - beta2) * g * g  # torch's addcmul: (value * g) * g

        # Scalars in Python floats, as torch's single-tensor path computes them.
        step_size = lr / (1 - beta1**t)
        bias_correction2_sqrt = (1 - beta2**t) ** 0.5
        if group["amsgrad"]:
            v_max = state["max_exp_avg_sq"]
            np.maximum(v_max, v, out=v_max)
            v = v_max
        denom = np.sqrt(v)
        denom /= bias_correction2_sqrt
        denom += group["eps"]
        p.data -= step_size * m / denom  # torch's addcdiv: (value * m) / denom


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay, p <- p * (1 - lr * weight_decay).

    The update rule is Adam's (see `Adam`) with decoupled_weight_decay=True; only the
    default weight_decay differs (1e-2). Same arguments as `Adam` otherwise.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         foreach=foreach, capturable=capturable, differentiable=differentiable,
                         fused=fused, decoupled_weight_decay=True)

    def load_state_dict(self, state_dict: dict) -> None:
        # As torch: a state saved by Adam still loads into AdamW as AdamW.
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
