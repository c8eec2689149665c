"""PNG plots for results/ and the README, drawn from the records (matplotlib, no display).

- curves-EXPERIMENT.png: both twins' training loss and test accuracy per epoch, overlaid;
- confusion-EXPERIMENT.png: the test-set confusion matrices of both twins;
- speed-batch.png: the training-step time ratio scratch/torch against batch size, one
  panel per architecture, one line per thread count (sized to be read at README width);
- tta.png: time to accuracy of every experiment, both twins (median, min-max bars), one
  panel per machine;
- embedding-EXPERIMENT.png: t-SNE of the last hidden layer's features on test images,
  coloured by class, both twins side by side;
- weights-EXPERIMENT.png: the first layer's weights, both twins: a linear or convolutional
  layer's units or filters as images, a recurrent layer's input-to-hidden weights as one
  map per gate.
- generative-EXPERIMENT.png: a generative experiment's pictures from both twins side by side
  (the VAE's reconstructions of test images and its samples, the GAN's samples, at the same
  latent vectors) and the twins' agreement: the largest pixel difference per picture.

Every experiment with a history gets its curves, and its confusion matrix when the record
holds one; `left_out` says which figure a record cannot give, and why, for the report to
print beside the figures. Each function returns the matplotlib Figure (tests inspect it);
`build_plots` renders them to PNG bytes. Each figure (each panel of tta.png) names the run
set and the machine its data came from, and holds one machine's records (the report picks
them).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence

import numpy as np

COLORS = {"scratch": "tab:blue", "torch": "tab:orange", "torch-cuda": "tab:green"}
# The recurrent layers' gates in torch's order of weight_ih's row blocks, by gate count.
GATES = {4: ("input i", "forget f", "cell g", "output o"), 3: ("reset r", "update z", "new n"),
         1: ("hidden h",)}


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


def _plain_log(axis, ticks) -> None:
    """A log axis labelled with plain numbers at `ticks` (1, 32, 2048; 0.5, 1, 2)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(NullLocator())
    axis.set_minor_formatter(NullFormatter())


SECONDS_TICKS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
RATIO_TICKS = (1 / 8, 1 / 4, 1 / 2, 3 / 4, 1, 1.5, 2, 3, 4, 8)


def _ratio_axis(ax) -> None:
    """A log axis for ratios read as plain numbers (0.5, 1, 2), with 1 marked."""
    ax.set_yscale("log", base=2)
    _plain_log(ax.yaxis, RATIO_TICKS)
    ax.axhline(1.0, color="black", linewidth=0.8)


def speed_batch(rec: dict, run_set: str = ""):
    """The training-step time ratio scratch/torch (float32, whole networks) against batch
    size: one panel per architecture, one line per thread count, below 1 where scratch is
    faster. A hollow marker is a ratio of an unsteady timing (tables.SPREAD_LIMIT)."""
    from bench.results.tables import SPREAD_LIMIT

    plt = _pyplot()
    bm = [b for b in rec["benchmarks"] if b["phase"] == "step" and b["dtype"] == "float32"
          and b.get("unit", "network") == "network"]
    times = {(b["arch"], b["threads"], b["batch"], b["impl"]): b for b in bm}
    archs = sorted({b["arch"] for b in bm})
    threads = sorted({b["threads"] for b in bm})
    cols = min(3, len(archs))
    rows = -(-len(archs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.5 * rows + 0.9),
                             sharex=True, sharey=True, squeeze=False)
    for ax in axes.flat[len(archs):]:
        ax.axis("off")
    for ax, arch in zip(axes.flat, archs):
        for k, n in enumerate(threads):
            pts = []
            for batch in sorted({b["batch"] for b in bm if b["arch"] == arch}):
                s, t = times.get((arch, n, batch, "scratch")), times.get((arch, n, batch, "torch"))
                if s and t:
                    steady = max(s["iqr"] / s["median"], t["iqr"] / t["median"]) <= SPREAD_LIMIT
                    pts.append((batch, s["median"] / t["median"], steady))
            if not pts:
                continue
            color = plt.cm.viridis(0.15 + 0.6 * k / max(len(threads) - 1, 1))
            x, y, steady = zip(*pts)
            ax.plot(x, y, color=color, label=f"{n} thread{'s' * (n != 1)}")
            ax.scatter(x, y, color=[color if s else "white" for s in steady],
                       edgecolors=[color], zorder=3, s=18)
        ax.set_xscale("log", base=2)
        _plain_log(ax.xaxis, sorted({b["batch"] for b in bm}))
        _ratio_axis(ax)
        ax.set_title(arch, fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.tick_params(labelsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("batch size", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("scratch / torch", fontsize=8)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("Training-step time, scratch / torch (below 1: scratch faster), float32; "
                 f"hollow: unsteady timing\n{_machine(rec, run_set)}", fontsize=9)
    fig.tight_layout()
    return fig


def tta(parts: list[list[dict]], run_set: str = ""):
    """Time to accuracy of every experiment: one horizontal panel per machine (`parts`:
    each machine's records), a pair of bars per experiment (median seconds, min-max
    whiskers, on a log axis so that a 5 s speedrun and a 3-minute ViT read alike), the
    scratch bar labelled with its ratio to torch's median."""
    plt = _pyplot()
    parts = [p for p in parts if p]
    heights = [len(p) for p in parts]
    fig, axes = plt.subplots(len(parts), 1, figsize=(8.0, 0.55 * sum(heights) + 1.2 * len(parts)),
                             gridspec_kw={"height_ratios": heights}, sharex=True,
                             squeeze=False)
    seconds = [r["seconds"] for p in parts for rec in p for r in rec["runs"] if r["seconds"]]
    for ax, records in zip(axes[:, 0], parts):
        impls = [i for i in COLORS if any(r["impl"] == i for rec in records for r in rec["runs"])]
        width = 0.8 / max(len(impls), 1)
        labels = []
        for y, rec in enumerate(records):
            medians = {}
            for k, impl in enumerate(impls):
                secs = [r["seconds"] for r in rec["runs"] if r["impl"] == impl and r["seconds"]]
                if not secs:
                    continue
                med = medians[impl] = float(np.median(secs))
                ax.barh(y + (k - (len(impls) - 1) / 2) * width, med, width, color=COLORS[impl],
                        xerr=[[med - min(secs)], [max(secs) - med]], capsize=2,
                        label=impl if impl not in ax.get_legend_handles_labels()[1] else None)
            ratio = (f"\nscratch {medians['scratch'] / medians['torch']:.2f}x torch"
                     if "scratch" in medians and "torch" in medians else "")
            labels.append(f"{rec['experiment']['name']} ≥{rec['target']:g}%{ratio}")
        ax.set_yticks(range(len(records)), labels, fontsize=8)
        ax.invert_yaxis()  # the table's order, top down
        ax.set_xscale("log")
        ax.grid(alpha=0.3, axis="x")
        ax.tick_params(axis="x", labelsize=8)
        ax.set_title(_machine(records[-1], run_set), fontsize=8)
    _plain_log(axes[-1, 0].xaxis, [t for t in SECONDS_TICKS
                                   if min(seconds) / 2 <= t <= 2 * max(seconds)])
    axes[-1, 0].set_xlabel("seconds to the target (median, min-max over seeds)", fontsize=8)
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="upper right", fontsize=8, ncol=len(names))
    fig.suptitle("Time to accuracy", fontsize=9)
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


def _side(values) -> int | None:
    """The side of the square image a unit's weights form (784 pixels, a k x k filter of
    one input channel), or None."""
    size = np.asarray(values).size
    side = int(round(np.sqrt(size)))
    return side if side * side == size else None


def draws_first_layer(entry: dict) -> bool:
    """Whether a twin's `learned` entry holds a first layer `first_weights` can draw: a
    recurrent layer's input-to-hidden weights by gate, or units that are square images.
    Records from before `learned` picked the recurrent layer hold the row-reading models'
    output layer (1.weight, 128 values a unit): that is not drawn as a first layer."""
    return bool(entry.get("gates")) or all(_side(w) for w in entry["weights"])


def _signed(ax, img: np.ndarray, **kwargs):
    lim = float(np.abs(img).max()) or 1.0
    return ax.imshow(img, cmap="RdBu_r", vmin=-lim, vmax=lim, **kwargs)


def _gate_maps(rec: dict, run_set: str):
    """A recurrent first layer: for each twin and gate, the input-to-hidden weights of the
    recorded units (rows) over the pixels of the image row read at each step (columns)."""
    plt = _pyplot()
    learned = rec["learned"]
    entry = next(iter(learned.values()))
    gates = entry["gates"]
    fig, axes = plt.subplots(len(learned), len(gates), figsize=(2.3 * len(gates) + 0.6,
                                                                  2.2 * len(learned) + 0.9),
                             squeeze=False)
    for row, (impl, v) in zip(axes, learned.items()):
        w = np.asarray(v["weights"], dtype=float)  # (gates * units, inputs)
        for ax, gate, block in zip(row, gates, np.split(w, len(gates))):
            _signed(ax, block, aspect="auto")
            ax.set_title(f"{impl}: {gate}", fontsize=8)
            ax.set_xticks([0, block.shape[1] - 1], [1, block.shape[1]], fontsize=7)
            ax.set_yticks([])
        row[0].set_ylabel(f"{len(w) // len(gates)} units", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("pixel of the row", fontsize=8)
    fig.suptitle(f"{rec['experiment']['name']}: first layer, the recurrent layer's input "
                 f"weights ({entry['first_layer']}) by gate; red positive, blue negative\n"
                 f"{_machine(rec, run_set)}", fontsize=9)
    fig.tight_layout()
    return fig


def first_weights(rec: dict, run_set: str):
    """The first layer's weights of both twins: a recurrent layer's by gate (`_gate_maps`),
    else each recorded unit or filter as a square image."""
    learned = rec["learned"]
    if next(iter(learned.values())).get("gates"):
        return _gate_maps(rec, run_set)
    plt = _pyplot()
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
            side = _side(w)
            # a unit's 784 weights or a filter's k x k as a square; anything else as a row
            _signed(ax, w.reshape(side, side) if side else w.reshape(1, -1))
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


def _plan(accuracy: list[dict], speed: list[dict], tta_parts: list[list[dict]],
          generative_records: Sequence[dict], run_set: str,
          class_names: ClassNames | None) -> dict:
    """File name -> function drawing it, for what the records hold (a later record of an
    experiment replaces an earlier one's figures)."""
    out = {f"generative-{rec['experiment']['name']}.png": lambda r=rec: _png(generative(r, run_set))
           for rec in generative_records}
    for rec in accuracy:
        name = rec["experiment"]["name"]
        classes = class_names(rec["experiment"]["dataset"]) if class_names else None
        for kind in ("curves", "confusion", "weights", "embedding"):
            out.pop(f"{kind}-{name}.png", None)
        if rec.get("histories"):
            out[f"curves-{name}.png"] = lambda r=rec: _png(curves(r, run_set))
        if rec.get("confusion"):
            out[f"confusion-{name}.png"] = (lambda r=rec, c=classes:
                                            _png(confusion(r, run_set, c)))
        learned = rec.get("learned") or {}
        if learned and all(draws_first_layer(v) for v in learned.values()):
            out[f"weights-{name}.png"] = lambda r=rec: _png(first_weights(r, run_set))
        if any(v.get("points") for v in learned.values()):
            out[f"embedding-{name}.png"] = (lambda r=rec, c=classes:
                                            _png(embedding(r, run_set, c)))
    if speed:
        out["speed-batch.png"] = lambda: _png(speed_batch(speed[-1], run_set))
    if any(tta_parts):
        out["tta.png"] = lambda: _png(tta(tta_parts, run_set))
    return out


def left_out(accuracy: list[dict]) -> dict[str, list[str]]:
    """Experiment -> why each figure its (newest) record cannot give is missing: a field the
    record predates, or a first layer recorded wrongly. The report prints it under the
    experiment's figures, so that a missing plot is explained, not silent."""
    newest = {rec["experiment"]["name"]: rec for rec in accuracy}
    out = {}
    for name, rec in newest.items():
        why = []
        if not rec.get("histories"):
            why.append("no curves: the record holds no per-epoch history")
        if not rec.get("confusion"):
            why.append("no confusion matrix: the record predates them (recorded "
                       f"{rec['time'][:10]}); a new `twinbench accuracy {name}` adds it")
        learned = rec.get("learned") or {}
        if not learned:
            why.append("no first-layer weights or t-SNE map: the record predates them")
        elif not all(draws_first_layer(v) for v in learned.values()):
            layer = next(iter(learned.values()))["first_layer"]
            why.append(f"no first-layer weights: the record holds `{layer}`, the output "
                       "layer, recorded before the recurrent layer was picked as the first")
        if why:
            out[name] = why
    return out


PLOT_NAME = re.compile(r"(curves|confusion|weights|embedding|generative)-[A-Za-z0-9._-]+\.png|"
                       r"speed-batch\.png|tta\.png")


def is_plot_name(name: str) -> bool:
    """Whether a file name is one this module draws (so that a report may remove it when
    no record draws it any more, and nothing else)."""
    return PLOT_NAME.fullmatch(name) is not None


def planned(accuracy: list[dict], speed: list[dict], tta_parts: list[list[dict]],
            generative_records: Sequence[dict] = ()) -> list[str]:
    return sorted(_plan(accuracy, speed, tta_parts, generative_records, "", None))


def build_plots(accuracy: list[dict], speed: list[dict], tta_parts: list[list[dict]],
                generative_records: Sequence[dict] = (), run_set: str = "",
                class_names: ClassNames | None = None) -> dict:
    """File name -> PNG bytes. `tta_parts`: each machine's time-to-accuracy records.
    `class_names(dataset)` labels confusion matrices; the data sets' names live in
    bench.datasets, a layer above this one, so the caller passes it."""
    return {name: draw() for name, draw in
            _plan(accuracy, speed, tta_parts, generative_records, run_set,
                  class_names).items()}
