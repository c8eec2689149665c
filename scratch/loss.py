"""Losses: CrossEntropyLoss, MSELoss, BCEWithLogitsLoss, with torch's reductions.

`loss_fn(input, target)` returns the loss (a Python float for reduction
"mean"/"sum", an array for "none") and caches what `loss_fn.backward()` needs;
`backward(grad=1.0)` returns dL/dinput. Log-probabilities go through
log-sum-exp, so logits of +-1e4 give finite losses and gradients.
"""

from __future__ import annotations

import warnings

import numpy as np

from scratch._checks import check_input, require_forward
from scratch.functional.activation import sigmoid
from scratch.module import Module

REDUCTIONS = ("mean", "sum", "none")


def _not_yet(name: str, **given_and_default) -> None:
    """Refuse an argument torch takes that scratch does not implement yet, naming it."""
    for arg, (value, default) in given_and_default.items():
        if (value is not None) if default is None else (value != default):
            raise NotImplementedError(f"{name}: {arg}={value!r} is not implemented yet")


class Loss(Module):
    """Base class of the losses: the reduction ("mean", "sum" or "none") and its gradient."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        if size_average is not None or reduce is not None:
            # torch's deprecated pair: reduce=False wins, then size_average picks mean/sum.
            reduction = ("none" if reduce is False else
                         "sum" if size_average is False else "mean")
            warnings.warn("size_average and reduce args will be deprecated, please use "
                          f"reduction='{reduction}' instead.", stacklevel=3)
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction
        self._cache = None

    def _reduce(self, per_item: np.ndarray):
        if self.reduction == "none":
            return per_item
        total = per_item.sum() if self.reduction == "sum" else per_item.mean()
        return float(total)

    def _upstream(self, grad, shape: tuple[int, ...], dtype) -> np.ndarray:
        """The gradient arriving at each per-item loss, broadcast to `shape`."""
        g = np.asarray(grad, dtype=dtype)
        if self.reduction == "none":
            if g.shape != shape:
                raise ValueError(f"{type(self).__name__}(reduction='none').backward expects grad "
                                 f"of shape {shape}, got {g.shape}")
            return g
        if g.ndim != 0:
            raise ValueError(f"{type(self).__name__}.backward expects a scalar grad for "
                             f"reduction={self.reduction!r}, got shape {g.shape}")
        n = int(np.prod(shape)) if self.reduction == "mean" else 1
        return np.broadcast_to(g / dtype.type(max(n, 1)), shape)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """x - logsumexp(x): exact for any finite logits, however large."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _check_class_targets(target, n: int, num_classes: int) -> np.ndarray:
    if not isinstance(target, np.ndarray):
        raise TypeError(f"CrossEntropyLoss expects integer class targets as a numpy.ndarray "
                        f"of shape ({n},), got {type(target).__name__}")
    if not np.issubdtype(target.dtype, np.integer):
        raise TypeError(f"CrossEntropyLoss expects integer class indices of shape ({n},), "
                        f"got dtype {target.dtype}; use labels.astype(np.int64)")
    if target.shape != (n,):
        raise ValueError(f"CrossEntropyLoss expects targets of shape ({n},) for logits with "
                         f"{n} rows, got {target.shape}")
    if n and (target.min() < 0 or target.max() >= num_classes):
        bad = target[(target < 0) | (target >= num_classes)][0]
        raise ValueError(f"CrossEntropyLoss targets must lie in [0, {num_classes - 1}] for "
                         f"{num_classes} classes, got {bad}")
    return target


class CrossEntropyLoss(Loss):
    """Softmax cross entropy on logits and integer class targets, as `torch.nn.CrossEntropyLoss`.

    Args:
        weight, ignore_index: torch's; only the defaults (None, -100) so far,
            anything else raises NotImplementedError.
        size_average, reduce: torch's deprecated spelling of `reduction` (with its warning).
        reduction: "mean" (default, over the batch), "sum" or "none".
        label_smoothing: eps in [0, 1]; the target distribution becomes
            (1 - eps) * one_hot + eps / C.

    Shape:
        input (N, C) logits, target (N,) integers in [0, C) -> scalar, or (N,) for "none".

    The gradient is the fused form softmax(x) - q (q the smoothed one-hot),
    which is exact and avoids dividing by probabilities.
    """

    def __init__(self, weight: np.ndarray | None = None, size_average=None,
                 ignore_index: int = -100, reduce=None, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__(size_average, reduce, reduction)
        _not_yet("CrossEntropyLoss", weight=(weight, None), ignore_index=(ignore_index, -100))
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    def forward(self, input: np.ndarray, target: np.ndarray):
        check_input(input, "CrossEntropyLoss", ndim=2, shape_doc="(N, C)")
        n, c = input.shape
        target = _check_class_targets(target, n, c)
        logp = log_softmax(input, axis=1)  # (N, C)
        eps = self.label_smoothing
        nll = -logp[np.arange(n), target]  # (N,)
        per_item = (1 - eps) * nll - (eps / c) * logp.sum(axis=1) if eps else nll
        self._cache = (logp, target)
        return self._reduce(per_item.astype(input.dtype, copy=False))

    def backward(self, grad=1.0) -> np.ndarray:
        logp, target = require_forward(self._cache, "CrossEntropyLoss")
        n, c = logp.shape
        g = self._upstream(grad, (n,), logp.dtype)  # (N,)
        q = np.full_like(logp, self.label_smoothing / c)  # smoothed one-hot, (N, C)
        q[np.arange(n), target] += 1 - self.label_smoothing
        return (np.exp(logp) - q) * g[:, None]

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, label_smoothing={self.label_smoothing}"


def _check_same_shape(name: str, input, target) -> None:
    check_input(input, name)
    if not isinstance(target, np.ndarray):
        raise TypeError(f"{name} expects target as a numpy.ndarray of shape {input.shape}, "
                        f"got {type(target).__name__}")
    if target.shape != input.shape:
        raise ValueError(f"{name} expects target of the input's shape {input.shape}, "
                         f"got {target.shape}")


class MSELoss(Loss):
    """Mean squared error (x - t)^2, as `torch.nn.MSELoss`.

    Shape: input (*), target (*) the same shape -> scalar, or (*) for "none".
    """

    def forward(self, input: np.ndarray, target: np.ndarray):
        _check_same_shape("MSELoss", input, target)
        diff = input - target.astype(input.dtype, copy=False)
        self._cache = diff
        return self._reduce(diff * diff)

    def backward(self, grad=1.0) -> np.ndarray:
        diff = require_forward(self._cache, "MSELoss")
        return 2 * diff * self._upstream(grad, diff.shape, diff.dtype)


class BCEWithLogitsLoss(Loss):
    """Sigmoid + binary cross entropy in one stable step, as `torch.nn.BCEWithLogitsLoss`.

    loss = (1 - t) x + w (log(1 + exp(-|x|)) + max(-x, 0)), w = 1 + (pos_weight - 1) t,
    which never exponentiates a positive number.

    Args:
        weight: torch's per-element rescaling; only None so far (NotImplementedError).
        size_average, reduce: torch's deprecated spelling of `reduction` (with its warning).
        reduction: "mean", "sum" or "none".
        pos_weight: optional weight of positive examples, broadcast over the last dim.

    Shape: input (*) logits, target (*) in [0, 1] -> scalar, or (*) for "none".
    """

    def __init__(self, weight: np.ndarray | None = None, size_average=None, reduce=None,
                 reduction: str = "mean", pos_weight: np.ndarray | None = None):
        super().__init__(size_average, reduce, reduction)
        _not_yet("BCEWithLogitsLoss", weight=(weight, None))
        # A buffer, as in torch, so state_dict keys match the twin's.
        self.register_buffer("pos_weight", None if pos_weight is None else np.asarray(
            pos_weight, dtype=np.result_type(np.asarray(pos_weight).dtype, np.float32)))

    def forward(self, input: np.ndarray, target: np.ndarray):
        _check_same_shape("BCEWithLogitsLoss", input, target)
        x, t = input, target.astype(input.dtype, copy=False)
        w = 1 if self.pos_weight is None else 1 + (self.pos_weight.astype(x.dtype) - 1) * t
        softplus_neg = np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0)  # log(1 + e^-x)
        self._cache = (x, t, w)
        return self._reduce((1 - t) * x + w * softplus_neg)

    def backward(self, grad=1.0) -> np.ndarray:
        x, t, w = require_forward(self._cache, "BCEWithLogitsLoss")
        # d/dx [(1-t) x + w softplus(-x)] = (1 - t) - w sigmoid(-x)
        d = (1 - t) - w * sigmoid(-x)
        return d * self._upstream(grad, x.shape, x.dtype)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, pos_weight={self.pos_weight}"
