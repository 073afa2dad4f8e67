"""``course-grade release`` on a miniature course: nbgrader's generate step, the Colab cell
and badge, sync detection, and what the generated student notebook does in a real kernel."""

import nbformat
import pytest

from autograder import config, course, release
from autograder.cli import main as cli_main
from tests import nbtools


def _meta(**kw):
    meta = {"grade": False, "solution": False, "locked": False, "schema_version": 3,
            "task": False}
    meta.update(kw)
    return {"nbgrader": meta}


def mini_source():
    nb = nbformat.v4.new_notebook()
    cells = [
        nbformat.v4.new_markdown_cell("# Mini course\n\nOne exercise.", id="title"),
        nbformat.v4.new_code_cell(
            "import numpy as np\n"
            "from course_lib.checks import CHECKS, register, call, as_float, expect_close\n"
            "from course_lib.notebook import setup_notebook\n"
            "setup_notebook()\n"
            "@register('_mini.double')\n"
            "def _(ctx, double):\n"
            "    x = float(ctx.rng.integers(1, 100))\n"
            "    expect_close(as_float(call(double, x), 'double(x)'), 2 * x, 'double(x)')",
            id="imports"),
        nbformat.v4.new_code_cell(
            "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
            id="double-solution"),
        nbformat.v4.new_code_cell(
            'CHECKS["_mini.double"](double)\n### BEGIN HIDDEN TESTS\n'
            'CHECKS["_mini.double"](double, hidden=True)\n### END HIDDEN TESTS',
            id="double-check"),
        nbformat.v4.new_markdown_cell(
            "Why does doubling commute with addition?", id="why-question"),
        nbformat.v4.new_markdown_cell(
            "=== BEGIN MARK SCHEME ===\nLinearity.\n=== END MARK SCHEME ===", id="why-answer"),
    ]
    cells[0].metadata = _meta(locked=True, grade_id="title")
    cells[1].metadata = _meta(locked=True, grade_id="imports")
    cells[2].metadata = _meta(solution=True, grade_id="double_solution")
    cells[3].metadata = _meta(grade=True, locked=True, points=2, grade_id="double_check")
    cells[4].metadata = _meta(locked=True, grade_id="why_question")
    cells[5].metadata = _meta(grade=True, solution=True, points=1, grade_id="why_answer")
    cells[3].outputs = [nbformat.v4.new_output("stream", text="stale output\n")]
    nb.cells = cells
    return nb


@pytest.fixture(scope="module")
def mini_course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    (root / "autograder" / "source" / "mini").mkdir(parents=True)
    nbformat.write(mini_source(), str(root / "autograder" / "source" / "mini" / "mini.ipynb"))
    (root / "README.md").write_text(
        f"# Mini\n\n{release.README_BEGIN}\nstale table\n{release.README_END}\n\nMore.\n")
    patch = pytest.MonkeyPatch()
    patch.setattr(config, "ROOT", root)
    patch.setattr(config, "SOURCE_DIR", root / "autograder" / "source")
    patch.setattr(config, "NOTEBOOKS_DIR", root / "notebooks")
    stale = release.release()
    yield root, stale
    patch.undo()


def test_release_normalises_the_source_and_writes_the_student_version(mini_course):
    root, stale = mini_course
    assert sorted(stale) == ["README.md", "autograder/source/mini/mini.ipynb",
                             "course_lib/checks/data/manifest.json", "notebooks/mini.ipynb"]
    source = course.read(course.source_path("mini"))
    assert config.colab_badge("mini") in source.cells[0].source
    assert source.cells[1].id == "colab-setup" and config.GIT_URL in source.cells[1].source
    assert all(not c.get("outputs") for c in source.cells if c.cell_type == "code")

    student = course.read(course.student_path("mini"))
    assert [c.id for c in student.cells] == [c.id for c in source.cells]  # stable ids
    by_id = {c.id: c for c in student.cells}
    assert by_id["double-solution"].source == (
        "def double(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()")
    assert "hidden=True" not in by_id["double-check"].source
    assert by_id["double-check"].source.strip() == 'CHECKS["_mini.double"](double)'
    assert by_id["why-answer"].source == "YOUR ANSWER HERE"
    assert by_id["double-check"].metadata["editable"] is False  # nbgrader locked it
    assert config.colab_badge("mini") in by_id["title"].source


def test_release_is_idempotent_and_check_mode_finds_drift(mini_course, capsys):
    root, _ = mini_course
    assert release.release(check=True) == []
    assert cli_main(["release", "--check"]) == 0
    path = course.student_path("mini")
    original = path.read_text()
    path.write_text(original.replace("Mini course", "Edited by hand"))
    try:
        assert release.release(check=True) == ["notebooks/mini.ipynb"]
        assert cli_main(["release", "--check"]) == 1
        assert "notebooks/mini.ipynb" in capsys.readouterr().out
    finally:
        path.write_text(original)


def test_release_renders_the_readme_table_of_notebooks(mini_course):
    root, _ = mini_course
    readme = (root / "README.md").read_text()
    assert "stale table" not in readme and readme.startswith("# Mini\n") and "More." in readme
    assert f"| 1 | [Mini course](notebooks/mini.ipynb) | {config.colab_badge('mini')} |" in readme
    with pytest.raises(ValueError, match="README.md must hold the lines"):
        release.render_readme("# A README without the markers\n", {})


def test_parse_check_cell_separates_hidden_calls_and_refuses_other_code():
    calls = course.parse_check_cell(
        'from course_lib.checks import CHECKS\nCHECKS["a"](f)\n### BEGIN HIDDEN TESTS\n'
        'CHECKS["a"](f, hidden=True)\nCHECKS["b"]({"q": q, "f": 3.0}, seed=4)\n'
        '### END HIDDEN TESTS')
    assert [(c.item, c.hidden) for c in calls] == [("a", False), ("a", True), ("b", True)]
    assert calls[2].args == [("dict", {"q": ("name", "q"), "f": ("value", 3.0)})]
    assert calls[2].kwargs == {"seed": 4}
    for bad in ['CHECKS["a"](f)\nimport os; os.system("x")', 'assert f(1) == 2',
                'CHECKS["a"](f(1))', 'CHECKS[name](f)']:
        with pytest.raises(course.CheckCellError):
            course.parse_check_cell(bad)


def test_reference_answers_fill_a_student_notebook(mini_course):
    source = course.read(course.source_path("mini"))
    student = course.read(course.student_path("mini"))
    filled = course.fill_in_answers(student, source)
    cell = next(c for c in filled.cells if c.id == "double-solution")
    assert cell.source == "def double(x):\n    return 2 * x"
    partly = course.fill_in_answers(student, source, only={"why_answer"})
    unfilled = next(c for c in partly.cells if c.id == "double-solution")
    assert "NotImplementedError" in unfilled.source


@pytest.mark.slow
def test_generated_student_notebook_in_a_real_kernel(mini_course):
    root, _ = mini_course
    student = course.read(course.student_path("mini"))
    blank = nbtools.execute(student, root / "notebooks", allow_errors=True)
    [(cell_id, ename, text)] = nbtools.errors(blank)
    assert cell_id == "double-check" and ename == "NotImplementedYet"
    assert "✘ _mini.double: not implemented yet" in text and "Traceback" not in text
    source = course.read(course.source_path("mini"))
    done = nbtools.execute(course.fill_in_answers(student, source), root / "notebooks")
    shown = nbtools.cell_text(next(c for c in done.cells if c.id == "double-check"))
    assert shown.strip() == "✔ _mini.double: passed"
