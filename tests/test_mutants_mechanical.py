"""The mechanical mutation run (tools/cosmic_ray_run.py, opt-in) stays runnable, and the real
bugs among its survivors stay caught.

The run itself takes half an hour; here its configuration is checked (every source file it
mutates has its tests mapped, and they exist), and each survivor of a run that was a real
behaviour difference gets its test below, named after what the mutant broke."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import scratch.functional as F

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        spec = importlib.util.spec_from_file_location("cosmic_ray_run",
                                                      ROOT / "tools" / "cosmic_ray_run.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "tools"))
    return module


def test_every_mutated_file_has_its_tests_mapped():
    tool = _tool()
    config = tool.load_config()
    names = tool.modules(config)
    assert "scratch/functional/activation.py" in names
    assert "scratch/optim/lr_scheduler.py" in names
    assert not any(n.endswith("__init__.py") for n in names)
    assert len(names) == len(config["tests"])


# --- survivors of the run that were real ---------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_scale_keeps_everything_at_p0_and_nothing_at_p1(dtype):
    """cosmic-ray NumberReplacer on `if p == 1.0` (-> `p == 0.0`) survived: the public
    kernel at p = 0 must scale every element by exactly 1, at p = 1 by exactly 0 (the
    modules skip it at p = 0, so only a direct call shows it)."""
    rng = np.random.default_rng(0)
    ones = F.dropout_scale(rng, (4, 257), 0.0, dtype)
    assert ones.dtype == dtype and np.array_equal(ones, np.ones((4, 257), dtype))
    zeros = F.dropout_scale(rng, (4, 257), 1.0, dtype)
    assert zeros.dtype == dtype and np.array_equal(zeros, np.zeros((4, 257), dtype))
