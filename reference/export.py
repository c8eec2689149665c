"""ONNX export of a scratch model, through its torch twin: `export_onnx`.

The twin is exported with torch's TorchScript-based exporter
(`torch.onnx.export(..., dynamo=False)`). The torch.export-based exporter
(torch's default since 2.9) gives the same graph for these models but needs the
`onnxscript` package and takes 5-12 s per model against under 1 s, with pages
of log output; the TorchScript exporter needs nothing beyond torch and is what
`constraints.txt`'s torch 2.13 still ships. Should a later torch drop it, only
this function changes.

The batch dimension is dynamic (named "batch"); the input is named "input",
the output "logits". The file is written atomically.
"""

from __future__ import annotations

import io
import os
import warnings

import torch

import scratch
from reference.build import twin
from scratch.atomic import write_atomic
from scratch.module import eval_mode

OPSET = 17  # onnxruntime 1.16+ runs it; Conv, BatchNormalization, MaxPool, Gemm are unchanged


def onnx_bytes(model: scratch.Module, example_shape: tuple[int, ...]) -> bytes:
    """`model` (a scratch model, exported in eval mode; its own mode is left as it was) as an
    ONNX file's bytes.

    `example_shape` is one input's shape including a batch dimension, e.g. (1, 784)
    or (1, 1, 28, 28); the exported batch dimension is dynamic.
    """
    with eval_mode(model):
        torch_model = twin(model).eval()
    dtype = next(torch_model.parameters()).dtype
    example = torch.zeros(example_shape, dtype=dtype)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # the TorchScript exporter announces its successor; the choice is explained above
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        warnings.filterwarnings("ignore", message=".*The feature will be removed.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.onnx.export(torch_model, (example,), buf, dynamo=False, opset_version=OPSET,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return buf.getvalue()


def export_onnx(model: scratch.Module, example_shape: tuple[int, ...],
                path: str | os.PathLike) -> None:
    """Write `onnx_bytes(model, example_shape)` to `path` atomically."""
    data = onnx_bytes(model, example_shape)
    write_atomic(path, data)
