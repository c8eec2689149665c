"""What a trained network learned, for the report: a 2-D map of its last hidden layer's
features on test images, and its first layer's weights.

The first layer is the first weight in the state dict's order: a Linear's or a
convolution's (each unit or filter a row), or a recurrent layer's input-to-hidden
weight (`weight_ih_l0`, gate blocks of rows in torch's order; its `weight_hh`, which
follows, reads the hidden state, not the input). Of a recurrent layer the first UNITS
units of every gate are kept, and the gates named (`plots.GATES`), so that the plot
shows each gate's view of the input.

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


def first_layer(weights: dict[str, np.ndarray]) -> tuple[str, np.ndarray, int]:
    """(name, (rows, inputs) array, gate count) of the first layer's input weights in
    `weights` (a state dict): each row one unit (a filter flattened); a recurrent layer's
    rows are UNITS units of each of its gates, gate by gate (the count 0 for other layers)."""
    name = next(k for k in weights if k.rsplit(".", 1)[-1].startswith("weight"))
    w = np.asarray(weights[name], dtype=np.float64)  # (units, 784), (C, 1, k, k), (G*H, in)
    if not name.rsplit(".", 1)[-1].startswith("weight_ih"):
        return name, w[:UNITS].reshape(min(len(w), UNITS), -1), 0
    hidden = np.shape(weights[name.replace("weight_ih", "weight_hh")])[1]
    gates = len(w) // hidden
    return name, w.reshape(gates, hidden, -1)[:, :UNITS].reshape(-1, w.shape[1]), gates


def learned(runner, x_test: np.ndarray, y_test: np.ndarray, n: int = N, *,
            max_iter: int = 1000) -> dict:
    """The record entry for one trained twin: map points, their labels, first-layer weights
    (and a recurrent first layer's gate names)."""
    from bench.results.plots import GATES

    name, w, gates = first_layer(runner.weights())
    points = embed(hidden_features(runner, x_test[:n]), max_iter=max_iter)
    entry = {
        "points": None if points is None else np.round(points, 3).tolist(),
        "labels": y_test[:n].tolist(),
        "first_layer": name,
        "weights": np.round(w, 5).tolist(),
    }
    if gates:
        entry["gates"] = list(GATES[gates])
    return entry
