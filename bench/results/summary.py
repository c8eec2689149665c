"""What a user's run found, set beside the published reference: `summary.md` of a run.

The run's machine and load, over every kind of record the tables are built from
(`registry.TABLE_KINDS`); for the kinds with a comparison (`COMPARISONS`), its
headline figures next to the reference's for the same cases (the main job's time
against the reference's job of the same plan; speed: the float32
training steps both ran; the matmul ceiling; time to accuracy; accuracy), and,
when the two machines differ, which parts of the fingerprint differ, so that a
reader knows whether a gap is the code or the machine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.results.machine import ID_FIELDS, load_warning, machine_label
from bench.results.records import RunSet
from bench.results.registry import TABLE_KINDS
from bench.results.tables import escape, latest, markdown_table, one_machine
from scratch.atomic import write_atomic


def _flat(value, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else k))
        return out
    if isinstance(value, list):
        out = {}
        for i, v in enumerate(value):
            out.update(_flat(v, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def fingerprint_differences(mine: dict, reference: dict) -> list[str]:
    """'field: mine here, theirs in the reference' for each part of the machine id that
    differs; fields the reference predates say so."""
    keys = (*ID_FIELDS, "numpy_blas")
    a = _flat({k: mine.get(k) for k in keys})
    b = _flat({k: reference.get(k) for k in keys if k in reference})
    out = []
    for key in sorted(set(a) | set(b)):
        if key not in b:
            if a.get(key) is not None:
                out.append(f"{key}: {a.get(key)} here, not recorded in the reference")
        elif a.get(key) != b.get(key):
            out.append(f"{key}: {a.get(key)} here, {b.get(key)} in the reference")
    return out


def _speed(mine: list[dict], ref: list[dict]) -> list[str]:
    if not mine or not ref:
        return []
    keys = ["arch", "batch", "threads"]

    def frame(rec):
        df = pd.DataFrame(rec["benchmarks"])
        df = df[(df["phase"] == "step") & (df["dtype"] == "float32")]
        wide = df.pivot_table(index=keys, columns="impl", values="median", aggfunc="first")
        return wide.reindex(columns=["scratch", "torch"]).dropna()  # cases both twins ran

    a, b = frame(mine[-1]), frame(ref[-1])
    common = a.index.intersection(b.index)
    if common.empty:
        return ["Speed: no float32 training-step case in common with the reference."]
    rows = []
    for idx in common:
        rows.append({**dict(zip(keys, idx)),
                     "scratch ms here / reference": f"{1e3 * a.loc[idx, 'scratch']:.3g} / "
                                                    f"{1e3 * b.loc[idx, 'scratch']:.3g}",
                     "torch ms here / reference": f"{1e3 * a.loc[idx, 'torch']:.3g} / "
                                                  f"{1e3 * b.loc[idx, 'torch']:.3g}",
                     "ratio scratch/torch here / reference":
                         f"{a.loc[idx, 'scratch'] / a.loc[idx, 'torch']:.2f} / "
                         f"{b.loc[idx, 'scratch'] / b.loc[idx, 'torch']:.2f}"})
    slower = {impl: float(np.median(a.loc[common, impl] / b.loc[common, impl]))
              for impl in ("scratch", "torch")}
    return [f"Speed, float32 training step, {len(common)} case{'s' * (len(common) != 1)} in "
            f"common: this run took "
            f"{slower['scratch']:.2f}x the reference's time for scratch and "
            f"{slower['torch']:.2f}x for torch (median over the cases).", markdown_table(rows)]


def _ceiling(mine: list[dict], ref: list[dict]) -> list[str]:
    if not mine or not ref:
        return []
    theirs = {(r["library"], r["dtype"], r["threads"]): r["gflops"] for r in ref[-1]["matmul"]}
    rows = [{"library": r["library"], "dtype": r["dtype"], "threads": r["threads"],
             "GFLOP/s here / reference": f"{r['gflops']:.1f} / "
             + (f"{theirs[k]:.1f}" if (k := (r["library"], r["dtype"], r["threads"])) in theirs
                else "-")}
            for r in mine[-1]["matmul"]]
    return ["Matmul ceiling:", markdown_table(rows)]


def _tta(mine: list[dict], ref: list[dict]) -> list[str]:
    theirs = {r["experiment"]["name"]: r for r in ref}
    rows = []
    for rec in mine:
        other = theirs.get(rec["experiment"]["name"])
        for impl in sorted({r["impl"] for r in rec["runs"]}):
            def med(r, i=impl):
                secs = [x["seconds"] for x in r["runs"] if x["impl"] == i and x["seconds"]]
                return f"{np.median(secs):.1f}" if secs else "not reached"
            same = other is not None and other["target"] == rec["target"]
            rows.append({"experiment": rec["experiment"]["name"], "target %": rec["target"],
                         "twin": impl, "median s here": med(rec),
                         "reference": med(other) if same else (
                             "-" if other is None else f"- (its target: {other['target']})")})
    return ["Time to accuracy:", markdown_table(rows)] if rows else []


def _accuracy(mine: list[dict], ref: list[dict]) -> list[str]:
    theirs = {r["experiment"]["name"]: r for r in ref}
    rows = []
    for rec in mine:
        other = theirs.get(rec["experiment"]["name"])
        for impl in ("scratch", "torch"):
            rows.append({
                "experiment": rec["experiment"]["name"], "twin": impl,
                "test % here": f"{rec['final_test_accuracy'][impl]:.2f}",
                "reference": f"{other['final_test_accuracy'][impl]:.2f}" if other else "-",
                "s/epoch here": f"{rec['seconds_per_epoch'][impl]:.1f}",
                "reference s/epoch": f"{other['seconds_per_epoch'][impl]:.1f}" if other else "-",
            })
    return ["Accuracy:", markdown_table(rows)] if rows else []


def _job(mine: list[dict], ref: list[dict]) -> list[str]:
    """The run's main job against the reference's job of the same plan, step by step."""
    if not mine:
        return []
    rec = mine[-1]
    other = next((r for r in reversed(ref) if r["plan"] == rec["plan"]), None)
    if other is None:
        return [f"Main job ({rec['plan']}): {rec['seconds'] / 60:.1f} minutes; the reference "
                f"has no {rec['plan']} job to compare with."]
    theirs = {s["title"]: s["seconds"] for s in other["steps"]}
    rows = [{"step": s["title"], "seconds here": f"{s['seconds']:.1f}",
             "reference": f"{theirs[s['title']]:.1f}" if s["title"] in theirs else "-"}
            for s in rec["steps"]]
    return [f"Main job ({rec['plan']}): {rec['seconds'] / 60:.1f} minutes here, "
            f"{other['seconds'] / 60:.1f} on the reference machine "
            f"({rec['seconds'] / other['seconds']:.2f}x).", markdown_table(rows)]


# Kind -> (the run's records, the reference's) -> markdown blocks, in the summary's order.
COMPARISONS = {"job": _job, "speed": _speed, "ceiling": _ceiling, "tta": _tta,
               "accuracy": _accuracy}


def summarize(run: RunSet, reference: RunSet | None) -> str:
    """Markdown: the run's machine and load, and its figures beside the reference's."""
    mine = {k: one_machine(run.load(k))[0] for k in TABLE_KINDS}
    held = [r for recs in mine.values() for r in recs]
    lines = [f"# Run {escape(run.name)}", "", f"Records, tables and plots: {run.directory}", ""]
    if not held:
        return "\n".join([*lines, "No records: the run measured nothing."]) + "\n"
    fp = held[-1]["machine"]
    lines += [f"Machine: {machine_label(fp)}", ""]
    for rec in held:
        if warning := load_warning(rec["machine"]):
            lines += [f"**Busy machine** during {rec['kind']} ({rec['file']}): {warning}; "
                      "its timings are likely inflated.", ""]
    if reference is None:
        return "\n".join([*lines, "No published reference to compare with (run from a "
                                  "twinbench checkout to compare with its results/)."]) + "\n"
    theirs = {k: one_machine(reference.load(k))[0] for k in TABLE_KINDS}
    # Accuracy rows compare experiment by experiment: each one's newest reference record,
    # whichever machine measured it (the reference's accuracy tables are one per machine).
    ran = {r["experiment"]["name"] for r in mine["accuracy"]}
    theirs["accuracy"] = [r for r in latest(reference.load("accuracy"),
                                            lambda r: r["experiment"]["name"])
                          if r["experiment"]["name"] in ran]
    ref_held = [r for recs in theirs.values() for r in recs]
    if not ref_held:
        return "\n".join([*lines, f"The reference {reference.name} holds no records."]) + "\n"
    # The reference machine named below: that of the first kind both the run and the
    # reference hold, so that it is the machine the comparisons below are against.
    shared = [theirs[k] for k in TABLE_KINDS if mine[k] and theirs[k]]
    ref_fp = (shared[0] if shared else ref_held)[-1]["machine"]
    lines.append(f"Compared with the published reference {reference.name!r} "
                 f"({reference.directory}), machine {ref_fp['machine_id']}:")
    if ref_fp["machine_id"] == fp["machine_id"]:
        lines += ["the same machine, builds and settings.", ""]
    else:
        diffs = fingerprint_differences(fp, ref_fp)
        lines += ["**a different machine**, so the gaps below mix the code with the machine:",
                  *[f"- {d}" for d in diffs], ""]
    for kind, compare in COMPARISONS.items():
        for block in compare(mine[kind], theirs[kind]):
            lines += [block, ""]
    return "\n".join(lines).rstrip() + "\n"


def write_summary(run: RunSet, reference: RunSet | None) -> tuple[Path, str]:
    """Write the run's summary.md; returns its path and text."""
    text = summarize(run, reference)
    path = run.directory / "summary.md"
    write_atomic(path, text)
    return path, text
