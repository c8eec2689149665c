"""`twinbench accuracy`: train experiments with both twins and record what they reach.

Each experiment is trained once per twin from the same initial weights and
batch order (the torch twin with its own nn.Dropout, as a torch user would
run it), or with --lockstep both twins step together. A generative experiment
(vae-mnist, dcgan-mnist) records its test losses, both twins' pictures and, with
--classifier, the score of its samples. The records, tables and
a summary against the published reference go to a new run directory under
$TWINBENCH_RESULTS or the checkout's runs/ (or to --run-dir); the published
results change only with --publish (or `twinbench report --publish RUN_DIR`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

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

DEFAULT = ["mlp", "mlp-fashion"]


def _run(args: argparse.Namespace) -> int:
    from bench.datasets import class_names
    from bench.experiments import EXPERIMENTS, get_experiment
    from bench.measure.accuracy import run_accuracy, run_lockstep_record
    from bench.measure.generative import run_generative
    from bench.results.records import append_record, run_dir
    from bench.results.report import finish_run

    unknown = [n for n in args.experiments if n not in EXPERIMENTS]
    if unknown:
        fail(args, f"unknown experiment {', '.join(unknown)}; expected any of "
                   f"{', '.join(sorted(EXPERIMENTS))}")
    if args.steps is not None and not args.lockstep:
        fail(args, "--steps limits a lockstep run; add --lockstep")
    exps = [get_experiment(name).with_overrides(epochs=args.epochs, dtype=args.dtype,
                                                seed=args.seed)
            for name in args.experiments or DEFAULT]
    if args.classifier is not None and not args.classifier.is_file():
        fail(args, f"--classifier {args.classifier}: no such file; expected a checkpoint of "
                   "`twinbench train cnn` (or any MNIST classifier's weights file)")
    checkout = publish_checkout(args)
    run = run_dir(args.run_dir, "accuracy")
    print(f"run directory: {run}", flush=True)
    try:
        for exp in exps:
            if args.lockstep:
                rec = run_lockstep_record(exp, show_progress=not args.no_progress,
                                          max_steps=args.steps)
                path = append_record("lockstep", rec, run)
                test = (f"accuracy {rec['test_accuracy']}" if rec.get("test_accuracy")
                        else f"test loss {rec['test_loss']}")
                seconds = f" in {rec['seconds']:.0f} s" if "seconds" in rec else ""
                print(f"{exp.name} lockstep {exp.dtype}, {rec['steps']} steps{seconds}: "
                      f"weights {rec['max_weight_rel_diff']:.2e}, {test} -> {path}")
                continue
            if exp.objective is not None:
                rec = run_generative(exp, classifier=args.classifier,
                                     show_progress=not args.no_progress)
                path = append_record("generative", rec, run)
                print(f"{exp.name}: test loss {rec['final_test_loss']}, score {rec['score']} "
                      f"-> {path}")
                continue
            rec = run_accuracy(exp, show_progress=not args.no_progress)
            path = append_record("accuracy", rec, run)
            print(f"{exp.name}: test accuracy {rec['final_test_accuracy']}, seconds per epoch "
                  f"{rec['seconds_per_epoch']} -> {path}")
        done = finish_run(run, publish=args.publish, **publish_options(args),
                          class_names=class_names, checkout=checkout)
    except KeyboardInterrupt:  # the finished experiments' records are kept
        return say_interrupted(run)
    say_finished(done)
    return 0


def add_command(sub) -> None:
    from bench.experiments import EXPERIMENTS

    p = sub.add_parser("accuracy", help="train experiments with both twins; record accuracy",
                       description=__doc__)
    p.add_argument("experiments", nargs="*", metavar="EXPERIMENT",
                   help=f"default: {' '.join(DEFAULT)}; any of {', '.join(sorted(EXPERIMENTS))} "
                        "(`twinbench experiments` says what each is and how long it takes)")
    p.add_argument("--lockstep", action="store_true",
                   help="step both twins on identical batches and dropout masks and record "
                        "how far they drift, instead of training each on its own")
    p.add_argument("--steps", type=positive_int, metavar="N",
                   help="with --lockstep: stop after N steps (a costly model's first steps; "
                        "the schedule still spans the epochs; a GAN's default is its first "
                        "500)")
    p.add_argument("--epochs", type=positive_int, metavar="N",
                   help="train N epochs instead of each experiment's own number")
    p.add_argument("--dtype", choices=["float32", "float64"],
                   help="floating-point type of weights and inputs (default: the experiment's)")
    p.add_argument("--seed", type=non_negative_int, metavar="SEED",
                   help="seed of the initial weights, batch order and dropout masks "
                        "(default: the experiment's, 0)")
    p.add_argument("--classifier", type=Path, metavar="CHECKPOINT",
                   help="a generative experiment's samples are scored by this MNIST classifier "
                        "(a `twinbench train cnn` checkpoint): the fraction classified with "
                        "probability >= 0.9, and the entropy of the classes")
    add_run_options(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_run, parser=p)
