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


def test_tta_shows_every_experiment_a_panel_per_machine_without_overlaps():
    other = {**MACHINE, "machine_id": "e70fe4b3"}
    parts = [[_tta_record(n, t) for n, t in (("lstm", 98.0), ("speedrun-mlp", 98.0))],
             [_tta_record(n, t) for n, t in (("mlp", 98.0), ("mlp-fashion", 88.0),
                                            ("cnn", 99.0), ("cnn-fashion", 91.0))]]
    for rec in parts[0]:
        rec["machine"] = other
    fig = plots.tta(parts, "reference")
    fig.canvas.draw()
    assert len(fig.axes) == 2
    for ax, part in zip(fig.axes, parts):
        assert part[0]["machine"]["machine_id"] in ax.get_title()
        labels = [t for t in ax.get_yticklabels() if t.get_text()]
        # every experiment, with its target and scratch's ratio to torch (31 s / 32 s)
        assert [t.get_text() for t in labels] == [
            f"{r['experiment']['name']} ≥{r['target']:g}%\nscratch 0.97x torch" for r in part]
        boxes = [t.get_window_extent() for t in labels]
        assert not any(_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert "reference" in fig.axes[0].get_title()


def _speed_record():
    """Two architectures, two thread counts: scratch 1.5x torch at 1 thread, 0.5x at 2."""
    bm = []
    for arch in ("mlp-128", "cnn-16-32"):
        for threads, ratio in ((1, 1.5), (2, 0.5)):
            for batch in (1, 32, 128):
                for impl, median in (("scratch", ratio * 1e-3 * batch), ("torch", 1e-3 * batch)):
                    bm.append({"arch": arch, "phase": "step", "dtype": "float32",
                               "threads": threads, "batch": batch, "impl": impl,
                               "median": median, "iqr": 0.01 * median})
    bm.append({**bm[0], "dtype": "float64", "median": 9.0})  # not a float32 step: not drawn
    return {"benchmarks": bm, "machine": MACHINE}


def test_the_speed_plot_is_the_ratio_against_batch_one_panel_per_architecture():
    fig = plots.speed_batch(_speed_record(), "reference")
    fig.canvas.draw()
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert sorted(ax.get_title() for ax in panels) == ["cnn-16-32", "mlp-128"]
    for ax in panels:
        lines = {line.get_label(): line for line in ax.get_lines() if line.get_label()[0] != "_"}
        assert set(lines) == {"1 thread", "2 threads"}
        assert np.allclose(lines["1 thread"].get_ydata(), 1.5)
        assert np.allclose(lines["2 threads"].get_ydata(), 0.5)
        assert list(lines["1 thread"].get_xdata()) == [1, 32, 128]
        assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "32", "128"]
    width, height = fig.get_size_inches() * 90  # the dpi the PNG is written at
    assert width <= 900 and height >= width / 3, (width, height)  # README width, no strip


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


def test_every_experiment_gets_its_curves_and_confusion_and_a_missing_one_is_explained():
    hist = [{"epoch": 1, "train_loss": 0.5, "test_accuracy": 90.0}]
    m = np.eye(10, dtype=int).tolist()

    def rec(name, time, **fields):
        return {"experiment": {"name": name, "dataset": "mnist"}, "time": time,
                "machine": MACHINE, "histories": {"scratch": hist, "torch": hist}, **fields}

    accuracy = [rec("mlp", "2026-11-21T23:46:06+00:00"),  # before confusion matrices
                rec("seed-001", "2026-11-22T00:38:56+00:00",
                    confusion={"scratch": m, "torch": m}),
                rec("speedrun-cnn", "2026-11-23T00:00:00+00:00",
                    confusion={"scratch": m, "torch": m})]
    names = plots.planned(accuracy, [], [])
    for exp in ("mlp", "seed-001", "speedrun-cnn"):
        assert f"curves-{exp}.png" in names
    assert {"confusion-seed-001.png", "confusion-speedrun-cnn.png"} <= set(names)
    assert "confusion-mlp.png" not in names
    why = plots.left_out(accuracy)
    assert "no confusion matrix: the record predates them (recorded 2026-11-21)" in why["mlp"][0]
    # a newer record of an experiment replaces the older one's figures
    newer = rec("mlp", "2026-11-24T00:00:00+00:00", confusion={"scratch": m, "torch": m})
    assert "confusion-mlp.png" in plots.planned([*accuracy, newer], [], [])
