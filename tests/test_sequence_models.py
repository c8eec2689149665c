"""Models of one's own (bench.experiments.models) against their named torch twins, and
the sequence experiments' fast CI checks on real data: lockstep in float64 and accuracy.

The lockstep runs are one epoch over a small training subset (and a small test set for
the accuracy comparison) so they stay within seconds; the whole-epoch bound is the
same 1e-8 as the MLP and CNN lockstep tests.
"""

import numpy as np
import pytest
from conftest_data import require_real
from threadpoolctl import threadpool_limits

import reference
import scratch
from bench.compare import TOLERANCES, compare, run_lockstep
from bench.experiments import build_model, get_experiment
from bench.experiments.models import ImageRows, VisionTransformer
from bench.training import Data, fit, load_data, make_runner

LOCKSTEP_BOUND = 1e-8


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: np.dtype(d).name)
def test_own_models_match_their_named_twins(dtype, rng):
    for body, x in ((ImageRows("gru", 9, rng=rng, dtype=dtype), rng.standard_normal((3, 784))),
                    (VisionTransformer(7, 8, 2, 2, 16, rng=rng, dtype=dtype),
                     rng.standard_normal((3, 1, 28, 28)))):
        model = scratch.Sequential(body, scratch.Linear(body_dim(body), 10, rng=rng,
                                                        dtype=dtype))
        assert type(reference.twin(model)[0]).__module__ == "bench.experiments.torch_models"
        compare(model, x.astype(dtype), rng=rng).assert_close(TOLERANCES[np.dtype(dtype)])


def body_dim(body):
    return body.rnn.hidden_size if isinstance(body, ImageRows) else body.patch_embed.out_features


def test_vision_transformer_gradcheck(rng):
    m = VisionTransformer(7, 4, 2, 1, 6, rng=rng, dtype=np.float64)
    assert scratch.gradcheck(m, rng.standard_normal((2, 1, 28, 28)), rng=rng).max_error <= 1e-6


def test_a_class_without_twin_names_the_way_out(rng):
    class Mine(scratch.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="torch_twin = 'package.module:Class'"):
        reference.twin(scratch.Sequential(Mine(), scratch.Linear(2, 2, rng=rng)))

    class Wrong(Mine):
        torch_twin = "bench.experiments.torch_models:NoSuchClass"

    with pytest.raises(TypeError, match="names no class"):
        reference.twin(scratch.Sequential(Wrong(), scratch.Linear(2, 2, rng=rng)))


@pytest.fixture(scope="module")
def sequences():
    require_real("mnist")
    return {name: load_data(get_experiment(name).with_overrides(dtype="float64"))
            for name in ("ci-lstm", "ci-vit")}


@pytest.mark.parametrize("name,train,steps", [("ci-lstm", 640, 20), ("ci-vit", 320, 10)])
def test_lockstep_float64_one_epoch(sequences, name, train, steps):
    exp = get_experiment(name).with_overrides(dtype="float64", epochs=1, train_subset=train)
    full = sequences[name]
    data = Data(full.x_train[:train], full.y_train[:train], full.x_test[:500], full.y_test[:500])
    with threadpool_limits(1, user_api="blas"):
        report = run_lockstep(exp, data, show_progress=False, log=None)
    print(f"{name} lockstep float64, {report.steps} steps: weights "
          f"{report.max_weight_rel_diff:.2e} ({report.worst_tensor}), "
          f"loss {report.max_loss_diff:.2e}")
    assert report.steps == steps
    assert report.max_weight_rel_diff <= LOCKSTEP_BOUND
    assert report.test_accuracy["scratch"] == pytest.approx(report.test_accuracy["torch"])


@pytest.mark.parametrize("name", ["ci-lstm", "ci-gru-fashion", "ci-vit"])
def test_ci_sequence_model_learns(sequences, name):
    """One epoch on 5,000 images, scratch only (its twin's agreement is the lockstep's);
    each target sits a few points under what the epoch measured (83.3, 73.4, 62.3%)."""
    exp = get_experiment(name)
    data = (sequences[name].astype(np.float32) if name in sequences else load_data(exp))
    with threadpool_limits(1, user_api="blas"):
        history = fit(make_runner("scratch", exp), data, show_progress=False, log=None)
    assert history.final_test_accuracy >= exp.target_accuracy


def test_experiments_build_both_twins_from_the_same_weights():
    for name in ("lstm", "gru-fashion", "vit"):
        exp = get_experiment(name)
        model = build_model(exp, np.random.default_rng(exp.seed))
        twin = reference.twin(model)
        for k, v in twin.state_dict().items():
            np.testing.assert_array_equal(model.state_dict()[k], v.numpy())
