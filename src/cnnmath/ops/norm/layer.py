"""Layer normalisation: one statistic per sample over the trailing axes, and the backward."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..._checks import check_float_array, check_same_dtype
from .. import _threads
from ._args import _check_eps, _check_grad_output
from ._rows import _affine, _moments, _quiet, _row_sums, _Rows, _rows_or_none, _spans

# ---------------------------------------------------------------------------------------------
# Layer normalisation over trailing axes


def _normalized_shape(value: Any, *, func: str) -> tuple[int, ...]:
    items = (value,) if isinstance(value, (int, np.integer)) else value
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(items, (tuple, list))
        or not items
        or any(
            isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) for n in items
        )
    ):
        raise TypeError(
            f"{func}: normalized_shape: expected an int or a non-empty tuple of ints (the "
            f"trailing axes of x), got {value!r}"
        )
    shape = tuple(int(n) for n in items)
    if min(shape) < 1:
        raise ValueError(f"{func}: normalized_shape: expected sizes >= 1, got {shape}")
    return shape


def _check_layer_norm(
    func: str, x: Any, normalized_shape: Any, weight: Any, bias: Any, eps: Any, **more: Any
) -> tuple[int, int, tuple[int, ...], float]:
    check_float_array("x", x, func=func)
    shape = _normalized_shape(normalized_shape, func=func)
    if x.shape[x.ndim - len(shape) :] != shape or x.ndim < len(shape):
        raise ValueError(
            f"{func}: normalized_shape: expected the trailing axes of x (shape {x.shape}), "
            f"got {shape}"
        )
    eps = _check_eps(eps, func=func)
    for name, a in (("weight", weight), ("bias", bias)):
        if a is not None:
            check_float_array(name, a, func=func)
            if a.shape != shape:
                raise ValueError(
                    f"{func}: {name}: expected normalized_shape {shape}, got shape {a.shape}"
                )
    check_same_dtype(func, x=x, weight=weight, bias=bias, **more)
    K = math.prod(shape)
    return x.size // K, K, shape, eps


def _layer_rows(R: int, K: int, dtype: Any) -> _Rows:
    """Layer norm's rows: each of the R rows of K values is one statistic (its own first row)."""
    return _Rows(
        K,
        lambda r: r,
        (R,),
        lambda r: r.astype(np.float64),
        lambda a: np.broadcast_to(np.asarray(a).astype(dtype), (R,)).reshape(-1, 1),
    )


def _layer_xhat(v: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray, _Rows]:
    """x̂ of the (R, K) rows (a new array), 1/√(σ² + ε) per row (float64 (R,)), the rows."""
    R, K = v.shape
    rows = _layer_rows(R, K, v.dtype)
    mo = _moments(v, rows)
    invstd = 1.0 / np.sqrt(mo.var + eps)
    xhat = _affine(
        v, _rows_or_none(rows, mo.shift), rows.expand(invstd), rows.expand(-mo.delta * invstd)
    )
    return xhat, invstd, rows


@_threads.op
def layer_norm(
    x: np.ndarray,
    normalized_shape: int | tuple[int, ...],
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    eps: float = 1e-5,
) -> np.ndarray:
    """Layer normalisation over the trailing axes, as ``torch.nn.functional.layer_norm``.

    For every index r of the leading axes, over the K = prod(normalized_shape) values
    x[r, ...] of the trailing axes:

        μ_r = mean,   σ²_r = mean((x[r] − μ_r)²)  (biased),
        y[r, k] = γ_k (x[r, k] − μ_r) / √(σ²_r + ε) + β_k

    with γ, β elementwise over the trailing axes (shape ``normalized_shape``).
    ``group_norm(x, 1)`` is this over (C, *spatial) with a per-channel γ, β instead.

    Parameters
    ----------
    x : (*, *normalized_shape), float32 or float64.
    normalized_shape : an int or a tuple of ints, the sizes of x's trailing axes.
    weight γ, bias β : arrays of shape ``normalized_shape``, or None (γ = 1, β = 0).
    eps : ε > 0, finite.

    Returns
    -------
    y : x's shape and dtype.

    >>> import numpy as np
    >>> layer_norm(np.array([[1.0, 3.0], [0.0, 10.0]]), 2, eps=0.0001).round(4)
    array([[-1.,  1.],
           [-1.,  1.]])
    """
    R, K, shape, eps = _check_layer_norm("layer_norm", x, normalized_shape, weight, bias, eps)
    if x.size == 0:
        return np.empty_like(x)
    x2 = x.reshape(R, K)
    y = np.empty((R, K), dtype=x.dtype)

    def body(r0: int, r1: int) -> None:  # each row is its own statistic: blocks are independent
        with _quiet():
            block, _, _ = _layer_xhat(x2[r0:r1], eps)
            if weight is not None:
                block *= weight.reshape(1, K)
            if bias is not None:
                block += bias.reshape(1, K)
            y[r0:r1] = block

    _threads.parallel(body, _spans(R, K))
    return y.reshape(x.shape)


@_threads.op
def layer_norm_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    normalized_shape: int | tuple[int, ...],
    weight: np.ndarray | None = None,
    *,
    eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients through ``layer_norm`` given g = ∂ℓ/∂y (x's shape).

    Per leading index r, with ĝ = γ g (= ∂ℓ/∂x̂) and means over the row's K values — the
    closed form through μ_r and σ²_r:

        ∂ℓ/∂x = (1/√(σ²_r + ε)) · (ĝ − mean(ĝ) − x̂ · mean(ĝ x̂))
        ∂ℓ/∂γ = Σ_r g x̂,    ∂ℓ/∂β = Σ_r g     (shape normalized_shape)

    Arguments as ``layer_norm`` (``eps`` keyword-only; bias does not enter the gradients);
    the statistics are recomputed from x.

    Returns
    -------
    (grad_x, grad_weight, grad_bias) : x's shape, normalized_shape, normalized_shape, in x's
        dtype; with ``weight=None`` grad_weight is the gradient with respect to γ at γ = 1.
    """
    func = "layer_norm_backward"
    R, K, shape, eps = _check_layer_norm(
        func, x, normalized_shape, weight, None, eps, grad_output=grad_output
    )
    _check_grad_output(grad_output, x, func=func)
    cast = x.dtype.type
    if x.size == 0:
        return np.zeros_like(x), np.zeros(shape, dtype=cast), np.zeros(shape, dtype=cast)
    x2, g2 = x.reshape(R, K), grad_output.reshape(R, K)
    grad_x = np.empty((R, K), dtype=x.dtype)
    blocks = _spans(R, K)
    # per block of rows: Σ_r g x̂ and Σ_r g (float64), added in block order afterwards
    partial = np.empty((len(blocks), 2, K))
    index = {span: k for k, span in enumerate(blocks)}

    def body(r0: int, r1: int) -> None:  # each row is its own statistic: blocks are independent
        g = g2[r0:r1]
        with _quiet():
            xhat, invstd, rows = _layer_xhat(x2[r0:r1], eps)
            k = index[r0, r1]
            np.sum(np.multiply(g, xhat), axis=0, dtype=np.float64, out=partial[k, 0])
            np.sum(g, axis=0, dtype=np.float64, out=partial[k, 1])
            ghat = g if weight is None else np.multiply(g, weight.reshape(1, K))
            mean_ghat = _row_sums(ghat).astype(np.float64) / K
            mean_ghat_xhat = np.vecdot(ghat, xhat).astype(np.float64) / K
            # (1/√(σ²+ε))·(ĝ − mean ĝ − x̂·mean(ĝ x̂))
            grad_x[r0:r1] = _affine(
                xhat,
                None,
                rows.expand(-mean_ghat_xhat * invstd),
                rows.expand(-mean_ghat * invstd),
                ghat,
                rows.expand(invstd),
            )

    _threads.parallel(body, blocks)
    grad_weight, grad_bias = partial.sum(axis=0)  # NumPy adds the blocks in order
    return (
        grad_x.reshape(x.shape),
        grad_weight.reshape(shape).astype(cast),
        grad_bias.reshape(shape).astype(cast),
    )
