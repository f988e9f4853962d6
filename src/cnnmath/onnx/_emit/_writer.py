"""The ONNX graph being written, ``_Writer`` (its nodes and initializers, the names in use,
every value's traced shape and dtype), and what the emitter families share: an emitter's
signature (``_Emit``), the oldest opset written, the check that a layer's ONNX op exists at
the opset asked for (``_needs``), and two small helpers several families use (``_pair``,
``_channel_view``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ... import nn

#: The oldest opset written (HardSwish arrived in 14; Resize, Slice and Pad take their
#: parameters as inputs from 13 on).
MIN_OPSET = 14

_INT64_MAX = int(np.iinfo(np.int64).max)


class _Writer:
    """The nodes and initializers of the graph being built, and the names already used."""

    def __init__(self, onnx: Any, opset: int, dtype: np.dtype, keys: dict[int, str]) -> None:
        self.onnx = onnx
        self.opset = opset
        self.dtype = dtype
        self.keys = keys  # id(Parameter or buffer array) -> its state_dict key
        self.nodes: list[Any] = []
        self.initializers: dict[str, Any] = {}
        self._sources: dict[str, int] = {}  # initializer name -> id of the array it holds
        self._fixed: set[str] = set()  # values written by a Constant node (``fixed``)
        # a held constant's (dtype, shape, bytes) -> the initializer already holding it
        self._held: dict[tuple[str, tuple[int, ...], bytes], str] = {}
        # MaxPool2d(return_indices=True)'s indices (cnnmath's, each plane's) -> the file's
        # value of ONNX's flattening over the whole tensor, and the pool's input value
        self.plane_indices: dict[str, tuple[str, str]] = {}
        self.plane_ranks: dict[str, int] = {}  # and the pool's spatial axes (1, 2 or 3)
        self.written_planes: set[str] = set()  # those the file holds as cnnmath's (Mod)
        self.fixed_planes = True  # every input's sizes but the batch fixed: H·W constants
        self.shapes: dict[str, tuple[int, ...]] = {}  # every value's traced shape
        self.dtypes: dict[str, np.dtype] = {}  # and dtype
        self.values: dict[str, Any] = {}  # and value (what a run-time If's branches read)
        # a Split sized at run time: (its ONNX node, its inputs) -> the Split node written,
        # whose other parts' outputs are filled in as they are written
        self.splits: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._transposed: dict[str, str] = {}  # an initializer -> its Transpose's output

    def transposed(self, name: str, base: str) -> str:
        """The 2-D initializer ``name`` transposed (a Linear's Wᵀ for a MatMul), written once
        however many nodes read it: a weight several Linears share stays one initializer
        with one reader, which ``load`` keeps as one Parameter (a Transpose per Linear
        would read back as a fixed copy each, the Linears' weights training apart)."""
        if name not in self._transposed:
            self._transposed[name] = self.node(
                "Transpose", [name], f"{base}/weight_t", f"{base}/transpose"
            )
        return self._transposed[name]

    def node(self, op: str, inputs: Sequence[str], output: str, name: str, **attrs: Any) -> str:
        """Append ``op(inputs) -> output`` (node name ``name``); returns ``output``."""
        made = self.onnx.helper.make_node(op, list(inputs), [output], name=name, **attrs)
        self.nodes.append(made)
        return output

    def node_as_read(
        self,
        op: str,
        inputs: Sequence[str],
        output: str,
        name: str,
        attributes: Sequence[bytes],
        more: Sequence[str] = (),
    ) -> str:
        """Append ``op(inputs) -> output`` (and the outputs ``more`` after it: MaxPool's
        Indices) with ``attributes`` as they were read (serialized AttributeProtos); returns
        ``output``."""
        made = self.onnx.helper.make_node(op, list(inputs), [output, *more], name=name)
        for raw in attributes:
            attribute = self.onnx.AttributeProto()
            attribute.ParseFromString(raw)
            made.attribute.append(attribute)
        self.nodes.append(made)
        return output

    def plane_size(self, value: str, base: str, rank: int = 2) -> str:
        """H·W of ``value``'s last two axes (the product of its last ``rank``) as an int64
        scalar: a constant when the model's input sizes are fixed (only the batch axis
        varies), else ReduceProd(Slice(Shape(value), −rank, end)) at run time (nodes named
        ``base``/…)."""
        if self.fixed_planes:
            return self.const(f"{base}/plane_size", math.prod(self.shapes[value][-rank:]), np.int64)
        shape = self.node("Shape", [value], f"{base}/shape", f"{base}/shape")
        return self.hw_product(shape, base, rank)

    def hw_product(self, shape: str, base: str, rank: int = 2) -> str:
        """The product of the last two (``rank``) entries of the 1-D int64 value ``shape``
        (a scalar)."""
        start = self.const(f"{base}/start", [-rank], np.int64)
        end = self.const(f"{base}/end", [_INT64_MAX], np.int64)
        hw = self.node("Slice", [shape, start, end], f"{base}/hw", f"{base}/hw")
        return self.node("ReduceProd", [hw], f"{base}/plane_size", f"{base}/prod", keepdims=0)

    def plane_value(self, value: str) -> str:
        """The pool indices ``value`` as cnnmath holds them, each (H, W) plane's index:
        Mod(I, H·W) of the file's whole-tensor Indices, written once, named ``value``."""
        if value not in self.written_planes:
            self.written_planes.add(value)
            whole, pooled = self.plane_indices[value]
            plane = self.plane_size(pooled, f"{value}/input", self.plane_ranks.get(value, 2))
            self.node("Mod", [whole, plane], value, f"{value}/plane")
        return value

    def const(self, name: str, value: Any, dtype: Any = None) -> str:
        """An initializer holding ``value`` (the model's float dtype unless ``dtype``)."""
        array = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        self.initializers[name] = self.onnx.numpy_helper.from_array(array, name)
        return name

    def constant(self, name: str, value: Any) -> str:
        """A Constant node holding ``value`` in the model's float dtype: a fixed value, which
        ``load`` reads back as a buffer (an initializer would come back trainable)."""
        array = np.asarray(value, dtype=self.dtype)
        tensor = self.onnx.numpy_helper.from_array(array, name)
        return self.node("Constant", [], name, name, value=tensor)

    def fixed(self, name: str, array: np.ndarray) -> str:
        """A Constant node holding ``array`` as it is (its own dtype), written once per name:
        a buffer of a loaded op, which ``load`` then reads back as a buffer again (an
        initializer would come back trainable)."""
        if name not in self._fixed:
            self._fixed.add(name)
            tensor = self.onnx.numpy_helper.from_array(np.asarray(array), name)
            self.node("Constant", [], name, name, value=tensor)
        return name

    def held_constant(self, name: str, value: Any) -> str:
        """An initializer holding a loaded op's constant ``value`` as it is (its own dtype),
        named ``name`` unless an equal one (dtype, shape and bytes) is written already: an
        8-bit weight or zero point several nodes read is written once."""
        array = np.asarray(value)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self._held:
            self._held[key] = name
            self.initializers[name] = self.onnx.numpy_helper.from_array(array, name)
        return self._held[key]

    def state(self, module: nn.Module, attr: str, node: nn.Node) -> str:
        """The initializer of ``module.<attr>`` (a Parameter or a buffer), named by its
        ``state_dict`` key; a module outside the state dict (a wiring op) uses its node's
        path. A tensor shared by several nodes is written once."""
        value = getattr(module, attr)
        array = value.data if isinstance(value, nn.Parameter) else value
        name = self.keys.get(id(value), f"{node.name}.{attr}")
        if self._sources.get(name, id(array)) != id(array):
            raise ValueError(f"save: model: two different tensors would both be named {name!r}")
        if name not in self.initializers:
            self._sources[name] = id(array)
            self.initializers[name] = self.onnx.numpy_helper.from_array(np.asarray(array), name)
        return name


_Emit = Callable[[_Writer, nn.Node, list[tuple[int, ...]], tuple[int, ...]], None]


def _pair(value: int | tuple[int, int]) -> list[int]:
    return [value, value] if isinstance(value, int) else list(value)


def _channel_view(w: _Writer, name: str, ndim: int, C: int) -> str:
    """An int64 shape constant (C, 1, …, 1) that lines a per-channel vector up with axis 1."""
    return w.const(name, [C] + [1] * (ndim - 2), np.int64)


def _needs(w: _Writer, node: nn.Node, op: str, opset: int) -> None:
    if w.opset < opset:
        raise ValueError(
            f"save: opset: {type(node.module).__name__} (node {node.name!r}) needs opset "
            f"{opset} or later ({op}), got {w.opset}"
        )
