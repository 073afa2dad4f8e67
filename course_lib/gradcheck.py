"""Numerical gradients and relative errors: how we check an analytic gradient.

The recipe (CS231n's): centred differences ``(f(x + h) - f(x - h)) / 2h`` with ``h = 1e-5``
in float64, compared entry by entry with the relative error
``|a - n| / max(|a| + |n|, 1e-8)``. Read it as: above 1e-2 the gradient is wrong, around
1e-4 it is fine near a kink (max, ReLU, hinge), 1e-7 or less it is right.
"""

from __future__ import annotations

import numpy as np

TINY = 1e-8  # denominators never go below this, so two zeros compare as 0, not NaN


def _require_float64(x, name: str = "x") -> None:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of float64, got {type(x).__name__}")
    if x.dtype != np.float64:
        raise TypeError(
            f"{name} has dtype {x.dtype}; gradient checks need float64. With float32's ~7 "
            "significant digits, f(x + h) - f(x - h) for h = 1e-5 keeps only 1 or 2 correct "
            "digits, so even a correct gradient looks wrong. Use x.astype(np.float64)."
        )


def rel_error(a, b) -> float:
    """Largest entry-wise relative error ``|a - b| / max(|a| + |b|, 1e-8)``; 0 when both are 0."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(TINY, np.abs(a) + np.abs(b)), initial=0.0))


def _centred_difference(f, x: np.ndarray, ix: tuple, h: float) -> float:
    """(f(x + h e_ix) - f(x - h e_ix)) / 2h, with x[ix] restored exactly even if f raises."""
    old = x[ix]
    try:
        x[ix] = old + h
        fxph = float(f(x))
        x[ix] = old - h
        fxmh = float(f(x))
    finally:
        x[ix] = old
    return (fxph - fxmh) / (2 * h)


def eval_numerical_gradient(f, x: np.ndarray, verbose: bool = False, h: float = 1e-5) -> np.ndarray:
    """Centred-difference gradient of a scalar function ``f`` at ``x``.

    f: called as ``f(x)`` and returning a number; x: any-shape float64 array, perturbed in
    place one entry at a time and restored exactly afterwards, even if ``f`` raises.
    Returns an array shaped like ``x``.
    """
    _require_float64(x)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        grad[ix] = _centred_difference(f, x, ix, h)
        if verbose:
            print(ix, grad[ix])
        it.iternext()
    return grad


def eval_numerical_gradient_array(f, x: np.ndarray, df: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Numerical vector-Jacobian product: the gradient of ``sum(f(x) * df)`` with respect to x.

    f: array -> array (e.g. a layer's forward pass); x: float64 array, restored exactly
    afterwards; df: upstream gradient, shaped like ``f(x)``. Returns an array shaped like x.
    """
    _require_float64(x)
    df = np.asarray(df, dtype=np.float64)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        try:
            x[ix] = old + h
            pos = np.array(f(x), dtype=np.float64, copy=True)
            x[ix] = old - h
            neg = np.array(f(x), dtype=np.float64, copy=True)
        finally:
            x[ix] = old
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


def grad_check_sparse(
    f, x: np.ndarray, analytic_grad: np.ndarray, num_checks: int = 10, h: float = 1e-5,
    seed: int | None = None, verbose: bool = True,
) -> list[dict]:
    """Compare ``analytic_grad`` with centred differences at ``num_checks`` random entries.

    Returns one dict per entry checked: ``{"index", "numerical", "analytic", "rel_error"}``
    (and prints them, like CS231n's version, unless ``verbose=False``).
    """
    _require_float64(x)
    analytic_grad = np.asarray(analytic_grad)
    if analytic_grad.shape != x.shape:
        raise ValueError(
            f"analytic_grad has shape {analytic_grad.shape} but x has shape {x.shape}: "
            "a gradient always has the shape of its variable"
        )
    rng = np.random.default_rng(seed)
    results = []
    for _ in range(num_checks):
        ix = tuple(int(rng.integers(n)) for n in x.shape)
        numerical = _centred_difference(f, x, ix, h)
        analytic = float(analytic_grad[ix])
        err = rel_error(numerical, analytic)
        results.append(
            {"index": ix, "numerical": numerical, "analytic": analytic, "rel_error": err}
        )
        if verbose:
            print(f"numerical: {numerical:f} analytic: {analytic:f}, relative error: {err:e}")
    return results
