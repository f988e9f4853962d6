"""Pixel shuffle (sub-pixel convolution: ESPCN's upsampling) and its inverse: r² channels
become one r×r block of pixels, and back. A reshape, a transpose and a reshape; no arithmetic.

For x (…, C·r², H, W) and an upscale factor r (indices 0-based, 0 ≤ i, j < r),

    Y[…, c, h·r + i, w·r + j] = X[…, c·r² + i·r + j, h, w],

so Y is (…, C, H·r, W·r): channel c·r² + i·r + j of every input pixel (h, w) fills place
(i, j) of the output block at (h, w), as ``torch.nn.functional.pixel_shuffle``.
``pixel_unshuffle`` is the inverse map, (…, C, H·r, W·r) → (…, C·r², H, W), as
``torch.nn.functional.pixel_unshuffle``. Each moves every element to one place and changes
none, so its Jacobian is a permutation matrix and its backward is the inverse permutation:
the *other* function applied to G,

    ∂ℓ/∂X = pixel_unshuffle(G, r)  for Y = pixel_shuffle(X, r),
    ∂ℓ/∂X = pixel_shuffle(G, r)    for Y = pixel_unshuffle(X, r).

The axes before C (a batch, or none: one unbatched (C, H, W) image, or several) are carried
along; the block's rows are the middle factor, its columns the last.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_float_array, positive_int

__all__ = [
    "channel_shuffle",
    "channel_shuffle_backward",
    "pixel_shuffle",
    "pixel_shuffle_backward",
    "pixel_unshuffle",
    "pixel_unshuffle_backward",
]


def _check(func: str, name: str, x: np.ndarray) -> np.ndarray:
    x = check_float_array(name, x, func=func)
    if x.ndim < 3:
        raise ValueError(
            f"{func}: {name}: expected shape (…, C, H, W) with at least 3 axes, got {x.shape}"
        )
    return x


def _shuffle(func: str, name: str, x: np.ndarray, r: int, factor: str) -> np.ndarray:
    """(…, C·r², H, W) → (…, C, H·r, W·r), Y[…, c, h·r + i, w·r + j] = X[…, c·r² + i·r + j, h, w],
    or the ValueError naming ``name`` and ``factor``."""
    x = _check(func, name, x)
    *lead, C_in, H, W = x.shape
    if C_in % (r * r):
        raise ValueError(
            f"{func}: {name}: expected channels (axis -3) divisible by {factor}² = {r * r}, "
            f"got {C_in} (shape {x.shape})"
        )
    C, n = C_in // (r * r), len(lead)
    blocks = x.reshape(*lead, C, r, r, H, W)  # axes …, c, i, j, h, w
    ordered = blocks.transpose(*range(n), n, n + 3, n + 1, n + 4, n + 2)  # …, c, h, i, w, j
    return np.array(ordered).reshape(*lead, C, H * r, W * r)  # a copy, never a view of x


def _unshuffle(func: str, name: str, x: np.ndarray, r: int, factor: str) -> np.ndarray:
    """(…, C, H·r, W·r) → (…, C·r², H, W), Y[…, c·r² + i·r + j, h, w] = X[…, c, h·r + i, w·r + j],
    or the ValueError naming ``name`` and ``factor``."""
    x = _check(func, name, x)
    *lead, C, H_in, W_in = x.shape
    if H_in % r or W_in % r:
        raise ValueError(
            f"{func}: {name}: expected height and width (axes -2, -1) divisible by "
            f"{factor} = {r}, got {H_in}×{W_in} (shape {x.shape})"
        )
    H, W, n = H_in // r, W_in // r, len(lead)
    blocks = x.reshape(*lead, C, H, r, W, r)  # axes …, c, h, i, w, j
    ordered = blocks.transpose(*range(n), n, n + 2, n + 4, n + 1, n + 3)  # …, c, i, j, h, w
    return np.array(ordered).reshape(*lead, C * r * r, H, W)


def pixel_shuffle(x: np.ndarray, upscale_factor: int) -> np.ndarray:
    """Y[…, c, h·r + i, w·r + j] = X[…, c·r² + i·r + j, h, w] (0-based, 0 ≤ i, j < r), as
    ``torch.nn.functional.pixel_shuffle(x, upscale_factor)``.

    x: (…, C·r², H, W), float32/float64, at least 3 axes; Y: (…, C, H·r, W·r), x's dtype
    (a new array). r = ``upscale_factor``, a positive int.

    >>> pixel_shuffle(np.arange(4.0).reshape(4, 1, 1), 2)
    array([[[0., 1.],
            [2., 3.]]])
    """
    func = "pixel_shuffle"
    r = positive_int("upscale_factor", upscale_factor, func=func)
    return _shuffle(func, "x", x, r, "upscale_factor")


def pixel_shuffle_backward(grad_output: np.ndarray, upscale_factor: int) -> np.ndarray:
    """∂ℓ/∂X of ``pixel_shuffle(X, r)`` given G = ∂ℓ/∂Y: the inverse permutation,
    ∂ℓ/∂X[…, c·r² + i·r + j, h, w] = G[…, c, h·r + i, w·r + j] — that is,
    ``pixel_unshuffle(G, r)``. G: (…, C, H·r, W·r); returns (…, C·r², H, W), G's dtype."""
    func = "pixel_shuffle_backward"
    r = positive_int("upscale_factor", upscale_factor, func=func)
    return _unshuffle(func, "grad_output", grad_output, r, "upscale_factor")


def pixel_unshuffle(x: np.ndarray, downscale_factor: int) -> np.ndarray:
    """Y[…, c·r² + i·r + j, h, w] = X[…, c, h·r + i, w·r + j] (0-based, 0 ≤ i, j < r), as
    ``torch.nn.functional.pixel_unshuffle(x, downscale_factor)``: the inverse of
    ``pixel_shuffle``, each r×r block of pixels becoming r² channels.

    x: (…, C, H·r, W·r), float32/float64, at least 3 axes, H·r and W·r divisible by r;
    Y: (…, C·r², H, W), x's dtype (a new array). r = ``downscale_factor``, a positive int.

    >>> pixel_unshuffle(np.array([[[0.0, 1.0], [2.0, 3.0]]]), 2)[:, 0, 0]
    array([0., 1., 2., 3.])
    """
    func = "pixel_unshuffle"
    r = positive_int("downscale_factor", downscale_factor, func=func)
    return _unshuffle(func, "x", x, r, "downscale_factor")


def pixel_unshuffle_backward(grad_output: np.ndarray, downscale_factor: int) -> np.ndarray:
    """∂ℓ/∂X of ``pixel_unshuffle(X, r)`` given G = ∂ℓ/∂Y: the inverse permutation,
    ∂ℓ/∂X[…, c, h·r + i, w·r + j] = G[…, c·r² + i·r + j, h, w] — that is,
    ``pixel_shuffle(G, r)``. G: (…, C·r², H, W); returns (…, C, H·r, W·r), G's dtype."""
    func = "pixel_unshuffle_backward"
    r = positive_int("downscale_factor", downscale_factor, func=func)
    return _shuffle(func, "grad_output", grad_output, r, "downscale_factor")


def _channel_groups(func: str, name: str, x: np.ndarray, g: int) -> np.ndarray:
    """x (N, C, …) with C = g·k as Y[n, j·g + i, …] = X[n, i·k + j, …] (0 ≤ i < g, 0 ≤ j < k)."""
    x = check_float_array(name, x, func=func)
    if x.ndim < 3:
        raise ValueError(
            f"{func}: {name}: expected shape (N, C, …) with at least 3 axes, got {x.shape}"
        )
    N, C, *rest = x.shape
    if C % g:
        raise ValueError(
            f"{func}: {name}: expected channels (axis 1) divisible by groups = {g}, got {C} "
            f"(shape {x.shape})"
        )
    grouped = x.reshape(N, g, C // g, *rest).swapaxes(1, 2)  # n, j, i, …
    return np.array(grouped).reshape(x.shape)


def channel_shuffle(x: np.ndarray, groups: int) -> np.ndarray:
    """ShuffleNet's channel shuffle, as ``torch.nn.functional.channel_shuffle``: the C = g·k
    channels of x (N, C, …), read as g groups of k, are dealt out one from each group in
    turn, Y[n, j·g + i] = X[n, i·k + j] (0 ≤ i < g, 0 ≤ j < k), so that the next grouped
    convolution's groups each see channels of every group of the last. A permutation (a
    new array of x's shape and dtype); its inverse is the shuffle with k groups.

    >>> channel_shuffle(np.arange(6.0).reshape(1, 6, 1), 2)[0, :, 0]
    array([0., 3., 1., 4., 2., 5.])
    """
    func = "channel_shuffle"
    g = positive_int("groups", groups, func=func)
    return _channel_groups(func, "x", x, g)


def channel_shuffle_backward(grad_output: np.ndarray, groups: int) -> np.ndarray:
    """∂ℓ/∂X of ``channel_shuffle(X, g)`` given G: the inverse permutation,
    ∂ℓ/∂X[n, i·k + j] = G[n, j·g + i], which is the shuffle of G with k = C/g groups."""
    func = "channel_shuffle_backward"
    g = positive_int("groups", groups, func=func)
    check_float_array("grad_output", grad_output, func=func)
    C = grad_output.shape[1] if grad_output.ndim >= 3 else 0
    if grad_output.ndim >= 3 and C % g:
        raise ValueError(
            f"{func}: grad_output: expected channels (axis 1) divisible by groups = {g}, got {C}"
        )
    return _channel_groups(func, "grad_output", grad_output, C // g if C else 1)
