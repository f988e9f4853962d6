"""Pooling as literal loops over every window (the oracle for cnnmath.ops.pool).

Every function takes (N, C, H, W) input and re-derives its own geometry here, from the
definitions (PyTorch's, stated in each docstring); nothing is shared with cnnmath.ops.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ._geometry import _check_grad_output

# ---------------------------------------------------------------------------------------
# Geometry of max and average pooling
# ---------------------------------------------------------------------------------------


def _pair(value, name):
    """An int ``v`` means ``(v, v)``; a pair ``(h, w)`` is taken as it is."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    try:
        h, w = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an int or a pair (h, w), got {value!r}") from None
    return int(h), int(w)


def _window_count(m, k, s, p, d, ceil_mode):
    """How many windows fit along an axis of length m (padding p each side, window of k taps
    d apart, starting every s).

    Floor mode: window i exists while it lies inside the padded input,
    ``s*i + d*(k-1) + 1 <= m + 2p``. Ceil mode: window i exists while window i-1 does not yet
    reach the end of the padded input, and only if it starts inside x or its left padding
    (``s*i - p < m``); it may run past the right padding.
    """
    span = d * (k - 1) + 1
    if span > m + 2 * p and not (ceil_mode and span < m + 2 * p + s):
        raise ValueError(f"the window {span} does not fit the padded input {m} + 2*{p}")
    count = 0
    while True:
        start = s * count  # in padded coordinates
        if ceil_mode:
            if count > 0 and s * (count - 1) + span >= m + 2 * p:
                break
            if start - p >= m:
                break
        elif start + span > m + 2 * p:
            break
        count += 1
    return count


def _pool_geometry(x_shape, kernel_size, stride, padding, dilation, ceil_mode):
    """Window k, stride s, padding p, dilation d and the output size (h_out, w_out)."""
    _, _, height, width = x_shape
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None else _pair(stride, "stride")
    p = _pair(padding, "padding")
    d = _pair(dilation, "dilation")
    if min(k) < 1 or min(s) < 1 or min(d) < 1 or min(p) < 0:
        raise ValueError(f"need kernel_size, stride, dilation >= 1, padding >= 0: {k} {s} {d} {p}")
    if 2 * p[0] > k[0] or 2 * p[1] > k[1]:
        raise ValueError(f"padding {p} must be at most half of kernel_size {k}")
    h_out = _window_count(height, k[0], s[0], p[0], d[0], ceil_mode)
    w_out = _window_count(width, k[1], s[1], p[1], d[1], ceil_mode)
    return k, s, p, d, (h_out, w_out)


def _taps(i, j, k, s, p, d):
    """The (row, column) positions in x (0-based, may lie in the padding or past it) of the
    taps of window (i, j), in row-major order."""
    return [
        (s[0] * i - p[0] + d[0] * a, s[1] * j - p[1] + d[1] * b)
        for a in range(k[0])
        for b in range(k[1])
    ]


# ---------------------------------------------------------------------------------------
# Max pooling
# ---------------------------------------------------------------------------------------


def _window_argmax(plane, taps):
    """The chosen maximum of ``plane`` over the taps and its position ``(r, q)``.

    Walks the taps in row-major order; a later element replaces the running maximum only
    if it is strictly greater, or if it is NaN (PyTorch CPU's rule: the first maximum wins
    ties, a NaN propagates, the last NaN wins). Positions outside ``plane`` are −∞ padding,
    which never beats a real element, so they are skipped.
    """
    best, best_at = None, None
    for r, q in taps:
        if not (0 <= r < plane.shape[0] and 0 <= q < plane.shape[1]):
            continue
        value = plane[r, q]
        if best is None or value > best or math.isnan(value):
            best, best_at = value, (r, q)
    if best_at is None:
        raise ValueError("a window reads only padding")
    return best, best_at


def max_pool2d(
    x,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode=False,
    return_indices=False,
):
    """Max pooling with −∞ padding.

    ``Y[β,c,i,j] = max_{a=1..k1, b=1..k2} X̃[β, c, s1(i-1) + d1(a-1) + 1, s2(j-1) + d2(b-1) + 1]``,
    where X̃ is ``x`` with −∞ on every side (as far as any window reaches). The window count
    per axis is :func:`_window_count`'s.

    Parameters
    ----------
    x : (N, C, H, W) array
    kernel_size, stride (None = kernel_size), padding (at most half the window), dilation :
        int or pair
    ceil_mode : bool, the window count rule
    return_indices : also return the chosen positions ``r*W + q`` (int64)

    Returns
    -------
    (N, C, H_out, W_out) array of ``x``'s dtype (and the int64 indices). A window holding a
    NaN gives NaN.
    """
    x = np.asarray(x)
    x64 = x.astype(np.float64)
    batch, channels, _, width = x.shape
    k, s, p, d, (h_out, w_out) = _pool_geometry(
        x.shape, kernel_size, stride, padding, dilation, ceil_mode
    )
    y = np.zeros((batch, channels, h_out, w_out), dtype=np.float64)
    indices = np.zeros((batch, channels, h_out, w_out), dtype=np.int64)
    for beta in range(batch):
        for c in range(channels):
            for i in range(h_out):
                for j in range(w_out):
                    taps = _taps(i, j, k, s, p, d)
                    y[beta, c, i, j], (r, q) = _window_argmax(x64[beta, c], taps)
                    indices[beta, c, i, j] = r * width + q
    if return_indices:
        return y.astype(x.dtype), indices
    return y.astype(x.dtype)


def max_pool2d_backward(
    grad_output, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False
):
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
    k, s, p, d, (h_out, w_out) = _pool_geometry(
        x.shape, kernel_size, stride, padding, dilation, ceil_mode
    )
    grad_y = _check_grad_output(grad_output, (batch, channels, h_out, w_out))
    grad_x = np.zeros_like(x64)
    for beta in range(batch):
        for c in range(channels):
            for i in range(h_out):
                for j in range(w_out):
                    _, (r, q) = _window_argmax(x64[beta, c], _taps(i, j, k, s, p, d))
                    grad_x[beta, c, r, q] += grad_y[beta, c, i, j]
    return grad_x.astype(x.dtype)


# ---------------------------------------------------------------------------------------
# Average pooling
# ---------------------------------------------------------------------------------------


def _divisor(taps, height, width, p, count_include_pad, divisor_override):
    """PyTorch's divisor of one window: ``divisor_override`` if given; else the number of
    taps inside the padded input (rows -p .. H+p-1, columns likewise) with
    ``count_include_pad``, or inside x itself without."""
    if divisor_override is not None:
        return divisor_override
    count = 0
    for r, q in taps:
        if count_include_pad:
            count += -p[0] <= r < height + p[0] and -p[1] <= q < width + p[1]
        else:
            count += 0 <= r < height and 0 <= q < width
    return count


def avg_pool2d(
    x,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
):
    """Average pooling with zero padding.

    ``Y[β,c,i,j] = (1/D) Σ_{a=1..k1} Σ_{b=1..k2} X̃[β, c, s1(i-1) + a, s2(j-1) + b]``,
    where X̃ is ``x`` with zeros around it and D is :func:`_divisor`'s count for the window
    (k1·k2 with the defaults).

    Parameters and shapes as :func:`max_pool2d` (no dilation); returns ``x``'s dtype.
    """
    x = np.asarray(x)
    x64 = x.astype(np.float64)
    batch, channels, height, width = x.shape
    k, s, p, d, (h_out, w_out) = _pool_geometry(x.shape, kernel_size, stride, padding, 1, ceil_mode)
    y = np.zeros((batch, channels, h_out, w_out), dtype=np.float64)
    for beta in range(batch):
        for c in range(channels):
            for i in range(h_out):
                for j in range(w_out):
                    taps = _taps(i, j, k, s, p, d)
                    total = 0.0
                    for r, q in taps:
                        if 0 <= r < height and 0 <= q < width:
                            total += x64[beta, c, r, q]
                    divisor = _divisor(taps, height, width, p, count_include_pad, divisor_override)
                    y[beta, c, i, j] = total / divisor
    return y.astype(x.dtype)


def avg_pool2d_backward(
    grad_output,
    x,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
):
    """Gradient of :func:`avg_pool2d` with respect to ``x``.

    Every element of x in window ``(i, j)`` receives ``grad_output[β,c,i,j] / D``; what the
    padding would receive is dropped.

    Returns
    -------
    grad_x : array of ``x``'s shape and dtype.
    """
    x = np.asarray(x)
    batch, channels, height, width = x.shape
    k, s, p, d, (h_out, w_out) = _pool_geometry(x.shape, kernel_size, stride, padding, 1, ceil_mode)
    grad_y = _check_grad_output(grad_output, (batch, channels, h_out, w_out))
    grad_x = np.zeros((batch, channels, height, width))
    for beta in range(batch):
        for c in range(channels):
            for i in range(h_out):
                for j in range(w_out):
                    taps = _taps(i, j, k, s, p, d)
                    divisor = _divisor(taps, height, width, p, count_include_pad, divisor_override)
                    share = grad_y[beta, c, i, j] / divisor
                    for r, q in taps:
                        if 0 <= r < height and 0 <= q < width:
                            grad_x[beta, c, r, q] += share
    return grad_x.astype(x.dtype)


# ---------------------------------------------------------------------------------------
# Max unpooling
# ---------------------------------------------------------------------------------------


def _unpool_size(x_shape, kernel_size, stride, padding, output_size):
    """``output_size``'s last two entries, or ``(h - 1)*s - 2p + k`` per axis."""
    if output_size is not None:
        return int(output_size[-2]), int(output_size[-1])
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None else _pair(stride, "stride")
    p = _pair(padding, "padding")
    return tuple((x_shape[2 + a] - 1) * s[a] - 2 * p[a] + k[a] for a in range(2))


def max_unpool2d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Every value of x written at the position its index names in its output plane
    (``Y[β, c, I // W_out, I % W_out] = X[β, c, i, j]``), zeros elsewhere; the inputs are
    visited in row-major order, so of two equal indices the later one stays.

    Returns
    -------
    (N, C, H_out, W_out) array of ``x``'s dtype.
    """
    x = np.asarray(x)
    batch, channels, height, width = x.shape
    h_out, w_out = _unpool_size(x.shape, kernel_size, stride, padding, output_size)
    y = np.zeros((batch, channels, h_out, w_out), dtype=np.float64)
    for beta in range(batch):
        for c in range(channels):
            for i in range(height):
                for j in range(width):
                    at = int(indices[beta, c, i, j])
                    y[beta, c, at // w_out, at % w_out] = x[beta, c, i, j]
    return y.astype(x.dtype)


def max_unpool2d_backward(
    grad_output, x, indices, kernel_size, stride=None, padding=0, output_size=None
):
    """Gradient of :func:`max_unpool2d` with respect to ``x``: ``X[β,c,i,j]`` went to
    position ``I[β,c,i,j]`` of its plane, so its gradient is the upstream gradient there.

    Returns
    -------
    grad_x : array of ``x``'s shape and dtype.
    """
    x = np.asarray(x)
    batch, channels, height, width = x.shape
    h_out, w_out = _unpool_size(x.shape, kernel_size, stride, padding, output_size)
    grad_y = _check_grad_output(grad_output, (batch, channels, h_out, w_out))
    grad_x = np.zeros(x.shape)
    for beta in range(batch):
        for c in range(channels):
            for i in range(height):
                for j in range(width):
                    at = int(indices[beta, c, i, j])
                    grad_x[beta, c, i, j] = grad_y[beta, c, at // w_out, at % w_out]
    return grad_x.astype(x.dtype)


# ---------------------------------------------------------------------------------------
# Adaptive pooling
# ---------------------------------------------------------------------------------------


def _adaptive_size(x_shape, output_size):
    """(H_out, W_out): an int means both; None keeps the input's size."""
    sizes = (output_size, output_size) if isinstance(output_size, int) else output_size
    return tuple(x_shape[2 + a] if sizes[a] is None else int(sizes[a]) for a in range(2))


def _adaptive_range(i, n, m):
    """Indices of window i of n over a length m: floor(i·m/n) .. ceil((i+1)·m/n) - 1."""
    return range(math.floor(Fraction(i * m, n)), math.ceil(Fraction((i + 1) * m, n)))


def adaptive_avg_pool2d(x, output_size):
    """``Y[β,c,i,j]`` = the mean of ``X[β,c]`` over rows ``_adaptive_range(i, H_out, H)``
    and columns ``_adaptive_range(j, W_out, W)``.

    Returns
    -------
    (N, C, H_out, W_out) array of ``x``'s dtype.
    """
    x = np.asarray(x)
    x64 = x.astype(np.float64)
    batch, channels, height, width = x.shape
    h_out, w_out = _adaptive_size(x.shape, output_size)
    y = np.zeros((batch, channels, h_out, w_out))
    for beta in range(batch):
        for c in range(channels):
            for i in range(h_out):
                for j in range(w_out):
                    rows = _adaptive_range(i, h_out, height)
                    cols = _adaptive_range(j, w_out, width)
                    total = 0.0
                    for r in rows:
                        for q in cols:
                            total += x64[beta, c, r, q]
                    y[beta, c, i, j] = total / (len(rows) * len(cols))
    return y.astype(x.dtype)


def adaptive_avg_pool2d_backward(grad_output, x, output_size):
    """Gradient of :func:`adaptive_avg_pool2d`: every element of window (i, j) receives
    ``grad_output[β,c,i,j]`` divided by the window's size.

    Returns
    -------
    grad_x : array of ``x``'s shape and dtype.
    """
    x = np.asarray(x)
    batch, channels, height, width = x.shape
    h_out, w_out = _adaptive_size(x.shape, output_size)
    grad_y = _check_grad_output(grad_output, (batch, channels, h_out, w_out))
    grad_x = np.zeros(x.shape)
    for beta in range(batch):
        for c in range(channels):
            for i in range(h_out):
                for j in range(w_out):
                    rows = _adaptive_range(i, h_out, height)
                    cols = _adaptive_range(j, w_out, width)
                    share = grad_y[beta, c, i, j] / (len(rows) * len(cols))
                    for r in rows:
                        for q in cols:
                            grad_x[beta, c, r, q] += share
    return grad_x.astype(x.dtype)


def adaptive_max_pool2d(x, output_size, return_indices=False):
    """``Y[β,c,i,j]`` = the maximum of ``X[β,c]`` over the window of
    :func:`adaptive_avg_pool2d`, chosen by :func:`_window_argmax`'s rule; with
    ``return_indices`` also its position ``r*W + q`` (int64).

    Returns
    -------
    (N, C, H_out, W_out) array of ``x``'s dtype (and the int64 indices).
    """
    x = np.asarray(x)
    x64 = x.astype(np.float64)
    batch, channels, height, width = x.shape
    h_out, w_out = _adaptive_size(x.shape, output_size)
    y = np.zeros((batch, channels, h_out, w_out))
    indices = np.zeros((batch, channels, h_out, w_out), dtype=np.int64)
    for beta in range(batch):
        for c in range(channels):
            for i in range(h_out):
                for j in range(w_out):
                    rows = _adaptive_range(i, h_out, height)
                    cols = _adaptive_range(j, w_out, width)
                    taps = [(r, q) for r in rows for q in cols]
                    y[beta, c, i, j], (r, q) = _window_argmax(x64[beta, c], taps)
                    indices[beta, c, i, j] = r * width + q
    if return_indices:
        return y.astype(x.dtype), indices
    return y.astype(x.dtype)


def adaptive_max_pool2d_backward(grad_output, x, output_size):
    """Gradient of :func:`adaptive_max_pool2d`: each output's gradient goes to the element
    its window chose; elements chosen by several windows add up.

    Returns
    -------
    grad_x : array of ``x``'s shape and dtype.
    """
    x = np.asarray(x)
    x64 = x.astype(np.float64)
    batch, channels, height, width = x.shape
    h_out, w_out = _adaptive_size(x.shape, output_size)
    grad_y = _check_grad_output(grad_output, (batch, channels, h_out, w_out))
    grad_x = np.zeros(x.shape)
    for beta in range(batch):
        for c in range(channels):
            for i in range(h_out):
                for j in range(w_out):
                    rows = _adaptive_range(i, h_out, height)
                    cols = _adaptive_range(j, w_out, width)
                    taps = [(r, q) for r in rows for q in cols]
                    _, (r, q) = _window_argmax(x64[beta, c], taps)
                    grad_x[beta, c, r, q] += grad_y[beta, c, i, j]
    return grad_x.astype(x.dtype)


def _unpool_length(x_shape, kernel_size, stride, padding, output_size):
    """``output_size``'s last entry, or ``(l - 1)*s - 2p + k``."""
    if output_size is not None:
        return int(np.ravel(output_size)[-1])
    k = int(np.ravel(kernel_size)[0])
    s = k if stride is None else int(np.ravel(stride)[0])
    p = int(np.ravel(padding)[0])
    return (x_shape[2] - 1) * s - 2 * p + k


def max_unpool1d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Every value of x written at the position its index names in its output signal
    (``Y[β, c, I[β, c, i]] = X[β, c, i]``), zeros elsewhere; of two equal indices the later
    one stays.

    Returns
    -------
    (N, C, L_out) array of ``x``'s dtype.
    """
    x = np.asarray(x)
    batch, channels, length = x.shape
    l_out = _unpool_length(x.shape, kernel_size, stride, padding, output_size)
    y = np.zeros((batch, channels, l_out), dtype=np.float64)
    for beta in range(batch):
        for c in range(channels):
            for i in range(length):
                y[beta, c, int(indices[beta, c, i])] = x[beta, c, i]
    return y.astype(x.dtype)


def max_unpool1d_backward(
    grad_output, x, indices, kernel_size, stride=None, padding=0, output_size=None
):
    """Gradient of :func:`max_unpool1d` with respect to ``x``: ``G[β, c, I[β, c, i]]``.

    Returns
    -------
    grad_x : array of ``x``'s shape and dtype.
    """
    x = np.asarray(x)
    batch, channels, length = x.shape
    l_out = _unpool_length(x.shape, kernel_size, stride, padding, output_size)
    grad_y = _check_grad_output(grad_output, (batch, channels, l_out))
    grad_x = np.zeros(x.shape)
    for beta in range(batch):
        for c in range(channels):
            for i in range(length):
                grad_x[beta, c, i] = grad_y[beta, c, int(indices[beta, c, i])]
    return grad_x.astype(x.dtype)
