"""Central finite differences against a module's hand-written backward.

For a module f, an input x and a fixed upstream gradient G, the scalar
L = sum(f(x) * G) has dL/dx = f.backward(G). Each entry of x (and of every
parameter) is nudged by +-eps and (L+ - L-) / (2 eps) is compared with the
analytic gradient. Run it in float64: in float32 the differences are noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scratch.loss import Loss
from scratch.module import Module
from scratch.testing import array_leaves, max_rel_diff


@dataclass
class GradcheckResult:
    """Largest relative error per checked array: `max_rel_diff(analytic, numeric)`, i.e.
    max|analytic - numeric| over the numeric gradient's largest magnitude, floored at
    SCALE_FLOOR times the largest numeric gradient of the module."""

    errors: dict[str, float] = field(default_factory=dict)

    @property
    def max_error(self) -> float:
        """The largest error; NaN if any array's error is NaN (a NaN gradient)."""
        if any(np.isnan(e) for e in self.errors.values()):
            return float("nan")
        return max(self.errors.values(), default=0.0)


# Gradients that are zero in theory (a bias feeding a batch norm) come out as rounding
# noise, ~1e-17 analytic and ~1e-10 numeric: they are measured against this fraction of
# the module's largest gradient instead of against their own scale.
SCALE_FLOOR = 1e-3


def _replay_randomness(module: Module):
    """Return a function that rewinds every Generator held by `module`'s layers to now."""
    rngs = {id(m.rng): m.rng for m in module.modules()
            if isinstance(getattr(m, "rng", None), np.random.Generator)}
    states = {k: g.bit_generator.state for k, g in rngs.items()}

    def rewind() -> None:
        for k, g in rngs.items():
            g.bit_generator.state = states[k]

    return rewind


def central_difference(objective, arr: np.ndarray, eps: float) -> np.ndarray:
    """d objective / d arr by (f(a + eps) - f(a - eps)) / (2 eps), one entry at a time.

    `arr` is nudged in place and restored; `objective()` must read it.
    """
    numeric = np.zeros_like(arr)
    flat, nflat = arr.reshape(-1), numeric.reshape(-1)  # views: writes reach arr
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        plus = objective()
        flat[i] = orig - eps
        minus = objective()
        flat[i] = orig
        nflat[i] = (plus - minus) / (2 * eps)
    return numeric


def _copied(obj):
    """A copy of every array in a (nested) tuple: an in-place layer (inplace=True) would
    otherwise overwrite the inputs being nudged."""
    if isinstance(obj, (tuple, list)):
        return type(obj)(_copied(o) for o in obj)
    return obj.copy() if isinstance(obj, np.ndarray) else obj


def gradcheck(module: Module, *inputs, target: np.ndarray | None = None,
              rng: np.random.Generator, options: dict | None = None, eps: float = 1e-6,
              tol: float = 1e-6, raise_on_failure: bool = True) -> GradcheckResult:
    """Compare `module.backward` with central differences for the inputs and every parameter.

    Args:
        module: a scratch layer, model or loss (losses take `target`).
        inputs: the forward's positional arguments, float64; nested tuples allowed
            (an LSTM's `(h0, c0)`). Every float array among them is checked.
        target: the target for a loss module.
        rng: draws the random upstream gradient G of each float output (ignored for
            losses, which reduce to a scalar and take a random scalar grad instead).
        options: the forward's keyword arguments (masks, flags).
            Integer arrays among the inputs (MaxUnpool2d's indices) and outputs
            (MaxPool2d's) take no gradient and are not checked.
        eps: finite-difference step.
        tol: largest accepted relative error; beyond it ValueError names the array.

    With several outputs the objective is the sum over them of sum(out_i * G_i) and
    backward is called as `backward(G_0, G_1, ...)`; it returns one gradient per
    float input in order (extra trailing ones are ignored).

    Returns:
        GradcheckResult with the error for "input" ("input1", ... for further float
        inputs) and each parameter name.
    """
    leaves = array_leaves(inputs, floats_only=True)
    if any(x.dtype != np.float64 for x in leaves):
        raise TypeError(f"gradcheck needs float64 input (float32 differences are noise), "
                        f"got {[str(x.dtype) for x in leaves]}")
    is_loss = isinstance(module, Loss)
    replay = _replay_randomness(module)
    options = options or {}

    def call() -> list[np.ndarray]:
        replay()  # every pass draws the same dropout masks
        ins = _copied(inputs)
        if is_loss:
            return [np.asarray(module(*ins, target))]
        return array_leaves(module(*ins, **options), floats_only=True)

    upstream = [rng.standard_normal(o.shape) if o.ndim else np.float64(rng.uniform(0.5, 2))
                for o in call()]

    def objective() -> float:
        return float(sum(np.sum(o * g) for o, g in zip(call(), upstream)))

    module.zero_grad()
    call()
    grads = module.backward(*upstream)
    grads = list(grads) if isinstance(grads, tuple) else [grads]
    arrays = {("input" if i == 0 else f"input{i}"): (x, np.array(grads[i], copy=True))
              for i, x in enumerate(leaves)}
    for name, p in module.named_parameters():
        arrays[name] = (p.data, p.grad.copy())

    result = GradcheckResult()
    numerics = {name: central_difference(objective, arr, eps) for name, (arr, _) in arrays.items()}
    largest = max(np.abs(n).max(initial=0.0) for n in numerics.values())
    for name, (_, analytic) in arrays.items():
        result.errors[name] = max_rel_diff(analytic, numerics[name], floor=SCALE_FLOOR * largest)
    if raise_on_failure and not result.max_error <= tol:  # NaN fails too
        worst = max(result.errors, key=lambda k: np.nan_to_num(result.errors[k], nan=np.inf))
        raise ValueError(f"gradcheck failed for {type(module).__name__}: relative error "
                         f"{result.errors[worst]:.3e} in {worst!r} exceeds tol={tol:.1e} "
                         f"(all: {result.errors})")
    return result
