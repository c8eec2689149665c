"""`twinbench demo [CHECKPOINT]`: the draw-a-digit page, on 127.0.0.1 only.

Without CHECKPOINT the newest `*-scratch.npz` or `*-torch.npz` under runs/ (where
`twinbench train` writes) is served. The port is bound before anything else
starts, so a port in use is named at once. Needs `pip install 'twinbench[demo]'`.
"""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

from bench.cli.errors import USER_ERRORS, fail

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
    from bench.training.inference import load_twins

    try:
        sock = bind(args.port)
        ckpt = Path(args.checkpoint) if args.checkpoint else newest_checkpoint(Path(args.runs))
        twins = load_twins(ckpt, args.experiment, data_dir=args.data_dir)
    except USER_ERRORS as err:
        return fail("demo", err)
    app = create_app(twins, Path(args.results))
    print(f"serving {ckpt} ({twins.exp.name}) on http://{HOST}:{sock.getsockname()[1]}/ "
          "(Ctrl-C stops)", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    server.run(sockets=[sock])
    return 0


def add_command(sub) -> None:
    d = sub.add_parser("demo", help="serve the draw-a-digit page on 127.0.0.1")
    d.add_argument("checkpoint", nargs="?", help="training checkpoint or weights file "
                   "(default: the newest in --runs)")
    d.add_argument("--port", type=int, default=8000)
    d.add_argument("--experiment", help="the experiment, when the weights file does not say")
    d.add_argument("--runs", default="runs", help="where to look for a checkpoint")
    d.add_argument("--results", default="results", help="the results directory to show")
    d.add_argument("--data-dir")
    d.set_defaults(func=_demo)
