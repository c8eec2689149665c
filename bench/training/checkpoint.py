"""Checkpoints: weights, optimizer and schedule state and the history in one atomic .npz.

A checkpoint written after epoch e resumes at epoch e with the same weights,
optimizer moments, step counts and learning rate, on either twin, so that the
resumed run is bit for bit the uninterrupted one. Arrays go into the .npz;
Python numbers of the optimizer state (scratch's step counts) go into the JSON
metadata, so that they come back as the same Python int or float, not as
0-d arrays that would turn later arithmetic into float64.

A file that is not a training checkpoint, or whose recorded experiment is not
the one asked for, raises `CheckpointError` naming the file and what differs.
Which checkpoint may continue which run (`resume_experiment`: the same experiment
and twin, its seed and dtype, more epochs only where the schedule allows) is
decided here too, before any data loads; a refusal is a `ResumeRefused`.
`outputs` names the files a training run writes.
Stale temporary files a killed writer left in the checkpoint's directory (the
checkpoint's own, the history's beside it: every `.*.part` of the one atomic
writer, older than an hour) are removed when the next checkpoint is written.
"""

from __future__ import annotations

import json
import numbers
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

import scratch
from bench.errors import FileFormatError, UserError, WriteError, free_bytes
from bench.experiments import Experiment, recorded_experiment
from bench.experiments.registry import DESCRIPTIVE
from bench.training.history import History
from bench.training.runners import load_scheduler_state, make_runner, scheduler_state_json
from scratch.atomic import sweep_stale_parts

IMPLS = ("scratch", "torch", "torch-cuda")
TRAIN_IMPLS = ("scratch", "torch")  # the twins `twinbench train --impl` runs
TRAINING_KEYS = ("model", "meta", "history")  # the entries of a training checkpoint


class CheckpointError(FileFormatError):
    """A file is not a training checkpoint, or not one of the run asked for."""


class OverwriteRefused(UserError):
    """Writing a weights file would destroy what the user likely wants: its own input, or a
    training checkpoint's history and optimizer state (unless forced)."""


class ResumeRefused(UserError):
    """A checkpoint cannot continue the run asked for, as the options were given: the
    message names `twinbench train`'s options and says which to pass instead."""


class TrainingOutputs(NamedTuple):
    """The files one training run writes into its output directory."""

    checkpoint: Path  # <experiment>-seed<seed>-<dtype>-<impl>.npz, rewritten every epoch
    history: Path  # <experiment>-seed<seed>-<dtype>-<impl>.json, the epochs, when the run ends
    lockstep: Path  # <experiment>-seed<seed>-<dtype>-lockstep.json, a lockstep run's report


def outputs(out: Path, exp: Experiment, impl: str, seed: int) -> TrainingOutputs:
    """The paths a run of `exp` with twin `impl` and seed `seed` (the run's, `exp.seed`)
    writes under directory `out` (a lockstep run, which trains both twins, writes only
    `lockstep`: pass impl "both").

    The names carry everything a run's options vary but the epochs: experiment, seed,
    dtype and twin, so that runs of other seeds or dtypes into the same directory, one
    after the other or at once, keep their own files. A later run with the same ones
    replaces the earlier one's files, as `--resume` continuing a checkpoint does on purpose.
    """
    stem = Path(out) / f"{exp.name}-seed{seed}-{exp.dtype}"
    return TrainingOutputs(checkpoint=Path(f"{stem}-{impl}.npz"),
                           history=Path(f"{stem}-{impl}.json"),
                           lockstep=Path(f"{stem}-lockstep.json"))


# Room a checkpoint's JSON entries (meta, history) take beside its arrays, at most.
_JSON_ROOM = 2**20


def checkpoint_bytes(exp: Experiment) -> int:
    """The most bytes a checkpoint of `exp` (and its history) takes: the weights, and the
    optimizer's buffers a step makes (one to three per parameter), and room for its JSON."""
    state = _stepped_state(exp, "scratch")
    buffers = sum(np.asarray(v).nbytes for s in state.values() for v in s.values())
    weights = sum(v.nbytes for v in make_runner("scratch", exp).weights().values())
    return weights + buffers + _JSON_ROOM


def require_space(directory: Path, needed: int) -> None:
    """Refuse, before a long run, to start one whose files `directory` has no room for."""
    free = free_bytes(directory)
    if free is not None and free < needed:
        raise WriteError(f"cannot write the checkpoints to {directory}: they need about "
                         f"{needed / 2**20:.1f} MiB, and {free / 2**20:.1f} MiB are free there. "
                         "Free some space, or pass --out elsewhere")


def save_checkpoint(path: Path, runner, history: History) -> None:
    """Weights, optimizer and schedule state and the history, in one atomic .npz."""
    opt = runner.optimizer_state()
    arrays: dict[str, dict] = {}
    scalars: dict[str, dict] = {}
    for i, s in opt["state"].items():
        for k, v in s.items():
            if isinstance(v, numbers.Number) and not isinstance(v, np.generic):
                scalars.setdefault(str(i), {})[k] = v
            else:
                arrays.setdefault(str(i), {})[k] = np.asarray(v)
    groups = [{k: v for k, v in g.items()} for g in opt["param_groups"]]
    ckpt = {
        "model": runner.weights(),
        "meta": json.dumps({"impl": runner.impl, "epoch": len(history.epochs),
                            "param_groups": groups, "scalar_state": scalars,
                            "scheduler": scheduler_state_json(runner)}),
        "history": history.to_json(),
    }
    if arrays:
        ckpt["optimizer_state"] = arrays
    directory = Path(os.path.dirname(os.path.abspath(path)))
    os.makedirs(directory, exist_ok=True)
    sweep_stale_parts(directory)
    scratch.save(ckpt, path)  # with the umask's mode, as every file twinbench writes


def read_checkpoint(path: Path) -> tuple[dict, dict, History]:
    """(weights, meta, history) of a checkpoint written by `save_checkpoint`.

    meta["optimizer_state"] holds the optimizer's per-parameter state, arrays and Python
    numbers as they were saved. Raises CheckpointError naming the file and the problem.
    Only the file's layout is checked here; `check_contents` checks what it holds.
    """
    try:
        ckpt = scratch.load(path)
    except ValueError as err:
        raise CheckpointError(str(err)) from err
    return _parse(path, ckpt)


def _parse(path: Path, ckpt: dict) -> tuple[dict, dict, History]:
    for key in TRAINING_KEYS:
        if key not in ckpt:
            raise CheckpointError(f"{path} is a scratch checkpoint but not a training "
                                  f"checkpoint: no {key!r} entry (found {sorted(ckpt)})")
    try:
        meta = json.loads(str(ckpt["meta"]))
        history = History.from_json(str(ckpt["history"]))
        if not isinstance(meta, dict) or meta.get("impl") not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}")
        if type(meta.get("epoch")) is not int or meta["epoch"] != len(history.epochs):
            raise ValueError(f"epoch {meta.get('epoch')!r} does not match the "
                             f"{len(history.epochs)} epochs of its history")
        state = ckpt.get("optimizer_state", {})
        scalars = meta.get("scalar_state", {})
        if not isinstance(state, dict) or not isinstance(scalars, dict):
            raise ValueError("optimizer_state and scalar_state must be groups by parameter")
        for i, numbers_ in scalars.items():
            if not isinstance(numbers_, dict) or not isinstance(state.setdefault(i, {}), dict):
                raise ValueError(f"the optimizer state of parameter {i} must be a group")
            state[i].update(numbers_)
        if not isinstance(ckpt["model"], dict):
            raise ValueError("model must be a group of arrays")
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise CheckpointError(f"{path} is not a valid training checkpoint: "
                              f"{type(err).__name__}: {err}") from err
    meta["optimizer_state"] = state
    return ckpt["model"], meta, history


def load_checkpoint(path: Path, *, runnable: bool = True
                    ) -> tuple[Experiment, dict, dict, History]:
    """(experiment, weights, meta, history) of the training checkpoint at `path`, all of it
    checked before anything is built or any data loads: the recorded experiment against
    the registry, then `check_contents` (with `runnable`, also that this machine can run
    its twin). Raises CheckpointError naming the file and the part that is wrong."""
    weights, meta, history = read_checkpoint(path)
    exp = checkpoint_experiment(path, history)
    check_contents(path, exp, weights, meta, runnable=runnable)
    return exp, weights, meta, history


def check_contents(path: Path, exp: Experiment, weights: dict, meta: dict, *,
                   runnable: bool = True) -> None:
    """Check what a checkpoint of `exp` holds against what a fresh run of `exp` would:

    - weights: the model's keys, shapes and dtypes, every value finite;
    - optimizer: its param groups (as many, the same parameters and hyper-parameters, each
      number finite; the learning rate within [0, the largest the recipe reaches], momenta
      and betas within [0, 1]), and per-parameter state with the buffers a step makes, of
      their shapes and dtypes, finite, step counts non-negative;
    - scheduler: JSON of the fresh scheduler's structure (the same fields, of the same
      types, numbers finite), or null when the experiment has none;
    - with `runnable`, a twin this machine can run (torch-cuda needs CUDA).

    Raises CheckpointError naming the file, the part and what was expected and found.
    """
    impl = meta["impl"]
    if runnable and impl == "torch-cuda":
        import torch

        if not torch.cuda.is_available():
            raise CheckpointError(f"{path}: impl is torch-cuda, but this machine's torch has "
                                  "no CUDA device; run it where CUDA is")
    fresh = make_runner("torch" if impl == "torch-cuda" else impl, exp)
    try:
        _check_weights(weights, fresh.weights())
    except ValueError as err:
        raise CheckpointError(f"{path}: weights do not fit experiment {exp.name!r}: {err}"
                              ) from None
    try:
        _check_optimizer(meta, fresh)
    except (ValueError, TypeError, KeyError) as err:
        raise CheckpointError(f"{path}: optimizer state: {err}") from None
    try:
        _check_like(json.loads(meta["scheduler"]), json.loads(scheduler_state_json(fresh)),
                    "")
    except (ValueError, TypeError, KeyError) as err:  # JSONDecodeError is a ValueError
        raise CheckpointError(f"{path}: scheduler state: {err}") from None


def _check_weights(given: dict, own: dict[str, np.ndarray]) -> None:
    if not all(isinstance(v, np.ndarray) for v in given.values()):
        raise ValueError("expected arrays, found a group of arrays")
    scratch.check_state_keys({k: v.shape for k, v in own.items()},
                             {k: v.shape for k, v in given.items()}, "the model")
    for k, v in own.items():
        if given[k].dtype != v.dtype:
            raise ValueError(f"{k} is {given[k].dtype}, expected {v.dtype}")
        if v.dtype.kind == "f" and not np.isfinite(given[k]).all():
            raise ValueError(f"{k} holds non-finite values")


# Hyper-parameters a schedule moves during a run; the others stay as the recipe set them.
_MOVING = ("lr", "momentum", "betas")


def _check_optimizer(meta: dict, fresh) -> None:
    own = fresh.optimizer_state()["param_groups"]
    groups = meta.get("param_groups")
    if not isinstance(groups, list) or len(groups) != len(own):
        raise ValueError(f"expected {len(own)} param group(s), found {groups!r:.80}")
    for g, (group, mine) in enumerate(zip(groups, own)):
        if not isinstance(group, dict) or set(group) != set(mine):
            found = sorted(group) if isinstance(group, dict) else group
            raise ValueError(f"param group {g}: expected the fields {sorted(mine)}, found "
                             f"{found!r:.200}")
        for key, want in mine.items():
            _check_like(group[key], _plain(want), f"param group {g}: {key}")
            if key not in _MOVING and group[key] != _plain(want):
                raise ValueError(f"param group {g}: {key} is {group[key]!r:.40}, but the "
                                 f"experiment's recipe sets {want!r:.40}")
        top = max(float(v) for k, v in mine.items() if k in ("lr", "initial_lr", "max_lr"))
        if not 0 <= group["lr"] <= top * (1 + 1e-9):
            raise ValueError(f"param group {g}: lr is {group['lr']!r:.40}, outside [0, {top}], "
                             "the range the experiment's schedule moves it in")
        for key in ("momentum", "betas"):
            values = group.get(key, [])
            if any(not 0 <= v <= 1 for v in (values if isinstance(values, list) else [values])):
                raise ValueError(f"param group {g}: {key} is {values!r:.40}, outside [0, 1]")
    expected = _stepped_state(fresh.exp, fresh.impl)
    for i, buffers in meta["optimizer_state"].items():
        if i not in expected:
            raise ValueError(f"state for parameter {i!r:.40}, which no param group lists")
        if set(buffers) != set(expected[i]):
            raise ValueError(f"parameter {i}: expected the buffers {sorted(expected[i])}, "
                             f"found {sorted(buffers)}")
        for key, want in expected[i].items():
            arr, want = np.asarray(buffers[key]), np.asarray(want)
            if arr.dtype.kind not in "biuf" or not np.isfinite(arr).all():
                raise ValueError(f"parameter {i}: {key} must hold finite numbers, found "
                                 f"{arr.dtype} of shape {arr.shape}")
            if want.ndim == 0:  # a step count
                if arr.ndim != 0 or arr < 0:
                    raise ValueError(f"parameter {i}: {key} is {arr.dtype} of shape "
                                     f"{arr.shape}, expected a count >= 0")
            elif arr.shape != want.shape or arr.dtype != want.dtype:
                raise ValueError(f"parameter {i}: {key} is {arr.dtype} of shape {arr.shape}, "
                                 f"expected {want.dtype} of shape {want.shape}, the "
                                 "parameter's")


def _stepped_state(exp: Experiment, impl: str) -> dict[str, dict]:
    """The per-parameter optimizer state a run of `exp` holds after a step, by parameter
    index: what each saved parameter's state must look like (its buffers, their shapes
    and dtypes). Found by one optimizer step of a fresh runner on zero gradients (no
    training step: the model never runs)."""
    import torch

    runner = make_runner(impl, exp)
    for group in runner.optimizer.param_groups:
        for p in group["params"]:
            p.grad = torch.zeros_like(p) if torch.is_tensor(p) else np.zeros_like(p.data)
    runner.optimizer.step()
    return {str(i): s for i, s in runner.optimizer_state()["state"].items()}


def _check_like(value, want, where: str) -> None:
    """`value` (read from JSON) has the structure of `want`: the same kinds (numbers
    finite; a null stands for any), lists as long, objects with the same fields."""
    at = f"{where}: " if where else ""
    if want is None:
        return
    if isinstance(want, bool) or isinstance(want, str):
        if type(value) is not type(want):
            raise TypeError(f"{at}expected a {type(want).__name__}, found {value!r:.40}")
    elif isinstance(want, numbers.Real):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{at}expected a number, found {value!r:.40}")
        if not np.isfinite(value):
            raise ValueError(f"{at}expected a finite number, found {value!r}")
    elif isinstance(want, list):
        if not isinstance(value, list) or len(value) != len(want):
            raise TypeError(f"{at}expected a list of {len(want)}, found {value!r:.60}")
        for n, (v, w) in enumerate(zip(value, want)):
            _check_like(v, w, f"{where}[{n}]")
    elif isinstance(want, dict):
        if not isinstance(value, dict) or set(value) != set(want):
            found = sorted(value) if isinstance(value, dict) else value
            raise TypeError(f"{at}expected the fields {sorted(want)}, found {found!r:.200}")
        for k, w in want.items():
            _check_like(value[k], w, f"{where}.{k}" if where else k)


def checkpoint_experiment(path: Path, history: History) -> Experiment:
    """The registry's experiment that the checkpoint at `path` was trained as (its epochs,
    seed and dtype), checked against the registry before anything is built."""
    try:
        return recorded_experiment(history.experiment)
    except ValueError as err:
        raise CheckpointError(f"{path}: {err}") from err


def _plain(value):
    return json.loads(json.dumps(value))


def resume(path: Path, exp: Experiment, **runner_kwargs):
    """A runner restored from `path`, the epoch to continue from, and the history so far.

    `exp` must be the checkpoint's own experiment but for the number of epochs (and a
    schedule that follows them must not change); anything else raises CheckpointError.
    """
    weights, meta, history = read_checkpoint(path)
    recorded, mine = history.experiment, _plain(exp.to_dict())
    differ = [f"{k} is {recorded.get(k)!r:.80} in the checkpoint, {v!r:.80} here"
              for k, v in mine.items()
              if k not in ("epochs", *DESCRIPTIVE) and _plain(recorded.get(k)) != v]
    if differ:
        raise CheckpointError(f"{path} cannot continue this run of {exp.name!r}: "
                              + "; ".join(differ))
    check_contents(path, exp, weights, meta)
    runner = make_runner(meta["impl"], exp, **runner_kwargs)
    runner.load_weights(weights)
    runner.load_optimizer_state({"state": meta["optimizer_state"],
                                 "param_groups": meta["param_groups"]})
    load_scheduler_state(runner, meta["scheduler"])
    return runner, int(meta["epoch"]), history


def resume_experiment(path: Path, name: str, impl: str, *, epochs: int | None = None,
                      seed: int | None = None, dtype: str | None = None) -> Experiment:
    """The experiment that continuing checkpoint `path` trains, for a run asked for as
    experiment `name` with twin `impl` (and, when not None, `epochs`, `seed`, `dtype`).

    The run keeps the checkpoint's experiment, twin, seed and dtype: a `seed` or `dtype`
    that differs is refused, not ignored. `epochs` may extend the run unless its schedule
    spans the epochs (a cosine schedule's T_max = epochs), and must exceed the epochs
    already trained. A refusal raises `ResumeRefused`; a file that is not a checkpoint,
    or whose record is not the registry's experiment, `CheckpointError`. Reads the
    checkpoint's record only: nothing is built and no data loads.
    """
    path = Path(path)
    if not path.is_file():
        raise ResumeRefused(f"--resume {path}: no such checkpoint file")
    _, meta, history = read_checkpoint(path)
    if meta["impl"] != impl:
        advice = (f"pass --impl {meta['impl']}" if meta["impl"] in TRAIN_IMPLS else
                  f"`twinbench train` runs only {' and '.join(TRAIN_IMPLS)}")
        raise ResumeRefused(f"--resume {path} holds a {meta['impl']} run, not {impl}: {advice}")
    recorded = history.experiment.get("name")
    if recorded != name:
        raise ResumeRefused(f"--resume {path} is a checkpoint of {recorded!r}, not {name!r}: "
                            f"pass {recorded!r}, or start {name!r} afresh without --resume")
    exp, _, _, _ = load_checkpoint(path)
    for option, value in (("seed", seed), ("dtype", dtype)):
        if value is not None and value != getattr(exp, option):
            raise ResumeRefused(f"--resume {path} was trained with --{option} "
                                f"{getattr(exp, option)}, not {value}: a resumed run keeps its "
                                f"{option} (leave --{option} out)")
    if epochs is not None and epochs != exp.epochs:
        longer = exp.with_overrides(epochs=epochs)
        if longer.schedule_args != exp.schedule_args:
            raise ResumeRefused(f"--resume {path}: its {exp.schedule} schedule spans the run's "
                                f"{exp.epochs} epochs ({exp.schedule_args}), so the run cannot "
                                f"change to --epochs {epochs}; leave --epochs out, or start "
                                "afresh")
        exp = longer
    if int(meta["epoch"]) >= exp.epochs:
        raise ResumeRefused(f"--resume {path} has already trained {meta['epoch']} of "
                            f"{exp.epochs} epochs: pass --epochs above {meta['epoch']} to "
                            "continue")
    return exp


# A .safetensors weights file names its experiment in the header's string metadata,
# which safetensors.torch.load_file leaves out: torch's load_state_dict never sees it.
EXPERIMENT_KEY = "twinbench.experiment"


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

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; expected a training checkpoint or a "
                                f"weights file ({', '.join(formats.SUFFIXES)})")
    data = formats.load(path)
    own = None
    # The recorded experiment goes through the registry, as `eval` and `--resume` take it:
    # the model is built from the registry's recipe, never from the file's own strings;
    # and the whole checkpoint is checked, as theirs is.
    if all(k in data for k in TRAINING_KEYS):
        weights, meta, history = _parse(path, data)
        own = checkpoint_experiment(path, history)
        check_contents(path, own, weights, meta, runnable=False)
    else:
        weights = dict(data)
        text = weights.pop(EXPERIMENT_KEY, None)
        if text is not None:
            own = recorded_experiment(json.loads(str(text)))
    if experiment is not None:
        return get_experiment(experiment), weights
    if own is None and required:
        raise ValueError(f"{path} holds weights only and does not say which experiment they "
                         "belong to; name it with --experiment (e.g. ci-mlp, cnn)")
    return own, weights


def write_weights_file(path: Path, weights: dict[str, np.ndarray], exp: Experiment | None,
                       *, source: Path | None = None, force: bool = False) -> None:
    """Model weights as a state dict in the format `path`'s suffix names (.npz, .safetensors,
    .pt), atomically; a .safetensors file also records `exp` in its metadata.

    Refused with `OverwriteRefused`: `path` being `source`, the file the weights came from
    (also through a symlink or hard link), and, unless `force`, `path` holding a training
    checkpoint, whose history and optimizer state bare weights would replace.
    """
    from reference import formats

    formats.check_suffix(path)
    path = Path(path)
    if source is not None and path.exists() and os.path.samefile(path, source):
        raise OverwriteRefused(f"{path} is the input file {source} itself: write the weights "
                               "to another file")
    if not force and is_training_checkpoint(path):
        raise OverwriteRefused(f"{path} holds a training checkpoint (history and optimizer "
                               "state), which bare weights would replace: write to another "
                               "file, or pass --force to overwrite it")
    state = dict(weights)
    if exp is not None and str(path).lower().endswith(".safetensors"):
        state[EXPERIMENT_KEY] = json.dumps(exp.to_dict())
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    formats.save(state, path)


def is_training_checkpoint(path: Path) -> bool:
    """Whether `path` is a file holding a training checkpoint's entries (of any format)."""
    from reference import formats

    if not Path(path).is_file():
        return False
    try:
        data = formats.load(path)
    except (ValueError, OSError, ImportError):
        return False  # not readable as weights: nothing of a run's to lose
    return all(k in data for k in TRAINING_KEYS)
