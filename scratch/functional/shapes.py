"""Argument and shape arithmetic: the sliding-window layers' and Flatten's / Unflatten's.

`pair` reads an int-or-pair argument as torch does, `conv_output_size` is the
one output-size formula of every sliding-window layer, and `pad` / `pad_backward`
add the border the windows slide over (zeros, a constant, or torch's reflect,
replicate and circular modes) and send a gradient back through it; `unpad`
takes the interior of a padded array. `flatten` and `unflatten` are torch's
reshape rules; the backward of either is the reshape back to the input's shape.
"""

from __future__ import annotations

import math

import numpy as np

PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pair(value, name: str, *, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints as (h, w), each at least `minimum`.

    Raises TypeError for anything else and ValueError below `minimum`, naming `name`.
    """
    try:
        both = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    except TypeError:  # not iterable: a float, None
        both = ()
    if len(both) != 2 or not all(isinstance(v, (int, np.integer)) for v in both):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(both) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(both[0]), int(both[1])


def single(value, name: str, *, minimum: int) -> int:
    """An int or a 1-tuple of an int (torch's 1-d arguments), at least `minimum`."""
    try:
        one = (value,) if isinstance(value, (int, np.integer)) else tuple(value)
    except TypeError:
        one = ()
    if len(one) != 1 or not isinstance(one[0], (int, np.integer)):
        raise TypeError(f"{name} must be an int or a tuple of one int, got {value!r}")
    if one[0] < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(one[0])


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1, ceil_mode: bool = False) -> int:
    """Number of window positions along one axis:

        out = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1

    which for dilation 1 is (size + 2 * padding - kernel) // stride + 1. With ceil_mode
    (pooling) the division rounds up, as torch's pooling_output_shape, and a last window
    that would start beyond the input and its left padding is dropped:
    if (out - 1) * stride >= size + padding then out -= 1. The same rule sizes Conv1d,
    Conv2d, MaxPool2d and AvgPool2d outputs, one axis at a time.

    Raises ValueError when the (dilated) kernel is larger than the padded input.
    """
    span = dilation * (kernel - 1) + 1  # extent of one window on the input
    padded = size + 2 * padding
    if padded < span:
        raise ValueError(f"kernel of size {kernel} does not fit input of size {size} with "
                         f"padding {padding} (padded size {padded} < kernel extent {span})")
    if not ceil_mode:
        return (padded - span) // stride + 1
    out = -(-(padded - span) // stride) + 1
    if (out - 1) * stride >= size + padding:
        out -= 1
    return out


def sides(padding) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) from (ph, pw) (symmetric) or from the four sides."""
    if len(padding) == 4:
        return tuple(padding)
    ph, pw = padding
    return ph, ph, pw, pw


def _source(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """For each position p in -before .. n + after - 1 of a padded axis, the input index it
    copies (torch's F.pad): reflect mirrors without repeating the edge, replicate repeats
    the edge, circular wraps around."""
    p = np.arange(-before, n + after)
    if mode == "reflect":
        if before >= n or after >= n:
            raise ValueError(f"reflect padding must be smaller than the input size: got "
                             f"padding ({before}, {after}) for size {n}")
        return np.where(p < 0, -p, np.where(p >= n, 2 * (n - 1) - p, p))
    if mode == "replicate":
        if n == 0:
            raise ValueError("replicate padding needs a non-empty input")
        return np.clip(p, 0, n - 1)
    if before > n or after > n:
        raise ValueError(f"circular padding must be at most the input size (it wraps around "
                         f"once): got padding ({before}, {after}) for size {n}")
    return p % n


def pad(x: np.ndarray, padding, value: float = 0.0, *, mode: str = "constant") -> np.ndarray:
    """x (A, B, H, W) padded by `padding`: (ph, pw) on each side, or (top, bottom, left,
    right). mode "constant" fills with `value` (x itself if no padding); "reflect",
    "replicate" and "circular" copy input elements, as torch's F.pad."""
    top, bottom, left, right = sides(padding)
    n, c, h, w = x.shape
    if mode == "constant":
        if top == bottom == left == right == 0:
            return x
        xp = np.full((n, c, h + top + bottom, w + left + right), value,
                     dtype=x.dtype)  # (A, B, Hp, Wp)
        xp[:, :, top:top + h, left:left + w] = x
        return xp
    rows, cols = _source(h, top, bottom, mode), _source(w, left, right, mode)
    return x[:, :, rows[:, None], cols[None, :]]  # (A, B, Hp, Wp)


def unpad(xp: np.ndarray, padding) -> np.ndarray:
    """The interior of xp (A, B, Hp, Wp) without `padding` ((ph, pw) or four sides), a view."""
    top, bottom, left, right = sides(padding)
    return xp[:, :, top:xp.shape[2] - bottom, left:xp.shape[3] - right]  # (A, B, H, W)


def pad_backward(dxp: np.ndarray, padding, *, mode: str = "constant") -> np.ndarray:
    """The adjoint of `pad`: dx (A, B, H, W) from dxp (A, B, Hp, Wp).

    "constant": the interior (a view). The copying modes add each border element's
    gradient onto the input element it copied, one border row / column at a time.
    """
    if mode == "constant":
        return unpad(dxp, padding)
    top, bottom, left, right = sides(padding)
    d = _fold(dxp, 3, left, right, mode)  # (A, B, Hp, W)
    return _fold(d, 2, top, bottom, mode)  # (A, B, H, W)


def _fold(a: np.ndarray, axis: int, before: int, after: int, mode: str) -> np.ndarray:
    n = a.shape[axis] - before - after
    src = _source(n, before, after, mode)
    idx = [slice(None)] * a.ndim
    idx[axis] = slice(before, before + n)
    out = a[tuple(idx)].copy()
    for k in (*range(before), *range(before + n, before + n + after)):
        dst, pos = list(idx), list(idx)
        dst[axis], pos[axis] = src[k], k
        out[tuple(dst)] += a[tuple(pos)]
    return out


def flatten(x: np.ndarray, start_dim: int, end_dim: int) -> np.ndarray:
    """x with dims start_dim..end_dim (negative: from the end) merged into one, as
    torch.flatten: (*, S_start, ..., S_end, *) -> (*, S_start * ... * S_end, *); a 0-d x
    becomes (1,). A view where numpy can give one; backward: dx = g.reshape(x.shape).

    Raises IndexError for a dim out of range and ValueError if start_dim comes after end_dim.
    """
    nd = max(x.ndim, 1)
    for name, d in (("start_dim", start_dim), ("end_dim", end_dim)):
        if not -nd <= d < nd:
            raise IndexError(f"Flatten: {name}={d} is out of range [{-nd}, {nd - 1}] for "
                             f"input of shape {x.shape}")
    s, e = start_dim % nd, end_dim % nd
    if s > e:
        raise ValueError(f"Flatten(start_dim={start_dim}, end_dim={end_dim}): "
                         f"start_dim comes after end_dim for input of shape {x.shape}")
    if x.ndim == 0:
        return x.reshape(1)
    return x.reshape(x.shape[:s] + (math.prod(x.shape[s:e + 1]),) + x.shape[e + 1:])


def unflatten(x: np.ndarray, dim: int, sizes: tuple[int, ...]) -> np.ndarray:
    """x with dim `dim` (negative: from the end) split into `sizes`, as torch.unflatten:
    (*, S_dim, *) -> (*, U_1, ..., U_k, *), the product of `sizes` S_dim, one of them
    possibly -1 (inferred). Backward: dx = g.reshape(x.shape).

    Raises IndexError for a dim out of range and ValueError for sizes that do not split it.
    """
    if not -x.ndim <= dim < x.ndim:
        raise IndexError(f"Unflatten: dim={dim} is out of range [{-x.ndim}, "
                         f"{x.ndim - 1}] for input of shape {x.shape}")
    d = dim % x.ndim
    known = math.prod(s for s in sizes if s != -1)
    ok = (sizes.count(-1) == 0 and known == x.shape[d]) or (
        sizes.count(-1) == 1 and known > 0 and x.shape[d] % known == 0)
    if not ok:
        raise ValueError(f"Unflatten: unflattened_size {sizes} does not split size "
                         f"{x.shape[d]} of dim {dim} of input of shape {x.shape}")
    return x.reshape(x.shape[:d] + tuple(sizes) + x.shape[d + 1:])
