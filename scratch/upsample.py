"""Upsample, as `torch.nn.Upsample`: the module around `scratch.functional.interpolate`'s math."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scratch import functional as F
from scratch._checks import check_grad, check_input, require_forward
from scratch.module import Module

_SHAPES = {3: "(N, C, L)", 4: "(N, C, H, W)"}


class _UpsampleCache(NamedTuple):
    x_shape: tuple[int, ...]
    plan: F.InterpolatePlan


class Upsample(Module):
    """Resize (N, C, L) or (N, C, H, W) by nearest or (bi)linear interpolation, as
    `torch.nn.Upsample` (torch's rules in `scratch.functional.upsample`'s docstring).

    Each mode is linear and separable, y = Ah @ x @ Aw^T with one (O, S) interpolation
    matrix per axis, so dx = Ah^T @ g @ Aw: nearest adds each output's gradient into the
    pixel it copied, (bi)linear into its neighbours with the forward's weights.

    Output size per axis: `size`, or floor(S * scale_factor).

    Args:
        size: the output's spatial size (int or one per axis); exactly one of size and
            scale_factor.
        scale_factor: multiplier of the spatial size (float or one per axis).
        mode: 'nearest' (default), 'nearest-exact', 'linear' (3-D), 'bilinear' (4-D).
        align_corners: linear modes only (None means False); corners of input and output
            aligned, r = (S - 1) / (O - 1).
        recompute_scale_factor: True: interpolate with S / O instead of 1 / scale_factor.
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest",
                 align_corners=None, recompute_scale_factor=None):
        super().__init__()
        F.check_options(size, scale_factor, mode, align_corners, recompute_scale_factor)
        self.size = size
        self.scale_factor = (tuple(float(f) for f in scale_factor)
                             if isinstance(scale_factor, (tuple, list))
                             else None if scale_factor is None else float(scale_factor))
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor
        self._cache: _UpsampleCache | None = None

    def forward(self, input: np.ndarray) -> np.ndarray:
        ranks = F.MODES[self.mode]
        x = check_input(input, repr(self), ndim=ranks,
                        shape_doc=" or ".join(_SHAPES[r] for r in ranks))
        plan = F.interpolate_plan(x.shape, self.size, self.scale_factor, self.mode,
                                  self.align_corners, self.recompute_scale_factor)
        y = F.interpolate_forward(x, plan)  # (N, C, *O)
        self._cache = _UpsampleCache(x.shape, plan)
        return y

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        x_shape, plan = require_forward(self._cache, repr(self))
        g = check_grad(grad_out, (*x_shape[:2], *plan.size), repr(self))
        if not input_grad:
            return None
        return F.interpolate_backward(g, x_shape, plan)  # (N, C, *S)

    def extra_repr(self) -> str:
        what = (f"scale_factor={self.scale_factor!r}" if self.size is None
                else f"size={self.size!r}")
        return f"{what}, mode={self.mode!r}"
