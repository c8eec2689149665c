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


def _torch_target(target: np.ndarray | None):
    if target is None:
        return None
    if np.issubdtype(target.dtype, np.integer):
        return torch.from_numpy(target.astype(np.int64))
    return reference.to_torch(target)


def compare(module: scratch.Module, x: np.ndarray, *, rng: np.random.Generator,
            target: np.ndarray | None = None, dropout: str = "native") -> ParityResult:
    """Run `module` and its torch twin on `x` (and `target`, for losses) and collect the pairs.

    The twin is `reference.twin(module, dropout=dropout)`: torch's own nn.Dropout unless
    a case asks for the shared-mask test device. The upstream gradient is drawn from
    `rng`: standard normal for array outputs, a random scalar in [0.5, 2) for reduced
    losses, so no error can hide behind an all-ones gradient.

    Every array is kept as each side returned it, never cast: the dtype is part of the
    answer (`ParityResult.failures`). The one exception is a reduced loss, which returns
    a Python float by contract, as torch's `.item()` does; both sides are then Python
    floats, and the loss's dtype shows in its input gradient.
    """
    tmodule = reference.twin(module, dropout=dropout)
    is_loss = isinstance(module, scratch.Loss)
    xt = reference.to_torch(x).requires_grad_(True)

    module.zero_grad()
    out = module(x, target) if is_loss else module(x)
    tout = tmodule(xt, _torch_target(target)) if is_loss else tmodule(xt)

    upstream = (rng.standard_normal(np.shape(out)) if np.ndim(out) else rng.uniform(0.5, 2.0))
    upstream = np.asarray(upstream, dtype=x.dtype)
    grad_x = module.backward(upstream)
    tout.backward(reference.to_torch(upstream))

    result = ParityResult()
    if isinstance(out, float):
        result.pairs["output"] = (np.asarray(out), np.asarray(tout.item()))
    else:
        result.pairs["output"] = (np.asarray(out), reference.to_numpy(tout))
    result.pairs["input.grad"] = (np.asarray(grad_x), reference.to_numpy(xt.grad))
    tparams = dict(tmodule.named_parameters())
    for name, p in module.named_parameters():
        tgrad = tparams[name].grad
        result.pairs[f"{name}.grad"] = (np.asarray(p.grad), reference.to_numpy(
            torch.zeros_like(tparams[name]) if tgrad is None else tgrad))
    tbuffers = dict(tmodule.named_buffers())
    for name, b in module.named_buffers():  # running statistics after the forward pass
        result.pairs[name] = (np.asarray(b), reference.to_numpy(tbuffers[name]))
    return result
