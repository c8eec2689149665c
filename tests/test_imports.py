"""The import direction: scratch loads numpy only; bench's layers import only downwards.

The layers, bottom to top, are in `LAYERS` (ARCHITECTURE.md draws the same
map). Every `import` and `from ... import` in a bench module, at the top or
inside a function, may name its own layer, a lower one, scratch, reference or
a third-party package, never a higher layer; reference may import scratch,
never bench; scratch imports none of them.
"""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# bench's sub-packages, bottom to top: each imports only from those before it.
LAYERS = ("results", "datasets", "experiments", "training", "compare", "peers", "measure", "demo",
          "cli")
# What each top-level package may import of the project's own packages.
ALLOWED_PROJECT = {"scratch": {"scratch"}, "reference": {"scratch", "reference"},
                   "bench": {"scratch", "reference", "bench"}}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module name) of every import in the file, nested ones included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from bench import datasets` imports the sub-package bench.datasets
            out += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return out


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "bench" or len(parts) < 2 or parts[1] not in LAYERS:
        return None  # bench itself, bench.__main__
    return parts[1]


def violations(root: Path) -> list[str]:
    bad = []
    for package, allowed in ALLOWED_PROJECT.items():
        for path in sorted((root / package).rglob("*.py")):
            module = ".".join(path.relative_to(root).with_suffix("").parts)
            own = layer_of(module)
            for line, name in imported_modules(path):
                top = name.split(".")[0]
                where = f"{path.relative_to(root)}:{line} imports {name}"
                if top in ALLOWED_PROJECT and top not in allowed:
                    bad.append(f"{where}: {package} may import only {sorted(allowed)}")
                target = layer_of(name)
                if own and target and LAYERS.index(target) > LAYERS.index(own):
                    bad.append(f"{where}: bench.{own} may not import the higher layer "
                               f"bench.{target}")
    return bad


def test_bench_layers_import_only_downwards():
    assert violations(ROOT) == []


def test_the_checker_catches_an_upward_import(tmp_path):
    # Plant the bug the test above is for: a training module importing the CLI.
    for package in ALLOWED_PROJECT:
        (tmp_path / package).mkdir()
    (tmp_path / "bench" / "training").mkdir()
    (tmp_path / "bench" / "training" / "loop.py").write_text(
        "from bench.results import records\n\ndef f():\n    from bench.cli import train\n")
    (tmp_path / "scratch" / "module.py").write_text("import reference\n")
    found = violations(tmp_path)
    assert len(found) == 2
    assert any("bench/training/loop.py:4 imports bench.cli.train" in f for f in found)
    assert any("scratch/module.py:1 imports reference" in f for f in found)


def test_every_bench_subpackage_is_a_layer():
    subpackages = {p.parent.name for p in (ROOT / "bench").glob("*/__init__.py")}
    assert subpackages == set(LAYERS)


# Optional packages scratch may use only when a call needs them (safetensors when a
# .safetensors file is read or written), and packages it never uses.
NOT_AT_IMPORT = ("torch", "pandas", "bench", "reference", "scipy", "safetensors", "PIL", "onnx",
                 "onnxruntime", "starlette", "uvicorn", "sklearn")


def test_import_scratch_loads_no_torch(tmp_path):
    # An .npz round trip, too, stays within numpy: safetensors comes only for its own files.
    code = ("import sys, numpy, scratch, scratch.optim, scratch.init; "
            f"scratch.save({{'w': numpy.zeros(2)}}, {str(tmp_path / 'w.npz')!r}); "
            f"scratch.load({str(tmp_path / 'w.npz')!r}); "
            f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {NOT_AT_IMPORT}); "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_safetensors_is_imported_when_a_safetensors_file_is_written(tmp_path):
    # The check above would pass if the names were wrong; here the same probe sees the import.
    code = ("import sys, numpy, scratch; "
            f"scratch.save({{'w': numpy.zeros(2)}}, {str(tmp_path / 'w.safetensors')!r}); "
            "print('safetensors' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True", out.stdout


def test_the_command_line_starts_without_torch():
    # Commands import their library when they run: `twinbench data` works without torch.
    code = ("import sys, bench.cli; bench.cli.build_parser(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'pandas', "
            "'safetensors', 'PIL', 'onnx', 'onnxruntime', 'starlette', 'uvicorn', 'sklearn')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def functional_imports(path: Path) -> list[str]:
    """How a module file imports the math: every import naming scratch.functional."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("scratch"):
            names = [f"{a.name} as {a.asname}" if a.asname else a.name for a in node.names]
            if node.module.startswith("scratch.functional") or any(
                    a.name == "functional" for a in node.names):
                out.append(f"from {node.module} import {', '.join(names)}")
        elif isinstance(node, ast.Import):
            out += [f"import {a.name}" for a in node.names if a.name.startswith("scratch.func")]
    return out


def test_scratch_modules_import_the_math_one_way():
    # `from scratch import functional as F`, then F.name(...): one boundary, one spelling.
    # (scratch/__init__.py re-exports the package itself.)
    bad = {p.name: found for p in sorted((ROOT / "scratch").glob("*.py"))
           if p.name != "__init__.py"
           and (found := [s for s in functional_imports(p)
                         if s != "from scratch import functional as F"])}
    assert bad == {}


def test_the_import_style_check_sees_another_style(tmp_path):
    (tmp_path / "m.py").write_text("from scratch.functional.loss import mse\n"
                                   "from scratch import functional as F\n")
    assert functional_imports(tmp_path / "m.py") == [
        "from scratch.functional.loss import mse", "from scratch import functional as F"]
