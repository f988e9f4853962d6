"""Ops that mask, reorder or reshape an array by its positions, and their converters: Trilu,
EyeLike, CumProd, ReverseSequence and CenterCropPad.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._attributes import Attrs
from ._convert import Built, _generic, _plain, _rank
from ._helpers import _axes, _axis, _is_float, _one_int, _window
from ._module import _Op
from ._node import Node, Operand, refuse
from ._types import _CAST_TYPES
from .selection import _int_attr, _integer


class _Trilu(_Op):
    """Trilu on the last two axes (rows i, columns j) of x, rank ≥ 2: y = x where
    j − i ≥ k (``upper`` = 1: on and above diagonal k) or j − i ≤ k (upper = 0: on and
    below), 0 elsewhere; k an optional one-integer input (default 0), at load or run time.
    Backward: G times the same mask."""

    roles = ("input", "k")

    def __init__(self, node: Node, operands: Sequence[Operand], upper: bool) -> None:
        super().__init__(node, operands)
        self.upper = upper

    def compute(self, x: Any, k: Any) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        if x.ndim < 2:
            raise refuse(
                self.onnx_node, f"input 'input': expected at least 2 axes, got shape {x.shape}"
            )
        shift = 0 if k is None else _one_int(self.onnx_node, "k", k)
        n, m = x.shape[-2:]
        offset = np.arange(m)[None, :] - np.arange(n)[:, None]  # j − i
        keep = offset >= shift if self.upper else offset <= shift
        return np.where(keep, x, np.zeros((), x.dtype)), keep

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [np.where(ctx, g, 0), None]

    def extra_repr(self) -> str:
        """The op type and which triangle."""
        return f"onnx_op={self.onnx_op!r}, upper={int(self.upper)}"


class _EyeLike(_Op):
    """EyeLike: for a 2-D input of shape (n, m), the (n, m) array with 1 at (i, i + k) and
    0 elsewhere, of type ``dtype`` (an ONNX type code; default: the input's). It reads
    only the input's shape: no gradient."""

    roles = ("input",)

    def __init__(self, node: Node, operands: Sequence[Operand], k: int, dtype: Any) -> None:
        super().__init__(node, operands)
        self.k, self.dtype = k, dtype

    def compute(self, x: Any) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        if x.ndim != 2:
            raise refuse(self.onnx_node, f"input 'input': expected 2 axes, got shape {x.shape}")
        n, m = x.shape
        return np.eye(n, m, k=self.k, dtype=self.dtype or x.dtype), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [None]

    def extra_repr(self) -> str:
        """The op type and diagonal."""
        return f"onnx_op={self.onnx_op!r}, k={self.k}"


def _shifted(x: np.ndarray, a: int, fill: float) -> np.ndarray:
    """x moved one place along axis a: ``fill`` first, the last entry dropped."""
    return _window(x, [-1], [x.shape[a]], [a], fill)


def _cumprod_backward(x: np.ndarray, y: np.ndarray, g: np.ndarray, a: int) -> np.ndarray:
    """∂ℓ/∂x_j = Σ_{i ≥ j} G_i·Π_{m ≤ i, m ≠ j} x_m for y = cumprod(x) along axis a, without
    dividing by a zero. Before x's first zero (x_j ≠ 0): (Σ_{i ≥ j} G_i·y_i) / x_j. At the
    first zero: Σ_{i ≥ j} G_i·y'_i, y' the cumulative product with that zero set to 1 (the
    product of the others). After it: 0 (every product holds the first zero)."""

    def from_end(v: np.ndarray) -> np.ndarray:
        return np.flip(np.cumsum(np.flip(v, a), axis=a), a)

    zero = x == 0
    seen = np.cumsum(zero, axis=a)
    before, first = seen == 0, zero & (seen == 1)
    gx = np.where(before, from_end(g * y) / np.where(before, x, 1), 0)
    if first.any():
        others = np.cumprod(np.where(first, 1, x), axis=a)
        gx = np.where(first, from_end(g * others), gx)
    return gx


class _CumProd(_Op):
    """CumProd along ``axis`` (an input: one integer): y_i = Π_{j ≤ i} x_j, Π_{j < i} with
    ``exclusive`` (1 first), and from the other end (j ≥ i, j > i) with ``reverse``; in
    x's type. Backward by ``_cumprod_backward`` on the flipped and shifted x the forward
    multiplied."""

    roles = ("x", "axis")

    def __init__(
        self, node: Node, operands: Sequence[Operand], exclusive: bool, reverse: bool
    ) -> None:
        super().__init__(node, operands)
        self.exclusive, self.reverse = exclusive, reverse

    def compute(self, x: Any, axis: Any) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        if x.ndim == 0:
            raise refuse(self.onnx_node, "input 'x': expected at least one axis, got a scalar")
        a = _axis(self.onnx_node, "input 'axis'", _one_int(self.onnx_node, "axis", axis), x.ndim)
        factors = np.flip(x, a) if self.reverse else x
        if self.exclusive:
            factors = _shifted(factors, a, 1)
        y = np.cumprod(factors, axis=a, dtype=x.dtype)
        return (np.flip(y, a) if self.reverse else y), (a, factors, y)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        if not _is_float(np.asarray(args[0])):
            return [None, None]
        a, factors, y = ctx
        if self.reverse:
            g = np.flip(g, a)
        gf = _cumprod_backward(factors, y, g, a)
        if self.exclusive:  # x_j is factor j + 1; the last x is no factor
            gf = _window(gf, [1], [gf.shape[a]], [a])
        return [np.flip(gf, a) if self.reverse else gf, None]

    def extra_repr(self) -> str:
        """The op type and its flags."""
        return (
            f"onnx_op={self.onnx_op!r}, exclusive={int(self.exclusive)}, "
            f"reverse={int(self.reverse)}"
        )


class _ReverseSequence(_Op):
    """ReverseSequence: x of rank ≥ 2 with a time axis t and a batch axis b (0 and 1, either
    way): for each batch entry n, its first L_n steps reversed, the rest as they are —
    y[…, s, …] = x[…, L_n − 1 − s, …] for s < L_n (0 ≤ L_n ≤ T, T the time length).
    The reordering is its own inverse: backward reverses G the same way."""

    roles = ("input", "sequence_lens")

    def __init__(
        self, node: Node, operands: Sequence[Operand], time_axis: int, batch_axis: int
    ) -> None:
        super().__init__(node, operands)
        self.time_axis, self.batch_axis = time_axis, batch_axis

    def compute(self, x: Any, lens: Any) -> tuple[np.ndarray, Any]:
        node, t, b = self.onnx_node, self.time_axis, self.batch_axis
        x, lens = np.asarray(x), np.asarray(lens)
        if x.ndim < 2:
            raise refuse(node, f"input 'input': expected at least 2 axes, got shape {x.shape}")
        _integer(node, "sequence_lens", lens)
        T = x.shape[t]
        if lens.shape != (x.shape[b],):
            raise refuse(
                node,
                f"input 'sequence_lens': expected shape ({x.shape[b]},) (the batch axis {b} of "
                f"input's {x.shape}), got {lens.shape}",
            )
        if lens.size and (lens.min() < 0 or lens.max() > T):
            bad = lens[(lens < 0) | (lens > T)]
            raise refuse(
                node,
                f"input 'sequence_lens': expected values in [0, {T}] (the time axis {t} of "
                f"input's {x.shape}), got {int(bad[0])}",
            )
        shape = [1] * x.ndim
        shape[b] = x.shape[b]
        L = lens.astype(np.intp).reshape(shape)
        shape = [1] * x.ndim
        shape[t] = T
        s = np.arange(T).reshape(shape)
        source = np.where(s < L, L - 1 - s, s)
        return np.take_along_axis(x, source, axis=t), source

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [np.take_along_axis(g, ctx, axis=self.time_axis), None]

    def extra_repr(self) -> str:
        """The op type and axes."""
        return f"onnx_op={self.onnx_op!r}, time_axis={self.time_axis}, batch_axis={self.batch_axis}"


class _CenterCropPad(_Op):
    """CenterCropPad: x cropped or zero-padded to ``shape`` along ``axes`` (default: all),
    centred — an axis of n cut to s < n keeps x[(n − s)//2 :][:s], one grown to s > n
    puts x at offset (s − n)//2. shape: one integer ≥ 0 per axis, at load or run time.
    Backward: the window of G back onto x's positions."""

    roles = ("input_data", "shape")

    def __init__(self, node: Node, operands: Sequence[Operand], axes: list[int] | None) -> None:
        super().__init__(node, operands)
        self.axes = axes

    def compute(self, x: Any, shape: Any) -> tuple[np.ndarray, Any]:
        node = self.onnx_node
        x, shape = np.asarray(x), np.asarray(shape)
        axes = (
            list(range(x.ndim))
            if self.axes is None
            else _axes(node, "attribute 'axes'", self.axes, x.ndim)
        )
        if len(set(axes)) != len(axes):
            raise refuse(node, f"attribute 'axes': expected distinct axes, got {self.axes}")
        _integer(node, "shape", shape)
        if shape.shape != (len(axes),) or (shape.size and shape.min() < 0):
            raise refuse(
                node,
                f"input 'shape': expected {len(axes)} sizes ≥ 0 (one per axis of {axes}), got "
                f"{shape.tolist()}",
            )
        sizes = [int(s) for s in shape]
        starts = [
            (x.shape[a] - s) // 2 if s <= x.shape[a] else -((s - x.shape[a]) // 2)
            for a, s in zip(axes, sizes)
        ]
        return _window(x, starts, sizes, axes), (axes, starts)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        axes, starts = ctx
        x = np.asarray(args[0])
        if not _is_float(x):
            return [None, None]
        return [_window(g, [-s for s in starts], [x.shape[a] for a in axes], axes), None]

    def extra_repr(self) -> str:
        """The op type and axes."""
        return f"onnx_op={self.onnx_op!r}, axes={self.axes}"


# ---------------------------------------------------------------------------------------------
# Converters


def trilu(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """Trilu: ``_Trilu``, the upper (``upper`` = 1) or lower triangle above diagonal k."""
    upper = _int_attr(node, attrs, "upper", 1)
    if upper not in (0, 1):
        raise refuse(node, f"attribute 'upper': expected 0 or 1, got {upper}")
    operands = [ins[0], _plain(ins[1])]
    return _generic(_Trilu(node, operands, bool(upper)), operands)


def eye_like(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """EyeLike: ``_EyeLike`` of diagonal ``k``, in ``dtype`` (a type cnnmath holds) or the
    input's."""
    k = _int_attr(node, attrs, "k", 0)
    dtype = None
    if attrs.has("dtype"):
        code = _int_attr(node, attrs, "dtype", 0)
        if code not in _CAST_TYPES:
            raise refuse(
                node,
                f"attribute 'dtype': expected one of the types cnnmath holds "
                f"{sorted(_CAST_TYPES)} (float, double, int64, int32, bool), got {code}",
            )
        dtype = _CAST_TYPES[code]
    operands = [_plain(ins[0])]
    return _generic(_EyeLike(node, operands, k, dtype), operands)


def cum_prod(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """CumProd: ``_CumProd`` with its ``exclusive`` and ``reverse`` flags."""
    exclusive, reverse = bool(attrs.get("exclusive", 0)), bool(attrs.get("reverse", 0))
    operands = [ins[0], _plain(ins[1])]
    return _generic(_CumProd(node, operands, exclusive, reverse), operands)


def reverse_sequence(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """ReverseSequence: ``_ReverseSequence``; ``time_axis`` and ``batch_axis`` are 0 and 1."""
    t = _int_attr(node, attrs, "time_axis", 0)
    b = _int_attr(node, attrs, "batch_axis", 1)
    if {t, b} != {0, 1}:
        raise refuse(
            node,
            f"attributes 'time_axis', 'batch_axis': expected 0 and 1 (either way), got {t} and {b}",
        )
    operands = [ins[0], _plain(ins[1])]
    return _generic(_ReverseSequence(node, operands, t, b), operands)


def center_crop_pad(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """CenterCropPad: ``_CenterCropPad`` over ``axes`` (default: every axis)."""
    axes = attrs.ints("axes", None)
    rank = _rank(info, ins[0])
    if axes is not None and rank is not None:
        _axes(node, "attribute 'axes'", axes, rank)
    operands = [ins[0], _plain(ins[1])]
    return _generic(_CenterCropPad(node, operands, axes), operands)
