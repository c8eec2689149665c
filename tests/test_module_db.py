"""torch's own module test corpus against scratch.

`module_db` (torch.testing._internal.common_modules) is the list of samples torch's test
suite builds every module from: constructor arguments and forward inputs, per dtype and
mode. For each class scratch exports that has an entry, every sample is run in both
dtypes and both modes:

- scratch's module is built from the sample's constructor arguments (tensors as arrays),
  with the sample's dtype;
- its torch twin (`reference.twin`, built from the arguments scratch recorded) must print
  as torch's module built from the sample's: no argument dropped or altered on the way;
- `bench.compare.compare` then checks the output, the input gradients, every parameter
  gradient and the buffers against the twin at `TOLERANCES[dtype]` (float32 rtol 1e-4,
  float64 rtol 1e-10).

Needs expecttest (torch's test utilities import it; the `test` extra installs it).
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest
import torch
from torch.testing._internal import common_modules  # imports expecttest (the test extra)

import reference
import scratch
from bench.compare import TOLERANCES, compare

# Classes whose samples scratch cannot build: TransformerEncoder's pass a torch
# TransformerEncoderLayer object to the constructor (the catalogue's encoder cases build
# the same stacks from scratch's own layers).
NOT_BUILT = {"TransformerEncoder"}
TORCH_FUNCTIONS = {torch.nn.functional.relu: "relu", torch.nn.functional.gelu: "gelu"}
DTYPES = {torch.float32: np.dtype(np.float32), torch.float64: np.dtype(np.float64)}


def _classes() -> list[str]:
    names = [info.module_cls.__name__ for info in common_modules.module_db]
    return sorted({n for n in names if n in scratch.__all__} - NOT_BUILT)


def _numpy(value):
    """A sample's value as scratch takes it: tensors as arrays, tuples item by item,
    torch's activation functions by their names."""
    if isinstance(value, torch.Tensor):
        return value.detach().numpy().copy()
    if isinstance(value, (tuple, list)):
        return type(value)(_numpy(v) for v in value)
    if callable(value) and value in TORCH_FUNCTIONS:
        return TORCH_FUNCTIONS[value]
    return value


def _build(cls, args, kwargs, dtype: np.dtype):
    params = inspect.signature(cls).parameters
    extra = {"rng": np.random.default_rng(0)} if "rng" in params else {}
    if "dtype" in params:
        extra["dtype"] = dtype
    return cls(*_numpy(args), **{k: _numpy(v) for k, v in kwargs.items()}, **extra)


def _check(info, sample, dtype: torch.dtype, training: bool) -> str | None:
    """None if scratch agrees with torch on `sample`, else what differed."""
    args, kwargs = sample.constructor_input.args, sample.constructor_input.kwargs
    module = _build(getattr(scratch, info.module_cls.__name__), args, kwargs, DTYPES[dtype])
    module.train(training)
    expected = info.module_cls(*args, **kwargs)
    twin = reference.twin(module)
    if repr(twin) != repr(expected):
        return f"built as {twin!r}, torch builds {expected!r}"
    inputs = _numpy(sample.forward_input.args)
    options = {k: _numpy(v) for k, v in sample.forward_input.kwargs.items()}
    rng = np.random.default_rng(0)
    if isinstance(module, scratch.Loss):
        target = inputs[1]
        float_target = isinstance(target, np.ndarray) and np.issubdtype(target.dtype,
                                                                       np.floating)
        result = compare(module, *inputs[:1], target=target, rng=rng,
                         target_grad=float_target and sample.forward_input.args[1].requires_grad)
    else:
        result = compare(module, *inputs, options=options, rng=rng)
    failures = result.failures(TOLERANCES[DTYPES[dtype]])
    return "; ".join(failures) or None


@pytest.mark.parametrize("dtype", list(DTYPES), ids=str)
@pytest.mark.parametrize("name", _classes())
def test_torchs_module_samples(name, dtype):
    (info,) = [i for i in common_modules.module_db if i.module_cls.__name__ == name]
    torch.manual_seed(0)  # the samples' tensors come from torch's global generator
    checked, wrong = 0, []
    for training in (True, False):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            samples = info.module_inputs_func(info, device="cpu", dtype=dtype,
                                              requires_grad=True, training=training)
        for sample in samples:
            if sample.forward_input is None:
                continue
            try:
                why = _check(info, sample, dtype, training)
            except Exception as err:  # noqa: BLE001 - reported with the sample
                why = f"{type(err).__name__}: {err}"
            if why:
                wrong.append(f"{sample.desc or 'default'} (training={training}): {why[:300]}")
            checked += 1
    assert checked, f"torch's corpus has no {dtype} sample of {name}"
    assert not wrong, f"{len(wrong)} of {checked} samples differ:\n" + "\n".join(wrong)
