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


# A .safetensors weights file names its experiment in the header's string metadata,
# which safetensors.torch.load_file leaves out: torch's load_state_dict never sees it.
EXPERIMENT_KEY = "twinbench.experiment"
TRAINING_KEYS = ("model", "meta", "history")


def read_weights_file(path: Path, experiment: str | None = None, *, required: bool = True
                      ) -> tuple[Experiment | None, dict[str, np.ndarray]]:
    """(experiment, model weights) of a training checkpoint or a weights file of any format.

    A training checkpoint names its experiment; so does a .safetensors file written by
    `write_weights_file`. For any other weights file (a torch `.pt` state_dict, an `.npz`
    state dict) `experiment` names the registry entry whose model the weights are for;
    given together with a checkpoint that names its own, `experiment` wins. With
    required=False a file naming none gives (None, weights) instead of an error.
    """
    from bench.experiments import get_experiment
    from reference import formats

    data = formats.load(path)
    own = None
    if all(k in data for k in TRAINING_KEYS):
        weights = data["model"]
        own = Experiment(**History.from_json(str(data["history"])).experiment)
    else:
        weights = dict(data)
        text = weights.pop(EXPERIMENT_KEY, None)
        if text is not None:
            own = Experiment(**json.loads(str(text)))
    if experiment is not None:
        return get_experiment(experiment), weights
    if own is None and required:
        raise ValueError(f"{path} holds weights only and does not say which experiment they "
                         "belong to; name it with --experiment (e.g. ci-mlp, cnn)")
    return own, weights


def write_weights_file(path: Path, weights: dict[str, np.ndarray], exp: Experiment | None
                       ) -> None:
    """Model weights as a state dict in the format `path`'s suffix names (.npz, .safetensors,
    .pt), atomically; a .safetensors file also records `exp` in its metadata."""
    from reference import formats

    formats.check_suffix(path)
    state = dict(weights)
    if exp is not None and str(path).lower().endswith(".safetensors"):
        state[EXPERIMENT_KEY] = json.dumps(exp.to_dict())
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    formats.save(state, path)
