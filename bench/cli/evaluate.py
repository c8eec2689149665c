"""`twinbench eval`: test accuracy, loss and confusion matrix of a training checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path


def _eval(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from bench.experiments import Experiment
    from bench.measure.accuracy import confusion_matrix
    from bench.training import evaluate, load_data, make_runner, read_checkpoint

    weights, meta, history = read_checkpoint(Path(args.checkpoint))
    exp = Experiment(**history.experiment)
    runner = make_runner(meta["impl"], exp)
    runner.load_weights(weights)
    data = load_data(exp, data_dir=args.data_dir)
    loss, acc = evaluate(runner, data.x_test, data.y_test)
    confusion = confusion_matrix(runner, data)
    print(f"{args.checkpoint}: {meta['impl']} {exp.name} after {meta['epoch']} epochs\n"
          f"test accuracy {acc:.2f}%, test loss {loss:.4f}\n\nconfusion matrix "
          "(rows: true class, columns: predicted)")
    print(tabulate([[i, *row] for i, row in enumerate(confusion)],
                   headers=["true \\ pred", *range(10)], tablefmt="github"))
    return 0


def add_command(sub) -> None:
    e = sub.add_parser("eval", help="test accuracy and confusion matrix of a checkpoint")
    e.add_argument("checkpoint")
    e.add_argument("--data-dir")
    e.set_defaults(func=_eval)
