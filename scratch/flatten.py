"""Flatten and Unflatten: merge a range of dimensions into one, or split one into several."""

from __future__ import annotations

import math

import numpy as np

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

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"Flatten expects a numpy.ndarray, got {type(x).__name__}")
        nd = max(x.ndim, 1)
        for name, d in (("start_dim", self.start_dim), ("end_dim", self.end_dim)):
            if not -nd <= d < nd:
                raise IndexError(f"Flatten: {name}={d} is out of range [{-nd}, {nd - 1}] for "
                                 f"input of shape {x.shape}")
        s, e = self.start_dim % nd, self.end_dim % nd
        if s > e:
            raise ValueError(f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}): "
                             f"start_dim comes after end_dim for input of shape {x.shape}")
        self._shape = x.shape
        if x.ndim == 0:
            return x.reshape(1)
        return x.reshape(x.shape[:s] + (math.prod(x.shape[s:e + 1]),) + x.shape[e + 1:])

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        shape = require_forward(self._shape, "Flatten")
        if not input_grad:
            return None
        return grad_out.reshape(shape)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


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

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"Unflatten expects a numpy.ndarray, got {type(x).__name__}")
        if not -x.ndim <= self.dim < x.ndim:
            raise IndexError(f"Unflatten: dim={self.dim} is out of range [{-x.ndim}, "
                             f"{x.ndim - 1}] for input of shape {x.shape}")
        d = self.dim % x.ndim
        sizes = self.unflattened_size
        known = math.prod(s for s in sizes if s != -1)
        ok = (sizes.count(-1) == 0 and known == x.shape[d]) or (
            sizes.count(-1) == 1 and known > 0 and x.shape[d] % known == 0)
        if not ok:
            raise ValueError(f"Unflatten: unflattened_size {sizes} does not split size "
                             f"{x.shape[d]} of dim {self.dim} of input of shape {x.shape}")
        y = x.reshape(x.shape[:d] + sizes + x.shape[d + 1:])
        self._shape = (x.shape, y.shape)
        return y

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        in_shape, out_shape = require_forward(self._shape, "Unflatten")
        check_grad(grad_out, out_shape, "Unflatten")
        return grad_out.reshape(in_shape) if input_grad else None

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
