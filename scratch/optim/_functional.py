"""Small in-place update helpers shared by the optimizers."""

from __future__ import annotations

import numpy as np


def lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> None:
    """start <- start + weight * (end - start), in place, in torch.lerp_'s two forms.

    torch rounds differently on either side of weight 0.5 (it anchors on the nearer
    end), so follow it there to stay within an ulp of it.
    """
    w = start.dtype.type(weight)  # torch takes 1 - w in the parameter's dtype
    if abs(w) < 0.5:
        start += w * (end - start)
    else:
        start[...] = end - (end - start) * (1 - w)
