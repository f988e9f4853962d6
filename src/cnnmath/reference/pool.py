"""Pooling as literal loops over every window (the oracle for cnnmath.ops.pool)."""

from __future__ import annotations

import math

import numpy as np

from ._geometry import _check_grad_output, _pool_geometry, _zero_padded

# ---------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------


def _window_argmax(plane, rows, cols):
    """The chosen maximum of ``plane`` over ``rows × cols`` and its position ``(r, q)``.

    Walks the window in row-major order; a later element replaces the running maximum only
    if it is strictly greater, or if it is NaN (PyTorch CPU's rule: the first maximum wins
    ties, a NaN propagates). Positions outside ``plane`` are −∞ padding, which never beats a
    real element, so they are skipped; every window holds at least one real element.
    """
    best, best_at = None, None
    for r in rows:
        for q in cols:
            if not (0 <= r < plane.shape[0] and 0 <= q < plane.shape[1]):
                continue
            value = plane[r, q]
            if best is None or value > best or math.isnan(value):
                best, best_at = value, (r, q)
    return best, best_at


def _window_ranges(i, j, k, s, p):
    """Rows and columns of ``x`` (0-based, may fall in the padding) in window ``(i, j)``."""
    rows = range(s[0] * i - p[0], s[0] * i - p[0] + k[0])
    cols = range(s[1] * j - p[1], s[1] * j - p[1] + k[1])
    return rows, cols


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max pooling with −∞ padding.

    ``Y[β,c,i,j] = max_{a=1..k1, b=1..k2} X̃[β, c, s1(i-1) + a, s2(j-1) + b]``, where X̃ is
    ``x`` with ``p`` elements of −∞ on every side. Output size per axis
    ``floor((H + 2p - k)/s) + 1``.

    Parameters
    ----------
    x : (N, C, H, W) array
    kernel_size : int or (k1, k2) pair
    stride : int, pair, or None (= kernel_size)
    padding : int or pair, at most half the window

    Returns
    -------
    (N, C, H_out, W_out) array of ``x``'s dtype. A window holding a NaN gives NaN.
    """
    x = np.asarray(x)
    x64 = x.astype(np.float64)
    batch, channels, _, _ = x.shape
    k, s, p, (h_out, w_out) = _pool_geometry(x.shape, kernel_size, stride, padding)
    y = np.zeros((batch, channels, h_out, w_out), dtype=np.float64)
    for beta in range(batch):
        for c in range(channels):
            for i in range(h_out):
                for j in range(w_out):
                    rows, cols = _window_ranges(i, j, k, s, p)
                    y[beta, c, i, j], _ = _window_argmax(x64[beta, c], rows, cols)
    return y.astype(x.dtype)


def max_pool2d_backward(grad_output, x, kernel_size, stride=None, padding=0):
    """Gradient of :func:`max_pool2d` with respect to ``x``.

    Each output's gradient goes to exactly one element of its window: the first maximum in
    row-major window order (a NaN counts as a maximum, and a later NaN replaces an earlier
    one), as PyTorch on the CPU. Overlapping windows that choose the same element add up.

    Returns
    -------
    grad_x : array of ``x``'s shape and dtype.
    """
    x = np.asarray(x)
    x64 = x.astype(np.float64)
    batch, channels, _, _ = x.shape
    k, s, p, (h_out, w_out) = _pool_geometry(x.shape, kernel_size, stride, padding)
    grad_y = _check_grad_output(grad_output, (batch, channels, h_out, w_out))
    grad_x = np.zeros_like(x64)
    for beta in range(batch):
        for c in range(channels):
            for i in range(h_out):
                for j in range(w_out):
                    rows, cols = _window_ranges(i, j, k, s, p)
                    _, (r, q) = _window_argmax(x64[beta, c], rows, cols)
                    grad_x[beta, c, r, q] += grad_y[beta, c, i, j]
    return grad_x.astype(x.dtype)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Average pooling with zero padding, always dividing by the full window ``k1·k2``.

    ``Y[β,c,i,j] = (1/(k1 k2)) Σ_{a=1..k1} Σ_{b=1..k2} X̃[β, c, s1(i-1) + a, s2(j-1) + b]``,
    where X̃ is ``x`` with ``p`` zeros on every side (PyTorch's ``count_include_pad=True``).
    Output size per axis ``floor((H + 2p - k)/s) + 1``.

    Parameters and shapes as :func:`max_pool2d`; returns ``x``'s dtype.
    """
    x = np.asarray(x)
    batch, channels, _, _ = x.shape
    k, s, p, (h_out, w_out) = _pool_geometry(x.shape, kernel_size, stride, padding)
    x_pad = _zero_padded(x, ((p[0], p[0]), (p[1], p[1])))
    y = np.zeros((batch, channels, h_out, w_out), dtype=np.float64)
    for beta in range(batch):
        for c in range(channels):
            for i in range(h_out):
                for j in range(w_out):
                    total = 0.0
                    for a in range(k[0]):
                        for b in range(k[1]):
                            total += x_pad[beta, c, s[0] * i + a, s[1] * j + b]
                    y[beta, c, i, j] = total / (k[0] * k[1])
    return y.astype(x.dtype)


def avg_pool2d_backward(grad_output, x, kernel_size, stride=None, padding=0):
    """Gradient of :func:`avg_pool2d` with respect to ``x``.

    Every element of window ``(i, j)``, padding included, receives
    ``grad_output[β,c,i,j] / (k1 k2)``; the padding is then cropped off.

    Returns
    -------
    grad_x : array of ``x``'s shape and dtype.
    """
    x = np.asarray(x)
    batch, channels, height, width = x.shape
    k, s, p, (h_out, w_out) = _pool_geometry(x.shape, kernel_size, stride, padding)
    grad_y = _check_grad_output(grad_output, (batch, channels, h_out, w_out))
    grad_x_pad = np.zeros((batch, channels, height + 2 * p[0], width + 2 * p[1]))
    for beta in range(batch):
        for c in range(channels):
            for i in range(h_out):
                for j in range(w_out):
                    share = grad_y[beta, c, i, j] / (k[0] * k[1])
                    for a in range(k[0]):
                        for b in range(k[1]):
                            grad_x_pad[beta, c, s[0] * i + a, s[1] * j + b] += share
    grad_x = grad_x_pad[:, :, p[0] : p[0] + height, p[1] : p[1] + width]
    return grad_x.astype(x.dtype)
