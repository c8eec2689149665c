"""Fuzzing a checkpoint's optimizer and scheduler state: whatever a tampered or damaged
checkpoint holds in its param groups, per-parameter buffers or scheduler JSON, checking
it (`bench.training.check_contents`) either refuses it with a CheckpointError, or the
state loads into a fresh runner that then trains and steps its schedule without an
exception and with a finite loss. Never a traceback from deep inside an optimizer."""

import copy
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.experiments import Experiment, get_experiment
from bench.training import CheckpointError, History, check_contents, make_runner
from bench.training.checkpoint import read_checkpoint, save_checkpoint
from bench.training.runners import load_scheduler_state

ADAM_ONE_CYCLE = Experiment(
    name="fuzz-adam", dataset="mnist", layers=("linear 16", "batchnorm", "relu", "linear 10"),
    optimizer="Adam", optimizer_args={"lr": 1e-3}, schedule="OneCycleLR",
    schedule_args={"max_lr": 1e-2}, batch_size=50, epochs=2)
CASES = [(get_experiment("ci-mlp"), "scratch"), (get_experiment("ci-mlp"), "torch"),
         (ADAM_ONE_CYCLE, "scratch"), (ADAM_ONE_CYCLE, "torch")]
RNG = np.random.default_rng(0)
X = RNG.standard_normal((50, 784)).astype(np.float32)
Y = RNG.integers(0, 10, 50)


def _base(exp, impl, tmp_path_factory) -> tuple[dict, dict]:
    """(weights, meta) of a checkpoint after one step, as read back from its file."""
    runner = make_runner(impl, exp)
    runner.train_step(X, Y)
    path = tmp_path_factory.mktemp("fuzz") / "c.npz"
    save_checkpoint(path, runner, History(exp.to_dict(), impl))
    weights, meta, _ = read_checkpoint(path)
    return weights, meta


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    return [_base(exp, impl, tmp_path_factory) for exp, impl in CASES]


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(),
              st.text(max_size=4)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=3), inner, max_size=2)),
    max_leaves=5)
ARRAYS = st.builds(lambda shape, fill, dtype: np.full(shape, fill, dtype),
                   st.lists(st.integers(0, 3), max_size=3).map(tuple),
                   st.floats(width=32), st.sampled_from([np.float32, np.float64, np.int64]))


def _targets(meta: dict) -> list[tuple]:
    sched = json.loads(meta["scheduler"])
    return ([("group", k) for k in meta["param_groups"][0]] + [("groups",)]
            + [("scheduler", k) for k in sched] + [("scheduler-text",)]
            + [("state", i, k) for i, s in meta["optimizer_state"].items() for k in s]
            + [("state-index",)])


def _apply(meta: dict, target: tuple, value, array, drop: bool) -> dict:
    meta = copy.deepcopy(meta)
    kind = target[0]
    if kind == "group":
        group = meta["param_groups"][0]
        group.pop(target[1]) if drop else group.__setitem__(target[1], value)
    elif kind == "groups":
        meta["param_groups"] = value
    elif kind == "scheduler":
        sched = json.loads(meta["scheduler"])
        sched.pop(target[1]) if drop else sched.__setitem__(target[1], value)
        meta["scheduler"] = json.dumps(sched)
    elif kind == "scheduler-text":
        meta["scheduler"] = value if isinstance(value, str) else json.dumps(value)
    elif kind == "state":
        buffers = meta["optimizer_state"][target[1]]
        buffers.pop(target[2]) if drop else buffers.__setitem__(
            target[2], array if isinstance(buffers[target[2]], np.ndarray) else value)
    else:
        meta["optimizer_state"][str(value)[:6]] = {"momentum_buffer": array}
    return meta


@settings(max_examples=150, deadline=None)
@given(case=st.integers(0, len(CASES) - 1), pick=st.integers(0, 10**6), value=JSON_VALUES,
       array=ARRAYS, drop=st.booleans())
def test_fuzzed_optimizer_and_scheduler_state_is_refused_or_trains(bases, case, pick, value,
                                                                   array, drop):
    exp, impl = CASES[case]
    weights, meta = bases[case]
    targets = _targets(meta)
    fuzzed = _apply(meta, targets[pick % len(targets)], value, array, drop)
    try:
        check_contents("c.npz", exp, weights, fuzzed)
    except CheckpointError as err:
        assert str(err).startswith("c.npz: ") and "\n" not in str(err)
        return
    runner = make_runner(impl, exp)
    runner.load_weights(weights)
    runner.load_optimizer_state({"state": fuzzed["optimizer_state"],
                                 "param_groups": fuzzed["param_groups"]})
    load_scheduler_state(runner, fuzzed["scheduler"])
    for _ in range(2):
        assert math.isfinite(runner.train_step(X, Y))
    runner.end_epoch()
    assert math.isfinite(runner.lr())


def test_the_fuzzer_reaches_both_outcomes(bases):
    """The property is not vacuous: an untouched state trains, a damaged one is refused."""
    exp, _ = CASES[0]
    weights, meta = bases[0]
    check_contents("c.npz", exp, weights, meta)
    with pytest.raises(CheckpointError, match="lr is 1e\\+30"):
        check_contents("c.npz", exp, weights,
                       _apply(meta, ("group", "lr"), 1e30, None, False))
