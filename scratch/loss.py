"""Losses with torch's names, arguments, defaults and reductions.

CrossEntropyLoss and NLLLoss (class indices or, for cross entropy, class
probabilities; weight, ignore_index, label_smoothing; (N, C, d1, ..., dK) and
unbatched (C,) inputs), BCELoss and BCEWithLogitsLoss (weight, pos_weight),
MSELoss, L1Loss, HuberLoss, SmoothL1Loss, KLDivLoss (log_target; "batchmean").

`loss_fn(input, target)` returns the loss (a Python float for reduction
"mean"/"sum", an array for "none") and caches what `loss_fn.backward()` needs;
`backward(grad=1.0)` returns dL/dinput, and `backward(grad, target_grad=True)` the pair
(dL/dinput, dL/dtarget) wherever torch differentiates the target (every loss here
but NLLLoss and CrossEntropyLoss with class indices, whose integer targets have no
gradient: those raise ValueError). The math is in
`scratch.functional.loss`; the modules check arguments and shapes. Class
weights and pos_weight are buffers, as in torch, so `state_dict` keys match
the twin's.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from scratch import functional as F
from scratch._checks import check_input, require_forward
from scratch.module import Module

REDUCTIONS = F.REDUCTIONS


def legacy_reduction(size_average, reduce) -> str:
    """torch's `_Reduction.legacy_get_string`: the deprecated pair as a reduction.

    Either left None counts as True; reduce false gives "none", else size_average
    false gives "sum", else "mean". Truthiness, as torch (reduce=0 is false).
    """
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return "mean" if size_average and reduce else "sum" if reduce else "none"


class Loss(Module):
    """Base class of the losses: the reduction ("mean", "sum" or "none") and its gradient.

    Args:
        size_average, reduce: torch's deprecated spelling of `reduction`; either one
            given (not None) overrides `reduction` through `legacy_reduction`, with
            torch's warning.
        reduction: "mean", "sum" or "none" ("elementwise_mean", torch's deprecated
            name of "mean", is accepted with its warning).

    `backward(grad=1.0, *, target_grad=False)`: grad is dL/dloss (a scalar, or the
    per-item losses' shape for "none"); returns dL/dinput, or with target_grad=True
    the pair (dL/dinput, dL/dtarget), where torch differentiates the target.
    """

    reductions = REDUCTIONS  # the reductions this loss takes

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        if size_average is not None or reduce is not None:
            reduction = legacy_reduction(size_average, reduce)
            warnings.warn("size_average and reduce args will be deprecated, please use "
                          f"reduction='{reduction}' instead.", stacklevel=3)
        if reduction == "elementwise_mean":
            warnings.warn("reduction='elementwise_mean' is deprecated. "
                          "Please use reduction='mean' instead.", stacklevel=3)
            reduction = "mean"
        if reduction not in self.reductions:
            raise ValueError(f"{type(self).__name__}: reduction must be one of "
                             f"{self.reductions}, got {reduction!r}")
        self.reduction = reduction
        self._cache = None

    def _reduce(self, per_item: np.ndarray, denom=None):
        out = F.reduce_loss(per_item, self.reduction, denom)
        return out if self.reduction == "none" else float(out)

    def _upstream(self, grad, shape: tuple[int, ...], dtype, denom=None) -> np.ndarray:
        """The gradient arriving at each per-item loss, broadcast to `shape`."""
        g = np.asarray(grad)
        if self.reduction == "none" and g.shape != shape:
            raise ValueError(f"{type(self).__name__}(reduction='none').backward expects grad "
                             f"of shape {shape}, got {g.shape}")
        if self.reduction != "none" and g.ndim != 0:
            raise ValueError(f"{type(self).__name__}.backward expects a scalar grad for "
                             f"reduction={self.reduction!r}, got shape {g.shape}")
        return F.reduction_grad(g, self.reduction, shape, np.dtype(dtype), denom)

    def _no_target_grad(self) -> None:
        raise ValueError(f"{type(self).__name__}.backward(target_grad=True): the target holds "
                         f"class indices, integers, which have no gradient (torch refuses "
                         f"requires_grad on them); only class probabilities have one")

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


def _float_buffer(name: str, owner: str, value) -> np.ndarray | None:
    """An optional weight as a float array (its own float dtype kept, else float32)."""
    if value is None:
        return None
    arr = np.asarray(value)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
            or arr.dtype == np.bool_):
        raise TypeError(f"{owner}: {name} must be a numeric array, got dtype {arr.dtype}")
    return np.array(arr, dtype=arr.dtype if arr.dtype in (np.float32, np.float64)
                    else np.float32)


def _check_ignore_index(owner: str, ignore_index) -> int:
    if isinstance(ignore_index, (bool, np.bool_)) or not isinstance(
            ignore_index, (int, np.integer)):
        raise TypeError(f"{owner}: ignore_index must be an int, got {ignore_index!r}")
    return int(ignore_index)


class _ClassLossCache(NamedTuple):
    kernel: F.CrossEntropyCache | F.NllCache
    unbatched: bool  # the input came as (C,)


class _BinaryCache(NamedTuple):
    input: np.ndarray  # (*)
    target: np.ndarray  # (*), in the input's dtype
    weight: np.ndarray | None  # broadcast to (*)
    pos_weight: np.ndarray | None = None  # broadcast to (*); BCEWithLogitsLoss only


class _ClassLoss(Loss):
    """Shared by CrossEntropyLoss and NLLLoss: class weight, ignore_index, shape checks."""

    def __init__(self, weight, size_average, ignore_index, reduce, reduction):
        super().__init__(size_average, reduce, reduction)
        name = type(self).__name__
        weight = _float_buffer("weight", name, weight)
        if weight is not None and weight.ndim != 1:
            raise ValueError(f"{name}: weight must be 1-D, one value per class (C,), "
                             f"got shape {weight.shape}")
        self.register_buffer("weight", weight)
        self.ignore_index = _check_ignore_index(name, ignore_index)

    def _batched(self, input: np.ndarray, target) -> tuple[np.ndarray, np.ndarray, bool]:
        """Check input (N, C, *d) or (C,) and class-index target (N, *d) or (); return them
        batched, and whether the input was unbatched."""
        name = type(self).__name__
        check_input(input, name, min_ndim=1, shape_doc="(N, C, d1, ..., dK) or (C,)")
        if not isinstance(target, np.ndarray):
            raise TypeError(f"{name} expects target as a numpy.ndarray, "
                            f"got {type(target).__name__}")
        unbatched = input.ndim == 1
        x = input[None] if unbatched else input  # (N, C, *d)
        c = x.shape[1]
        if self.weight is not None and self.weight.shape != (c,):
            raise ValueError(f"{name}: weight should be defined for all {c} classes, shape "
                             f"({c},), or be None; got weight of shape {self.weight.shape}")
        if np.issubdtype(target.dtype, np.floating):
            return x, (target[None] if unbatched else target), unbatched
        expected = input.shape[:0] if unbatched else (x.shape[0], *x.shape[2:])
        if not (np.issubdtype(target.dtype, np.integer) or target.dtype == np.bool_):
            raise TypeError(f"{name} expects integer class indices of shape {expected}, "
                            f"got dtype {target.dtype}; use labels.astype(np.int64)")
        if target.shape != expected:
            raise ValueError(f"{name} expects class-index targets of shape {expected} for input "
                             f"of shape {input.shape}, got {target.shape}")
        t = target.astype(np.int64).reshape((1,) if unbatched else expected)  # (N, *d)
        bad = (t != self.ignore_index) & ((t < 0) | (t >= c))
        if bad.any():
            raise IndexError(f"{name}: target {t[bad][0]} is out of bounds: class indices "
                             f"lie in [0, {c - 1}] (or equal ignore_index={self.ignore_index})")
        return x, t, unbatched

    def _finish(self, per_item: np.ndarray, denom, unbatched: bool):
        per_item = per_item.astype(self._dtype, copy=False)
        self._shape = per_item.shape
        self._denom = denom
        return self._reduce(per_item[0] if unbatched else per_item, denom)

    def _item_grad(self, grad, unbatched: bool) -> np.ndarray:
        shape = self._shape[1:] if unbatched else self._shape
        g = self._upstream(grad, shape, self._dtype, self._denom)
        return g.reshape(self._shape)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, ignore_index={self.ignore_index}"


class CrossEntropyLoss(_ClassLoss):
    """Softmax cross entropy on logits, as `torch.nn.CrossEntropyLoss`.

    With class indices t and weights w (ones if None), eps = label_smoothing:
        loss_i = -(1 - eps) w[t_i] log p_i[t_i] - (eps / C) sum_c w_c log p_i[c],
    p = softmax over the class dim, and loss_i = 0 where t_i == ignore_index.
    "mean" divides the sum by sum_i w[t_i] over the items not ignored (for the
    smoothing term too, as torch); NaN when every item is ignored.

    With class probabilities q (a float target of the input's shape):
        loss_i = -sum_c w_c ((1 - eps) q_ic + eps / C) log p_ic,
    "mean" divides by the number of items (N * d1 * ... * dK); ignore_index must
    stay negative (torch refuses it with probabilities).

    Args:
        weight: (C,) rescaling of each class, or None.
        size_average, reduce: torch's deprecated spelling of `reduction`.
        ignore_index: a target value that contributes neither loss nor gradient.
        reduction: "mean" (default), "sum" or "none".
        label_smoothing: eps in [0, 1].

    Shape:
        input (N, C), (N, C, d1, ..., dK) or unbatched (C,) logits;
        target (N), (N, d1, ..., dK) or () integers in [0, C), or class
        probabilities of the input's shape -> scalar, or the target's shape
        less the class dim for "none".

    The gradient is the fused form (softmax(x) sum_c a_c - a) for the coefficient
    vector a above, exact and free of divisions by probabilities. With class
    probabilities, backward(grad, target_grad=True) also gives
    dL/dq = -(1 - eps) w log p (over the mean's denominator for "mean").
    """

    def __init__(self, weight: np.ndarray | None = None, size_average=None,
                 ignore_index: int = -100, reduce=None, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__(weight, size_average, ignore_index, reduce, reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    def forward(self, input: np.ndarray, target: np.ndarray):
        x, t, unbatched = self._batched(input, target)
        if np.issubdtype(t.dtype, np.floating) and t.shape != x.shape:
            raise ValueError(f"CrossEntropyLoss expects class probabilities of the input's shape "
                             f"{input.shape}, got target of shape {target.shape}")
        if np.issubdtype(t.dtype, np.floating) and self.ignore_index >= 0:
            raise ValueError(f"CrossEntropyLoss: ignore_index={self.ignore_index} is not "
                             "supported for class-probability (floating point) targets")
        self._dtype = x.dtype
        per_item, denom, cache = F.cross_entropy_forward(x, t, self.weight, self.ignore_index,
                                                         self.label_smoothing)
        self._cache = _ClassLossCache(cache, unbatched)
        return self._finish(per_item, denom, unbatched)

    def backward(self, grad=1.0, *, target_grad: bool = False):
        cache, unbatched = require_forward(self._cache, "CrossEntropyLoss")
        g = self._item_grad(grad, unbatched)
        dx = F.cross_entropy_backward(g, cache)
        if not target_grad:
            return dx[0] if unbatched else dx
        if cache.coefficients is None:
            self._no_target_grad()
        dq = F.cross_entropy_target_backward(g, cache)
        return (dx[0], dq[0]) if unbatched else (dx, dq)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, label_smoothing={self.label_smoothing}"


class NLLLoss(_ClassLoss):
    """Negative log-likelihood of log-probabilities, as `torch.nn.NLLLoss`.

        loss_i = -w[t_i] x_i[t_i],  0 where t_i == ignore_index;
    "mean" divides the sum by sum_i w[t_i] over the items not ignored.

    Args:
        weight: (C,) rescaling of each class, or None.
        size_average, reduce: torch's deprecated spelling of `reduction`.
        ignore_index: a target value that contributes neither loss nor gradient.
        reduction: "mean" (default), "sum" or "none".

    Shape: input (N, C), (N, C, d1, ..., dK) or (C,) log-probabilities; target
    (N), (N, d1, ..., dK) or () integers in [0, C) -> scalar, or the target's
    shape for "none".
    """

    def __init__(self, weight: np.ndarray | None = None, size_average=None,
                 ignore_index: int = -100, reduce=None, reduction: str = "mean"):
        super().__init__(weight, size_average, ignore_index, reduce, reduction)

    def forward(self, input: np.ndarray, target: np.ndarray):
        x, t, unbatched = self._batched(input, target)
        if np.issubdtype(t.dtype, np.floating):
            raise TypeError(f"NLLLoss expects integer class indices, got dtype {t.dtype} "
                            "(class probabilities are CrossEntropyLoss's)")
        self._dtype = x.dtype
        per_item, denom, cache = F.nll_forward(x, t, self.weight, self.ignore_index)
        self._cache = _ClassLossCache(cache, unbatched)
        return self._finish(per_item, denom, unbatched)

    def backward(self, grad=1.0, *, target_grad: bool = False):
        cache, unbatched = require_forward(self._cache, "NLLLoss")
        if target_grad:
            self._no_target_grad()
        dx = F.nll_backward(self._item_grad(grad, unbatched), cache)
        return dx[0] if unbatched else dx


def _check_same_shape(name: str, input, target) -> np.ndarray:
    """Check input and target (same shape; torch's broadcasting of a different target, which
    it warns about, is refused here) and return target in the input's dtype."""
    check_input(input, name)
    if not isinstance(target, np.ndarray):
        raise TypeError(f"{name} expects target as a numpy.ndarray of shape {input.shape}, "
                        f"got {type(target).__name__}")
    if target.shape != input.shape:
        raise ValueError(f"{name} expects target of the input's shape {input.shape}, "
                         f"got {target.shape}")
    return target.astype(input.dtype, copy=False)


def _broadcast_weight(owner: str, name: str, weight: np.ndarray | None,
                      shape: tuple[int, ...], dtype) -> np.ndarray | None:
    """weight broadcast to the input's shape (torch: it may not enlarge the output)."""
    if weight is None:
        return None
    try:
        return np.broadcast_to(weight.astype(dtype, copy=False), shape)
    except ValueError:
        raise ValueError(f"{owner}: {name} of shape {weight.shape} does not broadcast to the "
                         f"input's shape {shape}") from None


class _Elementwise(Loss):
    """An elementwise loss f(input - target) with its derivative: MSE, L1, Huber, SmoothL1.
    The target's gradient is minus the input's: d/dt f(x - t) = -f'(x - t)."""

    def _pointwise(self, diff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def forward(self, input: np.ndarray, target: np.ndarray):
        t = _check_same_shape(type(self).__name__, input, target)
        loss, slope = self._pointwise(input - t)
        self._cache = slope
        return self._reduce(loss)

    def backward(self, grad=1.0, *, target_grad: bool = False):
        slope = require_forward(self._cache, type(self).__name__)
        dx = slope * self._upstream(grad, slope.shape, slope.dtype)
        return (dx, -dx) if target_grad else dx


class MSELoss(_Elementwise):
    """Mean squared error (x - t)^2, as `torch.nn.MSELoss`.

    Shape: input (*), target (*) the same shape -> scalar, or (*) for "none".
    """

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)

    def _pointwise(self, diff):
        return F.mse(diff)


class L1Loss(_Elementwise):
    """Mean absolute error |x - t|, as `torch.nn.L1Loss`; gradient sign(x - t), 0 at a tie.

    Shape: input (*), target (*) the same shape -> scalar, or (*) for "none".
    """

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)

    def _pointwise(self, diff):
        return F.l1(diff)


class HuberLoss(_Elementwise):
    """Huber loss, as `torch.nn.HuberLoss`: with d = x - t,
        0.5 d^2 where |d| < delta,  delta (|d| - 0.5 delta) elsewhere.

    Args:
        reduction: "mean" (default), "sum" or "none" (torch's HuberLoss has no
            size_average / reduce).
        delta: where the quadratic turns linear; positive.

    Shape: input (*), target (*) the same shape -> scalar, or (*) for "none".
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction=reduction)
        if not delta > 0:
            raise ValueError(f"HuberLoss: delta must be positive, got {delta}")
        self.delta = float(delta)

    def _pointwise(self, diff):
        return F.huber(diff, self.delta)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, delta={self.delta}"


class SmoothL1Loss(_Elementwise):
    """Smooth L1 loss, as `torch.nn.SmoothL1Loss`: with d = x - t,
        0.5 d^2 / beta where |d| < beta,  |d| - 0.5 beta elsewhere;
    beta = 0 is L1Loss exactly (and so is its gradient).

    Args:
        size_average, reduce: torch's deprecated spelling of `reduction`.
        reduction: "mean" (default), "sum" or "none".
        beta: where the quadratic turns linear; >= 0.

    Shape: input (*), target (*) the same shape -> scalar, or (*) for "none".
    """

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean",
                 beta: float = 1.0):
        super().__init__(size_average, reduce, reduction)
        if not beta >= 0:
            raise ValueError(f"SmoothL1Loss: beta must be >= 0, got {beta}")
        self.beta = float(beta)

    def _pointwise(self, diff):
        return F.smooth_l1(diff, self.beta)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, beta={self.beta}"


class BCELoss(Loss):
    """Binary cross entropy on probabilities, as `torch.nn.BCELoss`:
        loss = -w (t log x + (1 - t) log(1 - x)),
    each log clamped at -100 (so x = 0 or 1 gives a finite loss), as torch.
    The gradient is torch's, w (x - t) / max(x (1 - x), 1e-12); the target's (with
    target_grad=True) is torch's too, -w logit(x), infinite at x = 0 and 1.

    Args:
        weight: rescaling of each element, broadcast to the input's shape; or None.
        size_average, reduce: torch's deprecated spelling of `reduction`.
        reduction: "mean" (default), "sum" or "none".

    Shape: input (*) in [0, 1], target (*) in [0, 1] -> scalar, or (*) for "none".
    """

    def __init__(self, weight: np.ndarray | None = None, size_average=None, reduce=None,
                 reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _float_buffer("weight", "BCELoss", weight))

    def forward(self, input: np.ndarray, target: np.ndarray):
        t = _check_same_shape("BCELoss", input, target)
        if input.size and not (input.min() >= 0 and input.max() <= 1):  # NaN fails too
            raise ValueError("BCELoss: all elements of input should be between 0 and 1, got "
                             f"values in [{input.min()}, {input.max()}]")
        if t.size and not (t.min() >= 0 and t.max() <= 1):
            raise ValueError("BCELoss: all elements of target should be between 0 and 1, got "
                             f"values in [{t.min()}, {t.max()}]")
        w = _broadcast_weight("BCELoss", "weight", self.weight, input.shape, input.dtype)
        self._cache = _BinaryCache(input, t, w)
        return self._reduce(F.bce_forward(input, t, w))

    def backward(self, grad=1.0, *, target_grad: bool = False):
        x, t, w, _ = require_forward(self._cache, "BCELoss")
        g = self._upstream(grad, x.shape, x.dtype)
        dx = F.bce_backward(g, x, t, w)
        return (dx, F.bce_target_backward(g, x, w)) if target_grad else dx


class BCEWithLogitsLoss(Loss):
    """Sigmoid + binary cross entropy in one stable step, as `torch.nn.BCEWithLogitsLoss`.

    loss = w ((1 - t) x + l (log(1 + exp(-|x|)) + max(-x, 0))), l = 1 + (pos_weight - 1) t,
    which never exponentiates a positive number. The target's gradient (target_grad=True)
    is w (pos_weight softplus(-x) - softplus(x)), -w x without pos_weight.

    Args:
        weight: rescaling of each element, broadcast to the input's shape; or None.
        size_average, reduce: torch's deprecated spelling of `reduction`.
        reduction: "mean", "sum" or "none".
        pos_weight: weight of the positive term, broadcast to the input's shape (a
            (C,) vector weighs each class of the last dim); or None.

    Shape: input (*) logits, target (*) in [0, 1] -> scalar, or (*) for "none".
    """

    def __init__(self, weight: np.ndarray | None = None, size_average=None, reduce=None,
                 reduction: str = "mean", pos_weight: np.ndarray | None = None):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _float_buffer("weight", "BCEWithLogitsLoss", weight))
        self.register_buffer("pos_weight",
                             _float_buffer("pos_weight", "BCEWithLogitsLoss", pos_weight))

    def forward(self, input: np.ndarray, target: np.ndarray):
        t = _check_same_shape("BCEWithLogitsLoss", input, target)
        w = _broadcast_weight("BCEWithLogitsLoss", "weight", self.weight, input.shape,
                              input.dtype)
        pw = _broadcast_weight("BCEWithLogitsLoss", "pos_weight", self.pos_weight, input.shape,
                               input.dtype)
        self._cache = _BinaryCache(input, t, w, pw)
        return self._reduce(F.bce_with_logits_forward(input, t, w, pw))

    def backward(self, grad=1.0, *, target_grad: bool = False):
        x, t, w, pw = require_forward(self._cache, "BCEWithLogitsLoss")
        g = self._upstream(grad, x.shape, x.dtype)
        dx = F.bce_with_logits_backward(g, x, t, w, pw)
        return (dx, F.bce_with_logits_target_backward(g, x, w, pw)) if target_grad else dx


class _KLDivCache(NamedTuple):
    input: np.ndarray  # (*) log-probabilities
    target: np.ndarray  # (*) probabilities, or log-probabilities with log_target


class KLDivLoss(Loss):
    """The Kullback-Leibler divergence of the target from the input, as `torch.nn.KLDivLoss`.

    With x the input (log-probabilities) and t the target (probabilities):
        loss = t (log t - x), 0 where t = 0;  with log_target=True, exp(t) (t - x).
    dL/dx = -t (-exp(t)); the target's gradient (target_grad=True) is log t + 1 - x
    (exp(t) (t - x + 1)), NaN at t = 0 as torch's.

    Args:
        size_average, reduce: torch's deprecated spelling of `reduction`.
        reduction: "mean" (default: over every element, with torch's warning that
            "batchmean" is KL's definition), "batchmean" (the sum over the batch size,
            dim 0), "sum" or "none".
        log_target: the target holds log-probabilities (default False).

    Shape: input (*), target (*) the same shape -> scalar, or (*) for "none".
    """

    reductions = REDUCTIONS + ("batchmean",)

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean",
                 log_target: bool = False):
        super().__init__(size_average, reduce, reduction)
        self.log_target = bool(log_target)

    def forward(self, input: np.ndarray, target: np.ndarray):
        t = _check_same_shape("KLDivLoss", input, target)
        if self.reduction == "mean":
            warnings.warn("reduction: 'mean' divides the total loss by both the batch size and "
                          "the support size.'batchmean' divides only by the batch size, and "
                          "aligns with the KL div math definition.'mean' will be changed to "
                          "behave the same as 'batchmean' in the next major release.",
                          stacklevel=2)
        self._cache = _KLDivCache(input, t)
        return self._reduce(F.kl_div_forward(input, t, self.log_target))

    def backward(self, grad=1.0, *, target_grad: bool = False):
        x, t = require_forward(self._cache, "KLDivLoss")
        g = self._upstream(grad, x.shape, x.dtype)
        dx = F.kl_div_backward(g, t, self.log_target)
        if not target_grad:
            return dx
        return dx, F.kl_div_target_backward(g, x, t, self.log_target)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, log_target={self.log_target}"
