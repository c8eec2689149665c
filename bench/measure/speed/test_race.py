"""The race's training steps under pytest-benchmark: one benchmark per model,
implementation and batch size (bench.peers.race: the same MLP, and the same CNN where
a peer has convolutions, through each NumPy peer's API, scratch and torch), all in one
run with torch, scratch and the peers pinned to the same thread count: scratch through
`scratch.set_num_threads` (its own pool, and numpy's BLAS: `scratch.parallel`), the NumPy
peers through numpy's BLAS (threadpoolctl), which is all the threading they have.

`run.run_race_steps` sets the cases through the environment and keeps the tool's JSON
beside the record, as for the speed grid. The slow racers (`SLOW`) run 2 rounds after
one warm-up step; micrograd builds a Value per number, so it runs at batch 1 only.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from bench.peers.race import RACES, SIZES, SLOW, initial_weights, input_shape
from bench.results.machine import held_threads


def _cases() -> list[tuple[str, str, int]]:
    models = [m for m in os.environ.get("TWINBENCH_RACE_MODELS", "mlp").split(",") if m]
    impls = [s for s in os.environ.get("TWINBENCH_RACE_IMPLS", "").split(",") if s]
    batches = [int(b) for b in os.environ.get("TWINBENCH_RACE_BATCHES", "32").split(",")]
    return [(model, impl, b) for model in models for impl in impls if impl in RACES[model]
            for b in ((1,) if (model, impl) == ("mlp", "micrograd") else batches)]


@pytest.mark.parametrize("model,impl,batch", _cases(), ids=lambda v: str(v))
def test_race_step(benchmark, model, impl, batch):
    from threadpoolctl import threadpool_limits

    threads = int(os.environ.get("TWINBENCH_RACE_THREADS", "1"))
    rounds = int(os.environ.get("TWINBENCH_RACE_ROUNDS", "20"))
    seed = 0
    benchmark.group = f"race {model} batch={batch} threads={threads}"
    benchmark.extra_info.update(model=model, impl=impl, batch=batch, threads=threads)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(input_shape(model, batch)).astype(np.float32)
    y = rng.integers(0, SIZES[-1], batch)  # (N,)
    # scratch governs BLAS itself (scratch.parallel); a peer has BLAS's threads only
    blas = None if impl == "scratch" else threads
    with held_threads(threads, threads):
        with threadpool_limits(limits=blas, user_api="blas"):
            trainer = RACES[model][impl](initial_weights(seed, model))
            slow = (model, impl) in SLOW
            benchmark.pedantic(trainer.step, args=(x, y), rounds=2 if slow else rounds,
                               warmup_rounds=1 if slow else 3)
