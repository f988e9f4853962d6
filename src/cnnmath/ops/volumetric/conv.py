"""conv3d and its backward: the sum over the filter's depth taps of the tuned 2-D ``conv2d``
(the package docstring's decomposition), with its geometry and argument checks."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..._checks import (
    check_float_array,
    check_ndim,
    check_same_dtype,
    check_shape,
    positive_int,
)
from .. import _threads
from .._geometry import same_pads
from ..conv import conv2d, conv2d_backward
from ..conv._arguments import _check_fits
from ._common import (
    _AXES,
    Triple,
    _depth_last,
    _depth_taps,
    _fold,
    _grad_output,
    _index_triple,
    _volume,
)

__all__ = ["conv3d", "conv3d_backward"]


def _conv_pads(padding: Any, kernel: Triple, d: Triple, s: Triple, *, func: str):
    """``padding`` (int, triple, ``"valid"``, ``"same"``) as ((before, after),) * 3."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * 3
        if padding == "same":
            if s != (1, 1, 1):
                raise ValueError(
                    f"{func}: padding: 'same' needs stride 1, got stride={s}; "
                    "give explicit padding for strided convolutions"
                )
            return same_pads(kernel, d)
        raise ValueError(
            f"{func}: padding: expected an int, a triple, 'valid' or 'same', got {padding!r}"
        )
    p = _index_triple("padding", padding, minimum=0, func=func)
    return tuple((p_, p_) for p_ in p)


def _conv_out(
    size: tuple[int, ...], kernel: Triple, s: Triple, pads: Any, d: Triple, *, func: str
) -> Triple:
    out = []
    for axis, m, f, s_, (pb, pa), d_ in zip(_AXES, size, kernel, s, pads, d):
        span = d_ * (f - 1) + 1
        if span > m + pb + pa:
            raise ValueError(
                f"{func}: kernel_size: effective kernel {axis} {span} (size {f}, dilation {d_}) "
                f"is larger than the padded input {axis} {m + pb + pa} "
                f"(input {m}, padding {pb}+{pa})"
            )
        out.append((m + pb + pa - span) // s_ + 1)
    return out[0], out[1], out[2]


class _ConvGeometry(NamedTuple):
    x: np.ndarray  # 5-D
    unbatched: bool
    stride: Triple
    dilation: Triple
    pads: tuple[tuple[int, int], ...]
    out: Triple
    groups: int
    hw_padding: Any  # what conv2d is given for the height and width


def _conv_geometry(
    x: Any, weight: Any, stride: Any, padding: Any, dilation: Any, groups: Any, *, func: str
) -> _ConvGeometry:
    x5, unbatched = _volume("x", x, func=func)
    check_float_array("weight", weight, func=func)
    check_same_dtype(func, x=x, weight=weight)
    check_ndim("weight", weight, (5,), func=func, layout="(C_out, C_in/groups, f0, f1, f2)")
    C_in, C_out = x5.shape[1], weight.shape[0]
    G = positive_int("groups", groups, func=func)
    if C_in % G or C_out % G:
        raise ValueError(
            f"{func}: groups: expected a divisor of C_in = {C_in} and C_out = {C_out}, "
            f"got groups = {G}"
        )
    if weight.shape[1] * G != C_in:
        per_group = f" per group (C_in = {C_in}, groups = {G})" if G > 1 else f" (x {x.shape})"
        raise ValueError(
            f"{func}: weight: expected {C_in // G} input channels{per_group}, "
            f"got weight of shape {weight.shape} with C_in/groups = {weight.shape[1]}"
        )
    if min(weight.shape) == 0 or min(x5.shape[1:]) == 0:
        raise ValueError(
            f"{func}: expected non-empty channels, kernel and volume, got x {x.shape}, "
            f"weight {weight.shape}"
        )
    kernel = (weight.shape[2], weight.shape[3], weight.shape[4])
    s = _index_triple("stride", stride, minimum=1, func=func)
    d = _index_triple("dilation", dilation, minimum=1, func=func)
    pads = _conv_pads(padding, kernel, d, s, func=func)
    out = _conv_out(x5.shape[2:], kernel, s, pads, d, func=func)
    padded = any(p for pair in pads for p in pair)
    what = "padding" if padded else "weight"
    _check_fits(func, what, "the output", (x5.shape[0], C_out, *out), x.itemsize)
    hw_padding = "same" if padding == "same" else (pads[1][0], pads[2][0])
    return _ConvGeometry(x5, unbatched, s, d, pads, out, G, hw_padding)


def _check_bias(bias: Any, x: np.ndarray, channels: int, *, func: str) -> None:
    check_float_array("bias", bias, func=func)
    check_same_dtype(func, x=x, bias=bias)
    check_shape("bias", bias, (channels,), func=func)


@_threads.op
def conv3d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int | tuple[int, int, int] = 1,
    padding: int | tuple[int, int, int] | str = 0,
    dilation: int | tuple[int, int, int] = 1,
    groups: int = 1,
) -> np.ndarray:
    """3-D cross-correlation of a batch of volumes, as ``torch.nn.functional.conv3d``.

    Y[β,o,t,i,j] = Σ_{g=1..C_in/G} Σ_{e=1..f0} Σ_{a=1..f1} Σ_{c=1..f2} w[o,g,e,a,c]
                   · X̃[β, k·C_in/G + g, s0(t-1)+d0(e-1)+1, s1(i-1)+d1(a-1)+1, s2(j-1)+d2(c-1)+1]
                   + b[o]

    with G = ``groups``, k = floor((o-1)/(C_out/G)) the block of output channel o, X̃ the
    zero-padded input. Computed as Σ_e of the 2-D ``conv2d`` of x's depth slices with
    w[:, :, e] (module docstring).

    Parameters
    ----------
    x : (B, C_in, D, m, n) float32 or float64, or one unbatched volume (C_in, D, m, n).
    weight : (C_out, C_in/groups, f0, f1, f2), x's dtype. Not flipped.
    bias : (C_out,) or None.
    stride, dilation : int or (depth, height, width) triple, each >= 1.
    padding : int or triple of zeros on both sides, ``"valid"`` or ``"same"`` (stride 1; for
        an even effective kernel the extra zero goes after, as PyTorch).
    groups : int >= 1 dividing C_in and C_out (``groups = C_in``: depthwise).

    Returns
    -------
    Y : (B, C_out, D_out, H_out, W_out), or (C_out, D_out, H_out, W_out) unbatched, x's
    dtype; D_out = floor((D + p0_before + p0_after - d0(f0-1) - 1)/s0) + 1, likewise H_out
    and W_out.

    Examples
    --------
    >>> import numpy as np
    >>> conv3d(np.ones((1, 1, 4, 5, 5)), np.ones((2, 1, 3, 3, 3)), stride=2, padding=1).shape
    (1, 2, 2, 3, 3)
    >>> conv3d(np.ones((2, 3, 3, 3)), np.ones((2, 1, 3, 3, 3)), groups=2)[:, 0, 0, 0]
    array([27., 27.])
    """
    func = "conv3d"
    geo = _conv_geometry(x, weight, stride, padding, dilation, groups, func=func)
    C_out = weight.shape[0]
    if bias is not None:
        _check_bias(bias, x, C_out, func=func)
    B, C, D, m, n = geo.x.shape
    D_out, H_out, W_out = geo.out
    s0, d0 = geo.stride[0], geo.dilation[0]
    xt = _depth_last(geo.x)
    yt = np.zeros((B, D_out, C_out, H_out, W_out), dtype=geo.x.dtype)
    for tap in _depth_taps(D, D_out, weight.shape[2], s0, d0, geo.pads[0][0]):
        if tap.n == 0 or B == 0:
            continue
        y_e = conv2d(
            _fold(xt[:, tap.rows(s0)]),
            weight[:, :, tap.e],
            None,
            geo.stride[1:],
            geo.hw_padding,
            geo.dilation[1:],
            geo.groups,
        )
        yt[:, tap.lo : tap.lo + tap.n] += y_e.reshape(B, tap.n, C_out, H_out, W_out)
    y = np.ascontiguousarray(yt.transpose(0, 2, 1, 3, 4))
    if bias is not None:
        y += bias[:, None, None, None]
    return y[0] if geo.unbatched else y


@_threads.op
def conv3d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    weight: np.ndarray,
    stride: int | tuple[int, int, int] = 1,
    padding: int | tuple[int, int, int] | str = 0,
    dilation: int | tuple[int, int, int] = 1,
    groups: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of a loss ℓ through ``conv3d``, given G = ∂ℓ/∂Y; each is a correlation.

    - ∂ℓ/∂X̃[β,k·C_g+g,u,v,z] = Σ_o Σ_e Σ_a Σ_c w[o,g,e,a,c] · G[β,o,t,i,j] over the o of block k
      and s0(t-1)+d0(e-1)+1 = u, s1(i-1)+d1(a-1)+1 = v, s2(j-1)+d2(c-1)+1 = z (the transposed
      convolution), cropped to X;
    - ∂ℓ/∂w[o,g,e,a,c] = Σ_β Σ_t Σ_i Σ_j G[β,o,t,i,j] · X̃[β, k·C_g+g, s0(t-1)+d0(e-1)+1, …];
    - ∂ℓ/∂b[o] = Σ_β Σ_t Σ_i Σ_j G[β,o,t,i,j].

    Per depth tap e, ``conv2d_backward`` of the tap's depth slices (folded into the batch)
    gives ∂ℓ/∂w[:, :, e] and the terms of ∂ℓ/∂X on those slices.

    Shapes: grad_output (B, C_out, D_out, H_out, W_out) as ``conv3d(x, weight, ...)`` returns
    with the same options; returns (grad_x like x, grad_weight like weight, grad_bias (C_out,)),
    x's dtype. Unbatched (C, D, m, n) input works as in the forward pass.
    """
    func = "conv3d_backward"
    geo = _conv_geometry(x, weight, stride, padding, dilation, groups, func=func)
    C_out = weight.shape[0]
    G = _grad_output(grad_output, x, geo.out, func=func, channels=C_out)
    B, C, D, m, n = geo.x.shape
    s0, d0 = geo.stride[0], geo.dilation[0]
    xt, Gt = _depth_last(geo.x), _depth_last(G)
    grad_xt = np.zeros((B, D, C, m, n), dtype=geo.x.dtype)
    grad_weight = np.zeros(weight.shape, dtype=geo.x.dtype)
    for tap in _depth_taps(D, geo.out[0], weight.shape[2], s0, d0, geo.pads[0][0]):
        if tap.n == 0 or B == 0:
            continue
        rows = tap.rows(s0)
        gx_e, gw_e, _ = conv2d_backward(
            _fold(Gt[:, tap.lo : tap.lo + tap.n]),
            _fold(xt[:, rows]),
            weight[:, :, tap.e],
            geo.stride[1:],
            geo.hw_padding,
            geo.dilation[1:],
            geo.groups,
        )
        grad_weight[:, :, tap.e] = gw_e
        grad_xt[:, rows] += gx_e.reshape(B, tap.n, C, m, n)
    grad_x = np.ascontiguousarray(grad_xt.transpose(0, 2, 1, 3, 4))
    grad_bias = G.sum(axis=(0, 2, 3, 4))
    return (grad_x[0] if geo.unbatched else grad_x), grad_weight, grad_bias
