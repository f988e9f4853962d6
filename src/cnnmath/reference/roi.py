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
    keep = []
    for category in sorted(set(int(v) for v in idxs)):
        members = [i for i in range(len(idxs)) if int(idxs[i]) == category]
        kept = nms([boxes[i] for i in members], [scores[i] for i in members], iou_threshold)
        keep += [members[int(i)] for i in kept]
    keep.sort(key=lambda i: (-float(scores[i]), i))
    return np.array(keep, dtype=np.int64)
