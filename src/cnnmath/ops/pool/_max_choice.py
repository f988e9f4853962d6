"""Which element each window of a max pooling chooses, by PyTorch's CPU rule (the first
maximum in row-major window order, the last NaN if any): a walk over the taps (``_walk``) on
tiles (``_tile_walk``, ``_tile_walk_wide``), by rows then columns on the stride phases
(``_Choice``), or tap by tap (``_max_hits``); and the chosen positions in x."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _threads
from .._geometry import Pair
from .._windows import split_padded, strided_view
from ._common import _Geometry, _Layout, _tile_reduce, _tiled

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
