"""Ops that select or place elements by index or mask, and their converters: ScatterElements
(its reductions and their gradients), GatherND, NonZero, Compress and OneHot.

Every index is checked against the length of the axis it addresses before anything is read
or written: a negative one counts from the end (as ONNX allows), one outside [−n, n − 1] is
refused with the node, the input, the range and the value — never wrapped twice, never a
NumPy IndexError. OneHot is the exception ONNX makes: an index outside [−depth, depth − 1]
gives a row of ``off`` values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._attributes import Attrs
from ._convert import Built, _generic, _plain, _rank
from ._helpers import _axis, _gather_gradient, _guard, _is_float, _TooLarge
from ._module import _Op
from ._node import Node, Operand, refuse


def _int_attr(node: Node, attrs: Attrs, name: str, default: int) -> int:
    """An INT attribute (ONNX type 2) the shared type table does not list."""
    value = attrs.get(name, default)
    if attrs.has(name) and attrs.types[name] != 2:
        raise refuse(node, f"attribute {name!r}: expected type INT, got {value!r}")
    return int(value)


def _integer(node: Node, name: str, a: np.ndarray) -> None:
    if not np.issubdtype(a.dtype, np.integer):
        raise refuse(node, f"input {name!r}: expected int32 or int64, got {a.dtype}")


def _wrapped(node: Node, name: str, idx: np.ndarray, n: int, where: str) -> np.ndarray:
    """``idx`` (integers) as positions 0 … n − 1 along an axis of length n: a negative one
    counts from the end; one outside [−n, n − 1] is refused (``where`` names the axis)."""
    idx = np.asarray(idx, dtype=np.int64)
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = idx[(idx < -n) | (idx >= n)]
        raise refuse(
            node,
            f"input {name!r}: expected values in [{-n}, {n - 1}] ({where}), got "
            f"{int(bad[0])} ({bad.size} value(s) outside)",
        )
    return np.where(idx < 0, idx + n, idx).astype(np.intp)


# ScatterElements' reductions: the ufunc that combines an update into the output (None:
# replace), and the opset that first defines each
_COMBINE: dict[str, Any] = {
    "none": None,
    "add": np.add,
    "mul": np.multiply,
    "max": np.maximum,
    "min": np.minimum,
}
_SINCE = {"none": 11, "add": 16, "mul": 16, "max": 18, "min": 18}


class _ScatterElements(_Op):
    """ScatterElements along axis a: Y = data, then for every position i of indices,
    Y[i with i_a replaced by indices[i]] = updates[i] (reduction "none") or combined with it
    (Y[·] ∘= updates[i], ∘ = +, ×, max, min; a place listed twice combines both). indices and
    updates share a shape, of data's rank, no longer than data along the axes other than a;
    an index lies in [−n, n − 1] (n = data's length along a).

    Gradients (G = ∂ℓ/∂Y; "place" p = a position of Y, U_p the updates written there):
      none: ∂data = G off the written places, 0 on them; ∂updates[i] = G[p(i)] for the update
            kept (the last one to write p, as the forward's assignment), 0 for one overwritten.
      add:  ∂data = G; ∂updates[i] = G[p(i)].
      mul:  ∂e = G[p]·Π(the other factors of p: data[p] and U_p but e), each factor e
            included — the exclusive product without dividing by a zero: 0 when another
            factor is 0, else (product of the non-zero factors) / e (e itself set to 1 if 0).
      max, min: G[p] shared evenly by every factor of p (data[p] and U_p) equal to Y[p].
    These are PyTorch's ``scatter_reduce(include_self=True)`` rules ("sum", "prod",
    "amax", "amin"), except where max or min gives NaN: no factor equals it, so none gets a
    gradient (PyTorch gives NaN), as the loader's Max and Min. (onnxruntime's max and min
    pass over a NaN in data: its Y differs from ONNX's reference there; cnnmath's is the
    reference's.)"""

    roles = ("data", "indices", "updates")

    def __init__(self, node: Node, operands: Sequence[Operand], axis: int, reduction: str) -> None:
        super().__init__(node, operands)
        self.axis, self.reduction = axis, reduction

    def _where(self, data: np.ndarray, indices: np.ndarray, updates: np.ndarray) -> tuple:
        node = self.onnx_node
        if data.ndim == 0:
            raise refuse(node, "input 'data': expected at least one axis, got a scalar")
        a = _axis(node, "attribute 'axis'", self.axis, data.ndim)
        _integer(node, "indices", indices)
        if indices.ndim != data.ndim or any(
            m > n for i, (m, n) in enumerate(zip(indices.shape, data.shape)) if i != a
        ):
            raise refuse(
                node,
                f"input 'indices': expected data's rank {data.ndim} and no axis but {a} longer "
                f"than data's {data.shape}, got shape {indices.shape}",
            )
        if updates.shape != indices.shape or updates.dtype != data.dtype:
            raise refuse(
                node,
                f"input 'updates': expected indices' shape {indices.shape} and data's dtype "
                f"{data.dtype}, got {updates.shape} {updates.dtype}",
            )
        n = data.shape[a]
        where: list[Any] = list(np.indices(indices.shape, sparse=True))
        where[a] = _wrapped(node, "indices", indices, n, f"axis {a} of data's {data.shape}")
        return tuple(where)

    def compute(self, data: Any, indices: Any, updates: Any) -> tuple[np.ndarray, Any]:
        data, indices, updates = np.asarray(data), np.asarray(indices), np.asarray(updates)
        where = self._where(data, indices, updates)
        y = data.copy()
        combine = _COMBINE[self.reduction]
        if combine is None:
            y[where] = updates
        else:
            combine.at(y, where, updates)
        return y, (where, y)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        data, _, updates = (np.asarray(v) for v in args)
        if not _is_float(data):
            return [None, None, None]
        where, y = ctx
        if self.reduction == "add":
            return [g, None, g[where]]
        if self.reduction == "none":
            g_data, g_updates = g.copy(), g[where]
            g_data[where] = 0
            rows = np.arange(g_updates.size).reshape(g_updates.shape)
            owner = np.full(g.shape, -1, np.int64)
            owner[where] = rows  # the kept update of each place, by the same assignment
            return [g_data, None, np.where(owner[where] == rows, g_updates, 0)]
        if self.reduction == "mul":
            zeros = (data == 0).astype(np.int64)
            np.add.at(zeros, where, updates == 0)
            nonzero = np.where(data == 0, 1, data)
            np.multiply.at(nonzero, where, np.where(updates == 0, 1, updates))

            def others(e: np.ndarray, z: np.ndarray, p: np.ndarray) -> np.ndarray:
                return np.where(z - (e == 0) > 0, 0, p / np.where(e == 0, 1, e))

            return [
                g * others(data, zeros, nonzero),
                None,
                g[where] * others(updates, zeros[where], nonzero[where]),
            ]
        # max, min: the winners share the place's gradient
        value = y[where]
        count = (data == y).astype(g.dtype)
        np.add.at(count, where, (updates == value).astype(g.dtype))
        share = g / np.maximum(count, 1)  # 0 winners only for a NaN
        return [np.where(data == y, share, 0), None, np.where(updates == value, share[where], 0)]

    def extra_repr(self) -> str:
        """The op type, axis and reduction."""
        return f"onnx_op={self.onnx_op!r}, axis={self.axis}, reduction={self.reduction!r}"


class _GatherND(_Op):
    """GatherND with b = ``batch_dims``: for data of rank r and indices of shape
    (B_0 … B_{b−1}, …, k) whose first b axes are data's, each row of k indices addresses
    data[B-position, i_0, …, i_{k−1}] (1 ≤ k ≤ r − b; i_j in [−n, n − 1] for the length n
    of data's axis b + j). Output: indices.shape[:−1] + data.shape[b + k:]. Backward: G
    added back into data's shape at the places read (a place read twice gets both)."""

    roles = ("data", "indices")

    def __init__(self, node: Node, operands: Sequence[Operand], batch_dims: int) -> None:
        super().__init__(node, operands)
        self.batch_dims = batch_dims

    def compute(self, data: Any, indices: Any) -> tuple[np.ndarray, Any]:
        node, b = self.onnx_node, self.batch_dims
        data, indices = np.asarray(data), np.asarray(indices)
        _integer(node, "indices", indices)
        r, q = data.ndim, indices.ndim
        if not 0 <= b < min(r, q):
            raise refuse(
                node,
                f"attribute 'batch_dims': expected 0 ≤ b < min(rank of data, rank of indices) "
                f"= {min(r, q)}, got {b}",
            )
        k = indices.shape[-1]
        if not 1 <= k <= r - b or indices.shape[:b] != data.shape[:b]:
            raise refuse(
                node,
                f"input 'indices': expected a last axis of 1 to {r - b} (data's rank {r} − "
                f"batch_dims {b}) and first {b} axes equal to data's {data.shape[:b]}, got "
                f"shape {indices.shape}",
            )
        where: list[np.ndarray] = []
        for axis in range(b):  # the batch positions, broadcast over the rows
            shape = [1] * (q - 1)
            shape[axis] = data.shape[axis]
            where.append(np.arange(data.shape[axis]).reshape(shape))
        for j in range(k):
            n = data.shape[b + j]
            where.append(
                _wrapped(
                    node, "indices", indices[..., j], n, f"axis {b + j} of data's {data.shape}"
                )
            )
        index = tuple(where)
        _guard(indices.shape[:-1] + data.shape[b + k :], data.dtype.itemsize)
        return data[index], index

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [_gather_gradient(args[0], ctx, g), None]

    def extra_repr(self) -> str:
        """The op type and batch_dims."""
        return f"onnx_op={self.onnx_op!r}, batch_dims={self.batch_dims}"


class _NonZero(_Op):
    """NonZero: the positions of x's non-zero elements, an int64 (rank, count) array whose
    column j is the j-th such position in row-major order. A scalar counts as one element
    of one axis (onnxruntime's reading: (1, 0 or 1)). No gradient (integer output)."""

    roles = ("X",)

    def compute(self, x: Any) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        return np.array(np.nonzero(x.reshape(-1) if x.ndim == 0 else x), dtype=np.int64), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [None]


class _Compress(_Op):
    """Compress: the slices of x along ``axis`` whose condition is true (x flattened when
    axis is absent). A condition shorter than the axis selects among its first entries only;
    one longer has its extra entries ignored (onnxruntime). Backward: G put back at the
    slices selected, 0 elsewhere."""

    roles = ("input", "condition")

    def __init__(self, node: Node, operands: Sequence[Operand], axis: int | None) -> None:
        super().__init__(node, operands)
        self.axis = axis

    def compute(self, x: Any, condition: Any) -> tuple[np.ndarray, Any]:
        node = self.onnx_node
        x, condition = np.asarray(x), np.asarray(condition)
        if condition.dtype != np.bool_ or condition.ndim != 1:
            raise refuse(
                node,
                f"input 'condition': expected a 1-D bool tensor, got {condition.dtype} of "
                f"shape {condition.shape}",
            )
        flat = x.reshape(-1) if self.axis is None else x
        if self.axis is not None and x.ndim == 0:
            raise refuse(node, "input 'input': expected at least one axis, got a scalar")
        a = 0 if self.axis is None else _axis(node, "attribute 'axis'", self.axis, x.ndim)
        chosen = np.flatnonzero(condition[: flat.shape[a]])
        return np.take(flat, chosen, axis=a), (a, chosen, flat.shape)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        a, chosen, shape = ctx
        if not _is_float(np.asarray(args[0])):
            return [None, None]
        gx = np.zeros(shape, g.dtype)
        index: list[Any] = [slice(None)] * len(shape)
        index[a] = chosen
        gx[tuple(index)] = g
        return [gx, None]

    def extra_repr(self) -> str:
        """The op type and axis."""
        return f"onnx_op={self.onnx_op!r}, axis={self.axis}"


class _OneHot(_Op):
    """OneHot: y has indices' shape with an axis of length ``depth`` inserted at ``axis``
    (−r − 1 ≤ axis ≤ r), y[…, d, …] = on where the index there equals d (a negative index
    counting from depth), off elsewhere — an index outside [−depth, depth − 1] gives a row
    of off values, as ONNX specifies. values = [off, on] sets y's dtype. Backward: ∂off =
    Σ G over the off places, ∂on = Σ G over the on places."""

    roles = ("indices", "depth", "values")

    def __init__(self, node: Node, operands: Sequence[Operand], axis: int) -> None:
        super().__init__(node, operands)
        self.axis = axis

    def compute(self, indices: Any, depth: Any, values: Any) -> tuple[np.ndarray, Any]:
        node = self.onnx_node
        indices, depth, values = np.asarray(indices), np.asarray(depth), np.asarray(values)
        if values.shape != (2,):
            raise refuse(
                node, f"input 'values': expected shape (2,) ([off, on]), got {values.shape}"
            )
        if depth.size != 1 or depth.ndim > 1 or depth.dtype == np.bool_:
            raise refuse(
                node,
                f"input 'depth': expected one number (a 0-D or 1-element tensor), got "
                f"{depth.dtype} of shape {depth.shape}",
            )
        # a float depth or index is cast to int64 (the spec): truncated, as onnxruntime does
        d = depth.reshape(()).item()
        if not np.isfinite(d) or int(d) < 1:
            raise refuse(node, f"input 'depth': expected a number ≥ 1 (truncated), got {d}")
        d = int(d)
        if indices.dtype == np.bool_:
            raise refuse(node, "input 'indices': expected numbers, got bool")
        if indices.dtype.kind == "f":
            if not np.all(np.isfinite(indices)):
                bad = indices[~np.isfinite(indices)][0]
                raise refuse(node, f"input 'indices': expected finite numbers, got {bad}")
            indices = np.trunc(indices)
        a = _axis(node, "attribute 'axis'", self.axis, indices.ndim + 1)  # y's axes
        idx = np.where(indices < 0, indices + d, indices)
        shape = list(idx.shape)
        shape.insert(a, d)
        try:
            _guard(shape, values.dtype.itemsize)
        except _TooLarge as e:
            raise refuse(node, f"input 'depth' ({d}): {e}") from None
        positions = np.arange(d).reshape([d] + [1] * (idx.ndim - a))
        hot = np.expand_dims(idx, a) == positions
        return np.where(hot, values[1], values[0]).astype(values.dtype), hot

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        hot = ctx
        return [None, None, np.array([np.sum(g, where=~hot), np.sum(g, where=hot)])]

    def extra_repr(self) -> str:
        """The op type and axis."""
        return f"onnx_op={self.onnx_op!r}, axis={self.axis}"


# ---------------------------------------------------------------------------------------------
# Converters


def scatter_elements(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """ScatterElements: ``_ScatterElements``; a reduction refused by name before the opset
    that defines it (add, mul: 16; max, min: 18)."""
    reduction = attrs.get("reduction", "none")
    if reduction not in _COMBINE:
        raise refuse(
            node, f"attribute 'reduction': expected one of {list(_COMBINE)}, got {reduction!r}"
        )
    if _SINCE[reduction] > node.opset:
        raise refuse(
            node,
            f"attribute 'reduction': {reduction!r} is defined from opset {_SINCE[reduction]}, "
            f"the file's opset is {node.opset}",
        )
    axis = int(attrs.get("axis", 0))
    rank = _rank(info, ins[0])
    if rank:
        _axis(node, "attribute 'axis'", axis, rank)
    operands = [ins[0], _plain(ins[1]), ins[2]]
    return _generic(_ScatterElements(node, operands, axis, reduction), operands)


def gather_nd(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """GatherND: ``_GatherND`` with ``batch_dims`` (≥ 0; checked against the ranks at run time)."""
    batch_dims = _int_attr(node, attrs, "batch_dims", 0)
    if batch_dims < 0:
        raise refuse(node, f"attribute 'batch_dims': expected a value ≥ 0, got {batch_dims}")
    operands = [ins[0], _plain(ins[1])]
    return _generic(_GatherND(node, operands, batch_dims), operands)


def non_zero(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """NonZero: ``_NonZero``, an int64 (rank, count) array of positions."""
    operands = [_plain(ins[0])]
    return _generic(_NonZero(node, operands), operands)


def compress(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """Compress: ``_Compress`` along ``axis``, or over the flattened input without one."""
    axis = int(attrs.get("axis")) if attrs.has("axis") else None
    rank = _rank(info, ins[0])
    if axis is not None and rank:
        _axis(node, "attribute 'axis'", axis, rank)
    operands = [ins[0], _plain(ins[1])]
    return _generic(_Compress(node, operands, axis), operands)


def one_hot(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """OneHot: ``_OneHot``; ``axis`` in [−r − 1, r] for indices of rank r."""
    axis = int(attrs.get("axis", -1))
    rank = _rank(info, ins[0])
    if rank is not None:
        _axis(node, "attribute 'axis'", axis, rank + 1)
    operands = [_plain(ins[0]), _plain(ins[1]), ins[2]]
    return _generic(_OneHot(node, operands, axis), operands)
