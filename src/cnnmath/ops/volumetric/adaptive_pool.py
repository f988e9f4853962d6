"""adaptive_avg_pool3d and adaptive_max_pool3d with their backward passes: output cell t of n
along a length D reads [⌊t·D/n⌋, ⌈(t+1)·D/n⌉), per axis (PyTorch's windows); the depth
windows here, the 2-D adaptive pooling along height and width."""

from __future__ import annotations

from typing import Any, Literal, overload

import numpy as np

from .. import _threads
from ..pool import (
    adaptive_avg_pool2d,
    adaptive_avg_pool2d_backward,
    adaptive_max_pool2d,
)
from ..pool._common import _flag
from ..pool.adaptive_pool import (
    _adaptive_sizes,
    _adaptive_windows,
    _AxisTaps,
    _covering_windows,
    _window_sum,
)
from ._common import Triple, _grad_output, _volume
from ._pool_common import _as_given, _planes, _volumes
from .max_pool import _scatter

__all__ = [
    "adaptive_avg_pool3d",
    "adaptive_avg_pool3d_backward",
    "adaptive_max_pool3d",
    "adaptive_max_pool3d_backward",
]


def _adaptive_geometry(x: Any, output_size: Any, *, func: str) -> tuple[np.ndarray, bool, Triple]:
    x5, unbatched = _volume("x", x, func=func)
    if min(x5.shape[2:]) < 1:
        raise ValueError(f"{func}: x: expected depth, height and width >= 1, got {x.shape}")

    out = _adaptive_sizes(output_size, x5.shape[2:], "a triple (depth, height, width)", func=func)
    return x5, unbatched, (out[0], out[1], out[2])


def _depth_windows(x5: np.ndarray, n: int) -> tuple[np.ndarray, _AxisTaps]:
    """x5 as (B·C, D, m·n) and the taps of its n depth windows (axis 1)."""
    B, C, D, h, w = x5.shape
    return x5.reshape(B * C, D, h * w), _AxisTaps(1, D, *_adaptive_windows(D, n))


@_threads.op
def adaptive_avg_pool3d(
    x: np.ndarray, output_size: int | tuple[int | None, int | None, int | None]
) -> np.ndarray:
    """Adaptive average pooling, as ``torch.nn.functional.adaptive_avg_pool3d``.

    Y[β,c,t,i,j] = mean of X[β,c] over depths [⌊t·D/D'⌋, ⌈(t+1)·D/D'⌉) × rows
    [⌊i·m/H'⌋, ⌈(i+1)·m/H'⌉) × columns [⌊j·n/W'⌋, ⌈(j+1)·n/W'⌉) (0-based); output_size 1
    is global average pooling. The windows are separable: the mean over the depth window,
    then ``adaptive_avg_pool2d`` of each plane.

    x : (B, C, D, m, n) or unbatched (C, D, m, n). output_size : an int or a triple
    (D', H', W'), each >= 1, None keeping the input's size. Returns (B, C, D', H', W').

    >>> import numpy as np
    >>> adaptive_avg_pool3d(np.arange(8.0).reshape(1, 2, 2, 2), (2, 1, 1)).ravel()
    array([1.5, 5.5])
    """
    x5, unbatched, out = _adaptive_geometry(x, output_size, func="adaptive_avg_pool3d")
    B, C, D, m, n = x5.shape
    X, depth = _depth_windows(x5, out[0])
    depth_mean = _window_sum(X, depth) * (1 / depth.length).astype(x5.dtype)[None, :, None]
    y = adaptive_avg_pool2d(depth_mean.reshape(B, C * out[0], m, n), out[1:])
    return _as_given(_volumes(y, C), unbatched)


@_threads.op
def adaptive_avg_pool3d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    output_size: int | tuple[int | None, int | None, int | None],
) -> np.ndarray:
    """∂ℓ/∂X for ``adaptive_avg_pool3d``: each element of window (t, i, j) receives
    G[β,c,t,i,j] divided by the window's size.

    ∂ℓ/∂X[β,c,u,v,z] = Σ_{(t,i,j) holding (u,v,z)} G[β,c,t,i,j] / (|depths_t|·|rows_i|·|cols_j|)

    grad_output: (B, C, D', H', W') like the forward's output; returns an array like x.
    """
    func = "adaptive_avg_pool3d_backward"
    x5, unbatched, out = _adaptive_geometry(x, output_size, func=func)
    G = _grad_output(grad_output, x, out, func=func)
    B, C, D, m, n = x5.shape
    shape_only = np.empty((B, C * out[0], m, n), dtype=x5.dtype)  # never read
    g = adaptive_avg_pool2d_backward(_planes(G), shape_only, out[1:])
    g = g.reshape(B * C, out[0], m * n)
    _, length = _adaptive_windows(D, out[0])
    g = g * (1 / length).astype(x5.dtype)[None, :, None]
    grad = _window_sum(g, _AxisTaps(1, out[0], *_covering_windows(D, out[0])))
    return _as_given(grad.reshape(x5.shape), unbatched)


def _adaptive_max_choice(x5: np.ndarray, out: Triple) -> tuple[np.ndarray, np.ndarray]:
    """(Y, I) of adaptive max pooling, PyTorch's choice: per depth tap t of the windows
    (a window shorter than the longest repeats its last depth, which changes nothing),
    ``adaptive_max_pool2d``'s choice; across taps the later one wins if greater or NaN."""
    B, C, D, m, n = x5.shape
    depth = _AxisTaps(2, D, *_adaptive_windows(D, out[0]))

    def choice(t: int) -> tuple[np.ndarray, np.ndarray]:
        u = depth.index(t)
        v, i = adaptive_max_pool2d(_planes(np.take(x5, u, axis=2)), out[1:], return_indices=True)
        return _volumes(v, C), _volumes(i, C) + (u * (m * n))[:, None, None]

    best, at = choice(0)
    for t in range(1, depth.L):
        v, i = choice(t)
        take = (v > best) | np.isnan(v)
        np.copyto(best, v, where=take)
        np.copyto(at, i, where=take)
    return best, at


@overload
def adaptive_max_pool3d(
    x: np.ndarray,
    output_size: int | tuple[int | None, int | None, int | None],
    return_indices: Literal[False] = ...,
) -> np.ndarray: ...


@overload
def adaptive_max_pool3d(
    x: np.ndarray,
    output_size: int | tuple[int | None, int | None, int | None],
    return_indices: Literal[True],
) -> tuple[np.ndarray, np.ndarray]: ...


@overload
def adaptive_max_pool3d(
    x: np.ndarray,
    output_size: int | tuple[int | None, int | None, int | None],
    return_indices: bool = ...,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]: ...


@_threads.op
def adaptive_max_pool3d(
    x: np.ndarray,
    output_size: int | tuple[int | None, int | None, int | None],
    return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Adaptive max pooling, as ``torch.nn.functional.adaptive_max_pool3d``.

    Y[β,c,t,i,j] = max of X[β,c] over the windows of ``adaptive_avg_pool3d``; with
    ``return_indices`` also the int64 flat positions u·m·n + v·n + z of the chosen elements
    (first maximum in (depth, row, column) order, the last NaN if any).

    x : (B, C, D, m, n) or unbatched (C, D, m, n). output_size : an int or a triple, None
    keeping the input's size. Returns (B, C, D', H', W').

    >>> import numpy as np
    >>> adaptive_max_pool3d(np.arange(8.0).reshape(1, 2, 2, 2), (2, 1, 1)).ravel()
    array([3., 7.])
    """
    func = "adaptive_max_pool3d"
    indices = _flag("return_indices", return_indices, func=func)
    x5, unbatched, out = _adaptive_geometry(x, output_size, func=func)
    if indices:
        y, at = _adaptive_max_choice(x5, out)
        return _as_given(y, unbatched), _as_given(at, unbatched)
    B, C, D, m, n = x5.shape
    X, depth = _depth_windows(x5, out[0])
    depth_max = np.array(depth.read(X, 0))
    for t in range(1, depth.L):
        np.maximum(depth_max, depth.read(X, t), out=depth_max)
    y = adaptive_max_pool2d(depth_max.reshape(B, C * out[0], m, n), out[1:])
    return _as_given(_volumes(y, C), unbatched)


@_threads.op
def adaptive_max_pool3d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    output_size: int | tuple[int | None, int | None, int | None],
) -> np.ndarray:
    """∂ℓ/∂X for ``adaptive_max_pool3d``: each G[β,c,t,i,j] is added to the element its window
    chose (overlapping windows may send several to one element).

    grad_output: (B, C, D', H', W') like the forward's output; returns an array like x.
    """
    func = "adaptive_max_pool3d_backward"
    x5, unbatched, out = _adaptive_geometry(x, output_size, func=func)
    G = _grad_output(grad_output, x, out, func=func)
    _, positions = _adaptive_max_choice(x5, out)
    return _as_given(_scatter(G, positions, x5), unbatched)
