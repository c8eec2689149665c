"""`twinbench train`: train an experiment with either twin or both; a checkpoint per epoch.

With --lockstep both twins step on identical batches and dropout masks and the
run reports how far they drift; --resume continues a checkpoint. Checkpoints
and histories go to --out (default: train/ under the runs directory, the
checkout's runs/ or $TWINBENCH_RESULTS).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path

from bench.cli.args import fail, non_negative_int, positive_int


def _print_history(history) -> None:
    from tabulate import tabulate

    rows = [asdict(e) for e in history.epochs]
    print(f"\n{history.impl}: {history.experiment['name']}")
    print(tabulate(rows, headers="keys", floatfmt=".4g", tablefmt="github"))


def _check_resume(args: argparse.Namespace):
    """The experiment to continue from --resume's checkpoint, refusing one that cannot
    continue this run, before any data loads.

    The run keeps the checkpoint's experiment, seed and dtype; --seed or --dtype that
    differ are refused, not ignored, and --epochs may extend the run unless its
    schedule spans the epochs (a cosine schedule's T_max).
    """
    from bench.training import checkpoint_experiment, read_checkpoint

    if args.lockstep:
        fail(args, "--resume continues one twin's checkpoint; it does not combine with "
                   "--lockstep")
    if args.impl == "both":
        fail(args, "--resume continues one checkpoint: pass --impl scratch or --impl torch")
    path = Path(args.resume)
    if not path.is_file():
        fail(args, f"--resume {path}: no such checkpoint file")
    _, meta, history = read_checkpoint(path)
    if meta["impl"] != args.impl:
        fail(args, f"--resume {path} holds a {meta['impl']} run, not {args.impl}: pass "
                   f"--impl {meta['impl']}")
    recorded = history.experiment.get("name")
    if recorded != args.experiment:
        fail(args, f"--resume {path} is a checkpoint of {recorded!r}, not "
                   f"{args.experiment!r}: pass {recorded!r}, or start {args.experiment!r} "
                   "afresh without --resume")
    exp = checkpoint_experiment(path, history)
    for option, value in (("seed", args.seed), ("dtype", args.dtype)):
        if value is not None and value != getattr(exp, option):
            fail(args, f"--resume {path} was trained with --{option} {getattr(exp, option)}, "
                       f"not {value}: a resumed run keeps its {option} (leave --{option} out)")
    if args.epochs is not None and args.epochs != exp.epochs:
        longer = exp.with_overrides(epochs=args.epochs)
        if longer.schedule_args != exp.schedule_args:
            fail(args, f"--resume {path}: its {exp.schedule} schedule spans the run's "
                       f"{exp.epochs} epochs ({exp.schedule_args}), so the run cannot change "
                       f"to --epochs {args.epochs}; leave --epochs out, or start afresh")
        exp = longer
    if int(meta["epoch"]) >= exp.epochs:
        fail(args, f"--resume {path} has already trained {meta['epoch']} of {exp.epochs} "
                   f"epochs: pass --epochs above {meta['epoch']} to continue")
    return exp


def _schedule_line(exp) -> str:
    if exp.schedule is None:
        return "constant learning rate"
    args = ", ".join(f"{k}={v}" for k, v in exp.schedule_args.items())
    return f"schedule {exp.schedule}({args}) over {exp.epochs} epochs"


def _train(args: argparse.Namespace) -> int:
    from bench.compare.lockstep import run_lockstep
    from bench.experiments import get_experiment
    from bench.results.atomic import write_atomic
    from bench.results.records import ensure_writable, runs_root
    from bench.training import fit, load_data, make_runner, resume

    if args.resume:
        exp = _check_resume(args)
    else:
        exp = get_experiment(args.experiment).with_overrides(
            epochs=args.epochs, dtype=args.dtype, seed=args.seed)
    out = ensure_writable(Path(args.out) if args.out else runs_root() / "train")
    data = load_data(exp, data_dir=args.data_dir)
    print(f"{exp.name}: {exp.description}\n{len(data.y_train)} training and "
          f"{len(data.y_test)} test images of {exp.dataset}, {exp.dtype}, seed {exp.seed}, "
          f"{_schedule_line(exp)}")
    progress = not args.no_progress

    if args.lockstep:
        report = run_lockstep(exp, data, show_progress=progress)
        path = out / f"{exp.name}-lockstep-{exp.dtype}.json"
        write_atomic(path, report.to_json())
        print(f"lockstep, {report.steps} steps: max loss diff {report.max_loss_diff:.3e}, "
              f"max relative weight diff {report.max_weight_rel_diff:.3e} "
              f"({report.worst_tensor}); test accuracy scratch "
              f"{report.test_accuracy['scratch']:.2f}%, torch {report.test_accuracy['torch']:.2f}%"
              f"\nreport: {path}")
        return 0

    impls = ["scratch", "torch"] if args.impl == "both" else [args.impl]
    for impl in impls:
        ckpt = out / f"{exp.name}-{impl}.npz"
        if args.resume:
            runner, start, history = resume(Path(args.resume), exp)
        else:
            runner, start, history = make_runner(impl, exp), 0, None
        began = time.time()
        try:
            history = fit(runner, data, start_epoch=start, history=history, checkpoint=ckpt,
                          show_progress=progress)
        except KeyboardInterrupt:
            _say_how_to_resume(exp, impl, ckpt, began, args.resume)
            raise
        write_atomic(out / f"{exp.name}-{impl}.json", history.to_json())
        _print_history(history)
        print(f"checkpoint: {ckpt}")
    return 0


def _say_how_to_resume(exp, impl: str, ckpt: Path, began: float, resumed: str | None) -> None:
    """After Ctrl-C: nothing partial was saved; say what the checkpoint holds and how to go on."""
    import sys

    from bench.training import CheckpointError, read_checkpoint

    if ckpt.is_file() and ckpt.stat().st_mtime >= began:
        where = ckpt
    elif resumed:
        where = Path(resumed)
    else:
        print(f"\n{impl}: interrupted before the first epoch ended; nothing was saved",
              file=sys.stderr)
        return
    try:
        epoch = read_checkpoint(where)[1]["epoch"]
    except CheckpointError:
        return
    print(f"\n{impl}: interrupted; nothing partial was saved, and {where} holds epoch {epoch} "
          f"of {exp.epochs}. Continue with:\n  twinbench train {exp.name} --impl {impl} "
          f"--resume {where}", file=sys.stderr)


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
    p.add_argument("--resume", metavar="CHECKPOINT",
                   help="continue from a checkpoint of this experiment and --impl")
    p.add_argument("--out", metavar="DIR",
                   help="where checkpoints and histories go (default: train/ in the runs "
                        "directory: $TWINBENCH_RESULTS, else the checkout's runs/)")
    p.add_argument("--data-dir", metavar="DIR",
                   help="directory holding the four IDX files, if not cached")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_train, parser=p)
