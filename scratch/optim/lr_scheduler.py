"""Learning-rate schedulers with `torch.optim.lr_scheduler`'s names, arguments and sequences.

A scheduler rewrites `group["lr"]` of its optimizer's parameter groups; call
`scheduler.step()` once after each `optimizer.step()`, as in torch. StepLR,
ExponentialLR and CosineAnnealingLR use torch's recursive ("chainable") form,
computing each lr from the group's current one, so their float64 sequences
agree with torch's to the last bit rather than to the closed form's rounding.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable

from scratch.optim.optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR", "LambdaLR"]


class LRScheduler:
    """Base class: holds the optimizer, `base_lrs`, `last_epoch`; subclasses give `get_lr()`.

    Constructing a scheduler performs its first step (last_epoch -1 -> 0), which may
    set the groups' lrs (LambdaLR does), as torch does.

    Args:
        optimizer: the scratch Optimizer whose group lrs are scheduled.
        last_epoch: index of the last epoch seen; -1 (default) starts afresh and records
            each group's lr as its "initial_lr". Another value resumes, and needs
            "initial_lr" in every group (from a loaded optimizer state_dict).
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"expected a scratch Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] "
                                   f"when resuming with last_epoch={last_epoch}: load the "
                                   "optimizer's state_dict first, or pass last_epoch=-1")
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        # The initial step: torch's `_initial_step`, with `_is_initial` telling the
        # recursive schedulers not to move the lr one step ahead of itself.
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The lrs for epoch `last_epoch`, one per group; called by `step()`."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and write the new lrs into the optimizer's groups."""
        self._step_count += 1
        self.last_epoch += 1
        values = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The lrs last written by `step()`, one per group."""
        return list(self._last_lr)

    def _current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        """Every attribute but the optimizer, as torch."""
        return {k: (list(v) if isinstance(v, list) else v)
                for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update({k: (list(v) if isinstance(v, list) else v)
                              for k, v in state_dict.items()})


class LambdaLR(LRScheduler):
    """lr = initial_lr * lr_lambda(epoch), per group.

    The inverse-time decay lr_t = lr / (1 + decay * t) used by many from-scratch
    write-ups is `LambdaLR(opt, lambda t: 1 / (1 + decay * t))`.

    Args:
        optimizer: the scratch Optimizer.
        lr_lambda: a function of the integer epoch giving a multiplicative factor, or a
            list (or tuple) of such functions, one per parameter group.
        last_epoch: as in `LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer,
                 lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
                 last_epoch: int = -1):
        self.optimizer = optimizer
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"expected {n} lr_lambdas (one per parameter group), "
                                 f"got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base_lr * fn(self.last_epoch)
                for fn, base_lr in zip(self.lr_lambdas, self.base_lrs, strict=True)]

    def state_dict(self) -> dict:
        """As torch: plain functions and lambdas are not saved (None); the attributes of
        callable objects are."""
        state = {k: v for k, v in super().state_dict().items() if k != "lr_lambdas"}
        state["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) else dict(fn.__dict__)
                               for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state = dict(state_dict)
        lr_lambdas = state.pop("lr_lambdas")
        super().load_state_dict(state)
        for fn, saved in zip(self.lr_lambdas, lr_lambdas):
            if saved is not None:
                fn.__dict__.update(saved)


class StepLR(LRScheduler):
    """lr <- lr * gamma every step_size epochs: initial_lr * gamma^(epoch // step_size).

    Args:
        optimizer: the scratch Optimizer.
        step_size: period of the decay, in epochs (a positive integer).
        gamma: multiplicative factor of the decay (default 0.1).
        last_epoch: as in `LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1):
        if not step_size > 0:  # torch would divide by zero at the first step
            raise ValueError(f"invalid step_size {step_size!r}: expected a positive integer")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


class ExponentialLR(LRScheduler):
    """lr <- lr * gamma every epoch: initial_lr * gamma^epoch.

    Args:
        optimizer: the scratch Optimizer.
        gamma: multiplicative factor of the decay.
        last_epoch: as in `LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing without restarts, in torch's recursive form.

    The closed form it tracks, for epoch t:
        lr_t = eta_min + (initial_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2
    computed as torch does, from the current lr:
        lr_t = eta_min + (lr_{t-1} - eta_min)
                         * (1 + cos(pi * t / T_max)) / (1 + cos(pi * (t - 1) / T_max))
    except where the denominator vanishes (t - 1 - T_max a multiple of 2 T_max), where
        lr_t = lr_{t-1} + (initial_lr - eta_min) * (1 - cos(pi / T_max)) / 2.
    Past T_max the lr climbs back up the cosine, as torch's does.

    Args:
        optimizer: the scratch Optimizer.
        T_max: half-period of the cosine, in epochs (positive).
        eta_min: the smallest lr (default 0.0).
        last_epoch: as in `LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1):
        if not T_max > 0:  # torch would divide by zero at the first step
            raise ValueError(f"invalid T_max {T_max!r}: expected a positive number of epochs")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        # torch also has a closed-form branch for `_step_count == 1 and last_epoch > 0`;
        # its initial step always takes the `_is_initial` branch first, so it never runs.
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if (t - 1 - T) % (2 * T) == 0:
            return [lr + (base_lr - eta_min) * (1 - math.cos(math.pi / T)) / 2
                    for base_lr, lr in zip(self.base_lrs, self._current_lrs(), strict=True)]
        return [(1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
                * (lr - eta_min) + eta_min
                for lr in self._current_lrs()]
