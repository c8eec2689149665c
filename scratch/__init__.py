"""scratch: a neural network in NumPy with PyTorch's API, backprop written out by hand.

Imports numpy (and the standard library) only.
"""

from scratch import init, optim
from scratch.activation import GELU, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from scratch.batchnorm import BatchNorm1d, BatchNorm2d
from scratch.conv import Conv2d
from scratch.dropout import Dropout
from scratch.flatten import Flatten
from scratch.gradcheck import GradcheckResult, gradcheck
from scratch.linear import Linear
from scratch.loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from scratch.module import Module, Parameter, Sequential
from scratch.pooling import AvgPool2d, MaxPool2d
from scratch.serialization import load, save

__all__ = [
    "AvgPool2d", "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d", "Conv2d", "CrossEntropyLoss",
    "Dropout", "Flatten", "GELU", "GradcheckResult", "LeakyReLU", "Linear", "MSELoss",
    "MaxPool2d", "Module", "Parameter", "ReLU", "Sequential", "Sigmoid", "Softmax", "Tanh",
    "gradcheck", "init", "load", "optim", "save",
]
