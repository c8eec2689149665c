"""`twinbench train`: train an experiment with either twin or both; a checkpoint per epoch.

With --lockstep both twins step on identical batches and dropout masks and the
run reports how far they drift; --resume continues a checkpoint.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

DEFAULT_OUT = "runs"


def _print_history(history) -> None:
    from tabulate import tabulate

    rows = [asdict(e) for e in history.epochs]
    print(f"\n{history.impl}: {history.experiment['name']}")
    print(tabulate(rows, headers="keys", floatfmt=".4g", tablefmt="github"))


def _train(args: argparse.Namespace) -> int:
    from bench.compare.lockstep import run_lockstep
    from bench.experiments import get_experiment
    from bench.results.atomic import write_atomic
    from bench.training import fit, load_data, make_runner, resume

    exp = get_experiment(args.experiment).with_overrides(
        epochs=args.epochs, dtype=args.dtype, seed=args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_data(exp, data_dir=args.data_dir)
    print(f"{exp.name}: {exp.description}\n{len(data.y_train)} training and "
          f"{len(data.y_test)} test images of {exp.dataset}, {exp.dtype}, seed {exp.seed}")
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
    if args.resume and len(impls) != 1:
        raise SystemExit("--resume continues one checkpoint: pass --impl scratch or torch")
    for impl in impls:
        ckpt = out / f"{exp.name}-{impl}.npz"
        if args.resume:
            runner, start, history = resume(Path(args.resume), exp)
            if runner.impl != impl:
                raise SystemExit(f"{args.resume} holds a {runner.impl} run, not {impl}")
        else:
            runner, start, history = make_runner(impl, exp), 0, None
        history = fit(runner, data, start_epoch=start, history=history, checkpoint=ckpt,
                      show_progress=progress)
        write_atomic(out / f"{exp.name}-{impl}.json", history.to_json())
        _print_history(history)
        print(f"checkpoint: {ckpt}")
    return 0


def add_command(sub) -> None:
    from bench.experiments import EXPERIMENTS

    p = sub.add_parser("train", help="train an experiment with either twin or both",
                       description="Train EXPERIMENT; writes a checkpoint and a JSON history.")
    p.add_argument("experiment", choices=sorted(EXPERIMENTS), metavar="EXPERIMENT",
                   help=f"one of {', '.join(sorted(EXPERIMENTS))}")
    p.add_argument("--impl", choices=["scratch", "torch", "both"], default="scratch")
    p.add_argument("--epochs", type=int)
    p.add_argument("--dtype", choices=["float32", "float64"])
    p.add_argument("--seed", type=int)
    p.add_argument("--lockstep", action="store_true",
                   help="step both twins on identical batches and dropout masks; report drift")
    p.add_argument("--resume", metavar="CHECKPOINT", help="continue from a checkpoint")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    p.add_argument("--data-dir", help="directory holding the four IDX files, if not cached")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_train)
