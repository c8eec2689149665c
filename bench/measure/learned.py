"""What a trained network learned, for the report: a 2-D map of its last hidden layer's
features on test images, and its first layer's weights.

The map is t-SNE (scikit-learn, `bench` extra) of the features the last layer
reads (the input of the final Linear), on the test set's first N images,
PCA-initialised with a fixed seed so that the same features give the same
map. Each twin is mapped from its own trained model. If scikit-learn is
missing the map is left out and said so.
"""

from __future__ import annotations

import numpy as np

from scratch.module import eval_mode

N = 2000  # test images in the map: t-SNE takes ~10-20 s for 2,000 points on 2 cores
UNITS = 16  # first-layer units / filters kept as images


def hidden_features(runner, x: np.ndarray) -> np.ndarray:
    """(N, features): the input of the runner's last layer, in eval mode (the model's mode
    is given back)."""
    import torch

    layers = list(runner.model)[:-1]
    with eval_mode(runner.model):
        if runner.impl == "scratch":
            h = x
            for module in layers:
                h = module(h)
            return np.asarray(h, dtype=np.float64).reshape(len(x), -1)
        with torch.no_grad():
            t = runner._tensor(x)
            for module in layers:
                t = module(t)
        return t.cpu().numpy().astype(np.float64).reshape(len(x), -1)


def embed(features: np.ndarray, seed: int = 0, max_iter: int = 1000) -> np.ndarray | None:
    """(N, 2) t-SNE coordinates, or None without scikit-learn."""
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        return None
    if len(features) < 4:
        return None  # nothing to map
    # perplexity must stay below the number of points; 30 (the usual) from 91 points on
    tsne = TSNE(n_components=2, init="pca", random_state=seed,
                perplexity=min(30.0, (len(features) - 1) / 3), max_iter=max_iter)
    return tsne.fit_transform(features.astype(np.float32))


def learned(runner, x_test: np.ndarray, y_test: np.ndarray, n: int = N, *,
            max_iter: int = 1000) -> dict:
    """The record entry for one trained twin: map points, their labels, first-layer weights."""
    weights = runner.weights()
    first = next(k for k in weights if k.endswith("weight"))
    w = np.asarray(weights[first], dtype=np.float64)[:UNITS]  # (units, 784) or (C, 1, k, k)
    points = embed(hidden_features(runner, x_test[:n]), max_iter=max_iter)
    return {
        "points": None if points is None else np.round(points, 3).tolist(),
        "labels": y_test[:n].tolist(),
        "first_layer": first,
        "weights": np.round(w, 5).tolist(),
    }
