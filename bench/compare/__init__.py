"""Comparison: scratch against torch, on one layer, a catalogue of them, or a whole run.

- `twins`: one twin run (`run_twins`: the upstream gradient, both backwards, every tensor
  paired) and its one result, `ParityResult`, with its two rules (`failures`, `rows`);
  the per-dtype `TOLERANCES`.
- `parity`: `compare(module, *inputs)`, a scratch module against its twin, nothing cast.
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
from bench.compare.parity import compare
from bench.compare.twins import TOLERANCES, ParityResult, Row, Tolerance, run_twins
from scratch.testing import max_rel_diff

__all__ = ["CASES", "SAME", "TRANSPOSED", "Adapter", "AdapterError", "CheckReport",
           "OptimizerAdapter", "Param", "check", "check_optimizer", "permuted",
           "scratch_adapter", "scratch_optimizer", "TOLERANCES", "Case", "LockstepReport",
           "ParityResult", "Row", "Tolerance", "run_twins",
           "compare", "finite_difference_error", "max_rel_diff", "parity_table", "run_case",
           "run_lockstep", "too_big_for_gradcheck", "weight_norm_rel_diff", "weight_rel_diff"]
