"""Incremental grading and the gradebook's cost, side by side in one run.

A course directory (``course-grade init``) with a class of ``BENCH_STUDENTS`` (default 20)
students x every notebook in nbgrader's ``submitted/`` layout is graded by the command an
instructor types, ``course-grade autograde`` (start-up included), then:

* run again with nothing changed (goal: at most 5 % of the full grading time);
* run again after one student resubmitted every notebook (only that student is graded);
* the gradebook's own cost per notebook: :meth:`autograder.store.Store.commit` of a real
  graded notebook, in process, on SQLite (goal: under 50 ms).

Run: ``.venv/bin/python -m benchmarks gradebook``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from autograder import course
from benchmarks._util import row
from benchmarks.bench_autograder import make_class

STUDENTS = int(os.environ.get("BENCH_STUDENTS", "20"))
BIN = Path(sys.executable).parent


def _grade(cd: Path) -> float:
    env = dict(os.environ, PATH=f"{BIN}:{os.environ.get('PATH', '')}")
    start = time.perf_counter()
    proc = subprocess.run([str(BIN / "course-grade"), "autograde", "--quiet", "--workers",
                           "2"], cwd=cd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"course-grade failed:\n{proc.stdout}\n{proc.stderr[-3000:]}")
    return seconds


def _commit_cost(cd: Path, repeat: int = 40) -> float:
    """Median seconds of one Store.commit of a real graded notebook (new students)."""
    from autograder import batch, coursedir, grade, store

    where = coursedir.load(cd)
    specs = grade.load_course(where.source_dir)
    nb_id = course.notebook_ids()[1]
    with store.Store(f"sqlite:///{cd / 'bench-commit.db'}") as db:
        db.ensure_notebook(nb_id, nb_id, where.source_dir / nb_id / f"{nb_id}.ipynb",
                           where.nbconfig)
        stored = next(s for s in store.Store(where.db_url).results() if s.notebook == nb_id)
        rows = [grade.Row(stored.student_id, nb_id, r["item"], r["points"], r["max_points"],
                          r["status"], r["message"], r.get("detail", "")) for r in stored.rows]
        times = []
        for n in range(repeat):
            student = f"bench{n:04d}"
            result = grade.NotebookResult(student, nb_id, [replace(r, student_id=student)
                                                           for r in rows], stored.log)
            start = time.perf_counter()
            db.commit(result, nb_id, specs[nb_id], sha256="0" * 64,
                      course_version=batch.course_version(where.source_dir), timestamp=None)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def run() -> list[dict]:
    ids = course.notebook_ids()
    if not ids:
        return []
    with tempfile.TemporaryDirectory(prefix="bench-gradebook-") as tmp:
        root = Path(tmp)
        subprocess.run([str(BIN / "course-grade"), "init", str(root / "course")], check=True,
                       capture_output=True)
        cd = root / "course"
        work = make_class(root, ids, STUDENTS)
        (root / "nbgrader" / "submitted").rename(cd / "submitted")
        full = _grade(cd)
        reruns = [_grade(cd) for _ in range(3)]
        student = sorted(work)[2]  # a partly-right student resubmits everything, all right
        for nb_id in ids:
            source = course.read(course.source_path(nb_id))
            blank = course.read(course.student_path(nb_id))
            import nbformat

            nbformat.write(course.fill_in_answers(blank, source),
                           str(cd / "submitted" / student / nb_id / f"{nb_id}.ipynb"))
        one = _grade(cd)
        commit = _commit_cost(cd)
    rerun = statistics.median(reruns)
    label = f"{STUDENTS} students x {len(ids)} notebooks"
    return [
        row("gradebook", f"full grading ({label})", full),
        row("gradebook", "re-run, nothing changed (median of 3)", rerun, ratio=rerun / full,
            ratio_of="of the full grading", goal="<= 0.05x of the full grading"),
        row("gradebook", f"re-run, one student changed ({len(ids)} notebooks)", one,
            ratio=one / full, ratio_of="of the full grading"),
        row("gradebook", "gradebook commit per notebook (SQLite, median of 40)", commit,
            goal="< 50 ms"),
    ]
