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
