"""Optimizers with torch.optim's names, arguments and update rules."""

from scratch.optim.optimizer import Optimizer
from scratch.optim.sgd import SGD

__all__ = ["Optimizer", "SGD"]
