"""PNG plots for results/ and the README, drawn from the records (matplotlib, no display).

- curves-EXPERIMENT.png: both twins' training loss and test accuracy per epoch, overlaid;
- speed-batch.png: training-step time per sample against batch size, each twin, each MLP;
- confusion-EXPERIMENT.png: the test-set confusion matrices of both twins;
- tta.png: time-to-accuracy per experiment and twin (median, min-max bars);
- embedding-EXPERIMENT.png: t-SNE of the last hidden layer's features on test images,
  coloured by class, both twins side by side;
- weights-EXPERIMENT.png: the first layer's weights (units or filters) as images, both twins;
- generative-EXPERIMENT.png: a generative experiment's pictures from both twins side by side
  (the VAE's reconstructions of test images and its samples, the GAN's samples, at the same
  latent vectors) and the twins' agreement: the largest pixel difference per picture.

Each function returns the matplotlib Figure (tests inspect it); `build_plots`
renders them to PNG bytes. Each figure's title names the run set and the
machine its data came from; the records of one figure come from one machine
(the report picks them).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import numpy as np

COLORS = {"scratch": "tab:blue", "torch": "tab:orange", "torch-cuda": "tab:green"}
CURVE_EXPERIMENTS = ("mlp", "mlp-fashion", "cnn", "cnn-fashion", "lstm", "gru-fashion", "vit")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    # Fixed metadata so that the same records give the same bytes (report --check).
    fig.savefig(buf, format="png", dpi=90, metadata={"Software": None})
    _pyplot().close(fig)
    return buf.getvalue()


def _machine(rec: dict, run_set: str) -> str:
    m = rec["machine"]
    return f"{run_set}; {m['cpu']}, {m['cores']} cores [machine {m['machine_id']}]"


def _integer_ticks(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def curves(rec: dict, run_set: str = ""):
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for impl, hist in rec["histories"].items():
        epochs = [e["epoch"] for e in hist]
        ax1.plot(epochs, [e["train_loss"] for e in hist], label=impl, color=COLORS[impl],
                 linestyle="-" if impl == "scratch" else "--")
        ax2.plot(epochs, [e["test_accuracy"] for e in hist], label=impl, color=COLORS[impl],
                 linestyle="-" if impl == "scratch" else "--")
    ax1.set(xlabel="epoch", ylabel="training loss", yscale="log")
    ax2.set(xlabel="epoch", ylabel="test accuracy (%)")
    for ax in (ax1, ax2):
        _integer_ticks(ax)  # epochs are whole
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{rec['experiment']['name']}: both twins\n{_machine(rec, run_set)}",
                 fontsize=9)
    fig.tight_layout()
    return fig


def confusion(rec: dict, run_set: str = "", classes: Sequence[str] | None = None):
    """Both twins' test-set confusion matrices, the axes labelled with `classes`
    (default: the digits 0-9)."""
    plt = _pyplot()
    impls = list(rec["confusion"])
    names = list(classes) if classes else [str(i) for i in range(10)]
    wide = max(len(n) for n in names) > 2
    fig, axes = plt.subplots(1, len(impls), figsize=(4.6 * len(impls), 5.6 if wide else 4.2))
    for ax, impl in zip(np.atleast_1d(axes), impls):
        m = np.array(rec["confusion"][impl])
        ax.imshow(np.log1p(m), cmap="Blues")
        for (i, j), v in np.ndenumerate(m):
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=6,
                        color="white" if i == j else "black")
        ax.set(title=impl, xlabel="predicted", ylabel="true")
        ax.set_xticks(range(10), names, rotation=60 if wide else 0,
                      ha="right" if wide else "center", fontsize=7 if wide else None)
        ax.set_yticks(range(10), names, fontsize=7 if wide else None)
    fig.suptitle(f"{rec['experiment']['name']}: test-set confusion\n{_machine(rec, run_set)}",
                 fontsize=9)
    fig.tight_layout()
    return fig


def speed_batch(rec: dict, run_set: str = ""):
    plt = _pyplot()
    bm = [b for b in rec["benchmarks"] if b["phase"] == "step" and b["dtype"] == "float32"]
    threads = max(b["threads"] for b in bm)
    archs = sorted({b["arch"] for b in bm})
    fig, axes = plt.subplots(1, len(archs), figsize=(4.2 * len(archs), 3.6), squeeze=False)
    for ax, arch in zip(axes[0], archs):
        for impl in COLORS:
            pts = sorted((b["batch"], b["median"] / b["batch"] * 1e6) for b in bm
                         if b["arch"] == arch and b["impl"] == impl and b["threads"] == threads)
            if pts:
                ax.plot(*zip(*pts), marker="o", label=impl, color=COLORS[impl])
        ax.set(title=arch, xscale="log", yscale="log", xlabel="batch size",
               ylabel="µs per sample (training step)")
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    fig.suptitle(f"Training-step time per sample, float32, {threads} threads\n"
                 f"{_machine(rec, run_set)}", fontsize=9)
    fig.tight_layout()
    return fig


def tta(records: list[dict], run_set: str = ""):
    """Bars grouped by experiment, one per twin (median seconds, min-max whiskers)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(7.0, 1.7 * len(records)), 3.8))
    impls = [i for i in COLORS if any(r["impl"] == i for rec in records for r in rec["runs"])]
    width = 0.8 / max(len(impls), 1)
    for k, impl in enumerate(impls):
        for x, rec in enumerate(records):
            secs = [r["seconds"] for r in rec["runs"] if r["impl"] == impl and r["seconds"]]
            if not secs:
                continue
            med = float(np.median(secs))
            ax.bar(x + (k - (len(impls) - 1) / 2) * width, med, width, color=COLORS[impl],
                   yerr=[[med - min(secs)], [max(secs) - med]], capsize=3,
                   label=impl if x == 0 else None)
    ax.set_xticks(range(len(records)),
                  [f"{r['experiment']['name']}\n≥{r['target']}%" for r in records], fontsize=8)
    ax.set(ylabel="seconds (median, min-max)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    fig.suptitle(f"Time to accuracy\n{_machine(records[-1], run_set)}", fontsize=9)
    fig.tight_layout()
    return fig


def embedding(rec: dict, run_set: str, classes: Sequence[str] | None = None):
    plt = _pyplot()
    learned = {impl: v for impl, v in rec["learned"].items() if v.get("points")}
    fig, axes = plt.subplots(1, len(learned), figsize=(5 * len(learned), 4.6), squeeze=False)
    for ax, (impl, v) in zip(axes[0], learned.items()):
        pts = np.asarray(v["points"])  # (N, 2)
        labels = np.asarray(v["labels"])
        for c in range(10):
            sel = labels == c
            ax.scatter(pts[sel, 0], pts[sel, 1], s=3, color=plt.cm.tab10(c),
                       label=classes[c] if classes else str(c))
        ax.set(title=f"{impl}: {len(pts)} test images", xticks=[], yticks=[])
    axes[0][-1].legend(markerscale=4, fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    fig.suptitle(f"{rec['experiment']['name']}: t-SNE of the last hidden layer, by class\n"
                 f"{_machine(rec, run_set)}", fontsize=9)
    fig.tight_layout()
    return fig


def first_weights(rec: dict, run_set: str):
    plt = _pyplot()
    learned = rec["learned"]
    n = max(len(v["weights"]) for v in learned.values())
    fig, axes = plt.subplots(len(learned), n, figsize=(0.9 * n, 1.1 * len(learned) + 0.6),
                             squeeze=False)
    for row, (impl, v) in zip(axes, learned.items()):
        for i, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            if i >= len(v["weights"]):
                ax.axis("off")
                continue
            w = np.asarray(v["weights"][i])
            side = int(round(np.sqrt(w.size)))
            # a unit's 784 weights or a filter's k x k as a square; anything else as a row
            img = w.reshape(side, side) if side * side == w.size else w.reshape(1, -1)
            lim = float(np.abs(img).max()) or 1.0
            ax.imshow(img, cmap="RdBu_r", vmin=-lim, vmax=lim)
        row[0].set_ylabel(impl, fontsize=8)
    layer = next(iter(learned.values()))["first_layer"]
    fig.suptitle(f"{rec['experiment']['name']}: first layer ({layer}) weights, red positive, "
                 f"blue negative\n{_machine(rec, run_set)}", fontsize=9)
    fig.tight_layout()
    return fig


def _mosaic(images, columns: int) -> np.ndarray:
    """uint8 pictures (N, 28, 28) as one grey image, `columns` to a row, 2-pixel gaps."""
    images = np.asarray(images, dtype=np.float64) / 255
    rows = -(-len(images) // columns)
    out = np.ones((rows * 30 + 2, columns * 30 + 2))
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        out[2 + 30 * r:30 * (r + 1), 2 + 30 * c:30 * (c + 1)] = img
    return out


def generative(rec: dict, run_set: str = ""):
    """Both twins' pictures side by side, and the largest pixel difference per picture."""
    plt = _pyplot()
    pics = rec["pictures"]
    panels = [(f"{impl}: samples", _mosaic(pics["samples"][impl], 4))
              for impl in ("scratch", "torch")]
    if "reconstructions" in pics:  # a VAE: the test images, then each twin's reconstructions
        panels.insert(0, ("test images (top), reconstructions by scratch, torch",
                          _mosaic([*pics["originals"], *pics["reconstructions"]["scratch"],
                                   *pics["reconstructions"]["torch"]], len(pics["originals"]))))
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(4 * (len(panels) + 1), 4.2))
    for ax, (title, img) in zip(axes, panels):
        ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    ax = axes[-1]
    for key, label, marker in (("sample_diff", "samples", "o"),
                               ("reconstruction_diff", "reconstructions", "s")):
        if key in pics:
            diffs = np.maximum(np.asarray(pics[key], dtype=float), 1e-17)  # log scale: no 0
            ax.plot(np.arange(1, len(diffs) + 1), diffs, marker, label=label)
    ax.set(yscale="log", xlabel="picture", ylabel="largest |scratch - torch| (pixel, 0-1)",
           title="twin agreement")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle(f"{rec['experiment']['name']}: both twins at the same inputs and latent "
                 f"vectors\n{_machine(rec, run_set)}", fontsize=9)
    fig.tight_layout()
    return fig


ClassNames = Callable[[str], Sequence[str]]


def _plan(accuracy: list[dict], speed: list[dict], tta_records: list[dict],
          generative_records: Sequence[dict], run_set: str,
          class_names: ClassNames | None) -> dict:
    """File name -> function drawing it, for what the records hold (newest record wins)."""
    out = {f"generative-{rec['experiment']['name']}.png": lambda r=rec: _png(generative(r, run_set))
           for rec in generative_records}
    for rec in accuracy:
        name = rec["experiment"]["name"]
        if name in CURVE_EXPERIMENTS and rec.get("histories"):
            out[f"curves-{name}.png"] = lambda r=rec: _png(curves(r, run_set))
            if rec.get("confusion"):
                classes = class_names(rec["experiment"]["dataset"]) if class_names else None
                out[f"confusion-{name}.png"] = (lambda r=rec, c=classes:
                                                _png(confusion(r, run_set, c)))
            if rec.get("learned"):
                out[f"weights-{name}.png"] = lambda r=rec: _png(first_weights(r, run_set))
                if any(v.get("points") for v in rec["learned"].values()):
                    classes = class_names(rec["experiment"]["dataset"]) if class_names else None
                    out[f"embedding-{name}.png"] = (lambda r=rec, c=classes:
                                                    _png(embedding(r, run_set, c)))
    if speed:
        out["speed-batch.png"] = lambda: _png(speed_batch(speed[-1], run_set))
    if tta_records:
        out["tta.png"] = lambda: _png(tta(tta_records, run_set))
    return out


def planned(accuracy: list[dict], speed: list[dict], tta_records: list[dict],
            generative_records: Sequence[dict] = ()) -> list[str]:
    return sorted(_plan(accuracy, speed, tta_records, generative_records, "", None))


def build_plots(accuracy: list[dict], speed: list[dict], tta_records: list[dict],
                generative_records: Sequence[dict] = (), run_set: str = "",
                class_names: ClassNames | None = None) -> dict:
    """File name -> PNG bytes. `class_names(dataset)` labels confusion matrices; the data
    sets' names live in bench.datasets, a layer above this one, so the caller passes it."""
    return {name: draw() for name, draw in
            _plan(accuracy, speed, tta_records, generative_records, run_set,
                  class_names).items()}
