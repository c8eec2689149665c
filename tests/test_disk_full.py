"""A full disk is the user's to fix: one line naming the file (never a temporary) and the
space, exit status 1, nothing partial left behind, and a training run that cannot fit its
checkpoints refused before any data loads.

A 2 MB tmpfs filled to the last byte is the disk where the test may mount one (root, as
in CI); elsewhere those tests skip, and the ones below them inject ENOSPC where every
write passes (the atomic writer's fsync)."""

import errno
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bench import cli
from bench.errors import WriteError, write_error
from bench.results import records
from scratch import atomic

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def disk(tmp_path):
    """A 2 MB tmpfs at tmp_path/disk, unmounted afterwards."""
    where = tmp_path / "disk"
    where.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield where
    subprocess.run(["umount", str(where)], check=True)


def fill(directory: Path) -> None:
    """Take every free byte of `directory`'s file system."""
    with open(directory / "filler", "wb") as f:
        try:
            while True:
                f.write(bytes(2**16))
                f.flush()
        except OSError as err:
            assert err.errno == errno.ENOSPC


def contents(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def run(argv, capsys) -> tuple[int, str]:
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@pytest.fixture
def toy_data(monkeypatch):
    """`train` on a few random images instead of MNIST: the disk is under test."""
    import bench.training

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((150, 784)).astype(np.float32), rng.integers(0, 10, 150)
    data = bench.training.Data(x[:100], y[:100], x[100:], y[100:])
    loads = []
    monkeypatch.setattr(bench.training, "load_data", lambda exp, **kw: loads.append(1) or data)
    return loads


def test_train_onto_a_full_disk_is_refused_before_any_data_loads(disk, capsys, toy_data):
    fill(disk)
    code, err = run(["train", "ci-mlp", "--no-progress", "--out", str(disk)], capsys)
    assert code == 1 and not toy_data
    assert f"cannot write the checkpoints to {disk}: they need about 4.1 MiB" in err
    assert contents(disk) == ["filler"]


def test_a_disk_that_fills_during_training_is_one_line_naming_the_checkpoint(
        disk, capsys, monkeypatch, toy_data):
    import bench.training

    monkeypatch.setattr(bench.training, "require_space", lambda *a: None)  # filled later
    fill(disk)
    code, err = run(["train", "ci-mlp", "--no-progress", "--out", str(disk)], capsys)
    assert code == 1 and toy_data
    assert f"cannot write {disk / 'ci-mlp-seed0-float32-scratch.npz'}: No space left" in err
    assert "are free there" in err and ".part" not in err
    assert contents(disk) == ["filler"]


def test_report_of_a_run_on_a_full_disk(disk, capsys):
    published = sorted((ROOT / "results" / "records" / "accuracy").glob("*.json"))[0]
    run_dir = disk / "run"
    (run_dir / "records" / "accuracy").mkdir(parents=True)
    shutil.copy(published, run_dir / "records" / "accuracy" / published.name)
    fill(disk)
    code, err = run(["report", str(run_dir)], capsys)
    assert code == 1 and f"cannot write {run_dir}" in err and "No space left" in err
    assert not [p for p in contents(disk) if p.endswith(".part")]


def test_a_record_on_a_full_disk_leaves_no_empty_directory(disk):
    fill(disk)
    with pytest.raises(OSError) as caught:
        records.append_record("speed", {"benchmarks": []}, disk / "run")
    assert caught.value.errno == errno.ENOSPC
    assert str(disk / "run" / "records" / "speed") in str(caught.value)
    assert not (disk / "run" / "records" / "speed").exists()


# --- where no tmpfs can be mounted: ENOSPC injected where every write passes ---------------

def _no_space(fd):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_enospc_names_the_target_and_the_bytes_it_needed(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic.os, "fsync", _no_space)
    with pytest.raises(OSError) as caught:
        atomic.write_atomic(tmp_path / "t.json", "x" * 12345)
    assert caught.value.filename == str(tmp_path / "t.json")
    assert caught.value.bytes_needed == 12345
    refused = write_error(caught.value)
    assert isinstance(refused, WriteError)
    assert str(refused).startswith(f"cannot write {tmp_path / 't.json'}: No space left on "
                                   "device; it needed 12345 bytes, and ")
    assert contents(tmp_path) == []


def test_every_command_maps_a_full_disk_to_one_line(tmp_path, capsys, monkeypatch, toy_data):
    import bench.training

    monkeypatch.setattr(bench.training, "require_space", lambda *a: None)
    monkeypatch.setattr(atomic.os, "fsync", _no_space)
    code, err = run(["train", "ci-mlp", "--no-progress", "--out", str(tmp_path)], capsys)
    assert code == 1
    assert f"cannot write {tmp_path / 'ci-mlp-seed0-float32-scratch.npz'}: No space" in err
    assert contents(tmp_path) == []


def test_a_bug_that_raises_another_oserror_keeps_its_traceback(monkeypatch):
    from bench.cli import experiments

    def bug(args):
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr(experiments, "_run", bug)
    with pytest.raises(OSError):
        cli.main(["experiments"])
