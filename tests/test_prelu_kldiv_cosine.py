"""PReLU, Hardswish, Mish, KLDivLoss and CosineSimilarity (issue 31) where the catalogue's
parity cases do not reach: bad input refused by name, torch's edge values (Mish far out,
a zero vector's cosine gradient through the eps clamp, "batchmean" of a 0-d loss, torch's
"mean" warning), and the state a PReLU keeps.

Numbers are held to torch through the parity engine at `TOLERANCES` (float32 rtol 1e-4 /
atol 1e-5, float64 rtol 1e-7 / atol 1e-9); errors and warnings exactly, by their text.
"""

import numpy as np
import pytest
import torch

import reference
import scratch
from bench.compare import TOLERANCES, compare

DTYPES = [np.float32, np.float64]


# --- PReLU ----------------------------------------------------------------------------------

def test_prelu_refuses_a_channel_count_other_than_its_slopes(rng):
    layer = scratch.PReLU(3)
    with pytest.raises(ValueError, match=r"PReLU\(3\) expects 3 channels at dim 1 .* got shape "
                                         r"\(2, 4\) \(4 channel\(s\)\)"):
        layer(rng.standard_normal((2, 4)).astype(np.float32))
    with pytest.raises(ValueError, match=r"got shape \(3,\) \(1 channel\(s\)\)"):
        layer(rng.standard_normal(3).astype(np.float32))  # a 1-D input has one channel, as torch
    with pytest.raises(ValueError, match="num_parameters must be at least 1, got 0"):
        scratch.PReLU(0)
    with pytest.raises(TypeError, match="expects float32 input"):
        layer(rng.standard_normal((2, 3)))


def test_prelu_keeps_torchs_state_and_takes_its_weights(rng):
    layer = scratch.PReLU(4, 0.1, dtype=np.float64)
    assert {k: v.shape for k, v in layer.state_dict().items()} == {"weight": (4,)}
    np.testing.assert_array_equal(layer.weight.data, np.full(4, 0.1))
    theirs = torch.nn.PReLU(4, 0.3).double()
    layer.load_state_dict({k: reference.to_numpy(v) for k, v in theirs.state_dict().items()})
    x = rng.standard_normal((5, 4, 3))
    np.testing.assert_array_equal(layer(x), reference.to_numpy(theirs(reference.to_torch(x))))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_prelu_0d_and_1d_inputs_with_one_slope(dtype, rng):
    for shape in ((), (7,)):
        res = compare(scratch.PReLU(dtype=dtype), rng.standard_normal(shape).astype(dtype),
                      rng=rng)
        res.assert_close(TOLERANCES[np.dtype(dtype)])


# --- Hardswish, Mish --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_mish_far_out_matches_torch_without_overflow(dtype, rng):
    """exp(x) overflows past 88 in float32 and 709 in float64: softplus must not take it."""
    x = np.array([-1000, -100, -30, -5, 0, 5, 30, 100, 1000], dtype)
    with np.errstate(over="raise", invalid="raise"):
        res = compare(scratch.Mish(), x, rng=rng)
    res.assert_close(TOLERANCES[np.dtype(dtype)])


@pytest.mark.parametrize("layer", [scratch.Mish, scratch.Hardswish])
def test_a_0d_input_gives_a_0d_array(layer, rng):
    """numpy's ufuncs turn a 0-d array into a scalar; the layer must give an array, as
    torch gives a 0-d tensor (a module_db sample)."""
    res = compare(layer(), np.array(0.7), rng=rng)
    assert isinstance(res.pairs["output"][0], np.ndarray)
    res.assert_close(TOLERANCES[np.dtype(np.float64)])


def test_hardswish_kinks_are_torchs(rng):
    """At -3 the flat side's 0, at 3 the flat side's 1 (torch's <= -3 and >= 3)."""
    x = np.array([-3.0, -1.5, 0.0, 1.5, 3.0])
    layer = scratch.Hardswish()
    layer(x)
    np.testing.assert_array_equal(layer.backward(np.ones(5)), [0.0, 0.0, 0.5, 1.0, 1.0])


# --- KLDivLoss --------------------------------------------------------------------------------

def test_kl_div_reductions_and_shapes_are_checked(rng):
    with pytest.raises(ValueError, match=r"KLDivLoss: reduction must be one of \('mean', "
                                         r"'sum', 'none', 'batchmean'\), got 'avg'"):
        scratch.KLDivLoss(reduction="avg")
    with pytest.raises(ValueError, match="MSELoss: reduction must be one of "
                                         r"\('mean', 'sum', 'none'\), got 'batchmean'"):
        scratch.MSELoss(reduction="batchmean")  # KL's alone
    with pytest.raises(ValueError, match=r"KLDivLoss expects target of the input's shape "
                                         r"\(2, 3\), got \(3,\)"):
        scratch.KLDivLoss(reduction="sum")(np.zeros((2, 3)), np.full(3, 1 / 3))


def test_kl_div_mean_warns_as_torch(rng):
    x, t = np.log(np.full((2, 3), 1 / 3)), np.full((2, 3), 1 / 3)
    with pytest.warns(UserWarning) as ours:
        scratch.KLDivLoss()(x, t)
    with pytest.warns(UserWarning) as theirs:
        torch.nn.KLDivLoss()(reference.to_torch(x), reference.to_torch(t))
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs]


@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_batchmean_of_a_0d_loss_divides_by_one(log_target, rng):
    x, t = np.array(-0.7), np.array(0.4)
    res = compare(scratch.KLDivLoss(reduction="batchmean", log_target=log_target), x,
                  target=t, rng=rng, target_grad=True)
    res.assert_close(TOLERANCES[np.dtype(np.float64)])


def test_kl_div_target_gradient_at_a_zero_target_is_torchs_nan(rng):
    x, t = np.log(np.array([0.2, 0.3, 0.5])), np.array([0.0, 0.4, 0.6])
    res = compare(scratch.KLDivLoss(reduction="sum"), x, target=t, rng=rng, target_grad=True)
    res.assert_close(TOLERANCES[np.dtype(np.float64)])
    assert np.isnan(res.pairs["target.grad"][0][0])


# --- CosineSimilarity -------------------------------------------------------------------------

def test_cosine_similarity_bad_input_is_named(rng):
    cos = scratch.CosineSimilarity()
    with pytest.raises(ValueError, match=r"x1 of shape \(2, 3\) and x2 of shape \(2, 4\) do not "
                                         "broadcast together"):
        cos(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(IndexError, match=r"expected to be in range of \[-1, 0\], but got 1"):
        cos(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="at least 1 dim"):
        cos(np.array(1.0), np.array(2.0))
    with pytest.raises(TypeError, match="expects float64 input"):
        cos(np.zeros((2, 3)), np.zeros((2, 3), np.float32))
    cos(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"expects grad_out of shape \(2,\)"):
        cos.backward(np.ones((2, 3)))
    assert cos.backward(np.ones(2), input_grad=False) is None


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_cosine_similarity_of_zero_and_tiny_vectors_is_torchs(dtype, rng):
    """A norm below eps is clamped to eps for the division, while torch differentiates the
    norm itself unclamped (its clamp runs under no_grad), and a zero vector's unit vector is
    0: both gradients must follow."""
    x1 = rng.standard_normal((4, 5)).astype(dtype)
    x2 = rng.standard_normal((4, 5)).astype(dtype)
    x1[0] = 0.0
    x1[1] *= 1e-9
    x2[2] = 0.0
    res = compare(scratch.CosineSimilarity(eps=1e-6), x1, x2, rng=rng)
    res.assert_close(TOLERANCES[np.dtype(dtype)])
    assert np.abs(res.pairs["input.grad"][0][1]).max() > 1  # the clamped path, not a 0
