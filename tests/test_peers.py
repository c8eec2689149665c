"""The NumPy peers through the public twin check, and the reproductions of what the audit found.

Each peer's tests skip when it is not installed (the default CI installs none; `tox -e
peers` installs all). The reproductions are minimal, use each peer's public API only,
and pin the diagnosis: each asserts the peer's value equals the formula the diagnosis
names, and differs from torch's.
"""

import numpy as np
import pytest
import torch

from bench.peers import audit
from bench.peers.load import available, load
from bench.results.tables import peers_parity_table, peers_speed_table


def needs(peer):
    return pytest.mark.skipif(not available(peer), reason=f"{peer} is not installed "
                              "(pip install -e '.[peers]')")


def case(peer, name, config_part=""):
    found = [c for c in audit.peer_cases(peer) if c.name == name and config_part in c.config]
    assert found, f"no {peer} case {name} {config_part}"
    return found[0]


def test_scratch_is_the_first_row_and_agrees_everywhere():
    assert list(audit.CASE_MODULES)[0] == "scratch"
    rows = [audit.run_case(c, "this checkout") for c in audit.peer_cases("scratch")]
    assert {r["kind"] for r in rows} == {"layer", "activation", "loss", "optimizer"}
    assert all(r["verdict"] == "agrees" for r in rows), [r for r in rows
                                                        if r["verdict"] != "agrees"]


@pytest.mark.parametrize("peer, name", [("numpy-ml", "FullyConnected"),
                                        ("dezero", "layers.Linear"),
                                        ("mygrad", "nnet.conv_nd"),
                                        ("micrograd", "nn.Layer"),
                                        ("numpy-ml", "RNNCell"), ("numpy-ml", "LSTMCell"),
                                        ("dezero", "layers.RNN"), ("dezero", "layers.LSTM")])
def test_a_peer_layer_agrees_with_torch(peer, name):
    if not available(peer):
        pytest.skip(f"{peer} is not installed")
    report = case(peer, name).run()
    assert report.ok, str(report)
    assert report.max_rel("float64", finite_difference=True) <= 1e-6


@needs("numpy-ml")
def test_numpy_ml_batchnorm_running_var_is_biased():
    layer = load("numpy-ml", "neural_nets").layers.BatchNorm1D(momentum=0.9)
    x = np.random.default_rng(0).standard_normal((6, 3))
    layer.forward(x)
    tbn = torch.nn.BatchNorm1d(3, momentum=0.1, dtype=torch.float64)
    tbn(torch.from_numpy(x))
    ours = layer.parameters["running_var"]
    np.testing.assert_allclose(ours, 0.9 + 0.1 * x.var(axis=0, ddof=0), rtol=1e-14)
    np.testing.assert_allclose(tbn.running_var.numpy(), 0.9 + 0.1 * x.var(axis=0, ddof=1),
                               rtol=1e-14)
    report = case("numpy-ml", "BatchNorm1D").run()
    assert report.first_failure.tensor == "running_var"
    assert all(r.ok for r in report.rows if r.tensor != "running_var")  # the rest agrees


@needs("numpy-ml")
def test_numpy_ml_rnn_and_lstm_layers_cannot_be_built():
    layers = load("numpy-ml", "neural_nets").layers
    for cls in (layers.RNN, layers.LSTM):
        # LayerBase.__init__ assigns self.gradients, a read-only property of theirs.
        with pytest.raises(AttributeError, match="'gradients'"):
            cls(6)
        row = audit.run_case(case("numpy-ml", cls.__name__), "0.1.2")
        assert row["verdict"] == "error" and "gradients" in row["detail"]
    # The next fault on the way: their _init_params passes n_in= to cells that take none.
    with pytest.raises(TypeError, match="n_in"):
        layers.RNNCell(n_in=4, n_out=6)


@needs("numpy-ml")
def test_numpy_ml_cell_backward_fails_after_flush_gradients():
    cell = load("numpy-ml", "neural_nets").layers.RNNCell(6)
    x = np.random.default_rng(0).standard_normal((3, 4))
    cell.forward(x)
    cell.backward(np.ones((3, 6)))  # a fresh cell: fine
    cell.flush_gradients()  # resets the dLdA accumulator to [] rather than None
    cell.forward(x)
    with pytest.raises(ValueError, match="broadcast"):
        cell.backward(np.ones((3, 6)))


@needs("dezero")
def test_dezero_rnn_with_in_size_builds_h2h_at_the_input_size():
    dz = load("dezero")
    rnn = dz.layers.RNN(6, in_size=4)
    assert rnn.h2h.W.shape == (4, 6)  # h is (N, 6): it should be (6, 6)
    x = np.random.default_rng(0).standard_normal((3, 4))
    rnn(x)
    with pytest.raises(ValueError, match="not aligned"):
        rnn(x)
    assert audit.run_case(case("dezero", "layers.RNN", "in_size=4"), "0.0.13")["verdict"] \
        == "error"
    assert case("dezero", "layers.RNN", "in_size=None").run().ok  # lazy: h2h made from h
    assert case("dezero", "layers.LSTM", "in_size=4").run().ok  # its h2* take in_size=H


@needs("mygrad")
def test_mygrad_gru_resets_before_the_recurrent_matmul():
    pytest.importorskip("numba", reason="mygrad's gru needs numba")
    from mygrad.nnet.layers import gru

    rng = np.random.default_rng(0)
    T, N, C, D = 5, 3, 4, 6
    x = rng.standard_normal((T, N, C))
    Uz, Wz, bz, Ur, Wr, br, Uh, Wh, bh = (rng.standard_normal(s) * 0.5
                                          for s in [(C, D), (D, D), (D,)] * 3)
    ours = gru(x, Uz, Wz, bz, Ur, Wr, br, Uh, Wh, bh).data[1:]
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    s, cho, torchs = np.zeros((N, D)), [], []
    s_t = s
    for t in range(T):  # the same gates, the candidate state both ways
        z, r = sig(x[t] @ Uz + s @ Wz + bz), sig(x[t] @ Ur + s @ Wr + br)
        s = (1 - z) * np.tanh(x[t] @ Uh + (r * s) @ Wh + bh) + z * s
        z, r = sig(x[t] @ Uz + s_t @ Wz + bz), sig(x[t] @ Ur + s_t @ Wr + br)
        s_t = (1 - z) * np.tanh(x[t] @ Uh + r * (s_t @ Wh) + bh) + z * s_t
        cho.append(s)
        torchs.append(s_t)
    np.testing.assert_allclose(ours, np.array(cho), rtol=1e-12, atol=1e-14)
    assert np.abs(ours - np.array(torchs)).max() > 1e-3
    report = case("mygrad", "nnet.layers.gru").run()
    assert report.first_failure.tensor == "output"
    assert report.max_rel("float64", finite_difference=True) <= 1e-6  # its own backward is right
    # With torch's W_hn = 0 the placement of r cannot matter to the values: all agree but
    # dL/dW_hn, which is r_j h_k for torch, r_k h_k for theirs (j: output unit, k: input).
    from bench.peers import cases_mygrad
    report = cases_mygrad._gru(w_hn_zero=True).run()
    assert {r.tensor for r in report.rows if not r.ok} == {"weight_hh_l0.grad"}


@needs("dezero")
def test_dezero_mean_squared_error_divides_by_the_batch_only():
    F = load("dezero", "functions")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    ours = float(F.mean_squared_error(x, y).data)
    assert ours == pytest.approx(((x - y) ** 2).sum() / 6, rel=1e-14)
    theirs = torch.nn.functional.mse_loss(torch.from_numpy(x), torch.from_numpy(y)).item()
    assert ours == pytest.approx(4 * theirs, rel=1e-14)  # C = 4 times torch's
    assert case("dezero", "functions.mean_squared_error", "(N, 4)").run().first_failure.tensor \
        == "output"
    assert case("dezero", "functions.mean_squared_error", "(N,)").run().ok


@needs("dezero")
def test_dezero_adam_differs_only_by_where_eps_goes():
    adam = case("dezero", "Adam")
    assert adam.run().first_failure.tensor == "step 1: param 0"
    # With eps = 0 on both sides the placement of eps cannot matter: they must agree.
    from bench.peers import cases_dezero
    no_eps = cases_dezero._optimizer("Adam", {"alpha": 0.01, "eps": 0.0}, torch.optim.Adam,
                                     {"lr": 0.01, "eps": 0.0})
    report = no_eps.run()
    assert report.ok, str(report)


@needs("mygrad")
def test_mygrad_multiclass_hinge_is_c_times_multi_margin_loss():
    nnet = load("mygrad", "nnet")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    ours = float(nnet.multiclass_hinge(x, y).data)
    theirs = torch.nn.functional.multi_margin_loss(torch.from_numpy(x),
                                                   torch.from_numpy(y)).item()
    assert ours == pytest.approx(4 * theirs, rel=1e-14)


@needs("tinygrad")
def test_tinygrad_momentum_sgd_refuses_float64_parameters():
    from tinygrad import Context, Tensor, nn

    p = Tensor(np.ones(3))  # float64
    opt = nn.optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = Tensor(np.ones(3))
    with Context(TRAINING=1), pytest.raises(RuntimeError, match="assign dtype mismatch"):
        opt.step()


@needs("tinygrad")
def test_tinygrad_lstm_cell_stepped_over_a_sequence_agrees_with_torch_lstm():
    # Its only recurrent layer; no finite differences (kernels compile per call shape).
    report = case("tinygrad", "nn.LSTMCell").run()
    assert report.ok, str(report)
    assert {r.tensor for r in report.rows} >= {"output", "input.grad", "weight_hh_l0.grad",
                                               "bias_hh_l0.grad"}


def test_the_parity_table_shows_the_rows_of_its_record():
    row = {"peer": "dezero", "version": "0.0.13", "kind": "loss", "layer": "mse",
           "config": "c", "shim": "s", "note": "why", "verdict": "differs",
           "detail": "output (float64)", "rel64": 3.0, "rel32": 3.0, "fd": 1e-9}
    table = peers_parity_table([{"peers": ["dezero"], "rows": [row]}]).frame
    assert len(table) == 1
    assert table.iloc[0]["verdict"] == "differs: output (float64)"
    assert table.iloc[0]["diagnosis"] == "why"
    assert table.iloc[0]["max rel diff float64"] == "3.0e+00"


def test_the_peers_tables_show_the_newest_run_only(tmp_path):
    """Two races appended to one run directory: the table is the newest one's, never a
    mix of rows from both."""
    from bench.results import records, report

    for ms in (1.0, 2.0):
        records.append_record("peers-speed", {"threads": 1, "rows": [
            {"impl": "dezero", "version": "0.0.13", "step_seconds": {"32": ms / 1e3}}]},
            tmp_path)
    table = report.build_tables(tmp_path)["peers-speed"]
    assert "| 2.00 " in table and "| 1.00 " not in table and "1 record," in table


def test_a_missing_peer_is_a_row_not_a_crash(monkeypatch):
    monkeypatch.setattr(audit, "available", lambda peer: False)
    rows, versions = audit.audit(("dezero",))
    assert [r["verdict"] for r in rows] == ["not importable"]


@pytest.mark.parametrize("model,name", [("mlp", n) for n in ("scratch", "numpy-ml", "dezero",
                                                              "mygrad")]
                         + [("cnn", n) for n in ("scratch", "numpy-ml", "dezero", "mygrad")])
def test_every_racer_trains_the_same_model_as_torch(model, name):
    # The race is fair only if each peer's model is the same model with the same update:
    # two steps from the same weights on the same batches must give torch's outputs.
    # (tinygrad's are left to `twinbench peers --race`: its kernels compile for ~20 s.)
    from bench.peers import race
    from scratch.testing import max_rel_diff

    if name != "scratch" and not available(name):
        pytest.skip(f"{name} is not installed")
    rng = np.random.default_rng(0)
    batch = 16 if model == "mlp" else 4  # numpy-ml's Conv2D takes ~0.1 s per image
    x = rng.standard_normal((2, *race.input_shape(model, batch))).astype(np.float32)
    y = rng.integers(0, 10, (2, batch))
    probe = rng.standard_normal(race.input_shape(model, 8)).astype(np.float32)
    twins = [race.RACES[model][n](race.initial_weights(0, model)) for n in (name, "torch")]
    for t in twins:
        for k in range(2):
            t.step(x[k], y[k])
    ours, torchs = (np.asarray(t.predict(probe)) for t in twins)
    assert max_rel_diff(ours, torchs) < 1e-5


def test_the_speed_table_has_a_column_per_batch_any_row_was_timed_at():
    rec = {"threads": 1, "rows": [  # a record from before IQRs and the CNN
        {"impl": "dezero", "version": "0.0.13", "step_seconds": {"32": 0.002, "128": 0.004},
         "accuracy": 97.5, "train_seconds": 30.0, "epochs": 5},
        {"impl": "micrograd", "version": "0.1.0", "step_seconds": {"1": 2.0}}]}
    assert peers_speed_table([rec]).frame.to_dict("records") == [
        {"model": "mlp", "implementation": "dezero", "version": "0.0.13",
         "step ms, batch 1": "-", "step ms, batch 32": "2.00", "step ms, batch 128": "4.00",
         "MNIST test % (epochs)": "97.50 (5)", "training s": "30", "threads": 1, "note": "-"},
        {"model": "mlp", "implementation": "micrograd", "version": "0.1.0",
         "step ms, batch 1": "2000.00", "step ms, batch 32": "-", "step ms, batch 128": "-",
         "MNIST test % (epochs)": "-", "training s": "-", "threads": 1, "note": "-"}]


def test_the_speed_table_shows_each_models_rows_with_iqrs_and_marks_unsteady_ones():
    rec = {"threads": 1, "rows": [
        {"model": "cnn", "impl": "numpy-ml", "version": "0.1.2",
         "step_seconds": {"32": 2.0}, "step_iqr": {"32": 1.0}, "note": "timed only"},
        {"model": "cnn", "impl": "scratch", "version": "this checkout",
         "step_seconds": {"32": 0.004}, "step_iqr": {"32": 0.0004},
         "accuracy": 98.0, "epochs": 1, "train_seconds": 20.0}]}
    table = peers_speed_table([rec])
    assert table.frame.to_dict("records") == [
        {"model": "cnn", "implementation": "numpy-ml", "version": "0.1.2",
         "step ms, batch 32 (IQR %)": "2000 (50%)†", "MNIST test % (epochs)": "-",
         "training s": "-", "threads": 1, "note": "timed only"},
        {"model": "cnn", "implementation": "scratch", "version": "this checkout",
         "step ms, batch 32 (IQR %)": "4 (10%)", "MNIST test % (epochs)": "98.00 (1)",
         "training s": "20", "threads": 1, "note": "-"}]
    assert len(table.notes) == 1 and "1 timing with an interquartile range" in table.notes[0]


def test_the_audit_gives_torchs_threads_back(monkeypatch):
    """The audit runs torch on one thread and then restores the machine's count: its record's
    fingerprint, taken afterwards, must have the machine id of the reference's other records."""
    import torch

    from bench.peers import audit as audit_module

    monkeypatch.setattr(audit_module, "peer_cases", lambda peer: [])
    own = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        rows, versions = audit_module.audit(("scratch",))
        assert rows == [] and versions == {"scratch": "this checkout"}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(own)
