"""Adaptive max and average pooling and the backward passes: output cell i of n over a
length m reads the indices [floor(i·m/n), ceil((i+1)·m/n)), 0-based."""

from __future__ import annotations

from typing import Any, Literal, overload

import numpy as np

from ..._checks import batched_image, check_float_array
from .. import _threads
from .._geometry import Pair
from ._common import _as_batch, _flag, _grad_output, _per_block
from .avg_pool import avg_pool2d, avg_pool2d_backward
from .max_pool import max_pool2d, max_pool2d_backward

# Windows are separable: cell (i, j) reads rows [r0_i, r1_i) × columns [c0_j, c1_j), so each
# op is two passes, one per axis. Along an axis the windows differ in length; each pass loops
# over the taps t of the longest one, reading index min(start + t, last) of every window at
# once (a gather; the sum masks the taps a window lacks, the maximum needs no mask: the
# repeated last element changes nothing). When the length divides evenly the windows are
# tiles and a reshape replaces the gather.


def _adaptive_geometry(x: Any, output_size: Any, *, func: str) -> tuple[np.ndarray, bool, Pair]:
    check_float_array("x", x, func=func)
    x4, unbatched = batched_image("x", x, func=func)
    if min(x4.shape[2:]) < 1:
        raise ValueError(f"{func}: x: expected height and width >= 1, got shape {np.shape(x)}")

    out = _adaptive_sizes(output_size, x4.shape[2:], "a pair (height, width)", func=func)
    return x4, unbatched, (out[0], out[1])


def _adaptive_sizes(
    output_size: Any, spatial: tuple[int, ...], several: str, *, func: str
) -> list[int]:
    """An adaptive pooling's output sizes: ``output_size`` an int, or one int or None (the
    input's size kept) per axis of ``spatial``; ``several`` names the tuple in errors."""

    def entry(v: Any) -> bool:
        return v is None or (isinstance(v, (int, np.integer)) and not isinstance(v, bool))

    if isinstance(output_size, (int, np.integer)) and not isinstance(output_size, bool):
        sizes = [output_size] * len(spatial)
    elif (
        isinstance(output_size, (tuple, list))
        and len(output_size) == len(spatial)
        and all(entry(v) for v in output_size)
    ):
        sizes = list(output_size)
    else:
        raise TypeError(
            f"{func}: output_size: expected an int or {several} of ints or None (None keeps "
            f"the input's size), got {output_size!r}"
        )
    out = [m if v is None else int(v) for v, m in zip(sizes, spatial)]
    if min(out) < 1:
        raise ValueError(f"{func}: output_size: expected sizes >= 1, got {output_size!r}")
    return out


def _adaptive_windows(m: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(first index, length) of each of the n windows over a length m: [⌊i·m/n⌋, ⌈(i+1)·m/n⌉)."""
    i = np.arange(n)
    first = i * m // n
    return first, -(-(i + 1) * m // n) - first


def _covering_windows(m: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """For each index h < m: (first window, how many) of the consecutive windows that read
    it — the transpose of ``_adaptive_windows``, for the backward pass."""
    first, length = _adaptive_windows(m, n)
    h = np.arange(m)
    lo = np.searchsorted(first + length, h, side="right")  # first window ending past h
    hi = np.searchsorted(first, h, side="right") - 1  # last window starting at or before h
    return lo, hi - lo + 1


class _AxisTaps:
    """The taps of windows (first[i], length[i]) along ``axis`` of arrays of length m there."""

    def __init__(self, axis: int, m: int, first: np.ndarray, length: np.ndarray):
        self.axis, self.first, self.length = axis, first, length
        self.n, self.L = len(first), int(length.max())
        self.tiles = m == self.n * self.L and bool((first == self.L * np.arange(self.n)).all())

    def index(self, t: int) -> np.ndarray:
        """The index tap t of each window reads (its last index where it has no tap t)."""
        return np.minimum(self.first + t, self.first + self.length - 1)

    def read(self, a: np.ndarray, t: int) -> np.ndarray:
        """a's values at tap t of every window, the windows along ``axis``."""
        if self.tiles:
            shape = (*a.shape[: self.axis], self.n, self.L, *a.shape[self.axis + 1 :])
            return a.reshape(shape)[(slice(None),) * (self.axis + 1) + (t,)]
        return np.take(a, self.index(t), axis=self.axis)

    def has(self, t: int) -> np.ndarray | bool:
        """Which windows have a tap t (broadcastable along ``axis``; True when all do)."""
        return True if t < self.length.min() else _along(t < self.length, self.axis)


def _along(v: np.ndarray, axis: int) -> np.ndarray:
    """A vector shaped to broadcast along ``axis`` of a (planes, rows, columns) array."""
    shape = [1, 1, 1]
    shape[axis] = len(v)
    return v.reshape(shape)


def _window_sum(a: np.ndarray, taps: _AxisTaps) -> np.ndarray:
    """Σ over each window's taps along the axis."""
    if taps.tiles:
        shape = (*a.shape[: taps.axis], taps.n, taps.L, *a.shape[taps.axis + 1 :])
        return a.reshape(shape).sum(axis=taps.axis + 1)
    total = np.array(taps.read(a, 0))
    for t in range(1, taps.L):
        np.add(total, taps.read(a, t), out=total, where=taps.has(t))
    return total


def _window_argmax(
    a: np.ndarray, taps: _AxisTaps, carried: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each window's chosen maximum along the axis by PyTorch's rule (walking the window in
    order, an element replaces the choice if greater or NaN), its index along the axis, and
    ``carried`` (an array like a) read at the chosen element (that index, if None)."""
    best = np.array(taps.read(a, 0))
    at = np.broadcast_to(_along(taps.index(0), taps.axis), best.shape).copy()
    kept = None if carried is None else np.array(taps.read(carried, 0))
    take = np.empty(best.shape, dtype=bool)
    for t in range(1, taps.L):
        values = taps.read(a, t)
        np.greater(values, best, out=take)
        take |= np.isnan(values)
        np.copyto(best, values, where=take)
        np.copyto(at, _along(taps.index(t), taps.axis), where=take)
        if kept is not None and carried is not None:
            np.copyto(kept, taps.read(carried, t), where=take)
    return best, at, at if kept is None else kept


def _adaptive_taps(x4: np.ndarray, out_hw: Pair) -> tuple[np.ndarray, _AxisTaps, _AxisTaps]:
    """x4's planes (planes, m, n), and the taps of the row and column windows."""
    planes, (m, n) = x4.shape[0] * x4.shape[1], x4.shape[2:]
    rows = _AxisTaps(1, m, *_adaptive_windows(m, out_hw[0]))
    cols = _AxisTaps(2, n, *_adaptive_windows(n, out_hw[1]))
    return x4.reshape(planes, m, n), rows, cols


def _adaptive_max(x4: np.ndarray, out_hw: Pair) -> np.ndarray:
    """(planes, Ho, Wo): each window's maximum (NaN if it holds one)."""
    X, rows, cols = _adaptive_taps(x4, out_hw)
    if cols.tiles and rows.tiles:
        return X.reshape(X.shape[0], rows.n, rows.L, cols.n, cols.L).max(axis=(2, 4))
    y = X
    for taps in (cols, rows):
        y_next = np.array(taps.read(y, 0))
        for t in range(1, taps.L):
            np.maximum(y_next, taps.read(y, t), out=y_next)
        y = y_next
    return y


def _adaptive_argmax(x4: np.ndarray, out_hw: Pair) -> tuple[np.ndarray, np.ndarray]:
    """(planes, Ho, Wo): each window's chosen maximum and its position u·n + v in its plane.

    Columns first, then rows carrying each row's chosen column: the row-major walk of the
    2-D window chooses the same element (first maximum: earliest row holding it, then its
    first column; last NaN: latest row holding one, then its last NaN)."""
    X, rows, cols = _adaptive_taps(x4, out_hw)
    by_col, col, _ = _window_argmax(X, cols)
    y, row, col_at = _window_argmax(by_col, rows, col)
    return y, row * X.shape[2] + col_at


def _tile_kernel(x4: np.ndarray, out_hw: Pair) -> Pair | None:
    """The window (m/H, n/W) when the output size divides the input's: the windows are then
    the tiles of plain pooling with kernel = stride = that window, and its tuned paths (and,
    for global pooling, one whole-plane reduction) serve."""
    (m, n), (H, W) = x4.shape[2:], out_hw
    return (m // H, n // W) if m % H == 0 and n % W == 0 else None


def _global_argmax(x4: np.ndarray) -> np.ndarray:
    """(planes,) positions of each plane's chosen element: the first maximum, or the last
    NaN (np.argmax picks the first maximum, a NaN counting as one)."""
    X = x4.reshape(x4.shape[0] * x4.shape[1], x4.shape[2] * x4.shape[3])
    at = X.argmax(axis=1)
    nan = np.isnan(X)
    has_nan = nan.any(axis=1)
    if has_nan.any():
        at[has_nan] = X.shape[1] - 1 - nan[has_nan, ::-1].argmax(axis=1)
    return at


@overload
def adaptive_max_pool2d(
    x: np.ndarray,
    output_size: int | tuple[int | None, int | None],
    return_indices: Literal[False] = ...,
) -> np.ndarray: ...
@overload
def adaptive_max_pool2d(
    x: np.ndarray,
    output_size: int | tuple[int | None, int | None],
    return_indices: Literal[True],
) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def adaptive_max_pool2d(
    x: np.ndarray,
    output_size: int | tuple[int | None, int | None],
    return_indices: bool = ...,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]: ...
@_threads.op
def adaptive_max_pool2d(
    x: np.ndarray,
    output_size: int | tuple[int | None, int | None],
    return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Adaptive max pooling, as ``torch.nn.functional.adaptive_max_pool2d``.

    Y[β,c,i,j] = max over rows [⌊i·m/H⌋, ⌈(i+1)·m/H⌉) × columns [⌊j·n/W⌋, ⌈(j+1)·n/W⌉)
    of X[β,c] (0-based). Global max pooling is output_size 1: the
    maximum over the whole plane.

    x : (B, C, m, n) or unbatched (C, m, n), float32/float64. output_size : an int or a pair
    (H, W), each >= 1, None meaning the input's size along that axis.
    Returns (B, C, H, W) of x's dtype; with ``return_indices`` also the int64 positions
    u·n + v of the chosen elements, as ``max_pool2d`` (first maximum in row-major order, the
    last NaN if any).

    >>> import numpy as np
    >>> adaptive_max_pool2d(np.arange(12.0).reshape(1, 3, 4), (2, 3))
    array([[[ 5.,  6.,  7.],
            [ 9., 10., 11.]]])
    """
    func = "adaptive_max_pool2d"
    indices = _flag("return_indices", return_indices, func=func)
    x4, unbatched, out_hw = _adaptive_geometry(x, output_size, func=func)
    kernel = _tile_kernel(x4, out_hw)
    if kernel is not None and out_hw != (1, 1):
        return max_pool2d(x, kernel, return_indices=indices)

    def compute(planes: np.ndarray, p0: int, p1: int) -> tuple[np.ndarray, ...]:
        block = planes[None]
        if out_hw == (1, 1):
            y = planes.max(axis=(1, 2))[:, None, None]  # NaN-propagating
            return (y, _global_argmax(block)[:, None, None]) if indices else (y,)
        if not indices:
            return (_adaptive_max(block, out_hw),)
        return _adaptive_argmax(block, out_hw)

    outputs = [(out_hw, x4.dtype)] + ([(out_hw, np.int64)] if indices else [])
    results = [_as_batch(r, x4, unbatched) for r in _per_block(x4, outputs, compute)]
    return (results[0], results[1]) if indices else results[0]


@_threads.op
def adaptive_max_pool2d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    output_size: int | tuple[int | None, int | None],
) -> np.ndarray:
    """∂ℓ/∂X for ``adaptive_max_pool2d``: each G[β,c,i,j] is added to the element its window
    chose (where windows overlap, one element may collect several).

    ∂ℓ/∂X[β,c,u,v] = Σ_{i,j} G[β,c,i,j] · [ (u, v) is the element window (i, j) chose ]

    grad_output: (B, C, H, W) like the forward's output; returns an array like x.
    """
    func = "adaptive_max_pool2d_backward"
    x4, unbatched, out_hw = _adaptive_geometry(x, output_size, func=func)
    G = _grad_output(grad_output, x, out_hw, func=func)
    kernel = _tile_kernel(x4, out_hw)
    if kernel is not None and out_hw != (1, 1):
        return max_pool2d_backward(grad_output, x, kernel)
    plane = x4.shape[2] * x4.shape[3]
    G_planes = G.reshape(-1, out_hw[0] * out_hw[1])

    def compute(planes: np.ndarray, p0: int, p1: int) -> tuple[np.ndarray]:
        block, g = planes[None], G_planes[p0:p1]
        if out_hw == (1, 1):
            grad = np.zeros((p1 - p0, plane), dtype=x4.dtype)
            np.put_along_axis(grad, _global_argmax(block)[:, None], g, axis=1)
            return (grad,)
        _, positions = _adaptive_argmax(block, out_hw)
        flat = positions.reshape(p1 - p0, -1) + plane * np.arange(p1 - p0)[:, None]
        grad = np.bincount(flat.ravel(), weights=g.reshape(-1), minlength=(p1 - p0) * plane)
        return (grad.reshape(p1 - p0, plane),)

    (grad_x,) = _per_block(x4, [((plane,), x4.dtype)], compute)
    return grad_x.reshape(np.shape(x))


@_threads.op
def adaptive_avg_pool2d(
    x: np.ndarray, output_size: int | tuple[int | None, int | None]
) -> np.ndarray:
    """Adaptive average pooling, as ``torch.nn.functional.adaptive_avg_pool2d``.

    Y[β,c,i,j] = mean of X[β,c] over rows [⌊i·m/H⌋, ⌈(i+1)·m/H⌉) × columns
    [⌊j·n/W⌋, ⌈(j+1)·n/W⌉) (0-based). Global average pooling is
    output_size 1: the mean over the whole plane.

    x : (B, C, m, n) or unbatched (C, m, n), float32/float64. output_size : an int or a pair
    (H, W), each >= 1, None meaning the input's size along that axis.
    Returns (B, C, H, W) of x's dtype.

    >>> import numpy as np
    >>> adaptive_avg_pool2d(np.arange(6.0).reshape(1, 2, 3), (1, 2))
    array([[[2., 3.]]])
    """
    x4, unbatched, out_hw = _adaptive_geometry(x, output_size, func="adaptive_avg_pool2d")
    kernel = _tile_kernel(x4, out_hw)
    if kernel is not None and out_hw != (1, 1):
        return avg_pool2d(x, kernel)

    def compute(planes: np.ndarray, p0: int, p1: int) -> tuple[np.ndarray]:
        if out_hw == (1, 1):
            total = planes.sum(axis=(1, 2))[:, None, None]
            return (total * np.asarray(1 / (x4.shape[2] * x4.shape[3]), dtype=x4.dtype),)
        y, rows, cols = _adaptive_taps(planes[None], out_hw)
        for taps in (cols, rows):
            y = _window_sum(y, taps)
            y *= _along((1 / taps.length).astype(x4.dtype), taps.axis)
        return (y,)

    (y,) = _per_block(x4, [(out_hw, x4.dtype)], compute)
    return _as_batch(y, x4, unbatched)


@_threads.op
def adaptive_avg_pool2d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    output_size: int | tuple[int | None, int | None],
) -> np.ndarray:
    """∂ℓ/∂X for ``adaptive_avg_pool2d``: every element of window (i, j) receives
    G[β,c,i,j] divided by the window's size.

    ∂ℓ/∂X[β,c,u,v] = Σ_{(i,j): window (i,j) holds (u,v)} G[β,c,i,j] / (rows_i · cols_j)

    grad_output: (B, C, H, W) like the forward's output; returns an array like x.
    """
    func = "adaptive_avg_pool2d_backward"
    x4, unbatched, out_hw = _adaptive_geometry(x, output_size, func=func)
    G = _grad_output(grad_output, x, out_hw, func=func)
    kernel = _tile_kernel(x4, out_hw)
    if kernel is not None and out_hw != (1, 1):
        return avg_pool2d_backward(grad_output, x, kernel)
    m, n = x4.shape[2:]
    G_planes = G.reshape(-1, *out_hw)

    def compute(planes: np.ndarray, p0: int, p1: int) -> tuple[np.ndarray]:
        g = G_planes[p0:p1]
        if out_hw == (1, 1):
            share = g * np.asarray(1 / (m * n), dtype=x4.dtype)
            return (np.broadcast_to(share, (p1 - p0, m, n)),)
        # the forward's two passes transposed, in reverse order: rows, then columns; each
        # input index h sums the outputs of the consecutive windows that read it
        for axis, size, length in ((1, m, out_hw[0]), (2, n, out_hw[1])):
            _, window_length = _adaptive_windows(size, length)
            g = g * _along((1 / window_length).astype(x4.dtype), axis)
            g = _window_sum(g, _AxisTaps(axis, length, *_covering_windows(size, length)))
        return (g,)

    (grad_x,) = _per_block(x4, [((m, n), x4.dtype)], compute)
    return grad_x.reshape(np.shape(x))
