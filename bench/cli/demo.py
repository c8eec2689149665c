"""`twinbench demo [CHECKPOINT]`: the draw-a-digit page, on 127.0.0.1 only.

Without CHECKPOINT the newest `*-scratch.npz` or `*-torch.npz` in runs/train/ of
the runs directory (where `twinbench train` writes) is served, beside the
checkout's published results. The port is bound before anything else
starts, so a port in use is named at once. Needs the extra `demo`
(`pip install -e '.[demo]'`; `tox -e bench` has it).
"""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

from bench.cli.args import fail, port
from bench.errors import INPUT_ERRORS, user_error

HOST = "127.0.0.1"  # never another interface: the page runs whatever model it is given


def newest_checkpoint(runs: Path) -> Path:
    found = sorted(runs.glob("*-scratch.npz"), key=lambda p: p.stat().st_mtime) + sorted(
        runs.glob("*-torch.npz"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise ValueError(f"expected a checkpoint (CHECKPOINT, or a *-scratch.npz in {runs}/), "
                         f"found none; train one first, e.g. `twinbench train ci-cnn`")
    return max(found, key=lambda p: p.stat().st_mtime)


def bind(port: int) -> socket.socket:
    """A listening socket on HOST:port, or ValueError naming the port and how to pick another."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, port))
    except OSError as err:
        sock.close()
        raise ValueError(f"expected a free port, but {HOST}:{port} is in use or refused "
                         f"({err.strerror}); pass another with --port") from None
    sock.listen(64)
    return sock


def _demo(args: argparse.Namespace) -> int:
    import uvicorn

    from bench.demo import create_app
    from bench.results.records import find_checkout, published_dir, runs_root
    from bench.training.inference import load_twins

    results = args.results
    if results is None:
        checkout = find_checkout()
        if checkout is None:
            fail(args, "outside a twinbench checkout, say which results to show: --results DIR")
        results = published_dir(checkout)
    try:
        sock = bind(args.port)
        ckpt = (Path(args.checkpoint) if args.checkpoint
                else newest_checkpoint(args.runs or runs_root() / "train"))
        twins = load_twins(ckpt, args.experiment, data_dir=args.data_dir)
    except INPUT_ERRORS as err:
        raise user_error(err) from err
    app = create_app(twins, Path(results))
    print(f"serving {ckpt} ({twins.exp.name}) on http://{HOST}:{sock.getsockname()[1]}/ "
          "(Ctrl-C stops)", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    server.run(sockets=[sock])
    return 0


def add_command(sub) -> None:
    d = sub.add_parser("demo", help="serve the draw-a-digit page on 127.0.0.1",
                       description=__doc__)
    d.add_argument("checkpoint", nargs="?", help="training checkpoint or weights file "
                   "(default: the newest in --runs)")
    d.add_argument("--port", type=port, default=8000,
                   help="port on 127.0.0.1 (default: 8000; 0: any free one)")
    d.add_argument("--experiment", help="the experiment, when the weights file does not say")
    d.add_argument("--runs", type=Path, metavar="DIR",
                   help="where to look for a checkpoint (default: where `twinbench train` "
                        "writes, runs/train/ of the runs directory)")
    d.add_argument("--results", type=Path, metavar="DIR",
                   help="the results to show (default: the checkout's published results/)")
    d.add_argument("--data-dir", metavar="DIR",
                   help="directory holding the four IDX files, if not cached")
    d.set_defaults(func=_demo, parser=d)
