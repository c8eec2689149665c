"""Max, average, adaptive average pooling and max unpooling, with torch's tie rule.

Max and average pooling pad the input (with -inf for max, zeros for average;
in ceil mode also past the bottom / right edge, far enough for the last window)
and take its (kh, kw) windows, dilated for max pooling, as a view. Max pooling
gathers the windows once into one contiguous slab per kernel offset and reduces
over the slabs; average pooling adds the offsets straight from the view and
divides by each window's divisor. Backward sends the gradient back through
col2im, or, for max pooling over disjoint windows, writes each offset's share
straight into place. Adaptive average pooling is two small matrix products;
max unpooling a scatter, its backward a gather.
"""

from __future__ import annotations

import numpy as np

from scratch.functional.shapes import conv_output_size, pad, sides, unpad
from scratch.functional.windows import col2im, disjoint, offset_views, offsets_first, windows
from scratch.parallel import map_batches

ONE = (1, 1)


def pool_sides(x_shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
               padding: tuple[int, int], dilation: tuple[int, int] = ONE,
               ceil_mode: bool = False) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) padding of x (N, C, H, W) that holds every window: (ph, pw)
    on each side, plus, in ceil mode, what the last window needs past the bottom / right."""
    extra = []
    for a in (0, 1):
        size, k, s, p, d = x_shape[2 + a], kernel[a], stride[a], padding[a], dilation[a]
        out = conv_output_size(size, k, s, p, d, ceil_mode)
        extra.append(max(0, (out - 1) * s + d * (k - 1) + 1 - (size + 2 * p)))
    (ph, pw), (eh, ew) = padding, extra
    return ph, ph + eh, pw, pw + ew


def _padded_shape(x_shape: tuple[int, ...], padding) -> tuple[int, ...]:
    top, bottom, left, right = sides(padding)
    n, c, h, w = x_shape
    return n, c, h + top + bottom, w + left + right


def max_pool2d_forward(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
                       padding: tuple[int, int], *, dilation: tuple[int, int] = ONE,
                       ceil_mode: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """y (N, C, OH, OW), the largest element of each window, and the slabs
    (kh*kw, N, C, OH, OW) that `max_pool2d_backward` needs.

    A NaN in a window makes its output NaN, as in torch. Which element won is worked
    out in backward, so inference pays only for the max. (Not split over threads: two
    threads measured slower than one, see `max_pool2d_backward`.)
    """
    if dilation != ONE or ceil_mode:
        padding = pool_sides(x.shape, kernel, stride, padding, dilation, ceil_mode)
    xp = pad(x, padding, -np.inf)  # (N, C, Hp, Wp)
    slabs = offsets_first(windows(xp, kernel, stride, dilation))  # (kh*kw, N, C, OH, OW)
    return slabs.max(axis=0), slabs


def first_max(slabs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mark each window's maximum in slabs (K, ...), the first in row-major order on ties.

    That is torch's CPU rule; a window holding NaN routes to its last NaN instead.
    Returns a bool array like slabs with one True per window.
    """
    winner = slabs == y  # (K, ...) every maximal element
    seen = winner[0].copy()
    for k in range(1, len(slabs)):  # keep the first tie only: a few cheap bool passes
        winner[k] &= ~seen
        seen |= winner[k]
    nan = np.isnan(y)
    if nan.any():  # NaN == NaN is False, so those windows have no winner yet
        for k in range(len(slabs) - 1, -1, -1):
            last = nan & np.isnan(slabs[k])
            winner[k] |= last
            nan &= ~last
    return winner


def winners(slabs: np.ndarray, y: np.ndarray, x_shape: tuple[int, ...],
            kernel: tuple[int, int], stride: tuple[int, int], padding,
            dilation: tuple[int, int] = ONE) -> np.ndarray:
    """`first_max`, except that a window whose input elements are all -inf ties with its
    -inf padding: torch routes it to the window's first input element, and so does this.
    padding: as the forward padded ((ph, pw) or four sides)."""
    winner = first_max(slabs, y)  # (K, N, C, OH, OW)
    if not any(sides(padding)):
        return winner
    lost = np.isneginf(y)  # (N, C, OH, OW); rare, so found by one pass over the output
    if not lost.any():
        return winner
    inside = np.ones((1, 1, *x_shape[2:]), bool)
    valid = offsets_first(windows(pad(inside, padding, False), kernel, stride, dilation))
    first = valid & (np.cumsum(valid, axis=0) == 1)  # (K, 1, 1, OH, OW) first input element
    return np.where(lost, first, winner)


def max_pool2d_indices(slabs: np.ndarray, y: np.ndarray, x_shape: tuple[int, ...],
                       kernel: tuple[int, int], stride: tuple[int, int],
                       padding: tuple[int, int], dilation: tuple[int, int] = ONE,
                       ceil_mode: bool = False) -> np.ndarray:
    """Where each window's `winners` entry lies, as torch's return_indices gives it: the
    flat index h * W + w into its (H, W) input plane, int64 (N, C, OH, OW).

    padding: (ph, pw), the layer's; ceil mode's extra rows and columns lie past the end.
    """
    kw = kernel[1]
    padded = pool_sides(x_shape, kernel, stride, padding, dilation, ceil_mode)
    k = winners(slabs, y, x_shape, kernel, stride, padded, dilation).argmax(axis=0)
    oh, ow = y.shape[2:]
    rows = (stride[0] * np.arange(oh)[:, None] + dilation[0] * (k // kw) - padding[0])
    cols = (stride[1] * np.arange(ow)[None, :] + dilation[1] * (k % kw) - padding[1])
    return (rows * x_shape[3] + cols).astype(np.int64)


def max_pool2d_backward(grad_out: np.ndarray, x_shape: tuple[int, ...],
                        kernel: tuple[int, int], stride: tuple[int, int],
                        padding: tuple[int, int], slabs: np.ndarray, y: np.ndarray, *,
                        dilation: tuple[int, int] = ONE, ceil_mode: bool = False
                        ) -> np.ndarray:
    """dx (N, C, H, W): each window's gradient, all of it to the window's `winners` entry.

    Args:
        grad_out: (N, C, OH, OW); x_shape: the forward input's (N, C, H, W);
        slabs, y: from `max_pool2d_forward` (called with the same arguments).
    """
    if dilation != ONE or ceil_mode:
        padding = pool_sides(x_shape, kernel, stride, padding, dilation, ceil_mode)
    g = np.ascontiguousarray(grad_out)  # (N, C, OH, OW), read kh*kw + 1 times
    # A multiply routes the gradient without np.where's select (speed suite: cnn-16-32
    # backward), but 0 * inf is NaN: non-finite gradients take np.where.
    finite = np.isfinite(g).all()
    if finite and disjoint(kernel, stride, dilation):
        # Disjoint windows: each offset's product goes straight to its place in dx, sample
        # by sample on scratch's threads (each sample's dx from its own windows alone).
        dxp = np.zeros(_padded_shape(x_shape, padding), g.dtype)  # (N, C, Hp, Wp)

        def run(s: slice) -> None:
            winner = winners(slabs[:, s], y[s], (s.stop - s.start, *x_shape[1:]), kernel,
                             stride, padding, dilation)  # (kh*kw, n, C, OH, OW) bool
            views = offset_views(dxp[s], kernel, stride, g.shape[2:], dilation)
            for k, dst in enumerate(views):
                np.multiply(winner[k], g[s], out=dst)

        map_batches(run, len(g), slabs.size + slabs.nbytes + g.nbytes + dxp.nbytes)  # + winner
        return unpad(dxp, padding)
    winner = winners(slabs, y, x_shape, kernel, stride, padding,
                     dilation)  # (kh*kw, N, C, OH, OW) bool, one True per window
    dslabs = winner * g if finite else np.where(winner, g, g.dtype.type(0))
    dwin = dslabs.reshape(*kernel, *g.shape)  # (kh, kw, N, C, OH, OW)
    # Overlapping windows add up where one element is the maximum of several.
    return unpad(col2im(dwin, _padded_shape(x_shape, padding), stride, dilation), padding)


def avg_pool2d_divisor(x_shape: tuple[int, ...], out_hw: tuple[int, int],
                       kernel: tuple[int, int], stride: tuple[int, int],
                       padding: tuple[int, int], count_include_pad: bool = True,
                       divisor_override: int | None = None) -> np.ndarray:
    """The divisor of each window (OH, OW), torch's rule: the window clipped to the input
    and its padding (ceil mode's extra windows are cut there), or, without
    count_include_pad, clipped to the input itself; divisor_override replaces both.
    The count is a product of one count per axis."""
    if divisor_override is not None:
        return np.full(out_hw, divisor_override, dtype=np.int64)
    counts = []
    for a in (0, 1):
        size, k, s, p = x_shape[2 + a], kernel[a], stride[a], padding[a]
        start = s * np.arange(out_hw[a]) - p  # first input index of each window
        end = np.minimum(start + k, size + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, size)
        counts.append(end - start)
    return counts[0][:, None] * counts[1][None, :]  # (OH, OW)


def avg_pool2d_forward(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
                       padding: tuple[int, int], *, ceil_mode: bool = False,
                       count_include_pad: bool = True, divisor_override: int | None = None
                       ) -> np.ndarray:
    """y (N, C, OH, OW), the sum of each window over its `avg_pool2d_divisor` (by default
    kh*kw: zero padding counted)."""
    default = not ceil_mode and count_include_pad and divisor_override is None
    padded = padding if default else pool_sides(x.shape, kernel, stride, padding,
                                                ONE, ceil_mode)
    win = windows(pad(x, padded), kernel, stride)  # (N, C, OH, OW, kh, kw), a view
    kh, kw = kernel
    y = win[..., 0, 0].copy()  # (N, C, OH, OW)
    for k in range(1, kh * kw):  # one vectorised add per kernel offset, row-major
        y += win[..., k // kw, k % kw]
    if default:
        y /= kh * kw  # dtype kept
    else:
        y /= avg_pool2d_divisor(x.shape, y.shape[2:], kernel, stride, padding,
                                count_include_pad, divisor_override).astype(y.dtype)
    return y


def avg_pool2d_backward(grad_out: np.ndarray, x_shape: tuple[int, ...],
                        kernel: tuple[int, int], stride: tuple[int, int],
                        padding: tuple[int, int], *, ceil_mode: bool = False,
                        count_include_pad: bool = True, divisor_override: int | None = None
                        ) -> np.ndarray:
    """dx (N, C, H, W): each window's gradient shared equally, g / divisor, by its elements
    (padding's shares are dropped)."""
    kh, kw = kernel
    if not ceil_mode and count_include_pad and divisor_override is None:
        share = grad_out / (kh * kw)  # (N, C, OH, OW)
    else:
        padding = pool_sides(x_shape, kernel, stride, padding, ONE, ceil_mode)
        share = grad_out / avg_pool2d_divisor(
            x_shape, grad_out.shape[2:], kernel, stride, padding[::2], count_include_pad,
            divisor_override).astype(grad_out.dtype)
    dwin = np.broadcast_to(share, (kh, kw, *share.shape))  # (kh, kw, N, C, OH, OW)
    return unpad(col2im(dwin, _padded_shape(x_shape, padding), stride), padding)


def adaptive_ranges(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """torch's adaptive windows along one axis: window i covers
    floor(i * size / out) .. ceil((i + 1) * size / out) - 1."""
    i = np.arange(out)
    return (i * size) // out, -(-((i + 1) * size) // out)


def adaptive_matrix(size: int, out: int, dtype) -> np.ndarray:
    """A (out, size): row i averages window i of `adaptive_ranges` (1 / its length on it)."""
    start, end = adaptive_ranges(size, out)
    j = np.arange(size)
    inside = (j >= start[:, None]) & (j < end[:, None])  # (out, size)
    return (inside / (end - start)[:, None]).astype(dtype)


def adaptive_avg_pool2d_forward(x: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """y (N, C, OH, OW), the mean of each adaptive window of x (N, C, H, W).

    Each window is a rectangle whose element count is the product of its row count and
    column count, so the average is separable: y = Ah @ x @ Aw^T with Ah (OH, H) and
    Aw (OW, W) from `adaptive_matrix`; global average pooling is Ah = 1/H, Aw = 1/W.
    """
    ah = adaptive_matrix(x.shape[2], out_hw[0], x.dtype)  # (OH, H)
    aw = adaptive_matrix(x.shape[3], out_hw[1], x.dtype)  # (OW, W)
    return ah @ x @ aw.T  # (N, C, OH, OW)


def adaptive_avg_pool2d_backward(grad_out: np.ndarray, x_shape: tuple[int, ...]
                                 ) -> np.ndarray:
    """dx (N, C, H, W) = Ah^T @ g @ Aw, the adjoint of the forward's two products."""
    ah = adaptive_matrix(x_shape[2], grad_out.shape[2], grad_out.dtype)  # (OH, H)
    aw = adaptive_matrix(x_shape[3], grad_out.shape[3], grad_out.dtype)  # (OW, W)
    return ah.T @ grad_out @ aw  # (N, C, H, W)


def max_unpool2d_forward(x: np.ndarray, indices: np.ndarray, out_hw: tuple[int, int]
                         ) -> np.ndarray:
    """y (N, C, OH, OW), zeros except y.flat-per-plane[indices] = x, as torch's max_unpool2d.

    x and indices are (N, C, H, W); each index is h * OW + w in its output plane.
    """
    n, c = x.shape[:2]
    y = np.zeros((n, c, out_hw[0] * out_hw[1]), x.dtype)  # (N, C, OH*OW)
    np.put_along_axis(y, indices.reshape(n, c, -1), x.reshape(n, c, -1), axis=2)
    return y.reshape(n, c, *out_hw)


def max_unpool2d_backward(grad_out: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """dx (N, C, H, W): each input element's gradient is the output's at its index."""
    n, c = grad_out.shape[:2]
    flat = grad_out.reshape(n, c, -1)  # (N, C, OH*OW)
    return np.take_along_axis(flat, indices.reshape(n, c, -1), axis=2).reshape(indices.shape)


def adaptive_taps(size: int, out: int) -> np.ndarray:
    """The input indices of each adaptive window along one axis (`adaptive_ranges`), (out, K)
    for the longest window's K: a shorter window repeats its last index, which changes
    neither its max nor which element wins it."""
    start, end = adaptive_ranges(size, out)
    k = int((end - start).max(initial=1))
    return np.minimum(start[:, None] + np.arange(k), end[:, None] - 1)  # (out, K)


def adaptive_max_pool2d_forward(x: np.ndarray, out_hw: tuple[int, int]
                                ) -> tuple[np.ndarray, np.ndarray]:
    """y (N, C, OH, OW), the largest element of each adaptive window of x (N, C, H, W)
    (`adaptive_ranges`), and where it lies: the flat index h * W + w into its input plane,
    int64 (N, C, OH, OW), as torch's return_indices; backward needs only those.

    The windows are gathered (`adaptive_taps`) into slabs (Kh*Kw, N, C, OH, OW) and
    `first_max` picks torch's winner: ties to the first in row-major order, NaN to the
    last NaN, and a window of -inf to its first element, where torch's CPU scan starts.
    A repeated tap comes after its original, so it never wins in the original's place.
    """
    rows, cols = (adaptive_taps(x.shape[2 + a], out_hw[a]) for a in (0, 1))
    kh, kw = rows.shape[1], cols.shape[1]
    win = x[:, :, rows][..., cols]  # (N, C, OH, Kh, OW, Kw)
    slabs = win.transpose(3, 5, 0, 1, 2, 4).reshape(kh * kw, *x.shape[:2], *out_hw)
    y = slabs.max(axis=0)  # (N, C, OH, OW)
    k = first_max(slabs, y).argmax(axis=0)  # (N, C, OH, OW) the winner's offset
    oh, ow = np.arange(out_hw[0])[:, None], np.arange(out_hw[1])[None, :]
    indices = rows[oh, k // kw] * x.shape[3] + cols[ow, k % kw]  # (N, C, OH, OW)
    return y, indices.astype(np.int64)


def adaptive_max_pool2d_backward(grad_out: np.ndarray, indices: np.ndarray,
                                 x_shape: tuple[int, ...]) -> np.ndarray:
    """dx (N, C, H, W): each window's gradient g[n, c, i, j] added at its winner
    indices[n, c, i, j] (h * W + w); overlapping windows may share a winner."""
    n, c, h, w = x_shape
    planes = np.arange(n * c).reshape(n, c, 1, 1) * (h * w)  # each plane's first flat index
    flat = np.bincount((indices + planes).ravel(), weights=grad_out.ravel(),
                       minlength=n * c * h * w)  # summed in float64, then rounded once
    return flat.astype(grad_out.dtype).reshape(x_shape)
