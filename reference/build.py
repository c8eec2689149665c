"""Build the torch twin of a scratch module and copy weights between the twins.

Each scratch module's torch twin is torch's class of the same name, called with
the arguments the scratch module was constructed with (`Module.init_args`), so
torch's own defaults apply; parameters are then copied, never re-drawn.
"""

from __future__ import annotations

import importlib
import inspect
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

import scratch
from reference.layers import shared_dropout

_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def torch_dtype(dtype) -> torch.dtype:
    """torch dtype of a numpy float dtype (float32 or float64)."""
    try:
        return _DTYPES[np.dtype(dtype)]
    except KeyError:
        raise TypeError(f"expected float32 or float64, got {dtype}") from None


def to_torch(a: np.ndarray) -> torch.Tensor:
    """A torch tensor with the same values and dtype (a copy, never a view)."""
    return torch.from_numpy(np.array(a, copy=True))


def to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def _torch_value(value, dtype: torch.dtype, dropout: str):
    """A scratch constructor argument as torch's constructor takes it: arrays become
    tensors of the model's dtype, modules their (weightless) twins."""
    if isinstance(value, scratch.Module):
        return _build(value, dtype, dropout)
    if isinstance(value, np.ndarray):
        return torch.as_tensor(value, dtype=dtype)
    if isinstance(value, (list, tuple)) and any(
            isinstance(v, (scratch.Module, np.ndarray)) for v in value):
        return type(value)(_torch_value(v, dtype, dropout) for v in value)
    return value


def torch_class(m: scratch.Module) -> type:
    """The torch class twinning `m`: `type(m).torch_twin` ("package.module:Class") if the
    class names one (a model of one's own), else torch.nn's class of the same name."""
    spec = getattr(type(m), "torch_twin", None)
    if spec is not None:
        module_name, _, attr = spec.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as err:
            raise TypeError(f"{type(m).__name__}.torch_twin = {spec!r} names no class "
                            f"('package.module:Class' expected): {err}") from None
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise TypeError(f"{type(m).__name__}.torch_twin = {spec!r} is not a torch.nn.Module")
        return cls
    name = type(m).__name__
    cls = getattr(nn, name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)) or name == "Module":
        raise TypeError(f"no torch twin for {name}: torch.nn has no module of that name; a "
                        f"model of one's own names its twin in a class attribute "
                        f"torch_twin = 'package.module:Class'")
    return cls


def _build(m: scratch.Module, dtype: torch.dtype, dropout: str) -> nn.Module:
    """torch's class of the same name, called with the arguments the scratch module got.

    torch fills in its own defaults, so a scratch default that differs from torch's
    makes the twins differ instead of being copied across. Sequential is built from
    its current children (under their names); with dropout="shared", Dropout and
    Dropout2d become `SharedMaskDropout`.
    """
    if isinstance(m, scratch.Sequential):
        return nn.Sequential(OrderedDict((name, _build(child, dtype, dropout))
                                         for name, child in m.named_children()))
    if isinstance(m, scratch.ModuleList):
        return nn.ModuleList([_build(child, dtype, dropout) for child in m])
    if type(m) in (scratch.Dropout, scratch.Dropout2d) and dropout == "shared":
        return shared_dropout(m, dtype)
    cls = torch_class(m)
    args, kwargs = m.init_args
    args = [_torch_value(a, dtype, dropout) for a in args]
    kwargs = {k: _torch_value(v, dtype, dropout) for k, v in kwargs.items()}
    if "dtype" in inspect.signature(cls).parameters:
        kwargs["dtype"] = dtype
    return cls(*args, **kwargs)


def twin(model: scratch.Module, *, dropout: str = "native") -> nn.Module:
    """The torch module with the same layers, weights, buffers, mode and dtype as `model`.

    Every Dropout and Dropout2d becomes torch's own (dropout="native", the default),
    so the twin is torch and nothing else. dropout="shared" is a test device for
    lockstep runs: each becomes a `SharedMaskDropout` holding a copy of the scratch
    layer's Generator, so both twins drop the same elements (channels). scratch's
    dropout layers are held to torch's own apart, in distribution and scaling
    (tests/test_regularization.py).
    """
    if dropout not in ("native", "shared"):
        raise ValueError(f"twin(dropout=...) must be 'native' or 'shared', got {dropout!r}")
    dtype = torch_dtype(model.dtype or np.float32)
    # .to(dtype) too: torch classes taking **kwargs (RNN, GRU) hide their dtype argument
    tmodel = _build(model, dtype, dropout).to(dtype)
    copy_weights(model, tmodel)
    tmodel.train(model.training)
    return tmodel


def copy_weights(src, dst) -> None:
    """Copy every parameter and buffer from `src` to `dst`, scratch <-> torch either way.

    Keys and shapes must match exactly; a mismatch raises ValueError naming them.
    """
    if isinstance(src, scratch.Module) and isinstance(dst, nn.Module):
        state = src.state_dict()
        mine = dst.state_dict()
        scratch.check_state_keys({k: tuple(v.shape) for k, v in mine.items()},
                                 {k: np.shape(v) for k, v in state.items()},
                                 f"copy_weights into torch {type(dst).__name__}")
        with torch.no_grad():
            for k, v in state.items():
                mine[k].copy_(torch.from_numpy(np.asarray(v)))
    elif isinstance(src, nn.Module) and isinstance(dst, scratch.Module):
        dst.load_state_dict({k: to_numpy(v) for k, v in src.state_dict().items()})
    else:
        raise TypeError(f"copy_weights copies scratch -> torch or torch -> scratch, "
                        f"got {type(src).__name__} -> {type(dst).__name__}")

