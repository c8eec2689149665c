"""`twinbench report`: raw records -> markdown tables in results/ and in the README.

Each table is built from the newest record per (experiment, machine), with a
caption naming the machine. The README holds each table between marker
comments `<!-- twinbench:NAME -->` and `<!-- /twinbench:NAME -->`; `--check`
exits non-zero when the README or a results/*.md file differs from what the
records give, so a stale README fails the test suite.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from bench.records import load_records, machine_label, results_root, write_atomic


def _latest(records: list[dict], key: Callable[[dict], tuple]) -> list[dict]:
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


def _sections(records: list[dict], build: Callable[[list[dict]], pd.DataFrame]) -> str:
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


def _speed_rows(rec: dict, phases: tuple[str, ...],
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
    return _speed_rows(records[-1], ("step",), ("float32",))


def speed_all_table(records: list[dict]) -> pd.DataFrame:
    return _speed_rows(records[-1], ("forward", "backward", "step"))


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


def _exp_key(rec: dict) -> tuple:
    return rec["experiment"]["name"], rec["machine"]["machine_id"]


# Tables that also appear in the README (speed-all is long: results/ only).
README_TABLES = ("speed", "ceiling", "tta", "accuracy", "seeds", "lockstep")


def _load(results_dir: Path) -> dict[str, list[dict]]:
    return {
        "accuracy": _latest(load_records("accuracy", results_dir), _exp_key),
        "lockstep": _latest(load_records("lockstep", results_dir),
                            lambda r: (*_exp_key(r), r["dtype"])),
        "speed": load_records("speed", results_dir),
        "ceiling": load_records("ceiling", results_dir),
        "tta": _latest(load_records("tta", results_dir), _exp_key),
    }


def build_tables(results_dir: Path | None = None) -> dict[str, str]:
    """Table name -> markdown, from the records under `results_dir` (default ./results)."""
    results_dir = results_dir or results_root()
    recs = _load(results_dir)
    accuracy, lockstep, speed, ceiling, tta = (
        recs[k] for k in ("accuracy", "lockstep", "speed", "ceiling", "tta"))
    return {
        "speed": _sections(speed, speed_table),
        "speed-all": _sections(speed, speed_all_table),
        "ceiling": _sections(ceiling, ceiling_table),
        "tta": _sections(tta, tta_table),
        "accuracy": _sections(accuracy, accuracy_table),
        "seeds": _sections([r for r in accuracy if r["experiment"]["name"].startswith("seed-")],
                           seeds_table),
        "lockstep": _sections(lockstep, lockstep_table),
    }


_TITLES = {
    "speed": "Training-step speed, float32, median of many rounds (`twinbench bench`)",
    "speed-all": "Forward, backward and training step, every case of the last grid",
    "ceiling": "The hardware ceiling: matmul GFLOP/s",
    "tta": "Time to accuracy (training and per-epoch evaluation, wall clock)",
    "accuracy": "Accuracy: both twins, same initial weights and batch order "
                "(`twinbench accuracy`)",
    "seeds": "The write-ups, reproduced (`twinbench accuracy seed-000 ...`)",
    "lockstep": "Lockstep drift (`twinbench accuracy --lockstep`)",
}


def render_results(tables: dict[str, str]) -> dict[str, str]:
    """results/<name>.md contents."""
    note = "<!-- generated by `twinbench report` from results/records; do not edit -->\n"
    return {f"{name}.md": f"{note}# {_TITLES[name]}\n\n{text}\n" for name, text in tables.items()}


def render_readme(readme: str, tables: dict[str, str]) -> str:
    """`readme` with each marked section replaced by its table."""
    for name in README_TABLES:
        text = tables[name]
        pattern = re.compile(rf"(<!-- twinbench:{name} -->\n).*?(<!-- /twinbench:{name} -->)",
                             re.S)
        if not pattern.search(readme):
            raise ValueError(f"README has no <!-- twinbench:{name} --> ... "
                             f"<!-- /twinbench:{name} --> markers")
        readme = pattern.sub(lambda m, t=text: m.group(1) + t + "\n" + m.group(2), readme)
    return readme


def report(check: bool, results_dir: Path | None = None, readme: Path | None = None
           ) -> list[str]:
    """Write (or with `check`, compare) results/*.md, the plots and the README.

    Defaults: ./results and ./README.md (run from the project's checkout).
    Returns the stale files. Plots are compared by presence only: their bytes
    depend on matplotlib's version and fonts, the tables' text does not.
    """
    from bench import plots

    results_dir = results_dir or results_root()
    readme = readme or results_dir.parent / "README.md"
    if not readme.exists():
        raise FileNotFoundError(f"no README at {readme}: run twinbench report from the "
                                f"project's checkout, or set TWINBENCH_RESULTS")
    tables = build_tables(results_dir)
    wanted = {results_dir / name: text for name, text in render_results(tables).items()}
    wanted[readme] = render_readme(readme.read_text(), tables)
    stale = [str(p) for p, text in wanted.items() if not p.exists() or p.read_text() != text]
    recs = _load(results_dir)
    if check:
        names = plots.planned(recs["accuracy"], recs["speed"], recs["tta"])
        return stale + [str(results_dir / n) for n in names if not (results_dir / n).exists()]
    for path, text in wanted.items():
        if str(path) in stale:
            write_atomic(path, text)
    for name, png in plots.build_plots(recs["accuracy"], recs["speed"], recs["tta"]).items():
        write_atomic(results_dir / name, png)
    return stale


def _run(args: argparse.Namespace) -> int:
    stale = report(args.check)
    if args.check:
        if stale:
            print("stale (run `twinbench report`): " + ", ".join(stale))
            return 1
        print("README and results/*.md are up to date with results/records")
        return 0
    print("updated: " + (", ".join(stale) if stale else "nothing (already up to date)"))
    return 0


def add_command(sub) -> None:
    p = sub.add_parser("report", help="tables in results/ and the README from the records")
    p.add_argument("--check", action="store_true",
                   help="change nothing; exit 1 if README or results/*.md are stale")
    p.set_defaults(func=_run)
