"""Notebook 01 (k-NN): the instructor notebook's run time, the three distance versions of
the instructor solution on 500 x 5,000 CIFAR-10 images (time and peak memory), and what
the graded checks cost directly and through the channel.

The two-loop version takes minutes on the full problem, so it runs once (no median); the
one-loop version is timed on the first 100 test images and scaled by 5 (its cost is
exactly linear in the number of test images: one identical pass per image).
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import datetime

import numpy as np

from autograder import course
from autograder.channel import Client, Loopback, ObjectServer
from benchmarks._util import compare, median_seconds, peak_memory_bytes, row
from course_lib.checks import CHECKS
from course_lib.data import load_cifar10

NB_ID = "01_knn"
NUM_TRAIN, NUM_TEST = 5000, 500


def reference_class():
    """The instructor solution's KNearestNeighbor, solution markers stripped."""
    namespace = course.run_instructor_cells(NB_ID, ["knn-class"], {"__name__": "__main__",
                                                                    "np": np})
    return namespace["KNearestNeighbor"]


def _cell_seconds(cell) -> float | None:
    timing = cell.get("metadata", {}).get("execution", {})
    if "iopub.execute_input" not in timing or "shell.execute_reply" not in timing:
        return None
    start, end = (datetime.fromisoformat(timing[k].replace("Z", "+00:00"))
                  for k in ("iopub.execute_input", "shell.execute_reply"))
    return (end - start).total_seconds()


# Appended to the executed copy: the kernel's own CPU time, which (unlike wall time) does
# not grow when other processes share the machine.
_CPU_PROBE = "import os as _os\n_t = _os.times()\nprint('KERNEL_CPU', _t.user + _t.system)"


def notebook_rows(repeat: int = 3) -> list[dict]:
    import nbformat

    from tests import nbtools

    totals, cpus, cv_cells, loads = [], [], [], []
    for _ in range(repeat):
        nb = course.read(course.source_path(NB_ID))
        nb.cells.append(nbformat.v4.new_code_cell(_CPU_PROBE))
        loads.append(os.getloadavg()[0])
        start = time.perf_counter()
        nb = nbtools.execute(nb, course.source_path(NB_ID).parent)
        totals.append(time.perf_counter() - start)
        if nbtools.errors(nb):
            raise RuntimeError(f"the instructor notebook failed: {nbtools.errors(nb)[0]}")
        cpus.append(float(nbtools.cell_text(nb.cells[-1]).split()[-1]))
        cells = {c.get("id"): c for c in nb.cells}
        cv_cells.append(_cell_seconds(cells["cross-validation-solution"]))
    load = f"load average {statistics.median(loads):.1f} on {os.cpu_count()} cores"
    rows = [
        row("knn notebook", f"instructor 01_knn top to bottom, wall ({repeat} runs, {load})",
            statistics.median(totals), goal="<= 60 s on this 2-core machine"),
        row("knn notebook", "  the kernel's CPU time (user + sys) in those runs",
            statistics.median(cpus), ratio=statistics.median(cpus) / statistics.median(totals),
            ratio_of="CPU / wall"),
    ]
    if all(s is not None for s in cv_cells):
        rows.append(row("knn notebook", "  the 5-fold cross-validation cell, wall",
                        statistics.median(cv_cells)))
    return rows


def distance_rows() -> list[dict]:
    X_train, y_train, X_test, _ = load_cifar10(verbose=False)
    X_train = X_train[:NUM_TRAIN].reshape(NUM_TRAIN, -1)
    X_test = X_test[:NUM_TEST].reshape(NUM_TEST, -1)
    knn = reference_class()()
    knn.train(X_train, y_train[:NUM_TRAIN])

    no_loops = median_seconds(lambda: knn.compute_distances_no_loops(X_test), repeat=5)
    start = time.perf_counter()
    knn.compute_distances_one_loop(X_test[:100])
    one_loop = (time.perf_counter() - start) * NUM_TEST / 100
    start = time.perf_counter()
    knn.compute_distances_two_loops(X_test)
    two_loops = time.perf_counter() - start

    peak = peak_memory_bytes(lambda: knn.compute_distances_no_loops(X_test))
    matrix = NUM_TEST * NUM_TRAIN * 8
    cube = matrix * X_test.shape[1]
    case = f"{NUM_TEST} x {NUM_TRAIN:,} CIFAR-10 images"
    return [
        row("knn distances", f"no loops, {case} (median of 5)", no_loops),
        row("knn distances", f"one loop, {case} (100 test images x 5)", one_loop,
            ratio=one_loop / no_loops, ratio_of="one-loop / no-loop"),
        row("knn distances", f"two loops, {case} (one run)", two_loops,
            ratio=two_loops / no_loops, ratio_of="two-loop / no-loop", goal=">= 50x"),
        row("knn memory", "no loops: peak traced memory (tracemalloc)", peak, unit="B",
            ratio=peak / matrix, ratio_of="peak / (num_test x num_train float64)",
            goal="order of num_test x num_train (20 MB), not x D"),
        row("knn memory", "  a (num_test, num_train, D) float64 array would be", cube,
            unit="B", ratio=cube / peak, ratio_of="3-d array / no-loop peak"),
    ]


def check_rows() -> list[dict]:
    cls = reference_class()
    namespace = {"KNearestNeighbor": cls}
    client = Client(Loopback(ObjectServer(namespace)))
    remote = client.ref("KNearestNeighbor")
    items = ["KNearestNeighbor.train", "KNearestNeighbor.compute_distances_two_loops",
             "KNearestNeighbor.compute_distances_one_loop",
             "KNearestNeighbor.compute_distances_no_loops", "KNearestNeighbor.predict_labels",
             "KNearestNeighbor.predict"]

    def all_checks(obj, hidden):
        def run():
            for item in items:
                assert CHECKS[item].evaluate(obj, hidden=hidden, seed=1).passed, item
        return run

    rows = []
    for hidden in (False, True):
        direct, channel = compare(all_checks(cls, hidden), all_checks(remote, hidden), repeat=7)
        what = "hidden (grading) cases" if hidden else "public cases"
        rows += [
            row("knn checks", f"6 KNearestNeighbor checks, {what}, direct", direct),
            row("knn checks", "  same, through the channel (loopback)", channel,
                ratio=channel / direct, ratio_of="channel / direct"),
        ]
    return rows


def run() -> list[dict]:
    return check_rows() + distance_rows() + notebook_rows()
