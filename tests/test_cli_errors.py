"""What a careless or unlucky user meets: a clear message and exit status 1 (130 for
Ctrl-C), never a traceback, for every user error; --resume refuses a checkpoint of
another run; eval builds only what the registry knows; Ctrl-C then --resume gives the
uninterrupted run's weights bit for bit."""

import errno
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest_data import require_real

import scratch
from bench import cli, datasets
from bench.experiments import get_experiment
from bench.results import records
from bench.training import History, TrainingDiverged, make_runner, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_data(monkeypatch):
    import bench.training

    def refuse(*args, **kwargs):
        raise AssertionError("data was loaded before the arguments were checked")

    monkeypatch.setattr(bench.training, "load_data", refuse)


def checkpoint(path: Path, of: str = "seed-000", impl: str = "scratch", **recorded) -> Path:
    """A checkpoint of `of` after no epochs, its recorded experiment changed by `recorded`."""
    exp = get_experiment(of)
    save_checkpoint(path, make_runner(impl, exp), History({**exp.to_dict(), **recorded}, impl))
    return path


def run(argv, capsys) -> tuple[int, str]:
    try:
        code = cli.main(argv)
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


# --- 2. --resume continues only its own run ---------------------------------------------

@pytest.mark.parametrize("extra, message", [
    (["seed-000-fashion"], "is a checkpoint of 'seed-000', not 'seed-000-fashion'"),
    (["seed-000", "--seed", "3"], "was trained with --seed 0, not 3"),
    (["seed-000", "--dtype", "float64"], "was trained with --dtype float32, not float64"),
])
def test_resume_refuses_another_experiment_seed_or_dtype(tmp_path, capsys, no_data, extra,
                                                          message):
    path = checkpoint(tmp_path / "c.npz")
    code, err = run(["train", *extra, "--resume", str(path)], capsys)
    assert code == 2 and message in err


def test_resume_refuses_another_architecture_in_one_message(tmp_path, capsys, no_data):
    path = checkpoint(tmp_path / "c.npz", layers=["linear 64", "relu", "linear 10"])
    code, err = run(["train", "seed-000", "--resume", str(path)], capsys)
    assert code == 1
    assert f"{path}: experiment 'seed-000' differs from the registry's: layers" in err


def test_resume_keeps_a_schedule_that_spans_the_epochs(tmp_path, capsys, no_data):
    exp = get_experiment("ci-cnn").with_overrides(
        schedule="CosineAnnealingLR", schedule_args={"T_max": 2})
    path = tmp_path / "c.npz"
    save_checkpoint(path, make_runner("scratch", exp), History(exp.to_dict(), "scratch"))
    # ci-cnn's own schedule is not cosine: the record differs from the registry's
    code, err = run(["train", "ci-cnn", "--resume", str(path), "--epochs", "5"], capsys)
    assert code == 1 and "schedule" in err
    mlp = get_experiment("mlp").with_overrides(epochs=2)
    save_checkpoint(path, make_runner("scratch", mlp), History(mlp.to_dict(), "scratch"))
    code, err = run(["train", "mlp", "--resume", str(path), "--epochs", "5"], capsys)
    assert code == 2 and "its CosineAnnealingLR schedule spans the run's 2 epochs" in err


# --- 10. schedules follow the run's epochs ------------------------------------------------

@pytest.mark.parametrize("name", ["mlp", "mlp-fashion", "cnn", "cnn-fashion"])
def test_a_cosine_schedule_follows_the_epochs(name):
    exp = get_experiment(name).with_overrides(epochs=2)
    assert exp.schedule_args["T_max"] == 2
    runner = make_runner("scratch", exp.with_overrides(layers=("flatten", "linear 10")))
    lrs = [runner.lr()]
    for _ in range(2):
        runner.end_epoch()
        lrs.append(runner.lr())
    assert lrs[0] == exp.optimizer_args["lr"] and lrs[-1] == pytest.approx(0, abs=1e-12)
    assert get_experiment(name).with_overrides(seed=3).schedule_args == \
        get_experiment(name).schedule_args


# --- 11. eval builds only what the registry knows -----------------------------------------

@pytest.mark.parametrize("recorded, message", [
    ({"layers": ["linear 100000000", "relu", "linear 10"]}, "differs from the registry's: layers"),
    ({"name": "evil"}, "unknown experiment 'evil'"),
    ({"epochs": 10**9}, "epochs must be an integer"),
    ({"dtype": "float16"}, "dtype must be one of"),
])
def test_eval_checks_the_recorded_experiment_before_building_anything(
        tmp_path, capsys, monkeypatch, no_data, recorded, message):
    import bench.measure.accuracy  # noqa: F401 - eval imports it: bound to the real make_runner
    import bench.training

    path = checkpoint(tmp_path / "c.npz", **recorded)
    monkeypatch.setattr(bench.training, "make_runner", lambda *a, **k: pytest.fail("built"))
    code, err = run(["eval", str(path)], capsys)
    assert code == 1 and str(path) in err and message in err


# --- 5. user errors: one message, exit status 1 -------------------------------------------

def test_a_missing_data_dir_is_one_line_and_debug_shows_the_traceback(tmp_path, capsys,
                                                                      monkeypatch):
    argv = ["train", "ci-mlp", "--data-dir", "/nonexistent", "--out", str(tmp_path)]
    code, err = run(argv, capsys)
    assert code == 1 and "data_dir /nonexistent is not a directory" in err
    with pytest.raises(datasets.DatasetError):
        cli.main(["--debug", *argv])
    monkeypatch.setenv("TWINBENCH_DEBUG", "1")
    with pytest.raises(datasets.DatasetError):
        cli.main(argv)


def test_an_unknown_exception_is_a_bug_and_keeps_its_traceback(monkeypatch):
    from bench.cli import experiments

    def bug(args):
        raise KeyError("a bug")

    monkeypatch.setattr(experiments, "_run", bug)
    with pytest.raises(KeyError):
        cli.main(["experiments"])


def test_eval_on_a_damaged_checkpoint(tmp_path, capsys, no_data):
    path = tmp_path / "c.npz"
    scratch.save({"model": {"w": np.zeros(2)}, "meta": "{not json", "history": "{}"}, path)
    code, err = run(["eval", str(path)], capsys)
    assert code == 1 and f"{path} is not a valid training checkpoint" in err
    path.write_text("not a zip")
    code, err = run(["eval", str(path)], capsys)
    assert code == 1 and f"{path} is not a scratch checkpoint" in err


def test_a_diverged_run_is_one_message(tmp_path, capsys, monkeypatch):
    import bench.training

    tiny = bench.training.Data(np.zeros((2, 784)), np.zeros(2, int), np.zeros((2, 784)),
                               np.zeros(2, int))
    monkeypatch.setattr(bench.training, "load_data", lambda exp, **kw: tiny)

    def diverge(*args, **kwargs):
        raise TrainingDiverged("scratch: loss became nan at epoch 2, step 1; no checkpoint "
                               "was written")

    monkeypatch.setattr(bench.training.session, "fit", diverge)
    code, err = run(["train", "seed-000", "--out", str(tmp_path)], capsys)
    assert code == 1 and "loss became nan at epoch 2" in err


def _accuracy_record() -> dict:
    published = sorted((ROOT / "results" / "records" / "accuracy").glob("*.json"))
    return json.loads(published[0].read_text())


@pytest.mark.parametrize("damage", ["utf8", "empty", "null", "no-machine", "null-accuracy"])
def test_report_names_a_damaged_record(tmp_path, capsys, damage):
    path = tmp_path / "run" / "records" / "accuracy" / "x.json"
    path.parent.mkdir(parents=True)
    rec = _accuracy_record()
    if damage == "no-machine":
        del rec["machine"]
    if damage == "null-accuracy":
        rec["final_test_accuracy"]["scratch"] = None
    body = {"utf8": b"\xff\xfe{", "empty": b"{}", "null": b"null"}.get(
        damage, json.dumps(rec).encode())
    path.write_bytes(body)
    code, err = run(["report", str(tmp_path / "run")], capsys)
    assert code == 1 and f"{path}: not a valid" in err


def test_report_without_a_readme(tmp_path, capsys, monkeypatch):
    from test_report import fake_checkout

    root = fake_checkout(tmp_path)
    (root / "README.md").unlink()
    monkeypatch.chdir(root)
    code, err = run(["report"], capsys)
    assert code == 1 and f"no README at {root / 'README.md'}" in err


@pytest.fixture
def real_mnist_dir():
    require_real("mnist")
    return datasets.dataset_dir("mnist")


def test_a_full_cache_disk_is_one_message(tmp_path, capsys, monkeypatch, real_mnist_dir):
    from scratch import atomic

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path / "cache"))
    monkeypatch.setattr(atomic.os, "fsync", full)
    code, err = run(["train", "ci-mlp", "--data-dir", str(real_mnist_dir), "--out",
                     str(tmp_path / "out")], capsys)
    assert code == 1
    assert f"cannot write to the cache directory {tmp_path / 'cache' / 'mnist'}: No space" in err


def test_a_directory_in_the_caches_way_is_one_message(tmp_path, capsys, monkeypatch,
                                                      real_mnist_dir):
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path / "cache"))
    blocker = tmp_path / "cache" / "mnist" / "train-images-idx3-ubyte"
    blocker.mkdir(parents=True)
    code, err = run(["train", "ci-mlp", "--data-dir", str(real_mnist_dir), "--out",
                     str(tmp_path / "out")], capsys)
    assert code == 1 and f"{blocker} is in the way" in err


# --- 12. report touches only the checkout's own README ------------------------------------

def test_report_never_writes_a_readme_beside_the_results_directory(tmp_path, capsys,
                                                                   monkeypatch):
    from test_report import fake_checkout

    root = fake_checkout(tmp_path)
    other = tmp_path / "elsewhere"
    (other / "results").mkdir(parents=True)
    (other / "README.md").write_text((root / "README.md").read_text())
    before = (other / "README.md").read_text()
    monkeypatch.setenv(records.RESULTS_ENV, str(other / "results"))
    monkeypatch.chdir(other)  # outside any checkout
    code, err = run(["report"], capsys)
    assert code == 2 and "run from one" in err
    monkeypatch.chdir(root)
    assert run(["report"], capsys)[0] == 0
    assert (other / "README.md").read_text() == before


# --- Ctrl-C, then --resume: bit for bit -----------------------------------------------------

DRIVER = textwrap.dedent('''
    import json, os, signal, sys
    # Ctrl-C raises KeyboardInterrupt even where this process was started with SIGINT
    # ignored (a background job of a non-interactive shell), where Python installs no handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import numpy as np, torch
    import bench.training
    from bench import cli
    from bench.experiments import Experiment, registry
    from bench.training import Data, ScratchRunner, TorchRunner

    torch.set_num_threads(1)
    os.fsync = lambda fd: None  # durability is not under test here, and flushes are slow
    out = sys.argv[1]
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((10, 784)) * 0.15
    y = rng.integers(0, 10, 150)
    x = (centres[y] + rng.standard_normal((150, 784))).astype(np.float32)
    bench.training.load_data = lambda exp, **kw: Data(x[:100], y[:100], x[100:], y[100:])

    steps = {"n": 0, "at": None}
    for cls in (ScratchRunner, TorchRunner):
        def step(self, xb, yb, _real=cls.train_step):
            steps["n"] += 1
            if steps["n"] == steps["at"]:
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, mid-epoch
            return _real(self, xb, yb)
        cls.train_step = step

    codes = {}
    for opt, args in [("SGD", {"lr": 0.05, "momentum": 0.9}), ("Adam", {"lr": 1e-3}),
                      ("AdamW", {"lr": 1e-3})]:
        name = "tiny-" + opt.lower()
        registry.EXPERIMENTS[name] = Experiment(
            name=name, dataset="mnist", layers=("linear 16", "relu", "dropout 0.2", "linear 10"),
            optimizer=opt, optimizer_args=args, schedule="CosineAnnealingLR",
            schedule_args={"T_max": 3}, batch_size=50, epochs=3)
        for impl in ("scratch", "torch"):
            common = [name, "--impl", impl, "--no-progress"]
            steps["at"] = None
            codes[name, impl, "straight"] = cli.main(["train", *common, "--out", out + "/a"])
            steps["n"], steps["at"] = 0, 2 + 1  # epoch 2, step 1 (2 steps an epoch)
            codes[name, impl, "cut"] = cli.main(["train", *common, "--out", out + "/b"])
            steps["at"] = None
            ckpt = f"{out}/b/{name}-seed0-float32-{impl}.npz"
            codes[name, impl, "resumed"] = cli.main(["train", *common, "--out", out + "/b",
                                                     "--resume", ckpt])
    print(json.dumps({" ".join(k): v for k, v in codes.items()}))
''')


def test_ctrl_c_then_resume_gives_the_uninterrupted_weights_bit_for_bit(tmp_path):
    out = subprocess.run([sys.executable, "-c", DRIVER, str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    codes = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(codes) == 18
    for key, code in codes.items():
        assert code == (130 if key.endswith("cut") else 0), (key, out.stderr[-3000:])
    assert "Traceback" not in out.stderr
    assert out.stderr.count("interrupted; nothing partial was saved") == 6
    assert "Continue with:\n  twinbench train tiny-adam --impl torch --resume" in out.stderr
    for opt in ("sgd", "adam", "adamw"):
        for impl in ("scratch", "torch"):
            name = f"tiny-{opt}-seed0-float32-{impl}"
            a = scratch.load(tmp_path / "a" / f"{name}.npz")
            b = scratch.load(tmp_path / "b" / f"{name}.npz")
            assert json.loads(str(b["meta"]))["epoch"] == 3
            for k, w in a["model"].items():
                assert b["model"][k].dtype == w.dtype
                np.testing.assert_array_equal(b["model"][k], w, err_msg=f"{name} {k}")
            for i, s in a.get("optimizer_state", {}).items():
                for k, v in s.items():
                    np.testing.assert_array_equal(b["optimizer_state"][i][k], v)


# --- issue 29, 6. the whole checkpoint is checked before any data loads ---------------------

def stepped_checkpoint(path: Path, of: str = "ci-mlp", impl: str = "scratch",
                       weights_of: str | None = None) -> Path:
    """A checkpoint of `of` after one training step (so the optimizer holds momentum
    buffers), with the weights of experiment `weights_of` when given."""
    exp = get_experiment(of)
    runner = make_runner(impl, get_experiment(weights_of or of))
    rng = np.random.default_rng(0)
    if weights_of is None:
        runner.train_step(rng.standard_normal((50, 784)).astype(np.float32),
                          rng.integers(0, 10, 50))
    save_checkpoint(path, runner, History(exp.to_dict(), impl))
    return path


def tamper(path: Path, change) -> Path:
    """Rewrite the checkpoint at `path` with `change(ckpt, meta)` applied."""
    ckpt = scratch.load(path)
    meta = json.loads(str(ckpt["meta"]))
    change(ckpt, meta)
    ckpt["meta"] = json.dumps(meta)
    scratch.save(ckpt, path)
    return path


def _set(d: dict, key, value):
    d[key] = value


TAMPERED = {
    "another architecture": (lambda c, m: None, "weights do not fit experiment 'ci-mlp'"),
    "scheduler not JSON": (lambda c, m: _set(m, "scheduler", "{not json"), "scheduler state"),
    "scheduler field type": (
        lambda c, m: _set(m, "scheduler", json.dumps({**json.loads(m["scheduler"]),
                                                      "gamma": "fast"})),
        "scheduler state: gamma: expected a number, found 'fast'"),
    "param_groups removed": (lambda c, m: m.pop("param_groups"),
                             "optimizer state: expected 1 param group(s), found None"),
    "param_groups replaced": (lambda c, m: _set(m, "param_groups", [{"lr": 0.1}]),
                              "optimizer state: param group 0: expected the fields"),
    "momentum buffer shape": (
        lambda c, m: _set(c["optimizer_state"]["0"], "momentum_buffer", np.zeros((3, 3),
                                                                                 np.float32)),
        "optimizer state: parameter 0: momentum_buffer is float32 of shape (3, 3)"),
    "unknown buffer": (
        lambda c, m: _set(c["optimizer_state"]["0"], "exp_avg", np.zeros((512, 784),
                                                                          np.float32)),
        "optimizer state: parameter 0: expected the buffers ['momentum_buffer'], found"),
    "lr 1e30": (lambda c, m: _set(m["param_groups"][0], "lr", 1e30),
                "param group 0: lr is 1e+30, outside [0, 0.1]"),
    "lr NaN": (lambda c, m: _set(m["param_groups"][0], "lr", float("nan")),
               "param group 0: lr: expected a finite number, found nan"),
}
COMMANDS = {
    "eval": lambda p, tmp: ["eval", str(p)],
    "resume": lambda p, tmp: ["train", "ci-mlp", "--resume", str(p), "--epochs", "3",
                              "--out", str(tmp)],
    "convert": lambda p, tmp: ["convert", str(p), str(tmp / "w.pt")],
    "predict": lambda p, tmp: ["predict", str(p), str(tmp / "digit.png")],
    "export": lambda p, tmp: ["export", str(p), str(tmp / "m.onnx")],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("damage", sorted(TAMPERED))
def test_a_tampered_checkpoint_is_one_line_naming_the_part(tmp_path, capsys, monkeypatch,
                                                           no_data, damage, command):
    import bench.datasets

    monkeypatch.setattr(bench.datasets, "load", lambda *a, **k: pytest.fail("data loaded"))
    change, message = TAMPERED[damage]
    path = stepped_checkpoint(tmp_path / "c.npz",
                              weights_of="ci-cnn" if damage == "another architecture" else None)
    tamper(path, change)
    code, err = run(COMMANDS[command](path, tmp_path), capsys)
    assert code == 1, err
    assert str(path) in err and message in err
    assert len(err.strip().splitlines()) == 2  # the line, and where --debug says more
    assert not (tmp_path / "w.pt").exists() and not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("impl", ["scratch", "torch"])
def test_an_untampered_checkpoint_passes_every_check(tmp_path, impl):
    from bench.training import load_checkpoint, resume

    path = stepped_checkpoint(tmp_path / "c.npz", impl=impl)
    exp, weights, meta, _ = load_checkpoint(path)
    assert exp.name == "ci-mlp" and meta["optimizer_state"]
    runner, epoch, _ = resume(path, exp)
    assert epoch == 0 and runner.lr() == 0.1


def test_a_cuda_checkpoint_without_cuda_is_one_line_and_resume_suggests_no_invalid_impl(
        tmp_path, capsys, monkeypatch, no_data):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    path = tamper(stepped_checkpoint(tmp_path / "c.npz", impl="torch"),
                  lambda c, m: _set(m, "impl", "torch-cuda"))
    code, err = run(["eval", str(path)], capsys)
    assert code == 1 and f"{path}: impl is torch-cuda, but this machine's torch has no CUDA" \
        in err
    code, err = run(["train", "ci-mlp", "--impl", "torch", "--resume", str(path)], capsys)
    assert code == 2 and "holds a torch-cuda run" in err and "--impl torch-cuda" not in err
    assert "runs only scratch and torch" in err


# --- issue 29, 15. messages name the user's path and say what was expected ----------------

def test_predict_on_a_missing_picture_says_so(tmp_path, capsys, monkeypatch):
    import bench.training.inference as inference

    monkeypatch.setattr(inference, "training_stats", lambda exp, **kw: None)
    path = stepped_checkpoint(tmp_path / "c.npz")
    code, err = run(["predict", str(path), str(tmp_path / "nope.png")], capsys)
    assert code == 1 and f"{tmp_path / 'nope.png'}: no such file; expected a PNG or JPEG" in err
    assert "Pillow" not in err and "cannot" not in err


@pytest.mark.parametrize("command", ["export", "predict", "convert"])
def test_a_missing_checkpoint_is_called_missing(tmp_path, capsys, command):
    missing = tmp_path / "nope.npz"
    argv = {"export": ["export", str(missing), str(tmp_path / "m.onnx")],
            "predict": ["predict", str(missing), str(tmp_path / "d.png")],
            "convert": ["convert", str(missing), str(tmp_path / "w.pt")]}[command]
    code, err = run(argv, capsys)
    assert code == 1 and f"{missing}: no such file; expected a training checkpoint" in err
    assert "is not a scratch checkpoint" not in err


def test_export_to_an_unwritable_folder_names_the_users_path(tmp_path, capsys, monkeypatch):
    import bench.compare.onnx as onnx

    monkeypatch.setattr(onnx, "check_onnx", lambda *a, **k: None, raising=False)
    path = stepped_checkpoint(tmp_path / "c.npz")
    target = tmp_path / "no-such-dir" / "m.onnx"
    code, err = run(["export", str(path), str(target), "--check", "0"], capsys)
    assert code == 1 and str(target) in err and ".part" not in err


def test_out_pointing_at_a_file_blames_out(tmp_path, capsys, no_data):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, err = run(["train", "ci-mlp", "--out", str(blocker)], capsys)
    assert code == 2 and f"--out {blocker} is a file; expected a directory" in err
    assert records.RESULTS_ENV not in err
    locked = tmp_path / "proc"
    code, err = run(["train", "ci-mlp", "--out", "/proc/twinbench-out"], capsys)
    assert code == 2 and "--out /proc/twinbench-out: cannot write there" in err
    assert records.RESULTS_ENV not in err and not locked.exists()
