"""`twinbench check FILE.py`: run the twin checks a file declares and print their tables.

The convention: every module-level function whose name starts with `check_`
is called with no arguments and returns a `CheckReport` (from
`bench.compare.check.check` or `check_optimizer`) or a list of them. Exit
status 0 when every check passes, 1 when any fails, 2 when the file is
missing, does not import, or declares no checks.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import traceback
from pathlib import Path


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"twinbench_check_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))  # the file may import its neighbours
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def _run(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file() or path.suffix != ".py":
        print(f"twinbench check: expected a Python file, got {str(path)!r} "
              f"({'not found' if not path.exists() else 'not a .py file'})", file=sys.stderr)
        return 2
    try:
        module = _load(path)
    except Exception as err:  # the user's file: show their traceback, not ours
        traceback.print_exc()
        print(f"twinbench check: {path} does not import: {type(err).__name__}: {err}",
              file=sys.stderr)
        return 2
    checks = [(n, f) for n, f in vars(module).items() if n.startswith("check_") and callable(f)
              and getattr(f, "__module__", None) == module.__name__]
    if args.k:
        checks = [(n, f) for n, f in checks if args.k in n]
    if not checks:
        print(f"twinbench check: {path} declares no checks: define functions named check_* "
              f"that return bench.compare.check.check(...)", file=sys.stderr)
        return 2

    from bench.compare.check import CheckReport

    failed = 0
    for name, fn in checks:
        try:
            out = fn()
        except Exception as err:
            failed += 1
            print(f"## {name}: ERROR {type(err).__name__}: {err}\n")
            continue
        reports = out if isinstance(out, list | tuple) else [out]
        for rep in reports:
            if not isinstance(rep, CheckReport):
                failed += 1
                print(f"## {name}: returned {type(rep).__name__}, expected a CheckReport\n")
                continue
            failed += not rep.ok
            print(f"## {name}: {rep.summary()}\n\n{rep.table()}\n")
    print(f"{failed} check(s) failed" if failed else f"all {len(checks)} check(s) passed")
    return 1 if failed else 0


def add_command(sub) -> None:
    p = sub.add_parser("check", help="run the twin checks a Python file declares (check_*)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", help="a Python file defining check_* functions")
    p.add_argument("-k", default="", help="only the checks whose name contains this")
    p.set_defaults(func=_run, parser=p)
