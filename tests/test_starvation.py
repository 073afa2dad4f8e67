"""Grading on a starved machine: the time limits measure the student, not the machine.

A class of two on the miniature course (the reference answers, and the reference with an
endless loop in one exercise's function) is graded by a process at the lowest CPU
priority (``nice 19``) while busy loops at normal priority saturate every core. The
reference must earn every autograded point, and the loop must still be stopped and cost
only its item.

The grading process imports everything and starts its zygote *before* the load starts:
at nice 19 beside the busy loops it gets about 1% of a core, and warming a fresh Python
with numpy, matplotlib and IPython alone would take minutes there (the zygote's patience
while warming up is tested in ``test_cpu_limits.py``). Everything after that (forking
workers, running cells, every check, finishing workers) happens under the load.

With wall-clock limits (the grader before issue 11), the reference lost the points of the
items whose checks do real work in the starved grading process: see the test's docstring.
"""

import json
import os
import subprocess
import sys

import pytest

from autograder import config
from tests.hostile import attacks
from tests.hostile import minicourse as mc

pytestmark = pytest.mark.slow

TIMEOUT_CELL = 3.0  # CPU seconds per cell and per item: the endless loop costs 2 x 3 s
BUSY = max(4, 2 * (os.cpu_count() or 1))  # busy loops at normal priority
LOOPED = "relu_backward"  # the item whose function never returns
SUBPROCESS_TIMEOUT = 900  # a bound on the test, not a measure of speed

GRADER = r"""
import json, os, sys, time
from pathlib import Path
from autograder import config, grade
from autograder.zygote import Zygote

root, timeout_cell = Path(sys.argv[1]), float(sys.argv[2])
specs = grade.load_course(root / "autograder" / "source")
os.nice(19)
hidden = [str(root / "autograder"), str(root / "submissions")]
zygote = Zygote(root / "private", hidden, str(config.NOTEBOOKS_DIR)).start()
print(json.dumps({"ready": True}), flush=True)
sys.stdin.readline()  # the load is on
options = grade.Options(workers=1, timeout_cell=timeout_cell, timeout_notebook=60,
                        memory_mb=1024, progress=False)
try:
    for student in sorted(os.listdir(root / "submissions")):
        path = root / "submissions" / student / "mini.ipynb"
        t0 = time.monotonic()
        res = grade.grade_notebook(zygote, specs["mini"], student, path, options)
        rows = {r.item: [r.points, r.status, r.message] for r in res.rows}
        print(json.dumps({"student": student, "rows": rows, "seconds": time.monotonic() - t0,
                          "log": res.log}, default=str), flush=True)
finally:
    zygote.close()
"""


def _busy_loops(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.kill()
    for proc in procs:
        proc.wait()


def grade_starved(root, timeout_cell: float = TIMEOUT_CELL, busy: int = BUSY,
                  pythonpath: str | None = None) -> dict:
    """Grade ``root/submissions`` at nice 19 beside ``busy`` busy loops; ``{student:
    result}``. ``pythonpath``: another copy of the grader (to measure an older one)."""
    env = dict(os.environ, PYTHONPATH=pythonpath or str(config.ROOT))
    grader = subprocess.Popen([sys.executable, "-c", GRADER, str(root), str(timeout_cell)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env=env, cwd=str(root))
    load: list[subprocess.Popen] = []
    results = {}
    try:
        assert json.loads(grader.stdout.readline()) == {"ready": True}
        load = _busy_loops(busy)
        grader.stdin.write("go\n")
        grader.stdin.flush()
        for line in grader.stdout:
            result = json.loads(line)
            results[result["student"]] = result
        assert grader.wait(timeout=SUBPROCESS_TIMEOUT) == 0
    finally:
        _stop(load)
        if grader.poll() is None:
            grader.kill()
        grader.wait()
    return results


def build_class(root) -> None:
    src, stu = mc.build(root)[mc.NB_ID]
    ref = mc.reference(src, stu)
    subs = root / "submissions"
    mc.write(subs, "ref", mc.NB_ID, ref)
    looped = attacks.exercise_indices(ref)[1]  # relu_backward's exercise
    mc.write(subs, "loop", mc.NB_ID, attacks.loop_in_function(ref, looped))


def test_a_starved_grader_gives_full_marks_and_still_stops_an_endless_loop(tmp_path):
    """Measured on 2 cores with 4 busy loops (and other work): with the wall-clock limits
    of the grader before issue 11, the reference lost relu_backward (3 points: its check
    took more than 3 s of the starved grader's wall-clock time) in one run of two, and
    the looping submission lost its honest relu_forward in both. With CPU limits, every
    honest item passed (the test took 32 to 66 s)."""
    build_class(tmp_path)
    results = grade_starved(tmp_path)
    assert set(results) == {"ref", "loop"}
    assert results["ref"]["log"]["problems"] == []  # not even a retry
    ref = results["ref"]["rows"]
    for item, points in mc.POINTS.items():
        if item == "why_relu":
            assert ref[item][1] == "manual"
        else:
            assert ref[item][:2] == [points, "passed"], (item, ref[item])
    loop = results["loop"]["rows"]
    assert loop[LOOPED][:2] == [0.0, "timeout"], loop[LOOPED]
    assert "CPU time" in loop[LOOPED][2]
    for item in ("relu_forward", "relu_masked"):
        assert loop[item][:2] == [mc.POINTS[item], "passed"], (item, loop[item])
    log = results["loop"]["log"]
    assert any("run again on a fresh worker" in p for p in log["problems"]), log["problems"]
