"""Dropout and Dropout2d: zero elements (or whole channels) with probability p in training,
scale the rest by 1/(1-p). The mask draw and the scaling are scratch.functional.dropout_scale
/ dropout / dropout_backward; the modules hold p, the Generator and the scale for backward."""

from __future__ import annotations

import numpy as np

from scratch import functional as F
from scratch._checks import check_grad, check_input, require_forward
from scratch.module import Module


class Dropout(Module):
    """Inverted dropout, as `torch.nn.Dropout`; the identity in eval mode.

        y = x * mask / (1 - p),   dx = g * mask / (1 - p)

    The mask is drawn from the Generator given at construction, as
    `rng.random(shape, dtype=float32) >= p` (shape: the input's; Dropout2d: (N, C)),
    so a twin holding a copy of the same Generator state draws the same mask (see
    reference.twin).

    Args:
        p: probability of zeroing an element, in [0, 1].
        inplace: write the result into the input array and return it (default False).
        rng: Generator the masks are drawn from (keyword only, required).

    Shape: any; the output has the input's shape.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, *, rng: np.random.Generator):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"{type(self).__name__} expects rng to be a numpy.random.Generator, "
                            f"got {type(rng).__name__}")
        self.p = float(p)
        self.inplace = bool(inplace)
        self.rng = rng
        self._scale = None  # the mask times 1/(1-p), or 1 for the identity
        self._shape = None

    def _check(self, x: np.ndarray) -> None:
        check_input(x, type(self).__name__)

    def _mask_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape

    def forward(self, input: np.ndarray) -> np.ndarray:
        self._check(input)
        self._shape = input.shape
        if not self.training or self.p == 0.0:
            self._scale = input.dtype.type(1)
            return input if self.inplace else input.copy()
        scale = F.dropout_scale(self.rng, self._mask_shape(input.shape), self.p, input.dtype)
        y, self._scale = F.dropout(input, scale, inplace=self.inplace)
        return y

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        scale = require_forward(self._scale, type(self).__name__)
        check_grad(grad_out, self._shape, type(self).__name__)
        if not input_grad:
            return None
        return F.dropout_backward(grad_out, scale)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Dropout):
    """Channel dropout, as `torch.nn.Dropout2d`: each (n, c) feature map is zeroed whole with
    probability p in training, the rest scaled by 1/(1-p); the identity in eval mode.

        y[n, c] = x[n, c] * mask[n, c] / (1 - p),   dx[n, c] = g[n, c] * mask[n, c] / (1 - p)

    with mask (N, C) drawn as `rng.random((N, C), dtype=float32) >= p`.

    Args: as Dropout.

    Shape: (N, C, H, W) -> same. A 3-D input is refused: torch 2.13 reads it as
    (N, C, L) with a deprecation warning and announces it will read it as unbatched
    (C, H, W) instead, so either reading would be wrong one day; add the batch dim
    (x[None]) for an unbatched image.
    """

    def _check(self, x: np.ndarray) -> None:
        check_input(x, "Dropout2d")
        if x.ndim != 4:
            extra = (" (torch 2.13 warns that it reads a 3-D input as (N, C, L) and will read "
                     "it as (C, H, W): add the batch dim with x[None] for one image)"
                     if x.ndim == 3 else "")
            raise ValueError(f"Dropout2d expects input of shape (N, C, H, W) (4-D), got shape "
                             f"{x.shape} ({x.ndim}-D){extra}")

    def _mask_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape[:2]
