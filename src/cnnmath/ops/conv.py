"""2-D convolution (cross-correlation, as in every deep-learning framework) and its backward pass.

Notation (SPEC.md): input X (B, C_in, m, n), filter w (C_out, C_in, f1, f2), bias b (C_out,),
stride s, zero padding p (X̃ is X padded), dilation d, all 1-based in the formulas:

    Y[β,o,i,j] = Σ_g Σ_a Σ_c w[o,g,a,c] · X̃[β, g, s(i-1)+d(a-1)+1, s(j-1)+d(c-1)+1] + b[o]

The backward pass is made of the same correlation (`_correlate`), called with other arguments.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._checks import (
    batched_image,
    check_float_array,
    check_ndim,
    check_same_dtype,
    check_shape,
    int_pair,
)
from ._geometry import Pads, Pair, check_output_size, output_size, resolve_padding
from ._windows import dilate, pad, windows

# ---------------------------------------------------------------------------------------------
# The one dispatch point: every convolution, forward or backward, goes through `_correlate`.


def _correlate_im2col(xp: np.ndarray, w: np.ndarray, stride: Pair, dilation: Pair) -> np.ndarray:
    """im2col as a window view, then one matrix product over (C_in, f1, f2)."""
    f1, f2 = w.shape[2:]
    out_hw = (
        output_size(xp.shape[2], f1, stride[0], 0, 0, dilation[0]),
        output_size(xp.shape[3], f2, stride[1], 0, 0, dilation[1]),
    )
    cols = windows(xp, (f1, f2), stride, dilation, out_hw)  # (B, C_in, H_out, W_out, f1, f2)
    y = np.tensordot(cols, w, axes=([1, 4, 5], [1, 2, 3]))  # (B, H_out, W_out, C_out)
    return np.ascontiguousarray(y.transpose(0, 3, 1, 2))


METHODS = {"im2col": _correlate_im2col}


def select_method(xp_shape: tuple[int, ...], w_shape: tuple[int, ...], stride: Pair,
                  dilation: Pair) -> str:
    """The method `_correlate` uses for these shapes (one method for now)."""
    return "im2col"


def _correlate(
    xp: np.ndarray, w: np.ndarray, stride: Pair, dilation: Pair, method: str | None = None
) -> np.ndarray:
    """Valid cross-correlation of an already padded batch xp (B, C_in, H, W) with w (C_out, C_in, f1, f2)."""
    name = method or select_method(xp.shape, w.shape, stride, dilation)
    return METHODS[name](xp, w, stride, dilation)


# ---------------------------------------------------------------------------------------------
# Validation shared by the forward and backward passes.


class _Geometry(NamedTuple):
    x: np.ndarray  # always 4-D
    unbatched: bool
    stride: Pair
    dilation: Pair
    pads: Pads
    out_hw: Pair


def _geometry(x: Any, weight: Any, stride: Any, padding: Any, dilation: Any, *, func: str
              ) -> _Geometry:
    check_float_array("x", x, func=func)
    check_float_array("weight", weight, func=func)
    check_same_dtype(func, x=x, weight=weight)
    x4, unbatched = batched_image("x", x, func=func)
    check_ndim("weight", weight, (4,), func=func, layout="(C_out, C_in, f1, f2)")
    if weight.shape[1] != x4.shape[1]:
        raise ValueError(
            f"{func}: weight: expected {x4.shape[1]} input channels (x has shape {x.shape}), "
            f"got weight of shape {weight.shape} with C_in = {weight.shape[1]}"
        )
    if min(weight.shape) == 0 or min(x4.shape) == 0:
        raise ValueError(f"{func}: expected non-empty arrays, got x {x.shape}, weight {weight.shape}")
    s = int_pair("stride", stride, minimum=1, func=func)
    d = int_pair("dilation", dilation, minimum=1, func=func)
    kernel = (weight.shape[2], weight.shape[3])
    pads = resolve_padding(padding, kernel, d, s, func=func)
    out_hw = check_output_size(x4.shape[2:], kernel, s, pads, d, func=func)
    return _Geometry(x4, unbatched, s, d, pads, out_hw)


# ---------------------------------------------------------------------------------------------
# Forward


def conv2d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
) -> np.ndarray:
    """2-D cross-correlation of a batch, as ``torch.nn.functional.conv2d`` (groups = 1).

    Y[β,o,i,j] = Σ_{g=1..C_in} Σ_{a=1..f1} Σ_{c=1..f2}
                     w[o,g,a,c] · X̃[β, g, s(i-1)+d(a-1)+1, s(j-1)+d(c-1)+1] + b[o]

    Parameters
    ----------
    x : (B, C_in, m, n) float32 or float64, or one unbatched image (C_in, m, n).
    weight : (C_out, C_in, f1, f2), same dtype as x. Not flipped (cross-correlation).
    bias : (C_out,) or None.
    stride, dilation : int or (height, width) pair, each >= 1.
    padding : int or pair of zeros added on both sides, ``"valid"`` (none) or ``"same"``
        (stride 1; for an even effective kernel the extra zero goes after, as PyTorch).

    Returns
    -------
    Y : (B, C_out, H_out, W_out) — or (C_out, H_out, W_out) for an unbatched x — with
    H_out = floor((m + p_top + p_bottom - d(f1-1) - 1)/s) + 1 and likewise W_out; x's dtype.

    Examples
    --------
    >>> import numpy as np
    >>> conv2d(np.ones((1, 1, 5, 5)), np.ones((2, 1, 3, 3)), stride=2, padding=1).shape
    (1, 2, 3, 3)
    """
    geo = _geometry(x, weight, stride, padding, dilation, func="conv2d")
    if bias is not None:
        check_float_array("bias", bias, func="conv2d")
        check_same_dtype("conv2d", x=x, bias=bias)
        check_shape("bias", bias, (weight.shape[0],), func="conv2d")
    y = _correlate(pad(geo.x, geo.pads), weight, geo.stride, geo.dilation)
    if bias is not None:
        y += bias[:, None, None]
    return y[0] if geo.unbatched else y


# ---------------------------------------------------------------------------------------------
# Backward


def conv2d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    weight: np.ndarray,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of a loss ℓ through ``conv2d``, given G = ∂ℓ/∂Y; each is itself a correlation.

    - grad_x = ∂ℓ/∂X: dilate G by the stride (s-1 zeros between entries), pad it fully
      (d(f-1) on every side) and correlate it with the filter flipped in both spatial axes
      and with C_in and C_out swapped, dilation d; the result covers the part of X̃ that
      some window read — rows and columns no window reached get zero — and the padding p
      is cropped off:
          ∂ℓ/∂X̃[β,g,u,v] = Σ_o Σ_a Σ_c w[o,g,a,c] · G[β,o,i,j]  over s(i-1)+d(a-1)+1 = u, …
    - grad_weight = ∂ℓ/∂w: correlate X̃ (batch and channel axes swapped) with G used as the
      filter, G's dilation being the forward stride s and the stride the forward dilation d;
      the sum over the batch is the sum over the correlation's channels:
          ∂ℓ/∂w[o,g,a,c] = Σ_β Σ_i Σ_j G[β,o,i,j] · X̃[β, g, s(i-1)+d(a-1)+1, s(j-1)+d(c-1)+1]
    - grad_bias = ∂ℓ/∂b[o] = Σ_β Σ_i Σ_j G[β,o,i,j].

    Shapes: grad_output (B, C_out, H_out, W_out) as returned by ``conv2d(x, weight, ...)``
    with the same stride/padding/dilation; returns (grad_x like x, grad_weight like weight,
    grad_bias of shape (C_out,)), all in x's dtype. Unbatched (C, m, n) input works as in
    the forward pass.
    """
    func = "conv2d_backward"
    geo = _geometry(x, weight, stride, padding, dilation, func=func)
    check_float_array("grad_output", grad_output, func=func)
    check_same_dtype(func, grad_output=grad_output, x=x)
    C_out, C_in, f1, f2 = weight.shape
    B, _, m, n = geo.x.shape
    expected = (B, C_out, *geo.out_hw)
    check_shape("grad_output", grad_output, expected[1:] if geo.unbatched else expected, func=func)
    G = grad_output[None] if geo.unbatched else grad_output
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    (pt, pb), (pl, pr) = geo.pads
    H_out, W_out = geo.out_hw
    # The part of X̃ that some window reads: rows 0 .. s(H_out-1) + d(f1-1).
    reach_h, reach_w = sh * (H_out - 1) + dh * (f1 - 1) + 1, sw * (W_out - 1) + dw * (f2 - 1) + 1

    # grad_x: full correlation of the dilated G with the flipped, channel-swapped filter.
    w_flipped = weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (C_in, C_out, f1, f2)
    full = ((dh * (f1 - 1),) * 2, (dw * (f2 - 1),) * 2)
    grad_reached = _correlate(pad(dilate(G, geo.stride), full), w_flipped, (1, 1), geo.dilation)
    grad_xp = pad(grad_reached, ((0, m + pt + pb - reach_h), (0, n + pl + pr - reach_w)))
    grad_x = np.ascontiguousarray(grad_xp[:, :, pt : pt + m, pl : pl + n])

    # grad_weight: X̃ (as C_in images of B channels) correlated with G (as C_out filters).
    xp = pad(geo.x, geo.pads)[:, :, :reach_h, :reach_w]
    gw = _correlate(xp.transpose(1, 0, 2, 3), G.transpose(1, 0, 2, 3), geo.dilation, geo.stride)
    grad_weight = np.ascontiguousarray(gw.transpose(1, 0, 2, 3))  # (C_out, C_in, f1, f2)

    grad_bias = G.sum(axis=(0, 2, 3))
    return (grad_x[0] if geo.unbatched else grad_x), grad_weight, grad_bias


def conv_output_shape(
    input_shape: tuple[int, ...],
    weight_shape: tuple[int, ...],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
) -> tuple[int, ...]:
    """The shape ``conv2d`` returns for inputs of these shapes, without computing anything.

    H_out = floor((m + p_top + p_bottom - d(f1-1) - 1)/s) + 1, likewise W_out.

    >>> conv_output_shape((8, 3, 32, 32), (16, 3, 5, 5), padding="same")
    (8, 16, 32, 32)
    """
    func = "conv_output_shape"
    s = int_pair("stride", stride, minimum=1, func=func)
    d = int_pair("dilation", dilation, minimum=1, func=func)
    kernel = (weight_shape[2], weight_shape[3])
    pads = resolve_padding(padding, kernel, d, s, func=func)
    out_hw = check_output_size(tuple(input_shape[-2:]), kernel, s, pads, d, func=func)
    return (*input_shape[:-3], weight_shape[0], *out_hw)
