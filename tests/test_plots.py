"""Plots: readable labels, whole epochs, class names, and the run set in every title."""

import numpy as np

from bench.datasets import class_names
from bench.results import plots

MACHINE = {"cpu": "AMD EPYC", "cores": 2, "machine_id": "30a5953d"}


def _tta_record(name, target):
    runs = [{"impl": impl, "seed": s, "epochs": 4, "seconds": 30.0 + s + (impl == "torch")}
            for s in range(3) for impl in ("scratch", "torch")]
    return {"experiment": {"name": name}, "target": target, "runs": runs, "machine": MACHINE}


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_tta_labels_do_not_overlap():
    recs = [_tta_record(n, t) for n, t in (("mlp", 98.0), ("mlp-fashion", 88.0),
                                           ("cnn", 99.0), ("cnn-fashion", 91.0))]
    fig = plots.tta(recs, "reference")
    fig.canvas.draw()
    ax = fig.axes[0]
    labels = [t for t in ax.get_xticklabels() if t.get_text()]
    assert [t.get_text().split("\n")[0] for t in labels] == [r["experiment"]["name"]
                                                             for r in recs]
    boxes = [t.get_window_extent() for t in labels]
    assert not any(_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert "reference" in fig._suptitle.get_text()


def test_curves_have_whole_epoch_ticks():
    hist = [{"epoch": e, "train_loss": 1.0 / e, "test_accuracy": 90.0 + e} for e in (1, 2, 3)]
    rec = {"experiment": {"name": "mlp"}, "histories": {"scratch": hist, "torch": hist},
           "machine": MACHINE}
    fig = plots.curves(rec, "reference")
    fig.canvas.draw()
    for ax in fig.axes:
        ticks = ax.get_xticks()
        assert np.allclose(ticks, np.round(ticks)), ticks


def test_fashion_confusion_is_labelled_with_the_clothes():
    m = np.eye(10, dtype=int).tolist()
    rec = {"experiment": {"name": "mlp-fashion"}, "confusion": {"scratch": m, "torch": m},
           "machine": MACHINE}
    fig = plots.confusion(rec, "reference", class_names("fashion-mnist"))
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels[0] == "T-shirt/top" and labels[9] == "Ankle boot"
    assert class_names("mnist")[3] == "3"
