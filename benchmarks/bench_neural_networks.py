"""Notebook 04: the instructor notebook top to bottom, the regularization slider, the checks.

* the instructor version run in a fresh kernel with nbclient, as ``make test`` runs it
  (goal: at most 60 s), side by side with the same run with OpenBLAS limited to one thread
  (on a shared, oversubscribed machine BLAS threads can cost more than they bring);
* one move of the regularization explorer's slider (retrain the notebook's ``train_net`` on
  the notebook's spiral and redraw the boundary), for the sizes a student will pick;
* the grading run of the heaviest checks (Maxout and PReLU backward), directly and through
  the channel.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np

from autograder import course
from autograder.channel import Client, Loopback, ObjectServer
from benchmarks._util import compare, median_seconds, row
from course_lib import data
from course_lib.checks import CHECKS
from tests import nbtools

NB = "04_neural_networks"


def _cell(nb, cell_id: str) -> str:
    return next(c.source for c in nb.cells if c.get("id") == cell_id)


def _reference_namespace(nb) -> dict:
    """The notebook's reference answers, defined as a student's cells would define them."""
    namespace = {"__name__": "__main__", "np": np}
    for cell in nb.cells:
        if course.is_solution(cell) and cell.cell_type == "code":
            exec(textwrap.dedent(course.strip_solution_markers(cell.source)), namespace)
    return namespace


def _load() -> str:
    """The 1-minute load average, for reading the timings on a shared machine."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "unknown"


def run() -> list[dict]:
    os.environ.setdefault("MPLBACKEND", "Agg")
    path = course.source_path(NB)
    nb = course.read(path)
    load_before = _load()
    default, one_thread = compare(
        lambda: nbtools.execute(nb, path.parent),
        lambda: nbtools.execute(nb, path.parent, env={"OPENBLAS_NUM_THREADS": "1"}),
        repeat=3, warmup=0)
    rows = [
        row("notebook 04", "instructor version, fresh kernel (nbclient)", default,
            goal=f"at most 60 s (1-min load average before: {load_before})"),
        row("notebook 04", "same, kernel with OPENBLAS_NUM_THREADS=1", one_thread,
            ratio=default / one_thread, ratio_of="default threads / one thread"),
    ]

    from course_lib.widgets.regularization import regularization_explorer

    namespace = {"np": np}
    exec(_cell(nb, "train-net"), namespace)
    X, y = data.make_spiral(n_per_class=100, noise=0.2, seed=0)
    Xv, yv = data.make_spiral(n_per_class=100, noise=0.2, seed=1)
    for hidden in (20, 100):
        box = regularization_explorer(namespace["train_net"], X, y, X_val=Xv, y_val=yv,
                                      reg=1e-2, hidden_size=hidden)
        slider = box.explorer["reg"]

        def move(slider=slider):
            slider.value = 1e-3 if slider.value != 1e-3 else 1e-2

        rows.append(row("regularization slider", f"retrain + redraw, {hidden} hidden units",
                        median_seconds(move, repeat=5), goal="under a few seconds"))

    answers = _reference_namespace(nb)
    client = Client(Loopback(ObjectServer(answers)))
    for item, names in (("maxout_backward", ("maxout_forward", "maxout_backward")),
                        ("prelu_backward", ("prelu_forward", "prelu_backward"))):
        check = CHECKS[item]

        def remote(check=check, names=names):
            try:
                return check.evaluate(*(client.ref(n) for n in names), hidden=True, seed=1)
            finally:
                client.reset()

        direct, through = compare(
            lambda check=check, names=names: check.evaluate(
                *(answers[n] for n in names), hidden=True, seed=1),
            remote, repeat=5)
        rows += [
            row("notebook 04 checks", f"{item} grading run, direct", direct),
            row("notebook 04 checks", "same, through the channel (loopback)", through,
                ratio=through / direct, ratio_of="channel / direct"),
        ]
    return rows
