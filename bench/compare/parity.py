"""The parity helper: feed one input to a scratch module and its torch twin, compare everything.

`compare(module, *inputs, rng=rng)` builds the twin (`reference.twin`), runs
forward on both, and hands the rest to `twins.run_twins`: a random non-uniform
upstream gradient, backward on both, and the output, dL/dx, every parameter
gradient and every buffer side by side in a `ParityResult`, judged by its
`failures` rule: nothing cast. The tests call it for every component (see
`catalogue.py`); `twinbench parity` prints its largest differences as a table.
"""

from __future__ import annotations

import numpy as np
import torch

import reference
import scratch
from bench.compare.twins import ParityResult, run_twins
from scratch.testing import array_leaves


def _is_float(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype in (np.float32, np.float64)


def _to_torch_tree(obj, leaves: list):
    """Arrays as tensors, float ones requiring grad and collected in `leaves` (if a list);
    integer arrays as int64 (indices), bool as bool, tuples kept. A float leaf is
    passed on as a clone, so that a twin with inplace=True may write into it."""
    if isinstance(obj, (tuple, list)):
        return type(obj)(_to_torch_tree(o, leaves) for o in obj)
    if not isinstance(obj, np.ndarray):
        return obj
    if _is_float(obj):
        t = reference.to_torch(obj)
        if leaves is None:
            return t
        t.requires_grad_(True)
        leaves.append(t)
        return t.clone()
    if np.issubdtype(obj.dtype, np.integer):
        return torch.from_numpy(obj.astype(np.int64))
    return torch.from_numpy(np.array(obj, copy=True))


def compare(module: scratch.Module, *inputs, rng: np.random.Generator,
            target: np.ndarray | None = None, options: dict | None = None,
            dropout: str = "native", target_grad: bool = False) -> ParityResult:
    """Run `module` and its torch twin on the same inputs and collect the pairs.

    The twin is `reference.twin(module, dropout=dropout)`: torch's own nn.Dropout
    unless a case asks for the shared-mask test device. `inputs` are the forward's
    positional arguments (nested tuples allowed, as an LSTM's `(h0, c0)`); `options`
    its keyword arguments (masks, flags), passed to both twins with arrays as
    tensors; `target` is a loss's target. With `target_grad` the target is
    differentiated too: torch's requires grad, the loss's backward is called with
    `target_grad=True`, and the two target gradients are the pair "target.grad".

    The upstream gradient of each float output is drawn from `rng`: standard normal
    for arrays, a random scalar in [0.5, 2) for reduced losses, so no error can
    hide behind an all-ones gradient. A module with one output takes
    `backward(g)`; with several, `backward(g_0, g_1, ...)` in output order, and
    returns one gradient per float input leaf in order (it may return more, as
    an RNN's dh0 when no h0 was given: those are not compared).

    Pairs: "output", "output1", ... (every array the forward returns: integer ones,
    as MaxPool2d's indices, compared exactly and given no gradient); "input.grad",
    "input1.grad", ... (one per float input leaf); "{parameter}.grad"; and every
    buffer after the forward. torch gets a clone of each float input leaf, so a twin
    with inplace=True may write into it.

    Every array is kept as each side returned it, never cast: the dtype is part of the
    answer (`ParityResult.failures`). The one exception is a reduced loss, which returns
    a Python float by contract, as torch's `.item()` does; both sides are then Python
    floats, and the loss's dtype shows in its input gradient.
    """
    tmodule = reference.twin(module, dropout=dropout)
    options = options or {}
    tleaves: list = []
    tinputs = _to_torch_tree(inputs, tleaves)
    toptions = {k: _to_torch_tree(v, None) for k, v in options.items()}
    float_inputs = array_leaves(inputs, floats_only=True)
    dtype = float_inputs[0].dtype if float_inputs else module.dtype

    module.zero_grad()
    differentiated: dict = dict(enumerate(tleaves))
    if isinstance(module, scratch.Loss):
        outs = [module(*inputs, target)]  # a Python float when reduced, as torch's .item()
        ttarget = _to_torch_tree(target, None)
        if target_grad:
            differentiated["target"] = ttarget.requires_grad_(True)
        touts = tmodule(*tinputs, ttarget)
    else:
        if target_grad:
            raise TypeError(f"compare: target_grad is for a loss, not {type(module).__name__}")
        outs = array_leaves(module(*inputs, **options))
        touts = tmodule(*tinputs, **toptions)

    def backward(upstream: list[np.ndarray]) -> list:
        grads = module.backward(*upstream, target_grad=True) if target_grad else (
            module.backward(*upstream))
        return list(grads) if isinstance(grads, tuple) else [grads]

    def members():  # running statistics after the forward pass
        return [*((f"{name}.grad", p.grad) for name, p in module.named_parameters()),
                *module.named_buffers()]

    return run_twins(outs, touts, backward, tmodule, differentiated, members,
                     dtype=dtype, rng=rng)
