"""`twinbench predict CHECKPOINT IMAGE...`: the top 3 classes for pictures, both twins.

Each picture (PNG, JPEG, any size, colour or polarity) is prepared as the
training images were (`bench.datasets.images`: grey, light ink on black, fitted
and centred by mass in 28x28), then standardised as the experiment's data.
A picture that cannot be used gets one line naming why; the others are still
classified, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench.errors import INPUT_ERRORS, user_error

TOP = 3


def _predict(args: argparse.Namespace) -> int:
    from bench.datasets.images import load_image
    from bench.training.inference import load_twins, top_k

    try:
        twins = load_twins(Path(args.checkpoint), args.experiment, data_dir=args.data_dir)
    except INPUT_ERRORS as err:
        raise user_error(err) from err
    names = twins.class_names
    status = 0
    for path in args.images:
        try:
            if not os.path.lexists(path):  # else Pillow's reader would call it unreadable
                raise FileNotFoundError(f"{path}: no such file; expected a PNG or JPEG picture")
            image = load_image(path, box=twins.box)  # uint8 (28, 28)
        except INPUT_ERRORS as err:  # this picture only: the others are still classified
            print(f"twinbench predict: {err}", file=sys.stderr)
            status = 1
            continue
        p_scratch, p_torch = (p[0] for p in twins.probabilities(twins.inputs(image[None])))
        diff = float(abs(p_scratch - p_torch).max())
        print(f"{path}: {twins.exp.name}, largest scratch/torch difference {diff:.1e}")
        for rank, (i, j) in enumerate(zip(top_k(p_scratch, TOP), top_k(p_torch, TOP)), 1):
            print(f"  {rank}. scratch {names[i]:>12} {100 * p_scratch[i]:6.2f}%   "
                  f"torch {names[j]:>12} {100 * p_torch[j]:6.2f}%")
    return status


def add_command(sub) -> None:
    p = sub.add_parser("predict", help="classify PNG/JPEG pictures with both twins",
                       description=__doc__)
    p.add_argument("checkpoint", help="training checkpoint or weights file")
    p.add_argument("images", nargs="+", metavar="IMAGE",
                   help="PNG or JPEG pictures, any size, colour or polarity")
    p.add_argument("--experiment", help="the experiment, when the weights file does not say")
    p.add_argument("--data-dir", metavar="DIR",
                   help="directory holding the four IDX files, if not cached (the "
                        "experiment's input standardisation is computed from them)")
    p.set_defaults(func=_predict, parser=p)
