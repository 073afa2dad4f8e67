"""Checks for activation functions as forward/backward pairs (notebooks 04 and 05).

``<name>_forward(x, ...) -> (out, cache)`` and ``<name>_backward(dout, cache) -> dx``, in
CS231n's layer convention (PReLU's backward also returns ``dalpha``; Maxout's returns
``dx, dw1, db1, dw2, db2``). Forward values are compared with hand-computable entries and
with the function's definition on the check's own inputs; backward passes are compared with
numerical gradients of the student's own forward pass (vector-Jacobian products with the
upstream gradient ``dout``).

The inputs are built to tell mistakes apart: entries keep away from kinks, both signs are
present, and upstream gradients disagree in sign with x at some entries. Besides those:
inputs of several shapes (1-D, N = 1, (2, 3, 4), batches of 40 in public and 100+ in
grading runs), exact zeros (where kinks and divisions live: at a kink any value between the
one-sided derivatives is accepted, nan or inf is not), inputs of +-700 and +-1000 (the
output must be finite and right there; a RuntimeWarning from np.exp that does no harm is
accepted), a second input of the same shape (an output that does not move is a cached
result), and exact ties between maxout's pieces (any split of dout between the tied pieces
is accepted, as long as the two shares add up to dout).
"""

from __future__ import annotations

import numpy as np

from . import (
    MISTAKES,
    CheckFailed,
    Mistake,
    as_array,
    as_tuple,
    call,
    check_gradient,
    expect_close,
    expect_responds,
    fail,
    fmt,
    materialize,
    numerical_gradient,
    register,
)

_TITLES = {
    "mask-from-dout": "mask taken from dout instead of the forward input",
    "mask-inverted": "mask inverted (gradient passed where the unit was off)",
    "dout-missing": "local gradient not multiplied by the upstream gradient dout",
    "local-from-input": "local gradient computed from the input instead of the output",
    "wrong-local-gradient": "wrong formula for the local gradient",
    "other-activation": "a different activation function than asked",
    "unstable": "nan or inf for large inputs (numerically unstable form)",
    "slope-wrong-side": "slope (alpha) applied on the wrong side of 0",
    "fixed-slope": "fixed slope 0.01 instead of the slope argument",
    "plain-relu": "negative side set to 0 (plain ReLU)",
    "negatives-kept": "negative inputs passed through unchanged",
    "negatives-scaled": "negative inputs scaled by a slope instead of set to 0",
    "times-x": "upstream gradient multiplied by x instead of the mask x > 0",
    "sign-mask": "np.sign(x) used as the mask (-1 for negative inputs)",
    "alpha-missing": "factor alpha missing",
    "minus-one-missing": "the - 1 of alpha * (exp(x) - 1) missing",
    "exp-sign": "wrong sign inside exp",
    "dalpha-wrong-axis": "dalpha summed over the wrong axis",
    "dalpha-all-inputs": "dalpha not restricted to the negative inputs",
    "dalpha-mean": "dalpha averaged instead of summed",
    "dalpha-no-x": "dalpha missing the factor x",
    "dalpha-no-dout": "dalpha missing the upstream gradient",
    "alpha-per-row": "alpha applied per example instead of per unit",
    "bias-not-summed": "bias gradient not summed over the examples",
    "routes-to-both": "gradient sent to both maxout pieces",
    "routing-inverted": "gradient sent to the piece that lost the max",
    "tie-to-both": "on a tie, gradient sent to both pieces",
    "tie-dropped": "on a tie, gradient sent to neither piece",
    "one-piece-only": "gradient of x taken from one maxout piece only",
    "min-instead-of-max": "min where the max belongs",
    "sum-of-pieces": "pieces added instead of maxed",
    "bias-missing": "a bias missing",
    "max-wrong-axis": "max taken over the wrong axis",
    "applied-twice": "activation applied again to the cached output",
    "nan-at-zero": "nan, inf or division by zero where an input is exactly 0",
    "outside-subgradient": "gradient at the kink x = 0 outside the one-sided derivatives",
}


def _m(id: str, text: str) -> Mistake:
    """A hint naming mistake ``id`` (a key of _TITLES, or a generic one of MISTAKES)."""
    return Mistake(id, MISTAKES.get(id) or _TITLES[id], text)


def _mixed(rng, shape, margin=1e-3):
    """Normal samples at least ``margin`` away from 0 (ReLU's kink), with both signs present
    (entry 0 positive, entries 1 and 2 negative, when there are that many) so that different
    mistakes give different results."""
    x = rng.standard_normal(shape)
    x = np.where(np.abs(x) < margin, np.sign(x + 1e-12) * margin * 2, x)
    flat = x.reshape(-1)
    signs = (1, -1, -1)[:flat.size]
    for i, s in enumerate(signs):
        flat[i] = s * abs(flat[i])
    return x


def _upstream(rng, x):
    """An upstream gradient whose signs disagree with x's at entries 0 and 1 and agree at 2,
    so "mask from dout" and "inverted mask" give different results."""
    dout = rng.standard_normal(x.shape)
    flat = dout.reshape(-1)
    for i, s in enumerate((-1, 1, -1)[:flat.size]):
        flat[i] = s * (abs(flat[i]) + 0.1)
    return dout


def _shapes(ctx):
    """Public: a readable (4, 5), a (2, 3, 4) block, N = 1 and a batch of 40; grading: 1-D,
    N = 1, 3-D and a batch of 100+."""
    if not ctx.hidden:
        return [(4, 5), (2, 3, 4), (1, 6), (40, 3)]
    return [(3,), (1, 4), (2, 3, 4),
            (int(ctx.rng.integers(100, 160)), int(ctx.rng.integers(2, 9)))]


def _with_params(shapes, values):
    """(shape, value) pairs: every shape once, the values taking turns, the last value
    (the non-default one) first so that a fixed default shows on the first case."""
    return [(shape, values[(i + len(values) - 1) % len(values)])
            for i, shape in enumerate(shapes)]


def _forward(fn, x, label, *params, names=("x",), finite=True):
    """The student's ``(out, cache)`` for ``fn(x, *params)``, with out validated."""
    out, cache = as_tuple(call(fn, x, *params, names=names), label, 2, ("out", "cache"))
    return as_array(out, "out", shape=x.shape, finite=finite), cache


def _dx(backward, dout, cache, finite=True):
    return as_array(call(backward, dout, cache, names=("dout", "cache")), "dx",
                    shape=dout.shape, finite=finite)


def _out_of(label):
    """``output=`` for check_gradient: the ``out`` of a ``(out, cache)`` result."""
    return lambda result: as_array(as_tuple(result, label, 2)[0], "out")


def _num_checks(x):
    return None if x.size <= 40 else 40


def _check_dx(ctx, forward, args, dx, dout, label, hints, sides=None):
    """dx against numerical gradients of the student's forward. sides: what belongs on
    the negative side, to name a dx that passes dout unchanged for x <= 0 instead."""
    try:
        check_gradient(forward, args, 0, dx, "dx", rng=ctx.rng, upstream=dout,
                       output=_out_of(label), num_checks=_num_checks(args[0]), hints=hints)
    except CheckFailed as exc:
        x = args[0]
        neg, pos = x <= 0, x > 0
        if sides and exc.hint is None and neg.any() and pos.any() \
                and np.allclose(dx[neg], dout[neg]) and not np.allclose(dx[pos], dout[pos]):
            exc.hint = _m("slope-wrong-side", f"{sides} belongs on the negative side "
                          "(x <= 0); x > 0 passes dout unchanged")
            exc.mistake = exc.hint.id
        raise


def _expect_finite(out, x, label, hint, what="it returns"):
    """Fail with ``hint`` when large inputs turned into nan or inf."""
    bad = ~np.isfinite(out)
    if bad.any():
        i = np.unravel_index(int(np.argmax(bad)), bad.shape)
        fail(f"{label} is not numerically stable: for x = {fmt(x[i])} {what} {out[i]} "
             f"(inputs: {fmt(x)}, results: {fmt(out)}). Inputs up to +-1000 must give finite, "
             "right values (a RuntimeWarning from np.exp is fine when the result is right).",
             hint=hint)


_STABLE_X = np.array([-1000.0, -700.0, -100.0, -20.0, 0.0, 20.0, 100.0, 700.0, 1000.0])


def _responds(forward, x, label, *params, names=("x",)):
    """A forward pass must move when x does: fail with "cached or hard-coded?" if
    forward(x) and forward(-2x + 0.5) (same shape, other values) give the same out."""
    moved = -2.0 * x + 0.5
    expect_responds(forward, (x, *params), (moved, *params), "out", what="x",
                    output=lambda r: as_array(as_tuple(r, label, 2, ("out", "cache"))[0], "out",
                                              finite=False),
                    label=label)


def _kink_case(ctx, forward, backward, label, params=(), names=("x",), lo=0.0, hi=1.0,
               rule="dx = dout where x > 0, 0 where x <= 0", smooth=False):
    """Backward at exact zeros: finite everywhere, and at x = 0 any value between the
    one-sided derivatives lo and hi (times dout) is accepted; elsewhere (everywhere when
    the function is ``smooth`` at 0) the numerical gradient of the student's forward."""
    x = _mixed(ctx.rng, (4, 6) if not ctx.hidden else (12, 5))
    x.reshape(-1)[3::4] = 0.0
    dout = _upstream(ctx.rng, x)
    _, cache = _forward(forward, x, label, *params, names=names)
    dx = _dx(backward, dout, cache, finite=False)
    zero = x == 0
    bad = ~np.isfinite(dx)
    if bad.any():
        i = np.unravel_index(int(np.argmax(bad)), bad.shape)
        where = "where x = 0" if zero[i] else f"at x = {fmt(x[i])}"
        fail(f"dx is {dx[i]} at {list(map(int, i))}, {where} (dout there: {fmt(dout[i])}), "
             f"for an input x with exact zeros.",
             hint=_m("nan-at-zero", "your backward pass divides by x (or by something that "
                     "is 0 where x = 0): build the local gradient from a mask such as x > 0 "
                     "or np.where, never as out / x") if zero[i] else None)
    a, b = np.minimum(lo, hi) * dout, np.maximum(lo, hi) * dout
    low, high = np.minimum(a, b), np.maximum(a, b)
    off = zero & ((dx < low - 1e-9) | (dx > high + 1e-9)) & (not smooth)
    if off.any():
        i = np.unravel_index(int(np.argmax(off)), off.shape)
        fail(f"dx[{', '.join(map(str, i))}] = {fmt(dx[i])} where x = 0 (dout there: "
             f"{fmt(dout[i])}). At the kink x = 0 any value between the one-sided "
             f"derivatives times dout ({fmt(low[i])} to {fmt(high[i])}) is accepted; the "
             f"course's rule is {rule}.",
             hint=_m("outside-subgradient", "at x = 0 use the same rule as on one side of "
                     "the kink (the course uses x > 0), not a value of its own"))
    indices = [tuple(int(v) for v in ix) for ix in np.argwhere(~zero | smooth)[:24]]
    numeric = numerical_gradient(forward, (x, *params), 0, _out_of(label), upstream=dout,
                                 indices=indices, label=label)
    got = np.array([dx[ix] for ix in indices])
    expect_close(got, numeric, "dx" if smooth else "dx away from the zeros", rtol=1e-5,
                 atol=1e-7, context="for an input x with exact zeros (numerical gradients of "
                                    "your forward pass)")


def _saturated_dx(ctx, forward, backward, label, params=(), names=("x",), hint=None):
    """Backward at +-700 and +-1000: finite, and equal to the numerical gradient (0 is the
    kink case's)."""
    x = _STABLE_X[_STABLE_X != 0]
    _, cache = _forward(forward, x, label, *params, names=names, finite=False)
    dout = np.ones_like(x)
    dx = _dx(backward, dout, cache, finite=False)
    _expect_finite(dx, x, label.replace("forward", "backward"), hint, what="dx is")
    check_gradient(forward, (x, *params), 0, dx, "dx", rng=ctx.rng, upstream=dout,
                   output=_out_of(label), num_checks=None)


# --------------------------------------------------------------------------- ReLU

def _with_zeros(rng, shape):
    """_mixed with every fourth entry (from the fourth on) exactly 0."""
    x = _mixed(rng, shape)
    x.reshape(-1)[3::4] = 0.0
    return x


@register("relu_forward", "ReLU forward pass: out = max(0, x)")
def _(ctx, relu_forward):
    for shape in _shapes(ctx):
        x = _with_zeros(ctx.rng, shape)
        out, _ = _forward(relu_forward, x, "relu_forward")
        negative = x < 0
        slope = float(np.median(out[negative] / x[negative])) if negative.any() else 0.0
        expect_close(out, np.where(x > 0, x, 0.0), "out", context=f"for x of shape {shape}",
                     hints={_m("negatives-kept", "negative inputs must become 0, not stay "
                               "negative"): x,
                            _m("negatives-kept", "it is |x|: negative inputs must become 0, "
                               "not their absolute value"): np.abs(x),
                            _m("min-instead-of-max", "it looks like min(0, x) instead of "
                               "max(0, x)"): np.minimum(0, x),
                            _m("negatives-scaled", f"negative inputs are multiplied by "
                               f"{slope:.3g} (a leaky ReLU?): ReLU sets them to 0"):
                                np.where(x > 0, x, slope * x) if slope else None})
    _responds(relu_forward, _mixed(ctx.rng, (4, 5)), "relu_forward")


@register("relu_backward", "ReLU backward pass: dx = dout where x > 0, else 0")
def _(ctx, relu_forward, relu_backward):
    for shape in _shapes(ctx):
        x = _mixed(ctx.rng, shape)
        dout = _upstream(ctx.rng, x)
        _, cache = _forward(relu_forward, x, "relu_forward")
        dx = _dx(relu_backward, dout, cache)
        _check_dx(ctx, relu_forward, (x,), dx, dout, "relu_forward", {
            _m("mask-from-dout", "the mask must come from the forward input x (x > 0), not "
               "from dout"): dout * (dout > 0),
            _m("mask-inverted", "the mask is inverted: pass dout where x > 0, block it where "
               "x <= 0"): dout * (x <= 0),
            _m("dout-missing", "dx must be dout times the mask, not the mask alone"):
                (x > 0).astype(float),
            _m("times-x", "dx is dout * x: ReLU's local gradient is the mask (x > 0), 1 or "
               "0, not x itself"): dout * x,
            _m("sign-mask", "np.sign(x) is -1 where x < 0: the mask must be 0 there; use "
               "(x > 0)"): dout * np.sign(x),
        })
    _kink_case(ctx, relu_forward, relu_backward, "relu_forward")


# --------------------------------------------------------------------------- sigmoid

def _logistic(x):
    # The definition 1 / (1 + exp(-x)), written through tanh so that it cannot overflow.
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _sigmoid_hints(x):
    s = _logistic(x)
    return {_m("exp-sign", "the minus sign is missing: 1 / (1 + exp(x)) is sigmoid(-x)"): 1 - s,
            _m("exp-sign", "negative inputs give sigmoid(-x): for x < 0 the form "
               "e / (1 + e) needs e = exp(x) = exp(-|x|), not exp(-x)"):
                np.where(x >= 0, s, 1 - s),
            _m("other-activation", "that is tanh(x); the sigmoid is 1 / (1 + exp(-x)), with "
               "values in (0, 1)"): np.tanh(x)}


_SIGMOID_UNSTABLE = _m("unstable", (
    "exp(1000) overflows to inf, and inf / inf is nan. 1 / (1 + np.exp(-x)) is safe "
    "(1 / inf is 0); exp(x) / (1 + exp(x)) is not. Or only ever take exp of -|x|."))


@register("sigmoid_forward", "sigmoid forward pass: out = 1 / (1 + exp(-x))")
def _(ctx, sigmoid_forward):
    x = np.array([0.0, np.log(3.0), -np.log(3.0), np.log(4.0)])
    out, _ = _forward(sigmoid_forward, x, "sigmoid_forward")
    expect_close(out, [0.5, 0.75, 0.25, 0.8], "out", context="for x = [0, ln 3, -ln 3, ln 4]",
                 hints=_sigmoid_hints(x))
    for shape in _shapes(ctx):
        x = 2 * _with_zeros(ctx.rng, shape)
        out, _ = _forward(sigmoid_forward, x, "sigmoid_forward")
        expect_close(out, _logistic(x), "out", context=f"for x of shape {shape}",
                     hints=_sigmoid_hints(x))
    _responds(sigmoid_forward, 2 * _mixed(ctx.rng, (4, 5)), "sigmoid_forward")
    out, _ = _forward(sigmoid_forward, _STABLE_X, "sigmoid_forward", finite=False)
    _expect_finite(out, _STABLE_X, "sigmoid_forward", hint=_SIGMOID_UNSTABLE)
    expect_close(out, _logistic(_STABLE_X), "out", atol=1e-12,
                 context=f"for large inputs x = {fmt(_STABLE_X)}")


@register("sigmoid_backward", "sigmoid backward pass: dx = dout * out * (1 - out)")
def _(ctx, sigmoid_forward, sigmoid_backward):
    for shape in _shapes(ctx):
        x = 2 * _mixed(ctx.rng, shape)
        dout = _upstream(ctx.rng, x)
        _, cache = _forward(sigmoid_forward, x, "sigmoid_forward")
        dx = _dx(sigmoid_backward, dout, cache)
        s = _logistic(x)
        _check_dx(ctx, sigmoid_forward, (x,), dx, dout, "sigmoid_forward", {
            _m("local-from-input", "the local gradient is out * (1 - out) with out = "
               "sigmoid(x), the forward OUTPUT (keep it in the cache); you computed "
               "x * (1 - x) from the input"): dout * x * (1 - x),
            _m("dout-missing", "dx must be dout times the local gradient out * (1 - out), "
               "not the local gradient alone"): s * (1 - s),
            _m("wrong-local-gradient", "the local gradient is out * (1 - out), not out"):
                dout * s,
            _m("wrong-local-gradient", "the local gradient is out * (1 - out), not 1 - out"):
                dout * (1 - s),
            _m("applied-twice", "the cache already holds out = sigmoid(x): you took the "
               "sigmoid of it again before using it as out"):
                dout * _logistic(s) * (1 - _logistic(s)),
        })
    # Exact zeros (no kink there: the local gradient is 0.25) and saturated units, whose
    # local gradient must come out as (almost exactly) 0, not nan.
    _kink_case(ctx, sigmoid_forward, sigmoid_backward, "sigmoid_forward", smooth=True)
    _saturated_dx(ctx, sigmoid_forward, sigmoid_backward, "sigmoid_forward",
                  hint=_SIGMOID_UNSTABLE)


# --------------------------------------------------------------------------- tanh

def _tanh_hints(x):
    return {_m("other-activation", "that is the sigmoid; tanh(x) = 2 * sigmoid(2x) - 1, with "
               "values in (-1, 1)"): _logistic(x),
            _m("other-activation", "that is tanh(x / 2) = 2 * sigmoid(x) - 1; tanh(x) = "
               "2 * sigmoid(2x) - 1"): np.tanh(x / 2)}


_TANH_UNSTABLE = _m("unstable", (
    "(exp(x) - exp(-x)) / (exp(x) + exp(-x)) is inf / inf = nan for large |x|: use np.tanh, "
    "or a formula that only takes exp of -2|x|."))


@register("tanh_forward", "tanh forward pass: out = tanh(x)")
def _(ctx, tanh_forward):
    x = np.array([0.0, np.log(2.0), -np.log(2.0)])
    out, _ = _forward(tanh_forward, x, "tanh_forward")
    expect_close(out, [0.0, 0.6, -0.6], "out", context="for x = [0, ln 2, -ln 2]",
                 hints=_tanh_hints(x))
    for shape in _shapes(ctx):
        x = 2 * _with_zeros(ctx.rng, shape)
        out, _ = _forward(tanh_forward, x, "tanh_forward")
        expect_close(out, np.tanh(x), "out", context=f"for x of shape {shape}",
                     hints=_tanh_hints(x))
    _responds(tanh_forward, 2 * _mixed(ctx.rng, (4, 5)), "tanh_forward")
    out, _ = _forward(tanh_forward, _STABLE_X, "tanh_forward", finite=False)
    _expect_finite(out, _STABLE_X, "tanh_forward", hint=_TANH_UNSTABLE)
    expect_close(out, np.tanh(_STABLE_X), "out", atol=1e-12,
                 context=f"for large inputs x = {fmt(_STABLE_X)}")


@register("tanh_backward", "tanh backward pass: dx = dout * (1 - out**2)")
def _(ctx, tanh_forward, tanh_backward):
    for shape in _shapes(ctx):
        x = 2 * _mixed(ctx.rng, shape)
        dout = _upstream(ctx.rng, x)
        _, cache = _forward(tanh_forward, x, "tanh_forward")
        dx = _dx(tanh_backward, dout, cache)
        t = np.tanh(x)
        _check_dx(ctx, tanh_forward, (x,), dx, dout, "tanh_forward", {
            _m("local-from-input", "the derivative of tanh is 1 - tanh(x)**2 = 1 - out**2, "
               "from the forward OUTPUT (keep it in the cache); you computed 1 - x**2 from "
               "the input"): dout * (1 - x**2),
            _m("dout-missing", "dx must be dout times the local gradient 1 - out**2, not the "
               "local gradient alone"): 1 - t**2,
            _m("wrong-local-gradient", "the local gradient is 1 - out**2, not 1 - out"):
                dout * (1 - t),
            _m("wrong-local-gradient", "out * (1 - out) is the sigmoid's local gradient; "
               "tanh's is 1 - out**2"): dout * t * (1 - t),
            _m("applied-twice", "the cache already holds out = tanh(x): you took tanh of it "
               "again (1 - tanh(out)**2) instead of 1 - out**2"): dout * (1 - np.tanh(t)**2),
        })
    _kink_case(ctx, tanh_forward, tanh_backward, "tanh_forward", smooth=True)
    _saturated_dx(ctx, tanh_forward, tanh_backward, "tanh_forward", hint=_TANH_UNSTABLE)


# --------------------------------------------------------------------------- Leaky ReLU

def _slope_hint(out, x, slope):
    """What a wrong negative-side slope is, when the positive side is right."""
    pos, neg = x > 0, x < 0
    if not np.allclose(out[pos], x[pos]) or not neg.any():
        return None
    ratios = out[neg] / x[neg]
    c = float(np.median(ratios))
    if not np.allclose(ratios, c, rtol=1e-6, atol=1e-12) or np.isclose(c, slope):
        return None
    if c == 0:
        return _m("plain-relu", f"negative inputs must become {slope:g} * x, not 0: that is "
                  "plain ReLU")
    if np.isclose(c, 0.01):
        return _m("fixed-slope", f"the negative side uses slope 0.01, but this call passed "
                  f"slope = {slope:g}: use the slope argument instead of a fixed 0.01")
    return _m("wrong-value", f"the negative side has slope {c:g}; it should be slope = "
              f"{slope:g}")


_SLOPE_SIDE = ("slope multiplies the negative inputs, not the positive ones: out = x where "
               "x > 0, slope * x where x <= 0")


@register("leaky_relu_forward", "Leaky ReLU forward pass: out = max(slope * x, x)")
def _(ctx, leaky_relu_forward):
    x = np.array([2.0, -3.0, 0.5, -100.0])
    out, _ = _forward(leaky_relu_forward, x, "leaky_relu_forward")
    hint = _slope_hint(out, x, 0.01)
    expect_close(out, [2.0, -0.03, 0.5, -1.0], "out",
                 context="for x = [2, -3, 0.5, -100] and the default slope 0.01",
                 hints={hint: out} if hint else {
                     _m("slope-wrong-side", _SLOPE_SIDE): [0.02, -3.0, 0.005, -100]})
    slopes = [0.01, 0.2] if not ctx.hidden else [0.01, float(ctx.rng.uniform(0.05, 0.5))]
    for shape, slope in _with_params(_shapes(ctx), slopes):
        x = _with_zeros(ctx.rng, shape)
        out, _ = _forward(leaky_relu_forward, x, "leaky_relu_forward", slope,
                          names=("x", "slope"))
        expected = np.where(x > 0, x, slope * x)
        hint = _slope_hint(out, x, slope)
        expect_close(out, expected, "out", context=f"for x of shape {shape}, slope={slope:g}",
                     hints={hint: out} if hint else {
                         _m("slope-wrong-side", _SLOPE_SIDE): np.where(x > 0, slope * x, x)})
    _responds(leaky_relu_forward, _mixed(ctx.rng, (4, 5)), "leaky_relu_forward", 0.1,
              names=("x", "slope"))


@register("leaky_relu_backward", "Leaky ReLU backward pass: dx = dout where x > 0, "
          "slope * dout elsewhere")
def _(ctx, leaky_relu_forward, leaky_relu_backward):
    slopes = [0.01, 0.2] if not ctx.hidden else [0.01, float(ctx.rng.uniform(0.05, 0.5))]
    for shape, slope in _with_params(_shapes(ctx), slopes):
        x = _mixed(ctx.rng, shape)
        dout = _upstream(ctx.rng, x)
        _, cache = _forward(leaky_relu_forward, x, "leaky_relu_forward", slope,
                            names=("x", "slope"))
        dx = _dx(leaky_relu_backward, dout, cache)
        _check_dx(ctx, leaky_relu_forward, (x, slope), dx, dout, "leaky_relu_forward", {
            _m("plain-relu", "negative inputs must pass slope * dout, not 0: that is "
               "ReLU's backward pass"): dout * (x > 0),
            _m("fixed-slope", f"the negative side must pass slope * dout with the slope "
               f"given to the forward pass ({slope:g}), not 0.01: keep slope in the cache"):
                dout * np.where(x > 0, 1.0, 0.01) if slope != 0.01 else None,
            _m("dout-missing", "dx must be dout times the local gradient (1 or slope), "
               "not the local gradient alone"): np.where(x > 0, 1.0, slope),
            _m("dout-missing", "the negative side must pass slope * dout, not slope "
               "alone"): np.where(x > 0, dout, slope),
            _m("mask-from-dout", "the mask must come from the forward input x, not from "
               "dout"): dout * np.where(dout > 0, 1.0, slope),
            _m("slope-wrong-side", "slope belongs on the negative side (x <= 0); x > 0 "
               "passes dout unchanged"): dout * np.where(x > 0, slope, 1.0),
        })
    _kink_case(ctx, leaky_relu_forward, leaky_relu_backward, "leaky_relu_forward",
               params=(0.2,), names=("x", "slope"), lo=0.2, hi=1.0,
               rule="dx = dout where x > 0, slope * dout where x <= 0")


# --------------------------------------------------------------------------- PReLU

def _prelu_shapes(ctx):
    if not ctx.hidden:
        return [(4, 3), (1, 3), (40, 2)]
    shapes = [(2, 5), (1, 4), (7, 1)]
    n, d = int(ctx.rng.integers(100, 160)), int(ctx.rng.integers(2, 9))
    return shapes + [(n, d)]


def _prelu_inputs(ctx, shape, zeros=False):
    x = _with_zeros(ctx.rng, shape) if zeros else _mixed(ctx.rng, shape)
    alpha = ctx.rng.uniform(0.05, 0.6, size=shape[1])
    if shape == (4, 3):
        alpha = np.array([0.1, 0.25, 0.5])
    return x, alpha


@register("prelu_forward", "parametric ReLU forward pass: out = x where x > 0, alpha * x "
          "elsewhere, one learned alpha per unit")
def _(ctx, prelu_forward):
    x, alpha = np.array([[1.0, -2.0], [-4.0, 3.0]]), np.array([0.25, 0.5])
    side = _m("slope-wrong-side", "alpha belongs on the negative side: out = x where x > 0, "
              "alpha * x elsewhere")
    everywhere = _m("slope-wrong-side", "alpha multiplies only the negative inputs; positive "
                    "inputs pass unchanged")
    relu = _m("plain-relu", "negative inputs must become alpha * x, not 0: that is plain ReLU")
    out, _ = _forward(prelu_forward, x, "prelu_forward", alpha, names=("x", "alpha"))
    expect_close(out, [[1.0, -1.0], [-1.0, 3.0]], "out",
                 context="for x = [[1, -2], [-4, 3]] and alpha = [0.25, 0.5]",
                 hints={_m("alpha-per-row", "alpha[j] is the slope of column j (unit j): "
                           "multiply x[:, j] by alpha[j], not row i by alpha[i]"):
                        [[1.0, -0.5], [-2.0, 3.0]],
                        relu: np.maximum(0, x), everywhere: alpha * x,
                        side: np.where(x > 0, alpha * x, x)})
    for shape in _prelu_shapes(ctx):
        x, alpha = _prelu_inputs(ctx, shape, zeros=True)
        out, _ = _forward(prelu_forward, x, "prelu_forward", alpha, names=("x", "alpha"))
        expect_close(out, np.where(x > 0, x, alpha * x), "out",
                     context=f"for x of shape {shape}, alpha of shape {alpha.shape}", hints={
                         relu: np.maximum(0, x), everywhere: alpha * x,
                         side: np.where(x > 0, alpha * x, x)})
    x, alpha = _prelu_inputs(ctx, (4, 3))
    _responds(prelu_forward, x, "prelu_forward", alpha, names=("x", "alpha"))


def _prelu_grads(result, x, alpha):
    """The student's (dx, dalpha), with pointed messages for the usual dalpha mistakes."""
    value = materialize(result)
    if type(value) is np.ndarray:
        fail("prelu_backward returned a single array; it must return (dx, dalpha).",
             hint=_m("wrong-count", "alpha is learned like a weight, so the layer must also "
                     "give its gradient dalpha, shaped like alpha"))
    dx, dalpha = as_tuple(value, "prelu_backward", 2, ("dx", "dalpha"))
    dx = as_array(dx, "dx", shape=x.shape)
    dalpha = materialize(dalpha)
    n, d = x.shape
    numeric = type(dalpha) is np.ndarray or isinstance(dalpha, float | int | np.number)
    got = np.shape(dalpha) if numeric and type(dalpha) is not bool else None
    if got is not None and got != alpha.shape:
        why = {
            (n, d): _m("dalpha-wrong-axis", "that is one value per example and unit; "
                       "alpha[j] is shared by all N examples, so add up their contributions: "
                       "sum over axis 0"),
            (n,): _m("dalpha-wrong-axis", "you summed over the units (axis 1); alpha has one "
                     "entry per unit, so sum over the examples (axis 0)"),
            (): _m("dalpha-wrong-axis", "there is one alpha per unit: sum over the examples "
                   "(axis 0) only, not over everything"),
        }.get(got)
        fail(f"dalpha has shape {got}, but alpha has shape {alpha.shape}: a gradient always "
             "has the shape of what it is the gradient of.", hint=why)
    return dx, as_array(dalpha, "dalpha", shape=alpha.shape)


@register("prelu_backward", "parametric ReLU backward pass: dx and dalpha")
def _(ctx, prelu_forward, prelu_backward):
    for shape in _prelu_shapes(ctx):
        x, alpha = _prelu_inputs(ctx, shape)
        dout = _upstream(ctx.rng, x)
        _, cache = _forward(prelu_forward, x, "prelu_forward", alpha, names=("x", "alpha"))
        result = call(prelu_backward, dout, cache, names=("dout", "cache"))
        dx, dalpha = _prelu_grads(result, x, alpha)
        neg = x <= 0
        common = dict(rng=ctx.rng, upstream=dout, output=_out_of("prelu_forward"))
        check_gradient(prelu_forward, (x, alpha), 0, dx, "dx", num_checks=_num_checks(x),
                       **common, hints={
            _m("plain-relu", "negative inputs must pass alpha * dout, not 0: that is ReLU's "
               "backward pass"): dout * (x > 0),
            _m("dout-missing", "dx must be dout times the local gradient (1 or alpha), not "
               "the local gradient alone"): np.where(x > 0, 1.0, alpha * np.ones_like(x)),
            _m("dout-missing", "the negative side must pass alpha * dout, not alpha alone"):
                np.where(x > 0, dout, alpha * np.ones_like(x)),
            _m("slope-wrong-side", "alpha belongs on the negative side; x > 0 passes dout "
               "unchanged"): dout * np.where(x > 0, alpha, 1.0),
        })
        check_gradient(prelu_forward, (x, alpha), 1, dalpha, "dalpha", num_checks=None,
                       **common, hints={
            _m("dalpha-all-inputs", "dalpha[j] sums dout * x only where x < 0 (where alpha "
               "was used); you summed over all x"): np.sum(dout * x, axis=0),
            _m("dalpha-no-x", "dalpha[j] sums dout * x over the examples where x < 0: the "
               "factor x is missing"): np.sum(dout * neg, axis=0),
            _m("dalpha-mean", "dalpha[j] is a sum over the N examples, not a mean"):
                np.mean(dout * x * neg, axis=0) if shape[0] > 1 else None,
            _m("dalpha-no-dout", "dalpha needs the upstream gradient: sum dout * x where "
               "x < 0, not x alone"): np.sum(x * neg, axis=0),
        })
    x, alpha = _prelu_inputs(ctx, (4, 6) if not ctx.hidden else (12, 5))
    _kink_case(ctx, prelu_forward, lambda dout, cache: _prelu_dx(prelu_backward, dout, cache),
               "prelu_forward", params=(alpha,), names=("x", "alpha"), lo=alpha, hi=1.0,
               rule="dx = dout where x > 0, alpha * dout where x <= 0")


def _prelu_dx(prelu_backward, dout, cache):
    """dx alone out of the student's (dx, dalpha), for the kink case."""
    result = call(prelu_backward, dout, cache, names=("dout", "cache"))
    return as_tuple(result, "prelu_backward", 2, ("dx", "dalpha"))[0]


# --------------------------------------------------------------------------- ELU

_ELU_UNSTABLE = _m("unstable", (
    "exp(1000) overflows to inf, and inf * 0 is nan: choose between the two pieces with "
    "np.where instead of multiplying by masks, or take exp only of np.minimum(x, 0)."))


@register("elu_forward", "ELU forward pass: out = x where x > 0, alpha * (exp(x) - 1) "
          "elsewhere")
def _(ctx, elu_forward):
    x = np.array([1.0, -np.log(2.0), 3.0, -np.log(4.0)])
    out, _ = _forward(elu_forward, x, "elu_forward")
    ex = np.exp(np.minimum(x, 0))
    expect_close(out, [1.0, -0.5, 3.0, -0.75], "out",
                 context="for x = [1, -ln 2, 3, -ln 4] and the default alpha = 1", hints={
        _m("minus-one-missing", "it is alpha * (exp(x) - 1): the - 1 is missing (ELU must be "
           "0 at x = 0)"): np.where(x > 0, x, ex),
        _m("slope-wrong-side", "the exponential piece belongs on the negative side: out = x "
           "where x > 0"): np.where(x > 0, np.expm1(np.minimum(x, 0)), x),
        _m("plain-relu", "negative inputs become alpha * (exp(x) - 1), not 0 (that is ReLU)"):
            np.maximum(0, x)})
    alphas = [1.0, 0.5] if not ctx.hidden else [1.0, float(ctx.rng.uniform(0.2, 3.0))]
    for shape, alpha in _with_params(_shapes(ctx), alphas):
        x = 2 * _with_zeros(ctx.rng, shape)
        em1 = np.expm1(np.minimum(x, 0))
        out, _ = _forward(elu_forward, x, "elu_forward", alpha, names=("x", "alpha"))
        expect_close(out, np.where(x > 0, x, alpha * em1), "out",
                     context=f"for x of shape {shape}, alpha={alpha:g}", hints={
            _m("plain-relu", "negative inputs become alpha * (exp(x) - 1), not 0 (that "
               "is ReLU)"): np.maximum(0, x),
            _m("alpha-missing", "the factor alpha is missing on the negative side"):
                np.where(x > 0, x, em1) if alpha != 1 else None,
            _m("minus-one-missing", "it is alpha * (exp(x) - 1): the - 1 is missing (ELU "
               "must be 0 at x = 0)"): np.where(x > 0, x, alpha * (em1 + 1)),
            _m("slope-wrong-side", "the exponential piece belongs on the negative side: "
               "out = x where x > 0"): np.where(x > 0, alpha * em1, x),
        })
    _responds(elu_forward, _mixed(ctx.rng, (4, 5)), "elu_forward")
    out, _ = _forward(elu_forward, _STABLE_X, "elu_forward", finite=False)
    _expect_finite(out, _STABLE_X, "elu_forward", hint=_ELU_UNSTABLE)
    expect_close(out, np.where(_STABLE_X > 0, _STABLE_X, np.expm1(np.minimum(_STABLE_X, 0))),
                 "out", atol=1e-12, context=f"for large inputs x = {fmt(_STABLE_X)}")


@register("elu_backward", "ELU backward pass: dx = dout where x > 0, dout * alpha * exp(x) "
          "elsewhere")
def _(ctx, elu_forward, elu_backward):
    alphas = [1.0, 0.5] if not ctx.hidden else [1.0, float(ctx.rng.uniform(0.2, 3.0))]
    for shape, alpha in _with_params(_shapes(ctx), alphas):
        x = 2 * _mixed(ctx.rng, shape)
        dout = _upstream(ctx.rng, x)
        _, cache = _forward(elu_forward, x, "elu_forward", alpha, names=("x", "alpha"))
        dx = _dx(elu_backward, dout, cache)
        ex = np.exp(np.minimum(x, 0))
        pos = x > 0
        _check_dx(ctx, elu_forward, (x, alpha), dx, dout, "elu_forward", {
            _m("wrong-local-gradient", "for x < 0 the derivative is alpha * exp(x) "
               "(= out + alpha), not the output alpha * (exp(x) - 1) itself"):
                dout * np.where(pos, 1.0, alpha * (ex - 1)),
            _m("alpha-missing", "for x < 0 the derivative is alpha * exp(x): the factor "
               "alpha is missing"): dout * np.where(pos, 1.0, ex) if alpha != 1 else None,
            _m("plain-relu", "for x < 0 the derivative is alpha * exp(x), not 0 (that is "
               "ReLU's)"): dout * pos,
            _m("wrong-local-gradient", "for x < 0 the derivative is alpha * exp(x), not 1"):
                dout,
            _m("dout-missing", "dx must be dout times the local gradient, not the local "
               "gradient alone"): np.where(pos, 1.0, alpha * ex),
            _m("dout-missing", "for x < 0, dx is dout * alpha * exp(x): the factor dout is "
               "missing there"): np.where(pos, dout, alpha * ex),
        }, sides="the exponential piece's derivative alpha * exp(x)")
    _kink_case(ctx, elu_forward, elu_backward, "elu_forward", params=(0.5,),
               names=("x", "alpha"), lo=0.5, hi=1.0,
               rule="dx = dout where x > 0, alpha * exp(x) * dout where x <= 0")
    _saturated_dx(ctx, elu_forward, elu_backward, "elu_forward", hint=_m("unstable", (
        "exp(1000) is inf, and a mask times inf is nan where the mask is 0: choose the "
        "derivative's pieces with np.where (or take exp only of np.minimum(x, 0)) instead "
        "of adding masked terms")))


# --------------------------------------------------------------------------- Maxout

def _maxout_shapes(ctx):
    if not ctx.hidden:
        return [(4, 3, 5), (1, 3, 2), (40, 3, 2)]
    return [(1, 2, 1), (6, 4, 3),
            (int(ctx.rng.integers(100, 160)), *(int(v) for v in ctx.rng.integers(2, 8, 2)))]


def _maxout_inputs(rng, n, d, h):
    """x (n, d), w1, w2 (d, h), b1, b2 (h,) with the two pieces never within 1e-3 of a tie
    (no kink within reach of the numerical gradient's steps of 1e-5), each piece winning
    somewhere when there is room."""
    for _ in range(200):
        x = rng.standard_normal((n, d))
        w1, w2 = rng.standard_normal((d, h)), rng.standard_normal((d, h))
        b1, b2 = rng.standard_normal(h), rng.standard_normal(h)
        diff = (x @ w1 + b1) - (x @ w2 + b2)
        wins = diff > 0
        if np.abs(diff).min() > 1e-3 and (diff.size == 1 or 0 < wins.sum() < diff.size):
            return x, w1, b1, w2, b2
    raise RuntimeError("could not draw maxout inputs away from ties")  # pragma: no cover


_MAXOUT_NAMES = ("x", "w1", "b1", "w2", "b2")


def _maxout_out(result, n, h):
    out, cache = as_tuple(result, "maxout_forward", 2, ("out", "cache"))
    value = materialize(out)
    if type(value) is np.ndarray and value.shape == (2, h) and n != 2:
        fail(f"out has shape (2, {h}), expected ({n}, {h}).",
             hint=_m("max-wrong-axis", "you took the max over the examples: stacked as "
                     "(2, N, H), the two pieces are axis 0; np.maximum(z1, z2) takes the "
                     "element-wise max of the pieces"))
    return as_array(out, "out", shape=(n, h)), cache


@register("maxout_forward", "Maxout forward pass: out = max(x w1 + b1, x w2 + b2)")
def _(ctx, maxout_forward):
    for n, d, h in _maxout_shapes(ctx):
        args = _maxout_inputs(ctx.rng, n, d, h)
        x, w1, b1, w2, b2 = args
        out, _ = _maxout_out(call(maxout_forward, *args, names=_MAXOUT_NAMES), n, h)
        z1, z2 = x @ w1 + b1, x @ w2 + b2
        expect_close(out, np.maximum(z1, z2), "out",
                     context=f"for x {x.shape}, w1 and w2 {w1.shape}, b1 and b2 {b1.shape}",
                     hints={
                         _m("min-instead-of-max", "it is min(z1, z2); maxout takes the max of "
                            "the two pieces"): np.minimum(z1, z2),
                         _m("sum-of-pieces", "it is z1 + z2; maxout takes the element-wise "
                            "max of the pieces"): z1 + z2,
                         _m("other-activation", "it is the first piece x w1 + b1 only"): z1,
                         _m("bias-missing", "the biases are missing: z1 = x w1 + b1, z2 = "
                            "x w2 + b2"): np.maximum(x @ w1, x @ w2),
                         _m("bias-missing", "b1 is missing: z1 = x w1 + b1"):
                             np.maximum(x @ w1, z2),
                         _m("bias-missing", "b2 is missing: z2 = x w2 + b2"):
                             np.maximum(z1, x @ w2),
                     })
    args = _maxout_inputs(ctx.rng, 4, 3, 5)
    moved = (-2.0 * args[0] + 0.5, *args[1:])
    expect_responds(maxout_forward, args, moved, "out", what="x",
                    output=lambda r: _maxout_out(r, 4, 5)[0], label="maxout_forward")


_MAXOUT_GRADS = ("dx", "dw1", "db1", "dw2", "db2")


def _maxout_grads(maxout_forward, maxout_backward, args, dout):
    n, h = dout.shape
    _, cache = _maxout_out(call(maxout_forward, *args, names=_MAXOUT_NAMES), n, h)
    result = call(maxout_backward, dout, cache, names=("dout", "cache"))
    grads = as_tuple(result, "maxout_backward", 5, _MAXOUT_GRADS)
    for name, g, a in zip(_MAXOUT_GRADS, grads, args):
        if name.startswith("db") and type(materialize(g)) is np.ndarray \
                and np.shape(materialize(g)) in ((n, h), (n,)) and np.shape(materialize(g)) \
                != a.shape:
            fail(f"{name} has shape {np.shape(materialize(g))}, but the bias has shape "
                 f"{a.shape}.", hint=_m("bias-not-summed", "each bias is shared by all N "
                                        "examples: sum the gradient over axis 0"))
    return [as_array(g, name, shape=a.shape) for name, g, a in zip(_MAXOUT_GRADS, grads, args)]


def _maxout_ties(ctx, maxout_forward, maxout_backward):
    """Unit 0's two pieces are identical (w2[:, 0] = w1[:, 0], b2[0] = b1[0]), so they tie
    on every example: any split of dout between them is right, as long as the shares add up
    to dout; every other unit is compared with numerical gradients."""
    n, d, h = (5, 3, 3) if not ctx.hidden else (12, 4, 3)
    x, w1, b1, w2, b2 = _maxout_inputs(ctx.rng, n, d, h)
    w2[:, 0], b2[0] = w1[:, 0], b1[0]
    args = (x, w1, b1, w2, b2)
    dout = ctx.rng.standard_normal((n, h))
    dx, dw1, db1, dw2, db2 = _maxout_grads(maxout_forward, maxout_backward, args, dout)
    total = float(dout[:, 0].sum())
    got = float(db1[0] + db2[0])
    if abs(got - total) > 1e-8 * max(1.0, abs(total)):
        why = None
        if abs(got - 2 * total) < 1e-8 * max(1.0, abs(total)):
            why = _m("tie-to-both", "on a tie both pieces pass the max, but dout goes to one of "
                     "them (or is split), not to both: use >= for one piece and the opposite "
                     "mask (~mask) for the other")
        elif abs(got) < 1e-12:
            why = _m("tie-dropped", "on a tie neither piece got dout: with z1 > z2 and "
                     "z2 > z1 as masks a tie falls through both; use one mask and its "
                     "opposite (~mask)")
        fail(f"db1[0] + db2[0] = {fmt(got)}, expected sum(dout[:, 0]) = {fmt(total)}, for "
             f"a unit whose two pieces tie on every example (w2[:, 0] = w1[:, 0], "
             f"b2[0] = b1[0]). On a tie any split of dout between the pieces is accepted, as "
             "long as the shares add up to dout.", hint=why)
    output = lambda r: _maxout_out(r, n, h)[0]  # noqa: E731
    # Identical pieces tie for every x, so the output is smooth in x: no kink for dx.
    check_gradient(maxout_forward, args, 0, dx, "dx", rng=ctx.rng, upstream=dout,
                   output=output, num_checks=None)
    for k, name, grad in ((1, "dw1", dw1), (2, "db1", db1), (3, "dw2", dw2), (4, "db2", db2)):
        rest = [ix for ix in np.ndindex(grad.shape) if ix[-1] != 0]
        numeric = numerical_gradient(maxout_forward, args, k, output,
                                     upstream=dout, indices=rest, label="maxout_forward")
        expect_close(np.array([grad[ix] for ix in rest]), numeric, f"{name} (units 1 and up)",
                     rtol=1e-5, atol=1e-7, context="for the units that do not tie")


@register("maxout_backward", "Maxout backward pass: each upstream gradient flows into the "
          "piece that won the max")
def _(ctx, maxout_forward, maxout_backward):
    for n, d, h in _maxout_shapes(ctx):
        args = _maxout_inputs(ctx.rng, n, d, h)
        x, w1, b1, w2, b2 = args
        dout = ctx.rng.standard_normal((n, h))
        grads = _maxout_grads(maxout_forward, maxout_backward, args, dout)
        win = (x @ w1 + b1) > (x @ w2 + b2)
        d1, d2 = dout * win, dout * ~win
        both = {"dx": dout @ (w1 + w2).T, "dw1": x.T @ dout, "db1": dout.sum(0),
                "dw2": x.T @ dout, "db2": dout.sum(0)}
        swapped = {"dx": d2 @ w1.T + d1 @ w2.T, "dw1": x.T @ d2, "db1": d2.sum(0),
                   "dw2": x.T @ d1, "db2": d1.sum(0)}
        one_piece = {"dx": {"dx has only piece 1's part": d1 @ w1.T,
                            "dx has only piece 2's part": d2 @ w2.T}}
        for i, (name, g) in enumerate(zip(_MAXOUT_GRADS, grads)):
            hints = {
                _m("routes-to-both", "you sent dout to both pieces: only the piece that won "
                   "the max (for that example and unit) gets the gradient, the other gets 0, "
                   "like ReLU's mask"): both[name],
                _m("routing-inverted", "the routing is inverted: the gradient goes to the "
                   "piece that WON the max (z1 > z2 sends it to piece 1)"): swapped[name],
            }
            for what, pred in one_piece.get(name, {}).items():
                hints[_m("one-piece-only", f"{what}: x feeds both pieces, so dx adds both "
                         "pieces' contributions, dx = d1 @ w1.T + d2 @ w2.T")] = pred
            check_gradient(maxout_forward, args, i, g, name, rng=ctx.rng, upstream=dout,
                           output=lambda r, n=n, h=h: _maxout_out(r, n, h)[0],
                           num_checks=_num_checks(args[i]), hints=hints)
    _maxout_ties(ctx, maxout_forward, maxout_backward)
