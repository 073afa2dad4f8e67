"""The k-NN checks (notebook 01) on right and deliberately wrong implementations.

Every class below is the reference ``KNearestNeighbor`` with one method swapped for a
variant. Right variants (written other reasonable ways) must pass; each wrong one must fail
the check of the method it breaks with the lesson that names its mistake, both when the
check calls the class directly (the student's kernel) and through the autograder's channel.
The designed test cases the checks rely on are verified here against a brute-force vote.
"""

import re
import textwrap
from collections import Counter

import numpy as np
import pytest

from autograder.channel import Client, Loopback, ObjectServer
from course_lib.checks import CHECKS
from course_lib.checks import knn as knn_checks

METHODS = {
    "train": """
        def train(self, X, y):
            self.X_train = X
            self.y_train = y
    """,
    "two": """
        def compute_distances_two_loops(self, X):
            num_test, num_train = X.shape[0], self.X_train.shape[0]
            dists = np.zeros((num_test, num_train))
            for i in range(num_test):
                for j in range(num_train):
                    dists[i, j] = np.sqrt(np.sum((X[i] - self.X_train[j]) ** 2))
            return dists
    """,
    "one": """
        def compute_distances_one_loop(self, X):
            num_test, num_train = X.shape[0], self.X_train.shape[0]
            dists = np.zeros((num_test, num_train))
            for i in range(num_test):
                dists[i, :] = np.sqrt(np.sum((self.X_train - X[i]) ** 2, axis=1))
            return dists
    """,
    "none": """
        def compute_distances_no_loops(self, X):
            squared = (np.sum(X ** 2, axis=1, keepdims=True) + np.sum(self.X_train ** 2, axis=1)
                       - 2 * X @ self.X_train.T)
            return np.sqrt(np.maximum(squared, 0))
    """,
    "labels": """
        def predict_labels(self, dists, k=1):
            y_pred = np.zeros(dists.shape[0], dtype=np.int64)
            for i in range(dists.shape[0]):
                closest_y = self.y_train[np.argsort(dists[i])[:k]]
                y_pred[i] = np.argmax(np.bincount(closest_y))
            return y_pred
    """,
    "predict": """
        def predict(self, X, k=1, num_loops=0):
            method = {0: self.compute_distances_no_loops, 1: self.compute_distances_one_loop,
                      2: self.compute_distances_two_loops}[num_loops]
            return self.predict_labels(method(X), k=k)
    """,
}

VARIANTS = {  # name: (method slot, its code, {check: (status, pattern)})
    # ---- right, written other ways
    "cs231n_no_clip": ("none", """
        def compute_distances_no_loops(self, X):
            dists = np.zeros((X.shape[0], self.X_train.shape[0]))
            dists = np.sqrt(np.sum(X**2, axis=1).reshape(-1, 1) + np.sum(self.X_train**2, axis=1)
                            - 2 * np.dot(X, self.X_train.T))
            return dists
    """, {}),
    "einsum_no_loops": ("none", """
        def compute_distances_no_loops(self, X):
            d2 = (np.einsum("ij,ij->i", X, X)[:, None] - 2 * np.einsum("id,jd->ij", X, self.X_train)
                  + np.einsum("ij,ij->i", self.X_train, self.X_train)[None, :])
            return np.sqrt(np.clip(d2, 0, None))
    """, {}),
    "broadcast_3d": ("none", """
        def compute_distances_no_loops(self, X):
            # right values, but (num_test, num_train, D) memory: only the notebook's full-size
            # run (61 GB) shows the problem; a check on small cases cannot
            return np.sqrt(((X[:, None, :] - self.X_train[None, :, :]) ** 2).sum(axis=2))
    """, {}),
    "dot_two_loops": ("two", """
        def compute_distances_two_loops(self, X):
            dists = np.zeros((X.shape[0], self.X_train.shape[0]))
            for i in range(X.shape[0]):
                for j in range(self.X_train.shape[0]):
                    diff = X[i] - self.X_train[j]
                    dists[i][j] = np.dot(diff, diff) ** 0.5
            return dists
    """, {}),
    "copying_train": ("train", """
        def train(self, X, y):
            self.X_train = np.array(X, copy=True)
            self.y_train = np.asarray(y).copy()
    """, {}),
    "cs231n_float_labels": ("labels", """
        def predict_labels(self, dists, k=1):
            num_test = dists.shape[0]
            y_pred = np.zeros(num_test)
            for i in range(num_test):
                closest_y = list(self.y_train[np.argsort(dists[i])[:k]])
                y_pred[i] = np.argmax(np.bincount(closest_y))
            return y_pred
    """, {}),
    "unique_counts_argpartition": ("labels", """
        def predict_labels(self, dists, k=1):
            if k < dists.shape[1]:
                nearest = np.argpartition(dists, k - 1, axis=1)[:, :k]
            else:
                nearest = np.tile(np.arange(dists.shape[1]), (dists.shape[0], 1))
            out = []
            for row in self.y_train[nearest]:
                values, counts = np.unique(row, return_counts=True)
                out.append(values[np.argmax(counts)])
            return np.array(out)
    """, {}),
    "counter_smallest": ("labels", """
        def predict_labels(self, dists, k=1):
            y_pred = []
            for row in dists:
                votes = Counter(self.y_train[np.argsort(row, kind="stable")[:k]].tolist())
                top = max(votes.values())
                y_pred.append(min(label for label, n in votes.items() if n == top))
            return np.array(y_pred, dtype=np.int32)
    """, {}),
    "predict_if_chain": ("predict", """
        def predict(self, X, k=1, num_loops=0):
            if num_loops == 0:
                dists = self.compute_distances_no_loops(X)
            elif num_loops == 1:
                dists = self.compute_distances_one_loop(X)
            elif num_loops == 2:
                dists = self.compute_distances_two_loops(X)
            else:
                raise ValueError("Invalid value %d for num_loops" % num_loops)
            return self.predict_labels(dists, k=k)
    """, {}),
    "cs231n_2016_labels": ("labels", """
        def predict_labels(self, dists, k=1):
            num_test = dists.shape[0]
            y_pred = np.zeros(num_test)
            for i in range(num_test):
                closest_y = []
                closest_y = self.y_train[np.argsort(dists[i])[:k]]
                y_pred[i] = np.bincount(closest_y).argmax()
            return y_pred
    """, {}),
    "cs231n_square_newaxis": ("none", """
        def compute_distances_no_loops(self, X):
            num_test = X.shape[0]
            num_train = self.X_train.shape[0]
            dists = np.zeros((num_test, num_train))
            dists = np.sqrt(-2 * np.dot(X, self.X_train.T) + np.sum(np.square(self.X_train), axis=1)
                            + np.sum(np.square(X), axis=1)[:, np.newaxis])
            return dists
    """, {}),
    "norm_one_loop": ("one", """
        def compute_distances_one_loop(self, X):
            dists = np.zeros((X.shape[0], self.X_train.shape[0]))
            for i in range(X.shape[0]):
                dists[i, :] = np.linalg.norm(self.X_train - X[i, :], axis=1)
            return dists
    """, {}),
    # ---- train
    "train_other_names": ("train", """
        def train(self, X, y):
            self.X, self.y = X, y
    """, {"train": ("error", r"has no attribute 'X_train'")}),
    "train_appends": ("train", """
        def train(self, X, y):
            if hasattr(self, "X_train"):
                self.X_train = np.concatenate([self.X_train, X])
                self.y_train = np.concatenate([self.y_train, y])
            else:
                self.X_train, self.y_train = X, y
    """, {"train": ("failed", r"holds 15 rows.*\nHint: train must replace the stored data")}),
    "train_preprocesses": ("train", """
        def train(self, X, y):
            self.X_train = X - X.mean(axis=0)
            self.y_train = y
    """, {"train": ("failed", r"does not hold the X given.*Hint: .*only memorises")}),
    "train_not_implemented": ("train", """
        def train(self, X, y):
            raise NotImplementedError()
    """, {"train": ("not_implemented", r"KNearestNeighbor.train still raises"),
          "two": ("not_implemented", r"KNearestNeighbor.train still raises"),
          "labels": ("not_implemented", r"KNearestNeighbor.train still raises")}),
    # ---- distances
    "squared": ("none", """
        def compute_distances_no_loops(self, X):
            return (np.sum(X ** 2, axis=1, keepdims=True) + np.sum(self.X_train ** 2, axis=1)
                    - 2 * X @ self.X_train.T)
    """, {"none": ("failed", r"dists\[0, 1\] should be .* = 5, but it is 25\..*"
                             r"Hint: your distances are the squares")}),
    "transposed": ("one", """
        def compute_distances_one_loop(self, X):
            dists = np.zeros((self.X_train.shape[0], X.shape[0]))
            for i in range(X.shape[0]):
                dists[:, i] = np.sqrt(np.sum((self.X_train - X[i]) ** 2, axis=1))
            return dists
    """, {"one": ("failed", r"shape \(3, 2\); expected \(num_test, num_train\) = \(2, 3\).*"
                            r"Hint: it is transposed")}),
    "l1": ("two", """
        def compute_distances_two_loops(self, X):
            dists = np.zeros((X.shape[0], self.X_train.shape[0]))
            for i in range(X.shape[0]):
                for j in range(self.X_train.shape[0]):
                    dists[i, j] = np.sum(np.abs(X[i] - self.X_train[j]))
            return dists
    """, {"two": ("failed", r"Hint: these are L1 distances")}),
    "missing_factor_2": ("none", """
        def compute_distances_no_loops(self, X):
            squared = (np.sum(X ** 2, axis=1, keepdims=True) + np.sum(self.X_train ** 2, axis=1)
                       - X @ self.X_train.T)
            return np.sqrt(np.maximum(squared, 0))
    """, {"none": ("failed", r"Hint: the cross term is missing its factor 2")}),
    "cross_term_sign": ("none", """
        def compute_distances_no_loops(self, X):
            squared = (np.sum(X ** 2, axis=1, keepdims=True) + np.sum(self.X_train ** 2, axis=1)
                       + 2 * X @ self.X_train.T)
            return np.sqrt(squared)
    """, {"none": ("failed", r"Hint: the cross term has the wrong sign")}),
    "negated": ("none", """
        def compute_distances_no_loops(self, X):
            return np.sqrt(2 * X @ self.X_train.T - np.sum(X ** 2, axis=1, keepdims=True)
                           - np.sum(self.X_train ** 2, axis=1))
    """, {"none": ("failed", r"returned nan at dists\[0, 1\].*Hint: np.sqrt of a negative")}),
    "integer_dists": ("two", """
        def compute_distances_two_loops(self, X):
            dists = np.zeros((X.shape[0], self.X_train.shape[0]), dtype=int)
            for i in range(X.shape[0]):
                for j in range(self.X_train.shape[0]):
                    dists[i, j] = np.sqrt(np.sum((X[i] - self.X_train[j]) ** 2))
            return dists
    """, {"two": ("failed", r"Hint: the distances are rounded down to whole numbers")}),
    "loop_range_off_by_one": ("two", """
        def compute_distances_two_loops(self, X):
            dists = np.zeros((X.shape[0], self.X_train.shape[0]))
            for i in range(X.shape[0]):
                for j in range(self.X_train.shape[0] - 1):
                    dists[i, j] = np.sqrt(np.sum((X[i] - self.X_train[j]) ** 2))
            return dists
    """, {"two": ("failed", r"dists\[0, 2\] should be .*sqrt\(sum\(\(X\[0\] - X_train\[2\]\)\*\*2"
                            r"\)\) = 5, but it is 0\.")}),
    "zero_diagonal": ("one", """
        def compute_distances_one_loop(self, X):
            dists = np.zeros((X.shape[0], self.X_train.shape[0]))
            for i in range(X.shape[0]):
                dists[i, :] = np.sqrt(np.sum((self.X_train - X[i]) ** 2, axis=1))
                if i < self.X_train.shape[0]:
                    dists[i, i] = 0.0  # "a point is at distance 0 from itself"
            return dists
    """, {"one": ("failed", r"KNearestNeighbor.compute_distances_one_loop is wrong .*"
                            r"dists\[1, 1\] should be")}),
    "mutates_X": ("none", """
        def compute_distances_no_loops(self, X):
            cross = X @ self.X_train.T
            X **= 2
            return np.sqrt(np.maximum(X.sum(axis=1, keepdims=True)
                                      + np.sum(self.X_train ** 2, axis=1) - 2 * cross, 0))
    """, {"none": ("error", r"changed its input X in place")}),
    "mutates_X_train": ("one", """
        def compute_distances_one_loop(self, X):
            dists = np.zeros((X.shape[0], self.X_train.shape[0]))
            for i in range(X.shape[0]):
                diff = self.X_train
                diff -= X[i]
                dists[i, :] = np.sqrt(np.sum(diff ** 2, axis=1))
                diff += X[i]
            self.X_train[0, 0] += 1
            return dists
    """, {"one": ("failed", r"changed the stored training data self.X_train in place")}),
    "returns_list": ("two", """
        def compute_distances_two_loops(self, X):
            return [[float(np.sqrt(np.sum((x - t) ** 2))) for t in self.X_train] for x in X]
    """, {"two": ("failed", r"should be a numpy array, but it is a list.*Hint: (wrap it|"
                            r"return np.array)")}),
    "matrix_result": ("none", """
        def compute_distances_no_loops(self, X):
            X, T = np.matrix(X), np.matrix(self.X_train)
            squared = np.sum(np.square(X), axis=1) + np.sum(np.square(T), axis=1).T - 2 * X * T.T
            return np.sqrt(np.maximum(squared, 0))
    """, {"none": ("failed", r"plain numpy array, but it is a .*matrix.*Hint: return "
                             r"np.asarray")}),
    "no_loops_not_implemented": ("none", """
        def compute_distances_no_loops(self, X):
            raise NotImplementedError()
    """, {"none": ("not_implemented", r"compute_distances_no_loops still raises"),
          "one": ("passed", "passed"), "predict": ("not_implemented", r"still raises")}),
    # ---- predict_labels
    "ties_to_larger": ("labels", """
        def predict_labels(self, dists, k=1):
            y_pred = np.zeros(dists.shape[0], dtype=np.int64)
            for i in range(dists.shape[0]):
                counts = np.bincount(self.y_train[np.argsort(dists[i])[:k]])
                y_pred[i] = len(counts) - 1 - np.argmax(counts[::-1])
            return y_pred
    """, {"labels": ("failed", r"k=3\) is wrong on a hand-made case.*"
                               r"Hint: you broke a tied vote toward the larger label"),
          "predict": ("failed", r"but so is your predict_labels.*Hint: predict only passes")}),
    "ties_to_larger_from_label_8": ("labels", """
        def predict_labels(self, dists, k=1):
            y_pred = np.zeros(dists.shape[0], dtype=np.int64)
            for i in range(dists.shape[0]):
                counts = np.bincount(self.y_train[np.argsort(dists[i])[:k]])
                top = np.flatnonzero(counts == counts.max())
                y_pred[i] = top[-1] if top[-1] >= 8 else top[0]
            return y_pred
    """, {"labels": ("failed", r"with labels 0-9.*Hint: you broke a tied vote toward the "
                               r"larger label")}),
    "counter_most_common": ("labels", """
        def predict_labels(self, dists, k=1):
            y_pred = np.zeros(dists.shape[0], dtype=np.int64)
            for i in range(dists.shape[0]):
                closest_y = self.y_train[np.argsort(dists[i], kind="stable")[:k]]
                y_pred[i] = Counter(closest_y.tolist()).most_common(1)[0][0]
            return y_pred
    """, {"labels": ("failed", r"Hint: you broke a tied vote toward the nearest neighbour's")}),
    "ignores_k": ("labels", """
        def predict_labels(self, dists, k=1):
            return self.y_train[np.argmin(dists, axis=1)]
    """, {"labels": ("failed", r"k=3\).*Hint: these are the k = 1 labels")}),
    "k_plus_one": ("labels", """
        def predict_labels(self, dists, k=1):
            y_pred = np.zeros(dists.shape[0], dtype=np.int64)
            for i in range(dists.shape[0]):
                y_pred[i] = np.argmax(np.bincount(self.y_train[np.argsort(dists[i])[:k + 1]]))
            return y_pred
    """, {"labels": ("failed", r"k=1\).*Hint: these are the votes of the k \+ 1 nearest")}),
    "skips_nearest": ("labels", """
        def predict_labels(self, dists, k=1):
            y_pred = np.zeros(dists.shape[0], dtype=np.int64)
            for i in range(dists.shape[0]):
                y_pred[i] = np.argmax(np.bincount(self.y_train[np.argsort(dists[i])[1:k + 1]]))
            return y_pred
    """, {"labels": ("failed", r"Hint: these are the votes of neighbours 2 .. k \+ 1")}),
    "farthest": ("labels", """
        def predict_labels(self, dists, k=1):
            y_pred = np.zeros(dists.shape[0], dtype=np.int64)
            for i in range(dists.shape[0]):
                y_pred[i] = np.argmax(np.bincount(self.y_train[np.argsort(-dists[i])[:k]]))
            return y_pred
    """, {"labels": ("failed", r"Hint: these are the votes of the k farthest")}),
    "indices_not_labels": ("labels", """
        def predict_labels(self, dists, k=1):
            return np.argmin(dists, axis=1)
    """, {"labels": ("failed", r"Hint: these are indices of training images")}),
    "mean_label": ("labels", """
        def predict_labels(self, dists, k=1):
            return np.array([np.mean(self.y_train[np.argsort(row)[:k]]) for row in dists])
    """, {"labels": ("failed", r"holds fractions .*Hint: averaging the neighbours' labels")}),
    "sorts_dists_in_place": ("labels", """
        def predict_labels(self, dists, k=1):
            order = np.argsort(dists, axis=1)
            dists.sort(axis=1)
            return np.array([np.argmax(np.bincount(self.y_train[o[:k]])) for o in order])
    """, {"labels": ("error", r"changed its input dists in place")}),
    "column_vector": ("labels", """
        def predict_labels(self, dists, k=1):
            y_pred = np.zeros((dists.shape[0], 1), dtype=np.int64)
            for i in range(dists.shape[0]):
                y_pred[i] = np.argmax(np.bincount(self.y_train[np.argsort(dists[i])[:k]]))
            return y_pred
    """, {"labels": ("failed", r"has shape \(5, 1\), expected \(5,\).*Hint: there is an extra")}),
    "default_k_3": ("labels", """
        def predict_labels(self, dists, k=3):
            y_pred = np.zeros(dists.shape[0], dtype=np.int64)
            for i in range(dists.shape[0]):
                y_pred[i] = np.argmax(np.bincount(self.y_train[np.argsort(dists[i])[:k]]))
            return y_pred
    """, {"labels": ("failed", r"without k should use k = 1")}),
    "one_label_per_training_image": ("labels", """
        def predict_labels(self, dists, k=1):
            return np.array([np.argmax(np.bincount(self.y_train[np.argsort(col)[:k]]))
                             for col in dists.T])
    """, {"labels": ("failed", r"has 8 entries, one per training image")}),
    # ---- predict
    "predict_ignores_k": ("predict", """
        def predict(self, X, k=1, num_loops=0):
            return self.predict_labels(self.compute_distances_no_loops(X))
    """, {"predict": ("failed", r"predict\(X, k=3, num_loops=0\) is wrong.*"
                                r"Hint: these are the k = 1 labels")}),
    "predict_broken_one_loop": ("one", """
        def compute_distances_one_loop(self, X):
            return np.zeros((X.shape[0], self.X_train.shape[0]))
    """, {"predict": ("failed", r"predict\(X, k=1, num_loops=1\) is wrong, but so is "
                                r"compute_distances_one_loop.*Hint: fix "
                                r"compute_distances_one_loop first"),
          "one": ("failed", r"Hint: it is all zeros"), "none": ("passed", "passed")}),
    "predict_returns_dists": ("predict", """
        def predict(self, X, k=1, num_loops=0):
            return self.compute_distances_no_loops(X)
    """, {"predict": ("failed", r"predict\(X\) has shape \(\d+, \d+\), expected "
                                r"\(\d+,\)")}),
}

CHECK_OF = {"train": "KNearestNeighbor.train",
            "two": "KNearestNeighbor.compute_distances_two_loops",
            "one": "KNearestNeighbor.compute_distances_one_loop",
            "none": "KNearestNeighbor.compute_distances_no_loops",
            "labels": "KNearestNeighbor.predict_labels",
            "predict": "KNearestNeighbor.predict"}


def _class_source(variant: str | None) -> str:
    methods = dict(METHODS)
    if variant is not None:
        slot, code, _ = VARIANTS[variant]
        methods[slot] = code
    body = "".join(textwrap.indent(textwrap.dedent(m), "    ") for m in methods.values())
    return "class KNearestNeighbor:\n" + body


def _student_class(variant, mode):
    namespace = {"__name__": "__main__", "np": np, "Counter": Counter}
    exec(_class_source(variant), namespace)
    if mode == "direct":
        return namespace["KNearestNeighbor"]
    return Client(Loopback(ObjectServer(namespace))).ref("KNearestNeighbor")


# The checks that run a method: its own, predict (which calls the distance methods and the
# vote) and, for train, all of them. A right variant changes one method, so only these can
# see it (the others run the reference's code, which the test below covers on 12 seeds).
USERS = {"train": tuple(CHECK_OF), "two": ("two", "predict"), "one": ("one", "predict"),
         "none": ("none", "predict"), "labels": ("labels", "predict"), "predict": ("predict",)}


def _expectations(variant):
    """{check slot: (status, pattern)}: a right variant passes every check that runs it; a
    wrong one has its lessons listed (some list a check that must still pass)."""
    slot, _, listed = VARIANTS[variant]
    return dict(listed) if listed else {s: ("passed", "passed") for s in USERS[slot]}


# Right variants against the checks that run them; wrong ones against those listed.
CASES = [(v, s) for v in VARIANTS for s in _expectations(v)]


@pytest.mark.filterwarnings("ignore:invalid value encountered in sqrt:RuntimeWarning")
@pytest.mark.parametrize("mode", ["direct", "channel"])
@pytest.mark.parametrize("hidden", [False, True])
@pytest.mark.parametrize("variant, slot", CASES)
def test_each_mistake_gets_its_lesson(variant, slot, mode, hidden):
    status, pattern = _expectations(variant)[slot]
    outcome = CHECKS[CHECK_OF[slot]].evaluate(_student_class(variant, mode), hidden=hidden)
    assert outcome.status == status, outcome.message
    assert re.search(pattern, outcome.message, re.S), outcome.message


@pytest.mark.parametrize("mode", ["direct", "channel"])
def test_reference_passes_every_check_with_many_grading_seeds(mode):
    cls = _student_class(None, mode)
    for item in CHECK_OF.values():
        for seed in range(12):
            outcome = CHECKS[item].evaluate(cls, hidden=True, seed=seed)
            assert outcome.passed, (item, seed, outcome.message)


# --------------------------------------------------------------------------- designed cases

def _vote(labels):
    """Brute-force majority vote with ties to the smaller label (test-side reference)."""
    counts = Counter(int(v) for v in labels)
    top = max(counts.values())
    return min(label for label, n in counts.items() if n == top)


def test_hand_made_table_matches_a_brute_force_vote():
    y = np.array(knn_checks.HAND_Y_TRAIN)
    for k, (right, larger, nearest, k1, kplus1, skip, far) in knn_checks.HAND_LABELS.items():
        orders = [np.array(o) for o in knn_checks.HAND_ORDER]
        assert right == tuple(_vote(y[o[:k]]) for o in orders)
        assert kplus1 == tuple(_vote(y[o[:k + 1]]) for o in orders)
        assert skip == tuple(_vote(y[o[1:k + 1]]) for o in orders)
        assert far == tuple(_vote(y[o[::-1][:k]]) for o in orders)
        if k1 is not None:
            assert k1 == tuple(int(y[o[0]]) for o in orders) and k1 != right
        if larger is not None:  # at k = 2, 3, 4 the table has ties that separate the rules
            def tied(labels):
                c = Counter(int(v) for v in labels)
                return [lab for lab in c if c[lab] == max(c.values())]
            assert larger == tuple(max(tied(y[o[:k]])) for o in orders) != right
            assert nearest == tuple(next(int(v) for v in y[o[:k]] if v in tied(y[o[:k]]))
                                    for o in orders) != right
    dists, _ = knn_checks._hand_case()
    for i, order in enumerate(knn_checks.HAND_ORDER):
        assert tuple(np.argsort(dists[i])) == order  # the distances encode the table's order


@pytest.mark.parametrize("seed", range(40))
def test_designed_votes_have_the_winner_they_claim(seed):
    rng = np.random.default_rng(seed)
    for k in (1, 2, 3, 4, 7):
        dists, y, expected, neighbours = knn_checks._designed_case(rng, 6, k)
        for i in range(len(dists)):
            order = np.argsort(dists[i], kind="stable")
            assert set(order[:k]) == set(neighbours[i])
            assert dists[i, order[k - 1]] < dists[i, order[k]]  # no tie across the boundary
            assert _vote(y[order[:k]]) == expected[i]
    dists, y, expected, _ = knn_checks._whole_training_set_case(rng)
    assert all(_vote(y) == e for e in expected)


@pytest.mark.parametrize("seed", range(20))
def test_cluster_cases_have_the_neighbours_they_claim(seed):
    rng = np.random.default_rng(seed)
    X_train, y_train, X, expected = knn_checks._cluster_case(
        rng, int(rng.integers(1, 12)), int(rng.integers(3, 30)), duplicates=bool(seed % 2))
    d = np.sqrt(((X[:, None, :] - X_train[None, :, :]) ** 2).sum(axis=2))
    for k in (1, 2, 3):
        order = np.argsort(d, axis=1, kind="stable")
        assert [_vote(y_train[o[:k]]) for o in order] == list(expected[k])


# --------------------------------------------------------------------------- cross-validation

def _stored():
    return knn_checks._stored_cv()


def _shipped_labels():
    """5,000 labels with the shipped subset's fingerprint (read from the data once)."""
    from course_lib.data import load_cifar10

    return load_cifar10(verbose=False)[1][:5000]


def _table(accs):
    return {k: [float(a) for a in row] for k, row in zip(knn_checks.K_CHOICES, accs)}


def _cv_inputs(name, labels):
    accs = _stored()["fold_accuracies"].copy()
    rng = np.random.default_rng(0)
    best = knn_checks.K_CHOICES[int(np.argmax(accs.mean(axis=1)))]
    table, best_k, y = _table(accs), best, labels
    if name == "permuted_folds":
        table = _table(accs[:, ::-1])
    elif name == "numpy_rows":
        table = {k: np.array(v) for k, v in table.items()}
    elif name == "best_k_not_argmax":
        best_k = 1
    elif name == "best_k_not_a_choice":
        best_k = 7
    elif name == "missing_k":
        del table[100]
    elif name == "four_folds":
        table = _table(accs[:, :4])
    elif name == "percentages":
        table = _table(accs * 100)
    elif name == "test_set":
        table = _table(rng.integers(13, 30, size=accs.shape) / 100)
    elif name == "validated_on_test_set":
        table = _table(rng.integers(110, 150, size=accs.shape) / 500)
    elif name == "validated_on_training_data":
        accs[0] = 1.0
        table = _table(accs)
        best_k = 1
    elif name == "validated_on_4000":
        table = _table((rng.integers(250, 300, size=accs.shape) * 4 + 1) / 4000)
    elif name == "numpy_keys":
        table = {np.int64(k): v for k, v in table.items()}
    elif name == "string_keys":
        table = {str(k): v for k, v in table.items()}
    elif name == "means_not_lists":
        table = {k: float(np.mean(v)) for k, v in table.items()}
    elif name == "other_protocol":
        shifted = accs.copy()
        shifted[3] += 0.004
        table = _table(shifted)
        best_k = knn_checks.K_CHOICES[int(np.argmax(shifted.mean(axis=1)))]
    elif name == "other_dataset":
        shifted = accs + 0.011
        table = _table(shifted)
        y = labels[::-1].copy()
    return {"k_to_accuracies": table, "best_k": best_k, "y_train": y}


CV_EXPECTED = {
    "right": ("passed", "passed"),
    "permuted_folds": ("passed", "passed"),
    "numpy_rows": ("passed", "passed"),
    "other_dataset": ("passed", "passed"),
    "best_k_not_argmax": ("failed", r"best_k = 1 has mean accuracy 0.2788 .* k = 12 has 0.2822"),
    "best_k_not_a_choice": ("failed", r"best_k = 7 is not one of k_choices"),
    "missing_k": ("failed", r"no entry for k = 100"),
    "four_folds": ("failed", r"k_to_accuracies\[1\] has 4 accuracies; expected 5"),
    "percentages": ("failed", r"fraction between 0 and 1.*Hint: no percentages"),
    "test_set": ("failed", r"whole percentage.*500 test images"),
    "validated_on_test_set": ("failed", r"out of 500, as if each fold was validated on the 500 "
                                        r"test images"),
    "validated_on_training_data": ("failed", r"with k = 1 every fold has accuracy 1.0"),
    "validated_on_4000": ("failed", r"not a number of correct predictions.*over 4,000 images"),
    "numpy_keys": ("passed", r"passed"),  # np.array(k_choices) keys are still the k values
    "string_keys": ("failed", r"keys that are not integers"),
    "means_not_lists": ("failed", r"k_to_accuracies\[1\] should be a list of 5 accuracies"),
    "other_protocol": ("failed", r"for k = 8 are .*the prescribed protocol gives"),
}


@pytest.fixture(scope="module")
def shipped_labels():
    labels = _shipped_labels()
    assert knn_checks.labels_fingerprint(labels) == int(_stored()["y_train_crc32"])
    return labels


@pytest.mark.parametrize("mode", ["direct", "channel"])
@pytest.mark.parametrize("name", list(CV_EXPECTED))
def test_cross_validation_check(name, mode, shipped_labels):
    status, pattern = CV_EXPECTED[name]
    values = _cv_inputs(name, shipped_labels)
    if mode == "channel":
        client = Client(Loopback(ObjectServer(dict(values))))
        values = {key: client.ref(key) for key in values}
    outcome = CHECKS["knn_cross_validation"].evaluate(values, hidden=True)
    assert outcome.status == status, outcome.message
    assert re.search(pattern, outcome.message, re.S), outcome.message


def test_stored_cross_validation_results_are_plausible(shipped_labels):
    stored = _stored()
    accs = stored["fold_accuracies"]
    assert tuple(stored["k_choices"]) == knn_checks.K_CHOICES and accs.shape == (10, 5)
    assert np.allclose(accs * 1000, np.round(accs * 1000)) and 0.2 < accs.mean() < 0.35


# --------------------------------------------------------------------------- CS231n's own code

# k_nearest_neighbor.py as students fill in CS231n's assignment-1 starter (signatures, float
# labels, the ValueError for num_loops, np.bincount(...).argmax() for the vote).
CS231N_STARTER = """
import numpy as np

class KNearestNeighbor(object):
    def __init__(self):
        pass

    def train(self, X, y):
        self.X_train = X
        self.y_train = y

    def predict(self, X, k=1, num_loops=0):
        if num_loops == 0:
            dists = self.compute_distances_no_loops(X)
        elif num_loops == 1:
            dists = self.compute_distances_one_loop(X)
        elif num_loops == 2:
            dists = self.compute_distances_two_loops(X)
        else:
            raise ValueError('Invalid value %d for num_loops' % num_loops)
        return self.predict_labels(dists, k=k)

    def compute_distances_two_loops(self, X):
        num_test = X.shape[0]
        num_train = self.X_train.shape[0]
        dists = np.zeros((num_test, num_train))
        for i in range(num_test):
            for j in range(num_train):
                dists[i, j] = np.sqrt(np.sum(np.square(self.X_train[j, :] - X[i, :])))
        return dists

    def compute_distances_one_loop(self, X):
        num_test = X.shape[0]
        num_train = self.X_train.shape[0]
        dists = np.zeros((num_test, num_train))
        for i in range(num_test):
            dists[i, :] = np.sqrt(np.sum(np.square(self.X_train - X[i, :]), axis=1))
        return dists

    def compute_distances_no_loops(self, X):
        num_test = X.shape[0]
        num_train = self.X_train.shape[0]
        dists = np.zeros((num_test, num_train))
        dists = np.sqrt(-2 * np.dot(X, self.X_train.T) + np.sum(np.square(self.X_train), axis=1)
                        + np.transpose([np.sum(np.square(X), axis=1)]))
        return dists

    def predict_labels(self, dists, k=1):
        num_test = dists.shape[0]
        y_pred = np.zeros(num_test)
        for i in range(num_test):
            closest_y = []
            closest_y = self.y_train[np.argsort(dists[i])[:k]]
            y_pred[i] = np.bincount(closest_y).argmax()
        return y_pred
"""


@pytest.mark.filterwarnings("ignore:invalid value encountered in sqrt:RuntimeWarning")
@pytest.mark.parametrize("mode", ["direct", "channel"])
def test_cs231n_starter_code_passes_unchanged(mode):
    namespace = {"__name__": "__main__"}
    exec(CS231N_STARTER, namespace)
    cls = namespace["KNearestNeighbor"]
    if mode == "channel":
        cls = Client(Loopback(ObjectServer(namespace))).ref("KNearestNeighbor")
    for item in CHECK_OF.values():
        for hidden, seed in ((False, None), (True, 1)):
            outcome = CHECKS[item].evaluate(cls, hidden=hidden, seed=seed)
            assert outcome.passed, (item, outcome.message)
