"""avg_pool3d and its backward: the depth taps summed, then each plane pooled in 2-D, divided
as PyTorch divides."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _threads
from ..pool import (
    avg_pool2d,
    avg_pool2d_backward,
)
from ..pool._common import _flag
from ..pool.avg_pool import _divisor_override
from ._common import _grad_output
from ._pool_common import _as_given, _planes, _pool_geometry, _PoolGeometry, _volumes

__all__ = ["avg_pool3d", "avg_pool3d_backward"]


def _avg_scale(
    geo: _PoolGeometry, count_include_pad: Any, divisor_override: Any, *, func: str
) -> np.ndarray:
    """1/D[t,i,j] in x's dtype, PyTorch's divisor: separable, D = D0[t]·D1[i]·D2[j], each
    factor counting the taps of the window starting at s·t - p inside [-p, size + p)
    (``count_include_pad``) or inside [0, size)."""
    include = _flag("count_include_pad", count_include_pad, func=func)
    override = _divisor_override(divisor_override, func=func)
    if override is not None:
        return np.asarray(1 / override, dtype=geo.x.dtype)
    counts = []
    for size, f, s, p, n_out in zip(geo.x.shape[2:], geo.kernel, geo.stride, geo.padding, geo.out):
        start = s * np.arange(n_out) - p
        if include:
            counts.append(np.minimum(start + f, size + p) - start)
        else:
            counts.append(np.minimum(start + f, size) - np.maximum(start, 0))
    D = counts[0][:, None, None] * counts[1][None, :, None] * counts[2][None, None, :]
    return (1 / D).astype(geo.x.dtype)


@_threads.op
def avg_pool3d(
    x: np.ndarray,
    kernel_size: int | tuple[int, int, int],
    stride: int | tuple[int, int, int] | None = None,
    padding: int | tuple[int, int, int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """Average pooling over 3-D windows, as ``torch.nn.functional.avg_pool3d``.

    Y[β,c,t,i,j] = (1/D[t,i,j]) Σ_{e=1..f0} Σ_{a=1..f1} Σ_{b=1..f2}
                   X̃[β, c, s0(t-1)+e, s1(i-1)+a, s2(j-1)+b],   X̃ zero-padded.

    D (PyTorch's rules): ``divisor_override`` if given; else D0[t]·D1[i]·D2[j], each counting
    its window's taps inside [-p, size + p) with ``count_include_pad=True`` (the default: the
    kernel size except where a ``ceil_mode`` window runs past the padding), inside [0, size)
    with False. Shapes as ``max_pool3d`` (no dilation). Computed as the sum over the f0 depth
    taps, then ``avg_pool2d``'s window sums of each (channel, depth) plane, times 1/D.

    >>> import numpy as np
    >>> avg_pool3d(np.arange(8.0).reshape(1, 2, 2, 2), 2).ravel()
    array([3.5])
    """
    func = "avg_pool3d"
    geo = _pool_geometry(x, kernel_size, stride, padding, 1, ceil_mode, func=func)
    scale = _avg_scale(geo, count_include_pad, divisor_override, func=func)
    B, C = geo.x.shape[:2]
    depth_sum = np.zeros((B, C, geo.out[0], *geo.x.shape[3:]), dtype=geo.x.dtype)
    for tap in geo.depth_taps():
        if tap.n:
            depth_sum[:, :, tap.lo : tap.lo + tap.n] += geo.x[:, :, tap.rows(geo.stride[0])]
    k, s, p = geo.plane_args()
    sums = avg_pool2d(_planes(depth_sum), k, s, p, geo.ceil, True, divisor_override=1)
    return _as_given(_volumes(sums, C) * scale, geo.unbatched)


@_threads.op
def avg_pool3d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    kernel_size: int | tuple[int, int, int],
    stride: int | tuple[int, int, int] | None = None,
    padding: int | tuple[int, int, int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """∂ℓ/∂X for ``avg_pool3d``: every element of window (t, i, j) receives G[β,c,t,i,j]/D[t,i,j].

    ∂ℓ/∂X[β,c,u,v,z] = Σ_{(t,i,j): window (t,i,j) holds (u,v,z)} G[β,c,t,i,j] / D[t,i,j]

    grad_output: (B, C, D_out, H_out, W_out), same options as the forward; returns an array
    like x (what went to the padding is dropped). The forward's steps transposed:
    ``avg_pool2d_backward`` of G/D per plane, then each depth tap's share added back.
    """
    func = "avg_pool3d_backward"
    geo = _pool_geometry(x, kernel_size, stride, padding, 1, ceil_mode, func=func)
    scale = _avg_scale(geo, count_include_pad, divisor_override, func=func)
    G = _grad_output(grad_output, x, geo.out, func=func)
    B, C, D, m, n = geo.x.shape
    k, s, p = geo.plane_args()
    shape_only = np.empty((B, C * geo.out[0], m, n), dtype=geo.x.dtype)  # never read
    share = avg_pool2d_backward(_planes(G * scale), shape_only, k, s, p, geo.ceil, True, 1)
    share = _volumes(share, C)
    grad_x = np.zeros(geo.x.shape, dtype=geo.x.dtype)
    for tap in geo.depth_taps():
        if tap.n:
            grad_x[:, :, tap.rows(geo.stride[0])] += share[:, :, tap.lo : tap.lo + tap.n]
    return _as_given(grad_x, geo.unbatched)
