"""CI's fast CNN check on real MNIST: the scratch CNN learns quickly, and its twin agrees.

Needs the real data set (tox fetches it first); without it these tests skip,
and under CI=true they fail. Benchmarks never pass or fail on time: the training
seconds are printed, not asserted. numpy's BLAS is held to one thread, as
conftest holds torch to one, so a busy machine cannot stall a second BLAS thread.
"""

import numpy as np
import pytest
from conftest_data import require_real
from threadpoolctl import threadpool_limits

from bench import cli
from bench.compare import run_lockstep
from bench.experiments import get_experiment
from bench.training import fit, load_data, make_runner

TARGET = 95.0  # percent, scratch, 2 epochs on the first 10,000 training images
TWIN_GAP = 0.5  # percentage points between the twins


@pytest.fixture(scope="module")
def mnist_images():
    require_real("mnist")
    exp = get_experiment("ci-cnn")
    return exp, load_data(exp)


def test_scratch_cnn_reaches_target_and_twins_agree(mnist_images):
    exp, data = mnist_images
    assert data.x_train.shape == (10_000, 1, 28, 28) and len(data.y_test) == 10_000
    with threadpool_limits(1, user_api="blas"):
        histories = {impl: fit(make_runner(impl, exp), data, show_progress=False, log=None)
                     for impl in ("scratch", "torch")}
    acc = {impl: h.final_test_accuracy for impl, h in histories.items()}
    seconds = {impl: sum(e.seconds for e in h.epochs) for impl, h in histories.items()}
    print(f"ci-cnn after {exp.epochs} epochs: test accuracy {acc}, training seconds {seconds}")
    assert acc["scratch"] >= TARGET
    assert abs(acc["scratch"] - acc["torch"]) <= TWIN_GAP


def test_cnn_lockstep_float64_on_real_data(mnist_images):
    exp, data = mnist_images
    exp64 = exp.with_overrides(dtype="float64", epochs=1)
    data64 = data.astype(np.float64)
    with threadpool_limits(1, user_api="blas"):
        report = run_lockstep(exp64, data64, show_progress=False, log=None)
    print(f"CNN lockstep float64, {report.steps} steps: weights {report.max_weight_rel_diff:.2e} "
          f"({report.worst_tensor}), loss {report.max_loss_diff:.2e}")
    assert report.steps == 313
    assert report.max_weight_rel_diff <= 1e-8
    assert report.test_accuracy["scratch"] == pytest.approx(report.test_accuracy["torch"])


def test_train_and_eval_commands_on_images(mnist_images, tmp_path, capsys):
    """The image layout survives the checkpoint: eval rebuilds the CNN and feeds it images."""
    with threadpool_limits(1, user_api="blas"):
        assert cli.main(["train", "ci-cnn", "--epochs", "1", "--no-progress",
                         "--out", str(tmp_path)]) == 0
        assert "scratch epoch 1:" in capsys.readouterr().out
        assert cli.main(["eval", str(tmp_path / "ci-cnn-seed0-float32-scratch.npz")]) == 0
    out = capsys.readouterr().out
    acc = float(out.split("test accuracy ")[1].split("%")[0])
    assert acc >= 90.0  # one epoch on 10,000 images
