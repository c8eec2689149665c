"""Shared fixtures. Tolerances live in bench.compare.TOLERANCES (one per dtype)."""

import numpy as np
import pytest
import torch

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


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
