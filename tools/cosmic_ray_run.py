"""The mechanical mutation run: cosmic-ray's operators over scratch/functional and scratch/optim.

`tools/mutation.py` plants bugs that people chose; this run plants the ones a machine
enumerates (every binary, comparison and unary operator swapped, numbers moved by one,
True/False, and/or, break/continue swapped, for loops emptied, decorators removed,
variables replaced), so that the measure is not picked by the test writers.

All of them would take hours, so the run draws a fixed-seed sample of `sample` mutants
per source file (each file's population and its draw are in the report). Each mutant is
planted by cosmic-ray (`mutate_and_test`, the file restored afterwards; checked here byte
for byte), with every `__pycache__` removed first and bytecode writing off, and only the
test files mapped to its source file run (`[tool.cosmic-ray.tests]`), with `-x`. Before
a file's mutants, its mapped tests run once clean: they must pass, and their time sets
the timeout (`timeout-factor` times it plus `timeout-slack` seconds; cosmic-ray counts a
timeout as killed, the report counts it apart).

The results are cosmic-ray sessions, one SQLite file per source file under
`session-dir` (`cr-report runs/cosmic-ray/scratch-optim-sgd.py.sqlite` reads one), so a
run stopped halfway resumes where it stopped; `summary.json` and `survivors.txt` (each
survivor's diff) are written beside them. The configuration is `[tool.cosmic-ray]` in
pyproject.toml.

    python tools/cosmic_ray_run.py            # sample (once), run what is pending, report
    python tools/cosmic_ray_run.py --fresh    # draw new sessions, dropping old results
    python tools/cosmic_ray_run.py --report   # only the report of the sessions on disk
    python tools/cosmic_ray_run.py --survivors  # the survivors again, after adding tests
    tox -e cosmic-ray                         # the same, opt-in (not in the default envlist)

It plants mutants in this checkout's files: run it from a copy when you work meanwhile.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from pathlib import Path

try:
    from cosmic_ray.commands.init import init as cr_init
    from cosmic_ray.mutating import mutate_and_test
    from cosmic_ray.testing import run_tests
    from cosmic_ray.work_db import use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult
except ModuleNotFoundError:  # the configuration checks below still work (the default tests)
    cr_init = None

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutation import ROOT, clear_pycache  # noqa: E402  (tools/ is not a package)

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10; there cosmic-ray brings the `toml` package
    tomllib = None

OUTCOMES = ("killed", "survived", "timeout", "incompetent")


def load_config(pyproject: Path = ROOT / "pyproject.toml") -> dict:
    if tomllib is None:
        import toml
        return toml.loads(pyproject.read_text())["tool"]["cosmic-ray"]
    with open(pyproject, "rb") as f:
        return tomllib.load(f)["tool"]["cosmic-ray"]


def modules(config: dict) -> list[str]:
    """The source files to mutate, relative to the checkout; each must have its tests mapped
    and every mapped test file must exist."""
    excluded = set(config.get("excluded-modules", ()))
    found = sorted(str(p.relative_to(ROOT)) for d in config["module-path"]
                   for p in (ROOT / d).rglob("*.py"))
    found = [m for m in found if m not in excluded]
    tests = config["tests"]
    problems = [f"{m}: no tests mapped in [tool.cosmic-ray.tests]" for m in found
                if m not in tests]
    problems += [f"{m}: no test file {t}" for m in found for t in tests.get(m, ())
                 if not (ROOT / t).is_file()]
    if problems:
        raise SystemExit("the cosmic-ray configuration is incomplete:\n  " + "\n  ".join(problems))
    return found


def session_path(config: dict, module: str) -> Path:
    return ROOT / config["session-dir"] / (module.replace("/", "-") + ".sqlite")


def test_command(config: dict, module: str) -> str:
    return " ".join([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                     "-p", "no:randomly", *config["tests"][module]])


def draw(db, config: dict, module: str) -> None:
    """Enumerate every mutant of `module` into the session, then mark all but a seeded sample
    of `sample` as skipped (as cosmic-ray's own filters do)."""
    cr_init([Path(module)], db, config.get("operators", {}))
    jobs = sorted(item.job_id for item in db.work_items)
    # job ids are random uuids: order the draw by (operator, occurrence) to make it repeatable
    by_site = {item.job_id: (item.mutations[0].operator_name, item.mutations[0].occurrence)
               for item in db.work_items}
    jobs.sort(key=by_site.__getitem__)
    rng = random.Random(f"{config['seed']}:{module}")
    kept = set(rng.sample(jobs, min(config["sample"], len(jobs))))
    db.set_multiple_results([j for j in jobs if j not in kept],
                            WorkResult(worker_outcome=WorkerOutcome.SKIPPED))


def outcome(result: WorkResult) -> str | None:
    """killed / survived / timeout / incompetent; None for a skipped or empty job."""
    if result.worker_outcome in (WorkerOutcome.SKIPPED, WorkerOutcome.NO_TEST):
        return None
    if result.test_outcome == TestOutcome.KILLED:
        return "timeout" if result.output == "timeout" else "killed"
    if result.test_outcome == TestOutcome.SURVIVED:
        return "survived"
    return "incompetent"


def run_module(config: dict, module: str, fresh: bool, survivors: bool = False) -> None:
    """Run the pending mutants of `module`'s session (drawn first if new or `fresh`); with
    `survivors`, run its survivors again instead (after tests were added or mapped)."""
    path = ROOT / module
    command = test_command(config, module)
    with use_db(str(session_path(config, module))) as db:
        if fresh or db.num_work_items == 0:
            draw(db, config, module)
        pending = ([item for item, result in db.completed_work_items
                    if outcome(result) == "survived"] if survivors else db.pending_work_items)
        if not pending:
            return
        clear_pycache()
        start = time.perf_counter()
        clean, output = run_tests(command, 600)
        if clean != TestOutcome.SURVIVED:
            raise SystemExit(f"{module}: its mapped tests fail without a mutant:\n{output[-2000:]}")
        timeout = config["timeout-factor"] * (time.perf_counter() - start) + config["timeout-slack"]
        for i, item in enumerate(pending, 1):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            clear_pycache()
            result = mutate_and_test(item.mutations, command, timeout)
            if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                raise SystemExit(f"{module} was not restored byte for byte")
            db.set_result(item.job_id, result)
            spec = item.mutations[0]
            print(f"{module} [{i}/{len(pending)}] {outcome(result) or 'no mutant':11s} "
                  f"{spec.operator_name} #{spec.occurrence}", flush=True)
        clear_pycache()


def report(config: dict, names: list[str]) -> dict:
    """Per file: the population of mutants, the sample's outcomes, and the survivors' diffs."""
    summary, survivors = {}, []
    for module in names:
        with use_db(str(session_path(config, module))) as db:
            counts = dict.fromkeys(OUTCOMES, 0)
            for _item, result in db.completed_work_items:
                kind = outcome(result)
                if kind is not None:
                    counts[kind] += 1
                if kind == "survived":
                    survivors.append(result.diff)
            summary[module] = {"population": db.num_work_items, **counts,
                               "total": sum(counts.values())}
    out = ROOT / config["session-dir"]
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    (out / "survivors.txt").write_text("\n".join(survivors))
    print(f"\n{'file':40s} {'killed':>6s} {'surv.':>6s} {'t/o':>4s} {'inc.':>4s} "
          f"{'total':>5s} {'of':>5s}")
    for module, c in summary.items():
        print(f"{module:40s} {c['killed']:6d} {c['survived']:6d} {c['timeout']:4d} "
              f"{c['incompetent']:4d} {c['total']:5d} {c['population']:5d}")
    total = {k: sum(c[k] for c in summary.values()) for k in (*OUTCOMES, "total", "population")}
    print(f"{'all':40s} {total['killed']:6d} {total['survived']:6d} {total['timeout']:4d} "
          f"{total['incompetent']:4d} {total['total']:5d} {total['population']:5d}")
    print(f"survivors' diffs: {out / 'survivors.txt'}")
    return summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fresh", action="store_true", help="draw new samples, dropping results")
    ap.add_argument("--report", action="store_true", help="only report the sessions on disk")
    ap.add_argument("--only", nargs="+", metavar="FILE", help="these source files only")
    ap.add_argument("--survivors", action="store_true",
                    help="run the sessions' survivors again, e.g. after adding tests")
    ap.add_argument("--sample", type=int, metavar="N",
                    help="mutants drawn per file in a new session (default: the config's)")
    args = ap.parse_args(argv)
    if cr_init is None:
        raise SystemExit("this run needs cosmic-ray: pip install 'twinbench[mutants]'")
    config = load_config()
    if args.sample is not None:
        config["sample"] = args.sample
    names = modules(config)
    unknown = set(args.only or ()) - set(names)
    if unknown:
        ap.error(f"not among the files to mutate: {sorted(unknown)}")
    names = [m for m in names if not args.only or m in args.only]
    os.chdir(ROOT)
    # the tests must import this checkout's code, whatever is installed
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    (ROOT / config["session-dir"]).mkdir(parents=True, exist_ok=True)
    if not args.report:
        for module in names:
            run_module(config, module, args.fresh, args.survivors)
    summary = report(config, names)
    return 1 if any(c["survived"] for c in summary.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
