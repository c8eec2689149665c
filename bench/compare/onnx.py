"""An exported ONNX file against scratch: `check_onnx` runs both on the same images.

onnxruntime (the extra `export`: `pip install -e '.[export]'`) runs the file on the CPU; its
logits must equal scratch's elementwise within `TOLERANCES[float32]`
(|onnx - scratch| <= atol + rtol * |scratch|), as the torch twin's must.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

import scratch
from bench.compare.twins import TOLERANCES
from bench.errors import install_hint
from bench.training.inference import Twins
from scratch.module import eval_mode
from scratch.testing import max_rel_diff

BATCH = 250  # images per onnxruntime call: exercises the dynamic batch dimension


@dataclass(frozen=True)
class OnnxCheck:
    """How far the ONNX file's logits are from scratch's on `n` images."""

    n: int
    max_abs_diff: float
    max_rel_diff: float  # scratch.testing.max_rel_diff, scratch as the expected array
    within_tolerance: bool  # elementwise, TOLERANCES[float32]
    same_predictions: int  # images whose argmax agrees


def onnx_logits(model: str | os.PathLike | bytes, x: np.ndarray) -> np.ndarray:
    """The ONNX model's output (a file, or its bytes) for inputs `x`, run by onnxruntime in
    batches of BATCH."""
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise ImportError(f"checking ONNX files needs onnxruntime: {install_hint('export')}"
                          ) from err
    source = model if isinstance(model, bytes) else os.fspath(model)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = x.astype(np.float32, copy=False)
    return np.concatenate([session.run(None, {name: x[i:i + BATCH]})[0]
                           for i in range(0, len(x), BATCH)])


def check_onnx(onnx: str | os.PathLike | bytes, model: scratch.Module, x: np.ndarray
               ) -> OnnxCheck:
    """Run `model` (in eval mode, its own mode given back) and the ONNX model (file or bytes)
    on `x`; compare logits."""
    with eval_mode(model):
        expected = model(x.astype(np.float32, copy=False)).astype(np.float64)  # (N, 10)
    got = onnx_logits(onnx, x).astype(np.float64)
    if got.shape != expected.shape:
        raise ValueError(f"ONNX model: expected logits of shape {expected.shape}, "
                         f"got {got.shape}")
    tol = TOLERANCES[np.dtype(np.float32)]
    diff = np.abs(got - expected)
    return OnnxCheck(
        n=len(x), max_abs_diff=float(diff.max()),
        max_rel_diff=max_rel_diff(got, expected),
        within_tolerance=bool(np.all(diff <= tol.atol + tol.rtol * np.abs(expected))),
        same_predictions=int(np.count_nonzero(got.argmax(1) == expected.argmax(1))))


def export_checked(twins: Twins, out: str | os.PathLike, n: int = 1000, **fetch_options
                   ) -> OnnxCheck | None:
    """Export `twins`' model to `out`, checked first against scratch on the test set's first
    `n` images (none when n is 0); a file that fails the check is not written."""
    from bench.datasets import load
    from bench.experiments import input_shape
    from reference.export import onnx_bytes
    from scratch.atomic import write_atomic

    data = onnx_bytes(twins.scratch_model, (1, *input_shape(twins.exp)))
    check = None
    if n > 0:
        images = load(twins.exp.dataset, "test", **fetch_options)[0][:n]  # uint8 (n, 28, 28)
        check = check_onnx(data, twins.scratch_model, twins.inputs(images))
        if not check.within_tolerance:
            tol = TOLERANCES[np.dtype(np.float32)]
            raise ValueError(f"the exported model's logits differ from scratch's beyond "
                             f"float32 tolerance (rtol {tol.rtol}, atol {tol.atol}): max abs "
                             f"diff {check.max_abs_diff:.3e} on {check.n} test images; "
                             f"{out} not written")
    write_atomic(out, data)
    return check
