"""Pooling and its converters: MaxPool, AveragePool, LpPool and their global forms in 1, 2 and
3 spatial dimensions, and MaxUnpool (whose bulk is in ``_unpool``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ... import nn, ops
from .._checks import FUNC
from ._attributes import Attrs
from ._convert import Built, _generic, _rank
from ._helpers import _window
from ._module import _Op
from ._node import Node, Operand, Ref, refuse
from .conv import (
    _auto_pad,
    _check_2d,
    _geometry,
    _geometry1d,
    _geometry3d,
    _same_pads,
    _window_axes,
)
from .quantize import _QUANTIZED


def _pool_extent(m: int, k: int, s: int, d: int, pb: int, pe: int, ceil: bool) -> tuple[int, int]:
    """(output size, padded length read) along one axis: windows start at s·i − pb; with
    ``ceil`` the last may run past the end padding but must start inside x or its begin
    padding (the rule of PyTorch and onnxruntime)."""
    span = d * (k - 1) + 1
    room = m + pb + pe - span
    out = (-(-room // s) if ceil else room // s) + 1
    if ceil and (out - 1) * s >= m + pb:
        out -= 1
    return out, (out - 1) * s + span


class _Pool(_Op):
    """ONNX MaxPool / AveragePool on (N, C, H, W), any pads (before ≠ after, more than half the
    window), dilations and ceil_mode: x is padded explicitly (−∞ for max, 0 for the average)
    to exactly the span the windows read, then pooled without padding. The average is a sum
    (a depthwise convolution with ones) over a divisor D counting the window's taps on x
    (count_include_pad = 0) or on x and its declared pads (= 1)."""

    roles = ("x",)

    def __init__(self, node: Node, operands: Sequence[Operand], geo: dict[str, Any]) -> None:
        super().__init__(node, operands)
        self.geo = geo

    def spatial_window(self) -> tuple[Any, str]:
        """Its window along H and W (as `_Conv.spatial_window`)."""
        g = self.geo
        return _window_axes(g, list(g["kernel_shape"]), bool(g["ceil_mode"]))

    def _layout(self, x: np.ndarray) -> tuple[list[int], list[int], list[int], list[int]]:
        g = self.geo
        begins, lengths, outs, declared = [], [], [], []
        for i, m in enumerate(x.shape[2:]):
            k, s, d = g["kernel_shape"][i], g["strides"][i], g["dilations"][i]
            if g["auto_pad"] in ("SAME_UPPER", "SAME_LOWER"):
                pb, pe = _same_pads(m, k, s, d, g["auto_pad"] == "SAME_UPPER")
            else:
                pb, pe = g["pads"][i], g["pads"][i + 2]
            out, length = _pool_extent(m, k, s, d, pb, pe, bool(g["ceil_mode"]))
            if out < 1:
                raise ValueError(
                    f"{FUNC}: {self.onnx_op}: the window ({k}, dilation {d}) is larger than the "
                    f"padded input ({m} + {pb} + {pe})"
                )
            begins.append(pb)
            lengths.append(length)
            outs.append(out)
            declared.append(m + pb + pe)
        return begins, lengths, outs, declared

    def compute(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        g = self.geo
        if x.ndim != 4:
            raise ValueError(
                f"{FUNC}: {self.onnx_op}: x: expected (N, C, H, W), got shape {x.shape}"
            )
        begins, lengths, _, declared = self._layout(x)
        k, s, d = g["kernel_shape"], g["strides"], g["dilations"]
        starts = [-b for b in begins]
        if self.onnx_op == "MaxPool":
            xp = _window(x, starts, lengths, (2, 3), fill=-np.inf)
            return ops.max_pool2d(xp, k, s, 0, d), (xp, begins, None, None)
        xp = _window(x, starts, lengths, (2, 3))
        C = x.shape[1]
        ones = np.ones((C, 1, *k), dtype=x.dtype)
        total = ops.conv2d(xp, ones, None, s, 0, d, groups=C)
        mask = np.zeros((1, 1, *lengths), dtype=x.dtype)
        if g["count_include_pad"]:
            mask[:, :, : declared[0], : declared[1]] = 1
        else:
            mask[:, :, begins[0] : begins[0] + x.shape[2], begins[1] : begins[1] + x.shape[3]] = 1
        D = ops.conv2d(mask, np.ones((1, 1, *k), dtype=x.dtype), None, s, 0, d)
        with np.errstate(divide="ignore", invalid="ignore"):
            return total / D, (xp, begins, ones, D)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        xp, begins, ones, D = ctx
        x = args[0]
        k, s, d = self.geo["kernel_shape"], self.geo["strides"], self.geo["dilations"]
        if ones is None:
            gxp = ops.max_pool2d_backward(g, xp, k, s, 0, d)
        else:
            gxp = ops.conv2d_backward(g / D, xp, ones, s, 0, d, groups=x.shape[1])[0]
        return [_window(gxp, begins, x.shape[2:], (2, 3))]


class _GlobalPool(_Op):
    """Mean or max over every axis after the first two, kept as size-1 axes."""

    roles = ("x",)

    def __init__(self, node: Node, operands: Sequence[Operand], kind: str) -> None:
        super().__init__(node, operands)
        self.kind = kind

    def compute(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        axes = tuple(range(2, x.ndim))
        if self.kind == "avg":
            return x.mean(axis=axes, keepdims=True), axes
        return x.max(axis=axes, keepdims=True), axes

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        x, axes = args[0], ctx
        if self.kind == "avg":
            count = int(np.prod([x.shape[a] for a in axes]))
            return [np.broadcast_to(g / count, x.shape).astype(x.dtype)]
        y = x.max(axis=axes, keepdims=True)
        first = np.cumsum((x == y).reshape(*x.shape[:2], -1), axis=-1).reshape(x.shape) == 1
        return [np.where(first & (x == y), g, 0).astype(x.dtype)]


def _lp_power(x: np.ndarray, p: int) -> np.ndarray:
    """|x|^p."""
    return np.abs(x) if p == 1 else (x * x if p == 2 else np.abs(x) ** p)


def _lp_backward(x: np.ndarray, y: np.ndarray, g: np.ndarray, p: int) -> tuple[Any, Any]:
    """The two factors of ∂y/∂x for y = (Σ|x|^p)^(1/p): G·y^(1−p) per output (0 where y = 0:
    a window of zeros, where the norm has no derivative) and |x|^(p−1)·sign(x) per input."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        per_output = g if p == 1 else np.where(y > 0, g * y ** (1 - p), 0).astype(g.dtype)
    per_input = np.sign(x) if p == 1 else (x if p == 2 else np.abs(x) ** (p - 1) * np.sign(x))
    return per_output, per_input


class _LpPool(_Op):
    """LpPool on (N, C, D1, …, Dk), k = len(kernel_shape) spatial axes:

        y[n, c, o] = (Σ_{t in the window} |x_pad[n, c, s·o + d·t]|^p)^(1/p),

    x_pad x padded with zeros (``pads``, or auto_pad's SAME_UPPER / SAME_LOWER), windows of
    ``kernel_shape`` taps spaced ``dilations`` apart every ``strides``; output size
    ⌊(D + pb + pe − d(k − 1) − 1)/s⌋ + 1 per axis (⌈·⌉ with ``ceil_mode``, a last window
    starting inside x or its begin padding, as MaxPool's). The sum is a loop over the kernel's
    taps of strided views, never over pixels. Backward:
    ∂y/∂x = (|x|/y)^(p−1)·sign(x), summed over the windows x lies in (0 where y = 0)."""

    roles = ("x",)

    def __init__(self, node: Node, operands: Sequence[Operand], geo: dict[str, Any], p: int):
        super().__init__(node, operands)
        self.geo, self.p = geo, p

    def _layout(self, x: np.ndarray) -> tuple[list[int], list[int], list[int]]:
        g = self.geo
        k = len(g["kernel_shape"])
        if x.ndim != k + 2:
            raise refuse(
                self.onnx_node,
                f"input 'X': expected (N, C) and {k} spatial axes (kernel_shape "
                f"{g['kernel_shape']}), got shape {x.shape}",
            )
        begins, lengths, outs = [], [], []
        for i, m in enumerate(x.shape[2:]):
            kk, s, d = g["kernel_shape"][i], g["strides"][i], g["dilations"][i]
            if g["auto_pad"] in ("SAME_UPPER", "SAME_LOWER"):
                pb, pe = _same_pads(m, kk, s, d, g["auto_pad"] == "SAME_UPPER")
            else:
                pb, pe = g["pads"][i], g["pads"][i + k]
            out, length = _pool_extent(m, kk, s, d, pb, pe, g["ceil_mode"])
            if out < 1:
                raise refuse(
                    self.onnx_node,
                    f"input 'X': the window ({kk}, dilation {d}) is larger than the padded "
                    f"input ({m} + {pb} + {pe}) along axis {i + 2}",
                )
            begins.append(pb)
            lengths.append(length)
            outs.append(out)
        return begins, lengths, outs

    def _taps(self, outs: Sequence[int]) -> Iterator[tuple[slice, ...]]:
        """For each tap t of the kernel, the strided view of the padded input it reads."""
        g = self.geo
        for tap in np.ndindex(*g["kernel_shape"]):
            yield (slice(None), slice(None)) + tuple(
                slice(d * t, d * t + s * (o - 1) + 1, s)
                for t, d, s, o in zip(tap, g["dilations"], g["strides"], outs)
            )

    def compute(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        begins, lengths, outs = self._layout(x)
        axes = range(2, x.ndim)
        xp = _window(_lp_power(x, self.p), [-b for b in begins], lengths, axes)
        total = np.zeros((*x.shape[:2], *outs), x.dtype)
        for view in self._taps(outs):
            total += xp[view]
        y = total if self.p == 1 else (np.sqrt(total) if self.p == 2 else total ** (1 / self.p))
        return y.astype(x.dtype), (y, begins, lengths, outs)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        y, begins, lengths, outs = ctx
        x = np.asarray(args[0])
        per_output, per_input = _lp_backward(x, y, g, self.p)
        gp = np.zeros((*x.shape[:2], *lengths), g.dtype)
        for view in self._taps(outs):
            gp[view] += per_output
        gx = _window(gp, begins, x.shape[2:], range(2, x.ndim))
        return [(gx * per_input).astype(x.dtype)]

    def extra_repr(self) -> str:
        """The op type, p and the window."""
        g = self.geo
        return (
            f"onnx_op={self.onnx_op!r}, p={self.p}, kernel_shape={g['kernel_shape']}, "
            f"strides={g['strides']}, dilations={g['dilations']}"
        )


class _GlobalLpPool(_Op):
    """GlobalLpPool: y[n, c] = (Σ over every spatial position |x[n, c, …]|^p)^(1/p), the
    spatial axes kept as size 1. Backward: ∂y/∂x = (|x|/y)^(p−1)·sign(x) (0 where y = 0)."""

    roles = ("x",)

    def __init__(self, node: Node, operands: Sequence[Operand], p: int) -> None:
        super().__init__(node, operands)
        self.p = p

    def compute(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        if x.ndim < 2:
            raise refuse(self.onnx_node, f"input 'X': expected (N, C, …), got shape {x.shape}")
        total = np.sum(_lp_power(x, self.p), axis=tuple(range(2, x.ndim)), keepdims=True)
        y = total if self.p == 1 else (np.sqrt(total) if self.p == 2 else total ** (1 / self.p))
        return y.astype(x.dtype), y

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        x = np.asarray(args[0])
        per_output, per_input = _lp_backward(x, ctx, g, self.p)
        return [(per_output * per_input).astype(x.dtype)]

    def extra_repr(self) -> str:
        """The op type and p."""
        return f"onnx_op={self.onnx_op!r}, p={self.p}"


# ---------------------------------------------------------------------------------------------
# Converters


def _pool3d(node: Node, attrs: Attrs, x: Operand) -> Built:
    """MaxPool / AveragePool of a volume: ``nn.MaxPool3d`` / ``nn.AvgPool3d`` (pads equal at
    both ends and at most half the window, as the layers take them)."""
    kernel, strides, dilations, pads = _geometry3d(node, attrs)
    assert not isinstance(pads, str)  # "same" only for a convolution
    if kernel is None:
        raise refuse(node, "attribute 'kernel_shape' is required")
    ceil = bool(attrs.get("ceil_mode", 0))
    if not isinstance(x, Ref) or any(p > f // 2 for p, f in zip(pads, kernel)):
        raise refuse(
            node,
            f"a 3-D pooling needs a run-time input and pads of at most half the window "
            f"{kernel}, got {list(pads)}",
        )
    if node.op_type == "MaxPool":
        attrs.get("storage_order")  # only orders the Indices output, here not read
        k = (kernel[0], kernel[1], kernel[2])
        return nn.MaxPool3d(k, strides, pads, dilations, ceil_mode=ceil), [x.name]
    if dilations != (1, 1, 1):
        raise refuse(node, f"attribute 'dilations': expected 1s for AveragePool, got {dilations}")
    include = bool(attrs.get("count_include_pad", 0))
    k = (kernel[0], kernel[1], kernel[2])
    layer = nn.AvgPool3d(k, strides, pads, ceil_mode=ceil, count_include_pad=include)
    return layer, [x.name]


def _pool1d(node: Node, attrs: Attrs, x: Operand) -> Built:
    """A MaxPool or AveragePool of a signal (N, C, L): nn.MaxPool1d / nn.AvgPool1d."""
    k, stride, dilation, pad = _geometry1d(node, attrs)
    if k is None:
        raise refuse(node, "attribute 'kernel_shape' is required")
    ceil = bool(attrs.get("ceil_mode", 0))
    if not isinstance(x, Ref) or not isinstance(pad, int) or pad > k // 2:
        raise refuse(
            node, f"a 1-D window on a run-time input with pads at most half the window, got {pad}"
        )
    if node.op_type == "MaxPool":
        attrs.get("storage_order")
        return nn.MaxPool1d(k, stride, pad, dilation, ceil_mode=ceil), [x.name]
    if dilation != 1:
        raise refuse(
            node, f"attribute 'dilations': a 1-D average pools every tap, got {[dilation]}"
        )
    include = bool(attrs.get("count_include_pad", 0))
    return nn.AvgPool1d(k, stride, pad, ceil_mode=ceil, count_include_pad=include), [x.name]


class _IntegerMaxPool(_Op):
    """MaxPool of an 8- or 16-bit integer tensor (a quantized model's, MaxPool read on the
    quantized values between QLinearConv nodes): the float pooling on x's values, which float32
    holds exactly, cast back to x's type. A maximum picks one of its window's values, so the
    result is exact; no gradient (integers take none)."""

    roles = ("x",)

    def __init__(self, node: Node, operands: Sequence[Operand], pool: nn.Module) -> None:
        super().__init__(node, operands)
        self.pool = pool

    def compute(self, x: Any) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        if x.dtype.kind not in "iu" or x.dtype.itemsize > 2:
            raise refuse(
                self.onnx_node,
                f"input 'X': expected the 8- or 16-bit integer type it was loaded with, got "
                f"{x.dtype}",
            )
        return self.pool(x.astype(np.float32)).astype(x.dtype), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [None]


def pool(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    x = ins[0]
    small = isinstance(x, Ref) and info["types"].get(x.name) in _QUANTIZED
    if node.op_type == "MaxPool" and len(info["outputs"]) > 1:  # Indices read (SegNet)
        if small:
            raise refuse(
                node, "output 'Indices': MaxPool's indices of integer values are not supported"
            )
        from .._unpool import max_pool_indices

        return max_pool_indices(node, attrs, ins, info)
    if node.op_type == "MaxPool" and small:
        module, _ = _float_pool(node, attrs, ins, info)
        return _generic(_IntegerMaxPool(node, [x], module), [x])
    return _float_pool(node, attrs, ins, info)


def _float_pool(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """MaxPool / AveragePool of a float tensor: a cnnmath layer where one has the geometry,
    else ``_Pool``."""
    if _rank(info, ins[0]) == 3:
        return _pool1d(node, attrs, ins[0])
    if _rank(info, ins[0]) == 5:
        return _pool3d(node, attrs, ins[0])
    _check_2d(node, info, ins[0])
    geo = _geometry(node, attrs, pool=True)
    geo["ceil_mode"] = attrs.get("ceil_mode", 0)
    x = ins[0]
    if node.op_type == "MaxPool":
        attrs.get("storage_order")  # only orders the Indices output, here not read
        geo["count_include_pad"] = 0
    else:
        geo["count_include_pad"] = attrs.get("count_include_pad", 0)
    k, s, d, (pt, pl, pb, pr) = geo["kernel_shape"], geo["strides"], geo["dilations"], geo["pads"]
    if any(p >= k[i % 2] for i, p in enumerate(geo["pads"])):
        # a window could lie wholly in the padding: no value to take (−∞ for the maximum,
        # 0/0 for an average without the pads); onnxruntime refuses the node too
        raise refuse(
            node,
            f"attribute 'pads': expected each pad smaller than the window {k}, got {geo['pads']}",
        )
    symmetric = (
        geo["auto_pad"] in ("NOTSET", "VALID")
        and pt == pb
        and pl == pr
        and pt <= k[0] // 2
        and pl <= k[1] // 2
    )
    if isinstance(x, Ref) and symmetric and _rank(info, x) == 4:
        ceil = bool(geo["ceil_mode"])
        if node.op_type == "MaxPool":
            return nn.MaxPool2d(tuple(k), tuple(s), (pt, pl), tuple(d), ceil_mode=ceil), [x.name]
        if d == [1, 1]:
            return nn.AvgPool2d(
                tuple(k),
                tuple(s),
                (pt, pl),
                ceil_mode=ceil,
                count_include_pad=bool(geo["count_include_pad"]),
            ), [x.name]
    return _generic(_Pool(node, [x], geo), [x])


def max_unpool(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    from .._unpool import max_unpool as convert  # with MaxPool's Indices: ONNX's flattening

    return convert(node, attrs, ins, info)


def global_pool(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    x = ins[0]
    kind = "avg" if node.op_type == "GlobalAveragePool" else "max"
    if isinstance(x, Ref) and _rank(info, x) == 4:
        layer = nn.AdaptiveAvgPool2d(1) if kind == "avg" else nn.AdaptiveMaxPool2d(1)
        return layer, [x.name]
    if isinstance(x, Ref) and _rank(info, x) == 3:  # a signal (N, C, L)
        signal = nn.AdaptiveAvgPool1d(1) if kind == "avg" else nn.AdaptiveMaxPool1d(1)
        return signal, [x.name]
    if isinstance(x, Ref) and _rank(info, x) == 5:  # a volume (N, C, D, H, W)
        volume = nn.AdaptiveAvgPool3d(1) if kind == "avg" else nn.AdaptiveMaxPool3d(1)
        return volume, [x.name]
    return _generic(_GlobalPool(node, [x], kind), [x])


def _lp_order(node: Node, attrs: Attrs) -> int:
    """LpPool's and GlobalLpPool's ``p``, an integer ≥ 1."""
    p = attrs.get("p", 2)
    if p < 1:
        raise refuse(node, f"attribute 'p': expected an integer >= 1, got {p}")
    return int(p)


def lp_pool(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """LpPool (``_LpPool``) over as many spatial axes as ``kernel_shape`` has sizes."""
    auto_pad = _auto_pad(node, attrs)
    kernel = attrs.ints("kernel_shape", None)
    if not kernel:
        raise refuse(node, "attribute 'kernel_shape' is required")
    k = len(kernel)
    rank = _rank(info, ins[0])
    if rank is not None and rank != k + 2:
        raise refuse(
            node,
            f"attribute 'kernel_shape': expected {rank - 2} sizes (X has rank {rank}), "
            f"got {kernel}",
        )
    geo: dict[str, Any] = {"auto_pad": auto_pad, "kernel_shape": kernel}
    for name, default, n, low in (
        ("strides", [1] * k, k, 1),
        ("dilations", [1] * k, k, 1),
        ("pads", [0] * 2 * k, 2 * k, 0),
    ):
        value = attrs.ints(name, default) or default
        if len(value) != n or min(value) < low:
            raise refuse(node, f"attribute {name!r}: expected {n} values >= {low}, got {value}")
        geo[name] = value
    if auto_pad == "VALID":
        geo["pads"] = [0] * 2 * k
    geo["ceil_mode"] = bool(attrs.get("ceil_mode", 0))
    return _generic(_LpPool(node, ins[:1], geo, _lp_order(node, attrs)), ins[:1])


def global_lp_pool(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    return _generic(_GlobalLpPool(node, ins[:1], _lp_order(node, attrs)), ins[:1])
