"""Issue 11, end to end: an instructor collects a class through nbgrader's exchange, grades
it with ``course-grade autograde`` and finishes the job in nbgrader's formgrader.

Everything is a real process from this venv, in temporary folders (course directory,
exchange, one home per person):

1. ``nbgrader generate_assignment`` and ``release_assignment`` 01_knn; three students fetch
   it, fill it in (``reference``: every answer; ``blank``: nothing; ``mistakes``: the
   distance without its square root in ``compute_distances_one_loop``, no cross-validation
   and only the first written answer) and ``nbgrader submit``. ``mistakes`` first submits the
   blank notebook on time, then, after the due date (``nbgrader db assignment add
   --duedate``), the real one; ``nbgrader collect`` takes each student's latest.
2. ``course-grade autograde 01_knn`` in the course directory writes nbgrader's gradebook:
   each check's auto_score as expected per student and item, the late submission's
   timestamp, written answers left for a person exactly when they were answered (a blank
   one scores 0), and ``autograded/<student>/01_knn/01_knn.ipynb`` with the check messages.
3. The formgrader (JupyterLab from the venv, in Debian's Chromium through Playwright): the
   instructor opens Manual Grading -> 01_knn -> 01_knn -> the reference student, sees the
   student's code and the check messages, types a score and a comment for a written
   answer, and the gradebook has them.
4. ``nbgrader export``: each student's score is the sum of the expected items, automatic
   and manual.

Screenshots go to ``test-artifacts/instructor/``. Without nbgrader or /usr/bin/chromium
this test fails; it is never skipped. About 2.5 minutes on a busy 2-core machine, most of it
nbgrader's start-up (6-9 s per command).
"""

from __future__ import annotations

import csv
import math
import re
import time
from datetime import datetime, timedelta
from pathlib import Path

import nbformat
import pytest

from autograder import config, course
from tests import instructor
from tests.instructor import Course, Formgrader, Student

pytestmark = [pytest.mark.slow, pytest.mark.browser]

NB_ID = "01_knn"
ARTIFACTS = config.ROOT / "test-artifacts" / "instructor"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# The submission page has fetched its grades and comments from the gradebook.
FORM_LOADED = """() => window.formgrader && formgrader.loaded && formgrader.grades.loaded
                       && formgrader.comments.loaded && MathJax.loaded"""
# The submission page loads MathJax 2 from cdnjs and its script (formgrade.js) calls
# MathJax.Hub during start-up: without it (this machine is offline) the page throws before
# its keyboard shortcuts are registered. The test serves this stand-in instead, and
# nothing else leaves 127.0.0.1.
MATHJAX_URL = "https://cdnjs.cloudflare.com/ajax/libs/mathjax/**"
MATHJAX_STUB = """window.MathJax = {Hub: {Config: function () {}, Queue: function () {},
    Startup: {signal: {Interest: function (f) { setTimeout(function () { f("End"); }, 0); }}}}};
"""

# The student with mistakes: a one-loop distance without its square root (only that
# method's check can see it: the vote ranks neighbours the same), no cross-validation, and
# only the first of the two written answers.
CORRECT_ONE_LOOP = "dists[i, :] = np.sqrt(np.sum((self.X_train - X[i]) ** 2, axis=1))"
WRONG_ONE_LOOP = "dists[i, :] = np.sum((self.X_train - X[i]) ** 2, axis=1)"
MISTAKES_FILLED = {"knn_class_solution", "l1_preprocessing_answer"}
MISTAKES_WRONG = {"knn_compute_distances_one_loop", "knn_cross_validation"}
ONE_LOOP_MESSAGE = "KNearestNeighbor.compute_distances_one_loop is wrong"  # the check's words
ANSWERED_WRITTEN = {"reference": {"l1_preprocessing_answer", "bright_rows_answer"},
                    "blank": set(), "mistakes": {"l1_preprocessing_answer"}}
# What the instructor enters in the formgrader for the reference student.
MANUAL_ITEM, MANUAL_SCORE = "l1_preprocessing_answer", 1.5
MANUAL_COMMENT = "Right about 1-3; say why a per-pixel scale changes the L1 ranking."


def with_mistakes(fetched, source):
    nb = course.fill_in_answers(fetched, source, only=MISTAKES_FILLED)
    changed = [c for c in nb.cells if CORRECT_ONE_LOOP in c.source]
    assert len(changed) == 1, "the reference one-loop distance line moved: update the test"
    changed[0].source = changed[0].source.replace(CORRECT_ONE_LOOP, WRONG_ONE_LOOP)
    return nb


def expected_scores(source) -> tuple[dict, dict, set]:
    """``({student: {grade_id: auto_score}}, {grade_id: points}, written grade_ids)``."""
    items = course.graded_items(source)
    auto = {i["grade_id"]: i["points"] for i in items if i["kind"] == "auto"}
    written = {i["grade_id"] for i in items if i["kind"] == "manual"}
    assert MISTAKES_WRONG <= set(auto) and MANUAL_ITEM in written
    assert set().union(*ANSWERED_WRITTEN.values()) <= written
    expected = {"reference": dict(auto), "blank": dict.fromkeys(auto, 0.0),
                "mistakes": {g: 0.0 if g in MISTAKES_WRONG else p for g, p in auto.items()}}
    return expected, {i["grade_id"]: i["points"] for i in items}, written


def require_tools() -> None:
    if not instructor.NBGRADER.is_file():
        pytest.fail(f"{instructor.NBGRADER} not found: pip install -e '.[dev]' (make venv)",
                    pytrace=False)
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} not found: install Debian's Chromium (`apt-get install -y "
                    "chromium`; .ci/run does this). This test never skips.", pytrace=False)


def collect_class(course_dir: Course, source) -> tuple[dict, datetime]:
    """Step 1: release, three students fetch and submit (one late resubmission), collect.
    Returns the timestamps of the submissions collected and the due date."""
    course_dir.nbgrader("generate_assignment", NB_ID)
    course_dir.nbgrader("release_assignment", NB_ID)
    students = {sid: Student(course_dir, sid) for sid in ANSWERED_WRITTEN}
    fetched = {sid: s.fetch() for sid, s in students.items()}
    stamps = {
        "reference": students["reference"].submit(course.fill_in_answers(fetched["reference"],
                                                                         source)),
        "blank": students["blank"].submit(fetched["blank"]),
    }
    on_time = students["mistakes"].submit(fetched["mistakes"])  # the blank notebook, by mistake
    due = (on_time + timedelta(seconds=1)).replace(microsecond=0)
    course_dir.set_duedate(due)
    while instructor.utc_now() <= due + timedelta(milliseconds=200):
        time.sleep(0.1)
    stamps["mistakes"] = students["mistakes"].submit(with_mistakes(fetched["mistakes"], source))
    assert max(stamps["reference"], stamps["blank"]) < on_time < due < stamps["mistakes"]

    course_dir.nbgrader("collect", NB_ID, "--CollectApp.check_owner=False")
    for sid, stamp in stamps.items():
        folder = course_dir.submitted(sid)
        assert instructor.parse_timestamp((folder / "timestamp.txt").read_text()) == stamp, sid
        assert (folder / f"{NB_ID}.ipynb").is_file()
    return stamps, due


def check_gradebook(course_dir: Course, source, stamps: dict, due) -> None:
    """Step 2's promises, read back through nbgrader's own Gradebook."""
    expected, _, written = expected_scores(source)
    with course_dir.gradebook() as gb:
        assert {s.id for s in gb.students} == set(ANSWERED_WRITTEN)
        assignment = gb.find_assignment(NB_ID)
        assert assignment.duedate == due
        for sid, auto in expected.items():
            sub = gb.find_submission(NB_ID, sid)
            assert sub.timestamp == stamps[sid], f"{sid}: not the collected submission"
            assert (sub.total_seconds_late > 0) == (sid == "mistakes"), \
                f"{sid}: {sub.total_seconds_late} s late"
            nb = gb.find_submission_notebook(NB_ID, NB_ID, sid)
            grades = {g.name: g for g in nb.grades}
            assert set(grades) == set(auto) | written, f"{sid}: grade cells {sorted(grades)}"
            got = {gid: grades[gid].auto_score for gid in auto}
            assert got == auto, f"{sid}: auto scores {got}, expected {auto}"
            assert [g for g in auto if grades[g].needs_manual_grade] == [], sid
            needs = {g for g in written if grades[g].needs_manual_grade}
            assert needs == ANSWERED_WRITTEN[sid], f"{sid}: needs manual grade {needs}"
            for gid in written - ANSWERED_WRITTEN[sid]:  # a blank written answer
                assert grades[gid].auto_score == 0, f"{sid} {gid}: {grades[gid].auto_score}"
            for gid in ANSWERED_WRITTEN[sid]:
                assert grades[gid].auto_score is None and grades[gid].manual_score is None
            if sid == "mistakes":  # the failed check's own message
                comments = [c.auto_comment or "" for c in nb.comments]
                assert any(ONE_LOOP_MESSAGE in c for c in comments), \
                    f"no auto comment carries the failed check's message: {comments}"


def check_autograded_notebook(course_dir: Course, source) -> None:
    """The notebooks the formgrader renders: the students' answers, and under every check
    its item and outcome (the reference's all passed, the failed check's own message)."""
    for sid in ANSWERED_WRITTEN:
        nb = nbformat.read(str(course_dir.autograded(sid)), as_version=4)
        by_id = {course.grade_id(c): c for c in nb.cells if course.grade_id(c)}
        for cell in source.cells:
            gid = course.grade_id(cell)
            assert gid in by_id, f"{sid}: the autograded notebook lost cell {gid}"
            meta = course.nbgrader_meta(by_id[gid])
            for key in ("grade_id", "grade", "solution", "locked", "points"):
                assert meta.get(key) == course.nbgrader_meta(cell).get(key), f"{gid}: {key}"
            if course.is_autograded_test(cell) and sid == "reference":
                assert shows_passed(output_text(by_id[gid]), gid), \
                    f"{gid} shows {output_text(by_id[gid])!r}"
        if sid == "reference":
            assert CORRECT_ONE_LOOP in by_id["knn_class_solution"].source
        if sid == "mistakes":
            assert WRONG_ONE_LOOP in by_id["knn_class_solution"].source
            shown = output_text(by_id["knn_compute_distances_one_loop"])
            assert ONE_LOOP_MESSAGE in shown, shown
        stamp = course_dir.autograded(sid).parent / "timestamp.txt"  # nbgrader's layout
        assert stamp.read_text() == (course_dir.submitted(sid) / "timestamp.txt").read_text()


def shows_passed(text: str, gid: str) -> bool:
    """Some line names the item and says it passed."""
    return any(gid in line and "passed" in line for line in text.splitlines())


def output_text(cell) -> str:
    return "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "")
                   for o in cell.get("outputs", []))


def formgrader_session(course_dir: Course, artifacts: Path, log: Path) -> dict:
    """Step 3: Manual Grading -> 01_knn -> 01_knn -> the reference student; one score and one
    comment on a written answer. Returns what the page showed."""
    from playwright.sync_api import sync_playwright

    shots = {}
    server = Formgrader(course_dir, log)
    pw = browser = None
    try:
        pw = sync_playwright().start()
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
        page.route(MATHJAX_URL, lambda route: route.fulfill(
            content_type="application/javascript", body=MATHJAX_STUB))
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        start = time.perf_counter()
        page.goto(server.url("/formgrader"))  # redirects to Manage Assignments
        page.wait_for_selector(f"#main-table a:text-is('{NB_ID}'), "
                               f".panel a:text-is('{NB_ID}')", timeout=60_000)
        page.screenshot(path=str(artifacts / "1-manage-assignments.png"))

        page.click("a:text-is('Manual Grading')")
        page.click(f"#main-table a:text-is('{NB_ID}')")  # the assignment
        page.click(f"#main-table a:text-is('{NB_ID}')")  # its notebook
        page.wait_for_selector("#main-table a.name-hidden", timeout=30_000)
        page.click("#toggle_names")
        shots["submissions"] = dict(page.eval_on_selector_all(
            "#main-table tr", """rows => rows.map(r => [r.querySelector('a.name-shown').textContent,
                                                 r.querySelector('.score').textContent])"""))
        page.screenshot(path=str(artifacts / "2-notebook-submissions.png"), full_page=True)
        page.click("#main-table a.name-shown:text-is('reference')")

        page.wait_for_function(FORM_LOADED, timeout=60_000)
        shots["grade inputs"] = page.eval_on_selector_all(
            "input.score", "es => es.map(e => [e.id, e.placeholder])")
        shots["comment boxes"] = page.eval_on_selector_all(
            "textarea.comment", "es => es.map(e => [e.id, e.placeholder])")
        shots["text"] = page.inner_text("#notebook-container")
        shots["heading"] = page.inner_text(".panel-heading .panel-title")
        page.screenshot(path=str(artifacts / "3-reference-submission.png"), full_page=True)

        score = page.locator(f"input.score#{MANUAL_ITEM}")
        score.scroll_into_view_if_needed()
        score.fill(f"{MANUAL_SCORE:g}")
        score.press("Escape")  # the formgrader's "defocus and save"
        comment = page.locator(f"textarea#{MANUAL_ITEM}-comment")
        comment.fill(MANUAL_COMMENT)
        comment.press("Escape")
        shots["saved"] = wait_saved(course_dir)
        page.locator(f"input.score#{MANUAL_ITEM}").locator(
            "xpath=ancestor::div[contains(@class, 'nbgrader_cell')]").screenshot(
            path=str(artifacts / "4-written-answer-graded.png"))

        page.reload()  # what the next visit shows
        page.wait_for_function(FORM_LOADED, timeout=60_000)
        shots["after reload"] = (page.input_value(f"input.score#{MANUAL_ITEM}"),
                                 page.input_value(f"textarea#{MANUAL_ITEM}-comment"))
        # Back to the list, then the student with mistakes: why they lost points.
        page.click(f".breadcrumb a:text-is('{NB_ID}') >> nth=-1")
        page.wait_for_selector("#main-table a.name-hidden", timeout=30_000)
        page.click("#toggle_names")
        page.click("#main-table a.name-shown:text-is('mistakes')")
        page.wait_for_function(FORM_LOADED, timeout=60_000)
        shots["mistakes text"] = page.inner_text("#notebook-container")
        shots["mistakes comment boxes"] = page.eval_on_selector_all(
            "textarea.comment", "es => es.map(e => [e.id, e.placeholder])")
        page.screenshot(path=str(artifacts / "5-mistakes-submission.png"), full_page=True)
        shots["page errors"] = errors
        instructor.TIMINGS.append(("formgrader session in Chromium", time.perf_counter() - start))
        page.close()
    finally:
        if browser is not None:
            browser.close()
        if pw is not None:
            pw.stop()
        server.stop()
    return shots


def wait_saved(course_dir: Course, timeout: float = 30) -> tuple:
    deadline = time.monotonic() + timeout
    while True:
        with course_dir.gradebook() as gb:
            grade = gb.find_grade(MANUAL_ITEM, NB_ID, NB_ID, "reference")
            comment = gb.find_comment(MANUAL_ITEM, NB_ID, NB_ID, "reference")
            saved = (grade.manual_score, grade.needs_manual_grade, comment.manual_comment)
        if saved == (MANUAL_SCORE, False, MANUAL_COMMENT) or time.monotonic() > deadline:
            return saved
        time.sleep(0.3)


def test_instructor_collects_grades_and_finishes_in_the_formgrader(tmp_path):
    require_tools()
    instructor.TIMINGS.clear()
    artifacts = ARTIFACTS
    artifacts.mkdir(parents=True, exist_ok=True)
    for old in artifacts.glob("*.png"):
        old.unlink()
    course_dir = Course(tmp_path, NB_ID)
    source = course.read(course_dir.root / "source" / NB_ID / f"{NB_ID}.ipynb")
    expected, points, written = expected_scores(source)
    try:
        # 1. Release, submit (one late resubmission), collect.
        stamps, due = collect_class(course_dir, source)

        # 2. Grade into nbgrader's gradebook and autograded/.
        course_dir.course_grade("autograde", NB_ID, timeout=180)
        check_gradebook(course_dir, source, stamps, due)
        check_autograded_notebook(course_dir, source)

        # 3. The formgrader: the reference student's work, one score and one comment.
        shown = formgrader_session(course_dir, artifacts, tmp_path / "jupyterlab.log")
        assert "Submission" in shown["heading"] and NB_ID in shown["heading"]
        max_total = sum(points.values())
        assert shown["submissions"] == {  # the list's overall scores, before manual grading
            sid: f"{sum(auto.values()):g} / {max_total:g}" for sid, auto in expected.items()}
        assert shown["saved"] == (MANUAL_SCORE, False, MANUAL_COMMENT), \
            f"the formgrader did not save the grade and comment: {shown['saved']}"
        assert shown["after reload"] == (f"{MANUAL_SCORE:g}", MANUAL_COMMENT)
        assert shown["page errors"] == [], shown["page errors"]
        inputs = dict(shown["grade inputs"])
        assert set(inputs) == set(points), f"score boxes on the page: {sorted(inputs)}"
        for gid in expected["reference"]:  # the auto score shown in each check's box
            assert float(inputs[gid]) == points[gid], (gid, inputs[gid])
        text = shown["text"]
        assert "np.sqrt(np.maximum(squared, 0))" in text  # the student's own code
        for gid in expected["reference"]:
            assert shows_passed(text, gid), f"the page shows no passed line for {gid}"
        assert ONE_LOOP_MESSAGE in shown["mistakes text"]
        boxes = dict(shown["mistakes comment boxes"])  # auto comments show as placeholders
        assert ONE_LOOP_MESSAGE in boxes["knn_class_solution-comment"], boxes

        # 4. nbgrader's default CSV export: totals are the expected items summed.
        course_dir.nbgrader("export")
        with open(course_dir.root / "grades.csv", newline="") as f:
            rows = {r["student_id"]: r for r in csv.DictReader(f)}
        assert set(rows) == set(ANSWERED_WRITTEN)
        manual = {"reference": MANUAL_SCORE}
        for sid, row in rows.items():
            total = sum(expected[sid].values()) + manual.get(sid, 0.0)
            assert row["assignment"] == NB_ID
            assert math.isclose(float(row["raw_score"]), total), (sid, row)
            assert math.isclose(float(row["score"]), total), (sid, row)  # no late penalty set
            assert math.isclose(float(row["max_score"]), max_total), row
            assert row["timestamp"].startswith(stamps[sid].strftime("%Y-%m-%d %H:%M:%S"))
    finally:
        print(f"\nscreenshots in {artifacts}")
        for label, seconds in instructor.TIMINGS:
            print(f"  {seconds:6.1f} s  {label}")
