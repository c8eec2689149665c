"""One twin run: a NumPy layer and its torch twin, one upstream gradient, every tensor paired.

Both entries, `parity.compare` (scratch modules, nothing cast) and `check.check`
(anyone's layer through an `Adapter`), run the two forwards their own way and
hand the outputs to `run_twins`, which

1. draws the upstream gradient: for each float output of torch, standard normal
   of its shape, or uniform in [0.5, 2) for a 0-d output (a reduced loss), in the
   run's dtype, from the caller's Generator in output order; non-uniform, so no
   error can hide behind an all-ones gradient;
2. runs backward on both: the layer's own backward, and `torch.autograd.backward`
   with the same gradients;
3. pairs every tensor, (layer's, torch's) by name: the outputs ("output",
   "output1", ...), the input gradients ("input.grad", "input1.grad", ...: the
   number is the input's position), each parameter's gradient ("{name}.grad")
   and each buffer ("{name}"), into a `ParityResult`.

A `ParityResult` is judged by one of two rules: `failures` (parity's: nothing is
cast, so dtype, shape, NaN and infinity patterns must match, then
|layer - torch| <= atol + rtol |torch|) or `rows` (the check's: a layer whose
array has extra unit axes is reshaped to torch's shape first, and a dtype other
than torch's is a note, since another library's layer may compute in its own
precision). The tolerances per dtype are `TOLERANCES`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

import reference
from scratch.testing import max_rel_diff


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float


# Per dtype: |layer - torch| <= atol + rtol * |torch|, elementwise.
TOLERANCES = {
    np.dtype(np.float64): Tolerance(rtol=1e-10, atol=1e-12),
    np.dtype(np.float32): Tolerance(rtol=1e-4, atol=1e-5),
}


def numbered(name: str, i: int) -> str:
    """The name of the i-th of several: "output", "output1", "output2", ..."""
    return name if i == 0 else f"{name}{i}"


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b|, in float64 (a measure, not the check); 0.0 for empty arrays."""
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)), initial=0.0))


@dataclass
class Row:
    """One compared tensor as the check reports it: the layer's against torch's (or its
    backward against finite differences), largest absolute and relative difference."""

    dtype: str
    tensor: str
    shape: tuple
    max_abs: float
    max_rel: float
    ok: bool
    note: str = ""


@dataclass
class ParityResult:
    """Pairs (layer's, torch's) of every tensor of one twin run, by name, and the upstream
    gradients both twins were given (one per float output)."""

    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    upstream: list[np.ndarray] = field(default_factory=list)

    def max_abs(self, name: str) -> float:
        return max_abs_diff(*self.pairs[name])

    def max_rel(self, name: str) -> float:
        """max|layer - torch| / max|torch|: the difference relative to the array's scale."""
        return max_rel_diff(*self.pairs[name])

    def gradient_names(self) -> list[str]:
        return [n for n in self.pairs if n.endswith("grad")]

    def tolerance_used(self, tol: Tolerance) -> float:
        """max |layer - torch| / (atol + rtol |torch|) over every array: 1.0 is the limit."""
        used = 0.0
        for a, b in self.pairs.values():
            a64, b64 = a.astype(np.float64), b.astype(np.float64)  # a measure, not the check
            used = max(used, float(np.max(np.abs(a64 - b64) / (tol.atol + tol.rtol * np.abs(b64)),
                                          initial=0)))
        return used

    # --- parity's rule: nothing cast -------------------------------------------------------

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

    # --- the check's rule: squeezable axes reshaped, dtype differences noted ---------------

    def rows(self, dtype: str, tol: Tolerance) -> list[Row]:
        """One `Row` per pair, labelled `dtype` (the run's). A layer's array of torch's size
        whose shape differs only by unit axes is reshaped to torch's shape; any other shape
        fails. Values are compared in float64, and must be finite; a dtype other than
        torch's is noted, not failed."""
        out = []
        for name, (got, want) in self.pairs.items():
            if got.shape != want.shape:
                squeezable = got.size == want.size and got.squeeze().shape == want.squeeze().shape
                if not squeezable:
                    out.append(Row(dtype, name, want.shape, float("nan"), float("nan"), False,
                                   f"shape {got.shape}, torch's {want.shape}"))
                    continue
                got = got.reshape(want.shape)
            g, w = got.astype(np.float64), want.astype(np.float64)
            ok = bool(np.all(np.isfinite(g)) and np.all(np.abs(g - w) <= tol.atol + tol.rtol
                                                        * np.abs(w)))
            note = "" if got.dtype == want.dtype else f"layer gave {got.dtype}"
            out.append(Row(dtype, name, want.shape, max_abs_diff(g, w), max_rel_diff(g, w), ok,
                           note))
        return out


def _torch_leaves(obj) -> list[torch.Tensor]:
    """The tensors of a (nested) tuple or list of torch outputs, in order; others dropped."""
    if isinstance(obj, (tuple, list)):
        return [leaf for item in obj for leaf in _torch_leaves(item)]
    return [obj] if isinstance(obj, torch.Tensor) else []


def _draw_upstream(outputs: Sequence[torch.Tensor], dtype, rng: np.random.Generator
                  ) -> list[np.ndarray]:
    """One upstream gradient per float output, in order: standard normal of its shape, or
    uniform in [0.5, 2) for a 0-d output (a reduced loss), in `dtype`."""
    return [np.asarray(rng.standard_normal(tuple(t.shape)) if t.dim() else rng.uniform(0.5, 2.0),
                       dtype=dtype) for t in outputs if t.is_floating_point()]


def run_twins(outputs: Sequence, torch_outputs, backward: Callable[[list], Sequence],
              torch_module: torch.nn.Module, torch_inputs: Mapping[int | str, torch.Tensor],
              members: Callable[[], Iterable[tuple[str, np.ndarray]]], *, dtype,
              rng: np.random.Generator,
              error: Callable[[str], Exception] = AssertionError) -> ParityResult:
    """After both forwards: draw the upstream gradient, run both backwards, pair every tensor.

    outputs: the layer's outputs, flat and in torch's order: arrays, or a Python float
        for a reduced loss (as torch's `.item()`: torch's side is then taken as one too).
    torch_outputs: torch's output, a tensor or a nested tuple of them.
    backward: `backward(upstream)`, called with the upstream gradients (one per float
        output, in order), returns the layer's input gradients: one per entry of
        `torch_inputs`, in order (more are ignored, as an RNN's dh0 when no h0 was given).
    torch_inputs: position -> the differentiated input leaf of torch; the pair of the
        input at position i is named `numbered("input", i) + ".grad"`, of one keyed by
        a name (a loss's "target") "{name}.grad".
    members: called after backward: (name, the layer's array in torch's layout) for each
        parameter gradient ("{parameter}.grad", paired with torch's gradient of that
        parameter, zeros where it has none) and each buffer or value (paired with
        torch's buffer or parameter of that name).
    error: the exception raised, with the message, when the twins give different
        numbers of outputs or the layer too few input gradients.
    """
    touts = _torch_leaves(torch_outputs)
    if len(outputs) != len(touts):
        raise error(f"the layer gives {len(outputs)} output(s), torch {len(touts)}")
    upstream = _draw_upstream(touts, dtype, rng)
    torch_upstream = [reference.to_torch(u) for u in upstream]  # copies: the layer may write
    grads = list(backward([u.copy() for u in upstream]))
    if len(grads) < len(torch_inputs):
        raise error(f"the layer's backward gives {len(grads)} input gradient(s) for "
                    f"{len(torch_inputs)} input(s)")
    differentiable = [t for t in touts if t.is_floating_point()]
    torch.autograd.backward([t for t in differentiable if t.requires_grad],
                            [u for u, t in zip(torch_upstream, differentiable) if t.requires_grad])

    result = ParityResult(upstream=upstream)
    for k, (o, t) in enumerate(zip(outputs, touts)):
        theirs = np.asarray(t.item()) if isinstance(o, float) else reference.to_numpy(t)
        result.pairs[numbered("output", k)] = (np.asarray(o), theirs)
    for (i, t), g in zip(torch_inputs.items(), grads):
        tgrad = torch.zeros_like(t) if t.grad is None else t.grad
        name = numbered("input", i) if isinstance(i, int) else i
        result.pairs[name + ".grad"] = (np.asarray(g), reference.to_numpy(tgrad))
    tensors = {**dict(torch_module.named_buffers()), **dict(torch_module.named_parameters())}
    for name, mine in members():
        if name.endswith(".grad"):
            param = tensors[name.removesuffix(".grad")]
            theirs = torch.zeros_like(param) if param.grad is None else param.grad
        else:
            theirs = tensors[name]
        result.pairs[name] = (np.asarray(mine), reference.to_numpy(theirs))
    return result
