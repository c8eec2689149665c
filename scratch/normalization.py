"""LayerNorm and GroupNorm: normalise each sample over its trailing dims, or over groups of
its channels, as `torch.nn.LayerNorm` and `torch.nn.GroupNorm`.

The math is scratch.functional.layer_norm_forward / _backward and group_norm_forward /
_backward; this file holds the arguments and parameters.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from scratch import functional as F
from scratch._checks import check_grad, check_input, require_forward
from scratch.module import Module, Parameter, check_float_dtype


class LayerNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the last dims, as torch.

    Mean and (biased) variance are taken over the trailing `normalized_shape`
    dims of each sample; the same in training and eval (no running statistics).

    Args (torch's, in its order):
        normalized_shape: int or tuple, the trailing shape normalised over.
        eps: added to the variance.
        elementwise_affine: learn weight (ones) and bias (zeros) of normalized_shape.
        bias: with elementwise_affine, whether to learn the bias.
        dtype: float32 (default) or float64 (keyword only).

    Shape: input (*, *normalized_shape) -> output of the same shape.
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, *, dtype=np.float32):
        super().__init__()
        dt = check_float_dtype(dtype)
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
        try:
            shape = tuple(int(s) for s in shape)
        except TypeError:
            raise TypeError(f"LayerNorm normalized_shape must be an int or a tuple of ints, "
                            f"got {normalized_shape!r}") from None
        self.normalized_shape = shape
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        if elementwise_affine:
            self.weight = Parameter(np.ones(shape, dt))
            self.bias = Parameter(np.zeros(shape, dt)) if bias else None
        else:
            self.weight = self.bias = None
        self._dtype = dt
        self._cache = None

    def reset_parameters(self, *, rng: np.random.Generator | None = None) -> None:
        if self.weight is not None:
            self.weight.data.fill(1)
        if self.bias is not None:
            self.bias.data.fill(0)

    def _name(self) -> str:
        return f"LayerNorm({self.normalized_shape})"

    def forward(self, input: np.ndarray) -> np.ndarray:
        k = len(self.normalized_shape)
        dt = self.weight.dtype if self.weight is not None else None
        check_input(input, self._name(), dtype=dt, min_ndim=k,
                    shape_doc="(*, " + ", ".join(map(str, self.normalized_shape)) + ")")
        if input.shape[input.ndim - k:] != self.normalized_shape:
            raise ValueError(f"{self._name()} expects input of shape (*, "
                             f"{', '.join(map(str, self.normalized_shape))}), got {input.shape}")
        y, self._cache = F.layer_norm_forward(
            input, k, None if self.weight is None else self.weight.data,
            None if self.bias is None else self.bias.data, self.eps)
        self._shape = input.shape
        return y

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        cache = require_forward(self._cache, self._name())
        check_grad(grad_out, self._shape, self._name())
        grads = F.layer_norm_backward(grad_out, cache, bias_grad=self.bias is not None,
                                      input_grad=input_grad)
        if self.weight is not None:
            self.weight.accumulate_grad(grads.weight)
        if self.bias is not None:
            self.bias.accumulate_grad(grads.bias)
        return grads.input

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class _GroupNormCache(NamedTuple):
    kernel: object  # group_norm_forward's cache
    shape: tuple[int, ...]  # the input's shape, (N, C, *)


class GroupNorm(Module):
    """Normalise each sample over groups of its channels, as `torch.nn.GroupNorm`.

    The C channels of a sample are split into num_groups consecutive groups; with mean
    and (biased) var taken over a group's C / num_groups * (H * W ...) values, and
    upstream gradient g = dL/dy,

        xhat = (x - mean) / sqrt(var + eps),   y[:, c] = xhat[:, c] * weight[c] + bias[c]
        dweight[c] = sum(g[:, c] * xhat[:, c]),   dbias[c] = sum(g[:, c])
        dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / sqrt(var + eps),
             dxhat = g * weight, the means over each group

    the same in training and eval (no running statistics). num_groups = 1 is LayerNorm
    over (C, *) with a per-channel affine; num_groups = C normalises each channel alone.
    Kernels: scratch.functional.group_norm_forward / _backward.

    Args (torch's, in its order):
        num_groups: G, which must divide num_channels.
        num_channels: C.
        eps: added to the variance (default 1e-5).
        affine: learn a per-channel weight (ones) and bias (zeros).
        bias: keyword only; with affine, False learns the weight only (torch 2.13's argument).
        dtype: float32 (default) or float64 (keyword only).

    Shape: (N, C, *) -> the same shape.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, *, bias: bool = True, dtype=np.float32):
        super().__init__()
        dt = check_float_dtype(dtype)
        for name, v in (("num_groups", num_groups), ("num_channels", num_channels)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"GroupNorm: {name} must be a positive int, got {v!r}")
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.num_groups, self.num_channels = int(num_groups), int(num_channels)
        self.eps = float(eps)
        self.affine = bool(affine)
        if self.affine:
            self.weight = Parameter(np.ones(self.num_channels, dt))
            self.bias = Parameter(np.zeros(self.num_channels, dt)) if bias else None
        else:
            self.weight = self.bias = None
        self._cache = None

    def reset_parameters(self, *, rng: np.random.Generator | None = None) -> None:
        if self.affine:
            self.weight.data.fill(1)
        if self.bias is not None:
            self.bias.data.fill(0)

    def _name(self) -> str:
        return f"GroupNorm({self.num_groups}, {self.num_channels})"

    def forward(self, input: np.ndarray) -> np.ndarray:
        # As torch: C must be num_channels where there are per-channel weights; without
        # them any C that the groups divide.
        check_input(input, self._name(), dtype=self.weight.dtype if self.affine else None,
                    min_ndim=2,
                    size=(1, self.num_channels)
                    if self.affine and getattr(input, "ndim", 0) >= 2 else None,
                    shape_doc=f"(N, {self.num_channels}, *)")
        if input.shape[1] % self.num_groups:
            raise ValueError(f"{self._name()}: expected input channels divisible by "
                             f"num_groups={self.num_groups}, got input of shape "
                             f"{tuple(input.shape)}")
        x3 = input.reshape(*input.shape[:2], math.prod(input.shape[2:]))  # (N, C, L)
        y, cache = F.group_norm_forward(x3, self.num_groups,
                                        self.weight.data if self.affine else None,
                                        None if self.bias is None else self.bias.data, self.eps)
        self._cache = _GroupNormCache(cache, input.shape)
        return y.reshape(input.shape)

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        cache, shape = require_forward(self._cache, self._name())
        check_grad(grad_out, shape, self._name())
        grads = F.group_norm_backward(
            grad_out.reshape(*shape[:2], math.prod(shape[2:])), cache,
            self.weight.data if self.affine else None, bias_grad=self.bias is not None,
            input_grad=input_grad)
        if self.affine:
            self.weight.accumulate_grad(grads.weight)
        if self.bias is not None:
            self.bias.accumulate_grad(grads.bias)
        return None if grads.input is None else grads.input.reshape(shape)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")
