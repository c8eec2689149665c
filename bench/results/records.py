"""Raw result records: one JSON file per run, with the machine it ran on.

Every benchmark or accuracy run appends a new file under
`results/records/<kind>/`; nothing is ever overwritten, and each file is
written by the one atomic writer, so an interrupted run leaves the earlier
records intact. Records from different machines sit side by side,
told apart by their fingerprint.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from pathlib import Path

from bench.results.atomic import write_atomic
from bench.results.machine import machine_fingerprint

RESULTS_ENV = "TWINBENCH_RESULTS"


def results_root() -> Path:
    """Where records, tables and plots go: $TWINBENCH_RESULTS, else ./results.

    The commands run from the project's checkout (tox runs them there), not from
    wherever the package is installed.
    """
    return Path(os.environ.get(RESULTS_ENV) or Path.cwd() / "results").resolve()


def append_record(kind: str, payload: dict, results_dir: Path | None = None) -> Path:
    """Write a new record file for `kind`; returns its path. Never overwrites."""
    directory = (results_dir or results_root()) / "records" / kind
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    fp = machine_fingerprint(results_root().parent)
    record = {"kind": kind, "time": now.isoformat(timespec="seconds"), "machine": fp,
              **payload}
    name = f"{now:%Y%m%dT%H%M%S%fZ}-{fp['machine_id']}-{uuid.uuid4().hex[:6]}.json"
    path = directory / name
    write_atomic(path, json.dumps(record, indent=1), overwrite=False)
    return path


def load_records(kind: str, results_dir: Path | None = None) -> list[dict]:
    """Every record of `kind`, oldest first; unreadable files raise naming the file."""
    directory = (results_dir or results_root()) / "records" / kind
    records = []
    for path in sorted(directory.glob("*.json")):
        try:
            records.append(json.loads(path.read_text()))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not a valid record ({err})") from err
    return records
