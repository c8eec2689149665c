"""`twinbench accuracy`: train experiments with both twins and record what they reach.

Each experiment is trained once per twin from the same initial weights and
batch order (the torch twin with its own nn.Dropout, as a torch user would
run it), or with --lockstep both twins step together; every run appends a
record to results/records/ with the machine it ran on.
"""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from bench.experiments import get_experiment
    from bench.measure.accuracy import run_accuracy, run_lockstep_record
    from bench.results.records import append_record

    names = args.experiments or ["mlp", "mlp-fashion"]
    for name in names:
        exp = get_experiment(name).with_overrides(epochs=args.epochs, dtype=args.dtype,
                                                  seed=args.seed)
        if args.lockstep:
            rec = run_lockstep_record(exp, show_progress=not args.no_progress)
            path = append_record("lockstep", rec)
            print(f"{name} lockstep {exp.dtype}: weights {rec['max_weight_rel_diff']:.2e}, "
                  f"accuracy {rec['test_accuracy']} -> {path}")
            continue
        rec = run_accuracy(exp, show_progress=not args.no_progress)
        path = append_record("accuracy", rec)
        print(f"{name}: test accuracy {rec['final_test_accuracy']}, seconds per epoch "
              f"{rec['seconds_per_epoch']} -> {path}")
    return 0


def add_command(sub) -> None:
    from bench.experiments import EXPERIMENTS

    p = sub.add_parser("accuracy", help="train experiments with both twins; record accuracy",
                       description=__doc__)
    p.add_argument("experiments", nargs="*", metavar="EXPERIMENT",
                   help=f"default: mlp mlp-fashion; any of {', '.join(sorted(EXPERIMENTS))}")
    p.add_argument("--lockstep", action="store_true", help="run the twins in lockstep instead")
    p.add_argument("--epochs", type=int)
    p.add_argument("--dtype", choices=["float32", "float64"])
    p.add_argument("--seed", type=int)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_run)
