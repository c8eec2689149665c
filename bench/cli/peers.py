"""`twinbench peers`: audit the NumPy peers (and scratch, first) through the public twin check.

Every layer, loss and optimizer of numpy-ml, DeZero, MyGrad, micrograd and
tinygrad that has a torch counterpart, in float64 and float32, with a
finite-difference check of the peer's own backward. Appends a `peers-parity`
record and rebuilds the tables (`results/peers-parity.md`, the README). Install
the peers with `pip install twinbench[peers]` or run `tox -e peers`.
"""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from bench.peers.audit import CASE_MODULES, audit
    from bench.results.records import append_record
    from bench.results.report import report

    if args.race:
        return _race(args)
    peers = tuple(args.peer) if args.peer else tuple(CASE_MODULES)
    unknown = [p for p in peers if p not in CASE_MODULES]
    if unknown:
        print(f"twinbench peers: unknown peer(s) {unknown}; known: {list(CASE_MODULES)}")
        return 2
    rows, versions = audit(peers)
    print(tabulate([{k: r[k] for k in ("peer", "layer", "config", "rel64", "fd", "verdict",
                                       "detail")} for r in rows],
                   headers="keys", tablefmt="github", floatfmt=".2e", missingval="-"))
    if not args.no_record:
        path = append_record("peers-parity", {"rows": rows, "versions": versions,
                                              "peers": list(peers)})
        print(f"record: {path}")
        report(check=False)
    return 0


def _race(args: argparse.Namespace) -> int:
    import torch
    from threadpoolctl import threadpool_limits

    from bench.datasets import load_inputs
    from bench.peers.load import available, version
    from bench.peers.race import TRAINERS, accuracy, step_times
    from bench.results.records import append_record
    from bench.results.report import report

    names = tuple(args.peer) if args.peer else tuple(TRAINERS)
    unknown = [p for p in names if p not in TRAINERS]
    if unknown:
        print(f"twinbench peers --race: unknown {unknown}; known: {list(TRAINERS)}")
        return 2
    torch.set_num_threads(args.threads)
    data = None
    if args.epochs:
        x_tr, y_tr = load_inputs("mnist", "train")
        x_te, y_te = load_inputs("mnist", "test")
        data = (x_tr, y_tr, x_te, y_te)
    rows = []
    with threadpool_limits(args.threads):
        for name in names:
            if name not in ("scratch", "torch") and not available(name):
                print(f"{name}: not installed, skipped")
                continue
            scalar = name == "micrograd"  # a Value per number: batch 1, a few rounds
            times = step_times(name, batches=(1,) if scalar else tuple(args.batch),
                               rounds=2 if scalar else args.rounds, warmup=1 if scalar else 3)
            row = {"impl": name, "version": {"scratch": "this checkout",
                                             "torch": torch.__version__}.get(name, version(name)),
                   "step_seconds": {str(b): t for b, t in times.items()}}
            if data is not None and not scalar:
                row.update(accuracy(name, data, epochs=args.epochs))
            print(row, flush=True)
            rows.append(row)
    append_record("peers-speed", {"rows": rows, "threads": args.threads, "rounds": args.rounds,
                                  "model": "MLP 784-512-256-10 ReLU, SGD momentum 0.9, "
                                           "lr 0.05, cross-entropy, float32"})
    report(check=False)
    return 0


def add_command(sub) -> None:
    p = sub.add_parser("peers", help="audit the NumPy peers' layers against torch",
                       description=__doc__)
    p.add_argument("peer", nargs="*", help="peers to audit (default: all)")
    p.add_argument("--no-record", action="store_true", help="print only; write nothing")
    p.add_argument("--race", action="store_true",
                   help="the race instead: one MLP through each peer's API, step time and "
                        "MNIST accuracy (records peers-speed)")
    p.add_argument("--batch", type=int, nargs="+", default=[32, 128, 512])
    p.add_argument("--rounds", type=int, default=10, help="timed steps per batch size")
    p.add_argument("--epochs", type=int, default=5, help="MNIST epochs (0: timing only)")
    p.add_argument("--threads", type=int, default=1, help="BLAS and torch threads, equal")
    p.set_defaults(func=_run)
