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
  and lists the records it is made of; the README, docs/ and `results/*.md` show it and
  nothing else, so a stray or half-copied record cannot change them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import stat
import tempfile
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.errors import FileFormatError, UserError
from bench.results.machine import FINGERPRINT, machine_fingerprint, machine_id
from bench.results.schema import (
    DIGITS,
    MEASURE,
    NAME,
    NUMBER,
    POSITIVE,
    TIME,
    TWIN,
    MapOf,
    Maybe,
    Optional,
    Some,
    problems,
    summary,
)
from scratch.atomic import at_target, temp_file, write_atomic

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


# A record is a regular file of at most this size (a full speed grid's companion is about
# 15 MB), nested at most this deep: a FIFO, a device or a bomb is refused before it is read.
MAX_RECORD_BYTES = 64 * 2**20
MAX_DEPTH = 32
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')

_TWINS = {"scratch": NUMBER, "torch": NUMBER}  # one figure per twin
# The fields each kind's tables, plots and summary read, with their types (`schema`):
# checked when a record is read, so that a damaged record is named instead of failing
# deep inside a table. Every record also holds "kind", "time" and "machine" (`_COMMON`).
RECORD_FIELDS = {
    "accuracy": {
        "experiment": {"name": NAME, "dataset": str, "epochs": int, "description": str,
                       "target_accuracy": Optional(Maybe(NUMBER)),
                       "claim": Optional(Maybe(str)),
                       "claimed_accuracy": Optional(Maybe(NUMBER))},
        "final_test_accuracy": _TWINS,
        "seconds_per_epoch": {"scratch": POSITIVE, "torch": POSITIVE},
        "histories": Optional(MapOf([{"epoch": int, "train_loss": NUMBER,
                                      "test_accuracy": NUMBER,
                                      "samples_per_second": NUMBER}], TWIN)),
        "confusion": Optional(Maybe(MapOf([[int]], TWIN))),
        "learned": Optional(Maybe(MapOf({"first_layer": str, "weights": [[NUMBER]],
                                         "gates": Optional([str]),
                                         "points": Optional(Maybe([[NUMBER]])),
                                         "labels": Optional([int])}, TWIN)))},
    # a generative experiment trained with both twins (`measure.generative`)
    "generative": {
        "experiment": {"name": NAME, "dataset": str, "epochs": int, "description": str,
                       "objective": str, "target_loss": Optional(Maybe(NUMBER))},
        "final_test_loss": _TWINS,
        "seconds_per_epoch": {"scratch": POSITIVE, "torch": POSITIVE},
        "histories": MapOf([{"epoch": int, "train_loss": NUMBER, "test_loss": NUMBER}], TWIN),
        "pictures": {"samples": MapOf([[[int]]], TWIN), "sample_diff": [NUMBER],
                     "originals": Optional([[[int]]]),
                     "reconstructions": Optional(MapOf([[[int]]], TWIN)),
                     "reconstruction_diff": Optional([NUMBER])},
        "score": Maybe(MapOf({"confident": NUMBER, "entropy": NUMBER, "histogram": [int]},
                             TWIN))},
    "tta": {"experiment": {"name": NAME}, "target": NUMBER,
            "runs": Some({"impl": TWIN, "seconds": Maybe(NUMBER), "epochs": Maybe(NUMBER)}),
            "budget_s": Optional(Maybe(NUMBER)), "seeds_planned": Optional(int),
            "first_seed": Optional(int), "eval_batch": Optional(MapOf(int, TWIN))},
    # a generative experiment's lockstep has test losses, no accuracies, and the one-ulp
    # self-comparison beside the twins (`compare.lockstep_generative`)
    "lockstep": {"experiment": {"name": NAME, "epochs": int}, "dtype": str, "steps": int,
                 "max_loss_diff": NUMBER, "max_weight_rel_diff": NUMBER,
                 "test_accuracy": Optional(_TWINS), "worst_tensor": Optional(str),
                 "weight_norm_rel_diff": Optional(NUMBER), "loss_diffs": Optional([NUMBER]),
                 "test_loss": Optional(_TWINS), "ulp_loss_diffs": Optional([NUMBER]),
                 "ulp_weight": Optional(str), "ulp_max_loss_diff": Optional(NUMBER),
                 "ulp_weight_rel_diff": Optional(NUMBER)},
    "speed": {"benchmarks": Some({"arch": str, "phase": str, "dtype": str, "threads": int,
                                  "batch": int, "impl": TWIN, "median": POSITIVE,
                                  "iqr": NUMBER, "flops": Maybe(MEASURE),
                                  "unit": Optional(str)})},
    # one `twinbench bench` that ran to its end: its plan ("default": no option that changes
    # what it measures; "full"; "custom") and the wall-clock seconds of each step
    "job": {"plan": str, "seconds": POSITIVE,
            "steps": [{"title": str, "seconds": NUMBER}]},
    "ceiling": {"matmul": [{"library": str, "dtype": str, "threads": int, "n": int,
                            "gflops": NUMBER, "median_s": Optional(NUMBER)}]},
    "peers-parity": {"rows": [{"peer": str, "version": str, "kind": str, "layer": str,
                               "config": str, "rel64": Maybe(MEASURE),
                               "rel32": Maybe(MEASURE), "fd": Maybe(MEASURE),
                               "verdict": str, "detail": Maybe(str), "note": Maybe(str),
                               "shim": Maybe(str)}],
                     "versions": MapOf(str), "peers": [str]},
    "peers-speed": {"rows": [{"impl": str, "version": str, "model": Optional(str),
                              "step_seconds": MapOf(POSITIVE, DIGITS),
                              "step_iqr": Optional(MapOf(NUMBER, DIGITS)),
                              "accuracy": Optional(NUMBER), "epochs": Optional(int),
                              "train_seconds": Optional(NUMBER), "note": Optional(Maybe(str))}],
                    "threads": int},
}
KINDS = tuple(RECORD_FIELDS)
_COMMON = {"kind": str, "time": TIME, "machine": FINGERPRINT}


def read_bytes(path: Path, limit: int = MAX_RECORD_BYTES, what: str = "record") -> bytes:
    """The bytes of `path`, a regular file (not a symbolic link, a FIFO, a device or a
    directory) of at most `limit` bytes; anything else raises RecordError naming it."""
    path = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW: a link is refused
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError as err:
        why = ("a symbolic link" if path.is_symlink() else err.strerror or str(err))
        raise RecordError(f"{path}: not a valid {what}: expected a regular file, found "
                          f"{why}") from err
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        found = "a directory" if stat.S_ISDIR(mode) else "a special file"
        raise RecordError(f"{path}: not a valid {what}: expected a regular file, found "
                          f"{found}")
    with os.fdopen(fd, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise RecordError(f"{path}: not a valid {what}: expected at most {limit} bytes, found "
                          f"more")
    return data


def _depth(text: str) -> int:
    """How deep the JSON in `text` nests (its brackets outside strings)."""
    brackets = np.frombuffer(re.sub(r"[^\[\]{}]", "", _STRING.sub("", text)).encode(),
                             np.uint8)
    opens = (brackets == ord("[")) | (brackets == ord("{"))
    return int(np.cumsum(np.where(opens, 1, -1)).max(initial=0))


def read_json(path: Path, what: str = "record"):
    """The JSON value in `path` (`parse_json` of `read_bytes`)."""
    return parse_json(path, read_bytes(path, what=what), what)


def parse_json(path: Path, data: bytes, what: str = "record"):
    """The JSON value in `data`, read from `path`, nested at most MAX_DEPTH deep."""
    try:
        text = data.decode("utf-8")
        if (depth := _depth(text)) > MAX_DEPTH:
            raise RecordError(f"{path}: not a valid {what}: expected JSON nested at most "
                              f"{MAX_DEPTH} deep, found {depth}")
        return json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RecordError(f"{path}: not a valid {what} ({err})") from err


def read_record(path: Path) -> dict:
    """One record (`parse_record` of `read_bytes`)."""
    return parse_record(Path(path), read_bytes(path))


def parse_record(path: Path, data: bytes) -> dict:
    """The record `path` holds, given its bytes `data`, checked field by field
    (`RECORD_FIELDS`); its machine id recomputed by the current rule (`machine_id`), so
    that records written before the rule changed compare with newer ones on equal terms.

    Raises RecordError naming the file and what is wrong with it, in one line."""
    rec = parse_json(path, data)
    if not isinstance(rec, dict):
        raise RecordError(f"{path}: not a valid record: expected a JSON object, got "
                          f"{type(rec).__name__}")
    kind = rec.get("kind")
    if not isinstance(kind, str) or kind not in RECORD_FIELDS:
        raise RecordError(f"{path}: not a valid record: kind: expected one of "
                          f"{', '.join(KINDS)}, got {kind!r:.40}")
    if found := problems(rec, {**_COMMON, **RECORD_FIELDS[kind]}):
        raise RecordError(f"{path}: not a valid {kind} record: {summary(found)}")
    rec["machine"]["machine_id"] = machine_id(rec["machine"])
    rec["file"] = f"{path.parent.name}/{path.name}"
    return rec


def load_records(kind: str, results_dir: Path) -> list[dict]:
    """Every record of `kind` under `results_dir`, oldest first; unreadable files raise
    naming the file."""
    return [read_record(p) for p in record_files(results_dir, kind)]


def merge_seed_parts(records: list[dict]) -> list[dict]:
    """Time-to-accuracy records of one experiment, target and machine, measured in parts
    (each its own seeds, `tta.time_to_accuracy(first_seed=)`), read as one record: every
    part's runs, a seed measured twice taken from the newer part; the seeds planned are
    all parts' planned seeds together, and `parts` names the files. The merged record
    stands where its newest part stood (records oldest first); a lone record is kept as it
    is."""
    def key(rec: dict) -> tuple:
        return rec["machine"]["machine_id"], rec["experiment"]["name"], rec["target"]

    groups: dict[tuple, list[dict]] = {}
    for rec in records:
        groups.setdefault(key(rec), []).append(rec)
    merged = []
    for rec in records:
        parts = groups[key(rec)]
        if rec is not parts[-1]:
            continue
        if len(parts) == 1 or any("seed" not in run for part in parts for run in part["runs"]):
            merged.append(rec)  # alone, or older parts that did not say their seeds: newest
            continue
        runs: dict[tuple, dict] = {}
        planned: set[int] = set()
        for part in parts:  # oldest first: a newer part's seed replaces an older one's
            runs.update({(run["seed"], run["impl"]): run for run in part["runs"]})
            first = part.get("first_seed", 0)
            planned |= set(range(first, first + part.get("seeds_planned", 0)))
            planned |= {run["seed"] for run in part["runs"]}
        batches = {tuple(sorted(part.get("eval_batch", {}).items())) for part in parts}
        out = {**rec, "runs": sorted(runs.values(), key=lambda r: r["seed"]),
               "seeds_planned": len(planned), "first_seed": min(planned),
               "parts": [part["file"] for part in parts if "file" in part]}
        if len(batches) > 1:  # each run carries its own, as these parts chose differently
            out.pop("eval_batch", None)
        merged.append(out)
    return merged


@dataclass(frozen=True)
class RunSet:
    """The records one set of tables is built from, and the name the tables give it."""

    directory: Path
    name: str
    files: frozenset[str] | None = None  # "kind/file.json" of the records in the set; None: all
    published: bool = False
    # Records of the set read from elsewhere, not yet copied into `directory` (a run being
    # published): "kind/file.json" -> the record, already checked.
    pending: Mapping[str, dict] = field(default_factory=dict, compare=False, hash=False)

    def load(self, kind: str) -> list[dict]:
        """The set's records of `kind`, oldest first (their names start with the time); time
        to accuracy measured in parts is read as one record per experiment
        (`merge_seed_parts`)."""
        if self.files is None:
            recs = load_records(kind, self.directory)
        else:
            listed = sorted(f for f in self.files if f.partition("/")[0] == kind)
            recs = [self.pending.get(rel) or read_record(self.directory / "records" / rel)
                    for rel in listed]
        return merge_seed_parts(recs) if kind == "tta" else recs

    def caption(self) -> str:
        where = "the published reference" if self.published else "a local run"
        return f"Run set: {self.name} ({where})"


# What the manifest lists: "kind/file.json", a record directly under records/<kind>/.
_LISTED = re.compile(rf"(?:{'|'.join(map(re.escape, KINDS))})/[A-Za-z0-9][A-Za-z0-9._-]*\.json")


def open_run_set(directory: Path) -> RunSet:
    """The run set in `directory`: the published one if it has a manifest, else all of its
    records, named after the directory."""
    directory = Path(directory).resolve()
    manifest = directory / MANIFEST
    if not os.path.lexists(manifest):
        return RunSet(directory, directory.name)
    data = read_json(manifest, "manifest")
    found = problems(data, {"name": str, "records": [str]})
    found += [f"records: expected kind/file.json, got {rel!r:.60}" for rel in
              (data.get("records") if not found else []) if not _LISTED.fullmatch(rel)]
    if found:
        raise RecordError(f"{manifest}: not a valid manifest: {summary(found)}; "
                          f"`twinbench report --publish` writes it")
    return RunSet(directory, data["name"], frozenset(data["records"]), published=True)


def all_record_files(directory: Path) -> list[str]:
    """"kind/file.json" of every record under `directory`."""
    return [f"{kind}/{p.name}" for kind in KINDS for p in record_files(directory, kind)]


class PublishRefused(UserError):
    """Publishing would lose or corrupt part of the published reference; nothing changed."""


def _check_experiment(path: Path, rec: dict, experiments: Collection[str] | None) -> None:
    name = rec.get("experiment", {}).get("name")
    if experiments is not None and name is not None and name not in experiments:
        raise PublishRefused(f"{path}: experiment {name!r} is not in the registry "
                             f"(`twinbench experiments` lists them): refusing to publish it")


# A record's file name: its time, the machine id when it was written, and a random tag.
_RECORD_NAME = re.compile(r"(?P<time>\d{8}T\d+Z)-(?P<id>[0-9a-f]{8})-(?P<tag>[0-9a-f]+)\.json")


def published_name(rel: str, rec: dict) -> str:
    """"kind/file.json" as published: the machine id in the file name is the record's id by
    the current rule (`machine_id`, as its caption gives it), so that a record written under
    an older rule is named as its table names it."""
    kind, _, name = rel.partition("/")
    m = _RECORD_NAME.fullmatch(name)
    if m is None:
        return rel
    return f"{kind}/{m['time']}-{rec['machine']['machine_id']}-{m['tag']}.json"


@dataclass(frozen=True)
class Publication:
    """What `prepare_publish` found: the sets before and after, and the files to change."""

    old: RunSet  # the published set as it is
    new: RunSet  # the published set the parts make, replacing it whole
    copies: dict[Path, bytes]  # records (and companions) to write into results/records
    superseded: list[Path]  # the old set's record files (and companions) it no longer lists


def _one_machine(found: dict[str, list[tuple[Path, Path]]]) -> None:
    """Refuse parts whose records ran on more than one machine (`found`: id -> (part,
    record file) of each record), naming each machine with one of its files."""
    if len(found) <= 1:
        return
    each = "; ".join(f"machine {mid}: {len(files)} record{'s' * (len(files) != 1)}, e.g. "
                     f"{files[0][1]}" for mid, files in sorted(found.items(),
                                                             key=lambda kv: -len(kv[1])))
    raise PublishRefused(f"refusing to publish: the records ran on {len(found)} machines "
                         f"({each}); a published set is one machine's: run every part on the "
                         "same fingerprint")


def prepare_publish(sources: Path | Sequence[Path], checkout: Path, name: str | None = None,
                    experiments: Collection[str] | None = None) -> Publication:
    """Check every record of the run directories `sources` (one run, or the parts of one
    run planned in parts) before anything is copied: each a regular file holding a valid
    record (`read_record`), its companion a regular file, given `experiments` (the
    registry's names) each experiment one of them, and all of them measured on one machine
    (one `machine_id`: the same fingerprint). Reads only.

    The parts' records make the new published set whole: it replaces the old one (named
    `name`, default: keep its name), so no table keeps a row of an older machine or run.
    With a source the published directory itself, every record already there is adopted.
    Raises RecordError or PublishRefused naming the file.
    """
    target = ensure_writable(published_dir(checkout)).resolve()
    parts = [Path(s).resolve() for s in ([sources] if isinstance(sources, (str, Path))
                                         else sources)]
    if not parts:
        raise UserError("nothing to publish: name at least one run directory")
    for part in parts:
        if not (part / "records").is_dir():
            raise UserError(f"{part} holds no records/ directory: expected a run directory "
                            f"such as {runs_root()}/bench-...")
    old = open_run_set(target)
    files: set[str] = set()
    copies: dict[Path, bytes] = {}
    pending: dict[str, dict] = {}
    machines: dict[str, list[tuple[Path, Path]]] = {}
    for part in parts:
        for rel in all_record_files(part):
            src = part / "records" / rel
            data = read_bytes(src)
            rec = parse_record(src, data)
            _check_experiment(src, rec, experiments)
            machines.setdefault(rec["machine"]["machine_id"], []).append((part, src))
            if part == target:
                files.add(rel)
                continue
            rel = published_name(rel, rec)
            dest = target / "records" / rel
            if rel in files:
                raise PublishRefused(f"{src}: a second record named {rel}: refusing to publish "
                                     "the same record twice")
            files.add(rel)
            if os.path.lexists(dest):
                if not dest.is_file() or dest.is_symlink() or read_bytes(dest) != data:
                    raise PublishRefused(f"{dest} exists and differs from {src}: refusing to "
                                         f"publish over it")
                continue
            if os.path.lexists(companion(src)):
                copies[companion(dest)] = read_bytes(companion(src), what="companion file")
            copies[dest] = data
            pending[rel] = rec
    _one_machine(machines)
    chosen = name or (old.name if old.published else "reference")
    new = RunSet(target, chosen, frozenset(files), published=True, pending=pending)
    listed = old.files if old.files is not None else frozenset()
    superseded = [p for rel in sorted(listed - files)
                  for p in (target / "records" / rel, companion(target / "records" / rel))
                  if os.path.lexists(p)]
    return Publication(old, new, copies, superseded)


def manifest_text(run_set: RunSet) -> str:
    """The manifest of a published set: its name, when, and its records."""
    return json.dumps({
        "name": run_set.name,
        "published": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "records": sorted(run_set.files or ()),
    }, indent=1) + "\n"


def write_all(files: Mapping[Path, str | bytes], *, new: Collection[Path] = ()) -> None:
    """Write every file of `files` or none of them (`scratch.atomic`'s temporaries).

    First each file's data goes to a temporary beside it, fsynced: a full disk or a
    refused directory stops there, having changed nothing. Then each temporary is renamed
    into place, the old file kept as a hard link until all are: any exception,
    KeyboardInterrupt included, puts every old file back and removes the new ones and the
    directories made for them. Files in `new` must not exist (records are never
    overwritten): one that does raises FileExistsError, and nothing changes.
    """
    made: list[Path] = []
    try:
        with contextlib.ExitStack() as stack:
            for directory in sorted({Path(p).parent for p in files}):
                for d in (*reversed(directory.parents), directory):
                    if not d.exists():
                        d.mkdir()
                        made.append(d)
            staged = []
            for path, data in files.items():
                payload = data.encode("utf-8") if isinstance(data, str) else data
                try:
                    f, tmp = stack.enter_context(temp_file(Path(path).parent, Path(path).name))
                    with f:  # closed here: a large publish must not hold a descriptor per file
                        f.write(payload)
                        f.flush()
                        os.fsync(f.fileno())
                except OSError as err:  # a full disk names the file, not a temporary or none
                    raise at_target(err, Path(path), len(payload)) from err
                staged.append((Path(path), tmp))
            done: list[tuple[Path, Path | None]] = []  # (file, its old contents' link)
            try:
                for path, tmp in staged:
                    backup = None
                    if path in new:
                        os.link(tmp, path)
                    else:
                        if os.path.lexists(path):
                            backup = stack.enter_context(temp_file(path.parent, path.name))[1]
                            os.unlink(backup)
                            os.link(path, backup)
                        os.replace(tmp, path)
                    done.append((path, backup))
            except BaseException:
                for path, backup in reversed(done):
                    if backup is None:
                        path.unlink(missing_ok=True)
                    else:
                        os.replace(backup, path)
                raise
    except BaseException:
        for d in reversed(made):
            with contextlib.suppress(OSError):
                d.rmdir()
        raise
