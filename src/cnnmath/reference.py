"""Slow loop implementations of the ops, written literally from the index formulas of SPEC.md.

This module is the test oracle. Every function here has the name and argument list of the
fast op it checks, so a test can fetch the oracle by name::

    fast = getattr(cnnmath.ops.conv, "conv2d")
    slow = getattr(cnnmath.reference, "conv2d")

It imports nothing from the ``cnnmath`` package, only NumPy: output sizes and padding are
re-derived here in a few plain lines, because an oracle that shares code with what it
checks shares its bugs. Sums are written as nested Python loops over every index,
accumulated in float64; results are returned in the input's dtype.

Conventions (as SPEC.md, and PyTorch): layout NCHW; the formulas in the docstrings are
1-based, the loops are 0-based, so ``s(i-1) + d(a-1) + 1`` (1-based) becomes
``s*i + d*a`` (0-based). Convolution is cross-correlation: the filter is not flipped.

Speed is not a goal: use tiny shapes.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "avg_pool2d",
    "avg_pool2d_backward",
    "conv2d",
    "conv2d_backward",
    "linear",
    "linear_backward",
    "max_pool2d",
    "max_pool2d_backward",
]


# ---------------------------------------------------------------------------------------
# Geometry, re-derived here on purpose (no sharing with cnnmath.ops).
# ---------------------------------------------------------------------------------------


def _pair(value, name: str) -> tuple[int, int]:
    """An int ``v`` means ``(v, v)``; a pair ``(h, w)`` is taken as it is."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    try:
        h, w = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an int or a pair (h, w), got {value!r}") from None
    return int(h), int(w)


def _conv_pads(padding, f: tuple[int, int], s: tuple[int, int], d: tuple[int, int]):
    """Zeros added ``((top, bottom), (left, right))`` for a convolution's ``padding``.

    ``"valid"`` adds none. ``"same"`` (stride 1 only) adds ``d(f-1)`` zeros per axis in
    total, ``total // 2`` before and the rest after: one more zero after than before when
    the effective kernel ``d(f-1)+1`` is even, as PyTorch does.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding == "same":
            if s != (1, 1):
                raise ValueError(f"padding='same' needs stride 1, got stride {s}")
            pads = []
            for f_axis, d_axis in zip(f, d, strict=True):
                total = d_axis * (f_axis - 1)
                before = total // 2
                pads.append((before, total - before))
            return tuple(pads)
        raise ValueError(f"padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    p1, p2 = _pair(padding, "padding")
    if p1 < 0 or p2 < 0:
        raise ValueError(f"padding must be >= 0, got {(p1, p2)}")
    return (p1, p1), (p2, p2)


def _conv_geometry(x_shape, w_shape, stride, padding, dilation):
    """Strides, dilations, pads, and the output size per axis.

    Output size ``floor((m + p_before + p_after - d(f-1) - 1)/s) + 1``.
    """
    _, _, m, n = x_shape
    _, _, f1, f2 = w_shape
    s = _pair(stride, "stride")
    d = _pair(dilation, "dilation")
    if min(s) < 1 or min(d) < 1:
        raise ValueError(f"stride and dilation must be >= 1, got stride {s}, dilation {d}")
    (pt, pb), (pl, pr) = _conv_pads(padding, (f1, f2), s, d)
    m_out = (m + pt + pb - d[0] * (f1 - 1) - 1) // s[0] + 1
    n_out = (n + pl + pr - d[1] * (f2 - 1) - 1) // s[1] + 1
    if m_out < 1 or n_out < 1:
        raise ValueError(f"the kernel does not fit the padded input: output size {(m_out, n_out)}")
    return s, d, ((pt, pb), (pl, pr)), (m_out, n_out)


def _pool_geometry(x_shape, kernel_size, stride, padding):
    """Window, stride, padding and the output size ``floor((H + 2p - k)/s) + 1`` of a pool."""
    _, _, height, width = x_shape
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None else _pair(stride, "stride")
    p = _pair(padding, "padding")
    if min(k) < 1 or min(s) < 1 or min(p) < 0:
        raise ValueError(f"need kernel_size >= 1, stride >= 1, padding >= 0: {k}, {s}, {p}")
    if 2 * p[0] > k[0] or 2 * p[1] > k[1]:
        raise ValueError(f"padding {p} must be at most half of kernel_size {k}")
    h_out = (height + 2 * p[0] - k[0]) // s[0] + 1
    w_out = (width + 2 * p[1] - k[1]) // s[1] + 1
    if h_out < 1 or w_out < 1:
        raise ValueError(f"the window does not fit the padded input: output size {(h_out, w_out)}")
    return k, s, p, (h_out, w_out)


def _check_grad_output(grad_output, expected_shape):
    grad_output = np.asarray(grad_output, dtype=np.float64)
    if grad_output.shape != tuple(expected_shape):
        raise ValueError(
            f"grad_output must have the forward output's shape {tuple(expected_shape)}, "
            f"got {grad_output.shape}"
        )
    return grad_output


def _zero_padded(x, pads):
    """X̃: ``x`` in float64 with ``pads = ((top, bottom), (left, right))`` zeros around it."""
    (pt, pb), (pl, pr) = pads
    batch, channels, m, n = x.shape
    x_pad = np.zeros((batch, channels, pt + m + pb, pl + n + pr), dtype=np.float64)
    x_pad[:, :, pt : pt + m, pl : pl + n] = x
    return x_pad


# ---------------------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------------------


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """2-D cross-correlation, one output element at a time.

    ``Y[β,o,i,j] = Σ_{g=1..C_in} Σ_{a=1..f1} Σ_{c=1..f2}
    w[o,g,a,c] · X̃[β, g, s1(i-1) + d1(a-1) + 1, s2(j-1) + d2(c-1) + 1] + b[o]``

    where X̃ is ``x`` with zero padding. Output size per axis
    ``floor((m + p_before + p_after - d(f-1) - 1)/s) + 1``.

    Parameters
    ----------
    x : (N, C_in, m, n) array
    weight : (C_out, C_in, f1, f2) array
    bias : (C_out,) array or None
    stride, dilation : int or (h, w) pair, each >= 1
    padding : int or (h, w) pair (that many zeros on both sides), ``"valid"`` (none) or
        ``"same"`` (stride 1; ``d(f-1)`` zeros per axis, ``total // 2`` before, the rest after)

    Returns
    -------
    (N, C_out, m_out, n_out) array of ``x``'s dtype.
    """
    x = np.asarray(x)
    w = np.asarray(weight, dtype=np.float64)
    b = None if bias is None else np.asarray(bias, dtype=np.float64)
    batch, c_in, _, _ = x.shape
    c_out, _, f1, f2 = w.shape
    s, d, pads, (m_out, n_out) = _conv_geometry(x.shape, w.shape, stride, padding, dilation)
    x_pad = _zero_padded(x, pads)

    y = np.zeros((batch, c_out, m_out, n_out), dtype=np.float64)
    for beta in range(batch):
        for o in range(c_out):
            for i in range(m_out):
                for j in range(n_out):
                    total = 0.0
                    for g in range(c_in):
                        for a in range(f1):
                            for c in range(f2):
                                # 1-based: X̃[β, g, s(i-1)+d(a-1)+1, s(j-1)+d(c-1)+1]
                                row = s[0] * i + d[0] * a
                                col = s[1] * j + d[1] * c
                                total += w[o, g, a, c] * x_pad[beta, g, row, col]
                    if b is not None:
                        total += b[o]
                    y[beta, o, i, j] = total
    return y.astype(x.dtype)


def conv2d_backward(grad_output, x, weight, stride=1, padding=0, dilation=1):
    """Gradients of a :func:`conv2d` by scattering each output's gradient back to its inputs.

    For every output element ``(β,o,i,j)`` with upstream gradient ``G = grad_output[β,o,i,j]``
    and every tap ``(g,a,c)``, with ``r = s1(i-1) + d1(a-1) + 1`` and
    ``q = s2(j-1) + d2(c-1) + 1`` (1-based) the position the forward read:

    - ``∂X̃[β,g,r,q] += G · w[o,g,a,c]`` (then the padding is cropped off: ``grad_x``),
    - ``∂w[o,g,a,c] += G · X̃[β,g,r,q]``,
    - ``∂b[o] += G`` (a sum over batch and space).

    Parameters
    ----------
    grad_output : (N, C_out, m_out, n_out) array, the shape ``conv2d`` returns
    x, weight, stride, padding, dilation : as for :func:`conv2d`

    Returns
    -------
    (grad_x, grad_weight, grad_bias) : arrays of shapes ``x.shape``, ``weight.shape`` and
        ``(C_out,)``, in the dtypes of ``x``, ``weight`` and ``weight``.
    """
    x = np.asarray(x)
    weight = np.asarray(weight)
    w = weight.astype(np.float64)
    batch, c_in, m, n = x.shape
    c_out, _, f1, f2 = w.shape
    s, d, pads, (m_out, n_out) = _conv_geometry(x.shape, w.shape, stride, padding, dilation)
    grad_y = _check_grad_output(grad_output, (batch, c_out, m_out, n_out))
    x_pad = _zero_padded(x, pads)

    grad_x_pad = np.zeros_like(x_pad)
    grad_w = np.zeros_like(w)
    grad_b = np.zeros(c_out, dtype=np.float64)
    for beta in range(batch):
        for o in range(c_out):
            for i in range(m_out):
                for j in range(n_out):
                    g_out = grad_y[beta, o, i, j]
                    grad_b[o] += g_out
                    for g in range(c_in):
                        for a in range(f1):
                            for c in range(f2):
                                row = s[0] * i + d[0] * a
                                col = s[1] * j + d[1] * c
                                grad_x_pad[beta, g, row, col] += g_out * w[o, g, a, c]
                                grad_w[o, g, a, c] += g_out * x_pad[beta, g, row, col]
    (pt, _), (pl, _) = pads
    grad_x = grad_x_pad[:, :, pt : pt + m, pl : pl + n]
    return grad_x.astype(x.dtype), grad_w.astype(weight.dtype), grad_b.astype(weight.dtype)


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


# ---------------------------------------------------------------------------------------
# Dense layer
# ---------------------------------------------------------------------------------------


def linear(x, weight, bias=None):
    """Dense layer ``y = x Wᵀ + b``, over the last axis of ``x``.

    ``y[..., o] = Σ_{k=1..in} x[..., k] · W[o, k] + b[o]``

    Parameters
    ----------
    x : (*, in) array
    weight : (out, in) array
    bias : (out,) array or None

    Returns
    -------
    (*, out) array of ``x``'s dtype.
    """
    x = np.asarray(x)
    w = np.asarray(weight, dtype=np.float64)
    b = None if bias is None else np.asarray(bias, dtype=np.float64)
    n_out, n_in = w.shape
    rows = x.reshape(-1, n_in).astype(np.float64)
    y = np.zeros((rows.shape[0], n_out), dtype=np.float64)
    for r in range(rows.shape[0]):
        for o in range(n_out):
            total = 0.0
            for k in range(n_in):
                total += rows[r, k] * w[o, k]
            if b is not None:
                total += b[o]
            y[r, o] = total
    return y.reshape(*x.shape[:-1], n_out).astype(x.dtype)


def linear_backward(grad_output, x, weight):
    """Gradients of :func:`linear`.

    With ``G = grad_output`` of shape ``(*, out)`` and the leading axes of ``x`` flattened
    into rows ``r``:

    - ``∂x[r, k] = Σ_o G[r, o] · W[o, k]``  (``G W``),
    - ``∂W[o, k] = Σ_r G[r, o] · x[r, k]``  (``Gᵀ x``),
    - ``∂b[o] = Σ_r G[r, o]``.

    Returns
    -------
    (grad_x, grad_weight, grad_bias) : shapes ``x.shape``, ``weight.shape``, ``(out,)``, in
        the dtypes of ``x``, ``weight`` and ``weight``.
    """
    x = np.asarray(x)
    weight = np.asarray(weight)
    w = weight.astype(np.float64)
    n_out, n_in = w.shape
    rows = x.reshape(-1, n_in).astype(np.float64)
    grad_y = _check_grad_output(grad_output, (*x.shape[:-1], n_out)).reshape(-1, n_out)
    grad_rows = np.zeros_like(rows)
    grad_w = np.zeros_like(w)
    grad_b = np.zeros(n_out, dtype=np.float64)
    for r in range(rows.shape[0]):
        for o in range(n_out):
            g_out = grad_y[r, o]
            grad_b[o] += g_out
            for k in range(n_in):
                grad_rows[r, k] += g_out * w[o, k]
                grad_w[o, k] += g_out * rows[r, k]
    grad_x = grad_rows.reshape(x.shape)
    return grad_x.astype(x.dtype), grad_w.astype(weight.dtype), grad_b.astype(weight.dtype)
