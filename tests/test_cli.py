"""The twinbench command line: help for every argument, strict parsing, numbers checked
before any data loads, and a user's run kept apart from the published results."""

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import cli
from bench.results import records

ROOT = Path(__file__).resolve().parents[1]


def test_parity_command_prints_every_component(capsys):
    from bench.compare import CASES

    assert cli.main(["parity", "--batch", "2"]) == 0
    out = capsys.readouterr().out
    for case in CASES:
        assert f"| {case.name} " in out
    assert "float32" in out and "float64" in out
    assert "| NO " not in out
    # the MLP is too large for finite differences: the table says so instead of "nan"
    assert "nan" not in out
    assert "| MLP 784-256-128-10 " in out and "skipped (too large)" in out


def test_python_dash_m_bench_help():
    out = subprocess.run([sys.executable, "-m", "bench", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "parity" in out and "data" in out and "experiments" in out


def _parsers(parser: argparse.ArgumentParser, name: str = "twinbench"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


def test_every_argument_has_help_and_no_parser_takes_abbreviations():
    parsers = list(_parsers(cli.build_parser()))
    assert len(parsers) > 8
    for name, parser in parsers:
        assert parser.allow_abbrev is False, name
        assert name == "twinbench" or parser.description, f"`{name} --help` has no description"
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help and action.help != argparse.SUPPRESS, \
                f"{name} {action.option_strings or action.dest} has no help"


def _error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


@pytest.fixture
def no_data(monkeypatch):
    """Loading data fails the test: errors must come before it."""
    import bench.training

    def refuse(*args, **kwargs):
        raise AssertionError("data was loaded before the arguments were checked")

    monkeypatch.setattr(bench.training, "load_data", refuse)


def test_an_abbreviated_option_is_refused_with_the_subcommands_usage(capsys, no_data):
    err = _error(["train", "ci-mlp", "--epoch", "1"], capsys)
    assert err.startswith("usage: twinbench train") and "unrecognized arguments: --epoch" in err


def test_an_unknown_option_shows_the_subcommands_usage(capsys):
    err = _error(["data", "fetch", "--bogus"], capsys)
    assert err.startswith("usage: twinbench data fetch")


@pytest.mark.parametrize("argv, message", [
    (["train", "ci-mlp", "--epochs", "0"], "--epochs: expected a positive integer, got '0'"),
    (["train", "ci-mlp", "--epochs", "-3"], "--epochs: expected a positive integer, got '-3'"),
    (["train", "ci-mlp", "--seed", "-1"], "--seed: expected a non-negative integer, got '-1'"),
    (["accuracy", "ci-mlp", "--epochs", "x"], "--epochs: expected a positive integer, got 'x'"),
    (["bench", "--seeds", "0"], "--seeds: expected a positive integer"),
    (["parity", "--batch", "2", "0"], "--batch: expected a positive integer, got '0'"),
    (["data", "fetch", "--timeout", "0"], "--timeout: expected a positive number"),
    (["data", "fetch", "--timeout", "nan"], "--timeout: expected a positive number"),
    (["data", "fetch", "--retries", "-1"], "--retries: expected a non-negative integer"),
    (["accuracy", "mpl"], "unknown experiment mpl"),
])
def test_numbers_and_names_are_checked_before_any_data_loads(argv, message, capsys, no_data):
    err = _error(argv, capsys)
    assert message in err and err.startswith(f"usage: twinbench {argv[0]}")


def test_resume_with_the_wrong_twin_is_refused_before_any_data_loads(tmp_path, capsys, no_data):
    from bench.experiments import get_experiment
    from bench.training import History, make_runner, save_checkpoint

    exp = get_experiment("ci-mlp")
    history = History(exp.to_dict(), "scratch")
    save_checkpoint(tmp_path / "c.npz", make_runner("scratch", exp), history)
    err = _error(["train", "ci-mlp", "--impl", "torch", "--resume", str(tmp_path / "c.npz")],
                 capsys)
    assert "holds a scratch run, not torch: pass --impl scratch" in err
    err = _error(["train", "ci-cnn", "--resume", str(tmp_path / "c.npz")], capsys)
    assert "is a checkpoint of 'ci-mlp', not 'ci-cnn'" in err
    err = _error(["train", "ci-mlp", "--resume", str(tmp_path / "missing.npz")], capsys)
    assert "no such checkpoint file" in err


def test_experiments_lists_each_with_data_layers_epochs_and_expected_time(capsys, monkeypatch):
    from bench.experiments import EXPERIMENTS

    monkeypatch.chdir(ROOT)
    assert cli.main(["experiments"]) == 0
    out = capsys.readouterr().out
    for name, exp in EXPERIMENTS.items():
        row = next(line for line in out.splitlines() if line.startswith(f"| {name} "))
        assert f"| {exp.dataset} " in row and f"| {exp.epochs} " in row
    duration = r"[\d.]+ (s|min|h)"
    mlp = next(line for line in out.splitlines() if line.startswith("| mlp "))
    assert re.search(rf"\| {duration} / {duration} ", mlp)  # from the published records
    assert "MLP 784-1024-1024-10" in mlp
    vae = next(line for line in out.splitlines() if line.startswith("| vae-mnist "))
    assert re.search(rf"\| {duration} / {duration} ", vae)  # a generative record's


def test_an_experiment_without_a_published_record_says_so():
    from bench.cli.experiments import _expected

    minutes, machines = _expected([])
    assert minutes("mlp", 20) == "no published record" and machines is None


def test_a_missing_bench_dependency_says_how_to_run(capsys, monkeypatch):
    from bench.cli import experiments

    def missing(args):
        raise ModuleNotFoundError("No module named 'tqdm'", name="tqdm")

    monkeypatch.setattr(experiments, "_run", missing)
    assert cli.main(["experiments"]) == 2
    err = capsys.readouterr().err
    assert "'tqdm'" in err and "tox -e bench -- COMMAND" in err


# --- a user's run -----------------------------------------------------------------------

def _fake_steps(run_dir, **kwargs):
    """One tiny speed record instead of the real suite: the flow is under test here."""
    bm = [{"arch": "mlp-128", "batch": 32, "dtype": "float32", "threads": 1, "phase": "step",
           "impl": impl, "median": med, "iqr": 1e-5, "flops": 1e6}
          for impl, med in (("scratch", 2e-3), ("torch", 1e-3))]
    return [("speed suite", lambda: records.append_record(
        "speed", {"grid": "smoke", "budget_s": 0.01, "benchmarks": bm}, run_dir))]


@pytest.fixture
def fake_steps(monkeypatch):
    import bench.measure.main

    monkeypatch.setattr(bench.measure.main, "main_job_steps", _fake_steps)


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root,
                          capture_output=True, text=True, check=True).stdout


def test_bench_leaves_every_tracked_file_untouched(tmp_path, monkeypatch, capsys, fake_steps):
    from test_report import fake_checkout

    root = fake_checkout(tmp_path)
    shutil.copy(ROOT / ".gitignore", root / ".gitignore")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "x")
    monkeypatch.chdir(root)
    monkeypatch.delenv(records.RESULTS_ENV, raising=False)
    assert cli.main(["bench"]) == 0
    assert _git(root, "status", "--porcelain") == ""
    run = next((root / "runs").glob("bench-*"))
    assert {"summary.md", "speed.md", "speed-all.md", "speed-batch.png"} <= \
        {p.name for p in run.iterdir()}
    out = capsys.readouterr().out
    assert f"run directory: {run}" in out and "# Run " in out
    assert "holds no records" in out  # the fake checkout has published nothing yet


def test_bench_tta_names_the_experiments_and_refuses_unknown_ones(tmp_path, monkeypatch,
                                                                    capsys):
    import bench.measure.main

    seen = {}

    def steps(run_dir, **kwargs):
        seen.update(kwargs)
        return _fake_steps(run_dir)

    monkeypatch.setattr(bench.measure.main, "main_job_steps", steps)
    monkeypatch.setenv(records.RESULTS_ENV, str(tmp_path / "mine"))
    assert cli.main(["bench", "--no-report", "--tta", "lstm", "vit"]) == 0
    assert seen["tta"] == ["lstm", "vit"] and seen["first_seed"] == 0
    assert cli.main(["bench", "--no-report", "--tta", "lstm", "--seeds", "1",
                     "--first-seed", "2"]) == 0
    assert (seen["seeds"], seen["first_seed"]) == (1, 2)
    seen.clear()
    for argv, says in ((["--tta", "lstm", "nope"], "no time-to-accuracy target for nope"),
                       (["--tta", "lstm", "--skip-e2e"], "--skip-e2e skips"),
                       (["--first-seed", "1", "--skip-e2e"], "--skip-e2e skips"),
                       (["--first-seed", "-1"], "expected a non-negative integer")):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["bench", *argv])
        assert exit_info.value.code == 2 and says in capsys.readouterr().err
    assert not seen  # refused before any work


def test_every_time_to_accuracy_target_names_an_experiment():
    from bench.experiments import EXPERIMENTS
    from bench.measure.tta import TARGETS

    for name, target in TARGETS.items():
        assert name in EXPERIMENTS and 0 < target < 100


def test_results_env_works_outside_a_checkout(tmp_path, monkeypatch, capsys, fake_steps):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    monkeypatch.chdir(outside)
    monkeypatch.setenv(records.RESULTS_ENV, str(tmp_path / "mine"))
    assert cli.main(["bench"]) == 0
    run = next((tmp_path / "mine").glob("bench-*"))
    assert (run / "summary.md").exists() and (run / "records" / "speed").is_dir()
    assert "No published reference to compare with" in capsys.readouterr().out
    assert records.find_checkout() is None


@pytest.fixture
def no_work(monkeypatch):
    """The main job's steps and the accuracy runs fail the test if they start."""
    import bench.measure.accuracy
    import bench.measure.main

    def never(*args, **kwargs):
        raise AssertionError("work started before the command checked its arguments")

    monkeypatch.setattr(bench.measure.main, "main_job_steps", never)
    monkeypatch.setattr(bench.measure.accuracy, "run_accuracy", never)


def test_an_unwritable_results_directory_stops_before_any_work(tmp_path, monkeypatch, capsys,
                                                              no_data, no_work):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(records.RESULTS_ENV, str(blocker))
    for argv in (["bench"], ["accuracy", "ci-mlp"], ["train", "ci-mlp"]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert f"twinbench {argv[0]}: cannot write results to {blocker}" in err
        assert "TWINBENCH_RESULTS" in err


def test_publish_outside_a_checkout_stops_before_any_work(tmp_path, monkeypatch, capsys,
                                                          no_data, no_work):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(records.RESULTS_ENV, str(tmp_path / "mine"))
    for argv in (["bench", "--publish"], ["accuracy", "ci-mlp", "--publish"],
                 ["peers", "--publish", "--no-record"]):
        err = _error(argv, capsys)
        assert err.startswith(f"usage: twinbench {argv[0]}")
        assert "--publish writes the checkout's results/ and README" in err
    assert not (tmp_path / "mine").exists()  # not even a run directory


def test_report_publish_says_what_it_published(tmp_path, monkeypatch, capsys):
    from test_report import _accuracy_payload, fake_checkout

    root = fake_checkout(tmp_path)
    monkeypatch.chdir(root)
    monkeypatch.delenv(records.RESULTS_ENV, raising=False)
    run = records.run_dir(None, "accuracy")
    records.append_record("accuracy", _accuracy_payload(), run)
    assert cli.main(["report", "--publish", str(run), "--name", "mine",
                     "--allow-incomplete"]) == 0
    out = capsys.readouterr().out
    assert (f"published {run} as 'mine' into {root / 'results'} (1 record, replacing the "
            f"published set): ") in out
    assert str(root / "README.md") in out
    assert not (run / "summary.md").exists()  # publishing leaves the run directory as it was


def test_the_readmes_cli_commands_parse():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"`tox -e bench -- ([^`]+)`", readme)
    assert "--help" in commands
    for command in commands:
        argv = [a for a in command.split() if a not in ("[ARGS]",)]
        if argv[0] == "COMMAND":
            continue
        try:
            cli.build_parser().parse_args(argv)
        except SystemExit as exit_info:
            assert exit_info.code == 0, command  # --help exits 0


def test_tox_passes_the_results_directory_through():
    tox = (ROOT / "tox.ini").read_text()
    pass_env = tox.split("pass_env =")[1].split("\n\n")[0].split("commands_pre")[0]
    assert "TWINBENCH_RESULTS" in pass_env.split()
    assert "commands = twinbench {posargs:bench}" in tox


def test_python_dash_m_bench_without_the_dependencies_says_how_to_run():
    code = ("import sys, runpy; sys.modules['numpy'] = None; "
            "runpy.run_module('bench', run_name='__main__')")
    out = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True,
                         text=True, cwd=ROOT)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "'numpy'" in out.stderr and "tox -e bench -- --help" in out.stderr


def test_ctrl_c_in_the_speed_suite_exits_130_keeping_the_records_so_far(tmp_path, monkeypatch,
                                                                        capsys):
    """pytest.main turns Ctrl-C into exit code 2: the bench must still stop as after any
    Ctrl-C. A stand-in speed module raises KeyboardInterrupt under the real pytest.main."""
    import bench.measure.main
    from bench.measure.speed import run

    speed_dir = tmp_path / "speed"
    speed_dir.mkdir()
    (speed_dir / "test_speed.py").write_text("def test_case():\n    raise KeyboardInterrupt\n")
    monkeypatch.setattr(run, "SPEED_DIR", speed_dir)

    def steps(run_dir, **kwargs):
        return [("matmul ceiling", lambda: records.append_record("ceiling", {"matmul": []},
                                                                 run_dir)),
                ("speed suite", lambda: run.run_speed_suite("smoke", run_dir, 0.01))]

    monkeypatch.setattr(bench.measure.main, "main_job_steps", steps)
    monkeypatch.setenv(records.RESULTS_ENV, str(tmp_path / "mine"))
    assert cli.main(["bench", "--grid", "smoke"]) == 130
    out = capsys.readouterr().out
    bench_run = next((tmp_path / "mine").glob("bench-*"))
    assert f"interrupted: 1 finished record kept in {bench_run}; `twinbench report " in out
    assert [p.parent.name for p in (bench_run / "records").rglob("*")
            if p.is_file()] == ["ceiling"]  # the ceiling's record, nothing half-written
    assert not list(bench_run.rglob(".*"))
    sys.modules.pop("test_speed", None)  # the stand-in: the real module imports afresh


def test_a_speed_suite_that_fails_to_collect_is_not_taken_for_ctrl_c(tmp_path, monkeypatch):
    """pytest.main's exit code 2 also means "errors during collection": that is a bug in
    the suite, not Ctrl-C, and keeps its traceback."""
    from bench.measure.speed import run

    (tmp_path / "test_speed.py").write_text("import no_such_module_anywhere\n")
    monkeypatch.setattr(run, "SPEED_DIR", tmp_path)
    with pytest.raises(RuntimeError, match="pytest exit code 2"):
        try:
            # -rN: no summary line of the inner run among the outer run's FAILED lines
            run.run_speed_suite("smoke", tmp_path / "run", 0.01, extra_args=("-rN",))
        except KeyboardInterrupt:
            pytest.fail("a collection error was taken for Ctrl-C")
    sys.modules.pop("test_speed", None)
