"""Stored expected results for the checks of notebook 01 (k-nearest neighbours).

Runs the instructor solution in ``course/source/01_knn/01_knn.ipynb`` (its imports,
data, ``KNearestNeighbor`` and cross-validation cells, solution markers stripped) on the
shipped CIFAR-10 subset and writes ``course_lib/checks/data/knn_cv.npz``:

- ``k_choices (10,)`` and ``fold_accuracies (10, 5)``: the 5-fold cross-validation
  accuracies of every k, folds in ``np.array_split`` order;
- ``y_train_crc32``: a fingerprint of the 5,000 training labels, so that the check compares
  with these numbers only when the student's data is this same subset.

Run it after changing the instructor solution or the data::

    .venv/bin/python autograder/expected/knn.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from autograder import config, course
from course_lib.checks.knn import DATA, K_CHOICES, labels_fingerprint

CELLS = ("imports", "load-data", "subsample-data", "knn-class", "cross-validation-solution")


def run_instructor_solution() -> dict:
    """The namespace after running the instructor's cells that the stored values need."""
    os.environ["COURSE_DATA"] = str(config.ROOT / "data")  # the shipped subset, always
    os.environ.setdefault("MPLBACKEND", "Agg")
    return course.run_instructor_cells("01_knn", CELLS)


def main() -> int:
    ns = run_instructor_solution()
    k_choices = tuple(ns["k_choices"])
    if k_choices != K_CHOICES:
        print(f"the notebook's k_choices {k_choices} differ from the check's {K_CHOICES}",
              file=sys.stderr)
        return 1
    accs = np.array([ns["k_to_accuracies"][k] for k in k_choices], dtype=np.float64)
    out = Path(DATA) / "knn_cv.npz"
    out.parent.mkdir(exist_ok=True)
    np.savez(out, k_choices=np.array(k_choices), fold_accuracies=accs,
             y_train_crc32=np.int64(labels_fingerprint(ns["y_train"])))
    print(f"wrote {out.relative_to(config.ROOT)}: best k {ns['best_k']}, mean accuracies "
          + ", ".join(f"{k}: {a:.4f}" for k, a in zip(k_choices, accs.mean(axis=1))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
