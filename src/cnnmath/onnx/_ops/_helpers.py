"""Small helpers the ops and converters share: axes read as 0 … rank−1, the float test,
broadcasting checks, the memory guard that refuses (or stops folding) an op whose result would
not fit (``_guard``, ``folding``, ``FOLD_LIMIT``), strided windows, and one integer read from
a scalar input.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

from ._node import Node, refuse


def _axis(node: Node, what: str, a: int, rank: int, end: bool = False) -> int:
    """Axis ``a`` of a rank-``rank`` value as 0 … rank−1 (0 … rank with ``end``: Flatten's
    split point; a negative a counts from rank), refused outside that range as onnxruntime
    does, never wrapped."""
    n = rank + 1 if end else rank
    if not -rank <= a < n:
        raise refuse(node, f"{what}: expected an axis in [{-rank}, {n - 1}], got {a}")
    return a + rank if a < 0 else a


def _axes(node: Node, what: str, axes: Any, rank: int) -> list[int]:
    """The axes ``axes`` of a rank-``rank`` value, each checked by ``_axis``."""
    return [_axis(node, what, int(a), rank) for a in np.ravel(axes)]


def _is_float(a: np.ndarray) -> bool:
    return a.dtype in (np.float32, np.float64)


def _broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """Whether an array of ``shape`` broadcasts to ``target`` (ONNX's unidirectional rule)."""
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


# Every value computed while loading (folding) is held to this many elements, the cap
# ConstantOfShape always had: a file of a few hundred bytes must not allocate terabytes.
FOLD_LIMIT = 1 << 26
_fold_limit: ContextVar[int | None] = ContextVar("_fold_limit", default=None)


class _TooLarge(Exception):
    """An output refused before allocation; ``_Op.forward_ctx`` names the node."""


def _memory_bytes() -> int:
    """This machine's physical memory in bytes (POSIX sysconf; 2**62 where unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 1 << 62


def _guard(shape: Sequence[int], itemsize: int) -> None:
    """Refuse an array of ``shape`` before it is allocated: more than ``FOLD_LIMIT`` elements
    while loading, more bytes than this machine's memory at run time. Python ints: a product
    of int64 dimensions can wrap to 0. An empty shape is refused too where NumPy cannot
    make it: the other dimensions and the item size multiply past its index type."""
    n = math.prod(int(v) for v in shape)
    span = itemsize * math.prod(int(v) for v in shape if v)
    if n == 0 and span > np.iinfo(np.intp).max:  # a non-empty one: more than memory, below
        raise _TooLarge(
            f"the output would have shape {tuple(shape)}, which NumPy cannot make even "
            f"empty: its sizes other than 0 times the item size ({itemsize}) come to {span} "
            f"bytes, more than its limit of {np.iinfo(np.intp).max}"
        )
    limit = _fold_limit.get()
    if limit is not None and n > limit:
        raise _TooLarge(
            f"the value computed at load time would have shape {tuple(shape)} ({n} elements), "
            f"more than the load-time budget of {limit} elements"
        )
    if n * itemsize > _memory_bytes():
        raise _TooLarge(
            f"the output would have shape {tuple(shape)} ({n * itemsize / 2**30:.3g} GiB), "
            f"more than this machine's memory ({_memory_bytes() / 2**30:.3g} GiB)"
        )


@contextmanager
def folding() -> Iterator[None]:
    """Within: every value computed is held to ``FOLD_LIMIT`` elements (load-time folding)."""
    token = _fold_limit.set(FOLD_LIMIT)
    try:
        yield
    finally:
        _fold_limit.reset(token)


def _window(
    a: np.ndarray,
    starts: Sequence[int],
    lengths: Sequence[int],
    axes: Sequence[int],
    fill: float = 0.0,
) -> np.ndarray:
    """out[..., i, ...] = a[..., start + i, ...] along each of ``axes`` (i < length), ``fill``
    where start + i falls outside a: padding (negative start, long length) and cropping in one.
    Its adjoint is the window of the gradient with starts −start and a's lengths."""
    shape = list(a.shape)
    src: list[slice] = [slice(None)] * a.ndim
    dst: list[slice] = [slice(None)] * a.ndim
    for axis, start, length in zip(axes, starts, lengths, strict=True):
        n = a.shape[axis]
        shape[axis] = length
        lo, hi = max(start, 0), min(start + length, n)
        if hi <= lo:
            lo = hi = 0
            src[axis] = dst[axis] = slice(0, 0)
        else:
            src[axis] = slice(lo, hi)
            dst[axis] = slice(lo - start, hi - start)
    _guard(shape, a.dtype.itemsize)
    out = np.full(shape, fill, dtype=a.dtype)
    out[tuple(dst)] = a[tuple(src)]
    return out


def _one_int(node: Node, name: str, v: Any) -> int:
    """A scalar integer input given as a 0-D tensor or a 1-D tensor of one value (TopK's K,
    CumSum's axis)."""
    v = np.asarray(v)
    if v.size != 1 or v.ndim > 1 or not np.issubdtype(v.dtype, np.integer):
        raise refuse(
            node,
            f"input {name!r}: expected one integer (a 0-D or 1-element tensor), got {v.dtype} "
            f"of shape {v.shape}",
        )
    return int(v.reshape(()))


def _gather_gradient(data: Any, where: tuple[np.ndarray, ...], g: np.ndarray) -> Any:
    """∂ℓ/∂data of y = data[where] (a gather by index arrays): G added back at the places read,
    a place read twice getting both; None for integer data."""
    data = np.asarray(data)
    if not _is_float(data):
        return None
    grad = np.zeros(data.shape, g.dtype)
    np.add.at(grad, where, g)
    return grad
