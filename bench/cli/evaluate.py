"""`twinbench eval`: test accuracy, loss and confusion matrix of a checkpoint or weights file.

A training checkpoint (from `twinbench train`) is evaluated with the twin it
trained: the model is the registry's experiment the checkpoint names (with its
epochs, seed and dtype), checked against the checkpoint's record, and the
checkpoint's weights, optimizer and scheduler state against it, before anything
is built or any data loads. Any other weights file `predict` takes (.npz,
.safetensors, torch's .pt; --experiment names its model when the file does not)
is evaluated with both twins holding its weights. A file that is neither is
refused with a message naming it and the part that is wrong.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.cli.args import fail
from bench.errors import INPUT_ERRORS, user_error


def _models(args: argparse.Namespace, path: Path):
    """(experiment, [(twin, runner holding the weights)], what the file is)."""
    from bench.training import load_checkpoint, make_runner
    from bench.training.checkpoint import is_training_checkpoint, read_weights_file

    if is_training_checkpoint(path):
        # Built from the registry's recipe, once the whole checkpoint is checked against it.
        exp, weights, meta, _ = load_checkpoint(path)
        runner = make_runner(meta["impl"], exp)
        runner.load_weights(weights)
        return exp, [(meta["impl"], runner)], f"after {meta['epoch']} epochs"
    try:
        exp, weights = read_weights_file(path, args.experiment)
    except INPUT_ERRORS as err:
        raise user_error(err) from err
    runners = []
    for impl in ("scratch", "torch"):
        runner = make_runner(impl, exp)
        runner.load_weights(weights)
        runners.append((impl, runner))
    return exp, runners, "weights file"


def _eval(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from bench.datasets import class_names
    from bench.measure.accuracy import confusion_matrix
    from bench.training import evaluate, load_data

    path = Path(args.checkpoint)
    if not path.is_file():
        fail(args, f"no such checkpoint file: {path}")
    exp, runners, what = _models(args, path)
    data = load_data(exp, data_dir=args.data_dir)
    if exp.objective is not None:  # a VAE or GAN: its test losses, no classes
        from bench.training.generative import evaluate_generative

        for impl, runner in runners:
            losses = ", ".join(f"{k} {v:.4f}" for k, v in
                               evaluate_generative(runner, data.x_test).items())
            print(f"{impl} {exp.name} ({what}): {losses}")
        return 0
    names = class_names(exp.dataset)
    for impl, runner in runners:
        loss, acc = evaluate(runner, data.x_test, data.y_test)
        confusion = confusion_matrix(runner, data)
        print(f"{args.checkpoint}: {impl} {exp.name} ({what})\n"
              f"test accuracy {acc:.2f}%, test loss {loss:.4f}\n\nconfusion matrix "
              "(rows: true class, columns: predicted)")
        print(tabulate([[name, *row] for name, row in zip(names, confusion)],
                       headers=["true \\ pred", *names], tablefmt="github"))
    return 0


def add_command(sub) -> None:
    e = sub.add_parser("eval", help="test accuracy and confusion matrix of a checkpoint",
                       description=__doc__)
    e.add_argument("checkpoint", metavar="CHECKPOINT",
                   help="a checkpoint written by `twinbench train`, or a weights file "
                        "(.npz, .safetensors, .pt) as `predict` takes")
    e.add_argument("--experiment",
                   help="the experiment of a weights file that does not name one")
    e.add_argument("--data-dir", metavar="DIR",
                   help="directory holding the four IDX files, if not cached")
    e.set_defaults(func=_eval, parser=e)
