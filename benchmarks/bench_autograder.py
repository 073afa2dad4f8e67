"""The autograder against stock nbgrader on the same class, side by side.

A class of ``STUDENTS`` honest students, each submitting every notebook of the course
(the reference answers, the blank notebook, or a seeded random part of the answers), is
graded three times:

* ``course-grade autograde --workers 2`` and ``--workers 1`` (the command an instructor
  types, start-up included);
* stock ``nbgrader autograde <notebook>`` for every notebook, in a copy of the course
  directory (``nbgrader generate_assignment`` first, not timed).

Reported: wall seconds per submitted notebook and per student (whole course), the ratio
nbgrader / course-grade (goal: at least 3x), CPU seconds per notebook (all processes,
kernels and sandboxes included: the measure that does not depend on how busy the machine
is), throughput with 1 and 2 workers, and how many autograded scores differ between the two
graders (goal: 0).

Run: ``.venv/bin/python -m benchmarks autograder`` (``BENCH_STUDENTS=N`` to change the class).
"""

from __future__ import annotations

import csv
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder import config, course
from benchmarks._util import row

STUDENTS = int(os.environ.get("BENCH_STUDENTS", "20"))
BIN = Path(sys.executable).parent


def _write(path: Path, nb) -> None:
    import nbformat

    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


def make_class(root: Path, ids: list[str], students: int = STUDENTS) -> dict:
    """``{student: {notebook: submission}}``: references, blanks and seeded partial answers."""
    rng = random.Random(0)
    out = {}
    for n in range(students):
        student = f"student{n:02d}"
        out[student] = {}
        for nb_id in ids:
            source = course.read(course.source_path(nb_id))
            blank = course.read(course.student_path(nb_id))
            answers = sorted(course.reference_answers(source))
            if n % 5 == 0:
                nb = course.fill_in_answers(blank, source)
            elif n % 5 == 1:
                nb = blank
            else:
                nb = course.fill_in_answers(blank, source,
                                            only=set(rng.sample(answers, len(answers) // 2)))
            out[student][nb_id] = nb
            _write(root / "submissions" / student / f"{nb_id}.ipynb", nb)
            _write(root / "nbgrader" / "submitted" / student / nb_id / f"{nb_id}.ipynb", nb)
    return out


def _env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k in ("LANG", "LC_ALL", "COURSE_DATA")}
    env.update(PATH=f"{BIN}:/usr/local/bin:/usr/bin:/bin", HOME=str(home), MPLBACKEND="Agg")
    return env


def _children_cpu() -> float:
    """CPU seconds of every finished descendant (kernels and workers included: each is
    waited for by its parent, so its time adds up here)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_course_grade(root: Path, workers: int, tag: str) -> tuple[float, float, Path]:
    """Wall seconds, CPU seconds and output folder of one `course-grade autograde`."""
    out = root / f"out-{tag}"
    cpu, start = _children_cpu(), time.perf_counter()
    proc = subprocess.run([str(BIN / "course-grade"), "autograde", str(root / "submissions"),
                           "--out", str(out), "--workers", str(workers), "--quiet"],
                          capture_output=True, text=True, env=_env(root), cwd=root)
    seconds, cpu = time.perf_counter() - start, _children_cpu() - cpu
    if proc.returncode != 0:
        raise RuntimeError(f"course-grade failed:\n{proc.stdout}\n{proc.stderr}")
    return seconds, cpu, out


def run_nbgrader(root: Path, ids: list[str]) -> tuple[float, float, dict]:
    """Wall and CPU seconds of ``nbgrader autograde`` over all notebooks, and its scores."""
    from nbgrader.api import Gradebook

    course_dir = root / "nbgrader"
    shutil.copy(config.KIT_DIR / "nbgrader_config.py", course_dir)
    for nb_id in ids:
        shutil.copytree(course.source_path(nb_id).parent, course_dir / "source" / nb_id)

    def nbgrader(*args):
        proc = subprocess.run([str(BIN / "nbgrader"), *args], cwd=course_dir,
                              capture_output=True, text=True, env=_env(root))
        if proc.returncode != 0:
            raise RuntimeError(f"nbgrader {args} failed:\n{proc.stderr[-3000:]}")

    for nb_id in ids:
        nbgrader("generate_assignment", nb_id, "--force")
    cpu, start = _children_cpu(), time.perf_counter()
    for nb_id in ids:
        nbgrader("autograde", nb_id, "--force")
    seconds, cpu = time.perf_counter() - start, _children_cpu() - cpu
    scores = {}
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gb:
        for nb_id in ids:
            for student in gb.students:
                try:
                    nb = gb.find_submission_notebook(nb_id, nb_id, student.id)
                except Exception:
                    continue
                for g in nb.grades:
                    if g.cell_type == "code":
                        scores[(student.id, nb_id, g.name)] = float(g.score)
    return seconds, cpu, scores


def our_scores(out: Path) -> dict:
    with open(out / "grades.csv", newline="") as f:
        return {(r["student_id"], r["notebook"], r["item"]): float(r["points"])
                for r in csv.DictReader(f) if r["status"] != "manual"}


def run() -> list[dict]:
    ids = course.notebook_ids()
    if not ids:
        return []
    with tempfile.TemporaryDirectory(prefix="bench-autograder-") as tmp:
        root = Path(tmp)
        make_class(root, ids)
        n_notebooks = STUDENTS * len(ids)
        two, cpu_two, out2 = run_course_grade(root, 2, "w2")
        one, _, out1 = run_course_grade(root, 1, "w1")
        stock, cpu_stock, nbgrader_scores = run_nbgrader(root, ids)
        ours = our_scores(out2)
        differ = sorted(k for k in nbgrader_scores if abs(nbgrader_scores[k] - ours.get(
            k, -1)) > 1e-9)
        differ_w1 = sum(abs(our_scores(out1)[k] - v) > 1e-9 for k, v in ours.items())
        if differ:
            print("scores that differ (student, notebook, item): nbgrader vs course-grade")
            for k in differ[:20]:
                print(f"  {k}: {nbgrader_scores[k]} vs {ours.get(k)}")
    label = f"{STUDENTS} students x {len(ids)} notebooks"
    return [
        row("autograder", f"nbgrader autograde, per notebook ({label})", stock / n_notebooks),
        row("autograder", "course-grade --workers 2, per notebook", two / n_notebooks,
            ratio=stock / two, ratio_of="nbgrader / course-grade", goal=">= 3x faster"),
        row("autograder", "course-grade --workers 1, per notebook", one / n_notebooks,
            ratio=one / two, ratio_of="1 worker / 2 workers (throughput gain)"),
        row("autograder", "nbgrader autograde, per student (whole course)", stock / STUDENTS),
        row("autograder", "course-grade --workers 2, per student (whole course)",
            two / STUDENTS, ratio=stock / two, ratio_of="nbgrader / course-grade"),
        row("autograder", "nbgrader autograde, CPU per notebook", cpu_stock / n_notebooks),
        row("autograder", "course-grade, CPU per notebook (start-up included)",
            cpu_two / n_notebooks, ratio=cpu_stock / cpu_two, ratio_of="nbgrader / course-grade"),
        row("autograder", "throughput, course-grade --workers 2", n_notebooks / two,
            unit="notebooks/s"),
        row("autograder", "throughput, course-grade --workers 1", n_notebooks / one,
            unit="notebooks/s"),
        row("autograder", "autograded scores that differ from nbgrader's", len(differ),
            unit="scores", goal=f"0 of {len(nbgrader_scores)}"),
        row("autograder", "scores that differ, 1 vs 2 workers", differ_w1, unit="scores",
            goal="0"),
    ]
