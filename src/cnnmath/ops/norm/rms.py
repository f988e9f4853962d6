"""RMS normalisation: each sample scaled by the root mean square of its trailing axes (no
mean subtracted, no bias), and the backward."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..._checks import check_float_array, check_same_dtype, real_number
from .. import _threads
from ._args import _check_grad_output
from ._rows import _quiet, _spans
from .layer import _normalized_shape


def _default_eps(dtype: np.dtype) -> float:
    """PyTorch's ε when none is given: the machine epsilon of x's dtype (float32's 2⁻²³ for
    float32, float64's 2⁻⁵² for float64)."""
    return float(np.finfo(dtype).eps)


def _check_rms_norm(
    func: str, x: Any, normalized_shape: Any, weight: Any, eps: Any, **more: Any
) -> tuple[int, int, tuple[int, ...], float]:
    check_float_array("x", x, func=func)
    shape = _normalized_shape(normalized_shape, func=func)
    if x.ndim < len(shape) or x.shape[x.ndim - len(shape) :] != shape:
        raise ValueError(
            f"{func}: normalized_shape: expected the trailing axes of x (shape {x.shape}), "
            f"got {shape}"
        )
    if eps is None:
        eps = _default_eps(x.dtype)
    else:
        eps = real_number("eps", eps, func=func, low=0.0)
    if weight is not None:
        check_float_array("weight", weight, func=func)
        if weight.shape != shape:
            raise ValueError(
                f"{func}: weight: expected normalized_shape {shape}, got shape {weight.shape}"
            )
    check_same_dtype(func, x=x, weight=weight, **more)
    K = math.prod(shape)
    return x.size // K, K, shape, eps


def _inv_rms(v: np.ndarray, eps: float) -> np.ndarray:
    """1/√(mean(v_r²) + ε) of each row of the (R, K) block v, float64 (R, 1): the squares
    summed in float64, so float32 values whose squares overflow float32 stay right."""
    mean_square = np.vecdot(v, v, dtype=np.float64) / v.shape[1]
    return (1.0 / np.sqrt(mean_square + eps))[:, None]


@_threads.op
def rms_norm(
    x: np.ndarray,
    normalized_shape: int | tuple[int, ...],
    weight: np.ndarray | None = None,
    eps: float | None = None,
) -> np.ndarray:
    """RMS normalisation over the trailing axes, as ``torch.nn.functional.rms_norm``.

    For every index r of the leading axes, over the K = prod(normalized_shape) values
    x[r, ...] of the trailing axes:

        RMS_r = √(mean_k(x[r, k]²) + ε),   y[r, k] = γ_k x[r, k] / RMS_r

    — layer norm without the mean subtracted and without β (Zhang & Sennrich, 2019).

    Parameters
    ----------
    x : (*, *normalized_shape), float32 or float64.
    normalized_shape : an int or a tuple of ints, the sizes of x's trailing axes.
    weight γ : an array of shape ``normalized_shape``, or None (γ = 1).
    eps : ε ≥ 0, finite; None (PyTorch's default) is the machine epsilon of x's dtype.

    Returns
    -------
    y : x's shape and dtype. A row of zeros stays zeros (ε > 0); a NaN or ±inf makes its
        row NaN, as in PyTorch.

    >>> import numpy as np
    >>> rms_norm(np.array([[3.0, 4.0], [1.0, -1.0]]), 2, eps=0.0).round(4)
    array([[ 0.8485,  1.1314],
           [ 1.    , -1.    ]])
    """
    R, K, _, eps = _check_rms_norm("rms_norm", x, normalized_shape, weight, eps)
    if x.size == 0:
        return np.empty_like(x)
    x2 = x.reshape(R, K)
    y = np.empty((R, K), dtype=x.dtype)

    def body(r0: int, r1: int) -> None:  # each row is its own statistic: blocks are independent
        v = x2[r0:r1]
        with _quiet():
            np.multiply(v, _inv_rms(v, eps).astype(x.dtype), out=y[r0:r1])
            if weight is not None:
                y[r0:r1] *= weight.reshape(1, K)

    _threads.parallel(body, _spans(R, K))
    return y.reshape(x.shape)


@_threads.op
def rms_norm_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    normalized_shape: int | tuple[int, ...],
    weight: np.ndarray | None = None,
    *,
    eps: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Gradients through ``rms_norm`` given g = ∂ℓ/∂y (x's shape).

    Per leading index r, with x̂ = x/RMS_r, ĝ = γ g (= ∂ℓ/∂x̂) and the mean over the row's
    K values (RMS_r depends on every x[r, k] through mean(x²), which gives the second term):

        ∂ℓ/∂x = (1/RMS_r) · (ĝ − x̂ · mean(ĝ x̂)),    ∂ℓ/∂γ = Σ_r g x̂  (shape normalized_shape)

    Arguments as ``rms_norm`` (``eps`` keyword-only); the statistics are recomputed from x.

    Returns
    -------
    (grad_x, grad_weight) : x's shape and normalized_shape, in x's dtype; with
        ``weight=None`` grad_weight is the gradient with respect to γ at γ = 1.
    """
    func = "rms_norm_backward"
    R, K, shape, eps = _check_rms_norm(
        func, x, normalized_shape, weight, eps, grad_output=grad_output
    )
    _check_grad_output(grad_output, x, func=func)
    if x.size == 0:
        return np.zeros_like(x), np.zeros(shape, dtype=x.dtype)
    x2, g2 = x.reshape(R, K), grad_output.reshape(R, K)
    grad_x = np.empty((R, K), dtype=x.dtype)
    blocks = _spans(R, K)
    partial = np.empty((len(blocks), K))  # Σ_r g x̂ per block (float64), added in block order
    index = {span: k for k, span in enumerate(blocks)}

    def body(r0: int, r1: int) -> None:  # each row is its own statistic: blocks are independent
        g = g2[r0:r1]
        with _quiet():
            inv = _inv_rms(x2[r0:r1], eps)
            xhat = x2[r0:r1] * inv.astype(x.dtype)
            np.sum(g * xhat, axis=0, dtype=np.float64, out=partial[index[r0, r1]])
            ghat = g if weight is None else g * weight.reshape(1, K)
            mean_ghat_xhat = np.vecdot(ghat, xhat, dtype=np.float64)[:, None] / K
            # (1/RMS)·(ĝ − x̂·mean(ĝ x̂))
            grad_x[r0:r1] = (ghat - xhat * mean_ghat_xhat.astype(x.dtype)) * inv.astype(x.dtype)

    _threads.parallel(body, blocks)
    return grad_x.reshape(x.shape), partial.sum(axis=0).reshape(shape).astype(x.dtype)
