"""reference.twin and copy_weights; state_dict keys, shapes, train/eval and to(dtype)."""

import numpy as np
import pytest
import torch

import reference
import scratch
from bench.compare import TOLERANCES, compare


def _model(rng, dtype=np.float32):
    """Parameters and buffers (batch norm's) in one chain: torch lists them module by module."""
    return scratch.Sequential(
        scratch.Flatten(), scratch.Linear(12, 8, rng=rng, dtype=dtype),
        scratch.BatchNorm1d(8, dtype=dtype), scratch.GELU(),
        scratch.Linear(8, 8, bias=False, rng=rng, dtype=dtype), scratch.LeakyReLU(0.2),
        scratch.Linear(8, 3, rng=rng, dtype=dtype), scratch.Softmax(dim=1),
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_twin_has_same_keys_shapes_values_dtype(rng, dtype):
    model = _model(rng, dtype)
    tmodel = reference.twin(model)
    assert isinstance(tmodel, torch.nn.Sequential)
    ours, theirs = model.state_dict(), tmodel.state_dict()
    assert list(ours) == list(theirs)
    assert list(ours)[4:8] == ["2.running_mean", "2.running_var", "2.num_batches_tracked",
                               "4.weight"]  # the batch norm's buffers before the next layer
    for k in ours:
        assert ours[k].dtype == theirs[k].numpy().dtype
        np.testing.assert_array_equal(ours[k], theirs[k].numpy())
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in tmodel.named_parameters()]
    assert [n for n, _ in model.named_buffers()] == [n for n, _ in tmodel.named_buffers()]
    for m, t in zip(model, tmodel):  # torch's repr, where scratch's arguments are all torch's
        if type(m).__name__ in ("Flatten", "Linear", "GELU", "LeakyReLU", "Softmax"):
            assert repr(m) == repr(t)


def test_copy_weights_both_directions(rng):
    model = _model(rng)
    tmodel = reference.twin(model)
    with torch.no_grad():
        for p in tmodel.parameters():
            p.mul_(-2.0)
    reference.copy_weights(tmodel, model)
    for k, v in tmodel.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[k], v.numpy())
    model[1].weight.data[...] = 0.5
    model[2].running_var[...] = 3.0
    reference.copy_weights(model, tmodel)
    assert torch.all(tmodel[1].weight == 0.5) and torch.all(tmodel[2].running_var == 3.0)


def test_copy_weights_rejects_mismatched_architectures(rng):
    a = scratch.Sequential(scratch.Linear(4, 3, rng=rng))
    b = torch.nn.Sequential(torch.nn.Linear(4, 2))
    with pytest.raises(ValueError, match=r"0.weight: expected shape \(2, 4\), got \(3, 4\)"):
        reference.copy_weights(a, b)
    with pytest.raises(ValueError, match=r"expected shape \(3, 4\), got \(2, 4\)"):
        reference.copy_weights(b, a)
    with pytest.raises(TypeError, match="scratch -> torch or torch -> scratch"):
        reference.copy_weights(a, a)


def test_twin_of_unknown_module_names_it():
    class Custom(scratch.Module):
        pass

    with pytest.raises(TypeError, match="no torch twin for Custom: torch.nn has no module"):
        reference.twin(scratch.Sequential(Custom()))


def test_train_eval_flags_propagate(rng):
    model = _model(rng)
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    assert not any(m.training for m in model.modules())
    assert not reference.twin(model).training
    model.train()
    assert reference.twin(model).training


def test_to_dtype_round_trip_keeps_parity(rng):
    model = _model(rng, np.float32)
    assert model.to(np.float64) is model
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in model.parameters())
    x = rng.standard_normal((4, 3, 4))
    compare(model, x, rng=rng).assert_close(TOLERANCES[np.dtype(np.float64)])
    model.to(np.float32)
    assert model.dtype == np.float32
    compare(model, x.astype(np.float32), rng=rng).assert_close(TOLERANCES[np.dtype(np.float32)])


def test_zero_grad_and_accumulation(rng):
    lin = scratch.Linear(3, 2, rng=rng, dtype=np.float64)
    x, g = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    lin(x)
    lin.backward(g)
    once = lin.weight.grad.copy()
    lin(x)
    lin.backward(g)  # gradients add up, as in torch
    np.testing.assert_allclose(lin.weight.grad, 2 * once, rtol=1e-15)
    lin.zero_grad()
    assert not lin.weight.grad.any()
    lin.backward(g)  # after zero_grad the fresh gradient is taken as is
    np.testing.assert_array_equal(lin.weight.grad, once)


def test_replacing_a_child_keeps_its_place_as_torch(rng):
    model = _model(rng)
    tmodel = reference.twin(model)
    new = scratch.Linear(8, 8, rng=rng)  # now with a bias
    setattr(model, "4", new)
    setattr(tmodel, "4", reference.twin(new))
    assert list(model.state_dict()) == list(tmodel.state_dict())
    assert [type(m).__name__ for m in model] == [type(m).__name__ for m in tmodel]


def test_state_dict_names_and_order_are_torchs_for_nested_modules(rng):
    """One walk gives named_parameters, named_buffers and state_dict torch's names and order:
    module by module, parameters before buffers."""
    model = scratch.Sequential(
        scratch.Conv2d(1, 2, 3, bias=False, rng=rng), scratch.BatchNorm2d(2), scratch.ReLU(),
        scratch.Sequential(scratch.Flatten(), scratch.Linear(8, 3, rng=rng),
                           scratch.BatchNorm1d(3, affine=False)))
    twin = reference.twin(model)
    assert list(model.state_dict()) == list(twin.state_dict())
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in twin.named_parameters()]
    assert [n for n, _ in model.named_buffers()] == [n for n, _ in twin.named_buffers()]
    assert [n for n, _ in model.named_parameters("m")] == [
        n for n, _ in twin.named_parameters(prefix="m")]
    assert list(model.parameters()) == [p for _, p in model.named_parameters()]


def test_twin_is_built_by_torchs_constructor_from_the_callers_arguments():
    """init_args holds the call as written (less rng and dtype); torch fills its own defaults."""
    rng = np.random.default_rng(0)
    m = scratch.Conv2d(1, 2, 3, 2, rng=rng, dtype=np.float64)
    assert m.init_args == ((1, 2, 3, 2), {})
    t = reference.twin(m)
    assert (t.stride, t.padding, t.dilation, t.groups, t.padding_mode) == (
        (2, 2), (0, 0), (1, 1), 1, "zeros")
    assert t.weight.dtype == torch.float64
    loss = reference.twin(scratch.BCEWithLogitsLoss(pos_weight=np.array([2.0, 3.0])))
    assert loss.pos_weight.tolist() == [2.0, 3.0]


def test_a_scratch_default_that_differs_from_torchs_is_caught(monkeypatch):
    """Plant GELU's default as 'tanh': the twin keeps torch's 'none', so parity goes red."""
    from bench.compare import TOLERANCES, compare

    monkeypatch.setattr(scratch.GELU.__init__, "__defaults__", ("tanh",))
    rng = np.random.default_rng(0)
    res = compare(scratch.GELU(), rng.standard_normal((4, 6)), rng=rng)
    with pytest.raises(AssertionError, match="output"):
        res.assert_close(TOLERANCES[np.dtype(np.float64)])


def test_conv2d_takes_torchs_positional_order():
    """The sixth positional argument is dilation, as in torch, never bias (issue 12's case)."""
    m = scratch.Conv2d(3, 2, (3, 3), (2, 2), (1, 1), (2, 2), rng=np.random.default_rng(0))
    assert m.dilation == (2, 2) and m.bias is not None
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    assert m(x).shape == (2, 2, 3, 3)
