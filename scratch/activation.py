"""Elementwise activations and Softmax, each backward right beside its forward.

Every activation keeps the dtype of its input and accepts any shape.
"""

from __future__ import annotations

import math

import numpy as np

from scratch._checks import check_grad, check_input, require_forward
from scratch.functional.activation import erf, sigmoid
from scratch.module import Module


class _Elementwise(Module):
    """Shared plumbing: validate input, cache what backward needs, check grad shape."""

    def __init__(self):
        super().__init__()
        self._cache = None
        self._shape = None

    def _fwd(self, x: np.ndarray) -> tuple[np.ndarray, object]:
        """Return (output, cache for _bwd)."""
        raise NotImplementedError

    def _bwd(self, grad_out: np.ndarray, cache) -> np.ndarray:
        raise NotImplementedError

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_input(x, type(self).__name__)
        y, self._cache = self._fwd(x)
        self._shape = x.shape
        return y

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        cache = require_forward(self._cache, type(self).__name__)
        check_grad(grad_out, self._shape, type(self).__name__)
        if not input_grad:
            return None
        return self._bwd(grad_out, cache)


class ReLU(_Elementwise):
    """max(0, x). The gradient at exactly 0 is 0, as in torch."""

    def _fwd(self, x):
        mask = x > 0
        return x * mask, mask

    def _bwd(self, grad_out, mask):
        return grad_out * mask


class LeakyReLU(_Elementwise):
    """x if x > 0 else negative_slope * x (the gradient at 0 is negative_slope, as in torch)."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def _fwd(self, x):
        mask = x > 0
        return np.where(mask, x, x * x.dtype.type(self.negative_slope)), mask

    def _bwd(self, grad_out, mask):
        return np.where(mask, grad_out, grad_out * grad_out.dtype.type(self.negative_slope))

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Sigmoid(_Elementwise):
    """1 / (1 + exp(-x)); dy/dx = y (1 - y)."""

    def _fwd(self, x):
        y = sigmoid(x)
        return y, y

    def _bwd(self, grad_out, y):
        return grad_out * y * (1 - y)


class Tanh(_Elementwise):
    """tanh(x); dy/dx = 1 - y^2."""

    def _fwd(self, x):
        y = np.tanh(x)
        return y, y

    def _bwd(self, grad_out, y):
        return grad_out * (1 - y * y)


class GELU(_Elementwise):
    """x * Phi(x), Phi the standard normal CDF, as `torch.nn.GELU`.

    approximate="none" uses erf (scratch.functional.erf, within 1.1e-15 of
    math.erf, computed in float64); "tanh" uses
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), fully vectorised.
    """

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def _fwd(self, x):
        if self.approximate == "tanh":
            k = math.sqrt(2 / math.pi)
            t = np.tanh(k * (x + 0.044715 * x**3))
            return (0.5 * x * (1 + t)).astype(x.dtype), (x, t)
        cdf = (0.5 * (1 + erf(x / math.sqrt(2)))).astype(x.dtype)
        return x * cdf, (x, cdf)

    def _bwd(self, grad_out, cache):
        x, a = cache
        if self.approximate == "tanh":
            k = math.sqrt(2 / math.pi)
            inner_grad = k * (1 + 3 * 0.044715 * x * x)
            d = 0.5 * (1 + a) + 0.5 * x * (1 - a * a) * inner_grad
        else:
            pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
            d = a + x * pdf
        return (grad_out * d).astype(grad_out.dtype)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Softmax(Module):
    """exp(x) / sum(exp(x)) along `dim`, computed as exp(x - max) so it never overflows.

    Shape: any; the output has the input's shape. For classification use
    CrossEntropyLoss on logits instead: it fuses log-softmax for stability.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.dim = int(dim)
        self._y = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_input(x, "Softmax", min_ndim=1)
        if not -x.ndim <= self.dim < x.ndim:
            raise ValueError(f"Softmax(dim={self.dim}) needs dim in [{-x.ndim}, {x.ndim - 1}] "
                             f"for input of shape {x.shape}")
        e = np.exp(x - x.max(axis=self.dim, keepdims=True))
        self._y = e / e.sum(axis=self.dim, keepdims=True)
        return self._y

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        y = require_forward(self._y, "Softmax")
        check_grad(grad_out, y.shape, "Softmax")
        if not input_grad:
            return None
        # Jacobian-vector product: y * (g - <g, y>) along dim
        return y * (grad_out - (grad_out * y).sum(axis=self.dim, keepdims=True))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
