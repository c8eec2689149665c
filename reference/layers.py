"""torch layers the twin needs that torch.nn does not have as such.

`SharedMaskDropout` is torch's inverted dropout with the mask drawn from a
numpy Generator in exactly the way scratch.Dropout draws it, so that the
twins, each holding the same Generator state, drop the same elements.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn


class SharedMaskDropout(nn.Module):
    """Dropout whose masks come from `rng.random(shape, dtype=float32) >= p`, like scratch's.

    Args:
        p: drop probability.
        rng: a numpy Generator; pass a copy of the scratch layer's to draw the same masks.
    """

    def __init__(self, p: float, rng: np.random.Generator):
        super().__init__()
        self.p = p
        self.rng = rng

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return x * 0
        keep = self.rng.random(tuple(x.shape), dtype=np.float32) >= self.p
        scale = torch.from_numpy(keep).to(device=x.device, dtype=x.dtype) / (1 - self.p)
        return x * scale

    def extra_repr(self) -> str:
        return f"p={self.p}, shared numpy mask"


def shared_dropout(m, dtype) -> nn.Module:
    """Twin of scratch.Dropout holding a copy of its Generator's current state."""
    return SharedMaskDropout(m.p, copy.deepcopy(m.rng))
