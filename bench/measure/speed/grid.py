"""The benchmark grids: which (arch, batch, dtype, threads, phase, twin) cases run.

`smoke` runs each kind of case once for the test suite; `default` is the
README's main command (a few minutes on 2 cores); `full` is everything. The
operation cases (workloads.OPS: one layer, forward and backward) feed the
per-operation table.
Chosen with the TWINBENCH_GRID environment variable (set by `twinbench bench`).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

from bench.measure.speed.workloads import (
    CNNS,
    GENERATIVE,
    MLPS,
    OP_PHASES,
    OPS,
    PHASES,
    RESNETS,
    SEQUENCES,
)

BATCHES = (1, 32, 128, 512, 2048)
RESNET_BATCHES = (32, 128, 512)  # a ResNet step at batch 2048 takes seconds in scratch


@dataclass(frozen=True)
class Case:
    arch: str
    batch: int
    dtype: str
    threads: int
    phase: str
    impl: str

    @property
    def group(self) -> str:
        """Benchmarks grouped by workload; the twin is the parameter that varies."""
        return (f"{self.arch} batch={self.batch} {self.dtype} threads={self.threads} "
                f"{self.phase}")

    @property
    def id(self) -> str:
        return f"{self.group.replace(' ', '-')}-{self.impl}"


def all_threads() -> int:
    return os.cpu_count() or 1


def impls() -> tuple[str, ...]:
    try:
        import torch

        cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a bench dependency
        cuda = False
    return ("scratch", "torch", "torch-cuda") if cuda else ("scratch", "torch")


def cases(grid: str | None = None) -> list[Case]:
    grid = grid or os.environ.get("TWINBENCH_GRID", "smoke")
    cnns = tuple(CNNS)
    both = sorted({1, all_threads()})
    out: list[Case] = []

    def add(archs, batches, dtypes, threads, phases):
        for arch, b, dt, t, ph, impl in itertools.product(archs, batches, dtypes, threads,
                                                          phases, impls()):
            if impl == "torch-cuda" and t != all_threads():
                continue  # thread count is a CPU setting
            out.append(Case(arch, b, dt, t, ph, impl))

    if grid == "smoke":
        add(("mlp-128", *cnns), (32,), ("float32",), (1,), PHASES)
        add(("conv2d-16-32", "relu"), (8,), ("float32",), (1,), OP_PHASES)
        add(tuple(GENERATIVE), (8,), ("float32",), (1,), ("step",))
    elif grid == "default":
        add(tuple(MLPS), BATCHES, ("float32",), both, ("step",))
        add(tuple(MLPS), (1,), ("float32",), both, ("forward",))
        # the CNN at 1 and all threads, batch 32 to 512: what "Every core" is measured by
        add(cnns, (32, 128, 512), ("float32",), both, ("step",))
        add(tuple(SEQUENCES), (1, 32, 128, 512), ("float32",), both, ("step",))
        add(tuple(RESNETS), RESNET_BATCHES, ("float32",), both, ("step",))
        add(tuple(OPS), (128,), ("float32",), (all_threads(),), OP_PHASES)
        add(tuple(GENERATIVE), (32, 128), ("float32",), both, ("step",))
    elif grid == "full":
        add((*MLPS, *cnns), BATCHES, ("float32", "float64"), both, PHASES)
        add(tuple(SEQUENCES), (1, 32, 128, 512), ("float32", "float64"), both, PHASES)
        add(tuple(RESNETS), RESNET_BATCHES, ("float32", "float64"), both, PHASES)
        add(tuple(OPS), (32, 128, 512), ("float32",), both, OP_PHASES)
        add(tuple(GENERATIVE), (32, 128, 512), ("float32", "float64"), both,
            ("forward", "step"))
    else:
        raise ValueError(f"unknown grid {grid!r}; expected smoke, default or full")
    return out
