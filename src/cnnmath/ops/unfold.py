"""im2col and col2im as ops: ``unfold`` lays every sliding window of an image out as one
column, ``fold`` sums columns back into an image, as ``torch.nn.functional.unfold`` / ``fold``.

For x (N, C, H, W), a kernel k1 × k2, stride s, dilation d and zero padding p (each an int
or a (height, width) pair), the windows sit at the L = H_out·W_out positions (i, j) with

    H_out = ⌊(H + 2p_h − d_h(k1 − 1) − 1)/s_h⌋ + 1    (W_out alike),

and unfold's column l = i·W_out + j holds window (i, j), channel by channel, row by row:

    U[n, (c·k1 + a)·k2 + b, l] = x_p[n, c, s_h·i + d_h·a, s_w·j + d_w·b],    U: (N, C·k1·k2, L)

(x_p the padded image). This is the matrix a convolution multiplies: with W (O, C, k1, k2),

    conv2d(x, W)[n, o] = (W.reshape(O, C·k1·k2) @ U[n])[o].reshape(H_out, W_out).

``fold(U, (H, W), …)`` is the adjoint of unfold: each column's entries are added into the
pixels they came from, overlaps summed and padding dropped,

    x[n, c, h, w] = Σ over (i, j, a, b) with s_h·i + d_h·a − p_h = h, s_w·j + d_w·b − p_w = w
                    of U[n, (c·k1 + a)·k2 + b, i·W_out + j],

so ⟨unfold(x), U⟩ = ⟨x, fold(U)⟩, fold(unfold(x)) multiplies each pixel by the number of
windows covering it, and each one's backward is the other applied to G. An unbatched image
(C, H, W) gives (C·k1·k2, L), and fold takes (C·k1·k2, L), as PyTorch's. The loops run over
the k1·k2 kernel offsets only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import check_float_array, int_pair
from . import _windows
from ._geometry import Pads, Pair, check_output_size
from ._geometry import output_size as windows_along

__all__ = ["fold", "fold_backward", "unfold", "unfold_backward"]


def _geometry(
    func: str, kernel_size: Any, dilation: Any, padding: Any, stride: Any
) -> tuple[Pair, Pair, Pads, Pair]:
    kernel = int_pair("kernel_size", kernel_size, minimum=1, func=func)
    dil = int_pair("dilation", dilation, minimum=1, func=func)
    ph, pw = int_pair("padding", padding, minimum=0, func=func)
    step = int_pair("stride", stride, minimum=1, func=func)
    return kernel, dil, ((ph, ph), (pw, pw)), step


def _image(func: str, name: str, x: Any) -> tuple[np.ndarray, bool]:
    """x as (N, C, H, W), and whether it came unbatched (C, H, W)."""
    check_float_array(name, x, func=func)
    if x.ndim not in (3, 4):
        raise ValueError(
            f"{func}: {name}: expected (N, C, H, W) or an unbatched (C, H, W), got shape {x.shape}"
        )
    return (x, False) if x.ndim == 4 else (x[None], True)


def _unfold(x: np.ndarray, kernel: Pair, dilation: Pair, pads: Pads, stride: Pair, func: str):
    N, C, H, W = x.shape
    ho, wo = check_output_size((H, W), kernel, stride, pads, dilation, func=func)
    view = _windows.windows(_windows.pad(x, pads), kernel, stride, dilation, (ho, wo))
    cols = view.transpose(0, 1, 4, 5, 2, 3)  # (N, C, k1, k2, H_out, W_out)
    return np.ascontiguousarray(cols).reshape(N, C * kernel[0] * kernel[1], ho * wo)


def unfold(
    x: np.ndarray, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1
) -> np.ndarray:
    """The sliding windows of x as columns (im2col): U (N, C·k1·k2, L) from x (N, C, H, W),
    or (C·k1·k2, L) from (C, H, W); the module docstring has the index formula.

    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> unfold(x, 2)[0].tolist()  # four 2×2 windows, one per column
    [[0.0, 1.0, 3.0, 4.0], [1.0, 2.0, 4.0, 5.0], [3.0, 4.0, 6.0, 7.0], [4.0, 5.0, 7.0, 8.0]]
    """
    func = "unfold"
    x4, unbatched = _image(func, "x", x)
    kernel, dil, pads, step = _geometry(func, kernel_size, dilation, padding, stride)
    cols = _unfold(x4, kernel, dil, pads, step, func)
    return cols[0] if unbatched else cols


def _fold(
    cols: np.ndarray, out_hw: Pair, kernel: Pair, dilation: Pair, pads: Pads, stride: Pair
) -> np.ndarray:
    """col2im of cols (N, C·k1·k2, L) into (N, C, H, W): one strided add per kernel offset,
    in the offsets' order (a, b) = (0, 0), (0, 1), …"""
    (k1, k2), (dh, dw), ((ph, _), (pw, _)), (sh, sw) = kernel, dilation, pads, stride
    H, W = out_hw
    ho, wo = windows_along(H, k1, sh, ph, ph, dh), windows_along(W, k2, sw, pw, pw, dw)
    N, C = cols.shape[0], cols.shape[1] // (k1 * k2)
    blocks = cols.reshape(N, C, k1, k2, ho, wo)
    out = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=cols.dtype)
    for a in range(k1):
        rows = slice(dh * a, dh * a + sh * (ho - 1) + 1, sh)
        for b in range(k2):
            out[:, :, rows, dw * b : dw * b + sw * (wo - 1) + 1 : sw] += blocks[:, :, a, b]
    return out[:, :, ph : ph + H, pw : pw + W]


def fold(
    x: np.ndarray,
    output_size: Any,
    kernel_size: Any,
    dilation: Any = 1,
    padding: Any = 0,
    stride: Any = 1,
) -> np.ndarray:
    """Sum columns back into an image (col2im, overlap-add): x (N, C·k1·k2, L) or
    (C·k1·k2, L) → (N, C, H, W) or (C, H, W) with (H, W) = ``output_size``, L the number of
    windows that geometry has; the module docstring has the sum.

    >>> cols = np.ones((1, 4, 4))  # four 2×2 windows of ones over a 3×3 image
    >>> fold(cols, 3, 2)[0, 0].tolist()  # each pixel: how many windows cover it
    [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
    """
    func = "fold"
    check_float_array("x", x, func=func)
    if x.ndim not in (2, 3):
        raise ValueError(
            f"{func}: x: expected (N, C·k1·k2, L) or an unbatched (C·k1·k2, L), got shape {x.shape}"
        )
    x3 = x if x.ndim == 3 else x[None]
    kernel, dil, pads, step = _geometry(func, kernel_size, dilation, padding, stride)
    out_hw = int_pair("output_size", output_size, minimum=1, func=func)
    k = kernel[0] * kernel[1]
    if x3.shape[1] % k:
        raise ValueError(
            f"{func}: x: expected C·k1·k2 rows, a multiple of k1·k2 = {k} (kernel_size "
            f"{kernel}), got {x3.shape[1]} (shape {x.shape})"
        )
    ho, wo = check_output_size(out_hw, kernel, step, pads, dil, func=func)
    if x3.shape[2] != ho * wo:
        raise ValueError(
            f"{func}: x: expected L = {ho}·{wo} = {ho * wo} columns, the windows of an "
            f"output_size {out_hw} image with this kernel, stride, padding and dilation, got "
            f"{x3.shape[2]} (shape {x.shape})"
        )
    image = _fold(x3, out_hw, kernel, dil, pads, step)
    return image[0] if x.ndim == 2 else image


def unfold_backward(
    grad_output: np.ndarray,
    input_shape: tuple[int, ...],
    kernel_size: Any,
    dilation: Any = 1,
    padding: Any = 0,
    stride: Any = 1,
) -> np.ndarray:
    """∂ℓ/∂x of U = unfold(x) from G = ∂ℓ/∂U (U's shape): fold(G) into x's ``input_shape``,
    each window entry's gradient added into the pixel it copied (padding's dropped)."""
    func = "unfold_backward"
    shape = tuple(input_shape)
    if len(shape) not in (3, 4):
        raise ValueError(
            f"{func}: input_shape: expected (N, C, H, W) or (C, H, W), got {input_shape!r}"
        )
    kernel, dil, pads, step = _geometry(func, kernel_size, dilation, padding, stride)
    ho, wo = check_output_size((shape[-2], shape[-1]), kernel, step, pads, dil, func=func)
    expected = (*shape[:-3], shape[-3] * kernel[0] * kernel[1], ho * wo)
    check_float_array("grad_output", grad_output, func=func)
    if grad_output.shape != expected:
        raise ValueError(
            f"{func}: grad_output: expected the shape of unfold's output {expected}, got "
            f"{grad_output.shape}"
        )
    g3 = grad_output if grad_output.ndim == 3 else grad_output[None]
    image = _fold(g3, (shape[-2], shape[-1]), kernel, dil, pads, step)
    return image if len(shape) == 4 else image[0]


def fold_backward(
    grad_output: np.ndarray,
    kernel_size: Any,
    dilation: Any = 1,
    padding: Any = 0,
    stride: Any = 1,
) -> np.ndarray:
    """∂ℓ/∂x of y = fold(x, …) from G = ∂ℓ/∂y (y's shape): unfold(G) with the same geometry,
    each column entry's gradient read from the pixel it was added into."""
    func = "fold_backward"
    g4, unbatched = _image(func, "grad_output", grad_output)
    kernel, dil, pads, step = _geometry(func, kernel_size, dilation, padding, stride)
    cols = _unfold(g4, kernel, dil, pads, step, func)
    return cols[0] if unbatched else cols
