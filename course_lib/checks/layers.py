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
    StudentCodeError,
    as_array,
    as_float,
    as_tuple,
    call,
    check_gradient,
    expect_close,
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

def _affine(affine_forward, x, w, b):
    """The student's ``out`` (validated, (N, M)) and cache for one call."""
    result = call(affine_forward, x, w, b, names=("x", "w", "b"))
    out, cache = as_tuple(result, "affine_forward", 2, ("out", "cache"))
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
            hint="each example must be flattened into a row first: x.reshape(N, -1) has shape "
            f"(N, D) = ({x.shape[0]}, {w.shape[0]}), which multiplies w",
        ) from None


def _affine_hints(expected, b):
    return {
        "the bias is missing: add b (it broadcasts over the N rows)": expected - b,
        "the bias is added twice": expected + b,
    }


def _random_affine_case(rng, dims, M):
    N = int(rng.integers(2, 7))
    x = rng.standard_normal((N, *dims))
    D = int(np.prod(dims))
    return x, rng.standard_normal((D, M)), rng.standard_normal(M)


@register("affine_forward", "affine layer forward: flatten each example, then x w + b")
def _(ctx, affine_forward):
    s = stored()
    x, w, b, expected = s["affine2d_x"], s["affine2d_w"], s["affine2d_b"], s["affine2d_out"]
    out, _ = _affine(affine_forward, x, w, b)
    expect_close(out, expected, "out", context=f"for x of shape {_shape(x.shape)}",
                 hints=_affine_hints(expected, b))
    # CS231n's case: two examples of shape (4, 5, 6), three outputs.
    x, w, b, expected = s["affine4d_x"], s["affine4d_w"], s["affine4d_b"], s["affine4d_out"]
    out, _ = _affine_nd(affine_forward, x, w, b)
    expect_close(out, expected, "out", context=f"for x of shape {_shape(x.shape)}",
                 hints=_affine_hints(expected, b))
    if not ctx.hidden:
        return
    for dims in [(int(ctx.rng.integers(2, 9)),), (3, 2), (2, 3, 2), (1, 2, 2, 2)]:
        M = int(ctx.rng.integers(1, 6))
        x, w, b = _random_affine_case(ctx.rng, dims, M)
        N, D = x.shape[0], w.shape[0]
        where = f"for x of shape {_shape(x.shape)}"
        # One-hot examples: row i of the output is row k_i of w, plus b.
        ks = ctx.rng.integers(0, D, size=N)
        onehot = np.zeros((N, D))
        onehot[np.arange(N), ks] = 1.0
        out, _ = _affine_nd(affine_forward, onehot.reshape(x.shape), w, b)
        expect_close(out, w[ks] + b, "out", context=f"{where} holding one-hot examples",
                     hints=_affine_hints(w[ks] + b, b))
        # Linear in x: f(x + x2) = f(x) + f(x2) - b.
        x2 = ctx.rng.standard_normal(x.shape)
        out1, _ = _affine_nd(affine_forward, x, w, b)
        out2, _ = _affine_nd(affine_forward, x2, w, b)
        out12, _ = _affine_nd(affine_forward, x + x2, w, b)
        expect_close(out12, out1 + out2 - b, "out(x + x2)",
                     context=f"{where}: it should equal out(x) + out(x2) - b")


def _forward_out(result):
    return as_array(as_tuple(result, "affine_forward", 2)[0], "out")


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
    cases = [((4, 5), 3), ((3, 2, 4), 6)]
    if ctx.hidden:
        cases += [((int(ctx.rng.integers(2, 6)), 2, 3, 2), int(ctx.rng.integers(2, 5))),
                  ((5, 7), 5)]  # N == M: summing db over the wrong axis keeps its shape
    for shape, M in cases:
        N = shape[0]
        D = int(np.prod(shape[1:]))
        x = ctx.rng.standard_normal(shape)
        w = ctx.rng.standard_normal((D, M))
        b = ctx.rng.standard_normal(M)
        dout = ctx.rng.standard_normal((N, M))
        _, cache = (_affine_nd if len(shape) > 2 else _affine)(affine_forward, x, w, b)
        result = call(affine_backward, dout, cache, names=("dout", "cache"))
        dx, dw, db = as_tuple(result, "affine_backward", 3, ("dx", "dw", "db"))
        dx = _gradient_shape(dx, "dx", x.shape, "x", {
            (N, D): "reshape it back to x's shape: dx.reshape(x.shape)"})
        dw = _gradient_shape(dw, "dw", w.shape, "w", {
            (M, D): "it looks transposed: dw combines the flattened x (N, D) with dout (N, M)"})
        db = _gradient_shape(db, "db", b.shape, "b", {
            (N,): "you summed dout over axis 1 (the outputs); b has one entry per output, so "
                  "sum over the examples, axis 0",
            (): "you summed all of dout; sum over the examples only (axis 0)"})
        args = (x, w, b)
        for i, (name, grad) in enumerate((("dx", dx), ("dw", dw), ("db", db))):
            hints = {}
            if name == "db":
                hints["db summed over the wrong axis: sum dout over the examples, axis 0"] = \
                    dout.sum(axis=1) if N == M else None
                hints["db must be summed over the examples, not averaged"] = dout.mean(axis=0)
            check_gradient(affine_forward, args, i, grad, name, output=_forward_out,
                           upstream=dout, rng=ctx.rng,
                           num_checks=None if args[i].size <= 40 else 30, hints=hints)


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
    return as_float(loss, "loss"), as_array(dx, "dx", shape=x.shape)


def _onehot(y, C):
    out = np.zeros((len(y), C))
    out[np.arange(len(y)), y] = 1.0
    return out


def _random_scores(rng, N, C, scale):
    return rng.standard_normal((N, C)) * scale, rng.integers(0, C, size=N)


def _per_row_and_batch(ctx, fn, label, x, y, loss, dx):
    """Identities of any per-example-averaged loss: the batch loss is the mean of the
    single-example losses, and adding a constant to a row of scores changes nothing."""
    N = len(y)
    singles = [_loss_layer(fn, label, x[i:i + 1], y[i:i + 1])[0] for i in range(N)]
    expect_close(loss, float(np.mean(singles)), "loss",
                 context=f"on {N} examples: it should be the mean of the {N} one-example losses",
                 hints={"your loss is N times too large: average over the N examples":
                        float(np.sum(singles))})
    shift = ctx.rng.uniform(-5, 5, size=(N, 1))
    loss2, dx2 = _loss_layer(fn, label, x + shift, y)
    context = "after adding a constant to each row of scores (nothing should change)"
    expect_close(loss2, loss, "loss", context=context)
    expect_close(dx2, dx, "dx", context=context)


@register("softmax_loss", "softmax loss on scores, averaged over N, and its gradient")
def _(ctx, softmax_loss):
    s = stored()
    x, y, expected = s["softmax_x"], s["softmax_y"], float(s["softmax_loss"])
    N, C = x.shape
    loss, dx = _loss_layer(softmax_loss, "softmax_loss", x, y)
    expect_close(loss, expected, "loss", context=f"on the stored {N} x {C} scores", hints={
        "your loss is N times too large: average over the N examples": N * expected,
        "the sign is wrong: the loss is MINUS the log-probability of the correct class":
            -expected,
        "use the natural logarithm, np.log": expected / np.log(10),
    })
    onehot = _onehot(y, C)
    check_gradient(softmax_loss, (x, y), 0, dx, "dx", output=loss_of, rng=ctx.rng,
                   num_checks=None, hints={
        "dx is N times too large: divide it by N as well": lambda num, take: N * num,
        "subtract 1 at the correct class: dx = (probabilities - one_hot(y)) / N":
            lambda num, take: num + take(onehot) / N,
    })
    # Scores of 1000 and more: exp overflows unless each row's maximum is subtracted.
    lesson = ("for scores around 1000: np.exp(1000) overflows to inf.",
              "subtract each row's maximum from its scores before np.exp: "
              "x - x.max(axis=1, keepdims=True) changes no probability")
    big_loss, big_dx = _loss_layer(softmax_loss, "softmax_loss", x + 1000.0, y,
                                   lesson=lesson[0], hint=lesson[1])
    context = "for the same scores plus 1000 (the loss should not change)"
    expect_close(big_loss, expected, "loss", context=context, rtol=1e-6)
    expect_close(big_dx, dx, "dx", context=context, rtol=1e-5, atol=1e-9)
    rows = 1000.0 * np.arange(N)[:, None]
    lesson = (f"when rows of scores differ by thousands (row i plus {1000:g} * i).",
              "subtract each row's own maximum (x.max(axis=1, keepdims=True)), not the largest "
              "score of the whole array: that leaves some rows at -4000, where exp underflows "
              "to 0 and the log gives -inf")
    far_loss, _ = _loss_layer(softmax_loss, "softmax_loss", x + rows, y,
                              lesson=lesson[0], hint=lesson[1])
    expect_close(far_loss, expected, "loss", context="with 1000 * i added to row i", rtol=1e-6)
    if not ctx.hidden:
        return
    for N, C in [(int(ctx.rng.integers(2, 12)), int(ctx.rng.integers(2, 12))), (1, 10), (20, 3)]:
        x, y = _random_scores(ctx.rng, N, C, scale=float(ctx.rng.uniform(0.5, 5)))
        zero_loss, zero_dx = _loss_layer(softmax_loss, "softmax_loss", np.zeros((N, C)), y)
        expect_close(zero_loss, np.log(C), "loss", context=f"for all-zero scores ({C} classes: "
                     "every probability is 1/C, so the loss is log C)")
        expect_close(zero_dx, (1.0 / C - _onehot(y, C)) / N, "dx",
                     context="for all-zero scores")
        loss, dx = _loss_layer(softmax_loss, "softmax_loss", x, y)
        _per_row_and_batch(ctx, softmax_loss, "softmax_loss", x, y, loss, dx)
        check_gradient(softmax_loss, (x, y), 0, dx, "dx", output=loss_of, rng=ctx.rng,
                       num_checks=24)


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
        "your loss is N times too large: average over the N examples": N * expected,
        "your loss is 1 too large: skip j == y_i, whose margin is always exactly 1":
            expected + 1.0,
        "your loss is N + ... too large: skip j == y_i (its margin is 1) and average over N":
            N * expected + N,
    })
    onehot = _onehot(y, C)
    check_gradient(svm_loss, (x, y), 0, dx, "dx", output=loss_of, rng=ctx.rng,
                   num_checks=None, hints={
        "dx is N times too large: divide it by N as well": lambda num, take: N * num,
        "the correct-class column is missing: it gets minus the number of positive margins, "
        "divided by N": lambda num, take: num * (1 - take(onehot)),
    })
    if not ctx.hidden:
        return
    for N, C in [(int(ctx.rng.integers(2, 12)), int(ctx.rng.integers(2, 12))), (1, 10), (20, 3)]:
        x, y = _random_scores(ctx.rng, N, C, scale=float(ctx.rng.uniform(0.3, 3)))
        x = _away_from_hinge(x, y)
        zero_loss, zero_dx = _loss_layer(svm_loss, "svm_loss", np.zeros((N, C)), y)
        expect_close(zero_loss, C - 1.0, "loss", context=f"for all-zero scores ({C} classes: "
                     "every wrong class has margin 1, so the loss is C - 1)")
        expect_close(zero_dx, (1.0 - C * _onehot(y, C)) / N, "dx", context="for all-zero scores")
        loss, dx = _loss_layer(svm_loss, "svm_loss", x, y)
        _per_row_and_batch(ctx, svm_loss, "svm_loss", x, y, loss, dx)
        check_gradient(svm_loss, (x, y), 0, dx, "dx", output=loss_of, rng=ctx.rng,
                       num_checks=24)
