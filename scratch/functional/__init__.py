"""The math of the layers as functions on arrays; the modules hold arguments, parameters, caches.

As torch keeps `nn.Conv2d` apart from `F.conv2d`, each layer in scratch stores
its state and calls the kernels here. The fast kernels come in forward /
backward pairs: forward returns its output and what backward needs, backward
returns fresh gradient arrays. `plain` holds the same layers written straight
from their definitions, the reference the fast kernels are tested against.

    activation sigmoid, log_softmax, log_softmax_backward
    loss       the losses' forward / backward pairs and torch's reductions
    shapes     pair, conv_output_size, pad, unpad
    windows    windows, offsets_first, offset_views, col2im
    conv       im2col, conv2d_forward, conv2d_backward
    pool       max_pool2d_forward / _backward, first_max, avg_pool2d_forward / _backward
    batchnorm  channel_sum, batch_norm_forward, batch_norm_backward
    plain      conv2d, max_pool2d, avg_pool2d, batch_norm and their *_backward
"""

from scratch.functional import loss, plain
from scratch.functional.activation import log_softmax, log_softmax_backward, sigmoid
from scratch.functional.batchnorm import batch_norm_backward, batch_norm_forward, channel_sum
from scratch.functional.conv import conv2d_backward, conv2d_forward, im2col
from scratch.functional.pool import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    first_max,
    max_pool2d_backward,
    max_pool2d_forward,
)
from scratch.functional.shapes import conv_output_size, pad, pair, unpad
from scratch.functional.windows import col2im, offset_views, offsets_first, windows

__all__ = [
    "avg_pool2d_backward", "avg_pool2d_forward", "batch_norm_backward", "batch_norm_forward",
    "channel_sum", "col2im", "conv2d_backward", "conv2d_forward", "conv_output_size", "first_max",
    "im2col", "log_softmax", "log_softmax_backward", "loss", "max_pool2d_backward",
    "max_pool2d_forward", "offset_views", "offsets_first", "pad", "pair", "plain", "sigmoid",
    "unpad", "windows",
]
