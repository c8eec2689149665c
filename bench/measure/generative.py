"""Generative experiments (VAE, DCGAN) trained with both twins: losses, pictures and a score.

`run_generative` trains each twin from the same initial weights, batches and noise
and returns one "generative" record's payload: the histories and final test losses,
the pictures both twins draw from the same inputs (`pictures`: the VAE's
reconstructions of the first test images and samples of both, the GAN's samples,
all at the same latent vectors, as grey levels 0-255 and the largest pixel difference
between the twins per picture, computed before rounding), and, given a trained
classifier (`twinbench train cnn`'s checkpoint), the `score` of each twin's samples.

The score (issue 31): of `SCORE_SAMPLES` generated digits, the fraction the
classifier gives a probability of at least `CONFIDENT`, and the entropy in bits of
the histogram of its predicted classes (log2 10 = 3.32 when every digit is drawn
equally often, 0 when one digit alone). The judge is the classifier's scratch twin,
the same for both twins' digits.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np

from bench.experiments import Experiment
from bench.training import load_data, make_runner
from bench.training.generative import fit_generative

PICTURES = 16  # samples per twin in the figures
ORIGINALS = 8  # test images the VAE reconstructs
SCORE_SAMPLES = 1000
CONFIDENT = 0.9


def picture_noise(seed: int) -> np.random.Generator:
    """The latent vectors the figures and the score draw, the same for both twins."""
    return np.random.default_rng([seed, 21])


def grey_levels(images: np.ndarray) -> np.ndarray:
    """Pictures in [0, 1] (N, 1, 28, 28) -> uint8 (N, 28, 28), as MNIST stores them."""
    return np.clip(np.rint(images.reshape(len(images), 28, 28) * 255), 0, 255).astype(np.uint8)


def _largest_difference(a: np.ndarray, b: np.ndarray) -> list[float]:
    """max |a - b| per picture, in [0, 1] pixel units, in float64."""
    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    return d.reshape(len(d), -1).max(axis=1).tolist()


def pictures(runners: dict, x_test: np.ndarray) -> dict:
    """What both twins draw from the same inputs, for the figures (see the module's doc)."""
    first = runners["scratch"]
    z = first.draw(PICTURES, picture_noise(first.exp.seed))
    samples = {impl: r.sample(z) for impl, r in runners.items()}
    out = {"samples": {impl: grey_levels(s).tolist() for impl, s in samples.items()},
           "sample_diff": _largest_difference(samples["scratch"], samples["torch"])}
    if first.exp.objective == "vae":
        x = x_test[:ORIGINALS]
        rec = {impl: r.reconstruct(x) for impl, r in runners.items()}
        out |= {"originals": grey_levels(x).tolist(),
                "reconstructions": {impl: grey_levels(r).tolist() for impl, r in rec.items()},
                "reconstruction_diff": _largest_difference(rec["scratch"], rec["torch"])}
    return out


def score(runners: dict, classifier: str | Path, n: int = SCORE_SAMPLES) -> dict:
    """Per twin: the fraction of n samples the classifier gives a probability >= CONFIDENT,
    the entropy (bits) of its predicted classes' histogram, and the histogram."""
    from bench.training.inference import load_twins

    judge = load_twins(classifier)
    if judge.exp.dataset != "mnist":
        raise ValueError(f"the score's classifier must be an MNIST one; {classifier} is "
                         f"{judge.exp.name!r} on {judge.exp.dataset}")
    first = runners["scratch"]
    z = first.draw(n, picture_noise(first.exp.seed + 1))
    out = {}
    for impl, runner in runners.items():
        digits = judge.inputs(grey_levels(runner.sample(z)))
        probs, _ = judge.probabilities(digits)  # (n, 10), the scratch twin's judgement
        counts = np.bincount(probs.argmax(axis=1), minlength=10)
        p = counts[counts > 0] / n
        out[impl] = {"confident": float(np.mean(probs.max(axis=1) >= CONFIDENT)),
                     "entropy": float((p * np.log2(1 / p)).sum()), "histogram": counts.tolist()}
    return out


def run_generative(exp: Experiment, data=None, *, classifier: str | Path | None = None,
                   show_progress: bool = True, log=print) -> dict:
    """Train both twins of a generative `exp` on `data` (default: its data set); the
    "generative" record's payload, with the score when a `classifier` is given."""
    data = data if data is not None else load_data(exp)
    rec = {"experiment": exp.to_dict(), "histories": {}, "final_test_loss": {},
           "seconds_per_epoch": {}}
    runners = {}
    for impl in ("scratch", "torch"):
        runners[impl] = make_runner(impl, exp)
        history = fit_generative(runners[impl], data, show_progress=show_progress, log=log)
        rec["histories"][impl] = [vars(e) for e in history.epochs]
        rec["final_test_loss"][impl] = history.final_test_loss
        rec["seconds_per_epoch"][impl] = statistics.median(e.seconds for e in history.epochs)
    rec["pictures"] = pictures(runners, data.x_test)
    rec["score"] = None if classifier is None else score(runners, classifier)
    return rec
