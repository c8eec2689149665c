"""The math of the losses: per-item losses, torch's reductions, and each gradient beside it.

Every loss here is a forward / backward pair. Forward returns the per-item
loss (the reduction="none" output), the denominator of its "mean" and what
backward needs; backward takes the upstream gradient of each per-item loss
(`reduction_grad` turns the caller's scalar into that) and returns dL/dinput.
Where torch differentiates the target too, a `*_target_backward` returns dL/dtarget
(the elementwise losses' is minus their input gradient, as d/dt f(x - t) = -f'(x - t)).

    reduce_loss, reduction_grad          "mean" / "sum" / "none" and its gradient
    cross_entropy_forward / _backward    class indices or class probabilities,
      / _target_backward                 weight, ignore_index, label_smoothing
    nll_forward / _backward              negative log-likelihood of log-probabilities
    bce_forward / _backward              binary cross entropy on probabilities
      / _target_backward
    bce_with_logits_forward / _backward  sigmoid + BCE in one stable step, pos_weight
      / _target_backward
    l1, mse, huber, smooth_l1            elementwise regression losses, (loss, grad) pairs
    kl_div_forward / _backward           KL divergence of a target from log-probabilities,
      / _target_backward                 log_target; "batchmean" is `mean_denominator`'s

Shapes: class losses take input (N, C, d1, ..., dK) with class targets
(N, d1, ..., dK), or an unbatched (C,) input with a 0-d target; the caller
(`scratch.loss`) validates them. Elementwise losses take input and target of
one shape (*).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scratch.functional.activation import log_softmax, sigmoid

REDUCTIONS = ("mean", "sum", "none")


# --- reductions -------------------------------------------------------------------------

def reduce_loss(per_item: np.ndarray, reduction: str, denom=None):
    """per_item as is ("none"), its sum ("sum"), or sum / denom ("mean", "batchmean").

    denom defaults to `mean_denominator`: the number of items (a plain mean), the batch
    size for "batchmean"; the class losses pass the sum of the target weights, as torch's
    weighted mean. An empty mean is NaN, as in torch.
    """
    if reduction == "none":
        return per_item
    if reduction == "sum":
        return per_item.sum()
    if denom is None:
        denom = mean_denominator(per_item.shape, reduction)
    with np.errstate(invalid="ignore", divide="ignore"):  # 0 / 0 -> NaN, as torch
        return per_item.sum() / per_item.dtype.type(denom)


def reduction_grad(grad, reduction: str, shape: tuple[int, ...], dtype, denom=None) -> np.ndarray:
    """d reduce_loss / d per_item times the upstream `grad`, broadcast to `shape`.

    The caller has checked that grad has `shape` ("none") or is a scalar.
    """
    g = np.asarray(grad, dtype=dtype)
    if reduction == "none":
        return g
    if reduction in ("mean", "batchmean"):
        with np.errstate(invalid="ignore", divide="ignore"):
            g = g / dtype.type(mean_denominator(shape, reduction) if denom is None else denom)
    return np.broadcast_to(g, shape)


def per_item_count(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape))


def mean_denominator(shape: tuple[int, ...], reduction: str) -> int:
    """What "mean" divides the sum by: the number of items; "batchmean" (KLDivLoss's) the
    batch size, shape[0], and 1 for a 0-d loss, as torch."""
    if reduction == "batchmean":
        return shape[0] if shape else 1
    return per_item_count(shape)


# --- class losses ---------------------------------------------------------------------------

def _class_view(weight: np.ndarray, ndim: int) -> np.ndarray:
    """(C,) -> (1, C, 1, ..., 1): broadcast along the class axis of an (N, C, *d) array."""
    return weight.reshape((1, -1) + (1,) * (ndim - 2))


class CrossEntropyCache(NamedTuple):
    """What `cross_entropy_backward` needs: the coefficients a themselves for class
    probabilities; for class indices what builds them (a is mostly zeros, built only if
    backward runs)."""

    logp: np.ndarray  # log softmax(x) (N, C, *d)
    coefficients: np.ndarray | None  # a (N, C, *d), class probabilities only
    target: np.ndarray | None  # (N, 1, *d) class indices, 0 where ignored
    target_weight: np.ndarray | None  # w[t] (N, 1, *d), 0 where ignored
    keep: np.ndarray | None  # (N, *d) bool, the items not ignored
    weight: np.ndarray | None  # (1, C, 1, ..., 1) class weights, or None
    label_smoothing: float


def cross_entropy_forward(input: np.ndarray, target: np.ndarray, weight: np.ndarray | None,
                          ignore_index: int, label_smoothing: float):
    """Softmax cross entropy, torch's definition with every option.

    With class indices t (N, *d) and class weights w (all ones if None), each
    item whose target is not ignore_index has the coefficient vector over classes
        a = (1 - eps) w[t] onehot(t) + (eps / C) w
    and the loss -sum_c a_c log softmax(x)_c; ignored items have a = 0. The mean
    divides by sum of w[t] over the items not ignored (torch's weighted mean, which
    it uses for the smoothing term too).

    With class probabilities q (input's shape, floating) there is no ignore_index:
        a = w * ((1 - eps) q + eps / C)
    and the mean divides by the number of items, N * d1 * ... * dK.

    Returns (per_item (N, *d), mean denominator, cache for the backward).
    """
    c = input.shape[1]
    logp = log_softmax(input, 1)  # (N, C, *d)
    w = None if weight is None else _class_view(weight.astype(input.dtype, copy=False), input.ndim)
    eps = label_smoothing
    if np.issubdtype(target.dtype, np.floating):
        q = target.astype(input.dtype, copy=False)  # (N, C, *d)
        if eps > 0:
            q = q * (1 - eps) + eps / c
        a = q if w is None else q * w  # (N, C, *d)
        per_item = -(logp * a).sum(axis=1)  # (N, *d)
        return per_item, per_item.size, CrossEntropyCache(logp, a, None, None, None, w, eps)

    keep = target != ignore_index  # (N, *d)
    t = np.where(keep, target, 0)[:, None]  # (N, 1, *d): a valid index where ignored
    w_t = keep[:, None].astype(input.dtype)  # (N, 1, *d): w[t], 0 where ignored
    if w is not None:
        w_t *= np.take_along_axis(np.broadcast_to(w, (1, c) + t.shape[2:]), t, axis=1)
    per_item = -np.take_along_axis(logp, t, axis=1) * w_t  # (N, 1, *d)
    if eps > 0:
        smooth = -(logp if w is None else logp * w).sum(axis=1, keepdims=True)  # (N, 1, *d)
        per_item = (1 - eps) * per_item + (eps / c) * (smooth * keep[:, None])
    return per_item[:, 0], w_t.sum(), CrossEntropyCache(logp, None, t, w_t, keep, w, eps)


def cross_entropy_backward(grad_item: np.ndarray, cache: CrossEntropyCache) -> np.ndarray:
    """dL/dx = (softmax(x) * sum_c a_c - a) * g, with a from `cross_entropy_forward` and
    g (N, *d) the upstream gradient of each item's loss."""
    logp, a = cache.logp, cache.coefficients
    c = logp.shape[1]
    if a is None:  # class indices: build the coefficients a (N, C, *d)
        t, w_t, keep, w = cache.target, cache.target_weight, cache.keep, cache.weight
        eps = cache.label_smoothing
        if eps > 0:
            base = np.broadcast_to(w if w is not None else np.ones((1,) * logp.ndim, logp.dtype),
                                   logp.shape)
            a = (eps / c) * base * keep[:, None]  # (N, C, *d)
        else:
            a = np.zeros_like(logp)
        a = np.array(a, dtype=logp.dtype)
        np.put_along_axis(a, t, np.take_along_axis(a, t, axis=1) + (1 - eps) * w_t, axis=1)
        grad_item = np.where(keep, grad_item, 0)  # torch: ignored items get 0, even from NaN
    g = grad_item[:, None]  # (N, 1, *d)
    return (np.exp(logp) * a.sum(axis=1, keepdims=True) - a) * g


def cross_entropy_target_backward(grad_item: np.ndarray, cache: CrossEntropyCache
                                  ) -> np.ndarray:
    """dL/dq = -(1 - eps) w log softmax(x) g for class probabilities q (N, C, *d), g (N, *d)
    the upstream gradient of each item's loss: the loss is linear in q."""
    if cache.coefficients is None:
        raise ValueError("cross_entropy_target_backward: class-index targets have no gradient")
    d = cache.logp * -(1 - cache.label_smoothing)  # (N, C, *d)
    if cache.weight is not None:
        d = d * cache.weight
    return d * grad_item[:, None]


class NllCache(NamedTuple):
    """What `nll_backward` needs from `nll_forward`."""

    shape: tuple[int, ...]  # the input's (N, C, *d)
    dtype: np.dtype
    target: np.ndarray  # (N, 1, *d) class indices, 0 where ignored
    target_weight: np.ndarray  # w[t] (N, 1, *d), 0 where ignored
    keep: np.ndarray  # (N, *d) bool, the items not ignored


def nll_forward(input: np.ndarray, target: np.ndarray, weight: np.ndarray | None,
                ignore_index: int):
    """Negative log-likelihood: -w[t] x[t] per item (0 where t == ignore_index).

    input (N, C, *d) log-probabilities, target (N, *d) class indices. Returns
    (per_item (N, *d), the mean's denominator sum w[t] over kept items, cache).
    """
    c = input.shape[1]
    keep = target != ignore_index  # (N, *d)
    t = np.where(keep, target, 0)[:, None]  # (N, 1, *d)
    w_t = keep[:, None].astype(input.dtype)  # (N, 1, *d)
    if weight is not None:
        w = _class_view(weight.astype(input.dtype, copy=False), input.ndim)
        w_t *= np.take_along_axis(np.broadcast_to(w, (1, c) + t.shape[2:]), t, axis=1)
    per_item = -np.take_along_axis(input, t, axis=1) * w_t  # (N, 1, *d)
    return per_item[:, 0], w_t.sum(), NllCache(input.shape, input.dtype, t, w_t, keep)


def nll_backward(grad_item: np.ndarray, cache: NllCache) -> np.ndarray:
    """dL/dx = -w[t] g at the target class, 0 elsewhere and at ignored items."""
    shape, dtype, t, w_t, keep = cache
    dx = np.zeros(shape, dtype)  # (N, C, *d)
    g = np.where(keep, grad_item, 0)[:, None]  # torch: ignored items get 0, even from NaN
    np.put_along_axis(dx, t, -w_t * g, axis=1)
    return dx


# --- binary losses --------------------------------------------------------------------------

LOG_CLAMP = -100.0  # torch's binary_cross_entropy clamps each log at -100
# ... and its backward divides by max(x (1 - x), 1e-12), that 1e-12 a float32 constant in
# torch (9.99999996e-13), in float64 too: -1e12 would differ from torch's by 4e-9 relative.
BCE_GRAD_EPS = np.float32(1e-12)


def bce_forward(x: np.ndarray, t: np.ndarray, weight: np.ndarray | None):
    """-w (t log x + (1 - t) log(1 - x)), each log clamped at -100 as torch, x in [0, 1]."""
    with np.errstate(divide="ignore"):  # log(0) = -inf, clamped next
        log_x = np.maximum(np.log(x), LOG_CLAMP)
        log_1mx = np.maximum(np.log1p(-x), LOG_CLAMP)
    loss = -(t * log_x + (1 - t) * log_1mx)  # (*)
    if weight is not None:
        loss = loss * weight
    return loss


def bce_backward(grad_item: np.ndarray, x: np.ndarray, t: np.ndarray,
                 weight: np.ndarray | None) -> np.ndarray:
    """torch's gradient: w (x - t) / max(x (1 - x), 1e-12) times g.

    It is the derivative of the unclamped loss, kept finite at x = 0 and 1
    (where the clamped loss is flat): torch's choice, followed for parity.
    """
    d = (x - t) / np.maximum((1 - x) * x, x.dtype.type(BCE_GRAD_EPS))
    if weight is not None:
        d = d * weight
    return d * grad_item


def bce_target_backward(grad_item: np.ndarray, x: np.ndarray,
                        weight: np.ndarray | None) -> np.ndarray:
    """dL/dt = -w logit(x) g = -w log(x / (1 - x)) g, torch's: the derivative of the
    unclamped loss, so +inf at x = 0 and -inf at x = 1."""
    with np.errstate(divide="ignore"):  # x = 0 or 1: an infinite logit, as torch's
        d = -np.log(x / (1 - x))
    if weight is not None:
        d = d * weight
    return d * grad_item


def bce_with_logits_forward(x: np.ndarray, t: np.ndarray, weight: np.ndarray | None,
                            pos_weight: np.ndarray | None):
    """loss = w ((1 - t) x + l (log(1 + exp(-|x|)) + max(-x, 0))), l = 1 + (pos_weight - 1) t.

    The second factor is softplus(-x) = -log sigmoid(x), written so that exp only
    ever sees -|x|.
    """
    softplus_neg = _softplus_neg(x)  # (*)
    if pos_weight is None:
        loss = (1 - t) * x + softplus_neg
    else:
        loss = (1 - t) * x + (1 + (pos_weight - 1) * t) * softplus_neg
    if weight is not None:
        loss = loss * weight
    return loss


def _softplus_neg(x: np.ndarray) -> np.ndarray:
    """softplus(-x) = log(1 + exp(-x)) = -log sigmoid(x), with exp only of -|x|."""
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0)


def bce_with_logits_backward(grad_item: np.ndarray, x: np.ndarray, t: np.ndarray,
                             weight: np.ndarray | None,
                             pos_weight: np.ndarray | None) -> np.ndarray:
    """d/dx [(1 - t) x + l softplus(-x)] = (1 - t) - l sigmoid(-x), times w and g."""
    lw = 1 if pos_weight is None else 1 + (pos_weight - 1) * t
    d = (1 - t) - lw * sigmoid(-x)
    if weight is not None:
        d = d * weight
    return d * grad_item


def bce_with_logits_target_backward(grad_item: np.ndarray, x: np.ndarray,
                                    weight: np.ndarray | None,
                                    pos_weight: np.ndarray | None) -> np.ndarray:
    """d/dt [(1 - t) x + l softplus(-x)] = pos_weight softplus(-x) - softplus(x), which is
    -x without pos_weight (torch's two forms), times w and g."""
    d = -x if pos_weight is None else pos_weight * _softplus_neg(x) - _softplus_neg(-x)
    if weight is not None:
        d = d * weight
    return d * grad_item


# --- elementwise regression losses ----------------------------------------------------------

def mse(diff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(d^2, dloss/dd = 2 d) for d = input - target."""
    return diff * diff, 2 * diff


def l1(diff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(|d|, sign(d)): torch's subgradient at d = 0 is 0."""
    return np.abs(diff), np.sign(diff)


def huber(diff: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """0.5 d^2 where |d| < delta, delta (|d| - 0.5 delta) beyond; gradient d clipped to
    [-delta, delta]."""
    a = np.abs(diff)
    quad = a < delta  # torch's branch; both sides agree at |d| = delta
    loss = np.where(quad, 0.5 * diff * diff, delta * (a - 0.5 * delta))
    return loss, np.clip(diff, -delta, delta)


def smooth_l1(diff: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta beyond; beta = 0 is L1 exactly.

    Gradient d / beta inside, sign(d) outside (at beta = 0: sign(d), 0 at d = 0,
    torch's L1 path).
    """
    if beta == 0:
        return l1(diff)
    a = np.abs(diff)
    inside = a < beta
    loss = np.where(inside, 0.5 * diff * diff / beta, a - 0.5 * beta)
    return loss, np.where(inside, diff / beta, np.sign(diff))


# --- Kullback-Leibler divergence ------------------------------------------------------------

def kl_div_forward(x: np.ndarray, t: np.ndarray, log_target: bool) -> np.ndarray:
    """The pointwise KL divergence of target t from the log-probabilities x, as torch's kl_div:
        t (log t - x), 0 where t = 0 (xlogy), or with log_target exp(t) (t - x)."""
    if log_target:
        return np.exp(t) * (t - x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(t == 0, 0, t * np.log(t)).astype(x.dtype, copy=False) - t * x


def kl_div_backward(grad_item: np.ndarray, t: np.ndarray, log_target: bool) -> np.ndarray:
    """dL/dx = -g t, or -g exp(t) with log_target."""
    return -grad_item * (np.exp(t) if log_target else t)


def kl_div_target_backward(grad_item: np.ndarray, x: np.ndarray, t: np.ndarray,
                           log_target: bool) -> np.ndarray:
    """dL/dt = g (log t + 1 - x), or g exp(t) (t - x + 1) with log_target.

    At t = 0 torch's xlogy(t, t) gives d/dt = xlogy(t != 0, t) + t / t: NaN, kept here."""
    if log_target:
        return grad_item * np.exp(t) * (t - x + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return grad_item * (np.where(t == 0, 0, np.log(t)) + t / t - x)
