"""What a training run leaves behind: one `EpochRecord` per epoch, in a `History`."""

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
        return cls(d["experiment"], d["impl"], [EpochRecord(**e) for e in d["epochs"]])

    @property
    def final_test_accuracy(self) -> float:
        return self.epochs[-1].test_accuracy if self.epochs else float("nan")
