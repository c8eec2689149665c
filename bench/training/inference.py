"""A trained model, both twins, ready to look at one picture: `Twins` and `load_twins`.

Built from any weights file `read_weights_file` reads (training checkpoint,
.safetensors, .pt, .npz), in eval mode. Inputs are prepared exactly as the
training data was (`bench.datasets.to_inputs`, standardised with the training
set's pixel statistics when the experiment standardised), so a picture read by
`bench.datasets.images.load_image` meets the model as a test image would.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import reference
import scratch
from bench.datasets import DATASETS, PixelStats, to_inputs
from bench.experiments import Experiment, build_model
from bench.training.checkpoint import read_weights_file
from scratch.functional import softmax


@dataclass
class Twins:
    """One experiment's scratch model and its torch twin, same weights, eval mode."""

    exp: Experiment
    scratch_model: scratch.Sequential
    torch_model: torch.nn.Module
    stats: PixelStats | None  # training-set pixel statistics, if the experiment standardised

    @property
    def class_names(self) -> tuple[str, ...]:
        return DATASETS[self.exp.dataset].class_names

    @property
    def box(self) -> int:
        """The side of the box the ink is fitted into: MNIST's 20, Fashion-MNIST's full 28."""
        return 28 if self.exp.dataset == "fashion-mnist" else 20

    def inputs(self, images: np.ndarray) -> np.ndarray:
        """uint8 (N, 28, 28) -> the model's inputs, (N, 784) or (N, 1, 28, 28)."""
        x = to_inputs(images, layout=self.exp.layout, stats=self.stats)
        return x.astype(np.dtype(self.exp.dtype), copy=False)

    def probabilities(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(scratch, torch) class probabilities (N, 10), softmax of the logits in float64."""
        logits_s = self.scratch_model(x).astype(np.float64)  # (N, 10)
        with torch.no_grad():
            logits_t = self.torch_model(torch.from_numpy(x)).numpy().astype(np.float64)
        return softmax(logits_s, 1), softmax(logits_t, 1)

    def first_activations(self, x: np.ndarray) -> np.ndarray:
        """Scratch's output of the first layer and its activation function, (N, ...).

        For a CNN the first conv's feature maps (N, C, 28, 28) after its batch norm and
        ReLU; for an MLP the first hidden layer's units (N, units).
        """
        out = x
        for module in self.scratch_model:
            out = module(out)
            if type(module).__name__ in ("ReLU", "LeakyReLU", "Tanh", "Sigmoid", "GELU"):
                break
        return out

    def hidden_features(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(scratch, torch) inputs of the last layer (N, features): what the network learned."""
        *body, _last = list(self.scratch_model)
        h = x
        for module in body:
            h = module(h)
        with torch.no_grad():
            t = torch.from_numpy(x)
            for module in list(self.torch_model)[:-1]:
                t = module(t)
        return h.reshape(len(x), -1), t.numpy().reshape(len(x), -1)


def training_stats(exp: Experiment, **fetch_options) -> PixelStats | None:
    """The pixel statistics `exp` standardised with (from its training set), or None."""
    if not exp.standardize:
        return None
    from bench.datasets import load, pixel_stats

    return pixel_stats(load(exp.dataset, "train", **fetch_options)[0])


def check_fits(exp: Experiment, weights: dict, source: str = "weights"
               ) -> scratch.Sequential:
    """`exp`'s scratch model holding `weights`; a mismatch names the experiment, its layers
    and every key that differs."""
    if exp.objective is not None:
        raise ValueError(f"{source} holds {exp.name!r}, a generative model ({exp.objective}): "
                         "it classifies no picture; `twinbench eval` gives its test loss")
    model = build_model(exp, np.random.default_rng(exp.seed))
    try:
        model.load_state_dict(weights)
    except ValueError as err:
        raise ValueError(f"{source} does not fit experiment {exp.name!r} "
                         f"({', '.join(exp.layers)}): {err}") from None
    return model


def twins_from_weights(exp: Experiment, weights: dict, source: str = "weights",
                       **fetch_options) -> Twins:
    """Both twins of `exp` holding `weights`, in eval mode."""
    model = check_fits(exp, weights, source)
    model.eval()
    twin = reference.twin(model).eval()
    return Twins(exp, model, twin, training_stats(exp, **fetch_options))


def load_twins(path: str | Path, experiment: str | None = None, **fetch_options) -> Twins:
    """Both twins from a checkpoint or weights file (see `read_weights_file`)."""
    exp, weights = read_weights_file(Path(path), experiment)
    return twins_from_weights(exp, weights, str(path), **fetch_options)


def top_k(probs: np.ndarray, k: int = 3) -> list[int]:
    """Indices of the k largest probabilities, largest first (ties: lower class first)."""
    return [int(i) for i in np.argsort(-probs, kind="stable")[:k]]
