"""What a training run leaves behind: one record per epoch, in a `History`.

A classifier's epochs are `EpochRecord`s (losses and accuracies); a generative
experiment's (its `objective` set: "vae", "gan") are `GenerativeEpochRecord`s.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float  # mean of the epoch's step losses
    train_accuracy: float  # percent, eval mode, on the first 10,000 training images
    test_loss: float
    test_accuracy: float  # percent
    seconds: float  # training steps only, evaluation excluded
    samples_per_second: float
    lr: float  # the learning rate used in this epoch
    eval_seconds: float = 0.0  # evaluating the test set after the epoch


@dataclass
class GenerativeEpochRecord:
    epoch: int
    train_loss: float  # mean of the step losses: VAE -ELBO per image; GAN the discriminator's
    test_loss: float  # the same on the test set, eval mode, fixed noise (`training.generative`)
    seconds: float  # training steps only, evaluation excluded
    samples_per_second: float
    lr: float  # the learning rate used in this epoch (the generator's, for a GAN)
    eval_seconds: float = 0.0
    test_kl: float | None = None  # VAE: the KL part of test_loss
    train_generator_loss: float | None = None  # GAN: the generator's mean step loss
    test_generator_loss: float | None = None  # GAN: the generator's loss on the test noise


@dataclass
class History:
    experiment: dict
    impl: str
    epochs: list[EpochRecord] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"experiment": self.experiment, "impl": self.impl,
                           "epochs": [asdict(e) for e in self.epochs]}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> History:
        d = json.loads(text)
        record = GenerativeEpochRecord if d["experiment"].get("objective") else EpochRecord
        return cls(d["experiment"], d["impl"], [record(**e) for e in d["epochs"]])

    @property
    def final_test_accuracy(self) -> float:
        return self.epochs[-1].test_accuracy if self.epochs else float("nan")

    @property
    def final_test_loss(self) -> float:
        return self.epochs[-1].test_loss if self.epochs else float("nan")
