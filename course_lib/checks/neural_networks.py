"""Checks for notebook 04 (neural networks), apart from the activation functions.

* ``collapse_linear(W1, b1, W2, b2) -> (W3, b3)``: two linear layers without a
  non-linearity between them are one linear layer. Column-vector convention, as in the
  lecture's f = W2 max(0, W1 x): W1 (H, D), b1 (H,), W2 (C, H), b2 (C,); W3 (C, D), b3 (C,).
* ``count_parameters(layer_sizes) -> (neurons, weights, parameters)``: for a fully
  connected net with layer sizes ``[D, H1, ..., C]`` (input first).

Both are checked on several sizes (1 x 1 layers included), so an answer worked out for the
lecture's example and returned whatever the input is gets "your output does not move".
"""

from __future__ import annotations

from . import (
    MISTAKES,
    CheckFailed,
    Mistake,
    as_array,
    as_int,
    as_tuple,
    call,
    expect_close,
    expect_equal,
    fail,
    register,
)

_TITLES = {
    "b1-not-through-W2": "b1 not passed through W2",
    "b2-missing": "b2 missing from b3",
    "product-order": "W2 W1 multiplied in the wrong order",
    "input-neurons": "input units counted as neurons",
    "output-not-neurons": "output units not counted as neurons",
    "biases-as-weights": "biases counted as weights",
    "first-pair-only": "only the first pair of layers counted",
    "sizes-added": "layer sizes added instead of multiplied",
    "no-biases": "biases not counted as parameters",
    "input-biases": "biases counted for the input layer",
}


def _m(id: str, text: str) -> Mistake:
    return Mistake(id, MISTAKES.get(id) or _TITLES[id], text)


_ORDER = _m("product-order", "x goes through W1 first, then W2: W2 (W1 x) = (W2 W1) x, so "
            "W3 = W2 @ W1, of shape (C, H) @ (H, D) = (C, D)")


def _collapse_shapes(ctx):
    if not ctx.hidden:
        return [(5, 4, 3), (1, 1, 1), (2, 6, 2)]
    return [(1, 1, 1), (6, 2, 4), (3, 7, 3), tuple(int(v) for v in ctx.rng.integers(1, 12, 3))]


def _collapse(collapse_linear, W1, b1, W2, b2):
    C, D = W2.shape[0], W1.shape[1]
    try:
        result = call(collapse_linear, W1, b1, W2, b2, names=("W1", "b1", "W2", "b2"))
    except CheckFailed as exc:
        if exc.hint is None and ("matmul" in exc.message or "shapes" in exc.message
                                 or "align" in exc.message):
            exc.hint, exc.mistake = _ORDER, _ORDER.id
        raise
    W3, b3 = as_tuple(result, "collapse_linear", 2, ("W3", "b3"))
    try:
        W3 = as_array(W3, "W3", shape=(C, D))
    except CheckFailed as exc:
        if C != D and f"({D}, {C})" in exc.message:
            exc.hint = _m("product-order", "W3 looks transposed (W1.T @ W2.T is (W2 @ W1).T): "
                          "x goes through W1 first, then W2, so W3 = W2 @ W1, of shape "
                          "(C, H) @ (H, D) = (C, D)")
            exc.mistake = exc.hint.id
        raise
    return W3, as_array(b3, "b3", shape=(C,))


@register("collapse_linear", "W2 (W1 x + b1) + b2 as one linear layer W3 x + b3")
def _(ctx, collapse_linear):
    for D, H, C in _collapse_shapes(ctx):
        W1, b1 = ctx.rng.standard_normal((H, D)), ctx.rng.standard_normal(H)
        W2, b2 = ctx.rng.standard_normal((C, H)), ctx.rng.standard_normal(C)
        W3, b3 = _collapse(collapse_linear, W1, b1, W2, b2)
        where = f"for W1 {W1.shape}, W2 {W2.shape}"
        expect_close(W3, W2 @ W1, "W3", context=where, hints={
            _ORDER: (W1.T @ W2.T).T if C == D else None})
        expect_close(b3, W2 @ b1 + b2, "b3", context=where, hints={
            _m("b1-not-through-W2", "b1 goes through W2 as well: W2 (W1 x + b1) + b2 = "
               "(W2 W1) x + (W2 b1 + b2)"): b2,
            _m("b2-missing", "b2 is missing: b3 = W2 b1 + b2"): W2 @ b1,
        })
        # The point of the exercise, seen on inputs: the two layers and the one layer agree.
        X = ctx.rng.standard_normal((D, 7))
        two = W2 @ (W1 @ X + b1[:, None]) + b2[:, None]
        expect_close(W3 @ X + b3[:, None], two, "W3 @ x + b3", context="on 7 random inputs x")


def _expected_counts(sizes):
    weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
    return sum(sizes[1:]), weights, weights + sum(sizes[1:])


def _random_sizes(rng):
    depth = int(rng.integers(2, 7))
    return [int(v) for v in rng.integers(1, 300, size=depth)]


@register("count_parameters", "neurons, weights and learnable parameters of a fully "
          "connected net")
def _(ctx, count_parameters):
    sizes_list = [[3, 4, 2], [3, 4, 4, 1], [2, 1], [5, 3, 1, 7]]
    if ctx.hidden:
        sizes_list += [[3072, 100, 10], [784, 512, 256, 128, 10], [1, 1],
                       _random_sizes(ctx.rng), _random_sizes(ctx.rng)]
    answers = {}
    for sizes in sizes_list:
        neurons, weights, params = _expected_counts(sizes)
        result = call(count_parameters, list(sizes), names=("layer_sizes",))
        if type(result) is dict:
            fail("count_parameters returned a dict; it must return a tuple "
                 "(neurons, weights, parameters) of three integers.")
        got = as_tuple(result, "count_parameters", 3, ("neurons", "weights", "parameters"))
        got = tuple(as_int(v, name) for v, name in
                    zip(got, ("neurons", "weights", "parameters")))
        earlier = next((s for s, a in answers.items() if a == got
                        and _expected_counts(list(s)) != (neurons, weights, params)), None)
        if earlier is not None and got != (neurons, weights, params):
            fail(f"count_parameters returned {got} for layer_sizes = {sizes}, the same as for "
                 f"{list(earlier)}: your output does not move when its input moves (expected "
                 f"{(neurons, weights, params)}).",
                 hint=Mistake("no-response", MISTAKES["no-response"],
                              "a hard-coded answer? Compute the counts from layer_sizes, for "
                              "any number of layers"))
        answers[tuple(sizes)] = got
        got_n, got_w, got_p = got
        where = f"for layer_sizes = {sizes}"
        expect_equal(got_n, neurons, "neurons", context=where, hints={
            _m("input-neurons", "the input layer has no neurons: its values are given, not "
               "computed. Count the hidden and output units only"): sum(sizes),
            _m("output-not-neurons", "the output layer's units are neurons too"):
                sum(sizes[1:-1]),
        })
        expect_equal(got_w, weights, "weights", context=where, hints={
            _m("biases-as-weights", "you counted the biases as weights; weights are the "
               "connections between consecutive layers, sizes[i] * sizes[i + 1]"): params,
            _m("first-pair-only", "every pair of consecutive layers is connected: add "
               "sizes[i] * sizes[i + 1] over all of them, not just the first"):
                sizes[0] * sizes[1],
            _m("sizes-added", "consecutive layers are fully connected: multiply their sizes, "
               "do not add them"): sum(a + b for a, b in zip(sizes, sizes[1:])),
        })
        expect_equal(got_p, params, "parameters", context=where, hints={
            _m("no-biases", "you forgot the biases: every neuron has one, so parameters = "
               "weights + neurons"): weights,
            _m("input-biases", "the input layer has no biases (it has no neurons): "
               "parameters = weights + neurons"): weights + sum(sizes),
        })
