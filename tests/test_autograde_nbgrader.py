"""Stock nbgrader on our course directory, side by side with ``course-grade autograde``.

* ``nbgrader generate_assignment`` and ``nbgrader autograde`` work on the course's own
  ``nbgrader_config.py`` and sources, and give every reference answer full marks;
* the in-kernel cheats of ``tests/hostile`` are real: stock nbgrader, which runs the tests
  in the student's kernel, gives them points; ``course-grade`` gives them none.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import config, course, grade
from tests.hostile import attacks
from tests.hostile import minicourse as mc

pytestmark = pytest.mark.slow
NBGRADER = str(Path(sys.executable).parent / "nbgrader")


def _nbgrader(root: Path, *args: str) -> None:
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(root),
           "LANG": "C.UTF-8", "MPLBACKEND": "Agg"}
    proc = subprocess.run([NBGRADER, *args], cwd=root, capture_output=True, text=True,
                          env=env, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]


def stock_nbgrader(root: Path, nb_id: str, submissions: dict) -> dict:
    """``{student: {grade_id: (score, max_score)}}`` of the autograded test cells, from
    stock ``nbgrader generate_assignment`` + ``nbgrader autograde`` in course dir ``root``."""
    from nbgrader.api import Gradebook

    _nbgrader(root, "generate_assignment", nb_id, "--force")
    for student, nb in submissions.items():
        mc.write(root / "submitted", student, nb_id, nb, layout="nbgrader")
    _nbgrader(root, "autograde", nb_id, "--force")
    out = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for student in submissions:
            nb = gb.find_submission_notebook(nb_id, nb_id, student)
            out[student] = {g.name: (g.score, g.max_score) for g in nb.grades
                            if g.cell_type == "code"}
    return out


def _course_dir(tmp_path: Path, sources: dict) -> Path:
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy(config.KIT_DIR / "nbgrader_config.py", root)
    for nb_id, path in sources.items():
        shutil.copytree(Path(path).parent, root / "source" / nb_id)
    return root


# Stock nbgrader needs about a minute per notebook here; the benchmark compares it with
# course-grade on every notebook. The suite runs it on the first notebook of the course, and
# on the miniature course below.
@pytest.mark.parametrize("nb_id", course.notebook_ids()[:1])
def test_stock_nbgrader_gives_the_reference_full_marks(tmp_path, nb_id):
    path = course.source_path(nb_id)
    src, stu = course.read(path), course.read(course.student_path(nb_id))
    root = _course_dir(tmp_path, {nb_id: path})
    scores = stock_nbgrader(root, nb_id, {"reference": course.fill_in_answers(stu, src)})
    tests = {i["grade_id"]: i["points"] for i in course.graded_items(src) if i["kind"] == "auto"}
    assert scores["reference"] == {gid: (pts, pts) for gid, pts in tests.items()}


IN_KERNEL_CHEATS = ("patch_checks", "input_transformer", "patch_course_lib")


def test_in_kernel_cheats_fool_stock_nbgrader_but_not_course_grade(tmp_path):
    built = mc.build(tmp_path / "mini")
    src, stu = built[mc.NB_ID]
    path = tmp_path / "mini" / "autograder" / "source" / mc.NB_ID / f"{mc.NB_ID}.ipynb"
    ctx = attacks.Context(mc.NB_ID, path, path, tmp_path / "out", tmp_path, 9)
    subs = {"reference": course.fill_in_answers(stu, src), "blank": stu}
    subs.update({name: attacks.CHEATS[name](stu, ctx) for name in IN_KERNEL_CHEATS})
    stock = stock_nbgrader(_course_dir(tmp_path, {mc.NB_ID: path}), mc.NB_ID, subs)

    for student, nb in subs.items():
        mc.write(tmp_path / "subs", student, mc.NB_ID, nb)
    ours = grade.autograde(tmp_path / "subs", tmp_path / "out",
                           grade.Options(workers=2, progress=False),
                           source_dir=path.parent.parent)

    def total(student):
        return sum(r.points or 0 for r in ours.rows
                   if r.student_id == student and r.status != "manual")

    tests = {i["grade_id"]: i["points"] for i in course.graded_items(src) if i["kind"] == "auto"}
    assert stock["reference"] == {gid: (pts, pts) for gid, pts in tests.items()}
    assert total("reference") == sum(tests.values()) == 6
    assert sum(p for p, _ in stock["blank"].values()) == total("blank") == 0
    for cheat in IN_KERNEL_CHEATS:
        assert sum(p for p, _ in stock[cheat].values()) > 0, f"{cheat} no longer fools nbgrader"
        assert total(cheat) == 0, cheat
