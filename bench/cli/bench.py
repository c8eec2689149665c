"""`twinbench bench`: the main job. Race the twins, record everything, summarize.

Default (minutes on 2 cores): the default speed grid, the matmul ceiling, and
time to accuracy of speedrun-mlp over 5 seeds (seconds a seed), each set beside
the published reference's rows in summary.md. `--full` is the reference run: the
whole speed grid, time to accuracy of every experiment with a target, and every
experiment trained with both twins and in lockstep (hours).

Ctrl-C in any phase keeps every finished record (time to accuracy: the seeds
that finished), says where they are, and exits 130.

Everything goes to a new run directory under $TWINBENCH_RESULTS, else the
checkout's runs/ (ignored by git): its records, its own tables and plots, and
summary.md, which sets the run beside the published reference. The README and
results/ change only with --publish (or `twinbench report --publish RUN_DIR`).
"""

from __future__ import annotations

import argparse

from bench.cli.args import (
    add_run_options,
    fail,
    non_negative_int,
    positive_int,
    publish_checkout,
    publish_options,
    say_finished,
    say_interrupted,
)


def _run(args: argparse.Namespace) -> int:
    from bench.datasets import class_names
    from bench.measure.main import job_plan, main_job_steps, run_job
    from bench.results.records import run_dir
    from bench.results.report import finish_run

    checkout = publish_checkout(args)
    if args.publish and args.skip_speed and args.skip_e2e:
        fail(args, "--publish with --skip-speed and --skip-e2e would publish nothing")
    from bench.measure.tta import TARGETS

    unknown = [n for n in args.tta or () if n not in TARGETS]
    if unknown:
        fail(args, f"--tta: no time-to-accuracy target for {', '.join(unknown)}; "
                   f"expected some of {', '.join(TARGETS)}")
    if args.tta and args.skip_e2e:
        fail(args, "--tta runs end-to-end trainings, which --skip-e2e skips")
    run = run_dir(args.run_dir, "bench")
    print(f"run directory: {run}", flush=True)
    if args.first_seed and args.skip_e2e:
        fail(args, "--first-seed is for time-to-accuracy, which --skip-e2e skips")
    options = dict(full=args.full, grid=args.grid, seeds=args.seeds, speed=not args.skip_speed,
                   end_to_end=not args.skip_e2e, tta=args.tta, first_seed=args.first_seed)
    try:
        run_job(main_job_steps(run, **options), run, plan=job_plan(**options),
                say=lambda line: print(line, flush=True))
        done = finish_run(run, publish=args.publish, **publish_options(args),
                          class_names=class_names, checkout=checkout,
                          render=not args.no_report)
    except KeyboardInterrupt:  # in any phase, the report's included
        return say_interrupted(run)
    say_finished(done)
    return 0


def add_command(sub) -> None:
    p = sub.add_parser("bench", help="the main job: race the twins, record, summarize",
                       description=__doc__)
    p.add_argument("--full", action="store_true",
                   help="the whole speed grid, every time-to-accuracy target, and every "
                        "experiment trained with both twins and in lockstep (hours)")
    p.add_argument("--grid", choices=["smoke", "default", "full"], default="default",
                   help="speed grid: smoke (each kind of case once, seconds), default (a few "
                        "minutes) or full; --full implies full")
    p.add_argument("--seeds", type=positive_int, metavar="N",
                   help="seeds for time-to-accuracy (default: 3, and 5 for the speedruns)")
    p.add_argument("--first-seed", type=non_negative_int, default=0, metavar="K",
                   help="time-to-accuracy runs seeds K, K+1, ... (default 0): a long one "
                        "measured in parts, each its own seeds, which the tables read as one")
    p.add_argument("--tta", nargs="+", metavar="EXPERIMENT",
                   help="time-to-accuracy for these experiments instead (default: "
                        "speedrun-mlp, or every experiment with a target with --full; "
                        "`twinbench experiments` lists them)")
    p.add_argument("--skip-speed", action="store_true",
                   help="skip the speed suite and the matmul ceiling")
    p.add_argument("--skip-e2e", action="store_true",
                   help="skip the end-to-end trainings (time to accuracy, and with --full the "
                        "accuracy and lockstep runs)")
    p.add_argument("--no-report", action="store_true",
                   help="record only: no tables, plots or summary in the run directory")
    add_run_options(p)
    p.set_defaults(func=_run, parser=p)
