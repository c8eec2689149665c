"""Measurement: how fast and how accurate each twin is, recorded with the machine.

- `accuracy`: train an experiment with both twins; confusion matrices.
- `tta`: time to accuracy (MLPerf's definition) over seeds.
- `speed/`: the pytest-benchmark speed suite (grids, workloads) and the matmul ceiling.
- `main`: the steps of the main job, `twinbench bench`.

Benchmarks measure and report; nothing here passes or fails on time.
"""
