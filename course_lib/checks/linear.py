"""Checks for notebook 02, linear classifiers: the SVM and softmax losses and SGD training.

Conventions (CS231n's assignment 1, with this course's regularization): ``W (D, C)``,
``X (N, D)``, ``y (N,)`` integer labels in ``[0, C)``; a loss function returns
``(loss, dW)`` in float64 with the data loss averaged over the N examples plus
``reg * np.sum(W * W)``, whose gradient is ``2 * reg * W``; inputs are never modified.

Where the expected values come from (no reference solution is shipped):

* the lecture's cat/car/frog scores, small enough to do by hand;
* stored results of the instructor's solution on fixed cases (``data/linear.npz``,
  written by ``autograder/expected/linear.py``), together with what the usual mistakes
  would have produced on them (used only to name the mistake);
* identities every correct implementation satisfies, used with shapes drawn at grading
  time: ``W = 0`` gives ``C - 1`` (SVM) and ``log C`` (softmax); the regularization term
  is exactly ``reg * sum(W * W)``; repeating the data set changes nothing; adding the same
  constant to every score of an example changes nothing (with constants of 1e3 this is
  the softmax's numerical-stability test); the data gradient's rows sum to zero over the
  classes;
* numerical gradients of the student's own loss, away from the hinge's kinks.

``LinearClassifier.train`` is checked with a subclass that has a loss (``LinearSVM`` or
``Softmax``, as passed); it uses that class's own ``loss`` method as the oracle for what
one SGD step must do. ``LinearClassifier.predict`` only needs ``self.W`` and accepts the
base class or a subclass.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from . import (
    CheckFailed,
    NotImplementedYet,
    as_array,
    as_float,
    as_list,
    as_tuple,
    call,
    check_gradient,
    expect_close,
    expect_equal,
    fail,
    fmt,
    get_attr,
    label_of,
    loss_of,
    materialize,
    register,
    set_attr,
)

DATA = Path(__file__).resolve().parent / "data"
STORED_FILE = DATA / "linear.npz"
KINDS = ("svm", "softmax")
CASES = ("small", "single", "binary")  # (N, D, C) = (6, 5, 4), (1, 4, 3), (7, 3, 2)
FIELDS = ("W", "X", "y", "reg", "loss", "dW", "data_loss", "data_dW")

# The lecture's example (CS231n, lecture 3): scores of a cat, a car and a frog image for the
# classes cat, car, frog. Row i holds image i's scores; image i's label is i.
LECTURE_SCORES = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
LECTURE_LABELS = np.array([0, 1, 2])
LECTURE_HINGE = np.array([2.9, 0.0, 12.9])  # 5.1-3.2+1; nothing; (2.2+3.1+1)+(2.5+3.1+1)
# With X = identity (one "pixel" per image) and W = LECTURE_SCORES, the scores are the
# table. The SVM gradient by hand: image 0 has one positive margin (car), image 2 two (cat,
# car); each adds X[i] to that class's column and subtracts it from the correct class's.
LECTURE_DW = np.array([[-1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0, -2.0]]) / 3
# Softmax of the cat image's scores, and its cross-entropy loss -log p(cat).
LECTURE_CAT_PROBS = np.array([0.12998253901717313, 0.8690495352082657, 0.0009679257745610439])
LECTURE_CAT_EXP = np.array([24.532530197109352, 164.0219072999017, 0.18268352405273466])
LECTURE_CAT_LOSS = 2.04035515280017

SHIFT_HINT = (
    "exp(1000) overflows to inf and exp(-1000) underflows to 0. Subtract each example's own "
    "largest score first, scores - scores.max(axis=1, keepdims=True): this changes no "
    "probability. One maximum for the whole matrix is not enough when rows differ by 2000."
)
ROW_SUM_HINT = (
    "every example adds to its wrong classes' columns exactly what it takes from its "
    "correct class's column, so each row of the data gradient dW - 2 * reg * W sums to 0 "
    "over the classes; yours does not: check the correct-class term (column y[i])"
)


# --------------------------------------------------------------------------- stored cases

@lru_cache(maxsize=1)
def stored_cases() -> dict:
    """``{(kind, case): {field: value}}`` from ``data/linear.npz``."""
    if not STORED_FILE.exists():
        raise FileNotFoundError(
            f"{STORED_FILE} is missing: run `python autograder/expected/linear.py`")
    with np.load(STORED_FILE, allow_pickle=False) as z:
        out = {}
        for kind in KINDS:
            for case in CASES:
                entry = {f: z[f"{kind}__{case}__{f}"] for f in FIELDS}
                entry["y"] = entry["y"].astype(np.int64)
                for f in ("reg", "loss", "data_loss"):
                    entry[f] = float(entry[f])
                out[kind, case] = entry
        return out


# --------------------------------------------------------------------------- helpers

def _finite_loss(value, context: str, hint: str | None) -> float:
    raw = materialize(value)
    if type(raw) in (float, np.float64, np.float32) and not np.isfinite(raw):
        fail(f"loss is {float(raw)} {context}.", hint=hint)
    return as_float(raw, "loss")


def _run_loss(fn, W, X, y, reg, *, context="", big=False):
    """Call ``fn(W, X, y, reg)``; return the validated ``(loss, dW)``."""
    # Copies: in the student's kernel a function that modifies its input must not corrupt
    # the stored cases or the arrays later steps reuse (call() still reports it).
    result = as_tuple(call(fn, W.copy(), X.copy(), y.copy(), reg, names=("W", "X", "y", "reg")),
                      label_of(fn), 2, ("loss", "dW"))
    hint = SHIFT_HINT if big else None
    loss = _finite_loss(result[0], context, hint)
    dW = as_array(result[1], "dW", shape=W.shape, finite=False)
    if not np.all(np.isfinite(dW)):
        fail(f"dW contains {int((~np.isfinite(dW)).sum())} non-finite values {context}.",
             hint=SHIFT_HINT if big else "an overflow in exp, or a division by zero?")
    return loss, dW


def _describe(W, X, reg) -> str:
    N, D = X.shape
    return f"(N={N}, D={D}, C={W.shape[1]}, reg={reg:g})"


def _onehot(y, C):
    Y = np.zeros((len(y), C))
    Y[np.arange(len(y)), y] = 1.0
    return Y


def _row_sum_hint(dW, W, reg):
    rows = (dW - 2 * reg * W).sum(axis=1)
    scale = max(1e-12, float(np.abs(dW - 2 * reg * W).max()))
    return ROW_SUM_HINT if np.abs(rows).max() > 1e-6 * scale else None


def _loss_hints(kind, N, C, data_loss, R):
    hints = {}
    if kind == "svm":
        hints["your loss is 1 too large: the sum over classes must skip the correct class "
              "j == y[i] (its margin s_y - s_y + 1 is always exactly 1)"] = data_loss + 1 + R
    if N > 1:
        hints["your loss is N times too large: did you divide the data loss by N, the number "
              "of examples?"] = N * data_loss + R
    hints["the regularization term reg * np.sum(W * W) is missing from the loss"] = data_loss
    hints["the regularization term is half what it should be: this course uses "
          "reg * np.sum(W * W), not 0.5 * reg * np.sum(W * W)"] = data_loss + R / 2
    hints["the regularization term is counted twice"] = data_loss + 2 * R
    return hints


def _grad_hints(kind, W, X, y, reg, data_dW):
    N, C = len(y), W.shape[1]
    hints = {
        "adding 2 * reg * W would make dW right: the regularization gradient is missing":
            data_dW,
        "dW has the regularization gradient twice (4 * reg * W in all)":
            data_dW + 4 * reg * W,
        "the gradient of reg * np.sum(W * W) is 2 * reg * W, not reg * W":
            data_dW + reg * W,
    }
    if N > 1:
        hints["your data gradient is N times too large: divide it by N as you do the "
              "loss"] = N * data_dW + 2 * reg * W
    if kind == "softmax":
        hints["subtract 1 from the correct class's probability (dscores[i, y[i]] -= 1) "
              "before multiplying by X"] = data_dW + X.T @ _onehot(y, C) / N + 2 * reg * W
    return hints


def _numerical_hints(W, reg, N):
    hints = {
        "adding 2 * reg * W would make dW right: the regularization gradient is missing":
            lambda num, take: num - 2 * reg * take(W),
        "dW has the regularization gradient twice (4 * reg * W in all)":
            lambda num, take: num + 2 * reg * take(W),
        "the gradient of reg * np.sum(W * W) is 2 * reg * W, not reg * W":
            lambda num, take: num - reg * take(W),
    }
    if N > 1:
        hints["your data gradient is N times too large: divide it by N as you do the loss"] = (
            lambda num, take: N * (num - 2 * reg * take(W)) + 2 * reg * take(W))
    return hints


def _gradient_check(fn, W, X, y, reg, dW, rng, context, num_checks=None):
    """dW against numerical gradients of the student's own loss at (W, X, y, reg)."""
    try:
        check_gradient(fn, (W, X, y, reg), 0, dW, "dW", output=loss_of, rng=rng,
                       num_checks=num_checks, hints=_numerical_hints(W, reg, len(y)))
    except CheckFailed as exc:
        exc.message = exc.message.replace("forward pass", f"loss {context}", 1)
        exc.args = (exc.message,)
        if exc.hint is None:
            exc.hint = _row_sum_hint(dW, W, reg)
        raise


def _margins(W, X, y):
    """The hinge's arguments s_j - s_y + 1 for j != y (to keep away from its kinks)."""
    s = X @ W
    m = s - s[np.arange(len(y)), y][:, None] + 1
    m[np.arange(len(y)), y] = np.inf
    return m


def _random_case(rng, kind, N, D, C, scale=0.5):
    """A random problem; for the SVM, redrawn until no margin is within 1e-3 of a kink."""
    X = rng.standard_normal((N, D))
    y = rng.integers(0, C, N)
    for _ in range(1000):
        W = scale * rng.standard_normal((D, C))
        if kind != "svm" or np.abs(_margins(W, X, y)).min() > 1e-3:
            return W, X, y
    raise RuntimeError("could not draw a kink-free SVM case")  # pragma: no cover


def _random_shapes(rng, count):
    shapes = [(1, int(rng.integers(2, 8)), int(rng.integers(2, 6))),
              (int(rng.integers(2, 12)), int(rng.integers(2, 8)), 2)]
    while len(shapes) < count:
        shapes.append((int(rng.integers(5, 40)), int(rng.integers(3, 30)),
                       int(rng.integers(3, 11))))
    return shapes


# --------------------------------------------------------------------------- loss checks

def _check_stored(fn, kind, case):
    c = stored_cases()[kind, case]
    W, X, y, reg = c["W"], c["X"], c["y"], c["reg"]
    context = f"on the stored {case!r} case {_describe(W, X, reg)}"
    loss, dW = _run_loss(fn, W, X, y, reg, context=context)
    R = reg * float(np.sum(W * W))
    expect_close(loss, c["loss"], "loss", rtol=1e-7, context=context,
                 hints=_loss_hints(kind, len(y), W.shape[1], c["data_loss"], R))
    try:
        expect_close(dW, c["dW"], "dW", rtol=1e-6, atol=1e-9, context=context,
                     hints=_grad_hints(kind, W, X, y, reg, c["data_dW"]))
    except CheckFailed as exc:
        if exc.hint is None:
            exc.hint = _row_sum_hint(dW, W, reg)
        raise


def _check_zero_W(fn, kind, rng, N, D, C):
    X = rng.standard_normal((N, D))
    y = rng.integers(0, C, N)
    W = np.zeros((D, C))
    context = f"with W = 0 {_describe(W, X, 0.1)}"
    loss, _ = _run_loss(fn, W, X, y, 0.1, context=context)
    if kind == "svm":
        expected = C - 1.0
        why = "every score is 0, so each of the C - 1 wrong classes has margin 0 - 0 + 1 = 1"
        hints = {"you counted the correct class too: skip j == y[i] in the sum": float(C)}
    else:
        expected = float(np.log(C))
        why = "every class gets probability 1/C, so each example's loss is -log(1/C) = log C"
        hints = {"did you take -log of the probability, with the natural log?": np.log10(C)}
    if N > 1:
        hints["your loss is N times too large: did you divide by N?"] = N * expected
    try:
        expect_close(loss, expected, "loss", rtol=1e-9, context=context, hints=hints)
    except CheckFailed as exc:
        exc.message += f" ({why}.)"
        exc.args = (exc.message,)
        raise


def _check_reg_identity(fn, W, X, y, reg, context):
    loss, _ = _run_loss(fn, W, X, y, reg, context=context)
    loss0, _ = _run_loss(fn, W, X, y, 0.0, context=context)
    R = reg * float(np.sum(W * W))
    expect_close(loss - loss0, R, "loss(reg) - loss(reg=0)", rtol=1e-7, atol=1e-10,
                 context=f"{context}, which must be reg * np.sum(W * W)", hints={
                     "the regularization term is missing from the loss": 0.0,
                     "the regularization term is half what it should be: this course uses "
                     "reg * np.sum(W * W), not 0.5 * reg * np.sum(W * W)": R / 2,
                     "the regularization term is counted twice": 2 * R,
                 })


def _check_repeated_data(fn, W, X, y, reg, context):
    loss, dW = _run_loss(fn, W, X, y, reg, context=context)
    X2, y2 = np.vstack([X, X]), np.concatenate([y, y])
    loss2, dW2 = _run_loss(fn, W, X2, y2, reg, context=context)
    R = reg * float(np.sum(W * W))
    expect_close(loss2, loss, "loss on the data set repeated twice", rtol=1e-9, atol=1e-12,
                 context=f"{context} (an average must not change)", hints={
                     "the data loss doubled: divide by N, the number of examples":
                         2 * (loss - R) + R})
    expect_close(dW2, dW, "dW on the data set repeated twice", rtol=1e-8, atol=1e-12,
                 context=f"{context} (an average must not change)", hints={
                     "the data gradient doubled: divide it by N, the number of examples":
                         2 * (dW - 2 * reg * W) + 2 * reg * W})


def _check_shifted_scores(fn, kind, W, X, y, offsets, context):
    """Adding offsets[i] to every score of example i changes neither loss nor gradient.

    Done with one extra input column holding the offsets and a row of ones in W; reg = 0.
    """
    loss, dW = _run_loss(fn, W, X, y, 0.0, context=context)
    Xs = np.hstack([X, offsets[:, None]])
    Ws = np.vstack([W, np.ones((1, W.shape[1]))])
    big = float(np.abs(offsets).max()) >= 100
    where = (f"{context}, reg = 0, after adding a constant of magnitude up to "
             f"{fmt(float(np.abs(offsets).max()))} to all the scores of each example")
    loss_s, dW_s = _run_loss(fn, Ws, Xs, y, 0.0, context=where, big=big and kind == "softmax")
    hint = SHIFT_HINT if kind == "softmax" else None
    if not np.isclose(loss_s, loss, rtol=1e-7, atol=1e-9):
        fail(f"loss changed {where}: {fmt(loss_s)} instead of {fmt(loss)}. Only score "
             "differences matter to this loss.", hint=hint)
    expect_close(dW_s[:-1], dW, "dW (rows of the original features)", rtol=1e-6, atol=1e-8,
                 context=where)


@register("svm_loss_naive", "multiclass SVM loss and gradient, with loops")
def _(ctx, svm_loss_naive):
    _svm_body(ctx, svm_loss_naive)


@register("svm_loss_vectorized", "multiclass SVM loss and gradient, without loops")
def _(ctx, svm_loss_vectorized):
    _svm_body(ctx, svm_loss_vectorized)


def _svm_body(ctx, fn):
    # The lecture's example: X = identity, so the scores are W itself.
    context = "on the lecture's cat/car/frog scores (X = identity, W = the score table, reg = 0)"
    loss, dW = _run_loss(fn, LECTURE_SCORES, np.eye(3), LECTURE_LABELS, 0.0, context=context)
    expect_close(loss, LECTURE_HINGE.mean(), "loss", rtol=1e-9, context=context, hints={
        "your loss is 1 too large: the sum over classes must skip the correct class "
        "j == y[i] (its margin is always exactly 1)": LECTURE_HINGE.mean() + 1,
        "your loss is 3 times too large: divide the sum by N": LECTURE_HINGE.sum(),
        "the margin is max(0, s_j - s_y + 1): did you forget the + 1 (delta)?": 12.8 / 3,
        "the margin is max(0, s_j - s_y + 1): did you swap s_j and s_y?": 14.4 / 3,
    })
    try:
        expect_close(dW, LECTURE_DW, "dW", rtol=1e-9, context=context, hints={
            "the data gradient must be divided by N too": 3 * LECTURE_DW})
    except CheckFailed as exc:
        exc.hint = exc.hint or _row_sum_hint(dW, LECTURE_SCORES, 0.0)
        raise
    _check_zero_W(fn, "svm", ctx.rng, 5, 4, 3)
    cases = CASES if ctx.hidden else ("small",)
    for case in cases:
        _check_stored(fn, "svm", case)
    c = stored_cases()["svm", "small"]
    _gradient_check(fn, c["W"], c["X"], c["y"], c["reg"], dW=_run_loss(
        fn, c["W"], c["X"], c["y"], c["reg"])[1], rng=ctx.rng,
        context="on the stored 'small' case")
    if not ctx.hidden:
        return
    for N, D, C in _random_shapes(ctx.rng, 4):
        _check_zero_W(fn, "svm", ctx.rng, N, D, C)
        W, X, y = _random_case(ctx.rng, "svm", N, D, C)
        reg = float(ctx.rng.uniform(0.01, 1.0))
        context = f"on a random case {_describe(W, X, reg)}"
        _check_reg_identity(fn, W, X, y, reg, context)
        _check_repeated_data(fn, W, X, y, reg, context)
        _check_shifted_scores(fn, "svm", W, X, y, ctx.rng.uniform(-1e3, 1e3, N), context)
        _, dW = _run_loss(fn, W, X, y, reg, context=context)
        _gradient_check(fn, W, X, y, reg, dW, ctx.rng, context, num_checks=24)


@register("softmax_loss_naive", "softmax (cross-entropy) loss and gradient, with loops")
def _(ctx, softmax_loss_naive):
    _softmax_body(ctx, softmax_loss_naive)


@register("softmax_loss_vectorized", "softmax (cross-entropy) loss and gradient, no loops")
def _(ctx, softmax_loss_vectorized):
    _softmax_body(ctx, softmax_loss_vectorized)


def _big_offsets(rng, N):
    """Offsets of magnitude ~1e3 with both signs: unshifted exp overflows on the positive
    rows and underflows on the negative ones; one global maximum zeroes the negative rows."""
    signs = np.where(np.arange(N) % 2 == 0, 1.0, -1.0)
    return signs * rng.uniform(900, 1100, N)


def _softmax_body(ctx, fn):
    _check_zero_W(fn, "softmax", ctx.rng, 5, 4, 3)
    cases = CASES if ctx.hidden else ("small",)
    for case in cases:
        _check_stored(fn, "softmax", case)
    c = stored_cases()["softmax", "small"]
    _check_shifted_scores(fn, "softmax", c["W"], c["X"], c["y"],
                          _big_offsets(ctx.rng, len(c["y"])), "on the stored 'small' case")
    _, dW = _run_loss(fn, c["W"], c["X"], c["y"], c["reg"])
    _gradient_check(fn, c["W"], c["X"], c["y"], c["reg"], dW, ctx.rng,
                    "on the stored 'small' case")
    if not ctx.hidden:
        return
    for N, D, C in _random_shapes(ctx.rng, 4):
        _check_zero_W(fn, "softmax", ctx.rng, N, D, C)
        W, X, y = _random_case(ctx.rng, "softmax", N, D, C)
        reg = float(ctx.rng.uniform(0.01, 1.0))
        context = f"on a random case {_describe(W, X, reg)}"
        _check_reg_identity(fn, W, X, y, reg, context)
        _check_repeated_data(fn, W, X, y, reg, context)
        _check_shifted_scores(fn, "softmax", W, X, y,
                              _big_offsets(ctx.rng, N) if N > 1 else np.array([-1e3]), context)
        _, dW = _run_loss(fn, W, X, y, reg, context=context)
        _gradient_check(fn, W, X, y, reg, dW, ctx.rng, context, num_checks=24)


# --------------------------------------------------------------------------- naive == vectorized

def _agreement(ctx, naive, vectorized, kind):
    shapes = [(int(ctx.rng.integers(20, 60)), int(ctx.rng.integers(10, 40)),
               int(ctx.rng.integers(3, 11)))]
    if ctx.hidden:
        shapes += _random_shapes(ctx.rng, 3)
    for N, D, C in shapes:
        W, X, y = _random_case(ctx.rng, kind, N, D, C, scale=float(ctx.rng.uniform(0.01, 2)))
        reg = float(ctx.rng.uniform(0.0, 1.0))
        context = f"on a random case {_describe(W, X, reg)}"
        loss_n, dW_n = _run_loss(naive, W, X, y, reg, context=context)
        loss_v, dW_v = _run_loss(vectorized, W, X, y, reg, context=context)
        advice = (f"The two compute the same function, so one of them is off: run "
                  f"CHECKS['{kind}_loss_naive'] and CHECKS['{kind}_loss_vectorized'] to see "
                  "which.")
        if not np.isclose(loss_v, loss_n, rtol=1e-9, atol=1e-12):
            fail(f"{label_of(naive)} and {label_of(vectorized)} disagree {context}: loss "
                 f"{fmt(loss_n)} vs {fmt(loss_v)}. {advice}")
        err = np.abs(dW_v - dW_n) - 1e-7 * np.abs(dW_n)
        if np.any(err > 1e-10):
            worst = np.unravel_index(int(np.argmax(err)), err.shape)
            fail(f"{label_of(naive)} and {label_of(vectorized)} disagree {context}: dW at "
                 f"[{worst[0]}, {worst[1]}] is {fmt(dW_n[worst])} vs {fmt(dW_v[worst])} "
                 f"({int((err > 1e-10).sum())} of {err.size} entries differ). {advice}")


@register("svm_naive_vs_vectorized", "svm_loss_naive and svm_loss_vectorized agree")
def _(ctx, svm_loss_naive, svm_loss_vectorized):
    _agreement(ctx, svm_loss_naive, svm_loss_vectorized, "svm")


@register("softmax_naive_vs_vectorized", "softmax_loss_naive and softmax_loss_vectorized agree")
def _(ctx, softmax_loss_naive, softmax_loss_vectorized):
    _agreement(ctx, softmax_loss_naive, softmax_loss_vectorized, "softmax")


# --------------------------------------------------------------------------- worked examples

@register("hinge_loss_example", "the SVM loss of the lecture's cat, car and frog images")
def _(ctx, losses, mean_loss):
    got = as_array(losses, "the per-image losses", shape=(3,))
    expect_close(got, LECTURE_HINGE, "the per-image losses (cat, car, frog image)", rtol=1e-6,
                 atol=1e-9, hints={
                     "each is 1 too large: skip the correct class (j == y_i) in the sum":
                         LECTURE_HINGE + 1,
                     "the SVM loss sums the hinge over all wrong classes; you took the "
                     "largest one only": np.array([2.9, 0.0, 6.6]),
                     "the margin is max(0, s_j - s_y + 1): the + 1 (delta) is missing":
                         np.array([1.9, 0.0, 10.9]),
                     "the margin is max(0, s_j - s_y + 1): you swapped s_j and s_y":
                         np.array([5.9, 8.5, 0.0]),
                     "negative margins count as 0: take max(0, ...) of each one":
                         np.array([-1.0, -4.5, 12.9]),
                 })
    expect_close(as_float(mean_loss, "the mean loss"), LECTURE_HINGE.mean(), "the mean loss",
                 rtol=1e-6, hints={"that is the sum; the loss is the mean over the 3 images":
                                   LECTURE_HINGE.sum()})


@register("softmax_loss_example", "the softmax probabilities and loss of the lecture's cat image")
def _(ctx, probs, loss):
    got = as_array(probs, "the probabilities", shape=(3,))
    expect_close(got, LECTURE_CAT_PROBS, "the probabilities (cat, car, frog)", rtol=1e-6,
                 atol=1e-8, hints={
                     "these are the exponentials; divide them by their sum":
                         LECTURE_CAT_EXP,
                     "you normalised the scores themselves; exponentiate first":
                         LECTURE_SCORES[0] / LECTURE_SCORES[0].sum(),
                 })
    expect_close(as_float(loss, "the loss"), LECTURE_CAT_LOSS, "the loss", rtol=1e-6, hints={
        "the loss is -log of the probability of the correct class (cat), not of the winner":
            -np.log(LECTURE_CAT_PROBS[1]),
        "it has the wrong sign: the loss is -log p, which is positive": -LECTURE_CAT_LOSS,
        "use the natural logarithm, np.log, not log10": LECTURE_CAT_LOSS / np.log(10),
    })


# --------------------------------------------------------------------------- LinearClassifier

def _instance(cls):
    return call(cls, names=(), label=f"{label_of(cls)}()")


def _method(obj, cls, name):
    return get_attr(obj, name, label=f"{label_of(cls)}.{name}")


def _labelled_problem(rng, N, C, extra):
    """X, W whose predictions are known by construction: example i has a large value in
    feature t[i], which W maps to class t[i]; the ``extra`` noise features cannot change
    the winner (they move any score by at most 0.3, the margin is over 2)."""
    t = rng.integers(0, C, N)
    D = C + extra
    X = np.zeros((N, D))
    X[np.arange(N), t] = rng.uniform(1.0, 2.0, N)
    X[:, C:] = rng.uniform(-1.0, 1.0, (N, extra))
    W = np.zeros((D, C))
    W[:C, :C] = 3.0 * np.eye(C) + rng.uniform(-0.1, 0.1, (C, C))
    W[C:] = rng.uniform(-0.1, 0.1, (extra, C)) / max(1, extra) * 3
    return X, W, t


@register("LinearClassifier.predict", "labels = the class with the highest score, X @ W")
def _(ctx, cls):
    shapes = [(8, 3, 3)] if not ctx.hidden else [
        (1, 2, 1), (int(ctx.rng.integers(5, 30)), int(ctx.rng.integers(2, 11)), 4)]
    for N, C, extra in shapes:
        X, W, expected = _labelled_problem(ctx.rng, N, C, extra)
        model = _instance(cls)
        set_attr(model, "W", W.copy())
        raw = materialize(call(_method(model, cls, "predict"), X.copy(), names=("X",)))
        if type(raw) is np.ndarray and raw.shape == (C,) and N != C:
            fail(f"predict(X) has shape {raw.shape}, one label per class; expected ({N},), "
                 "one per example.", hint="take the argmax over the classes, axis=1")
        if type(raw) is np.ndarray and raw.shape == (N, C):
            fail(f"predict(X) has shape {raw.shape}: those are the scores; expected ({N},), "
                 "one label per example.", hint="return the class with the highest score, "
                 "np.argmax(scores, axis=1)")
        got = as_array(raw, "predict(X)", shape=(N,), kind="int")
        context = f"for X of shape {X.shape} and W of shape {W.shape}"
        expect_equal(got, expected, "predict(X)", context=context)
        after = as_array(get_attr(model, "W"), "self.W after predict", shape=W.shape)
        expect_close(after, W, "self.W after predict", context="(predict must not change W)")


def _loss_oracle(cls, W, X, y, reg):
    """(loss, dW) of the class's own loss method at W."""
    model = _instance(cls)
    set_attr(model, "W", W.copy())
    try:
        result = call(_method(model, cls, "loss"), X.copy(), y.copy(), reg,
                      names=("X_batch", "y_batch", "reg"))
    except NotImplementedYet:
        raise NotImplementedYet(
            f"{label_of(cls)}.loss still raises NotImplementedError: it calls your vectorized "
            "loss function, which is not implemented yet. Finish that exercise first, run its "
            "cell, then run this check again.") from None
    if materialize(result) is None:
        fail(f"{label_of(cls)}.loss returned None. This check trains a classifier, so pass it "
             "a class whose loss works: LinearSVM or Softmax (LinearClassifier leaves loss to "
             "its subclasses).")
    loss, dW = as_tuple(result, f"{label_of(cls)}.loss", 2, ("loss", "dW"))
    return as_float(loss, "loss"), as_array(dW, "dW", shape=W.shape)


def _train(cls, model, X, y, **kwargs):
    history = call(_method(model, cls, "train"), X.copy(), y.copy(), names=("X", "y"),
                   **kwargs)
    values = materialize(history)
    if values is None:
        fail(f"{label_of(cls)}.train returned None: return loss_history, the list of the "
             "losses of every iteration.")
    values = as_list(values, "loss_history")
    n = kwargs["num_iters"]
    if len(values) != n:
        fail(f"{label_of(cls)}.train returned {len(values)} losses for num_iters={n}: "
             "append one loss per iteration.")
    return np.array([as_float(v, f"loss_history[{i}]") for i, v in enumerate(values)])


def _blobs(rng, N, C, D):
    centers = 3.0 * rng.standard_normal((C, D))
    y = np.arange(N) % C
    X = centers[y] + 0.5 * rng.standard_normal((N, D))
    return np.hstack([X, np.ones((N, 1))]), y


def _check_history_and_init(ctx, cls):
    N, D = 40, 6
    C = int(ctx.rng.integers(2, 6)) if ctx.hidden else 3
    X = ctx.rng.standard_normal((N, D))
    y = np.arange(N) % C
    model = _instance(cls)
    _train(cls, model, X, y, learning_rate=1e-3, reg=1e-5, num_iters=7, batch_size=10)
    W = materialize(get_attr(model, "W"))
    if W is None:
        fail(f"self.W is still None after {label_of(cls)}.train: initialise it (small random "
             "numbers of shape (D, C)) when it is None.")
    as_array(W, "self.W after training", shape=(D, C))


def _check_sgd_step(ctx, cls):
    """Identical examples make every mini-batch the same, so one step is predictable."""
    D, C = (5, 3) if not ctx.hidden else (int(ctx.rng.integers(2, 8)),
                                          int(ctx.rng.integers(2, 6)))
    N, batch, reg = 12, 4, 0.1
    lr = 0.05 if not ctx.hidden else float(ctx.rng.uniform(0.01, 0.1))
    X = np.tile(ctx.rng.standard_normal(D), (N, 1))
    y = np.full(N, int(ctx.rng.integers(0, C)))
    W0 = 0.5 * ctx.rng.standard_normal((D, C))
    # What three SGD steps must give, by the class's own loss method.
    Ws, losses = [W0], []
    for _ in range(3):
        loss, dW = _loss_oracle(cls, Ws[-1], X[:batch], y[:batch], reg)
        losses.append(loss)
        Ws.append(Ws[-1] - lr * dW)
    g0 = (W0 - Ws[1]) / lr
    model = _instance(cls)
    set_attr(model, "W", W0.copy())
    hist = _train(cls, model, X, y, learning_rate=lr, reg=reg, num_iters=1, batch_size=batch)
    W1 = as_array(get_attr(model, "W"), "self.W", shape=W0.shape)
    context = (f"after one step with learning_rate={lr:g} from a W you did not choose "
               "(every example identical, so every mini-batch has the same gradient dW)")
    expect_close(W1, Ws[1], "self.W", rtol=1e-7, atol=1e-10, context=context, hints={
        "W moved uphill: the SGD step is W -= learning_rate * dW": W0 + lr * g0,
        "the step must be scaled by learning_rate: W -= learning_rate * dW": W0 - g0,
        "W did not change: update self.W inside the loop (self.W -= learning_rate * dW)": W0,
    })
    expect_close(hist[0], losses[0], "loss_history[0]", rtol=1e-7, context=context, hints={
        "that is the loss after the step: record the batch's loss before updating W":
            losses[1]})
    model = _instance(cls)
    set_attr(model, "W", W0.copy())
    hist = _train(cls, model, X, y, learning_rate=lr, reg=reg, num_iters=3, batch_size=batch)
    W3 = as_array(get_attr(model, "W"), "self.W", shape=W0.shape)
    context = context.replace("one step", "three steps")
    expect_close(hist, np.array(losses), "loss_history", rtol=1e-7, context=context)
    expect_close(W3, Ws[3], "self.W", rtol=1e-7, atol=1e-10, context=context)


def _check_batches(ctx, cls):
    """With learning_rate = 0 each recorded loss is the mean over one mini-batch. The data
    has two kinds of example, with per-example losses a and b, so a batch of size B with k
    examples of the second kind has loss a + k (b - a) / B: k must come out an integer."""
    D, C = 4, 3
    N, n_hard = 60, 21
    B = 8 if not ctx.hidden else int(ctx.rng.integers(3, 16))
    iters = 30
    for _ in range(100):
        W0 = ctx.rng.standard_normal((D, C))
        rows = ctx.rng.standard_normal((2, D))
        labels = ctx.rng.integers(0, C, 2)
        a = _loss_oracle(cls, W0, rows[:1], labels[:1], 0.0)[0]
        b = _loss_oracle(cls, W0, rows[1:], labels[1:], 0.0)[0]
        if abs(b - a) > 0.05:
            break
    else:
        fail(f"{label_of(cls)}.loss gives the same loss to very different examples, so "
             "mini-batches cannot be told apart: make your loss function's check pass first.")
    kind = ctx.rng.permutation(np.arange(N) < n_hard).astype(int)
    X, y = rows[kind], labels[kind]
    model = _instance(cls)
    set_attr(model, "W", W0.copy())
    hist = _train(cls, model, X, y, learning_rate=0.0, reg=0.0, num_iters=iters,
                  batch_size=B)
    context = (f"(num_iters={iters}, batch_size={B}, learning_rate=0 so W stays put; "
               f"{n_hard} of the {N} examples have loss {fmt(b)}, the others {fmt(a)})")

    def counts(size):
        k = size * (hist - a) / (b - a)
        ok = np.all(np.abs(k - np.round(k)) < 1e-6) and np.all(k > -1e-6) and np.all(
            k < size + 1e-6)
        return np.round(k).astype(int) if ok else None

    if counts(B) is None:
        full = a + n_hard * (b - a) / N
        if np.allclose(hist, full, rtol=1e-9, atol=1e-12):
            fail(f"every loss in loss_history is the loss of the whole training set {context}.",
                 hint="sample batch_size examples each iteration: idx = "
                      "np.random.choice(num_train, batch_size); X_batch = X[idx]")
        sizes = [s for s in range(1, N + 1) if counts(s) is not None]
        hint = (f"they look like averages over {sizes[0]} examples" if sizes else
                "each recorded loss should be the loss of one mini-batch")
        fail(f"the losses in loss_history are not averages over batch_size={B} examples "
             f"{context}: got {fmt(hist[:6])}...", hint=hint)
    if len(set(counts(B).tolist())) == 1:
        fail(f"every iteration saw the same mini-batch {context}.",
             hint="draw a fresh random batch inside the loop, every iteration")


def _check_learns(ctx, cls):
    C = 3 if not ctx.hidden else int(ctx.rng.integers(2, 6))
    X, y = _blobs(ctx.rng, 30 * C, C, 4)
    model = _instance(cls)
    hist = _train(cls, model, X, y, learning_rate=0.05, reg=1e-3, num_iters=150,
                  batch_size=20)
    start, end = float(hist[:5].mean()), float(hist[-10:].mean())
    if not end < 0.5 * start:
        fail(f"the loss did not go down on an easy problem ({C} well-separated blobs, "
             f"learning_rate=0.05, 150 iterations): the first 5 losses average {fmt(start)}, "
             f"the last 10 {fmt(end)}.", hint="each iteration: sample a batch, compute "
             "(loss, grad) = self.loss(X_batch, y_batch, reg), then self.W -= learning_rate * "
             "grad")


@register("LinearClassifier.train", "mini-batch SGD: one loss per iteration, W -= lr * dW")
def _(ctx, cls):
    _loss_oracle(cls, np.zeros((3, 2)), np.ones((2, 3)), np.array([0, 1]), 0.0)
    _check_history_and_init(ctx, cls)
    _check_sgd_step(ctx, cls)
    _check_batches(ctx, cls)
    _check_learns(ctx, cls)
