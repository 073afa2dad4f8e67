"""Checks for notebook 04 (neural networks), apart from the activation functions.

* ``collapse_linear(W1, b1, W2, b2) -> (W3, b3)``: two linear layers without a
  non-linearity between them are one linear layer. Column-vector convention, as in the
  lecture's f = W2 max(0, W1 x): W1 (H, D), b1 (H,), W2 (C, H), b2 (C,); W3 (C, D), b3 (C,).
* ``count_parameters(layer_sizes) -> (neurons, weights, parameters)``: for a fully
  connected net with layer sizes ``[D, H1, ..., C]`` (input first).
"""

from __future__ import annotations

from . import as_array, as_int, as_tuple, call, expect_close, expect_equal, fail, register


def _collapse_shapes(ctx):
    if not ctx.hidden:
        return [(5, 4, 3)]
    return [(1, 1, 1), (6, 2, 4), tuple(int(v) for v in ctx.rng.integers(1, 12, size=3))]


@register("collapse_linear", "W2 (W1 x + b1) + b2 as one linear layer W3 x + b3")
def _(ctx, collapse_linear):
    for D, H, C in _collapse_shapes(ctx):
        W1, b1 = ctx.rng.standard_normal((H, D)), ctx.rng.standard_normal(H)
        W2, b2 = ctx.rng.standard_normal((C, H)), ctx.rng.standard_normal(C)
        result = call(collapse_linear, W1, b1, W2, b2, names=("W1", "b1", "W2", "b2"))
        W3, b3 = as_tuple(result, "collapse_linear", 2, ("W3", "b3"))
        W3 = as_array(W3, "W3", shape=(C, D))
        b3 = as_array(b3, "b3", shape=(C,))
        where = f"for W1 {W1.shape}, W2 {W2.shape}"
        expect_close(W3, W2 @ W1, "W3", context=where)
        expect_close(b3, W2 @ b1 + b2, "b3", context=where, hints={
            "b1 goes through W2 as well: W2 (W1 x + b1) + b2 = (W2 W1) x + (W2 b1 + b2)": b2,
            "b2 is missing: b3 = W2 b1 + b2": W2 @ b1,
        })
        # The point of the exercise, seen on inputs: the two layers and the one layer agree.
        X = ctx.rng.standard_normal((D, 7))
        two = W2 @ (W1 @ X + b1[:, None]) + b2[:, None]
        expect_close(W3 @ X + b3[:, None], two, "W3 @ x + b3", context="on 7 random inputs x")


def _random_sizes(rng):
    depth = int(rng.integers(2, 7))
    return [int(v) for v in rng.integers(1, 300, size=depth)]


@register("count_parameters", "neurons, weights and learnable parameters of a fully "
          "connected net")
def _(ctx, count_parameters):
    cases = [([3, 4, 2], (6, 20, 26)), ([3, 4, 4, 1], (9, 32, 41))]
    if ctx.hidden:
        for sizes in ([3072, 100, 10], [2, 1], [784, 512, 256, 128, 10], _random_sizes(ctx.rng),
                      _random_sizes(ctx.rng)):
            weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
            cases.append((sizes, (sum(sizes[1:]), weights, weights + sum(sizes[1:]))))
    for sizes, (neurons, weights, params) in cases:
        result = call(count_parameters, list(sizes), names=("layer_sizes",))
        if type(result) is dict:
            fail("count_parameters returned a dict; it must return a tuple "
                 "(neurons, weights, parameters) of three integers.")
        got = as_tuple(result, "count_parameters", 3, ("neurons", "weights", "parameters"))
        got_n, got_w, got_p = (as_int(v, name) for v, name in
                               zip(got, ("neurons", "weights", "parameters")))
        where = f"for layer_sizes = {sizes}"
        expect_equal(got_n, neurons, "neurons", context=where, hints={
            "the input layer has no neurons: its values are given, not computed. Count the "
            "hidden and output units only": sum(sizes),
            "the output layer's units are neurons too": sum(sizes[1:-1]),
        })
        expect_equal(got_w, weights, "weights", context=where, hints={
            "you counted the biases as weights; weights are the connections between "
            "consecutive layers, sizes[i] * sizes[i + 1]": params,
            "every pair of consecutive layers is connected: add sizes[i] * sizes[i + 1] over "
            "all of them, not just the first": sizes[0] * sizes[1],
            "consecutive layers are fully connected: multiply their sizes, do not add them":
                sum(a + b for a, b in zip(sizes, sizes[1:])),
        })
        expect_equal(got_p, params, "parameters", context=where, hints={
            "you forgot the biases: every neuron has one, so parameters = weights + neurons":
                weights,
            "the input layer has no biases (it has no neurons): parameters = weights + "
            "neurons": weights + sum(sizes),
        })
