"""What the region-of-interest ops share: their argument checks (boxes, output size, scale,
image) and the blocks of boxes their vectorised passes work in, bounded by
``_BLOCK_ELEMENTS``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..._checks import check_float_array, int_pair

# the number of boxes in a block of the vectorised passes: bounds the (K·P_h, C·W) products
_BLOCK_ELEMENTS = 1 << 21


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
