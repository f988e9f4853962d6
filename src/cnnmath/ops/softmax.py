"""softmax and log_softmax along one axis, each beside its backward.

For a slice z = (z_1, …, z_K) along ``dim``, with m = max_j z_j:

    log_softmax(z)_k = z_k − m − log Σ_j exp(z_j − m),      softmax(z)_k = exp(log_softmax(z)_k)

The shift by m is the log-sum-exp trick: no exp sees a positive argument, so logits of any
finite size work (softmax([1e4, 1e4]) is [0.5, 0.5], not inf/inf). Both are evaluated in
float64 and rounded once to the input's dtype. Backward, with g = ∂ℓ/∂y and y the forward's
output:

    softmax:      ∂ℓ/∂z = y ⊙ (g − Σ_k g_k y_k)          (the Jacobian diag(y) − y yᵀ applied to g)
    log_softmax:  ∂ℓ/∂z = g − softmax(z) · Σ_k g_k

Non-finite values are those of PyTorch: a slice holding NaN is NaN throughout; a slice holding
+inf is NaN throughout (inf − inf); −inf is an entry of probability 0 (log-probability −inf)
unless the whole slice is −inf, which is NaN (0/0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import check_float_array, check_same_dtype

__all__ = ["log_softmax", "log_softmax_backward", "softmax", "softmax_backward"]


def _dim(dim: Any, ndim: int, *, func: str, name: str = "dim") -> int:
    """``dim`` as a non-negative axis of an ``ndim``-D array (negative counts from the end)."""
    if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{func}: {name}: expected an int, got {dim!r}")
    if not -ndim <= dim < ndim:
        raise ValueError(f"{func}: {name}: expected -{ndim} <= {name} < {ndim}, got {dim}")
    return int(dim) % ndim


def _input(x: Any, dim: Any, *, func: str, name: str = "x") -> tuple[np.ndarray, int]:
    check_float_array(name, x, func=func)
    if x.ndim == 0:
        raise ValueError(f"{func}: {name}: expected at least 1 axis, got a 0-d array")
    return x, _dim(dim, x.ndim, func=func)


def log_softmax64(z: np.ndarray, axis: int) -> np.ndarray:
    """log softmax of ``z`` along ``axis`` in float64 (unchecked; for this package's callers).

    A slice whose max is −inf (all −inf) is shifted by 0 and gives NaN (0/0); a slice
    holding +inf or NaN gives NaN.
    """
    z = z.astype(np.float64, copy=False)
    with np.errstate(invalid="ignore", over="ignore", under="ignore", divide="ignore"):
        m = np.max(z, axis=axis, keepdims=True)
        shifted = z - np.where(np.isneginf(m), 0.0, m)
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _round(y: np.ndarray, like: np.ndarray) -> np.ndarray:
    with np.errstate(under="ignore"):
        return y.astype(like.dtype, copy=False)


def softmax(x: np.ndarray, dim: int) -> np.ndarray:
    """softmax(x)_k = exp(x_k − m) / Σ_j exp(x_j − m) along axis ``dim``, m the slice's max;
    as ``torch.nn.functional.softmax(x, dim)``.

    x: float32 or float64, any shape with at least one axis; returns x's shape and dtype,
    each slice along ``dim`` non-negative and summing to 1.

    >>> import numpy as np
    >>> softmax(np.array([1e4, 1e4]), dim=0).tolist()
    [0.5, 0.5]
    """
    x, axis = _input(x, dim, func="softmax")
    with np.errstate(under="ignore"):
        return _round(np.exp(log_softmax64(x, axis)), x)


def softmax_backward(
    grad_output: np.ndarray, x: np.ndarray, dim: int, *, output: np.ndarray | None = None
) -> np.ndarray:
    """∂ℓ/∂x = y ⊙ (g − Σ_k g_k y_k) along ``dim``, y = softmax(x, dim), g = grad_output.

    grad_output, x: one shape and dtype. ``output``: the forward's y, when the caller kept it
    (saves recomputing it; as PyTorch's backward, which reads only y). Returns x's shape and
    dtype.
    """
    func = "softmax_backward"
    x, axis = _input(x, dim, func=func)
    _same(func, grad_output, x)
    if output is None:
        with np.errstate(under="ignore"):
            y = np.exp(log_softmax64(x, axis))
    else:
        _same(func, output, x, name="output")
        y = output.astype(np.float64, copy=False)
    g = grad_output.astype(np.float64, copy=False)
    with np.errstate(under="ignore", invalid="ignore", over="ignore"):
        return _round(y * (g - np.sum(g * y, axis=axis, keepdims=True)), x)


def log_softmax(x: np.ndarray, dim: int) -> np.ndarray:
    """log_softmax(x)_k = x_k − m − log Σ_j exp(x_j − m) along axis ``dim``, m the slice's
    max; as ``torch.nn.functional.log_softmax(x, dim)``.

    x: float32 or float64, any shape with at least one axis; returns x's shape and dtype.

    >>> import numpy as np
    >>> log_softmax(np.array([0.0, 0.0]), dim=-1).tolist() == [-np.log(2)] * 2
    True
    """
    x, axis = _input(x, dim, func="log_softmax")
    return _round(log_softmax64(x, axis), x)


def log_softmax_backward(
    grad_output: np.ndarray, x: np.ndarray, dim: int, *, output: np.ndarray | None = None
) -> np.ndarray:
    """∂ℓ/∂x = g − softmax(x) · Σ_k g_k along ``dim``, g = grad_output.

    grad_output, x: one shape and dtype; ``output``: the forward's log_softmax(x), when kept
    (softmax(x) = exp(output)). Returns x's shape and dtype.
    """
    func = "log_softmax_backward"
    x, axis = _input(x, dim, func=func)
    _same(func, grad_output, x)
    if output is None:
        log_y = log_softmax64(x, axis)
    else:
        _same(func, output, x, name="output")
        log_y = output.astype(np.float64, copy=False)
    g = grad_output.astype(np.float64, copy=False)
    with np.errstate(under="ignore", invalid="ignore", over="ignore"):
        return _round(g - np.exp(log_y) * np.sum(g, axis=axis, keepdims=True), x)


def _same(func: str, a: Any, x: np.ndarray, *, name: str = "grad_output") -> None:
    check_float_array(name, a, func=func)
    check_same_dtype(func, **{name: a, "x": x})
    if a.shape != x.shape:
        raise ValueError(f"{func}: {name}: expected the shape of x {x.shape}, got {a.shape}")
