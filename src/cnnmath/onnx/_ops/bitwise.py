"""Bitwise ops on the integer types cnnmath holds (int32, int64), and their converters:
BitwiseAnd, BitwiseOr, BitwiseXor, BitwiseNot and BitShift. Integer outputs: no gradient.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._attributes import Attrs
from ._convert import Built, _generic, _plain
from ._module import _Op
from ._node import Node, Operand, refuse

_BITWISE = {
    "BitwiseAnd": np.bitwise_and,
    "BitwiseOr": np.bitwise_or,
    "BitwiseXor": np.bitwise_xor,
}
#: the opset from which BitShift takes signed integers (before it: unsigned only, which
#: cnnmath does not hold)
_SIGNED_SHIFT = 28


def _integers(node: Node, names: Sequence[str], arrays: Sequence[np.ndarray]) -> None:
    """Every array an integer one (not bool) of the first's dtype, broadcasting together."""
    for name, a in zip(names, arrays):
        if not np.issubdtype(a.dtype, np.integer) or a.dtype != arrays[0].dtype:
            raise refuse(
                node,
                f"input {name!r}: expected an integer type (int32, int64), that of input "
                f"{names[0]!r} ({arrays[0].dtype}), got {a.dtype}",
            )
    try:
        np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError:
        raise refuse(
            node,
            f"inputs {', '.join(map(repr, names))}: expected shapes that broadcast together, "
            f"got {', '.join(str(a.shape) for a in arrays)}",
        ) from None


class _Bitwise(_Op):
    """BitwiseAnd, BitwiseOr, BitwiseXor (two inputs, NumPy broadcasting) and BitwiseNot
    (one): each bit of the two's-complement integers combined, or inverted."""

    roles = ("A", "B")

    def compute(self, *args: Any) -> tuple[np.ndarray, Any]:
        arrays = [np.asarray(a) for a in args]
        names = ("X",) if self.onnx_op == "BitwiseNot" else ("A", "B")
        _integers(self.onnx_node, names, arrays)
        if self.onnx_op == "BitwiseNot":
            return np.invert(arrays[0]), None
        return _BITWISE[self.onnx_op](*arrays), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [None] * len(args)


class _BitShift(_Op):
    """BitShift: Z = X shifted by Y bits (broadcast) to the left or right (``direction``).
    For a signed type (opset 28), the right shift is arithmetic (the sign bit copied in) and
    the left shift drops the bits pushed past the sign bit; a shift Y < 0 or Y ≥ the type's
    bit width gives only what the sign fill alone would: −1 for a right shift of a negative
    X, 0 otherwise."""

    roles = ("X", "Y")

    def __init__(self, node: Node, operands: Sequence[Operand], left: bool) -> None:
        super().__init__(node, operands)
        self.left = left

    def compute(self, x: Any, y: Any) -> tuple[np.ndarray, Any]:
        x, y = np.asarray(x), np.asarray(y)
        _integers(self.onnx_node, ("X", "Y"), (x, y))
        bits = np.iinfo(x.dtype).bits
        valid = (y >= 0) & (y < bits)
        by = np.where(valid, y, 0)
        if self.left:  # on the unsigned bits: the shifted-out ones drop, as ONNX says
            unsigned = np.dtype(f"u{x.dtype.itemsize}")
            z = np.left_shift(x.astype(unsigned), by.astype(unsigned)).astype(x.dtype)
            return np.where(valid, z, np.zeros((), x.dtype)), None
        z = np.right_shift(x, by)
        return np.where(valid, z, np.where(x < 0, -1, 0).astype(x.dtype)), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [None, None]

    def extra_repr(self) -> str:
        """The op type and direction."""
        return f"onnx_op={self.onnx_op!r}, direction={'LEFT' if self.left else 'RIGHT'}"


# ---------------------------------------------------------------------------------------------
# Converters


def bitwise(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """BitwiseAnd, BitwiseOr, BitwiseXor, BitwiseNot: ``_Bitwise``."""
    operands = [_plain(o) for o in ins]
    return _generic(_Bitwise(node, operands), operands)


def bit_shift(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """BitShift: ``_BitShift`` to the ``direction`` given, signed integers from opset 28."""
    direction = attrs.get("direction")
    if direction not in ("LEFT", "RIGHT"):
        raise refuse(node, f"attribute 'direction': expected 'LEFT' or 'RIGHT', got {direction!r}")
    if node.opset < _SIGNED_SHIFT:
        raise refuse(
            node,
            f"BitShift before opset {_SIGNED_SHIFT} (the file's is {node.opset}) shifts only "
            "unsigned integers, which cnnmath does not hold (int32 and int64 from opset 28)",
        )
    operands = [_plain(o) for o in ins]
    return _generic(_BitShift(node, operands, direction == "LEFT"), operands)
