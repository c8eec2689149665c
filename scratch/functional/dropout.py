"""Inverted dropout: the mask drawn from a given Generator, and its scaling.

    scale = mask / (1 - p),   mask = rng.random(mask_shape, dtype=float32) >= p
    y = x * scale,   dx = g * scale

(scale = 0 everywhere at p = 1.) The mask may cover fewer dims than x (Dropout2d:
one per (n, c) map); the scale then broadcasts over the dims it leaves out. The draw
is the rule a twin copies to drop the same elements (reference.layers.SharedMaskDropout).
"""

from __future__ import annotations

import numpy as np


def dropout_scale(rng: np.random.Generator, shape: tuple[int, ...], p: float,
                  dtype) -> np.ndarray:
    """mask / (1 - p) of `shape` in `dtype`: kept elements 1 / (1 - p), dropped ones 0.

    The draw is `rng.random(shape, dtype=float32) >= p`, made even at p = 1 (all dropped)
    so that the Generator advances alike for every p > 0."""
    keep = rng.random(shape, dtype=np.float32) >= p
    if p == 1.0:
        keep[...] = False
    return keep * np.dtype(dtype).type(0 if p == 1.0 else 1 / (1 - p))  # (shape)


def dropout(x: np.ndarray, scale: np.ndarray, *, inplace: bool = False
            ) -> tuple[np.ndarray, np.ndarray]:
    """y = x * scale, the scale (its leading dims x's) broadcast over x's further dims.

    Returns y (x itself, written in place, with inplace=True) and the scale as broadcast,
    which `dropout_backward` takes.
    """
    scale = scale.reshape(scale.shape + (1,) * (x.ndim - scale.ndim))  # (mask shape, 1...)
    if inplace:
        x *= scale
        return x, scale
    return x * scale, scale


def dropout_backward(grad_out: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """dx = g * scale, scale as `dropout` returned it."""
    return grad_out * scale
