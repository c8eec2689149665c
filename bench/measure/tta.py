"""Time-to-accuracy, as MLPerf and DAWNBench define it: wall-clock until the test
accuracy first reaches a target.

The clock counts training steps and the per-epoch test evaluation (the check that
tells the target was reached), not data loading or the train-accuracy sample. Each
twin runs the experiment over several seeds, stopping at the first epoch at or above
the target.

Each experiment has one target, its registry entry's `target_accuracy`, shared by
the accuracy and time-to-accuracy tables: `TARGETS` is read from the registry, so an
experiment added there with a target (not a `ci-*` check) is timed too.

The speedruns (`speedrun-*` in the registry) are experiments built for this clock on
2 cores; each has a time budget (`BUDGETS`, median seconds) and runs over 5 seeds, all
of which must reach the target.

The test evaluation runs at each twin's fastest batch size (`fastest_eval_batch`, chosen
before the clock starts), and the main job runs each experiment in a fresh process
(`in_fresh_process`): a process that has run the speed suite trains 8-13% slower.

Ctrl-C keeps the seeds that finished: the record is written with them (and the seeds
planned) before the interrupt goes on.
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import numpy as np

from bench.experiments import EXPERIMENTS, Experiment, get_experiment
from bench.results.records import append_record
from bench.training import History, fit, load_data


def timed_to_target(exp: Experiment) -> bool:
    """An experiment with a target is timed to it, except the test suite's `ci-*` checks."""
    return exp.target_accuracy is not None and not exp.name.startswith("ci-")


# experiment -> target test accuracy (percent): the registry's, the one the accuracy table
# holds both twins to.
TARGETS = {name: exp.target_accuracy for name, exp in EXPERIMENTS.items()
           if timed_to_target(exp)}
# speedrun -> its time budget: the median seconds to the target, per twin
BUDGETS = {"speedrun-mlp": 3.0, "speedrun-cnn": 15.0, "speedrun-fashion": 30.0}
SEEDS, SPEEDRUN_SEEDS = 3, 5
# batch sizes the test evaluation may run at: the fastest for each twin is used
EVAL_BATCHES = (250, 500, 1000, 2000, 5000, 10_000)


def default_seeds(name: str) -> int:
    return SPEEDRUN_SEEDS if name in BUDGETS else SEEDS


def epochs_to_target(history: History, target: float) -> tuple[int | None, float]:
    """(the first epoch whose test accuracy is at or above `target`, the seconds until the
    end of its test evaluation), or (None, every epoch's seconds) when none reached it.

    Each epoch counts its training steps and its test evaluation (`EpochRecord.seconds`
    and `eval_seconds`): the evaluation is what tells the target was reached."""
    elapsed = 0.0
    for e in history.epochs:
        elapsed += e.seconds + e.eval_seconds
        if e.test_accuracy >= target:
            return e.epoch, elapsed
    return None, elapsed


def fastest_eval_batch(runner, x: np.ndarray, rounds: int = 2) -> int:
    """The batch size of EVAL_BATCHES (up to len(x)) at which `runner.predict(x)` is
    fastest: each timed `rounds` times after a warm-up, its best time kept. The weights
    do not matter; the runner's `eval_batch` is given back."""
    kept = runner.eval_batch
    runner.predict(x)  # warm-up: first-touch allocations, lazy initialisation
    best: dict[int, float] = {}
    for size in [b for b in EVAL_BATCHES if b <= len(x)] or [len(x)]:
        runner.eval_batch = size
        for _ in range(rounds):
            start = time.perf_counter()
            runner.predict(x)
            elapsed = time.perf_counter() - start
            best[size] = min(best.get(size, elapsed), elapsed)
    runner.eval_batch = kept
    return min(best, key=best.get)


def time_to_accuracy(name: str, results_dir: Path, seeds: int | None = None,
                     impls=("scratch", "torch"), show_progress: bool = False,
                     log=print, first_seed: int = 0) -> Path:
    """Run `name` over `seeds` seeds (default: `default_seeds`) from `first_seed` with each
    twin, each evaluating at its fastest batch size; append a "tta" record to
    `results_dir`. A run planned in parts gives each part its own seeds (a ResNet's seed
    takes most of an hour): the tables read the parts as one (`records.merge_seed_parts`)."""
    from bench.training.runners import make_runner

    seeds = default_seeds(name) if seeds is None else seeds
    target = TARGETS[name]
    base = get_experiment(name)
    data = load_data(base)
    runs: list[dict] = []
    eval_batch: dict[str, int] = {}

    def record() -> Path:
        return append_record("tta", {"experiment": base.to_dict(), "target": target,
                                     "budget_s": BUDGETS.get(name), "seeds_planned": seeds,
                                     "first_seed": first_seed,
                                     "eval_batch": eval_batch, "runs": runs}, results_dir)

    try:
        for impl in impls:
            eval_batch[impl] = fastest_eval_batch(make_runner(impl, base), data.x_test)
            if log:
                log(f"{name} {impl}: test evaluation at batch {eval_batch[impl]}, its fastest")
        for seed in range(first_seed, first_seed + seeds):
            exp = base.with_overrides(seed=seed)
            done = []
            for impl in impls:
                runner = make_runner(impl, exp)
                runner.eval_batch = eval_batch[impl]
                history = fit(runner, data, show_progress=show_progress, log=None,
                              stop_at=target)
                reached, elapsed = epochs_to_target(history, target)
                done.append({"impl": impl, "seed": seed, "eval_batch": eval_batch[impl],
                             "epochs": reached,
                             "seconds": elapsed if reached else None,
                             "final_test_accuracy": history.final_test_accuracy})
                if log:
                    log(f"{name} {impl} seed {seed}: "
                        + (f"{target}% after {reached} epochs, {elapsed:.1f} s" if reached
                           else f"never reached {target}% "
                                f"({history.final_test_accuracy:.2f}%)"))
            runs.extend(done)  # a seed counts once every twin ran it: the ratio pairs them
    except KeyboardInterrupt:
        if runs:  # keep the finished seeds, then let the interrupt go on
            path = record()
            if log:
                log(f"interrupted: {len(runs) // len(impls)} of {seeds} seeds of {name} "
                    f"recorded in {path}")
        raise
    return record()


def _child(send, name: str, results_dir: Path, kwargs: dict) -> None:
    try:
        send.send(str(time_to_accuracy(name, results_dir, **kwargs)))
    except KeyboardInterrupt:  # the finished seeds are recorded; the parent says so
        pass


def in_fresh_process(name: str, results_dir: Path, **kwargs) -> Path:
    """`time_to_accuracy(name, results_dir, **kwargs)` in a fresh Python process, so that
    what ran before in this one (the speed suite's allocations and threads) does not
    slow its clock; returns the record's path. Ctrl-C reaches the child too: it records
    the seeds that finished, and the interrupt goes on here once it has."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(send, name, results_dir, kwargs),
                        name=f"tta {name}")
    child.start()
    send.close()
    try:
        child.join()
    except KeyboardInterrupt:
        child.join()  # let it write the finished seeds' record
        raise
    try:
        return Path(receive.recv())
    except EOFError:  # it sent nothing
        if child.exitcode in (0, -2, 130):  # interrupted: a SIGINT the parent missed
            raise KeyboardInterrupt from None
        raise RuntimeError(f"time to accuracy of {name} failed in its process "
                           f"(exit code {child.exitcode}); its error is above") from None
