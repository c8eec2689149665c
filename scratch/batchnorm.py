"""BatchNorm1d and BatchNorm2d: normalise each channel over the batch (and spatial dims).

Training normalises with the batch's biased variance and updates the running
statistics with the unbiased one, as torch does; eval mode uses the running
statistics. The kernels live in scratch.functional (batch_norm_forward,
batch_norm_backward); the layers here hold the parameters, buffers and cache.
A zero-size input gives a zero-size output, as in torch: the running statistics
stay as they are, but a training step still counts in num_batches_tracked.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scratch import functional as F
from scratch._checks import check_grad, check_input, require_forward
from scratch.module import Module, Parameter, check_float_dtype


class _BatchNormCache(NamedTuple):
    kernel: F.BatchNormCache | None  # None for a zero-size batch: every sum is zero
    batch_stats: bool  # normalised with the batch's statistics, not the running ones
    shape: tuple[int, ...]  # the input's


class _BatchNorm(Module):
    _ndims: tuple[int, ...] = ()
    _shape_doc = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, *, bias: bool = True,
                 dtype=np.float32):
        super().__init__()
        dt = check_float_dtype(dtype)
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(np.ones(self.num_features, dt))
            self.bias = Parameter(np.zeros(self.num_features, dt)) if bias else None
        else:
            self.weight = self.bias = None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dt))
            self.register_buffer("running_var", np.ones(self.num_features, dt))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self._cache = None

    def reset_parameters(self, *, rng: np.random.Generator | None = None) -> None:
        if self.track_running_stats:
            self.running_mean.fill(0)
            self.running_var.fill(1)
            self.num_batches_tracked[...] = 0
        if self.affine:
            self.weight.data.fill(1)
            if self.bias is not None:
                self.bias.data.fill(0)

    def _name(self) -> str:
        return f"{type(self).__name__}({self.num_features})"

    def _dtype(self) -> np.dtype | None:
        if self.affine:
            return self.weight.dtype
        return self.running_mean.dtype if self.track_running_stats else None

    def forward(self, input: np.ndarray) -> np.ndarray:
        check_input(input, self._name(), dtype=self._dtype(), ndim=self._ndims,
                    size=(1, self.num_features) if input.ndim >= 2 else None,
                    shape_doc=self._shape_doc)
        n = input.size // self.num_features  # values per channel
        use_batch = self.training or not self.track_running_stats
        if use_batch and n == 1:  # torch's _verify_batch_size, eval mode included
            raise ValueError(f"{self._name()} needs more than 1 value per channel when using "
                             f"batch statistics (training, or track_running_stats=False), got "
                             f"input of shape {input.shape}")
        if n == 0:
            if self.training and self.track_running_stats:
                self.num_batches_tracked += 1
            self._cache = _BatchNormCache(None, use_batch, input.shape)
            return np.empty_like(input)
        x3 = input.reshape(len(input), self.num_features, -1)  # (N, C, L), L = H*W (or 1)
        weight = self.weight.data if self.affine else None
        bias = self.bias.data if self.bias is not None else None
        running = None if use_batch else (self.running_mean, self.running_var)
        y, cache = F.batch_norm_forward(x3, weight, bias, self.eps, running)  # y (N, C, L)
        if self.training and self.track_running_stats:
            self._update_running(cache.mean, cache.var, n)
        self._cache = _BatchNormCache(cache, use_batch, input.shape)
        return y.reshape(input.shape)

    def _update_running(self, mean: np.ndarray, var: np.ndarray, n: int) -> None:
        self.num_batches_tracked += 1
        if self.momentum is None:  # cumulative moving average
            m = 1.0 / float(self.num_batches_tracked)
        else:
            m = self.momentum
        dt = self.running_mean.dtype.type
        self.running_mean *= dt(1 - m)
        self.running_mean += dt(m) * mean
        self.running_var *= dt(1 - m)
        self.running_var += dt(m) * var * dt(n / (n - 1))  # unbiased, as torch

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        cache = require_forward(self._cache, self._name())
        check_grad(grad_out, cache.shape, self._name())
        if cache.kernel is None:  # a zero-size batch: all sums are zero
            if self.affine:
                self.weight.accumulate_grad(np.zeros_like(self.weight.data))
                if self.bias is not None:
                    self.bias.accumulate_grad(np.zeros_like(self.bias.data))
            return np.zeros_like(grad_out) if input_grad else None
        grads = F.batch_norm_backward(
            grad_out.reshape(cache.kernel.xc.shape), cache.kernel,
            self.weight.data if self.affine else None, batch_stats=cache.batch_stats,
            input_grad=input_grad)
        if self.affine:
            self.weight.accumulate_grad(grads.weight)
            if self.bias is not None:
                self.bias.accumulate_grad(grads.bias)
        return None if grads.input is None else grads.input.reshape(grad_out.shape)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over a (N, C) or (N, C, L) input, as `torch.nn.BatchNorm1d`.

    Per channel, with mean and var the batch's over N (and L), var biased (training,
    or track_running_stats=False), else the running statistics (eval mode), and
    upstream gradient g = dL/dy:

        xhat = (x - mean) / sqrt(var + eps),   y = weight * xhat + bias  (1 and 0 if not affine)
        dweight = sum(g * xhat),   dbias = sum(g)
        dx = weight / sqrt(var + eps) * (g - mean(g) - xhat * mean(g * xhat))  (batch stats)
        dx = weight / sqrt(var + eps) * g                                        (running stats)

    sums and means taken over every axis but C. Each training step with
    track_running_stats also updates running_mean <- (1 - momentum) running_mean +
    momentum mean, and running_var likewise with the unbiased var * m / (m - 1), m the
    values per channel. Kernels: scratch.functional.batch_norm_forward / _backward; the
    chain rule written out: scratch.functional.plain.batch_norm_backward.

    Args:
        num_features: C.
        eps: added to the variance before the square root (default 1e-5).
        momentum: running-statistics factor (default 0.1); None for a cumulative average.
        affine: learn a per-channel scale `weight` (ones) and shift `bias` (zeros).
        track_running_stats: keep running_mean / running_var / num_batches_tracked
            buffers and use them in eval mode; if False, batch statistics always (the
            buffers are None and not in the state_dict, as torch).
        bias: keyword only; with affine, False learns the scale only (torch 2.13's argument).
        dtype: float32 (default) or float64.

    Shape: (N, C) or (N, C, L) -> same shape; N = 0 (or L = 0) gives an empty output and
    leaves the running statistics alone (num_batches_tracked still counts the step).

    Example:
        >>> bn = BatchNorm1d(3)
        >>> bn(np.arange(6, dtype=np.float32).reshape(2, 3)).round(3)
        array([[-1., -1., -1.],
               [ 1.,  1.,  1.]], dtype=float32)
    """

    _ndims = (2, 3)
    _shape_doc = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over a (N, C, H, W) input, as `torch.nn.BatchNorm2d`.

    The math is BatchNorm1d's with sums and means over N, H and W per channel.

    Args: as BatchNorm1d. Shape: (N, C, H, W) -> same shape.
    """

    _ndims = (4,)
    _shape_doc = "(N, C, H, W)"
