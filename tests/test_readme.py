"""The README and the docs pages: their examples run as written and the twins agree, the
commands they name exist, and every relative link leads to a file of the checkout."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]


def _blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)


def test_the_scratch_example_runs(tmp_path, monkeypatch, capsys):
    page = ROOT / "docs" / "scratch.md"
    blocks = _blocks(page)
    assert blocks, f"{page} has no python example"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(blocks[0], str(page), "exec"), namespace)
    assert abs(namespace["loss"] - namespace["tloss"].item()) <= 1e-5 * abs(namespace["loss"])
    assert (tmp_path / "mlp.npz").exists()


def test_commands_exist_in_tox():
    tox = (ROOT / "tox.ini").read_text()
    for page in PAGES:
        for env in re.findall(r"tox -e (\w+)", page.read_text()):
            assert env == "py" or f"[testenv:{env}]" in tox, (page.name, env)
    assert re.findall(r"tox -e (\w+)", README.read_text())


_LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_leads_to_a_file(page):
    """A page moved into docs/ (or a file renamed) leaves no link behind."""
    for target in _LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.exists() and path.is_relative_to(ROOT), (page.name, target)


def _block(page: Path, marker: str) -> str:
    found = [b for b in _blocks(page) if b.startswith(marker)]
    assert found, f"{page.name} has no python block starting with {marker!r}"
    return found[0]


@pytest.mark.parametrize("page", [README, ROOT / "docs" / "check.md"], ids=lambda p: p.name)
def test_the_twin_check_example_runs_and_passes(page, capsys):
    namespace: dict = {}
    exec(compile(_block(page, "# twin check: your own layer"), str(page), "exec"), namespace)
    report = namespace["report"]
    assert report.ok, str(report)
    assert "weight.grad" in capsys.readouterr().out
    # The page's layer, with its bias gradient broken, is caught and named.
    dense = namespace["Dense"](5, 3)
    dense.backward = lambda g, d=dense: (setattr(d, "dW", d.x.T @ g),
                                         setattr(d, "db", g.sum(axis=0) * 1.5), g @ d.W.T)[2]
    bad = namespace["check"](dense, namespace["torch"].nn.Linear(5, 3),
                             namespace["np"].ones((4, 5)), adapter=namespace["DENSE"])
    assert bad.first_failure.tensor == "bias.grad"


def test_the_readmes_check_is_about_ten_lines_past_the_layer():
    code = [ln for ln in _block(README, "# twin check: your own layer").splitlines()
            if ln.strip() and not ln.startswith("#")]
    layer = [ln for ln in code if ln.startswith(("class ", "    "))]
    assert len(code) - len(layer) <= 10, code
