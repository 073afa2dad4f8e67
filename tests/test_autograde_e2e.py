"""``course-grade autograde`` end to end: submissions in, gradebook, feedback and log out.

On a miniature course (two notebooks, real ReLU checks, a written answer, an
``autograde-skip`` cell that would break every item if it ran) and on every notebook of
the real course, through the command line.
"""

import csv
import html
import json
import os
import subprocess
import sys

import nbformat
import pytest

from autograder import config, course
from autograder.cli import main as cli_main
from tests.hostile import minicourse as mc

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A class of four in three layouts, graded once through the CLI."""
    root = tmp_path_factory.mktemp("course")
    built = mc.build(root, second=True)
    (src, stu), (src_b, stu_b) = built[mc.NB_ID], built[mc.SECOND_ID]
    subs, out = root / "submissions", root / "out"
    mc.write(subs, "ada", mc.NB_ID, mc.reference(src, stu))
    mc.write(subs, "ada", mc.SECOND_ID, mc.reference(src_b, stu_b))
    mc.write(subs, "bob", mc.NB_ID, stu, layout="flat")  # blank, LMS-style file name
    mc.write(subs, "bob", mc.SECOND_ID, mc.reference(src_b, stu_b), layout="flat")
    partly = course.fill_in_answers(stu, src, only={"relu_forward_solution", "why_relu"})
    for cell in partly.cells:  # a written answer with markup in it
        if course.grade_id(cell) == "why_relu":
            cell.source = "Flat <script>alert('x')</script> region."
    mc.write(subs, "cy", mc.NB_ID, partly, layout="nbgrader")  # nbgrader's own layout
    mc.write(subs, "dee", mc.SECOND_ID, stu_b)  # did not submit mini
    (subs / "ada" / "notes.txt").write_text("not a notebook")
    code = cli_main(["autograde", str(subs), "--out", str(out), "--workers", "2",
                     "--timeout-cell", "20", "--quiet", "--source",
                     str(root / "autograder" / "source")])
    return {"code": code, "out": out, "root": root, "src": src}


def _grades(out):
    with open(out / "grades.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_gradebook_has_one_row_per_student_notebook_and_item(graded, capsys):
    assert graded["code"] == 0
    out = graded["out"]
    with open(out / "grades.csv", newline="") as f:
        assert next(csv.reader(f)) == ["student_id", "notebook", "item", "points",
                                       "max_points", "status", "message", "mistake"]
    rows = _grades(out)
    got = {(r["student_id"], r["notebook"], r["item"]): (r["points"], r["status"]) for r in rows}
    assert len(rows) == len(got) == 4 * (4 + 1)  # 4 students x (4 items in mini + 1 in mini_b)
    for item, pts in mc.POINTS.items():
        expected = ("", "manual") if item == "why_relu" else (f"{pts:g}", "passed")
        assert got[("ada", "mini", item)] == expected
    assert got[("ada", "mini_b", "relu_masked_b")] == ("1", "passed")
    assert {got[("bob", "mini", i)] for i in ("relu_forward", "relu_backward", "relu_masked")} \
        == {("0", "failed")}
    assert got[("bob", "mini_b", "relu_masked_b")] == ("1", "passed")
    assert got[("cy", "mini", "relu_forward")] == ("2", "passed")
    assert got[("cy", "mini", "relu_backward")] == ("0", "failed")
    assert got[("cy", "mini", "why_relu")] == ("", "manual")
    assert got[("bob", "mini", "why_relu")] == ("0", "missing")  # blank: 0, as nbgrader does
    assert {got[("dee", "mini", i)] for i in mc.POINTS} == {("0", "missing")}
    assert got[("cy", "mini_b", "relu_masked_b")] == ("0", "missing")
    assert all(r["max_points"] == f"{mc.POINTS.get(r['item'], 1.0):g}" for r in rows)
    blank_msg = next(r["message"] for r in rows if r["student_id"] == "bob"
                     and r["item"] == "relu_masked")
    assert "relu_masked still raises NotImplementedError" in blank_msg
    manual_msg = next(r["message"] for r in rows if r["status"] == "manual")
    assert "manual grading" in manual_msg


def test_summary_has_totals_per_notebook_and_overall(graded):
    with open(graded["out"] / "summary.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert list(rows["ada"]) == ["student_id", "mini", "mini_b", "total", "max_total",
                                 "max_auto", "written_pending"]
    assert (rows["ada"]["mini"], rows["ada"]["mini_b"], rows["ada"]["total"]) == ("6", "1", "7")
    assert (rows["bob"]["total"], rows["cy"]["total"], rows["dee"]["total"]) == ("1", "2", "0")
    # every point, the written answer's included; the autograded part beside it
    assert {(r["max_total"], r["max_auto"]) for r in rows.values()} == {("8", "7")}
    # ada and cy wrote an answer that waits for a grader; bob's was blank (scored 0)
    assert [rows[s]["written_pending"] for s in ("ada", "bob", "cy", "dee")] == [
        "1", "0", "1", "0"]


def test_log_has_one_line_per_notebook_with_timings_and_isolation(graded):
    lines = [json.loads(x) for x in (graded["out"] / "log.jsonl").read_text().splitlines()]
    # one line per notebook graded (dee/mini and cy/mini_b were not submitted)
    assert sorted((x["student_id"], x["notebook"]) for x in lines) == sorted(
        (s, nb) for s in ("ada", "bob", "cy", "dee") for nb in ("mini", "mini_b")
        if (s, nb) not in {("dee", "mini"), ("cy", "mini_b")})
    for entry in lines:
        if entry["notebook"] == "mini_b" and entry["status"] == "graded":
            assert "error" not in entry["cells"], entry  # its data probe cell passed
        assert entry["status"] == "graded", entry
        assert entry["seconds"]["total"] > 0 and entry["cells"]["to_run"] > 0
        assert entry["isolation"]["measured"] and entry["isolation"]["separate_process"]
        assert entry["isolation"]["memory_limit_mb"] == 2048


def test_feedback_shows_verdicts_but_never_hidden_tests_or_solutions(graded):
    out = graded["out"]
    files = sorted(p.relative_to(out / "feedback").as_posix()
                   for p in (out / "feedback").rglob("*.html"))
    # nbgrader's layout, feedback/<student>/<assignment>/<notebook>.html (release_feedback)
    assert files == ["ada/mini/mini.html", "ada/mini_b/mini_b.html", "bob/mini/mini.html",
                     "bob/mini_b/mini_b.html", "cy/mini/mini.html", "dee/mini_b/mini_b.html"]
    for path in (out / "feedback").rglob("*.html"):
        page = path.read_text()
        assert "BEGIN HIDDEN" not in page and "hidden=True" not in page
        assert mc.MARK_SCHEME not in page
    blank = (out / "feedback" / "bob" / "mini" / "mini.html").read_text()
    assert mc.SOLUTION_LINE not in blank
    assert "relu_forward still raises NotImplementedError" in blank
    assert "0 / 2 points" in blank
    assert html.escape('CHECKS["relu_forward"](relu_forward)') in blank
    cy = (out / "feedback" / "cy" / "mini" / "mini.html").read_text()
    assert "2 / 2 points" in cy and "to be graded / 1 points" in cy
    assert "<script>alert" not in cy and "&lt;script&gt;alert" in cy


OUTPUTS = ["autograded", "feedback", "gradebook.db", "grades.csv", "log.jsonl", "summary.csv",
           "warnings.txt"]


def test_nothing_but_the_outputs_is_left_in_out(graded):
    assert sorted(p.name for p in graded["out"].iterdir()) == OUTPUTS


def test_bad_arguments_are_refused_with_a_message(graded, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli_main(["autograde", str(tmp_path), "--out", str(tmp_path / "o"), "--workers", "0"])
    assert "must be positive" in capsys.readouterr().err
    assert cli_main(["autograde", str(tmp_path / "nope"), "--out", str(tmp_path / "o"),
                     "--quiet", "--source", str(graded["root"] / "autograder" / "source")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli_main(["autograde", str(tmp_path), "--out", str(tmp_path / "o"), "--quiet",
                     "--source", str(tmp_path)]) == 2
    assert "no instructor notebooks" in capsys.readouterr().err


def test_a_checkout_anywhere_grades_the_same(tmp_path):
    """A checkout under /tmp (as CI makes), on PYTHONPATH: the sandbox still sees the
    course's Python package and data folder, and nothing of the checkout beside them."""
    import shutil

    checkout = tmp_path / "checkout"
    for name in ("course_lib", "autograder"):
        shutil.copytree(config.ROOT / name, checkout / name,
                        ignore=shutil.ignore_patterns("__pycache__", "source"))
    shutil.copytree(config.ROOT / "data" / "cifar-10-subset",
                    checkout / "data" / "cifar-10-subset")
    built = mc.build(tmp_path / "mini", second=True)
    subs = tmp_path / "subs"
    for nb_id, (src, stu) in built.items():
        mc.write(subs, "ref", nb_id, mc.reference(src, stu))
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": str(checkout)}
    proc = subprocess.run([sys.executable, "-m", "autograder", "autograde", str(subs),
                           "--out", str(tmp_path / "out"), "--quiet", "--source",
                           str(tmp_path / "mini" / "autograder" / "source")],
                          capture_output=True, text=True, cwd=checkout, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "private file system" in proc.stdout or os.geteuid() != 0
    rows = _grades(tmp_path / "out")
    assert {r["status"] for r in rows} == {"passed", "manual"}, rows
    logs = [json.loads(x) for x in (tmp_path / "out" / "log.jsonl").read_text().splitlines()]
    assert all("error" not in x["cells"] for x in logs), logs


# --------------------------------------------------------------------------- the real course

IDS = course.notebook_ids()


@pytest.mark.skipif(not IDS, reason="no course notebooks yet")
def test_whole_course_through_python_dash_m(tmp_path):
    """The reference answers of every notebook earn every autograded point, the blank
    versions none, graded by `python -m autograder autograde` as an instructor would."""
    subs = tmp_path / "submissions"
    for nb_id in IDS:
        source = course.read(course.source_path(nb_id))
        student = course.read(course.student_path(nb_id))
        mc.write(subs, "reference", nb_id, course.fill_in_answers(student, source))
        mc.write(subs, "blank", nb_id, student, layout="flat")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "autograder", "autograde", str(subs), "--out",
                           str(out), "--workers", "2"], capture_output=True, text=True,
                          cwd=config.ROOT, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Graded" in proc.stdout and "isolation:" in proc.stdout
    assert "grading" in proc.stderr  # the progress bar
    rows = _grades(out)
    for row in rows:
        if row["status"] == "manual":
            continue
        if row["student_id"] == "reference":
            assert row["status"] == "passed", row
        else:
            assert row["points"] == "0" and row["status"] != "passed", row
    items = {(r["notebook"], r["item"]) for r in rows}
    expected = {(nb, i["grade_id"]) for nb in IDS
                for i in course.graded_items(course.read(course.source_path(nb)))}
    assert items == expected
    logs = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert len(logs) == 2 * len(IDS) and all(x["status"] == "graded" for x in logs)


def test_nbformat_notebooks_written_by_jupyter_are_read_as_is(tmp_path):
    """Cell sources stored as lists of lines (as Jupyter writes them) are accepted."""
    from autograder import submissions

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1\ny = 2")])
    path = tmp_path / "a.ipynb"
    text = nbformat.writes(nb).replace('"source": "x = 1\\ny = 2"',
                                       '"source": ["x = 1\\n", "y = 2"]')
    path.write_text(text)
    assert submissions.load(path)[0].source == "x = 1\ny = 2"


def test_without_namespaces_grading_still_works_and_the_summary_says_what_is_missing(
        tmp_path, monkeypatch):
    """Where namespaces are unavailable (some containers) the grader falls back to rlimits
    and a separate process, grades correctly, and says loudly what is not in force."""
    from autograder import grade, report
    from tests.hostile import attacks

    monkeypatch.setenv("COURSE_GRADE_ISOLATION", "rlimits")
    src, stu = mc.build(tmp_path)[mc.NB_ID]
    ref = mc.reference(src, stu)
    subs = tmp_path / "subs"
    mc.write(subs, "ref", mc.NB_ID, ref)
    mc.write(subs, "crash", mc.NB_ID, attacks.exit_in_cell(ref, attacks.exercise_indices(ref)[1]))
    batch = grade.autograde(subs, tmp_path / "out", grade.Options(progress=False),
                            source_dir=tmp_path / "autograder" / "source")
    points = {(r.student_id, r.item): r.points for r in batch.rows if r.status != "manual"}
    assert points == {("ref", "relu_forward"): 2, ("ref", "relu_backward"): 3,
                      ("ref", "relu_masked"): 1, ("crash", "relu_forward"): 2,
                      ("crash", "relu_backward"): 0, ("crash", "relu_masked"): 1}
    text = report.summary_text(batch)
    assert "HOST FILES VISIBLE" in text and "NETWORK REACHABLE" in text
    assert "COURSE_GRADE_ISOLATION=rlimits" in text
    assert batch.isolation["memory_limit_mb"] == 2048 and not batch.isolation["pid_namespace"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == OUTPUTS


def test_demo_grades_its_class_as_it_describes_it(tmp_path, capsys):
    """`course-grade demo` (make grade-demo): the reference earns everything, the blank and
    the cheats nothing, a crash or an endless loop in the last exercise costs only that
    notebook's last items, an unreadable file costs only its notebook."""
    assert cli_main(["demo", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "The gradebook" in printed and "grades.csv" in printed
    with open(tmp_path / "grades" / "summary.csv", newline="") as f:
        summary = {row["student_id"]: row for row in csv.DictReader(f)}
    ids = course.notebook_ids()
    assert set(summary) == {"ada", "bo", "cy", "dev", "eve", "fay", "gus"}
    full = float(summary["ada"]["max_auto"])  # written answers wait for a grader
    assert float(summary["ada"]["total"]) == full > 0
    assert float(summary["bo"]["total"]) == 0 and float(summary["eve"]["total"]) == 0
    assert 0 < float(summary["cy"]["total"]) < full
    for nb_id in ids:  # os._exit in the last exercise: that notebook loses only its end
        assert 0 < float(summary["fay"][nb_id]) < float(summary["ada"][nb_id]), nb_id
        # functions that loop forever cost at most what calls them (in 01 nothing graded does)
        assert 0 < float(summary["dev"][nb_id]) <= float(summary["ada"][nb_id]), nb_id
    assert float(summary["dev"]["total"]) < full
    assert float(summary["gus"][ids[0]]) == 0  # not JSON: reported, scored 0
    assert all(summary["gus"][i] == summary["ada"][i] for i in ids[2:])  # the intact ones
    statuses = {(r["student_id"], r["status"]) for r in _grades(tmp_path / "grades")}
    assert {("dev", "timeout"), ("fay", "crashed")} <= statuses
    # the mistake report of the class: where it is, and what the checks named in it
    assert "Mistake report of 7 students" in printed
    page = (tmp_path / "grades" / "report.html").read_text()
    with open(tmp_path / "grades" / "mistakes.csv", newline="") as f:
        named = {row["mistake"] for row in csv.DictReader(f)}
    assert any(m.endswith("/timed-out") for m in named), named
    assert "data:image/png;base64," in page  # the charts are inside the page
