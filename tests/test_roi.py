"""cnnmath.ops.roi against torchvision.ops, the literal loops of cnnmath.reference.roi and
each other.

torchvision's C++ operators do not load beside the CPU torch (tests/torchvision_helper.py), so
its ``roi_align`` runs its pure-Python path, transcribed from the CUDA kernel but without the
kernel's rule that a sample with y < −1, y > H (x < −1, x > W) reads 0, and with NaN gradients
for boxes whose adaptive grid is empty. Those geometries are checked against the reference
(a transcription of the C++ kernel) and, in test_onnx_roi.py, against onnxruntime's RoiAlign;
``roi_pool`` and ``nms`` (C++ only) against the reference and onnxruntime's MaxRoiPool and
NonMaxSuppression.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnnmath import reference
from cnnmath.ops import (
    batched_nms,
    box_iou,
    nms,
    roi_align,
    roi_align_backward,
    roi_pool,
    roi_pool_backward,
)
from helpers import set_everywhere
from torchvision_helper import import_torchvision

rng = np.random.default_rng(7)
X = rng.standard_normal((2, 3, 9, 11))
# inside the image (the region where torchvision's Python path is its C++ kernel)
INSIDE = np.array(
    [
        [0, 1.0, 1.0, 6.0, 5.0],
        [1, 0.3, 2.2, 10.5, 8.7],
        [0, 0.0, 0.0, 3.5, 1.2],
        [1, 4.2, 0.1, 4.9, 8.0],
        [0, 2.0, 3.0, 2.4, 3.1],
    ]
)
# partly or wholly outside, and zero-size
OUTSIDE = np.array(
    [
        [1, -3.0, -2.0, 4.0, 5.0],
        [0, 8.0, 6.0, 15.0, 12.0],
        [0, -9.0, -9.0, -4.0, -3.0],
        [1, 2.0, 2.0, 2.0, 2.0],
        [0, 5.0, 5.0, 3.0, 4.0],
    ]
)
GEOMETRIES = [
    dict(output_size=os, spatial_scale=s, sampling_ratio=r, aligned=a)
    for os in ((7, 7), (2, 3))
    for s in (1.0, 0.5)
    for r in (-1, 0, 2)
    for a in (False, True)
]


def _torch_roi_align(x, boxes, g, output_size, spatial_scale, sampling_ratio, aligned):
    """torchvision.ops.roi_align's Python path, run eagerly: the public function would first
    compile it with torch.compile (seconds); the arithmetic is the same."""
    import_torchvision()
    import importlib

    import torch

    eager = importlib.import_module("torchvision.ops.roi_align")._roi_align.__wrapped__
    xt = torch.tensor(x, requires_grad=True)
    P_h, P_w = output_size
    yt = eager(xt, torch.tensor(boxes), spatial_scale, P_h, P_w, sampling_ratio, aligned)
    yt.backward(torch.tensor(g))
    return yt.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("kw", GEOMETRIES, ids=lambda kw: "-".join(map(str, kw.values())))
def test_roi_align_matches_torchvision(kw):
    y = roi_align(X, INSIDE, **kw)
    g = rng.standard_normal(y.shape)
    y_t, gx_t = _torch_roi_align(X, INSIDE, g, **kw)
    np.testing.assert_allclose(y, y_t, rtol=0, atol=1e-10)
    np.testing.assert_allclose(roi_align_backward(g, X.shape, INSIDE, **kw), gx_t, atol=1e-10)


@pytest.mark.parametrize("kw", GEOMETRIES[::5], ids=lambda kw: "-".join(map(str, kw.values())))
def test_roi_align_matches_reference_outside_and_degenerate(kw):
    boxes = np.concatenate([INSIDE[:2], OUTSIDE])
    y = roi_align(X, boxes, **kw)
    np.testing.assert_allclose(y, reference.roi_align(X, boxes, **kw), atol=1e-12)
    g = rng.standard_normal(y.shape)
    np.testing.assert_allclose(
        roi_align_backward(g, X.shape, boxes, **kw),
        reference.roi_align_backward(g, X.shape, boxes, **kw),
        atol=1e-12,
    )


def test_reference_roi_align_matches_torchvision():
    kw = dict(output_size=(2, 3), spatial_scale=0.5, sampling_ratio=-1, aligned=True)
    y = reference.roi_align(X, INSIDE, **kw)
    g = rng.standard_normal(y.shape)
    y_t, gx_t = _torch_roi_align(X, INSIDE, g, **kw)
    np.testing.assert_allclose(y, y_t, atol=1e-12)
    np.testing.assert_allclose(
        reference.roi_align_backward(g, X.shape, INSIDE, **kw), gx_t, atol=1e-12
    )


def test_roi_align_outside_reads_zero():
    """A box wholly beyond −1 reads nothing: 0 (the C++ kernel's rule)."""
    y = roi_align(X, OUTSIDE[2:3], 2, sampling_ratio=2)
    assert np.all(y == 0)
    assert np.any(roi_align(X, OUTSIDE[:1], 2) != 0)


def test_roi_align_list_form_and_float32():
    boxes = [INSIDE[INSIDE[:, 0] == n, 1:] for n in range(2)]
    rows = np.concatenate([np.c_[np.full(len(b), n), b] for n, b in enumerate(boxes)])
    kw = dict(output_size=(7, 7), spatial_scale=0.25, sampling_ratio=-1, aligned=False)
    np.testing.assert_array_equal(roi_align(X, boxes, **kw), roi_align(X, rows, **kw))
    y_t, _ = _torch_roi_align(X, rows, np.zeros((len(rows), 3, 7, 7)), **kw)
    np.testing.assert_allclose(roi_align(X, boxes, **kw), y_t, atol=1e-10)
    y32 = roi_align(X.astype(np.float32), [b.astype(np.float32) for b in boxes], **kw)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, y_t, atol=1e-5)


def test_roi_align_blocks_are_bounded_by_their_padded_size():
    """500 boxes that read 2×2 pixels and one 2-row box ~1000 columns wide: a block of the
    tiny boxes padded to the wide one's width took 180 MiB forward and 340 MiB backward.
    Blocks bounded by their padded size take ~30 MiB, a few budgets' worth."""
    import tracemalloc

    x = np.random.default_rng(0).standard_normal((1, 8, 32, 1000)).astype(np.float32)
    tiny = np.array([[0, 5.2, 5.2, 5.5, 5.5]] * 500)
    boxes = np.r_[tiny, [[0, 0.0, 10.2, 999.0, 10.5]]].astype(np.float32)
    tracemalloc.start()
    try:
        y = roi_align(x, boxes, 7, 1.0, 1, True)
        forward = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        grad = roi_align_backward(y, x.shape, boxes, 7, 1.0, 1, True)
        backward = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert forward < 96 * 2**20 and backward < 96 * 2**20, (forward, backward)
    np.testing.assert_array_equal(y[:1], roi_align(x, boxes[:1], 7, 1.0, 1, True))
    assert grad.shape == x.shape


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_roi_align_non_finite_values_stay_in_their_boxes(dtype):
    """NaN in a pixel only the wider box reads (column 5; the narrower reads columns 1..4,
    the two share a size block): the narrower box's output is its output alone and the
    reference's, 0, not NaN from its padded window; likewise a NaN gradient of the narrower
    box reaches its own pixels only."""
    narrow, wide = [0, 1.0, 1.0, 4.5, 1.6], [0, 1.0, 1.0, 6.0, 1.6]
    boxes = np.array([narrow, wide], dtype)
    x = np.zeros((1, 1, 10, 10), dtype)
    x[0, 0, 1, 5] = np.nan
    kw = dict(output_size=1, spatial_scale=1.0, sampling_ratio=2, aligned=True)
    y = roi_align(x, boxes, **kw)
    assert y[0, 0, 0, 0] == 0.0 and np.isnan(y[1, 0, 0, 0])
    np.testing.assert_array_equal(y[:1], roi_align(x, boxes[:1], **kw))
    np.testing.assert_array_equal(y, reference.roi_align(x, boxes, **kw))
    g = np.ones((2, 1, 1, 1), dtype)
    g[0] = np.nan
    grad = roi_align_backward(g, x.shape, boxes, **kw)
    alone = roi_align_backward(g[:1], x.shape, boxes[:1], **kw)
    np.testing.assert_array_equal(np.isnan(grad), np.isnan(alone))
    assert not np.isnan(grad[0, 0, :, 5]).any()


@pytest.mark.parametrize("C", [1, 2, 5, 6])
@pytest.mark.parametrize("budget", [None, 500])
def test_roi_align_backward_overlapping_windows_match_reference(monkeypatch, C, budget):
    """Many boxes of one image over the same pixels (their windows overlap within a block and
    across blocks): every contribution is added. Even C takes the scatter's paired (complex128)
    path, odd C the plain one; a small budget cuts the classes into many blocks that reuse
    the scatter's buffers at different sizes. A NaN and an inf gradient stay in their own
    boxes' windows: the non-finite pixels are those of the two boxes alone (the separable
    product spreads them, inf·0, over their box's rows and columns, where the reference
    has finite values), and the reference's values everywhere else."""
    from cnnmath.ops import roi

    if budget is not None:
        set_everywhere(monkeypatch, roi, "_BLOCK_ELEMENTS", budget)
    r = np.random.default_rng(C)
    x = r.standard_normal((2, C, 13, 17))
    K = 60
    w, h = r.uniform(0.5, 14, K), r.uniform(0.5, 11, K)
    x1, y1 = r.uniform(-2, 12, K), r.uniform(-2, 9, K)
    boxes = np.c_[r.integers(0, 2, K) * (np.arange(K) % 4 == 0), x1, y1, x1 + w, y1 + h]
    for kw in (
        dict(output_size=(3, 4), spatial_scale=1.0, sampling_ratio=2, aligned=True),
        dict(output_size=(2, 2), spatial_scale=0.75, sampling_ratio=-1, aligned=False),
    ):
        g = r.standard_normal((K, C, *kw["output_size"]))
        expected = reference.roi_align_backward(g, x.shape, boxes, **kw)
        grad = roi_align_backward(g, x.shape, boxes, **kw)
        np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-12)
        g[5, -1, 0, 1], g[9, 0, 1, 0] = np.nan, np.inf
        with np.errstate(invalid="ignore"):
            grad = roi_align_backward(g, x.shape, boxes, **kw)
            alone = roi_align_backward(g[[5, 9]], x.shape, boxes[[5, 9]], **kw)
        np.testing.assert_array_equal(np.isnan(grad), np.isnan(alone))
        np.testing.assert_array_equal(np.isinf(grad), np.isinf(alone))
        assert np.isnan(grad).any() and np.isinf(grad).any()
        finite = np.isfinite(grad)
        g[5, -1, 0, 1] = g[9, 0, 1, 0] = 0.0
        expected = reference.roi_align_backward(g, x.shape, boxes, **kw)
        np.testing.assert_allclose(grad[finite], expected[finite], rtol=1e-12, atol=1e-12)


def test_roi_outputs_are_c_contiguous():
    boxes = INSIDE[:4]
    y = roi_align(X, boxes, (2, 3), 0.25)
    values, argmax = roi_pool(X, boxes, (2, 3), 0.25)
    grads = (
        roi_align_backward(y, X.shape, boxes, (2, 3), 0.25),
        roi_pool_backward(values, X.shape, boxes, argmax),
    )
    y32 = roi_align(X.astype(np.float32), boxes.astype(np.float32), 2)
    for a in (y, values, argmax, *grads, y32):
        assert a.flags["C_CONTIGUOUS"], a.strides


def test_roi_align_no_boxes():
    y = roi_align(X, np.zeros((0, 5)), 3)
    assert y.shape == (0, 3, 3, 3)
    assert np.all(roi_align_backward(y, X.shape, np.zeros((0, 5)), 3) == 0)
    y, argmax = roi_pool(X, [np.zeros((0, 4)), np.zeros((0, 4))], 3)
    assert y.shape == argmax.shape == (0, 3, 3, 3)


# --------------------------------------------------------------------------- roi_pool
def _tied(shape, seed):
    """Small integers: many ties inside each bin."""
    return np.random.default_rng(seed).integers(-2, 3, size=shape).astype(np.float64)


@pytest.mark.parametrize("output_size", [(7, 7), (2, 3)])
@pytest.mark.parametrize("spatial_scale", [1.0, 0.5, 0.25])
def test_roi_pool_matches_reference_with_ties(output_size, spatial_scale):
    x = _tied((2, 3, 9, 11), 3)
    boxes = np.concatenate([INSIDE, OUTSIDE])
    y, argmax = roi_pool(x, boxes, output_size, spatial_scale)
    y_r, argmax_r = reference.roi_pool(x, boxes, output_size, spatial_scale)
    np.testing.assert_array_equal(y, y_r)
    np.testing.assert_array_equal(argmax, argmax_r)
    g = rng.standard_normal(y.shape)
    np.testing.assert_allclose(
        roi_pool_backward(g, x.shape, boxes, argmax),
        reference.roi_pool_backward(g, x.shape, boxes, argmax_r),
        atol=1e-12,
    )


@pytest.mark.parametrize("budget", [1, 40, 300])
def test_roi_ops_in_small_blocks_match_reference(monkeypatch, budget):
    """A tiny block budget: roi_pool scans its offsets in chunks of several (the first
    maximum kept across chunks, ties everywhere) or one at a time, roi_align cuts its size
    classes into many blocks; the results are the reference's."""
    from cnnmath.ops import roi

    set_everywhere(monkeypatch, roi, "_BLOCK_ELEMENTS", budget)
    x = _tied((2, 3, 9, 11), 5)
    boxes = np.concatenate([INSIDE, OUTSIDE])
    for output_size, scale in (((2, 3), 1.0), ((1, 1), 1.0), ((7, 7), 0.5)):
        y, argmax = roi_pool(x, boxes, output_size, scale)
        y_r, argmax_r = reference.roi_pool(x, boxes, output_size, scale)
        np.testing.assert_array_equal(y, y_r)
        np.testing.assert_array_equal(argmax, argmax_r)
        y = roi_align(X, boxes, output_size, scale, 2, True)
        np.testing.assert_allclose(
            y, reference.roi_align(X, boxes, output_size, scale, 2, True), atol=1e-12
        )
        np.testing.assert_allclose(
            roi_align_backward(y, X.shape, boxes, output_size, scale, 2, True),
            reference.roi_align_backward(y, X.shape, boxes, output_size, scale, 2, True),
            atol=1e-12,
        )


def test_roi_pool_tiny_boxes_stay_within_the_block_budget():
    """2000 boxes of one pixel each: a block of all of them read only k·1·P_w·C pixels but
    made its last steps' (k, P_h, P_w, C) index arrays for all 2000 at once (57 MiB beside an
    18 MiB output); counted in the budget, the blocks are cut and take ~16 MiB. The first
    boxes' results are the reference's."""
    import tracemalloc

    r = np.random.default_rng(0)
    x = r.standard_normal((1, 16, 40, 40)).astype(np.float32)
    K = 2000
    x1, y1 = r.uniform(0, 38, K), r.uniform(0, 38, K)
    boxes = np.c_[np.zeros(K), x1, y1, x1 + 0.4, y1 + 0.4].astype(np.float32)
    tracemalloc.start()
    try:
        y, argmax = roi_pool(x, boxes, 7)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak - y.nbytes - argmax.nbytes < 32 * 2**20, peak
    y_r, argmax_r = reference.roi_pool(x, boxes[:20], 7)
    np.testing.assert_array_equal(y[:20], y_r)
    np.testing.assert_array_equal(argmax[:20], argmax_r)


def test_roi_pool_rounding_half_away_and_empty_bins():
    x = np.arange(20.0).reshape(1, 1, 4, 5)
    # 0.5 rounds to 1, −0.5 to −1 (C's round), so the box starts at column 1 / row −1
    y, argmax = roi_pool(x, np.array([[0, 0.5, -0.5, 3.0, 1.0]]), (1, 1))
    assert argmax[0, 0, 0, 0] == 1 * 5 + 3 and y[0, 0, 0, 0] == 8.0
    y, argmax = roi_pool(x, np.array([[0, 7.0, 7.0, 9.0, 9.0]]), 2)  # beyond the image
    assert np.all(y == 0) and np.all(argmax == -1)
    y, argmax = roi_pool(np.full((1, 1, 2, 2), -np.inf), np.array([[0, 0, 0, 1.0, 1.0]]), 1)
    assert y[0, 0, 0, 0] == -np.finfo(np.float32).max and argmax[0, 0, 0, 0] == -1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_roi_pool_bins_are_computed_in_the_inputs_dtype(dtype):
    # rows 0..113 in 7 bins: torchvision's kernel computes bin = 114/7 and the last bin's end
    # ceil(7·bin) in the input's type; in float32 that is 114.00001 → 115, so the last bin
    # reads row 114 (just below the box), in float64 it stops at 113
    x = np.zeros((1, 1, 130, 4), dtype)
    x[0, 0, 114, 1] = 5.0
    end = math.ceil(dtype(7) * (dtype(114) / dtype(7)))
    assert end == (115 if dtype is np.float32 else 114)  # the premise, in NumPy's arithmetic
    boxes = np.array([[0, 0, 0, 3, 113]], dtype)
    y, argmax = roi_pool(x, boxes, (7, 1))
    # float64: the last bin is rows 97..113, all 0, whose first pixel is the argmax
    want = (5.0, 114 * 4 + 1) if dtype is np.float32 else (0.0, 97 * 4)
    assert (y[0, 0, -1, 0], argmax[0, 0, -1, 0]) == want
    y_ref, argmax_ref = reference.roi_pool(x, boxes, (7, 1))
    assert np.array_equal(y_ref, y) and np.array_equal(argmax_ref, argmax)


def test_roi_pool_first_maximum_wins():
    x = np.ones((1, 1, 3, 3))
    y, argmax = roi_pool(x, np.array([[0, 0.0, 0.0, 2.0, 2.0]]), 1)
    assert argmax[0, 0, 0, 0] == 0


def test_roi_pool_on_a_map_wider_than_an_int16_offset():
    """Bins 35 000 columns wide (a 2×70 000 strip): the argmax is each bin's first maximum,
    found here by NumPy's argmax over the bin, and the maximum lies beyond column 32 767 of
    its bin."""
    x = np.random.default_rng(0).standard_normal((1, 2, 2, 70000)).astype(np.float32)
    x[:, :, 1, 69000] = 10.0  # the maximum of the second bin, 34 000 columns into it
    y, argmax = roi_pool(x, np.array([[0, 0.0, 0.0, 69999.0, 1.0]], np.float32), (1, 2))
    for j, cols in enumerate((slice(0, 35000), slice(35000, 70000))):
        bin_ = x[0, :, :, cols].reshape(2, -1)  # (C, 2·35 000) in row-major order
        flat = np.argmax(bin_, axis=1)
        np.testing.assert_array_equal(y[0, :, 0, j], bin_.max(axis=1))
        want = flat // 35000 * 70000 + cols.start + flat % 35000
        np.testing.assert_array_equal(argmax[0, :, 0, j], want)
    assert argmax[0, 0, 0, 1] == 70000 + 69000


# --------------------------------------------------------------------------- nms
def _random_boxes(K, seed, grid=None):
    r = np.random.default_rng(seed)
    xy = r.uniform(0, 20, size=(K, 2))
    wh = r.uniform(1, 10, size=(K, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1)
    if grid:
        boxes = np.round(boxes * grid) / grid
    return boxes


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.9])
def test_nms_matches_reference_with_duplicates_and_ties(threshold):
    boxes = _random_boxes(60, 1, grid=1)
    boxes[10:15] = boxes[3]  # duplicates
    scores = np.random.default_rng(2).uniform(size=60)
    scores[20:24] = scores[3]  # ties among duplicates: permuted below into index order
    scores = scores[np.argsort(-scores, kind="stable")]
    keep = nms(boxes, scores, threshold)
    np.testing.assert_array_equal(keep, reference.nms(boxes, scores, threshold))
    assert keep.dtype == np.int64


@pytest.mark.parametrize("K", [5, 16, 17, 40, 300])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nms_tie_order_is_torch_sort(K, dtype):
    """torchvision orders by ``scores.sort(descending=True)``: on CPU not stable past 16."""
    torch = pytest.importorskip("torch")
    scores = np.round(np.random.default_rng(K).uniform(size=K), 1).astype(dtype)
    boxes = _random_boxes(K, 6, grid=1).astype(dtype)
    boxes[::3] = boxes[0]  # heavy overlap among ties
    order = torch.tensor(scores).sort(descending=True)[1].numpy()
    disjoint = boxes + np.arange(K, dtype=dtype)[:, None] * 100  # all kept: the order itself
    np.testing.assert_array_equal(nms(disjoint, scores, 0.5), order)
    # the reference (stable order) on boxes permuted into torch's order, indices mapped back
    kept = reference.nms(boxes[order].astype(float), scores[order].astype(float), 0.5)
    np.testing.assert_array_equal(nms(boxes, scores, 0.5), order[kept])


def test_nms_empty_and_float32():
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).shape == (0,)
    boxes = _random_boxes(30, 3).astype(np.float32)
    scores = np.random.default_rng(4).uniform(size=30).astype(np.float32)
    np.testing.assert_array_equal(
        nms(boxes, scores, 0.4), reference.nms(boxes.astype(float), scores.astype(float), 0.4)
    )


def test_batched_nms_matches_reference():
    boxes = _random_boxes(80, 8, grid=2)
    scores = np.random.default_rng(9).uniform(size=80)
    idxs = np.random.default_rng(10).integers(0, 4, size=80)
    keep = batched_nms(boxes, scores, idxs, 0.3)
    np.testing.assert_array_equal(keep, reference.batched_nms(boxes, scores, idxs, 0.3))
    assert batched_nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), 0.5).shape == (0,)


def test_batched_nms_large_path_per_category():
    boxes = _random_boxes(1100, 11)
    scores = np.random.default_rng(12).uniform(size=1100)
    idxs = np.random.default_rng(13).integers(0, 3, size=1100)
    keep = batched_nms(boxes, scores, idxs, 0.5)  # 4400 coordinates: one nms per category
    expected = np.sort(
        np.concatenate(
            [
                np.flatnonzero(idxs == c)[nms(boxes[idxs == c], scores[idxs == c], 0.5)]
                for c in range(3)
            ]
        )
    )
    np.testing.assert_array_equal(np.sort(keep), expected)
    assert np.all(np.diff(scores[keep]) <= 0)


def test_box_iou_matches_torchvision():
    tv = import_torchvision()
    import torch

    a, b = _random_boxes(7, 14, grid=1), _random_boxes(5, 15)
    b[0] = a[0]
    iou = box_iou(a, b)
    np.testing.assert_allclose(
        iou, tv.ops.box_iou(torch.tensor(a), torch.tensor(b)).numpy(), atol=1e-14
    )
    np.testing.assert_allclose(iou, reference.box_iou(a, b), atol=1e-14)
    assert iou[0, 0] == 1.0


# --------------------------------------------------------------------------- bad input
B1 = np.array([[0, 0.0, 0.0, 2.0, 2.0]])
ERRORS = [
    (lambda: roi_align(X, np.zeros((2, 4)), 2), ValueError, r"boxes: expected shape \(K, 5\)"),
    (lambda: roi_align(X, [np.zeros((1, 5))] * 2, 2), ValueError, r"boxes\[0\].*\(K_0, 4\)"),
    (lambda: roi_align(X, [np.zeros((1, 4))], 2), ValueError, "list of N = 2.*got a list of 1"),
    (
        lambda: roi_align(X, np.array([[2, 0, 0, 1, 1.0]]), 2),
        ValueError,
        r"batch indices.*\[0, 2\).*2\.0",
    ),
    (lambda: roi_align(X, np.array([[0.5, 0, 0, 1, 1.0]]), 2), ValueError, "batch indices"),
    (lambda: roi_align(X, np.array([[0, np.nan, 0, 1, 1.0]]), 2), ValueError, "finite"),
    (lambda: roi_align(X, B1, 0), ValueError, "output_size"),
    (lambda: roi_align(X, B1, 2, sampling_ratio=1.5), TypeError, "sampling_ratio"),
    (lambda: roi_align(X, B1, 2, spatial_scale=0), ValueError, "spatial_scale"),
    (lambda: roi_align(X, B1, 2, aligned=1), TypeError, "aligned"),
    (lambda: roi_align(X[0], B1, 2), ValueError, r"input: expected a 4-D.*input\[None\]"),
    (lambda: roi_align(X, B1.astype(np.float32), 2), TypeError, "dtype"),
    (lambda: roi_align(X, B1.astype(int), 2), TypeError, "boxes"),
    (lambda: roi_align_backward(np.zeros((1, 3, 2, 2)), X.shape, B1, 3), ValueError, "grad_output"),
    (lambda: roi_pool(X, np.zeros((1, 6)), 2), ValueError, "boxes"),
    (lambda: roi_pool(X, np.array([[-1, 0, 0, 1, 1.0]]), 2), ValueError, "batch indices"),
    (
        lambda: roi_pool_backward(np.zeros((1, 3, 2, 2)), X.shape, B1, np.zeros((1, 3, 2))),
        ValueError,
        "argmax",
    ),
    (lambda: nms(np.zeros((3, 5)), np.zeros(3), 0.5), ValueError, r"boxes.*\(K, 4\)"),
    (lambda: nms(np.zeros((3, 4)), np.zeros(2), 0.5), ValueError, r"scores.*\(3,\)"),
    (lambda: nms(np.zeros((1, 4)), np.array([np.nan]), 0.5), ValueError, "NaN"),
    (lambda: nms(np.zeros((1, 4)), np.zeros(1, np.float32), 0.5), TypeError, "dtype"),
    (lambda: batched_nms(np.zeros((2, 4)), np.zeros(2), np.zeros(3, int), 0.5), ValueError, "idxs"),
    (lambda: box_iou(np.zeros((2, 3)), np.zeros((2, 4))), ValueError, "boxes1"),
]


@pytest.mark.parametrize("call, error, pattern", ERRORS)
def test_bad_input(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


# --------------------------------------------------------------------------- layers
def _roi_head(layer):
    """conv → RoI layer on given boxes → flatten → linear, a two-input Graph."""
    from cnnmath import nn

    g = nn.Graph(inputs=["x", "boxes"])
    conv = g.add(nn.Conv2d(3, 4, 3, padding=1, rng=1, dtype=np.float64), "x", name="conv")
    roi = g.add(layer, conv, "boxes", name="roi")
    flat = g.add(nn.Flatten(), roi, name="flat")
    g.set_output(g.add(nn.Linear(4 * 2 * 3, 5, rng=2, dtype=np.float64), flat, name="fc"))
    return g


@pytest.mark.parametrize("pool", [False, True], ids=["RoIAlign", "RoIPool"])
def test_layers_in_a_graph_match_torch(pool):
    from cnnmath import nn

    torch = pytest.importorskip("torch")
    layer = nn.RoIPool((2, 3), 0.5) if pool else nn.RoIAlign((2, 3), 0.5, -1, aligned=True)
    g = _roi_head(layer)
    x = np.random.default_rng(3).standard_normal((2, 3, 9, 11))
    boxes = INSIDE * np.array([1, 2, 2, 2, 2])  # image units, spatial_scale 0.5
    y = g(x, boxes)
    G = np.random.default_rng(4).standard_normal(y.shape)
    g.zero_grad()
    g(x, boxes)
    grads = g.backward(G)
    params = dict(g.named_parameters())
    t = {k: torch.tensor(v.data, requires_grad=True) for k, v in params.items()}
    xt = torch.tensor(x, requires_grad=True)
    feature = torch.nn.functional.conv2d(xt, t["conv.weight"], t["conv.bias"], padding=1)
    if pool:  # torchvision's roi_pool is C++ only: the reference's argmax, gathered in torch
        _, argmax = reference.roi_pool(feature.detach().numpy(), boxes, (2, 3), 0.5)
        flat = feature.flatten(2)[torch.tensor(boxes[:, 0].astype(int))]
        pooled = torch.gather(flat, 2, torch.tensor(argmax).flatten(2)).reshape(-1, 4, 2, 3)
    else:
        import importlib

        import_torchvision()
        eager = importlib.import_module("torchvision.ops.roi_align")._roi_align.__wrapped__
        pooled = eager(feature, torch.tensor(boxes), 0.5, 2, 3, -1, True)
    yt = torch.nn.functional.linear(pooled.flatten(1), t["fc.weight"], t["fc.bias"])
    yt.backward(torch.tensor(G))
    np.testing.assert_allclose(y, yt.detach().numpy(), atol=1e-10)
    for name, p in params.items():
        np.testing.assert_allclose(p.grad, t[name].grad.numpy(), atol=1e-10, err_msg=name)
    np.testing.assert_allclose(grads[0], xt.grad.numpy(), atol=1e-10)
    assert grads[1].shape == boxes.shape and not np.any(grads[1])  # the graph's zero
    if pool:  # every argmax exists here, so the gather is the op
        assert np.all(argmax >= 0)


def test_layer_repr_and_bad_arguments():
    from cnnmath import nn

    assert repr(nn.RoIAlign(7, 0.25, 2)) == (
        "RoIAlign(output_size=(7, 7), spatial_scale=0.25, sampling_ratio=2, aligned=False)"
    )
    with pytest.raises(ValueError, match="spatial_scale"):
        nn.RoIAlign(7, -1.0, 2)
    with pytest.raises(TypeError, match="sampling_ratio"):
        nn.RoIAlign(7, 1.0, 2.0)
    with pytest.raises(ValueError, match="output_size"):
        nn.RoIPool(0, 1.0)
