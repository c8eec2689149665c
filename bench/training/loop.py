"""The fit loop, shared by both twins: data in, batches, steps, evaluation, checkpoints.

Both twins see the same batches in the same order: epoch e shuffles with
`default_rng([seed, e])`, so separate runs (or a resumed run) agree without
passing a Generator around. Each epoch ends with a test-set evaluation and a
checkpoint, written atomically, and only from finite weights with a finite test
loss: a run that diverges (a non-finite step loss, weights or test loss) stops
with `TrainingDiverged` naming the epoch, step and learning rate and saying
which epoch the checkpoint on disk holds, or that none was written; the last
good checkpoint is never overwritten by a diverged one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import scratch
from bench.errors import UserError
from bench.experiments import Experiment
from bench.training.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from bench.training.history import EpochRecord, History


class TrainingDiverged(UserError, RuntimeError):
    """The loss or the weights became NaN or infinite."""


@dataclass
class Data:
    """Inputs as float arrays in the experiment's dtype and int64 labels."""

    x_train: np.ndarray  # (N, 784) or (N, 1, 28, 28), by the experiment's layout
    y_train: np.ndarray  # (N,)
    x_test: np.ndarray  # (M, 784) or (M, 1, 28, 28)
    y_test: np.ndarray  # (M,)

    def astype(self, dtype) -> Data:
        """The same data with the inputs cast to `dtype` (labels stay int64)."""
        return Data(self.x_train.astype(dtype), self.y_train, self.x_test.astype(dtype),
                    self.y_test)


def load_data(exp: Experiment, **fetch_options) -> Data:
    from bench.datasets import load_inputs

    opts = dict(layout=exp.layout, standardize=exp.standardize, **fetch_options)
    x_tr, y_tr = load_inputs(exp.dataset, "train", **opts)  # (N, 784) or (N, 1, 28, 28)
    x_te, y_te = load_inputs(exp.dataset, "test", **opts)
    if exp.train_subset is not None:
        x_tr, y_tr = x_tr[:exp.train_subset], y_tr[:exp.train_subset]
    dt = np.dtype(exp.dtype)
    return Data(x_tr.astype(dt, copy=False), y_tr, x_te.astype(dt, copy=False), y_te)


def batches(n: int, batch_size: int, seed: int, epoch: int):
    """Index arrays of one epoch's batches; batch_size 0 means one full batch."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    size = n if batch_size <= 0 else batch_size
    for start in range(0, n, size):
        yield order[start:start + size]


def evaluate(runner, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(mean cross-entropy, accuracy in percent) of the runner's model in eval mode."""
    with np.errstate(over="ignore", invalid="ignore"):  # a diverged model: fit reports it
        logits = runner.predict(x).astype(np.float64)
        loss = scratch.CrossEntropyLoss()(logits, y)
    return loss, 100.0 * float(np.mean(logits.argmax(axis=1) == y))


def check_finite(loss: float, epoch: int, step: int, runner) -> None:
    """Raise TrainingDiverged for a NaN or infinite loss; epoch and step count from 1."""
    if not math.isfinite(loss):
        raise TrainingDiverged(
            f"{runner.impl}: loss became {loss} at epoch {epoch}, step {step} "
            f"(learning rate {runner.lr():g})")


def _non_finite_weights(runner) -> list[str]:
    return [k for k, w in runner.weights().items()
            if np.issubdtype(w.dtype, np.floating) and not np.isfinite(w).all()]


def _kept(checkpoint: Path | None, saved_epoch: int | None) -> str:
    """What the checkpoint on disk holds after a diverged run, for its message."""
    if checkpoint is None:
        return "no checkpoint was asked for"
    if saved_epoch is not None:
        return f"the checkpoint {checkpoint} holds epoch {saved_epoch}, the last finite one"
    if checkpoint.exists():
        try:
            held = f", holding epoch {read_checkpoint(checkpoint)[1]['epoch']}"
        except CheckpointError:
            held = ""
        return f"no epoch of this run was saved; {checkpoint} is left as it was{held}"
    return f"no checkpoint was written ({checkpoint} does not exist)"


def train_epoch(runner, data: Data, epoch: int, progress=None) -> tuple[float, float]:
    """One pass over the training set; returns (mean step loss, seconds spent stepping)."""
    exp = runner.exp
    runner.begin_epoch(epoch)
    total_loss, seen, seconds, correct = 0.0, 0, 0.0, 0
    for step, idx in enumerate(batches(len(data.y_train), exp.batch_size, exp.seed, epoch)):
        x, y = data.x_train[idx], data.y_train[idx]
        start = time.perf_counter()
        loss = runner.train_step(x, y)
        seconds += time.perf_counter() - start
        check_finite(loss, epoch + 1, step + 1, runner)
        total_loss += loss * len(idx)
        seen += len(idx)
        correct += getattr(runner, "last_correct", 0)
        if progress is not None:
            progress.update(len(idx))
            progress.set_postfix(loss=f"{loss:.4f}", acc=f"{100 * correct / seen:.2f}%",
                                 samples_s=f"{seen / max(seconds, 1e-9):.0f}")
    return total_loss / seen, seconds


def checked_epoch(runner, run_epoch, *, samples: int, epoch: int, lr: float,
                  checkpoint: Path | None, saved_epoch: int | None, show_progress: bool):
    """`run_epoch(bar)`, one training epoch of `runner` under a progress bar over `samples`,
    and its result; a divergence inside it, or weights that came out non-finite, raise
    `TrainingDiverged` saying which checkpoint is on disk (`fit` and `fit_generative`)."""
    exp = runner.exp
    bar = progress_bar(samples, f"{runner.impl} epoch {epoch + 1}/{exp.epochs}", show_progress)
    try:
        result = run_epoch(bar)
    except TrainingDiverged as err:
        raise TrainingDiverged(f"{err}; {_kept(checkpoint, saved_epoch)}") from None
    finally:
        if bar is not None:
            bar.close()
    bad = _non_finite_weights(runner)
    if bad:
        raise TrainingDiverged(
            f"{runner.impl}: weights {', '.join(bad)} became non-finite after epoch "
            f"{epoch + 1} (learning rate {lr:g}); {_kept(checkpoint, saved_epoch)}")
    return result


def fit(runner, data: Data, *, start_epoch: int = 0, history: History | None = None,
        checkpoint: Path | None = None, show_progress: bool = True, log=print,
        stop_at: float | None = None) -> History:
    """Train `runner` for the experiment's epochs, evaluating and checkpointing each epoch.

    With `stop_at`, training ends after the first epoch whose test accuracy reaches it
    (time-to-accuracy runs).
    """
    exp = runner.exp
    history = history or History(exp.to_dict(), runner.impl)
    sample = slice(0, min(10_000, len(data.y_train)))  # train accuracy on a fixed sample
    saved_epoch = None
    for epoch in range(start_epoch, exp.epochs):
        lr = runner.lr()
        loss, seconds = checked_epoch(
            runner, lambda bar, e=epoch: train_epoch(runner, data, e, bar),
            samples=len(data.y_train), epoch=epoch, lr=lr, checkpoint=checkpoint,
            saved_epoch=saved_epoch, show_progress=show_progress)
        _, train_acc = evaluate(runner, data.x_train[sample], data.y_train[sample])
        start = time.perf_counter()  # the test evaluation is what decides time to accuracy
        test_loss, test_acc = evaluate(runner, data.x_test, data.y_test)
        eval_seconds = time.perf_counter() - start
        if not math.isfinite(test_loss):
            raise TrainingDiverged(
                f"{runner.impl}: test loss became {test_loss} after epoch {epoch + 1} "
                f"(learning rate {lr:g}); {_kept(checkpoint, saved_epoch)}")
        runner.end_epoch()
        record = EpochRecord(epoch + 1, loss, train_acc, test_loss, test_acc, seconds,
                             len(data.y_train) / seconds, lr, eval_seconds)
        history.epochs.append(record)
        if log is not None:
            log(f"{runner.impl} epoch {record.epoch}: loss {loss:.4f}, train {train_acc:.2f}%, "
                f"test {test_acc:.2f}%, {seconds:.1f}s, lr {lr:.4g}")
        if checkpoint is not None:
            save_checkpoint(checkpoint, runner, history)
            saved_epoch = record.epoch
        if stop_at is not None and test_acc >= stop_at:
            break
    return history


def progress_bar(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img", leave=False, dynamic_ncols=True)
