"""The demo's routes: the page, one JSON endpoint that classifies a drawing, the results.

- `GET /`: the drawing page (`page.html`).
- `POST /api/predict` with `{"image": "data:image/png;base64,..."}`: the drawing
  is prepared exactly as `twinbench predict` prepares a file
  (`bench.datasets.images`), and the answer holds both twins' probabilities,
  their largest difference, the 28x28 input and the first layer's activations.
  A body over MAX_BODY bytes gets 413, one that is not JSON 400, JSON of the
  wrong form or a picture that cannot be used 422; each with `{"error": ...}`
  naming what was expected and what came.
- `GET /results`: the results tables (`results/*.md`) and plots (`results/*.png`);
  `GET /results/{name}` serves one of them, nothing else from the file system.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
from pathlib import Path

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bench.datasets.images import ImageError, read_image, to_mnist
from bench.training.inference import Twins

MAX_BODY = 2_000_000  # bytes: a 280x280 canvas as PNG is ~10-40 kB
PAGE = Path(__file__).with_name("page.html")
DATA_URL = "data:image/png;base64,"


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


async def _body(request: Request) -> bytes:
    """The request body, refused (413) as soon as it passes MAX_BODY."""
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


def _results_page(results_dir: Path) -> str:
    parts = []
    for md in sorted(results_dir.glob("*.md")):
        parts.append(f"<h2>{html.escape(md.name)}</h2><pre>{html.escape(md.read_text())}</pre>")
    for png in sorted(results_dir.glob("*.png")):
        name = html.escape(png.name)
        parts.append(f'<figure><img src="/results/{name}" alt="{name}">'
                     f"<figcaption>{name}</figcaption></figure>")
    body = "\n".join(parts) or f"<p>No results in {html.escape(str(results_dir))} yet.</p>"
    return ("<!doctype html><html><head><meta charset='utf-8'><title>twinbench results</title>"
            "<style>body{font-family:sans-serif;margin:2em}pre{background:#f6f6f6;padding:1em;"
            "overflow:auto}img{max-width:100%}</style></head><body>"
            "<p><a href='/'>draw</a> | results</p><h1>Results</h1>" + body + "</body></html>")


def create_app(twins: Twins, results_dir: Path) -> Starlette:
    """The demo for `twins`, showing the results in `results_dir`."""
    results_dir = Path(results_dir)
    page = PAGE.read_text().replace("{{EXPERIMENT}}", html.escape(
        f"{twins.exp.name}: {', '.join(twins.exp.layers)}"))

    async def index(request: Request) -> Response:
        return HTMLResponse(page)

    async def predict(request: Request) -> Response:
        try:
            return JSONResponse(classify(twins, _drawing(await _body(request))))
        except BadRequest as err:
            return JSONResponse({"error": str(err)}, status_code=err.status)

    async def results(request: Request) -> Response:
        return HTMLResponse(_results_page(results_dir))

    async def result_file(request: Request) -> Response:
        name = request.path_params["name"]
        path = results_dir / name
        allowed = {p.name for p in results_dir.glob("*.png")} | {
            p.name for p in results_dir.glob("*.md")}
        if name not in allowed:  # only the listed files: no path ever leaves the directory
            return JSONResponse({"error": f"expected one of the results files, got {name!r}"},
                                status_code=404)
        return FileResponse(path)

    return Starlette(routes=[
        Route("/", index),
        Route("/api/predict", predict, methods=["POST"]),
        Route("/results", results),
        Route("/results/{name}", result_file),
    ])
