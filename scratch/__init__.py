"""scratch: a neural network in NumPy with PyTorch's API, backprop written out by hand.

Imports numpy (and the standard library) only. Layers hold their arguments,
parameters and caches; the math they call lives in `scratch.functional`.
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
from scratch.distance import CosineSimilarity
from scratch.dropout import Dropout, Dropout2d
from scratch.flatten import Flatten, Unflatten
from scratch.gradcheck import GradcheckResult, gradcheck
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
from scratch.normalization import LayerNorm
from scratch.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d, MaxUnpool2d
from scratch.rnn import GRU, LSTM, RNN, RNNBase
from scratch.serialization import load, save
from scratch.sparse import Embedding
from scratch.testing import max_rel_diff
from scratch.transformer import TransformerEncoder, TransformerEncoderLayer

__all__ = [
    "AdaptiveAvgPool2d", "AvgPool2d", "BCELoss", "BCEWithLogitsLoss", "BatchNorm1d",
    "BatchNorm2d", "Conv1d", "Conv2d", "CrossEntropyLoss", "Dropout", "Dropout2d", "ELU",
    "Embedding", "Flatten", "GELU", "GRU", "GradcheckResult", "HuberLoss", "Identity",
    "L1Loss", "LSTM", "LayerNorm", "LeakyReLU", "Linear", "LogSoftmax", "Loss", "MSELoss",
    "MaxPool2d", "MaxUnpool2d", "Module", "ModuleList", "MultiheadAttention", "NLLLoss",
    "Parameter", "RNN", "RNNBase", "ReLU", "Sequential", "SiLU", "Sigmoid", "SmoothL1Loss",
    "Softmax", "Softplus", "Tanh", "TransformerEncoder", "TransformerEncoderLayer",
    "Unflatten", "check_state_keys", "functional", "gradcheck", "init", "load",
    "max_rel_diff", "optim", "save", "utils",
    # issue 31
    "CosineSimilarity", "Hardswish", "KLDivLoss", "Mish", "PReLU",
]
