"""Lockstep: both twins step on identical batches with identical dropout masks.

From the same initial weights, any gap that opens between the twins is
floating-point rounding compounding through training. The report gives the
per-step loss difference, the final largest relative weight difference and
both twins' test accuracy. Generative experiments are run by
`lockstep_generative`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from bench.experiments import Experiment, build_model
from bench.training import (
    Data,
    ScratchRunner,
    TorchRunner,
    batches,
    check_finite,
    evaluate,
    progress_bar,
)
from scratch.testing import max_rel_diff


@dataclass
class LockstepReport:
    experiment: str
    dtype: str
    steps: int = 0
    loss_diffs: list[float] = field(default_factory=list)  # |loss_scratch - loss_torch| per step
    max_weight_rel_diff: float = 0.0  # see weight_rel_diff
    worst_tensor: str = ""
    weight_norm_rel_diff: float = 0.0  # ||w_scratch - w_torch|| / ||w_torch||, all weights
    test_accuracy: dict[str, float] = field(default_factory=dict)

    @property
    def max_loss_diff(self) -> float:
        return max(self.loss_diffs, default=0.0)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "max_loss_diff": self.max_loss_diff}, indent=1)


def weight_rel_diff(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> tuple[float, str]:
    """Largest relative difference (`max_rel_diff`) over the float tensors of two state
    dicts, and the name of the tensor where it is.

    Each tensor is measured against its own scale, floored at 1e-6 of the model's largest
    weight: a bias that feeds a batch norm gets gradients of pure rounding noise and
    stays near its initial value, and would otherwise divide by almost nothing.
    """
    floats = {k: np.asarray(v) for k, v in b.items()
              if np.issubdtype(np.asarray(v).dtype, np.floating)}
    floor = 1e-6 * max((float(np.abs(v).max(initial=0)) for v in floats.values()), default=1.0)
    worst, name = 0.0, ""
    for key, wb in floats.items():  # num_batches_tracked is an integer, equal by construction
        rel = max_rel_diff(a[key], wb, floor=floor)
        if rel >= worst:
            worst, name = rel, key
    return worst, name


def weight_norm_rel_diff(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    """||a - b|| / ||b|| over all float tensors together: the drift of the model as a whole."""
    keys = [k for k, v in b.items() if np.issubdtype(np.asarray(v).dtype, np.floating)]
    num = sum(float(np.sum((np.asarray(a[k], np.float64) - b[k]) ** 2)) for k in keys)
    den = sum(float(np.sum(np.asarray(b[k], np.float64) ** 2)) for k in keys)
    return (num / den) ** 0.5 if den else 0.0


def run_lockstep(exp: Experiment, data: Data, *, show_progress: bool = True,
                 log=print) -> LockstepReport:
    if exp.objective is not None:  # a VAE or GAN: its own steps, and the one-ulp yardstick
        from bench.compare.lockstep_generative import run_generative_lockstep

        return run_generative_lockstep(exp, data, show_progress=show_progress, log=log)
    model = build_model(exp, np.random.default_rng(exp.seed))
    twins = (ScratchRunner(exp, model), TorchRunner(exp, model, shared_dropout=True))
    report = LockstepReport(exp.name, exp.dtype)
    n = len(data.y_train)
    for epoch in range(exp.epochs):
        for runner in twins:
            runner.begin_epoch(epoch)
        bar = progress_bar(n, f"lockstep epoch {epoch + 1}", show_progress)
        for step, idx in enumerate(batches(n, exp.batch_size, exp.seed, epoch)):
            x, y = data.x_train[idx], data.y_train[idx]
            losses = [runner.train_step(x, y) for runner in twins]
            for runner, loss in zip(twins, losses):
                check_finite(loss, epoch + 1, step + 1, runner)
            report.loss_diffs.append(abs(losses[0] - losses[1]))
            report.steps += 1
            if bar is not None:
                bar.update(len(idx))
                bar.set_postfix(loss_diff=f"{report.loss_diffs[-1]:.1e}")
        if bar is not None:
            bar.close()
        for runner in twins:
            runner.end_epoch()
        rel, _ = weight_rel_diff(twins[0].weights(), twins[1].weights())
        if log is not None:
            log(f"lockstep epoch {epoch + 1}: max loss diff {report.max_loss_diff:.2e}, "
                f"max relative weight diff {rel:.2e}")
    weights = [runner.weights() for runner in twins]
    report.max_weight_rel_diff, report.worst_tensor = weight_rel_diff(*weights)
    report.weight_norm_rel_diff = weight_norm_rel_diff(*weights)
    for runner in twins:
        report.test_accuracy[runner.impl] = evaluate(runner, data.x_test, data.y_test)[1]
    return report
