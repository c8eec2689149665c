"""2-D convolution by im2col: every receptive field becomes a column, the convolution one matmul.

Forward pads the input into a channel-major buffer (C, N, Hp, Wp), takes its
(kh, kw) windows as a strided view (no copy) and lays them out once as
columns (C*kh*kw, N*OH*OW), rows ordered (c, i, j) like the weight's
(in, kh, kw) and columns (n, oh, ow); the whole batch is then one matmul with
the (out, C*kh*kw) weight matrix. Dilation spaces the window's elements in the
view. With groups, the rows of one group of input channels are one contiguous
block of the columns, so the G groups are one batched matmul
(G, out/G, C/G*kh*kw) @ (G, C/G*kh*kw, N*OH*OW). Backward reuses the columns for dW (one more
matmul) and scatters the column gradients back onto the image with col2im.

Channel-major padding puts each channel's rows of the columns in one
contiguous block rather than N blocks strided across the batch; col2im in
backward gains most (speed suite: cnn-16-32 batch 128 backward).

A large batch runs in chunks (`batch_chunks`) so that each chunk's columns are read by
its matmul while still in cache, and the chunks run on scratch's threads.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scratch import parallel
from scratch.functional.shapes import conv_output_size, unpad
from scratch.functional.windows import col2im, windows


def im2col(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
           padding: tuple[int, int], dilation: tuple[int, int] = (1, 1)
           ) -> tuple[np.ndarray, tuple[int, int]]:
    """x (N, C, H, W) -> columns (C*kh*kw, N*OH*OW), and the output's (OH, OW).

    cols[(c, p, q), (n, i, j)] = xp[n, c, sh*i + dh*p, sw*j + dw*q], xp zero-padded by
    (ph, pw).
    """
    n, c, h, w = x.shape
    (kh, kw), (ph, pw) = kernel, padding
    xp = np.zeros((c, n, h + 2 * ph, w + 2 * pw), x.dtype)  # (C, N, Hp, Wp)
    xp[:, :, ph:ph + h, pw:pw + w] = x.transpose(1, 0, 2, 3)
    win = windows(xp, kernel, stride, dilation)  # (C, N, OH, OW, kh, kw), a view
    oh, ow = win.shape[2:4]
    # The one copy of the forward pass.
    cols = win.transpose(0, 4, 5, 1, 2, 3).reshape(c * kh * kw, n * oh * ow)  # (K, N*L)
    return cols, (oh, ow)


# A batch runs in chunks: one chunk below 2 * parallel.MIN_THREAD_BYTES of columns and
# output (less work than two threads' worth), else about CHUNK_BYTES each, so that a
# chunk's columns are still in cache when its matmul reads them (speed suite: cnn-16-32
# step at batch 512 and 2048), and as many as a multiple of the machine's cores, so that
# the threads share them evenly. The chunks depend on the batch and the machine, never on
# set_num_threads: BLAS rounds a column differently in a matmul of another width, so
# chunks that followed the thread count would change results with it.
CHUNK_BYTES = 4 << 20


def _sample_bytes(weight: np.ndarray, groups: int, positions: int, itemsize: int) -> int:
    """One sample's columns (C*kh*kw rows) and output (out rows) over its OH*OW positions."""
    return (weight[0].size * groups + weight.shape[0]) * positions * itemsize


def batch_chunks(n: int, sample_bytes: int) -> list[slice]:
    """The batch 0..n as one slice, or, from 2 * MIN_THREAD_BYTES of work on, as a multiple
    of parallel.CORES chunks of about CHUNK_BYTES, sizes within one sample."""
    total = n * sample_bytes
    if total < 2 * parallel.MIN_THREAD_BYTES:
        return [slice(0, n)]
    count = -(-total // CHUNK_BYTES)  # ceil
    return parallel.batch_slices(n, -(-count // parallel.CORES) * parallel.CORES)


def conv2d_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                   stride: tuple[int, int], padding: tuple[int, int], *,
                   dilation: tuple[int, int] = (1, 1), groups: int = 1
                   ) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """y = conv2d(x) as y = W2 @ cols (+ bias), W2 the weight as (out, C*kh*kw)
    (per group: (G, out/G, C/G*kh*kw) against the group's block of the columns),
    batch chunk by batch chunk (`batch_chunks`), each written straight into its rows of y.
    The chunks run on scratch's threads (`parallel.map_batches`); they do not depend on
    the thread count, so neither does y, bit for bit.

    Args:
        x: (N, C, H, W); weight: (out, C/groups, kh, kw); bias: (out,) or None.
        padding: zeros on each side (ph, pw); other paddings are applied beforehand.
    Returns:
        y (N, out, OH, OW), contiguous, and the cache: the columns, one (C*kh*kw, n_i*OH*OW)
        array per chunk, that `conv2d_backward` can reuse for dW.
    """
    n = x.shape[0]
    out, _, kh, kw = weight.shape
    oh, ow = (conv_output_size(size, k, st, p, d) for size, k, st, p, d
              in zip(x.shape[2:], (kh, kw), stride, padding, dilation))
    y = np.empty((n, out, oh, ow), np.result_type(x, weight))  # (N, out, OH, OW)
    sample = _sample_bytes(weight, groups, oh * ow, y.itemsize)
    chunks = batch_chunks(n, sample)

    def run(r: slice) -> list[np.ndarray]:  # the chunks r, one thread's
        return [_conv2d_chunk(x[s], weight, bias, stride, padding, dilation, groups, y[s])
                for s in chunks[r]]

    parts = parallel.map_batches(run, len(chunks), n * sample)
    return y, tuple(c for part in parts for c in part)


def _conv2d_chunk(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                  stride, padding, dilation, groups: int, y: np.ndarray) -> np.ndarray:
    """One chunk of conv2d_forward: its output written into `y` (n, out, OH, OW); returns
    its columns (K, n*OH*OW)."""
    out = weight.shape[0]
    cols, (oh, ow) = im2col(x, weight.shape[2:], stride, padding, dilation)  # (K, n*L)
    # One big matmul for the chunk: a few large BLAS calls stay fast where a
    # per-sample batch of small ones stalls on a busy machine.
    if groups == 1:
        yc = weight.reshape(out, -1) @ cols  # (out, n*L), K = C*kh*kw
    else:
        k_g = weight[0].size  # C/G*kh*kw; explicit sizes, as -1 is undetermined at batch 0
        yc = (weight.reshape(groups, out // groups, k_g)  # (G, out/G, K/G)
              @ cols.reshape(groups, k_g, cols.shape[1])).reshape(out, -1)  # (out, n*L)
    if bias is not None:
        yc += bias[:, None]
    y[...] = yc.reshape(out, x.shape[0], oh, ow).transpose(1, 0, 2, 3)  # (n, out, OH, OW)
    return cols


class Conv2dGrads(NamedTuple):
    """The gradients of `conv2d_forward`, each a fresh array; None where not asked for."""

    input: np.ndarray | None  # (N, C, H, W)
    weight: np.ndarray  # (out, C/groups, kh, kw)
    bias: np.ndarray | None  # (out,)


def conv2d_backward(grad_out: np.ndarray, x: np.ndarray, weight: np.ndarray,
                    stride: tuple[int, int], padding: tuple[int, int], *,
                    dilation: tuple[int, int] = (1, 1), groups: int = 1,
                    cols: tuple[np.ndarray, ...] | None = None, input_grad: bool = True,
                    bias_grad: bool = True) -> Conv2dGrads:
    """Gradients of conv2d_forward: `Conv2dGrads` (input, weight, bias).

        dW2 = dy @ cols.T,  db = dy summed over (n, oh, ow),  dcols = W2.T @ dy -> col2im

    with dy the upstream gradient as (out, N*OH*OW); with groups, the same per group. It
    runs over the forward's batch chunks (one per array in `cols`) on scratch's threads
    (`parallel.map_batches`), each chunk writing its rows of dx; dW and db are summed over
    the chunks in batch order on the calling thread, so that all three are the same bit
    for bit at any thread count.

    Args:
        grad_out: (N, out, OH, OW); x: the forward input (N, C, H, W); weight (out, C, kh, kw).
        cols: the forward's columns per chunk, rebuilt from x if None.
        input_grad: if False, dx is None and the col2im is skipped.
        bias_grad: if False, dbias is None.
    """
    n = x.shape[0]
    oh, ow = grad_out.shape[2:]
    sample = _sample_bytes(weight, groups, oh * ow, grad_out.itemsize)
    if cols is None:
        slices = batch_chunks(n, sample)
        cols = (None,) * len(slices)
    else:  # the forward's chunks
        sizes = [c.shape[1] // (oh * ow) if oh * ow else n for c in cols]
        bounds = np.cumsum([0, *sizes])
        if bounds[-1] != n:
            raise ValueError(f"conv2d_backward: the columns cover {bounds[-1]} samples, "
                             f"the batch has {n}")
        slices = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    dx = np.empty(x.shape, np.result_type(grad_out, weight)) if input_grad else None

    def run(r: slice) -> list[tuple[np.ndarray, np.ndarray | None]]:  # one thread's chunks
        return [_conv2d_chunk_backward(grad_out[s], x[s], weight, stride, padding, dilation,
                                       groups, c, None if dx is None else dx[s], bias_grad)
                for s, c in zip(slices[r], cols[r])]

    # backward moves about twice the forward's bytes: the columns, dy and dcols
    per_chunk = [g for part in parallel.map_batches(run, len(slices), 2 * n * sample)
                 for g in part]
    dweight, dbias = per_chunk[0]
    for dw, db in per_chunk[1:]:
        dweight = dweight + dw
        if bias_grad:
            dbias = dbias + db
    return Conv2dGrads(dx, dweight, dbias)


def _conv2d_chunk_backward(grad_out, x, weight, stride, padding, dilation, groups, cols,
                           dx, bias_grad) -> tuple[np.ndarray, np.ndarray | None]:
    """One chunk of conv2d_backward: (dweight, dbias or None) of its samples, and its rows
    of dx written into `dx` (n, C, H, W) unless that is None."""
    n, c, h, w = x.shape
    out, _, kh, kw = weight.shape
    oh, ow = grad_out.shape[2:]
    if cols is None:
        cols, _ = im2col(x, (kh, kw), stride, padding, dilation)  # (K, n*L)
    dy = grad_out.transpose(1, 0, 2, 3).reshape(out, n * oh * ow)  # (out, n*L)
    if groups == 1:
        dweight = (dy @ cols.T).reshape(weight.shape)  # (out, C, kh, kw)
    else:
        nl = dy.shape[1]  # explicit sizes: a zero-size batch leaves -1 undetermined
        dyg = dy.reshape(groups, out // groups, nl)  # (G, out/G, n*L)
        colsg = cols.reshape(groups, weight[0].size, nl)  # (G, K/G, n*L)
        dweight = (dyg @ colsg.transpose(0, 2, 1)).reshape(weight.shape)  # (out, C/G, kh, kw)
    dbias = dy.sum(axis=1) if bias_grad else None  # (out,)
    if dx is not None:
        dx[...] = _columns_to_image(dy, weight, (n, oh, ow), (h, w), stride, padding, dilation,
                                    groups)  # (n, C, H, W)
    return dweight, dbias


def conv2d_input_grad(grad_out: np.ndarray, weight: np.ndarray, input_hw: tuple[int, int],
                      stride: tuple[int, int], padding: tuple[int, int], *,
                      dilation: tuple[int, int] = (1, 1), groups: int = 1) -> np.ndarray:
    """dL/dx of conv2d_forward alone: dcols = W2.T @ dy (per group), summed back onto the
    zero-padded image by col2im, the padding cut off. As a function of grad_out this is the
    transposed convolution (scratch.functional.conv_transpose2d_forward).

    Args:
        grad_out: (N, out, OH, OW); weight: (out, C/groups, kh, kw).
        input_hw: (H, W) of the input; rows and columns no window reached get 0.
    Returns:
        dx (N, C, H, W), a transposed view of a fresh array.
    """
    n, out, oh, ow = grad_out.shape
    dy = grad_out.transpose(1, 0, 2, 3).reshape(out, n * oh * ow)  # (out, n*L)
    return _columns_to_image(dy, weight, (n, oh, ow), input_hw, stride, padding, dilation,
                             groups)


def _columns_to_image(dy, weight, n_oh_ow, input_hw, stride, padding, dilation, groups
                      ) -> np.ndarray:
    """conv2d_input_grad of dy, the upstream gradient laid out as (out, n*OH*OW)."""
    (n, oh, ow), (h, w), (ph, pw) = n_oh_ow, input_hw, padding
    out, cg, kh, kw = weight.shape
    c = cg * groups
    if groups == 1:
        dcols = weight.reshape(out, -1).T @ dy  # (K, n*L)
    else:
        wg = weight.reshape(groups, out // groups, weight[0].size)  # (G, out/G, K/G)
        dyg = dy.reshape(groups, out // groups, dy.shape[1])  # (G, out/G, n*L)
        dcols = (wg.transpose(0, 2, 1) @ dyg).reshape(c * kh * kw, dy.shape[1])  # (K, n*L)
    dwin = dcols.reshape(c, kh, kw, n, oh, ow).transpose(1, 2, 0, 3, 4, 5)  # a view
    dxp = col2im(dwin, (c, n, h + 2 * ph, w + 2 * pw), stride, dilation)  # (C, n, Hp, Wp)
    return unpad(dxp, padding).transpose(1, 0, 2, 3)  # (n, C, H, W)
