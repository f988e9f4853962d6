"""3-D transposed convolution, as ``torch.nn.functional.conv_transpose3d``, with its backward
pass: the adjoint of ``conv3d``, as ``conv_transpose2d`` is of ``conv2d``, one axis more.

Notation as ``ops.volumetric``: input x (B, C_in, D, H, W), filter w (C_in, C_out/G, f0, f1,
f2) — PyTorch's layout, conv3d's with the roles of input and output swapped —, stride s,
padding p, output_padding q, dilation d, groups G. With A = conv3d(·, w; s, p, d, G), a map
from volumes of C_out channels to volumes of C_in channels,

    conv_transpose3d(x, w) = Aᵀ x,   so   ⟨conv3d(Y, w), x⟩ = ⟨Y, conv_transpose3d(x, w)⟩,

and every voxel spreads into the output (0-based, block k of the input channels feeding block
k of the output channels, positions outside the output dropped):

    Y[β, k·C_out/G + o, s0·t + d0·e − p0, s1·i + d1·a − p1, s2·j + d2·c − p2]
        += x[β, h, t, i, j] · w[h, o, e, a, c]   (+ b[o]).

Output size per axis (D − 1)s − 2p + d(f − 1) + q + 1, 0 <= q < max(s, d).

How it is computed: conv3d's own decomposition (``ops.volumetric``), read backwards. conv3d is
the sum over its f0 depth taps e of 2-D convolutions: for tap e, the output depths t = lo ..
lo+n−1 read the input depths u = s0·t + d0·e − p0 inside the volume (`_depth_taps`). Its
adjoint is therefore the sum over the same taps of the 2-D adjoints: the tap's input depths t
of x, folded into the batch, go through ``conv_transpose2d`` with w[:, :, e] and land on the
depths u of Y. The backward passes are the adjoints again, per tap, on G zero-padded by p0 in
depth (G̃): ``conv_transpose2d_backward`` gives tap e's terms of ∂ℓ/∂x (a conv2d of G̃'s depths
s0·t + d0·e: conv3d's forward, tap by tap) and ∂ℓ/∂w[:, :, e] (conv3d's filter gradient, x
and G's roles swapped). The loops run over the f0 depth taps only,
never over voxels, batch elements, depth positions or groups.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._checks import check_float_array, check_ndim, check_same_dtype
from . import _threads
from .conv import conv_transpose2d, conv_transpose2d_backward
from .conv._arguments import _check_bias, _check_fits, _check_grad_output, _groups
from .volumetric._common import (
    _AXES,
    Triple,
    _depth_last,
    _depth_taps,
    _fold,
    _index_triple,
    _volume,
)

__all__ = ["conv_transpose3d", "conv_transpose3d_backward"]


class _TransposeGeometry(NamedTuple):
    x: np.ndarray  # always 5-D
    unbatched: bool
    stride: Triple
    padding: Triple
    output_padding: Triple
    dilation: Triple
    groups: int
    out: Triple  # (D_out, H_out, W_out)

    @property
    def plane_args(self) -> dict[str, Any]:
        """The 2-D transposed convolution's arguments along height and width."""
        return {
            "stride": self.stride[1:],
            "padding": self.padding[1:],
            "output_padding": self.output_padding[1:],
            "groups": self.groups,
            "dilation": self.dilation[1:],
        }


def _transpose_geometry(
    x: Any,
    weight: Any,
    stride: Any,
    padding: Any,
    output_padding: Any,
    groups: Any,
    dilation: Any,
    *,
    func: str,
) -> _TransposeGeometry:
    """conv_transpose3d's checks of the arrays and arguments, and the output size they give."""
    x5, unbatched = _volume("x", x, func=func)
    check_float_array("weight", weight, func=func)
    check_same_dtype(func, x=x, weight=weight)
    check_ndim("weight", weight, (5,), func=func, layout="(C_in, C_out/groups, f0, f1, f2)")
    B, C_in = x5.shape[:2]
    if weight.shape[0] != C_in:
        raise ValueError(
            f"{func}: weight: expected {C_in} input channels on axis 0 (layout (C_in, "
            f"C_out/groups, f0, f1, f2); x has shape {x.shape}), got weight of shape "
            f"{weight.shape}"
        )
    G = _groups(groups, {"C_in": C_in}, func=func)
    if min(weight.shape) == 0 or min(x5.shape[1:]) == 0:  # an empty batch is allowed
        raise ValueError(
            f"{func}: expected non-empty channels, kernel and volume, got x {x.shape}, "
            f"weight {weight.shape}"
        )
    if isinstance(padding, str):
        raise TypeError(
            f"{func}: padding: expected an int or a triple of ints (no 'valid' or 'same' for "
            f"the transposed convolution, as in PyTorch), got {padding!r}"
        )
    s = _index_triple("stride", stride, minimum=1, func=func)
    d = _index_triple("dilation", dilation, minimum=1, func=func)
    p = _index_triple("padding", padding, minimum=0, func=func)
    q = _index_triple("output_padding", output_padding, minimum=0, func=func)
    limit = tuple(max(s_, d_) for s_, d_ in zip(s, d))
    if any(q_ >= m for q_, m in zip(q, limit)):
        raise ValueError(
            f"{func}: output_padding: expected values smaller than stride or dilation "
            f"(< max(stride, dilation) = {limit} per axis), got {q} (stride {s}, dilation {d})"
        )
    kernel = weight.shape[2:]
    sizes = []
    for axis, m, s_, p_, d_, f, q_ in zip(_AXES, x5.shape[2:], s, p, d, kernel, q):
        out = (m - 1) * s_ - 2 * p_ + d_ * (f - 1) + q_ + 1
        if out < 1:
            raise ValueError(
                f"{func}: padding: the output {axis} (D-1)s - 2p + d(f-1) + output_padding + 1 "
                f"= ({m}-1)·{s_} - 2·{p_} + {d_}·({f}-1) + {q_} + 1 = {out} is not positive"
            )
        sizes.append(out)
    C_out = weight.shape[1] * G
    grows = sum((m - 1) * s_ for m, s_ in zip(x5.shape[2:], s))
    culprit = "stride" if grows >= sum(d_ * (f - 1) for d_, f in zip(d, kernel)) else "dilation"
    _check_fits(func, culprit, "the output", (B, C_out, *sizes), x.itemsize)
    # the full result before the padding is cropped: each tap's 2-D transposed convolution
    # builds its planes so, and the backward reads G zero-padded so
    uncropped = (B, C_out, *(size + 2 * p_ for size, p_ in zip(sizes, p)))
    what = "the uncropped output (before padding is cropped)"
    _check_fits(func, culprit, what, uncropped, x.itemsize)
    out = (sizes[0], sizes[1], sizes[2])
    return _TransposeGeometry(x5, unbatched, s, p, q, d, G, out)


def _taps(geo: _TransposeGeometry, f0: int) -> list:
    """conv3d's depth taps for the map this is the adjoint of: from the output's D_out depths
    (conv3d's input) to x's D depths (conv3d's output)."""
    D_out, D = geo.out[0], geo.x.shape[2]
    s0, d0, p0 = geo.stride[0], geo.dilation[0], geo.padding[0]
    return [tap for tap in _depth_taps(D_out, D, f0, s0, d0, p0) if tap.n]


@_threads.op
def conv_transpose3d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int | tuple[int, int, int] = 1,
    padding: int | tuple[int, int, int] = 0,
    output_padding: int | tuple[int, int, int] = 0,
    groups: int = 1,
    dilation: int | tuple[int, int, int] = 1,
) -> np.ndarray:
    """Transposed 3-D convolution, as ``torch.nn.functional.conv_transpose3d``: the adjoint of
    ``conv3d``, ⟨conv3d(Y, w), x⟩ = ⟨Y, conv_transpose3d(x, w)⟩ for all x, Y.

    Every input voxel spreads into the output, weighted by the filter (0-based indices; block
    k of the input channels feeds block k of the output channels):

        Y[β, k·C_out/G + o, s0·t + d0·e − p0, s1·i + d1·a − p1, s2·j + d2·c − p2]
            += x[β, h, t, i, j] · w[h, o, e, a, c]   (+ b[o])

    for every input channel h of block k, every voxel (t, i, j) and tap (e, a, c), positions
    outside the output dropped. It is ``conv3d``'s input gradient with the same weight,
    stride, padding, dilation and groups; computed, as conv3d is, tap by tap in depth, each
    tap a 2-D ``conv_transpose2d`` of the tap's depth slices (module docstring).

    Parameters
    ----------
    x : (B, C_in, D, H, W) float32 or float64, or one unbatched volume (C_in, D, H, W); B may
        be 0.
    weight : (C_in, C_out/groups, f0, f1, f2), x's dtype. Not flipped.
    bias : (C_out,) or None.
    stride, dilation : int or (depth, height, width) triple, each >= 1.
    padding : int or triple >= 0: p planes cropped from each side of the full result (no
        'valid' or 'same', as in PyTorch).
    output_padding : int or triple, 0 <= output_padding < max(stride, dilation) per axis:
        planes added at the end of each axis, choosing among the input sizes that ``conv3d``
        maps to the same output size.
    groups : int >= 1 dividing C_in; C_out = groups · weight.shape[1].

    Returns
    -------
    Y : (B, C_out, D_out, H_out, W_out), or (C_out, D_out, H_out, W_out) unbatched, x's dtype;
    D_out = (D − 1)s0 − 2p0 + d0(f0 − 1) + output_padding0 + 1, likewise H_out and W_out.

    Examples
    --------
    >>> import numpy as np
    >>> y = conv_transpose3d(np.ones((1, 2, 2, 3, 4)), np.ones((2, 3, 2, 2, 2)), stride=2)
    >>> y.shape, float(y.sum())  # each of 24·2 voxels spreads into 3·8 outputs
    ((1, 3, 4, 6, 8), 1152.0)
    """
    func = "conv_transpose3d"
    geo = _transpose_geometry(
        x, weight, stride, padding, output_padding, groups, dilation, func=func
    )
    C_out = weight.shape[1] * geo.groups
    if bias is not None:
        _check_bias(bias, x, C_out, func=func)
    B = geo.x.shape[0]
    D_out, H_out, W_out = geo.out
    yt = np.zeros((B, D_out, C_out, H_out, W_out), dtype=geo.x.dtype)
    if B:
        xt = _depth_last(geo.x)
        for tap in _taps(geo, weight.shape[2]):
            y_e = conv_transpose2d(
                _fold(xt[:, tap.lo : tap.lo + tap.n]),
                weight[:, :, tap.e],
                None,
                **geo.plane_args,
            )
            yt[:, tap.rows(geo.stride[0])] += y_e.reshape(B, tap.n, C_out, H_out, W_out)
    y = np.ascontiguousarray(yt.transpose(0, 2, 1, 3, 4))
    if bias is not None:
        y += bias[:, None, None, None]
    return y[0] if geo.unbatched else y


@_threads.op
def conv_transpose3d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    weight: np.ndarray,
    stride: int | tuple[int, int, int] = 1,
    padding: int | tuple[int, int, int] = 0,
    output_padding: int | tuple[int, int, int] = 0,
    groups: int = 1,
    dilation: int | tuple[int, int, int] = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of a loss ℓ through ``conv_transpose3d``, given G = ∂ℓ/∂Y.

    conv_transpose3d is Aᵀ, A = conv3d(·, weight) (stride, padding, dilation, groups as
    given), so ℓ sees ⟨Aᵀx, G⟩ = ⟨x, A G⟩:

    - grad_x = A G = ``conv3d(G, weight, stride=s, padding=p, dilation=d, groups=G)``, its
      first D × H × W outputs (the adjoint's adjoint):
          ∂ℓ/∂x[β,h,t,i,j] = Σ_o Σ_{e,a,c} w[h,o,e,a,c] · G̃[β, k·C_out/G + o, s0·t + d0·e,
          s1·i + d1·a, s2·j + d2·c]   (0-based, G̃ = G zero-padded by p, k the block of h);
    - grad_weight = ∂⟨x, conv3d(G, w)⟩/∂w, conv3d's filter gradient with the roles swapped
      (G as the input, x as the output gradient):
          ∂ℓ/∂w[h,o,e,a,c] = Σ_β Σ_{t,i,j} x[β,h,t,i,j] · G̃[β, k·C_out/G + o, s0·t + d0·e,
          s1·i + d1·a, s2·j + d2·c];
    - grad_bias = Σ_β Σ_{u,v,z} G[β,o,u,v,z].

    Per depth tap e, ``conv_transpose2d_backward`` of x (its depths folded into the batch)
    and of G̃'s depths s0·t + d0·e gives ∂ℓ/∂w[:, :, e] and tap e's terms of ∂ℓ/∂x. Every
    voxel meets every tap, G̃'s padding included (as in PyTorch, whose filter gradient
    multiplies each voxel by the zero-padded G: a NaN or ±∞ in x reaches every tap of its
    filters, 0 · ∞ being NaN).

    Shapes: grad_output (B, C_out, D_out, H_out, W_out) as ``conv_transpose3d(x, weight,
    ...)`` returns it with the same options; returns (grad_x like x, grad_weight like weight,
    grad_bias (C_out,)), x's dtype. Unbatched (C_in, D, H, W) input works as in the forward.
    """
    func = "conv_transpose3d_backward"
    geo = _transpose_geometry(
        x, weight, stride, padding, output_padding, groups, dilation, func=func
    )
    B, C_in, D, H, W = geo.x.shape
    C_out = weight.shape[1] * geo.groups
    expected = (B, C_out, *geo.out)
    _check_grad_output(grad_output, x, expected[1:] if geo.unbatched else expected, func)
    G = grad_output[None] if geo.unbatched else grad_output
    grad_xt = np.zeros((B, D, C_in, H, W), dtype=geo.x.dtype)
    grad_weight = np.zeros(weight.shape, dtype=geo.x.dtype)
    if B:
        (s0, d0, p0), D_out = (geo.stride[0], geo.dilation[0], geo.padding[0]), geo.out[0]
        xt = _fold(_depth_last(geo.x))
        # G̃: G zero-padded by p0 in depth, depth-last; tap e reads its depths s0·t + d0·e
        Gt = np.zeros((B, D_out + 2 * p0, C_out, *geo.out[1:]), dtype=geo.x.dtype)
        Gt[:, p0 : p0 + D_out] = G.transpose(0, 2, 1, 3, 4)
        for e in range(weight.shape[2]):
            rows = slice(d0 * e, d0 * e + s0 * (D - 1) + 1, s0)
            gx_e, gw_e, _ = conv_transpose2d_backward(
                _fold(Gt[:, rows]), xt, weight[:, :, e], **geo.plane_args
            )
            grad_weight[:, :, e] = gw_e
            grad_xt += gx_e.reshape(B, D, C_in, H, W)
    grad_x = np.ascontiguousarray(grad_xt.transpose(0, 2, 1, 3, 4))
    grad_bias = G.sum(axis=(0, 2, 3, 4)).astype(geo.x.dtype, copy=False)
    return (grad_x[0] if geo.unbatched else grad_x), grad_weight, grad_bias
