"""tox's inline plugin (tox 4 loads `toxfile.py` beside tox.ini): Ctrl-C goes to the command.

Ctrl-C in a terminal signals tox and the command it runs alike. tox 4 then waits for the
command (`suicide_timeout`), but it keeps the command's result only if the command ended
within tox's own one-second poll; a command that takes longer to save its work and stop
is reported as skipped, and tox exits 1. twinbench's commands keep every finished record
on Ctrl-C and exit 130, which is what `tox -e bench` should exit with too.

So in an environment that sets `ctrl_c_to_command = true`, tox leaves the first Ctrl-C
during its commands to the command and exits with the command's status. A second Ctrl-C
interrupts tox as usual: SIGINT, then SIGTERM, then SIGKILL to the command, after the
environment's `suicide_timeout`, `interrupt_timeout` and `terminate_timeout`.
"""

from __future__ import annotations

import signal
import threading

from tox.config.sets import EnvConfigSet
from tox.plugin import impl
from tox.session.state import State
from tox.tox_env.api import ToxEnv

KEY = "ctrl_c_to_command"

# Set while the commands of an environment with KEY run; cleared by the first Ctrl-C.
_command_takes_ctrl_c = threading.Event()


def _on_ctrl_c(signum, frame) -> None:
    if _command_takes_ctrl_c.is_set():
        _command_takes_ctrl_c.clear()  # the command has it; the next one is tox's
        return
    signal.default_int_handler(signum, frame)  # KeyboardInterrupt: tox's own teardown


# tox loads its plugins in the main thread, the only one that may set a signal handler. A
# handler, unlike SIG_IGN, is reset to the default in the command, which then gets Ctrl-C.
if (threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
    signal.signal(signal.SIGINT, _on_ctrl_c)


@impl
def tox_add_env_config(env_conf: EnvConfigSet, state: State) -> None:  # noqa: ARG001
    env_conf.add_config(KEY, of_type=bool, default=False,
                        desc="leave the first Ctrl-C during the commands to the command "
                             "and exit with its status (toxfile.py)")


@impl
def tox_before_run_commands(tox_env: ToxEnv) -> None:
    if tox_env.conf[KEY]:
        _command_takes_ctrl_c.set()


@impl
def tox_after_run_commands(tox_env: ToxEnv, exit_code: int, outcomes: list) -> None:  # noqa: ARG001
    _command_takes_ctrl_c.clear()
