"""Distances and similarities between vectors along one axis, as ``torch.nn.functional``'s
``pairwise_distance``, ``cosine_similarity`` and ``normalize``, each beside its backward.

With ‖d‖_p = (Σ_i |d_i|^p)^(1/p) along the axis (max_i |d_i| for p = ∞, the count of
non-zero d_i for p = 0):

    pairwise_distance(x1, x2)  = ‖x1 − x2 + ε‖_p               (last axis; ε added to every d_i)
    cosine_similarity(x1, x2)  = Σ_i (x1_i / n1)(x2_i / n2),   n_j = max(‖x_j‖_2, ε)
    normalize(x)               = x / max(‖x‖_p, ε)

and the derivative of the norm, ∂‖d‖_p/∂d_i = sgn(d_i) |d_i|^(p−1) / ‖d‖_p^(p−1) (0 where d_i
= 0 or ‖d‖ = 0; sgn(d_i) for p = 1; for p = ∞ the gradient is shared equally by the entries
of largest |d_i|; 0 for p = 0), the subgradients PyTorch's autograd takes (with its sgn(NaN)
= 0 for p = 1 and ∞).

The two clamps at ε differ, as they do in PyTorch: ``normalize``'s is part of the function (no
gradient flows through the norm where ‖x‖_p < ε), while ``cosine_similarity``'s is applied
outside autograd, so its gradient treats n_j as ‖x_j‖ passed straight through the clamp:

    ∂s/∂x1 = x2/(n1 n2) − (s/n1) · x1/‖x1‖        (the second term 0 where x1 = 0)

These are ops (pure functions on arrays, forward beside backward): the losses of metric
learning (:func:`cnnmath.losses.triplet_margin_loss`) and any model that compares embeddings
build on them. The arrays' shapes must be equal (PyTorch broadcasts them; here a (B, 1)
against a (B,) is an error rather than a silent (B, B)). Values are computed in float64 and
returned in the inputs' dtype (float32 or float64, one for all).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._checks import check_float_array, check_same_dtype, flag, real_number
from .softmax import _dim

__all__ = [
    "cosine_similarity",
    "cosine_similarity_backward",
    "normalize",
    "normalize_backward",
    "pairwise_distance",
    "pairwise_distance_backward",
]


def norm_order(p: Any, *, func: str) -> float:
    """The order p of an L_p norm: a real number >= 0 or ``math.inf`` (PyTorch's p < 0 is
    not a norm and is refused)."""
    if isinstance(p, (int, float, np.integer, np.floating)) and not isinstance(p, (bool, np.bool_)):
        if float(p) == math.inf:
            return math.inf
    return real_number("p", p, func=func, low=0.0)


def lp_norm(d: np.ndarray, p: float, axis: int) -> np.ndarray:
    """‖d‖_p along ``axis``, kept as an axis of length 1 (float64 in, float64 out)."""
    a = np.abs(d)
    if p == 2:
        return np.sqrt(np.sum(a * a, axis=axis, keepdims=True))
    if p == 1:
        return np.sum(a, axis=axis, keepdims=True)
    if p == math.inf:
        return np.max(a, axis=axis, keepdims=True, initial=0.0)
    if p == 0:
        return np.sum(a != 0, axis=axis, keepdims=True).astype(np.float64)
    return np.sum(a**p, axis=axis, keepdims=True) ** (1.0 / p)


def lp_norm_backward(d: np.ndarray, norm: np.ndarray, p: float, axis: int) -> np.ndarray:
    """∂‖d‖_p/∂d (``norm`` the forward's, with its kept axis): the subgradients of the module
    docstring."""
    if p == 0:
        return np.zeros_like(d)
    sgn = np.sign(np.where(np.isnan(d), 0.0, d))  # PyTorch's sgn: 0 at NaN
    if p == 1:
        return sgn
    if p == math.inf:
        a = np.abs(d)
        top = (a == norm) | np.isnan(a)
        return sgn * top / np.sum(top, axis=axis, keepdims=True)
    a = np.abs(d)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = a ** (p - 1) / norm ** (p - 1)
    return np.where((d == 0) | (norm == 0), 0.0, np.sign(d) * ratio)


def _pair(func: str, x1: Any, x2: Any) -> None:
    check_float_array("x1", x1, func=func)
    check_float_array("x2", x2, func=func)
    check_same_dtype(func, x1=x1, x2=x2)
    if x1.shape != x2.shape:
        raise ValueError(
            f"{func}: x2: expected the shape of x1 {x1.shape} (PyTorch's broadcasting is not "
            f"done: broadcast explicitly with numpy.broadcast_to), got {x2.shape}"
        )
    if x1.ndim == 0:
        raise ValueError(f"{func}: x1: expected at least 1 axis, got a 0-d array")


def _eps(eps: Any, func: str) -> float:
    return real_number("eps", eps, func=func, low=0.0)


def _grad_output(func: str, grad_output: Any, like: np.ndarray, shape: tuple[int, ...]) -> Any:
    check_float_array("grad_output", grad_output, func=func)
    check_same_dtype(func, grad_output=grad_output, x1=like)
    if grad_output.shape != shape:
        raise ValueError(
            f"{func}: grad_output: expected the forward's output shape {shape}, got "
            f"{grad_output.shape}"
        )
    return grad_output.astype(np.float64)


def pairwise_distance(
    x1: np.ndarray, x2: np.ndarray, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False
) -> np.ndarray:
    """‖x1 − x2 + ε‖_p along the last axis, as ``torch.nn.functional.pairwise_distance``
    (ε is added to each difference, not to the norm, as PyTorch does).

    x1, x2: float arrays of one shape (…, D), D the vector axis; p >= 0 or ``math.inf``;
    eps >= 0. Returns (…) (or (…, 1) with ``keepdim``) in the inputs' dtype.

    >>> import numpy as np
    >>> float(pairwise_distance(np.array([3.0, 0.0]), np.array([0.0, 4.0]), eps=0.0))
    5.0
    """
    func = "pairwise_distance"
    _pair(func, x1, x2)
    p, eps = norm_order(p, func=func), _eps(eps, func)
    keepdim = flag("keepdim", keepdim, func=func)
    d = x1.astype(np.float64) - x2.astype(np.float64) + eps
    with np.errstate(over="ignore", invalid="ignore"):
        out = lp_norm(d, p, -1)
    return (out if keepdim else out[..., 0]).astype(x1.dtype)


def pairwise_distance_backward(
    grad_output: np.ndarray,
    x1: np.ndarray,
    x2: np.ndarray,
    p: float = 2.0,
    eps: float = 1e-6,
    keepdim: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(∂ℓ/∂x1, ∂ℓ/∂x2) for ``pairwise_distance``: with d = x1 − x2 + ε and g = ∂ℓ/∂out,

        ∂ℓ/∂x1 = g · ∂‖d‖_p/∂d,    ∂ℓ/∂x2 = −∂ℓ/∂x1

    (the norm's subgradient in the module docstring). grad_output: the forward's output
    shape; returns two arrays like x1.
    """
    func = "pairwise_distance_backward"
    _pair(func, x1, x2)
    p, eps = norm_order(p, func=func), _eps(eps, func)
    keepdim = flag("keepdim", keepdim, func=func)
    shape = x1.shape[:-1] + ((1,) if keepdim else ())
    g = _grad_output(func, grad_output, x1, shape)
    d = x1.astype(np.float64) - x2.astype(np.float64) + eps
    with np.errstate(over="ignore", invalid="ignore"):
        norm = lp_norm(d, p, -1)
        grad = (g if keepdim else g[..., None]) * lp_norm_backward(d, norm, p, -1)
    return grad.astype(x1.dtype), (-grad).astype(x1.dtype)


def _cosine_parts(x1: np.ndarray, x2: np.ndarray, axis: int, eps: float) -> tuple[Any, ...]:
    """(a, b, ‖a‖, ‖b‖, n1, n2, s) in float64, the norms kept along ``axis``."""
    a, b = x1.astype(np.float64), x2.astype(np.float64)
    norm1, norm2 = lp_norm(a, 2, axis), lp_norm(b, 2, axis)
    n1, n2 = np.maximum(norm1, eps), np.maximum(norm2, eps)
    s = np.sum((a / n1) * (b / n2), axis=axis, keepdims=True)
    return a, b, norm1, norm2, n1, n2, s


def cosine_similarity(
    x1: np.ndarray, x2: np.ndarray, dim: int = 1, eps: float = 1e-8
) -> np.ndarray:
    """s = Σ_i (x1_i / n1)(x2_i / n2) along ``dim``, n_j = max(‖x_j‖_2, ε), as
    ``torch.nn.functional.cosine_similarity`` (each vector is divided by its clamped norm
    before the product, so |s| <= 1 up to rounding).

    x1, x2: float arrays of one shape; dim: the vector axis (negative counts from the end);
    eps >= 0. Returns the shape without ``dim``, in the inputs' dtype.

    >>> import numpy as np
    >>> float(cosine_similarity(np.array([1.0, 1.0]), np.array([2.0, 0.0]), dim=0))  # 1/√2
    0.7071067811865475
    """
    func = "cosine_similarity"
    _pair(func, x1, x2)
    axis = _dim(dim, x1.ndim, func=func)
    eps = _eps(eps, func)
    with np.errstate(over="ignore", invalid="ignore"):
        s = _cosine_parts(x1, x2, axis, eps)[-1]
    return np.squeeze(s, axis).astype(x1.dtype)


def cosine_similarity_backward(
    grad_output: np.ndarray, x1: np.ndarray, x2: np.ndarray, dim: int = 1, eps: float = 1e-8
) -> tuple[np.ndarray, np.ndarray]:
    """(∂ℓ/∂x1, ∂ℓ/∂x2) for ``cosine_similarity``, with g = ∂ℓ/∂s, u = x1/n1, v = x2/n2:

        ∂ℓ/∂x1 = g · (v/n1 − (s/n1) · x1/‖x1‖),     ∂ℓ/∂x2 = g · (u/n2 − (s/n2) · x2/‖x2‖)

    (x/‖x‖ read as 0 at x = 0): PyTorch's autograd of its forward, whose clamp of the norms
    at ε is outside the graph — the gradient is not that of the clamped function where
    ‖x_j‖ < ε. grad_output: the forward's output shape; returns two arrays like x1.
    """
    func = "cosine_similarity_backward"
    _pair(func, x1, x2)
    axis = _dim(dim, x1.ndim, func=func)
    eps = _eps(eps, func)
    g = np.expand_dims(
        _grad_output(func, grad_output, x1, x1.shape[:axis] + x1.shape[axis + 1 :]), axis
    )
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        a, b, norm1, norm2, n1, n2, s = _cosine_parts(x1, x2, axis, eps)
        da = lp_norm_backward(a, norm1, 2, axis)  # a/‖a‖, 0 where a = 0
        db = lp_norm_backward(b, norm2, 2, axis)
        grad1 = g * ((b / n2) / n1 - (s / n1) * da)
        grad2 = g * ((a / n1) / n2 - (s / n2) * db)
    return grad1.astype(x1.dtype), grad2.astype(x1.dtype)


def _input(func: str, input: Any, dim: Any) -> int:
    check_float_array("input", input, func=func)
    if input.ndim == 0:
        raise ValueError(f"{func}: input: expected at least 1 axis, got a 0-d array")
    return _dim(dim, input.ndim, func=func)


def normalize(input: np.ndarray, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> np.ndarray:
    """x / max(‖x‖_p, ε) along ``dim``, as ``torch.nn.functional.normalize``: unit vectors
    (embeddings projected onto the sphere), vectors shorter than ε divided by ε.

    input: float array; p >= 0 or ``math.inf``; dim: the vector axis; eps >= 0. Returns an
    array like input.

    >>> import numpy as np
    >>> normalize(np.array([[3.0, 4.0]])).tolist()
    [[0.6, 0.8]]
    """
    func = "normalize"
    axis = _input(func, input, dim)
    p, eps = norm_order(p, func=func), _eps(eps, func)
    x = input.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        out = x / np.maximum(lp_norm(x, p, axis), eps)
    return out.astype(input.dtype)


def normalize_backward(
    grad_output: np.ndarray, input: np.ndarray, p: float = 2.0, dim: int = 1, eps: float = 1e-12
) -> np.ndarray:
    """∂ℓ/∂x for ``normalize``, with g = ∂ℓ/∂y, n = ‖x‖_p and δ = max(n, ε):

        ∂ℓ/∂x = g/δ − [n >= ε] · (Σ_k g_k x_k / δ²) · ∂‖x‖_p/∂x

    (no gradient through the norm where the clamp holds, n < ε, as PyTorch's clamp_min; at
    n = ε exactly it passes). grad_output: input's shape; returns an array like input.
    """
    func = "normalize_backward"
    axis = _input(func, input, dim)
    p, eps = norm_order(p, func=func), _eps(eps, func)
    check_float_array("grad_output", grad_output, func=func)
    check_same_dtype(func, grad_output=grad_output, input=input)
    if grad_output.shape != input.shape:
        raise ValueError(
            f"{func}: grad_output: expected input's shape {input.shape}, got {grad_output.shape}"
        )
    x, g = input.astype(np.float64), grad_output.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        n = lp_norm(x, p, axis)
        delta = np.maximum(n, eps)
        through = (n >= eps) * (np.sum(g * x, axis=axis, keepdims=True) / (delta * delta))
        grad = g / delta - through * lp_norm_backward(x, n, p, axis)
    return grad.astype(input.dtype)
