"""Activation checks on deliberately wrong implementations, directly and through the channel.

Every right implementation (written in more than one reasonable way) must pass, public and
hidden cases alike; every typical mistake must fail with the lesson that names it.
"""

import re
import textwrap

import pytest

from autograder.channel import Client, Loopback, ObjectServer
from course_lib.checks import CHECKS

RELU = {
    "right": """
        def relu_forward(x):
            return np.maximum(0, x), x
        def relu_backward(dout, cache):
            return dout * (cache > 0)
    """,
    "right_other_cache": """
        def relu_forward(x):
            mask = x > 0
            return x * mask, {"mask": mask}
        def relu_backward(dout, cache):
            dx = dout.copy()
            dx[~cache["mask"]] = 0
            return dx
    """,
    "right_where": """
        def relu_forward(x):
            return np.where(x > 0, x, 0.0), x
        def relu_backward(dout, cache):
            return np.where(cache > 0, dout, 0.0)
    """,
    "right_ge_at_the_kink": """
        def relu_forward(x):
            out = x.copy()
            out[out < 0] = 0
            return out, x
        def relu_backward(dout, x):
            dx = dout.copy()
            dx[x < 0] = 0
            return dx
    """,
    "backward_changes_dout": """
        def relu_forward(x):
            return np.maximum(0, x), x
        def relu_backward(dout, cache):
            dout[cache <= 0] = 0
            return dout
    """,
    "backward_divides_by_x": """
        def relu_forward(x):
            return np.maximum(0, x), x
        def relu_backward(dout, cache):
            return dout * np.maximum(0, cache) / cache
    """,
    "forward_cached": """
        _memo = {}
        def relu_forward(x):
            return _memo.setdefault(x.shape, (np.maximum(0, x), x))
        def relu_backward(dout, cache):
            return dout * (cache > 0)
    """,
    "min_instead_of_max": """
        def relu_forward(x):
            return np.minimum(0, x), x
        def relu_backward(dout, cache):
            return dout * (cache > 0)
    """,
    "mask_from_dout": """
        def relu_forward(x):
            return np.maximum(0, x), x
        def relu_backward(dout, cache):
            return dout * (dout > 0)
    """,
    "inverted_mask": """
        def relu_forward(x):
            return np.maximum(0, x), x
        def relu_backward(dout, cache):
            return dout * (cache <= 0)
    """,
    "in_place_forward": """
        def relu_forward(x):
            x[x < 0] = 0
            return x, x
        def relu_backward(dout, cache):
            return dout * (cache > 0)
    """,
}

EXPECTED = {
    "right": ("passed", "passed", "passed"),
    "right_other_cache": ("passed", "passed", "passed"),
    "right_where": ("passed", "passed", "passed"),
    "right_ge_at_the_kink": ("passed", "passed", "passed"),
    "backward_changes_dout": ("passed", "passed", r"relu_backward changed its input dout in "
                                                  r"place(.|\n)*reuses `dout`"),
    "backward_divides_by_x": ("passed", "passed", r"dx is nan at \[\d+, \d+\], where x = 0(.|\n)*"
                                                  r"Hint: your backward pass divides by x"),
    "forward_cached": ("failed", r"out is the same array of shape \(4, 5\) for two different "
                                 r"inputs: your output does not move when x moves", None),
    "min_instead_of_max": ("failed", r"min\(0, x\) instead of max\(0, x\)", None),
    "mask_from_dout": ("passed", "passed", r"mask must come from the forward input x"),
    "inverted_mask": ("passed", "passed", r"the mask is inverted"),
    "in_place_forward": ("error", r"changed its input x in place", None),
}


def _namespace(source):
    namespace = {"__name__": "__main__"}
    exec("import numpy as np\n" + textwrap.dedent(source), namespace)
    return namespace


def _refs(source, names, mode):
    namespace = _namespace(source)
    if mode == "direct":
        return [namespace[n] for n in names]
    client = Client(Loopback(ObjectServer(namespace)))
    return [client.ref(n) for n in names]


def _objects(impl, mode):
    return _refs(RELU[impl], ("relu_forward", "relu_backward"), mode)


# backward_divides_by_x divides 0 by 0 on purpose.
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("mode", ["direct", "channel"])
@pytest.mark.parametrize("impl", list(RELU))
@pytest.mark.parametrize("hidden", [False, True])
def test_relu_checks(impl, mode, hidden):
    forward_status, forward_pattern, backward_pattern = EXPECTED[impl]
    fwd, bwd = _objects(impl, mode)
    outcome = CHECKS["relu_forward"].evaluate(fwd, hidden=hidden)
    assert outcome.status == forward_status, outcome.message
    assert re.search(forward_pattern, outcome.message), outcome.message
    if backward_pattern:
        outcome = CHECKS["relu_backward"].evaluate(fwd, bwd, hidden=hidden)
        assert re.search(backward_pattern, outcome.message), outcome.message
        assert outcome.passed == (backward_pattern == "passed")


# --------------------------------------------------------------------------- the others
# Each case: source, then {check: pattern}; "passed" must pass, anything else must fail with
# a message matching the pattern. A forward check's objects are (forward,); a backward
# check's are (forward, backward).

SIGMOID_RIGHT = """
    def sigmoid_forward(x):
        out = 1.0 / (1.0 + np.exp(-x))
        return out, out
    def sigmoid_backward(dout, cache):
        return dout * cache * (1 - cache)
"""
TANH_RIGHT = """
    def tanh_forward(x):
        out = np.tanh(x)
        return out, out
    def tanh_backward(dout, cache):
        return dout * (1 - cache ** 2)
"""
LEAKY_RIGHT = """
    def leaky_relu_forward(x, slope=0.01):
        return np.maximum(slope * x, x), (x, slope)
    def leaky_relu_backward(dout, cache):
        x, slope = cache
        return dout * np.where(x > 0, 1.0, slope)
"""
PRELU_RIGHT = """
    def prelu_forward(x, alpha):
        return np.where(x > 0, x, alpha * x), (x, alpha)
    def prelu_backward(dout, cache):
        x, alpha = cache
        dx = dout * np.where(x > 0, 1.0, alpha)
        dalpha = np.sum(dout * x * (x <= 0), axis=0)
        return dx, dalpha
"""
ELU_RIGHT = """
    def elu_forward(x, alpha=1.0):
        out = np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))
        return out, (x, out, alpha)
    def elu_backward(dout, cache):
        x, out, alpha = cache
        return dout * np.where(x > 0, 1.0, out + alpha)
"""
MAXOUT_RIGHT = """
    def maxout_forward(x, w1, b1, w2, b2):
        z1, z2 = x @ w1 + b1, x @ w2 + b2
        return np.maximum(z1, z2), (x, w1, w2, z1 >= z2)
    def maxout_backward(dout, cache):
        x, w1, w2, first = cache
        d1, d2 = dout * first, dout * ~first
        return d1 @ w1.T + d2 @ w2.T, x.T @ d1, d1.sum(0), x.T @ d2, d2.sum(0)
"""

CASES = {
    # ------------------------------------------------------------------ sigmoid
    "sigmoid/right": (SIGMOID_RIGHT, {"sigmoid_forward": "passed",
                                      "sigmoid_backward": "passed"}),
    "sigmoid/right_stable_recomputed": ("""
        def sigmoid_forward(x):
            e = np.exp(-np.abs(x))
            out = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
            return out, {"x": x}
        def sigmoid_backward(dout, cache):
            s, _ = sigmoid_forward(cache["x"])
            return dout * s * (1 - s)
    """, {"sigmoid_forward": "passed", "sigmoid_backward": "passed"}),
    "sigmoid/right_two_branches": ("""
        def sigmoid_forward(x):
            pos = x >= 0
            z = np.exp(np.where(pos, -x, x))
            out = np.where(pos, 1 / (1 + z), z / (1 + z))
            return out, out
        def sigmoid_backward(dout, out):
            return dout * out * (1 - out)
    """, {"sigmoid_forward": "passed", "sigmoid_backward": "passed"}),
    "sigmoid/minus_sign_missing": ("""
        def sigmoid_forward(x):
            out = 1 / (1 + np.exp(x))
            return out, out
    """, {"sigmoid_forward": r"minus sign is missing"}),
    "sigmoid/overflows_to_nan": ("""
        def sigmoid_forward(x):
            e = np.exp(x)
            out = e / (1 + e)
            return out, out
    """, {"sigmoid_forward": r"not numerically stable(.|\n)*inf / inf is nan"}),
    "sigmoid/gradient_from_input": ("""
        def sigmoid_forward(x):
            return 1 / (1 + np.exp(-x)), x
        def sigmoid_backward(dout, cache):
            x = cache
            return dout * x * (1 - x)
    """, {"sigmoid_forward": "passed",
          "sigmoid_backward": r"forward OUTPUT(.|\n)*you computed x \* \(1 - x\)"}),
    "sigmoid/no_upstream": (SIGMOID_RIGHT.replace("return dout * cache", "return cache"),
                            {"sigmoid_backward": r"not the local gradient alone"}),
    "sigmoid/float32": (SIGMOID_RIGHT.replace("return out, out",
                                              "return out.astype(np.float32), out"),
                        {"sigmoid_forward": r"dtype float32; expected float64"}),
    # ------------------------------------------------------------------ tanh
    "tanh/right": (TANH_RIGHT, {"tanh_forward": "passed", "tanh_backward": "passed"}),
    "tanh/right_via_sigmoid": ("""
        def tanh_forward(x):
            out = 2 / (1 + np.exp(-2 * x)) - 1
            return out, x
        def tanh_backward(dout, cache):
            t = np.tanh(cache)
            return dout - dout * t * t
    """, {"tanh_forward": "passed", "tanh_backward": "passed"}),
    "tanh/derivative_from_input": (TANH_RIGHT.replace("return out, out", "return out, x"),
                                   {"tanh_forward": "passed",
                                    "tanh_backward": r"you computed 1 - x\*\*2 from the input"}),
    "tanh/exp_formula_overflows": ("""
        def tanh_forward(x):
            out = (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x))
            return out, out
    """, {"tanh_forward": r"not numerically stable(.|\n)*np.tanh"}),
    "tanh/half_argument": ("""
        def tanh_forward(x):
            out = 2 / (1 + np.exp(-x)) - 1
            return out, out
    """, {"tanh_forward": r"tanh\(x / 2\)"}),
    "tanh/sigmoid_gradient": (TANH_RIGHT.replace("(1 - cache ** 2)", "cache * (1 - cache)"),
                              {"tanh_backward": r"sigmoid's local gradient"}),
    # ------------------------------------------------------------------ Leaky ReLU
    "leaky/right": (LEAKY_RIGHT, {"leaky_relu_forward": "passed",
                                  "leaky_relu_backward": "passed"}),
    "leaky/right_mask_cache": ("""
        def leaky_relu_forward(x, slope=0.01):
            out = x.copy()
            out[x < 0] *= slope
            return out, {"neg": x < 0, "slope": slope}
        def leaky_relu_backward(dout, cache):
            dx = dout.copy()
            dx[cache["neg"]] *= cache["slope"]
            return dx
    """, {"leaky_relu_forward": "passed", "leaky_relu_backward": "passed"}),
    "leaky/right_ge_mask": (LEAKY_RIGHT.replace("np.where(x > 0, 1.0, slope)",
                                                "np.where(x >= 0, 1.0, slope)"),
                            {"leaky_relu_backward": "passed"}),
    "leaky/divides_by_x": (LEAKY_RIGHT.replace("dout * np.where(x > 0, 1.0, slope)",
                                               "dout * np.maximum(slope * x, x) / x"),
                           {"leaky_relu_backward": r"where x = 0(.|\n)*divides by x"}),
    "leaky/plain_relu": ("""
        def leaky_relu_forward(x, slope=0.01):
            return np.maximum(0, x), x
    """, {"leaky_relu_forward": r"not 0: that is plain ReLU"}),
    "leaky/wrong_constant": ("""
        def leaky_relu_forward(x, slope=0.01):
            return np.maximum(0.1 * x, x), x
    """, {"leaky_relu_forward": r"slope 0\.1; it should be slope = 0\.01"}),
    "leaky/slope_argument_ignored": ("""
        def leaky_relu_forward(x, slope=0.01):
            return np.where(x > 0, x, 0.01 * x), x
    """, {"leaky_relu_forward": r"use the slope argument instead of a fixed 0\.01"}),
    "leaky/backward_hard_coded_slope": (LEAKY_RIGHT.replace(
        "np.where(x > 0, 1.0, slope)", "np.where(x > 0, 1.0, 0.01)"),
        {"leaky_relu_forward": "passed", "leaky_relu_backward": r"not 0\.01: keep slope"}),
    "leaky/backward_relu_mask": (LEAKY_RIGHT.replace(
        "np.where(x > 0, 1.0, slope)", "(x > 0)"),
        {"leaky_relu_backward": r"that is ReLU's backward pass"}),
    "leaky/slope_on_wrong_side": (LEAKY_RIGHT.replace(
        "np.where(x > 0, 1.0, slope)", "np.where(x > 0, slope, 1.0)"),
        {"leaky_relu_backward": r"slope belongs on the negative side"}),
    # ------------------------------------------------------------------ PReLU
    "prelu/right": (PRELU_RIGHT, {"prelu_forward": "passed", "prelu_backward": "passed"}),
    "prelu/right_max_form_and_mask": ("""
        def prelu_forward(x, alpha):
            return np.maximum(alpha * x, x), {"x": x, "neg": x < 0, "alpha": alpha}
        def prelu_backward(dout, cache):
            neg = cache["neg"]
            dx = np.where(neg, cache["alpha"] * dout, dout)
            dalpha = (dout * cache["x"] * neg).sum(axis=0)
            return [dx, dalpha]
    """, {"prelu_forward": "passed", "prelu_backward": "passed"}),
    "prelu/alpha_per_row": ("""
        def prelu_forward(x, alpha):
            return np.where(x > 0, x, alpha[:x.shape[0], None] * x), x
    """, {"prelu_forward": r"alpha\[j\] is the slope of column j"}),
    "prelu/dalpha_missing": (PRELU_RIGHT.replace("return dx, dalpha", "return dx"),
                             {"prelu_backward": r"returned a single array(.|\n)*dalpha"}),
    "prelu/dalpha_not_summed": (PRELU_RIGHT.replace("np.sum(dout * x * (x <= 0), axis=0)",
                                                    "dout * x * (x <= 0)"),
                                {"prelu_backward": r"dalpha has shape \(\d+, \d+\)(.|\n)*sum "
                                                   r"over axis 0"}),
    "prelu/dalpha_wrong_axis": (PRELU_RIGHT.replace("axis=0", "axis=1"),
                                {"prelu_backward": r"summed over the units \(axis 1\)"}),
    "prelu/dalpha_summed_over_everything": (PRELU_RIGHT.replace(", axis=0)", ")"),
                                            {"prelu_backward": r"not over everything"}),
    "prelu/dalpha_over_all_x": (PRELU_RIGHT.replace("dout * x * (x <= 0)", "dout * x"),
                                {"prelu_backward": r"only where x < 0(.|\n)*summed over all x"}),
    "prelu/dalpha_mean": (PRELU_RIGHT.replace("np.sum(dout * x * (x <= 0), axis=0)",
                                              "np.mean(dout * x * (x <= 0), axis=0)"),
                          {"prelu_backward": r"a sum over the N examples, not a mean"}),
    # ------------------------------------------------------------------ ELU
    "elu/right": (ELU_RIGHT, {"elu_forward": "passed", "elu_backward": "passed"}),
    "elu/right_plain_where": ("""
        def elu_forward(x, alpha=1.0):
            with np.errstate(over="ignore"):
                out = np.where(x > 0, x, alpha * (np.exp(x) - 1))
            return out, (x, alpha)
        def elu_backward(dout, cache):
            x, alpha = cache
            with np.errstate(over="ignore"):
                return np.where(x > 0, dout, dout * alpha * np.exp(x))
    """, {"elu_forward": "passed", "elu_backward": "passed"}),
    "elu/alpha_ignored": ("""
        def elu_forward(x, alpha=1.0):
            return np.where(x > 0, x, np.expm1(np.minimum(x, 0))), x
    """, {"elu_forward": r"factor alpha is missing"}),
    "elu/mask_multiplication_overflows": ("""
        def elu_forward(x, alpha=1.0):
            with np.errstate(over="ignore", invalid="ignore"):
                return x * (x > 0) + alpha * (np.exp(x) - 1) * (x <= 0), x
    """, {"elu_forward": r"not numerically stable(.|\n)*inf \* 0 is nan"}),
    "elu/backward_masks_overflow": (ELU_RIGHT.replace(
        "np.where(x > 0, 1.0, out + alpha)", "((x > 0) + (x <= 0) * alpha * np.exp(x))"),
        {"elu_backward": r"for x = 1000 dx is nan(.|\n)*Hint: exp\(1000\) is inf"}),
    "elu/derivative_is_output": (ELU_RIGHT.replace("out + alpha", "out"),
                                 {"elu_backward": r"not the output"}),
    "elu/derivative_without_alpha": (ELU_RIGHT.replace("out + alpha", "np.exp(x)"),
                                     {"elu_backward": r"the factor alpha is missing"}),
    "elu/derivative_one": (ELU_RIGHT.replace("np.where(x > 0, 1.0, out + alpha)", "1.0"),
                           {"elu_backward": r"not 1"}),
    # ------------------------------------------------------------------ Maxout
    "maxout/right": (MAXOUT_RIGHT, {"maxout_forward": "passed", "maxout_backward": "passed"}),
    "maxout/right_stacked": ("""
        def maxout_forward(x, w1, b1, w2, b2):
            z = np.stack([x @ w1 + b1, x @ w2 + b2])
            return z.max(axis=0), (x, w1, b1, w2, b2, z.argmax(axis=0))
        def maxout_backward(dout, cache):
            x, w1, b1, w2, b2, k = cache
            grads = []
            for piece, w in ((0, w1), (1, w2)):
                dz = np.where(k == piece, dout, 0.0)
                grads.append((dz @ w.T, x.T @ dz, np.sum(dz, axis=0)))
            dx = grads[0][0] + grads[1][0]
            return dx, grads[0][1], grads[0][2], grads[1][1], grads[1][2]
    """, {"maxout_forward": "passed", "maxout_backward": "passed"}),
    "maxout/ties_to_the_second_piece": (MAXOUT_RIGHT.replace(
        "z1 >= z2", "z1 > z2"), {"maxout_forward": "passed", "maxout_backward": "passed"}),
    "maxout/ties_to_both": ("""
        def maxout_forward(x, w1, b1, w2, b2):
            z1, z2 = x @ w1 + b1, x @ w2 + b2
            return np.maximum(z1, z2), (x, w1, w2, z1, z2)
        def maxout_backward(dout, cache):
            x, w1, w2, z1, z2 = cache
            d1, d2 = dout * (z1 >= z2), dout * (z2 >= z1)
            return d1 @ w1.T + d2 @ w2.T, x.T @ d1, d1.sum(0), x.T @ d2, d2.sum(0)
    """, {"maxout_backward": r"tie on every example(.|\n)*Hint: on a tie both pieces pass"}),
    "maxout/sum_of_pieces": ("""
        def maxout_forward(x, w1, b1, w2, b2):
            return x @ w1 + b1 + x @ w2 + b2, x
    """, {"maxout_forward": r"it is z1 \+ z2"}),
    "maxout/routes_to_both": (MAXOUT_RIGHT.replace("d1, d2 = dout * first, dout * ~first",
                                                   "d1, d2 = dout, dout"),
                              {"maxout_forward": "passed",
                               "maxout_backward": r"you sent dout to both pieces"}),
    "maxout/routing_inverted": (MAXOUT_RIGHT.replace("dout * first, dout * ~first",
                                                     "dout * ~first, dout * first"),
                                {"maxout_backward": r"the routing is inverted"}),
    "maxout/db_not_summed": (MAXOUT_RIGHT.replace("d1.sum(0)", "d1"),
                             {"maxout_backward": r"db1 has shape(.|\n)*sum the gradient over "
                                                 r"axis 0"}),
    "maxout/too_few_gradients": (MAXOUT_RIGHT.replace(", x.T @ d2, d2.sum(0)", ""),
                                 {"maxout_backward": r"should return \(dx, dw1, db1, dw2, "
                                                     r"db2\), but it returned 3 values"}),
}

FUNCTIONS = {
    "sigmoid": ("sigmoid_forward", "sigmoid_backward"),
    "tanh": ("tanh_forward", "tanh_backward"),
    "leaky": ("leaky_relu_forward", "leaky_relu_backward"),
    "prelu": ("prelu_forward", "prelu_backward"),
    "elu": ("elu_forward", "elu_backward"),
    "maxout": ("maxout_forward", "maxout_backward"),
}


# The numerically unstable implementations overflow on purpose; their warnings are expected.
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                            "ignore:invalid value encountered:RuntimeWarning",
                            "ignore:divide by zero encountered:RuntimeWarning")
@pytest.mark.parametrize("mode", ["direct", "channel"])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("hidden", [False, True])
def test_activation_checks(case, mode, hidden):
    source, expectations = CASES[case]
    forward_name, backward_name = FUNCTIONS[case.split("/")[0]]
    names = [n for n in (forward_name, backward_name) if f"def {n}(" in textwrap.dedent(source)]
    objects = dict(zip(names, _refs(source, names, mode)))
    for check, pattern in expectations.items():
        args = [objects[forward_name]]
        if check == backward_name:
            args.append(objects[backward_name])
        outcome = CHECKS[check].evaluate(*args, hidden=hidden)
        if pattern == "passed":
            assert outcome.passed, f"{check}: {outcome.message}"
        else:
            assert not outcome.passed, f"{check} passed a wrong implementation"
            assert re.search(pattern, outcome.message), outcome.message


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_backward_checks_use_the_students_own_forward():
    """A backward pass that matches its own (wrong) forward pass passes the backward check:
    the forward check is where the forward mistake is reported, once."""
    source = """
        def sigmoid_forward(x):
            out = 1 / (1 + np.exp(x))
            return out, out
        def sigmoid_backward(dout, cache):
            return -dout * cache * (1 - cache)
    """
    fwd, bwd = _refs(source, ("sigmoid_forward", "sigmoid_backward"), "direct")
    assert not CHECKS["sigmoid_forward"].evaluate(fwd).passed
    assert CHECKS["sigmoid_backward"].evaluate(fwd, bwd).passed


def test_unfinished_activation_says_not_implemented():
    source = """
        def maxout_forward(x, w1, b1, w2, b2):
            # YOUR CODE HERE
            raise NotImplementedError()
    """
    for mode in ("direct", "channel"):
        (fwd,) = _refs(source, ("maxout_forward",), mode)
        outcome = CHECKS["maxout_forward"].evaluate(fwd, hidden=True)
        assert outcome.status == "not_implemented", outcome.message
