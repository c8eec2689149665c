"""Every table twinbench makes, declared once: `TABLES`, read by `report` and `summary`.

A `TableSpec` says which kind of record a table is built from, its builder
(`tables.py`), its title, whether a published page shows it too, and how its records
are chosen. Every table holds one machine's records:

- a kind whose records are one row each (an experiment, a target) gets a table
  per machine, newest machine first, each holding the newest record per row
  (`row_key`), so that a new experiment measured elsewhere adds a table instead
  of hiding the others;
- the other kinds are one run each (speed, ceiling, peers): their table shows
  the newest record, and says how many records of other machines it leaves out.

A published set is complete when its records hold every row a full reference run
makes: `ROWS` says which rows a kind's records provide (for the one-run kinds, the
newest record's), and `missing_rows` names those a requirement (`measure.main`'s
`reference_requirements`, the full run's plan) lacks.

A new table is one entry here (and, shown on a published page, its markers in the README or
a docs/ page); a new kind of record is also an entry in `records.RECORD_FIELDS` and in `ROWS`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass

from bench.results.tables import (
    Table,
    accuracy_table,
    by_machine,
    ceiling_table,
    generative_table,
    job_table,
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
    verdict_table,
)

RowKey = Callable[[dict], Hashable]
# One table part: the records it shows, and how many records of other machines it leaves out.
Part = tuple[list[dict], int]


def experiment(rec: dict) -> tuple:
    """The row key of a record that is one experiment's row."""
    return (rec["experiment"]["name"],)


def experiment_and_dtype(rec: dict) -> tuple:
    return (*experiment(rec), rec["dtype"])


def job_plan(rec: dict) -> tuple:
    """The row key of a main job's record: its plan (default, full or custom)."""
    return (rec["plan"],)


def is_seed(rec: dict) -> bool:
    """A write-up's reproduction (`seed-*`), shown in its own table."""
    return rec["experiment"]["name"].startswith("seed-")


def in_headline(rec: dict) -> bool:
    """The README's verdict: the experiments themselves, not the write-ups (their own table)
    nor CI's fast checks (`ci-*`: one small epoch each, in the full accuracy table)."""
    return not is_seed(rec) and not rec["experiment"]["name"].startswith("ci-")


def select(records: list[dict], row_key: RowKey | None) -> list[Part]:
    """The parts of a table of `records` (oldest first): with `row_key`, one per machine,
    newest machine first, each the newest record per key; without, one part: the newest
    record of the newest machine."""
    if row_key is not None:
        return [(latest(group, row_key), 0) for group in by_machine(records)]
    recs, left_out = one_machine(records)
    return [(recs[-1:], left_out)]


@dataclass(frozen=True)
class TableSpec:
    name: str  # results/<name>.md, and the README's <!-- twinbench:<name> --> markers
    kind: str  # the kind of record it is built from (records.RECORD_FIELDS)
    build: Callable[[list[dict]], Table]  # one machine's records, newest last -> rows, notes
    title: str  # the heading of results/<name>.md
    # A published page shows it too, between its markers: the README or a docs/ page
    # (`report.published_pages`), whichever holds them.
    readme: bool
    row_key: RowKey | None = None  # None: one run (see the module's docstring)
    keep: Callable[[dict], bool] = lambda rec: True  # the kind's records this table shows
    brief: bool = False  # a headline: a short caption (`tables.caption`)
    timed: bool = True  # it shows timings, so its caption warns of a busy machine

    @property
    def per_machine(self) -> bool:
        """A table per machine (records that are one row each), else the newest run's."""
        return self.row_key is not None

    def render(self, run_set: str, records: list[dict]) -> str:
        """Markdown of the table from every record of its kind (oldest first): each part
        under its caption, which names `run_set` and the machine."""
        parts = [section(run_set, kept, self.build, left_out, self.brief, self.timed)
                 for recs, left_out in select(records, self.row_key)
                 if (kept := [r for r in recs if self.keep(r)])]
        return "\n\n".join(parts) or section(run_set, [], self.build)


TABLES: tuple[TableSpec, ...] = (
    TableSpec("verdict", "accuracy", verdict_table,
              "The verdict: both twins trained alike reach the same accuracy", readme=True,
              row_key=experiment, keep=in_headline, brief=True),
    TableSpec("job", "job", job_table,
              "The main job's time: each step's wall clock (`tox -e bench`, no options)",
              readme=True, row_key=job_plan,
              keep=lambda rec: rec["plan"] == "default", brief=True),
    TableSpec("speed", "speed", speed_table,
              "Training-step speed, float32, median of many rounds (`twinbench bench`)",
              readme=True),
    TableSpec("speed-all", "speed", speed_all_table,
              "Forward, backward and training step, every case of the run", readme=False),
    TableSpec("speed-ops", "speed", speed_ops_table,
              "Each operation alone, forward and backward, scratch against torch",
              readme=False),
    TableSpec("ceiling", "ceiling", ceiling_table, "The hardware ceiling: matmul GFLOP/s",
              readme=True),
    TableSpec("tta", "tta", tta_table,
              "Time to accuracy (training and per-epoch evaluation, wall clock)",
              readme=True, row_key=experiment),
    TableSpec("accuracy", "accuracy", accuracy_table,
              "Accuracy: both twins, same initial weights and batch order "
              "(`twinbench accuracy`)",
              readme=True, row_key=experiment, keep=lambda rec: not is_seed(rec)),
    TableSpec("seeds", "accuracy", seeds_table,
              "The write-ups, reproduced (`twinbench accuracy seed-000 ...`)",
              readme=True, row_key=experiment, keep=is_seed),
    TableSpec("generative", "generative", generative_table,
              "Generative twins: test loss, twin agreement and the samples' score "
              "(`twinbench accuracy vae-mnist dcgan-mnist`)",
              readme=True, row_key=experiment),
    TableSpec("lockstep", "lockstep", lockstep_table,
              "Lockstep drift (`twinbench accuracy --lockstep`)",
              readme=True, row_key=experiment_and_dtype, timed=False),
    TableSpec("peers-parity", "peers-parity", peers_parity_table,
              "The NumPy peers against torch, through the public twin check "
              "(`twinbench peers`)", readme=True, timed=False),
    TableSpec("peers-speed", "peers-speed", peers_speed_table,
              "The race: one MLP through each NumPy peer's API, scratch and torch "
              "(`twinbench peers --race`)", readme=True),
)
TABLE = {spec.name: spec for spec in TABLES}
# The kinds of record the tables are built from, in the tables' order.
TABLE_KINDS = tuple(dict.fromkeys(spec.kind for spec in TABLES))
README_TABLES = tuple(spec.name for spec in TABLES if spec.readme)


# Kind -> the rows one record provides, each a tuple a requirement names (`missing_rows`).
ROWS: dict[str, Callable[[dict], Iterable[tuple]]] = {
    "speed": lambda rec: [("grid", rec.get("grid") or "not recorded")],
    "ceiling": lambda rec: [(r["library"], r["dtype"]) for r in rec["matmul"]],
    "tta": lambda rec: [(rec["experiment"]["name"], run["impl"]) for run in rec["runs"]],
    "accuracy": lambda rec: [experiment(rec)],
    "generative": lambda rec: [experiment(rec)],
    "lockstep": lambda rec: [experiment_and_dtype(rec)],
    "job": lambda rec: [job_plan(rec)],
    "peers-parity": lambda rec: [(peer,) for peer in rec["peers"]],
    "peers-speed": lambda rec: [(r.get("model", "mlp"), r["impl"]) for r in rec["rows"]],
}
# The kinds whose tables show one run: only their newest record provides rows.
ONE_RUN_KINDS = frozenset(spec.kind for spec in TABLES if not spec.per_machine)


def provided_rows(kind: str, records: list[dict]) -> set[tuple]:
    """The rows `records` of `kind` (oldest first) give its tables."""
    shown = records[-1:] if kind in ONE_RUN_KINDS else records
    return {row for rec in shown for row in ROWS[kind](rec)}


def missing_rows(required: Mapping[str, Collection[tuple]],
                 records: Mapping[str, list[dict]], most: int = 12) -> list[str]:
    """"KIND: ROW, ROW and N more" for each kind whose `records` lack rows `required` names
    (at most `most` named per kind); "KIND: no record" where there is none."""
    out = []
    for kind, rows in required.items():
        recs = records.get(kind, [])
        lack = sorted(set(rows) - provided_rows(kind, recs), key=str)
        if not lack:
            continue
        if not recs:
            out.append(f"{kind}: no record")
            continue
        named = ", ".join(" ".join(map(str, row)) for row in lack[:most])
        more = f" and {len(lack) - most} more" if len(lack) > most else ""
        held = sorted(provided_rows(kind, recs), key=str)
        if kind in ONE_RUN_KINDS and len(held) <= 3:  # say what the one shown record holds
            more += f" (its record holds {', '.join(' '.join(map(str, r)) for r in held)})"
        out.append(f"{kind}: {named}{more}")
    return out
