"""The one entry point every convolution goes through (`_correlate`), the table of its
methods (`METHODS`), the rule that picks one per shape (`select_method`), and the
grouped and explicitly padded forms of the call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._geometry import Pair
from .._windows import contiguous, crop_or_pad
from ._blocks import _all_finite, _delivered, _valid_size
from ._elementwise import _correlate_einsum_cl, _correlate_planes, _correlate_taps
from ._filter_gradient import (
    _correlate_dots,
    _correlate_im2row,
    _correlate_im2row_cl,
    _correlate_im2row_sum,
    _correlate_per_output,
)
from ._input_gradient import _correlate_scatter, _correlate_scatter_rows
from ._products import _correlate_im2col, _correlate_im2col_bl, _correlate_shifted

# ---------------------------------------------------------------------------------------------
# The one dispatch point: every convolution, forward or backward, goes through `_correlate`.
#
# Each method computes the same valid cross-correlation of a padded batch, for every group g
# at once: xp (G, B, C, H, W) with a filter w (G, O, C, f1, f2), stride s and dilation d,
#
#     y[g,b,o,i,j] = Σ_c Σ_a Σ_e w[g,o,c,a,e] · xp[g, b, c, s_h i + d_h a, s_w j + d_w e]
#
# (G = 1 for an ungrouped convolution; the group axis rides along in every product, as the
# stack axis of np.matmul or a broadcast axis, never in a Python loop). Each method is general
# (any shape, stride, dilation, NaN and ±inf included); they differ in speed and in what runs
# in a Python loop (never pixels, batch elements or groups):
#   taps        scaled additions of shifted planes, a loop over taps and channel pairs
#   planes      the same on flat stride-phase planes: each tap a shift of a whole plane,
#               multiplied and added in one np.einsum pass per tap (depthwise convolution)
#   im2col      windows copied into columns, one matrix product per cache-sized chunk
#   im2col_bl   the same on a batch-last copy of the input: long runs for small images
#   shifted     one product per tap on shifted slices of a flat layout: nothing copied
#   im2row      windows as rows: for a huge filter and a tiny output (filter gradients)
#   im2row_sum  the same for all images at once, a block of channels at a time, summed
#   im2row_cl   im2row on channels-last copies: a row of taps is one run of f2·C values
#   per_output  one product per output position on a flat layout: nothing copied
#   dots        a dot product per pair of planes and output position, planes kept in cache
#               (the filter gradient of a depthwise convolution)
#   scatter     every tap's contribution of each real pixel in one product, then added at
#               the outputs it reaches: implicit padding is never multiplied (grad_x)
#   scatter_rows  the same along the rows only, im2col along the width: a product f2 times
#               deeper and smaller, f1 adds instead of f1·f2 (grad_x of LeNet-sized layers)
#   einsum_cl   one np.einsum over all taps on a copy with the group axis innermost: its
#               passes run along the groups (depthwise layers with many groups, small maps)
# Beside them one kernel of the adjoint (the input gradient), not of this correlation:
#   depth_to_space  where the windows tile the input (kernel = stride), all taps in one
#               product and each input value written once (``conv`` plans it, `_tiles`)
# ``select_method`` picks one per shape. Every buffer bigger than the input or the output
# is built and consumed in chunks of about _CHUNK_BYTES, so memory stays bounded.

# methods that read their input batch-last (..., C, H, W, B), or channels-last (..., B, H, W, C)
_BATCH_LAST = {"im2col_bl", "scatter_rows"}
_CHANNELS_LAST = {"im2row_cl"}

METHODS: dict[str, Callable[..., np.ndarray]] = {
    "taps": _correlate_taps,
    "planes": _correlate_planes,
    "im2col": _correlate_im2col,
    "im2col_bl": _correlate_im2col_bl,
    "shifted": _correlate_shifted,
    "im2row": _correlate_im2row,
    "im2row_sum": _correlate_im2row_sum,
    "im2row_cl": _correlate_im2row_cl,
    "per_output": _correlate_per_output,
    "dots": _correlate_dots,
    "scatter": _correlate_scatter,
    "scatter_rows": _correlate_scatter_rows,
    "einsum_cl": _correlate_einsum_cl,
}
_WINDOW = "padded window"  # the work buffer of `_correlate`'s explicit window
# methods that take the window of x itself: its padding is implicit (never multiplied) ...
_WINDOWED = {"scatter", "scatter_rows"}
_WIDTH_ZEROS = {"scatter_rows"}  # ... but for the zero columns, which these multiply
# methods that take the window of x itself and multiply its zeros (as the explicit copy would)
_OWN_WINDOW = {"planes", "dots", "einsum_cl"}
# ... and these write into a given ``out`` themselves, each block while it is in cache
_INTO = {"planes", "im2col"}
# methods given a window that copy it whole, zeros and all, in its own memory order
COPIES_WINDOW = set(METHODS) - _WINDOWED - _OWN_WINDOW - _BATCH_LAST - _CHANNELS_LAST


_SHALLOW = 32  # "scatter_rows" for scatter's shapes whose product is at most this deep
_LONG_SUM = 8  # "im2row_sum" when its sum is this many times longer than its output is tall
_LONG_RUN = 16  # and its rows copy runs of at least this many values (strided if dilated)
_THIN = 16  # B·O of a product that runs at memory speed whatever its layout
_MUCH_LONGER = 8  # "im2row_cl" over "im2col_bl" where its copy runs are this many times longer
_SHORT_PLANES = 8  # a depthwise filter gradient's "einsum_cl" where 8·G >= the planes' area


def select_method(
    xp_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: Pair,
    dilation: Pair,
    data_hw: Pair | None = None,
    filter_gradient: bool = False,
) -> str:
    """The method for these shapes: (B, C, H, W) and (O, C, f1, f2), or with a leading
    group axis (G, B, C, H, W) and (G, O, C, f1, f2) (C and O per group). First match wins;
    each rule is what the benchmark (``python -m cnnmath.bench``, one thread, OpenBLAS)
    measured fastest — the timings are in docs/performance.md, "How a convolution is
    computed":

    1. A tiny output, fewer positions than filter taps: the filter gradient, whose "filter"
       is the whole output gradient and whose output is the f1 × f2 filter.
       - one position -> "im2row": the single window is the input itself, one product;
       - grouped, with at most four (image, output channel) pairs per group (the filter
         gradient of a depthwise convolution: one of each) -> "dots": a dot product per
         plane pair and position, each plane read from cache by all positions — unless
         one of each and the planes are small beside the groups (_SHORT_PLANES·G >=
         f1·f2, the output gradient's area) -> "einsum_cl", its passes along the groups;
       - a sum at least _LONG_SUM times longer (C·f1·f2: the batch times the output
         gradient's area) than the output is tall (B·H_out·W_out: the layer's input
         channels times the filter's positions), in rows of at least _LONG_RUN values ->
         "im2row_sum": few tall products (the ResNet layers, LeNet's first) — unless the
         flat layout of "per_output" (below) wastes little and its products are thin
         (B·O <= _THIN: they run at the speed the input streams in, and it copies
         nothing); such shapes take the rules below;
       - a batch of 4 or more (the layer's C_in) -> "im2col_bl": columns W_out·B long —
         unless the output has 16 positions or more and the flat layout wastes little
         (below): im2col copies every input pixel about once per output position, where
         "per_output" copies nothing. For a filter gradient (``filter_gradient``: a deep
         layer's forward on 2 × 2 maps has a tiny output too, but a filter that "im2row_cl"
         would copy whole on every call) whose "im2row_cl" copies runs _MUCH_LONGER times
         longer or more (f2·C at d_w = 1, else C: the forward's output width times its
         batch, against im2col_bl's W_out·B at s_w = 1, else B) -> "im2row_cl" (LeNet's
         second layer: runs of 640 values instead of 30);
       - the flat input (undilated) wastes at most a quarter over the filter's area ->
         "per_output": a product per position, nothing copied (result 1);
       - otherwise -> "im2row".
    2. Grouped, with products at most four entries per group (C·O <= 4: depthwise
       convolution, C = O = 1) -> "planes": a matrix product one deep per group and tap is
       all overhead; one scaled addition per tap covers every group at once. Where a plane
       is short beside the number of groups times the taps (depthwise, G·f1·f2 >=
       1.5·H_out·W_q: a 3 × 3 layer's deep blocks, 192 groups on 28 × 28 and beyond)
       -> "einsum_cl": its passes run along the G groups instead of along one plane, but
       it copies its input channels-last and its output back, paid once for all the taps
       (so a stride phase of the input gradient, with a few taps, needs more groups).
    3. A product at most two deep (C·f1·f2 <= 2, e.g. the input gradient of a 1×1
       convolution from one output channel): BLAS has nothing to multiply -> "taps".
    4. At most half of the input holds data, the rest being implicit zero padding
       (``data_hw``: the size of the part of the window that lies in x; None: all of it),
       as in the input gradient's full correlation of a small output gradient ->
       "scatter": only the data is multiplied (past about half, the adds of its products
       outgrow the zeros im2col multiplies) — and at any share of padding when the
       correlation halves the channels or more (2·O <= C) over 9 taps or more: scatter
       adds O-channel planes per tap where im2col copies C-channel ones (the input
       gradient of a layer that widens, LeNet's first layer). Where scatter's product would
       be shallow (C <= _SHALLOW: it runs at the speed it writes its f1·f2·O rows) and at
       most a quarter of the window's width is padding -> "scatter_rows": its product is
       f2 times deeper and smaller, and it multiplies only the width's few zeros (LeNet's
       first layer, result 1, the digits CNN's second layer).
    5. Small images (W_out <= 14) in a batch of 16 or more, stride 1: im2col's rows would
       be W_out short -> "im2col_bl" (LeNet's second layer).
    6. Few output channels (O <= 8) and enough input channels (C >= 4) for each tap's
       product: im2col would copy f1·f2 values per output for a product O deep ->
       "shifted".
    7. Otherwise -> "im2col", chunked: one matrix product per cache-sized block; for a 1×1
       kernel nothing is copied, for stride = kernel the copy is a space-to-depth.
    """
    if len(xp_shape) == 4:  # one group
        xp_shape, w_shape = (1, *xp_shape), (1, *w_shape)
    G, B, C = xp_shape[:3]
    _, O, _, f1, f2 = w_shape
    Ho, Wo = _valid_size(xp_shape, w_shape, stride, dilation)
    if Ho * Wo < f1 * f2:
        if Ho * Wo == 1:
            return "im2row"
        (dh, dw), (H, W) = dilation, xp_shape[-2:]
        flat_area = -(-H // dh) * -(-W // dw)  # one phase of the input, as per_output lays it
        little_waste = flat_area <= 1.25 * f1 * f2 and dilation == (1, 1)
        if G > 1 and B * O <= 4:  # depthwise: a filter gradient
            if B == O == 1 and _SHORT_PLANES * G >= f1 * f2:
                return "einsum_cl"
            return "dots"
        thin = little_waste and B * O <= _THIN  # per_output's products run at memory speed
        if C * f1 * f2 >= _LONG_SUM * B * Ho * Wo and f2 >= _LONG_RUN and not thin:
            return "im2row_sum"
        if B >= 4 and not (Ho * Wo >= 16 and little_waste):
            run_cl = f2 * C if dilation[1] == 1 else C  # the two methods' copy runs
            run_bl = Wo * B if stride[1] == 1 else B
            if filter_gradient and run_cl >= _MUCH_LONGER * run_bl:
                return "im2row_cl"
            return "im2col_bl"
        return "per_output" if little_waste else "im2row"
    if G > 1 and C * O <= 4:
        plane_run = Ho * -(-xp_shape[-1] // stride[1])  # "planes"' passes: H_out·W_q long
        if C == O == 1 and 2 * G * f1 * f2 >= 3 * plane_run:
            return "einsum_cl"
        return "planes"
    if C * f1 * f2 <= 2:
        return "taps"
    if data_hw is not None and (
        2 * data_hw[0] * data_hw[1] <= xp_shape[-2] * xp_shape[-1]
        or (2 * O <= C and f1 * f2 >= 9 and data_hw != tuple(xp_shape[-2:]))
    ):
        if C <= _SHALLOW and f2 > 1 and 4 * data_hw[1] >= 3 * xp_shape[-1]:
            return "scatter_rows"
        return "scatter"
    if Wo <= 14 and B >= 16 and stride == (1, 1):
        return "im2col_bl"
    if O <= 8 and C >= 4:
        return "shifted"
    return "im2col"


def _correlate(
    xp: np.ndarray,
    w: np.ndarray,
    stride: Pair,
    dilation: Pair,
    method: str | None = None,
    window: tuple[Pair, Pair] | None = None,
    padding: bool = False,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Valid cross-correlation of an already padded batch with a filter, for every group.

    xp (G, B, C, H, W) and w (G, O, C, f1, f2) give y (G, B, O, H_out, W_out),
    y[g,b,o,i,j] = Σ_{c,a,e} w[g,o,c,a,e]·xp[g,b,c,s_h i+d_h a, s_w j+d_w e]; a 4-D xp
    (B, C, H, W) with w (O, C, f1, f2) is one group and gives a contiguous (B, O, H_out,
    W_out). Computed by ``METHODS[method]`` (default: ``select_method``'s choice).
    With ``window`` = (start, length), xp is replaced by ``crop_or_pad(xp, start, length)``,
    whose positions outside xp are absent terms (the input gradient's outputs that do not
    exist): a method in _WINDOWED skips them (one in _WIDTH_ZEROS only the rows outside xp),
    any other multiplies zeros there (an explicit copy, laid out batch-last for a method in
    _BATCH_LAST, channels-last for one in _CHANNELS_LAST; built by the method itself for
    one in _OWN_WINDOW) — the same sum while w is finite; a non-finite w goes to "scatter"
    from any method that multiplies some of those zeros, so no 0·inf turns into NaN. With
    ``padding`` the window's zeros are real terms instead (X̃'s zero padding:
    `_padded_correlate`), and ``method`` must be given. An explicit window is made in this
    thread's kept work buffer (`crop_or_pad`'s ``scratch``), rewritten by the next call: so
    no method may return a view of its input (none does; a test holds every one to it).
    With ``out`` (y's shape, any strides), y is written there and ``out`` returned: by the
    method itself for one in _INTO, else copied from its result.
    """
    if xp.ndim == 4:
        out5 = None if out is None else out[None]
        y = _correlate(xp[None], w[None], stride, dilation, method, window, padding, out5)
        return out if out is not None else contiguous(y[0])
    if window is None:
        name = method or select_method(xp.shape, w.shape, stride, dilation)
        return _into(out, name, xp, w, stride, dilation)
    if padding:
        assert method is not None, "a padded window needs its method"
        name = method
    else:
        name = method or select_method(
            (*xp.shape[:-2], *window[1]), w.shape, stride, dilation, _data_size(xp.shape, *window)
        )
        if (name not in _WINDOWED or name in _WIDTH_ZEROS) and not _all_finite(w):
            # The window's zeros are absent terms (outputs that do not exist); a method that
            # multiplies an explicit copy of them would turn 0·inf into NaN.
            name = "scatter"
    if name in _OWN_WINDOW or (name in _WINDOWED and not padding):
        return _into(out, name, xp, w, stride, dilation, window)
    # the window's copy in a kept buffer: a fresh one on every call can fault in anew
    if name in _CHANNELS_LAST:  # the copy laid out (G, B, H, W, C), as the method reads it
        xw = crop_or_pad(np.swapaxes(xp, 1, 2), *window, True, _WINDOW).swapaxes(1, 2)
    else:
        xw = crop_or_pad(xp, *window, name in _BATCH_LAST, _WINDOW)
    return _into(out, name, xw, w, stride, dilation)


def _into(out: np.ndarray | None, name: str, *args: Any) -> np.ndarray:
    """``METHODS[name](*args)``, written into ``out`` when one is given (see `_correlate`)."""
    if out is not None and name in _INTO:
        return METHODS[name](*args, out=out)
    return _delivered(METHODS[name](*args), out)


def _data_size(x_shape: tuple[int, ...], start: Pair, length: Pair) -> Pair:
    """The rows and columns of the window (start, length) of x that lie inside x."""
    rows, cols = (
        max(0, min(s + n, size) - max(s, 0)) for s, n, size in zip(start, length, x_shape[-2:])
    )
    return rows, cols


def _split_groups(a: np.ndarray, groups: int) -> np.ndarray:
    """(B, G·C, H, W) as a (G, B, C, H, W) view: the group axis first, for `_correlate`."""
    B, GC, H, W = a.shape
    return a.reshape(B, groups, GC // groups, H, W).transpose(1, 0, 2, 3, 4)


def _merge_groups(y: np.ndarray) -> np.ndarray:
    """`_correlate`'s (G, B, O, H, W) as a contiguous (B, G·O, H, W): block g is group g."""
    G, B, O, H, W = y.shape
    return contiguous(y.transpose(1, 0, 2, 3, 4)).reshape(B, G * O, H, W)


def _grouped_correlate(
    x: np.ndarray,
    w: np.ndarray,
    groups: int,
    stride: Pair,
    dilation: Pair,
    window: tuple[Pair, Pair] | None = None,
    method: str | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The grouped correlation of x (B, G·C, H, W) with w (G·O, C, f1, f2): block g of the
    output channels reads only block g of the input channels. One `_correlate` call for all
    groups (no loop over them); groups = 1 is the plain correlation. With ``window``, x's
    window (start, length), zero outside x, as ``_correlate`` takes it; ``method`` as there;
    with ``out`` (B, G·O, H_out, W_out) of any strides, the result is written there."""
    if groups == 1:
        return _correlate(x, w, stride, dilation, method, window, out=out)
    w5 = w.reshape(groups, w.shape[0] // groups, *w.shape[1:])
    xg = _split_groups(x, groups)
    if out is not None:
        out5 = _split_groups(out, groups)
        assert np.may_share_memory(out5, out), "splitting an axis is a view"
        _correlate(xg, w5, stride, dilation, method, window, out=out5)
        return out
    return _merge_groups(_correlate(xg, w5, stride, dilation, method, window))


def _padded_correlate(
    x: np.ndarray,
    w: np.ndarray,
    stride: Pair,
    dilation: Pair,
    window: tuple[Pair, Pair],
    method: str,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """`_correlate` by ``method`` of x's ``window`` (start, length) made explicit (zero
    padding that stands for X̃'s zeros, which are real terms), the copy laid out as the method
    reads it (batch-last for a method in _BATCH_LAST, channels-last for one in
    _CHANNELS_LAST: one copy instead of two; the stride phases for a method in _OWN_WINDOW,
    built by the method from x itself); written into ``out`` when given (as there)."""
    return _correlate(x, w, stride, dilation, method, window, padding=True, out=out)
