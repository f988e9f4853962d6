"""Convolutions and Linear: Conv (1-D, 2-D, 3-D; a padding_mode other than zeros as a Pad
first), ConvTranspose, DeformConv, and Gemm or MatMul + Add."""

from __future__ import annotations

from typing import Any

from ... import nn
from ...ops._geometry import resolve_padding, same_pads
from ._writer import _needs, _Writer
from .pad import _pad_node, _pad_trailing, _pads


def _conv(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """Conv2d and Conv1d: a Conv with their explicit pads, or a Pad in their padding_mode
    and then an unpadded Conv."""
    m = node.module
    assert isinstance(m, (nn.Conv2d, nn.Conv1d))
    if isinstance(m, nn.Conv1d):
        (left, right), top, bottom = m.border(), 0, 0
        kernel, strides, dilations = [m.kernel_size], [m.stride], [m.dilation]
    else:
        (top, bottom), (left, right) = resolve_padding(
            m.padding, m.kernel_size, m.dilation, m.stride, func="save"
        )
        kernel, strides, dilations = list(m.kernel_size), list(m.stride), list(m.dilation)
    x = node.inputs[0]
    if m.padding_mode != "zeros":  # the border first, then an unpadded Conv
        border = (left, right, top, bottom)
        pad = f"{node.name}/pad"
        x = _pad_node(w, x, pad, pad, m.padding_mode, border, len(shapes[0]))
        top = bottom = left = right = 0
    inputs = [x, w.state(m, "weight", node)]
    if m.bias is not None:
        inputs.append(w.state(m, "bias", node))
    w.node(
        "Conv",
        inputs,
        node.output,
        node.name,
        kernel_shape=kernel,
        strides=strides,
        pads=[left, right] if isinstance(m, nn.Conv1d) else [top, left, bottom, right],
        dilations=dilations,
        group=m.groups,
    )


def _conv_transpose(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """ConvTranspose1d, 2d and 3d: a ConvTranspose with their geometry (one value per
    spatial axis; both ends of an axis padded alike)."""
    m = node.module
    assert isinstance(m, (nn.ConvTranspose2d, nn.ConvTranspose1d, nn.ConvTranspose3d))
    if isinstance(m, nn.ConvTranspose1d):
        kernel, strides, pads = [m.kernel_size], [m.stride], [m.padding, m.padding]
        output_padding, dilations = [m.output_padding], [m.dilation]
    elif isinstance(m, nn.ConvTranspose3d):
        kernel, strides, pads = list(m.kernel_size), list(m.stride), list(m.padding) * 2
        output_padding, dilations = list(m.output_padding), list(m.dilation)
    else:
        kernel, strides, pads = list(m.kernel_size), list(m.stride), _pads(m.padding)
        output_padding, dilations = list(m.output_padding), list(m.dilation)
    inputs = [node.inputs[0], w.state(m, "weight", node)]
    if m.bias is not None:
        inputs.append(w.state(m, "bias", node))
    w.node(
        "ConvTranspose",
        inputs,
        node.output,
        node.name,
        kernel_shape=kernel,
        strides=strides,
        pads=pads,
        output_padding=output_padding,
        dilations=dilations,
        group=m.groups,
    )


def _linear(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.Linear)
    weight = w.state(m, "weight", node)
    bias = [w.state(m, "bias", node)] if m.bias is not None else []
    if len(shapes[0]) == 2:  # y = x Wᵀ + b, Gemm's own form
        w.node("Gemm", [node.inputs[0], weight, *bias], node.output, node.name, transB=1)
        return
    wt = w.transposed(weight, node.name)
    if not bias:
        w.node("MatMul", [node.inputs[0], wt], node.output, node.name)
        return
    xw = w.node("MatMul", [node.inputs[0], wt], f"{node.name}/matmul", f"{node.name}/matmul")
    w.node("Add", [xw, bias[0]], node.output, node.name)


def _conv3d(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """Conv3d: a Conv with three spatial axes; "same" as its pads (the odd one after); a
    padding_mode other than zeros as a Pad of those axes, then an unpadded Conv (as Conv2d)."""
    m = node.module
    assert isinstance(m, nn.Conv3d)
    if m.padding == "same":
        pairs: Any = same_pads(m.kernel_size, m.dilation)
    else:
        pairs = [(p, p) for p in ((0, 0, 0) if m.padding == "valid" else m.padding)]
    pads = [before for before, _ in pairs] + [after for _, after in pairs]
    x = node.inputs[0]
    if m.padding_mode != "zeros":  # the border first, then an unpadded Conv
        name = f"{node.name}/pad"
        x = _pad_trailing(w, x, name, name, m.padding_mode, list(pairs), len(shapes[0]))
        pads = [0] * 6
    inputs = [x, w.state(m, "weight", node)]
    if m.bias is not None:
        inputs.append(w.state(m, "bias", node))
    w.node(
        "Conv",
        inputs,
        node.output,
        node.name,
        kernel_shape=list(m.kernel_size),
        strides=list(m.stride),
        pads=pads,
        dilations=list(m.dilation),
        group=m.groups,
    )


def _deform_conv(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """DeformConv2d: a DeformConv (opset ≥ 19) of X, W, the offsets, B and the mask."""
    m = node.module
    assert isinstance(m, nn.DeformConv2d)
    _needs(w, node, "DeformConv", 19)
    x, offset, *mask = node.inputs
    bias = w.state(m, "bias", node) if m.bias is not None else ""
    inputs = [x, w.state(m, "weight", node), offset, bias, *mask]
    (ph, pw), groups = m.padding, m.groups
    offset_group = shapes[1][1] // (2 * m.kernel_size[0] * m.kernel_size[1])
    w.node(
        "DeformConv",
        inputs if mask or m.bias is not None else inputs[:3],
        node.output,
        node.name,
        kernel_shape=list(m.kernel_size),
        strides=list(m.stride),
        pads=[ph, pw, ph, pw],
        dilations=list(m.dilation),
        group=groups,
        offset_group=offset_group,
    )
