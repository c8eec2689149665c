"""`python -m bench` is the same as the `twinbench` console script.

With a Python that lacks the project's dependencies (a system Python in a fresh
checkout), it says how to run the command line instead of a traceback.
"""

import sys

try:
    from bench.cli import run
except ModuleNotFoundError as err:  # numpy itself is missing: bench.cli cannot even load
    print(f"twinbench: this Python ({sys.executable}) lacks the package {err.name!r}; run the "
          "command line through tox, which installs what it needs: `tox -e bench -- --help`",
          file=sys.stderr)
    sys.exit(2)

if __name__ == "__main__":  # not when multiprocessing's spawn imports it in a child
    run()
