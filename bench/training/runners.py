"""One training interface over both twins: build from an experiment, step, predict, save.

`ScratchRunner` and `TorchRunner` hold a model, its loss, optimizer and
schedule, built from the same `Experiment`; the torch runner's weights are
copied from the scratch model, never re-drawn. The fit loop in
`bench.training.loop` drives either through the same five methods.
"""

from __future__ import annotations

import json

import numpy as np
import torch

import reference
import scratch
from bench.experiments import Experiment, build_model
from bench.experiments.config import PER_BATCH_SCHEDULES
from scratch.module import eval_mode

EVAL_BATCH = 2000  # images a predict call runs at once; a runner's `eval_batch` overrides it


def dropout_rng(seed: int, epoch: int, layer: int) -> np.random.Generator:
    """The Generator for one dropout layer in one epoch: the same for both twins."""
    return np.random.default_rng([seed, 7, epoch, layer])


def _schedule(module, exp: Experiment, optimizer):
    """The experiment's learning-rate schedule from `module` (scratch's or torch's lr_scheduler)."""
    if exp.schedule is None:
        return None
    if exp.schedule == "InverseTimeLR":  # lr / (1 + decay * t), as the write-ups decay it
        decay = float(exp.schedule_args["decay"])
        return module.LambdaLR(optimizer, lambda t: 1.0 / (1.0 + decay * t))
    cls = getattr(module, exp.schedule, None)
    if cls is None:
        raise ValueError(f"experiment {exp.name!r}: unknown schedule {exp.schedule!r}")
    if exp.schedule in PER_BATCH_SCHEDULES:  # one cycle over the whole run
        return cls(optimizer, total_steps=exp.epochs * exp.steps_per_epoch(),
                   **exp.schedule_args)
    return cls(optimizer, **exp.schedule_args)


def _optimizer(module, exp: Experiment, params):
    cls = getattr(module, exp.optimizer, None)
    if cls is None:
        raise ValueError(f"experiment {exp.name!r}: unknown optimizer {exp.optimizer!r}")
    return cls(params, **exp.optimizer_args)


class _Runner:
    """What both twins' runners share: the schedule's steps, the current lr, and the batch
    size `predict` evaluates in (time to accuracy sets each twin's fastest)."""

    eval_batch = EVAL_BATCH

    def eval_slices(self, n: int) -> list[slice]:
        return [slice(i, i + self.eval_batch) for i in range(0, n, self.eval_batch)]

    def _per_batch(self) -> bool:
        return self.exp.schedule in PER_BATCH_SCHEDULES

    def end_step(self) -> None:
        if self.scheduler is not None and self._per_batch():
            self.scheduler.step()

    def end_epoch(self) -> None:
        if self.scheduler is not None and not self._per_batch():
            self.scheduler.step()

    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])


class ScratchRunner(_Runner):
    impl = "scratch"

    def __init__(self, exp: Experiment, model: scratch.Sequential | None = None):
        self.exp = exp
        self.model = model if model is not None else build_model(
            exp, np.random.default_rng(exp.seed))
        self.loss_fn = scratch.CrossEntropyLoss()
        self.optimizer = _optimizer(scratch.optim, exp, self.model.parameters())
        self.scheduler = _schedule(scratch.optim.lr_scheduler, exp, self.optimizer)

    def begin_epoch(self, epoch: int) -> None:
        self.model.train()
        dropouts = [m for m in self.model.modules() if isinstance(m, scratch.Dropout)]
        for i, m in enumerate(dropouts):
            m.rng = dropout_rng(self.exp.seed, epoch, i)

    def train_step(self, x: np.ndarray, y: np.ndarray) -> float:
        """One SGD step; returns the batch loss and sets `last_correct` for progress bars."""
        logits = self.model(x)
        loss = self.loss_fn(logits, y)
        self.last_correct = int(np.count_nonzero(logits.argmax(axis=1) == y))
        self.optimizer.zero_grad()
        self.model.backward(self.loss_fn.backward(), input_grad=False)  # as torch: x needs none
        self.optimizer.step()
        self.end_step()
        return loss

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Logits (N, 10) in eval mode; the model's mode is given back."""
        with eval_mode(self.model):
            return np.concatenate([self.model(x[s]) for s in self.eval_slices(len(x))])

    def weights(self) -> dict[str, np.ndarray]:
        return self.model.state_dict()

    def load_weights(self, state: dict[str, np.ndarray]) -> None:
        self.model.load_state_dict(state)

    def optimizer_state(self) -> dict:
        return self.optimizer.state_dict()

    def load_optimizer_state(self, state: dict) -> None:
        self.optimizer.load_state_dict(state)


class TorchRunner(_Runner):
    """The torch twin. `shared_dropout` draws dropout masks as scratch does (for lockstep);
    otherwise torch's own nn.Dropout runs, seeded per epoch."""

    impl = "torch"

    def __init__(self, exp: Experiment, model: scratch.Sequential | None = None, *,
                 shared_dropout: bool = False, device: str = "cpu"):
        self.exp = exp
        source = model if model is not None else build_model(exp, np.random.default_rng(exp.seed))
        self.model = reference.twin(
            source, dropout="shared" if shared_dropout else "native").to(device)
        self.device = device
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self.optimizer = _optimizer(torch.optim, exp, self.model.parameters())
        self.scheduler = _schedule(torch.optim.lr_scheduler, exp, self.optimizer)

    def begin_epoch(self, epoch: int) -> None:
        self.model.train()
        shared = [m for m in self.model.modules() if isinstance(m, reference.SharedMaskDropout)]
        for i, m in enumerate(shared):
            m.rng = dropout_rng(self.exp.seed, epoch, i)
        torch.manual_seed(hash((self.exp.seed, epoch)) & 0x7FFF_FFFF)  # native dropout

    def _tensor(self, a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).to(self.device)

    def train_step(self, x: np.ndarray, y: np.ndarray) -> float:
        ty = self._tensor(y)
        logits = self.model(self._tensor(x))
        loss = self.loss_fn(logits, ty)
        self.last_correct = int((logits.argmax(dim=1) == ty).sum())
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.end_step()
        return loss.item()

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        with eval_mode(self.model):
            return np.concatenate([self.model(self._tensor(x[s])).cpu().numpy()
                                   for s in self.eval_slices(len(x))])

    def weights(self) -> dict[str, np.ndarray]:
        return {k: reference.to_numpy(v) for k, v in self.model.state_dict().items()}

    def load_weights(self, state: dict[str, np.ndarray]) -> None:
        own = self.model.state_dict()
        given = {k: np.asarray(v) for k, v in state.items()}
        scratch.check_state_keys({k: tuple(v.shape) for k, v in own.items()},
                                 {k: v.shape for k, v in given.items()}, "torch checkpoint",
                                 dtypes={k: v.dtype for k, v in given.items()})
        self.model.load_state_dict({k: torch.from_numpy(given[k]) for k in own})

    def optimizer_state(self) -> dict:
        sd = self.optimizer.state_dict()
        return {"state": {i: {k: (reference.to_numpy(v) if torch.is_tensor(v) else v)
                              for k, v in s.items()} for i, s in sd["state"].items()},
                "param_groups": sd["param_groups"]}

    def load_optimizer_state(self, state: dict) -> None:
        self.optimizer.load_state_dict({
            "state": {int(i): {k: (torch.from_numpy(np.array(v)) if isinstance(v, np.ndarray)
                                   else v) for k, v in s.items()}
                      for i, s in state["state"].items()},
            "param_groups": state["param_groups"]})


def make_runner(impl: str, exp: Experiment, **kwargs):
    if exp.objective is not None:  # a VAE or GAN: its own loss and step
        from bench.training.generative import generative_runner

        return generative_runner(impl, exp, **kwargs)
    if impl == "scratch":
        return ScratchRunner(exp)
    if impl == "torch":
        return TorchRunner(exp, **kwargs)
    if impl == "torch-cuda":
        return TorchRunner(exp, device="cuda", **kwargs)
    raise ValueError(f"unknown implementation {impl!r}; expected 'scratch', 'torch' "
                     "or 'torch-cuda'")


def scheduler_state_json(runner) -> str:
    """The scheduler's state as JSON (its lambdas are code, rebuilt from the experiment)."""
    if runner.scheduler is None:
        return "null"
    sd = {k: v for k, v in runner.scheduler.state_dict().items() if k != "lr_lambdas"}
    return json.dumps(sd)


def load_scheduler_state(runner, text: str) -> None:
    sd = json.loads(text)
    if sd is not None and runner.scheduler is not None:
        if "lr_lambdas" in runner.scheduler.state_dict():
            sd["lr_lambdas"] = [None] * len(runner.optimizer.param_groups)
        runner.scheduler.load_state_dict(sd)
