"""Max unpooling, 1-D and 2-D, and the backward passes: each value put back at the
position its index names, zeros elsewhere (the per-plane scatter and gather that
`cnnmath.ops.volumetric` uses for 3-D too)."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from ..._checks import (
    check_float_array,
    check_ndim,
    check_same_dtype,
    check_shape,
    int_pair,
    int_triple,
)
from .. import _threads
from ._common import _check_indices, _plane_spans


class _Unpool(NamedTuple):
    x: np.ndarray  # (B, C, *spatial)
    indices: np.ndarray  # x's shape, intp
    unbatched: bool
    out: tuple[int, ...]  # the output's spatial sizes


_AXES = {1: "(L,)", 2: "(height, width)", 3: "(depth, height, width)"}
_LAYOUTS = {
    1: "(N, C, L), or (C, L) for one signal",
    2: "(N, C, H, W), or (C, H, W) for one image",
    3: "(N, C, D, H, W), or (C, D, H, W) for one volume",
}


def _ints(name: str, value: Any, rank: int, *, minimum: int, func: str) -> tuple[int, ...]:
    """An int or ``rank`` ints (an int or a 1-tuple for rank 1), each ``>= minimum``."""
    if rank == 2:
        return int_pair(name, value, minimum=minimum, func=func)
    if rank == 3:
        return int_triple(name, value, minimum=minimum, func=func)
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{func}: {name}: expected an int or a 1-tuple of ints, got {value!r}")
    if value < minimum:
        raise ValueError(f"{func}: {name}: expected values >= {minimum}, got {value!r}")
    return (int(value),)


def _unpool_geometry(
    x: Any,
    indices: Any,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    output_size: Any,
    func: str,
    rank: int = 2,
) -> _Unpool:
    """x (B, C, *spatial) or unbatched, ``rank`` spatial axes; the output size (the default
    (h - 1)·s - 2p + k per axis, or ``output_size``); the indices checked against it."""
    check_float_array("x", x, func=func)
    hint = "for a single channel add the axes with x[None, None]" if x.ndim == rank else ""
    check_ndim("x", x, (rank + 1, rank + 2), func=func, layout=_LAYOUTS[rank], hint=hint)
    unbatched = x.ndim == rank + 1
    xb = x[None] if unbatched else x
    k = _ints("kernel_size", kernel_size, rank, minimum=1, func=func)
    s = k if stride is None else _ints("stride", stride, rank, minimum=1, func=func)
    p = _ints("padding", padding, rank, minimum=0, func=func)
    default = [(m - 1) * s_ - 2 * p_ + f for m, f, s_, p_ in zip(xb.shape[2:], k, s, p)]
    if output_size is None:
        if min(default) < 1:
            raise ValueError(
                f"{func}: padding: expected an output of size >= 1, got (h - 1)·s - 2p + k = "
                f"{tuple(default)} for input {xb.shape[2:]}, kernel_size {k}, stride {s}, "
                f"padding {p}"
            )
        out = default
    else:
        out = _unpool_output_size(output_size, default, s, func=func)
    pool = f"max_pool{rank}d"
    _check_indices(indices, np.shape(x), "x's", tuple(out), "an output plane", func=func, pool=pool)
    idx = (indices[None] if unbatched else indices).astype(np.intp, copy=False)
    return _Unpool(xb, idx, unbatched, tuple(out))


def _unpool_output_size(
    output_size: Any, default: list[int], s: tuple[int, ...], *, func: str
) -> list[int]:
    """An explicit output_size: the spatial sizes, or (N, C, *spatial), each strictly within
    the stride of the default size (the sizes a max pooling with this stride maps to the
    input's size)."""
    rank = len(default)
    if (
        rank == 1
        and isinstance(output_size, (int, np.integer))
        and not isinstance(output_size, bool)
    ):
        output_size = (output_size,)
    sizes = list(output_size) if isinstance(output_size, (tuple, list)) else None
    if sizes is not None and len(sizes) == rank + 2:
        sizes = sizes[2:]
    if (
        sizes is None
        or len(sizes) != rank
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in sizes)
    ):
        axes = _AXES[rank]
        raise TypeError(
            f"{func}: output_size: expected None or {axes} or (N, C, {axes.strip('(),')}) "
            f"of ints, got {output_size!r}"
        )
    low = [d - s_ for d, s_ in zip(default, s)]
    high = [d + s_ for d, s_ in zip(default, s)]
    if not all(lo < v < hi and v >= 1 for v, lo, hi in zip(sizes, low, high)):
        raise ValueError(
            f"{func}: output_size: expected sizes >= 1 strictly between {tuple(low)} and "
            f"{tuple(high)} (the default {tuple(default)} ± stride), got {output_size!r}"
        )
    return [int(v) for v in sizes]


def _unpool(geo: _Unpool) -> np.ndarray:
    """Y of ``geo``: per (batch, channel) plane, zeros then Y.flat[I] = X (np.put_along_axis
    over all planes of a block at once: the later of two equal indices wins)."""
    planes = geo.x.shape[0] * geo.x.shape[1]
    y = np.empty((planes, math.prod(geo.out)), dtype=geo.x.dtype)
    size = math.prod(geo.x.shape[2:])  # (not -1: planes may be 0)
    indices, values = geo.indices.reshape(planes, size), geo.x.reshape(planes, size)

    def block(p0: int, p1: int) -> None:
        y[p0:p1] = 0
        np.put_along_axis(y[p0:p1], indices[p0:p1], values[p0:p1], axis=1)

    _threads.parallel(block, _plane_spans(planes, y.shape[1] * y.itemsize))
    y = y.reshape(*geo.x.shape[:2], *geo.out)
    return y[0] if geo.unbatched else y


def _unpool_backward(grad_output: Any, x: np.ndarray, geo: _Unpool, *, func: str) -> np.ndarray:
    """∂ℓ/∂X[β,c,·] = G[β,c].flat[I[β,c,·]]: a gather per plane."""
    check_float_array("grad_output", grad_output, func=func)
    check_same_dtype(func, grad_output=grad_output, x=x)
    check_shape(
        "grad_output", grad_output, (*x.shape[: x.ndim - len(geo.out)], *geo.out), func=func
    )
    planes = geo.x.shape[0] * geo.x.shape[1]
    flat = grad_output.reshape(planes, math.prod(geo.out))  # (not -1: planes may be 0)
    indices = geo.indices.reshape(planes, math.prod(geo.x.shape[2:]))
    grad_x = np.empty(indices.shape, dtype=flat.dtype)

    def block(p0: int, p1: int) -> None:
        grad_x[p0:p1] = np.take_along_axis(flat[p0:p1], indices[p0:p1], axis=1)

    _threads.parallel(block, _plane_spans(planes, flat.shape[1] * flat.itemsize))
    return grad_x.reshape(np.shape(x))


@_threads.op
def max_unpool2d(
    x: np.ndarray,
    indices: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    output_size: tuple[int, ...] | None = None,
) -> np.ndarray:
    """The partial inverse of ``max_pool2d``, as ``torch.nn.functional.max_unpool2d``.

    Y[β,c] = 0 except Y[β,c].flat[I[β,c,i,j]] = X[β,c,i,j]: each value goes back to the
    position its index names in a plane of the output (0-based u·W_out + v), zeros elsewhere.

    x : (B, C, h, w) or unbatched (C, h, w), float32/float64; indices : an integer array of
    x's shape, values in [0, H_out·W_out) — what ``max_pool2d(..., return_indices=True)``
    returns. kernel_size, stride (default kernel_size), padding: the max_pool2d's, used only
    for the output size H_out = (h - 1)s - 2p + k1 (likewise W_out), unless ``output_size``
    ((H, W) or (N, C, H, W)) picks one of the sizes strictly within a stride of it.
    Returns (B, C, H_out, W_out) of x's dtype. Where two indices coincide the later one in
    row-major order wins (as PyTorch's CPU kernel).

    >>> import numpy as np
    >>> max_unpool2d(np.array([[[5.0]]]), np.array([[[3]]]), 2)
    array([[[0., 0.],
            [0., 5.]]])
    """
    geo = _unpool_geometry(x, indices, kernel_size, stride, padding, output_size, "max_unpool2d")
    return _unpool(geo)


@_threads.op
def max_unpool2d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    indices: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    output_size: tuple[int, ...] | None = None,
) -> np.ndarray:
    """∂ℓ/∂X for ``max_unpool2d``: the gather of G at the indices,
    ∂ℓ/∂X[β,c,i,j] = G[β,c].flat[I[β,c,i,j]].

    grad_output: (B, C, H_out, W_out) like the forward's output; returns an array like x.
    (With repeated indices this is PyTorch's gradient too, though only the last of the
    repeated values reaches the output.)
    """
    func = "max_unpool2d_backward"
    geo = _unpool_geometry(x, indices, kernel_size, stride, padding, output_size, func)
    return _unpool_backward(grad_output, x, geo, func=func)


@_threads.op
def max_unpool1d(
    x: np.ndarray,
    indices: np.ndarray,
    kernel_size: int | tuple[int],
    stride: int | tuple[int] | None = None,
    padding: int | tuple[int] = 0,
    output_size: int | tuple[int, ...] | None = None,
) -> np.ndarray:
    """The partial inverse of a 1-D max pooling, as ``torch.nn.functional.max_unpool1d``.

    Y[β,c] = 0 except Y[β,c,I[β,c,i]] = X[β,c,i] (0-based positions in the output signal).

    x : (B, C, l) or one signal (C, l), float32/float64; indices : an integer array of x's
    shape, values in [0, L_out) — what ``MaxPool1d(..., return_indices=True)`` returns.
    kernel_size, stride (default kernel_size), padding: the pool's (ints or 1-tuples), used
    only for the output size L_out = (l - 1)s - 2p + k, unless ``output_size`` ((L,) or
    (N, C, L)) picks one of the sizes strictly within a stride of it. Returns (B, C, L_out)
    of x's dtype; of two equal indices the later one wins (as PyTorch's CPU kernel).

    >>> import numpy as np
    >>> max_unpool1d(np.array([[5.0, 7.0]]), np.array([[1, 2]]), 2)
    array([[0., 5., 7., 0.]])
    """
    geo = _unpool_geometry(x, indices, kernel_size, stride, padding, output_size, "max_unpool1d", 1)
    return _unpool(geo)


@_threads.op
def max_unpool1d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    indices: np.ndarray,
    kernel_size: int | tuple[int],
    stride: int | tuple[int] | None = None,
    padding: int | tuple[int] = 0,
    output_size: int | tuple[int, ...] | None = None,
) -> np.ndarray:
    """∂ℓ/∂X for ``max_unpool1d``: ∂ℓ/∂X[β,c,i] = G[β,c,I[β,c,i]] (a gather).

    grad_output: (B, C, L_out) like the forward's output; returns an array like x.
    """
    func = "max_unpool1d_backward"
    geo = _unpool_geometry(x, indices, kernel_size, stride, padding, output_size, func, 1)
    return _unpool_backward(grad_output, x, geo, func=func)
