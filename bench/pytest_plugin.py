"""twinbench's pytest plugin (entry point `pytest11`): the `twin_check` fixture.

A user's test of their own layer is three lines:

    def test_dense(twin_check):
        twin_check(Dense(5, 3), torch.nn.Linear(5, 3), x, adapter=DENSE)

`twin_check(...)` takes `bench.compare.check.check`'s arguments, runs the
check and fails the test with the table of differences (the first tensor
that disagrees named on top) unless every tensor agrees; it returns the
`CheckReport`. `twin_check.optimizer(...)` does the same for
`check_optimizer`. Loading the plugin imports nothing heavy: torch and the
check are imported when a test first uses the fixture.
"""

from __future__ import annotations

import pytest


class TwinCheck:
    """The fixture's value: call it to check a layer, `.optimizer` for an optimizer."""

    def __call__(self, layer, torch_module, *inputs, **kwargs):
        from bench.compare.check import check
        return check(layer, torch_module, *inputs, **kwargs).assert_ok()

    def optimizer(self, adapter, torch_optimizer, **kwargs):
        from bench.compare.check import check_optimizer
        return check_optimizer(adapter, torch_optimizer, **kwargs).assert_ok()


@pytest.fixture
def twin_check() -> TwinCheck:
    """Check a NumPy layer against its torch twin; fails the test with the table."""
    return TwinCheck()
