"""Strided window views of an image and their adjoint, col2im.

`windows` is the im2col view: every (kh, kw) window of a padded image at the
given stride, as one read-only view with no copy. `offsets_first` gathers it
into one contiguous slab per kernel offset, `offset_views` gives the writeable
view of the image that one kernel offset touches across all windows, and
`col2im` sums per-window gradients back onto the image through those views.
The two leading axes are (N, C) for pooling and (C, N) for Conv2d's
channel-major layout; these functions do not care which.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from scratch.functional.shapes import conv_output_size


def windows(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
            dilation: tuple[int, int] = (1, 1)) -> np.ndarray:
    """Every (kh, kw) window of xp (A, B, Hp, Wp) at the given stride, as a read-only view.

    Returns shape (A, B, OH, OW, kh, kw), OH = conv_output_size(Hp, kh, sh, 0, dh):
    win[a, b, i, j, p, q] = xp[a, b, sh*i + dh*p, sw*j + dw*q]. Without dilation it is
    sliding_window_view(xp, kernel, axis=(2, 3))[:, :, ::sh, ::sw], built directly from
    the strides.
    """
    a, b, hp, wp = xp.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    oh, ow = conv_output_size(hp, kh, sh, 0, dh), conv_output_size(wp, kw, sw, 0, dw)
    s_a, s_b, s_h, s_w = xp.strides
    shape = (a, b, oh, ow, kh, kw)
    strides = (s_a, s_b, s_h * sh, s_w * sw, s_h * dh, s_w * dw)
    if not xp.flags.c_contiguous:
        return as_strided(xp, shape, strides, writeable=False)  # (A, B, OH, OW, kh, kw)
    # The ndarray constructor skips as_strided's argument handling, which costs as much
    # as the rest of a small layer (speed suite: cnn-16-32 batch 1 forward). It needs a
    # contiguous buffer, hence the branch.
    win = np.ndarray(shape, xp.dtype, xp, 0, strides)  # (A, B, OH, OW, kh, kw)
    win.flags.writeable = False
    return win


def offsets_first(win: np.ndarray) -> np.ndarray:
    """Copy windows (A, B, OH, OW, kh, kw) to (kh*kw, A, B, OH, OW), each offset one slab.

    One gather, after which every per-offset operation (max, compare, add) runs over a
    contiguous slab instead of striding through the image kh*kw times.
    """
    a, b, oh, ow, kh, kw = win.shape
    return np.ascontiguousarray(win.transpose(4, 5, 0, 1, 2, 3)).reshape(kh * kw, a, b, oh, ow)


def offset_views(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
                 out_hw: tuple[int, int], dilation: tuple[int, int] = (1, 1)
                 ) -> list[np.ndarray]:
    """For each kernel offset (i, j), row-major, the writeable view
    xp[:, :, dh*i + sh*oh, dw*j + sw*ow] over all outputs (oh, ow): kh*kw views of shape
    (A, B, OH, OW)."""
    (kh, kw), (sh, sw), (oh, ow), (dh, dw) = kernel, stride, out_hw, dilation
    return [xp[:, :, dh * i:dh * i + sh * (oh - 1) + 1:sh, dw * j:dw * j + sw * (ow - 1) + 1:sw]
            for i in range(kh) for j in range(kw)]


def disjoint(kernel: tuple[int, int], stride: tuple[int, int],
             dilation: tuple[int, int] = (1, 1)) -> bool:
    """Whether no input element lies in two windows: the stride is at least the window's
    extent d*(k - 1) + 1 along both axes."""
    return all(s >= d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation))


def col2im(dwin: np.ndarray, padded_shape: tuple[int, ...], stride: tuple[int, int],
           dilation: tuple[int, int] = (1, 1)) -> np.ndarray:
    """Sum window gradients back onto the padded image: the adjoint of `windows`.

        dxp[a, b, sh*oh + dh*i, sw*ow + dw*j] = sum over (oh, ow, i, j) landing there of
                                                dwin[i, j, a, b, oh, ow]

    Args:
        dwin: gradient per window element, shape (kh, kw, A, B, OH, OW) (any strides).
        padded_shape: (A, B, Hp, Wp) of the padded input.
        stride: (sh, sw) of the windows; dilation: (dh, dw), the spacing of their elements.
    Returns:
        dxp, shape padded_shape; rows / columns no window reached stay zero.

    One vectorised strided add per kernel offset, kh*kw in all, each over every window
    at once; where windows do not overlap, each element is reached once and the add
    becomes a plain write. (np.add.at on a writeable window view would be one call, but
    it adds element by element; speed suite: cnn-16-32 batch 128 backward.)
    """
    kh, kw, _, _, oh, ow = dwin.shape
    dxp = np.zeros(padded_shape, dtype=dwin.dtype)  # (A, B, Hp, Wp)
    overlap = not disjoint((kh, kw), stride, dilation)
    for k, dst in enumerate(offset_views(dxp, (kh, kw), stride, (oh, ow), dilation)):
        if overlap:
            dst += dwin[divmod(k, kw)]  # (A, B, OH, OW)
        else:  # each element lies in one window at most
            dst[...] = dwin[divmod(k, kw)]
    return dxp
