"""nbgrader's gradebook as the system of record, on a miniature course directory, with the
gradebook on SQLite (the course's gradebook.db) and on a real PostgreSQL server.

``course-grade autograde`` run in a course directory (nbgrader's layout, submissions with
nbgrader's ``timestamp.txt``) writes the gradebook through nbgrader's API and autograded/
for the formgrader; a re-run grades only what changed; manual grades survive regrading and
reach the reports and the feedback; grading on a Dask LocalCluster gives the same
gradebook; bad input costs one readable line.
"""

from __future__ import annotations

import base64
import csv
import shutil
import sqlite3

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder import config, course
from autograder.cli import main as cli_main
from tests.hostile import minicourse as mc

pytestmark = pytest.mark.slow
STAMP = "2026-11-30 09:15:00.000000 UTC"


def _submit(cd, student, nb_id, nb, stamp=STAMP):
    mc.write(cd / "submitted", student, nb_id, nb, layout="nbgrader")
    (cd / "submitted" / student / nb_id / "timestamp.txt").write_text(stamp)


def _grade(cd, *args) -> int:
    return cli_main(["autograde", "--course", str(cd), "--quiet", *args])


def fresh_database(server_url: str, name: str) -> str:
    """A new, empty database on the test's PostgreSQL server; its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def course_dir(request, tmp_path_factory):
    """A course directory of the two-notebook mini course, graded once; its gradebook on
    SQLite (gradebook.db, nbgrader's default) or PostgreSQL (CourseDirectory.db_url)."""
    root = tmp_path_factory.mktemp(f"gradebook-{request.param}")
    built = mc.build(root, second=True)
    cd = root / "course"
    shutil.copytree(root / "autograder" / "source", cd / "source")
    shutil.copy(config.KIT_DIR / "nbgrader_config.py", cd / "nbgrader_config.py")
    db_url = f"sqlite:///{cd / 'gradebook.db'}"
    if request.param == "postgresql":
        db_url = fresh_database(request.getfixturevalue("postgres_url"), root.name.lower())
        with open(cd / "nbgrader_config.py", "a") as f:
            f.write(f"\nc.CourseDirectory.db_url = {db_url!r}\n")
    (src, stu), (src_b, stu_b) = built[mc.NB_ID], built[mc.SECOND_ID]
    ada = mc.reference(src, stu)
    ada.cells.append(nbformat.v4.new_code_cell(  # a figure of her own
        "import matplotlib.pyplot as plt\nplt.plot([0, 1], [0, 1])"))
    _submit(cd, "ada", mc.NB_ID, ada)
    _submit(cd, "ada", mc.SECOND_ID, mc.reference(src_b, stu_b))
    _submit(cd, "bob", mc.NB_ID, stu)  # blank
    _submit(cd, "cy", mc.NB_ID, course.fill_in_answers(stu, src, only={
        "relu_forward_solution"}))
    assert _grade(cd) == 0
    assert (cd / "gradebook.db").exists() == (request.param == "sqlite")
    return {"cd": cd, "src": src, "stu": stu, "src_b": src_b, "stu_b": stu_b, "db": db_url}


def _gradebook(course_dir):
    return Gradebook(course_dir["db"])


def test_the_gradebook_holds_scores_comments_and_timestamps(course_dir):
    cd = course_dir["cd"]
    with _gradebook(course_dir) as gb:
        ada = gb.find_submission_notebook(mc.NB_ID, mc.NB_ID, "ada")
        grades = {g.name: g for g in ada.grades}
        for item, points in mc.POINTS.items():
            if item == "why_relu":  # a written answer: waits for a grader
                assert grades[item].auto_score is None and grades[item].needs_manual_grade
            else:
                assert grades[item].auto_score == points and not grades[item].needs_manual_grade
        comments = {c.name: c.auto_comment for c in ada.comments}
        assert comments["relu_forward_solution"].startswith("relu_forward: 2 / 2 passed")
        bob = {g.name: g for g in gb.find_submission_notebook(mc.NB_ID, mc.NB_ID, "bob").grades}
        assert bob["why_relu"].auto_score == 0 and not bob["why_relu"].needs_manual_grade
        assert {c.name: c.auto_comment for c in gb.find_submission_notebook(
            mc.NB_ID, mc.NB_ID, "bob").comments}["why_relu"] == "No response."
        assert str(gb.find_submission(mc.NB_ID, "ada").timestamp) == "2026-11-30 09:15:00"
        cy = {g.name: g.auto_score for g in gb.find_submission_notebook(
            mc.NB_ID, mc.NB_ID, "cy").grades}
        assert (cy["relu_forward"], cy["relu_backward"]) == (2.0, 0.0)
    graded = nbformat.read(str(cd / "autograded" / "ada" / mc.NB_ID / f"{mc.NB_ID}.ipynb"), 4)
    by_gid = {course.grade_id(c): c for c in graded.cells if course.grade_id(c)}
    assert by_gid["relu_forward"].outputs[0]["text"].startswith("relu_forward: 2 / 2 points")
    assert "hidden=True" in by_gid["relu_forward"].source  # the instructor's view
    assert by_gid["why_relu"].metadata["nbgrader"]["points"] == 1
    assert (cd / "autograded" / "ada" / mc.NB_ID / "timestamp.txt").read_text() \
        .startswith("2026-11-30 09:15:00")
    figure = [o for c in graded.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "display_data"]
    assert len(figure) == 1 and base64.b64decode(figure[0].data["image/png"])[:4] == \
        b"\x89PNG"
    page = (cd / "feedback" / "ada" / mc.NB_ID / f"{mc.NB_ID}.html").read_text()
    assert "<img class='figure'" in page


def test_a_rerun_grades_only_what_changed(course_dir, capsys):
    cd = course_dir["cd"]
    capsys.readouterr()
    assert _grade(cd) == 0
    assert "Graded 0 notebooks" in capsys.readouterr().out
    src, stu = course_dir["src"], course_dir["stu"]
    _submit(cd, "cy", mc.NB_ID, mc.reference(src, stu))  # cy resubmits, all right now
    assert _grade(cd) == 0
    printed = capsys.readouterr().out
    assert "Graded 1 notebooks" in printed and "3 unchanged" in printed
    with _gradebook(course_dir) as gb:
        cy = {g.name: g.auto_score for g in gb.find_submission_notebook(
            mc.NB_ID, mc.NB_ID, "cy").grades}
    assert (cy["relu_forward"], cy["relu_backward"]) == (2.0, 3.0)


def test_scope_one_assignment_one_student(course_dir, capsys):
    cd = course_dir["cd"]
    capsys.readouterr()
    assert _grade(cd, mc.SECOND_ID, "--student", "ada", "--force") == 0
    assert "Graded 1 notebooks" in capsys.readouterr().out
    with open(cd / "grades" / "summary.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert list(rows["ada"])[1:3] == [mc.SECOND_ID, "total"]  # that assignment's totals
    assert rows["ada"]["max_total"] == "1" and rows["bob"][mc.SECOND_ID] == "0"


def test_manual_grades_survive_regrading_and_reach_reports_and_feedback(course_dir):
    cd = course_dir["cd"]
    with _gradebook(course_dir) as gb:  # as the formgrader does
        grade = gb.find_grade("why_relu", mc.NB_ID, mc.NB_ID, "ada")
        grade.manual_score = 0.5
        gb.find_comment("why_relu", mc.NB_ID, mc.NB_ID, "ada").manual_comment = \
            "Right idea; say why the gradient is zero."
        gb.db.commit()
    assert _grade(cd, mc.NB_ID, "--force") == 0
    with _gradebook(course_dir) as gb:
        assert gb.find_grade("why_relu", mc.NB_ID, mc.NB_ID, "ada").manual_score == 0.5
    with open(cd / "grades" / "grades.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["student_id"] == "ada"
                   and r["item"] == "why_relu")
    assert row["points"] == "0.5"
    assert cli_main(["feedback", "--course", str(cd)]) == 0
    page = (cd / "feedback" / "ada" / mc.NB_ID / f"{mc.NB_ID}.html").read_text()
    assert "0.5 / 1 points" in page and "say why the gradient is zero" in page
    assert "6.5 / 7" in page  # autograded 6 + manual 0.5, out of every point
    assert "put the points" not in page and "formgrader" not in page
    assert mc.MARK_SCHEME not in page and "hidden=True" not in page


def test_bad_input_costs_one_line(course_dir, tmp_path, capsys):
    cd = course_dir["cd"]
    capsys.readouterr()
    assert _grade(cd, "no_such_assignment") == 2
    assert "no assignment named no_such_assignment" in capsys.readouterr().err
    assert _grade(cd, "--db", f"sqlite:///{tmp_path}/missing/dir/gb.db") == 2
    assert "cannot be opened" in capsys.readouterr().err
    other = tmp_path / "other.db"
    Gradebook(f"sqlite:///{other}").close()  # a gradebook nbgrader made
    shutil.copy(other, tmp_path / "locked.db")
    with sqlite3.connect(other) as con:
        con.execute("UPDATE alembic_version SET version_num = 'abc123'")
    assert _grade(cd, "--db", f"sqlite:///{other}") == 2
    err = capsys.readouterr().err
    assert "nbgrader schema abc123" in err and "nbgrader db upgrade" in err
    assert len(err.strip().splitlines()) == 1
    locked = tmp_path / "locked.db"
    holder = sqlite3.connect(locked)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert _grade(cd, "--db", f"sqlite:///{locked}", "--force") == 2
    finally:
        holder.close()
    err = capsys.readouterr().err
    assert "locked" in err and len(err.strip().splitlines()) == 1
    assert cli_main(["autograde", "--course", str(tmp_path / "nowhere")]) == 2
    assert "not a course directory" in capsys.readouterr().err
    assert _grade(cd, "--db", "postgresql+psycopg2://grader:secret@127.0.0.1:1/gradebook") == 2
    err = capsys.readouterr().err
    assert "cannot use the gradebook database" in err and "secret" not in err
    assert len(err.strip().splitlines()) == 1
    assert _grade(cd, "--scheduler", "tcp://127.0.0.1:1") == 2
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler" in err and len(err.strip().splitlines()) == 1


def test_a_local_dask_cluster_gives_the_same_gradebook(course_dir, tmp_path, capsys):
    """`--cluster local:2`: two Dask worker processes grade the class; the gradebook holds
    exactly what the local pool wrote, and the summary names the workers."""
    cd = course_dir["cd"]
    db = f"sqlite:///{tmp_path / 'dask.db'}"
    capsys.readouterr()
    assert _grade(cd, "--cluster", "local:2", "--db", db, "--out", str(tmp_path / "out")) == 0
    printed = capsys.readouterr().out
    assert "Dask cluster at tcp://127.0.0.1:" in printed and printed.count(" notebooks; ") == 2

    def scores(url):
        with Gradebook(url) as gb:
            return {(s.student.id, nb.name, g.name): (g.auto_score, g.needs_manual_grade)
                    for a in gb.assignments for s in a.submissions for nb in s.notebooks
                    for g in nb.grades}

    assert scores(db) == {k: v for k, v in scores(course_dir["db"]).items()}


def test_unusable_student_ids_are_reported_and_the_rest_graded(course_dir, tmp_path, capsys):
    cd = course_dir["cd"]
    src, stu = course_dir["src"], course_dir["stu"]
    _submit(cd, "x" * 140, mc.NB_ID, mc.reference(src, stu))
    capsys.readouterr()
    try:
        assert _grade(cd) == 0
        out = capsys.readouterr().out
        assert "140 characters (the gradebook keeps at most 128)" in out
        warnings = (cd / "grades" / "warnings.txt").read_text()
        assert "x" * 140 in warnings
    finally:
        shutil.rmtree(cd / "submitted" / ("x" * 140))


def test_init_makes_a_course_directory_from_the_kit(tmp_path, capsys):
    assert cli_main(["init", str(tmp_path / "c")]) == 0
    assert (tmp_path / "c" / "nbgrader_config.py").exists()
    assert sorted(p.name for p in (tmp_path / "c" / "source").iterdir()) == \
        course.notebook_ids()
    assert cli_main(["init", str(tmp_path / "c")]) == 2  # never overwrites a course
    assert "already has a source/ folder" in capsys.readouterr().err
