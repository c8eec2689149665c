"""The speed suite: pytest-benchmark races the twins on forward, backward and training steps.

Run through `twinbench bench` (which pins threads, picks the grid and records
the results); a plain `pytest bench/speed --benchmark-disable` runs each case
once as a smoke test.
"""
