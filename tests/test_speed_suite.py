"""The speed suite runs (each case once in the smoke grid) and lands in a record and tables.

It measures and reports; nothing here asserts anything about speed.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import scratch
from bench.measure.speed import grid
from bench.measure.speed.run import SPEED_DIR, measure_ceiling, run_speed_suite
from bench.measure.speed.workloads import OpWorkload, Workload, train_flops
from bench.results import report, tables
from bench.results.records import companion, load_records, record_files


def test_plain_pytest_runs_each_case_once(tmp_path):
    env = {**os.environ, "TWINBENCH_GRID": "smoke"}
    # Run from elsewhere: `python -m` puts the working directory first on sys.path, and
    # from the checkout it would import the checkout's bench beside an installed SPEED_DIR.
    out = subprocess.run([sys.executable, "-m", "pytest", str(SPEED_DIR), "-q",
                          "--benchmark-disable", "-p", "no:cacheprovider",
                          f"--rootdir={SPEED_DIR}"],
                         capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert f"{len(grid.cases('smoke'))} passed" in out.stdout


def test_grids_cover_what_the_issue_asks():
    default, full = grid.cases("default"), grid.cases("full")
    assert {c.batch for c in default} == {1, 32, 128, 512, 2048}
    assert {c.threads for c in default} == {1, grid.all_threads()}
    assert {c.impl for c in default} >= {"scratch", "torch"}
    assert {c.dtype for c in full} == {"float32", "float64"}
    assert {c.phase for c in full} == {"forward", "backward", "step"}
    assert {"mlp-128", "mlp-512-256", "mlp-2048-2048"} <= {c.arch for c in full}
    # every workload is measured for both twins under the same conditions
    groups: dict[str, set] = {}
    for c in full:
        groups.setdefault(c.group, set()).add(c.impl)
    assert all(impls >= {"scratch", "torch"} for impls in groups.values())


def test_workload_twins_compute_the_same_step():
    for arch in ("mlp-128",):
        s, t = Workload(arch, "scratch", 16, "float64"), Workload(arch, "torch", 16, "float64")
        assert abs(s.step() - t.step().item()) < 1e-12
        s.prepare_backward()
        t.prepare_backward()
        assert s.backward() is None  # like torch: no gradient for the input
        t.backward()
        tgrads = dict(t.tmodel.named_parameters())
        for name, p in s.model.named_parameters():
            np.testing.assert_allclose(p.grad, tgrads[name].grad.numpy(), rtol=1e-10,
                                       atol=1e-12, err_msg=name)
    assert train_flops("mlp-128", 10) == 2 * 3 * (784 * 128 + 128 * 10) * 10


def test_the_resnet_step_is_the_same_in_both_twins_and_its_flops_count_every_conv():
    s = Workload("resnet-16-32-64", "scratch", 4, "float64")
    t = Workload("resnet-16-32-64", "torch", 4, "float64")
    assert abs(s.step() - t.step().item()) < 1e-12
    # stem 1->16 at 28x28; stage 1: four 16->16 convs at 28x28; stage 2: 16->32 and three
    # 32->32 at 14x14 plus the 1x1 shortcut; stage 3 likewise at 7x7; the head
    convs = (28 * 28 * 16 * 9 + 4 * 28 * 28 * 16 * 16 * 9
             + 14 * 14 * 32 * (16 * 9 + 3 * 32 * 9 + 16) + 7 * 7 * 64 * (32 * 9 + 3 * 64 * 9 + 32))
    assert train_flops("resnet-16-32-64", 3) == 2 * 3 * (convs + 64 * 10) * 3
    assert {c.batch for c in grid.cases("default") if c.arch == "resnet-16-32-64"} == {
        32, 128, 512}


@pytest.mark.parametrize("arch", ["kldivloss", "cosinesimilarity"])
def test_operations_of_two_inputs_time_the_same_computation_in_both_twins(arch):
    """An operation of several inputs gets each drawn and handed to both twins; backward
    differentiates what scratch's backward returns: both of CosineSimilarity's inputs, a
    loss's input alone (its target needs no gradient)."""
    s, t = OpWorkload(arch, "scratch", 3, "float64"), OpWorkload(arch, "torch", 3, "float64")
    assert len(s.xs) == len(t.txs) == 2 and not np.array_equal(*s.xs)
    np.testing.assert_allclose(s.forward(), t.forward().detach().numpy(), rtol=1e-12)
    s.prepare_backward()
    t.prepare_backward()
    grads = s.backward()
    t.backward()
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert len(grads) == len(t.grad_inputs) == (1 if arch == "kldivloss" else 2)
    assert t.txs[1].grad is None or arch == "cosinesimilarity"
    for mine, theirs in zip(grads, t.grad_inputs):
        np.testing.assert_allclose(mine, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_speed_record_and_tables(tmp_path):
    path = run_speed_suite("smoke", tmp_path, budget_s=0.01)
    rec = json.loads(path.read_text())
    assert rec["grid"] == "smoke" and rec["machine"]["numpy_blas"]
    assert rec["machine"]["scratch_threads"] == scratch.get_num_threads()
    bm = rec["benchmarks"]
    assert len(bm) == len(grid.cases("smoke"))
    assert all(b["median"] > 0 and b["rounds"] >= 5 for b in bm)
    measure_ceiling(tmp_path, n=128, repeats=2)
    tables = report.build_tables(tmp_path)
    assert "ratio scratch/torch" in tables["speed"] and "GFLOP/s" in tables["ceiling"]
    # the operation cases land in their own table, not in the networks' step table
    assert "conv2d-16-32" in tables["speed-ops"] and "relu" in tables["speed-ops"]
    assert "conv2d-16-32" not in tables["speed"] and "mlp-128" not in tables["speed-ops"]
    assert "Machine: " in tables["speed"]
    assert len(load_records("speed", tmp_path)) == 1


def test_pytest_benchmarks_own_json_sits_beside_the_record_and_compares(tmp_path):
    """`pytest-benchmark compare` and its histogram read the kept native JSON of two runs."""
    runs = [run_speed_suite("smoke", tmp_path / name, budget_s=0.01) for name in ("a", "b")]
    natives = [companion(p) for p in runs]
    for rec, native in zip(runs, natives):
        names = {b["name"] for b in json.loads(native.read_text())["benchmarks"]}
        assert len(names) == len(json.loads(rec.read_text())["benchmarks"])
    assert [p.name for p in record_files(tmp_path / "a", "speed")] == [runs[0].name]
    tool = Path(sys.executable).parent / "pytest-benchmark"  # the command the README shows
    out = subprocess.run([str(tool), "compare",
                          *map(str, natives), "--columns=median", f"--histogram={tmp_path / 'h'}"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Legend" in out.stdout or "median" in out.stdout.lower()
    assert list(tmp_path.glob("h*.svg"))


def test_a_cuda_column_appears_by_itself(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    cuda_cases = [c for c in grid.cases("default") if c.impl == "torch-cuda"]
    assert cuda_cases and all(c.threads == grid.all_threads() for c in cuda_cases)
    rec = {"benchmarks": [
        {"arch": "mlp-128", "phase": "step", "dtype": "float32", "threads": 2, "batch": 32,
         "impl": impl, "median": med, "iqr": 0.0, "flops": 1e6}
        for impl, med in (("scratch", 2e-3), ("torch", 1e-3), ("torch-cuda", 1e-4))]}
    table = tables.speed_rows(rec, ("step",)).frame
    assert table.loc[0, "torch-cuda ms"] == "0.1"
    assert table.loc[0, f"ratio scratch/torch {tables.FASTER}"] == "2.00"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not [c for c in grid.cases("default") if c.impl == "torch-cuda"]


class _OnceBenchmark:
    """Stands in for pytest-benchmark's fixture: runs the timed target once, flagged."""

    def __init__(self, timing: dict):
        self.group, self.extra_info, self.timing = None, {}, timing

    def pedantic(self, target, setup=None, rounds=1, warmup_rounds=0):
        if setup is not None:
            setup()
        self.timing["on"] = True
        try:
            target()
        finally:
            self.timing["on"] = False


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("phase", ["forward", "backward", "step"])
@pytest.mark.parametrize("impl", ["scratch", "torch"])
def test_each_case_times_the_model_it_names_with_the_threads_it_records(
        impl, phase, threads, monkeypatch):
    """Spies on both twins' models: the timed call runs only the named twin, with torch's
    and scratch's threads at the case's count (conftest holds both at 1, so the 2-thread
    cases show each pin) and numpy's BLAS held to one thread by scratch between its
    products."""
    import torch
    from threadpoolctl import threadpool_info

    from bench.measure.speed import test_speed as speed

    timing = {"on": False}
    ran = []

    def spy(who, real):
        def wrapper(*args, **kwargs):
            if timing["on"]:
                blas = {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}
                ran.append((who, (torch.get_num_threads(), scratch.get_num_threads()), blas))
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(scratch.Sequential, "forward",
                        spy("scratch", scratch.Sequential.forward))
    monkeypatch.setattr(scratch.Sequential, "backward",
                        spy("scratch", scratch.Sequential.backward))
    monkeypatch.setattr(torch.nn.Sequential, "forward",
                        spy("torch", torch.nn.Sequential.forward))
    monkeypatch.setattr(torch.Tensor, "backward", spy("torch", torch.Tensor.backward))
    case = grid.Case("mlp-128", 8, "float32", threads, phase, impl)
    speed.test_speed(_OnceBenchmark(timing), case)
    assert ran, "the timed call ran no model"
    assert {who for who, _, _ in ran} == {impl}
    assert {t for _, t, _ in ran} == {(threads, threads)}
    assert all(blas == {1} for _, _, blas in ran)


def test_the_race_runs_under_pytest_benchmark_with_its_json_kept(tmp_path, monkeypatch):
    """`twinbench peers --race`: every step time from one pytest-benchmark run (median,
    IQR, rounds per batch), the tool's JSON beside the record, IQRs in the table."""
    import torch

    import bench.measure.speed.test_race  # noqa: F401 - already imported, with no cases
    from bench import cli

    monkeypatch.setenv("TWINBENCH_RESULTS", str(tmp_path))
    own = torch.get_num_threads()
    assert cli.main(["peers", "--race", "scratch", "torch", "--epochs", "0", "--rounds", "3",
                     "--batch", "2", "4", "--model", "mlp", "cnn", "--cnn-epochs", "0",
                     "--threads", str(own + 1)]) == 0
    (path,) = list(tmp_path.glob("peers-*/records/peers-speed/*[0-9a-f].json"))
    rec = json.loads(path.read_text())
    assert rec["timer"] == "pytest-benchmark" and rec["threads"] == own + 1
    # the fingerprint is the machine's settings, not the race's: the machine id of the
    # reference run's other records
    assert rec["machine"]["torch_threads"] == own == torch.get_num_threads()
    for row in rec["rows"]:
        assert set(row["step_seconds"]) == set(row["step_iqr"]) == {"2", "4"}
        assert row["rounds"] == {"2": 3, "4": 3}
    names = {b["name"] for b in json.loads(companion(path).read_text())["benchmarks"]}
    assert names == {f"test_race_step[{m}-{i}-{b}]" for m in ("mlp", "cnn")
                     for i in ("scratch", "torch") for b in (2, 4)}
    assert {r["model"] for r in rec["rows"]} == {"mlp", "cnn"}
    table = report.build_tables(path.parents[2])["peers-speed"]
    assert "step ms, batch 2 (IQR %)" in table and "batch 32" not in table  # the batches run
