"""The 3-D pooling geometry (output sizes per axis, padding, ceil mode) and the reshapes
between volumes and the 2-D planes the pooling ops run on."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..pool._common import _check_windows_hold_x, _flag
from ._common import _AXES, Triple, _depth_taps, _DepthTap, _index_triple, _volume


class _PoolGeometry(NamedTuple):
    x: np.ndarray  # 5-D
    unbatched: bool
    kernel: Triple
    stride: Triple
    padding: Triple
    dilation: Triple
    ceil: bool
    out: Triple

    def plane_args(self) -> tuple[Any, ...]:
        """(kernel, stride, padding) along height and width, for the 2-D pooling."""
        return self.kernel[1:], self.stride[1:], self.padding[1:]

    def depth_taps(self) -> list[_DepthTap]:
        D = self.x.shape[2]
        k, s, p, d = self.kernel[0], self.stride[0], self.padding[0], self.dilation[0]
        return _depth_taps(D, self.out[0], k, s, d, p)


def _pool_size(axis: str, m: int, f: int, s: int, p: int, d: int, ceil: bool, func: str) -> int:
    """Windows along one axis: floor((m + 2p - d(f-1) - 1)/s) + 1, or with ``ceil`` the
    ceiling, less one where the last window would start past x and its left padding."""
    span = d * (f - 1) + 1
    size = (m + 2 * p - span) // s + 1
    if ceil:
        size = -(-(m + 2 * p - span) // s) + 1
        if (size - 1) * s >= m + p:
            size -= 1
    if span > m + 2 * p and (not ceil or size < 1):
        raise ValueError(
            f"{func}: kernel_size: effective kernel {axis} {span} (size {f}, dilation {d}) "
            f"is larger than the padded input {axis} {m + 2 * p} (input {m}, padding {p}+{p})"
        )
    if d > 1:
        _check_windows_hold_x(axis, m, f, s, p, d, size, func=func)
    return size


def _pool_geometry(
    x: Any,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    ceil_mode: Any,
    *,
    func: str,
) -> _PoolGeometry:
    x5, unbatched = _volume("x", x, func=func)
    k = _index_triple("kernel_size", kernel_size, minimum=1, func=func)
    s = k if stride is None else _index_triple("stride", stride, minimum=1, func=func)
    p = _index_triple("padding", padding, minimum=0, func=func)
    d = _index_triple("dilation", dilation, minimum=1, func=func)
    ceil = _flag("ceil_mode", ceil_mode, func=func)
    half = tuple(f // 2 for f in k)
    if any(p_ > h for p_, h in zip(p, half)):
        raise ValueError(
            f"{func}: padding: expected at most half the window (<= {half}) so every window "
            f"holds a real element, got {padding!r} for kernel_size {k}"
        )
    if min(x5.shape[2:]) < 1:
        raise ValueError(f"{func}: x: expected depth, height and width >= 1, got {x.shape}")
    sizes = [
        _pool_size(axis, m, f, s_, p_, d_, ceil, func)
        for axis, m, f, s_, p_, d_ in zip(_AXES, x5.shape[2:], k, s, p, d)
    ]
    return _PoolGeometry(x5, unbatched, k, s, p, d, ceil, (sizes[0], sizes[1], sizes[2]))


def _planes(a: np.ndarray) -> np.ndarray:
    """(B, C, n, H, W) -> (B, C·n, H, W): each (channel, depth) plane pooled as a 2-D image."""
    return a.reshape(a.shape[0], a.shape[1] * a.shape[2], *a.shape[3:])


def _volumes(a: np.ndarray, C: int) -> np.ndarray:
    """(B, C·n, h, w) -> (B, C, n, h, w), the inverse of ``_planes``."""
    return a.reshape(a.shape[0], C, a.shape[1] // C, *a.shape[2:])


def _as_given(a: np.ndarray, unbatched: bool) -> np.ndarray:
    return a[0] if unbatched else a
