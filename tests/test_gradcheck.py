"""The finite-difference checker, on functions whose derivatives are known in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath.gradcheck import (
    GradcheckError,
    check_gradients,
    numerical_jacobian,
    numerical_vjp,
)

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4))
A = RNG.standard_normal((5, 4))
V = RNG.standard_normal(4)


def cube(x):
    return x**3


def cube_backward(grad_output, x):
    return 3 * x**2 * grad_output


def matvec(a, v):
    return a @ v


def matvec_backward(grad_output, a, v):
    return np.outer(grad_output, v), a.T @ grad_output


def rel_err(got, want) -> float:
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


# ---------------------------------------------------------------------------------------
# numerical_vjp and numerical_jacobian
# ---------------------------------------------------------------------------------------


def test_numerical_vjp_of_cube():
    grad_output = RNG.standard_normal(X.shape)
    (got,) = numerical_vjp(cube, [X], grad_output)
    assert got.shape == X.shape and got.dtype == np.float64
    assert rel_err(got, 3 * X**2 * grad_output) <= 1e-8


def test_numerical_vjp_of_matvec_for_both_inputs():
    grad_output = RNG.standard_normal(5)
    got_a, got_v = numerical_vjp(matvec, [A, V], grad_output)
    assert rel_err(got_a, np.outer(grad_output, V)) <= 1e-8
    assert rel_err(got_v, A.T @ grad_output) <= 1e-8


def test_numerical_vjp_wrt_selects_inputs():
    grad_output = RNG.standard_normal(5)
    (got_v,) = numerical_vjp(matvec, [A, V], grad_output, wrt=[1])
    assert rel_err(got_v, A.T @ grad_output) <= 1e-8


def test_numerical_vjp_of_a_scalar_function():
    (got,) = numerical_vjp(lambda x: np.sum(np.sin(x)), [X], np.float64(2.0))
    assert rel_err(got, 2 * np.cos(X)) <= 1e-8


def test_numerical_vjp_rejects_a_mismatched_grad_output():
    with pytest.raises(ValueError, match="shape"):
        numerical_vjp(cube, [X], np.ones(3))


def test_numerical_jacobian_of_matvec():
    np.testing.assert_allclose(numerical_jacobian(matvec, [A, V], wrt=1), A, rtol=1e-8)
    jac_a = numerical_jacobian(matvec, [A, V], wrt=0)
    assert jac_a.shape == (5, 20)
    # ∂(A v)_r / ∂A[r', k] = δ(r, r') v[k]
    np.testing.assert_allclose(jac_a, np.kron(np.eye(5), V), rtol=1e-8, atol=1e-9)


def test_numerical_jacobian_of_cube_is_diagonal():
    jac = numerical_jacobian(cube, [X])
    assert jac.shape == (12, 12)
    np.testing.assert_allclose(jac, np.diag(3 * X.ravel() ** 2), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize(
    "func",
    [lambda a: a, lambda a: a.reshape(-1), lambda a: a[1:]],
    ids=["identity", "reshape", "slice"],
)
def test_numerical_jacobian_of_an_output_that_views_its_input(func):
    # the output read at x + ε e_k must not move when x_k is set to x − ε e_k
    x = np.random.default_rng(0).standard_normal((3, 4))
    J = numerical_jacobian(func, [x])
    expected = np.eye(12)[4:] if func(x).shape == (2, 4) else np.eye(12)
    np.testing.assert_allclose(J, expected, atol=1e-9)


def test_inputs_are_not_modified():
    x, a, v = X.copy(), A.copy(), V.copy()
    numerical_vjp(matvec, [a, v], np.ones(5))
    numerical_jacobian(cube, [x])
    check_gradients(matvec, matvec_backward, [a, v])
    np.testing.assert_array_equal(x, X)
    np.testing.assert_array_equal(a, A)
    np.testing.assert_array_equal(v, V)


def test_too_small_eps_is_reported():
    with pytest.raises(ValueError, match="resolution"):
        numerical_vjp(cube, [np.full(2, 1e12)], np.ones(2), eps=1e-6)


# ---------------------------------------------------------------------------------------
# check_gradients: passes when right ...
# ---------------------------------------------------------------------------------------


def test_correct_backward_passes():
    errors = check_gradients(cube, cube_backward, [X])
    assert len(errors) == 1 and errors[0] <= 1e-8
    errors = check_gradients(matvec, matvec_backward, [A, V], seed=3)
    assert len(errors) == 2 and max(errors) <= 1e-8


def test_wrt_one_input_accepts_one_array_or_all_gradients():
    errors = check_gradients(matvec, lambda g, a, v: a.T @ g, [A, V], wrt=1)
    assert len(errors) == 1
    errors = check_gradients(matvec, matvec_backward, [A, V], wrt=[1])
    assert len(errors) == 1


def test_integer_inputs_outside_wrt_do_not_warn(recwarn):
    labels = np.array([2, 0, 1])

    def pick(x, labels):
        return x[np.arange(3), labels]

    def pick_backward(grad_output, x, labels):
        grad = np.zeros_like(x)
        grad[np.arange(3), labels] = grad_output
        return grad

    check_gradients(pick, pick_backward, [X, labels], wrt=0)
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


# ---------------------------------------------------------------------------------------
# ... and raises when wrong
# ---------------------------------------------------------------------------------------


def test_wrong_gradient_names_the_input_and_element():
    def wrong_v(grad_output, a, v):
        grad_a, grad_v = matvec_backward(grad_output, a, v)
        grad_v = grad_v.copy()
        grad_v[2] += 0.5
        return grad_a, grad_v

    with pytest.raises(GradcheckError, match=r"input 1: .*worst element \(2,\): analytic"):
        check_gradients(matvec, wrong_v, [A, V])


def test_transposed_gradient_is_caught():
    # forgetting the transpose: same shape here only because A is square
    a = RNG.standard_normal((4, 4))
    with pytest.raises(GradcheckError, match="input 1"):
        check_gradients(matvec, lambda g, a, v: (np.outer(g, v), a @ g), [a, V])


def test_gradcheck_error_is_an_assertion_error():
    assert issubclass(GradcheckError, AssertionError)


def test_wrong_shape_is_caught():
    with pytest.raises(GradcheckError, match=r"input 0: gradient has shape \(12,\)"):
        check_gradients(cube, lambda g, x: cube_backward(g, x).ravel(), [X])


def test_wrong_dtype_is_caught():
    with pytest.raises(GradcheckError, match="dtype float32"):
        check_gradients(cube, lambda g, x: cube_backward(g, x).astype(np.float32), [X])


def test_wrong_number_of_gradients_is_caught():
    with pytest.raises(GradcheckError, match="returned 1 gradient"):
        check_gradients(matvec, lambda g, a, v: a.T @ g, [A, V])


def test_nan_gradient_is_caught():
    with pytest.raises(GradcheckError, match="input 0"):
        check_gradients(cube, lambda g, x: cube_backward(g, x) * np.nan, [X])


def test_nonzero_gradient_for_zero_grad_output_is_caught():
    def offset_when_zero(grad_output, x):
        return cube_backward(grad_output, x) + (0.0 if grad_output.any() else 1.0)

    with pytest.raises(GradcheckError, match="zero grad_output"):
        check_gradients(cube, offset_when_zero, [X])


def test_nondeterministic_backward_is_caught():
    calls = []

    def drifting(grad_output, x):
        calls.append(None)
        return cube_backward(grad_output, x) * (1 + 1e-12 * len(calls))

    with pytest.raises(GradcheckError, match="not deterministic"):
        check_gradients(cube, drifting, [X])


def test_backward_that_modifies_its_input_is_caught():
    def mutating(grad_output, x):
        grad = cube_backward(grad_output, x)
        x *= 2
        return grad

    with pytest.raises(GradcheckError, match="input 0: .*modified"):
        check_gradients(cube, mutating, [X.copy()])


def test_float32_warns():
    x32 = X.astype(np.float32)

    def cube_backward32(grad_output, x):
        assert grad_output.dtype == np.float32  # grad_output takes the output's dtype
        return cube_backward(grad_output, x)

    with pytest.warns(UserWarning, match="input 0 has dtype float32"):
        check_gradients(cube, cube_backward32, [x32], eps=1e-2, rtol=1e-2)


@pytest.mark.parametrize("wrt", [(0, 1), True, None, 1.0])
def test_jacobian_wrt_is_one_index(wrt):
    """numerical_jacobian differentiates one input: a pair failed with "too many values to
    unpack" and True was taken as input 1."""
    with pytest.raises(TypeError, match=r"numerical_jacobian: wrt: expected one input index"):
        numerical_jacobian(matvec, [A, V], wrt=wrt)


@pytest.mark.parametrize("wrt", [[True], "1", [0.5], 2.0])
def test_vjp_wrt_must_be_indices(wrt):
    with pytest.raises(TypeError, match=r"numerical_vjp: wrt: expected an input index"):
        numerical_vjp(matvec, [A, V], np.ones(A.shape[0]), wrt=wrt)
