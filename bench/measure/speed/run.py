"""Run the speed suite under pytest-benchmark and keep its results as a record.

pytest-benchmark writes its JSON to a temporary file; the benchmarks' stats
and parameters are appended as one record of kind "speed", and the tool's own
JSON is kept beside the record (`records.companion`), so that
`pytest-benchmark compare A.benchmark.json B.benchmark.json` (and its
`--histogram`) works on any two runs. Also measures the machine's matmul ceiling.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.results.records import append_record

SPEED_DIR = Path(__file__).resolve().parent
STATS = ("median", "iqr", "mean", "stddev", "min", "max", "rounds")


def run_speed_suite(grid: str, results_dir: Path, budget_s: float = 0.4,
                    extra_args: tuple[str, ...] = ()) -> Path:
    """Time the `grid` cases and append a "speed" record to `results_dir`; returns its path."""
    import pytest

    fd, raw = tempfile.mkstemp(prefix="twinbench-speed-", suffix=".json")
    os.close(fd)
    env = {"TWINBENCH_GRID": grid, "TWINBENCH_BUDGET_S": str(budget_s)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        code = pytest.main([str(SPEED_DIR), "-q", "-p", "no:cacheprovider",
                            f"--rootdir={SPEED_DIR}", f"--benchmark-json={raw}",
                            "--benchmark-columns=median,iqr,rounds", "--benchmark-sort=name",
                            *extra_args])
        if code != 0:
            raise RuntimeError(f"the speed suite failed (pytest exit code {code})")
        native = Path(raw).read_bytes()
        data = json.loads(native)
    finally:
        Path(raw).unlink(missing_ok=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    benchmarks = [{**b["extra_info"], "group": b["group"],
                   **{s: b["stats"][s] for s in STATS}} for b in data["benchmarks"]]
    return append_record("speed", {"grid": grid, "budget_s": budget_s,
                                   "benchmarks": benchmarks}, results_dir, native=native)


def _best_seconds(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def measure_ceiling(results_dir: Path, n: int = 2048, repeats: int = 7) -> Path:
    """numpy and torch (n x n) @ (n x n) GFLOP/s, float32 and float64, 1 thread and all."""
    import torch
    from threadpoolctl import threadpool_limits

    rows = []
    before = torch.get_num_threads()
    for threads in sorted({1, os.cpu_count() or 1}):
        torch.set_num_threads(threads)
        with threadpool_limits(limits=threads, user_api="blas"):
            for dtype in ("float32", "float64"):
                a = np.random.default_rng(0).standard_normal((n, n)).astype(dtype)
                b = a.T.copy()
                ta, tb = torch.from_numpy(a), torch.from_numpy(b)
                flops = 2.0 * n**3
                pairs = (("numpy", np.matmul, a, b), ("torch", torch.matmul, ta, tb))
                for lib, matmul, x, y in pairs:
                    sec = _best_seconds(functools.partial(matmul, x, y), repeats)
                    rows.append({"library": lib, "dtype": dtype, "threads": threads, "n": n,
                                 "median_s": sec, "gflops": flops / sec / 1e9})
    torch.set_num_threads(before)
    return append_record("ceiling", {"matmul": rows}, results_dir)
