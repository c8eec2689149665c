"""scratch's threads: set_num_threads as torch's, results that do not depend on the count,
numpy's BLAS held to one thread (large Linear products on its threads for the call),
small work left whole, and parity at 2 threads.

Bit for bit: the split is by sample (max pooling's backward) or by pieces that do not
depend on the thread count (conv2d's chunks of the batch, whose dW and db are summed over
the chunks in batch order on the calling thread; the recurrence's pieces of the batch and
its products' row or column blocks; elementwise blocks). Every kernel here runs with
MIN_THREAD_BYTES and MIN_THREAD_FLOPS = 1 (tests/conftest.py), and a spy on the slices
proves the work was split.
"""

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import scratch
from scratch import functional as F
from scratch import parallel

ROOT = Path(__file__).resolve().parents[1]
DTYPES = [np.float32, np.float64]
SCRATCH_THREADS = 2  # conftest: this file's tests start at 2 threads, every kernel split


@pytest.fixture
def slices(monkeypatch):
    """The slice count of every map_batches call, as a list."""
    counts = []
    real = parallel.split_count

    def spy(n, nbytes):
        counts.append(real(n, nbytes))
        return counts[-1]

    monkeypatch.setattr(parallel, "split_count", spy)
    return counts


def at(threads: int, fn):
    """fn() with scratch at `threads` threads."""
    scratch.set_num_threads(threads)
    return fn()


# --- set_num_threads / get_num_threads --------------------------------------------------

def test_the_default_is_one_thread_per_core():
    out = subprocess.run([sys.executable, "-c", "import scratch; print(scratch.get_num_threads())"],
                         capture_output=True, text=True, check=True)
    assert int(out.stdout) == os.cpu_count()


def test_set_num_threads_sets_what_get_num_threads_returns():
    for n in (1, 3, 2):
        scratch.set_num_threads(n)
        assert scratch.get_num_threads() == n


@pytest.mark.parametrize("bad,error,shown", [
    (0, ValueError, "got 0"), (-2, ValueError, "got -2"),
    (1.5, TypeError, "got float 1.5"), ("2", TypeError, "got str '2'"),
    (True, TypeError, "got bool True"), (None, TypeError, "got NoneType None"),
])
def test_set_num_threads_refuses_what_is_not_a_positive_int(bad, error, shown):
    with pytest.raises(error, match=f"set_num_threads expects an int >= 1, {shown}"):
        scratch.set_num_threads(bad)
    assert scratch.get_num_threads() == SCRATCH_THREADS  # unchanged


# --- map_batches ------------------------------------------------------------------------

def test_batch_slices_cover_the_batch_in_order():
    assert parallel.batch_slices(7, 3) == [slice(0, 3), slice(3, 5), slice(5, 7)]
    assert parallel.batch_slices(2, 4) == [slice(0, 1), slice(1, 2)]
    assert parallel.batch_slices(0, 2) == [slice(0, 0)]


def test_the_slices_run_on_as_many_threads_at_once_in_batch_order():
    idents = {}
    together = threading.Barrier(3, timeout=10)  # broken unless 3 slices run at once

    def fn(s):
        idents[s.start] = threading.get_ident()
        together.wait()
        return s.start

    assert at(3, lambda: parallel.map_batches(fn, 9, 1 << 30)) == [0, 3, 6]
    assert len(set(idents.values())) == 3 and idents[0] == threading.get_ident()


def test_small_work_is_not_split(monkeypatch, slices):
    monkeypatch.setattr(parallel, "MIN_THREAD_BYTES", 1 << 20)  # the default's value
    assert parallel.split_count(128, (2 << 20) - 1) == 1
    assert parallel.split_count(128, 2 << 20) == 2
    x = np.ones((64, 1, 8, 8), np.float32)  # conv2d: 64 * (9 + 4) * 64 * 4 = 213 kB of work
    _, cols = F.conv2d_forward(x, np.ones((4, 1, 3, 3), np.float32), None, (1, 1), (1, 1))
    assert slices[-1] == 1 and len(cols) == 1


def _blas_threads():
    return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


def test_workers_and_the_caller_run_blas_on_one_thread():
    """numpy's BLAS runs one thread in every worker and outside them, so 2 workers are 2
    busy threads, and no BLAS pool spins beside scratch's."""
    inside = at(2, lambda: parallel.map_batches(lambda s: _blas_threads(), 2, 1 << 30))
    assert inside == [{1}, {1}]
    assert _blas_threads() == {1}


def test_set_num_threads_takes_blas_back_to_one_thread():
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=2, user_api="blas")  # someone else's limit, left in place
    assert _blas_threads() == {2}
    scratch.set_num_threads(2)
    assert _blas_threads() == {1}


def test_the_first_split_holds_blas_in_a_fresh_process():
    code = ("import numpy as np; from threadpoolctl import threadpool_info as info; "
            "from scratch import parallel; import scratch; "
            "before = {i['num_threads'] for i in info() if i['user_api'] == 'blas'}; "
            "parallel.matmul(np.ones((4, 4)), np.ones((4, 4))); "
            "after = {i['num_threads'] for i in info() if i['user_api'] == 'blas'}; "
            "print(sorted(before), sorted(after))")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env)
    assert out.stdout.split() == [f"[{os.cpu_count()}]", "[1]"] or os.cpu_count() == 1


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_matmul_gives_large_products_to_blas_threads_for_the_call(threads, monkeypatch):
    """A product from BLAS_THREADS_FLOPS multiply-adds on runs with BLAS at scratch's count,
    BLAS back at one thread after; a smaller one, or any at 1 thread, at one thread."""
    seen = []

    class Spy(np.ndarray):  # records BLAS's thread count when the product is taken
        def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
            seen.append(_blas_threads())
            return getattr(ufunc, method)(*(np.asarray(x) for x in inputs), **kwargs)

    monkeypatch.setattr(parallel, "BLAS_THREADS_FLOPS", 4 * 5 * 6)
    a = np.ones((4, 5))
    for b, big in ((np.ones((5, 6)), True), (np.ones((5, 5)), False)):
        got = at(threads, lambda b=b: parallel.matmul(a, b.view(Spy)))
        np.testing.assert_array_equal(got, a @ b)
        assert seen[-1] == ({threads} if big else {1})
        assert _blas_threads() == {1}


def test_a_split_inside_a_split_runs_on_the_calling_thread():
    def inner(s):
        return threading.get_ident()

    def outer(s):
        return set(parallel.map_batches(inner, 4, 1 << 30)), threading.get_ident()

    for idents, caller in at(2, lambda: parallel.map_batches(outer, 2, 1 << 30)):
        assert idents == {caller}


def test_an_error_in_a_slice_is_raised_after_every_slice_has_finished():
    done = []

    def fn(s):
        if s.start == 0:
            raise RuntimeError("slice 0")
        threading.Event().wait(0.05)
        done.append(s.start)

    with pytest.raises(RuntimeError, match="slice 0"):
        at(2, lambda: parallel.map_batches(fn, 2, 1 << 30))
    assert done == [1]


# --- the kernels: the thread count does not change the result ------------------------

def _conv_case(dtype, rng, n=6):
    x = rng.standard_normal((n, 4, 9, 8)).astype(dtype)
    w = rng.standard_normal((6, 2, 3, 3)).astype(dtype)  # groups=2
    b = rng.standard_normal(6).astype(dtype)
    g = rng.standard_normal((n, 6, 5, 4)).astype(dtype)
    args = ((2, 2), (1, 1))  # stride, padding

    def run():
        y, cols = F.conv2d_forward(x, w, b, *args, dilation=(1, 1), groups=2)
        grads = F.conv2d_backward(g, x, w, *args, groups=2, cols=cols)
        return y, grads, len(cols)

    return run


@pytest.mark.parametrize("cores", [3, 6])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_conv2d_at_any_thread_count(dtype, cores, rng, monkeypatch, slices):
    """The chunks follow the machine's cores, not the thread count (BLAS rounds a column
    differently in a matmul of another width): y, dx, and dW and db summed over the
    chunks in batch order, all the same bit for bit."""
    monkeypatch.setattr(parallel, "CORES", cores)  # chunks: a multiple of the cores
    run = _conv_case(dtype, rng)
    y1, g1, chunks1 = at(1, run)
    assert chunks1 == cores and slices == [1, 1]  # forward, backward
    for threads in (2, 3):
        y, g, chunks = at(threads, run)
        assert slices[-2:] == [min(threads, cores)] * 2 and chunks == cores
        for name, a, b in (("output", y, y1), *zip(g._fields, g, g1)):
            assert a.dtype == dtype
            np.testing.assert_array_equal(a, b, err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("padding", [0, 1])
def test_max_pool_at_any_thread_count(dtype, padding, rng, slices):
    # integer values: ties everywhere, so the first-maximum rule is exercised per slice
    x = rng.integers(-3, 3, (5, 3, 8, 8)).astype(dtype)
    x[1, 0, :3, :3] = -np.inf  # a window of -inf beside the padding
    g = rng.standard_normal((5, 3, 4 + padding, 4 + padding)).astype(dtype)
    args = ((2, 2), (2, 2), (padding, padding))

    def run():
        y, cache = F.max_pool2d_forward(x, *args)
        return y, F.max_pool2d_backward(g, x.shape, *args, cache, y)

    y1, dx1 = at(1, run)
    for threads in (2, 3):
        y, dx = at(threads, run)
        assert max(slices) == threads
        np.testing.assert_array_equal(y, y1)
        np.testing.assert_array_equal(dx, dx1)


@pytest.mark.parametrize("shape", [(9, 5, 4), (3, 5, 8), (1, 3, 1)], ids=str)
@pytest.mark.parametrize("cores", [2, 3])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_split_matmul_at_any_thread_count(dtype, cores, shape, rng, monkeypatch, slices):
    """Row blocks (m >= n) or column blocks, as many as the cores: a @ b within the
    dtype's tolerance (BLAS may round a narrower product differently), and the same bit
    for bit at 1, 2 and 3 threads."""
    from bench.compare import TOLERANCES

    monkeypatch.setattr(parallel, "CORES", cores)
    m, k, n = shape
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    one = at(1, lambda: parallel.split_matmul(a, b))
    assert one.dtype == dtype
    tol = TOLERANCES[np.dtype(dtype)]
    np.testing.assert_allclose(one, a @ b, rtol=tol.rtol, atol=tol.atol)
    for threads in (2, 3):
        np.testing.assert_array_equal(at(threads, lambda: parallel.split_matmul(a, b)), one)
        if max(m, n) >= cores:
            assert slices[-1] == min(threads, cores)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_elementwise_blocks_at_any_thread_count(dtype, rng, monkeypatch, slices):
    """map_blocks over blocks of 7 elements (an uneven last one): Sigmoid, GELU forward
    (two outputs) and backward (three inputs) the same bit for bit as one whole block, at
    1, 2 and 3 threads."""
    x = rng.standard_normal((5, 3, 4)).astype(dtype) * 5
    g = rng.standard_normal(x.shape).astype(dtype)

    def run():
        y, cache = F.gelu_forward(x, "none")
        return F.sigmoid(x), y, cache.a, F.gelu_backward(g, cache, "none")

    monkeypatch.setattr(parallel, "BLOCK", x.size)
    whole = at(1, run)
    monkeypatch.setattr(parallel, "BLOCK", 7)
    for threads in (1, 2, 3):
        for a, b in zip(at(threads, run), whole):
            assert a.dtype == dtype and a.shape == x.shape
            np.testing.assert_array_equal(a, b)
        assert slices[-1] == threads


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_batch_norm_in_blocks_at_any_thread_count(dtype, rng, monkeypatch, slices):
    """Batch norm's per-element passes in blocks of one sample (BLOCK forced small): y and
    every gradient the same bit for bit at 1, 2 and 3 threads as in one block."""
    x = rng.standard_normal((5, 3, 4)).astype(dtype)
    w, b = rng.standard_normal(3).astype(dtype), rng.standard_normal(3).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)

    def run():
        y, cache = F.batch_norm_forward(x, w, b, 1e-5)
        return (y, *F.batch_norm_backward(g, cache, w),
                F.batch_norm_backward(g, cache, w, batch_stats=False).input)

    monkeypatch.setattr(parallel, "BLOCK", x.size)
    whole = at(1, run)
    monkeypatch.setattr(parallel, "BLOCK", 12)  # one sample per block
    for threads in (1, 2, 3):
        for a, want in zip(at(threads, run), whole):
            np.testing.assert_array_equal(a, want)
        assert slices[-1] == threads


@pytest.mark.parametrize("cores", [2, 3])
@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN_TANH"])
def test_a_recurrent_layer_at_any_thread_count(mode, cores, rng, monkeypatch, slices):
    """The batch in CORES pieces, each piece's loop over the steps on a thread: output,
    h_n, c_n and every gradient the same bit for bit at 1, 2 and 3 threads (an LSTM with
    a projection: its dW_hr summed over the pieces in batch order), and within float64's
    tolerance of the one-piece run."""
    from bench.compare import TOLERANCES
    from scratch.functional import recurrent

    g, hs, proj = recurrent.GATES[mode], 4, 3 if mode == "LSTM" else None
    h_out = proj or hs
    x = rng.standard_normal((5, 7, 3))  # (L, N, in)
    h0 = rng.standard_normal((7, h_out))
    c0 = rng.standard_normal((7, hs)) if mode == "LSTM" else None
    w = (rng.standard_normal((g * hs, 3)), rng.standard_normal((g * hs, h_out)),
         rng.standard_normal(g * hs), rng.standard_normal(g * hs),
         rng.standard_normal((proj, hs)) if proj else None)
    gy = rng.standard_normal((5, 7, h_out))
    gc = rng.standard_normal((7, hs)) if mode == "LSTM" else None

    def run():
        out, h, c, cache = F.recurrent_direction_forward(mode, x, h0, c0, *w, reverse=True)
        grads = F.recurrent_direction_backward(gy, h0, gc, cache)
        return (out, h, c, *grads), len(cache.steps)

    monkeypatch.setattr(parallel, "MIN_THREAD_FLOPS", 1 << 40)
    one, pieces = at(1, run)  # the batch whole
    assert pieces == 1
    monkeypatch.setattr(parallel, "MIN_THREAD_FLOPS", 1)
    monkeypatch.setattr(parallel, "CORES", cores)
    split, pieces = at(1, run)
    assert pieces == cores
    tol = TOLERANCES[np.dtype(np.float64)]
    for a, b in zip(split, one):
        if b is None:
            assert a is None
        else:
            np.testing.assert_allclose(a, b, rtol=tol.rtol, atol=tol.atol)
    for threads in (2, 3):
        got, _ = at(threads, run)
        assert slices[-1] == min(threads, cores)
        for a, b in zip(got, split):
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_array_equal(a, b)


def test_a_cnn_step_at_2_threads_is_the_1_thread_step(rng):
    """Conv, ReLU, max pooling, the loss and SGD, as the speed suite's cnn-16-32: the
    same loss and weights bit for bit."""
    def step(threads):
        scratch.set_num_threads(threads)
        r = np.random.default_rng(7)
        model = scratch.Sequential(
            scratch.Conv2d(1, 4, 3, padding=1, rng=r), scratch.ReLU(), scratch.MaxPool2d(2),
            scratch.Flatten(), scratch.Linear(4 * 7 * 7, 10, rng=r))
        opt = scratch.optim.SGD(model.parameters(), lr=0.1)
        loss_fn = scratch.CrossEntropyLoss()
        x = r.standard_normal((8, 1, 14, 14)).astype(np.float32)
        y = r.integers(0, 10, 8)
        loss = loss_fn(model(x), y)
        model.backward(loss_fn.backward())
        opt.step()
        return loss, [p.data.copy() for p in model.parameters()]

    loss1, params1 = step(1)
    loss2, params2 = step(2)
    assert loss2 == loss1
    for a, b in zip(params2, params1):
        np.testing.assert_array_equal(a, b)


# --- parity at 2 threads ------------------------------------------------------------------

def test_the_parity_suite_passes_at_2_threads():
    """The whole of tests/test_parity.py against torch with scratch at 2 threads and every
    kernel split (TWINBENCH_TEST_THREADS, read by tests/conftest.py); the default run has
    it at 1."""
    env = {**os.environ, "TWINBENCH_TEST_THREADS": "2"}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                          str(ROOT / "tests" / "test_parity.py")],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and " failed" not in out.stdout


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_forked_child_splits_with_a_pool_of_its_own():
    """The parent's pool threads do not survive fork: the child must not wait on them."""
    code = ("import os, sys, scratch; from scratch import parallel; "
            "parallel.map_batches(lambda s: s.start, 2, 1 << 30); pid = os.fork(); "
            "r = parallel.map_batches(lambda s: s.start, 2, 1 << 30) if pid == 0 else None; "
            "os._exit(0 if r == [0, 1] else 3) if pid == 0 else "
            "sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr[-2000:]
