"""The one atomic writer, scratch.atomic, which bench imports too: a file appears
whole or not at all, durably, records are never overwritten, and whatever a killed write
leaves is swept by the one pattern."""

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import scratch
from scratch.atomic import write_atomic

ROOT = Path(__file__).resolve().parents[1]


def test_interrupted_write_leaves_the_old_file_and_no_debris(tmp_path, monkeypatch):
    target = tmp_path / "f"
    write_atomic(target, b"old")

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, b"new bytes")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_text_is_written_as_utf8_and_replaces(tmp_path):
    target = tmp_path / "t.md"
    write_atomic(target, "first")
    write_atomic(target, "zweite Fassung: ä")
    assert target.read_text(encoding="utf-8") == "zweite Fassung: ä"


def test_no_overwrite_refuses_an_existing_file(tmp_path):
    target = tmp_path / "record.json"
    write_atomic(target, "{}", overwrite=False)
    with pytest.raises(FileExistsError):
        write_atomic(target, '{"other": 1}', overwrite=False)
    assert target.read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["record.json"]


def test_a_refusing_directory_raises_the_callers_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    with pytest.raises(LookupError, match="fix it"):
        write_atomic(blocker / "x", b"data", on_error=lambda err: LookupError("fix it"))


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def test_files_get_the_users_umask_not_mkstemps_0600(tmp_path, umask_027):
    target = tmp_path / "table.md"
    write_atomic(target, "x")
    assert target.stat().st_mode & 0o777 == 0o640


def test_checkpoints_and_histories_share_the_umasks_mode(tmp_path, umask_027):
    from bench.experiments import Experiment
    from bench.training import History, make_runner, save_checkpoint

    exp = Experiment(name="tiny", dataset="mnist", layers=("linear 10",), epochs=1)
    runner = make_runner("scratch", exp)
    history = History(exp.to_dict(), "scratch")
    save_checkpoint(tmp_path / "c.npz", runner, history)
    write_atomic(tmp_path / "c.json", history.to_json())
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == {"c.npz": 0o640, "c.json": 0o640}


# --- one writer, one temporary pattern, one sweeper -------------------------------------

KILLED_WRITE = (
    "import os, signal, sys\n"
    "from scratch.atomic import write_atomic\n"
    "def half(f):\n"
    "    f.write(b'half a file')\n"
    "    f.flush()\n"
    "    os.kill(os.getpid(), signal.SIGKILL)\n"
    "write_atomic(sys.argv[1], half)\n")


def killed_write(path: Path) -> Path:
    """The temporary a write of `path` leaves when its process is killed (SIGKILL) midway."""
    before = set(path.parent.iterdir())
    done = subprocess.run([sys.executable, "-c", KILLED_WRITE, str(path)], cwd=ROOT)
    assert done.returncode == -signal.SIGKILL
    (left,) = set(path.parent.iterdir()) - before
    return left


@pytest.mark.parametrize("name", ["tiny-scratch.json", "tiny-scratch.npz"])
def test_a_killed_writes_temporary_is_swept_by_the_next_checkpoint(tmp_path, name):
    """`twinbench train` writes the history NAME-IMPL.json beside the checkpoint NAME-IMPL.npz;
    a temporary of either, over an hour old, goes when the next checkpoint is written, and a
    younger one (a writer running right now) stays."""
    from bench.experiments import Experiment
    from bench.training import History, make_runner, save_checkpoint

    stale, fresh = killed_write(tmp_path / name), killed_write(tmp_path / name)
    assert stale.name.startswith(f".{name}.") and fresh.name.startswith(f".{name}.")
    hours_ago = time.time() - 2 * 3600
    os.utime(stale, (hours_ago, hours_ago))
    exp = Experiment(name="tiny", dataset="mnist", layers=("linear 10",), epochs=1)
    save_checkpoint(tmp_path / "tiny-scratch.npz", make_runner("scratch", exp),
                    History(exp.to_dict(), "scratch"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fresh.name, "tiny-scratch.npz"])


def _write_history(path):
    write_atomic(path, "{}")


def _save_npz(path):
    scratch.save({"w": np.zeros(3)}, path)


def _save_pt(path):
    from reference import formats
    formats.save({"w": np.zeros(3)}, path)


@pytest.mark.parametrize("write, name", [(_write_history, "h.json"), (_save_npz, "c.npz"),
                                         (_save_pt, "c.pt")])
def test_every_writer_makes_the_rename_durable(tmp_path, monkeypatch, write, name):
    """The file's data and then its directory are fsynced: without the directory's, a power
    loss may undo the rename."""
    synced = []
    real = os.fsync

    def fsync(fd):
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write(tmp_path / name)
    assert synced == ["file", "dir"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
