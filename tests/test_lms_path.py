"""The LMS path end to end, through the command line an instructor types.

A Canvas "Download Submissions" zip (plain, late and resubmitted files, a student not on
the roster) is graded in a course directory with a roster; the Canvas export, read back
with the csv module, has every roster student with the right total (the one who submitted
nothing included). With nbgrader's timestamps and a due date in the gradebook, a late
policy costs exactly its penalty, shown in the gradebook, the reports and the feedback.
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import zipfile

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder import config, course
from autograder.cli import main as cli_main
from tests.hostile import minicourse as mc

pytestmark = pytest.mark.slow
ROSTER = """\
id,name,email,sis_id,section,lms_user_id,login
s001,Jane Doe,jane@uni.edu,1001,A,12345,jdoe
s002,Bob Smith,bob@uni.edu,1002,B,34567,bsmith
s003,Dana Lee,dana@uni.edu,1003,B,45678,dlee
"""


def _course(root, built):
    cd = root / "course"
    shutil.copytree(root / "autograder" / "source", cd / "source")
    shutil.copy(config.KIT_DIR / "nbgrader_config.py", cd / "nbgrader_config.py")
    (cd / "roster.csv").write_text(ROSTER)
    return cd


def test_canvas_download_in_canvas_gradebook_out(tmp_path, capsys):
    built = mc.build(tmp_path)
    src, stu = built[mc.NB_ID]
    cd = _course(tmp_path, built)
    first = course.fill_in_answers(stu, src, only={"relu_forward_solution"})
    members = {  # Canvas's names: <name>_[LATE_]<user id>_<file id>_<file name>
        "doejane_12345_700001_mini.ipynb": nbformat.writes(first),
        "doejane_LATE_12345_700009_mini-1.ipynb": nbformat.writes(mc.reference(src, stu)),
        "smithbob_34567_700002_mini.ipynb": nbformat.writes(stu),
        "strangerann_99999_700003_mini.ipynb": nbformat.writes(mc.reference(src, stu)),
    }
    download = tmp_path / "submissions.zip"
    with zipfile.ZipFile(download, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    assert cli_main(["autograde", "--course", str(cd), "--submissions", str(download),
                     "--roster", str(cd / "roster.csv"), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "not on roster" in printed
    decisions = (cd / "grades" / "warnings.txt").read_text()
    assert "strangerann" in decisions and "700009" in decisions
    with Gradebook(f"sqlite:///{cd / 'gradebook.db'}") as gb:
        graded = {s.student.id for s in gb.find_assignment(mc.NB_ID).submissions}
        assert graded == {"s001", "s002"}  # the late resubmission is Jane's, not a new student
        jane = {g.name: g.auto_score for g in gb.find_submission_notebook(
            mc.NB_ID, mc.NB_ID, "s001").grades}
        assert jane["relu_backward"] == 3  # the newest file was graded
        assert {s.id for s in gb.students} == {"s001", "s002", "s003"}

    out = tmp_path / "canvas.csv"
    assert cli_main(["export", "--course", str(cd), "--format", "canvas", "--out", str(out),
                     "--roster", str(cd / "roster.csv")]) == 0
    with open(out, newline="") as f:
        table = list(csv.reader(f))
    assert table[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert table[1][0].strip() == "Points Possible" and float(table[1][5]) == 7.0
    by_id = {row[1]: row for row in table[2:]}
    assert set(by_id) == {"12345", "34567", "45678"}
    assert by_id["34567"][5] == "0"  # blank, and its blank written answer scores 0
    assert by_id["45678"][5] == "0"  # never submitted: 0, and listed
    assert by_id["12345"][5] == ""  # Jane's written answer is still to grade: not a 0
    with Gradebook(f"sqlite:///{cd / 'gradebook.db'}") as gb:
        gb.find_grade("why_relu", mc.NB_ID, mc.NB_ID, "s001").manual_score = 1.0
        gb.db.commit()
    assert cli_main(["export", "--course", str(cd), "--format", "canvas", "--out", str(out),
                     "--roster", str(cd / "roster.csv")]) == 0
    with open(out, newline="") as f:
        by_id = {row[1]: row for row in list(csv.reader(f))[2:]}
    assert float(by_id["12345"][5]) == 7.0  # 6 autograded + 1 by hand


def test_a_late_policy_costs_exactly_its_penalty(tmp_path):
    built = mc.build(tmp_path)
    src, stu = built[mc.NB_ID]
    cd = _course(tmp_path, built)
    due = dt.datetime(2026, 11, 30, 12, 0, 0)
    for student, late in (("ontime", dt.timedelta(0)), ("hours", dt.timedelta(hours=3)),
                          ("seconds", dt.timedelta(seconds=2.8))):
        mc.write(cd / "submitted", student, mc.NB_ID, mc.reference(src, stu),
                 layout="nbgrader")
        (cd / "submitted" / student / mc.NB_ID / "timestamp.txt").write_text(
            (due + late).strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
    with Gradebook(f"sqlite:///{cd / 'gradebook.db'}") as gb:
        gb.update_or_create_assignment(mc.NB_ID, duedate=due)
    assert cli_main(["autograde", "--course", str(cd), "--quiet",
                     "--late-policy", "per-hour:1"]) == 0
    with Gradebook(f"sqlite:///{cd / 'gradebook.db'}") as gb:
        penalties = {s.student.id: s.notebooks[0].late_submission_penalty or 0.0
                     for s in gb.find_assignment(mc.NB_ID).submissions}
    # 1 point per started hour: 3 h late costs 3, 2.8 s late costs 1 (a started hour)
    assert penalties == {"ontime": 0.0, "hours": 3.0, "seconds": 1.0}
    with open(cd / "grades" / "summary.csv", newline="") as f:
        totals = {r["student_id"]: r["total"] for r in csv.DictReader(f)}
    assert totals == {"ontime": "6", "hours": "3", "seconds": "5"}
    page = (cd / "feedback" / "hours" / mc.NB_ID / f"{mc.NB_ID}.html").read_text()
    assert "late penalty of 3" in page
