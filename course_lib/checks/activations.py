"""Checks for activation functions as forward/backward pairs (notebooks 04 and 05).

``<name>_forward(x, ...) -> (out, cache)`` and ``<name>_backward(dout, cache) -> dx``, in
CS231n's layer convention (PReLU's backward also returns ``dalpha``; Maxout's returns
``dx, dw1, db1, dw2, db2``). Forward values are compared with hand-computable entries and
with the function's definition on the check's own inputs; backward passes are compared with
numerical gradients of the student's own forward pass (vector-Jacobian products with the
upstream gradient ``dout``).

The inputs are built to tell mistakes apart: entries keep away from kinks, both signs are
present, and upstream gradients disagree in sign with x at some entries.
"""

from __future__ import annotations

import numpy as np

from . import (
    as_array,
    as_tuple,
    call,
    check_gradient,
    expect_close,
    fail,
    fmt,
    materialize,
    register,
)


def _mixed(rng, shape, margin=1e-3):
    """Normal samples at least ``margin`` away from 0 (ReLU's kink), with both signs present
    (entry 0 positive, entries 1 and 2 negative) so that different mistakes give different
    results."""
    x = rng.standard_normal(shape)
    x = np.where(np.abs(x) < margin, np.sign(x + 1e-12) * margin * 2, x)
    flat = x.reshape(-1)
    flat[0], flat[1], flat[2] = abs(flat[0]), -abs(flat[1]), -abs(flat[2])
    return x


def _upstream(rng, x):
    """An upstream gradient whose signs disagree with x's at entries 0 and 1 and agree at 2,
    so "mask from dout" and "inverted mask" give different results."""
    dout = rng.standard_normal(x.shape)
    flat = dout.reshape(-1)
    flat[0], flat[1], flat[2] = -abs(flat[0]) - 0.1, abs(flat[1]) + 0.1, -abs(flat[2]) - 0.1
    return dout


def _shapes(ctx):
    if not ctx.hidden:
        return [(4, 5)]
    return [(3,), (3, 4), (2, 3, 4), (int(ctx.rng.integers(5, 40)), int(ctx.rng.integers(2, 9)))]


def _forward(fn, x, label, *params, names=("x",), finite=True):
    """The student's ``(out, cache)`` for ``fn(x, *params)``, with out validated."""
    out, cache = as_tuple(call(fn, x, *params, names=names), label, 2, ("out", "cache"))
    return as_array(out, "out", shape=x.shape, finite=finite), cache


def _dx(backward, dout, cache):
    return as_array(call(backward, dout, cache, names=("dout", "cache")), "dx",
                    shape=dout.shape)


def _out_of(label):
    """``output=`` for check_gradient: the ``out`` of a ``(out, cache)`` result."""
    return lambda result: as_array(as_tuple(result, label, 2)[0], "out")


def _num_checks(x):
    return None if x.size <= 40 else 40


def _check_dx(ctx, forward, args, dx, dout, label, hints):
    check_gradient(forward, args, 0, dx, "dx", rng=ctx.rng, upstream=dout,
                   output=_out_of(label), num_checks=_num_checks(args[0]), hints=hints)


def _expect_finite(out, x, label, hint):
    """Fail with ``hint`` when the forward pass turned large inputs into nan or inf."""
    bad = ~np.isfinite(out)
    if bad.any():
        i = int(np.argmax(bad))
        fail(f"{label} is not numerically stable: for x = {fmt(x[i])} it returns "
             f"{out[i]} (inputs: {fmt(x)}, outputs: {fmt(out)}).", hint=hint)


_STABLE_X = np.array([-1000.0, -100.0, -20.0, 0.0, 20.0, 100.0, 1000.0])


# --------------------------------------------------------------------------- ReLU

@register("relu_forward", "ReLU forward pass: out = max(0, x)")
def _(ctx, relu_forward):
    for shape in _shapes(ctx):
        x = _mixed(ctx.rng, shape)
        out, _ = _forward(relu_forward, x, "relu_forward")
        expect_close(out, np.where(x > 0, x, 0.0), "out", context=f"for x of shape {shape}",
                     hints={"negative inputs must become 0, not stay negative": x,
                            "it looks like min(0, x) instead of max(0, x)": np.minimum(0, x)})


@register("relu_backward", "ReLU backward pass: dx = dout where x > 0, else 0")
def _(ctx, relu_forward, relu_backward):
    for shape in _shapes(ctx):
        x = _mixed(ctx.rng, shape)
        dout = _upstream(ctx.rng, x)
        _, cache = _forward(relu_forward, x, "relu_forward")
        dx = _dx(relu_backward, dout, cache)
        _check_dx(ctx, relu_forward, (x,), dx, dout, "relu_forward", {
            "the mask must come from the forward input x (x > 0), not from dout":
                dout * (dout > 0),
            "the mask is inverted: pass dout where x > 0, block it where x <= 0":
                dout * (x <= 0),
            "dx must be dout times the mask, not the mask alone": (x > 0).astype(float),
        })


# --------------------------------------------------------------------------- sigmoid

def _logistic(x):
    # The definition 1 / (1 + exp(-x)), written through tanh so that it cannot overflow.
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _sigmoid_hints(x):
    s = _logistic(x)
    return {"the minus sign is missing: 1 / (1 + exp(x)) is sigmoid(-x)": 1 - s,
            "that is tanh(x); the sigmoid is 1 / (1 + exp(-x)), with values in (0, 1)":
                np.tanh(x)}


@register("sigmoid_forward", "sigmoid forward pass: out = 1 / (1 + exp(-x))")
def _(ctx, sigmoid_forward):
    x = np.array([0.0, np.log(3.0), -np.log(3.0), np.log(4.0)])
    out, _ = _forward(sigmoid_forward, x, "sigmoid_forward")
    expect_close(out, [0.5, 0.75, 0.25, 0.8], "out", context="for x = [0, ln 3, -ln 3, ln 4]",
                 hints=_sigmoid_hints(x))
    for shape in _shapes(ctx):
        x = 2 * _mixed(ctx.rng, shape)
        out, _ = _forward(sigmoid_forward, x, "sigmoid_forward")
        expect_close(out, _logistic(x), "out", context=f"for x of shape {shape}",
                     hints=_sigmoid_hints(x))
    out, _ = _forward(sigmoid_forward, _STABLE_X, "sigmoid_forward", finite=False)
    _expect_finite(out, _STABLE_X, "sigmoid_forward", hint=(
        "exp(1000) overflows to inf, and inf / inf is nan. 1 / (1 + np.exp(-x)) is safe "
        "(1 / inf is 0); exp(x) / (1 + exp(x)) is not. Or only ever take exp of -|x|."))
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
            "the local gradient is out * (1 - out) with out = sigmoid(x), the forward "
            "OUTPUT (keep it in the cache); you computed x * (1 - x) from the input":
                dout * x * (1 - x),
            "dx must be dout times the local gradient out * (1 - out), not the local "
            "gradient alone": s * (1 - s),
            "the local gradient is out * (1 - out), not out": dout * s,
            "the local gradient is out * (1 - out), not 1 - out": dout * (1 - s),
        })
    # Saturated units: the local gradient must come out as (almost exactly) 0, not nan.
    x = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    _, cache = _forward(sigmoid_forward, x, "sigmoid_forward")
    dout = np.ones_like(x)
    dx = _dx(sigmoid_backward, dout, cache)
    check_gradient(sigmoid_forward, (x,), 0, dx, "dx", rng=ctx.rng, upstream=dout,
                   output=_out_of("sigmoid_forward"), num_checks=None)


# --------------------------------------------------------------------------- tanh

def _tanh_hints(x):
    return {"that is the sigmoid; tanh(x) = 2 * sigmoid(2x) - 1, with values in (-1, 1)":
                _logistic(x),
            "that is tanh(x / 2) = 2 * sigmoid(x) - 1; tanh(x) = 2 * sigmoid(2x) - 1":
                np.tanh(x / 2)}


@register("tanh_forward", "tanh forward pass: out = tanh(x)")
def _(ctx, tanh_forward):
    x = np.array([0.0, np.log(2.0), -np.log(2.0)])
    out, _ = _forward(tanh_forward, x, "tanh_forward")
    expect_close(out, [0.0, 0.6, -0.6], "out", context="for x = [0, ln 2, -ln 2]",
                 hints=_tanh_hints(x))
    for shape in _shapes(ctx):
        x = 2 * _mixed(ctx.rng, shape)
        out, _ = _forward(tanh_forward, x, "tanh_forward")
        expect_close(out, np.tanh(x), "out", context=f"for x of shape {shape}",
                     hints=_tanh_hints(x))
    out, _ = _forward(tanh_forward, _STABLE_X, "tanh_forward", finite=False)
    _expect_finite(out, _STABLE_X, "tanh_forward", hint=(
        "(exp(x) - exp(-x)) / (exp(x) + exp(-x)) is inf / inf = nan for large |x|: use "
        "np.tanh, or a formula that only takes exp of -2|x|."))
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
            "the derivative of tanh is 1 - tanh(x)**2 = 1 - out**2, from the forward OUTPUT "
            "(keep it in the cache); you computed 1 - x**2 from the input":
                dout * (1 - x**2),
            "dx must be dout times the local gradient 1 - out**2, not the local gradient "
            "alone": 1 - t**2,
            "the local gradient is 1 - out**2, not 1 - out": dout * (1 - t),
            "out * (1 - out) is the sigmoid's local gradient; tanh's is 1 - out**2":
                dout * t * (1 - t),
        })


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
        return f"negative inputs must become {slope:g} * x, not 0: that is plain ReLU"
    if np.isclose(c, 0.01):
        return (f"the negative side uses slope 0.01, but this call passed slope = {slope:g}: "
                "use the slope argument instead of a fixed 0.01")
    return f"the negative side has slope {c:g}; it should be slope = {slope:g}"


@register("leaky_relu_forward", "Leaky ReLU forward pass: out = max(slope * x, x)")
def _(ctx, leaky_relu_forward):
    x = np.array([2.0, -3.0, 0.5, -100.0])
    out, _ = _forward(leaky_relu_forward, x, "leaky_relu_forward")
    hint = _slope_hint(out, x, 0.01)
    expect_close(out, [2.0, -0.03, 0.5, -1.0], "out",
                 context="for x = [2, -3, 0.5, -100] and the default slope 0.01",
                 hints={hint: out} if hint else {
                     "the slope 0.01 multiplies the negative inputs, not the positive ones: "
                     "out = x where x > 0, 0.01 * x where x <= 0": [0.02, -3.0, 0.005, -100]})
    slopes = [0.01, 0.2] if not ctx.hidden else [0.01, float(ctx.rng.uniform(0.05, 0.5))]
    for shape in _shapes(ctx):
        for slope in slopes:
            x = _mixed(ctx.rng, shape)
            out, _ = _forward(leaky_relu_forward, x, "leaky_relu_forward", slope,
                              names=("x", "slope"))
            expected = np.where(x > 0, x, slope * x)
            hint = _slope_hint(out, x, slope)
            expect_close(out, expected, "out", context=f"for x of shape {shape}, slope={slope:g}",
                         hints={hint: out} if hint else {
                             "slope multiplies the negative inputs, not the positive ones":
                                 np.where(x > 0, slope * x, x)})


@register("leaky_relu_backward", "Leaky ReLU backward pass: dx = dout where x > 0, "
          "slope * dout elsewhere")
def _(ctx, leaky_relu_forward, leaky_relu_backward):
    slopes = [0.01, 0.2] if not ctx.hidden else [0.01, float(ctx.rng.uniform(0.05, 0.5))]
    for shape in _shapes(ctx):
        for slope in slopes:
            x = _mixed(ctx.rng, shape)
            dout = _upstream(ctx.rng, x)
            _, cache = _forward(leaky_relu_forward, x, "leaky_relu_forward", slope,
                                names=("x", "slope"))
            dx = _dx(leaky_relu_backward, dout, cache)
            _check_dx(ctx, leaky_relu_forward, (x, slope), dx, dout, "leaky_relu_forward", {
                "negative inputs must pass slope * dout, not 0: that is ReLU's backward pass":
                    dout * (x > 0),
                f"the negative side must pass slope * dout with the slope given to the "
                f"forward pass ({slope:g}), not 0.01: keep slope in the cache":
                    dout * np.where(x > 0, 1.0, 0.01) if slope != 0.01 else None,
                "dx must be dout times the local gradient (1 or slope), not the local "
                "gradient alone": np.where(x > 0, 1.0, slope),
                "the mask must come from the forward input x, not from dout":
                    dout * np.where(dout > 0, 1.0, slope),
                "slope belongs on the negative side (x <= 0); x > 0 passes dout unchanged":
                    dout * np.where(x > 0, slope, 1.0),
            })


# --------------------------------------------------------------------------- PReLU

def _prelu_shapes(ctx):
    if not ctx.hidden:
        return [(4, 3)]
    shapes = [(2, 5), (7, 1)]
    n, d = int(ctx.rng.integers(3, 30)), int(ctx.rng.integers(2, 9))
    return shapes + [(n if n != d else n + 1, d)]


def _prelu_inputs(ctx, shape):
    x = _mixed(ctx.rng, shape)
    alpha = ctx.rng.uniform(0.05, 0.6, size=shape[1])
    if shape == (4, 3):
        alpha = np.array([0.1, 0.25, 0.5])
    return x, alpha


@register("prelu_forward", "parametric ReLU forward pass: out = x where x > 0, alpha * x "
          "elsewhere, one learned alpha per unit")
def _(ctx, prelu_forward):
    x, alpha = np.array([[1.0, -2.0], [-4.0, 3.0]]), np.array([0.25, 0.5])
    out, _ = _forward(prelu_forward, x, "prelu_forward", alpha, names=("x", "alpha"))
    expect_close(out, [[1.0, -1.0], [-1.0, 3.0]], "out",
                 context="for x = [[1, -2], [-4, 3]] and alpha = [0.25, 0.5]",
                 hints={"alpha[j] is the slope of column j (unit j): multiply x[:, j] by "
                        "alpha[j], not row i by alpha[i]": [[1.0, -0.5], [-2.0, 3.0]]})
    for shape in _prelu_shapes(ctx):
        x, alpha = _prelu_inputs(ctx, shape)
        out, _ = _forward(prelu_forward, x, "prelu_forward", alpha, names=("x", "alpha"))
        expect_close(out, np.where(x > 0, x, alpha * x), "out",
                     context=f"for x of shape {shape}, alpha of shape {alpha.shape}", hints={
                         "negative inputs must become alpha * x, not 0: that is plain ReLU":
                             np.maximum(0, x),
                         "alpha multiplies only the negative inputs": alpha * x,
                         "alpha belongs on the negative side: out = x where x > 0":
                             np.where(x > 0, alpha * x, x),
                     })


def _prelu_grads(result, x, alpha):
    """The student's (dx, dalpha), with pointed messages for the usual dalpha mistakes."""
    value = materialize(result)
    if type(value) is np.ndarray:
        fail("prelu_backward returned a single array; it must return (dx, dalpha).",
             hint="alpha is learned like a weight, so the layer must also give its gradient "
                  "dalpha, shaped like alpha")
    dx, dalpha = as_tuple(value, "prelu_backward", 2, ("dx", "dalpha"))
    dx = as_array(dx, "dx", shape=x.shape)
    dalpha = materialize(dalpha)
    n, d = x.shape
    numeric = type(dalpha) is np.ndarray or isinstance(dalpha, float | int | np.number)
    got = np.shape(dalpha) if numeric and type(dalpha) is not bool else None
    if got is not None and got != alpha.shape:
        why = {
            (n, d): "that is one value per example and unit; alpha[j] is shared by all N "
                    "examples, so add up their contributions: sum over axis 0",
            (n,): "you summed over the units (axis 1); alpha has one entry per unit, so sum "
                  "over the examples (axis 0)",
            (): "there is one alpha per unit: sum over the examples (axis 0) only, not over "
                "everything",
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
            "negative inputs must pass alpha * dout, not 0: that is ReLU's backward pass":
                dout * (x > 0),
            "dx must be dout times the local gradient (1 or alpha), not the local gradient "
            "alone": np.where(x > 0, 1.0, alpha * np.ones_like(x)),
            "alpha belongs on the negative side; x > 0 passes dout unchanged":
                dout * np.where(x > 0, alpha, 1.0),
        })
        check_gradient(prelu_forward, (x, alpha), 1, dalpha, "dalpha", num_checks=None,
                       **common, hints={
            "dalpha[j] sums dout * x only where x < 0 (where alpha was used); you summed over "
            "all x": np.sum(dout * x, axis=0),
            "dalpha[j] sums dout * x over the examples where x < 0: the factor x is missing":
                np.sum(dout * neg, axis=0),
            "dalpha[j] is a sum over the N examples, not a mean":
                np.mean(dout * x * neg, axis=0),
            "dalpha needs the upstream gradient: sum dout * x where x < 0, not x alone":
                np.sum(x * neg, axis=0),
        })


# --------------------------------------------------------------------------- ELU

@register("elu_forward", "ELU forward pass: out = x where x > 0, alpha * (exp(x) - 1) "
          "elsewhere")
def _(ctx, elu_forward):
    x = np.array([1.0, -np.log(2.0), 3.0, -np.log(4.0)])
    out, _ = _forward(elu_forward, x, "elu_forward")
    expect_close(out, [1.0, -0.5, 3.0, -0.75], "out",
                 context="for x = [1, -ln 2, 3, -ln 4] and the default alpha = 1")
    alphas = [1.0, 0.5] if not ctx.hidden else [1.0, float(ctx.rng.uniform(0.2, 3.0))]
    for shape in _shapes(ctx):
        for alpha in alphas:
            x = 2 * _mixed(ctx.rng, shape)
            out, _ = _forward(elu_forward, x, "elu_forward", alpha, names=("x", "alpha"))
            expect_close(out, np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))), "out",
                         context=f"for x of shape {shape}, alpha={alpha:g}", hints={
                "negative inputs become alpha * (exp(x) - 1), not 0 (that is ReLU)":
                    np.maximum(0, x),
                "the factor alpha is missing on the negative side":
                    np.where(x > 0, x, np.expm1(np.minimum(x, 0))) if alpha != 1 else None,
                "it is alpha * (exp(x) - 1): the - 1 is missing (ELU must be 0 at x = 0)":
                    np.where(x > 0, x, alpha * np.exp(np.minimum(x, 0))),
            })
    out, _ = _forward(elu_forward, _STABLE_X, "elu_forward", finite=False)
    _expect_finite(out, _STABLE_X, "elu_forward", hint=(
        "exp(1000) overflows to inf, and inf * 0 is nan: choose between the two pieces with "
        "np.where instead of multiplying by masks, or take exp only of np.minimum(x, 0)."))
    expect_close(out, np.where(_STABLE_X > 0, _STABLE_X, np.expm1(np.minimum(_STABLE_X, 0))),
                 "out", atol=1e-12, context=f"for large inputs x = {fmt(_STABLE_X)}")


@register("elu_backward", "ELU backward pass: dx = dout where x > 0, dout * alpha * exp(x) "
          "elsewhere")
def _(ctx, elu_forward, elu_backward):
    alphas = [1.0, 0.5] if not ctx.hidden else [1.0, float(ctx.rng.uniform(0.2, 3.0))]
    for shape in _shapes(ctx):
        for alpha in alphas:
            x = 2 * _mixed(ctx.rng, shape)
            dout = _upstream(ctx.rng, x)
            _, cache = _forward(elu_forward, x, "elu_forward", alpha, names=("x", "alpha"))
            dx = _dx(elu_backward, dout, cache)
            ex = np.exp(np.minimum(x, 0))
            pos = x > 0
            _check_dx(ctx, elu_forward, (x, alpha), dx, dout, "elu_forward", {
                "for x < 0 the derivative is alpha * exp(x) (= out + alpha), not the output "
                "alpha * (exp(x) - 1) itself": dout * np.where(pos, 1.0, alpha * (ex - 1)),
                "for x < 0 the derivative is alpha * exp(x): the factor alpha is missing":
                    dout * np.where(pos, 1.0, ex) if alpha != 1 else None,
                "for x < 0 the derivative is alpha * exp(x), not 0 (that is ReLU's)":
                    dout * pos,
                "for x < 0 the derivative is alpha * exp(x), not 1": dout,
                "dx must be dout times the local gradient, not the local gradient alone":
                    np.where(pos, 1.0, alpha * ex),
            })


# --------------------------------------------------------------------------- Maxout

def _maxout_shapes(ctx):
    if not ctx.hidden:
        return [(4, 3, 5)]
    return [(1, 2, 1), (6, 4, 3),
            tuple(int(v) for v in ctx.rng.integers((2, 2, 2), (20, 8, 8)))]


def _maxout_inputs(rng, n, d, h):
    """x (n, d), w1, w2 (d, h), b1, b2 (h,) with the two pieces never tied (no kink within
    reach of the numerical gradient), each piece winning somewhere when there is room."""
    for _ in range(200):
        x = rng.standard_normal((n, d))
        w1, w2 = rng.standard_normal((d, h)), rng.standard_normal((d, h))
        b1, b2 = rng.standard_normal(h), rng.standard_normal(h)
        diff = (x @ w1 + b1) - (x @ w2 + b2)
        wins = diff > 0
        if np.abs(diff).min() > 0.05 and (diff.size == 1 or 0 < wins.sum() < diff.size):
            return x, w1, b1, w2, b2
    raise RuntimeError("could not draw maxout inputs away from ties")  # pragma: no cover


_MAXOUT_NAMES = ("x", "w1", "b1", "w2", "b2")


def _maxout_out(result, n, h):
    out, cache = as_tuple(result, "maxout_forward", 2, ("out", "cache"))
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
                         "it is min(z1, z2); maxout takes the max of the two pieces":
                             np.minimum(z1, z2),
                         "it is z1 + z2; maxout takes the element-wise max of the pieces":
                             z1 + z2,
                         "it is the first piece x w1 + b1 only": z1,
                         "a bias is missing: z1 = x w1 + b1, z2 = x w2 + b2":
                             np.maximum(x @ w1, x @ w2),
                     })


@register("maxout_backward", "Maxout backward pass: each upstream gradient flows into the "
          "piece that won the max")
def _(ctx, maxout_forward, maxout_backward):
    for n, d, h in _maxout_shapes(ctx):
        args = _maxout_inputs(ctx.rng, n, d, h)
        x, w1, b1, w2, b2 = args
        dout = ctx.rng.standard_normal((n, h))
        _, cache = _maxout_out(call(maxout_forward, *args, names=_MAXOUT_NAMES), n, h)
        result = call(maxout_backward, dout, cache, names=("dout", "cache"))
        names = ("dx", "dw1", "db1", "dw2", "db2")
        grads = as_tuple(result, "maxout_backward", 5, names)
        for name, g, a in zip(names, grads, args):
            if name.startswith("db") and type(materialize(g)) is np.ndarray \
                    and np.shape(materialize(g)) == (n, h) and (n, h) != a.shape:
                fail(f"{name} has shape {(n, h)}, but the bias has shape {a.shape}.",
                     hint="each bias is shared by all N examples: sum the gradient over "
                          "axis 0")
        grads = [as_array(g, name, shape=a.shape) for name, g, a in zip(names, grads, args)]
        win = (x @ w1 + b1) > (x @ w2 + b2)
        d1, d2 = dout * win, dout * ~win
        both = {"dx": dout @ (w1 + w2).T, "dw1": x.T @ dout, "db1": dout.sum(0),
                "dw2": x.T @ dout, "db2": dout.sum(0)}
        swapped = {"dx": d2 @ w1.T + d1 @ w2.T, "dw1": x.T @ d2, "db1": d2.sum(0),
                   "dw2": x.T @ d1, "db2": d1.sum(0)}
        for i, (name, g) in enumerate(zip(names, grads)):
            check_gradient(maxout_forward, args, i, g, name, rng=ctx.rng, upstream=dout,
                           output=lambda r, n=n, h=h: _maxout_out(r, n, h)[0],
                           num_checks=_num_checks(args[i]), hints={
                "you sent dout to both pieces: only the piece that won the max (for that "
                "example and unit) gets the gradient, the other gets 0, like ReLU's mask":
                    both[name],
                "the routing is inverted: the gradient goes to the piece that WON the max "
                "(z1 > z2 sends it to piece 1)": swapped[name],
            })
