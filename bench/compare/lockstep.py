"""Lockstep: both twins step on identical batches with identical dropout masks.

From the same initial weights, any gap that opens between the twins is
floating-point rounding compounding through training. The report gives the
per-step loss difference, the final largest relative weight difference and
both twins' test accuracy (generative experiments are run by `lockstep_generative`).
`max_steps` ends a run early (a costly model's first
steps, e.g. the ResNet's, where the whole epoch takes long in float64).

Some trainings amplify rounding until two runs part (Adam in an LSTM): a gap
there is chaos, not a wrong gradient. The evidence is the ulp experiment run
beside them: scratch against itself, with every weight moved by one ulp at the
start (`one_ulp_off`), stepped on the same batches. Where that copy drifts from
scratch as far as torch does, the twins' gap is what rounding alone makes.
"""

from __future__ import annotations

import json
import time
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
    max_steps: int | None = None  # the step limit the run was given, None for whole epochs
    seconds: float = 0.0  # wall-clock of the steps, both twins together
    # The ulp experiment: scratch against scratch with every weight one ulp larger at the
    # start (`ulp_weight` says which were moved), on the same batches and masks.
    ulp_weight: str = ""
    ulp_max_loss_diff: float = 0.0
    ulp_weight_rel_diff: float = 0.0

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


ULP_WEIGHTS = "every weight"


def one_ulp_off(exp: Experiment) -> tuple[ScratchRunner, str]:
    """A scratch runner of `exp` from the same initial weights, each moved up by one ulp
    (`np.nextafter`, in its dtype); and `ULP_WEIGHTS`, what was moved.

    Every weight, not one: a single element one ulp off can vanish in the first rounding
    (its share of a dot product of hundreds of terms is below the sum's ulp), and then the
    copy retraces scratch exactly and measures nothing (seen on the toy model once BLAS
    ran another thread count)."""
    model = build_model(exp, np.random.default_rng(exp.seed))
    nudge_one_ulp(model)
    return ScratchRunner(exp, model), ULP_WEIGHTS


def nudge_one_ulp(model) -> None:
    """Move every parameter of `model` one ulp up, in place: a difference at rounding
    level everywhere, as the twins' own (buffers, the running statistics, untouched)."""
    for param in model.parameters():
        np.nextafter(param.data, np.inf, out=param.data)


def run_lockstep(exp: Experiment, data: Data, *, show_progress: bool = True,
                 log=print, max_steps: int | None = None, ulp: bool = True) -> LockstepReport:
    """Both twins of `exp` from the same weights, stepped together over its epochs, or
    over its first `max_steps` steps (the schedule still spans the experiment's epochs);
    with `ulp` the ulp experiment beside them."""
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be a positive number of steps or None, got "
                         f"{max_steps}")
    if exp.objective is not None:  # a VAE or GAN: its own steps, and the one-ulp yardstick
        from bench.compare.lockstep_generative import run_generative_lockstep

        return run_generative_lockstep(exp, data, steps=max_steps, ulp=ulp,
                                       show_progress=show_progress, log=log)
    model = build_model(exp, np.random.default_rng(exp.seed))
    twins = (ScratchRunner(exp, model), TorchRunner(exp, model, shared_dropout=True))
    report = LockstepReport(exp.name, exp.dtype, max_steps=max_steps)
    nudged = None
    if ulp:
        nudged, report.ulp_weight = one_ulp_off(exp)
    runners = twins if nudged is None else (*twins, nudged)
    n = len(data.y_train)
    start = time.perf_counter()
    for epoch in range(exp.epochs):
        for runner in runners:
            runner.begin_epoch(epoch)
        bar = progress_bar(n, f"lockstep epoch {epoch + 1}", show_progress)
        stopped = True
        for step, idx in enumerate(batches(n, exp.batch_size, exp.seed, epoch)):
            x, y = data.x_train[idx], data.y_train[idx]
            losses = [runner.train_step(x, y) for runner in runners]
            for runner, loss in zip(runners, losses):
                check_finite(loss, epoch + 1, step + 1, runner)
            if nudged is not None:
                report.ulp_max_loss_diff = max(report.ulp_max_loss_diff,
                                               abs(losses[0] - losses[2]))
            report.loss_diffs.append(abs(losses[0] - losses[1]))
            report.steps += 1
            if bar is not None:
                bar.update(len(idx))
                bar.set_postfix(loss_diff=f"{report.loss_diffs[-1]:.1e}")
            if report.steps == max_steps:
                break
        else:
            stopped = False
        if bar is not None:
            bar.close()
        if stopped:
            break  # the step limit: an epoch cut short gets no end-of-epoch schedule step
        for runner in runners:
            runner.end_epoch()
        rel, _ = weight_rel_diff(twins[0].weights(), twins[1].weights())
        if log is not None:
            log(f"lockstep epoch {epoch + 1}: max loss diff {report.max_loss_diff:.2e}, "
                f"max relative weight diff {rel:.2e}")
    report.seconds = time.perf_counter() - start
    weights = [runner.weights() for runner in twins]
    report.max_weight_rel_diff, report.worst_tensor = weight_rel_diff(*weights)
    report.weight_norm_rel_diff = weight_norm_rel_diff(*weights)
    if nudged is not None:
        report.ulp_weight_rel_diff = weight_rel_diff(nudged.weights(), weights[0])[0]
    for runner in twins:
        report.test_accuracy[runner.impl] = evaluate(runner, data.x_test, data.y_test)[1]
    return report
