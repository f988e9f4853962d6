"""The dense (fully connected) layer and its backward pass, as ``torch.nn.functional.linear``."""

from __future__ import annotations

import math

import numpy as np

from .._checks import check_float_array, check_ndim, check_same_dtype, check_shape
from . import _threads


def _check(x: np.ndarray, weight: np.ndarray, *, func: str) -> None:
    check_float_array("x", x, func=func)
    check_float_array("weight", weight, func=func)
    check_same_dtype(func, x=x, weight=weight)
    check_ndim("weight", weight, (2,), func=func, layout="(out_features, in_features)")
    if x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"{func}: x: expected a last axis of in_features = {weight.shape[1]} "
            f"(weight has shape {weight.shape}), got x of shape {x.shape}"
        )


def _product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b for 2-D a and b, threaded by blocks (the same bits at any thread count)."""
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    _threads.matmul(a, b, out)
    return out


@_threads.op
def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """y = x Wᵀ + b, i.e. y[..., o] = Σ_i W[o, i] x[..., i] + b[o].

    x : (*, in_features); weight W : (out_features, in_features); bias b : (out_features,)
    or None. Returns (*, out_features) in x's dtype. Empty is allowed as in PyTorch: no
    rows give no rows, in_features = 0 gives y = b (zeros without a bias).

    >>> import numpy as np
    >>> linear(np.ones((2, 3)), np.ones((4, 3)), np.zeros(4)).shape
    (2, 4)
    """
    _check(x, weight, func="linear")
    if bias is not None:
        check_float_array("bias", bias, func="linear")
        check_same_dtype("linear", x=x, bias=bias)
        check_shape("bias", bias, (weight.shape[0],), func="linear")
    out_features, in_features = weight.shape
    # explicit sizes, not -1: an empty batch (or in_features = 0) has no size to infer
    rows = math.prod(x.shape[:-1])
    y = _product(x.reshape(rows, in_features), weight.T).reshape(*x.shape[:-1], out_features)
    if bias is not None:
        y = y + bias
    return y


@_threads.op
def linear_backward(
    grad_output: np.ndarray, x: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients through ``linear`` given G = ∂ℓ/∂y of shape (*, out_features):

        ∂ℓ/∂x = G W,    ∂ℓ/∂W = Σ_batch Gᵀ x  (G[..., o] x[..., i] summed),    ∂ℓ/∂b = Σ_batch G

    Returns (grad_x like x, grad_weight like weight, grad_bias (out_features,)).
    """
    func = "linear_backward"
    _check(x, weight, func=func)
    check_float_array("grad_output", grad_output, func=func)
    check_same_dtype(func, grad_output=grad_output, x=x)
    check_shape("grad_output", grad_output, (*x.shape[:-1], weight.shape[0]), func=func)
    rows = math.prod(x.shape[:-1])
    G2 = grad_output.reshape(rows, weight.shape[0])
    x2 = x.reshape(rows, weight.shape[1])
    grad_x = _product(G2, weight).reshape(x.shape)
    return grad_x, _product(G2.T, x2), G2.sum(axis=0)
