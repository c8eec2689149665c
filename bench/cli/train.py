"""`twinbench train`: train an experiment with either twin or both; a checkpoint per epoch.

With --lockstep both twins step on identical batches and dropout masks and the
run reports how far they drift; --resume continues a checkpoint. Checkpoints
and histories go to --out (default: train/ under the runs directory, the
checkout's runs/ or $TWINBENCH_RESULTS).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

from bench.cli.args import fail, non_negative_int, positive_int


def _print_history(history) -> None:
    from tabulate import tabulate

    rows = [asdict(e) for e in history.epochs]
    print(f"\n{history.impl}: {history.experiment['name']}")
    print(tabulate(rows, headers="keys", floatfmt=".4g", tablefmt="github"))


def _schedule_line(exp) -> str:
    if exp.schedule is None:
        return "constant learning rate"
    args = ", ".join(f"{k}={v}" for k, v in exp.schedule_args.items())
    return f"schedule {exp.schedule}({args}) over {exp.epochs} epochs"


def _experiment(args: argparse.Namespace):
    """The experiment this run trains: the registry's with the options, or, with --resume,
    the checkpoint's own (refused before any data loads if it cannot continue this run)."""
    from bench.experiments import get_experiment
    from bench.training import ResumeRefused, resume_experiment

    if args.steps is not None and not args.lockstep:
        fail(args, "--steps limits a lockstep run; add --lockstep")
    if not args.resume:
        return get_experiment(args.experiment).with_overrides(
            epochs=args.epochs, dtype=args.dtype, seed=args.seed)
    if args.lockstep:
        fail(args, "--resume continues one twin's checkpoint; it does not combine with "
                   "--lockstep")
    if args.impl == "both":
        fail(args, "--resume continues one checkpoint: pass --impl scratch or --impl torch")
    try:
        return resume_experiment(args.resume, args.experiment, args.impl,
                                 epochs=args.epochs, seed=args.seed, dtype=args.dtype)
    except ResumeRefused as err:
        fail(args, str(err))


def _say_how_to_resume(exp, stop) -> None:
    """After Ctrl-C (`stop`, a TrainingInterrupted): what is on disk and how to go on."""
    if stop.checkpoint is None:
        print(f"\n{stop.impl}: interrupted before the first epoch ended; nothing was saved",
              file=sys.stderr)
    elif stop.epoch is not None:
        print(f"\n{stop.impl}: interrupted; nothing partial was saved, and {stop.checkpoint} "
              f"holds epoch {stop.epoch} of {exp.epochs}. Continue with:\n  twinbench train "
              f"{exp.name} --impl {stop.impl} --resume {stop.checkpoint}", file=sys.stderr)


def _out_dir(args: argparse.Namespace, ensure_writable, runs_root) -> Path:
    """--out, or train/ under the runs directory, proven writable; a refusal of --out
    names --out, not the runs directory's variable."""
    from bench.results.records import ResultsDirError

    if args.out is None:
        return ensure_writable(runs_root() / "train")
    if args.out.exists() and not args.out.is_dir():
        raise ResultsDirError(f"--out {args.out} is a file; expected a directory for the "
                              "checkpoints and histories")
    try:
        return ensure_writable(args.out)
    except ResultsDirError as err:
        why = getattr(err.__cause__, "strerror", None) or err.__cause__ or err
        raise ResultsDirError(f"--out {args.out}: cannot write there: {why}") from err


def _train(args: argparse.Namespace) -> int:
    from bench.compare.lockstep import run_lockstep
    from bench.results.records import ensure_writable, runs_root
    from bench.training import (
        TrainingInterrupted,
        checkpoint_bytes,
        load_data,
        outputs,
        require_space,
        train_twin,
    )
    from scratch.atomic import write_atomic

    exp = _experiment(args)
    out = _out_dir(args, ensure_writable, runs_root)
    impls = ["scratch", "torch"] if args.impl == "both" else [args.impl]
    require_space(out, checkpoint_bytes(exp) * (1 if args.lockstep else len(impls)))
    data = load_data(exp, data_dir=args.data_dir)
    print(f"{exp.name}: {exp.description}\n{len(data.y_train)} training and "
          f"{len(data.y_test)} test images of {exp.dataset}, {exp.dtype}, seed {exp.seed}, "
          f"{_schedule_line(exp)}")
    progress = not args.no_progress

    if args.lockstep:
        report = run_lockstep(exp, data, show_progress=progress, max_steps=args.steps)
        path = outputs(out, exp, "both", exp.seed).lockstep
        write_atomic(path, report.to_json())
        test = (f"test accuracy scratch {report.test_accuracy['scratch']:.2f}%, torch "
                f"{report.test_accuracy['torch']:.2f}%" if report.test_accuracy else
                f"test loss scratch {report.test_loss['scratch']:.6g}, torch "
                f"{report.test_loss['torch']:.6g}")  # a VAE or GAN has no accuracy
        print(f"lockstep, {report.steps} steps: max loss diff {report.max_loss_diff:.3e}, "
              f"max relative weight diff {report.max_weight_rel_diff:.3e} "
              f"({report.worst_tensor}); {test}"
              + (f"; {report.seconds:.0f} s" if hasattr(report, "seconds") else "")
              + f"\nreport: {path}")
        return 0

    for impl in impls:
        try:
            history, paths = train_twin(exp, impl, data, out, resume_from=args.resume,
                                        show_progress=progress)
        except TrainingInterrupted as stop:
            _say_how_to_resume(exp, stop)
            raise
        _print_history(history)
        print(f"checkpoint: {paths.checkpoint}")
    return 0


def add_command(sub) -> None:
    from bench.experiments import EXPERIMENTS

    p = sub.add_parser("train", help="train an experiment with either twin or both",
                       description=__doc__)
    p.add_argument("experiment", choices=sorted(EXPERIMENTS), metavar="EXPERIMENT",
                   help=f"one of {', '.join(sorted(EXPERIMENTS))} (`twinbench experiments` "
                        "says what each is)")
    p.add_argument("--impl", choices=["scratch", "torch", "both"], default="scratch",
                   help="which twin to train (default: scratch)")
    p.add_argument("--epochs", type=positive_int, metavar="N",
                   help="train N epochs instead of the experiment's own number")
    p.add_argument("--dtype", choices=["float32", "float64"],
                   help="floating-point type of weights and inputs (default: the experiment's, "
                        "float32)")
    p.add_argument("--seed", type=non_negative_int, metavar="SEED",
                   help="seed of the initial weights, batch order and dropout masks "
                        "(default: the experiment's, 0)")
    p.add_argument("--lockstep", action="store_true",
                   help="step both twins on identical batches and dropout masks; report drift")
    p.add_argument("--steps", type=positive_int, metavar="N",
                   help="with --lockstep: stop after N steps (the schedule still spans the "
                        "epochs)")
    p.add_argument("--resume", type=Path, metavar="CHECKPOINT",
                   help="continue from a checkpoint of this experiment and --impl")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="where checkpoints and histories go (default: train/ in the runs "
                        "directory: $TWINBENCH_RESULTS, else the checkout's runs/)")
    p.add_argument("--data-dir", metavar="DIR",
                   help="directory holding the four IDX files, if not cached")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_train, parser=p)
