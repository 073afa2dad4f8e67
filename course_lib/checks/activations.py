"""Checks for activation functions as forward/backward pairs (notebooks 04 and 05).

``<name>_forward(x, ...) -> (out, cache)`` and ``<name>_backward(dout, cache) -> dx``, in
CS231n's layer convention. Backward passes are checked against numerical gradients of the
student's own forward pass.
"""

from __future__ import annotations

import numpy as np

from . import (
    as_array,
    as_tuple,
    call,
    check_gradient,
    expect_close,
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


def _forward(fn, x, label):
    out, cache = as_tuple(call(fn, x, names=("x",)), label, 2, ("out", "cache"))
    return as_array(out, "out", shape=x.shape), cache


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
        dx = as_array(call(relu_backward, dout, cache, names=("dout", "cache")), "dx",
                      shape=shape)
        check_gradient(
            relu_forward, (x,), 0, dx, "dx", rng=ctx.rng, upstream=dout,
            output=lambda r: as_array(as_tuple(r, "relu_forward", 2)[0], "out"),
            num_checks=None if x.size <= 40 else 40,
            hints={
                "the mask must come from the forward input x (x > 0), not from dout":
                    dout * (dout > 0),
                "the mask is inverted: pass dout where x > 0, block it where x <= 0":
                    dout * (x <= 0),
                "dx must be dout times the mask, not the mask alone": (x > 0).astype(float),
            },
        )
