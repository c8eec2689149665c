"""Parameter groups, parameters without gradients, add_param_group and torch's state_dict layout.

Every optimizer over 30 steps against torch.optim with two groups holding
different options (maximize, amsgrad, centered, nesterov, ... per group), one
parameter that never gets a gradient and one that misses every third step:
trajectories and state agree, the gradient-less parameter neither moves nor
gets state. state_dict mid-run, loaded into a fresh optimizer (scratch's own
or torch's state_dict), continues exactly; add_param_group mid-run matches.
"""

import numpy as np
import pytest
import torch
from optim_helpers import SHAPES, draw_grads, feed, group_twins, params_rel_diff

import scratch
from scratch import optim
from scratch.testing import max_rel_diff

STEPS = 30
REL_TOL = {np.float64: 1e-10, np.float32: 1e-5}
DTYPES = [np.float64, np.float32]

# optimizer -> (constructor defaults, the second group's overrides)
GROUPS = {
    "SGD": (dict(lr=0.05, momentum=0.9, weight_decay=1e-2),
            dict(lr=0.1, nesterov=True, maximize=True)),
    "SGD plain": (dict(lr=0.05), dict(lr=0.1, dampening=0.3, momentum=0.5)),
    "Adam": (dict(lr=0.05, weight_decay=1e-2),
             dict(lr=0.02, amsgrad=True, maximize=True, betas=(0.8, 0.99))),
    "AdamW": (dict(lr=0.05, amsgrad=True), dict(weight_decay=0.1, maximize=True, eps=1e-6)),
    "RMSprop": (dict(lr=0.01, momentum=0.9),
                dict(centered=True, momentum=0.0, maximize=True, weight_decay=1e-2)),
    "RMSprop centered": (dict(lr=0.01, centered=True, alpha=0.9), dict(momentum=0.5)),
    "Adagrad": (dict(lr=0.1, lr_decay=1e-3, initial_accumulator_value=0.1),
                dict(lr=0.05, weight_decay=1e-2, maximize=True, eps=1e-6)),
}
IDS = list(GROUPS)


def _name(key):
    return key.split()[0]


def _state_rel_diff(opt, topt) -> float:
    """Largest difference over every state array; also checks both have state for the same
    parameters under the same names and the same step counts."""
    state, tstate = opt.state_dict()["state"], topt.state_dict()["state"]
    assert sorted(state) == sorted(tstate)
    worst = 0.0
    for i in state:
        assert sorted(state[i]) == sorted(tstate[i]), (i, state[i].keys(), tstate[i].keys())
        for key, value in state[i].items():
            ref = tstate[i][key].numpy()
            if key == "step":
                assert value == ref, (i, value, ref)
            else:
                worst = max(worst, max_rel_diff(value, ref, floor=1e-30))
    return worst


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("key", IDS)
def test_groups_and_missing_gradients_match_torch(key, dtype):
    defaults, override = GROUPS[key]
    run = group_twins(_name(key), dtype, defaults, override)
    start = [p.data.copy() for p in run.params]
    rng = np.random.default_rng(1)
    for step in range(STEPS):
        feed(run, draw_grads(rng, dtype, step))
    assert params_rel_diff(run.params, run.tparams) <= REL_TOL[dtype]
    assert _state_rel_diff(run.opt, run.topt) <= REL_TOL[dtype]
    np.testing.assert_array_equal(run.params[1].data, start[1])  # never had a gradient
    for i in (0, 2, 3):
        assert np.abs(run.params[i].data - start[i]).max() > 1e-3  # the others moved
    if _name(key) != "Adagrad":  # Adagrad creates every state up front, as torch
        assert 1 not in run.opt.state_dict()["state"]
    _assert_groups_equal(run.opt.state_dict()["param_groups"],
                         run.topt.state_dict()["param_groups"])


def _assert_groups_equal(mine, theirs) -> None:
    """torch's keys and values in every group (foreach aside: the twin was built with False)."""
    assert len(mine) == len(theirs)
    for g, tg in zip(mine, theirs):
        assert set(g) == set(tg), set(g) ^ set(tg)
        for k in g:
            if k != "foreach":
                assert g[k] == tg[k], (k, g[k], tg[k])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("key", IDS)
def test_state_dict_mid_run_continues_exactly(key, dtype):
    """Save at step 12, load into a fresh optimizer (from scratch's state_dict, and from
    torch's), continue: scratch's resumes bit for bit, torch's within the tolerance."""
    defaults, override = GROUPS[key]
    run = group_twins(_name(key), dtype, defaults, override)
    rng = np.random.default_rng(2)
    grads = [draw_grads(rng, dtype, step) for step in range(STEPS)]
    for g in grads[:12]:
        feed(run, g)
    saved, tsaved = run.opt.state_dict(), run.topt.state_dict()

    def fresh():
        again = group_twins(_name(key), dtype, defaults, override, seed=5)
        for p, q in zip(again.params, run.params):
            p.data[...] = q.data
        return again.opt, again.params

    resumed, resumed_params = fresh()
    resumed.load_state_dict(saved)
    from_torch, from_torch_params = fresh()
    from_torch.load_state_dict(tsaved)
    for g in grads[12:]:
        feed(run, g)
        for o, ps in ((resumed, resumed_params), (from_torch, from_torch_params)):
            for p, gi in zip(ps, g):
                p.zero_grad()
                if gi is not None:
                    p.grad = gi.copy()
            o.step()
    for p, q in zip(resumed_params, run.params):
        np.testing.assert_array_equal(p.data, q.data)
    assert params_rel_diff(from_torch_params, run.tparams) <= REL_TOL[dtype]
    assert all(isinstance(s.get("step", 0), int) for s in from_torch.state_dict()["state"].values())


@pytest.mark.parametrize("key", IDS)
def test_add_param_group_mid_run_matches_torch(key):
    defaults, override = GROUPS[key]
    run = group_twins(_name(key), np.float64, defaults, override, late_group=True)
    rng = np.random.default_rng(3)
    for step in range(STEPS):
        if step == 10:
            run.opt.add_param_group({"params": run.params[2:], **override})
            run.topt.add_param_group({"params": run.tparams[2:], **override})
        feed(run, draw_grads(rng, np.float64, step))
    assert params_rel_diff(run.params, run.tparams) <= REL_TOL[np.float64]
    assert _state_rel_diff(run.opt, run.topt) <= REL_TOL[np.float64]


def test_zero_grad_set_to_none_false_keeps_zero_gradients_that_still_step():
    """torch: zeros are a gradient (weight decay and momentum move p), None is none."""
    for set_to_none in (True, False):
        p = scratch.Parameter(np.ones(3))
        tp = torch.ones(3, dtype=torch.float64, requires_grad=True)
        opt = optim.SGD([p], lr=0.1, weight_decay=0.5)
        topt = torch.optim.SGD([tp], lr=0.1, weight_decay=0.5)
        p.grad, tp.grad = np.ones(3), torch.ones(3, dtype=torch.float64)
        opt.zero_grad(set_to_none)
        topt.zero_grad(set_to_none)
        assert p.has_grad is (not set_to_none) is (tp.grad is not None)
        opt.step()
        topt.step()
        np.testing.assert_array_equal(p.data, tp.detach().numpy())


def test_named_parameters_as_torch():
    rng = np.random.default_rng(0)
    model = scratch.Linear(3, 2, rng=rng, dtype=np.float64)
    opt = optim.Adam(model.named_parameters(), lr=0.1)
    tmodel = torch.nn.Linear(3, 2, dtype=torch.float64)
    topt = torch.optim.Adam(tmodel.named_parameters(), lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["weight", "bias"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == \
        topt.state_dict()["param_groups"][0]["param_names"]
    with pytest.raises(ValueError, match="with/without names"):
        opt.add_param_group({"params": [scratch.Parameter(np.ones(1))]})


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop"])
def test_implementation_flags(name):
    """foreach / fused: accepted, same arithmetic (scratch with foreach=True, fused=True against
    torch's for-loop path); capturable / differentiable: refused, naming the flag."""
    options = dict(lr=0.05)
    ref = group_twins(name, np.float64, options, {})
    rng = np.random.default_rng(4)
    grads = [draw_grads(rng, np.float64, step) for step in range(STEPS)]
    flags = [dict(foreach=True), dict(foreach=False)]
    if name != "RMSprop":  # torch's RMSprop has no fused
        flags.append(dict(fused=True))
    others = [group_twins(name, np.float64, {**options, **f}, {}).opt for f in flags]
    for g in grads:
        feed(ref, g)
    for f, opt in zip(flags, others):
        params = [p for group in opt.param_groups for p in group["params"]]
        for g in grads:
            for p, gi in zip(params, g):
                p.zero_grad()
                if gi is not None:
                    p.grad = gi.copy()
            opt.step()
        for p, q in zip(params, ref.params):
            np.testing.assert_array_equal(p.data, q.data, err_msg=str(f))
        assert all(opt.param_groups[0][k] == v for k, v in f.items())  # kept, as torch
    p = [scratch.Parameter(np.zeros(2))]
    cls = getattr(optim, name)
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        cls(p, differentiable=True)
    if name in ("Adam", "AdamW", "RMSprop"):
        with pytest.raises(ValueError, match="capturable=True"):
            cls(p, capturable=True)
    if name != "RMSprop":
        with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True`"):
            cls(p, fused=True, foreach=True)
        with pytest.raises(RuntimeError):
            getattr(torch.optim, name)([torch.zeros(2)], fused=True, foreach=True)


def test_bad_groups_are_refused():
    a, b = scratch.Parameter(np.ones(2)), scratch.Parameter(np.ones(1))
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [a]}, {"params": [a, b]}])
    with pytest.raises(ValueError, match="duplicate parameters"):
        optim.SGD([a, a])
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {a, b}}])
    with pytest.raises(ValueError, match="invalid learning rate: expected lr >= 0, got -1"):
        optim.Adam([{"params": [a]}, {"params": [b], "lr": -1}])
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([{"params": [a], "nesterov": True}], momentum=0.0)
    with pytest.raises(ValueError, match=r"unknown hyper-parameters \['momentum'\]"):
        optim.Adam([{"params": [a], "momentum": 0.9}])
    with pytest.raises(TypeError, match="should be an iterable of Parameters"):
        optim.SGD(a)
    opt = optim.Adam([a])
    with pytest.raises(ValueError, match="groups of sizes \\[1\\], got \\[2\\]"):
        opt.load_state_dict(optim.Adam([a, b]).state_dict())
    moved = optim.Adam([b])
    b.grad = np.ones(1)
    moved.step()
    with pytest.raises(ValueError, match=r"'exp_avg' of shape \(1,\) does not match its "
                                         r"parameter's shape \(2,\)"):
        opt.load_state_dict(moved.state_dict())


def test_old_state_without_the_new_keys_loads_with_defaults():
    """A state saved before foreach/fused/... were kept (an older checkpoint) still loads."""
    p = scratch.Parameter(np.ones(2))
    opt = optim.Adam([p], lr=0.1)
    p.grad = np.ones(2)
    opt.step()
    old = opt.state_dict()
    for key in ("foreach", "fused", "capturable", "differentiable"):
        del old["param_groups"][0][key]
    fresh = optim.Adam([scratch.Parameter(np.ones(2))])
    fresh.load_state_dict(old)
    assert fresh.param_groups[0]["fused"] is None and fresh.param_groups[0]["lr"] == 0.1
    assert len(SHAPES) == 4
