"""`twinbench eval`: test accuracy, loss and confusion matrix of a training checkpoint.

The model is the registry's experiment the checkpoint names (with its epochs, seed
and dtype), checked against the checkpoint's record, and the checkpoint's weights,
optimizer and scheduler state against it, before anything is built or any data
loads; a file that is not such a checkpoint is refused with a message naming it
and the part that is wrong.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.cli.args import fail


def _eval(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from bench.datasets import class_names
    from bench.measure.accuracy import confusion_matrix
    from bench.training import evaluate, load_checkpoint, load_data, make_runner

    path = Path(args.checkpoint)
    if not path.is_file():
        fail(args, f"no such checkpoint file: {path}")
    # Built from the registry's recipe, once the whole checkpoint is checked against it.
    exp, weights, meta, _ = load_checkpoint(path)
    runner = make_runner(meta["impl"], exp)
    runner.load_weights(weights)
    data = load_data(exp, data_dir=args.data_dir)
    loss, acc = evaluate(runner, data.x_test, data.y_test)
    confusion = confusion_matrix(runner, data)
    names = class_names(exp.dataset)
    print(f"{args.checkpoint}: {meta['impl']} {exp.name} after {meta['epoch']} epochs\n"
          f"test accuracy {acc:.2f}%, test loss {loss:.4f}\n\nconfusion matrix "
          "(rows: true class, columns: predicted)")
    print(tabulate([[name, *row] for name, row in zip(names, confusion)],
                   headers=["true \\ pred", *names], tablefmt="github"))
    return 0


def add_command(sub) -> None:
    e = sub.add_parser("eval", help="test accuracy and confusion matrix of a checkpoint",
                       description=__doc__)
    e.add_argument("checkpoint", metavar="CHECKPOINT",
                   help="a .npz checkpoint written by `twinbench train`")
    e.add_argument("--data-dir", metavar="DIR",
                   help="directory holding the four IDX files, if not cached")
    e.set_defaults(func=_eval, parser=e)
