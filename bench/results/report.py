"""`twinbench report`'s work: a run set's records -> markdown tables, plots and the README.

Two destinations, never mixed:

- a run directory (a user's `twinbench bench` or `accuracy`): its tables, plots
  and `summary.md` (`summary.py`: what the run found, against the published
  reference) are written next to its records;
- the published reference, the checkout's `results/`: `results/*.md`, the plots
  and the marked sections (`<!-- twinbench:NAME -->` ... `<!-- /twinbench:NAME -->`)
  of its pages, the README and `docs/*.md` (`published_pages`): each section in
  exactly one page, built only from the records its manifest lists.
  `check_published` reports the files that differ from what those records
  give, so a stale README or docs page fails the test suite, and nothing a user runs can.

`plan_report` computes what a destination's files should be and which are
stale; `check_report` returns that list, `write_report` writes them. The tables
are those `registry.TABLES` declares; each is built from one machine's records
and its caption names the run set and the full fingerprint. `publish_run` replaces
the published set whole with one run's records (or those of its parts, all from one
machine), refusing a run that lacks a table's rows. `finish_run` is what every
command that records a run does last: render it, and publish it if asked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bench.errors import FileFormatError, UserError
from bench.results import plots
from bench.results.records import (
    MANIFEST,
    PublishRefused,
    RunSet,
    ensure_writable,
    find_checkout,
    manifest_text,
    open_run_set,
    prepare_publish,
    published_dir,
    write_all,
)
from bench.results.registry import (
    README_TABLES,
    TABLE,
    TABLE_KINDS,
    TABLES,
    missing_rows,
    select,
)
from bench.results.summary import write_summary
from bench.results.tables import escape

# The published pages' marked sections: the tables they show, and the generated list of
# accuracy figures. Each is in exactly one page (the README or a docs/ page).
README_SECTIONS = (*README_TABLES, "figures")
DOCS = "docs"  # the checkout's folder of pages besides the README


def published_pages(checkout: Path) -> list[Path]:
    """The checkout's pages that carry generated sections: README.md and docs/*.md."""
    return [checkout / "README.md", *sorted((checkout / DOCS).glob("*.md"))]


def _load(run_set: RunSet) -> dict[str, list[dict]]:
    """Every record of the set, by kind (oldest first)."""
    return {kind: run_set.load(kind) for kind in TABLE_KINDS}


def _plot_records(records: dict[str, list[dict]]) -> tuple[list[dict], list[dict], list, list]:
    """(accuracy, speed, tta parts, generative) records for the figures. An accuracy or
    generative figure shows one record: every machine's, oldest first, so a newer machine's
    figure of an experiment replaces an older one's. The speed figure shows the speed
    table's run; the time-to-accuracy figure every experiment, a panel per machine as the
    table has."""
    machines = select(records["accuracy"], TABLE["accuracy"].row_key)  # newest first
    accuracy = [r for recs, _ in reversed(machines) for r in recs]
    generative = [r for recs, _ in reversed(select(records["generative"],
                                                    TABLE["generative"].row_key)) for r in recs]
    speed = select(records["speed"], TABLE["speed"].row_key)[0][0]  # one run: one part
    tta = [recs for recs, _ in select(records["tta"], TABLE["tta"].row_key)]
    return accuracy, speed, tta, generative


def _tables(run_set: RunSet, records: dict[str, list[dict]]) -> dict[str, str]:
    return {spec.name: spec.render(run_set.caption(), records[spec.kind]) for spec in TABLES}


def build_tables(run_set: RunSet | Path) -> dict[str, str]:
    """Table name -> markdown, from the records of `run_set` (or the set in a directory)."""
    if not isinstance(run_set, RunSet):
        run_set = open_run_set(run_set)
    return _tables(run_set, _load(run_set))


_FIGURE_TITLES = {"curves": "loss and accuracy curves of both twins",
                  "confusion": "confusion matrices of both twins",
                  "weights": "first-layer weights of both twins",
                  "embedding": "t-SNE of the last hidden layer's features, both twins",
                  "generative": "pictures of both twins at the same latent vectors, and "
                                "their largest pixel difference"}


def _figures(plot_names: list[str], left_out: dict[str, list[str]], prefix: str = "") -> str:
    """Every accuracy plot of the set, a heading per experiment (the write-ups after the
    others), each followed by what its record cannot give and why (`plots.left_out`)."""
    by_exp: dict[str, list[str]] = {name: [] for name in left_out}
    for name in plot_names:
        kind, _, exp = name.removesuffix(".png").partition("-")
        if kind in _FIGURE_TITLES:
            by_exp.setdefault(exp, []).append(
                f"![{exp}: {_FIGURE_TITLES[kind]}]({prefix}{name})")
    order = sorted(by_exp, key=lambda e: (e.startswith("seed-"), e))
    parts = [f"### {escape(exp)}\n\n" + "\n".join(
        [*sorted(by_exp[exp], key=lambda line: list(_FIGURE_TITLES).index(
            line.rsplit("(", 1)[1].removeprefix(prefix).partition("-")[0])),
         *(f"\n_{escape(why)}._" for why in left_out.get(exp, []))]) for exp in order]
    return "\n\n".join(parts) or "_No accuracy figures yet._"


def render_results(tables: dict[str, str], source: str) -> dict[str, str]:
    """<name>.md contents; `source` says which records they come from."""
    note = f"<!-- generated by `twinbench report` from {source}; do not edit -->\n"
    return {f"{name}.md": f"{note}# {TABLE[name].title}\n\n{text}\n"
            for name, text in tables.items()}


_MARKER = re.compile(r"<!-- /?twinbench:")


def _section(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- twinbench:{name} -->\n).*?(<!-- /twinbench:{name} -->)", re.S)


def render_page(page: str, sections: dict[str, str]) -> str:
    """`page` (the README or a docs page) with each marked section it holds replaced by its
    text. A text holding a marker (which the tables' escaping rules out) would move the
    sections: it is refused."""
    for name, text in sections.items():
        pattern = _section(name)
        if not pattern.search(page):
            continue
        if _MARKER.search(text):
            raise FileFormatError(f"the {name} section holds a README marker: refusing to "
                                  "write it into the README")
        page = pattern.sub(lambda m, t=text: m.group(1) + t + "\n" + m.group(2), page)
    return page


def _page_texts(pages: Sequence[Path], results_dir: Path, tables: dict[str, str],
                plot_names: list[str], left_out: dict[str, list[str]]) -> dict[Path, str]:
    """Each page as its marked sections should read; every section must be in exactly one
    page, its images linked relative to that page."""
    texts, holder = {}, {}
    for page in pages:
        if not page.exists():
            raise UserError(f"no README at {page}: the published tables go into the "
                            "checkout's README.md and docs/*.md, which must be there")
        text = page.read_text()
        for name in README_SECTIONS:
            if _section(name).search(text):
                if name in holder:
                    raise FileFormatError(f"<!-- twinbench:{name} --> is in both {holder[name]} "
                                          f"and {page}: a section has one page")
                holder[name] = page
        prefix = Path(os.path.relpath(results_dir, page.parent)).as_posix() + "/"
        sections = {**tables, "figures": _figures(plot_names, left_out, prefix)}
        texts[page] = render_page(text, sections)
    missing = [name for name in README_SECTIONS if name not in holder]
    if pages and missing:
        raise FileFormatError(
            f"no page of {', '.join(str(p) for p in pages)} has <!-- twinbench:{missing[0]} "
            f"--> ... <!-- /twinbench:{missing[0]} --> markers"
            + (f" (nor those of {', '.join(missing[1:])})" if missing[1:] else ""))
    return texts


@dataclass(frozen=True)
class ReportPlan:
    """What a run set's report should be, and how the files on disk differ from it."""

    run_set: RunSet
    directory: Path  # where the tables and plots go
    tables: dict[str, str]  # table name -> markdown
    texts: dict[Path, str]  # each markdown file (and the README) as it should read
    plot_records: tuple[list[dict], list[dict], list, list]  # plots.build_plots' records
    # The texts that differ from their file, the plots missing from `directory`, then the
    # plots there that the records no longer give. Plots are compared by presence only:
    # their bytes depend on matplotlib's version and fonts.
    stale: list[str]
    obsolete: tuple[Path, ...] = ()  # plots in `directory` no record gives any more


def _pages(pages: Path | Sequence[Path] | None) -> list[Path]:
    if pages is None:
        return []
    return [Path(pages)] if isinstance(pages, str | os.PathLike) else [Path(p) for p in pages]


def plan_report(results_dir: Path, pages: Path | Sequence[Path] | None = None, *,
                run_set: RunSet | None = None) -> ReportPlan:
    """The tables, plots and (when given) the marked sections of `pages` (the README, or
    the README and docs pages) as the records of `run_set` (default: the set in
    `results_dir`) give them, and which are stale. Reads only."""
    results_dir = Path(results_dir)
    run_set = run_set or open_run_set(results_dir)
    records = _load(run_set)
    tables = _tables(run_set, records)
    plot_records = _plot_records(records)
    plot_names = plots.planned(*plot_records)
    source = "the records listed in published.json" if run_set.published else "records/"
    texts = {results_dir / name: text for name, text in render_results(tables, source).items()}
    texts.update(_page_texts(_pages(pages), results_dir, tables, plot_names,
                             plots.left_out(plot_records[0])))
    stale = [str(p) for p, text in texts.items() if not p.exists() or p.read_text() != text]
    stale += [str(results_dir / n) for n in plot_names if not (results_dir / n).exists()]
    obsolete = tuple(p for p in sorted(results_dir.glob("*.png"))
                     if p.name not in plot_names and plots.is_plot_name(p.name))
    stale += [f"{p} (no record draws it)" for p in obsolete]
    return ReportPlan(run_set, results_dir, tables, texts, plot_records, stale, obsolete)


def check_report(results_dir: Path, pages: Path | Sequence[Path] | None = None, *,
                 run_set: RunSet | None = None) -> list[str]:
    """The stale files of `results_dir`'s report (`plan_report`); changes nothing."""
    return plan_report(results_dir, pages, run_set=run_set).stale


def _files(plan: ReportPlan, class_names) -> dict[Path, str | bytes]:
    """The stale texts of `plan` and every plot, redrawn: path -> contents."""
    pngs = plots.build_plots(*plan.plot_records, plan.run_set.name, class_names)
    return {**{path: text for path, text in plan.texts.items() if str(path) in plan.stale},
            **{plan.directory / name: png for name, png in pngs.items()}}


def _remove(paths) -> None:
    """Plots no record draws any more (after the new files are written)."""
    for path in paths:
        path.unlink(missing_ok=True)


def write_report(results_dir: Path, pages: Path | Sequence[Path] | None = None, *,
                 run_set: RunSet | None = None, class_names=None) -> list[str]:
    """Write `results_dir`'s tables, plots and, when given, the marked sections of `pages`
    (`plan_report`), all or none (`records.write_all`), then remove the plots no record
    draws any more; returns the files that were stale. Plots are always redrawn.
    `class_names(dataset)` labels the confusion matrices."""
    plan = plan_report(results_dir, pages, run_set=run_set)
    ensure_writable(plan.directory)
    write_all(_files(plan, class_names))
    _remove(plan.obsolete)
    return plan.stale


def check_published(checkout: Path) -> list[str]:
    """The checkout's README, docs pages, results/*.md and plots that differ from what its
    published records give."""
    return check_report(published_dir(checkout), published_pages(checkout))


def publish_run(sources: Path | Sequence[Path], checkout: Path, name: str | None = None,
                class_names=None, *, required: Mapping[str, Collection[tuple]] | None = None,
                allow_incomplete: bool = False, experiments=None) -> tuple[RunSet, list[str]]:
    """Publish the run `sources` (one run directory, or the parts of one run): its records
    replace the published set whole, whose README, results/*.md and plots are rebuilt from
    them alone, the manifest last. Returns the new set and the changed files.

    All or nothing: every record is checked first (`records.prepare_publish`: valid records,
    experiment names against `experiments` when given, one machine across all the parts),
    then, given `required` (kind -> the rows a complete reference holds,
    `registry.missing_rows`), a run that lacks any of them is refused naming what is missing,
    unless `allow_incomplete`; the files are then written together (`records.write_all`), so
    that a failure leaves results/ and the README as they were. Only then are the records
    the new set no longer lists, and the plots it no longer draws, removed from results/.
    """
    pub = prepare_publish(sources, checkout, name, experiments)
    run_set, target = pub.new, published_dir(checkout).resolve()
    plan = plan_report(target, published_pages(checkout), run_set=run_set)
    if required is not None and not allow_incomplete:
        missing = missing_rows(required, _load(run_set))
        if missing:
            shown = ", ".join(str(s) for s in ([sources] if isinstance(sources, (str, Path))
                                               else sources))
            raise PublishRefused(
                f"refusing to publish {shown}: it would replace every published table, and it "
                f"is incomplete for them; missing {'; '.join(missing)}. Run the missing parts "
                "on the same machine and publish all the parts together, or pass "
                "--allow-incomplete")
    write_all({**pub.copies, **_files(plan, class_names),
               run_set.directory / MANIFEST: manifest_text(run_set)}, new=set(pub.copies))
    gone = [*pub.superseded, *plan.obsolete]  # plan.obsolete: the plots no record draws
    _remove(gone)
    return run_set, [*plan.stale, *(f"{p} (removed)" for p in pub.superseded)]


@dataclass(frozen=True)
class FinishedRun:
    """What `finish_run` did, for the command to tell."""

    run: Path
    summary: Path | None = None  # the run's summary.md; None when it was not rendered
    text: str = ""  # the summary's markdown
    published: RunSet | None = None  # the published reference the run joined
    changed: tuple[str, ...] = ()  # the published reference's files that changed
    parts: tuple[Path, ...] = ()  # the other run directories published with `run`


def finish_run(run: Path, *, publish: bool, name: str | None = None, class_names=None,
               checkout: Path | None = None, render: bool = True,
               required: Mapping[str, Collection[tuple]] | None = None,
               allow_incomplete: bool = False, experiments=None,
               parts: Sequence[Path] = ()) -> FinishedRun:
    """What every command that records a run does last.

    With `render`, the run directory's tables, plots and summary.md (the run set beside the
    published reference of the checkout this runs in, if any). With `publish`, the run's
    records (with those of the other `parts` of the same run) replace the published
    reference of `checkout` (default: the checkout this runs in), named `name` (default:
    keep the reference's name): `publish_run`, which checks experiment names against
    `experiments`, one machine across the parts, and refuses a run that lacks rows
    `required` names unless `allow_incomplete`.
    `class_names(dataset)` labels the confusion matrices.
    """
    run = Path(run)
    done = FinishedRun(run)
    if render:
        run_set = open_run_set(run)
        write_report(run, run_set=run_set, class_names=class_names)
        here = find_checkout()
        reference = open_run_set(published_dir(here)) if here else None
        summary, text = write_summary(run_set, reference)
        done = replace(done, summary=summary, text=text)
    if publish:
        checkout = checkout or find_checkout()
        if checkout is None:
            raise UserError(f"cannot publish {run}: the published reference is a twinbench "
                            "checkout's results/ and README; run from a checkout")
        run_set, changed = publish_run([run, *parts], checkout, name, class_names,
                                       required=required, allow_incomplete=allow_incomplete,
                                       experiments=experiments)
        done = replace(done, published=run_set, changed=tuple(changed),
                       parts=tuple(Path(p) for p in parts))
    return done
