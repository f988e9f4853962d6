"""Convolution and its converters: Conv, ConvTranspose and DeformConv in 1, 2 and 3 spatial
dimensions, with the geometry they share with pooling (auto_pad, pads, strides, dilations:
``_geometry``, ``_geometry1d``, ``_geometry3d``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import nn, ops
from ...ops._geometry import same_pads
from ._attributes import Attrs
from ._convert import Built, _as_operand, _float_param, _generic, _rank, _shape
from ._helpers import _guard, _window
from ._module import _Op
from ._node import Node, Operand, Ref, refuse


def _same_pads(m: int, k: int, s: int, d: int, upper: bool) -> tuple[int, int]:
    """auto_pad SAME_UPPER / SAME_LOWER: output ceil(m/s), the odd padding after / before,
    the total padding from the dilated kernel (k − 1)·d + 1 as the spec and ONNX's shape
    inference say. For a dilated MaxPool onnxruntime 1.32 pads by the undilated k instead
    (fewer outputs than its own shape inference declares, with a warning): cnnmath keeps the
    spec there (tests/test_onnx_gaps.py checks it against PyTorch)."""
    out = -(-m // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - m, 0)
    before = total // 2 if upper else total - total // 2
    return before, total - before


def _pad_pairs(
    geo: dict[str, Any], sizes: Sequence[int], kernel: Sequence[int]
) -> list[tuple[int, int]]:
    """(before, after) padding of each spatial axis of an input of spatial ``sizes`` under a
    kernel of spatial ``kernel`` sizes, from ``_geometry``'s ``geo``: auto_pad SAME_UPPER /
    SAME_LOWER (``_same_pads``), else the ``pads`` attribute (n begins, then n ends)."""
    n = len(sizes)
    if geo["auto_pad"] in ("SAME_UPPER", "SAME_LOWER"):
        return [
            _same_pads(m, k, s, d, geo["auto_pad"] == "SAME_UPPER")
            for m, k, s, d in zip(sizes, kernel, geo["strides"], geo["dilations"])
        ]
    p = geo["pads"]
    return [(p[i], p[i + n]) for i in range(n)]


class _Conv(_Op):
    """ONNX Conv on (N, C, H, W): ``ops.conv2d`` with its stride, dilation and groups; pads
    that differ before and after are applied explicitly (zeros) before a padding-0 conv2d."""

    roles = ("x", "weight", "bias")

    def __init__(self, node: Node, operands: Sequence[Operand], geo: dict[str, Any]) -> None:
        super().__init__(node, operands)
        self.geo = geo

    def compute(self, x: np.ndarray, w: np.ndarray, b: Any) -> tuple[np.ndarray, Any]:
        g = self.geo
        if np.ndim(x) != 4 or np.ndim(w) != 4:
            name, v = ("X", x) if np.ndim(x) != 4 else ("W", w)
            raise refuse(
                self.onnx_node,
                f"input {name!r}: expected 4 axes (N, C, H, W), got shape {np.shape(v)}",
            )
        _check_kernel_shape(self.onnx_node, g, w.shape)
        (pt, pb), (pl, pr) = _pad_pairs(g, x.shape[2:], w.shape[2:])
        if pt == pb and pl == pr:
            xin, padding, crop = x, (pt, pl), None
        else:
            H, W = x.shape[2:]
            xin = _window(x, (-pt, -pl), (H + pt + pb, W + pl + pr), (2, 3))
            padding, crop = (0, 0), (pt, pl, H, W)
        args = {
            "stride": g["strides"],
            "padding": padding,
            "dilation": g["dilations"],
            "groups": g["group"],
        }
        return ops.conv2d(xin, w, b, **args), (xin, args, crop)

    def _held_weight(self) -> np.ndarray | None:
        kind, role = self._slots[1]
        if kind == "param":
            return getattr(self, role).data
        return getattr(self, role) if kind == "buffer" else None

    def spatial_window(self) -> tuple[Any, str]:
        """Its window along H and W for receptive fields and tiles (``cnnmath.receptive``):
        ((kernel, stride, pad before, pad after, dilation, ceil_mode) per axis, ""), or
        (None, why not) where the pads follow the input's size (auto_pad SAME_*: a tile
        would be padded as an image of its own size) or the weight is computed."""
        w = self._held_weight()
        if w is None or np.ndim(w) != 4:
            return None, "reads a weight computed when the graph runs: its window is unknown"
        return _window_axes(self.geo, list(np.shape(w)[2:]), False)

    def output_channels(self, in_channels: int, channels_last: bool = False) -> int:
        """C_out, the held weight's first axis (``cnnmath.receptive``)."""
        w = self._held_weight()
        return in_channels if w is None else int(np.shape(w)[0])

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        xin, kw, crop = ctx
        gx, gw, gb = ops.conv2d_backward(g, xin, args[1], **kw)
        if crop is not None:
            pt, pl, H, W = crop
            gx = _window(gx, (pt, pl), (H, W), (2, 3))
        return [gx, gw, gb if args[2] is not None else None]


class _ConvTranspose(_Op):
    """ONNX ConvTranspose: the full transposed convolution (``ops.conv_transpose2d``, no
    padding), then cropped by pads[begin], cut or zero-extended to the output size
    s(m−1) + output_padding + d(k−1) + 1 − pads (or ``output_shape``), plus the bias."""

    roles = ("x", "weight", "bias")

    def __init__(self, node: Node, operands: Sequence[Operand], geo: dict[str, Any]) -> None:
        super().__init__(node, operands)
        self.geo = geo

    def _placement(self, x: np.ndarray, w: np.ndarray) -> tuple[list[int], list[int]]:
        g = self.geo
        starts, lengths = [], []
        for i, (m, k) in enumerate(zip(x.shape[2:], w.shape[2:])):
            s, d, op = g["strides"][i], g["dilations"][i], g["output_padding"][i]
            full = s * (m - 1) + op + (k - 1) * d + 1
            if g["output_shape"] is not None or g["auto_pad"] in ("SAME_UPPER", "SAME_LOWER"):
                target = g["output_shape"][-2 + i] if g["output_shape"] is not None else m * s
                total = full - target
                half = total // 2
                before = half if g["auto_pad"] == "SAME_UPPER" else total - half
                starts.append(before)
                lengths.append(target)
            else:
                pb, pe = g["pads"][i], g["pads"][i + 2]
                starts.append(pb)
                lengths.append(full - pb - pe)
        return starts, lengths

    def compute(self, x: np.ndarray, w: np.ndarray, b: Any) -> tuple[np.ndarray, Any]:
        _check_kernel_shape(self.onnx_node, self.geo, w.shape)
        g = self.geo
        kw = {"stride": g["strides"], "groups": g["group"], "dilation": g["dilations"]}
        starts, lengths = self._placement(x, w)
        full_hw = [
            s * (m - 1) + (k - 1) * d + 1
            for m, k, s, d in zip(x.shape[2:], w.shape[2:], g["strides"], g["dilations"])
        ]
        _guard([x.shape[0], w.shape[1] * g["group"], *full_hw], x.dtype.itemsize)
        _guard([x.shape[0], w.shape[1] * g["group"], *lengths], x.dtype.itemsize)
        full = ops.conv_transpose2d(x, w, None, **kw)
        y = _window(full, starts, lengths, (2, 3))
        if b is not None:
            y += b[:, None, None]
        return y, (kw, starts, full.shape[2:])

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        kw, starts, full_hw = ctx
        x, w, b = args
        g_full = _window(g, [-s for s in starts], full_hw, (2, 3))
        gx, gw, _ = ops.conv_transpose2d_backward(g_full, x, w, **kw)
        return [gx, gw, None if b is None else g.sum(axis=(0, 2, 3))]


def _window_axes(geo: dict[str, Any], kernel: list[int], ceil_mode: bool) -> tuple[Any, str]:
    """`_Conv.spatial_window` and `_Pool`'s from a ``_geometry`` and the kernel's sizes."""
    if geo["auto_pad"] in ("SAME_UPPER", "SAME_LOWER"):
        return None, (
            f"pads by auto_pad={geo['auto_pad']}, by an amount that follows the input's size: "
            "a tile would be padded as an image of its own"
        )
    pads, n = geo["pads"], len(kernel)
    return tuple(
        (kernel[i], geo["strides"][i], pads[i], pads[i + n], geo["dilations"][i], ceil_mode)
        for i in range(n)
    ), ""


def _check_kernel_shape(node: Node, geo: dict[str, Any], w_shape: tuple[Any, ...] | None) -> None:
    """Refuse a ``kernel_shape`` attribute that disagrees with the weight's spatial axes,
    as onnxruntime does: at load where the weight's shape is known, else when it runs."""
    k = geo["kernel_shape"]
    if k is None or w_shape is None or len(w_shape) != len(k) + 2 or None in w_shape[2:]:
        return
    if list(w_shape[2:]) != list(k):
        raise refuse(
            node, f"attribute 'kernel_shape': expected the weight's {list(w_shape[2:])}, got {k}"
        )


# ---------------------------------------------------------------------------------------------
# Converters


def _auto_pad(node: Node, attrs: Attrs) -> str:
    """The node's ``auto_pad`` attribute (default NOTSET), one of the four ONNX names."""
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"):
        raise refuse(
            node,
            "attribute 'auto_pad': expected NOTSET, SAME_UPPER, SAME_LOWER or VALID, "
            f"got {auto_pad!r}",
        )
    return str(auto_pad)


def _geometry(node: Node, attrs: Attrs, n_spatial: int = 2, pool: bool = False) -> dict[str, Any]:
    """auto_pad, kernel_shape (None if absent), strides, dilations and pads (n begins, then n
    ends; zeros unless auto_pad is NOTSET) of a window over ``n_spatial`` axes, checked."""
    auto_pad = _auto_pad(node, attrs)
    kernel = attrs.ints("kernel_shape", None)
    n_d = f"{n_spatial}-D"
    if kernel is not None and len(kernel) != n_spatial:
        raise refuse(
            node, f"attribute 'kernel_shape': only {n_d} windows are supported, got {kernel}"
        )
    if pool and kernel is None:
        raise refuse(node, "attribute 'kernel_shape' is required")
    strides = attrs.ints("strides", [1] * n_spatial) or [1] * n_spatial
    dilations = attrs.ints("dilations", [1] * n_spatial) or [1] * n_spatial
    pads = attrs.ints("pads", [0] * 2 * n_spatial) or [0] * 2 * n_spatial
    for name, value, n, low in (
        ("strides", strides, n_spatial, 1),
        ("dilations", dilations, n_spatial, 1),
        ("pads", pads, 2 * n_spatial, 0),
    ):
        if len(value) != n:
            raise refuse(node, f"attribute {name!r}: only {n_d} is supported, got {value}")
        if min(value) < low:
            raise refuse(node, f"attribute {name!r}: expected values >= {low}, got {value}")
    if auto_pad != "NOTSET":
        pads = [0] * 2 * n_spatial
    return {
        "auto_pad": auto_pad,
        "kernel_shape": kernel,
        "strides": strides,
        "dilations": dilations,
        "pads": pads,
    }


Triple = tuple[int, int, int]


def _geometry3d(
    node: Node, attrs: Attrs, same: tuple[list[int], Triple] | None = None
) -> tuple[list[int] | None, Triple, Triple, Triple | str]:
    """(kernel or None, strides, dilations, pads) of a 3-D Conv or pool: the pads a triple,
    equal at both ends of each axis (auto_pad NOTSET or VALID), as the layers hold them; or,
    given ``same`` = (a convolution's kernel, its dilations), "same" for stride 1 with
    auto_pad SAME_UPPER or the pads PyTorch's "same" gives (d(k − 1)/2 before, the odd one
    after), as cnnmath saves ``Conv3d(padding="same")``."""
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "VALID") and not (same and auto_pad == "SAME_UPPER"):
        raise refuse(
            node,
            f"attribute 'auto_pad': expected NOTSET or VALID for a 3-D window, got {auto_pad!r}",
        )
    kernel = attrs.ints("kernel_shape", None)
    values: dict[str, list[int]] = {}
    for name, default, n, low in (
        ("strides", [1, 1, 1], 3, 1),
        ("dilations", [1, 1, 1], 3, 1),
        ("pads", [0] * 6, 6, 0),
    ):
        value = attrs.ints(name, default) or default
        if len(value) != n or min(value) < low:
            raise refuse(
                node, f"attribute {name!r}: expected {n} values >= {low} (3-D), got {value}"
            )
        values[name] = value
    if kernel is not None and len(kernel) != 3:
        raise refuse(node, f"attribute 'kernel_shape': expected 3 sizes (3-D), got {kernel}")
    pads = [0] * 6 if auto_pad == "VALID" else values["pads"]
    s, d = values["strides"], values["dilations"]
    strides, dilations = (s[0], s[1], s[2]), (d[0], d[1], d[2])
    if same is not None and strides == (1, 1, 1):
        pairs = same_pads(*same)
        torch_same = [before for before, _ in pairs] + [after for _, after in pairs]
        if auto_pad == "SAME_UPPER" or (pads == torch_same and pads[:3] != pads[3:]):
            return kernel, strides, dilations, "same"
    if auto_pad == "SAME_UPPER" or pads[:3] != pads[3:]:
        raise refuse(
            node,
            f"attribute 'pads': expected equal pads at both ends of each axis (or PyTorch's "
            f"'same' for a stride-1 convolution), got {pads}",
        )
    return kernel, strides, dilations, (pads[0], pads[1], pads[2])


def _conv3d(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """A Conv of a volume (N, C, D, H, W) with a constant 5-D weight (and bias) on a run-time
    input: ``nn.Conv3d``."""
    x, w, b = ins
    wp, bp = _float_param(w), _float_param(b)
    k_w = [int(n) for n in wp.shape[2:]] if wp is not None and wp.data.ndim == 5 else [1, 1, 1]
    d_attr = attrs.ints("dilations", [1, 1, 1]) or [1, 1, 1]
    dil = (d_attr + [1, 1, 1])[:3]
    kernel, strides, dilations, pads = _geometry3d(node, attrs, (k_w, (dil[0], dil[1], dil[2])))
    group = attrs.get("group", 1)
    if (
        not isinstance(x, Ref)
        or wp is None
        or wp.data.ndim != 5
        or (b is not None and bp is None)
        or (kernel is not None and list(kernel) != list(wp.shape[2:]))
    ):
        raise refuse(
            node,
            "a 3-D convolution needs a constant 5-D weight (and bias) matching kernel_shape, "
            "on a run-time input",
        )
    C_out, C_per, k0, k1, k2 = wp.shape
    layer = nn.Conv3d(
        C_per * group,
        C_out,
        (k0, k1, k2),
        strides,
        pads,
        dilations,
        group,
        b is not None,
        dtype=wp.dtype,
    )
    layer.weight, layer.bias = wp, bp
    return layer, [x.name]


def _check_2d(node: Node, info: dict[str, Any], x: Operand) -> None:
    rank = _rank(info, x)
    if rank is not None and rank != 4:
        raise refuse(
            node, f"input 'X': only 2-D (N, C, H, W) inputs are supported, got rank {rank}"
        )


def _geometry1d(node: Node, attrs: Attrs) -> tuple[int | None, int, int, Any]:
    """(kernel, stride, dilation, pad) of a 1-D Conv or pool: a symmetric pad, or "same"."""
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "VALID"):
        raise refuse(
            node,
            f"attribute 'auto_pad': expected NOTSET or VALID for a 1-D window, got {auto_pad!r}",
        )
    kernel = attrs.ints("kernel_shape", None)
    values = {}
    for name, default, n in (
        ("strides", [1], 1),
        ("dilations", [1], 1),
        ("pads", [0, 0], 2),
    ):
        value = attrs.ints(name, default) or default
        if len(value) != n or min(value) < (0 if name == "pads" else 1):
            raise refuse(
                node, f"attribute {name!r}: expected {n} value(s) of a 1-D window, got {value}"
            )
        values[name] = value
    pb, pe = values["pads"] if auto_pad == "NOTSET" else (0, 0)
    if kernel is not None and len(kernel) != 1:
        raise refuse(node, f"attribute 'kernel_shape': expected one value, got {kernel}")
    k = None if kernel is None else kernel[0]
    stride, dilation = values["strides"][0], values["dilations"][0]
    if pb == pe:
        return k, stride, dilation, pb
    total = 0 if k is None else dilation * (k - 1)
    if stride == 1 and (pb, pe) == (total // 2, total - total // 2):
        return k, stride, dilation, "same"  # PyTorch's "same": the extra cell after
    raise refuse(
        node,
        "attribute 'pads': a 1-D window pads both ends alike (or as padding 'same'), got "
        f"{[pb, pe]}",
    )


def _conv1d(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """A Conv of a signal (N, C, L) with a constant weight (C_out, C_in/G, k): nn.Conv1d."""
    k, stride, dilation, pad = _geometry1d(node, attrs)
    group = attrs.get("group", 1)
    x, w, b = ins
    wp, bp = _float_param(w), _float_param(b)
    if not isinstance(x, Ref) or wp is None or wp.data.ndim != 3 or (b is not None and bp is None):
        raise refuse(
            node, "a 1-D convolution needs a constant 3-D weight (and bias) on a run-time input"
        )
    C_out, C_per, f = wp.shape
    if k is not None and k != f:
        raise refuse(node, f"attribute 'kernel_shape': {[k]} disagrees with the weight's {[f]}")
    layer = nn.Conv1d(
        C_per * group, C_out, f, stride, pad, dilation, group, bias=b is not None, dtype=wp.dtype
    )
    layer.weight = wp
    layer.bias = bp
    return layer, [x.name]


def conv(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    if _rank(info, ins[0]) == 3:
        return _conv1d(node, attrs, ins, info)
    if _rank(info, ins[0]) == 5:
        return _conv3d(node, attrs, ins, info)
    _check_2d(node, info, ins[0])
    geo = _geometry(node, attrs)
    geo["group"] = group = attrs.get("group", 1)
    x, w, b = ins
    _check_kernel_shape(node, geo, _shape(info, w))
    wp, bp = _float_param(w), _float_param(b)
    (pt, pl, pb, pr) = geo["pads"]
    if (
        isinstance(x, Ref)
        and wp is not None
        and wp.data.ndim == 4
        and (b is None or bp is not None)
        and geo["auto_pad"] in ("NOTSET", "VALID")
        and pt == pb
        and pl == pr
        and (geo["kernel_shape"] is None or geo["kernel_shape"] == list(wp.shape[2:]))
    ):
        C_out, C_per, f1, f2 = wp.shape
        layer = nn.Conv2d(
            C_per * group,
            C_out,
            (f1, f2),
            geo["strides"],
            (pt, pl),
            geo["dilations"],
            group,
            bias=b is not None,
            dtype=wp.dtype,
        )
        layer.weight = wp
        layer.bias = bp
        return layer, [x.name]
    if w is not None and _rank(info, w) not in (None, 4):
        raise refuse(node, "input 'W': only 2-D convolutions (a 4-D weight) are supported")
    return _generic(_Conv(node, [x, _as_operand(w, wp), _as_operand(b, bp)], geo), [x, w, b])


class _DeformConv(_Op):
    """DeformConv (opset 19): ``ops.deform_conv2d`` on X, W, offset, B and mask, any of W,
    B, mask computed at run time; the gradients of all five from
    ``ops.deform_conv2d_backward``."""

    roles = ("X", "W", "offset", "B", "mask")

    def __init__(
        self, node: Node, operands: Sequence[Operand], options: dict[str, Any], offset_group: int
    ) -> None:
        super().__init__(node, operands)
        self.options, self.offset_group = options, offset_group

    def compute(self, x: Any, w: Any, offset: Any, b: Any, mask: Any) -> tuple[np.ndarray, Any]:
        _check_offset_group(self.onnx_node, self.offset_group, np.shape(w), np.shape(offset))
        try:
            return ops.deform_conv2d(x, offset, w, b, mask=mask, **self.options), None
        except (ValueError, TypeError) as e:
            raise refuse(self.onnx_node, str(e)) from None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        x, w, offset, b, mask = args
        gx, goffset, gw, gb, gmask = ops.deform_conv2d_backward(
            g, x, offset, w, mask=mask, **self.options
        )
        return [gx, gw, goffset, None if b is None else gb, gmask]


def deform_conv(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """DeformConv with symmetric pads: ``nn.DeformConv2d`` when the weight (and bias) are
    initializers, X, the offsets (and mask) run-time values, and the offsets' channel count
    is known to match ``offset_group``; ``_DeformConv`` otherwise (which checks it when run)."""
    _check_2d(node, info, ins[0])
    geo = _geometry(node, attrs)
    group = attrs.get("group", 1)
    offset_group = attrs.get("offset_group", 1)
    (pt, pl, pb, pr) = geo["pads"]
    if geo["auto_pad"] != "NOTSET" or pt != pb or pl != pr:
        raise refuse(node, f"attribute 'pads': expected equal pads at both ends, got {geo['pads']}")
    x, w, offset, b, mask = (ins + [None] * 5)[:5]
    wp, bp = _float_param(w), _float_param(b)
    options = {
        "stride": tuple(geo["strides"]),
        "padding": (pt, pl),
        "dilation": tuple(geo["dilations"]),
    }
    shape = _shape(info, offset)
    known = wp is not None and shape is not None and isinstance(shape[1], (int, np.integer))
    if known:  # refused now; otherwise when the graph runs (_DeformConv)
        assert wp is not None and shape is not None
        _check_offset_group(node, offset_group, wp.shape, shape)
    if (
        known
        and isinstance(x, Ref)
        and isinstance(offset, Ref)
        and (mask is None or isinstance(mask, Ref))
        and wp is not None
        and wp.data.ndim == 4
        and (b is None or bp is not None)
        and (geo["kernel_shape"] is None or geo["kernel_shape"] == list(wp.shape[2:]))
    ):
        C_out, C_per, f1, f2 = wp.shape
        layer = nn.DeformConv2d(
            C_per * group,
            C_out,
            (f1, f2),
            options["stride"],
            options["padding"],
            options["dilation"],
            group,
            bias=b is not None,
            dtype=wp.dtype,
        )
        layer.weight = wp
        layer.bias = bp
        return layer, [x.name, offset.name] + ([] if mask is None else [mask.name])
    operands = [x, _as_operand(w, wp), offset, _as_operand(b, bp), mask]
    return _generic(_DeformConv(node, operands, options, offset_group), operands)


def _check_offset_group(
    node: Node, offset_group: int, w_shape: Sequence[Any], offset_shape: Sequence[Any]
) -> None:
    """Refuse an offset whose channels are not 2·kh·kw per offset group (the op would infer
    another group count from the offset; onnxruntime refuses it)."""
    k = int(w_shape[2]) * int(w_shape[3]) if len(w_shape) == 4 else 0
    if len(offset_shape) < 2 or offset_shape[1] != 2 * k * offset_group:
        raise refuse(
            node,
            f"attribute 'offset_group': {offset_group} groups of {k} taps need "
            f"{2 * k * offset_group} offset channels, the offset has shape "
            f"{tuple(offset_shape)}",
        )


def _conv_transpose1d(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """A ConvTranspose of a signal (N, C, L) with a constant weight (C_in, C_out/G, k), both
    ends padded alike: nn.ConvTranspose1d."""
    if attrs.get("auto_pad", "NOTSET") != "NOTSET" or attrs.ints("output_shape", None):
        raise refuse(node, "a 1-D transposed convolution needs explicit pads, no output_shape")
    k, stride, dilation, pad = _geometry1d(node, attrs)
    op = attrs.ints("output_padding", [0]) or [0]
    group = attrs.get("group", 1)
    x, w, b = ins
    wp, bp = _float_param(w), _float_param(b)
    if (
        not isinstance(x, Ref)
        or wp is None
        or wp.data.ndim != 3
        or (b is not None and bp is None)
        or isinstance(pad, str)
        or len(op) != 1
        or op[0] >= max(stride, dilation)
    ):
        raise refuse(
            node,
            "a 1-D transposed convolution needs a constant 3-D weight (and bias) on a run-time "
            "input, pads alike at both ends and one output_padding below stride or dilation",
        )
    C_in, C_per, f = wp.shape
    if k is not None and k != f:
        raise refuse(node, f"attribute 'kernel_shape': {[k]} disagrees with the weight's {[f]}")
    layer = nn.ConvTranspose1d(
        C_in, C_per * group, f, stride, pad, op[0], group, b is not None, dilation, dtype=wp.dtype
    )
    layer.weight = wp
    layer.bias = bp
    return layer, [x.name]


def _conv_transpose3d(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """A ConvTranspose of a volume (N, C, D, H, W) with a constant 5-D weight (C_in, C_out/G,
    f0, f1, f2) (and bias) on a run-time input, both ends of each axis padded alike:
    ``nn.ConvTranspose3d``."""
    if attrs.ints("output_shape", None):
        raise refuse(node, "a 3-D transposed convolution needs explicit pads, no output_shape")
    kernel, strides, dilations, pads = _geometry3d(node, attrs)
    assert not isinstance(pads, str)  # "same" only for a convolution
    op = attrs.ints("output_padding", [0, 0, 0]) or [0, 0, 0]
    group = attrs.get("group", 1)
    x, w, b = ins
    wp, bp = _float_param(w), _float_param(b)
    if (
        not isinstance(x, Ref)
        or wp is None
        or wp.data.ndim != 5
        or (b is not None and bp is None)
        or (kernel is not None and list(kernel) != list(wp.shape[2:]))
        or len(op) != 3
        or any(q >= max(s, d) for q, s, d in zip(op, strides, dilations))
    ):
        raise refuse(
            node,
            "a 3-D transposed convolution needs a constant 5-D weight (and bias) matching "
            "kernel_shape on a run-time input, and 3 output_padding values below stride or "
            f"dilation, got output_padding {op}",
        )
    C_in, C_per, k0, k1, k2 = wp.shape
    layer = nn.ConvTranspose3d(
        C_in,
        C_per * group,
        (k0, k1, k2),
        strides,
        pads,
        (op[0], op[1], op[2]),
        group,
        b is not None,
        dilations,
        dtype=wp.dtype,
    )
    layer.weight, layer.bias = wp, bp
    return layer, [x.name]


def conv_transpose(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    if _rank(info, ins[0]) == 3:
        return _conv_transpose1d(node, attrs, ins, info)
    if 5 in (_rank(info, ins[0]), _rank(info, ins[1])):
        return _conv_transpose3d(node, attrs, ins, info)
    _check_2d(node, info, ins[0])
    geo = _geometry(node, attrs)
    geo["group"] = group = attrs.get("group", 1)
    geo["output_padding"] = attrs.ints("output_padding", [0, 0]) or [0, 0]
    geo["output_shape"] = attrs.ints("output_shape", None)
    for name in ("output_padding", "output_shape"):
        if geo[name] is not None and len(geo[name]) != 2:
            raise refuse(
                node,
                f"attribute {name!r}: expected 2 values (one per spatial axis; only 2-D is "
                f"supported), got {geo[name]}",
            )
    if geo["auto_pad"] == "VALID":
        geo["auto_pad"] = "NOTSET"
    x, w, b = ins
    _check_kernel_shape(node, geo, _shape(info, w))
    wp, bp = _float_param(w), _float_param(b)
    (pt, pl, pb, pr), (s, d, op) = (
        geo["pads"],
        (geo["strides"], geo["dilations"], geo["output_padding"]),
    )
    if (
        isinstance(x, Ref)
        and wp is not None
        and wp.data.ndim == 4
        and (b is None or bp is not None)
        and geo["auto_pad"] == "NOTSET"
        and geo["output_shape"] is None
        and pt == pb
        and pl == pr
        and all(op[i] < max(s[i], d[i]) for i in (0, 1))
    ):
        C_in, C_per, f1, f2 = wp.shape
        layer = nn.ConvTranspose2d(
            C_in,
            C_per * group,
            (f1, f2),
            s,
            (pt, pl),
            op,
            group,
            bias=b is not None,
            dilation=d,
            dtype=wp.dtype,
        )
        layer.weight = wp
        layer.bias = bp
        return layer, [x.name]
    if _rank(info, w) not in (None, 4):
        raise refuse(
            node, "input 'W': only 2-D transposed convolutions (a 4-D weight) are supported"
        )
    return _generic(
        _ConvTranspose(node, [x, _as_operand(w, wp), _as_operand(b, bp)], geo), [x, w, b]
    )
