"""Intra-op threads: scratch's large kernels split their work over a small thread pool.

Why it pays: NumPy releases the GIL inside its C loops (ufuncs, copies, reductions) and
inside BLAS, so the pieces of a batch given to n threads run on n cores at once, where
NumPy alone would leave every core but one idle outside BLAS.

One pool at a time. numpy's BLAS is held to one thread (`threadpoolctl`) from the first
split, `matmul` or `set_num_threads` on, and only `matmul` hands a large product to
BLAS's own threads, for that call. Why not leave BLAS its threads: after a
multi-threaded call (and after any raise of its limit) OpenBLAS's workers spin for a
while, and a split that starts then finds a core taken (lstm-128 step at 2 threads,
batch 128-512: 1.14-1.28x the one-thread-BLAS time when its projections woke BLAS's
threads). Why not split every product on this pool: its hand-off costs tens of
microseconds (an empty split: 80 us on 2 cores), OpenBLAS's a few (mlp-512-256 step at
batch 32 and 128: 1.45x and 1.29x slower with Linear split here). So a Linear layer's
large products go to BLAS's threads (`matmul`), and a product right before a split, the
recurrence's, is split here (`split_matmul`). As torch's `set_num_threads` governs its
BLAS, scratch's governs numpy's: a matmul of your own in the same process runs on one
thread once scratch has run.

The contract, torch's `set_num_threads` / `get_num_threads`:
- the default is one thread per core, `os.cpu_count()`, as torch's.
- A kernel cuts its work into pieces that depend on the work's size and the machine's
  cores (`CORES`), never on the thread count, and `map_batches` runs the pieces on the
  threads. Each piece writes only its own rows of the output, and a sum over pieces
  (conv2d's dW) is taken on the calling thread in piece order: the result is the same
  bit for bit at any thread count.
- Where it pays (interleaved A/B on 2 cores, in the commit history): conv2d forward and
  backward, max pooling's backward, the recurrence (a loop over the steps per piece of
  the batch, and its products), elementwise kernels of several passes in cache-sized
  blocks (`map_blocks`: sigmoid, erf, GELU; batch norm's passes).
- Small work is not split: a piece must carry at least MIN_THREAD_BYTES of the kernel's
  traffic (`nbytes`, what it reads and writes), or for the recurrence MIN_THREAD_FLOPS
  multiply-adds a step: below that the hand-off eats what the second core saves.
- One split at a time: a kernel called from inside a worker, or from a second user
  thread while a split runs, runs its pieces one after another on the calling thread,
  the same pieces and so the same result.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

import numpy as np

T = TypeVar("T")

# The least traffic (bytes read and written) worth a thread of its own: below it, a
# thread's hand-off costs about what the pass it takes over saves (see the docstring).
MIN_THREAD_BYTES = 1 << 20
# The least matmul work (multiply-adds) worth a piece of its own: a recurrence step's
# (`functional.recurrent.batch_pieces`), a product's (`split_matmul`).
MIN_THREAD_FLOPS = 1 << 20
# The least matmul work (multiply-adds) handed to BLAS's own threads (`matmul`).
BLAS_THREADS_FLOPS = 1 << 23
# Elements per block of an elementwise kernel of several passes (`map_blocks`): 256 KiB
# of float32, so that every pass over a block reads it from the core's own cache
# (speed suite: sigmoid forward, batch 128: 2.5 ms blocked against 3.7 ms whole).
BLOCK = 1 << 16
CORES = os.cpu_count() or 1

_threads = CORES
_pool: ThreadPoolExecutor | None = None
_region = threading.Lock()  # held while a split runs: one split at a time
_blas: tuple[int, object] | None = None  # (len(sys.modules) when built, the controller)
_blas_held = False


def _after_fork() -> None:
    """A forked child has none of the parent's pool threads, and may have copied the lock
    held: it starts a pool of its own."""
    global _pool, _region
    _pool, _region = None, threading.Lock()


os.register_at_fork(after_in_child=_after_fork)


def _blas_controller():
    """threadpoolctl's controller of the loaded BLAS libraries, rebuilt when a module was
    imported since (a new extension may bring its own BLAS); building one lists every
    loaded library, too slow to do per split."""
    global _blas
    if _blas is None or _blas[0] != len(sys.modules):
        from threadpoolctl import ThreadpoolController

        _blas = (len(sys.modules), ThreadpoolController().select(user_api="blas"))
    return _blas[1]


def hold_blas() -> None:
    """Hold numpy's BLAS to one thread (see the module docstring); `set_num_threads` repeats
    it, so that it also undoes a limit set since."""
    global _blas_held
    _blas_controller().limit(limits=1)
    _blas_held = True


def set_num_threads(n: int) -> None:
    """Use n threads for scratch's kernels and numpy's BLAS (torch.set_num_threads):
    n >= 1, an int."""
    global _threads, _pool
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads expects an int >= 1, got {type(n).__name__} {n!r}")
    if n < 1:
        raise ValueError(f"set_num_threads expects an int >= 1, got {n}")
    with _region:  # never swap the pool under a running split
        hold_blas()
        _threads = n
        if _pool is not None:
            _pool.shutdown(wait=True)
            _pool = None


def get_num_threads() -> int:
    """The number of threads scratch's kernels use (torch's name)."""
    return _threads


def batch_slices(n: int, parts: int) -> list[slice]:
    """0..n as `parts` contiguous slices (at most n), sizes differing by one at most,
    the larger first."""
    parts = max(1, min(parts, n))
    size, extra = divmod(n, parts)
    bounds = [0]
    for i in range(parts):
        bounds.append(bounds[-1] + size + (i < extra))
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def split_count(n: int, nbytes: int) -> int:
    """How many slices `map_batches` makes of a batch of n moving nbytes: one per thread,
    no more than n, and none carrying less than MIN_THREAD_BYTES."""
    return max(1, min(_threads, n, nbytes // max(1, MIN_THREAD_BYTES)))


def map_batches(fn: Callable[[slice], T], n: int, nbytes: int) -> list[T]:
    """[fn(s) for s in the slices of 0..n], the slices run on `split_count` threads at once.

    Args:
        fn: the work of one slice of the batch (or of a range of a kernel's pieces); it
            must write only its own rows of any shared output (slices never overlap, so
            no locks are needed).
        n: the batch size (or any count of independent items).
        nbytes: the bytes the whole work reads and writes, which decides the split.
    Returns:
        fn's results in batch order, whether the slices ran on threads or not.
    """
    if not _blas_held:
        hold_blas()
    slices = batch_slices(n, split_count(n, nbytes))
    if len(slices) == 1 or not _region.acquire(blocking=False):
        return [fn(s) for s in slices]
    global _pool
    try:
        if _pool is None:
            _pool = ThreadPoolExecutor(_threads - 1, thread_name_prefix="scratch")
        # The calling thread takes the first slice itself: one hand-off fewer.
        futures = [_pool.submit(fn, s) for s in slices[1:]]
        try:
            first = fn(slices[0])
        finally:  # no worker may still write once the caller goes on, even on error
            wait(futures)
        return [first, *(f.result() for f in futures)]
    finally:
        _region.release()


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b, on BLAS's own threads (get_num_threads() of them) from BLAS_THREADS_FLOPS
    multiply-adds on, else on one: OpenBLAS hands a large product to its threads faster
    than this pool could, and below that size its threads' idle spinning after the
    call costs the next split more than they saved (see the module docstring)."""
    if not _blas_held:
        hold_blas()
    if _threads == 1 or a.size * b.shape[-1] < BLAS_THREADS_FLOPS:
        return a @ b
    with _blas_controller().limit(limits=_threads):
        return a @ b


def split_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b for a (m, k) and b (k, n) in CORES row blocks of a (or column blocks of b,
    whichever output side is longer) on this pool, from CORES * MIN_THREAD_FLOPS
    multiply-adds on, each block one BLAS call on one thread: for a product next to a
    split (the recurrence's projections and weight gradients), where waking BLAS's own
    threads would leave them spinning through the split (speed suite: lstm-128 step at
    2 threads, 0.67-0.77 of the one-thread-BLAS time at batch 128-512 split this way,
    1.14-1.28 with `matmul`). The blocks follow the shapes and the machine, not the
    thread count, so the product does not either."""
    m, k = a.shape
    n = b.shape[1]
    pieces = CORES if m * k * n >= CORES * MIN_THREAD_FLOPS else 1
    if not _blas_held:
        hold_blas()
    if pieces == 1 or max(m, n) < pieces:
        return a @ b
    out = np.empty((m, n), np.result_type(a, b))  # (m, n)
    by_rows = m >= n
    blocks = batch_slices(m if by_rows else n, pieces)

    def run(r: slice) -> None:  # the blocks r, one thread's
        for s in blocks[r]:
            if by_rows:
                np.matmul(a[s], b, out=out[s])
            else:
                np.matmul(a, b[:, s], out=out[:, s])

    map_batches(run, len(blocks), 1 << 62)  # the size was judged above: one per thread
    return out


def sample_blocks(n: int, sample_size: int) -> list[slice]:
    """The batch 0..n in blocks of about BLOCK elements (whole samples of sample_size
    elements, at least one each), for a kernel whose passes over a block should stay in
    cache; the blocks follow the sizes, not the thread count."""
    return batch_slices(n, -(-n * sample_size // BLOCK))


def map_blocks(kernel: Callable[..., np.ndarray | tuple[np.ndarray, ...]], *arrays: np.ndarray,
               dtype, outputs: int = 1) -> np.ndarray | tuple[np.ndarray, ...]:
    """kernel(*blocks) over BLOCK-element blocks of same-shape arrays, into `outputs`
    fresh arrays of that shape and `dtype`, the blocks on scratch's threads.

    For an elementwise kernel of several passes: each pass reads a block from cache
    instead of the whole array from memory, and the blocks are independent, so the
    result is the same bit for bit at any thread count. `kernel` returns one array per
    output (a tuple when outputs > 1), each of its blocks' size.
    """
    shape = arrays[0].shape
    flats = [np.ascontiguousarray(a).reshape(-1) for a in arrays]
    outs = [np.empty(flats[0].size, dtype) for _ in range(outputs)]
    starts = range(0, flats[0].size, BLOCK)

    def run(r: slice) -> None:  # the blocks r, one thread's
        for start in starts[r]:
            s = slice(start, start + BLOCK)
            got = kernel(*(f[s] for f in flats))
            for out, part in zip(outs, got if outputs > 1 else (got,)):
                out[s] = part

    map_batches(run, len(starts), sum(a.nbytes for a in (*flats, *outs)))
    outs = [o.reshape(shape) for o in outs]
    return tuple(outs) if outputs > 1 else outs[0]
