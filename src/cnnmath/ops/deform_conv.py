"""Deformable convolution (Dai et al. 2017; with a modulation mask, Zhu et al. 2019), as
``torchvision.ops.deform_conv2d`` and ONNX's DeformConv.

Each kernel tap (a, e) of output pixel (i, j) reads the input not at its grid point but at
that point moved by a learned offset (Δy, Δx), bilinearly interpolated, and weighted by a
mask value m:

    Y[β,o,i,j] = b[o] + Σ_{c ∈ block(o)} Σ_{a,e} w[o, c', a, e] · m[β,g,a,e,i,j]
                        · X̂[β, c, i·s_h − p_h + a·d_h + Δy[β,g,a,e,i,j],
                                   j·s_w − p_w + e·d_w + Δx[β,g,a,e,i,j]]

with g = c // (C_in/G_off) the channel's offset group and X̂ the bilinear interpolation of X
that reads 0 outside the image: a point at or beyond −1 or H (−1 or W) on an axis reads 0
and passes no gradient to its coordinates, as torchvision's kernel; inside, each of its four
corner pixels that lies outside reads 0. Zero offsets and a mask of ones make it ``conv2d``.

The sampled columns (every tap's samples, all channels) are one gather per corner, and the
product with the filters one batched matmul over the convolution groups; the backward pass
scatters the columns' gradient into X with ``np.bincount`` and differentiates the bilinear
weights for the offsets — no Python loop over pixels, batch elements or groups.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._checks import check_float_array, check_same_dtype, int_pair

__all__ = ["deform_conv2d", "deform_conv2d_backward"]


class _Plan(NamedTuple):
    x: np.ndarray  # (B, C, H, W)
    groups: int  # convolution groups (weight)
    offset_groups: int
    out_hw: tuple[int, int]
    py: np.ndarray  # (B, G, K, Ho, Wo) sample rows (float, x's dtype)
    px: np.ndarray  # sample columns
    mask: np.ndarray  # (B, G, K, Ho, Wo)


def _plan(
    x: Any, offset: Any, weight: Any, mask: Any, stride: Any, padding: Any, dilation: Any
) -> _Plan:
    func = "deform_conv2d"
    for name, a in (("x", x), ("offset", offset), ("weight", weight)):
        check_float_array(name, a, func=func)
        if a.ndim != 4:
            raise ValueError(f"{func}: {name}: expected a 4-D array, got shape {a.shape}")
    if mask is not None:
        check_float_array("mask", mask, func=func)
    check_same_dtype(func, x=x, offset=offset, weight=weight, mask=mask)
    s, p, d = (
        int_pair("stride", stride, minimum=1, func=func),
        int_pair("padding", padding, minimum=0, func=func),
        int_pair("dilation", dilation, minimum=1, func=func),
    )
    B, C, H, W = x.shape
    O, Cg, kh, kw = weight.shape
    K = kh * kw
    if Cg == 0 or C % Cg:
        raise ValueError(
            f"{func}: weight: expected (C_out, C_in/groups, kh, kw) with C_in/groups dividing "
            f"C_in = {C}, got shape {weight.shape}"
        )
    groups = C // Cg
    if O % groups:
        raise ValueError(
            f"{func}: weight: C_out = {O} is not divisible by the groups C_in/C_in_per_group "
            f"= {groups}"
        )
    Ho = (H + 2 * p[0] - d[0] * (kh - 1) - 1) // s[0] + 1
    Wo = (W + 2 * p[1] - d[1] * (kw - 1) - 1) // s[1] + 1
    if Ho < 1 or Wo < 1:
        raise ValueError(
            f"{func}: x: an input of {H}×{W} pixels is smaller than the dilated kernel "
            f"({kh}×{kw}, dilation {d}) with padding {p}"
        )
    if offset.shape[0] != B or offset.shape[2:] != (Ho, Wo) or offset.shape[1] % (2 * K):
        raise ValueError(
            f"{func}: offset: expected (B, offset_groups·2·kh·kw, H_out, W_out) = ({B}, "
            f"G·{2 * K}, {Ho}, {Wo}), got {offset.shape}"
        )
    G = offset.shape[1] // (2 * K)
    if G == 0 or C % G:
        raise ValueError(f"{func}: offset: {G} offset groups do not divide the {C} input channels")
    if mask is None:
        m = np.ones((B, G, K, Ho, Wo), x.dtype)
    else:
        if mask.shape != (B, G * K, Ho, Wo):
            raise ValueError(
                f"{func}: mask: expected (B, offset_groups·kh·kw, H_out, W_out) = "
                f"({B}, {G * K}, {Ho}, {Wo}), got {mask.shape}"
            )
        m = mask.reshape(B, G, K, Ho, Wo)
    delta = offset.reshape(B, G, K, 2, Ho, Wo)
    a, e = np.divmod(np.arange(K), kw)  # the taps in row-major order
    rows = (np.arange(Ho) * s[0] - p[0])[None, :] + (a * d[0])[:, None]  # (K, Ho)
    cols = (np.arange(Wo) * s[1] - p[1])[None, :] + (e * d[1])[:, None]  # (K, Wo)
    py = delta[:, :, :, 0] + rows[:, :, None].astype(x.dtype)
    px = delta[:, :, :, 1] + cols[:, None, :].astype(x.dtype)
    return _Plan(x, groups, G, (Ho, Wo), py, px, m)


class _Corners(NamedTuple):
    flat: list[np.ndarray]  # four (B, G, K, Ho, Wo) indices into an H·W plane (0 if outside)
    weight: list[np.ndarray]  # their bilinear weights, 0 outside (or for a point outside)
    ly: np.ndarray  # the fractions py − ⌊py⌋, px − ⌊px⌋
    lx: np.ndarray
    valid: list[np.ndarray]  # which corners lie inside
    inside: np.ndarray  # the point lies strictly inside (−1, H) × (−1, W)


def _corners(plan: _Plan) -> _Corners:
    H, W = plan.x.shape[2:]
    py, px = plan.py, plan.px
    inside = (py > -1) & (py < H) & (px > -1) & (px < W)
    y0, x0 = np.floor(py), np.floor(px)
    ly, lx = py - y0, px - x0
    flat, weight, valid = [], [], []
    for dy, dx, w in (
        (0, 0, (1 - ly) * (1 - lx)),
        (0, 1, (1 - ly) * lx),
        (1, 0, ly * (1 - lx)),
        (1, 1, ly * lx),
    ):
        yy, xx = y0 + dy, x0 + dx
        ok = inside & (yy >= 0) & (yy <= H - 1) & (xx >= 0) & (xx <= W - 1)
        index = np.where(ok, yy, 0).astype(np.intp) * W + np.where(ok, xx, 0).astype(np.intp)
        flat.append(index)
        weight.append(np.where(ok, w, 0).astype(plan.x.dtype))
        valid.append(ok)
    return _Corners(flat, weight, ly, lx, valid, inside)


def _gather(planes: np.ndarray, index: np.ndarray) -> np.ndarray:
    """planes (B, G, Cg, H·W) read at index (B, G, K, Ho, Wo): (B, G, Cg, K, Ho, Wo)."""
    B, G, Cg, _ = planes.shape
    flat = index.reshape(B, G, 1, -1)
    picked = np.take_along_axis(planes, np.broadcast_to(flat, (B, G, Cg, flat.shape[-1])), 3)
    return picked.reshape(B, G, Cg, *index.shape[2:])


def _sample(plan: _Plan, corners: _Corners) -> tuple[np.ndarray, list[np.ndarray]]:
    """X̂ at every tap's point, (B, G, Cg, K, Ho, Wo), and each corner's values."""
    B, C, H, W = plan.x.shape
    G = plan.offset_groups
    planes = plan.x.reshape(B, G, C // G, H * W)
    values = [_gather(planes, index) for index in corners.flat]
    total = np.zeros_like(values[0])
    for v, w in zip(values, corners.weight):
        total += v * w[:, :, None]
    return total, values


def _columns(plan: _Plan, sampled: np.ndarray) -> np.ndarray:
    """The masked samples as the product's columns, (B, groups, C/groups·K, Ho·Wo), the
    channel before the tap as in the filter's (C/groups, kh, kw) layout."""
    B, C = plan.x.shape[:2]
    masked = sampled * plan.mask[:, :, None]
    K = masked.shape[3]
    return masked.reshape(B, plan.groups, (C // plan.groups) * K, -1)


def deform_conv2d(
    x: np.ndarray,
    offset: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Deformable 2-D convolution, as ``torchvision.ops.deform_conv2d`` (the formula in the
    module docstring).

    x : (B, C_in, H, W), float32 or float64.
    offset : (B, G·2·kh·kw, H_out, W_out): for offset group g and tap t = a·kw + e, the
        pair (Δy, Δx) at channels 2(g·kh·kw + t) and 2(g·kh·kw + t) + 1. G (the offset
        groups) must divide C_in; each group of C_in/G channels moves with its offsets.
    weight : (C_out, C_in/groups, kh, kw); the convolution groups are C_in / weight's
        second size, as torchvision infers them.
    bias : (C_out,) or None. mask : (B, G·kh·kw, H_out, W_out) or None (all ones).
    stride, padding, dilation : int or (height, width), as ``conv2d``'s.

    Returns Y (B, C_out, H_out, W_out) in x's dtype, H_out = ⌊(H + 2p − d(kh − 1) − 1)/s⌋ + 1.

    >>> import numpy as np
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> shift = np.zeros((1, 2, 4, 4)); shift[:, 1] = 0.5  # half a pixel to the right
    >>> deform_conv2d(x, shift, np.ones((1, 1, 1, 1)))[0, 0, 0]
    array([0.5, 1.5, 2.5, 1.5])
    """
    plan = _plan(x, offset, weight, mask, stride, padding, dilation)
    if bias is not None:
        check_float_array("bias", bias, func="deform_conv2d")
        if bias.shape != (weight.shape[0],) or bias.dtype != x.dtype:
            raise ValueError(
                f"deform_conv2d: bias: expected ({weight.shape[0]},) of {x.dtype}, got "
                f"{bias.shape} of {bias.dtype}"
            )
    cols = _columns(plan, _sample(plan, _corners(plan))[0])
    B, O = x.shape[0], weight.shape[0]
    w = weight.reshape(plan.groups, O // plan.groups, -1)
    y = np.matmul(w, cols).reshape(B, O, *plan.out_hw)
    if bias is not None:
        y += bias[:, None, None]
    return y


def deform_conv2d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    offset: np.ndarray,
    weight: np.ndarray,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Gradients through ``deform_conv2d`` given G = ∂ℓ/∂Y (B, C_out, H_out, W_out):
    (grad_x, grad_offset, grad_weight, grad_bias, grad_mask — None when mask is None).

    With the columns' gradient Ĝ = wᵀG (per convolution group) and v the unmasked sample:
    grad_mask = Σ_c Ĝ·v; grad_x receives Ĝ·m times each corner's bilinear weight at that
    corner's pixel; grad_offset = Σ_c Ĝ·m·∂v/∂(Δy, Δx), where on the cell around the point
    ∂v/∂Δy = (1 − l_x)(v₁₀ − v₀₀) + l_x(v₁₁ − v₀₁) and ∂v/∂Δx = (1 − l_y)(v₀₁ − v₀₀) +
    l_y(v₁₁ − v₁₀) (corners outside the image read 0; a point at or past −1 or the size
    has gradient 0); grad_weight = Σ_β G·columnsᵀ; grad_bias = Σ G over batch and pixels."""
    func = "deform_conv2d_backward"
    plan = _plan(x, offset, weight, mask, stride, padding, dilation)
    B, C, H, W = x.shape
    O = weight.shape[0]
    Ho, Wo = plan.out_hw
    check_float_array("grad_output", grad_output, func=func)
    if grad_output.shape != (B, O, Ho, Wo):
        raise ValueError(
            f"{func}: grad_output: expected shape {(B, O, Ho, Wo)}, got {grad_output.shape}"
        )
    corners = _corners(plan)
    sampled, values = _sample(plan, corners)
    groups, G = plan.groups, plan.offset_groups
    w = weight.reshape(groups, O // groups, -1)
    g = grad_output.reshape(B, groups, O // groups, Ho * Wo)
    grad_weight = np.einsum("bgol,bgkl->gok", g, _columns(plan, sampled)).reshape(weight.shape)
    grad_bias = grad_output.sum(axis=(0, 2, 3))
    K = plan.py.shape[2]
    g_cols = np.matmul(np.swapaxes(w, 1, 2), g).reshape(B, G, C // G, K, Ho, Wo)
    grad_mask = None
    if mask is not None:
        grad_mask = np.einsum("bgckij,bgckij->bgkij", g_cols, sampled).reshape(mask.shape)
    g_v = g_cols * plan.mask[:, :, None]  # ∂ℓ/∂v for each channel's sample
    # into X: each corner's share of g_v at its pixel, summed by bincount
    planes = (np.arange(B * C).reshape(B, G, C // G) * (H * W))[..., None, None, None]
    grad_x = np.zeros(B * C * H * W, np.float64)
    for index, weight_c in zip(corners.flat, corners.weight):
        where = (planes + index[:, :, None]).ravel()
        share = (g_v * weight_c[:, :, None]).ravel()
        grad_x += np.bincount(where, share, minlength=grad_x.size)
    # into the offsets: the bilinear weights' slopes in y and x, times the corner values
    v00, v01, v10, v11 = (v * ok[:, :, None] for v, ok in zip(values, corners.valid))
    ly, lx = corners.ly[:, :, None], corners.lx[:, :, None]
    dv_dy = (1 - lx) * (v10 - v00) + lx * (v11 - v01)
    dv_dx = (1 - ly) * (v01 - v00) + ly * (v11 - v10)
    inside = corners.inside
    grad_dy = np.where(inside, np.einsum("bgckij,bgckij->bgkij", g_v, dv_dy), 0)
    grad_dx = np.where(inside, np.einsum("bgckij,bgckij->bgkij", g_v, dv_dx), 0)
    grad_offset = np.stack([grad_dy, grad_dx], axis=3).reshape(offset.shape).astype(x.dtype)
    return (
        grad_x.reshape(x.shape).astype(x.dtype),
        grad_offset,
        grad_weight.astype(x.dtype),
        grad_bias.astype(x.dtype),
        None if grad_mask is None else grad_mask.astype(x.dtype),
    )
