"""Linear: y = x W^T + b, with torch's parameter shapes and default initialisation; the math
is scratch.functional.linear / linear_backward."""

from __future__ import annotations

import math

import numpy as np

from scratch import functional as F
from scratch import init
from scratch._checks import check_grad, check_input, require_forward
from scratch.module import Module, Parameter, check_float_dtype


class Linear(Module):
    """Applies an affine map y = x W^T + b, as `torch.nn.Linear`.

    With upstream gradient g = dL/dy and the leading dimensions of x and g taken
    as M rows:

        y = x W^T + b,   dW = g^T x  (out, in),   db = sum_rows g  (out,),   dx = g W

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: if False, the layer learns no additive bias.
        rng: Generator for the initial weights (keyword only, required).
        dtype: float32 (default) or float64.

    Shape:
        input (*, in_features) -> output (*, out_features); `*` is any number
        of leading dimensions, usually the batch (N,).

    Attributes:
        weight: (out_features, in_features), init U(-1/sqrt(in), 1/sqrt(in)).
        bias: (out_features,), same distribution.

    Example:
        >>> m = Linear(20, 30, rng=np.random.default_rng(0))
        >>> m(np.zeros((128, 20), np.float32)).shape
        (128, 30)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 rng: np.random.Generator, dtype=np.float32):
        super().__init__()
        dt = check_float_dtype(dtype)
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dt))
        self.bias = Parameter(np.empty(self.out_features, dt)) if bias else None
        self._x = None
        self.reset_parameters(rng=rng)

    def reset_parameters(self, *, rng: np.random.Generator) -> None:
        # torch: kaiming_uniform_(a=sqrt(5)) == U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), rng=rng)
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound, rng=rng)

    def _name(self) -> str:
        return f"Linear({self.in_features}, {self.out_features})"

    def forward(self, input: np.ndarray) -> np.ndarray:
        check_input(input, self._name(), dtype=self.weight.dtype, min_ndim=1,
                    size=(-1, self.in_features), shape_doc=f"(N, {self.in_features})")
        self._x = input
        return F.linear(input, self.weight.data, None if self.bias is None else self.bias.data)

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        x = require_forward(self._x, self._name())
        check_grad(grad_out, x.shape[:-1] + (self.out_features,), self._name())
        grads = F.linear_backward(grad_out, x, self.weight.data, input_grad=input_grad,
                                  bias_grad=self.bias is not None)
        self.weight.accumulate_grad(grads.weight)  # (out, in)
        if self.bias is not None:
            self.bias.accumulate_grad(grads.bias)  # (out,)
        return grads.input  # (*, in) or None

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
