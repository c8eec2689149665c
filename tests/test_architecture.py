"""ARCHITECTURE.md is held to the code: every name it puts in backticks exists.

The map is read as a newcomer would use it. A backticked dotted path
(`results.records.run_dir`, `Parameter.accumulate_grad`) must import or
resolve to an attribute; a backticked file (`cli/train.py`, `page.html`) must
exist in the package the map is describing; the bench layer table must list
`LAYERS` of tests/test_imports.py in order; and the map needs nothing outside
the repository.
"""

import importlib
import pkgutil
import re
from functools import cache
from pathlib import Path

import pytest
from test_imports import LAYERS

ROOT = Path(__file__).resolve().parents[1]
MAP = ROOT / "ARCHITECTURE.md"
PACKAGES = ("scratch", "reference", "bench")
# Source files are checked by name alone; a generated file (a run's `summary.md`) only
# where the map gives its folder (`results/published.json`).
SOURCE_SUFFIXES = (".py", ".html", ".toml", ".ini", ".txt", ".cfg")
FILE_SUFFIXES = (*SOURCE_SUFFIXES, ".md", ".json", ".png")
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
DOTTED = re.compile(rf"{IDENT}(?:\.{IDENT})+")
# A file may be named from any of these folders (the map names `conv.py` inside the
# scratch/functional table, `cli/train.py` inside bench's).
FOLDERS = (ROOT, ROOT / "scratch", ROOT / "scratch" / "functional", ROOT / "scratch" / "optim",
           ROOT / "reference", ROOT / "bench", *(ROOT / "bench").glob("*/"),
           ROOT / "bench" / "measure" / "speed", ROOT / "tests",
           ROOT / "tools", ROOT / ".ci")


def backticked(text: str) -> list[str]:
    """Every `...` span of the markdown outside fenced blocks, call parentheses dropped."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return [re.sub(r"\(.*\)$", "", span) for span in re.findall(r"`([^`\n]+)`", text)]


def dotted_names(spans: list[str]) -> list[str]:
    return sorted({s for s in spans if DOTTED.fullmatch(s) and not s.endswith(FILE_SUFFIXES)})


def file_names(spans: list[str]) -> list[str]:
    """Spans that name one file or folder of the repository (no placeholders or globs)."""
    out = set()
    for s in spans:
        s = s.rstrip("/")
        if not re.fullmatch(r"[\w./-]+", s) or s.startswith((".", "$")):
            continue
        if s.endswith(SOURCE_SUFFIXES) or ("/" in s and s.endswith(FILE_SUFFIXES)):
            out.add(s)
    return sorted(out)


@cache
def project_index() -> dict[str, list[object]]:
    """Every top-level name of every project module, and the modules themselves: the map
    may name `ParityResult.failures` without its module."""
    index: dict[str, list[object]] = {}
    for package in PACKAGES:
        pkg = importlib.import_module(package)
        # Not imported: __main__ runs the CLI, and the speed suite's test_* modules read
        # their parameters from the environment when first imported (the suite imports them
        # itself, in a pytest run of its own, which must not find them already imported).
        names = [package] + [m.name for m in pkgutil.walk_packages(pkg.__path__, f"{package}.")
                             if not m.name.endswith("__main__")
                             and not m.name.rsplit(".", 1)[-1].startswith("test_")]
        for name in names:
            module = importlib.import_module(name)
            index.setdefault(name.rsplit(".", 1)[-1], []).append(module)
            for attr, value in vars(module).items():
                if not attr.startswith("__"):
                    index.setdefault(attr, []).append(value)
    return index


def resolves(dotted: str) -> bool:
    """Whether `dotted` imports as a module path (absolute, or under a project package or
    bench layer), or its first part is a project name whose attributes follow."""
    if dotted.startswith("F."):  # the map writes scratch's functional as modules do
        dotted = "scratch.functional." + dotted[2:]
    parts = dotted.split(".")
    prefixes = ("", *(f"{p}." for p in PACKAGES), "scratch.functional.",
                *(f"bench.{layer}." for layer in LAYERS))
    for prefix in prefixes:
        full = (prefix + dotted).split(".")
        for cut in range(len(full), 0, -1):
            try:
                obj = importlib.import_module(".".join(full[:cut]))
            except ImportError:
                continue
            if _follow(obj, full[cut:]):
                return True
            break
    return any(_follow(obj, parts[1:]) for obj in project_index().get(parts[0], []))


def _follow(obj, attrs: list[str]) -> bool:
    for attr in attrs:
        fields = getattr(obj, "__dataclass_fields__", {}) or getattr(obj, "_fields", ())
        if not hasattr(obj, attr) and attr not in fields:
            return False
        obj = getattr(obj, attr, None)
    return True


def exists(name: str) -> bool:
    return any((folder / name).exists() for folder in FOLDERS)


SPANS = backticked(MAP.read_text())


@pytest.mark.parametrize("name", dotted_names(SPANS))
def test_every_dotted_name_in_the_map_exists(name):
    assert resolves(name), f"ARCHITECTURE.md names `{name}`, which does not exist"


@pytest.mark.parametrize("name", file_names(SPANS))
def test_every_file_in_the_map_exists(name):
    assert exists(name), f"ARCHITECTURE.md names the file `{name}`, which does not exist"


def layer_rows() -> dict[str, str]:
    """Layer -> the modules cell of its row in the map's bench layer table."""
    table = MAP.read_text().split("| layer | job | modules |", 1)[1].split("\n\n", 1)[0]
    return dict(re.findall(r"^\| `(\w+)` \|.*\| (.*) \|$", table, flags=re.M))


def test_the_layer_table_is_LAYERS_in_order():
    assert tuple(layer_rows()) == LAYERS


@pytest.mark.parametrize("layer", LAYERS)
def test_every_module_of_a_layer_is_in_its_row(layer):
    cell = set(re.findall(r"`(\w+)/?`", layer_rows().get(layer, "")))
    folder = ROOT / "bench" / layer
    modules = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
    modules |= {p.parent.name for p in folder.glob("*/__init__.py")}
    assert modules <= cell, f"bench.{layer}'s row does not name {sorted(modules - cell)}"


def test_every_scratch_and_reference_file_is_in_the_map():
    named = set(SPANS)
    files = [p for pkg in ("scratch", "reference") for p in (ROOT / pkg).rglob("*.py")
             if p.stem != "__init__"]
    missing = [str(p.relative_to(ROOT)) for p in files
               if p.name not in named and p.stem not in named]
    assert missing == []


def test_the_map_stands_alone():
    # A clone has nothing beside it: the map may not send the reader out of the repository.
    assert "../" not in MAP.read_text()


def test_the_checks_catch_a_stale_name():
    # Plant the drift the tests above are for: a renamed function, a moved file.
    spans = backticked("`results.records.no_such_run_dir` and `cli/no_such.py`, "
                       "`scratch.testing.max_rel_diff` and `cli/train.py`")
    names, files = dotted_names(spans), file_names(spans)
    assert [n for n in names if not resolves(n)] == ["results.records.no_such_run_dir"]
    assert [f for f in files if not exists(f)] == ["cli/no_such.py"]
