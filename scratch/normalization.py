"""LayerNorm: normalise each sample over its trailing dims, as `torch.nn.LayerNorm`.

The math is scratch.functional.layer_norm_forward / _backward; this file holds the
arguments and parameters.
"""

from __future__ import annotations

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
