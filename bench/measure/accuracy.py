"""Accuracy: train an experiment with both twins and record what each reaches.

Each experiment is trained once per twin from the same initial weights and
batch order (the torch twin with its own nn.Dropout, as a torch user would
run it), and optionally in lockstep; every run appends a record to
results/records/ with the machine it ran on.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np

from bench.compare import run_lockstep
from bench.experiments import Experiment
from bench.measure.learned import learned
from bench.training import fit, load_data, make_runner


def run_accuracy(exp: Experiment, data=None, *, show_progress: bool = True, log=print,
                 keep_scratch: Path | None = None) -> dict:
    """Train both twins on `data` (default: the experiment's data set); the record's
    payload. `keep_scratch`: save the trained scratch twin there, as a checkpoint of
    `twinbench train` (the full run's judge of generated digits)."""
    from bench.training.checkpoint import save_checkpoint

    data = data if data is not None else load_data(exp)
    result = {"experiment": exp.to_dict(), "histories": {}, "final_test_accuracy": {},
              "seconds_per_epoch": {}, "confusion": {}, "learned": {}}
    for impl in ("scratch", "torch"):
        runner = make_runner(impl, exp)
        history = fit(runner, data, show_progress=show_progress, log=log)
        result["histories"][impl] = [vars(e) for e in history.epochs]
        result["final_test_accuracy"][impl] = history.final_test_accuracy
        result["seconds_per_epoch"][impl] = statistics.median(e.seconds for e in history.epochs)
        result["confusion"][impl] = confusion_matrix(runner, data).tolist()
        result["learned"][impl] = learned(runner, data.x_test, data.y_test)
        if impl == "scratch" and keep_scratch is not None:
            save_checkpoint(keep_scratch, runner, history)
    return result


def confusion_matrix(runner, data) -> np.ndarray:
    """(10, 10) counts on the test set; rows are true classes, columns predictions."""
    pred = runner.predict(data.x_test).argmax(axis=1)
    counts = np.zeros((10, 10), dtype=np.int64)
    np.add.at(counts, (data.y_test, pred), 1)
    return counts


def run_lockstep_record(exp: Experiment, data=None, *, show_progress: bool = True,
                        log=print, max_steps: int | None = None) -> dict:
    """Both twins in lockstep (over the first `max_steps` steps, if given; a generative
    experiment by `lockstep_generative`); the record's payload."""
    data = data if data is not None else load_data(exp)
    report = run_lockstep(exp, data, show_progress=show_progress, log=log, max_steps=max_steps)
    return {**json.loads(report.to_json()), "experiment": exp.to_dict()}
