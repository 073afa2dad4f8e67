"""The hostile submissions of ``tests/hostile`` against every notebook of the real course.

For each notebook, one class graded at once: the reference answers and the blank notebook,
every cheat built on the blank notebook (none may earn more than it), and two crashes in
the last exercise of the reference (``os._exit`` and a segfault while its cell runs),
which must cost that exercise's items and nothing else.
"""

import csv
import json

import pytest

from autograder import course, grade
from autograder.submissions import NotebookSpec
from tests.hostile import attacks
from tests.hostile import minicourse as mc

pytestmark = pytest.mark.slow
IDS = course.notebook_ids()
CRASHES = {"exit_in_cell": attacks.exit_in_cell, "segfault_in_cell": attacks.segfault_in_cell}
# The last exercise of each notebook is broken; every autograded item after it must cost
# "crashed" (a test cell right after another checks the same exercise), the others pass.


@pytest.fixture(scope="module", params=IDS)
def graded(request, tmp_path_factory):
    nb_id = request.param
    root = tmp_path_factory.mktemp(nb_id)
    source = course.read(course.source_path(nb_id))
    blank = course.read(course.student_path(nb_id))
    ref = course.fill_in_answers(blank, source)
    subs, out, canary = root / "submissions", root / "out", root / "canary"
    canary.mkdir()
    listener = mc.Listener()
    mc.write(subs, "ref", nb_id, ref)
    mc.write(subs, "blank", nb_id, blank)
    ctx = attacks.Context(nb_id, course.source_path(nb_id), subs / "ref" / f"{nb_id}.ipynb",
                          out, canary, listener.port)
    for name, make in attacks.CHEATS.items():
        mc.write(subs, f"cheat_{name}", nb_id, make(blank, ctx))
    last = attacks.exercise_indices(ref)[-1]
    for name, make in CRASHES.items():
        mc.write(subs, name, nb_id, make(ref, last))
    grade.autograde(subs, out, grade.Options(workers=2, progress=False))
    listener.close()
    with open(out / "grades.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["notebook"] == nb_id]
    logs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    uids = [x.get("isolation", {}).get("uid") for x in logs]
    spec = NotebookSpec.from_source(nb_id, source)
    keys = [c.key for c in spec.cells]
    position = keys.index(next(c.key for c in spec.cells
                               if c.cell_id == ref.cells[last].get("id")))
    # Every autograded item after the last exercise depends on it.
    broken = {i["grade_id"] for i in spec.items
              if i["kind"] == "auto" and keys.index(i["cell"]) > position}
    yield {"rows": rows, "heard": listener.heard, "canary": canary, "broken": broken,
           "processes": mc.sandbox_processes(uids)}


def _points(graded, student):
    return {r["item"]: float(r["points"] or 0) for r in graded["rows"]
            if r["student_id"] == student and r["status"] != "manual"}


def test_reference_earns_every_autograded_point(graded):
    rows = [r for r in graded["rows"] if r["student_id"] == "ref" and r["status"] != "manual"]
    assert rows and all(r["status"] == "passed" for r in rows), rows


@pytest.mark.parametrize("cheat", sorted(attacks.CHEATS))
def test_no_cheat_earns_more_than_the_blank_notebook(graded, cheat):
    got, blank = _points(graded, f"cheat_{cheat}"), _points(graded, "blank")
    assert got.keys() == blank.keys()
    assert all(got[i] <= blank[i] for i in got), {i: got[i] for i in got if got[i] > blank[i]}


def test_cheats_reach_nothing_outside_their_sandbox(graded):
    assert graded["heard"] == [] and list(graded["canary"].iterdir()) == []
    assert graded["processes"] == []


@pytest.mark.parametrize("crash", sorted(CRASHES))
def test_a_crash_in_the_last_exercise_costs_only_its_items(graded, crash):
    assert graded["broken"]
    for row in graded["rows"]:
        if row["student_id"] != crash or row["status"] == "manual":
            continue
        if row["item"] in graded["broken"]:
            assert (row["points"], row["status"]) == ("0", "crashed"), row
        else:
            assert row["status"] == "passed", row
