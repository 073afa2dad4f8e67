"""The mistake report's counting, on stored rows as the gradebook returns them (fast: no
grading; ``tests/test_mistake_report.py`` grades a real class)."""

from __future__ import annotations

import csv

import pytest
from nbgrader.api import MissingEntry

from autograder import mistakes
from autograder.store import Stored


def _row(item, status, mistake=None, seconds=0.1, **extra):
    row = {"item": item, "points": 1.0 if status == "passed" else 0.0, "max_points": 1.0,
           "status": status, "message": f"{item}: {status}",
           "detail": f"{item}: {status}\nHint: =SUM(A1)", **extra}
    if mistake is not None or "old" not in extra:  # rows written before ids: no such keys
        row.update(mistake=mistake, mistake_title=mistake and f"title of {mistake}",
                   check_seconds=seconds)
    row.pop("old", None)
    return row


class _Db:
    """What :func:`mistakes.collect` uses of a Store: ``results()`` and ``gb.find_notebook``."""

    def __init__(self, stored):
        self.stored, self.gb = stored, self

    def results(self):
        return self.stored

    def find_notebook(self, notebook, assignment):
        raise MissingEntry()


def _stored(student, rows, status="graded", assignment="a1"):
    return Stored(student, assignment, assignment, None, None, None, rows, {"status": status})


CLASS = [
    _stored("s1", [_row("easy", "passed"), _row("hard", "failed", "c/no-1-over-N", 0.2),
                   _row("why", "manual")]),
    _stored("s2", [_row("easy", "passed"), _row("hard", "failed", "c/no-1-over-N", 0.4),
                   _row("why", "manual")]),
    _stored("s3", [_row("easy", "failed", "e/wrong-value"), _row("hard", "timeout",
                                                                 "c/timed-out", 0.6),
                   _row("why", "missing", "why/not-attempted")]),
    _stored("s4", [_row("easy", "failed", old=True), _row("hard", "passed", seconds=None),
                   _row("why", "manual")]),
    _stored("s5", [_row("easy", "missing", "e/not-attempted"),
                   _row("hard", "missing", "c/not-attempted"), _row("why", "missing")],
            status="not submitted"),
]


def test_counts_shares_order_and_old_rows():
    report = mistakes.collect(_Db(CLASS))
    hard, easy = report.items  # hardest first: hard passed 1 of 4, easy 2 of 4 (tie broken
    assert (hard.item, easy.item) == ("hard", "easy")  # by failures: 3 against 2)
    assert (hard.submitted, hard.passed, easy.submitted, easy.passed) == (4, 1, 4, 2)
    assert [(m.id, m.count) for m in hard.ranked()] == [("c/no-1-over-N", 2),
                                                        ("c/timed-out", 1)]
    assert hard.share(hard.ranked()[0]) == 0.5
    assert hard.median_seconds == pytest.approx(0.4)  # s4's row has no time: not counted
    assert sorted(m.id for m in easy.ranked()) == ["(none)", "e/wrong-value"]
    assert easy.mistakes["(none)"].title == mistakes.UNCLASSIFIED[1]
    assert report.students == 4 and report.written == {"a1": ["why"]}


def test_csv_escapes_student_text_and_names_only_when_asked(tmp_path):
    report = mistakes.collect(_Db(CLASS))
    mistakes.write_csv(tmp_path / "m.csv", report)
    mistakes.write_csv(tmp_path / "named.csv", report, names=True)
    with open(tmp_path / "m.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert "students" not in rows[0] and not any("s1" in v for r in rows for v in r.values())
    assert all(not r["example"].startswith("=") for r in rows)
    with open(tmp_path / "named.csv", newline="") as f:
        named = {r["mistake"]: r["students"] for r in csv.DictReader(f)}
    assert named["c/no-1-over-N"] == "s1 s2"


def test_nothing_graded_is_one_line():
    with pytest.raises(mistakes.ReportError, match="no graded notebooks"):
        mistakes.collect(_Db([CLASS[-1]]))  # only a student who submitted nothing
    with pytest.raises(mistakes.ReportError, match="nothing graded for a9"):
        mistakes.collect(_Db(CLASS), ["a9"])


def test_a_mistake_crosses_the_dask_wire_and_reaches_the_stored_row():
    """On a cluster each result travels as plain data (autograder.cluster) before the
    orchestrator commits it; the report then reads only the gradebook. The mistake, its
    title and the check time must survive the trip into the stored row."""
    from autograder import cluster, grade, store

    row = grade.Row("s1", "nb", "hard", 0.0, 1.0, "failed", "hard: not right yet",
                    "hard: not right yet\nHint: average", "c/no-1-over-N",
                    "not averaged over N", 0.125)
    back = cluster.result_from_plain(cluster.result_to_plain(
        grade.NotebookResult("s1", "nb", [row], {"status": "graded"})))
    assert back.rows == [row]
    plain = store._plain_row(back.rows[0])
    assert (plain["mistake"], plain["mistake_title"], plain["check_seconds"]) == \
        ("c/no-1-over-N", "not averaged over N", 0.125)
    assert store._failure(row) == ": hard: not right yet [mistake: c/no-1-over-N]"
