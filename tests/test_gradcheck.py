"""Numerical gradients: correct on known functions, never leave x perturbed, refuse float32."""

import numpy as np
import pytest

from course_lib.gradcheck import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    grad_check_sparse,
    rel_error,
)


def test_numerical_gradient_of_a_quadratic_matches_the_analytic_one():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 4))
    x = rng.standard_normal(4)
    grad = eval_numerical_gradient(lambda v: v @ A @ v, x)
    assert rel_error(grad, (A + A.T) @ x) < 1e-8


def test_vector_jacobian_product_of_a_matmul():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((3, 5))
    x = rng.standard_normal((2, 3))
    dout = rng.standard_normal((2, 5))
    dx = eval_numerical_gradient_array(lambda v: v @ W, x, dout)
    assert rel_error(dx, dout @ W.T) < 1e-8


def test_x_is_restored_exactly_even_when_f_raises():
    x = np.array([0.1, 0.2, 0.3])
    original = x.copy()
    calls = []

    def f(v):
        calls.append(v.copy())
        if len(calls) == 2:
            raise RuntimeError("boom")
        return float(v.sum())

    with pytest.raises(RuntimeError):
        eval_numerical_gradient(f, x)
    assert np.array_equal(x, original)  # bit-for-bit, not approximately
    eval_numerical_gradient(lambda v: float(np.sum(v**3)), x)
    assert np.array_equal(x, original)


def test_float32_is_refused_with_the_reason():
    with pytest.raises(TypeError, match="float64.*significant digits"):
        eval_numerical_gradient(lambda v: v.sum(), np.ones(3, dtype=np.float32))
    with pytest.raises(TypeError, match="float64"):
        grad_check_sparse(lambda v: v.sum(), np.ones(3, dtype=np.float32), np.ones(3))


def test_rel_error_is_zero_not_nan_when_both_are_zero():
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error(0.0, 0.0) == 0.0
    assert rel_error(1.0, -1.0) == 1.0


def test_grad_check_sparse_returns_what_it_found(capsys):
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    good = grad_check_sparse(lambda v: float(np.sum(v**2)), x, 2 * x, num_checks=5, seed=0)
    assert len(good) == 5 and max(r["rel_error"] for r in good) < 1e-8
    assert "relative error" in capsys.readouterr().out
    bad = grad_check_sparse(lambda v: float(np.sum(v**2)), x, x, num_checks=5, seed=0,
                            verbose=False)
    assert all(abs(r["rel_error"] - 1 / 3) < 1e-6 for r in bad if r["numerical"] != 0)
    with pytest.raises(ValueError, match="shape of its variable"):
        grad_check_sparse(lambda v: 0.0, x, x.T, num_checks=1)
