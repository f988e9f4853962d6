"""Geometry for the oracle, re-derived here on purpose: nothing is shared with cnnmath.ops."""

from __future__ import annotations

import numpy as np

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


def _groups_of(groups, *channel_counts) -> int:
    """``groups`` as an int >= 1 dividing every channel count given."""
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"groups must be an int >= 1, got {groups!r}")
    for count in channel_counts:
        if count % groups:
            raise ValueError(f"groups {groups} does not divide the channel count {count}")
    return int(groups)


def _transpose_geometry(x_shape, w_shape, stride, padding, output_padding, dilation):
    """Strides, dilations, paddings, output paddings and the output size of a transposed
    convolution: ``(H - 1) s - 2p + d(f - 1) + output_padding + 1`` per axis."""
    _, _, height, width = x_shape
    _, _, f1, f2 = w_shape
    s = _pair(stride, "stride")
    d = _pair(dilation, "dilation")
    p = _pair(padding, "padding")
    op = _pair(output_padding, "output_padding")
    if min(s) < 1 or min(d) < 1 or min(p) < 0 or min(op) < 0:
        raise ValueError(
            f"need stride, dilation >= 1, padding, output_padding >= 0: {s} {d} {p} {op}"
        )
    for axis in range(2):
        if op[axis] >= s[axis] and op[axis] >= d[axis]:
            raise ValueError(f"output_padding {op} must be smaller than stride {s} or dilation {d}")
    m_out = (height - 1) * s[0] - 2 * p[0] + d[0] * (f1 - 1) + op[0] + 1
    n_out = (width - 1) * s[1] - 2 * p[1] + d[1] * (f2 - 1) + op[1] + 1
    if m_out < 1 or n_out < 1:
        raise ValueError(f"the output size {(m_out, n_out)} is not positive")
    return s, d, p, (m_out, n_out)


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
