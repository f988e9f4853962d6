"""A node's attributes: :class:`Attrs` reads them as Python values, checks each against the
type and range ONNX gives it (``_ATTRIBUTE_TYPES``, ``_ATTRIBUTE_RANGES``) and refuses any
attribute no converter read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._checks import tensor_array
from ._node import Node, refuse


class Attrs:
    """A node's attributes as Python values; ``done`` refuses any attribute nobody read."""

    def __init__(self, node: Node, protos: Sequence[Any]) -> None:
        self.node = node
        self.values: dict[str, Any] = {}
        self.types: dict[str, int] = {}
        self.read: set[str] = set()
        for a in protos:
            self.values[a.name] = _attribute_value(node, a)
            self.types[a.name] = int(a.type)

    def get(self, name: str, default: Any = None) -> Any:
        """The attribute's value (``default`` when absent), refused unless it has the ONNX type
        (and, for flags, counts and window sizes, the range) the op's schema gives it."""
        self.read.add(name)
        if name not in self.values:
            return default
        value = self.values[name]
        expected = _ATTRIBUTE_TYPES.get(name)
        given = self.types[name]
        if expected is not None and given != expected:
            raise refuse(
                self.node,
                f"attribute {name!r}: expected type {_TYPE_NAMES[expected]}, "
                f"got {_TYPE_NAMES.get(given, given)} {value!r}",
            )
        low, high = _ATTRIBUTE_RANGES.get(name, (None, None))
        items = value if isinstance(value, list) else [value]
        if any((low is not None and v < low) or (high is not None and v > high) for v in items):
            what = f">= {low}" if high is None else f"in [{low}, {high}]"
            raise refuse(self.node, f"attribute {name!r}: expected values {what}, got {value!r}")
        return value

    def has(self, name: str) -> bool:
        return name in self.values

    def ints(self, name: str, default: Sequence[int] | None) -> list[int] | None:
        value = self.get(name, default)
        return None if value is None else [int(v) for v in value]

    def done(self) -> None:
        for name in self.values:
            if name not in self.read:
                raise refuse(self.node, f"attribute {name!r} is not supported")


_FLOAT, _INT, _STRING, _TENSOR, _FLOATS, _INTS = 1, 2, 3, 4, 6, 7
_TYPE_NAMES = {1: "FLOAT", 2: "INT", 3: "STRING", 4: "TENSOR", 6: "FLOATS", 7: "INTS", 8: "STRINGS"}
# The ONNX type of every attribute an op here reads (the schemas agree across these ops).
_ATTRIBUTE_TYPES = {
    **dict.fromkeys(
        (
            "alpha",
            "beta",
            "bias",
            "cubic_coeff_a",
            "epsilon",
            "extrapolation_value",
            "gamma",
            "lambd",
            "momentum",
            "ratio",
        ),
        _FLOAT,
    ),
    **dict.fromkeys(
        (
            "align_corners",
            "allowzero",
            "antialias",
            "axis",
            "block_size",
            "blocksize",
            "ceil_mode",
            "count_include_pad",
            "detect_negative",
            "detect_positive",
            "end",
            "exclude_outside",
            "exclusive",
            "fmod",
            "group",
            "ignore_index",
            "keepdims",
            "largest",
            "noop_with_empty_axes",
            "num_groups",
            "num_outputs",
            "offset_group",
            "output_dtype",
            "p",
            "precision",
            "reverse",
            "saturate",
            "seed",
            "select_last_index",
            "sorted",
            "start",
            "stash_type",
            "storage_order",
            "to",
            "training_mode",
            "transA",
            "transB",
            "value_int",
        ),
        _INT,
    ),
    **dict.fromkeys(
        (
            "axes",
            "dilations",
            "kernel_shape",
            "output_padding",
            "output_shape",
            "pads",
            "perm",
            "split",
            "strides",
            "value_ints",
        ),
        _INTS,
    ),
    **dict.fromkeys(
        (
            "approximate",
            "auto_pad",
            "coordinate_transformation_mode",
            "equation",
            "keep_aspect_ratio_policy",
            "mode",
            "nearest_mode",
            "padding_mode",
            "reduction",
        ),
        _STRING,
    ),
    "value": _TENSOR,
    "value_float": _FLOAT,
    "value_floats": _FLOATS,
}
# (low, high) of attributes whose schema bounds them: flags are 0 or 1, counts and sizes >= 1.
_ATTRIBUTE_RANGES: dict[str, tuple[int | None, int | None]] = {
    **dict.fromkeys(
        (
            "align_corners",
            "allowzero",
            "antialias",
            "ceil_mode",
            "count_include_pad",
            "exclude_outside",
            "exclusive",
            "fmod",
            "keepdims",
            "largest",
            "noop_with_empty_axes",
            "reverse",
            "saturate",
            "select_last_index",
            "sorted",
            "storage_order",
            "training_mode",
            "transA",
            "transB",
        ),
        (0, 1),
    ),
    **dict.fromkeys(
        (
            "blocksize",
            "group",
            "kernel_shape",
            "strides",
            "dilations",
            "num_groups",
            "num_outputs",
            "offset_group",
        ),
        (1, None),
    ),
}


def _attribute_value(node: Node, a: Any) -> Any:
    t = a.type
    if t == 1:
        return float(a.f)
    if t == 2:
        return int(a.i)
    if t == 3:
        return a.s.decode("utf-8", "replace")
    if t == 4:
        return tensor_array(a.t)
    if t == 6:
        return [float(v) for v in a.floats]
    if t == 7:
        return [int(v) for v in a.ints]
    if t == 8:
        return [s.decode("utf-8", "replace") for s in a.strings]
    raise refuse(
        node,
        f"attribute {a.name!r}: attribute type {t} (graphs, sparse tensors, "
        "type protos) is not supported",
    )
