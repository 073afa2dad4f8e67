"""Notebook 05's TwoLayerNet and preprocessing checks on right and deliberately wrong code.

The right implementations are the instructor's (built from the modular layers, taken from the
source notebook) and an independent CS231n-style one written inline. Each typical mistake is
that inline implementation with one thing changed; it must fail with the lesson naming the
mistake, directly and through the channel (where the checks set the network's parameters
through ``get_attr(net, "params")[name] = value`` on a proxy), public and hidden.
"""

import re
import textwrap

import numpy as np
import pytest

from autograder.expected.two_layer_net import instructor_namespace
from course_lib.checks import CHECKS
from tests.test_checks_layers import student_objects

INLINE = '''
class TwoLayerNet:
    def __init__(self, input_size, hidden_size, output_size, std=1e-4):
        self.params = {}
        self.params["W1"] = std * np.random.randn(input_size, hidden_size)
        self.params["b1"] = np.zeros(hidden_size)
        self.params["W2"] = std * np.random.randn(hidden_size, output_size)
        self.params["b2"] = np.zeros(output_size)

    def loss(self, X, y=None, reg=0.0):
        W1, b1 = self.params["W1"], self.params["b1"]
        W2, b2 = self.params["W2"], self.params["b2"]
        N, D = X.shape
        h = np.maximum(0, X.dot(W1) + b1)
        scores = h.dot(W2) + b2
        if y is None:
            return scores
        shifted = scores - np.max(scores, axis=1, keepdims=True)
        probs = np.exp(shifted)
        probs /= np.sum(probs, axis=1, keepdims=True)
        loss = -np.sum(np.log(probs[np.arange(N), y])) / N
        loss += reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        grads = {}
        dscores = probs.copy()
        dscores[np.arange(N), y] -= 1
        dscores /= N
        grads["W2"] = h.T.dot(dscores) + 2 * reg * W2
        grads["b2"] = np.sum(dscores, axis=0)
        dh = dscores.dot(W2.T)
        dh[h <= 0] = 0
        grads["W1"] = X.T.dot(dh) + 2 * reg * W1
        grads["b1"] = np.sum(dh, axis=0)
        return loss, grads

    def train(self, X, y, X_val, y_val, learning_rate=1e-3, learning_rate_decay=0.95,
              reg=5e-6, num_iters=100, batch_size=200, verbose=False):
        num_train = X.shape[0]
        iterations_per_epoch = max(num_train / batch_size, 1)
        loss_history, train_acc_history, val_acc_history = [], [], []
        for it in range(num_iters):
            batch = np.random.choice(num_train, batch_size, replace=True)
            X_batch, y_batch = X[batch], y[batch]
            loss, grads = self.loss(X_batch, y=y_batch, reg=reg)
            loss_history.append(loss)
            self.params["W1"] -= learning_rate * grads["W1"]
            self.params["b1"] -= learning_rate * grads["b1"]
            self.params["W2"] -= learning_rate * grads["W2"]
            self.params["b2"] -= learning_rate * grads["b2"]
            if it % iterations_per_epoch == 0:
                train_acc = (self.predict(X_batch) == y_batch).mean()
                val_acc = (self.predict(X_val) == y_val).mean()
                train_acc_history.append(train_acc)
                val_acc_history.append(val_acc)
                learning_rate *= learning_rate_decay
        return {"loss_history": loss_history, "train_acc_history": train_acc_history,
                "val_acc_history": val_acc_history}

    def predict(self, X):
        return np.argmax(self.loss(X), axis=1)
'''

# mistake -> (lines of INLINE to replace, replacement)
MISTAKES = {
    "no_relu": [("h = np.maximum(0, X.dot(W1) + b1)", "h = X.dot(W1) + b1"),
                ("dh[h <= 0] = 0", "pass")],
    "no_b1_in_forward": [("h = np.maximum(0, X.dot(W1) + b1)", "h = np.maximum(0, X.dot(W1))")],
    "loss_not_averaged": [("loss = -np.sum(np.log(probs[np.arange(N), y])) / N",
                           "loss = -np.sum(np.log(probs[np.arange(N), y]))")],
    "loss_only_W1_reg": [("loss += reg * (np.sum(W1 * W1) + np.sum(W2 * W2))",
                          "loss += reg * np.sum(W1 * W1)")],
    "no_reg_gradient": [('grads["W1"] = X.T.dot(dh) + 2 * reg * W1', 'grads["W1"] = X.T.dot(dh)'),
                        ('grads["W2"] = h.T.dot(dscores) + 2 * reg * W2',
                         'grads["W2"] = h.T.dot(dscores)')],
    "reg_gradient_without_2": [('grads["W2"] = h.T.dot(dscores) + 2 * reg * W2',
                                'grads["W2"] = h.T.dot(dscores) + reg * W2')],
    "missing_b2_gradient": [('grads["b2"] = np.sum(dscores, axis=0)', "pass")],
    "b2_gradient_wrong_axis": [('grads["b2"] = np.sum(dscores, axis=0)',
                                'grads["b2"] = np.sum(dscores, axis=1)')],
    "b1_gradient_wrong_axis": [('grads["b1"] = np.sum(dh, axis=0)',
                                'grads["b1"] = np.sum(dh, axis=1)')],
    "relu_mask_wrong": [("dh[h <= 0] = 0", "dh[h > 0] = 0")],
    "dscores_not_averaged": [("dscores /= N", "pass")],
    "gradient_ascent": [(f'self.params["{k}"] -= learning_rate', f'self.params["{k}"] += '
                         "learning_rate") for k in ("W1", "b1", "W2", "b2")],
    "update_local_copy": [(f'self.params["{k}"] -= learning_rate * grads["{k}"]',
                           f'{k} = self.params["{k}"] - learning_rate * grads["{k}"]')
                          for k in ("W1", "b1", "W2", "b2")],
    "b2_never_updated": [('self.params["b2"] -= learning_rate * grads["b2"]', "pass")],
    "history_per_epoch_only": [("loss_history.append(loss)",
                                "loss_history.append(loss) if it % 2 == 0 else None")],
    "predict_argmax_axis0": [("return np.argmax(self.loss(X), axis=1)",
                              "return np.argmax(self.loss(X), axis=0)")],
    "predict_returns_scores": [("return np.argmax(self.loss(X), axis=1)",
                                "return self.loss(X)")],
    "predict_not_implemented": [("return np.argmax(self.loss(X), axis=1)",
                                 "raise NotImplementedError()")],
    "momentum": [("loss_history, train_acc_history, val_acc_history = [], [], []",
                  "loss_history, train_acc_history, val_acc_history = [], [], []\n"
                  "        v = {k: 0 * p for k, p in self.params.items()}"),
                 *[(f'self.params["{k}"] -= learning_rate * grads["{k}"]',
                    f'v["{k}"] = 0.9 * v["{k}"] - learning_rate * grads["{k}"]; '
                    f'self.params["{k}"] += v["{k}"]') for k in ("W1", "b1", "W2", "b2")]],
    "same_batch_every_step": [("batch = np.random.choice(num_train, batch_size, replace=True)",
                               "batch = np.arange(batch_size)")],
    "batches_in_order": [("batch = np.random.choice(num_train, batch_size, replace=True)",
                          "batch = np.arange(it * batch_size, (it + 1) * batch_size) % num_train")],
    "decay_every_step": [("                learning_rate *= learning_rate_decay\n", ""),
                         ("loss_history.append(loss)",
                          "loss_history.append(loss)\n"
                          "            learning_rate *= learning_rate_decay")],
    "half_reg_loss_only_grads_course": [
        ("loss += reg * (np.sum(W1 * W1) + np.sum(W2 * W2))",
         "loss += 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))")],
}

RIGHT_VARIANTS = {
    # Minibatches without replacement from a shuffled order, and a per-step history kept as
    # numpy floats: a different, equally right train.
    "shuffled_minibatches": [("batch = np.random.choice(num_train, batch_size, replace=True)",
                              "batch = np.random.permutation(num_train)[:batch_size]"),
                             ("loss_history.append(loss)",
                              "loss_history.append(np.float64(loss))")],
    # CS231n's convention, in loss and gradient alike.
    "cs231n_half_reg": [("loss += reg * (np.sum(W1 * W1) + np.sum(W2 * W2))",
                         "loss += 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))"),
                        ('grads["W1"] = X.T.dot(dh) + 2 * reg * W1',
                         'grads["W1"] = X.T.dot(dh) + reg * W1'),
                        ('grads["W2"] = h.T.dot(dscores) + 2 * reg * W2',
                         'grads["W2"] = h.T.dot(dscores) + reg * W2')],
    # Decay at the end of each epoch rather than after its first step.
    "decay_at_epoch_end": [("if it % iterations_per_epoch == 0:",
                            "if (it + 1) % iterations_per_epoch == 0:")],
}

# check -> {implementation: expected lesson}; implementations not listed must pass it.
EXPECTED = {
    "TwoLayerNet.scores": {
        "no_relu": r"scores is wrong.*\nHint: the ReLU between the two affine layers is missing",
        "no_b1_in_forward": r"scores is wrong.*\nHint: b1 is missing from the first layer",
        "predict_not_implemented": None,
    },
    "TwoLayerNet.loss": {
        "no_relu": r"loss is wrong.*and so are the scores.*\nHint: make the TwoLayerNet.scores "
                   r"check pass first",
        "no_b1_in_forward": r"loss is wrong.*\nHint: make the TwoLayerNet.scores check pass",
        "loss_not_averaged": r"loss is wrong.*\nHint: your data loss is N times too large",
        "half_reg_loss_only_grads_course": r"reg=0\.05: 0\.5 \* reg .*CS231n's convention\), but "
                                           r"your gradient adds 2 \* reg \* W.*\nHint: pick one "
                                           r"convention",
        "loss_only_W1_reg": r"loss is wrong.*\nHint: only W1 is regularized",
    },
    "TwoLayerNet.grads": {
        "no_b1_in_forward": r"does not match",
        "loss_not_averaged": r"does not match",
        "no_reg_gradient": r"grads\['W1'\].*does not match.*\nHint: adding 2 \* reg \* W1 would "
                           r"make it right",
        "reg_gradient_without_2": r"grads\['W2'\].*does not match.*\nHint: the regularization "
                                  r"gradient is 2 \* reg \* W2 .*not reg \* W2",
        "missing_b2_gradient": r"grads has no entry 'b2'",
        "b2_gradient_wrong_axis": r"grads\['b2'\] has shape \(\d+,\), but b2 has shape.*\n"
                                  r"Hint: sum dscores over the examples \(axis 0\)",
        "b1_gradient_wrong_axis": r"grads\['b1'\] has shape \(\d+,\), but b1 has shape.*\n"
                                  r"Hint: sum over the examples \(axis 0\)",
        "relu_mask_wrong": r"grads\['W1'\].*does not match",
        "dscores_not_averaged": r"does not match.*\nHint: the data gradient is N times too large",
    },
    "TwoLayerNet.predict": {
        "no_relu": r"predict\(X\) is wrong.*\nHint: make the TwoLayerNet.scores check pass first",
        "predict_argmax_axis0": r"one value per class.*\nHint: take the argmax over the classes",
        "predict_returns_scores": r"scores, not labels",
        "predict_not_implemented": r"TwoLayerNet.predict still raises NotImplementedError",
    },
    "TwoLayerNet.train": {
        "no_relu": None,  # a linear model still learns the blobs: train itself is right
        "gradient_ascent": r"not where plain SGD takes them.*\nHint: step AGAINST the gradient",
        "momentum": r"not where plain SGD takes them.*\nHint: .*momentum 0\.9",
        "decay_every_step": r"not where plain SGD.*\nHint: decay the learning rate once per epoch",
        "same_batch_every_step": r"every step trained on the same minibatch",
        "batches_in_order": r"consecutive slices of X in their stored order",
        "b1_gradient_wrong_axis": r"grads\['b1'\] has shape.*\nHint: make the TwoLayerNet.grads "
                                  r"check pass first",
        "b2_gradient_wrong_axis": r"grads\['b2'\] has shape.*\nHint: make the TwoLayerNet.grads "
                                  r"check pass first",
        "predict_argmax_axis0": r"predict returned \(\d,\) for 5 examples.*\nHint: make the "
                                r"TwoLayerNet.predict check pass first",
        "update_local_copy": r"train did not change self.params.*\nHint: update the arrays in "
                             r"self.params in place",
        "b2_never_updated": r"train updated some parameters but not b2",
        "history_per_epoch_only": r"loss_history has 4 entries after num_iters=7 steps",
        "predict_not_implemented": r"TwoLayerNet.predict still raises NotImplementedError",
        "missing_b2_gradient": r"grads has no entry 'b2'.*\nHint: make the TwoLayerNet.grads "
                               r"check pass first",
        "predict_returns_scores": r"predict returned \(5, \d\) for 5 examples",
        # A right loop with wrong gradients: the grads check's business, not train's.
        "relu_mask_wrong": None, "dscores_not_averaged": None,
    },
}


def _source(impl: str) -> str:
    if impl == "instructor":
        return None
    text = INLINE
    for old, new in {**MISTAKES, **RIGHT_VARIANTS, "inline": []}[impl]:
        assert old in text, f"{impl}: {old!r} not found"
        text = text.replace(old, new)
    return text


def _net_class(impl: str, mode: str):
    if impl == "instructor":
        namespace = instructor_namespace()
        if mode == "direct":
            return namespace["TwoLayerNet"]
        from autograder.channel import Client, Loopback, ObjectServer

        return Client(Loopback(ObjectServer(namespace))).ref("TwoLayerNet")
    return student_objects(textwrap.dedent(_source(impl)), ["TwoLayerNet"], mode)[0]


IMPLS = ["instructor", "inline", *RIGHT_VARIANTS, *MISTAKES]
GRADING_SEED = 20261122


def _expected(check: str, impl: str):
    """The lesson ``check`` must give ``impl``, or None when it must pass: a mistake in
    another part of the class is invisible to a check that does not use that part."""
    return EXPECTED[check].get(impl)


def _combinations():
    """(impl, check, mode): every lesson directly and through the channel; a pass of a
    mistake made elsewhere in the class only directly (the right ones cover the channel)."""
    for impl in IMPLS:
        for check in EXPECTED:
            both = impl in ("instructor", "inline") or _expected(check, impl) is not None
            for mode in ("direct", "channel") if both else ("direct",):
                yield impl, check, mode


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the wrong ones blow up, as they should
@pytest.mark.parametrize("hidden", [False, True])
@pytest.mark.parametrize("impl,check,mode", list(_combinations()))
def test_each_mistake_gets_its_lesson(impl, check, mode, hidden):
    pattern = _expected(check, impl)
    np.random.seed(0)
    seed = GRADING_SEED if hidden else None
    outcome = CHECKS[check].evaluate(_net_class(impl, mode), hidden=hidden, seed=seed)
    if pattern is None:
        assert outcome.passed, f"{impl} should pass {check}: {outcome.message}"
    else:
        assert not outcome.passed, f"{impl} should fail {check}"
        assert re.search(pattern, outcome.message, re.S), outcome.message


@pytest.mark.parametrize("impl", ["instructor", "inline", *RIGHT_VARIANTS])
def test_train_check_passes_right_code_on_every_seed(impl):
    """Training is random (the student's np.random): a right train must pass whatever the
    minibatches and whatever the grading seed."""
    net_class = _net_class(impl, "direct")
    for seed in range(10):
        np.random.seed(seed)
        outcome = CHECKS["TwoLayerNet.train"].evaluate(net_class, hidden=True, seed=seed)
        assert outcome.passed, f"seed {seed}: {outcome.message}"


def test_hidden_cases_are_disguised_copies_of_the_stored_ones():
    """The grading runs' transformations must keep the scores they claim to keep."""
    from course_lib.checks.two_layer_net import _stored_case, _transformed

    rng = np.random.default_rng(0)
    for i in range(3):
        case = _transformed(_stored_case(i), rng)
        P = case.params
        scores = np.maximum(0, case.X @ P["W1"] + P["b1"]) @ P["W2"] + P["b2"]
        np.testing.assert_allclose(scores, case.scores, rtol=1e-12, atol=1e-12)
        assert not np.allclose(P["W1"], _stored_case(i).params["W1"])


FLATTEN = {
    "right": """
        def flatten_and_center(X_train, X_val, X_test):
            rows = [X.reshape(X.shape[0], -1).astype(np.float64) for X in (X_train, X_val, X_test)]
            mean = np.mean(rows[0], axis=0)
            return rows[0] - mean, rows[1] - mean, rows[2] - mean
    """,
    "right_returns_list": """
        def flatten_and_center(X_train, X_val, X_test):
            mean = np.mean(X_train.reshape(len(X_train), -1), axis=0, dtype=np.float64)
            return [np.reshape(X, (len(X), -1)) - mean for X in (X_train, X_val, X_test)]
    """,
    "own_means": """
        def flatten_and_center(X_train, X_val, X_test):
            rows = [X.reshape(X.shape[0], -1).astype(np.float64) for X in (X_train, X_val, X_test)]
            return tuple(r - r.mean(axis=0) for r in rows)
    """,
    "per_image_mean": """
        def flatten_and_center(X_train, X_val, X_test):
            rows = [X.reshape(X.shape[0], -1).astype(np.float64) for X in (X_train, X_val, X_test)]
            return tuple(r - r.mean(axis=1, keepdims=True) for r in rows)
    """,
    "uint8_wraparound": """
        def flatten_and_center(X_train, X_val, X_test):
            rows = [X.reshape(X.shape[0], -1) for X in (X_train, X_val, X_test)]
            mean = rows[0].mean(axis=0).astype(X_train.dtype)
            return tuple(r - mean for r in rows)
    """,
    "rescaled": """
        def flatten_and_center(X_train, X_val, X_test):
            rows = [X.reshape(X.shape[0], -1) / 255.0 for X in (X_train, X_val, X_test)]
            return tuple(r - rows[0].mean(axis=0) for r in rows)
    """,
    "in_place": """
        def flatten_and_center(X_train, X_val, X_test):
            mean = X_train.reshape(len(X_train), -1).mean(axis=0).reshape(X_train.shape[1:])
            X_train -= mean
            X_val -= mean
            X_test -= mean
            return tuple(X.reshape(len(X), -1).astype(np.float64) for X in (X_train, X_val, X_test))
    """,
}

FLATTEN_EXPECTED = {
    "right": "passed",
    "right_returns_list": "passed",
    "own_means": r"the returned X_val is wrong.*\nHint: X_val was centred with its own mean",
    "per_image_mean": r"X_train row differences is wrong.*\nHint: each row was centred with "
                      r"its own",
    "uint8_wraparound": r"dtype uint8; expected float64.*\nHint: convert with \.astype",
    "rescaled": r"X_train row differences is wrong.*\nHint: the values were divided by 255",
    "in_place": r"raised UFuncTypeError|changed its input X_train in place",
}


@pytest.mark.parametrize("hidden", [False, True])
@pytest.mark.parametrize("mode", ["direct", "channel"])
@pytest.mark.parametrize("impl", list(FLATTEN))
def test_flatten_and_center(impl, mode, hidden):
    fn = student_objects(FLATTEN[impl], ["flatten_and_center"], mode)
    outcome = CHECKS["flatten_and_center"].evaluate(*fn, hidden=hidden)
    pattern = FLATTEN_EXPECTED[impl]
    assert outcome.passed == (pattern == "passed"), outcome.message
    assert re.search(pattern, outcome.message, re.S), outcome.message
