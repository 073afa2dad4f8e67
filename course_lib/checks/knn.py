"""Checks for notebook 01: k-nearest neighbours, in CS231n's ``KNearestNeighbor`` API.

Every check takes the student's whole class (``CHECKS["KNearestNeighbor.predict_labels"](
KNearestNeighbor)``), builds fresh instances through :func:`call` and talks to them only
through the check helpers, so the same body runs in the student's kernel and against the
autograder's sandbox.

Where the expected values come from (no reference implementation ships here):

* distances: every entry ``sqrt(sum((X[i] - X_train[j])**2))`` of the check's small cases,
  by its definition; integer "pixel" data keeps every version exact, so a duplicate point
  is at distance exactly 0 (and float32 or rounding shows);
* labels: cases designed so the vote's winner is known by construction (the neighbours'
  labels are chosen first), plus one hand-made table;
* ``predict``: well separated clusters whose nearest, two nearest and three nearest
  training points are known by construction;
* cross-validation: structure and arithmetic (every accuracy is a count over a fold of
  1,000 images) and, on the shipped CIFAR-10 subset, the fold accuracies stored by
  ``autograder/expected/knn.py`` from the instructor solution.
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import (
    CheckFailed,
    Mistake,
    RemoteHandle,
    as_array,
    as_dict,
    as_float,
    as_int,
    as_list,
    call,
    diagnose,
    expect_vectorized,
    fail,
    fmt,
    get_attr,
    materialize,
    register,
)

DATA = Path(__file__).resolve().parent / "data"
K_CHOICES = (1, 3, 5, 8, 10, 12, 15, 20, 50, 100)
NUM_FOLDS = 5
FOLD_SIZE = 1000  # 5,000 training images in 5 folds
DISTANCE_METHODS = {
    "compute_distances_two_loops": "two-loop",
    "compute_distances_one_loop": "one-loop",
    "compute_distances_no_loops": "no-loop",
}


# --------------------------------------------------------------------------- helpers

def _fresh(cls):
    """A new instance of the student's class."""
    return call(cls)


def _trained(cls, X_train, y_train):
    """A new instance trained on copies of ``X_train``, ``y_train`` (kept pristine here)."""
    knn = _fresh(cls)
    call(get_attr(knn, "train"), X_train.copy(), y_train.copy(), names=("X", "y"))
    return knn


def _labels_for(n, rng, num_classes=10):
    return rng.integers(0, num_classes, size=n).astype(np.int64)


def _pixels(rng, n, d):
    """Integer 'pixel' rows in 0..255 as float64: every distance computation stays exact."""
    return rng.integers(0, 256, size=(n, d)).astype(np.float64)


def _l2(a, b) -> float:
    """One hand-computable entry: the L2 distance between two rows."""
    return float(np.sqrt(np.sum((a - b) ** 2)))


def _all_l2(X, X_train) -> np.ndarray:
    """(num_test, num_train): the definition, entry by entry, on the check's small cases."""
    return np.sqrt(((X[:, None, :] - X_train[None, :, :]) ** 2).sum(axis=2))


def _show_row(x) -> str:
    return fmt(x) if x.size <= 8 else f"a row of {x.size} numbers"


# --------------------------------------------------------------------------- train

_TRAIN_PREPROCESSES = Mistake(
    "train-preprocesses", "train changes the data it stores",
    "the nearest-neighbour classifier only memorises its training data: store X unchanged, "
    "no preprocessing")
_TRAIN_APPENDS = Mistake(
    "train-appends", "train adds to the stored data instead of replacing it",
    "train must replace the stored data, not add to it: assign self.X_train = X (no "
    "concatenation with what was there)")
_TRAIN_KEEPS_OLD = Mistake(
    "train-keeps-old-data", "a second call of train keeps the first call's data",
    "each call of train must store its own X and y: assign self.X_train = X and "
    "self.y_train = y every time (no 'if not hasattr(...)' guard, no cache)")
_TRAIN_PARTIAL = Mistake(
    "train-keeps-some-rows", "train stores only some of the training images",
    "store every row of X: self.X_train = X (no slicing)")
_TRAIN_TRANSPOSED = Mistake(
    "train-transposed", "train stores X transposed",
    "self.X_train holds X transposed: store X as given, one training image per row")


def _check_stored_rows(name, stored, given, hint_partial):
    """Fail with the reason when ``stored`` (validated shape unknown) is not ``given``."""
    n = given.shape[0]
    if type(stored) is np.ndarray and stored.ndim == given.ndim and stored.shape != given.shape:
        if given.ndim == 2 and stored.shape == given.shape[::-1]:
            fail(f"{name} has shape {stored.shape}, expected {given.shape}: it is transposed.",
                 hint=_TRAIN_TRANSPOSED)
        if stored.shape[0] < n and stored.shape[1:] == given.shape[1:]:
            fail(f"{name} holds {stored.shape[0]} rows after train was given {n}.",
                 hint=hint_partial)


@register("KNearestNeighbor.train", "train memorises the training data as self.X_train, "
          "self.y_train")
def _(ctx, KNearestNeighbor):
    # Same width in a row: a train that appends instead of replacing, or keeps the first
    # call's data, shows; more than 32 images: a train that keeps a few rows shows.
    shapes = [(6, 4), (9, 4), (40, 4)]
    if ctx.hidden:
        shapes += [(1, 5), (int(ctx.rng.integers(100, 140)), 5),
                   (int(ctx.rng.integers(2, 40)), int(ctx.rng.integers(1, 50)))]
    knn = _fresh(KNearestNeighbor)
    train = get_attr(knn, "train")
    first = None
    for calls, (n, d) in enumerate(shapes, start=1):
        X, y = _pixels(ctx.rng, n, d), _labels_for(n, ctx.rng)
        call(train, X.copy(), y.copy(), names=("X", "y"))
        stored_X = materialize(get_attr(knn, "X_train"))
        stored_y = materialize(get_attr(knn, "y_train"))
        if calls > 1 and type(stored_X) is np.ndarray and stored_X.ndim == 2 \
                and stored_X.shape[0] > n:
            fail(f"after a second call of train with {n} new images, self.X_train holds "
                 f"{stored_X.shape[0]} rows.", hint=_TRAIN_APPENDS)
        if calls > 1 and type(stored_X) is np.ndarray and first is not None \
                and stored_X.shape == first.shape and np.array_equal(stored_X, first):
            fail(f"after a second call of train with {n} new images, self.X_train still holds "
                 "the images of the first call.", hint=_TRAIN_KEEPS_OLD)
        _check_stored_rows("self.X_train", stored_X, X, _TRAIN_PARTIAL)
        _check_stored_rows("self.y_train", stored_y, y, _TRAIN_PARTIAL)
        stored_X = as_array(stored_X, "self.X_train", shape=(n, d), kind="any")
        stored_y = as_array(stored_y, "self.y_train", shape=(n,), kind="any")
        if first is None:
            first = stored_X.copy()
        if not np.array_equal(stored_X.astype(np.float64), X):
            fail(f"self.X_train does not hold the X given to train (case of {n} images with "
                 f"{d} numbers each).", hint=_TRAIN_PREPROCESSES)
        if not np.array_equal(stored_y.astype(np.float64), y):
            fail(f"self.y_train does not hold the labels y given to train (case of {n} "
                 "images).", hint=Mistake("train-changes-labels", "train changes the labels",
                                          "store y unchanged: self.y_train = y"))


# --------------------------------------------------------------------------- distances

_NAN = Mistake(
    "nan-distances", "nan or inf distances (sqrt of a negative number)",
    "np.sqrt of a negative number gives nan: with the expansion ||x||^2 + ||y||^2 - 2 x.y "
    "check the signs and the factor 2")


def _distances(knn, method, X, num_train):
    """Call one distance method and validate: an exact float64 array (num_test, num_train)."""
    label = f"KNearestNeighbor.{method}"
    out = materialize(call(get_attr(knn, method), X.copy(), names=("X",)))
    num_test = X.shape[0]
    if type(out) is np.ndarray and out.shape != (num_test, num_train):
        hint = None
        if out.shape == (num_train, num_test):
            hint = Mistake("transposed", "transposed result",
                           "it is transposed: the row index is the test image, the column "
                           "index the training image")
        elif out.ndim == 3:
            hint = Mistake("distances-3d", "distances left as a 3-d array",
                           "a 3-d array: sum the squared differences over the pixel axis. "
                           "(For 500 x 5,000 CIFAR images such an array would need 61 GB!)")
        fail(f"{label} returned an array of shape {out.shape}; expected (num_test, num_train)"
             f" = ({num_test}, {num_train}): one row per test image, one column per "
             "training image.", hint=hint)
    dists = as_array(out, f"the distances from {method}", shape=(num_test, num_train),
                     finite=False)
    bad = np.argwhere(~np.isfinite(dists))
    if len(bad):
        i, j = (int(v) for v in bad[0])
        fail(f"{label} returned {dists[i, j]} at dists[{i}, {j}] ({len(bad)} non-finite "
             "entries).", hint=_NAN)
    return dists


def _entry_hints(X, X_train, expected):
    """{Mistake: the whole matrix that mistake gives} for the whole-matrix mistakes."""
    nx, nt = np.sum(X * X, axis=1)[:, None], np.sum(X_train * X_train, axis=1)[None, :]
    dot = X @ X_train.T
    hints = {
        Mistake("squared-distances", "squared distances (no square root)",
                "your distances are the squares of the true ones: take the square root at the "
                "end (np.sqrt)"): expected ** 2,
        Mistake("l1-distances", "L1 instead of L2 distances",
                "these are L1 distances (sum of absolute differences); this exercise wants "
                "L2, the square root of the sum of squared differences"):
            np.abs(X[:, None, :] - X_train[None, :, :]).sum(axis=2),
        Mistake("cross-term-factor", "cross term without its factor 2",
                "the cross term is missing its factor 2: ||x - y||^2 = ||x||^2 + ||y||^2 - "
                "2 x.y"): np.sqrt(np.maximum(nx + nt - dot, 0)),
        Mistake("cross-term-sign", "cross term with the wrong sign",
                "the cross term has the wrong sign: ||x - y||^2 = ||x||^2 + ||y||^2 - 2 x.y "
                "(minus)"): np.sqrt(nx + nt + 2 * dot),
        Mistake("missing-norm-term", "a squared-norm term missing from the expansion",
                "the test images' squared norms ||x||^2 are missing: ||x - y||^2 = ||x||^2 + "
                "||y||^2 - 2 x.y"): np.sqrt(np.maximum(nt - 2 * dot, 0)),
        Mistake("missing-norm-term", "a squared-norm term missing from the expansion",
                "the training images' squared norms ||y||^2 are missing: ||x - y||^2 = "
                "||x||^2 + ||y||^2 - 2 x.y"): np.sqrt(np.maximum(nx - 2 * dot, 0)),
        Mistake("norms-summed-over-all", "squared norms summed over every image",
                "the training images' squared norms are summed over all the images: "
                "||y||^2 is one number per training image, np.sum(X_train**2, axis=1)"):
            np.sqrt(np.maximum(nx + nt.sum() - 2 * dot, 0)),
        Mistake("norms-summed-over-all", "squared norms summed over every image",
                "the test images' squared norms are summed over all the images: ||x||^2 is "
                "one number per test image, np.sum(X**2, axis=1)"):
            np.sqrt(np.maximum(nx.sum() + nt - 2 * dot, 0)),
        Mistake("integer-dtype", "results rounded to whole numbers (integer dtype)",
                "the distances are rounded down to whole numbers: was dists created with an "
                "integer dtype? Use np.zeros((num_test, num_train)) (float64)"):
            np.floor(expected),
        Mistake("every-row-is-row-0", "every row computed from the first test image",
                "every row holds the distances of test image X[0]: use X[i] for row i"):
            np.repeat(expected[:1], len(X), axis=0),
    }
    if X.shape[0] == X_train.shape[0]:
        hints[Mistake("transposed", "transposed result",
                      "the matrix is transposed: dists[i, j] must compare test row i with "
                      "training row j")] = expected.T
    return hints


def _pattern_hint(got, expected, wrong):
    """The mistake a pattern of wrong entries points to, or None."""
    num_test, num_train = got.shape
    rows = np.flatnonzero(wrong.any(axis=1))
    cols = np.flatnonzero(wrong.any(axis=0))
    if len(cols) == 1 and cols[0] == num_train - 1 and num_train > 1 and np.all(got[:, -1] == 0):
        return Mistake("loop-range-off-by-one", "a loop range one short",
                       "the last column is never set: an off-by-one in a loop range, use "
                       "range(num_train)")
    if len(rows) == 1 and rows[0] == num_test - 1 and num_test > 1 and np.all(got[-1] == 0):
        return Mistake("loop-range-off-by-one", "a loop range one short",
                       "the last row is never set: an off-by-one in a loop range, use "
                       "range(num_test)")
    if len(rows) and rows[0] >= 8 and np.all(wrong[rows[0]:].any(axis=1)) \
            and not wrong[:rows[0]].any() and num_test > rows[0] + 1:
        return Mistake("first-rows-only", "only the first rows are computed",
                       f"rows 0 to {rows[0] - 1} are right and every row from {rows[0]} on is "
                       f"wrong: only the first {rows[0]} test images are computed. Every "
                       "test image needs its row, however many there are")
    if num_train > 1 and np.all(np.ptp(got, axis=1) == 0) and not np.all(
            np.ptp(expected, axis=1) == 0):
        return Mistake("row-constant", "the same value across a whole row",
                       "each row holds the same value in every column: dists[i, j] must "
                       "depend on j. Did you use X_train[i] instead of X_train[j], or sum "
                       "over every axis instead of axis=1?")
    return None


def _precision_hint(got, expected, wrong):
    rel = np.abs(got - expected)[wrong] / np.maximum(np.abs(expected[wrong]), 1)
    if rel.max() < 1e-4:
        return Mistake("low-precision", "converted to lower precision than float64",
                       "close but only to about 7 digits: the computation lost precision "
                       "somewhere, as float32 (single precision) does. Keep float64 "
                       "throughout")
    return None


def _check_entries(method, dists, X, X_train, context):
    expected = _all_l2(X, X_train)
    wrong = np.abs(dists - expected) > 1e-9 * (1 + np.abs(expected))
    if not wrong.any():
        return
    i, j = np.unravel_index(int(np.argmax(np.abs(dists - expected) * wrong)), wrong.shape)
    text = (f"KNearestNeighbor.{method} is wrong {context}: {int(wrong.sum())} of the "
            f"{wrong.size} entries differ. dists[{i}, {j}] should be the L2 "
            f"distance between test row X[{i}] and training row X_train[{j}], "
            f"sqrt(sum((X[{i}] - X_train[{j}])**2)) = {fmt(expected[i, j])}, but it is "
            f"{fmt(dists[i, j])}.")
    if X.shape[1] <= 8:
        text += f"\n  X[{i}] = {_show_row(X[i])}\n  X_train[{j}] = {_show_row(X_train[j])}"
    hint = diagnose(dists, expected, _entry_hints(X, X_train, expected), rtol=1e-6, atol=1e-7)
    if hint is None or not isinstance(hint, Mistake):
        hint = _pattern_hint(dists, expected, wrong) or _precision_hint(
            dists, expected, wrong) or hint
    raise CheckFailed(text, hint=hint)


def _stored_training_data(knn):
    """self.X_train as it is now, or None (stored under another name: the train check
    says so)."""
    try:
        stored = materialize(get_attr(knn, "X_train"))
    except CheckFailed:
        return None
    return stored.copy() if type(stored) is np.ndarray else None


def _check_training_data_kept(knn, method, before):
    after = _stored_training_data(knn)
    if before is not None and after is not None and (
            after.shape != before.shape or not np.array_equal(after, before)):
        fail(f"KNearestNeighbor.{method} changed the stored training data self.X_train in "
             "place.", hint=Mistake(
                 "changed-training-data", "changed the stored training data in place",
                 "compute with new arrays (e.g. diff = self.X_train - X[i]) instead of "
                 "modifying self.X_train"))


def _distance_cases(ctx):
    """(X_train, X, description) cases; integer data, num_test != num_train unless noted."""
    rng = ctx.rng
    hand_train = np.array([[0, 0, 0, 0], [3, 4, 0, 0], [1, 2, 2, 4]], dtype=np.float64)
    hand_test = np.array([[0, 0, 0, 0], [3, 0, 2, 1]], dtype=np.float64)
    cases = [
        (hand_train, hand_test, "on a 2 x 3 case with 4 'pixels' per image"),
        (_pixels(rng, 11, 12), _pixels(rng, 7, 12),
         "on 7 test and 11 training images of 12 pixels"),
        (_pixels(rng, 9, 6), _pixels(rng, 40, 6), "on 40 test and 9 training images"),
        (_pixels(rng, 4, 3072), _pixels(rng, 3, 3072),
         "on 3 test and 4 training images of CIFAR size (3,072 pixels)"),
    ]
    if ctx.hidden:
        n_tr, n_te = int(rng.integers(2, 40)), int(rng.integers(2, 30))
        d = int(rng.integers(1, 60))
        cases.append((_pixels(rng, n_tr, d), _pixels(rng, n_te, d),
                      f"on {n_te} test and {n_tr} training images of {d} pixels"))
        n_te = int(rng.integers(100, 130))
        cases.append((_pixels(rng, 12, 5), _pixels(rng, n_te, 5),
                      f"on {n_te} test and 12 training images"))
        n = int(rng.integers(3, 12))
        cases.append((_pixels(rng, n, 5), _pixels(rng, n, 5),
                      f"on a square case, {n} test and {n} training images"))
        cases.append((_pixels(rng, 1, 3), _pixels(rng, 1, 3), "on 1 test and 1 training image"))
        cases.append((np.zeros((3, 4)), np.zeros((2, 4)), "on all-zero images"))
        base = _pixels(rng, 5, 8)
        train = base[[0, 1, 1, 2, 3, 3, 4]]  # duplicate training points
        test = np.vstack([base[[1, 3]], _pixels(rng, 2, 8)])  # test points equal to training
        cases.append((train, test, "with duplicate training points and test points equal "
                      "to training points (distance 0)"))
        cases.append((np.round(rng.normal(0, 60, (9, 10)), 3),
                      np.round(rng.normal(0, 60, (6, 10)), 3),
                      "on mean-subtracted data (negative, non-integer values)"))
    return cases


def _distance_check(ctx, cls, method):
    for X_train, X, context in _distance_cases(ctx):
        y = _labels_for(len(X_train), ctx.rng)
        knn = _trained(cls, X_train, y)
        stored = _stored_training_data(knn)
        dists = _distances(knn, method, X, len(X_train))
        _check_entries(method, dists, X, X_train, context)
        _check_training_data_kept(knn, method, stored)


@register("KNearestNeighbor.compute_distances_two_loops",
          "L2 distances (num_test, num_train) with a loop over test and training images")
def _(ctx, KNearestNeighbor):
    _distance_check(ctx, KNearestNeighbor, "compute_distances_two_loops")


@register("KNearestNeighbor.compute_distances_one_loop",
          "L2 distances (num_test, num_train) with one loop over the test images")
def _(ctx, KNearestNeighbor):
    _distance_check(ctx, KNearestNeighbor, "compute_distances_one_loop")
    # One loop, over the test images: the Python work must not grow with num_train.
    X_train, X = _pixels(ctx.rng, 100, 6), _pixels(ctx.rng, 5, 6)
    knn = _fresh(KNearestNeighbor)
    train = get_attr(knn, "train")

    def trained_on(n):
        call(train, X_train[:n].copy(), _labels_for(n, ctx.rng), names=("X", "y"))
        return (X.copy(),)

    expect_vectorized(get_attr(knn, "compute_distances_one_loop"), trained_on,
                      "compute_distances_one_loop", over="the training images",
                      label="KNearestNeighbor.compute_distances_one_loop")


@register("KNearestNeighbor.compute_distances_no_loops",
          "L2 distances (num_test, num_train) without Python loops")
def _(ctx, KNearestNeighbor):
    _distance_check(ctx, KNearestNeighbor, "compute_distances_no_loops")
    X_train = _pixels(ctx.rng, 20, 6)
    knn = _trained(KNearestNeighbor, X_train, _labels_for(20, ctx.rng))
    X = _pixels(ctx.rng, 100, 6)
    expect_vectorized(get_attr(knn, "compute_distances_no_loops"), lambda n: (X[:n].copy(),),
                      "compute_distances_no_loops", over="the test images",
                      label="KNearestNeighbor.compute_distances_no_loops")


# --------------------------------------------------------------------------- predict_labels

# A hand-made case: 8 training labels, 5 test rows given by the order of their neighbours
# (nearest first). For each k: the right labels, then what each mistake would give.
HAND_Y_TRAIN = (2, 0, 2, 1, 1, 0, 3, 2)
HAND_ORDER = ((3, 7, 0, 5, 6, 4, 2, 1), (2, 3, 5, 0, 6, 4, 1, 7), (6, 1, 5, 3, 0, 7, 4, 2),
              (3, 6, 2, 5, 0, 4, 1, 7), (5, 6, 3, 2, 0, 7, 4, 1))
HAND_LABELS = {  # k: (right, ties to larger, ties to nearest, k=1, k+1, skip nearest, farthest)
    1: ((1, 2, 3, 1, 0), None, None, None, (1, 1, 0, 1, 0), (2, 1, 0, 3, 3), (0, 2, 2, 2, 0)),
    3: ((2, 0, 0, 1, 0), (2, 2, 0, 3, 3), (2, 2, 0, 1, 0), (1, 2, 3, 1, 0), (2, 2, 0, 0, 0),
        (2, 0, 0, 0, 1), (0, 0, 2, 0, 0)),
    5: ((2, 2, 0, 2, 2), None, None, (1, 2, 3, 1, 0), (1, 1, 0, 1, 2), (2, 1, 0, 2, 2),
        (0, 2, 2, 0, 2)),
    2: ((1, 1, 0, 1, 0), (2, 2, 3, 3, 3), (1, 2, 3, 1, 0), (1, 2, 3, 1, 0), (2, 0, 0, 1, 0),
        (2, 0, 0, 2, 1), (0, 0, 1, 0, 0)),
    4: ((2, 2, 0, 0, 0), (2, 2, 0, 3, 3), (2, 2, 0, 1, 0), (1, 2, 3, 1, 0), (2, 2, 0, 2, 2),
        (2, 0, 0, 2, 2), (0, 0, 2, 2, 2)),
}
_TIE_RULE = ("A tied vote goes to the smaller label: np.argmax(np.bincount(closest_y)) does "
             "that (np.argmax returns the first maximum)")
TIE_RULE = Mistake("tie-rule", "a tied vote not given to the smaller label", _TIE_RULE)
TIES_LARGER = Mistake("ties-toward-larger-label", "ties broken toward the larger label",
                      "you broke a tied vote toward the larger label. " + _TIE_RULE)
TIES_NEAREST = Mistake("ties-toward-nearest", "ties broken toward the nearest neighbour",
                       "you broke a tied vote toward the nearest neighbour's label "
                       "(Counter.most_common does that). " + _TIE_RULE)
_HINT_TEXT = (
    TIES_LARGER,
    TIES_NEAREST,
    Mistake("ignores-k", "the vote ignores k (uses k = 1)",
            "these are the k = 1 labels: did you use the argument k (not a fixed 1 or "
            "self.k)?"),
    Mistake("k-plus-one", "k + 1 neighbours vote",
            "these are the votes of the k + 1 nearest: an off-by-one in the slice, take "
            "np.argsort(dists[i])[:k]"),
    Mistake("skips-nearest", "the nearest neighbour is skipped",
            "these are the votes of neighbours 2 .. k + 1: the nearest one was skipped (the "
            "test image is not in the training set, keep index 0)"),
    Mistake("farthest-neighbours", "the k farthest vote",
            "these are the votes of the k farthest training images: np.argsort sorts "
            "ascending, the nearest come first"),
)
INDICES_NOT_LABELS = Mistake(
    "indices-not-labels", "training indices returned instead of labels",
    "these are indices of training images, not their labels: look the labels up in "
    "self.y_train")
MEAN_LABEL = Mistake(
    "mean-label", "the mean of the neighbours' labels instead of a vote",
    "these are the means of the neighbours' labels (rounded down): averaging labels is not a "
    "vote. Count the votes with np.bincount and take the label with the most")
COUNT_NOT_LABEL = Mistake(
    "count-not-label", "the winning vote count instead of the winning label",
    "these are the numbers of votes the winner got, not the winning labels: take "
    "np.argmax(np.bincount(closest_y)), not .max()")
ROW_0 = Mistake("every-row-is-row-0", "every row computed from the first test image",
                "every test image got the label of test image 0: use dists[i] for test "
                "image i")


def _first_rows_hint(got, expected):
    """Rows 0 .. r-1 right and every row from r on wrong: a special case for small inputs."""
    wrong = np.flatnonzero(got != expected)
    r = int(wrong[0]) if len(wrong) else 0
    if r >= 8 and len(got) - r >= 2 and (np.all(got[r:] != expected[r:])
                                         or np.all(got[r:] == got[r])):
        return Mistake("first-rows-only", "only the first rows are computed",
                       f"rows 0 to {r - 1} are right and every row from {r} on is wrong: only "
                       f"the first {r} test images are handled. Every test image needs its "
                       "label, however many there are")
    return None


def _tie_hint(got, expected, y, orders, k):
    """Which tie rule explains the wrong rows of a vote: larger label or nearest
    neighbour's label (None when the wrong rows are not ties). orders: nearest first."""
    larger = nearest = 0
    wrong = np.flatnonzero(got != expected)
    for i in wrong:
        labels = [int(v) for v in y[orders[i][:k]]]
        counts = {lab: labels.count(lab) for lab in labels}
        tied = [lab for lab, c in counts.items() if c == max(counts.values())]
        if len(tied) < 2 or int(got[i]) not in tied:
            return None
        larger += int(got[i]) == max(tied)
        nearest += int(got[i]) == next(lab for lab in labels if lab in tied)
    if larger == len(wrong) and (nearest < len(wrong) or larger >= nearest):
        return TIES_LARGER
    return TIES_NEAREST if nearest == len(wrong) else TIES_LARGER


def _explain(i, near_labels, right, got) -> str:
    """Why test image i gets label ``right``: its neighbours' labels, nearest first."""
    if len(near_labels) == 1:
        return (f"Test image {i}: its nearest training image has label {near_labels[0]}, "
                f"not {int(got)}.")
    counts = [near_labels.count(lab) for lab in set(near_labels)]
    tie = " (a tie: the smaller label wins)" if counts.count(max(counts)) > 1 else ""
    return (f"Test image {i}: the labels of its {len(near_labels)} nearest training images "
            f"are {list(near_labels)}, so the vote gives {right}{tie}, not {int(got)}.")


def _hand_case():
    y = np.array(HAND_Y_TRAIN, dtype=np.int64)
    dists = np.zeros((len(HAND_ORDER), len(y)))
    for i, order in enumerate(HAND_ORDER):
        dists[i, list(order)] = 1.25 * np.arange(1, len(y) + 1) + 0.1 * i
    return dists, y


def _validated_labels(value, name, num_test, num_train):
    value = materialize(value)
    if type(value) is np.ndarray and value.shape == (num_train,) and num_train != num_test:
        fail(f"{name} has {num_train} entries, one per training image; expected one label per "
             f"test image ({num_test}).", hint=Mistake(
                 "one-label-per-training-image", "one label per training image",
                 "loop over the test images (the rows): num_test = dists.shape[0]"))
    if type(value) is np.ndarray and value.shape == (num_test,) and value.dtype.kind == "f" \
            and np.all(np.isfinite(value)) and not np.all(value == np.round(value)):
        example = value.flat[int(np.argmax(value != np.round(value)))]
        fail(f"{name} holds fractions (e.g. {fmt(example)}): a label is a class number.",
             hint=Mistake("mean-label", MEAN_LABEL.title,
                          "averaging the neighbours' labels is not a vote: count the votes with "
                          "np.bincount and take the label with the most"))
    return as_array(value, name, shape=(num_test,), kind="int")


def _predict_labels(knn, dists, k, *, pass_k=True):
    fn = get_attr(knn, "predict_labels")
    if pass_k:
        out = call(fn, dists.copy(), k=k, names=("dists",))
        name = f"predict_labels(dists, k={k})"
    else:
        out = call(fn, dists.copy(), names=("dists",))
        name = "predict_labels(dists)"
    return _validated_labels(out, name, *dists.shape)


def _designed_votes(rng, k, pool, tie):
    """Training indices of k nearest neighbours whose vote has a known winner.

    pool: {label: training indices with that label}. With ``tie`` the winner shares the
    top count with a larger label, so only the smaller-label rule picks it.
    Returns ``(indices, winner)``.
    """
    labels = sorted(pool)
    tie = tie and k >= 2
    for _ in range(1000):
        winner = labels[int(rng.integers(len(labels)))]
        larger = [lab for lab in labels if lab > winner]
        if tie and (k < 2 or not larger):
            continue
        top = int(rng.integers(1, (k // 2 if tie else k) + 1))
        counts = {winner: top}
        if tie:
            high = [lab for lab in larger if lab >= 8] if rng.integers(2) else []
            partner = (high or larger)[int(rng.integers(len(high or larger)))]
            counts[partner] = top
        rest = k - sum(counts.values())
        for lab in rng.permutation([lab for lab in labels if lab not in counts]):
            cap = top if (tie and lab > winner) else top - 1
            counts[int(lab)] = take = min(cap, rest, len(pool[int(lab)]))
            rest -= take
        if rest == 0 and all(c <= len(pool[lab]) for lab, c in counts.items()):
            chosen = [rng.permutation(pool[lab])[:c] for lab, c in counts.items() if c]
            return rng.permutation(np.concatenate(chosen)), winner
    raise RuntimeError("could not design a vote")  # a bug in the check, not the student's


def _designed_case(rng, num_test, k, num_labels=10):
    """dists (num_test, num_train) and y_train with known k-NN winners; some distances repeat
    (duplicate training points), never across the k-th / (k+1)-th boundary."""
    per_label = max(k, 2) + 1
    y = rng.permutation(np.repeat(np.arange(num_labels), per_label)).astype(np.int64)
    pool = {lab: np.flatnonzero(y == lab) for lab in range(num_labels)}
    dists = np.zeros((num_test, len(y)))
    expected = np.zeros(num_test, dtype=np.int64)
    neighbours = []
    for i in range(num_test):
        nearest, expected[i] = _designed_votes(rng, k, pool, tie=bool(rng.integers(2)))
        near = np.sort(rng.integers(2, 10, size=k) * 0.5)  # repeats = duplicate points
        far = rng.integers(12, 40, size=len(y) - k) * 0.5
        others = np.ones(len(y), dtype=bool)
        others[nearest] = False
        dists[i, nearest] = near
        dists[i, others] = far
        neighbours.append(nearest)
    return dists, y, expected, neighbours


def _whole_training_set_case(rng):
    """k = num_train: every training image votes; the label counts decide."""
    counts = np.array([3, 5, 5, 2])  # labels 1 and 2 tie: the smaller, 1, must win
    y = rng.permutation(np.repeat(np.arange(4), counts)).astype(np.int64)
    dists = rng.integers(1, 100, size=(3, len(y))) * 0.25
    return dists, y, np.ones(3, dtype=np.int64), [np.arange(len(y))] * 3


def _label_hints(got, expected, y, orders, k):
    """{Mistake: labels it gives} for whole-vector mistakes; orders: nearest first."""
    nearest = [o[:k] for o in orders]
    hints = {
        # At k = 1 a vote count is always 1: all 1s could also be test image 0's label.
        ROW_0: [expected[0]] * len(expected) if k > 1 or expected[0] != 1 else None,
        INDICES_NOT_LABELS: [o[0] for o in orders],
        MEAN_LABEL: [int(np.floor(np.mean(y[n]))) for n in nearest],
    }
    if k > 1:
        hints[COUNT_NOT_LABEL] = [int(np.bincount(y[n]).max()) for n in nearest]
    for mistake, predicted in hints.items():
        if predicted is not None and np.array_equal(got, predicted):
            return mistake
    return _first_rows_hint(got, expected)


def _check_hand_case(KNearestNeighbor):
    dists, y = _hand_case()
    knn = _trained(KNearestNeighbor, np.zeros((len(y), 3)), y)
    orders = np.array(HAND_ORDER)
    failures = []  # (text, hint): the first one with a named mistake is reported
    for k, (right, *mistakes) in HAND_LABELS.items():
        got = _predict_labels(knn, dists, k)
        if np.array_equal(got, right):
            continue
        i = int(np.argmax(got != np.array(right)))
        near = [HAND_Y_TRAIN[j] for j in HAND_ORDER[i][:k]]
        hint = next((m for m, pred in zip(_HINT_TEXT, mistakes)
                     if pred is not None and np.array_equal(got, pred)), None)
        hint = hint or _label_hints(got, np.array(right), y, orders, k) \
            or _tie_hint(got, np.array(right), y, orders, k)
        failures.append((f"predict_labels(dists, k={k}) is wrong on a hand-made case: got "
                         f"{fmt(got)}, expected {fmt(np.array(right))}. "
                         f"{_explain(i, near, right[i], got[i])}", hint))
    if failures:
        text, hint = next((f for f in failures if f[1] is not None), failures[0])
        fail(text, hint=hint)
    got = _predict_labels(knn, dists, None, pass_k=False)
    if not np.array_equal(got, HAND_LABELS[1][0]):
        fail(f"predict_labels(dists) without k should use k = 1, but gave {fmt(got)} instead of "
             f"{fmt(np.array(HAND_LABELS[1][0]))}.",
             hint=Mistake("default-k", "the default k is not 1",
                          "keep the default k=1 in the signature"))


@register("KNearestNeighbor.predict_labels",
          "majority vote of the k nearest training labels, ties to the smaller label")
def _(ctx, KNearestNeighbor):
    _check_hand_case(KNearestNeighbor)
    # Labels 0-9, about half the votes tied (the smaller label must win, also against 8
    # and 9); more than 32 test images in public, at least 100 in grading.
    cases = [(40, 3), (37, 2)]
    if ctx.hidden:
        cases += [(1, 1), (int(ctx.rng.integers(100, 130)), 2),
                  (int(ctx.rng.integers(2, 12)), 4),
                  (int(ctx.rng.integers(2, 12)), int(ctx.rng.integers(5, 9)))]
    designed = [(_designed_case(ctx.rng, n, k), k) for n, k in cases]
    if ctx.hidden:
        whole = _whole_training_set_case(ctx.rng)
        designed.append((whole, len(whole[1])))
    for (dists, y, expected, neighbours), k in designed:
        knn = _trained(KNearestNeighbor, np.zeros((len(y), 3)), y)
        got = _predict_labels(knn, dists, k)
        if np.array_equal(got, expected):
            continue
        i = int(np.argmax(got != expected))
        orders = np.argsort(dists, axis=1, kind="stable")
        hint = _label_hints(got, expected, y, orders, k) or (
            _tie_hint(got, expected, y, orders, k) if k > 1 else None)
        k_text = f"k = num_train = {k}" if k == len(y) else f"k={k}"
        near = sorted(int(v) for v in y[neighbours[i]])
        shown = (f"got {fmt(got)}, expected {fmt(expected)}" if len(got) <= 12 else
                 f"{int(np.sum(got != expected))} of the {len(got)} labels differ")
        fail(f"predict_labels(dists, {k_text}) is wrong on {len(expected)} test images and "
             f"{len(y)} training images with labels 0-9 (some at equal distances): {shown}. "
             + _explain(i, near, int(expected[i]), got[i]).replace(
                 "training images are", "training images are (sorted)"),
             hint=hint or (TIE_RULE if k > 1 else None))


# --------------------------------------------------------------------------- predict

def _cluster_case(rng, num_clusters, dim, duplicates=False):
    """Clusters far apart; in each, a test image whose nearest training image has label b
    and whose 2nd and 3rd nearest have label a != b. So k=1 gives b, k=2 is a tie
    (the smaller of a and b wins) and k=3 gives a."""
    X_train, y_train, X_test, expected = [], [], [], {1: [], 2: [], 3: []}
    e = np.eye(dim)
    for c in range(num_clusters):
        centre = 100.0 * (c + 1) + rng.integers(0, 10, size=dim)
        a, b = (int(v) for v in rng.choice(10, size=2, replace=False))
        points = [centre + 4 * e[0], centre - 4 * e[0], centre + 5 * e[1]]
        labels = [a, a, b]
        if duplicates:
            points.append(points[0].copy())
            labels.append(a)
        X_train += points
        y_train += labels
        X_test.append(centre + 5 * e[1] + e[2])
        expected[1].append(b)
        expected[2].append(min(a, b))
        expected[3].append(a)
    order = rng.permutation(len(X_train))
    test_order = rng.permutation(num_clusters)
    expected = {k: np.array(v, dtype=np.int64)[test_order] for k, v in expected.items()}
    return (np.array(X_train)[order], np.array(y_train, dtype=np.int64)[order],
            np.array(X_test)[test_order], expected)


_METHOD_OF_LOOPS = {0: "compute_distances_no_loops", 1: "compute_distances_one_loop",
                   2: "compute_distances_two_loops"}


def _blame_dependency(knn, X, X_train, k, loops, expected, text):
    """predict is wrong on this run: fail with "fix X first" when the student's own
    predict_labels (on the true distances) or distance method is what is wrong."""
    true_dists = _all_l2(X, X_train)
    try:
        labels = _predict_labels(knn, true_dists, k)
    except CheckFailed:
        labels = None
    if labels is None or not np.array_equal(labels, expected):
        fail(f"{text} is wrong, but so is your predict_labels: on the true distances of this "
             f"case, predict_labels(dists, k={k}) does not give the right labels.",
             hint=Mistake("fix-predict-labels-first", "predict_labels is wrong (fix it first)",
                          "predict only passes the distances on to predict_labels: fix "
                          "predict_labels first (run its check), then run this check again"))
    method = _METHOD_OF_LOOPS[loops]
    try:
        dists = _distances(knn, method, X, len(X_train))
        right = np.allclose(dists, true_dists, rtol=1e-9, atol=1e-9)
    except CheckFailed:
        right = False
    if not right:
        fail(f"{text} is wrong, but so is {method}, which it uses for num_loops={loops}.",
             hint=Mistake("fix-distances-first", "a distance method is wrong (fix it first)",
                          f"fix {method} first (run its check), then run this check again"))


@register("KNearestNeighbor.predict", "predict(X, k, num_loops): distances, then the vote")
def _(ctx, KNearestNeighbor):
    cases = [_cluster_case(ctx.rng, 40, 5)]
    if ctx.hidden:
        cases += [_cluster_case(ctx.rng, 1, 3),
                  _cluster_case(ctx.rng, int(ctx.rng.integers(100, 120)), 4),
                  _cluster_case(ctx.rng, int(ctx.rng.integers(2, 12)),
                                int(ctx.rng.integers(3, 40)), duplicates=True)]
    for X_train, y_train, X, expected in cases:
        knn = _trained(KNearestNeighbor, X_train, y_train)
        predict = get_attr(knn, "predict")
        # The two-loop version is slow in Python: the public 40-image case runs it once, the
        # larger grading cases leave it to the small ones.
        choices = [(loops, k) for loops in (0, 1, 2) for k in (1, 3, 2)]
        if len(X) > 12:
            choices = [(loops, k) for loops, k in choices
                       if loops < 2 or k == 3 and not ctx.hidden]
        runs = [((), {}, 1, 0, "predict(X)")] + [
            ((), {"k": k, "num_loops": loops}, k, loops, f"predict(X, k={k}, num_loops={loops})")
            for loops, k in choices]
        for args, kwargs, k, loops, text in runs:
            got = _validated_labels(call(predict, X.copy(), *args, names=("X",), **kwargs),
                                    text, len(X), len(X_train))
            if np.array_equal(got, expected[k]):
                continue
            _blame_dependency(knn, X, X_train, k, loops, expected[k], text)
            hint = None
            if k != 1 and np.array_equal(got, expected[1]):
                hint = Mistake("predict-ignores-k", "predict does not pass k on",
                               "these are the k = 1 labels: pass k on to "
                               "predict_labels(dists, k=k)")
            elif not kwargs and np.array_equal(_validated_labels(
                    call(predict, X.copy(), k=1, names=("X",)), "predict(X, k=1)", len(X),
                    len(X_train)), expected[1]):
                hint = Mistake("default-k", "the default k is not 1",
                               "predict(X) without k must use k = 1: keep the default k=1 "
                               "in the signature")
            elif "num_loops" in kwargs:
                hint = Mistake("num-loops-dispatch", "num_loops calls the wrong method",
                               f"num_loops={loops} must call the matching version: 0 -> "
                               "compute_distances_no_loops, 1 -> _one_loop, 2 -> _two_loops")
            shown = (f"got {fmt(got)}, expected {fmt(expected[k])}" if len(got) <= 12 else
                     f"{int(np.sum(got != expected[k]))} of the {len(got)} labels differ")
            fail(f"{text} is wrong on {len(X)} test images in well separated clusters: "
                 f"{shown}.", hint=hint)


# --------------------------------------------------------------------------- cross-validation

@lru_cache(maxsize=1)
def _stored_cv():
    with np.load(DATA / "knn_cv.npz", allow_pickle=False) as z:
        return {key: z[key] for key in z.files}


def labels_fingerprint(y) -> int:
    """crc32 of a label vector as int64: tells the shipped subset from other copies."""
    return zlib.crc32(np.ascontiguousarray(y, dtype=np.int64).tobytes())


def _accuracy_table(value):
    value = materialize(value)
    if type(value) is dict:  # keys from np.array(k_choices) are numpy integers: fine
        value = {int(k) if isinstance(k, np.integer) else k: v for k, v in value.items()}
    if isinstance(value, RemoteHandle) and value._course_type_name() == "dict" or (
            type(value) is dict and not all(type(k) is int for k in value)):
        fail("k_to_accuracies has keys that are not integers: its keys must be the values "
             "of k.", hint=Mistake("cv-keys-not-k", "k_to_accuracies keyed by something else "
                                   "than k", "use the list k_choices as given, or int(k) as "
                                   "the key"))
    table = as_dict(value, "k_to_accuracies")
    missing = [k for k in K_CHOICES if k not in table]
    if missing:
        fail(f"k_to_accuracies has no entry for k = {', '.join(map(str, missing))}: it needs "
             f"one list of {NUM_FOLDS} fold accuracies for every k in k_choices "
             f"{list(K_CHOICES)}.")
    accs = np.zeros((len(K_CHOICES), NUM_FOLDS))
    for row, k in enumerate(K_CHOICES):
        raw = materialize(table[k])
        if type(raw) not in (list, tuple) and not (type(raw) is np.ndarray and raw.ndim == 1):
            fail(f"k_to_accuracies[{k}] should be a list of {NUM_FOLDS} accuracies (one per "
                 f"fold), but it is {fmt(raw) if type(raw) in (float, int) else type(raw)}.",
                 hint=Mistake("cv-not-a-list", "one number per k instead of a list of fold "
                              "accuracies", "append one accuracy per fold: "
                              "k_to_accuracies[k].append(accuracy)"))
        items = as_list(raw, f"k_to_accuracies[{k}]")
        if len(items) != NUM_FOLDS:
            fail(f"k_to_accuracies[{k}] has {len(items)} accuracies; expected {NUM_FOLDS}, one "
                 "per fold.", hint=Mistake(
                     "cv-wrong-fold-count", "not one accuracy per fold",
                     "create the list once per k (before the loop over folds) and append once "
                     "per fold"))
        for f, item in enumerate(items):
            acc = as_float(item, f"k_to_accuracies[{k}][{f}]")
            if not 0 <= acc <= 1:
                fail(f"k_to_accuracies[{k}][{f}] is {fmt(acc)}; an accuracy is a fraction "
                     "between 0 and 1.",
                     hint=Mistake("cv-percentages", "accuracies as percentages",
                                  "no percentages: accuracy = np.mean(y_pred == y_val)")
                     if acc <= 100 else None)
            accs[row, f] = acc
    return accs


CV_TEST_SET = Mistake("cv-on-test-set", "cross-validated on the test set",
                      "never tune on the test set: split X_train (5,000 images) into the folds")


def _check_fold_arithmetic(accs):
    counts = accs * FOLD_SIZE
    if np.all(np.abs(accs * 100 - np.round(accs * 100)) < 1e-6):
        fail("every accuracy is a whole percentage, as if each fold held 100 images: did you "
             "cross-validate on the 500 test images?",
             hint=CV_TEST_SET)
    fifths = accs * 500
    if np.all(np.abs(fifths - np.round(fifths)) < 1e-6):
        fail("every accuracy is a number of correct predictions out of 500, as if each fold was "
             "validated on the 500 test images.",
             hint=Mistake("cv-on-test-set", CV_TEST_SET.title,
                          "never tune on the test set: validate on the held-out fold of "
                          "X_train (1,000 images), not on X_test"))
    if np.all(accs[0] == 1.0):
        fail("with k = 1 every fold has accuracy 1.0: the images you validated on were also "
             "in the training data (each one is its own nearest neighbour).",
             hint=Mistake("cv-trains-on-validation-fold", "validated on images it trained on",
                          "train on the four other folds only, then predict the held-out "
                          "fold"))
    if not np.all(np.abs(counts - np.round(counts)) < 1e-6):
        k_row, f = np.argwhere(np.abs(counts - np.round(counts)) >= 1e-6)[0]
        hint = Mistake("cv-wrong-folds", "folds not of 1,000 images",
                       "train on 5,000 images split into 5 folds of 1,000 with "
                       "np.array_split, and validate on the held-out fold")
        fours = accs * 4 * FOLD_SIZE
        if np.all(np.abs(fours - np.round(fours)) < 1e-6):
            hint = Mistake("cv-validated-on-training-folds", "validated on the 4,000 training "
                           "images of the fold", "these look like accuracies over 4,000 "
                           "images: validate on the one held-out fold (1,000 images), train on "
                           "the other four")
        fail(f"k_to_accuracies[{K_CHOICES[k_row]}][{f}] = {accs[k_row, f]!r} is not a number "
             "of correct predictions divided by the fold size 1,000.", hint=hint)


@register("knn_cross_validation",
          "5-fold cross-validation accuracies for every k in k_choices, and the best k")
def _(ctx, results):
    results = as_dict(results, "the cross-validation results",
                      keys=("k_to_accuracies", "best_k", "y_train"))
    accs = _accuracy_table(results["k_to_accuracies"])
    _check_fold_arithmetic(accs)
    best_k = as_int(results["best_k"], "best_k")
    means = accs.mean(axis=1)
    if best_k not in K_CHOICES:
        fail(f"best_k = {best_k} is not one of k_choices {list(K_CHOICES)}.")
    top = int(np.argmax(means))
    if means[K_CHOICES.index(best_k)] < means[top] - 1e-12:
        fail(f"best_k = {best_k} has mean accuracy {means[K_CHOICES.index(best_k)]:.4f} over the "
             f"folds, but k = {K_CHOICES[top]} has {means[top]:.4f}.",
             hint=Mistake("best-k-not-best", "best_k is not the k with the best mean accuracy",
                          "choose the k with the highest mean cross-validation accuracy"))
    y_train = as_array(results["y_train"], "y_train", shape=(None,), kind="int")
    stored = _stored_cv()
    if labels_fingerprint(y_train) != int(stored["y_train_crc32"]):
        return  # not the shipped CIFAR-10 subset: the arithmetic above is all we can check
    expected = stored["fold_accuracies"]
    tolerance = 1.5 / FOLD_SIZE  # one image: distance ties at the k-th neighbour may differ
    mine, theirs = np.sort(accs, axis=1), np.sort(expected, axis=1)
    wrong = np.argwhere(np.abs(mine - theirs) > tolerance)
    if len(wrong):
        row = int(wrong[0][0])
        fail(f"your fold accuracies for k = {K_CHOICES[row]} are {fmt(accs[row])}; on these "
             f"5,000 training images the prescribed protocol gives {fmt(expected[row])} "
             f"(in some order).",
             hint=Mistake("cv-other-protocol", "fold accuracies not those of the prescribed "
                          "protocol", "use the raw pixels of the first 5,000 training images, "
                          "np.array_split(X_train, 5) in order, train on four folds and "
                          "validate on the fifth; if the earlier checks fail, fix those first"))
