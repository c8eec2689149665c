"""One audited thing: a peer's layer, loss or optimizer in one configuration."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.compare.check import CheckReport


@dataclass(frozen=True)
class PeerCase:
    peer: str
    kind: str  # "layer", "activation", "loss" or "optimizer"
    name: str  # the peer's own name for it
    config: str  # its arguments and the torch counterpart
    run: Callable[[], CheckReport]
    note: str = ""
