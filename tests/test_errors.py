"""Bad input gets a clear error naming what was expected and what came."""

import pickle

import numpy as np
import pytest

import scratch
from bench.experiments import initialize


@pytest.fixture
def linear(rng):
    return scratch.Linear(784, 10, rng=rng)


def test_wrong_input_width(linear):
    with pytest.raises(ValueError, match=r"shape \(N, 784\).*got shape \(2, 785\)"):
        linear(np.zeros((2, 785), np.float32))


def test_wrong_input_ndim():
    with pytest.raises(ValueError, match=r"class-index targets of shape \(2, 4\) for input of "
                                         r"shape \(2, 3, 4\), got \(2,\)"):
        scratch.CrossEntropyLoss()(np.zeros((2, 3, 4)), np.zeros(2, np.int64))
    with pytest.raises(ValueError, match=r"\(N, C, d1, ..., dK\) or \(C,\) \(at least 1-D\), "
                                         r"got shape \(\) \(0-D\)"):
        scratch.NLLLoss()(np.zeros(()), np.zeros((), np.int64))
    with pytest.raises(ValueError, match="at least 1-D"):
        scratch.Linear(3, 2, rng=np.random.default_rng(0))(np.zeros((), np.float32))


def test_wrong_input_dtype_and_type(linear):
    with pytest.raises(TypeError, match="expects float32 input.*got float64"):
        linear(np.zeros((2, 784)))
    with pytest.raises(TypeError, match="numpy.ndarray.*got list"):
        linear([[0.0] * 784])
    with pytest.raises(TypeError, match="float32 or float64 input.*got int64"):
        scratch.ReLU()(np.zeros(3, np.int64))


def test_float_targets_are_probabilities_of_the_inputs_shape():
    with pytest.raises(ValueError, match=r"class probabilities of the input's shape \(2, 3\), "
                                         r"got target of shape \(2,\)"):
        scratch.CrossEntropyLoss()(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match=r"NLLLoss expects integer class indices, got dtype float"):
        scratch.NLLLoss()(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(TypeError, match=r"class indices of shape \(2,\), got dtype complex128"):
        scratch.CrossEntropyLoss()(np.zeros((2, 3)), np.zeros(2, complex))


@pytest.mark.parametrize("bad", [3, -1])
def test_out_of_range_targets_rejected(bad):
    with pytest.raises(IndexError, match=rf"target {bad} is out of bounds: class indices lie in "
                                         r"\[0, 2\] \(or equal ignore_index=-100\)"):
        scratch.CrossEntropyLoss()(np.zeros((2, 3)), np.array([0, bad]))
    scratch.CrossEntropyLoss(ignore_index=bad)(np.zeros((2, 3)), np.array([0, bad]))


def test_target_shape_mismatch():
    with pytest.raises(ValueError, match=r"targets of shape \(2,\).*got \(3,\)"):
        scratch.CrossEntropyLoss()(np.zeros((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"target of the input's shape \(2, 3\), got \(3, 2\)"):
        scratch.MSELoss()(np.zeros((2, 3)), np.zeros((3, 2)))


def test_backward_errors(linear):
    with pytest.raises(RuntimeError, match="backward called before forward"):
        linear.backward(np.zeros((2, 10), np.float32))
    linear(np.zeros((2, 784), np.float32))
    with pytest.raises(ValueError, match=r"grad_out of shape \(2, 10\).*got \(2, 9\)"):
        linear.backward(np.zeros((2, 9), np.float32))


def test_unknown_names():
    with pytest.raises(ValueError, match="reduction must be one of"):
        scratch.MSELoss(reduction="average")
    with pytest.raises(ValueError, match="unknown init scheme 'he'"):
        initialize(scratch.Sequential(), "he", rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown nonlinearity 'swish'"):
        scratch.init.calculate_gain("swish")
    with pytest.raises(TypeError, match="float32 or float64, got int32"):
        scratch.Linear(2, 2, rng=np.random.default_rng(0)).to(np.int32)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        scratch.Linear(2, 2, rng=0)


def test_load_state_dict_mismatch_names_keys(rng):
    model = scratch.Sequential(scratch.Linear(4, 3, rng=rng), scratch.ReLU(),
                               scratch.Linear(3, 2, rng=rng))
    before = model.state_dict()
    good = model.state_dict()
    missing = {k: v for k, v in good.items() if k != "2.bias"}
    with pytest.raises(ValueError, match=r"missing keys \['2.bias'\]"):
        model.load_state_dict(missing)
    with pytest.raises(ValueError, match=r"unexpected keys \['3.weight'\]"):
        model.load_state_dict({**good, "3.weight": np.zeros((2, 2))})
    bad_shape = {**good, "0.weight": np.zeros((4, 3))}
    with pytest.raises(ValueError, match=r"0.weight: expected shape \(3, 4\), got \(4, 3\)"):
        model.load_state_dict(bad_shape)
    # a failed load changes nothing
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_load_rejects_files_that_are_not_checkpoints(tmp_path, rng):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a scratch checkpoint"):
        scratch.load(text)
    plain = tmp_path / "plain.npz"
    np.savez(plain, weight=np.zeros(3))
    with pytest.raises(ValueError, match="not a scratch checkpoint: no '__format__' entry"):
        scratch.load(plain)
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps({"w": np.zeros(3)}))
    with pytest.raises(ValueError, match="not a scratch checkpoint"):
        scratch.load(pickled)


def test_check_state_keys_names_only_the_parts_that_apply():
    expected = {"a": (3, 4), "b": (4,), "c": ()}
    scratch.check_state_keys(expected, dict(expected), "ok")  # no difference, no error
    with pytest.raises(ValueError, match=r"^ctx: missing keys \['c'\]$"):
        scratch.check_state_keys(expected, {"a": (3, 4), "b": (4,)}, "ctx")
    with pytest.raises(ValueError, match=r"^ctx: unexpected keys \['d'\]$"):
        scratch.check_state_keys(expected, {**expected, "d": (1,)}, "ctx")
    with pytest.raises(ValueError, match=r"^ctx: missing keys \['b'\], unexpected keys \['d'\], "
                                         r"shape mismatch for a: expected shape \(3, 4\), got "
                                         r"\(4, 3\); c: expected shape \(\), got \(1,\)$"):
        scratch.check_state_keys(expected, {"a": [4, 3], "c": (1,), "d": (2,)}, "ctx")
