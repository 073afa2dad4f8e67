"""Hostile submissions against the grader, on the miniature course: one class, graded once.

A submission can only earn points by being right: every cheat, built on the blank notebook,
earns no more than the blank notebook. A resource attack (infinite loop, memory bomb,
``os._exit``, segfault, fork bomb, output flood) costs only the exercise it is in: the
other items of that notebook, and every other student, are graded as if nothing happened.
Nothing is written outside OUT, nothing reaches the network, no process survives.
"""

import csv
import json
import os

import nbformat
import pytest

from autograder import course, grade, submissions
from tests.hostile import attacks
from tests.hostile import minicourse as mc

pytestmark = pytest.mark.slow

BROKEN = "relu_backward"  # the item after the exercise each resource attack breaks
OTHERS = ("relu_forward", "relu_masked")
TIMEOUT_CELL = 5


def _mangled(src, stu, ref, subs):
    """Damaged files and cells, as ~5% of real submissions are."""
    ex = attacks.exercise_indices(ref)
    out = {}
    nb = nbformat.from_dict(ref)
    del nb.cells[ex[1]]
    out["deleted_cell"] = nb
    nb = nbformat.from_dict(ref)
    copy = nbformat.from_dict(stu.cells[ex[0]])  # a blank copy first, as Jupyter makes it
    copy.id = "copy-of-" + copy.id
    nb.cells.insert(ex[0], copy)
    out["duplicated_cell"] = nb  # the later (right) copy wins, as in Run All
    nb = nbformat.from_dict(ref)
    nb.cells = nb.cells[::-1]
    out["reversed_cells"] = nb
    nb = nbformat.from_dict(ref)
    nb.cells[ex[0]] = nbformat.v4.new_markdown_cell(nb.cells[ex[0]].source,
                                                    id=nb.cells[ex[0]].id)
    out["retyped_cell"] = nb
    nb = nbformat.from_dict(ref)
    for cell in nb.cells:
        cell.metadata = {}
    out["metadata_stripped"] = nb
    for name, nb in out.items():
        mc.write(subs, name, mc.NB_ID, nb)
    files = {"not_json": b'{"cells": [', "empty": b"",
             "old_format": json.dumps({"nbformat": 3, "nbformat_minor": 0,
                                       "worksheets": [{"cells": []}]}).encode(),
             "binary": bytes(range(256)) * 10, "no_cells": b'{"nbformat": 4, "cells": []}'}
    for name, data in files.items():
        (subs / name).mkdir()
        (subs / name / f"{mc.NB_ID}.ipynb").write_bytes(data)
    (subs / "huge").mkdir()
    with open(subs / "huge" / f"{mc.NB_ID}.ipynb", "wb") as f:
        f.truncate(submissions.MAX_NOTEBOOK_BYTES + 1)
    (subs / "symlink").mkdir()
    os.symlink(subs / "ref" / f"{mc.NB_ID}.ipynb", subs / "symlink" / f"{mc.NB_ID}.ipynb")


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    src, stu = mc.build(root)[mc.NB_ID]
    ref = mc.reference(src, stu)
    subs, out, canary = root / "submissions", root / "out", root / "canary"
    canary.mkdir()
    listener = mc.Listener()
    mc.write(subs, "ref", mc.NB_ID, ref)
    mc.write(subs, "blank", mc.NB_ID, stu)
    ctx = attacks.Context(mc.NB_ID, root / "autograder" / "source" / mc.NB_ID / "mini.ipynb",
                          subs / "ref" / f"{mc.NB_ID}.ipynb", out, canary, listener.port)
    for name, make in attacks.CHEATS.items():
        mc.write(subs, f"cheat_{name}", mc.NB_ID, make(stu, ctx))
    broken = attacks.exercise_indices(ref)[1]  # relu_backward's exercise
    for name, (make, _) in attacks.RESOURCE_ATTACKS.items():
        mc.write(subs, f"attack_{name}", mc.NB_ID, make(ref, broken))
    mc.write(subs, "flood", mc.NB_ID, attacks.flood_in_cell(ref, broken))
    mc.write(subs, "warnings", mc.NB_ID, attacks.warnings_on_stderr(ref))
    _mangled(src, stu, ref, subs)
    options = grade.Options(workers=2, timeout_cell=TIMEOUT_CELL, timeout_notebook=90,
                            memory_mb=1024, progress=False)
    result = grade.autograde(subs, out, options, source_dir=root / "autograder" / "source")
    listener.close()
    with open(out / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    logs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    uids = [x.get("isolation", {}).get("uid") for x in logs]
    yield {"batch": result, "out": out, "canary": canary, "heard": listener.heard,
           "rows": {(r["student_id"], r["item"]): r for r in rows},
           "log": {x["student_id"]: x for x in logs},
           "processes_after": mc.sandbox_processes(uids)}


def _points(batch, student):
    return {item: float(r["points"] or 0) for (s, item), r in batch["rows"].items()
            if s == student}


def test_reference_earns_everything_and_blank_nothing(batch):
    assert _points(batch, "ref") == {**{k: v for k, v in mc.POINTS.items() if k != "why_relu"},
                                    "why_relu": 0.0}
    assert batch["rows"][("ref", "why_relu")]["status"] == "manual"
    assert set(_points(batch, "blank").values()) == {0.0}


@pytest.mark.parametrize("cheat", sorted(attacks.CHEATS))
def test_a_cheat_earns_no_more_than_the_blank_notebook(batch, cheat):
    got, blank = _points(batch, f"cheat_{cheat}"), _points(batch, "blank")
    assert got.keys() == blank.keys()
    for item in got:
        assert got[item] <= blank[item], f"{cheat} earned {got[item]} on {item}"
        assert batch["rows"][(f"cheat_{cheat}", item)]["max_points"] == \
            batch["rows"][("blank", item)]["max_points"]


def test_cheats_reach_no_file_network_or_process_outside_their_sandbox(batch):
    assert batch["heard"] == [], "a submission reached a TCP server on the grader's machine"
    assert list(batch["canary"].iterdir()) == []
    assert sorted(p.name for p in batch["out"].iterdir()) == [
        "autograded", "feedback", "gradebook.db", "grades.csv", "log.jsonl", "summary.csv",
        "warnings.txt"]
    for path in ("/tmp/course-grade-pwned", os.path.expanduser("~/course-grade-pwned"),
                 str(course.config.ROOT / "pwned")):
        assert not os.path.exists(path), path
    assert batch["processes_after"] == [], "sandboxed processes outlived the grading"


def test_in_the_sandbox_the_instructor_files_do_not_exist(batch):
    """The read_source cheat looked for the instructor version and a classmate's work."""
    cell_output = [r for r in batch["batch"].results if r.student_id == "cheat_read_source"]
    runs = cell_output[0].cell_runs.values()
    assert any("found []" in run["output"] for run in runs), [r["output"] for r in runs]


@pytest.mark.parametrize("attack", sorted(attacks.RESOURCE_ATTACKS))
def test_a_resource_attack_costs_only_its_own_exercise(batch, attack):
    _, expected = attacks.RESOURCE_ATTACKS[attack]
    student = f"attack_{attack}"
    broken = batch["rows"][(student, BROKEN)]
    assert (broken["points"], broken["status"]) == ("0", expected), broken
    for item in OTHERS:
        row = batch["rows"][(student, item)]
        assert row["status"] == "passed", row
    log = batch["log"][student]
    assert log["status"] == "graded" and log["seconds"]["total"] < 60


def test_every_other_student_is_graded_as_if_nothing_happened(batch):
    for student in ("ref", "flood", "warnings", "duplicated_cell", "reversed_cells",
                    "metadata_stripped"):
        assert _points(batch, student) == _points(batch, "ref"), student


def test_output_floods_and_stderr_warnings_do_not_change_a_grade(batch):
    flood = batch["log"]["flood"]
    assert flood["items"] == {"passed": 3, "manual": 1}
    assert sum(p.stat().st_size for p in batch["out"].rglob("*")) < 5 * 2**20


def test_mangled_cells_grade_what_can_be_graded_and_mark_the_rest_missing(batch):
    rows = batch["rows"]
    assert rows[("deleted_cell", "relu_backward")]["status"] == "missing"
    assert "missing from the notebook" in rows[("deleted_cell", "relu_backward")]["message"]
    assert rows[("deleted_cell", "relu_forward")]["status"] == "passed"
    assert rows[("deleted_cell", "relu_masked")]["status"] == "passed"
    assert rows[("retyped_cell", "relu_forward")]["status"] == "missing"
    assert "changed into a markdown cell" in rows[("retyped_cell", "relu_forward")]["message"]
    assert rows[("retyped_cell", "relu_masked")]["status"] == "passed"
    notes = " ".join(batch["log"]["reversed_cells"]["notes"])
    assert "reordered" in notes
    assert "duplicated" in " ".join(batch["log"]["duplicated_cell"]["notes"])


@pytest.mark.parametrize("student, reason", [
    ("not_json", "is not valid JSON"), ("empty", "is empty"),
    ("old_format", "old notebook format v3"), ("binary", "is not UTF-8"),
    ("no_cells", "has no cells"), ("huge", "is huge"), ("symlink", "symbolic link"),
])
def test_unreadable_files_are_reported_in_one_line_and_score_zero(batch, student, reason):
    rows = [r for (s, _), r in batch["rows"].items() if s == student]
    assert rows and all(r["points"] == "0" and r["status"] == "error" for r in rows)
    assert all(reason in r["message"] and "\n" not in r["message"] for r in rows)
    assert batch["log"][student]["status"] == "unreadable"


def test_edited_test_cells_and_points_are_ignored_and_noted(batch):
    notes = " ".join(batch["log"]["cheat_edited_tests"]["notes"])
    assert "locked cells edited" in notes and "points changed" in notes


def test_the_isolation_in_force_is_measured_for_every_notebook(batch):
    graded = [x for x in batch["log"].values() if x["status"] == "graded"]
    assert graded and all(x["isolation"]["measured"] for x in graded)
    iso = graded[0]["isolation"]
    assert iso["separate_process"] and iso["memory_limit_mb"] == 1024
    assert iso["cpu_limit_s"] == 95 and iso["file_size_limit_mb"] == 256
    if os.geteuid() == 0:  # CI runs as root: everything must be in force
        assert iso["unprivileged_uid"] and iso["uid"] != 0 and iso["nproc_enforced"]
        assert iso["pid_namespace"] and iso["no_network"] and iso["private_filesystem"]
        assert iso["hidden_paths_visible"] == []
