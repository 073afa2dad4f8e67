"""The check framework on deliberately wrong implementations.

A toy graded item, ``demo_loss(W, X, reg) -> (loss, dW)`` with
loss = mean_i ||x_i W||^2 + reg * sum(W^2), is checked the way notebook checks work: a
stored value, then the gradient against numerical gradients of the student's own loss.
Every wrong implementation must fail with the lesson that names its mistake, both when the
check calls the student's function directly (the student's kernel) and through the
autograder's channel (the function lives in another namespace; only plain data crosses).
"""

import re
import textwrap

import numpy as np
import pytest

from autograder.channel import Client, Loopback, ObjectServer
from course_lib.checks import (
    CHECKS,
    as_array,
    as_float,
    as_tuple,
    call,
    check_gradient,
    expect_close,
    loss_of,
    register,
)

ITEM = "_test.demo_loss"


def _demo_check(ctx, demo_loss):
    N, D = (4, 3) if not ctx.hidden else (int(ctx.rng.integers(2, 9)), 3)
    X = ctx.rng.standard_normal((N, D))
    W = ctx.rng.standard_normal((D, D))
    reg = 0.3
    result = as_tuple(call(demo_loss, W, X, reg, names=("W", "X", "reg")), "demo_loss", 2,
                      ("loss", "dW"))
    loss = as_float(result[0], "loss")
    dW = as_array(result[1], "dW", shape=W.shape)
    # In a real check this value is stored; here the test may compute it.
    data_loss, reg_loss = np.sum((X @ W) ** 2) / N, reg * np.sum(W * W)
    expect_close(loss, data_loss + reg_loss, "loss", hints={
        "your loss is N times too large: did you average over the N examples?":
            N * data_loss + reg_loss,
        "the regularization term is missing from the loss": data_loss,
    })
    check_gradient(demo_loss, (W, X, reg), 0, dW, "dW", output=loss_of, rng=ctx.rng,
                   num_checks=None, hints={
        "adding 2 * reg * W would make it right: did you forget the regularization gradient?":
            lambda num, take: num - 2 * reg * take(W),
        "your dW has the regularization gradient twice":
            lambda num, take: num + 2 * reg * take(W),
        "your data gradient is N times too large: did you divide by N?":
            lambda num, take: N * (num - 2 * reg * take(W)) + 2 * reg * take(W),
    })


@pytest.fixture(scope="module", autouse=True)
def demo_item():
    register(ITEM, "toy loss for the framework tests")(_demo_check)
    yield
    del CHECKS[ITEM]


IMPLEMENTATIONS = {
    "right": """
        def demo_loss(W, X, reg):
            N = X.shape[0]
            loss = np.sum((X @ W) ** 2) / N + reg * np.sum(W * W)
            dW = 2 * X.T @ (X @ W) / N + 2 * reg * W
            return loss, dW
    """,
    "right_with_loops_and_float_subtypes": """
        def demo_loss(W, X, reg):
            N, D = X.shape
            loss, dW = 0.0, np.zeros_like(W)
            for i in range(N):
                s = X[i] @ W
                loss += float(np.dot(s, s)) / N
                dW += 2 * np.outer(X[i], s) / N
            return [np.float64(loss + reg * np.sum(W * W)), dW + 2 * reg * W]
    """,
    "loss_not_averaged": """
        def demo_loss(W, X, reg):
            N = X.shape[0]
            loss = np.sum((X @ W) ** 2) + reg * np.sum(W * W)
            return loss, 2 * X.T @ (X @ W) + 2 * reg * W
    """,
    "no_reg_gradient": """
        def demo_loss(W, X, reg):
            N = X.shape[0]
            loss = np.sum((X @ W) ** 2) / N + reg * np.sum(W * W)
            return loss, 2 * X.T @ (X @ W) / N
    """,
    "doubled_reg_gradient": """
        def demo_loss(W, X, reg):
            N = X.shape[0]
            loss = np.sum((X @ W) ** 2) / N + reg * np.sum(W * W)
            return loss, 2 * X.T @ (X @ W) / N + 4 * reg * W
    """,
    "grad_not_averaged": """
        def demo_loss(W, X, reg):
            N = X.shape[0]
            loss = np.sum((X @ W) ** 2) / N + reg * np.sum(W * W)
            return loss, 2 * X.T @ (X @ W) + 2 * reg * W
    """,
    "sign_error": """
        def demo_loss(W, X, reg):
            N = X.shape[0]
            loss = np.sum((X @ W) ** 2) / N + reg * np.sum(W * W)
            return loss, -(2 * X.T @ (X @ W) / N + 2 * reg * W)
    """,
    "transposed": """
        def demo_loss(W, X, reg):
            N = X.shape[0]
            loss = np.sum((X @ W) ** 2) / N + reg * np.sum(W * W)
            return loss, (2 * X.T @ (X @ W) / N + 2 * reg * W).T
    """,
    "not_implemented": """
        def demo_loss(W, X, reg):
            # YOUR CODE HERE
            raise NotImplementedError()
    """,
    "crashes": """
        def demo_loss(W, X, reg):
            return X[100], W
    """,
    "mutates_input": """
        def demo_loss(W, X, reg):
            N = X.shape[0]
            X /= N
            loss = np.sum((X @ W) ** 2) * N + reg * np.sum(W * W)
            return loss, 2 * X.T @ (X @ W) * N + 2 * reg * W
    """,
    "always_equal_object": """
        class Anything:
            def __eq__(self, other): return True
            def __float__(self): return 0.0
        def demo_loss(W, X, reg):
            return Anything(), Anything()
    """,
    "ndarray_subclass": """
        class Sneaky(np.ndarray):
            def __eq__(self, other): return np.ones(np.shape(other), bool)
        def demo_loss(W, X, reg):
            N = X.shape[0]
            loss = np.sum((X @ W) ** 2) / N + reg * np.sum(W * W)
            return loss, np.zeros_like(W).view(Sneaky)
    """,
    "float32_gradient": """
        def demo_loss(W, X, reg):
            N = X.shape[0]
            loss = np.sum((X @ W) ** 2) / N + reg * np.sum(W * W)
            return loss, (2 * X.T @ (X @ W) / N + 2 * reg * W).astype(np.float32)
    """,
    "nan_loss": """
        def demo_loss(W, X, reg):
            return np.log(0.0) * 0, W
    """,
    "three_values": """
        def demo_loss(W, X, reg):
            return 1.0, W, W
    """,
    "wrong_shape": """
        def demo_loss(W, X, reg):
            N = X.shape[0]
            loss = np.sum((X @ W) ** 2) / N + reg * np.sum(W * W)
            return loss, np.sum(W, axis=0)
    """,
}

EXPECTED = {  # implementation -> (status, pattern the lesson must contain)
    "right": ("passed", r"passed"),
    "right_with_loops_and_float_subtypes": ("passed", r"passed"),
    "loss_not_averaged": ("failed", r"loss is wrong.*\nHint: your loss is N times too large"),
    "no_reg_gradient": ("failed", r"dW does not match.*Hint: adding 2 \* reg \* W would make"),
    "doubled_reg_gradient": ("failed", r"Hint: your dW has the regularization gradient twice"),
    "grad_not_averaged": ("failed", r"Hint: your data gradient is N times too large"),
    "sign_error": ("failed", r"Hint: it has the opposite sign everywhere"),
    "transposed": ("failed", r"Hint: it equals the transpose"),
    "not_implemented": ("not_implemented", r"still raises NotImplementedError"),
    "crashes": ("error", r"raised IndexError: index 100 is out of bounds.*\n.*line \d+, in demo"),
    "mutates_input": ("error", r"changed its input X in place.*X\.copy\(\)"),
    "always_equal_object": ("failed", r"loss should be a single number.*Anything"),
    "ndarray_subclass": ("failed", r"dW should be a .*numpy array.*Sneaky.*subclass of ndarray"),
    "float32_gradient": ("failed", r"dW has dtype float32; expected float64"),
    "nan_loss": ("failed", r"loss is nan"),
    "three_values": ("failed", r"should return \(loss, dW\), but it returned 3 values"),
    "wrong_shape": ("failed", r"dW has shape \(3,\), expected \(3, 3\)"),
}


def _student_namespace(name: str) -> dict:
    namespace = {"__name__": "__main__"}
    exec("import numpy as np\n" + textwrap.dedent(IMPLEMENTATIONS[name]), namespace)
    return namespace


def _student_object(name: str, mode: str):
    namespace = _student_namespace(name)
    if mode == "direct":
        return namespace["demo_loss"]
    return Client(Loopback(ObjectServer(namespace))).ref("demo_loss")


@pytest.mark.parametrize("mode", ["direct", "channel"])
@pytest.mark.parametrize("impl", list(IMPLEMENTATIONS))
@pytest.mark.parametrize("hidden", [False, True])
def test_each_mistake_gets_its_lesson(impl, mode, hidden):
    status, pattern = EXPECTED[impl]
    outcome = CHECKS[ITEM].evaluate(_student_object(impl, mode), hidden=hidden)
    assert outcome.status == status, outcome.message
    assert re.search(pattern, outcome.message, re.S), outcome.message


def test_a_pass_prints_one_green_line(capsys):
    assert CHECKS[ITEM](_student_object("right", "direct")) is None
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "✔ _test.demo_loss: passed" in out and "\x1b[32m" in out


def test_a_failure_raises_an_assertion_error_rendered_without_internals():
    with pytest.raises(AssertionError) as err:
        CHECKS[ITEM](_student_object("no_reg_gradient", "direct"))
    rendered = "\n".join(err.value._render_traceback_())
    assert "not right yet" in rendered and "Hint:" in rendered
    assert "course_lib" not in rendered and "Traceback" not in rendered


def test_public_runs_are_reproducible_and_hidden_runs_draw_fresh_seeds():
    fn = _student_object("right", "direct")
    public = {CHECKS[ITEM].evaluate(fn).seed for _ in range(3)}
    hidden = {CHECKS[ITEM].evaluate(fn, hidden=True).seed for _ in range(5)}
    assert len(public) == 1 and len(hidden) == 5
    failing = CHECKS[ITEM].evaluate(_student_object("sign_error", "direct"), hidden=True, seed=7)
    assert failing.seed == 7 and "(grading case, seed 7)" in failing.message


def test_outcome_summary_is_the_first_line_of_the_lesson():
    outcome = CHECKS[ITEM].evaluate(_student_object("loss_not_averaged", "direct"))
    assert outcome.summary.startswith("loss is wrong: got ")
    assert "\n" not in outcome.summary


def test_unknown_check_names_suggest_close_ones():
    with pytest.raises(KeyError, match="Did you mean '_test.demo_loss'"):
        CHECKS["demo_loss"]


def test_readable_not_implemented_messages_in_ipython(capsys):
    from IPython.core.interactiveshell import InteractiveShell

    from course_lib.notebook import setup_notebook

    shell = InteractiveShell.instance()
    try:
        shell.run_cell("from course_lib.notebook import setup_notebook; setup_notebook()")
        setup_notebook()
        shell.run_cell("class KNN:\n    def predict(self):\n        raise NotImplementedError()")
        capsys.readouterr()
        shell.run_cell("labels = KNN().predict()")
        first = capsys.readouterr().out
        shell.run_cell("print(labels)")
        second = capsys.readouterr().out
    finally:
        InteractiveShell.clear_instance()
    assert "KNN.predict is not implemented yet" in first and "Traceback" not in first
    assert "name 'labels' is not defined: an earlier cell stopped because KNN.predict" in second
