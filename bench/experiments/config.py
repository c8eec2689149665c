"""The recipe of one training run, frozen: `Experiment`.

An experiment fixes everything a training run depends on: data set, layers,
initialisation, optimizer, schedule, batch size, epochs, seed and dtype. The
named experiments are in `registry.py`; `layers.py` turns one into a model.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

TRAIN_IMAGES = 60_000  # MNIST's and Fashion-MNIST's training sets alike
PER_BATCH_SCHEDULES = ("OneCycleLR",)
OBJECTIVES = (None, "vae", "gan")  # a classifier, or the generative kinds


@dataclass(frozen=True)
class Experiment:
    """One training run's full recipe.

    Args:
        name: registry key, e.g. "mlp".
        dataset: "mnist" or "fashion-mnist".
        layers: module specs, see `build_model`.
        init: scratch.init scheme name ("default" is torch's own).
        optimizer: class name in scratch.optim / torch.optim, with `optimizer_args`.
        schedule: None, a scheduler class name in optim.lr_scheduler, or
            "InverseTimeLR" (lr / (1 + decay * epoch), a LambdaLR); stepped once per epoch,
            except OneCycleLR, stepped once per batch as torch's docs require, over a cycle
            that spans the run's epochs (its `total_steps` is `epochs * steps_per_epoch()`,
            never written in `schedule_args`).
        batch_size: samples per step; 0 means full batch (one step per epoch).
        epochs, seed, dtype: as named; the seed fixes weights, batch order and dropout masks.
        standardize: subtract the training-set pixel mean and divide by its std.
        train_subset: use only the first n training images (stratification is left
            to the data set's own mixing), None for all 60,000.
        layout: "flat" inputs (N, 784) for MLPs, "image" inputs (N, 1, 28, 28) for CNNs.
        target_accuracy: the test accuracy (percent) both twins must reach, if any.
        claim: for write-up reproductions, what the write-up reports, and
            claimed_accuracy its test accuracy in percent where it gives one.
        objective: None for a classifier (cross entropy, accuracy); "vae" or "gan" for
            a generative experiment (`bench.training.generative`): its `layers` are one
            model spec ("vae ...", "dcgan ..."), its inputs grey levels in [0, 1], and
            target_loss the test negative ELBO per image both twins must reach, if any.
    """

    name: str
    dataset: str
    layers: tuple[str, ...]
    init: str = "default"
    optimizer: str = "SGD"
    optimizer_args: dict = field(default_factory=dict)
    schedule: str | None = None
    schedule_args: dict = field(default_factory=dict)
    batch_size: int = 128
    epochs: int = 10
    seed: int = 0
    dtype: str = "float32"
    standardize: bool = False
    train_subset: int | None = None
    layout: str = "flat"
    description: str = ""
    target_accuracy: float | None = None
    claim: str | None = None
    claimed_accuracy: float | None = None
    objective: str | None = None
    target_loss: float | None = None

    def with_overrides(self, **changes) -> Experiment:
        """A copy with some fields replaced (None values are ignored).

        A cosine schedule that spans the whole run (T_max equal to epochs) keeps spanning
        it when only the epochs change, so that a shorter run still anneals to the end.
        """
        changes = {k: v for k, v in changes.items() if v is not None}
        new = dataclasses.replace(self, **changes)
        if ("epochs" in changes and "schedule_args" not in changes
                and self.schedule == "CosineAnnealingLR"
                and self.schedule_args.get("T_max") == self.epochs):
            new = dataclasses.replace(new, schedule_args={**self.schedule_args,
                                                          "T_max": new.epochs})
        return new

    def steps_per_epoch(self) -> int:
        """Optimizer steps in one epoch (the last batch may be smaller)."""
        n = self.train_subset if self.train_subset is not None else TRAIN_IMAGES
        return 1 if self.batch_size <= 0 else math.ceil(n / self.batch_size)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

