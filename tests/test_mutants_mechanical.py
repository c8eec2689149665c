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


def test_embedding_max_norm_leaves_a_row_exactly_at_the_norm_alone():
    """cosmic-ray `norms > max_norm` -> `>=` survived: torch renormalises only rows whose
    norm exceeds max_norm, so a row at exactly max_norm keeps its bits (>= would scale it
    by max_norm / (max_norm + 1e-7), 2e-8 off in float64), as in torch's twin."""
    import torch

    weight = np.array([[3.0, 4.0], [6.0, 8.0], [0.5, 0.0]])  # norms 5, 10, 0.5
    idx = np.array([[0, 1], [2, 0]])
    want = torch.from_numpy(weight.copy())
    torch.nn.functional.embedding(torch.from_numpy(idx), want, max_norm=5.0)
    got = weight.copy()
    F.embedding_renorm_(got, idx, 5.0, 2.0)
    assert np.array_equal(got[0], weight[0]) and np.array_equal(want[0].numpy(), weight[0])
    assert np.array_equal(got[2], weight[2])
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-15, atol=0)  # float64


OPTIMIZERS = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_repr_is_torchs(name):
    """cosmic-ray `+ "\\n)"` -> `* "\\n)"` in Optimizer.__repr__ survived (repr raised
    TypeError, untested): the text is torch's, character for character, for two groups."""
    import torch

    import scratch
    from scratch import optim

    a, b = scratch.Parameter(np.zeros(3)), scratch.Parameter(np.zeros(2))
    ta, tb = (torch.zeros(n, dtype=torch.float64, requires_grad=True) for n in (3, 2))
    mine = getattr(optim, name)([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    theirs = getattr(torch.optim, name)([{"params": [ta]}, {"params": [tb], "lr": 0.5}], lr=0.1)
    assert repr(mine) == repr(theirs)


@pytest.mark.parametrize("shape", [(4,), (3, 1), (2,)])
def test_optimizer_state_of_another_shape_is_refused(shape):
    """cosmic-ray `arr.shape != p.shape` -> `<` survived (only a smaller state was tried):
    a saved state of any other shape than its parameter's is refused by name."""
    import scratch
    from scratch import optim

    p = scratch.Parameter(np.zeros(3))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.ones(3)
    opt.step()
    saved = opt.state_dict()
    saved["state"][0]["momentum_buffer"] = np.zeros(shape)
    with pytest.raises(ValueError, match=rf"'momentum_buffer' of shape \({shape[0]},"
                                         rf".*does not match its parameter's shape \(3,\)"):
        opt.load_state_dict(saved)
