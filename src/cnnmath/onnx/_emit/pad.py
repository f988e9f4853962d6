"""Padding: PyTorch's (left, right, top, bottom) borders — (…, front, back) for a volume — as
ONNX's Pad (its modes constant, reflect, edge and wrap), for the Pad layers (1-D, 2-D, 3-D)
and for the layers that pad first (a Conv2d's or Conv3d's padding_mode, Unfold)."""

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


def _pad_trailing(
    w: _Writer,
    x: str,
    output: str,
    name: str,
    mode: str,
    widths: list[tuple[int, int]],
    rank: int,
    value: float = 0.0,
) -> str:
    """A Pad of the last ``len(widths)`` axes of a rank-``rank`` value, ``widths`` their
    (before, after) in axis order, in ``mode`` (PyTorch's name; a constant's ``value``)."""
    if mode == "circular" and w.opset < 19:
        raise ValueError(
            f"save: opset: circular padding (node {name!r}) needs opset 19 or later (Pad's "
            f"mode 'wrap'), got {w.opset}"
        )
    zeros = [0] * (rank - len(widths))  # the batch and channel axes
    begins, ends = [b for b, _ in widths], [a for _, a in widths]
    pads = w.const(f"{name}/pads", zeros + begins + zeros + ends, np.int64)
    inputs = [x, pads]
    if mode == "constant" and value != 0.0:
        inputs.append(w.const(f"{name}/value", value))
    return w.node("Pad", inputs, output, name, mode=_PAD_MODES[mode])


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
    left, right, top, bottom = border
    return _pad_trailing(w, x, output, name, mode, [(top, bottom), (left, right)], rank, value)


def _pad(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.Pad2d)
    rank = len(shapes[0])
    _pad_node(w, node.inputs[0], node.output, node.name, m.mode, m.padding, rank, m.value)


def _pad1d(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.Pad1d)
    rank, widths = len(shapes[0]), [m.padding]
    _pad_trailing(w, node.inputs[0], node.output, node.name, m.mode, widths, rank, m.value)


def _pad3d(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """ZeroPad3d, …Pad3d: a Pad of depth, height and width."""
    m = node.module
    assert isinstance(m, nn.Pad3d)
    rank, widths = len(shapes[0]), m.widths()
    _pad_trailing(w, node.inputs[0], node.output, node.name, m.mode, widths, rank, m.value)
