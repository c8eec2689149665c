"""The demo page in a real browser: headless chromium, driven by selenium, draws a 7.

Opt-in (`tox -e demo`, or TWINBENCH_BROWSER=1): needs Debian's chromium and
chromium-driver (`apt-get install chromium chromium-driver`), selenium, and real
MNIST. A ci-mlp model is trained on 3,000 images, served by uvicorn on a free
port of 127.0.0.1 as `twinbench demo` serves it; the browser draws a stroke
with the mouse, and the test checks that both twins' probabilities appear,
that they name the same class and differ by less than the float32 tolerance,
and that the screenshot shows the stroke on the canvas and the 28x28 input.
TWINBENCH_SCREENSHOT=path keeps the screenshot. The results view shows the
checkout's published results/: every table rendered as an HTML table, no
generated-file comment in sight, every plot loaded.
"""

import io
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest_data import require_real

if os.environ.get("TWINBENCH_BROWSER") != "1":
    pytest.skip("the browser test is opt-in: tox -e demo (TWINBENCH_BROWSER=1)",
                allow_module_level=True)

webdriver = pytest.importorskip("selenium.webdriver")
uvicorn = pytest.importorskip("uvicorn")

from PIL import Image  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from bench import datasets  # noqa: E402
from bench.cli.demo import bind  # noqa: E402
from bench.compare import TOLERANCES  # noqa: E402
from bench.demo import create_app  # noqa: E402
from bench.experiments import get_experiment  # noqa: E402
from bench.training import make_runner  # noqa: E402
from bench.training.inference import twins_from_weights  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "results"  # the published tables and plots
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--window-size=1280,900"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_real("mnist")
    exp = get_experiment("ci-mlp")
    images, labels = datasets.load("mnist", "train")
    x = datasets.to_inputs(images[:3000], stats=datasets.pixel_stats(images))
    runner = make_runner("scratch", exp)
    runner.begin_epoch(0)
    for i in range(0, 2976, exp.batch_size):
        runner.train_step(x[i:i + exp.batch_size], labels[i:i + exp.batch_size])
    twins = twins_from_weights(exp, runner.weights())
    sock = bind(0)  # a free port, as `twinbench demo --port` binds its own
    srv = uvicorn.Server(uvicorn.Config(create_app(twins, RESULTS), log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)):
        pytest.skip("needs Debian's chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(DRIVER))
    yield driver
    driver.quit()


def _bright(png: bytes) -> float:
    """Fraction of pixels brighter than mid-grey in a screenshot."""
    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    return float(np.mean(grey > 128))


def test_drawing_a_seven_shows_both_twins_agreeing(server, browser, tmp_path):
    browser.get(server)
    pad = browser.find_element(By.ID, "pad")
    assert _bright(pad.screenshot_as_png) < 0.01  # black before drawing

    # a 7: a bar along the top, then down to the lower left (offsets from the centre)
    stroke = [(-70, -80), (-35, -80), (0, -80), (35, -80), (70, -80), (55, -40), (40, 0),
              (25, 40), (10, 80)]
    actions = ActionChains(browser)
    actions.move_to_element_with_offset(pad, *stroke[0]).click_and_hold()
    for (x0, y0), (x1, y1) in zip(stroke, stroke[1:]):
        actions.move_by_offset(x1 - x0, y1 - y0)
    actions.release().perform()

    WebDriverWait(browser, 20).until(
        lambda b: len(b.find_elements(By.CSS_SELECTOR, "#probs tbody tr")) == 10
        and b.find_element(By.ID, "pred-scratch").text not in ("", "-"))
    time.sleep(1.0)  # the last request (on release) answered too
    rows = browser.find_elements(By.CSS_SELECTOR, "#probs tbody tr")
    p_scratch = np.array([float(r.find_element(By.CLASS_NAME, "p-scratch").text.rstrip("%"))
                          for r in rows]) / 100
    p_torch = np.array([float(r.find_element(By.CLASS_NAME, "p-torch").text.rstrip("%"))
                        for r in rows]) / 100
    assert abs(p_scratch.sum() - 1) < 1e-3 and abs(p_torch.sum() - 1) < 1e-3
    scratch_says = browser.find_element(By.ID, "pred-scratch").text
    torch_says = browser.find_element(By.ID, "pred-torch").text
    max_diff = float(browser.find_element(By.ID, "maxdiff").text)
    print(f"browser: scratch says {scratch_says}, torch says {torch_says}, "
          f"largest difference {max_diff:.1e}; probabilities {np.round(p_scratch, 3)}")
    assert scratch_says == torch_says == str(int(np.argmax(p_scratch)))
    assert max_diff <= TOLERANCES[np.dtype(np.float32)].atol
    assert scratch_says == "7"

    shot = browser.get_screenshot_as_png()
    keep = os.environ.get("TWINBENCH_SCREENSHOT")
    (tmp_path / "demo.png").write_bytes(shot)
    if keep:
        with open(keep, "wb") as f:
            f.write(shot)
    drawn = _bright(pad.screenshot_as_png)
    seen = _bright(browser.find_element(By.ID, "input").screenshot_as_png)
    page = Image.open(io.BytesIO(shot))
    print(f"screenshot {page.size}: stroke covers {drawn:.1%} of the canvas, "
          f"{seen:.1%} of the 28x28 input")
    assert 0.02 < drawn < 0.5  # the stroke is there, and it is a stroke, not a filled canvas
    assert 0.02 < seen < 0.6
    maps = browser.find_elements(By.CSS_SELECTOR, "#acts canvas")
    assert len(maps) == 1  # the MLP's first hidden layer, as one grid of units


def test_results_view_renders_every_table_and_plot(server, browser):
    browser.get(server + "results")
    assert "Results" in browser.find_element(By.TAG_NAME, "h1").text
    sections = browser.find_elements(By.CSS_SELECTOR, "section.table")
    tables = [RESULTS / s.get_attribute("id") for s in sections]
    assert sorted(tables) == sorted(RESULTS.glob("*.md"))
    assert tables[0].name == "verdict.md"  # the headline first, as in the README
    for sec, table in zip(sections, tables):
        rows = table.read_text().count("\n|") - table.read_text().count("\n|-")
        if rows:  # a table with rows is an HTML table with its header row
            assert sec.find_elements(By.CSS_SELECTOR, "table th"), table.name
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "generated by" not in text and "<!--" not in text and "|---" not in text
    images = browser.find_elements(By.CSS_SELECTOR, "figure img")
    assert len(images) == len(list(RESULTS.glob("*.png")))
    for img in images:  # each plot was served and decoded
        assert browser.execute_script("return arguments[0].naturalWidth", img) > 0, \
            img.get_attribute("src")
    shot = browser.get_screenshot_as_png()
    print(f"results view: {len(sections)} tables, {len(images)} plots, "
          f"screenshot {Image.open(io.BytesIO(shot)).size}")
