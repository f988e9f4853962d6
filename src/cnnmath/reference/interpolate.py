"""Bilinear and bicubic resizing as literal loops: every output pixel's weights written out.

Source coordinate of output index i along an axis of n inputs resized to N outputs
(0-based): with align_corners u = i·(n − 1)/(N − 1) (0 when N = 1); else
u = max(0, (i + ½)·r − ½), r = 1/scale_factor when a factor is given, else n/N. Then
i0 = ⌊u⌋ clipped to n − 1, i1 = min(i0 + 1, n − 1), λ1 = u − i0, λ0 = 1 − λ1, and

    Y[β, c, i, j] = Σ_{a ∈ {0,1}} Σ_{e ∈ {0,1}} λa(i) · λe(j) · X[β, c, ia(i), ie(j)].

Bicubic: u as above but never clamped at 0; f = ⌊u⌋ (at most n − 1), t = u − f clipped to
[0, 1], and the four pixels f − 1, f, f + 1, f + 2, each clipped to [0, n − 1], weighted by
Keys' kernel W(d) at their distances d = 1 + t, t, 1 − t, 2 − t from u (a = −0.75):

    W(d) = (a + 2)|d|³ − (a + 3)|d|² + 1 for |d| ≤ 1,  a|d|³ − 5a|d|² + 8a|d| − 4a for 1 < |d| < 2.

Antialiased (PyTorch's ``antialias=True``): r = input pixels per output pixel ((n − 1)/(N − 1)
with align_corners, 0 when N = 1; else 1/scale_factor or n/N), stretch t = max(r, 1), half-width
h = 1 (bilinear, triangle K(d) = max(0, 1 − |d|)) or 2 (bicubic, Keys' W with a = −0.5); output
i is centred at c = r·(i + ½) and reads pixels j0 ≤ j < j1,

    j0 = max(⌊c − h·t + ½⌋, 0),  j1 = min(⌊c + h·t + ½⌋, n),  weight K((j − c + ½)/t) / Σ of them.

An axis that keeps its length is copied (N = n), whatever the factor.

Coordinates and sums in float64; the result in x's dtype.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def _out_size(n, size, factor):
    return int(size) if size is not None else int(math.floor(n * factor))


def _weights(n, N, factor, align_corners):
    """[(i0, λ0, i1, λ1)] for each of the N outputs."""
    out = []
    for i in range(N):
        if N == n:  # an axis that keeps its length is copied, whatever the factor
            out.append((i, 1.0, i, 0.0))
            continue
        if align_corners:
            u = i * (n - 1) / (N - 1) if N > 1 else 0.0
        else:
            r = 1.0 / factor if factor is not None else n / N
            u = max(0.0, (i + 0.5) * r - 0.5)
        i0 = min(int(math.floor(u)), n - 1)
        i1 = min(i0 + 1, n - 1)
        lam1 = u - i0
        out.append((i0, 1.0 - lam1, i1, lam1))
    return out


def _keys(d, a=-0.75):
    d = abs(d)
    if d <= 1:
        return (a + 2) * d**3 - (a + 3) * d**2 + 1
    if d < 2:
        return a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a
    return 0.0


def _cubic_weights(n, N, factor, align_corners):
    """[[(pixel, weight) × 4]] for each of the N outputs."""
    out = []
    for i in range(N):
        if align_corners:
            u = i * (n - 1) / (N - 1) if N > 1 else 0.0
        else:
            r = 1.0 / factor if factor is not None else n / N
            u = (i + 0.5) * r - 0.5
        f = min(math.floor(u), n - 1)
        t = min(max(u - f, 0.0), 1.0)
        taps = []
        for k, d in zip((-1, 0, 1, 2), (1 + t, t, 1 - t, 2 - t)):
            taps.append((min(max(f + k, 0), n - 1), _keys(d)))
        out.append(taps)
    return out


def _aa_weights(mode):
    """The antialiased [[(pixel, weight), …]] of each output, by the formula above."""
    h = 1 if mode == "bilinear" else 2

    def kernel(d):
        d = abs(d)
        if mode == "bilinear":
            return 1.0 - d if d < 1 else 0.0
        a = -0.5
        if d < 1:
            return (a + 2) * d**3 - (a + 3) * d**2 + 1
        if d < 2:
            return a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a
        return 0.0

    def weights(n, N, factor, align_corners):
        out = []
        for i in range(N):
            if N == n:
                out.append([(i, 1.0)])
                continue
            if align_corners:
                r = (n - 1) / (N - 1) if N > 1 else 0.0
            else:
                r = 1.0 / factor if factor is not None else n / N
            t = max(r, 1.0)
            c = r * (i + 0.5)
            j0 = max(math.floor(c - h * t + 0.5), 0)
            j1 = min(math.floor(c + h * t + 0.5), n)
            raw = [(j, kernel((j - c + 0.5) / t)) for j in range(j0, j1)]
            total = sum(w for _, w in raw)
            out.append([(j, w / total) for j, w in raw])
        return out

    return weights


def _geometry(shape, size, scale_factor, align_corners, weights=None):
    m, n = shape[-2:]
    sizes = (None, None)
    factors = (None, None)
    if size is not None:
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
    else:
        factors = (
            tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * 2
        )
    H = _out_size(m, sizes[0], factors[0])
    W = _out_size(n, sizes[1], factors[1])
    weights = weights or _weights
    return (
        weights(m, H, factors[0], align_corners),
        weights(n, W, factors[1], align_corners),
    )


def interpolate_bilinear(x, size=None, scale_factor=None, align_corners=False, antialias=False):
    """Bilinear resize of x (B, C, m, n) or (C, m, n) by the formula above."""
    if antialias:
        return _taps_forward(x, size, scale_factor, align_corners, _aa_weights("bilinear"))
    batched = x.ndim == 4
    x4 = x if batched else x[None]
    rows, cols = _geometry(x.shape, size, scale_factor, align_corners)
    B, C = x4.shape[:2]
    y = np.zeros((B, C, len(rows), len(cols)))
    for b in range(B):
        for c in range(C):
            for i, (r0, wr0, r1, wr1) in enumerate(rows):
                for j, (c0, wc0, c1, wc1) in enumerate(cols):
                    total = 0.0
                    for r, wr in ((r0, wr0), (r1, wr1)):
                        for cc, wc in ((c0, wc0), (c1, wc1)):
                            total += wr * wc * float(x4[b, c, r, cc])
                    y[b, c, i, j] = total
    y = y.astype(x.dtype)
    return y if batched else y[0]


def interpolate_bilinear_backward(
    grad_output, input_shape, size=None, scale_factor=None, align_corners=False, antialias=False
):
    """∂ℓ/∂X: each G[β, c, i, j] handed to the four input pixels output (i, j) read, times the
    weight it gave each (antialiased: to every pixel of its window)."""
    if antialias:
        weights = _aa_weights("bilinear")
        return _taps_backward(grad_output, input_shape, size, scale_factor, align_corners, weights)
    batched = len(input_shape) == 4
    g4 = grad_output if batched else grad_output[None]
    rows, cols = _geometry(tuple(input_shape), size, scale_factor, align_corners)
    B, C = g4.shape[:2]
    gx = np.zeros((B, C, *input_shape[-2:]))
    for b in range(B):
        for c in range(C):
            for i, (r0, wr0, r1, wr1) in enumerate(rows):
                for j, (c0, wc0, c1, wc1) in enumerate(cols):
                    for r, wr in ((r0, wr0), (r1, wr1)):
                        for cc, wc in ((c0, wc0), (c1, wc1)):
                            gx[b, c, r, cc] += wr * wc * float(g4[b, c, i, j])
    gx = gx.astype(grad_output.dtype)
    return gx if batched else gx[0]


def interpolate_bicubic(x, size=None, scale_factor=None, align_corners=False, antialias=False):
    """Bicubic resize of x (B, C, m, n) or (C, m, n): the 16 weighted pixels of each output
    (antialiased: every pixel of its window)."""
    weights = _aa_weights("bicubic") if antialias else _cubic_weights
    return _taps_forward(x, size, scale_factor, align_corners, weights)


def _taps_forward(x, size, scale_factor, align_corners, weights):
    """Y[β, c, i, j] = Σ over the row taps (r, wr) of i and column taps (cc, wc) of j of
    wr·wc·X[β, c, r, cc]."""
    batched = x.ndim == 4
    x4 = x if batched else x[None]
    rows, cols = _geometry(x.shape, size, scale_factor, align_corners, weights)
    B, C = x4.shape[:2]
    y = np.zeros((B, C, len(rows), len(cols)))
    for b in range(B):
        for c in range(C):
            for i, row_taps in enumerate(rows):
                for j, col_taps in enumerate(cols):
                    total = 0.0
                    for r, wr in row_taps:
                        for cc, wc in col_taps:
                            total += wr * wc * float(x4[b, c, r, cc])
                    y[b, c, i, j] = total
    y = y.astype(x.dtype)
    return y if batched else y[0]


def interpolate_bicubic_backward(
    grad_output, input_shape, size=None, scale_factor=None, align_corners=False, antialias=False
):
    """∂ℓ/∂X: each G[β, c, i, j] handed to the 16 input pixels output (i, j) read, times the
    weight it gave each (a pixel read by several clipped taps receives each share)."""
    weights = _aa_weights("bicubic") if antialias else _cubic_weights
    return _taps_backward(grad_output, input_shape, size, scale_factor, align_corners, weights)


def _taps_backward(grad_output, input_shape, size, scale_factor, align_corners, weights):
    """∂ℓ/∂X[β, c, r, cc] = Σ over the outputs (i, j) that read (r, cc) of wr·wc·G[β, c, i, j]."""
    batched = len(input_shape) == 4
    g4 = grad_output if batched else grad_output[None]
    rows, cols = _geometry(tuple(input_shape), size, scale_factor, align_corners, weights)
    B, C = g4.shape[:2]
    gx = np.zeros((B, C, *input_shape[-2:]))
    for b in range(B):
        for c in range(C):
            for i, row_taps in enumerate(rows):
                for j, col_taps in enumerate(cols):
                    for r, wr in row_taps:
                        for cc, wc in col_taps:
                            gx[b, c, r, cc] += wr * wc * float(g4[b, c, i, j])
    gx = gx.astype(grad_output.dtype)
    return gx if batched else gx[0]


def _nearest_weights(exact):
    """Nearest: output i reads pixel min(⌊i·r⌋, n − 1) ("nearest", PyTorch's legacy rule) or
    min(⌊(i + ½)·r⌋, n − 1) ("nearest-exact"), r = 1/scale_factor when a factor is given,
    else n/N."""

    def weights(n, N, factor, align_corners):
        r = 1.0 / factor if factor is not None else n / N
        return [[(min(int(math.floor((i + 0.5 * exact) * r)), n - 1), 1.0)] for i in range(N)]

    return weights


def _axis_weights(x_shape, size, scale_factor, mode, align_corners, recompute, antialias):
    """For each spatial axis, [[(pixel, weight), …] for each output index]."""
    spatial = x_shape[2:]
    d = len(spatial)
    if size is not None:
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * d
        factors = (None,) * d
    else:
        factors = (
            tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * d
        )
        sizes = tuple(_out_size(n, None, f) for n, f in zip(spatial, factors))
    if recompute:  # the coordinates come from the sizes
        factors = (None,) * d
    corners = bool(align_corners)
    if mode in ("nearest", "nearest-exact"):
        rule = _nearest_weights(mode == "nearest-exact")
    elif antialias:
        rule = _aa_weights("bilinear" if mode == "bilinear" else "bicubic")
    elif mode == "bicubic":
        rule = _cubic_weights
    else:  # linear, bilinear, trilinear

        def rule(n, N, f, ac):
            return [[(i0, l0), (i1, l1)] for i0, l0, i1, l1 in _weights(n, N, f, ac)]

    return [rule(n, N, f, corners) for n, N, f in zip(spatial, sizes, factors)]


def interpolate(
    x,
    size=None,
    scale_factor=None,
    mode="nearest",
    align_corners=None,
    recompute_scale_factor=None,
    antialias=False,
):
    """PyTorch's ``F.interpolate`` on (N, C, *spatial): each output element the sum, over one
    pixel per axis from its taps, of the product of the axes' weights times that input pixel
    (the weights of each mode as above; nearest: one pixel, weight 1)."""
    axes = _axis_weights(
        x.shape, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias
    )
    out_spatial = tuple(len(a) for a in axes)
    y = np.zeros((*x.shape[:2], *out_spatial))
    xd = x.astype(np.float64)
    for index in np.ndindex(*out_spatial):
        for taps in itertools.product(*(axes[k][i] for k, i in enumerate(index))):
            weight = math.prod(w for _, w in taps)
            pixel = (Ellipsis, *(p for p, _ in taps))
            out = (Ellipsis, *index)
            y[out] += weight * xd[pixel]
    return y.astype(x.dtype)


def interpolate_backward(
    grad_output,
    x,
    size=None,
    scale_factor=None,
    mode="nearest",
    align_corners=None,
    recompute_scale_factor=None,
    antialias=False,
):
    """∂ℓ/∂x of ``interpolate``: each output element's gradient added to the pixels it read,
    times the same weights."""
    axes = _axis_weights(
        x.shape, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias
    )
    gx = np.zeros(x.shape)
    g = grad_output.astype(np.float64)
    for index in np.ndindex(*(len(a) for a in axes)):
        for taps in itertools.product(*(axes[k][i] for k, i in enumerate(index))):
            weight = math.prod(w for _, w in taps)
            pixel = (Ellipsis, *(p for p, _ in taps))
            out = (Ellipsis, *index)
            gx[pixel] += weight * g[out]
    return gx.astype(x.dtype)
