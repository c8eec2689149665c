"""CI's fast accuracy check on real MNIST: the scratch MLP learns, and its twin agrees.

Needs the real data set (tox fetches it first); without it these tests skip,
and under CI=true they fail.
"""

import re

import numpy as np
import pytest
from conftest_data import require_real

from bench import cli
from bench.compare import run_lockstep
from bench.experiments import get_experiment
from bench.training import fit, load_data, make_runner

# Percent, scratch, 2 epochs on the first 10,000 training images. Measured over seeds 0-5
# (weights and batch order): 95.51, 95.51, 95.53, 95.47, 95.60, 95.61, a mean of 95.54 and
# a standard deviation of 0.05 points. 95.25 is more than five deviations under the mean
# (and 0.22 under the worst seed), so noise cannot fail it, while a bug that costs a
# quarter of a point of accuracy (a subtly wrong gradient or update) does.
TARGET = 95.25
TWIN_GAP = 0.5  # percentage points between the twins


@pytest.fixture(scope="module")
def mnist_subset():
    require_real("mnist")
    exp = get_experiment("ci-mlp")
    return exp, load_data(exp)


def test_scratch_mlp_reaches_target_and_twins_agree(mnist_subset):
    exp, data = mnist_subset
    assert len(data.y_train) == 10_000 and len(data.y_test) == 10_000
    acc = {impl: fit(make_runner(impl, exp), data, show_progress=False, log=None)
           .final_test_accuracy for impl in ("scratch", "torch")}
    print(f"ci-mlp test accuracy after {exp.epochs} epochs: {acc}")
    assert acc["scratch"] >= TARGET
    assert abs(acc["scratch"] - acc["torch"]) <= TWIN_GAP


def test_the_mlp_speedrun_reaches_its_target_in_both_twins():
    """speedrun-mlp's whole recipe (4 epochs of all 60,000 images, a few seconds a twin):
    both twins end at or above its 98% target and within TWIN_GAP of each other."""
    require_real("mnist")
    exp = get_experiment("speedrun-mlp")
    data = load_data(exp)
    acc = {impl: fit(make_runner(impl, exp), data, show_progress=False, log=None)
           .final_test_accuracy for impl in ("scratch", "torch")}
    print(f"speedrun-mlp test accuracy after {exp.epochs} epochs: {acc}")
    assert min(acc.values()) >= exp.target_accuracy
    assert abs(acc["scratch"] - acc["torch"]) <= TWIN_GAP


def test_lockstep_float64_on_real_data(mnist_subset):
    exp, data = mnist_subset
    exp64 = exp.with_overrides(dtype="float64", epochs=1)
    data64 = data.astype(np.float64)
    report = run_lockstep(exp64, data64, show_progress=False, log=None)
    print(f"lockstep float64, {report.steps} steps: weights {report.max_weight_rel_diff:.2e}")
    assert report.steps == 313
    assert report.max_weight_rel_diff <= 1e-8
    assert report.test_accuracy["scratch"] == pytest.approx(report.test_accuracy["torch"])


def test_train_and_eval_commands(mnist_subset, tmp_path, capsys):
    assert cli.main(["train", "ci-mlp", "--epochs", "1", "--no-progress",
                     "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "test_accuracy" in out and "scratch epoch 1:" in out  # the per-epoch table and log
    ckpt = tmp_path / "ci-mlp-seed0-float32-scratch.npz"
    assert ckpt.exists() and (tmp_path / "ci-mlp-seed0-float32-scratch.json").exists()
    assert cli.main(["eval", str(ckpt)]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "confusion matrix" in out
    # the confusion matrix's rows add up to the test set's class counts
    rows = [line for line in out.splitlines() if line.startswith("|") and "true" not in line
            and "---" not in line]
    counts = [sum(int(v) for v in row.strip("|").split("|")[1:]) for row in rows]
    assert counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    trained = re.findall(r"test accuracy ([\d.]+)%", out)
    # Every weights file predict takes, eval takes: both twins hold the checkpoint's weights.
    for suffix in (".pt", ".safetensors", ".npz"):
        weights = tmp_path / f"weights{suffix}"
        assert cli.main(["convert", str(ckpt), str(weights)]) == 0
        capsys.readouterr()
        assert cli.main(["eval", str(weights), "--experiment", "ci-mlp"]) == 0
        out = capsys.readouterr().out
        assert "scratch ci-mlp (weights file)" in out and "torch ci-mlp (weights file)" in out
        assert re.findall(r"test accuracy ([\d.]+)%", out) == trained * 2
