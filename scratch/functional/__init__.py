"""The math of the layers as functions on arrays; the modules hold arguments, parameters, caches.

As torch keeps `nn.Conv2d` apart from `F.conv2d`, each layer in scratch stores
its state and calls the kernels here. The fast kernels come in forward /
backward pairs: forward returns its output and what backward needs, backward
returns fresh gradient arrays. `plain` holds the same layers written straight
from their definitions, the reference the fast kernels are tested against.

    activation sigmoid, erf, softmax, log_softmax, softmax_dim, elu, softplus, silu
    loss       the losses' forward / backward pairs and torch's reductions
    recurrent  recurrent_direction_forward / _backward (RNN, LSTM, GRU; the input projection
               included), RecurrentCache, RecurrentGrads, GATES
    attention  canonical_mask, multi_head_attention_forward / _backward
    normalization layer_norm_forward / _backward
    sparse     embedding_forward / _backward, embedding_renorm_
    shapes     pair, single, conv_output_size, sides, pad, pad_backward, unpad
    windows    windows, disjoint, offsets_first, offset_views, col2im
    conv       im2col, conv2d_forward, conv2d_backward
    pool       max_pool2d_forward / _backward / _indices, first_max, winners, pool_sides,
               avg_pool2d_forward / _backward / _divisor, adaptive_avg_pool2d_forward /
               _backward, adaptive_ranges, adaptive_matrix, max_unpool2d_forward / _backward
    batchnorm  channel_sum, batch_norm_forward, batch_norm_backward
    plain      conv2d, max_pool2d (and _indices), avg_pool2d, adaptive_avg_pool2d, batch_norm
               and their *_backward; erf
"""

from scratch.functional import loss, plain
from scratch.functional.activation import (
    elu,
    elu_backward,
    erf,
    log_softmax,
    log_softmax_backward,
    sigmoid,
    silu,
    silu_backward,
    softmax,
    softmax_backward,
    softmax_dim,
    softplus,
    softplus_backward,
)
from scratch.functional.batchnorm import batch_norm_backward, batch_norm_forward, channel_sum
from scratch.functional.conv import conv2d_backward, conv2d_forward, im2col
from scratch.functional.pool import (
    adaptive_avg_pool2d_backward,
    adaptive_avg_pool2d_forward,
    adaptive_matrix,
    adaptive_ranges,
    avg_pool2d_backward,
    avg_pool2d_divisor,
    avg_pool2d_forward,
    first_max,
    max_pool2d_backward,
    max_pool2d_forward,
    max_pool2d_indices,
    max_unpool2d_backward,
    max_unpool2d_forward,
    pool_sides,
    winners,
)
from scratch.functional.recurrent import (
    GATES,
    RecurrentCache,
    RecurrentGrads,
    recurrent_direction_backward,
    recurrent_direction_forward,
)
from scratch.functional.shapes import (
    conv_output_size,
    pad,
    pad_backward,
    pair,
    sides,
    single,
    unpad,
)
from scratch.functional.windows import col2im, disjoint, offset_views, offsets_first, windows

__all__ = [
    "adaptive_avg_pool2d_backward", "adaptive_avg_pool2d_forward", "adaptive_matrix",
    "adaptive_ranges", "avg_pool2d_backward", "avg_pool2d_divisor", "avg_pool2d_forward",
    "batch_norm_backward", "batch_norm_forward", "channel_sum", "col2im", "conv2d_backward",
    "conv2d_forward", "conv_output_size", "disjoint", "elu", "elu_backward", "erf",
    "first_max", "im2col", "log_softmax", "log_softmax_backward", "loss",
    "max_pool2d_backward", "max_pool2d_forward", "max_pool2d_indices",
    "max_unpool2d_backward", "max_unpool2d_forward", "offset_views", "offsets_first", "pad",
    "pad_backward", "pair", "plain", "pool_sides", "sides", "sigmoid", "silu",
    "silu_backward", "single", "softmax", "softmax_backward", "softmax_dim", "softplus",
    "softplus_backward", "unpad", "windows", "winners",
    "GATES", "RecurrentCache", "RecurrentGrads", "recurrent_direction_backward",
    "recurrent_direction_forward",
]
