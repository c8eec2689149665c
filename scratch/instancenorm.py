"""InstanceNorm1d and InstanceNorm2d: normalise each channel of each sample over its own
length (or height and width), as `torch.nn.InstanceNorm1d` / `InstanceNorm2d`.

They keep BatchNorm's arguments, parameters and buffers (torch's share `_NormBase` too)
with torch's other defaults, affine=False and track_running_stats=False. The math is
scratch.functional.instance_norm_forward / _backward: batch normalisation of the input
viewed as (1, N * C, L).
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np

from scratch import functional as F
from scratch._checks import check_grad, check_input, require_forward
from scratch.batchnorm import _BatchNorm


class _InstanceNormCache(NamedTuple):
    kernel: F.BatchNormCache
    instance_stats: bool  # normalised with each instance's statistics, not the running ones
    shape: tuple[int, ...]  # the input's
    x3_shape: tuple[int, int, int]  # (N, C, L) as the kernels saw it


class _InstanceNorm(_BatchNorm):
    _no_batch_ndim = 2

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, *,
                 bias: bool = True, dtype=np.float32):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, bias=bias,
                         dtype=dtype)

    def forward(self, input: np.ndarray) -> np.ndarray:
        name, batched = self._name(), self._no_batch_ndim + 1
        check_input(input, name, dtype=self._dtype(), ndim=(self._no_batch_ndim, batched),
                    shape_doc=self._shape_doc)
        x = input if input.ndim == batched else input[None]  # (N, C, *)
        if x.shape[1] != self.num_features:
            if self.affine or self.track_running_stats:
                raise ValueError(f"{name} expects input of shape {self._shape_doc}, got "
                                 f"{input.shape}: {x.shape[1]} channels, expected "
                                 f"{self.num_features}")
            warnings.warn(f"{name}: the input's {x.shape[1]} channels do not match "
                          f"num_features, which is not used because affine=False",
                          stacklevel=2)
        n, c, length = x.shape[0], x.shape[1], math.prod(x.shape[2:])
        instance_stats = self.training or not self.track_running_stats
        if instance_stats and length == 1:  # torch's _verify_spatial_size
            raise ValueError(f"{name} needs more than 1 spatial element per channel when "
                             f"using instance statistics, got input of shape {input.shape}")
        running = None if instance_stats else (self.running_mean, self.running_var)
        y, cache = F.instance_norm_forward(
            x.reshape(n, c, length), self.weight.data if self.affine else None,
            None if self.bias is None else self.bias.data, self.eps, running)  # (N, C, L)
        if self.training and self.track_running_stats and n:
            self._update_instance_running(cache.mean.reshape(n, c), cache.var.reshape(n, c),
                                          length)
        self._cache = _InstanceNormCache(cache, instance_stats, input.shape, (n, c, length))
        return y.reshape(input.shape)

    def _update_instance_running(self, mean: np.ndarray, var: np.ndarray, length: int):
        """torch's rule: each instance's statistics move its copy of the running ones,
        running <- (1 - m) running + m stat (var unbiased: * L / (L - 1)), and the copies
        are averaged over the batch. momentum None is 0 here (torch's InstanceNorm), and
        num_batches_tracked is not counted."""
        m = 0.0 if self.momentum is None else self.momentum
        dt = self.running_mean.dtype.type
        self.running_mean *= dt(1 - m)
        self.running_mean += dt(m) * mean.mean(axis=0)
        self.running_var *= dt(1 - m)
        self.running_var += dt(m) * var.mean(axis=0) * dt(length / (length - 1))

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        cache = require_forward(self._cache, self._name())
        check_grad(grad_out, cache.shape, self._name())
        grads = F.instance_norm_backward(
            grad_out.reshape(cache.x3_shape), cache.kernel,
            self.weight.data if self.affine else None, batch_stats=cache.instance_stats,
            input_grad=input_grad)
        if self.affine:
            self.weight.accumulate_grad(grads.weight)
            if self.bias is not None:
                self.bias.accumulate_grad(grads.bias)
        return None if grads.input is None else grads.input.reshape(cache.shape)


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of a (N, C, L) or (C, L) input, as `torch.nn.InstanceNorm1d`.

    Per sample n and channel c, with mean and var (biased) over the L values of x[n, c]
    (training, or track_running_stats=False; else the running statistics, eval mode), and
    upstream gradient g = dL/dy:

        xhat = (x - mean) / sqrt(var + eps),   y = weight[c] * xhat + bias[c]  (if affine)
        dweight[c] = sum over n, l of g * xhat,   dbias[c] = sum over n, l of g
        dx = weight[c] / sqrt(var + eps) * (g - mean(g) - xhat * mean(g * xhat))  (own stats)
        dx = weight[c] / sqrt(var + eps) * g                                      (running)

    the means over the L values of x[n, c]. A training step with track_running_stats moves
    running_mean <- (1 - momentum) running_mean + momentum mean_n(mean[n, c]), and
    running_var likewise with mean_n(var[n, c]) * L / (L - 1); num_batches_tracked stays 0,
    as torch's. Kernels: scratch.functional.instance_norm_forward / _backward.

    Args (torch's, in its order): num_features (C), eps (1e-5), momentum (0.1; None: the
    running statistics never move), affine (False), track_running_stats (False); keyword
    only bias (with affine) and dtype, as BatchNorm1d.

    Shape: (N, C, L) or (C, L) -> the same shape; L must exceed 1 when each instance's
    statistics are used.
    """

    _shape_doc = "(N, C, L) or (C, L)"


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of a (N, C, H, W) or (C, H, W) input, as
    `torch.nn.InstanceNorm2d`: InstanceNorm1d's math over the H * W values of each x[n, c].

    Args: as InstanceNorm1d. Shape: (N, C, H, W) or (C, H, W) -> the same shape.
    """

    _no_batch_ndim = 3
    _shape_doc = "(N, C, H, W) or (C, H, W)"
