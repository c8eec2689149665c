"""`twinbench report`'s work: a run set's records -> markdown tables, plots and the README.

Two destinations, never mixed:

- a run directory (a user's `twinbench bench` or `accuracy`): its tables, plots
  and `summary.md` (`summary.py`: what the run found, against the published
  reference) are written next to its records;
- the published reference, the checkout's `results/`: `results/*.md`, the plots
  and the README's marked sections (`<!-- twinbench:NAME -->` ...
  `<!-- /twinbench:NAME -->`), built only from the records its manifest lists.
  `check_published` reports the files that differ from what those records
  give, so a stale README fails the test suite, and nothing a user runs can.

Each table is built from one machine's records and its caption names the run set
and the full fingerprint: accuracy, lockstep and time to accuracy get a table per
machine (newest first), the one-run kinds (speed, ceiling, peers) the newest record.
"""

from __future__ import annotations

import re
from pathlib import Path

from bench.errors import FileFormatError, UserError
from bench.results import plots
from bench.results.atomic import write_atomic
from bench.results.records import (
    RunSet,
    ensure_writable,
    find_checkout,
    open_run_set,
    publish,
    published_dir,
    write_manifest,
)
from bench.results.summary import write_summary
from bench.results.tables import (
    accuracy_table,
    by_machine,
    ceiling_table,
    latest,
    lockstep_table,
    one_machine,
    peers_parity_table,
    peers_speed_table,
    section,
    seeds_table,
    speed_all_table,
    speed_ops_table,
    speed_table,
    tta_table,
)


def _exp_key(rec: dict) -> tuple:
    return (rec["experiment"]["name"],)


# Tables that also appear in the README (speed-all is long: results/ only), and the
# README's generated list of accuracy figures.
README_TABLES = ("speed", "ceiling", "tta", "accuracy", "seeds", "lockstep", "peers-parity",
                 "peers-speed")
README_SECTIONS = (*README_TABLES, "figures")


# Kinds whose records are one row each (an experiment, a target): a table of each machine,
# newest machine first, so that a new experiment measured elsewhere adds a table instead of
# hiding the others. The other kinds are one run each: their table shows the newest record.
BY_MACHINE = {"accuracy": _exp_key, "lockstep": lambda r: (*_exp_key(r), r["dtype"]),
              "tta": _exp_key}
ONE_RUN = ("speed", "ceiling", "peers-parity", "peers-speed")


def select(run_set: RunSet) -> dict[str, list[tuple[list[dict], int]]]:
    """Kind -> its tables, each (the records it uses, how many of other machines it leaves
    out). Every table holds one machine's records."""
    out = {}
    for kind, key in BY_MACHINE.items():
        out[kind] = [(latest(group, key), 0) for group in by_machine(run_set.load(kind))]
    for kind in ONE_RUN:
        recs, left_out = one_machine(run_set.load(kind))
        out[kind] = [(recs[-1:], left_out)]
    return out


def _plot_records(sel: dict) -> tuple[list[dict], list[dict], list[dict]]:
    """(accuracy, speed, tta) records for the figures. An accuracy figure shows one record:
    every machine's, oldest first, so a newer machine's figure of an experiment replaces an
    older one's. The speed and time-to-accuracy figures show the newest machine only."""
    accuracy = [r for recs, _ in reversed(sel["accuracy"]) for r in recs]
    speed, tta = (sel[kind][0][0] if sel[kind] else [] for kind in ("speed", "tta"))
    return accuracy, speed, tta


def build_tables(run_set: RunSet | Path) -> dict[str, str]:
    """Table name -> markdown, from the records of `run_set` (or the set in a directory)."""
    if not isinstance(run_set, RunSet):
        run_set = open_run_set(run_set)
    sel = select(run_set)
    name = run_set.caption()

    def sec(kind, build, keep=lambda r: True):
        parts = [section(name, kept, build, left_out) for recs, left_out in sel[kind]
                 if (kept := [r for r in recs if keep(r)])]
        return "\n\n".join(parts) or section(name, [], build)

    def is_seed(rec):
        return rec["experiment"]["name"].startswith("seed-")

    return {
        "speed": sec("speed", speed_table),
        "speed-all": sec("speed", speed_all_table),
        "speed-ops": sec("speed", speed_ops_table),
        "ceiling": sec("ceiling", ceiling_table),
        "tta": sec("tta", tta_table),
        "accuracy": sec("accuracy", accuracy_table, lambda r: not is_seed(r)),
        "seeds": sec("accuracy", seeds_table, is_seed),
        "lockstep": sec("lockstep", lockstep_table),
        "peers-parity": sec("peers-parity", peers_parity_table),
        "peers-speed": sec("peers-speed", peers_speed_table),
    }


_TITLES = {
    "speed": "Training-step speed, float32, median of many rounds (`twinbench bench`)",
    "speed-all": "Forward, backward and training step, every case of the run",
    "speed-ops": "Each operation alone, forward and backward, scratch against torch",
    "ceiling": "The hardware ceiling: matmul GFLOP/s",
    "tta": "Time to accuracy (training and per-epoch evaluation, wall clock)",
    "accuracy": "Accuracy: both twins, same initial weights and batch order "
                "(`twinbench accuracy`)",
    "seeds": "The write-ups, reproduced (`twinbench accuracy seed-000 ...`)",
    "lockstep": "Lockstep drift (`twinbench accuracy --lockstep`)",
    "peers-parity": "The NumPy peers against torch, through the public twin check "
                    "(`twinbench peers`)",
    "peers-speed": "The race: one MLP through each NumPy peer's API, scratch and torch "
                   "(`twinbench peers --race`)",
}
_FIGURE_TITLES = {"curves": "loss and accuracy curves of both twins",
                  "confusion": "confusion matrices of both twins",
                  "weights": "first-layer weights of both twins",
                  "embedding": "t-SNE of the last hidden layer's features, both twins"}


def _plot_names(run_set: RunSet) -> list[str]:
    sel = select(run_set)
    return plots.planned(*_plot_records(sel))


def figures(run_set: RunSet, prefix: str = "") -> str:
    """Markdown images of every accuracy plot of the set (curves and confusion matrices)."""
    lines = []
    for name in _plot_names(run_set):
        kind, _, exp = name.removesuffix(".png").partition("-")
        if kind in _FIGURE_TITLES:
            lines.append(f"![{exp}: {_FIGURE_TITLES[kind]}]({prefix}{name})")
    return "\n".join(lines) or "_No accuracy figures yet._"


def render_results(tables: dict[str, str], source: str) -> dict[str, str]:
    """<name>.md contents; `source` says which records they come from."""
    note = f"<!-- generated by `twinbench report` from {source}; do not edit -->\n"
    return {f"{name}.md": f"{note}# {_TITLES[name]}\n\n{text}\n" for name, text in tables.items()}


def render_readme(readme: str, sections: dict[str, str]) -> str:
    """`readme` with each marked section replaced by its text."""
    for name in README_SECTIONS:
        text = sections[name]
        pattern = re.compile(rf"(<!-- twinbench:{name} -->\n).*?(<!-- /twinbench:{name} -->)",
                             re.S)
        if not pattern.search(readme):
            raise FileFormatError(f"README has no <!-- twinbench:{name} --> ... "
                                  f"<!-- /twinbench:{name} --> markers")
        readme = pattern.sub(lambda m, t=text: m.group(1) + t + "\n" + m.group(2), readme)
    return readme


def _sync(wanted: dict[Path, str], check: bool) -> list[str]:
    stale = [str(p) for p, text in wanted.items() if not p.exists() or p.read_text() != text]
    if not check:
        for path, text in wanted.items():
            if str(path) in stale:
                write_atomic(path, text)
    return stale


def _draw(run_set: RunSet, directory: Path, class_names) -> None:
    sel = select(run_set)
    for name, png in plots.build_plots(*_plot_records(sel),
                                       run_set.name, class_names).items():
        write_atomic(directory / name, png)


def report(check: bool, results_dir: Path, readme: Path | None = None, *,
           run_set: RunSet | None = None, class_names=None) -> list[str]:
    """Write (or with `check`, compare) `results_dir`'s tables, plots and, when given, the
    README's marked sections, from `run_set` (default: the set in `results_dir`).

    Returns the stale files. Plots are compared by presence only: their bytes depend on
    matplotlib's version and fonts, the tables' text does not.
    """
    results_dir = Path(results_dir)
    run_set = run_set or open_run_set(results_dir)
    tables = build_tables(run_set)
    source = "the records listed in published.json" if run_set.published else "records/"
    wanted = {results_dir / name: text for name, text in render_results(tables, source).items()}
    if readme is not None:
        if not readme.exists():
            raise UserError(f"no README at {readme}: the published tables go into the "
                            "checkout's README.md, which must be there")
        sections = {**tables, "figures": figures(run_set, f"{results_dir.name}/")}
        wanted[readme] = render_readme(readme.read_text(), sections)
    if check:
        return _sync(wanted, check) + [str(results_dir / n) for n in _plot_names(run_set)
                                       if not (results_dir / n).exists()]
    ensure_writable(results_dir)
    stale = _sync(wanted, check)
    _draw(run_set, results_dir, class_names)
    return stale


def check_published(checkout: Path) -> list[str]:
    """The checkout's README and results/*.md files that differ from its published records."""
    return report(True, published_dir(checkout), checkout / "README.md")


def publish_run(source: Path, checkout: Path, name: str | None = None, class_names=None
                ) -> tuple[RunSet, list[str]]:
    """Publish run set `source`: its records join the reference, whose README, results/*.md
    and plots are rebuilt; the manifest is written last. Returns the set and changed files."""
    run_set = publish(source, checkout, name)
    changed = report(False, published_dir(checkout), checkout / "README.md",
                     run_set=run_set, class_names=class_names)
    write_manifest(run_set)
    return run_set, changed


def render_run(run_dir: Path, class_names=None) -> tuple[Path, str]:
    """Tables, plots and summary.md of a user's run directory, the summary set against the
    published reference of the checkout this runs in (if any). Returns the summary."""
    run = open_run_set(run_dir)
    report(False, Path(run_dir), run_set=run, class_names=class_names)
    checkout = find_checkout()
    reference = open_run_set(published_dir(checkout)) if checkout else None
    return write_summary(run, reference)
