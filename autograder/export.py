"""Grades out, in a file an LMS imports or a person reads: ``write(fmt, rows, course,
students, path)``.

Inputs (plain data, so the writers do not care where grades are stored):

* ``rows``: one dict per submitted (student, assignment, notebook, graded item):
  ``student_id, assignment, notebook, item, kind ("auto"|"manual"), max_points,
  auto_score, manual_score, points`` (the manual score if set, else the auto score;
  ``None``: a written answer still to grade), ``status`` (passed, failed, error, timeout,
  crashed, missing, manual), ``message, needs_manual_grade, timestamp`` (datetime or
  None) and ``late_penalty`` (points, per notebook: the same on every row of a notebook).
* ``course``: ``{assignment: {notebook: [(item, kind, max_points), ...]}}``, everything
  that can be graded, so a student who submitted nothing still gets 0 (status
  ``missing``).
* ``students``: a :class:`roster.Roster` (or ``Roster.from_ids`` of the students seen).
  Every roster student gets a row; a student in ``rows`` but not on the roster is left
  out of the LMS files (the LMS would not know them) and named in the notes.

A notebook's score is the sum of its items' points minus its late penalty; an
assignment's maximum is every item's points, written answers included. A written answer
still to grade is never counted as 0: the LMS files leave that assignment's cell empty (the
LMS then shows it as not graded) and the notes name it; the plain CSV shows the points so
far with ``manual pending`` beside them.

Formats:

``canvas``  Canvas gradebook import CSV, as Canvas's own export writes it
            (``GradebookExporter``): header ``Student, ID, SIS User ID, SIS Login ID,
            Section`` then one column per assignment (its title, or ``Title (12345)`` to
            name an existing Canvas assignment by id: pass ``titles``); second row
            ``"    Points Possible"`` (four spaces) with each assignment's maximum; then a
            row per student: ``Doe, Jane``, the Canvas user id (roster ``lms_user_id``),
            the SIS user id, the SIS login id, the section, the points. Canvas matches
            students on ID, SIS User ID or SIS Login ID.
``moodle``  Moodle gradebook CSV import (Grades > Import > CSV file), in the columns of
            Moodle's own export: ``First name, Last name, ID number, Email address``, then
            ``Assignment: <title> (Real)`` per assignment. In the import, map "Email
            address" to ``useremail`` (or "ID number" to ``useridnumber``) and each column
            to its grade item.
``csv``     one row per student: per assignment the points, the maximum, the late penalty,
            the points of written answers still to grade and a status; then the totals.
``per-item`` one row per student x notebook x item with status, message, late penalty and
            the mistake the checks named (``<check>/<id>``, empty when passed; rows may
            carry ``mistake``).

Every text cell goes through ``report._cell`` (no spreadsheet formulas from student text).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from .report import _cell

FORMATS = ("canvas", "moodle", "csv", "per-item")
CANVAS_HEADER = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_POINTS_POSSIBLE = "    Points Possible"
MOODLE_HEADER = ("First name", "Last name", "ID number", "Email address")
PER_ITEM_HEADER = ("student_id", "assignment", "notebook", "item", "kind", "points",
                   "max_points", "auto_score", "manual_score", "status", "needs_manual_grade",
                   "notebook_late_penalty", "timestamp", "message", "mistake")


def _num(x) -> str:
    """A number as Canvas writes one: at most two decimals, no trailing zeros."""
    if x is None:
        return ""
    x = round(float(x), 2)
    return f"{x:g}" if abs(x) < 1e15 else f"{x:.2f}"


@dataclass
class AssignmentTotal:
    points: float = 0.0  # after late penalties; written answers still to grade count 0
    max_points: float = 0.0  # every item, written answers included
    late_penalty: float = 0.0
    pending: float = 0.0  # points of written answers still to grade
    pending_items: list[str] = field(default_factory=list)
    submitted: bool = False

    @property
    def status(self) -> str:
        if not self.submitted:
            return "missing"
        return "manual pending" if self.pending_items else "complete"


@dataclass
class StudentTotal:
    student: object  # roster.Student
    assignments: dict[str, AssignmentTotal]

    @property
    def total(self) -> float:
        return sum(a.points for a in self.assignments.values())

    @property
    def max_total(self) -> float:
        return sum(a.max_points for a in self.assignments.values())


def totals(rows, course, students) -> tuple[list[StudentTotal], list[str]]:
    """Per roster student and assignment: points, maximum, late penalty, pending manual
    points; and notes about rows that fit no roster student or no course item."""
    notes: list[str] = []
    index: dict[tuple, dict] = {}
    for r in rows:
        index[(r["student_id"], r["assignment"], r["notebook"], r["item"])] = r
    known_items = {(a, nb, item) for a, nbs in course.items() for nb, items in nbs.items()
                   for item, _, _ in items}
    strangers = sorted({r["student_id"] for r in rows} - set(students.ids))
    if strangers:
        notes.append(f"{len(strangers)} student(s) with grades are not on the roster and are "
                     f"left out of the LMS files: {', '.join(strangers)}")
    extra = sorted({(r["assignment"], r["notebook"], r["item"]) for r in rows}
                   - known_items)
    if extra:
        notes.append("rows for items the course does not have were ignored: "
                     + ", ".join("/".join(e) for e in extra))
    out = []
    for student in students:
        per = {}
        for assignment, notebooks in course.items():
            total = AssignmentTotal()
            for nb, items in notebooks.items():
                mine = [index.get((student.id, assignment, nb, item)) for item, _, _ in items]
                if any(r and r.get("status") != "missing" for r in mine):
                    total.submitted = True
                penalty = max((r.get("late_penalty") or 0.0 for r in mine if r), default=0.0)
                score = 0.0
                for (item, kind, max_points), r in zip(items, mine):
                    total.max_points += max_points
                    if r is None:
                        continue
                    if r.get("points") is None and (kind == "manual"
                                                    or r.get("needs_manual_grade")):
                        total.pending += max_points
                        total.pending_items.append(f"{nb}/{item}")
                    else:
                        score += r.get("points") or 0.0
                penalty = min(penalty, score)
                total.late_penalty += penalty
                total.points += score - penalty
            per[assignment] = total
        out.append(StudentTotal(student, per))
    pending = [f"{t.student.id} ({a}: {', '.join(x.pending_items)})" for t in out
               for a, x in t.assignments.items() if x.pending_items]
    if pending:
        notes.append(f"written answers still to grade for {len(pending)} student x "
                     f"assignment(s); their cells are left empty in the LMS files: "
                     + "; ".join(pending))
    return out, notes


# --------------------------------------------------------------------------- adapters

def course_from_specs(specs, assignment_of: dict | None = None) -> dict:
    """``course`` from the grader's ``{notebook: NotebookSpec}`` (each spec's ``items``:
    ``grade_id``, ``kind``, ``points``); ``assignment_of`` maps a notebook to its nbgrader
    assignment (default: the assignment of the same name, this course's layout)."""
    assignment_of = assignment_of or {}
    course: dict = {}
    for nb, spec in specs.items():
        course.setdefault(assignment_of.get(nb, nb), {})[nb] = [
            (i["grade_id"], i["kind"], float(i["points"])) for i in spec.items]
    return course


def rows_from_graded(graded) -> list[dict]:
    """``rows`` from report rows as objects (``batch.GradedRow``: ``student_id, notebook,
    item, points, max_points, status, message, assignment, kind, late_penalty``) or dicts.
    A written answer with no points yet is pending; its points stay ``None``."""
    out = []
    for g in graded:
        get = g.get if isinstance(g, dict) else (lambda k, d=None, g=g: getattr(g, k, d))
        kind = get("kind", "auto") or "auto"
        points = get("points")
        manual = kind == "manual"
        out.append({
            "student_id": get("student_id"), "assignment": get("assignment") or get("notebook"),
            "notebook": get("notebook"), "item": get("item"), "kind": kind,
            "max_points": get("max_points"), "auto_score": None if manual else points,
            "manual_score": points if manual else get("manual_score"), "points": points,
            "status": get("status", ""), "message": get("message", "") or "",
            "needs_manual_grade": bool(get("needs_manual_grade")) or (manual and points is None),
            "timestamp": get("timestamp"), "late_penalty": get("late_penalty", 0.0) or 0.0,
            "mistake": get("mistake")})
    return out


# --------------------------------------------------------------------------- writers

def _canvas(writer, table, course, titles, notes) -> None:
    assignments = list(course)
    writer.writerow(list(CANVAS_HEADER) + [_cell(titles.get(a, a)) for a in assignments])
    maxima = [sum(m for items in course[a].values() for _, _, m in items) for a in assignments]
    writer.writerow([CANVAS_POINTS_POSSIBLE, "", "", "", ""] + [_num(m) for m in maxima])
    unmatched = []
    for t in table:
        s = t.student
        if not (s.lms_user_id or s.sis_id or s.login):
            unmatched.append(s.id)
        writer.writerow([_cell(s.sortable_name), _cell(s.lms_user_id), _cell(s.sis_id),
                         _cell(s.login), _cell(s.section)]
                        + ["" if t.assignments[a].pending_items else _num(t.assignments[a].points)
                           for a in assignments])
    if unmatched:
        notes.append("Canvas cannot match these students (no lms_user_id, sis_id or login on "
                     "the roster): " + ", ".join(unmatched))


def _moodle(writer, table, course, titles, notes) -> None:
    assignments = list(course)
    writer.writerow(list(MOODLE_HEADER)
                    + [_cell(f"Assignment: {titles.get(a, a)} (Real)") for a in assignments])
    unmatched = []
    for t in table:
        s = t.student
        if not (s.email or s.sis_id):
            unmatched.append(s.id)
        writer.writerow([_cell(s.first_name), _cell(s.last_name or s.id), _cell(s.sis_id),
                         _cell(s.email)]
                        + ["" if t.assignments[a].pending_items else _num(t.assignments[a].points)
                           for a in assignments])
    if unmatched:
        notes.append("Moodle cannot match these students (no email or sis_id on the "
                     "roster): " + ", ".join(unmatched))


def _plain(writer, table, course) -> None:
    header = ["student_id", "name", "section"]
    for a in course:
        header += [a, f"{a} max", f"{a} late penalty", f"{a} manual pending", f"{a} status"]
    header += ["total", "max_total", "late_penalty", "manual_pending", "status"]
    writer.writerow(header)
    for t in table:
        s = t.student
        row = [_cell(s.id), _cell(s.name), _cell(s.section)]
        for a in course:
            x = t.assignments[a]
            row += [_num(x.points), _num(x.max_points), _num(x.late_penalty),
                    _num(x.pending), x.status]
        pending = sum(x.pending for x in t.assignments.values())
        late = sum(x.late_penalty for x in t.assignments.values())
        status = "manual pending" if pending else "complete"
        row += [_num(t.total), _num(t.max_total), _num(late), _num(pending), status]
        writer.writerow(row)


def _per_item(writer, rows, course, students) -> None:
    writer.writerow(PER_ITEM_HEADER)
    index = {(r["student_id"], r["assignment"], r["notebook"], r["item"]): r for r in rows}
    ids = students.ids + sorted({r["student_id"] for r in rows} - set(students.ids))
    for sid in ids:
        for assignment, notebooks in course.items():
            for nb, items in notebooks.items():
                for item, kind, max_points in items:
                    r = index.get((sid, assignment, nb, item))
                    if r is None:
                        writer.writerow([_cell(sid), assignment, nb, item, kind, "0",
                                         _num(max_points), "", "", "missing", "no", "0", "",
                                         "not submitted", ""])
                        continue
                    pending = r.get("points") is None
                    ts = r.get("timestamp")
                    writer.writerow([
                        _cell(sid), assignment, nb, item, kind,
                        _num(r.get("points")), _num(max_points), _num(r.get("auto_score")),
                        _num(r.get("manual_score")),
                        "manual pending" if pending and r.get("status") == "manual"
                        else r.get("status", ""),
                        "yes" if r.get("needs_manual_grade") or pending else "no",
                        _num(r.get("late_penalty") or 0.0),
                        ts.isoformat() if ts else "", _cell(str(r.get("message", ""))[:300]),
                        _cell(r.get("mistake") or "")])


def write(fmt: str, rows, course, students, path, *, titles: dict | None = None) -> list[str]:
    """Write ``path`` in format ``fmt`` (``canvas``, ``moodle``, ``csv``, ``per-item``);
    return notes for the person running it (pending written answers, students the LMS
    cannot match, rows that fit nowhere). ``titles`` maps an assignment to the name of
    its LMS column."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    titles = titles or {}
    table, notes = totals(rows, course, students)
    with open(Path(path), "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        if fmt == "canvas":
            _canvas(writer, table, course, titles, notes)
        elif fmt == "moodle":
            _moodle(writer, table, course, titles, notes)
        elif fmt == "csv":
            _plain(writer, table, course)
        else:
            _per_item(writer, rows, course, students)
    return notes
