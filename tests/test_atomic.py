"""The one atomic writer: a file appears whole or not at all, and records are never overwritten."""

import os

import pytest

from bench.results.atomic import write_atomic


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
