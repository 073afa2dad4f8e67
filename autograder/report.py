"""What the grader writes and prints: grades.csv, summary.csv, log.jsonl, the summary.

All of them are views of the gradebook (nbgrader's, the system of record), rewritten whole
at the end of every run, so they cover every student graded so far, not only this run's.

* ``grades.csv``: one row per student x notebook x graded item: student_id, notebook, item,
  points, max_points, status, message, mistake (the id of the mistake the checks named,
  ``<check>/<id>``; see ``course-grade report``). Written answers have status ``manual``: their
  ``points`` are the grader's from nbgrader's formgrader, empty until someone grades them.
* ``summary.csv``: one row per student: points per notebook (after any late penalty),
  ``total``, ``max_total`` (every point of those notebooks, written answers included),
  ``max_auto`` (the autograded part) and ``written_pending`` (how many written answers are
  still to be graded).
* ``log.jsonl``: one JSON object per notebook with timings, resource use, what went wrong,
  what the submission changed, and the isolation measured in its sandbox.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .autograded import replace_atomically

GRADE_FIELDS = ("student_id", "notebook", "item", "points", "max_points", "status", "message",
                "mistake")


def _num(x) -> str:
    return "" if x is None else f"{x:g}"


def _cell(text: str) -> str:
    """Text for a CSV cell that a spreadsheet will not run as a formula (student ids and
    messages can carry text a student chose)."""
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_grades(path: Path, rows) -> None:
    replace_atomically(path, lambda f: _grades_csv(f, rows), newline="")


def _grades_csv(f, rows) -> None:
    writer = csv.writer(f)
    writer.writerow(GRADE_FIELDS)
    for r in rows:
        writer.writerow([_cell(r.student_id), r.notebook, r.item, _num(r.points),
                         _num(r.max_points), r.status, _cell(r.message[:300]),
                         r.mistake or ""])


def max_points(spec) -> float:
    """Every point of a notebook, written answers included."""
    return sum(i["points"] for i in spec.items)


def totals(batch) -> list[dict]:
    """Per student: points per notebook (less late penalties), total, max_total, max_auto,
    written_pending."""
    notebooks = list(batch.course)
    by_student: dict[str, list] = {}
    for r in batch.rows:
        by_student.setdefault(r.student_id, []).append(r)
    out = []
    for student in batch.students:
        row = {"student_id": student}
        pending = 0
        mine = by_student.get(student, [])
        for nb in notebooks:
            rows = [r for r in mine if r.notebook == nb]
            penalty = max([getattr(r, "late_penalty", 0.0) or 0.0 for r in rows] or [0.0])
            row[nb] = sum(r.points or 0.0 for r in rows) - penalty
            pending += sum(r.status == "manual" and r.points is None for r in rows)
        row["total"] = sum(row[nb] for nb in notebooks)
        row["max_total"] = sum(max_points(batch.course[nb]) for nb in notebooks)
        row["max_auto"] = sum(batch.course[nb].max_auto for nb in notebooks)
        row["written_pending"] = pending
        out.append(row)
    return out


def write_summary(path: Path, batch) -> None:
    replace_atomically(path, lambda f: _summary_csv(f, batch), newline="")


def _summary_csv(f, batch) -> None:
    fields = ["student_id", *batch.course, "total", "max_total", "max_auto",
              "written_pending"]
    writer = csv.writer(f)
    writer.writerow(fields)
    for row in totals(batch):
        writer.writerow([_cell(row["student_id"])] + [_num(row[k]) for k in fields[1:]])


def append_log(path: Path, entry: dict) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, default=str) + "\n")


def summary_text(batch, slowest: int = 3) -> str:
    """The one-screen summary printed at the end of a run."""
    from . import sandbox

    results = batch.results
    graded = [r for r in results if r.log.get("status") not in ("not submitted",)]
    by_status: dict[str, int] = {}
    for r in (x for res in results for x in res.rows):
        by_status[r.status] = by_status.get(r.status, 0) + 1
    lost_items = by_status.get("timeout", 0) + by_status.get("crashed", 0)
    not_submitted = sum(r.status == "missing" and r.message == "not submitted"
                        for r in batch.rows)
    lost = [r for r in graded if r.log.get("status") in ("crashed", "timeout", "grader error")]
    unreadable = [r for r in graded if r.log.get("status") == "unreadable"]
    with_failures = [r for r in graded if any(x.status not in ("passed", "manual")
                                              for x in r.rows)]
    skipped = getattr(batch, "skipped", 0)
    lines = [
        f"Graded {len(graded)} notebooks in {batch.seconds:.1f} s"
        + (f" ({skipped} unchanged since they were graded, not graded again)" if skipped
           else "")
        + f": {len(graded) - len(with_failures)} all passed, "
        f"{len(with_failures)} with items not passed, {len(lost)} crashed or out of time, "
        f"{len(unreadable)} unreadable.",
        "Items graded: " + (", ".join(f"{n} {s}" for s, n in sorted(
            by_status.items(), key=lambda kv: -kv[1])) or "none")
        + f"; {lost_items} items timed out or crashed.",
        f"The gradebook holds {len(batch.students)} students; out of "
        + ", ".join(f"{nb} {max_points(spec):g}" for nb, spec in batch.course.items())
        + (f" (course {sum(max_points(s) for s in batch.course.values()):g})"
           if len(batch.course) > 1 else "")
        + (f"; {not_submitted} items not submitted" if not_submitted else "") + ".",
    ]
    timed = sorted(graded, key=lambda r: -r.log.get("seconds", {}).get("total", 0.0))
    if timed:
        lines.append("Slowest: " + ", ".join(
            f"{r.student_id}/{r.notebook} {r.log['seconds']['total']:.1f} s"
            for r in timed[:slowest]))
    for r in (lost + unreadable)[:8]:
        problem = (r.log.get("problems") or [r.log.get("status")])[0]
        lines.append(f"  {r.student_id}/{r.notebook}: {r.log.get('status')}: "
                     f"{str(problem).splitlines()[0][:140]}")
    if len(lost) + len(unreadable) > 8:
        lines.append(f"  ... and {len(lost) + len(unreadable) - 8} more in log.jsonl")
    failures = getattr(batch, "grader_failures", [])
    if failures:
        lines.append(f"{len(failures)} notebooks were NOT graded because of a problem on the "
                     "grader's side (not the students'); nothing was written for them. Fix "
                     "the cause and run the same command again:")
        for r in failures[:5]:
            problem = (r.log.get("problems") or [r.log.get("status")])[0]
            lines.append(f"  {r.student_id}/{r.notebook}: {str(problem).splitlines()[0][:160]}")
    # every decision is in warnings.txt; the screen shows what needs a look
    problems = [w for w in batch.warnings if not w.startswith("found:")]
    for w in problems[:5]:
        lines.append(f"  warning: {w}")
    if len(problems) > 5:
        lines.append(f"  ... {len(problems) - 5} more warnings in warnings.txt")
    engine = getattr(batch, "engine", {}) or {}
    if engine.get("engine") == "dask":
        lines.append(f"Dask cluster at {engine.get('scheduler')}: "
                     f"{len(engine.get('workers', []))} workers")
        for w in engine.get("workers", []):
            iso = w.get("isolation")
            lines.append(f"  {w['address']}: {w['notebooks']} notebooks; "
                         + (sandbox.summary_line(iso) if iso else "isolation not measured "
                            "(graded nothing)"))
    lines.append(sandbox.summary_line(batch.isolation))
    for note in batch.notes:
        lines.append(f"  sandbox: {note}")
    manual = sum(r.status == "manual" and r.points is None for r in batch.rows)
    if manual:
        lines.append(f"{manual} written answers wait for a grader: grade them in nbgrader's "
                     "formgrader (Manual Grading), then run `course-grade feedback`.")
    lines.append(f"Gradebook: {_safe(batch)}; reports: {batch.out}/grades.csv, summary.csv, "
                 "log.jsonl, warnings.txt")
    return "\n".join(lines)


def _safe(batch) -> str:
    from .store import _safe_url

    return _safe_url(getattr(batch, "db_url", "") or "")


def gradebook_text(batch) -> str:
    """Points per student and notebook, as a table (what `course-grade demo` prints)."""
    notebooks = list(batch.course)
    rows = totals(batch)
    width = max([len("student")] + [len(r["student_id"]) for r in rows]) + 2
    cols = [max(len(nb), 9) + 2 for nb in notebooks]
    maxes = {nb: max_points(batch.course[nb]) for nb in notebooks}
    header = "student".ljust(width) + "".join(nb.rjust(c) for nb, c in zip(notebooks, cols))
    header += "total".rjust(12)
    lines = [header, "-" * len(header)]
    for r in rows:
        line = r["student_id"].ljust(width)
        line += "".join(f"{_num(r[nb])}/{_num(maxes[nb])}".rjust(c)
                        for nb, c in zip(notebooks, cols))
        line += f"{_num(r['total'])}/{_num(r['max_total'])}".rjust(12)
        lines.append(line)
    return "\n".join(lines)


def status_table(batch, notebook: str) -> str:
    """One notebook, item by item: a letter per status (P F E T M C W) per student."""
    letters = {"passed": "P", "failed": "F", "error": "E", "timeout": "T", "missing": "M",
               "crashed": "C", "manual": "W"}
    items = [i["grade_id"] for i in batch.course[notebook].items]
    width = max([len("student")] + [len(s) for s in batch.students]) + 2
    lines = [f"{notebook}: " + "  ".join(f"{n + 1}={gid}" for n, gid in enumerate(items)),
             "student".ljust(width) + " ".join(f"{n + 1:>2}" for n in range(len(items)))]
    for student in batch.students:
        got = {r.item: r.status for r in batch.rows
               if r.student_id == student and r.notebook == notebook}
        lines.append(student.ljust(width) + " ".join(
            f"{letters.get(got.get(gid, ''), '?'):>2}" for gid in items))
    lines.append("P passed, F failed, E error, T timeout, M missing, C crashed, "
                 "W written answer (manual)")
    return "\n".join(lines)
