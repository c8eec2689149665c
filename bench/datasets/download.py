"""HTTP(S) downloads with timeouts, retries with backoff, and a tqdm progress bar.

A download streams into a file object the caller owns (a temporary file in the
cache directory, see cache.temp_file), so a download cut off midway leaves
nothing behind once that file is dropped. Faults become `SourceUnavailable`,
marked `whole_source` when the host itself is out (no DNS, refused, timing
out), so the caller stops asking that mirror for the other files.

A file's deadline covers the whole exchange: the connection is opened with a
timeout no longer than the time left, and every read of the socket after it
(status line, headers, body, and those of any redirect) waits at most until the
deadline, so bytes trickling in one at a time cannot hold a download past it.
(A TLS handshake happens inside the ssl module: each of its reads waits at most
that connection timeout, not the deadline.)
"""

from __future__ import annotations

import http.client
import io
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import IO

from tqdm import tqdm

from bench.datasets.errors import SourceUnavailable

USER_AGENT = "twinbench-datasets/0.1 (+https://pypi.org/project/twinbench/)"


@dataclass(frozen=True)
class DownloadOptions:
    """How hard to try a mirror. Tests shrink these to keep failures fast."""

    timeout: float = 15.0  # seconds, for the connection and for each read
    deadline: float = 300.0  # seconds for one file from one mirror, all tries together
    retries: int = 2  # further tries after the first, for transient faults only
    backoff: float = 1.0  # seconds before the first retry, doubled after each
    progress: bool | None = None  # tqdm bar; None: only when stderr is a terminal
    chunk_size: int = 1 << 16
    max_bytes: int = 100 << 20  # a response larger than this is not one of our files


class _Transient(Exception):
    """A fault worth retrying (5xx, timeout, connection dropped midway)."""

    def __init__(self, reason: str, *, host_down: bool = False) -> None:
        super().__init__(reason)
        self.host_down = host_down


def download(url: str, dest: IO[bytes], what: str, options: DownloadOptions) -> int:
    """Stream `url` into `dest` (truncated first); the number of bytes written.

    Gives up (SourceUnavailable) once `options.deadline` seconds have passed, whatever
    the tries and however slowly the bytes trickle in: the per-read timeout alone lets
    a mirror sending one byte per read hold a download for ever.
    """
    delay = options.backoff
    end = time.monotonic() + options.deadline
    for attempt in range(options.retries + 1):
        dest.seek(0)
        dest.truncate()
        try:
            return _fetch_once(url, dest, what, options, end)
        except _Transient as e:
            if attempt == options.retries:
                tries = f"{options.retries + 1} tr{'ies' if options.retries else 'y'}"
                raise SourceUnavailable(f"{e} (after {tries})", whole_source=e.host_down) from e
            if time.monotonic() + delay >= end:
                raise SourceUnavailable(f"{e}; no time left for another try within the "
                                        f"{options.deadline:g} s deadline") from e
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def _fetch_once(url: str, dest: IO[bytes], what: str, options: DownloadOptions,
                end: float) -> int:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    timeout = max(min(options.timeout, end - time.monotonic()), 1e-3)
    opener = urllib.request.build_opener(_HTTPHandler(end), _HTTPSHandler(end))
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        e.close()
        reason = f"HTTP {e.code} {e.reason}"
        if e.code >= 500 or e.code == 429:
            raise _Transient(reason) from e
        raise SourceUnavailable(reason) from e
    except urllib.error.URLError as e:
        raise _classify(e.reason, options) from e
    except (OSError, http.client.HTTPException) as e:
        raise _classify(e, options) from e

    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if total is not None and total > options.max_bytes:
            raise SourceUnavailable(f"response of {total} bytes is larger than any of our files")
        show = sys.stderr.isatty() if options.progress is None else options.progress
        got = 0
        with tqdm(
            total=total, desc=what, unit="B", unit_scale=True, unit_divisor=1024,
            disable=not show, leave=False, file=sys.stderr,
        ) as bar:
            while True:
                too_slow = SourceUnavailable(
                    f"too slow: {got} of {total or '?'} bytes after the "
                    f"{options.deadline:g} s deadline for one file")
                if time.monotonic() > end:
                    raise too_slow
                try:
                    # read1: what has arrived, so the deadline is checked between
                    # trickling bytes (read(n) would wait for all n of them).
                    chunk = response.read1(options.chunk_size)
                except _DeadlinePassed as e:
                    raise too_slow from e
                except (OSError, http.client.HTTPException) as e:
                    raise _Transient(
                        f"connection lost after {got} of {total or '?'} bytes "
                        f"({type(e).__name__}: {e or 'timed out'})",
                        host_down=isinstance(e, TimeoutError),  # stalled: don't ask again
                    ) from e
                if not chunk:
                    break
                got += len(chunk)
                if got > options.max_bytes:
                    raise SourceUnavailable("response is larger than any of our files")
                dest.write(chunk)
                bar.update(len(chunk))
    if total is not None and got != total:
        raise _Transient(f"download cut off: got {got} of {total} bytes")
    dest.flush()
    return got


def _classify(reason: object, options: DownloadOptions) -> Exception:
    """A failure before the response started: retryable, or final for this mirror.

    Failing to resolve, connect or get an answer in time means the host is out:
    no retry (a black-holed host would cost timeout x tries per mirror), and
    the mirror is not asked for the other files.
    """
    if isinstance(reason, _DeadlinePassed):
        return SourceUnavailable(f"too slow: no complete status line and headers within the "
                                 f"{options.deadline:g} s deadline for one file",
                                 whole_source=True)
    if isinstance(reason, socket.gaierror):
        return SourceUnavailable(f"host not found ({reason})", whole_source=True)
    if isinstance(reason, ConnectionRefusedError):
        return SourceUnavailable(f"connection refused ({reason})", whole_source=True)
    if isinstance(reason, ssl.SSLError):
        return SourceUnavailable(f"TLS failure ({reason})", whole_source=True)
    if isinstance(reason, TimeoutError):
        return SourceUnavailable(f"timed out ({reason or 'no answer'})", whole_source=True)
    return _Transient(f"{type(reason).__name__}: {reason}")  # e.g. reset: worth a retry


# --- the deadline inside the exchange --------------------------------------------------------


class _DeadlinePassed(TimeoutError):
    """A read of the socket reached the file's deadline."""


class _DeadlineReader(io.RawIOBase):
    """A socket's byte stream whose every read waits at most `timeout` and ends at `end`.

    http.client reads the status line and headers a line at a time through the
    socket's file; with only the per-read timeout, a mirror sending one byte per
    read would hold them for ever.
    """

    def __init__(self, sock: socket.socket, timeout: float | None, end: float) -> None:
        super().__init__()
        self._sock = sock
        self._raw = sock.makefile("rb", buffering=0)  # the socket's own: it keeps the fd open
        self._timeout = timeout if timeout is not None else float("inf")
        self._end = end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int | None:
        left = self._end - time.monotonic()
        if left <= 0:
            raise _DeadlinePassed("the deadline passed")
        self._sock.settimeout(min(self._timeout, left))
        try:
            return self._raw.readinto(buffer)
        except TimeoutError:
            if time.monotonic() >= self._end:
                raise _DeadlinePassed("the deadline passed") from None
            raise

    def close(self) -> None:
        self._raw.close()
        super().close()


class _DeadlineSocket:
    """A connected socket (plain or TLS) whose read file is a `_DeadlineReader`."""

    def __init__(self, sock: socket.socket, timeout: float | None, end: float) -> None:
        self._sock, self._timeout, self._end = sock, timeout, end

    def makefile(self, mode: str = "r", *args, **kwargs):
        if mode != "rb":
            return self._sock.makefile(mode, *args, **kwargs)
        return io.BufferedReader(_DeadlineReader(self._sock, self._timeout, self._end))

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


class _Deadline:
    """Mixed into http.client's connections: once connected, reads end at `end`."""

    def __init__(self, *args, end: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._end = end

    def connect(self) -> None:
        super().connect()  # the TCP connection, and for HTTPS the TLS handshake
        self.sock = _DeadlineSocket(self.sock, self.timeout, self._end)


class _HTTPConnection(_Deadline, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_Deadline, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, end: float) -> None:
        super().__init__()
        self._end = end

    def http_open(self, req):
        return self.do_open(_HTTPConnection, req, end=self._end)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, end: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(context=self._tls)
        self._end = end

    def https_open(self, req):
        return self.do_open(_HTTPSConnection, req, end=self._end, context=self._tls)
