"""max_pool3d and its backward: the 2-D choice per depth tap, the earlier tap kept unless a
later one is greater or NaN (PyTorch's walk of the window)."""

from __future__ import annotations

from typing import Literal, overload

import numpy as np

from ..._checks import (
    check_shape,
)
from .. import _threads
from ..pool import (
    max_pool2d,
)
from ..pool._common import _flag
from ._common import _grad_output
from ._pool_common import _as_given, _planes, _pool_geometry, _PoolGeometry, _volumes

__all__ = ["max_pool3d", "max_pool3d_backward"]


def _max_choice(geo: _PoolGeometry) -> tuple[np.ndarray, np.ndarray]:
    """(Y, I): each window's chosen element by PyTorch's walk in (depth, row, column) order
    (the first maximum, or the last NaN), and its flat position u·m·n + v·n + z in x's volume.

    Per depth tap, ``max_pool2d`` chooses within the tap's planes; across taps, a later tap's
    choice replaces the kept one only if greater or NaN — the 3-D walk's rule, taken one depth
    at a time. The first tap inside x (``fresh``) is taken whatever it holds (-∞ included)."""
    x5, (B, C, _, m, n) = geo.x, geo.x.shape
    best = np.full((B, C, *geo.out), -np.inf, dtype=x5.dtype)
    at = np.zeros((B, C, *geo.out), dtype=np.int64)
    seen = np.zeros(geo.out[0], dtype=bool)  # depth outputs that already have a choice
    k, s, p = geo.plane_args()
    for tap in geo.depth_taps():
        if tap.n == 0:
            continue
        span = slice(tap.lo, tap.lo + tap.n)
        v, i = max_pool2d(
            _planes(x5[:, :, tap.rows(geo.stride[0])]),
            k,
            s,
            p,
            geo.dilation[1:],
            geo.ceil,
            return_indices=True,
        )
        v, i = _volumes(v, C), _volumes(i, C)
        u = tap.u0 + geo.stride[0] * np.arange(tap.n)
        kept = best[:, :, span]
        take = (v > kept) | np.isnan(v) | ~seen[span, None, None]
        np.copyto(kept, v, where=take)
        np.copyto(at[:, :, span], i + (u * (m * n))[:, None, None], where=take)
        seen[span] = True
    return best, at


def _scatter(G: np.ndarray, positions: np.ndarray, x5: np.ndarray) -> np.ndarray:
    """∂ℓ/∂X[β,c].flat[I[β,c,…]] += G[β,c,…]: one bincount over every (β, c) volume."""
    B, C = x5.shape[:2]
    volume = int(np.prod(x5.shape[2:]))
    flat = positions.reshape(B * C, -1) + volume * np.arange(B * C)[:, None]
    grad = np.bincount(flat.ravel(), weights=G.reshape(-1), minlength=B * C * volume)
    return grad.astype(x5.dtype, copy=False).reshape(x5.shape)


@overload
def max_pool3d(
    x: np.ndarray,
    kernel_size: int | tuple[int, int, int],
    stride: int | tuple[int, int, int] | None = ...,
    padding: int | tuple[int, int, int] = ...,
    dilation: int | tuple[int, int, int] = ...,
    ceil_mode: bool = ...,
    return_indices: Literal[False] = ...,
) -> np.ndarray: ...


@overload
def max_pool3d(
    x: np.ndarray,
    kernel_size: int | tuple[int, int, int],
    stride: int | tuple[int, int, int] | None = ...,
    padding: int | tuple[int, int, int] = ...,
    dilation: int | tuple[int, int, int] = ...,
    ceil_mode: bool = ...,
    *,
    return_indices: Literal[True],
) -> tuple[np.ndarray, np.ndarray]: ...


@overload
def max_pool3d(
    x: np.ndarray,
    kernel_size: int | tuple[int, int, int],
    stride: int | tuple[int, int, int] | None = ...,
    padding: int | tuple[int, int, int] = ...,
    dilation: int | tuple[int, int, int] = ...,
    ceil_mode: bool = ...,
    return_indices: bool = ...,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]: ...


@_threads.op
def max_pool3d(
    x: np.ndarray,
    kernel_size: int | tuple[int, int, int],
    stride: int | tuple[int, int, int] | None = None,
    padding: int | tuple[int, int, int] = 0,
    dilation: int | tuple[int, int, int] = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Max pooling over 3-D windows, as ``torch.nn.functional.max_pool3d``.

    Y[β,c,t,i,j] = max_{e,a,b} X̃[β, c, s0(t-1)+d0(e-1)+1, s1(i-1)+d1(a-1)+1, s2(j-1)+d2(b-1)+1],
    X̃ padded with -∞.

    x : (B, C, D, m, n) or unbatched (C, D, m, n), float32/float64. kernel_size, stride
    (default kernel_size), padding (at most kernel_size // 2 per axis), dilation: int or
    triple. Returns Y (B, C, D_out, H_out, W_out), D_out = floor((D + 2p0 - d0(f0-1) - 1)/s0)
    + 1 (the ceiling with ``ceil_mode``, less one where the last window would start past the
    input and its left padding), likewise H_out, W_out; x's dtype. With ``return_indices``
    also I, int64 of Y's shape: the flat position u·m·n + v·n + z in its (D, m, n) volume of
    the element each window chose — PyTorch's CPU rule: the first maximum in (depth, row,
    column) window order, or the last NaN when the window holds one.

    >>> import numpy as np
    >>> y, i = max_pool3d(np.arange(8.0).reshape(1, 2, 2, 2), 2, return_indices=True)
    >>> y.ravel(), i.ravel()
    (array([7.]), array([7]))
    """
    func = "max_pool3d"
    indices = _flag("return_indices", return_indices, func=func)
    geo = _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode, func=func)
    if indices:
        y, at = _max_choice(geo)
        return _as_given(y, geo.unbatched), _as_given(at, geo.unbatched)
    # the maximum needs no order: over the depth taps first, then each plane in 2-D
    B, C = geo.x.shape[:2]
    depth_max = np.full((B, C, geo.out[0], *geo.x.shape[3:]), -np.inf, dtype=geo.x.dtype)
    for tap in geo.depth_taps():
        if tap.n:
            run = depth_max[:, :, tap.lo : tap.lo + tap.n]
            np.maximum(run, geo.x[:, :, tap.rows(geo.stride[0])], out=run)
    k, s, p = geo.plane_args()
    y = max_pool2d(_planes(depth_max), k, s, p, geo.dilation[1:], geo.ceil)
    return _as_given(_volumes(y, C), geo.unbatched)


@_threads.op
def max_pool3d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    kernel_size: int | tuple[int, int, int],
    stride: int | tuple[int, int, int] | None = None,
    padding: int | tuple[int, int, int] = 0,
    dilation: int | tuple[int, int, int] = 1,
    ceil_mode: bool = False,
    indices: np.ndarray | None = None,
) -> np.ndarray:
    """∂ℓ/∂X for ``max_pool3d``: each G[β,c,t,i,j] goes to the one element its window chose
    (the element ``return_indices`` names: first maximum in (depth, row, column) order, the
    last NaN if any).

    ∂ℓ/∂X[β,c,u,v,z] = Σ_{t,i,j} G[β,c,t,i,j] · [ (u, v, z) is the element window (t,i,j) chose ]

    grad_output: (B, C, D_out, H_out, W_out) like the forward's output (same options);
    ``indices``: the forward's I, if kept (then x is read for its shape and dtype only).
    Returns an array like x.
    """
    func = "max_pool3d_backward"
    geo = _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode, func=func)
    G = _grad_output(grad_output, x, geo.out, func=func)
    if indices is None:
        _, positions = _max_choice(geo)
    else:
        if not (isinstance(indices, np.ndarray) and np.issubdtype(indices.dtype, np.integer)):
            raise TypeError(f"{func}: indices: expected an integer array, got {indices!r}")
        check_shape("indices", indices, np.shape(grad_output), func=func)
        volume = int(np.prod(geo.x.shape[2:]))
        if indices.size and (indices.min() < 0 or indices.max() >= volume):
            raise ValueError(
                f"{func}: indices: expected positions in [0, {volume}) (a volume of x), got "
                f"values from {indices.min()} to {indices.max()}"
            )
        positions = indices[None] if geo.unbatched else indices
    return _as_given(_scatter(G, positions, geo.x), geo.unbatched)
