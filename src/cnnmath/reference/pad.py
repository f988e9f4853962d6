"""Padding as literal loops over every output cell.

For x (…, H, W) padded by (left, right, top, bottom), x̃[…, i, j] reads x at the source
(s(i − top, H), s(j − left, W)) of the mode: "constant" reads x where 0 ≤ u < n and holds the
value elsewhere; "reflect" mirrors u about 0 and n − 1 (without repeating the edge);
"replicate" clamps u to [0, n − 1]; "circular" first drops the cropped cells (a negative pad)
and then reads the kept ones periodically. The backward adds every cell of G into the pixel
that cell was read from. Sums in float64.
"""

from __future__ import annotations

import numpy as np


def _widths(padding):
    if isinstance(padding, (int, np.integer)):
        return (int(padding),) * 4
    return tuple(int(v) for v in padding)


def _source(t, n, before, after, mode):
    """The index of x read by cell t of the padded axis, or None for a constant cell."""
    u = t - before
    if mode == "constant":
        return u if 0 <= u < n else None
    if mode == "replicate":
        return min(max(u, 0), n - 1)
    if mode == "reflect":
        if u < 0:
            u = -u
        if u > n - 1:
            u = 2 * (n - 1) - u
        return u
    first = max(0, -before)  # circular: the cells the crop keeps, read periodically
    kept = n - first - max(0, -after)
    return first + (t - max(0, before)) % kept


def _cells(shape, padding, mode):
    """(output shape, [(i, j, source row or None, source column or None), ...])."""
    left, right, top, bottom = _widths(padding)
    H, W = shape[-2:]
    Ho, Wo = H + top + bottom, W + left + right
    cells = []
    for i in range(Ho):
        for j in range(Wo):
            p = _source(i, H, top, bottom, mode)
            q = _source(j, W, left, right, mode)
            cells.append((i, j, p, q))
    return shape[:-2] + (Ho, Wo), cells


def pad2d(x, padding, mode="constant", value=0.0):
    """Pad (or crop, for a negative width) the last two axes, as ``torch.nn.functional.pad``.

    With (left, right, top, bottom) = ``padding``, 0-based, for every leading index:

        Y[…, i, j] = X[…, src(i − top, H), src(j − left, W)]

    where, for u on an axis of n cells, "constant" reads X when 0 ≤ u < n and ``value``
    otherwise; "reflect" mirrors u about 0 and n − 1 (the edge not repeated); "replicate"
    clamps u to [0, n − 1]; "circular" reads the cells the crop keeps periodically (module
    docstring).

    Parameters
    ----------
    x : (*, H, W) array
    padding : int (all four) or (left, right, top, bottom)
    mode : "constant", "reflect", "replicate" or "circular"
    value : float, the constant of "constant"

    Returns
    -------
    (*, H + top + bottom, W + left + right) array of ``x``'s dtype.
    """
    out_shape, cells = _cells(x.shape, padding, mode)
    y = np.zeros(out_shape)
    lead = x.shape[:-2]
    for index in np.ndindex(*lead):
        for i, j, p, q in cells:
            y[index + (i, j)] = value if p is None or q is None else float(x[index + (p, q)])
    return y.astype(x.dtype)


def pad2d_backward(grad_output, x, padding, mode="constant"):
    """∂ℓ/∂x[…, p, q] = Σ of G over the cells that read x[…, p, q]."""
    _, cells = _cells(x.shape, padding, mode)
    gx = np.zeros(x.shape)
    for index in np.ndindex(*x.shape[:-2]):
        for i, j, p, q in cells:
            if p is not None and q is not None:
                gx[index + (p, q)] += float(grad_output[index + (i, j)])
    return gx.astype(x.dtype)
