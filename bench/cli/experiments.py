"""`twinbench experiments`: every named experiment, what it is and how long it takes.

The expected time is the published reference's: the experiment's newest accuracy
(or generative) record's median seconds per epoch, times its epochs, for each twin, on the machine
the footnote names for it. An experiment without a published record says so.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _expected(published: list[dict]) -> tuple[Callable[[str, int], str], str | None]:
    """(expected time of an experiment, the machines they were measured on, in words)."""
    from bench.results.tables import latest

    by_name = {r["experiment"]["name"]: r
               for r in latest(published, lambda r: r["experiment"]["name"])}
    machines: dict[str, tuple[dict, list[str]]] = {}
    for name, rec in sorted(by_name.items()):
        machines.setdefault(rec["machine"]["machine_id"], (rec["machine"], []))[1].append(name)

    def minutes(name: str, epochs: int) -> str:
        rec = by_name.get(name)
        if rec is None:
            return "no published record"
        sec = rec["seconds_per_epoch"]
        return " / ".join(_duration(sec[i] * epochs) for i in ("scratch", "torch"))

    return minutes, "; ".join(
        f"{m['cpu']}, {m['cores']} cores [machine {m['machine_id']}] for {', '.join(names)}"
        for m, names in machines.values()) or None


def _run(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from bench.experiments import EXPERIMENTS, architecture
    from bench.results.records import find_checkout, open_run_set, published_dir

    checkout = find_checkout()
    run_set = open_run_set(published_dir(checkout)) if checkout else None
    published = ([r for kind in ("accuracy", "generative") for r in run_set.load(kind)]
                 if run_set else [])
    minutes, machine = _expected(published)
    rows = [{"experiment": e.name, "data set": e.dataset, "architecture": architecture(e),
             "epochs": e.epochs, "batch": e.batch_size or "full",
             "expected time scratch / torch": minutes(e.name, e.epochs),
             "what it is": e.description}
            for e in sorted(EXPERIMENTS.values(), key=lambda e: e.name)]
    print(tabulate(rows, headers="keys", tablefmt="github", disable_numparse=True))
    if machine:
        print(f"\nExpected time: training time of each twin in the published records, "
              f"measured on {machine}; `twinbench accuracy` trains both, plus evaluation.")
    else:
        print("\nNo published records here (run from a twinbench checkout for expected times).")
    return 0


def add_command(sub) -> None:
    p = sub.add_parser("experiments", help="list the experiments: data, layers, epochs, time",
                       description=__doc__)
    p.set_defaults(func=_run, parser=p)
