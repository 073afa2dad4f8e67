"""Notebook 03's checks on deliberately wrong implementations, directly and through the channel.

Each graded item gets right answers (written more than one way) that must pass, and the
typical mistakes of backpropagation, each of which must fail with the lesson that names
it: the mul gate not switching its inputs, the max gate splitting the gradient or sending
it to the wrong input (and the tie rule), the sigmoid's local gradient taken from the
input, overwriting instead of accumulating at branches, dW transposed, a missing factor 2,
state shared between gate instances, sigmoids that overflow.
"""

import re
import textwrap

import numpy as np
import pytest

from autograder.channel import Client, Loopback, ObjectServer
from course_lib.checks import CHECKS

MODES = ["direct", "channel"]


def _namespace(source: str) -> dict:
    namespace = {"__name__": "__main__"}
    exec("import math\nimport numpy as np\n" + textwrap.dedent(source), namespace)
    return namespace


def _objects(source: str, names, mode):
    namespace = _namespace(source)
    if mode == "direct":
        return [namespace[n] for n in names]
    client = Client(Loopback(ObjectServer(namespace)))
    return [client.ref(n) for n in names]


def _outcome(item, source, names, mode, hidden, seed=None):
    return CHECKS[item].evaluate(*_objects(source, names, mode), hidden=hidden, seed=seed)


def _assert(outcome, status, pattern):
    assert outcome.status == status, outcome.message
    assert re.search(pattern, outcome.message, re.S), outcome.message


# ------------------------------------------------------------------ (x + y) z values

FXYZ_RIGHT = dict(q=3, f=-12, dq_dx=1, dq_dy=1, df_dq=-4, df_dz=3, df_dx=-4, df_dy=-4)


def _fxyz(values: dict, mode: str):
    if mode == "direct":
        return values
    namespace = dict(values)
    client = Client(Loopback(ObjectServer(namespace)))
    return {k: client.ref(k) for k in values}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("change, status, pattern", [
    ({}, "passed", "passed"),
    ({"q": np.float64(3.0), "dq_dx": 1.0}, "passed", "passed"),
    ({"df_dq": 3}, "failed", r"1 of 8 values are wrong: df_dq.*other input, z: the \* gate "
                             r"swaps"),
    ({"df_dq": 3, "df_dz": -4}, "failed", r"2 of 8 values are wrong: df_dq, df_dz"),
    ({"df_dx": 1, "df_dy": 1}, "failed", r"df_dx = 1 is wrong.*only the local gradient.*"
                                         r"multiply it by the upstream"),
    ({"q": -10}, "failed", r"q = -10 is wrong.*that is x \* y"),
    ({"dq_dx": 5}, "failed", r"dq_dx = 5 is wrong.*local gradient is 1"),
    ({"df_dy": 4}, "failed", r"df_dy = 4 is wrong.*sign"),
    ({"f": 12}, "failed", r"f = 12 is wrong \(f = q \* z\): the sign is wrong: f = q \* z = "
                          r"3 \* \(-4\)"),
    ({"dq_dx": -1, "df_dz": -3}, "failed", r"dq_dx = -1 is wrong.*sign is wrong: ∂\(x \+ y\)/∂x "
                                           r"= \+1.*df_dz = -3 is wrong.*sign is wrong"),
    ({"f": np.array([-12.0])}, "failed", r"f should be a single number.*shape \(1,\)"),
])
def test_fxyz_values(change, status, pattern, mode):
    values = {**FXYZ_RIGHT, **change}
    for hidden in (False, True):
        _assert(CHECKS["fxyz_values"].evaluate(_fxyz(values, mode), hidden=hidden), status,
                pattern)


def test_fxyz_values_names_an_undefined_value_through_the_channel():
    client = Client(Loopback(ObjectServer({k: v for k, v in FXYZ_RIGHT.items() if k != "f"})))
    outcome = CHECKS["fxyz_values"].evaluate({k: client.ref(k) for k in FXYZ_RIGHT})
    _assert(outcome, "error", r"name 'f' is not defined")


# ------------------------------------------------------------------ gates

MULTIPLY = {
    "right": """
        class MultiplyGate:
            def forward(self, x, y):
                self.x, self.y = x, y
                return x * y
            def backward(self, dz):
                return [dz * self.y, dz * self.x]
    """,
    "right_init_tuple_numpy": """
        class MultiplyGate:
            def __init__(self):
                self.cache = None
            def forward(self, x, y):
                self.cache = (x, y)
                return np.float64(x) * y
            def backward(self, dz):
                x, y = self.cache
                return np.array([y * dz, x * dz])
    """,
    "no_swap": """
        class MultiplyGate:
            def forward(self, x, y):
                self.x, self.y = x, y
                return x * y
            def backward(self, dz):
                return [dz * self.x, dz * self.y]
    """,
    "forgets_dz": """
        class MultiplyGate:
            def forward(self, x, y):
                self.x, self.y = x, y
                return x * y
            def backward(self, dz):
                return [self.y, self.x]
    """,
    "divides_by_input": """
        class MultiplyGate:
            def forward(self, x, y):
                self.x, self.y, self.z = x, y, x * y
                return self.z
            def backward(self, dz):
                return [dz * self.z / self.x, dz * self.z / self.y]
    """,
    "keeps_the_first_inputs": """
        class MultiplyGate:
            def forward(self, x, y):
                if not hasattr(self, "x"):
                    self.x, self.y = x, y
                return x * y
            def backward(self, dz):
                return [dz * self.y, dz * self.x]
    """,
    "class_attribute_state": """
        class MultiplyGate:
            def forward(self, x, y):
                MultiplyGate.x, MultiplyGate.y = x, y
                return x * y
            def backward(self, dz):
                return [dz * self.y, dz * self.x]
    """,
    "class_level_dict": """
        class MultiplyGate:
            cache = {}
            def forward(self, x, y):
                self.cache["x"], self.cache["y"] = x, y
                return x * y
            def backward(self, dz):
                return [dz * self.cache["y"], dz * self.cache["x"]]
    """,
    "forward_adds": """
        class MultiplyGate:
            def forward(self, x, y):
                self.x, self.y = x, y
                return x + y
            def backward(self, dz):
                return [dz * self.y, dz * self.x]
    """,
    "three_values": """
        class MultiplyGate:
            def forward(self, x, y):
                self.x, self.y = x, y
                return x * y
            def backward(self, dz):
                return [dz * self.y, dz * self.x, 0.0]
    """,
    "not_implemented": """
        class MultiplyGate:
            def forward(self, x, y):
                raise NotImplementedError()
            def backward(self, dz):
                raise NotImplementedError()
    """,
}
MULTIPLY_EXPECTED = {
    "right": ("passed", "passed"),
    "right_init_tuple_numpy": ("passed", "passed"),
    "divides_by_input": ("error", r"ZeroDivisionError.*Hint: an input was exactly 0 here: does "
                                  r"backward divide by an input"),
    "keeps_the_first_inputs": ("failed", r"MultiplyGate.backward\(1.5\) after forward\(2, 5\) "
                                         r"returned \[-6\. , +4\.5\] after forward\(3, -4\).*on "
                                         r"the same MultiplyGate object.*Hint: the gate kept "
                                         r"what its first forward call"),
    "no_swap": ("failed", r"\[dx, dy\] is wrong.*Hint: the multiply gate swaps its inputs"),
    "forgets_dz": ("failed", r"Hint: multiply the local gradients by the upstream gradient"),
    "class_attribute_state": ("failed", r"two MultiplyGate objects share state.*Hint: g1 "
                                        r"used the inputs given to g2"),
    "class_level_dict": ("failed", r"share state.*not on the class"),
    "forward_adds": ("failed", r"MultiplyGate.forward\(3, -4\) is wrong.*Hint: forward should "
                               r"return x \* y"),
    "three_values": ("failed", r"should return \[dx, dy\], but it returned 3 values"),
    "not_implemented": ("not_implemented", r"MultiplyGate.forward still raises "
                                           r"NotImplementedError: it is not implemented yet"),
}

ADD = {
    "right": """
        class AddGate:
            def forward(self, x, y):
                return x + y
            def backward(self, dz):
                return [dz, dz]
    """,
    "right_tuple_with_state": """
        class AddGate:
            def forward(self, x, y):
                self.x, self.y = x, y
                return x + y
            def backward(self, dz):
                return (1.0 * dz, 1.0 * dz)
    """,
    "forgets_dz": """
        class AddGate:
            def forward(self, x, y):
                return x + y
            def backward(self, dz):
                return [1.0, 1.0]
    """,
    "splits": """
        class AddGate:
            def forward(self, x, y):
                return x + y
            def backward(self, dz):
                return [dz / 2, dz / 2]
    """,
    "mul_rule": """
        class AddGate:
            def forward(self, x, y):
                self.x, self.y = x, y
                return x + y
            def backward(self, dz):
                return [dz * self.y, dz * self.x]
    """,
}
ADD_EXPECTED = {
    "right": ("passed", "passed"),
    "right_tuple_with_state": ("passed", "passed"),
    "forgets_dz": ("failed", r"Hint: multiply the local gradient 1 by the upstream gradient"),
    "splits": ("failed", r"Hint: the add gate distributes: each input gets all of dz"),
    "mul_rule": ("failed", r"\[dx, dy\] is wrong"),
}

MAX = {
    "keeps_the_first_choice": """
        class MaxGate:
            def forward(self, x, y):
                if not hasattr(self, "x_wins"):
                    self.x_wins = x >= y
                return max(x, y)
            def backward(self, dz):
                return [dz, 0.0] if self.x_wins else [0.0, dz]
    """,
    "right": """
        class MaxGate:
            def forward(self, x, y):
                self.x, self.y = x, y
                return max(x, y)
            def backward(self, dz):
                if self.x >= self.y:
                    return [dz, 0.0]
                return [0.0, dz]
    """,
    "right_stores_the_choice": """
        class MaxGate:
            def forward(self, x, y):
                self.first_wins = bool(x >= y)
                return x if self.first_wins else y
            def backward(self, dz):
                return [dz * self.first_wins, dz * (not self.first_wins)]
    """,
    "splits": """
        class MaxGate:
            def forward(self, x, y):
                return max(x, y)
            def backward(self, dz):
                return [dz / 2, dz / 2]
    """,
    "to_the_smaller": """
        class MaxGate:
            def forward(self, x, y):
                self.x, self.y = x, y
                return max(x, y)
            def backward(self, dz):
                return [0.0, dz] if self.x >= self.y else [dz, 0.0]
    """,
    "tie_to_second": """
        class MaxGate:
            def forward(self, x, y):
                self.x, self.y = x, y
                return max(x, y)
            def backward(self, dz):
                return [dz, 0.0] if self.x > self.y else [0.0, dz]
    """,
    "tie_split": """
        class MaxGate:
            def forward(self, x, y):
                self.x, self.y = x, y
                return max(x, y)
            def backward(self, dz):
                if self.x == self.y:
                    return [dz / 2, dz / 2]
                return [dz, 0.0] if self.x > self.y else [0.0, dz]
    """,
    "both_get_dz": """
        class MaxGate:
            def forward(self, x, y):
                return max(x, y)
            def backward(self, dz):
                return [dz, dz]
    """,
    "class_attribute_state": """
        class MaxGate:
            def forward(self, x, y):
                MaxGate.x, MaxGate.y = x, y
                return max(x, y)
            def backward(self, dz):
                return [dz, 0.0] if self.x >= self.y else [0.0, dz]
    """,
}
MAX_EXPECTED = {
    "right": ("passed", "passed"),
    "right_stores_the_choice": ("passed", "passed"),
    "splits": ("failed", r"Hint: the max gate routes: all of dz goes to the larger input; it "
                         r"is not split"),
    "to_the_smaller": ("failed", r"Hint: dz went to the smaller input"),
    "tie_to_second": ("failed", r"forward\(2, 2\).*Hint: on a tie the course's rule sends all "
                                r"of dz to the first input x"),
    "tie_split": ("failed", r"Hint: on a tie, do not split dz"),
    "both_get_dz": ("failed", r"Hint: only the larger input gets dz"),
    "class_attribute_state": ("failed", r"two MaxGate objects share state"),
    "keeps_the_first_choice": ("failed", r"MaxGate.backward\(1.5\) after forward\(-4, 5\).*"
                                         r"a fresh gate gives \[0. , 1.5\].*Hint: the gate kept "
                                         r"what its first forward call"),
}

SIGMOID = {
    "right": """
        class SigmoidGate:
            def forward(self, x):
                if x >= 0:
                    self.out = 1.0 / (1.0 + math.exp(-x))
                else:
                    e = math.exp(x)
                    self.out = e / (1.0 + e)
                return self.out
            def backward(self, dz):
                return (1.0 - self.out) * self.out * dz
    """,
    "right_numpy_exp_with_clip": """
        class SigmoidGate:
            def forward(self, x):
                self.s = 1.0 / (1.0 + np.exp(-np.clip(x, -500, 500)))
                return self.s
            def backward(self, dz):
                return dz * self.s * (1 - self.s)
    """,
    "local_from_input": """
        class SigmoidGate:
            def forward(self, x):
                self.x = x
                return 0.5 * (1 + math.tanh(x / 2))
            def backward(self, dz):
                return (1.0 - self.x) * self.x * dz
    """,
    "forgets_dz": """
        class SigmoidGate:
            def forward(self, x):
                self.out = 0.5 * (1 + math.tanh(x / 2))
                return self.out
            def backward(self, dz):
                return (1.0 - self.out) * self.out
    """,
    "math_exp_overflows": """
        class SigmoidGate:
            def forward(self, x):
                self.out = 1.0 / (1.0 + math.exp(-x))
                return self.out
            def backward(self, dz):
                return (1.0 - self.out) * self.out * dz
    """,
    "ratio_form_gives_nan": """
        class SigmoidGate:
            def forward(self, x):
                with np.errstate(over="ignore", invalid="ignore"):
                    self.out = np.exp(x) / (1.0 + np.exp(x))
                return self.out
            def backward(self, dz):
                return (1.0 - self.out) * self.out * dz
    """,
    "class_attribute_state": """
        class SigmoidGate:
            def forward(self, x):
                SigmoidGate.out = 0.5 * (1 + math.tanh(x / 2))
                return self.out
            def backward(self, dz):
                return (1.0 - self.out) * self.out * dz
    """,
}
SIGMOID_EXPECTED = {
    "right": ("passed", "passed"),
    "right_numpy_exp_with_clip": ("passed", "passed"),
    "local_from_input": ("failed", r"dx is wrong.*Hint: the local gradient is \(1 - σ\(x\)\) "
                                   r"σ\(x\), computed from the output"),
    "forgets_dz": ("failed", r"Hint: multiply the local gradient \(1 - σ\(x\)\) σ\(x\) by the "
                             r"upstream gradient dz"),
    "math_exp_overflows": ("error", r"raised OverflowError.*Hint: math.exp\(-x\) overflows"),
    "ratio_form_gives_nan": ("failed", r"forward\(1000\) is nan"),
    "class_attribute_state": ("failed", r"two SigmoidGate objects share state.*Hint: g1 used "
                                        r"what g2 stored"),
}

GATES = {
    "MultiplyGate": (MULTIPLY, MULTIPLY_EXPECTED),
    "AddGate": (ADD, ADD_EXPECTED),
    "MaxGate": (MAX, MAX_EXPECTED),
    "SigmoidGate": (SIGMOID, SIGMOID_EXPECTED),
}
GATE_CASES = [(item, impl) for item, (impls, _) in GATES.items() for impl in impls]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("hidden", [False, True])
@pytest.mark.parametrize("item, impl", GATE_CASES, ids=[f"{i}-{m}" for i, m in GATE_CASES])
def test_gate_checks(item, impl, hidden, mode):
    impls, expected = GATES[item]
    status, pattern = expected[impl]
    _assert(_outcome(item, impls[impl], [item], mode, hidden), status, pattern)


# ------------------------------------------------------------------ sigmoid neuron

NEURON = {
    "right_from_gates": """
        class MultiplyGate:
            def forward(self, x, y):
                self.x, self.y = x, y
                return x * y
            def backward(self, dz):
                return [dz * self.y, dz * self.x]
        class AddGate:
            def forward(self, x, y):
                return x + y
            def backward(self, dz):
                return [dz, dz]
        class SigmoidGate:
            def forward(self, x):
                self.out = 0.5 * (1 + math.tanh(x / 2))
                return self.out
            def backward(self, dz):
                return (1 - self.out) * self.out * dz
        def sigmoid_neuron(w, x):
            m0, m1, a0, a1, sg = (MultiplyGate(), MultiplyGate(), AddGate(), AddGate(),
                                  SigmoidGate())
            s = a1.forward(a0.forward(m0.forward(w[0], x[0]), m1.forward(w[1], x[1])), w[2])
            f = sg.forward(s)
            ds = sg.backward(1.0)
            dsum, dw2 = a1.backward(ds)
            dp0, dp1 = a0.backward(dsum)
            dw0, dx0 = m0.backward(dp0)
            dw1, dx1 = m1.backward(dp1)
            return f, np.array([dw0, dw1, dw2]), np.array([dx0, dx1])
    """,
    "right_vectorized": """
        def sigmoid_neuron(w, x):
            s = w[:2] @ x + w[2]
            f = 1 / (1 + np.exp(-s)) if s >= 0 else np.exp(s) / (1 + np.exp(s))
            ds = (1 - f) * f
            return f, ds * np.append(x, 1.0), ds * w[:2]
    """,
    "local_from_input": """
        def sigmoid_neuron(w, x):
            s = w[:2] @ x + w[2]
            f = 0.5 * (1 + np.tanh(s / 2))
            ds = (1 - s) * s
            return f, ds * np.append(x, 1.0), ds * w[:2]
    """,
    "mul_not_switched": """
        def sigmoid_neuron(w, x):
            s = w[:2] @ x + w[2]
            f = 0.5 * (1 + np.tanh(s / 2))
            ds = (1 - f) * f
            return f, ds * np.append(w[:2], 1.0), ds * x
    """,
    "no_bias_gradient": """
        def sigmoid_neuron(w, x):
            s = w[:2] @ x + w[2]
            f = 0.5 * (1 + np.tanh(s / 2))
            ds = (1 - f) * f
            return f, ds * np.append(x, 0.0), ds * w[:2]
    """,
    "overflows": """
        def sigmoid_neuron(w, x):
            s = float(w[:2] @ x + w[2])
            f = 1 / (1 + math.exp(-s))
            ds = (1 - f) * f
            return f, ds * np.append(x, 1.0), ds * w[:2]
    """,
    "lists": """
        def sigmoid_neuron(w, x):
            s = w[:2] @ x + w[2]
            f = 0.5 * (1 + np.tanh(s / 2))
            ds = (1 - f) * f
            return f, [ds * x[0], ds * x[1], ds], [ds * w[0], ds * w[1]]
    """,
}
NEURON_EXPECTED = {
    "right_from_gates": ("passed", "passed"),
    "right_vectorized": ("passed", "passed"),
    "local_from_input": ("failed", r"dw is wrong.*Hint: the local gradient of σ is \(1 - σ\) "
                                   r"σ of its output"),
    "mul_not_switched": ("failed", r"Hint: the \* gates switch their inputs"),
    "no_bias_gradient": ("failed", r"Hint: the bias gradient dw\[2\] is the upstream gradient"),
    "overflows": ("error", r"raised OverflowError.*Hint: math.exp\(-x\) overflows"),
    "lists": ("failed", r"dw should be a numpy array, but it is a list"),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("hidden", [False, True])
@pytest.mark.parametrize("impl", list(NEURON))
def test_sigmoid_neuron_check(impl, hidden, mode):
    status, pattern = NEURON_EXPECTED[impl]
    _assert(_outcome("sigmoid_neuron", NEURON[impl], ["sigmoid_neuron"], mode, hidden),
            status, pattern)


# ------------------------------------------------------------------ branches: xy_plus_max

BRANCH = {
    "right": """
        def xy_plus_max(x, y, z):
            p = x * y
            m = x if x >= z else z
            f = p + m
            dx = y * 1.0
            dy = x * 1.0
            dx += 1.0 if x >= z else 0.0
            dz = 0.0 if x >= z else 1.0
            return f, dx, dy, dz
    """,
    "overwrites_with_max_branch": """
        def xy_plus_max(x, y, z):
            f = x * y + max(x, z)
            dx = y
            dy = x
            dx = 1.0 if x >= z else 0.0
            dz = 0.0 if x >= z else 1.0
            return f, dx, dy, dz
    """,
    "overwrites_with_mul_branch": """
        def xy_plus_max(x, y, z):
            f = x * y + max(x, z)
            dx = 1.0 if x >= z else 0.0
            dz = 0.0 if x >= z else 1.0
            dx = y
            dy = x
            return f, dx, dy, dz
    """,
    "tie_to_z": """
        def xy_plus_max(x, y, z):
            f = x * y + max(x, z)
            dx = y + (1.0 if x > z else 0.0)
            dz = 0.0 if x > z else 1.0
            return f, dx, x, dz
    """,
}
BRANCH_EXPECTED = {
    "right": ("passed", "passed"),
    "overwrites_with_max_branch": ("failed", r"Hint: x feeds two gates, so its gradients add.*"
                                             r"only the max branch"),
    "overwrites_with_mul_branch": ("failed", r"Hint: x feeds two gates.*only the x \* y "
                                             r"branch: accumulate with \+="),
    "tie_to_z": ("failed", r"\(a tie: by MaxGate's rule all of the gradient goes to x\).*"
                           r"Hint: on a tie, MaxGate's rule \(x >= z\) sends"),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("hidden", [False, True])
@pytest.mark.parametrize("impl", list(BRANCH))
def test_xy_plus_max_check(impl, hidden, mode):
    status, pattern = BRANCH_EXPECTED[impl]
    _assert(_outcome("xy_plus_max", BRANCH[impl], ["xy_plus_max"], mode, hidden), status,
            pattern)


# ------------------------------------------------------------------ ||W x||^2

L2 = {
    "right": """
        def l2_matvec(W, x):
            q = W @ x
            f = np.sum(q ** 2)
            dq = 2 * q
            return f, np.outer(dq, x), W.T @ dq
    """,
    "right_with_loops": """
        def l2_matvec(W, x):
            n, m = W.shape
            q = np.zeros(n)
            for i in range(n):
                for j in range(m):
                    q[i] += W[i, j] * x[j]
            f = float(sum(v * v for v in q))
            dW, dx = np.zeros_like(W), np.zeros_like(x)
            for i in range(n):
                for j in range(m):
                    dW[i, j] = 2 * q[i] * x[j]
                    dx[j] += 2 * q[i] * W[i, j]
            return f, dW, dx
    """,
    "dW_transposed_square_only": """
        def l2_matvec(W, x):
            q = W @ x
            dW = 2 * np.outer(q, x)
            return np.sum(q ** 2), dW.T if W.shape[0] == W.shape[1] else dW, 2 * W.T @ q
    """,
    "dW_transposed": """
        def l2_matvec(W, x):
            q = W @ x
            return np.sum(q ** 2), 2 * np.outer(x, q), 2 * W.T @ q
    """,
    "missing_factor_2": """
        def l2_matvec(W, x):
            q = W @ x
            return np.sum(q ** 2), np.outer(q, x), W.T @ q
    """,
    "dx_without_transpose_square_only": """
        def l2_matvec(W, x):
            q = W @ x
            dx = 2 * W @ q if W.shape[0] == W.shape[1] else 2 * W.T @ q
            return np.sum(q ** 2), 2 * np.outer(q, x), dx
    """,
    "norm_not_squared": """
        def l2_matvec(W, x):
            q = W @ x
            return np.linalg.norm(q), 2 * np.outer(q, x), 2 * W.T @ q
    """,
    "mutates_W": """
        def l2_matvec(W, x):
            W *= 1.0
            W[0, 0] += 0.0 * W[0, 0] + 1e-3
            q = W @ x
            return np.sum(q ** 2), 2 * np.outer(q, x), 2 * W.T @ q
    """,
}
L2_EXPECTED = {
    "right": ("passed", "passed"),
    "right_with_loops": ("passed", "passed"),
    "dW_transposed_square_only": ("failed", r"dW is wrong.*Hint: dW is transposed"),
    "dW_transposed": ("failed", r"dW is wrong.*Hint: dW is transposed"),
    "missing_factor_2": ("failed", r"dW is wrong.*Hint: the factor 2 from d\(q\^2\)/dq = 2q "
                                   r"is missing"),
    "dx_without_transpose_square_only": ("failed", r"dx is wrong.*Hint: dx = 2 W\^T q"),
    "norm_not_squared": ("failed", r"f is wrong.*Hint: f is the squared norm"),
    "mutates_W": ("error", r"changed its input W in place"),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("hidden", [False, True])
@pytest.mark.parametrize("impl", list(L2))
def test_l2_matvec_check(impl, hidden, mode):
    status, pattern = L2_EXPECTED[impl]
    _assert(_outcome("l2_matvec", L2[impl], ["l2_matvec"], mode, hidden), status, pattern)


def test_l2_matvec_transposed_on_a_non_square_W_is_a_shape_lesson():
    # With only the lecture's square case a transposed dW has the right shape; the
    # non-square public case turns it into a shape error that says "transposed".
    impl = L2["dW_transposed"].replace("2 * np.outer(x, q)", "2 * np.outer(x, q) if "
                                       "W.shape[0] != W.shape[1] else 2 * np.outer(q, x)")
    outcome = _outcome("l2_matvec", impl, ["l2_matvec"], "direct", False)
    _assert(outcome, "failed", r"dW has shape \(4, 3\), expected \(3, 4\).*Hint: it looks "
                               r"transposed")


# ------------------------------------------------------------------ Value

VALUE_BASE = '''
class Value:
    def __init__(self, data, _children=(), _op=""):
        self.data = float(data)
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = tuple(_children)
        self._op = _op

    @staticmethod
    def _wrap(other):
        return other if isinstance(other, Value) else Value(other)

    def __add__(self, other):
        other = self._wrap(other)
        out = Value(self.data + other.data, (self, other), "+")
        def _backward():
            ADD
        out._backward = _backward
        return out

    def __radd__(self, other):
        return self + other

    def __mul__(self, other):
        other = self._wrap(other)
        out = Value(self.data * other.data, (self, other), "*")
        def _backward():
            MUL
        out._backward = _backward
        return out

    def __rmul__(self, other):
        return self * other

    def max(self, other):
        other = self._wrap(other)
        out = Value(self.data if self.data >= other.data else other.data, (self, other), "max")
        def _backward():
            MAX
        out._backward = _backward
        return out

    def sigmoid(self):
        x = self.data
        s = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
        out = Value(s, (self,), "sigmoid")
        def _backward():
            SIGMOID
        out._backward = _backward
        return out

    def exp(self):
        out = Value(math.exp(self.data), (self,), "exp")
        def _backward():
            EXP
        out._backward = _backward
        return out

    def _topological_order(self):
        order, seen = [], set()
        def visit(v):
            if id(v) not in seen:
                seen.add(id(v))
                for child in v._prev:
                    visit(child)
                order.append(v)
        visit(self)
        return order

    def backward(self):
        BACKWARD
'''

VALUE_RIGHT = {
    "ADD": "self.grad += out.grad\n            other.grad += out.grad",
    "MUL": "self.grad += other.data * out.grad\n            other.grad += self.data * out.grad",
    "MAX": "if self.data >= other.data:\n                self.grad += out.grad\n"
           "            else:\n                other.grad += out.grad",
    "SIGMOID": "self.grad += (1 - out.data) * out.data * out.grad",
    "EXP": "self.grad += out.data * out.grad",
    "BACKWARD": "order = self._topological_order()\n        self.grad = 1.0\n"
                "        for v in reversed(order):\n            v._backward()",
}


def _value(**changes) -> str:
    source = VALUE_BASE
    for key, body in {**VALUE_RIGHT, **changes}.items():
        source = source.replace(key, body, 1)
    return source


VALUE = {
    "right": _value(),
    "right_iterative_topo_and_tie_as_else": _value(
        MAX="if other.data > self.data:\n                other.grad += out.grad\n"
            "            else:\n                self.grad += out.grad",
        BACKWARD="order, seen, stack = [], set(), [(self, False)]\n"
                 "        while stack:\n            v, done = stack.pop()\n"
                 "            if done:\n                order.append(v)\n"
                 "            elif id(v) not in seen:\n                seen.add(id(v))\n"
                 "                stack.append((v, True))\n"
                 "                stack.extend((c, False) for c in v._prev)\n"
                 "        self.grad = 1.0\n        for v in reversed(order):\n"
                 "            v._backward()"),
    "not_implemented": _value(BACKWARD="raise NotImplementedError()"),
    "mul_closure_not_implemented": _value(MUL="raise NotImplementedError()"),
    "no_seed": _value(BACKWARD="for v in reversed(self._topological_order()):\n"
                               "            v._backward()"),
    "forward_order": _value(BACKWARD="self.grad = 1.0\n"
                                     "        for v in self._topological_order():\n"
                                     "            v._backward()"),
    "overwrite": _value(
        ADD="self.grad = out.grad\n            other.grad = out.grad",
        MUL="self.grad = other.data * out.grad\n            other.grad = self.data * out.grad"),
    "mul_not_switched": _value(
        MUL="self.grad += self.data * out.grad\n            other.grad += other.data * out.grad"),
    "mul_forgets_upstream": _value(
        MUL="self.grad += other.data\n            other.grad += self.data"),
    "max_splits": _value(MAX="self.grad += out.grad / 2\n            other.grad += out.grad / 2"),
    "max_tie_to_other": _value(
        MAX="if self.data > other.data:\n                self.grad += out.grad\n"
            "            else:\n                other.grad += out.grad"),
    "sigmoid_from_input": _value(SIGMOID="self.grad += (1 - self.data) * self.data * out.grad"),
    "exp_local_is_input": _value(EXP="self.grad += self.data * out.grad"),
    "sigmoid_forgets_upstream": _value(SIGMOID="self.grad += (1 - out.data) * out.data"),
    "right_micrograd_style": _value(
        BACKWARD="topo, visited = [], set()\n        def build_topo(v):\n"
                 "            if v not in visited:\n                visited.add(v)\n"
                 "                for child in v._prev:\n                    build_topo(child)\n"
                 "                topo.append(v)\n        build_topo(self)\n"
                 "        self.grad = 1\n        for node in reversed(topo):\n"
                 "            node._backward()"),
    "visits_twice": _value(  # no "seen" set: n1 in f = n1 + n1 is visited twice
        BACKWARD="order = []\n        def visit(v):\n"
                 "            for child in v._prev:\n                visit(child)\n"
                 "            order.append(v)\n        visit(self)\n"
                 "        self.grad = 1.0\n        for v in reversed(order):\n"
                 "            v._backward()"),
    "forward_changed": _value().replace("self.data * other.data, (self, other)",
                                        "self.data + other.data, (self, other)"),
}
VALUE_EXPECTED = {
    "right": ("passed", "passed"),
    "right_iterative_topo_and_tie_as_else": ("passed", "passed"),
    "right_micrograd_style": ("passed", "passed"),
    "visits_twice": ("failed", r"n1 = a \* b\n\s*f = n1 \+ n1.*Hint: n1 is used twice, and its "
                               r"_backward ran twice: visit every node once"),
    "not_implemented": ("not_implemented", r"Value.backward still raises NotImplementedError: "
                                           r"it is not implemented yet"),
    "mul_closure_not_implemented": ("not_implemented", r"the backward closure of \* \(the "
                                                       r"_backward inside Value.__mul__\)"),
    "no_seed": ("failed", r"a.grad is 0; expected 1.*Hint: backward must start with "
                          r"self.grad = 1.0"),
    "forward_order": ("failed", r"f = n1 \* c.*got:      \[ 0\.,  0\., -6\.\].*Hint: backward "
                                r"must visit the nodes in reverse topological order"),
    "overwrite": ("failed", r"Hint: gradients add at branches: in the closures, accumulate "
                            r"with \+="),
    "mul_not_switched": ("failed", r"f = a \* b.*Hint: the \* gate switches its inputs"),
    "mul_forgets_upstream": ("failed", r"Hint: multiply the local gradient by out.grad"),
    "max_splits": ("failed", r"f = a.max\(b\).*Hint: the max gate routes all of out.grad to "
                             r"the larger input"),
    "max_tie_to_other": ("failed", r"a = Value\(1.5\), b = Value\(1.5\).*Hint: on a tie the "
                                   r"course's rule sends all of out.grad to the first input"),
    "sigmoid_from_input": ("failed", r"f = a.sigmoid\(\).*Hint: the local gradient of sigmoid "
                                     r"is \(1 - out.data\) \* out.data, from the output"),
    "exp_local_is_input": ("failed", r"f = a.exp\(\).*Hint: the local gradient of exp is "
                                     r"exp\(x\) itself"),
    "sigmoid_forgets_upstream": ("failed", r"Hint: the sigmoid closure must multiply by "
                                           r"out.grad"),
    "forward_changed": ("failed", r"f.data is .*Hint: the forward parts of the operations"),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("hidden", [False, True])
@pytest.mark.parametrize("impl", list(VALUE))
def test_value_backward_check(impl, hidden, mode):
    status, pattern = VALUE_EXPECTED[impl]
    _assert(_outcome("Value.backward", VALUE[impl], ["Value"], mode, hidden), status, pattern)


def test_value_random_expressions_are_reproducible_and_vary_with_the_seed():
    right = _objects(VALUE["right"], ["Value"], "direct")[0]
    outcomes = [CHECKS["Value.backward"].evaluate(right, hidden=True, seed=s) for s in (1, 2)]
    assert all(o.passed for o in outcomes)
    from course_lib.checks.backprop import _random_expr
    a = _random_expr(np.random.default_rng(1), 3, 6).listing()
    assert a == _random_expr(np.random.default_rng(1), 3, 6).listing()
    assert a != _random_expr(np.random.default_rng(2), 3, 6).listing()
    ops = " ".join(_random_expr(np.random.default_rng(s), 3, 8).listing() for s in range(20))
    for piece in (" + ", " * ", ".max(", ".sigmoid()", ".exp()"):
        assert piece in ops, piece
