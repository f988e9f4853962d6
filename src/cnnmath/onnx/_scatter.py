"""ONNX's ScatterND as NumPy: a copy of ``data`` with slices replaced (or combined) by
``updates`` at the places ``indices`` lists, and its gradient.

For data of rank r, indices of shape (…, k) (k ≤ r: each row an index into data's first k
axes) and updates of shape indices.shape[:-1] + data.shape[k:],

    Y = data;  Y[indices[i]] = updates[i]        (reduction "none")
               Y[indices[i]] = Y[indices[i]] ∘ updates[i]   (∘ = +, ×, max, min)

for every i of indices' leading axes (as torch's ``index_put_``; swin_t's attention mask is
such a write). Rows may be negative (counted from the end of their axis, as onnxruntime).
Gradients, for "none" and "add": ∂ℓ/∂data = G where no row writes (everywhere for "add"),
∂ℓ/∂updates[i] = G[indices[i]]. ONNX leaves a place written twice by "none" undefined (the
last write wins here, as NumPy's assignment and onnxruntime); the gradient is that of the
function computed: only the kept update (each place's last writer) gets G there, an
overwritten one gets 0 (torch's ``index_put_`` gives both G). "mul", "max" and "min" have
no gradient here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: ONNX's reductions, as the ufunc that combines an update into Y (None: replace)
REDUCTIONS: dict[str, Any] = {
    "none": None,
    "add": np.add,
    "mul": np.multiply,
    "max": np.maximum,
    "min": np.minimum,
}


def _where(data: np.ndarray, indices: np.ndarray, updates: np.ndarray) -> tuple[np.ndarray, ...]:
    """The rows of ``indices`` as one index array per axis of data they address (negative
    ones wrapped), or a ValueError naming the input at fault."""
    if not np.issubdtype(indices.dtype, np.integer) or indices.ndim < 1:
        raise ValueError(
            f"input 'indices': expected an integer array of at least 1 axis, got dtype "
            f"{indices.dtype} and shape {indices.shape}"
        )
    k = indices.shape[-1]
    if not 1 <= k <= data.ndim:
        raise ValueError(
            f"input 'indices': expected a last axis of 1 to {data.ndim} (the rank of 'data', "
            f"shape {data.shape}), got shape {indices.shape}"
        )
    expected = indices.shape[:-1] + data.shape[k:]
    if updates.shape != expected:
        raise ValueError(
            f"input 'updates': expected shape {expected} (indices' {indices.shape[:-1]} + "
            f"data's {data.shape[k:]}), got {updates.shape}"
        )
    if updates.dtype != data.dtype:
        raise ValueError(
            f"input 'updates': expected data's dtype {data.dtype}, got {updates.dtype}"
        )
    where = []
    for axis in range(k):
        n, idx = data.shape[axis], indices[..., axis].astype(np.int64)
        outside = idx[(idx < -n) | (idx >= n)]
        if outside.size:
            raise ValueError(
                f"input 'indices': expected values in [{-n}, {n - 1}] for axis {axis} of "
                f"'data' (shape {data.shape}), got {int(outside[0])}"
            )
        where.append(idx % n if n else idx)
    return tuple(where)


def scatter_nd(
    data: np.ndarray, indices: np.ndarray, updates: np.ndarray, reduction: str
) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Y (a new array of data's shape and dtype; see the module docstring) and the index
    arrays it wrote at, which ``scatter_nd_backward`` reads."""
    where = _where(data, indices, updates)
    y = data.copy()
    combine = REDUCTIONS[reduction]
    if combine is None:
        y[where] = updates
    else:  # ufunc.at: a place listed twice combines both updates
        combine.at(y, where, updates)
    return y, where


def scatter_nd_backward(
    g: np.ndarray, where: tuple[np.ndarray, ...], reduction: str
) -> tuple[np.ndarray, np.ndarray]:
    """(∂ℓ/∂data, ∂ℓ/∂updates) of Y = scatter_nd(data, indices, updates, reduction) given
    G = ∂ℓ/∂Y, for reduction "none" (the replaced places get no data gradient, and an update
    a later row overwrote gets none either) and "add"."""
    if reduction not in ("none", "add"):
        raise ValueError(f"attribute 'reduction': {reduction!r} has no gradient here")
    g_data, g_updates = g.copy(), g[where]
    if reduction == "none":
        g_data[where] = 0
        rows = np.arange(where[0].size).reshape(where[0].shape)
        if rows.size > 1:  # the kept row of each place, by the forward's own assignment
            owner = np.full(g.shape[: len(where)], -1, np.int64)
            owner[where] = rows
            g_updates[owner[where] != rows] = 0
    return g_data, g_updates
