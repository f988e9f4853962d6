"""The public ``conv2d`` and ``conv2d_backward``: check the arguments, then run the passes."""

from __future__ import annotations

import math

import numpy as np

from .. import _threads
from ._arguments import _check_bias, _check_grad_output, _geometry
from ._passes import (
    _add_bias,
    _conv_transpose,
    _empty_batch_gradients,
    _forward,
    _grad_bias,
    _grad_weight,
    _two_passes,
)

# ---------------------------------------------------------------------------------------------
# Forward


@_threads.op
def conv2d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> np.ndarray:
    """2-D cross-correlation of a batch, as ``torch.nn.functional.conv2d``, grouped or not.

    Y[β,o,i,j] = Σ_{g=1..C_in/G} Σ_{a=1..f1} Σ_{c=1..f2}
                     w[o,g,a,c] · X̃[β, k·C_in/G + g, s(i-1)+d(a-1)+1, s(j-1)+d(c-1)+1] + b[o]

    with G = ``groups`` and k = floor((o-1) / (C_out/G)) the block of output channel o (0 when
    G = 1): the channels split into G blocks and block k of the output reads only block k of
    the input. ``groups = C_in`` is depthwise convolution (MobileNet's), one filter per
    channel; it runs one scaled addition of whole planes per kernel tap for all channels at
    once, never a loop over the groups.

    Parameters
    ----------
    x : (B, C_in, m, n) float32 or float64, or one unbatched image (C_in, m, n). B may be 0
        (an empty output, and empty or zero gradients, as PyTorch's); the other sizes not.
    weight : (C_out, C_in/groups, f1, f2), same dtype as x. Not flipped (cross-correlation).
    bias : (C_out,) or None.
    stride, dilation : int or (height, width) pair, each >= 1.
    padding : int or pair of zeros added on both sides, ``"valid"`` (none) or ``"same"``
        (stride 1; for an even effective kernel the extra zero goes after, as PyTorch).
    groups : int >= 1 dividing both C_in and C_out.

    Returns
    -------
    Y : (B, C_out, H_out, W_out) — or (C_out, H_out, W_out) for an unbatched x — with
    H_out = floor((m + p_top + p_bottom - d(f1-1) - 1)/s) + 1 and likewise W_out; x's dtype.
    An output or padded input too large for this machine's memory is refused before any
    work, naming ``padding``.

    Examples
    --------
    >>> import numpy as np
    >>> conv2d(np.ones((1, 1, 5, 5)), np.ones((2, 1, 3, 3)), stride=2, padding=1).shape
    (1, 2, 3, 3)
    >>> conv2d(np.ones((1, 4, 5, 5)), np.ones((4, 1, 3, 3)), padding=1, groups=4)[0, :, 0, 0]
    array([4., 4., 4., 4.])
    """
    geo = _geometry(x, weight, stride, padding, dilation, groups, func="conv2d")
    if bias is not None:
        _check_bias(bias, x, weight.shape[0], func="conv2d")
    if geo.x.shape[0] == 0:  # an empty batch: an empty output
        return np.zeros((0, weight.shape[0], *geo.out_hw), dtype=x.dtype)
    y = _forward(geo, weight)
    if bias is not None:
        _add_bias(y, bias)
    return y[0] if geo.unbatched else y


# ---------------------------------------------------------------------------------------------
# Backward


@_threads.op
def conv2d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    weight: np.ndarray,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of a loss ℓ through ``conv2d``, given G = ∂ℓ/∂Y; each is itself a correlation.

    - grad_x = ∂ℓ/∂X = ``conv_transpose2d(G, weight, ...)``: the same code path computes both
      (``_conv_transpose``), since the transposed convolution is by definition the adjoint
      G ↦ ∂⟨Y, G⟩/∂X. It is the full correlation of G, dilated by the stride (s-1 zeros
      between entries), with the filter flipped in both spatial axes and C_in, C_out swapped
      (per group), at dilation d, cropped to X by the padding (positions no window read get
      zero):
          ∂ℓ/∂X̃[β,k·C_in/G+g,u,v] = Σ_o Σ_a Σ_c w[o,g,a,c] · G[β,o,i,j]
      over the o of block k and s(i-1)+d(a-1)+1 = u, s(j-1)+d(c-1)+1 = v. Computed without
      the inserted zeros: per stride phase of X, one stride-1 correlation of G with the taps
      that reach that phase (see ``_conv_transpose``); where the windows tile X (kernel =
      stride, no dilation, no padding before, one group) every tap's terms in one product.
    - grad_weight = ∂ℓ/∂w: correlate X̃ (batch and channel axes swapped) with G used as the
      filter, G's dilation being the forward stride s and the stride the forward dilation d;
      the sum over the batch is the sum over the correlation's channels; block k of the
      filters meets block k of the input channels only:
          ∂ℓ/∂w[o,g,a,c] = Σ_β Σ_i Σ_j G[β,o,i,j] · X̃[β, k·C_g + g, s(i-1)+d(a-1)+1, …]
    - grad_bias = ∂ℓ/∂b[o] = Σ_β Σ_i Σ_j G[β,o,i,j].

    Shapes: grad_output (B, C_out, H_out, W_out) as returned by ``conv2d(x, weight, ...)``
    with the same stride/padding/dilation/groups; returns (grad_x like x, grad_weight like
    weight, grad_bias of shape (C_out,)), all in x's dtype. Unbatched (C, m, n) input works
    as in the forward pass.
    """
    func = "conv2d_backward"
    geo = _geometry(x, weight, stride, padding, dilation, groups, func=func)
    C_out = weight.shape[0]
    B, _, m, n = geo.x.shape
    expected = (B, C_out, *geo.out_hw)
    _check_grad_output(grad_output, x, expected[1:] if geo.unbatched else expected, func)
    G = grad_output[None] if geo.unbatched else grad_output
    if B == 0:  # an empty batch: no input gradient, zero parameter gradients
        return _empty_batch_gradients(x, weight.shape, C_out)
    (pt, _), (pl, _) = geo.pads
    grad_weight, grad_x = _two_passes(
        lambda: _grad_weight(G, geo, weight.shape),
        lambda: _conv_transpose(G, weight, geo.groups, geo.stride, geo.dilation, (pt, pl), (m, n)),
        G.size * math.prod(weight.shape[1:]),
        geo.x.nbytes + G.nbytes,
    )
    return (grad_x[0] if geo.unbatched else grad_x), grad_weight, _grad_bias(G)
