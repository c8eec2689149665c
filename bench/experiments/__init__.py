"""Experiments: named training recipes and the scratch models they build.

- `config`: the `Experiment` dataclass, one run's full recipe.
- `layers`: layer specs ("conv 32 3 pad=1") to scratch modules, `build_model`.
- `init`: initialisation schemes by name.
- `models`, `generative`: models of one's own (the sequence bodies; the VAE and DCGAN), their
  torch twins in `torch_models`, `torch_generative`.
- `registry`: the named experiments (`EXPERIMENTS`, `get_experiment`), and
  `recorded_experiment`, the registry's experiment a checkpoint's record names.
"""

from bench.experiments.config import Experiment
from bench.experiments.init import SCHEMES, initialize
from bench.experiments.layers import (
    IMAGE_SHAPE,
    INPUT_FEATURES,
    architecture,
    build_model,
    input_shape,
)
from bench.experiments.registry import EXPERIMENTS, get_experiment, recorded_experiment

__all__ = ["EXPERIMENTS", "IMAGE_SHAPE", "INPUT_FEATURES", "SCHEMES", "Experiment",
           "architecture", "build_model", "get_experiment", "initialize", "input_shape",
           "recorded_experiment"]
