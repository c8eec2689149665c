"""The public twin check: is YOUR NumPy layer (or optimizer) computing what torch computes?

`check(layer, torch_module, *inputs, adapter=...)` copies the torch module's
weights into `layer`, runs forward and backward on both with one random
upstream gradient, in float64 and float32, and returns a `CheckReport`: per
tensor the largest absolute and relative difference (relative =
`scratch.testing.max_rel_diff`, max|layer - torch| / max|torch|), the first
tensor that disagrees, and a central finite-difference check of the layer's
own backward in float64 (`scratch.gradcheck.central_difference`).

The layer can be any object. An `Adapter` says, declaratively, how to call it:

    Adapter(forward="forward", backward="backward",   # method names, or callables
            params=[Param("weight", "W", grad="dW", layout=TRANSPOSED),
                    Param("bias", "b", grad="db")])

- `forward(layer, *inputs) -> output`; a string names a method of the layer.
- `backward(layer, output, grad_output) -> dL/dinput`; a string names a method
  called as `layer.backward(grad_output)`. An autograd layer returns None and
  says where the input's gradient lands with `input_grad`.
- Each `Param` names the torch parameter (or buffer) it is, where its value
  and gradient live on the layer (a dotted attribute path, or callables), and
  the layout change from torch's to the layer's (e.g. a transposed weight).

The run after both forwards (the upstream gradient, both backwards, every
tensor paired) is `twins.run_twins`, the parity helper's too; the check judges
the pairs by its own rule, `ParityResult.rows`: a layer's array with extra unit
axes is reshaped to torch's shape, and a dtype other than torch's is noted, not
failed. Tolerances per dtype are `bench.compare.TOLERANCES` (elementwise
|layer - torch| <= atol + rtol |torch|); the finite-difference error is
accepted up to `FD_TOL`. `check_optimizer` judges an optimizer's trajectory
against a `torch.optim` optimizer by the same rule, step by step.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch

import scratch
from bench.compare.twins import TOLERANCES, ParityResult, Row, numbered, run_twins
from scratch.gradcheck import SCALE_FLOOR, central_difference
from scratch.testing import max_rel_diff

# Largest relative error of the layer's backward against central differences (float64).
FD_TOL = 1e-6
FD_EPS = 1e-6
# Finite differences cost two forward passes per entry: bigger arrays are skipped (and said so).
FD_MAX_ENTRIES = 5000


class AdapterError(TypeError):
    """The adapter does not fit the layer: a missing method or attribute, or a wrong shape."""


# --- layouts -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Layout:
    """How a torch parameter's array maps to the layer's array, and back (for gradients)."""

    to_layer: Callable[[np.ndarray], np.ndarray]
    to_torch: Callable[[np.ndarray], np.ndarray]
    name: str = "custom"


SAME = Layout(lambda a: a, lambda a: a, "same")
TRANSPOSED = Layout(lambda a: a.T, lambda a: a.T, "transposed")


def reshaped(*shape: int) -> Layout:
    """The layer holds torch's vector with extra unit axes, e.g. a bias of shape (1, n)."""
    return Layout(lambda a: a.reshape(shape), lambda a: a.reshape(-1), f"reshaped{shape}")


def permuted(*axes: int) -> Layout:
    """The layer holds torch's array with its axes permuted: layer = torch.transpose(axes)."""
    inverse = tuple(int(i) for i in np.argsort(axes))
    return Layout(lambda a: a.transpose(axes), lambda a: a.transpose(inverse),
                  f"permuted{tuple(axes)}")


# --- the adapter -------------------------------------------------------------------------

Getter = str | Callable[[Any], Any]


def _resolve(obj, path: str, what: str):
    cur = obj
    for part in path.split("."):
        if not hasattr(cur, part):
            have = sorted(a for a in dir(cur) if not a.startswith("_"))
            raise AdapterError(f"{what}: {type(cur).__name__} has no attribute {part!r} "
                               f"(path {path!r}); it has: {', '.join(have) or 'nothing public'}")
        cur = getattr(cur, part)
    return cur


def _assign(obj, path: str, value, what: str) -> None:
    *head, last = path.split(".")
    owner = _resolve(obj, ".".join(head), what) if head else obj
    if not hasattr(owner, last):
        raise AdapterError(f"{what}: {type(owner).__name__} has no attribute {last!r} "
                           f"(path {path!r}) to write into")
    setattr(owner, last, value)


def _as_array(value) -> np.ndarray:
    """An array from a NumPy array, a torch tensor or a peer's tensor (`.numpy()` / `.data`)."""
    if isinstance(value, np.ndarray | np.generic | float | int):
        return np.asarray(value)
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    for attr in ("numpy",):
        if callable(getattr(value, attr, None)):
            return np.asarray(value.numpy())
    if hasattr(value, "data"):
        return np.asarray(value.data)
    return np.asarray(value)


@dataclass(frozen=True)
class Param:
    """One parameter (or buffer) of the layer and the torch tensor it twins.

    torch_name: the name in `torch_module.named_parameters()` (or `named_buffers()`:
        a buffer, e.g. a running mean, is compared after the forward pass).
    value: where the value lives: a dotted attribute path ("W", "params.W",
        "weight.data") or `callable(layer) -> array`.
    grad: where its gradient lands after backward, same forms; None for a buffer.
    set: how to write a value: None assigns to the `value` path; or
        `callable(layer, array)` (e.g. to wrap it in the layer's tensor type).
    layout: torch's array -> the layer's array (and the gradient back), e.g. TRANSPOSED.
    """

    torch_name: str
    value: Getter
    grad: Getter | None = None
    set: Callable[[Any, np.ndarray], None] | None = None
    layout: Layout = SAME

    def read(self, layer) -> np.ndarray:
        what = f"parameter {self.torch_name!r}"
        get = self.value
        raw = _resolve(layer, get, what) if isinstance(get, str) else get(layer)
        return _as_array(raw)

    def read_grad(self, layer) -> np.ndarray:
        what = f"gradient of {self.torch_name!r}"
        if self.grad is None:
            raise AdapterError(f"{what}: the adapter gives no `grad` for it")
        raw = _resolve(layer, self.grad, what) if isinstance(self.grad, str) else self.grad(layer)
        if raw is None:
            raise AdapterError(f"{what}: the layer's gradient is None after backward "
                               f"(did backward reach it?)")
        return _as_array(raw)

    def write(self, layer, array: np.ndarray) -> None:
        if self.set is not None:
            self.set(layer, array)
        elif isinstance(self.value, str):
            _assign(layer, self.value, array, f"parameter {self.torch_name!r}")
        else:
            raise AdapterError(f"parameter {self.torch_name!r}: `value` is a callable, so the "
                               f"adapter needs `set=callable(layer, array)` to write it")


@dataclass(frozen=True)
class Adapter:
    """How to drive a layer: forward, backward, parameters (see the module docstring).

    forward: method name or `callable(layer, *inputs) -> output`.
    backward: method name (called as `layer.backward(grad_output)`, returning
        dL/dinput) or `callable(layer, output, grad_output) -> dL/dinput or None`.
        With several outputs, grad_output is a tuple, one array per output.
    params: the layer's parameters and buffers, each a `Param`.
    wrap: `callable(array) -> the layer's input type` (e.g. an autograd tensor).
    output: `callable(output) -> array or tuple of arrays`; default: arrays as they come.
    torch_output: `callable(torch output) -> tensor or tuple`: which of torch's
        outputs to compare (e.g. an LSTM's output and (h, c)).
    input_grad: `callable(wrapped input) -> array`: where an autograd layer leaves
        dL/dinput (used when backward returns None).
    grad_inputs: which inputs are differentiated and compared (losses: the
        prediction, not the target).
    zero_grad: method name or callable run before each backward, or None.
    prepare: `callable(layer, *inputs)` run once per dtype before weights are
        copied (e.g. a layer that creates its weights on its first forward pass),
        or `callable(layer, dtype)` via `cast`.
    cast: `callable(layer, dtype)` or method name (scratch: "to") casting the layer.
    deterministic: False skips the finite-difference check (e.g. dropout in train mode).
    """

    forward: str | Callable = "forward"
    backward: str | Callable = "backward"
    params: Sequence[Param] = ()
    wrap: Callable[[np.ndarray], Any] | None = None
    output: Callable[[Any], Any] | None = None
    torch_output: Callable[[Any], Any] | None = None
    input_grad: Callable[[Any], Any] | None = None
    grad_inputs: tuple[int, ...] = (0,)
    zero_grad: str | Callable | None = None
    prepare: Callable | None = None
    cast: str | Callable | None = None
    deterministic: bool = True

    def _method(self, layer, name: str, role: str):
        fn = getattr(layer, name, None)
        if not callable(fn):
            have = sorted(a for a in dir(layer) if not a.startswith("_")
                          and callable(getattr(layer, a, None)))
            raise AdapterError(f"adapter's {role}: {type(layer).__name__} has no method "
                               f"{name!r}; its methods are: {', '.join(have) or 'none'}")
        return fn

    def run_forward(self, layer, *inputs):
        if isinstance(self.forward, str):
            return self._method(layer, self.forward, "forward")(*inputs)
        return self.forward(layer, *inputs)

    def run_backward(self, layer, out, grad_out):
        if isinstance(self.backward, str):
            return self._method(layer, self.backward, "backward")(grad_out)
        return self.backward(layer, out, grad_out)

    def run_zero_grad(self, layer) -> None:
        if self.zero_grad is None:
            return
        if isinstance(self.zero_grad, str):
            self._method(layer, self.zero_grad, "zero_grad")()
        else:
            self.zero_grad(layer)

    def run_cast(self, layer, dtype) -> None:
        if self.cast is None:
            return
        if isinstance(self.cast, str):
            self._method(layer, self.cast, "cast")(dtype)
        else:
            self.cast(layer, dtype)

    def outputs(self, out) -> tuple[np.ndarray, ...]:
        out = self.output(out) if self.output is not None else out
        return tuple(_as_array(o) for o in _flat(out))


def _flat(value) -> list:
    if isinstance(value, tuple | list):
        return [leaf for v in value for leaf in _flat(v)]
    return [value]


def scratch_adapter(module: scratch.Module, inputs: Sequence = ()) -> Adapter:
    """The adapter for any scratch module: torch's names, its own backward, `to(dtype)`.

    By scratch's contract, backward takes one gradient per float output and returns one
    per float input in order, possibly followed by more (an RNN's dh0): every float input
    of `inputs` is compared (a loss's prediction only, not its target), and the extra
    gradients are left out.
    """

    def setter(name: str, is_param: bool):
        def write(layer, array):
            if is_param:
                dict(layer.named_parameters())[name].data = np.array(array, copy=True)
            else:
                state = layer.state_dict()
                state[name] = array
                layer.load_state_dict(state)
        return write

    def getter(name: str, is_param: bool):
        if is_param:
            return lambda layer: dict(layer.named_parameters())[name].data
        return lambda layer: dict(layer.named_buffers())[name]

    def grad_getter(name: str):
        return lambda layer: dict(layer.named_parameters())[name].grad

    params = [Param(n, getter(n, True), grad_getter(n), set=setter(n, True))
              for n, _ in module.named_parameters()]
    params += [Param(n, getter(n, False), None, set=setter(n, False))
               for n, _ in module.named_buffers()]
    is_loss = isinstance(module, scratch.Loss)
    floats = tuple(i for i, x in enumerate(inputs)
                   if np.issubdtype(np.asarray(x).dtype, np.floating))
    grad_inputs = (0,) if is_loss or not floats else floats

    def backward(layer, out, grad_out):
        grads = layer.backward(*grad_out) if isinstance(grad_out, tuple) else \
            layer.backward(grad_out)
        return grads[:len(grad_inputs)] if isinstance(grads, tuple) else grads

    return Adapter(forward=(lambda m, *xs: m(*xs)) if is_loss else "forward",
                   backward=backward, params=params, zero_grad="zero_grad", cast="to",
                   grad_inputs=grad_inputs,
                   deterministic=not any(isinstance(m, scratch.Dropout) and m.training
                                         for m in module.modules()))


# --- the report --------------------------------------------------------------------------

@dataclass
class CheckReport:
    """Every compared tensor, in the order computed: per dtype the rows of its twin run
    (`ParityResult.rows`: outputs, input grads, parameter grads, buffers), then the
    finite-difference check of the layer's own backward (float64)."""

    name: str
    rows: list[Row] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    @property
    def first_failure(self) -> Row | None:
        return next((r for r in self.rows if not r.ok), None)

    def max_rel(self, dtype: str = "float64", finite_difference: bool = False) -> float:
        """Largest relative difference against torch (or, with finite_difference, against
        central differences) in `dtype`; NaN if any is NaN."""
        vals = [r.max_rel for r in self.rows
                if r.dtype == dtype and r.tensor.startswith("fd:") == finite_difference]
        if any(np.isnan(v) for v in vals):
            return float("nan")
        return max(vals, default=float("nan"))

    def table(self) -> str:
        head = ("dtype", "tensor", "shape", "max abs diff", "max rel diff", "ok", "note")
        body = [(r.dtype, r.tensor, "x".join(map(str, r.shape)) or "scalar",
                 f"{r.max_abs:.2e}", f"{r.max_rel:.2e}", "yes" if r.ok else "NO", r.note)
                for r in self.rows]
        widths = [max(len(str(c)) for c in col) for col in zip(head, *body)]
        lines = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(line, widths)) + " |"
                 for line in (head, *body)]
        lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
        return "\n".join(lines)

    def summary(self) -> str:
        bad = self.first_failure
        if bad is None:
            return f"{self.name}: ok ({len(self.rows)} tensors)"
        return (f"{self.name}: FAILED, first disagreement: {bad.tensor} in {bad.dtype} "
                f"(max abs diff {bad.max_abs:.3e}, max rel diff {bad.max_rel:.3e}"
                f"{'; ' + bad.note if bad.note else ''})")

    def assert_ok(self) -> CheckReport:
        if not self.ok:
            raise AssertionError(self.summary() + "\n" + self.table())
        return self

    def __str__(self) -> str:
        return self.summary() + "\n" + self.table()


# --- the layer check ---------------------------------------------------------------------

def _torch_input(x: np.ndarray, dtype, requires_grad: bool):
    if np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_:
        return torch.from_numpy(np.array(x, dtype=np.int64))
    t = torch.from_numpy(np.array(x, dtype=dtype))
    return t.requires_grad_(requires_grad)


def _cast_input(x: np.ndarray, dtype) -> np.ndarray:
    x = np.asarray(x)
    return x.copy() if not np.issubdtype(x.dtype, np.floating) else x.astype(dtype)


def _copy_weights(layer, torch_module, adapter: Adapter, dtype) -> None:
    members = {**dict(torch_module.named_buffers()), **dict(torch_module.named_parameters())}
    for p in adapter.params:
        if p.torch_name not in members:
            raise AdapterError(f"parameter {p.torch_name!r}: {type(torch_module).__name__} has "
                               f"no parameter or buffer of that name; it has: "
                               f"{', '.join(members) or 'none'}")
        src = members[p.torch_name].detach().cpu().numpy()
        value = np.array(p.layout.to_layer(src), order="C",
                         dtype=dtype if np.issubdtype(src.dtype, np.floating) else src.dtype)
        try:
            current = p.read(layer)
        except AdapterError:
            current = None  # nothing there yet: the write below creates it
        if current is not None and current.shape != value.shape:
            raise AdapterError(
                f"parameter {p.torch_name!r}: the layer's array has shape {current.shape}, "
                f"torch's {p.torch_name} has shape {tuple(src.shape)}"
                + (f" ({p.layout.name} for the layer: {value.shape})"
                   if p.layout is not SAME else "")
                + "; wrong layer size, or a missing layout (e.g. layout=TRANSPOSED)?")
        p.write(layer, value)


def _layer_forward(layer, adapter: Adapter, inputs: list[np.ndarray]):
    """(the inputs as the layer takes them, its own output (which its backward takes),
    that output's arrays, flat)."""
    native = [adapter.wrap(x) if adapter.wrap and np.issubdtype(x.dtype, np.floating) else x
              for x in inputs]
    out = adapter.run_forward(layer, *native)
    return native, out, adapter.outputs(out)


def _layer_backward(layer, adapter: Adapter, native: list, out, upstream: list) -> list:
    """dL/dinput of each of `adapter.grad_inputs`, as arrays in the layer's layout."""
    grad_out = upstream[0] if len(upstream) == 1 else tuple(upstream)
    returned = adapter.run_backward(layer, out, grad_out)
    if returned is None:
        if adapter.input_grad is None:
            raise AdapterError("backward returned None and the adapter gives no `input_grad` "
                               "to read dL/dinput from")
        grads = [_as_array(adapter.input_grad(native[i])) for i in adapter.grad_inputs]
    else:
        grads = [_as_array(g) for g in (_flat(returned) if isinstance(returned, tuple | list)
                                        else [returned])]
    if len(grads) != len(adapter.grad_inputs):
        raise AdapterError(f"backward gave {len(grads)} input gradient(s) for "
                           f"grad_inputs={adapter.grad_inputs}")
    return grads


def _layer_members(layer, adapter: Adapter) -> list[tuple[str, np.ndarray]]:
    """Each Param's gradient ("{torch_name}.grad"), or for a buffer its value after the
    forward pass, in torch's layout."""
    return [(f"{p.torch_name}.grad", p.layout.to_torch(p.read_grad(layer))) if p.grad is not None
            else (p.torch_name, p.layout.to_torch(p.read(layer))) for p in adapter.params]


def _adapter_mismatch(message: str) -> AdapterError:
    return AdapterError(f"{message}: Adapter(output=...), (torch_output=...) and "
                        f"(grad_inputs=...) pick which are compared")


def check(layer, torch_module: torch.nn.Module, *inputs: np.ndarray,
          adapter: Adapter | None = None, dtypes: Sequence = (np.float64, np.float32),
          rng: np.random.Generator | None = None, finite_differences: bool = True,
          name: str | None = None) -> CheckReport:
    """Check `layer` against `torch_module` on `inputs`; see the module docstring.

    Args:
        layer: any object; `adapter` says how to drive it (scratch modules need none).
        torch_module: the torch layer it should equal; its weights are copied INTO
            `layer` (through `adapter.params`) for each dtype. It is not modified.
        inputs: NumPy arrays; floating ones are cast to each dtype, integer ones
            (class targets) pass as they are.
        dtypes: the float dtypes to run in.
        rng: draws the upstream gradient (default: seed 0, so reruns agree).
        finite_differences: also check the layer's backward against central
            differences of its own forward, in float64 (arrays up to FD_MAX_ENTRIES).
    """
    if adapter is None:
        if not isinstance(layer, scratch.Module):
            raise AdapterError(f"{type(layer).__name__} is not a scratch module: pass "
                               f"adapter=Adapter(...) saying how to call it")
        adapter = scratch_adapter(layer, inputs)
    rng = rng if rng is not None else np.random.default_rng(0)
    report = CheckReport(name or f"{type(layer).__name__} vs "
                                 f"torch.nn.{type(torch_module).__name__}")
    arrays = [np.asarray(x) for x in inputs]
    for i in adapter.grad_inputs:
        if i >= len(arrays) or not np.issubdtype(arrays[i].dtype, np.floating):
            raise AdapterError(f"grad_inputs names input {i}, but the inputs are "
                               f"{[str(a.dtype) for a in arrays]}: it must be a float array")

    for dt in dtypes:
        dt = np.dtype(dt)
        tol = TOLERANCES[dt]
        tmod = copy.deepcopy(torch_module).to(getattr(torch, dt.name))
        xs = [_cast_input(x, dt) for x in arrays]
        adapter.run_cast(layer, dt)
        if adapter.prepare is not None:
            adapter.prepare(layer, *xs)
        _copy_weights(layer, tmod, adapter, dt)

        txs = [_torch_input(x, dt, i in adapter.grad_inputs) for i, x in enumerate(xs)]
        tout = tmod(*txs)
        adapter.run_zero_grad(layer)  # before forward: some layers keep per-call caches
        native, out, outs = _layer_forward(layer, adapter, xs)
        result = run_twins(
            outs, adapter.torch_output(tout) if adapter.torch_output else tout,
            partial(_layer_backward, layer, adapter, native, out), tmod,
            {i: txs[i] for i in adapter.grad_inputs}, partial(_layer_members, layer, adapter),
            dtype=dt, rng=rng, error=_adapter_mismatch)
        report.rows += result.rows(dt.name, tol)
        if finite_differences and dt == np.float64 and adapter.deterministic:
            report.rows += _finite_difference_rows(layer, adapter, xs, result)
    return report


def _finite_difference_rows(layer, adapter: Adapter, xs, result: ParityResult) -> list[Row]:
    """The layer's own backward against central differences of its own forward."""

    def objective() -> float:  # <outputs, upstream>, over the float outputs that took one
        _, _, outs = _layer_forward(layer, adapter, xs)
        floats = [o for o in outs if np.issubdtype(o.dtype, np.inexact)]
        return float(sum(np.sum(o.astype(np.float64) * g) for o, g in zip(floats, result.upstream)))

    # The analytic gradients, in the layer's layout, from the backward just run.
    arrays: dict[str, tuple[np.ndarray, np.ndarray, Param | None]] = {}
    for i in adapter.grad_inputs:
        label = numbered("input", i)
        arrays[label] = (xs[i], result.pairs[f"{label}.grad"][0].reshape(xs[i].shape), None)
    for p in adapter.params:
        if p.grad is not None:
            # C order: central_difference nudges through a flat view, which an F-ordered
            # copy (e.g. a getter returning a transposed array) would not give.
            value = np.array(p.read(layer), dtype=np.float64, copy=True, order="C")
            arrays[p.torch_name] = (value, p.read_grad(layer).reshape(value.shape), p)

    numerics: dict[str, np.ndarray] = {}
    skipped = []
    for label, (arr, _, p) in arrays.items():
        if arr.size > FD_MAX_ENTRIES:
            skipped.append(label)
            continue
        if p is None:
            numerics[label] = central_difference(objective, arr, FD_EPS)
        else:
            def nudged(p=p, arr=arr) -> float:
                p.write(layer, arr.copy())
                return objective()
            numerics[label] = central_difference(nudged, arr, FD_EPS)
            p.write(layer, arr.copy())
    largest = max((float(np.abs(n).max(initial=0.0)) for n in numerics.values()), default=0.0)
    rows = []
    for label, numeric in numerics.items():
        analytic = arrays[label][1].astype(np.float64)
        rel = max_rel_diff(analytic, numeric, floor=SCALE_FLOOR * largest)
        rows.append(Row("float64", f"fd: {label}.grad", numeric.shape,
                        float(np.max(np.abs(analytic - numeric), initial=0.0)), rel,
                        bool(rel <= FD_TOL), "backward vs central differences"))
    for label in skipped:
        rows.append(Row("float64", f"fd: {label}.grad", arrays[label][0].shape, 0.0, 0.0, True,
                        f"skipped: more than {FD_MAX_ENTRIES} entries"))
    return rows


# --- optimizers --------------------------------------------------------------------------

@dataclass(frozen=True)
class OptimizerAdapter:
    """How to drive an optimizer over plain arrays.

    setup: `callable(list of arrays) -> state`: build the parameters (in the
        optimizer's own tensor type) and the optimizer over them.
    step: `callable(state, list of gradients)`: hand over the gradients, take one step.
    params: `callable(state) -> list of arrays`: the current parameter values.
    """

    setup: Callable[[list[np.ndarray]], Any]
    step: Callable[[Any, list[np.ndarray]], None]
    params: Callable[[Any], Sequence[Any]]


def scratch_optimizer(cls, **hyper) -> OptimizerAdapter:
    """The adapter for a scratch optimizer class, e.g. `scratch_optimizer(scratch.optim.Adam,
    lr=1e-3)`."""

    def setup(arrays):
        params = [scratch.Parameter(a.copy()) for a in arrays]
        return params, cls(params, **hyper)

    def step(state, grads):
        params, opt = state
        opt.zero_grad()
        for p, g in zip(params, grads):
            p.accumulate_grad(g.copy())
        opt.step()

    return OptimizerAdapter(setup, step, lambda state: [p.data for p in state[0]])


def check_optimizer(adapter: OptimizerAdapter, torch_optimizer: Callable, *,
                    shapes: Sequence[tuple] = ((4, 3), (3,)), steps: int = 10,
                    dtypes: Sequence = (np.float64, np.float32),
                    rng: np.random.Generator | None = None, name: str = "optimizer"
                    ) -> CheckReport:
    """Step-by-step trajectory of the optimizer against `torch_optimizer(params)`.

    Both start from the same random parameters. At each step each twin gets the
    gradient of L = sum(p^2) / 2 + <r_k, p> at its OWN parameters (r_k random,
    the same for both), so an error compounds along the trajectory instead of
    being reset. Rows: each parameter after each step; the first that disagrees
    is the step and parameter where the update rule goes wrong.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    report = CheckReport(name)
    initial = [rng.standard_normal(s) for s in shapes]
    pulls = [[rng.standard_normal(s) for s in shapes] for _ in range(steps)]
    for dt in dtypes:
        dt = np.dtype(dt)
        tol = TOLERANCES[dt]
        state = adapter.setup([a.astype(dt) for a in initial])
        tparams = [torch.nn.Parameter(torch.from_numpy(a.astype(dt))) for a in initial]
        topt = torch_optimizer(tparams)
        for k in range(steps):
            mine = [_as_array(p) for p in adapter.params(state)]
            for j, (p, t) in enumerate(zip(mine, tparams)):
                if p.shape != tuple(t.shape):
                    raise AdapterError(f"optimizer parameter {j}: shape {p.shape}, "
                                       f"torch's {tuple(t.shape)}")
            adapter.step(state, [(p + r).astype(dt) for p, r in zip(mine, pulls[k])])
            topt.zero_grad()
            for t, r in zip(tparams, pulls[k]):
                t.grad = t.detach() + torch.from_numpy(r.astype(dt))
            topt.step()
            after = ParityResult({f"step {k + 1}: param {j}": (_as_array(p), t.detach().numpy())
                                  for j, (p, t) in enumerate(zip(adapter.params(state), tparams))})
            report.rows += after.rows(dt.name, tol)
    return report
