"""The mechanical mutation run (tools/cosmic_ray_run.py, opt-in) stays runnable, and the real
bugs among its survivors stay caught.

The run itself takes half an hour; here its configuration is checked (every source file it
mutates has its tests mapped, and they exist), and each survivor of a run that was a real
behaviour difference gets its test below, named after what the mutant broke."""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        spec = importlib.util.spec_from_file_location("cosmic_ray_run",
                                                      ROOT / "tools" / "cosmic_ray_run.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "tools"))
    return module


def test_every_mutated_file_has_its_tests_mapped():
    tool = _tool()
    config = tool.load_config()
    names = tool.modules(config)
    assert "scratch/functional/activation.py" in names
    assert "scratch/optim/lr_scheduler.py" in names
    assert not any(n.endswith("__init__.py") for n in names)
    assert len(names) == len(config["tests"])
