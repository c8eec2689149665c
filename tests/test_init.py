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


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs."""
    a, b = np.sort(a.ravel()), np.sort(b.ravel())
    v = np.concatenate([a, b])
    return float(np.abs(np.searchsorted(a, v, "right") / a.size
                        - np.searchsorted(b, v, "right") / b.size).max())


def ks_bound(n: int, m: int, alpha: float = 1e-6) -> float:
    """The statistic two samples of one distribution exceed with probability alpha (the
    asymptotic Kolmogorov bound, c(alpha) sqrt((n + m) / (n m)))."""
    return math.sqrt(-math.log(alpha / 2) / 2) * math.sqrt((n + m) / (n * m))


MIN_DRAW = 2000  # values per parameter, pooled over fresh modules: the bound is then <= 0.09

# every scratch module with parameters; LSTM's proj_size draws every weight, weight_hr
# included, from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), not 1/sqrt(proj_size)
INIT_MODULES = {
    "Linear(50, 40)": lambda rng: scratch.Linear(50, 40, rng=rng),
    "Linear(7, 300, bias=False)": lambda rng: scratch.Linear(7, 300, bias=False, rng=rng),
    "Conv1d(4, 30, 5)": lambda rng: scratch.Conv1d(4, 30, 5, rng=rng),
    "Conv2d(6, 20, 3, groups=2)": lambda rng: scratch.Conv2d(6, 20, 3, groups=2, rng=rng),
    "BatchNorm1d(30)": lambda rng: scratch.BatchNorm1d(30),
    "BatchNorm2d(8)": lambda rng: scratch.BatchNorm2d(8),
    "LayerNorm(30)": lambda rng: scratch.LayerNorm(30),
    "Embedding(50, 20)": lambda rng: scratch.Embedding(50, 20, rng=rng),
    "RNN(10, 30, 2, relu, bidirectional)": lambda rng: scratch.RNN(
        10, 30, 2, "relu", bidirectional=True, rng=rng),
    "GRU(10, 30, 2)": lambda rng: scratch.GRU(10, 30, 2, rng=rng),
    "LSTM(10, 30, 2)": lambda rng: scratch.LSTM(10, 30, 2, rng=rng),
    "LSTM(10, 64, 2, proj_size=8)": lambda rng: scratch.LSTM(10, 64, 2, proj_size=8, rng=rng),
    "MultiheadAttention(24, 4)": lambda rng: scratch.MultiheadAttention(24, 4, rng=rng),
    "TransformerEncoderLayer(16, 2, 32)": lambda rng: scratch.TransformerEncoderLayer(
        16, 2, 32, rng=rng),
}


@pytest.mark.parametrize("name", INIT_MODULES)
def test_every_modules_initial_parameters_are_drawn_as_torchs(name):
    """Each parameter of a freshly built module has torch's distribution: pooled over fresh
    modules to at least MIN_DRAW values, a two-sample Kolmogorov-Smirnov test against
    torch's own freshly built module at alpha = 1e-6 (constants compare exactly: equal
    constants give 0, any other value 1)."""
    build = INIT_MODULES[name]
    first = build(np.random.default_rng(0))
    smallest = min(p.data.size for p in first.parameters())
    reps = min(-(-MIN_DRAW // smallest), 60)
    args, kwargs = first.init_args
    ours, theirs = {}, {}
    for seed in range(reps):
        for k, p in build(np.random.default_rng(seed)).named_parameters():
            ours.setdefault(k, []).append(p.data.ravel())
        torch.manual_seed(seed)
        t = getattr(torch.nn, type(first).__name__)(*args, **kwargs)
        for k, p in t.named_parameters():
            theirs.setdefault(k, []).append(p.detach().numpy().ravel())
    assert set(ours) == set(theirs)
    for k in ours:
        a, b = np.concatenate(ours[k]), np.concatenate(theirs[k])
        assert ks_statistic(a, b) <= ks_bound(a.size, b.size), (k, a.std(), b.std())


SHAPE = (48, 16, 3)  # fan_in 48, fan_out 144: the two fans differ
INIT_FUNCTIONS = [
    ("uniform_", {"a": -0.3, "b": 0.7}), ("normal_", {"mean": 0.5, "std": 2.0}),
    ("xavier_uniform_", {}), ("xavier_uniform_", {"gain": 2.0}),
    ("xavier_normal_", {"gain": 0.5}),
    ("kaiming_uniform_", {}), ("kaiming_uniform_", {"a": math.sqrt(5)}),
    ("kaiming_uniform_", {"mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_normal_", {"a": 0.2, "mode": "fan_out"}),
    ("kaiming_normal_", {"nonlinearity": "tanh"}),
]


@pytest.mark.parametrize("fn,kwargs", INIT_FUNCTIONS, ids=str)
def test_init_functions_draw_torchs_distribution(fn, kwargs):
    """scratch.init.<fn>(array, **kwargs) against torch.nn.init.<fn>(tensor, **kwargs):
    the same distribution (two-sample KS at alpha = 1e-6 over 2,304 values each)."""
    ours = getattr(init, fn)(np.empty(SHAPE), **kwargs, rng=np.random.default_rng(0))
    torch.manual_seed(0)
    theirs = getattr(torch.nn.init, fn)(torch.empty(SHAPE, dtype=torch.float64), **kwargs)
    a, b = np.asarray(ours), theirs.numpy()
    assert ks_statistic(a, b) <= ks_bound(a.size, b.size), (a.std(), b.std())
