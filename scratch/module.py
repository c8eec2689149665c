"""Module, Parameter and Sequential: the containers every scratch layer builds on.

A `Module` mirrors `torch.nn.Module`: attributes that are `Parameter`s or
`Module`s register themselves in assignment order, so `named_parameters()` and
`state_dict()` produce torch's names (`"0.weight"`, `"bn.running_mean"`).
There is no autograd graph: `forward` caches what `backward` needs, and
`backward(grad_out)` returns dL/dinput while adding into each `Parameter.grad`
(through `Parameter.accumulate_grad`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# Keyword-only arguments scratch adds to torch's signatures; not in `Module.init_args`.
SCRATCH_ONLY_ARGS = ("rng", "dtype")


def check_float_dtype(dtype) -> np.dtype:
    """Return `dtype` as np.dtype if it is float32 or float64, else raise TypeError."""
    try:
        dt = np.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"expected dtype float32 or float64, got {dtype!r}") from err
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"expected dtype float32 or float64, got {dt}")
    return dt


def check_state_keys(expected: Mapping[str, tuple[int, ...]],
                     given: Mapping[str, tuple[int, ...]], context: str, *,
                     dtypes: Mapping[str, np.dtype] | None = None) -> None:
    """Raise ValueError if two name -> shape maps differ, naming every difference.

    The message reads "{context}: missing keys [...], unexpected keys [...], shape
    mismatch for k: expected shape X, got Y; ..., non-numeric dtype for k: <U3",
    with only the parts that apply: missing keys are in `expected` only, unexpected
    ones in `given` only. With `dtypes` (the given arrays' dtypes), a dtype that is
    not bool, integer or floating is a difference too: no weight can take it.
    """
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    mismatched = [f"{k}: expected shape {tuple(expected[k])}, got {tuple(given[k])}"
                  for k in expected if k in given and tuple(given[k]) != tuple(expected[k])]
    wrong_kind = [f"{k}: {dtypes[k]}" for k in expected
                  if dtypes is not None and k in dtypes and np.dtype(dtypes[k]).kind not in "biuf"]
    parts = []
    if missing:
        parts.append(f"missing keys {missing}")
    if unexpected:
        parts.append(f"unexpected keys {unexpected}")
    if mismatched:
        parts.append("shape mismatch for " + "; ".join(mismatched))
    if wrong_kind:
        parts.append("non-numeric dtype for " + "; ".join(wrong_kind))
    if parts:
        raise ValueError(f"{context}: " + ", ".join(parts))


class Parameter:
    """A trainable array and its gradient, like `torch.nn.Parameter`.

    `grad` reads as an array of the same shape and dtype (zeros after
    `zero_grad()`), never None; `has_grad` tells whether one was given, as torch's
    `p.grad is not None` does (optimizers skip a parameter without one; reading
    `grad` gives it zeros, so code that may skip reads `has_grad` first).
    Backward passes hand their gradient to `accumulate_grad`: after `zero_grad()`
    the array itself becomes `grad`, so a training step neither fills zeros nor
    adds into them (torch gets the same saving from `zero_grad(set_to_none=True)`).
    """

    def __init__(self, data: np.ndarray):
        self.data = np.ascontiguousarray(data)
        self._grad: np.ndarray | None = None  # None: zero, not yet materialised

    @property
    def has_grad(self) -> bool:
        """Whether a gradient was given (by backward, `grad =` or reading `grad`) since the last
        `zero_grad()`: torch's `p.grad is not None`, which decides whether an optimizer steps p."""
        return self._grad is not None

    @property
    def grad(self) -> np.ndarray:
        if self._grad is None:
            self._grad = np.zeros_like(self.data)
        return self._grad

    @grad.setter
    def grad(self, value: np.ndarray) -> None:
        value = np.asarray(value)
        if value.shape != self.data.shape or value.dtype != self.data.dtype:
            raise ValueError(f"grad must match the parameter: expected shape {self.data.shape} "
                             f"and dtype {self.data.dtype}, got {value.shape} and {value.dtype}")
        self._grad = value

    def accumulate_grad(self, g: np.ndarray) -> None:
        """grad += g; g must be a fresh array the caller no longer uses (it may be adopted)."""
        if self._grad is None:
            self._grad = g.reshape(self.data.shape)
        else:
            self._grad += g.reshape(self.data.shape)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def zero_grad(self) -> None:
        self._grad = None

    def to(self, dtype) -> Parameter:
        dt = check_float_dtype(dtype)
        if self.data.dtype != dt:
            self.data = self.data.astype(dt)
            self._grad = None if self._grad is None else self._grad.astype(dt)
        return self

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class of every scratch layer and loss.

    Subclasses implement `forward(x)` and `backward(grad_out)`; `backward`
    must be called after the `forward` whose input it differentiates.

    `init_args` holds `(args, kwargs)` exactly as the constructor was called,
    less the scratch-only `rng` and `dtype`: the torch twin is built from them,
    never from the attributes scratch derived from them.
    """

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        # The arguments the caller gave, before any default is filled in: the torch
        # twin is built from these through torch's own constructor and defaults.
        object.__setattr__(self, "init_args", (args, {
            k: v for k, v in kwargs.items() if k not in SCRATCH_ONLY_ARGS}))
        return self

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # --- registration -------------------------------------------------------

    def __setattr__(self, name: str, value) -> None:
        if name in self.__dict__ and not isinstance(value, (Parameter, Module)):
            object.__setattr__(self, name, value)  # a plain attribute stays plain (the hot path)
            return
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() was called"
            )
        if name in self._buffers and (value is None or isinstance(value, np.ndarray)):
            self._buffers[name] = value  # torch semantics: assigning to a buffer updates it
            return
        target = (self._parameters if isinstance(value, Parameter)
                  else self._modules if isinstance(value, Module) else None)
        for registry in (self._parameters, self._buffers, self._modules):
            if registry is not target:
                registry.pop(name, None)
        if target is None:
            object.__setattr__(self, name, value)
        else:
            self.__dict__.pop(name, None)
            target[name] = value  # replacing keeps the place, so names keep torch's order

    def __getattr__(self, name: str):
        # Only called when normal lookup fails: look in the registries.
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in d and name in d[registry]:
                return d[registry][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def register_buffer(self, name: str, value: np.ndarray | None) -> None:
        """A non-trainable array saved in `state_dict` (e.g. BatchNorm's running_mean)."""
        self.__dict__.pop(name, None)
        self._buffers[name] = value

    # --- the computation ------------------------------------------------------

    def forward(self, *input):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def backward(self, grad_out, *, input_grad: bool = True):
        """Add dL/dparameter into each `Parameter.grad`; return dL/dinput.

        With input_grad=False nothing is returned (None) and dL/dinput is not computed,
        as torch skips inputs that do not require grad: a network's first layer saves
        a matmul (Linear) or a col2im (Conv2d).
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # --- traversal ----------------------------------------------------------

    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def _named_members(self, registries: tuple[str, ...], prefix: str = ""
                       ) -> Iterator[tuple[str, Module, Parameter | np.ndarray]]:
        """(dotted name, owning module, member) for every entry of the given registries
        ("_parameters", "_buffers") that is not None, module by module in named_modules
        order and within a module registry by registry: torch's state_dict order."""
        for mod_name, mod in self.named_modules(prefix):
            dot = f"{mod_name}." if mod_name else ""
            for registry in registries:
                for name, member in mod.__dict__[registry].items():
                    if member is not None:
                        yield dot + name, mod, member

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for name, _, p in self._named_members(("_parameters",), prefix):
            yield name, p

    def parameters(self) -> Iterator[Parameter]:
        for _, _, p in self._named_members(("_parameters",)):
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for name, _, b in self._named_members(("_buffers",), prefix):
            yield name, b

    # --- state ----------------------------------------------------------------

    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Copies of every parameter and buffer under torch's names."""
        return OrderedDict(
            (name, member.data.copy() if isinstance(member, Parameter)
             else np.array(member, copy=True))
            for name, _, member in self._named_members(("_parameters", "_buffers")))

    def load_state_dict(self, state_dict: Mapping[str, np.ndarray]) -> None:
        """Copy arrays into parameters and buffers, in place, keeping this model's dtype.

        Raises ValueError naming every missing, unexpected or mis-shaped key and every
        value that is not a numeric array (bool, integer, floating), all checked before
        anything is changed, so a failed load leaves the model as it was.
        """
        targets = {name: (mod, member)
                   for name, mod, member in self._named_members(("_parameters", "_buffers"))}
        given = {k: np.asarray(v) for k, v in state_dict.items()}
        check_state_keys({k: np.shape(member) for k, (_, member) in targets.items()},
                         {k: v.shape for k, v in given.items()},
                         f"load_state_dict into {type(self).__name__} failed",
                         dtypes={k: v.dtype for k, v in given.items()})
        for key, (owner, current) in targets.items():
            value = given[key]
            if isinstance(current, Parameter):
                np.copyto(current.data, value, casting="unsafe")
            else:
                name = key.rsplit(".", 1)[-1]
                owner._buffers[name] = value.astype(current.dtype, copy=True)

    # --- modes and housekeeping ---------------------------------------------

    def train(self, mode: bool = True) -> Module:
        object.__setattr__(self, "training", bool(mode))
        for child in self._modules.values():  # recursion, as torch; no name bookkeeping
            child.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def to(self, dtype) -> Module:
        """Cast parameters and floating buffers to float32 or float64, in place."""
        dt = check_float_dtype(dtype)
        for m in self.modules():
            for p in m._parameters.values():
                p.to(dt)
            for name, b in m._buffers.items():
                if b is not None and np.issubdtype(b.dtype, np.floating):
                    m._buffers[name] = b.astype(dt)
        return self

    @property
    def dtype(self) -> np.dtype | None:
        """dtype of the first parameter (else floating buffer), None if there is neither."""
        floats = (b.dtype for _, b in self.named_buffers() if np.issubdtype(b.dtype, np.floating))
        return next((p.dtype for p in self.parameters()), next(floats, None))

    # --- printing ---------------------------------------------------------------

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


class _Container(Module):
    """Child modules in order, indexed and iterated as torch's containers are."""

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


class Sequential(_Container):
    """Modules applied in order; backward runs them in reverse.

    Sequential(m0, m1, ...) names them "0", "1", ...; Sequential(OrderedDict(name=m, ...))
    keeps the given names, as torch.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> model = Sequential(Linear(4, 3, rng=rng), ReLU())
        >>> model(np.ones((2, 4), np.float32)).shape
        (2, 3)
    """

    def __init__(self, *args: Module):
        super().__init__()
        named = (args[0].items() if len(args) == 1 and isinstance(args[0], OrderedDict)
                 else ((str(i), m) for i, m in enumerate(args)))  # torch's two forms
        for name, m in named:
            if not isinstance(m, Module):
                raise TypeError(f"Sequential expects Modules, got {type(m).__name__} at {name}")
            setattr(self, name, m)

    def forward(self, input: np.ndarray) -> np.ndarray:
        output = input
        for m in self._modules.values():
            output = m(output)
        return output

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        mods = list(self._modules.values())
        # Without input_grad, layers before the first one with parameters have nothing to do.
        first = 0 if input_grad else next(
            (i for i, m in enumerate(mods) if next(m.parameters(), None) is not None), len(mods))
        for i in range(len(mods) - 1, first - 1, -1):
            grad_out = mods[i].backward(grad_out, input_grad=input_grad or i > first)
        return grad_out if input_grad else None


class ModuleList(_Container):
    """Modules held in a list, registered as "0", "1", ... as `torch.nn.ModuleList`.

    It has no forward: the module holding it decides how the members are called
    (TransformerEncoder's layers, or a model of one's own).
    """

    def __init__(self, modules=None):
        super().__init__()
        for m in modules or ():
            self.append(m)

    def append(self, module: Module) -> ModuleList:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList holds Modules, got {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)
        return self



@contextmanager
def eval_mode(model):
    """Run the block with `model` in eval mode, then give it back the mode it had, whatever
    the block raised. Any module with torch's `training` / `train(mode)` (scratch's or
    torch's): a function that evaluates the caller's model leaves its mode as it found it."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
