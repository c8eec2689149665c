"""The generative twins (issue 31): the convolutional VAE and the DCGAN against their torch twins.

Each model's forward and every gradient against torch (`compare`, float64 and float32)
and against finite differences (`gradcheck`, float64); the VAE's loss and the
reparameterisation's gradients; one training step of each experiment in both twins;
the two optimizers' checkpoint layout and a resumed run equal to the uninterrupted one;
lockstep in float64 on real data; and CI's fast checks (`ci-vae`, `ci-dcgan`), one
small epoch each with a measured bound.
"""

import numpy as np
import pytest
from conftest_data import require_real
from threadpoolctl import threadpool_limits

import reference
import scratch
from bench.compare import TOLERANCES, compare, run_lockstep
from bench.compare.lockstep_generative import drift_start, run_generative_lockstep
from bench.experiments import build_model, get_experiment
from bench.experiments.generative import (
    DCGAN,
    ConvVAE,
    Discriminator,
    ELBOLoss,
    Generator,
    dcgan_init,
)
from bench.experiments.torch_generative import elbo_loss
from bench.training import Data, load_data, make_runner, train_twin
from bench.training.generative import OptimizerPair, fit_generative
from scratch.gradcheck import central_difference
from scratch.testing import max_rel_diff

DTYPES = [np.float64, np.float32]


def small_models(rng, dtype, dcgan_weights: bool = True):
    """(model, inputs) of each generative model, small enough for finite differences.

    Finite differences take torch's default weights: DCGAN's N(0, 0.02^2) weights feed
    batch norms that divide by their small spread, so a nudge of 1e-6 moves the ReLUs'
    inputs by ~1e-4, and one of the thousands sitting that close to 0 crosses its kink."""
    vae = ConvVAE(3, 8, (2, 4), rng=rng, dtype=dtype)
    gan = DCGAN(5, 2, rng=rng, dtype=dtype)
    if dcgan_weights:
        dcgan_init(gan, rng)
    images = rng.random((3, 1, 28, 28)).astype(dtype)
    return [(vae, (images, rng.standard_normal((3, 3)).astype(dtype))),
            (Generator(5, 2, rng=rng, dtype=dtype), (rng.standard_normal((3, 5)).astype(dtype),)),
            (Discriminator(2, rng=rng, dtype=dtype), (2 * images - 1,)),
            (gan, (rng.standard_normal((3, 5)).astype(dtype),))]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_models_match_their_named_twins(dtype, rng):
    """Outputs, input gradients (the VAE's eps too), every parameter gradient and the batch
    norms' running statistics, within the dtype's tolerance."""
    for model, inputs in small_models(rng, dtype):
        assert type(reference.twin(model)).__module__ == "bench.experiments.torch_generative"
        result = compare(model, *inputs, rng=rng)
        assert len(result.gradient_names()) == len(inputs) + len(list(model.parameters()))
        result.assert_close(TOLERANCES[np.dtype(dtype)])


def test_models_gradcheck(rng):
    for model, inputs in small_models(rng, np.float64, dcgan_weights=False):
        result = scratch.gradcheck(model, *inputs, rng=rng)
        assert result.max_error <= 1e-6, type(model).__name__


def test_vae_gradient_reaches_eps_and_logvar(rng):
    """The reparameterisation's backward: a model whose decoder ignores z would pass the
    output checks of a zero gradient; here deps and dlogvar must be the chain rule's."""
    model = ConvVAE(3, 8, (2, 4), rng=rng, dtype=np.float64)
    x, eps = rng.random((2, 1, 28, 28)), rng.standard_normal((2, 3))
    logits, mu, logvar = model(x, eps)
    model.zero_grad()
    dx, deps = model.backward(rng.standard_normal(logits.shape), np.zeros_like(mu),
                              np.zeros_like(logvar))
    std = np.exp(logvar / 2)
    dz = deps / std  # the decoder's input gradient
    assert np.abs(dz).max() > 0
    # logvar's weight gradient: h^T (dz * eps * std / 2)
    h = model.encoder(x)
    np.testing.assert_allclose(model.logvar.weight.grad, (dz * eps * std / 2).T @ h,
                               rtol=1e-10)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_elbo_loss_matches_torch(dtype, rng):
    x = rng.random((4, 1, 28, 28)).astype(dtype)
    logits = (3 * rng.standard_normal((4, 1, 28, 28))).astype(dtype)
    mu, logvar = (rng.standard_normal((4, 5)).astype(dtype) for _ in range(2))
    loss_fn = ELBOLoss()
    loss = loss_fn(logits, mu, logvar, x)
    grads = loss_fn.backward()
    leaves = [reference.to_torch(a).requires_grad_(True) for a in (logits, mu, logvar)]
    tloss = elbo_loss(*leaves, reference.to_torch(x))
    tloss.backward()
    tol = TOLERANCES[np.dtype(dtype)]
    assert loss == pytest.approx(tloss.item(), rel=tol.rtol)
    for g, t in zip(grads, leaves):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=tol.rtol, atol=tol.atol)
    assert loss_fn.last_kl == pytest.approx(
        -0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar)) / 4, rel=tol.rtol)


def test_elbo_loss_gradcheck(rng):
    x = rng.random((2, 1, 28, 28))
    arrays = [rng.standard_normal((2, 1, 28, 28)), rng.standard_normal((2, 3)),
              rng.standard_normal((2, 3))]
    loss_fn = ELBOLoss()
    loss_fn(*arrays, x)
    for analytic, arr in zip(loss_fn.backward(), arrays):
        numeric = central_difference(lambda: loss_fn(*arrays, x), arr, 1e-6)
        assert max_rel_diff(analytic, numeric) <= 1e-6


def test_bad_input_is_named(rng):
    vae = ConvVAE(3, 8, (2, 4), rng=rng)
    with pytest.raises(ValueError, match=r"eps must have shape \(2, 3\)"):
        vae(rng.random((2, 1, 28, 28), np.float32), np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"z must have shape \(batch, 5\)"):
        Generator(5, 2, rng=rng)(np.zeros((2, 1, 28, 28), np.float32))
    exp = get_experiment("ci-vae")
    for layers, match in ((("vae latent=0",), "latent must be >= 1"),
                          (("vae channels=3",), "channels must be two integers"),
                          (("dcgan",), "one layer spec, 'vae ...'"),
                          (("vae", "linear 10"), "one layer spec")):
        with pytest.raises(ValueError, match=match):
            build_model(exp.with_overrides(layers=layers), rng)
    gan = get_experiment("ci-dcgan").with_overrides(schedule="StepLR",
                                                    schedule_args={"step_size": 1})
    with pytest.raises(ValueError, match="a GAN takes no learning-rate schedule"):
        make_runner("scratch", gan)


@pytest.mark.parametrize("name", ["vae-mnist", "dcgan-mnist"])
def test_one_step_in_both_twins(name):
    """One training step from the same weights and noise: the same loss, the same update
    (float64, as tests/test_training.py holds the classifiers)."""
    exp = get_experiment(name).with_overrides(dtype="float64")
    model = build_model(exp, np.random.default_rng(exp.seed))
    twins = [make_runner(impl, exp, model=model) for impl in ("scratch", "torch")]
    before = {k: v.copy() for k, v in twins[0].weights().items()}
    x = np.random.default_rng(1).random((8, 1, 28, 28))
    for runner in twins:
        runner.begin_epoch(0)
    losses = [np.atleast_1d(runner.train_step(x)) for runner in twins]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-12)
    after = [runner.weights() for runner in twins]
    largest = max(float(np.abs(after[1][k] - before[k]).max()) for k in before)
    assert largest > 0
    for key in before:
        if after[1][key].dtype.kind == "f":
            step, tstep = after[0][key] - before[key], after[1][key] - before[key]
            assert max_rel_diff(step, tstep, floor=1e-3 * largest) <= 1e-8, key
        else:
            np.testing.assert_array_equal(after[0][key], after[1][key])


@pytest.mark.parametrize("name", ["ci-vae", "ci-dcgan"])
def test_noise_is_shared_by_the_twins_and_new_each_epoch(name):
    exp = get_experiment(name)
    s, t = (make_runner(impl, exp) for impl in ("scratch", "torch"))
    draws = []
    for epoch in (0, 1):
        for runner in (s, t):
            runner.begin_epoch(epoch)
        draws.append([runner.draw(4) for runner in (s, t)])
    for first, second in draws:
        np.testing.assert_array_equal(first, second)
        assert first.dtype == np.float32 and first.shape == (4, s.latent)
    assert not np.array_equal(draws[0][0], draws[1][0])


def test_optimizer_pair_state_is_torch_layout_and_round_trips():
    """Both Adams' state as one torch-layout state dict (indices numbered on), loadable by
    the other twin's pair: a checkpoint of either twin resumes in either."""
    exp = get_experiment("ci-dcgan").with_overrides(dtype="float64")
    model = build_model(exp, np.random.default_rng(0))
    s, t = (make_runner(impl, exp, model=model) for impl in ("scratch", "torch"))
    x = np.random.default_rng(2).random((4, 1, 28, 28))
    for r in (s, t):
        r.begin_epoch(0)
        r.train_step(x)
    sd = t.optimizer_state()
    n_gen = len(list(model.generator.parameters()))
    assert [g["params"] for g in sd["param_groups"]] == [
        list(range(n_gen)), list(range(n_gen, len(list(model.parameters()))))]
    fresh = make_runner("scratch", exp)
    fresh.load_optimizer_state(sd)
    mine = fresh.optimizer_state()
    assert sorted(mine["state"]) == sorted(sd["state"])
    for i, state in sd["state"].items():
        np.testing.assert_array_equal(mine["state"][i]["exp_avg"], state["exp_avg"])
    with pytest.raises(ValueError, match="expected 2 param groups, got 1"):
        OptimizerPair(*s.optimizer.parts).load_state_dict(
            {"state": {}, "param_groups": sd["param_groups"][:1]})


def tiny(exp_name: str, n: int = 48, n_test: int = 40, **overrides):
    exp = get_experiment(exp_name).with_overrides(dtype="float64", train_subset=n,
                                                  batch_size=16, **overrides)
    rng = np.random.default_rng(3)
    images = rng.random((n + n_test, 1, 28, 28))
    labels = np.zeros(n + n_test, np.int64)
    return exp, Data(images[:n], labels[:n], images[n:], labels[n:])


@pytest.mark.parametrize("name", ["ci-vae", "ci-dcgan"])
def test_resumed_run_is_the_uninterrupted_one(name, tmp_path):
    """Two epochs straight against one, a checkpoint, and one more: the same weights and
    history (the GAN's two optimizers and the noise streams included)."""
    exp, data = tiny(name, epochs=2)
    with threadpool_limits(1, user_api="blas"):
        straight, _ = train_twin(exp, "scratch", data, tmp_path / "a", show_progress=False)
        # the first epoch of the same run: a cosine schedule keeps spanning two epochs
        first = exp.with_overrides(epochs=1, schedule_args=exp.schedule_args)
        _, paths = train_twin(first, "scratch", data, tmp_path / "b", show_progress=False)
        resumed, paths = train_twin(exp, "scratch", data, tmp_path / "b",
                                    resume_from=paths.checkpoint, show_progress=False)
    assert [vars(e)["test_loss"] for e in resumed.epochs] == [
        vars(e)["test_loss"] for e in straight.epochs]
    a = scratch.load(tmp_path / "a" / paths.checkpoint.name)["model"]
    b = scratch.load(paths.checkpoint)["model"]
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_train_command_writes_a_generative_checkpoint(tmp_path, monkeypatch, capsys):
    """`twinbench train ci-vae` through the CLI, its data replaced by a tiny set."""
    from bench import cli

    exp, data = tiny("ci-vae")
    monkeypatch.setattr("bench.training.load_data", lambda e, **kw: data.astype(np.float32))
    assert cli.main(["train", "ci-vae", "--impl", "both", "--no-progress",
                     "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "scratch epoch 1: loss" in out and "torch epoch 1: loss" in out
    assert (tmp_path / "ci-vae-seed0-float32-torch.npz").is_file()
    assert cli.main(["train", "ci-vae", "--lockstep", "--no-progress",
                     "--out", str(tmp_path)]) == 0
    assert "test loss scratch " in capsys.readouterr().out
    assert (tmp_path / "ci-vae-seed0-float32-lockstep.json").is_file()


@pytest.mark.parametrize("name", ["ci-vae", "ci-dcgan"])
def test_lockstep_float64_tiny(name):
    """Two epochs of three steps in lockstep; the one-ulp self-comparison runs beside."""
    exp, data = tiny(name, epochs=2)
    with threadpool_limits(1, user_api="blas"):
        report = run_generative_lockstep(exp, data, show_progress=False, log=None)
    assert report.steps == 6 and len(report.ulp_loss_diffs) == 6
    assert report.ulp_max_loss_diff == max(report.ulp_loss_diffs)
    assert report.max_steps is None  # whole epochs, no step limit cut them
    assert report.max_weight_rel_diff <= 1e-10
    # two libraries' sums never round all alike: a zero would mean one twin ran twice
    assert 0 < report.max_loss_diff <= 1e-10
    assert 0 < report.ulp_weight_rel_diff  # the nudged run did move apart
    assert report.test_loss["scratch"] == pytest.approx(report.test_loss["torch"], rel=1e-10)
    assert "test_accuracy" not in report.to_json()
    assert drift_start([0.0, 1e-9, 1e-2, 0.0], 1e-3) == 3 and drift_start([0.0], 1.0) is None


# --- on real MNIST: CI's fast checks and float64 lockstep -------------------------------------

# Measured (seed 0, one thread, the first 1,000 test images): ci-vae 204.4 in both twins
# after its epoch on 2,000 images (784 ln 2 = 543 at the start: ci-vae's target_loss);
# ci-dcgan's discriminator 0.106 on the test images against its generator (ln 4 = 1.39 at
# chance). The bounds leave room for other BLAS orders.
CI_VAE_BOUND = get_experiment("ci-vae").target_loss
CI_DCGAN_BOUND = 0.3
TEST_IMAGES = 1_000


@pytest.fixture(scope="module")
def mnist():
    require_real("mnist")
    data = load_data(get_experiment("ci-vae"))
    return Data(data.x_train, data.y_train, data.x_test[:TEST_IMAGES], data.y_test[:TEST_IMAGES])


@pytest.mark.parametrize("name,bound", [("ci-vae", CI_VAE_BOUND), ("ci-dcgan", CI_DCGAN_BOUND)])
def test_ci_generative_learns_and_twins_agree(mnist, name, bound):
    exp = get_experiment(name)
    data = Data(mnist.x_train[:exp.train_subset], mnist.y_train[:exp.train_subset],
                mnist.x_test, mnist.y_test)
    with threadpool_limits(1, user_api="blas"):
        histories = {impl: fit_generative(make_runner(impl, exp), data, show_progress=False,
                                          log=None) for impl in ("scratch", "torch")}
    test = {impl: h.final_test_loss for impl, h in histories.items()}
    seconds = {impl: h.epochs[-1].seconds for impl, h in histories.items()}
    print(f"{name}: test loss {test}, training seconds {seconds}")
    assert test["scratch"] <= bound and test["torch"] <= bound
    assert test["scratch"] == pytest.approx(test["torch"], rel=0.01)  # the 1%


@pytest.mark.parametrize("name,steps", [("ci-vae", 40), ("ci-dcgan", 40)])
def test_lockstep_float64_on_real_data(mnist, name, steps):
    exp = get_experiment(name).with_overrides(dtype="float64")
    data = mnist.astype(np.float64)
    with threadpool_limits(1, user_api="blas"):
        report = run_generative_lockstep(exp, Data(data.x_train, data.y_train, data.x_test[:200],
                                                   data.y_test[:200]),
                                         steps=steps, show_progress=False, log=None)
    print(f"{name} lockstep float64, {report.steps} steps: weights "
          f"{report.max_weight_rel_diff:.2e} ({report.worst_tensor}), loss "
          f"{report.max_loss_diff:.2e}; one ulp off: weights {report.ulp_weight_rel_diff:.2e}, "
          f"loss {max(report.ulp_loss_diffs):.2e}")
    assert report.steps == steps and report.max_steps == steps  # the table says so
    assert report.max_weight_rel_diff <= 1e-8


def test_run_lockstep_hands_generative_experiments_over():
    exp, data = tiny("ci-vae", n=16)
    report = run_lockstep(exp, data, show_progress=False, log=None)
    assert report.steps == 1 and report.ulp_loss_diffs


# --- records, tables and figures ----------------------------------------------------------


def test_generative_record_table_and_figure(tmp_path):
    """A tiny VAE run through `run_generative` into a record; its table row and figure."""
    from bench.measure.generative import PICTURES, run_generative
    from bench.results import plots, records, report

    exp, data = tiny("ci-vae", n=16)
    rec = run_generative(exp.with_overrides(dtype="float32"), data.astype(np.float32),
                         show_progress=False, log=None)
    pics = rec["pictures"]
    assert len(pics["samples"]["scratch"]) == PICTURES and len(pics["originals"]) == 8
    assert 0 < max(pics["sample_diff"]) < 1e-4  # float32 twins, same latent vectors
    path = records.append_record("generative", rec, tmp_path)
    assert records.read_record(path)["final_test_loss"] == rec["final_test_loss"]
    report.write_report(tmp_path)
    table = (tmp_path / "generative.md").read_text()
    assert "| ci-vae " in table and "not scored" in table
    assert (tmp_path / "generative-ci-vae.png").read_bytes()[:4] == b"\x89PNG"
    fig = plots.generative(records.read_record(path))
    assert len(fig.axes) == 4  # reconstructions, two sample grids, agreement


def test_generative_lockstep_record_in_the_table(tmp_path):
    from bench.measure.accuracy import run_lockstep_record
    from bench.results import records, report

    exp, data = tiny("ci-dcgan", n=48)  # 3 steps an epoch, cut after 2
    rec = run_lockstep_record(exp, data, max_steps=2, show_progress=False, log=None)
    assert rec["steps"] == 2 and "test_accuracy" not in rec
    records.append_record("lockstep", rec, tmp_path)
    report.write_report(tmp_path)
    text = (tmp_path / "lockstep.md").read_text()
    assert "| ci-dcgan " in text and "one ulp off ends" in text
    assert "| first steps of 1 |" in text  # not "1": the step limit stopped it early


def test_speed_workload_steps_both_twins_alike():
    """The speed grid's DCGAN step: the same losses from the same weights and batch."""
    from bench.measure.speed.grid import cases
    from bench.measure.speed.workloads import make_workload, train_flops

    losses = [make_workload("dcgan-32", impl, 4, "float64").step() for impl in ("scratch",
                                                                                "torch")]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-12)
    assert make_workload("dcgan-32", "scratch", 4, "float32").forward().shape == (4, 1, 28, 28)
    assert train_flops("dcgan-32", 2) == 2 * train_flops("dcgan-32", 1) > 5e7
    full = {(c.batch, c.threads) for c in cases("full") if c.arch == "dcgan-32"}
    assert {b for b, _ in full} == {32, 128, 512} and len({t for _, t in full}) >= 1


def test_eval_reports_a_generative_checkpoint_and_predict_refuses_it(tmp_path, monkeypatch,
                                                                    capsys):
    from bench import cli

    exp = get_experiment("ci-dcgan")  # the registry's: eval checks the checkpoint against it
    data = tiny("ci-dcgan", n=32)[1].astype(np.float32)
    _, paths = train_twin(exp, "scratch", data, tmp_path, show_progress=False)
    monkeypatch.setattr("bench.training.load_data", lambda e, **kw: data)
    capsys.readouterr()
    assert cli.main(["eval", str(paths.checkpoint)]) == 0
    assert "scratch ci-dcgan (after 1 epochs): test_loss " in capsys.readouterr().out
    assert cli.main(["predict", str(paths.checkpoint), str(tmp_path / "x.png")]) == 1
    assert "a generative model (gan): it classifies no picture" in capsys.readouterr().err


def test_score_of_samples_by_a_trained_classifier(mnist, tmp_path):
    """The score: a ci-cnn checkpoint judges each twin's samples; the fraction confident and
    the histogram's entropy follow from the judge's own probabilities."""
    from bench.measure.generative import CONFIDENT, grey_levels, picture_noise, score
    from bench.training.inference import load_twins

    cnn = get_experiment("ci-cnn")
    small = Data(mnist.x_train[:256], mnist.y_train[:256], mnist.x_test[:100],
                 mnist.y_test[:100])
    with threadpool_limits(1, user_api="blas"):
        _, paths = train_twin(cnn.with_overrides(epochs=1), "scratch", small, tmp_path,
                              show_progress=False)
    exp, data = tiny("ci-dcgan", n=16)
    model = build_model(exp, np.random.default_rng(0))
    runners = {impl: make_runner(impl, exp, model=model) for impl in ("scratch", "torch")}
    got = score(runners, paths.checkpoint, n=50)
    judge = load_twins(paths.checkpoint)
    z = runners["scratch"].draw(50, picture_noise(exp.seed + 1))
    probs = judge.probabilities(judge.inputs(grey_levels(runners["scratch"].sample(z))))[0]
    counts = np.bincount(probs.argmax(axis=1), minlength=10)
    assert got["scratch"]["histogram"] == counts.tolist()
    assert got["scratch"]["confident"] == np.mean(probs.max(axis=1) >= CONFIDENT)
    p = counts[counts > 0] / 50
    assert got["scratch"]["entropy"] == pytest.approx(-(p * np.log2(p)).sum())
    assert got["torch"]["histogram"] == got["scratch"]["histogram"]  # same weights, same z
