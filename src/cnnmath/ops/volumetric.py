"""Volumetric (3-D) convolution and pooling, as ``torch.nn.functional``'s, for video and medical
volumes (N, C, D, H, W), with the backward passes.

Notation as SPEC.md, one axis more: input X (B, C_in, D, m, n), filter w (C_out, C_in/groups,
f0, f1, f2), stride s = (s0, s1, s2), padding p, dilation d, all 1-based in the formulas:

    Y[β,o,t,i,j] = Σ_g Σ_e Σ_a Σ_c w[o,g,e,a,c]
                   · X̃[β, k·C_g + g, s0(t-1)+d0(e-1)+1, s1(i-1)+d1(a-1)+1, s2(j-1)+d2(c-1)+1] + b[o]

Output size per axis floor((size + p_before + p_after - d(f-1) - 1)/s) + 1, as in 2-D.

How it is computed: a 3-D correlation is the sum over the f0 depth taps e of 2-D correlations.
For tap e, output depth t reads input depth u = s0·t + d0·e - p0 (0-based); the outputs whose u
falls inside x form one run t = lo .. hi-1, reading u = u_lo, u_lo + s0, ... (`_depth_taps`;
the others read depth padding: zeros for a convolution or an average, nothing for a maximum).
Those input slices, with the depth folded into the batch axis, go through the tuned 2-D
``conv2d`` with the filter slice w[:, :, e]; the backward likewise through ``conv2d_backward``,
each tap's filter gradient being w[:, :, e]'s and its input gradient added back into its depth
slices. Pooling is the same: average pooling sums the depth taps first, then pools each
(depth position, channel) plane in 2-D; max pooling's choice (``return_indices``, backward) runs
the 2-D choice per depth tap and keeps, across taps, the earlier one unless a later tap is
greater or NaN — exactly PyTorch's walk of the window in (depth, row, column) order. The loops
run over kernel taps only, never over voxels, batch elements, depth positions or groups.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, overload

import numpy as np

from .._checks import (
    batched_volume,
    check_float_array,
    check_ndim,
    check_same_dtype,
    check_shape,
    int_triple,
    positive_int,
)
from . import _threads
from ._geometry import same_pads
from .conv import conv2d, conv2d_backward
from .conv._arguments import _MAX_INDEX, _check_fits
from .pool import (
    adaptive_avg_pool2d,
    adaptive_avg_pool2d_backward,
    adaptive_max_pool2d,
    avg_pool2d,
    avg_pool2d_backward,
    max_pool2d,
)
from .pool._common import _check_windows_hold_x, _flag
from .pool.adaptive_pool import (
    _adaptive_sizes,
    _adaptive_windows,
    _AxisTaps,
    _covering_windows,
    _window_sum,
)
from .pool.avg_pool import _divisor_override
from .pool.unpool import _unpool, _unpool_backward, _unpool_geometry

__all__ = [
    "adaptive_avg_pool3d",
    "adaptive_avg_pool3d_backward",
    "adaptive_max_pool3d",
    "adaptive_max_pool3d_backward",
    "avg_pool3d",
    "avg_pool3d_backward",
    "conv3d",
    "conv3d_backward",
    "max_pool3d",
    "max_pool3d_backward",
    "max_unpool3d",
    "max_unpool3d_backward",
]

Triple = tuple[int, int, int]
_AXES = ("depth", "height", "width")

# ---------------------------------------------------------------------------------------------
# Geometry


class _DepthTap(NamedTuple):
    """Depth tap e: outputs t = lo .. lo+n-1 read input depths u0, u0 + s0, ... (all inside x)."""

    e: int
    lo: int
    n: int
    u0: int

    def rows(self, s: int) -> slice:
        """The input depths this tap reads, as a slice of the depth axis."""
        return slice(self.u0, self.u0 + s * (self.n - 1) + 1, s)


def _depth_taps(D: int, D_out: int, f: int, s: int, d: int, p_before: int) -> list[_DepthTap]:
    """For each of the f depth taps, the run of outputs whose input depth u = s·t + d·e - p
    lies inside [0, D) (u grows with t, so the run is contiguous)."""
    taps = []
    for e in range(f):
        offset = d * e - p_before
        lo = max(0, (-offset + s - 1) // s)  # the first t with s·t + offset >= 0
        hi = min(D_out, (D - 1 - offset) // s + 1) if D - 1 - offset >= 0 else 0
        n = max(0, hi - lo)
        taps.append(_DepthTap(e, lo, n, s * lo + offset))
    return taps


def _volume(name: str, x: Any, *, func: str) -> tuple[np.ndarray, bool]:
    check_float_array(name, x, func=func)
    return batched_volume(name, x, func=func)


def _index_triple(name: str, value: Any, *, minimum: int, func: str) -> Triple:
    """``int_triple``, also refusing values no array index can hold."""
    triple = int_triple(name, value, minimum=minimum, func=func)
    if max(triple) > _MAX_INDEX:
        raise ValueError(
            f"{func}: {name}: expected values at most {_MAX_INDEX} (the largest array index), "
            f"got {value!r}"
        )
    return triple


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


def _grad_output(
    grad_output: Any, x: np.ndarray, out: Triple, *, func: str, channels: int | None = None
) -> np.ndarray:
    """grad_output checked against the forward's output shape, as 5-D: x's batch, ``channels``
    (x's when None) and the output size ``out``."""
    check_float_array("grad_output", grad_output, func=func)
    check_same_dtype(func, grad_output=grad_output, x=x)
    C = x.shape[-4] if channels is None else channels
    check_shape("grad_output", grad_output, (*x.shape[:-4], C, *out), func=func)
    return grad_output[None] if x.ndim == 4 else grad_output


def _depth_last(a: np.ndarray) -> np.ndarray:
    """(B, C, D, H, W) -> a contiguous (B, D, C, H, W): each depth slice is a 2-D batch."""
    return np.ascontiguousarray(a.transpose(0, 2, 1, 3, 4))


def _fold(a: np.ndarray) -> np.ndarray:
    """(B, n, C, H, W) -> (B·n, C, H, W): the depth positions folded into the batch."""
    return a.reshape(a.shape[0] * a.shape[1], *a.shape[2:])


# ---------------------------------------------------------------------------------------------
# Convolution


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


# ---------------------------------------------------------------------------------------------
# Max and average pooling


class _PoolGeometry(NamedTuple):
    x: np.ndarray  # 5-D
    unbatched: bool
    kernel: Triple
    stride: Triple
    padding: Triple
    dilation: Triple
    ceil: bool
    out: Triple

    def plane_args(self) -> tuple[Any, ...]:
        """(kernel, stride, padding) along height and width, for the 2-D pooling."""
        return self.kernel[1:], self.stride[1:], self.padding[1:]

    def depth_taps(self) -> list[_DepthTap]:
        D = self.x.shape[2]
        k, s, p, d = self.kernel[0], self.stride[0], self.padding[0], self.dilation[0]
        return _depth_taps(D, self.out[0], k, s, d, p)


def _pool_size(axis: str, m: int, f: int, s: int, p: int, d: int, ceil: bool, func: str) -> int:
    """Windows along one axis: floor((m + 2p - d(f-1) - 1)/s) + 1, or with ``ceil`` the
    ceiling, less one where the last window would start past x and its left padding."""
    span = d * (f - 1) + 1
    size = (m + 2 * p - span) // s + 1
    if ceil:
        size = -(-(m + 2 * p - span) // s) + 1
        if (size - 1) * s >= m + p:
            size -= 1
    if span > m + 2 * p and (not ceil or size < 1):
        raise ValueError(
            f"{func}: kernel_size: effective kernel {axis} {span} (size {f}, dilation {d}) "
            f"is larger than the padded input {axis} {m + 2 * p} (input {m}, padding {p}+{p})"
        )
    if d > 1:
        _check_windows_hold_x(axis, m, f, s, p, d, size, func=func)
    return size


def _pool_geometry(
    x: Any,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    ceil_mode: Any,
    *,
    func: str,
) -> _PoolGeometry:
    x5, unbatched = _volume("x", x, func=func)
    k = _index_triple("kernel_size", kernel_size, minimum=1, func=func)
    s = k if stride is None else _index_triple("stride", stride, minimum=1, func=func)
    p = _index_triple("padding", padding, minimum=0, func=func)
    d = _index_triple("dilation", dilation, minimum=1, func=func)
    ceil = _flag("ceil_mode", ceil_mode, func=func)
    half = tuple(f // 2 for f in k)
    if any(p_ > h for p_, h in zip(p, half)):
        raise ValueError(
            f"{func}: padding: expected at most half the window (<= {half}) so every window "
            f"holds a real element, got {padding!r} for kernel_size {k}"
        )
    if min(x5.shape[2:]) < 1:
        raise ValueError(f"{func}: x: expected depth, height and width >= 1, got {x.shape}")
    sizes = [
        _pool_size(axis, m, f, s_, p_, d_, ceil, func)
        for axis, m, f, s_, p_, d_ in zip(_AXES, x5.shape[2:], k, s, p, d)
    ]
    return _PoolGeometry(x5, unbatched, k, s, p, d, ceil, (sizes[0], sizes[1], sizes[2]))


def _planes(a: np.ndarray) -> np.ndarray:
    """(B, C, n, H, W) -> (B, C·n, H, W): each (channel, depth) plane pooled as a 2-D image."""
    return a.reshape(a.shape[0], a.shape[1] * a.shape[2], *a.shape[3:])


def _volumes(a: np.ndarray, C: int) -> np.ndarray:
    """(B, C·n, h, w) -> (B, C, n, h, w), the inverse of ``_planes``."""
    return a.reshape(a.shape[0], C, a.shape[1] // C, *a.shape[2:])


def _as_given(a: np.ndarray, unbatched: bool) -> np.ndarray:
    return a[0] if unbatched else a


def _max_choice(geo: _PoolGeometry) -> tuple[np.ndarray, np.ndarray]:
    """(Y, I): each window's chosen element by PyTorch's walk in (depth, row, column) order
    (the first maximum, or the last NaN), and its flat position u·m·n + v·n + z in x's volume.

    Per depth tap, ``max_pool2d`` chooses within the tap's planes; across taps, a later tap's
    choice replaces the kept one only if greater or NaN — the 3-D walk's rule, taken one depth
    at a time. The first tap inside x (``fresh``) is taken whatever it holds (-∞ included)."""
    x5, (B, C, _, m, n) = geo.x, geo.x.shape
    best = np.full((B, C, *geo.out), -np.inf, dtype=x5.dtype)
    at = np.zeros((B, C, *geo.out), dtype=np.int64)
    seen = np.zeros(geo.out[0], dtype=bool)  # depth outputs that already have a choice
    k, s, p = geo.plane_args()
    for tap in geo.depth_taps():
        if tap.n == 0:
            continue
        span = slice(tap.lo, tap.lo + tap.n)
        v, i = max_pool2d(
            _planes(x5[:, :, tap.rows(geo.stride[0])]),
            k,
            s,
            p,
            geo.dilation[1:],
            geo.ceil,
            return_indices=True,
        )
        v, i = _volumes(v, C), _volumes(i, C)
        u = tap.u0 + geo.stride[0] * np.arange(tap.n)
        kept = best[:, :, span]
        take = (v > kept) | np.isnan(v) | ~seen[span, None, None]
        np.copyto(kept, v, where=take)
        np.copyto(at[:, :, span], i + (u * (m * n))[:, None, None], where=take)
        seen[span] = True
    return best, at


def _scatter(G: np.ndarray, positions: np.ndarray, x5: np.ndarray) -> np.ndarray:
    """∂ℓ/∂X[β,c].flat[I[β,c,…]] += G[β,c,…]: one bincount over every (β, c) volume."""
    B, C = x5.shape[:2]
    volume = int(np.prod(x5.shape[2:]))
    flat = positions.reshape(B * C, -1) + volume * np.arange(B * C)[:, None]
    grad = np.bincount(flat.ravel(), weights=G.reshape(-1), minlength=B * C * volume)
    return grad.astype(x5.dtype, copy=False).reshape(x5.shape)


@overload
def max_pool3d(
    x: np.ndarray,
    kernel_size: int | tuple[int, int, int],
    stride: int | tuple[int, int, int] | None = ...,
    padding: int | tuple[int, int, int] = ...,
    dilation: int | tuple[int, int, int] = ...,
    ceil_mode: bool = ...,
    return_indices: Literal[False] = ...,
) -> np.ndarray: ...
@overload
def max_pool3d(
    x: np.ndarray,
    kernel_size: int | tuple[int, int, int],
    stride: int | tuple[int, int, int] | None = ...,
    padding: int | tuple[int, int, int] = ...,
    dilation: int | tuple[int, int, int] = ...,
    ceil_mode: bool = ...,
    *,
    return_indices: Literal[True],
) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def max_pool3d(
    x: np.ndarray,
    kernel_size: int | tuple[int, int, int],
    stride: int | tuple[int, int, int] | None = ...,
    padding: int | tuple[int, int, int] = ...,
    dilation: int | tuple[int, int, int] = ...,
    ceil_mode: bool = ...,
    return_indices: bool = ...,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]: ...
@_threads.op
def max_pool3d(
    x: np.ndarray,
    kernel_size: int | tuple[int, int, int],
    stride: int | tuple[int, int, int] | None = None,
    padding: int | tuple[int, int, int] = 0,
    dilation: int | tuple[int, int, int] = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Max pooling over 3-D windows, as ``torch.nn.functional.max_pool3d``.

    Y[β,c,t,i,j] = max_{e,a,b} X̃[β, c, s0(t-1)+d0(e-1)+1, s1(i-1)+d1(a-1)+1, s2(j-1)+d2(b-1)+1],
    X̃ padded with -∞.

    x : (B, C, D, m, n) or unbatched (C, D, m, n), float32/float64. kernel_size, stride
    (default kernel_size), padding (at most kernel_size // 2 per axis), dilation: int or
    triple. Returns Y (B, C, D_out, H_out, W_out), D_out = floor((D + 2p0 - d0(f0-1) - 1)/s0)
    + 1 (the ceiling with ``ceil_mode``, less one where the last window would start past the
    input and its left padding), likewise H_out, W_out; x's dtype. With ``return_indices``
    also I, int64 of Y's shape: the flat position u·m·n + v·n + z in its (D, m, n) volume of
    the element each window chose — PyTorch's CPU rule: the first maximum in (depth, row,
    column) window order, or the last NaN when the window holds one.

    >>> import numpy as np
    >>> y, i = max_pool3d(np.arange(8.0).reshape(1, 2, 2, 2), 2, return_indices=True)
    >>> y.ravel(), i.ravel()
    (array([7.]), array([7]))
    """
    func = "max_pool3d"
    indices = _flag("return_indices", return_indices, func=func)
    geo = _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode, func=func)
    if indices:
        y, at = _max_choice(geo)
        return _as_given(y, geo.unbatched), _as_given(at, geo.unbatched)
    # the maximum needs no order: over the depth taps first, then each plane in 2-D
    B, C = geo.x.shape[:2]
    depth_max = np.full((B, C, geo.out[0], *geo.x.shape[3:]), -np.inf, dtype=geo.x.dtype)
    for tap in geo.depth_taps():
        if tap.n:
            run = depth_max[:, :, tap.lo : tap.lo + tap.n]
            np.maximum(run, geo.x[:, :, tap.rows(geo.stride[0])], out=run)
    k, s, p = geo.plane_args()
    y = max_pool2d(_planes(depth_max), k, s, p, geo.dilation[1:], geo.ceil)
    return _as_given(_volumes(y, C), geo.unbatched)


@_threads.op
def max_pool3d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    kernel_size: int | tuple[int, int, int],
    stride: int | tuple[int, int, int] | None = None,
    padding: int | tuple[int, int, int] = 0,
    dilation: int | tuple[int, int, int] = 1,
    ceil_mode: bool = False,
    indices: np.ndarray | None = None,
) -> np.ndarray:
    """∂ℓ/∂X for ``max_pool3d``: each G[β,c,t,i,j] goes to the one element its window chose
    (the element ``return_indices`` names: first maximum in (depth, row, column) order, the
    last NaN if any).

    ∂ℓ/∂X[β,c,u,v,z] = Σ_{t,i,j} G[β,c,t,i,j] · [ (u, v, z) is the element window (t,i,j) chose ]

    grad_output: (B, C, D_out, H_out, W_out) like the forward's output (same options);
    ``indices``: the forward's I, if kept (then x is read for its shape and dtype only).
    Returns an array like x.
    """
    func = "max_pool3d_backward"
    geo = _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode, func=func)
    G = _grad_output(grad_output, x, geo.out, func=func)
    if indices is None:
        _, positions = _max_choice(geo)
    else:
        if not (isinstance(indices, np.ndarray) and np.issubdtype(indices.dtype, np.integer)):
            raise TypeError(f"{func}: indices: expected an integer array, got {indices!r}")
        check_shape("indices", indices, np.shape(grad_output), func=func)
        volume = int(np.prod(geo.x.shape[2:]))
        if indices.size and (indices.min() < 0 or indices.max() >= volume):
            raise ValueError(
                f"{func}: indices: expected positions in [0, {volume}) (a volume of x), got "
                f"values from {indices.min()} to {indices.max()}"
            )
        positions = indices[None] if geo.unbatched else indices
    return _as_given(_scatter(G, positions, geo.x), geo.unbatched)


def _avg_scale(
    geo: _PoolGeometry, count_include_pad: Any, divisor_override: Any, *, func: str
) -> np.ndarray:
    """1/D[t,i,j] in x's dtype, PyTorch's divisor: separable, D = D0[t]·D1[i]·D2[j], each
    factor counting the taps of the window starting at s·t - p inside [-p, size + p)
    (``count_include_pad``) or inside [0, size)."""
    include = _flag("count_include_pad", count_include_pad, func=func)
    override = _divisor_override(divisor_override, func=func)
    if override is not None:
        return np.asarray(1 / override, dtype=geo.x.dtype)
    counts = []
    for size, f, s, p, n_out in zip(geo.x.shape[2:], geo.kernel, geo.stride, geo.padding, geo.out):
        start = s * np.arange(n_out) - p
        if include:
            counts.append(np.minimum(start + f, size + p) - start)
        else:
            counts.append(np.minimum(start + f, size) - np.maximum(start, 0))
    D = counts[0][:, None, None] * counts[1][None, :, None] * counts[2][None, None, :]
    return (1 / D).astype(geo.x.dtype)


@_threads.op
def avg_pool3d(
    x: np.ndarray,
    kernel_size: int | tuple[int, int, int],
    stride: int | tuple[int, int, int] | None = None,
    padding: int | tuple[int, int, int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """Average pooling over 3-D windows, as ``torch.nn.functional.avg_pool3d``.

    Y[β,c,t,i,j] = (1/D[t,i,j]) Σ_{e=1..f0} Σ_{a=1..f1} Σ_{b=1..f2}
                   X̃[β, c, s0(t-1)+e, s1(i-1)+a, s2(j-1)+b],   X̃ zero-padded.

    D (PyTorch's rules): ``divisor_override`` if given; else D0[t]·D1[i]·D2[j], each counting
    its window's taps inside [-p, size + p) with ``count_include_pad=True`` (the default: the
    kernel size except where a ``ceil_mode`` window runs past the padding), inside [0, size)
    with False. Shapes as ``max_pool3d`` (no dilation). Computed as the sum over the f0 depth
    taps, then ``avg_pool2d``'s window sums of each (channel, depth) plane, times 1/D.

    >>> import numpy as np
    >>> avg_pool3d(np.arange(8.0).reshape(1, 2, 2, 2), 2).ravel()
    array([3.5])
    """
    func = "avg_pool3d"
    geo = _pool_geometry(x, kernel_size, stride, padding, 1, ceil_mode, func=func)
    scale = _avg_scale(geo, count_include_pad, divisor_override, func=func)
    B, C = geo.x.shape[:2]
    depth_sum = np.zeros((B, C, geo.out[0], *geo.x.shape[3:]), dtype=geo.x.dtype)
    for tap in geo.depth_taps():
        if tap.n:
            depth_sum[:, :, tap.lo : tap.lo + tap.n] += geo.x[:, :, tap.rows(geo.stride[0])]
    k, s, p = geo.plane_args()
    sums = avg_pool2d(_planes(depth_sum), k, s, p, geo.ceil, True, divisor_override=1)
    return _as_given(_volumes(sums, C) * scale, geo.unbatched)


@_threads.op
def avg_pool3d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    kernel_size: int | tuple[int, int, int],
    stride: int | tuple[int, int, int] | None = None,
    padding: int | tuple[int, int, int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """∂ℓ/∂X for ``avg_pool3d``: every element of window (t, i, j) receives G[β,c,t,i,j]/D[t,i,j].

    ∂ℓ/∂X[β,c,u,v,z] = Σ_{(t,i,j): window (t,i,j) holds (u,v,z)} G[β,c,t,i,j] / D[t,i,j]

    grad_output: (B, C, D_out, H_out, W_out), same options as the forward; returns an array
    like x (what went to the padding is dropped). The forward's steps transposed:
    ``avg_pool2d_backward`` of G/D per plane, then each depth tap's share added back.
    """
    func = "avg_pool3d_backward"
    geo = _pool_geometry(x, kernel_size, stride, padding, 1, ceil_mode, func=func)
    scale = _avg_scale(geo, count_include_pad, divisor_override, func=func)
    G = _grad_output(grad_output, x, geo.out, func=func)
    B, C, D, m, n = geo.x.shape
    k, s, p = geo.plane_args()
    shape_only = np.empty((B, C * geo.out[0], m, n), dtype=geo.x.dtype)  # never read
    share = avg_pool2d_backward(_planes(G * scale), shape_only, k, s, p, geo.ceil, True, 1)
    share = _volumes(share, C)
    grad_x = np.zeros(geo.x.shape, dtype=geo.x.dtype)
    for tap in geo.depth_taps():
        if tap.n:
            grad_x[:, :, tap.rows(geo.stride[0])] += share[:, :, tap.lo : tap.lo + tap.n]
    return _as_given(grad_x, geo.unbatched)


# ---------------------------------------------------------------------------------------------
# Adaptive pooling: output cell t of n along a length D reads [⌊t·D/n⌋, ⌈(t+1)·D/n⌉), per axis.


def _adaptive_geometry(x: Any, output_size: Any, *, func: str) -> tuple[np.ndarray, bool, Triple]:
    x5, unbatched = _volume("x", x, func=func)
    if min(x5.shape[2:]) < 1:
        raise ValueError(f"{func}: x: expected depth, height and width >= 1, got {x.shape}")

    out = _adaptive_sizes(output_size, x5.shape[2:], "a triple (depth, height, width)", func=func)
    return x5, unbatched, (out[0], out[1], out[2])


def _depth_windows(x5: np.ndarray, n: int) -> tuple[np.ndarray, _AxisTaps]:
    """x5 as (B·C, D, m·n) and the taps of its n depth windows (axis 1)."""
    B, C, D, h, w = x5.shape
    return x5.reshape(B * C, D, h * w), _AxisTaps(1, D, *_adaptive_windows(D, n))


@_threads.op
def adaptive_avg_pool3d(
    x: np.ndarray, output_size: int | tuple[int | None, int | None, int | None]
) -> np.ndarray:
    """Adaptive average pooling, as ``torch.nn.functional.adaptive_avg_pool3d``.

    Y[β,c,t,i,j] = mean of X[β,c] over depths [⌊t·D/D'⌋, ⌈(t+1)·D/D'⌉) × rows
    [⌊i·m/H'⌋, ⌈(i+1)·m/H'⌉) × columns [⌊j·n/W'⌋, ⌈(j+1)·n/W'⌉) (0-based); output_size 1
    is global average pooling. The windows are separable: the mean over the depth window,
    then ``adaptive_avg_pool2d`` of each plane.

    x : (B, C, D, m, n) or unbatched (C, D, m, n). output_size : an int or a triple
    (D', H', W'), each >= 1, None keeping the input's size. Returns (B, C, D', H', W').

    >>> import numpy as np
    >>> adaptive_avg_pool3d(np.arange(8.0).reshape(1, 2, 2, 2), (2, 1, 1)).ravel()
    array([1.5, 5.5])
    """
    x5, unbatched, out = _adaptive_geometry(x, output_size, func="adaptive_avg_pool3d")
    B, C, D, m, n = x5.shape
    X, depth = _depth_windows(x5, out[0])
    depth_mean = _window_sum(X, depth) * (1 / depth.length).astype(x5.dtype)[None, :, None]
    y = adaptive_avg_pool2d(depth_mean.reshape(B, C * out[0], m, n), out[1:])
    return _as_given(_volumes(y, C), unbatched)


@_threads.op
def adaptive_avg_pool3d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    output_size: int | tuple[int | None, int | None, int | None],
) -> np.ndarray:
    """∂ℓ/∂X for ``adaptive_avg_pool3d``: each element of window (t, i, j) receives
    G[β,c,t,i,j] divided by the window's size.

    ∂ℓ/∂X[β,c,u,v,z] = Σ_{(t,i,j) holding (u,v,z)} G[β,c,t,i,j] / (|depths_t|·|rows_i|·|cols_j|)

    grad_output: (B, C, D', H', W') like the forward's output; returns an array like x.
    """
    func = "adaptive_avg_pool3d_backward"
    x5, unbatched, out = _adaptive_geometry(x, output_size, func=func)
    G = _grad_output(grad_output, x, out, func=func)
    B, C, D, m, n = x5.shape
    shape_only = np.empty((B, C * out[0], m, n), dtype=x5.dtype)  # never read
    g = adaptive_avg_pool2d_backward(_planes(G), shape_only, out[1:])
    g = g.reshape(B * C, out[0], m * n)
    _, length = _adaptive_windows(D, out[0])
    g = g * (1 / length).astype(x5.dtype)[None, :, None]
    grad = _window_sum(g, _AxisTaps(1, out[0], *_covering_windows(D, out[0])))
    return _as_given(grad.reshape(x5.shape), unbatched)


def _adaptive_max_choice(x5: np.ndarray, out: Triple) -> tuple[np.ndarray, np.ndarray]:
    """(Y, I) of adaptive max pooling, PyTorch's choice: per depth tap t of the windows
    (a window shorter than the longest repeats its last depth, which changes nothing),
    ``adaptive_max_pool2d``'s choice; across taps the later one wins if greater or NaN."""
    B, C, D, m, n = x5.shape
    depth = _AxisTaps(2, D, *_adaptive_windows(D, out[0]))

    def choice(t: int) -> tuple[np.ndarray, np.ndarray]:
        u = depth.index(t)
        v, i = adaptive_max_pool2d(_planes(np.take(x5, u, axis=2)), out[1:], return_indices=True)
        return _volumes(v, C), _volumes(i, C) + (u * (m * n))[:, None, None]

    best, at = choice(0)
    for t in range(1, depth.L):
        v, i = choice(t)
        take = (v > best) | np.isnan(v)
        np.copyto(best, v, where=take)
        np.copyto(at, i, where=take)
    return best, at


@overload
def adaptive_max_pool3d(
    x: np.ndarray,
    output_size: int | tuple[int | None, int | None, int | None],
    return_indices: Literal[False] = ...,
) -> np.ndarray: ...
@overload
def adaptive_max_pool3d(
    x: np.ndarray,
    output_size: int | tuple[int | None, int | None, int | None],
    return_indices: Literal[True],
) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def adaptive_max_pool3d(
    x: np.ndarray,
    output_size: int | tuple[int | None, int | None, int | None],
    return_indices: bool = ...,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]: ...
@_threads.op
def adaptive_max_pool3d(
    x: np.ndarray,
    output_size: int | tuple[int | None, int | None, int | None],
    return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Adaptive max pooling, as ``torch.nn.functional.adaptive_max_pool3d``.

    Y[β,c,t,i,j] = max of X[β,c] over the windows of ``adaptive_avg_pool3d``; with
    ``return_indices`` also the int64 flat positions u·m·n + v·n + z of the chosen elements
    (first maximum in (depth, row, column) order, the last NaN if any).

    x : (B, C, D, m, n) or unbatched (C, D, m, n). output_size : an int or a triple, None
    keeping the input's size. Returns (B, C, D', H', W').

    >>> import numpy as np
    >>> adaptive_max_pool3d(np.arange(8.0).reshape(1, 2, 2, 2), (2, 1, 1)).ravel()
    array([3., 7.])
    """
    func = "adaptive_max_pool3d"
    indices = _flag("return_indices", return_indices, func=func)
    x5, unbatched, out = _adaptive_geometry(x, output_size, func=func)
    if indices:
        y, at = _adaptive_max_choice(x5, out)
        return _as_given(y, unbatched), _as_given(at, unbatched)
    B, C, D, m, n = x5.shape
    X, depth = _depth_windows(x5, out[0])
    depth_max = np.array(depth.read(X, 0))
    for t in range(1, depth.L):
        np.maximum(depth_max, depth.read(X, t), out=depth_max)
    y = adaptive_max_pool2d(depth_max.reshape(B, C * out[0], m, n), out[1:])
    return _as_given(_volumes(y, C), unbatched)


@_threads.op
def adaptive_max_pool3d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    output_size: int | tuple[int | None, int | None, int | None],
) -> np.ndarray:
    """∂ℓ/∂X for ``adaptive_max_pool3d``: each G[β,c,t,i,j] is added to the element its window
    chose (overlapping windows may send several to one element).

    grad_output: (B, C, D', H', W') like the forward's output; returns an array like x.
    """
    func = "adaptive_max_pool3d_backward"
    x5, unbatched, out = _adaptive_geometry(x, output_size, func=func)
    G = _grad_output(grad_output, x, out, func=func)
    _, positions = _adaptive_max_choice(x5, out)
    return _as_given(_scatter(G, positions, x5), unbatched)


# ---------------------------------------------------------------------------------------------
# Max unpooling: pool/unpool.py's per-plane scatter, over (depth, row, column) planes


@_threads.op
def max_unpool3d(
    x: np.ndarray,
    indices: np.ndarray,
    kernel_size: int | tuple[int, int, int],
    stride: int | tuple[int, int, int] | None = None,
    padding: int | tuple[int, int, int] = 0,
    output_size: tuple[int, ...] | None = None,
) -> np.ndarray:
    """The partial inverse of ``max_pool3d``, as ``torch.nn.functional.max_unpool3d``.

    Y[β,c] = 0 except Y[β,c].flat[I[β,c,t,i,j]] = X[β,c,t,i,j]: each value goes to the
    position (t'·H_out + u)·W_out + v its index names in its (D_out, H_out, W_out) volume.

    x : (B, C, d, h, w) or unbatched (C, d, h, w), float32/float64; indices : an integer
    array of x's shape, values in [0, D_out·H_out·W_out) — what ``max_pool3d(...,
    return_indices=True)`` returns. kernel_size, stride (default kernel_size), padding: the
    pool's, used only for the output size D_out = (d - 1)s0 - 2p0 + k0 (likewise H_out,
    W_out), unless ``output_size`` ((D, H, W) or (N, C, D, H, W)) picks one of the sizes
    strictly within a stride of it. Returns (B, C, D_out, H_out, W_out) of x's dtype; of two
    equal indices the later one in (depth, row, column) order wins (PyTorch's CPU kernel).

    >>> import numpy as np
    >>> max_unpool3d(np.array([[[[5.0]]]]), np.array([[[[7]]]]), 2)[0, 1]
    array([[0., 0.],
           [0., 5.]])
    """
    func = "max_unpool3d"
    return _unpool(_unpool_geometry(x, indices, kernel_size, stride, padding, output_size, func, 3))


@_threads.op
def max_unpool3d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    indices: np.ndarray,
    kernel_size: int | tuple[int, int, int],
    stride: int | tuple[int, int, int] | None = None,
    padding: int | tuple[int, int, int] = 0,
    output_size: tuple[int, ...] | None = None,
) -> np.ndarray:
    """∂ℓ/∂X for ``max_unpool3d``: ∂ℓ/∂X[β,c,t,i,j] = G[β,c].flat[I[β,c,t,i,j]] (a gather).

    grad_output: (B, C, D_out, H_out, W_out) like the forward's output; returns an array
    like x.
    """
    func = "max_unpool3d_backward"
    geo = _unpool_geometry(x, indices, kernel_size, stride, padding, output_size, func, 3)
    return _unpool_backward(grad_output, x, geo, func=func)
