"""Comparing validated values with what they should be, and saying what went wrong.

All inputs here are already validated plain values (``float`` or float64 arrays); every
comparison happens in this process with our own numpy.
"""

from __future__ import annotations

import numpy as np

from ..gradcheck import TINY
from ._core import MISTAKES, CheckFailed, Mistake
from ._student import call, call_many, label_of, step_counts
from ._values import as_array, as_float, shape_failure


def rel_errors(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Entry-wise ``|a - b| / max(|a| + |b|, 1e-8)``."""
    return np.abs(a - b) / np.maximum(TINY, np.abs(a) + np.abs(b))


def fmt(x, prefix: str = "") -> str:
    """A short, readable rendering of a number or small array.

    prefix: the text the rendering will follow on its first line (e.g. ``"  got:      "``):
    the rows of a 2-D array are indented by its width so that columns line up. Entries that
    round to zero print as 0 (never "-0.").
    """
    if isinstance(x, float | int | np.floating | np.integer):
        return f"{float(x) + 0.0:.6g}"  # + 0.0 turns -0.0 into 0.0
    x = np.asarray(x)
    if x.size <= 36 and x.ndim <= 2:
        if x.dtype.kind == "f":  # what prints as 0 at 5 decimals prints without a sign
            x = np.where(np.abs(x) < 5e-6, 0.0, x) + 0.0
        with np.printoptions(precision=5, suppress=True, linewidth=100):
            return np.array2string(x, separator=", ", prefix=prefix)
    return f"array of shape {x.shape}"


def _pair(got, expected) -> str:
    """The "got:"/"expected:" lines of a small array, columns aligned."""
    g, e = "  got:      ", "  expected: "
    return f"\n{g}{fmt(got, g)}\n{e}{fmt(expected, e)}"


def _index(ix) -> str:
    return "[" + ", ".join(str(int(i)) for i in ix) + "]"


def _close(a, b, rtol, atol) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= atol + rtol * np.abs(b)))


def _constant_ratio(got: np.ndarray, expected: np.ndarray) -> float | None:
    """The factor k with got ≈ k * expected, if there is one (and it is not 1)."""
    mask = np.abs(expected) > 1e-12
    if mask.sum() == 0:
        return None
    ratios = got[mask] / expected[mask]
    k = float(np.median(ratios))
    if abs(k - 1) < 1e-6 or not np.isfinite(k) or abs(k) < 1e-12:
        return None
    return k if _close(got, k * expected, 1e-5, 1e-10) else None


ALL_ZEROS = Mistake("all-zeros", MISTAKES["all-zeros"],
                    "it is all zeros: is the computation missing, or overwritten afterwards?")
TRANSPOSED_VALUE = Mistake("transposed", MISTAKES["transposed"],
                           "it equals the transpose of the expected value: check the order of "
                           "the axes")
SIGN_FLIP = Mistake("sign-flip", MISTAKES["sign-flip"],
                    "it has the opposite sign everywhere: a sign error")
TIMES_2 = Mistake("times-2", MISTAKES["times-2"],
                  "it is exactly twice the expected value: a factor 2 too many (a term counted "
                  "twice, or a 2 where the formula has none)?")
HALF = Mistake("half", MISTAKES["half"],
               "it is exactly half the expected value: a factor 2 missing (the derivative of "
               "reg * W*W is 2 * reg * W; a term counted once where it counts twice)?")


def _times_n(n: int) -> Mistake:
    return Mistake("times-N", MISTAKES["times-N"],
                   f"your value is N = {n} times too large: did you forget to average over the "
                   "N examples (divide by N)?")


def _over_n(n: int) -> Mistake:
    return Mistake("over-N", MISTAKES["over-N"],
                   f"your value is N = {n} times too small: did you divide by N twice, or where "
                   "no average is wanted?")


def _factor_hint(got: np.ndarray, expected: np.ndarray, n: int | None) -> Mistake | None:
    """A named constant factor between got and expected. Only meaningful factors: -1, N and
    1/N (when ``n`` is given) on any value, and 2 and 1/2 on arrays only (on two numbers
    any ratio is "a constant factor", so only factors nobody gets by chance count there)."""
    k = _constant_ratio(got, expected)
    if k is None:
        return None
    candidates = [(-1.0, SIGN_FLIP)]
    if n is not None and n > 1:
        candidates += [(float(n), _times_n(n)), (1.0 / n, _over_n(n))]
    if int(np.count_nonzero(expected)) >= 2:
        candidates += [(2.0, TIMES_2), (0.5, HALF)]
    for factor, mistake in candidates:
        if abs(k - factor) <= 1e-5 * abs(factor):
            return mistake
    return None


def diagnose(got, expected, hints=None, *, rtol=1e-5, atol=1e-10, n: int | None = None
             ) -> str | None:
    """The likely mistake behind ``got`` != ``expected``, or None.

    hints: ``{Mistake(...): what the value would be after that mistake}`` (or a function of
    the expected value returning that); the first one that matches wins. Then generic
    patterns, each a :class:`Mistake`: all zeros, a transpose, a sign flip, and the
    meaningful constant factors (N and 1/N when ``n``, the batch size, is given; 2 and 1/2
    on arrays).
    """
    for message, predicted in (hints or {}).items():
        if callable(predicted):
            predicted = predicted(np.asarray(expected, dtype=np.float64))
        if predicted is not None and _close(got, predicted, rtol, atol):
            return message
    got_a, exp_a = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if got_a.shape != exp_a.shape:
        return None
    if np.any(exp_a != 0) and np.all(got_a == 0):
        return ALL_ZEROS
    if got_a.ndim == 2 and got_a.shape[0] == got_a.shape[1] and _close(got_a, exp_a.T, rtol, atol):
        return TRANSPOSED_VALUE
    return _factor_hint(got_a, exp_a, n)


def expect_close(got, expected, name: str, *, rtol: float = 1e-6, atol: float = 1e-9,
                 hints: dict | None = None, context: str = "", n: int | None = None) -> None:
    """Fail with a lesson unless ``got`` matches ``expected`` (numbers or same-shape arrays).

    context: one line describing the input (e.g. "on the 3-example case from the notes");
    n: the batch size N of the case, so that a value N times off is named (see
    :func:`diagnose`).
    """
    got_a = np.asarray(got, dtype=np.float64)
    exp_a = np.asarray(expected, dtype=np.float64)
    if got_a.shape != exp_a.shape:
        raise shape_failure(name, got_a.shape, exp_a.shape)
    if _close(got_a, exp_a, rtol, atol):
        return
    where = f" {context}" if context else ""
    if got_a.ndim == 0:
        text = f"{name} is wrong{where}: got {fmt(float(got_a))}, expected {fmt(float(exp_a))}."
    else:
        err = np.abs(got_a - exp_a) - rtol * np.abs(exp_a)
        bad = int((err > atol).sum())
        worst = np.unravel_index(int(np.argmax(err)), err.shape)
        text = (
            f"{name} is wrong{where}: {bad} of {got_a.size} entries differ. Worst at "
            f"{_index(worst)}: got {fmt(got_a[worst])}, expected {fmt(exp_a[worst])}."
        )
        if got_a.size <= 36 and got_a.ndim <= 2:
            text += _pair(got_a, exp_a)
    raise CheckFailed(text, hint=diagnose(got_a, exp_a, hints, n=n))


def expect_equal(got, expected, name: str, *, hints: dict | None = None, context: str = ""
                 ) -> None:
    """Exact equality for integers and integer arrays (labels, counts)."""
    got_a, exp_a = np.asarray(got), np.asarray(expected)
    if got_a.shape == exp_a.shape and np.array_equal(got_a, exp_a):
        return
    where = f" {context}" if context else ""
    if got_a.shape != exp_a.shape:
        raise shape_failure(name, got_a.shape, exp_a.shape)
    if got_a.ndim == 0:
        text = f"{name} is wrong{where}: got {got_a}, expected {exp_a}."
    else:
        wrong = np.argwhere(got_a != exp_a)
        first = tuple(int(i) for i in wrong[0])
        text = (f"{name} is wrong{where}: {len(wrong)} of {got_a.size} entries differ; first at "
                f"{_index(first)}: got {got_a[first]}, expected {exp_a[first]}.")
    hint = None
    for message, predicted in (hints or {}).items():
        if predicted is not None and np.array_equal(got_a, np.asarray(predicted)):
            hint = message
            break
    raise CheckFailed(text, hint=hint)


# --------------------------------------------------------------------------- gradients

def _sample_indices(shape, rng, num_checks):
    size = int(np.prod(shape))
    if num_checks is None or num_checks >= size:
        return [np.unravel_index(i, shape) for i in range(size)]
    flat = rng.choice(size, size=num_checks, replace=False)
    return [np.unravel_index(int(i), shape) for i in sorted(flat)]


def numerical_gradient(fn, args: tuple, wrt: int, output, *, upstream=None, indices,
                       h: float = 1e-5, label: str | None = None) -> np.ndarray:
    """Centred differences of the student's own ``fn`` with respect to ``args[wrt]``.

    output: picks the differentiated value out of fn's result, e.g.
    ``lambda out: as_float(out[0], "loss")``. With ``upstream`` (an array shaped like that
    value) the scalar differentiated is ``sum(upstream * value)``, a vector-Jacobian
    product. All evaluations are sent in one batch. Returns the gradient at ``indices``.
    """
    x = args[wrt]
    calls = []
    for ix in indices:
        for step in (h, -h):
            moved = x.copy()
            moved[ix] += step
            calls.append(tuple(moved if i == wrt else a for i, a in enumerate(args)))
    results = call_many(fn, calls, label=label)
    values = []
    for result in results:
        value = output(result)
        if upstream is not None:
            value = float(np.sum(np.asarray(value, dtype=np.float64) * upstream))
        values.append(float(value))
    values = np.array(values).reshape(len(indices), 2)
    return (values[:, 0] - values[:, 1]) / (2 * h)


def check_gradient(
    fn, args: tuple, wrt: int, analytic, name: str, *, output, rng,
    upstream=None, num_checks: int | None = 12, tol: float = 1e-6, h: float = 1e-5,
    hints: dict | None = None, label: str | None = None, n: int | None = None,
) -> None:
    """Compare an analytic gradient with numerical gradients of the student's own ``fn``.

    fn, args: the student's forward function and the arguments it was called with;
    wrt: which argument the gradient is of; analytic: the student's gradient (validated,
    shaped like ``args[wrt]``); output: picks the scalar (or, with ``upstream``, the array)
    to differentiate out of fn's result; num_checks: how many random entries to check
    (None: all); tol: the largest relative error accepted; hints: ``{message: gradient the
    student would have after that mistake}``, either a full array shaped like the gradient
    or a function ``(numerical, take) -> mistaken`` of the numerical gradient at the checked
    entries, where ``take(A)`` picks the same entries out of any array ``A`` shaped like the
    gradient. Example, a forgotten regularization gradient:
    ``lambda num, take: num - 2 * reg * take(W)``. n: the batch size, to name a
    gradient N times off. Fails with the hint's mistake id, else ``wrong-gradient``.
    """
    x = args[wrt]
    analytic = as_array(analytic, name, shape=x.shape)
    indices = _sample_indices(x.shape, rng, num_checks)
    numeric = numerical_gradient(fn, args, wrt, output, upstream=upstream, indices=indices,
                                 h=h, label=label)
    got = np.array([analytic[ix] for ix in indices])
    errors = rel_errors(got, numeric)
    # Tiny gradients are all rounding noise; judge those entries by absolute error.
    ok = (errors <= tol) | (np.abs(got - numeric) <= 1e-8)
    if ok.all():
        return
    order = np.argsort(-errors)[:3]
    rows = "\n".join(
        f"  {name}{_index(indices[i])}: yours {got[i]:.6g}, numerical {numeric[i]:.6g}, "
        f"relative error {errors[i]:.1e}"
        for i in order if not ok[i]
    )
    def take(full):
        full = np.asarray(full, dtype=np.float64)
        return np.array([full[ix] for ix in indices])

    picked_hints = {
        message: (pred(numeric, take) if callable(pred) else take(pred))
        for message, pred in (hints or {}).items() if pred is not None
    }
    hint = diagnose(got, numeric, picked_hints, rtol=1e-4, atol=1e-7, n=n)
    if hint is None and got.size == x.size and x.ndim == 2 and x.shape[0] == x.shape[1]:
        hint = diagnose(analytic, numeric.reshape(x.shape), rtol=1e-4, atol=1e-7, n=n)
    if hint is None and np.all(numeric == 0) and np.any(got != 0):
        hint = Mistake("no-response", MISTAKES["no-response"],
                       f"your forward pass's output does not change at all when {name}'s "
                       "input moves: does it ignore that input (a cached or hard-coded "
                       "result?)")
    raise CheckFailed(
        f"{name} does not match the numerical gradient of your own forward pass at "
        f"{int((~ok).sum())} of {len(indices)} entries checked (tolerance {tol:.0e}). "
        f"Worst entries:\n{rows}",
        hint=hint, mistake=None if hint else "wrong-gradient",
    )


def loss_of(result, name: str = "loss") -> float:
    """``output=`` helper for functions returning ``(loss, grad...)``: the loss as a float."""
    if type(result) in (tuple, list) and len(result) >= 1:
        return as_float(result[0], name)
    return as_float(result, name)


# --------------------------------------------------------------------------- vectorization

PYTHON_LOOP = "python-loop"
CALLS_LOOP_VERSION = "calls-loop-version"


def _own_function(qualname: str) -> str:
    """``"f.<locals>.<listcomp>"`` -> ``"f"``; ``"KNN.predict"`` -> ``"predict"``."""
    return qualname.split(".<locals>")[0].rsplit(".", 1)[-1]


def expect_vectorized(fn, make_args, name: str, *, sizes=(10, 100), label: str | None = None,
                      over: str = "the examples", slack: int | None = None) -> None:
    """Fail unless the Python work of ``fn(*make_args(N))`` stays the same as N grows.

    Counts the line events of the student's own code (:func:`count_steps`, in the student's
    kernel or in the grader's sandbox) at each N in ``sizes``; numpy's work is not counted,
    so whole-array operations cost the same at any N while a Python loop over the data (a
    ``for``, a comprehension, ``np.vectorize``, calling the naive version) adds its body once
    per example. make_args: ``N -> tuple`` of arguments (keep every other size, such as the
    number of classes, fixed: a loop over those is allowed); over: what N counts, for the
    message; slack: growth in lines still accepted (default ``max(8, (N_max - N_min) // 4)``).
    Fails with mistake ``python-loop``, or ``calls-loop-version`` when most of the growth
    happens in another function of the student's that ``fn`` calls.
    """
    label = label or label_of(fn)
    profiles = []
    for n in sizes:
        args = make_args(n)
        profiles.append(step_counts(fn, *(args if type(args) is tuple else (args,)),
                                    label=label))
    totals = [sum(p.values()) for p in profiles]
    growth = totals[-1] - totals[0]
    allowed = max(8, (sizes[-1] - sizes[0]) // 4) if slack is None else slack
    if growth <= allowed:
        return
    ran = f"{name} ran {totals[0]} Python lines for N = {sizes[0]} and {totals[-1]} for N = " \
          f"{sizes[-1]}"
    by_function = {k: v - profiles[0].get(k, 0) for k, v in profiles[-1].items()}
    worst = max(by_function, key=by_function.get)
    callee = _own_function(worst)
    if callee != _own_function(label) and not callee.startswith("<") \
            and by_function[worst] * 2 > growth:
        raise CheckFailed(
            f"{ran}: {by_function[worst]} of the extra lines ran in {worst}, which {name} "
            f"calls, so it still loops over {over} in Python.",
            hint=Mistake(CALLS_LOOP_VERSION, "the vectorized version calls a looping function",
                         f"a vectorized version must not call {worst} (or any function with a "
                         "loop over the data): compute the result with whole-array numpy "
                         "operations"),
        )
    raise CheckFailed(
        f"{ran}: a Python loop over {over}. Vectorized means whole-array numpy operations, "
        "whose number of Python steps does not depend on N.",
        hint=Mistake(PYTHON_LOOP, "a Python loop in code that should be vectorized",
                     "replace the loop (for, a comprehension, np.vectorize, apply_along_axis) "
                     "by operations on whole arrays: broadcasting, fancy indexing such as "
                     "a[np.arange(N), y], np.sum(..., axis=...)"),
    )


# --------------------------------------------------------------------------- stale results

def expect_responds(fn, args: tuple, moved: tuple, name: str, *, output=None,
                    what: str = "its input", label: str | None = None) -> None:
    """Fail unless ``fn(*moved)`` differs from ``fn(*args)``: the output must move when its
    input moves.

    Catches a function that returns a cached result, a value computed once at import time,
    or a hard-coded answer, which a single comparison can only call "wrong" (or, when the
    cached value happens to be right, pass). args, moved: two argument tuples whose correct
    outputs differ (the check's author makes sure of that); output: validates and picks the
    compared value out of the result (default: the whole result as an array, e.g.
    ``loss_of`` for ``(loss, grad)``); what: the input that moved, for the message.
    Fails with mistake ``no-response``.
    """
    label = label or label_of(fn)
    pick = output or (lambda result: as_array(result, name, kind="any"))
    first = np.asarray(pick(call(fn, *args, label=label)))
    second = np.asarray(pick(call(fn, *moved, label=label)))
    if first.shape != second.shape or not np.array_equal(first, second, equal_nan=True):
        return
    shown = fmt(first) if first.size <= 6 else f"the same array of shape {first.shape}"
    raise CheckFailed(
        f"{name} is {shown} for two different inputs: your output does not move when "
        f"{what} moves.",
        hint=Mistake("no-response", MISTAKES["no-response"],
                     "a cached or hard-coded result? Compute it from the arguments of this "
                     "call (no global variables, no values kept from an earlier call)"),
    )
