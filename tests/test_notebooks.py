"""Every course notebook, held to the same contract:

* its instructor source is a well-formed nbgrader notebook whose test cells hold only check
  calls to registered checks, with a check after every exercise;
* ``notebooks/`` holds exactly what ``course-grade release`` generates from it;
* the instructor version runs top to bottom with every check passing;
* the student version, run top to bottom, fails only with readable "not implemented yet"
  messages;
* graded through the channel as the autograder does, the reference answers earn every
  point (hidden cases included) and the blank version earns none.
"""

import re

import pytest

from autograder import config, course, release
from autograder.channel import Client, Loopback, ObjectServer
from autograder.checking import grade_item
from course_lib.checks import CHECKS
from tests import nbtools

IDS = course.notebook_ids()


@pytest.fixture(scope="module")
def stale_files():
    return release.release(check=True) if IDS else []


@pytest.mark.parametrize("nb_id", IDS)
def test_source_is_well_formed(nb_id):
    nb = course.read(course.source_path(nb_id))
    ids = [cell.get("id") for cell in nb.cells]
    assert all(ids) and len(set(ids)) == len(ids), "cell ids must be present and unique"
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "outputs left in"
    assert nb.cells[0].source.startswith("# ") and "Open In Colab" in nb.cells[0].source
    assert nb.cells[1].get("id") == course.COLAB_CELL_ID
    assert any("setup_notebook()" in c.source for c in nb.cells[:5] if c.cell_type == "code")
    grade_ids = [course.grade_id(c) for c in nb.cells if course.nbgrader_meta(c)]
    assert len(set(grade_ids)) == len(grade_ids), "duplicate grade_id"
    items = course.graded_items(nb)  # raises if a test cell holds anything but check calls
    assert any(i["kind"] == "auto" for i in items)
    for item in items:
        assert item["points"] > 0, f"{item['grade_id']} has no points"
        for call in item["calls"]:
            assert call.item in CHECKS, f"{item['grade_id']} calls unregistered {call.item!r}"
        if item["kind"] == "auto":
            assert any(c.hidden for c in item["calls"]), f"{item['grade_id']} has no hidden run"
    pending = None  # each code exercise must be followed by its check before the next one
    for cell in nb.cells:
        if course.is_solution(cell) and cell.cell_type == "code":
            assert "### BEGIN SOLUTION" in cell.source, f"{cell.get('id')} has no solution block"
            assert pending is None, f"exercise {pending} has no check before the next exercise"
            pending = cell.get("id")
        elif course.is_autograded_test(cell):
            pending = None
    assert pending is None, f"exercise {pending} has no check after it"


@pytest.mark.parametrize("nb_id", IDS)
def test_student_version_is_in_sync_with_the_source(nb_id, stale_files):
    mine = [f for f in stale_files if nb_id in f]
    assert not mine, f"out of date, run `make release`: {mine}"


@pytest.mark.slow
@pytest.mark.parametrize("nb_id", IDS)
def test_instructor_version_runs_top_to_bottom(nb_id):
    nb = nbtools.execute(course.read(course.source_path(nb_id)), course.source_path(nb_id).parent)
    assert nbtools.errors(nb) == []
    for cell in nb.cells:
        if course.is_autograded_test(cell):
            calls = course.parse_check_cell(cell.source)
            shown = nbtools.cell_text(cell)
            assert shown.count(": passed") == len(calls), f"{cell.get('id')} showed:\n{shown}"


@pytest.mark.slow
@pytest.mark.parametrize("nb_id", IDS)
def test_student_version_fails_only_with_not_implemented_messages(nb_id):
    nb = nbtools.execute(course.read(course.student_path(nb_id)), config.NOTEBOOKS_DIR,
                         allow_errors=True)
    errors = nbtools.errors(nb)
    assert errors, "a blank student notebook should stop at its first exercise"
    for cell_id, ename, text in errors:  # messages are wrapped at word boundaries
        assert "not implemented yet" in " ".join(text.split()), f"{cell_id}: {ename}:\n{text}"
        assert "Traceback" not in text and "course_lib/" not in text, f"{cell_id}:\n{text}"
    for cell in nb.cells:
        if course.is_autograded_test(cell):
            shown = " ".join(nbtools.cell_text(cell).split())
            assert "not implemented yet" in shown, cell.get("id")


@pytest.mark.slow
@pytest.mark.parametrize("nb_id", IDS)
def test_graded_through_the_channel_reference_earns_all_and_blank_earns_nothing(nb_id):
    source = course.read(course.source_path(nb_id))
    student = course.read(course.student_path(nb_id))
    items = [i for i in course.graded_items(source) if i["kind"] == "auto"]
    try:
        reference = nbtools.run_in_process(course.fill_in_answers(student, source),
                                           config.NOTEBOOKS_DIR)
        client = Client(Loopback(ObjectServer(reference)))
        for item in items:
            result = grade_item(client, item)
            assert result.status == "passed", f"{item['grade_id']}: {result.message}"
    finally:
        nbtools.clear_shell()
    blank_ns = {}
    try:
        blank_ns = _run_blank(student)
        client = Client(Loopback(ObjectServer(blank_ns)))
        for item in items:
            result = grade_item(client, item)
            assert result.points == 0 and result.status != "passed", item["grade_id"]
            assert re.search("not implemented|not defined", result.message), result.message
    finally:
        nbtools.clear_shell()


def _run_blank(student):
    """The blank version's namespace: every cell run, errors and all (like Run All with
    errors allowed), so that the student's unfinished functions exist."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    import os

    old = os.getcwd()
    os.chdir(config.NOTEBOOKS_DIR)
    try:
        for cell in student.cells:
            if cell.cell_type == "code" and not course.is_autograded_test(cell) \
                    and not course.is_skipped(cell):
                shell.run_cell(cell.source, store_history=False, silent=True)
    finally:
        os.chdir(old)
    return shell.user_ns


def test_readme_lists_every_notebook_with_its_colab_badge(stale_files):
    """The README's table is rendered by release: a badge for every student notebook."""
    assert "README.md" not in stale_files, "README.md is out of date, run `make release`"
    readme = (config.ROOT / "README.md").read_text()
    for nb_id in IDS:
        assert config.colab_badge(nb_id) in readme, f"no Colab badge for {nb_id}"
        assert f"(notebooks/{nb_id}.ipynb)" in readme, f"no link to notebooks/{nb_id}.ipynb"
