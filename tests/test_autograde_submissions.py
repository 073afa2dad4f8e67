"""Finding submissions, reading them defensively and rebuilding what the sandbox runs."""

import json
import os

import nbformat
import pytest

from autograder import frames, submissions
from autograder.submissions import NotebookSpec, Unreadable, assemble, discover, load
from tests.hostile import attacks
from tests.hostile import minicourse as mc


@pytest.fixture(scope="module")
def mini():
    src = mc.source_notebook()
    # The student version as nbgrader makes it: answers replaced by the stub.
    stu = nbformat.from_dict(src)
    for cell in stu.cells:
        if cell.cell_type == "code" and cell.metadata["nbgrader"].get("solution"):
            cell.source = cell.source.split("### BEGIN SOLUTION")[0] + \
                "    # YOUR CODE HERE\n    raise NotImplementedError()"
    return src, stu, NotebookSpec.from_source("mini", src)


def _cells(nb, tmp_path):
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    return load(path)


# --------------------------------------------------------------------------- discover

def test_discover_accepts_three_layouts_and_reports_what_it_ignores(tmp_path):
    ids = ["01_knn", "02_linear_classifiers"]
    for rel in ["ada/01_knn.ipynb", "ada/02_linear_classifiers/02_linear_classifiers.ipynb",
                "bob_smith_01_knn.ipynb", "bob_smith_02_linear_classifiers-1.ipynb",
                "cy/.ipynb_checkpoints/01_knn-checkpoint.ipynb", "cy/scratch.ipynb",
                "readme.txt", "dee_03_backprop.ipynb"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("{}")
    found, warnings = discover(tmp_path, ids)
    assert sorted(found) == [("ada", "01_knn"), ("ada", "02_linear_classifiers"),
                             ("bob_smith", "01_knn"), ("bob_smith", "02_linear_classifiers")]
    text = "\n".join(warnings)
    assert "cy/scratch.ipynb" in text and "readme.txt" in text and "dee_03_backprop" in text
    assert "checkpoint" not in text


def test_discover_does_not_follow_symbolic_links_out_of_the_submissions(tmp_path):
    """A zip can carry symlinks: ada/01_knn -> the instructor's folder must not be graded."""
    secret = tmp_path / "instructor" / "01_knn"
    secret.mkdir(parents=True)
    (secret / "01_knn.ipynb").write_text("{}")
    subs = tmp_path / "subs"
    (subs / "ada").mkdir(parents=True)
    (subs / "ada" / "01_knn").symlink_to(secret)
    (subs / "bob").symlink_to(secret)
    found, _ = discover(subs, ["01_knn"])
    assert found == {}


def test_discover_grades_the_newest_of_duplicates(tmp_path):
    (tmp_path / "ada").mkdir()
    old, new = tmp_path / "ada" / "01_knn.ipynb", tmp_path / "ada_01_knn.ipynb"
    old.write_text("{}")
    new.write_text("{}")
    os.utime(old, (1, 1))
    found, warnings = discover(tmp_path, ["01_knn"])
    assert found == {("ada", "01_knn"): new} and "graded the newest" in warnings[0]


def test_student_ids_become_safe_folder_names():
    assert submissions.safe_name("../../etc/x") == "_.._etc_x"
    assert submissions.safe_name("anne.o'hara@uni.edu") == "anne.o_hara@uni.edu"


# --------------------------------------------------------------------------- load

@pytest.mark.parametrize("data, reason", [
    (b"", "is empty"), (b"{", "not valid JSON (line 1, column 2)"), (b"\xff\xfe", "not UTF-8"),
    (b"[]", "not an object"), (b'{"cells": []}', "no nbformat version"),
    (json.dumps({"nbformat": 3, "worksheets": []}).encode(), "old notebook format v3"),
    (b'{"nbformat": 4, "cells": {}}', "no list of cells"),
    (b'{"nbformat": 4, "cells": []}', "has no cells"),
    (b'{"nbformat": 4, "cells": [{"cell_type": "code", "source": 3}]}', "cell 1 is not text"),
    (b'{"nbformat": 4, "cells": [{"cell_type": "evil"}]}', "cell 1 is malformed"),
    (b"[" * 100000 + b"]" * 100000, "not"),
])
def test_load_refuses_what_is_not_a_notebook_in_one_line(tmp_path, data, reason):
    path = tmp_path / "x.ipynb"
    path.write_bytes(data)
    with pytest.raises(Unreadable, match=reason.replace("(", r"\(").replace(")", r"\)")):
        load(path)


def test_load_refuses_huge_files_links_and_special_files(tmp_path):
    huge = tmp_path / "huge.ipynb"
    with open(huge, "wb") as f:
        f.truncate(submissions.MAX_NOTEBOOK_BYTES + 1)
    with pytest.raises(Unreadable, match="is huge"):
        load(huge)
    secret = tmp_path / "secret.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), str(secret))
    (tmp_path / "link.ipynb").symlink_to(secret)
    with pytest.raises(Unreadable, match="symbolic link"):
        load(tmp_path / "link.ipynb")
    os.mkfifo(tmp_path / "fifo.ipynb")
    with pytest.raises(Unreadable, match="not a regular file"):
        load(tmp_path / "fifo.ipynb")


# --------------------------------------------------------------------------- assemble

def _run_sources(plan):
    return [(r.origin, r.key) for r in plan.run]


def test_test_cells_are_never_run_and_locked_cells_come_from_the_source(mini, tmp_path):
    src, stu, spec = mini
    nb = nbformat.from_dict(stu)
    for cell in nb.cells:
        if cell.get("id") == "imports":
            cell.source = "import numpy as np\nnp.allclose = lambda *a: True"
    plan = assemble(spec, _cells(nb, tmp_path))
    assert [k for _, k in _run_sources(plan)] == [
        "colab-setup", "imports", "relu_forward_solution", "relu_backward_solution",
        "relu_masked_solution"]  # no test cells, no autograde-skip cell
    assert "np.allclose" not in plan.run[1].source and "setup_notebook()" in plan.run[1].source
    assert "locked cells edited" in plan.notes[0] and "imports" in plan.notes[0]
    shown_tests = [s.text for s in plan.shown if s.kind == "test"]
    assert shown_tests and not any("hidden=True" in t or "HIDDEN" in t for t in shown_tests)


def test_deleted_and_retyped_answers_are_missing_and_the_rest_still_runs(mini, tmp_path):
    src, stu, spec = mini
    nb = nbformat.from_dict(stu)
    ex = attacks.exercise_indices(nb)
    nb.cells[ex[0]] = nbformat.v4.new_markdown_cell(nb.cells[ex[0]].source, id="md")
    nb.cells[ex[0]].metadata = dict(stu.cells[ex[0]].metadata)
    del nb.cells[ex[1]]
    plan = assemble(spec, _cells(nb, tmp_path))
    assert "changed into a markdown cell" in plan.missing["relu_forward_solution"]
    assert "missing from the notebook" in plan.missing["relu_backward_solution"]
    assert [k for o, k in _run_sources(plan) if o == "student"] == ["relu_masked_solution"]
    assert "cells deleted: relu_backward_solution" in " ".join(plan.notes)


def test_duplicates_run_in_order_reordering_is_undone_added_cells_stay_put(mini, tmp_path):
    src, stu, spec = mini
    nb = nbformat.from_dict(stu)
    ex = attacks.exercise_indices(nb)
    dup = nbformat.from_dict(nb.cells[ex[0]])
    dup.id = "copy"
    dup.source = "def relu_forward(x):\n    return x, x"
    nb.cells.insert(ex[0] + 1, dup)
    nb.cells.insert(ex[0] + 2, nbformat.v4.new_code_cell("helper = 1", id="mine"))
    nb.cells = nb.cells[:2] + nb.cells[2:][::-1]  # everything after the set-up, reversed
    plan = assemble(spec, _cells(nb, tmp_path))
    keys = [k for _, k in _run_sources(plan)]
    assert keys.index("imports") < keys.index("relu_forward_solution") < keys.index(
        "relu_backward_solution") < keys.index("relu_masked_solution")
    assert keys.count("relu_forward_solution") == 2
    assert "reordered" in " ".join(plan.notes) and "duplicated" in " ".join(plan.notes)
    assert any(k.startswith("added-") for k in keys)


def test_lost_nbgrader_metadata_falls_back_to_cell_ids(mini, tmp_path):
    src, stu, spec = mini
    nb = nbformat.from_dict(stu)
    for cell in nb.cells:
        cell.metadata = {}
    plan = assemble(spec, _cells(nb, tmp_path))
    assert plan.missing == {}
    assert [o for o, k in _run_sources(plan) if k == "relu_forward_solution"] == ["student"]


def test_a_student_cannot_skip_or_unskip_the_instructors_cells(mini, tmp_path):
    src, stu, spec = mini
    nb = nbformat.from_dict(stu)
    for cell in nb.cells:
        if cell.get("id") == "display-only":
            cell.metadata["tags"] = []
        if cell.get("id") == "imports":
            cell.metadata["tags"] = ["autograde-skip"]
    plan = assemble(spec, _cells(nb, tmp_path))
    keys = [k for _, k in _run_sources(plan)]
    assert "imports" in keys and "display_only" not in keys


# --------------------------------------------------------------------------- frames

def test_frames_refuse_unexpected_kinds_oversize_and_silence():
    r, w = os.pipe()
    os.set_blocking(r, False)
    try:
        frames.send(w, b"X", b"{}")
        with pytest.raises(frames.ProtocolError, match="unexpected frame"):
            frames.read_frame(r, _soon(), {b"D": 100})
        os.read(r, 1000)
        frames.send(w, b"D", b"x" * 200)
        with pytest.raises(frames.ProtocolError, match="over the limit"):
            frames.read_frame(r, _soon(), {b"D": 100})
        os.read(r, 1000)
        with pytest.raises(frames.SandboxTimeout):
            frames.read_frame(r, _soon(), {b"D": 100})
        frames.send(w, b"D", b"[1, 2]")
        _, payload = frames.read_frame(r, _soon(), {b"D": 100})
        with pytest.raises(frames.ProtocolError, match="not an object"):
            frames.parse_json(payload)
    finally:
        os.close(w)
    with pytest.raises(frames.SandboxCrashed):
        frames.read_frame(r, _soon(), {b"D": 100})
    os.close(r)


def _soon():
    import time

    return time.monotonic() + 0.2


def test_each_item_knows_the_exercise_cells_it_depends_on(mini):
    src, _, spec = mini
    deps = {i["grade_id"]: i["exercises"] for i in spec.items}
    assert deps == {"relu_forward": ["relu_forward_solution"],
                    "relu_backward": ["relu_backward_solution"],
                    "relu_masked": ["relu_masked_solution"], "why_relu": ["why_relu"]}
    nb = nbformat.from_dict(src)  # a second test cell right after: same exercise
    extra = nbformat.from_dict(next(c for c in nb.cells if c.get("id") == "relu-masked-check"))
    extra.id, extra.metadata["nbgrader"]["grade_id"] = "again", "relu_masked_again"
    nb.cells.insert([c.get("id") for c in nb.cells].index("relu-masked-check") + 1, extra)
    again = NotebookSpec.from_source("mini", nb)
    assert {i["grade_id"]: i["exercises"] for i in again.items}["relu_masked_again"] == [
        "relu_masked_solution"]
