"""The loader against bad input and faults, on small generated data sets.

Every download goes to an HTTP server this test starts on 127.0.0.1; the
specs carry the generated files' own hashes, so the real pinned table is
never patched.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from conftest_data import FAST, Route, make_toy, running_mirror

from bench import datasets
from bench.datasets import cache, download, idx

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"


@pytest.fixture
def mirror():
    with running_mirror() as m:
        yield m


@pytest.fixture
def toy():
    return make_toy()


def leftovers(directory: Path) -> list[str]:
    """Temporary or IDX files in a cache directory (the sidecar is not counted)."""
    if not directory.exists():
        return []
    return sorted(p.name for p in directory.iterdir() if p.name != cache.SIDECAR)


def assert_loaded(toy, cache_dir, split="train", **kw):
    images, labels = datasets.load(toy.spec, split, cache_dir=cache_dir, **kw)
    names = datasets.specs.file_names(split)
    np.testing.assert_array_equal(images, toy.arrays[names[0]])
    np.testing.assert_array_equal(labels, toy.arrays[names[1]])
    assert images.dtype == labels.dtype == np.uint8
    assert images.flags.writeable
    return images, labels


# --- the happy paths ----------------------------------------------------------


@pytest.mark.parametrize("gzipped", [True, False])
def test_data_dir_gzipped_or_not(toy, tmp_path, gzipped):
    src = toy.write_dir(tmp_path / "by-hand", gzipped=gzipped)
    report = datasets.fetch(toy.spec, data_dir=src, cache_dir=tmp_path / "cache")
    assert set(report.files.values()) == {f"data dir {src}"}
    cached = tmp_path / "cache" / "toy"
    # The cache holds plain IDX files, whatever form they came in.
    for name, data in toy.raw.items():
        assert (cached / name).read_bytes() == data
    assert_loaded(toy, tmp_path / "cache", "train")
    assert_loaded(toy, tmp_path / "cache", "test")


def test_data_dir_subdirectory_and_dotted_names(toy, tmp_path):
    # Both data sets share file names, so DIR/<name>/ is searched too; some
    # unpackers write train-images.idx3-ubyte.
    sub = tmp_path / "dl" / "toy"
    sub.mkdir(parents=True)
    for name, data in toy.raw.items():
        (sub / name.replace("-idx", ".idx")).write_bytes(data)
    spec = make_toy(dir_aliases=("toy",)).spec
    datasets.fetch(spec, data_dir=tmp_path / "dl", cache_dir=tmp_path / "cache")
    assert_loaded(toy, tmp_path / "cache")


def test_second_load_uses_the_cache_and_records_the_source(toy, tmp_path):
    src = toy.write_dir(tmp_path / "src")
    datasets.fetch(toy.spec, data_dir=src, cache_dir=tmp_path / "c")
    report = datasets.fetch(toy.spec, cache_dir=tmp_path / "c")  # no data_dir needed now
    assert set(report.files.values()) == {"cache"}
    [state] = datasets.info(toy.spec, cache_dir=tmp_path / "c")
    assert state.verified and state.sources == [f"data dir {src}"]
    assert state.sizes == {"train": 30, "test": 10}
    assert all(f.fetched_at for f in state.files)


def test_download_from_mirror(toy, tmp_path, mirror):
    spec = make_toy(mirrors=(mirror.serve("m", toy),)).spec
    report = datasets.fetch(spec, cache_dir=tmp_path, options=FAST)
    assert report.sources == [f"mirror {mirror.url('m')}"]
    assert_loaded(toy, tmp_path)
    assert leftovers(tmp_path / "toy") == sorted(toy.raw)


def test_progress_bar_is_shown_when_asked(toy, tmp_path, mirror, capsys):
    spec = make_toy(mirrors=(mirror.serve("m", toy),)).spec
    opts = datasets.DownloadOptions(timeout=2, retries=0, progress=True)
    datasets.fetch(spec, cache_dir=tmp_path, options=opts)
    assert f"{TRAIN_IMAGES}.gz" in capsys.readouterr().err


def test_cache_dir_from_environment(monkeypatch, tmp_path, toy):
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path / "env-cache"))
    assert datasets.default_root() == tmp_path / "env-cache"
    assert datasets.dataset_dir("mnist") == tmp_path / "env-cache" / "mnist"
    datasets.fetch(toy.spec, data_dir=toy.write_dir(tmp_path / "src"))
    assert (tmp_path / "env-cache" / "toy" / TRAIN_IMAGES).is_file()


# --- bad files ----------------------------------------------------------------


def test_truncated_gzip(toy):
    gz = toy.gz(TRAIN_IMAGES)
    with pytest.raises(datasets.IDXFormatError, match="truncated gzip"):
        idx.maybe_gunzip(gz[: len(gz) // 2], "x.gz")


def test_corrupt_gzip(toy):
    gz = bytearray(toy.gz(TRAIN_IMAGES))
    gz[len(gz) // 2] ^= 0xFF  # a flipped byte: bad deflate data or a CRC mismatch
    with pytest.raises(datasets.IDXFormatError, match="corrupt gzip"):
        idx.maybe_gunzip(bytes(gz), "x.gz")


def test_truncated_gzip_in_data_dir_then_next_source(toy, tmp_path, mirror):
    src = toy.write_dir(tmp_path / "src")
    gz = (src / f"{TRAIN_IMAGES}.gz").read_bytes()
    (src / f"{TRAIN_IMAGES}.gz").write_bytes(gz[:-100])
    spec = make_toy(mirrors=(mirror.serve("m", toy),)).spec
    report = datasets.fetch(spec, data_dir=src, cache_dir=tmp_path / "c", options=FAST)
    assert report.files[TRAIN_IMAGES] == f"mirror {mirror.url('m')}"
    assert report.files[TRAIN_LABELS] == f"data dir {src}"
    [(file, source, why)] = report.failures
    assert file == TRAIN_IMAGES and "truncated gzip" in why


def test_wrong_magic(toy):
    data = bytearray(toy.raw[TRAIN_IMAGES])
    data[3] = 0x01
    images_spec = toy.spec.split_files("train")[0]
    with pytest.raises(datasets.IDXFormatError) as e:
        idx.parse(data, images_spec, "f")
    assert "expected 0x00000803" in str(e.value) and "got 0x00000801" in str(e.value)


def test_wrong_dimensions(toy):
    images_spec = toy.spec.split_files("train")[0]
    bad = idx.encode(np.zeros((30, 28, 27), np.uint8))
    with pytest.raises(datasets.IDXFormatError, match=r"expected images of shape \(30, 28, 28\)"):
        idx.parse(bad, images_spec, "f")
    with pytest.raises(datasets.IDXFormatError, match="truncated"):
        idx.parse(toy.raw[TRAIN_IMAGES][:-5], images_spec, "f")
    with pytest.raises(datasets.IDXFormatError, match="trailing"):
        idx.parse(toy.raw[TRAIN_IMAGES] + b"\0", images_spec, "f")


def test_label_count_differs_from_image_count(toy, tmp_path):
    src = toy.write_dir(tmp_path / "src", gzipped=False)
    (src / TRAIN_LABELS).write_bytes(idx.encode(np.zeros(29, np.uint8)))
    with pytest.raises(datasets.AllSourcesFailed) as e:
        datasets.load(toy.spec, "train", data_dir=src, cache_dir=tmp_path / "c")
    assert "expected labels of shape (30,)" in str(e.value) and "(29,)" in str(e.value)
    # The same check on arrays, as load does it for each split:
    with pytest.raises(datasets.IDXFormatError, match="29 labels for 30 images"):
        idx.check_pair(np.zeros((30, 28, 28)), np.zeros(29, np.uint8), "train", 10)


def test_hash_mismatch_names_file_hashes_and_fix(toy, tmp_path):
    other = make_toy(seed=1)  # well-formed, same shapes, other bytes
    src = other.write_dir(tmp_path / "src")
    with pytest.raises(datasets.AllSourcesFailed) as e:
        datasets.fetch(toy.spec, data_dir=src, cache_dir=tmp_path / "c")
    msg = str(e.value)
    images_spec = toy.spec.split_files("train")[0]
    actual = idx.sha256(other.raw[TRAIN_IMAGES])
    assert f"toy/{TRAIN_IMAGES}" in msg
    assert f"expected {images_spec.sha256}" in msg and actual in msg
    assert "Fix:" in msg and "--data-dir" in msg
    assert leftovers(tmp_path / "c" / "toy") == []  # nothing unverified was cached

    with pytest.raises(datasets.HashMismatchError) as e2:
        idx.verify(other.raw[TRAIN_IMAGES], images_spec, "f", "do this")
    assert (e2.value.expected, e2.value.actual) == (images_spec.sha256, actual)
    assert isinstance(e2.value, ValueError) and isinstance(e2.value, RuntimeError)


def test_damaged_cache_file_is_never_served_and_is_replaced(toy, tmp_path):
    src = toy.write_dir(tmp_path / "src")
    datasets.fetch(toy.spec, data_dir=src, cache_dir=tmp_path / "c")
    cached = tmp_path / "c" / "toy" / TRAIN_IMAGES
    data = bytearray(cached.read_bytes())
    data[-1] ^= 1  # one pixel off
    cached.write_bytes(data)

    with pytest.raises(datasets.AllSourcesFailed, match="in the cache"):
        datasets.load(toy.spec, "train", cache_dir=tmp_path / "c")
    [state] = datasets.info(toy.spec, cache_dir=tmp_path / "c")
    assert not state.verified and "SHA-256" in state.files[0].problem

    assert_loaded(toy, tmp_path / "c", data_dir=src)  # fetched again from the next source
    assert cached.read_bytes() == toy.raw[TRAIN_IMAGES]


# --- network faults -----------------------------------------------------------


def test_mirror_failures_fall_through_to_the_next(toy, tmp_path, mirror):
    mirror.serve("forbidden", toy, status=403)
    mirror.serve("error", toy, status=500)
    mirror.serve("slow", toy, delay=1.5)  # no answer within FAST's 0.5 s timeout
    mirror.serve("stall", toy, chunk=100, chunk_delay=1.0)  # answers, then stalls
    good = mirror.serve("good", toy)
    bases = (mirror.url("forbidden"), mirror.url("missing"), mirror.url("error"),
             mirror.url("slow"), mirror.url("stall"), good)
    spec = make_toy(mirrors=bases).spec
    start = time.perf_counter()
    report = datasets.fetch(spec, cache_dir=tmp_path, options=FAST)
    assert report.sources == [f"mirror {good}"]
    why = {(f, s.split("/")[-2]): w for f, s, w in report.failures}
    assert "HTTP 403" in why[(TRAIN_IMAGES, "forbidden")]
    assert "HTTP 404" in why[(TRAIN_IMAGES, "missing")]
    assert "HTTP 500" in why[(TRAIN_IMAGES, "error")] and "2 tries" in why[(TRAIN_IMAGES, "error")]
    assert "timed out" in why[(TRAIN_IMAGES, "slow")]
    assert "connection lost after" in why[(TRAIN_IMAGES, "stall")]
    # A mirror that times out is not asked again for the other three files;
    # one that never answered is not retried either, one that stalled is.
    assert (TRAIN_LABELS, "slow") not in why and (TRAIN_LABELS, "stall") not in why
    assert sum("/slow/" in h for h in mirror.hits) == 1
    assert sum("/stall/" in h for h in mirror.hits) == 2
    assert sum("/error/" in h for h in mirror.hits) == 8  # 4 files x 2 tries: 5xx is retried
    assert sum("/forbidden/" in h for h in mirror.hits) == 4  # 4xx is not
    assert time.perf_counter() - start < 10
    assert_loaded(toy, tmp_path)


def test_unreachable_mirror_fails_fast(toy, tmp_path, mirror):
    with socket.socket() as s:  # a port on 127.0.0.1 nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/x/"
    spec = make_toy(mirrors=(dead, mirror.serve("m", toy))).spec
    start = time.perf_counter()
    report = datasets.fetch(spec, cache_dir=tmp_path, options=FAST)
    assert time.perf_counter() - start < 5
    assert [f for f, *_ in report.failures] == [TRAIN_IMAGES]  # then skipped
    assert "refused" in report.failures[0][2]


def test_download_cut_off_leaves_nothing_and_next_run_starts_clean(toy, tmp_path, mirror):
    base = mirror.serve("m", toy)
    route = mirror.routes[f"/m/{TRAIN_IMAGES}.gz"]
    route.cut_at = len(route.body) // 2
    spec = make_toy(mirrors=(base,)).spec
    with pytest.raises(datasets.AllSourcesFailed) as e:
        datasets.fetch(spec, cache_dir=tmp_path, options=FAST)
    assert "cut off" in str(e.value) or "connection lost" in str(e.value)
    assert leftovers(tmp_path / "toy") == []  # no partial download, no partial IDX

    route.cut_at = None  # the mirror recovers
    report = datasets.fetch(spec, cache_dir=tmp_path, options=FAST)
    assert report.failures == []
    assert_loaded(toy, tmp_path)


def test_keyboard_interrupt_mid_download_leaves_nothing(toy, tmp_path, mirror, monkeypatch):
    spec = make_toy(mirrors=(mirror.serve("m", toy, chunk=1000),)).spec

    class Bar:  # stands in for tqdm; Ctrl-C arrives after the second chunk
        def __init__(self, **kw):
            self.calls = 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n):
            self.calls += 1
            if self.calls == 2:
                raise KeyboardInterrupt

    monkeypatch.setattr(download, "tqdm", Bar)
    small_reads = dataclasses.replace(FAST, chunk_size=1000)
    with pytest.raises(KeyboardInterrupt):
        datasets.fetch(spec, cache_dir=tmp_path, options=small_reads)
    assert leftovers(tmp_path / "toy") == []


def test_every_source_failing_lists_each_source(toy, tmp_path, mirror):
    src = tmp_path / "empty"
    src.mkdir()
    system = tmp_path / "no-such-system-dir"
    spec = make_toy(mirrors=(mirror.url("a"), mirror.url("b")),
                    system_dirs=(str(system),)).spec
    with pytest.raises(datasets.AllSourcesFailed) as e:
        datasets.fetch(spec, data_dir=src, cache_dir=tmp_path / "c", options=FAST)
    labels = [label for label, _ in e.value.attempts]
    assert labels == [
        f"cache {tmp_path / 'c' / 'toy'}",
        f"data dir {src}",
        f"system copy {system}",
        f"mirror {mirror.url('a')}",
        f"mirror {mirror.url('b')}",
    ]
    msg = str(e.value)
    assert "not there yet" in msg and f"no {TRAIN_IMAGES}[.gz] in {src}" in msg
    assert "no such directory" in msg and msg.count("HTTP 404") == 2
    assert isinstance(e.value, RuntimeError)


def test_offline_skips_network_sources(toy, tmp_path, mirror):
    spec = make_toy(mirrors=(mirror.serve("m", toy),)).spec
    with pytest.raises(datasets.AllSourcesFailed):
        datasets.fetch(spec, cache_dir=tmp_path, network=False)
    assert mirror.hits == []


def test_cache_that_cannot_be_created(toy, tmp_path):
    # Tests run as root, for whom chmod does not forbid writing; a cache path
    # whose parent is a regular file fails for everyone (ENOTDIR).
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    src = toy.write_dir(tmp_path / "src")
    with pytest.raises(datasets.CacheError) as e:
        datasets.fetch(toy.spec, data_dir=src, cache_dir=blocker / "cache")
    msg = str(e.value)
    assert str(blocker / "cache" / "toy") in msg and "Not a directory" in msg
    assert datasets.ENV_VAR in msg
    assert isinstance(e.value, OSError)


def test_missing_data_dir_is_an_error(toy, tmp_path):
    with pytest.raises(datasets.DatasetError, match="not a directory"):
        datasets.fetch(toy.spec, data_dir=tmp_path / "nope", cache_dir=tmp_path)


def test_stale_partial_files_are_swept(toy, tmp_path):
    d = tmp_path / "toy"
    d.mkdir()
    old, new = d / f".{TRAIN_IMAGES}.abc.part", d / f".{TRAIN_IMAGES}.def.part"
    old.write_bytes(b"x")
    new.write_bytes(b"x")
    os.utime(old, (time.time() - 7200,) * 2)
    datasets.fetch(toy.spec, data_dir=toy.write_dir(tmp_path / "src"), cache_dir=tmp_path)
    assert not old.exists() and new.exists()  # a young one may be another fetch's


def test_decompression_is_bounded(toy):
    bomb = gzip.compress(b"\0" * (10 << 20))
    out = idx.maybe_gunzip(bomb, "bomb", expected_size=100)
    assert len(out) == 101  # read stops one byte past the expected size


# --- files checked before they are read; every candidate tried; a deadline per file ----


def test_a_huge_raw_file_is_refused_by_its_header_without_being_read(toy, tmp_path):
    import tracemalloc

    src = toy.write_dir(tmp_path / "src")  # the good .gz files
    huge = src / TRAIN_IMAGES  # a raw file beside the .gz: tried first
    with huge.open("wb") as f:
        f.write(b"PK\x03\x04")  # not an IDX magic number
        f.truncate(200 << 20)  # 200 MB, sparse
    tracemalloc.start()
    try:
        images, _ = datasets.load(toy.spec, "train", data_dir=src, cache_dir=tmp_path / "c",
                                  system=False, network=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(images, toy.arrays[TRAIN_IMAGES])  # from the .gz beside it
    assert peak < 20 << 20  # the 200 MB were never read


def test_every_candidate_is_tried_and_each_named_in_the_error(toy, tmp_path):
    src = toy.write_dir(tmp_path / "src", gzipped=False)
    (src / TRAIN_IMAGES).write_bytes(toy.raw[TRAIN_IMAGES][:-7])  # truncated raw file
    (src / f"{TRAIN_IMAGES}.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(datasets.AllSourcesFailed) as e:
        datasets.load(toy.spec, "train", data_dir=src, cache_dir=tmp_path / "c",
                      system=False, network=False)
    msg = str(e.value)
    assert f"{src / TRAIN_IMAGES}: expected" in msg and "(truncated)" in msg
    assert f"{src / TRAIN_IMAGES}.gz" in msg and "gzip" in msg
    # a good one among them is found, whatever its place
    (src / f"{TRAIN_IMAGES}.gz").write_bytes(toy.gz(TRAIN_IMAGES))
    assert_loaded(toy, tmp_path / "c", data_dir=src, system=False, network=False)


def test_a_trickling_mirror_is_cut_off_at_the_deadline(toy, mirror):
    import io

    mirror.routes["/slow/x.gz"] = Route(body=bytes(200), chunk=1, chunk_delay=0.02)
    options = dataclasses.replace(FAST, timeout=0.5, deadline=1.0, retries=0)
    start = time.perf_counter()
    with pytest.raises(datasets.SourceUnavailable, match=r"too slow: \d+ of 200 bytes after "
                                                         r"the 1 s deadline"):
        download.download(mirror.url("slow") + "x.gz", io.BytesIO(), "x.gz", options)
    assert time.perf_counter() - start < 2.5  # 200 bytes at 50 a second would take 4 s


# the case, one byte every 0.2 s, with small deadlines: the per-read timeout (0.5 s)
# never fires, only the deadline can stop it
SLOW_HEAD = dataclasses.replace(FAST, timeout=0.5, deadline=1.0, retries=1)


def test_a_mirror_trickling_its_status_line_and_headers_is_cut_off(toy, mirror):
    import io

    mirror.routes["/slow/x.gz"] = Route(body=bytes(200), head_delay=0.2)
    start = time.perf_counter()
    with pytest.raises(datasets.SourceUnavailable,
                       match=r"too slow: no complete status line and headers within the "
                             r"1 s deadline") as err:
        download.download(mirror.url("slow") + "x.gz", io.BytesIO(), "x.gz", SLOW_HEAD)
    assert time.perf_counter() - start < 2.0  # the head alone would take 16 s
    assert err.value.whole_source  # no other file is asked of it


def test_fetch_from_a_trickling_mirror_ends_at_the_deadline_leaving_nothing(toy, tmp_path,
                                                                             mirror):
    spec = make_toy(mirrors=(mirror.serve("slow", toy, head_delay=0.2),)).spec
    start = time.perf_counter()
    with pytest.raises(datasets.AllSourcesFailed, match="status line and headers"):
        datasets.fetch(spec, cache_dir=tmp_path, options=SLOW_HEAD)
    assert time.perf_counter() - start < 3.0  # one deadline, then the mirror is skipped
    assert leftovers(tmp_path / "toy") == []  # no 0-byte .part
