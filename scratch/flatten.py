"""Flatten and Unflatten: merge a range of dimensions into one, or split one into several.

The reshape rules (and their dim checks) are scratch.functional.flatten / unflatten; backward
reshapes the gradient back to the input's shape.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scratch import functional as F
from scratch._checks import check_grad, require_forward
from scratch.module import Module


class Flatten(Module):
    """Flattens dims start_dim..end_dim into one, as `torch.nn.Flatten` (default 1..-1).

    Shape: (*, S_start, ..., S_end, *) -> (*, S_start * ... * S_end, *); with the
    defaults (N, C, H, W) -> (N, C*H*W). A 0-d input becomes (1,), as torch.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)
        self._shape = None

    def forward(self, input: np.ndarray) -> np.ndarray:
        if not isinstance(input, np.ndarray):
            raise TypeError(f"Flatten expects a numpy.ndarray, got {type(input).__name__}")
        y = F.flatten(input, self.start_dim, self.end_dim)
        self._shape = input.shape
        return y

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        shape = require_forward(self._shape, "Flatten")
        if not input_grad:
            return None
        return grad_out.reshape(shape)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class _UnflattenShapes(NamedTuple):
    input: tuple[int, ...]
    output: tuple[int, ...]


class Unflatten(Module):
    """Splits dim `dim` into `unflattened_size`, as `torch.nn.Unflatten`; backward merges it.

    Args:
        dim: the dim to split (negative counts from the end).
        unflattened_size: a tuple or list of ints whose product is the size of `dim`;
            one entry may be -1 (inferred), as torch.

    Shape: (*, S_dim, *) -> (*, U_1, ..., U_k, *).
    """

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        if isinstance(dim, str):
            raise NotImplementedError("Unflatten: a named dim (str) needs named tensors, which "
                                      "numpy arrays do not have; pass the dim's index")
        if not isinstance(unflattened_size, (tuple, list)) or not all(
                isinstance(s, (int, np.integer)) for s in unflattened_size):
            raise TypeError(f"Unflatten: unflattened_size must be a tuple or list of ints, got "
                            f"{unflattened_size!r}")
        self.dim = int(dim)
        self.unflattened_size = tuple(int(s) for s in unflattened_size)
        self._shape = None

    def forward(self, input: np.ndarray) -> np.ndarray:
        if not isinstance(input, np.ndarray):
            raise TypeError(f"Unflatten expects a numpy.ndarray, got {type(input).__name__}")
        y = F.unflatten(input, self.dim, self.unflattened_size)
        self._shape = _UnflattenShapes(input.shape, y.shape)
        return y

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        in_shape, out_shape = require_forward(self._shape, "Unflatten")
        check_grad(grad_out, out_shape, "Unflatten")
        return grad_out.reshape(in_shape) if input_grad else None

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
