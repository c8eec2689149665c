"""Hostile and damaged records: each is refused in one line naming the file, publishing
checks a whole run before it copies anything and writes all or nothing, the published set
is replaced whole only by a complete run from one machine, and no record's text can place a
marker in the README."""

import json
import os
import signal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_report import _accuracy_payload, _fp, _speed_record, _with_id, fake_checkout

from bench import cli
from bench.results import records, report
from bench.results.records import RecordError, open_run_set
from bench.results.registry import TABLES

INJECTED = "mlp\n<!-- /twinbench:accuracy -->INJECT"


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    root = fake_checkout(tmp_path)
    monkeypatch.chdir(root)
    monkeypatch.delenv(records.RESULTS_ENV, raising=False)
    return root


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under the checkout but runs/, with the bytes of each file."""
    return {str(p.relative_to(root)): (None if p.is_dir() else p.read_bytes())
            for p in sorted(root.rglob("*")) if "runs" not in p.relative_to(root).parts}


def run_with(root: Path, name: str, kind: str, payloads: list[dict]) -> Path:
    run = root / "runs" / name
    for payload in payloads:
        records.append_record(kind, payload, run)
    return run


def write_record(run: Path, kind: str, rec, name: str = "x.json") -> Path:
    path = run / "records" / kind / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(rec if isinstance(rec, str) else json.dumps(rec))
    return path


def _ceiling(**changes) -> dict:
    rec = {"kind": "ceiling", "time": "2026-11-22T00:00:00+00:00", "machine": _fp(),
           "matmul": [{"library": "numpy", "dtype": "float32", "threads": 1, "n": 64,
                       "gflops": 12.5}]}
    return {**rec, **changes}


# --- item 8: `report RUN_DIR` on damaged records: one line each, exit 1 --------------------

def _deep(run: Path) -> Path:
    return write_record(run, "ceiling", "[" * 100_000 + "]" * 100_000)


def _fifo(run: Path) -> Path:
    path = run / "records" / "ceiling" / "x.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def _link_to_zero(run: Path) -> Path:
    path = run / "records" / "ceiling" / "x.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to("/dev/zero")
    return path


def _directory(run: Path) -> Path:
    path = run / "records" / "ceiling" / "x.json"
    path.mkdir(parents=True)
    return path


DAMAGED = {
    "matmul entries not objects": (lambda run: write_record(
        run, "ceiling", _ceiling(matmul=[5, "x"])), "matmul[0]: expected an object"),
    "machine {}": (lambda run: write_record(run, "ceiling", _ceiling(machine={})),
                   "machine.cpu: missing"),
    "NaN in matmul": (lambda run: write_record(run, "ceiling", json.dumps(_ceiling()).replace(
        "12.5", "NaN")), "matmul[0].gflops: expected a finite number, got nan"),
    "benchmarks [{'name': 1}, 5]": (lambda run: write_record(
        run, "speed", {**_ceiling(kind="speed"), "benchmarks": [{"name": 1}, 5]}),
        "benchmarks[0].arch: missing"),
    "a directory": (_directory, "expected a regular file, found a directory"),
    "nested 100,000 deep": (_deep, "expected JSON nested at most 32 deep, found 100000"),
    "a symlink to /dev/zero": (_link_to_zero, "expected a regular file, found a symbolic link"),
    "a FIFO": (_fifo, "expected a regular file, found a special file"),
}


@pytest.mark.parametrize("case", list(DAMAGED))
def test_report_run_dir_names_each_damaged_record_in_one_line(case, tmp_path, capsys):
    make, says = DAMAGED[case]
    run = tmp_path / "run"
    path = make(run)
    def hang(signum, frame):
        raise TimeoutError(f"{case}: still reading after 20 s")

    # a FIFO opened for reading waits for a writer: fail, never hang
    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(20)
    try:
        assert cli.main(["report", str(run)]) == 1
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"twinbench report: {path}: not a valid ") and says in err[0], err
    assert err[1:] == ["(--debug shows where this came from)"]


def test_a_stray_bad_record_in_results_breaks_no_later_report(checkout):
    report.publish_run(run_with(checkout, "a", "accuracy", [_accuracy_payload()]), checkout)
    write_record(checkout / "results", "ceiling", "{}")  # not listed in the manifest
    assert report.check_published(checkout) == []
    listed = open_run_set(checkout / "results")
    bad = write_record(checkout / "results", "accuracy", "{}", sorted(listed.files)[0]
                       .partition("/")[2])  # a listed record damaged: named, one line
    with pytest.raises(RecordError, match=rf"^{bad}: not a valid record: kind: expected"):
        report.check_published(checkout)


# --- item 3: publishing checks the whole run before it copies anything --------------------

def test_publish_refuses_a_run_with_one_bad_record_and_changes_nothing(checkout, capsys):
    assert cli.main(["report", "--publish", str(run_with(
        checkout, "a", "accuracy", [_accuracy_payload()])), "--allow-incomplete"]) == 0
    before = snapshot(checkout)
    run = run_with(checkout, "b", "accuracy", [_accuracy_payload("cnn")])
    bad = write_record(run, "ceiling", "{}")
    capsys.readouterr()
    assert cli.main(["report", "--publish", str(run)]) == 1
    assert f"{bad}: not a valid record" in capsys.readouterr().err
    assert snapshot(checkout) == before
    assert cli.main(["report", "--check"]) == 0 and cli.main(["report"]) == 0


def test_a_symlinked_record_is_refused_and_its_target_never_copied(checkout, tmp_path, capsys):
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({**_ceiling(), "matmul": [], "token": "hunter2"}))
    run = run_with(checkout, "a", "accuracy", [_accuracy_payload()])
    link = run / "records" / "ceiling" / "x.json"
    link.parent.mkdir(parents=True)
    link.symlink_to(secret)
    before = snapshot(checkout)
    assert cli.main(["report", "--publish", str(run)]) == 1
    assert f"{link}: not a valid record: expected a regular file, found a symbolic link" in \
        capsys.readouterr().err
    assert snapshot(checkout) == before
    assert not [p for p in (checkout / "results").rglob("*") if b"hunter2" in
                (p.read_bytes() if p.is_file() else b"")]


def test_a_companion_that_is_not_a_regular_file_is_refused(checkout, tmp_path):
    run = run_with(checkout, "a", "ceiling", [{"matmul": []}])
    record = next((run / "records" / "ceiling").glob("*.json"))
    records.companion(record).symlink_to(tmp_path)
    before = snapshot(checkout)
    with pytest.raises(RecordError, match="not a valid companion file: expected a regular"):
        report.publish_run(run, checkout)
    assert snapshot(checkout) == before


def test_a_failure_while_writing_leaves_results_and_readme_as_they_were(checkout, monkeypatch):
    report.publish_run(run_with(checkout, "a", "accuracy", [_accuracy_payload()]), checkout)
    before = snapshot(checkout)
    run = run_with(checkout, "b", "accuracy", [_accuracy_payload("cnn", 90.0)])
    real_replace, calls = os.replace, []

    def replace(src, dst):  # the third file renamed into place: Ctrl-C
        calls.append(dst)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        report.publish_run(run, checkout)
    monkeypatch.setattr(os, "replace", real_replace)
    # two files were in place when it came: both were put back
    assert calls[3:] == [calls[1], calls[0]] and snapshot(checkout) == before
    assert not list(checkout.rglob("*.part"))  # no temporaries left


# --- issue 28 item 1: a publish replaces the whole set, complete, from one machine ------------

def _other_machine_record(kind: str, payload: dict, when: str = "2026-11-22T00:00:00") -> dict:
    return {"kind": kind, "time": f"{when}+00:00", "machine": _fp(cpu="Another CPU"),
            **payload}


def test_publishing_replaces_the_whole_set(checkout):
    """No table keeps a row of the older run: its records leave the manifest and
    results/records, and its plots results/."""
    first = run_with(checkout, "a", "accuracy", [_accuracy_payload("mlp", 98.61)])
    run_with(checkout, "a", "ceiling", [{"matmul": []}])
    report.publish_run(first, checkout)
    old = open_run_set(checkout / "results").files
    (checkout / "results" / "curves-mlp.png").write_bytes(b"an old plot")
    report.publish_run(run_with(checkout, "b", "accuracy", [_accuracy_payload("cnn", 99.4)]),
                       checkout)
    now = open_run_set(checkout / "results")
    assert len(now.files) == 1 and not now.files & old
    tables = report.build_tables(now)
    assert "| cnn " in tables["accuracy"] and "| mlp " not in tables["accuracy"]
    assert "98.61" not in (checkout / "README.md").read_text()
    assert "No records yet" in tables["ceiling"]
    left = {f"{p.parent.name}/{p.name}" for p in (checkout / "results" / "records").rglob("*")
            if p.is_file()}
    assert left == set(now.files)
    assert not (checkout / "results" / "curves-mlp.png").exists()
    assert report.check_published(checkout) == []


REQUIRED = {"accuracy": {("mlp",), ("cnn",)}, "speed": {("grid", "full")},
            "ceiling": {("numpy", "float32")}}


def test_an_incomplete_run_is_refused_naming_what_is_missing(checkout):
    full = _speed_record(_with_id(_fp()))
    run = run_with(checkout, "a", "accuracy", [_accuracy_payload("mlp")])
    run_with(checkout, "a", "speed", [{"grid": "smoke", "benchmarks": full["benchmarks"]}])
    before = snapshot(checkout)
    with pytest.raises(records.PublishRefused) as err:
        report.publish_run(run, checkout, required=REQUIRED)
    says = str(err.value)
    assert "is incomplete for them; missing accuracy: cnn; speed: grid full (its record " \
           "holds grid smoke); ceiling: no record" in says and "--allow-incomplete" in says
    assert snapshot(checkout) == before
    report.publish_run(run, checkout, required=REQUIRED, allow_incomplete=True)
    assert report.check_published(checkout) == []


def test_the_command_line_names_what_the_full_reference_lacks(checkout, capsys):
    run = run_with(checkout, "a", "accuracy", [_accuracy_payload("mlp")])
    before = snapshot(checkout)
    assert cli.main(["report", "--publish", str(run)]) == 1
    err = capsys.readouterr().err
    for lacks in ("speed: no record", "ceiling: no record", "tta: ", "accuracy: ci-cnn,",
                  "lockstep: ", "peers-parity: no record", "peers-speed: no record",
                  "job: no record"):
        assert lacks in err, lacks
    assert "accuracy: mlp," not in err and snapshot(checkout) == before
    assert "--allow-incomplete" in cli.build_parser()._subparsers._group_actions[0].choices[
        "report"].format_help()


def test_a_run_in_parts_publishes_together_when_complete(checkout, capsys):
    full = _speed_record(_with_id(_fp()))
    one = run_with(checkout, "part1", "accuracy", [_accuracy_payload("mlp")])
    run_with(checkout, "part1", "speed", [{"grid": "full", "benchmarks": full["benchmarks"]}])
    two = run_with(checkout, "part2", "accuracy", [_accuracy_payload("cnn")])
    run_with(checkout, "part2", "ceiling", [{"matmul": [
        {"library": "numpy", "dtype": "float32", "threads": 1, "n": 64, "gflops": 1.0}]}])
    with pytest.raises(records.PublishRefused, match="missing accuracy: cnn; ceiling"):
        report.publish_run(one, checkout, required=REQUIRED)
    run_set, _ = report.publish_run([one, two], checkout, required=REQUIRED)
    assert len(run_set.files) == 4 and report.check_published(checkout) == []
    # the command line takes the parts after one --publish
    assert cli.main(["report", "--publish", str(one), str(two), "--allow-incomplete"]) == 0
    assert f"published {one} with {two} as " in capsys.readouterr().out


def test_parts_from_two_machines_are_refused_naming_both(checkout):
    one = run_with(checkout, "part1", "accuracy", [_accuracy_payload("mlp")])
    two = checkout / "runs" / "part2"
    other = _other_machine_record("accuracy", _accuracy_payload("cnn"))
    path = write_record(two, "accuracy", other, "20261122T000000Z-0123abcd-abc123.json")
    before = snapshot(checkout)
    with pytest.raises(records.PublishRefused) as err:
        report.publish_run([one, two], checkout)
    other_id = records.read_record(path)["machine"]["machine_id"]
    mine = records.read_record(next((one / "records" / "accuracy").glob("*.json")))
    says = str(err.value)
    assert "the records ran on 2 machines" in says and f"machine {other_id}: 1 record, e.g. " \
        f"{path}" in says and f"machine {mine['machine']['machine_id']}: 1 record" in says
    assert snapshot(checkout) == before
    write_record(one, "accuracy", other, "x.json")  # also within one run directory
    with pytest.raises(records.PublishRefused, match="ran on 2 machines"):
        report.publish_run(one, checkout)


def test_a_record_is_published_under_its_current_machine_id(checkout):
    """A record written under an older id rule is published named by the id its caption
    gives: one id scheme in captions and file names."""
    run = checkout / "runs" / "a"
    rec = _other_machine_record("accuracy", _accuracy_payload("mlp"))
    write_record(run, "accuracy", rec, "20261122T000000123Z-00000000-abc123.json")
    run_set, _ = report.publish_run(run, checkout)
    current = records.machine_id(rec["machine"])
    assert run_set.files == {f"accuracy/20261122T000000123Z-{current}-abc123.json"}
    assert f"[machine {current}]" in (checkout / "README.md").read_text()
    assert report.check_published(checkout) == []


def test_every_kind_says_which_rows_it_provides_and_the_reference_names_only_those():
    from bench.measure.main import reference_requirements
    from bench.results.registry import ROWS, TABLE_KINDS

    assert set(ROWS) == set(TABLE_KINDS) == set(records.KINDS)
    required = reference_requirements()
    assert set(required) == set(TABLE_KINDS)
    from bench.experiments import EXPERIMENTS
    from bench.measure.tta import TARGETS

    assert required["accuracy"] == {(name,) for name, e in EXPERIMENTS.items()
                                    if e.objective is None}
    assert required["generative"] == {(name,) for name, e in EXPERIMENTS.items()
                                      if e.objective is not None} != set()
    assert required["job"] == {("default",)}  # the README states the default job's time
    assert ("speedrun-mlp", "torch") in required["tta"] and set(TARGETS) == {
        name for name, e in EXPERIMENTS.items()
        if e.target_accuracy is not None and not name.startswith("ci-")}


# --- item 4: no injection into the README -------------------------------------------------

def test_an_experiment_outside_the_registry_is_refused(checkout, capsys):
    run = run_with(checkout, "a", "accuracy", [_accuracy_payload("not-an-experiment")])
    before = snapshot(checkout)
    assert cli.main(["report", "--publish", str(run)]) == 1
    assert "experiment 'not-an-experiment' is not in the registry" in capsys.readouterr().err
    assert snapshot(checkout) == before


def test_a_name_with_a_readme_marker_is_refused(checkout, capsys):
    run = run_with(checkout, "a", "accuracy", [_accuracy_payload(INJECTED)])
    before = snapshot(checkout)
    assert cli.main(["report", "--publish", str(run)]) == 1
    assert "experiment.name: expected a name of letters" in capsys.readouterr().err
    assert snapshot(checkout) == before


def test_record_text_is_escaped_and_cannot_place_a_marker(checkout):
    """A field no registry can vouch for (the machine's CPU name) carrying a marker, a
    newline and a pipe: the README keeps its sections, and a second report changes
    nothing."""
    hostile = _fp(cpu="EPYC | x\n<!-- /twinbench:accuracy -->INJECT <b>")
    run = checkout / "runs" / "a"
    write_record(run, "accuracy", {"kind": "accuracy", "time": "2026-11-22T00:00:00+00:00",
                                   "machine": hostile, **_accuracy_payload()})
    report.publish_run(run, checkout, "a <!-- twinbench:speed --> name")
    readme = (checkout / "README.md").read_text()
    for name in report.README_SECTIONS:
        assert readme.count(f"<!-- twinbench:{name} -->") == 1
        assert readme.count(f"<!-- /twinbench:{name} -->") == 1
    assert "INJECT" in readme and "<b>" not in readme and "&lt;b>" in readme
    assert "EPYC \\| x &lt;!-- /twinbench:accuracy -->INJECT" in readme
    assert report.check_published(checkout) == []
    assert report.write_report(checkout / "results", checkout / "README.md") == []


def test_a_section_holding_a_marker_is_refused():
    sections = {name: "ok" for name in report.README_SECTIONS}
    readme = report.render_page("".join(
        f"<!-- twinbench:{n} -->\nx\n<!-- /twinbench:{n} -->\n" for n in sections), sections)
    with pytest.raises(ValueError, match="the accuracy section holds a README marker"):
        report.render_page(readme, {**sections, "accuracy": "<!-- /twinbench:accuracy -->"})


# --- fuzzing: a record is refused in one line, or every table and the summary render ------

VALID = {
    "accuracy": {"kind": "accuracy", "time": "2026-11-22T00:00:00+00:00", "machine": _fp(),
                 **_accuracy_payload("seed-003", claim="84%", claimed_accuracy=84.0),
                 "histories": {"scratch": [{"epoch": 1, "train_loss": 0.3,
                                            "test_accuracy": 97.0,
                                            "samples_per_second": 1e4}]}},
    "tta": {"kind": "tta", "time": "2026-11-22T00:00:00+00:00", "machine": _fp(),
            "experiment": {"name": "mlp"}, "target": 97.5, "budget_s": 10.0,
            "runs": [{"impl": "scratch", "seconds": 3.0, "epochs": 2},
                     {"impl": "torch", "seconds": None, "epochs": None}]},
    "lockstep": {"kind": "lockstep", "time": "2026-11-22T00:00:00+00:00", "machine": _fp(),
                 "experiment": {"name": "mlp", "epochs": 1}, "dtype": "float64",
                 "steps": 30, "max_loss_diff": 1e-13, "max_weight_rel_diff": 2e-12,
                 "test_accuracy": {"scratch": 97.1, "torch": 97.2},
                 "loss_diffs": [1e-14] * 25},
    "generative": {"kind": "generative", "time": "2026-11-22T00:00:00+00:00", "machine": _fp(),
                   "experiment": {"name": "vae-mnist", "dataset": "mnist", "epochs": 2,
                                  "description": "d", "objective": "vae", "target_loss": 105},
                   "final_test_loss": {"scratch": 104.0, "torch": 104.1},
                   "seconds_per_epoch": {"scratch": 30.0, "torch": 10.0},
                   "histories": {"scratch": [{"epoch": 1, "train_loss": 120.0,
                                              "test_loss": 110.0}]},
                   "pictures": {"samples": {"scratch": [[[0, 255]]], "torch": [[[0, 254]]]},
                                "sample_diff": [0.004], "reconstruction_diff": [1e-7]},
                   "score": {"scratch": {"confident": 0.9, "entropy": 3.2,
                                         "histogram": [1] * 10}}},
    "speed": {**_speed_record(_fp()), "time": "2026-11-22T00:00:00+00:00"},
    "ceiling": _ceiling(),
    "job": {"kind": "job", "time": "2026-11-22T00:00:00+00:00", "machine": _fp(),
            "plan": "default", "seconds": 300.0,
            "steps": [{"title": "speed suite", "seconds": 200.0},
                      {"title": "matmul ceiling", "seconds": 99.5}]},
    "peers-parity": {"kind": "peers-parity", "time": "2026-11-22T00:00:00+00:00",
                     "machine": _fp(), "versions": {"scratch": "x"}, "peers": ["scratch"],
                     "rows": [{"peer": "scratch", "version": "x", "kind": "layer",
                               "layer": "Linear", "config": "(4, 5)", "rel64": 1e-16,
                               "rel32": None, "fd": float("nan"), "verdict": "agrees",
                               "detail": "", "note": None, "shim": None}]},
    "peers-speed": {"kind": "peers-speed", "time": "2026-11-22T00:00:00+00:00",
                    "machine": _fp(), "threads": 1,
                    "rows": [{"impl": "scratch", "version": "x",
                              "step_seconds": {"32": 1e-3}, "step_iqr": {"32": 1e-5}}]},
}

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**6) | st.text(max_size=6)
    | st.floats(allow_nan=True, allow_infinity=True),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                max_size=3),
    max_leaves=6)


def _paths(value, path=()):
    """Every path into `value` (keys and list positions), the root included."""
    yield path
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        yield from _paths(v, (*path, k))


def _mutated(rec: dict, path: tuple, new, delete: bool) -> dict:
    rec = json.loads(json.dumps(rec))
    if not path:
        return new
    *head, last = path
    parent = rec
    for k in head:
        parent = parent[k]
    if delete and isinstance(parent, dict):
        del parent[last]
    else:
        parent[last] = new
    return rec


def _render(directory: Path) -> None:
    from bench.results.summary import summarize

    run_set = open_run_set(directory)
    report.build_tables(run_set)
    summarize(run_set, run_set)


@settings(max_examples=300, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(kind=st.sampled_from(list(VALID)), data=st.data(), new=JSON, delete=st.booleans())
def test_a_damaged_record_is_refused_in_one_line_or_renders(tmp_path_factory, kind, data, new,
                                                            delete):
    rec = VALID[kind]
    path = data.draw(st.sampled_from(list(_paths(rec))))
    run = tmp_path_factory.mktemp("run")
    file = write_record(run, kind, json.dumps(_mutated(rec, path, new, delete),
                                              allow_nan=True))
    try:
        _render(run)
    except RecordError as err:
        message = str(err)
        assert message.startswith(f"{file}: not a valid ") and "\n" not in message


def test_every_valid_fuzz_seed_renders(tmp_path):
    for kind, rec in VALID.items():
        write_record(tmp_path, kind, json.dumps(rec))
    _render(tmp_path)
    built = report.build_tables(tmp_path)
    # every table has rows (the one accuracy record is a write-up's: the seeds table's, not
    # the accuracy table's or its headline's)
    assert all("_No records yet" not in built[s.name] for s in TABLES
               if s.name not in ("accuracy", "verdict"))
