"""Elementwise activations, PReLU (learnt slopes), Identity, Softmax and LogSoftmax: arguments,
checks and caches; the math (each forward and backward) is in scratch.functional.activation.

Every activation keeps the dtype of its input and accepts any shape. Those that
take `inplace` in torch (ReLU, LeakyReLU, ELU, SiLU, Hardswish, Mish) take it here too: with
inplace=True the result is written into the input array, which is returned, as
torch's in-place ops do.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scratch import functional as F
from scratch._checks import check_grad, check_input, require_forward
from scratch.module import Module, Parameter, check_float_dtype


class _Elementwise(Module):
    """Shared plumbing: validate input, cache what backward needs, check grad shape, inplace."""

    inplace = False
    _keeps_input = False  # the cache holds x itself: an in-place write must not reach it

    def __init__(self):
        super().__init__()
        self._cache = None
        self._shape = None

    def _fwd(self, x: np.ndarray) -> tuple[np.ndarray, object]:
        """Return (output, cache for _bwd)."""
        raise NotImplementedError

    def _bwd(self, grad_out: np.ndarray, cache) -> np.ndarray:
        raise NotImplementedError

    def forward(self, input: np.ndarray) -> np.ndarray:
        check_input(input, type(self).__name__)
        if self.inplace and not input.flags.writeable:
            raise ValueError(f"{type(self).__name__}(inplace=True) needs a writeable input "
                             f"array, got a read-only one of shape {input.shape}")
        kept = input.copy() if self.inplace and self._keeps_input else input
        output, self._cache = self._fwd(kept)
        self._shape = input.shape
        if self.inplace:
            np.copyto(input, output)
            return input
        return output

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        cache = require_forward(self._cache, type(self).__name__)
        check_grad(grad_out, self._shape, type(self).__name__)
        if not input_grad:
            return None
        return self._bwd(grad_out, cache)

    def _inplace_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class _InplaceElementwise(_Elementwise):
    """An elementwise module whose only argument is torch's `inplace`."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = bool(inplace)

    def extra_repr(self) -> str:
        return self._inplace_repr()


class ReLU(_InplaceElementwise):
    """max(0, x). The gradient at exactly 0 is 0, as in torch.

    Args:
        inplace: write the result into the input array (default False).
    """

    def _fwd(self, x):
        return F.relu_forward(x)

    def _bwd(self, grad_out, mask):
        return F.relu_backward(grad_out, mask)


class LeakyReLU(_Elementwise):
    """x if x > 0 else negative_slope * x (the gradient at 0 is negative_slope, as in torch).

    Args:
        negative_slope: slope for x <= 0 (default 0.01).
        inplace: write the result into the input array (default False).
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = float(negative_slope)
        self.inplace = bool(inplace)

    def _fwd(self, x):
        return F.leaky_relu_forward(x, self.negative_slope)

    def _bwd(self, grad_out, mask):
        return F.leaky_relu_backward(grad_out, mask, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace
                                                          else "")


class ELU(_Elementwise):
    """x if x > 0 else alpha (exp(x) - 1), as `torch.nn.ELU`; dy/dx = 1 or alpha exp(x)
    (alpha at 0, as torch).

    Args:
        alpha: the negative saturation value is -alpha (default 1.0).
        inplace: write the result into the input array (default False).
    """

    _keeps_input = True

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = float(alpha)
        self.inplace = bool(inplace)

    def _fwd(self, x):
        return F.elu(x, self.alpha), x

    def _bwd(self, grad_out, x):
        return F.elu_backward(grad_out, x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class SiLU(_InplaceElementwise):
    """x * sigmoid(x) (swish), as `torch.nn.SiLU`; dy/dx = s (1 + x (1 - s)), s = sigmoid(x).

    Args:
        inplace: write the result into the input array (default False).
    """

    _keeps_input = True

    def _fwd(self, x):
        return F.silu(x), x

    def _bwd(self, grad_out, x):
        return F.silu_backward(grad_out, x)


class Softplus(_Elementwise):
    """log(1 + exp(beta x)) / beta, as `torch.nn.Softplus`; x itself where beta x > threshold.

    dy/dx = sigmoid(beta x) (1 past the threshold).

    Args:
        beta: sharpness (default 1.0).
        threshold: above beta x > threshold the function is taken as linear (default 20.0).
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta = float(beta)
        self.threshold = float(threshold)

    def _fwd(self, x):
        return F.softplus(x, self.beta, self.threshold), x

    def _bwd(self, grad_out, x):
        return F.softplus_backward(grad_out, x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta:g}, threshold={self.threshold:g}"


class Sigmoid(_Elementwise):
    """1 / (1 + exp(-x)); dy/dx = y (1 - y)."""

    def _fwd(self, x):
        y = F.sigmoid(x)
        return y, y

    def _bwd(self, grad_out, y):
        return F.sigmoid_backward(grad_out, y)


class Tanh(_Elementwise):
    """tanh(x); dy/dx = 1 - y^2."""

    def _fwd(self, x):
        y = F.tanh(x)
        return y, y

    def _bwd(self, grad_out, y):
        return F.tanh_backward(grad_out, y)


class GELU(_Elementwise):
    """x * Phi(x), Phi the standard normal CDF, as `torch.nn.GELU`.

    approximate="none" uses erf: in float64 scratch.functional.erf's kernel (within
    1.1e-15 of math.erf); in float32 a shorter one whose x Phi(x) is within 1/20 of float32
    parity's tolerance (`functional.activation._normal_cdf32`); "tanh" uses
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), fully vectorised.
    """

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def _fwd(self, x):
        return F.gelu_forward(x, self.approximate)

    def _bwd(self, grad_out, cache):
        return F.gelu_backward(grad_out, cache, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Hardswish(_InplaceElementwise):
    """x min(max(x + 3, 0), 6) / 6, as `torch.nn.Hardswish`: 0 below -3, x above 3.

    dy/dx = 0 for x <= -3, x / 3 + 1/2 for -3 < x < 3, 1 for x >= 3 (torch's values at
    the kinks: 0 at -3, 1 at 3).

    Args:
        inplace: write the result into the input array (default False).
    """

    _keeps_input = True

    def _fwd(self, x):
        return F.hardswish(x), x

    def _bwd(self, grad_out, x):
        return F.hardswish_backward(grad_out, x)


class Mish(_InplaceElementwise):
    """x tanh(softplus(x)), as `torch.nn.Mish`; dy/dx = t + x sigmoid(x) (1 - t^2),
    t = tanh(softplus(x)).

    Args:
        inplace: write the result into the input array (default False).
    """

    _keeps_input = True

    def _fwd(self, x):
        return F.mish(x), x

    def _bwd(self, grad_out, x):
        return F.mish_backward(grad_out, x)


class _PReLUCache(NamedTuple):
    input: np.ndarray
    mask: np.ndarray  # x > 0


class PReLU(Module):
    """x if x > 0 else a_c x, with learnt slopes a, as `torch.nn.PReLU`.

    With num_parameters = C > 1 slope a_c applies to channel c, dim 1 of an input of
    two dims or more; with one it applies everywhere. dx = g where x > 0, else a_c g
    (a_c at 0, as torch); da_c = sum of g x over channel c where x <= 0.

    Args:
        num_parameters: 1 (default) or the number of channels of the input.
        init: the slopes' initial value (default 0.25).
        dtype: float32 (default) or float64.

    Shape: any input, with C channels at dim 1 when num_parameters = C > 1; the output
    has the input's shape. Parameter: `weight` (num_parameters,).
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, *, dtype=np.float32):
        super().__init__()
        self.num_parameters = int(num_parameters)
        if self.num_parameters < 1:
            raise ValueError(f"PReLU: num_parameters must be at least 1, got {num_parameters}")
        self.init = float(init)
        self.weight = Parameter(np.full(self.num_parameters, self.init, check_float_dtype(dtype)))
        self._cache = None

    def forward(self, input: np.ndarray) -> np.ndarray:
        check_input(input, "PReLU", dtype=self.weight.dtype)
        channels = input.shape[1] if input.ndim >= 2 else 1
        if self.num_parameters > 1 and channels != self.num_parameters:
            raise ValueError(f"PReLU({self.num_parameters}) expects {self.num_parameters} "
                             f"channels at dim 1 of an input of at least 2 dims, got shape "
                             f"{input.shape} ({channels} channel(s))")
        output, mask = F.prelu_forward(input, self.weight.data)
        self._cache = _PReLUCache(input, mask)
        return output

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        x, mask = require_forward(self._cache, "PReLU")
        check_grad(grad_out, x.shape, "PReLU")
        grads = F.prelu_backward(grad_out, x, mask, self.weight.data, input_grad=input_grad)
        self.weight.accumulate_grad(grads.weight)
        return grads.input

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class Identity(Module):
    """The input itself, as `torch.nn.Identity`; takes and ignores any arguments, as torch."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        self._shape = None

    def forward(self, input: np.ndarray) -> np.ndarray:
        self._shape = np.shape(input)
        return input

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        shape = require_forward(self._shape, "Identity")
        check_grad(grad_out, shape, "Identity")
        return grad_out if input_grad else None


class _SoftmaxCache(NamedTuple):
    y: np.ndarray  # the output
    dim: int  # the dim it was normalised along (None resolved)


class _SoftmaxBase(Module):
    _fn = staticmethod(F.softmax)
    _bwd = staticmethod(F.softmax_backward)
    _torch_name = "softmax"

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = None if dim is None else int(dim)
        self._cache = None

    def forward(self, input: np.ndarray) -> np.ndarray:
        name = type(self).__name__
        check_input(input, name)
        dim = self.dim if self.dim is not None else F.softmax_dim(self._torch_name, input.ndim)
        nd = max(input.ndim, 1)  # a 0-d input counts as one element along dim 0 or -1, as torch
        if not -nd <= dim < nd:
            raise IndexError(f"{name}: dimension out of range (expected to be in range of "
                             f"[{-nd}, {nd - 1}], but got {dim}) for input of shape {input.shape}")
        y = self._fn(input.reshape(input.shape or (1,)), dim).reshape(input.shape)
        self._cache = _SoftmaxCache(y, dim)
        return y

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        y, dim = require_forward(self._cache, type(self).__name__)
        check_grad(grad_out, y.shape, type(self).__name__)
        if not input_grad:
            return None
        shape = y.shape or (1,)
        return self._bwd(grad_out.reshape(shape), y.reshape(shape), dim).reshape(y.shape)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_SoftmaxBase):
    """exp(x) / sum(exp(x)) along `dim`, computed as exp(x - max) so it never overflows.

    dx = y * (g - sum(g * y)) along dim.

    Args:
        dim: the dim to normalise along. None (the default, deprecated in torch) takes
            torch's implicit choice with its UserWarning: 0 for 0-, 1- and 3-D input, else 1.

    Shape: any, 0-d included (the output is 1); the output has the input's shape. For
    classification use CrossEntropyLoss on logits instead: it fuses log-softmax.
    """


class LogSoftmax(_SoftmaxBase):
    """log(softmax(x)) along `dim`, as x - max - log(sum(exp(x - max))), as `torch.nn.LogSoftmax`.

    dx = g - exp(y) * sum(g) along dim.

    Args:
        dim: as Softmax (None: torch's implicit choice, with its warning).

    Shape: any; the output has the input's shape.
    """

    _fn = staticmethod(F.log_softmax)
    _bwd = staticmethod(F.log_softmax_backward)
    _torch_name = "log_softmax"
