"""The passes that run a plan through the engine: the forward correlation, the filter
gradient, the adjoint (`_conv_transpose`, the input gradient and the transposed
convolution), the bias and its gradient, and a backward's two passes side by side.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

from .. import _conv_engine, _threads
from .._conv_engine._dispatch import (
    _grouped_correlate,
    _merge_groups,
    _padded_correlate,
    _split_groups,
)
from .._geometry import Pair
from .._windows import crop_or_pad
from ._arguments import _Geometry
from ._plan import _Band, _forward_plan, _grad_weight_plan, _input_plan, _Phase, _tiled

# A backward's two correlations, the filter gradient and the input gradient, are
# independent. Run one after the other, each threaded by its own blocks, the second core
# idles through every copy, add and product too small to cut (a LeNet layer's whole
# backward); run side by side on one thread each (`_threads.side_by_side`), both cores work
# throughout, and each result keeps its one-thread bits. At more than two threads that would
# leave the other cores idle, so there only passes too small to be cut into blocks (under
# _SMALL_PASS_MACS multiply-adds: `_threads.product_spans` cuts none below 2^26 flops) go side by
# side; above _SIDE_BY_SIDE_BYTES of input and output gradient the passes run one after the
# other, so that their bands of copies are never held at once (the memory of a huge image).
# Timings in docs/performance.md, "Two passes side by side".
_SMALL_PASS_MACS = 1 << 25
_SIDE_BY_SIDE_BYTES = 1 << 26


def _two_passes(
    weight_pass: Callable[[], np.ndarray],
    input_pass: Callable[[], np.ndarray],
    macs: int,
    nbytes: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(weight_pass(), input_pass()): side by side or one after the other, as the comment
    above says, from the passes' multiply-adds and the bytes of their operands."""
    n = _threads.current()
    if n >= 2 and nbytes <= _SIDE_BY_SIDE_BYTES and (n == 2 or macs < _SMALL_PASS_MACS):
        return _threads.side_by_side(weight_pass, input_pass)
    return weight_pass(), input_pass()


def _empty_batch_gradients(
    x: np.ndarray, w_shape: tuple[int, ...], C_out: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The gradients of an empty batch: an empty grad_x, zero grad_weight and grad_bias."""
    zeros = functools.partial(np.zeros, dtype=x.dtype)
    return zeros(x.shape), zeros(w_shape), zeros(C_out)


def _grad_bias(G: np.ndarray) -> np.ndarray:
    """∂ℓ/∂b[o] = Σ_β Σ_i Σ_j G[β,o,i,j]: a product with a vector of ones over blocks of
    _SUM_BLOCK pixels (BLAS; several times NumPy's pairwise sum here, 5-6 times on the small
    planes of a LeNet, where NumPy's loop per row costs more than the row), then the block
    sums added by NumPy. Float32 rounding grows with the block, not with the image.

    The (β, o) planes are summed in shape-fixed blocks of about _SUM_BYTES of planes on the
    op's threads, each plane's sum inside one block (a matrix-vector product's bits for one
    row can depend on how many rows it is given, so the blocks must not follow the thread
    count); the sum over β then adds them in order (bit-stable)."""
    B, O, H, W = G.shape
    rows = G.reshape(B * O, H * W)
    blocks, rest = divmod(H * W, _SUM_BLOCK)
    cut = _threads.spans(B * O, _SUM_BYTES // (H * W * G.itemsize))
    ones = np.ones(_SUM_BLOCK, dtype=G.dtype)
    if not blocks and len(cut) == 1:  # small planes, one block: one product
        return (rows @ ones[:rest]).reshape(B, O).sum(axis=0)
    total = np.empty(B * O, dtype=G.dtype)

    def planes(r0: int, r1: int) -> None:
        part = rows[r0:r1]
        np.matmul(part[:, blocks * _SUM_BLOCK :], ones[:rest], out=total[r0:r1])
        if blocks:
            partial = part[:, : blocks * _SUM_BLOCK].reshape(r1 - r0, blocks, _SUM_BLOCK) @ ones
            total[r0:r1] += partial.sum(axis=1)

    _threads.parallel(planes, cut)
    return total.reshape(B, O).sum(axis=0)


def _add_bias(y: np.ndarray, bias: np.ndarray) -> None:
    """y[β, o] += bias[o] in place: one add over the batch, or one per thread over a
    contiguous share of the images where each share is long enough to hand off
    (`_threads.pass_spans`: an elementwise pass, any cut gives the same bits; one pass has
    nothing to keep in cache, and each call costs as much as many values).

    In a batch, each image is one row of C_out·H·W values, and the bias is repeated into
    such a row once (in a kept work buffer: fresh pages for it cost more than the add): a
    broadcast of bias[o] over each plane ran NumPy's inner loops H·W long (about twice the
    time on LeNet's 28 × 28 maps and ResNet's 7 × 7). One image broadcasts: the repeat would
    cost as much as the add it serves. Same bits either way."""
    area = math.prod(y.shape[2:])
    if y.flags.c_contiguous and area > 1 and y.shape[0] > 1:
        target = y.reshape(y.shape[0], -1)
        term = _threads.scratch("bias row", target.shape[1], y.dtype)
        term.reshape(bias.shape[0], area)[...] = bias[:, None]
    else:
        target, term = y, bias[:, None, None]

    def images(b0: int, b1: int) -> None:
        target[b0:b1] += term

    _threads.parallel(images, _threads.pass_spans(y.shape[0], y.size))


_SUM_BYTES = 1 << 22  # the bias gradient sums blocks of planes of about 4 MiB


_SUM_BLOCK = 1024


def _forward(
    geo: _Geometry, weight: np.ndarray, plan: tuple[_Band, ...] | None = None
) -> np.ndarray:
    """Y: the correlation of X̃ with w, in bands of output rows (one band for most layers),
    as ``plan`` (default: `_forward_plan`'s) says."""
    if plan is None:
        plan = _forward_plan(
            geo.x.shape,
            weight.shape,
            geo.stride,
            geo.dilation,
            geo.pads,
            geo.out_hw,
            geo.groups,
            geo.x.itemsize,
        )
    G = geo.groups
    w5 = weight.reshape(G, -1, *weight.shape[1:])
    x5 = _split_groups(geo.x, G)
    if len(plan) == 1:  # one band: the correlation's own result
        ((_, start, length, method),) = plan
        if G == 1:
            return _padded_correlate(
                geo.x, weight, geo.stride, geo.dilation, (start, length), method
            )
        return _merge_groups(
            _padded_correlate(x5, w5, geo.stride, geo.dilation, (start, length), method)
        )
    # several: each band written into its rows of Y by the correlation (none held beside Y)
    y = np.empty((geo.x.shape[0], weight.shape[0], *geo.out_hw), dtype=geo.x.dtype)
    for (i0, i1), start, length, method in plan:
        rows = _split_groups(y[:, :, i0:i1], G)
        _padded_correlate(x5, w5, geo.stride, geo.dilation, (start, length), method, rows)
    return y


def _grad_weight(
    G: np.ndarray, geo: _Geometry, w_shape: tuple[int, ...], plan: tuple[_Band, ...] | None = None
) -> np.ndarray:
    """∂ℓ/∂w: X̃ (per group, as C_in/G images of B channels) correlated with G (per group, as
    C_out/G filters of B channels), the forward's dilation as stride and its stride as
    dilation; summed over bands of rows, in band order. One `_correlate` call for all groups
    per band, as ``plan`` (default: `_grad_weight_plan`'s) says."""
    groups = geo.groups
    C_out, C_g, f1, f2 = w_shape
    if plan is None:
        plan = _grad_weight_plan(
            geo.x.shape,
            w_shape,
            geo.stride,
            geo.dilation,
            geo.pads,
            geo.out_hw,
            groups,
            geo.x.itemsize,
        )
    gw = None
    for (i0, i1), start, length, method in plan:
        # X̃'s rows for this band (G, C_in/G, B, h, w) and G (G, C_out/G, B, h_out, w_out):
        # the batch as channels
        images = _split_groups(geo.x, groups).transpose(0, 2, 1, 3, 4)
        filters = _split_groups(G[:, :, i0:i1], groups).transpose(0, 2, 1, 3, 4)
        part = _padded_correlate(images, filters, geo.dilation, geo.stride, (start, length), method)
        if gw is None:
            gw = part
        else:
            gw += part
    assert gw is not None
    # (G, C_out/G, C_in/G, f1, f2) -> (C_out, C_in/G, f1, f2)
    return np.ascontiguousarray(gw.transpose(0, 2, 1, 3, 4)).reshape(C_out, C_g, f1, f2)


def _conv_transpose(
    g: np.ndarray,
    weight: np.ndarray,
    groups: int,
    stride: Pair,
    dilation: Pair,
    pads_before: Pair,
    out_hw: Pair,
    plan: tuple[tuple[_Phase | None, tuple[_Band, ...]], ...] | None = None,
) -> np.ndarray:
    """The adjoint of the correlation: g (B, C_out, H_out, W_out) ↦ ∂⟨conv2d(X, w), g⟩/∂X of
    shape (B, C_in, m, n) = (B, C_in, *out_hw), for conv2d's weight layout w (C_out, C_in/G,
    f1, f2) and its top/left padding ``pads_before``. Both ``conv2d_backward`` (grad_x) and
    ``conv_transpose2d`` (the forward) are this function.

    The full correlation of the stride-dilated g would multiply mostly inserted zeros. Split X
    instead into its s_h·s_w phases u = s q + r: only the taps a with s | (d a - r - p) reach
    phase r, from output i = q - t_a, t_a = (d a - r - p)/s, so each phase is a stride-1
    correlation of g (shifted by the last tap's t_a, zero outside g: an output that does not
    exist contributes nothing) with those taps reversed and C_in, C_out swapped per group, at
    dilation d/gcd(s, d); a phase no tap reaches is never visited and stays zero (so the work
    follows the kernel, not the stride). At stride 1 this is the whole full correlation,
    cropped to X by the padding. Where the windows tile X (`_tiles`) each phase holds one
    tap, and all of them are one product instead (``_conv_engine.depth_to_space``). The
    phases and bands, and each one's method, are ``plan`` (default: `_input_plan`'s).
    """
    if plan is None:
        plan = _input_plan(
            g.shape, weight.shape, stride, dilation, pads_before, out_hw, groups, g.itemsize
        )
    if plan and plan[0][0] is None:  # the windows tile X (`_tiles`)
        return _conv_engine.depth_to_space(g, weight, out_hw)
    C_out, C_g, f1, f2 = weight.shape
    B = g.shape[0]
    m, n = out_hw
    C_in = C_g * groups
    (sh, sw) = stride
    # (G, C_in/G, C_out/G, f1, f2): per group, the filter with its channel axes swapped
    w_swapped = weight.reshape(groups, C_out // groups, C_g, f1, f2).transpose(0, 2, 1, 3, 4)
    x_shape = (B, C_in, m, n)
    # phases no tap reaches are never visited: they keep the zeros they start with
    tiled = _tiled((m, n), (f1, f2), stride, dilation, pads_before)
    out = None if tiled else np.zeros(x_shape, dtype=g.dtype)
    shared = _shared_window(g, weight, plan)
    for phase, bands in plan:
        assert phase is not None
        ph, pw = phase.h, phase.w
        taps = w_swapped[..., ph.first :: ph.step, pw.first :: pw.step]
        sub = np.ascontiguousarray(taps[..., ::-1, ::-1])  # reversed: a correlation
        sub = sub.reshape(C_in, C_out // groups, ph.n_taps, pw.n_taps)
        for (q0, q1), start, length, method in bands:
            source, window = g, (start, length)
            if shared is not None and not _inside(start, length, g.shape[-2:]):
                (source, (t, l)), (r0, c0) = shared, start
                window = ((r0 - t, c0 - l), length)
            dilation_hw = (ph.dilation, pw.dilation)
            if (sh, sw) == (1, 1) and len(bands) == 1:
                return _grouped_correlate(g, sub, groups, (1, 1), dilation_hw, window, method)
            if out is None:
                out = np.empty(x_shape, dtype=g.dtype)
            # the phase's rows of X: written there by the correlation, not copied after it
            rows = slice(phase.rh + sh * q0, phase.rh + sh * (q1 - 1) + 1, sh)
            part = out[:, :, rows, phase.rw :: sw]
            _grouped_correlate(source, sub, groups, (1, 1), dilation_hw, window, method, part)
    assert out is not None  # tiled: some phase wrote
    return out


def _shared_window(
    g: np.ndarray, weight: np.ndarray, plan: tuple[tuple[_Phase | None, tuple[_Band, ...]], ...]
) -> tuple[np.ndarray, Pair] | None:
    """A zero-padded copy of g for the stride phases' windows that reach outside g, and the
    window start its index 0 stands for; None where there is nothing to share.

    Each stride phase reads its own window of g, zero outside g; a method that copies the
    window whole (`_conv_engine.COPIES_WINDOW`) pads g once per phase. Where two phases or
    more, in one band each, would, g is padded once to the union of their windows and
    each of them reads a view of that copy (a window inside g is read from g itself, where
    a 1 × 1 phase needs no copy at all). Not for a non-finite filter: there the window's
    zeros must stay absent terms (`_correlate` sends such a filter to "scatter")."""
    h, w = g.shape[-2:]
    bands = [band for _, phase_bands in plan for band in phase_bands]
    outside = [band for band in bands if not _inside(band.start, band.length, (h, w))]
    if (
        len(outside) < 2
        or len(bands) != len(plan)
        or any(band.method not in _conv_engine.COPIES_WINDOW for band in outside)
        or not _conv_engine._all_finite(weight)
    ):
        return None
    r0 = min(band.start[0] for band in outside)
    c0 = min(band.start[1] for band in outside)
    r1 = max(band.start[0] + band.length[0] for band in outside)
    c1 = max(band.start[1] + band.length[1] for band in outside)
    return crop_or_pad(g, (r0, c0), (r1 - r0, c1 - c0), scratch=_SHARED_WINDOW), (r0, c0)


def _inside(start: Pair, length: Pair, hw: Pair) -> bool:
    """Whether the window (start, length) lies inside an (h, w) plane."""
    return all(0 <= s0 and s0 + n <= size for s0, n, size in zip(start, length, hw))


_SHARED_WINDOW = "phases' window"  # the work buffer of `_shared_window`
