"""backward(input_grad=False): the same parameter gradients, no input gradient, as torch.

torch computes no gradient for an input that does not require one; scratch's
training loops ask for the same saving. These tests pin down that skipping it
changes no parameter gradient, bit for bit, whatever the first layer is.
"""

import numpy as np
import pytest

import scratch


def _nets(rng):
    return {
        "mlp": scratch.Sequential(scratch.Linear(12, 16, rng=rng), scratch.ReLU(),
                                  scratch.Linear(16, 5, rng=rng)),
        "relu first": scratch.Sequential(scratch.ReLU(), scratch.Linear(12, 5, rng=rng)),
        "batchnorm first": scratch.Sequential(scratch.BatchNorm1d(12),
                                              scratch.Linear(12, 5, rng=rng)),
        "cnn": scratch.Sequential(
            scratch.Conv2d(1, 4, 3, padding=1, rng=rng), scratch.ReLU(), scratch.MaxPool2d(2),
            scratch.Flatten(), scratch.Linear(4 * 3 * 3, 5, rng=rng)),
        "no parameters": scratch.Sequential(scratch.Flatten(), scratch.Tanh()),
    }


@pytest.mark.parametrize("name", list(_nets(np.random.default_rng(0))))
@pytest.mark.parametrize("batch", [1, 7])
def test_param_grads_identical_without_input_grad(name, batch):
    rng = np.random.default_rng(1)
    model = _nets(rng)[name]
    if name == "batchnorm first" and batch == 1:
        model.eval()  # one sample has no batch statistics; this covers the running-stats path
    shape = (batch, 1, 6, 6) if name == "cnn" else (batch, 12)
    x = rng.standard_normal(shape).astype(np.float32)
    out = model(x)
    g = rng.standard_normal(out.shape).astype(np.float32)  # random upstream gradient

    dx = model.backward(g)
    assert dx.shape == x.shape
    full = {n: p.grad.copy() for n, p in model.named_parameters()}
    model.zero_grad()
    assert model.backward(g, input_grad=False) is None
    for n, p in model.named_parameters():
        np.testing.assert_array_equal(p.grad, full[n], err_msg=n)


@pytest.mark.parametrize("layer", [
    scratch.Linear(3, 2, rng=np.random.default_rng(0)), scratch.ReLU(), scratch.Sigmoid(),
    scratch.Softmax(dim=-1), scratch.Flatten(), scratch.Dropout(0.5, rng=np.random.default_rng(0)),
])
def test_each_layer_returns_none_without_input_grad(layer):
    x = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    y = layer(x)
    assert layer.backward(np.ones_like(y), input_grad=False) is None
