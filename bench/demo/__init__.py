"""The draw-a-digit page: `create_app(twins, results_dir)`, a Starlette (ASGI) application.

`twinbench demo` serves it with uvicorn on 127.0.0.1. `app` holds the routes,
`page.html` the page (canvas, live probabilities of both twins, the first
layer's activations, the 28x28 input) and its results view.
"""

from bench.demo.app import MAX_BODY, create_app

__all__ = ["MAX_BODY", "create_app"]
