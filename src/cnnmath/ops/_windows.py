"""The strided-window tricks and layout changes, kept in one private module.

Everything that builds views with custom strides or moves data between layouts lives here:
window views for im2col (NCHW or batch-last), cropping/zero-padding, the split of an image
into its stride phases (on which a strided window becomes a stride-1 one) and the flat
phase layout of pooling, where a window tap is a shift of one long vector. A later backend
(CuPy, Dask) swaps this module and the array namespace rather than every op. Loops here run
over stride phases only, never over pixels or batch elements.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from . import _machine, _threads
from ._geometry import Pads, Pair

# a copy is cut into blocks of about this much (threads only): one L2, 512 KiB here
COPY_BLOCK_BYTES = _machine.BUDGETS.copy_block_bytes


def pad(x: np.ndarray, pads: Pads, value: float = 0.0) -> np.ndarray:
    """Pad the last two axes of ``x`` by ((top, bottom), (left, right)) with ``value``."""
    (pt, pb), (pl, pr) = pads
    if pt == pb == pl == pr == 0:
        return x
    widths = [(0, 0)] * (x.ndim - 2) + [(pt, pb), (pl, pr)]
    return np.pad(x, widths, mode="constant", constant_values=value)


def windows(
    xp: np.ndarray,
    kernel: Pair,
    stride: Pair,
    dilation: Pair,
    out_hw: Pair,
    batch_last: bool = False,
) -> np.ndarray:
    """A read-only view W[..., i, j, a, c] = xp[..., s_h i + d_h a, s_w j + d_w c].

    Shape ``xp.shape[:-2] + (H_out, W_out, f1, f2)``; no data is copied. With
    ``batch_last`` the image axes are xp's axes -3 and -2 (layout (..., C, H, W, B)) and the
    view is W[..., c, i, j, a, e, b] = xp[..., c, s_h i + d_h a, s_w j + d_w e, b].
    """
    (f1, f2), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_hw
    if batch_last:
        *lead, rh, rw, b_ = xp.strides
        shape = (*xp.shape[:-3], ho, wo, f1, f2, xp.shape[-1])
        strides = (*lead, rh * sh, rw * sw, rh * dh, rw * dw, b_)
    else:
        *lead, rh, rw = xp.strides
        shape = (*xp.shape[:-2], ho, wo, f1, f2)
        strides = (*lead, rh * sh, rw * sw, rh * dh, rw * dw)
    return strided_view(xp, shape, strides)


def strided_view(a: np.ndarray, shape: tuple[int, ...], strides: tuple[int, ...]) -> np.ndarray:
    """A read-only view of ``a``'s data with this shape and these byte strides, starting at
    a's first element: ``as_strided``'s result, built straight on a's buffer when a is
    contiguous, without as_strided's checks, which cost several times more on every small
    call (docs/performance.md, "How a convolution is computed")."""
    if a.flags.c_contiguous:
        view = np.ndarray(shape, a.dtype, a, 0, strides)
        view.flags.writeable = False
        return view
    return np.lib.stride_tricks.as_strided(a, shape=shape, strides=strides, writeable=False)


def copy(dst: np.ndarray, src: np.ndarray) -> None:
    """np.copyto(dst, src), cut into blocks of about COPY_BLOCK_BYTES run on the op's
    threads (a copy is exact: any cut gives the same bits) along dst's outermost axis in
    memory (of those longer than one): a block is then one stretch of dst's memory, where
    a cut along an axis that lies innermost (a transposed view: a batch-last or
    channels-last copy) would have every block write into every cache line of dst, the
    threads contending for each line (2x the time of one thread, measured)."""
    if dst.nbytes < 2 * COPY_BLOCK_BYTES or _threads.current() == 1:
        np.copyto(dst, src)
        return
    axis = max(
        (k for k, n in enumerate(dst.shape) if n > 1), key=lambda k: abs(dst.strides[k])
    )  # some axis: 2+ blocks of bytes
    per_index = dst.nbytes // dst.shape[axis]
    lead: tuple[slice, ...] = (slice(None),) * axis

    def block(k0: int, k1: int) -> None:
        part = lead + (slice(k0, k1),)
        np.copyto(dst[part], src[part])

    _threads.parallel(block, _threads.spans(dst.shape[axis], COPY_BLOCK_BYTES // per_index))


# bytes NumPy's copy loops move as one item, whole (its sizes of a plain integer or complex)
_WHOLE_ITEMS = (8, 16)


def copy_runs(dst: np.ndarray, src: np.ndarray) -> None:
    """`copy`(dst, src) for views whose last axis is a run of r values that lies
    contiguous in both (stride = itemsize): each run is moved as one item of r·itemsize
    bytes where NumPy copies such items whole (8 and 16 bytes), so that the copy's inner
    loop runs along the next axis instead of along the run (r values per inner loop: ten
    times slower, docs/performance.md, "Kernels that tile the input"); for other sizes,
    one strided copy per place in the run (a run of one value may have any stride)."""
    r = dst.shape[-1]
    assert src.shape == dst.shape and src.dtype == dst.dtype, "a copy, not a broadcast"
    if r == 1:  # a run of one value: any stride
        copy(dst[..., 0], src[..., 0])
        return
    assert dst.strides[-1] == src.strides[-1] == dst.itemsize, "the runs must be contiguous"
    if r * dst.itemsize in _WHOLE_ITEMS:
        run = np.dtype((np.void, r * dst.itemsize))
        copy(dst.view(run)[..., 0], src.view(run)[..., 0])
        return
    for e in range(r):
        copy(dst[..., e], src[..., e])


def contiguous(a: np.ndarray) -> np.ndarray:
    """np.ascontiguousarray(a), the copy (if one is needed) made by `copy` on the op's threads."""
    if a.flags.c_contiguous:
        return a
    out = np.empty(a.shape, dtype=a.dtype)
    copy(out, a)
    return out


def _batch_to_end(a: np.ndarray) -> np.ndarray:
    """The view a (..., B, C, H, W) → (..., C, H, W, B): np.moveaxis(a, -4, -1) without its
    argument checks, paid on every small call (docs/performance.md, "How a convolution is
    computed")."""
    n = a.ndim
    return a.transpose(*range(n - 4), n - 3, n - 2, n - 1, n - 4)


def _batch_from_end(a: np.ndarray) -> np.ndarray:
    """The view a (..., C, H, W, B) → (..., B, C, H, W), `_batch_to_end`'s inverse."""
    n = a.ndim
    return a.transpose(*range(n - 4), n - 1, n - 4, n - 3, n - 2)


def batch_last(xp: np.ndarray, scratch: str | None = None) -> np.ndarray:
    """xp (..., B, C, H, W) as a contiguous (..., C, H, W, B) array: a copy, unless B == 1 or
    xp already lies batch-last in memory (see ``crop_or_pad``). With ``scratch``, the copy is
    made in the calling thread's work buffer of that name (`_threads.scratch`), for a caller
    that is done with it before it asks again."""
    moved = _batch_to_end(xp)
    if moved.flags.c_contiguous:
        return moved
    out = None if scratch is None else _threads.scratch(scratch, moved.shape, xp.dtype)
    return _batch_last_copy(xp, out=out)


def channels_last(xp: np.ndarray, scratch: str | None = None) -> np.ndarray:
    """xp (..., B, C, H, W) as a contiguous (..., B, H, W, C) array: `batch_last` of xp with
    its B and C axes swapped (a copy, unless C == 1 or xp already lies channels-last in
    memory; made in the work buffer ``scratch`` as there)."""
    return batch_last(np.swapaxes(xp, -4, -3), scratch)


# A level-1 data cache maps an address to a set by its bits below 4 KiB on x86 cores (and
# most others), each set holding 8 lines (12 on newer cores). Rows that share a set evict
# one another past its ways, but the next level catches most of it: a one-step copy lost
# to the two steps only from 32 rows a set (docs/performance.md, "Batch-last copies").
_SET_PERIOD = 4096
_ROWS_PER_SET = 32
_RUN = 16  # the first step's contiguous runs: 16 elements (one 64-byte line of float32)


def _aliased(rows: int, stride: int) -> bool:
    """Whether ``rows`` reads ``stride`` bytes apart, one element of each row in turn, crowd
    their cache sets so that each read misses: ``rows`` · gcd(stride, 4 KiB) / 4 KiB rows
    per set — at least a 64-byte line's worth — of _ROWS_PER_SET or more."""
    return rows * max(math.gcd(stride, _SET_PERIOD), 64) >= _ROWS_PER_SET * _SET_PERIOD


def _batch_runs(x: np.ndarray) -> np.ndarray | None:
    """x (..., B, C, H, W) as a view (..., B, M/16, 16) (M = C·H·W) when its images alias
    (`_aliased`) and each image's M elements are one run in memory; else None."""
    *lead, B, C, H, W = x.shape
    M = C * H * W
    if x.size == 0 or M % _RUN or not _aliased(B, x.strides[-4]):
        return None
    if not x[(0,) * (x.ndim - 3)].flags.c_contiguous:  # an image's (C, H, W), as all of them
        return None
    return x.reshape(*lead, B, M // _RUN, _RUN)  # a view: each image one run


def _batch_last_copy(
    x: np.ndarray, runs: np.ndarray | None = None, out: np.ndarray | None = None
) -> np.ndarray:
    """x (..., B, C, H, W) copied into a contiguous array out[..., c, h, w, b] (a new one
    unless ``out`` is given).

    NumPy's copy runs its inner loop along out's contiguous axis, here the batch: one
    element of each image in turn. When the images lie a multiple of 2 or 4 KiB apart (a
    batch of 16·8·8 or 64·4·4 float32 activations: powers of two are the rule in a CNN)
    they fall in the same few cache sets and every read misses (`_aliased`): 3–4× the time
    of an ordinary copy, measured. Then the copy goes in two steps, neither of which reads
    that way: runs of 16 contiguous elements of each image side by side, T[..., m, b, r] =
    x[..., b, 16·m + r], then T's small (b, r) blocks transposed into out. Exact either way.
    ``runs``: `_batch_runs(x)` when the caller has it already.
    """
    moved = _batch_to_end(x)
    if out is None:
        out = np.empty(moved.shape, dtype=x.dtype)
    runs = _batch_runs(x) if runs is None else runs
    if runs is None:
        copy(out, moved)
        return out
    *lead, B, m, r = runs.shape
    # T kept per thread (`_threads.scratch`): two fresh buffers a call, freed together, can
    # be handed back to the system and fault in again on every call
    T = _threads.scratch("batch-last runs", (*lead, m, B, r), x.dtype)
    copy(T, np.swapaxes(runs, -3, -2))
    copy(out.reshape(*lead, m, r, B), np.swapaxes(T, -2, -1))
    return out


# A padded window this large or larger goes into a kept work buffer when the caller names
# one: a fresh one can fault in anew on every call of a loop (result 1's 1 MiB window did).
# Below it a fresh window, zeroed whole and copied once, measured 5-45 µs faster than a
# kept one with its border zeroed (docs/performance.md, "In a script without PyTorch").
KEPT_WINDOW_BYTES = 1 << 19


def crop_or_pad(
    g: np.ndarray,
    start: Pair,
    length: Pair,
    batch_last: bool = False,
    scratch: str | None = None,
) -> np.ndarray:
    """Rows start[0] .. start[0]+length[0]-1 (likewise columns) of g's last two axes, zero
    outside g; starts may be negative. A view when the range lies inside g, else a copy —
    laid out in memory as (..., C, H, W, B) if ``batch_last`` (g being (..., B, C, H, W)), so
    that a method reading batch-last finds its layout made by the copy it needed anyway;
    otherwise with the leading axes in g's own memory order (a (G, B, C, H, W) view of a
    (B, G·C, H, W) array is copied row by row, not gathered), only the border zeroed. With
    ``scratch``, a copy of KEPT_WINDOW_BYTES or more is made in the calling thread's work
    buffer of that name (`_threads.scratch`: for a window the caller is done with before it
    asks again); a smaller one is made fresh."""
    (r0, c0), (lr, lc) = start, length
    *lead, h, w = g.shape
    if r0 >= 0 and c0 >= 0 and r0 + lr <= h and c0 + lc <= w:
        return g[..., r0 : r0 + lr, c0 : c0 + lc]
    size = g.itemsize * math.prod(lead) * lr * lc
    small = size < 2 * COPY_BLOCK_BYTES  # zeroed whole at once, then one copy
    empty: Callable[..., np.ndarray] = np.zeros if small else np.empty
    if scratch is not None and size >= KEPT_WINDOW_BYTES:  # its border zeroed below
        small = False
        empty = functools.partial(_threads.scratch, scratch)
    if batch_last:
        *groups, B, C = lead
        out = _batch_from_end(empty((*groups, C, lr, lc, B), dtype=g.dtype))
    elif g.flags.c_contiguous:
        out = empty((*lead, lr, lc), dtype=g.dtype)
    else:  # the lead axes in g's memory order (as np.empty_like's order "K" lays them)
        order = sorted(range(len(lead)), key=lambda k: -g.strides[k])
        buffer = empty((*(lead[k] for k in order), lr, lc), dtype=g.dtype)
        out = buffer.transpose(*np.argsort(order), len(lead), len(lead) + 1)
    src_r = slice(max(r0, 0), min(r0 + lr, h))
    src_c = slice(max(c0, 0), min(c0 + lc, w))
    if src_r.start >= src_r.stop or src_c.start >= src_c.stop:
        out.fill(0)
        return out
    dst_r = slice(src_r.start - r0, src_r.stop - r0)
    dst_c = slice(src_c.start - c0, src_c.stop - c0)
    if not small:  # zero the border only (small: zeroed whole)
        out[..., : dst_r.start, :] = 0
        out[..., dst_r.stop :, :] = 0
        out[..., dst_r, : dst_c.start] = 0
        out[..., dst_r, dst_c.stop :] = 0
    src = g[..., src_r, src_c]
    runs = _batch_runs(src) if batch_last else None
    if runs is not None:  # via a batch-last copy of the window, made in two steps
        moved = _threads.scratch("batch-last window", _batch_to_end(src).shape, src.dtype)
        copy(_batch_to_end(out)[..., dst_r, dst_c, :], _batch_last_copy(src, runs, moved))
    else:
        copy(out[..., dst_r, dst_c], src)
    return out


def phase_split(xp: np.ndarray, stride: Pair) -> np.ndarray:
    """P[..., r_h, r_w, u, v] = xp[..., s_h u + r_h, s_w v + r_w], zero past xp's edge.

    Shape ``xp.shape[:-2] + (s_h, s_w, ceil(H/s_h), ceil(W/s_w))``: the input as s_h·s_w
    sub-images, on which a stride-s window becomes a stride-1 one. A view when s divides
    the size (always for stride 1), else a zero-padded copy.
    """
    sh, sw = stride
    *lead, h, w = xp.shape
    hq, wq = -(-h // sh), -(-w // sw)
    if (hq * sh, wq * sw) != (h, w):
        xp = pad(xp, ((0, hq * sh - h), (0, wq * sw - w)))
    split = xp.reshape(*lead, hq, sh, wq, sw)
    n = len(lead)
    return split.transpose(*range(n), n + 1, n + 3, n, n + 2)


class _Piece(NamedTuple):
    """A run of x's indices along one axis copied into the phases as n groups of k:
    x index ``x.start + k·m + t`` goes to phase row (q, r) = ``at`` + m·(1, 0) + t·``step``.
    A group is k consecutive window indices (u = s·q + r), so its entries lie one q apart
    from the next group's; within a group the step (dq, dr) must be one fixed pair, which
    holds for whole aligned groups (0, 1), for singles (k = 1), and at stride 2 for a pair
    that straddles two q (u odd: (q, 1) then (q + 1, 0), step (1, -1))."""

    x: slice
    n: int
    k: int
    at: tuple[int, int]
    step: tuple[int, int]


def _pieces(start: int, length: int, size: int, s: int) -> list[_Piece]:
    """Along one axis, the window [start, start + length) of an axis of ``size`` in stride
    phases: the window indices u that hold data (start + u inside the axis) as few pieces
    (`_Piece`) as there can be: all whole groups of s in one piece — at stride 2 whatever
    u they start at (zero padding of 1 starts the data at u = 1) — and the indices left
    over at either end one piece each."""
    u0, u1 = max(0, -start), min(length, size - start)
    if u0 >= u1:
        return []
    a = u0 if s <= 2 else min(u1, -(-u0 // s) * s)  # the first whole group ...
    b = a + (u1 - a) // s * s  # ... and the end of the last
    singles = [*range(u0, a), *range(b, u1)]
    pieces = [_Piece(slice(start + u, start + u + 1), 1, 1, divmod(u, s), (0, 0)) for u in singles]
    if b > a:
        (q0, r0), (q1, r1) = divmod(a, s), divmod(a + 1, s)  # (at s = 1, k = 1: no step)
        pieces.append(
            _Piece(slice(start + a, start + b), (b - a) // s, s, (q0, r0), (q1 - q0, r1 - r0))
        )
    return pieces


def _outside(start: int, length: int, size: int, s: int) -> list[int]:
    """The indices u < s·ceil(length/s) of the window [start, start + length) of an axis of
    ``size``, split in stride phases (u = s·q + r), that hold no data: before the axis, past
    its end or past the window (`_pieces` covers the others)."""
    u0, u1 = max(0, -start), min(length, size - start)
    end = -(-length // s) * s
    if u0 >= u1:
        return list(range(end))
    return [*range(u0), *range(u1, end)]


def window_phases(
    x: np.ndarray, start: Pair, length: Pair, stride: Pair, out: np.ndarray
) -> np.ndarray:
    """The stride phases of the window of x's last two axes (``crop_or_pad``'s window,
    zero outside x): P[..., r_h, r_w, q, v] = window[..., s_h q + r_h, s_w v + r_w], of shape
    (..., s_h, s_w, ceil(L_h/s_h), ceil(L_w/s_w)) — zero past the window too. Contiguous,
    in one pass over x where padding and then splitting would copy it twice: x's rows and
    columns in groups of s (`_pieces`), each group's place in P a strided view of P, so
    that the whole groups are one copy — at stride 2 all of x in one copy, padded or not —
    and the partial groups at the edges a few more; on the op's threads. Written into
    ``out``, a contiguous array of P's shape and x's dtype (a reused buffer: what the
    copies do not write is zeroed first), and returned."""
    (sh, sw), (lh, lw) = stride, length
    *lead, h, w = x.shape
    n = len(lead)
    hq, wq = -(-lh // sh), -(-lw // sw)
    if out.shape != (*lead, sh, sw, hq, wq) or not out.flags.c_contiguous:
        raise ValueError(f"window_phases: out: expected a contiguous {(*lead, sh, sw, hq, wq)}")
    V = out.transpose(*range(n), n + 2, n, n + 3, n + 1)  # V[..., q, r_h, v, r_w]
    # zero what no copy writes: the rows and columns outside x's data
    for u in _outside(start[0], lh, h, sh):
        V[..., u // sh, u % sh, :, :] = 0
    for u in _outside(start[1], lw, w, sw):
        V[..., u // sw, u % sw] = 0
    *lead_strides, s_rh, s_rw, s_qh, s_qw = out.strides
    for row in _pieces(start[0], lh, h, sh):
        for col in _pieces(start[1], lw, w, sw):
            (qh, rh), (dqh, drh) = row.at, row.step
            (qw, rw), (dqw, drw) = col.at, col.step
            place = np.lib.stride_tricks.as_strided(  # (..., n_h, k_h, n_w, k_w) in P
                out[..., rh, rw, qh, qw],
                (*lead, row.n, row.k, col.n, col.k),
                (*lead_strides, s_qh, dqh * s_qh + drh * s_rh, s_qw, dqw * s_qw + drw * s_rw),
            )
            copy(place, x[..., row.x, col.x].reshape(place.shape))
    return out


def flat_phases(
    x: np.ndarray,
    window: tuple[Pair, Pair] | None,
    stride: Pair,
    out: np.ndarray | None = None,
) -> np.ndarray | None:
    """The stride phases of x's window (start, length; None: all of x), zero outside x,
    each phase's plane flat: F[..., r_h·s_w + r_w, q·W_q + v] = window[..., s_h q + r_h,
    s_w v + r_w] (`window_phases`' P), of shape (..., s_h·s_w, H_q·W_q). A view of x when
    one exists (stride 1 and a window of whole rows of x, which x holds contiguously); else
    the copy, made in ``out`` (a contiguous array of F's shape and x's dtype) — or None
    without ``out``, for a caller that copies by blocks into a buffer it reuses."""
    *lead, h, w = x.shape
    (r0, c0), (lh, lw) = window if window is not None else ((0, 0), (h, w))
    (sh, sw) = stride
    hq, wq = -(-lh // sh), -(-lw // sw)
    shape = (*lead, sh * sw, hq * wq)
    whole_rows = (c0, lw) == (0, w) and x.strides[-2:] == (w * x.itemsize, x.itemsize)
    if (sh, sw) == (1, 1) and whole_rows and 0 <= r0 and r0 + lh <= h:
        return x[..., r0 : r0 + lh, :].reshape(*lead, 1, lh * w)
    if out is None:
        return None
    if out.shape != shape or not out.flags.c_contiguous:
        raise ValueError(f"flat_phases: out: expected a contiguous {shape}, got {out.shape}")
    window_phases(x, (r0, c0), (lh, lw), stride, out.reshape(*lead, sh, sw, hq, wq))
    return out


def _phase_rows(r: int, s: int, p: int, m: int, count: int) -> tuple[slice, slice] | None:
    """Rows q of stride phase r (padded row s·q + r) that hold x's row s·q + r - p, as
    (slice of q, slice of x's rows); None if the phase holds no row of x."""
    lo = max(0, -((r - p) // s))
    hi = min(count, (m - 1 + p - r) // s + 1)
    if lo >= hi:
        return None
    return slice(lo, hi), slice(s * lo + r - p, s * (hi - 1) + r - p + 1, s)


def split_padded(x: np.ndarray, stride: Pair, pads: Pads, fill: float) -> np.ndarray:
    """The padded input's stride phases, flat: X[r_h·s_w + r_w, (b, c, q, v)].

    X̃ is x padded with ``fill``; phase (r_h, r_w) is X̃[..., r_h::s_h, r_w::s_w], each of
    size Hq × Wq = ceil(H̃/s_h) × ceil(W̃/s_w) (filled past X̃'s edge too). One copy of x.
    On this layout a window tap is a shift of a whole flat row (see ``phase_shifts``).
    """
    (sh, sw), ((pt, pb), (pl, pr)) = stride, pads
    B, C, m, n = x.shape
    Hq, Wq = -(-(m + pt + pb) // sh), -(-(n + pl + pr) // sw)
    X = np.empty((sh, sw, B, C, Hq, Wq), dtype=x.dtype)
    for rh in range(sh):
        rows = _phase_rows(rh, sh, pt, m, Hq)
        for rw in range(sw):
            cols = _phase_rows(rw, sw, pl, n, Wq)
            phase = X[rh, rw]
            if rows is None or cols is None:
                phase.fill(fill)
                continue
            (q, xr), (v, xc) = rows, cols
            if (q.start, q.stop, v.start, v.stop) != (0, Hq, 0, Wq):
                phase.fill(fill)
            phase[:, :, q, v] = x[:, :, xr, xc]
    return X.reshape(sh * sw, B * C * Hq * Wq)


def merge_phases(X: np.ndarray, stride: Pair, pads: Pads, x: np.ndarray) -> None:
    """The inverse of ``split_padded`` without the padding: x[b, c, u, v] from the phases,
    written into ``x`` (every element of it)."""
    (sh, sw), ((pt, pb), (pl, pr)) = stride, pads
    B, C, m, n = x.shape
    Hq, Wq = -(-(m + pt + pb) // sh), -(-(n + pl + pr) // sw)
    phases = X.reshape(sh, sw, B, C, Hq, Wq)
    for rh in range(sh):
        rows = _phase_rows(rh, sh, pt, m, Hq)
        for rw in range(sw):
            cols = _phase_rows(rw, sw, pl, n, Wq)
            if rows is not None and cols is not None:
                (q, xr), (v, xc) = rows, cols
                x[:, :, xr, xc] = phases[rh, rw, :, :, q, v]


def phase_shifts(kernel: Pair, stride: Pair, width: int) -> list[tuple[int, int, int]]:
    """(t = a·k2 + e, phase, offset) of each tap: on ``split_padded``'s layout, tap (a, e)
    of wide output n reads X[phase, n + offset] (rows of the phase are ``width`` long)."""
    (k1, k2), (sh, sw) = kernel, stride
    return [
        (a * k2 + e, (a % sh) * sw + e % sw, (a // sh) * width + e // sw)
        for a in range(k1)
        for e in range(k2)
    ]
