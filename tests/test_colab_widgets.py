"""Every widget of the kit, drawn live by a frontend that speaks only the ipywidgets 7 protocol.

Colab draws widgets with its own ipywidgets 7 frontend, which no one can run outside Colab.
The closest one installable here is the classic Notebook 6 with widgetsnbextension 3.6.10:
both come with Colab's pins (``tests/colab_pins.txt``), so the server runs from the very venv
of ``tests/test_colab.py`` (ipywidgets 7.7.1, IPython 7.34, ipykernel 6.17.1), after the
notebook's set-up cell installed the kit in it. Debian's Chromium, driven by Playwright at
1280x720, runs a notebook showing each widget of the kit (the k-NN explorer on the shipped
CIFAR-10 images, the graph explorer, the regularization explorer, a tqdm.auto progress bar)
and checks that each is a live widget view, not a placeholder or a text repr; moves a
slider and presses a button and sees the widget change; measures the smallest text of each
(in CSS pixels, as drawn), the k-NN slider's width, and that the graph explorer's buttons
stay put while stepping. Screenshots go to ``test-artifacts/colab-classic/``.

Chromium must be at /usr/bin/chromium: without it this test fails, never skips.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from autograder import config
from tests.nbtools import stop_process_group
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, _free_port
from tests.test_colab import colab_kit

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = config.ROOT / "test-artifacts" / "colab-classic"
MIN_FONT_PX = 12.0  # the smallest text a widget may draw at 1280x720

CELLS = {
    "knn": """\
import numpy as np
from course_lib.data import load_cifar10
from course_lib.widgets.knn import knn_explorer
X_train, y_train, X_test, y_test = load_cifar10(verbose=False)
Xtr, Xte = X_train[:500].reshape(500, -1), X_test[:50].reshape(50, -1)
dists = np.sqrt(np.maximum(0, (Xte**2).sum(1)[:, None] + (Xtr**2).sum(1) - 2 * Xte @ Xtr.T))
classes = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
knn_explorer(dists, X_train[:500], y_train[:500], X_test[:50], y_test[:50], classes)""",
    "graph": """\
from course_lib.widgets.graph_explorer import graph_explorer
graph_explorer("f = 1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))",
               {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3})""",
    "regularization": """\
import numpy as np
from course_lib.widgets.regularization import regularization_explorer
rng = np.random.default_rng(0)
X = rng.normal(size=(80, 2)); y = (X[:, 0] * X[:, 1] > 0).astype(int)
def train(X, y, hidden_size, reg):  # a ridge fit on random features: enough to redraw
    W = np.random.default_rng(1).normal(size=(2, hidden_size))
    H = np.tanh(X @ W)
    w = np.linalg.solve(H.T @ H + reg * 100 * np.eye(hidden_size), H.T @ (2 * y - 1))
    return lambda P: (np.tanh(P @ W) @ w > 0).astype(int)
regularization_explorer(train, X, y, reg=0.01, hidden_size=20)""",
    "tqdm": """\
import time
from tqdm.auto import tqdm
for _ in tqdm(range(20), desc="training"):
    time.sleep(0.01)""",
}

# Kernel ready (its info reply in) and the widget manager listening for the kernel's widgets.
READY_JS = """() => { const k = window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel;
    return !!(k && k.is_connected() && k.info_reply && k.info_reply.protocol_version
              && k.widget_manager && k.comm_manager.targets['jupyter.widget']); }"""
DONE_JS = """n => { const p = [...document.querySelectorAll('.code_cell .input_prompt')];
    return p.length === n && p.every(e => /\\[\\d+\\]/.test(e.textContent))
        && document.querySelector('#kernel_indicator_icon.kernel_idle_icon') !== null; }"""
# The smallest text drawn in a cell's output: HTML text by its computed size, SVG text by its
# size times the SVG's scale on screen, a k-NN picture by its smallest text (data-min-font-px)
# times its scale on screen. Each entry: [px, what].
FONTS_JS = """cell => {
  const out = [];
  const walker = document.createTreeWalker(cell.querySelector('.output_wrapper'),
                                           NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!walker.currentNode.textContent.trim() || !el.getClientRects().length) continue;
    if (el.closest('svg')) {
      const t = el.closest('text') || el;
      out.push([parseFloat(t.getAttribute('font-size') || getComputedStyle(t).fontSize)
                * t.getScreenCTM().a, 'svg: ' + t.textContent.trim()]);
    } else {
      out.push([parseFloat(getComputedStyle(el).fontSize), el.textContent.trim().slice(0, 40)]);
    }
  }
  for (const img of cell.querySelectorAll('img[data-min-font-px]'))
    out.push([parseFloat(img.dataset.minFontPx) * img.getBoundingClientRect().width
              / img.naturalWidth, 'picture: ' + img.alt]);
  out.sort((a, b) => a[0] - b[0]);
  return out;
}"""


# The cell's first picture differs from ``before`` (an HTML widget redraws its whole content,
# so the <img> element itself is new).
CHANGED_JS = """([cell, before]) => {
    const img = cell.querySelector('.output_area img');
    return img !== null && img.getAttribute('src') !== before; }"""


class ClassicNotebook:
    """The classic Notebook 6 server of the Colab-like venv, on 127.0.0.1."""

    def __init__(self, kit, base: Path):
        self.root = base / "notebooks"
        self.root.mkdir()
        self.port, self.token = _free_port(), secrets.token_hex(24)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = base / "notebook.log"
        env = kit.env(COURSE_DATA=kit.data, JUPYTER_CONFIG_DIR=str(base / "config"),
                      JUPYTER_RUNTIME_DIR=str(base / "runtime"))
        cmd = [str(kit.venv / "bin" / "jupyter-notebook"), "--no-browser", "--allow-root",
               f"--port={self.port}", "--ip=127.0.0.1", f"--NotebookApp.token={self.token}",
               f"--notebook-dir={self.root}", "--NotebookApp.port_retries=0"]
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(cmd, env=env, cwd=self.root, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{self.base_url}/api/status?token={self.token}",
                                            timeout=10) as resp:
                    json.loads(resp.read())
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"Notebook 6 did not start:\n{self.log.read_text()[-3000:]}")
                time.sleep(0.3)

    def stop(self):
        stop_process_group(self.proc)


@pytest.fixture(scope="module")
def classic(tmp_path_factory):
    kit = colab_kit(tmp_path_factory)
    server = ClassicNotebook(kit, tmp_path_factory.mktemp("classic"))
    yield kit, server
    server.stop()


def _version(kit, module: str) -> str:
    return subprocess.run([kit.python, "-c", f"import {module}; print({module}.__version__)"],
                          capture_output=True, text=True, check=True).stdout.strip()


def _drag(page, handle, dx: int = 40) -> None:
    """Drag a slider's handle to the right with the mouse, as a student does."""
    handle.scroll_into_view_if_needed()
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=5)
    page.mouse.up()


def test_every_widget_is_live_in_notebook_6_with_the_ipywidgets_7_frontend(classic):
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} not found: install Debian's Chromium (`apt-get install -y "
                    "chromium`; .ci/run does this). The browser tests never skip.",
                    pytrace=False)
    kit, server = classic
    assert _version(kit, "ipywidgets") == "7.7.1"
    assert _version(kit, "widgetsnbextension") == "3.6.10"
    assert _version(kit, "notebook").startswith("6.")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src, id=name)
                                         for name, src in CELLS.items()])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, str(server.root / "widgets.ipynb"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{server.base_url}/notebooks/widgets.ipynb?token={server.token}")
        page.wait_for_function(READY_JS, timeout=120_000)
        page.evaluate("() => Jupyter.notebook.execute_all_cells()")
        page.wait_for_function(DONE_JS, arg=len(CELLS), timeout=300_000, polling=500)
        cells = page.locator(".code_cell")
        measured = {}
        for index, name in enumerate(CELLS):
            cell = cells.nth(index)
            cell.scroll_into_view_if_needed()
            try:  # the views are drawn after the cell has finished
                cell.locator(".output_area .jupyter-widgets").first.wait_for(timeout=60_000)
            except Exception:  # noqa: BLE001 - the assertions below say what is shown instead
                page.screenshot(path=str(ARTIFACTS / f"{name}-missing.png"), full_page=True)
            text = cell.locator(".output_wrapper").inner_text()
            for bad in ("Loading widget", "Error displaying widget", "Failed to load model",
                        "Traceback", "Error", "VBox(", "HBox(", "HTML(value"):
                assert bad not in text, f"{name}: {bad!r} in\n{text[:2000]}"
            assert cell.locator(".output_area .jupyter-widgets").count() > 0, \
                f"{name}: no live widget view:\n{text[:1000]}"
            fonts = cell.evaluate(FONTS_JS)
            measured[name] = fonts[0]
            assert fonts and fonts[0][0] >= MIN_FONT_PX, f"{name}: smallest text {fonts[:5]}"
            cell.screenshot(path=str(ARTIFACTS / f"{name}.png"))

        # tqdm.auto chose the widget bar, and the ipywidgets 7 frontend drew it, full.
        bar = cells.nth(3).locator(".progress-bar")
        assert bar.count() == 1, cells.nth(3).inner_html()[:2000]
        assert "20/20" in cells.nth(3).inner_text()

        # k-NN: the test-image slider is wide; moving it (and k) changes the picture.
        knn = cells.nth(0)
        track = knn.locator(".ui-slider").first
        assert track.bounding_box()["width"] >= 400, track.bounding_box()
        picture = lambda: knn.locator("img").first.get_attribute("src")  # noqa: E731
        for handle in knn.locator(".ui-slider-handle").all():
            before = picture()
            _drag(page, handle)
            page.wait_for_function(CHANGED_JS, arg=[knn.element_handle(), before],
                                   timeout=60_000)
        assert re.search(r"The \d+ nearest training images vote", knn.inner_text())
        knn.screenshot(path=str(ARTIFACTS / "knn-after-sliders.png"))

        # The graph explorer: step through with the button; the buttons never move.
        graph = cells.nth(1)
        step = graph.locator("button", has_text="step ▶")
        # Where the step button sits in its cell, and the picture (a new <svg> each redraw).
        where = """c => [[...c.querySelectorAll('button')].find(b => b.textContent.includes('step'))
                         .getBoundingClientRect().top - c.getBoundingClientRect().top,
                         c.querySelector('.output_area svg').innerHTML]"""
        tops, shown = [], []
        while True:
            top, svg = graph.evaluate(where)
            tops.append(round(top, 1))
            shown.append(svg)
            if not step.is_enabled():
                break
            step.click()
            page.wait_for_function(
                "([c, before]) => c.querySelector('.output_area svg').innerHTML !== before",
                arg=[graph.element_handle(), svg], timeout=30_000)
        assert len(shown) > 5 and len(set(tops)) == 1, tops  # no height jump between steps
        assert "Done:" in graph.inner_text() and "exp((-1))" not in graph.inner_text()
        fonts = graph.evaluate(FONTS_JS)
        assert fonts[0][0] >= MIN_FONT_PX, fonts[:5]
        graph.screenshot(path=str(ARTIFACTS / "graph-done.png"))

        # The regularization explorer retrains when its slider moves.
        reg = cells.nth(2)
        image = reg.locator("img").first
        before = image.get_attribute("src")
        _drag(page, reg.locator(".ui-slider-handle").first)
        page.wait_for_function(CHANGED_JS, arg=[reg.element_handle(), before], timeout=60_000)
        reg.screenshot(path=str(ARTIFACTS / "regularization-after-slider.png"))
        assert errors == [], errors
        (ARTIFACTS / "min-font-px.json").write_text(json.dumps(measured, indent=1))
        print(f"\nclassic Notebook 6 + ipywidgets 7: smallest text per widget (px): {measured}")
        browser.close()
    finally:
        pw.stop()
