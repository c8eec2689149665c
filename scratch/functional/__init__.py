"""The math of the layers as functions on arrays; the modules hold arguments, parameters, caches.

As torch keeps `nn.Conv2d` apart from `F.conv2d`, each layer in scratch stores
its state and calls the functions here, imported one way everywhere:
`from scratch import functional as F`, then `F.conv2d_forward(...)`. Every
submodule's public names are re-exported below (`plain` stays a submodule:
`F.plain.conv2d`).

The contract: a forward kernel returns its output(s) and then what its backward
needs, the cache: one array, or a NamedTuple `<Kernel>Cache` when it is several
things. A backward kernel returns fresh arrays: one gradient as that array,
several as a NamedTuple `<Kernel>Grads` whose fields are named after what they
are gradients of (`input`, `weight`, `bias`, ...), None for one not asked for;
`input_grad=False` skips dL/dinput in the kernel. `plain` holds the layers
written straight from their definitions, the specification the fast kernels are
tested against.

    linear        linear, linear_backward -> LinearGrads
    activation    relu_forward / _backward, leaky_relu_forward / _backward, tanh / _backward,
                  sigmoid / _backward, erf, gelu_forward / _backward (GeluCache), softmax /
                  _backward, log_softmax / _backward, softmax_dim, elu, softplus, silu and
                  their *_backward
    dropout       dropout_scale (the mask draw from a given Generator), dropout,
                  dropout_backward
    shapes        pair, single, conv_output_size, sides, pad, pad_backward, unpad, PAD_MODES;
                  flatten, unflatten (Flatten's and Unflatten's reshape rules)
    windows       windows, disjoint, offsets_first, offset_views, col2im
    conv          im2col, batch_chunks, conv2d_forward, conv2d_backward -> Conv2dGrads,
                  conv2d_input_grad (also the transposed convolution)
    pool          max_pool2d_forward / _backward / _indices, first_max, winners, pool_sides,
                  avg_pool2d_forward / _backward / _divisor, adaptive_avg_pool2d_forward /
                  _backward, adaptive_ranges, adaptive_matrix, max_unpool2d_forward / _backward,
                  adaptive_taps, adaptive_max_pool2d_forward / _backward
    batchnorm     channel_sum, batch_norm_forward (BatchNormCache), batch_norm_backward ->
                  BatchNormGrads
    normalization layer_norm_forward (LayerNormCache), layer_norm_backward -> LayerNormGrads;
                  group_norm_forward / _backward -> GroupNormGrads, instance_norm_forward /
                  _backward (batch norm's kernels over (1, N * C, L))
    attention     canonical_mask, multi_head_attention_forward (MultiheadAttentionCache),
                  multi_head_attention_backward -> MultiheadAttentionGrads, safe_softmax
    sparse        embedding_forward / _backward, embedding_renorm_
    recurrent     recurrent_direction_forward (RecurrentCache) / _backward -> RecurrentGrads,
                  batch_pieces
                  (one direction of an RNN, LSTM or GRU layer, input projection included),
                  GATES
    loss          REDUCTIONS, reduce_loss, reduction_grad, per_item_count;
                  cross_entropy_forward (CrossEntropyCache) / _backward, nll_forward
                  (NllCache) / _backward, bce_forward / _backward, bce_with_logits_forward /
                  _backward; mse, l1, huber, smooth_l1 (each (loss, slope)); the target's
                  gradients cross_entropy_, bce_, bce_with_logits_target_backward
    activation    (issue 31) PReLUGrads, channel_view, prelu_forward / _backward, hardswish,
                  mish and their *_backward
    loss          (issue 31) mean_denominator ("batchmean"), kl_div_forward / _backward /
                  _target_backward
    distance      CosineSimilarityCache, CosineSimilarityGrads, cosine_similarity_forward /
                  _backward, sum_to_shape (the adjoint of broadcasting)
    plain         conv2d, max_pool2d (and _indices), avg_pool2d, adaptive_avg_pool2d, batch_norm,
                  rnn, lstm, gru and their *_backward; erf; adaptive_max_pool2d / _backward
    convtranspose conv_transpose_output_size, conv_transpose2d_forward, conv_transpose2d_backward
                  -> ConvTranspose2dGrads (conv2d_input_grad's, conv2d_forward's and
                  conv2d_backward's kernels); plain.conv_transpose2d / _backward
    upsample      interpolate (torch's signature), MODES, InterpolatePlan, check_options,
                  interpolate_plan, nearest_index, linear_taps, interpolation_matrix,
                  interpolate_forward / _backward; plain.interpolate / _backward
"""

from scratch.functional import plain
from scratch.functional.activation import (
    GeluCache,
    PReLUGrads,
    channel_view,
    elu,
    elu_backward,
    erf,
    gelu_backward,
    gelu_forward,
    hardswish,
    hardswish_backward,
    leaky_relu_backward,
    leaky_relu_forward,
    log_softmax,
    log_softmax_backward,
    mish,
    mish_backward,
    prelu_backward,
    prelu_forward,
    relu_backward,
    relu_forward,
    sigmoid,
    sigmoid_backward,
    silu,
    silu_backward,
    softmax,
    softmax_backward,
    softmax_dim,
    softplus,
    softplus_backward,
    tanh,
    tanh_backward,
)
from scratch.functional.attention import (
    MultiheadAttentionCache,
    MultiheadAttentionGrads,
    canonical_mask,
    multi_head_attention_backward,
    multi_head_attention_forward,
    safe_softmax,
)
from scratch.functional.batchnorm import (
    BatchNormCache,
    BatchNormGrads,
    batch_norm_backward,
    batch_norm_forward,
    channel_sum,
)
from scratch.functional.conv import (
    Conv2dGrads,
    batch_chunks,
    conv2d_backward,
    conv2d_forward,
    conv2d_input_grad,
    im2col,
)
from scratch.functional.convtranspose import (
    ConvTranspose2dGrads,
    conv_transpose2d_backward,
    conv_transpose2d_forward,
    conv_transpose_output_size,
)
from scratch.functional.distance import (
    CosineSimilarityCache,
    CosineSimilarityGrads,
    cosine_similarity_backward,
    cosine_similarity_forward,
    sum_to_shape,
)
from scratch.functional.dropout import dropout, dropout_backward, dropout_scale
from scratch.functional.linear import LinearGrads, linear, linear_backward
from scratch.functional.loss import (
    REDUCTIONS,
    CrossEntropyCache,
    NllCache,
    bce_backward,
    bce_forward,
    bce_target_backward,
    bce_with_logits_backward,
    bce_with_logits_forward,
    bce_with_logits_target_backward,
    cross_entropy_backward,
    cross_entropy_forward,
    cross_entropy_target_backward,
    huber,
    kl_div_backward,
    kl_div_forward,
    kl_div_target_backward,
    l1,
    mean_denominator,
    mse,
    nll_backward,
    nll_forward,
    per_item_count,
    reduce_loss,
    reduction_grad,
    smooth_l1,
)
from scratch.functional.normalization import (
    GroupNormGrads,
    LayerNormCache,
    LayerNormGrads,
    group_norm_backward,
    group_norm_forward,
    instance_norm_backward,
    instance_norm_forward,
    layer_norm_backward,
    layer_norm_forward,
)
from scratch.functional.pool import (
    adaptive_avg_pool2d_backward,
    adaptive_avg_pool2d_forward,
    adaptive_matrix,
    adaptive_max_pool2d_backward,
    adaptive_max_pool2d_forward,
    adaptive_ranges,
    adaptive_taps,
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
    batch_pieces,
    recurrent_direction_backward,
    recurrent_direction_forward,
)
from scratch.functional.shapes import (
    PAD_MODES,
    conv_output_size,
    flatten,
    pad,
    pad_backward,
    pair,
    sides,
    single,
    unflatten,
    unpad,
)
from scratch.functional.sparse import embedding_backward, embedding_forward, embedding_renorm_
from scratch.functional.upsample import (
    MODES,
    InterpolatePlan,
    check_options,
    interpolate,
    interpolate_backward,
    interpolate_forward,
    interpolate_plan,
    interpolation_matrix,
    linear_taps,
    nearest_index,
)
from scratch.functional.windows import col2im, disjoint, offset_views, offsets_first, windows

__all__ = [
    # linear, activation, dropout
    "LinearGrads", "linear", "linear_backward",
    "relu_forward", "relu_backward", "leaky_relu_forward", "leaky_relu_backward", "tanh",
    "tanh_backward", "sigmoid", "sigmoid_backward", "erf", "GeluCache", "gelu_forward",
    "gelu_backward", "softmax_dim", "softmax", "softmax_backward", "log_softmax",
    "log_softmax_backward", "elu", "elu_backward", "softplus", "softplus_backward", "silu",
    "silu_backward",
    "dropout_scale", "dropout", "dropout_backward",
    # shapes, windows
    "PAD_MODES", "pair", "single", "conv_output_size", "sides", "pad", "pad_backward", "unpad",
    "flatten", "unflatten",
    "windows", "disjoint", "offsets_first", "offset_views", "col2im",
    # conv, pool, batchnorm
    "im2col", "batch_chunks", "conv2d_forward", "Conv2dGrads", "conv2d_backward",
    "conv2d_input_grad",
    "max_pool2d_forward", "max_pool2d_backward", "max_pool2d_indices", "first_max", "winners",
    "pool_sides", "avg_pool2d_forward", "avg_pool2d_backward", "avg_pool2d_divisor",
    "adaptive_avg_pool2d_forward", "adaptive_avg_pool2d_backward", "adaptive_ranges",
    "adaptive_matrix", "max_unpool2d_forward", "max_unpool2d_backward",
    "channel_sum", "BatchNormCache", "BatchNormGrads", "batch_norm_forward",
    "batch_norm_backward",
    # normalization, attention, sparse, recurrent
    "LayerNormCache", "LayerNormGrads", "layer_norm_forward", "layer_norm_backward",
    "MultiheadAttentionCache", "MultiheadAttentionGrads", "canonical_mask",
    "multi_head_attention_forward", "multi_head_attention_backward", "safe_softmax",
    "embedding_forward", "embedding_backward", "embedding_renorm_",
    "GATES", "RecurrentCache", "RecurrentGrads", "recurrent_direction_forward",
    "recurrent_direction_backward", "batch_pieces",
    # loss
    "REDUCTIONS", "reduce_loss", "reduction_grad", "per_item_count", "CrossEntropyCache",
    "cross_entropy_forward", "cross_entropy_backward", "NllCache", "nll_forward",
    "nll_backward", "bce_forward", "bce_backward", "bce_with_logits_forward",
    "bce_with_logits_backward", "mse", "l1", "huber", "smooth_l1",
    "cross_entropy_target_backward", "bce_target_backward", "bce_with_logits_target_backward",
    # issue 31: PReLU, Hardswish, Mish, KLDivLoss, CosineSimilarity
    "PReLUGrads", "channel_view", "prelu_forward", "prelu_backward", "hardswish",
    "hardswish_backward", "mish", "mish_backward", "mean_denominator", "kl_div_forward",
    "kl_div_backward", "kl_div_target_backward", "CosineSimilarityCache",
    "CosineSimilarityGrads", "cosine_similarity_forward", "cosine_similarity_backward",
    "sum_to_shape",
    # the specification
    "plain",
    # issue 31: transposed convolution
    "conv_transpose_output_size", "conv_transpose2d_forward", "ConvTranspose2dGrads",
    "conv_transpose2d_backward",
]
# issue 31, item 1: group and instance norm, adaptive max pooling
__all__ += [
    "GroupNormGrads", "group_norm_forward", "group_norm_backward", "instance_norm_forward",
    "instance_norm_backward", "adaptive_taps", "adaptive_max_pool2d_forward",
    "adaptive_max_pool2d_backward",
]
# issue 31, item 1: Upsample and interpolate
__all__ += [
    "MODES", "InterpolatePlan", "check_options", "interpolate", "interpolate_plan",
    "nearest_index", "linear_taps", "interpolation_matrix", "interpolate_forward",
    "interpolate_backward",
]
