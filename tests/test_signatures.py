"""Every scratch class that torch.nn also has takes torch's constructor and forward parameters.

Names, kinds, order and defaults are compared with `inspect.signature`, less the
keyword-only `rng` and `dtype` scratch adds and torch's `device` and `dtype` (the
parameters' placement, which numpy arrays do not have). A torch class with no
`__init__` of its own (Sigmoid, Tanh) takes no arguments: nn.Module.__init__ refuses
any. The walk covers every class scratch exports, so a new layer or loss is checked
the day it is exported. forward is compared the same way (`input` for Linear, `query, key,
value, ...` for MultiheadAttention), so every keyword call torch's forward accepts works.
"""

import inspect
import typing

import numpy as np
import pytest
import torch

import scratch

SCRATCH_ONLY = {"rng", "dtype"}
TORCH_PLACEMENT = {"device", "dtype"}
# scratch.Parameter is an array and its gradient; torch's wraps a tensor with
# requires_grad, which has no meaning without autograd.
NOT_CONSTRUCTOR_TWINS = {"Parameter"}
# Defaults that are the same choice in each library's terms: torch's default activation
# is the function F.relu, which scratch (numpy only) names by its string.
SAME_DEFAULT = {("TransformerEncoderLayer", "activation"): (torch.nn.functional.relu, "relu")}


def _twins():
    for name in sorted(scratch.__all__):
        ours, theirs = getattr(scratch, name), getattr(torch.nn, name, None)
        if (isinstance(ours, type) and isinstance(theirs, type)
                and name not in NOT_CONSTRUCTOR_TWINS):
            yield name, ours, theirs


TWINS = list(_twins())


def _signature(cls) -> list[inspect.Parameter]:
    """The constructor's parameters. torch's RNN, LSTM and GRU take `*args, **kwargs` and
    document their parameters in a typing overload: that one is the signature."""
    params = list(inspect.signature(cls).parameters.values())
    kinds = [p.kind for p in params]
    if kinds == [inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD]:
        overloads = typing.get_overloads(cls.__init__)
        if overloads:
            params = list(inspect.signature(overloads[0]).parameters.values())[1:]  # no self
    return params


def _params(cls, drop):
    if (issubclass(cls, torch.nn.Module) and cls is not torch.nn.Module
            and cls.__init__ is torch.nn.Module.__init__):
        return []
    return [(p.name, p.kind, p.default) for p in _signature(cls) if p.name not in drop]


def test_the_walk_covers_the_layers_and_losses():
    names = {name for name, _, _ in TWINS}
    assert {"Conv1d", "Conv2d", "MaxUnpool2d", "AdaptiveAvgPool2d", "Dropout2d", "Identity",
            "Unflatten", "LogSoftmax", "CrossEntropyLoss", "Sequential"} <= names
    assert all(issubclass(cls, scratch.Loss) for name, cls, _ in TWINS if name.endswith("Loss"))


@pytest.mark.parametrize("name,ours,theirs", TWINS, ids=[t[0] for t in TWINS])
def test_signature_equals_torchs(name, ours, theirs):
    def in_scratch_terms(n, default):
        theirs_, ours_ = SAME_DEFAULT.get((name, n), (None, None))
        return ours_ if theirs_ is not None and default is theirs_ else default

    expected = [(n, kind, in_scratch_terms(n, default))
                for n, kind, default in _params(theirs, TORCH_PLACEMENT)]
    assert _params(ours, SCRATCH_ONLY) == expected
    sig = inspect.signature(ours).parameters
    for extra in SCRATCH_ONLY & set(sig):  # scratch's additions never take a position
        assert sig[extra].kind is inspect.Parameter.KEYWORD_ONLY, extra


# torch's forward of a class without one of its own is Module's placeholder, which raises:
# there is no call to mirror (scratch's RNNBase, unlike torch's, runs its mode's recurrence).
FORWARD_TWINS = [t for t in TWINS if t[2].forward is not torch.nn.Module.forward]


def _forward_params(cls) -> list[tuple[str, inspect._ParameterKind, object]]:
    params = list(inspect.signature(cls.forward).parameters.values())[1:]  # no self
    return [(p.name, p.kind, p.default) for p in params]


def test_the_forward_walk_skips_only_torchs_placeholders():
    skipped = {name for name, _, _ in TWINS} - {name for name, _, _ in FORWARD_TWINS}
    assert skipped == {"Module", "ModuleList", "RNNBase"}


@pytest.mark.parametrize("name,ours,theirs", FORWARD_TWINS, ids=[t[0] for t in FORWARD_TWINS])
def test_forward_signature_equals_torchs(name, ours, theirs):
    """forward takes torch's parameter names, kinds, order and defaults, so every keyword
    call that torch's forward accepts (`Linear(...)(input=x)`) is accepted. A scratch-only
    extra may follow, keyword-only and named in forward's docstring."""
    expected, got = _forward_params(theirs), _forward_params(ours)
    assert got[:len(expected)] == expected
    for extra, kind, _ in got[len(expected):]:
        assert kind is inspect.Parameter.KEYWORD_ONLY, extra
        assert extra in (ours.forward.__doc__ or ""), extra


def test_modules_take_torchs_keywords():
    """The calls themselves, as torch's module test corpus makes them."""
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    layer = scratch.Linear(3, 4, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(layer(input=x), layer(x))
    assert scratch.Sequential(scratch.ReLU())(input=x).shape == (2, 3)
    pooled, indices = scratch.MaxPool2d(2, return_indices=True)(input=x.reshape(1, 1, 2, 3))
    unpooled = scratch.MaxUnpool2d(2)(input=pooled, indices=indices, output_size=(2, 3))
    assert unpooled.shape == (1, 1, 2, 3)
    loss = scratch.MSELoss()(input=x, target=np.zeros_like(x))
    assert loss == pytest.approx(float(np.mean(x.astype(np.float64) ** 2)), rel=1e-6)
