"""The machine fingerprint: what a reader needs to judge a number.

Hardware; the numpy and torch builds and their BLAS (library, version, the
kernel OpenBLAS picked for this CPU, threading layer); the thread settings
(torch's and scratch's counts, and the environment variables that change them); the CPU
frequency governor; the host name; and how loaded the machine was while the record
was being measured. `machine_id` hashes the parts that change the numbers (`ID_FIELDS`:
the CPU model and core count, the BLAS library and the kernel it picked, the numpy
and torch builds, the thread settings) into the short id that tells records from
different machines apart: the one id of captions and record file names. The rest is
recorded but splits no machine: the host name, the operating system's kernel
release (a new build string on the same hardware and builds is the same machine),
memory, Python, the governor, the load and the commit. `machine_label` and
`fingerprint_text` are the captions tables carry.

Load: the load average when the record is written, and the share of all CPUs
that other processes used since the previous record of this process (or since
this module was loaded), from /proc/stat less this process's own CPU time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import subprocess
import time
from pathlib import Path

from bench.results.schema import NUMBER, MapOf, Maybe, Optional

# Environment variables that change how many threads numpy's BLAS and torch use, or which
# kernel OpenBLAS picks.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
              "OPENBLAS_CORETYPE", "MKL_DEBUG_CPU_TYPE", "MKL_ENABLE_INSTRUCTIONS",
              "OMP_PROC_BIND", "OMP_PLACES", "KMP_AFFINITY")

# The fingerprint fields the machine id is made of, with `numpy_blas`'s `_BLAS_ID_FIELDS`:
# what changes the numbers. The CPU model and core count (and the GPU, for torch-cuda rows);
# the numpy and torch builds; the thread settings (torch's and scratch's counts, the
# environment variables). Not the host name or the kernel release.
ID_FIELDS = ("cpu", "cores", "numpy", "numpy_build", "torch", "torch_build", "cuda",
             "torch_threads", "scratch_threads", "thread_env")
# BLAS's own thread count is recorded (`_BLAS_FIELDS`) but not keyed: scratch holds it to one
# thread once it has run (`scratch.parallel.hold_blas`), so it tells when the fingerprint
# was taken, not the machine; scratch's count (`scratch_threads`) is the setting.
_BLAS_ID_FIELDS = ("internal_api", "version", "architecture", "threading_layer")
_BLAS_FIELDS = (*_BLAS_ID_FIELDS, "num_threads")

# What a record's fingerprint must hold to be read (`schema`): what the captions, the
# machine id and the summary read. Fields older records lack are optional.
_TEXT = Optional(Maybe(str))
FINGERPRINT = {
    "cpu": str, "cores": int, "memory_gib": Maybe(NUMBER), "os": str, "python": str,
    "numpy": str, "torch": str,
    "numpy_blas": [{"internal_api": str, "version": _TEXT, "architecture": _TEXT,
                    "threading_layer": _TEXT, "num_threads": Optional(Maybe(int))}],
    "numpy_build": Optional(Maybe(MapOf(str))),
    "torch_build": Optional(Maybe({"git_version": str, "blas": Maybe(str),
                                   "cpu_capability": Maybe(str),
                                   "parallel_backend": Maybe(str)})),
    "torch_threads": Optional(int), "scratch_threads": Optional(int), "cuda": _TEXT,
    "thread_env": Optional(MapOf(str)),
    "openblas_coretype": _TEXT, "governor": Optional(str),
    "load": Optional({"average": Maybe([NUMBER]), "other_cpu_share": Maybe(NUMBER)}),
    "git_commit": _TEXT, "hostname": _TEXT,
}

# Above these a measurement is called loaded: other processes used more than this share of
# all CPUs while it ran, or the 1-minute load average exceeded this many runnable tasks per
# core when it was written (this process's own threads count at most one per core).
OTHER_CPU_LIMIT = 0.25
LOAD_PER_CORE_LIMIT = 1.5


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


def _governor() -> str:
    """cpufreq's scaling governors ("performance", "powersave"...), or "not exposed"."""
    found = set()
    for path in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/cpufreq/scaling_governor"):
        try:
            found.add(path.read_text().strip())
        except OSError:
            continue
    return "/".join(sorted(found)) or "not exposed"  # VMs and containers often hide it


def git_commit(checkout: Path | None) -> str | None:
    """The short commit of `checkout`, with "-dirty" if tracked files are modified."""
    if checkout is None:
        return None
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


class _CpuWatch:
    """Other processes' share of all CPUs between two readings (None where unknown)."""

    def __init__(self) -> None:
        self._last = self._read()

    @staticmethod
    def _read() -> tuple[float, float, float, int] | None:
        """(wall s, all CPUs' busy s, this process's CPU s, CPUs), or None off Linux."""
        try:
            lines = Path("/proc/stat").read_text().splitlines()
        except OSError:
            return None
        fields = [int(v) for v in lines[0].split()[1:]]
        # user nice system idle iowait irq softirq steal (guest time is inside user)
        busy = sum(fields[:3]) + sum(fields[5:8])
        cpus = sum(1 for line in lines if re.match(r"cpu\d", line))
        t = os.times()
        own = t.user + t.system + t.children_user + t.children_system
        return time.monotonic(), busy / os.sysconf("SC_CLK_TCK"), own, cpus

    def other_share(self, min_window_s: float = 1.0) -> float | None:
        now, last = self._read(), self._last
        self._last = now
        if now is None or last is None or now[0] - last[0] < min_window_s:
            return None
        wall, busy, own = now[0] - last[0], now[1] - last[1], now[2] - last[2]
        return round(min(max((busy - own) / (wall * now[3]), 0.0), 1.0), 3)


_WATCH = _CpuWatch()


def _load() -> dict:
    try:
        average = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        average = None
    return {"average": average, "other_cpu_share": _WATCH.other_share()}


def _numpy_build(np) -> dict | None:
    try:
        deps = np.show_config(mode="dicts")["Build Dependencies"]
    except Exception:  # older numpy has no mode="dicts": the build is then unknown
        return None
    return {k: " ".join(str(deps.get(k, {}).get(f) or "") for f in ("name", "version")).strip()
            for k in ("blas", "lapack")}


def _torch_build(torch) -> dict:
    config = torch.__config__.show()
    blas = re.search(r"BLAS_INFO=(\w+)", config)
    backend = re.search(r"ATen parallel backend: (.+)", torch.__config__.parallel_info())
    return {
        "git_version": torch.version.git_version,
        "blas": blas.group(1) if blas else None,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "parallel_backend": backend.group(1).strip() if backend else None,
    }


def _numpys_blas(infos: list[dict], np) -> list[dict]:
    """The BLAS libraries numpy itself loaded, out of every one threadpoolctl sees: SciPy and
    scikit-learn bring their own OpenBLAS, and a fingerprint taken after they were imported
    must not name another machine. Libraries under numpy's package (numpy/ or numpy.libs/);
    all BLAS libraries where none is (a numpy linked against the system's)."""
    root = Path(np.__file__).resolve().parent
    blas = [i for i in infos if i.get("user_api") == "blas"]
    own = [i for i in blas if Path(i.get("filepath") or "/").resolve().parent in
           (root, root.parent / "numpy.libs") or root in Path(i.get("filepath") or "/").parents]
    return own or blas


@contextlib.contextmanager
def held_threads(torch_threads: int, scratch_threads: int | None = None):
    """torch's thread count (and scratch's, if given) set for the block, then given back, so
    that a record written afterwards carries the machine's own thread settings, which the
    machine id keys, and not one measurement's (a record states those itself)."""
    import torch

    import scratch

    before = torch.get_num_threads(), scratch.get_num_threads()
    torch.set_num_threads(torch_threads)
    if scratch_threads is not None:
        scratch.set_num_threads(scratch_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        scratch.set_num_threads(before[1])


def machine_fingerprint(checkout: Path | None) -> dict:
    """What a reader needs to judge a number: hardware, the numpy and torch builds, BLAS and
    thread settings, the governor, the load, and the commit of `checkout` (the project
    checkout the run came from, None outside one)."""
    import numpy as np
    import torch
    from threadpoolctl import threadpool_info

    import scratch

    blas = [{k: i.get(k) for k in _BLAS_FIELDS} for i in _numpys_blas(threadpool_info(), np)]
    fp = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "hostname": platform.node() or None,
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numpy_build": _numpy_build(np),
        "numpy_blas": blas,
        "torch": torch.__version__,
        "torch_build": _torch_build(torch),
        "torch_threads": torch.get_num_threads(),
        "scratch_threads": scratch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "thread_env": {k: os.environ[k] for k in THREAD_ENV if k in os.environ},
        "governor": _governor(),
        "load": _load(),
        "git_commit": git_commit(checkout),
    }
    fp["machine_id"] = machine_id(fp)
    return fp


def machine_id(fp: dict) -> str:
    """A short stable name for the hardware, builds and settings a record came from: a hash
    of `ID_FIELDS` and numpy's BLAS (library, version, kernel, threading, threads).

    Fields a fingerprint lacks (records written before they were recorded) count as
    unknown, so such records share an id with each other but not with newer ones: nothing
    shows that their BLAS kernel or thread settings were the same.
    """
    key = {k: fp.get(k) for k in ID_FIELDS}
    blas = fp.get("numpy_blas") or []
    # A record may list other packages' BLAS beside numpy's (written before
    # `_numpys_blas`): where the numpy build names its BLAS version, that one is numpy's.
    build = (fp.get("numpy_build") or {}).get("blas") or ""
    blas = [b for b in blas if b.get("version") and str(b["version"]) in build] or blas
    key["numpy_blas"] = [{k: b.get(k) for k in _BLAS_ID_FIELDS} for b in blas]
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]


def machine_label(fp: dict) -> str:
    """One line naming the machine, for table captions."""
    blas = ", ".join(f"{b['internal_api']} {b.get('architecture') or ''}".strip()
                     for b in fp.get("numpy_blas", []))
    cuda = f", {fp['cuda']}" if fp.get("cuda") else ""
    return (f"{fp['cpu']}, {fp['cores']} cores, {fp['memory_gib']} GiB, {fp['os']}; "
            f"Python {fp['python']}, numpy {fp['numpy']} ({blas}), torch {fp['torch']}{cuda} "
            f"[machine {fp['machine_id']}]")


def _unknown(value, fmt=str) -> str:
    return "not recorded" if value is None else fmt(value)


def fingerprint_text(fp: dict) -> str:
    """The full fingerprint in words: the BLAS kernel, builds, the default thread counts (a
    process's, at start: the rows of a table say what each ran with), thread variables and
    governor.

    A field the record predates reads "not recorded".
    """
    blas = "; ".join(
        f"{b['internal_api']} {b.get('version')} kernel {b.get('architecture')}, "
        f"{b.get('num_threads')} threads by default, threading "
        f"{_unknown(b.get('threading_layer'))}"
        for b in fp.get("numpy_blas", [])) or "none found"
    tb = fp.get("torch_build")
    torch_build = _unknown(tb, lambda b: f"BLAS {b['blas']}, {b['cpu_capability']}, "
                                         f"{b['parallel_backend']}, git {b['git_version'][:8]}")
    # scratch's count, where recorded (it is the default, one per core, where not; a speed
    # case records the count it ran with)
    scratch = (f", scratch threads {fp['scratch_threads']}" if "scratch_threads" in fp else "")
    env = fp.get("thread_env")
    if env is None and "openblas_coretype" in fp:  # what records before thread_env kept
        coretype = fp["openblas_coretype"]
        env_text = (f"OPENBLAS_CORETYPE={coretype}" if coretype else "OPENBLAS_CORETYPE unset")
        env_text += ", the others not recorded"
    else:
        env_text = _unknown(env, lambda e: ", ".join(f"{k}={v}" for k, v in e.items())
                            or "none set")
    return (f"numpy BLAS: {blas}; numpy build: "
            f"{_unknown(fp.get('numpy_build'), lambda b: ', '.join(f'{k} {v}' for k, v in b.items()))}; "  # noqa: E501
            f"torch build: {torch_build}; "
            f"torch threads {fp.get('torch_threads')}{scratch} by default "
            "(each table's threads column says what its rows ran with); "
            f"thread variables: {env_text}; governor: {_unknown(fp.get('governor'))}")


def load_warning(fp: dict) -> str | None:
    """A sentence when the machine was busy while the record was measured, else None."""
    load = fp.get("load") or {}
    share, average = load.get("other_cpu_share"), load.get("average")
    cores = fp.get("cores") or 1
    parts = []
    if share is not None and share > OTHER_CPU_LIMIT:
        parts.append(f"other processes used {share:.0%} of the CPUs "
                     f"(limit {OTHER_CPU_LIMIT:.0%})")
    if average and average[0] > LOAD_PER_CORE_LIMIT * cores:
        parts.append(f"the 1-minute load average was {average[0]:g} on {cores} cores "
                     f"(limit {LOAD_PER_CORE_LIMIT:g} per core)")
    return "; ".join(parts) or None
