"""Max and average pooling over 2-D windows, and their backward passes.

Window k = (k1, k2), stride s (default k), padding p on both sides of each axis:

    max:  Y[β,c,i,j] = max_{a,b} X̃[β, c, s(i-1)+a, s(j-1)+b],   X̃ padded with -∞
    avg:  Y[β,c,i,j] = (1/(k1 k2)) Σ_{a,b} X̃[β, c, s(i-1)+a, s(j-1)+b],   X̃ padded with 0

(PyTorch's defaults: no dilation, floor rounding, zero padding counted in the divisor.)
Output size floor((m + 2p - k)/s) + 1. Padding is at most half the window, so every window
holds at least one real element.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._checks import batched_image, check_float_array, check_same_dtype, check_shape, int_pair
from ._geometry import Pads, Pair, check_output_size
from ._windows import pad, tap_slices, windows

_NO_DILATION = (1, 1)


class _Geometry(NamedTuple):
    x: np.ndarray  # 4-D
    unbatched: bool
    kernel: Pair
    stride: Pair
    pads: Pads
    out_hw: Pair


def _geometry(x: Any, kernel_size: Any, stride: Any, padding: Any, *, func: str) -> _Geometry:
    check_float_array("x", x, func=func)
    x4, unbatched = batched_image("x", x, func=func)
    k = int_pair("kernel_size", kernel_size, minimum=1, func=func)
    s = k if stride is None else int_pair("stride", stride, minimum=1, func=func)
    p = int_pair("padding", padding, minimum=0, func=func)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(
            f"{func}: padding: expected at most half the window (<= {(k[0] // 2, k[1] // 2)}) "
            f"so every window holds a real element, got {padding!r} for kernel_size {k}"
        )
    pads = ((p[0], p[0]), (p[1], p[1]))
    out_hw = check_output_size(x4.shape[2:], k, s, pads, _NO_DILATION, func=func)
    return _Geometry(x4, unbatched, k, s, pads, out_hw)


def _grad_output(grad_output: Any, x: np.ndarray, geo: _Geometry, *, func: str) -> np.ndarray:
    check_float_array("grad_output", grad_output, func=func)
    check_same_dtype(func, grad_output=grad_output, x=x)
    expected = (*geo.x.shape[:2], *geo.out_hw)
    check_shape("grad_output", grad_output, expected[1:] if geo.unbatched else expected, func=func)
    return grad_output[None] if geo.unbatched else grad_output


def _crop(grad_xp: np.ndarray, geo: _Geometry) -> np.ndarray:
    (pt, _), (pl, _) = geo.pads
    m, n = geo.x.shape[2:]
    g = np.ascontiguousarray(grad_xp[:, :, pt : pt + m, pl : pl + n])
    return g[0] if geo.unbatched else g


# ---------------------------------------------------------------------------------------------
# Max pooling


def max_pool2d(
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
) -> np.ndarray:
    """Max pooling, as ``torch.nn.functional.max_pool2d`` (no dilation, floor mode).

    Y[β,c,i,j] = max_{1<=a<=k1, 1<=b<=k2} X̃[β, c, s(i-1)+a, s(j-1)+b], X̃ padded with -∞.

    x : (B, C, m, n) or unbatched (C, m, n), float32/float64. kernel_size, stride (default:
    kernel_size), padding: int or pair; padding at most half the window.
    Returns (B, C, floor((m+2p-k1)/s)+1, floor((n+2p-k2)/s)+1), x's dtype. NaN in a window
    gives NaN.

    >>> import numpy as np
    >>> max_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2)[0, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """
    geo = _geometry(x, kernel_size, stride, padding, func="max_pool2d")
    xp = pad(geo.x, geo.pads, -np.inf)
    w = windows(xp, geo.kernel, geo.stride, _NO_DILATION, geo.out_hw)
    y = w.max(axis=(4, 5))
    return y[0] if geo.unbatched else y


def _max_index(w: np.ndarray) -> np.ndarray:
    """Row-major index of each window's first maximum (a NaN counts as the maximum).

    np.argmax returns the first occurrence of the maximum and treats NaN as the maximum,
    which is the element PyTorch's CPU kernel routes the gradient to.
    """
    flat = w.reshape(*w.shape[:4], -1)
    return flat.argmax(axis=-1)


def max_pool2d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
) -> np.ndarray:
    """∂ℓ/∂X for ``max_pool2d``: each G[β,c,i,j] is added to the one element of its window
    that attained the maximum (the first in row-major order when several tie, as PyTorch).

    ∂ℓ/∂X̃[β,c,u,v] = Σ_{i,j} G[β,c,i,j] · [ (u, v) is the arg-max of window (i, j) ]

    grad_output: (B, C, H_out, W_out) like ``max_pool2d``'s output; returns an array like x.
    """
    func = "max_pool2d_backward"
    geo = _geometry(x, kernel_size, stride, padding, func=func)
    G = _grad_output(grad_output, x, geo, func=func)
    xp = pad(geo.x, geo.pads, -np.inf)
    idx = _max_index(windows(xp, geo.kernel, geo.stride, _NO_DILATION, geo.out_hw))
    grad_xp = np.zeros(xp.shape, dtype=x.dtype)
    k1, k2 = geo.kernel
    for a in range(k1):
        for c in range(k2):
            rows, cols = tap_slices(a, c, geo.stride, _NO_DILATION, geo.out_hw)
            grad_xp[:, :, rows, cols] += np.where(idx == a * k2 + c, G, 0)
    return _crop(grad_xp, geo)


# ---------------------------------------------------------------------------------------------
# Average pooling


def avg_pool2d(
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
) -> np.ndarray:
    """Average pooling, as ``torch.nn.functional.avg_pool2d`` with its defaults.

    Y[β,c,i,j] = (1/(k1 k2)) Σ_{a=1..k1} Σ_{b=1..k2} X̃[β, c, s(i-1)+a, s(j-1)+b],
    X̃ zero-padded; the divisor is always k1·k2 (padding counted, count_include_pad=True).

    Shapes as ``max_pool2d``. With stride = kernel_size this equals the strided convolution
    of result 2 (``cnnmath.filters.average_pool_filter``).

    >>> import numpy as np
    >>> avg_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2)[0, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    geo = _geometry(x, kernel_size, stride, padding, func="avg_pool2d")
    xp = pad(geo.x, geo.pads, 0.0)
    w = windows(xp, geo.kernel, geo.stride, _NO_DILATION, geo.out_hw)
    k1, k2 = geo.kernel
    y = w.sum(axis=(4, 5)) / np.asarray(k1 * k2, dtype=x.dtype)
    return y[0] if geo.unbatched else y


def avg_pool2d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
) -> np.ndarray:
    """∂ℓ/∂X for ``avg_pool2d``: every element of window (i, j) receives G[β,c,i,j]/(k1 k2).

    ∂ℓ/∂X̃[β,c,u,v] = (1/(k1 k2)) Σ_{(i,j): window (i,j) holds (u,v)} G[β,c,i,j]

    grad_output: (B, C, H_out, W_out); returns an array like x (padding cropped off).
    """
    func = "avg_pool2d_backward"
    geo = _geometry(x, kernel_size, stride, padding, func=func)
    G = _grad_output(grad_output, x, geo, func=func)
    k1, k2 = geo.kernel
    share = G / np.asarray(k1 * k2, dtype=x.dtype)
    (pt, pb), (pl, pr) = geo.pads
    grad_xp = np.zeros((*geo.x.shape[:2], geo.x.shape[2] + pt + pb, geo.x.shape[3] + pl + pr),
                       dtype=x.dtype)
    for a in range(k1):
        for c in range(k2):
            rows, cols = tap_slices(a, c, geo.stride, _NO_DILATION, geo.out_hw)
            grad_xp[:, :, rows, cols] += share
    return _crop(grad_xp, geo)
