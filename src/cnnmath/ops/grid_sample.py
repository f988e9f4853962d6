"""Sampling an image at arbitrary points: ``affine_grid`` and ``grid_sample``, the two halves
of a spatial transformer, as ``torch.nn.functional``'s.

A grid holds, for every output pixel (i, j) of every image n, a point g = (g_x, g_y) in the
input's normalised coordinates: −1 and +1 are the left and right (top and bottom) edges —
the centres of the corner pixels with ``align_corners=True``, their outer edges with
``align_corners=False``. On an axis of n pixels the normalised g becomes the pixel
coordinate

    u = (g + 1)/2 · (n − 1)          (align_corners=True)
    u = ((g + 1)·n − 1)/2            (align_corners=False),

then ``padding_mode`` decides what lies outside [0, n − 1]: "zeros" reads 0 there, "border"
clamps u to [0, n − 1], "reflection" reflects u about the edges (about the corner centres
with ``align_corners=True``, about the outer edges otherwise) until it falls inside, then
clamps. ``mode="bilinear"`` mixes the four pixels around (u_x, u_y),

    y = Σ_{a, b ∈ {0, 1}} (1 − |u_x − x_a|)(1 − |u_y − y_b|) · X[y_b, x_a],
    x_0 = ⌊u_x⌋, x_1 = x_0 + 1 (and so for y),

``mode="nearest"`` reads the pixel at (round(u_x), round(u_y)), ties to even.
``mode="bicubic"`` mixes the 4 × 4 pixels around the unpadded u, by the cubic convolution
kernel w with A = −0.75 (PyTorch's and ONNX's):

    y = Σ_{a, b = −1..2} w_a(t_x) w_b(t_y) · X[pad(y_0 + b), pad(x_0 + a)],
    x_0 = ⌊u_x⌋, t_x = u_x − x_0 (and so for y),
    w_{−1}(t) = k₂(t + 1), w_0(t) = k₁(t), w_1(t) = k₁(1 − t), w_2(t) = k₂(2 − t),
    k₁(s) = (A + 2)s³ − (A + 3)s² + 1,  k₂(s) = As³ − 5As² + 8As − 4A,

where ``padding_mode`` moves each tap's pixel on its own (border clamps it, reflection
reflects then clamps; under "zeros" a pixel outside reads 0), the weights still those of the
unmoved u. The backward pass gives ∂ℓ/∂X (each output's gradient shared out to the pixels it
read, by the same weights) and ∂ℓ/∂grid (the weights' slopes times the pixel values, times
du/dg: the scale (n − 1)/2 or n/2, for "bilinear" times ±1 or 0 from the padding; 0 for
"nearest", which is piecewise constant; "bicubic"'s taps move by whole pixels, so its du/dg
is the scale alone). As in PyTorch, a bilinear coordinate clamped onto an edge — or exactly
on one — has du/dg = 0 under "border" and "reflection". The coordinates are computed in the
grid's dtype with PyTorch's formulas (in float32 with ``align_corners=False`` its fused
multiply-add, one rounding), so that a float32 point on an edge, a pixel or half-way between
pixels falls on the same side as in PyTorch; the sums are in float64. 5-D (volumetric)
sampling is not implemented.

Non-finite grid points, where PyTorch's CPU kernels disagree with each other (its vectorised
and scalar code clamp a NaN to opposite edges): a NaN coordinate, or ±∞ under "reflection"
(which has no image), samples NaN and has a NaN grid gradient and no share of ∂ℓ/∂X; ±∞ under
"zeros" lies outside (reads 0, slope 0) and under "border" clamps to the edge, as the limits
say — in every mode, bicubic included, although PyTorch's bicubic samples NaN at every ±∞
(its t = ∞ − ∞). Every finite point agrees with PyTorch, edges and ties included (in float32
to the rounding of its sums).

``affine_grid(θ, size)`` is the grid of an affine map: with (x_j, y_i) the normalised
coordinates of output pixel (i, j) — x_j = −1 + 2j/(W − 1) with ``align_corners=True``,
(2j + 1)/W − 1 without — the point sampled is g[n, i, j] = θ_n · (x_j, y_i, 1)ᵀ, θ (N, 2, 3).
Its backward is ∂ℓ/∂θ_n = Σ_{i, j} ∂ℓ/∂g[n, i, j] · (x_j, y_i, 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from .._checks import check_float_array, check_ndim, check_same_dtype
from .interpolate import cubic_weights

__all__ = [
    "affine_grid",
    "affine_grid_backward",
    "grid_sample",
    "grid_sample_backward",
]

MODES = ("bilinear", "nearest", "bicubic")
PADDING_MODES = ("zeros", "border", "reflection")


# --------------------------------------------------------------------------- affine_grid
def _size(size: Any, func: str) -> tuple[int, int, int, int]:
    if (
        not isinstance(size, Sequence)
        or len(size) != 4
        or any(
            isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) for v in size
        )
        or min(size) < 1
    ):
        raise ValueError(f"{func}: size: expected (N, C, H, W), four ints >= 1, got {size!r}")
    N, C, H, W = (int(v) for v in size)
    return N, C, H, W


def _base(n: int, align_corners: bool) -> np.ndarray:
    """The normalised coordinates of the n pixel centres of an axis (float64)."""
    if align_corners:
        return np.linspace(-1.0, 1.0, n) if n > 1 else np.zeros(1)
    return (2.0 * np.arange(n) + 1.0) / n - 1.0


def _base_grid(H: int, W: int, align_corners: bool) -> np.ndarray:
    """(H, W, 3): (x_j, y_i, 1) at every output pixel."""
    base = np.ones((H, W, 3))
    base[..., 0] = _base(W, align_corners)[None, :]
    base[..., 1] = _base(H, align_corners)[:, None]
    return base


def _flag(name: str, value: Any, func: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{func}: {name}: expected a bool, got {value!r}")
    return bool(value)


def affine_grid(theta: np.ndarray, size: Sequence[int], align_corners: bool = False) -> np.ndarray:
    """The sampling grid of affine maps θ (N, 2, 3) for an output of ``size`` (N, C, H, W):
    g[n, i, j] = θ_n · (x_j, y_i, 1)ᵀ, a (N, H, W, 2) array in θ's dtype holding (g_x, g_y)
    (``torch.nn.functional.affine_grid``; the module docstring gives x_j and y_i).

    >>> theta = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])  # the identity
    >>> affine_grid(theta, (1, 1, 2, 2), align_corners=True)[0, :, :, 0]
    array([[-1.,  1.],
           [-1.,  1.]])
    """
    func = "affine_grid"
    check_float_array("theta", theta, func=func)
    N, _, H, W = _size(size, func)
    align = _flag("align_corners", align_corners, func)
    if theta.shape != (N, 2, 3):
        raise ValueError(
            f"{func}: theta: expected shape (N, 2, 3) = {(N, 2, 3)} for size {tuple(size)}, "
            f"got {theta.shape}"
        )
    base = _base_grid(H, W, align)
    with np.errstate(invalid="ignore", over="ignore"):
        grid = np.einsum("hwj,nij->nhwi", base, theta.astype(np.float64))
    return grid.astype(theta.dtype)


def affine_grid_backward(
    grad_grid: np.ndarray, size: Sequence[int], align_corners: bool = False
) -> np.ndarray:
    """∂ℓ/∂θ (N, 2, 3) of ``affine_grid(θ, size)`` given ∂ℓ/∂g (N, H, W, 2):
    ∂ℓ/∂θ_n[a, b] = Σ_{i, j} ∂ℓ/∂g[n, i, j, a] · (x_j, y_i, 1)[b]."""
    func = "affine_grid_backward"
    check_float_array("grad_grid", grad_grid, func=func)
    N, _, H, W = _size(size, func)
    align = _flag("align_corners", align_corners, func)
    if grad_grid.shape != (N, H, W, 2):
        raise ValueError(
            f"{func}: grad_grid: expected shape (N, H, W, 2) = {(N, H, W, 2)}, got "
            f"{grad_grid.shape}"
        )
    base = _base_grid(H, W, align)
    with np.errstate(invalid="ignore", over="ignore"):
        grad = np.einsum("nhwa,hwb->nab", grad_grid.astype(np.float64), base)
    return grad.astype(grad_grid.dtype)


# --------------------------------------------------------------------------- coordinates
def _reflect(u: np.ndarray, twice_low: int, twice_high: int) -> tuple[np.ndarray, np.ndarray]:
    """u reflected into [low, high] (the bounds given doubled, to stay integers) and du'/du
    (±1): the interval's images tile the line, alternately mirrored."""
    if twice_low == twice_high:
        return np.zeros_like(u), np.zeros_like(u)
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    shifted = u - low
    sign = np.where(shifted < 0, -1.0, 1.0)
    distance = np.abs(shifted)
    extra = np.fmod(distance, span)
    odd = np.floor(distance / span) % 2 == 1
    return np.where(odd, span - extra, extra) + low, np.where(odd, -sign, sign)


def _clamp(u: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """u clamped to [0, n − 1] and its slope: 0 on and beyond either edge, as PyTorch's."""
    inside = (u > 0) & (u < n - 1)
    return np.clip(u, 0, n - 1), inside.astype(np.float64)


def _unnormalise(g: np.ndarray, n: int, align_corners: bool) -> tuple[np.ndarray, float]:
    """The pixel coordinate u of normalised coordinates g on an axis of n pixels, and du/dg."""
    if align_corners:
        return (g + 1) / 2 * (n - 1), (n - 1) / 2
    if g.dtype == np.float32:  # PyTorch's float32 kernel: a fused (g + 1)·(n/2) − 0.5,
        return ((g + 1).astype(np.float64) * (n / 2) - 0.5).astype(np.float32), n / 2
    return ((g + 1) * n - 1) / 2, n / 2  # rounded once (the float64 product is exact)


def _pad(
    u: np.ndarray, n: int, padding_mode: str, align_corners: bool
) -> tuple[np.ndarray, np.ndarray]:
    """u moved inside [0, n − 1] by "border" or "reflection" (left as it is by "zeros"), and
    du'/du."""
    slope = np.ones_like(u)
    if padding_mode == "reflection":
        twice = (0, 2 * (n - 1)) if align_corners else (-1, 2 * n - 1)
        u, slope = _reflect(u, *twice)
    if padding_mode in ("border", "reflection"):
        u, d = _clamp(u, n)
        slope = slope * d
    return u, slope


def _source(
    g: np.ndarray, n: int, padding_mode: str, align_corners: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The padded pixel coordinate u of normalised coordinates g on an axis of n pixels, and
    du/dg (bilinear's and nearest's)."""
    u, scale = _unnormalise(g, n, align_corners)
    slope = np.full_like(u, scale)
    if padding_mode == "zeros":  # ±∞ lies outside: read 0 there, with slope 0
        infinite = np.isinf(u)
        u, slope = np.where(infinite, -2.0, u), np.where(infinite, 0.0, slope)
    u, d = _pad(u, n, padding_mode, align_corners)
    return u, slope * d


def _cubic_source(
    g: np.ndarray, n: int, padding_mode: str, align_corners: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Bicubic's unpadded pixel coordinate u and du/dg: ±∞ becomes a point past that edge
    where every tap lies outside (−3 or n + 2, slope 0), or NaN under "reflection"."""
    u, scale = _unnormalise(g, n, align_corners)
    infinite = np.isinf(u)
    beyond = np.full_like(u, np.nan) if padding_mode == "reflection" else np.clip(u, -3, n + 2)
    return np.where(infinite, beyond, u), np.where(infinite, 0.0, scale)


class _Tap(NamedTuple):
    """One of the pixels an output reads: its flat index in the H·W plane (0 where it lies
    outside), whether it lies inside, its weight and the weight's slopes in u_x and u_y."""

    flat: np.ndarray
    inside: np.ndarray
    weight: np.ndarray
    d_ux: np.ndarray
    d_uy: np.ndarray


def _tap(cx: np.ndarray, cy: np.ndarray, H: int, W: int, *weights: np.ndarray) -> _Tap:
    """The tap at pixel (cx, cy) with its weight and the weight's slopes."""
    inside = (cx >= 0) & (cx <= W - 1) & (cy >= 0) & (cy <= H - 1)
    row = np.where(inside, cy, 0).astype(np.intp)  # integers first: a float32 index
    col = np.where(inside, cx, 0).astype(np.intp)  # is exact only below 2²⁴
    return _Tap(row * W + col, inside, *weights)


def _taps(ux: np.ndarray, uy: np.ndarray, H: int, W: int, mode: str) -> list[_Tap]:
    if mode == "nearest":
        flat_slope = np.zeros_like(ux)
        corners = [(np.rint(ux), np.rint(uy), np.ones_like(ux), flat_slope, flat_slope)]
    else:
        x0, y0 = np.floor(ux), np.floor(uy)
        x1, y1 = x0 + 1, y0 + 1
        east, west = ux - x0, x1 - ux  # the distances to the pixels on the left and right
        south, north = uy - y0, y1 - uy
        corners = [
            (x0, y0, west * north, -north, -west),
            (x1, y0, east * north, north, -east),
            (x0, y1, west * south, -south, west),
            (x1, y1, east * south, south, east),
        ]
    with np.errstate(invalid="ignore"):
        return [_tap(cx, cy, H, W, *weights) for cx, cy, *weights in corners]


# The cubic convolution kernel's parameter: PyTorch's and ONNX's (Keys's is −0.5)
A = -0.75


def _near_slope(s: np.ndarray) -> np.ndarray:  # the kernel's slope at distance |s| ≤ 1
    return (3 * (A + 2) * s - 2 * (A + 3)) * s


def _far_slope(s: np.ndarray) -> np.ndarray:  # at distance 1 ≤ |s| ≤ 2
    return (3 * A * s - 10 * A) * s + 8 * A


def _cubic(t: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The weights of the taps at −1, 0, 1, 2 for a point t ∈ [0, 1) past tap 0 (float64:
    ``cubic_weights``, the kernel's two pieces at distances 1 + t, t, 1 − t, 2 − t), and their
    slopes in t."""
    weights = list(cubic_weights(t, A))
    return weights, [_far_slope(t + 1), _near_slope(t), -_near_slope(1 - t), -_far_slope(2 - t)]


def _cubic_taps(
    ux: np.ndarray, uy: np.ndarray, H: int, W: int, padding_mode: str, align_corners: bool
) -> list[_Tap]:
    """The 4 × 4 taps around unpadded (u_x, u_y), each tap's pixel padded on its own."""
    x0, y0 = np.floor(ux), np.floor(uy)
    wx, dx = _cubic((ux - x0).astype(np.float64))
    wy, dy = _cubic((uy - y0).astype(np.float64))
    with np.errstate(invalid="ignore"):  # the tap's coordinates in the grid's dtype, as PyTorch
        cols = [_pad(x0 + (k - 1), W, padding_mode, align_corners)[0] for k in range(4)]
        rows = [_pad(y0 + (k - 1), H, padding_mode, align_corners)[0] for k in range(4)]
        return [
            _tap(cols[a], rows[b], H, W, wx[a] * wy[b], dx[a] * wy[b], wx[a] * dy[b])
            for b in range(4)
            for a in range(4)
        ]


class _Geometry(NamedTuple):
    taps: list[_Tap]
    slope_x: np.ndarray  # du_x/dg_x, (N, P)
    slope_y: np.ndarray
    undefined: np.ndarray  # (N, P): points with no pixel coordinate (NaN; ±∞ reflected)


def _parse(
    func: str, x: Any, grid: Any, mode: Any, padding_mode: Any, align_corners: Any
) -> tuple[np.ndarray, np.ndarray, _Geometry]:
    check_float_array("x", x, func=func)
    check_float_array("grid", grid, func=func)
    check_ndim("x", x, (4,), func=func, layout="(N, C, H, W)")
    check_same_dtype(func, x=x, grid=grid)
    if grid.ndim != 4 or grid.shape[-1] != 2 or grid.shape[0] != x.shape[0]:
        raise ValueError(
            f"{func}: grid: expected shape (N, H_out, W_out, 2) with N = {x.shape[0]} "
            f"(x's batch), got {grid.shape}"
        )
    if mode not in MODES:
        raise ValueError(f"{func}: mode: expected 'bilinear', 'nearest' or 'bicubic', got {mode!r}")
    if padding_mode not in PADDING_MODES:
        raise ValueError(
            f"{func}: padding_mode: expected 'zeros', 'border' or 'reflection', "
            f"got {padding_mode!r}"
        )
    align = _flag("align_corners", align_corners, func)
    N, _, H, W = x.shape
    if H == 0 or W == 0:
        raise ValueError(f"{func}: x: expected an image of at least one pixel, got {x.shape}")
    # the coordinates in the grid's dtype, by PyTorch's formulas: a float32 point on an edge
    # or half-way between pixels falls on the same side as in PyTorch
    g = grid.reshape(N, grid.shape[1] * grid.shape[2], 2)
    source = _cubic_source if mode == "bicubic" else _source
    with np.errstate(invalid="ignore", over="ignore"):
        ux, slope_x = source(g[..., 0], W, padding_mode, align)
        uy, slope_y = source(g[..., 1], H, padding_mode, align)
        if mode == "bicubic":
            taps = _cubic_taps(ux, uy, H, W, padding_mode, align)
        else:
            taps = _taps(ux, uy, H, W, mode)
        undefined = np.isnan(ux) | np.isnan(uy)
    return x, grid, _Geometry(taps, slope_x, slope_y, undefined)


def _read(planes: np.ndarray, tap: _Tap) -> np.ndarray:
    """The tap's pixel of every channel, (N, C, P) float64, 0 where it lies outside (read as
    0, not weighted by 0: an ∞ pixel outside contributes nothing)."""
    values = np.take_along_axis(planes, tap.flat[:, None, :], axis=2).astype(np.float64)
    return np.where(tap.inside[:, None, :], values, 0.0)


def grid_sample(
    x: np.ndarray,
    grid: np.ndarray,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool = False,
) -> np.ndarray:
    """Sample X (N, C, H, W) at the points of ``grid`` (N, H_out, W_out, 2), (g_x, g_y) in
    normalised coordinates: Y (N, C, H_out, W_out) in X's dtype
    (``torch.nn.functional.grid_sample``; the module docstring gives the formulas).

    >>> X = np.arange(4.0).reshape(1, 1, 2, 2)
    >>> grid = np.array([[[[0.0, 0.0], [1.0, -1.0]]]])  # the centre, the top-right corner
    >>> grid_sample(X, grid, align_corners=True)
    array([[[[1.5, 1. ]]]])
    """
    func = "grid_sample"
    x, grid, geo = _parse(func, x, grid, mode, padding_mode, align_corners)
    N, C, H, W = x.shape
    planes = x.reshape(N, C, H * W)
    y = np.zeros((N, C, geo.slope_x.shape[1]))
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        for tap in geo.taps:
            y += tap.weight[:, None, :] * _read(planes, tap)
    y[np.broadcast_to(geo.undefined[:, None, :], y.shape)] = np.nan
    return y.reshape(N, C, *grid.shape[1:3]).astype(x.dtype)


def grid_sample_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    grid: np.ndarray,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(∂ℓ/∂X, ∂ℓ/∂grid) of ``grid_sample(X, grid, …)`` given G (N, C, H_out, W_out):

        ∂ℓ/∂X[n, c, p] = Σ over outputs o and their taps t reading pixel p of w_t(o)·G[n, c, o],
        ∂ℓ/∂g_x[n, o] = du_x/dg_x · Σ_c G[n, c, o] Σ_t ∂w_t/∂u_x · X[n, c, t]   (and so for y),

    the first a scatter-add (``np.bincount``), the second 0 for ``mode="nearest"``."""
    func = "grid_sample_backward"
    x, grid, geo = _parse(func, x, grid, mode, padding_mode, align_corners)
    check_float_array("grad_output", grad_output, func=func)
    N, C, H, W = x.shape
    if grad_output.shape != (N, C, *grid.shape[1:3]):
        raise ValueError(
            f"{func}: grad_output: expected the output's shape {(N, C, *grid.shape[1:3])}, "
            f"got {grad_output.shape}"
        )
    check_same_dtype(func, x=x, grad_output=grad_output)
    P = geo.slope_x.shape[1]
    G = grad_output.reshape(N, C, P).astype(np.float64)
    planes = x.reshape(N, C, H * W)
    plane_start = (np.arange(N * C) * (H * W)).reshape(N, C, 1)
    indices, shares = [], []
    gx = np.zeros((N, P))
    gy = np.zeros((N, P))
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        for tap in geo.taps:
            inside = np.broadcast_to(tap.inside[:, None, :], G.shape)
            indices.append((plane_start + tap.flat[:, None, :])[inside])
            shares.append((tap.weight[:, None, :] * G)[inside])
            if mode != "nearest":
                weighted = np.einsum("ncp,ncp->np", G, _read(planes, tap))
                gx += tap.d_ux * weighted
                gy += tap.d_uy * weighted
        grad_x = np.bincount(
            np.concatenate(indices), weights=np.concatenate(shares), minlength=N * C * H * W
        )
        grad_grid = np.stack([gx * geo.slope_x, gy * geo.slope_y], axis=-1)
    grad_grid[geo.undefined] = np.nan
    return (
        grad_x.reshape(x.shape).astype(x.dtype),
        grad_grid.reshape(grid.shape).astype(grid.dtype),
    )
