"""Local response normalisation as literal loops over every index.

y[β, c, p] = x[β, c, p] / (k + (α/n) · Σ_{c'=c−lo}^{c+hi} x[β, c', p]²)^β over the channels
c' that exist (0 ≤ c' < C); lo = ⌊n/2⌋, hi = ⌊(n − 1)/2⌋ unless a window (lo, hi) is given.
The backward differentiates that expression term by term. Sums in float64.
"""

from __future__ import annotations

import numpy as np


def _bounds(size, window):
    return window if window is not None else (size // 2, (size - 1) // 2)


def _d(x2, b, c, p, size, alpha, k, lo, hi):
    C = x2.shape[1]
    total = 0.0
    for cc in range(c - lo, c + hi + 1):
        if 0 <= cc < C:
            total += float(x2[b, cc, p]) ** 2
    return k + alpha / size * total


def local_response_norm(x, size, alpha=1e-4, beta=0.75, k=1.0, window=None):
    """Local response normalisation across channels, as
    ``torch.nn.functional.local_response_norm``.

    For sample b, channel c and position p (the axes after the channels, flattened; 0-based):

        Y[b, c, p] = X[b, c, p] / (k + (α/n) · Σ_{c'=c−lo}^{c+hi} X[b, c', p]²)^β

    the sum over the channels c' that exist (0 ≤ c' < C); n = ``size``, lo = ⌊n/2⌋ and
    hi = ⌊(n − 1)/2⌋ unless ``window`` = (lo, hi) is given. Sums in float64.

    Parameters
    ----------
    x : (B, C, *) array
    size : int n >= 1
    alpha, beta, k : floats α, β, k
    window : (lo, hi) or None

    Returns
    -------
    array of ``x``'s shape and dtype.
    """
    lo, hi = _bounds(size, window)
    B, C = x.shape[:2]
    x2 = x.reshape(B, C, -1)
    y = np.zeros(x2.shape)
    for b in range(B):
        for c in range(C):
            for p in range(x2.shape[2]):
                y[b, c, p] = float(x2[b, c, p]) / _d(x2, b, c, p, size, alpha, k, lo, hi) ** beta
    return y.reshape(x.shape).astype(x.dtype)


def local_response_norm_backward(grad_output, x, size, alpha=1e-4, beta=0.75, k=1.0, window=None):
    """∂ℓ/∂x[j] = Σ_c G[c] · ∂y[c]/∂x[j], with ∂y[c]/∂x[j] = [c = j]·d_c^(−β)
    − β·x[c]·d_c^(−β−1)·(α/n)·2·x[j]·[j ∈ W(c)], summed over every c of the same pixel."""
    lo, hi = _bounds(size, window)
    B, C = x.shape[:2]
    x2 = x.reshape(B, C, -1)
    g2 = grad_output.reshape(B, C, -1)
    gx = np.zeros(x2.shape)
    for b in range(B):
        for p in range(x2.shape[2]):
            for j in range(C):
                total = 0.0
                for c in range(C):
                    d = _d(x2, b, c, p, size, alpha, k, lo, hi)
                    dy = d**-beta if c == j else 0.0
                    if c - lo <= j <= c + hi:
                        dy -= (
                            beta
                            * float(x2[b, c, p])
                            * d ** (-beta - 1)
                            * alpha
                            / size
                            * 2
                            * float(x2[b, j, p])
                        )
                    total += float(g2[b, c, p]) * dy
                gx[b, j, p] = total
    return gx.reshape(x.shape).astype(x.dtype)
