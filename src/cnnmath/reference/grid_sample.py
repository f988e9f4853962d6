"""affine_grid and grid_sample as loops over every output point, one scalar at a time.

For output point (i, j) of image n, the grid gives normalised coordinates (g_x, g_y); on an
axis of n pixels the pixel coordinate is u = (g + 1)(n − 1)/2 when the corners' centres are
±1 (``align_corners``), u = ((g + 1)n − 1)/2 when the corners' outer edges are. Outside the
image, "zeros" reads 0, "border" moves u to the nearest edge pixel and "reflection" folds u
back across the edge it passed (the corner centres, or the outer edges half a pixel further
out), again and again until it is inside, then moves it onto the edge pixel if it lies
beyond. Bilinear sampling weighs the four pixels around u by their closeness along each axis;
nearest reads the pixel whose centre is nearest, a tie going to the even one. Bicubic weighs
the 4 × 4 pixels around the unmoved u (two whole pixels each way at most) by the cubic
convolution kernel of their distances along each axis, and only then moves each of those
pixels as above ("zeros" reads 0 for one outside).

The backward passes are the chain rule written out per point: the four weights' slopes in
u_x and u_y, times the pixel values and the output gradient, times du/dg (the scale (n − 1)/2
or n/2, the sign of each fold, and 0 where u was moved onto an edge or lies on one); bicubic's
the kernel's slopes times (n − 1)/2 or n/2 alone, its pixels being moved whole.
"""

from __future__ import annotations

import math

import numpy as np


def _pixel(g, n, align_corners):
    """(u, du/dg)."""
    if align_corners:
        return (g + 1.0) * (n - 1) / 2.0, (n - 1) / 2.0
    return ((g + 1.0) * n - 1.0) / 2.0, n / 2.0


def _fold(u, low, high):
    """u folded into [low, high] by repeated reflection, and the product of the folds' signs."""
    if low == high:
        return low, 0.0
    sign = 1.0
    while u < low or u > high:
        if u < low:
            u = 2 * low - u
        else:
            u = 2 * high - u
        sign = -sign
    return u, sign


def _coordinate(g, n, padding_mode, align_corners):
    """The pixel coordinate sampled on an axis of n pixels, and its slope in g."""
    u, slope = _pixel(g, n, align_corners)
    if padding_mode == "reflection":
        low, high = (0.0, n - 1.0) if align_corners else (-0.5, n - 0.5)
        u, sign = _fold(u, low, high)
        slope *= sign
    if padding_mode in ("border", "reflection"):
        if u <= 0:
            u, slope = 0.0, 0.0
        elif u >= n - 1:
            u, slope = float(n - 1), 0.0
    return u, slope


def _value(x, n, c, row, col):
    H, W = x.shape[2:]
    if 0 <= row < H and 0 <= col < W:
        return float(x[n, c, row, col])
    return 0.0


def _point(x, grid, n, i, j, padding_mode, align_corners):
    H, W = x.shape[2:]
    ux, sx = _coordinate(float(grid[n, i, j, 0]), W, padding_mode, align_corners)
    uy, sy = _coordinate(float(grid[n, i, j, 1]), H, padding_mode, align_corners)
    return ux, sx, uy, sy


def _corners(ux, uy):
    """The four (row, col, weight, ∂weight/∂u_x, ∂weight/∂u_y) around (u_x, u_y)."""
    col, row = math.floor(ux), math.floor(uy)
    out = []
    for dr in (0, 1):
        for dc in (0, 1):
            ax = 1.0 - abs(ux - (col + dc))
            ay = 1.0 - abs(uy - (row + dr))
            slope_x = 1.0 if dc else -1.0
            slope_y = 1.0 if dr else -1.0
            out.append((row + dr, col + dc, ax * ay, slope_x * ay, ax * slope_y))
    return out


A = -0.75  # the cubic convolution kernel's parameter, as in PyTorch


def _kernel(s):
    """The cubic convolution kernel at distance s and its slope in s."""
    d, sign = abs(s), (1.0 if s >= 0 else -1.0)
    if d <= 1:
        value = (A + 2) * d**3 - (A + 3) * d**2 + 1
        return value, sign * (3 * (A + 2) * d**2 - 2 * (A + 3) * d)
    if d < 2:
        value = A * d**3 - 5 * A * d**2 + 8 * A * d - 4 * A
        return value, sign * (3 * A * d**2 - 10 * A * d + 8 * A)
    return 0.0, 0.0


def _moved(k, n, padding_mode, align_corners):
    """Where bicubic reads pixel k of an axis of n pixels."""
    if padding_mode == "reflection":
        low, high = (0.0, n - 1.0) if align_corners else (-0.5, n - 0.5)
        k = _fold(float(k), low, high)[0]
    if padding_mode in ("border", "reflection"):
        k = min(max(k, 0), n - 1)
    return int(k)


def _cubic_taps(x, grid, n, i, j, padding_mode, align_corners):
    """The 16 (row, col, weight, ∂weight/∂g_x, ∂weight/∂g_y) around grid point (n, i, j)."""
    H, W = x.shape[2:]
    ux, sx = _pixel(float(grid[n, i, j, 0]), W, align_corners)
    uy, sy = _pixel(float(grid[n, i, j, 1]), H, align_corners)
    out = []
    for row in range(math.floor(uy) - 1, math.floor(uy) + 3):
        for col in range(math.floor(ux) - 1, math.floor(ux) + 3):
            ax, dax = _kernel(ux - col)
            ay, day = _kernel(uy - row)
            moved_row = _moved(row, H, padding_mode, align_corners)
            moved_col = _moved(col, W, padding_mode, align_corners)
            out.append((moved_row, moved_col, ax * ay, dax * ay * sx, ax * day * sy))
    return out


def grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False):
    """Sample ``x`` at the grid's points, as ``torch.nn.functional.grid_sample`` (4-D).

    For output point (i, j) of image n, (g_x, g_y) = grid[n, i, j]; on an axis of L pixels
    u = (g + 1)(L − 1)/2 with ``align_corners``, else ((g + 1)L − 1)/2, then moved by
    ``padding_mode`` as the module docstring says (0-based pixel coordinates). With X[n, c, r, q]
    read as 0 outside the image:

        bilinear:  Y[n, c, i, j] = Σ_{r ∈ {⌊u_y⌋, ⌊u_y⌋+1}} Σ_{q ∈ {⌊u_x⌋, ⌊u_x⌋+1}}
                                   (1 − |u_x − q|)(1 − |u_y − r|) · X[n, c, r, q]
        nearest:   Y[n, c, i, j] = X[n, c, round(u_y), round(u_x)]   (ties to even)
        bicubic:   Y[n, c, i, j] = Σ_{r=⌊u_y⌋−1}^{⌊u_y⌋+2} Σ_{q=⌊u_x⌋−1}^{⌊u_x⌋+2}
                                   K(u_x − q) K(u_y − r) · X[n, c, m(r), m(q)]

    where bicubic takes u before ``padding_mode`` moves it, K is the cubic convolution kernel
    with a = −0.75 and m moves each pixel index by ``padding_mode``.

    Parameters
    ----------
    x : (N, C, H, W) array
    grid : (N, H_out, W_out, 2) array, the last axis (g_x, g_y) in [−1, 1] inside the image
    mode : "bilinear", "nearest" or "bicubic"
    padding_mode : "zeros", "border" or "reflection"
    align_corners : bool

    Returns
    -------
    (N, C, H_out, W_out) array of ``x``'s dtype.
    """
    N, C = x.shape[:2]
    _, Ho, Wo, _ = grid.shape
    y = np.zeros((N, C, Ho, Wo))
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                ux, _, uy, _ = _point(x, grid, n, i, j, padding_mode, align_corners)
                for c in range(C):
                    if mode == "bicubic":
                        taps = _cubic_taps(x, grid, n, i, j, padding_mode, align_corners)
                        y[n, c, i, j] = sum(w * _value(x, n, c, r, k) for r, k, w, _, _ in taps)
                        continue
                    if mode == "nearest":
                        row, col = round(uy), round(ux)  # Python rounds ties to even
                        y[n, c, i, j] = _value(x, n, c, row, col)
                        continue
                    total = 0.0
                    for row, col, w, _, _ in _corners(ux, uy):
                        total += w * _value(x, n, c, row, col)
                    y[n, c, i, j] = total
    return y.astype(x.dtype)


def grid_sample_backward(
    grad_output, x, grid, mode="bilinear", padding_mode="zeros", align_corners=False
):
    """Gradients of :func:`grid_sample` with respect to ``x`` and ``grid``, point by point.

    Each tap (r, q) inside the image that output (n, c, i, j) read with weight ω adds

        ∂ℓ/∂X[n, c, r, q] += ω · G[n, c, i, j]
        ∂ℓ/∂grid[n, i, j, 0] += G[n, c, i, j] · X[n, c, r, q] · ∂ω/∂u_x · du_x/dg_x

    and likewise for the y coordinate (index 1), with du/dg the scale (L − 1)/2 or L/2 (L
    pixels on the axis) times the sign of each reflection, and 0 where ``padding_mode`` moved
    u onto an edge or u lies on one; bicubic differentiates its kernel and scales by (L − 1)/2
    or L/2 alone; nearest passes no gradient to the grid. Sums in float64.

    Parameters
    ----------
    grad_output : (N, C, H_out, W_out) array
    x, grid, mode, padding_mode, align_corners : as for :func:`grid_sample`

    Returns
    -------
    (grad_x, grad_grid) : arrays of the shapes and dtypes of ``x`` and ``grid``.
    """
    N, C, H, W = x.shape
    _, Ho, Wo, _ = grid.shape
    gx = np.zeros(x.shape)
    gg = np.zeros(grid.shape)
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                ux, sx, uy, sy = _point(x, grid, n, i, j, padding_mode, align_corners)
                for c in range(C):
                    g = float(grad_output[n, c, i, j])
                    if mode == "bicubic":
                        taps = _cubic_taps(x, grid, n, i, j, padding_mode, align_corners)
                        for row, col, w, dwx, dwy in taps:
                            if 0 <= row < H and 0 <= col < W:
                                gx[n, c, row, col] += w * g
                                v = float(x[n, c, row, col])
                                gg[n, i, j, 0] += g * v * dwx
                                gg[n, i, j, 1] += g * v * dwy
                        continue
                    if mode == "nearest":
                        row, col = round(uy), round(ux)  # Python rounds ties to even
                        if 0 <= row < H and 0 <= col < W:
                            gx[n, c, row, col] += g
                        continue
                    for row, col, w, dwx, dwy in _corners(ux, uy):
                        if 0 <= row < H and 0 <= col < W:
                            gx[n, c, row, col] += w * g
                            v = float(x[n, c, row, col])
                            gg[n, i, j, 0] += g * v * dwx * sx
                            gg[n, i, j, 1] += g * v * dwy * sy
    return gx.astype(x.dtype), gg.astype(grid.dtype)


def _normalised(k, n, align_corners):
    """The normalised coordinate of pixel k's centre on an axis of n pixels."""
    if align_corners:
        return -1.0 + 2.0 * k / (n - 1) if n > 1 else 0.0
    return (2.0 * k + 1.0) / n - 1.0


def affine_grid(theta, size, align_corners=False):
    """The sampling grid of an affine map, as ``torch.nn.functional.affine_grid`` (4-D).

        grid[n, i, j, a] = θ[n, a, 0]·x_j + θ[n, a, 1]·y_i + θ[n, a, 2]   (a = 0, 1)

    where x_j is the normalised centre of column j (0-based): −1 + 2j/(W − 1) with
    ``align_corners`` (0 when W = 1), else (2j + 1)/W − 1; y_i likewise over the H rows.

    Parameters
    ----------
    theta : (N, 2, 3) array
    size : (N, C, H, W)
    align_corners : bool

    Returns
    -------
    (N, H, W, 2) array of ``theta``'s dtype.
    """
    N, _, H, W = size
    grid = np.zeros((N, H, W, 2))
    for n in range(N):
        for i in range(H):
            for j in range(W):
                point = (_normalised(j, W, align_corners), _normalised(i, H, align_corners), 1.0)
                for a in range(2):
                    grid[n, i, j, a] = sum(float(theta[n, a, b]) * point[b] for b in range(3))
    return grid.astype(theta.dtype)


def affine_grid_backward(grad_grid, size, align_corners=False):
    """Gradient of :func:`affine_grid` with respect to ``theta``:

        ∂ℓ/∂θ[n, a, b] = Σ_{i,j} G[n, i, j, a] · p_b(i, j),   p(i, j) = (x_j, y_i, 1)

    with x_j, y_i as in :func:`affine_grid`. Sums in float64.

    Parameters
    ----------
    grad_grid : (N, H, W, 2) array
    size : (N, C, H, W)
    align_corners : bool

    Returns
    -------
    (N, 2, 3) array of ``grad_grid``'s dtype.
    """
    N, _, H, W = size
    grad = np.zeros((N, 2, 3))
    for n in range(N):
        for i in range(H):
            for j in range(W):
                point = (_normalised(j, W, align_corners), _normalised(i, H, align_corners), 1.0)
                for a in range(2):
                    for b in range(3):
                        grad[n, a, b] += float(grad_grid[n, i, j, a]) * point[b]
    return grad.astype(grad_grid.dtype)
