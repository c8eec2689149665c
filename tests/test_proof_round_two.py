"""Two classes of test behind bugs the suite once let through (issue 30): every
`state_dict()` hands out a snapshot, never live state; every function that switches a
caller's model to eval mode gives it back the mode it had."""

import copy

import numpy as np
import pytest
import torch

import scratch
from bench.experiments import Experiment
from bench.measure.learned import hidden_features
from bench.training import make_runner
from scratch import optim
from scratch.optim import lr_scheduler


def assert_same(a, b, where="state_dict"):
    """a == b, recursively through dicts, lists and tuples, arrays compared exactly."""
    assert type(a) is type(b), (where, type(a), type(b))
    if isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert a == b or (a != a and b != b), (where, a, b)


OPTIMIZERS = {
    "SGD(momentum)": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    "Adam(amsgrad)": lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True),
    "AdamW": lambda ps: optim.AdamW(ps, lr=0.01),
    "RMSprop(centered, momentum)": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5,
                                                            centered=True),
    "Adagrad": lambda ps: optim.Adagrad(ps, lr=0.1),
}


def _step(opt, params, rng):
    for p in params:
        p.grad = rng.standard_normal(p.shape)
    opt.step()


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_state_dict_is_a_snapshot_both_ways(name):
    """A saved optimizer state does not move as training goes on (its docstring promises
    copies; a checkpoint written later must hold the state of when it was taken), and a
    loaded one is copied in, so changing the dict afterwards leaves the optimizer alone."""
    rng = np.random.default_rng(0)
    params = [scratch.Parameter(rng.standard_normal(s)) for s in ((4, 3), (3,))]
    opt = OPTIMIZERS[name](params)
    for _ in range(2):
        _step(opt, params, rng)
    saved = opt.state_dict()
    snapshot = copy.deepcopy(saved)
    for _ in range(2):
        _step(opt, params, rng)
    opt.param_groups[0]["lr"] *= 0.5  # as a scheduler does
    assert_same(saved, snapshot)

    opt.load_state_dict(saved)
    after_load = copy.deepcopy(opt.state_dict())
    for s in saved["state"].values():
        for v in s.values():
            if isinstance(v, np.ndarray):
                v += 1.0
    saved["param_groups"][0]["lr"] = 123.0
    assert_same(opt.state_dict(), after_load)


SCHEDULERS = {
    "StepLR": lambda o: lr_scheduler.StepLR(o, 2, 0.5),
    "MultiStepLR": lambda o: lr_scheduler.MultiStepLR(o, [2, 4]),
    "ExponentialLR": lambda o: lr_scheduler.ExponentialLR(o, 0.9),
    "CosineAnnealingLR": lambda o: lr_scheduler.CosineAnnealingLR(o, 5),
    "LambdaLR": lambda o: lr_scheduler.LambdaLR(o, lambda t: 0.9**t),
    "LinearLR": lambda o: lr_scheduler.LinearLR(o, 0.2, total_iters=4),
    "OneCycleLR": lambda o: lr_scheduler.OneCycleLR(o, 1.0, total_steps=20),
    "SequentialLR": lambda o: lr_scheduler.SequentialLR(
        o, [lr_scheduler.LinearLR(o, 0.5, total_iters=2), lr_scheduler.ExponentialLR(o, 0.9)],
        [2]),
    "ReduceLROnPlateau": lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=0,
                                                                  min_lr=[0.0, 0.01]),
}


@pytest.mark.parametrize("name", SCHEDULERS)
def test_scheduler_state_dict_is_a_snapshot(name):
    """Stepping a scheduler after saving its state leaves the saved state as it was."""
    params = [scratch.Parameter(np.ones(2)), scratch.Parameter(np.ones(1))]
    opt = optim.SGD([{"params": params[:1]}, {"params": params[1:], "lr": 0.05}], lr=0.1,
                    momentum=0.9)
    sched = SCHEDULERS[name](opt)
    step = (lambda: sched.step(1.0)) if name == "ReduceLROnPlateau" else sched.step
    for _ in range(3):
        step()
    saved = sched.state_dict()
    snapshot = copy.deepcopy(saved)
    for _ in range(5):
        step()
    assert_same(saved, snapshot)


def test_module_state_dict_is_a_snapshot():
    """A module's state_dict holds copies: an optimizer step (parameters updated in place)
    and a training forward (batch norm's running statistics updated in place) leave it as
    it was."""
    rng = np.random.default_rng(0)
    model = scratch.Sequential(scratch.Linear(5, 6, rng=rng), scratch.BatchNorm1d(6),
                               scratch.Linear(6, 2, rng=rng))
    saved = model.state_dict()
    snapshot = copy.deepcopy(saved)
    opt = optim.SGD(model.parameters(), lr=0.1)
    out = model(rng.standard_normal((8, 5)).astype(np.float32))  # (8, 2)
    model.backward(np.full(out.shape, 0.1, out.dtype))
    opt.step()
    assert_same(saved, snapshot)
    assert not np.array_equal(saved["1.running_mean"], model[1].running_mean)  # it did move


TINY = Experiment(name="tiny", dataset="mnist", layers=("linear 16", "dropout 0.5", "batchnorm",
                                                       "relu", "linear 10"),
                  optimizer="SGD", optimizer_args={"lr": 0.1}, batch_size=8, epochs=1)


@pytest.mark.parametrize("impl", ["scratch", "torch"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_evaluating_a_runners_model_gives_its_mode_back(impl, training):
    """predict and hidden_features run the model in eval mode (dropout off, running
    statistics: the same logits twice) and leave it in the mode they found it in."""
    runner = make_runner(impl, TINY)
    runner.model.train(training)
    x = np.random.default_rng(0).standard_normal((6, 784)).astype(np.float32)
    first = runner.predict(x)
    assert runner.model.training is training
    np.testing.assert_array_equal(first, runner.predict(x))
    features = hidden_features(runner, x)
    assert features.shape == (6, 16) and runner.model.training is training
    modes = {m.training for m in runner.model.modules()}
    assert modes == {training}
    if impl == "torch":
        assert isinstance(runner.model, torch.nn.Module)
