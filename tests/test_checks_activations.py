"""Activation checks on deliberately wrong implementations, directly and through the channel."""

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
    "min_instead_of_max": ("failed", r"min\(0, x\) instead of max\(0, x\)", None),
    "mask_from_dout": ("passed", "passed", r"mask must come from the forward input x"),
    "inverted_mask": ("passed", "passed", r"the mask is inverted"),
    "in_place_forward": ("error", r"changed its input x in place", None),
}


def _objects(impl, mode):
    namespace = {"__name__": "__main__"}
    exec("import numpy as np\n" + textwrap.dedent(RELU[impl]), namespace)
    if mode == "direct":
        return namespace["relu_forward"], namespace["relu_backward"]
    client = Client(Loopback(ObjectServer(namespace)))
    return client.ref("relu_forward"), client.ref("relu_backward")


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
