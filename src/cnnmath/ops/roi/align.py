"""roi_align and its backward: each box's bins as interpolation matrices A_k X B_kᵀ (the
package docstring's RoIAlign), built for blocks of boxes of one size class at once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..._checks import check_float_array
from ._common import (
    _BLOCK_ELEMENTS,
    _blocks,
    _class_blocks,
    _image,
    _output_size,
    _rois,
    _scale,
    _shape,
)

__all__ = ["roi_align", "roi_align_backward"]


def _axis_weights(
    start: np.ndarray,
    size: np.ndarray,
    P: int,
    G: np.ndarray,
    n: int,
    window: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """(K, P, n): the sum over the G_k samples of each output bin of their bilinear weights
    on the n pixels of one axis (0 for a sample outside [−1, n]); torchvision's rules. With
    ``window`` (first (K,), L (K,)): only pixels first_k .. first_k + L_k − 1, which must
    hold every pixel box k's samples weigh (the others weigh 0), flat: box k's (P, L_k)
    after those of boxes 0 .. k − 1."""
    K = len(start)
    if window is None:
        first, L = np.zeros(K, dtype=np.int64), np.full(K, n, dtype=np.int64)
    else:
        first, L = window
    G_max = int(max(G.max(initial=0), 0))
    total = int(P * L.sum())
    if K == 0 or G_max == 0:
        return np.zeros((K, P, n)) if window is None else np.zeros(total)
    a = np.arange(G_max)
    bin_size = size / P
    with np.errstate(divide="ignore", invalid="ignore"):
        u = (
            start[:, None, None]
            + np.arange(P)[None, :, None] * bin_size[:, None, None]
            + (a[None, None, :] + 0.5) * bin_size[:, None, None] / G[:, None, None]
        )  # (K, P, G_max)
    used = (a[None, None, :] < G[:, None, None]) & (u >= -1.0) & (u <= n)
    u = np.maximum(np.where(used, u, 0.0), 0.0)
    low = np.floor(u).astype(np.int64)
    at_edge = low >= n - 1
    low = np.where(at_edge, n - 1, low)
    high = np.where(at_edge, n - 1, low + 1)
    frac = np.where(at_edge, 0.0, u - low)
    offset = np.cumsum(P * L) - P * L  # where box k's (P, L_k) starts
    rows = offset[:, None, None] + np.arange(P)[None, :, None] * L[:, None, None]
    rows = np.broadcast_to(rows, u.shape)
    if window is not None:  # a pixel outside the window has weight 0: clipped in, adds 0
        last = L[:, None, None] - 1
        low = np.minimum(np.maximum(low - first[:, None, None], 0), last)
        high = np.minimum(np.maximum(high - first[:, None, None], 0), last)
    weights = np.concatenate([((1 - frac) * used).ravel(), (frac * used).ravel()])
    index = np.concatenate([(rows + low).ravel(), (rows + high).ravel()])
    flat = np.bincount(index, weights, minlength=total)
    return flat.reshape(K, P, n) if window is None else flat


def _grid(
    corners: np.ndarray,
    output_size: tuple[int, int],
    spatial_scale: float,
    sampling_ratio: int,
    aligned: bool,
) -> tuple[np.ndarray, ...]:
    """RoIAlign's boxes on the feature map: y1, x1, h, w and the sampling grids G_h, G_w
    (K,)."""
    P_h, P_w = output_size
    o = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (corners[:, i] * spatial_scale - o for i in range(4))
    w, h = x2 - x1, y2 - y1
    if not aligned:
        w, h = np.maximum(w, 1.0), np.maximum(h, 1.0)
    if sampling_ratio > 0:
        G_h = np.full(len(corners), sampling_ratio, dtype=np.int64)
        G_w = G_h
    else:
        G_h = np.ceil(h / P_h).astype(np.int64)
        G_w = np.ceil(w / P_w).astype(np.int64)
    return y1, x1, h, w, G_h, G_w


def _align_matrices(
    corners: np.ndarray,
    shape: tuple[int, int],
    output_size: tuple[int, int],
    spatial_scale: float,
    sampling_ratio: int,
    aligned: bool,
    windows: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A (K, P_h, H), B (K, P_w, W) and count (K,) of RoIAlign; with ``windows`` (rows,
    columns: first (K,), length (K,) each), A and B on them, flat (``_axis_weights``)."""
    H, W = shape
    P_h, P_w = output_size
    y1, x1, h, w, G_h, G_w = _grid(corners, output_size, spatial_scale, sampling_ratio, aligned)
    count = np.maximum(G_h * G_w, 1).astype(np.float64)
    rows, cols = windows if windows is not None else (None, None)
    A = _axis_weights(y1, h, P_h, G_h, H, rows)
    B = _axis_weights(x1, w, P_w, G_w, W, cols)
    return A, B, count


def _align_args(
    output_size: Any, spatial_scale: Any, sampling_ratio: Any, aligned: Any, func: str
) -> tuple[tuple[int, int], float, int, bool]:
    size = _output_size(output_size, func)
    scale = _scale(spatial_scale, func)
    if isinstance(sampling_ratio, (bool, np.bool_)) or not isinstance(
        sampling_ratio, (int, np.integer)
    ):
        raise TypeError(
            f"{func}: sampling_ratio: expected an int (> 0: samples per bin side; <= 0: "
            f"adaptive), got {sampling_ratio!r}"
        )
    if not isinstance(aligned, (bool, np.bool_)):
        raise TypeError(f"{func}: aligned: expected a bool, got {aligned!r}")
    return size, scale, int(sampling_ratio), bool(aligned)


def _span(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First index (k,) and length (k,) of the pixels a box's weights M (k, P, n) touch."""
    touched = np.any(M != 0, axis=1)  # (k, n)
    first = np.argmax(touched, axis=1)
    last = M.shape[2] - 1 - np.argmax(touched[:, ::-1], axis=1)
    return first, np.where(touched.any(axis=1), last - first + 1, 0)


def _align_blocks(
    corners: np.ndarray,
    shape: tuple[int, int, int],
    output_size: tuple[int, int],
    spatial_scale: float,
    sampling_ratio: int,
    aligned: bool,
) -> Iterator[tuple[np.ndarray, ...]]:
    """The boxes in blocks of similar extents, each with its boxes' windows of rows and
    columns and the interpolation matrices on them: (index (k,), rows (k, L_h), columns
    (k, L_w), A (k, P_h, L_h), B (k, P_w, L_w), count (k,), own (k, L_h), (k, L_w)), L_h,
    L_w the block's largest extents of the rows and columns its boxes' samples touch, own
    whether a window's row (column) is one of its box's own (not padding). A block's padded
    size, its windows and T = A · window (forward), U and the flat indices (backward), is
    bounded by ``_BLOCK_ELEMENTS``."""
    C, H, W = shape
    P_h, P_w = output_size
    K = len(corners)
    first_h, L_h, first_w, L_w = (np.zeros(K, dtype=np.int64) for _ in range(4))
    for block in _blocks(K, P_h * H + P_w * W):
        A, B, _ = _align_matrices(
            corners[block], (H, W), output_size, spatial_scale, sampling_ratio, aligned
        )
        first_h[block], L_h[block] = _span(A)
        first_w[block], L_w[block] = _span(B)

    def cost(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        # window and the backward's product (2·a·b·C), T or U (P_h·b·C), A and B, and the
        # box's P_h·P_w·C result (the forward's product, the backward's float64 ∂ℓ/∂Y)
        return (2 * a + P_h) * b * C + P_h * a + P_w * b + P_h * P_w * C

    blocks = _class_blocks(L_h, L_w, cost)
    # the blocks' matrices are built for runs of consecutive blocks at once (a few calls,
    # not two per block), each run's A, B and sampling temporaries within the budget
    *_, G_h, G_w = _grid(corners, output_size, spatial_scale, sampling_ratio, aligned)
    G_h, G_w = np.maximum(G_h, 0), np.maximum(G_w, 0)
    extents = [(max(int(L_h[b].max()), 1), max(int(L_w[b].max()), 1)) for b in blocks]
    runs: list[list[int]] = []
    used = g_h = g_w = boxes = 0
    for i, (b, (l_h, l_w)) in enumerate(zip(blocks, extents)):
        g_h, g_w = max(g_h, int(G_h[b].max())), max(g_w, int(G_w[b].max()))
        used += len(b) * (P_h * l_h + P_w * l_w)
        boxes += len(b)
        if runs and used + 16 * boxes * (P_h * g_h + P_w * g_w) <= _BLOCK_ELEMENTS:
            runs[-1].append(i)
        else:
            runs.append([i])
            used, boxes = len(b) * (P_h * l_h + P_w * l_w), len(b)
            g_h, g_w = int(G_h[b].max()), int(G_w[b].max())
    for run in runs:
        index = np.concatenate([blocks[i] for i in run])
        sizes = np.array([len(blocks[i]) for i in run])
        len_h = np.repeat([extents[i][0] for i in run], sizes)
        len_w = np.repeat([extents[i][1] for i in run], sizes)
        r0 = np.minimum(np.maximum(first_h[index], 0), H - len_h)
        c0 = np.minimum(np.maximum(first_w[index], 0), W - len_w)
        A_run, B_run, count_run = _align_matrices(
            corners[index],
            (H, W),
            output_size,
            spatial_scale,
            sampling_ratio,
            aligned,
            ((r0, len_h), (c0, len_w)),
        )
        a0 = b0 = k0 = 0
        for i in run:
            k, (lh, lw) = len(blocks[i]), extents[i]
            box = slice(k0, k0 + k)
            A = A_run[a0 : a0 + k * P_h * lh].reshape(k, P_h, lh)
            B = B_run[b0 : b0 + k * P_w * lw].reshape(k, P_w, lw)
            a0, b0, k0 = a0 + k * P_h * lh, b0 + k * P_w * lw, k0 + k
            ids = index[box]
            rows = r0[box, None] + np.arange(lh)
            cols = c0[box, None] + np.arange(lw)
            own_h = (rows >= first_h[ids, None]) & (rows < (first_h + L_h)[ids, None])
            own_w = (cols >= first_w[ids, None]) & (cols < (first_w + L_w)[ids, None])
            yield ids, rows, cols, A, B, count_run[box], own_h, own_w


def roi_align(
    input: np.ndarray,
    boxes: np.ndarray | Sequence[np.ndarray],
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> np.ndarray:
    """RoIAlign: (K, C, P_h, P_w), output bin (i, j) of box k the mean of G_h × G_w bilinear
    samples of X[n_k] in that bin (the module docstring gives the sample points and border
    rules), ``torchvision.ops.roi_align``.

    input (N, C, H, W); boxes (K, 5) [n, x1, y1, x2, y2] or a list of N arrays (K_n, 4);
    output_size P or (P_h, P_w); sampling_ratio G > 0, or ≤ 0 for ⌈box size/P⌉ per box.
    A float32 input is computed in float32 (the interpolation weights are built in float64
    and rounded), as torchvision's kernel and cnnmath's convolutions do; float64 in float64.

    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> roi_align(x, np.array([[0.0, 0.0, 0.0, 2.0, 2.0]]), 1, aligned=True)  # pixels 0, 1
    array([[[[2.5]]]])
    """
    func = "roi_align"
    X = _image(input, func)
    size, scale, ratio, align = _align_args(
        output_size, spatial_scale, sampling_ratio, aligned, func
    )
    N, C, H, W = X.shape
    batch, corners = _rois(boxes, N, X.dtype, func)
    K = len(batch)
    P_h, P_w = size
    # float32 in float32 (as torchvision and conv2d), float64 otherwise
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    Xc = np.ascontiguousarray(X.transpose(0, 2, 3, 1), dtype=dtype)  # (N, H, W, C)
    result = np.zeros((K, C, P_h, P_w), X.dtype)
    out = result.transpose(0, 2, 3, 1)  # written channels-last, returned C-contiguous
    finite = bool(np.isfinite(Xc).all())
    for index, rows, cols, A, B, count, own_h, own_w in _align_blocks(
        corners, (C, H, W), size, scale, ratio, align
    ):
        k, L_w = len(index), cols.shape[1]
        # each box's window of X[n_k] (k, L_h, L_w·C), its rows gathered as segments of
        # L_w·C values, then A_k · window · B_kᵀ
        segments = sliding_window_view(Xc.reshape(N, H, W * C), L_w * C, axis=2)[:, :, ::C]
        window = segments[batch[index][:, None], rows, cols[:, :1]]
        if not finite:  # padding weighs 0, but 0·NaN is NaN: a box reads its own pixels only
            own = own_h[:, :, None] & np.repeat(own_w, C, axis=1)[:, None, :]
            window = np.where(own, window, 0.0)
        T = (A.astype(dtype) @ window).reshape(k, P_h, L_w, C)
        out[index] = (B / count[:, None, None]).astype(dtype)[:, None] @ T
    return result


def roi_align_backward(
    grad_output: np.ndarray,
    input_shape: Sequence[int],
    boxes: np.ndarray | Sequence[np.ndarray],
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> np.ndarray:
    """∂ℓ/∂X (N, C, H, W) of ``roi_align`` given ∂ℓ/∂Y (K, C, P_h, P_w):
    ∂ℓ/∂X_n = Σ_{k: n_k = n} A_kᵀ ∂ℓ/∂Y_k B_k / count_k (each sample's share of its bin's
    gradient to its four pixels). The boxes get no gradient."""
    func = "roi_align_backward"
    check_float_array("grad_output", grad_output, func=func)
    N, C, H, W = _shape(input_shape, func)
    size, scale, ratio, align = _align_args(
        output_size, spatial_scale, sampling_ratio, aligned, func
    )
    batch, corners = _rois(boxes, N, grad_output.dtype, func)
    K = len(batch)
    P_h, P_w = size
    if grad_output.shape != (K, C, P_h, P_w):
        raise ValueError(
            f"{func}: grad_output: expected shape (K, C, P_h, P_w) = {(K, C, P_h, P_w)}, got "
            f"{grad_output.shape}"
        )
    grad = np.zeros((N, H, W, C))
    finite = bool(np.isfinite(grad_output).all())
    # the windows and their flat indices are written into buffers kept from block to block:
    # fresh ones would be paged in again for every block wherever the allocator hands big
    # blocks back to the system (glibc with a low MALLOC_TRIM_THRESHOLD_: 3× the time)
    buffers = _Buffers()
    for index, rows, cols, A, B, count, own_h, own_w in _align_blocks(
        corners, (C, H, W), size, scale, ratio, align
    ):
        k, L_h, L_w = len(index), rows.shape[1], cols.shape[1]
        Bt = (B / count[:, None, None]).transpose(0, 2, 1)
        # the block's ∂ℓ/∂Y channels-last in float64 (k, P_h, P_w, C)
        g_k = buffers.get("g", k * P_h * P_w * C, np.float64).reshape(k, P_h, P_w, C)
        np.copyto(g_k, grad_output[index].transpose(0, 2, 3, 1))
        U = buffers.get("U", k * P_h * L_w * C, np.float64).reshape(k, P_h, L_w, C)
        np.matmul(Bt[:, None], g_k, out=U)
        window = buffers.get("window", k * L_h * L_w * C, np.float64).reshape(k, L_h, L_w * C)
        np.matmul(A.transpose(0, 2, 1), U.reshape(k, P_h, L_w * C), out=window)
        if not finite:  # 0·NaN on the padding: a box writes its own pixels only
            own = own_h[:, :, None] & np.repeat(own_w, C, axis=1)[:, None, :]
            np.copyto(window, 0.0, where=~own)
        _scatter_add(grad, batch[index], rows, cols, window, buffers)
        del g_k, U, window, A, B  # views of the buffers and of the run's matrices
    del buffers
    # rounded before the transpose (half the bytes to move for float32), the float64 sums
    # freed before the transposed copy is made
    grad = grad.astype(grad_output.dtype, copy=False)
    return np.ascontiguousarray(grad.transpose(0, 3, 1, 2))


class _Buffers:
    """Named scratch arrays reused across blocks, each grown (at least doubled, up to the
    block budget) when a block needs more."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, size: int, dtype: type) -> np.ndarray:
        """The first ``size`` elements (1-D) of buffer ``name``."""
        array = self._arrays.get(name)
        if array is None or array.size < size:
            have = 0 if array is None else array.size
            array = np.empty(max(size, min(2 * have, _BLOCK_ELEMENTS)), dtype)
            self._arrays[name] = array
        return array[:size]


def _scatter_add(
    grad: np.ndarray,
    n: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    window: np.ndarray,
    buffers: _Buffers,
) -> None:
    """grad[n_k, rows_k, cols_k] += window_k for windows (k, L_h, L_w·C) of grad (N, H, W, C)
    that may overlap: ``np.add.at`` on flat indices (its fast path: one axis, one dtype),
    which measured faster than ``bincount`` and its full-size result per block. With C even,
    a window's rows are runs of whole pairs of values: they are added as complex128 (the
    same two float64 additions), half the indices and half the steps of ``add.at``."""
    N, H, W, C = grad.shape
    k, L_h, L_wC = window.shape
    pair = 2 if C % 2 == 0 else 1
    dtype = np.complex128 if pair == 2 else np.float64
    first = ((n * H + rows[:, 0]) * W + cols[:, 0]) * (C // pair)
    row_starts = first[:, None, None] + np.arange(L_h)[:, None] * (W * C // pair)
    flat = buffers.get("index", window.size // pair, np.intp)
    np.add(row_starts, np.arange(L_wC // pair), out=flat.reshape(k, L_h, L_wC // pair))
    np.add.at(grad.reshape(-1).view(dtype), flat, window.reshape(-1).view(dtype))
