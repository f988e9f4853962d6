"""Max pooling and its backward (the formulas, output size and ``ceil_mode`` are in the
docstring of `cnnmath.ops.pool`), and the routing of the gradient to the chosen elements."""

from __future__ import annotations

from typing import Literal, overload

import numpy as np

from .. import _threads
from ._common import (
    _as_batch,
    _by_planes,
    _check_indices,
    _flag,
    _Geometry,
    _geometry,
    _grad_output,
    _in_blocks,
    _Layout,
    _separable,
    _small_tiles,
    _tile_reduce,
    _tiled,
)
from ._max_choice import (
    _TINY,
    _argmax_positions,
    _choose,
    _max,
    _max_hits,
    _tap_positions,
    _tile_max_backward,
    _tile_walk,
    _tiny_tile_indices,
)


@overload
def max_pool2d(
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = ...,
    padding: int | tuple[int, int] = ...,
    dilation: int | tuple[int, int] = ...,
    ceil_mode: bool = ...,
    return_indices: Literal[False] = ...,
) -> np.ndarray: ...
@overload
def max_pool2d(
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None,
    padding: int | tuple[int, int],
    dilation: int | tuple[int, int],
    ceil_mode: bool,
    return_indices: Literal[True],
) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def max_pool2d(
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = ...,
    padding: int | tuple[int, int] = ...,
    dilation: int | tuple[int, int] = ...,
    ceil_mode: bool = ...,
    *,
    return_indices: Literal[True],
) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def max_pool2d(
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = ...,
    padding: int | tuple[int, int] = ...,
    dilation: int | tuple[int, int] = ...,
    ceil_mode: bool = ...,
    return_indices: bool = ...,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]: ...
@_threads.op
def max_pool2d(
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Max pooling, as ``torch.nn.functional.max_pool2d``.

    Y[β,c,i,j] = max_{1<=a<=k1, 1<=b<=k2} X̃[β, c, s(i-1) + d(a-1) + 1, s(j-1) + d(b-1) + 1],
    X̃ padded with -∞ (p on each side; with ``ceil_mode`` as far past as the last window runs).

    x : (B, C, m, n) or unbatched (C, m, n), float32/float64. kernel_size, stride (default:
    kernel_size), padding (at most kernel_size // 2), dilation: int or pair.
    Returns Y, (B, C, H_out, W_out) with H_out = floor((m + 2p - d(k1-1) - 1)/s) + 1 (the
    ceiling with ``ceil_mode``, see the module docstring), x's dtype; with ``return_indices``
    the pair (Y, I), I int64 of Y's shape holding the position u·n + v in its (m, n) plane of
    x of the element each window chose (0-based, padding not counted: PyTorch's flattening,
    what ``max_unpool2d`` reads). The choice is PyTorch's CPU rule: the first maximum in
    row-major window order, or the last NaN when the window holds one (Y is then NaN).

    >>> import numpy as np
    >>> max_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2)[0, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    >>> max_pool2d(np.arange(16.0).reshape(1, 4, 4), 3, 2, ceil_mode=True, return_indices=True)[1]
    array([[[10, 11],
            [14, 15]]])
    """
    func = "max_pool2d"
    indices = _flag("return_indices", return_indices, func=func)
    geo = _geometry(x, kernel_size, stride, padding, dilation, ceil_mode, func=func)
    if not indices and _small_tiles(geo):
        y4 = np.empty((*geo.x.shape[:2], *geo.out_hw), dtype=geo.x.dtype)
        _tile_reduce(geo.x, geo.kernel, np.maximum, y4)
        return y4[0] if geo.unbatched else y4
    if indices and geo.x.size <= _TINY and _small_tiles(geo):
        found = _tiny_tile_indices(geo)
        if found is not None:
            return found
    y = _by_planes(geo.x, geo.out_hw)
    positions = _by_planes(geo.x, geo.out_hw, np.int64) if indices else None

    def block(p0: int, p1: int, part: _Geometry) -> None:
        if positions is None:
            layout = _Layout(part, -np.inf)
            if layout.tiles:  # two passes over strided views of x instead of k1·k2
                _separable(part, np.maximum, -np.inf, out=y[p0:p1])
            else:
                y[p0:p1] = layout.real(_max(layout))[0]
            return
        if _tiled(part):
            best, tap = _tile_walk(part)
            _tap_positions(part, tap, out=positions[p0:p1])
            y[p0:p1] = best
            return
        choice = _choose(part)
        if choice is None:  # -inf next to padding: the tap-by-tap rule
            layout = _Layout(part, -np.inf)
            y_wide = _max(layout)
            positions[p0:p1] = _argmax_positions(layout, y_wide)
            y[p0:p1] = layout.real(y_wide)[0]
        else:
            positions[p0:p1] = choice.positions()
            y[p0:p1] = choice.y()

    _in_blocks(geo, block)
    if positions is None:
        return _as_batch(y, geo.x, geo.unbatched)
    return _as_batch(y, geo.x, geo.unbatched), _as_batch(positions, geo.x, geo.unbatched)


def _routed_by(G: np.ndarray, indices: np.ndarray, geo: _Geometry, out: np.ndarray) -> None:
    """out (B·C, m, n) = 0, then out[p].flat[I[p, i, j]] += G[p, i, j] for every plane p,
    block by block of planes (np.add.at: unbuffered, so a position named twice collects
    both; windows in row-major order)."""
    m, n = geo.x.shape[2:]
    G_planes = G.reshape(out.shape[0], G.shape[-2] * G.shape[-1])  # (not -1: B·C may be 0)
    # any integer dtype, its values checked to lie in [0, m·n): as intp (uint64 + int64 has
    # no integer result type)
    I_planes = indices.reshape(out.shape[0], G_planes.shape[1]).astype(np.intp, copy=False)

    def block(p0: int, p1: int, part: _Geometry) -> None:
        at = _threads.scratch("positions", (p1 - p0, I_planes.shape[1]), np.intp)
        np.add(I_planes[p0:p1], (np.arange(p1 - p0) * (m * n))[:, None], out=at)
        target = out[p0:p1]
        target.fill(0)
        np.add.at(target.reshape(-1), at.reshape(-1), G_planes[p0:p1].reshape(-1))

    _in_blocks(geo, block)


def _routed(g: np.ndarray, hit: np.ndarray, out: np.ndarray, g_finite: bool) -> np.ndarray:
    """g where hit, exactly 0 elsewhere. g·hit is that (and twice as fast as a masked copy)
    while g is finite; a NaN or ±inf in g would make g·0 NaN, so then copy through the mask."""
    if g_finite:
        return np.multiply(g, hit, out=out)
    out.fill(0)
    np.copyto(out, g, where=hit)
    return out


@_threads.op
def max_pool2d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    ceil_mode: bool = False,
    indices: np.ndarray | None = None,
) -> np.ndarray:
    """∂ℓ/∂X for ``max_pool2d``: each G[β,c,i,j] is added to the one element of its window
    that ``max_pool2d`` chose (the first maximum in row-major order, the last NaN if any: the
    element its ``return_indices`` names, as PyTorch).

    ∂ℓ/∂X[β,c,u,v] = Σ_{i,j} G[β,c,i,j] · [ (u, v) is the element window (i, j) chose ]

    grad_output: (B, C, H_out, W_out) like ``max_pool2d``'s output (same options); returns
    an array like x. A NaN or ±inf in grad_output reaches only the element its window chose.

    ``indices``: the I that ``max_pool2d(..., return_indices=True)`` returned with Y (an
    integer array of grad_output's shape, positions u·n + v in x's planes). Given, the
    choice is read from I instead of found again in x — what PyTorch's autograd does, and
    most of the backward's time saved: then ∂ℓ/∂X[β,c].flat[I[β,c,i,j]] += G[β,c,i,j], and
    x is read for its shape and dtype only. I is trusted to be the forward's choice: any
    position in the plane is accepted (and receives what is routed to it).
    """
    func = "max_pool2d_backward"
    geo = _geometry(x, kernel_size, stride, padding, dilation, ceil_mode, func=func)
    G = _grad_output(grad_output, x, geo.out_hw, func=func)
    grad_x = _by_planes(geo.x, geo.x.shape[2:])
    if indices is not None:
        _check_indices(
            indices,
            np.shape(grad_output),
            "grad_output's",
            geo.x.shape[2:],
            "a plane of x",
            func=func,
        )
        _routed_by(G, indices[None] if geo.unbatched else indices, geo, out=grad_x)
        return _as_batch(grad_x, geo.x, geo.unbatched)
    if _small_tiles(geo) and _tile_max_backward(geo.x, G, geo.kernel, grad_x):
        return _as_batch(grad_x, geo.x, geo.unbatched)
    G_planes = G.reshape(1, -1, *geo.out_hw)

    def block(p0: int, p1: int, part: _Geometry) -> None:
        choice = _choose(part)
        if choice is not None:
            choice.scatter(G_planes[:, p0:p1], out=grad_x[None, p0:p1])
            return
        # tiles, or -inf next to padding: the tap-by-tap rule
        layout = _Layout(part, -np.inf)
        g = layout.grad_output(G_planes[:, p0:p1])
        g_finite = bool(np.isfinite(g).all())
        if layout.tiles:
            y = _threads.scratch("grid", (p1 - p0, *geo.out_hw), g.dtype)
            _separable(part, np.maximum, -np.inf, out=y)
            if g_finite:  # each tap's share written straight into its view of grad_x
                (Ho, Wo), (k1, k2) = geo.out_hw, geo.kernel
                tiles = grad_x[p0:p1].reshape(p1 - p0, Ho, k1, Wo, k2)
                for (_, (a, e)), hit in zip(layout.taps, _max_hits(layout, y)):
                    np.multiply(g[0], hit[0], out=tiles[:, :, a, :, e])
                return
        else:
            y = _max(layout)
        term = np.empty(g.shape, dtype=g.dtype)  # one buffer for every tap's term
        terms = (_routed(g, hit, term, g_finite) for hit in _max_hits(layout, y))
        layout.scatter(terms, out=grad_x[None, p0:p1])

    _in_blocks(geo, block)
    return _as_batch(grad_x, geo.x, geo.unbatched)
