"""Notebook 02's checks on deliberately wrong implementations, directly and through the channel.

Every right implementation (loops, vectorized, one-hot matrices, einsum, log-sum-exp, other
stable shifts, sampling with or without replacement) must pass, public and grading cases
alike; every usual mistake must fail with the lesson that names it. "direct" calls the
student's objects in this process (the student's kernel); "channel" reaches them through
the autograder's channel, where only plain data crosses.
"""

import re
import textwrap

import numpy as np
import pytest

from autograder.channel import Client, Loopback, ObjectServer
from course_lib.checks import CHECKS

PRELUDE = """
import numpy as np

def svm_loss_vectorized(W, X, y, reg):
    N = X.shape[0]
    rows = np.arange(N)
    scores = X @ W
    margins = np.maximum(0, scores - scores[rows, y][:, None] + 1)
    margins[rows, y] = 0
    coeff = (margins > 0).astype(float)
    coeff[rows, y] = -coeff.sum(axis=1)
    return margins.sum() / N + reg * np.sum(W * W), X.T @ coeff / N + 2 * reg * W

def softmax_loss_vectorized(W, X, y, reg):
    N = X.shape[0]
    scores = X @ W
    scores = scores - scores.max(axis=1, keepdims=True)
    p = np.exp(scores)
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(N), y]).mean() + reg * np.sum(W * W)
    p[np.arange(N), y] -= 1
    return loss, X.T @ p / N + 2 * reg * W
"""


def _namespace(source: str) -> dict:
    namespace = {"__name__": "__main__"}
    exec(PRELUDE + textwrap.dedent(source), namespace)
    return namespace


def _objects(source: str, names, mode: str):
    namespace = _namespace(source)
    if mode == "direct":
        return [namespace[n] for n in names]
    client = Client(Loopback(ObjectServer(namespace)))
    return [client.ref(n) for n in names]


def _expected(table, impl, item):
    """(source, status, pattern): a right implementation with a loop over the examples is
    right for the naive item and fails the vectorized one, which must not loop."""
    source, status, pattern = table[impl]
    if status == "passed" and item.endswith("_vectorized") and "for i in range" in source:
        return source, "failed", r"a Python loop over the examples"
    return source, status, pattern


def _assert_outcome(outcome, status, pattern):
    assert outcome.status == status, outcome.message
    assert re.search(pattern, outcome.message, re.S), outcome.message


# --------------------------------------------------------------------------- SVM

SVM_LOOPS = """
def svm(W, X, y, reg):
    dW = np.zeros(W.shape)
    loss = 0.0
    for i in range(X.shape[0]):
        s = X[i].dot(W)
        for j in range(W.shape[1]):
            if j == y[i]:
                continue
            margin = s[j] - s[y[i]] + 1
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss /= X.shape[0]
    dW /= X.shape[0]
    return loss + reg * np.sum(W * W), dW + 2 * reg * W
"""


def _svm_variant(old: str, new: str) -> str:
    assert old in SVM_LOOPS, old
    return SVM_LOOPS.replace(old, new)


SVM = {
    "right_loops": (SVM_LOOPS, "passed", "passed"),
    "right_vectorized": ("svm = svm_loss_vectorized", "passed", "passed"),
    "right_onehot_einsum": ("""
        def svm(W, X, y, reg):
            N, C = X.shape[0], W.shape[1]
            Y = np.eye(C)[y]
            S = np.einsum("nd,dc->nc", X, W)
            correct = np.sum(S * Y, axis=1, keepdims=True)
            M = np.where(Y == 1, 0.0, np.maximum(0.0, S - correct + 1.0))
            G = (M > 0) - Y * np.sum(M > 0, axis=1, keepdims=True)
            dW = np.einsum("nd,nc->dc", X, G) / N + 2 * reg * W
            return float(np.sum(M) / N + reg * np.sum(W ** 2)), dW
    """, "passed", "passed"),
    "loss_and_grad_not_averaged": (_svm_variant(
        "    loss /= X.shape[0]\n    dW /= X.shape[0]\n", ""),
        "failed", r"loss is wrong.*Hint: your loss is 3 times too large"),
    "grad_not_averaged": (_svm_variant("    dW /= X.shape[0]\n", ""),
                          "failed", r"dW is wrong.*Hint: the data gradient must be divided by N"),
    "no_reg_gradient": (_svm_variant("dW + 2 * reg * W", "dW"),
                        "failed", r"dW changed by 0 .*Hint: the regularization gradient is "
                                  r"missing from dW: add 2 \* reg \* W"),
    "doubled_reg_gradient": (_svm_variant("dW + 2 * reg * W", "dW + 4 * reg * W"),
                             "failed", r"Hint: dW has the regularization gradient twice"),
    "reg_W_instead_of_2_reg_W": (_svm_variant("dW + 2 * reg * W", "dW + reg * W"),
                                 "failed", r"your loss adds reg \* np.sum\(W \* W\) but your "
                                           r"gradient adds reg \* W.*Hint: either convention is "
                                           r"fine, but loss and gradient must agree"),
    # CS231n's convention (2016 starter code): accepted, loss and gradient agree
    "half_reg_cs231n_style": (_svm_variant("loss + reg * np.sum(W * W), dW + 2 * reg * W",
                                           "loss + 0.5 * reg * np.sum(W * W), dW + reg * W"),
                              "passed", "passed"),
    "half_reg_loss_full_gradient": (_svm_variant("loss + reg * np.sum(W * W)",
                                                 "loss + 0.5 * reg * np.sum(W * W)"),
                                    "failed", r"your loss adds 0.5 \* reg \* np.sum\(W \* W\) but "
                                              r"your gradient adds 2 \* reg \* W"),
    "no_reg_in_loss": (_svm_variant("loss + reg * np.sum(W * W)", "loss"),
                       "failed", r"Hint: the regularization term reg \* np.sum\(W \* W\) is "
                                 r"missing"),
    "counts_correct_class": (_svm_variant("            if j == y[i]:\n                continue\n",
                                          ""),
                             "failed", r"loss is wrong.*Hint: your loss is 1 too large: the sum "
                                       r"over classes must skip the correct class"),
    "no_delta": (_svm_variant("s[j] - s[y[i]] + 1", "s[j] - s[y[i]]"),
                 "failed", r"Hint: the margin is max\(0, s_j - s_y \+ 1\): did you forget the "
                           r"\+ 1"),
    "missing_correct_class_gradient": (_svm_variant("                dW[:, y[i]] -= X[i]\n", ""),
                                       "failed", r"dW is wrong.*Hint: every example adds to its "
                                                 r"wrong classes' columns"),
    "sign_error_gradient": (_svm_variant("dW + 2 * reg * W", "-(dW + 2 * reg * W)"),
                            "failed", r"Hint: .*(wrong sign|opposite sign)"),
    "float32_gradient": (_svm_variant("dW + 2 * reg * W", "(dW + 2 * reg * W).astype(np.float32)"),
                         "failed", r"dW has dtype float32; expected float64"),
    "mutates_X": (_svm_variant("    dW = np.zeros(W.shape)\n",
                               "    dW = np.zeros(W.shape)\n    X -= X.mean(axis=0)\n"),
                  "error", r"changed its input X in place.*X\.copy\(\)"),
    "returns_loss_only": ("""
        def svm(W, X, y, reg):
            return svm_loss_vectorized(W, X, y, reg)[0]
    """, "failed", r"should return \(loss, dW\), but it returned a (numpy\.)?float"),
    "not_implemented": ("""
        def svm(W, X, y, reg):
            dW = np.zeros(W.shape)
            # YOUR CODE HERE
            raise NotImplementedError()
    """, "not_implemented", r"still raises NotImplementedError"),
}


@pytest.mark.parametrize("mode", ["direct", "channel"])
@pytest.mark.parametrize("impl", list(SVM))
@pytest.mark.parametrize("item", ["svm_loss_naive", "svm_loss_vectorized"])
def test_svm_loss_checks(item, impl, mode):
    source, status, pattern = _expected(SVM, impl, item)
    (fn,) = _objects(source, ["svm"], mode)
    _assert_outcome(CHECKS[item].evaluate(fn), status, pattern)
    if status == "passed":  # right ones also pass the grading cases, whatever their seed
        for seed in (1, 2):
            _assert_outcome(CHECKS[item].evaluate(fn, hidden=True, seed=seed), status, pattern)


# --------------------------------------------------------------------------- softmax

SOFTMAX_LOOPS = """
def softmax(W, X, y, reg):
    loss = 0.0
    dW = np.zeros(W.shape)
    for i in range(X.shape[0]):
        s = X[i].dot(W)
        s = s - np.max(s)
        e = np.exp(s)
        loss += -np.log(e[y[i]] / np.sum(e))
        for k in range(W.shape[1]):
            dW[:, k] += (e[k] / np.sum(e) - (k == y[i])) * X[i]
    loss = loss / X.shape[0] + reg * np.sum(W * W)
    dW = dW / X.shape[0] + 2 * reg * W
    return loss, dW
"""


def _softmax_variant(old: str, new: str) -> str:
    assert old in SOFTMAX_LOOPS, old
    return SOFTMAX_LOOPS.replace(old, new)


SOFTMAX = {
    "right_loops": (SOFTMAX_LOOPS, "passed", "passed"),
    "right_vectorized": ("softmax = softmax_loss_vectorized", "passed", "passed"),
    "right_logsumexp_onehot": ("""
        def softmax(W, X, y, reg):
            N, C = X.shape[0], W.shape[1]
            S = X @ W
            m = np.max(S, axis=1, keepdims=True)
            lse = m + np.log(np.sum(np.exp(S - m), axis=1, keepdims=True))
            Y = np.zeros((N, C))
            Y[np.arange(N), y] = 1
            loss = np.sum(Y * (lse - S)) / N + reg * np.sum(W * W)
            return loss, X.T @ (np.exp(S - lse) - Y) / N + 2 * reg * W
    """, "passed", "passed"),
    # a guard against log(0), common in student code: right
    "right_log_epsilon": (_softmax_variant("loss += -np.log(e[y[i]] / np.sum(e))",
                                           "loss += -np.log(e[y[i]] / np.sum(e) + 1e-10)"),
                          "passed", "passed"),
    # stable for large scores, but not when a wrong class scores 720 above the correct one
    "shift_by_correct_score": (_softmax_variant("s = s - np.max(s)",
                                                "s = s - s[y[i]]  # the correct score"),
                               "failed", r"loss is (inf|nan) on image 0 of a hand-made "
                                         r"table.*Hint: "
                                         r"subtracting the correct class's score does not "
                                         r"prevent overflow"),
    "no_shift": (_softmax_variant("        s = s - np.max(s)\n", ""),
                 "failed", r"loss is (inf|nan).*after adding a constant of magnitude.*"
                           r"Hint: exp\(1000\) overflows"),
    "one_global_shift": ("""
        def softmax(W, X, y, reg):
            N = X.shape[0]
            S = X @ W
            S = S - np.max(S)  # one maximum for the whole matrix
            P = np.exp(S) / np.sum(np.exp(S), axis=1, keepdims=True)
            loss = -np.mean(np.log(P[np.arange(N), y])) + reg * np.sum(W * W)
            P[np.arange(N), y] -= 1
            return loss, X.T @ P / N + 2 * reg * W
    """, "failed", r"loss is (inf|nan).*Hint: .*One maximum for the whole matrix is not enough"),
    "not_averaged": (_softmax_variant(
        "    loss = loss / X.shape[0] + reg * np.sum(W * W)\n"
        "    dW = dW / X.shape[0] + 2 * reg * W\n",
        "    loss = loss + reg * np.sum(W * W)\n    dW = dW + 2 * reg * W\n"),
        "failed", r"Hint: your loss is N times too large"),
    "grad_not_averaged": (_softmax_variant("dW = dW / X.shape[0] + 2 * reg * W",
                                           "dW = dW + 2 * reg * W"),
                          "failed", r"dW is wrong.*Hint: your data gradient is N times too large"),
    "no_reg_gradient": (_softmax_variant("dW = dW / X.shape[0] + 2 * reg * W",
                                         "dW = dW / X.shape[0]"),
                        "failed", r"Hint: the regularization gradient is missing from dW"),
    "doubled_reg_gradient": (_softmax_variant("dW = dW / X.shape[0] + 2 * reg * W",
                                              "dW = dW / X.shape[0] + 4 * reg * W"),
                             "failed", r"Hint: dW has the regularization gradient twice"),
    "reg_W_instead_of_2_reg_W": (_softmax_variant("dW = dW / X.shape[0] + 2 * reg * W",
                                                  "dW = dW / X.shape[0] + reg * W"),
                                 "failed", r"your loss adds reg \* np.sum\(W \* W\) but your "
                                           r"gradient adds reg \* W"),
    "half_reg_cs231n_style": (_softmax_variant(
        "    loss = loss / X.shape[0] + reg * np.sum(W * W)\n"
        "    dW = dW / X.shape[0] + 2 * reg * W\n",
        "    loss = loss / X.shape[0] + 0.5 * reg * np.sum(W * W)\n"
        "    dW = dW / X.shape[0] + reg * W\n"), "passed", "passed"),
    "forgot_minus_one": (_softmax_variant(" - (k == y[i])", ""),
                         "failed", r"Hint: subtract 1 from the correct class's probability"),
    "log10": (_softmax_variant("-np.log(", "-np.log10("),
              "failed", r"loss is wrong.*Hint: use the natural logarithm, np.log, not log10"),
    "mutates_W": (_softmax_variant("    loss = 0.0\n", "    loss = 0.0\n    W *= 1.0001\n"),
                  "error", r"changed its input W in place"),
}


# The unstable implementations overflow in exp, as they should: numpy warns about it.
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                            "ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("mode", ["direct", "channel"])
@pytest.mark.parametrize("impl", list(SOFTMAX))
@pytest.mark.parametrize("item", ["softmax_loss_naive", "softmax_loss_vectorized"])
def test_softmax_loss_checks(item, impl, mode):
    source, status, pattern = _expected(SOFTMAX, impl, item)
    (fn,) = _objects(source, ["softmax"], mode)
    _assert_outcome(CHECKS[item].evaluate(fn), status, pattern)
    if status == "passed":
        for seed in (1, 2):
            _assert_outcome(CHECKS[item].evaluate(fn, hidden=True, seed=seed), status, pattern)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                            "ignore:invalid value encountered:RuntimeWarning")
def test_wrong_ones_fail_the_grading_cases_too():
    for table, item, name in ((SVM, "svm_loss_vectorized", "svm"),
                              (SOFTMAX, "softmax_loss_vectorized", "softmax")):
        for impl, (source, status, _) in table.items():
            if status != "passed":
                (fn,) = _objects(source, [name], "direct")
                outcome = CHECKS[item].evaluate(fn, hidden=True, seed=3)
                assert outcome.status == status, (impl, outcome.message)


def test_a_wrong_loss_is_caught_on_random_shapes_without_stored_values():
    """The grading cases' identities (W = 0, the regularization term, repeated data)
    catch mistakes on shapes drawn at grading time, not only on the stored cases."""
    from course_lib.checks import linear

    source, _, _ = SVM["counts_correct_class"]
    (fn,) = _objects(source, ["svm"], "direct")
    with pytest.raises(AssertionError, match="must skip the correct class"):
        linear._check_zero_W(fn, "svm", np.random.default_rng(0), 17, 9, 7)
    source, _, _ = SOFTMAX["not_averaged"]
    (fn,) = _objects(source, ["softmax"], "direct")
    W, X, y = linear._random_case(np.random.default_rng(1), "softmax", 13, 6, 5)
    with pytest.raises(AssertionError, match="the data loss doubled"):
        linear._check_repeated_data(fn, W, X, y, 0.3, "on a random case", 1.0)
    source, _, _ = SVM["no_reg_in_loss"]
    (fn,) = _objects(source, ["svm"], "direct")
    with pytest.raises(AssertionError, match=r"reg \* np.sum\(W \* W\) is missing"):
        linear._check_reg_identity(fn, W, X, y, 0.3, "on a random case", 1.0)


# --------------------------------------------------------------------------- naive == vectorized

AGREEMENT = {
    "agree": ("naive = svm_loss_vectorized\nfast = svm_loss_vectorized", "passed", "passed"),
    "disagree": ("""
        def naive(W, X, y, reg):
            return svm_loss_vectorized(W, X, y, reg)
        def fast(W, X, y, reg):
            loss, dW = svm_loss_vectorized(W, X, y, reg)
            return loss, dW * 1.01
    """, "failed", r"naive and fast disagree on a random case.*dW at \[\d+, \d+\].*"
                  r"run CHECKS\['svm_loss_naive'\] and CHECKS\['svm_loss_vectorized'\]"),
}


@pytest.mark.parametrize("mode", ["direct", "channel"])
@pytest.mark.parametrize("impl", list(AGREEMENT))
def test_naive_vs_vectorized(impl, mode):
    source, status, pattern = AGREEMENT[impl]
    naive, fast = _objects(source, ["naive", "fast"], mode)
    for hidden in (False, True):
        _assert_outcome(CHECKS["svm_naive_vs_vectorized"].evaluate(naive, fast, hidden=hidden),
                        status, pattern)


# --------------------------------------------------------------------------- worked examples

HINGE = {
    "right": ("np.array([2.9, 0.0, 12.9])", "15.8 / 3", "passed", "passed"),
    "right_float32_mean": ("np.array([2.9, 0, 12.9])",
                               "np.float32(5.2666667)", "passed", "passed"),
    "counted_correct_class": ("np.array([3.9, 1.0, 13.9])", "18.8 / 3",
                              "failed", r"Hint: each is 1 too large"),
    "max_instead_of_sum": ("np.array([2.9, 0.0, 6.6])", "9.5 / 3",
                           "failed", r"Hint: the SVM loss sums the hinge"),
    "no_clamp": ("np.array([-1.0, -4.5, 12.9])", "7.4 / 3",
                 "failed", r"Hint: negative margins count as 0"),
    "sum_not_mean": ("np.array([2.9, 0.0, 12.9])", "15.8",
                     "failed", r"mean loss is wrong.*Hint: that is the sum"),
}


@pytest.mark.parametrize("mode", ["direct", "channel"])
@pytest.mark.parametrize("impl", list(HINGE))
def test_hinge_loss_example(impl, mode):
    losses, mean, status, pattern = HINGE[impl]
    args = _objects(f"losses = {losses}\nmean = {mean}\n", ["losses", "mean"], mode)
    _assert_outcome(CHECKS["hinge_loss_example"].evaluate(*args), status, pattern)


SOFTMAX_EXAMPLE = {
    "right": ("e = np.exp(np.array([3.2, 5.1, -1.7]))\nprobs = e / e.sum()\n"
              "loss = -np.log(probs[0])", "passed", "passed"),
    "exps_only": ("probs = np.exp(np.array([3.2, 5.1, -1.7]))\nloss = 2.04",
                  "failed", r"Hint: these are the exponentials"),
    "log10": ("e = np.exp(np.array([3.2, 5.1, -1.7]))\nprobs = e / e.sum()\n"
              "loss = -np.log10(probs[0])", "failed", r"Hint: use the natural logarithm"),
    "wrong_class": ("e = np.exp(np.array([3.2, 5.1, -1.7]))\nprobs = e / e.sum()\n"
                    "loss = -np.log(probs.max())", "failed", r"Hint: .*correct class \(cat\)"),
}


@pytest.mark.parametrize("mode", ["direct", "channel"])
@pytest.mark.parametrize("impl", list(SOFTMAX_EXAMPLE))
def test_softmax_loss_example(impl, mode):
    source, status, pattern = SOFTMAX_EXAMPLE[impl]
    args = _objects(source, ["probs", "loss"], mode)
    _assert_outcome(CHECKS["softmax_loss_example"].evaluate(*args), status, pattern)


def test_an_undefined_answer_is_named_when_graded_through_the_channel():
    # (In the kernel, an undefined name fails before the check is even called.)
    namespace = _namespace("e = np.exp(np.array([3.2, 5.1, -1.7]))\nprobs = e / e.sum()")
    client = Client(Loopback(ObjectServer(namespace)))
    outcome = CHECKS["softmax_loss_example"].evaluate(client.ref("probs"), client.ref("loss"))
    _assert_outcome(outcome, "error", r"name 'loss' is not defined")


# --------------------------------------------------------------------------- LinearClassifier

CLASSIFIER = """
class LinearClassifier:
    def __init__(self):
        self.W = None

    def train(self, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100, batch_size=200,
              verbose=False):
        num_train, dim = X.shape
        num_classes = np.max(y) + 1
        if self.W is None:
            self.W = 0.001 * np.random.randn(dim, num_classes)
        loss_history = []
        for it in range(num_iters):
            idx = np.random.choice(num_train, batch_size, replace=True)
            X_batch, y_batch = X[idx], y[idx]
            loss, grad = self.loss(X_batch, y_batch, reg)
            loss_history.append(loss)
            self.W -= learning_rate * grad
        return loss_history

    def predict(self, X):
        return np.argmax(X.dot(self.W), axis=1)

    def loss(self, X_batch, y_batch, reg):
        pass


class LinearSVM(LinearClassifier):
    def loss(self, X_batch, y_batch, reg):
        return svm_loss_vectorized(self.W, X_batch, y_batch, reg)


class Softmax(LinearClassifier):
    def loss(self, X_batch, y_batch, reg):
        return softmax_loss_vectorized(self.W, X_batch, y_batch, reg)
"""


def _classifier(old: str, new: str) -> str:
    assert old in CLASSIFIER, old
    return CLASSIFIER.replace(old, new)


SAMPLE = "            idx = np.random.choice(num_train, batch_size, replace=True)\n"
UPDATE = "            self.W -= learning_rate * grad\n"

TRAIN = {
    "right": (CLASSIFIER, "passed", "passed"),
    "right_no_replacement_array_history": (_classifier(
        "replace=True", "replace=False").replace("return loss_history",
                                                  "return np.array(loss_history)"),
        "passed", "passed"),
    "right_zero_init_rebinding_update": (_classifier(
        "0.001 * np.random.randn(dim, num_classes)", "np.zeros((dim, num_classes))").replace(
        UPDATE, "            self.W = self.W - learning_rate * grad\n"), "passed", "passed"),
    "no_update": (_classifier(UPDATE, ""), "failed", r"Hint: W did not change"),
    "uphill": (_classifier(UPDATE, "            self.W += learning_rate * grad\n"),
               "failed", r"Hint: W moved uphill"),
    "no_learning_rate": (_classifier(UPDATE, "            self.W -= grad\n"),
                         "failed", r"Hint: the step must be scaled by learning_rate"),
    "loss_recorded_after_step": (_classifier(
        "            loss_history.append(loss)\n" + UPDATE,
        UPDATE + "            loss_history.append(self.loss(X_batch, y_batch, reg)[0])\n"),
        "failed", r"loss_history\[0\] is wrong.*Hint: that is the loss after the step"),
    "whole_training_set": (_classifier(SAMPLE, "            idx = np.arange(num_train)\n"),
                           "failed", r"every loss in loss_history is the loss of the whole "
                                     r"training set.*Hint: sample batch_size examples"),
    "first_examples_every_time": (_classifier(SAMPLE,
                                              "            idx = np.arange(batch_size)\n"),
                                  "failed", r"every iteration saw the same mini-batch"),
    "batch_drawn_once": (_classifier(
        "        loss_history = []\n",
        "        loss_history = []\n        idx = np.random.choice(num_train, batch_size)\n"
    ).replace(SAMPLE, ""), "failed", r"every iteration saw the same mini-batch"),
    "fixed_batch_size": (_classifier("np.random.choice(num_train, batch_size, replace=True)",
                                     "np.random.choice(num_train, 5)"),
                         "failed", r"not averages over batch_size=37 examples.*Hint: they look "
                                   r"like averages over 5 examples"),
    "history_every_10": (_classifier("            loss_history.append(loss)\n",
                                     "            if it % 10 == 0:\n"
                                     "                loss_history.append(loss)\n"),
                         "failed", r"returned 1 losses for num_iters=7"),
    "returns_nothing": (_classifier("        return loss_history\n", ""),
                        "failed", r"train returned None: return loss_history"),
    "mutates_X": (_classifier("        num_train, dim = X.shape\n",
                              "        num_train, dim = X.shape\n        X *= 1.0\n"
                              "        X[:, 0] = 0\n"),
                  "error", r"changed its input X in place"),
    "not_implemented": (_classifier(SAMPLE, "            raise NotImplementedError()\n"),
                        "not_implemented", r"still raises NotImplementedError"),
}


@pytest.mark.parametrize("mode", ["direct", "channel"])
@pytest.mark.parametrize("impl", list(TRAIN))
@pytest.mark.parametrize("cls", ["LinearSVM", "Softmax"])
def test_train_check(impl, cls, mode):
    source, status, pattern = TRAIN[impl]
    (klass,) = _objects(source, [cls], mode)
    _assert_outcome(CHECKS["LinearClassifier.train"].evaluate(klass), status, pattern)
    if status == "passed":
        for seed in (1, 2):
            _assert_outcome(CHECKS["LinearClassifier.train"].evaluate(
                klass, hidden=True, seed=seed), status, pattern)


@pytest.mark.parametrize("mode", ["direct", "channel"])
def test_train_check_needs_a_class_with_a_loss(mode):
    (klass,) = _objects(CLASSIFIER, ["LinearClassifier"], mode)
    _assert_outcome(CHECKS["LinearClassifier.train"].evaluate(klass), "failed",
                    r"LinearClassifier.loss returned None.*LinearSVM or Softmax")


@pytest.mark.parametrize("mode", ["direct", "channel"])
def test_train_check_names_an_unfinished_loss(mode):
    source = CLASSIFIER + "\ndef svm_loss_vectorized(W, X, y, reg):\n" \
                          "    raise NotImplementedError()\n"
    (klass,) = _objects(source, ["LinearSVM"], mode)
    _assert_outcome(CHECKS["LinearClassifier.train"].evaluate(klass), "not_implemented",
                    r"LinearSVM.loss still raises NotImplementedError: it calls your "
                    r"vectorized loss function, which is not implemented yet")


PREDICT = {
    "right": (CLASSIFIER, "passed", "passed"),
    "right_float_labels_loop": (_classifier(
        "        return np.argmax(X.dot(self.W), axis=1)\n",
        "        out = np.zeros(X.shape[0])\n        for i in range(X.shape[0]):\n"
        "            out[i] = np.argmax(X[i] @ self.W)\n        return out\n"),
        "passed", "passed"),
    "argmin": (_classifier("np.argmax(X.dot(self.W), axis=1)", "np.argmin(X.dot(self.W), axis=1)"),
               "failed", r"predict\(X\) is wrong.*entries differ"),
    "wrong_axis": (_classifier("np.argmax(X.dot(self.W), axis=1)",
                               "np.argmax(X.dot(self.W), axis=0)"),
                   "failed", r"one label per class.*Hint: take the argmax over the classes, "
                             r"axis=1"),
    "scores_not_labels": (_classifier("np.argmax(X.dot(self.W), axis=1)", "X.dot(self.W)"),
                          "failed", r"predict\(X\) has shape \(\d+, \d+\): those are the "
                                    r"scores.*Hint: return the class with the highest score"),
    "changes_W": (_classifier("        return np.argmax(X.dot(self.W), axis=1)\n",
                              "        self.W = self.W * 2\n"
                              "        return np.argmax(X.dot(self.W), axis=1)\n"),
                  "failed", r"self.W after predict is wrong.*predict must not change W"),
}


@pytest.mark.parametrize("mode", ["direct", "channel"])
@pytest.mark.parametrize("impl", list(PREDICT))
def test_predict_check(impl, mode):
    source, status, pattern = PREDICT[impl]
    (klass,) = _objects(source, ["LinearClassifier"], mode)
    for hidden in (False, True):
        _assert_outcome(CHECKS["LinearClassifier.predict"].evaluate(klass, hidden=hidden),
                        status, pattern)


# --------------------------------------------------------------------------- CS231n's own code

# Written the way students fill in CS231n's assignment-1 starter files (linear_svm.py,
# softmax.py, linear_classifier.py), with the 0.5 * reg * np.sum(W * W) convention of the
# 2016-2019 starters and a gradient that matches it (reg * W).
CS231N_STARTER = """
import numpy as np

def svm_loss_naive(W, X, y, reg):
    dW = np.zeros(W.shape) # initialize the gradient as zero
    num_classes = W.shape[1]
    num_train = X.shape[0]
    loss = 0.0
    for i in range(num_train):
        scores = X[i].dot(W)
        correct_class_score = scores[y[i]]
        for j in range(num_classes):
            if j == y[i]:
                continue
            margin = scores[j] - correct_class_score + 1 # note delta = 1
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss /= num_train
    dW /= num_train
    loss += 0.5 * reg * np.sum(W * W)
    dW += reg * W
    return loss, dW

def svm_loss_vectorized(W, X, y, reg):
    loss = 0.0
    dW = np.zeros(W.shape) # initialize the gradient as zero
    num_train = X.shape[0]
    scores = X.dot(W)
    correct_class_scores = scores[np.arange(num_train), y].reshape(-1, 1)
    margins = np.maximum(0, scores - correct_class_scores + 1)
    margins[np.arange(num_train), y] = 0
    loss = np.sum(margins) / num_train + 0.5 * reg * np.sum(W * W)
    binary = margins
    binary[margins > 0] = 1
    row_sum = np.sum(binary, axis=1)
    binary[np.arange(num_train), y] = -row_sum.T
    dW = np.dot(X.T, binary) / num_train + reg * W
    return loss, dW

def softmax_loss_naive(W, X, y, reg):
    loss = 0.0
    dW = np.zeros_like(W)
    num_train, num_classes = X.shape[0], W.shape[1]
    for i in range(num_train):
        scores = X[i].dot(W)
        scores -= np.max(scores)
        p = np.exp(scores) / np.sum(np.exp(scores))
        loss += -np.log(p[y[i]])
        for j in range(num_classes):
            dW[:, j] += (p[j] - (j == y[i])) * X[i]
    loss = loss / num_train + 0.5 * reg * np.sum(W * W)
    dW = dW / num_train + reg * W
    return loss, dW

def softmax_loss_vectorized(W, X, y, reg):
    num_train = X.shape[0]
    scores = X.dot(W)
    scores -= np.max(scores, axis=1, keepdims=True)
    probs = np.exp(scores) / np.sum(np.exp(scores), axis=1, keepdims=True)
    loss = np.sum(-np.log(probs[np.arange(num_train), y])) / num_train
    loss += 0.5 * reg * np.sum(W * W)
    dscores = probs.copy()
    dscores[np.arange(num_train), y] -= 1
    dW = X.T.dot(dscores) / num_train + reg * W
    return loss, dW

class LinearClassifier(object):
    def __init__(self):
        self.W = None

    def train(self, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100,
              batch_size=200, verbose=False):
        num_train, dim = X.shape
        num_classes = np.max(y) + 1 # assume y takes values 0...K-1 where K is number of classes
        if self.W is None:
            # lazily initialize W
            self.W = 0.001 * np.random.randn(dim, num_classes)
        loss_history = []
        for it in range(num_iters):
            X_batch = None
            y_batch = None
            batch_indices = np.random.choice(num_train, batch_size)
            X_batch = X[batch_indices]
            y_batch = y[batch_indices]
            loss, grad = self.loss(X_batch, y_batch, reg)
            loss_history.append(loss)
            self.W += -learning_rate * grad
            if verbose and it % 100 == 0:
                print('iteration %d / %d: loss %f' % (it, num_iters, loss))
        return loss_history

    def predict(self, X):
        y_pred = np.zeros(X.shape[0])
        y_pred = np.argmax(X.dot(self.W), axis=1)
        return y_pred

    def loss(self, X_batch, y_batch, reg):
        pass

class LinearSVM(LinearClassifier):
    def loss(self, X_batch, y_batch, reg):
        return svm_loss_vectorized(self.W, X_batch, y_batch, reg)

class Softmax(LinearClassifier):
    def loss(self, X_batch, y_batch, reg):
        return softmax_loss_vectorized(self.W, X_batch, y_batch, reg)
"""

CS231N_CALLS = [
    ("svm_loss_naive", ["svm_loss_naive"]),
    ("svm_loss_vectorized", ["svm_loss_vectorized"]),
    ("svm_naive_vs_vectorized", ["svm_loss_naive", "svm_loss_vectorized"]),
    ("softmax_loss_naive", ["softmax_loss_naive"]),
    ("softmax_loss_vectorized", ["softmax_loss_vectorized"]),
    ("softmax_naive_vs_vectorized", ["softmax_loss_naive", "softmax_loss_vectorized"]),
    ("LinearClassifier.train", ["LinearSVM"]),
    ("LinearClassifier.train", ["Softmax"]),
    ("LinearClassifier.predict", ["LinearClassifier"]),
]


def _starter_objects(source, names, mode):
    namespace = {"__name__": "__main__"}
    exec(textwrap.dedent(source), namespace)
    if mode == "direct":
        return [namespace[n] for n in names]
    client = Client(Loopback(ObjectServer(namespace)))
    return [client.ref(n) for n in names]


@pytest.mark.parametrize("mode", ["direct", "channel"])
def test_cs231n_starter_code_with_half_reg_passes_unchanged(mode):
    """CS231n's signatures (loss(X_batch, y_batch, reg), train(X, y, learning_rate, reg,
    num_iters, batch_size, verbose) with a lazily created self.W) and its 0.5 * reg
    convention, loss and gradient agreeing: every check of notebook 02 passes."""
    for item, names in CS231N_CALLS:
        objs = _starter_objects(CS231N_STARTER, names, mode)
        # The loss functions' grading cases run on this convention in SVM and SOFTMAX above.
        runs = ((False, None), (True, 1)) if item.startswith("Linear") else ((False, None),)
        for hidden, seed in runs:
            outcome = CHECKS[item].evaluate(*objs, hidden=hidden, seed=seed)
            assert outcome.passed, (item, names, outcome.message)


@pytest.mark.parametrize("mode", ["direct", "channel"])
def test_a_right_train_passes_whatever_its_loss_computes(mode):
    """One bug costs one item: train is measured step by step against the class's own loss,
    so a wrong loss function (no 1/N in the gradient, no regularization gradient, no reg in
    the loss) fails its own check and leaves train's alone."""
    wrong_loss = CS231N_STARTER.replace("dW = np.dot(X.T, binary) / num_train + reg * W",
                                        "dW = np.dot(X.T, binary)").replace(
        "loss = np.sum(margins) / num_train + 0.5 * reg * np.sum(W * W)",
        "loss = np.sum(margins) / num_train")
    assert wrong_loss != CS231N_STARTER
    svm_vec, svm_cls = _starter_objects(wrong_loss, ["svm_loss_vectorized", "LinearSVM"], mode)
    assert not CHECKS["svm_loss_vectorized"].evaluate(svm_vec).passed
    for hidden, seed in ((False, None), (True, 1), (True, 2)):
        outcome = CHECKS["LinearClassifier.train"].evaluate(svm_cls, hidden=hidden, seed=seed)
        assert outcome.passed, outcome.message


@pytest.mark.parametrize("mode", ["direct", "channel"])
def test_train_names_momentum_and_a_broken_loss(mode):
    momentum = CS231N_STARTER.replace(
        "            self.W += -learning_rate * grad\n",
        "            self.v = 0.9 * getattr(self, 'v', 0) - learning_rate * grad\n"
        "            self.W += self.v\n")
    (cls,) = _starter_objects(momentum, ["LinearSVM"], mode)
    outcome = CHECKS["LinearClassifier.train"].evaluate(cls)
    assert outcome.mistake == "LinearClassifier.train/sgd-momentum", outcome.message
    broken = CS231N_STARTER.replace("    return loss, dW\n\ndef softmax_loss_naive",
                                    "    return loss, dW[:, :-1]\n\ndef softmax_loss_naive")
    (cls,) = _starter_objects(broken, ["LinearSVM"], mode)
    outcome = CHECKS["LinearClassifier.train"].evaluate(cls)
    assert outcome.mistake == "LinearClassifier.train/fix-loss-first", outcome.message
    assert re.search(r"train against your own LinearSVM.loss, which does not work yet",
                     outcome.message), outcome.message


@pytest.mark.parametrize("mode", ["direct", "channel"])
def test_a_matrix_gradient_gets_the_one_line_fix(mode):
    source = CS231N_STARTER.replace("    dW = X.T.dot(dscores) / num_train + reg * W\n",
                                    "    dW = np.matrix(X.T.dot(dscores) / num_train + reg * W)\n")
    (fn,) = _starter_objects(source, ["softmax_loss_vectorized"], mode)
    outcome = CHECKS["softmax_loss_vectorized"].evaluate(fn)
    assert re.search(r"dW should be a plain numpy array, but it is a .*matrix.*np\.asarray",
                     outcome.message, re.S), outcome.message


@pytest.mark.parametrize("convention", ["0.5 * reg * sum(W*W), gradient reg * W",
                                        "reg * sum(W*W), gradient 2 * reg * W"])
@pytest.mark.parametrize("item", ["svm_loss_naive", "softmax_loss_vectorized"])
def test_the_loss_check_says_which_convention_it_found(item, convention):
    from course_lib.checks import Context

    source = CS231N_STARTER
    if convention.startswith("reg"):  # later years' starter: reg * sum(W*W), 2 * reg * W
        source = source.replace("0.5 * reg * np.sum(W * W)", "reg * np.sum(W * W)").replace(
            "reg * W\n", "2 * reg * W\n")
    (fn,) = _starter_objects(source, [item], "direct")
    ctx = Context(item, 0, False, np.random.default_rng(0))
    CHECKS[item].body(ctx, fn)
    assert convention in ctx.note, ctx.note
