"""`twinbench bench`: the main job. Race the twins, record everything, rebuild the tables.

Default (a few minutes on 2 cores): the default speed grid, the matmul
ceiling, and time-to-accuracy of the MNIST MLP over 3 seeds. `--full` runs the
whole speed grid, time-to-accuracy for every target, and trains every
experiment with both twins and in lockstep. Then `twinbench report` runs.
"""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from bench.measure.main import main_job_steps
    from bench.results.report import report

    steps = main_job_steps(full=args.full, grid=args.grid, seeds=args.seeds,
                           speed=not args.skip_speed, end_to_end=not args.skip_e2e)
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
