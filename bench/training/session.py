"""One training run of one twin into a directory: what `twinbench train` does for each twin.

`train_twin` starts the twin afresh or from a checkpoint (`checkpoint.resume`),
fits it with a checkpoint after every epoch under the run's names
(`checkpoint.outputs`), and writes its history when the run ends. Ctrl-C
leaves only complete epochs on disk (every file is written atomically); the
`TrainingInterrupted` it raises instead of the bare KeyboardInterrupt says which
checkpoint holds the run's last complete epoch, so that the command line can say
how to continue.
"""

from __future__ import annotations

from pathlib import Path

from bench.experiments import Experiment
from bench.training.checkpoint import (
    CheckpointError,
    TrainingOutputs,
    outputs,
    read_checkpoint,
    resume,
)
from bench.training.generative import fit_generative
from bench.training.history import History
from bench.training.loop import Data, fit
from bench.training.runners import make_runner
from scratch.atomic import write_atomic


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during a training run of twin `impl`. `checkpoint` holds the run's last
    complete epoch, `epoch`: the file this run wrote, else the one it resumed from. Both are
    None when no epoch of the run is on disk; `epoch` alone is None when that checkpoint
    could not be read back."""

    def __init__(self, impl: str, checkpoint: Path | None, epoch: int | None) -> None:
        super().__init__(impl, checkpoint, epoch)
        self.impl, self.checkpoint, self.epoch = impl, checkpoint, epoch


def _identity(path: Path) -> tuple | None:
    """(inode, mtime in ns, size), or None if there is no file. Checkpoints are written by
    an atomic rename, so every write changes the inode: a file with another identity than
    before the run was written by it (mtimes alone are too coarse for a short run)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _interrupted(impl: str, checkpoint: Path, before: tuple | None,
                 resumed: Path | None) -> TrainingInterrupted:
    if checkpoint.is_file() and _identity(checkpoint) != before:
        where = checkpoint
    elif resumed is not None:
        where = resumed
    else:
        return TrainingInterrupted(impl, None, None)
    try:
        return TrainingInterrupted(impl, where, int(read_checkpoint(where)[1]["epoch"]))
    except CheckpointError:
        return TrainingInterrupted(impl, where, None)


def train_twin(exp: Experiment, impl: str, data: Data, out: Path, *,
               resume_from: Path | None = None, show_progress: bool = True
               ) -> tuple[History, TrainingOutputs]:
    """Train twin `impl` on `exp` (from checkpoint `resume_from`, if given, whose experiment
    `exp` must be: `checkpoint.resume_experiment`), checkpointing every epoch under `out`.

    Returns the history and the files written (`outputs(out, exp, impl, exp.seed)`). Ctrl-C raises
    `TrainingInterrupted`; a diverged run, `TrainingDiverged` (both say what is on disk).
    """
    paths = outputs(out, exp, impl, exp.seed)
    resume_from = None if resume_from is None else Path(resume_from)
    if resume_from is not None:
        runner, start, history = resume(resume_from, exp)
    else:
        runner, start, history = make_runner(impl, exp), 0, None
    before = _identity(paths.checkpoint)
    try:
        fitter = fit if exp.objective is None else fit_generative
        history = fitter(runner, data, start_epoch=start, history=history,
                         checkpoint=paths.checkpoint, show_progress=show_progress)
    except KeyboardInterrupt as err:
        raise _interrupted(impl, paths.checkpoint, before, resume_from) from err
    write_atomic(paths.history, history.to_json())
    return history, paths
