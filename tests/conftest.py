"""Shared fixtures. Tolerances live in bench.compare.TOLERANCES (one per dtype)."""

import os

import numpy as np
import pytest
import torch

import scratch
from scratch import parallel

# pytester: the twin_check plugin is tested by running a user's test file in-process.
pytest_plugins = ["pytester"]

DTYPES = [np.float32, np.float64]


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # Single-threaded torch reduces in a fixed order, like numpy; parity is then reproducible.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# scratch's threads in every test: TWINBENCH_TEST_THREADS if set (CI runs the parity suite
# at 2 this way: tests/test_parallel.py), else the test module's SCRATCH_THREADS, else 1.
# Above 1 every kernel splits whatever its size (MIN_THREAD_BYTES and MIN_THREAD_FLOPS
# at 1), so that the small inputs of the tests cross threads too.
THREADS_ENV = "TWINBENCH_TEST_THREADS"


@pytest.fixture(autouse=True)
def _scratch_threads(request, monkeypatch):
    n = int(os.environ.get(THREADS_ENV) or getattr(request.module, "SCRATCH_THREADS", 1))
    before = scratch.get_num_threads()
    scratch.set_num_threads(n)
    if n > 1:
        monkeypatch.setattr(parallel, "MIN_THREAD_BYTES", 1)
        monkeypatch.setattr(parallel, "MIN_THREAD_FLOPS", 1)
    yield n
    scratch.set_num_threads(before)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
