"""Comparison: scratch against torch, on one layer, a catalogue of them, or a whole run.

- `parity`: `compare(module, *inputs)`, `ParityResult`, the per-dtype `TOLERANCES`.
- `catalogue`: `CASES`, the components every parity check runs, and `parity_table`.
- `check`: the public twin check for anyone's NumPy layer or optimizer: `check`,
  `check_optimizer`, `Adapter`, `Param`, `CheckReport`.
- `lockstep`: both twins trained step by step on identical batches; their drift.

The one relative-difference measure is `scratch.testing.max_rel_diff`.
"""

from bench.compare.catalogue import (
    CASES,
    Case,
    finite_difference_error,
    parity_table,
    run_case,
    too_big_for_gradcheck,
)
from bench.compare.check import (
    SAME,
    TRANSPOSED,
    Adapter,
    AdapterError,
    CheckReport,
    OptimizerAdapter,
    Param,
    check,
    check_optimizer,
    permuted,
    scratch_adapter,
    scratch_optimizer,
)
from bench.compare.lockstep import (
    LockstepReport,
    run_lockstep,
    weight_norm_rel_diff,
    weight_rel_diff,
)
from bench.compare.parity import TOLERANCES, ParityResult, Tolerance, compare
from scratch.testing import max_rel_diff

__all__ = ["CASES", "SAME", "TRANSPOSED", "Adapter", "AdapterError", "CheckReport",
           "OptimizerAdapter", "Param", "check", "check_optimizer", "permuted",
           "scratch_adapter", "scratch_optimizer", "TOLERANCES", "Case", "LockstepReport",
           "ParityResult", "Tolerance",
           "compare", "finite_difference_error", "max_rel_diff", "parity_table", "run_case",
           "run_lockstep", "too_big_for_gradcheck", "weight_norm_rel_diff", "weight_rel_diff"]
