"""optim.SGD against torch.optim.SGD over 20 steps of random gradients, every option combination."""

import itertools

import numpy as np
import pytest
from optim_helpers import SHAPES, params_rel_diff, run_both

import scratch
from scratch import optim

STEPS = 20
REL_TOL = {np.float64: 1e-12, np.float32: 1e-5}

COMBOS = [
    dict(momentum=m, dampening=d, nesterov=n, weight_decay=wd, maximize=mx)
    for m, d, n, wd, mx in itertools.product([0.0, 0.9], [0.0, 0.3], [False, True],
                                             [0.0, 1e-2], [False, True])
    if not (n and (m == 0 or d != 0))  # torch rejects these, as does scratch (tested below)
]


def _combo_id(options: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in options.items())


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("options", COMBOS, ids=_combo_id)
def test_sgd_trajectory_matches_torch(options, dtype):
    params, tparams, *_ = run_both("SGD", dtype, dict(lr=0.05, **options), steps=STEPS)
    assert params_rel_diff(params, tparams) <= REL_TOL[dtype]
    assert all(p.data.dtype == dtype for p in params)


def test_sgd_moves_the_parameters():
    # Guard against a trajectory test that compares two parameters that never moved.
    params, *_ = run_both("SGD", np.float64, dict(lr=0.05, momentum=0.9), steps=STEPS)
    start = np.random.default_rng(0).standard_normal(SHAPES[0])
    assert np.abs(params[0].data - start).max() > 0.1


def test_sgd_rejects_bad_hyperparameters():
    p = [scratch.Parameter(np.zeros(3))]
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError, match="learning rate"):
        optim.SGD(p, lr=-1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="Parameters"):
        optim.SGD([np.zeros(3)], lr=0.1)


def test_sgd_param_groups_and_state_dict_round_trip():
    """A second optimizer loaded from the first's state_dict continues the same trajectory."""
    rng = np.random.default_rng(3)

    def make(a0, b0):
        a, b = scratch.Parameter(a0.copy()), scratch.Parameter(b0.copy())
        opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9)
        return a, b, opt

    a, b, opt = make(rng.standard_normal(4), rng.standard_normal(2))
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    grads = [(rng.standard_normal(4), rng.standard_normal(2)) for _ in range(3)]
    a.grad[...], b.grad[...] = grads[0]
    opt.step()
    a2, b2, opt2 = make(a.data, b.data)
    opt2.load_state_dict(opt.state_dict())
    for ga, gb in grads[1:]:
        for x, y, o in ((a, b, opt), (a2, b2, opt2)):
            x.grad[...], y.grad[...] = ga, gb
            o.step()
    np.testing.assert_array_equal(a.data, a2.data)
    np.testing.assert_array_equal(b.data, b2.data)
    with pytest.raises(ValueError, match="does not match"):
        optim.SGD([a], lr=0.1).load_state_dict(opt.state_dict())
