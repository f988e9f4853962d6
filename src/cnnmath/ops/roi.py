"""Region-of-interest ops of detection models, as ``torchvision.ops``'s: ``roi_align``,
``roi_pool``, ``nms``, ``batched_nms`` and ``box_iou``.

A box (region of interest) is [n, x1, y1, x2, y2]: the image n of the batch it lies in and two
corners in the input image's pixel units; ``spatial_scale`` s maps them onto the feature map
(s = 1/16 for a stride-16 backbone). Boxes are given as one (K, 5) array or, as torchvision
accepts, a list of N arrays (K_n, 4), one per image, whose rows become [n, x1, y1, x2, y2].

**RoIAlign** (Mask R-CNN). With o = 0.5 if ``aligned`` else 0, a box starts at
(x1·s − o, y1·s − o) and is w = x2·s − x1·s wide, h tall (clamped to ≥ 1 unless ``aligned``).
Output bin (i, j) of P_h × P_w covers h/P_h × w/P_w and averages the bilinear samples at a
G_h × G_w grid of points in it, G = ``sampling_ratio`` if it is > 0, else ⌈h/P_h⌉ (⌈w/P_w⌉)
per box:

    Y[k, c, i, j] = 1/max(G_h·G_w, 1) · Σ_{a<G_h, b<G_w} bilinear(X[n_k, c], y_{ia}, x_{jb}),
    y_{ia} = y1·s − o + i·h/P_h + (a + ½)·(h/P_h)/G_h   (x_{jb} likewise),

where bilinear reads 0 for a point with y < −1 or y > H (x < −1, x > W), clamps y to ≥ 0 and
a y at or beyond H − 1 to the last row (torchvision's border rules). As y and x enter the
weights separately, the op is Y_k = A_k X_{n_k} B_kᵀ / count_k with A_k (P_h, H) and B_k
(P_w, W) interpolation matrices — built once for all boxes by ``bincount`` over the samples
(padded to the largest grid, masked) — and its input gradient is ∂ℓ/∂X_n = Σ_{k: n_k = n}
A_kᵀ ∂ℓ/∂Y_k B_k / count_k. Boxes get no gradient (as in torchvision).

**RoIPool** (Fast R-CNN). Corners rounded, half away from zero: r = round(x·s); the box is
w = max(r(x2) − r(x1) + 1, 1) pixels wide; bin j covers columns ⌊j·w/P_w⌋ .. ⌈(j+1)·w/P_w⌉ − 1
from r(x1), clipped to the image; Y is the max over the bin's pixels (0 for an empty bin) and
the argmax the flat index h·W + w of the first maximum in row-major order, −1 for an empty bin
(and, as torchvision's, for a bin whose values are all ≤ −FLT_MAX, which reads −FLT_MAX). The
backward sends each output's gradient to its argmax.

**NMS**. Boxes in (x1, y1, x2, y2) sorted by score, descending, ties in the order of
PyTorch's CPU sort, which torchvision calls: index order for up to 16 boxes, beyond that the
order std::sort's introsort leaves them in (not stable), replayed here; each box kept
suppresses every later box whose IoU with it is greater than ``iou_threshold``. The loop
runs over kept boxes, each step one vectorised IoU row: O(K²) time at worst, O(K) memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .._checks import check_float_array, check_same_dtype, int_pair

__all__ = [
    "batched_nms",
    "box_iou",
    "nms",
    "roi_align",
    "roi_align_backward",
    "roi_pool",
    "roi_pool_backward",
]

FLT_MAX = float(np.finfo(np.float32).max)
# the number of boxes in a block of the vectorised passes: bounds the (K·P_h, C·W) products
_BLOCK_ELEMENTS = 1 << 21


# --------------------------------------------------------------------------- arguments
def _rois(boxes: Any, N: int, dtype: np.dtype, func: str) -> tuple[np.ndarray, np.ndarray]:
    """(batch index (K,) int64, corners (K, 4) float64) from a (K, 5) array or a list of
    (K_n, 4) arrays, checked: float, finite, batch indices integers in [0, N)."""
    if isinstance(boxes, (list, tuple)):
        if len(boxes) != N:
            raise ValueError(
                f"{func}: boxes: expected a list of N = {N} arrays (K_n, 4), one per image, "
                f"got a list of {len(boxes)}"
            )
        parts = []
        for n, b in enumerate(boxes):
            check_float_array(f"boxes[{n}]", b, func=func)
            if b.ndim != 2 or b.shape[1] != 4:
                raise ValueError(
                    f"{func}: boxes[{n}]: expected shape (K_{n}, 4) [x1, y1, x2, y2], got {b.shape}"
                )
            parts.append(np.concatenate([np.full((len(b), 1), float(n)), b], axis=1))
        rois = np.concatenate(parts, axis=0) if parts else np.zeros((0, 5))
        given = [b.dtype for b in boxes]
    else:
        check_float_array("boxes", boxes, func=func)
        if boxes.ndim != 2 or boxes.shape[1] != 5:
            raise ValueError(
                f"{func}: boxes: expected shape (K, 5) [batch_index, x1, y1, x2, y2] or a list "
                f"of (K_n, 4) arrays, got {boxes.shape}"
            )
        rois = boxes
        given = [boxes.dtype]
    if any(d != dtype for d in given):
        raise TypeError(
            f"{func}: expected boxes in the input's dtype {dtype}, got {given[0]}; convert with "
            ".astype(...)"
        )
    rois = rois.astype(np.float64)
    if not np.all(np.isfinite(rois)):
        raise ValueError(f"{func}: boxes: expected finite values, got NaN or infinity")
    batch = rois[:, 0]
    bad = (batch != np.round(batch)) | (batch < 0) | (batch >= N)
    if np.any(bad):
        k = int(np.argmax(bad))
        raise ValueError(
            f"{func}: boxes: expected batch indices, integers in [0, N) = [0, {N}), got "
            f"{float(batch[k])!r} in row {k}"
        )
    return batch.astype(np.int64), rois[:, 1:]


def _output_size(output_size: Any, func: str) -> tuple[int, int]:
    return int_pair("output_size", output_size, minimum=1, func=func)


def _scale(spatial_scale: Any, func: str) -> float:
    if (
        isinstance(spatial_scale, (bool, np.bool_))
        or not isinstance(spatial_scale, (int, float, np.integer, np.floating))
        or not np.isfinite(spatial_scale)
        or spatial_scale <= 0
    ):
        raise ValueError(
            f"{func}: spatial_scale: expected a finite number > 0, got {spatial_scale!r}"
        )
    return float(spatial_scale)


def _image(x: Any, func: str) -> np.ndarray:
    check_float_array("input", x, func=func)
    if x.ndim != 4:
        raise ValueError(
            f"{func}: input: expected a 4-D array (N, C, H, W), got {x.ndim}-D with shape "
            f"{x.shape}; add a batch axis with input[None]"
        )
    return x


def _blocks(K: int, per_box: int) -> list[slice]:
    step = max(1, _BLOCK_ELEMENTS // max(per_box, 1))
    return [slice(a, min(a + step, K)) for a in range(0, K, step)] or [slice(0, 0)]


def _size_blocks(
    L_a: np.ndarray, L_b: np.ndarray, per_box: int, fixed: int = 0
) -> list[np.ndarray]:
    """The boxes (indices) in blocks of similar extents L_a, L_b (K,), to be padded to the
    block's largest: one size class per half-octave of L_a (padding under √2 on that axis),
    sorted by L_b within it and cut where the elements, max(L_a's class maximum · L_b ·
    per_box, ``fixed``) a box, pass each multiple of ``_BLOCK_ELEMENTS``. A handful of
    blocks for a detection head's boxes."""
    a, b = np.maximum(L_a, 1), np.maximum(L_b, 1)
    size_class = np.floor(2 * np.log2(a)).astype(np.int64)
    order = np.lexsort((b, size_class))
    size_class = size_class[order]
    a_max = np.maximum.reduceat(a[order], np.flatnonzero(np.diff(size_class, prepend=-1)))
    padded = a_max[np.cumsum(np.diff(size_class, prepend=size_class[:1]) != 0)] * b[order]
    budget = np.cumsum(np.maximum(padded * per_box, fixed)) // _BLOCK_ELEMENTS
    cut = (np.diff(size_class) != 0) | (np.diff(budget) != 0)
    edges = [0, *(np.flatnonzero(cut) + 1).tolist(), len(order)]
    return [order[lo:hi] for lo, hi in zip(edges[:-1], edges[1:]) if hi > lo]


def _class_blocks(L_a: np.ndarray, L_b: np.ndarray, cost: Any) -> list[np.ndarray]:
    """The boxes (indices) in blocks of similar extents L_a, L_b (K,), to be padded to the
    block's largest: one size class per half-octave of L_a and of L_b (padding under √2 on
    each axis), each cut into blocks of at most ``_BLOCK_ELEMENTS // cost(a, b)`` boxes, a,
    b the class's largest extents and cost(a, b) the elements a box padded to them takes."""
    a, b = np.maximum(L_a, 1), np.maximum(L_b, 1)
    class_a, class_b = (np.floor(2 * np.log2(v)).astype(np.int64) for v in (a, b))
    size_class = class_a * 128 + class_b
    order = np.argsort(size_class, kind="stable")
    starts = np.flatnonzero(np.diff(size_class[order], prepend=-1))
    a_max = np.maximum.reduceat(a[order], starts) if len(order) else a
    b_max = np.maximum.reduceat(b[order], starts) if len(order) else b
    step = np.maximum(_BLOCK_ELEMENTS // np.maximum(cost(a_max, b_max), 1), 1)
    ends = [*starts[1:].tolist(), len(order)]
    return [
        order[lo : min(lo + s, hi)]
        for start, hi, s in zip(starts.tolist(), ends, step.tolist())
        for lo in range(start, hi, s)
    ]


# --------------------------------------------------------------------------- roi_align
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


def _shape(input_shape: Any, func: str) -> tuple[int, int, int, int]:
    if (
        not isinstance(input_shape, Sequence)
        or len(input_shape) != 4
        or any(
            isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer))
            for v in input_shape
        )
        or min(input_shape) < 1
    ):
        raise ValueError(
            f"{func}: input_shape: expected (N, C, H, W), four ints >= 1, got {input_shape!r}"
        )
    N, C, H, W = (int(v) for v in input_shape)
    return N, C, H, W


# --------------------------------------------------------------------------- roi_pool
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


# --------------------------------------------------------------------------- nms
def _boxes(name: str, boxes: Any, func: str) -> np.ndarray:
    check_float_array(name, boxes, func=func)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(
            f"{func}: {name}: expected shape (K, 4) [x1, y1, x2, y2], got {boxes.shape}"
        )
    return boxes


def box_iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """IoU (K, M) of boxes (K, 4) and (M, 4) in (x1, y1, x2, y2):
    |a ∩ b| / (|a| + |b| − |a ∩ b|), |a| = (x2 − x1)(y2 − y1), ``torchvision.ops.box_iou``.

    >>> box_iou(np.array([[0.0, 0.0, 2.0, 2.0]]), np.array([[1.0, 0.0, 3.0, 2.0]]))
    array([[0.33333333]])
    """
    func = "box_iou"
    a = _boxes("boxes1", boxes1, func)
    b = _boxes("boxes2", boxes2, func)
    dtype = check_same_dtype(func, boxes1=a, boxes2=b)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return (inter / (area_a[:, None] + area_b[None, :] - inter)).astype(dtype)


def _nms_args(boxes: Any, scores: Any, iou_threshold: Any, func: str) -> float:
    _boxes("boxes", boxes, func)
    check_float_array("scores", scores, func=func)
    check_same_dtype(func, boxes=boxes, scores=scores)
    if scores.shape != (len(boxes),):
        raise ValueError(
            f"{func}: scores: expected shape (K,) = {(len(boxes),)}, one per box, got "
            f"{scores.shape}"
        )
    if np.any(np.isnan(scores)):
        raise ValueError(f"{func}: scores: expected no NaN, got NaN (its order is undefined)")
    if isinstance(iou_threshold, (bool, np.bool_)) or not isinstance(
        iou_threshold, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{func}: iou_threshold: expected a number, got {iou_threshold!r}")
    return float(iou_threshold)


def _introsort_descending(keys: np.ndarray) -> np.ndarray:
    """The permutation PyTorch's CPU ``sort(descending=True)`` gives: libstdc++'s
    ``std::sort`` (introsort: median-of-three quicksort down to 16 elements, then one insertion
    sort) of (key, index) pairs by key > key, replayed step by step, so that ties come out in
    the same order. Past its depth limit (2·⌊log₂ K⌋, which needs adversarial data)
    std::sort heap-sorts; that case falls back to index order within the range."""
    k = [float(v) for v in keys]
    idx = list(range(len(k)))
    n = len(k)

    def swap(i: int, j: int) -> None:
        k[i], k[j] = k[j], k[i]
        idx[i], idx[j] = idx[j], idx[i]

    def linear_insert(last: int) -> None:
        val, vi = k[last], idx[last]
        nxt = last - 1
        while val > k[nxt]:
            k[last], idx[last] = k[nxt], idx[nxt]
            last = nxt
            nxt -= 1
        k[last], idx[last] = val, vi

    def insertion(first: int, last: int) -> None:
        for i in range(first + 1, last):
            if k[i] > k[first]:
                val, vi = k[i], idx[i]
                k[first + 1 : i + 1], idx[first + 1 : i + 1] = k[first:i], idx[first:i]
                k[first], idx[first] = val, vi
            else:
                linear_insert(i)

    def loop(first: int, last: int, depth: int) -> None:
        while last - first > 16:
            if depth == 0:
                part = sorted(range(first, last), key=lambda i: (-k[i], idx[i]))
                k[first:last], idx[first:last] = [k[i] for i in part], [idx[i] for i in part]
                return
            depth -= 1
            mid = first + (last - first) // 2
            a, b, c = first + 1, mid, last - 1
            if k[a] > k[b]:
                if k[b] > k[c]:
                    swap(first, b)
                elif k[a] > k[c]:
                    swap(first, c)
                else:
                    swap(first, a)
            elif k[a] > k[c]:
                swap(first, a)
            elif k[b] > k[c]:
                swap(first, c)
            else:
                swap(first, b)
            lo, hi = first + 1, last
            pivot = k[first]
            while True:
                while k[lo] > pivot:
                    lo += 1
                hi -= 1
                while pivot > k[hi]:
                    hi -= 1
                if not lo < hi:
                    break
                swap(lo, hi)
                lo += 1
            loop(lo, last, depth)
            last = lo

    if n > 1:
        loop(0, n, 2 * (n.bit_length() - 1))
        if n > 16:
            insertion(0, 16)
            for i in range(16, n):
                linear_insert(i)
        else:
            insertion(0, n)
    return np.array(idx, dtype=np.int64)


def _descending_order(scores: np.ndarray) -> np.ndarray:
    """Indices by score, descending, in torchvision's (PyTorch CPU sort's) order: index order
    among ties for up to 16 boxes or without ties, std::sort's order beyond."""
    stable = np.argsort(-scores.astype(np.float64), kind="stable")
    if len(scores) <= 16 or len(np.unique(scores)) == len(scores):
        return stable
    return _introsort_descending(scores)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Non-maximum suppression: the indices (int64) of the boxes kept, by score descending
    (ties as PyTorch's CPU sort orders them); a kept box suppresses each later one with
    IoU > ``iou_threshold`` (``torchvision.ops.nms``). O(K²) time at worst, O(K) memory.

    >>> b = np.array([[0.0, 0, 2, 2], [0.1, 0, 2, 2], [5, 5, 6, 6]])
    >>> nms(b, np.array([0.5, 0.9, 0.1]), 0.5)
    array([1, 2])
    """
    func = "nms"
    threshold = _nms_args(boxes, scores, iou_threshold, func)
    dtype = boxes.dtype
    order = _descending_order(scores)
    b = boxes[order]
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    area = (x2 - x1) * (y2 - y1)
    alive = np.ones(len(b), dtype=bool)
    keep = []
    zero = dtype.type(0)
    for i in range(len(b)):
        if not alive[i]:
            continue
        keep.append(i)
        w = np.maximum(zero, np.minimum(x2[i], x2[i + 1 :]) - np.maximum(x1[i], x1[i + 1 :]))
        h = np.maximum(zero, np.minimum(y2[i], y2[i + 1 :]) - np.maximum(y1[i], y1[i + 1 :]))
        inter = w * h
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = inter / (area[i] + area[i + 1 :] - inter)
        alive[i + 1 :] &= ~(iou.astype(np.float64) > threshold)
    return order[np.array(keep, dtype=np.int64)].astype(np.int64)


def batched_nms(
    boxes: np.ndarray, scores: np.ndarray, idxs: np.ndarray, iou_threshold: float
) -> np.ndarray:
    """NMS within each category ``idxs`` (K,) separately: the indices kept, by score
    descending (``torchvision.ops.batched_nms``). As torchvision: up to 4000 coordinates, one
    ``nms`` of the boxes shifted apart by idx·(max coordinate + 1); beyond, one ``nms`` per
    category.

    >>> b = np.array([[0.0, 0, 2, 2], [0.1, 0, 2, 2]])
    >>> batched_nms(b, np.array([0.5, 0.9]), np.array([0, 1]), 0.5)
    array([1, 0])
    """
    func = "batched_nms"
    _nms_args(boxes, scores, iou_threshold, func)
    if (
        not isinstance(idxs, np.ndarray)
        or idxs.shape != scores.shape
        or not np.issubdtype(idxs.dtype, np.integer)
    ):
        raise ValueError(
            f"{func}: idxs: expected an int array of shape (K,) = {scores.shape}, got {idxs!r}"
        )
    if boxes.size == 0:
        return np.zeros(0, dtype=np.int64)
    if boxes.size <= 4000:
        max_coordinate = boxes.max()
        offsets = idxs.astype(boxes.dtype) * (max_coordinate + boxes.dtype.type(1))
        return nms(boxes + offsets[:, None], scores, iou_threshold)
    keep = np.zeros(len(boxes), dtype=bool)
    for category in np.unique(idxs):
        members = np.flatnonzero(idxs == category)
        keep[members[nms(boxes[members], scores[members], iou_threshold)]] = True
    kept = np.flatnonzero(keep)
    return kept[_descending_order(scores[kept])]
