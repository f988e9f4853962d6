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

from .align import roi_align, roi_align_backward
from .nms import batched_nms, box_iou, nms
from .pool import roi_pool, roi_pool_backward

__all__ = [
    "batched_nms",
    "box_iou",
    "nms",
    "roi_align",
    "roi_align_backward",
    "roi_pool",
    "roi_pool_backward",
]
