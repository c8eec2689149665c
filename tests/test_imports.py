"""The import direction: scratch loads numpy only, never torch."""

import subprocess
import sys


def test_import_scratch_loads_no_torch():
    code = ("import sys, scratch, scratch.optim, scratch.init; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'pandas', 'bench', 'reference', 'scipy')); print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
