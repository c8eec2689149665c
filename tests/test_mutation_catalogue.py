"""The mutation run's catalogue (tools/mutation.py) cannot rot silently: every planted bug
still applies to exactly one place, and every test file it maps to exists. The run itself
is opt-in (`tox -e mutation`): it takes minutes."""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("mutation", ROOT / "tools" / "mutation.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("mutation", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_mutant_applies_exactly_once():
    tool = _tool()
    assert tool.check_catalogue() == []
    assert len(tool.CATALOGUE) >= 40


def test_a_rotted_entry_is_named(monkeypatch):
    tool = _tool()
    gone = tool.Mutant("gone", "scratch/activation.py", "no such text", "x", ("tests/nope.py",),
                       "a bug in code that has moved")
    monkeypatch.setattr(tool, "CATALOGUE", [*tool.CATALOGUE, gone])
    assert tool.check_catalogue() == [
        "gone: scratch/activation.py holds its text 0 times, not once",
        "gone: no test file tests/nope.py"]
