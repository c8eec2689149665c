"""The demo's routes: the page, one JSON endpoint that classifies a drawing, the results.

- `GET /`: the drawing page (`page.html`).
- `POST /api/predict` with `{"image": "data:image/png;base64,..."}` as
  `application/json`: the drawing is prepared exactly as `twinbench predict`
  prepares a file (`bench.datasets.images`), and the answer holds both twins'
  probabilities, their largest difference, the 28x28 input and the first layer's
  activations. It runs in a worker thread, WORKERS drawings at a time, so the
  event loop keeps answering while large pictures are classified. Another
  Content-Type gets 415, a body over MAX_BODY bytes 413, one that is not JSON (or
  JSON nested past what the parser takes) 400, JSON of the wrong form or a picture
  that cannot be used 422; each with `{"error": ...}` naming what was expected and
  what came.
- `GET /results`: the results tables (`results/*.md`) rendered as HTML by
  markdown-it-py (CommonMark with GitHub's tables; raw HTML in a table is shown as
  text, never run; the generated-file comments are dropped), then the plots
  (`results/*.png`). A link or image in a table is kept only when it names a table
  or plot of the results folder, and then points to its `/results/` address;
  any other (another site, a file elsewhere) is shown as its text alone.
  `GET /results/{name}` serves one of them: a regular file whose resolved path
  stays inside the results folder and is itself a table or plot, nothing else.

Every request must name this machine in its Host header (127.0.0.1 or localhost,
with or without a port): a DNS-rebinding page sends its own name, and gets 400.
A POST must come from the page itself: an Origin other than the page's, or a
Sec-Fetch-Site other than same-origin, gets 403 (`LocalOnly`).
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import os
import re
import stat
from pathlib import Path

import anyio
import anyio.to_thread
import numpy as np
from markdown_it import MarkdownIt
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bench.datasets.images import ImageError, read_image, to_mnist
from bench.training.inference import Twins

MAX_BODY = 2_000_000  # bytes: a 280x280 canvas as PNG is ~10-40 kB
MAX_RESULT = 50 << 20  # bytes: a results table or plot is far smaller
WORKERS = 1  # drawings classified at once: the twins' modules keep per-call caches
PAGE = Path(__file__).with_name("page.html")
DATA_URL = "data:image/png;base64,"
RESULT_TYPES = {".md": "text/markdown; charset=utf-8", ".png": "image/png"}
LOCAL_HOST = re.compile(r"(127\.0\.0\.1|localhost)(:\d{1,5})?")


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


async def _body(request: Request) -> bytes:
    """The JSON request body, refused (415) in another type, (413) as soon as it passes
    MAX_BODY."""
    kind = request.headers.get("content-type", "")
    if kind.split(";")[0].strip().lower() != "application/json":
        raise BadRequest(415, f"expected Content-Type application/json, got {kind or 'none'!r}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise BadRequest(413, f"expected a body of at most {MAX_BODY:,} bytes, "
                              f"got {int(declared):,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise BadRequest(413, f"expected a body of at most {MAX_BODY:,} bytes, got more")
        chunks.append(chunk)
    return b"".join(chunks)


def _drawing(body: bytes) -> bytes:
    """The PNG bytes of `{"image": "data:image/png;base64,..."}`."""
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BadRequest(400, f"expected a JSON body, got malformed JSON: {err}") from None
    except RecursionError:
        raise BadRequest(400, "expected a JSON body, got JSON nested too deeply to parse"
                         ) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("image"), str):
        got = (f"an object with keys {sorted(payload)}" if isinstance(payload, dict)
               else type(payload).__name__)
        raise BadRequest(422, f'expected {{"image": "{DATA_URL}..."}}, got {got}')
    url = payload["image"]
    if not url.startswith(DATA_URL):
        raise BadRequest(422, f"expected image to be a PNG data URL ({DATA_URL}...), "
                              f"got {url[:30]!r}")
    try:
        return base64.b64decode(url[len(DATA_URL):], validate=True)
    except (binascii.Error, ValueError) as err:
        raise BadRequest(422, f"expected base64 after {DATA_URL!r}, got invalid data: {err}"
                         ) from None


def classify(twins: Twins, png: bytes) -> dict:
    """Everything the page shows for one drawing."""
    try:
        image = to_mnist(read_image(png, "the drawing"), box=twins.box)  # uint8 (28, 28)
    except ImageError as err:
        if "blank image" in str(err):
            return {"blank": True}
        raise BadRequest(422, str(err)) from None
    x = twins.inputs(image[None])  # (1, 784) or (1, 1, 28, 28)
    p_scratch, p_torch = (p[0] for p in twins.probabilities(x))
    acts = twins.first_activations(x)[0]  # (C, 28, 28) feature maps or (units,)
    return {
        "blank": False,
        "classes": list(twins.class_names),
        "scratch": p_scratch.tolist(),
        "torch": p_torch.tolist(),
        "max_diff": float(np.abs(p_scratch - p_torch).max()),
        "input": image.tolist(),
        "activations": {"kind": "maps" if acts.ndim == 3 else "units",
                        "values": np.asarray(acts, dtype=np.float64).round(5).tolist()},
    }


def _result_target(root: Path, name: str) -> Path | None:
    """`root/name` resolved, when it is a results table or plot: a regular .md or .png file
    inside `root` (a link may point to another one of its kind there, never outside or to
    another kind of file); None otherwise."""
    if Path(name).name != name or Path(name).suffix not in RESULT_TYPES:
        return None
    try:
        target = (root / name).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, or a loop of links
        return None
    if not target.is_relative_to(root) or target.suffix != Path(name).suffix:
        return None
    return target if target.is_file() else None


def _read_result(root: Path, name: str) -> bytes | None:
    """The bytes of results file `name` (see `_result_target`), or None.

    Opened without following a link (the resolved path has none; one swapped in since
    is refused) and non-blocking, then checked by fstat, so a FIFO cannot stall the page.
    """
    target = _result_target(root, name)
    if target is None:
        return None
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(target, flags)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_RESULT:
            return None
        return f.read(MAX_RESULT)


_COMMENT = re.compile(r"<!--.*?-->\n?", re.S)  # the generated-file notes, not for a reader
_STYLE = ("body{font-family:sans-serif;margin:2em;max-width:80em}"
          ".table{overflow-x:auto}table{border-collapse:collapse;font-size:0.85em}"
          "th,td{border:1px solid #ccc;padding:0.2em 0.5em;text-align:left;vertical-align:top}"
          "th{background:#f0f0f0}img{max-width:100%}figure{margin:1em 0}")


def _local_results(root: Path):
    """A markdown-it core rule: every link and image of a results table must name a table
    or plot of `root` (`_result_target`), and then points to its /results/ address; the
    others become their text (a link loses its address, an image shows its alt text)."""

    def rule(state) -> None:
        for block in state.tokens:
            if block.type in ("heading_open", "heading_close"):  # under the page's own h1
                block.tag = f"h{min(int(block.tag[1]) + 1, 6)}"
            for i, token in enumerate(block.children or ()):
                if token.type not in ("link_open", "image"):
                    continue
                attr = "href" if token.type == "link_open" else "src"
                name = str(token.attrGet(attr) or "").removeprefix("./")
                if "/" not in name and _result_target(root, name) is not None:
                    token.attrSet(attr, f"/results/{name}")
                elif token.type == "image":
                    token.type, token.tag, token.attrs = "text", "", {}
                    token.content = "".join(c.content for c in token.children or ())
                    token.children = None
                else:  # the link's text stays, in a span, without the address
                    token.tag, token.attrs = "span", {}
                    for close in block.children[i + 1:]:
                        if close.type == "link_close":
                            close.tag = "span"
                            break

    return rule


def render_table(markdown: str, root: Path) -> str:
    """HTML of one results table: the generated-file comments dropped, raw HTML escaped
    (a record's text stays text), links and images only to the results themselves."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    md.core.ruler.push("local_results", _local_results(root))
    return md.render(_COMMENT.sub("", markdown))


def _results_page(root: Path) -> str:
    """The tables in the registry's order (the verdict first), any other table after them,
    then the plots."""
    from bench.results.registry import TABLES

    order = [f"{spec.name}.md" for spec in TABLES]
    parts = []
    for md in sorted(root.glob("*.md"), key=lambda p: (
            order.index(p.name) if p.name in order else len(order), p.name)):
        data = _read_result(root, md.name)
        if data is not None:
            name = html.escape(md.name)
            parts.append(f'<section class="table" id="{name}">'
                         f"{render_table(data.decode('utf-8', 'replace'), root)}"
                         f'<p><a href="/results/{name}">{name}</a></p></section>')
    for png in sorted(root.glob("*.png")):
        if _result_target(root, png.name) is not None:
            name = html.escape(png.name)
            parts.append(f'<figure><img src="/results/{name}" alt="{name}">'
                         f"<figcaption>{name}</figcaption></figure>")
    body = "\n".join(parts) or f"<p>No results in {html.escape(str(root))} yet.</p>"
    return ("<!doctype html><html><head><meta charset='utf-8'><title>twinbench results</title>"
            f"<style>{_STYLE}</style></head><body>"
            "<p><a href='/'>draw</a> | results</p><h1>Results</h1>" + body + "</body></html>")


def _refusal(method: str, headers: Headers) -> BadRequest | None:
    """Why a request does not come from this machine's page, or None when it does."""
    host = headers.get("host", "")
    if not LOCAL_HOST.fullmatch(host.lower()):
        return BadRequest(400, f"expected Host 127.0.0.1 or localhost (with a port), "
                               f"got {host!r}")
    if method in ("GET", "HEAD"):
        return None
    origin = headers.get("origin")
    if origin is not None and origin.lower() != f"http://{host.lower()}":
        return BadRequest(403, f"expected a request from this page (Origin http://{host}), "
                               f"got Origin {origin!r}")
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return BadRequest(403, f"expected a same-origin request, got Sec-Fetch-Site {site!r}")
    return None


class LocalOnly:
    """ASGI middleware: answers a request `_refusal` refuses itself, passes the others on."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            refused = _refusal(scope["method"], Headers(scope=scope))
            if refused is not None:
                response = JSONResponse({"error": str(refused)}, status_code=refused.status)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(twins: Twins, results_dir: Path) -> Starlette:
    """The demo for `twins`, showing the results in `results_dir`."""
    root = Path(results_dir).resolve()
    page = PAGE.read_text().replace("{{EXPERIMENT}}", html.escape(
        f"{twins.exp.name}: {', '.join(twins.exp.layers)}"))
    workers = anyio.CapacityLimiter(WORKERS)

    async def index(request: Request) -> Response:
        return HTMLResponse(page)

    async def predict(request: Request) -> Response:
        try:
            png = _drawing(await _body(request))
            answer = await anyio.to_thread.run_sync(classify, twins, png, limiter=workers)
            return JSONResponse(answer)
        except BadRequest as err:
            return JSONResponse({"error": str(err)}, status_code=err.status)

    async def results(request: Request) -> Response:
        return HTMLResponse(_results_page(root))

    async def result_file(request: Request) -> Response:
        name = request.path_params["name"]
        data = _read_result(root, name)
        if data is None:
            return JSONResponse({"error": f"expected one of the results tables or plots "
                                          f"(a regular .md or .png file in the results "
                                          f"folder), got {name!r}"}, status_code=404)
        return Response(data, media_type=RESULT_TYPES[Path(name).suffix])

    return Starlette(routes=[
        Route("/", index),
        Route("/api/predict", predict, methods=["POST"]),
        Route("/results", results),
        Route("/results/{name}", result_file),
    ], middleware=[Middleware(LocalOnly)])
