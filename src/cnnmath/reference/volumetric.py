"""Volumetric (3-D) convolution, transposed convolution and pooling as literal loops over every
index (the oracle for cnnmath.ops.volumetric and cnnmath.ops.conv_transpose3d).

Every function takes (N, C, D, H, W) input and re-derives its own geometry here, from the
definitions (PyTorch's, stated in each docstring); nothing is shared with cnnmath.ops, nor with
the 2-D oracles. Sums accumulate in float64; results come back in the input's dtype.
"""

from __future__ import annotations

import math

import numpy as np

from ._geometry import _check_grad_output

# ---------------------------------------------------------------------------------------
# Geometry
# ---------------------------------------------------------------------------------------


def _triple(value, name):
    """An int ``v`` means ``(v, v, v)``; a triple ``(d, h, w)`` is taken as it is."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * 3
    try:
        a, b, c = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an int or a triple (d, h, w), got {value!r}") from None
    return int(a), int(b), int(c)


def _conv_pads(padding, f, s, d):
    """``((before, after),) * 3``: an int or triple on both sides, ``"valid"`` none, ``"same"``
    (stride 1) ``d(f-1)`` in total per axis, ``total // 2`` before and the rest after."""
    if padding == "valid":
        return ((0, 0),) * 3
    if padding == "same":
        if s != (1, 1, 1):
            raise ValueError(f"padding='same' needs stride 1, got {s}")
        return tuple(
            (d_ * (f_ - 1) // 2, d_ * (f_ - 1) - d_ * (f_ - 1) // 2) for f_, d_ in zip(f, d)
        )
    return tuple((p, p) for p in _triple(padding, "padding"))


def _conv_size(m, f, s, d, before, after):
    """floor((m + before + after - d(f-1) - 1)/s) + 1."""
    size = (m + before + after - d * (f - 1) - 1) // s + 1
    if size < 1:
        raise ValueError(f"the kernel {f} (dilation {d}) outgrows the padded input {m}")
    return size


def _padded(x, pads, value):
    """x (N, C, D, H, W) with ``value`` added around the three spatial axes."""
    N, C, D, H, W = x.shape
    (a0, a1), (b0, b1), (c0, c1) = pads
    out = np.full((N, C, D + a0 + a1, H + b0 + b1, W + c0 + c1), value, dtype=np.float64)
    out[:, :, a0 : a0 + D, b0 : b0 + H, c0 : c0 + W] = x
    return out


# ---------------------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------------------


def _conv_setup(x, weight, stride, padding, dilation, groups):
    N, C_in, D, H, W = x.shape
    C_out, C_g, f0, f1, f2 = weight.shape
    if C_in % groups or C_out % groups or C_g * groups != C_in:
        raise ValueError(f"groups {groups} does not fit C_in {C_in}, C_out {C_out}, C_g {C_g}")
    s = _triple(stride, "stride")
    d = _triple(dilation, "dilation")
    pads = _conv_pads(padding, (f0, f1, f2), s, d)
    out = tuple(
        _conv_size(m, f, s_, d_, *p) for m, f, s_, d_, p in zip((D, H, W), (f0, f1, f2), s, d, pads)
    )
    return s, d, pads, out


def conv3d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D cross-correlation, one output element at a time.

    ``Y[β,o,t,i,j] = Σ_g Σ_e Σ_a Σ_c w[o,g,e,a,c]
    · X̃[β, k·C_in/G + g, s0(t-1)+d0(e-1)+1, s1(i-1)+d1(a-1)+1, s2(j-1)+d2(c-1)+1] + b[o]``,
    X̃ zero-padded, k = floor((o-1)/(C_out/G)) the block of output channel o.
    """
    x = np.asarray(x)
    w = np.asarray(weight, dtype=np.float64)
    s, d, pads, (D_out, H_out, W_out) = _conv_setup(x, w, stride, padding, dilation, groups)
    X = _padded(x, pads, 0.0)
    N = x.shape[0]
    C_out, C_g, f0, f1, f2 = w.shape
    per_group = C_out // groups
    y = np.zeros((N, C_out, D_out, H_out, W_out))
    for beta in range(N):
        for o in range(C_out):
            k = o // per_group
            for t in range(D_out):
                for i in range(H_out):
                    for j in range(W_out):
                        total = 0.0
                        for g in range(C_g):
                            for e in range(f0):
                                for a in range(f1):
                                    for c in range(f2):
                                        total += (
                                            w[o, g, e, a, c]
                                            * X[
                                                beta,
                                                k * C_g + g,
                                                s[0] * t + d[0] * e,
                                                s[1] * i + d[1] * a,
                                                s[2] * j + d[2] * c,
                                            ]
                                        )
                        if bias is not None:
                            total += float(bias[o])
                        y[beta, o, t, i, j] = total
    return y.astype(x.dtype)


def conv3d_backward(grad_output, x, weight, stride=1, padding=0, dilation=1, groups=1):
    """Gradients of :func:`conv3d` by scattering each output's gradient G back over its window:
    ``∂X̃[β, k·C_g+g, u, v, z] += w[o,g,e,a,c]·G`` and ``∂w[o,g,e,a,c] += X̃[β, k·C_g+g, u, v, z]·G``
    at ``(u, v, z) = (s0·t + d0·e, s1·i + d1·a, s2·j + d2·c)`` (0-based, padded), ``∂b[o] += G``;
    the padding's share is cropped off. Returns (grad_x, grad_weight, grad_bias)."""
    x = np.asarray(x)
    G = np.asarray(grad_output, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    s, d, pads, out = _conv_setup(x, w, stride, padding, dilation, groups)
    if G.shape != (x.shape[0], w.shape[0], *out):
        raise ValueError(
            f"grad_output has shape {G.shape}, expected {(x.shape[0], w.shape[0], *out)}"
        )
    X = _padded(x, pads, 0.0)
    gX = np.zeros_like(X)
    gw = np.zeros_like(w)
    gb = np.zeros(w.shape[0])
    C_out, C_g, f0, f1, f2 = w.shape
    per_group = C_out // groups
    for beta in range(x.shape[0]):
        for o in range(C_out):
            k = o // per_group
            for t in range(out[0]):
                for i in range(out[1]):
                    for j in range(out[2]):
                        g_out = G[beta, o, t, i, j]
                        gb[o] += g_out
                        for g in range(C_g):
                            for e in range(f0):
                                for a in range(f1):
                                    for c in range(f2):
                                        u = s[0] * t + d[0] * e
                                        v = s[1] * i + d[1] * a
                                        z = s[2] * j + d[2] * c
                                        gX[beta, k * C_g + g, u, v, z] += w[o, g, e, a, c] * g_out
                                        gw[o, g, e, a, c] += X[beta, k * C_g + g, u, v, z] * g_out
    (a0, _), (b0, _), (c0, _) = pads
    D, H, W = x.shape[2:]
    gx = gX[:, :, a0 : a0 + D, b0 : b0 + H, c0 : c0 + W]
    return gx.astype(x.dtype), gw.astype(x.dtype), gb.astype(x.dtype)


# ---------------------------------------------------------------------------------------
# Transposed convolution
# ---------------------------------------------------------------------------------------


def _transpose_setup(x, weight, stride, padding, output_padding, dilation, groups):
    """(s, d, p, output size, C_in/G, C_out/G) of a transposed convolution: per axis
    ``(m - 1)s - 2p + d(f - 1) + output_padding + 1``, output_padding below stride or
    dilation."""
    N, C_in, D, H, W = x.shape
    w_in, per_group, f0, f1, f2 = weight.shape
    if w_in != C_in or C_in % groups:
        raise ValueError(f"groups {groups} and weight {weight.shape} do not fit C_in {C_in}")
    s = _triple(stride, "stride")
    d = _triple(dilation, "dilation")
    p = _triple(padding, "padding")
    q = _triple(output_padding, "output_padding")
    out = []
    for m, f, s_, d_, p_, q_ in zip((D, H, W), (f0, f1, f2), s, d, p, q):
        if q_ >= max(s_, d_):
            raise ValueError(f"output_padding {q} must be smaller than stride or dilation")
        size = (m - 1) * s_ - 2 * p_ + d_ * (f - 1) + q_ + 1
        if size < 1:
            raise ValueError(f"the output size {size} is not positive")
        out.append(size)
    return s, d, p, tuple(out), C_in // groups, per_group


def conv_transpose3d(
    x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Transposed 3-D convolution as a scatter: every input voxel spreads, weighted by the
    filter, into the output.

    For every input element ``x[β,h,t,i,j]`` (0-based), every output channel ``o`` of its
    group's block and every tap ``(e, a, c)``:

        ``Y[β, k·C_out/G + o, s0·t + d0·e - p0, s1·i + d1·a - p1, s2·j + d2·c - p2]
        += x[β,h,t,i,j] · w[h,o,e,a,c]``

    with k = floor(h / (C_in/G)) the block of input channel h, positions outside the output
    dropped; then ``Y[β,o,·,·,·] += b[o]``. x (N, C_in, D, H, W), weight (C_in, C_out/G, f0,
    f1, f2); output size per axis ``(m - 1)s - 2p + d(f - 1) + output_padding + 1``.
    """
    x = np.asarray(x)
    w = np.asarray(weight, dtype=np.float64)
    s, d, p, out, in_per_group, out_per_group = _transpose_setup(
        x, w, stride, padding, output_padding, dilation, groups
    )
    N, C_in, D, H, W = x.shape
    f0, f1, f2 = w.shape[2:]
    y = np.zeros((N, out_per_group * groups, *out))
    for beta in range(N):
        for h in range(C_in):
            k = h // in_per_group
            for t in range(D):
                for i in range(H):
                    for j in range(W):
                        voxel = float(x[beta, h, t, i, j])
                        for o in range(out_per_group):
                            for e in range(f0):
                                for a in range(f1):
                                    for c in range(f2):
                                        u = s[0] * t + d[0] * e - p[0]
                                        v = s[1] * i + d[1] * a - p[1]
                                        z = s[2] * j + d[2] * c - p[2]
                                        if 0 <= u < out[0] and 0 <= v < out[1] and 0 <= z < out[2]:
                                            y[beta, k * out_per_group + o, u, v, z] += (
                                                voxel * w[h, o, e, a, c]
                                            )
    if bias is not None:
        for o in range(y.shape[1]):
            y[:, o] += float(bias[o])
    return y.astype(x.dtype)


def conv_transpose3d_backward(
    grad_output, x, weight, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Gradients of :func:`conv_transpose3d`, following each term of its scatter back: every
    term ``Y[β, k·C_out/G + o, u, v, z] += x[β,h,t,i,j] · w[h,o,e,a,c]`` (u, v, z inside the
    output, as there) with ``G = grad_output[β, k·C_out/G + o, u, v, z]`` gives
    ``∂x[β,h,t,i,j] += G · w[h,o,e,a,c]`` and ``∂w[h,o,e,a,c] += G · x[β,h,t,i,j]``;
    ``∂b[o] += G`` for every output element of channel o. Returns (grad_x, grad_weight,
    grad_bias)."""
    x = np.asarray(x)
    w = np.asarray(weight, dtype=np.float64)
    G = np.asarray(grad_output, dtype=np.float64)
    s, d, p, out, in_per_group, out_per_group = _transpose_setup(
        x, w, stride, padding, output_padding, dilation, groups
    )
    N, C_in, D, H, W = x.shape
    if G.shape != (N, out_per_group * groups, *out):
        raise ValueError(
            f"grad_output has shape {G.shape}, expected {(N, out_per_group * groups, *out)}"
        )
    f0, f1, f2 = w.shape[2:]
    gx = np.zeros(x.shape)
    gw = np.zeros(w.shape)
    for beta in range(N):
        for h in range(C_in):
            k = h // in_per_group
            for t in range(D):
                for i in range(H):
                    for j in range(W):
                        voxel = float(x[beta, h, t, i, j])
                        for o in range(out_per_group):
                            for e in range(f0):
                                for a in range(f1):
                                    for c in range(f2):
                                        u = s[0] * t + d[0] * e - p[0]
                                        v = s[1] * i + d[1] * a - p[1]
                                        z = s[2] * j + d[2] * c - p[2]
                                        if 0 <= u < out[0] and 0 <= v < out[1] and 0 <= z < out[2]:
                                            g = G[beta, k * out_per_group + o, u, v, z]
                                            gx[beta, h, t, i, j] += g * w[h, o, e, a, c]
                                            gw[h, o, e, a, c] += g * voxel
    gb = np.zeros(G.shape[1])
    for o in range(G.shape[1]):
        for beta in range(N):
            for u in range(out[0]):
                for v in range(out[1]):
                    for z in range(out[2]):
                        gb[o] += G[beta, o, u, v, z]
    return gx.astype(x.dtype), gw.astype(x.dtype), gb.astype(x.dtype)


# ---------------------------------------------------------------------------------------
# Max and average pooling
# ---------------------------------------------------------------------------------------


def _window_count(m, k, s, p, d, ceil_mode):
    """Windows along an axis of length m: floor mode, every window inside the padded input;
    ceil mode, a window exists while the previous one has not reached the padded input's end
    and it starts inside x or its left padding (it may run past the right padding)."""
    span = d * (k - 1) + 1
    count = 0
    while True:
        start = s * count
        if ceil_mode:
            if count > 0 and s * (count - 1) + span >= m + 2 * p:
                break
            if start - p >= m:
                break
        elif start + span > m + 2 * p:
            break
        count += 1
    if count == 0:
        raise ValueError(f"no window of {span} fits an input of {m} padded by {p}")
    return count


def _pool_setup(x_shape, kernel_size, stride, padding, dilation, ceil_mode):
    k = _triple(kernel_size, "kernel_size")
    s = k if stride is None else _triple(stride, "stride")
    p = _triple(padding, "padding")
    d = _triple(dilation, "dilation")
    out = tuple(_window_count(m, *args, ceil_mode) for m, *args in zip(x_shape[2:], k, s, p, d))
    return k, s, p, d, out


def _window(t, i, j, k, s, p, d, size):
    """The positions (u, v, z) inside x of window (t, i, j), in (depth, row, column) order."""
    taps = []
    for e in range(k[0]):
        u = s[0] * t - p[0] + d[0] * e
        for a in range(k[1]):
            v = s[1] * i - p[1] + d[1] * a
            for c in range(k[2]):
                z = s[2] * j - p[2] + d[2] * c
                if 0 <= u < size[0] and 0 <= v < size[1] and 0 <= z < size[2]:
                    taps.append((u, v, z))
    return taps


def _choose(volume, taps):
    """PyTorch's walk: start at the first tap; a later one replaces it if greater or NaN."""
    best = taps[0]
    for tap in taps[1:]:
        value = volume[tap]
        if value > volume[best] or math.isnan(value):
            best = tap
    return best


def max_pool3d(
    x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    """``Y[β,c,t,i,j] = max over window (t,i,j)`` (the element PyTorch's walk chooses); with
    ``return_indices`` also its flat position ``u·H·W + v·W + z`` in the (D, H, W) volume."""
    x = np.asarray(x)
    k, s, p, d, out = _pool_setup(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    N, C, D, H, W = x.shape
    y = np.zeros((N, C, *out), dtype=x.dtype)
    at = np.zeros((N, C, *out), dtype=np.int64)
    for beta in range(N):
        for ch in range(C):
            for t in range(out[0]):
                for i in range(out[1]):
                    for j in range(out[2]):
                        u, v, z = _choose(x[beta, ch], _window(t, i, j, k, s, p, d, (D, H, W)))
                        y[beta, ch, t, i, j] = x[beta, ch, u, v, z]
                        at[beta, ch, t, i, j] = (u * H + v) * W + z
    return (y, at) if return_indices else y


def max_pool3d_backward(
    grad_output, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False
):
    """Each G[β,c,t,i,j] added to the element its window chose."""
    x = np.asarray(x)
    _, at = max_pool3d(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)
    G = np.asarray(grad_output, dtype=np.float64)
    N, C, D, H, W = x.shape
    grad = np.zeros((N, C, D * H * W))
    for beta in range(N):
        for ch in range(C):
            for index in np.ndindex(*at.shape[2:]):
                where = (beta, ch, *index)
                grad[beta, ch, at[where]] += G[where]
    return grad.reshape(x.shape).astype(x.dtype)


def _divisor(t, i, j, k, s, p, size, count_include_pad, divisor_override):
    """PyTorch's divisor: the override; else the window's taps inside [-p, size + p) per axis
    (``count_include_pad``) or inside x."""
    if divisor_override is not None:
        return divisor_override
    count = 1
    for n, kk, ss, pp, m in zip((t, i, j), k, s, p, size):
        start = ss * n - pp
        end = min(start + kk, m + pp)
        if not count_include_pad:
            start, end = max(start, 0), min(end, m)
        count *= end - start
    return count


def avg_pool3d(
    x,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
):
    """``Y[β,c,t,i,j] = (1/D[t,i,j]) Σ over window (t,i,j) of X̃`` (zeros in the padding)."""
    x = np.asarray(x)
    k, s, p, _, out = _pool_setup(x.shape, kernel_size, stride, padding, 1, ceil_mode)
    N, C, D, H, W = x.shape
    y = np.zeros((N, C, *out))
    for beta in range(N):
        for ch in range(C):
            for t, i, j in np.ndindex(*out):
                taps = _window(t, i, j, k, s, p, (1, 1, 1), (D, H, W))
                total = sum(float(x[beta, ch, u, v, z]) for u, v, z in taps)
                div = _divisor(t, i, j, k, s, p, (D, H, W), count_include_pad, divisor_override)
                y[beta, ch, t, i, j] = total / div
    return y.astype(x.dtype)


def avg_pool3d_backward(
    grad_output,
    x,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
):
    """Every element of window (t,i,j) inside x receives G[β,c,t,i,j] / D[t,i,j]."""
    x = np.asarray(x)
    k, s, p, _, out = _pool_setup(x.shape, kernel_size, stride, padding, 1, ceil_mode)
    G = np.asarray(grad_output, dtype=np.float64)
    N, C, D, H, W = x.shape
    grad = np.zeros(x.shape)
    for beta in range(N):
        for ch in range(C):
            for t, i, j in np.ndindex(*out):
                div = _divisor(t, i, j, k, s, p, (D, H, W), count_include_pad, divisor_override)
                for u, v, z in _window(t, i, j, k, s, p, (1, 1, 1), (D, H, W)):
                    grad[beta, ch, u, v, z] += G[beta, ch, t, i, j] / div
    return grad.astype(x.dtype)


# ---------------------------------------------------------------------------------------
# Adaptive pooling
# ---------------------------------------------------------------------------------------


def _adaptive_out(x_shape, output_size):
    if isinstance(output_size, (int, np.integer)):
        output_size = (int(output_size),) * 3
    return tuple(m if n is None else int(n) for m, n in zip(x_shape[2:], output_size))


def _adaptive_range(n, count, m):
    """Window n of ``count`` over length m: [floor(n·m/count), ceil((n+1)·m/count))."""
    return range((n * m) // count, -(-((n + 1) * m) // count))


def _adaptive_windows(x_shape, out):
    """Every output cell (t, i, j) with its taps (u, v, z) in (depth, row, column) order."""
    for t, i, j in np.ndindex(*out):
        taps = [
            (u, v, z)
            for u in _adaptive_range(t, out[0], x_shape[2])
            for v in _adaptive_range(i, out[1], x_shape[3])
            for z in _adaptive_range(j, out[2], x_shape[4])
        ]
        yield (t, i, j), taps


def adaptive_avg_pool3d(x, output_size):
    """``Y[β,c,t,i,j]`` = the mean of X[β,c] over its adaptive window."""
    x = np.asarray(x)
    out = _adaptive_out(x.shape, output_size)
    y = np.zeros((*x.shape[:2], *out))
    for beta in range(x.shape[0]):
        for ch in range(x.shape[1]):
            for cell, taps in _adaptive_windows(x.shape, out):
                total = sum(float(x[beta, ch, u, v, z]) for u, v, z in taps)
                y[(beta, ch) + tuple(cell)] = total / len(taps)
    return y.astype(x.dtype)


def adaptive_avg_pool3d_backward(grad_output, x, output_size):
    """Each element of a window receives G / (the window's size)."""
    x = np.asarray(x)
    out = _adaptive_out(x.shape, output_size)
    G = np.asarray(grad_output, dtype=np.float64)
    grad = np.zeros(x.shape)
    for beta in range(x.shape[0]):
        for ch in range(x.shape[1]):
            for cell, taps in _adaptive_windows(x.shape, out):
                for u, v, z in taps:
                    grad[beta, ch, u, v, z] += G[(beta, ch) + tuple(cell)] / len(taps)
    return grad.astype(x.dtype)


def adaptive_max_pool3d(x, output_size, return_indices=False):
    """The element of each adaptive window PyTorch's walk chooses; with ``return_indices``
    also its flat position u·H·W + v·W + z."""
    x = np.asarray(x)
    out = _adaptive_out(x.shape, output_size)
    _, _, D, H, W = x.shape
    y = np.zeros((*x.shape[:2], *out), dtype=x.dtype)
    at = np.zeros((*x.shape[:2], *out), dtype=np.int64)
    for beta in range(x.shape[0]):
        for ch in range(x.shape[1]):
            for cell, taps in _adaptive_windows(x.shape, out):
                u, v, z = _choose(x[beta, ch], taps)
                where = (beta, ch, *cell)
                y[where] = x[beta, ch, u, v, z]
                at[where] = (u * H + v) * W + z
    return (y, at) if return_indices else y


def adaptive_max_pool3d_backward(grad_output, x, output_size):
    """Each G added to the element its window chose."""
    x = np.asarray(x)
    _, at = adaptive_max_pool3d(x, output_size, return_indices=True)
    G = np.asarray(grad_output, dtype=np.float64)
    N, C, D, H, W = x.shape
    grad = np.zeros((N, C, D * H * W))
    for beta in range(N):
        for ch in range(C):
            for index in np.ndindex(*at.shape[2:]):
                where = (beta, ch, *index)
                grad[beta, ch, at[where]] += G[where]
    return grad.reshape(x.shape).astype(x.dtype)


# ---------------------------------------------------------------------------------------
# Max unpooling
# ---------------------------------------------------------------------------------------


def _unpool_volume(x_shape, kernel_size, stride, padding, output_size):
    """``output_size``'s last three entries, or ``(d - 1)*s - 2p + k`` per axis."""
    if output_size is not None:
        return tuple(int(v) for v in output_size[-3:])
    k = _triple(kernel_size, "kernel_size")
    s = k if stride is None else _triple(stride, "stride")
    p = _triple(padding, "padding")
    return tuple((x_shape[2 + a] - 1) * s[a] - 2 * p[a] + k[a] for a in range(3))


def max_unpool3d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Every value of x written at the position its index names in its output volume
    (``Y[β, c, t', u, v] = X[β, c, t, i, j]`` with ``I = (t'·H_out + u)·W_out + v``), zeros
    elsewhere; of two equal indices the later one in (t, i, j) order stays.

    Returns
    -------
    (N, C, D_out, H_out, W_out) array of ``x``'s dtype.
    """
    x = np.asarray(x)
    batch, channels, depth, height, width = x.shape
    d_out, h_out, w_out = _unpool_volume(x.shape, kernel_size, stride, padding, output_size)
    y = np.zeros((batch, channels, d_out, h_out, w_out), dtype=np.float64)
    for beta in range(batch):
        for c in range(channels):
            for t in range(depth):
                for i in range(height):
                    for j in range(width):
                        at = int(indices[beta, c, t, i, j])
                        y[beta, c, at // (h_out * w_out), at // w_out % h_out, at % w_out] = x[
                            beta, c, t, i, j
                        ]
    return y.astype(x.dtype)


def max_unpool3d_backward(
    grad_output, x, indices, kernel_size, stride=None, padding=0, output_size=None
):
    """Gradient of :func:`max_unpool3d` with respect to ``x``: the upstream gradient at the
    position each value went to.

    Returns
    -------
    grad_x : array of ``x``'s shape and dtype.
    """
    x = np.asarray(x)
    batch, channels, depth, height, width = x.shape
    d_out, h_out, w_out = _unpool_volume(x.shape, kernel_size, stride, padding, output_size)
    grad_y = _check_grad_output(grad_output, (batch, channels, d_out, h_out, w_out))
    grad_x = np.zeros(x.shape)
    for beta in range(batch):
        for c in range(channels):
            for t in range(depth):
                for i in range(height):
                    for j in range(width):
                        at = int(indices[beta, c, t, i, j])
                        grad_x[beta, c, t, i, j] = grad_y[
                            beta, c, at // (h_out * w_out), at // w_out % h_out, at % w_out
                        ]
    return grad_x.astype(x.dtype)
