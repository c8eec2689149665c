"""scratch: a neural network in NumPy with PyTorch's API, backprop written out by hand.

Imports numpy, the standard library and threadpoolctl. Layers hold their arguments,
parameters and caches; the math they call lives in `scratch.functional`, whose large
kernels (the convolution, max pooling's backward) split their batch over
`set_num_threads(n)` threads (`scratch.parallel`).
"""

from scratch import functional, init, optim, utils
from scratch.activation import (
    ELU,
    GELU,
    Hardswish,
    Identity,
    LeakyReLU,
    LogSoftmax,
    Mish,
    PReLU,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from scratch.attention import MultiheadAttention
from scratch.batchnorm import BatchNorm1d, BatchNorm2d
from scratch.conv import Conv1d, Conv2d
from scratch.convtranspose import ConvTranspose1d, ConvTranspose2d
from scratch.distance import CosineSimilarity
from scratch.dropout import Dropout, Dropout2d
from scratch.flatten import Flatten, Unflatten
from scratch.gradcheck import GradcheckResult, gradcheck
from scratch.instancenorm import InstanceNorm1d, InstanceNorm2d
from scratch.linear import Linear
from scratch.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from scratch.module import Module, ModuleList, Parameter, Sequential, check_state_keys
from scratch.normalization import GroupNorm, LayerNorm
from scratch.parallel import get_num_threads, set_num_threads
from scratch.pooling import (
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
    MaxUnpool2d,
)
from scratch.rnn import GRU, LSTM, RNN, RNNBase
from scratch.serialization import load, save
from scratch.sparse import Embedding
from scratch.testing import max_rel_diff
from scratch.transformer import TransformerEncoder, TransformerEncoderLayer
from scratch.upsample import Upsample

__all__ = [
    "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "AvgPool1d", "AvgPool2d", "BCELoss",
    "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d", "Conv1d", "Conv2d", "ConvTranspose1d",
    "ConvTranspose2d", "CosineSimilarity", "CrossEntropyLoss", "Dropout", "Dropout2d", "ELU",
    "Embedding", "Flatten", "GELU", "GRU", "GradcheckResult", "GroupNorm", "Hardswish",
    "HuberLoss", "Identity", "InstanceNorm1d", "InstanceNorm2d", "KLDivLoss", "L1Loss", "LSTM",
    "LayerNorm", "LeakyReLU", "Linear", "LogSoftmax", "Loss", "MSELoss", "MaxPool1d", "MaxPool2d",
    "MaxUnpool2d", "Mish", "Module", "ModuleList", "MultiheadAttention", "NLLLoss", "PReLU",
    "Parameter", "RNN", "RNNBase", "ReLU", "Sequential", "SiLU", "Sigmoid", "SmoothL1Loss",
    "Softmax", "Softplus", "Tanh", "TransformerEncoder", "TransformerEncoderLayer", "Unflatten",
    "check_state_keys", "functional", "get_num_threads", "gradcheck", "init", "load",
    "max_rel_diff", "optim", "save", "set_num_threads", "utils",
]
__all__ += ["Upsample"]  # issue 31
