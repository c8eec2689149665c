"""`twinbench bench`: the main job. Race the twins, record everything, rebuild the tables.

Default (a few minutes on 2 cores): the default speed grid, the matmul
ceiling, and time-to-accuracy of the MNIST MLP over 3 seeds. `--full` runs the
whole speed grid, time-to-accuracy for every target, and trains every
experiment with both twins and in lockstep. Then `twinbench report` runs.
"""

from __future__ import annotations

import argparse

from bench.speed.grid import impls


def _run(args: argparse.Namespace) -> int:
    from bench.accuracy import run_accuracy, run_lockstep_record
    from bench.experiments import EXPERIMENTS, get_experiment
    from bench.records import append_record
    from bench.report import report
    from bench.speed.run import measure_ceiling, run_speed_suite
    from bench.tta import TARGETS, time_to_accuracy

    grid = "full" if args.full else args.grid
    steps = []
    if not args.skip_speed:
        steps.append(("speed suite", lambda: run_speed_suite(grid, 1.0 if args.full else 0.4)))
        steps.append(("matmul ceiling", measure_ceiling))
    if not args.skip_e2e:
        names = [n for n in TARGETS if n in EXPERIMENTS] if args.full else ["mlp"]
        for name in names:
            steps.append((f"time to accuracy: {name}",
                          lambda n=name: time_to_accuracy(n, seeds=args.seeds, impls=impls(),
                                                          show_progress=True)))
        if args.full:
            for name in sorted(EXPERIMENTS):
                steps.append((f"accuracy: {name}", lambda n=name: append_record(
                    "accuracy", run_accuracy(get_experiment(n), show_progress=False))))
            for name in ("mlp", "cnn"):
                if name not in EXPERIMENTS:
                    continue
                for dtype, epochs in (("float64", 1), ("float32", None)):
                    exp = get_experiment(name).with_overrides(dtype=dtype, epochs=epochs)
                    steps.append((f"lockstep: {name} {dtype}", lambda e=exp: append_record(
                        "lockstep", run_lockstep_record(e, show_progress=False))))
    for i, (title, step) in enumerate(steps, 1):
        print(f"[{i}/{len(steps)}] {title}", flush=True)
        path = step()
        print(f"    recorded {path}", flush=True)
    if not args.no_report:
        stale = report(check=False)
        print("report: updated " + (", ".join(stale) if stale else "nothing"))
    return 0


def add_command(sub) -> None:
    p = sub.add_parser("bench", help="the main job: race the twins, record, report",
                       description=__doc__)
    p.add_argument("--full", action="store_true", help="the whole grid and every experiment")
    p.add_argument("--grid", choices=["smoke", "default", "full"], default="default")
    p.add_argument("--seeds", type=int, default=3, help="seeds for time-to-accuracy (3)")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--skip-e2e", action="store_true")
    p.add_argument("--no-report", action="store_true")
    p.set_defaults(func=_run)
