"""Records and reports: append-only records, tables naming the machine, stale-README checks."""

import os

import pytest

from bench.results import records, report


def _accuracy_payload(name="mlp", scratch=98.6, torch=98.7, target=98.5, **exp):
    return {"experiment": {"name": name, "dataset": "mnist", "epochs": 20,
                           "target_accuracy": target, "description": f"{name}: d", **exp},
            "final_test_accuracy": {"scratch": scratch, "torch": torch},
            "seconds_per_epoch": {"scratch": 6.0, "torch": 4.0}, "histories": {}}


@pytest.fixture
def readme(tmp_path):
    path = tmp_path / "README.md"
    path.write_text("# x\n" + "".join(f"<!-- twinbench:{n} -->\nold\n<!-- /twinbench:{n} -->\n"
                                      for n in report.README_TABLES))
    return path


def test_records_are_appended_never_overwritten(tmp_path):
    a = records.append_record("accuracy", _accuracy_payload(), tmp_path)
    b = records.append_record("accuracy", _accuracy_payload(scratch=1.0), tmp_path)
    assert a != b and a.exists() and b.exists()
    loaded = records.load_records("accuracy", tmp_path)
    assert [r["final_test_accuracy"]["scratch"] for r in loaded] == [98.6, 1.0]
    fp = loaded[0]["machine"]
    for key in ("cpu", "cores", "memory_gib", "os", "python", "numpy", "torch", "numpy_blas",
                "torch_threads", "git_commit", "machine_id"):
        assert key in fp
    assert not [p for p in os.listdir(a.parent) if p.startswith(".")]  # no temp files left


def test_report_writes_tables_naming_the_machine_and_check_detects_staleness(tmp_path, readme):
    records.append_record("accuracy", _accuracy_payload(), tmp_path)
    records.append_record("accuracy", _accuracy_payload(
        "seed-003", 88.0, 88.1, None, claim="84% validation", claimed_accuracy=84.0), tmp_path)
    records.append_record("lockstep", {
        "experiment": {"name": "mlp", "epochs": 1}, "dtype": "float64", "steps": 469,
        "max_loss_diff": 1e-13, "max_weight_rel_diff": 2e-12,
        "test_accuracy": {"scratch": 97.1, "torch": 97.1}}, tmp_path)
    assert report.report(check=True, results_dir=tmp_path, readme=readme)  # stale before
    report.report(check=False, results_dir=tmp_path, readme=readme)
    assert report.report(check=True, results_dir=tmp_path, readme=readme) == []
    text = readme.read_text()
    assert "old" not in text and "Machine: " in text
    assert "| mlp " in text and "98.60" in text and "1.50" in text  # ratio 6.0 / 4.0
    assert "reproduced" in (tmp_path / "seeds.md").read_text()
    assert "2.00e-12" in (tmp_path / "lockstep.md").read_text()
    # a new record makes the README stale again
    records.append_record("accuracy", _accuracy_payload(scratch=97.0), tmp_path)
    stale = report.report(check=True, results_dir=tmp_path, readme=readme)
    assert str(readme) in stale and str(tmp_path / "accuracy.md") in stale


def test_corrupt_record_is_named(tmp_path):
    path = records.append_record("accuracy", _accuracy_payload(), tmp_path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match=path.name):
        records.load_records("accuracy", tmp_path)


def test_missing_markers_are_named(tmp_path):
    bare = tmp_path / "README.md"
    bare.write_text("# no markers\n")
    with pytest.raises(ValueError, match="twinbench:speed"):
        report.report(check=True, results_dir=tmp_path, readme=bare)


def test_committed_readme_is_up_to_date_with_committed_records():
    stale = report.report(check=True)
    assert stale == [], f"run `twinbench report`: stale {stale}"
