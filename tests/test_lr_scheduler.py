"""optim.lr_scheduler against torch.optim.lr_scheduler: the same lr sequence over 100 epochs.

Each scheduler drives two parameter groups (lr 0.1 and 0.05) of an SGD optimizer,
stepped after `optimizer.step()` as torch expects. Also: get_last_lr(), state_dict
round trips, a scheduled Adam trajectory, and refused arguments.
"""

import math

import numpy as np
import pytest
import torch
from optim_helpers import params_rel_diff

import scratch
from scratch import optim
from scratch.optim import lr_scheduler

EPOCHS = 100
REL_TOL = 1e-12  # measured: 0 (the same float64 operations in the same order)
LRS = (0.1, 0.05)


def _inverse_time(t):
    return 1 / (1 + 0.05 * t)


SCHEDULES = {
    "StepLR(7,0.5)": lambda opt, m: m.StepLR(opt, step_size=7, gamma=0.5),
    "StepLR(3)": lambda opt, m: m.StepLR(opt, 3),
    "ExponentialLR(0.97)": lambda opt, m: m.ExponentialLR(opt, gamma=0.97),
    "ExponentialLR(0.5)": lambda opt, m: m.ExponentialLR(opt, 0.5),
    "Cosine(30)": lambda opt, m: m.CosineAnnealingLR(opt, T_max=30),
    "Cosine(30,1e-3)": lambda opt, m: m.CosineAnnealingLR(opt, T_max=30, eta_min=1e-3),
    "Cosine(7,0.01)": lambda opt, m: m.CosineAnnealingLR(opt, 7, 0.01),
    "Lambda(inverse-time)": lambda opt, m: m.LambdaLR(opt, _inverse_time),
    "Lambda([inverse-time, 0.95^t])": lambda opt, m: m.LambdaLR(
        opt, [_inverse_time, lambda t: 0.95**t]),
    "MultiStep([30,10,60,60],0.5)": lambda opt, m: m.MultiStepLR(opt, [30, 10, 60, 60], 0.5),
    "MultiStep([3,7])": lambda opt, m: m.MultiStepLR(opt, milestones=[3, 7]),
    "Linear()": lambda opt, m: m.LinearLR(opt),
    "Linear(0.1,0.6,40)": lambda opt, m: m.LinearLR(opt, 0.1, 0.6, 40),
    "Linear(1,0,30)": lambda opt, m: m.LinearLR(opt, start_factor=1.0, end_factor=0.0,
                                                total_iters=30),
    "OneCycle(cos)": lambda opt, m: m.OneCycleLR(opt, max_lr=[1.0, 0.4], total_steps=EPOCHS),
    "OneCycle(linear,three_phase)": lambda opt, m: m.OneCycleLR(
        opt, 0.5, epochs=10, steps_per_epoch=10, pct_start=0.25, anneal_strategy="linear",
        three_phase=True, base_momentum=0.8, max_momentum=[0.9, 0.99], div_factor=10.0,
        final_div_factor=100.0),
    "OneCycle(no momentum)": lambda opt, m: m.OneCycleLR(opt, 0.3, total_steps=EPOCHS + 5,
                                                         cycle_momentum=False),
    "Sequential(Linear,Exponential)": lambda opt, m: m.SequentialLR(
        opt, [m.LinearLR(opt, 0.1, total_iters=5), m.ExponentialLR(opt, 0.95)],
        milestones=[5]),
    "Sequential(Step,Cosine,MultiStep)": lambda opt, m: m.SequentialLR(
        opt, [m.StepLR(opt, 3, 0.5), m.CosineAnnealingLR(opt, 20, 1e-3),
              m.MultiStepLR(opt, [70, 80])], [12, 50]),
}


def _sgd(lib, params):
    return lib.SGD([{"params": params[:1]}, {"params": params[1:], "lr": LRS[1]}], lr=LRS[0],
                   momentum=0.5)  # a momentum for OneCycleLR to cycle


def _make_pair(schedule):
    params = [scratch.Parameter(np.ones(3)), scratch.Parameter(np.ones(1))]
    tparams = [torch.ones(3, dtype=torch.float64, requires_grad=True),
               torch.ones(1, dtype=torch.float64, requires_grad=True)]
    opt, topt = _sgd(optim, params), _sgd(torch.optim, tparams)
    return opt, topt, schedule(opt, lr_scheduler), schedule(topt, torch.optim.lr_scheduler)


def _lrs(opt):
    return [g["lr"] for g in opt.param_groups]


def _rel(a, b):
    return max(abs(x - y) / max(abs(y), 1e-300) for x, y in zip(a, b))


@pytest.mark.parametrize("name", SCHEDULES)
def test_lr_sequence_matches_torch(name):
    opt, topt, sched, tsched = _make_pair(SCHEDULES[name])
    assert _rel(_lrs(opt), _lrs(topt)) <= REL_TOL  # construction may set the lr (LambdaLR)
    if hasattr(tsched, "base_lrs"):  # SequentialLR has none
        assert sched.base_lrs == tsched.base_lrs
    seen = set()
    for epoch in range(1, EPOCHS + 1):
        opt.step()
        topt.step()  # the torch params have no grad: only the order of calls matters
        sched.step()
        tsched.step()
        lrs, tlrs = _lrs(opt), _lrs(topt)
        assert _rel(lrs, tlrs) <= REL_TOL, (epoch, lrs, tlrs)
        assert sched.get_last_lr() == lrs
        assert _rel(sched.get_last_lr(), tsched.get_last_lr()) <= REL_TOL
        assert sched.last_epoch == tsched.last_epoch == epoch
        # OneCycleLR also cycles the momentum; every group key torch keeps, scratch keeps
        for g, tg in zip(opt.param_groups, topt.param_groups):
            assert _rel([g["momentum"]], [tg["momentum"]]) <= REL_TOL, epoch
            assert set(g) == set(tg)
        seen.add(lrs[0])
    assert len(seen) > 1  # the schedule did change the lr


def test_cosine_follows_the_closed_form_past_t_max():
    """The recursion tracks eta_min + (base - eta_min)(1 + cos(pi t / T_max)) / 2, also past
    T_max where the lr climbs back (the recursion's special case at t = T_max + 1)."""
    opt = optim.SGD([scratch.Parameter(np.ones(2))], lr=0.1)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=30, eta_min=1e-3)
    for t in range(1, EPOCHS + 1):
        opt.step()
        sched.step()
        closed = 1e-3 + (0.1 - 1e-3) * (1 + math.cos(math.pi * t / 30)) / 2
        assert abs(sched.get_last_lr()[0] - closed) <= 1e-12 * 0.1, t


def test_inverse_time_decay_as_lambda_lr():
    opt = optim.SGD([scratch.Parameter(np.ones(2))], lr=0.1)
    sched = lr_scheduler.LambdaLR(opt, lambda t: 1 / (1 + 0.05 * t))
    for t in range(1, 20):
        opt.step()
        sched.step()
        assert math.isclose(opt.param_groups[0]["lr"], 0.1 / (1 + 0.05 * t), rel_tol=1e-15)


class _InverseTime:
    """A callable object: LambdaLR's state_dict saves its attributes (a plain function's
    it cannot)."""

    def __init__(self, decay):
        self.decay = decay

    def __call__(self, t):
        return 1 / (1 + self.decay * t)


ROUND_TRIP = {**SCHEDULES,
              "Lambda(object)": lambda opt, m: m.LambdaLR(opt, _InverseTime(0.1))}


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_state_dict_round_trip_continues_the_sequence(name):
    schedule = ROUND_TRIP[name]
    opt, topt, sched, tsched = _make_pair(schedule)
    for _ in range(10):
        opt.step()
        sched.step()
    saved, saved_opt = sched.state_dict(), opt.state_dict()
    # The keys are torch's (which also keeps a private flag scratch has no use for).
    assert set(saved) <= set(tsched.state_dict()), set(saved) - set(tsched.state_dict())
    assert saved["last_epoch"] == 10

    params2 = [scratch.Parameter(np.ones(3)), scratch.Parameter(np.ones(1))]
    opt2 = _sgd(optim, params2)
    sched2 = schedule(opt2, lr_scheduler)
    if name == "Lambda(object)":
        sched2.lr_lambdas[0].decay = 0.7  # to be overwritten by the load
    # As torch advises: build the scheduler, then load the optimizer, then the scheduler.
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved)
    assert sched2.last_epoch == 10 and sched2.get_last_lr() == sched.get_last_lr()
    for _ in range(30):
        for o, s in ((opt, sched), (opt2, sched2)):
            o.step()
            s.step()
        assert _lrs(opt2) == _lrs(opt)
    if name == "Lambda(object)":
        assert sched2.lr_lambdas[0].decay == 0.1
    assert saved["last_epoch"] == 10  # a copy: later steps did not write into it


def test_lambda_lr_state_dict_skips_plain_functions_as_torch():
    opt = optim.SGD([scratch.Parameter(np.ones(2))], lr=0.1)
    state = lr_scheduler.LambdaLR(opt, [_inverse_time]).state_dict()
    assert state["lr_lambdas"] == [None]
    state = lr_scheduler.LambdaLR(opt, _InverseTime(0.3)).state_dict()
    assert state["lr_lambdas"] == [{"decay": 0.3}]


def test_resume_with_last_epoch_needs_initial_lr():
    opt = optim.SGD([scratch.Parameter(np.ones(2))], lr=0.1)
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(opt, 5, last_epoch=3)
    # With "initial_lr" (from a first scheduler, or a loaded optimizer state) it resumes.
    lr_scheduler.StepLR(opt, 5)
    sched = lr_scheduler.StepLR(opt, 5, last_epoch=3)
    topt = torch.optim.SGD([torch.ones(2, requires_grad=True)], lr=0.1)
    torch.optim.lr_scheduler.StepLR(topt, 5)
    tsched = torch.optim.lr_scheduler.StepLR(topt, 5, last_epoch=3)
    for _ in range(12):
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        assert _lrs(opt) == _lrs(topt)


def test_scheduled_adam_trajectory_matches_torch():
    """The scheduler's lrs reach the optimizer's update: Adam + CosineAnnealingLR, 30 steps."""
    rng = np.random.default_rng(5)
    params = [scratch.Parameter(rng.standard_normal(s)) for s in [(4, 3), (1,)]]
    tparams = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    opt, topt = optim.Adam(params, lr=0.05), torch.optim.Adam(tparams, lr=0.05, foreach=False)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=1e-3)
    tsched = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=10, eta_min=1e-3)
    for _ in range(30):
        for p, tp in zip(params, tparams):
            g = rng.standard_normal(p.shape)
            p.grad[...] = g
            tp.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
    assert params_rel_diff(params, tparams) <= 1e-10


def test_bad_arguments_raise():
    opt = optim.SGD([{"params": [scratch.Parameter(np.ones(2))]},
                     {"params": [scratch.Parameter(np.ones(1))]}], lr=0.1)
    with pytest.raises(ValueError, match="expected 2 lr_lambdas"):
        lr_scheduler.LambdaLR(opt, [_inverse_time])
    with pytest.raises(ValueError, match="step_size"):
        lr_scheduler.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="T_max"):
        lr_scheduler.CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(TypeError, match="Optimizer"):
        lr_scheduler.StepLR(torch.optim.SGD([torch.ones(1, requires_grad=True)]), 3)


def test_submodule_access_as_torch():
    import scratch.optim.lr_scheduler as by_path

    assert optim.lr_scheduler is by_path
    assert optim.lr_scheduler.StepLR is lr_scheduler.StepLR
    assert issubclass(lr_scheduler.CosineAnnealingLR, lr_scheduler.LRScheduler)


CLOSED_FORM = ["StepLR(7,0.5)", "ExponentialLR(0.97)", "Cosine(30,1e-3)",
               "MultiStep([30,10,60,60],0.5)", "Linear(0.1,0.6,40)", "Lambda(inverse-time)"]


@pytest.mark.parametrize("name", CLOSED_FORM)
def test_step_with_epoch_uses_the_closed_form_as_torch(name):
    opt, topt, sched, tsched = _make_pair(SCHEDULES[name])
    for epoch in (5, 17, 30, 31, 64, 3):
        with pytest.warns(UserWarning, match="epoch parameter"):
            sched.step(epoch)
        with pytest.warns(UserWarning):
            tsched.step(epoch)
        assert _rel(_lrs(opt), _lrs(topt)) <= REL_TOL, epoch
        assert sched.last_epoch == tsched.last_epoch == epoch


PLATEAU = {
    "min rel": dict(),
    "min abs, patience 2, cooldown 3": dict(threshold=0.05, threshold_mode="abs", patience=2,
                                            cooldown=3, factor=0.5),
    "max rel, min_lr per group": dict(mode="max", patience=1, min_lr=[0.01, 0.02],
                                      factor=0.3),
    "max abs, eps": dict(mode="max", threshold_mode="abs", threshold=0.1, patience=0,
                         factor=0.9, eps=1e-3, min_lr=0.04),
}


@pytest.mark.parametrize("name", PLATEAU)
def test_reduce_lr_on_plateau_matches_torch(name):
    opt, topt, sched, tsched = _make_pair(
        lambda o, m: m.ReduceLROnPlateau(o, **PLATEAU[name]))
    rng = np.random.default_rng(1)
    metrics = np.cumsum(rng.normal(0.0, 0.3, EPOCHS))  # wanders up and down, plateaus included
    saved = None
    for epoch, metric in enumerate(metrics, 1):
        opt.step()
        topt.step()
        sched.step(metric)
        tsched.step(torch.tensor(metric))
        assert _lrs(opt) == _lrs(topt), epoch
        assert sched.get_last_lr() == tsched.get_last_lr()
        assert (sched.best, sched.num_bad_epochs, sched.cooldown_counter, sched.last_epoch) == (
            tsched.best, tsched.num_bad_epochs, tsched.cooldown_counter, tsched.last_epoch)
        if epoch == EPOCHS // 2:
            saved, saved_opt = sched.state_dict(), opt.state_dict()
            assert set(saved) == set(tsched.state_dict())
    assert len(set(_lrs(opt)) | set(LRS)) > 2  # the lr was reduced
    # resume from the middle: the second half is replayed exactly
    opt2 = _sgd(optim, [scratch.Parameter(np.ones(3)), scratch.Parameter(np.ones(1))])
    sched2 = lr_scheduler.ReduceLROnPlateau(opt2, **PLATEAU[name])
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved)
    for metric in metrics[EPOCHS // 2:]:
        sched2.step(metric)
    assert _lrs(opt2) == _lrs(opt)


def test_new_schedulers_refuse_what_torch_refuses():
    opt = optim.SGD([scratch.Parameter(np.ones(2))], lr=0.1, momentum=0.9)
    m = lr_scheduler
    cases = [
        (lambda: m.LinearLR(opt, start_factor=0), "start_factor"),
        (lambda: m.LinearLR(opt, end_factor=1.5), "end_factor"),
        (lambda: m.OneCycleLR(opt, 1.0), "total_steps OR"),
        (lambda: m.OneCycleLR(opt, 1.0, total_steps=0), "positive integer total_steps"),
        (lambda: m.OneCycleLR(opt, 1.0, 10, pct_start=1), "pct_start"),
        (lambda: m.OneCycleLR(opt, 1.0, 10, anneal_strategy="exp"), "anneal_strategy"),
        (lambda: m.OneCycleLR(opt, [1.0, 2.0], 10), "max_lr must have the same length"),
        (lambda: m.OneCycleLR(optim.Adagrad([scratch.Parameter(np.ones(1))]), 1.0, 10),
         "momentum or beta1"),
        (lambda: m.SequentialLR(opt, [], []), "at least one scheduler"),
        (lambda: m.SequentialLR(opt, [m.StepLR(opt, 2)], [3]), "one more than the number"),
        (lambda: m.SequentialLR(opt, [m.ReduceLROnPlateau(opt)], []), "ReduceLROnPlateau"),
        (lambda: m.SequentialLR(opt, [m.StepLR(optim.SGD([scratch.Parameter(np.ones(1))]), 2)],
                                []), "same optimizer"),
        (lambda: m.ReduceLROnPlateau(opt, factor=1.0), "Factor should be < 1.0"),
        (lambda: m.ReduceLROnPlateau(opt, mode="up"), "mode 'up' is unknown"),
        (lambda: m.ReduceLROnPlateau(opt, threshold_mode="pct"), "threshold mode 'pct'"),
        (lambda: m.ReduceLROnPlateau(opt, min_lr=[0.1, 0.2]), "expected 1 min_lrs, got 2"),
    ]
    for call, match in cases:
        with pytest.raises(ValueError, match=match):
            call()
    sched = m.OneCycleLR(opt, 1.0, total_steps=3)
    for _ in range(3):
        sched.step()
    with pytest.raises(ValueError, match="Tried to step 4 times"):
        sched.step()


@pytest.mark.parametrize("level", [3.0, -3.0], ids=["positive", "negative"])
@pytest.mark.parametrize("threshold_mode,threshold", [("rel", 0.05), ("abs", 0.15)])
@pytest.mark.parametrize("mode", ["min", "max"])
def test_reduce_lr_on_plateau_every_mode_against_torch(mode, threshold_mode, threshold, level):
    """Each of the four improvement rules (min/max x rel/abs) against torch, on metrics
    that move by less than the threshold as often as by more (steps N(0, 0.1) around a
    positive and a negative level, where best * (1 -/+ threshold) differ in direction): a
    rule mixed up with another shows as a different best, bad-epoch count or lr."""
    opt, topt, sched, tsched = _make_pair(lambda o, m: m.ReduceLROnPlateau(
        o, mode=mode, threshold=threshold, threshold_mode=threshold_mode, patience=1,
        factor=0.5))
    metrics = level + np.cumsum(np.random.default_rng(2).normal(0.0, 0.1, 60))
    bad = 0
    for epoch, metric in enumerate(metrics, 1):
        sched.step(metric)
        tsched.step(metric)
        assert (sched.best, sched.num_bad_epochs, _lrs(opt)) == (
            tsched.best, tsched.num_bad_epochs, _lrs(topt)), epoch
        bad += sched.num_bad_epochs > 0
    assert 5 < bad < 55  # both outcomes happened
    assert _lrs(opt) != list(LRS)  # and the lr was reduced
