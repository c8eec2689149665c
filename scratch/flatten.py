"""Flatten: merge a range of dimensions into one, as `torch.nn.Flatten`."""

from __future__ import annotations

import numpy as np

from scratch._checks import require_forward
from scratch.module import Module


class Flatten(Module):
    """Flattens dims start_dim..end_dim into one, as `torch.nn.Flatten` (default 1..-1).

    Shape: (N, C, H, W) -> (N, C*H*W) with the defaults.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)
        self._shape = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"Flatten expects a numpy.ndarray, got {type(x).__name__}")
        nd = max(x.ndim, 1)
        s, e = self.start_dim % nd, self.end_dim % nd
        if s > e:
            raise ValueError(f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}) "
                             f"is empty for input of shape {x.shape}")
        self._shape = x.shape
        return x.reshape(x.shape[:s] + (-1,) + x.shape[e + 1:])

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        shape = require_forward(self._shape, "Flatten")
        if not input_grad:
            return None
        return grad_out.reshape(shape)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
