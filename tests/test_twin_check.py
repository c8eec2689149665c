"""The public twin check (bench.compare.check): it passes correct layers, catches and names
planted bugs, explains adapters that do not fit, and drives the pytest plugin and CLI."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import scratch
from bench.cli import main as cli_main
from bench.compare import (
    TOLERANCES,
    TRANSPOSED,
    Adapter,
    AdapterError,
    OptimizerAdapter,
    Param,
    check,
    check_optimizer,
    permuted,
    scratch_optimizer,
)

ROOT = Path(__file__).resolve().parents[1]


class Dense:
    """A user's layer: weight (in, out), its own names, an optional planted bug."""

    def __init__(self, n_in, n_out, bug=None):
        self.W = np.zeros((n_in, n_out))
        self.b = np.zeros(n_out)
        self.bug = bug

    def forward(self, x):
        self.x = x
        y = x @ self.W + self.b
        return y * 1.001 if self.bug == "forward" else y

    def backward(self, g):
        self.dW = self.x.T @ g
        self.db = g.sum(axis=0) if self.bug != "bias" else g.mean(axis=0)
        dx = g @ self.W.T
        return dx[::-1].copy() if self.bug == "input" else dx


DENSE = Adapter(params=[Param("weight", "W", grad="dW", layout=TRANSPOSED),
                        Param("bias", "b", grad="db")])


def x45(rng):
    return rng.standard_normal((4, 5))


def test_a_correct_layer_agrees_in_both_dtypes_and_with_finite_differences(rng):
    report = check(Dense(5, 3), torch.nn.Linear(5, 3), x45(rng), adapter=DENSE, rng=rng)
    assert report.ok, str(report)
    tensors = {(r.dtype, r.tensor) for r in report.rows}
    for dtype in ("float64", "float32"):
        assert {(dtype, t) for t in ("output", "input.grad", "weight.grad", "bias.grad")} <= tensors
    assert {("float64", f"fd: {t}.grad") for t in ("input", "weight", "bias")} <= tensors
    assert report.max_rel("float64") <= TOLERANCES[np.dtype(np.float64)].rtol
    assert report.max_rel("float64", finite_difference=True) <= 1e-6


@pytest.mark.parametrize("bug, first", [("forward", "output"), ("input", "input.grad"),
                                        ("bias", "bias.grad")])
def test_a_planted_bug_is_caught_and_named(rng, bug, first):
    report = check(Dense(5, 3, bug=bug), torch.nn.Linear(5, 3), x45(rng), adapter=DENSE,
                   rng=rng)
    assert not report.ok
    assert report.first_failure.tensor == first and report.first_failure.dtype == "float64"
    with pytest.raises(AssertionError, match=rf"first disagreement: {first} in float64"):
        report.assert_ok()
    if bug != "forward":  # a backward that is not its forward's derivative: fd fails too
        assert any(r.tensor == f"fd: {first.split('.')[0]}.grad" and not r.ok
                   for r in report.rows)


def test_a_wrong_scratch_backward_is_caught_through_the_builtin_adapter(rng, monkeypatch):
    layer = scratch.Linear(5, 3, rng=rng)
    original = scratch.Linear.backward

    def wrong(self, g, **kw):  # planted: the weight gradient doubled
        out = original(self, g, **kw)
        self.weight.grad = self.weight.grad * 2
        return out
    monkeypatch.setattr(scratch.Linear, "backward", wrong)
    report = check(layer, torch.nn.Linear(5, 3), x45(rng), rng=rng)
    assert report.first_failure.tensor == "weight.grad"


@pytest.mark.parametrize("make, twin, shape", [
    (lambda r: scratch.Conv2d(2, 3, 3, stride=2, padding=1, rng=r),
     lambda: torch.nn.Conv2d(2, 3, 3, stride=2, padding=1), (2, 2, 6, 6)),
    (lambda r: scratch.BatchNorm2d(3), lambda: torch.nn.BatchNorm2d(3), (4, 3, 3, 3)),
    (lambda r: scratch.Sequential(scratch.Linear(4, 6, rng=r), scratch.Tanh(),
                                  scratch.Linear(6, 2, rng=r)),
     lambda: torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(),
                                 torch.nn.Linear(6, 2)), (5, 4)),
])
def test_scratch_modules_need_no_adapter(rng, make, twin, shape):
    report = check(make(rng), twin(), rng.standard_normal(shape), rng=rng)
    assert report.ok, str(report)


def test_a_loss_with_integer_targets(rng):
    report = check(scratch.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(),
                   rng.standard_normal((6, 4)), rng.integers(0, 4, 6), rng=rng)
    assert report.ok and [r.tensor for r in report.rows][:2] == ["output", "input.grad"]


def test_a_permuted_layout_round_trips(rng):
    # A channels-last conv kernel (kH, kW, in, out) against torch's (out, in, kH, kW).
    class ConvHWIO:
        def __init__(self):
            self.K = np.zeros((3, 3, 2, 4))

        def forward(self, x):
            self.conv = torch.nn.functional.conv2d
            self.x = torch.from_numpy(x).requires_grad_(True)
            self.k = torch.from_numpy(self.K.transpose(3, 2, 0, 1).copy()).requires_grad_(True)
            self.y = self.conv(self.x, self.k)
            return self.y.detach().numpy()

        def backward(self, g):
            self.y.backward(torch.from_numpy(g))
            self.dK = self.k.grad.numpy().transpose(2, 3, 1, 0)
            return self.x.grad.numpy()

    adapter = Adapter(params=[Param("weight", "K", grad="dK", layout=permuted(2, 3, 1, 0))])
    report = check(ConvHWIO(), torch.nn.Conv2d(2, 4, 3, bias=False),
                   rng.standard_normal((1, 2, 5, 5)), adapter=adapter, rng=rng)
    assert report.ok, str(report)


def test_finite_differences_reach_a_parameter_read_as_a_transposed_view(rng):
    # A getter that hands torch's (out, in) view of the layer's (in, out) W is F-ordered:
    # the finite differences must still nudge what the setter writes back.
    adapter = Adapter(params=[
        Param("weight", lambda m: m.W.T, lambda m: m.dW.T,
              set=lambda m, a: setattr(m, "W", np.ascontiguousarray(a.T))),
        Param("bias", "b", grad="db")])
    report = check(Dense(5, 3), torch.nn.Linear(5, 3), x45(rng), adapter=adapter, rng=rng)
    assert report.ok, str(report)


# --- adapters that do not fit ------------------------------------------------------------

def test_a_missing_method_is_named_with_the_methods_there_are(rng):
    with pytest.raises(AdapterError, match=r"Dense has no method 'fwd'.*backward, forward"):
        check(Dense(5, 3), torch.nn.Linear(5, 3), x45(rng),
              adapter=Adapter(forward="fwd", params=DENSE.params))


def test_a_shape_mismatch_names_both_shapes(rng):
    with pytest.raises(AdapterError, match=r"'weight'.*shape \(5, 4\).*shape \(3, 5\)"):
        check(Dense(5, 4), torch.nn.Linear(5, 3), x45(rng), adapter=DENSE)
    # The same layer without its layout: the message suggests it.
    no_layout = Adapter(params=[Param("weight", "W", grad="dW"), Param("bias", "b", grad="db")])
    with pytest.raises(AdapterError, match="TRANSPOSED"):
        check(Dense(5, 3), torch.nn.Linear(5, 3), x45(rng), adapter=no_layout)


def test_a_missing_attribute_and_an_unknown_torch_name_are_named(rng):
    bad_grad = Adapter(params=[Param("weight", "W", grad="gradW", layout=TRANSPOSED)])
    with pytest.raises(AdapterError, match=r"no attribute 'gradW'"):
        check(Dense(5, 3), torch.nn.Linear(5, 3), x45(rng), adapter=bad_grad)
    bad_name = Adapter(params=[Param("weights", "W", grad="dW", layout=TRANSPOSED)])
    with pytest.raises(AdapterError, match=r"no parameter or buffer of that name.*weight, bias"):
        check(Dense(5, 3), torch.nn.Linear(5, 3), x45(rng), adapter=bad_name)
    with pytest.raises(AdapterError, match="not a scratch module"):
        check(Dense(5, 3), torch.nn.Linear(5, 3), x45(rng))


# --- optimizers ---------------------------------------------------------------------------

@pytest.mark.parametrize("cls, tcls, kw", [
    (scratch.optim.SGD, torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    (scratch.optim.Adam, torch.optim.Adam, {"lr": 0.01, "weight_decay": 0.1}),
    (scratch.optim.RMSprop, torch.optim.RMSprop, {"lr": 0.01, "momentum": 0.5}),
])
def test_scratch_optimizers_follow_torch_step_by_step(rng, cls, tcls, kw):
    report = check_optimizer(scratch_optimizer(cls, **kw), lambda ps: tcls(ps, **kw), rng=rng)
    assert report.ok, str(report)
    assert len(report.rows) == 2 * 10 * 2  # dtypes x steps x parameters


def test_a_planted_optimizer_bug_is_caught_at_its_step(rng):
    # Momentum without the first step's special case: buf starts at (1 - dampening) g...
    # here: the buffer update forgets to add the gradient until step 2.
    def setup(arrays):
        return [a.copy() for a in arrays], [np.zeros_like(a) for a in arrays], [0]

    def step(state, grads):
        params, bufs, k = state
        k[0] += 1
        for p, b, g in zip(params, bufs, grads):
            b *= 0.9
            if k[0] > 1:
                b += g
            p -= 0.1 * (b if k[0] > 1 else g)

    good = check_optimizer(OptimizerAdapter(setup, step, lambda s: s[0]),
                           lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9), rng=rng)
    assert not good.ok and good.first_failure.tensor == "step 2: param 0"


# --- the pytest plugin and the CLI ----------------------------------------------------------

USER_FILE = textwrap.dedent('''
    import numpy as np
    import torch
    from bench.compare import TRANSPOSED, Adapter, Param, check

    class Dense:
        def __init__(self, n_in, n_out, scale=1.0):
            self.W, self.b, self.scale = np.zeros((n_in, n_out)), np.zeros(n_out), scale
        def forward(self, x):
            self.x = x
            return x @ self.W + self.b
        def backward(self, g):
            self.dW, self.db = self.x.T @ g * self.scale, g.sum(axis=0)
            return g @ self.W.T

    DENSE = Adapter(params=[Param("weight", "W", grad="dW", layout=TRANSPOSED),
                            Param("bias", "b", grad="db")])
    X = np.random.default_rng(0).standard_normal((4, 5))
''')


def test_the_plugin_is_registered_and_loads_no_torch():
    pyproject = (ROOT / "pyproject.toml").read_text()  # tomllib is Python >= 3.11 only
    assert '[project.entry-points.pytest11]\ntwinbench = "bench.pytest_plugin"' in pyproject
    code = ("import sys, bench.pytest_plugin as p; assert callable(p.twin_check); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_a_three_line_user_test_passes_and_a_planted_bug_fails_with_the_table(pytester,
                                                                              monkeypatch):
    pytester.makepyfile(layers=USER_FILE, test_user=textwrap.dedent('''
        from layers import DENSE, X, Dense, torch
        def test_good(twin_check):
            twin_check(Dense(5, 3), torch.nn.Linear(5, 3), X, adapter=DENSE)
        def test_planted(twin_check):
            twin_check(Dense(5, 3, scale=2.0), torch.nn.Linear(5, 3), X, adapter=DENSE)
    '''))
    # Installed, the plugin loads through its pytest11 entry point; in a bare checkout it
    # does not. Autoloading off and -p on give the same plugin set in both.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = pytester.runpytest_inprocess("-p", "bench.pytest_plugin", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*first disagreement: weight.grad in float64*",
                                 "*| float64 | weight.grad*| NO *"])


def test_the_check_command(tmp_path, capsys):
    good = tmp_path / "good.py"
    good.write_text(USER_FILE + textwrap.dedent('''
        def check_dense():
            return check(Dense(5, 3), torch.nn.Linear(5, 3), X, adapter=DENSE)
    '''))
    assert cli_main(["check", str(good)]) == 0
    assert "check_dense: Dense vs torch.nn.Linear: ok" in capsys.readouterr().out
    bad = tmp_path / "bad.py"
    bad.write_text(good.read_text() + textwrap.dedent('''
        def check_planted():
            return check(Dense(5, 3, scale=0.5), torch.nn.Linear(5, 3), X, adapter=DENSE)
    '''))
    assert cli_main(["check", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "check_planted: Dense vs torch.nn.Linear: FAILED, first disagreement: weight.grad" in out
    assert "| float64 | weight.grad" in out and "1 check(s) failed" in out


def test_the_check_command_explains_a_bad_file(tmp_path, capsys):
    assert cli_main(["check", str(tmp_path / "missing.py")]) == 2
    assert "not found" in capsys.readouterr().err
    (tmp_path / "none.py").write_text("x = 1\n")
    assert cli_main(["check", str(tmp_path / "none.py")]) == 2
    assert "declares no checks" in capsys.readouterr().err
    (tmp_path / "broken.py").write_text("import not_a_module_anywhere\n")
    assert cli_main(["check", str(tmp_path / "broken.py")]) == 2
    assert "does not import: ModuleNotFoundError" in capsys.readouterr().err
