"""`twinbench export CHECKPOINT OUT.onnx`: the model as ONNX, through its torch twin.

The batch dimension is dynamic. Before the file is written, onnxruntime runs it
on the test set's first --check images (1,000 by default) and its logits must
equal scratch's within the float32 tolerance; the largest differences are
printed. Needs the extra `export` (`pip install -e '.[export]'`; `tox -e bench` has it).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.cli.args import fail, non_negative_int
from bench.errors import INPUT_ERRORS, user_error


def _export(args: argparse.Namespace) -> int:
    from bench.compare.onnx import export_checked
    from bench.training.inference import load_twins

    if not args.output.lower().endswith(".onnx"):
        fail(args, f"expected an output file name ending in .onnx, got {args.output}")
    try:
        twins = load_twins(Path(args.checkpoint), args.experiment, data_dir=args.data_dir)
        check = export_checked(twins, args.output, args.check, data_dir=args.data_dir)
    except INPUT_ERRORS as err:
        raise user_error(err) from err
    print(f"{args.output}: {twins.exp.name} ({', '.join(twins.exp.layers)}), "
          "dynamic batch dimension")
    if check is not None:
        print(f"onnxruntime against scratch on the first {check.n} test images: max abs diff "
              f"{check.max_abs_diff:.3e}, max rel diff {check.max_rel_diff:.3e}, "
              f"same prediction on {check.same_predictions}/{check.n}")
    return 0


def add_command(sub) -> None:
    e = sub.add_parser("export", help="export a checkpoint's model to ONNX (checked)",
                       description=__doc__)
    e.add_argument("checkpoint", help="training checkpoint or weights file")
    e.add_argument("output", help="the .onnx file to write")
    e.add_argument("--experiment", help="the experiment, when the weights file does not say")
    e.add_argument("--check", type=non_negative_int, default=1000, metavar="N",
                   help="test images to check the export on before writing (0: none)")
    e.add_argument("--data-dir", metavar="DIR",
                   help="directory holding the four IDX files, if not cached")
    e.set_defaults(func=_export, parser=e)
