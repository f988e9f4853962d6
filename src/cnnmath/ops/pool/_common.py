"""What max and average pooling share: the arguments checked and the output size
(``_geometry``), where each window tap reads (``_Layout``: tiles, or the stride phases of the
padded input), the blocks of (batch, channel) planes the threads take (``_plane_spans``,
``_in_blocks``, ``_per_block``), the tiles' direct paths, and the checks of index arrays.
The mathematics is in the docstring of `cnnmath.ops.pool`."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..._checks import batched_image, check_float_array, check_same_dtype, check_shape, int_pair
from .. import _machine, _threads
from .._geometry import Pads, Pair, check_output_size
from .._windows import merge_phases

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
# Which path runs (interleaved A/B timings, one thread, ResNet's and LeNet's activations,
# in docs/performance.md):
# - forward of tiles: by rows then columns (``_separable``, two strided passes, not k1·k2);
# - average pooling's gradient with overlapping windows: its transpose, over columns then
#   rows (``_separable_spread``, faster than k1·k2 adds on the phases; its forward stays on
#   the phases, where the separable sum measured slower);
# - max pooling's choice (return_indices, backward) with padding or overlapping windows:
#   rows then columns on the phases (``_max_choice._Choice``), one-byte tap indices, and
#   the gradient as one scatter-add; for tiles, or -inf next to padding, the tap-by-tap rule
#   (``_max_choice._max_hits``) on the layout above.
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
    P, m = geo.x.shape[1:3]
    (rows, sh), (columns, sw) = _taps_by_axis(geo)
    by_row = _threads.scratch("by row", (P, m, geo.out_hw[1]), geo.x.dtype)
    _reduce_taps(by_row, geo.x[0], columns, sw, 2, ufunc, identity)
    _reduce_taps(out, by_row, rows, sh, 1, ufunc, identity)


def _taps_by_axis(
    geo: _Geometry,
) -> tuple[tuple[list[tuple[int, int, int]], int], tuple[list[tuple[int, int, int]], int]]:
    """(`_axis_taps` of the rows, their stride), (those of the columns, their stride)."""
    m, n = geo.x.shape[2:]
    (k1, k2), (sh, sw), (dh, dw), (ph, pw), (Ho, Wo) = (
        geo.kernel,
        geo.stride,
        geo.dilation,
        geo.padding,
        geo.out_hw,
    )
    return (_axis_taps(m, k1, sh, ph, dh, Ho), sh), (_axis_taps(n, k2, sw, pw, dw, Wo), sw)


def _spread_taps(
    out: np.ndarray, src: np.ndarray, taps: list[tuple[int, int, int]], s: int, axis: int
) -> None:
    """The transpose of `_reduce_taps` with np.add: out = each tap's window values added back
    where the tap read them along ``axis`` (what it read from the padding is dropped).

    Tap (i0, i1, first) writes positions first + s·k of residue first mod s: per residue, the
    tap reaching most of them is copied, the rest of that residue zeroed, the other taps added
    (no pass zeroing all of out first)."""
    for r in range(s):
        mine = sorted((t for t in taps if t[2] % s == r), key=lambda t: t[0] - t[1])
        residue = _along_axis(out, axis, slice(r, None, s))
        if not mine:
            residue.fill(0)
            continue
        (i0, i1, first), *others = mine
        k0 = first // s
        _along_axis(residue, axis, slice(0, k0)).fill(0)
        _along_axis(residue, axis, slice(k0 + i1 - i0, None)).fill(0)
        np.copyto(
            _along_axis(residue, axis, slice(k0, k0 + i1 - i0)),
            _along_axis(src, axis, slice(i0, i1)),
        )
        for i0, i1, first in others:
            k0 = first // s
            target = _along_axis(residue, axis, slice(k0, k0 + i1 - i0))
            target += _along_axis(src, axis, slice(i0, i1))


def _separable_spread(geo: _Geometry, share: np.ndarray, out: np.ndarray) -> None:
    """out (planes, m, n) = Σ over the windows holding each element of ``share`` (planes,
    Ho, Wo), padding dropped: the transpose of `_separable` with np.add, first over the
    windows' columns (into a (planes, Ho, n) buffer), then over their rows, so that the
    large pass into out moves whole rows. Four to six strided passes instead of k1·k2 adds
    on the stride phases (overlapping windows without dilation)."""
    P, n = geo.x.shape[1], geo.x.shape[3]
    (rows, sh), (columns, sw) = _taps_by_axis(geo)
    by_row = _threads.scratch("spread by row", (P, geo.out_hw[0], n), out.dtype)
    _spread_taps(by_row, share, columns, sw, 2)
    _spread_taps(out, by_row, rows, sh, 1)


class _Layout:
    """Where each window tap reads its values, and where its gradient goes back."""

    def __init__(self, geo: _Geometry, fill: float):
        """``fill``: the padding value (-inf or 0)."""
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
            self.X: Any = geo.x.reshape(B, C, Ho, k1, Wo, k2)
            self.taps: list[tuple[int, Any]] = [
                (a * k2 + e, (a, e)) for a in range(k1) for e in range(k2)
            ]
        else:
            self.Hq, self.Wq = -(-(m + pt + pb) // sh), -(-(n + pl + pr) // sw)
            self.size = B * C * self.Hq * self.Wq
            self.n = (B * C - 1) * self.Hq * self.Wq + (Ho - 1) * self.Wq + Wo
            self.grid = (self.n,)
            self.X = _split(geo.x, geo.stride, geo.pads, fill)
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


_BLOCK_BYTES = _machine.BUDGETS.pool_block_bytes  # input per block of planes (≤ 4 L2s, 2 MiB)


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
