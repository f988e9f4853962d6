"""The convolution engine: the valid cross-correlation of a padded batch, its thirteen kernels
(methods), the rule that picks one per shape (`select_method`) and the one entry point every
convolution goes through (`_correlate`); beside them `depth_to_space`, the adjoint where the
windows tile the input.

``cnnmath.ops.conv`` holds the public ops and their geometry (padding, bands of rows, stride
phases); everything here sees an already padded batch (or a window of one) and a filter,
with a leading group axis.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _machine, _threads
from ._geometry import Pair, output_size
from ._windows import (
    batch_last,
    channels_last,
    contiguous,
    copy,
    copy_runs,
    crop_or_pad,
    flat_phases,
    phase_split,
    windows,
)

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
#
# Threads (see ``_threads``): each method's chunks are its blocks. Their boundaries follow
# from the shapes and the cache budgets only, so a block computes the same bits whichever
# thread runs it and however many run; ``_threads.parallel`` hands them out, each block
# writes its own part of the result (scratch buffers are per thread, `_scratch`), and a
# product inside a block is one one-thread BLAS call (or `_threads.matmul`, which runs its
# shape-fixed column blocks serially there).

# Cache budgets, derived from this machine's L2/L3 sizes (`_machine`: 2 MiB, 256 KiB,
# 4 MiB and 8192 columns on a 512 KiB-L2 core; a 2 MiB chunk on a 2 MiB-L2 one too); the
# same at any thread count.
_CHUNK_BYTES = _machine.BUDGETS.chunk_bytes  # a window buffer per chunk stays in L2/L3
_MIN_COLUMNS = 128  # a product narrower than this runs well below BLAS speed
# im2col's chunks of whole images hold at least this many columns when 4 budgets allow it:
# a deep layer's product (512 × 4608 by 4608 × N) gains 10-20 % from N = 98 to 392
# (docs/performance.md, "Wide chunks of small maps")
_WIDE_COLUMNS = 384
_TAPS_CHUNK_BYTES = _machine.BUDGETS.taps_chunk_bytes  # the elementwise accumulator rows


def _scratch(name: str, shape: tuple[int, ...] | int, dtype: np.dtype) -> Callable[[], np.ndarray]:
    """A getter of the calling thread's work buffer ``name`` of this shape: blocks running
    at once in two threads never share one, and a block run later by the same thread
    reuses it (no fresh pages per block). Up to `_threads.scratch`'s size limit the buffer
    is kept for the next call too; a larger one is made once per thread for this call."""
    size = math.prod((shape,) if isinstance(shape, int) else shape) * np.dtype(dtype).itemsize
    if size <= _threads._SCRATCH_BYTES:
        return lambda: _threads.scratch(name, shape, dtype)
    buffers: dict[int, np.ndarray] = {}

    def get() -> np.ndarray:
        key = threading.get_ident()
        if key not in buffers:
            buffers[key] = np.empty(shape, dtype=dtype)
        return buffers[key]

    return get


def _valid_size(
    xp_shape: tuple[int, ...], w_shape: tuple[int, ...], stride: Pair, dilation: Pair
) -> Pair:
    return (
        output_size(xp_shape[-2], w_shape[-2], stride[0], 0, 0, dilation[0]),
        output_size(xp_shape[-1], w_shape[-1], stride[1], 0, 0, dilation[1]),
    )


def _correlate_taps(xp: np.ndarray, w: np.ndarray, stride: Pair, dilation: Pair) -> np.ndarray:
    """Elementwise: y[:, :, o] += w[:,o,c,a,e] · (input plane c shifted to tap (a, e)), tap by tap.

    No window buffer and no matrix product: C·f1·f2 scaled additions of whole planes (for
    all groups and all O outputs at once), over blocks of output rows so the accumulator
    stays in cache. Two passes over memory per term: it wins only where a product would be
    one or two deep (C·f1·f2 <= 2), which BLAS runs far below its speed.
    """
    G, B, C = xp.shape[:3]
    _, O, _, f1, f2 = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    Ho, Wo = _valid_size(xp.shape, w.shape, stride, dilation)
    y = np.empty((G, B, O, Ho, Wo), dtype=xp.dtype)
    rows = max(1, min(Ho, _TAPS_CHUNK_BYTES // (G * B * O * Wo * xp.itemsize)))
    if C * f1 * f2 == 1:  # one term: nothing to accumulate, one multiplication

        def product(i0: int, i1: int) -> None:
            np.multiply(
                xp[:, :, :, sh * i0 : sh * (i1 - 1) + 1 : sh, : sw * (Wo - 1) + 1 : sw],
                w[:, None, :, 0, 0, 0, None, None],
                out=y[:, :, :, i0:i1],
            )

        _threads.parallel(product, _threads.spans(Ho, rows))
        return y
    scratch = _scratch("taps terms", (G, B, O, rows, Wo), xp.dtype)
    w_oc = w[:, None, :, :, :, :, None, None]  # (G, 1, O, C, f1, f2, 1, 1): a scale per plane

    def block(i0: int, i1: int) -> None:  # output rows [i0, i1)
        acc, t = y[:, :, :, i0:i1], scratch()[:, :, :, : i1 - i0]
        first = True
        for a in range(f1):
            r = slice(sh * i0 + dh * a, sh * (i1 - 1) + dh * a + 1, sh)
            for e in range(f2):
                c_ = slice(dw * e, dw * e + sw * (Wo - 1) + 1, sw)
                for c in range(C):
                    plane = xp[:, :, c, None, r, c_]  # (G, B, 1, rows, Wo)
                    if first:
                        np.multiply(plane, w_oc[:, :, :, c, a, e], out=acc)
                        first = False
                    else:
                        np.multiply(plane, w_oc[:, :, :, c, a, e], out=t)
                        acc += t

    _threads.parallel(block, _threads.spans(Ho, rows))
    return y


def _tap_classes(
    kernel: Pair, stride: Pair, dilation: Pair, width: int
) -> list[tuple[slice, slice, int, int, int, int]]:
    """The taps of a kernel on the flat stride-phase layout, in classes that share a phase.

    Tap (a, e) reads phase ((d_h a) % s_h, (d_w e) % s_w) at offset
    (d_h a // s_h)·width + d_w e // s_w. The taps a = a0, a0 + t_h, ... (t_h = s_h/gcd(s_h, d_h))
    share a phase, their offsets a fixed distance apart; likewise along the width. Each class
    is (rows of taps, columns of taps, phase, offset of its first tap, distance between its
    tap rows, distance between its tap columns): a strided grid, one view for all its taps.
    """
    (f1, f2), (sh, sw), (dh, dw) = kernel, stride, dilation
    th, tw = sh // math.gcd(sh, dh), sw // math.gcd(sw, dw)
    return [
        (
            slice(a0, f1, th),
            slice(e0, f2, tw),
            (dh * a0 % sh) * sw + dw * e0 % sw,
            (dh * a0 // sh) * width + dw * e0 // sw,
            dh * th // sh * width,
            dw * tw // sw,
        )
        for a0 in range(min(f1, th))
        for e0 in range(min(f2, tw))
    ]


def _shift_views(
    X: np.ndarray, classes: list[tuple[slice, slice, int, int, int, int]], kernel: Pair, run: int
) -> list[np.ndarray]:
    """Per class of ``_tap_classes(kernel, ...)``, every shifted run of the flat phases X
    (..., phases, n) in one read-only view:

        V[..., a', e', n] = X[..., phase, off + a'·step_a + e'·step_e + n],   n < run.
    """
    unit = X.strides[-1]  # bytes between flat neighbours (the item size but in a view)
    out = []
    for taps_a, taps_e, phase, off, step_a, step_e in classes:
        base = X[..., phase, off:]
        n_a, n_e = len(range(kernel[0])[taps_a]), len(range(kernel[1])[taps_e])
        out.append(
            np.lib.stride_tricks.as_strided(
                base,
                shape=(*base.shape[:-1], n_a, n_e, run),
                strides=(*base.strides[:-1], step_a * unit, step_e * unit, unit),
                writeable=False,
            )
        )
    return out


#: glibc serves an allocation above its largest mmap threshold (32 MiB on 64-bit) with fresh
#: pages every time, each faulting on its first write; below it, freed memory is reused.
_FRESH_PAGES_BYTES = 32 << 20


def _phases_copied_once(
    x: np.ndarray,
    window: tuple[Pair, Pair] | None,
    step: Pair,
    shape: tuple[int, ...],
    name: str,
) -> np.ndarray | None:
    """x's flat phases (`flat_phases`, of this ``shape``) for a method that reads them by
    blocks: a view where one exists; else the copy, made once — into the calling thread's
    kept buffer "``name``, whole" when it fits (`_threads.scratch`) — up to
    _FRESH_PAGES_BYTES; else None, and each block copies its own phases into its thread's
    buffer (the method's ``name``): a larger copy
    lands on fresh pages, whose faults cost about as much as the copy
    (docs/performance.md, "Fresh pages")."""
    X = flat_phases(x, window, step)
    if X is not None:
        return X
    size = math.prod(shape) * x.itemsize
    if size <= _threads._SCRATCH_BYTES:  # read by the region's blocks: a name none uses
        return flat_phases(x, window, step, _threads.scratch(name + ", whole", shape, x.dtype))
    if size <= _FRESH_PAGES_BYTES:
        return flat_phases(x, window, step, np.empty(shape, dtype=x.dtype))
    return None


def _correlate_planes(
    xp: np.ndarray,
    w: np.ndarray,
    stride: Pair,
    dilation: Pair,
    window: tuple[Pair, Pair] | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Elementwise on flat planes: y = Σ_(a,e) Σ_c w[:,:,c,a,e] · (plane c shifted by tap (a, e)).

    Split every (group, image, channel) plane into its s_h·s_w stride phases and flatten each
    phase, so that a tap is a plain shift of the whole flat plane by
    off = (d_h a // s_h)·Wq + d_w e // s_w (as in "shifted"). The sum builds y on a "wide"
    grid i·Wq + j with j < Wq; columns j >= W_out are scratch, never read back. The taps that
    share a phase lie on a strided grid of offsets (``_tap_classes``: all of them at stride
    1), so one strided view holds every shifted plane of a class, and one ``np.einsum``
    multiplies and adds them in a single pass per tap — out[n] += w·x[n + off] — instead of
    a product and a sum through a temporary. The method for depthwise convolution (C = O = 1
    per group), where a matrix product would be one deep: every group, image and output
    channel at once. For stride 1 nothing is copied but the result. Blocks of planes keep
    the accumulator within _TAPS_CHUNK_BYTES, in cache across the taps.

    With ``window`` = (start, length) the input is that window of xp, zero outside xp
    (``crop_or_pad``'s): its phases are built from xp in one copy (`window_phases`), where
    padding and then splitting would copy it twice; or block by block when that copy
    would be large (`_phases_copied_once`). With ``out``, a (G, B, O, H_out, W_out) view of
    any strides (an input gradient's stride phase inside the whole gradient), each block's
    real columns go straight there while they are in cache where a view of ``out`` can
    number the planes (`_planes_view`: out's images and groups in xp's order, as for an
    output gradient in NCHW order), else the whole result is copied there after; ``out``
    is returned.
    """
    G, B, C, H, W = xp.shape
    _, O, _, f1, f2 = w.shape
    length = window[1] if window is not None else (H, W)
    Ho, Wo = _valid_size((*xp.shape[:-2], *length), w.shape, stride, dilation)
    R = G * B
    # the (group, image) planes in whichever order xp already lies in memory
    image_major = not xp.flags.c_contiguous
    planes = (xp.transpose(1, 0, 2, 3, 4) if image_major else xp).reshape(R, C, H, W)
    if image_major:  # plane r = b·G + g
        w_rows = np.broadcast_to(w[None], (B, G, O, C, f1, f2))
    else:  # plane r = g·B + b
        w_rows = np.broadcast_to(w[:, None], (G, B, O, C, f1, f2))
    w_rows = w_rows.reshape(R, O, C, f1, f2)  # the filter of each plane's group
    (sh, sw), S = stride, stride[0] * stride[1]
    Hq, Wq = -(-length[0] // sh), -(-length[1] // sw)
    X = _phases_copied_once(planes, window, stride, (R, C, S, Hq * Wq), "planes phases")
    last = (Ho - 1) * Wq + Wo  # wide columns past this are never needed
    assert out is None or out.shape == (G, B, O, Ho, Wo), "out must have y's shape"
    direct = _planes_view(out, image_major) if out is not None else None
    y = np.empty((R, O, Ho, Wo), dtype=xp.dtype) if direct is None else direct
    rows = max(1, min(R, _TAPS_CHUNK_BYTES // (O * last * xp.itemsize)))
    sums = _scratch("planes sums", (rows, O, Ho * Wq), xp.dtype)
    classes = _tap_classes((f1, f2), stride, dilation, Wq)
    scratch = _scratch("planes terms", (rows, O, last) if len(classes) > 1 else 0, xp.dtype)
    copied = _scratch("planes phases", (rows, C, S, Hq * Wq) if X is None else 0, xp.dtype)

    w_classes = [w_rows[:, :, :, taps_a, taps_e] for taps_a, taps_e, *_ in classes]
    whole = _shift_views(X, classes, (f1, f2), last) if X is not None else None

    def block(r0: int, r1: int) -> None:  # planes [r0, r1): a block of the accumulator
        wide, tmp = sums()[: r1 - r0], scratch()
        acc = wide[:, :, :last]
        if whole is not None:
            block_views = [view[r0:r1] for view in whole]
        else:
            Xr = flat_phases(planes[r0:r1], window, stride, copied()[: r1 - r0])
            assert Xr is not None
            block_views = _shift_views(Xr, classes, (f1, f2), last)
        for k, (w_class, view) in enumerate(zip(w_classes, block_views, strict=True)):
            t = acc if k == 0 else tmp[: r1 - r0]
            # Fortran order: n fastest, then the planes, the taps slowest (accumulator in cache)
            np.einsum(
                "rocae,rcaen->nro",
                w_class[r0:r1],
                view,
                out=t.transpose(2, 0, 1),
                order="F",
            )
            if k:
                acc += t
        y[r0:r1] = wide.reshape(r1 - r0, O, Ho, Wq)[..., :Wo]  # the wide grid's real columns

    _threads.parallel(block, _threads.spans(R, rows))
    if out is not None and direct is not None:
        return out
    y5 = (
        y.reshape(B, G, O, Ho, Wo).transpose(1, 0, 2, 3, 4)
        if image_major
        else y.reshape(G, B, O, Ho, Wo)
    )
    return _delivered(y5, out)


def _planes_view(out: np.ndarray, image_major: bool) -> np.ndarray | None:
    """``out`` (G, B, O, H, W) as the (R, O, H, W) planes of `_correlate_planes`, r = b·G + g
    (``image_major``) else g·B + b, where a view can number them so; else None."""
    lead = out.transpose(1, 0, 2, 3, 4) if image_major else out
    (n_outer, n_inner), (outer, inner) = lead.shape[:2], lead.strides[:2]
    if n_inner == 1:
        step = outer
    elif n_outer == 1 or outer == inner * n_inner:
        step = inner
    else:
        return None
    return np.lib.stride_tricks.as_strided(
        lead, (n_outer * n_inner, *lead.shape[2:]), (step, *lead.strides[2:])
    )


def _correlate_einsum_cl(
    xp: np.ndarray,
    w: np.ndarray,
    stride: Pair,
    dilation: Pair,
    window: tuple[Pair, Pair] | None = None,
) -> np.ndarray:
    """``np.einsum`` over every tap on a copy of the input with its group axis innermost:

        y[b,i,j,o,g] = Σ_c Σ_(a,e) X[b, c, s_h i + d_h a, s_w j + d_w e, g] · T[c,a,e,o,g]

    with X (B, C, H, W, G) and the filter T (C, f1, f2, O, G) laid out group last. For a
    depthwise layer (C = O = 1 per group) with many groups on small maps: there "planes"
    runs its elementwise passes along one plane of H_out·W_q values at a time, a few dozen
    on a deep layer's 7 × 7 map, each pass paying NumPy's loop overhead for so few; here
    every pass runs along all G groups at once (960 values on MobileNetV2's last blocks),
    and a stride needs no phase split: a strided window still reads G contiguous values.
    The same for such a layer's filter gradient (C = the batch, the output gradient as the
    filter, a 3 × 3 output), where "dots" takes a dot product per plane and position.

    Shape-fixed chunks of images, or of one image's output rows, each one ``einsum``,
    threaded; an output of one chunk with a long sum over c (a filter gradient) is summed
    instead in up to _PARTIALS shape-fixed blocks of c, added in block order. With
    ``window`` = (start, length) the input is that window of xp, zero outside xp: its copy
    and the layout are one copy (`crop_or_pad`) where B·C merge into one axis (always when
    B or C is 1).
    """
    G, B, C, H, W = xp.shape
    _, O, _, f1, f2 = w.shape
    length = window[1] if window is not None else (H, W)
    Ho, Wo = _valid_size((*xp.shape[:-2], *length), w.shape, stride, dilation)
    planes = xp.reshape(G, B * C, H, W)  # a copy only if B and C lie apart (never chosen)
    if window is not None:  # (G, B·C, h, w) laid out (B·C, h, w, G)
        planes = crop_or_pad(planes, *window, True, "einsum_cl window")
    X = batch_last(planes, "einsum_cl input").reshape(B, C, *length, G)
    (sh, sw), (dh, dw) = stride, dilation
    sB, sC, sH, sW, sG = X.strides
    view = np.lib.stride_tricks.as_strided(
        X,
        (B, C, Ho, Wo, f1, f2, G),
        (sB, sC, sh * sH, sw * sW, dh * sH, dw * sW, sG),
        writeable=False,
    )
    taps = np.ascontiguousarray(w.transpose(2, 3, 4, 1, 0))  # (C, f1, f2, O, G)
    y = np.empty((B, Ho, Wo, O, G), dtype=xp.dtype)
    per_row = Wo * G * O * xp.itemsize
    if Ho * per_row <= _TAPS_CHUNK_BYTES:  # whole images per chunk
        images, rows = max(1, _TAPS_CHUNK_BYTES // (Ho * per_row)), Ho
    else:
        images, rows = 1, max(1, _TAPS_CHUNK_BYTES // per_row)
    chunks = [
        (b0, min(B, b0 + images), i0, min(Ho, i0 + rows))
        for b0 in range(0, B, images)
        for i0 in range(0, Ho, rows)
    ]
    subscripts = "bcijaeg,caeog->bijog"
    if len(chunks) == 1 and C > 1:  # one small output, a long sum: blocks of the sum
        blocks = _threads.even_spans(C, _PARTIALS)
        partials = np.empty((len(blocks), *y.shape), dtype=y.dtype)

        def part(k0: int, k1: int) -> None:
            for k in range(k0, k1):
                c0, c1 = blocks[k]
                np.einsum(subscripts, view[:, c0:c1], taps[c0:c1], out=partials[k])

        _threads.parallel(part, _threads.spans(len(blocks), 1))
        np.add.reduce(partials, axis=0, out=y)
        return y.transpose(4, 0, 3, 1, 2)

    def block(k0: int, k1: int) -> None:
        for b0, b1, i0, i1 in chunks[k0:k1]:
            np.einsum(subscripts, view[b0:b1, :, i0:i1], taps, out=y[b0:b1, i0:i1])

    _threads.parallel(block, _threads.spans(len(chunks), 1))
    return y.transpose(4, 0, 3, 1, 2)


def _matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray, cut: bool = True) -> None:
    """out = a @ b for a (..., M, K), b (..., K, N), out (..., M, N) (a stack of groups, or
    one product): when ``cut``, threaded by the shape-fixed wide blocks of `_product_blocks`;
    a product that is already one of many blocks (``cut`` False, `_cut`) runs whole, at full
    BLAS speed. Inside a block of a parallel region the blocks run serially.

    A product with few rows (M < 12: a layer with few output channels) runs whole too. Cut
    into L2-sized column blocks, it measured faster on the machine the budgets were first
    set on (6 rows gain, 16 lose) but slower on this one, together with its half-L2 window
    chunks (docs/performance.md, "Skinny products").

    A product with at most _FEW_COLUMNS columns and more rows (the filter gradient of a
    layer with one to three output channels) is one matrix-vector product per column
    (`_columns`): BLAS's matrix product packs both factors first, which costs more than
    such a product's arithmetic. Not for few rows (such a layer's forward), though faster
    there too: a vector-matrix product's bits for one column depend on how many columns
    it is given, and tiled inference (``cnnmath.tiled``) needs a column of the forward to
    come out the same in a tile as in the whole image (docs/performance.md, "Thin
    products").
    """
    M, N = a.shape[-2], b.shape[-1]
    if N <= _FEW_COLUMNS < M:
        blocks = _product_blocks(a.shape, N) if cut else [(0, M)]

        def rows(i0: int, i1: int) -> None:
            _columns(a[..., i0:i1, :], b, out[..., i0:i1, :])

        _threads.parallel(rows, blocks)
    elif cut:
        _threads.matmul(a, b, out)
    else:
        np.matmul(a, b, out=out)


_FEW_COLUMNS = 3  # a product this narrow: one matrix-vector product per column


def _columns(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """out = a @ b as one matrix-vector product per column of b (`_matmul`)."""
    for j in range(b.shape[-1]):
        np.matmul(a, contiguous(b[..., j : j + 1]), out=out[..., j : j + 1])


def _product_blocks(a_shape: tuple[int, ...], N: int) -> list[_threads.Span]:
    """The blocks `_threads.matmul` cuts a product a (..., M, K) @ (..., K, N) into."""
    M, K = a_shape[-2:]
    return _threads.product_spans(M, N, 2 * math.prod(a_shape[:-2]) * M * N * K)


_MANY_CHUNKS = 8  # this many chunks or more keep a few cores busy as the threads' blocks


def _cut(blocks: list[_threads.Span], a_shape: tuple[int, ...], N: int) -> bool:
    """Whether a kernel's chunks cut their products (`_matmul`'s ``cut``), given the
    largest of their products, a (``a_shape``) @ (K, N): many chunks (>= _MANY_CHUNKS) are
    the threads' blocks, each product whole inside; one chunk runs with its copy and
    product cut into blocks (as far as `_product_blocks` cuts it); a few run one after
    another, cut likewise, when each product is cut into more blocks than there are
    chunks, else they are the threads' blocks after all: as many cores busy, without a
    hand-off between each chunk's copy and product (a product cut into narrow slabs runs
    below BLAS speed at any thread count). Decided by the shapes alone, so the bits never
    depend on the thread count."""
    if len(blocks) >= _MANY_CHUNKS:
        return False
    return len(blocks) == 1 or len(_product_blocks(a_shape, N)) > len(blocks)


def _run_chunks(body: Callable[[int, int], None], blocks: list[_threads.Span], cut: bool) -> None:
    """Run a kernel's chunks as `_cut` decided: one after another if ``cut`` (each body
    threads its own copy and product), else the chunks on the threads."""
    if cut or len(blocks) == 1:
        for span in blocks:
            body(*span)
    else:
        _threads.parallel(body, blocks)


def _even(total: int, step: int) -> int:
    """The step that cuts ``total`` into as many chunks as ``step`` does, all of nearly one
    size: no thin last chunk (a 32-row image in chunks of 28 rows left a 4-row product, far
    below BLAS speed)."""
    pieces = -(-total // max(1, step))
    return -(-total // pieces)


def _image_chunks(
    B: int, Ho: int, images: int, rows: int
) -> tuple[int, int, list[tuple[int, int, int, int]]]:
    """Chunks of ``images`` whole images, or (``images`` = 1) of ``rows`` output rows of one
    image, both evened out (`_even`): (images, rows, [(b0, b1, i0, i1), ...])."""
    images, rows = _even(B, images), _even(Ho, rows)
    chunks = [
        (b0, min(B, b0 + images), i0, min(Ho, i0 + rows))
        for b0 in range(0, B, images)
        for i0 in range(0, Ho, rows)
    ]
    return images, rows, chunks


def _correlate_im2col(
    xp: np.ndarray, w: np.ndarray, stride: Pair, dilation: Pair, out: np.ndarray | None = None
) -> np.ndarray:
    """im2col: copy the windows into columns cols[g, (c,a,e), (b,i,j)], then y = W · cols.

    W is w as a stack of G matrices O × (C·f1·f2), one per group. The columns are built in
    chunks of about _CHUNK_BYTES (blocks of images, or of output rows of one image), each
    multiplied as it is built; a block of small images takes up to four budgets to hold
    _WIDE_COLUMNS columns. For a 1×1 kernel at stride 1 the input already is the column
    matrix (one batched product, nothing copied); for stride = kernel without dilation the
    windows tile the input and the copy is a pure permutation (space-to-depth). With
    ``out`` (y's shape, any strides), each chunk's product is copied there from a kept
    block while it is in cache, and ``out`` is returned.
    """
    G, B, C = xp.shape[:3]
    _, O, _, f1, f2 = w.shape
    Ho, Wo = _valid_size(xp.shape, w.shape, stride, dilation)
    K = C * f1 * f2
    wmat = w.reshape(G, O, K)
    assert out is None or out.shape == (G, B, O, Ho, Wo), "out must have y's shape"
    if (f1, f2) == (1, 1) and stride == (1, 1):  # the input is the column matrix
        y = np.empty((G, B, O, Ho, Wo), dtype=xp.dtype)
        _threads.matmul(wmat[:, None], xp.reshape(G, B, C, Ho * Wo), y.reshape(G, B, O, -1))
        return _delivered(y, out)
    y = np.empty((G, B, O, Ho, Wo), dtype=xp.dtype) if out is None else out
    # view[g, c, a, e, b, i, j] = xp[g, b, c, s_h i + d_h a, s_w j + d_w e]
    view = windows(xp, (f1, f2), stride, dilation, (Ho, Wo)).transpose(0, 2, 5, 6, 1, 3, 4)
    budget = _CHUNK_BYTES
    per_image = G * K * Ho * Wo * xp.itemsize
    if per_image <= budget:
        # as many images as the budget holds, or enough for _WIDE_COLUMNS columns where four
        # budgets hold them: a deep layer's small maps (7 × 7) otherwise make thin products
        wide = min(-(-_WIDE_COLUMNS // (Ho * Wo)), 4 * budget // per_image)
        images, rows = max(1, min(B, max(budget // per_image, wide))), Ho
    else:
        images, rows = 1, max(1, min(Ho, budget // (G * K * Wo * xp.itemsize)))
    images, rows, chunks = _image_chunks(B, Ho, images, rows)
    straight = images == 1 and out is None  # the product straight into y's rows
    buffers = _scratch("im2col columns", G * K * images * rows * Wo, xp.dtype)
    outs = _scratch("im2col outputs", 0 if straight else G * O * images * rows * Wo, xp.dtype)

    blocks = _threads.spans(len(chunks), 1)
    cut = _cut(blocks, wmat.shape, images * rows * Wo)

    def chunk(k0: int, k1: int) -> None:
        for b0, b1, i0, i1 in chunks[k0:k1]:
            n = (b1 - b0) * (i1 - i0) * Wo
            cols = buffers()[: G * K * n].reshape(G, C, f1, f2, b1 - b0, i1 - i0, Wo)
            copy(cols, view[:, :, :, :, b0:b1, i0:i1])
            if straight:  # one image: its rows of y are contiguous
                y_rows = y[:, b0, :, i0:i1].reshape(G, O, n)
                _matmul(wmat, cols.reshape(G, K, n), y_rows, cut)
            else:
                block = outs()[: G * O * n].reshape(G, O, b1 - b0, i1 - i0, Wo)
                _matmul(wmat, cols.reshape(G, K, n), block.reshape(G, O, n), cut)
                y[:, b0:b1, :, i0:i1] = block.transpose(0, 2, 1, 3, 4)

    _run_chunks(chunk, blocks, cut)
    return y


def _correlate_im2col_bl(xp: np.ndarray, w: np.ndarray, stride: Pair, dilation: Pair) -> np.ndarray:
    """im2col on a batch-last copy of the input: cols[g, (c,a,e), (i,j,b)], then y = W · cols.

    The copy into columns runs along the innermost axis of the view; in NCHW that is one
    row of W_out values, which for small images is too short to copy fast. With the batch
    innermost (X[g, c, u, v, b], one transposed copy of the input) a run is W_out·B values
    at stride 1, B at a larger stride. The product gives y as (G, O, H_out, W_out, B),
    transposed back at the end. Chunked over output rows like "im2col".
    """
    G, B, C = xp.shape[:3]
    _, O, _, f1, f2 = w.shape
    Ho, Wo = _valid_size(xp.shape, w.shape, stride, dilation)
    K = C * f1 * f2
    X = batch_last(xp, "im2col_bl input")
    view = windows(X, (f1, f2), stride, dilation, (Ho, Wo), batch_last=True)
    view = view.transpose(0, 1, 4, 5, 2, 3, 6)  # (G, C, f1, f2, Ho, Wo, B)
    wmat = w.reshape(G, O, K)
    out = np.empty((G, O, Ho, Wo, B), dtype=xp.dtype)
    # rows per chunk: within the cache budget, but at least _MIN_COLUMNS columns when the
    # budget allows it (a filter gradient has only W_out·B per row: a thin product)
    per_row = G * K * Wo * B * xp.itemsize
    rows = max(
        1,
        _CHUNK_BYTES // per_row,
        min(-(-_MIN_COLUMNS // (Wo * B)), _CHUNK_BYTES * 4 // per_row),
    )
    rows = _even(Ho, min(Ho, rows))
    buffers = _scratch("im2col_bl columns", G * K * rows * Wo * B, xp.dtype)
    blocks = _threads.spans(Ho, rows)
    cut = _cut(blocks, wmat.shape, rows * Wo * B)

    def chunk(i0: int, i1: int) -> None:  # output rows [i0, i1)
        n = (i1 - i0) * Wo * B
        cols = buffers()[: G * K * n].reshape(G, C, f1, f2, i1 - i0, Wo, B)
        copy(cols, view[:, :, :, :, i0:i1])
        _matmul(wmat, cols.reshape(G, K, n), out[:, :, i0:i1].reshape(G, O, n), cut)

    _run_chunks(chunk, blocks, cut)
    return out.transpose(0, 4, 1, 2, 3)


def _correlate_shifted(xp: np.ndarray, w: np.ndarray, stride: Pair, dilation: Pair) -> np.ndarray:
    """Shifted matrix products: y = Σ_(a,e) W_ae · (the input shifted by tap (a, e)).

    Lay the input out as X[g, c, (b, u, v)] (per group, C rows, each all images one after
    another, flat), after splitting it into its s_h·s_w stride phases so that a strided
    window becomes a stride-1 one. On that layout tap (a, e) is a plain shift of every row by
    off = (d_h a // s_h)·Wq + d_w e // s_w, so W_ae (a stack of G matrices O × C) multiplies
    a slice of X itself: nothing is copied per tap. The sum builds y on a "wide" grid
    n = (b, i, j) with j < Wq; columns j >= Wo (and rows i >= Ho) are scratch, never read
    back. Each product is C deep, so this pays where im2col's copy costs more than its
    product: few output channels.
    """
    G, B, C = xp.shape[:3]
    _, O, _, f1, f2 = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    Ho, Wo = _valid_size(xp.shape, w.shape, stride, dilation)
    P = phase_split(xp, stride)  # (G, B, C, sh, sw, Hq, Wq)
    Hq, Wq = P.shape[-2:]
    image = Hq * Wq
    X = contiguous(P.transpose(3, 4, 0, 2, 1, 5, 6)).reshape(sh * sw, G, C, B * image)
    shifts = [
        ((dh * a % sh) * sw + dw * e % sw, (dh * a // sh) * Wq + dw * e // sw)
        for a in range(f1)
        for e in range(f2)
    ]
    w_taps = np.ascontiguousarray(w.transpose(3, 4, 0, 1, 2)).reshape(f1 * f2, G, O, C)
    last = (B - 1) * image + (Ho - 1) * Wq + Wo  # wide columns past this are never needed
    wide = np.empty((G, O, B * image), dtype=xp.dtype)
    step = max(Wq, _SHIFTED_COLUMNS)
    terms = _scratch("shifted terms", (G, O, min(step, last)), xp.dtype)

    def block(n0: int, n1: int) -> None:  # wide columns [n0, n1)
        n = n1 - n0
        acc, t = wide[:, :, n0:n1], terms()[:, :, :n]
        for k, (phase, off) in enumerate(shifts):
            x_shifted = X[phase, :, :, n0 + off : n0 + off + n]
            if k == 0:
                np.matmul(w_taps[k], x_shifted, out=acc)
            else:
                np.matmul(w_taps[k], x_shifted, out=t)
                acc += t

    _threads.parallel(block, _threads.spans(last, step))
    grid = wide.reshape(G, O, B, Hq, Wq)[..., :Ho, :Wo]
    return grid.transpose(0, 2, 1, 3, 4)


_SHIFTED_COLUMNS = _machine.BUDGETS.shifted_columns  # wide columns per block: in L2


def _correlate_im2row(xp: np.ndarray, w: np.ndarray, stride: Pair, dilation: Pair) -> np.ndarray:
    """im2row: the windows as rows, rows[g, (b,i,j), (c,a,e)], then y = rows · Wᵀ.

    im2col with the roles of the matrices swapped: one row per output position, one column
    per filter element. Made for a huge filter and a tiny output (the filter gradient's
    correlation): the product has B·H_out·W_out rows and is C·f1·f2 deep. The rows are
    copied in chunks of about _CHUNK_BYTES, over blocks of images and of channels (of
    filter rows, for one channel too large), the partial products summed.
    """
    G, B, C = xp.shape[:3]
    _, O, _, f1, f2 = w.shape
    Ho, Wo = _valid_size(xp.shape, w.shape, stride, dilation)
    # view[g, b, i, j, c, a, e] = xp[g, b, c, s_h i + d_h a, s_w j + d_w e]
    view = windows(xp, (f1, f2), stride, dilation, (Ho, Wo)).transpose(0, 1, 3, 4, 2, 5, 6)
    per_channel = G * Ho * Wo * f1 * f2 * xp.itemsize  # one image, one channel, all groups
    if per_channel * C <= _CHUNK_BYTES:
        images = max(1, min(B, _CHUNK_BYTES // (per_channel * C)))
        blocks = [(0, C, 0, f1)]
    else:
        images = 1
        if per_channel <= _CHUNK_BYTES:
            channels = _CHUNK_BYTES // per_channel
            blocks = [(c0, min(C, c0 + channels), 0, f1) for c0 in range(0, C, channels)]
        else:
            filter_rows = max(1, _CHUNK_BYTES // (G * Ho * Wo * f2 * xp.itemsize))
            blocks = [
                (c, c + 1, a0, min(f1, a0 + filter_rows))
                for c in range(C)
                for a0 in range(0, f1, filter_rows)
            ]
    out = np.empty((G, B * Ho * Wo, O), dtype=xp.dtype)
    terms = _scratch("im2row terms", (G, images * Ho * Wo, O) if len(blocks) > 1 else 0, xp.dtype)

    image_blocks = _threads.spans(B, images)
    first = blocks[0]  # the deepest product: (images·H_out·W_out) × (its filter elements)
    depth = (first[1] - first[0]) * (first[3] - first[2]) * f2
    cut = _cut(image_blocks, (G, images * Ho * Wo, depth), O)

    def images_block(b0: int, b1: int) -> None:  # images [b0, b1)
        acc = out[:, b0 * Ho * Wo : b1 * Ho * Wo]
        n = acc.shape[1]
        for k, (c0, c1, a0, a1) in enumerate(blocks):
            windows_rows = np.ascontiguousarray(view[:, b0:b1, :, :, c0:c1, a0:a1])
            windows_rows = windows_rows.reshape(G, n, -1)
            w_block = w[:, :, c0:c1, a0:a1].reshape(G, O, -1)
            if k == 0:
                _matmul(windows_rows, w_block.transpose(0, 2, 1), acc, cut)
            else:
                t = terms()[:, :n]
                _matmul(windows_rows, w_block.transpose(0, 2, 1), t, cut)
                acc += t

    _run_chunks(images_block, image_blocks, cut)
    return out.reshape(G, B, Ho, Wo, O).transpose(0, 1, 4, 2, 3)


_PARTIALS = 8  # "im2row_sum" adds its channel blocks into at most this many partial sums


def _correlate_im2row_sum(
    xp: np.ndarray, w: np.ndarray, stride: Pair, dilation: Pair
) -> np.ndarray:
    """im2row over blocks of channels, all images at once: y = Σ_blocks rows_k · W_kᵀ.

    For a block k of channels, rows_k[g, (b,i,j), (c,a,e)] = xp[g, b, c, s_h i + d_h a,
    s_w j + d_w e] (every image, every output position; the block's channels, or one
    channel's block of filter rows) and W_k[g, o, (c,a,e)] is w's part for them. Made for
    the filter gradient of a layer with many input channels (the correlation's images) and
    a big batch (its channels): "im2row" would make one product per image, only H_out·W_out
    rows tall; here each product is B·H_out·W_out rows by the block's C·f1·f2 deep, at
    BLAS speed, and the sum runs over the long axis. Each block's rows take about
    _CHUNK_BYTES. The blocks are summed into min(_PARTIALS, blocks) partial sums of
    consecutive blocks, each in block order, on the threads; the partials are then added in
    order: the shapes alone fix every addition, so the bits do not depend on the threads.
    """
    G, B, C = xp.shape[:3]
    _, O, _, f1, f2 = w.shape
    Ho, Wo = _valid_size(xp.shape, w.shape, stride, dilation)
    M = B * Ho * Wo
    # view[g, b, i, j, c, a, e] = xp[g, b, c, s_h i + d_h a, s_w j + d_w e]
    view = windows(xp, (f1, f2), stride, dilation, (Ho, Wo)).transpose(0, 1, 3, 4, 2, 5, 6)
    per_channel = G * M * f1 * f2 * xp.itemsize
    if per_channel <= _CHUNK_BYTES:
        step = _even(C, max(1, _CHUNK_BYTES // per_channel))
        blocks = [(c0, min(C, c0 + step), 0, f1) for c0 in range(0, C, step)]
    else:
        rows = _even(f1, max(1, _CHUNK_BYTES // (G * M * f2 * xp.itemsize)))
        blocks = [(c, c + 1, a0, min(f1, a0 + rows)) for c in range(C) for a0 in range(0, f1, rows)]
    groups = _threads.even_spans(len(blocks), _PARTIALS)
    if not w.flags.c_contiguous and w.nbytes <= _threads._SCRATCH_BYTES:
        # (a filter gradient's filter: the output gradient, moved) copied once into a kept
        # buffer the blocks read, each block's part then a view; a larger one is copied by
        # each block, its part only
        w_c = _threads.scratch("im2row_sum filter", w.shape, w.dtype)
        copy(w_c, w)
        w = w_c
    partials = np.empty((len(groups), G, M, O), dtype=xp.dtype)
    depth = max((c1 - c0) * (a1 - a0) * f2 for c0, c1, a0, a1 in blocks)
    columns = _scratch("im2row_sum rows", G * M * depth, xp.dtype)
    terms = _scratch("im2row_sum terms", (G, M, O), xp.dtype)

    def partial(k: int, first: int, last: int) -> None:  # blocks [first, last) into partials[k]
        acc = partials[k]
        for n, (c0, c1, a0, a1) in enumerate(blocks[first:last]):
            K = (c1 - c0) * (a1 - a0) * f2  # this block's depth
            rows_k = columns()[: G * M * K].reshape(G, B, Ho, Wo, c1 - c0, a1 - a0, f2)
            np.copyto(rows_k, view[:, :, :, :, c0:c1, a0:a1])
            w_k = w[:, :, c0:c1, a0:a1].reshape(G, O, K).transpose(0, 2, 1)
            product = acc if n == 0 else terms()
            _matmul(rows_k.reshape(G, M, K), w_k, product, cut=False)
            if n:
                acc += product

    def body(k0: int, k1: int) -> None:  # partial sums [k0, k1)
        for k in range(k0, k1):
            partial(k, *groups[k])

    _threads.parallel(body, _threads.spans(len(groups), 1))
    out = partials[0]
    for k in range(1, len(groups)):
        out += partials[k]
    return out.reshape(G, B, Ho, Wo, O).transpose(0, 1, 4, 2, 3)


def _correlate_im2row_cl(xp: np.ndarray, w: np.ndarray, stride: Pair, dilation: Pair) -> np.ndarray:
    """im2row on channels-last copies: rows[g, (b,i,j), (a,e,c)], then y = Σ_k rows_k · F_kᵀ.

    rows[g, (b,i,j), (a,e,c)] = X[g, b, s_h i + d_h a, s_w j + d_w e, c] for X the input laid
    out channels-last, X[g, b, u, v, c] = xp[g, b, c, u, v], and F[g, o, (a,e,c)] = w[g, o, c,
    a, e], the filter laid out the same way. A window's row of taps is then one run in X, f2·C
    values long at d_w = 1 (C at a larger dilation), where "im2col_bl" copies runs of W_out·B
    and "im2row" runs of f2. Made for the filter gradient of a layer with few input channels
    (the correlation's images, B) and a big batch (its channels, C), LeNet's second layer:
    rows 30 values long become 640. The product is B·H_out·W_out tall (the filter's C_in·f1·f2
    entries), O wide and f1·f2·C deep; taken in chunks of filter rows a whose rows hold about
    _CHUNK_BYTES, the partial products added in chunk order (the shapes alone fix the chunks,
    so the bits do not depend on the thread count).
    """
    G, B, C = xp.shape[:3]
    _, O, _, f1, f2 = w.shape
    Ho, Wo = _valid_size(xp.shape, w.shape, stride, dilation)
    M = B * Ho * Wo
    X = channels_last(xp, "im2row_cl input")  # (G, B, H, W, C)
    F = channels_last(w, "im2row_cl filter")  # (G, O, f1, f2, C)
    # view[g, b, i, j, a, e, c] = X[g, b, s_h i + d_h a, s_w j + d_w e, c]
    view = windows(X, (f1, f2), stride, dilation, (Ho, Wo), batch_last=True)
    per_filter_row = G * M * f2 * C * xp.itemsize
    step = _even(f1, max(1, _CHUNK_BYTES // per_filter_row))
    out = np.empty((G, M, O), dtype=xp.dtype)
    columns = _scratch("im2row_cl rows", G * M * step * f2 * C, xp.dtype)
    terms = _scratch("im2row_cl terms", (G, M, O) if step < f1 else 0, xp.dtype)
    for a0 in range(0, f1, step):
        a1 = min(f1, a0 + step)
        K = (a1 - a0) * f2 * C
        rows = columns()[: G * M * K].reshape(G, B, Ho, Wo, a1 - a0, f2, C)
        copy(rows, view[:, :, :, :, a0:a1])
        F_k = F[:, :, a0:a1].reshape(G, O, K).transpose(0, 2, 1)
        if a0 == 0:
            _matmul(rows.reshape(G, M, K), F_k, out)
        else:
            t = terms()
            _matmul(rows.reshape(G, M, K), F_k, t)
            out += t
    return out.reshape(G, B, Ho, Wo, O).transpose(0, 1, 4, 2, 3)


def _correlate_per_output(
    xp: np.ndarray, w: np.ndarray, stride: Pair, dilation: Pair
) -> np.ndarray:
    """One matrix product per output position: y[:, :, :, i, j] = X_ij · W_flatᵀ.

    Split the input into its d_h·d_w dilation phases and flatten each image's channels and
    pixels into one row, X[g, b, phase, (c, u, v)]; pad the filter to the same grid,
    W_flat[g, o, (c, u, v)] (zero for u >= f1 or v >= f2). Output (i, j) then reads one
    contiguous slice of every row, so y[:, :, :, i, j] is a single stack of products
    B × L by L × O with nothing copied. The zero weights multiply pixels outside the window,
    which is exact only while those are finite (0·inf is NaN): a non-finite result is
    recomputed by "im2row" (see _exact_unless_non_finite). The loop runs over output
    positions, so this is the method for a huge kernel and a tiny output: the filter
    gradient's correlation, whose output is the f1 × f2 filter itself.
    """
    G, B, C = xp.shape[:3]
    _, O, _, f1, f2 = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    Ho, Wo = _valid_size(xp.shape, w.shape, stride, dilation)
    P = phase_split(xp, dilation)  # (G, B, C, dh, dw, Hq, Wq)
    Hq, Wq = P.shape[-2:]
    X = contiguous(P.transpose(0, 1, 3, 4, 2, 5, 6)).reshape(G, B, dh * dw, C * Hq * Wq)
    span = (C - 1) * Hq * Wq + (f1 - 1) * Wq + f2  # the flat extent the filter covers
    w_flat = _threads.scratch("per_output filter", (G, O, C, Hq, Wq), w.dtype)
    w_flat.fill(0)
    w_flat[..., :f1, :f2] = w
    w_flat_t = w_flat.reshape(G, O, C * Hq * Wq)[:, :, :span].transpose(0, 2, 1)
    out = np.empty((Ho, Wo, G, B, O), dtype=xp.dtype)

    blocks = _threads.spans(Ho * Wo, 1)
    cut = _cut(blocks, (G, B, span), O)

    def positions(k0: int, k1: int) -> None:  # output positions k = i·Wo + j in [k0, k1)
        with np.errstate(invalid="ignore"):  # a 0·inf here is recomputed below
            for i, j in (divmod(k, Wo) for k in range(k0, k1)):
                phase = (sh * i % dh) * dw + sw * j % dw
                off = (sh * i // dh) * Wq + sw * j // dw
                _matmul(X[:, :, phase, off : off + span], w_flat_t, out[i, j], cut)

    _run_chunks(positions, blocks, cut)
    if not _all_finite(out):  # see `_exact_unless_non_finite`
        return _correlate_im2row(xp, w, stride, dilation)
    return out.transpose(2, 3, 4, 0, 1)


def _correlate_dots(
    xp: np.ndarray,
    w: np.ndarray,
    stride: Pair,
    dilation: Pair,
    window: tuple[Pair, Pair] | None = None,
) -> np.ndarray:
    """One dot product per pair of planes and output position, summed over the channels:

        y[g,b,o,i,j] = Σ_c ⟨W[g,o,c], X[g,b,c] shifted to output (i, j)⟩.

    Split the input into its d_h·d_w dilation phases (as "per_output") and flatten each
    plane; lay the filter on the same row width Wq, W[g,o,c,(u,v)] (zero for v >= f2). Output
    (i, j) then reads one contiguous run of its phase's plane, and the outputs that share a
    phase lie on a strided grid of offsets (``_tap_classes`` with the roles of stride and
    dilation swapped), one strided view for all of them. One ``np.einsum`` takes, plane pair
    by plane pair, the dot product with every output position: both planes stay in cache
    while all positions read them, where "per_output" streams the whole input once per
    position. The filter gradient of a depthwise convolution (per group one image, one
    output channel, the batch as channels). The zero weights multiply pixels outside the
    windows, exact only while those are finite: a non-finite result is recomputed by
    "im2row" (see _exact_unless_non_finite). Blocks of channels keep the per-channel dot
    products within _CHUNK_BYTES. With ``window``, the phases are those of xp's window, zero
    outside xp, made in one copy (as in "planes"), or block by block when that copy would
    be large (`_phases_copied_once`).
    """
    G, B, C = xp.shape[:3]
    _, O, _, f1, f2 = w.shape
    length = window[1] if window is not None else xp.shape[-2:]
    Ho, Wo = _valid_size((*xp.shape[:-2], *length), w.shape, stride, dilation)
    (dh, dw) = dilation
    Hq, Wq = -(-length[0] // dh), -(-length[1] // dw)
    X = _phases_copied_once(xp, window, dilation, (G, B, C, dh * dw, Hq * Wq), "dots phases")
    span = (f1 - 1) * Wq + f2  # the flat extent the filter covers
    w_wide = np.empty_like(w, shape=(G, O, C, f1, Wq), order="K")  # in w's memory order
    w_wide[..., :f2] = w
    w_wide[..., f2:] = 0
    w_flat = w_wide.reshape(G, O, C, f1 * Wq)[..., :span]
    y = np.empty((G, B, O, Ho, Wo), dtype=xp.dtype)
    # output positions are the taps of a kernel (Ho, Wo) at stride d and dilation s
    classes = _tap_classes((Ho, Wo), dilation, stride, Wq)

    def views(Xk: np.ndarray) -> list[tuple[slice, slice, np.ndarray]]:
        """Per class of output positions (rows, columns), the flat runs of the planes Xk
        (G', B', C, dh·dw, Hq·Wq) they read, V[g, b, c, i', j', n] (`_shift_views`)."""
        shifted = _shift_views(Xk, classes, (Ho, Wo), span)
        return [(rows, cols, v) for (rows, cols, *_), v in zip(classes, shifted, strict=True)]

    # blocks of groups (of images, for one group), each reading about _CHUNK_BYTES of planes
    by_groups = G > 1
    per_unit = (1 if by_groups else G) * (B if by_groups else 1) * C * Hq * Wq * dh * dw
    unit_blocks = _threads.spans(G if by_groups else B, _CHUNK_BYTES // (per_unit * xp.itemsize))
    per_channel = (unit_blocks[0][1] * (B if by_groups else G)) * O * Ho * Wo * xp.itemsize
    channels = max(1, min(C, _CHUNK_BYTES // per_channel))
    whole = views(X) if X is not None else None
    largest = max(k1 - k0 for k0, k1 in unit_blocks)
    copied = _scratch("dots phases", largest * per_unit if X is None else 0, xp.dtype)

    def block(k0: int, k1: int) -> None:  # groups (else images) [k0, k1)
        g, b = (slice(k0, k1), slice(None)) if by_groups else (slice(None), slice(k0, k1))
        if whole is not None:
            block_views = [(rows, cols, view[g, b]) for rows, cols, view in whole]
        else:  # this block's phases, copied into its thread's buffer
            part = xp[g, b]
            buffer = copied()[: (k1 - k0) * per_unit].reshape(*part.shape[:3], dh * dw, -1)
            Xk = flat_phases(part, window, dilation, buffer)
            assert Xk is not None
            block_views = views(Xk)
        for rows, cols, view in block_views:
            out = y[g, b, :, rows, cols]
            for c0 in range(0, C, channels):
                c1 = min(C, c0 + channels)
                # C order: plane pair by plane pair, every position, the run n innermost
                with np.errstate(invalid="ignore"):  # a 0·inf here is recomputed below
                    dots = np.einsum(
                        "gocn,gbcijn->gbocij",
                        w_flat[g, :, c0:c1],
                        view[:, :, c0:c1],
                        order="C",
                    )
                if c0 == 0:
                    np.sum(dots, axis=3, out=out)
                else:
                    out += dots.sum(axis=3)

    _threads.parallel(block, unit_blocks)
    if not _all_finite(y):  # see `_exact_unless_non_finite`
        explicit = xp if window is None else crop_or_pad(xp, *window)
        return _correlate_im2row(explicit, w, stride, dilation)
    return y


def _correlate_scatter(
    x: np.ndarray,
    w: np.ndarray,
    stride: Pair,
    dilation: Pair,
    window: tuple[Pair, Pair] | None = None,
) -> np.ndarray:
    """Input-stationary: Z = W_all · X over the pixels that hold data, then y = Σ_(a,e) Z_ae
    added at the outputs whose window reads each pixel through tap (a, e).

    The correlation is of X̃ = the ``window`` (start, length) of x, zero outside x (all of x
    when None), as ``crop_or_pad`` would build it. W_all stacks the taps' O × C matrices,
    (f1·f2·O) × C per group; with X batch-last, X[g, c, (u, v, b)], one product gives every
    tap's contribution of every real pixel, Z[g, (a, e, o), (u, v, b)]. Pixel u of the window
    meets tap a at output i = (u - d_h a)/s_h when that is a whole number in [0, H_out); each
    tap adds its slice of Z to those outputs. The zeros outside x are never multiplied: made
    for the input gradient's full correlation of a small output gradient, whose window is
    mostly padding: there the zeros stand for outputs that do not exist, so they contribute
    exactly nothing, even against a non-finite w (where an explicit 0·inf would be NaN).
    Built in chunks of rows of X, Z at most about _SCATTER_BYTES.
    """
    G, B, C, h, wd = x.shape
    _, O, _, f1, f2 = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    (r0, c0), (lr, lc) = window if window is not None else ((0, 0), (h, wd))
    Ho, Wo = _valid_size((lr, lc), w.shape, stride, dilation)
    y = np.zeros((G, O, Ho, Wo, B), dtype=x.dtype)
    u0, u1, v0, v1 = max(r0, 0), min(r0 + lr, h), max(c0, 0), min(c0 + lc, wd)
    if u0 < u1 and v0 < v1:
        # X[g, c, u, v, b]: the data part of the window, batch-last
        X = batch_last(x[..., u0:u1, v0:v1], "scatter input")
        w_all = np.ascontiguousarray(w.transpose(0, 3, 4, 1, 2)).reshape(G, f1 * f2 * O, C)
        width = (v1 - v0) * B
        per_row = G * f1 * f2 * O * width * x.itemsize
        rows = max(1, min(u1 - u0, _SCATTER_BYTES // per_row))
        # Z kept per thread across calls (up to `_threads.scratch`'s limit): a fresh
        # multi-MiB buffer costs more in page faults than the product writing it
        buffer = _threads.scratch("scatter Z", G * f1 * f2 * O * rows * width, x.dtype)
        # the adds of a chunk, threaded over blocks of groups (of output channels for one
        # group): each block adds every tap to its own part of y, in tap order, so the
        # blocks do not change a bit and may follow the thread count: one block per thread,
        # as few (per-call costly) slices as can be
        by_groups = G > 1
        out_blocks = _threads.even_spans(G if by_groups else O, _threads.current())
        for q0 in range(0, u1 - u0, rows):
            q1 = min(u1 - u0, q0 + rows)
            Z = buffer[: G * f1 * f2 * O * (q1 - q0) * width].reshape(G, f1 * f2 * O, -1)
            _matmul(w_all, X[:, :, q0:q1].reshape(G, C, -1), Z)
            Z = Z.reshape(G, f1, f2, O, q1 - q0, v1 - v0, B)
            hits = []
            for a in range(f1):
                hit_h = _hits(u0 + q0 - r0 - dh * a, q1 - q0, sh, Ho)
                if hit_h is None:
                    continue
                for e in range(f2):
                    hit_w = _hits(v0 - c0 - dw * e, v1 - v0, sw, Wo)
                    if hit_w is not None:
                        hits.append((a, e, hit_h, hit_w))
            y_add, Z_add = y, Z
            if sw == 1:  # columns and batch as one run: (v, b) flat, B·count long per add
                y_add = y.reshape(G, O, Ho, Wo * B)
                Z_add = Z.reshape(G, f1, f2, O, q1 - q0, (v1 - v0) * B)
                hits = [
                    (a, e, hit_h, (_times(k_w, B), _times(i_w, B)))
                    for a, e, hit_h, (k_w, i_w) in hits
                ]
            add = functools.partial(_add_hits, y_add, Z_add, hits, by_groups)
            _threads.parallel(add, out_blocks)
    return y.transpose(0, 4, 1, 2, 3)


def _correlate_scatter_rows(
    x: np.ndarray,
    w: np.ndarray,
    stride: Pair,
    dilation: Pair,
    window: tuple[Pair, Pair] | None = None,
) -> np.ndarray:
    """Scatter along the rows, im2col along the width: Z = W_rows · cols over the rows that
    hold data, then y = Σ_a Z_a added at the output rows that tap row a reaches.

    The correlation is of X̃ = the ``window`` (start, length) of x, zero outside x (all of x
    when None). cols[g, (c, e), (u, j, b)] = X̃[g, b, c, u, s_w j + d_w e] for the window's
    rows u that lie in x only (batch-last, like im2col_bl's columns, the width's zeros
    copied in), and W_rows[g, (a, o), (c, e)] = w[g, o, c, a, e]: one product gives every
    filter row's contribution of every data row, Z[g, (a, o), (u, j, b)], and row u meets
    filter row a at output i = (u - d_h a)/s_h when that is a whole number in [0, H_out),
    as in "scatter" — whose product is only C deep and f2 times larger. The rows outside x
    are never multiplied (they stand for outputs that do not exist: the input gradient's);
    the width's zeros are, so a non-finite w goes to "scatter" (`_correlate`). Built in
    chunks of data rows, cols and Z at most about _SCATTER_BYTES together.
    """
    G, B, C, h, wd = x.shape
    _, O, _, f1, f2 = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    (r0, c0), (lr, lc) = window if window is not None else ((0, 0), (h, wd))
    Ho, Wo = _valid_size((lr, lc), w.shape, stride, dilation)
    y = np.zeros((G, O, Ho, Wo * B), dtype=x.dtype)
    u0, u1 = max(r0, 0), min(r0 + lr, h)
    if u0 < u1:
        # X[g, c, q, v, b]: the window's data rows
        X = batch_last(x[..., u0:u1, :], "scatter_rows input")
        # tap e reads x's column v = c0 + d_w e + s_w j for output j: those inside x
        taps = [_hits(-(c0 + dw * e), wd, sw, Wo) for e in range(f2)]
        w_rows = np.ascontiguousarray(w.transpose(0, 3, 1, 2, 4)).reshape(G, f1 * O, C * f2)
        width = Wo * B
        per_row = G * (C * f2 + f1 * O) * width * x.itemsize
        rows = max(1, min(u1 - u0, _SCATTER_BYTES // per_row))
        columns = _threads.scratch("scatter_rows cols", G * C * f2 * rows * width, x.dtype)
        products = _threads.scratch("scatter_rows Z", G * f1 * O * rows * width, x.dtype)
        by_groups = G > 1  # the adds' blocks, as scatter's
        out_blocks = _threads.even_spans(G if by_groups else O, _threads.current())
        for q0 in range(0, u1 - u0, rows):
            q1 = min(u1 - u0, q0 + rows)
            n = (q1 - q0) * width
            cols = columns[: G * C * f2 * n].reshape(G, C, f2, q1 - q0, Wo, B)
            for e, tap in enumerate(taps):  # cols[g, c, e, q, j, b] = X̃[g, b, c, q, j, e]
                if tap is None:
                    cols[:, :, e] = 0
                    continue
                (k, j) = tap
                cols[:, :, e, :, : j.start] = 0
                cols[:, :, e, :, j.stop :] = 0
                copy(cols[:, :, e, :, j], X[:, :, q0:q1, k])
            Z = products[: G * f1 * O * n].reshape(G, f1 * O, n)
            _matmul(w_rows, cols.reshape(G, C * f2, n), Z)
            hits = []
            for a in range(f1):
                hit_h = _hits(u0 + q0 - r0 - dh * a, q1 - q0, sh, Ho)
                if hit_h is not None:
                    hits.append((a, 0, hit_h, (slice(None), slice(None))))
            Z_add = Z.reshape(G, f1, 1, O, q1 - q0, width)
            add = functools.partial(_add_hits, y, Z_add, hits, by_groups)
            _threads.parallel(add, out_blocks)
    return y.reshape(G, O, Ho, Wo, B).transpose(0, 4, 1, 2, 3)


def _times(run: slice, B: int) -> slice:
    """A unit-step slice of positions as the slice of their (position, image) pairs, flat."""
    return slice(run.start * B, run.stop * B)


def _add_hits(
    y: np.ndarray,
    Z: np.ndarray,
    hits: list[tuple[int, int, tuple[slice, slice], tuple[slice, slice]]],
    by_groups: bool,
    k0: int,
    k1: int,
) -> None:
    """Scatter's adds for groups [k0, k1) (``by_groups``), else output channels [k0, k1): a
    disjoint part of y; tap (a, e)'s slice of Z at the outputs its pixels reach, in tap order."""
    g, o = (slice(k0, k1), slice(None)) if by_groups else (slice(None), slice(k0, k1))
    for a, e, (k_h, i_h), (k_w, i_w) in hits:
        y[g, o, i_h, i_w] += Z[g, a, e, o, k_h, k_w]


_SCATTER_BYTES = _machine.BUDGETS.scatter_bytes  # Z per chunk (docs/performance.md)


def _hits(t0: int, n: int, s: int, n_out: int) -> tuple[slice, slice] | None:
    """The pixels k in [0, n) with output i = (t0 + k)/s whole and in [0, n_out), as
    (slice of k, slice of i); None if no pixel reaches an output."""
    k0 = max(0, -t0)
    k0 += -(t0 + k0) % s
    k_last = min(n - 1, s * (n_out - 1) - t0)
    if k0 > k_last:
        return None
    count = (k_last - k0) // s + 1
    i0 = (t0 + k0) // s
    return slice(k0, k0 + s * (count - 1) + 1, s), slice(i0, i0 + count)


def depth_to_space(g: np.ndarray, w: np.ndarray, out_hw: Pair) -> np.ndarray:
    """The adjoint of a correlation whose windows tile its input (stride = kernel, no
    dilation, nothing padded before): g (B, O, H_out, W_out) and w (O, C, f1, f2) give
    X (B, C, m, n) = (B, C, *out_hw), every position of X reached by at most one output and
    one tap:

        X[b, c, f1·i + a, f2·j + e] = Σ_o w[o, c, a, e] · g[b, o, i, j]

    for i < H_out, j < W_out (m ≥ f1·H_out, n ≥ f2·W_out); the rows and columns beyond,
    which no window reads, are zero. The same sums as the stride phases' correlations, each
    X value one product's entry: per chunk of about _CHUNK_BYTES (images, or output rows
    of one image) one product T[b, (i, j), (c, a, e)] = g[b]ᵀ · w, whose rows hold for
    each (c, a) the f2 values X has side by side, then one copy puts those runs in place
    (`copy_runs`). The phases would write every cache line of X f1·f2 times, a few values
    each time (docs/performance.md, "Kernels that tile the input")."""
    B, O, Ho, Wo = g.shape
    _, C, f1, f2 = w.shape
    m, n = out_hw
    K = C * f1 * f2
    assert m >= f1 * Ho and n >= f2 * Wo, "the windows must lie inside X"
    out = np.empty((B, C, m, n), dtype=g.dtype)
    per_image = Ho * Wo * K * g.itemsize
    if per_image <= _CHUNK_BYTES:
        images, rows = min(B, _CHUNK_BYTES // per_image), Ho
    else:
        images, rows = 1, max(1, _CHUNK_BYTES // (Wo * K * g.itemsize))
    images, rows, chunks = _image_chunks(B, Ho, images, rows)
    w_rows = w.reshape(O, K)
    terms = _scratch("depth_to_space terms", images * rows * Wo * K, g.dtype)
    blocks = _threads.spans(len(chunks), 1)
    cut = _cut(blocks, (images, rows * Wo, O), K)

    def chunk(k0: int, k1: int) -> None:
        for b0, b1, i0, i1 in chunks[k0:k1]:
            nb, nr = b1 - b0, i1 - i0
            T = terms()[: nb * nr * Wo * K].reshape(nb, nr * Wo, K)
            g_rows = g[b0:b1, :, i0:i1].reshape(nb, O, nr * Wo)
            _matmul(g_rows.transpose(0, 2, 1), w_rows, T, cut)
            place = out[b0:b1, :, f1 * i0 : f1 * i1, : f2 * Wo].reshape(nb, C, nr, f1, Wo, f2)
            copy_runs(place, T.reshape(nb, nr, Wo, C, f1, f2).transpose(0, 3, 1, 4, 2, 5))

    _run_chunks(chunk, blocks, cut)
    if f1 * Ho < m:
        out[:, :, f1 * Ho :] = 0
    if f2 * Wo < n:
        out[:, :, : f1 * Ho, f2 * Wo :] = 0
    return out


# _exact_unless_non_finite: "per_output" and "dots" multiply pixels outside the windows by
# zero weights. That is exact while those pixels are finite; a NaN or ±inf among them makes
# 0·inf = NaN. But every pixel they multiply, by zero or not, reaches some output, and a
# non-finite factor makes its output non-finite (NaN or ±inf, whatever it is added to). So a
# result that is all finite is exact, and a non-finite one is recomputed by "im2row", which
# multiplies window pixels only: the check costs a pass over the small output, not the input.


def _all_finite(a: np.ndarray) -> bool:
    """Whether a (contiguous) holds no NaN or ±inf, checked in chunks to bound the mask."""
    flat = a.ravel(order="K")  # a view when a is contiguous in any order of its axes
    step = _CHUNK_BYTES
    return all(np.isfinite(flat[k : k + step]).all() for k in range(0, flat.size, step))


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


def _delivered(y: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """y, or with ``out`` y copied into it and ``out`` returned: a result where the caller
    asked for it."""
    if out is None:
        return y
    assert out.shape == y.shape, "out must have the result's shape (a copy would broadcast)"
    copy(out, y)
    return out


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
