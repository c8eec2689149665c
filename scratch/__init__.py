"""scratch: a neural network in NumPy with PyTorch's API, backprop written out by hand.

Imports numpy (and the standard library) only. Layers hold their arguments,
parameters and caches; the math they call lives in `scratch.functional`.
"""

from scratch import functional, init, optim
from scratch.activation import GELU, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from scratch.attention import MultiheadAttention
from scratch.batchnorm import BatchNorm1d, BatchNorm2d
from scratch.conv import Conv2d
from scratch.dropout import Dropout
from scratch.flatten import Flatten
from scratch.gradcheck import GradcheckResult, gradcheck
from scratch.linear import Linear
from scratch.loss import BCEWithLogitsLoss, CrossEntropyLoss, Loss, MSELoss
from scratch.module import Module, ModuleList, Parameter, Sequential, check_state_keys
from scratch.normalization import LayerNorm
from scratch.pooling import AvgPool2d, MaxPool2d
from scratch.rnn import GRU, LSTM, RNN, RNNBase
from scratch.serialization import load, save
from scratch.sparse import Embedding
from scratch.testing import max_rel_diff
from scratch.transformer import TransformerEncoder, TransformerEncoderLayer

__all__ = [
    "GRU", "LSTM", "RNN", "AvgPool2d", "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d",
    "Conv2d", "CrossEntropyLoss", "Dropout", "Embedding", "Flatten", "GELU", "GradcheckResult",
    "LayerNorm", "LeakyReLU", "Linear", "Loss", "MSELoss", "MaxPool2d", "Module", "ModuleList",
    "MultiheadAttention", "Parameter", "RNNBase", "ReLU", "Sequential", "Sigmoid", "Softmax",
    "Tanh", "TransformerEncoder", "TransformerEncoderLayer",
    "check_state_keys", "functional", "gradcheck", "init", "load", "max_rel_diff", "optim",
    "save",
]
