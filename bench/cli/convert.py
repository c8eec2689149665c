"""`twinbench convert IN OUT`: model weights between .npz, .safetensors and torch's .pt.

IN is a training checkpoint or a weights file of any of the three formats; OUT
gets the model's state dict in the format its suffix names, the one torch's
`load_state_dict` takes (`torch.load(OUT, weights_only=True)` for .pt,
`safetensors.torch.load_file` for .safetensors). When the experiment is known
(from IN, or --experiment) the weights are checked against its model first,
and a .safetensors OUT records it, so `predict`, `export` and `demo` need no
--experiment for it. OUT may not be IN, and a training checkpoint is overwritten by
bare weights only with --force.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.errors import INPUT_ERRORS, user_error


def _convert(args: argparse.Namespace) -> int:
    from bench.training.checkpoint import read_weights_file, write_weights_file
    from bench.training.inference import check_fits

    try:
        exp, weights = read_weights_file(Path(args.input), args.experiment, required=False)
        if exp is not None:
            check_fits(exp, weights, args.input)
        write_weights_file(Path(args.output), weights, exp, source=Path(args.input),
                           force=args.force)
    except INPUT_ERRORS as err:
        raise user_error(err) from err
    what = f"experiment {exp.name}" if exp is not None else "experiment not recorded"
    print(f"{args.output}: {len(weights)} tensors from {args.input} ({what})")
    return 0


def add_command(sub) -> None:
    c = sub.add_parser("convert", help="convert model weights between .npz, .safetensors, .pt",
                       description=__doc__)
    c.add_argument("input", metavar="IN", help="training checkpoint or weights file")
    c.add_argument("output", metavar="OUT", help="file to write: .npz, .safetensors or .pt")
    c.add_argument("--experiment", help="the experiment the weights are for, when IN does "
                   "not say (a .pt or .npz state dict)")
    c.add_argument("--force", action="store_true",
                   help="overwrite OUT even if it holds a training checkpoint (its history "
                        "and optimizer state are lost)")
    c.set_defaults(func=_convert, parser=c)
