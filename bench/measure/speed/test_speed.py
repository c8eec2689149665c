"""Forward, backward and training step of each twin over the grid (see grid.py).

Each benchmark pins torch (`torch.set_num_threads`) and scratch (`scratch.set_num_threads`,
which also governs numpy's BLAS: `scratch.parallel`) to the case's thread count, so that "threads"
means the same for both twins: all the cores either twin may use; calibrates its number
of rounds to a time budget, and attaches the case's parameters and analytic FLOPs as
extra_info for the report.
"""

from __future__ import annotations

import math
import os
import time

import pytest

from bench.measure.speed.grid import cases
from bench.measure.speed.workloads import OPS, make_workload, train_flops
from bench.results.machine import held_threads

BUDGET_S = float(os.environ.get("TWINBENCH_BUDGET_S", "0.4"))  # timed seconds per benchmark


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.id)
def test_speed(benchmark, case):

    benchmark.group = case.group
    benchmark.extra_info.update(arch=case.arch, batch=case.batch, dtype=case.dtype,
                                threads=case.threads, phase=case.phase, impl=case.impl,
                                unit="operation" if case.arch in OPS else "network",
                                flops=train_flops(case.arch, case.batch) * _share(case))
    with held_threads(case.threads, case.threads):
        w = make_workload(case.arch, case.impl, case.batch, case.dtype)
        target = getattr(w, case.phase)
        setup = w.prepare_backward if case.phase == "backward" else None
        if setup:
            setup()
        start = time.perf_counter()
        target()  # warm-up, and a first estimate of the cost
        once = time.perf_counter() - start
        rounds = max(5, min(1000, math.ceil(BUDGET_S / max(once, 1e-6))))
        benchmark.pedantic(target, setup=setup, rounds=rounds, warmup_rounds=1)


def _share(case) -> float:
    """The part of train_flops one phase does: the forward pass a third, the backward
    (two matmuls for each one forward) two thirds, the whole step all of it."""
    return {"forward": 1 / 3, "backward": 2 / 3}.get(case.phase, 1.0)
