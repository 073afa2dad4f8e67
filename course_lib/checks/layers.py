"""Checks for the modular layers of notebook 05: the affine layer and the loss layers.

``affine_forward(x, w, b) -> (out, cache)``, ``affine_backward(dout, cache) -> (dx, dw, db)``,
``softmax_loss(x, y) -> (loss, dx)`` and ``svm_loss(x, y) -> (loss, dx)``, in CS231n's
conventions. Forward values are compared with results stored from the instructor solution
(``data/two_layer_net.npz``, written by ``autograder/expected/two_layer_net.py``) and, on the
random grading cases, with identities any correct layer satisfies (one-hot inputs pick rows of
``w``; zero scores give log C; shifting a row of scores changes nothing). Gradients are compared
with numerical gradients of the student's own forward pass.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from . import (
    CheckFailed,
    Mistake,
    StudentCodeError,
    as_array,
    as_float,
    as_tuple,
    call,
    check_gradient,
    expect_close,
    expect_responds,
    fail,
    loss_of,
    materialize,
    register,
)

DATA_FILE = Path(__file__).resolve().parent / "data" / "two_layer_net.npz"


@functools.cache
def _load() -> dict[str, np.ndarray]:
    with np.load(DATA_FILE, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def stored() -> dict[str, np.ndarray]:
    """The stored inputs and results of notebook 05's instructor solution (fresh copies: a
    student's function that changes its inputs in place must not change them for later)."""
    return {k: v.copy() for k, v in _load().items()}


def _shape(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


# --------------------------------------------------------------------------- affine layer

BIAS_MISSING = Mistake("no-bias", "bias missing",
                       "the bias is missing: add b (it broadcasts over the N rows)")
BIAS_TWICE = Mistake("bias-twice", "bias added twice", "the bias is added twice")
BIAS_SUBTRACTED = Mistake("bias-subtracted", "bias subtracted", "add b; do not subtract it")
FLATTEN_ORDER = Mistake(
    "flatten-order", "examples flattened in the wrong order",
    "flatten each example in numpy's default (C) order, x.reshape(N, -1): the order of the "
    "D values must match the rows of w (no order='F', no transposing x first)")
FLATTEN_SWAP = Mistake(
    "flatten-order", "examples flattened in the wrong order",
    "x.reshape(D, N).T (or any reshape before moving the example axis) mixes values of "
    "different examples: flatten with x.reshape(N, -1)")
W_TRANSPOSED = Mistake("w-transposed", "w transposed",
                       "use w as it is, (D, M): x_rows @ w, not x_rows @ w.T")
MISSING_ROWS = Mistake(
    "missing-rows", "only some of the N examples used",
    "every one of the N examples needs its row: nothing may be cut to a fixed size (such as "
    "x[:32]) or stop early")


def _rows_or_fail(value, name: str, N: int, ndim: int):
    """Fail when ``value`` is an array of ``ndim`` dimensions whose row count is not N."""
    value = materialize(value)
    if type(value) is np.ndarray and value.ndim == ndim and value.shape[0] != N:
        fail(f"{name} has {value.shape[0]} rows for {N} examples (shape "
             f"{_shape(value.shape)}).", hint=MISSING_ROWS)
    return value


def _affine(affine_forward, x, w, b):
    """The student's ``out`` (validated, (N, M)) and cache for one call."""
    result = call(affine_forward, x, w, b, names=("x", "w", "b"))
    out, cache = as_tuple(result, "affine_forward", 2, ("out", "cache"))
    out = _rows_or_fail(out, "out", x.shape[0], 2)
    return as_array(out, "out", shape=(x.shape[0], w.shape[1])), cache


def _affine_nd(affine_forward, x, w, b):
    """Like :func:`_affine` for x with several dimensions, where a missing reshape shows."""
    try:
        return _affine(affine_forward, x, w, b)
    except StudentCodeError as exc:
        if " raised " not in exc.message.split("\n")[0]:
            raise
        raise CheckFailed(
            f"affine_forward fails for x of shape {_shape(x.shape)} with w of shape "
            f"{_shape(w.shape)}:\n{exc.message}",
            hint=Mistake("no-flatten", "examples not flattened into rows",
                         "each example must be flattened into a row first: x.reshape(N, -1) "
                         f"has shape (N, D) = ({x.shape[0]}, {w.shape[0]}), which multiplies w"),
        ) from None


def _affine_hints(x, w, b, expected) -> dict:
    """What typical mistakes give for this x, w, b (expected: the right out)."""
    N = x.shape[0]
    hints = {BIAS_MISSING: expected - b, BIAS_TWICE: expected + b,
             BIAS_SUBTRACTED: expected - 2 * b}
    if x.ndim > 2 and N > 1:
        hints[FLATTEN_ORDER] = x.reshape(N, -1, order="F") @ w + b
    if N > 1:
        hints[FLATTEN_SWAP] = x.reshape(-1, N).T @ w + b
    if w.shape[0] == w.shape[1]:
        hints[W_TRANSPOSED] = x.reshape(N, -1) @ w.T + b
    return hints


def _onehot_case(rng, N, dims, M):
    """x of shape (N, *dims) whose examples are one-hot: out row i is row k_i of w, plus b."""
    D = int(np.prod(dims))
    ks = rng.integers(0, D, size=N)
    onehot = np.zeros((N, D))
    onehot[np.arange(N), ks] = 1.0
    w, b = rng.standard_normal((D, M)), rng.standard_normal(M)
    return onehot.reshape(N, *dims), w, b, w[ks] + b


@register("affine_forward", "affine layer forward: flatten each example, then x w + b")
def _(ctx, affine_forward):
    s = stored()
    rng = ctx.rng
    # One-hot examples first: a batch above 32 with a square w (a transpose shows as a value
    # there), then a single example.
    cases = [(40, (2, 2), 4), (1, (3, 2), 5)]
    if ctx.hidden:
        cases += [(int(rng.integers(100, 140)), (int(rng.integers(2, 4)), 2, 2), 3),
                  (int(rng.integers(2, 9)), (int(rng.integers(2, 9)),), int(rng.integers(1, 6)))]
    for i, (N, dims, M) in enumerate(cases):
        x, w, b, expected = _onehot_case(rng, N, dims, M)
        out, _ = _affine_nd(affine_forward, x, w, b)
        expect_close(out, expected, "out",
                     context=f"for x of shape {_shape(x.shape)} holding one-hot examples",
                     hints=_affine_hints(x, w, b, expected))
        if i == 0:
            expect_responds(affine_forward, (x, w, b), (np.roll(x, 1, axis=0), w, b), "out",
                            output=_forward_out, what="x")
    x, w, b, expected = s["affine2d_x"], s["affine2d_w"], s["affine2d_b"], s["affine2d_out"]
    out, _ = _affine(affine_forward, x, w, b)
    expect_close(out, expected, "out", context=f"for x of shape {_shape(x.shape)}",
                 hints=_affine_hints(x, w, b, expected))
    # CS231n's case: two examples of shape (4, 5, 6), three outputs.
    x, w, b, expected = s["affine4d_x"], s["affine4d_w"], s["affine4d_b"], s["affine4d_out"]
    out, _ = _affine_nd(affine_forward, x, w, b)
    expect_close(out, expected, "out", context=f"for x of shape {_shape(x.shape)}",
                 hints=_affine_hints(x, w, b, expected))
    if not ctx.hidden:
        return
    for dims in [(int(rng.integers(2, 9)),), (3, 2), (2, 3, 2), (1, 2, 2, 2)]:
        M = int(rng.integers(1, 6))
        N = int(rng.integers(2, 7))
        x = rng.standard_normal((N, *dims))
        w, b = rng.standard_normal((x[0].size, M)), rng.standard_normal(M)
        # Linear in x: f(x + x2) = f(x) + f(x2) - b.
        x2 = rng.standard_normal(x.shape)
        out1, _ = _affine_nd(affine_forward, x, w, b)
        out2, _ = _affine_nd(affine_forward, x2, w, b)
        out12, _ = _affine_nd(affine_forward, x + x2, w, b)
        expect_close(out12, out1 + out2 - b, "out(x + x2)", context=f"for x of shape "
                     f"{_shape(x.shape)}: it should equal out(x) + out(x2) - b")


def _forward_out(result):
    return as_array(as_tuple(result, "affine_forward", 2, ("out", "cache"))[0], "out")


def _gradient_shape(value, name, shape, var, lessons):
    """Validate a gradient's type and shape, with pointed lessons for known wrong shapes."""
    value = materialize(value)
    got = getattr(value, "shape", None)
    if type(value) is np.ndarray and got != tuple(shape):
        for wrong, lesson in lessons.items():
            if got == wrong:
                fail(f"{name} has shape {_shape(got)}, but {var} has shape {_shape(shape)}: "
                     "a gradient always has the shape of its variable.", hint=lesson)
    return as_array(value, name, shape=shape)


@register("affine_backward", "affine layer backward: dx (shaped like x), dw, db")
def _(ctx, affine_forward, affine_backward):
    rng = ctx.rng
    # First a square case (N = D = M): transposes and summing over the wrong axis keep the
    # shapes there, so they show as values with a name; then the usual shapes.
    cases = [((4, 2, 2), 4), ((4, 5), 3), ((3, 2, 4), 6), ((40, 3), 2)]
    if ctx.hidden:
        cases += [((int(rng.integers(2, 6)), 2, 3, 2), int(rng.integers(2, 5))), ((1, 4), 3),
                  ((int(rng.integers(100, 130)), 2), 3)]
    for shape, M in cases:
        N = shape[0]
        D = int(np.prod(shape[1:]))
        x = rng.standard_normal(shape)
        w = rng.standard_normal((D, M))
        b = rng.standard_normal(M)
        dout = rng.standard_normal((N, M))
        _, cache = (_affine_nd if len(shape) > 2 else _affine)(affine_forward, x, w, b)
        result = call(affine_backward, dout, cache, names=("dout", "cache"))
        dx, dw, db = as_tuple(result, "affine_backward", 3, ("dx", "dw", "db"))
        dx = _gradient_shape(dx, "dx", x.shape, "x", {
            (N, D): Mistake("dx-not-reshaped", "dx not reshaped to x's shape",
                            "reshape it back to x's shape: dx.reshape(x.shape)")})
        dw = _gradient_shape(dw, "dw", w.shape, "w", {
            (M, D): Mistake("dw-transposed", "dw transposed",
                            "it looks transposed: dw combines the flattened x (N, D) with "
                            "dout (N, M): x_rows.T @ dout")})
        db = _gradient_shape(db, "db", b.shape, "b", {
            (N,): DB_AXIS,
            (): Mistake("db-summed-all", "db summed over everything",
                        "you summed all of dout; sum over the examples only (axis 0)")})
        rows = x.reshape(N, -1)
        square = D == M
        hints = {
            "dx": {Mistake("dx-uses-w", "dx computed with w, not w.T",
                           "dx = dout @ w.T (reshaped to x's shape): w is (D, M), dout (N, M)"):
                   (dout @ w).reshape(x.shape) if square else None},
            "dw": {Mistake("dw-transposed", "dw transposed",
                           "it looks transposed: dw = x_rows.T @ dout, shape (D, M)"):
                   (dout.T @ rows) if square and N == D else None,
                   Mistake("dw-averaged", "dw divided by N",
                           "dw is a sum over the examples: do not divide it by N"):
                   rows.T @ dout / N if N > 1 else None,
                   MISSING_ROWS: rows[:32].T @ dout[:32] if N > 32 else None},
            "db": {DB_AXIS: dout.sum(axis=1) if N == M else None,
                   Mistake("db-averaged", "db averaged instead of summed",
                           "db must be summed over the examples, not averaged"):
                   dout.mean(axis=0) if N > 1 else None,
                   MISSING_ROWS: dout[:32].sum(axis=0) if N > 32 else None},
        }
        args = (x, w, b)
        for i, (name, grad) in enumerate((("dx", dx), ("dw", dw), ("db", db))):
            check_gradient(affine_forward, args, i, grad, name, output=_forward_out,
                           upstream=dout, rng=rng,
                           num_checks=None if args[i].size <= 40 else 30, hints=hints[name])


DB_AXIS = Mistake("db-wrong-axis", "db summed over the wrong axis",
                  "you summed dout over axis 1 (the outputs); b has one entry per output, so "
                  "sum over the examples, axis 0")


# --------------------------------------------------------------------------- loss layers

def _finite_or_fail(value, name, lesson, hint):
    value = materialize(value)
    if type(value) is np.ndarray and value.dtype.kind == "f":
        bad = not np.all(np.isfinite(value))
    elif isinstance(value, float | np.floating):
        bad = not np.isfinite(value)
    else:
        bad = False
    if bad:
        fail(f"{name} is not finite ({value if np.ndim(value) == 0 else 'nan or inf entries'}) "
             f"{lesson}", hint=hint)
    return value


def _loss_layer(fn, label, x, y, *, lesson="", hint=None):
    """The student's (loss, dx) for scores x and labels y, validated."""
    result = call(fn, x, y, names=("x", "y"))
    loss, dx = as_tuple(result, label, 2, ("loss", "dx"))
    if lesson:
        loss = _finite_or_fail(loss, "loss", lesson, hint)
        dx = _finite_or_fail(dx, "dx", lesson, hint)
    dx = _rows_or_fail(dx, "dx", len(y), 2)
    return as_float(loss, "loss"), as_array(dx, "dx", shape=x.shape)


def _onehot(y, C):
    out = np.zeros((len(y), C))
    out[np.arange(len(y)), y] = 1.0
    return out


def _random_scores(rng, N, C, scale):
    return rng.standard_normal((N, C)) * scale, rng.integers(0, C, size=N)


LOSS_TIMES_N = Mistake("no-1-over-N", "loss not averaged over N",
                       "your loss is N times too large: average over the N examples")
DX_TIMES_N = Mistake("dx-no-1-over-N", "dx not averaged over N",
                     "dx is N times too large: divide it by N as well")


def _per_row_and_batch(ctx, fn, label, x, y, loss, dx):
    """Identities of any per-example-averaged loss: the batch loss is the mean of the losses
    of its parts (single examples when N <= 8, else 8 chunks of rows), and adding a constant
    to a row of scores changes nothing."""
    N = len(y)
    parts = np.array_split(np.arange(N), min(N, 8))
    losses = np.array([_loss_layer(fn, label, x[p], y[p])[0] for p in parts])
    sizes = np.array([len(p) for p in parts])
    what = "one-example losses" if N <= 8 else "losses of 8 chunks of its rows"
    expect_close(loss, float(np.sum(sizes * losses) / N), "loss",
                 context=f"on {N} examples: it should be the mean of the {what}",
                 hints={LOSS_TIMES_N: float(np.sum(losses))})
    shift = ctx.rng.uniform(-5, 5, size=(N, 1))
    loss2, dx2 = _loss_layer(fn, label, x + shift, y)
    context = "after adding a constant to each row of scores (nothing should change)"
    expect_close(loss2, loss, "loss", context=context)
    expect_close(dx2, dx, "dx", context=context)


def _repeated(x, y, copies):
    """The rows of (x, y) repeated ``copies`` times: the mean loss stays, dx is / copies."""
    return np.tile(x, (copies, 1)), np.tile(y, copies)


def _stored_batch(ctx, fn, label, x, y, expected, dx):
    """The stored case repeated to above 32 rows (public) or 100 (grading)."""
    copies = 21 if ctx.hidden else 7
    xs, ys = _repeated(x, y, copies)
    loss, big_dx = _loss_layer(fn, label, xs, ys)
    where = f"on the stored scores repeated {copies} times ({len(ys)} rows)"
    expect_close(loss, expected, "loss", context=where + ": the mean loss should not change",
                 hints={LOSS_TIMES_N: len(ys) * expected}, n=len(ys))
    expect_close(big_dx, np.tile(dx, (copies, 1)) / copies, "dx",
                 context=where + ": each row's gradient is 1/N of that row's own", n=len(ys))


SOFTMAX_SHIFT = Mistake("no-max-shift", "softmax without subtracting the row maximum",
                        "subtract each row's maximum from its scores before np.exp: "
                        "x - x.max(axis=1, keepdims=True) changes no probability")
SOFTMAX_GLOBAL = Mistake("global-max-shift", "softmax shifted by the global maximum",
                         "subtract each row's own maximum (x.max(axis=1, keepdims=True)), not "
                         "the largest score of the whole array: that leaves some rows at "
                         "-4000, where exp underflows to 0 and the log gives -inf")
SOFTMAX_CORRECT = Mistake("correct-class-shift", "softmax shifted by the correct class's score",
                          "subtract each row's MAXIMUM, not the correct class's score: a wrong "
                          "class scoring 720 more still gives exp(720) = inf")


@register("softmax_loss", "softmax loss on scores, averaged over N, and its gradient")
def _(ctx, softmax_loss):
    s = stored()
    x, y, expected = s["softmax_x"], s["softmax_y"], float(s["softmax_loss"])
    N, C = x.shape
    loss, dx = _loss_layer(softmax_loss, "softmax_loss", x, y)
    # Probabilities do not change when a row of scores moves by a constant; a shift by any
    # other constant than a row's own (a column's maximum, say) changes them.
    moved, _ = _loss_layer(softmax_loss, "softmax_loss", x + ctx.rng.uniform(-3, 3, (N, 1)), y)
    if abs(moved - loss) > 1e-9 + 1e-6 * abs(loss):
        fail(f"loss changes from {loss:.6g} to {moved:.6g} when a constant is added to each row "
             "of the stored scores; it should not change.",
             hint=Mistake("not-shift-invariant", "loss changes when a row of scores is shifted",
                          "softmax probabilities stay the same when all scores of a row move "
                          "by the same amount; a shift that differs within a row (a column's "
                          "maximum, x.max(axis=0)) or scores not normalized by the sum over "
                          "their row break that: use x - x.max(axis=1, keepdims=True)"))
    expect_close(loss, expected, "loss", context=f"on the stored {N} x {C} scores", hints={
        LOSS_TIMES_N: N * expected,
        Mistake("loss-sign", "loss sign flipped",
                "the sign is wrong: the loss is MINUS the log-probability of the correct "
                "class"): -expected,
        Mistake("log10", "log10 instead of the natural log", "use the natural logarithm, "
                "np.log"): expected / np.log(10),
    }, n=N)
    onehot = _onehot(y, C)
    check_gradient(softmax_loss, (x, y), 0, dx, "dx", output=loss_of, rng=ctx.rng,
                   num_checks=None, n=N, hints={
        DX_TIMES_N: lambda num, take: N * num,
        Mistake("no-minus-one", "dx without the -1 at the correct class",
                "subtract 1 at the correct class: dx = (probabilities - one_hot(y)) / N"):
            lambda num, take: num + take(onehot) / N,
        Mistake("plus-one", "dx adds 1 at the correct class",
                "SUBTRACT 1 at the correct class: dx = (probabilities - one_hot(y)) / N"):
            lambda num, take: num + 2 * take(onehot) / N,
    })
    _stored_batch(ctx, softmax_loss, "softmax_loss", x, y, expected, dx)
    # Scores of 1000 and more: exp overflows unless each row's maximum is subtracted.
    big_loss, big_dx = _loss_layer(softmax_loss, "softmax_loss", x + 1000.0, y,
                                   lesson="for scores around 1000: np.exp(1000) overflows to "
                                   "inf.", hint=SOFTMAX_SHIFT)
    context = "for the same scores plus 1000 (the loss should not change)"
    expect_close(big_loss, expected, "loss", context=context, rtol=1e-6)
    expect_close(big_dx, dx, "dx", context=context, rtol=1e-5, atol=1e-9)
    rows = 1000.0 * np.arange(N)[:, None]
    far_loss, _ = _loss_layer(softmax_loss, "softmax_loss", x + rows, y,
                              lesson="when rows of scores differ by thousands (row i plus "
                              "1000 * i).", hint=SOFTMAX_GLOBAL)
    expect_close(far_loss, expected, "loss", context="with 1000 * i added to row i", rtol=1e-6)
    # A wrong class 720 above the correct one: exp(720) overflows, so this is right only with
    # each row's maximum taken out; exp(-720) is still above 0 (the smallest is exp(-745)), so
    # probabilities computed before the log are right too.
    spread = x.copy()
    spread[np.arange(N), (y + 1) % C] = spread[np.arange(N), y] + 720.0
    spread_loss, spread_dx = _loss_layer(
        softmax_loss, "softmax_loss", spread, y, hint=SOFTMAX_CORRECT,
        lesson="when a wrong class scores 720 more than the correct one (the loss is about "
        "720 then, but finite).")
    shifted = spread - spread.max(axis=1, keepdims=True)
    context = "for scores with a wrong class 720 above the correct one, compared with the " \
              "same scores minus each row's maximum"
    shifted_loss, shifted_dx = _loss_layer(softmax_loss, "softmax_loss", shifted, y)
    expect_close(spread_loss, shifted_loss, "loss", context=context, rtol=1e-9)
    expect_close(spread_dx, shifted_dx, "dx", context=context, rtol=1e-6, atol=1e-12)
    if not ctx.hidden:
        return
    for N, C in [(int(ctx.rng.integers(2, 12)), int(ctx.rng.integers(2, 12))), (1, 10), (20, 3),
                 (int(ctx.rng.integers(100, 120)), 10)]:
        x, y = _random_scores(ctx.rng, N, C, scale=float(ctx.rng.uniform(0.5, 5)))
        zero_loss, zero_dx = _loss_layer(softmax_loss, "softmax_loss", np.zeros((N, C)), y)
        expect_close(zero_loss, np.log(C), "loss", context=f"for all-zero scores ({C} classes: "
                     "every probability is 1/C, so the loss is log C)", n=N)
        expect_close(zero_dx, (1.0 / C - _onehot(y, C)) / N, "dx",
                     context="for all-zero scores", n=N)
        loss, dx = _loss_layer(softmax_loss, "softmax_loss", x, y)
        _per_row_and_batch(ctx, softmax_loss, "softmax_loss", x, y, loss, dx)
        check_gradient(softmax_loss, (x, y), 0, dx, "dx", output=loss_of, rng=ctx.rng,
                       num_checks=24 if N < 100 else 8, n=N)


def _away_from_hinge(x, y, gap=1e-2):
    """Scores whose margins x[i, j] - x[i, y_i] + 1 all stay at least ``gap`` from 0, so that
    numerical gradients never straddle the hinge."""
    x = x.copy()
    rows = np.arange(len(y))
    margins = x - x[rows, y][:, None] + 1.0
    near = np.abs(margins) < gap
    near[rows, y] = False
    x[near] += 3 * gap
    return x


@register("svm_loss", "multiclass SVM loss on scores, averaged over N, and its gradient")
def _(ctx, svm_loss):
    s = stored()
    x, y, expected = s["svm_x"], s["svm_y"], float(s["svm_loss"])
    N, C = x.shape
    loss, dx = _loss_layer(svm_loss, "svm_loss", x, y)
    expect_close(loss, expected, "loss", context=f"on the stored {N} x {C} scores", hints={
        LOSS_TIMES_N: N * expected,
        Mistake("correct-class-counted", "margin of the correct class not skipped",
                "your loss is 1 too large: skip j == y_i, whose margin is always exactly 1"):
            expected + 1.0,
        Mistake("correct-class-counted-no-1-over-N", "correct class counted, not averaged",
                "your loss is N + ... too large: skip j == y_i (its margin is 1) and average "
                "over N"): N * expected + N,
    }, n=N)
    onehot = _onehot(y, C)
    check_gradient(svm_loss, (x, y), 0, dx, "dx", output=loss_of, rng=ctx.rng,
                   num_checks=None, n=N, hints={
        DX_TIMES_N: lambda num, take: N * num,
        Mistake("no-correct-column", "dx of the correct class missing",
                "the correct-class column is missing: it gets minus the number of positive "
                "margins, divided by N"): lambda num, take: num * (1 - take(onehot)),
        Mistake("mask-ge-0", "every margin counted, not only positive ones",
                "count only the margins above 0 (margins > 0): after max(0, ...) every "
                "margin is >= 0, so '>= 0' counts them all"):
            lambda num, take: take((1.0 - C * onehot) / N),
    })
    _stored_batch(ctx, svm_loss, "svm_loss", x, y, expected, dx)
    # All-zero scores: every wrong class has margin exactly 1 (ties everywhere).
    for n_zero, C_zero in [(3, C)] + ([(1, 10), (int(ctx.rng.integers(100, 120)), 10)]
                                      if ctx.hidden else []):
        yz = ctx.rng.integers(0, C_zero, size=n_zero)
        zero_loss, zero_dx = _loss_layer(svm_loss, "svm_loss", np.zeros((n_zero, C_zero)), yz)
        expect_close(zero_loss, C_zero - 1.0, "loss", context=f"for all-zero scores "
                     f"({C_zero} classes: every wrong class has margin 1, so the loss is C - 1)",
                     n=n_zero, hints={Mistake("correct-class-counted", "margin of the correct "
                                              "class not skipped", "your loss is 1 too large: "
                                              "skip j == y_i, whose margin is always exactly 1"):
                                      float(C_zero)})
        expect_close(zero_dx, (1.0 - C_zero * _onehot(yz, C_zero)) / n_zero, "dx",
                     context="for all-zero scores", n=n_zero)
    if not ctx.hidden:
        return
    for N, C in [(int(ctx.rng.integers(2, 12)), int(ctx.rng.integers(2, 12))), (20, 3),
                 (int(ctx.rng.integers(100, 120)), 10)]:
        x, y = _random_scores(ctx.rng, N, C, scale=float(ctx.rng.uniform(0.3, 3)))
        x = _away_from_hinge(x, y)
        loss, dx = _loss_layer(svm_loss, "svm_loss", x, y)
        _per_row_and_batch(ctx, svm_loss, "svm_loss", x, y, loss, dx)
        check_gradient(svm_loss, (x, y), 0, dx, "dx", output=loss_of, rng=ctx.rng,
                       num_checks=24 if N < 100 else 8, n=N)
