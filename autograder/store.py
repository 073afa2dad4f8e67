"""The results store: nbgrader's gradebook, written through nbgrader's own API and models.

nbgrader's gradebook (any SQLAlchemy URL: a course's SQLite ``gradebook.db`` by default,
PostgreSQL for a course graded on many machines) is the system of record. For each graded
(student, notebook) :meth:`Store.commit` writes, in one transaction:

* the student, the submitted assignment (with nbgrader's submission timestamp) and notebook;
* each autograded test cell's ``auto_score``; each written answer ``needs_manual_grade``
  (a blank one scores 0 automatically and says "No response.", as nbgrader does);
* each exercise's check messages as its solution cell's ``auto_comment`` (nbgrader keeps
  comments on solution cells) and the notebook's late penalty;
* one row of our own table, ``course_grade_result``: the submission's sha256 and the course
  version it was graded under (a re-run skips what is unchanged), the per-item statuses,
  messages, mistake ids and titles and check seconds (what the CSVs, LMS exports and the
  mistake report show; a JSON list, so older gradebooks stay readable) and the notebook's
  log line.

A failed item's line of the auto comment ends with ``[mistake: <check>/<id>]``: a grader in
the formgrader sees what the report counts (the student already read the same hint).

Manual scores and comments typed in the formgrader are never touched. Only one process
(the orchestrator) writes.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    insert,
    select,
)

RESULTS = MetaData()
RESULT_TABLE = Table(
    "course_grade_result", RESULTS,
    Column("student_id", String(128), primary_key=True),
    Column("assignment", String(128), primary_key=True),
    Column("notebook", String(128), primary_key=True),
    Column("sha256", String(64)),
    Column("course_version", String(32)),
    Column("graded_at", DateTime()),
    Column("timestamp", DateTime()),
    Column("points", Float()),
    Column("status", String(32)),
    Column("rows", Text()),
    Column("log", Text()),
)
NO_RESPONSE = "No response."


class StoreError(RuntimeError):
    """The gradebook cannot be used; ``str()`` is one line saying why and what to do."""


@dataclass
class Stored:
    """One graded (student, notebook) as the store holds it."""

    student_id: str
    assignment: str
    notebook: str
    sha256: str | None
    course_version: str | None
    timestamp: dt.datetime | None
    rows: list[dict]
    log: dict


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


class Store:
    """nbgrader's gradebook at ``db_url`` plus the ``course_grade_result`` table."""

    def __init__(self, db_url: str, course_id: str = "default_course"):
        from nbgrader.api import Gradebook
        from sqlalchemy.exc import SQLAlchemyError

        self.db_url = db_url
        self._students: set[str] | None = None
        _alembic_on_path()
        try:
            self.gb = Gradebook(db_url, course_id=course_id)
        except SQLAlchemyError as exc:
            raise StoreError(f"the gradebook {_safe_url(db_url)} cannot be opened "
                             f"({_one_line(exc)})") from None
        try:
            self._check_schema()
            RESULTS.create_all(self.gb.engine)
        except SQLAlchemyError as exc:
            self.gb.close()
            raise StoreError(f"the gradebook {_safe_url(db_url)} cannot be used "
                             f"({_one_line(exc)})") from None
        except StoreError:
            self.gb.close()
            raise

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.gb.close()

    def _check_schema(self) -> None:
        from sqlalchemy import text

        found = self.gb.db.execute(text("SELECT version_num FROM alembic_version")).scalar()
        expected = _schema_head()
        if found != expected:
            raise StoreError(
                f"the gradebook {_safe_url(self.db_url)} has nbgrader schema {found}, this "
                f"nbgrader uses {expected}: back it up, then run `nbgrader db upgrade` with "
                "the nbgrader that made it or this one")

    # -- the assignments' structure
    def ensure_notebook(self, assignment: str, notebook: str, source_path, nbconfig,
                        duedate=None) -> None:
        """The assignment and notebook exist in the gradebook with the source's grade,
        solution and source cells, as ``nbgrader generate_assignment`` records them (it runs
        nbgrader's own ClearSolutions, ComputeChecksums and SaveCells on the source)."""
        from nbgrader.api import MissingEntry

        try:
            assignment_row = self.gb.find_assignment(assignment)
        except MissingEntry:
            assignment_row = self.gb.add_assignment(assignment, duedate=duedate)
        if duedate is not None and assignment_row.duedate is None:
            self.gb.update_or_create_assignment(assignment, duedate=duedate)
        try:
            nb = self.gb.find_notebook(notebook, assignment)
            if nb.grade_cells:
                return
        except MissingEntry:
            pass
        self._save_cells(assignment, notebook, source_path, nbconfig)

    def _save_cells(self, assignment, notebook, source_path, nbconfig) -> None:
        import nbformat
        from nbgrader.preprocessors import ClearSolutions, ComputeChecksums, SaveCells

        nb = nbformat.read(str(source_path), as_version=4)
        resources = {"nbgrader": {"notebook": notebook, "assignment": assignment,
                                  "db_url": self.db_url}}
        try:
            for step in (ClearSolutions(config=nbconfig), ComputeChecksums(config=nbconfig),
                         SaveCells(config=nbconfig)):
                nb, resources = step.preprocess(nb, resources)
        except RuntimeError as exc:  # cells added or removed after students submitted
            raise StoreError(f"{assignment}/{notebook}: {exc}") from None

    def duedate(self, assignment: str) -> dt.datetime | None:
        from nbgrader.api import MissingEntry

        try:
            return self.gb.find_assignment(assignment).duedate
        except MissingEntry:
            return None

    # -- results
    def keys(self) -> dict[tuple[str, str, str], tuple[str | None, str | None]]:
        """``{(student, assignment, notebook): (sha256, course_version)}`` of every result."""
        t = RESULT_TABLE
        query = select(t.c.student_id, t.c.assignment, t.c.notebook, t.c.sha256,
                       t.c.course_version)
        return {(r[0], r[1], r[2]): (r[3], r[4]) for r in self.gb.db.execute(query)}

    def commit(self, result, assignment: str, spec, *, sha256: str | None,
               course_version: str, timestamp: dt.datetime | None,
               late_penalty: float = 0.0, answers_blank: set[str] = frozenset()) -> None:
        """Write one graded notebook, all of it or nothing (see the module docstring)."""
        from sqlalchemy.exc import SQLAlchemyError

        gb, student, notebook = self.gb, result.student_id, result.notebook
        try:
            submission = self._submission(assignment, student, timestamp)
            nb = next(n for n in submission.notebooks if n.name == notebook)
            grades = {g.name: g for g in nb.grades}
            comments = {c.name: c for c in nb.comments}
            messages: dict[str, list[str]] = {}
            for row in result.rows:
                grade = grades.get(row.item)
                if grade is None:
                    continue
                if row.status == "manual":
                    grade.auto_score = None
                    grade.needs_manual_grade = True
                else:
                    grade.auto_score = float(row.points or 0.0)
                    # as nbgrader: a manual score given before asks to be looked at again
                    grade.needs_manual_grade = grade.manual_score is not None
                item = next((i for i in spec.items if i["grade_id"] == row.item), None)
                for key in (item or {}).get("exercises", []):
                    if item["kind"] == "auto":
                        messages.setdefault(key, []).append(
                            f"{row.item}: {_points(row.points)} / {_points(row.max_points)} "
                            f"{row.status}" + _failure(row))
            keys = {c.key: c.grade_id for c in spec.cells if c.grade_id}
            for key, lines in messages.items():
                comment = comments.get(keys.get(key, key))
                if comment is not None:
                    comment.auto_comment = "\n".join(lines)
            for gid in answers_blank:
                if gid in comments:
                    comments[gid].auto_comment = NO_RESPONSE
            nb.late_submission_penalty = late_penalty or None
            t = RESULT_TABLE
            gb.db.execute(delete(t).where(and_(t.c.student_id == student,
                                               t.c.assignment == assignment,
                                               t.c.notebook == notebook)))
            gb.db.execute(insert(t).values(
                student_id=student, assignment=assignment, notebook=notebook, sha256=sha256,
                course_version=course_version, graded_at=dt.datetime.utcnow(),
                timestamp=_naive_utc(timestamp), points=result.points,
                status=result.log.get("status"),
                rows=json.dumps([_plain_row(r) for r in result.rows]),
                log=json.dumps(result.log, default=str)))
            gb.db.commit()
        except SQLAlchemyError as exc:
            gb.db.rollback()
            self._students = None
            raise StoreError(f"could not write {student}/{notebook} to the gradebook "
                             f"({_one_line(exc)})") from None

    def _submission(self, assignment: str, student: str, timestamp):
        """The student's submitted assignment, created with every notebook, grade and comment
        row of the assignment (as ``Gradebook.add_submission`` makes them), but not committed:
        it is written in the same transaction as the grades, so a submission is never seen
        half made (and one commit per notebook keeps SQLite's cost per notebook low)."""
        from nbgrader import api, utils

        gb = self.gb
        if self._students is None:
            self._students = {s.id for s in gb.students}
        if student not in self._students:
            gb.db.add(api.Student(id=student))
            self._students.add(student)
        stamp = utils.parse_utc(timestamp) if timestamp is not None else None
        try:
            submission = gb.find_submission(assignment, student)
        except api.MissingEntry:
            with gb.db.no_autoflush:
                submission = api.SubmittedAssignment(
                    assignment=gb.find_assignment(assignment),
                    student=gb.db.get(api.Student, student), timestamp=stamp)
                for notebook in submission.assignment.notebooks:
                    nb = api.SubmittedNotebook(notebook=notebook, assignment=submission)
                    for cell in notebook.grade_cells:
                        api.Grade(cell_id=cell.id, notebook=nb)
                    for cell in notebook.solution_cells:
                        api.Comment(cell_id=cell.id, notebook=nb)
                    for cell in notebook.task_cells:
                        api.Comment(cell_id=cell.id, notebook=nb)
                        api.Grade(cell_id=cell.id, notebook=nb)
                gb.db.add(submission)
                gb.db.flush()
        else:
            if stamp is not None:
                submission.timestamp = stamp
        return submission

    def rollback(self) -> None:
        """Forget a commit interrupted half way (nothing of it reached the database)."""
        self.gb.db.rollback()
        self._students = None

    def results(self) -> list[Stored]:
        t = RESULT_TABLE
        out = []
        for r in self.gb.db.execute(select(t)).mappings():
            out.append(Stored(r["student_id"], r["assignment"], r["notebook"], r["sha256"],
                              r["course_version"], r["timestamp"], json.loads(r["rows"]),
                              json.loads(r["log"] or "{}")))
        return out

    def scores(self) -> dict[tuple[str, str, str, str], dict]:
        """``{(student, assignment, notebook, item): {auto_score, manual_score, extra_credit,
        needs_manual_grade, late_penalty, manual_comment, timestamp}}`` from nbgrader's
        tables for every submitted notebook: what the formgrader shows, manual grades
        included (two queries, however large the class)."""
        from nbgrader.api import (
            Assignment,
            BaseCell,
            Comment,
            Grade,
            Notebook,
            SubmittedAssignment,
            SubmittedNotebook,
        )

        def joined(*columns, table):
            return (select(SubmittedAssignment.student_id, Assignment.name, Notebook.name,
                           BaseCell.name, *columns)
                    .join(SubmittedNotebook, table.notebook_id == SubmittedNotebook.id)
                    .join(SubmittedAssignment,
                          SubmittedNotebook.assignment_id == SubmittedAssignment.id)
                    .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
                    .join(Notebook, SubmittedNotebook.notebook_id == Notebook.id)
                    .join(BaseCell, table.cell_id == BaseCell.id))

        comments = {tuple(r[:4]): r[4] for r in self.gb.db.execute(
            joined(Comment.manual_comment, table=Comment))}
        out = {}
        query = joined(Grade.auto_score, Grade.manual_score, Grade.extra_credit,
                       Grade.needs_manual_grade, SubmittedNotebook.late_submission_penalty,
                       SubmittedAssignment.timestamp, table=Grade)
        for r in self.gb.db.execute(query):
            key = tuple(r[:4])
            out[key] = {"auto_score": r[4], "manual_score": r[5], "extra_credit": r[6],
                        "needs_manual_grade": bool(r[7]), "late_penalty": r[8] or 0.0,
                        "timestamp": r[9], "manual_comment": comments.get(key)}
        return out

    def students(self) -> dict[str, dict]:
        return {s.id: {"first_name": s.first_name, "last_name": s.last_name,
                       "email": s.email, "lms_user_id": s.lms_user_id}
                for s in self.gb.students}


def _alembic_on_path() -> None:
    """nbgrader creates a new gradebook by running the ``alembic`` command: it must be found
    even when the kit's environment is not activated (``.venv/bin/course-grade``)."""
    import os
    import sys

    here = os.path.dirname(sys.executable)
    path = os.environ.get("PATH", "")
    if here not in path.split(os.pathsep):
        os.environ["PATH"] = here + (os.pathsep + path if path else "")


def _schema_head() -> str:
    """The gradebook schema this nbgrader writes (its newest alembic revision), read in
    process (nbgrader's own helper starts a subprocess)."""
    from pathlib import Path

    import nbgrader
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(nbgrader.__file__).parent / "alembic"))
    return ScriptDirectory.from_config(cfg).get_current_head()


def _points(x) -> str:
    return "-" if x is None else f"{x:g}"


def _failure(row) -> str:
    """What a comment line says after a failed item's status: its message and mistake id."""
    if row.status == "passed":
        return ""
    mistake = getattr(row, "mistake", None)
    return f": {row.message}" + (f" [mistake: {mistake}]" if mistake else "")


def _plain_row(row) -> dict:
    """A row as ``course_grade_result.rows`` holds it. ``mistake``, ``mistake_title`` and
    ``check_seconds`` came later: rows written before lack them (read them with ``.get``)."""
    return {"item": row.item, "points": row.points, "max_points": row.max_points,
            "status": row.status, "message": row.message, "detail": row.detail,
            "mistake": getattr(row, "mistake", None),
            "mistake_title": getattr(row, "mistake_title", None),
            "check_seconds": getattr(row, "check_seconds", None)}


def _naive_utc(when: dt.datetime | None) -> dt.datetime | None:
    """nbgrader stores UTC times without a zone."""
    if when is None or when.tzinfo is None:
        return when
    return when.astimezone(dt.UTC).replace(tzinfo=None)


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - it could hold a password we cannot find
        return "<unparseable URL>"
