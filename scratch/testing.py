"""The one measure of "how far apart" that every comparison in twinbench reports.

gradcheck (analytic against numeric), the parity checks (scratch against torch),
the optimizer trajectories and lockstep training (weights against weights) all
call `max_rel_diff`, so a figure in one table means the same as in another.
"""

from __future__ import annotations

import numpy as np


def max_rel_diff(actual, expected, *, floor: float = 0.0) -> float:
    """max|actual - expected| / max(max|expected|, floor): the difference relative to the
    expected array's scale.

    `floor` keeps an array that is zero in theory (a bias that feeds a batch norm,
    whose gradient is pure rounding noise) from being divided by almost nothing.
    Where the scale is 0 the absolute difference is returned, so a nonzero result
    against an all-zero expectation never reads as agreement. NaN anywhere gives NaN.
    """
    a = np.asarray(actual)
    b = np.asarray(expected)
    if a.shape != b.shape:
        raise ValueError(f"max_rel_diff compares arrays of one shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))  # (same shape)
    if np.isnan(diff).any():
        return float("nan")
    scale = max(float(np.abs(b).max()), floor)
    worst = float(diff.max())
    return worst / scale if scale > 0 else worst
