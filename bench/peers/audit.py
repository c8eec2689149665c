"""The audit: every case of every installed peer through the public twin check.

`audit()` returns one row per case (peer, version, kind, layer, configuration,
largest relative difference against torch in float64 and float32, the
finite-difference error of the peer's own backward, verdict, first tensor that
disagrees); `twinbench peers` appends them as a `peers-parity` record, and
`twinbench report` builds `results/peers-parity.md` and docs/check.md's table from it.
scratch's rows come first, through the same check.
"""

from __future__ import annotations

import importlib
import math
import warnings

import numpy as np

from bench.peers.case import PeerCase
from bench.peers.load import SHIMS, available, version
from bench.results.machine import held_threads

# Module of cases per peer, in the table's order.
CASE_MODULES = {"scratch": "cases_scratch", "numpy-ml": "cases_numpy_ml",
                "dezero": "cases_dezero", "mygrad": "cases_mygrad",
                "micrograd": "cases_micrograd", "tinygrad": "cases_tinygrad"}


def peer_cases(peer: str) -> list[PeerCase]:
    return importlib.import_module(f"bench.peers.{CASE_MODULES[peer]}").cases()


def _fmt(x: float) -> float | None:
    return None if x is None or math.isnan(x) else float(x)


def run_case(case: PeerCase, peer_version: str) -> dict:
    row = {"peer": case.peer, "version": peer_version, "kind": case.kind, "layer": case.name,
           "config": case.config, "shim": SHIMS.get(case.peer, ""), "note": case.note}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = case.run()
    except Exception as err:  # a case that cannot run is a row, not a crash
        return {**row, "verdict": "error", "detail": f"{type(err).__name__}: {err}"[:300],
                "rel64": None, "rel32": None, "fd": None}
    bad = report.first_failure
    return {**row, "verdict": "agrees" if bad is None else "differs",
            "detail": "" if bad is None else (f"{bad.tensor} ({bad.dtype}): max rel diff "
                                              f"{bad.max_rel:.2e}" + (f", {bad.note}"
                                                                      if bad.note else "")),
            "rel64": _fmt(report.max_rel("float64")), "rel32": _fmt(report.max_rel("float32")),
            "fd": _fmt(report.max_rel("float64", finite_difference=True))}


def audit(peers: tuple[str, ...] = tuple(CASE_MODULES)) -> tuple[list[dict], dict[str, str]]:
    """(rows, versions) for the `peers` that import; a peer that does not is one row saying so."""
    np.seterr(all="ignore")
    rows, versions = [], {}
    with held_threads(1):  # torch on one thread: its reductions in one order, as numpy's
        for peer in peers:
            versions[peer] = "this checkout" if peer == "scratch" else version(peer)
            if peer != "scratch" and not available(peer):
                rows.append({"peer": peer, "version": versions[peer], "kind": "-",
                             "layer": "-", "config": "-", "shim": SHIMS.get(peer, ""),
                             "note": "", "verdict": "not importable", "detail": "",
                             "rel64": None, "rel32": None, "fd": None})
                continue
            rows += [run_case(c, versions[peer]) for c in peer_cases(peer)]
    return rows, versions
