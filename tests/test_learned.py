"""What the network learned: last-hidden-layer features of both twins, their t-SNE map and
the first layer's weights, drawn as the report draws them."""


import numpy as np
import pytest
from conftest_data import require_real

from bench import datasets
from bench.compare import TOLERANCES
from bench.experiments import get_experiment
from bench.measure.learned import UNITS, first_layer, hidden_features, learned
from bench.results import plots, records, schema
from bench.training import TorchRunner, make_runner

MACHINE = {"cpu": "test", "cores": 1, "machine_id": "0"}
N = 200


def _twins(name):
    """Both twins of `name` after a few training steps (batch norm's statistics move off 0
    and 1), the same weights in each."""
    require_real("mnist")
    exp = get_experiment(name)
    x, y = datasets.load_inputs("mnist", "test", layout=exp.layout, standardize=exp.standardize)
    runner = make_runner("scratch", exp)
    runner.begin_epoch(0)
    for i in range(N, N + 320, 32):  # not the images mapped below
        runner.train_step(x[i:i + 32], y[i:i + 32])
    return exp, x, y, runner, TorchRunner(exp, runner.model)


@pytest.mark.parametrize("name, features", [("ci-mlp", 512), ("ci-cnn", 16 * 7 * 7)])
def test_both_twins_last_hidden_features_agree(name, features):
    _, x, _, s, t = _twins(name)
    fs, ft = hidden_features(s, x[:N]), hidden_features(t, x[:N])
    assert fs.shape == ft.shape == (N, features)
    tol = TOLERANCES[np.dtype(np.float32)]
    np.testing.assert_allclose(fs, ft, rtol=tol.rtol, atol=tol.atol)


def _pixels(fig) -> np.ndarray:
    """The figure rendered: (height, width, 3) RGB."""
    fig.canvas.draw()
    import matplotlib.pyplot as plt

    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return rgb


def test_map_sorts_digits_and_both_plots_draw():
    pytest.importorskip("sklearn")
    exp, x, y, s, _ = _twins("ci-mlp")
    # one map (t-SNE is the slow part; the twins' features were compared above), shown twice
    mapped = learned(s, x, y, n=N, max_iter=500)
    rec = {"experiment": exp.to_dict(), "machine": MACHINE,
           "learned": {"scratch": mapped, "torch": mapped}}
    for v in rec["learned"].values():
        assert np.shape(v["points"]) == (N, 2) and np.isfinite(v["points"]).all()
        assert np.shape(v["weights"]) == (16, 784) and v["labels"] == y[:N].tolist()
    # a map that sorts digits: a point's nearest neighbour on it mostly shares its class
    pts = np.asarray(rec["learned"]["scratch"]["points"])
    d = ((pts[:, None] - pts[None]) ** 2).sum(-1) + np.eye(N) * 1e9
    same = np.mean(y[:N][d.argmin(1)] == y[:N])
    print(f"nearest neighbour on the t-SNE map shares the class for {same:.0%}")
    assert same > 0.6
    for draw in (plots.embedding, plots.first_weights):
        pixels = _pixels(draw(rec, "test run"))
        assert pixels.shape[1] > 300 and pixels.std() > 10  # not blank
    assert {"embedding-mlp.png", "weights-mlp.png"} <= set(plots.planned(
        [{**rec, "experiment": {**rec["experiment"], "name": "mlp"}, "histories": {
            "scratch": []}}], [], []))


def test_conv_filters_draw_as_images():
    exp, x, y, s, _ = _twins("ci-cnn")
    name, w, gates = first_layer(s.weights())
    assert (name, gates) == ("0.weight", 0)
    np.testing.assert_array_equal(w, s.weights()["0.weight"].reshape(len(w), -1))  # (8, 9)
    rec = {"experiment": exp.to_dict(), "machine": MACHINE,
           "learned": {"scratch": {"points": None, "labels": [], "first_layer": name,
                                   "weights": w.tolist()}}}
    fields = {"learned": records.RECORD_FIELDS["accuracy"]["learned"]}
    assert schema.problems({"learned": rec["learned"]}, fields) == []  # a record can hold it
    assert _pixels(plots.first_weights(rec, "test run")).std() > 10


@pytest.mark.parametrize("name, gates", [("ci-lstm", ("input i", "forget f", "cell g",
                                                      "output o")),
                                         ("ci-gru-fashion", ("reset r", "update z", "new n"))])
def test_a_recurrent_first_layer_is_its_input_weights_by_gate(name, gates):
    """The row-reading models' first layer is the recurrent layer's weight_ih_l0, not the
    output layer (1.weight), which the first weight whose name ends in "weight" was."""
    exp = get_experiment(name)
    runner = make_runner("scratch", exp)
    weights = runner.weights()
    layer, w, count = first_layer(weights)
    assert layer == "0.rnn.weight_ih_l0" and count == len(gates)
    hidden = weights["0.rnn.weight_hh_l0"].shape[1]
    full = weights[layer].reshape(count, hidden, 28)  # (gates, H, pixels of a row)
    assert w.shape == (count * UNITS, 28)
    for g in range(count):  # each gate's block holds that gate's first units
        np.testing.assert_array_equal(w[g * UNITS:(g + 1) * UNITS], full[g, :UNITS])
    rec = {"experiment": exp.to_dict(), "machine": MACHINE, "learned": {
        impl: {"points": None, "labels": [], "first_layer": layer, "weights": w.tolist(),
               "gates": list(gates)} for impl in ("scratch", "torch")}}
    assert plots.draws_first_layer(rec["learned"]["scratch"])
    fig = plots.first_weights(rec, "test run")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:count] == [f"scratch: {g}" for g in gates]
    assert "0.rnn.weight_ih_l0" in fig._suptitle.get_text()
    assert _pixels(fig).std() > 10
    # the old records' output layer (rows of 128, not images) is not drawn as a first layer
    old = {"first_layer": "1.weight", "weights": np.ones((10, 128)).tolist()}
    assert not plots.draws_first_layer(old)
