"""Weights in every format, both ways: .npz, .safetensors (scratch) and torch's .pt (reference).

Each round trip goes scratch -> file -> torch twin (through torch's or
safetensors' own loader) -> file -> scratch and must be exact, bit for bit;
`assert_same_state` is the comparison, and a test below changes one weight by
one ulp to show that it notices.
"""

import os

import numpy as np
import pytest
import safetensors.torch
import torch

import reference
import scratch
from bench import cli
from bench.compare import TOLERANCES
from bench.training.checkpoint import EXPERIMENT_KEY, read_weights_file
from reference import formats

DTYPES = [np.float32, np.float64]


def _model(rng, dtype=np.float32):
    """Linear, batch norm (0-d int buffer), conv: every kind of state an experiment has."""
    model = scratch.Sequential(
        scratch.Conv2d(1, 3, 3, padding=1, bias=False, rng=rng, dtype=dtype),
        scratch.BatchNorm2d(3, dtype=dtype), scratch.ReLU(), scratch.Flatten(),
        scratch.Linear(3 * 5 * 5, 4, rng=rng, dtype=dtype))
    model.train()
    model(rng.standard_normal((6, 1, 5, 5)).astype(dtype))  # running statistics move
    return model


def assert_same_state(actual: dict, expected: dict) -> None:
    """Same keys, dtypes, shapes and bits."""
    actual = {k: np.asarray(reference.to_numpy(v) if torch.is_tensor(v) else v)
              for k, v in actual.items()}
    assert sorted(actual) == sorted(expected)
    for k, v in expected.items():
        assert actual[k].dtype == v.dtype, k
        assert actual[k].shape == v.shape, k
        assert actual[k].tobytes() == v.tobytes(), f"{k} differs"


def test_the_comparison_notices_one_weight_one_ulp_off(rng):
    state = _model(rng).state_dict()
    changed = {k: v.copy() for k, v in state.items()}
    changed["4.weight"][2, 7] = np.nextafter(changed["4.weight"][2, 7], np.float32(np.inf))
    with pytest.raises(AssertionError, match="4.weight differs"):
        assert_same_state(changed, state)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_safetensors_scratch_to_torch_and_back(tmp_path, rng, dtype):
    model = _model(rng, dtype)
    path = tmp_path / "model.safetensors"
    scratch.save(model.state_dict(), path)
    assert_same_state(scratch.load(path), model.state_dict())

    twin = reference.twin(_model(np.random.default_rng(5), dtype))  # other weights
    twin.load_state_dict(safetensors.torch.load_file(path))  # strict: every key
    assert_same_state(twin.state_dict(), model.state_dict())
    x = rng.standard_normal((2, 1, 5, 5)).astype(dtype)
    model.eval()
    twin.eval()
    tol = TOLERANCES[np.dtype(dtype)]  # the same weights; the twins sum in other orders
    np.testing.assert_allclose(twin(torch.from_numpy(x)).detach().numpy(), model(x),
                               rtol=tol.rtol, atol=tol.atol)

    back = tmp_path / "from-torch.safetensors"
    safetensors.torch.save_file(twin.state_dict(), back)
    other = _model(np.random.default_rng(6), dtype)
    other.load_state_dict(scratch.load(back))
    assert_same_state(other.state_dict(), model.state_dict())


def test_safetensors_holds_a_nested_checkpoint_with_strings(tmp_path, rng):
    ckpt = {"model": _model(rng).state_dict(), "meta": '{"epoch": 3}', "step": 7}
    scratch.save(ckpt, tmp_path / "c.safetensors")
    back = scratch.load(tmp_path / "c.safetensors")
    assert str(back["meta"]) == '{"epoch": 3}' and int(back["step"]) == 7
    assert_same_state(back["model"], ckpt["model"])
    # the strings live in the header: torch's loader sees only the tensors
    assert all("/" in k or k == "step" for k in safetensors.torch.load_file(
        tmp_path / "c.safetensors"))


@pytest.mark.parametrize("suffix", [".npz", ".safetensors", ".pt"])
def test_writes_are_atomic_and_respect_the_umask(tmp_path, rng, monkeypatch, suffix):
    path = tmp_path / f"model{suffix}"
    formats.save({"w": np.arange(3.0)}, path)
    old = os.umask(0o027)
    try:
        formats.save({"w": np.arange(3.0)}, tmp_path / f"masked{suffix}")
    finally:
        os.umask(old)
    assert (tmp_path / f"masked{suffix}").stat().st_mode & 0o777 == 0o640

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("scratch.serialization.os.fsync", boom)
    with pytest.raises(KeyboardInterrupt):
        formats.save({"w": np.zeros(3)}, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"masked{suffix}", f"model{suffix}"]
    np.testing.assert_array_equal(formats.load(path)["w"], np.arange(3.0))


def test_unreadable_safetensors_is_named(tmp_path):
    (tmp_path / "x.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ValueError, match="x.safetensors is not a readable .safetensors file"):
        scratch.load(tmp_path / "x.safetensors")
    with pytest.raises(ValueError, match="reference.formats"):
        scratch.save({"w": np.zeros(2)}, tmp_path / "x.pt")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_torch_state_dict_file_both_ways(tmp_path, rng, dtype):
    model = _model(rng, dtype)
    path = tmp_path / "model.pt"
    formats.save(model.state_dict(), path)
    twin = reference.twin(_model(np.random.default_rng(5), dtype))
    twin.load_state_dict(torch.load(path, weights_only=True))
    assert_same_state(twin.state_dict(), model.state_dict())

    back = tmp_path / "from-torch.pt"
    torch.save(twin.state_dict(), back)
    other = _model(np.random.default_rng(6), dtype)
    other.load_state_dict(formats.load(back))
    assert_same_state(other.state_dict(), model.state_dict())


class Payload:
    """Not a tensor: torch.load(weights_only=True) must refuse to build it."""


@pytest.mark.parametrize("content, message", [
    (lambda m: m, "Unsupported global: GLOBAL torch.nn.modules.container.Sequential"),
    (lambda m: [t for t in m.state_dict().values()], "got list"),
    (lambda m: {"w": Payload()}, "Unsupported global"),
    (lambda m: {"w": torch.zeros(2, dtype=torch.bfloat16)}, "bfloat16"),
])
def test_pt_holding_something_else_is_refused(tmp_path, rng, content, message):
    path = tmp_path / "other.pt"
    torch.save(content(reference.twin(_model(rng))), path)
    with pytest.raises(ValueError, match=message):
        formats.load(path)


def test_pt_that_is_not_a_torch_file(tmp_path):
    (tmp_path / "x.pt").write_text("hello")
    with pytest.raises(ValueError, match="not a zip archive"):
        formats.load(tmp_path / "x.pt")
    with pytest.raises(ValueError, match=r"ending in \.npz, \.safetensors, \.pt"):
        formats.save({"w": np.zeros(2)}, tmp_path / "x.bin")


def _ci_checkpoint(tmp_path, name="ci-mlp"):
    """A training checkpoint of `name`, as `twinbench train` writes it (untrained weights,
    batch-norm statistics moved by one training-mode pass)."""
    from bench.experiments import get_experiment, input_shape
    from bench.training import History, make_runner, save_checkpoint

    exp = get_experiment(name)
    runner = make_runner("scratch", exp)
    runner.model(np.random.default_rng(0).standard_normal((8, *input_shape(exp)))
                 .astype(np.float32))
    path = tmp_path / f"{name}-scratch.npz"
    save_checkpoint(path, runner, History(exp.to_dict(), "scratch", []))
    return exp, runner.weights(), path


def test_convert_between_all_three_formats_is_exact(tmp_path, capsys):
    exp, weights, ckpt = _ci_checkpoint(tmp_path)
    chain = [ckpt, tmp_path / "a.safetensors", tmp_path / "b.pt", tmp_path / "c.npz",
             tmp_path / "d.safetensors"]
    for src, dst in zip(chain, chain[1:]):
        args = ["convert", str(src), str(dst)]
        if src.suffix in (".pt", ".npz") and src != ckpt:
            args += ["--experiment", exp.name]  # a bare state dict does not name it
        assert cli.main(args) == 0
        got_exp, got = read_weights_file(dst, exp.name)
        assert_same_state(got, weights)
    assert "experiment ci-mlp" in capsys.readouterr().out
    # the .safetensors file names its experiment; torch's loader never sees the entry
    assert read_weights_file(chain[1])[0].name == "ci-mlp"
    assert EXPERIMENT_KEY not in safetensors.torch.load_file(chain[1])


def test_convert_refuses_weights_of_another_architecture(tmp_path, capsys):
    _, _, ckpt = _ci_checkpoint(tmp_path)
    assert cli.main(["convert", str(ckpt), str(tmp_path / "w.pt")]) == 0
    capsys.readouterr()
    assert cli.main(["convert", str(tmp_path / "w.pt"), str(tmp_path / "x.npz"),
                     "--experiment", "ci-cnn"]) == 1
    err = capsys.readouterr().err
    assert "does not fit experiment 'ci-cnn'" in err
    assert "missing keys" in err and "expected shape (8, 1, 3, 3), got (512, 784)" in err
    assert "Traceback" not in err and not (tmp_path / "x.npz").exists()


def test_a_checkpoint_whose_experiment_is_not_the_registrys_is_refused(tmp_path, capsys):
    """The experiment a file records goes through the registry (as for eval and --resume):
    a checkpoint claiming ci-mlp with other layers is refused, and nothing is written."""
    from bench.experiments import get_experiment
    from bench.training import History, make_runner, save_checkpoint

    exp = get_experiment("ci-mlp")
    tampered = {**exp.to_dict(), "layers": ["linear 4096", "relu", "linear 10"]}
    ckpt = tmp_path / "ci-mlp-scratch.npz"
    save_checkpoint(ckpt, make_runner("scratch", exp), History(tampered, "scratch", []))
    assert cli.main(["convert", str(ckpt), str(tmp_path / "w.pt")]) == 1
    err = capsys.readouterr().err
    assert "ci-mlp" in err and "layers" in err and "Traceback" not in err
    assert not (tmp_path / "w.pt").exists()


def test_convert_names_a_pt_that_is_no_state_dict(tmp_path, capsys, rng):
    torch.save(reference.twin(_model(rng)), tmp_path / "model.pt")
    assert cli.main(["convert", str(tmp_path / "model.pt"), str(tmp_path / "w.npz")]) == 1
    err = capsys.readouterr().err
    assert "expected a torch state_dict file" in err and "Sequential" in err


# --- convert never destroys a training checkpoint ------------------------------------------

@pytest.mark.parametrize("link", ["same", "symlink", "hardlink"])
def test_convert_refuses_to_write_onto_its_input(tmp_path, capsys, link):
    _, _, ckpt = _ci_checkpoint(tmp_path)
    before = ckpt.read_bytes()
    out = {"same": ckpt, "symlink": tmp_path / "s.npz", "hardlink": tmp_path / "h.npz"}[link]
    if link == "symlink":
        out.symlink_to(ckpt)
    elif link == "hardlink":
        os.link(ckpt, out)
    assert cli.main(["convert", str(ckpt), str(out), "--force"]) == 1
    err = capsys.readouterr().err
    assert f"{out} is the input file {ckpt} itself" in err and "Traceback" not in err
    assert ckpt.read_bytes() == before


def test_convert_overwrites_a_training_checkpoint_only_with_force(tmp_path, capsys):
    _, weights, ckpt = _ci_checkpoint(tmp_path)
    other = tmp_path / "other.npz"
    ckpt.rename(other)
    _ci_checkpoint(tmp_path)  # a second checkpoint, at ckpt: the one OUT would destroy
    before = ckpt.read_bytes()
    assert cli.main(["convert", str(other), str(ckpt)]) == 1
    err = capsys.readouterr().err
    assert f"{ckpt} holds a training checkpoint" in err and "--force" in err
    assert ckpt.read_bytes() == before
    assert cli.main(["convert", str(other), str(ckpt), "--force"]) == 0
    assert_same_state(read_weights_file(ckpt, "ci-mlp")[1], weights)
    assert cli.main(["convert", str(other), str(tmp_path / "w.npz")]) == 0
    assert cli.main(["convert", str(other), str(tmp_path / "w.npz")]) == 0  # bare: replaced


# --- issue 29, 11: dtypes NumPy lacks, tensors without data, small files of huge tensors ---

@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float8_e4m3fn, torch.float8_e5m2])
@pytest.mark.parametrize("command", ["convert", "predict", "export", "eval"])
def test_a_safetensors_of_a_dtype_numpy_lacks_is_one_line(tmp_path, capsys, dtype, command):
    path = tmp_path / "w.safetensors"
    safetensors.torch.save_file({"0.weight": torch.zeros(3, dtype=dtype),
                                 "0.bias": torch.zeros(3)}, path)
    argv = {"convert": ["convert", str(path), str(tmp_path / "o.npz")],
            "predict": ["predict", str(path), str(tmp_path / "d.png"), "--experiment", "ci-mlp"],
            "export": ["export", str(path), str(tmp_path / "o.onnx"), "--experiment", "ci-mlp"],
            "eval": ["eval", str(path)]}[command]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(path) in err
    name = {torch.bfloat16: "BF16", torch.float8_e4m3fn: "F8_E4M3",
            torch.float8_e5m2: "F8_E5M2"}[dtype]
    assert f"tensor '0.weight' has dtype {name}, which NumPy cannot hold" in err


def test_a_pt_holding_a_meta_tensor_is_one_line(tmp_path, capsys):
    path = tmp_path / "m.pt"
    torch.save({"w": torch.zeros(3, device="meta")}, path)
    assert cli.main(["convert", str(path), str(tmp_path / "o.npz")]) == 1
    err = capsys.readouterr().err
    assert f"{path}: expected tensors with data, but tensor 'w' is on the meta device" in err


def test_a_small_pt_of_a_huge_tensor_is_refused_by_scratchs_size_limit(tmp_path):
    """An expanded view of a one-element storage: 1.5 kB on disk, 4 MB once copied out."""
    path = tmp_path / "zeros.pt"
    torch.save({"w": torch.zeros(1).expand(10**6)}, path)
    assert path.stat().st_size < 4000
    with pytest.raises(ValueError, match=r"its tensors hold 4000000 bytes, more than max_bytes"):
        formats.load(path, max_bytes=10**6)
    assert formats.load(path)["w"].shape == (10**6,)  # under the default limit: it loads
    torch.save({"w": torch.zeros(2 * 10**5)}, path)  # 800 kB of storage
    with pytest.raises(ValueError, match=r"its storages hold 800000 bytes"):
        formats.load(path, max_bytes=10**5)


def test_the_default_limit_is_scratchs(tmp_path, monkeypatch):
    from scratch import serialization

    assert formats.load.__kwdefaults__["max_bytes"] == serialization.DEFAULT_MAX_BYTES


def test_a_malicious_pt_refusal_says_what_was_expected_and_found(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"w": Evil()}, path)
    with pytest.raises(ValueError) as caught:
        formats.load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: expected a torch state_dict file")
    assert "GLOBAL posix.system" in message or "GLOBAL nt.system" in message
    assert "Check the documentation" not in message
