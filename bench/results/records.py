"""Raw result records, the run sets they form, and where each kind of result lives.

A record is one JSON file per measurement (`records/<kind>/<time>-<machine>-<id>.json`),
with the machine it ran on; nothing is ever overwritten, and each file is
written by the one atomic writer, so an interrupted run leaves the earlier
records intact.

A run set is a directory holding `records/`:

- a user's run: each `twinbench bench` or `twinbench accuracy` makes a new
  directory under the runs root, `$TWINBENCH_RESULTS` if set, else the
  checkout's `runs/` (ignored by git), else the user data directory outside a
  checkout. Its tables, plots and summary are written next to its records.
- the published reference: the checkout's `results/`. Its manifest
  (`results/published.json`, written by `twinbench report --publish`) names it
  and lists the records it is made of; the README and `results/*.md` show it and
  nothing else, so a stray or half-copied record cannot change them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench.errors import FileFormatError, UserError
from bench.results.machine import machine_fingerprint, machine_id
from scratch.atomic import write_atomic

RESULTS_ENV = "TWINBENCH_RESULTS"
MANIFEST = "published.json"
# A record may have a companion file in the tool's own format beside it (the speed suite
# keeps pytest-benchmark's JSON, so `pytest-benchmark compare` reads any two runs).
COMPANION_SUFFIX = ".benchmark.json"


class ResultsDirError(UserError, OSError):
    """The results directory cannot be written; the message says which and what to do."""


def find_checkout(start: Path | None = None) -> Path | None:
    """The twinbench checkout containing `start` (default: the working directory), or None."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        pyproject = directory / "pyproject.toml"
        try:
            if 'name = "twinbench"' in pyproject.read_text():
                return directory
        except OSError:
            continue
    return None


def published_dir(checkout: Path) -> Path:
    """The checkout's published reference: `results/`."""
    return checkout / "results"


def runs_root() -> Path:
    """Where a user's runs go: $TWINBENCH_RESULTS, else the checkout's runs/, else the user
    data directory (when run outside a checkout)."""
    if os.environ.get(RESULTS_ENV):
        return Path(os.environ[RESULTS_ENV]).expanduser().resolve()
    checkout = find_checkout()
    if checkout is not None:
        return checkout / "runs"
    import platformdirs

    return Path(platformdirs.user_data_dir("twinbench")) / "runs"


def ensure_writable(directory: Path) -> Path:
    """Create `directory` if needed and prove a file can be written there, before any work.

    Raises ResultsDirError naming the directory, the reason and the fix.
    """
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory, prefix=".twinbench-probe-"):
            pass
    except OSError as err:
        raise ResultsDirError(
            f"cannot write results to {directory}: {err.strerror or err}. Point "
            f"{RESULTS_ENV} at a writable directory (it is "
            f"{os.environ.get(RESULTS_ENV) or 'unset'})"
        ) from err
    return directory


def new_run_dir(prefix: str, root: Path | None = None) -> Path:
    """A new, empty, writable run directory `<root>/<prefix>-<UTC time>` (root: runs_root())."""
    root = ensure_writable(root or runs_root())
    stamp = f"{prefix}-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}"
    for n in range(1000):
        path = root / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise ResultsDirError(f"{root} already holds {stamp} and 999 more like it")


def run_dir(directory: Path | None, prefix: str) -> Path:
    """Where a command's records go, proven writable before any work starts: `directory`
    (created if need be), or without one a new run directory `new_run_dir(prefix)`."""
    return ensure_writable(directory) if directory else new_run_dir(prefix)


def record_files(results_dir: Path, kind: str) -> list[Path]:
    return sorted(p for p in (Path(results_dir) / "records" / kind).glob("*.json")
                  if not p.name.endswith(COMPANION_SUFFIX))


def companion(record: Path) -> Path:
    """Where the tool-native file that belongs to `record` lives: beside it."""
    return record.with_name(record.name.removesuffix(".json") + COMPANION_SUFFIX)


def append_record(kind: str, payload: dict, results_dir: Path,
                  native: bytes | None = None) -> Path:
    """Write a new record file for `kind` under `results_dir`; returns its path.

    Never overwrites. `native`, when given, is written first to `companion(path)`, so a
    record never exists without the companion it names.
    """
    directory = Path(results_dir) / "records" / kind
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    fp = machine_fingerprint(find_checkout())
    record = {"kind": kind, "time": now.isoformat(timespec="seconds"), "machine": fp,
              **payload}
    name = f"{now:%Y%m%dT%H%M%S%fZ}-{fp['machine_id']}-{uuid.uuid4().hex[:6]}.json"
    path = directory / name
    try:
        if native is not None:
            write_atomic(companion(path), native, overwrite=False)
        write_atomic(path, json.dumps(record, indent=1), overwrite=False)
    except OSError:  # a full disk: no companion without its record, no empty directory
        companion(path).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            directory.rmdir()  # only if empty: other records stay
        raise
    return path


class RecordError(FileFormatError):
    """A record file is not a record twinbench wrote: the message names the file."""


_NUMBER = "number"
_NUMBERS = "numbers"  # a dict of numbers, e.g. {"scratch": 97.8, "torch": 97.8}
# The fields each kind's tables read, with their types: checked when a record is read,
# so that a damaged record is named instead of failing deep inside a table.
RECORD_FIELDS = {
    "accuracy": {"experiment": dict, "final_test_accuracy": _NUMBERS,
                 "seconds_per_epoch": _NUMBERS},
    "tta": {"experiment": dict, "target": _NUMBER, "runs": list},
    "lockstep": {"experiment": dict, "dtype": str, "steps": int, "max_loss_diff": _NUMBER,
                 "max_weight_rel_diff": _NUMBER, "test_accuracy": _NUMBERS},
    "speed": {"benchmarks": list},
    "ceiling": {"matmul": list},
    "peers-parity": {"rows": list, "versions": dict, "peers": list},
    "peers-speed": {"rows": list, "threads": int},
}
KINDS = tuple(RECORD_FIELDS)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _field_problem(value, want) -> str | None:
    if want == _NUMBER:
        return None if _is_number(value) else f"expected a number, got {value!r:.40}"
    if want == _NUMBERS:
        if not isinstance(value, dict) or not all(_is_number(v) for v in value.values()):
            return f"expected numbers by name, got {value!r:.60}"
        return None
    if type(value) is not want:
        return f"expected {want.__name__}, got {value!r:.40}"
    return None


def read_record(path: Path) -> dict:
    """One record; its machine id recomputed by the current rule (`machine_id`), so that
    records written before the rule changed compare with newer ones on equal terms.

    Raises RecordError naming the file and what is wrong with it."""
    path = Path(path)
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RecordError(f"{path}: not a valid record ({err})") from err
    if not isinstance(rec, dict):
        raise RecordError(f"{path}: not a valid record: expected a JSON object, got "
                          f"{type(rec).__name__}")
    problems = [f"{key}: {why}" for key, want in
                {"kind": str, "time": str, "machine": dict,
                 **RECORD_FIELDS.get(rec.get("kind"), {})}.items()
                if (why := "missing" if key not in rec else _field_problem(rec[key], want))]
    if problems:
        kind = rec.get("kind") if isinstance(rec.get("kind"), str) else ""
        raise RecordError(f"{path}: not a valid {kind} record: ".replace("  ", " ")
                          + "; ".join(problems))
    rec["machine"]["machine_id"] = machine_id(rec["machine"])
    rec["file"] = f"{path.parent.name}/{path.name}"
    return rec


def load_records(kind: str, results_dir: Path) -> list[dict]:
    """Every record of `kind` under `results_dir`, oldest first; unreadable files raise
    naming the file."""
    return [read_record(p) for p in record_files(results_dir, kind)]


@dataclass(frozen=True)
class RunSet:
    """The records one set of tables is built from, and the name the tables give it."""

    directory: Path
    name: str
    files: frozenset[str] | None = None  # "kind/file.json" of the records in the set; None: all
    published: bool = False

    def load(self, kind: str) -> list[dict]:
        recs = load_records(kind, self.directory)
        return recs if self.files is None else [r for r in recs if r["file"] in self.files]

    def caption(self) -> str:
        where = "the published reference" if self.published else "a local run"
        return f"Run set: {self.name} ({where})"


def open_run_set(directory: Path) -> RunSet:
    """The run set in `directory`: the published one if it has a manifest, else all of its
    records, named after the directory."""
    directory = Path(directory).resolve()
    manifest = directory / MANIFEST
    if manifest.exists():
        try:
            data = json.loads(manifest.read_text())
            return RunSet(directory, data["name"], frozenset(data["records"]), published=True)
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
            raise RecordError(f"{manifest}: not a valid manifest ({err!r}); "
                              f"`twinbench report --publish` writes it") from err
    return RunSet(directory, directory.name)


def all_record_files(directory: Path) -> list[str]:
    """"kind/file.json" of every record under `directory`."""
    return [f"{kind}/{p.name}" for kind in KINDS for p in record_files(directory, kind)]


def publish(source: Path, checkout: Path, name: str | None = None) -> RunSet:
    """Add the records of run set `source` to the checkout's published reference.

    Copies the records into results/records (never overwriting) and returns the new set;
    the caller renders it and then writes its manifest with `write_manifest`, last, so that
    an interrupted publish leaves the old manifest in charge. With `source` the published
    directory itself, every record already there is adopted.
    """
    target = ensure_writable(published_dir(checkout))
    source = Path(source).resolve()
    if not (source / "records").is_dir():
        raise UserError(f"{source} holds no records/ directory: expected a run directory "
                         f"such as {runs_root()}/bench-...")
    old = open_run_set(target)
    files = set(old.files) if old.files is not None else set(all_record_files(target))
    for rel in all_record_files(source):
        dest = target / "records" / rel
        if source != target.resolve() and not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            src = source / "records" / rel
            if companion(src).exists():
                write_atomic(companion(dest), companion(src).read_bytes(), overwrite=False)
            write_atomic(dest, src.read_bytes(), overwrite=False)
        files.add(rel)
    chosen = name or (old.name if old.published else "reference")
    return RunSet(target.resolve(), chosen, frozenset(files), published=True)


def write_manifest(run_set: RunSet) -> Path:
    path = run_set.directory / MANIFEST
    write_atomic(path, json.dumps({
        "name": run_set.name,
        "published": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "records": sorted(run_set.files or ()),
    }, indent=1) + "\n")
    return path
