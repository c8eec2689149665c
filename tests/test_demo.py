"""The demo's endpoints through Starlette's TestClient (no browser, no server, no data set).

The page in a real browser is tests/test_demo_browser.py (opt-in: tox -e demo).
"""

import base64
import io
import socket

import numpy as np
import pytest
from PIL import Image, ImageDraw

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

from bench import cli  # noqa: E402
from bench.cli.demo import bind  # noqa: E402
from bench.demo import MAX_BODY, create_app  # noqa: E402
from bench.experiments import build_model, get_experiment  # noqa: E402
from bench.training.inference import twins_from_weights  # noqa: E402


def _twins(name):
    # untrained weights and no standardisation: the endpoints' contract needs no data set
    exp = get_experiment(name).with_overrides(standardize=False)
    return twins_from_weights(exp, build_model(exp, np.random.default_rng(1)).state_dict())


@pytest.fixture(scope="module", params=["ci-cnn", "ci-mlp"])
def client(request, tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    (results / "accuracy.md").write_text("| experiment | accuracy |\n|---|---|\n| x | 1 |\n")
    Image.new("RGB", (8, 8), "white").save(results / "curves.png")
    (results / "secret.txt").write_text("not served")
    return TestClient(create_app(_twins(request.param), results)), request.param


def _drawing(size=280):
    im = Image.new("RGB", (size, size), "black")
    ImageDraw.Draw(im).line([(80, 60), (200, 60), (120, 230)], fill="white", width=18)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_page_has_the_canvas_and_the_model(client):
    c, name = client
    r = c.get("/")
    assert r.status_code == 200 and '<canvas id="pad"' in r.text and name in r.text


def test_a_drawing_gets_both_twins_probabilities(client):
    c, name = client
    r = c.post("/api/predict", json={"image": _drawing()})
    assert r.status_code == 200, r.text
    d = r.json()
    s, t = np.array(d["scratch"]), np.array(d["torch"])
    assert s.shape == t.shape == (10,) and abs(s.sum() - 1) < 1e-9 and abs(t.sum() - 1) < 1e-9
    assert d["max_diff"] == pytest.approx(np.abs(s - t).max()) and d["max_diff"] < 1e-5
    image = np.array(d["input"])
    assert image.shape == (28, 28) and image.max() == 255 and image[0].max() == 0
    acts = np.array(d["activations"]["values"])
    if name == "ci-cnn":
        assert d["activations"]["kind"] == "maps" and acts.shape == (8, 28, 28)
    else:
        assert d["activations"]["kind"] == "units" and acts.shape == (512,)
    assert (acts >= 0).all()  # after the first ReLU


def test_a_blank_canvas_is_no_error(client):
    c, _ = client
    buf = io.BytesIO()
    Image.new("RGB", (280, 280), "black").save(buf, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    assert c.post("/api/predict", json={"image": url}).json() == {"blank": True}


@pytest.mark.parametrize("body, status, message", [
    (b"{not json", 400, "expected a JSON body, got malformed JSON"),
    (b"\xff\xfe", 400, "malformed JSON"),
    (b"[1, 2]", 422, "got list"),
    (b'{"picture": 1}', 422, "got an object with keys ['picture']"),
    (b'{"image": "http://example.org/x.png"}', 422, "PNG data URL"),
    (b'{"image": "data:image/png;base64,@@@"}', 422, "expected base64"),
    (b'{"image": "data:image/png;base64,aGVsbG8="}', 422, "expected a PNG or JPEG image"),
])
def test_bad_requests_get_a_clear_4xx(client, body, status, message):
    c, _ = client
    r = c.post("/api/predict", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status and message in r.json()["error"], r.text


def test_an_oversized_body_is_refused(client):
    c, _ = client
    r = c.post("/api/predict", content=b"x" * (MAX_BODY + 1))
    assert r.status_code == 413 and f"at most {MAX_BODY:,} bytes" in r.json()["error"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(MAX_BODY // 65536 + 2):
            yield b"x" * 65536

    r = c.post("/api/predict", content=chunks())
    assert r.status_code == 413


def test_results_view_shows_tables_and_plots_and_nothing_else(client):
    c, _ = client
    page = c.get("/results").text
    assert "accuracy.md" in page and "| experiment | accuracy |" in page
    assert '<img src="/results/curves.png"' in page
    assert c.get("/results/curves.png").headers["content-type"] == "image/png"
    assert c.get("/results/secret.txt").status_code == 404
    assert c.get("/results/..%2Fsecret.txt").status_code == 404


def test_a_port_in_use_is_named(capsys):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        with pytest.raises(ValueError, match=f"127.0.0.1:{port} is in use"):
            bind(port)
        assert cli.main(["demo", "--port", str(port), "--runs", "/nonexistent"]) == 1
        err = capsys.readouterr().err
        assert f"127.0.0.1:{port} is in use" in err and "--port" in err
    finally:
        taken.close()


def test_demo_without_a_checkpoint_says_what_to_do(tmp_path, capsys):
    assert cli.main(["demo", "--port", "0", "--runs", str(tmp_path)]) == 1
    assert "twinbench train" in capsys.readouterr().err
