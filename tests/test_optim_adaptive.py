"""RMSprop, Adagrad, Adam, AdamW against torch.optim over 30 steps of fresh random gradients.

Every option combination, both dtypes: parameters and optimizer state agree with
torch's single-tensor implementation (float64 to rounding: torch's CPU kernels fuse
multiply-adds, numpy cannot, so bitwise equality is out of reach). Also: signatures,
state_dict round trips and refused hyper-parameters.
"""

import inspect
import itertools

import numpy as np
import pytest
import torch
from optim_helpers import params_rel_diff, run_both

import scratch
from scratch import optim
from scratch.testing import max_rel_diff

STEPS = 30
REL_TOL = {np.float64: 1e-10, np.float32: 1e-5}  # measured: ~2e-15 and ~1e-6 at most
NAMES = ["RMSprop", "Adagrad", "Adam", "AdamW"]

CASES = (
    [("RMSprop", dict(momentum=m, centered=c, weight_decay=wd, maximize=mx))
     for m, c, wd, mx in itertools.product([0.0, 0.9], [False, True], [0.0, 1e-2], [False, True])]
    + [("RMSprop", dict(lr=0.05, alpha=0.3, eps=1e-6, centered=True))]  # lerp weight > 0.5
    + [("Adagrad", dict(lr=0.1, lr_decay=d, weight_decay=wd, initial_accumulator_value=a,
                        maximize=mx))
       for d, wd, a, mx in itertools.product([0.0, 1e-3], [0.0, 1e-2], [0.0, 0.1], [False, True])]
    + [(name, dict(lr=0.05, amsgrad=ams, weight_decay=wd, maximize=mx))
       for name in ("Adam", "AdamW")
       for ams, wd, mx in itertools.product([False, True], [0.0, 1e-2], [False, True])]
    + [("Adam", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2, amsgrad=True)),
       ("Adam", dict(lr=0.05, betas=(0.3, 0.6), eps=1e-4)),  # lerp weight > 0.5
       ("AdamW", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6)),  # default weight_decay 1e-2
       ("AdamW", dict(lr=0.05, weight_decay=0.5, amsgrad=True, maximize=True))]
)


def _case_id(case) -> str:
    name, options = case
    return name + "[" + ",".join(f"{k}={v}" for k, v in options.items()) + "]"


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_trajectory_and_state_match_torch(case, dtype):
    name, options = case
    params, tparams, opt, topt = run_both(name, dtype, options, steps=STEPS)
    rel = params_rel_diff(params, tparams)
    assert rel <= REL_TOL[dtype], (name, options, rel)
    assert all(p.data.dtype == dtype and p.grad.dtype == dtype for p in params)

    # The state carries torch's names and values ("step", "exp_avg", "square_avg", ...).
    state, tstate = opt.state_dict()["state"], topt.state_dict()["state"]
    assert sorted(state) == sorted(tstate) == list(range(len(params)))
    for i in state:
        assert sorted(state[i]) == sorted(tstate[i]), (state[i].keys(), tstate[i].keys())
        for key, value in state[i].items():
            ref = tstate[i][key].numpy()
            if key == "step":
                assert value == ref == STEPS
                continue
            assert value.dtype == dtype, key
            rel = max_rel_diff(value, ref, floor=np.finfo(dtype).tiny)
            assert rel <= REL_TOL[dtype], (key, value, ref)


@pytest.mark.parametrize("name", NAMES)
def test_parameters_actually_move(name):
    # Guard against a trajectory test that compares parameters that never moved.
    options = dict(lr=0.1) if name != "AdamW" else dict(lr=0.1, weight_decay=0.0)
    params, tparams, _, _ = run_both(name, np.float64, options, steps=STEPS)
    start = run_both(name, np.float64, options, steps=0).params
    for p, p0 in zip(params, start):
        assert np.abs(p.data - p0.data).min() > 1e-3, (name, p.shape)


def test_adamw_decays_where_adam_adds_l2():
    # Zero gradients isolate the decay: AdamW shrinks p by exactly (1 - lr * wd) per step;
    # Adam turns wd * p into a gradient and normalises it, a different move.
    p0 = np.array([2.0, -0.5])
    w, a = scratch.Parameter(p0.copy()), scratch.Parameter(p0.copy())
    adamw, adam = optim.AdamW([w], lr=0.1, weight_decay=0.5), optim.Adam([a], lr=0.1,
                                                                         weight_decay=0.5)
    w.grad, a.grad = np.zeros(2), np.zeros(2)  # given, and zero (no gradient: no step at all)
    adamw.step()
    adam.step()
    np.testing.assert_array_equal(w.data, p0 * (1 - 0.1 * 0.5))
    assert not np.allclose(a.data, w.data)
    assert adamw.param_groups[0]["decoupled_weight_decay"] is True
    assert adam.param_groups[0]["decoupled_weight_decay"] is False


@pytest.mark.parametrize("name", NAMES)
def test_signature_matches_torch(name):
    """Same argument names, defaults and positional order as torch (torch's extra flags aside)."""
    mine = list(inspect.signature(getattr(optim, name)).parameters.values())
    theirs = inspect.signature(getattr(torch.optim, name)).parameters
    for p in mine:
        assert p.name in theirs, p.name
        assert p.default == theirs[p.name].default, (p.name, p.default, theirs[p.name].default)
    positional = [p.name for p in mine if p.kind == p.POSITIONAL_OR_KEYWORD]
    assert positional == list(theirs)[:len(positional)]


ROUND_TRIP = {
    "RMSprop": dict(lr=0.01, momentum=0.9, centered=True, weight_decay=1e-2),
    "Adagrad": dict(lr=0.1, lr_decay=1e-2, initial_accumulator_value=0.1),
    "Adam": dict(lr=0.05, amsgrad=True, weight_decay=1e-2),
    "AdamW": dict(lr=0.05, amsgrad=True, maximize=True),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_continues_the_trajectory(name, dtype):
    """A second optimizer loaded from the first's state_dict continues the same trajectory."""
    rng = np.random.default_rng(3)
    a0, b0 = rng.standard_normal((4, 2)).astype(dtype), rng.standard_normal(1).astype(dtype)
    grads = [(rng.standard_normal((4, 2)).astype(dtype), rng.standard_normal(1).astype(dtype))
             for _ in range(8)]

    def make(a_init, b_init):
        a, b = scratch.Parameter(a_init.copy()), scratch.Parameter(b_init.copy())
        opt = getattr(optim, name)([{"params": [a]}, {"params": [b], "lr": 0.2}],
                                   **ROUND_TRIP[name])
        return a, b, opt

    a, b, opt = make(a0, b0)
    for ga, gb in grads[:3]:
        a.grad[...], b.grad[...] = ga, gb
        opt.step()
    saved = opt.state_dict()
    a2, b2, opt2 = make(a.data, b.data)
    opt2.load_state_dict(saved)
    assert opt2.state_dict()["param_groups"] == saved["param_groups"]
    for ga, gb in grads[3:]:
        for x, y, o in ((a, b, opt), (a2, b2, opt2)):
            x.grad[...], y.grad[...] = ga, gb
            o.step()
    np.testing.assert_array_equal(a.data, a2.data)
    np.testing.assert_array_equal(b.data, b2.data)
    assert a2.data.dtype == b2.data.dtype == dtype
    # The saved state is a copy: the steps taken since did not write into it.
    assert saved["state"][0]["step"] == 3
    assert opt.state_dict()["state"][0]["step"] == 8
    # The group keys are torch's (which has a few more: foreach, fused, ...).
    tgroup = getattr(torch.optim, name)([torch.zeros(1)]).state_dict()["param_groups"][0]
    assert set(saved["param_groups"][0]) <= set(tgroup)


def test_adagrad_creates_its_state_eagerly_as_torch():
    p = scratch.Parameter(np.zeros((2, 2), dtype=np.float32))
    state = optim.Adagrad([p], initial_accumulator_value=0.5).state_dict()["state"]
    tstate = torch.optim.Adagrad([torch.zeros(2, 2)], initial_accumulator_value=0.5)
    tstate = tstate.state_dict()["state"]
    assert state[0]["step"] == tstate[0]["step"] == 0
    np.testing.assert_array_equal(state[0]["sum"], tstate[0]["sum"].numpy())
    assert state[0]["sum"].dtype == np.float32


def test_adamw_keeps_decoupled_decay_when_loading_adam_state():
    p = scratch.Parameter(np.ones(2))
    adam = optim.Adam([p], lr=0.1)
    adam.step()
    adamw = optim.AdamW([scratch.Parameter(np.ones(2))])
    adamw.load_state_dict(adam.state_dict())
    assert adamw.param_groups[0]["decoupled_weight_decay"] is True
    assert adamw.param_groups[0]["lr"] == 0.1


BAD = [
    ("RMSprop", dict(lr=-1e-3), "learning rate"),
    ("RMSprop", dict(lr=float("nan")), "learning rate"),
    ("RMSprop", dict(alpha=-0.5), "alpha"),
    ("RMSprop", dict(eps=-1e-8), "eps"),
    ("RMSprop", dict(weight_decay=-1e-2), "weight_decay"),
    ("RMSprop", dict(momentum=-0.9), "momentum"),
    ("Adagrad", dict(lr=-1e-2), "learning rate"),
    ("Adagrad", dict(lr_decay=-1e-3), "lr_decay"),
    ("Adagrad", dict(weight_decay=-1e-2), "weight_decay"),
    ("Adagrad", dict(initial_accumulator_value=-0.1), "initial_accumulator_value"),
    ("Adagrad", dict(eps=-1e-10), "eps"),
    ("Adam", dict(lr=-1e-3), "learning rate"),
    ("Adam", dict(eps=-1e-8), "eps"),
    ("Adam", dict(betas=(1.0, 0.999)), r"index 0: expected 0 <= betas\[0\] < 1, got 1.0"),
    ("Adam", dict(betas=(0.9, -0.1)), r"index 1: expected 0 <= betas\[1\] < 1, got -0.1"),
    ("Adam", dict(weight_decay=-1e-2), "weight_decay"),
    ("AdamW", dict(lr=-1e-3), "learning rate"),
    ("AdamW", dict(betas=(0.9, 1.5)), "index 1"),
    ("AdamW", dict(weight_decay=-1e-2), "weight_decay"),
]


@pytest.mark.parametrize("name, kwargs, match", BAD,
                         ids=[f"{n}-{next(iter(kw))}={next(iter(kw.values()))}"
                              for n, kw, _ in BAD])
def test_bad_hyperparameters_raise_naming_them(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        getattr(optim, name)([scratch.Parameter(np.zeros(3))], **kwargs)
    with pytest.raises(ValueError):  # torch refuses the same values
        getattr(torch.optim, name)([torch.zeros(3)], **kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_bad_parameters_raise(name):
    with pytest.raises(ValueError, match="empty parameter list"):
        getattr(optim, name)([])
    with pytest.raises(TypeError, match="Parameters"):
        getattr(optim, name)([np.zeros(3)])


def test_adam_betas_must_be_a_pair():
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([scratch.Parameter(np.zeros(3))], betas=(0.9,))
