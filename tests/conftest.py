"""Shared fixtures: a miniature course, released by the real ``course-grade release``.

The miniature course has the shape of a real one (title, imports with ``setup_notebook()``,
two exercises each followed by its check, a written answer) so the student paths can be
exercised end to end before, and independently of, the real notebooks. Its checks are
registered by its own imports cell, so they exist wherever the notebook runs.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import nbformat
import pytest

from autograder import config, course, release

MINI_IMPORTS = """\
import numpy as np
from course_lib.checks import CHECKS, register, call, as_float, expect_close
from course_lib.notebook import setup_notebook
setup_notebook()

@register("_mini.double", "double(x) = 2x")
def _(ctx, double):
    x = float(ctx.rng.integers(2, 100))
    expect_close(as_float(call(double, x), "double(x)"), 2 * x, "double(x)")

@register("_mini.square", "square(x) = x * x")
def _(ctx, square):
    x = float(ctx.rng.integers(2, 100))
    expect_close(as_float(call(square, x), "square(x)"), x * x, "square(x)",
                 hints={"you doubled x instead of squaring it": 2 * x})"""


def _meta(**kw):
    meta = {"grade": False, "solution": False, "locked": False, "schema_version": 3,
            "task": False}
    meta.update(kw)
    return {"nbgrader": meta}


def mini_source(title: str = "Mini course"):
    """An instructor source: double (2 points), square (3 points), a written answer (1)."""
    nb = nbformat.v4.new_notebook()
    cells = [
        (nbformat.v4.new_markdown_cell(f"# {title}\n\nTwo exercises.", id="title"),
         _meta(locked=True, grade_id="title")),
        (nbformat.v4.new_code_cell(MINI_IMPORTS, id="imports"),
         _meta(locked=True, grade_id="imports")),
        (nbformat.v4.new_code_cell(
            "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
            id="double-solution"), _meta(solution=True, grade_id="double_solution")),
        (nbformat.v4.new_code_cell(
            'CHECKS["_mini.double"](double)\n### BEGIN HIDDEN TESTS\n'
            'CHECKS["_mini.double"](double, hidden=True)\n### END HIDDEN TESTS',
            id="double-check"), _meta(grade=True, locked=True, points=2, grade_id="double")),
        (nbformat.v4.new_code_cell(
            "def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION",
            id="square-solution"), _meta(solution=True, grade_id="square_solution")),
        (nbformat.v4.new_code_cell(
            'CHECKS["_mini.square"](square)\n### BEGIN HIDDEN TESTS\n'
            'CHECKS["_mini.square"](square, hidden=True)\n### END HIDDEN TESTS',
            id="square-check"), _meta(grade=True, locked=True, points=3, grade_id="square")),
        (nbformat.v4.new_markdown_cell("Why is squaring not linear?", id="why-question"),
         _meta(locked=True, grade_id="why_question")),
        (nbformat.v4.new_markdown_cell(
            "=== BEGIN MARK SCHEME ===\n(2x)^2 = 4x^2.\n=== END MARK SCHEME ===",
            id="why-answer"), _meta(grade=True, solution=True, points=1, grade_id="why")),
    ]
    for cell, meta in cells:
        cell.metadata = meta
    nb.cells = [cell for cell, _ in cells]
    return nb


@contextlib.contextmanager
def patched_course(root: Path):
    """``autograder.config`` pointed at a course rooted at ``root`` (for release)."""
    patch = pytest.MonkeyPatch()
    patch.setattr(config, "ROOT", root)
    patch.setattr(config, "SOURCE_DIR", root / "autograder" / "source")
    patch.setattr(config, "NOTEBOOKS_DIR", root / "notebooks")
    try:
        yield
    finally:
        patch.undo()


@pytest.fixture(scope="session")
def mini_kit(tmp_path_factory):
    """A released miniature course of two notebooks: ``(root, {id: (source, student)})``.

    Its scorecard manifest is ``root / release.MANIFEST``: point ``COURSE_MANIFEST`` at it.
    """
    root = tmp_path_factory.mktemp("mini-course")
    ids = {"mini_a": "Mini course A", "mini_b": "Mini course B"}
    for nb_id, title in ids.items():
        (root / "autograder" / "source" / nb_id).mkdir(parents=True)
        nbformat.write(mini_source(title),
                       str(root / "autograder" / "source" / nb_id / f"{nb_id}.ipynb"))
    with patched_course(root):
        release.release()
        notebooks = {i: (course.read(course.source_path(i)), course.read(course.student_path(i)))
                     for i in ids}
    return root, notebooks


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server for this test session (tests/pg.py): its SQLAlchemy URL.
    Fails, never skips, when PostgreSQL is not installed."""
    from tests import pg

    try:
        with pg.throwaway_postgres() as url:
            yield url
    except pg.PostgresMissing as exc:
        pytest.fail(str(exc), pytrace=False)
