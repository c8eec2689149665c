"""The demo's endpoints through Starlette's TestClient (no browser, no server, no data set).

The page in a real browser is tests/test_demo_browser.py (opt-in: tox -e demo).
"""

import base64
import io
import json
import socket
import threading
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

from bench import cli  # noqa: E402
from bench.cli.demo import bind  # noqa: E402
from bench.demo import MAX_BODY, create_app  # noqa: E402
from bench.demo import app as demo_app  # noqa: E402
from bench.experiments import build_model, get_experiment  # noqa: E402
from bench.training.inference import twins_from_weights  # noqa: E402

LOCAL = "http://127.0.0.1:8000"  # what a browser on this machine sends as its Host
JSON = {"Content-Type": "application/json"}


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
    return TestClient(create_app(_twins(request.param), results), base_url=LOCAL), request.param


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
    r = c.post("/api/predict", content=body, headers=JSON)
    assert r.status_code == status and message in r.json()["error"], r.text


def test_an_oversized_body_is_refused(client):
    c, _ = client
    r = c.post("/api/predict", content=b"x" * (MAX_BODY + 1), headers=JSON)
    assert r.status_code == 413 and f"at most {MAX_BODY:,} bytes" in r.json()["error"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(MAX_BODY // 65536 + 2):
            yield b"x" * 65536

    r = c.post("/api/predict", content=chunks(), headers=JSON)
    assert r.status_code == 413


def test_results_view_shows_tables_and_plots_and_nothing_else(client):
    c, _ = client
    page = c.get("/results").text
    assert "accuracy.md" in page and "| experiment | accuracy |" not in page  # rendered
    assert "<th>experiment</th>" in page and "<td>x</td>" in page
    assert '<img src="/results/curves.png"' in page
    assert c.get("/results/curves.png").headers["content-type"] == "image/png"
    assert c.get("/results/secret.txt").status_code == 404
    assert c.get("/results/..%2Fsecret.txt").status_code == 404


HOSTILE_TABLE = """<!-- generated by `twinbench report` from records/; do not edit -->
# Accuracy

Machine: EPYC \\| x &lt;!-- /twinbench:accuracy -->INJECT <script>alert(1)</script>

| experiment | plot | elsewhere |
|---|---|---|
| <img src=x onerror=alert(1)> | ![curves](curves.png) [the table](accuracy.md) | {away} |
""".format(away="[away](http://evil.example/) ![up](../outside.png) ![secret](secret.txt) "
              "[js](javascript:alert(1))")


def test_results_tables_are_html_with_only_their_own_links_and_nothing_run(tmp_path):
    """The markdown is rendered (markdown-it-py), its generated-file comment dropped; what
    came from a record stays text; links and images lead only to the results folder."""
    results = tmp_path / "results"
    results.mkdir()
    (results / "accuracy.md").write_text(HOSTILE_TABLE)
    Image.new("RGB", (8, 8), "white").save(results / "curves.png")
    Image.new("RGB", (8, 8), "white").save(tmp_path / "outside.png")
    (results / "secret.txt").write_text("SECRET")
    page = TestClient(create_app(_twins("ci-mlp"), results), base_url=LOCAL).get("/results").text
    assert "generated by" not in page and "do not edit" not in page
    assert "<h2>Accuracy</h2>" in page and "<th>experiment</th>" in page
    assert "<script>" not in page and "<img src=x" not in page and "onerror" not in page.replace(
        "&lt;img src=x onerror=alert(1)&gt;", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown as text
    assert "EPYC | x &lt;!-- /twinbench:accuracy --&gt;INJECT" in page
    assert '<img src="/results/curves.png" alt="curves"' in page
    assert '<a href="/results/accuracy.md">the table</a>' in page
    for leak in ("evil.example", "outside.png", 'src="secret.txt"', "/results/secret.txt",
                 'href="javascript'):
        assert leak not in page, leak
    assert "<span>away</span>" in page  # the link's text, without its address


def test_a_picture_error_names_no_python_object(client):
    c, _ = client
    r = c.post("/api/predict", json={"image": "data:image/png;base64,aGVsbG8="})
    assert r.status_code == 422 and "expected a PNG or JPEG image" in r.json()["error"]
    assert "<_io." not in r.text and " at 0x" not in r.text, r.text


def test_deeply_nested_json_is_a_400(client):
    c, _ = client
    r = c.post("/api/predict", content=b"[" * 100_000 + b"]" * 100_000, headers=JSON)
    assert r.status_code == 400 and "nested too deeply" in r.json()["error"], r.text


@pytest.fixture
def linked_results(tmp_path):
    """A results folder holding links: out of it, to a file of another kind, and within."""
    results, outside = tmp_path / "results", tmp_path / "outside"
    results.mkdir()
    outside.mkdir()
    (outside / "passwd").write_text("root:SECRET-OUTSIDE")
    (results / "secret.txt").write_text("SECRET-INSIDE")
    (results / "accuracy.md").write_text("| a | b |")
    Image.new("RGB", (8, 8), "white").save(results / "curves.png")
    links = {"passwd.md": outside / "passwd", "leak.png": results / "secret.txt",
             "table.md": results / "accuracy.md", "up.png": outside / ".." / "results.png"}
    for name, target in links.items():
        (results / name).symlink_to(target)
    (tmp_path / "results.png").write_bytes((results / "curves.png").read_bytes())
    return TestClient(create_app(_twins("ci-mlp"), results), base_url=LOCAL)


def test_results_serve_only_their_own_regular_files(linked_results):
    c = linked_results
    for name in ("passwd.md", "leak.png", "up.png", "secret.txt"):
        r = c.get(f"/results/{name}")
        assert r.status_code == 404 and "regular .md or .png file" in r.json()["error"], name
    page = c.get("/results").text
    assert "SECRET" not in page and "passwd.md" not in page and "leak.png" not in page
    assert "up.png" not in page
    assert c.get("/results/table.md").text == "| a | b |"  # a link within, to its own kind
    assert c.get("/results/curves.png").headers["content-type"] == "image/png"


@pytest.mark.parametrize("host, status", [
    ("127.0.0.1:8000", 200), ("localhost:8000", 200), ("localhost", 200), ("127.0.0.1", 200),
    ("LOCALHOST:1", 200), ("evil.example", 400), ("evil.example:8000", 400),
    ("127.0.0.1.evil.example", 400), ("localhost:80x", 400), ("", 400),
])
def test_only_this_machine_may_be_named_in_the_host_header(client, host, status):
    c, _ = client
    r = c.get("/", headers={"Host": host})
    assert r.status_code == status, (host, r.text)
    if status == 400:
        assert f"expected Host 127.0.0.1 or localhost (with a port), got {host!r}" in r.text
        r = c.post("/api/predict", json={"image": _drawing()}, headers={"Host": host})
        assert r.status_code == 400


@pytest.mark.parametrize("headers, status, message", [
    ({"Content-Type": "text/plain"}, 415, "expected Content-Type application/json, got"),
    ({}, 415, "got 'none'"),
    ({**JSON, "Origin": "http://evil.example"}, 403, "got Origin 'http://evil.example'"),
    ({**JSON, "Origin": "null"}, 403, "got Origin 'null'"),
    ({**JSON, "Origin": "http://localhost:8000"}, 403, "expected a request from this page"),
    ({**JSON, "Sec-Fetch-Site": "cross-site"}, 403, "got Sec-Fetch-Site 'cross-site'"),
    ({**JSON, "Sec-Fetch-Site": "same-site"}, 403, "same-origin"),
    ({**JSON, "Origin": LOCAL, "Sec-Fetch-Site": "same-origin"}, 200, None),
    ({**JSON, "Sec-Fetch-Site": "none"}, 200, None),
])
def test_only_the_page_itself_may_post(client, headers, status, message):
    c, _ = client
    body = json.dumps({"image": _drawing()}).encode()
    r = c.post("/api/predict", content=body, headers=headers)
    assert r.status_code == status, r.text
    if message:
        assert message in r.json()["error"]


def test_the_page_answers_while_drawings_are_classified(monkeypatch, tmp_path):
    # classification runs in worker threads, at most WORKERS at once; the event loop
    # keeps answering GET / meanwhile (it waited for every drawing before)
    running, most, lock = [0], [0], threading.Lock()
    started = threading.Event()

    def slow_classify(twins, png):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        started.set()
        time.sleep(0.6)  # a large picture
        with lock:
            running[0] -= 1
        return {"blank": True}

    monkeypatch.setattr(demo_app, "classify", slow_classify)
    app = create_app(_twins("ci-mlp"), tmp_path)
    with TestClient(app, base_url=LOCAL) as c:  # one event loop for every request
        codes = []
        posts = [threading.Thread(target=lambda: codes.append(
            c.post("/api/predict", json={"image": _drawing()}).status_code)) for _ in range(4)]
        for t in posts:
            t.start()
        assert started.wait(10)
        start = time.perf_counter()
        assert c.get("/").status_code == 200
        waited = time.perf_counter() - start
        for t in posts:
            t.join(30)
    assert waited < 0.4, f"GET / waited {waited:.2f} s behind the drawings"
    assert codes == [200] * 4 and most[0] == demo_app.WORKERS


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
