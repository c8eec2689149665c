"""Lockstep for the generative experiments: both twins step on the same batches and noise.

As `lockstep.run_lockstep` does for the classifiers (which hands generative
experiments here): from the same initial weights, with the same batches and the
same eps (VAE) or latent vectors (GAN), any gap between the twins is rounding
compounding through training. A GAN is chaotic, so a gap grows by itself however
small it starts; the yardstick is a third run, scratch against itself with every
weight one ulp off (`lockstep.nudge_one_ulp`): where the twins' loss difference leaves
rounding level no sooner than the self-comparison's does, the twins are as close
as the arithmetic lets any two runs be.

The report (`GenerativeLockstepReport`) is a `LockstepReport` with the test losses
in place of accuracies, the self-comparison's per-step loss differences and final
weight difference, and the largest relative weight difference every
`WEIGHT_EVERY` steps, for both pairs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from bench.compare.lockstep import (
    LockstepReport,
    nudge_one_ulp,
    weight_norm_rel_diff,
    weight_rel_diff,
)
from bench.experiments import Experiment, build_model
from bench.training import Data, batches, check_finite, progress_bar
from bench.training.generative import evaluate_generative, generative_runner

WEIGHT_EVERY = 25  # steps between two weight comparisons
GAN_STEPS = 500  # a GAN's lockstep: its first steps (issue 31), unless told otherwise


@dataclass
class GenerativeLockstepReport(LockstepReport):
    test_loss: dict[str, float] = field(default_factory=dict)  # per twin, after the last step
    ulp_loss_diffs: list[float] = field(default_factory=list)  # scratch vs scratch one ulp off
    ulp_weight_rel_diff: float = 0.0
    weight_diffs: list[list[float]] = field(default_factory=list)  # [step, twins, one ulp]

    def to_json(self) -> str:
        """As a classifier's report, without the accuracies a generative model has none of."""
        record = json.loads(super().to_json())
        del record["test_accuracy"]
        return json.dumps(record, indent=1)


def _loss(out) -> float:
    """A step's loss: the VAE's, or the sum of the GAN's two (either one drifting shows)."""
    return float(sum(out)) if isinstance(out, tuple) else float(out)


def run_generative_lockstep(exp: Experiment, data: Data, *, steps: int | None = None,
                            ulp: bool = True, show_progress: bool = True,
                            log=print) -> GenerativeLockstepReport:
    """Step both twins (and, with `ulp`, scratch one ulp off) for the experiment's epochs, or
    its first `steps` steps (default: a VAE's every epoch, a GAN's first `GAN_STEPS`); the
    report of the whole run."""
    model = build_model(exp, np.random.default_rng(exp.seed))
    runners = [generative_runner("scratch", exp, model),
               generative_runner("torch", exp, model, shared_dropout=True)]
    if ulp:
        runners.append(generative_runner("scratch", exp,
                                         build_model(exp, np.random.default_rng(exp.seed))))
        nudge_one_ulp(runners[2].model)
    per_epoch = len(range(0, len(data.x_train), exp.batch_size or len(data.x_train)))
    total = exp.epochs * per_epoch  # the data's own batches, as `batches` cuts them
    limit = steps or (GAN_STEPS if exp.objective == "gan" else None)
    report = GenerativeLockstepReport(exp.name, exp.dtype,
                                      max_steps=limit if limit and limit < total else None)
    total = min(total, limit or total)
    bar = progress_bar(total, "lockstep steps", show_progress)
    for epoch in range(exp.epochs):
        for runner in runners:
            runner.begin_epoch(epoch)
        for step, idx in enumerate(batches(len(data.x_train), exp.batch_size, exp.seed, epoch)):
            if report.steps == total:
                break
            x = data.x_train[idx]
            losses = [_loss(runner.train_step(x)) for runner in runners]
            for runner, loss in zip(runners, losses):
                check_finite(loss, epoch + 1, step + 1, runner)
            report.loss_diffs.append(abs(losses[0] - losses[1]))
            if ulp:
                report.ulp_loss_diffs.append(abs(losses[0] - losses[2]))
            report.steps += 1
            if report.steps % WEIGHT_EVERY == 0 or report.steps == total:
                report.weight_diffs.append(_weight_diffs(report.steps, runners))
            if bar is not None:
                bar.update()
                bar.set_postfix(loss_diff=f"{report.loss_diffs[-1]:.1e}")
        for runner in runners:
            runner.end_epoch()
        if report.steps == total:
            break
    if bar is not None:
        bar.close()
    weights = [runner.weights() for runner in runners]
    report.max_weight_rel_diff, report.worst_tensor = weight_rel_diff(weights[0], weights[1])
    report.weight_norm_rel_diff = weight_norm_rel_diff(weights[0], weights[1])
    if ulp:
        report.ulp_weight_rel_diff = weight_rel_diff(weights[0], weights[2])[0]
        report.ulp_max_loss_diff = max(report.ulp_loss_diffs)
    for runner in runners[:2]:
        report.test_loss[runner.impl] = evaluate_generative(runner, data.x_test)["test_loss"]
    if log is not None:
        log(f"lockstep {exp.name} {exp.dtype}, {report.steps} steps: max loss diff "
            f"{report.max_loss_diff:.2e}, max relative weight diff "
            f"{report.max_weight_rel_diff:.2e} ({report.worst_tensor})"
            + (f"; one ulp off: {report.ulp_weight_rel_diff:.2e}" if ulp else ""))
    return report


def _weight_diffs(step: int, runners) -> list[float]:
    weights = [runner.weights() for runner in runners]
    row = [float(step), weight_rel_diff(weights[0], weights[1])[0]]
    return row + ([weight_rel_diff(weights[0], weights[2])[0]] if len(weights) > 2 else [])


def drift_start(diffs, threshold: float) -> int | None:
    """The first step (from 1) whose loss difference exceeds `threshold`, or None."""
    above = np.flatnonzero(np.asarray(diffs, dtype=float) > threshold)
    return int(above[0]) + 1 if len(above) else None
