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


def add_command(sub) -> None:
    p = sub.add_parser("peers", help="audit the NumPy peers' layers against torch",
                       description=__doc__)
    p.add_argument("peer", nargs="*", help="peers to audit (default: all)")
    p.add_argument("--no-record", action="store_true", help="print only; write nothing")
    p.set_defaults(func=_run)
