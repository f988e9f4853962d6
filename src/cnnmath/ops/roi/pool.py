"""roi_pool and its backward: the maximum over each bin's pixels, the first maximum's index
kept for the backward (the package docstring's RoIPool)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..._checks import check_float_array
from ._common import _BLOCK_ELEMENTS, _image, _output_size, _rois, _scale, _shape, _size_blocks

__all__ = ["FLT_MAX", "roi_pool", "roi_pool_backward"]


FLT_MAX = float(np.finfo(np.float32).max)


def _round_half_away(v: np.ndarray) -> np.ndarray:
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def _pool_bins(
    corners: np.ndarray,
    shape: tuple[int, int],
    output_size: tuple[int, int],
    scale: float,
    dtype: np.dtype,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Clipped bin edges: h_start, h_end (K, P_h), w_start, w_end (K, P_w), computed in the
    input's dtype as torchvision's kernel does: in float32, 7·(114/7) rounds up
    past 114, and its last bin reaches one row further than float64's would."""
    H, W = shape
    P_h, P_w = output_size
    dt = dtype.type  # the corners (float64) hold values of this dtype exactly
    r = _round_half_away(corners.astype(dt) * dt(scale)).astype(np.int64)
    edges = []
    for lo, hi, P, n in ((r[:, 1], r[:, 3], P_h, H), (r[:, 0], r[:, 2], P_w, W)):
        bin_size = np.maximum(hi - lo + 1, 1).astype(dt) / dt(P)
        i = np.arange(P, dtype=dt)
        start = np.floor(i[None, :] * bin_size[:, None]).astype(np.int64) + lo[:, None]
        end = np.ceil((i[None, :] + 1) * bin_size[:, None]).astype(np.int64) + lo[:, None]
        edges += [np.clip(start, 0, n), np.clip(end, 0, n)]
    return edges[0], edges[1], edges[2], edges[3]


def _chunk(step: int) -> int:
    """Offsets per chunk of roi_pool's scans, ``step`` elements each: one where a step is
    big enough that the loop costs little (reducing over a chunk axis is slower than
    stepping), else as many as the budget holds."""
    return 1 if step >= 1 << 13 else max(1, _BLOCK_ELEMENTS // step)


def _chunk_max(v: np.ndarray, axis: int, t0: int, best: np.ndarray, at: np.ndarray) -> None:
    """best, at ← the max of best and v over ``axis`` (offsets t0, t0 + 1, …) and the offset
    of the first maximum, in place; ``at`` keeps its offset where v does not beat best."""
    if v.shape[axis] == 1:
        v = v.squeeze(axis)
        np.maximum(at, np.multiply(v > best, at.dtype.type(t0)), out=at)
        np.maximum(best, v, out=best)
        return
    m = v.max(axis=axis)
    np.copyto(at, v.argmax(axis=axis) + t0, casting="unsafe", where=m > best)
    np.maximum(best, m, out=best)


def roi_pool(
    input: np.ndarray,
    boxes: np.ndarray | Sequence[np.ndarray],
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """RoIPool: Y (K, C, P_h, P_w), the max of X[n_k, c] over each bin of the rounded box
    (the module docstring gives the bins), and the argmax (K, C, P_h, P_w) int64, the flat
    index h·W + w of the first maximum (−1 for an empty bin), ``torchvision.ops.roi_pool``.

    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> y, argmax = roi_pool(x, np.array([[0.0, 0.0, 0.0, 3.0, 3.0]]), 2)
    >>> y[0, 0], argmax[0, 0]
    (array([[ 5.,  7.],
           [13., 15.]]), array([[ 5,  7],
           [13, 15]]))
    """
    func = "roi_pool"
    X = _image(input, func)
    size = _output_size(output_size, func)
    scale = _scale(spatial_scale, func)
    N, C, H, W = X.shape
    batch, corners = _rois(boxes, N, X.dtype, func)
    K = len(batch)
    P_h, P_w = size
    hs, he, ws, we = _pool_bins(corners, (H, W), size, scale, X.dtype)
    # the pixels (N·H·W, C) and a last row of −inf that a column beyond a bin reads; NaN
    # never wins, as −inf: a bin of only those is left as "not found"
    Xc = np.full((N * H * W + 1, C), -np.inf, X.dtype)
    Xc[:-1] = X.transpose(0, 2, 3, 1).reshape(-1, C)
    Xc[np.isnan(Xc)] = -np.inf
    # written channels-last, returned C-contiguous
    result = np.zeros((K, C, P_h, P_w), X.dtype)
    result_argmax = np.full((K, C, P_h, P_w), -1, dtype=np.int64)
    out, argmax = result.transpose(0, 2, 3, 1), result_argmax.transpose(0, 2, 3, 1)
    # separable: a bin's first maximum in row-major order is the first maximum over its
    # rows of each row's first maximum over the bin's columns. Column bins first, over the
    # L_r rows r0 .. r0 + L_r − 1 of a box (its row bins' union), offset t by offset; then
    # the row bins. The offset kept is the last t at which the value grew: the first maximum
    r0, L_r = hs[:, 0], np.maximum(he[:, -1] - hs[:, 0], 0)
    L_w = np.maximum(we - ws, 0).max(axis=1, initial=0)
    L_h = np.maximum(he - hs, 0).max(axis=1, initial=0)
    offset = np.int16 if max(H, W) < 2**15 else np.int32  # an offset inside a bin, < H or W
    # a block's scans take (k, L_r, P_w, C) arrays, its last steps about eight (k, P_h, P_w, C)
    # ones of int64 indices: tiny boxes (L_r·L_w under 8·P_h) are counted by the latter
    for index in _size_blocks(L_r, L_w, P_w * C, 8 * P_h * P_w * C):
        k, n = len(index), batch[index, None, None]
        L = max(int(L_r[index].max()), 1)
        rows = np.minimum(r0[index, None] + np.arange(L), H - 1)[:, :, None]
        # (k, L + 1, P_w, C): each row's max over each column bin; row L reads −inf
        row_max = np.full((k, L + 1, P_w, C), -np.inf, X.dtype)
        col = np.zeros((k, L + 1, P_w, C), dtype=offset)
        # offsets t in chunks of as many as the budget holds (long bins over little data
        # take a few gathers, not one step per offset); a chunk's first maximum is kept
        # where it beats the maximum so far
        width, chunk = int(L_w[index].max()), _chunk(k * L * P_w * C)
        for t0 in range(0, width, chunk):
            t = np.arange(t0, min(t0 + chunk, width))
            cols = ws[index][:, None, :, None] + t  # (k, 1, P_w, t)
            inside = cols < we[index][:, None, :, None]
            pixel = np.where(inside, ((n * H + rows) * W)[..., None] + cols, N * H * W)
            _chunk_max(Xc[pixel], 3, t0, row_max[:, :L], col[:, :L])
        best = np.full((k, P_h, P_w, C), -np.inf, X.dtype)
        row = np.zeros((k, P_h, P_w, C), dtype=offset)
        height, chunk = int(L_h[index].max()), _chunk(k * P_h * P_w * C)
        for t0 in range(0, height, chunk):
            r = hs[index][:, :, None] + np.arange(t0, min(t0 + chunk, height))  # (k, P_h, t)
            local = np.where(r < he[index][:, :, None], r - r0[index, None, None], L)
            _chunk_max(row_max[np.arange(k)[:, None, None], local], 2, t0, best, row)
        h_arg = hs[index][:, :, None, None] + row
        local = np.minimum(h_arg - r0[index, None, None, None], L)
        w_arg = ws[index][:, None, :, None] + np.take_along_axis(col, local, axis=1)
        pixel = (batch[index, None, None, None] * H + np.minimum(h_arg, H - 1)) * W
        value = Xc[pixel + np.minimum(w_arg, W - 1), np.arange(C)]  # exact, −0.0 kept
        empty = (he[index] <= hs[index])[:, :, None] | (we[index] <= ws[index])[:, None, :]
        empty = np.broadcast_to(empty[..., None], best.shape)
        found = best > -FLT_MAX
        out[index] = np.where(empty, 0.0, np.where(found, value, -FLT_MAX))
        argmax[index] = np.where(empty | ~found, -1, h_arg * W + w_arg)
    return result, result_argmax


def roi_pool_backward(
    grad_output: np.ndarray,
    input_shape: Sequence[int],
    boxes: np.ndarray | Sequence[np.ndarray],
    argmax: np.ndarray,
) -> np.ndarray:
    """∂ℓ/∂X (N, C, H, W) of ``roi_pool`` given ∂ℓ/∂Y (K, C, P_h, P_w) and its argmax:
    ∂ℓ/∂X[n, c, h, w] = Σ_{k: n_k = n} Σ_{i, j: argmax[k, c, i, j] = h·W + w} ∂ℓ/∂Y[k, c, i, j]."""
    func = "roi_pool_backward"
    check_float_array("grad_output", grad_output, func=func)
    N, C, H, W = _shape(input_shape, func)
    batch, _ = _rois(boxes, N, grad_output.dtype, func)
    K = len(batch)
    if grad_output.ndim != 4 or grad_output.shape[:2] != (K, C):
        raise ValueError(
            f"{func}: grad_output: expected shape (K, C, P_h, P_w) with (K, C) = {(K, C)}, got "
            f"{grad_output.shape}"
        )
    if not isinstance(argmax, np.ndarray) or argmax.shape != grad_output.shape:
        raise ValueError(
            f"{func}: argmax: expected an int array of grad_output's shape "
            f"{grad_output.shape}, as roi_pool returns it"
        )
    used = argmax >= 0
    flat = (batch[:, None, None, None] * C + np.arange(C)[None, :, None, None]) * (H * W)
    index = (flat + argmax)[used]
    grad = np.bincount(index, grad_output.astype(np.float64)[used], minlength=N * C * H * W)
    return grad.reshape(N, C, H, W).astype(grad_output.dtype)
