"""Dropout: zero each element with probability p in training, scale the rest by 1/(1-p)."""

from __future__ import annotations

import numpy as np

from scratch._checks import check_grad, check_input, require_forward
from scratch.module import Module


class Dropout(Module):
    """Inverted dropout, as `torch.nn.Dropout`; the identity in eval mode.

    The mask is drawn from the Generator given at construction, as
    `rng.random(x.shape, dtype=float32) >= p`, so a twin holding a copy of the
    same Generator state draws the same mask (see reference.twin).

    Args:
        p: probability of zeroing an element, in [0, 1].
        rng: Generator the masks are drawn from (keyword only, required).

    Shape: any; the output has the input's shape.
    """

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"Dropout expects rng to be a numpy.random.Generator, "
                            f"got {type(rng).__name__}")
        self.p = float(p)
        self.rng = rng
        self._scale = None  # the mask times 1/(1-p), or 1 for the identity

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_input(x, "Dropout")
        if not self.training or self.p == 0.0:
            self._scale = x.dtype.type(1)
            return x.copy()
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.p
        if self.p == 1.0:
            self._scale = np.zeros_like(x)
        else:
            self._scale = keep * x.dtype.type(1 / (1 - self.p))  # (x.shape) mask / (1 - p)
        return x * self._scale

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        scale = require_forward(self._scale, "Dropout")
        if np.ndim(scale):
            check_grad(grad_out, scale.shape, "Dropout")
        if not input_grad:
            return None
        return grad_out * scale

    def extra_repr(self) -> str:
        return f"p={self.p}"
