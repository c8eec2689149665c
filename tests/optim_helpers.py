"""Run a scratch optimizer and its torch.optim twin side by side on the same random gradients.

Shared by the optimizer trajectory tests: `run_both("Adam", np.float64, dict(lr=0.05),
steps=30)` builds `scratch.optim.Adam` and `torch.optim.Adam` with the same arguments over
copies of the same parameters, feeds both the same fresh gradients each step, and returns
both parameter lists and both optimizers. Works for any optimizer both libraries name alike
(SGD included).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

import scratch
from scratch import optim
from scratch.testing import max_rel_diff

# Shapes of the parameters every trajectory test moves: a matrix, a vector, a single
# element (the (1,) case broadcasting bugs hide in) and a 3-D block.
SHAPES = [(5, 3), (3,), (1,), (2, 3, 4)]


class Twins(NamedTuple):
    params: list[scratch.Parameter]
    tparams: list[torch.Tensor]
    opt: optim.Optimizer
    topt: torch.optim.Optimizer


def run_both(name: str, dtype, options: dict, *, steps: int, seed: int = 0,
             shapes=SHAPES) -> Twins:
    """`steps` steps of scratch.optim.<name> and torch.optim.<name> on the same gradients."""
    rng = np.random.default_rng(seed)
    params = [scratch.Parameter(rng.standard_normal(s).astype(dtype)) for s in shapes]
    tparams = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    opt = getattr(optim, name)(params, **options)
    # foreach=False pins torch to its single-tensor loop, the one scratch follows.
    topt = getattr(torch.optim, name)(tparams, **options, foreach=False)
    for _ in range(steps):
        for p, tp in zip(params, tparams):
            g = rng.standard_normal(p.shape).astype(dtype)
            p.grad[...] = g
            tp.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
    return Twins(params, tparams, opt, topt)


def params_rel_diff(params, tparams) -> float:
    """Largest `max_rel_diff` of scratch's parameters against torch's, one parameter at a time."""
    return max(max_rel_diff(p.data, tp.detach().numpy()) for p, tp in zip(params, tparams))


class GroupRun(NamedTuple):
    params: list[scratch.Parameter]
    tparams: list[torch.Tensor]
    opt: optim.Optimizer
    topt: torch.optim.Optimizer


def gradient_given(i: int, step: int) -> bool:
    """Which parameters get a gradient at a step: parameter 1 never (torch: grad None, never
    moved, no state), parameter 2 on two steps in three, the others always."""
    return i != 1 and not (i == 2 and step % 3 == 0)


def group_twins(name: str, dtype, defaults: dict, override: dict, *, seed: int = 0,
                late_group: bool = False) -> GroupRun:
    """scratch.optim.<name> and torch.optim.<name> over two parameter groups of SHAPES: the
    first two parameters on `defaults`, the others with `override` on top. With
    late_group=True the second group is left out, for `add_param_group` later."""
    rng = np.random.default_rng(seed)
    params = [scratch.Parameter(rng.standard_normal(s).astype(dtype)) for s in SHAPES]
    tparams = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]

    def groups(ps):
        return [{"params": ps[:2]}] + ([] if late_group else [{"params": ps[2:], **override}])

    opt = getattr(optim, name)(groups(params), **defaults)
    topt = getattr(torch.optim, name)(groups(tparams), **{**defaults, "foreach": False})
    return GroupRun(params, tparams, opt, topt)


def feed(run: GroupRun, grads: list[np.ndarray | None]) -> None:
    """Give each parameter pair its gradient (None: none at all) and step both optimizers."""
    for p, tp, g in zip(run.params, run.tparams, grads):
        p.zero_grad()
        tp.grad = None
        if g is not None:
            p.grad = g.copy()
            tp.grad = torch.from_numpy(g.copy())
    run.opt.step()
    run.topt.step()


def draw_grads(rng: np.random.Generator, dtype, step: int) -> list[np.ndarray | None]:
    return [rng.standard_normal(s).astype(dtype) if gradient_given(i, step) else None
            for i, s in enumerate(SHAPES)]
