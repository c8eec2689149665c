"""Helpers for the data set tests: small generated IDX data sets, a local HTTP
mirror on 127.0.0.1, and the rule for tests that need the real data.

Imported by tests/test_datasets*.py (pytest does not load it by itself).
Nothing here reaches outside this machine.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.server
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from bench import datasets
from bench.datasets import idx
from bench.datasets.specs import DatasetSpec, file_names

# Small, fast and still strict: a failing mirror costs milliseconds.
FAST = datasets.DownloadOptions(timeout=0.5, retries=1, backoff=0.0, progress=False)


@dataclass
class Toy:
    """A generated data set: its spec (own hashes) and its files' IDX bytes."""

    spec: DatasetSpec
    arrays: dict[str, np.ndarray]  # file name -> uint8 array
    raw: dict[str, bytes]  # file name -> IDX bytes

    def gz(self, name: str) -> bytes:
        return gzip.compress(self.raw[name], mtime=0)

    def write_dir(self, directory: Path, *, gzipped: bool = True) -> Path:
        """The four files in `directory`, as someone would place them by hand."""
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in self.raw.items():
            if gzipped:
                (directory / f"{name}.gz").write_bytes(self.gz(name))
            else:
                (directory / name).write_bytes(data)
        return directory


def make_toy(n_train: int = 30, n_test: int = 10, seed: int = 0, **spec_fields: object) -> Toy:
    """Random images, labels cycling through 0..9, and a spec pinning their hashes."""
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = file_names(split)
        arrays[images] = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        arrays[labels] = (np.arange(n) % 10).astype(np.uint8)
    raw = {name: idx.encode(a) for name, a in arrays.items()}
    hashes = {name: hashlib.sha256(b).hexdigest() for name, b in raw.items()}
    fields: dict[str, object] = {"system_dirs": (), "mirrors": (), "wheel": None}
    fields.update(spec_fields)
    spec = DatasetSpec.build(
        "toy", hashes, title="Toy", sizes={"train": n_train, "test": n_test}, **fields
    )
    return Toy(spec, arrays, raw)


# --- a local mirror ----------------------------------------------------------


@dataclass
class Route:
    """What the server does for one path."""

    body: bytes = b""
    status: int = 200
    cut_at: int | None = None  # announce the full length, send this many bytes, hang up
    delay: float = 0.0  # seconds to wait before answering (bounded: see below)
    chunk: int = 1 << 16
    chunk_delay: float = 0.0
    head_delay: float = 0.0  # > 0: the status line and headers one byte per this many seconds


@dataclass
class Mirror:
    """An HTTP server on 127.0.0.1 in a thread, with routes the test sets."""

    routes: dict[str, Route] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    port: int = 0

    def url(self, prefix: str) -> str:
        return f"http://127.0.0.1:{self.port}/{prefix.strip('/')}/"

    def serve(self, prefix: str, toy: Toy, **route: object) -> str:
        """Serve every file of `toy` as <prefix>/<name>.gz with `route` options."""
        for name in toy.raw:
            self.routes[f"/{prefix}/{name}.gz"] = Route(body=toy.gz(name), **route)  # type: ignore[arg-type]
        return self.url(prefix)


def _handler(mirror: Mirror) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            mirror.hits.append(self.path)
            route = mirror.routes.get(self.path, Route(status=404))
            time.sleep(min(route.delay, 3.0))  # bounded: a test never waits long
            if route.head_delay:
                self._trickle_head(route)
                return
            if route.status != 200:
                self.send_error(route.status)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            body = route.body if route.cut_at is None else route.body[: route.cut_at]
            try:
                for i in range(0, len(body), route.chunk):
                    self.wfile.write(body[i : i + route.chunk])
                    self.wfile.flush()
                    time.sleep(min(route.chunk_delay, 1.5))
            except (BrokenPipeError, ConnectionResetError):
                return
            if route.cut_at is not None:
                self.close_connection = True

        def _trickle_head(self, route: Route) -> None:
            head = (f"HTTP/1.0 200 OK\r\nContent-Length: {len(route.body)}\r\n"
                    f"X-Padding: {'x' * 60}\r\n\r\n").encode()
            stop = time.monotonic() + 5.0  # bounded: the server gives up by itself
            try:
                for i in range(len(head)):
                    if time.monotonic() > stop:
                        return
                    self.wfile.write(head[i:i + 1])
                    time.sleep(route.head_delay)
                self.wfile.write(route.body)
            except (BrokenPipeError, ConnectionResetError):
                return

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

    return Handler


@contextlib.contextmanager
def running_mirror() -> Iterator[Mirror]:
    """A fresh local mirror, stopped when the block ends."""
    m = Mirror()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(m))
    server.daemon_threads = True
    m.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield m
    finally:
        server.shutdown()
        server.server_close()


# --- real data ---------------------------------------------------------------


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_real(name: str) -> None:
    """Make `name` available from the cache or a system copy, no network.

    Missing data skips the test locally; under CI=true it fails it, because
    CI (tox's commands_pre) fetches both data sets first.
    """
    try:
        datasets.fetch(name, network=False)
    except datasets.DatasetError as e:
        msg = f"real {name} is not available ({type(e).__name__}); run `twinbench data fetch`.\n{e}"
        if in_ci():
            pytest.fail(msg)
        pytest.skip(msg)
