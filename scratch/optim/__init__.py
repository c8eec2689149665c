"""Optimizers with torch.optim's names, arguments and update rules.

`lr_scheduler` is a submodule, as in torch: `from scratch.optim.lr_scheduler import StepLR`.
"""

from scratch.optim import lr_scheduler
from scratch.optim.adagrad import Adagrad
from scratch.optim.adam import Adam, AdamW
from scratch.optim.optimizer import Optimizer
from scratch.optim.rmsprop import RMSprop
from scratch.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "RMSprop", "Adagrad", "Adam", "AdamW", "lr_scheduler"]
