"""Upsampling by interpolation, as torch's `F.interpolate`: nearest, nearest-exact, (bi)linear.

Input (N, C, L) or (N, C, H, W); each spatial axis of input size S goes to output size O:
O = size, or floor(S * scale_factor). Torch's source-position rule along an axis, with
`r` the scale it uses (1 / scale_factor where a scale factor is passed on, else S / O;
for (bi)linear with align_corners, (S - 1) / (O - 1), 0 when O = 1):

    nearest        src(d) = min(floor(d r), S - 1)  (for a 4-D input, d itself when O = S and
                   d // 2 when O = 2S, as torch's 2-D kernel; its 1-D kernel has no such case)
    nearest-exact  src(d) = min(floor((d + 1/2) r), S - 1)
    linear         t(d) = d r (align_corners) or max(r (d + 1/2) - 1/2, 0); i0 = min(floor t,
                   S - 1), i1 = min(i0 + 1, S - 1), l1 = clamp(t - i0, 0, 1), l0 = 1 - l1,
                   y[d] = l0 x[i0] + l1 x[i1]  (y[d] = x[d] when O = S, whatever the scale)

nearest computes r and d r in float32, as torch does for every dtype; linear in the
input's dtype. Every mode is linear and separable: y = Ah @ x @ Aw^T with one (O, S)
interpolation matrix per axis (`interpolation_matrix`: one 1 per row for nearest, l0 and
l1 for linear), as adaptive average pooling's averaging matrices, so backward is
dx = Ah^T @ g @ Aw: for nearest the scatter-add of each output's gradient to its source
pixel, for linear to its two (four) neighbours weighted as in forward. Nearest's forward
is a gather (an exact copy) rather than a product. (torch's 1-D nearest backward takes the
O = S and O = 2S cases that its forward does not, so where floor(d r) differs from them its
gradient is not its forward's adjoint; scratch's is.)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

# mode -> the input ranks it takes (torch: linear 3-D, bilinear 4-D)
MODES = {"nearest": (3, 4), "nearest-exact": (3, 4), "linear": (3,), "bilinear": (4,)}
LINEAR_MODES = ("linear", "bilinear")


class InterpolatePlan(NamedTuple):
    """What `interpolate_forward` computes: the output's spatial size, the scale factor
    torch passes on per axis (None: S / O is used), the mode and align_corners."""

    size: tuple[int, ...]
    scales: tuple[float | None, ...]
    mode: str
    align_corners: bool


def _per_axis(value, dims: int, name: str, kind):
    """An int / float or a sequence of `dims` of them, as a tuple of `dims`."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims
    if len(values) != dims:
        raise ValueError(f"interpolate: {name} must be one number or {dims} (one per spatial "
                         f"axis of a {dims + 2}-D input), got {value!r}")
    if not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
               for v in values):
        raise TypeError(f"interpolate: {name} must hold {kind.__name__}s, got {value!r}")
    return tuple(kind(v) for v in values)


def check_options(size, scale_factor, mode: str, align_corners, recompute_scale_factor,
                  antialias: bool = False) -> None:
    """Refuse, with one clear line, the argument combinations torch refuses for any input
    (and antialias, which scratch does not implement)."""
    if mode not in MODES:
        raise NotImplementedError(f"interpolate: mode must be one of {tuple(MODES)} in "
                                  f"scratch, got {mode!r}")
    if (size is None) == (scale_factor is None):
        came = "both" if size is not None else "neither"
        raise ValueError(f"interpolate: exactly one of size or scale_factor must be given, "
                         f"got {came} (size={size!r}, scale_factor={scale_factor!r})")
    if align_corners is not None and mode not in LINEAR_MODES:
        raise ValueError(f"interpolate: align_corners can only be set with the interpolating "
                         f"modes linear | bilinear, got mode={mode!r} with "
                         f"align_corners={align_corners!r}")
    if recompute_scale_factor and size is not None:
        raise ValueError(f"interpolate: recompute_scale_factor=True is not meaningful with an "
                         f"explicit size, got size={size!r}")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not implemented in scratch "
                                  "(torch supports it for bilinear and bicubic only)")


def interpolate_plan(x_shape: tuple[int, ...], size=None, scale_factor=None,
                     mode: str = "nearest", align_corners=None, recompute_scale_factor=None,
                     antialias: bool = False) -> InterpolatePlan:
    """torch's argument rules for an input of shape x_shape, as an `InterpolatePlan`."""
    check_options(size, scale_factor, mode, align_corners, recompute_scale_factor, antialias)
    if len(x_shape) not in MODES[mode]:
        ranks = " or ".join(f"{r}-D" for r in MODES[mode])
        raise ValueError(f"interpolate: mode {mode!r} takes a {ranks} input (N, C, ...), got "
                         f"shape {tuple(x_shape)} ({len(x_shape)}-D)")
    dims, spatial = len(x_shape) - 2, tuple(x_shape[2:])
    if size is not None:
        out, scales = _per_axis(size, dims, "size", int), (None,) * dims
    else:
        factors = _per_axis(scale_factor, dims, "scale_factor", float)
        out = tuple(math.floor(float(s) * f) for s, f in zip(spatial, factors))
        scales = (None,) * dims if recompute_scale_factor else factors
    if min(spatial) <= 0 or min(out) <= 0:
        raise ValueError(f"interpolate: input and output sizes must be greater than 0, got "
                         f"input size {spatial} and output size {out}")
    return InterpolatePlan(out, scales, mode, bool(align_corners))


def _scale(size: int, out: int, scale: float | None, dtype) -> np.generic:
    """torch's compute_scales_value: 1 / scale factor if one was passed on, else S / O."""
    dtype = np.dtype(dtype).type
    return dtype(1.0 / scale) if scale is not None and scale > 0 else dtype(size) / dtype(out)


def nearest_index(size: int, out: int, scale: float | None, exact: bool = False,
                  shortcuts: bool = True) -> np.ndarray:
    """src (O,) int64: the input index each output index copies, in torch's float32;
    `shortcuts`: O = S and O = 2S read d and d // 2 whatever the scale (2-D inputs)."""
    d = np.arange(out)
    if shortcuts and not exact and out == size:
        return d
    if shortcuts and not exact and out == 2 * size:
        return d >> 1
    r = _scale(size, out, scale, np.float32)
    pos = (d.astype(np.float32) + np.float32(0.5)) * r if exact else d.astype(np.float32) * r
    return np.minimum(np.floor(pos).astype(np.int64), size - 1)


def linear_taps(size: int, out: int, scale: float | None, align_corners: bool, dtype
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(i0, i1, l0, l1), each (O,): the two input indices each output reads and their
    weights, torch's rule computed in dtype."""
    dt = np.dtype(dtype).type
    d = np.arange(out).astype(dt)
    if out == size:  # torch copies an axis whose size does not change, whatever the scale
        i = np.arange(out)
        return i, i, np.ones(out, dt), np.zeros(out, dt)
    if align_corners:
        r = dt(size - 1) / dt(out - 1) if out > 1 else dt(0)
        t = r * d
    else:
        r = _scale(size, out, scale, dt)
        t = np.maximum(r * (d + dt(0.5)) - dt(0.5), dt(0))
    i0 = np.minimum(np.floor(t).astype(np.int64), size - 1)
    i1 = i0 + (i0 < size - 1)
    l1 = np.clip(t - i0, 0, 1).astype(dt)
    return i0, i1, (dt(1) - l1).astype(dt), l1


def interpolation_matrix(size: int, out: int, scale: float | None, mode: str,
                         align_corners: bool, dtype, shortcuts: bool = True) -> np.ndarray:
    """A (O, S): y = A @ x interpolates one axis (rows add up to 1); `shortcuts` as in
    `nearest_index`."""
    a = np.zeros((out, size), dtype)
    rows = np.arange(out)
    if mode in LINEAR_MODES:
        i0, i1, l0, l1 = linear_taps(size, out, scale, align_corners, dtype)
        np.add.at(a, (rows, i0), l0)
        np.add.at(a, (rows, i1), l1)  # i1 = i0 at the last index: the weights add to 1
    else:
        a[rows, nearest_index(size, out, scale, mode == "nearest-exact", shortcuts)] = 1
    return a


def _matrices(x_shape: tuple[int, ...], plan: InterpolatePlan, dtype) -> list[np.ndarray]:
    return [interpolation_matrix(s, o, r, plan.mode, plan.align_corners, dtype,
                                 len(x_shape) == 4)
            for s, o, r in zip(x_shape[2:], plan.size, plan.scales)]


def interpolate_forward(x: np.ndarray, plan: InterpolatePlan) -> np.ndarray:
    """y (N, C, *plan.size) from x (N, C, *S): nearest gathers, (bi)linear is
    Ah @ x @ Aw^T (W first, as torch blends each row before the rows)."""
    if plan.mode not in LINEAR_MODES:
        index = [nearest_index(s, o, r, plan.mode == "nearest-exact", x.ndim == 4)
                 for s, o, r in zip(x.shape[2:], plan.size, plan.scales)]
        return x[(..., *np.ix_(*index))]  # (N, C, *O)
    *ah, aw = _matrices(x.shape, plan, x.dtype)
    y = x @ aw.T  # (N, C, [H,] OW)
    return ah[0] @ y if ah else y  # (N, C, [OH,] OW)


def interpolate_backward(grad_out: np.ndarray, x_shape: tuple[int, ...], plan: InterpolatePlan
                         ) -> np.ndarray:
    """dx (N, C, *S) = Ah^T @ g @ Aw: each output's gradient added to the input pixels it
    was read from, with the forward's weights."""
    *ah, aw = _matrices(x_shape, plan, grad_out.dtype)
    dx = grad_out @ aw  # (N, C, [OH,] W)
    return ah[0].T @ dx if ah else dx  # (N, C, [H,] W)


def interpolate(input: np.ndarray, size=None, scale_factor=None, mode: str = "nearest",
                align_corners=None, recompute_scale_factor=None, antialias: bool = False
                ) -> np.ndarray:
    """torch.nn.functional.interpolate's signature and output (no backward cache: the
    `Upsample` module keeps the plan for `interpolate_backward`)."""
    plan = interpolate_plan(input.shape, size, scale_factor, mode, align_corners,
                            recompute_scale_factor, antialias)
    return interpolate_forward(input, plan)
