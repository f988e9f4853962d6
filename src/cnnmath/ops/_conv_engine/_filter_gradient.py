"""The kernels for a tiny output and a huge filter (the filter gradient's correlation):
"im2row", "im2row_sum", "im2row_cl" (windows as rows), "per_output" (a product per
output position) and "dots" (a dot product per plane pair: depthwise layers).
"""

from __future__ import annotations

import numpy as np

from .. import _threads
from .._geometry import Pair
from .._windows import (
    channels_last,
    contiguous,
    copy,
    crop_or_pad,
    flat_phases,
    phase_split,
    windows,
)
from ._blocks import (
    _CHUNK_BYTES,
    _all_finite,
    _cut,
    _even,
    _matmul,
    _run_chunks,
    _scratch,
    _valid_size,
)
from ._flat import _phases_copied_once, _shift_views, _tap_classes


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
