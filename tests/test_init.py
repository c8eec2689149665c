"""scratch.init: torch's fans, gains and distributions, drawn from an explicit Generator."""

import math

import numpy as np
import pytest
import torch

import scratch
from bench.experiments import initialize
from scratch import init


@pytest.mark.parametrize("shape", [(10, 20), (7, 3), (16, 8, 3, 3), (4, 1, 5, 5)])
def test_fans_match_torch(shape):
    ours = init.calculate_fan_in_and_fan_out(np.empty(shape))
    theirs = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert ours == theirs


@pytest.mark.parametrize("name,param", [("linear", None), ("relu", None), ("tanh", None),
                                        ("leaky_relu", None), ("leaky_relu", 0.2),
                                        ("sigmoid", None), ("selu", None)])
def test_gains_match_torch(name, param):
    assert init.calculate_gain(name, param) == pytest.approx(
        torch.nn.init.calculate_gain(name, param), rel=1e-15)


# expected std of each scheme for a (fan_out, fan_in) = (300, 400) weight
FAN_IN, FAN_OUT = 400, 300
SCHEME_STD = {
    "kaiming_uniform": math.sqrt(2 / FAN_IN),
    "kaiming_normal": math.sqrt(2 / FAN_IN),
    "xavier_uniform": math.sqrt(2 / (FAN_IN + FAN_OUT)),
    "xavier_normal": math.sqrt(2 / (FAN_IN + FAN_OUT)),
    "normal": 0.01,
    "default": 1 / math.sqrt(3 * FAN_IN),  # U(-1/sqrt(fan_in), 1/sqrt(fan_in))
}


@pytest.mark.parametrize("scheme", list(SCHEME_STD))
def test_initialize_schemes_have_the_documented_spread(scheme):
    model = scratch.Sequential(scratch.Linear(FAN_IN, FAN_OUT, rng=np.random.default_rng(0)))
    initialize(model, scheme, rng=np.random.default_rng(1))
    w, b = model[0].weight.data, model[0].bias.data
    assert w.std() == pytest.approx(SCHEME_STD[scheme], rel=0.02)  # 120,000 draws: ~0.5% noise
    assert abs(w.mean()) < 0.02 * SCHEME_STD[scheme] * 10
    if scheme == "default":
        assert np.abs(b).max() <= 1 / math.sqrt(FAN_IN) and b.any()
    else:
        assert not b.any()
    if "uniform" in scheme:
        assert np.abs(w).max() <= math.sqrt(3) * SCHEME_STD[scheme]


def test_same_generator_same_weights_any_dtype():
    a = scratch.Linear(6, 4, rng=np.random.default_rng(5), dtype=np.float64)
    b = scratch.Linear(6, 4, rng=np.random.default_rng(5), dtype=np.float32)
    c = scratch.Linear(6, 4, rng=np.random.default_rng(6), dtype=np.float64)
    np.testing.assert_array_equal(a.weight.data.astype(np.float32), b.weight.data)
    assert not np.array_equal(a.weight.data, c.weight.data)


def test_init_functions_fill_in_place_and_accept_parameters():
    p = scratch.Parameter(np.ones((3, 4)))
    assert init.zeros_(p) is p and not p.data.any()
    arr = np.zeros((3, 4), np.float32)
    init.normal_(arr, 0, 1, rng=np.random.default_rng(0))
    assert arr.dtype == np.float32 and arr.std() > 0.3


@pytest.mark.parametrize("build", [
    lambda rng: scratch.Linear(400, 300, rng=rng),
    lambda rng: scratch.Linear(7, 500, rng=rng),
    lambda rng: scratch.Conv2d(16, 300, 3, rng=rng),
], ids=["Linear(400, 300)", "Linear(7, 500)", "Conv2d(16, 300, 3)"])
def test_default_init_spans_torchs_range(build):
    """Each parameter's default draw is uniform on torch's symmetric range: its largest
    magnitude matches that of torch's own freshly built module. With n >= 300 draws of
    U(-b, b) each maximum lies in [0.95 b, b] except with probability 0.95^300 < 1e-6."""
    m = build(np.random.default_rng(0))
    args, kwargs = m.init_args
    torch.manual_seed(0)
    t = getattr(torch.nn, type(m).__name__)(*args, **kwargs)
    for name, p in m.named_parameters():
        ours = float(np.abs(p.data).max())
        theirs = float(dict(t.named_parameters())[name].detach().abs().max())
        assert 0.95 <= ours / theirs <= 1 / 0.95, (name, ours, theirs)
        assert abs(float(p.data.mean())) <= 0.2 * theirs, name  # symmetric about 0
