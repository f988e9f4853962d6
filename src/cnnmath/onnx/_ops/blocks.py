"""Block rearrangements and their converters: DepthToSpace and SpaceToDepth (blocks of pixels
to channels and back, both channel orders) and Col2Im (columns of blocks back to an image).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import nn, ops
from ._attributes import Attrs
from ._convert import Built, _const, _generic, _rank, _shape
from ._helpers import _is_float
from ._module import _Op
from ._node import Node, Operand, Ref, refuse


def _regroup(x: np.ndarray, first: int, second: int) -> np.ndarray:
    """The channels of x (N, first·second, H, W) as a (first, second) grid, transposed:
    channel a·second + b moves to b·first + a."""
    N, _, H, W = x.shape
    grid = x.reshape(N, first, second, H, W).swapaxes(1, 2)
    return np.array(grid).reshape(N, first * second, H, W)


class _SpaceDepth(_Op):
    """DepthToSpace and SpaceToDepth with block size b on a 4-D x (N, C, H, W), through
    ``ops.pixel_shuffle`` / ``ops.pixel_unshuffle``, whose channel order c·b² + i·b + j is
    the ops' mode "CRD", and a regrouping of the channels for the other order,
    (i·b + j)·C' + c, mode "DCR" (the default; SpaceToDepth's only one before opset 28):

        DepthToSpace DCR:  Y = pixel_shuffle(regroup(X, b², C/b²), b)
        SpaceToDepth DCR:  Y = regroup(pixel_unshuffle(X, b), C, b²)

    Each gradient is the inverse permutation: the same steps undone in reverse order."""

    roles = ("x",)

    def __init__(self, node: Node, operands: Sequence[Operand], blocksize: int, mode: str) -> None:
        super().__init__(node, operands)
        self.blocksize, self.mode = blocksize, mode

    def _check(self, x: np.ndarray) -> None:
        if np.ndim(x) != 4 or not _is_float(np.asarray(x)):
            raise refuse(
                self.onnx_node,
                f"input 'input': expected a 4-D (N, C, H, W) float array, got shape "
                f"{np.shape(x)} and dtype {np.asarray(x).dtype}",
            )
        b = self.blocksize
        if self.onnx_op == "DepthToSpace" and x.shape[1] % (b * b):
            raise refuse(
                self.onnx_node,
                f"input 'input': expected channels divisible by blocksize² = {b * b}, got "
                f"shape {x.shape}",
            )
        if self.onnx_op == "SpaceToDepth" and (x.shape[2] % b or x.shape[3] % b):
            raise refuse(
                self.onnx_node,
                f"input 'input': expected height and width divisible by blocksize = {b}, got "
                f"shape {x.shape}",
            )

    def compute(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        self._check(x)
        b, C, dcr = self.blocksize, x.shape[1], self.mode == "DCR"
        if self.onnx_op == "SpaceToDepth":
            y = ops.pixel_unshuffle(x, b)
            return (_regroup(y, C, b * b) if dcr else y), C
        return ops.pixel_shuffle(_regroup(x, b * b, C // (b * b)) if dcr else x, b), C

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        b, C, dcr = self.blocksize, ctx, self.mode == "DCR"
        if self.onnx_op == "SpaceToDepth":
            return [ops.pixel_unshuffle_backward(_regroup(g, b * b, C) if dcr else g, b)]
        gx = ops.pixel_shuffle_backward(g, b)
        return [_regroup(gx, C // (b * b), b * b) if dcr else gx]

    def extra_repr(self) -> str:
        """The ONNX op type, block size and mode."""
        return f"onnx_op={self.onnx_op!r}, blocksize={self.blocksize}, mode={self.mode!r}"


def space_depth(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """DepthToSpace and SpaceToDepth, mode "DCR" (the default) or "CRD" (SpaceToDepth has a
    mode from opset 28 on). "CRD" on a 4-D float value computed at run time is PyTorch's
    ``pixel_shuffle`` (DepthToSpace: how PyTorch exports it) or ``pixel_unshuffle``
    (SpaceToDepth): the ``nn.PixelShuffle`` / ``nn.PixelUnshuffle`` layer. The rest are
    :class:`_SpaceDepth` ops."""
    x = ins[0]
    b = attrs.get("blocksize")
    if b is None:
        raise refuse(node, "attribute 'blocksize' is required")
    mode = "DCR"
    if node.op_type == "DepthToSpace" or node.opset >= 28:  # else 'mode' is refused as unread
        mode = attrs.get("mode", "DCR")
    if mode not in ("DCR", "CRD"):
        raise refuse(node, f"attribute 'mode': expected 'DCR' or 'CRD', got {mode!r}")
    rank = _rank(info, x)
    if rank is not None and rank != 4:
        raise refuse(node, f"input 'input': expected rank 4 (N, C, H, W), got rank {rank}")
    shape = _shape(info, x) or (None,) * 4
    if node.op_type == "DepthToSpace" and isinstance(shape[1], int) and shape[1] % (b * b):
        raise refuse(
            node,
            f"input 'input': expected channels divisible by blocksize² = {b * b}, got {shape[1]}",
        )
    if node.op_type == "SpaceToDepth" and any(isinstance(n, int) and n % b for n in shape[2:]):
        raise refuse(
            node,
            f"input 'input': expected height and width divisible by blocksize = {b}, got "
            f"shape {shape}",
        )
    if mode == "CRD" and rank == 4 and isinstance(x, Ref) and info["float"].get(x.name, False):
        layer = nn.PixelShuffle(b) if node.op_type == "DepthToSpace" else nn.PixelUnshuffle(b)
        return layer, [x.name]
    return _generic(_SpaceDepth(node, [x], b, mode), [x])


def col2im(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """Col2Im on a 3-D value computed at run time, 2 spatial axes and symmetric pads (how
    PyTorch exports ``F.fold``, opset 18 on): the ``nn.Fold`` layer."""
    x = ins[0]
    shapes = {}
    for name, operand in (("image_shape", ins[1]), ("block_shape", ins[2])):
        const = _const(node, operand, name)
        sizes = [int(v) for v in np.ravel(np.asarray(const))] if const is not None else []
        if len(sizes) != 2 or min(sizes) < 1:
            raise refuse(
                node, f"input {name!r}: expected 2 positive sizes (2 spatial axes), got {sizes}"
            )
        shapes[name] = tuple(sizes)
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    if len(pads) != 4 or pads[0] != pads[2] or pads[1] != pads[3] or min(pads) < 0:
        raise refuse(
            node, f"attribute 'pads': expected [top, left, top, left] (symmetric), got {pads}"
        )
    geometry = {}
    for name, key in (("dilation", "dilations"), ("stride", "strides")):
        value = list(attrs.get(key, [1, 1]))
        if len(value) != 2 or min(value) < 1:
            raise refuse(node, f"attribute {key!r}: expected 2 values >= 1, got {value}")
        geometry[name] = tuple(value)
    rank = _rank(info, x)
    if not isinstance(x, Ref) or (rank is not None and rank != 3):
        raise refuse(
            node, "input 'input': expected a 3-D value (N, C·k1·k2, L) computed at run time"
        )
    layer = nn.Fold(
        shapes["image_shape"], shapes["block_shape"], padding=(pads[0], pads[1]), **geometry
    )
    return layer, [x.name]
