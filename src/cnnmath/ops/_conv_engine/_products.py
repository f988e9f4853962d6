"""The forward's matrix-product kernels: "im2col" (windows copied into columns, chunked),
"im2col_bl" (the same on a batch-last copy) and "shifted" (one product per tap on
shifted slices of a flat layout).
"""

from __future__ import annotations

import numpy as np

from .. import _machine, _threads
from .._geometry import Pair
from .._windows import batch_last, contiguous, copy, phase_split, windows
from ._blocks import (
    _CHUNK_BYTES,
    _MIN_COLUMNS,
    _WIDE_COLUMNS,
    _cut,
    _delivered,
    _even,
    _image_chunks,
    _matmul,
    _run_chunks,
    _scratch,
    _valid_size,
)


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
