"""What the grader writes and prints: grades.csv, summary.csv, log.jsonl, the summary.

* ``grades.csv``: one row per student x notebook x graded item: student_id, notebook, item,
  points, max_points, status, message. ``points`` is empty for written answers, whose
  status is ``manual``: put the points there (or grade them in nbgrader's formgrader).
* ``summary.csv``: one row per student: points per notebook, ``total`` and ``max_total``
  (autograded), and ``manual_pending``, the points of written answers still to grade.
* ``log.jsonl``: one JSON object per notebook with timings, resource use, what went wrong,
  what the submission changed, and the isolation measured in its sandbox.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

GRADE_FIELDS = ("student_id", "notebook", "item", "points", "max_points", "status", "message")


def _num(x) -> str:
    return "" if x is None else f"{x:g}"


def _cell(text: str) -> str:
    """Text for a CSV cell that a spreadsheet will not run as a formula (student ids and
    messages can carry text a student chose)."""
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_grades(path: Path, rows) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(GRADE_FIELDS)
        for r in rows:
            writer.writerow([_cell(r.student_id), r.notebook, r.item, _num(r.points),
                             _num(r.max_points), r.status, _cell(r.message[:300])])


def totals(batch) -> list[dict]:
    """Per student: points per notebook, total, max_total, manual_pending."""
    notebooks = list(batch.course)
    max_total = sum(spec.max_auto for spec in batch.course.values())
    out = []
    for student in batch.students:
        row = {"student_id": student}
        manual = 0.0
        for nb in notebooks:
            rows = [r for r in batch.rows if r.student_id == student and r.notebook == nb]
            row[nb] = sum(r.points or 0.0 for r in rows)
            manual += sum(r.max_points for r in rows if r.status == "manual")
        row["total"] = sum(row[nb] for nb in notebooks)
        row["max_total"] = max_total
        row["manual_pending"] = manual
        out.append(row)
    return out


def write_summary(path: Path, batch) -> None:
    fields = ["student_id", *batch.course, "total", "max_total", "manual_pending"]
    with open(path, "w", newline="", encoding="utf-8") as f:
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
    for r in batch.rows:
        by_status[r.status] = by_status.get(r.status, 0) + 1
    lost = [r for r in graded if r.log.get("status") in ("crashed", "timeout", "grader error")]
    unreadable = [r for r in graded if r.log.get("status") == "unreadable"]
    with_failures = [r for r in graded if any(x.status not in ("passed", "manual")
                                              for x in r.rows)]
    lines = [
        f"Graded {len(graded)} notebooks of {len(batch.students)} students in "
        f"{batch.seconds:.1f} s: {len(graded) - len(with_failures)} all passed, "
        f"{len(with_failures)} with items not passed, {len(lost)} crashed or out of time, "
        f"{len(unreadable)} unreadable, "
        f"{sum(r.log.get('status') == 'not submitted' for r in results)} not submitted.",
        "Items: " + ", ".join(f"{n} {s}" for s, n in sorted(by_status.items(),
                                                            key=lambda kv: -kv[1])),
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
    for w in batch.warnings[:5]:
        lines.append(f"  warning: {w}")
    lines.append(sandbox.summary_line(batch.isolation))
    for note in batch.notes:
        lines.append(f"  sandbox: {note}")
    manual = by_status.get("manual", 0)
    if manual:
        lines.append(f"{manual} written answers need manual grading: status 'manual' in "
                     "grades.csv (empty points), or grade them in nbgrader's formgrader.")
    lines.append(f"Wrote {batch.out}/grades.csv, summary.csv, feedback/, log.jsonl")
    return "\n".join(lines)


def gradebook_text(batch) -> str:
    """Points per student and notebook, as a table (what `course-grade demo` prints)."""
    notebooks = list(batch.course)
    rows = totals(batch)
    width = max([len("student")] + [len(r["student_id"]) for r in rows]) + 2
    cols = [max(len(nb), 9) + 2 for nb in notebooks]
    maxes = {nb: batch.course[nb].max_auto for nb in notebooks}
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
