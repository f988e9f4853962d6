"""The kernels without a matrix product, for products one or two deep (depthwise layers):
"taps" (scaled additions of shifted planes), "planes" (the same on flat stride phases,
one ``np.einsum`` pass per tap) and "einsum_cl" (one ``np.einsum`` along the groups).
"""

from __future__ import annotations

import numpy as np

from .. import _threads
from .._geometry import Pair
from .._windows import batch_last, crop_or_pad, flat_phases
from ._blocks import _TAPS_CHUNK_BYTES, _delivered, _scratch, _valid_size
from ._filter_gradient import _PARTIALS
from ._flat import _phases_copied_once, _shift_views, _tap_classes


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

        # one pass, nothing kept in cache between passes: one call per thread
        _threads.parallel(product, _threads.pass_spans(Ho, y.size))
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
