"""PReLU, the rectifier with a learned slope per channel, and its backward (slope
gradients summed plane by plane in order)."""

from __future__ import annotations

import math

import numpy as np

from ..._checks import check_float_array, check_same_dtype
from .. import _threads
from ._elementwise import _BLOCK, _checked, _out, _quiet


# --------------------------------------------------------------------------- prelu
def _prelu_args(x: object, weight: object, func: str) -> tuple[np.ndarray, np.ndarray]:
    """x and weight checked; weight reshaped to broadcast along x's channel axis 1."""
    x = _checked(x, func)
    w = check_float_array("weight", weight, func=func)
    check_same_dtype(func, x=x, weight=w)
    channels = x.shape[1] if x.ndim >= 2 else 1
    if w.ndim != 1 or w.size not in (1, channels):
        wanted = "(1,)" if channels == 1 else f"(1,) or ({channels},), one slope per channel"
        raise ValueError(
            f"{func}: weight: expected shape {wanted} for x of shape {x.shape} (channels on "
            f"axis 1), got {w.shape}"
        )
    if w.size > 1:
        w = w.reshape((channels,) + (1,) * (x.ndim - 2))
    return x, w


def _planes(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x as (planes, L) — the (n, c) planes of an (N, C, *) x for one slope per channel,
    else single values — and each plane's slope, (planes, 1) in x's dtype."""
    if w.size == 1:
        return x.reshape(-1, 1), np.broadcast_to(w.reshape(1, 1), (x.size, 1))
    planes = math.prod(x.shape[:2])
    x2 = x.reshape(planes, -1) if x.size else x.reshape(planes, 0)
    per_plane = np.broadcast_to(w.reshape(1, -1), (planes // w.size, w.size)).reshape(-1, 1)
    return x2, per_plane


def _plane_spans(x2: np.ndarray) -> list[_threads.Span]:
    """Blocks of planes of about _BLOCK elements (the cut depends on the shape only)."""
    return _threads.spans(x2.shape[0], max(1, _BLOCK // max(1, x2.shape[1])))


@_threads.op
def prelu(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """σ(x) = x if x > 0 else a_c·x, with a learnable slope a_c per channel c, as
    ``torch.nn.functional.prelu(x, weight)``.

    x: float32 or float64, any shape, channels on axis 1 (an input of fewer than 2 axes has
    one channel); weight: (C,) one slope per channel, or (1,) shared. Same dtype. Returns x's
    shape and dtype.

    PReLU is not in ``ACTIVATIONS``: a registry entry is σ of x alone, and this σ has a
    parameter with its own gradient (see :func:`prelu_backward`), like a layer's.
    """
    x, w = _prelu_args(x, weight, "prelu")
    x3, slopes = _planes(x, w)
    y = np.empty(x3.shape, dtype=x.dtype)

    def body(p0: int, p1: int) -> None:
        with _quiet():
            v = x3[p0:p1]
            y[p0:p1] = np.where(v > 0, v, slopes[p0:p1] * v)

    _threads.parallel(body, _plane_spans(x3))
    return y.reshape(x.shape)


@_threads.op
def prelu_backward(
    grad_output: np.ndarray, x: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(∂ℓ/∂x, ∂ℓ/∂weight) of y = prelu(x, weight), g = grad_output (the shape of x):

        ∂ℓ/∂x = g if x > 0 else a_c·g,      ∂ℓ/∂a_c = Σ_{x ≤ 0, channel c} g·x

    (the sum over every axis but the channel one; over all elements for a (1,) weight).
    At x = 0 the slope side is taken (∂ℓ/∂x = a_c·g), as PyTorch. Returns arrays of x's and
    weight's shapes and dtype.
    """
    func = "prelu_backward"
    x, w = _prelu_args(x, weight, func)
    g = check_float_array("grad_output", grad_output, func=func)
    check_same_dtype(func, grad_output=g, x=x)
    if g.shape != x.shape:
        raise ValueError(f"{func}: grad_output: expected the shape of x {x.shape}, got {g.shape}")
    x3, slopes = _planes(x, w)
    g3 = g.reshape(x3.shape)
    grad_x = np.empty(x3.shape, dtype=x.dtype)
    blocks = _plane_spans(x3)
    index = {span: k for k, span in enumerate(blocks)}
    # Σ g·x over x ≤ 0, float64: per plane (one slope per channel) or per block (one slope)
    sums = np.zeros(len(blocks) if w.size == 1 else x3.shape[0])

    def body(p0: int, p1: int) -> None:
        with _quiet(), np.errstate(invalid="ignore", over="ignore"):
            v, gv = x3[p0:p1], g3[p0:p1]
            positive = v > 0
            grad_x[p0:p1] = np.where(positive, gv, slopes[p0:p1] * gv)
            terms = np.where(positive, 0.0, gv.astype(np.float64) * v)
            if w.size == 1:
                sums[index[p0, p1]] = np.sum(terms)
            else:
                np.sum(terms, axis=1, out=sums[p0:p1])

    _threads.parallel(body, blocks)
    with np.errstate(invalid="ignore", over="ignore"):  # blocks, then planes, in order
        grad_w = sums.reshape(-1, w.size).sum(axis=0)
    return grad_x.reshape(x.shape), _out(grad_w, x)
