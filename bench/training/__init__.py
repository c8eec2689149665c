"""Training: one interface over both twins, the fit loop, histories and checkpoints.

- `runners`: `ScratchRunner` and `TorchRunner`, built from one `Experiment`.
- `loop`: `Data`, `load_data`, `batches`, `evaluate`, `fit`.
- `history`: `EpochRecord` and `History`.
- `checkpoint`: `save_checkpoint`, `read_checkpoint`, `checkpoint_experiment`,
  `load_checkpoint` and `check_contents` (the whole checkpoint checked), `resume`,
  `checkpoint_bytes` and `require_space` (room for a run's files, checked before it),
  `resume_experiment` (which checkpoint may continue which run; `ResumeRefused`),
  `outputs` (the files a run writes, `TrainingOutputs`), `CheckpointError`.
- `session`: `train_twin`, one twin's run into a directory; `TrainingInterrupted`.
"""

from bench.training.checkpoint import (
    CheckpointError,
    ResumeRefused,
    TrainingOutputs,
    check_contents,
    checkpoint_bytes,
    checkpoint_experiment,
    load_checkpoint,
    outputs,
    read_checkpoint,
    require_space,
    resume,
    resume_experiment,
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
from bench.training.session import TrainingInterrupted, train_twin

__all__ = ["CheckpointError", "Data", "EpochRecord", "History", "ResumeRefused", "ScratchRunner",
           "TorchRunner", "TrainingDiverged", "TrainingInterrupted", "TrainingOutputs", "batches",
           "check_contents", "check_finite", "checkpoint_bytes", "checkpoint_experiment",
           "evaluate", "fit", "load_checkpoint", "load_data", "make_runner", "outputs",
           "progress_bar", "read_checkpoint", "require_space", "resume", "resume_experiment",
           "save_checkpoint", "train_epoch", "train_twin"]
