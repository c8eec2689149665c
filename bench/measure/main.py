"""The main job (`twinbench bench`): which measurements run, in order, and what a complete
published reference holds.

Default (minutes on 2 cores): the default speed grid, the matmul ceiling, and
time to accuracy of `speedrun-mlp` (`DEFAULT_TTA`, seconds a seed), each comparable
with a row of the published reference. `full` is the reference run: the whole speed
grid, time to accuracy of every experiment with a target (`tta.TARGETS`), every
experiment trained with both twins, and lockstep (`LOCKSTEP`). Time to accuracy runs
each experiment in a fresh process (`tta.in_fresh_process`). Each step appends a
record to the run directory and returns its path; the CLI runs them and then renders
the run.

`run_job` runs the steps and, when all have finished, appends a "job" record of each
step's wall-clock seconds: the README's statement of how long the main job takes comes
from the reference machine's record of it.

`reference_requirements` is the rows a complete reference holds, read from the same
lists (and the peers' audit and race, which `twinbench peers` and `twinbench peers
--race` record): `report --publish` refuses a run that lacks any of them, so a new
experiment in the registry joins the reference, and the refusal, by itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from bench.experiments import EXPERIMENTS, get_experiment
from bench.measure.accuracy import run_accuracy, run_lockstep_record
from bench.measure.generative import run_generative
from bench.measure.speed.grid import impls
from bench.measure.speed.run import measure_ceiling, run_speed_suite
from bench.measure.tta import TARGETS, in_fresh_process
from bench.results.records import append_record

Step = tuple[str, Callable[[], Path]]

# Time to accuracy in the default main job: seconds a seed, with a published row to meet.
DEFAULT_TTA = ("speedrun-mlp",)
# Lockstep in the full run: (experiment, dtype, epochs; None: the experiment's own). The
# ResNet's float64 epoch alone, since its whole float32 run in lockstep would take as
# long as training both twins again.
LOCKSTEP = (("mlp", "float64", 1), ("mlp", "float32", None),
            ("cnn", "float64", 1), ("cnn", "float32", None),
            ("lstm", "float64", 1), ("vit", "float64", 1), ("resnet-fashion", "float64", 1),
            # the VAE's first epoch, the GAN's first 500 steps (of two epochs)
            ("vae-mnist", "float64", 1), ("dcgan-mnist", "float64", 2))
TWINS = ("scratch", "torch")
CEILING_LIBRARIES = ("numpy", "torch")
CEILING_DTYPES = ("float32", "float64")
# The classifier whose scratch twin, trained by the full run's accuracy step, scores the
# generative experiments' digits (issue 31: the fraction it is confident about, the
# entropy of its classes).
JUDGE = "cnn"


def classifier_path(run_dir: Path) -> Path:
    """Where the full run keeps JUDGE's trained scratch twin: the run's own directory."""
    return Path(run_dir) / "checkpoints" / f"{JUDGE}-scratch.npz"


def accuracy_experiments() -> list[str]:
    """The classifiers the full run trains with both twins: every one in the registry but
    the generative models (`generative_experiments`)."""
    return sorted(name for name, exp in EXPERIMENTS.items() if exp.objective is None)


def generative_experiments() -> list[str]:
    """The VAE and GAN experiments: the full run records their losses and pictures."""
    return sorted(name for name, exp in EXPERIMENTS.items() if exp.objective is not None)


def reference_requirements() -> dict[str, set[tuple]]:
    """Record kind -> the rows a complete published reference holds (`registry.ROWS`): what
    `bench --full`, `peers` and `peers --race` record."""
    from bench.peers.audit import CASE_MODULES
    from bench.peers.race import RACES

    return {
        "speed": {("grid", "full")},
        "ceiling": {(lib, dtype) for lib in CEILING_LIBRARIES for dtype in CEILING_DTYPES},
        "tta": {(name, twin) for name in TARGETS for twin in TWINS},
        "accuracy": {(name,) for name in accuracy_experiments()},
        "generative": {(name,) for name in generative_experiments()},
        "lockstep": {(name, dtype) for name, dtype, _ in LOCKSTEP},
        "job": {("default",)},  # the README states the default main job's time
        "peers-parity": {(peer,) for peer in CASE_MODULES},
        "peers-speed": {(model, impl) for model, racers in RACES.items() for impl in racers},
    }


def main_job_steps(run_dir: Path, *, full: bool, grid: str = "default",
                   seeds: int | None = None,
                   speed: bool = True, end_to_end: bool = True,
                   tta: list[str] | None = None, first_seed: int = 0) -> list[Step]:
    """(title, run) for every measurement of the main job; `run()` appends a record to
    `run_dir` and returns its path. `tta` names the time-to-accuracy experiments (default:
    `DEFAULT_TTA`, or every one in TARGETS when `full`); `seeds` None gives each its own
    count, from `first_seed`."""
    steps: list[Step] = []
    if speed:
        grid = "full" if full else grid
        # seconds per case: the full grid's 900-odd cases get more rounds each
        steps.append(("speed suite", lambda: run_speed_suite(
            grid, run_dir, 1.0 if grid == "full" else 0.4)))
        steps.append(("matmul ceiling", lambda: measure_ceiling(run_dir)))
    if not end_to_end:
        return steps
    for name in tta or (list(TARGETS) if full else list(DEFAULT_TTA)):
        steps.append((f"time to accuracy: {name}", lambda n=name: in_fresh_process(
            n, run_dir, seeds=seeds, first_seed=first_seed, impls=impls(),
            show_progress=True)))
    if full:
        judge = classifier_path(run_dir)
        for name in accuracy_experiments():
            steps.append((f"accuracy: {name}", lambda n=name: append_record(
                "accuracy", run_accuracy(get_experiment(n), show_progress=False,
                                         keep_scratch=judge if n == JUDGE else None),
                run_dir)))
        for name in generative_experiments():  # a VAE or GAN: losses, pictures, the score
            steps.append((f"generative: {name}", lambda n=name: append_record(
                "generative", run_generative(get_experiment(n), show_progress=False,
                                             classifier=judge if judge.is_file() else None),
                run_dir)))
        for name, dtype, epochs in LOCKSTEP:
            exp = get_experiment(name).with_overrides(dtype=dtype, epochs=epochs)
            steps.append((f"lockstep: {name} {dtype}", lambda e=exp: append_record(
                "lockstep", run_lockstep_record(e, show_progress=False), run_dir)))
    return steps


def job_plan(*, full: bool, grid: str, tta: list[str] | None, seeds: int | None,
             speed: bool, end_to_end: bool, first_seed: int = 0) -> str:
    """"default" (what `tox -e bench` runs with no options), "full" (the reference run),
    or "custom" (any option that changes what is measured): a job's time compares only
    with a job of the same plan."""
    if speed and end_to_end and not tta and seeds is None and not first_seed:
        if full:
            return "full"
        if grid == "default":
            return "default"
    return "custom"


def run_job(steps: list[Step], run_dir: Path, *, plan: str,
            say: Callable[[str], None] = print) -> Path:
    """Run the main job's `steps` in order, saying each and its record; then append a "job"
    record of each step's wall-clock seconds and the whole job's, and return its path. An
    interrupt goes on up, with the finished steps' records kept and no job record."""
    start = time.perf_counter()
    timed = []
    for i, (title, step) in enumerate(steps, 1):
        say(f"[{i}/{len(steps)}] {title}")
        began = time.perf_counter()
        path = step()
        timed.append({"title": title, "seconds": time.perf_counter() - began})
        say(f"    recorded {path}")
    return append_record("job", {"plan": plan, "steps": timed,
                                 "seconds": time.perf_counter() - start}, run_dir)
