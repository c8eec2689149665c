"""Records and reports: append-only records, one machine and one run set per table, the
published reference apart from a user's runs, and the committed README up to date."""

import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.errors import UserError
from bench.results import machine, records, report, tables
from bench.results.records import open_run_set

ROOT = Path(__file__).resolve().parents[1]


def _accuracy_payload(name="mlp", scratch=98.6, torch=98.7, target=98.5, **exp):
    return {"experiment": {"name": name, "dataset": "mnist", "epochs": 20,
                           "target_accuracy": target, "description": f"{name}: d", **exp},
            "final_test_accuracy": {"scratch": scratch, "torch": torch},
            "seconds_per_epoch": {"scratch": 6.0, "torch": 4.0}, "histories": {}}


def write_readme(path: Path) -> Path:
    path.write_text("# x\n" + "".join(
        f"<!-- twinbench:{n} -->\nPLACEHOLDER\n<!-- /twinbench:{n} -->\n"
        for n in report.README_SECTIONS))
    return path


def markdown_rows(text: str) -> list[dict[str, str]]:
    """The rows of the one markdown table in `text`, each as {column header: cell}."""
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    assert lines and set(lines[1].replace("|", "").strip()) <= set("-: "), lines[:2]

    def cells(line):
        return [c.strip() for c in line.strip().strip("|").split("|")]

    header = cells(lines[0])
    rows = [dict(zip(header, cells(ln), strict=True)) for ln in lines[2:]]
    return rows


def section(text: str, name: str) -> str:
    return text.split(f"<!-- twinbench:{name} -->")[1].split(f"<!-- /twinbench:{name} -->")[0]


def _pick(row: dict, *columns: str) -> list[str]:
    return [row[c] for c in columns]


@pytest.fixture
def readme(tmp_path):
    return write_readme(tmp_path / "README.md")


def test_records_are_appended_never_overwritten(tmp_path):
    a = records.append_record("accuracy", _accuracy_payload(), tmp_path)
    b = records.append_record("accuracy", _accuracy_payload(scratch=1.0), tmp_path)
    assert a != b and a.exists() and b.exists()
    loaded = records.load_records("accuracy", tmp_path)
    assert [r["final_test_accuracy"]["scratch"] for r in loaded] == [98.6, 1.0]
    fp = loaded[0]["machine"]
    for key in ("cpu", "cores", "memory_gib", "os", "python", "numpy", "numpy_build",
                "numpy_blas", "torch", "torch_build", "torch_threads", "scratch_threads",
                "thread_env", "governor", "load", "git_commit", "machine_id"):
        assert key in fp
    assert {"architecture", "threading_layer", "num_threads"} <= set(fp["numpy_blas"][0])
    assert set(fp["load"]) == {"average", "other_cpu_share"}
    assert not [p for p in os.listdir(a.parent) if p.startswith(".")]  # no temp files left


def test_report_writes_tables_naming_the_machine_and_check_detects_staleness(tmp_path, readme):
    records.append_record("accuracy", _accuracy_payload(), tmp_path)
    records.append_record("accuracy", _accuracy_payload(
        "seed-003", 88.0, 88.1, None, claim="84% validation", claimed_accuracy=84.0), tmp_path)
    records.append_record("lockstep", {
        "experiment": {"name": "mlp", "epochs": 1}, "dtype": "float64", "steps": 469,
        "max_loss_diff": 1e-13, "max_weight_rel_diff": 2e-12,
        "test_accuracy": {"scratch": 97.1, "torch": 97.2}}, tmp_path)
    assert report.check_report(tmp_path, readme)  # stale before
    report.write_report(tmp_path, readme)
    assert report.check_report(tmp_path, readme) == []
    text = readme.read_text()
    assert "PLACEHOLDER" not in text and "Machine: " in text and "Fingerprint: " in text
    assert f"Run set: {tmp_path.name}" in text
    # each figure in its own column, found by the column's header
    accuracy = markdown_rows((tmp_path / "accuracy.md").read_text())
    assert accuracy == markdown_rows(section(text, "accuracy"))
    assert [r["experiment"] for r in accuracy] == ["mlp"]
    assert _pick(accuracy[0], "target %", "scratch %", "torch %", "both reach target",
                 "s/epoch scratch", "s/epoch torch",
                 "epoch-time ratio scratch/torch (<1: scratch faster)") == [
        "98.50", "98.60", "98.70", "yes", "6.0", "4.0", "1.50"]  # ratio 6.0 / 4.0
    assert accuracy[0]["threads scratch / torch"] == "{} / {}".format(
        records.machine_fingerprint(None)["scratch_threads"],
        records.machine_fingerprint(None)["torch_threads"])
    seeds = markdown_rows((tmp_path / "seeds.md").read_text())
    assert _pick(seeds[0], "write-up", "what it claims", "scratch %", "torch %", "claim") == [
        "seed-003", "84% validation", "88.00", "88.10", "exceeded (+4.0 points)"]
    lockstep = markdown_rows((tmp_path / "lockstep.md").read_text())
    assert _pick(lockstep[0], "experiment", "dtype", "steps", "max loss diff",
                 "max relative weight diff", "norm relative weight diff", "scratch %",
                 "torch %", "accuracy gap (points)") == [
        "mlp", "float64", "469", "1.00e-13", "2.00e-12", "not recorded (older record)",
        "97.10", "97.20", "0.10"]
    # a new record makes the README stale again
    records.append_record("accuracy", _accuracy_payload(scratch=97.0), tmp_path)
    stale = report.check_report(tmp_path, readme)
    assert str(readme) in stale and str(tmp_path / "accuracy.md") in stale


def test_corrupt_record_is_named(tmp_path):
    path = records.append_record("accuracy", _accuracy_payload(), tmp_path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match=path.name):
        records.load_records("accuracy", tmp_path)


def test_missing_markers_are_named(tmp_path):
    bare = tmp_path / "README.md"
    bare.write_text("# no markers\n")
    with pytest.raises(ValueError, match="twinbench:verdict"):
        report.check_report(tmp_path, bare)


def test_sections_spread_over_pages_each_in_one_with_images_relative_to_it(tmp_path):
    """The README holds some sections, a docs page the others; a section in two pages is
    refused, and the figures' images are linked from where their page is."""
    results, docs = tmp_path / "results", tmp_path / "docs"
    docs.mkdir()
    records.append_record("accuracy", _accuracy_payload(), results)
    readme, page = write_readme(tmp_path / "README.md"), docs / "results.md"
    moved = ("figures", "accuracy")
    text = readme.read_text()
    for name in moved:
        text = text.replace(f"<!-- twinbench:{name} -->\nPLACEHOLDER\n<!-- /twinbench:{name} -->\n",
                            "")
    readme.write_text(text)
    page.write_text("# results\n" + "".join(
        f"<!-- twinbench:{n} -->\nPLACEHOLDER\n<!-- /twinbench:{n} -->\n" for n in moved))
    rec = json.loads(next((results / "records" / "accuracy").glob("*.json")).read_text())
    rec["histories"] = {"scratch": [{"epoch": 1, "train_loss": 0.5, "test_accuracy": 90.0,
                                     "samples_per_second": 1.0}]}
    records.append_record("accuracy", {k: v for k, v in rec.items()
                                       if k not in ("kind", "time", "machine")}, results)
    report.write_report(results, [readme, page])
    assert report.check_report(results, [readme, page]) == []
    figures = section(page.read_text(), "figures")
    assert "(../results/curves-mlp.png)" in figures and "### mlp" in figures
    assert "no confusion matrix: the record predates them" in figures
    assert "| mlp " in section(page.read_text(), "accuracy")
    assert "PLACEHOLDER" not in readme.read_text() + page.read_text()
    # the same section in two pages is refused, naming both
    readme.write_text(readme.read_text()
                      + "<!-- twinbench:accuracy -->\n<!-- /twinbench:accuracy -->\n")
    with pytest.raises(ValueError, match="twinbench:accuracy --> is in both"):
        report.check_report(results, [readme, page])


def test_committed_readme_is_up_to_date_with_committed_records():
    stale = report.check_published(ROOT)
    assert stale == [], f"run `twinbench report`: stale {stale}"


def test_the_published_set_is_named_and_every_published_record_is_listed():
    manifest = json.loads((ROOT / "results" / "published.json").read_text())
    listed = set(manifest["records"])
    assert manifest["name"] and listed
    assert listed <= set(records.all_record_files(ROOT / "results"))
    readme = (ROOT / "README.md").read_text()
    assert f"Run set: {manifest['name']} (the published reference)" in readme


def _pages() -> dict[Path, str]:
    return {page: page.read_text() for page in report.published_pages(ROOT)}


def test_the_published_pages_show_every_published_plot():
    """Each PNG in results/ is shown by the README or a docs page, linked relative to it;
    and the report removes a plot no record draws any more (as it did weights-lstm.png,
    drawn from the output layer), so nothing stale stays there."""
    pages = _pages()
    for png in sorted((ROOT / "results").glob("*.png")):
        assert any(f"({'../' * (p.parent != ROOT)}results/{png.name})" in text
                   for p, text in pages.items()), png.name


def test_the_results_page_links_every_tables_file():
    """docs/results.md's "Every table as a file" names each table `report` writes."""
    from bench.results.registry import TABLES

    section = (ROOT / "docs" / "results.md").read_text().partition("## Every table as a file")[2]
    for spec in TABLES:
        assert f"(../results/{spec.name}.md)" in section, spec.name


def test_the_readme_is_short_and_the_docs_hold_the_details():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 250
    assert "<!-- twinbench:verdict -->" in readme and "(results/speed-batch.png)" in readme
    assert "## What is there" not in readme  # ARCHITECTURE.md is the map
    for name in ("cli", "scratch", "check", "results", "formats", "demo"):
        assert (ROOT / "docs" / f"{name}.md").is_file() and f"(docs/{name}.md)" in readme
    # every seed write-up is cited on the results page, beside the generated seeds table
    results = (ROOT / "docs" / "results.md").read_text()
    for seed in ("seed-000", "seed-001", "seed-002", "seed-003", "seed-004"):
        assert f"- **{seed}**" in results, seed
    assert "<!-- twinbench:seeds -->" in results


# --- the machine id --------------------------------------------------------------------

def _fp(**changes):
    fp = {"cpu": "AMD EPYC", "cores": 2, "memory_gib": 23.5, "os": "Linux 6", "python": "3.11.7",
          "numpy": "2.4.6", "numpy_build": {"blas": "scipy-openblas 0.3.31"},
          "numpy_blas": [{"internal_api": "openblas", "version": "0.3.31",
                          "architecture": "SkylakeX", "threading_layer": "pthreads",
                          "num_threads": 2}],
          "torch": "2.13.0+cpu", "torch_build": {"blas": "mkl", "cpu_capability": "AVX512",
                                                 "parallel_backend": "OpenMP",
                                                 "git_version": "cf30153c"},
          "torch_threads": 2, "scratch_threads": 2, "cuda": None, "thread_env": {},
          "governor": "performance",
          "load": {"average": [0.1, 0.1, 0.1], "other_cpu_share": 0.0}, "git_commit": "abc"}
    for key, value in changes.items():
        fp[key] = value
    return fp


def _blas(**changes):
    return [{**_fp()["numpy_blas"][0], **changes}]


@pytest.mark.parametrize("change", [
    {"numpy_blas": _blas(architecture="Haswell")},   # the issue: Haswell vs SkylakeX kernel
    {"numpy_blas": _blas(internal_api="mkl")},
    {"scratch_threads": 1},
    {"torch_threads": 1},
    {"thread_env": {"OPENBLAS_CORETYPE": "Haswell"}},
    {"thread_env": {"OMP_NUM_THREADS": "1"}},
    {"numpy_build": {"blas": "accelerate"}},
    {"torch_build": {**_fp()["torch_build"], "cpu_capability": "AVX2"}},
    {"torch": "2.13.0+cu121"},
])
def test_the_machine_id_tells_builds_kernels_and_thread_settings_apart(change):
    assert machine.machine_id(_fp(**change)) != machine.machine_id(_fp())


def test_the_machine_id_ignores_load_and_commit():
    busy = _fp(load={"average": [9.0, 9.0, 9.0], "other_cpu_share": 0.9}, git_commit="def")
    assert machine.machine_id(busy) == machine.machine_id(_fp())


def test_another_packages_blas_is_not_the_machine():
    """scikit-learn and SciPy load their own OpenBLAS: a fingerprint taken after they were
    imported names the same machine, and so does a record that listed them."""
    scipys = {**_fp()["numpy_blas"][0], "version": "0.3.30", "architecture": "Haswell"}
    listed = _fp(numpy_blas=[*_fp()["numpy_blas"], scipys])
    assert machine.machine_id(listed) == machine.machine_id(_fp())
    import numpy as np

    root = Path(np.__file__).resolve().parent
    infos = [{"user_api": "blas", "filepath": str(root.parent / "numpy.libs" / "libopenblas.so")},
             {"user_api": "blas", "filepath": "/site-packages/scipy.libs/libopenblas.so"},
             {"user_api": "openmp", "filepath": "/usr/lib/libgomp.so"}]
    assert machine._numpys_blas(infos, np) == infos[:1]
    assert machine._numpys_blas(infos[1:], np) == infos[1:2]  # a system numpy: all BLAS


def test_records_get_the_current_id_rule(tmp_path):
    path = records.append_record("ceiling", {"matmul": []}, tmp_path)
    rec = json.loads(path.read_text())
    rec["machine"]["machine_id"] = "oldrule0"
    path.write_text(json.dumps(rec))
    assert records.load_records("ceiling", tmp_path)[0]["machine"]["machine_id"] == \
        machine.machine_id(rec["machine"])


# --- tables never mix machines; they say when a measurement was unsteady or busy ---------

def _speed_record(machine_fp, median_torch=1e-3, iqr_torch=1e-5, extra=()):
    cases = [("mlp-128", 32, "float32", "step"), ("mlp-128", 32, "float64", "forward"),
             *extra]
    bm = []
    for arch, batch, dtype, phase in cases:
        for impl, med, iqr in (("scratch", 2e-3, 2e-5), ("torch", median_torch, iqr_torch)):
            bm.append({"arch": arch, "batch": batch, "dtype": dtype, "threads": 1,
                       "phase": phase, "impl": impl, "median": med, "iqr": iqr, "flops": 1e6})
    return {"kind": "speed", "time": "2026-11-22T04:04:23+00:00", "machine": machine_fp,
            "benchmarks": bm, "file": "speed/x.json"}


def _with_id(fp):
    return {**fp, "machine_id": machine.machine_id(fp)}


def test_a_table_shows_one_machine_and_says_what_it_left_out():
    skylake, haswell = _with_id(_fp()), _with_id(_fp(numpy_blas=_blas(architecture="Haswell")))
    recs = [{**_speed_record(skylake), "file": "speed/a.json"},
            {**_speed_record(haswell, median_torch=5e-3), "file": "speed/b.json"}]
    kept, left_out = tables.one_machine(recs)
    assert [r["file"] for r in kept] == ["speed/b.json"] and left_out == 1
    text = tables.section("Run set: t", kept, tables.speed_table, left_out)
    assert "Haswell" in text and "SkylakeX" not in text
    assert "1 older record from other machines left out" in text


def test_accuracy_records_of_two_machines_make_two_tables_newest_machine_first(tmp_path):
    """A new experiment run on another machine adds a table; the older machine's rows stay,
    in their own table, and no table mixes the two."""
    skylake, haswell = _with_id(_fp()), _with_id(_fp(numpy_blas=_blas(architecture="Haswell")))
    for i, (fp, name) in enumerate([(skylake, "mlp"), (skylake, "cnn"), (haswell, "lstm")]):
        rec = {"kind": "accuracy", "time": f"2026-11-22T0{i}:00:00+00:00", "machine": fp,
               **_accuracy_payload(name)}
        path = tmp_path / "records" / "accuracy" / f"2026112{i}-{fp['machine_id']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rec))
    text = report.build_tables(tmp_path)["accuracy"]
    first, second = text.split("Run set:")[1:]
    assert "Haswell" in first and "SkylakeX" not in first and "| lstm " in first
    assert "SkylakeX" in second and "| mlp " in second and "| cnn " in second
    assert "| lstm " not in second and "left out" not in text


def test_large_spread_is_marked_and_iqr_never_prints_in_exponent_form():
    rec = _speed_record(_with_id(_fp()), median_torch=0.542, iqr_torch=0.104)
    text = tables.section("Run set: t", [rec], tables.speed_table)
    assert [r["torch ms (IQR % of median)"] for r in markdown_rows(text)] == ["542 (19%)"]
    assert "e+" not in text and tables.SPREAD_MARK not in text
    rec = _speed_record(_with_id(_fp()), median_torch=0.0319, iqr_torch=0.035)
    text = tables.section("Run set: t", [rec], tables.speed_table)
    assert [r["torch ms (IQR % of median)"] for r in markdown_rows(text)] == [
        f"31.9 (110%){tables.SPREAD_MARK}"]
    assert "1 timing with an interquartile range above 25% of the median" in text


def test_a_busy_machine_is_called_out():
    busy = _with_id(_fp(load={"average": [3.9, 3.0, 2.0], "other_cpu_share": 0.45}))
    text = tables.section("Run set: t", [_speed_record(busy)], tables.speed_table)
    assert "**Busy machine**" in text and "other processes used 45% of the CPUs" in text
    calm = tables.section("Run set: t", [_speed_record(_with_id(_fp()))], tables.speed_table)
    assert "Busy machine" not in calm


def test_only_a_table_with_timings_warns_of_a_busy_machine():
    """Load cannot change lockstep's differences or the peers' parity: their captions say
    nothing of it; every table with a time in it warns."""
    from bench.results.registry import TABLE

    assert {name for name, spec in TABLE.items() if not spec.timed} == {
        "lockstep", "peers-parity"}
    busy = _with_id(_fp(load={"average": [3.9, 3.0, 2.0], "other_cpu_share": 0.45}))
    rec = {**_speed_record(busy), "time": "2026-11-22T00:00:00+00:00"}
    assert "Busy machine" in TABLE["speed"].render("Run set: t", [rec])
    assert "Busy machine" not in tables.section("Run set: t", [rec], tables.speed_table,
                                                timed=False)


def test_speed_all_holds_every_case_of_its_run():
    extra = [("cnn-16-32", b, dt, ph) for b in (1, 32) for dt in ("float32", "float64")
             for ph in ("forward", "backward", "step")]
    rec = _speed_record(_with_id(_fp()), extra=extra)
    frame = tables.speed_all_table([rec]).frame
    assert len(frame) == len(rec["benchmarks"]) // 2  # one row per case, both twins in it


def _tta_record(name, budget, seconds):
    """A tta record: `seconds` maps each twin to its seeds' times (None: not reached)."""
    return {"experiment": {"name": name}, "target": 99.0, "budget_s": budget,
            "machine": _fp(torch_threads=1),
            "runs": [{"impl": impl, "seed": i, "seconds": s, "epochs": None if s is None else 3}
                     for impl, secs in seconds.items() for i, s in enumerate(secs)]}


def test_time_to_accuracy_rows_give_the_ratio_to_torch_and_the_budgets_verdict():
    recs = [_tta_record("speedrun-cnn", 20.0, {"scratch": [30.0, 40.0, 50.0],
                                               "torch": [10.0, 20.0, 30.0]}),
            _tta_record("speedrun-mlp", 5.0, {"scratch": [4.0, 4.5, None],
                                              "torch": [3.0, 3.5, 4.0]}),
            {**_tta_record("mlp", None, {"scratch": [8.0], "torch": [4.0]}),
             "budget_s": None}]
    rows = [dict(r) for r in tables.tta_table(recs).frame.to_dict("records")]
    got = [(r["experiment"], r["twin"], r["reached"], r["median s"],
            r["time-to-target ratio scratch/torch (<1: scratch faster)"], r["budget s"])
           for r in rows]
    assert {r["threads scratch / torch"] for r in rows} == {"2 / 1"}
    assert got == [
        ("speedrun-cnn", "scratch", "3/3", "40.0", "2.00", "20: missed"),
        ("speedrun-cnn", "torch", "3/3", "20.0", "1.00", "20: met"),
        # a seed that never reached the target misses the budget whatever the median
        ("speedrun-mlp", "scratch", "2/3", "4.2", "1.21", "5: missed"),
        ("speedrun-mlp", "torch", "3/3", "3.5", "1.00", "5: met"),
        ("mlp", "scratch", "1/1", "8.0", "2.00", "-"),
        ("mlp", "torch", "1/1", "4.0", "1.00", "-"),
    ]


def test_the_headline_leaves_out_cis_checks_and_the_write_ups():
    from bench.results.registry import TABLE

    def kept(spec, *names):
        return [n for n in names if TABLE[spec].keep({"experiment": {"name": n}})]

    assert kept("verdict", "mlp", "ci-mlp", "seed-000", "resnet-fashion") == [
        "mlp", "resnet-fashion"]
    assert kept("accuracy", "mlp", "ci-mlp", "seed-000") == ["mlp", "ci-mlp"]
    assert kept("seeds", "mlp", "ci-mlp", "seed-000") == ["seed-000"]


def test_generative_entropy_of_one_class_reads_zero_not_minus_zero():
    score = {impl: {"confident": 1.0, "entropy": -0.0, "histogram": [5] + [0] * 9}
             for impl in ("scratch", "torch")}
    rec = {"experiment": {"name": "ci-dcgan", "objective": "gan", "epochs": 1},
           "final_test_loss": {"scratch": 0.08, "torch": 0.08},
           "seconds_per_epoch": {"scratch": 1.0, "torch": 1.0},
           "pictures": {"sample_diff": [1e-3]}, "score": score}
    (row,) = tables.generative_table([rec]).frame.to_dict("records")
    assert row["class entropy (bits) scratch / torch"] == "0.00 / 0.00"


def test_claim_verdicts():
    assert tables.claim_verdict(91.68, 79.0) == "exceeded (+12.7 points)"
    assert tables.claim_verdict(85.31, 85.0) == "reproduced"
    assert tables.claim_verdict(80.0, 84.0) == "not reproduced (-4.0 points)"
    assert tables.claim_verdict(97.0, None) == "no figure to check"


# --- the published reference and a user's runs --------------------------------------------

def fake_checkout(tmp_path: Path) -> Path:
    """A directory that find_checkout recognises, with a README and an empty results/."""
    root = tmp_path / "checkout"
    (root / "results").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "twinbench"\n')
    write_readme(root / "README.md")
    return root


def test_publishing_a_run_renders_only_the_published_records(tmp_path, monkeypatch):
    root = fake_checkout(tmp_path)
    monkeypatch.chdir(root)
    monkeypatch.delenv(records.RESULTS_ENV, raising=False)
    run = records.new_run_dir("accuracy")
    assert run.parent == root / "runs"
    records.append_record("accuracy", _accuracy_payload(scratch=98.61), run)
    run_set, changed = report.publish_run(run, root, "first")
    assert str(root / "README.md") in changed
    assert report.check_published(root) == []
    manifest = json.loads((root / "results" / "published.json").read_text())
    assert manifest["name"] == "first" and len(manifest["records"]) == 1
    published = markdown_rows(section((root / "README.md").read_text(), "accuracy"))
    assert [r["scratch %"] for r in published] == ["98.61"]
    # a record that reaches results/records without being published changes nothing
    records.append_record("accuracy", _accuracy_payload(scratch=11.11), root / "results")
    assert report.check_published(root) == []
    assert "11.11" not in report.build_tables(open_run_set(root / "results"))["accuracy"]
    # nor does a run in progress or interrupted under runs/
    records.append_record("accuracy", _accuracy_payload(scratch=22.22), records.new_run_dir("b"))
    assert report.check_published(root) == []


def test_the_committed_check_ignores_a_users_results_directory(tmp_path, monkeypatch):
    # TWINBENCH_RESULTS is passed through tox: it must not redirect the committed check
    monkeypatch.setenv(records.RESULTS_ENV, str(tmp_path))
    records.append_record("accuracy", _accuracy_payload(scratch=33.33), tmp_path / "run")
    assert report.check_published(ROOT) == []


def test_the_summary_compares_with_the_reference_and_names_what_differs(tmp_path):
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "run"
    skylake, haswell = _with_id(_fp()), _with_id(_fp(numpy_blas=_blas(architecture="Haswell")))
    for directory, fp, med in ((ref_dir, skylake, 1e-3), (run_dir, haswell, 2e-3)):
        (directory / "records" / "speed").mkdir(parents=True)
        rec = _speed_record(fp, median_torch=med)
        (directory / "records" / "speed" / "r.json").write_text(json.dumps(rec))
    from bench.results.summary import summarize

    text = summarize(open_run_set(run_dir), open_run_set(ref_dir))
    assert "**a different machine**" in text
    assert "numpy_blas[0].architecture: Haswell here, SkylakeX in the reference" in text
    assert "1.00x the reference's time for scratch and 2.00x for torch" in text
    assert "No published reference" in summarize(open_run_set(run_dir), None)


def test_the_summary_finds_each_experiments_reference_on_any_machine(tmp_path):
    """The reference's mlp was measured on one machine, a later lstm on another: a run of
    mlp is compared with the reference's mlp, and named against that machine."""
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "run"
    skylake, haswell = _with_id(_fp()), _with_id(_fp(numpy_blas=_blas(architecture="Haswell")))
    for i, (directory, fp, name, acc) in enumerate((
            (ref_dir, skylake, "mlp", 98.6), (ref_dir, haswell, "lstm", 99.0),
            (run_dir, skylake, "mlp", 97.0))):  # the lstm record is the reference's newest
        rec = {"kind": "accuracy", "time": f"2026-11-22T0{i}:00:00+00:00", "machine": fp,
               **_accuracy_payload(name, acc, acc)}
        path = directory / "records" / "accuracy" / f"{i}-{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rec))
    from bench.results.summary import summarize

    text = summarize(open_run_set(run_dir), open_run_set(ref_dir))
    assert f"machine {skylake['machine_id']}:" in text and "the same machine" in text
    row = next(line for line in text.splitlines() if line.startswith("| mlp "))
    assert "| 97.00 " in row and "| 98.60 " in row


def test_an_unwritable_results_directory_is_named_before_any_work(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(records.RESULTS_ENV, str(blocker / "results"))
    with pytest.raises(records.ResultsDirError, match=f"cannot write results to {blocker}"):
        records.new_run_dir("bench")


def test_fields_the_reference_predates_say_so():
    from bench.results.summary import fingerprint_differences

    old = _fp()
    del old["torch_threads"]
    old["numpy_blas"] = [{k: v for k, v in old["numpy_blas"][0].items()
                          if k != "threading_layer"}]
    diffs = fingerprint_differences(_fp(), old)
    assert diffs == ["numpy_blas[0].threading_layer: pthreads here, not recorded in the reference",
                     "torch_threads: 2 here, not recorded in the reference"]


# --- one table registry; report and summary read it -----------------------------------------

def test_every_declared_table_renders_from_its_kind_and_every_kind_has_a_table(tmp_path):
    from bench.results.registry import TABLE, TABLES

    assert {spec.kind for spec in TABLES} == set(records.KINDS)
    assert len(TABLE) == len(TABLES)  # no name declared twice
    records.append_record("accuracy", _accuracy_payload(), tmp_path)
    records.append_record("ceiling", {"matmul": [
        {"library": "numpy", "dtype": "float32", "threads": 1, "n": 64, "gflops": 12.5}]},
        tmp_path)
    built = report.build_tables(tmp_path)
    assert list(built) == [spec.name for spec in TABLES]
    for spec in TABLES:
        held = spec.kind in ("accuracy", "ceiling") and spec.name != "seeds"
        assert ("Machine: " in built[spec.name]) == held, spec.name
        assert ("_No records yet" in built[spec.name]) != held, spec.name
    report.write_report(tmp_path)
    for spec in TABLES:
        assert (tmp_path / f"{spec.name}.md").read_text().splitlines()[1] == f"# {spec.title}"


def test_the_pages_have_markers_for_exactly_the_readme_tables():
    text = "".join(_pages().values())  # each section in one page
    opened = re.findall(r"<!-- twinbench:([\w-]+) -->", text)
    closed = re.findall(r"<!-- /twinbench:([\w-]+) -->", text)
    assert sorted(opened) == sorted(closed) == sorted(report.README_SECTIONS)
    from bench.results.registry import TABLES

    assert {s.name for s in TABLES if s.readme} == set(report.README_SECTIONS) - {"figures"}


def test_check_report_writes_nothing_and_write_report_clears_what_it_found(tmp_path, readme):
    records.append_record("accuracy", _accuracy_payload(), tmp_path)
    before = readme.read_text()
    stale = report.check_report(tmp_path, readme)
    assert str(readme) in stale and str(tmp_path / "accuracy.md") in stale
    assert readme.read_text() == before and [p.name for p in tmp_path.glob("*.md")] == ["README.md"]
    assert report.write_report(tmp_path, readme) == stale
    assert report.check_report(tmp_path, readme) == []


def test_finish_run_renders_the_run_and_publishes_only_when_asked(tmp_path, monkeypatch):
    root = fake_checkout(tmp_path)
    monkeypatch.chdir(root)
    monkeypatch.delenv(records.RESULTS_ENV, raising=False)
    run = records.run_dir(None, "accuracy")
    assert run.parent == root / "runs" and run.name.startswith("accuracy-")
    records.append_record("accuracy", _accuracy_payload(scratch=98.61), run)
    readme = (root / "README.md").read_text()
    done = report.finish_run(run, publish=False)
    assert done.summary == run / "summary.md" and done.text == done.summary.read_text()
    assert "98.61" in (run / "accuracy.md").read_text()
    assert done.published is None and done.changed == ()
    assert (root / "README.md").read_text() == readme
    assert not (root / "results" / "published.json").exists()
    done = report.finish_run(run, publish=True, name="mine", render=False)
    assert done.summary is None and done.published.name == "mine"
    assert str(root / "README.md") in done.changed
    assert json.loads((root / "results" / "published.json").read_text())["records"] == \
        sorted(done.published.files)
    assert report.check_published(root) == []


def test_finish_run_cannot_publish_outside_a_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = records.run_dir(tmp_path / "run", "unused")
    assert run == tmp_path / "run" and run.is_dir()
    records.append_record("accuracy", _accuracy_payload(), run)
    with pytest.raises(UserError, match="run from a checkout"):
        report.finish_run(run, publish=True, render=False)


def test_a_peers_run_summary_names_its_machine(tmp_path):
    from bench.results.summary import summarize

    records.append_record("peers-speed", {"threads": 1, "rows": []}, tmp_path)
    text = summarize(open_run_set(tmp_path), None)
    assert "Machine: " in text and "measured nothing" not in text


def _lockstep_record(dtype, gap, ulp=None, name="lstm"):
    rec = {"kind": "lockstep", "time": "2026-11-22T00:00:00+00:00", "machine": _fp(),
           "experiment": {"name": name, "epochs": 1}, "dtype": dtype, "steps": 469,
           "max_loss_diff": 1e-6, "max_weight_rel_diff": gap,
           "test_accuracy": {"scratch": 97.0, "torch": 97.0}, "file": "lockstep/x.json"}
    return rec if ulp is None else {**rec, "ulp_weight_rel_diff": ulp}


def test_each_lockstep_row_states_its_bound_and_chaos_is_told_by_the_ulp_experiment():
    recs = [_lockstep_record("float64", 2e-15, 1e-15, "mlp"),
            _lockstep_record("float64", 2.96e-5, 1.1e-5),      # the LSTM row
            _lockstep_record("float64", 2.96e-5, 1e-9, "vit"),  # a real difference
            _lockstep_record("float32", 0.64),                  # an older record
            _lockstep_record("float32", 5e-4, None, "cnn")]
    table = tables.lockstep_table(recs)
    rows = table.frame.to_dict("records")
    assert [(r["bound"], r["verdict"]) for r in rows] == [
        ("1e-08", "within bound"),
        ("1e-08", "chaotic: one ulp drifts scratch from itself 1.1e-05"),
        ("1e-08", "above bound: one ulp drifts only 1.0e-09, so not rounding"),
        ("1e-03", "above bound; no ulp experiment (older record)"),
        ("1e-03", "within bound")]
    assert rows[1]["one ulp: scratch vs itself"] == "1.10e-05" and rows[3][
        "one ulp: scratch vs itself"] == "-"
    assert {r["threads scratch / torch"] for r in rows} == {"2 / 2"}
    assert any("the ulp experiment" in n and "1e-08 in float64" in n for n in table.notes)


def test_an_interrupted_time_to_accuracy_record_says_how_many_seeds_it_kept():
    rec = {**_tta_record("speedrun-mlp", 5.0, {"scratch": [4.0, 4.5], "torch": [3.0, 3.5]}),
           "seeds_planned": 5}
    notes = tables.tta_table([rec]).notes
    assert "speedrun-mlp: interrupted after 2 of 5 seeds; the finished seeds are shown." in notes
    assert not any("interrupted" in n for n in tables.tta_table(
        [{**rec, "seeds_planned": 2}]).notes)


def _tta_part(seeds, first, target=99.0, machine_id="m1", planned=None, file="tta/p.json",
              scratch_s=10.0):
    """One part of a time-to-accuracy run: both twins over `seeds` from `first`."""
    return {"experiment": {"name": "resnet-fashion"}, "target": target, "budget_s": None,
            "machine": {**_fp(), "machine_id": machine_id}, "file": file,
            "seeds_planned": len(seeds) if planned is None else planned, "first_seed": first,
            "eval_batch": {"scratch": 500, "torch": 1000},
            "runs": [{"impl": impl, "seed": seed, "epochs": 14, "eval_batch": batch,
                      "seconds": scratch_s + seed if impl == "scratch" else 5.0 + seed}
                     for seed in seeds for impl, batch in (("scratch", 500), ("torch", 1000))]}


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6).flatmap(lambda n: st.tuples(
    st.just(n), st.sets(st.integers(1, n - 1), max_size=n - 1) if n > 1 else st.just(set()))))
def test_time_to_accuracy_measured_in_parts_reads_as_one_run(n_and_cuts):
    """Seeds 0..n-1 cut into consecutive parts, each recorded apart: the merged record
    holds the same runs, and its table the same rows, as one run of every seed."""
    n, cuts = n_and_cuts
    bounds = [0, *sorted(cuts), n]
    whole = _tta_part(range(n), 0)
    parts = [_tta_part(range(a, b), a, file=f"tta/{i}.json")
             for i, (a, b) in enumerate(zip(bounds, bounds[1:]))]
    (merged,) = records.merge_seed_parts(parts)
    assert merged["runs"] == whole["runs"]
    assert (merged["seeds_planned"], merged["first_seed"]) == (n, 0)
    assert tables.tta_table([merged]).frame.equals(tables.tta_table([whole]).frame)
    assert len(parts) == 1 or f"measured in {len(parts)} parts" in " ".join(
        tables.tta_table([merged]).notes)


def test_time_to_accuracy_parts_merge_only_alike_and_a_newer_seed_wins():
    old, new = _tta_part([0, 1], 0, file="tta/a.json"), _tta_part([1, 2], 1, scratch_s=20.0,
                                                                  file="tta/b.json")
    (merged,) = records.merge_seed_parts([old, new])
    scratch = {r["seed"]: r["seconds"] for r in merged["runs"] if r["impl"] == "scratch"}
    assert scratch == {0: 10.0, 1: 21.0, 2: 22.0} and merged["parts"] == ["tta/a.json",
                                                                           "tta/b.json"]
    # another target or machine is another row; a part interrupted early is told
    apart = [old, _tta_part([2], 2, target=98.0), _tta_part([3], 3, machine_id="m2")]
    assert records.merge_seed_parts(apart) == apart
    (short,) = records.merge_seed_parts([old, _tta_part([2], 2, planned=3)])
    assert short["seeds_planned"] == 5
    assert "resnet-fashion: interrupted after 3 of 5 seeds" in " ".join(
        tables.tta_table([short]).notes)
    # parts that chose different evaluation batches: each run's is shown
    other = _tta_part([2], 2)
    other["eval_batch"] = {"scratch": 250, "torch": 1000}
    other["runs"][0]["eval_batch"] = 250
    (mixed,) = records.merge_seed_parts([old, other])
    rows = tables.tta_table([mixed]).frame.set_index("twin")["eval batch"]
    assert (rows["scratch"], rows["torch"]) == ("250, 500", "1000")
    # older records that do not name their seeds are not merged: the newest stands
    unnamed = [{**p, "runs": [{k: v for k, v in r.items() if k != "seed"} for r in p["runs"]]}
               for p in (old, new)]
    assert records.merge_seed_parts(unnamed) == unnamed[1:]


def test_the_run_set_reads_time_to_accuracy_parts_as_one(tmp_path):
    for seeds, first in (([0], 0), ([1, 2], 1)):
        part = _tta_part(seeds, first)
        records.append_record("tta", {k: v for k, v in part.items()
                                      if k not in ("machine", "file")}, tmp_path)
    (rec,) = open_run_set(tmp_path).load("tta")
    assert sorted({r["seed"] for r in rec["runs"]}) == [0, 1, 2] and len(rec["parts"]) == 2
    assert len(records.load_records("tta", tmp_path)) == 2  # the files stay as written


def test_the_summary_compares_time_to_accuracy_only_at_the_same_target():
    from bench.results.summary import _tta

    mine = _tta_record("mlp", None, {"scratch": [8.0], "torch": [4.0]})
    same, other = ({**mine, "target": t} for t in (99.0, 98.0))
    assert "| 8.0 " in _tta([mine], [same])[1].split("\n")[2]
    text = _tta([mine], [other])[1]
    assert "- (its target: 98.0)" in text and "8.0" in text
