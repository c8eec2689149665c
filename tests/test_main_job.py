"""The main job (issue 28 item 6): what it runs by default, Ctrl-C in any phase (exit 130,
every finished record kept, where they are said), tox's settings that let Ctrl-C through,
and `report` on a run that recorded nothing."""

import configparser
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

from bench import cli
from bench.results import records

ROOT = Path(__file__).resolve().parents[1]


def test_the_default_main_job_is_the_default_grid_the_ceiling_and_speedrun_mlp(tmp_path):
    from bench.measure.main import DEFAULT_TTA, main_job_steps

    titles = [title for title, _ in main_job_steps(tmp_path, full=False)]
    assert titles == ["speed suite", "matmul ceiling", "time to accuracy: speedrun-mlp"]
    assert DEFAULT_TTA == ("speedrun-mlp",)
    full = [title for title, _ in main_job_steps(tmp_path, full=True)]
    assert "lockstep: lstm float64" in full and "accuracy: vit" in full


def test_time_to_accuracy_targets_are_the_registrys():
    from bench.experiments import EXPERIMENTS
    from bench.measure.tta import TARGETS

    assert {"mlp", "cnn", "vit", "lstm", "speedrun-mlp"} <= set(TARGETS)
    for name, target in TARGETS.items():
        assert target == EXPERIMENTS[name].target_accuracy  # one target per experiment


def test_an_interrupted_time_to_accuracy_keeps_the_finished_seeds(tmp_path, monkeypatch):
    """Ctrl-C in the second seed: the first seed's runs of both twins are recorded, with the
    seeds planned, and the interrupt goes on."""
    from bench.measure import tta
    from bench.training.history import EpochRecord, History

    calls = []

    def fit(runner, data, **kwargs):
        calls.append(runner)
        if len(calls) == 3:  # seed 1, scratch
            raise KeyboardInterrupt
        return History({}, runner.impl, [EpochRecord(1, 0.1, 99.0, 0.1, 99.0, 2.0, 1.0, 0.1, 0.5)])

    monkeypatch.setattr(tta, "fit", fit)
    monkeypatch.setattr(tta, "load_data", lambda exp: types.SimpleNamespace(x_test=None))
    monkeypatch.setattr(tta, "fastest_eval_batch", lambda runner, x: 500)
    monkeypatch.setattr("bench.training.runners.make_runner",
                        lambda impl, exp: types.SimpleNamespace(impl=impl))
    lines = []
    with pytest.raises(KeyboardInterrupt):
        tta.time_to_accuracy("speedrun-mlp", tmp_path, seeds=3, log=lines.append)
    (rec,) = records.load_records("tta", tmp_path)
    assert [(r["impl"], r["seed"], r["seconds"]) for r in rec["runs"]] == [
        ("scratch", 0, 2.5), ("torch", 0, 2.5)]
    assert rec["seeds_planned"] == 3 and rec["target"] == 98.0
    assert rec["eval_batch"] == {"scratch": 500, "torch": 500}
    assert lines[-1].startswith("interrupted: 1 of 3 seeds of speedrun-mlp recorded in ")


def test_time_to_accuracy_from_a_first_seed_records_those_seeds(tmp_path, monkeypatch):
    """A part of a run measured in parts: seeds 2 and 3, each run saying its seed and its
    evaluation batch."""
    from bench.measure import tta
    from bench.training.history import EpochRecord, History

    seen = []

    def fit(runner, data, **kwargs):
        seen.append(runner.seed)
        return History({}, runner.impl, [EpochRecord(1, 0.1, 99.0, 0.1, 99.0, 2.0, 1.0, 0.1, 0.5)])

    monkeypatch.setattr(tta, "fit", fit)
    monkeypatch.setattr(tta, "load_data", lambda exp: types.SimpleNamespace(x_test=None))
    monkeypatch.setattr(tta, "fastest_eval_batch", lambda runner, x: 500)
    monkeypatch.setattr("bench.training.runners.make_runner",
                        lambda impl, exp: types.SimpleNamespace(impl=impl, seed=exp.seed))
    tta.time_to_accuracy("speedrun-mlp", tmp_path, seeds=2, first_seed=2, log=None)
    (rec,) = records.load_records("tta", tmp_path)
    assert seen == [2, 2, 3, 3] and [r["seed"] for r in rec["runs"]] == [2, 2, 3, 3]
    assert (rec["first_seed"], rec["seeds_planned"]) == (2, 2)
    assert {r["eval_batch"] for r in rec["runs"]} == {500}


class _TimedRunner:
    """predict(x) sleeps `per_call` s a batch plus `per_image2` s times each batch's size
    squared: the fastest batch size is known."""

    eval_batch = 2000

    def __init__(self, per_call: float, per_image2: float):
        self.per_call, self.per_image2 = per_call, per_image2

    def predict(self, x):
        for i in range(0, len(x), self.eval_batch):
            time.sleep(self.per_call + self.per_image2 * len(x[i:i + self.eval_batch]) ** 2)


@pytest.mark.parametrize("per_call, per_image2, fastest", [
    (2e-3, 0.0, 10_000),  # a cost per call: the largest batch is fastest
    (0.0, 3e-9, 250),     # a cost growing with the batch's square: the smallest
    (0.0, 0.0, None),     # all alike: whichever the timer saw fastest, never beyond the data
])
def test_the_test_evaluation_runs_at_each_twins_fastest_batch(per_call, per_image2, fastest):
    from bench.measure.tta import EVAL_BATCHES, fastest_eval_batch

    runner = _TimedRunner(per_call, per_image2)
    got = fastest_eval_batch(runner, np.zeros((10_000, 1)))
    assert got == fastest if fastest else got in EVAL_BATCHES
    assert runner.eval_batch == 2000  # given back
    assert fastest_eval_batch(_TimedRunner(2e-3, 0.0), np.zeros((700, 1))) == 500


def test_time_to_accuracy_runs_in_a_fresh_process_and_records_there(tmp_path, monkeypatch):
    """The main job's time to accuracy: a spawned process, which imports everything anew
    (this one's patched target does not reach it), trains and records; the parent gets the
    record's path. A failure there is named here, with its exit code."""
    from bench.measure import tta

    monkeypatch.setitem(tta.TARGETS, "speedrun-mlp", 101.0)
    path = tta.in_fresh_process("speedrun-mlp", tmp_path, seeds=1, impls=("scratch",),
                                log=None)
    (rec,) = records.load_records("tta", tmp_path)
    assert path.parent == tmp_path / "records" / "tta" and rec["target"] == 98.0
    assert [r["seed"] for r in rec["runs"]] == [0]
    assert set(rec["eval_batch"]) == {"scratch"}
    with pytest.raises(RuntimeError, match="time to accuracy of no-such-experiment failed "
                                           "in its process .exit code 1"):
        tta.in_fresh_process("no-such-experiment", tmp_path)


# A main job whose phases are stand-ins: a record, then a phase that waits for Ctrl-C.
_FAKE_JOB = """
import sys, time
import bench.measure.main, bench.results.report
from bench import cli
from bench.results import records

PHASE = sys.argv[1]

def wait(*args, **kwargs):
    print("READY", flush=True)
    time.sleep(60)

def steps(run_dir, **kwargs):
    out = [("matmul ceiling", lambda: records.append_record("ceiling", {"matmul": []},
                                                            run_dir))]
    return out + [("speed suite", wait)] if PHASE == "step" else out

bench.measure.main.main_job_steps = steps
if PHASE == "report":
    bench.results.report.finish_run = wait
sys.argv = ["twinbench", "bench"]
cli.run()  # the console script's entry point
"""


@pytest.mark.parametrize("phase", ["step", "report"])
def test_ctrl_c_in_any_phase_exits_130_and_says_where_the_records_are(tmp_path, phase):
    env = {**os.environ, "PYTHONPATH": str(ROOT), records.RESULTS_ENV: str(tmp_path)}
    p = subprocess.Popen([sys.executable, "-c", _FAKE_JOB, phase], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    out = ""
    deadline = time.monotonic() + 120
    while "READY" not in out and time.monotonic() < deadline:
        out += p.stdout.readline()
    p.send_signal(signal.SIGINT)
    out += p.communicate(timeout=60)[0]
    run = next(tmp_path.glob("bench-*"))
    # interrupted in a step, the job is not finished: no job record
    kept = ["ceiling"] if phase == "step" else ["ceiling", "job"]
    assert p.returncode == 130, out
    assert (f"interrupted: {len(kept)} finished record{'s' * (len(kept) > 1)} kept in {run}; "
            f"`twinbench report {run}` builds their tables") in out
    assert sorted(p.parent.name for p in (run / "records").rglob("*.json")) == kept


def test_report_on_an_empty_run_says_so_in_one_line(tmp_path, capsys):
    for run in (tmp_path / "a", tmp_path / "b"):
        (run / "records" / "speed").mkdir(parents=True) if run.name == "b" else run.mkdir()
        assert cli.main(["report", str(run)]) == 1
        err = capsys.readouterr().err
        assert err == (f"twinbench report: {run} is an empty run: no records to report (a run "
                       "interrupted before its first record)\n")


def test_tox_lets_ctrl_c_through_and_the_bench_env_carries_every_extra():
    """tox 4 kills a command half a second after Ctrl-C by default: the bench environment
    waits for it to keep its records, and installs the checkout once with every extra a
    command needs, so no wheel is built on each call."""
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(ROOT / "tox.ini")
    bench = ini["testenv:bench"]
    assert float(bench["suicide_timeout"]) >= 10 and float(bench["interrupt_timeout"]) >= 10
    assert bench["skip_install"] == "true"
    assert bench["deps"].strip() == "-e .[bench,formats,export,demo]"
    from bench.cli import OPTIONAL_EXTRAS

    assert set(OPTIONAL_EXTRAS.values()) <= {"bench", "formats", "export", "demo"}


def test_a_missing_extra_names_a_local_install_not_pypi(monkeypatch, capsys):
    """twinbench is not on PyPI: the hint installs the checkout's extra, or points at tox."""
    import bench.cli.convert

    def needs_safetensors(args):
        raise ModuleNotFoundError("No module named 'safetensors'", name="safetensors")

    monkeypatch.setattr(bench.cli.convert, "_convert", needs_safetensors)
    assert cli.main(["convert", "a.npz", "b.safetensors"]) == 2
    err = capsys.readouterr().err
    assert "pip install -e '.[formats]' in the twinbench checkout" in err
    assert "tox -e bench" in err and "twinbench[" not in err


def test_the_full_run_scores_generated_digits_by_its_own_trained_cnn(tmp_path, monkeypatch):
    """The full run's generative steps get the classifier the cnn accuracy step kept (its
    scratch twin's checkpoint in the run directory); no other accuracy step keeps one, and
    without that checkpoint a generative step is scored by none."""
    from bench.measure import main

    kept, judged = {}, {}

    def run_accuracy(exp, *, keep_scratch=None, **kwargs):
        kept[exp.name] = keep_scratch
        if keep_scratch is not None:
            keep_scratch.parent.mkdir(parents=True, exist_ok=True)
            keep_scratch.write_bytes(b"weights")
        return {}

    def run_generative(exp, *, classifier=None, **kwargs):
        judged[exp.name] = classifier
        return {}

    monkeypatch.setattr(main, "run_accuracy", run_accuracy)
    monkeypatch.setattr(main, "run_generative", run_generative)
    monkeypatch.setattr(main, "append_record", lambda kind, payload, run_dir: kind)
    steps = dict(main.main_job_steps(tmp_path, full=True, speed=False))
    steps["generative: vae-mnist"]()
    assert judged == {"vae-mnist": None}  # before the cnn was trained
    steps["accuracy: mlp"]()
    steps["accuracy: cnn"]()
    steps["generative: dcgan-mnist"]()
    judge = main.classifier_path(tmp_path)
    assert kept == {"mlp": None, "cnn": judge} and judged["dcgan-mnist"] == judge
    titles = list(steps)
    assert titles.index("accuracy: cnn") < min(titles.index(f"generative: {name}")
                                               for name in main.generative_experiments())


def test_a_finished_job_records_each_steps_seconds_and_an_interrupted_one_does_not(tmp_path):
    """The README's statement of the main job's time comes from this record."""
    from bench.measure.main import run_job

    def step(seconds, run_dir=tmp_path):
        def run():
            time.sleep(seconds)
            return records.append_record("ceiling", {"matmul": []}, run_dir)
        return run

    said = []
    path = run_job([("one", step(0.05)), ("two", step(0.0))], tmp_path, plan="default",
                   say=said.append)
    rec = records.read_record(path)
    assert rec["plan"] == "default" and [s["title"] for s in rec["steps"]] == ["one", "two"]
    first, second = (s["seconds"] for s in rec["steps"])
    assert 0.05 <= first < 5  # the first step sleeps 0.05 s
    assert first + second <= rec["seconds"] < 5  # the whole job
    assert said[0] == "[1/2] one" and said[1].startswith("    recorded ")

    def interrupt():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_job([("one", step(0.0, tmp_path / "b")), ("two", interrupt)], tmp_path / "b",
                plan="default")
    assert [p.parent.name for p in (tmp_path / "b" / "records").rglob("*.json")] == ["ceiling"]


@pytest.mark.parametrize("options, plan", [
    ({}, "default"),
    ({"full": True}, "full"),
    ({"grid": "smoke"}, "custom"),
    ({"tta": ["mlp"]}, "custom"),
    ({"seeds": 2}, "custom"),
    ({"first_seed": 1}, "custom"),
    ({"full": True, "first_seed": 3}, "custom"),
    ({"speed": False}, "custom"),
    ({"full": True, "end_to_end": False}, "custom"),
])
def test_a_jobs_plan_is_default_only_without_options_that_change_what_it_measures(
        options, plan):
    from bench.measure.main import job_plan

    given = {"full": False, "grid": "default", "tta": None, "seeds": None, "speed": True,
             "end_to_end": True, **options}
    assert job_plan(**given) == plan


def _job_record(plan, seconds, steps):
    return {"kind": "job", "plan": plan, "seconds": seconds,
            "steps": [{"title": t, "seconds": s} for t, s in steps]}


def test_the_job_table_and_the_summary_give_the_main_jobs_time():
    from bench.results.summary import _job
    from bench.results.tables import job_table

    mine = _job_record("default", 360.0, [("speed suite", 240.0), ("time to accuracy", 119.0)])
    ref = _job_record("default", 240.0, [("speed suite", 200.0), ("matmul ceiling", 39.0)])
    table = job_table([mine])
    assert table.frame.to_dict("records") == [
        {"step": "speed suite", "seconds": "240"}, {"step": "time to accuracy", "seconds": "119"},
        {"step": "the whole job", "seconds": "360"}]
    assert table.notes[0].startswith("6.0 minutes for the default main job's steps")
    head, rows = _job([mine], [ref, _job_record("full", 9e4, [])])
    assert head == "Main job (default): 6.0 minutes here, 4.0 on the reference machine (1.50x)."
    assert "| time to accuracy | 119.0          | -           |" in rows
    assert _job([mine], [_job_record("full", 9e4, [])]) == [
        "Main job (default): 6.0 minutes; the reference has no default job to compare with."]
    assert _job([], [ref]) == []
