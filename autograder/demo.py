"""``course-grade demo``: a generated class, graded, and its gradebook printed.

The instructor's first five minutes: seven students hand in every notebook of the course
(honest, broken and hostile, in both folder layouts an LMS gives), the grader grades them in
sandboxes and prints the gradebook, one notebook item by item, and where the outputs are,
the mistake report (``course-grade report``: what the class got wrong) among them.
"""

from __future__ import annotations

import ast
import random
import tempfile
from pathlib import Path

import nbformat

from . import course, grade, mistakes, report

STUDENTS = {
    "ada": "the reference answers",
    "bo": "the blank notebooks, as released",
    "cy": "about half of the answers, different ones in each notebook",
    "dev": "the reference answers, but the last exercise of each notebook loops forever "
           "when called",
    "eve": "blank answers plus cheats: every check replaced by a print, and functions "
           "returning an object equal to everything",
    "fay": "the reference answers, but the last exercise cell calls os._exit",
    "gus": "damaged files: one is not JSON, another lost a cell, the rest are fine "
           "(downloaded from an LMS: gus_<notebook>.ipynb)",
}


def _exercises(nb) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and course.is_solution(c)]


def _functions(source: str) -> list[str]:
    try:
        return [n.name for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)]
    except SyntaxError:
        return []


def _looping(nb):
    """The last exercise cell that defines functions: each of them now loops forever."""
    nb = nbformat.from_dict(nb)
    for i in reversed(_exercises(nb)):
        names = _functions(nb.cells[i].source)
        if names:
            nb.cells[i].source += "".join(
                f"\n\ndef {n}(*args, **kwargs):\n    while True:\n        pass" for n in names)
            break
    return nb


def _exiting(nb):
    nb = nbformat.from_dict(nb)
    last = _exercises(nb)[-1]
    nb.cells[last].source = "import os\nos._exit(1)\n" + nb.cells[last].source
    return nb


def _classes(source: str) -> list[str]:
    try:
        return [n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef)]
    except SyntaxError:
        return []


def _cheating(nb):
    nb = nbformat.from_dict(nb)
    for i in _exercises(nb):
        source = nb.cells[i].source
        nb.cells[i].source = (
            "class Anything(float):\n    def __eq__(self, other): return True\n"
            "    def __getattr__(self, name): return self\n"
            "    def __call__(self, *args, **kwargs): return self\n"
            + "".join(f"\ndef {n}(*args, **kwargs):\n    return Anything()\n"
                      for n in _functions(source))
            + "".join(f"\nclass {n}(Anything):\n    pass\n" for n in _classes(source)))
    cheat = nbformat.v4.new_code_cell(
        "from course_lib.checks import CHECKS\nfor name in list(CHECKS):\n"
        "    CHECKS[name] = lambda *args, **kwargs: print('passed')")
    nb.cells.insert(_exercises(nb)[0], cheat)
    return nb


def _write(path: Path, nb) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


def build_class(root: Path, ids: list[str], seed: int = 0) -> Path:
    """Write the demo class under ``root/submissions``; return that folder."""
    rng = random.Random(seed)
    subs = root / "submissions"
    for n, nb_id in enumerate(ids):
        source = course.read(course.source_path(nb_id))
        blank = course.read(course.student_path(nb_id))
        reference = course.fill_in_answers(blank, source)
        answers = sorted(course.reference_answers(source))
        half = set(rng.sample(answers, len(answers) // 2))
        work = {
            "ada": reference, "bo": blank,
            "cy": course.fill_in_answers(blank, source, only=half),
            "dev": _looping(reference), "eve": _cheating(blank), "fay": _exiting(reference),
        }
        for student, nb in work.items():
            _write(subs / student / f"{nb_id}.ipynb", nb)
        gus = subs / f"gus_{nb_id}.ipynb"
        if n == 0:
            gus.write_text('{"cells": [{"cell_type": "code", "source": "def knn(')
        elif n == 1:
            damaged = nbformat.from_dict(reference)
            del damaged.cells[_exercises(damaged)[0]]
            _write(gus, damaged)
        else:
            _write(gus, reference)
    return subs


def main(out=None, workers: int = 2) -> int:
    ids = course.notebook_ids()
    if not ids:
        print("The course has no notebooks yet (course/source/<id>/<id>.ipynb).")
        return 1
    root = Path(out) if out else Path(tempfile.mkdtemp(prefix="course-grade-demo-"))
    subs = build_class(root, ids)
    print(f"A demo class of {len(STUDENTS)} students, {len(ids)} notebooks each, in {subs}:")
    for student, what in STUDENTS.items():
        print(f"  {student:4s} {what}")
    print(f"\n$ course-grade autograde {subs} --out {root / 'grades'} --workers {workers} "
          "--timeout-cell 10\n", flush=True)
    options = grade.Options(workers=workers, timeout_cell=10.0, timeout_notebook=600.0)
    batch = grade.autograde(subs, root / "grades", options)
    print(report.summary_text(batch))
    print("\nThe gradebook (autograded points; written answers are graded by hand):\n")
    print(report.gradebook_text(batch))
    print()
    print(report.status_table(batch, ids[-1]))
    print(f"\nPer item: {root / 'grades' / 'grades.csv'}; per student: summary.csv; what each "
          f"student sees: {root / 'grades' / 'feedback'}/<student>/<notebook>.html")
    print(f"\n$ course-grade report --db {batch.db_url} --out {root / 'grades'}")
    counted, page, table = mistakes.report(batch.db_url, root / "grades")
    print(mistakes.summary_line(counted, page, table))
    print(f"Open it in a browser: {page.resolve().as_uri()}")
    return 0
