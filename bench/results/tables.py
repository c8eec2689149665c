"""Records to tables: one builder per table, and the caption that says where its rows came from.

Each builder takes records of one machine (newest last) and returns a `Table`:
the rows as a pandas DataFrame and the notes a reader needs (an unsteady
measurement, a figure the record predates, what a column means). `section`
renders one as markdown under its caption: the run set, the machine's full
fingerprint, the records' dates and commits and, when the machine was busy
while they were measured, a warning. What comes from a record is escaped
(`escape`): a cell or a caption line cannot break the table or the README.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd
from tabulate import tabulate

from bench.results.machine import fingerprint_text, load_warning, machine_label

# A timing whose interquartile range exceeds this fraction of its median is marked unsteady.
SPREAD_LIMIT = 0.25
SPREAD_MARK = "†"
# A write-up's claim counts as "exceeded", not "reproduced", when both twins beat it by more.
EXCEEDED_MARGIN = 2.0  # percentage points
FASTER = "(<1: scratch faster)"
# The two time ratios are of two measurements, each named in its column.
EPOCH_TIME_NOTE = ("Epoch-time ratio: the median seconds of one training epoch (steps only), "
                   "scratch over torch. The time-to-accuracy table's ratio is of time to "
                   "target (steps and test evaluations until the target), which also counts "
                   "how many epochs each twin needs.")
TTA_NOTE = ("Time-to-target ratio: the median seconds until the target (training steps and "
            "each epoch's test evaluation), scratch over torch in the same record; it differs "
            "from the accuracy table's epoch-time ratio when the twins need different "
            "numbers of epochs or the evaluation weighs differently. Each experiment's target "
            "is its registry entry's, the accuracy table's.")


class Table(NamedTuple):
    frame: pd.DataFrame
    notes: list[str] = []


def latest(records: list[dict], key: Callable[[dict], tuple]) -> list[dict]:
    """The newest record for each key (records come oldest first)."""
    out: dict[tuple, dict] = {}
    for rec in records:
        out[key(rec)] = rec
    return list(out.values())


def by_machine(records: list[dict]) -> list[list[dict]]:
    """The records grouped by machine, each group oldest first, the machine of the newest
    record first: one table each, since a table never mixes machines."""
    groups: dict[str, list[dict]] = {}
    for rec in reversed(records):
        groups.setdefault(rec["machine"]["machine_id"], []).insert(0, rec)
    return list(groups.values())


def one_machine(records: list[dict]) -> tuple[list[dict], int]:
    """The records of the machine of the newest record, and how many others were left out:
    a table never mixes machines."""
    if not records:
        return [], 0
    newest = records[-1]["machine"]["machine_id"]
    kept = [r for r in records if r["machine"]["machine_id"] == newest]
    return kept, len(records) - len(kept)


_LINE_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")


def escape(text) -> str:
    """`text` on one line of markdown as plain text: line breaks become spaces, a pipe
    cannot end a table cell, and no HTML (a comment marker such as the README's
    `<!-- /twinbench:NAME -->` included) can start: `<` is an entity. (`>` alone starts
    nothing in the middle of a line, and stays readable: "NumPy >= 1.24".)"""
    text = _LINE_BREAKS.sub(" ", str(text)).replace("|", "\\|")
    return text.replace("<", "&lt;")


def markdown_table(rows) -> str:
    """A GitHub markdown table of `rows` (a DataFrame or a list of dicts), every text cell
    escaped (`escape`); the headers are the code's own."""
    df = pd.DataFrame(rows).map(lambda v: escape(v) if isinstance(v, str) else v)
    return tabulate(df, headers="keys", tablefmt="github", showindex=False,
                    disable_numparse=True, missingval="-")


def table_rows(markdown: str) -> int:
    """How many rows the markdown tables in `markdown` hold (header lines not counted)."""
    lines = [ln for ln in markdown.splitlines() if ln.startswith("|")]
    rules = sum(1 for ln in lines if set(ln) <= set("|-: "))
    return len(lines) - 2 * rules


def caption(run_set: str, records: list[dict], left_out: int = 0, brief: bool = False,
            timed: bool = True) -> str:
    """Where a table's rows came from: run set, machine, fingerprint, dates, commits, load.
    `brief` (a headline table): the run set and machine lines, and how many records a busy
    machine measured; the full caption is the detailed table's. A table without timings
    (`timed` False) says nothing of the load, which cannot change its numbers."""
    fp = records[-1]["machine"]
    times = sorted(r["time"][:16].replace("T", " ") for r in records)
    span = times[0] if times[0] == times[-1] else f"{times[0]} to {times[-1]}"
    commits = sorted({r["machine"].get("git_commit") or "unknown" for r in records})
    lines = [f"{escape(run_set)}: {len(records)} record{'s' * (len(records) != 1)}, {span} UTC, "
             f"commit {escape(', '.join(commits))}",
             f"Machine: {escape(machine_label(fp))}",
             f"Fingerprint: {escape(fingerprint_text(fp))}"]
    loads = [load_warning(r["machine"]) if timed else None for r in records]
    if timed and not any("load" in r["machine"] for r in records):
        lines.append("Load: not recorded")
    for rec, warning in zip(records, loads):
        if warning:
            lines.append(f"**Busy machine** while {escape(rec['file'])} was measured: {warning}; "
                         "its timings are likely inflated.")
    if left_out:
        lines.append(f"{left_out} older record{'s' * (left_out != 1)} from other machines "
                     "left out: a table shows one machine.")
    if brief:
        busy = sum(1 for w in loads if w)
        lines = lines[:2] + [f"**Busy machine** while {busy} of these {len(records)} records "
                             "were measured: their times are likely inflated."] * (busy > 0)
    return "  \n".join(lines)


def section(run_set: str, records: list[dict], build: Callable[[list[dict]], Table],
            left_out: int = 0, brief: bool = False, timed: bool = True) -> str:
    """Markdown for one table: caption (`brief`, `timed`: see `caption`), rows, notes."""
    if not records:
        return "_No records yet: run the command above._"
    table = build(records)
    notes = "".join(f"\n\n{escape(n)}" for n in table.notes)
    rows = markdown_table(table.frame) if len(table.frame) else "_No rows in this run._"
    return f"{caption(run_set, records, left_out, brief, timed)}\n\n{rows}{notes}"


def _fmt_pct(x) -> str:
    return "-" if x is None else f"{x:.2f}"


def _num(x: float) -> str:
    """Three significant figures, never in exponent notation (542, 4.5, 0.0199)."""
    if x >= 100:
        return f"{x:.0f}"
    return np.format_float_positional(x, precision=3, fractional=False, trim="-")


def _samples_per_s(rec: dict) -> str:
    """Median training throughput of each twin over the run's epochs."""
    med = {impl: pd.Series([e["samples_per_second"] for e in hist]).median()
           for impl, hist in rec.get("histories", {}).items() if hist}
    return " / ".join(f"{med[i]:.0f}" for i in ("scratch", "torch")) if len(med) == 2 else "-"


def threads(rec: dict) -> str:
    """"scratch N / torch M": the threads a training ran with, the process defaults of its
    fingerprint (scratch's pool, torch's intra-op count). A record from before scratch had
    threads gives its numpy BLAS pool, then scratch's only threads."""
    fp = rec["machine"]
    mine = fp.get("scratch_threads")
    if mine is None:
        blas = [b.get("num_threads") for b in fp.get("numpy_blas", [])]
        mine = blas[0] if blas and blas[0] is not None else "?"
    return f"{mine} / {fp.get('torch_threads', '?')}"


THREADS = "threads scratch / torch"


def accuracy_table(records: list[dict]) -> Table:
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
            f"epoch-time ratio scratch/torch {FASTER}": f"{sec['scratch'] / sec['torch']:.2f}",
            THREADS: threads(rec),
        })
    return Table(pd.DataFrame(rows), [EPOCH_TIME_NOTE] if rows else [])


# The accuracy table's columns the headline leaves to it (a renamed one merely stays).
DETAIL_COLUMNS = ("epochs", "s/epoch scratch", "s/epoch torch", "samples/s scratch / torch")


def verdict_table(records: list[dict]) -> Table:
    """The headline: the accuracy table without its detail columns (`DETAIL_COLUMNS`), so
    that the two never disagree."""
    table = accuracy_table(records)
    return Table(table.frame.drop(columns=list(DETAIL_COLUMNS), errors="ignore"), table.notes)


TWIN_LOSS_GAP = 1.0  # percent: the "within 1% of each other" for a generative target


def generative_table(records: list[dict]) -> Table:
    """A generative experiment per row: both twins' final test loss (the VAE's negative ELBO
    per image, the GAN's discriminator loss), the target, and the score of the samples."""
    rows = []
    for rec in records:
        exp, loss, sec = rec["experiment"], rec["final_test_loss"], rec["seconds_per_epoch"]
        target = exp.get("target_loss")
        gap = 100 * abs(loss["scratch"] - loss["torch"]) / max(abs(loss["torch"]), 1e-300)
        ok = target is not None and max(loss.values()) <= target and gap <= TWIN_LOSS_GAP
        score = rec.get("score") or {}
        pics = rec["pictures"]
        diffs = pics["sample_diff"] + pics.get("reconstruction_diff", [])
        both = score if all(i in score for i in ("scratch", "torch")) else {}
        rows.append({
            "experiment": exp["name"], "objective": exp["objective"], "epochs": exp["epochs"],
            "target": f"{target:g}" if target is not None else "-",
            "test loss scratch": f"{loss['scratch']:.4g}",
            "test loss torch": f"{loss['torch']:.4g}",
            "gap %": f"{gap:.3f}",
            f"both reach target (gap <= {TWIN_LOSS_GAP:g}%)": (("yes" if ok else "no")
                                                             if target is not None else "-"),
            "largest pixel difference": f"{max(diffs):.2e}" if diffs else "-",
            "confident digits % scratch / torch": (
                " / ".join(f"{100 * both[i]['confident']:.1f}" for i in ("scratch", "torch"))
                if both else "not scored"),
            # + 0.0: a record may hold -0.0 for samples of one class (-sum p log2 p)
            "class entropy (bits) scratch / torch": (
                " / ".join(f"{both[i]['entropy'] + 0.0:.2f}" for i in ("scratch", "torch"))
                if both else "-"),
            "s/epoch scratch / torch": f"{sec['scratch']:.1f} / {sec['torch']:.1f}",
        })
    notes = ["Test loss: the VAE's negative ELBO per image (BCE summed over the 784 pixels "
             "+ KL), the GAN's discriminator loss on the test images against its generator's "
             "at fixed latent vectors. Confident digits: of 1,000 samples, those the trained "
             "CNN classifies with probability >= 0.9; class entropy: of its predicted classes "
             "(log2 10 = 3.32 at most)."] if rows else []
    return Table(pd.DataFrame(rows), notes)


def claim_verdict(reached: float, claimed: float | None) -> str:
    """"reproduced" within EXCEEDED_MARGIN points above the claim, "exceeded" beyond it."""
    if claimed is None:
        return "no figure to check"
    gap = reached - claimed
    if gap < 0:
        return f"not reproduced ({gap:+.1f} points)"
    if gap > EXCEEDED_MARGIN:
        return f"exceeded (+{gap:.1f} points)"
    return "reproduced"


def seeds_table(records: list[dict]) -> Table:
    rows = []
    for rec in records:
        exp, acc, sec = rec["experiment"], rec["final_test_accuracy"], rec["seconds_per_epoch"]
        if not exp["name"].startswith("seed-"):
            continue
        rows.append({
            "write-up": exp["name"], "what it claims": exp.get("claim") or "-",
            "setup": exp["description"].split(": ", 1)[-1],
            "scratch %": f"{acc['scratch']:.2f}", "torch %": f"{acc['torch']:.2f}",
            "epochs": exp["epochs"],
            "seconds scratch / torch": f"{sec['scratch'] * exp['epochs']:.1f} / "
                                       f"{sec['torch'] * exp['epochs']:.1f}",
            "claim": claim_verdict(min(acc.values()), exp.get("claimed_accuracy")),
            THREADS: threads(rec),
        })
    frame = pd.DataFrame(rows).sort_values("write-up") if rows else pd.DataFrame(rows)
    return Table(frame, [f"A claim is *reproduced* when the weaker twin reaches it and beats "
                         f"it by at most {EXCEEDED_MARGIN:g} points, *exceeded* beyond that."])


DIVERGED = 1e-3  # a per-step loss difference this large means two separate trajectories


def _drift(rec: dict) -> str | None:
    """When the per-step loss difference left rounding level, if it did."""
    diffs = np.asarray(rec.get("loss_diffs") or [], dtype=float)
    if len(diffs) < 20:
        return None
    above = np.flatnonzero(diffs > DIVERGED)
    when = (f"first exceeds {DIVERGED:.0e} at step {above[0] + 1}" if len(above)
            else f"never exceeds {DIVERGED:.0e}")
    return (f"{rec['experiment']['name']} {rec['dtype']}: the per-step loss difference starts "
            f"at {np.median(diffs[:10]):.1e} (median of the first 10 steps), {when}, and has "
            f"a median of {np.median(diffs):.1e} over all {rec['steps']} steps; largest relative "
            f"weight difference at the end {rec['max_weight_rel_diff']:.1e} "
            f"({rec.get('worst_tensor', '-')}).")


# What rounding alone leaves between the twins after lockstep training, as the largest
# relative weight difference: each row is held to its dtype's bound.
LOCKSTEP_BOUNDS = {"float64": 1e-8, "float32": 1e-3}
# A row above its bound is chaotic, not wrong, when moving one weight of scratch by one ulp
# drifts scratch from itself at least this fraction of the twins' gap.
CHAOS_SHARE = 0.1


def lockstep_verdict(rec: dict) -> str:
    """Within the row's bound; or above it and chaotic (the ulp experiment drifts as far);
    or above it and not explained by rounding."""
    bound, gap = LOCKSTEP_BOUNDS.get(rec["dtype"]), rec["max_weight_rel_diff"]
    if bound is None:
        return "no bound for this dtype"
    if gap <= bound:
        return "within bound"
    ulp = rec.get("ulp_weight_rel_diff")
    if ulp is None:
        return "above bound; no ulp experiment (older record)"
    if ulp >= CHAOS_SHARE * gap:
        return f"chaotic: one ulp drifts scratch from itself {ulp:.1e}"
    return f"above bound: one ulp drifts only {ulp:.1e}, so not rounding"


def _ulp_yardstick(rec: dict) -> str | None:
    """A generative run's note: its test losses, and where the twins' loss difference and the
    one-ulp self-comparison's first leave rounding level (`DRIFT_LEVELS`)."""
    if "test_loss" not in rec:
        return None
    loss = rec["test_loss"]
    text = (f"{rec['experiment']['name']} {rec['dtype']}: test loss scratch "
            f"{loss['scratch']:.4g}, torch {loss['torch']:.4g}")
    ulp = rec.get("ulp_loss_diffs")
    if not ulp:
        return text + "."
    firsts = []
    for level in DRIFT_LEVELS:
        twins, own = (_first_above(d, level) for d in (rec.get("loss_diffs") or [], ulp))
        firsts.append(f"{level:.0e}: twins {twins}, one ulp {own}")
    return (text + f"; scratch against itself with every weight one ulp off ends "
            f"{rec.get('ulp_weight_rel_diff', float('nan')):.1e} apart in its weights. The "
            f"first step whose loss difference exceeds " + "; ".join(firsts) + ".")


DRIFT_LEVELS = (1e-12, 1e-8, 1e-4)


def _first_above(diffs, level: float) -> str:
    above = np.flatnonzero(np.asarray(diffs, dtype=float) > level)
    return f"step {above[0] + 1}" if len(above) else "never"


def lockstep_table(records: list[dict]) -> Table:
    rows = []
    for rec in records:
        acc = rec.get("test_accuracy")
        # a generative model has no accuracy: its test losses go in the notes
        accuracy = ({"scratch %": f"{acc['scratch']:.2f}", "torch %": f"{acc['torch']:.2f}",
                     "accuracy gap (points)": f"{abs(acc['scratch'] - acc['torch']):.2f}"}
                    if acc else dict.fromkeys(("scratch %", "torch %", "accuracy gap (points)"),
                                              "-"))
        bound = LOCKSTEP_BOUNDS.get(rec["dtype"])
        ulp = rec.get("ulp_weight_rel_diff")
        rows.append({
            "experiment": rec["experiment"]["name"], "dtype": rec["dtype"],
            # a step limit stops a run inside its epochs: say so, not the epochs it planned
            "epochs": (rec["experiment"]["epochs"] if rec.get("max_steps") is None
                       else f"first steps of {rec['experiment']['epochs']}"),
            "steps": rec["steps"],
            THREADS: threads(rec),
            "max loss diff": f"{rec['max_loss_diff']:.2e}",
            "max relative weight diff": f"{rec['max_weight_rel_diff']:.2e}",
            "bound": "-" if bound is None else f"{bound:.0e}",
            "one ulp: scratch vs itself": "-" if ulp is None else f"{ulp:.2e}",
            "verdict": lockstep_verdict(rec),
            "worst tensor": rec.get("worst_tensor", "-"),
            "norm relative weight diff": (f"{rec['weight_norm_rel_diff']:.2e}"
                                          if "weight_norm_rel_diff" in rec
                                          else "not recorded (older record)"),
            **accuracy,
        })
    notes = [d for d in map(_drift, records) if d]
    notes.append(
        "Bound: the largest relative weight difference rounding alone leaves, "
        + ", ".join(f"{b:.0e} in {d}" for d, b in LOCKSTEP_BOUNDS.items())
        + ". A row above it is chaotic, not wrong, when training amplifies rounding: the ulp "
        "experiment (scratch against itself, every weight moved by one ulp at the start, same "
        "batches and masks) then drifts at least "
        f"{CHAOS_SHARE:g} of the twins' gap, as Adam does in the LSTM. A row above its bound "
        "where one ulp drifts less would be a real difference.")
    notes += [d for d in map(_ulp_yardstick, records) if d]
    return Table(pd.DataFrame(rows), notes)


def speed_rows(rec: dict, phases: tuple[str, ...],
               dtypes: tuple[str, ...] = ("float32", "float64"),
               units: tuple[str, ...] = ("network", "operation")) -> Table:
    """One row per (arch, batch, dtype, threads, phase), the twins side by side.

    `units`: whole networks, single operations (one layer alone), or both; records
    older than the operation cases hold networks only."""
    df = pd.DataFrame(rec["benchmarks"])
    unit = df["unit"].fillna("network") if "unit" in df else pd.Series("network", df.index)
    df = df[df["phase"].isin(phases) & df["dtype"].isin(dtypes) & unit.isin(units)]
    if df.empty:
        return Table(df)
    keys = ["arch", "phase", "dtype", "threads", "batch"]
    wide = df.pivot_table(index=keys, columns="impl", values=["median", "iqr", "flops"],
                          aggfunc="first")
    rows, unsteady = [], 0

    def timed(row, impl: str) -> str:
        nonlocal unsteady
        text, mark = _timed_ms(row.get(("median", impl), np.nan), row.get(("iqr", impl), np.nan))
        unsteady += mark
        return text

    def fmt(x: float, spec: str) -> str:
        return "-" if pd.isna(x) else format(x, spec)

    for idx, row in wide.iterrows():
        out = dict(zip(keys, idx))
        s_med, t_med = row.get(("median", "scratch"), np.nan), row.get(("median", "torch"), np.nan)
        out["scratch ms (IQR % of median)"] = timed(row, "scratch")
        out["torch ms (IQR % of median)"] = timed(row, "torch")
        out[f"ratio scratch/torch {FASTER}"] = fmt(s_med / t_med, ".2f")
        out["scratch GFLOP/s"] = fmt(row.get(("flops", "scratch"), np.nan) / s_med / 1e9, ".1f")
        out["torch GFLOP/s"] = fmt(row.get(("flops", "torch"), np.nan) / t_med / 1e9, ".1f")
        if ("median", "torch-cuda") in row.index and pd.notna(row[("median", "torch-cuda")]):
            out["torch-cuda ms"] = _num(1e3 * row[("median", "torch-cuda")])
        rows.append(out)
    return Table(pd.DataFrame(rows), _unsteady_note(unsteady))


def _timed_ms(median: float, iqr: float) -> tuple[str, bool]:
    """"1.23 (4%)": milliseconds and the IQR as % of the median, marked when unsteady;
    and whether it is."""
    if pd.isna(median):
        return "-", False
    spread = iqr / median
    unsteady = bool(spread > SPREAD_LIMIT)
    return f"{_num(1e3 * median)} ({spread:.0%}){SPREAD_MARK * unsteady}", unsteady


def _unsteady_note(count: int) -> list[str]:
    if not count:
        return []
    return [f"{SPREAD_MARK} {count} timing{'s' * (count != 1)} with an interquartile range "
            f"above {SPREAD_LIMIT:.0%} of the median: unsteady (a busy machine, or a case too "
            "short for the timer); read their ratios with care."]


def speed_table(records: list[dict]) -> Table:
    return speed_rows(records[-1], ("step",), ("float32",), ("network",))


def speed_ops_table(records: list[dict]) -> Table:
    """Each layer alone, forward and backward (dL/dx included): where a step's time goes."""
    table = speed_rows(records[-1], ("forward", "backward"), ("float32", "float64"),
                       ("operation",))
    if table.frame.empty:
        return Table(table.frame, ["This run has no operation cases: runs from before they "
                                   "were added to the grids."])
    return table


def speed_all_table(records: list[dict]) -> Table:
    """Every case of the newest speed record, whatever its phases and dtypes."""
    rec = records[-1]
    bm = rec["benchmarks"]
    return speed_rows(rec, tuple({b["phase"] for b in bm}), tuple({b["dtype"] for b in bm}))


def ceiling_table(records: list[dict]) -> Table:
    rows = [{"library": r["library"], "dtype": r["dtype"], "threads": r["threads"],
             "matrix": f"{r['n']}x{r['n']}", "GFLOP/s": f"{r['gflops']:.1f}"}
            for r in records[-1]["matmul"]]
    return Table(pd.DataFrame(rows))


def job_table(records: list[dict]) -> Table:
    """The main job's wall-clock time: one row per step of the newest job, then the whole."""
    rec = records[-1]
    rows = [{"step": step["title"], "seconds": _num(step["seconds"])} for step in rec["steps"]]
    rows.append({"step": "the whole job", "seconds": _num(rec["seconds"])})
    return Table(pd.DataFrame(rows), [
        f"{rec['seconds'] / 60:.1f} minutes for the {rec['plan']} main job's steps, from the "
        "first step's start to the last record; the first `tox -e bench` also sets up its "
        "environment (installing torch) before it."])


def tta_table(records: list[dict]) -> Table:
    """One row per experiment and twin: seeds reaching the target, median and range of
    the seconds, the median's ratio to torch's in the same record, the batch size the
    twin's test evaluation ran at (its fastest; "-" in records from before it was chosen),
    and for a speedrun whether the median is within its budget."""
    rows = []
    for rec in records:
        runs = pd.DataFrame(rec["runs"])
        torch_secs = runs.loc[runs["impl"] == "torch", "seconds"].dropna()
        torch_median = torch_secs.median() if len(torch_secs) else None
        budget = rec.get("budget_s")
        for impl, g in runs.groupby("impl", sort=False):
            secs = g["seconds"].dropna()
            median = secs.median() if len(secs) else None
            rows.append({
                "experiment": rec["experiment"]["name"], "target %": f"{rec['target']:.1f}",
                "twin": impl, "seeds": len(g), "reached": f"{len(secs)}/{len(g)}",
                "median s": f"{median:.1f}" if median is not None else "-",
                "min-max s": f"{secs.min():.1f}-{secs.max():.1f}" if len(secs) else "-",
                "median epochs": f"{g['epochs'].dropna().median():.0f}" if len(secs) else "-",
                f"time-to-target ratio scratch/torch {FASTER}": (
                    f"{median / torch_median:.2f}"
                    if median is not None and torch_median is not None else "-"),
                THREADS: threads(rec),
                "eval batch": _eval_batch(rec, impl, g),
                "budget s": ("-" if budget is None else f"{budget:g}: " + (
                    "met" if median is not None and len(secs) == len(g) and median <= budget
                    else "missed")),
            })
    notes = [TTA_NOTE] if rows else []
    for rec in records:
        planned, ran = rec.get("seeds_planned"), len({r.get("seed") for r in rec["runs"]})
        if planned is not None and ran < planned:
            notes.append(f"{rec['experiment']['name']}: interrupted after {ran} of {planned} "
                         "seeds; the finished seeds are shown.")
        if len(rec.get("parts", ())) > 1:
            seeds = sorted({r["seed"] for r in rec["runs"]})
            notes.append(f"{rec['experiment']['name']}: measured in {len(rec['parts'])} parts "
                         f"on this machine (seeds {', '.join(map(str, seeds))}), read as one.")
    return Table(pd.DataFrame(rows), notes)


def _eval_batch(rec: dict, impl: str, runs: pd.DataFrame) -> str:
    """The batch size a twin's test evaluation ran at: the record's, or each run's where
    parts measured apart chose differently; "-" in records from before it was chosen."""
    if (batch := rec.get("eval_batch", {}).get(impl)) is not None:
        return str(batch)
    chosen = sorted({int(b) for b in runs.get("eval_batch", pd.Series()).dropna()})
    return ", ".join(map(str, chosen)) or "-"


def _sci(x) -> str:
    return "-" if x is None else f"{x:.1e}"


def peers_parity_table(records: list[dict]) -> Table:
    """`twinbench peers`: every row of the audit (one record: one run)."""
    rows = []
    for rec in records:
        for r in rec["rows"]:
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
    return Table(pd.DataFrame(rows))


def peers_speed_table(records: list[dict]) -> Table:
    """`twinbench peers --race`: each model and implementation's row (one record: one
    run). Step times are medians with the IQR as % of the median (records from before the
    race ran under pytest-benchmark hold medians only, and race the MLP only)."""
    race = [(rec, r) for rec in records for r in rec["rows"]]
    rows, unsteady = [], 0
    for rec, r in race:
        steps, iqrs = r["step_seconds"], r.get("step_iqr", {})
        out = {"model": r.get("model", "mlp"), "implementation": r["impl"],
               "version": r["version"]}
        for b in sorted({b for _, x in race for b in x["step_seconds"]}, key=int):
            column = f"step ms, batch {b}" + (" (IQR %)" if iqrs else "")
            if b not in steps:
                out[column] = "-"
            elif b in iqrs:
                out[column], mark = _timed_ms(steps[b], iqrs[b])
                unsteady += mark
            else:
                out[column] = f"{1e3 * steps[b]:.2f}"
        out["MNIST test % (epochs)"] = ("-" if "accuracy" not in r else f"{r['accuracy']:.2f}"
                                        + (f" ({r['epochs']})" if "epochs" in r else ""))
        out["training s"] = f"{r['train_seconds']:.0f}" if "train_seconds" in r else "-"
        out["threads"] = rec["threads"]
        out["note"] = r.get("note") or "-"
        rows.append(out)
    return Table(pd.DataFrame(rows), _unsteady_note(unsteady))
