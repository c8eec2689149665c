"""`twinbench parity`: the largest scratch/torch difference per component and dtype.

Every case of the parity catalogue (bench.compare.catalogue) at each batch size,
in float32 and float64, with scratch's finite-difference error beside it; exits 1
if any component/dtype pair exceeds its tolerance.
"""

from __future__ import annotations

import argparse

from bench.cli.args import non_negative_int, positive_int


def _run(args: argparse.Namespace) -> int:
    import torch
    from tabulate import tabulate

    from bench.compare.catalogue import parity_table

    torch.set_num_threads(1)  # deterministic reductions, same as numpy's single pass
    rows = parity_table(batches=tuple(args.batch), seed=args.seed)
    print(f"scratch vs torch {torch.__version__}, batches {args.batch}, seed {args.seed}; "
          "rel diff = max|scratch - torch| / max|torch|")
    print(tabulate(rows, headers="keys", floatfmt=".2e", tablefmt="github"))
    failed = [r for r in rows if r["within tolerance"] != "yes"]
    if failed:
        print(f"{len(failed)} component/dtype pairs exceed tolerance")
        return 1
    return 0


def add_command(sub) -> None:
    p = sub.add_parser("parity", help="largest scratch/torch difference per component and dtype",
                       description=__doc__)
    p.add_argument("--batch", type=positive_int, nargs="+", default=[1, 64], metavar="N",
                   help="batch sizes to try (default: 1 64)")
    p.add_argument("--seed", type=non_negative_int, default=0, metavar="SEED",
                   help="seed of the random inputs and weights (default: 0)")
    p.set_defaults(func=_run, parser=p)
