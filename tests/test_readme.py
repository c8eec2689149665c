"""The README's example runs as written and its twins agree."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    assert abs(namespace["loss"] - namespace["tloss"].item()) <= 1e-5 * abs(namespace["loss"])
    assert (tmp_path / "mlp.npz").exists()


def test_readme_commands_exist_in_tox():
    commands = re.findall(r"tox -e (\w+)", README.read_text())
    tox = (README.parent / "tox.ini").read_text()
    assert commands
    for env in commands:
        assert env == "py" or f"[testenv:{env}]" in tox


def _block(marker: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    found = [b for b in blocks if b.startswith(marker)]
    assert found, f"README has no python block starting with {marker!r}"
    return found[0]


def test_readme_twin_check_example_runs_and_passes(capsys):
    namespace: dict = {}
    exec(compile(_block("# twin check: your own layer"), str(README), "exec"), namespace)
    report = namespace["report"]
    assert report.ok, str(report)
    assert "weight.grad" in capsys.readouterr().out
    # The README's layer, with its bias gradient broken, is caught and named.
    dense = namespace["Dense"](5, 3)
    dense.backward = lambda g, d=dense: (setattr(d, "dW", d.x.T @ g),
                                         setattr(d, "db", g.sum(axis=0) * 1.5), g @ d.W.T)[2]
    bad = namespace["check"](dense, namespace["torch"].nn.Linear(5, 3),
                             namespace["np"].ones((4, 5)), adapter=namespace["DENSE"])
    assert bad.first_failure.tensor == "bias.grad"
