"""Records to tables: one pandas DataFrame builder per table, and the per-machine sections.

Each builder takes the records of one machine (newest last) and returns the
rows; `sections` renders them as markdown, one block per machine, each with a
caption naming it. Tables never mix machines or runs.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
from tabulate import tabulate

from bench.results.machine import machine_label


def latest(records: list[dict], key: Callable[[dict], tuple]) -> list[dict]:
    """The newest record for each key (records come oldest first)."""
    out: dict[tuple, dict] = {}
    for rec in records:
        out[key(rec)] = rec
    return list(out.values())


def _by_machine(records: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for rec in records:
        groups.setdefault(rec["machine"]["machine_id"], []).append(rec)
    return groups


def _markdown(df: pd.DataFrame) -> str:
    return tabulate(df, headers="keys", tablefmt="github", showindex=False,
                    disable_numparse=True, missingval="-")


def sections(records: list[dict], build: Callable[[list[dict]], pd.DataFrame]) -> str:
    if not records:
        return "_No records yet: run the command above._"
    parts = []
    for group in _by_machine(records).values():
        parts.append(f"Machine: {machine_label(group[-1]['machine'])}\n\n"
                     + _markdown(build(group)))
    return "\n\n".join(parts)


def _fmt_pct(x) -> str:
    return "-" if x is None else f"{x:.2f}"


def _samples_per_s(rec: dict) -> str:
    """Median training throughput of each twin over the run's epochs."""
    med = {impl: pd.Series([e["samples_per_second"] for e in hist]).median()
           for impl, hist in rec.get("histories", {}).items() if hist}
    return " / ".join(f"{med[i]:.0f}" for i in ("scratch", "torch")) if len(med) == 2 else "-"


def accuracy_table(records: list[dict]) -> pd.DataFrame:
    rows = []
    for rec in records:
        exp, acc, sec = rec["experiment"], rec["final_test_accuracy"], rec["seconds_per_epoch"]
        if exp["name"].startswith("seed-"):
            continue
        target = exp.get("target_accuracy")
        ok = target is not None and min(acc.values()) >= target
        rows.append({
            "experiment": exp["name"], "dataset": exp["dataset"], "epochs": exp["epochs"],
            "target %": _fmt_pct(target),
            "scratch %": f"{acc['scratch']:.2f}", "torch %": f"{acc['torch']:.2f}",
            "both reach target": ("yes" if ok else "no") if target is not None else "-",
            "s/epoch scratch": f"{sec['scratch']:.1f}", "s/epoch torch": f"{sec['torch']:.1f}",
            "samples/s scratch / torch": _samples_per_s(rec),
            "time ratio scratch/torch": f"{sec['scratch'] / sec['torch']:.2f}",
        })
    return pd.DataFrame(rows)


def seeds_table(records: list[dict]) -> pd.DataFrame:
    rows = []
    for rec in records:
        exp, acc, sec = rec["experiment"], rec["final_test_accuracy"], rec["seconds_per_epoch"]
        if not exp["name"].startswith("seed-"):
            continue
        claimed = exp.get("claimed_accuracy")
        if claimed is None:
            verdict = "no figure to check"
        else:
            verdict = "reproduced" if min(acc.values()) >= claimed else "not reproduced"
        rows.append({
            "write-up": exp["name"], "what it claims": exp.get("claim") or "-",
            "setup": exp["description"].split(": ", 1)[-1],
            "scratch %": f"{acc['scratch']:.2f}", "torch %": f"{acc['torch']:.2f}",
            "epochs": exp["epochs"],
            "seconds scratch / torch": f"{sec['scratch'] * exp['epochs']:.1f} / "
                                       f"{sec['torch'] * exp['epochs']:.1f}",
            "claim": verdict,
        })
    return pd.DataFrame(rows).sort_values("write-up") if rows else pd.DataFrame(rows)


def lockstep_table(records: list[dict]) -> pd.DataFrame:
    rows = []
    for rec in records:
        acc = rec["test_accuracy"]
        rows.append({
            "experiment": rec["experiment"]["name"], "dtype": rec["dtype"],
            "epochs": rec["experiment"]["epochs"], "steps": rec["steps"],
            "max loss diff": f"{rec['max_loss_diff']:.2e}",
            "max relative weight diff": f"{rec['max_weight_rel_diff']:.2e}",
            "worst tensor": rec.get("worst_tensor", "-"),
            "norm relative weight diff": (f"{rec['weight_norm_rel_diff']:.2e}"
                                          if "weight_norm_rel_diff" in rec else "-"),
            "scratch %": f"{acc['scratch']:.2f}", "torch %": f"{acc['torch']:.2f}",
            "accuracy gap (points)": f"{abs(acc['scratch'] - acc['torch']):.2f}",
        })
    return pd.DataFrame(rows)


def speed_rows(rec: dict, phases: tuple[str, ...],
                dtypes: tuple[str, ...] = ("float32", "float64")) -> pd.DataFrame:
    """One row per (arch, batch, dtype, threads, phase), the twins side by side."""
    df = pd.DataFrame(rec["benchmarks"])
    df = df[df["phase"].isin(phases) & df["dtype"].isin(dtypes)]
    if df.empty:
        return df
    keys = ["arch", "phase", "dtype", "threads", "batch"]
    wide = df.pivot_table(index=keys, columns="impl", values=["median", "iqr", "flops"],
                          aggfunc="first")
    rows = []
    for idx, row in wide.iterrows():
        out = dict(zip(keys, idx))
        s_med, t_med = row[("median", "scratch")], row[("median", "torch")]
        out["scratch ms (IQR)"] = f"{1e3 * s_med:.3g} ({1e3 * row[('iqr', 'scratch')]:.2g})"
        out["torch ms (IQR)"] = f"{1e3 * t_med:.3g} ({1e3 * row[('iqr', 'torch')]:.2g})"
        out["ratio scratch/torch"] = f"{s_med / t_med:.2f}"
        out["scratch GFLOP/s"] = f"{row[('flops', 'scratch')] / s_med / 1e9:.1f}"
        out["torch GFLOP/s"] = f"{row[('flops', 'torch')] / t_med / 1e9:.1f}"
        if ("median", "torch-cuda") in row.index and pd.notna(row[("median", "torch-cuda")]):
            out["torch-cuda ms"] = f"{1e3 * row[('median', 'torch-cuda')]:.3g}"
        rows.append(out)
    return pd.DataFrame(rows)


def speed_table(records: list[dict]) -> pd.DataFrame:
    return speed_rows(records[-1], ("step",), ("float32",))


def speed_all_table(records: list[dict]) -> pd.DataFrame:
    return speed_rows(records[-1], ("forward", "backward", "step"))


def ceiling_table(records: list[dict]) -> pd.DataFrame:
    rows = [{"library": r["library"], "dtype": r["dtype"], "threads": r["threads"],
             "matrix": f"{r['n']}x{r['n']}", "GFLOP/s": f"{r['gflops']:.1f}"}
            for r in records[-1]["matmul"]]
    return pd.DataFrame(rows)


def tta_table(records: list[dict]) -> pd.DataFrame:
    rows = []
    for rec in records:
        runs = pd.DataFrame(rec["runs"])
        for impl, g in runs.groupby("impl", sort=False):
            secs = g["seconds"].dropna()
            rows.append({
                "experiment": rec["experiment"]["name"], "target %": f"{rec['target']:.1f}",
                "twin": impl, "seeds": len(g), "reached": f"{len(secs)}/{len(g)}",
                "median s": f"{secs.median():.1f}" if len(secs) else "-",
                "min-max s": f"{secs.min():.1f}-{secs.max():.1f}" if len(secs) else "-",
                "median epochs": f"{g['epochs'].dropna().median():.0f}" if len(secs) else "-",
            })
    return pd.DataFrame(rows)


def _sci(x) -> str:
    return "-" if x is None else f"{x:.1e}"


def peers_parity_table(records: list[dict]) -> pd.DataFrame:
    """`twinbench peers`: each peer's rows from the newest record that audited it."""
    newest: dict[str, dict] = {}
    for rec in records:
        for peer in rec["peers"]:
            newest[peer] = rec
    rows = []
    for peer, rec in newest.items():
        for r in (r for r in rec["rows"] if r["peer"] == peer):
            rows.append({
                "peer": r["peer"], "version": r["version"], "kind": r["kind"],
                "layer": r["layer"], "configuration": r["config"],
                "max rel diff float64": _sci(r["rel64"]),
                "float32": _sci(r["rel32"]),
                "own backward vs finite diff": _sci(r["fd"]),
                "verdict": r["verdict"] + (f": {r['detail']}" if r["detail"] else ""),
                "diagnosis": r["note"] or "-",
                "shim": r["shim"] or "-",
            })
    return pd.DataFrame(rows)


def peers_speed_table(records: list[dict]) -> pd.DataFrame:
    """`twinbench peers --race`: each implementation's newest row."""
    newest: dict[str, tuple[dict, dict]] = {}
    for rec in records:
        for row in rec["rows"]:
            newest[row["impl"]] = (rec, row)
    rows = []
    for rec, r in newest.values():
        steps = r["step_seconds"]
        out = {"implementation": r["impl"], "version": r["version"]}
        for b in ("1", "32", "128", "512"):
            if any(b in x[1]["step_seconds"] for x in newest.values()):
                out[f"step ms, batch {b}"] = f"{1e3 * steps[b]:.2f}" if b in steps else "-"
        out["MNIST test % after 5 epochs"] = (f"{r['accuracy']:.2f}" if "accuracy" in r
                                              else "-")
        out["training s (5 epochs)"] = (f"{r['train_seconds']:.0f}" if "train_seconds" in r
                                        else "-")
        out["threads"] = rec["threads"]
        rows.append(out)
    return pd.DataFrame(rows)
