"""Build the torch twin of a scratch module and copy weights between the twins.

One builder per scratch class maps its constructor arguments onto the torch
class of the same name; parameters are then copied, never re-drawn.
"""

from __future__ import annotations

from collections.abc import Callable

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


def _batchnorm(cls):
    def build(m, dtype) -> nn.Module:
        return cls(m.num_features, eps=m.eps, momentum=m.momentum, affine=m.affine,
                   track_running_stats=m.track_running_stats, dtype=dtype)
    return build


def _linear(m: scratch.Linear, dtype) -> nn.Module:
    return nn.Linear(m.in_features, m.out_features, bias=m.bias is not None, dtype=dtype)


def _conv2d(m: scratch.Conv2d, dtype) -> nn.Module:
    return nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, stride=m.stride,
                     padding=m.padding, bias=m.bias is not None, dtype=dtype)


_BUILDERS: dict[type, Callable[[scratch.Module, torch.dtype], nn.Module]] = {
    scratch.Linear: _linear,
    scratch.Conv2d: _conv2d,
    scratch.MaxPool2d: lambda m, dt: nn.MaxPool2d(m.kernel_size, m.stride, m.padding),
    scratch.AvgPool2d: lambda m, dt: nn.AvgPool2d(m.kernel_size, m.stride, m.padding),
    scratch.ReLU: lambda m, dt: nn.ReLU(),
    scratch.LeakyReLU: lambda m, dt: nn.LeakyReLU(m.negative_slope),
    scratch.Sigmoid: lambda m, dt: nn.Sigmoid(),
    scratch.Tanh: lambda m, dt: nn.Tanh(),
    scratch.GELU: lambda m, dt: nn.GELU(approximate=m.approximate),
    scratch.Softmax: lambda m, dt: nn.Softmax(dim=m.dim),
    scratch.Flatten: lambda m, dt: nn.Flatten(m.start_dim, m.end_dim),
    scratch.Dropout: shared_dropout,
    scratch.BatchNorm1d: _batchnorm(nn.BatchNorm1d),
    scratch.BatchNorm2d: _batchnorm(nn.BatchNorm2d),
    scratch.CrossEntropyLoss: lambda m, dt: nn.CrossEntropyLoss(
        reduction=m.reduction, label_smoothing=m.label_smoothing),
    scratch.MSELoss: lambda m, dt: nn.MSELoss(reduction=m.reduction),
    scratch.BCEWithLogitsLoss: lambda m, dt: nn.BCEWithLogitsLoss(
        reduction=m.reduction,
        pos_weight=None if m.pos_weight is None else torch.as_tensor(m.pos_weight, dtype=dt)),
}


def _build(m: scratch.Module, dtype: torch.dtype, native_dropout: bool) -> nn.Module:
    if isinstance(m, scratch.Sequential):
        return nn.Sequential(*(_build(child, dtype, native_dropout) for child in m))
    if native_dropout and type(m) is scratch.Dropout:
        return nn.Dropout(m.p)
    builder = _BUILDERS.get(type(m))
    if builder is None:
        known = ", ".join(sorted(c.__name__ for c in _BUILDERS))
        raise TypeError(f"no torch twin for {type(m).__name__}; known: Sequential, {known}")
    return builder(m, dtype)


def twin(model: scratch.Module, *, native_dropout: bool = False) -> nn.Module:
    """The torch module with the same layers, weights, buffers, mode and dtype as `model`.

    Dropout layers become `SharedMaskDropout`s holding a copy of the scratch
    layer's Generator, so both twins drop the same elements; with
    `native_dropout=True` they become torch's own nn.Dropout (for timing runs).
    """
    dtype = torch_dtype(model.dtype or np.float32)
    tmodel = _build(model, dtype, native_dropout)
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

