"""The one measure of "how far apart" that every comparison in twinbench reports.

gradcheck (analytic against numeric), the parity checks (scratch against torch),
the optimizer trajectories and lockstep training (weights against weights) all
call `max_rel_diff`, so a figure in one table means the same as in another.
`array_leaves` is how both gradcheck and the parity helper walk a module's
nested inputs and outputs.
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


def array_leaves(obj, *, floats_only: bool = False) -> list[np.ndarray]:
    """The arrays of a (nested) tuple or list, in order; None and other values skipped.

    A module's outputs, and the inputs its backward differentiates, are these leaves:
    an LSTM's `(out, (h_n, c_n))` has three, MaxPool2d's `(out, indices)` two. With
    `floats_only` only float32/float64 arrays count (those that carry gradients).
    """
    if isinstance(obj, (tuple, list)):
        return [leaf for item in obj for leaf in array_leaves(item, floats_only=floats_only)]
    if not isinstance(obj, np.ndarray):
        return []
    return [obj] if not floats_only or obj.dtype in (np.float32, np.float64) else []
