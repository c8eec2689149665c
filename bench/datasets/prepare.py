"""From uint8 images to network inputs, and a stratified validation split.

Scaling matches torchvision's ToTensor (float32, pixel / 255); standardising
uses one mean and std over all pixels of the data set's 60,000 training
images, whatever split is being prepared, so no test statistics leak in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bench.datasets.loader import load
from bench.datasets.specs import DatasetSpec

Layout = Literal["flat", "image"]


@dataclass(frozen=True)
class PixelStats:
    """Mean and standard deviation of pixel / 255 over a set of images."""

    mean: float
    std: float


def pixel_stats(images: np.ndarray) -> PixelStats:
    """Exact mean and std (population) of images / 255, computed in float64.

    Counting the 256 possible values keeps this cheap and exact on 47 million pixels.
    """
    if images.dtype != np.uint8:
        raise TypeError(f"expected uint8 images, got {images.dtype}")
    flat = images.reshape(-1)
    counts = np.zeros(256, dtype=np.float64)
    step = 1 << 22  # bincount widens to intp: go in chunks of 4M pixels (32 MB)
    for i in range(0, flat.size, step):
        counts += np.bincount(flat[i : i + step], minlength=256)
    values = np.arange(256, dtype=np.float64) / 255.0
    n = counts.sum()
    mean = float(values @ counts / n)
    std = float(np.sqrt(((values - mean) ** 2) @ counts / n))
    return PixelStats(mean, std)


def to_inputs(
    images: np.ndarray, *, layout: Layout = "flat", stats: PixelStats | None = None
) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 in [0, 1], optionally standardised with `stats`.

    layout "flat": (N, 784) for Linear layers; "image": (N, 1, 28, 28) for Conv2d.
    """
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"expected uint8 images (N, H, W), got {images.dtype} {images.shape}")
    n, h, w = images.shape
    shape = {"flat": (n, h * w), "image": (n, 1, h, w)}.get(layout)
    if shape is None:
        raise ValueError(f"layout must be 'flat' or 'image', got {layout!r}")
    x = np.divide(images.reshape(shape), np.float32(255), dtype=np.float32)  # one allocation
    if stats is not None:
        x -= np.float32(stats.mean)
        x /= np.float32(stats.std)
    return x


def load_inputs(
    dataset: str | DatasetSpec,
    split: str,
    *,
    layout: Layout = "flat",
    standardize: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    **fetch_options: object,
) -> tuple[np.ndarray, np.ndarray]:
    """(x float32, y int64) ready for either twin; `standardize` uses training-set stats."""
    kw = dict(data_dir=data_dir, cache_dir=cache_dir, **fetch_options)
    images, labels = load(dataset, split, **kw)  # type: ignore[arg-type]
    stats = None
    if standardize:
        train = images if split == "train" else load(dataset, "train", **kw)[0]  # type: ignore[arg-type]
        stats = pixel_stats(train)
    return to_inputs(images, layout=layout, stats=stats), labels.astype(np.int64)


def stratified_split(
    labels: np.ndarray, val_size: float | int, rng: np.random.Generator | int
) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices), each class in proportion, both sorted.

    `val_size` is a fraction in (0, 1) or a count. Each class gets its share of
    the validation set, rounded by largest remainder so the total is exact; the
    members are drawn with `rng` (a Generator, or a seed for one), so the same
    seed gives the same split. Indices keep the original order.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    n = len(labels)
    if isinstance(val_size, float):
        if not 0.0 < val_size < 1.0:
            raise ValueError(f"a fractional val_size must be in (0, 1), got {val_size}")
        n_val = round(val_size * n)
    else:
        n_val = int(val_size)
    if not 0 < n_val < n:
        raise ValueError(f"validation size must be between 1 and {n - 1}, got {n_val}")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)

    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * n_val / n
    take = np.floor(exact).astype(np.int64)
    # The classes with the largest fractional parts get one more (ties: lower class).
    extra = np.argsort(-(exact - take), kind="stable")[: n_val - int(take.sum())]
    take[extra] += 1

    val = [
        gen.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take, strict=True)
    ]
    val_idx = np.sort(np.concatenate(val))
    keep = np.ones(n, dtype=bool)
    keep[val_idx] = False
    return np.flatnonzero(keep), val_idx
