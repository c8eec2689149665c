"""Checkpoints: weights, optimizer and schedule state and the history in one atomic .npz.

A checkpoint written after epoch e resumes at epoch e with the same weights,
optimizer moments and learning rate, on either twin.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

import scratch
from bench.experiments import Experiment
from bench.results.atomic import apply_file_mode
from bench.training.history import History
from bench.training.runners import load_scheduler_state, make_runner, scheduler_state_json


def save_checkpoint(path: Path, runner, history: History) -> None:
    """Weights, optimizer and schedule state and the history, in one atomic .npz."""
    opt = runner.optimizer_state()
    arrays = {str(i): {k: np.asarray(v) for k, v in s.items()}
              for i, s in opt["state"].items() if s}
    groups = [{k: v for k, v in g.items()} for g in opt["param_groups"]]
    ckpt = {
        "model": runner.weights(),
        "meta": json.dumps({"impl": runner.impl, "epoch": len(history.epochs),
                            "param_groups": groups,
                            "scheduler": scheduler_state_json(runner)}),
        "history": history.to_json(),
    }
    if arrays:
        ckpt["optimizer_state"] = arrays
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    scratch.save(ckpt, path)
    apply_file_mode(path)  # scratch.save keeps mkstemp's 0600; histories follow the umask


def read_checkpoint(path: Path) -> tuple[dict, dict, History]:
    """(weights, meta, history) of a checkpoint written by `save_checkpoint`."""
    ckpt = scratch.load(path)
    for key in ("model", "meta", "history"):
        if key not in ckpt:
            raise ValueError(f"{path} is a scratch checkpoint but not a training checkpoint: "
                             f"no {key!r} entry (found {sorted(ckpt)})")
    meta = json.loads(str(ckpt["meta"]))
    meta["optimizer_state"] = ckpt.get("optimizer_state", {})
    return ckpt["model"], meta, History.from_json(str(ckpt["history"]))


def resume(path: Path, exp: Experiment, **runner_kwargs):
    """A runner restored from `path`, the epoch to continue from, and the history so far."""
    weights, meta, history = read_checkpoint(path)
    runner = make_runner(meta["impl"], exp, **runner_kwargs)
    runner.load_weights(weights)
    runner.load_optimizer_state({"state": meta["optimizer_state"],
                                 "param_groups": meta["param_groups"]})
    load_scheduler_state(runner, meta["scheduler"])
    return runner, int(meta["epoch"]), history
