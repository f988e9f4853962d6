"""Losses, each returning ``(loss, grad)``: the value as a Python float and ∂loss/∂prediction.

Both reduce by the mean, PyTorch's default (``reduction="mean"``):

    mse:                    ℓ = (1/N) Σ_k (p_k − t_k)²,
                            ∂ℓ/∂p = 2(p − t)/N
    softmax_cross_entropy:  ℓ = −(1/B) Σ_β log softmax(z_β)[y_β],
                            ∂ℓ/∂z_β = (softmax(z_β) − e_{y_β})/B   (e_y the one-hot row)

The softmax is evaluated stably with the log-sum-exp shift: log softmax(z)_k = z_k − m −
log Σ_j exp(z_j − m), m = max_j z_j, so no exp sees a positive argument and logits of any
finite size work. The cross-entropy is computed in float64 and its gradient returned in
the logits' dtype. NaN in gives NaN out (loss and gradient), never an exception: the
training loop decides what to do with it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._checks import check_float_array, check_ndim, check_same_dtype

__all__ = ["log_softmax", "mse", "softmax", "softmax_cross_entropy"]


def _check_axis(axis: Any, ndim: int, *, func: str) -> int:
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{func}: axis: expected an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{func}: axis: expected -{ndim} <= axis < {ndim}, got {axis}")
    return int(axis) % ndim


def _log_softmax64(z: np.ndarray, axis: int) -> np.ndarray:
    """log softmax in float64: z − m − log Σ exp(z − m), m the max along ``axis``.

    An axis holding +inf (or NaN) gives NaN: inf − inf has no value, as in PyTorch.
    """
    z = z.astype(np.float64, copy=False)
    with np.errstate(invalid="ignore", over="ignore", under="ignore", divide="ignore"):
        m = np.max(z, axis=axis, keepdims=True)
        shifted = z - np.where(np.isfinite(m), m, np.where(np.isneginf(m), 0.0, m))
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def log_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """log softmax(z)_k = z_k − log Σ_j exp(z_j) along ``axis``, as z_k − m − log Σ_j
    exp(z_j − m) with m = max_j z_j (no overflow for any finite z).

    logits: float32 or float64 array, at least 1-D; returns its shape and dtype.

    >>> import numpy as np
    >>> np.exp(log_softmax(np.array([1e4, 1e4]))).tolist()
    [0.5, 0.5]
    """
    func = "log_softmax"
    check_float_array("logits", logits, func=func)
    if logits.ndim == 0:
        raise ValueError(f"{func}: logits: expected at least 1 axis, got a 0-d array")
    return _log_softmax64(logits, _check_axis(axis, logits.ndim, func=func)).astype(logits.dtype)


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """softmax(z)_k = exp(z_k − m) / Σ_j exp(z_j − m), m = max_j z_j, along ``axis``.

    logits: float32 or float64 array, at least 1-D; returns its shape and dtype (each slice
    along ``axis`` is non-negative and sums to 1).
    """
    func = "softmax"
    check_float_array("logits", logits, func=func)
    if logits.ndim == 0:
        raise ValueError(f"{func}: logits: expected at least 1 axis, got a 0-d array")
    axis = _check_axis(axis, logits.ndim, func=func)
    with np.errstate(under="ignore"):
        return np.exp(_log_softmax64(logits, axis)).astype(logits.dtype)


def mse(pred: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared error ℓ = (1/N) Σ_k (p_k − t_k)² over all N elements, and ∂ℓ/∂p = 2(p − t)/N.

    pred, target: float arrays of one shape and dtype (no broadcasting: a (B, 1) against a
    (B,) would silently become (B, B)). Returns (loss as a float, grad like pred), as
    ``torch.nn.functional.mse_loss`` with reduction="mean".

    >>> import numpy as np
    >>> mse(np.array([1.0, 3.0]), np.array([0.0, 0.0]))[0]
    5.0
    """
    func = "mse"
    check_float_array("pred", pred, func=func)
    check_float_array("target", target, func=func)
    check_same_dtype(func, pred=pred, target=target)
    if pred.shape != target.shape:
        raise ValueError(
            f"{func}: target: expected the shape of pred {pred.shape}, got {target.shape}"
        )
    if pred.size == 0:
        raise ValueError(f"{func}: pred: expected at least one element, got shape {pred.shape}")
    n = pred.size
    residual = pred - target
    with np.errstate(over="ignore", invalid="ignore"):
        loss = float(np.mean(np.square(residual.astype(np.float64, copy=False))))
    grad = residual * pred.dtype.type(2.0 / n)
    return loss, grad


def _check_labels(labels: Any, logits: np.ndarray, *, func: str) -> np.ndarray:
    """labels as an integer array (B,) with 0 <= y < K; every failure is a ValueError."""
    y = np.asarray(labels)
    B, K = logits.shape
    if y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"{func}: labels: expected integer class indices (dtype int), got dtype {y.dtype}; "
            "convert with labels.astype(numpy.int64) if they are whole numbers"
        )
    if y.shape != (B,):
        raise ValueError(
            f"{func}: labels: expected shape ({B},), one class index per row of logits "
            f"{logits.shape}, got shape {y.shape}"
        )
    bad = (y < 0) | (y >= K)
    if np.any(bad):
        first = int(np.argmax(bad))
        raise ValueError(
            f"{func}: labels: expected class indices in [0, {K - 1}] (logits have K = {K} "
            f"columns), got labels[{first}] = {int(y[first])}"
        )
    return y


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Softmax cross-entropy with integer labels, averaged over the batch:

        ℓ = −(1/B) Σ_β log softmax(z_β)[y_β],    ∂ℓ/∂z[β, k] = (softmax(z_β)_k − [k = y_β]) / B

    as ``torch.nn.functional.cross_entropy(logits, labels)``. logits z: (B, K) float32 or
    float64; labels y: (B,) integers in [0, K). Returns (loss as a float, grad (B, K) in the
    logits' dtype). Stable for any finite logits (log-sum-exp); NaN logits give a NaN loss.

    >>> import numpy as np
    >>> round(softmax_cross_entropy(np.zeros((2, 4)), np.array([0, 3]))[0], 6)  # log 4
    1.386294
    """
    func = "softmax_cross_entropy"
    check_float_array("logits", logits, func=func)
    check_ndim(
        "logits",
        logits,
        (2,),
        func=func,
        layout="(B, K)",
        hint="for one example use logits[None] and labels[None]" if logits.ndim == 1 else "",
    )
    if logits.shape[0] == 0 or logits.shape[1] == 0:
        raise ValueError(f"{func}: logits: expected B >= 1 and K >= 1, got shape {logits.shape}")
    y = _check_labels(labels, logits, func=func)
    B = logits.shape[0]
    log_p = _log_softmax64(logits, axis=1)
    rows = np.arange(B)
    loss = float(-np.mean(log_p[rows, y]))
    with np.errstate(under="ignore"):
        grad = np.exp(log_p)
    grad[rows, y] -= 1.0
    grad /= B
    return loss, grad.astype(logits.dtype)
