"""Stored expected results for the checks of notebook 02 (linear classifiers).

Runs the instructor solution in
``course/source/02_linear_classifiers/02_linear_classifiers.ipynb`` (its imports and
the four loss-function cells, solution markers stripped) on fixed small problems and
writes ``course_lib/checks/data/linear.npz``. For each loss (``svm``, ``softmax``) and
case (``small``: N, D, C = 6, 5, 4; ``single``: 1, 4, 3; ``binary``: 7, 3, 2; ``batch``:
40, 5, 10, every label 0-9 and an all-zero image) it stores the inputs ``W, X, y, reg``,
the results ``loss, dW``, the data part alone (the same call with ``reg = 0``) as
``data_loss, data_dW``, and each example's own data loss as ``data_losses (N,)``, from
which the checks predict what the usual regularization, averaging and first-rows-only
mistakes would give. SVM cases are drawn so that no
margin is within 0.05 of the hinge's kink; the naive and vectorized solutions must agree.

Run it after changing the instructor solution::

    .venv/bin/python autograder/expected/linear.py
"""

from __future__ import annotations

import os
import sys

import numpy as np

from autograder import config, course
from course_lib.checks.linear import CASES, KINDS, STORED_FILE

NB_ID = "02_linear_classifiers"
CELLS = ("imports", "svm-naive-solution", "svm-vectorized-solution",
         "softmax-naive-solution", "softmax-vectorized-solution")
SHAPES = {"small": (6, 5, 4, 0.1), "single": (1, 4, 3, 0.05), "binary": (7, 3, 2, 0.2),
          "batch": (40, 5, 10, 0.05)}
SEED = 20240202


def run_instructor_solution() -> dict:
    """The namespace after running the instructor's loss-function cells."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    return course.run_instructor_cells(NB_ID, CELLS)


def _kink_free(W, X, y, gap=0.05) -> bool:
    s = X @ W
    m = s - s[np.arange(len(y)), y][:, None] + 1
    m[np.arange(len(y)), y] = np.inf
    return bool(np.abs(m).min() > gap)


def make_case(rng, N, D, C):
    X = rng.standard_normal((N, D))
    if N >= 32:
        X[N // 2] = 0.0  # an all-zero image: every score 0
    y = rng.permutation(np.arange(N) % C)  # every class present when N >= C
    while True:
        W = 0.5 * rng.standard_normal((D, C))
        if _kink_free(W, X, y):
            return W, X, y


def main() -> int:
    ns = run_instructor_solution()
    rng = np.random.default_rng(SEED)
    arrays = {}
    for case in CASES:
        N, D, C, reg = SHAPES[case]
        W, X, y = make_case(rng, N, D, C)
        for kind in KINDS:
            naive, vectorized = ns[f"{kind}_loss_naive"], ns[f"{kind}_loss_vectorized"]
            loss, dW = vectorized(W, X, y, reg)
            data_loss, data_dW = vectorized(W, X, y, 0.0)
            loss_n, dW_n = naive(W, X, y, reg)
            if not (np.isclose(loss, loss_n, rtol=1e-12) and np.allclose(dW, dW_n, rtol=1e-10,
                                                                          atol=1e-14)):
                print(f"{kind}/{case}: the naive and vectorized solutions disagree",
                      file=sys.stderr)
                return 1
            data_losses = [vectorized(W, X[i:i + 1], y[i:i + 1], 0.0)[0] for i in range(N)]
            values = {"W": W, "X": X, "y": y, "reg": reg, "loss": loss, "dW": dW,
                      "data_loss": data_loss, "data_dW": data_dW,
                      "data_losses": np.array(data_losses, dtype=np.float64)}
            for field, value in values.items():
                arrays[f"{kind}__{case}__{field}"] = np.asarray(value)
            print(f"{kind:8s}{case:8s} N={N} D={D} C={C} reg={reg}: loss {loss:.6f}")
    STORED_FILE.parent.mkdir(exist_ok=True)
    np.savez(STORED_FILE, **arrays)
    print(f"wrote {STORED_FILE.relative_to(config.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
