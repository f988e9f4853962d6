"""Resizing images by interpolation: nearest copies' adjoint and bilinear resampling.

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
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._checks import check_float_array

__all__ = [
    "Taps",
    "interpolate_bilinear",
    "interpolate_bilinear_backward",
    "linear_taps",
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
    i = np.arange(n_out, dtype=dt)
    if align_corners:
        r = dt.type(n_in - 1) / dt.type(n_out - 1) if n_out > 1 else dt.type(0)
        u = r * i
    else:
        if scale_factor is not None and scale_factor > 0:
            r = dt.type(1.0 / scale_factor)
        else:
            r = dt.type(n_in) / dt.type(n_out)
        u = np.maximum(r * (i + dt.type(0.5)) - dt.type(0.5), dt.type(0))
    if n_out == n_in:  # PyTorch copies an axis that keeps its length, whatever the factor
        copy = np.arange(n_out)
        return Taps(copy, copy, np.ones(n_out, dt), np.zeros(n_out, dt))
    # PyTorch's rule past the last pixel: i0 = n_in − 1 and λ1 = u − i0 unclamped, both taps
    # on that pixel (λ0 + λ1 = 1: the same value, and a NaN pattern as PyTorch's for ±inf)
    i0 = np.minimum(np.floor(u).astype(np.intp), n_in - 1)
    lambda1 = (u - i0.astype(dt)).astype(dt)
    return Taps(i0, np.minimum(i0 + 1, n_in - 1), (dt.type(1) - lambda1).astype(dt), lambda1)


def _along(x: np.ndarray, taps: Taps, axis: int) -> np.ndarray:
    """λ0·take(x, i0) + λ1·take(x, i1) along ``axis`` (−1 or −2); a 0·inf is NaN, as in
    PyTorch, without a warning."""
    shape = (-1, 1) if axis == -2 else (-1,)
    y = np.take(x, taps.i0, axis=axis)
    with np.errstate(invalid="ignore", over="ignore"):
        y *= taps.lambda0.reshape(shape)
        y += np.take(x, taps.i1, axis=axis) * taps.lambda1.reshape(shape)
    return y


def resample_linear(x: np.ndarray, rows: Taps, cols: Taps) -> np.ndarray:
    """Y = bilinear resampling of x (…, m, n) by the taps of its rows (H_out of them, on m
    pixels) and columns (W_out, on n): along the width, then the height. Returns (…, H_out,
    W_out) in x's dtype (the taps' weights must have it)."""
    return _along(_along(x, cols, -1), rows, -2)


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


def _along_backward(g: np.ndarray, taps: Taps, n_in: int, axis: int) -> np.ndarray:
    """The adjoint of ``_along``: Σ λ0·G into i0 plus Σ λ1·G into i1."""
    shape = (-1, 1) if axis == -2 else (-1,)
    with np.errstate(invalid="ignore", over="ignore"):
        out = sum_into_sources(g * taps.lambda0.reshape(shape), taps.i0, n_in, axis)
        out += sum_into_sources(g * taps.lambda1.reshape(shape), taps.i1, n_in, axis)
    return out


def resample_linear_backward(
    grad_output: np.ndarray, rows: Taps, cols: Taps, input_hw: tuple[int, int]
) -> np.ndarray:
    """∂ℓ/∂x of ``resample_linear(x, rows, cols)`` for x (…, m, n), ``input_hw`` = (m, n),
    given G = ∂ℓ/∂Y (…, H_out, W_out): the adjoint of the height pass, then of the width
    pass. Returns (…, m, n) in G's dtype."""
    g = _along_backward(grad_output, rows, input_hw[0], -2)
    return _along_backward(g, cols, input_hw[1], -1)


def _plan(
    func: str,
    x_shape: tuple[int, ...],
    size: int | tuple[int, int] | None,
    scale_factor: float | tuple[float, float] | None,
    align_corners: bool,
    dtype: np.dtype,
) -> tuple[Taps, Taps]:
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
        linear_taps(m, out[0], factors[0], align_corners, dtype),
        linear_taps(n, out[1], factors[1], align_corners, dtype),
    )


def interpolate_bilinear(
    x: np.ndarray,
    size: int | tuple[int, int] | None = None,
    scale_factor: float | tuple[float, float] | None = None,
    align_corners: bool = False,
) -> np.ndarray:
    """Bilinear resizing, as ``torch.nn.functional.interpolate(x, size, scale_factor,
    mode="bilinear", align_corners)``:

        Y[β,c,i,j] = Σ_{a∈{0,1}} Σ_{e∈{0,1}} λa_h[i] · λe_w[j] · X[β, c, ia_h[i], ie_w[j]]

    with each axis's taps (ia, λa) from ``linear_taps`` (half-pixel centres, or the corners
    aligned). Give exactly one of ``size`` (int or pair: H_out, W_out) and ``scale_factor``
    (a positive number or a pair; H_out = ⌊m·s_h⌋, and the coordinates use 1/s as PyTorch
    does). x: (B, C, m, n) or (C, m, n), float32/float64; Y in x's dtype.

    >>> interpolate_bilinear(np.array([[[0.0, 1.0]]]), size=(1, 4))[0, 0]
    array([0.  , 0.25, 0.75, 1.  ])
    """
    func = "interpolate_bilinear"
    x = check_float_array("x", x, func=func)
    rows, cols = _plan(func, x.shape, size, scale_factor, bool(align_corners), x.dtype)
    return resample_linear(x, rows, cols)


def interpolate_bilinear_backward(
    grad_output: np.ndarray,
    input_shape: tuple[int, ...],
    size: int | tuple[int, int] | None = None,
    scale_factor: float | tuple[float, float] | None = None,
    align_corners: bool = False,
) -> np.ndarray:
    """∂ℓ/∂X of ``interpolate_bilinear(X, size, scale_factor, align_corners)`` for X of
    ``input_shape``, given G = ∂ℓ/∂Y: ∂ℓ/∂X[β,c,u,v] = Σ_{i,j} G[β,c,i,j] · (the weight
    output (i, j) gave input pixel (u, v)), the adjoint taken axis by axis. G must have Y's
    shape; the result has ``input_shape`` and G's dtype."""
    func = "interpolate_bilinear_backward"
    G = check_float_array("grad_output", grad_output, func=func)
    shape = tuple(int(v) for v in input_shape)
    rows, cols = _plan(func, shape, size, scale_factor, bool(align_corners), G.dtype)
    expected = (*shape[:-2], rows.i0.size, cols.i0.size)
    if G.shape != expected:
        raise ValueError(f"{func}: grad_output: expected shape {expected}, got {G.shape}")
    return resample_linear_backward(G, rows, cols, (shape[-2], shape[-1]))
