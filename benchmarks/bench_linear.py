"""Notebook 02 (linear classifiers): the instructor notebook's run time, naive vs vectorized
losses, one SGD iteration, and what the graded checks cost.

The loss functions and the classifier are the instructor solution, taken from the source
notebook (solution markers stripped), so the numbers are those of the code students see.
``NB02_RUNS`` sets how many times the whole notebook is run (default 3, each in a fresh
kernel, as "Run All" after a restart), once with the BLAS library's default number of
threads and once with one thread: on a shared, oversubscribed machine the small matrix
products of SGD run faster single-threaded, and the two rows show by how much.
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np

from autograder import course
from autograder.channel import Client, Loopback, ObjectServer
from benchmarks._util import compare, median_seconds, row
from course_lib.checks import CHECKS
from course_lib.data import get_cifar10_splits

NB_ID = "02_linear_classifiers"
SOLUTION_CELLS = ("imports", "svm-naive-solution", "svm-vectorized-solution",
                  "softmax-naive-solution", "softmax-vectorized-solution",
                  "linear-classifier-solution")


def _solution_namespace() -> dict:
    os.environ.setdefault("MPLBACKEND", "Agg")
    return course.run_instructor_cells(NB_ID, SOLUTION_CELLS)


# Appended to the executed copy: the kernel's own CPU time (user + system, all threads),
# which depends much less than wall time on what else the shared machine is running.
_CPU_PROBE = "import os as _os\n_t = _os.times()\nprint('KERNEL_CPU', _t.user + _t.system)"


def _notebook_seconds(threads: str | None) -> tuple[float, float]:
    """One top-to-bottom run of the instructor notebook in a fresh kernel: (wall seconds,
    kernel CPU seconds). ``threads`` sets OPENBLAS_NUM_THREADS for that kernel (None: the
    library's default, one thread per core)."""
    import nbformat
    from nbclient import NotebookClient

    path = course.source_path(NB_ID)
    nb = nbformat.read(str(path), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(_CPU_PROBE))
    client = NotebookClient(nb, timeout=1800, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    saved = os.environ.get("OPENBLAS_NUM_THREADS")
    if threads is not None:
        os.environ["OPENBLAS_NUM_THREADS"] = threads
    try:
        start = time.perf_counter()
        client.execute()
        wall = time.perf_counter() - start
        probe = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
        return wall, float(probe.split()[-1])
    finally:
        if saved is None:
            os.environ.pop("OPENBLAS_NUM_THREADS", None)
        else:
            os.environ["OPENBLAS_NUM_THREADS"] = saved


def run() -> list[dict]:
    ns = _solution_namespace()
    data = get_cifar10_splits(num_training=4585, num_validation=500, num_test=1017,
                              num_dev=500, bias_trick=True, seed=0)
    X_dev, y_dev = data["X_dev"], data["y_dev"]
    W = 1e-4 * np.random.default_rng(0).standard_normal((X_dev.shape[1], 10))
    rows = []
    for kind in ("svm", "softmax"):
        naive, vectorized = ns[f"{kind}_loss_naive"], ns[f"{kind}_loss_vectorized"]
        t_naive, t_vec = compare(lambda f=naive: f(W, X_dev, y_dev, 5e1),
                                 lambda f=vectorized: f(W, X_dev, y_dev, 5e1), repeat=5)
        rows += [
            row("linear losses", f"{kind}_loss_naive, 500 x 3073, C=10", t_naive),
            row("linear losses", f"{kind}_loss_vectorized, same", t_vec,
                ratio=t_naive / t_vec, ratio_of="naive / vectorized"),
        ]

    X_train, y_train = data["X_train"], data["y_train"]

    def sgd(cls, iters=100):
        np.random.seed(0)
        cls().train(X_train, y_train, learning_rate=1e-7, reg=1e3, num_iters=iters)

    for cls in ("LinearSVM", "Softmax"):
        seconds = median_seconds(lambda c=ns[cls]: sgd(c), repeat=3)
        rows.append(row("linear SGD", f"{cls}.train: one iteration, batch 200 of 4,585",
                        seconds / 100,
                        goal="the notebook's search runs 2 x (9 x 200 + 1,000) of these"))

    client = Client(Loopback(ObjectServer(ns)))
    for item, args in (("svm_loss_naive", ("svm_loss_naive",)),
                       ("softmax_loss_vectorized", ("softmax_loss_vectorized",)),
                       ("LinearClassifier.train", ("LinearSVM",))):
        check = CHECKS[item]
        for hidden in (False, True):
            direct, remote = compare(
                lambda c=check, a=args, h=hidden: c.evaluate(*[ns[n] for n in a], hidden=h,
                                                             seed=1),
                lambda c=check, a=args, h=hidden: c.evaluate(*[client.ref(n) for n in a],
                                                             hidden=h, seed=1),
                repeat=5)
            what = "grading cases" if hidden else "public"
            rows += [row("linear checks", f"{item} ({what}), direct", direct),
                     row("linear checks", f"{item} ({what}), channel", remote,
                         ratio=remote / direct, ratio_of="channel / direct")]

    runs = int(os.environ.get("NB02_RUNS", "3"))
    default, single = [], []
    load_before = os.getloadavg()[0]
    for _ in range(runs):  # interleaved, so both settings see the same machine load
        default.append(_notebook_seconds(None))
        single.append(_notebook_seconds("1"))
    load = (load_before + os.getloadavg()[0]) / 2
    where = f"{runs} runs, load average ~{load:.1f} on {os.cpu_count()} CPUs"
    wall_d, cpu_d = (statistics.median(v) for v in zip(*default))
    wall_1, cpu_1 = (statistics.median(v) for v in zip(*single))
    rows += [
        row("notebook 02", f"instructor version, top to bottom ({where})", wall_d,
            goal="at most 60 s on the 2-core machine"),
        row("notebook 02", "  the kernel's CPU time (user + sys) in those runs", cpu_d,
            ratio=cpu_d / wall_d, ratio_of="CPU / wall"),
        row("notebook 02", "same, kernel with OPENBLAS_NUM_THREADS=1", wall_1,
            ratio=wall_d / wall_1, ratio_of="default threads / one thread"),
        row("notebook 02", "  the kernel's CPU time (user + sys) in those runs", cpu_1,
            ratio=cpu_1 / wall_1, ratio_of="CPU / wall"),
    ]
    return rows
