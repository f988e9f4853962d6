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

On all the op's threads: x is viewed as (outer, K, inner) with K the axis, and cut into blocks
of whole slices (or, for long slices across a long trailing extent, of that extent), fixed by
the shape; no sum crosses a block, so the result is the same bit for bit at any thread count.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .._checks import check_float_array, check_same_dtype
from . import _threads

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


#: Elements per block of slices (whole slices along the axis, or, for a slice longer than
#: this across a long trailing extent, parts of that extent); a smaller x is one block.
_BLOCK = 1 << 16


def along(
    kernel: Callable[..., np.ndarray], arrays: list[np.ndarray], axis: int, dtype: Any
) -> np.ndarray:
    """``kernel(*views)`` for the arrays (one shape) viewed as (outer, K, inner) with K the
    axis, evaluated on blocks of whole slices along it on the op's threads; the kernel gets
    (b, K, c) views, reduces along their axis 1, sets its own NumPy error state (it is per
    thread) and returns that block's result, stored in a new array of ``dtype``.

    The blocks depend on the shape only, and no reduction crosses them: the result is the
    same bit for bit at any thread count.
    """
    shape = arrays[0].shape
    outer, K = math.prod(shape[:axis]), shape[axis]
    inner = math.prod(shape[axis + 1 :])
    views = [a.reshape(outer, K, inner) for a in arrays]
    out = np.empty((outer, K, inner), dtype=dtype)
    if inner == 1 or K * inner <= _BLOCK:
        tasks = [
            (o0, o1, 0, inner) for o0, o1 in _threads.spans(outer, _BLOCK // max(1, K * inner))
        ]
    else:  # long slices across a long trailing extent: cut that extent too
        width = _threads.spans(inner, _BLOCK // max(1, K))
        tasks = [(o, o + 1, i0, i1) for o in range(outer) for i0, i1 in width]

    def body(t0: int, t1: int) -> None:
        for o0, o1, i0, i1 in tasks[t0:t1]:
            out[o0:o1, :, i0:i1] = kernel(*(v[o0:o1, :, i0:i1] for v in views))

    _threads.parallel(body, [(k, k + 1) for k in range(len(tasks))])
    return out.reshape(shape)


def _log_softmax_kernel(z: np.ndarray) -> np.ndarray:
    """log softmax of a (b, K, c) block along axis 1, float64."""
    z = z.astype(np.float64, copy=False)
    with np.errstate(invalid="ignore", over="ignore", under="ignore", divide="ignore"):
        m = np.max(z, axis=1, keepdims=True)
        shifted = z - np.where(np.isneginf(m), 0.0, m)
        return shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))


@_threads.op
def log_softmax64(z: np.ndarray, axis: int) -> np.ndarray:
    """log softmax of ``z`` along ``axis`` in float64 (unchecked; for this package's callers),
    on the op's threads.

    A slice whose max is −inf (all −inf) is shifted by 0 and gives NaN (0/0); a slice
    holding +inf or NaN gives NaN.
    """
    if z.size == 0:
        return np.empty(z.shape)
    return along(_log_softmax_kernel, [z], axis % z.ndim, np.float64)


def _round(y: np.ndarray, like: np.ndarray) -> np.ndarray:
    with np.errstate(under="ignore"):
        return y.astype(like.dtype, copy=False)


@_threads.op
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
    if x.size == 0:
        return x.copy()

    def kernel(v: np.ndarray) -> np.ndarray:
        with np.errstate(under="ignore"):
            return _round(np.exp(_log_softmax_kernel(v)), v)

    return along(kernel, [x], axis, x.dtype)


@_threads.op
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
    if output is not None:
        _same(func, output, x, name="output")
    if x.size == 0:
        return x.copy()

    def kernel(g: np.ndarray, v: np.ndarray) -> np.ndarray:
        with np.errstate(under="ignore", invalid="ignore", over="ignore"):
            if output is None:
                y = np.exp(_log_softmax_kernel(v))
            else:
                y = v.astype(np.float64, copy=False)
            g = g.astype(np.float64, copy=False)
            return _round(y * (g - np.sum(g * y, axis=1, keepdims=True)), v)

    return along(kernel, [grad_output, x if output is None else output], axis, x.dtype)


@_threads.op
def log_softmax(x: np.ndarray, dim: int) -> np.ndarray:
    """log_softmax(x)_k = x_k − m − log Σ_j exp(x_j − m) along axis ``dim``, m the slice's
    max; as ``torch.nn.functional.log_softmax(x, dim)``.

    x: float32 or float64, any shape with at least one axis; returns x's shape and dtype.

    >>> import numpy as np
    >>> log_softmax(np.array([0.0, 0.0]), dim=-1).tolist() == [-np.log(2)] * 2
    True
    """
    x, axis = _input(x, dim, func="log_softmax")
    if x.size == 0:
        return x.copy()
    return along(lambda v: _round(_log_softmax_kernel(v), v), [x], axis, x.dtype)


@_threads.op
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
    if output is not None:
        _same(func, output, x, name="output")
    if x.size == 0:
        return x.copy()

    def kernel(g: np.ndarray, v: np.ndarray) -> np.ndarray:
        log_y = _log_softmax_kernel(v) if output is None else v.astype(np.float64, copy=False)
        g = g.astype(np.float64, copy=False)
        with np.errstate(under="ignore", invalid="ignore", over="ignore"):
            return _round(g - np.exp(log_y) * np.sum(g, axis=1, keepdims=True), v)

    return along(kernel, [grad_output, x if output is None else output], axis, x.dtype)


def _same(func: str, a: Any, x: np.ndarray, *, name: str = "grad_output") -> None:
    check_float_array(name, a, func=func)
    check_same_dtype(func, **{name: a, "x": x})
    if a.shape != x.shape:
        raise ValueError(f"{func}: {name}: expected the shape of x {x.shape}, got {a.shape}")
