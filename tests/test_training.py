"""The fit loop, checkpoints and resume, divergence handling, lockstep, and every experiment."""

import dataclasses
import json

import numpy as np
import pytest

import scratch
from bench.compare import run_lockstep
from bench.experiments import EXPERIMENTS, Experiment, build_model, get_experiment, input_shape
from bench.training import (
    Data,
    EpochRecord,
    History,
    ResumeRefused,
    ScratchRunner,
    TorchRunner,
    TrainingDiverged,
    TrainingInterrupted,
    batches,
    fit,
    make_runner,
    outputs,
    read_checkpoint,
    resume,
    resume_experiment,
    save_checkpoint,
    train_twin,
)
from bench.training.loop import train_epoch
from scratch.testing import max_rel_diff

TOY = Experiment(
    name="toy", dataset="mnist",
    layers=("linear 32", "batchnorm", "relu", "dropout 0.2", "linear 10"),
    init="kaiming_uniform", optimizer="SGD", optimizer_args={"lr": 0.05, "momentum": 0.9},
    schedule="CosineAnnealingLR", schedule_args={"T_max": 3}, batch_size=50, epochs=3,
)


def toy_data(n_train=600, n_test=200, dtype=np.float32, seed=0) -> Data:
    """A learnable 10-class problem: one Gaussian blob per class in 784 dimensions."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((10, 784)) * 0.15
    y = rng.integers(0, 10, n_train + n_test)
    x = (centres[y] + rng.standard_normal((n_train + n_test, 784))).astype(dtype)
    return Data(x[:n_train], y[:n_train], x[n_train:], y[n_train:])


@pytest.mark.parametrize("impl", ["scratch", "torch"])
def test_fit_learns_and_records_history(impl, tmp_path):
    runner = make_runner(impl, TOY)
    history = fit(runner, toy_data(), checkpoint=tmp_path / "c.npz", show_progress=False,
                  log=None)
    assert [e.epoch for e in history.epochs] == [1, 2, 3]
    # Measured on this data: scratch 71.5%, torch 66.5% (their dropout masks differ); over
    # data seeds 0-2 both twins land in 56.5-71.5%. Chance is 10%, and 200 test samples
    # put a binomial standard deviation of ~3.3 points on each figure: 55% is under every
    # measured run by more than that, and above anything that did not learn the blobs.
    assert history.final_test_accuracy >= 55
    assert history.epochs[-1].train_loss < history.epochs[0].train_loss
    lrs = [e.lr for e in history.epochs]
    assert lrs[0] == pytest.approx(0.05) and lrs[1] < lrs[0]  # cosine schedule stepped
    back = json.loads(history.to_json())
    assert back["impl"] == impl and len(back["epochs"]) == 3
    weights, meta, saved = read_checkpoint(tmp_path / "c.npz")
    assert meta["epoch"] == 3 and meta["impl"] == impl
    assert saved.epochs[-1].test_accuracy == history.final_test_accuracy


def test_twins_fit_to_the_same_predictions():
    """Without dropout both twins are deterministic: through the whole fit loop, in float64,
    every epoch's loss agrees to rounding and every test prediction is the same."""
    data = toy_data(dtype=np.float64)
    exp = TOY.with_overrides(layers=("linear 32", "relu", "linear 10"), dtype="float64")
    runners = [make_runner(impl, exp) for impl in ("scratch", "torch")]
    histories = [fit(r, data, show_progress=False, log=None) for r in runners]
    for a, b in zip(*(h.epochs for h in histories), strict=True):
        assert a.train_loss == pytest.approx(b.train_loss, rel=1e-10)
        assert a.test_loss == pytest.approx(b.test_loss, rel=1e-10)
        assert a.test_accuracy == b.test_accuracy
    preds = [r.predict(data.x_test).argmax(axis=1) for r in runners]
    np.testing.assert_array_equal(*preds)


def interrupt_at(runner, call: int, exc=KeyboardInterrupt) -> None:
    """Make the runner's `call`-th training step raise `exc` (Ctrl-C mid-epoch)."""
    calls = {"n": 0}
    real_step = runner.train_step

    def step(x, y):
        calls["n"] += 1
        if calls["n"] == call:
            raise exc
        return real_step(x, y)

    runner.train_step = step


OPTIMIZERS = {"SGD": {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3},
              "Adam": {"lr": 1e-3}, "AdamW": {"lr": 1e-3, "amsgrad": True},
              "RMSprop": {"lr": 1e-3, "momentum": 0.5}, "Adagrad": {"lr": 0.01}}
SCHEDULES = {None: {}, "StepLR": {"step_size": 1, "gamma": 0.5},
             "ExponentialLR": {"gamma": 0.5}, "CosineAnnealingLR": {"T_max": 3},
             "InverseTimeLR": {"decay": 0.5}}
# SGD, Adam and AdamW with a cosine schedule are resumed after a real Ctrl-C, through the
# command line, in tests/test_cli_errors.py; here every other optimizer and schedule.
RESUME_CASES = ([(opt, "CosineAnnealingLR") for opt in ("RMSprop", "Adagrad")]
                + [("Adam", sched) for sched in SCHEDULES if sched != "CosineAnnealingLR"])


@pytest.mark.parametrize("impl", ["scratch", "torch"])
@pytest.mark.parametrize("optimizer, schedule", RESUME_CASES)
def test_an_interrupted_run_resumes_bit_for_bit(impl, optimizer, schedule, tmp_path):
    exp = dataclasses.replace(TOY, optimizer=optimizer, optimizer_args=OPTIMIZERS[optimizer],
                              schedule=schedule, schedule_args=SCHEDULES[schedule])
    data = toy_data(n_train=200, n_test=50)  # 4 steps an epoch
    straight = make_runner(impl, exp)
    fit(straight, data, show_progress=False, log=None)

    first = make_runner(impl, exp)
    interrupt_at(first, 4 + 2)  # epoch 2, step 2
    with pytest.raises(KeyboardInterrupt):
        fit(first, data, checkpoint=tmp_path / "c.npz", show_progress=False, log=None)
    _, meta, _ = read_checkpoint(tmp_path / "c.npz")
    for s in meta["optimizer_state"].values():  # scratch's counts are ints, torch's tensors
        assert "step" not in s or type(s["step"]) is (int if impl == "scratch" else np.ndarray)
    runner, start, history = resume(tmp_path / "c.npz", exp)
    assert start == 1 and len(history.epochs) == 1
    fit(runner, data, start_epoch=start, history=history, show_progress=False, log=None)
    assert len(history.epochs) == 3 and runner.lr() == straight.lr()
    for key, w in straight.weights().items():
        np.testing.assert_array_equal(runner.weights()[key], w, err_msg=key)
        assert runner.weights()[key].dtype == w.dtype


def test_a_runs_files_are_named_by_everything_its_options_vary(tmp_path):
    """The names `outputs` promises: <experiment>-seed<seed>-<dtype>-<impl>.npz and .json, a
    lockstep report in place of the twin; runs of another seed or dtype into the same
    directory keep their own files."""
    exp = get_experiment("ci-mlp")
    assert outputs(tmp_path, exp, "torch", 0) == (tmp_path / "ci-mlp-seed0-float32-torch.npz",
                                                  tmp_path / "ci-mlp-seed0-float32-torch.json",
                                                  tmp_path / "ci-mlp-seed0-float32-lockstep.json")
    assert outputs(tmp_path, exp.with_overrides(seed=3), "torch", 3).checkpoint == \
        tmp_path / "ci-mlp-seed3-float32-torch.npz"
    assert outputs(tmp_path, exp.with_overrides(dtype="float64"), "both", 0).lockstep == \
        tmp_path / "ci-mlp-seed0-float64-lockstep.json"


def test_two_seeds_trained_into_one_directory_keep_both_checkpoints(tmp_path):
    data = toy_data(n_train=100, n_test=50)
    _, a = train_twin(TOY.with_overrides(epochs=1), "scratch", data, tmp_path,
                      show_progress=False)
    _, b = train_twin(TOY.with_overrides(epochs=1, seed=1), "scratch", data, tmp_path,
                      show_progress=False)
    assert a.checkpoint != b.checkpoint
    assert [read_checkpoint(p.checkpoint)[2].experiment["seed"] for p in (a, b)] == [0, 1]


def _stop_scratch_at(monkeypatch, call: int | None) -> None:
    """Make every ScratchRunner's `call`-th training step from now raise KeyboardInterrupt
    (None: never)."""
    calls = {"n": 0}
    real_step = ScratchRunner.train_step

    def step(self, x, y):
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        return real_step(self, x, y)

    monkeypatch.setattr(ScratchRunner, "train_step", step)


def test_train_twin_writes_its_outputs_and_ctrl_c_names_the_last_complete_epoch(
        tmp_path, monkeypatch):
    exp = TOY.with_overrides(epochs=2)
    data = toy_data(n_train=100, n_test=50)  # 2 steps an epoch
    history, paths = train_twin(exp, "scratch", data, tmp_path / "a", show_progress=False)
    assert paths == outputs(tmp_path / "a", exp, "scratch", exp.seed)
    assert read_checkpoint(paths.checkpoint)[1]["epoch"] == 2
    assert json.loads(paths.history.read_text()) == json.loads(history.to_json())
    # Interrupted in epoch 2: the checkpoint this run wrote holds epoch 1.
    _stop_scratch_at(monkeypatch, 2 + 1)
    with pytest.raises(TrainingInterrupted) as stop:
        train_twin(exp, "scratch", data, tmp_path / "b", show_progress=False)
    b = outputs(tmp_path / "b", exp, "scratch", exp.seed).checkpoint
    assert (stop.value.impl, stop.value.checkpoint, stop.value.epoch) == ("scratch", b, 1)
    # Interrupted in epoch 1 beside an earlier run's checkpoint: that file is not this run's.
    _stop_scratch_at(monkeypatch, 1)
    with pytest.raises(TrainingInterrupted) as stop:
        train_twin(exp, "scratch", data, tmp_path / "a", show_progress=False)
    assert (stop.value.checkpoint, stop.value.epoch) == (None, None)
    # A resumed run interrupted before its first epoch ends: the checkpoint it came from.
    _stop_scratch_at(monkeypatch, 1)
    with pytest.raises(TrainingInterrupted) as stop:
        train_twin(exp, "scratch", data, tmp_path / "c", resume_from=b, show_progress=False)
    assert (stop.value.checkpoint, stop.value.epoch) == (b, 1)


def test_resume_experiment_continues_only_what_the_checkpoint_can(tmp_path):
    """ci-mlp's ExponentialLR does not span the epochs: --epochs may extend the run, but
    must go past the epochs already trained; the seed stays the checkpoint's."""
    exp = get_experiment("ci-mlp")
    done = [EpochRecord(e, 1.0, 50.0, 1.0, 50.0, 1.0, 1.0, 0.1) for e in (1, 2)]
    path = tmp_path / "c.npz"
    save_checkpoint(path, make_runner("scratch", exp), History(exp.to_dict(), "scratch", done))
    with pytest.raises(ResumeRefused, match="has already trained 2 of 2 epochs"):
        resume_experiment(path, "ci-mlp", "scratch")
    longer = resume_experiment(path, "ci-mlp", "scratch", epochs=5, seed=0)
    assert longer == exp.with_overrides(epochs=5)
    with pytest.raises(ResumeRefused, match="was trained with --seed 0, not 1"):
        resume_experiment(path, "ci-mlp", "scratch", epochs=5, seed=1)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_loss_stops_with_epoch_step_lr_and_keeps_last_checkpoint(bad, tmp_path):
    data = toy_data()
    ckpt = tmp_path / "c.npz"
    exp = TOY.with_overrides(epochs=2)  # the cosine schedule follows: T_max 2
    runner = ScratchRunner(exp)
    real_step = runner.train_step
    calls = {"n": 0}

    def step(x, y):
        calls["n"] += 1
        return bad if calls["n"] == 12 + 3 else real_step(x, y)  # epoch 2, step 3

    runner.train_step = step
    with pytest.raises(TrainingDiverged, match=rf"loss became {bad} at epoch 2, step 3 "
                                               r"\(learning rate 0.025\); the checkpoint "
                                               r".*c.npz holds epoch 1, the last finite one"):
        fit(runner, data, checkpoint=ckpt, show_progress=False, log=None)
    _, meta, history = read_checkpoint(ckpt)
    assert meta["epoch"] == 1 and len(history.epochs) == 1  # the last finite epoch


def blow_up_at(runner, call: int) -> None:
    """Step `call` takes a learning rate of 1e25: its loss is finite, the weights after it
    are not (the full-batch write-ups' divergence)."""
    calls = {"n": 0}
    real_step = runner.train_step

    def step(x, y):
        calls["n"] += 1
        if calls["n"] == call:
            runner.optimizer.param_groups[0]["lr"] = 1e25
        return real_step(x, y)

    runner.train_step = step


@pytest.mark.parametrize("impl", ["scratch", "torch"])
def test_a_diverged_epoch_never_overwrites_the_good_checkpoint(impl, tmp_path):
    exp = TOY.with_overrides(layers=("linear 16", "relu", "linear 10"), batch_size=0, epochs=4,
                             schedule=None)
    data = toy_data(n_train=200, n_test=50)
    ckpt = tmp_path / "c.npz"
    runner = make_runner(impl, exp)
    blow_up_at(runner, 2)  # epoch 2's only step
    with pytest.raises(TrainingDiverged, match=r"(non-finite|test loss became nan) after "
                                               r"epoch 2 .*the checkpoint .*c.npz holds "
                                               r"epoch 1, the last finite one"):
        fit(runner, data, checkpoint=ckpt, show_progress=False, log=None)
    weights, meta, history = read_checkpoint(ckpt)
    assert meta["epoch"] == 1 and len(history.epochs) == 1
    assert all(np.isfinite(w).all() for w in weights.values())
    assert np.isfinite(history.epochs[-1].test_loss)


def test_a_run_that_diverges_at_once_says_no_checkpoint_exists(tmp_path):
    exp = TOY.with_overrides(layers=("linear 16", "relu", "linear 10"), batch_size=0, epochs=2)
    runner = make_runner("torch", exp)
    blow_up_at(runner, 1)
    with pytest.raises(TrainingDiverged, match=r"no checkpoint was written \(.*c.npz does "
                                               r"not exist\)"):
        fit(runner, toy_data(n_train=200, n_test=50), checkpoint=tmp_path / "c.npz",
            show_progress=False, log=None)
    assert not (tmp_path / "c.npz").exists()


def test_lockstep_twins_stay_together_float64():
    exp = TOY.with_overrides(dtype="float64", epochs=2)
    report = run_lockstep(exp, toy_data(dtype=np.float64), show_progress=False, log=None)
    assert report.steps == 24
    # measured: weights 6.3e-12 (worst: 0.bias, which feeds the batch norm), loss 8.9e-16
    assert report.max_weight_rel_diff <= 1e-9
    assert report.weight_norm_rel_diff <= 1e-13
    assert report.max_loss_diff <= 1e-12
    assert report.test_accuracy["scratch"] == report.test_accuracy["torch"]


def test_lockstep_twins_stay_together_float32():
    """float32 rounding, compounded over 24 steps. The first linear layer's bias feeds a
    batch norm, which cancels it: its gradient is rounding noise of either sign and its
    per-tensor difference (measured 1.8e-3) says nothing; the model as a whole (measured
    1e-7) and every tensor of a model without that bias (measured 2.5e-7) do."""
    exp = TOY.with_overrides(dtype="float32", epochs=2)
    report = run_lockstep(exp, toy_data(), show_progress=False, log=None)
    assert report.steps == 24
    assert report.weight_norm_rel_diff <= 1e-5
    assert report.max_loss_diff <= 1e-5  # measured 4.8e-7
    plain = run_lockstep(exp.with_overrides(layers=("linear 32", "relu", "dropout 0.2",
                                                    "linear 10")),
                         toy_data(), show_progress=False, log=None)
    assert plain.max_weight_rel_diff <= 1e-5


@pytest.mark.parametrize("threads", [1, 2])
def test_the_ulp_experiment_moves_every_weight_by_one_ulp_and_measures_the_drift(threads):
    """one_ulp_off: the same initial weights, each one ulp up (the buffers untouched); run
    beside the twins, its drift from scratch is recorded (float64: rounding-sized after 24
    steps of a well-behaved model, and not zero: the ulp is felt, at either BLAS thread
    count; a single element one ulp off vanished in rounding at one of them)."""
    from bench.compare.lockstep import ULP_WEIGHTS, one_ulp_off
    from bench.experiments import build_model

    scratch.set_num_threads(threads)  # conftest gives it back
    exp = TOY.with_overrides(dtype="float64", epochs=2)
    runner, name = one_ulp_off(exp)
    assert name == ULP_WEIGHTS
    fresh = build_model(exp, np.random.default_rng(exp.seed))
    params = dict(fresh.named_parameters())
    for key, value in runner.weights().items():
        want = fresh.state_dict()[key]
        if key in params:
            np.testing.assert_array_equal(value, np.nextafter(want, np.inf), err_msg=key)
        else:  # running statistics and counts: as built
            np.testing.assert_array_equal(value, want, err_msg=key)
    report = run_lockstep(exp, toy_data(dtype=np.float64), show_progress=False, log=None)
    assert report.ulp_weight == ULP_WEIGHTS
    assert 0 < report.ulp_weight_rel_diff <= 1e-9  # measured 3.0e-12 (the twins: 5.9e-12)
    assert report.ulp_max_loss_diff <= 1e-12
    assert "ulp_weight_rel_diff" in json.loads(report.to_json())
    off = run_lockstep(exp, toy_data(dtype=np.float64), show_progress=False, log=None,
                       ulp=False)
    assert off.ulp_weight == "" and off.max_weight_rel_diff == report.max_weight_rel_diff


def test_lockstep_reports_drift_when_the_twins_differ(monkeypatch):
    """Inside run_lockstep, a torch twin whose learning rate is 10% lower must show up."""
    import bench.compare.lockstep as lockstep

    real = lockstep.TorchRunner

    def slower_twin(exp, model, **kwargs):
        return real(exp.with_overrides(optimizer_args={**exp.optimizer_args,
                                                       "lr": 0.9 * exp.optimizer_args["lr"]}),
                    model, **kwargs)

    monkeypatch.setattr(lockstep, "TorchRunner", slower_twin)
    exp = TOY.with_overrides(dtype="float64", epochs=1)
    report = run_lockstep(exp, toy_data(dtype=np.float64), show_progress=False, log=None)
    assert report.max_weight_rel_diff > 1e-4
    assert report.weight_norm_rel_diff > 1e-4
    assert report.max_loss_diff > 1e-4


def test_batches_are_a_fresh_permutation_each_epoch():
    n, size = 103, 10
    orders = [np.concatenate(list(batches(n, size, seed=0, epoch=e))) for e in range(3)]
    for order in orders:
        np.testing.assert_array_equal(np.sort(order), np.arange(n))  # each sample once
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])
    assert [len(b) for b in batches(n, size, 0, 0)] == [10] * 10 + [3]
    # and the fit loop takes each epoch's own order: the samples a runner sees, epoch by epoch
    seen = []

    class Spy:
        exp = TOY.with_overrides(batch_size=size)
        impl = "spy"

        def begin_epoch(self, epoch):
            seen.append([])

        def train_step(self, x, y):
            seen[-1].extend(x[:, 0].astype(int))
            return 1.0

        def lr(self):
            return 0.1

    data = Data(np.arange(n, dtype=np.float32)[:, None], np.zeros(n, np.int64),
                np.zeros((1, 1), np.float32), np.zeros(1, np.int64))
    for epoch in range(3):
        train_epoch(Spy(), data, epoch)
    assert [list(o) for o in orders] == seen


def test_train_loss_is_the_sample_weighted_mean():
    """An uneven last batch (3 of 103) weighs 3 samples, not a tenth of the epoch."""
    n = 103

    class Spy:
        exp = TOY.with_overrides(batch_size=10)
        impl = "spy"

        def begin_epoch(self, epoch):
            pass

        def train_step(self, x, y):
            return float(x.mean())  # the batch's mean of per-sample losses x

        def lr(self):
            return 0.1

    per_sample = np.random.default_rng(0).uniform(0, 5, n).astype(np.float64)
    data = Data(per_sample[:, None], np.zeros(n, np.int64), per_sample[:1, None],
                np.zeros(1, np.int64))
    loss, _ = train_epoch(Spy(), data, 0)
    assert loss == pytest.approx(per_sample.mean(), rel=1e-12)
    batch_means = [per_sample[idx].mean() for idx in batches(n, 10, TOY.seed, 0)]
    assert abs(np.mean(batch_means) - per_sample.mean()) > 1e-3  # the unweighted mean differs


@pytest.mark.parametrize("name", sorted(n for n, e in EXPERIMENTS.items() if e.objective is None))
def test_every_experiment_builds_both_twins_and_steps(name):
    """One training step of each classifier in both twins (the generative ones':
    tests/test_generative.py): the same loss before the step,
    the same weights after it (the update itself), and the same learning rate next.

    In float64: Adam divides each gradient by its own magnitude, so a gradient element that
    is float32 rounding noise gets a full-size step of either sign, and the update could only
    be held to a float32 bound loose enough to miss a wrong one."""
    exp = get_experiment(name).with_overrides(dtype="float64")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, *input_shape(exp))).astype(exp.dtype)  # (8, 784) or (8, 1, 28, 28)
    y = rng.integers(0, 10, 8)
    model = build_model(exp, np.random.default_rng(exp.seed))
    s, t = ScratchRunner(exp, model), TorchRunner(exp, model, shared_dropout=True)
    before = {k: v.copy() for k, v in s.weights().items()}
    for runner in (s, t):
        runner.begin_epoch(0)
    ls, lt = s.train_step(x, y), t.train_step(x, y)
    assert ls == pytest.approx(lt, rel=1e-4)
    rel_tol = 1e-8
    weights, tweights = s.weights(), t.weights()
    steps = {k: (weights[k] - before[k], tweights[k] - before[k]) for k in before}
    largest = max(float(np.abs(b).max(initial=0)) for _, b in steps.values())
    assert largest > 0  # the step changed the weights
    for key, (step, tstep) in steps.items():
        assert weights[key].dtype == tweights[key].dtype, key
        # a bias feeding a batch norm gets an update of pure rounding noise (~1e-10): each
        # update is measured against its own scale, floored at 1e-3 of the largest one
        assert max_rel_diff(step, tstep, floor=1e-3 * largest) <= rel_tol, key
    s.end_epoch()
    t.end_epoch()
    assert s.lr() == pytest.approx(t.lr(), rel=1e-12)


def test_unknown_experiment_and_layer_names():
    with pytest.raises(ValueError, match="unknown experiment 'mpl'; expected one of"):
        get_experiment("mpl")
    with pytest.raises(ValueError, match="unknown layer 'attention 3'"):
        build_model(TOY.with_overrides(layers=("attention 3",)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown implementation 'jax'"):
        make_runner("jax", TOY)


def test_accuracy_and_lockstep_records_feed_the_report(tmp_path):
    from bench.measure.accuracy import run_accuracy, run_lockstep_record
    from bench.results import records, report

    exp = TOY.with_overrides(name="mlp", epochs=1, target_accuracy=30.0)
    data = toy_data()
    records.append_record("accuracy", run_accuracy(exp, data, show_progress=False, log=None),
                          tmp_path)
    records.append_record("lockstep", run_lockstep_record(exp, data, show_progress=False,
                                                          log=None), tmp_path)
    acc = records.load_records("accuracy", tmp_path)[0]
    assert np.array(acc["confusion"]["scratch"]).sum() == len(data.y_test)
    lock = records.load_records("lockstep", tmp_path)[0]
    assert lock["experiment"]["name"] == "mlp" and lock["steps"] == 12
    tables = report.build_tables(tmp_path)
    assert "| mlp " in tables["accuracy"] and "| mlp " in tables["lockstep"]


def test_weight_norm_rel_diff():
    from bench.compare import weight_norm_rel_diff

    b = {"w": np.array([3.0, 4.0]), "n": np.array(5)}
    assert weight_norm_rel_diff({"w": np.array([3.0, 4.5]), "n": np.array(7)}, b) == 0.1


@pytest.mark.parametrize("impl", ["scratch", "torch"])
def test_loading_weights_of_another_architecture_names_every_key(impl):
    runner = make_runner(impl, TOY)
    other = build_model(TOY.with_overrides(layers=("linear 16", "relu", "linear 10")),
                        np.random.default_rng(0)).state_dict()
    with pytest.raises(ValueError, match=r"missing keys \[.*'1.running_mean'.*\], "
                                         r"unexpected keys \[.*'2.weight'.*\], "
                                         r"shape mismatch for 0.weight: expected shape "
                                         r"\(32, 784\), got \(16, 784\)"):
        runner.load_weights(other)


def test_saving_a_checkpoint_sweeps_temporary_files_a_killed_save_left(tmp_path):
    import os
    import time

    stale, fresh = tmp_path / ".tmp-abcd1234.part", tmp_path / ".tmp-efgh5678.part"
    for p in (stale, fresh):
        p.write_bytes(b"half a checkpoint")
    hours_ago = time.time() - 2 * 3600
    os.utime(stale, (hours_ago, hours_ago))
    runner = make_runner("scratch", TOY)
    save_checkpoint(tmp_path / "c.npz", runner, History(TOY.to_dict(), "scratch"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [fresh.name, "c.npz"]


@pytest.mark.parametrize("optimizer", ["Adam", "AdamW", "RMSprop", "Adagrad"])
def test_a_step_count_read_back_as_a_0d_array_steps_as_the_int_did(optimizer):
    import scratch

    rng = np.random.default_rng(0)
    models = [scratch.Linear(40, 30, rng=np.random.default_rng(1)) for _ in range(2)]
    opts = [getattr(scratch.optim, optimizer)(m.parameters(), lr=1e-2) for m in models]
    x = rng.standard_normal((5, 40)).astype(np.float32)

    def step(model, opt):
        opt.zero_grad()
        model(x)
        model.backward(np.ones((5, 30), np.float32))
        opt.step()

    step(models[0], opts[0])
    state = opts[0].state_dict()
    for s in state["state"].values():  # as a file gives it back: numbers as 0-d arrays
        s.update({k: np.asarray(v) for k, v in s.items() if not isinstance(v, np.ndarray)})
    models[1].load_state_dict(models[0].state_dict())
    opts[1].load_state_dict(state)
    for _ in range(10):
        for model, opt in zip(models, opts):
            step(model, opt)
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        assert b.data.dtype == a.data.dtype == np.float32
        np.testing.assert_array_equal(b.data, a.data)


def test_the_architecture_line_names_what_each_experiment_is():
    from bench.experiments.layers import architecture

    assert architecture(get_experiment("lstm")) == "LSTM 128 over the rows, linear 10"
    assert architecture(get_experiment("gru-fashion")) == "GRU 128 over the rows, linear 10"
    assert architecture(get_experiment("vit")) == ("ViT patch=7 dim=64 heads=4 depth=3 ff=128, "
                                                   "linear 10")
    assert architecture(get_experiment("mlp")).startswith("MLP 784-1024-1024-10")


def test_one_cycle_steps_per_batch_over_the_whole_run_in_both_twins():
    """OneCycleLR moves once per batch (torch's docs), over a cycle of epochs *
    steps_per_epoch: both twins follow torch's own scheduler on a bare parameter step by
    step, end at its final lr, and a whole run of fit never steps past the cycle's end
    (torch's scheduler raises there)."""
    import torch

    exp = Experiment(name="one-cycle", dataset="mnist", layers=("linear 10",),
                     optimizer="Adam", optimizer_args={"lr": 3e-3},
                     schedule="OneCycleLR", schedule_args={"max_lr": 3e-3},
                     batch_size=100, epochs=2, train_subset=250, dtype="float64")
    assert exp.steps_per_epoch() == 3  # 100 + 100 + 50
    param = torch.nn.Parameter(torch.zeros(1))
    expected_opt = torch.optim.Adam([param], lr=3e-3)
    expected = torch.optim.lr_scheduler.OneCycleLR(expected_opt, max_lr=3e-3, total_steps=6)
    rng = np.random.default_rng(0)
    data = Data(rng.standard_normal((250, 784)), rng.integers(0, 10, 250),
                rng.standard_normal((20, 784)), rng.integers(0, 10, 20))
    model = build_model(exp, np.random.default_rng(0))
    runners = ScratchRunner(exp, model), TorchRunner(exp, model)
    lrs = {r.impl: [] for r in runners}
    for runner in runners:
        for epoch in range(exp.epochs):
            runner.begin_epoch(epoch)
            for idx in batches(250, exp.batch_size, exp.seed, epoch):
                lrs[runner.impl].append(runner.lr())
                runner.train_step(data.x_train[idx], data.y_train[idx])
            runner.end_epoch()
        lrs[runner.impl].append(runner.lr())
    want = []
    for _ in range(6):
        want.append(expected_opt.param_groups[0]["lr"])
        expected_opt.step()
        expected.step()
    want.append(expected_opt.param_groups[0]["lr"])
    assert len(set(want)) == 7  # the lr moves at every batch
    for impl, got in lrs.items():
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=impl)
    for runner in (ScratchRunner(exp), TorchRunner(exp)):
        assert len(fit(runner, data, show_progress=False, log=None).epochs) == exp.epochs


class ScriptedRunner:
    """A runner on a fake clock: each training step takes 1 s, each predict call 1000 s plus
    1 s per image, and the test set's accuracy follows `test_accuracies`, one per epoch."""

    impl = "scripted"

    def __init__(self, exp, clock, test_accuracies, n_test):
        self.exp, self.clock, self.accuracies, self.n_test = exp, clock, test_accuracies, n_test
        self.epoch = 0

    def begin_epoch(self, epoch):
        self.epoch = epoch

    def train_step(self, x, y):
        self.clock.now += 1.0
        return 1.0

    def predict(self, x):
        self.clock.now += 1000.0 + len(x)
        logits = np.zeros((len(x), 10))  # (N, 10): class 0 everywhere
        if len(x) == self.n_test:  # the test set: the scripted share of labels right
            right = round(self.accuracies[self.epoch] / 100 * len(x))
            logits[right:, 0] = -1.0
            logits[right:, 1] = 1.0
        return logits

    def weights(self):
        return {}

    def end_epoch(self):
        pass

    def lr(self):
        return 0.1


def _scripted_fit(monkeypatch, accuracies, stop_at):
    from types import SimpleNamespace

    from bench.training import loop

    clock = SimpleNamespace(now=0.0)
    monkeypatch.setattr(loop, "time", SimpleNamespace(perf_counter=lambda: clock.now))
    data = Data(np.zeros((50, 784), np.float32), np.zeros(50, np.int64),
                np.zeros((20, 784), np.float32), np.zeros(20, np.int64))
    exp = TOY.with_overrides(batch_size=10, epochs=len(accuracies))
    runner = ScriptedRunner(exp, clock, accuracies, n_test=20)
    return fit(runner, data, show_progress=False, log=None, stop_at=stop_at)


def test_fit_times_steps_and_the_test_evaluation_alone(monkeypatch):
    """An epoch's `seconds` are its 5 training steps (1 s each, nothing else), its
    `eval_seconds` the test evaluation alone (1000 s + 20 images), not the train-accuracy
    sample evaluated just before it (1000 s + 50 images)."""
    history = _scripted_fit(monkeypatch, [50.0, 60.0], stop_at=None)
    assert [(e.seconds, e.eval_seconds) for e in history.epochs] == [(5.0, 1020.0)] * 2
    assert [e.test_accuracy for e in history.epochs] == [50.0, 60.0]


def test_fit_stops_at_the_first_epoch_that_reaches_the_target(monkeypatch):
    """stop_at is reached by an accuracy equal to it, not only one above it."""
    history = _scripted_fit(monkeypatch, [80.0, 90.0, 95.0, 100.0], stop_at=90.0)
    assert [e.test_accuracy for e in history.epochs] == [80.0, 90.0]


def test_time_to_accuracy_counts_steps_and_evaluations_up_to_the_epoch_reaching_it():
    """epochs_to_target: the first epoch at or above the target (equal counts), and the
    seconds of every epoch's steps and test evaluation up to and including it."""
    from bench.measure.tta import epochs_to_target

    def record(epoch, acc, seconds, eval_seconds):
        return EpochRecord(epoch, 1.0, acc, 1.0, acc, seconds, 1.0, 0.1, eval_seconds)

    h = History({}, "scratch", [record(1, 97.5, 10.0, 1.0), record(2, 98.0, 20.0, 2.0),
                                record(3, 99.0, 40.0, 4.0)])
    assert epochs_to_target(h, 98.0) == (2, 33.0)
    assert epochs_to_target(h, 97.5) == (1, 11.0)
    assert epochs_to_target(h, 98.5) == (3, 77.0)
    assert epochs_to_target(h, 99.5) == (None, 77.0)


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
def test_a_stacked_recurrent_model_trains_through_the_loop_as_its_twin(mode):
    """Two stacked recurrent layers ("rows MODE 8 layers=2") through the training loop's
    train_step, which asks for no input gradient (`input_grad=False`): the gradient must
    still pass between the stack's layers. Three steps in float64 move both twins' every
    weight alike (rel 1e-8 of each update, as the every-experiment step test)."""
    exp = Experiment(name="stacked", dataset="mnist", layers=(f"rows {mode} 8 layers=2",
                                                              "linear 10"),
                     optimizer="SGD", optimizer_args={"lr": 0.5}, batch_size=16, epochs=1,
                     dtype="float64")
    model = build_model(exp, np.random.default_rng(0))
    assert model[0].rnn.num_layers == 2
    s, t = ScratchRunner(exp, model), TorchRunner(exp, model)
    before = {k: v.copy() for k, v in s.weights().items()}
    rng = np.random.default_rng(1)
    for runner in (s, t):
        runner.begin_epoch(0)
    for _ in range(3):
        x, y = rng.standard_normal((16, 784)), rng.integers(0, 10, 16)
        assert s.train_step(x, y) == pytest.approx(t.train_step(x, y), rel=1e-10)
    weights, tweights = s.weights(), t.weights()
    for key in before:
        step, tstep = weights[key] - before[key], tweights[key] - before[key]
        assert np.abs(step).max() > 0, key  # the first layer learned too
        assert max_rel_diff(step, tstep) <= 1e-8, key


def test_an_epoch_that_leaves_a_weight_non_finite_stops_naming_it(tmp_path):
    """checked_epoch, the epoch wrapper of fit and fit_generative: an epoch whose loss stayed
    finite but left a weight NaN raises TrainingDiverged naming the weight, the epoch, the
    learning rate and what the checkpoint holds."""
    from bench.training.loop import checked_epoch

    runner = make_runner("scratch", TOY)
    weight = runner.model[0].weight.data

    def epoch(bar):
        weight[0, 0] = np.nan
        return 0.5, 1.0

    with pytest.raises(TrainingDiverged, match=r"weights 0\.weight became non-finite after "
                                               r"epoch 2 \(learning rate 0\.05\); no checkpoint"):
        checked_epoch(runner, epoch, samples=10, epoch=1, lr=0.05, checkpoint=None,
                      saved_epoch=None, show_progress=False)
    weight[0, 0] = 0.0  # finite again: the epoch's own result comes back
    assert checked_epoch(runner, lambda bar: (0.25, 2.0), samples=10, epoch=1, lr=0.05,
                         checkpoint=None, saved_epoch=None, show_progress=False) == (0.25, 2.0)
