"""`twinbench accuracy`: train experiments with both twins and record what they reach.

Each experiment is trained once per twin from the same initial weights and
batch order (the torch twin with its own nn.Dropout, as a torch user would
run it), and optionally in lockstep; every run appends a record to
results/records/ with the machine it ran on.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

from bench.experiments import EXPERIMENTS, Experiment, get_experiment
from bench.records import append_record


def run_accuracy(exp: Experiment, data=None, *, show_progress: bool = True, log=print) -> dict:
    """Train both twins on `data` (default: the experiment's data set); the record's payload."""
    from bench.runners import make_runner
    from bench.training import fit, load_data

    data = data if data is not None else load_data(exp)
    result = {"experiment": exp.to_dict(), "histories": {}, "final_test_accuracy": {},
              "seconds_per_epoch": {}, "confusion": {}}
    for impl in ("scratch", "torch"):
        runner = make_runner(impl, exp)
        history = fit(runner, data, show_progress=show_progress, log=log)
        result["histories"][impl] = [vars(e) for e in history.epochs]
        result["final_test_accuracy"][impl] = history.final_test_accuracy
        result["seconds_per_epoch"][impl] = statistics.median(e.seconds for e in history.epochs)
        result["confusion"][impl] = confusion_matrix(runner, data).tolist()
    return result


def confusion_matrix(runner, data) -> np.ndarray:
    """(10, 10) counts on the test set; rows are true classes, columns predictions."""
    pred = runner.predict(data.x_test).argmax(axis=1)
    counts = np.zeros((10, 10), dtype=np.int64)
    np.add.at(counts, (data.y_test, pred), 1)
    return counts


def run_lockstep_record(exp: Experiment, data=None, *, show_progress: bool = True,
                        log=print) -> dict:
    import json

    from bench.lockstep import run_lockstep
    from bench.training import load_data

    data = data if data is not None else load_data(exp)
    report = run_lockstep(exp, data, show_progress=show_progress, log=log)
    return {**json.loads(report.to_json()), "experiment": exp.to_dict()}


def _run(args: argparse.Namespace) -> int:
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
