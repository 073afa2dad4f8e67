"""Checks for notebook 03, backpropagation on computational graphs.

Graded items: the hand-computed numbers of the (x + y) z example (``fxyz_values``), the
scalar gates (``MultiplyGate``, ``AddGate``, ``MaxGate``, ``SigmoidGate``), the sigmoid
neuron (``sigmoid_neuron``), a graph with a branch (``xy_plus_max``), the vectorized
example f = ||W x||^2 (``l2_matvec``) and a micrograd-style ``Value`` class whose local
gradients and ``backward`` the student writes (``Value.backward``).

Expected gradients come from numerical gradients of the student's own forward functions
(or, for ``Value``, of the check's own float evaluation of the random expression it
built), from the hand-computable numbers of the lecture examples, and from the course's
documented tie rule for max: on a tie, all of the gradient goes to the first input.
Everything reaches student objects through ``call`` / ``call_many`` / ``get_attr``, so the
same checks run through the autograder's channel; ``Value`` expressions are built with
``+`` and ``*`` on the objects and with the methods ``a.max(b)``, ``a.sigmoid()`` and
``a.exp()``, which the channel forwards.

Cases that corner shortcuts: exact zeros for every gate (a backward that divides by an
input, z / x for y, breaks only there), ties for max (the course's rule: the first input
wins), +-700 and +-1000 for the sigmoid (no overflow), one gate object used for two
forward/backward pairs (a gate that keeps its first call's inputs is stale), a value used
twice in a graph (gradients add; each node's backward runs once), and, for the by-hand
numbers, a named sign error.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from . import (
    MISTAKES,
    Mistake,
    as_array,
    as_dict,
    as_float,
    as_list,
    as_tuple,
    call,
    call_many,
    check_gradient,
    expect_close,
    fail,
    fmt,
    get_attr,
    register,
)
from ._core import CheckFailed, NotImplementedYet, StudentCodeError

H = 1e-5  # relative step of the centred differences

_TITLES = {
    "sum-as-product": "x * y where the sum x + y belongs",
    "precedence": "f = x + y * z instead of (x + y) * z",
    "sum-of-three": "f = x + y + z instead of (x + y) * z",
    "add-local-not-1": "local gradient of the + gate taken as something other than 1",
    "no-swap": "multiply gate's inputs not switched in backward",
    "local-is-output": "local gradient taken as the gate's output",
    "no-chain-rule": "local gradient not multiplied by the upstream gradient",
    "dz-missing": "local gradient not multiplied by the upstream gradient",
    "wrong-gate-rule": "another gate's backward rule",
    "wrong-forward": "forward computes another function",
    "split": "gradient split between the inputs instead of passed on whole",
    "one-input-only": "add gate passed the gradient to one input only",
    "max-to-both": "max gate sent the gradient to both inputs",
    "misrouted": "gradient sent to the smaller input of max",
    "tie-rule": "tie broken against the course's rule (the first input wins)",
    "shared-state": "gate instances share state (class attributes)",
    "stale-state": "gate keeps what an earlier forward call stored",
    "overflow": "exp overflows for large inputs",
    "local-from-input": "local gradient computed from the input instead of the output",
    "wrong-local-gradient": "wrong formula for the local gradient",
    "exp-sign": "wrong sign inside exp",
    "no-sigmoid": "sigmoid missing",
    "bias-missing": "a bias missing",
    "bias-gradient-missing": "bias gradient missing",
    "overwrite-at-branch": "gradients overwritten at a branch instead of added",
    "norm-not-squared": "norm instead of squared norm",
    "wrong-transpose": "W.T where W belongs, or W where W.T belongs",
    "no-seed": "backward does not start from grad = 1",
    "no-topological-order": "nodes not visited in reverse topological order",
    "visits-twice": "a node's backward run more than once",
    "forward-changed": "the given forward part of an operation changed",
    "nan-at-zero": "nan, inf or division by zero where an input is exactly 0",
}


def _m(id: str, text: str) -> Mistake:
    """A hint naming mistake ``id`` (a key of _TITLES, or a generic one of MISTAKES)."""
    return Mistake(id, MISTAKES.get(id) or _TITLES[id], text)


def _sigmoid(x: float) -> float:
    """The logistic function without overflow, for expected values and hints."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _args(args) -> str:
    return ", ".join(fmt(float(a)) for a in args)


# ------------------------------------------------------------------ (x + y) z by hand

_FXYZ = {
    # name: (expected, what it is, {mistaken value: why}); a value of the right size with
    # the wrong sign gets a sign hint besides these.
    "q": (3.0, "q = x + y", {-10.0: _m("sum-as-product", "that is x * y; q is the sum x + y")}),
    "f": (-12.0, "f = q * z", {
        -22.0: _m("precedence", "that is x + y * z: f = (x + y) * z = q * z"),
        -1.0: _m("sum-of-three", "that is x + y + z: f = q * z")}),
    "dq_dx": (1.0, "the local gradient of the + gate", {
        5.0: _m("add-local-not-1", "∂(x + y)/∂x is 1, not y: the + gate's local gradient is "
                "1 for both inputs"),
        0.0: _m("add-local-not-1", "∂(x + y)/∂x is 1: moving x by h moves q by h")}),
    "dq_dy": (1.0, "the local gradient of the + gate", {
        -2.0: _m("add-local-not-1", "∂(x + y)/∂y is 1, not x: the + gate's local gradient is "
                 "1 for both inputs"),
        0.0: _m("add-local-not-1", "∂(x + y)/∂y is 1: moving y by h moves q by h")}),
    "df_dq": (-4.0, "the * gate's local gradient for q", {
        3.0: _m("no-swap", "for f = q * z, ∂f/∂q is the other input, z: the * gate swaps its "
                "inputs"),
        -12.0: _m("local-is-output", "∂f/∂q is z, not f")}),
    "df_dz": (3.0, "the * gate's local gradient for z", {
        -4.0: _m("no-swap", "for f = q * z, ∂f/∂z is the other input, q: the * gate swaps its "
                 "inputs"),
        -12.0: _m("local-is-output", "∂f/∂z is q, not f")}),
    "df_dx": (-4.0, "∂f/∂x by the chain rule", {
        1.0: _m("no-chain-rule", "that is only the local gradient ∂q/∂x: multiply it by the "
                "upstream gradient ∂f/∂q (chain rule)"),
        3.0: _m("no-swap", "chain rule: ∂f/∂x = ∂f/∂q * ∂q/∂x, and ∂f/∂q = z, not q")}),
    "df_dy": (-4.0, "∂f/∂y by the chain rule", {
        1.0: _m("no-chain-rule", "that is only the local gradient ∂q/∂y: multiply it by the "
                "upstream gradient ∂f/∂q (chain rule)"),
        3.0: _m("no-swap", "chain rule: ∂f/∂y = ∂f/∂q * ∂q/∂y, and ∂f/∂q = z, not q")}),
}
_FXYZ_SIGNS = {
    "q": "q = x + y = -2 + 5",
    "f": "f = q * z = 3 * (-4)",
    "dq_dx": "∂(x + y)/∂x = +1",
    "dq_dy": "∂(x + y)/∂y = +1",
    "df_dq": "∂f/∂q = z = -4",
    "df_dz": "∂f/∂z = q = 3",
    "df_dx": "∂f/∂x = ∂f/∂q * ∂q/∂x = z * 1",
    "df_dy": "∂f/∂y = ∂f/∂q * ∂q/∂y = z * 1",
}


def _fxyz_why(name, got, expected, mistakes):
    """The Mistake behind a wrong by-hand value, or None."""
    why = next((m for v, m in mistakes.items() if abs(got - v) < 1e-9), None)
    if why is None and abs(got + expected) < 1e-9:
        why = _m("sign-flip", f"the sign is wrong: {_FXYZ_SIGNS[name]}")
    return why


@register("fxyz_values", "the forward values and gradients of f = (x + y) z, by hand")
def _(ctx, values):
    # The numbers are fixed by the example (x = -2, y = 5, z = -4), so the grading run
    # checks the same values as the public one.
    values = as_dict(values, "the dict of your values", keys=list(_FXYZ))
    wrong = []
    for name, (expected, what, mistakes) in _FXYZ.items():
        got = as_float(values[name], name)
        if abs(got - expected) > 1e-9:
            why = _fxyz_why(name, got, expected, mistakes)
            line = f"  {name} = {fmt(got)} is wrong ({what})"
            wrong.append((name, line + (f": {why}" if why else ""), why))
    if wrong:
        first = next((why for _, _, why in wrong if why is not None), None)
        fail(f"{len(wrong)} of {len(_FXYZ)} values are wrong: "
             f"{', '.join(n for n, _, _ in wrong)} (for x = -2, y = 5, z = -4).\n"
             + "\n".join(line for _, line, _ in wrong),
             mistake=first.id if first is not None else None)


# ------------------------------------------------------------------ scalar gates

def _new(cls, label):
    return call(cls, label=f"{label}()")


def _forward(gate, label, *args):
    names = ("x", "y")[:len(args)]
    out = call(get_attr(gate, "forward", label), *args, names=names, label=f"{label}.forward")
    return as_float(out, f"{label}.forward({_args(args)})")


def _backward(gate, label, dz, n):
    """The gate's backward(dz) as a list of n floats."""
    what = f"{label}.backward({fmt(dz)})"
    out = call(get_attr(gate, "backward", label), dz, names=("dz",), label=f"{label}.backward")
    if n == 1:
        return [as_float(out, what)]
    items = as_list(out, what)
    if len(items) != n:
        fail(f"{what} should return [dx, dy], but it returned {len(items)} values.")
    return [as_float(v, f"{what}[{i}]") for i, v in enumerate(items)]


def _numeric(cls, label, args, dz) -> list[float]:
    """dz times the centred-difference derivative of a fresh gate's forward, per input."""
    probe = _new(cls, label)
    calls, steps = [], []
    for i, a in enumerate(args):
        h = H * max(1.0, abs(float(a)))
        steps.append(h)
        for s in (h, -h):
            moved = list(args)
            moved[i] = float(a) + s
            calls.append(tuple(moved))
    results = call_many(get_attr(probe, "forward", label), calls, label=f"{label}.forward")
    vals = [as_float(r, f"{label}.forward") for r in results]
    return [dz * (vals[2 * i] - vals[2 * i + 1]) / (2 * steps[i]) for i in range(len(args))]


def _overflow_hint(fn, *args, **kwargs):
    """Run fn; an OverflowError in the student's code gets a hint about stable sigmoids."""
    try:
        return fn(*args, **kwargs)
    except StudentCodeError as exc:
        if "OverflowError" in exc.message and not exc.hint:
            exc.hint = _m("overflow", "math.exp(-x) overflows for x = -1000: for negative x "
                          "use the equal form exp(x) / (1 + exp(x)), whose exp cannot overflow")
            exc.mistake = exc.hint.id
        raise


_DIVIDES = _m("nan-at-zero", "an input was exactly 0 here: does backward divide by an "
              "input (z / x instead of the stored y)? Compute each local gradient from the "
              "stored inputs, which is defined at 0 too")


def _zero_hint(fn, args, *fn_args):
    """Run fn; when an input is exactly 0 and the student's code divides by zero or returns
    nan/inf, say that the division by the input is the likely cause."""
    try:
        return fn(*fn_args)
    except CheckFailed as exc:
        zero = any(float(a) == 0 for a in args)
        if zero and exc.hint is None and any(
                w in exc.message for w in ("ZeroDivisionError", "nan", "inf")):
            exc.hint, exc.mistake = _DIVIDES, _DIVIDES.id
        raise


def _gate_case(cls, label, args, dz, *, forward_expected, forward_hints=None, hints=None,
               exact=None):
    """One forward/backward case of a gate: the value, then the gradients (``exact`` ones,
    or else the numerical gradient of the student's own forward, times dz)."""
    gate = _new(cls, label)
    z = _overflow_hint(_forward, gate, label, *args)
    expect_close(z, forward_expected, f"{label}.forward({_args(args)})", hints=forward_hints)
    got = _zero_hint(_overflow_hint, args, _backward, gate, label, dz, len(args))
    names = "[dx, dy]" if len(args) == 2 else "dx"
    context = f"from {label}.backward({fmt(dz)}) after forward({_args(args)})"
    expected = exact if exact is not None else _numeric(cls, label, args, dz)
    expect_close(np.array(got), np.array(expected), names, context=context, rtol=1e-6,
                 atol=1e-9, hints={k: np.array(v) for k, v in (hints or {}).items()})


def _shared_state(cls, label, a, c, dz, expected, shared):
    """Two instances must not share what forward stored."""
    g1, g2 = _new(cls, label), _new(cls, label)
    _forward(g1, label, *a)
    _forward(g2, label, *c)
    got = _backward(g1, label, dz, len(a))
    if np.allclose(got, expected, rtol=1e-6, atol=1e-9):
        return
    msg = (f"two {label} objects share state: after g1.forward({_args(a)}) and "
           f"g2.forward({_args(c)}), g1.backward({fmt(dz)}) returned {fmt(np.array(got))}, "
           f"expected {fmt(np.array(expected))}.")
    hint = None
    if np.allclose(got, shared, rtol=1e-6, atol=1e-9):
        hint = _m("shared-state", f"g1 used the inputs given to g2: store them on the instance "
                  f"(self.x = x in forward), not on the class ({label}.x = x, or a list or "
                  "dict defined in the class body, which every instance shares)")
    raise CheckFailed(msg, hint=hint)


def _reused(cls, label, first, second, dz1, dz2):
    """One gate object used twice (as in a loop or an RNN): forward(first), backward(dz1),
    then forward(second), backward(dz2) must give what a fresh gate of the student's gives
    for ``second`` (whether that is right is checked elsewhere)."""
    fresh = _new(cls, label)
    expected_z = _forward(fresh, label, *second)
    expected = _backward(fresh, label, dz2, len(second))
    gate = _new(cls, label)
    _forward(gate, label, *first)
    _backward(gate, label, dz1, len(first))
    z = _forward(gate, label, *second)
    stale = _m("stale-state", "the gate kept what its first forward call computed or stored: "
               "every forward call must store its own inputs (or output) anew, overwriting "
               "the previous call's, and return the new result")
    where = (f"after forward({_args(first)}) and backward({fmt(dz1)}) on the same {label} "
             "object")
    if abs(z - expected_z) > 1e-9 * max(1.0, abs(expected_z)):
        raise CheckFailed(f"{label}.forward({_args(second)}) returned {fmt(z)} {where}; "
                          f"expected {fmt(expected_z)}.", hint=stale)
    got = _backward(gate, label, dz2, len(first))
    if not np.allclose(got, expected, rtol=1e-6, atol=1e-9):
        raise CheckFailed(
            f"{label}.backward({fmt(dz2)}) after forward({_args(second)}) returned "
            f"{fmt(np.array(got))} {where}; a fresh gate gives {fmt(np.array(expected))}.",
            hint=stale)


def _random_pairs(ctx, n, scale=3.0):
    pairs = []
    while len(pairs) < n:
        x, y = (float(v) for v in ctx.rng.normal(0, scale, 2))
        if abs(abs(x) - abs(y)) > 0.1 and min(abs(x), abs(y)) > 0.1:
            pairs.append((x, y))
    return pairs


def _upstreams(ctx, n):
    return [float(ctx.rng.choice([-1, 1]) * ctx.rng.uniform(0.5, 3.0)) for _ in range(n)]


def _hidden_inputs(ctx, pairs):
    """Grading inputs also come as numpy scalars and ints (the gates take either)."""
    out = []
    for i, (x, y) in enumerate(pairs):
        if i % 3 == 1:
            out.append((np.float64(x), np.float64(y)))
        elif i % 3 == 2:
            out.append((int(round(x * 10)) or 7, int(round(y * 10)) or -3))
        else:
            out.append((x, y))
    return out


def _mul_forward_hints(x, y):
    return {_m("wrong-forward", "forward should return x * y"): x + y}


def _add_forward_hints(x, y):
    return {_m("wrong-forward", "forward should return x + y, not x * y"): x * y}


def _max_forward_hints(x, y):
    return {_m("wrong-forward", "forward should return the larger input, max(x, y)"): min(x, y)}


def _mul_hints(x, y, dz):
    return {
        _m("no-swap", "the multiply gate swaps its inputs: dx = y * dz and dy = x * dz (you "
           "returned x * dz and y * dz)"): [x * dz, y * dz],
        _m("dz-missing", "multiply the local gradients by the upstream gradient: dx = y * dz, "
           "not y"): [y, x],
        _m("no-swap", "the multiply gate swaps its inputs (dx = y * dz, dy = x * dz), and the "
           "local gradients must be multiplied by dz"): [x, y],
        _m("wrong-gate-rule", "that is the add gate's rule; the multiply gate's local gradient "
           "for x is y"): [dz, dz],
    }


@register("MultiplyGate", "the multiply gate: forward x * y; backward switches its inputs")
def _(ctx, MultiplyGate):
    label = "MultiplyGate"
    # The * gate of the (x + y) z example: q = 3, z = -4.
    for dz, exact in ((1.0, [-4.0, 3.0]), (2.0, [-8.0, 6.0])):
        _gate_case(MultiplyGate, label, (3.0, -4.0), dz, forward_expected=-12.0,
                   forward_hints=_mul_forward_hints(3.0, -4.0), exact=exact,
                   hints=_mul_hints(3.0, -4.0, dz))
    _reused(MultiplyGate, label, (3.0, -4.0), (2.0, 5.0), 1.0, 1.5)
    # Exact zeros: the local gradients are the other input, defined at 0 too.
    for (x, y), dz in (((0.0, 2.5), 1.5), ((-3.0, 0.0), -2.0), ((0.0, 0.0), 1.0)):
        _gate_case(MultiplyGate, label, (x, y), dz, forward_expected=x * y,
                   exact=[y * dz, x * dz], hints=_mul_hints(x, y, dz))
    pairs = _random_pairs(ctx, 12 if ctx.hidden else 2)
    if ctx.hidden:
        pairs = _hidden_inputs(ctx, pairs) + [(1e3, -2e3), (-7.5e2, 4.0), (0, 7)]
    for (x, y), dz in zip(pairs, _upstreams(ctx, len(pairs))):
        _gate_case(MultiplyGate, label, (x, y), dz, forward_expected=float(x) * float(y),
                   forward_hints=_mul_forward_hints(float(x), float(y)),
                   hints=_mul_hints(float(x), float(y), dz))
    _shared_state(MultiplyGate, label, (2.0, 5.0), (-1.0, 3.0), 1.5, [7.5, 3.0], [4.5, -1.5])


def _add_hints(dz):
    return {
        _m("dz-missing", "multiply the local gradient 1 by the upstream gradient: dx = dy = "
           "dz"): [1.0, 1.0],
        _m("split", "the add gate distributes: each input gets all of dz, not half of it"):
            [dz / 2, dz / 2],
        _m("one-input-only", "the add gate distributes dz to both inputs: dy = dz too"):
            [dz, 0.0],
        _m("one-input-only", "the add gate distributes dz to both inputs: dx = dz too"):
            [0.0, dz],
    }


@register("AddGate", "the add gate: forward x + y; backward distributes dz to both inputs")
def _(ctx, AddGate):
    label = "AddGate"
    # The + gate of the (x + y) z example: x = -2, y = 5, upstream ∂f/∂q = -4.
    _gate_case(AddGate, label, (-2.0, 5.0), -4.0, forward_expected=3.0,
               forward_hints=_add_forward_hints(-2.0, 5.0), exact=[-4.0, -4.0],
               hints=_add_hints(-4.0))
    _reused(AddGate, label, (-2.0, 5.0), (1.5, 2.0), -4.0, 2.5)
    _gate_case(AddGate, label, (0.0, 0.0), 1.5, forward_expected=0.0, exact=[1.5, 1.5],
               hints=_add_hints(1.5))
    pairs = _random_pairs(ctx, 12 if ctx.hidden else 2)
    if ctx.hidden:
        pairs = _hidden_inputs(ctx, pairs) + [(1e3, -2e3), (0, -3)]
    for (x, y), dz in zip(pairs, _upstreams(ctx, len(pairs))):
        hints = _add_hints(dz)
        hints[_m("wrong-gate-rule", "that is the multiply gate's rule; the add gate's local "
                 "gradients are 1")] = [float(y) * dz, float(x) * dz]
        _gate_case(AddGate, label, (x, y), dz, forward_expected=float(x) + float(y),
                   forward_hints=_add_forward_hints(float(x), float(y)), hints=hints)
    # (The add gate keeps nothing from forward, so there is no shared state to test.)


def _max_hints(x, y, dz):
    big_first = x >= y
    right = [dz, 0.0] if big_first else [0.0, dz]
    wrong = [0.0, dz] if big_first else [dz, 0.0]
    hints = {
        _m("split", "the max gate routes: all of dz goes to the larger input; it is not "
           "split"): [dz / 2, dz / 2],
        _m("max-to-both", "only the larger input gets dz; the other input's gradient is 0"):
            [dz, dz],
        _m("dz-missing", "the local gradient (1 for the larger input) must be multiplied by "
           "dz"): [r / dz for r in right],
    }
    if x == y:
        hints = {
            _m("tie-rule", "on a tie the course's rule sends all of dz to the first input x "
               "(compare with x >= y, not x > y)"): wrong,
            _m("tie-rule", "on a tie, do not split dz: by the course's rule all of it goes "
               "to x"): [dz / 2, dz / 2],
            _m("tie-rule", "on a tie, only one input gets dz (x, by the course's rule)"):
                [dz, dz],
            _m("tie-rule", "on a tie the gradient vanished: by the course's rule all of dz "
               "goes to x (compare with x >= y)"): [0.0, 0.0],
        }
    else:
        hints[_m("misrouted", "dz went to the smaller input: route it to the input that was "
                 "larger in forward")] = wrong
    return hints


@register("MaxGate", "the max gate: forward max(x, y); backward routes dz to the larger input")
def _(ctx, MaxGate):
    label = "MaxGate"
    cases = [((3.0, -1.0), 2.0), ((-4.0, 5.0), -1.5), ((-2.0, -3.0), 1.0), ((0.0, -2.0), 1.5),
             ((-1.0, 0.0), 2.0)]
    ties = [((2.0, 2.0), 3.0), ((-1.5, -1.5), -2.0), ((0.0, 0.0), 1.5)]
    if ctx.hidden:
        pairs = _hidden_inputs(ctx, _random_pairs(ctx, 15))
        cases += list(zip(pairs, _upstreams(ctx, len(pairs))))
        for v in ctx.rng.normal(0, 5, 4):
            ties.append(((float(v), float(v)), _upstreams(ctx, 1)[0]))
        ties.append(((np.float64(0.5), np.float64(0.5)), 1.0))
        ties.append(((0, 0), -2.0))
    _reused(MaxGate, label, (3.0, -1.0), (-4.0, 5.0), 2.0, 1.5)
    for (x, y), dz in cases:
        x_, y_ = float(x), float(y)
        right = [dz, 0.0] if x_ > y_ else [0.0, dz]
        _gate_case(MaxGate, label, (x, y), dz, forward_expected=max(x_, y_),
                   forward_hints=_max_forward_hints(x_, y_), exact=right,
                   hints=_max_hints(x_, y_, dz))
        # The same answer as the numerical gradient of the student's own forward.
        _gate_case(MaxGate, label, (x, y), dz, forward_expected=max(x_, y_),
                   forward_hints=_max_forward_hints(x_, y_),
                   hints=_max_hints(x_, y_, dz))
    for (x, y), dz in ties:
        _gate_case(MaxGate, label, (x, y), dz, forward_expected=float(x),
                   exact=[dz, 0.0], hints=_max_hints(float(x), float(y), dz))
    _shared_state(MaxGate, label, (2.0, 5.0), (3.0, -1.0), 1.5, [0.0, 1.5], [1.5, 0.0])


def _sigmoid_hints(x, dz):
    s = _sigmoid(x)
    hints = {
        _m("local-from-input", "the local gradient is (1 - σ(x)) σ(x), computed from the "
           "output σ(x) that forward stored, not from the input x"): [dz * (1 - x) * x],
        _m("dz-missing", "multiply the local gradient (1 - σ(x)) σ(x) by the upstream "
           "gradient dz"): [(1 - s) * s],
        _m("wrong-local-gradient", "the local gradient of σ is (1 - σ) σ, not σ itself"):
            [dz * s],
        _m("wrong-local-gradient", "the local gradient is (1 - σ) σ: it looks like you used "
           "σ (1 + σ) or similar"): [dz * s * (1 + s)],
    }
    return hints


@register("SigmoidGate", "the sigmoid gate: forward σ(x) without overflow; backward "
          "(1 - σ) σ dz")
def _(ctx, SigmoidGate):
    label = "SigmoidGate"

    def case(x, dz, exact=None):
        fx = float(x)
        _gate_case(SigmoidGate, label, (x,), dz, forward_expected=_sigmoid(fx),
                   forward_hints={_m("exp-sign", "σ(x) = 1 / (1 + exp(-x)): check the sign "
                                     "in exp"): _sigmoid(-fx)},
                   exact=exact, hints=_sigmoid_hints(fx, dz))

    # The sigmoid of the neuron: σ(1) ≈ 0.73, local gradient ≈ 0.20.
    case(1.0, 1.0, exact=[0.19661193324148185])
    _reused(SigmoidGate, label, (1.0,), (-2.0,), 1.0, 2.0)
    case(0.0, -1.5, exact=[-0.375])
    case(-0.5, 2.5)
    # Large inputs must neither overflow nor give nan.
    case(1000.0, 1.0, exact=[0.0])
    case(-1000.0, 1.0, exact=[0.0])
    if ctx.hidden:
        xs = list(ctx.rng.normal(0, 4, 12)) + list(ctx.rng.choice([-1, 1], 4)
                                                    * ctx.rng.uniform(800, 1e4, 4))
        for i, (x, dz) in enumerate(zip(xs, _upstreams(ctx, len(xs)))):
            case(np.float64(x) if i % 2 else float(x), dz)
        case(0, 1.0, exact=[0.25])
        case(np.float64(-700.0), 1.0)
        case(700, -2.0)
    g1, g2 = _new(SigmoidGate, label), _new(SigmoidGate, label)
    _forward(g1, label, 0.0)
    _forward(g2, label, 2.0)
    got = _backward(g1, label, 1.0, 1)[0]
    if abs(got - 0.25) > 1e-9:
        s2 = _sigmoid(2.0)
        raise CheckFailed(
            f"two {label} objects share state: after g1.forward(0) and g2.forward(2), "
            f"g1.backward(1) returned {fmt(got)}, expected 0.25.",
            hint=_m("shared-state", f"g1 used what g2 stored: keep it on the instance "
                    f"(self.out = ...), not on the class ({label}.out = ...)")
            if abs(got - (1 - s2) * s2) < 1e-9 else None)


# ------------------------------------------------------------------ the sigmoid neuron

def _neuron_output(result):
    return as_float(as_tuple(result, "sigmoid_neuron", 3, ("f", "dw", "dx"))[0], "f")


def _neuron_case(ctx, sigmoid_neuron, w, x, exact=None):
    context = f"for w = {fmt(w)}, x = {fmt(x)}"
    f, dw, dx = _neuron_call(sigmoid_neuron, w, x)
    z = float(w[0] * x[0] + w[1] * x[1] + w[2])
    s = _sigmoid(z)
    expect_close(f, s, "f", context=context, hints={
        _m("no-sigmoid", "f is the sigmoid of w0 x0 + w1 x1 + w2: did you forget the "
           "sigmoid?"): z,
        _m("exp-sign", "σ(s) = 1 / (1 + exp(-s)): check the sign in exp"): _sigmoid(-z),
        _m("bias-missing", "the bias w2 is missing from w0 x0 + w1 x1 + w2"):
            _sigmoid(z - float(w[2])),
    })
    local, wrong_local = (1 - s) * s, (1 - z) * z
    xb, wb = np.array([x[0], x[1], 1.0]), np.array([w[0], w[1]])
    input_local = _m("local-from-input", "the local gradient of σ is (1 - σ) σ of its "
                     "output σ, not (1 - s) s of its input s = w0 x0 + w1 x1 + w2")
    dw_hints = {
        input_local: xb * wrong_local,
        _m("no-swap", "the * gates switch their inputs: dw = [x0, x1, 1] * dσ and dx = "
           "[w0, w1] * dσ (your dw used w)"): np.array([w[0], w[1], 1.0]) * local,
        _m("bias-gradient-missing", "the bias gradient dw[2] is the upstream gradient itself "
           "(the + gate distributes)"): np.append(xb[:2] * local, 0.0),
        _m("dz-missing", "dw must include the sigmoid's local gradient (1 - σ) σ"): xb,
    }
    dx_hints = {
        input_local: wb * wrong_local,
        _m("no-swap", "the * gates switch their inputs: dx = [w0, w1] * dσ, not [x0, x1] * "
           "dσ"): xb[:2] * local,
        _m("dz-missing", "dx must include the sigmoid's local gradient (1 - σ) σ"): wb,
    }
    if exact is not None:
        expect_close(dw, exact[0], "dw", context=context, hints=dw_hints)
        expect_close(dx, exact[1], "dx", context=context, hints=dx_hints)
    check_gradient(sigmoid_neuron, (w, x), 0, dw, "dw", output=_neuron_output, rng=ctx.rng,
                   num_checks=None, hints=dw_hints)
    check_gradient(sigmoid_neuron, (w, x), 1, dx, "dx", output=_neuron_output, rng=ctx.rng,
                   num_checks=None, hints=dx_hints)


def _neuron_call(sigmoid_neuron, w, x):
    result = _overflow_hint(call, sigmoid_neuron, w, x, names=("w", "x"))
    f, dw, dx = as_tuple(result, "sigmoid_neuron", 3, ("f", "dw", "dx"))
    return (as_float(f, "f"), as_array(dw, "dw", shape=(3,)), as_array(dx, "dx", shape=(2,)))


@register("sigmoid_neuron", "a 2-input sigmoid neuron, forward and backward")
def _(ctx, sigmoid_neuron):
    # The lecture's neuron: f ≈ 0.73, dw ≈ [-0.20, -0.39, 0.20], dx ≈ [0.39, -0.59].
    g = 0.19661193324148185  # (1 - σ(1)) σ(1)
    _neuron_case(ctx, sigmoid_neuron, np.array([2.0, -3.0, -3.0]), np.array([-1.0, -2.0]),
                 exact=(np.array([-g, -2 * g, g]), np.array([2 * g, -3 * g])))
    cases = [(ctx.rng.normal(0, 1, 3), ctx.rng.normal(0, 1, 2))]
    cases.append((np.array([0.0, 1.5, 0.0]), np.array([0.7, 0.0])))  # exact zeros
    cases.append((np.array([400.0, -300.0, 0.5]), np.array([1.5, -1.5])))  # s ≈ 1050
    cases.append((np.array([-400.0, 300.0, 0.5]), np.array([1.5, -1.5])))  # s ≈ -1050
    if ctx.hidden:
        cases += [(ctx.rng.normal(0, 2, 3), ctx.rng.normal(0, 2, 2)) for _ in range(8)]
        big = ctx.rng.uniform(300, 3000)
        cases.append((np.array([big, big, -big]), np.array([1.0, 0.5])))
        cases.append((np.array([-big, -big, big]), np.array([1.0, 0.5])))
    for w, x in cases:
        _neuron_case(ctx, sigmoid_neuron, w, x)


# ------------------------------------------------------------------ branches add

def _scalar_grads(fn, label, args, output):
    """Centred-difference gradient of output(fn(*args)) with respect to each scalar arg."""
    calls, steps = [], []
    for i, a in enumerate(args):
        h = H * max(1.0, abs(a))
        steps.append(h)
        for s in (h, -h):
            moved = list(args)
            moved[i] = a + s
            calls.append(tuple(moved))
    vals = [output(r) for r in call_many(fn, calls, label=label)]
    return [(vals[2 * i] - vals[2 * i + 1]) / (2 * steps[i]) for i in range(len(args))]


def _xy_max_output(result):
    return as_float(as_tuple(result, "xy_plus_max", 4, ("f", "dx", "dy", "dz"))[0], "f")


@register("xy_plus_max", "f = x y + max(x, z): x branches, so its gradients add")
def _(ctx, xy_plus_max):
    cases = [(3.0, -4.0, 2.0), (1.0, 2.0, 5.0), (-2.0, 1.5, -3.0), (2.0, 3.0, 2.0),
             (0.0, 2.5, -1.0), (0.0, -1.5, 0.0)]
    if ctx.hidden:
        for _ in range(12):
            x, y, z = (float(v) for v in ctx.rng.normal(0, 3, 3))
            if abs(x - z) > 0.05:
                cases.append((x, y, z))
        v = float(ctx.rng.normal())
        cases.append((v, float(ctx.rng.normal()), v))
    for x, y, z in cases:
        result = call(xy_plus_max, x, y, z, names=("x", "y", "z"))
        f, dx, dy, dz = as_tuple(result, "xy_plus_max", 4, ("f", "dx", "dy", "dz"))
        got = [as_float(dx, "dx"), as_float(dy, "dy"), as_float(dz, "dz")]
        context = f"for x = {fmt(x)}, y = {fmt(y)}, z = {fmt(z)}"
        expect_close(as_float(f, "f"), x * y + max(x, z), "f", context=context,
                     hints={_m("wrong-forward", "f = x * y + max(x, z)"): x * y + min(x, z)})
        wins = x >= z  # the course's tie rule: on a tie, x (the first input) wins
        if x == z:
            expected = [y + 1.0, x, 0.0]
            context += " (a tie: by MaxGate's rule all of the gradient goes to x)"
        else:
            expected = _scalar_grads(xy_plus_max, "xy_plus_max", (x, y, z), _xy_max_output)
        route = 1.0 if wins else 0.0
        misrouted = _m("misrouted", "the max gate routes all of the gradient to the larger "
                       "of x and z; you sent it to the other one")
        if x == z:
            misrouted = _m("tie-rule", "on a tie, MaxGate's rule (x >= z) sends all of the max "
                           "gate's gradient to x, its first input; you sent it to z")
        expect_close(np.array(got), np.array(expected), "[dx, dy, dz]", context=context,
                     rtol=1e-6, atol=1e-8, hints={
            _m("overwrite-at-branch", "x feeds two gates, so its gradients add: dx = y (from "
               "x * y) + the max gate's share. Your dx has only the x * y branch: accumulate "
               "with +=, do not overwrite"): [y, x, 1.0 - route],
            _m("overwrite-at-branch", "x feeds two gates, so its gradients add: dx = y (from "
               "x * y) + the max gate's share. Your dx has only the max branch: accumulate "
               "with +=, do not overwrite"): [route, x, 1.0 - route],
            misrouted: [y + (1.0 - route), x, route],
            _m("no-swap", "the multiply gate switches: the gradient of x * y is y for x and x "
               "for y"): [x + route, y, 1.0 - route],
        })


# ------------------------------------------------------------------ ||W x||^2

_NO_2 = _m("half", "the factor 2 from d(q^2)/dq = 2q is missing")
_DW_T = _m("transposed", "dW is transposed: dW = 2 q x^T has the shape of W, np.outer(2 * q, x)")


def _l2_output(result):
    return as_float(as_tuple(result, "l2_matvec", 3, ("f", "dW", "dx"))[0], "f")


@register("l2_matvec", "f = ||W x||^2 and its gradients dW, dx, for any W (n, m)")
def _(ctx, l2_matvec):
    W0, x0 = np.array([[0.1, 0.5], [-0.3, 0.8]]), np.array([0.2, 0.4])
    shapes = [(3, 4)] if not ctx.hidden else [(1, 1), (1, 5), (4, 1), (3, 3), (5, 2),
                                              (2, 7), (int(ctx.rng.integers(2, 30)),
                                                       int(ctx.rng.integers(2, 30)))]
    cases = [(W0, x0, True)] + [(ctx.rng.normal(0, 1, s), ctx.rng.normal(0, 1, s[1]), False)
                                for s in shapes]
    cases.append((ctx.rng.normal(0, 1, (2, 3)), np.array([0.0, 1.5, 0.0]), False))
    for W, x, known in cases:
        n, m = W.shape
        context = f"for W of shape {W.shape}, x of shape {x.shape}"
        result = call(l2_matvec, W, x, names=("W", "x"))
        f, dW, dx = as_tuple(result, "l2_matvec", 3, ("f", "dW", "dx"))
        f = as_float(f, "f")
        dW = as_array(dW, "dW", shape=(n, m))
        dx = as_array(dx, "dx", shape=(m,))
        q = W @ x
        expect_close(f, float(q @ q), "f", context=context, hints={
            _m("norm-not-squared", "f is the squared norm ||W x||^2 = sum(q ** 2), not the "
               "norm itself"): float(np.sqrt(q @ q)),
            _m("wrong-transpose", "f = sum((W @ x) ** 2): it looks like you used W.T"):
                float(np.sum((W.T @ x[:n]) ** 2)) if n == m else None,
        })
        if known:  # the lecture's numbers
            expect_close(f, 0.116, "f", context=context)
            expect_close(dW, np.array([[0.088, 0.176], [0.104, 0.208]]), "dW", context=context,
                         hints={_DW_T: np.array([[0.088, 0.104], [0.176, 0.208]]),
                                _NO_2: np.array([[0.044, 0.088], [0.052, 0.104]])})
            expect_close(dx, np.array([-0.112, 0.636]), "dx", context=context, hints={
                _m("wrong-transpose", "dx = 2 W^T q: you multiplied by W instead of its "
                   "transpose"): np.array([0.304, 0.284]),
                _NO_2: np.array([-0.056, 0.318])})
        square = n == m
        check_gradient(l2_matvec, (W, x), 0, dW, "dW", output=_l2_output, rng=ctx.rng,
                       num_checks=None if W.size <= 60 else 40, hints={
            _NO_2: lambda num, take: num / 2,
            _DW_T: (2 * np.outer(q, x)).T if square else None,
        })
        check_gradient(l2_matvec, (W, x), 1, dx, "dx", output=_l2_output, rng=ctx.rng,
                       num_checks=None if m <= 60 else 40, hints={
            _NO_2: lambda num, take: num / 2,
            _m("wrong-transpose", "dx = 2 W^T q: multiply by the transpose of W"):
                2 * W @ q if square else None,
        })


# ------------------------------------------------------------------ micrograd-style Value

_OPS = ("add", "mul", "max", "sigmoid", "exp", "addc", "mulc")


class _Expr:
    """A random expression over a few leaves, as a list of operations, with its own float
    evaluation (for values and numerical gradients) and a readable listing."""

    def __init__(self, leaves: list[float], ops: list[tuple]):
        self.leaves, self.ops = leaves, ops

    def values(self, leaves=None) -> list[float]:
        vals = list(self.leaves if leaves is None else leaves)
        for op in self.ops:
            kind, i = op[0], op[1]
            a = vals[i]
            if kind == "add":
                vals.append(a + vals[op[2]])
            elif kind == "mul":
                vals.append(a * vals[op[2]])
            elif kind == "max":
                vals.append(a if a >= vals[op[2]] else vals[op[2]])
            elif kind == "sigmoid":
                vals.append(_sigmoid(a))
            elif kind == "exp":
                vals.append(math.exp(a))
            elif kind == "addc":
                vals.append(a + op[2])
            else:
                vals.append(op[2] * a)
        return vals

    def numerical(self) -> list[float]:
        grads = []
        for i, v in enumerate(self.leaves):
            h = 1e-6 * max(1.0, abs(v))
            up, down = list(self.leaves), list(self.leaves)
            up[i], down[i] = v + h, v - h
            grads.append((self.values(up)[-1] - self.values(down)[-1]) / (2 * h))
        return grads

    def names(self) -> list[str]:
        """a, b, c, ... for the leaves, n1, n2, ... for the results of the operations."""
        return list("abcdefgh"[:len(self.leaves)]) + [f"n{j + 1}" for j in range(len(self.ops))]

    def listing(self) -> str:
        """The expression as the lines of code that build it."""
        names = self.names()
        k = len(self.leaves)
        lines = [", ".join(f"{n} = Value({fmt(v)})" for n, v in zip(names, self.leaves))]
        for j, op in enumerate(self.ops):
            kind, a = op[0], names[op[1]]
            if kind in ("add", "mul"):
                rhs = f"{a} {'+' if kind == 'add' else '*'} {names[op[2]]}"
            elif kind == "max":
                rhs = f"{a}.max({names[op[2]]})"
            elif kind in ("sigmoid", "exp"):
                rhs = f"{a}.{kind}()"
            elif kind == "addc":
                rhs = f"{a} + {fmt(op[2])}"
            else:
                rhs = f"{fmt(op[2])} * {a}"
            target = "f" if j == len(self.ops) - 1 else names[k + j]
            lines.append(f"{target} = {rhs}")
        return "\n".join("    " + ln for ln in lines)


def _random_expr(rng, n_leaves: int, n_ops: int) -> _Expr:
    """Leaves ~ N(0, 1); each op reads the newest node or (often) an older one, so values
    get reused (branches); values stay moderate and max never sits near a tie."""
    while True:
        leaves = [float(v) for v in rng.normal(0, 1, n_leaves)]
        ops: list[tuple] = []
        vals = list(leaves)
        tries = 0
        while len(ops) < n_ops and tries < 200:
            tries += 1
            kind = _OPS[int(rng.integers(len(_OPS)))]
            n = len(vals)
            i = n - 1 if rng.random() < 0.5 else int(rng.integers(n))
            j = int(rng.integers(n))
            op = (kind, i, j) if kind in ("add", "mul", "max") else (kind, i)
            if kind == "addc":
                op = (kind, i, float(np.round(rng.uniform(-2, 2), 2)))
            elif kind == "mulc":
                op = (kind, i, float(np.round(rng.choice([-1, 1]) * rng.uniform(0.5, 2), 2)))
            if kind == "max" and abs(vals[i] - vals[j]) < 0.05 and i != j:
                continue
            if kind == "max" and i == j:
                continue
            if kind == "exp" and abs(vals[i]) > 3:
                continue
            value = _Expr(leaves, ops + [op]).values()[-1]
            if not math.isfinite(value) or abs(value) > 50:
                continue
            ops.append(op)
            vals.append(value)
        if len(ops) == n_ops:
            return _Expr(leaves, ops)


class _Builder:
    """Builds expressions out of the student's Value objects, only through call()."""

    METHODS = {"add": "__add__", "mul": "__mul__", "max": "max", "sigmoid": "sigmoid",
               "exp": "exp", "addc": "__add__", "mulc": "__rmul__"}

    def __init__(self, Value):
        self.Value = Value

    def leaf(self, v):
        return call(self.Value, v, names=("data",), label="Value")

    def op(self, kind, a, b=None):
        label = f"Value.{self.METHODS[kind]}"
        if kind in ("add", "addc"):
            return call(operator.add, a, b, label=label)
        if kind == "mul":
            return call(operator.mul, a, b, label=label)
        if kind == "mulc":
            return call(operator.mul, b, a, label=label)
        method = get_attr(a, kind, "Value")
        return call(method, *(() if b is None else (b,)), label=label)

    def build(self, expr: _Expr):
        nodes = [self.leaf(v) for v in expr.leaves]
        for op in expr.ops:
            kind = op[0]
            if kind in ("add", "mul", "max"):
                nodes.append(self.op(kind, nodes[op[1]], nodes[op[2]]))
            elif kind in ("addc", "mulc"):
                nodes.append(self.op(kind, nodes[op[1]], op[2]))
            else:
                nodes.append(self.op(kind, nodes[op[1]]))
        return nodes

    def backward(self, out):
        call(get_attr(out, "backward", "Value"), label="Value.backward")


def _data(v, name):
    return as_float(get_attr(v, "data", "Value"), f"{name}.data")


def _grad(v, name):
    return as_float(get_attr(v, "grad", "Value"), f"{name}.grad")


_CLOSURE = {"add": ("+", "__add__"), "mul": ("*", "__mul__"), "max": ("max", "max"),
            "sigmoid": ("sigmoid", "sigmoid"), "exp": ("exp", "exp"),
            "addc": ("+", "__add__"), "mulc": ("*", "__mul__")}


_IN_BIGGER_GRAPHS = _m("wrong-gradient", (
    "each operation passed on its own, so look at what changes in bigger graphs: closures "
    "must accumulate (+=) because gradients add at branches, and backward must visit every "
    "node once, output first (reverse topological order)"))


def _run(builder: _Builder, expr: _Expr, hints=None, first_use: str | None = None,
         fallback: str | None = None, expected=None):
    """Build ``expr`` from the student's Values, run backward, compare every leaf's grad.

    first_use: the operation tested here for the first time (a NotImplementedError then
    names its closure); fallback: the hint when none of ``hints`` matches.
    """
    try:
        nodes = builder.build(expr)
        builder.backward(nodes[-1])
    except NotImplementedYet:
        if first_use is None:
            raise
        symbol, method = _CLOSURE[first_use]
        raise NotImplementedYet(
            f"the backward closure of {symbol} (the _backward inside Value.{method}) still "
            "raises NotImplementedError: it is not implemented yet. Write its body, run the "
            "cell, then run this check again.") from None
    names = expr.names()
    context = f"for the expression\n{expr.listing()}\n"
    data = _data(nodes[-1], "f")
    if abs(data - expr.values()[-1]) > 1e-9 * max(1.0, abs(data)):
        fail(f"f.data is {fmt(data)}, expected {fmt(expr.values()[-1])}, {context}",
             hint=_m("forward-changed", "the forward parts of the operations (the lines that "
                     "build out) were given: restore them"))
    got = np.array([_grad(nodes[i], names[i]) for i in range(len(expr.leaves))])
    source = "numerical gradients" if expected is None else "the course's tie rule"
    expected = np.array(expr.numerical() if expected is None else expected)
    label = "[" + ", ".join(f"{n}.grad" for n in names[:len(expr.leaves)]) + "]"
    try:
        expect_close(got, expected, label, context=context + f"(expected: {source})",
                     rtol=1e-5, atol=1e-7, hints=hints)
    except CheckFailed as exc:
        if exc.hint is None and fallback:
            exc.hint = fallback
        raise


@register("Value.backward", "a micrograd-style Value: local gradients and backward, checked "
          "on random expressions of + * max sigmoid exp")
def _(ctx, Value):
    b = _Builder(Value)
    # 1. backward() on a lone value seeds its gradient: df/df = 1.
    a = b.leaf(3.0)
    b.backward(a)
    got = _grad(a, "a")
    if got != 1.0:
        fail(f"after a = Value(3.0); a.backward(), a.grad is {fmt(got)}; expected 1.",
             hint=_m("no-seed", "backward must start with self.grad = 1.0 (the output's "
                     "gradient with respect to itself), then visit the nodes")
             if got == 0 else None)
    E = _Expr
    overwrite = _m("overwrite-at-branch", "gradients add at branches: in the closures, "
                   "accumulate with += (self.grad += ...), do not overwrite with =")
    overwrite_mul = _m("overwrite-at-branch", "gradients add at branches: in the closures, "
                       "accumulate with += (self.grad += ...), do not overwrite with = (a got "
                       "only the * branch)")
    reverse = _m("no-topological-order", "backward must visit the nodes in reverse "
                 "topological order (the output first), so each node's grad is complete "
                 "before its _backward runs")
    twice = _m("visits-twice", "n1 is used twice, and its _backward ran twice: visit every "
               "node once (keep a set of visited nodes while building the topological order)")
    # 2. Each operation on its own (upstream gradient 1).
    _run(b, E([2.0, -3.0], [("add", 0, 1)]), first_use="add",
         hints={_m("one-input-only", "the + gate distributes out.grad to both inputs: "
                   "self.grad += out.grad and other.grad += out.grad"): [1.0, 0.0]})
    _run(b, E([2.0, -3.0], [("mul", 0, 1)]), first_use="mul", hints={
        _m("no-swap", "the * gate switches its inputs: self.grad += other.data * out.grad "
           "and other.grad += self.data * out.grad"): [2.0, -3.0]})
    for x, y in ((2.0, -3.0), (-1.0, 4.0)):
        route = [1.0, 0.0] if x >= y else [0.0, 1.0]
        _run(b, E([x, y], [("max", 0, 1)]), first_use="max", hints={
            _m("split", "the max gate routes all of out.grad to the larger input; it does not "
               "split it"): [0.5, 0.5],
            _m("misrouted", "out.grad went to the smaller input: route it to the larger one"):
                route[::-1]})
    _run(b, E([1.0], [("sigmoid", 0)]), first_use="sigmoid", hints={
        _m("local-from-input", "the local gradient of sigmoid is (1 - out.data) * out.data, "
           "from the output, not from the input self.data"): [0.0],
        _m("wrong-local-gradient", "the local gradient of sigmoid is (1 - σ) σ, not σ"):
            [_sigmoid(1.0)]})
    for big in (1000.0, -1000.0):
        _run(b, E([big], [("sigmoid", 0)]), first_use="sigmoid")
    _run(b, E([0.5], [("exp", 0)]), first_use="exp", hints={
        _m("wrong-local-gradient", "the local gradient of exp is exp(x) itself, out.data"):
            [0.5],
        _m("wrong-local-gradient", "the local gradient of exp is exp(x) = out.data, not 1"):
            [1.0]})
    # 3. Ties: by the course's rule, the first input wins.
    _run(b, E([1.5, 1.5], [("max", 0, 1)]), expected=[1.0, 0.0], hints={
        _m("tie-rule", "on a tie the course's rule sends all of out.grad to the first input "
           "(self): compare with self.data >= other.data"): [0.0, 1.0],
        _m("tie-rule", "on a tie, do not split: all of out.grad goes to self"): [0.5, 0.5]})
    # 4. An upstream gradient other than 1: every closure must multiply by out.grad.
    times = "multiply the local gradient by out.grad: "
    _run(b, E([2.0, -3.0, 4.0], [("mul", 0, 1), ("mul", 3, 2)]), hints={
        _m("dz-missing", times + "self.grad += other.data * out.grad"): [-3.0, 2.0, -6.0],
        _m("dz-missing", times + "self.grad += other.data * out.grad (the first input's "
           "gradient lacks out.grad)"): [-3.0, 8.0, -6.0],
        _m("dz-missing", times + "other.grad += self.data * out.grad (the second input's "
           "gradient lacks out.grad)"): [-12.0, 2.0, -6.0],
        reverse: [0.0, 0.0, -6.0]})
    k = -1.5
    upstream_cases = [
        ("add", [("add", 0, 1), ("mul", 2, 3)], [2.0, -3.0, k], [1.0, 1.0, -1.0]),
        ("max", [("max", 0, 1), ("mul", 2, 3)], [2.0, -3.0, k], [1.0, 0.0, 2.0]),
        ("sigmoid", [("sigmoid", 0), ("mul", 1, 2)], [0.7, k], None),
        ("exp", [("exp", 0), ("mul", 1, 2)], [0.7, k], None),
    ]
    for kind, ops, leaves, forgot in upstream_cases:
        expr = E(leaves, ops)
        hints = {}
        forgot_dz = _m("dz-missing", f"the {_CLOSURE[kind][0]} closure must multiply by "
                       "out.grad")
        if forgot is not None:
            hints[forgot_dz] = forgot
        else:
            local = expr.numerical()[0] / k
            hints[forgot_dz] = [local, expr.numerical()[1]]
        _run(b, expr, hints=hints)
    # 5. Branches: a value used twice gets the sum of both gradients.
    _run(b, E([3.0], [("mul", 0, 0)]), hints={overwrite: [3.0]})
    _run(b, E([3.0], [("add", 0, 0)]), hints={overwrite: [1.0]})
    _run(b, E([2.0, -3.0], [("mul", 0, 1), ("add", 2, 0)]), hints={
        overwrite: [1.0, 2.0], overwrite_mul: [-3.0, 2.0]})
    # 6. A node used twice whose own backward must run once: n1 = a * b; f = n1 + n1.
    _run(b, E([2.0, -3.0], [("mul", 0, 1), ("add", 2, 2)]), hints={
        twice: [-12.0, 8.0], overwrite: [-3.0, 2.0]})
    _run(b, E([0.5, -1.0], [("sigmoid", 0), ("mul", 2, 0), ("add", 3, 1), ("exp", 4)]),
         fallback=_IN_BIGGER_GRAPHS)
    # 7. Random expressions of + * max sigmoid exp, with reused values.
    count = 30 if ctx.hidden else 3
    for _ in range(count):
        expr = _random_expr(ctx.rng, int(ctx.rng.integers(2, 5)), int(ctx.rng.integers(3, 9)))
        _run(b, expr, fallback=_IN_BIGGER_GRAPHS)
