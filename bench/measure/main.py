"""The main job (`twinbench bench`): which measurements run, in order.

Default (a few minutes on 2 cores): the default speed grid, the matmul
ceiling, and time-to-accuracy of the MNIST MLP over 3 seeds. `full` adds the
whole speed grid, time-to-accuracy for every target, and every experiment
trained with both twins and in lockstep. Each step appends a record to the
run directory and returns its path; the CLI runs them and then renders the run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bench.experiments import EXPERIMENTS, get_experiment
from bench.measure.accuracy import run_accuracy, run_lockstep_record
from bench.measure.generative import run_generative
from bench.measure.speed.grid import impls
from bench.measure.speed.run import measure_ceiling, run_speed_suite
from bench.measure.tta import TARGETS, time_to_accuracy
from bench.results.records import append_record

Step = tuple[str, Callable[[], Path]]


def main_job_steps(run_dir: Path, *, full: bool, grid: str = "default",
                   seeds: int | None = None,
                   speed: bool = True, end_to_end: bool = True,
                   tta: list[str] | None = None) -> list[Step]:
    """(title, run) for every measurement of the main job; `run()` appends a record to
    `run_dir` and returns its path. `tta` names the time-to-accuracy experiments (default:
    mlp, or every one in TARGETS when `full`); `seeds` None gives each its own count."""
    steps: list[Step] = []
    if speed:
        grid = "full" if full else grid
        # seconds per case: the full grid's 900-odd cases get more rounds each
        steps.append(("speed suite", lambda: run_speed_suite(
            grid, run_dir, 1.0 if grid == "full" else 0.4)))
        steps.append(("matmul ceiling", lambda: measure_ceiling(run_dir)))
    if not end_to_end:
        return steps
    for name in tta or (list(TARGETS) if full else ["mlp"]):
        steps.append((f"time to accuracy: {name}", lambda n=name: time_to_accuracy(
            n, run_dir, seeds=seeds, impls=impls(), show_progress=True)))
    if full:
        for name in sorted(EXPERIMENTS):
            if EXPERIMENTS[name].objective is not None:  # a VAE or GAN: losses and pictures
                steps.append((f"generative: {name}", lambda n=name: append_record(
                    "generative", run_generative(get_experiment(n), show_progress=False),
                    run_dir)))
                continue
            steps.append((f"accuracy: {name}", lambda n=name: append_record(
                "accuracy", run_accuracy(get_experiment(n), show_progress=False), run_dir)))
        for name in ("mlp", "cnn"):
            for dtype, epochs in (("float64", 1), ("float32", None)):
                exp = get_experiment(name).with_overrides(dtype=dtype, epochs=epochs)
                steps.append((f"lockstep: {name} {dtype}", lambda e=exp: append_record(
                    "lockstep", run_lockstep_record(e, show_progress=False), run_dir)))
        # issue 31: the VAE's first epoch, the GAN's first 500 steps (of two epochs), float64
        for name, epochs in (("vae-mnist", 1), ("dcgan-mnist", 2)):
            exp = get_experiment(name).with_overrides(dtype="float64", epochs=epochs)
            steps.append((f"lockstep: {name} float64", lambda e=exp: append_record(
                "lockstep", run_lockstep_record(e, show_progress=False), run_dir)))
    return steps
