"""micrograd 0.1.0 through the public twin check.

micrograd is scalar autograd: every number is a `Value`. `micrograd.nn.Layer(nin, nout,
nonlin)` is a list of neurons, each with weights `w` (a list of Values) and a bias `b`;
its nonlinearity is ReLU. Inputs are wrapped entry by entry; the summed product of
the outputs with the upstream gradient is back-propagated. No losses, no optimizers.
"""

from __future__ import annotations

import numpy as np
import torch

from bench.compare.check import Adapter, Param, check
from bench.peers.case import PeerCase
from bench.peers.load import load

PEER = "micrograd"


def _values(x: np.ndarray):
    Value = load(PEER, "engine").Value
    out = np.empty(x.shape, dtype=object)
    for idx, v in np.ndenumerate(x):
        out[idx] = Value(float(v))
    return out


def _forward(layer, xs):
    rows = [layer(list(row)) for row in xs]  # (N,) lists of Values
    return np.array([r if isinstance(r, list) else [r] for r in rows], dtype=object)


def _backward(layer, out, g):
    total = sum(o * float(gi) for o, gi in zip(out.ravel(), np.ravel(g)))
    total.backward()


def _data(values):
    return np.vectorize(lambda v: v.data, otypes=[float])(values)


def _weight_set(layer, a):
    for n, row in zip(layer.neurons, a):
        for w, v in zip(n.w, row):
            w.data = float(v)


def _bias_set(layer, a):
    for n, v in zip(layer.neurons, a):
        n.b.data = float(v)


ADAPTER = Adapter(
    forward=_forward, backward=_backward, wrap=_values, output=_data,
    input_grad=lambda xs: np.vectorize(lambda v: v.grad, otypes=[float])(xs),
    zero_grad="zero_grad",
    params=[Param("weight", lambda m: np.array([[w.data for w in n.w] for n in m.neurons]),
                  lambda m: np.array([[w.grad for w in n.w] for n in m.neurons]),
                  set=_weight_set),
            Param("bias", lambda m: np.array([n.b.data for n in m.neurons]),
                  lambda m: np.array([n.b.grad for n in m.neurons]), set=_bias_set)])


def _layer(nonlin: bool, prefix: str) -> PeerCase:
    def run():
        rng = np.random.default_rng(0)
        twin = (torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.ReLU()) if nonlin
                else torch.nn.Linear(5, 3))
        adapter = Adapter(**{**ADAPTER.__dict__, "params": [
            Param(prefix + p.torch_name, p.value, p.grad, p.set) for p in ADAPTER.params]})
        return check(load(PEER, "nn").Layer(5, 3, nonlin=nonlin), twin,
                     rng.standard_normal((4, 5)), adapter=adapter)
    return PeerCase(PEER, "layer", "nn.Layer", f"nin=5, nout=3, nonlin={nonlin} vs Linear(5, 3)"
                    + (" + ReLU" if nonlin else ""), run,
                    note="computes in Python floats: its float32 rows are float64")


def cases() -> list[PeerCase]:
    return [_layer(False, ""), _layer(True, "0.")]
