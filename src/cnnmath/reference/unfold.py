"""unfold (im2col) and fold (col2im) as literal loops over every window entry.

For x (N, C, H, W), kernel (k1, k2), dilation d, padding p and stride s, window (i, j) is
number l = i·W_out + j, and its entry (c, a, b) is row (c·k1 + a)·k2 + b of column l:

    U[n, (c·k1 + a)·k2 + b, i·W_out + j] = x[n, c, s_h·i + d_h·a − p_h, s_w·j + d_w·b − p_w]

(0 where that pixel is in the padding). fold adds every U entry back into that pixel;
each backward is the other's loop, the adjoint written out.
"""

from __future__ import annotations

import numpy as np


def _pair(v):
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else (int(v[0]), int(v[1]))


def _entries(C, H, W, kernel_size, dilation, padding, stride):
    """Every (c, h, w, row, column) with h, w inside the image: U[row, column] is x[c, h, w]."""
    (k1, k2), (dh, dw) = _pair(kernel_size), _pair(dilation)
    (ph, pw), (sh, sw) = _pair(padding), _pair(stride)
    ho = (H + 2 * ph - dh * (k1 - 1) - 1) // sh + 1
    wo = (W + 2 * pw - dw * (k2 - 1) - 1) // sw + 1
    for c in range(C):
        for a in range(k1):
            for b in range(k2):
                for i in range(ho):
                    for j in range(wo):
                        h, w = sh * i + dh * a - ph, sw * j + dw * b - pw
                        if 0 <= h < H and 0 <= w < W:
                            yield c, h, w, (c * k1 + a) * k2 + b, i * wo + j


def _count(H, W, kernel_size, dilation, padding, stride):
    (k1, k2), (dh, dw) = _pair(kernel_size), _pair(dilation)
    (ph, pw), (sh, sw) = _pair(padding), _pair(stride)
    ho = (H + 2 * ph - dh * (k1 - 1) - 1) // sh + 1
    wo = (W + 2 * pw - dw * (k2 - 1) - 1) // sw + 1
    return k1 * k2, ho * wo


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """Every window of ``x`` as a column (im2col), as ``torch.nn.functional.unfold``.

    0-based, window (i, j) is column l = i·W_out + j and its entry (c, a, b) row
    (c·k1 + a)·k2 + b:

        U[n, (c·k1 + a)·k2 + b, i·W_out + j] = X[n, c, s_h·i + d_h·a − p_h, s_w·j + d_w·b − p_w]

    (0 where that pixel is in the padding), with H_out = ⌊(H + 2p_h − d_h(k1 − 1) − 1)/s_h⌋ + 1
    and W_out likewise.

    Parameters
    ----------
    x : (N, C, H, W) or (C, H, W) array
    kernel_size, dilation, padding, stride : int or pair, (k1, k2), (d_h, d_w), (p_h, p_w),
        (s_h, s_w)

    Returns
    -------
    (N, C·k1·k2, H_out·W_out) array (no N for an unbatched x) of ``x``'s dtype.
    """
    x4 = x if x.ndim == 4 else x[None]
    N, C, H, W = x4.shape
    k, L = _count(H, W, kernel_size, dilation, padding, stride)
    U = np.zeros((N, C * k, L), dtype=x.dtype)
    for n in range(N):
        for c, h, w, row, col in _entries(C, H, W, kernel_size, dilation, padding, stride):
            U[n, row, col] = x4[n, c, h, w]
    return U if x.ndim == 4 else U[0]


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum columns back into an image (col2im), as ``torch.nn.functional.fold``: the
    adjoint of :func:`unfold`.

    0-based, every entry of U adds into the pixel :func:`unfold` reads it from:

        Y[n, c, s_h·i + d_h·a − p_h, s_w·j + d_w·b − p_w] += U[n, (c·k1 + a)·k2 + b, i·W_out + j]

    over every c, a, b, i, j whose pixel lies inside (H, W) = ``output_size``. Sums in
    float64.

    Parameters
    ----------
    x : (N, C·k1·k2, H_out·W_out) or (C·k1·k2, H_out·W_out) array
    output_size : int or (H, W)
    kernel_size, dilation, padding, stride : as for :func:`unfold`

    Returns
    -------
    (N, C, H, W) array (no N for an unbatched x) of ``x``'s dtype.
    """
    x3 = x if x.ndim == 3 else x[None]
    H, W = _pair(output_size)
    k, _ = _count(H, W, kernel_size, dilation, padding, stride)
    N, C = x3.shape[0], x3.shape[1] // k
    out = np.zeros((N, C, H, W))
    for n in range(N):
        for c, h, w, row, col in _entries(C, H, W, kernel_size, dilation, padding, stride):
            out[n, c, h, w] += x3[n, row, col]
    out = out.astype(x.dtype)
    return out if x.ndim == 3 else out[0]


def unfold_backward(grad_output, input_shape, kernel_size, dilation=1, padding=0, stride=1):
    """Gradient of :func:`unfold`: :func:`fold` of G onto the input's (H, W),

        ∂ℓ/∂X[n, c, s_h·i + d_h·a − p_h, s_w·j + d_w·b − p_w]
            += G[n, (c·k1 + a)·k2 + b, i·W_out + j]

    over every c, a, b, i, j whose pixel lies inside the input.

    Parameters
    ----------
    grad_output : (N, C·k1·k2, H_out·W_out) or unbatched array
    input_shape : the shape of unfold's ``x``, (…, H, W)
    kernel_size, dilation, padding, stride : as for :func:`unfold`

    Returns
    -------
    array of ``input_shape`` and ``grad_output``'s dtype.
    """
    return fold(grad_output, tuple(input_shape)[-2:], kernel_size, dilation, padding, stride)


def fold_backward(grad_output, kernel_size, dilation=1, padding=0, stride=1):
    """Gradient of :func:`fold`: :func:`unfold` of G,

        ∂ℓ/∂U[n, (c·k1 + a)·k2 + b, i·W_out + j] = G[n, c, s_h·i + d_h·a − p_h, s_w·j + d_w·b − p_w]

    (0 for a pixel in the padding).

    Parameters
    ----------
    grad_output : (N, C, H, W) or (C, H, W) array
    kernel_size, dilation, padding, stride : as for :func:`fold`

    Returns
    -------
    (N, C·k1·k2, H_out·W_out) array (no N unbatched) of ``grad_output``'s dtype.
    """
    return unfold(grad_output, kernel_size, dilation, padding, stride)
