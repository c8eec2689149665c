"""Ctrl-C through tox: toxfile.py leaves the first one to the command, and tox exits with the
command's status (twinbench's 130), even when the command takes longer than tox's one-second
poll to save its work; a second Ctrl-C is tox's own. Each case runs tox on a scratch project
whose one environment runs a stand-in command, in its own process group as a terminal's
foreground job is, and presses Ctrl-C by signalling the group."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("tox")

ROOT = Path(__file__).resolve().parents[1]

# Saves for longer than tox's poll after Ctrl-C, then exits 130 as twinbench does; with
# IGNORE it lets the first Ctrl-C pass, as a command that hangs would.
COMMAND = """
import pathlib, signal, sys, time
if sys.argv[2] == "ignore":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
pathlib.Path(sys.argv[1]).touch()
try:
    time.sleep(120)
except KeyboardInterrupt:
    time.sleep(2.5)
    sys.exit(130)
"""

TOX_INI = """[testenv:job]
skip_install = true
ctrl_c_to_command = true
suicide_timeout = 1
interrupt_timeout = 1
terminate_timeout = 1
commands = python command.py {{toxinidir}}{{/}}started {mode}
"""


def tox_with_ctrl_c(tmp_path: Path, mode: str, presses: int) -> tuple[int, float, str]:
    """Run `tox -e job` in tmp_path, press Ctrl-C `presses` times once the command has
    started; tox's exit status, the seconds from the first press to its end, its output."""
    (tmp_path / "tox.ini").write_text(TOX_INI.format(mode=mode))
    (tmp_path / "command.py").write_text(COMMAND)
    shutil.copy(ROOT / "toxfile.py", tmp_path / "toxfile.py")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOX", "PIP_"))}
    tox = subprocess.Popen(
        [sys.executable, "-m", "tox", "-e", "job", "--workdir", str(tmp_path / ".tox")],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
        # a terminal's job gets Ctrl-C even when pytest runs where SIGINT is ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not (tmp_path / "started").exists():
        assert tox.poll() is None, tox.communicate()[0].decode()
        assert time.monotonic() < deadline, "the command did not start"
        time.sleep(0.1)
    pressed = time.monotonic()
    for _ in range(presses):
        os.killpg(tox.pid, signal.SIGINT)
        time.sleep(0.5)
    try:
        out, _ = tox.communicate(timeout=60)
    finally:
        if tox.poll() is None:
            os.killpg(tox.pid, signal.SIGKILL)
    return tox.returncode, time.monotonic() - pressed, out.decode()


def test_ctrl_c_is_the_commands_and_tox_exits_with_its_status(tmp_path):
    code, _, out = tox_with_ctrl_c(tmp_path, "save", presses=1)
    assert code == 130, out


def test_a_second_ctrl_c_stops_a_command_that_does_not_stop(tmp_path):
    code, seconds, out = tox_with_ctrl_c(tmp_path, "ignore", presses=2)
    assert code != 0, out
    assert seconds < 30, f"tox took {seconds:.0f} s after the second Ctrl-C:\n{out}"
