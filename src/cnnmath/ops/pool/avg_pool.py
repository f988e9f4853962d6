"""Average pooling and its backward, with PyTorch's divisors (the formulas and the
divisor's rules are in the docstring of `cnnmath.ops.pool`)."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .. import _threads
from .._geometry import Pair
from ._common import (
    _NO_DILATION,
    _as_batch,
    _by_planes,
    _flag,
    _Geometry,
    _geometry,
    _grad_output,
    _in_blocks,
    _Layout,
    _separable,
    _separable_spread,
    _small_tiles,
    _tile_reduce,
    _tiled,
)


def _divisor_override(value: Any, *, func: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{func}: divisor_override: expected None or a nonzero int, got {value!r}")
    if value == 0:
        raise ValueError(f"{func}: divisor_override: expected a nonzero int, got 0")
    return int(value)


def _avg_scale(
    geo: _Geometry, count_include_pad: Any, divisor_override: Any, *, func: str
) -> np.ndarray:
    """1/D[i, j] in x's dtype: shape () when one divisor serves every window, else (Ho, Wo)
    (`_divisors`; a cached array: read it, never write it)."""
    include = (
        count_include_pad
        if count_include_pad is True
        else _flag("count_include_pad", count_include_pad, func=func)
    )
    override = _divisor_override(divisor_override, func=func)
    return _divisors(
        geo.x.shape[2:],
        geo.kernel,
        geo.stride,
        geo.padding,
        geo.out_hw,
        include,
        override,
        geo.x.dtype,
    )


@functools.lru_cache(maxsize=256)
def _divisors(
    hw: Pair,
    kernel: Pair,
    stride: Pair,
    padding: Pair,
    out_hw: Pair,
    include: bool,
    override: int | None,
    dtype: np.dtype,
) -> np.ndarray:
    """1/D for `_avg_scale`, read-only (it is shared by every call with these arguments).

    D is separable, D[i, j] = D_h[i]·D_w[j], each factor counting the taps of window i along
    its axis that start at s·i - p: inside [-p, m + p), or inside [0, m) without the padding."""
    if override is not None:
        scale = np.asarray(1 / override, dtype=dtype)
    else:
        counts = []
        for m, f, s, p, size in zip(hw, kernel, stride, padding, out_hw):
            start = s * np.arange(size) - p
            if include:
                counts.append(np.minimum(start + f, m + p) - start)
            else:
                counts.append(np.minimum(start + f, m) - np.maximum(start, 0))
        D = counts[0][:, None] * counts[1][None, :]
        if (D == D[0, 0]).all():
            scale = np.asarray(1 / int(D[0, 0]), dtype=dtype)
        else:
            scale = (1 / D).astype(dtype)
    scale.flags.writeable = False
    return scale


@_threads.op
def avg_pool2d(
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """Average pooling, as ``torch.nn.functional.avg_pool2d``.

    Y[β,c,i,j] = (1/D[i,j]) Σ_{a=1..k1} Σ_{b=1..k2} X̃[β, c, s(i-1)+a, s(j-1)+b],
    X̃ zero-padded. D (PyTorch's rules): ``divisor_override`` if given; else D = D_h[i]·D_w[j]
    where, for window i starting at s(i-1) - p (0-based, in x's coordinates), D_h counts its
    taps inside [-p, m + p) with ``count_include_pad=True`` (the default: k1 except where a
    ``ceil_mode`` window runs past the padding) or inside [0, m) with False.

    Shapes as ``max_pool2d`` (no dilation). With stride = kernel_size and the defaults this
    equals the strided convolution of result 2 (``cnnmath.filters.average_pool_filter``).

    >>> import numpy as np
    >>> avg_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2)[0, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    >>> avg_pool2d(np.ones((1, 3, 3)), 2, 2, 1, count_include_pad=False)[0]
    array([[1., 1.],
           [1., 1.]])
    """
    func = "avg_pool2d"
    geo = _geometry(x, kernel_size, stride, padding, _NO_DILATION, ceil_mode, func=func)
    scale = _avg_scale(geo, count_include_pad, divisor_override, func=func)
    if _small_tiles(geo):
        y4 = np.empty((*geo.x.shape[:2], *geo.out_hw), dtype=geo.x.dtype)
        _tile_reduce(geo.x, geo.kernel, np.add, y4)
        y4 *= scale
        return y4[0] if geo.unbatched else y4
    y = _by_planes(geo.x, geo.out_hw)

    def block(p0: int, p1: int, part: _Geometry) -> None:
        layout = _Layout(part, 0.0)
        if layout.tiles:  # two passes over strided views of x instead of k1·k2
            _separable(part, np.add, 0.0, out=y[p0:p1])
            y[p0:p1] *= scale
            return
        total = layout.empty()
        out = layout.work(total)
        for k, (_, where) in enumerate(layout.taps):
            if k == 0:
                np.copyto(out, layout.read(layout.X, where))
            else:
                out += layout.read(layout.X, where)
        np.multiply(layout.real(total)[0], scale, out=y[p0:p1])

    _in_blocks(geo, block)
    return _as_batch(y, geo.x, geo.unbatched)


@_threads.op
def avg_pool2d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """∂ℓ/∂X for ``avg_pool2d``: every element of window (i, j) receives G[β,c,i,j]/D[i,j].

    ∂ℓ/∂X[β,c,u,v] = Σ_{(i,j): window (i,j) holds (u,v)} G[β,c,i,j] / D[i,j]

    grad_output: (B, C, H_out, W_out), same options as the forward; returns an array like x
    (what went to the padding is dropped).
    """
    func = "avg_pool2d_backward"
    geo = _geometry(x, kernel_size, stride, padding, _NO_DILATION, ceil_mode, func=func)
    scale = _avg_scale(geo, count_include_pad, divisor_override, func=func)
    G = _grad_output(grad_output, x, geo.out_hw, func=func)
    grad_x = _by_planes(geo.x, geo.x.shape[2:])
    G_planes = G.reshape(-1, *geo.out_hw)
    if _small_tiles(geo):  # every element in one tile: its share written, not added
        _tile_shares(G_planes * scale, geo.kernel, grad_x)
        return _as_batch(grad_x, geo.x, geo.unbatched)

    def block(p0: int, p1: int, part: _Geometry) -> None:
        if _tiled(part):
            _tile_shares(G_planes[p0:p1] * scale, part.kernel, grad_x[p0:p1])
            return
        _separable_spread(part, G_planes[p0:p1] * scale, out=grad_x[p0:p1])

    _in_blocks(geo, block)
    return _as_batch(grad_x, geo.x, geo.unbatched)


def _tile_shares(share: np.ndarray, kernel: Pair, out: np.ndarray) -> None:
    """out (P, m, n) = share (P, Ho, Wo) written over each window's k1 × k2 tile (windows that
    tile x): each share repeated along its tile's row, then the row copied to the tile's k1
    rows, so that NumPy's inner loops run along whole rows. (Broadcast over each tile at
    once, a share's copy ran k2 elements at a time: 2.2 times as long on LeNet's 2 × 2.)"""
    P, Ho, Wo = share.shape
    k1, k2 = kernel
    if Wo == 1:  # one tile a row: the broadcast's inner loops are whole rows already
        np.copyto(out.reshape(P, Ho, k1, k2), share[:, :, None, :])
        return
    rows = np.repeat(share, k2, axis=2)
    np.copyto(out.reshape(P, Ho, k1, Wo * k2), rows[:, :, None, :])
