"""Checks for notebook 02, linear classifiers: the SVM and softmax losses and SGD training.

Conventions (CS231n's assignment 1): ``W (D, C)``, ``X (N, D)``, ``y (N,)`` integer labels
in ``[0, C)``; a loss function returns ``(loss, dW)`` in float64 with the data loss averaged
over the N examples plus a regularization term; inputs are never modified. This course
writes ``reg * np.sum(W * W)`` (gradient ``2 * reg * W``); CS231n's own
``0.5 * reg * np.sum(W * W)`` (gradient ``reg * W``) is accepted too when loss and gradient
agree: each loss check first measures which convention the student's function uses.

Where the expected values come from (no reference solution is shipped):

* the lecture's cat/car/frog scores, small enough to do by hand, and a hand-made table of
  scores with spreads of 700 to 720 between classes and an all-zero row;
* stored results of the instructor's solution on fixed cases (``data/linear.npz``,
  written by ``autograder/expected/linear.py``), with each example's own data loss (used
  only to name a mistake, such as looking at the first 32 rows only);
* identities every correct implementation satisfies, used with shapes drawn at grading
  time: ``W = 0`` gives ``C - 1`` (SVM) and ``log C`` (softmax); the regularization term
  is exactly ``reg * sum(W * W)`` (or half that, with a matching gradient); repeating the
  data set changes nothing; adding the same constant to every score of an example changes
  nothing (with constants of 1e3 this is the softmax's numerical-stability test); the data
  gradient's rows sum to zero over the classes;
* numerical gradients of the student's own loss, away from the hinge's kinks.

``LinearClassifier.train`` is checked with a subclass that has a loss (``LinearSVM`` or
``Softmax``, as passed); it uses that class's own ``loss`` method as the oracle for what
each SGD step must do, so a correct ``train`` passes whatever that loss computes, as long
as it runs and gives finite values that differ between examples. ``LinearClassifier.predict``
only needs ``self.W`` and accepts the base class or a subclass.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from . import (
    MISTAKES,
    CheckFailed,
    Mistake,
    NotImplementedYet,
    as_array,
    as_float,
    as_list,
    as_tuple,
    call,
    check_gradient,
    expect_close,
    expect_equal,
    expect_responds,
    expect_vectorized,
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
# (N, D, C) = (6, 5, 4), (1, 4, 3), (7, 3, 2), (40, 5, 10): the last has every label 0-9
CASES = ("small", "single", "binary", "batch")
FIELDS = ("W", "X", "y", "reg", "loss", "dW", "data_loss", "data_dW", "data_losses")

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

# A table of scores with large spreads (X = identity, W = the score table, reg = 0), by hand:
# image 0's wrong class 1 scores 720 above its class 0 (exp(720) overflows; e^-720 is still
# a float64, so a correct -log p stays finite); image 1's class is 720 above the rest;
# image 2's scores are all 0; image 3's class 2 is 700 below class 1.
SPREAD_SCORES = np.array([[0.0, 720.0, 0.0, 0.0], [720.0, 0.0, 0.0, 0.0],
                          [0.0, 0.0, 0.0, 0.0], [-700.0, 700.0, 0.0, 0.0]])
SPREAD_LABELS = np.array([0, 0, 3, 2])
# SVM: margins 721 + 1 + 1; none; 1 + 1 + 1; 701 + 1. Coefficients as in LECTURE_DW.
SPREAD_SVM_LOSS = (723.0 + 0.0 + 3.0 + 702.0) / 4
SPREAD_SVM_DW = np.array([[-3.0, 1, 1, 1], [0, 0, 0, 0], [1, 1, 1, -3], [0, 1, -2, 1]]) / 4
# Softmax, image 0 alone: its loss (720) is finite and dW = outer(X[0], p - onehot) with
# p one-hot at class 1 (e^-720 is below float64's resolution next to 1). Images 1-3 with
# labels 0, 3, 1 (each row's top class, or all equal): losses 0, log 4, 0; probabilities
# one-hot, uniform, one-hot. (Image 0's loss itself is not compared: a -log(p + 1e-10)
# guard, common in student code, changes it and nothing else.)
SPREAD_SOFTMAX_ROW0_DW = np.array([[-1.0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
SPREAD_SOFTMAX_LABELS = np.array([0, 3, 1])
SPREAD_SOFTMAX_LOSS = np.log(4.0) / 3
SPREAD_SOFTMAX_DW = np.array([[0.0, 0, 0, 0], [0, 0, 0, 0], [0.25, 0.25, 0.25, -0.75],
                              [0, 0, 0, 0]]) / 3

# --------------------------------------------------------------------------- mistakes

NO_1_OVER_N = Mistake("no-1-over-N", MISTAKES.get("no-1-over-N", "loss not averaged over N"),
                      "your loss is N times too large: did you divide the data loss by N, "
                      "the number of examples?")
GRAD_NO_1_OVER_N = Mistake("gradient-no-1-over-N", "gradient not averaged over N",
                           "your data gradient is N times too large: divide it by N as you "
                           "do the loss")
NO_REG_LOSS = Mistake("no-reg-loss", "regularization missing from the loss",
                      "the regularization term reg * np.sum(W * W) is missing from the loss")
REG_LOSS_TWICE = Mistake("reg-loss-twice", "regularization counted twice in the loss",
                         "the regularization term is counted twice in the loss")
NO_REG_GRAD = Mistake("no-reg-gradient", "regularization gradient missing",
                      "the regularization gradient is missing from dW: add 2 * reg * W (the "
                      "gradient of reg * np.sum(W * W))")
REG_GRAD_TWICE = Mistake("reg-gradient-twice", "regularization gradient counted twice",
                         "dW has the regularization gradient twice")
REG_MISMATCH = Mistake(
    "reg-convention-mismatch",
    MISTAKES.get("reg-convention-mismatch", "loss and gradient use different reg conventions"),
    "either convention is fine, but loss and gradient must agree: reg * np.sum(W * W) has "
    "gradient 2 * reg * W, and CS231n's 0.5 * reg * np.sum(W * W) has gradient reg * W")
SVM_COUNTS_CORRECT = Mistake(
    "svm-counts-correct-class", "the correct class counted in the SVM sum",
    "your loss is 1 too large: the sum over classes must skip the correct class j == y[i] "
    "(its margin s_y - s_y + 1 is always exactly 1)")
HINGE_NO_DELTA = Mistake("hinge-no-delta", "margin without its + 1 (delta)",
                         "the margin is max(0, s_j - s_y + 1): did you forget the + 1 (delta)?")
HINGE_SWAPPED = Mistake("hinge-swapped", "s_j and s_y swapped in the margin",
                        "the margin is max(0, s_j - s_y + 1): did you swap s_j and s_y?")
HINGE_NO_MAX = Mistake("hinge-no-max", "negative margins counted (no max(0, .))",
                       "negative margins count as 0: take max(0, ...) of each one")
GRADIENT_SIGN = Mistake("gradient-sign", "gradient with the wrong sign",
                        "your data gradient has the wrong sign: the loss grows along dW")
SVM_CORRECT_GRAD = Mistake(
    "svm-correct-class-gradient", "the correct class's column of the SVM gradient is wrong",
    "every example adds to its wrong classes' columns exactly what it takes from its correct "
    "class's column, so each row of the data gradient sums to 0 over the classes; yours does "
    "not: check the correct-class term (column y[i], minus X[i] once per positive margin)")
SOFTMAX_NO_MINUS_1 = Mistake(
    "softmax-no-minus-1", "softmax gradient without the -1 at the correct class",
    "subtract 1 from the correct class's probability (dscores[i, y[i]] -= 1) before "
    "multiplying by X")
MISSING_ROWS = Mistake("missing-rows", MISTAKES.get("missing-rows",
                                                    "only some of the N examples used"),
                       "only the first 32 examples count: every one of the N examples must, "
                       "however many there are (no slicing, no fixed loop bound)")
NO_MAX_SHIFT = Mistake(
    "no-max-shift", MISTAKES.get("no-max-shift", "softmax without subtracting the row maximum"),
    "exp(1000) overflows to inf. Subtract each example's own largest score first, "
    "scores - scores.max(axis=1, keepdims=True): this changes no probability")
GLOBAL_MAX_SHIFT = Mistake(
    "global-max-shift", MISTAKES.get("global-max-shift", "softmax shifted by the global maximum"),
    "One maximum for the whole matrix is not enough when rows differ by 2000: exp(-2000) "
    "underflows to 0 and log(0) = -inf. Subtract each example's own largest score, "
    "scores.max(axis=1, keepdims=True)")
CORRECT_CLASS_SHIFT = Mistake(
    "correct-class-shift",
    MISTAKES.get("correct-class-shift", "softmax shifted by the correct class's score"),
    "subtracting the correct class's score does not prevent overflow: when another class "
    "scores 720 higher, exp(720) = inf. Subtract each example's largest score instead, "
    "scores - scores.max(axis=1, keepdims=True)")
SOFTMAX_WRONG_AXIS = Mistake(
    "softmax-wrong-axis", "softmax normalised over the examples instead of the classes",
    "that is log N, not log C: the probabilities were normalised over the examples (axis=0). "
    "Sum each example's exponentials over the classes, axis=1")
LOW_PRECISION = Mistake("low-precision", MISTAKES.get(
    "low-precision", "converted to lower precision than float64"),
    "close, but only to about 7 digits: something was computed in float32 (single "
    "precision). Keep float64 throughout")


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


def _run_loss(fn, W, X, y, reg, *, context="", hint=None):
    """Call ``fn(W, X, y, reg)``; return the validated ``(loss, dW)``. hint: the Mistake
    for a non-finite result on this input (an overflow test)."""
    # Copies: in the student's kernel a function that modifies its input must not corrupt
    # the stored cases or the arrays later steps reuse (call() still reports it).
    result = as_tuple(call(fn, W.copy(), X.copy(), y.copy(), reg, names=("W", "X", "y", "reg")),
                      label_of(fn), 2, ("loss", "dW"))
    loss = _finite_loss(result[0], context, hint)
    dW = as_array(result[1], "dW", shape=W.shape, finite=False)
    if not np.all(np.isfinite(dW)):
        fail(f"dW contains {int((~np.isfinite(dW)).sum())} non-finite values {context}.",
             hint=hint or Mistake("non-finite", MISTAKES.get(
                 "non-finite", "overflow or division by zero (inf or nan)"),
                 "an overflow in exp, or a division by zero?"))
    return loss, dW


def _expect(got, expected, name, **kwargs):
    """expect_close, naming float32 when the values agree to single precision only."""
    try:
        expect_close(got, expected, name, **kwargs)
    except CheckFailed as exc:
        got_a, exp_a = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
        if exc.hint is None and got_a.shape == exp_a.shape and np.allclose(
                got_a, exp_a, rtol=1e-5, atol=1e-7):
            exc.hint, exc.mistake = LOW_PRECISION, LOW_PRECISION.id
        raise


def _describe(W, X, reg) -> str:
    N, D = X.shape
    return f"(N={N}, D={D}, C={W.shape[1]}, reg={reg:g})"


def _onehot(y, C):
    Y = np.zeros((len(y), C))
    Y[np.arange(len(y)), y] = 1.0
    return Y


def _reg_grad(W, reg, c):
    """The regularization gradient of convention c (1: reg*sum(W*W), 0.5: CS231n's)."""
    return 2 * c * reg * W


def _row_sum_hint(kind, dW, W, reg, c):
    if kind != "svm":
        return None
    data = dW - _reg_grad(W, reg, c)
    scale = max(1e-12, float(np.abs(data).max()))
    return SVM_CORRECT_GRAD if np.abs(data.sum(axis=1)).max() > 1e-6 * scale else None


def _loss_hints(kind, N, data_loss, R, c, per_example=None):
    hints = {}
    if kind == "svm":
        hints[SVM_COUNTS_CORRECT] = data_loss + 1 + c * R
    if N > 1:
        hints[NO_1_OVER_N] = N * data_loss + c * R
    if per_example is not None and N > 32:
        hints[MISSING_ROWS] = float(np.sum(per_example[:32])) / N + c * R
        hints[Mistake("missing-rows", MISSING_ROWS.title,
                      "only the first 32 examples count (averaged over 32): every one of the "
                      "N examples must, however many there are")] = \
            float(np.mean(per_example[:32])) + c * R
    hints[NO_REG_LOSS] = data_loss
    hints[REG_LOSS_TWICE] = data_loss + 2 * c * R
    return hints


def _grad_hints(kind, W, X, y, reg, data_dW, c):
    N, C = len(y), W.shape[1]
    hints = {
        NO_REG_GRAD: data_dW,
        REG_GRAD_TWICE: data_dW + 2 * _reg_grad(W, reg, c),
        GRADIENT_SIGN: -data_dW + _reg_grad(W, reg, c),
    }
    if N > 1:
        hints[GRAD_NO_1_OVER_N] = N * data_dW + _reg_grad(W, reg, c)
    if kind == "softmax":
        hints[SOFTMAX_NO_MINUS_1] = data_dW + X.T @ _onehot(y, C) / N + _reg_grad(W, reg, c)
    return hints


def _numerical_hints(W, reg, N, c):
    hints = {
        NO_REG_GRAD: lambda num, take: num - _reg_grad(take(W), reg, c),
        REG_GRAD_TWICE: lambda num, take: num + _reg_grad(take(W), reg, c),
        GRADIENT_SIGN: lambda num, take: -num + 2 * _reg_grad(take(W), reg, c),
    }
    if N > 1:
        hints[GRAD_NO_1_OVER_N] = (lambda num, take: N * (num - _reg_grad(take(W), reg, c))
                                   + _reg_grad(take(W), reg, c))
    return hints


def _gradient_check(fn, kind, W, X, y, reg, dW, rng, context, c, num_checks=None):
    """dW against numerical gradients of the student's own loss at (W, X, y, reg)."""
    try:  # copies: a function that changes its input must not change the stored cases
        check_gradient(fn, (W.copy(), X.copy(), y.copy(), reg), 0, dW, "dW", output=loss_of,
                       rng=rng, num_checks=num_checks,
                       hints=_numerical_hints(W, reg, len(y), c))
    except CheckFailed as exc:
        exc.message = exc.message.replace("forward pass", f"loss {context}", 1)
        exc.args = (exc.message,)
        hint = _row_sum_hint(kind, dW, W, reg, c)
        if hint is not None and not isinstance(exc.hint, Mistake):
            exc.hint, exc.mistake = hint, hint.id
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
              (int(rng.integers(2, 12)), int(rng.integers(2, 8)), 2),
              (int(rng.integers(100, 130)), int(rng.integers(3, 8)), 10)]
    while len(shapes) < count:
        shapes.append((int(rng.integers(5, 40)), int(rng.integers(3, 30)),
                       int(rng.integers(3, 11))))
    return shapes


# --------------------------------------------------------------------------- loss checks

_CONVENTION = {1.0: "reg * np.sum(W * W)", 0.5: "0.5 * reg * np.sum(W * W)"}
_GRAD_CONVENTION = {1.0: "2 * reg * W", 0.5: "reg * W"}


def _reg_convention(fn, W, X, y, reg, context) -> float:
    """1.0 or 0.5: which regularization the student's loss adds (measured as the change of
    loss and dW between reg and reg = 0, so the data part cancels); fails when the loss
    has neither or the gradient does not match the loss."""
    loss, dW = _run_loss(fn, W, X, y, reg, context=context)
    loss0, dW0 = _run_loss(fn, W, X, y, 0.0, context=context)
    R = reg * float(np.sum(W * W))
    d_loss, d_grad = loss - loss0, dW - dW0

    def which(got, unit):
        for c in (1.0, 0.5):
            if np.allclose(got, c * unit, rtol=1e-6, atol=1e-10):
                return c
        return None

    c_loss, c_grad = which(d_loss, R), which(d_grad, 2 * reg * W)
    where = f"{context}: between reg = {reg:g} and reg = 0"
    if c_loss is None:
        hint = (NO_REG_LOSS if np.isclose(d_loss, 0.0, atol=1e-10) else
                REG_LOSS_TWICE if np.isclose(d_loss, 2 * R, rtol=1e-6, atol=1e-10) else None)
        fail(f"the loss changed by {fmt(d_loss)} {where}; the regularization term "
             f"reg * np.sum(W * W) is {fmt(R)} (or {fmt(R / 2)} with CS231n's 0.5 * reg).",
             hint=hint)
    if c_grad is None:
        unit = _reg_grad(W, reg, c_loss)
        hint = (NO_REG_GRAD if np.allclose(d_grad, 0.0, atol=1e-10) else
                REG_GRAD_TWICE if np.allclose(d_grad, 2 * unit, rtol=1e-6, atol=1e-10) else
                GRADIENT_SIGN if np.allclose(d_grad, -unit, rtol=1e-6, atol=1e-10) else None)
        i, j = np.unravel_index(int(np.argmax(np.abs(d_grad - _reg_grad(W, reg, c_loss)))),
                                W.shape)
        fail(f"dW changed by {fmt(d_grad[i, j])} at [{i}, {j}] {where}; with your loss's "
             f"{_CONVENTION[c_loss]} it must change by {_GRAD_CONVENTION[c_loss]} = "
             f"{fmt(_reg_grad(W, reg, c_loss)[i, j])} there.", hint=hint)
    if c_grad != c_loss:
        fail(f"your loss adds {_CONVENTION[c_loss]} but your gradient adds "
             f"{_GRAD_CONVENTION[c_grad]} ({where}).", hint=REG_MISMATCH)
    return c_loss


def _check_stored(fn, kind, case, c):
    s = stored_cases()[kind, case]
    W, X, y, reg = s["W"], s["X"], s["y"], s["reg"]
    context = f"on the stored {case!r} case {_describe(W, X, reg)}"
    loss, dW = _run_loss(fn, W, X, y, reg, context=context)
    R = reg * float(np.sum(W * W))
    _expect(loss, s["data_loss"] + c * R, "loss", rtol=1e-7, context=context,
                 hints=_loss_hints(kind, len(y), s["data_loss"], R, c, s["data_losses"]))
    try:
        _expect(dW, s["data_dW"] + _reg_grad(W, reg, c), "dW", rtol=1e-7, atol=1e-10,
                     context=context, hints=_grad_hints(kind, W, X, y, reg, s["data_dW"], c))
    except CheckFailed as exc:
        hint = _row_sum_hint(kind, dW, W, reg, c)
        if hint is not None and not isinstance(exc.hint, Mistake):
            exc.hint, exc.mistake = hint, hint.id
        raise
    return loss, dW


def _check_precision(fn, kind, c):
    """The stored 'batch' case to 3e-8: float32 anywhere shows."""
    s = stored_cases()[kind, "batch"]
    W, X, y, reg = s["W"], s["X"], s["y"], s["reg"]
    loss, dW = _run_loss(fn, W, X, y, reg)
    expected = s["data_loss"] + c * reg * float(np.sum(W * W))
    # float32 loses about 1e-7 of the value; float64 done in another order, or a -log(p +
    # 1e-10) guard, loses far less.
    if not np.isclose(loss, expected, rtol=3e-8, atol=1e-12):
        fail(f"loss is {loss!r} on the stored 'batch' case {_describe(W, X, reg)}; float64 "
             f"gives {expected!r}.", hint=LOW_PRECISION)


def _check_zero_W(fn, kind, rng, N, D, C):
    X = rng.standard_normal((N, D))
    y = rng.integers(0, C, N)
    W = np.zeros((D, C))
    context = f"with W = 0 {_describe(W, X, 0.1)}"
    loss, _ = _run_loss(fn, W, X, y, 0.1, context=context)
    if kind == "svm":
        expected = C - 1.0
        why = "every score is 0, so each of the C - 1 wrong classes has margin 0 - 0 + 1 = 1"
        hints = {SVM_COUNTS_CORRECT: float(C), HINGE_NO_DELTA: 0.0}
    else:
        expected = float(np.log(C))
        why = "every class gets probability 1/C, so each example's loss is -log(1/C) = log C"
        hints = {Mistake("log10", "log10 instead of the natural log",
                         "use the natural logarithm, np.log, not log10"): np.log10(C),
                 Mistake("softmax-loss-sign", "the loss has the wrong sign",
                         "the loss is -log p of the correct class, which is positive"):
                     -float(np.log(C))}
        if N != C:
            hints[SOFTMAX_WRONG_AXIS] = float(np.log(N))
    if N > 1:
        hints[NO_1_OVER_N] = N * expected
    try:
        _expect(loss, expected, "loss", rtol=1e-9, context=context, hints=hints)
    except CheckFailed as exc:
        exc.message += f" ({why}.)"
        exc.args = (exc.message,)
        raise


def _check_reg_identity(fn, W, X, y, reg, context, c):
    loss, _ = _run_loss(fn, W, X, y, reg, context=context)
    loss0, _ = _run_loss(fn, W, X, y, 0.0, context=context)
    R = reg * float(np.sum(W * W))
    expect_close(loss - loss0, c * R, "loss(reg) - loss(reg=0)", rtol=1e-7, atol=1e-10,
                 context=f"{context}, which must be {_CONVENTION[c]}",
                 hints={NO_REG_LOSS: 0.0, REG_LOSS_TWICE: 2 * c * R})


def _check_repeated_data(fn, W, X, y, reg, context, c):
    loss, dW = _run_loss(fn, W, X, y, reg, context=context)
    X2, y2 = np.vstack([X, X]), np.concatenate([y, y])
    loss2, dW2 = _run_loss(fn, W, X2, y2, reg, context=context)
    R = c * reg * float(np.sum(W * W))
    expect_close(loss2, loss, "loss on the data set repeated twice", rtol=1e-9, atol=1e-12,
                 context=f"{context} (an average must not change)", hints={
                     Mistake("no-1-over-N", NO_1_OVER_N.title, "the data loss doubled: divide "
                             "by N, the number of examples"): 2 * (loss - R) + R})
    expect_close(dW2, dW, "dW on the data set repeated twice", rtol=1e-8, atol=1e-12,
                 context=f"{context} (an average must not change)", hints={
                     Mistake("gradient-no-1-over-N", GRAD_NO_1_OVER_N.title,
                             "the data gradient doubled: divide it by N, the number of "
                             "examples"): 2 * (dW - _reg_grad(W, reg, c)) + _reg_grad(W, reg, c)})


def _check_shifted_scores(fn, kind, W, X, y, offsets, context, hint=None):
    """Adding offsets[i] to every score of example i changes neither loss nor gradient.

    Done with one extra input column holding the offsets and a row of ones in W; reg = 0.
    hint: the Mistake an overflow or a changed loss points to.
    """
    loss, dW = _run_loss(fn, W, X, y, 0.0, context=context)
    Xs = np.hstack([X, offsets[:, None]])
    Ws = np.vstack([W, np.ones((1, W.shape[1]))])
    where = (f"{context}, reg = 0, after adding a constant of magnitude up to "
             f"{fmt(float(np.abs(offsets).max()))} to all the scores of each example")
    loss_s, dW_s = _run_loss(fn, Ws, Xs, y, 0.0, context=where, hint=hint)
    if not np.isclose(loss_s, loss, rtol=1e-7, atol=1e-9):
        fail(f"loss changed {where}: {fmt(loss_s)} instead of {fmt(loss)}. Only score "
             "differences matter to this loss.", hint=hint)
    expect_close(dW_s[:-1], dW, "dW (rows of the original features)", rtol=1e-6, atol=1e-8,
                 context=where)


def _spread_dW_hints(kind, right, X, labels):
    N = len(labels)
    hints = {GRADIENT_SIGN: -right}
    if N > 1:
        hints[GRAD_NO_1_OVER_N] = N * right
    if kind == "softmax":
        onehot = X.T @ _onehot(labels, 4)
        hints[SOFTMAX_NO_MINUS_1] = right + onehot / N
        every_row = X.T @ np.tile(_onehot(labels, 4).any(axis=0), (N, 1))
        if N > 1:
            hints[Mistake("softmax-minus-1-every-row", "the -1 subtracted in every row",
                          "the 1 was subtracted in every row, at every label's column: "
                          "subtract it only at each example's own label, "
                          "dscores[np.arange(N), y] -= 1")] = right + (onehot - every_row) / N
    return hints


def _check_spread(fn, kind):
    """The hand-made table with spreads of 700-720 between classes and a row of zeros."""
    context = ("on a hand-made table of scores with spreads of 700 to 720 between classes "
               "(X = rows of the identity, W = the score table, reg = 0)")
    if kind == "svm":
        X = np.eye(4)
        loss, dW = _run_loss(fn, SPREAD_SCORES, X, SPREAD_LABELS, 0.0, context=context)
        _expect(loss, SPREAD_SVM_LOSS, "loss", rtol=1e-9, context=context)
        _expect(dW, SPREAD_SVM_DW, "dW", rtol=1e-9, atol=1e-12, context=context,
                hints=_spread_dW_hints(kind, SPREAD_SVM_DW, X, SPREAD_LABELS))
        return
    X, labels = np.eye(4)[:1], np.array([0])
    where = context.replace("a hand-made table", "image 0 of a hand-made table (its class 1 "
                            "scores 720 above its class 0)")
    _, dW = _run_loss(fn, SPREAD_SCORES, X, labels, 0.0, context=where,
                      hint=CORRECT_CLASS_SHIFT)
    _expect(dW, SPREAD_SOFTMAX_ROW0_DW, "dW", rtol=1e-9, atol=1e-12, context=where,
            hints=_spread_dW_hints(kind, SPREAD_SOFTMAX_ROW0_DW, X, labels))
    X = np.eye(4)[1:]
    where = context.replace("a hand-made table", "images 1-3 of a hand-made table")
    loss, dW = _run_loss(fn, SPREAD_SCORES, X, SPREAD_SOFTMAX_LABELS, 0.0, context=where,
                         hint=CORRECT_CLASS_SHIFT)
    _expect(loss, SPREAD_SOFTMAX_LOSS, "loss", rtol=1e-9, context=where)
    _expect(dW, SPREAD_SOFTMAX_DW, "dW", rtol=1e-9, atol=1e-12, context=where,
            hints=_spread_dW_hints(kind, SPREAD_SOFTMAX_DW, X, SPREAD_SOFTMAX_LABELS))


def _check_responds(fn):
    """A cached or hard-coded result: the loss must move when W moves."""
    s = stored_cases()["svm", "small"]
    expect_responds(fn, (s["W"].copy(), s["X"].copy(), s["y"].copy(), s["reg"]),
                    (2 * s["W"] + 0.5, s["X"].copy(), s["y"].copy(), s["reg"]), "loss",
                    output=loss_of, what="W")


def _check_vectorized(fn, kind):
    """No Python loop over the examples: the student's steps must not grow with N."""
    rng = np.random.default_rng(7)
    W, X, y = _random_case(rng, kind, 100, 6, 5)
    expect_vectorized(fn, lambda n: (W.copy(), X[:n].copy(), y[:n].copy(), 0.1),
                      label_of(fn), over="the examples")


def _loss_body(ctx, fn, kind, vectorized):
    _check_responds(fn)
    if kind == "svm":
        _check_lecture(fn)
    _check_zero_W(fn, kind, ctx.rng, 5, 4, 3)
    s = stored_cases()[kind, "small"]
    c = _reg_convention(fn, s["W"], s["X"], s["y"], s["reg"], "on the stored 'small' case")
    # A line for the pass message (as in two_layer_net; shown where the framework shows notes)
    ctx.note = "regularization convention found: " + (
        "0.5 * reg * sum(W*W), gradient reg * W (CS231n's)" if c == 0.5 else
        "reg * sum(W*W), gradient 2 * reg * W")
    if kind == "softmax":
        offsets = ctx.rng.uniform(900, 1100, len(s["y"]))
        _check_shifted_scores(fn, kind, s["W"], s["X"], s["y"], offsets,
                              "on the stored 'small' case", hint=NO_MAX_SHIFT)
        _check_shifted_scores(fn, kind, s["W"], s["X"], s["y"], _big_offsets(ctx.rng, len(
            s["y"])), "on the stored 'small' case", hint=GLOBAL_MAX_SHIFT)
    _check_spread(fn, kind)
    for case in ("small", "single", "batch") + (("binary",) if ctx.hidden else ()):
        _check_stored(fn, kind, case, c)
    _check_precision(fn, kind, c)
    _, dW = _run_loss(fn, s["W"], s["X"], s["y"], s["reg"])
    _gradient_check(fn, kind, s["W"], s["X"], s["y"], s["reg"], dW, ctx.rng,
                    "on the stored 'small' case", c)
    if vectorized:
        _check_vectorized(fn, kind)
    if not ctx.hidden:
        return
    for N, D, C in _random_shapes(ctx.rng, 4):
        _check_zero_W(fn, kind, ctx.rng, N, D, C)
        W, X, y = _random_case(ctx.rng, kind, N, D, C)
        reg = float(ctx.rng.uniform(0.01, 1.0))
        context = f"on a random case {_describe(W, X, reg)}"
        _check_reg_identity(fn, W, X, y, reg, context, c)
        _check_repeated_data(fn, W, X, y, reg, context, c)
        offsets = _big_offsets(ctx.rng, N) if N > 1 else np.array([-1e3])
        if kind == "svm":
            offsets = ctx.rng.uniform(-1e3, 1e3, N)
        _check_shifted_scores(fn, kind, W, X, y, offsets, context,
                              hint=GLOBAL_MAX_SHIFT if kind == "softmax" else None)
        _, dW = _run_loss(fn, W, X, y, reg, context=context)
        # Each entry checked costs two calls: fewer on the 100+ example case.
        _gradient_check(fn, kind, W, X, y, reg, dW, ctx.rng, context, c,
                        num_checks=24 if N < 100 else 6)


def _check_lecture(fn):
    """The lecture's example: X = identity, so the scores are W itself."""
    context = "on the lecture's cat/car/frog scores (X = identity, W = the score table, reg = 0)"
    loss, dW = _run_loss(fn, LECTURE_SCORES, np.eye(3), LECTURE_LABELS, 0.0, context=context)
    _expect(loss, LECTURE_HINGE.mean(), "loss", rtol=1e-9, context=context, hints={
        SVM_COUNTS_CORRECT: LECTURE_HINGE.mean() + 1,
        Mistake("no-1-over-N", NO_1_OVER_N.title,
                "your loss is 3 times too large: divide the sum by N"): LECTURE_HINGE.sum(),
        HINGE_NO_DELTA: 12.8 / 3,
        HINGE_SWAPPED: 14.4 / 3,
        HINGE_NO_MAX: 7.4 / 3,
    })
    try:
        _expect(dW, LECTURE_DW, "dW", rtol=1e-9, context=context, hints={
            Mistake("gradient-no-1-over-N", GRAD_NO_1_OVER_N.title,
                    "the data gradient must be divided by N too"): 3 * LECTURE_DW,
            GRADIENT_SIGN: -LECTURE_DW})
    except CheckFailed as exc:
        hint = _row_sum_hint("svm", dW, LECTURE_SCORES, 0.0, 1.0)
        if hint is not None and not isinstance(exc.hint, Mistake):
            exc.hint, exc.mistake = hint, hint.id
        raise


@register("svm_loss_naive", "multiclass SVM loss and gradient, with loops")
def _(ctx, svm_loss_naive):
    _loss_body(ctx, svm_loss_naive, "svm", vectorized=False)


@register("svm_loss_vectorized", "multiclass SVM loss and gradient, without loops")
def _(ctx, svm_loss_vectorized):
    _loss_body(ctx, svm_loss_vectorized, "svm", vectorized=True)


@register("softmax_loss_naive", "softmax (cross-entropy) loss and gradient, with loops")
def _(ctx, softmax_loss_naive):
    _loss_body(ctx, softmax_loss_naive, "softmax", vectorized=False)


@register("softmax_loss_vectorized", "softmax (cross-entropy) loss and gradient, no loops")
def _(ctx, softmax_loss_vectorized):
    _loss_body(ctx, softmax_loss_vectorized, "softmax", vectorized=True)


def _big_offsets(rng, N):
    """Offsets of magnitude ~1e3 with both signs: unshifted exp overflows on the positive
    rows and underflows on the negative ones; one global maximum zeroes the negative rows."""
    signs = np.where(np.arange(N) % 2 == 0, 1.0, -1.0)
    return signs * rng.uniform(900, 1100, N)


# --------------------------------------------------------------------------- naive == vectorized

def _agreement(ctx, naive, vectorized, kind):
    shapes = [(int(ctx.rng.integers(33, 60)), int(ctx.rng.integers(10, 40)),
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
        disagree = Mistake("naive-vectorized-disagree", "naive and vectorized versions disagree",
                           advice)
        if not np.isclose(loss_v, loss_n, rtol=1e-9, atol=1e-12):
            fail(f"{label_of(naive)} and {label_of(vectorized)} disagree {context}: loss "
                 f"{fmt(loss_n)} vs {fmt(loss_v)}.", hint=disagree)
        err = np.abs(dW_v - dW_n) - 1e-7 * np.abs(dW_n)
        if np.any(err > 1e-10):
            worst = np.unravel_index(int(np.argmax(err)), err.shape)
            fail(f"{label_of(naive)} and {label_of(vectorized)} disagree {context}: dW at "
                 f"[{worst[0]}, {worst[1]}] is {fmt(dW_n[worst])} vs {fmt(dW_v[worst])} "
                 f"({int((err > 1e-10).sum())} of {err.size} entries differ).", hint=disagree)


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
                     Mistake("hinge-counts-correct-class", "the correct class counted in the "
                             "hinge sum", "each is 1 too large: skip the correct class "
                             "(j == y_i) in the sum"): LECTURE_HINGE + 1,
                     Mistake("hinge-max-not-sum", "the largest margin instead of the sum",
                             "the SVM loss sums the hinge over all wrong classes; you took the "
                             "largest one only"): np.array([2.9, 0.0, 6.6]),
                     HINGE_NO_DELTA: np.array([1.9, 0.0, 10.9]),
                     HINGE_SWAPPED: np.array([5.9, 8.5, 0.0]),
                     HINGE_NO_MAX: np.array([-1.0, -4.5, 12.9]),
                     Mistake("hinge-wrong-axis", "margins summed over images, not classes",
                             "these are sums over the images (columns, axis=0): each image's "
                             "loss sums its row, axis=1"): np.array([6.3, 9.5, 0.0]),
                 })
    expect_close(as_float(mean_loss, "the mean loss"), LECTURE_HINGE.mean(), "the mean loss",
                 rtol=1e-6, hints={Mistake("sum-not-mean", "the sum instead of the mean",
                                           "that is the sum; the loss is the mean over the 3 "
                                           "images"): LECTURE_HINGE.sum()})


@register("softmax_loss_example", "the softmax probabilities and loss of the lecture's cat image")
def _(ctx, probs, loss):
    got = as_array(probs, "the probabilities", shape=(3,))
    column = LECTURE_SCORES[:, 0]
    expect_close(got, LECTURE_CAT_PROBS, "the probabilities (cat, car, frog)", rtol=1e-6,
                 atol=1e-8, hints={
                     Mistake("softmax-not-normalised", "exponentials not divided by their sum",
                             "these are the exponentials; divide them by their sum"):
                         LECTURE_CAT_EXP,
                     Mistake("softmax-no-exp", "scores normalised without exponentiating",
                             "you normalised the scores themselves; exponentiate first"):
                         LECTURE_SCORES[0] / LECTURE_SCORES[0].sum(),
                     Mistake("softmax-column-not-row", "a column of the score table instead "
                             "of the cat image's row", "these come from the column scores[:, 0]"
                             " (the cat class's score of every image); the cat image's scores "
                             "are its row, scores[0]"): np.exp(column) / np.exp(column).sum(),
                 })
    expect_close(as_float(loss, "the loss"), LECTURE_CAT_LOSS, "the loss", rtol=1e-6, hints={
        Mistake("softmax-wrong-class", "-log p of another class than the correct one",
                "the loss is -log of the probability of the correct class (cat), not of the "
                "winner"): -np.log(LECTURE_CAT_PROBS[1]),
        Mistake("softmax-loss-sign", "the loss has the wrong sign",
                "it has the wrong sign: the loss is -log p, which is positive"):
            -LECTURE_CAT_LOSS,
        Mistake("log10", "log10 instead of the natural log",
                "use the natural logarithm, np.log, not log10"): LECTURE_CAT_LOSS / np.log(10),
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
    shapes = [(40, 10, 3)] if not ctx.hidden else [
        (1, 2, 1), (int(ctx.rng.integers(100, 130)), 10, 4),
        (int(ctx.rng.integers(5, 30)), int(ctx.rng.integers(2, 11)), 4)]
    for N, C, extra in shapes:
        X, W, expected = _labelled_problem(ctx.rng, N, C, extra)
        model = _instance(cls)
        set_attr(model, "W", W.copy())
        raw = materialize(call(_method(model, cls, "predict"), X.copy(), names=("X",)))
        if type(raw) is np.ndarray and raw.shape == (C,) and N != C:
            fail(f"predict(X) has shape {raw.shape}, one label per class; expected ({N},), "
                 "one per example.", hint=Mistake(
                     "argmax-wrong-axis", "argmax over the examples instead of the classes",
                     "take the argmax over the classes, axis=1"))
        if type(raw) is np.ndarray and raw.shape == (N, C):
            fail(f"predict(X) has shape {raw.shape}: those are the scores; expected ({N},), "
                 "one label per example.", hint=Mistake(
                     "scores-not-labels", "the scores instead of the labels",
                     "return the class with the highest score, np.argmax(scores, axis=1)"))
        if type(raw) is np.ndarray and raw.ndim == 1 and 0 < len(raw) < N:
            fail(f"predict(X) returned {len(raw)} labels for {N} examples.",
                 hint=MISSING_ROWS)
        got = as_array(raw, "predict(X)", shape=(N,), kind="int")
        context = f"for X of shape {X.shape} and W of shape {W.shape}"
        expect_equal(got, expected, "predict(X)", context=context, hints={
            Mistake("argmin", "the lowest score instead of the highest",
                    "these are the classes with the lowest score: np.argmax, not np.argmin"):
                np.argmin(X @ W, axis=1)})
        after = as_array(get_attr(model, "W"), "self.W after predict", shape=W.shape)
        expect_close(after, W, "self.W after predict", context="(predict must not change W)",
                     hints={Mistake("predict-changes-W", "predict changes self.W",
                                    "predict must leave self.W as it is: compute the scores "
                                    "into a new array"): after})


_FIX_LOSS_FIRST = "fix-loss-first"


def _loss_oracle(cls, W, X, y, reg):
    """(loss, dW) of the class's own loss method at W: the reference for what each step of
    train must do, whatever that loss computes (it must run, be finite and have dW shaped
    like W)."""
    model = _instance(cls)
    set_attr(model, "W", W.copy())
    label = f"{label_of(cls)}.loss"
    try:
        result = call(_method(model, cls, "loss"), X.copy(), y.copy(), reg,
                      names=("X_batch", "y_batch", "reg"))
    except NotImplementedYet:
        raise NotImplementedYet(
            f"{label} still raises NotImplementedError: it calls your vectorized "
            "loss function, which is not implemented yet. Finish that exercise first, run its "
            "cell, then run this check again.") from None
    if materialize(result) is None:
        fail(f"{label} returned None. This check trains a classifier, so pass it "
             "a class whose loss works: LinearSVM or Softmax (LinearClassifier leaves loss to "
             "its subclasses).")
    try:
        loss, dW = as_tuple(result, label, 2, ("loss", "dW"))
        loss, dW = as_float(loss, "loss"), as_array(dW, "dW", shape=W.shape)
    except CheckFailed as exc:
        raise CheckFailed(
            f"this check measures train against your own {label}, which does not work yet: "
            f"{exc.message}", hint=Mistake(
                _FIX_LOSS_FIRST, "the classifier's loss function is broken (fix it first)",
                "fix the loss function's own check first, then run this one again"),
        ) from None
    return loss, dW


def _train(cls, model, X, y, **kwargs):
    history = call(_method(model, cls, "train"), X.copy(), y.copy(), names=("X", "y"),
                   **kwargs)
    values = materialize(history)
    if values is None:
        fail(f"{label_of(cls)}.train returned None: return loss_history, the list of the "
             "losses of every iteration.", hint=Mistake(
                 "no-history", "train returns no loss history",
                 "end train with return loss_history"))
    values = as_list(values, "loss_history")
    n = kwargs["num_iters"]
    if len(values) != n:
        fail(f"{label_of(cls)}.train returned {len(values)} losses for num_iters={n}: "
             "append one loss per iteration.")
    return np.array([as_float(v, f"loss_history[{i}]") for i, v in enumerate(values)])


def _check_history_and_init(ctx, cls):
    N, D = 40, 6
    C = int(ctx.rng.integers(2, 11)) if ctx.hidden else 10
    X = ctx.rng.standard_normal((N, D))
    y = np.arange(N) % C
    model = _instance(cls)
    try:
        _train(cls, model, X, y, learning_rate=1e-3, reg=1e-5, num_iters=7, batch_size=10)
    except CheckFailed:
        W = materialize(get_attr(model, "W"))
        if type(W) is np.ndarray and W.ndim == 2 and W.shape != (D, C):
            fail(f"train created self.W of shape {W.shape} for {D} features and labels 0 to "
                 f"{C - 1}; it must be ({D}, {C}).", hint=Mistake(
                     "w-shape", "train creates W with the wrong shape",
                     "one row per feature and one column per class: "
                     "num_classes = np.max(y) + 1"))
        raise
    W = materialize(get_attr(model, "W"))
    if W is None:
        fail(f"self.W is still None after {label_of(cls)}.train: initialise it (small random "
             "numbers of shape (D, C)) when it is None.")
    as_array(W, "self.W after training", shape=(D, C))


def _trajectory(cls, W0, X, y, lr, reg, steps, *, momentum=0.0, decay=False):
    """W after each of ``steps`` updates on the fixed batch (X, y), by the class's own loss:
    SGD, or (to name a mistake) momentum or a learning rate shrinking as lr / (t + 1)."""
    Ws, losses, v = [W0], [], np.zeros_like(W0)
    for t in range(steps):
        loss, dW = _loss_oracle(cls, Ws[-1], X, y, reg)
        losses.append(loss)
        step = lr / (t + 1) if decay else lr
        v = momentum * v - step * dW
        Ws.append(Ws[-1] + v)
    return Ws, losses


def _check_sgd_step(ctx, cls):
    """Identical examples make every mini-batch the same, so each step is predictable."""
    D, C = (5, 3) if not ctx.hidden else (int(ctx.rng.integers(2, 8)),
                                          int(ctx.rng.integers(2, 6)))
    N, batch, reg = 12, 4, 0.1
    lr = 0.05 if not ctx.hidden else float(ctx.rng.uniform(0.01, 0.1))
    X = np.tile(ctx.rng.standard_normal(D), (N, 1))
    y = np.full(N, C - 1)  # so that C = max(y) + 1 (a train that re-creates W shows)
    W0 = 0.5 * ctx.rng.standard_normal((D, C))
    Ws, losses = _trajectory(cls, W0, X[:batch], y[:batch], lr, reg, 3)
    g0 = (W0 - Ws[1]) / lr
    model = _instance(cls)
    set_attr(model, "W", W0.copy())
    hist = _train(cls, model, X, y, learning_rate=lr, reg=reg, num_iters=1, batch_size=batch)
    W1 = as_array(get_attr(model, "W"), "self.W", shape=W0.shape)
    context = (f"after one step with learning_rate={lr:g} from a W you did not choose "
               "(every example identical, so every mini-batch has the same gradient dW)")
    no_reg = W0 - lr * _loss_oracle(cls, W0, X[:batch], y[:batch], 0.0)[1]
    hints = {
        Mistake("sgd-uphill", "W moved uphill (+= instead of -=)",
                "W moved uphill: the SGD step is W -= learning_rate * dW"): W0 + lr * g0,
        Mistake("sgd-no-learning-rate", "step not scaled by the learning rate",
                "the step must be scaled by learning_rate: W -= learning_rate * dW"): W0 - g0,
        Mistake("sgd-no-update", "W never updated",
                "W did not change: update self.W inside the loop (self.W -= learning_rate * "
                "dW)"): W0,
        Mistake("ignores-reg", "train does not pass reg on to the loss",
                "this step is what reg = 0 gives: pass reg on, self.loss(X_batch, y_batch, "
                "reg)"): no_reg,
    }
    # One step from a W of tiny random numbers (or zeros) instead of W0: W was re-created.
    fresh = -lr * _loss_oracle(cls, np.zeros_like(W0), X[:batch], y[:batch], reg)[1]
    if not np.allclose(W1, Ws[1], rtol=1e-7, atol=1e-10) and np.allclose(
            W1, fresh, rtol=1e-2, atol=1e-3 * max(1e-12, float(np.abs(fresh).max()))):
        hints = {Mistake("reinitialises-W", "train re-initialises a W it was given",
                         "self.W was replaced by new small random numbers: initialise W only "
                         "when it is None, and keep the W train starts from"): W1}
    expect_close(W1, Ws[1], "self.W", rtol=1e-7, atol=1e-10, context=context, hints=hints)
    expect_close(hist[0], losses[0], "loss_history[0]", rtol=1e-7, context=context, hints={
        Mistake("loss-after-step", "the loss recorded after the update",
                "that is the loss after the step: record the batch's loss before updating "
                "W"): _loss_oracle(cls, Ws[1], X[:batch], y[:batch], reg)[0]})
    model = _instance(cls)
    set_attr(model, "W", W0.copy())
    hist = _train(cls, model, X, y, learning_rate=lr, reg=reg, num_iters=3, batch_size=batch)
    W3 = as_array(get_attr(model, "W"), "self.W", shape=W0.shape)
    context = context.replace("one step", "three steps")
    momentum = _trajectory(cls, W0, X[:batch], y[:batch], lr, reg, 3, momentum=0.9)[0][3]
    decay = _trajectory(cls, W0, X[:batch], y[:batch], lr, reg, 3, decay=True)[0][3]
    expect_close(W3, Ws[3], "self.W", rtol=1e-7, atol=1e-10, context=context, hints={
        Mistake("sgd-momentum", "momentum instead of plain SGD",
                "this is SGD with momentum 0.9: each step also adds 0.9 times the previous "
                "one. Plain SGD uses only this step's gradient: W -= learning_rate * dW"):
            momentum,
        Mistake("sgd-step-size-changes", "the learning rate changes between steps",
                "this is learning_rate / (t + 1) at step t: use the same learning_rate at "
                "every step"): decay,
    })
    expect_close(hist, np.array(losses), "loss_history", rtol=1e-7, context=context)


def _check_batches(ctx, cls):
    """With learning_rate = 0 each recorded loss is the mean over one mini-batch. The data
    has two kinds of example, with per-example losses a and b, so a batch of size B with k
    examples of the second kind has loss a + k (b - a) / B: k must come out an integer.
    B is above 32, so a batch cut to 32 examples shows."""
    D, C = 4, 3
    N, n_hard = 100, 37
    # A prime batch size: an average over any smaller number of examples cannot pass for
    # an average over B (40 would accept batches of 5, 8, 10 or 20).
    B = 37 if not ctx.hidden else int(ctx.rng.choice([41, 43, 47, 53, 59]))
    iters = 30
    for _ in range(100):
        W0 = ctx.rng.standard_normal((D, C))
        rows = ctx.rng.standard_normal((2, D))
        labels = ctx.rng.integers(0, C, 2)
        labels[1] = C - 1
        a = _loss_oracle(cls, W0, rows[:1], labels[:1], 0.0)[0]
        b = _loss_oracle(cls, W0, rows[1:], labels[1:], 0.0)[0]
        if abs(b - a) > 0.05:
            break
    else:
        fail(f"{label_of(cls)}.loss gives the same loss to very different examples, so "
             "mini-batches cannot be told apart: make your loss function's check pass first.",
             hint=Mistake(_FIX_LOSS_FIRST, "the classifier's loss function is broken (fix it "
                          "first)", "fix the loss function's own check first, then run this "
                          "one again"))
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
                 hint=Mistake("full-batch", "the whole training set in every step",
                              "sample batch_size examples each iteration: idx = "
                              "np.random.choice(num_train, batch_size); X_batch = X[idx]"))
        sizes = [s for s in range(1, N + 1) if counts(s) is not None]
        hint = (Mistake("wrong-batch-size", "mini-batches of the wrong size",
                        f"they look like averages over {sizes[0]} examples: each batch must "
                        "have batch_size examples") if sizes else
                Mistake("wrong-batch-size", "mini-batches of the wrong size",
                        "each recorded loss should be the loss of one mini-batch of "
                        "batch_size examples"))
        fail(f"the losses in loss_history are not averages over batch_size={B} examples "
             f"{context}: got {fmt(hist[:6])}...", hint=hint)
    if len(set(counts(B).tolist())) == 1:
        fail(f"every iteration saw the same mini-batch {context}.",
             hint=Mistake("same-batch", "the same mini-batch in every step",
                          "draw a fresh random batch inside the loop, every iteration"))


@register("LinearClassifier.train", "mini-batch SGD: one loss per iteration, W -= lr * dW")
def _(ctx, cls):
    _loss_oracle(cls, np.zeros((3, 2)), np.ones((2, 3)), np.array([0, 1]), 0.0)
    _check_history_and_init(ctx, cls)
    _check_sgd_step(ctx, cls)
    _check_batches(ctx, cls)
