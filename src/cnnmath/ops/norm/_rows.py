"""The statistics' kernels on the (R, L) rows view that the three norms share: the
blocked row sums with their shift and float64 retry, the moments, and the affine passes
that write the result (batch norm's per-channel form among them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .. import _threads


def _quiet() -> Any:
    """inf − inf and non-finite sums are NaN/inf by contract (they propagate, as in PyTorch;
    float32 squares that overflow are summed again in float64: `_centred_sums`)."""
    return np.errstate(invalid="ignore", over="ignore", divide="ignore")


#: NumPy's ufunc buffer (elements) inside the blocked passes. With its default of 8192, NumPy
#: copies a broadcast (rows, 1) operand through the buffer to lengthen the inner loop when a
#: row is shorter than the buffer; on rows of 3136 values (56²) that made the passes slower
#: than a buffer shorter than the rows, which leaves one inner loop per row (docs/performance.md,
#: "Inference: batch norm folded").
#: Each block sets it (it is per thread) inside its `_quiet` errstate, whose exit restores it
#: (as NumPy documents for ``setbufsize`` within ``errstate``).
_UFUNC_BUFFER = 1024


# ---------------------------------------------------------------------------------------------
# Shared kernels on the (R, L) rows view

#: Elements of each array per block in the blocked passes (the sums' blocks are larger:
#: `_sum_spans`): 2**17 (512 KiB of float32), so a
#: block of x, of g and of the result stays in cache from one ufunc over it to the next; the
#: fastest of 2**15 .. 2**18 on the (32, 64, 56, 56) bench row, where smaller blocks pay more
#: for Python and NumPy's per-call work. The cut depends on the shape only, so the results do
#: not depend on the thread count.
_BLOCK = 1 << 17


#: The data are summed as they are, or centred on a shift, while |mean(x − shift)| ≤ 2σ:
#: σ² = mean((x − shift)²) − mean(x − shift)² then loses at most a factor 1 + 2² = 5 of the
#: sums' relative accuracy to cancellation. Beyond, the sums are taken again on the mean.
_DRIFT = 4.0


def _spans(rows: int, length: int, block: int = 0) -> list[_threads.Span]:
    """Consecutive spans of rows, about ``block`` (default _BLOCK) elements each (at least
    one row)."""
    return _threads.spans(rows, max(1, (block or _BLOCK) // max(length, 1)))


#: NumPy's matmul and vecdot keep the GIL through a call over at most this many rows (its
#: threshold for letting it go): the row sums' blocks of 41 rows of 56² ran one thread at a
#: time (docs/performance.md, "The GIL and small products").
_GIL_ROWS = 500


def _sum_spans(rows: int, length: int) -> list[_threads.Span]:
    """The blocks of the row sums: as many nearly equal blocks as `_spans` makes, but none
    of _GIL_ROWS rows or fewer (one block when there are no more rows than that), so that
    the threads' products overlap and share the rows evenly."""
    if rows == 0:
        return []
    least = max(_BLOCK // max(length, 1), _GIL_ROWS + 1)
    return _threads.even_spans(rows, max(1, rows // least))


def _row_sums(a: np.ndarray) -> np.ndarray:
    """Σ over each row of the (R, L) matrix a (rows may be strided), in a's dtype: a
    matrix-vector product per block of rows, on the op's threads."""
    out = np.empty(a.shape[0], dtype=a.dtype)
    ones = np.ones(a.shape[1], dtype=a.dtype)

    def body(r0: int, r1: int) -> None:
        with _quiet():
            np.setbufsize(_UFUNC_BUFFER)
            np.matmul(a[r0:r1], ones, out=out[r0:r1])

    _threads.parallel(body, _sum_spans(*a.shape))
    return out


class _Rows(NamedTuple):
    """How the rows of the (R, L) view make up the statistics."""

    m: int  # values per statistic
    first: Callable[[np.ndarray], np.ndarray]  # (R, L) → (S, L): each statistic's first row
    shape: tuple[int, ...]  # the shape of a per-statistic array (S values)
    reduce: Callable[[np.ndarray], np.ndarray]  # per-row (R,) → per-statistic, float64
    expand: Callable[[np.ndarray], np.ndarray]  # per-statistic (or -row) → (R, 1), x's dtype


class _Moments(NamedTuple):
    shift: np.ndarray | None  # per statistic, x's dtype: xc = x − shift (None: xc = x)
    mean: np.ndarray  # μ = shift + delta, float64 per statistic
    delta: np.ndarray  # mean(xc), float64
    var: np.ndarray  # σ² = mean(xc²) − delta², float64
    row_g: np.ndarray  # per row Σ g and Σ g·xc (2, R), x's dtype or float64, when g is given
    wide: bool  # the sums were taken in float64: x's squares overflow its float32


def _centred_sums(
    x2: np.ndarray,
    shift_rows: np.ndarray | None,
    g2: np.ndarray | None = None,
    dtype: np.dtype | None = None,
) -> np.ndarray:
    """Per row Σ xc, Σ xc² (and Σ g, Σ g·xc), xc = x − shift (x itself for shift None):
    (2 or 4, R) in x's dtype (or ``dtype``: each block cast to it first). One read of x (and
    g), block by block on the op's threads, by matrix-vector products and dot products; xc
    exists one block at a time.

    Float32 data whose sums overflow while every value is finite (|x| above about 1e19
    squares past float32's range) are summed again in float64, where such squares fit: the
    statistics are then right instead of an infinite variance that zeroes x̂. (PyTorch's
    float32 norms give NaN or 0 there; float64 data whose squares overflow float64 give NaN,
    as PyTorch's.)"""
    dtype = x2.dtype if dtype is None else np.dtype(dtype)
    R, L = x2.shape
    sums = np.empty((2 if g2 is None else 4, R), dtype=dtype)
    ones = np.ones(L, dtype=dtype)

    def body(r0: int, r1: int) -> None:
        with _quiet():
            np.setbufsize(_UFUNC_BUFFER)
            xb = x2[r0:r1].astype(dtype, copy=False)
            xc = xb if shift_rows is None else np.subtract(xb, shift_rows[r0:r1], dtype=dtype)
            np.matmul(xc, ones, out=sums[0, r0:r1])
            np.vecdot(xc, xc, out=sums[1, r0:r1])
            if g2 is not None:
                gb = g2[r0:r1].astype(dtype, copy=False)
                np.matmul(gb, ones, out=sums[2, r0:r1])
                np.vecdot(gb, xc, out=sums[3, r0:r1])

    _threads.parallel(body, _sum_spans(R, L))
    if dtype != np.float64 and not np.isfinite(sums).all() and _all_finite(x2, g2):
        return _centred_sums(x2, shift_rows, g2, np.dtype(np.float64))
    return sums


def _all_finite(*arrays: np.ndarray | None) -> bool:
    """Whether every given array holds only finite values (None: nothing to check)."""
    return all(a is None or bool(np.isfinite(a).all()) for a in arrays)


def _moments(x2: np.ndarray, rows: _Rows, g2: np.ndarray | None = None) -> _Moments:
    """The statistics of the (R, L) matrix x2 (module docstring).

    A pilot — the mean and spread of each statistic's first row, a fraction of x — chooses
    the shift: none when every |pilot mean| ≤ 2·pilot spread (the sums of x and x² are then
    accurate), else the pilot mean. One pass over x (and g) gives the sums; when the mean
    turns out further than 2σ from the shift (a first row unlike the rest), the pass is
    repeated centred on the mean itself, rounded to x's dtype."""
    first = rows.first(x2)
    pilot = _centred_sums(first, None).astype(np.float64) / first.shape[1]
    pilot_mean = pilot[0].reshape(rows.shape)
    centre = np.any(pilot_mean * pilot_mean * (1 + _DRIFT) > pilot[1].reshape(rows.shape))
    shift = pilot_mean.astype(x2.dtype) if centre else None
    for attempt in (0, 1):
        sums = _centred_sums(x2, None if shift is None else rows.expand(shift), g2)
        delta = rows.reduce(sums[0]) / rows.m
        var = np.maximum(rows.reduce(sums[1]) / rows.m - delta * delta, 0.0)  # NaN stays NaN
        if attempt or not np.any(delta * delta > _DRIFT * var):
            break
        shift = (delta if shift is None else shift.astype(np.float64) + delta).astype(x2.dtype)
    mean = delta if shift is None else shift.astype(np.float64) + delta
    return _Moments(shift, mean, delta, var, sums[2:], sums.dtype != x2.dtype)


def _again_in_float64(func: Callable[..., Any], dtype: np.dtype, *args: Any, **kwargs: Any) -> Any:
    """func's results on float64 copies of its array arguments, rounded back to ``dtype``.

    For a backward whose float32 data have squares past float32's range (`_Moments.wide`):
    its coefficients, σ⁻³ and the like for σ of 1e19 and more, would underflow float32 in
    the affine passes; in float64 they do not. Rare, so a copy is cheap enough."""

    def wide(a: Any) -> Any:
        return a.astype(np.float64) if isinstance(a, np.ndarray) else a

    results = func(*map(wide, args), **{k: wide(v) for k, v in kwargs.items()})
    return tuple(r.astype(dtype) for r in results)


def _rows_or_none(rows: _Rows, a: np.ndarray | None) -> np.ndarray | None:
    return None if a is None else rows.expand(a)


def _affine(
    x2: np.ndarray,
    shift: np.ndarray | None,
    scale: np.ndarray,
    offset: np.ndarray | None,
    g2: np.ndarray | None = None,
    g_scale: np.ndarray | None = None,
    block: int = 0,
) -> np.ndarray:
    """(x − shift)·scale + offset (+ g·g_scale), a new (R, L) array, block by block (about
    ``block`` elements, default _BLOCK) on the op's threads; shift, scale, offset, g_scale
    are (R, 1) in x's dtype (shift and offset may be None: 0), g2 is (R, L).

    x − shift first: x·scale + (offset − shift·scale) would lose the digits x and the
    shift share when |μ| ≫ σ."""
    R, L = x2.shape
    out = np.empty((R, L), dtype=x2.dtype)

    def rows(a: np.ndarray | None, r0: int, r1: int) -> np.ndarray | None:
        return None if a is None else a[r0:r1]

    def body(r0: int, r1: int) -> None:
        block = out[r0:r1]
        with _quiet():
            np.setbufsize(_UFUNC_BUFFER)
            _affine_passes(
                x2[r0:r1],
                rows(shift, r0, r1),
                scale[r0:r1],
                rows(offset, r0, r1),
                block,
                rows(g2, r0, r1),
                rows(g_scale, r0, r1),
            )

    _threads.parallel(body, _spans(R, L, block))
    return out


def _affine_passes(
    x: np.ndarray,
    shift: np.ndarray | None,
    scale: np.ndarray,
    offset: np.ndarray | None,
    out: np.ndarray,
    g: np.ndarray | None = None,
    g_scale: np.ndarray | None = None,
) -> None:
    """out = (x − shift)·scale + offset (+ g·g_scale), one ufunc pass each, the
    coefficients broadcast against x (shift, offset and g may be None: 0); the caller sets
    NumPy's error state and buffer."""
    if shift is None:
        np.multiply(x, scale, out=out)
    else:
        np.subtract(x, shift, out=out)
        np.multiply(out, scale, out=out)
    if offset is not None:
        np.add(out, offset, out=out)
    if g is not None and g_scale is not None:
        np.add(out, np.multiply(g, g_scale), out=out)


#: Planes shorter than this (values): batch norm's passes run image by image (`_channel_affine`)
_SHORT_PLANE = 256


def _by_images(N: int, C: int, L: int) -> bool:
    """Whether `_channel_affine` takes a batch (N, C, L) image by image: a batch (N >= 2)
    of small planes (L < _SHORT_PLANE), each image's C·L values within a block."""
    return N >= 2 and L < _SHORT_PLANE and C * L <= _BLOCK


def _channel_affine(
    x3: np.ndarray,
    shift: np.ndarray | None,
    scale: np.ndarray,
    offset: np.ndarray | None,
    g3: np.ndarray | None = None,
    g_scale: np.ndarray | None = None,
    block: int = 0,
) -> np.ndarray:
    """`_affine` (blocks of ``block`` elements, default _BLOCK) for batch norm's per-channel
    coefficients ((C,) arrays, cast to x's dtype; shift, offset and g may be None) on the
    (N, C, L) array x3 (and g3), as (N·C, L).

    A batch of small planes (`_by_images`) runs image by image: each image is one row and
    each coefficient is repeated into a row of C·L values once, so that NumPy's inner loops
    run C·L long, where per plane they ran L long and cost more than the arithmetic. Blocks
    of whole images on the op's threads. Other shapes take `_affine`'s blocks of planes.
    The same values either way. New/old (docs/performance.md, "Short inner loops"): 7 × 7
    maps at batch 8 0.54–0.92 of the time, 14 × 14 0.57–0.94; 28 × 28 (1.2–1.3) and one
    image (1.1–1.2, its coefficients repeated for nothing) keep the planes."""
    N, C, L = x3.shape
    if not _by_images(N, C, L):
        rows = _channel_rows(N, C, L, x3.dtype)
        return _affine(
            x3.reshape(N * C, L),
            _rows_or_none(rows, shift),
            rows.expand(scale),
            _rows_or_none(rows, offset),
            None if g3 is None else g3.reshape(N * C, L),
            _rows_or_none(rows, g_scale),
            block,
        )

    def row(c: np.ndarray) -> np.ndarray:  # a coefficient per value of an image
        return np.repeat(np.asarray(c).astype(x3.dtype), L)

    x2 = x3.reshape(N, C * L)
    g2 = None if g3 is None else g3.reshape(N, C * L)
    shift_r, offset_r, g_scale_r = (None if c is None else row(c) for c in (shift, offset, g_scale))
    scale_r = row(scale)
    out = np.empty((N, C * L), dtype=x3.dtype)

    def body(n0: int, n1: int) -> None:
        with _quiet():
            _affine_passes(
                x2[n0:n1],
                shift_r,
                scale_r,
                offset_r,
                out[n0:n1],
                None if g2 is None else g2[n0:n1],
                g_scale_r,
            )

    _threads.parallel(body, _spans(N, C * L, block))
    return out.reshape(N * C, L)


def _channel_rows(N: int, C: int, L: int, dtype: Any) -> _Rows:
    """Batch norm's rows: the N·C planes (n, c); statistic c gathers the planes of channel c,
    the first of them (0, c)."""
    return _Rows(
        N * L,
        lambda r: r[:C],
        (C,),
        lambda r: r.reshape(N, C).sum(axis=0, dtype=np.float64),
        lambda c: np.broadcast_to(np.asarray(c).astype(dtype), (N, C)).reshape(-1, 1),
    )
