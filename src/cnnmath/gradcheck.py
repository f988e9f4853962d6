"""Finite-difference gradient checking, in float64.

A backward function returns the vector-Jacobian product: given ``G = grad_output`` of the
shape of ``func(*inputs)``, the gradient of the scalar

    φ(inputs) = Σ_r func(*inputs)[r] · G[r]

with respect to each input. Here φ is differentiated numerically, one element ``k`` of one
input at a time, by central differences

    ∂φ/∂x_k ≈ (φ(x + ε e_k) − φ(x − ε e_k)) / (2ε),

whose error is O(ε²) from truncation plus O(u·|φ|/ε) from rounding (u = 2⁻⁵³ in float64);
ε = 1e-6 balances the two for data of order one. In float32 (u = 2⁻²⁴) the rounding term
alone is about 1e-1, so every check here wants float64 inputs.

:func:`check_gradients` compares an analytic backward with that estimate and also checks
shapes, dtypes, that a zero ``grad_output`` gives zero gradients and that the backward is
deterministic. The caller's arrays are never modified: everything works on copies.

Every element is perturbed in turn, so the cost is ``2 · inputs[i].size`` calls of ``func``
per input: keep test shapes small.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["GradcheckError", "check_gradients", "numerical_jacobian", "numerical_vjp"]

_TINY = np.finfo(np.float64).tiny


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with finite differences, or breaks a backward's contract.

    The message names the input index and, for a value mismatch, the worst element's index
    with the analytic and the numerical value.
    """


def _copies(inputs: Sequence) -> list[np.ndarray]:
    """Private C-ordered copies of the inputs, so perturbing them never touches the caller's."""
    return [np.array(a, copy=True, order="C") for a in inputs]


def _indices(wrt, n_inputs: int, *, func: str, one: bool = False) -> list[int]:
    """``wrt`` as a list of input indices: None means all, an int means that one; with
    ``one`` only a single int is accepted."""
    if wrt is None and not one:
        return list(range(n_inputs))

    def is_index(value) -> bool:
        return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))

    chosen = [wrt] if is_index(wrt) else None
    if chosen is None and not one and not isinstance(wrt, (str, bytes)):
        try:
            chosen = list(wrt)
        except TypeError:  # not iterable
            chosen = None
        if chosen is not None and not all(is_index(i) for i in chosen):
            chosen = None
    if chosen is None:
        expected = "one input index (an int)" if one else "an input index or a list of them"
        raise TypeError(f"{func}: wrt: expected {expected}, got {wrt!r}")
    result = []
    for index in chosen:
        if not -n_inputs <= index < n_inputs:
            raise IndexError(f"{func}: wrt: index {index} out of range for {n_inputs} inputs")
        result.append(int(index) % n_inputs)
    return result


def _central_difference(func, args, index, k, eps, read):
    """``(read(f(x + ε e_k)) − read(f(x − ε e_k))) / step`` for element ``k`` of ``args[index]``.

    ``step`` is the distance between the two points actually evaluated (``2ε`` up to the
    rounding of ``x_k ± ε``), which removes that rounding from the quotient. The element is
    restored afterwards.
    """
    x = args[index]
    original = x.flat[k]
    x.flat[k] = original + eps
    upper = float(x.flat[k])
    plus = read(func(*args))
    x.flat[k] = original - eps
    lower = float(x.flat[k])
    minus = read(func(*args))
    x.flat[k] = original
    step = upper - lower
    if step == 0:
        raise ValueError(
            f"eps={eps} is below the resolution of input {index} (dtype {x.dtype}) at element "
            f"{np.unravel_index(k, x.shape)}; use float64 inputs or a larger eps"
        )
    return (plus - minus) / step


def numerical_vjp(
    func: Callable[..., np.ndarray],
    inputs: Sequence[np.ndarray],
    grad_output: np.ndarray,
    eps: float = 1e-6,
    *,
    wrt: int | Sequence[int] | None = None,
) -> list[np.ndarray]:
    """Gradient of ``φ = Σ func(*inputs) · grad_output`` with respect to each input.

    Element by element, by central differences:
    ``∂φ/∂x_k ≈ (φ(x + ε e_k) − φ(x − ε e_k)) / (2ε)``.

    Parameters
    ----------
    func : callable taking the inputs positionally and returning one array
    inputs : sequence of arrays (float64 for meaningful results); they are copied, never
        modified
    grad_output : array of the shape of ``func(*inputs)``
    eps : the step ε
    wrt : optional, which inputs to differentiate (an index or a sequence of indices);
        default all. Use it to skip non-differentiable inputs such as integer labels.

    Returns
    -------
    list of float64 arrays, one per differentiated input, each of that input's shape.
    """
    args = _copies(inputs)
    indices = _indices(wrt, len(args), func="numerical_vjp")
    weights = np.asarray(grad_output, dtype=np.float64)
    out_shape = np.shape(func(*args))
    if out_shape != weights.shape:
        raise ValueError(
            f"grad_output must have the shape of func's output {out_shape}, got {weights.shape}"
        )

    def phi(out):
        return float(np.sum(np.asarray(out, dtype=np.float64) * weights))

    gradients = []
    for index in indices:
        grad = np.zeros(args[index].shape, dtype=np.float64)
        for k in range(grad.size):
            grad.flat[k] = _central_difference(func, args, index, k, eps, phi)
        gradients.append(grad)
    return gradients


def numerical_jacobian(
    func: Callable[..., np.ndarray],
    inputs: Sequence[np.ndarray],
    wrt: int = 0,
    eps: float = 1e-6,
) -> np.ndarray:
    """The Jacobian ``J[r, k] = ∂ func(*inputs).flat[r] / ∂ inputs[wrt].flat[k]``.

    Column ``k`` by central differences: ``(f(x + ε e_k) − f(x − ε e_k)) / (2ε)``, flattened.
    Numerator layout: rows follow the output, columns the input.

    Returns
    -------
    float64 array of shape ``(func(*inputs).size, inputs[wrt].size)``.
    """
    args = _copies(inputs)
    (index,) = _indices(wrt, len(args), func="numerical_jacobian", one=True)
    n_out = np.size(func(*args))

    def flat(out):  # a copy: an output that is a view of the input moves with x_k
        return np.array(out, dtype=np.float64).reshape(-1)

    jacobian = np.zeros((n_out, args[index].size), dtype=np.float64)
    for k in range(args[index].size):
        jacobian[:, k] = _central_difference(func, args, index, k, eps, flat)
    return jacobian


def _as_gradient_list(result, indices: list[int], n_inputs: int) -> list[np.ndarray]:
    """Backward's result as one array per checked input.

    A single array counts as a one-element tuple. A tuple with one entry per input (rather
    than per checked input) is narrowed to the checked ones.
    """
    grads = list(result) if isinstance(result, (tuple, list)) else [result]
    if len(grads) == len(indices):
        return grads
    if len(grads) == n_inputs:
        return [grads[i] for i in indices]
    raise GradcheckError(
        f"backward returned {len(grads)} gradient(s); expected {len(indices)} "
        f"(one per checked input {indices}) or {n_inputs} (one per input)"
    )


def _worst(analytic: np.ndarray, numerical: np.ndarray):
    """Relative error ``max|a − n| / max(max|n|, tiny)`` and the index of the worst element."""
    diff = np.abs(analytic - numerical)
    if diff.size == 0:
        return 0.0, ()
    worst_flat = int(np.argmax(diff))  # the first NaN, if any
    scale = max(float(np.max(np.abs(numerical))), _TINY)
    error = float(diff.flat[worst_flat]) / scale
    return error, np.unravel_index(worst_flat, diff.shape)


def check_gradients(
    func: Callable[..., np.ndarray],
    backward: Callable[..., np.ndarray | Sequence[np.ndarray]],
    inputs: Sequence[np.ndarray],
    *,
    eps: float = 1e-6,
    rtol: float = 1e-6,
    seed: int = 0,
    wrt: int | Sequence[int] | None = None,
) -> list[float]:
    """Check ``backward`` against finite differences of ``func``; raise GradcheckError if wrong.

    With a random ``G`` (standard normal from ``np.random.default_rng(seed)``, of the shape
    and floating dtype of ``func(*inputs)``), ``backward(G, *inputs)`` must return the
    gradient of ``φ = Σ func(*inputs) · G`` for each checked input: one array, or a tuple
    with one array per input in ``wrt`` (default: every input) or per input. Checked:

    1. each gradient has its input's shape and dtype;
    2. ``max|a − n| / max(max|n|, tiny) ≤ rtol``, with ``n`` from :func:`numerical_vjp`;
    3. a zero ``G`` gives all-zero gradients;
    4. calling backward twice with the same ``G`` gives identical results;
    5. neither ``func`` nor ``backward`` modified the inputs.

    A ``UserWarning`` is issued for any input that is not float64 (integer inputs left out of
    ``wrt``, such as labels, excepted): finite differences in float32 are too coarse.

    Returns
    -------
    list of float: the relative error of each checked input, in ``wrt`` order.

    Raises
    ------
    GradcheckError
        naming the input index and, for a value mismatch, the worst element's index with the
        analytic and numerical values.
    """
    originals = [np.asarray(a) for a in inputs]
    indices = _indices(wrt, len(originals), func="check_gradients")
    for i, a in enumerate(originals):
        exempt = i not in indices and not np.issubdtype(a.dtype, np.inexact)
        if a.dtype != np.float64 and not exempt:
            warnings.warn(
                f"check_gradients: input {i} has dtype {a.dtype}; finite differences need "
                "float64 to be accurate (rounding error ~ u/eps)",
                UserWarning,
                stacklevel=2,
            )

    args = _copies(originals)
    out = np.asarray(func(*args))
    out_dtype = out.dtype if np.issubdtype(out.dtype, np.floating) else np.dtype(np.float64)
    grad_output = np.random.default_rng(seed).standard_normal(out.shape).astype(out_dtype)

    analytic = _as_gradient_list(backward(grad_output.copy(), *args), indices, len(args))
    for i, grad in zip(indices, analytic, strict=True):
        grad = np.asarray(grad)
        if grad.shape != originals[i].shape or grad.dtype != originals[i].dtype:
            raise GradcheckError(
                f"input {i}: gradient has shape {grad.shape} and dtype {grad.dtype}; "
                f"expected the input's shape {originals[i].shape} and dtype {originals[i].dtype}"
            )
    for i, (arg, original) in enumerate(zip(args, originals, strict=True)):
        if not np.array_equal(arg, original, equal_nan=np.issubdtype(arg.dtype, np.inexact)):
            raise GradcheckError(f"input {i}: func or backward modified it in place")

    numerical = numerical_vjp(func, originals, grad_output, eps, wrt=indices)
    errors = []
    for i, grad, num in zip(indices, analytic, numerical, strict=True):
        error, where = _worst(np.asarray(grad, dtype=np.float64), num)
        if not error <= rtol:  # also catches NaN
            raise GradcheckError(
                f"input {i}: analytic gradient differs from finite differences: relative error "
                f"{error:.3e} > rtol {rtol:.1e}; worst element {tuple(map(int, where))}: "
                f"analytic {float(np.asarray(grad)[where])!r}, numerical {float(num[where])!r}"
            )
        errors.append(error)

    zero = _as_gradient_list(backward(np.zeros_like(grad_output), *args), indices, len(args))
    for i, grad in zip(indices, zero, strict=True):
        grad = np.asarray(grad)
        if np.any(grad != 0):
            where = np.unravel_index(int(np.argmax(grad != 0)), grad.shape)
            raise GradcheckError(
                f"input {i}: a zero grad_output gave a nonzero gradient, e.g. element "
                f"{tuple(map(int, where))} = {float(grad[where])!r}"
            )

    again = _as_gradient_list(backward(grad_output.copy(), *args), indices, len(args))
    for i, first, second in zip(indices, analytic, again, strict=True):
        if not np.array_equal(np.asarray(first), np.asarray(second), equal_nan=True):
            raise GradcheckError(f"input {i}: backward is not deterministic (two calls differ)")
    return errors
