"""Padding: PyTorch's (left, right, top, bottom) borders as ONNX's Pad (its modes constant,
reflect, edge and wrap), for the Pad layers and for the layers that pad first (a Conv2d's
padding_mode, Unfold)."""

from __future__ import annotations

import numpy as np

from ... import nn
from .._checks import PAD_MODES
from ._writer import _Writer


def _pads(pair: tuple[int, int] | int) -> list[int]:
    """ONNX pads [top, left, bottom, right] of a symmetric (ph, pw) or int padding."""
    ph, pw = (pair, pair) if isinstance(pair, int) else pair
    return [ph, pw, ph, pw]


#: cnnmath's (PyTorch's) padding modes in ONNX's names; "wrap" arrived in opset 19.
_PAD_MODES = {mode: onnx_mode for onnx_mode, mode in PAD_MODES.items()}


def _pad_node(
    w: _Writer,
    x: str,
    output: str,
    name: str,
    mode: str,
    border: tuple[int, int, int, int],
    rank: int,
    value: float = 0.0,
) -> str:
    """A Pad of the last two axes by PyTorch's (left, right, top, bottom) in ``mode``."""
    if mode == "circular" and w.opset < 19:
        raise ValueError(
            f"save: opset: circular padding (node {name!r}) needs opset 19 or later (Pad's "
            f"mode 'wrap'), got {w.opset}"
        )
    left, right, top, bottom = border
    zeros = [0] * (rank - 2)
    pads = w.const(f"{name}/pads", zeros + [top, left] + zeros + [bottom, right], np.int64)
    inputs = [x, pads]
    if mode == "constant" and value != 0.0:
        inputs.append(w.const(f"{name}/value", value))
    return w.node("Pad", inputs, output, name, mode=_PAD_MODES[mode])


def _pad(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.Pad2d)
    rank = len(shapes[0])
    _pad_node(w, node.inputs[0], node.output, node.name, m.mode, m.padding, rank, m.value)


def _pad1d(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.Pad1d)
    if m.mode == "circular" and w.opset < 19:
        raise ValueError(
            f"save: opset: circular padding (node {node.name!r}) needs opset 19 or later (Pad's "
            f"mode 'wrap'), got {w.opset}"
        )
    zeros = [0] * (len(shapes[0]) - 1)
    pads = w.const(f"{node.name}/pads", [*zeros, m.padding[0], *zeros, m.padding[1]], np.int64)
    inputs = [node.inputs[0], pads]
    if m.mode == "constant" and m.value != 0:
        inputs.append(w.const(f"{node.name}/value", m.value))
    w.node("Pad", inputs, node.output, node.name, mode=_PAD_MODES[m.mode])
