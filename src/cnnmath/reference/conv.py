"""Convolution as literal loops over every index (the oracle for cnnmath.ops.conv)."""

from __future__ import annotations

import numpy as np

from ._geometry import _check_grad_output, _conv_geometry, _zero_padded

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
