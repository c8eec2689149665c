"""The twinbench command line."""

import subprocess
import sys

from bench import cli


def test_parity_command_prints_every_component(capsys):
    from bench.compare import CASES

    assert cli.main(["parity", "--batch", "2"]) == 0
    out = capsys.readouterr().out
    for case in CASES:
        assert f"| {case.name} " in out
    assert "float32" in out and "float64" in out
    assert "| NO " not in out
    # the MLP is too large for finite differences: the table says so instead of "nan"
    assert "nan" not in out
    assert "| MLP 784-256-128-10 " in out and "skipped (too large)" in out


def test_python_dash_m_bench_help():
    out = subprocess.run([sys.executable, "-m", "bench", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "parity" in out and "data" in out
