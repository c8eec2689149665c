"""The parity helper: feed one input to a scratch module and its torch twin, compare everything.

`compare(module, x, rng=rng)` runs forward on both twins, draws a random
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
from scratch.testing import max_rel_diff


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
        return float(np.max(np.abs(a - b), initial=0.0))

    def max_rel(self, name: str) -> float:
        """max|scratch - torch| / max|torch|: the difference relative to the array's scale."""
        return max_rel_diff(*self.pairs[name])

    def gradient_names(self) -> list[str]:
        return [n for n in self.pairs if n.endswith("grad")]

    def tolerance_used(self, tol: Tolerance) -> float:
        """max |scratch - torch| / (atol + rtol |torch|) over every array: 1.0 is the limit."""
        return max(float(np.max(np.abs(a - b) / (tol.atol + tol.rtol * np.abs(b)), initial=0))
                   for a, b in self.pairs.values())

    def failures(self, tol: Tolerance) -> list[str]:
        out = []
        for name, (a, b) in self.pairs.items():
            if a.shape != b.shape:
                out.append(f"{name}: shape {a.shape} vs torch {b.shape}")
                continue
            excess = np.abs(a - b) - (tol.atol + tol.rtol * np.abs(b))
            if not np.all(np.isfinite(a)) or np.any(excess > 0):
                out.append(f"{name}: max abs diff {self.max_abs(name):.3e}, "
                           f"max rel diff {self.max_rel(name):.3e}")
        return out

    def assert_close(self, tol: Tolerance) -> None:
        bad = self.failures(tol)
        if bad:
            raise AssertionError(f"scratch and torch differ beyond rtol={tol.rtol:g}, "
                                 f"atol={tol.atol:g}: " + "; ".join(bad))


def _torch_target(target: np.ndarray | None):
    if target is None:
        return None
    if np.issubdtype(target.dtype, np.integer):
        return torch.from_numpy(target.astype(np.int64))
    return reference.to_torch(target)


def _torch_arg(a):
    return _torch_target(a) if isinstance(a, np.ndarray) else a


def compare(module: scratch.Module, x: np.ndarray, *, rng: np.random.Generator,
            target: np.ndarray | None = None, args: tuple = ()) -> ParityResult:
    """Run `module` and its torch twin on `x` (and `target`, for losses) and collect the pairs.

    `args` are further forward arguments that take no gradient (MaxUnpool2d's indices
    and output_size); arrays among them go to torch as tensors (integers as int64).
    A module that returns a tuple (MaxPool2d with return_indices) is compared on every
    element, the first taking the gradient; the rest are paired as "output.1", ...
    torch gets a copy of its input leaf, so in-place twins (inplace=True) may write to it.

    The upstream gradient is drawn from `rng`: standard normal for array
    outputs, a random scalar in [0.5, 2) for reduced losses, so no error can
    hide behind an all-ones gradient.
    """
    tmodule = reference.twin(module)
    is_loss = isinstance(module, scratch.Loss)
    xt = reference.to_torch(x).requires_grad_(True)

    module.zero_grad()
    out = module(x, target) if is_loss else module(x, *args)
    tout = (tmodule(xt.clone(), _torch_target(target)) if is_loss
            else tmodule(xt.clone(), *(_torch_arg(a) for a in args)))
    extras, textras = (), ()
    if isinstance(out, tuple):
        out, *extras = out
        tout, *textras = tout
    out = np.asarray(out, dtype=x.dtype)

    upstream = (rng.standard_normal(out.shape) if out.ndim else rng.uniform(0.5, 2.0))
    upstream = np.asarray(upstream, dtype=x.dtype)
    grad_x = module.backward(upstream)
    tout.backward(reference.to_torch(upstream))

    result = ParityResult()
    result.pairs["output"] = (out, reference.to_numpy(tout))
    for i, (e, te) in enumerate(zip(extras, textras), 1):
        result.pairs[f"output.{i}"] = (np.asarray(e), reference.to_numpy(te))
    result.pairs["input.grad"] = (np.asarray(grad_x), reference.to_numpy(xt.grad))
    tparams = dict(tmodule.named_parameters())
    for name, p in module.named_parameters():
        tgrad = tparams[name].grad
        result.pairs[f"{name}.grad"] = (
            p.grad, np.zeros_like(p.grad) if tgrad is None else reference.to_numpy(tgrad))
    tbuffers = dict(tmodule.named_buffers())
    for name, b in module.named_buffers():  # running statistics after the forward pass
        result.pairs[name] = (np.asarray(b), reference.to_numpy(tbuffers[name]))
    return result
