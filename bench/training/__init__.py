"""Training: one interface over both twins, the fit loop, histories and checkpoints.

- `runners`: `ScratchRunner` and `TorchRunner`, built from one `Experiment`.
- `loop`: `Data`, `load_data`, `batches`, `evaluate`, `fit`.
- `history`: `EpochRecord` and `History`.
- `checkpoint`: `save_checkpoint`, `read_checkpoint`, `checkpoint_experiment`, `resume`,
  `CheckpointError`.
"""

from bench.training.checkpoint import (
    CheckpointError,
    checkpoint_experiment,
    read_checkpoint,
    resume,
    save_checkpoint,
)
from bench.training.history import EpochRecord, History
from bench.training.loop import (
    Data,
    TrainingDiverged,
    batches,
    check_finite,
    evaluate,
    fit,
    load_data,
    progress_bar,
    train_epoch,
)
from bench.training.runners import ScratchRunner, TorchRunner, make_runner

__all__ = ["CheckpointError", "Data", "EpochRecord", "History", "ScratchRunner",
           "TorchRunner", "TrainingDiverged", "batches", "check_finite", "checkpoint_experiment",
           "evaluate", "fit", "load_data", "make_runner", "progress_bar", "read_checkpoint",
           "resume", "save_checkpoint", "train_epoch"]
