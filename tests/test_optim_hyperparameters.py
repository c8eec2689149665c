"""Every optimizer checks its hyper-parameters with optim.optimizer.check_hyperparameter.

The ranges are torch's: a value torch refuses is refused, a value on the edge
torch accepts is accepted. NaN is refused everywhere, with a message naming the
argument, its range and the value; torch refuses it too except in SGD, whose
`lr < 0.0` form lets it through.
"""

import math

import numpy as np
import pytest
import torch

import scratch
from scratch import optim
from scratch.optim.optimizer import check_hyperparameter

NAN = float("nan")
# optimizer -> (argument, the message's words for it, range as the message writes it)
CHECKED = {
    "SGD": [("lr", "learning rate", "lr >= 0"), ("momentum", "momentum", "momentum >= 0"),
            ("weight_decay", "weight_decay", "weight_decay >= 0")],
    "RMSprop": [("lr", "learning rate", "lr >= 0"), ("alpha", "alpha", "alpha >= 0"),
                ("eps", "eps", "eps >= 0"), ("weight_decay", "weight_decay", "weight_decay >= 0"),
                ("momentum", "momentum", "momentum >= 0")],
    "Adagrad": [("lr", "learning rate", "lr >= 0"), ("lr_decay", "lr_decay", "lr_decay >= 0"),
                ("weight_decay", "weight_decay", "weight_decay >= 0"),
                ("initial_accumulator_value", "initial_accumulator_value",
                 "initial_accumulator_value >= 0"), ("eps", "eps", "eps >= 0")],
}
CHECKED["Adam"] = CHECKED["AdamW"] = [
    ("lr", "learning rate", "lr >= 0"), ("eps", "eps", "eps >= 0"),
    ("weight_decay", "weight_decay", "weight_decay >= 0"),
    ("betas[0]", "beta parameter at index 0", "0 <= betas[0] < 1"),
    ("betas[1]", "beta parameter at index 1", "0 <= betas[1] < 1"),
]
CASES = [(opt, *arg) for opt, args in CHECKED.items() for arg in args]
IDS = [f"{opt}-{arg}" for opt, arg, *_ in CASES]


def _kwargs(arg: str, value: float) -> dict:
    if arg.startswith("betas["):
        betas = [0.9, 0.999]
        betas[int(arg[6])] = value
        return {"betas": tuple(betas)}
    return {arg: value}


def _build(lib, name: str, **kwargs):
    params = [scratch.Parameter(np.zeros(3))] if lib is optim else [torch.zeros(3)]
    return getattr(lib, name)(params, **kwargs)


@pytest.mark.parametrize("name, arg, words, expected", CASES, ids=IDS)
def test_nan_is_refused_naming_argument_range_and_value(name, arg, words, expected):
    message = f"invalid {words}: expected {expected}, got nan"
    with pytest.raises(ValueError, match="^" + message.replace("[", r"\[").replace("]", r"\]")):
        _build(optim, name, **_kwargs(arg, NAN))


@pytest.mark.parametrize("name, arg, words, expected", CASES, ids=IDS)
def test_ranges_are_torchs(name, arg, words, expected):
    refused = [-1e-3, -math.inf] + ([1.0, 1.5, math.inf] if arg.startswith("betas") else [])
    for value in refused:
        with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
            _build(optim, name, **_kwargs(arg, value))
        with pytest.raises(ValueError):
            _build(torch.optim, name, **_kwargs(arg, value))
    accepted = [0.0, 0.5] + ([] if arg.startswith("betas") else [2.0, math.inf])
    for value in accepted:
        _build(optim, name, **_kwargs(arg, value))
        _build(torch.optim, name, **_kwargs(arg, value))


def test_sgd_no_longer_lets_nan_through_where_torch_does():
    for arg in ("lr", "momentum", "weight_decay"):
        _build(torch.optim, "SGD", **{arg: NAN})  # torch: `lr < 0.0` is False for NaN
        with pytest.raises(ValueError, match="got nan"):
            _build(optim, "SGD", **{arg: NAN})


def test_check_hyperparameter_messages():
    check_hyperparameter("eps", 0.0)
    check_hyperparameter("beta", 0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match=r"^invalid eps: expected eps >= 0, got -1e-08$"):
        check_hyperparameter("eps", -1e-8)
    with pytest.raises(ValueError, match=r"^invalid the rate: expected 0.5 <= r < 2, got 2$"):
        check_hyperparameter("r", 2, 0.5, 2.0, what="the rate")
    with pytest.raises(ValueError, match=r"got nan$"):
        check_hyperparameter("r", np.float32("nan"), 0.0, 1.0)
