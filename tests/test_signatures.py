"""Every scratch class that torch.nn also has takes torch's constructor parameters.

Names, kinds, order and defaults are compared with `inspect.signature`, less the
keyword-only `rng` and `dtype` scratch adds and torch's `device` and `dtype` (the
parameters' placement, which numpy arrays do not have). A torch class with no
`__init__` of its own (Sigmoid, Tanh) takes no arguments: nn.Module.__init__ refuses
any. The walk covers every class scratch exports, so a new layer or loss is checked
the day it is exported.
"""

import inspect
import typing

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
