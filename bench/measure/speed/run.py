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
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.results.machine import held_threads
from bench.results.records import append_record

SPEED_DIR = Path(__file__).resolve().parent
STATS = ("median", "iqr", "mean", "stddev", "min", "max", "rounds")


class _CtrlC:
    """A pytest plugin that notes whether the run ended in Ctrl-C (pytest calls the same
    hook for its own `Session.Interrupted`, which stops a run after collection errors)."""

    pressed = False

    def pytest_keyboard_interrupt(self, excinfo) -> None:
        import pytest

        self.pressed = not excinfo.errisinstance(pytest.Session.Interrupted)


def _pytest_benchmark(test_file: str, env: dict[str, str],
                      extra_args: tuple[str, ...] = ()) -> tuple[dict, bytes]:
    """Run one benchmark module of this directory under pytest-benchmark with `env` set;
    returns (its JSON parsed, its JSON as written)."""
    import pytest

    fd, raw = tempfile.mkstemp(prefix="twinbench-speed-", suffix=".json")
    os.close(fd)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    ctrl_c = _CtrlC()
    # The module reads its cases from the environment when imported: one imported before
    # in this process (by a test, or by the caller) would keep that run's cases.
    sys.modules.pop(f"{__package__}.{Path(test_file).stem}", None)
    try:
        code = pytest.main([str(SPEED_DIR / test_file), "-q", "-p", "no:cacheprovider",
                            f"--rootdir={SPEED_DIR}", f"--benchmark-json={raw}",
                            "--benchmark-columns=median,iqr,rounds", "--benchmark-sort=name",
                            *extra_args], plugins=[ctrl_c])
        if ctrl_c.pressed:
            # pytest.main turns Ctrl-C into exit code 2 (as it does a collection error):
            # raise it again, so that the command stops as after any Ctrl-C (exit 130).
            raise KeyboardInterrupt
        if code != 0:
            raise RuntimeError(f"{test_file} failed (pytest exit code {code})")
        native = Path(raw).read_bytes()
        return json.loads(native), native
    finally:
        Path(raw).unlink(missing_ok=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _stats(benchmark: dict) -> dict:
    return {**benchmark["extra_info"], "group": benchmark["group"],
            **{s: benchmark["stats"][s] for s in STATS}}


def run_speed_suite(grid: str, results_dir: Path, budget_s: float = 0.4,
                    extra_args: tuple[str, ...] = ()) -> Path:
    """Time the `grid` cases and append a "speed" record to `results_dir`; returns its path."""
    data, native = _pytest_benchmark(
        "test_speed.py", {"TWINBENCH_GRID": grid, "TWINBENCH_BUDGET_S": str(budget_s)},
        extra_args)
    benchmarks = [_stats(b) for b in data["benchmarks"]]
    return append_record("speed", {"grid": grid, "budget_s": budget_s,
                                   "benchmarks": benchmarks}, results_dir, native=native)


def run_race_steps(models: list[str], impls: list[str], batches: list[int], threads: int,
                   rounds: int, extra_args: tuple[str, ...] = ()
                   ) -> tuple[dict[tuple[str, str], list[dict]], bytes]:
    """The race's training steps (test_race.py) in one pytest-benchmark run: per (model,
    implementation), its benchmarks' stats (batch, median, iqr, ...); and the tool's JSON."""
    data, native = _pytest_benchmark("test_race.py", {
        "TWINBENCH_RACE_MODELS": ",".join(models), "TWINBENCH_RACE_IMPLS": ",".join(impls),
        "TWINBENCH_RACE_BATCHES": ",".join(str(b) for b in batches),
        "TWINBENCH_RACE_THREADS": str(threads), "TWINBENCH_RACE_ROUNDS": str(rounds)},
        extra_args)
    out: dict[tuple[str, str], list[dict]] = {}
    for b in data["benchmarks"]:
        out.setdefault((b["extra_info"]["model"], b["extra_info"]["impl"]), []).append(_stats(b))
    return out, native


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
    for threads in sorted({1, os.cpu_count() or 1}):
        with held_threads(threads), threadpool_limits(limits=threads, user_api="blas"):
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
    return append_record("ceiling", {"matmul": rows}, results_dir)
