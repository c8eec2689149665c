"""Argument and shape arithmetic shared by the convolution and pooling layers.

`pair` reads an int-or-pair argument as torch does, `conv_output_size` is the
one output-size formula of every sliding-window layer, and `pad` / `unpad`
add and remove the border the windows slide over.
"""

from __future__ import annotations

import numpy as np


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


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1) -> int:
    """Number of window positions along one axis, torch's floor mode:

        out = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1

    which for dilation 1 is (size + 2 * padding - kernel) // stride + 1. The same rule
    sizes Conv2d, MaxPool2d and AvgPool2d outputs, one axis at a time.

    Raises ValueError when the (dilated) kernel is larger than the padded input.
    """
    span = dilation * (kernel - 1) + 1  # extent of one window on the input
    padded = size + 2 * padding
    if padded < span:
        raise ValueError(f"kernel of size {kernel} does not fit input of size {size} with "
                         f"padding {padding} (padded size {padded} < kernel extent {span})")
    return (padded - span) // stride + 1


def pad(x: np.ndarray, padding: tuple[int, int], value: float = 0.0) -> np.ndarray:
    """x (N, C, H, W) with `padding` rows / columns of `value` on each side (x itself if none)."""
    ph, pw = padding
    if ph == pw == 0:
        return x
    n, c, h, w = x.shape
    xp = np.full((n, c, h + 2 * ph, w + 2 * pw), value, dtype=x.dtype)  # (N, C, Hp, Wp)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    return xp


def unpad(xp: np.ndarray, padding: tuple[int, int]) -> np.ndarray:
    """The interior of xp (A, B, Hp, Wp) without `padding` on each side, as a view."""
    ph, pw = padding
    return xp[:, :, ph:xp.shape[2] - ph, pw:xp.shape[3] - pw]  # (A, B, H, W)
