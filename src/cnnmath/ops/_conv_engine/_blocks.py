"""How the engine's kernels cut their work: the cache budgets, per-thread scratch buffers,
matrix products cut into shape-fixed blocks (`_matmul`, `_cut`), chunks of images and the
finiteness check of the methods that multiply zeros outside their windows.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import numpy as np

from .. import _machine, _threads
from .._geometry import Pair, output_size
from .._windows import contiguous, copy

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


def _delivered(y: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """y, or with ``out`` y copied into it and ``out`` returned: a result where the caller
    asked for it."""
    if out is None:
        return y
    assert out.shape == y.shape, "out must have the result's shape (a copy would broadcast)"
    copy(out, y)
    return out
