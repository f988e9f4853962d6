"""Ops that select by index, and their converters: TopK, GatherElements and ScatterND."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._scatter import REDUCTIONS, scatter_nd, scatter_nd_backward
from ._attributes import Attrs
from ._convert import Built, _generic, _plain, _rank
from ._helpers import _axis, _gather_gradient, _is_float, _one_int
from ._module import _Op
from ._node import Node, Operand, refuse


def _sorted_order(x: np.ndarray, a: int, largest: bool) -> np.ndarray:
    """Indices along axis ``a`` ordering x from largest to smallest (``largest``) or smallest
    to largest, equal values by increasing index (ONNX's TopK rule). A NaN counts as larger
    than every number (NumPy's sort puts it last). The largest-first order is the stable
    ascending sort of x reversed along the axis, mapped back and reversed: no negation, so
    unsigned and the most negative integers sort right."""
    if not largest:
        return np.argsort(x, axis=a, kind="stable")
    n = x.shape[a]
    flipped = np.argsort(np.flip(x, axis=a), axis=a, kind="stable")
    return np.flip(n - 1 - flipped, axis=a)


class _TopK(_Op):
    """TopK: the K largest (``largest`` = 1) or smallest values of X along ``axis`` and their
    indices (int64), in sorted order (also for ``sorted`` = 0, where ONNX leaves the order
    open), equal values by increasing index. K is a one-value input, 0 ≤ K ≤ the axis'
    length, known at load time or computed at run time. Values: X's shape with K along the
    axis; ∂ℓ/∂X is G scattered back to the indices (0 elsewhere: the indices are distinct).
    ``output`` picks the node's output this module computes (0: Values, 1: Indices, no
    gradient)."""

    roles = ("X", "K")

    def __init__(
        self, node: Node, operands: Sequence[Operand], axis: int, largest: bool, output: int
    ) -> None:
        super().__init__(node, operands)
        self.axis, self.largest, self.output = axis, largest, output

    def compute(self, x: Any, k: Any) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        if x.ndim == 0:
            raise refuse(self.onnx_node, "input 'X': expected at least one axis, got a scalar")
        a = _axis(self.onnx_node, "attribute 'axis'", self.axis, x.ndim)
        K = _one_int(self.onnx_node, "K", k)
        if not 0 <= K <= x.shape[a]:
            raise refuse(
                self.onnx_node,
                f"input 'K': expected 0 ≤ K ≤ {x.shape[a]} (X's length along axis {a}), got {K}",
            )
        index = np.take(_sorted_order(x, a, self.largest), np.arange(K), axis=a)
        if self.output == 1:
            return index.astype(np.int64), None
        return np.take_along_axis(x, index, axis=a), (a, index)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        if ctx is None:  # the indices
            return [None, None]
        a, index = ctx
        x = np.asarray(args[0])
        gx = np.zeros(x.shape, g.dtype)
        np.put_along_axis(gx, index, g, axis=a)
        return [gx, None]

    def extra_repr(self) -> str:
        """The op type, the axis and which end."""
        which = "Values" if self.output == 0 else "Indices"
        return f"onnx_op={self.onnx_op!r}, axis={self.axis}, largest={self.largest}, {which}"


class _GatherElements(_Op):
    """GatherElements along ``axis`` a: out[i] = data[i with i_a replaced by indices[i]],
    out of indices' shape (data's rank; along the other axes no longer than data's), an
    index in [−n, n − 1] (n = data's length along a; a negative one counts from the end).
    Backward: G scatter-added into data's shape at the indices gathered (an index read
    twice gets both terms)."""

    roles = ("data", "indices")

    def __init__(self, node: Node, operands: Sequence[Operand], axis: int) -> None:
        super().__init__(node, operands)
        self.axis = axis

    def compute(self, data: Any, indices: Any) -> tuple[np.ndarray, Any]:
        data, indices = np.asarray(data), np.asarray(indices)
        a = _axis(self.onnx_node, "attribute 'axis'", self.axis, max(data.ndim, 1))
        if not np.issubdtype(indices.dtype, np.integer):
            raise refuse(
                self.onnx_node, f"input 'indices': expected int32 or int64, got {indices.dtype}"
            )
        if (
            data.ndim == 0
            or indices.ndim != data.ndim
            or any(m > n for i, (m, n) in enumerate(zip(indices.shape, data.shape)) if i != a)
        ):
            raise refuse(
                self.onnx_node,
                f"input 'indices': expected data's rank {data.ndim} and no axis but {a} longer "
                f"than data's {data.shape}, got shape {indices.shape}",
            )
        n = data.shape[a]
        if indices.size and (indices.min() < -n or indices.max() >= n):
            raise refuse(
                self.onnx_node,
                f"input 'indices': expected values in [{-n}, {n - 1}] (axis {a} of data's "
                f"{data.shape}), got values from {indices.min()} to {indices.max()}",
            )
        index = np.where(indices < 0, indices + n, indices).astype(np.intp)
        where = list(np.indices(index.shape, sparse=True))
        where[a] = index
        return data[tuple(where)], tuple(where)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [_gather_gradient(args[0], ctx, g), None]


class _ScatterND(_Op):
    """ScatterND: a copy of data with the slices indices lists replaced by (or combined
    with) updates, under any of ONNX's reductions, and the gradients of data and updates
    (``_scatter``: for "max" and "min" the ties share G evenly, as torch's
    ``scatter_reduce``; float data only)."""

    roles = ("data", "indices", "updates")

    def __init__(self, node: Node, operands: Sequence[Operand], reduction: str) -> None:
        super().__init__(node, operands)
        self.reduction = reduction

    def compute(self, data: Any, indices: Any, updates: Any) -> tuple[np.ndarray, Any]:
        try:
            arrays = np.asarray(data), np.asarray(indices), np.asarray(updates)
            return scatter_nd(*arrays, self.reduction)
        except ValueError as e:
            raise refuse(self.onnx_node, str(e)) from None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        data, _, updates = (np.asarray(a) for a in args)
        if not _is_float(data):
            return [None, None, None]
        g_data, g_updates = scatter_nd_backward(g, ctx, self.reduction, data, updates)
        return [g_data, None, g_updates]


# ---------------------------------------------------------------------------------------------
# Converters


def top_k(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """TopK: Values (``_TopK``); its Indices, when read, a second ``_TopK`` handed to the
    loader through ``info["more"]`` as (output name, built)."""
    x, k = ins
    axis, largest = int(attrs.get("axis", -1)), bool(attrs.get("largest", 1))
    attrs.get("sorted")  # the values come sorted either way (sorted = 0 leaves the order open)
    rank = _rank(info, x)
    if rank is not None:
        _axis(node, "attribute 'axis'", axis, max(rank, 1))
    operands = [x, _plain(k)]
    outputs = info["all_outputs"]
    if len(outputs) > 1 and outputs[1]:
        indices = [_plain(x), _plain(k)]
        built = _generic(_TopK(node, indices, axis, largest, 1), indices)
        info["more"] = [(outputs[1], built)]
    return _generic(_TopK(node, operands, axis, largest, 0), operands)


def gather_elements(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    axis = int(attrs.get("axis", 0))
    rank = _rank(info, ins[0])
    if rank is not None:
        _axis(node, "attribute 'axis'", axis, max(rank, 1))
    operands = [ins[0], _plain(ins[1])]
    return _generic(_GatherElements(node, operands, axis), operands)


def scatter_nd_(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    reduction = attrs.get("reduction", "none")
    if reduction not in REDUCTIONS:
        raise refuse(
            node, f"attribute 'reduction': expected one of {list(REDUCTIONS)}, got {reduction!r}"
        )
    operands = [ins[0], _plain(ins[1]), ins[2]]
    return _generic(_ScatterND(node, operands, reduction), operands)
