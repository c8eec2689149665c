"""Every scratch loss, optimizer, scheduler and clipping function has torch's signature.

Names, kinds (positional or keyword-only) and defaults, parameter by parameter,
less scratch's keyword-only `rng` and `dtype`; annotations aside (torch's name
Tensor where scratch takes arrays).
"""

import inspect

import pytest
import torch

import scratch
from scratch import optim, utils
from scratch.module import SCRATCH_ONLY_ARGS
from scratch.optim import lr_scheduler

LOSSES = ["CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "MSELoss", "L1Loss",
          "HuberLoss", "SmoothL1Loss"]
OPTIMIZERS = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]
SCHEDULERS = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
              "LambdaLR", "LinearLR", "OneCycleLR", "SequentialLR", "ReduceLROnPlateau"]
CLIPPING = {"clip_grad_norm_": torch.nn.utils.clip_grad_norm_,
            "clip_grad_value_": torch.nn.utils.clip_grad_value_,
            "get_total_norm": torch.nn.utils.get_total_norm,
            "clip_grads_with_norm_": torch.nn.utils.clip_grads_with_norm_}

PAIRS = ([(f"nn.{n}", getattr(scratch, n), getattr(torch.nn, n)) for n in LOSSES]
         + [(f"optim.{n}", getattr(optim, n), getattr(torch.optim, n)) for n in OPTIMIZERS]
         + [(f"lr_scheduler.{n}", getattr(lr_scheduler, n), getattr(torch.optim.lr_scheduler, n))
            for n in SCHEDULERS]
         + [(f"utils.{n}", getattr(utils, n), f) for n, f in CLIPPING.items()])


def _shape(fn) -> list[tuple]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()
            if not (p.kind == p.KEYWORD_ONLY and p.name in SCRATCH_ONLY_ARGS)]


@pytest.mark.parametrize("mine, theirs", [(m, t) for _, m, t in PAIRS],
                         ids=[n for n, _, _ in PAIRS])
def test_signature_equals_torchs(mine, theirs):
    assert _shape(mine) == _shape(theirs)


def test_the_comparison_sees_a_moved_argument(monkeypatch):
    """A default changed, or a keyword-only argument made positional, is caught."""
    def wrong(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
              maximize=False, *, foreach=None, differentiable=False, fused=None):
        pass

    assert _shape(wrong) != _shape(torch.optim.SGD)
    assert [n for n, *_ in _shape(wrong)] == [n for n, *_ in _shape(torch.optim.SGD)]
    monkeypatch.setattr(scratch.HuberLoss.__init__, "__defaults__", ("mean", 2.0))
    assert _shape(scratch.HuberLoss) != _shape(torch.nn.HuberLoss)
