"""A whole MLP trained step by step in both twins ends with the same weights."""

import numpy as np
import pytest
import torch

import reference
import scratch
from bench.compare.catalogue import mlp
from scratch import optim
from scratch.testing import max_rel_diff

STEPS = 10
REL_TOL = {np.float64: 1e-10, np.float32: 1e-4}
# One argument set builds both optimizers; the loss's twin comes from reference.twin.
SGD_ARGS = {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4}


def _train_both(dtype, steps=STEPS, seed=0):
    rng = np.random.default_rng(seed)
    model = mlp(rng, np.dtype(dtype))  # 784-256-128-10, ReLU
    tmodel = reference.twin(model)
    loss_fn = scratch.CrossEntropyLoss()
    tloss_fn = reference.twin(loss_fn)
    opt = optim.SGD(model.parameters(), **SGD_ARGS)
    topt = torch.optim.SGD(tmodel.parameters(), **SGD_ARGS)
    data_x = rng.standard_normal((64, 784)).astype(dtype)  # a fixed set the MLP can fit
    data_y = rng.integers(0, 10, 64)
    losses = []
    for _ in range(steps):
        idx = rng.choice(64, size=32, replace=False)
        x, y = data_x[idx], data_y[idx]
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        model.backward(loss_fn.backward())
        opt.step()
        tloss = tloss_fn(tmodel(reference.to_torch(x)), torch.from_numpy(y))
        topt.zero_grad()
        tloss.backward()
        topt.step()
        losses.append((loss, tloss.item()))
    return model, tmodel, losses


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: np.dtype(d).name)
def test_mlp_ten_steps_same_weights(dtype):
    model, tmodel, losses = _train_both(dtype)
    tstate = tmodel.state_dict()
    for name, w in model.state_dict().items():
        rel = max_rel_diff(w, tstate[name].numpy())
        assert rel <= REL_TOL[dtype], (name, rel)
    for ls, lt in losses:
        assert ls == pytest.approx(lt, rel=REL_TOL[dtype])
    # the run really trained: the loss fell well below its first value
    assert losses[-1][0] < 0.8 * losses[0][0]
