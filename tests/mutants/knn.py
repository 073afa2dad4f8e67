"""Mutants of notebook 01's solutions (k-nearest neighbours).

Only the imports and the ``KNearestNeighbor`` cell run for most mutants; the
cross-validation mutants (``CV_MUTANTS``) need the CIFAR-10 subset and their own cell, listed
in ``ITEM_CELLS`` (the runner loads the data once for all of them).
"""

from tests.mutants import Mutant

NB_ID = "01_knn"
CELLS = ("imports", "knn-class")

_TWO = "dists[i, j] = np.sqrt(np.sum((X[i] - self.X_train[j]) ** 2))"
_ONE = "dists[i, :] = np.sqrt(np.sum((self.X_train - X[i]) ** 2, axis=1))"
_NONE = "dists = np.sqrt(np.maximum(squared, 0))"
_VOTE = "y_pred[i] = np.argmax(np.bincount(closest_y))"
_NEAREST = "closest_y = self.y_train[np.argpartition(dists[i], k - 1)[:k]]"
_TWO_ZEROS = ("dists = np.zeros((num_test, num_train))\n        for i in range(num_test):\n"
              "            for j in range(num_train):")
_ONE_LOOP = "for i in range(num_test):\n            # Set the whole row"
_VOTE_LOOP = "for i in range(num_test):\n            # Find the labels"


def _m(item, name, old, new, words, mistake=None):
    return Mutant(f"KNearestNeighbor.{item}", name, "knn-class", old, new, words, mistake)


MUTANTS = [
    # ---- train
    _m("train", "normalises-X", "self.X_train = X\n", "self.X_train = X / 255.0\n",
       (r"memoris|unchanged",), "train-preprocesses"),
    _m("train", "first-32-rows", "self.X_train = X\n", "self.X_train = X[:32]\n",
       (r"32|rows",)),
    _m("train", "drops-last-row", "self.X_train = X\n        self.y_train = y\n",
       "self.X_train = X[:-1]\n        self.y_train = y[:-1]\n", (r"shape|rows",)),
    _m("train", "stale-first-call", "self.X_train = X\n        self.y_train = y\n",
       "if not hasattr(self, 'X_train'):\n            self.X_train = X\n"
       "            self.y_train = y\n", (r"first call|still holds|replace",),
       "train-keeps-old-data"),
    _m("train", "transposed", "self.X_train = X\n", "self.X_train = X.T\n",
       (r"transpos",)),
    _m("train", "labels-sorted", "self.y_train = y\n", "self.y_train = np.sort(y)\n",
       (r"y_train|labels",)),
    _m("train", "appends", "self.X_train = X\n        self.y_train = y\n",
       "if hasattr(self, 'X_train'):\n            X = np.concatenate([self.X_train, X])\n"
       "            y = np.concatenate([self.y_train, y])\n"
       "        self.X_train = X\n        self.y_train = y\n",
       (r"replace|add", r"second call"), "train-appends"),

    # ---- two loops
    _m("compute_distances_two_loops", "squared", _TWO,
       "dists[i, j] = np.sum((X[i] - self.X_train[j]) ** 2)", (r"square",),
       "squared-distances"),
    _m("compute_distances_two_loops", "l1", _TWO,
       "dists[i, j] = np.sum(np.abs(X[i] - self.X_train[j]))", (r"L1",), "l1-distances"),
    _m("compute_distances_two_loops", "index-i-for-j", _TWO,
       "dists[i, j] = np.sqrt(np.sum((X[i] - self.X_train[i % len(self.X_train)]) ** 2))",
       (r"X_train\[i\]|same.*row|every column",)),
    _m("compute_distances_two_loops", "inner-loop-off-by-one", "for j in range(num_train):",
       "for j in range(num_train - 1):", (r"last column|range|off-by-one",),
       "loop-range-off-by-one"),
    _m("compute_distances_two_loops", "integer-dists", _TWO_ZEROS,
       _TWO_ZEROS.replace("(num_test, num_train))", "(num_test, num_train), dtype=int)"),
       (r"whole numbers|integer",), "integer-dtype"),
    _m("compute_distances_two_loops", "float32", _TWO,
       "dists[i, j] = np.sqrt(np.sum((X[i].astype(np.float32) "
       "- self.X_train[j].astype(np.float32)) ** 2))", (r"float32|precision",),
       "low-precision"),
    _m("compute_distances_two_loops", "outer-loop-first-32", _TWO_ZEROS,
       _TWO_ZEROS.replace("for i in range(num_test)", "for i in range(min(num_test, 32))"),
       (r"32|row",)),

    # ---- one loop
    _m("compute_distances_one_loop", "squared", _ONE,
       "dists[i, :] = np.sum((self.X_train - X[i]) ** 2, axis=1)", (r"square",),
       "squared-distances"),
    _m("compute_distances_one_loop", "l1", _ONE,
       "dists[i, :] = np.sum(np.abs(self.X_train - X[i]), axis=1)", (r"L1",), "l1-distances"),
    _m("compute_distances_one_loop", "row-0-every-time", _ONE,
       "dists[i, :] = np.sqrt(np.sum((self.X_train - X[0]) ** 2, axis=1))",
       (r"row 0|X\[0\]|same",)),
    _m("compute_distances_one_loop", "loop-off-by-one", _ONE_LOOP,
       _ONE_LOOP.replace("range(num_test)", "range(num_test - 1)"),
       (r"last row|range|off-by-one",), "loop-range-off-by-one"),
    _m("compute_distances_one_loop", "in-place-on-X_train", _ONE,
       "diff = self.X_train\n            diff -= X[i]\n"
       "            dists[i, :] = np.sqrt(np.sum(diff ** 2, axis=1))",
       (r"in place",), "changed-training-data"),
    _m("compute_distances_one_loop", "sum-over-all", _ONE,
       "dists[i, :] = np.sqrt(np.sum((self.X_train - X[i]) ** 2))",
       (r"axis|every entry|same",)),
    _m("compute_distances_one_loop", "inner-loop-over-training", _ONE,
       "for j in range(num_train):\n                dists[i, j] = np.sqrt(np.sum("
       "(self.X_train[j] - X[i]) ** 2))", (r"loop",), "python-loop"),
    _m("compute_distances_one_loop", "first-32-rows", _ONE_LOOP,
       _ONE_LOOP.replace("range(num_test)", "range(min(num_test, 32))"), (r"32|row",)),

    # ---- no loops
    _m("compute_distances_no_loops", "squared", _NONE, "dists = np.maximum(squared, 0)",
       (r"square",), "squared-distances"),
    _m("compute_distances_no_loops", "no-factor-2", "- 2 * cross", "- cross",
       (r"factor 2",), "cross-term-factor"),
    _m("compute_distances_no_loops", "cross-term-sign", "- 2 * cross", "+ 2 * cross",
       (r"sign",), "cross-term-sign"),
    _m("compute_distances_no_loops", "no-test-norms", "test_sq[:, None] + ", "",
       (r"\|\|x\|\|\^2|test images' squared norms|missing",), "missing-norm-term"),
    _m("compute_distances_no_loops", "no-train-norms", " + train_sq[None, :]", "",
       (r"\|\|y\|\|\^2|training images' squared norms|missing",), "missing-norm-term"),
    _m("compute_distances_no_loops", "calls-two-loops", _NONE,
       "dists = self.compute_distances_two_loops(X)", (r"loop",), "calls-loop-version"),
    _m("compute_distances_no_loops", "loop-over-rows", _NONE,
       "dists = np.array([np.sqrt(np.sum((self.X_train - x) ** 2, axis=1)) for x in X])",
       (r"loop",), "python-loop"),
    _m("compute_distances_no_loops", "first-32-rows", "cross = X @ self.X_train.T",
       "cross = X[:32] @ self.X_train.T", (r"32|shape|broadcast",)),
    _m("compute_distances_no_loops", "float32", "cross = X @ self.X_train.T",
       "cross = (X.astype(np.float32) @ self.X_train.T.astype(np.float32))",
       (r"float32|precision",), "low-precision"),
    _m("compute_distances_no_loops", "norms-summed-over-all",
       " + train_sq[None, :]", " + np.sum(self.X_train ** 2)", (r"axis",),
       "norms-summed-over-all"),

    # ---- predict_labels
    _m("predict_labels", "ties-toward-larger-label", _VOTE,
       "counts = np.bincount(closest_y)\n"
       "            y_pred[i] = len(counts) - 1 - np.argmax(counts[::-1])",
       (r"tie", r"larger"), "ties-toward-larger-label"),
    _m("predict_labels", "ties-larger-only-for-labels-8-9", _VOTE,
       "counts = np.bincount(closest_y)\n"
       "            top = np.flatnonzero(counts == counts.max())\n"
       "            y_pred[i] = top[-1] if top[-1] >= 8 else top[0]",
       (r"tie", r"larger"), "ties-toward-larger-label"),
    _m("predict_labels", "ties-toward-nearest", _NEAREST + "\n            " + _VOTE,
       "closest_y = self.y_train[np.argsort(dists[i], kind='stable')[:k]].tolist()\n"
       "            y_pred[i] = max(closest_y, key=closest_y.count)",
       (r"tie", r"nearest"), "ties-toward-nearest"),
    _m("predict_labels", "ignores-k", _NEAREST,
       "closest_y = self.y_train[np.argpartition(dists[i], 0)[:1]]",
       (r"k = 1|argument k",), "ignores-k"),
    _m("predict_labels", "k-plus-one", _NEAREST,
       "closest_y = self.y_train[np.argsort(dists[i])[:k + 1]]", (r"k \+ 1",), "k-plus-one"),
    _m("predict_labels", "skips-nearest", _NEAREST,
       "closest_y = self.y_train[np.argsort(dists[i])[1:k + 1]]", (r"skipped|2 \.\. k",),
       "skips-nearest"),
    _m("predict_labels", "farthest", _NEAREST,
       "closest_y = self.y_train[np.argsort(dists[i])[::-1][:k]]", (r"farthest",),
       "farthest-neighbours"),
    _m("predict_labels", "indices-not-labels", _NEAREST,
       "closest_y = np.argpartition(dists[i], k - 1)[:k]", (r"indices",),
       "indices-not-labels"),
    _m("predict_labels", "mean-label", _VOTE, "y_pred[i] = np.mean(closest_y)",
       (r"mean|averag",), "mean-label"),
    _m("predict_labels", "row-0-every-time", _NEAREST,
       "closest_y = self.y_train[np.argpartition(dists[0], k - 1)[:k]]",
       (r"test image 0|dists\[i\]",), "every-row-is-row-0"),
    _m("predict_labels", "first-32-rows", _VOTE_LOOP,
       _VOTE_LOOP.replace("range(num_test)", "range(min(num_test, 32))"), (r"32|row",)),
    _m("predict_labels", "sorts-dists-in-place", _NEAREST,
       "dists[i].sort()\n            closest_y = self.y_train[:k]",
       (r"in place",), "changed-input"),
    _m("predict_labels", "default-k-3", "def predict_labels(self, dists, k=1):",
       "def predict_labels(self, dists, k=3):", (r"without k|default",), "default-k"),
    _m("predict_labels", "count-not-label", _VOTE,
       "y_pred[i] = np.bincount(closest_y).max()", (r"number.* of votes|count",),
       "count-not-label"),

    # ---- predict
    _m("predict", "ignores-k", "return self.predict_labels(dists, k=k)",
       "return self.predict_labels(dists)", (r"pass k|k = 1",), "predict-ignores-k"),
    _m("predict", "returns-dists", "return self.predict_labels(dists, k=k)",
       "return dists", (r"shape|distances",)),
    _m("predict", "default-k-5", "def predict(self, X, k=1, num_loops=0):",
       "def predict(self, X, k=5, num_loops=0):", (r"default|k=1",), "default-k"),
    _m("predict", "training-data-distances", "dists = self.compute_distances_no_loops(X)",
       "dists = self.compute_distances_no_loops(self.X_train)", (r"training|entries",)),
    _m("predict", "transposed-dists", "return self.predict_labels(dists, k=k)",
       "return self.predict_labels(dists.T, k=k)", (r"transpos|training image",)),
    _m("predict", "no-loops-for-1", "elif num_loops == 1:\n            dists = "
       "self.compute_distances_one_loop(X)",
       "elif num_loops == 1:\n            dists = self.compute_distances_one_loop(X[::-1])",
       (r"num_loops=1",)),
]

#: Mutants of the cross-validation cell, which needs the data and that cell (``ITEM_CELLS``).
CV_CELLS = ("imports", "load-data", "subsample-data", "knn-class",
            "cross-validation-solution")
ITEM_CELLS = {"knn_cross_validation": CV_CELLS}
_CV = "cross-validation-solution"
CV_MUTANTS = [
    Mutant("knn_cross_validation", "validates-on-test-set", _CV,
           "compute_distances_no_loops(X_train_folds[fold])\n    for k in k_choices:\n"
           "        y_val_pred = fold_classifier.predict_labels(fold_dists, k=k)\n"
           "        k_to_accuracies[k].append(float(np.mean(y_val_pred == y_train_folds[fold])))",
           "compute_distances_no_loops(X_test)\n    for k in k_choices:\n"
           "        y_val_pred = fold_classifier.predict_labels(fold_dists, k=k)\n"
           "        k_to_accuracies[k].append(float(np.mean(y_val_pred == y_test)))",
           (r"test set|test images",), "cv-on-test-set"),
    Mutant("knn_cross_validation", "trains-on-every-fold", _CV,
           "fold_classifier.train(X_fold_train, y_fold_train)",
           "fold_classifier.train(X_train, y_train)", (r"also in the training|own nearest",),
           "cv-trains-on-validation-fold"),
    Mutant("knn_cross_validation", "best-k-by-min", _CV,
           "best_k = max(k_choices", "best_k = min(k_choices", (r"highest mean",),
           "best-k-not-best"),
    Mutant("knn_cross_validation", "lists-reset-every-fold", _CV,
           "    fold_classifier = KNearestNeighbor()\n",
           "    fold_classifier = KNearestNeighbor()\n"
           "    k_to_accuracies = {k: [] for k in k_choices}\n", (r"one per fold",),
           "cv-wrong-fold-count"),
]
# Each cross-validation mutant runs the 5-fold search (4-8 s): two run in the suite, all four
# in the benchmark (``catalogue(extra=True)``).
MUTANTS += CV_MUTANTS[::2]
EXTRA_MUTANTS = CV_MUTANTS[1::2]
