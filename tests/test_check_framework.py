"""The check framework on deliberately wrong implementations.

A toy graded item, ``demo_loss(W, X, reg) -> (loss, dW)`` with
loss = mean_i ||x_i W||^2 + reg * sum(W^2), is checked the way notebook checks work: a
stored value, then the gradient against numerical gradients of the student's own loss.
Every wrong implementation must fail with the lesson that names its mistake, both when the
check calls the student's function directly (the student's kernel) and through the
autograder's channel (the function lives in another namespace; only plain data crosses).
"""

import random
import re
import sys
import textwrap

import numpy as np
import pytest

from autograder import channel
from autograder.channel import Client, Loopback, ObjectServer
from course_lib.checks import (
    CHECKS,
    MISTAKES,
    ChangedInput,
    CheckFailed,
    Mistake,
    NotImplementedYet,
    StudentCodeError,
    as_array,
    as_float,
    as_tuple,
    call,
    check_gradient,
    count_steps,
    diagnose,
    expect_close,
    expect_responds,
    expect_vectorized,
    fail,
    fmt,
    get_attr,
    loss_of,
    register,
    step_counts,
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
        Mistake("demo-loss-not-averaged", "demo loss not averaged",
                "your loss is N times too large: did you average over the N examples?"):
            N * data_loss + reg_loss,
        Mistake("demo-no-reg", "demo loss without regularization",
                "the regularization term is missing from the loss"): data_loss,
    })
    check_gradient(demo_loss, (W, X, reg), 0, dW, "dW", output=loss_of, rng=ctx.rng,
                   num_checks=None, hints={
        Mistake("demo-no-reg-gradient", "demo gradient without regularization",
                "adding 2 * reg * W would make it right: did you forget the regularization "
                "gradient?"):
            lambda num, take: num - 2 * reg * take(W),
        Mistake("demo-reg-gradient-twice", "demo regularization gradient twice",
                "your dW has the regularization gradient twice"):
            lambda num, take: num + 2 * reg * take(W),
        Mistake("demo-grad-not-averaged", "demo gradient not averaged",
                "your data gradient is N times too large: did you divide by N?"):
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

MISTAKE_IDS = {  # implementation -> the mistake id its failure carries
    "loss_not_averaged": "demo-loss-not-averaged", "no_reg_gradient": "demo-no-reg-gradient",
    "doubled_reg_gradient": "demo-reg-gradient-twice",
    "grad_not_averaged": "demo-grad-not-averaged", "sign_error": "sign-flip",
    "transposed": "transposed", "not_implemented": "not-attempted", "crashes": "raised-error",
    "mutates_input": "changed-input", "always_equal_object": "wrong-type",
    "ndarray_subclass": "not-ndarray", "float32_gradient": "low-precision",
    "nan_loss": "non-finite", "three_values": "wrong-count", "wrong_shape": "reduced-axis",
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


@pytest.mark.parametrize("mode", ["direct", "channel"])
def test_each_failure_carries_its_mistake_id_and_title(mode):
    for impl, mistake in MISTAKE_IDS.items():
        outcome = CHECKS[ITEM].evaluate(_student_object(impl, mode))
        assert outcome.mistake == f"{ITEM}/{mistake}", (impl, outcome.message)
        assert outcome.mistake_title == MISTAKES[mistake] and outcome.mistake_title


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


@pytest.fixture
def notebook_shell():
    """An in-process IPython shell with the course's notebook set-up (its handlers for
    NotImplementedError and NameError), cleared afterwards."""
    from IPython.core.interactiveshell import InteractiveShell

    from course_lib.notebook import setup_notebook

    shell = InteractiveShell.instance()
    try:
        setup_notebook()
        yield shell
    finally:
        InteractiveShell.clear_instance()


def test_readable_not_implemented_messages_in_ipython(notebook_shell, capsys):
    shell = notebook_shell
    shell.run_cell("class KNN:\n    def predict(self):\n        raise NotImplementedError()")
    capsys.readouterr()
    shell.run_cell("labels = KNN().predict()")
    first = capsys.readouterr().out
    shell.run_cell("print(labels)")
    second = capsys.readouterr().out
    assert "KNN.predict is not implemented yet" in first and "Traceback" not in first
    assert "name 'labels' is not defined: an earlier cell stopped because KNN.predict" in second


# --------------------------------------------------------------------------- vectorized

LOOPS = """
import numpy as np

def scores_naive(W, X):
    out = np.zeros((X.shape[0], W.shape[1]))
    for i in range(X.shape[0]):
        out[i] = X[i] @ W
    return out

def scores_vectorized(W, X):
    return X @ W

def scores_comprehension(W, X):
    return np.array([x @ W for x in X])

def scores_per_class(W, X):
    out = np.zeros((X.shape[0], W.shape[1]))
    for c in range(W.shape[1]):
        out[:, c] = X @ W[:, c]
    return out

def scores_np_vectorize(W, X):
    row = np.vectorize(lambda i: float(X[i] @ W[:, 0]))
    return row(np.arange(X.shape[0]))

def scores_calls_naive(W, X):
    return scores_naive(W, X)

class Model:
    def __init__(self, W):
        self.W = W
    def scores(self, X):
        return scores_vectorized(self.W, X)
"""
_W = np.random.default_rng(0).standard_normal((4, 3))


def _make_args(N):
    return (_W, np.random.default_rng(N).standard_normal((N, 4)))


def _loops(mode):
    namespace = {"__name__": "__main__"}
    exec(compile(LOOPS, "<cell>", "exec"), namespace)
    if mode == "direct":
        return namespace.__getitem__
    return Client(Loopback(ObjectServer(namespace))).ref


@pytest.mark.parametrize("mode", ["direct", "channel"])
def test_count_steps_counts_python_lines_of_the_students_code_only(mode):
    get = _loops(mode)
    assert count_steps(get("scores_vectorized"), *_make_args(500)) == 1  # numpy is not counted
    small, large = (count_steps(get("scores_naive"), *_make_args(n)) for n in (10, 100))
    assert large - small == 2 * 90  # the for line and its body, once per example
    counts = step_counts(get("scores_calls_naive"), *_make_args(10))
    assert counts["scores_naive"] > 20 and counts["scores_calls_naive"] == 1
    model = get("Model")(_W)  # a bound method (a handle's attribute through the channel)
    assert count_steps(model.scores, _make_args(50)[1]) == 2


@pytest.mark.parametrize("mode", ["direct", "channel"])
def test_expect_vectorized_fails_a_python_loop_over_the_data_only(mode):
    get = _loops(mode)
    for name in ("scores_vectorized", "scores_per_class"):  # a loop over classes is fine
        expect_vectorized(get(name), _make_args, name)
    for name in ("scores_naive", "scores_comprehension", "scores_np_vectorize"):
        with pytest.raises(CheckFailed) as caught:
            expect_vectorized(get(name), _make_args, name)
        assert caught.value.mistake == "python-loop"
        assert re.match(rf"{name} ran \d+ Python lines for N = 10 and \d+ for N = 100: a Python "
                        "loop over the examples. Vectorized means whole-array numpy",
                        caught.value.message), caught.value.message
    with pytest.raises(CheckFailed) as caught:
        expect_vectorized(get("scores_calls_naive"), _make_args, "scores_calls_naive")
    assert caught.value.mistake == "calls-loop-version"
    assert "ran in scores_naive, which scores_calls_naive calls" in caught.value.message
    assert "must not call scores_naive" in caught.value.hint


def test_count_steps_reports_the_students_errors_as_lessons():
    namespace = {}
    exec("def todo(x):\n    raise NotImplementedError()\ndef bad(x):\n    return x[10]", namespace)
    with pytest.raises(NotImplementedYet):
        count_steps(namespace["todo"], 1)
    with pytest.raises(StudentCodeError, match="bad raised IndexError"):
        count_steps(namespace["bad"], np.zeros(2))
    def tracer(frame, event, arg):
        return None

    previous = sys.gettrace()
    sys.settrace(tracer)  # a debugger's or coverage's tracer is suspended, then restored
    try:
        assert count_steps(namespace["bad"], np.zeros(20)) == 1
        with pytest.raises(StudentCodeError):
            count_steps(namespace["bad"], np.zeros(2))
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(previous)


# --------------------------------------------------------------------------- reproducible

DRAWS = """
import random
import numpy as np

class Sampler:
    def __init__(self):
        self.seen = []
    def train(self, n):
        batch = np.random.choice(100, n)
        self.seen.append(batch.tolist() + [random.randint(0, 10**9)])
        return np.array(self.seen[-1], dtype=float)
"""


@pytest.fixture
def draw_check():
    name = "_test.draws"

    def body(ctx, sampler):
        got = as_array(call(get_attr(sampler, "train"), 5), "draws")
        fail(f"drew {got.tolist()}")

    register(name)(body)
    yield CHECKS[name]
    del CHECKS[name]


@pytest.mark.parametrize("mode", ["direct", "channel"])
def test_global_random_is_seeded_for_every_check_run_and_restored(mode, draw_check):
    """CS231n's train samples batches from the global np.random: the same code gets the
    same message every run (and a hidden run's message follows its seed)."""
    namespace = {"__name__": "__main__"}
    exec(DRAWS, namespace)
    if mode == "direct":
        make = namespace["Sampler"]
        probe = lambda: (np.random.random(), random.random())  # noqa: E731
    else:
        client = Client(Loopback(ObjectServer(namespace)))
        make = client.ref("Sampler")
        probe = lambda: (np.random.random(), random.random())  # noqa: E731
    np.random.seed(123)
    random.seed(123)
    expected_next = probe()
    np.random.seed(123)
    random.seed(123)
    messages = [draw_check.evaluate(make()).message for _ in range(2)]
    assert messages[0] == messages[1] and "drew [" in messages[0]
    assert probe() == expected_next  # the caller's random state is as it was
    hidden = [draw_check.evaluate(make(), hidden=True, seed=s).message for s in (5, 5, 6)]
    assert hidden[0] == hidden[1] != hidden[2]


def test_the_sandbox_side_is_seeded_through_the_channel(draw_check):
    """The objects live in another namespace with its own view of the random state: the
    seed request is what makes the remote draws reproducible (not the local seeding)."""
    namespace = {"__name__": "__main__"}
    exec(DRAWS, namespace)
    server = ObjectServer(namespace)
    requests = []

    class Recording(Loopback):
        def request(self, data):
            requests.append(channel.unpack(data)[0].get("op"))
            return super().request(data)

    client = Client(Recording(server))
    draw_check.evaluate(client.ref("Sampler")())
    assert requests[:2] == ["call", "seed"] and requests[-1] == "seed"
    assert server._random_states == []


# --------------------------------------------------------------------------- messages

def test_fmt_aligns_the_columns_of_a_2d_array_and_prints_no_negative_zero():
    got = np.array([[1.5, -0.0, 2e-9], [-1e-12, 10.25, -3.0]])
    with pytest.raises(CheckFailed) as caught:
        expect_close(got, got + 1, "out")
    lines = caught.value.message.splitlines()
    first = next(i for i, ln in enumerate(lines) if ln.startswith("  got:      [["))
    for row1, row2 in ((lines[first], lines[first + 1]), (lines[first + 2], lines[first + 3])):
        assert row2.index("[") == row1.index("[[") + 1, lines  # rows start in one column
        assert [m.start() for m in re.finditer(",", row1)][:2] == \
            [m.start() for m in re.finditer(",", row2)][:2], lines  # and so do the columns
    assert "-0." not in caught.value.message and "-0," not in caught.value.message
    assert fmt(-0.0) == "0" and fmt(np.float64(-0.0)) == "0"
    assert fmt(np.array([-0.0, 1.0])) == "[0., 1.]"


def test_long_lines_of_a_rendered_lesson_wrap_at_word_boundaries():
    words = ["unbreakable_identifier_" + str(i) for i in range(12)]
    exc = CheckFailed(" ".join(words) + "\n    " + "x" * 150)
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", ln) for ln in exc._render_traceback_()[1:]]
    assert all(len(ln) <= 100 for ln in lines[:-1]) and len(lines) > 2
    assert set(" ".join(lines[:-1]).split()) == set(words)  # no word cut
    assert lines[-1] == "    " + "x" * 150  # indented lines (code, arrays) kept as they are


@pytest.mark.parametrize("got_shape, expected, mistake, words", [
    ((12,), (3, 4), "flattened", r"right number of entries .*flattened\? reshape to \(3, 4\)"),
    ((3,), (3, 4), "reduced-axis", r"axis 1 is missing: did you sum or take max"),
    ((4,), (3, 4), "reduced-axis", r"axis 0 is missing"),
    ((3,), (3, 1), "reduced-axis", r"keepdims=True"),
    ((4, 3), (3, 4), "transposed", r"transposed"),
    ((3, 1), (3,), "extra-axis", r"extra axis of length 1"),
    ((2, 6), (3, 4), "flattened", r"reshape to \(3, 4\)"),
    ((5,), (3, 4), "wrong-shape", None),
])
def test_shape_messages_tell_flattening_from_reduction_and_transposition(
        got_shape, expected, mistake, words):
    for fail_with in (lambda: as_array(np.zeros(got_shape), "out", shape=expected),
                      lambda: expect_close(np.zeros(got_shape), np.ones(expected), "out")):
        with pytest.raises(CheckFailed) as caught:
            fail_with()
        assert caught.value.mistake == mistake
        if words:
            assert re.search(words, caught.value.hint), caught.value.hint
        else:
            assert caught.value.hint is None


def test_array_likes_that_are_not_plain_arrays_get_the_np_asarray_fix():
    matrix = np.asmatrix(np.eye(2))
    with pytest.raises(CheckFailed) as caught:
        as_array(matrix, "dists", shape=(2, 2))
    assert "it is a numpy.matrix" in caught.value.message and "np.asarray(" in caught.value.hint
    assert caught.value.mistake == "not-ndarray"
    client = Client(Loopback(ObjectServer({"m": matrix})))
    with pytest.raises(CheckFailed) as caught:
        as_array(client.ref("m"), "dists")
    assert caught.value.mistake == "not-ndarray" and "np.asarray(" in caught.value.hint
    with pytest.raises(CheckFailed) as caught:
        as_array([[1.0, 2.0]], "dists")
    assert caught.value.mistake == "not-ndarray" and "np.array(" in caught.value.hint


@pytest.mark.parametrize("factor, n, mistake", [
    (12.0, 12, "times-N"), (1 / 12, 12, "over-N"), (2.0, None, "times-2"),
    (0.5, None, "half"), (-1.0, None, "sign-flip"), (0.61, None, None), (3.0, None, None),
    (12.0, None, None),
])
def test_constant_factor_hints_only_for_meaningful_factors(factor, n, mistake):
    expected = np.array([[1.0, -2.0], [0.5, 3.0]])
    with pytest.raises(CheckFailed) as caught:
        expect_close(factor * expected, expected, "dW", n=n)
    assert (caught.value.hint.id if caught.value.hint else None) == mistake
    if mistake == "times-N":
        assert caught.value.hint.startswith("your value is N = 12 times too large")


def test_on_two_numbers_only_factors_nobody_gets_by_chance_are_named():
    for got, n, named in ((2.0, None, None), (0.5, None, None), (0.61, None, None),
                          (24.0, 12, "times-N"), (-2.0, None, "sign-flip")):
        hint = diagnose(got, 2.0 if named != "times-N" else 2.0, n=n)
        assert (hint.id if hint else None) == named, (got, hint)


def test_an_output_that_does_not_move_with_its_input_is_named():
    namespace = {}
    exec("import numpy as np\nCACHE = {}\n"
         "def cached(x):\n    return CACHE.setdefault('v', x * 2)\n"
         "def honest(x):\n    return x * 2\n", namespace)
    a, b = np.arange(3.0), np.arange(3.0) + 1
    expect_responds(namespace["honest"], (a,), (b,), "out", what="x")
    with pytest.raises(CheckFailed) as caught:
        expect_responds(namespace["cached"], (a,), (b,), "out", what="x")
    assert caught.value.mistake == "no-response"
    assert "does not move when x moves" in caught.value.message
    assert "cached or hard-coded" in caught.value.hint


def test_a_gradient_of_a_forward_that_ignores_its_input_says_so():
    namespace = {}
    exec("import numpy as np\nFROZEN = 1.5\n"
         "def f(x):\n    return FROZEN\n", namespace)
    x = np.arange(4.0)
    with pytest.raises(CheckFailed) as caught:
        check_gradient(namespace["f"], (x,), 0, np.ones(4), "dx", output=loss_of,
                       rng=np.random.default_rng(0), num_checks=None)
    assert caught.value.mistake == "no-response" and "cached or hard-coded" in caught.value.hint
    with pytest.raises(CheckFailed) as caught:
        exec("def g(x):\n    return float(np.sum(x ** 3))\n", namespace)
        check_gradient(namespace["g"], (x,), 0, 2 * x + 1, "dx", output=loss_of,
                       rng=np.random.default_rng(0), num_checks=None)
    assert caught.value.mistake == "wrong-gradient"


def test_changing_an_input_in_place_has_its_own_headline_and_reason():
    namespace = {}
    exec("def backward(dout, cache):\n    dout *= 2\n    return dout\n", namespace)
    with pytest.raises(ChangedInput) as caught:
        call(namespace["backward"], np.ones(3), None)
    text = str(caught.value)
    assert text.startswith("changed its input") and "raised" not in text.split("\n")[0]
    assert "changed its input dout in place" in text and "dout.copy()" in text
    assert "reuses `dout` at every branch" in text and caught.value.mistake == "changed-input"


def test_a_typo_is_the_students_own_name_error_not_an_unfinished_exercise(notebook_shell,
                                                                           capsys):
    shell = notebook_shell
    shell.run_cell("def predict(x):\n    raise NotImplementedError()")
    shell.run_cell("x = 1\nlabels = predict(x)\naccuracy = 0.5")
    first = capsys.readouterr().out
    shell.run_cell("print(accuracy)")
    blamed = capsys.readouterr().out
    shell.run_cell("print(lables)")
    typo = capsys.readouterr().out
    assert "In the cell that defines predict, replace" in first and "above" not in first
    assert "name 'accuracy' is not defined: an earlier cell stopped because predict" in blamed
    assert "NameError" in typo and "lables" in typo and "earlier cell" not in typo


def test_a_stopped_top_level_exercise_is_blamed_for_the_names_its_answer_would_define(
        notebook_shell, capsys):
    """A by-hand exercise is the cell's own code: its stub binds none of the names the answer
    will (q, f), so a check that needs them points back to the unfinished exercise."""
    notebook_shell.run_cell("x, y = -2, 5\n# YOUR CODE HERE\nraise NotImplementedError()")
    stopped = capsys.readouterr().out
    notebook_shell.run_cell("print(q + f)")
    blamed = capsys.readouterr().out
    assert "an exercise is not implemented yet" in stopped
    assert "name 'q' is not defined: an earlier cell stopped because an exercise" in blamed
    assert "Traceback" not in blamed


def test_a_cell_stopped_by_a_missing_name_passes_the_blame_on_to_the_names_it_binds(
        notebook_shell, capsys):
    """search stops in train; final stops on best_config (search's), so best_net (final's) is
    missing too: a later cell using it is blamed on train, not shown a bare NameError."""
    shell = notebook_shell
    shell.run_cell("def train():\n    raise NotImplementedError()")
    shell.run_cell("for lr in (1, 2):\n    train()\nbest_config = lr")
    shell.run_cell("print(best_config)\nbest_net = 3")
    capsys.readouterr()
    shell.run_cell("print(best_net)")
    cascaded = capsys.readouterr().out
    shell.run_cell("print(lables)")
    typo = capsys.readouterr().out
    assert "name 'best_net' is not defined: an earlier cell stopped because train" in cascaded
    assert "Traceback" not in cascaded
    assert "NameError" in typo and "earlier cell" not in typo


def test_a_check_note_is_shown_on_the_pass_line_and_kept_in_the_outcome(capsys):
    from course_lib.checks import Check

    def body(ctx, value):
        if value != 1:
            fail("value is not 1")
        ctx.note = "convention found: ones"

    check = Check("noted", body)
    check(1)
    assert "noted: passed (convention found: ones)" in capsys.readouterr().out
    assert check.evaluate(1).note == "convention found: ones"
    assert check.evaluate(2).note is None
