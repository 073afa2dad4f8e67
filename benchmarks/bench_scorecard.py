"""The scorecard: how long a student waits for it, per notebook, on the reference answers.

The scorecard runs every graded item's checks, grading cases included; the row beside it
runs only the public checks (what the check cells run), so the ratio is what the grading
cases add.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nbformat

from autograder import course
from benchmarks._util import compare, row
from course_lib import scorecard as sc
from course_lib.course_scorecard import run_saved_notebook


def _reference_namespace(nb_id: str, folder: Path) -> dict:
    from IPython.core.interactiveshell import InteractiveShell

    InteractiveShell.clear_instance()
    source = course.read(course.source_path(nb_id))
    nb = course.fill_in_answers(course.read(course.student_path(nb_id)), source)
    path = folder / f"{nb_id}.ipynb"
    nbformat.write(nb, str(path))
    cwd = os.getcwd()
    try:
        return run_saved_notebook(path)
    finally:
        os.chdir(cwd)


def _public_only(nb_id: str, namespace: dict) -> None:
    for item in sc.load_manifest()["notebooks"][nb_id]["items"]:
        public = dict(item, calls=[c for c in item["calls"] if not c["hidden"]])
        sc.score_item(public, namespace)


def run() -> list[dict]:
    os.environ.setdefault("MPLBACKEND", "Agg")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-scorecard-") as tmp:
        for nb_id in course.notebook_ids():
            namespace = _reference_namespace(nb_id, Path(tmp))
            card = sc.scorecard(nb_id, namespace)
            assert card.earned == card.possible, f"{nb_id}: reference answers must pass"
            full, public = compare(lambda: sc.scorecard(nb_id, namespace),  # noqa: B023
                                   lambda: _public_only(nb_id, namespace),  # noqa: B023
                                   repeat=3)
            rows += [
                row("scorecard", f"{nb_id}: public checks only ({len(card.items)} items)",
                    public),
                row("scorecard", f"{nb_id}: scorecard, grading cases included", full,
                    ratio=full / public, ratio_of="scorecard / public checks",
                    goal="a few seconds: a student waits for it"),
            ]
    return rows
