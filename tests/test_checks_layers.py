"""Notebook 05's layer checks on right and deliberately wrong implementations.

Every right implementation (written several reasonable ways) must pass and every typical
mistake must fail with the lesson that names it, both when the check calls the function
directly (the student's kernel) and through the autograder's channel, on the public case and
on the hidden grading cases.
"""

import re
import textwrap

import numpy as np
import pytest

from autograder.channel import Client, Loopback, ObjectServer
from course_lib.checks import CHECKS

AFFINE_FORWARD = {
    "right": """
        def affine_forward(x, w, b):
            return x.reshape(x.shape[0], -1) @ w + b, (x, w, b)
    """,
    "right_dot_and_other_cache": """
        def affine_forward(x, w, b):
            rows = np.reshape(x, (-1, w.shape[0]))
            return np.dot(rows, w) + b[np.newaxis, :], {"x": x, "w": w}
    """,
    "no_reshape": """
        def affine_forward(x, w, b):
            return x @ w + b, (x, w, b)
    """,
    "no_bias": """
        def affine_forward(x, w, b):
            return x.reshape(x.shape[0], -1) @ w, (x, w, b)
    """,
    "reshapes_input_in_place": """
        def affine_forward(x, w, b):
            x.shape = (x.shape[0], -1)
            return x @ w + b, (x, w, b)
    """,
    "float32": """
        def affine_forward(x, w, b):
            return (x.reshape(x.shape[0], -1) @ w + b).astype(np.float32), (x, w, b)
    """,
    "no_cache": """
        def affine_forward(x, w, b):
            return x.reshape(x.shape[0], -1) @ w + b
    """,
    "flattened_fortran_order": """
        def affine_forward(x, w, b):
            return x.reshape(x.shape[0], -1, order="F") @ w + b, (x, w, b)
    """,
    "cached_result": """
        _seen = {}
        def affine_forward(x, w, b):
            if "out" not in _seen:
                _seen["out"] = x.reshape(x.shape[0], -1) @ w + b
            return _seen["out"], (x, w, b)
    """,
    "not_implemented": """
        def affine_forward(x, w, b):
            # YOUR CODE HERE
            raise NotImplementedError()
    """,
}

AFFINE_FORWARD_EXPECTED = {
    "right": "passed",
    "right_dot_and_other_cache": "passed",
    "no_reshape": r"fails for x of shape \(40, 2, 2\).*\nHint: each example must be flattened",
    "no_bias": r"out is wrong.*\nHint: the bias is missing",
    "reshapes_input_in_place": r"changed its input x in place",
    "float32": r"out has dtype float32; expected float64",
    "no_cache": r"should return \(out, cache\)",
    "flattened_fortran_order": r"out is wrong.*\nHint: flatten each example in numpy's default",
    "cached_result": r"does not move when x moves.*\nHint: a cached or hard-coded result",
    "not_implemented": r"affine_forward still raises NotImplementedError",
}

FORWARD = AFFINE_FORWARD["right"]
AFFINE_BACKWARD = {
    "right": FORWARD + """
        def affine_backward(dout, cache):
            x, w, b = cache
            dx = (dout @ w.T).reshape(x.shape)
            dw = x.reshape(x.shape[0], -1).T @ dout
            return dx, dw, dout.sum(axis=0)
    """,
    "right_with_loops_and_dot": FORWARD + """
        def affine_backward(dout, cache):
            x, w, b = cache
            N = x.shape[0]
            rows = x.reshape(N, -1)
            dw = np.zeros_like(w)
            db = np.zeros_like(b)
            for i in range(N):
                dw += np.outer(rows[i], dout[i])
                db += dout[i]
            return np.dot(dout, w.T).reshape(*x.shape), dw, db
    """,
    "dx_not_reshaped": FORWARD + """
        def affine_backward(dout, cache):
            x, w, b = cache
            return dout @ w.T, x.reshape(x.shape[0], -1).T @ dout, dout.sum(axis=0)
    """,
    "db_wrong_axis": FORWARD + """
        def affine_backward(dout, cache):
            x, w, b = cache
            dx = (dout @ w.T).reshape(x.shape)
            return dx, x.reshape(x.shape[0], -1).T @ dout, dout.sum(axis=1)
    """,
    "db_averaged": FORWARD + """
        def affine_backward(dout, cache):
            x, w, b = cache
            dx = (dout @ w.T).reshape(x.shape)
            return dx, x.reshape(x.shape[0], -1).T @ dout, dout.mean(axis=0)
    """,
    "dw_transposed": FORWARD + """
        def affine_backward(dout, cache):
            x, w, b = cache
            dx = (dout @ w.T).reshape(x.shape)
            return dx, dout.T @ x.reshape(x.shape[0], -1), dout.sum(axis=0)
    """,
    "dw_missing_x": FORWARD + """
        def affine_backward(dout, cache):
            x, w, b = cache
            dx = (dout @ w.T).reshape(x.shape)
            return dx, np.ones_like(w) * dout.sum(axis=0), dout.sum(axis=0)
    """,
}

AFFINE_BACKWARD_EXPECTED = {
    "right": "passed",
    "right_with_loops_and_dot": "passed",
    "dx_not_reshaped": r"dx has shape \(4, 4\), but x has shape \(4, 2, 2\).*\nHint: reshape it "
                       r"back to x's shape",
    "db_wrong_axis": r"db does not match.*\nHint: you summed dout over axis 1",
    "db_averaged": r"db does not match.*\nHint: db must be summed over "
                   r"the examples, not averaged",
    "dw_transposed": r"dw does not match.*\nHint: it looks transposed",
    "dw_missing_x": r"dw does not match the numerical gradient",
}

SOFTMAX = {
    "right": """
        def softmax_loss(x, y):
            N = x.shape[0]
            shifted = x - x.max(axis=1, keepdims=True)
            probs = np.exp(shifted)
            probs /= probs.sum(axis=1, keepdims=True)
            loss = -np.mean(np.log(probs[np.arange(N), y]))
            dx = probs.copy()
            dx[np.arange(N), y] -= 1
            return loss, dx / N
    """,
    "right_with_loops": """
        def softmax_loss(x, y):
            N, C = x.shape
            loss, dx = 0.0, np.zeros_like(x)
            for i in range(N):
                s = x[i] - np.max(x[i])
                p = np.exp(s) / np.sum(np.exp(s))
                loss += -np.log(p[y[i]])
                for j in range(C):
                    dx[i, j] = (p[j] - (j == y[i])) / N
            return loss / N, dx
    """,
    "not_shifted": """
        def softmax_loss(x, y):
            N = x.shape[0]
            probs = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
            loss = -np.mean(np.log(probs[np.arange(N), y]))
            dx = probs.copy()
            dx[np.arange(N), y] -= 1
            return loss, dx / N
    """,
    "shift_by_correct_class": """
        def softmax_loss(x, y):
            N = x.shape[0]
            shifted = x - x[np.arange(N), y][:, None]
            probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
            loss = -np.mean(np.log(probs[np.arange(N), y]))
            dx = probs.copy()
            dx[np.arange(N), y] -= 1
            return loss, dx / N
    """,
    "global_max_shift": """
        def softmax_loss(x, y):
            N = x.shape[0]
            e = np.exp(x - x.max())
            probs = e / e.sum(axis=1, keepdims=True)
            loss = -np.mean(np.log(probs[np.arange(N), y]))
            dx = probs.copy()
            dx[np.arange(N), y] -= 1
            return loss, dx / N
    """,
    "loss_not_averaged": """
        def softmax_loss(x, y):
            N = x.shape[0]
            e = np.exp(x - x.max(axis=1, keepdims=True))
            probs = e / e.sum(axis=1, keepdims=True)
            loss = -np.sum(np.log(probs[np.arange(N), y]))
            dx = probs.copy()
            dx[np.arange(N), y] -= 1
            return loss, dx
    """,
    "dx_not_averaged": """
        def softmax_loss(x, y):
            N = x.shape[0]
            e = np.exp(x - x.max(axis=1, keepdims=True))
            probs = e / e.sum(axis=1, keepdims=True)
            loss = -np.mean(np.log(probs[np.arange(N), y]))
            dx = probs.copy()
            dx[np.arange(N), y] -= 1
            return loss, dx
    """,
    "dx_missing_minus_one": """
        def softmax_loss(x, y):
            N = x.shape[0]
            e = np.exp(x - x.max(axis=1, keepdims=True))
            probs = e / e.sum(axis=1, keepdims=True)
            loss = -np.mean(np.log(probs[np.arange(N), y]))
            return loss, probs / N
    """,
    "log10": """
        def softmax_loss(x, y):
            N = x.shape[0]
            e = np.exp(x - x.max(axis=1, keepdims=True))
            probs = e / e.sum(axis=1, keepdims=True)
            loss = -np.mean(np.log10(probs[np.arange(N), y]))
            dx = probs.copy()
            dx[np.arange(N), y] -= 1
            return loss, dx / N
    """,
    "shifts_input_in_place": """
        def softmax_loss(x, y):
            N = x.shape[0]
            x -= x.max(axis=1, keepdims=True)
            probs = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
            loss = -np.mean(np.log(probs[np.arange(N), y]))
            dx = probs.copy()
            dx[np.arange(N), y] -= 1
            return loss, dx / N
    """,
}

SOFTMAX_EXPECTED = {
    "right": "passed",
    "right_with_loops": "passed",
    "not_shifted": r"is not finite .* for scores around 1000: np.exp\(1000\) overflows.*\n"
                   r"Hint: subtract each row's maximum",
    "shift_by_correct_class": r"is not finite .* when a wrong class scores 720 more.*\n"
                              r"Hint: subtract each row's MAXIMUM, not the correct class's",
    "global_max_shift": r"is not finite .* when rows of scores differ by thousands.*\n"
                        r"Hint: subtract each row's own maximum",
    "loss_not_averaged": r"loss is wrong.*\nHint: your loss is N times too large",
    "dx_not_averaged": r"dx does not match.*\nHint: dx is N times too large",
    "dx_missing_minus_one": r"dx does not match.*\nHint: subtract 1 at the correct class",
    "log10": r"loss is wrong.*\nHint: use the natural logarithm",
    "shifts_input_in_place": r"changed its input x in place",
}

SVM = {
    "right": """
        def svm_loss(x, y):
            N = x.shape[0]
            margins = np.maximum(0, x - x[np.arange(N), y][:, None] + 1)
            margins[np.arange(N), y] = 0
            dx = (margins > 0).astype(float)
            dx[np.arange(N), y] = -dx.sum(axis=1)
            return margins.sum() / N, dx / N
    """,
    "right_with_loops": """
        def svm_loss(x, y):
            N, C = x.shape
            loss, dx = 0.0, np.zeros(x.shape)
            for i in range(N):
                for j in range(C):
                    if j == y[i]:
                        continue
                    margin = x[i, j] - x[i, y[i]] + 1
                    if margin > 0:
                        loss += margin / N
                        dx[i, j] += 1 / N
                        dx[i, y[i]] -= 1 / N
            return loss, dx
    """,
    "counts_correct_class": """
        def svm_loss(x, y):
            N = x.shape[0]
            margins = np.maximum(0, x - x[np.arange(N), y][:, None] + 1)
            dx = (margins > 0).astype(float)
            dx[np.arange(N), y] = 0
            dx[np.arange(N), y] = -dx.sum(axis=1)
            return margins.sum() / N, dx / N
    """,
    "not_averaged": """
        def svm_loss(x, y):
            N = x.shape[0]
            margins = np.maximum(0, x - x[np.arange(N), y][:, None] + 1)
            margins[np.arange(N), y] = 0
            dx = (margins > 0).astype(float)
            dx[np.arange(N), y] = -dx.sum(axis=1)
            return margins.sum(), dx / N
    """,
    "dx_without_correct_column": """
        def svm_loss(x, y):
            N = x.shape[0]
            margins = np.maximum(0, x - x[np.arange(N), y][:, None] + 1)
            margins[np.arange(N), y] = 0
            return margins.sum() / N, (margins > 0).astype(float) / N
    """,
}

SVM_EXPECTED = {
    "right": "passed",
    "right_with_loops": "passed",
    "counts_correct_class": r"loss is wrong.*\nHint: your loss is 1 too large: skip j == y_i",
    "not_averaged": r"loss is wrong.*\nHint: your loss is N times too large",
    "dx_without_correct_column": r"dx does not match.*\nHint: the correct-class column is missing",
}

ITEMS = {  # check name -> (implementations, expected, names the check cell passes)
    "affine_forward": (AFFINE_FORWARD, AFFINE_FORWARD_EXPECTED, ["affine_forward"]),
    "affine_backward": (AFFINE_BACKWARD, AFFINE_BACKWARD_EXPECTED,
                        ["affine_forward", "affine_backward"]),
    "softmax_loss": (SOFTMAX, SOFTMAX_EXPECTED, ["softmax_loss"]),
    "svm_loss": (SVM, SVM_EXPECTED, ["svm_loss"]),
}

CASES = [(item, impl) for item, (impls, _, _) in ITEMS.items() for impl in impls]


def student_objects(source: str, names: list[str], mode: str) -> list:
    """The student's objects, defined in a fresh namespace, as the check receives them."""
    namespace = {"__name__": "__main__"}
    exec("import numpy as np\n" + textwrap.dedent(source), namespace)
    if mode == "direct":
        return [namespace[n] for n in names]
    client = Client(Loopback(ObjectServer(namespace)))
    return [client.ref(n) for n in names]


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid:RuntimeWarning")
@pytest.mark.parametrize("hidden", [False, True])
@pytest.mark.parametrize("mode", ["direct", "channel"])
@pytest.mark.parametrize("item,impl", CASES)
def test_each_mistake_gets_its_lesson(item, impl, mode, hidden):
    impls, expected, names = ITEMS[item]
    outcome = CHECKS[item].evaluate(*student_objects(impls[impl], names, mode), hidden=hidden)
    pattern = expected[impl]
    assert outcome.passed == (pattern == "passed"), outcome.message
    assert re.search(pattern, outcome.message, re.S), outcome.message


@pytest.mark.parametrize("seed", range(8))
def test_right_answers_pass_every_grading_seed(seed):
    """Hidden runs draw fresh random cases: the right answers must pass them all."""
    for item, (impls, _, names) in ITEMS.items():
        for impl in ("right", list(impls)[1]):
            outcome = CHECKS[item].evaluate(*student_objects(impls[impl], names, "direct"),
                                            hidden=True, seed=seed)
            assert outcome.passed, f"{item}/{impl}: {outcome.message}"


def test_stored_affine_case_is_cs231n_s():
    """The stored 4-d affine case reproduces CS231n's published expected output."""
    from course_lib.checks.layers import stored

    np.testing.assert_allclose(stored()["affine4d_out"], [[1.49834967, 1.70660132, 1.91485297],
                                                         [3.25553199, 3.5141327, 3.77273342]],
                               rtol=1e-8)
