"""One audited thing: a peer's layer, loss or optimizer in one configuration.

Also `stacked`, the `Param` of a torch recurrent tensor whose gates a peer keeps apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bench.compare.check import SAME, CheckReport, Layout, Param


@dataclass(frozen=True)
class PeerCase:
    peer: str
    kind: str  # "layer", "activation", "loss" or "optimizer"
    name: str  # the peer's own name for it
    config: str  # its arguments and the torch counterpart
    run: Callable[[], CheckReport]
    note: str = ""


def stacked(torch_name: str, gates: tuple[str, ...], value: Callable, grad: Callable,
            write: Callable, layout: Layout = SAME) -> Param:
    """A torch tensor that stacks one block per gate along axis 0 (torch's gate order,
    e.g. LSTM's i, f, g, o), held by a peer as one array per gate.

    `gates` names the peer's gates in torch's order; `value(m, gate)` / `grad(m, gate)`
    read the peer's array and its gradient, `write(m, gate, array)` stores one; each
    block is the peer's way round by `layout` (e.g. TRANSPOSED for an (in, hidden) weight).
    """
    def read(m, get):
        return np.concatenate([layout.to_torch(np.asarray(get(m, g))) for g in gates])

    def put(m, a):
        for g, block in zip(gates, np.split(np.asarray(a), len(gates))):
            write(m, g, np.ascontiguousarray(layout.to_layer(block)))
    return Param(torch_name, lambda m: read(m, value), lambda m: read(m, grad), set=put)
