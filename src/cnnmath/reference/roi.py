"""roi_align, roi_pool and nms as loops over every box, bin, sample and pixel.

Boxes are rows [n, x1, y1, x2, y2] (or a list of per-image (K_n, 4) rows). RoIAlign: the box,
scaled by s and shifted by −½ when ``aligned``, is cut into P_h × P_w bins; each bin averages
G_h × G_w bilinear samples at the centres of a G_h × G_w grid over it (G the sampling ratio,
or the bin's size rounded up). A sample above −1 and below H + … reads its four pixels: y
below 0 becomes 0, a y whose floor reaches the last row reads the last row alone; a sample
with y < −1, y > H, x < −1 or x > W reads 0. The backward hands each sample's share of its
bin's gradient to the same four pixels by the same weights.

RoIPool: the scaled corners are rounded half away from zero; the box is (x2 − x1 + 1) pixels
wide (at least 1); bin j covers ⌊j·w/P⌋ to ⌈(j + 1)·w/P⌉ − 1 from x1, cut to the image; the
max is found by a scan in row-major order keeping the first strictly greater value, starting
from −FLT_MAX (0 for an empty bin). The backward adds each gradient at its argmax.

NMS: boxes sorted by score (higher first, ties by index); each box not yet suppressed is kept
and suppresses every later box overlapping it with IoU above the threshold.
"""

from __future__ import annotations

import math

import numpy as np

FLT_MAX = 3.4028234663852886e38


def _rows(boxes):
    if isinstance(boxes, (list, tuple)):
        rows = []
        for n, b in enumerate(boxes):
            for r in b:
                rows.append([float(n)] + [float(v) for v in r])
        return rows
    return [[float(v) for v in r] for r in boxes]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _bilinear_taps(y, x, H, W):
    """[(h, w, weight)] of one sample; [] outside."""
    if y < -1.0 or y > H or x < -1.0 or x > W:
        return []
    if y <= 0:
        y = 0.0
    if x <= 0:
        x = 0.0
    y_low, x_low = int(y), int(x)
    if y_low >= H - 1:
        y_high = y_low = H - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= W - 1:
        x_high = x_low = W - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    return [
        (y_low, x_low, hy * hx),
        (y_low, x_high, hy * lx),
        (y_high, x_low, ly * hx),
        (y_high, x_high, ly * lx),
    ]


def _align_samples(row, P_h, P_w, spatial_scale, sampling_ratio, aligned, H, W):
    """For bin (i, j): the list of (h, w, weight / count)."""
    o = 0.5 if aligned else 0.0
    x1 = row[1] * spatial_scale - o
    y1 = row[2] * spatial_scale - o
    w = row[3] * spatial_scale - o - x1
    h = row[4] * spatial_scale - o - y1
    if not aligned:
        w, h = max(w, 1.0), max(h, 1.0)
    bin_h, bin_w = h / P_h, w / P_w
    G_h = sampling_ratio if sampling_ratio > 0 else math.ceil(h / P_h)
    G_w = sampling_ratio if sampling_ratio > 0 else math.ceil(w / P_w)
    count = max(G_h * G_w, 1)
    taps = {}
    for i in range(P_h):
        for j in range(P_w):
            found = []
            for a in range(G_h):
                y = y1 + i * bin_h + (a + 0.5) * bin_h / G_h
                for b in range(G_w):
                    x = x1 + j * bin_w + (b + 0.5) * bin_w / G_w
                    for hh, ww, weight in _bilinear_taps(y, x, H, W):
                        found.append((hh, ww, weight / count))
            taps[i, j] = found
    return taps


def roi_align(input, boxes, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False):
    """RoIAlign, as ``torchvision.ops.roi_align``: each box cut into P_h × P_w bins, each bin
    the mean of bilinear samples (module docstring; 0-based pixel coordinates).

    For box k, row (n, x1, y1, x2, y2), with o = ½ if ``aligned`` else 0 and s =
    ``spatial_scale``: x̂1 = s·x1 − o, ŷ1 = s·y1 − o, w = s·(x2 − x1), h = s·(y2 − y1) (each at
    least 1 unless ``aligned``); G_h = ``sampling_ratio`` if > 0 else ⌈h/P_h⌉ (G_w likewise), and

        Y[k, c, i, j] = (1/max(G_h·G_w, 1)) Σ_{a<G_h} Σ_{b<G_w} bilinear(X[n, c], y_ia, x_jb)
        y_ia = ŷ1 + i·h/P_h + (a + ½)·h/(P_h·G_h),   x_jb = x̂1 + j·w/P_w + (b + ½)·w/(P_w·G_w)

    where bilinear reads the four pixels around (y, x) with weights (1 − |y − r|)(1 − |x − q|),
    after clamping a sample in [−1, 0] to 0 and one on or past the last row/column to it; a
    sample with y < −1, y > H, x < −1 or x > W reads 0. Sums in float64.

    Parameters
    ----------
    input : (N, C, H, W) array
    boxes : (K, 5) array of rows (n, x1, y1, x2, y2), or a list of per-image (K_n, 4) arrays
        of (x1, y1, x2, y2), K = Σ K_n, boxes numbered image by image
    output_size : int or (P_h, P_w)
    spatial_scale, sampling_ratio, aligned : as above

    Returns
    -------
    (K, C, P_h, P_w) array of ``input``'s dtype.
    """
    N, C, H, W = input.shape
    P_h, P_w = _pair(output_size)
    rows = _rows(boxes)
    out = np.zeros((len(rows), C, P_h, P_w))
    for k, row in enumerate(rows):
        n = int(row[0])
        taps = _align_samples(row, P_h, P_w, spatial_scale, sampling_ratio, aligned, H, W)
        for c in range(C):
            for i in range(P_h):
                for j in range(P_w):
                    total = 0.0
                    for hh, ww, weight in taps[i, j]:
                        total += weight * float(input[n, c, hh, ww])
                    out[k, c, i, j] = total
    return out.astype(input.dtype)


def roi_align_backward(
    grad_output,
    input_shape,
    boxes,
    output_size,
    spatial_scale=1.0,
    sampling_ratio=-1,
    aligned=False,
):
    """Gradient of :func:`roi_align` with respect to its input.

    Every sample of bin (i, j) of box k hands G[k, c, i, j] / max(G_h·G_w, 1) to the four
    pixels it read, times the bilinear weight it gave each (0-based):

        ∂ℓ/∂X[n, c, r, q] = Σ_{k of image n} Σ_{i,j,a,b} ω(r, q) · G[k, c, i, j] / max(G_h G_w, 1)

    with ω(r, q) the weight sample (a, b) of bin (i, j) gave pixel (r, q) in :func:`roi_align`
    (0 for a pixel it does not read). Sums in float64.

    Parameters
    ----------
    grad_output : (K, C, P_h, P_w) array, the shape ``roi_align`` returns
    input_shape : (N, C, H, W)
    boxes, output_size, spatial_scale, sampling_ratio, aligned : as for :func:`roi_align`

    Returns
    -------
    (N, C, H, W) array of ``grad_output``'s dtype.
    """
    N, C, H, W = input_shape
    P_h, P_w = _pair(output_size)
    grad = np.zeros((N, C, H, W))
    for k, row in enumerate(_rows(boxes)):
        n = int(row[0])
        taps = _align_samples(row, P_h, P_w, spatial_scale, sampling_ratio, aligned, H, W)
        for c in range(C):
            for i in range(P_h):
                for j in range(P_w):
                    for hh, ww, weight in taps[i, j]:
                        grad[n, c, hh, ww] += weight * float(grad_output[k, c, i, j])
    return grad.astype(grad_output.dtype)


def _round(v):
    return math.floor(v + 0.5) if v >= 0 else -math.floor(-v + 0.5)


def roi_pool(input, boxes, output_size, spatial_scale=1.0):
    """RoIPool, as ``torchvision.ops.roi_pool``: the maximum of each of P_h × P_w bins of a box.

    For box k, row (n, x1, y1, x2, y2): the scaled corners x1′ = round(s·x1), y1′ = round(s·y1),
    x2′, y2′ (half away from zero, in ``input``'s float type), w = max(x2′ − x1′ + 1, 1), h
    likewise; bin (i, j) covers rows [⌊i·h/P_h⌋ + y1′, ⌈(i + 1)·h/P_h⌉ + y1′) and columns
    [⌊j·w/P_w⌋ + x1′, ⌈(j + 1)·w/P_w⌉ + x1′), each end clamped to [0, H] or [0, W] (0-based), and

        Y[k, c, i, j] = max(−FLT_MAX, max over the bin of X[n, c, r, q])   (0 for an empty bin)

    found by a row-major scan that keeps the first strictly greater value (a NaN never wins);
    the argmax is r·W + q of that value, −1 when none beat −FLT_MAX or the bin is empty.

    Parameters
    ----------
    input : (N, C, H, W) array
    boxes : (K, 5) array of rows (n, x1, y1, x2, y2), or a list of per-image (K_n, 4) arrays
    output_size : int or (P_h, P_w)
    spatial_scale : float, s above

    Returns
    -------
    (Y, argmax) : (K, C, P_h, P_w) arrays, Y of ``input``'s dtype, argmax int64.
    """
    N, C, H, W = input.shape
    P_h, P_w = _pair(output_size)
    rows = _rows(boxes)
    out = np.zeros((len(rows), C, P_h, P_w))
    argmax = np.full((len(rows), C, P_h, P_w), -1, dtype=np.int64)
    T = input.dtype.type  # the kernel's arithmetic type: float32 bins differ from float64's
    for k, row in enumerate(rows):
        n = int(row[0])
        x1, y1, x2, y2 = (_round(float(T(row[a]) * T(spatial_scale))) for a in (1, 2, 3, 4))
        w, h = max(x2 - x1 + 1, 1), max(y2 - y1 + 1, 1)
        bin_h, bin_w = T(h) / T(P_h), T(w) / T(P_w)
        for i in range(P_h):
            h0 = min(max(math.floor(T(i) * bin_h) + y1, 0), H)
            h1 = min(max(math.ceil(T(i + 1) * bin_h) + y1, 0), H)
            for j in range(P_w):
                w0 = min(max(math.floor(T(j) * bin_w) + x1, 0), W)
                w1 = min(max(math.ceil(T(j + 1) * bin_w) + x1, 0), W)
                empty = h1 <= h0 or w1 <= w0
                for c in range(C):
                    best, where = (0.0 if empty else -FLT_MAX), -1
                    for hh in range(h0, h1):
                        for ww in range(w0, w1):
                            if float(input[n, c, hh, ww]) > best:
                                best, where = float(input[n, c, hh, ww]), hh * W + ww
                    out[k, c, i, j] = best
                    argmax[k, c, i, j] = where
    return out.astype(input.dtype), argmax


def roi_pool_backward(grad_output, input_shape, boxes, argmax):
    """Gradient of :func:`roi_pool` with respect to its input: each G[k, c, i, j] added at
    the argmax its bin chose,

        ∂ℓ/∂X[n, c, a // W, a % W] += G[k, c, i, j],   a = argmax[k, c, i, j] ≥ 0, n box k's image

    (0-based; a bin with argmax −1 passes nothing). Sums in float64.

    Parameters
    ----------
    grad_output : (K, C, P_h, P_w) array
    input_shape : (N, C, H, W)
    boxes : as for :func:`roi_pool`
    argmax : (K, C, P_h, P_w) int array, the second result of :func:`roi_pool`

    Returns
    -------
    (N, C, H, W) array of ``grad_output``'s dtype.
    """
    N, C, H, W = input_shape
    grad = np.zeros((N, C, H, W))
    for k, row in enumerate(_rows(boxes)):
        n = int(row[0])
        for c in range(C):
            for i in range(grad_output.shape[2]):
                for j in range(grad_output.shape[3]):
                    a = int(argmax[k, c, i, j])
                    if a >= 0:
                        grad[n, c, a // W, a % W] += float(grad_output[k, c, i, j])
    return grad.astype(grad_output.dtype)


def box_iou(boxes1, boxes2):
    """Intersection over union of every pair of boxes, as ``torchvision.ops.box_iou``.

    With boxes (x1, y1, x2, y2), a = boxes1[p], b = boxes2[q]:

        inter = max(0, min(a_x2, b_x2) − max(a_x1, b_x1))
                · max(0, min(a_y2, b_y2) − max(a_y1, b_y1))
        IoU[p, q] = inter / ((a_x2 − a_x1)(a_y2 − a_y1) + (b_x2 − b_x1)(b_y2 − b_y1) − inter)

    and, where that union is 0, NaN if inter is 0 else inf.

    Parameters
    ----------
    boxes1 : (P, 4) array
    boxes2 : (Q, 4) array

    Returns
    -------
    (P, Q) float64 array.
    """
    out = np.zeros((len(boxes1), len(boxes2)))
    for p, a in enumerate(boxes1):
        for q, b in enumerate(boxes2):
            w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
            h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
            inter = w * h
            union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
            out[p, q] = inter / union if union != 0 else (math.nan if inter == 0 else math.inf)
    return out


def nms(boxes, scores, iou_threshold):
    """Non-maximum suppression, as ``torchvision.ops.nms``: the indices of the boxes kept.

    The boxes are visited by decreasing score (ties by lower index); each one not yet
    suppressed is kept and suppresses every later box whose IoU with it (as :func:`box_iou`,
    a zero union never suppressing) is above ``iou_threshold``.

    Parameters
    ----------
    boxes : (K, 4) array of (x1, y1, x2, y2)
    scores : (K,) array
    iou_threshold : float

    Returns
    -------
    (kept,) int64 array of indices into ``boxes``, by decreasing score.
    """
    order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))
    suppressed = [False] * len(order)
    keep = []
    for p, i in enumerate(order):
        if suppressed[p]:
            continue
        keep.append(i)
        for q in range(p + 1, len(order)):
            j = order[q]
            if suppressed[q]:
                continue
            a, b = boxes[i], boxes[j]
            w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
            h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
            inter = w * h
            union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
            if union != 0 and inter / union > iou_threshold:
                suppressed[q] = True
    return np.array(keep, dtype=np.int64)


def batched_nms(boxes, scores, idxs, iou_threshold):
    """Non-maximum suppression within each category, as ``torchvision.ops.batched_nms``.

    :func:`nms` runs on the boxes of each value of ``idxs`` alone (a box never suppresses one
    of another category); the union of the kept indices is returned by decreasing score, ties
    by lower index.

    Parameters
    ----------
    boxes : (K, 4) array of (x1, y1, x2, y2)
    scores : (K,) array
    idxs : (K,) int array, each box's category
    iou_threshold : float

    Returns
    -------
    (kept,) int64 array of indices into ``boxes``, by decreasing score.
    """
    keep = []
    for category in sorted(set(int(v) for v in idxs)):
        members = [i for i in range(len(idxs)) if int(idxs[i]) == category]
        kept = nms([boxes[i] for i in members], [scores[i] for i in members], iou_threshold)
        keep += [members[int(i)] for i in kept]
    keep.sort(key=lambda i: (-float(scores[i]), i))
    return np.array(keep, dtype=np.int64)
