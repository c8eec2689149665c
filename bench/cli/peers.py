"""`twinbench peers`: audit the NumPy peers (and scratch, first) through the public twin check.

Every layer, loss and optimizer of numpy-ml, DeZero, MyGrad, micrograd and
tinygrad that has a torch counterpart, in float64 and float32, with a
finite-difference check of the peer's own backward, recorded as `peers-parity`;
`--race` times one MLP through each peer's API instead (`peers-speed`).

The records, their tables and summary.md go to a new run directory (as for
`twinbench bench`); results/ and the README change only with --publish. Install
the peers with `pip install -e '.[peers]'` or run `tox -e peers`.
"""

from __future__ import annotations

import argparse

from bench.cli.args import (
    add_run_options,
    fail,
    non_negative_int,
    positive_int,
    publish_checkout,
    publish_options,
    say_finished,
)


def _record(args: argparse.Namespace, kind: str, payload: dict,
            native: bytes | None = None) -> None:
    """Record `payload` (and pytest-benchmark's `native` JSON beside it) in this command's
    run directory, render it, publish if asked."""
    from bench.results.records import append_record
    from bench.results.report import finish_run

    print(f"record: {append_record(kind, payload, args.run, native=native)}")
    say_finished(finish_run(args.run, publish=args.publish, **publish_options(args),
                            checkout=args.checkout), summary=False)


def _run(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from bench.peers.audit import CASE_MODULES, audit
    from bench.results.records import run_dir

    args.checkout = publish_checkout(args)
    args.run = None if args.no_record else run_dir(args.run_dir, "peers")
    if args.race:
        return _race(args)
    peers = tuple(args.peer) if args.peer else tuple(CASE_MODULES)
    unknown = [p for p in peers if p not in CASE_MODULES]
    if unknown:
        fail(args, f"unknown peer(s) {', '.join(unknown)}; expected any of "
                   f"{', '.join(CASE_MODULES)}")
    rows, versions = audit(peers)
    print(tabulate([{k: r[k] for k in ("peer", "layer", "config", "rel64", "fd", "verdict",
                                       "detail")} for r in rows],
                   headers="keys", tablefmt="github", floatfmt=".2e", missingval="-"))
    if not args.no_record:
        _record(args, "peers-parity", {"rows": rows, "versions": versions, "peers": list(peers)})
    return 0


def _race(args: argparse.Namespace) -> int:
    import torch
    from threadpoolctl import threadpool_limits

    from bench.datasets import load_inputs
    from bench.measure.speed.run import run_race_steps
    from bench.peers.load import available, version
    from bench.peers.race import MODELS, RACES, SLOW, accuracy
    from bench.results.machine import held_threads

    names = tuple(args.peer) if args.peer else tuple(RACES["mlp"])
    unknown = [p for p in names if not any(p in RACES[m] for m in args.model)]
    if unknown:
        fail(args, f"--race: unknown implementation(s) {', '.join(unknown)}; expected any of "
                   f"{', '.join(RACES['mlp'])}")
    missing = [n for n in names if n not in ("scratch", "torch") and not available(n)]
    for name in missing:
        print(f"{name}: not installed, skipped")
    names = tuple(n for n in names if n not in missing)
    data = None
    if args.epochs or args.cnn_epochs:
        x_tr, y_tr = load_inputs("mnist", "train")
        x_te, y_te = load_inputs("mnist", "test")
        data = (x_tr, y_tr, x_te, y_te)
    # every step time in one pytest-benchmark run, before any training
    steps, native = run_race_steps(list(args.model), list(names), list(args.batch),
                                   args.threads, args.rounds)
    rows = []
    with held_threads(args.threads), threadpool_limits(args.threads):
        for model in args.model:
            epochs = args.epochs if model == "mlp" else args.cnn_epochs
            for name in (n for n in names if n in RACES[model]):
                stats = steps[model, name]
                row = {"model": model, "impl": name,
                       "version": {"scratch": "this checkout",
                                   "torch": torch.__version__}.get(name, version(name)),
                       "step_seconds": {str(s["batch"]): s["median"] for s in stats},
                       "step_iqr": {str(s["batch"]): s["iqr"] for s in stats},
                       "rounds": {str(s["batch"]): s["rounds"] for s in stats},
                       "note": SLOW.get((model, name), "")}
                if data is not None and epochs and (model, name) not in SLOW:
                    row.update(accuracy(name, data, epochs=epochs, model=model))
                print(row, flush=True)
                rows.append(row)
    if not args.no_record:
        _record(args, "peers-speed", {"rows": rows, "threads": args.threads,
                                      "rounds": args.rounds, "timer": "pytest-benchmark",
                                      "models": {m: MODELS[m] for m in args.model},
                                      "training": "SGD momentum 0.9, lr 0.05, cross-entropy, "
                                                  "float32, batch 128"},
                native=native)
    return 0


def add_command(sub) -> None:
    p = sub.add_parser("peers", help="audit the NumPy peers' layers against torch",
                       description=__doc__)
    p.add_argument("peer", nargs="*", help="peers to audit (default: all)")
    p.add_argument("--no-record", action="store_true", help="print only; write nothing")
    add_run_options(p)
    p.add_argument("--race", action="store_true",
                   help="the race instead: one MLP through each peer's API, step time and "
                        "MNIST accuracy (records peers-speed)")
    p.add_argument("--batch", type=positive_int, nargs="+", default=[32, 128, 512],
                   help="--race: batch sizes to time (default: 32 128 512)")
    p.add_argument("--rounds", type=positive_int, default=20,
                   help="--race: timed steps per batch size, after 3 warm-up steps")
    p.add_argument("--model", nargs="+", choices=["mlp", "cnn"], default=["mlp", "cnn"],
                   help="--race: the models to race (default: both; the CNN where a peer has "
                        "convolutions)")
    p.add_argument("--epochs", type=non_negative_int, default=5,
                   help="--race: MNIST epochs of the MLP (0: timing only)")
    p.add_argument("--cnn-epochs", type=non_negative_int, default=1,
                   help="--race: MNIST epochs of the CNN (default 1; 0: timing only)")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="BLAS and torch threads, equal")
    p.set_defaults(func=_run, parser=p)
