"""Grade files for Canvas, Moodle and people (export.py): headers column by column against
the documented formats, every roster student present, pending written answers never
silently 0, and a Canvas round trip through the csv module."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

import pytest

from autograder import export
from autograder.roster import Roster, Student

COURSE = {
    "01_knn": {"01_knn": [("knn_distances", "auto", 3.0), ("knn_predict", "auto", 2.0),
                          ("knn_written", "manual", 1.0)]},
    "02_linear_classifiers": {"02_linear_classifiers": [("svm_loss", "auto", 4.0),
                                                        ("why_margin", "manual", 2.0)]},
}
ROSTER = Roster([
    Student("s001", "Jane Doe", "jane@uni.edu", "1001", "A", "12345", "jdoe"),
    Student("s002", "Ann O'Hara", "ann@uni.edu", "1002", "A", "23456", "aohara"),
    Student("s003", "Bob Smith", "bob@uni.edu", "1003", "B", "34567", "bsmith"),
    Student("s004", "=cmd|'/C.calc'!A0", "", "", "B", "45678", "@evil"),
])
WHEN = datetime(2026, 3, 2, 10, tzinfo=UTC)


def _row(student, assignment, item, kind, max_points, auto=None, manual=None, status="passed",
         penalty=0.0, message="", mistake=None):
    points = manual if manual is not None else auto
    return {"student_id": student, "assignment": assignment, "notebook": assignment,
            "item": item, "kind": kind, "max_points": max_points, "auto_score": auto,
            "manual_score": manual, "points": points, "status": status, "message": message,
            "needs_manual_grade": kind == "manual" and manual is None, "timestamp": WHEN,
            "late_penalty": penalty, "mistake": mistake}


ROWS = [
    _row("s001", "01_knn", "knn_distances", "auto", 3.0, 3.0, penalty=0.5),
    _row("s001", "01_knn", "knn_predict", "auto", 2.0, 1.0, status="failed", penalty=0.5,
         mistake="knn_predict/ties-to-larger"),
    _row("s001", "01_knn", "knn_written", "manual", 1.0, manual=1.0, status="manual",
         penalty=0.5),
    _row("s001", "02_linear_classifiers", "svm_loss", "auto", 4.0, 4.0),
    _row("s001", "02_linear_classifiers", "why_margin", "manual", 2.0, manual=2.0,
         status="manual"),
    _row("s002", "01_knn", "knn_distances", "auto", 3.0, 0.0, status="error"),
    _row("s002", "01_knn", "knn_predict", "auto", 2.0, 0.0, status="timeout"),
    _row("s002", "01_knn", "knn_written", "manual", 1.0, manual=0.5, status="manual"),
    _row("s002", "02_linear_classifiers", "svm_loss", "auto", 4.0, 2.0, status="failed"),
    _row("s002", "02_linear_classifiers", "why_margin", "manual", 2.0, status="manual"),
    _row("s004", "01_knn", "knn_distances", "auto", 3.0, 3.0),
    _row("s004", "01_knn", "knn_predict", "auto", 2.0, 2.0,
         message='=HYPERLINK("http://x","click")'),
    _row("s004", "01_knn", "knn_written", "manual", 1.0, manual=1.0, status="manual"),
    _row("zed", "01_knn", "knn_distances", "auto", 3.0, 3.0),  # not on the roster
]
# Per student: 01_knn, 02_linear_classifiers (None: a written answer still to grade)
EXPECTED = {"s001": (4.5, 6.0), "s002": (0.5, None), "s003": (0.0, 0.0), "s004": (6.0, 0.0)}


def _read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_canvas_csv_has_canvas_s_own_header_and_points_possible_row(tmp_path):
    path = tmp_path / "canvas.csv"
    notes = export.write("canvas", ROWS, COURSE, ROSTER, path,
                         titles={"01_knn": "k-NN (4242)"})
    table = _read(path)
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                        "k-NN (4242)", "02_linear_classifiers"]
    assert table[1] == ["    Points Possible", "", "", "", "", "6", "6"]
    assert table[2] == ["Doe, Jane", "12345", "1001", "jdoe", "A", "4.5", "6"]
    assert table[5][0] == "'=cmd|'/C.calc'!A0" and table[5][3] == "'@evil"
    assert len(table) == 2 + len(ROSTER)
    text = " ".join(notes)
    assert "s002 (02_linear_classifiers: 02_linear_classifiers/why_margin)" in text
    assert "not on the roster" in text and "zed" in text


def test_canvas_round_trip_finds_every_roster_student_with_the_right_total(tmp_path):
    path = tmp_path / "canvas.csv"
    export.write("canvas", ROWS, COURSE, ROSTER, path)
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["Student"] != "    Points Possible"]
    by_id = {r["ID"]: r for r in rows}
    assert sorted(by_id) == sorted(s.lms_user_id for s in ROSTER)
    for s in ROSTER:
        got = by_id[s.lms_user_id]
        for assignment, expected in zip(COURSE, EXPECTED[s.id]):
            cell = got[assignment]
            assert (None if cell == "" else float(cell)) == expected, (s.id, assignment)


def test_moodle_csv_has_moodle_s_export_columns(tmp_path):
    path = tmp_path / "moodle.csv"
    notes = export.write("moodle", ROWS, COURSE, ROSTER, path)
    table = _read(path)
    assert table[0] == ["First name", "Last name", "ID number", "Email address",
                        "Assignment: 01_knn (Real)", "Assignment: 02_linear_classifiers (Real)"]
    assert table[1] == ["Jane", "Doe", "1001", "jane@uni.edu", "4.5", "6"]
    assert table[2][4:] == ["0.5", ""]  # pending: empty, not 0
    assert table[3][4:] == ["0", "0"]  # nothing submitted: 0
    assert [r[3] for r in table[1:]] == [s.email for s in ROSTER]
    assert "Moodle cannot match these students (no email or sis_id on the roster): s004" \
        in notes


def test_plain_csv_shows_totals_over_all_points_late_penalties_and_pending(tmp_path):
    path = tmp_path / "grades.csv"
    export.write("csv", ROWS, COURSE, ROSTER, path)
    table = _read(path)
    assert table[0] == [
        "student_id", "name", "section",
        "01_knn", "01_knn max", "01_knn late penalty", "01_knn manual pending", "01_knn status",
        "02_linear_classifiers", "02_linear_classifiers max",
        "02_linear_classifiers late penalty", "02_linear_classifiers manual pending",
        "02_linear_classifiers status",
        "total", "max_total", "late_penalty", "manual_pending", "status"]
    rows = {r[0]: dict(zip(table[0], r)) for r in table[1:]}
    assert list(rows) == ROSTER.ids
    jane, ann, bob = rows["s001"], rows["s002"], rows["s003"]
    assert (jane["01_knn"], jane["01_knn max"], jane["01_knn late penalty"]) == ("4.5", "6", "0.5")
    assert (jane["total"], jane["max_total"], jane["status"]) == ("10.5", "12", "complete")
    assert (ann["02_linear_classifiers"], ann["02_linear_classifiers manual pending"],
            ann["02_linear_classifiers status"], ann["status"]) == \
        ("2", "2", "manual pending", "manual pending")
    assert (bob["01_knn status"], bob["total"]) == ("missing", "0")


def test_per_item_csv_lists_every_item_of_every_roster_student(tmp_path):
    path = tmp_path / "items.csv"
    export.write("per-item", ROWS, COURSE, ROSTER, path)
    table = _read(path)
    assert table[0] == ["student_id", "assignment", "notebook", "item", "kind", "points",
                        "max_points", "auto_score", "manual_score", "status",
                        "needs_manual_grade", "notebook_late_penalty", "timestamp", "message",
                        "mistake"]
    items = sum(len(i) for nbs in COURSE.values() for i in nbs.values())
    assert len(table) == 1 + items * (len(ROSTER) + 1)  # + zed, who has grades
    rows = {(r[0], r[3]): dict(zip(table[0], r)) for r in table[1:]}
    pending = rows[("s002", "why_margin")]
    assert (pending["points"], pending["status"], pending["needs_manual_grade"]) == \
        ("", "manual pending", "yes")
    missing = rows[("s003", "svm_loss")]
    assert (missing["points"], missing["status"], missing["message"]) == \
        ("0", "missing", "not submitted")
    assert rows[("s001", "knn_predict")]["notebook_late_penalty"] == "0.5"
    assert rows[("s001", "knn_predict")]["timestamp"] == "2026-03-02T10:00:00+00:00"
    assert rows[("s004", "knn_predict")]["message"].startswith("'=HYPERLINK")
    assert rows[("s001", "knn_predict")]["mistake"] == "knn_predict/ties-to-larger"
    assert rows[("s001", "knn_distances")]["mistake"] == missing["mistake"] == ""


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="unknown export format 'blackboard'"):
        export.write("blackboard", [], COURSE, ROSTER, "/nonexistent/x.csv")


def test_students_seen_stand_in_for_a_roster(tmp_path):
    path = tmp_path / "canvas.csv"
    notes = export.write("canvas", ROWS, COURSE,
                         Roster.from_ids(r["student_id"] for r in ROWS), path)
    assert [r[0] for r in _read(path)[2:]] == ["s001", "s002", "s004", "zed"]
    assert any("Canvas cannot match these students" in n for n in notes)


def test_adapters_turn_the_graders_rows_and_specs_into_export_input(tmp_path):
    from types import SimpleNamespace

    specs = {"01_knn": SimpleNamespace(items=[
        {"grade_id": "knn_distances", "kind": "auto", "points": 3},
        {"grade_id": "knn_predict", "kind": "auto", "points": 2},
        {"grade_id": "knn_written", "kind": "manual", "points": 1}])}
    course = export.course_from_specs(specs)
    assert course == {"01_knn": {"01_knn": COURSE["01_knn"]["01_knn"]}}
    graded = [SimpleNamespace(student_id="s001", notebook="01_knn", item=i, points=p,
                              max_points=m, status=st, message="", assignment="01_knn",
                              kind=k, late_penalty=0.5)
              for i, p, m, st, k in (("knn_distances", 3.0, 3.0, "passed", "auto"),
                                     ("knn_predict", 1.0, 2.0, "failed", "auto"),
                                     ("knn_written", None, 1.0, "manual", "manual"))]
    graded += [SimpleNamespace(student_id="s003", notebook="01_knn", item=i, points=0.0,
                               max_points=m, status="missing", message="not submitted",
                               assignment="01_knn", kind=k, late_penalty=0.0)
               for i, k, m in course["01_knn"]["01_knn"]]
    rows = export.rows_from_graded(graded)
    assert rows[2]["needs_manual_grade"] and rows[2]["points"] is None
    path = tmp_path / "grades.csv"
    export.write("csv", rows, course, ROSTER, path)
    table = {r[0]: r for r in _read(path)[1:]}
    assert table["s001"][3:8] == ["3.5", "6", "0.5", "1", "manual pending"]
    assert table["s003"][3:8] == ["0", "6", "0", "0", "missing"]
