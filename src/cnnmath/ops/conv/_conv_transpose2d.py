"""The public ``conv_transpose2d`` and ``conv_transpose2d_backward``: the adjoint of
``conv2d`` and its gradients, the same passes with the roles swapped.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _threads
from ._arguments import _check_bias, _check_grad_output, _Geometry, _transpose_geometry
from ._passes import (
    _add_bias,
    _conv_transpose,
    _empty_batch_gradients,
    _forward,
    _grad_bias,
    _grad_weight,
    _two_passes,
)


@_threads.op
def conv_transpose2d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    output_padding: int | tuple[int, int] = 0,
    groups: int = 1,
    dilation: int | tuple[int, int] = 1,
) -> np.ndarray:
    """Transposed convolution, as ``torch.nn.functional.conv_transpose2d``: the adjoint of
    ``conv2d``, ⟨conv2d(X, w), Y⟩ = ⟨X, conv_transpose2d(Y, w)⟩ for all X, Y.

    Every input pixel spreads into the output, weighted by the filter (0-based indices; block
    k of the input channels feeds block k of the output channels):

        Y[β, k·C_out/G + o, s i + d a - p, s j + d e - p] += x[β, c, i, j] · w[c, o, a, e] (+ b)

    for every input channel c of block k, every (i, j) and tap (a, e), positions outside the
    output dropped. It is, by definition, the input gradient of ``conv2d`` with the same
    ``weight``, stride, padding, dilation and groups, and the same code computes both
    (``_conv_transpose``; ``conv2d_backward``'s grad_x is this function): per stride phase of
    the output, one stride-1 correlation, never multiplying inserted zeros (kernel = stride,
    no dilation or padding, one group: every tap's terms in one product instead).

    Parameters
    ----------
    x : (B, C_in, H, W) float32 or float64, or one unbatched image (C_in, H, W); B may be 0,
        as in ``conv2d``.
    weight : (C_in, C_out/groups, f1, f2) — PyTorch's layout, conv2d's with the roles of
        input and output swapped; same dtype as x.
    bias : (C_out,) or None.
    stride, dilation : int or (height, width) pair, each >= 1.
    padding : int or pair >= 0: d(f-1) - p zeros around the dilated input, i.e. p rows and
        columns cropped from each side of the full result (no 'valid' or 'same', as in PyTorch).
    output_padding : int or pair, 0 <= output_padding < max(stride, dilation) per axis: rows
        and columns added at the bottom and right, choosing among the input sizes that
        ``conv2d`` maps to the same output size.
    groups : int >= 1 dividing C_in; C_out = groups · weight.shape[1].

    Returns
    -------
    Y : (B, C_out, H_out, W_out) — or (C_out, H_out, W_out) for an unbatched x — with
    H_out = (H - 1)s - 2p + d(f1 - 1) + output_padding + 1, likewise W_out; x's dtype.

    Examples
    --------
    >>> import numpy as np
    >>> conv_transpose2d(np.ones((1, 2, 4, 4)), np.ones((2, 3, 4, 4)), stride=2, padding=1).shape
    (1, 3, 8, 8)
    """
    func = "conv_transpose2d"
    geo = _transpose_geometry(
        x, weight, stride, padding, output_padding, groups, dilation, func=func
    )
    if bias is not None:
        _check_bias(bias, x, weight.shape[1] * geo.groups, func=func)
    if geo.x.shape[0] == 0:  # an empty batch: an empty output
        return np.zeros((0, weight.shape[1] * geo.groups, *geo.out_hw), dtype=x.dtype)
    y = _conv_transpose(
        geo.x, weight, geo.groups, geo.stride, geo.dilation, geo.padding, geo.out_hw
    )
    if bias is not None:
        _add_bias(y, bias)
    return y[0] if geo.unbatched else y


@_threads.op
def conv_transpose2d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    weight: np.ndarray,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    output_padding: int | tuple[int, int] = 0,
    groups: int = 1,
    dilation: int | tuple[int, int] = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of a loss ℓ through ``conv_transpose2d``, given G = ∂ℓ/∂Y.

    conv_transpose2d is the linear map Aᵀ, A = conv2d(·, weight) (stride, padding, dilation,
    groups as given), so ℓ sees ⟨Aᵀx, G⟩ = ⟨x, A G⟩:

    - grad_x = A G = ``conv2d(G, weight, stride=s, padding=p, dilation=d, groups=G)``, its
      first H × W outputs (the adjoint's adjoint);
    - grad_weight = ∂⟨x, conv2d(G, w)⟩/∂w: ``conv2d_backward``'s filter gradient with the
      roles swapped — G as the input, x as the output gradient:
          ∂ℓ/∂w[c,o,a,e] = Σ_β Σ_i Σ_j x[β,c,i,j] · G̃[β, k·C_out/G + o, s i + d a, s j + d e]
      (0-based, G̃ = G zero-padded by p, k the block of c);
    - grad_bias = Σ_β Σ_u Σ_v G[β,o,u,v].

    Shapes: grad_output as ``conv_transpose2d(x, weight, ...)`` returns it; returns
    (grad_x like x, grad_weight like weight, grad_bias of shape (C_out,)), in x's dtype.
    """
    func = "conv_transpose2d_backward"
    geo = _transpose_geometry(
        x, weight, stride, padding, output_padding, groups, dilation, func=func
    )
    B = geo.x.shape[0]
    expected = (B, weight.shape[1] * geo.groups, *geo.out_hw)
    _check_grad_output(grad_output, x, expected[1:] if geo.unbatched else expected, func)
    G = grad_output[None] if geo.unbatched else grad_output
    if B == 0:  # an empty batch: no input gradient, zero parameter gradients
        return _empty_batch_gradients(x, weight.shape, expected[1])
    (ph, pw) = geo.padding
    # conv2d of G: its output is x's size (output_padding's extra rows are never read)
    as_conv = _Geometry(
        G, False, geo.stride, geo.dilation, ((ph, ph), (pw, pw)), geo.x.shape[2:], geo.groups
    )
    grad_weight, grad_x = _two_passes(
        lambda: _grad_weight(geo.x, as_conv, weight.shape),
        lambda: _forward(as_conv, weight),
        geo.x.size * math.prod(weight.shape[1:]),
        geo.x.nbytes + G.nbytes,
    )
    return (grad_x[0] if geo.unbatched else grad_x), grad_weight, _grad_bias(G)
