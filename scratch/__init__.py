"""scratch: a neural network in NumPy with PyTorch's API, backprop written out by hand.

Imports numpy (and the standard library) only. Layers hold their arguments,
parameters and caches; the math they call lives in `scratch.functional`.
"""

from scratch import functional, init, optim, utils
from scratch.activation import GELU, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from scratch.batchnorm import BatchNorm1d, BatchNorm2d
from scratch.conv import Conv2d
from scratch.dropout import Dropout
from scratch.flatten import Flatten
from scratch.gradcheck import GradcheckResult, gradcheck
from scratch.linear import Linear
from scratch.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from scratch.module import Module, Parameter, Sequential, check_state_keys
from scratch.pooling import AvgPool2d, MaxPool2d
from scratch.serialization import load, save
from scratch.testing import max_rel_diff

__all__ = [
    "AvgPool2d", "BCELoss", "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d", "Conv2d",
    "CrossEntropyLoss", "Dropout", "Flatten", "GELU", "GradcheckResult", "HuberLoss", "L1Loss",
    "LeakyReLU", "Linear", "Loss", "MSELoss", "MaxPool2d", "Module", "NLLLoss", "Parameter",
    "ReLU", "Sequential", "Sigmoid", "SmoothL1Loss", "Softmax", "Tanh", "check_state_keys",
    "functional", "gradcheck", "init", "load", "max_rel_diff", "optim", "save", "utils",
]
