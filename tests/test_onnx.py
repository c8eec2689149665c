"""ONNX export of the CI experiments' models (MLP, CNN, LSTM, ViT), run by onnxruntime
against scratch.

`twinbench export` checks the file on the test set's first 1,000 images before
writing it; here the file is also run again, at another batch size, and a
model whose weights differ from the file's must fail the same check.
"""

import numpy as np
import pytest
from conftest_data import require_real

import scratch
from bench import cli, datasets
from bench.compare import TOLERANCES
from bench.compare.onnx import check_onnx, onnx_logits
from bench.experiments import get_experiment, input_shape
from bench.training import History, make_runner, save_checkpoint
from bench.training.inference import load_twins

N = 1000


def _checkpoint(tmp_path, name):
    """A checkpoint as `twinbench train` writes it, after a few real training steps (so batch
    norm's running statistics are not the trivial 0 and 1)."""
    exp = get_experiment(name)
    runner = make_runner("scratch", exp)
    x, y = datasets.load_inputs(exp.dataset, "train", layout=exp.layout,
                                standardize=exp.standardize)
    runner.begin_epoch(0)
    for i in range(0, 640, exp.batch_size):
        runner.train_step(x[i:i + exp.batch_size], y[i:i + exp.batch_size])
    path = tmp_path / f"{name}-scratch.npz"
    save_checkpoint(path, runner, History(exp.to_dict(), "scratch", []))
    return path


@pytest.mark.parametrize("name", ["ci-mlp", "ci-cnn", "ci-lstm", "ci-vit", "ci-resnet"])
def test_export_runs_in_onnxruntime_like_scratch(tmp_path, capsys, name):
    dataset = get_experiment(name).dataset
    require_real(dataset)
    ckpt = _checkpoint(tmp_path, name)
    out = tmp_path / f"{name}.onnx"
    assert cli.main(["export", str(ckpt), str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"first {N} test images" in printed
    print(printed)

    twins = load_twins(ckpt)
    images = datasets.load(dataset, "test")[0][:N]
    x = twins.inputs(images)  # (1000, 784) or (1000, 1, 28, 28)
    check = check_onnx(out, twins.scratch_model, x)
    tol = TOLERANCES[np.dtype(np.float32)]
    assert check.within_tolerance, check
    assert check.max_abs_diff <= tol.atol + tol.rtol * 100  # logits are O(10)
    assert check.same_predictions == N
    # the batch dimension is dynamic: one image and 37 give the same logits as 1000
    np.testing.assert_allclose(onnx_logits(out, x[:1]), onnx_logits(out, x[:37])[:1],
                               rtol=tol.rtol, atol=tol.atol)

    # planted: another weight in scratch, the file unchanged -> the check fails
    first = next(iter(twins.scratch_model.parameters()))
    first.data[(0,) * first.data.ndim] += 0.5
    assert not check_onnx(out, twins.scratch_model, x).within_tolerance


def test_export_refuses_another_architecture_and_writes_nothing(tmp_path, capsys):
    require_real("mnist")
    ckpt = _checkpoint(tmp_path, "ci-mlp")
    out = tmp_path / "m.onnx"
    assert cli.main(["export", str(ckpt), str(out), "--experiment", "ci-cnn"]) == 1
    err = capsys.readouterr().err
    assert "does not fit experiment 'ci-cnn'" in err and "Traceback" not in err
    assert not out.exists()


def test_input_shape_of_the_export(tmp_path):
    # what the exported graph declares: a named, dynamic batch dimension
    onnx = pytest.importorskip("onnx")
    from reference.export import export_onnx

    exp = get_experiment("ci-cnn")
    runner = make_runner("scratch", exp)
    export_onnx(runner.model, (1, *input_shape(exp)), tmp_path / "m.onnx")
    graph = onnx.load(tmp_path / "m.onnx").graph
    dims = graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [1, 28, 28]


def _dropout_model(training: bool):
    rng = np.random.default_rng(0)
    model = scratch.Sequential(scratch.Linear(12, 16, rng=rng), scratch.ReLU(),
                               scratch.Dropout(0.5, rng=rng), scratch.BatchNorm1d(16),
                               scratch.Linear(16, 10, rng=rng))
    return model.train(training)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_export_and_check_run_in_eval_mode_and_give_the_mode_back(training):
    """A model with dropout and batch norm, handed over in either mode: onnx_bytes exports
    its eval-mode graph and check_onnx compares scratch in eval mode (dropout off, running
    statistics), so the two agree within float32 tolerance on every image; afterwards the
    caller's model is in the mode it was handed over in."""
    pytest.importorskip("onnxruntime")
    from reference.export import onnx_bytes

    model = _dropout_model(training)
    data = onnx_bytes(model, (1, 12))
    assert model.training is training and all(m.training is training for m in model.modules())
    x = np.random.default_rng(1).standard_normal((40, 12)).astype(np.float32)
    check = check_onnx(data, model, x)
    assert check.within_tolerance and check.same_predictions == 40, check
    assert model.training is training and all(m.training is training for m in model.modules())
