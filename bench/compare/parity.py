"""The parity helper: feed one input to a scratch module and its torch twin, compare everything.

`compare(module, *inputs, rng=rng)` runs forward on both twins, draws a random
non-uniform upstream gradient, runs backward on both, and returns the
output, dL/dx and every parameter gradient side by side. The tests call it
for every component (see `catalogue.py`); `twinbench parity` prints its
largest differences as a table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

import reference
import scratch
from scratch.testing import array_leaves, max_rel_diff


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float


# Per dtype: |scratch - torch| <= atol + rtol * |torch|, elementwise.
TOLERANCES = {
    np.dtype(np.float64): Tolerance(rtol=1e-10, atol=1e-12),
    np.dtype(np.float32): Tolerance(rtol=1e-4, atol=1e-5),
}


@dataclass
class ParityResult:
    """Pairs (scratch, torch) of every compared array, by name."""

    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def max_abs(self, name: str) -> float:
        a, b = self.pairs[name]
        return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)), initial=0.0))

    def max_rel(self, name: str) -> float:
        """max|scratch - torch| / max|torch|: the difference relative to the array's scale."""
        return max_rel_diff(*self.pairs[name])

    def gradient_names(self) -> list[str]:
        return [n for n in self.pairs if n.endswith("grad")]

    def tolerance_used(self, tol: Tolerance) -> float:
        """max |scratch - torch| / (atol + rtol |torch|) over every array: 1.0 is the limit."""
        used = 0.0
        for a, b in self.pairs.values():
            a64, b64 = a.astype(np.float64), b.astype(np.float64)  # a measure, not the check
            used = max(used, float(np.max(np.abs(a64 - b64) / (tol.atol + tol.rtol * np.abs(b64)),
                                          initial=0)))
        return used

    def failures(self, tol: Tolerance) -> list[str]:
        """Every pair that differs in dtype, shape, NaN or infinity pattern, or by more than
        `atol + rtol |torch|` where both are finite. Nothing is cast first: a float32
        module that computes in float64 fails on its dtype, however close its values."""
        out = []
        for name, (a, b) in self.pairs.items():
            if a.dtype != b.dtype:
                out.append(f"{name}: dtype {a.dtype} vs torch {b.dtype}")
                continue
            if a.shape != b.shape:
                out.append(f"{name}: shape {a.shape} vs torch {b.shape}")
                continue
            if not np.issubdtype(a.dtype, np.inexact):
                if not np.array_equal(a, b):
                    out.append(f"{name}: {a.tolist()} vs torch {b.tolist()}")
                continue
            nan_a, nan_b = np.isnan(a), np.isnan(b)
            if np.any(nan_a != nan_b):
                out.append(f"{name}: NaN pattern differs ({int(nan_a.sum())} NaN in scratch, "
                           f"{int(nan_b.sum())} in torch)")
                continue
            fin_a, fin_b = np.isfinite(a), np.isfinite(b)
            if np.any(fin_a != fin_b) or np.any(a[np.isinf(a)] != b[np.isinf(a)]):
                out.append(f"{name}: infinities differ ({int((~fin_a).sum() - nan_a.sum())} "
                           f"in scratch, {int((~fin_b).sum() - nan_b.sum())} in torch)")
                continue
            excess = np.abs(a[fin_a] - b[fin_a]) - (tol.atol + tol.rtol * np.abs(b[fin_a]))
            if np.any(excess > 0):
                out.append(f"{name}: max abs diff {self.max_abs(name):.3e}, "
                           f"max rel diff {self.max_rel(name):.3e}")
        return out

    def assert_close(self, tol: Tolerance) -> None:
        bad = self.failures(tol)
        if bad:
            raise AssertionError(f"scratch and torch differ beyond rtol={tol.rtol:g}, "
                                 f"atol={tol.atol:g}: " + "; ".join(bad))


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


def _torch_leaves(obj) -> list:
    if isinstance(obj, (tuple, list)):
        return [leaf for item in obj for leaf in _torch_leaves(item)]
    return [obj] if isinstance(obj, torch.Tensor) else []


def _suffix(name: str, i: int) -> str:
    return name if i == 0 else f"{name}{i}"


def compare(module: scratch.Module, *inputs, rng: np.random.Generator,
            target: np.ndarray | None = None, options: dict | None = None,
            dropout: str = "native") -> ParityResult:
    """Run `module` and its torch twin on the same inputs and collect the pairs.

    The twin is `reference.twin(module, dropout=dropout)`: torch's own nn.Dropout
    unless a case asks for the shared-mask test device. `inputs` are the forward's
    positional arguments (nested tuples allowed, as an LSTM's `(h0, c0)`); `options`
    its keyword arguments (masks, flags), passed to both twins with arrays as
    tensors; `target` is a loss's target.

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
    is_loss = isinstance(module, scratch.Loss)
    options = options or {}
    tleaves: list = []
    tinputs = _to_torch_tree(inputs, tleaves)
    toptions = {k: _to_torch_tree(v, None) for k, v in options.items()}
    float_inputs = array_leaves(inputs, floats_only=True)
    dtype = float_inputs[0].dtype if float_inputs else module.dtype

    module.zero_grad()
    if is_loss:
        out = module(*inputs, target)
        tout = tmodule(*tinputs, _to_torch_tree(target, None))
        outs, touts = [np.asarray(out)], [tout]
    else:
        outs = array_leaves(module(*inputs, **options))
        touts = _torch_leaves(tmodule(*tinputs, **toptions))
    if len(outs) != len(touts):
        raise AssertionError(f"scratch returns {len(outs)} arrays, torch {len(touts)} tensors")
    # Integer outputs (MaxPool2d's indices) are compared exactly and take no gradient.
    differentiable = [(o, t) for o, t in zip(outs, touts) if _is_float(o)]

    upstream = [np.asarray(rng.standard_normal(o.shape) if o.ndim else rng.uniform(0.5, 2.0),
                           dtype=dtype) for o, _ in differentiable]
    grads = module.backward(*upstream)
    grads = list(grads) if isinstance(grads, tuple) else [grads]
    torch.autograd.backward([t for _, t in differentiable],
                            [reference.to_torch(u) for u in upstream])

    result = ParityResult()
    for i, (o, t) in enumerate(zip(outs, touts)):
        theirs = np.asarray(t.item()) if is_loss and isinstance(out, float) else \
            reference.to_numpy(t)
        result.pairs[_suffix("output", i)] = (o, theirs)
    for i, t in enumerate(tleaves):
        tgrad = reference.to_numpy(torch.zeros_like(t) if t.grad is None else t.grad)
        result.pairs[_suffix("input", i) + ".grad"] = (np.asarray(grads[i]), tgrad)
    tparams = dict(tmodule.named_parameters())
    for name, p in module.named_parameters():
        tgrad = tparams[name].grad
        result.pairs[f"{name}.grad"] = (np.asarray(p.grad), reference.to_numpy(
            torch.zeros_like(tparams[name]) if tgrad is None else tgrad))
    tbuffers = dict(tmodule.named_buffers())
    for name, b in module.named_buffers():  # running statistics after the forward pass
        result.pairs[name] = (np.asarray(b), reference.to_numpy(tbuffers[name]))
    return result
