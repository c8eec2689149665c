"""Optimizer base class: parameter groups, per-parameter state, zero_grad, state_dict.

As in torch, `param_groups` is a list of dicts holding "params" and the
hyper-parameters, so schedulers can change `group["lr"]` between steps.
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


class Optimizer:
    def __init__(self, params: Iterable[Parameter] | Iterable[dict], defaults: dict):
        self.defaults = dict(defaults)
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups: list[dict] = []
        self.state: dict[int, dict[str, np.ndarray | int]] = {}  # id(param) -> state
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group: dict) -> None:
        group = dict(group)
        group["params"] = list(group["params"])
        for p in group["params"]:
            if not isinstance(p, Parameter):
                raise TypeError(f"optimizer expects scratch Parameters, got {type(p).__name__}")
        unknown = set(group) - set(self.defaults) - {"params"}
        if unknown:
            raise ValueError(f"unknown hyper-parameters {sorted(unknown)} for "
                             f"{type(self).__name__}; expected some of {sorted(self.defaults)}")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self.param_groups.append(group)

    def zero_grad(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                p.zero_grad()

    def step(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                self._update(p, group, self.state.setdefault(id(p), {}))

    def _update(self, p: Parameter, group: dict, state: dict) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict:
        """{"state": {index: {name: value}}, "param_groups": [...]}, params by index as torch."""
        index = {}
        groups = []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        state = {index[pid]: {k: (np.copy(v) if isinstance(v, np.ndarray) else v)
                              for k, v in s.items()}
                 for pid, s in self.state.items() if pid in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
            len(g["params"]) != len(mine["params"]) for g, mine in zip(groups, self.param_groups)
        ):
            raise ValueError(
                "optimizer state_dict does not match: expected groups of sizes "
                f"{[len(g['params']) for g in self.param_groups]}, "
                f"got {[len(g['params']) for g in groups]}"
            )
        params = [p for g in self.param_groups for p in g["params"]]
        self.state = {}
        for idx, s in state_dict["state"].items():
            p = params[int(idx)]
            self.state[id(p)] = {
                # A step count read back from a file may be a 0-d array: keep it an int,
                # or every later scalar computed from it turns into a NumPy float64.
                k: (np.array(v, dtype=p.dtype) if np.ndim(v) else int(v) if k == "step" else v)
                for k, v in s.items()
            }
        for mine, g in zip(self.param_groups, groups):
            mine.update({k: v for k, v in g.items() if k != "params"})

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(g.items()) if k != "params"]
        return "\n".join(lines) + "\n)"
