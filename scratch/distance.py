"""CosineSimilarity, as `torch.nn.CosineSimilarity`: arguments, checks and cache; the math
is in scratch.functional.distance."""

from __future__ import annotations

import numpy as np

from scratch import functional as F
from scratch._checks import check_grad, check_input, require_forward
from scratch.module import Module


class CosineSimilarity(Module):
    """The cosine of the angle between x1 and x2 along `dim`:
        y = sum_d (x1 / max(||x1||, eps)) (x2 / max(||x2||, eps)).

    dL/dx1 = g (x2 / (n1 n2) - y x1 / (n1 ||x1||)), n_i = max(||x_i||, eps), and the same
    with 1 and 2 swapped (the norm's derivative through the unclamped norm, as torch).

    Args:
        dim: the dim the vectors lie along (default 1).
        eps: the smallest norm divided by (default 1e-8).

    Shape: x1 (*1, D, *2) and x2 broadcastable to a common shape of one float dtype; the
    output has that shape less `dim`. `backward(grad_output)` returns (dL/dx1, dL/dx2),
    each of its input's shape.
    """

    def __init__(self, dim: int = 1, eps: float = 1e-8):
        super().__init__()
        self.dim = int(dim)
        self.eps = float(eps)
        self._cache = None

    def forward(self, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
        check_input(x1, "CosineSimilarity")
        check_input(x2, "CosineSimilarity", dtype=x1.dtype)
        try:
            shape = np.broadcast_shapes(x1.shape, x2.shape)
        except ValueError:
            raise ValueError(f"CosineSimilarity: x1 of shape {x1.shape} and x2 of shape "
                             f"{x2.shape} do not broadcast together") from None
        nd = len(shape)
        if nd == 0:
            raise ValueError("CosineSimilarity expects inputs of at least 1 dim (the vectors'), "
                             f"got shapes {x1.shape} and {x2.shape}")
        if not -nd <= self.dim < nd:
            raise IndexError(f"CosineSimilarity: dimension out of range (expected to be in "
                             f"range of [{-nd}, {nd - 1}], but got {self.dim}) for inputs of "
                             f"shape {x1.shape} and {x2.shape}")
        y, self._cache = F.cosine_similarity_forward(x1, x2, self.dim % nd, self.eps)
        return y

    def backward(self, grad_output: np.ndarray, *, input_grad: bool = True
                 ) -> tuple[np.ndarray, np.ndarray] | None:
        cache = require_forward(self._cache, "CosineSimilarity")
        check_grad(grad_output, cache.y.squeeze(cache.dim).shape, "CosineSimilarity")
        if not input_grad:
            return None
        return tuple(F.cosine_similarity_backward(grad_output, cache))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, eps={self.eps}"
