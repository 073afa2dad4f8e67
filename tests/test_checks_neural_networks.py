"""Notebook 04's non-activation checks (collapse_linear, count_parameters) on right and
deliberately wrong implementations, directly and through the channel."""

import re
import textwrap

import pytest

from autograder.channel import Client, Loopback, ObjectServer
from course_lib.checks import CHECKS

CASES = {
    # ------------------------------------------------------------------ collapse_linear
    "collapse_linear/right": ("""
        def collapse_linear(W1, b1, W2, b2):
            return W2 @ W1, W2 @ b1 + b2
    """, "passed"),
    "collapse_linear/right_dot_list": ("""
        def collapse_linear(W1, b1, W2, b2):
            W3 = np.dot(W2, W1)
            b3 = np.dot(W2, b1.reshape(-1, 1)).ravel() + b2
            return [W3, b3]
    """, "passed"),
    "collapse_linear/transposed": ("""
        def collapse_linear(W1, b1, W2, b2):
            return W1.T @ W2.T, W2 @ b1 + b2
    """, r"W3 has shape \(\d+, \d+\), expected(.|\n)*looks transposed"),
    "collapse_linear/right_einsum": ("""
        def collapse_linear(W1, b1, W2, b2):
            return np.einsum("ch,hd->cd", W2, W1), np.einsum("ch,h->c", W2, b1) + b2
    """, "passed"),
    "collapse_linear/product_in_the_wrong_order": ("""
        def collapse_linear(W1, b1, W2, b2):
            return W1 @ W2, W2 @ b1 + b2
    """, r"raised ValueError: matmul(.|\n)*Hint: x goes through W1 first, then W2"),
    "collapse_linear/b1_not_through_W2": ("""
        def collapse_linear(W1, b1, W2, b2):
            return W2 @ W1, b2
    """, r"b1 goes through W2 as well"),
    "collapse_linear/b2_missing": ("""
        def collapse_linear(W1, b1, W2, b2):
            return W2 @ W1, W2 @ b1
    """, r"b2 is missing"),
    "collapse_linear/modifies_input": ("""
        def collapse_linear(W1, b1, W2, b2):
            b2 += W2 @ b1
            return W2 @ W1, b2
    """, r"changed its input b2 in place"),
    # ------------------------------------------------------------------ count_parameters
    "count_parameters/right": ("""
        def count_parameters(layer_sizes):
            neurons = sum(layer_sizes[1:])
            weights = sum(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
            return neurons, weights, weights + neurons
    """, "passed"),
    "count_parameters/right_numpy_list": ("""
        def count_parameters(layer_sizes):
            s = np.array(layer_sizes)
            weights = np.sum(s[:-1] * s[1:])
            return [np.int64(s[1:].sum()), weights, weights + s[1:].sum()]
    """, "passed"),
    "count_parameters/input_layer_as_neurons": ("""
        def count_parameters(layer_sizes):
            neurons = sum(layer_sizes)
            weights = sum(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
            return neurons, weights, weights + neurons
    """, r"neurons is wrong for layer_sizes = \[3, 4, 2\]: got 9, expected 6(.|\n)*"
         r"input layer has no neurons"),
    "count_parameters/forgot_biases": ("""
        def count_parameters(layer_sizes):
            neurons = sum(layer_sizes[1:])
            weights = sum(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
            return neurons, weights, weights
    """, r"parameters is wrong(.|\n)*got 20, expected 26(.|\n)*forgot the biases"),
    "count_parameters/biases_counted_as_weights": ("""
        def count_parameters(layer_sizes):
            neurons = sum(layer_sizes[1:])
            weights = sum(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
            return neurons, weights + neurons, weights + neurons
    """, r"counted the biases as weights"),
    "count_parameters/first_layer_only": ("""
        def count_parameters(layer_sizes):
            neurons = sum(layer_sizes[1:])
            weights = layer_sizes[0] * layer_sizes[1]
            return neurons, weights, weights + neurons
    """, r"weights is wrong for layer_sizes = \[3, 4, 2\](.|\n)*not just the first"),
    "count_parameters/input_biases": ("""
        def count_parameters(layer_sizes):
            neurons = sum(layer_sizes[1:])
            weights = sum(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
            return neurons, weights, weights + sum(layer_sizes)
    """, r"the input layer has no biases"),
    "count_parameters/dict": ("""
        def count_parameters(layer_sizes):
            return {"neurons": 6, "weights": 20, "parameters": 26}
    """, r"returned a dict; it must return a tuple"),
    "count_parameters/hard_coded_answers": ("""
        def count_parameters(layer_sizes):
            return (6, 20, 26) if len(layer_sizes) == 3 else (9, 32, 41)
    """, r"returned \(9, 32, 41\) for layer_sizes = \[2, 1\], the same as for \[3, 4, 4, 1\]"
         r"(.|\n)*does not move when its input moves(.|\n)*hard-coded"),
    "count_parameters/right_loop": ("""
        def count_parameters(layer_sizes):
            neurons = weights = 0
            for fan_in, fan_out in zip(layer_sizes, layer_sizes[1:]):
                neurons += fan_out
                weights += fan_in * fan_out
            return int(neurons), int(weights), int(neurons + weights)
    """, "passed"),
    "count_parameters/right_numpy": ("""
        def count_parameters(layer_sizes):
            s = np.asarray(layer_sizes)
            weights = np.sum(s[:-1] * s[1:])
            return s[1:].sum(), weights, weights + s[1:].sum()
    """, "passed"),
}


def _ref(source, name, mode):
    namespace = {"__name__": "__main__"}
    exec("import numpy as np\n" + textwrap.dedent(source), namespace)
    if mode == "direct":
        return namespace[name]
    return Client(Loopback(ObjectServer(namespace))).ref(name)


@pytest.mark.parametrize("mode", ["direct", "channel"])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("hidden", [False, True])
def test_checks(case, mode, hidden):
    source, pattern = CASES[case]
    name = case.split("/")[0]
    outcome = CHECKS[name].evaluate(_ref(source, name, mode), hidden=hidden)
    if pattern == "passed" or (pattern == "hidden-only" and not hidden):
        assert outcome.passed, outcome.message
    elif pattern == "hidden-only":
        assert not outcome.passed, "hard-coded answers passed the grading cases"
    else:
        assert not outcome.passed, "a wrong implementation passed"
        assert re.search(pattern, outcome.message), outcome.message


def test_the_two_standard_answers_are_what_the_check_expects():
    """[3, 4, 2]: 6 neurons, 20 weights, 26 parameters; [3, 4, 4, 1]: 9, 32, 41 (CS231n)."""
    seen = []

    def count_parameters(layer_sizes):
        seen.append(list(layer_sizes))
        return {(3, 4, 2): (6, 20, 26), (3, 4, 4, 1): (9, 32, 41)}[tuple(layer_sizes)]

    outcome = CHECKS["count_parameters"].evaluate(count_parameters)
    # Both standard answers are accepted; the third size is not in the lookup table.
    assert outcome.status == "error" and "KeyError: (2, 1)" in outcome.message, outcome.message
    assert seen == [[3, 4, 2], [3, 4, 4, 1], [2, 1]]
