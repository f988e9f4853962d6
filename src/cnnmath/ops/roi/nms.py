"""box_iou, nms and batched_nms: overlaps of boxes and the greedy suppression in torchvision's
order of scores."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..._checks import check_float_array, check_same_dtype

__all__ = ["box_iou", "nms", "batched_nms"]


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
