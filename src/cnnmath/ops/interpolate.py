"""Resizing images by interpolation: nearest copies' adjoint, bilinear and bicubic resampling.

Bilinear resampling maps output pixel i of an axis to a source coordinate u_i of the input
and mixes the two pixels around it,

    y_i = λ0_i · x[i0_i] + λ1_i · x[i1_i],   i0 = ⌊u⌋, i1 = min(i0 + 1, n_in − 1),
    λ1 = u − i0, λ0 = 1 − λ1,

along the width first and then along the height (the order PyTorch's CPU kernel uses), so
each output pixel is a weighted mean of at most four input pixels. The weights of an axis,
(i0, i1, λ0, λ1), are its *taps*: ``linear_taps`` computes them by PyTorch's rule,
``taps_at`` from any source coordinates (ONNX's Resize has several rules). The backward
pass is the adjoint: each input pixel receives the weighted sum of the output gradients
that read it, ∂ℓ/∂x[r] = Σ_{i: i0_i = r} λ0_i G_i + Σ_{i: i1_i = r} λ1_i G_i per axis. Both
index maps are non-decreasing, so those sums are runs (``sum_into_sources``): no loop over
pixels.

Bicubic resampling mixes four pixels per axis, ⌊u⌋ − 1 … ⌊u⌋ + 2 (clipped to the axis: past
an edge the edge pixel is read again), with the weights of the cubic convolution kernel
(``cubic_weights``); its taps are ``CubicTaps``, its adjoint the same sums of runs, one per
tap. Both resamplers run ``resample_along``: Σ_k weight[k]·take(x, index[k]) along one axis.

Antialiased resampling (``antialias=True``, PyTorch's ``_upsample_bilinear2d_aa`` /
``_upsample_bicubic2d_aa``) widens the kernel when an axis shrinks: with r the input pixels per
output pixel, output i reads every pixel j within r·(half-width) of its centre, weighted by the
kernel at the distance (j − u_i)/r and divided by the weights' sum (``antialias_taps``). Its
taps are ``BandTaps``: a band of K source pixels per output, K about 2·r·(half-width).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from .._checks import check_float_array

__all__ = [
    "BandTaps",
    "CubicTaps",
    "Taps",
    "antialias_kernel",
    "antialias_taps",
    "antialias_taps_at",
    "cubic_taps",
    "cubic_taps_at",
    "cubic_weights",
    "interpolate_bicubic",
    "interpolate_bicubic_backward",
    "interpolate_bilinear",
    "interpolate_bilinear_backward",
    "linear_taps",
    "resample_along",
    "resample_along_backward",
    "resample_band",
    "resample_band_backward",
    "resample_cubic",
    "resample_cubic_backward",
    "resample_linear",
    "resample_linear_backward",
    "sum_into_sources",
    "taps_at",
]


class Taps(NamedTuple):
    """Linear interpolation along one axis: output i = λ0[i]·x[i0[i]] + λ1[i]·x[i1[i]]."""

    i0: np.ndarray  # intp, non-decreasing
    i1: np.ndarray  # intp, min(i0 + 1, n_in − 1)
    lambda0: np.ndarray  # the weights, in the data's dtype
    lambda1: np.ndarray


def taps_at(u: np.ndarray, n_in: int, dtype: Any = np.float32) -> Taps:
    """The taps of source coordinates ``u`` (one per output pixel, non-decreasing) on an axis
    of ``n_in`` pixels: u is clamped to [0, n_in − 1] first — past the edges the edge pixel
    is repeated — then i0 = ⌊u⌋, i1 = min(i0 + 1, n_in − 1), λ1 = u − i0, λ0 = 1 − λ1, the
    weights computed in ``dtype``."""
    dt = np.dtype(dtype)
    u = np.clip(np.asarray(u, dtype=dt), dt.type(0), dt.type(n_in - 1))
    i0 = np.floor(u).astype(np.intp)
    lambda1 = (u - i0.astype(dt)).astype(dt)
    return Taps(i0, np.minimum(i0 + 1, n_in - 1), (dt.type(1) - lambda1).astype(dt), lambda1)


def _source_coordinates(
    n_in: int, n_out: int, scale_factor: float | None, align_corners: bool, dt: np.dtype
) -> np.ndarray:
    """PyTorch's source coordinate u of each output pixel i, in ``dt`` arithmetic:
    u = i·(n_in − 1)/(n_out − 1) (0 when n_out = 1) with ``align_corners``, else
    u = (i + ½)·r − ½ with r = 1/scale_factor when a factor is given, else n_in/n_out."""
    i = np.arange(n_out, dtype=dt)
    if align_corners:
        r = dt.type(n_in - 1) / dt.type(n_out - 1) if n_out > 1 else dt.type(0)
        return r * i
    if scale_factor is not None and scale_factor > 0:
        r = dt.type(1.0 / scale_factor)
    else:
        r = dt.type(n_in) / dt.type(n_out)
    return r * (i + dt.type(0.5)) - dt.type(0.5)


def linear_taps(
    n_in: int,
    n_out: int,
    scale_factor: float | None = None,
    align_corners: bool = False,
    dtype: Any = np.float32,
) -> Taps:
    """PyTorch's bilinear taps along one axis of ``n_in`` pixels resized to ``n_out``.

    Source coordinate of output i, in ``dtype`` arithmetic as PyTorch's kernel for that dtype:
      - ``align_corners``: u = i·(n_in − 1)/(n_out − 1) (0 when n_out = 1): the corner pixels'
        centres stay where they are;
      - else u = max(0, (i + ½)·r − ½), r = 1/scale_factor when a factor is given, else
        n_in/n_out: pixel centres mapped to pixel centres ("half pixel");
      - an axis that keeps its length (n_out = n_in) is copied, taps (i, i) with weights
        (1, 0), whatever the factor (PyTorch's rule: ⌊n·1.1⌋ = n for n < 10 copies).
    """
    dt = np.dtype(dtype)
    u = _source_coordinates(n_in, n_out, scale_factor, align_corners, dt)
    if not align_corners:
        u = np.maximum(u, dt.type(0))
    if n_out == n_in:  # PyTorch copies an axis that keeps its length, whatever the factor
        copy = np.arange(n_out)
        return Taps(copy, copy, np.ones(n_out, dt), np.zeros(n_out, dt))
    # PyTorch's rule past the last pixel: i0 = n_in − 1 and λ1 = u − i0 unclamped, both taps
    # on that pixel (λ0 + λ1 = 1: the same value, and a NaN pattern as PyTorch's for ±inf)
    i0 = np.minimum(np.floor(u).astype(np.intp), n_in - 1)
    lambda1 = (u - i0.astype(dt)).astype(dt)
    return Taps(i0, np.minimum(i0 + 1, n_in - 1), (dt.type(1) - lambda1).astype(dt), lambda1)


class CubicTaps(NamedTuple):
    """Cubic convolution along one axis: output i = Σ_{k=0..3} weight[k, i]·x[source[k, i]]."""

    source: np.ndarray  # (4, n_out) intp: ⌊u⌋ − 1 + k clipped to the axis; rows non-decreasing
    weight: np.ndarray  # (4, n_out), in the data's dtype


def cubic_weights(t: np.ndarray, a: float = -0.75) -> np.ndarray:
    """The cubic convolution kernel's weights of the taps ⌊u⌋ − 1, ⌊u⌋, ⌊u⌋ + 1, ⌊u⌋ + 2 of a
    source coordinate u with fraction t = u − ⌊u⌋ ∈ [0, 1], i.e. W at the distances
    1 + t, t, 1 − t, 2 − t, where

        W(d) = (a + 2)|d|³ − (a + 3)|d|² + 1       for |d| ≤ 1,
        W(d) = a|d|³ − 5a|d|² + 8a|d| − 4a         for 1 < |d| < 2,  0 beyond;

    a = −0.75 is PyTorch's (and ONNX's default), −0.5 Catmull–Rom's. The four sum to 1, and
    t = 0 gives (0, 1, 0, 0): pixels are reproduced. Computed in t's dtype, in Horner form
    as PyTorch's kernel; returns (4, *t.shape)."""
    dt = t.dtype
    a_, one = dt.type(a), dt.type(1)

    def near(d: np.ndarray) -> np.ndarray:
        return ((a_ + 2) * d - (a_ + 3)) * d * d + one

    def far(d: np.ndarray) -> np.ndarray:
        return ((a_ * d - 5 * a_) * d + 8 * a_) * d - 4 * a_

    s = one - t
    return np.stack([far(t + one), near(t), near(s), far(s + one)]).astype(dt, copy=False)


def cubic_taps_at(
    u: np.ndarray, n_in: int, a: float = -0.75, exclude_outside: bool = False
) -> CubicTaps:
    """The bicubic taps of source coordinates ``u`` (one per output pixel, non-decreasing, in
    the data's dtype) on an axis of ``n_in`` pixels: ⌊u⌋ (at most n_in − 1), t = u − ⌊u⌋
    (clipped to [0, 1]), the weights ``cubic_weights(t, a)`` and the taps ⌊u⌋ − 1 + k
    clipped to [0, n_in − 1] (past an edge the edge pixel is read again). With
    ``exclude_outside`` (ONNX's option) a tap outside the axis gets weight 0 and the others
    are divided by their sum instead."""
    dt = u.dtype
    floor = np.minimum(np.floor(u), dt.type(n_in - 1))
    t = np.clip(u - floor, dt.type(0), dt.type(1))
    weight = cubic_weights(t, a)
    with np.errstate(invalid="ignore"):  # a NaN coordinate: its taps are any pixel
        start = np.nan_to_num(floor, nan=0.0).astype(np.intp) - 1
    taps = start + np.arange(4)[:, None]
    if exclude_outside:
        weight = np.where((taps >= 0) & (taps < n_in), weight, dt.type(0))
        weight = (weight / weight.sum(axis=0)).astype(dt, copy=False)
    return CubicTaps(np.clip(taps, 0, n_in - 1), weight)


def cubic_taps(
    n_in: int,
    n_out: int,
    scale_factor: float | None = None,
    align_corners: bool = False,
    dtype: Any = np.float32,
) -> CubicTaps:
    """PyTorch's bicubic taps along one axis of ``n_in`` pixels resized to ``n_out``: the
    source coordinates of ``linear_taps`` without its clamp at 0 (u = (i + ½)·r − ½, or
    i·(n_in − 1)/(n_out − 1) with ``align_corners``), then ``cubic_taps_at`` with a = −0.75.
    Unlike the bilinear mode, an axis that keeps its length under a factor r ≠ 1 (1.1 on 5
    pixels) is resampled, as PyTorch does."""
    dt = np.dtype(dtype)
    return cubic_taps_at(_source_coordinates(n_in, n_out, scale_factor, align_corners, dt), n_in)


class BandTaps(NamedTuple):
    """A filter along one axis: output i = Σ_k weight[k, i]·x[source[k, i]] over the taps k
    with ``valid[k, i]`` — a band of the (n_out, n_in) resampling matrix, K taps wide."""

    source: np.ndarray  # (K, n_out) intp, each row non-decreasing
    weight: np.ndarray  # (K, n_out), in the data's dtype; 0 where not valid
    valid: np.ndarray | None  # (K, n_out) bool: the taps an output reads; None: all of them


def antialias_kernel(d: np.ndarray, mode: str) -> np.ndarray:
    """The antialiasing filters of PyTorch at distances ``d`` (in output pixels): for
    ``"bilinear"`` the triangle max(0, 1 − |d|); for ``"bicubic"`` Keys' cubic convolution
    kernel with a = −0.5 (not the −0.75 of plain bicubic),

        W(d) = (a + 2)|d|³ − (a + 3)|d|² + 1   for |d| < 1,
        W(d) = a|d|³ − 5a|d|² + 8a|d| − 4a     for 1 ≤ |d| < 2,  0 beyond,

    in Horner form as PyTorch's kernel, in d's dtype."""
    d = np.abs(d)
    one = d.dtype.type(1)
    if mode == "bilinear":
        return np.where(d < one, one - d, d.dtype.type(0))
    a = d.dtype.type(-0.5)
    near = ((a + 2) * d - (a + 3)) * d * d + one
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d < one, near, np.where(d < 2, far, d.dtype.type(0)))


def antialias_taps(
    n_in: int,
    n_out: int,
    scale_factor: float | None = None,
    align_corners: bool = False,
    dtype: Any = np.float32,
    *,
    mode: str = "bilinear",
) -> BandTaps:
    """PyTorch's antialiased taps along one axis of ``n_in`` pixels resized to ``n_out``
    (``interpolate(..., antialias=True)``), for ``mode`` "bilinear" (triangle filter, half-width
    h = 1) or "bicubic" (Keys' kernel with a = −0.5, h = 2; ``antialias_kernel``).

    With r the input pixels per output pixel — (n_in − 1)/(n_out − 1) with ``align_corners``
    (0 when n_out = 1), else 1/scale_factor when a factor is given, else n_in/n_out — output
    i is centred at c = r·(i + ½) (the same with ``align_corners``: PyTorch's rule) and reads
    the pixels j = j0 … j1 − 1,

        j0 = max(⌊c − σ + ½⌋, 0),  j1 = min(⌊c + σ + ½⌋, n_in),   σ = h·max(r, 1),

    with the weights W((j − c + ½)/max(r, 1)) divided by their sum. A shrinking axis (r > 1)
    has its kernel stretched by r — an average over the r input pixels each output covers,
    which removes what the output's grid cannot hold; a growing one (r ≤ 1) has the plain
    kernel, past the edges renormalised rather than clamped (bilinear without
    ``align_corners``: ``linear_taps``' weights; bicubic: other weights than ``cubic_taps``).
    An axis that keeps its length is copied, whatever the factor (PyTorch skips it). Weights
    computed in float64 and returned in ``dtype``; taps padded to a common K with weight 0 and
    ``valid`` False.

    >>> taps = antialias_taps(8, 4, dtype=np.float64)  # shrinking by 2
    >>> taps.source[:, 1], taps.weight[:, 1] * 8
    (array([1, 2, 3, 4]), array([1., 3., 3., 1.]))
    """
    dt = np.dtype(dtype)
    if n_out == n_in:
        copy = np.arange(n_out)[None]
        return BandTaps(copy, np.ones((1, n_out), dt), None)
    if align_corners:
        r = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    elif scale_factor is not None and scale_factor > 0:
        r = 1.0 / scale_factor
    else:
        r = n_in / n_out
    stretch = max(r, 1.0)
    support = (1.0 if mode == "bilinear" else 2.0) * stretch
    center = r * (np.arange(n_out) + 0.5)
    j0 = np.maximum(np.floor(center - support + 0.5), 0).astype(np.intp)
    j1 = np.minimum(np.floor(center + support + 0.5).astype(np.intp), n_in)
    count = np.clip(j1 - j0, 0, int(np.ceil(support)) * 2 + 1)  # PyTorch's bound on a window
    K = max(int(count.max()), 1)
    k = np.arange(K)[:, None]
    valid = k < count
    weight = np.where(valid, antialias_kernel(((k + j0) - center + 0.5) / stretch, mode), 0.0)
    total = weight.sum(axis=0)
    weight = np.where(total != 0, weight / np.where(total != 0, total, 1.0), weight)
    source = np.minimum(j0 + k, n_in - 1)
    return BandTaps(source, weight.astype(dt), None if valid.all() else valid)


def antialias_taps_at(
    u: np.ndarray,
    n_in: int,
    scale: float,
    mode: str = "linear",
    a: float = -0.75,
    exclude_outside: bool = False,
) -> BandTaps:
    """ONNX Resize's antialiased taps (``antialias=1``) at source coordinates ``u`` (one per
    output, non-decreasing, in the data's dtype) on an axis of ``n_in`` values resized by the
    factor ``scale`` (output/input): with s = min(scale, 1) and half-width h = 1 (``"linear"``,
    the triangle max(0, 1 − |d|)) or 2 (``"cubic"``, Keys' kernel of ``a``), each output reads
    the K = 2 − 2·q pixels p + q … p + 1 − q, q = ⌊−h/s⌋ + 1, around p = ⌊u⌋ (u − 1 for a
    whole u), weighted by the kernel at s·(pixel − u) and divided by their sum; a pixel
    outside the axis reads the edge value, or with ``exclude_outside`` gets weight 0 (the rest
    renormalised). A growing axis (s = 1) has the plain kernel. Unlike PyTorch's
    (``antialias_taps``), the edge is padded, not renormalised, unless ``exclude_outside``;
    the coordinate u is ONNX's (``coordinate_transformation_mode``). Weights computed in
    float64 from u, returned in u's dtype."""
    dt = u.dtype
    s = min(float(scale), 1.0)
    q = math.floor(-(1.0 if mode == "linear" else 2.0) / s) + 1
    K = 2 - 2 * q
    u64 = u.astype(np.float64)
    p = np.floor(u64)
    whole = p == u64  # the pixel left of u is u − 1 (ONNX's rule; weights W(s·(j − u)) alike)
    ratio = np.where(whole, 1.0, u64 - p)
    offsets = np.arange(q, q + K)[:, None]
    d = np.abs((offsets - ratio) * s)
    if mode == "linear":
        weight = np.clip(1.0 - d, 0.0, 1.0)
    else:
        near = ((a + 2) * d - (a + 3)) * d * d + 1
        far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
        weight = np.where(d <= 1, near, np.where(d < 2, far, 0.0))
    weight = weight / weight.sum(axis=0)
    with np.errstate(invalid="ignore"):  # a NaN coordinate: its taps are any pixel
        start = np.nan_to_num(np.where(whole, p - 1, p), nan=0.0).astype(np.intp)
    taps = start + offsets
    if exclude_outside:
        weight = np.where((taps >= 0) & (taps < n_in), weight, 0.0)
        total = weight.sum(axis=0)
        weight = weight / np.where(total == 0, 1.0, total)
    return BandTaps(np.clip(taps, 0, n_in - 1), weight.astype(dt), None)


def resample_along(
    x: np.ndarray, index: Any, weight: Any, axis: int, valid: Any = None
) -> np.ndarray:
    """y = Σ_k weight[k]·take(x, index[k], axis): x resampled along one ``axis`` by taps
    ``index`` (K arrays of n_out source indices, each non-decreasing) and ``weight`` (K arrays
    of n_out weights in x's dtype), the taps added in order; a 0·inf is NaN, as in PyTorch,
    without a warning. ``valid`` (K boolean arrays of n_out, or None) leaves out the taps an
    output does not read (padding of a band: its inf then stays out). The first tap is always
    read. y has x's shape with n_out along ``axis``."""
    shape = [1] * x.ndim
    shape[axis] = -1
    y = np.take(x, index[0], axis=axis)
    with np.errstate(invalid="ignore", over="ignore"):
        y *= weight[0].reshape(shape)
        for k in range(1, len(index)):
            term = np.take(x, index[k], axis=axis)
            term *= weight[k].reshape(shape)
            if valid is None or valid[k].all():
                y += term
            else:
                np.add(y, term, out=y, where=valid[k].reshape(shape))
    return y


def _linear(taps: Taps) -> tuple[Any, Any]:
    return (taps.i0, taps.i1), (taps.lambda0, taps.lambda1)


def resample_linear(x: np.ndarray, rows: Taps, cols: Taps) -> np.ndarray:
    """Y = bilinear resampling of x (…, m, n) by the taps of its rows (H_out of them, on m
    pixels) and columns (W_out, on n): along the width, then the height. Returns (…, H_out,
    W_out) in x's dtype (the taps' weights must have it)."""
    return resample_along(resample_along(x, *_linear(cols), -1), *_linear(rows), -2)


def resample_cubic(x: np.ndarray, rows: CubicTaps, cols: CubicTaps) -> np.ndarray:
    """Y = bicubic resampling of x (…, m, n) by the taps of its rows and columns,

        Y[…, i, j] = Σ_k Σ_l w_rows[k, i]·w_cols[l, j]·x[…, source_rows[k, i], source_cols[l, j]],

    along the width, then the height (PyTorch's order). Returns (…, H_out, W_out) in x's
    dtype (the taps' weights must have it)."""
    return resample_along(resample_along(x, *cols, -1), *rows, -2)


def sum_into_sources(g: np.ndarray, index: np.ndarray, n_in: int, axis: int) -> np.ndarray:
    """The adjoint of ``take(·, index, axis)`` for a non-decreasing ``index``: each source
    slice receives the sum of the output slices taken from it (0 for a source none is taken
    from). The takes of one source are one run, summed by ``add.reduceat`` — or, when every
    source is taken s times in a row (an integer upsampling factor), as the sum of the s
    strided views g[k::s] along the axis: whole rows a pass, where add.reduceat's runs of s
    made NumPy's inner loops s long (a 2× upsampling's backward: 0.07–0.10 of the time)."""
    axis = axis % g.ndim
    s, rest = divmod(index.size, n_in)
    if not rest and np.array_equal(index, np.arange(index.size) // s):
        view: list[Any] = [slice(None)] * g.ndim
        view[axis] = slice(0, None, s)
        total = g[tuple(view)].copy()
        for k in range(1, s):  # the takes in order, as add.reduceat adds them
            view[axis] = slice(k, None, s)
            total += g[tuple(view)]
        return total
    starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
    sums = np.add.reduceat(g, starts, axis=axis)
    shape = list(g.shape)
    shape[axis] = n_in
    out = np.zeros(shape, g.dtype)
    target: list[Any] = [slice(None)] * g.ndim
    target[axis] = index[starts]
    out[tuple(target)] = sums
    return out


def resample_along_backward(
    g: np.ndarray, index: Any, weight: Any, n_in: int, axis: int, valid: Any = None
) -> np.ndarray:
    """The adjoint of ``resample_along`` for an axis of ``n_in`` values: Σ_k, summed into the
    sources index[k], of weight[k]·G (``sum_into_sources``), 0 for the taps ``valid`` leaves
    out."""
    shape = [1] * g.ndim
    shape[axis] = -1
    with np.errstate(invalid="ignore", over="ignore"):
        out = sum_into_sources(g * weight[0].reshape(shape), index[0], n_in, axis)
        for k in range(1, len(index)):
            term = g * weight[k].reshape(shape)
            if valid is not None and not valid[k].all():
                term[~np.broadcast_to(valid[k].reshape(shape), term.shape)] = 0
            out += sum_into_sources(term, index[k], n_in, axis)
    return out


def resample_linear_backward(
    grad_output: np.ndarray, rows: Taps, cols: Taps, input_hw: tuple[int, int]
) -> np.ndarray:
    """∂ℓ/∂x of ``resample_linear(x, rows, cols)`` for x (…, m, n), ``input_hw`` = (m, n),
    given G = ∂ℓ/∂Y (…, H_out, W_out): the adjoint of the height pass, then of the width
    pass. Returns (…, m, n) in G's dtype."""
    g = resample_along_backward(grad_output, *_linear(rows), input_hw[0], -2)
    return resample_along_backward(g, *_linear(cols), input_hw[1], -1)


def resample_cubic_backward(
    grad_output: np.ndarray, rows: CubicTaps, cols: CubicTaps, input_hw: tuple[int, int]
) -> np.ndarray:
    """∂ℓ/∂x of ``resample_cubic(x, rows, cols)`` for x (…, m, n), ``input_hw`` = (m, n),
    given G = ∂ℓ/∂Y (…, H_out, W_out): each input pixel receives Σ w_rows·w_cols·G over the
    outputs that read it (an edge pixel once per clipped tap), the height's adjoint first.
    Returns (…, m, n) in G's dtype."""
    g = resample_along_backward(grad_output, *rows, input_hw[0], -2)
    return resample_along_backward(g, *cols, input_hw[1], -1)


def resample_band(x: np.ndarray, rows: BandTaps, cols: BandTaps) -> np.ndarray:
    """Y = x (…, m, n) filtered along the width by the band ``cols``, then along the height by
    ``rows`` (PyTorch's order): Y[…, i, j] = Σ_k Σ_l w_rows[k, i]·w_cols[l, j]·x[…,
    source_rows[k, i], source_cols[l, j]] over the valid taps. Returns (…, H_out, W_out) in
    x's dtype (the taps' weights must have it)."""
    return resample_along(resample_along(x, *cols[:2], -1, cols.valid), *rows[:2], -2, rows.valid)


def resample_band_backward(
    grad_output: np.ndarray, rows: BandTaps, cols: BandTaps, input_hw: tuple[int, int]
) -> np.ndarray:
    """∂ℓ/∂x of ``resample_band(x, rows, cols)`` for x (…, m, n), ``input_hw`` = (m, n), given
    G = ∂ℓ/∂Y: the adjoint of the height pass, then of the width pass. Returns (…, m, n) in
    G's dtype."""
    g = resample_along_backward(grad_output, *rows[:2], input_hw[0], -2, rows.valid)
    return resample_along_backward(g, *cols[:2], input_hw[1], -1, cols.valid)


def _antialiased(mode: str) -> Any:
    """``antialias_taps`` for ``mode``, called as ``linear_taps``."""

    def taps(n_in: int, n_out: int, factor: Any, align_corners: bool, dtype: Any) -> BandTaps:
        return antialias_taps(n_in, n_out, factor, align_corners, dtype, mode=mode)

    return taps


def _check_antialias(func: str, antialias: Any) -> bool:
    if not isinstance(antialias, (bool, np.bool_)):
        raise TypeError(f"{func}: antialias: expected True or False, got {antialias!r}")
    return bool(antialias)


def _plan(
    func: str,
    x_shape: tuple[int, ...],
    size: int | tuple[int, int] | None,
    scale_factor: float | tuple[float, float] | None,
    align_corners: bool,
    dtype: np.dtype,
    taps: Any = linear_taps,
) -> tuple[Any, Any]:
    """The taps (``linear_taps`` or ``cubic_taps``) of the rows and the columns of an image
    of ``x_shape`` resized to ``size`` or by ``scale_factor``; a ValueError naming the
    argument for a bad one."""
    if len(x_shape) not in (3, 4):
        raise ValueError(f"{func}: x: expected shape (B, C, H, W) or (C, H, W), got {x_shape}")
    if (size is None) == (scale_factor is None):
        raise ValueError(
            f"{func}: expected exactly one of size and scale_factor, got size={size!r}, "
            f"scale_factor={scale_factor!r}"
        )
    m, n = x_shape[-2:]
    factors: tuple[float | None, float | None] = (None, None)
    if size is not None:
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        if len(sizes) != 2 or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in sizes
        ):
            raise ValueError(
                f"{func}: size: expected a positive int or a pair of them, got {size!r}"
            )
        out = (int(sizes[0]), int(sizes[1]))
    else:
        pair = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * 2
        if len(pair) != 2 or not all(
            isinstance(f, (int, float, np.integer, np.floating))
            and not isinstance(f, (bool, np.bool_))
            and np.isfinite(f)
            and f > 0
            for f in pair
        ):
            raise ValueError(
                f"{func}: scale_factor: expected a positive finite number or a pair of them, "
                f"got {scale_factor!r}"
            )
        fh, fw = float(pair[0]), float(pair[1])  # type: ignore[arg-type]
        factors = (fh, fw)
        out = (int(np.floor(m * fh)), int(np.floor(n * fw)))
        if min(out) < 1:
            raise ValueError(
                f"{func}: scale_factor: an input of {m}×{n} pixels scaled by {scale_factor!r} "
                "has no output pixel"
            )
    return (
        taps(m, out[0], factors[0], align_corners, dtype),
        taps(n, out[1], factors[1], align_corners, dtype),
    )


def _backward_plan(
    func: str,
    grad_output: Any,
    input_shape: tuple[int, ...],
    size: Any,
    scale_factor: Any,
    align_corners: Any,
    taps: Any,
) -> tuple[np.ndarray, tuple[int, int], Any, Any]:
    """G checked against the output shape the resize of ``input_shape`` has; returns G,
    the input's (m, n) and the rows' and columns' taps."""
    G = check_float_array("grad_output", grad_output, func=func)
    shape = tuple(int(v) for v in input_shape)
    rows, cols = _plan(func, shape, size, scale_factor, bool(align_corners), G.dtype, taps)
    n_out = [t.i0.size if isinstance(t, Taps) else t.source.shape[1] for t in (rows, cols)]
    expected = (*shape[:-2], *n_out)
    if G.shape != expected:
        raise ValueError(f"{func}: grad_output: expected shape {expected}, got {G.shape}")
    return G, (shape[-2], shape[-1]), rows, cols


def interpolate_bilinear(
    x: np.ndarray,
    size: int | tuple[int, int] | None = None,
    scale_factor: float | tuple[float, float] | None = None,
    align_corners: bool = False,
    antialias: bool = False,
) -> np.ndarray:
    """Bilinear resizing, as ``torch.nn.functional.interpolate(x, size, scale_factor,
    mode="bilinear", align_corners, antialias=antialias)``:

        Y[β,c,i,j] = Σ_{a∈{0,1}} Σ_{e∈{0,1}} λa_h[i] · λe_w[j] · X[β, c, ia_h[i], ie_w[j]]

    with each axis's taps (ia, λa) from ``linear_taps`` (half-pixel centres, or the corners
    aligned). Give exactly one of ``size`` (int or pair: H_out, W_out) and ``scale_factor``
    (a positive number or a pair; H_out = ⌊m·s_h⌋, and the coordinates use 1/s as PyTorch
    does). x: (B, C, m, n) or (C, m, n), float32/float64; Y in x's dtype.

    ``antialias=True`` (for shrinking): each axis's taps are ``antialias_taps`` instead — the
    triangle stretched over the r = m/H_out input pixels an output covers, so every input
    pixel counts (plain bilinear reads 2 of every r and aliases), the weights renormalised at
    the edges. A growing axis keeps the plain weights, except that with ``align_corners``
    PyTorch centres output i at r·(i + ½) as when shrinking. (PyTorch 2.13's CPU kernel differs
    in one case: when the width of its vertical pass is 1 — an output, or a kept input, of
    width 1 — and the height changes, every output row comes out as its first; its backward
    is right there, so is this op.)

    >>> interpolate_bilinear(np.array([[[0.0, 1.0]]]), size=(1, 4))[0, 0]
    array([0.  , 0.25, 0.75, 1.  ])
    >>> y = interpolate_bilinear(np.arange(8.0)[None, None], size=(1, 4), antialias=True)
    >>> np.round(y, 4)  # inside: pixels 2i − 1 … 2i + 2 by (1, 3, 3, 1)/8; at the edges (3, 3, 1)/7
    array([[[0.7143, 2.5   , 4.5   , 6.2857]]])
    """
    func = "interpolate_bilinear"
    x = check_float_array("x", x, func=func)
    if _check_antialias(func, antialias):
        taps = _antialiased("bilinear")
        rows, cols = _plan(func, x.shape, size, scale_factor, bool(align_corners), x.dtype, taps)
        return resample_band(x, rows, cols)
    rows, cols = _plan(func, x.shape, size, scale_factor, bool(align_corners), x.dtype)
    return resample_linear(x, rows, cols)


def interpolate_bilinear_backward(
    grad_output: np.ndarray,
    input_shape: tuple[int, ...],
    size: int | tuple[int, int] | None = None,
    scale_factor: float | tuple[float, float] | None = None,
    align_corners: bool = False,
    antialias: bool = False,
) -> np.ndarray:
    """∂ℓ/∂X of ``interpolate_bilinear(X, size, scale_factor, align_corners, antialias)`` for X
    of ``input_shape``, given G = ∂ℓ/∂Y: ∂ℓ/∂X[β,c,u,v] = Σ_{i,j} G[β,c,i,j] · (the weight
    output (i, j) gave input pixel (u, v)), the adjoint taken axis by axis. G must have Y's
    shape; the result has ``input_shape`` and G's dtype.

    Always the adjoint of the forward. (With ``antialias``, PyTorch's backward differs in one
    case: when a ``scale_factor`` ≠ 1 keeps an axis's length, e.g. 1.1 on 8 pixels, its
    forward copies that axis but its backward resamples it by 1/1.1. Likewise for bicubic.)"""
    func = "interpolate_bilinear_backward"
    if _check_antialias(func, antialias):
        G, shape, rows, cols = _backward_plan(
            func,
            grad_output,
            input_shape,
            size,
            scale_factor,
            align_corners,
            _antialiased("bilinear"),
        )
        return resample_band_backward(G, rows, cols, shape)
    G, shape, rows, cols = _backward_plan(
        func, grad_output, input_shape, size, scale_factor, align_corners, linear_taps
    )
    return resample_linear_backward(G, rows, cols, shape)


def interpolate_bicubic(
    x: np.ndarray,
    size: int | tuple[int, int] | None = None,
    scale_factor: float | tuple[float, float] | None = None,
    align_corners: bool = False,
    antialias: bool = False,
) -> np.ndarray:
    """Bicubic resizing, as ``torch.nn.functional.interpolate(x, size, scale_factor,
    mode="bicubic", align_corners, antialias=antialias)``:

        Y[β,c,i,j] = Σ_{k=0..3} Σ_{l=0..3} w_h[k, i] · w_w[l, j] · X[β, c, r_k(i), s_l(j)]

    with each axis's taps from ``cubic_taps``: the source coordinate u of ``linear_taps``
    (unclamped), the pixels ⌊u⌋ − 1 … ⌊u⌋ + 2 clipped to the image and the cubic
    convolution weights with a = −0.75 (``cubic_weights``). The weights can be negative, so
    Y may overshoot X's range near edges (as PyTorch's; clip it for images). Arguments as
    ``interpolate_bilinear``; x: (B, C, m, n) or (C, m, n), float32/float64; Y in x's dtype.

    ``antialias=True``: each axis's taps are ``antialias_taps`` — Keys' kernel with a = −0.5
    (PyTorch's choice for antialiasing), stretched over the r = m/H_out input pixels an output
    covers when the axis shrinks, the weights renormalised over the pixels inside the image.
    Unlike the bilinear mode, this changes growing axes too (a = −0.5, edges renormalised
    instead of clamped). (PyTorch 2.13's CPU kernel has the same width-1 bug as for bilinear:
    see ``interpolate_bilinear``.)

    >>> interpolate_bicubic(np.array([[[0.0, 1.0]]]), size=(1, 4))[0, 0]
    array([-0.10546875,  0.2265625 ,  0.7734375 ,  1.10546875])
    """
    func = "interpolate_bicubic"
    x = check_float_array("x", x, func=func)
    aa = _check_antialias(func, antialias)
    taps = _antialiased("bicubic") if aa else cubic_taps
    rows, cols = _plan(func, x.shape, size, scale_factor, bool(align_corners), x.dtype, taps)
    return resample_band(x, rows, cols) if aa else resample_cubic(x, rows, cols)


def interpolate_bicubic_backward(
    grad_output: np.ndarray,
    input_shape: tuple[int, ...],
    size: int | tuple[int, int] | None = None,
    scale_factor: float | tuple[float, float] | None = None,
    align_corners: bool = False,
    antialias: bool = False,
) -> np.ndarray:
    """∂ℓ/∂X of ``interpolate_bicubic(X, size, scale_factor, align_corners, antialias)`` for X
    of ``input_shape``, given G = ∂ℓ/∂Y: ∂ℓ/∂X[β,c,u,v] = Σ_{i,j} G[β,c,i,j] · (the weight
    output (i, j) gave input pixel (u, v), summed over the taps clipped onto it). G must
    have Y's shape; the result has ``input_shape`` and G's dtype.

    Always the adjoint of the forward. (PyTorch's bicubic backward differs in one case: when
    a ``scale_factor`` ≠ 1 keeps the image's shape, e.g. 1.1 on 5×7 pixels, its forward
    resamples by 1/1.1 but its backward returns G unchanged; with ``antialias`` the
    reverse: see ``interpolate_bilinear_backward``.)"""
    func = "interpolate_bicubic_backward"
    aa = _check_antialias(func, antialias)
    taps = _antialiased("bicubic") if aa else cubic_taps
    G, shape, rows, cols = _backward_plan(
        func, grad_output, input_shape, size, scale_factor, align_corners, taps
    )
    if aa:
        return resample_band_backward(G, rows, cols, shape)
    return resample_cubic_backward(G, rows, cols, shape)
