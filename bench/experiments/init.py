"""Initialisation schemes by name, for experiment configs (`Experiment.init`).

"default" is each layer's own `reset_parameters()` (torch's defaults); the others
draw every weight matrix from a `scratch.init` function and zero the biases:
"kaiming_uniform", "kaiming_normal" (both for ReLU), "xavier_uniform",
"xavier_normal", and "normal" (std 0.01, the small init of the write-ups).
"""

from __future__ import annotations

import numpy as np

import scratch
from scratch import init

# Each takes (weight, rng) and fills the weight in place.
SCHEMES = {
    "kaiming_uniform": lambda w, rng: init.kaiming_uniform_(w, nonlinearity="relu", rng=rng),
    "kaiming_normal": lambda w, rng: init.kaiming_normal_(w, nonlinearity="relu", rng=rng),
    "xavier_uniform": lambda w, rng: init.xavier_uniform_(w, rng=rng),
    "xavier_normal": lambda w, rng: init.xavier_normal_(w, rng=rng),
    "normal": lambda w, rng: init.normal_(w, 0.0, 0.01, rng=rng),
}


def initialize(model: scratch.Module, scheme: str, *, rng: np.random.Generator):
    """Re-initialise every layer of `model` that has a weight matrix, in module order."""
    if scheme != "default" and scheme not in SCHEMES:
        raise ValueError(
            f"unknown init scheme {scheme!r}; expected one of {['default', *SCHEMES]}"
        )
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"expected rng to be a numpy.random.Generator, got {type(rng).__name__}")
    for m in model.modules():
        weight, bias = getattr(m, "weight", None), getattr(m, "bias", None)
        if not isinstance(weight, scratch.Parameter) or weight.data.ndim < 2:
            continue  # norms' affine weights keep their ones
        if scheme == "default":
            m.reset_parameters(rng=rng)
            continue
        SCHEMES[scheme](weight, rng)
        if isinstance(bias, scratch.Parameter):
            init.zeros_(bias)
    return model
