"""2-D convolution (cross-correlation, as in every deep-learning framework), grouped and
transposed, with the backward passes.

Notation (SPEC.md): input X (B, C_in, m, n), filter w (C_out, C_in/groups, f1, f2), bias b
(C_out,), stride s, zero padding p (X̃ is X padded), dilation d, all 1-based in the formulas:

    Y[β,o,i,j] = Σ_g Σ_a Σ_c w[o,g,a,c] · X̃[β, k·C_g + g, s(i-1)+d(a-1)+1, s(j-1)+d(c-1)+1] + b[o]

where C_g = C_in/groups, output channel o lies in block k = floor((o-1) / (C_out/groups)) and
g runs over the block's C_g input channels (groups = 1: every input channel; groups = C_in:
depthwise).
``conv_transpose2d`` is the adjoint of ``conv2d`` (SPEC.md, "Wave 2") and is the very function
that computes ``conv2d``'s input gradient. Every forward and backward pass is made of the same
correlation (`_correlate`, in ``_conv_engine`` with its kernels), called with other arguments,
but for one shortcut of the input gradient where the windows tile X (kernel = stride):
``_conv_engine.depth_to_space``, one product and one copy.

This module holds the public ops and their geometry: the padding, the bands of rows and the
stride phases. Each pass first plans its correlations from the shapes alone (`_forward_plan`,
`_grad_weight_plan`, `_input_plan`: every band, phase and method), then runs exactly that
plan; ``dispatch_plan`` reports the same plans. The ops run on all cores (``_threads``), with
the same bits at any thread count.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, ParamSpec, TypeVar

import numpy as np

from .._checks import (
    batched_image,
    check_float_array,
    check_ndim,
    check_same_dtype,
    check_shape,
    int_pair,
    positive_int,
)
from . import _conv_engine, _threads
from ._conv_engine import METHODS, select_method
from ._conv_engine._dispatch import (
    _data_size,
    _grouped_correlate,
    _merge_groups,
    _padded_correlate,
    _split_groups,
)
from ._geometry import (
    Pads,
    Pair,
    PhaseTaps,
    check_output_size,
    phase_taps,
    resolve_padding,
)
from ._windows import crop_or_pad

__all__ = [
    "METHODS",
    "conv2d",
    "conv2d_backward",
    "conv_output_shape",
    "conv_transpose2d",
    "conv_transpose2d_backward",
    "crop_or_pad",
    "dispatch_plan",
    "select_method",
]

# ---------------------------------------------------------------------------------------------
# Validation shared by the forward and backward passes.

_MAX_INDEX = int(np.iinfo(np.intp).max)


@functools.lru_cache(maxsize=1)
def _memory_bytes() -> int:
    """This machine's physical memory in bytes (POSIX ``sysconf``): no array larger than it
    can be built. Where it cannot be read, the largest index (only overflow is refused)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return _MAX_INDEX


def _check_fits(func: str, name: str, what: str, shape: tuple[int, ...], itemsize: int) -> None:
    """Refuse, before any work, an array of ``shape`` that cannot fit in this machine's memory,
    naming the argument ``name`` that makes it so large."""
    n_bytes = math.prod(shape) * itemsize
    limit = _memory_bytes()
    if n_bytes > limit:
        raise ValueError(
            f"{func}: {name}: {what} would have shape {shape}, {n_bytes:.3g} bytes "
            f"({n_bytes / 2**30:.3g} GiB), more than this machine's memory "
            f"({limit / 2**30:.3g} GiB)"
        )


def _index_pair(name: str, value: Any, *, minimum: int, func: str) -> Pair:
    """``int_pair``, also refusing values no array index can hold (NumPy would overflow)."""
    pair = int_pair(name, value, minimum=minimum, func=func)
    if max(pair) > _MAX_INDEX:
        raise ValueError(
            f"{func}: {name}: expected values at most {_MAX_INDEX} (the largest array index), "
            f"got {value!r}"
        )
    return pair


def _groups(groups: Any, channels: dict[str, int], *, func: str) -> int:
    """``groups`` as an int >= 1 that divides every count in ``channels`` (name -> count)."""
    G = positive_int("groups", groups, func=func)
    if any(count % G for count in channels.values()):
        counts = " and ".join(f"{name} = {count}" for name, count in channels.items())
        raise ValueError(f"{func}: groups: expected a divisor of {counts}, got groups = {G}")
    return G


def _unit_where_unused(s: Pair, d: Pair, kernel: Pair, size: Pair) -> tuple[Pair, Pair]:
    """Stride 1 along an axis with one output position (``size``), dilation 1 along an axis
    with a one-tap kernel: those values change nothing, and a huge one would only overflow
    the window views' byte strides."""
    s_unit = (1 if size[0] == 1 else s[0], 1 if size[1] == 1 else s[1])
    d_unit = (1 if kernel[0] == 1 else d[0], 1 if kernel[1] == 1 else d[1])
    return s_unit, d_unit


class _Geometry(NamedTuple):
    x: np.ndarray  # always 4-D: the input of the correlation (the padded image is X̃)
    unbatched: bool
    stride: Pair
    dilation: Pair
    pads: Pads
    out_hw: Pair
    groups: int


def _conv_shapes(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: Any,
    padding: Any,
    dilation: Any,
    itemsize: int,
    *,
    func: str,
) -> tuple[Pair, Pair, Pads, Pair]:
    """(stride, dilation, pads, output size) of a conv2d on these shapes, after refusing
    values beyond an index and outputs or padded inputs that cannot fit in memory."""
    B, C_in, m, n = x_shape
    C_out, _, f1, f2 = w_shape
    s = _index_pair("stride", stride, minimum=1, func=func)
    d = _index_pair("dilation", dilation, minimum=1, func=func)
    pads = resolve_padding(padding, (f1, f2), d, s, func=func)
    if max(max(pads[0]), max(pads[1])) > _MAX_INDEX:
        raise ValueError(
            f"{func}: padding: expected values at most {_MAX_INDEX} (the largest array index), "
            f"got {padding!r}"
        )
    out_hw = check_output_size((m, n), (f1, f2), s, pads, d, func=func)
    (pt, pb), (pl, pr) = pads
    padded = any((pt, pb, pl, pr))
    _check_fits(
        func, "padding" if padded else "weight", "the output", (B, C_out, *out_hw), itemsize
    )
    _check_fits(func, "padding", "the padded input", (B, C_in, m + pt + pb, n + pl + pr), itemsize)
    s, d = _unit_where_unused(s, d, (f1, f2), out_hw)
    return s, d, pads, out_hw


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _plain(*values: Any) -> bool:
    """Whether ``values`` can key a cache of validated arguments: ints, strings and tuples of
    ints, of exactly those types. (``True`` or ``1.0`` equal ``1`` as keys but are refused
    by the checks, so anything else takes the uncached path, which raises where it must.)"""
    for value in values:
        kind = type(value)
        if kind is tuple:
            if not all(type(v) is int for v in value):
                return False
        elif not (kind is int or kind is str):
            return False
    return True


def _well_formed(x: Any, weight: Any) -> bool:
    """The array checks' common case in a few attribute reads: plain float arrays of one
    dtype, x 3-D or 4-D and the weight 4-D. When this is False the checks run in full and
    raise their own errors."""
    return (
        type(x) is np.ndarray
        and type(weight) is np.ndarray
        and x.dtype in _FLOATS
        and x.dtype == weight.dtype
        and (x.ndim == 3 or x.ndim == 4)
        and weight.ndim == 4
    )


def _geometry(
    x: Any, weight: Any, stride: Any, padding: Any, dilation: Any, groups: Any, *, func: str
) -> _Geometry:
    if not _well_formed(x, weight):
        check_float_array("x", x, func=func)
        check_float_array("weight", weight, func=func)
        check_same_dtype(func, x=x, weight=weight)
        batched_image("x", x, func=func)
        check_ndim("weight", weight, (4,), func=func, layout="(C_out, C_in/groups, f1, f2)")
    args = (x.shape, weight.shape, stride, padding, dilation, groups, x.itemsize)
    known = _plain(stride, padding, dilation, groups)
    s, d, pads, out_hw, G = (_shape_geometry_cached if known else _shape_geometry)(*args, func)
    unbatched = x.ndim == 3
    return _Geometry(x[None] if unbatched else x, unbatched, s, d, pads, out_hw, G)


def _shape_geometry(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: Any,
    itemsize: int,
    func: str,
) -> tuple[Pair, Pair, Pads, Pair, int]:
    """conv2d's checks of the shapes and arguments and what they give: (stride, dilation,
    pads, output size, groups). Depends on its arguments only, so the ops keep it in
    `_shape_geometry_cached` (an argument refused raises and is never cached)."""
    x4 = x_shape if len(x_shape) == 4 else (1, *x_shape)
    C_in, C_out = x4[1], w_shape[0]
    G = _groups(groups, {"C_in": C_in, "C_out": C_out}, func=func)
    if w_shape[1] * G != C_in:
        per_group = (
            f" per group (C_in = {C_in}, groups = {G})" if G > 1 else f" (x has shape {x_shape})"
        )
        raise ValueError(
            f"{func}: weight: expected {C_in // G} input channels{per_group}, "
            f"got weight of shape {w_shape} with C_in/groups = {w_shape[1]}"
        )
    if min(w_shape) == 0 or min(x4[1:]) == 0:  # an empty batch is allowed (PyTorch's too)
        raise ValueError(
            f"{func}: expected non-empty channels, kernel and image, got x {x_shape}, "
            f"weight {w_shape}"
        )
    s, d, pads, out_hw = _conv_shapes(x4, w_shape, stride, padding, dilation, itemsize, func=func)
    return s, d, pads, out_hw, G


_shape_geometry_cached = functools.lru_cache(maxsize=256)(_shape_geometry)


def _check_bias(bias: Any, x: np.ndarray, channels: int, *, func: str) -> None:
    """bias: a float array of x's dtype and shape (channels,)."""
    if not (type(bias) is np.ndarray and bias.dtype == x.dtype and bias.shape == (channels,)):
        check_float_array("bias", bias, func=func)
        check_same_dtype(func, x=x, bias=bias)
        check_shape("bias", bias, (channels,), func=func)


def _check_grad_output(
    grad_output: Any, x: np.ndarray, expected: tuple[int, ...], func: str
) -> None:
    """grad_output: a float array of x's dtype and shape ``expected``."""
    if not (
        type(grad_output) is np.ndarray
        and grad_output.dtype == x.dtype
        and grad_output.shape == expected
    ):
        check_float_array("grad_output", grad_output, func=func)
        check_same_dtype(func, grad_output=grad_output, x=x)
        check_shape("grad_output", grad_output, expected, func=func)


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


# A backward's two correlations, the filter gradient and the input gradient, are
# independent. Run one after the other, each threaded by its own blocks, the second core
# idles through every copy, add and product too small to cut (a LeNet layer's whole
# backward); run side by side on one thread each (`_threads.side_by_side`), both cores work
# throughout, and each result keeps its one-thread bits. At more than two threads that would
# leave the other cores idle, so there only passes too small to be cut into blocks (under
# _SMALL_PASS_MACS multiply-adds: `_threads.product_spans` cuts none below 2^26 flops) go side by
# side; above _SIDE_BY_SIDE_BYTES of input and output gradient the passes run one after the
# other, so that their bands of copies are never held at once (the memory of a huge image).
# Timings in docs/performance.md, "Two passes side by side".
_SMALL_PASS_MACS = 1 << 25
_SIDE_BY_SIDE_BYTES = 1 << 26


def _two_passes(
    weight_pass: Callable[[], np.ndarray],
    input_pass: Callable[[], np.ndarray],
    macs: int,
    nbytes: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(weight_pass(), input_pass()): side by side or one after the other, as the comment
    above says, from the passes' multiply-adds and the bytes of their operands."""
    n = _threads.current()
    if n >= 2 and nbytes <= _SIDE_BY_SIDE_BYTES and (n == 2 or macs < _SMALL_PASS_MACS):
        return _threads.side_by_side(weight_pass, input_pass)
    return weight_pass(), input_pass()


def _empty_batch_gradients(
    x: np.ndarray, w_shape: tuple[int, ...], C_out: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The gradients of an empty batch: an empty grad_x, zero grad_weight and grad_bias."""
    zeros = functools.partial(np.zeros, dtype=x.dtype)
    return zeros(x.shape), zeros(w_shape), zeros(C_out)


def _grad_bias(G: np.ndarray) -> np.ndarray:
    """∂ℓ/∂b[o] = Σ_β Σ_i Σ_j G[β,o,i,j]: a product with a vector of ones over blocks of
    _SUM_BLOCK pixels (BLAS; several times NumPy's pairwise sum here, 5-6 times on the small
    planes of a LeNet, where NumPy's loop per row costs more than the row), then the block
    sums added by NumPy. Float32 rounding grows with the block, not with the image.

    The (β, o) planes are summed in shape-fixed blocks of about _SUM_BYTES of planes on the
    op's threads, each plane's sum inside one block (a matrix-vector product's bits for one
    row can depend on how many rows it is given, so the blocks must not follow the thread
    count); the sum over β then adds them in order (bit-stable)."""
    B, O, H, W = G.shape
    rows = G.reshape(B * O, H * W)
    blocks, rest = divmod(H * W, _SUM_BLOCK)
    cut = _threads.spans(B * O, _SUM_BYTES // (H * W * G.itemsize))
    ones = np.ones(_SUM_BLOCK, dtype=G.dtype)
    if not blocks and len(cut) == 1:  # small planes, one block: one product
        return (rows @ ones[:rest]).reshape(B, O).sum(axis=0)
    total = np.empty(B * O, dtype=G.dtype)

    def planes(r0: int, r1: int) -> None:
        part = rows[r0:r1]
        np.matmul(part[:, blocks * _SUM_BLOCK :], ones[:rest], out=total[r0:r1])
        if blocks:
            partial = part[:, : blocks * _SUM_BLOCK].reshape(r1 - r0, blocks, _SUM_BLOCK) @ ones
            total[r0:r1] += partial.sum(axis=1)

    _threads.parallel(planes, cut)
    return total.reshape(B, O).sum(axis=0)


def _add_bias(y: np.ndarray, bias: np.ndarray) -> None:
    """y[β, o] += bias[o] in place: one add over the batch, or one per thread over a
    contiguous share of the images where each share is long enough to hand off
    (`_threads.pass_spans`: an elementwise pass, any cut gives the same bits; one pass has
    nothing to keep in cache, and each call costs as much as many values).

    In a batch, each image is one row of C_out·H·W values, and the bias is repeated into
    such a row once (in a kept work buffer: fresh pages for it cost more than the add): a
    broadcast of bias[o] over each plane ran NumPy's inner loops H·W long (about twice the
    time on LeNet's 28 × 28 maps and ResNet's 7 × 7). One image broadcasts: the repeat would
    cost as much as the add it serves. Same bits either way."""
    area = math.prod(y.shape[2:])
    if y.flags.c_contiguous and area > 1 and y.shape[0] > 1:
        target = y.reshape(y.shape[0], -1)
        term = _threads.scratch("bias row", target.shape[1], y.dtype)
        term.reshape(bias.shape[0], area)[...] = bias[:, None]
    else:
        target, term = y, bias[:, None, None]

    def images(b0: int, b1: int) -> None:
        target[b0:b1] += term

    _threads.parallel(images, _threads.pass_spans(y.shape[0], y.size))


_SUM_BYTES = 1 << 22  # the bias gradient sums blocks of planes of about 4 MiB


_SUM_BLOCK = 1024


# The backward works in bands of output rows, each band one correlation through `_correlate`,
# so that its copies (the padded input, the shifted output gradient) stay within
# _BAND_BYTES whatever the image size. Typical layers are one band.

_BAND_BYTES = 1 << 26  # 64 MiB


def _bands(total: int, bytes_per_row: int) -> list[Pair]:
    """[start, stop) blocks of ``total`` rows of about _BAND_BYTES each (at least one row)."""
    rows = max(1, _BAND_BYTES // max(1, bytes_per_row))
    return [(r0, min(total, r0 + rows)) for r0 in range(0, total, rows)]


def _row_bands(
    x_shape: tuple[int, ...],
    kernel: Pair,
    stride: Pair,
    dilation: Pair,
    pads: Pads,
    out_hw: Pair,
    itemsize: int,
) -> list[tuple[Pair, Pair, Pair]]:
    """Per band of output rows [i0, i1): ((i0, i1), start, length), the (row, column) start
    in x (negative: in the padding) and the size of the part of X̃ the band's windows read,
    as ``crop_or_pad`` takes them."""
    B, C, _, _ = x_shape
    (f1, f2), (sh, sw), (dh, dw), ((pt, _), (pl, _)), (H_out, W_out) = (
        kernel,
        stride,
        dilation,
        pads,
        out_hw,
    )
    reach_w = sw * (W_out - 1) + dw * (f2 - 1) + 1
    out = []
    for i0, i1 in _bands(H_out, B * C * reach_w * itemsize * sh):
        rows = sh * (i1 - 1 - i0) + dh * (f1 - 1) + 1
        out.append(((i0, i1), (sh * i0 - pt, -pl), (rows, reach_w)))
    return out


# ---------------------------------------------------------------------------------------------
# Plans: every correlation of a pass (its band or stride phase, the window it reads, and its
# method), decided from the shapes once; the passes execute exactly their plan, and
# `dispatch_plan` reports it.


class _Band(NamedTuple):
    """One correlation of a pass: rows [r0, r1) of its output (of one stride phase, for the
    input gradient), the window (start, length) of its input it reads, and its method."""

    rows: Pair
    start: Pair
    length: Pair
    method: str


_P = ParamSpec("_P")
_T = TypeVar("_T")


def _memoized_plan(make: Callable[_P, _T]) -> Callable[_P, _T]:
    """``make`` (a plan, from shapes and arguments that are all hashable) memoized: the
    ops plan a shape once, then look the plan up (a few microseconds on a small call saved
    many times over). The key adds what else decides a plan: the band budget and the
    engine's selection rule, both module attributes that may be replaced (tests do)."""

    @functools.lru_cache(maxsize=256)
    def cached(band_bytes: int, select: object, *args: Any) -> _T:
        return make(*args)  # type: ignore[call-arg]

    @functools.wraps(make)
    def plan(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        assert not kwargs
        return cached(_BAND_BYTES, _conv_engine.select_method, *args)

    return plan


def _select(
    groups: int,
    xp: tuple[int, ...],
    w: tuple[int, ...],
    stride: Pair,
    dilation: Pair,
    data_hw: Pair | None = None,
    filter_gradient: bool = False,
) -> str:
    """The engine's method for one group's shapes (the group axis added in front)."""
    return _conv_engine.select_method(
        (groups, *xp), (groups, *w), stride, dilation, data_hw, filter_gradient
    )


@_memoized_plan
def _forward_plan(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: Pair,
    dilation: Pair,
    pads: Pads,
    out_hw: Pair,
    groups: int,
    itemsize: int,
) -> tuple[_Band, ...]:
    """conv2d's correlations: X̃'s bands of output rows, each with w."""
    B = x_shape[0]
    C_out, C_g, f1, f2 = w_shape
    w_g = (C_out // groups, C_g, f1, f2)
    return tuple(
        _Band(rows, start, length, _select(groups, (B, C_g, *length), w_g, stride, dilation))
        for rows, start, length in _row_bands(
            x_shape, (f1, f2), stride, dilation, pads, out_hw, itemsize
        )
    )


@_memoized_plan
def _grad_weight_plan(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: Pair,
    dilation: Pair,
    pads: Pads,
    out_hw: Pair,
    groups: int,
    itemsize: int,
) -> tuple[_Band, ...]:
    """The filter gradient's correlations, per band of rows: X̃'s rows as C_in/G images of B
    channels, G's as C_out/G filters, stride and dilation swapped (see `_grad_weight`)."""
    B = x_shape[0]
    C_out, C_g, f1, f2 = w_shape
    return tuple(
        _Band(
            (i0, i1),
            start,
            length,
            _select(
                groups,
                (C_g, B, *length),
                (C_out // groups, B, i1 - i0, out_hw[1]),
                dilation,
                stride,
                filter_gradient=True,
            ),
        )
        for (i0, i1), start, length in _row_bands(
            x_shape, (f1, f2), stride, dilation, pads, out_hw, itemsize
        )
    )


_DEPTH_TO_SPACE = "depth_to_space"  # the input gradient's method where the windows tile X


def _tiles(
    kernel: Pair,
    stride: Pair,
    dilation: Pair,
    pads_before: Pair,
    g_hw: tuple[int, ...],
    out_hw: Pair,
    groups: int,
) -> bool:
    """Whether the windows tile X (``_conv_engine.depth_to_space`` applies): stride =
    kernel (not 1 × 1, where X is already the one product's result), no dilation, nothing
    padded before X and every window inside X, one group (a product per group would be one
    BLAS call per image and group)."""
    return (
        groups == 1
        and stride == kernel != (1, 1)
        and dilation == (1, 1)
        and pads_before == (0, 0)
        and all(f * h <= m for f, h, m in zip(kernel, g_hw, out_hw))
    )


@_memoized_plan
def _input_plan(
    g_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: Pair,
    dilation: Pair,
    pads_before: Pair,
    out_hw: Pair,
    groups: int,
    itemsize: int,
) -> tuple[tuple[_Phase | None, tuple[_Band, ...]], ...]:
    """The adjoint's correlations (`_conv_transpose`): per stride phase of X some tap reaches,
    its bands of rows, each a stride-1 correlation of a window of g (zero outside g) with the
    phase's taps. Where the windows tile X (`_tiles`) instead one band of no phase (None),
    "depth_to_space": all taps in one product, each value of X written once."""
    B = g_shape[0]
    C_out, C_g, f1, f2 = w_shape
    if _tiles((f1, f2), stride, dilation, pads_before, g_shape[2:], out_hw, groups):
        Ho, Wo = g_shape[2:]
        return ((None, (_Band((0, Ho), (0, 0), (Ho, Wo), _DEPTH_TO_SPACE),)),)
    x_shape = (B, C_g * groups, *out_hw)
    plan = []
    for phase, bands in _input_bands(x_shape, w_shape, stride, dilation, pads_before, itemsize):
        taps = (C_g, C_out // groups, phase.h.n_taps, phase.w.n_taps)
        plan.append(
            (
                phase,
                tuple(
                    _Band(
                        rows,
                        start,
                        length,
                        _select(
                            groups,
                            (B, C_out // groups, *length),
                            taps,
                            (1, 1),
                            (phase.h.dilation, phase.w.dilation),
                            _data_size(g_shape, start, length),
                        ),
                    )
                    for rows, start, length in bands
                ),
            )
        )
    return tuple(plan)


def _forward(
    geo: _Geometry, weight: np.ndarray, plan: tuple[_Band, ...] | None = None
) -> np.ndarray:
    """Y: the correlation of X̃ with w, in bands of output rows (one band for most layers),
    as ``plan`` (default: `_forward_plan`'s) says."""
    if plan is None:
        plan = _forward_plan(
            geo.x.shape,
            weight.shape,
            geo.stride,
            geo.dilation,
            geo.pads,
            geo.out_hw,
            geo.groups,
            geo.x.itemsize,
        )
    G = geo.groups
    w5 = weight.reshape(G, -1, *weight.shape[1:])
    x5 = _split_groups(geo.x, G)
    if len(plan) == 1:  # one band: the correlation's own result
        ((_, start, length, method),) = plan
        if G == 1:
            return _padded_correlate(
                geo.x, weight, geo.stride, geo.dilation, (start, length), method
            )
        return _merge_groups(
            _padded_correlate(x5, w5, geo.stride, geo.dilation, (start, length), method)
        )
    # several: each band written into its rows of Y by the correlation (none held beside Y)
    y = np.empty((geo.x.shape[0], weight.shape[0], *geo.out_hw), dtype=geo.x.dtype)
    for (i0, i1), start, length, method in plan:
        rows = _split_groups(y[:, :, i0:i1], G)
        _padded_correlate(x5, w5, geo.stride, geo.dilation, (start, length), method, rows)
    return y


def _grad_weight(
    G: np.ndarray, geo: _Geometry, w_shape: tuple[int, ...], plan: tuple[_Band, ...] | None = None
) -> np.ndarray:
    """∂ℓ/∂w: X̃ (per group, as C_in/G images of B channels) correlated with G (per group, as
    C_out/G filters of B channels), the forward's dilation as stride and its stride as
    dilation; summed over bands of rows, in band order. One `_correlate` call for all groups
    per band, as ``plan`` (default: `_grad_weight_plan`'s) says."""
    groups = geo.groups
    C_out, C_g, f1, f2 = w_shape
    if plan is None:
        plan = _grad_weight_plan(
            geo.x.shape,
            w_shape,
            geo.stride,
            geo.dilation,
            geo.pads,
            geo.out_hw,
            groups,
            geo.x.itemsize,
        )
    gw = None
    for (i0, i1), start, length, method in plan:
        # X̃'s rows for this band (G, C_in/G, B, h, w) and G (G, C_out/G, B, h_out, w_out):
        # the batch as channels
        images = _split_groups(geo.x, groups).transpose(0, 2, 1, 3, 4)
        filters = _split_groups(G[:, :, i0:i1], groups).transpose(0, 2, 1, 3, 4)
        part = _padded_correlate(images, filters, geo.dilation, geo.stride, (start, length), method)
        if gw is None:
            gw = part
        else:
            gw += part
    assert gw is not None
    # (G, C_out/G, C_in/G, f1, f2) -> (C_out, C_in/G, f1, f2)
    return np.ascontiguousarray(gw.transpose(0, 2, 1, 3, 4)).reshape(C_out, C_g, f1, f2)


class _Phase(NamedTuple):
    """One stride phase of the input gradient: rows rh::s_h, columns rw::s_w of X."""

    rh: int
    rw: int
    h: PhaseTaps
    w: PhaseTaps

    def g_window(self) -> tuple[Pair, Pair]:
        """The (start, length) of G the phase's correlation reads, per axis (zero outside G)."""
        h, w = self.h, self.w
        return (
            (-h.t_last, -w.t_last),
            (h.positions + (h.n_taps - 1) * h.dilation, w.positions + (w.n_taps - 1) * w.dilation),
        )


def _reached(size: int, f: int, s: int, d: int, p_before: int) -> list[int]:
    """The phases r < min(s, size) along one axis that some tap a reaches: r ≡ d a - p (mod s).

    At most f of them, however large the stride: the cost of the transposed convolution
    follows the kernel, not s (the other phases hold zeros)."""
    return sorted({r for r in ((d * a - p_before) % s for a in range(f)) if r < size})


@functools.lru_cache(maxsize=256)
def _tiled(x_hw: Pair, kernel: Pair, stride: Pair, dilation: Pair, pads_before: Pair) -> bool:
    """Whether the phases some tap reaches cover all of X (else the rest of X is zero)."""
    return all(
        len(_reached(*axis)) == min(axis[2], axis[0])
        for axis in zip(x_hw, kernel, stride, dilation, pads_before)
    )


def _phases(
    x_hw: Pair, kernel: Pair, stride: Pair, dilation: Pair, pads_before: Pair
) -> list[_Phase]:
    """The stride phases of X that hold input positions and that at least one tap reaches
    (at most f1·f2 of them, whatever the stride; a phase no tap reaches is zero)."""
    (m, n), (f1, f2), (sh, sw), (dh, dw), (pt, pl) = x_hw, kernel, stride, dilation, pads_before
    out = []
    for rh in _reached(m, f1, sh, dh, pt):
        for rw in _reached(n, f2, sw, dw, pl):
            ph, pw = phase_taps(m, f1, sh, dh, pt, rh), phase_taps(n, f2, sw, dw, pl, rw)
            out.append(_Phase(rh, rw, ph, pw))
    return out


def _conv_transpose(
    g: np.ndarray,
    weight: np.ndarray,
    groups: int,
    stride: Pair,
    dilation: Pair,
    pads_before: Pair,
    out_hw: Pair,
    plan: tuple[tuple[_Phase | None, tuple[_Band, ...]], ...] | None = None,
) -> np.ndarray:
    """The adjoint of the correlation: g (B, C_out, H_out, W_out) ↦ ∂⟨conv2d(X, w), g⟩/∂X of
    shape (B, C_in, m, n) = (B, C_in, *out_hw), for conv2d's weight layout w (C_out, C_in/G,
    f1, f2) and its top/left padding ``pads_before``. Both ``conv2d_backward`` (grad_x) and
    ``conv_transpose2d`` (the forward) are this function.

    The full correlation of the stride-dilated g would multiply mostly inserted zeros. Split X
    instead into its s_h·s_w phases u = s q + r: only the taps a with s | (d a - r - p) reach
    phase r, from output i = q - t_a, t_a = (d a - r - p)/s, so each phase is a stride-1
    correlation of g (shifted by the last tap's t_a, zero outside g: an output that does not
    exist contributes nothing) with those taps reversed and C_in, C_out swapped per group, at
    dilation d/gcd(s, d); a phase no tap reaches is never visited and stays zero (so the work
    follows the kernel, not the stride). At stride 1 this is the whole full correlation,
    cropped to X by the padding. Where the windows tile X (`_tiles`) each phase holds one
    tap, and all of them are one product instead (``_conv_engine.depth_to_space``). The
    phases and bands, and each one's method, are ``plan`` (default: `_input_plan`'s).
    """
    if plan is None:
        plan = _input_plan(
            g.shape, weight.shape, stride, dilation, pads_before, out_hw, groups, g.itemsize
        )
    if plan and plan[0][0] is None:  # the windows tile X (`_tiles`)
        return _conv_engine.depth_to_space(g, weight, out_hw)
    C_out, C_g, f1, f2 = weight.shape
    B = g.shape[0]
    m, n = out_hw
    C_in = C_g * groups
    (sh, sw) = stride
    # (G, C_in/G, C_out/G, f1, f2): per group, the filter with its channel axes swapped
    w_swapped = weight.reshape(groups, C_out // groups, C_g, f1, f2).transpose(0, 2, 1, 3, 4)
    x_shape = (B, C_in, m, n)
    # phases no tap reaches are never visited: they keep the zeros they start with
    tiled = _tiled((m, n), (f1, f2), stride, dilation, pads_before)
    out = None if tiled else np.zeros(x_shape, dtype=g.dtype)
    shared = _shared_window(g, weight, plan)
    for phase, bands in plan:
        assert phase is not None
        ph, pw = phase.h, phase.w
        taps = w_swapped[..., ph.first :: ph.step, pw.first :: pw.step]
        sub = np.ascontiguousarray(taps[..., ::-1, ::-1])  # reversed: a correlation
        sub = sub.reshape(C_in, C_out // groups, ph.n_taps, pw.n_taps)
        for (q0, q1), start, length, method in bands:
            source, window = g, (start, length)
            if shared is not None and not _inside(start, length, g.shape[-2:]):
                (source, (t, l)), (r0, c0) = shared, start
                window = ((r0 - t, c0 - l), length)
            dilation_hw = (ph.dilation, pw.dilation)
            if (sh, sw) == (1, 1) and len(bands) == 1:
                return _grouped_correlate(g, sub, groups, (1, 1), dilation_hw, window, method)
            if out is None:
                out = np.empty(x_shape, dtype=g.dtype)
            # the phase's rows of X: written there by the correlation, not copied after it
            rows = slice(phase.rh + sh * q0, phase.rh + sh * (q1 - 1) + 1, sh)
            part = out[:, :, rows, phase.rw :: sw]
            _grouped_correlate(source, sub, groups, (1, 1), dilation_hw, window, method, part)
    assert out is not None  # tiled: some phase wrote
    return out


def _shared_window(
    g: np.ndarray, weight: np.ndarray, plan: tuple[tuple[_Phase | None, tuple[_Band, ...]], ...]
) -> tuple[np.ndarray, Pair] | None:
    """A zero-padded copy of g for the stride phases' windows that reach outside g, and the
    window start its index 0 stands for; None where there is nothing to share.

    Each stride phase reads its own window of g, zero outside g; a method that copies the
    window whole (`_conv_engine.COPIES_WINDOW`) pads g once per phase. Where two phases or
    more, in one band each, would, g is padded once to the union of their windows and
    each of them reads a view of that copy (a window inside g is read from g itself, where
    a 1 × 1 phase needs no copy at all). Not for a non-finite filter: there the window's
    zeros must stay absent terms (`_correlate` sends such a filter to "scatter")."""
    h, w = g.shape[-2:]
    bands = [band for _, phase_bands in plan for band in phase_bands]
    outside = [band for band in bands if not _inside(band.start, band.length, (h, w))]
    if (
        len(outside) < 2
        or len(bands) != len(plan)
        or any(band.method not in _conv_engine.COPIES_WINDOW for band in outside)
        or not _conv_engine._all_finite(weight)
    ):
        return None
    r0 = min(band.start[0] for band in outside)
    c0 = min(band.start[1] for band in outside)
    r1 = max(band.start[0] + band.length[0] for band in outside)
    c1 = max(band.start[1] + band.length[1] for band in outside)
    return crop_or_pad(g, (r0, c0), (r1 - r0, c1 - c0), scratch=_SHARED_WINDOW), (r0, c0)


def _inside(start: Pair, length: Pair, hw: Pair) -> bool:
    """Whether the window (start, length) lies inside an (h, w) plane."""
    return all(0 <= s0 and s0 + n <= size for s0, n, size in zip(start, length, hw))


_SHARED_WINDOW = "phases' window"  # the work buffer of `_shared_window`


def _input_bands(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: Pair,
    dilation: Pair,
    pads_before: Pair,
    itemsize: int,
) -> Iterator[tuple[_Phase, list[tuple[Pair, Pair, Pair]]]]:
    """Per stride phase, its bands of rows [q0, q1) with the (start, length) of the window
    of G each band's correlation reads (zero outside G)."""
    B, _, m, n = x_shape
    C_out = w_shape[0]
    for phase in _phases((m, n), (w_shape[2], w_shape[3]), stride, dilation, pads_before):
        (h0, w0), (_, len_w) = phase.g_window()
        halo = (phase.h.n_taps - 1) * phase.h.dilation if phase.h.n_taps else 0
        bands = [
            ((q0, q1), (h0 + q0, w0), (q1 - q0 + halo, len_w))
            for q0, q1 in _bands(phase.h.positions, B * C_out * len_w * itemsize)
        ]
        yield phase, bands


# ---------------------------------------------------------------------------------------------
# Transposed convolution: the adjoint of conv2d


class _TransposeGeometry(NamedTuple):
    x: np.ndarray  # always 4-D
    unbatched: bool
    stride: Pair
    dilation: Pair
    padding: Pair
    out_hw: Pair
    groups: int


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
    if not _well_formed(x, weight):
        check_float_array("x", x, func=func)
        check_float_array("weight", weight, func=func)
        check_same_dtype(func, x=x, weight=weight)
        batched_image("x", x, func=func)
        check_ndim("weight", weight, (4,), func=func, layout="(C_in, C_out/groups, f1, f2)")
    args = (x.shape, weight.shape, stride, padding, output_padding, groups, dilation, x.itemsize)
    known = _plain(stride, padding, output_padding, groups, dilation)
    shapes = (_transpose_shapes_cached if known else _transpose_shapes)(*args, func)
    unbatched = x.ndim == 3
    return _TransposeGeometry(x[None] if unbatched else x, unbatched, *shapes)


def _transpose_shapes(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: Any,
    padding: Any,
    output_padding: Any,
    groups: Any,
    dilation: Any,
    itemsize: int,
    func: str,
) -> tuple[Pair, Pair, Pair, Pair, int]:
    """conv_transpose2d's checks of the shapes and arguments and what they give: (stride,
    dilation, padding, output size, groups); kept in `_transpose_shapes_cached` by the ops
    (an argument refused raises and is never cached)."""
    x4 = x_shape if len(x_shape) == 4 else (1, *x_shape)
    B, C_in, H, W = x4
    if w_shape[0] != C_in:
        raise ValueError(
            f"{func}: weight: expected {C_in} input channels on axis 0 (layout (C_in, "
            f"C_out/groups, f1, f2); x has shape {x_shape}), got weight of shape {w_shape}"
        )
    G = _groups(groups, {"C_in": C_in}, func=func)
    if min(w_shape) == 0 or min(x4[1:]) == 0:  # an empty batch is allowed (PyTorch's too)
        raise ValueError(
            f"{func}: expected non-empty channels, kernel and image, got x {x_shape}, "
            f"weight {w_shape}"
        )
    if isinstance(padding, str):
        raise TypeError(
            f"{func}: padding: expected an int or a pair of ints (no 'valid' or 'same' for the "
            f"transposed convolution, as in PyTorch), got {padding!r}"
        )
    s = _index_pair("stride", stride, minimum=1, func=func)
    d = _index_pair("dilation", dilation, minimum=1, func=func)
    p = _index_pair("padding", padding, minimum=0, func=func)
    op = _index_pair("output_padding", output_padding, minimum=0, func=func)
    if op[0] >= max(s[0], d[0]) or op[1] >= max(s[1], d[1]):
        raise ValueError(
            f"{func}: output_padding: expected values smaller than stride or dilation "
            f"(< max(stride, dilation) = {(max(s[0], d[0]), max(s[1], d[1]))} per axis), "
            f"got {op} (stride {s}, dilation {d})"
        )
    kernel = (w_shape[2], w_shape[3])
    sizes = []
    for axis, size, s_, p_, d_, f, op_ in zip(("height", "width"), (H, W), s, p, d, kernel, op):
        out = (size - 1) * s_ - 2 * p_ + d_ * (f - 1) + op_ + 1
        if out < 1:
            raise ValueError(
                f"{func}: padding: the output {axis} (H-1)s - 2p + d(f-1) + output_padding + 1 "
                f"= ({size}-1)·{s_} - 2·{p_} + {d_}·({f}-1) + {op_} + 1 = {out} is not positive"
            )
        sizes.append(out)
    out_hw = (sizes[0], sizes[1])
    C_out = w_shape[1] * G
    culprit = (
        "stride"
        if (H - 1) * s[0] + (W - 1) * s[1] >= sum(d_ * (f - 1) for d_, f in zip(d, kernel))
        else "dilation"
    )
    _check_fits(func, culprit, "the output", (B, C_out, *out_hw), itemsize)
    # (H-1)s + d(f-1) + output_padding + 1 rows before p are cropped from each side: the
    # backward's conv2d reads them (a small output can be cropped from a huge one)
    uncropped = (B, C_out, out_hw[0] + 2 * p[0], out_hw[1] + 2 * p[1])
    what = "the uncropped output (before padding is cropped)"
    _check_fits(func, culprit, what, uncropped, itemsize)
    s, d = _unit_where_unused(s, d, kernel, (H, W))
    return s, d, p, out_hw, G


_transpose_shapes_cached = functools.lru_cache(maxsize=256)(_transpose_shapes)


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
    ``conv2d``, ⟨conv2d(X, w), Y⟩ = ⟨X, conv_transpose2d(Y, w)⟩ for all X, Y (SPEC.md, Wave 2).

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


# ---------------------------------------------------------------------------------------------
# Plans and shapes without computing


def dispatch_plan(
    x_shape: tuple[int, ...],
    weight_shape: tuple[int, ...],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    itemsize: int = 4,
) -> dict[str, list[str]]:
    """The methods ``conv2d`` and ``conv2d_backward`` run on these shapes: their plans.

    Returns {"forward": [m per band], "grad_input": [m per stride phase and band],
    "grad_weight": [m per band]}, built by the very functions whose plans the ops execute
    (``itemsize``: 4 for float32, 8 for float64); nothing is computed. Two exceptions
    depend on the data, not the shapes: a non-finite weight sends grad_input's windowed
    correlations to "scatter", and a non-finite result of "per_output" or "dots" is
    recomputed by "im2row". For the benchmark table and the test that pins each benchmark
    shape's choice. (``conv_transpose2d`` on the output's shape runs conv2d's "grad_input"
    plan forward; its backward runs "forward" and "grad_weight".)
    """
    func = "dispatch_plan"
    x4 = tuple(x_shape) if len(x_shape) == 4 else (1, *x_shape)
    B, C_in, m, n = x4
    C_out, C_g, f1, f2 = weight_shape
    G = _groups(groups, {"C_in": C_in, "C_out": C_out}, func=func)
    s, d, pads, out_hw = _conv_shapes(
        x4, tuple(weight_shape), stride, padding, dilation, itemsize, func=func
    )
    w4 = (C_out, C_g, f1, f2)
    (pt, _), (pl, _) = pads
    forward = _forward_plan(x4, w4, s, d, pads, out_hw, G, itemsize)
    grad_weight = _grad_weight_plan(x4, w4, s, d, pads, out_hw, G, itemsize)
    grad_input = _input_plan((B, C_out, *out_hw), w4, s, d, (pt, pl), (m, n), G, itemsize)
    return {
        "forward": [band.method for band in forward],
        "grad_input": [band.method for _, bands in grad_input for band in bands],
        "grad_weight": [band.method for band in grad_weight],
    }


def conv_output_shape(
    input_shape: tuple[int, ...],
    weight_shape: tuple[int, ...],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
) -> tuple[int, ...]:
    """The shape ``conv2d`` returns for inputs of these shapes, without computing anything.

    H_out = floor((m + p_top + p_bottom - d(f1-1) - 1)/s) + 1, likewise W_out (for any
    ``groups``: the output has weight_shape[0] channels).

    >>> conv_output_shape((8, 3, 32, 32), (16, 3, 5, 5), padding="same")
    (8, 16, 32, 32)
    """
    func = "conv_output_shape"
    s = int_pair("stride", stride, minimum=1, func=func)
    d = int_pair("dilation", dilation, minimum=1, func=func)
    kernel = (weight_shape[2], weight_shape[3])
    pads = resolve_padding(padding, kernel, d, s, func=func)
    in_hw = (input_shape[-2], input_shape[-1])
    out_hw = check_output_size(in_hw, kernel, s, pads, d, func=func)
    return (*input_shape[:-3], weight_shape[0], *out_hw)
