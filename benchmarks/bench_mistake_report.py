"""How long `course-grade report` takes for a large class.

A course directory (``course-grade init``) gets a gradebook of ``BENCH_REPORT_STUDENTS``
(default 500) students x 03_backprop written through :meth:`autograder.store.Store.commit`,
each item passed or failed with one of a few mistake ids (drawn with a fixed seed), as the
grader writes them. Then, timed:

* :func:`autograder.mistakes.report` in process (read the gradebook, count, draw one chart
  per item, write report.html and mistakes.csv);
* the command an instructor types, ``course-grade report``, start-up included.

Run: ``.venv/bin/python -m benchmarks mistake_report``.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._util import median_seconds, row

STUDENTS = int(os.environ.get("BENCH_REPORT_STUDENTS", "500"))
NB_ID = "03_backprop"
BIN = Path(sys.executable).parent
LOCAL_IDS = ("wrong-value", "wrong-gradient", "raised-error", "not-attempted", "timed-out")


def _fill(cd: Path, students: int) -> None:
    from autograder import batch, coursedir, grade, store

    where = coursedir.load(cd)
    spec = grade.load_course(where.source_dir)[NB_ID]
    version = batch.course_version(where.source_dir)
    rng = random.Random(0)
    with store.Store(where.db_url, where.course_id) as db:
        db.ensure_notebook(NB_ID, NB_ID, where.source_dir / NB_ID / f"{NB_ID}.ipynb",
                           where.nbconfig)
        for n in range(students):
            sid = f"student{n:05d}"
            rows = []
            for item in spec.items:
                if item["kind"] == "manual":
                    rows.append(grade.Row(sid, NB_ID, item["grade_id"], None, item["points"],
                                          "manual", grade.MANUAL_MESSAGE))
                    continue
                check = item["calls"][0].item
                ok = rng.random() < 0.7
                mistake = None if ok else f"{check}/{rng.choice(LOCAL_IDS)}"
                rows.append(grade.Row(
                    sid, NB_ID, item["grade_id"], item["points"] if ok else 0.0,
                    item["points"], "passed" if ok else "failed",
                    "passed" if ok else f"{check}: not right yet",
                    "passed" if ok else f"{check}: not right yet\nHint: look again",
                    mistake, grade.mistake_title(mistake), rng.uniform(0.01, 0.3)))
            result = grade.NotebookResult(sid, NB_ID, rows, {"status": "graded"})
            db.commit(result, NB_ID, spec, sha256="0" * 64, course_version=version,
                      timestamp=None)


def run() -> list[dict]:
    from autograder import coursedir, mistakes

    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        cd = Path(tmp) / "course"
        coursedir.init(cd)
        start = time.perf_counter()
        _fill(cd, STUDENTS)
        fill = time.perf_counter() - start
        where = coursedir.load(cd)
        in_process = median_seconds(
            lambda: mistakes.report(where.db_url, cd / "grades", course_id=where.course_id),
            repeat=3)
        env = dict(os.environ, PATH=f"{BIN}:{os.environ.get('PATH', '')}")

        def command():
            subprocess.run([str(BIN / "course-grade"), "report"], cwd=cd, check=True,
                           capture_output=True, env=env)

        cli = median_seconds(command, repeat=3)
        size = (cd / "grades" / "report.html").stat().st_size
    case = f"{STUDENTS} students x {NB_ID}"
    return [
        row("mistake_report", f"gradebook filled ({case}, Store.commit each)", fill),
        row("mistake_report", f"mistakes.report in process ({case})", in_process),
        row("mistake_report", f"course-grade report, start-up included ({case})", cli),
        row("mistake_report", f"report.html size ({case})", size, "B"),
    ]
