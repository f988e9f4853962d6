"""The input gradient's kernels: "scatter" and "scatter_rows" (each real pixel's products
added at the outputs it reaches: the implicit padding never multiplied) and
`depth_to_space`, the adjoint where the windows tile the input.
"""

from __future__ import annotations

import functools

import numpy as np

from .. import _machine, _threads
from .._geometry import Pair
from .._windows import batch_last, copy, copy_runs
from ._blocks import _CHUNK_BYTES, _cut, _image_chunks, _matmul, _run_chunks, _scratch, _valid_size


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
