"""Intra-op threads: scratch's large kernels split their batch over a small thread pool.

Why it pays: NumPy releases the GIL inside its C loops (ufuncs, copies, reductions) and
inside BLAS, so the slices of a batch given to n threads run on n cores at once, where
NumPy alone would leave every core but one idle outside BLAS. While the threads run,
BLAS is held to one thread (`threadpoolctl`), so n workers are n busy threads, never
n times BLAS's own pool: nothing is oversubscribed. Outside a split, BLAS keeps its own
thread count, so a single large matmul (an MLP's Linear) still uses every core.

The contract, torch's `set_num_threads` / `get_num_threads`:
- `set_num_threads(n)` sets how many threads a kernel may split its work over; the
  default is one per core, `os.cpu_count()`, as torch's.
- `map_batches(fn, n, nbytes)` calls fn on contiguous slices of the batch 0..n, one per
  thread, and returns their results in batch order. A kernel that calls it gives the
  same result bit for bit at any thread count: each slice writes its own samples' rows,
  and a sum over the batch is taken on the calling thread, in batch order, over pieces
  that do not depend on the thread count (conv2d's chunks).
- Where it pays (interleaved A/B on 2 cores, see the commit history): conv2d forward and
  backward, max pooling's backward. Elementwise kernels (ReLU, Tanh, Sigmoid, GELU,
  BatchNorm's passes, max pooling's forward) measured slower split than whole: a pass
  bound by memory bandwidth gains nothing from a second core that shares it.
- Small work is not split: a slice must carry at least MIN_THREAD_BYTES of the kernel's
  traffic (`nbytes`, what it reads and writes). An empty split costs about 35 us on 2
  cores (the hand-off, and 6 us of it setting BLAS's limit), and a NumPy pass moves
  about 10-20 GB/s, so a slice of 1 MiB is 50-100 us of work: below that the hand-off
  eats what the second core saves.
- One split at a time: a kernel called from inside a worker, or from a second user
  thread while a split runs, runs its slices one after another on the calling thread,
  with the same slices and so the same result. (BLAS's limit is process-wide: a user
  thread's own matmul during a split runs on one thread too.)
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")

# The least traffic (bytes read and written) worth a thread of its own: below it, a
# thread's hand-off costs about what the pass it takes over saves (see the docstring).
MIN_THREAD_BYTES = 1 << 20
CORES = os.cpu_count() or 1

_threads = CORES
_pool: ThreadPoolExecutor | None = None
_region = threading.Lock()  # held while a split runs: one split at a time
_blas: tuple[int, object] | None = None  # (len(sys.modules) when built, the controller)


def _after_fork() -> None:
    """A forked child has none of the parent's pool threads, and may have copied the lock
    held: it starts a pool of its own."""
    global _pool, _region
    _pool, _region = None, threading.Lock()


os.register_at_fork(after_in_child=_after_fork)


def set_num_threads(n: int) -> None:
    """Use n threads for scratch's large kernels (torch.set_num_threads): n >= 1, an int."""
    global _threads, _pool
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads expects an int >= 1, got {type(n).__name__} {n!r}")
    if n < 1:
        raise ValueError(f"set_num_threads expects an int >= 1, got {n}")
    with _region:  # never swap the pool under a running split
        _threads = n
        if _pool is not None:
            _pool.shutdown(wait=True)
            _pool = None


def get_num_threads() -> int:
    """The number of threads scratch's kernels split their work over (torch's name)."""
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


def _blas_controller():
    """threadpoolctl's controller of the loaded BLAS libraries, rebuilt when a module was
    imported since (a new extension may bring its own BLAS); building one lists every
    loaded library, too slow to do per split."""
    global _blas
    if _blas is None or _blas[0] != len(sys.modules):
        from threadpoolctl import ThreadpoolController

        controller = ThreadpoolController().select(user_api="blas")
        _blas = (len(sys.modules), controller)
    return _blas[1]


def map_batches(fn: Callable[[slice], T], n: int, nbytes: int) -> list[T]:
    """[fn(s) for s in the slices of 0..n], the slices run on `split_count` threads at once.

    Args:
        fn: the work of one slice of the batch; it must write only its own samples'
            rows of any shared output (slices never overlap, so no locks are needed).
        n: the batch size (or any count of independent items).
        nbytes: the bytes the whole work reads and writes, which decides the split.
    Returns:
        fn's results in batch order, whether the slices ran on threads or not.
    """
    slices = batch_slices(n, split_count(n, nbytes))
    if len(slices) == 1 or not _region.acquire(blocking=False):
        return [fn(s) for s in slices]
    global _pool
    try:
        if _pool is None:
            _pool = ThreadPoolExecutor(_threads - 1, thread_name_prefix="scratch")
        with _blas_controller().limit(limits=1):
            # The calling thread takes the first slice itself: one hand-off fewer.
            futures = [_pool.submit(fn, s) for s in slices[1:]]
            try:
                first = fn(slices[0])
            finally:  # no worker may still write once the caller goes on, even on error
                wait(futures)
        return [first, *(f.result() for f in futures)]
    finally:
        _region.release()

