"""Optimizer base class: parameter groups, per-parameter state, zero_grad, state_dict.

As in torch, `param_groups` is a list of dicts holding "params" and the
hyper-parameters, so schedulers can change `group["lr"]` between steps, and
`state` maps each Parameter to its dict of buffers ("step", "exp_avg", ...).
`state_dict()` is torch's layout: {"state": {index: {...}}, "param_groups":
[{..., "params": [index, ...]}]}, parameters numbered in group order; a torch
optimizer's state_dict (tensors or arrays) loads as it is.

A parameter without a gradient (`not p.has_grad`: backward never reached it
since the last `zero_grad()`) is skipped by `step()` exactly as torch skips
`p.grad is None`: no state is created, no decay or momentum moves it.

torch's implementation flags, kept in every group as torch keeps them:
- `foreach`, `fused`: how torch batches its kernels; the arithmetic is the same,
  so any value is accepted (both True is refused, as torch refuses it).
- `capturable`: CUDA-graph capture; torch refuses it for CPU tensors, and so
  does scratch (ValueError).
- `differentiable`: a step autograd can differentiate through; scratch has no
  autograd (NotImplementedError).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from scratch.module import Parameter


def check_hyperparameter(name: str, value, low: float = 0.0, high: float | None = None, *,
                        what: str | None = None) -> None:
    """Raise ValueError unless low <= value (< high, if given); NaN fails every comparison.

    torch's ranges are written `not 0.0 <= lr` in most optimizers but `lr < 0.0` in SGD,
    which lets NaN through; every scratch optimizer refuses it.

    Args:
        name: the argument as the caller wrote it, e.g. "lr", "betas[0]".
        value: the number to check.
        low, high: the accepted range [low, high), or [low, inf) when high is None.
        what: the argument in words for the message (default: name).
    """
    if low <= value and (high is None or value < high):
        return
    expected = f"{name} >= {low:g}" if high is None else f"{low:g} <= {name} < {high:g}"
    raise ValueError(f"invalid {what or name}: expected {expected}, got {value}")


def check_implementation_flags(owner: str, group: dict) -> None:
    """torch's foreach / fused / capturable / differentiable, as the module docstring says."""
    if group.get("fused") and group.get("foreach"):
        raise RuntimeError(f"{owner}: `fused` and `foreach` cannot be `True` together.")
    if group.get("capturable"):
        raise ValueError(f"{owner}: capturable=True is for CUDA graph capture; torch refuses it "
                         "for CPU tensors and scratch runs on the CPU (use capturable=False)")
    if group.get("differentiable"):
        raise NotImplementedError(f"{owner}: differentiable=True needs autograd through the "
                                  "step, which scratch does not have (use differentiable=False)")


class Optimizer:
    """Base class: holds `param_groups`, `state` and `defaults`; subclasses give `_update`.

    Args:
        params: an iterable of Parameters, of (name, Parameter) pairs (the names are kept
            as the group's "param_names", as torch), or of dicts, each a parameter group:
            {"params": [...], and any of the optimizer's arguments to override}.
        defaults: every hyper-parameter of the optimizer and its value.
    """

    def __init__(self, params: Iterable[Parameter] | Iterable[dict], defaults: dict):
        if isinstance(params, Parameter):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Parameters or dicts, but got a Parameter")
        self.defaults = dict(defaults)
        self._check_group(self.defaults)
        self.state: dict[Parameter, dict] = {}
        self.param_groups: list[dict] = []
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for g in groups:
            self.add_param_group(g)

    def _check_group(self, group: dict) -> None:
        """Raise if a hyper-parameter of `group` is out of range; subclasses add theirs."""
        check_implementation_flags(type(self).__name__, group)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group: its own options over the defaults, checked; torch's rules for params
        (an ordered collection, each parameter in one group only, all named or none)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Parameter):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of parameters in sets changes between runs; "
                            "use a list instead")
        params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        if names:
            if len(names) != len(params):
                raise ValueError("all optimizer params should be with/without names. "
                                 "Some param names are missing")
            group["param_names"] = names
        group["params"] = params
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"optimizer can only optimize scratch Parameters, "
                                f"but one of the params is {type(p).__name__}")
        unknown = set(group) - set(self.defaults) - {"params", "param_names"}
        if unknown:
            raise ValueError(f"unknown hyper-parameters {sorted(unknown)} for "
                             f"{type(self).__name__}; expected some of {sorted(self.defaults)}")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_group(group)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        if self.param_groups and ("param_names" in group) != (
                "param_names" in self.param_groups[0]):
            raise ValueError("all optimizer param groups should be with/without names")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every gradient (set_to_none=True, torch's default: the parameter then has none
        and is skipped until backward gives it one), or fill the existing ones with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.zero_grad()
                elif p.has_grad:
                    p.grad[...] = 0

    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.has_grad:
                    self._update(p, group, self.state.setdefault(p, {}))

    def _update(self, p: Parameter, group: dict, state: dict) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict:
        """{"state": {index: {name: value}}, "param_groups": [{..., "params": [index, ...]}]}.

        Parameters are numbered across the groups in order, as torch; only those with
        state appear under "state". Arrays are copies.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            groups.append({**{k: v for k, v in group.items() if k != "params"},
                           "params": [index[id(p)] for p in group["params"]]})
        state = {index[id(p)]: {k: (np.copy(v) if isinstance(v, np.ndarray) else v)
                                for k, v in s.items()}
                 for p, s in self.state.items() if id(p) in index and s}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a state_dict from `state_dict()` or from a torch optimizer of the same kind.

        Groups must match in number and sizes; saved indices map onto this optimizer's
        parameters in order. Every saved hyper-parameter replaces the group's own (as torch);
        one the saved group lacks takes the default. Arrays and tensors become arrays of
        the parameter's dtype and shape, "step" an int.
        """
        saved = state_dict["param_groups"]
        sizes = [len(g["params"]) for g in self.param_groups]
        saved_sizes = [len(g["params"]) for g in saved]
        if sizes != saved_sizes:
            raise ValueError("optimizer state_dict does not match: expected groups of sizes "
                             f"{sizes}, got {saved_sizes}")
        by_index = {int(i): p for g, mine in zip(saved, self.param_groups)
                    for i, p in zip(g["params"], mine["params"])}
        state: dict[Parameter, dict] = {}
        for idx, s in state_dict["state"].items():
            if int(idx) not in by_index:
                raise ValueError(f"optimizer state_dict has state for parameter {idx}, "
                                 f"which no group lists (indices {sorted(by_index)})")
            p = by_index[int(idx)]
            state[p] = {k: self._load_value(p, k, v) for k, v in s.items()}
        groups = []
        for mine, g in zip(self.param_groups, saved):
            group = {k: (tuple(v) if isinstance(v, list) and k == "betas" else v)
                     for k, v in g.items() if k != "params"}
            group["params"] = mine["params"]
            if "param_names" in mine and "param_names" not in group:
                group["param_names"] = mine["param_names"]
            for key, value in self.defaults.items():  # a state saved before the key existed
                group.setdefault(key, value)
            self._check_group(group)
            groups.append(group)
        self.state, self.param_groups = state, groups

    @staticmethod
    def _load_value(p: Parameter, key: str, value):
        arr = np.asarray(value)  # a torch CPU tensor too, through its __array__
        if key == "step":
            return int(arr)
        if arr.shape != p.shape:
            raise ValueError(f"optimizer state {key!r} of shape {arr.shape} does not match its "
                             f"parameter's shape {p.shape}")
        return np.array(arr, dtype=p.dtype)

    def __repr__(self) -> str:
        """torch's text: the class, then each group's sorted options, a blank line between."""
        lines = [type(self).__name__ + " ("]
        for i, g in enumerate(self.param_groups):
            lines += [""] * (i > 0) + [f"Parameter Group {i}"]
            lines += [f"    {k}: {v}" for k, v in sorted(g.items())
                      if k not in ("params", "param_names")]
        return "\n".join(lines) + "\n)"
