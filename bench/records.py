"""Raw result records: one JSON file per run, with the machine it ran on.

Every benchmark or accuracy run appends a new file under
`results/records/<kind>/`; nothing is ever overwritten, and each file is
written to a temporary name and renamed, so an interrupted run leaves the
earlier records intact. Records from different machines sit side by side,
told apart by their fingerprint.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import subprocess
import uuid
from pathlib import Path

RESULTS_ENV = "TWINBENCH_RESULTS"


def results_root() -> Path:
    """Where records, tables and plots go: $TWINBENCH_RESULTS, else ./results.

    The commands run from the project's checkout (tox runs them there), not from
    wherever the package is installed.
    """
    return Path(os.environ.get(RESULTS_ENV) or Path.cwd() / "results").resolve()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=results_root().parent, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, cwd=results_root().parent,
                               timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def machine_fingerprint() -> dict:
    """What a reader needs to judge a number: hardware, software, BLAS and thread settings."""
    import numpy as np
    import torch
    from threadpoolctl import threadpool_info

    blas = [{k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for i in threadpool_info() if i.get("user_api") == "blas"]
    fp = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "numpy_blas": blas,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "git_commit": _git_commit(),
    }
    fp["machine_id"] = machine_id(fp)
    return fp


def machine_id(fp: dict) -> str:
    """A short stable name for the hardware and software a record came from."""
    key = json.dumps({k: fp.get(k) for k in ("cpu", "cores", "memory_gib", "os", "numpy",
                                            "torch", "cuda")}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def machine_label(fp: dict) -> str:
    """One line naming the machine, for table captions."""
    blas = ", ".join(f"{b['internal_api']} {b.get('architecture') or ''}".strip()
                     for b in fp.get("numpy_blas", []))
    cuda = f", {fp['cuda']}" if fp.get("cuda") else ""
    return (f"{fp['cpu']}, {fp['cores']} cores, {fp['memory_gib']} GiB, {fp['os']}; "
            f"Python {fp['python']}, numpy {fp['numpy']} ({blas}), torch {fp['torch']}{cuda} "
            f"[machine {fp['machine_id']}]")


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write a results file (table, plot, history) so that no reader sees half of it."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.tmp")
    try:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def append_record(kind: str, payload: dict, results_dir: Path | None = None) -> Path:
    """Write a new record file for `kind`; returns its path. Never overwrites."""
    directory = (results_dir or results_root()) / "records" / kind
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    fp = machine_fingerprint()
    record = {"kind": kind, "time": now.isoformat(timespec="seconds"), "machine": fp,
              **payload}
    name = f"{now:%Y%m%dT%H%M%S%fZ}-{fp['machine_id']}-{uuid.uuid4().hex[:6]}.json"
    path = directory / name
    tmp = directory / f".{name}.tmp"
    try:
        with open(tmp, "x") as f:
            json.dump(record, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)  # fails rather than overwrite an existing record
    finally:
        tmp.unlink(missing_ok=True)
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
