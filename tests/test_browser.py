"""The JupyterLab path, in a real browser: what a student sees, not what pytest sees.

One JupyterLab server (from this venv, on 127.0.0.1 with a random port and token) and one
Debian Chromium driven by Playwright serve all the browser tests. For every student notebook:

* with the reference answers typed into the answer cells, "Run All Cells" from the menu
  ends with no error output, every check cell showing its pass line, every interactive
  widget rendered as a live widget view (not "Loading widget..." nor its text repr), a
  slider moved or a button pressed changing what the widget shows, and the scorecard
  giving every point;
* in the blank version, the first exercise's check shows the readable "not implemented
  yet" message, not a traceback from course_lib;
* the students' lab (``make lab``: ``jupyter/student/`` switches nbgrader's server and lab
  extensions off) opens on ``START_HERE.md``, rendered, with no nbgrader menu or panel, file
  names in full, and never JupyterLab's news pop-up (``jupyter/lab-overrides.json``);
* what a first-time student did in 01 (issue 15): a wrong answer and its message, the class
  fixed and re-run while an object built from the old class was about, and the course
  scorecard pasted into a cell of the saved notebook: it refuses to nest, in one line, while
  one scoring process runs and the server's memory stays flat.

Screenshots go to ``test-artifacts/browser/`` (not committed). Chromium must be at
/usr/bin/chromium (``apt-get install -y chromium``; ``.ci/run`` installs it): without it
these tests fail, they are never skipped.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

from autograder import config, course, release
from tests.nbtools import jupyterlab_command, scorecard_processes, stop_process_group

pytestmark = pytest.mark.browser

IDS = course.notebook_ids()
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = config.ROOT / "test-artifacts" / "browser"
STUDENT_CONFIG = config.ROOT / "jupyter" / "student"
START_PAGE = "START_HERE.md"
RUN_TIMEOUT_MS = 30 * 60 * 1000  # a whole notebook on a busy 2-core machine
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# Notebooks whose interactive demo the course promises (others are checked if they show one).
EXPECTED_WIDGETS = {"01_knn": "k-NN explorer", "03_backprop": "graph explorer",
                    "04_neural_networks": "regularization slider"}
PLACEHOLDERS = ("Loading widget", "Error displaying widget", "Failed to load model")
CONTROLS = ", ".join(f".jp-Cell-outputArea {c}" for c in (
    ".noUi-handle", "input[type=range]", "button.jupyter-button", ".widget-dropdown select"))
# What a widget shows (as opposed to its controls): compared before and after an action.
SHOWN_JS = """cell => [...cell.querySelectorAll(
    '.jp-Cell-outputArea .widget-output, .jp-Cell-outputArea .widget-html-content,' +
    '.jp-Cell-outputArea img, .jp-Cell-outputArea svg')].map(e => e.outerHTML).join('\\n')"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server from this venv, serving a scratch folder of notebooks."""

    def __init__(self, base: Path):
        self.root = base / "notebooks"
        self.root.mkdir()
        self.port, self.token = _free_port(), secrets.token_hex(24)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = base / "jupyterlab.log"
        env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # plots inline
        # The students' lab, as `make lab` starts it (see the Makefile).
        env.update(JUPYTERLAB_SETTINGS_DIR=str(base / "user-settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
                   JUPYTER_CONFIG_PATH=str(STUDENT_CONFIG))
        shutil.copy(config.NOTEBOOKS_DIR / START_PAGE, self.root / START_PAGE)
        cmd = jupyterlab_command(self.port, self.token, self.root) + [
            f"--LabApp.default_url=/lab/tree/{START_PAGE}"]
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + 180
        while True:
            try:
                self.api("GET", "/api/status")
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"JupyterLab did not start:\n{self.log.read_text()[-3000:]}")
                time.sleep(0.5)

    def api(self, method: str, path: str):
        req = urllib.request.Request(self.base_url + path, method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def url(self, name: str) -> str:
        """The notebook in a fresh workspace, so no earlier tab is reopened."""
        workspace = re.sub(r"\W", "-", name) + "-" + secrets.token_hex(4)
        return f"{self.base_url}/lab/workspaces/{workspace}/tree/{name}?token={self.token}"

    def shutdown_kernels(self):
        for kernel in self.api("GET", "/api/kernels"):
            self.api("DELETE", f"/api/kernels/{kernel['id']}")

    def stop(self):
        stop_process_group(self.proc)


# Module scope: one server and one browser for all the browser tests (they are all in this
# module), stopped before other modules run, so Playwright's event loop never meets nbclient's.
@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    installed = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    shipped = config.ROOT / "jupyter" / "lab-overrides.json"
    if not installed.is_file() or json.loads(installed.read_text()) != json.loads(
            shipped.read_text()):
        pytest.fail(f"{installed} is missing or differs from {shipped}: run `make venv`",
                    pytrace=False)
    server = Lab(tmp_path_factory.mktemp("lab"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} not found: install Debian's Chromium (`apt-get install -y "
                    "chromium`; .ci/run does this). The browser tests never skip.",
                    pytrace=False)
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()
    pw.stop()
    print(f"\nbrowser screenshots: {ARTIFACTS}")


class NotebookPage:
    """One notebook open in JupyterLab, driven through its menus like a student would."""

    def __init__(self, lab: Lab, browser, nb, name: str):
        self.lab, self.name, self.path = lab, name, lab.root / name
        nbformat.write(nb, str(self.path))
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.goto(lab.url(name))
        self.page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        # JupyterLab attaches the cells in batches: wait for one DOM cell per notebook cell.
        self.page.wait_for_function(
            "n => document.querySelectorAll('.jp-Notebook .jp-Cell').length === n",
            arg=len(nb.cells), timeout=120_000)
        self.wait_idle()
        self.cells = self.page.locator(".jp-Notebook .jp-Cell")

    def close(self):
        self.context.close()
        self.lab.shutdown_kernels()

    def wait_idle(self, timeout: int = 120_000):
        """Kernel connected and idle, and no cell waiting to run."""
        self.page.wait_for_function(
            """() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]
                         .some(e => /\\| Idle$/.test(e.textContent.trim()))
                     && ![...document.querySelectorAll('.jp-InputPrompt')]
                         .some(e => e.textContent.includes('*'))""", timeout=timeout)

    def menu(self, top: str, item: str):
        self.page.click(f".lm-MenuBar-itemLabel:text-is('{top}')")
        self.page.click(f".lm-Menu-itemLabel:text-is('{item}')")

    def run_all(self):
        self.menu("Run", "Run All Cells")
        self.page.wait_for_function(
            """() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                         .every(e => /^\\[\\d+\\]:$/.test(e.textContent.trim()))""",
            timeout=RUN_TIMEOUT_MS, polling=1000)
        self.wait_idle()

    def run_cell(self, index: int, above_first: bool = False):
        """Select cell ``index`` (command mode) and run it, after the cells above if asked."""
        prompt = self.cells.nth(index).locator(".jp-InputPrompt")
        prompt.click()
        if above_first:  # stops at an error, as it does for the student
            self.menu("Run", "Run All Above Selected Cell")
            self.page.wait_for_function(
                """() => /^\\[\\d+\\]:$/.test(document.querySelector(
                       '.jp-CodeCell .jp-InputPrompt').textContent.trim())""",
                timeout=RUN_TIMEOUT_MS, polling=500)
            self.wait_idle()
            prompt.click()
        self.menu("Run", "Run Selected Cell and Do not Advance")
        self.page.wait_for_function(
            "el => /^\\[\\d+\\]:$/.test(el.textContent.trim())",
            arg=prompt.element_handle(), timeout=RUN_TIMEOUT_MS, polling=500)
        self.wait_idle()

    def saved(self):
        """Save through the UI (Ctrl+S); return the notebook as saved on disk."""
        before = self.path.stat().st_mtime_ns
        self.cells.first.locator(".jp-InputPrompt, .jp-Cell-inputWrapper").first.click()
        self.page.keyboard.press("Escape")
        self.page.keyboard.press("Control+s")
        deadline = time.monotonic() + 60
        while self.path.stat().st_mtime_ns == before and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)  # the write is atomic, but let the listing settle
        return course.read(self.path)

    def text(self, index: int) -> str:
        """What a cell's output area shows (textContent: independent of scrolling)."""
        return self.cells.nth(index).evaluate(
            "c => (c.querySelector('.jp-Cell-outputArea') || {}).textContent || ''")

    def notifications(self) -> list[str]:
        """Toasts on screen and the status bar's notification count."""
        toasts = self.page.eval_on_selector_all(".Toastify__toast",
                                                "ts => ts.map(t => t.innerText)")
        count = self.page.text_content(".jp-Notification-Status-Text")
        return toasts + ([f"{count} notification(s) in the status bar"] if count != "0" else [])

    def screenshot(self, path: Path, index: int | None = None):
        path.parent.mkdir(parents=True, exist_ok=True)
        if index is not None:  # let an off-screen cell lay out before measuring it
            self.cells.nth(index).scroll_into_view_if_needed()
            self.page.wait_for_timeout(700)
            self.cells.nth(index).screenshot(path=str(path))
            return
        # The whole notebook in as few tall pictures as Chromium allows: scrolled to the top,
        # in a viewport as tall as the notebook (plus JupyterLab's bars), at most 12,000 px.
        scroller = ".jp-WindowedPanel-outer"
        height = self.page.eval_on_selector(scroller, "el => el.scrollHeight")
        self.page.set_viewport_size({"width": 1280, "height": min(int(height) + 150, 12000)})
        self.page.wait_for_timeout(500)
        visible = self.page.eval_on_selector(scroller, "el => el.clientHeight")
        offsets = list(range(0, int(height), int(visible)))
        for k, offset in enumerate(offsets, 1):
            self.page.eval_on_selector(scroller, f"el => {{ el.scrollTop = {offset}; }}")
            self.page.wait_for_timeout(1500)
            part = path if len(offsets) == 1 else path.with_name(f"{path.stem}-{k}.png")
            self.page.screenshot(path=str(part))
        self.page.set_viewport_size({"width": 1280, "height": 900})


def _has_widget(cell) -> bool:
    return any(WIDGET_VIEW in out.get("data", {}) for out in cell.get("outputs", []))


def _act_and_see_change(page: NotebookPage, index: int) -> str:
    """Move a slider, press a button or pick another option of the widget in cell ``index``
    until what the widget shows changes; return what was done."""
    cell = page.cells.nth(index)
    handle = cell.element_handle()
    buttons = cell.locator("button.jupyter-button").all()
    forward = re.compile(r"step|next|run|▶|train|go\b", re.I)  # most likely to change it
    buttons.sort(key=lambda b: not forward.search(b.text_content() or ""))
    controls = ([("slider", h) for h in cell.locator(".noUi-handle").all()]
                + [("slider", s) for s in cell.locator("input[type=range]").all()]
                + [("button", b) for b in buttons]
                + [("dropdown", d) for d in cell.locator(".widget-dropdown select").all()])
    tried = []
    for kind, control in controls:
        before = page.page.evaluate(SHOWN_JS, handle)
        if not control.is_visible() or not control.is_enabled():
            continue
        if kind == "slider":
            control.focus()
            page.page.keyboard.press("ArrowRight")
        elif kind == "button":
            control.click()
        else:
            options = control.locator("option").all_text_contents()
            current = control.input_value()
            other = next((o for o in options if o != current), None)
            if other is None:
                continue
            control.select_option(label=other)
        name = control.evaluate("""c => ((c.closest('.widget-hslider, .widget-vslider,'
            + ' .widget-dropdown') || c).querySelector('.widget-label') || c).textContent""")
        label = f"{kind} {(name or '').strip()!r}"
        try:
            page.page.wait_for_function(f"([cell, before]) => ({SHOWN_JS})(cell) !== before",
                                        arg=[handle, before], timeout=30_000, polling=250)
        except Exception:  # noqa: BLE001 - this control changed nothing; try the next
            tried.append(label)
            continue
        page.wait_idle()
        return label
    raise AssertionError(f"cell {index}: no control changed what the widget shows "
                         f"(tried: {tried or 'no controls found'})")


def test_student_lab_opens_on_the_start_page_without_nbgrader(lab, chromium):
    """`make lab` as a student sees it: the start page rendered, the course's notebooks
    listed with their whole names, and none of nbgrader's instructor tools."""
    for nb_id in IDS:
        shutil.copy(course.student_path(nb_id), lab.root / f"{nb_id}.ipynb")
    context = chromium.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    try:
        page.goto(f"{lab.base_url}/?token={lab.token}")  # the server's default URL
        page.wait_for_selector(".jp-RenderedMarkdown h1:text-is('Start here')", timeout=120_000)
        page.wait_for_selector(".jp-Notification-Status-Text", timeout=60_000)
        page.wait_for_function(
            "n => document.querySelectorAll('.jp-DirListing-item').length >= n",
            arg=len(IDS) + 1, timeout=60_000)
        page.wait_for_timeout(5000)  # the news question is posted right after start-up
        toasts = page.eval_on_selector_all(".Toastify__toast", "ts => ts.map(t => t.innerText)")
        assert toasts == []
        assert page.text_content(".jp-Notification-Status-Text") == "0"
        # Every notebook linked from the start page, every file name shown in full.
        links = page.eval_on_selector_all(".jp-RenderedMarkdown a",
                                          "as => as.map(a => a.textContent)")
        assert [f"{i}.ipynb" for i in IDS] == [x for x in links if x.endswith(".ipynb")]
        names = page.eval_on_selector_all(
            ".jp-DirListing-itemText",
            "es => es.map(e => [e.textContent, e.scrollWidth, e.clientWidth])")
        assert {n for n, _, _ in names} >= {f"{i}.ipynb" for i in IDS} | {START_PAGE}
        cut = [n for n, scroll, client in names if scroll > client]
        assert cut == [], f"file names cut off in the file browser: {cut}"
        # No nbgrader: no menu, no panel, no formgrader or assignment list behind the server.
        menus = page.eval_on_selector_all(".lm-MenuBar-itemLabel",
                                          "es => es.map(e => e.textContent)")
        assert "File" in menus and not any("nbgrader" in m.lower() for m in menus), menus
        shown = page.inner_text("body")
        for tool in ("Create Assignment", "Assignment List", "Formgrader", "Validate",
                     "exchange directory"):
            assert tool not in shown, f"the students' lab shows {tool!r}"
        for url in ("/formgrader", "/assignments", "/courses"):
            try:
                lab.api("GET", url)
            except urllib.error.HTTPError as exc:
                assert exc.code == 404, f"{url}: {exc.code}"
            else:
                raise AssertionError(f"the students' lab serves nbgrader's {url}")
        page.screenshot(path=str(ARTIFACTS / "jupyterlab-start.png"))
    finally:
        context.close()


def _retype_line(page: NotebookPage, index: int, line_no: int, text: str):
    """Replace line ``line_no`` (0-based) of cell ``index``'s code, as a student would: click
    into the editor, go there with the arrow keys, select the line's code and type."""
    editor = page.cells.nth(index).locator(".cm-content")
    editor.click()
    page.page.keyboard.press("Control+Home")
    for _ in range(line_no):
        page.page.keyboard.press("ArrowDown")
    page.page.keyboard.press("End")
    page.page.keyboard.press("Shift+Home")  # to the end of the indentation
    page.page.keyboard.type(text)
    page.page.keyboard.press("Escape")


NO_SQRT = "dists = np.maximum(squared, 0)  # rounding can dip just below 0"
FIXED = "dists = np.sqrt(np.maximum(squared, 0))  # rounding can dip just below 0"
PASTED = "from course_lib.course_scorecard import course_scorecard\ncourse_scorecard()"


@pytest.mark.slow
def test_first_time_student_in_01_wrong_fixed_stale_and_the_course_scorecard(lab, chromium):
    """Issue 15 as it happened: a wrong no-loop distance (the square root forgotten) and its
    message; the class fixed and re-run while ``classifier`` was built from the old class
    (the next cell must not print a 1e8 difference without comment); then
    ``course_scorecard()`` pasted into a new cell of the saved notebook and run: scoring 01
    meets that call, which refuses in one line; one scoring process, memory flat."""
    source = course.read(course.source_path("01_knn"))
    student = course.read(course.student_path("01_knn"))
    code = {course.grade_id(c) for c in source.cells
            if course.is_solution(c) and c.cell_type == "code"}
    nb = course.fill_in_answers(student, source, only=code - {"cross_validation_solution"})
    # Pictures and timings this story does not look at are left out (they cost 5-6 s).
    nb.cells = [c for c in nb.cells
                if c.id not in ("show-pixels", "sample-grid", "backwards-timing")]
    ids = [c.id for c in nb.cells]
    klass = nb.cells[ids.index("knn-class")]
    assert FIXED in klass.source
    klass.source = klass.source.replace(FIXED, NO_SQRT)
    line_no = next(i for i, ln in enumerate(klass.source.splitlines()) if NO_SQRT in ln)
    (lab.root / "student").mkdir(exist_ok=True)  # alone: the course scorecard scores only it
    page = NotebookPage(lab, chromium, nb, "student/01_knn.ipynb")
    shots = ARTIFACTS / "first-time-student"
    try:
        check, run = ids.index("no-loops-check"), ids.index("no-loops-run")
        page.run_cell(check, above_first=True)
        wrong = page.text(check)
        assert wrong.startswith("✘ KNearestNeighbor.compute_distances_no_loops"), wrong
        assert "Traceback" not in wrong
        page.screenshot(shots / "1-wrong-answer.png", index=check)
        page.run_cell(run)
        flagged = page.text(run)
        assert "✘ The no-loop and two-loop distances disagree" in flagged, flagged

        _retype_line(page, ids.index("knn-class"), line_no, FIXED.strip())
        typed = page.cells.nth(ids.index("knn-class")).locator(".cm-content").inner_text()
        assert FIXED in typed and NO_SQRT not in typed
        page.run_cell(ids.index("knn-class"))
        page.run_cell(check)
        assert page.text(check).startswith(
            "✔ KNearestNeighbor.compute_distances_no_loops: passed"), page.text(check)
        # `classifier` still holds an object of the old class: the cell builds its own.
        page.run_cell(run)
        fixed = page.text(run)
        assert "✘" not in fixed and "largest difference" in fixed, fixed
        difference = float(re.search(r"first 10: (\S+)", fixed).group(1))
        assert difference < 1e-6, fixed
        page.screenshot(shots / "2-fixed-class-stale-instance.png", index=run)

        # The scorecard's advice pasted into a new cell at the end, saved, run.
        last = len(nb.cells) - 1
        page.cells.nth(last).locator(".jp-InputPrompt").click()
        page.page.keyboard.press("b")
        page.page.wait_for_function(
            "n => document.querySelectorAll('.jp-Notebook .jp-Cell').length === n",
            arg=len(nb.cells) + 1, timeout=30_000)
        page.page.keyboard.press("Enter")
        page.page.keyboard.type(PASTED)
        page.page.keyboard.press("Escape")
        saved = page.saved()
        assert saved.cells[-1].source == PASTED
        seen, done = [], threading.Event()

        def watch():
            while not done.is_set():
                seen.append(scorecard_processes(lab.proc.pid, include_root=True))
                done.wait(0.1)

        baseline = scorecard_processes(lab.proc.pid, include_root=True)[1]
        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            page.run_cell(last + 1)
        finally:
            done.set()
            watcher.join()
        card = page.text(last + 1)
        assert "Course scorecard" in card and "not an official grade" in card, card[:500]
        assert ("course_scorecard() refused: 01_knn.ipynb is itself being scored by the "
                "course scorecard, and scoring never nests") in card, card
        most = max(n for n, _ in seen)
        grew = max(r for _, r in seen) - baseline
        print(f"course scorecard from inside 01: {most} scoring process(es) at once, the "
              f"server's process tree grew by {grew / 2**20:.0f} MB at most "
              f"({len(seen)} samples)")
        assert most == 1, f"{most} scoring processes at once"
        assert grew < 1.5 * 2**30, f"the server's processes grew by {grew / 2**20:.0f} MB"
        page.screenshot(shots / "3-course-scorecard-inside-a-notebook.png", index=last + 1)
        assert page.notifications() == []
    finally:
        page.close()


@pytest.mark.slow
@pytest.mark.parametrize("nb_id", IDS)
def test_reference_answers_run_all_in_jupyterlab(lab, chromium, nb_id):
    source = course.read(course.source_path(nb_id))
    filled = course.fill_in_answers(course.read(course.student_path(nb_id)), source)
    start = time.perf_counter()
    page = NotebookPage(lab, chromium, filled, f"{nb_id}.ipynb")
    try:
        page.run_all()
        ran = time.perf_counter() - start
        saved = page.saved()
        errors = [(c.get("id"), o.get("ename"), o.get("evalue")) for c in saved.cells
                  for o in c.get("outputs", []) if o.output_type == "error"]
        assert errors == [], f"error output after Run All: {errors}"
        for i, cell in enumerate(saved.cells):
            if course.is_autograded_test(cell):
                shown = page.text(i)
                for call in course.parse_check_cell(cell.source):
                    assert f"✔ {call.item}: passed" in shown, f"{cell.id} shows:\n{shown}"

        widget_cells = [i for i, c in enumerate(saved.cells) if _has_widget(c)]
        if nb_id in EXPECTED_WIDGETS:
            assert widget_cells, f"{nb_id}: its {EXPECTED_WIDGETS[nb_id]} displayed no widget"
        for i in widget_cells:
            cell = page.cells.nth(i)
            shown = page.text(i)
            assert cell.locator(".jp-Cell-outputArea .jupyter-widgets").count() > 0, \
                f"cell {saved.cells[i].id}: no live widget view, it shows:\n{shown[:500]}"
            reprs = [o.data["text/plain"] for o in saved.cells[i].outputs
                     if WIDGET_VIEW in o.get("data", {})]
            for bad in (*PLACEHOLDERS, *reprs):
                assert bad not in shown, f"cell {saved.cells[i].id} shows {bad!r}"
        # Widgets a student can work (progress bars, say, have no controls): move or press.
        interactive = [i for i in widget_cells if page.cells.nth(i).locator(CONTROLS).count()]
        if nb_id in EXPECTED_WIDGETS:
            assert interactive, f"{nb_id}: its {EXPECTED_WIDGETS[nb_id]} has no controls"
        for i in widget_cells:
            if i not in interactive:
                page.screenshot(ARTIFACTS / f"{nb_id}-widget-{saved.cells[i].id}.png", index=i)
        for i in interactive:
            name = f"{nb_id}-widget-{saved.cells[i].id}"
            page.screenshot(ARTIFACTS / f"{name}-before.png", index=i)
            did = _act_and_see_change(page, i)
            page.screenshot(ARTIFACTS / f"{name}-after.png", index=i)
            print(f"{nb_id} {saved.cells[i].id}: {did} changed the view")

        last = len(saved.cells) - 1
        assert saved.cells[last].id == release.SCORECARD_CELL_ID
        card = page.text(last)
        assert page.cells.nth(last).locator(".course-scorecard table").count() == 1
        assert "not an official grade" in card and "✘" not in card and "not attempted" not in card
        total = sum(i["points"] for i in course.graded_items(source) if i["kind"] == "auto")
        assert f"Self-assessed: {total:g} / {total:g} points from checks" in card, card[:400]
        page.screenshot(ARTIFACTS / f"{nb_id}-scorecard.png", index=last)

        assert page.notifications() == [], "JupyterLab showed a notification (news pop-up?)"
        page.screenshot(ARTIFACTS / f"{nb_id}.png")
        print(f"{nb_id}: opened and ran all cells in JupyterLab in {ran:.1f} s")
    finally:
        page.close()


@pytest.mark.slow
@pytest.mark.parametrize("nb_id", IDS)
def test_blank_notebook_first_check_says_not_implemented_in_jupyterlab(lab, chromium, nb_id):
    student = course.read(course.student_path(nb_id))
    first = next(i for i, c in enumerate(student.cells) if course.is_autograded_test(c))
    page = NotebookPage(lab, chromium, student, f"{nb_id}-blank.ipynb")
    try:
        page.run_cell(first, above_first=True)
        shown = page.text(first)
        # "✘ <item>: not implemented yet", or, when the exercise is top-level code whose
        # cell stopped, "✘ name 'q' is not defined: ... an exercise is not implemented yet."
        # (long lines are wrapped at word boundaries: compare with the line breaks removed)
        assert shown.startswith("✘ ") and "not implemented yet" in " ".join(shown.split()), \
            shown
        for i in range(first + 1):  # the check and every cell above it
            text = page.text(i)
            assert "Traceback" not in text and "course_lib/" not in text \
                and "site-packages" not in text, f"{student.cells[i].id} shows:\n{text}"
            if "✘" in text:
                assert "not implemented yet" in " ".join(text.split()), \
                    f"{student.cells[i].id} shows:\n{text}"
        assert page.notifications() == []
        page.screenshot(ARTIFACTS / f"{nb_id}-blank-first-check.png", index=first)
    finally:
        page.close()
