"""Pooling over 2-D windows — max, average, max-unpooling, adaptive — and the backward passes.

Window k = (k1, k2), stride s (default k), padding p on both sides of each axis, dilation d
(max pooling only); indices 1-based as in SPEC.md:

    max:  Y[β,c,i,j] = max_{a,b} X̃[β, c, s(i-1) + d(a-1) + 1, s(j-1) + d(b-1) + 1],
          X̃ padded with -∞
    avg:  Y[β,c,i,j] = (1/D[i,j]) Σ_{a,b} X̃[β, c, s(i-1) + a, s(j-1) + b],   X̃ padded with 0

Output size per axis floor((m + 2p - d(k-1) - 1)/s) + 1; with ``ceil_mode`` the ceiling, less
one where the last window would start past the input and its left padding (PyTorch's rule:
every window starts inside the input or its left padding). A ceil_mode window that runs past
the right padding reads -∞ / 0 there. Padding is at most half the window (k // 2 per axis,
dilation not counted, as PyTorch checks it); a dilated window that reads padding only is
refused (PyTorch returns -∞ and an index outside the plane there).

The divisor D of the average, PyTorch's rules: ``divisor_override`` if given; else with
``count_include_pad=True`` the taps inside the padded input [-p, m+p) per axis (k1·k2 unless a
ceil_mode window runs past the padding); with ``count_include_pad=False`` the taps on elements
of x only.

Adaptive pooling (SPEC.md, Wave 2): output cell i of n over a length m reads the indices
[floor(i·m/n), ceil((i+1)·m/n)); global pooling is n = 1.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple, overload

import numpy as np

from .._checks import (
    batched_image,
    check_float_array,
    check_ndim,
    check_same_dtype,
    check_shape,
    int_pair,
    int_triple,
)
from . import _machine, _threads
from ._geometry import Pads, Pair, check_output_size
from ._windows import merge_phases, split_padded, strided_view

_NO_DILATION = (1, 1)


def _flag(name: str, value: Any, *, func: str) -> bool:
    """A boolean option (True/False only: a truthy 1 or "yes" is refused, as PyTorch does)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{func}: {name}: expected True or False, got {value!r}")
    return bool(value)


class _Geometry(NamedTuple):
    x: np.ndarray  # 4-D
    unbatched: bool
    kernel: Pair
    stride: Pair
    dilation: Pair
    padding: Pair  # p per axis, as given
    pads: Pads  # ((p, p + extra), (p, p + extra)): extra for ceil_mode windows past the padding
    out_hw: Pair


def _pair(name: str, value: Any, *, minimum: int, func: str) -> Pair:
    """``int_pair``, with the usual forms (a plain int, a tuple of two plain ints) accepted
    without its general checks: a layer calls pooling thousands of times per epoch. Anything
    else goes to ``int_pair``, which accepts it or raises its message."""
    if type(value) is int and value >= minimum:
        return (value, value)
    if (
        type(value) is tuple
        and len(value) == 2
        and type(value[0]) is int
        and type(value[1]) is int
        and min(value) >= minimum
    ):
        return value
    return int_pair(name, value, minimum=minimum, func=func)


def _geometry(
    x: Any,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    dilation: Any = 1,
    ceil_mode: Any = False,
    *,
    func: str,
) -> _Geometry:
    check_float_array("x", x, func=func)
    x4, unbatched = (x[None], True) if x.ndim == 3 else batched_image("x", x, func=func)
    k = _pair("kernel_size", kernel_size, minimum=1, func=func)
    s = k if stride is None else _pair("stride", stride, minimum=1, func=func)
    p = _pair("padding", padding, minimum=0, func=func)
    d = _pair("dilation", dilation, minimum=1, func=func)
    ceil = ceil_mode if ceil_mode is False else _flag("ceil_mode", ceil_mode, func=func)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(
            f"{func}: padding: expected at most half the window (<= {(k[0] // 2, k[1] // 2)}) "
            f"so every window holds a real element, got {padding!r} for kernel_size {k}"
        )
    pads, out_hw = _sizes(x4.shape[2:], k, s, p, d, ceil, func)
    return _Geometry(x4, unbatched, k, s, d, p, pads, out_hw)


@functools.lru_cache(maxsize=256)
def _sizes(
    hw: Pair, k: Pair, s: Pair, p: Pair, d: Pair, ceil: bool, func: str
) -> tuple[Pads, Pair]:
    """(pads, output size) of validated arguments, or the ``ValueError`` of a window that
    does not fit (not cached: raised again on every call). Cached: it depends on the shape
    and the arguments only, and costs more than the pooling of a small input."""
    symmetric = ((p[0], p[0]), (p[1], p[1]))
    if not ceil:  # refuses a window larger than the padded input
        check_output_size(hw, k, s, symmetric, d, func=func)
    out: list[int] = []
    pads: list[Pair] = []
    for axis, m, f, s_, p_, d_ in zip(("height", "width"), hw, k, s, p, d):
        span = d_ * (f - 1) + 1
        size = (m + 2 * p_ - span) // s_ + 1
        if ceil:  # a window may run past the padding, but must start inside it
            size = -(-(m + 2 * p_ - span) // s_) + 1
            if (size - 1) * s_ >= m + p_:
                size -= 1
            if size < 1:  # the window outgrows the input by a stride or more
                check_output_size(hw, k, s, symmetric, d, func=func)
        pads.append((p_, p_ + max(0, s_ * (size - 1) + span - (m + 2 * p_))))
        out.append(size)
        if d_ > 1:
            _check_windows_hold_x(axis, m, f, s_, p_, d_, size, func=func)
    return (pads[0], pads[1]), (out[0], out[1])


def _check_windows_hold_x(
    axis: str, m: int, f: int, s: int, p: int, d: int, size: int, *, func: str
) -> None:
    """Refuse a dilation whose taps step over every element of x in some window."""
    taps = (s * np.arange(size) - p)[:, None] + d * np.arange(f)
    empty = ~((taps >= 0) & (taps < m)).any(axis=1)
    if empty.any():
        i = int(np.argmax(empty))
        raise ValueError(
            f"{func}: dilation: expected every window to hold an element of x, got dilation "
            f"{d} with which window {i} along the {axis} reads only padding "
            f"(positions {taps[i].tolist()} of an input {axis} {m})"
        )


def _grad_output(grad_output: Any, x: np.ndarray, out_hw: Pair, *, func: str) -> np.ndarray:
    """grad_output checked against the forward's output shape, as a 4-D array."""
    check_float_array("grad_output", grad_output, func=func)
    check_same_dtype(func, grad_output=grad_output, x=x)
    unbatched = x.ndim == 3
    expected = (*x.shape[:-2], *out_hw)
    check_shape("grad_output", grad_output, expected, func=func)
    return grad_output[None] if unbatched else grad_output


# Max and average pooling are a loop over the k1·k2 window taps, never over pixels: for each
# tap, one whole-array operation between the values it reads (one per window) and the
# outputs. ``_Layout`` says where those values lie:
# - non-overlapping tiles (stride = kernel, no padding or dilation, the size divisible): x
#   reshaped to (B, C, Ho, k1, Wo, k2), tap (a, e) being the view [:, :, :, a, :, e]; nothing
#   is copied.
# - otherwise the padded input split into its s_h·s_w stride phases, each flattened over
#   (batch, channel, row, column) (``_split``, one copy). The outputs then live on a
#   "wide" grid n = (b, c, i, j) with j < Wq, and tap (a, e) of output n is element
#   n + offset of one phase: each tap is an operation on two long contiguous vectors.
#   Wide positions with i >= Ho or j >= Wo are scratch: computed, never read back, and
#   their output gradient is zero.
# Which path runs (interleaved A/B timings, one thread, ResNet's and LeNet's activations):
# - forward of tiles: by rows then columns (``_separable``, two strided passes, not k1·k2);
# - max pooling's choice (return_indices, backward) with padding or overlapping windows:
#   rows then columns on the phases (``_Choice``), one-byte tap indices, and the gradient
#   as one scatter-add; for tiles, or -inf next to padding, the tap-by-tap rule
#   (``_max_hits``) on the layout above.
# All of it runs on blocks of (batch, channel) planes (``_plane_spans``), the blocks shared
# among the threads; work buffers are kept per thread (``_threads.scratch``): fresh multi-MiB
# temporaries cost more in page faults on every call than the arithmetic on them.


def _tap_shifts(geo: _Geometry, width: int) -> list[tuple[int, tuple[int, int]]]:
    """(t = a·k2 + e, (phase, offset)) of each tap: on ``split_padded``'s layout tap (a, e)
    of wide output n reads X[phase, n + offset]; it reads padded row s_h·i + d_h·a, which is
    row (d_h·a) // s_h past i in phase (d_h·a) % s_h (columns likewise; rows ``width`` long)."""
    (k1, k2), (sh, sw), (dh, dw) = geo.kernel, geo.stride, geo.dilation
    return [
        (a * k2 + e, ((dh * a) % sh * sw + (dw * e) % sw, (dh * a) // sh * width + (dw * e) // sw))
        for a in range(k1)
        for e in range(k2)
    ]


def _phase_span(r: int, s: int, p: int, m: int, count: int) -> tuple[int, int, int] | None:
    """Positions q0 <= q < q1 of stride phase r (padded index s·q + r) that hold an index
    s·q + r - p of x (of length m), as (q0, q1, x's index at q0); None if there are none."""
    q0 = max(0, -((r - p) // s))
    q1 = min(count, (m - 1 + p - r) // s + 1)
    return (q0, q1, s * q0 + r - p) if q0 < q1 else None


def _split(x: np.ndarray, stride: Pair, pads: Pads, fill: float) -> np.ndarray:
    """The padded input's stride phases, flat, as ``split_padded`` lays them out
    (X[r_h·s_w + r_w, (b, c, q, v)] = X̃[b, c, s_h·q + r_h, s_w·v + r_w], ``fill`` outside
    x), in this thread's scratch buffer: one copy of x, only the border filled."""
    (sh, sw), ((pt, pb), (pl, pr)) = stride, pads
    B, C, m, n = x.shape
    Hq, Wq = -(-(m + pt + pb) // sh), -(-(n + pl + pr) // sw)
    X = _threads.scratch("phases", (sh, sw, B * C, Hq, Wq), x.dtype)
    planes = x.reshape(B * C, m, n)
    for rh in range(sh):
        rows = _phase_span(rh, sh, pt, m, Hq)
        for rw in range(sw):
            cols = _phase_span(rw, sw, pl, n, Wq)
            phase = X[rh, rw]
            if rows is None or cols is None:
                phase.fill(fill)
                continue
            (q0, q1, u), (v0, v1, v) = rows, cols
            phase[:, :q0] = fill
            phase[:, q1:] = fill
            phase[:, q0:q1, :v0] = fill
            phase[:, q0:q1, v1:] = fill
            phase[:, q0:q1, v0:v1] = planes[
                :, u : u + sh * (q1 - q0 - 1) + 1 : sh, v : v + sw * (v1 - v0 - 1) + 1 : sw
            ]
    return X.reshape(sh * sw, B * C * Hq * Wq)


def _axis_taps(m: int, f: int, s: int, p: int, d: int, size: int) -> list[tuple[int, int, int]]:
    """The taps of the ``size`` windows along an axis of length m (window i starts at s·i - p,
    tap a reads s·i - p + d·a): for each tap that reads x somewhere, (i0, i1, first): windows
    i0 <= i < i1 read x there, at first + s·(i - i0); the others read padding."""
    taps = []
    for a in range(f):
        i0 = max(0, -(-(p - d * a) // s))
        i1 = min(size, (m - 1 + p - d * a) // s + 1)
        if i0 < i1:
            taps.append((i0, i1, s * i0 - p + d * a))
    return taps


def _along_axis(a: np.ndarray, axis: int, index: slice) -> np.ndarray:
    return a[(slice(None),) * axis + (index,)]


def _reduce_taps(
    out: np.ndarray,
    src: np.ndarray,
    taps: list[tuple[int, int, int]],
    s: int,
    axis: int,
    ufunc: np.ufunc,
    identity: float,
) -> None:
    """out = ufunc over the taps along ``axis`` (padding contributes the identity: it is
    skipped), each tap one strided view of src."""
    size = out.shape[axis]
    covering = [t for t in taps if t[0] == 0 and t[1] == size]
    if covering:
        i0, i1, first = covering[0]
        np.copyto(out, _along_axis(src, axis, slice(first, first + s * (size - 1) + 1, s)))
    else:
        out.fill(identity)
    for tap in taps:
        if covering and tap is covering[0]:
            continue
        i0, i1, first = tap
        target = _along_axis(out, axis, slice(i0, i1))
        ufunc(
            target,
            _along_axis(src, axis, slice(first, first + s * (i1 - i0 - 1) + 1, s)),
            out=target,
        )


def _separable(geo: _Geometry, ufunc: np.ufunc, identity: float, out: np.ndarray) -> None:
    """out (planes, Ho, Wo) = ufunc (np.add or np.maximum) over each window of the block's
    planes, padding skipped: first along the rows of x (every row's windows of columns),
    then over the windows' rows. Each tap of an axis is one strided view, no copy of x."""
    P, m, n = geo.x.shape[1:]
    (k1, k2), (sh, sw), (dh, dw), (ph, pw), (Ho, Wo) = (
        geo.kernel,
        geo.stride,
        geo.dilation,
        geo.padding,
        geo.out_hw,
    )
    by_row = _threads.scratch("by row", (P, m, Wo), geo.x.dtype)
    _reduce_taps(by_row, geo.x[0], _axis_taps(n, k2, sw, pw, dw, Wo), sw, 2, ufunc, identity)
    _reduce_taps(out, by_row, _axis_taps(m, k1, sh, ph, dh, Ho), sh, 1, ufunc, identity)


class _Layout:
    """Where each window tap reads its values, and where its gradient goes back."""

    def __init__(self, geo: _Geometry, fill: float | None):
        """``fill``: the padding value (-inf or 0); None when no input values are needed."""
        self.geo = geo
        B, C, m, n = geo.x.shape
        (k1, k2), (sh, sw), ((pt, pb), (pl, pr)), (Ho, Wo) = (
            geo.kernel,
            geo.stride,
            geo.pads,
            geo.out_hw,
        )
        self.tiles = _tiled(geo)
        # Each input element in one window at most: the gradient is written, not added.
        self.disjoint = geo.dilation == _NO_DILATION and sh >= k1 and sw >= k2
        if self.tiles:
            self.grid: tuple[int, ...] = (B, C, Ho, Wo)
            self.size = B * C * Ho * Wo
            self.n = self.size
            self.X: Any = None if fill is None else geo.x.reshape(B, C, Ho, k1, Wo, k2)
            self.taps: list[tuple[int, Any]] = [
                (a * k2 + e, (a, e)) for a in range(k1) for e in range(k2)
            ]
        else:
            self.Hq, self.Wq = -(-(m + pt + pb) // sh), -(-(n + pl + pr) // sw)
            self.size = B * C * self.Hq * self.Wq
            self.n = (B * C - 1) * self.Hq * self.Wq + (Ho - 1) * self.Wq + Wo
            self.grid = (self.n,)
            self.X = None if fill is None else _split(geo.x, geo.stride, geo.pads, fill)
            self.taps = _tap_shifts(geo, self.Wq)

    def read(self, X: np.ndarray, where: tuple[int, int]) -> np.ndarray:
        """The values one tap reads, one per window (shaped like the output grid)."""
        if self.tiles:
            a, e = where
            return X[:, :, :, a, :, e]
        phase, off = where
        return X[phase, off : off + self.n]

    def empty(self, dtype: Any = None) -> np.ndarray:
        """An output array of the block, flat (wide: scratch positions included): this
        thread's scratch buffer, valid until the next call."""
        return _threads.scratch("grid", self.size, self.geo.x.dtype if dtype is None else dtype)

    def work(self, y: np.ndarray) -> np.ndarray:
        """The part of an output array the taps compute, shaped like what they read."""
        return y.reshape(self.grid) if self.tiles else y[: self.n]

    def real_n(self, y: np.ndarray) -> np.ndarray:
        """The real outputs (planes, Ho, Wo) of an array of the n computed outputs (phase
        layout; a read-only view)."""
        Ho, Wo = self.geo.out_hw
        step = y.strides[0]
        return np.lib.stride_tricks.as_strided(
            y,
            shape=(self.geo.x.shape[1], Ho, Wo),
            strides=(self.Hq * self.Wq * step, self.Wq * step, step),
            writeable=False,
        )

    def real(self, y: np.ndarray) -> np.ndarray:
        """The real outputs (B, C, Ho, Wo) of an output array, as a view."""
        Ho, Wo = self.geo.out_hw
        if self.tiles:
            return y.reshape(self.grid)
        grid = y[: self.size].reshape(-1, self.Hq, self.Wq)[:, :Ho, :Wo]
        return grid.reshape(*self.geo.x.shape[:2], Ho, Wo)

    def grad_output(self, G: np.ndarray) -> np.ndarray:
        """G on the output grid (wide: zero at the scratch positions)."""
        if self.tiles:
            return G
        Ho, Wo = self.geo.out_hw
        g = _threads.scratch(
            "grad_output", (self.size // (self.Hq * self.Wq), self.Hq, self.Wq), G.dtype
        )
        g[:, :Ho, Wo:] = 0
        g[:, Ho:] = 0
        g[:, :Ho, :Wo] = G.reshape(-1, Ho, Wo)
        return g.reshape(-1)[: self.n]

    def scatter(self, terms, out: np.ndarray) -> None:
        """∂ℓ/∂X into ``out`` (like x) from one term per tap: the element tap t read for
        window n gets term_t[n] (summed over the taps that read it)."""
        geo = self.geo
        if self.tiles:  # every element of x is in exactly one window: write, don't add
            (B, C, Ho, Wo), (k1, k2) = self.grid, geo.kernel
            tiles = out.reshape(B, C, Ho, k1, Wo, k2)
            for (_, where), term in zip(self.taps, terms):
                np.copyto(self.read(tiles, where), term)
            return
        grad = _threads.scratch("scatter", (geo.stride[0] * geo.stride[1], self.size), geo.x.dtype)
        grad.fill(0)
        for (_, where), term in zip(self.taps, terms):
            target = self.read(grad, where)
            if self.disjoint:  # each element is in one window at most
                np.copyto(target, term)
            else:  # windows share elements (or, dilated, a scratch tap wraps onto a real one)
                target += term
        merge_phases(grad, geo.stride, geo.pads, out)


_BLOCK_BYTES = _machine.BUDGETS.pool_block_bytes  # input per block of planes (4 L2s: 2 MiB)


def _plane_spans(planes: int, plane_bytes: int) -> list[_threads.Span]:
    """``planes`` (batch, channel) planes of ``plane_bytes`` each cut into as many nearly
    equal blocks as _BLOCK_BYTES goes into them, rounded up: the temporaries of a block stay
    in cache and are reused from one block to the next (`_threads.scratch`), and equal blocks keep
    the threads equally busy. The cut depends on the shape only, never on the thread count;
    the blocks are what the threads take. (Cached: callers must not change the list.)"""
    return _even_blocks(planes, -(-planes * plane_bytes // _BLOCK_BYTES))


_even_blocks = functools.lru_cache(maxsize=256)(_threads.even_spans)


def _in_blocks(geo: _Geometry, body: Callable[[int, int, _Geometry], None]) -> None:
    """Run ``body(p0, p1, block)`` on the blocks of planes (`_plane_spans`), threaded, where
    ``block`` is the geometry of planes p0..p1-1 alone (pooling treats planes independently).
    Each body writes planes p0..p1-1 of its outputs only. One block runs directly; no planes
    (an empty batch), none."""
    B, C, m, n = geo.x.shape
    if B * C == 0:
        return
    planes = geo.x.reshape(1, B * C, m, n)
    spans = _plane_spans(B * C, m * n * geo.x.itemsize)
    if len(spans) == 1:
        body(0, B * C, geo._replace(x=planes))
        return

    def run(p0: int, p1: int) -> None:
        body(p0, p1, geo._replace(x=planes[:, p0:p1]))

    _threads.parallel(run, spans)


def _tiled(geo: _Geometry) -> bool:
    """Whether the windows tile x: kernel = stride, no padding or dilation, the sizes
    divisible (each element of x in exactly one window)."""
    (k1, k2), (m, n), (Ho, Wo) = geo.kernel, geo.x.shape[2:], geo.out_hw
    return (
        geo.kernel == geo.stride
        and geo.dilation == _NO_DILATION
        and geo.padding == (0, 0)
        and (m, n) == (Ho * k1, Wo * k2)
    )


def _small_tiles(geo: _Geometry) -> bool:
    """Whether the windows tile x (`_tiled`) and x is one block of planes: then
    `_tile_reduce` and friends run on the whole of x at once, without the layouts and the
    block machinery, whose per-call cost is most of the time on small inputs (a layer
    pooling 8×8 activations)."""
    B, C, m, n = geo.x.shape
    return _tiled(geo) and len(_plane_spans(B * C, m * n * geo.x.itemsize)) == 1


def _tile_reduce(x: np.ndarray, kernel: Pair, ufunc: np.ufunc, out: np.ndarray) -> np.ndarray:
    """out (B, C, Ho, Wo) = ufunc (np.maximum or np.add) over each k1×k2 tile of x, by rows
    then columns, taps in order: the same operations, in the same order, as `_separable`
    on tiles (so the same bits)."""
    B, C, m, n = x.shape
    (k1, k2), Wo = kernel, out.shape[3]
    X = x.reshape(B, C, m, Wo, k2)
    if k2 == 1:
        by_row = X[..., 0]
    else:
        by_row = ufunc(X[..., 0], X[..., 1], out=_threads.scratch("by row", (B, C, m, Wo), x.dtype))
        for e in range(2, k2):
            ufunc(by_row, X[..., e], out=by_row)
    R = by_row.reshape(B, C, m // k1, k1, Wo)
    if k1 == 1:
        np.copyto(out, R[:, :, :, 0])
        return out
    ufunc(R[:, :, :, 0], R[:, :, :, 1], out=out)
    for a in range(2, k1):
        ufunc(out, R[:, :, :, a], out=out)
    return out


_TINY = 1024  # elements of x up to which `_tile_argmax` beats the tap-by-tap passes


def _tile_argmax(x: np.ndarray, kernel: Pair) -> np.ndarray:
    """(B, C, Ho, Wo): the tap t = a·k2 + e of each tile's first maximum in row-major order
    (np.argmax's rule, PyTorch's where x holds no NaN). For tiny inputs: one copy of x with
    the tiles' elements made contiguous and one argmax cost less than the passes per tap."""
    B, C, m, n = x.shape
    k1, k2 = kernel
    windows = x.reshape(B, C, m // k1, k1, n // k2, k2).transpose(0, 1, 2, 4, 3, 5)
    return windows.reshape(B, C, m // k1, n // k2, k1 * k2).argmax(axis=-1)


def _tile_max_backward(x: np.ndarray, G: np.ndarray, kernel: Pair, out: np.ndarray) -> bool:
    """∂ℓ/∂X of max pooling on tiles into out (like x), by `_max_hits`'s rule with the
    operations of `max_pool2d_backward`'s tiles path: tap t (row-major) takes the windows
    where it equals Y and no earlier tap did, the last tap the rest; G·hit written into the
    tap's view of out. Returns False, writing nothing, where Y holds NaN or G is not finite
    (the general path's rules for those)."""
    B, C, m, n = x.shape
    (k1, k2), (Ho, Wo) = kernel, G.shape[2:]
    tiles = out.reshape(B, C, Ho, k1, Wo, k2)
    if x.size <= _TINY and np.isfinite(np.add.reduce(G, axis=None) + np.add.reduce(x, axis=None)):
        # x finite: its first maximum is the tap-by-tap rule's choice
        tap = _tile_argmax(x, kernel)[:, :, :, None, :, None]
        hit = np.equal(np.arange(k1 * k2).reshape(k1, 1, k2), tap)
        np.multiply(G[:, :, :, None, :, None], hit, out=tiles)
        return True
    y = _tile_reduce(x, kernel, np.maximum, _threads.scratch("grid", G.shape, x.dtype))
    # one test for both: a sum is finite only if every term is (an overflow, or -inf in
    # Y, merely sends the call to the general path)
    if not np.isfinite(np.add.reduce(G, axis=None) + np.add.reduce(y, axis=None)):
        return False
    X = x.reshape(B, C, Ho, k1, Wo, k2)
    claimed = _threads.scratch("claimed", y.shape, bool)
    hit = _threads.scratch("hit", y.shape, bool)
    last = (k1 - 1, k2 - 1)
    for a in range(k1):
        for e in range(k2):
            if (a, e) == (0, 0):  # the first tap takes every window where it is the maximum
                np.equal(X[:, :, :, 0, :, 0], y, out=claimed)
                np.multiply(G, claimed, out=tiles[:, :, :, 0, :, 0])
                continue
            if (a, e) == last:
                np.logical_not(claimed, out=hit)
            else:
                np.equal(X[:, :, :, a, :, e], y, out=hit)
                np.greater(hit, claimed, out=hit)  # equal, and no earlier tap took the window
                claimed |= hit
            np.multiply(G, hit, out=tiles[:, :, :, a, :, e])
    return True


def _by_planes(x: np.ndarray, hw: Pair, dtype: Any = None) -> np.ndarray:
    """A fresh (B·C, h, w) array for per-plane results of the 4-D x."""
    B, C = x.shape[:2]
    return np.empty((B * C, *hw), dtype=x.dtype if dtype is None else dtype)


def _as_batch(a: np.ndarray, x: np.ndarray, unbatched: bool) -> np.ndarray:
    """(B·C, h, w) back to (B, C, h, w) like the 4-D x, or (C, h, w) for unbatched input."""
    a = a.reshape(*x.shape[:2], *a.shape[1:])
    return a[0] if unbatched else a


def _per_block(
    x4: np.ndarray,
    outputs: Sequence[tuple[tuple[int, ...], Any]],
    compute: Callable[[np.ndarray, int, int], tuple[np.ndarray, ...]],
) -> list[np.ndarray]:
    """Per-plane results of the 4-D x4, block by block of planes (`_plane_spans`), threaded:
    ``outputs`` lists each result's per-plane shape and dtype, and compute(planes, p0, p1)
    returns them for planes p0..p1-1 (``planes``: those of x4, (p1 - p0, m, n)). Returns
    the (B·C, *shape) arrays."""
    B, C, m, n = x4.shape
    planes = x4.reshape(B * C, m, n)
    results = [np.empty((B * C, *shape), dtype=dtype) for shape, dtype in outputs]
    if B * C == 0:  # an empty batch: nothing to compute
        return results

    def run(p0: int, p1: int) -> None:
        for result, part in zip(results, compute(planes[p0:p1], p0, p1)):
            result[p0:p1] = part

    spans = _plane_spans(B * C, m * n * x4.itemsize)
    if len(spans) == 1:
        run(0, B * C)
    else:
        _threads.parallel(run, spans)
    return results


# ---------------------------------------------------------------------------------------------
# Max pooling


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


def _tiny_tile_indices(geo: _Geometry) -> tuple[np.ndarray, np.ndarray] | None:
    """max_pool2d(..., return_indices=True) of tiles on a tiny x (`_TINY`): Y tap by tap in
    row-major order as `_max` (the same bits), the choice by `_tile_argmax`; None where Y
    holds NaN (the last NaN is chosen there: the general path)."""
    x, (k1, k2), (Ho, Wo) = geo.x, geo.kernel, geo.out_hw
    B, C, m, n = x.shape
    X = x.reshape(B, C, Ho, k1, Wo, k2)
    y = np.array(X[:, :, :, 0, :, 0])
    for t in range(1, k1 * k2):
        np.maximum(y, X[:, :, :, t // k2, :, t % k2], out=y)
    if np.isnan(np.add.reduce(y, axis=None)):
        return None
    tap = _tile_argmax(x, geo.kernel)
    at = (k1 * np.arange(Ho)[:, None] + tap // k2) * n + (k2 * np.arange(Wo) + tap % k2)
    at = at.astype(np.int64, copy=False)
    return (y[0], at[0]) if geo.unbatched else (y, at)


def _tile_walk(geo: _Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Tiles (`_tiled`): (Y, the tap t = a·k2 + e each window chose, one byte), each
    (planes, Ho, Wo), by PyTorch's walk over the taps in row-major order (`_walk`) on
    strided views of x: nothing is copied, and with no padding -inf needs no care. NumPy's
    inner loops are then W_out long: narrower outputs take `_tile_walk_wide`."""
    P = geo.x.shape[1]
    (k1, k2), (Ho, Wo) = geo.kernel, geo.out_hw
    if Wo < _NARROW:
        return _tile_walk_wide(geo)
    X = geo.x.reshape(P, Ho, k1, Wo, k2)
    views = [X[:, :, a, :, e] for a in range(k1) for e in range(k2)]
    return _walk(views, bool(np.isnan(geo.x.min())), "tiles")


_NARROW = 8  # W_out below this: `_tile_walk_wide`


def _tile_walk_wide(geo: _Geometry) -> tuple[np.ndarray, np.ndarray]:
    """`_tile_walk` for narrow outputs (W_out < _NARROW): its walk done one axis at a time,
    each walk along long runs of x.

    First along each window row: tap e of every row of every window is one strided view of
    x, flat (x as rows of k2), so the walk over e gives each window row's maximum R and its
    choice e. Then down the windows: row a of window (i, j) lies a·Wo further along R than
    row 0, so the walk over the views R[a·Wo:] gives every window's maximum and chosen row
    on a "wide" grid (every row of x, not only each window's first), of which the windows'
    are a strided view, never copied here. The first maximum of the first row that holds the
    window's maximum is the first in row-major order, and the last NaN likewise: the same
    choice as one walk over the k1·k2 taps, with NumPy's inner loops P·m·Wo long instead of
    Wo (the small images of a LeNet: 2 or 4), for about half as much work again (the wide
    grid, the chosen row's column): faster below 8 windows a row, slower above, measured
    (docs/performance.md)."""
    x = geo.x
    P, m = x.shape[1:3]
    (k1, k2), (Ho, Wo) = geo.kernel, geo.out_hw
    nan = bool(np.isnan(x.min()))
    pairs = x.reshape(-1, k2)  # (P·m·Wo, k2): a view where the block of planes is contiguous
    row_max, e = _walk([pairs[:, c] for c in range(k2)], nan, "tile rows")
    if k1 == 1:  # one row per window: the walk along it is the whole walk
        return row_max.reshape(P, Ho, Wo), e.reshape(P, Ho, Wo)
    span = P * m * Wo - (k1 - 1) * Wo  # the wide grid: every start whose k1 rows lie in R
    best, a = _walk([row_max[r * Wo : r * Wo + span] for r in range(k1)], nan, "tile columns")
    tap = a
    if k2 > 1:  # t = a·k2 + e (e of the chosen row), one byte while the taps are under 256
        tap = _threads.scratch("tile tap", (span,), np.uint8 if k1 * k2 < 256 else np.intp)
        np.multiply(a, k2, out=tap, dtype=tap.dtype)
        tap += _column_of_row(a, [e[r * Wo : r * Wo + span] for r in range(k1)])
    # the windows' entries of the wide grid: row k1·i of each plane, every k1·Wo
    return _window_starts(best, P, Ho, Wo, k1), _window_starts(tap, P, Ho, Wo, k1)


def _window_starts(wide: np.ndarray, P: int, Ho: int, Wo: int, k1: int) -> np.ndarray:
    """The (P, Ho, Wo) view of a wide grid (`_tile_walk_wide`) at each window's first row."""
    step = wide.strides[0]
    return strided_view(wide, (P, Ho, Wo), (Ho * k1 * Wo * step, k1 * Wo * step, step))


def _tap_positions(geo: _Geometry, tap: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out (planes, Ho, Wo) = where in its plane of x tap t = a·k2 + e of window (i, j)
    lies, u·n + v with u = s_h·i - p_h + d_h·a, v = s_w·j - p_w + d_w·e: a table of the
    taps' offsets d_h·a·n + d_w·e looked up, plus the windows' corners."""
    (k1, k2), (sh, sw), (dh, dw), (ph, pw) = geo.kernel, geo.stride, geo.dilation, geo.padding
    (Ho, Wo), n = geo.out_hw, geo.x.shape[3]
    offsets = np.array([dh * a * n + dw * e for a in range(k1) for e in range(k2)], out.dtype)
    np.take(offsets, tap, out=out, mode="clip")  # (every tap is in range: no bounds check)
    out += ((sh * np.arange(Ho) - ph) * n)[:, None] + (sw * np.arange(Wo) - pw)
    return out


def _check_indices(
    indices: Any,
    shape: tuple[int, ...],
    whose: str,
    plane: tuple[int, ...],
    what: str,
    *,
    func: str,
    pool: str = "max_pool2d",
) -> None:
    """``indices`` must be an integer array of ``shape`` (``whose`` shape) holding flat
    positions in a ``what`` of sizes ``plane`` (u·w + v for (h, w)): 0 <= I < prod(plane)."""
    if (
        not isinstance(indices, np.ndarray)
        or not np.issubdtype(indices.dtype, np.integer)
        or indices.shape != shape
    ):
        given = (
            f"an array of dtype {indices.dtype} and shape {indices.shape}"
            if isinstance(indices, np.ndarray)
            else type(indices).__name__
        )
        raise TypeError(
            f"{func}: indices: expected an integer array of {whose} shape {shape} "
            f"(as {pool}(..., return_indices=True) returns), got {given}"
        )
    size = math.prod(plane)
    if indices.size and (indices.min() < 0 or indices.max() >= size):
        raise ValueError(
            f"{func}: indices: expected positions in [0, {size}) of {what} "
            f"{'x'.join(map(str, plane))}, got values from {indices.min()} to {indices.max()}"
        )


def _max(layout: _Layout) -> np.ndarray:
    """Y on the output grid: the elementwise maximum of the taps (np.maximum: NaN wins)."""
    y = layout.empty()
    out = layout.work(y)
    for k, (_, where) in enumerate(layout.taps):
        if k == 0:
            np.copyto(out, layout.read(layout.X, where))
        else:
            np.maximum(out, layout.read(layout.X, where), out=out)
    return y


def _max_hits(layout: _Layout, y: np.ndarray):
    """For each tap, which windows send their gradient to it, by PyTorch's CPU rule.

    Walking a window in row-major order, an element replaces the running choice if it is
    greater or NaN: the first maximum wins ties, the last NaN wins over everything, the
    padding is never chosen. Without NaN: tap t takes the windows where it equals Y and no
    earlier tap did ("claimed": boolean arithmetic, no branches). Where Y is NaN: the last
    tap holding a NaN, by the same walk backwards. Where Y is -inf (every real element is
    -inf) the padding, -inf too, must not tie: only real taps count there.

    Yields one boolean array per tap, shaped like the output grid (one buffer, reused).
    """
    geo, X = layout.geo, layout.X
    y_real, y = layout.real(y), layout.work(y)
    real = None
    if any(p for pair in geo.pads for p in pair) and np.isneginf(y_real).any():
        real = split_padded(np.ones(geo.x.shape, dtype=bool), geo.stride, geo.pads, False)
    nan_hits = {}
    if np.isnan(y_real).any():
        taken = np.zeros(y.shape, dtype=bool)
        for t, where in reversed(layout.taps):
            h = np.isnan(layout.read(X, where))
            np.greater(h, taken, out=h)
            taken |= h
            nan_hits[t] = h
    claimed = np.zeros(y.shape, dtype=bool)
    hit = np.empty(y.shape, dtype=bool)
    last = layout.taps[-1][0]
    for t, where in layout.taps:
        if t == last and not nan_hits:  # the windows no earlier tap took: Y is here
            yield np.logical_not(claimed, out=hit)
            return
        np.equal(layout.read(X, where), y, out=hit)
        if real is not None:
            hit &= layout.read(real, where)
        np.greater(hit, claimed, out=hit)  # equal, and no earlier tap took the window
        claimed |= hit
        if nan_hits:
            hit |= nan_hits[t]
        yield hit


def _argmax_positions(layout: _Layout, y: np.ndarray) -> np.ndarray:
    """(planes, Ho, Wo): where in its plane of x each window's chosen element lies, u·n + v.

    The tap t = a·k2 + e each window chose (``_max_hits``) gives row s_h·i - p_h + d_h·a
    and column s_w·j - p_w + d_w·e of x."""
    geo = layout.geo
    chosen = np.zeros(layout.size, dtype=np.intp)
    work = layout.work(chosen)
    for (t, _), hit in zip(layout.taps, _max_hits(layout, y)):
        np.copyto(work, t, where=hit)
    tap = layout.real(chosen)[0]
    return _tap_positions(geo, tap, out=np.empty(tap.shape, dtype=np.intp))


def _walk(views: list[np.ndarray], nan: bool, name: str) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's walk along one axis of the windows: views[t] holds tap t's value for every
    window; the walk keeps the first tap that is greater than all before it, or NaN.

    Returns (the maximum, NaN if any tap is NaN; the chosen tap t, unsigned), in this
    thread's scratch buffers ``name``. Boolean arithmetic, no branches: tap t replaces the
    choice where ``take`` is set, and the choice only grows, so it is the running maximum of
    t·take. ``nan``: the values may hold NaN (else the isnan tests are skipped).
    """
    shape, dtype = views[0].shape, views[0].dtype
    index_type = np.uint8 if len(views) < 256 else np.intp
    best = _threads.scratch(name + " max", shape, dtype)
    chosen = _threads.scratch(name + " tap", shape, index_type)
    if len(views) == 1:
        np.copyto(best, views[0])
        chosen.fill(0)
        return best, chosen
    # tap 1 against tap 0: the choice is 0 or 1, written as bytes straight into ``chosen``
    first = chosen.view(bool) if index_type is np.uint8 else _threads.scratch("take", shape, bool)
    np.greater(views[1], views[0], out=first)
    if nan:
        first |= np.isnan(views[1])
    np.maximum(views[0], views[1], out=best)
    if index_type is not np.uint8:
        np.copyto(chosen, first)
    take, step = _threads.scratch("take", shape, bool), _threads.scratch("step", shape, index_type)
    for t in range(2, len(views)):
        np.greater(views[t], best, out=take)
        if nan:
            take |= np.isnan(views[t])
        np.maximum(best, views[t], out=best)
        np.multiply(take, index_type(t), out=step)
        np.maximum(chosen, step, out=chosen)
    return best, chosen


def _position_type(geo: _Geometry) -> type[np.signedinteger[Any]]:
    """int32 for positions within a block of planes while they fit (half the memory
    traffic of int64), else intp."""
    return np.int32 if geo.x.size < 2**31 else np.intp


def _column_of_row(row: np.ndarray, columns: list[np.ndarray]) -> np.ndarray:
    """The column tap each window's chosen row chose: columns[row] elementwise, i.e.
    Σ_a [row = a]·columns[a] (for two rows columns[0] + row·(columns[1] - columns[0]),
    exact in wrapping one-byte arithmetic)."""
    if len(columns) == 1:
        return columns[0]
    dtype = np.promote_types(row.dtype, columns[0].dtype)  # one byte, or intp past 255 taps
    column = _threads.scratch("column", row.shape, dtype)
    part = _threads.scratch("column part", row.shape, dtype)
    if len(columns) == 2:
        np.subtract(columns[1], columns[0], out=part)
        np.multiply(part, row, out=part)
        return np.add(part, columns[0], out=column)
    column.fill(0)
    hit = _threads.scratch("hit", row.shape, bool)
    for a, choice in enumerate(columns):
        column += np.multiply(np.equal(row, a, out=hit), choice, out=part)
    return column


class _Choice:
    """Each window's chosen element (PyTorch's rule: the first maximum in row-major window
    order, the last NaN if any), found one axis at a time on the stride phases.

    The row-major walk of a 2-D window chooses what a walk along each row of the window,
    then a walk over the rows' choices, chooses: the first maximum lies in the first row
    holding the maximum, at that row's first maximum; the last NaN in the last row holding a
    NaN, at that row's last NaN. So first every (padded) row's windows of k2 columns are
    walked (``_walk``: k2 contiguous taps on each row phase), then the windows' k1 rows.
    The choices are one-byte tap indices; the position in x follows from them (``positions``)
    and the gradient is one scatter-add of G at those positions (``scatter``).

    Padding is -inf and never chosen while a window holds an element above -inf (a strictly
    greater element replaces it); ``of`` returns None when x holds -inf next to padding.
    Contiguous vector operations only: a few passes over the block, no input-sized float
    temporaries but the phases.
    """

    def __init__(self, layout: _Layout, nan: bool):
        geo = self.geo = layout.geo
        self.layout = layout
        (k1, k2), (sh, sw), (dh, dw) = geo.kernel, geo.stride, geo.dilation
        X, Wq, size, n = layout.X, layout.Wq, layout.size, layout.n
        # column tap e: column phase (dw·e) % sw, (dw·e) // sw columns on; row tap a: row
        # phase (dh·a) % sh, (dh·a) // sh rows on
        self.col_taps = [((dw * e) % sw, (dw * e) // sw) for e in range(k2)]
        self.row_taps = [((dh * a) % sh, (dh * a) // sh * Wq) for a in range(k1)]
        # the column windows cover every position the row taps read (see _Layout)
        self.n_c = size - max(off for _, off in self.col_taps)
        self.by_row: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # row phase: (max, col)
        for rh in sorted({ph for ph, _ in self.row_taps}):
            views = [X[rh * sw + ph, off : off + self.n_c] for ph, off in self.col_taps]
            self.by_row[rh] = _walk(views, nan, f"row phase {rh}")
        views = [self.by_row[ph][0][off : off + n] for ph, off in self.row_taps]
        self.y_wide, self.row = _walk(views, nan, "window")  # n long

    def y(self) -> np.ndarray:
        """Y, (planes, Ho, Wo), a view."""
        return self.layout.real_n(self.y_wide)

    def positions(self) -> np.ndarray:
        """(planes, Ho, Wo) integers (`_position_type`): where in its plane of x each
        window's choice lies, u·n + v (this thread's scratch buffer). Window (i, j) chose row
        tap a and, in that row, column tap e: row s_h·i - p_h + d_h·a and column
        s_w·j - p_w + d_w·e of x."""
        geo, layout, n = self.geo, self.layout, self.layout.n
        column = _column_of_row(
            self.row, [self.by_row[ph][1][off : off + n] for ph, off in self.row_taps]
        )
        (Ho, Wo), width = geo.out_hw, geo.x.shape[3]
        (sh, sw), (dh, dw), (ph_, pw) = geo.stride, geo.dilation, geo.padding
        at = _threads.scratch("positions", (geo.x.shape[1], Ho, Wo), _position_type(geo))
        np.multiply(layout.real_n(self.row), at.dtype.type(dh * width), out=at)
        at += layout.real_n(column) if dw == 1 else layout.real_n(column) * at.dtype.type(dw)
        at += (sh * np.arange(Ho) - ph_)[:, None] * width + (sw * np.arange(Wo) - pw)
        return at

    def scatter(self, G: np.ndarray, out: np.ndarray) -> None:
        """∂ℓ/∂X into ``out`` (the block's (1, planes, m, n)) from the block's G (1, planes,
        Ho, Wo): G[i, j] added to the element window (i, j) chose, windows in row-major
        order (np.add.at: unbuffered, so elements several windows chose collect them all).
        A NaN or ±inf in G reaches only the chosen element."""
        planes, m, n = out.shape[1:]
        at = self.positions()
        at += (np.arange(planes, dtype=at.dtype) * (m * n))[:, None, None]
        out.fill(0)
        np.add.at(out.reshape(-1), at.reshape(-1), G.reshape(-1))


def _choose(geo: _Geometry) -> _Choice | None:
    """The choice of each window of the block ``geo`` (1, planes, m, n) by rows then columns,
    or None for the tap-by-tap rule (``_max_hits``): where -inf in x could tie with the
    padding, and where the windows tile x (kernel = stride, no padding or dilation, the
    sizes divisible), whose taps are strided views of x itself — there the tap-by-tap rule
    copies nothing and measured as fast or faster (docs/performance.md, "Max pooling keeps
    its choice")."""
    if _tiled(geo):
        return None
    x = geo.x
    padded = any(p for pair in geo.pads for p in pair)
    lowest = x.min()  # NaN if x holds one
    nan = bool(np.isnan(lowest))
    if nan:
        lowest = np.fmin.reduce(x, axis=None)  # the least number
    if lowest == -np.inf and padded:
        return None
    return _Choice(_Layout(geo, -np.inf), nan)  # the phases: not tiles


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


# ---------------------------------------------------------------------------------------------
# Average pooling


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
        layout = _Layout(part, None)  # the average's gradient needs no input values
        share = layout.grad_output(G_planes[None, p0:p1] * scale)
        layout.scatter((share for _ in layout.taps), out=grad_x[None, p0:p1])

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


# ---------------------------------------------------------------------------------------------
# Max unpooling


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


# ---------------------------------------------------------------------------------------------
# Adaptive pooling
#
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
    of X[β,c] (0-based; SPEC.md "Wave 2"). Global max pooling is output_size 1: the
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
    [⌊j·n/W⌋, ⌈(j+1)·n/W⌉) (0-based; SPEC.md "Wave 2"). Global average pooling is
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
