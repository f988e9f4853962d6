"""Deformable convolution as literal loops: every output, channel and tap, its point and its
four corners written out.

For output (β, o, i, j), input channel c of o's block (offset group g = c // (C/G)) and tap
(a, e), t = a·kw + e: the point (y, x) = (i·s_h − p_h + a·d_h + Δy, j·s_w − p_w + e·d_w + Δx)
with (Δy, Δx) = offset[β, 2(g·K + t) : 2(g·K + t) + 2, i, j]; its value v(y, x) is 0 when
y ≤ −1, y ≥ H, x ≤ −1 or x ≥ W, else the bilinear mix of the four pixels around it, a pixel
outside the image counting 0. Then

    Y[β,o,i,j] = b[o] + Σ_c Σ_t w[o, c − block start, a, e] · m[β, g·K + t, i, j] · v.

The gradients differentiate each term: the bilinear weights for X, their slopes in y and x
for the offsets (0 for a point at or past −1 or the size). Sums in float64.
"""

from __future__ import annotations

import math

import numpy as np


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _corners(y, x, H, W):
    """[(row, col, weight, d weight/dy, d weight/dx)] of the pixels inside the image."""
    if y <= -1 or y >= H or x <= -1 or x >= W:
        return []
    y0, x0 = math.floor(y), math.floor(x)
    ly, lx = y - y0, x - x0
    out = []
    for r, wy, dwy in ((y0, 1 - ly, -1.0), (y0 + 1, ly, 1.0)):
        for c, wx, dwx in ((x0, 1 - lx, -1.0), (x0 + 1, lx, 1.0)):
            if 0 <= r < H and 0 <= c < W:
                out.append((r, c, wy * wx, dwy * wx, wy * dwx))
    return out


def _terms(x, offset, weight, stride, padding, dilation, mask):
    """Yield (β, o, i, j, c, c within o's block, a, e, the tap's mask channel g·K + t, the
    point y, x and the mask value) for every term."""
    B, C, H, W = x.shape
    O, Cg, kh, kw = weight.shape
    K = kh * kw
    groups = C // Cg
    G = offset.shape[1] // (2 * K)
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    Ho, Wo = offset.shape[2:]
    for b in range(B):
        for o in range(O):
            block = o // (O // groups)
            for i in range(Ho):
                for j in range(Wo):
                    for cc in range(Cg):
                        c = block * Cg + cc
                        g = c // (C // G)
                        for a in range(kh):
                            for e in range(kw):
                                t = a * kw + e
                                y = i * sh - ph + a * dh + float(offset[b, 2 * (g * K + t), i, j])
                                xx = (
                                    j * sw
                                    - pw
                                    + e * dw
                                    + float(offset[b, 2 * (g * K + t) + 1, i, j])
                                )
                                m = 1.0 if mask is None else float(mask[b, g * K + t, i, j])
                                yield (b, o, i, j, c, cc, a, e, g * K + t, y, xx, m)


def deform_conv2d(x, offset, weight, bias=None, stride=1, padding=0, dilation=1, mask=None):
    """Y by the formula above."""
    B, C, H, W = x.shape
    O = weight.shape[0]
    y = np.zeros((B, O, *offset.shape[2:]))
    for b, o, i, j, c, cc, a, e, _, py, px, m in _terms(
        x, offset, weight, stride, padding, dilation, mask
    ):
        v = sum(wt * float(x[b, c, r, q]) for r, q, wt, _, _ in _corners(py, px, H, W))
        y[b, o, i, j] += float(weight[o, cc, a, e]) * m * v
    if bias is not None:
        y += np.asarray(bias, np.float64)[None, :, None, None]
    return y.astype(x.dtype)


def deform_conv2d_backward(
    grad_output, x, offset, weight, stride=1, padding=0, dilation=1, mask=None
):
    """(grad_x, grad_offset, grad_weight, grad_bias, grad_mask or None), term by term."""
    B, C, H, W = x.shape
    gx, goff = np.zeros(x.shape), np.zeros(offset.shape)
    gw = np.zeros(weight.shape)
    gm = None if mask is None else np.zeros(mask.shape)
    for b, o, i, j, c, cc, a, e, mk, py, px, m in _terms(
        x, offset, weight, stride, padding, dilation, mask
    ):
        G = float(grad_output[b, o, i, j])
        wv = float(weight[o, cc, a, e])
        corners = _corners(py, px, H, W)
        v = sum(wt * float(x[b, c, r, q]) for r, q, wt, _, _ in corners)
        gw[o, cc, a, e] += G * m * v
        if gm is not None:
            gm[b, mk, i, j] += G * wv * v
        for r, q, wt, dy, dx in corners:
            gx[b, c, r, q] += G * wv * m * wt
            goff[b, 2 * mk, i, j] += G * wv * m * dy * float(x[b, c, r, q])
            goff[b, 2 * mk + 1, i, j] += G * wv * m * dx * float(x[b, c, r, q])
    gb = np.asarray(grad_output, np.float64).sum(axis=(0, 2, 3))
    dt = x.dtype
    return (
        gx.astype(dt),
        goff.astype(dt),
        gw.astype(dt),
        gb.astype(dt),
        None if gm is None else gm.astype(dt),
    )
