"""Convolution as literal loops over every index (the oracle for cnnmath.ops.conv)."""

from __future__ import annotations

import numpy as np

from ._geometry import (
    _check_grad_output,
    _conv_geometry,
    _groups_of,
    _transpose_geometry,
    _zero_padded,
)

# ---------------------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------------------


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation, one output element at a time, grouped as PyTorch groups it.

    ``Y[β,o,i,j] = Σ_{g=1..C_in/G} Σ_{a=1..f1} Σ_{c=1..f2}
    w[o,g,a,c] · X̃[β, k·C_in/G + g, s1(i-1) + d1(a-1) + 1, s2(j-1) + d2(c-1) + 1] + b[o]``

    where X̃ is ``x`` with zero padding, G = ``groups`` and k = floor((o-1)/(C_out/G)) the
    block of output channel o: it reads only block k of the input channels. Output size per
    axis ``floor((m + p_before + p_after - d(f-1) - 1)/s) + 1``.

    Parameters
    ----------
    x : (N, C_in, m, n) array
    weight : (C_out, C_in/groups, f1, f2) array
    bias : (C_out,) array or None
    stride, dilation : int or (h, w) pair, each >= 1
    padding : int or (h, w) pair (that many zeros on both sides), ``"valid"`` (none) or
        ``"same"`` (stride 1; ``d(f-1)`` zeros per axis, ``total // 2`` before, the rest after)
    groups : int >= 1 dividing C_in and C_out

    Returns
    -------
    (N, C_out, m_out, n_out) array of ``x``'s dtype.
    """
    x = np.asarray(x)
    w = np.asarray(weight, dtype=np.float64)
    b = None if bias is None else np.asarray(bias, dtype=np.float64)
    batch, c_in, _, _ = x.shape
    c_out, c_group, f1, f2 = w.shape
    groups = _groups_of(groups, c_in, c_out)
    if c_group * groups != c_in:
        raise ValueError(f"weight has {c_group} input channels per group, x has {c_in}")
    out_per_group = c_out // groups
    s, d, pads, (m_out, n_out) = _conv_geometry(x.shape, w.shape, stride, padding, dilation)
    x_pad = _zero_padded(x, pads)

    y = np.zeros((batch, c_out, m_out, n_out), dtype=np.float64)
    for beta in range(batch):
        for o in range(c_out):
            k = o // out_per_group  # the block of output channel o
            for i in range(m_out):
                for j in range(n_out):
                    total = 0.0
                    for g in range(c_group):
                        for a in range(f1):
                            for c in range(f2):
                                # 1-based: X̃[β, k·C_in/G + g, s(i-1)+d(a-1)+1, s(j-1)+d(c-1)+1]
                                row = s[0] * i + d[0] * a
                                col = s[1] * j + d[1] * c
                                total += w[o, g, a, c] * x_pad[beta, k * c_group + g, row, col]
                    if b is not None:
                        total += b[o]
                    y[beta, o, i, j] = total
    return y.astype(x.dtype)


def conv2d_backward(grad_output, x, weight, stride=1, padding=0, dilation=1, groups=1):
    """Gradients of a :func:`conv2d` by scattering each output's gradient back to its inputs.

    For every output element ``(β,o,i,j)`` with upstream gradient ``G = grad_output[β,o,i,j]``
    and every tap ``(g,a,c)``, with ``r = s1(i-1) + d1(a-1) + 1`` and
    ``q = s2(j-1) + d2(c-1) + 1`` (1-based) the position the forward read and
    ``h = k·C_in/G + g`` the input channel (k the block of o):

    - ``∂X̃[β,h,r,q] += G · w[o,g,a,c]`` (then the padding is cropped off: ``grad_x``),
    - ``∂w[o,g,a,c] += G · X̃[β,h,r,q]``,
    - ``∂b[o] += G`` (a sum over batch and space).

    Parameters
    ----------
    grad_output : (N, C_out, m_out, n_out) array, the shape ``conv2d`` returns
    x, weight, stride, padding, dilation, groups : as for :func:`conv2d`

    Returns
    -------
    (grad_x, grad_weight, grad_bias) : arrays of shapes ``x.shape``, ``weight.shape`` and
        ``(C_out,)``, in the dtypes of ``x``, ``weight`` and ``weight``.
    """
    x = np.asarray(x)
    weight = np.asarray(weight)
    w = weight.astype(np.float64)
    batch, c_in, m, n = x.shape
    c_out, c_group, f1, f2 = w.shape
    groups = _groups_of(groups, c_in, c_out)
    if c_group * groups != c_in:
        raise ValueError(f"weight has {c_group} input channels per group, x has {c_in}")
    out_per_group = c_out // groups
    s, d, pads, (m_out, n_out) = _conv_geometry(x.shape, w.shape, stride, padding, dilation)
    grad_y = _check_grad_output(grad_output, (batch, c_out, m_out, n_out))
    x_pad = _zero_padded(x, pads)

    grad_x_pad = np.zeros_like(x_pad)
    grad_w = np.zeros_like(w)
    grad_b = np.zeros(c_out, dtype=np.float64)
    for beta in range(batch):
        for o in range(c_out):
            k = o // out_per_group
            for i in range(m_out):
                for j in range(n_out):
                    g_out = grad_y[beta, o, i, j]
                    grad_b[o] += g_out
                    for g in range(c_group):
                        h = k * c_group + g
                        for a in range(f1):
                            for c in range(f2):
                                row = s[0] * i + d[0] * a
                                col = s[1] * j + d[1] * c
                                grad_x_pad[beta, h, row, col] += g_out * w[o, g, a, c]
                                grad_w[o, g, a, c] += g_out * x_pad[beta, h, row, col]
    (pt, _), (pl, _) = pads
    grad_x = grad_x_pad[:, :, pt : pt + m, pl : pl + n]
    return grad_x.astype(x.dtype), grad_w.astype(weight.dtype), grad_b.astype(weight.dtype)


# ---------------------------------------------------------------------------------------
# Transposed convolution
# ---------------------------------------------------------------------------------------


def conv_transpose2d(
    x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Transposed convolution as a scatter: every input pixel spreads, weighted by the filter,
    into the output.

    For every input element ``x[β,h,i,j]`` (0-based here), every output channel ``o`` of its
    group's block and every tap ``(a, c)``:

        ``Y[β, k·C_out/G + o, s1·i + d1·a - p1, s2·j + d2·c - p2] += x[β,h,i,j] · w[h,o,a,c]``

    with k = floor(h / (C_in/G)) the block of input channel h, positions outside the output
    dropped; then ``Y[β,o,·,·] += b[o]``. Output size per axis
    ``(H - 1)s - 2p + d(f - 1) + output_padding + 1``.

    Parameters
    ----------
    x : (N, C_in, H, W) array
    weight : (C_in, C_out/groups, f1, f2) array
    bias : (C_out,) array or None
    stride, dilation : int or (h, w) pair, each >= 1
    padding : int or (h, w) pair >= 0
    output_padding : int or (h, w) pair, smaller than stride or dilation
    groups : int >= 1 dividing C_in

    Returns
    -------
    (N, C_out, H_out, W_out) array of ``x``'s dtype.
    """
    x = np.asarray(x)
    w = np.asarray(weight, dtype=np.float64)
    b = None if bias is None else np.asarray(bias, dtype=np.float64)
    batch, c_in, height, width = x.shape
    w_in, out_per_group, f1, f2 = w.shape
    if w_in != c_in:
        raise ValueError(f"weight has {w_in} input channels, x has {c_in}")
    groups = _groups_of(groups, c_in)
    in_per_group = c_in // groups
    c_out = out_per_group * groups
    s, d, p, (m_out, n_out) = _transpose_geometry(
        x.shape, w.shape, stride, padding, output_padding, dilation
    )

    y = np.zeros((batch, c_out, m_out, n_out), dtype=np.float64)
    for beta in range(batch):
        for h in range(c_in):
            k = h // in_per_group  # the block of input channel h
            for i in range(height):
                for j in range(width):
                    pixel = float(x[beta, h, i, j])
                    for o in range(out_per_group):
                        for a in range(f1):
                            for c in range(f2):
                                row = s[0] * i + d[0] * a - p[0]
                                col = s[1] * j + d[1] * c - p[1]
                                if 0 <= row < m_out and 0 <= col < n_out:
                                    y[beta, k * out_per_group + o, row, col] += (
                                        pixel * w[h, o, a, c]
                                    )
    if b is not None:
        for beta in range(batch):
            for o in range(c_out):
                for row in range(m_out):
                    for col in range(n_out):
                        y[beta, o, row, col] += b[o]
    return y.astype(x.dtype)


def conv_transpose2d_backward(
    grad_output, x, weight, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Gradients of a :func:`conv_transpose2d`, following each term of its scatter back.

    Every term ``Y[β, k·C_out/G + o, r, q] += x[β,h,i,j] · w[h,o,a,c]`` (with
    ``r = s1·i + d1·a - p1``, ``q = s2·j + d2·c - p2`` inside the output, 0-based) and the
    upstream gradient ``G = grad_output[β, k·C_out/G + o, r, q]`` give

    - ``∂x[β,h,i,j] += G · w[h,o,a,c]``,
    - ``∂w[h,o,a,c] += G · x[β,h,i,j]``,
    - ``∂b[o'] += G`` for every output element of channel o'.

    Returns
    -------
    (grad_x, grad_weight, grad_bias) : arrays of shapes ``x.shape``, ``weight.shape`` and
        ``(C_out,)``, in the dtypes of ``x``, ``weight`` and ``weight``.
    """
    x = np.asarray(x)
    weight = np.asarray(weight)
    w = weight.astype(np.float64)
    batch, c_in, height, width = x.shape
    _, out_per_group, f1, f2 = w.shape
    groups = _groups_of(groups, c_in)
    in_per_group = c_in // groups
    c_out = out_per_group * groups
    s, d, p, (m_out, n_out) = _transpose_geometry(
        x.shape, w.shape, stride, padding, output_padding, dilation
    )
    grad_y = _check_grad_output(grad_output, (batch, c_out, m_out, n_out))

    grad_x = np.zeros(x.shape, dtype=np.float64)
    grad_w = np.zeros_like(w)
    grad_b = np.zeros(c_out, dtype=np.float64)
    for beta in range(batch):
        for h in range(c_in):
            k = h // in_per_group
            for i in range(height):
                for j in range(width):
                    for o in range(out_per_group):
                        for a in range(f1):
                            for c in range(f2):
                                row = s[0] * i + d[0] * a - p[0]
                                col = s[1] * j + d[1] * c - p[1]
                                if 0 <= row < m_out and 0 <= col < n_out:
                                    g_out = grad_y[beta, k * out_per_group + o, row, col]
                                    grad_x[beta, h, i, j] += g_out * w[h, o, a, c]
                                    grad_w[h, o, a, c] += g_out * x[beta, h, i, j]
    for beta in range(batch):
        for o in range(c_out):
            for row in range(m_out):
                for col in range(n_out):
                    grad_b[o] += grad_y[beta, o, row, col]
    return grad_x.astype(x.dtype), grad_w.astype(weight.dtype), grad_b.astype(weight.dtype)
