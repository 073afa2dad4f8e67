"""The self-learner's scorecard: what each graded item shows, that it never raises, that its
manifest is in sync with the instructor sources, and that it scores real notebooks right.

Reference answers scoring every point and the blank notebook scoring zero are asserted on
the scorecard cell of every notebook in the Colab-like kernel (tests/test_colab.py) and in
the browser (tests/test_browser.py), which run those versions anyway; here: a partly done
notebook, the course-wide view, and the details.
"""

import json
import subprocess
import sys
import threading

import nbformat
import pytest

from autograder import config, course, release
from course_lib import course_scorecard as cs
from course_lib import scorecard as sc
from course_lib.checks import CHECKS, as_float, call, expect_close, register
from course_lib.course_scorecard import course_scorecard, score_saved_notebook
from tests import nbtools

IDS = course.notebook_ids()


@pytest.fixture(scope="module", autouse=True)
def checks():
    if "_sc.double" not in CHECKS:
        @register("_sc.double", "double(x) = 2x")
        def _(ctx, double):
            x = float(ctx.rng.integers(1, 10**6))
            expect_close(as_float(call(double, x), "double(x)"), 2 * x, "double(x)")

        @register("_sc.pair", "takes a dict and a tuple")
        def _(ctx, parts, shape):
            assert isinstance(shape, tuple), "the manifest must give literals back as written"
            expect_close(as_float(call(parts["f"], shape[0]), "f"), parts["y"], "f(shape[0])")

        @register("_sc.buggy_check", "a check with a bug of its own")
        def _(ctx, obj):
            raise RuntimeError("the check itself broke\nsecond line")


def _auto(gid, *calls, points=2.0):
    return {"grade_id": gid, "points": points, "kind": "auto",
            "calls": [{"check": c, "args": [["name", a]], "hidden": h, "seed": None}
                      for c, a, h in calls]}


DOUBLE = _auto("double", ("_sc.double", "double", False), ("_sc.double", "double", True))


def test_each_status_with_its_one_line_reason(capsys):
    def double(x):
        return 2 * x

    def off_by_one(x):
        return x + 1

    def unfinished(x):
        raise NotImplementedError()

    def crashes(x):
        print("debug output the scorecard should not show")
        return 1 / 0

    def score(fn):
        return sc.score_item(DOUBLE, {"double": fn})

    right = score(double)
    assert (right.status, right.earned, right.reason) == (sc.PASSED, 2.0, "")
    assert right.description == "double(x) = 2x"
    wrong = score(off_by_one)
    assert wrong.status == sc.FAILED and wrong.earned == 0
    assert wrong.reason.startswith("double(x) is wrong: got ") and "\n" not in wrong.reason
    todo = score(unfinished)
    assert todo.status == sc.NOT_ATTEMPTED and "still raises NotImplementedError" in todo.reason
    missing = sc.score_item(DOUBLE, {})
    assert missing.status == sc.NOT_ATTEMPTED
    assert missing.reason == "double is not defined yet: run (or write) its cell above"
    broken = score(crashes)
    assert broken.status == sc.FAILED
    assert broken.reason.endswith("crashes raised ZeroDivisionError: division by zero")
    assert capsys.readouterr().out == ""  # the student's prints stay out of the card

    quits = sc.score_item(DOUBLE, {"double": lambda x: exit()})  # SystemExit, not Exception
    assert quits.status == sc.FAILED and quits.reason.startswith("the check could not run")
    buggy = sc.score_item(_auto("x", ("_sc.buggy_check", "double", False)), {"double": double})
    assert buggy.status == sc.FAILED
    assert buggy.reason == "the check could not run: RuntimeError: the check itself broke"
    unknown = sc.score_item(_auto("x", ("_sc.no_such_check", "double", False)), {"double": 1})
    assert unknown.status == sc.FAILED and "update it" in unknown.reason
    manual = sc.score_item({"grade_id": "why", "points": 3, "kind": "manual", "calls": []}, {})
    assert (manual.status, manual.earned, manual.points) == (sc.MANUAL, 0.0, 3.0)


def test_grading_cases_run_with_fresh_seeds_after_the_public_case():
    """A function that only knows the public case's answer passes the check students see,
    and fails the scorecard, which runs the grading cases too."""
    seen = []

    def recorder(x):
        seen.append(x)
        return 2 * x

    CHECKS["_sc.double"](recorder)
    public_x = seen[0]

    def memorised(x):
        return 2 * public_x if x == public_x else 0.0

    CHECKS["_sc.double"](memorised)  # the public check is fooled ...
    card = sc.score_item(DOUBLE, {"double": memorised})
    assert card.status == sc.FAILED and "double(x) is wrong" in card.reason  # ... not this


def test_manifest_arguments_round_trip_literals_and_dicts():
    calls = course.parse_check_cell('CHECKS["_sc.pair"]({"f": f, "y": 6.0}, (3, 4))\n'
                                    'CHECKS["_sc.pair"]({"f": f, "y": 6.0}, (3, 4), hidden=True)')
    encoded = json.loads(json.dumps(
        [{"check": c.item, "args": [release._encode_arg(a) for a in c.args], "hidden": c.hidden,
          "seed": None} for c in calls]))
    item = {"grade_id": "pair", "points": 1, "kind": "auto", "calls": encoded}
    assert sc.score_item(item, {"f": lambda x: 2 * x}).status == sc.PASSED
    assert sc.score_item(item, {"f": lambda x: x}).status == sc.FAILED
    assert sc.score_item(item, {}).reason.startswith("f is not defined yet")


def test_the_card_says_what_it_is_and_adds_up():
    card = sc.Scorecard("01_x", "Example <notebook>", [
        sc.ItemScore("a", "", 2, sc.PASSED),
        sc.ItemScore("b", "", 3, sc.FAILED, "b(x) is wrong: got <1>, expected 2."),
        sc.ItemScore("c", "", 4, sc.NOT_ATTEMPTED, "c is not defined yet"),
        sc.ItemScore("why", "", 1, sc.MANUAL, "written answer: a person grades it")])
    assert (card.earned, card.possible, card.manual_points) == (2, 9, 1)
    text = repr(card)
    assert ("Self-assessed: 2 / 9 points from checks (1 of 3 items passed, 1 failed, "
            "1 not attempted); written answers (another 1 point) are graded by a person"
            ) in text
    assert "not an official grade" in text and "course_scorecard()" in text
    assert "make scorecard" in text
    assert "✘ failed" in text and "b(x) is wrong: got <1>, expected 2." in text
    html = card._repr_html_()
    assert "Example &lt;notebook&gt;" in html and "got &lt;1&gt;" in html
    assert "not an official grade" in html
    data, meta = card._repr_mimebundle_()
    assert data["text/plain"] == text
    assert sc.Scorecard.from_dict(meta[sc.METADATA_KEY]) == card


def test_an_unknown_notebook_or_a_broken_install_shows_a_card_not_an_error(tmp_path,
                                                                           monkeypatch):
    card = sc.scorecard("99_nope", {})
    assert card.problem.startswith("this version of the course kit does not know") \
        and "99_nope" in repr(card)
    monkeypatch.setenv(sc.MANIFEST_ENV, str(tmp_path / "missing.json"))
    assert "manifest is unreadable" in sc.scorecard("01_knn", {}).problem


def test_the_shipped_manifest_is_in_sync_with_the_instructor_sources():
    sources = {i: course.read(course.source_path(i)) for i in IDS}
    shipped = (config.ROOT / release.MANIFEST).read_text()
    assert shipped == release.manifest_text(sources), "out of date: run `course-grade release`"
    assert list(json.loads(shipped)["notebooks"]) == IDS
    assert sc.MANIFEST == config.ROOT / release.MANIFEST  # where course_lib reads it


@pytest.mark.parametrize("nb_id", IDS)
def test_every_student_notebook_ends_with_its_scorecard(nb_id):
    for nb in (course.read(course.source_path(nb_id)), course.read(course.student_path(nb_id))):
        last = nb.cells[-1]
        assert last.id == release.SCORECARD_CELL_ID
        assert last.source == release.scorecard_source(nb_id)
        assert course.nbgrader_meta(last)["locked"] and course.is_skipped(last)


def test_release_puts_the_scorecard_last_and_writes_the_manifest(mini_kit):
    root, notebooks = mini_kit
    for nb_id, (_source, student) in notebooks.items():
        assert [c.id for c in student.cells][-2:] == ["why-answer", "scorecard"]
        assert student.cells[-1].source == release.scorecard_source(nb_id)
        assert student.cells[-1].metadata["editable"] is False  # nbgrader locked it
    manifest = json.loads((root / release.MANIFEST).read_text())["notebooks"]
    assert manifest["mini_a"]["title"] == "Mini course A"
    assert [(i["grade_id"], i["points"], i["kind"], [(c["check"], c["hidden"])
             for c in i["calls"]]) for i in manifest["mini_a"]["items"]] == [
        ("double", 2.0, "auto", [("_mini.double", False), ("_mini.double", True)]),
        ("square", 3.0, "auto", [("_mini.square", False), ("_mini.square", True)]),
        ("why", 1.0, "manual", [])]


def _card(nb) -> sc.Scorecard:
    """The scorecard the last cell of an executed notebook displayed."""
    [out] = [o for o in nb.cells[-1].outputs if o.output_type == "execute_result"]
    assert "not an official grade" in out.data["text/plain"]
    assert "<table>" in out.data["text/html"]
    return sc.Scorecard.from_dict(out.metadata[sc.METADATA_KEY])


def _statuses(card):
    return [(i.grade_id, i.status) for i in card.items]


def _set(nb, cell_id, text):
    nb = nbformat.from_dict(nb)
    next(c for c in nb.cells if c.id == cell_id).source = text
    return nb


@pytest.mark.slow
def test_mini_notebook_partly_done_and_wrong_in_a_real_kernel(mini_kit, tmp_path):
    root, notebooks = mini_kit
    source, student = notebooks["mini_a"]
    env = {sc.MANIFEST_ENV: str(root / release.MANIFEST)}
    partly = course.fill_in_answers(student, source, only={"double_solution"})
    card = _card(nbtools.execute(partly, tmp_path, allow_errors=True, env=env))
    assert _statuses(card) == [("double", sc.PASSED), ("square", sc.NOT_ATTEMPTED),
                               ("why", sc.MANUAL)]
    assert (card.earned, card.possible, card.manual_points) == (2, 5, 1)
    reason = card.items[1].reason  # the lesson's first sentence only
    assert reason.startswith("square still raises NotImplementedError") and "Replace" not in reason

    wrong = _set(_set(student, "double-solution", "def double(x):\n    return 3 * x"),
                 "square-solution", "")
    card = _card(nbtools.execute(wrong, tmp_path, allow_errors=True, env=env))
    assert _statuses(card) == [("double", sc.FAILED), ("square", sc.NOT_ATTEMPTED),
                               ("why", sc.MANUAL)]
    assert card.items[0].reason.startswith("double(x) is wrong: got ")
    assert card.items[1].reason == "square is not defined yet: run (or write) its cell above"
    assert card.earned == 0


@pytest.mark.slow
def test_course_wide_view_runs_each_saved_notebook_in_its_own_process(mini_kit, tmp_path,
                                                                      monkeypatch):
    root, notebooks = mini_kit
    monkeypatch.setenv(sc.MANIFEST_ENV, str(root / release.MANIFEST))
    source, student = notebooks["mini_a"]
    nbformat.write(course.fill_in_answers(student, source), str(tmp_path / "mini_a.ipynb"))
    view = course_scorecard(tmp_path, progress=False)
    assert [c.notebook for c in view.cards] == ["mini_a"] and view.missing == ["mini_b"]
    assert _statuses(view.cards[0]) == [("double", sc.PASSED), ("square", sc.PASSED),
                                        ("why", sc.MANUAL)]
    assert (view.earned, view.possible, view.manual_points) == (5, 5, 1)
    text = repr(view)
    assert "Self-assessed: 5 / 5 points from checks in 1 notebook" in text
    assert "no mini_b.ipynb in" in text and "not an official grade" in text

    out = subprocess.run([sys.executable, "-m", "course_lib.course_scorecard", str(tmp_path)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "Self-assessed: 5 / 5 points from checks in 1 notebook" in out.stdout

    crash = _set(student, "square-solution", "import os\nos._exit(3)")
    nbformat.write(crash, str(tmp_path / "mini_b.ipynb"))
    card = score_saved_notebook(tmp_path / "mini_b.ipynb")
    assert card.problem.startswith("mini_b.ipynb could not be run (exit code 3)")
    assert "not scored" in repr(course_scorecard(tmp_path, progress=False))


def _partly_done(source, student):
    """The first half of the code exercises answered, the next one broken (raises
    ValueError), the rest blank. Returns the notebook and, per autograded item, what its
    scorecard row must say: "passed", "broken" (the broken exercise's own check) or "zero"."""
    exercises = [c for c in source.cells if course.is_solution(c) and c.cell_type == "code"]
    k = max(1, len(exercises) // 2)
    nb = course.fill_in_answers(student, source, only={course.grade_id(c) for c in exercises[:k]})
    broken = exercises[k] if k < len(exercises) else None
    if broken is not None:
        cell = next(c for c in nb.cells if c.id == broken.id)
        cell.source = cell.source.replace("raise NotImplementedError()",
                                          'raise ValueError("deliberately broken")')
    expect, seen = {}, 0
    for cell in source.cells:
        if course.is_solution(cell) and cell.cell_type == "code":
            seen += 1
        elif course.is_autograded_test(cell):
            expect[course.grade_id(cell)] = ("passed" if seen <= k else
                                             "broken" if seen == k + 1 else "zero")
    in_function = broken is not None and any(
        line.startswith((" ", "\t")) and "raise NotImplementedError()" in line
        for line in next(c for c in student.cells if c.id == broken.id).source.splitlines())
    return nb, expect, in_function


@pytest.mark.slow
@pytest.mark.parametrize("nb_id", IDS)
def test_a_partly_done_notebook_scores_exactly_its_finished_items(nb_id, tmp_path):
    source = course.read(course.source_path(nb_id))
    student = course.read(course.student_path(nb_id))
    nb, expect, in_function = _partly_done(source, student)
    card = _card(nbtools.execute(nb, config.NOTEBOOKS_DIR, allow_errors=True))
    items = {i.grade_id: i for i in card.items}
    assert list(items) == [i["grade_id"] for i in course.graded_items(source)]
    for gid, want in expect.items():
        row = items[gid]
        if want == "passed":
            assert row.status == sc.PASSED, f"{gid}: {row.reason}"
        elif want == "broken" and in_function:
            assert row.status == sc.FAILED and "ValueError: deliberately broken" in row.reason, \
                f"{gid}: {row.status}: {row.reason}"
        else:
            assert row.status in (sc.FAILED, sc.NOT_ATTEMPTED) and row.reason, gid
    manual = [i for i in course.graded_items(source) if i["kind"] == "manual"]
    assert all(items[i["grade_id"]].status == sc.MANUAL for i in manual)
    assert card.earned == sum(items[g].points for g, w in expect.items() if w == "passed")
    assert 0 < card.earned < card.possible


@pytest.mark.slow
@pytest.mark.skipif(not IDS, reason="no course notebook has landed yet")
def test_course_wide_view_of_a_real_notebook(tmp_path):
    """The first notebook, finished and saved beside nothing else: full marks for it, the
    others listed as not found."""
    nb_id = IDS[0]
    source = course.read(course.source_path(nb_id))
    done = course.fill_in_answers(course.read(course.student_path(nb_id)), source)
    nbformat.write(done, str(tmp_path / f"{nb_id}.ipynb"))
    view = course_scorecard(tmp_path, progress=False)
    [card] = view.cards
    assert card.problem == "" and card.earned == card.possible > 0, repr(card)
    assert view.missing == IDS[1:]


def test_items_carry_their_check_names_and_written_answers_say_if_answered(tmp_path):
    """The scorecard names an item as its check cell prints it (``AddGate``, not
    ``add_gate``), and a written answer still holding its placeholder is "not answered"."""
    manifest = sc.load_manifest()["notebooks"]
    [add] = [i for i in manifest["03_backprop"]["items"] if i["grade_id"] == "add_gate"]
    row = sc.score_item(add, {})
    assert row.label == "AddGate" and sc.Scorecard("03", "", [row]).rows()[0][0] == "AddGate"
    student = course.read(course.student_path("01_knn"))
    answers = sc.written_answers(course.student_path("01_knn"))
    assert answers == {"l1_preprocessing_answer": False, "bright_rows_answer": False}
    card = sc.score_notebook("01_knn", {}, answers)
    written = [r for r in card.rows() if r[0] == "l1_preprocessing_answer"]
    assert written[0][2] == "✎ not answered" and "YOUR ANSWER HERE" in written[0][3]
    assert "2 not answered yet" in card.headline()
    next(c for c in student.cells if c.id == "l1-preprocessing-answer").source = "Because..."
    nbformat.write(student, str(tmp_path / "01_knn.ipynb"))
    card = sc.scorecard("01_knn", {"__session__": str(tmp_path / "01_knn.ipynb")})
    assert [r[2] for r in card.rows() if r[0].endswith("_answer")] == [
        "✎ answered", "✎ not answered"]
    # Colab (no notebook file at hand): neither claim is made.
    assert {r[2] for r in sc.scorecard("01_knn", {}).rows() if r[0].endswith("_answer")} == {
        "✎ graded by a person"}


@pytest.mark.slow
def test_course_scorecard_saved_in_notebook_01_refuses_to_nest(tmp_path, monkeypatch):
    """What a student did: the scorecard's own advice, ``course_scorecard()``, pasted into a
    cell of 01 and saved; then the course scored. Scoring 01 meets that call: it refuses in
    one line (noted on the card), one scoring process runs, and memory stays flat."""
    import os

    student = course.read(course.student_path("01_knn"))
    at = [c.id for c in student.cells].index("load-data") + 1
    student.cells.insert(at, nbformat.v4.new_code_cell(
        "from course_lib.course_scorecard import course_scorecard\ncourse_scorecard()"))
    nbformat.write(student, str(tmp_path / "01_knn.ipynb"))

    seen, done = [], threading.Event()

    def watch():
        while not done.is_set():
            seen.append(nbtools.scorecard_processes(os.getpid()))
            done.wait(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        view = course_scorecard(tmp_path, progress=False)
    finally:
        done.set()
        watcher.join()
    [card] = view.cards
    assert card.problem == "" and len(card.items) == 9, repr(view)
    [note] = card.notes
    assert note == ("course_scorecard() refused: 01_knn.ipynb is itself being scored by the "
                    "course scorecard, and scoring never nests")
    assert note in repr(view)
    most = max(n for n, _ in seen)
    peak = max(r for _, r in seen)
    print(f"scoring processes at once: {most}; peak memory of them all: {peak / 2**20:.0f} MB "
          f"({len(seen)} samples)")
    assert most == 1, f"{most} scoring processes at once"
    assert peak < 1.5 * 2**30, f"the scoring processes held {peak / 2**20:.0f} MB"

    # Inside a scoring process both entry points refuse, even with the variable removed.
    monkeypatch.setenv(sc.SCORING_ENV, "01_knn.ipynb")
    for refused in (course_scorecard(tmp_path), sc.scorecard("01_knn", {})):
        assert isinstance(refused, sc.Refused) and "\n" not in repr(refused)
        assert "refused: 01_knn.ipynb is itself being scored" in repr(refused)
    assert score_saved_notebook(tmp_path / "01_knn.ipynb").problem.startswith(
        "score_saved_notebook() refused")
    monkeypatch.delenv(sc.SCORING_ENV)
    monkeypatch.setattr(sc, "_in_scoring_run", True)
    assert isinstance(course_scorecard(tmp_path), sc.Refused)


@pytest.mark.slow
def test_a_notebook_that_needs_too_much_memory_is_stopped_and_said_so(mini_kit, tmp_path,
                                                                       monkeypatch):
    root, notebooks = mini_kit
    monkeypatch.setenv(sc.MANIFEST_ENV, str(root / release.MANIFEST))
    source, student = notebooks["mini_a"]
    done = course.fill_in_answers(student, source)
    done.cells.insert(2, nbformat.v4.new_code_cell("hog = bytearray(3 * 2**30)"))
    nbformat.write(done, str(tmp_path / "mini_a.ipynb"))
    card = score_saved_notebook(tmp_path / "mini_a.ipynb", memory_mb=1024)
    assert card.notes == ["a cell ran out of the scorer's memory limit (1,024 MB) and "
                          "stopped; the checks ran on what the other cells made"], repr(card)
    assert card.earned == card.possible == 5  # the other cells ran

    monkeypatch.setenv(cs.PROCESSES_ENV, "1")
    monkeypatch.setenv(cs.MEMORY_ENV, "700")
    assert (cs.max_processes(), cs.memory_limit_mb()) == (1, 700)


def test_a_python_without_the_kits_packages_says_so_in_one_line():
    """``python -m course_lib.course_scorecard`` from a checkout with a Python that lacks
    numpy (here: the venv's own with its site-packages off): one line, not a traceback."""
    out = subprocess.run([sys.executable, "-S", "-m", "course_lib.course_scorecard",
                          "notebooks"], capture_output=True, text=True, timeout=120,
                         cwd=config.ROOT)
    assert out.returncode != 0 and out.stdout == ""
    [line] = out.stderr.strip().splitlines()
    assert "has no module 'numpy'" in line and "make scorecard" in line
