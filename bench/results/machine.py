"""The machine fingerprint: what a reader needs to judge a number.

Hardware, software, BLAS and thread settings, hashed into a short machine id
that tells records from different machines apart; `machine_label` is the
one-line caption every table carries.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from pathlib import Path


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


def _git_commit(checkout: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=checkout, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, cwd=checkout,
                               timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def machine_fingerprint(checkout: Path) -> dict:
    """What a reader needs to judge a number: hardware, software, BLAS and thread settings,
    and the commit of `checkout` (the project checkout the run came from)."""
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
        "git_commit": _git_commit(checkout),
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
