"""torch layers the twin needs that torch.nn does not have as such.

`SharedMaskDropout` is torch's inverted dropout with the mask drawn from a
numpy Generator in exactly the way scratch.Dropout (and, per channel,
scratch.Dropout2d) draws it, so that the twins, each holding the same
Generator state, drop the same elements.
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
        channelwise: draw one mask entry per (n, c) map of an (N, C, H, W) input, as
            Dropout2d; else one per element.
    """

    def __init__(self, p: float, rng: np.random.Generator, channelwise: bool = False):
        super().__init__()
        self.p = p
        self.rng = rng
        self.channelwise = channelwise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return x * 0
        shape = tuple(x.shape[:2]) if self.channelwise else tuple(x.shape)
        keep = self.rng.random(shape, dtype=np.float32) >= self.p
        keep = keep.reshape(shape + (1,) * (x.dim() - len(shape)))
        scale = torch.from_numpy(keep).to(device=x.device, dtype=x.dtype) / (1 - self.p)
        return x * scale

    def extra_repr(self) -> str:
        return f"p={self.p}, shared numpy mask"


def shared_dropout(m, dtype) -> nn.Module:
    """Twin of scratch.Dropout or Dropout2d holding a copy of its Generator's current state."""
    return SharedMaskDropout(m.p, copy.deepcopy(m.rng),
                             channelwise=type(m).__name__ == "Dropout2d")
