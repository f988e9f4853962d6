"""The convolutions' argument checks and the geometry they give: index pairs, groups,
output sizes and the memory an output needs (refused before any work), for ``conv2d``
(`_geometry`) and ``conv_transpose2d`` (`_transpose_geometry`), each cached per shape;
the bias and output-gradient checks of both.
"""

from __future__ import annotations

import functools
import math
import os
from typing import Any, NamedTuple

import numpy as np

from ..._checks import (
    batched_image,
    check_float_array,
    check_ndim,
    check_same_dtype,
    check_shape,
    int_pair,
    positive_int,
)
from .._geometry import Pads, Pair, check_output_size, resolve_padding

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
            + _channels_last_hint(x_shape, w_shape[1] * G)
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
# The transposed convolution's arguments (conv_transpose2d, the adjoint of conv2d)


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
            + _channels_last_hint(x_shape, w_shape[0])
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


def _channels_last_hint(x_shape: tuple[int, ...], channels: int) -> str:
    """A hint for an image with its channels last, (B, H, W, C) as Pillow and TensorFlow
    give it: where the weight's channel count is x's last size and the two before it are
    larger (an image's height and width); "" otherwise."""
    H, W, C = x_shape[-3:]
    if C != channels or H <= C or W <= C:
        return ""
    order = "(0, 3, 1, 2)" if len(x_shape) == 4 else "(2, 0, 1)"
    return (
        f"; if x holds its channels last (B, H, W, C), as images often come, the ops read "
        f"(B, C, H, W): pass x.transpose{order}"
    )
