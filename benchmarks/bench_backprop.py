"""Notebook 03: the instructor notebook top to bottom, its grading checks, and the explorer.

* the instructor version run in a fresh kernel with nbclient, as ``make test`` runs it
  (goal: at most 30 s);
* the grading (hidden) run of the heaviest check, ``Value.backward`` (30 random
  expressions, every operation a call), directly and through the channel;
* one step of the graph explorer (recompute and redraw), which a student waits for at
  every click.
"""

from __future__ import annotations

import os
import textwrap

from autograder import course
from autograder.channel import Client, Loopback, ObjectServer
from benchmarks._util import compare, median_seconds, row
from course_lib.checks import CHECKS
from tests import nbtools

NB = "03_backprop"


def _reference_namespace() -> dict:
    """The notebook's reference Value class, defined as a student's cell would define it."""
    source = course.read(course.source_path(NB))
    cell = next(c for c in source.cells if c.get("id") == "value-solution")
    namespace = {"__name__": "__main__"}
    exec("import math\n" + textwrap.dedent(course.strip_solution_markers(cell.source)),
         namespace)
    return namespace


def run() -> list[dict]:
    os.environ.setdefault("MPLBACKEND", "Agg")
    path = course.source_path(NB)
    nb = course.read(path)
    notebook = median_seconds(lambda: nbtools.execute(nb, path.parent), repeat=3, warmup=0)
    rows = [row("notebook 03", "instructor version, fresh kernel (nbclient)", notebook,
                goal="at most 30 s")]

    namespace = _reference_namespace()
    client = Client(Loopback(ObjectServer(namespace)))
    check = CHECKS["Value.backward"]

    def remote():
        try:
            return check.evaluate(client.ref("Value"), hidden=True, seed=1)
        finally:
            client.reset()

    direct, through = compare(lambda: check.evaluate(namespace["Value"], hidden=True, seed=1),
                              remote, repeat=5)
    rows += [
        row("notebook 03", "Value.backward grading run, direct", direct),
        row("notebook 03", "same, through the channel (loopback)", through,
            ratio=through / direct, ratio_of="channel / direct"),
    ]

    from course_lib.widgets.graph_explorer import graph_explorer

    neuron = graph_explorer("f = 1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))",
                            {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3})
    n = len(neuron.walk.steps)

    def click():
        neuron.go((neuron.step + 1) % (n + 1))

    def type_input():
        neuron.boxes["w0"].value = 3.0 if neuron.boxes["w0"].value == 2.0 else 2.0

    rows += [
        row("graph explorer", "one step (sigmoid neuron, 8 gates)",
            median_seconds(click, repeat=50), goal="feels instant: under 50 ms"),
        row("graph explorer", "an input changed (recompute and redraw)",
            median_seconds(type_input, repeat=50), goal="under 50 ms"),
    ]
    return rows
