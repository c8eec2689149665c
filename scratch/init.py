"""Weight initialisation, mirroring `torch.nn.init`, with an explicit Generator.

Every function fills its array (or `Parameter.data`) in place and returns it,
like torch's trailing-underscore functions. Draws are made in float64 and then
cast, so float32 and float64 models from the same Generator hold the same
numbers up to rounding.
"""

from __future__ import annotations

import math

import numpy as np

from scratch.module import Parameter

_LINEAR_FNS = ("linear", "conv1d", "conv2d", "conv3d", "sigmoid")


def _array(tensor) -> np.ndarray:
    data = tensor.data if isinstance(tensor, Parameter) else tensor
    if not isinstance(data, np.ndarray):
        raise TypeError(f"expected a numpy.ndarray or Parameter, got {type(tensor).__name__}")
    return data


def _fill(tensor, values: np.ndarray):
    data = _array(tensor)
    data[...] = values
    return tensor


def _check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"expected rng to be a numpy.random.Generator, got {type(rng).__name__}; "
            "create one with numpy.random.default_rng(seed)"
        )
    return rng


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity, as `torch.nn.init.calculate_gain`."""
    if nonlinearity in _LINEAR_FNS:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(
        f"unknown nonlinearity {nonlinearity!r}; expected one of "
        f"{', '.join(_LINEAR_FNS + ('tanh', 'relu', 'leaky_relu', 'selu'))}"
    )


def calculate_fan_in_and_fan_out(tensor) -> tuple[int, int]:
    shape = _array(tensor).shape
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need at least 2 dimensions, got shape {shape}")
    receptive = math.prod(shape[2:])  # kernel size for conv weights (out, in, kh, kw)
    return shape[1] * receptive, shape[0] * receptive


def _fan(tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a: float = 0.0, b: float = 1.0, *, rng: np.random.Generator):
    return _fill(tensor, _check_rng(rng).uniform(a, b, size=_array(tensor).shape))


def normal_(tensor, mean: float = 0.0, std: float = 1.0, *, rng: np.random.Generator):
    return _fill(tensor, _check_rng(rng).normal(mean, std, size=_array(tensor).shape))


def zeros_(tensor):
    return _fill(tensor, 0)


def ones_(tensor):
    return _fill(tensor, 1)


def constant_(tensor, val: float):
    return _fill(tensor, val)


def xavier_uniform_(tensor, gain: float = 1.0, *, rng: np.random.Generator):
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, rng=rng)


def xavier_normal_(tensor, gain: float = 1.0, *, rng: np.random.Generator):
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng=rng)


def kaiming_uniform_(tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", *, rng: np.random.Generator):
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, rng=rng)


def kaiming_normal_(tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", *, rng: np.random.Generator):
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, rng=rng)

