"""The race's training steps under pytest-benchmark: one benchmark per implementation
and batch size (bench.peers.race: the same MLP through each NumPy peer's API, scratch
and torch), all in one run with BLAS and torch pinned to the same thread count.

`run.run_race_steps` sets the cases through the environment and keeps the tool's JSON
beside the record, as for the speed grid. micrograd builds a Value per number, so it
runs at batch 1 only, for 2 rounds.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from bench.peers.race import SIZES, TRAINERS, initial_weights

SCALAR = ("micrograd",)


def _cases() -> list[tuple[str, int]]:
    impls = [s for s in os.environ.get("TWINBENCH_RACE_IMPLS", "").split(",") if s]
    batches = [int(b) for b in os.environ.get("TWINBENCH_RACE_BATCHES", "32").split(",")]
    return [(impl, b) for impl in impls for b in ((1,) if impl in SCALAR else batches)]


@pytest.mark.parametrize("impl,batch", _cases(), ids=lambda v: str(v))
def test_race_step(benchmark, impl, batch):
    import torch
    from threadpoolctl import threadpool_limits

    threads = int(os.environ.get("TWINBENCH_RACE_THREADS", "1"))
    rounds = int(os.environ.get("TWINBENCH_RACE_ROUNDS", "20"))
    seed = 0
    benchmark.group = f"race batch={batch} threads={threads}"
    benchmark.extra_info.update(impl=impl, batch=batch, threads=threads)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, SIZES[0])).astype(np.float32)  # (N, 784)
    y = rng.integers(0, SIZES[-1], batch)  # (N,)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads, user_api="blas"):
            trainer = TRAINERS[impl](initial_weights(seed))
            scalar = impl in SCALAR
            benchmark.pedantic(trainer.step, args=(x, y), rounds=2 if scalar else rounds,
                               warmup_rounds=1 if scalar else 3)
    finally:
        torch.set_num_threads(before)
