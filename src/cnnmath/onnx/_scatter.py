"""ONNX's ScatterND as NumPy: a copy of ``data`` with slices replaced (or combined) by
``updates`` at the places ``indices`` lists, and its gradient.

For data of rank r, indices of shape (…, k) (k ≤ r: each row an index into data's first k
axes) and updates of shape indices.shape[:-1] + data.shape[k:],

    Y = data;  Y[indices[i]] = updates[i]        (reduction "none")
               Y[indices[i]] = Y[indices[i]] ∘ updates[i]   (∘ = +, ×, max, min)

for every i of indices' leading axes (as torch's ``index_put_``; swin_t's attention mask is
such a write). Rows may be negative (counted from the end of their axis, as onnxruntime).
Gradients, given G = ∂ℓ/∂Y, with S(p) the rows i that write place p (indices[i] = p):

- "add": ∂ℓ/∂data = G, ∂ℓ/∂updates[i] = G[indices[i]].
- "none": ∂ℓ/∂data = G where no row writes, 0 where one does; ∂ℓ/∂updates[i] =
  G[indices[i]] for the kept update. ONNX leaves a place written twice by "none" undefined
  (the last write wins here, as NumPy's assignment and onnxruntime); the gradient is that of
  the function computed: only each place's last writer gets G there, an overwritten one gets
  0 (torch's ``index_put_`` gives both G).
- "mul": Y[p] = data[p] · Π_{i∈S(p)} updates[i], so ∂ℓ/∂data[p] = G[p] · Π_{i∈S(p)}
  updates[i] (G where no row writes) and ∂ℓ/∂updates[i] = G[p] · data[p] · Π_{j∈S(p), j≠i}
  updates[j], the product of the others taken as prefix times suffix products within each
  place's rows, never by dividing (an update of 0 must not give 0/0).
- "max", "min": Y[p] = max (min) of data[p] and updates[i], i ∈ S(p), elementwise. G[p] is
  shared evenly among the inputs equal to Y[p] (data[p] among them): each of c ties gets
  G[p]/c, the others 0 — torch's ``scatter_reduce(reduce="amax"/"amin",
  include_self=True)`` rule, and this package's for Max, Min and ReduceMax. Where Y[p] is
  NaN no input equals it and none gets a gradient (torch gives NaN there).
"""

from __future__ import annotations

import math
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
    g: np.ndarray,
    where: tuple[np.ndarray, ...],
    reduction: str,
    data: np.ndarray,
    updates: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(∂ℓ/∂data, ∂ℓ/∂updates) of Y = scatter_nd(data, indices, updates, reduction) given
    G = ∂ℓ/∂Y (data's shape), ``where`` the index arrays ``scatter_nd`` returned; the two
    gradients have data's and updates' shapes. See the module docstring for the formulas."""
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"attribute 'reduction': expected one of {list(REDUCTIONS)}, got {reduction!r}"
        )
    if reduction in ("none", "add"):
        g_data, g_updates = g.copy(), g[where]
        if reduction == "none":
            g_data[where] = 0
            rows = np.arange(where[0].size).reshape(where[0].shape)
            if rows.size > 1:  # the kept row of each place, by the forward's own assignment
                owner = np.full(g.shape[: len(where)], -1, np.int64)
                owner[where] = rows
                g_updates[owner[where] != rows] = 0
        return g_data, g_updates
    # one row per update, one column per element of the slice it writes: place p of
    # data's first k axes flattened, updates row i writing place[i]
    k = len(where)
    width = math.prod(data.shape[k:])
    place = np.ravel_multi_index(where, data.shape[:k]).ravel()
    places = math.prod(data.shape[:k])  # explicit sizes: a slice may hold no elements
    g2 = g.reshape(places, width)
    d2 = data.reshape(places, width)
    u2 = updates.reshape(place.size, width)
    hit, group = np.unique(place, return_inverse=True)  # the places written, each row's
    g_data = g2.copy()
    if reduction == "mul":
        product = np.ones((hit.size, width), g.dtype)
        np.multiply.at(product, group, u2)
        g_data[hit] *= product
        g_updates = g2[place] * d2[place] * _others_product(u2, group)
    else:  # max, min: the forward again on the written places only, then who equals it
        y = d2[hit].copy()
        REDUCTIONS[reduction].at(y, group, u2)
        data_is = d2[hit] == y
        update_is = u2 == y[group]
        ties = data_is.astype(g.dtype)
        np.add.at(ties, group, update_is.astype(g.dtype))
        share = np.where(ties > 0, g2[hit] / np.maximum(ties, 1), 0)  # NaN: no one
        g_data[hit] = np.where(data_is, share, 0)
        g_updates = np.where(update_is, share[group], 0)
    return g_data.reshape(data.shape), g_updates.reshape(updates.shape)


def _others_product(u: np.ndarray, group: np.ndarray) -> np.ndarray:
    """For each row i of u (n, m), the elementwise product of the other rows of its group
    (``group[i]``; 1 for a row alone): the product of those before it times those after it
    (in row order), with no division, so a zero in one row zeroes the others' products but
    not its own. The rows are sorted by group, and each prefix product is a segmented scan
    by doubling: log₂(largest group) vectorised steps."""
    n = group.size
    order = np.argsort(group, kind="stable")
    sorted_group = group[order]
    counts = np.bincount(sorted_group)
    rank = np.arange(n) - (np.cumsum(counts) - counts)[sorted_group]  # position in its group
    u = u[order]
    before = _exclusive_products(u, rank)
    after = _exclusive_products(u[::-1], (counts[sorted_group] - 1 - rank)[::-1])[::-1]
    others = np.empty_like(u)
    others[order] = before * after
    return others


def _exclusive_products(u: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Row i: the product of rows i − rank[i] … i − 1 of u (1 for rank 0): rows grouped
    contiguously, ``rank`` each row's position in its group. Inclusive products by doubling
    (after the step of shift s each row holds the product of the min(2s, rank + 1) rows
    ending at it), then shifted by one row."""
    inclusive = u.copy()
    shift = 1
    largest = int(rank.max()) + 1 if rank.size else 0
    while shift < largest:
        reach = np.flatnonzero(rank >= shift)  # the right side is read before it is written
        inclusive[reach] = inclusive[reach] * inclusive[reach - shift]
        shift *= 2
    out = np.ones_like(u)
    later = np.flatnonzero(rank > 0)
    out[later] = inclusive[later - 1]
    return out
