"""Shape ops and their converters: Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat,
Pad, Shape, Gather, Slice, Split, Dropout and Identity, Range and ConstantOfShape.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import nn
from ...ops.pad import pad_axes, pad_axes_backward
from .._checks import FUNC, PAD_MODES
from ._attributes import Attrs
from ._convert import Built, _const, _generic, _plain, _rank, _shape
from ._helpers import _axes, _axis, _guard, _is_float, _window
from ._module import _Op
from ._node import Const, Node, Operand, Ref, refuse
from ._types import _ONNX_TYPES


class _Range(_Op):
    """Range: start + i·delta for i = 0 … n − 1, n = max(⌈(limit − start)/delta⌉, 0), in
    start's type (start, limit and delta are scalars of one type, or one-element arrays as
    onnxruntime reads them; delta ≠ 0), at load time (folded) or at run time. No gradient
    (as PyTorch's arange)."""

    roles = ("start", "limit", "delta")

    def compute(self, start: Any, limit: Any, delta: Any) -> tuple[np.ndarray, Any]:
        start, limit, delta = (np.asarray(v) for v in (start, limit, delta))
        for role, v in zip(self.roles, (start, limit, delta)):
            if v.ndim > 1:  # onnxruntime reads a (1,) bound as a scalar, never a (1, 1) one
                raise refuse(
                    self.onnx_node,
                    f"input {role!r}: expected a scalar or a one-element 1-D array, "
                    f"got shape {v.shape}",
                )
        if all(v.size == 1 for v in (start, limit, delta)):  # one element: read as onnxruntime
            start, limit, delta = (v.reshape(()) for v in (start, limit, delta))
        if any(v.shape != () for v in (start, limit, delta)) or delta == 0:
            raise refuse(
                self.onnx_node,
                "inputs: expected scalars start, limit and a non-zero delta, got shapes "
                f"{start.shape}, {limit.shape}, {delta.shape} and delta {delta}",
            )
        with np.errstate(invalid="ignore", divide="ignore"):
            span = (float(limit) - float(start)) / float(delta)
        if not math.isfinite(span):
            raise refuse(self.onnx_node, f"inputs: expected finite values, got span {span}")
        n = max(math.ceil(span), 0)
        _guard([n], start.itemsize)
        return (start + np.arange(n, dtype=start.dtype) * delta).astype(start.dtype), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [None, None, None]


class _ConstantOfShape(_Op):
    """ConstantOfShape: an array of the shape its input gives (1-D, int64), every element
    ``fill`` (the ``value`` attribute's one element, in its type), at load time (folded, within
    the load-time budget) or at run time (within this machine's memory). No gradient."""

    roles = ("shape",)

    def __init__(self, node: Node, operands: Sequence[Operand], fill: np.ndarray) -> None:
        super().__init__(node, operands)
        self.fill = fill

    def compute(self, shape: Any) -> tuple[np.ndarray, Any]:
        shape = np.asarray(shape)
        dims = [int(v) for v in shape.reshape(-1)]
        if (
            shape.ndim != 1
            or not np.issubdtype(shape.dtype, np.integer)
            or min(dims, default=0) < 0
        ):
            raise refuse(
                self.onnx_node,
                f"input 'input': expected a 1-D integer shape of sizes >= 0, got {dims} "
                f"(dtype {shape.dtype}, {shape.ndim}-D)",
            )
        _guard(dims, self.fill.dtype.itemsize)
        return np.full(dims, self.fill, dtype=self.fill.dtype), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [None]


class _Reshape(_Op):
    """Reshape (0 copies the input's dimension unless allowzero; −1 is inferred), Flatten
    to 2-D at ``axis``, Squeeze, Unsqueeze: y is x with a new shape; ∂ℓ/∂x is G reshaped back."""

    roles = ("x", "shape")

    def __init__(
        self, node: Node, operands: Sequence[Operand], kind: str, param: Any = None
    ) -> None:
        super().__init__(node, operands)
        self.kind, self.param = kind, param

    def _target(self, x: np.ndarray, shape: Any) -> tuple[int, ...]:
        if self.kind == "Flatten":
            a = _axis(self.onnx_node, "attribute 'axis'", self.param, x.ndim, end=True)
            return (int(np.prod(x.shape[:a], dtype=np.int64)), -1)
        if self.kind in ("Squeeze", "Unsqueeze"):
            axes = self.param if shape is None else [int(v) for v in np.ravel(shape)]
            what = "attribute 'axes'" if shape is None else "input 'axes'"
            if self.kind == "Squeeze":
                if axes is None:
                    return tuple(n for n in x.shape if n != 1)
                drop = set(_axes(self.onnx_node, what, axes, x.ndim))
                return tuple(n for i, n in enumerate(x.shape) if i not in drop)
            rank = x.ndim + len(axes)
            add = set(_axes(self.onnx_node, what, axes, rank))
            it = iter(x.shape)
            return tuple(1 if i in add else next(it) for i in range(rank))
        dims = [int(v) for v in np.ravel(shape)]
        _check_reshape(self.onnx_node, dims, x.ndim, bool(self.param))
        if not self.param:  # allowzero = 0: a 0 copies the input's dimension
            dims = [x.shape[i] if v == 0 else v for i, v in enumerate(dims)]
        return tuple(dims)

    def compute(self, x: np.ndarray, shape: Any = None) -> tuple[np.ndarray, Any]:
        target = self._target(x, shape)
        try:
            return np.reshape(x, target), None
        except ValueError:
            raise refuse(
                self.onnx_node,
                f"input 'shape': expected a shape of {x.size} values (those of 'data', shape "
                f"{x.shape}), got {list(target)}",
            ) from None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [g.reshape(np.shape(args[0])), None]


def _check_reshape(node: Node, dims: Sequence[int], rank: int | None, allowzero: bool) -> None:
    """Reshape's ``shape`` input ``dims`` for a ``data`` of rank ``rank`` (None: not known):
    values >= −1, at most one −1; unless allowzero, a 0 copies data's dimension at the same
    index, which must exist; with allowzero, a 0 is a 0 and cannot stand beside a −1."""
    if any(v < -1 for v in dims) or dims.count(-1) > 1:
        raise refuse(
            node, f"input 'shape': expected values >= -1 with at most one -1, got {list(dims)}"
        )
    zeros = [i for i, v in enumerate(dims) if v == 0]
    if allowzero and zeros and -1 in dims:
        raise refuse(
            node, f"input 'shape': expected no -1 beside a 0 with allowzero=1, got {list(dims)}"
        )
    if not allowzero and rank is not None and zeros and zeros[-1] >= rank:
        raise refuse(
            node,
            f"input 'shape': a 0 copies the dimension of 'data' at its index, but {list(dims)} "
            f"has a 0 at index {zeros[-1]} and 'data' has rank {rank}",
        )


class _ConstOutput(_Op):
    """A graph output known at load time (a static Shape), or a trained weight returned as
    it is: returns the value, whatever the input; no gradient reaches the input.

    Where the value is a weight, ``value`` is the Parameter holding it — the weight's own, or
    the one a layer derived from it (a Linear's Wᵀ: ``undo`` "T"; a reshape of it: ``undo``
    "reshape", to ``shape``) — so that the output is the weight as trained, and its
    gradient G reaches the weight (Gᵀ, or G reshaped, to the derived Parameter)."""

    roles = ("x", "value")

    def __init__(
        self,
        node: Node,
        operands: Sequence[Operand],
        undo: str | None = None,
        shape: tuple[int, ...] = (),
    ) -> None:
        super().__init__(node, operands)
        self.undo, self.shape = undo, shape

    def compute(self, x: Any, value: np.ndarray) -> tuple[np.ndarray, Any]:
        if self.undo == "T":
            return value.T.copy(), None
        if self.undo == "reshape":
            return value.reshape(self.shape).copy(), None
        return value.copy(), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        held = np.shape(args[1])
        return [None, g.T if self.undo == "T" else np.reshape(g, held)]


class _OnWeights(_Op):
    """A node whose inputs are all known at load time, one of them a trained weight (ViT's
    class token read by Expand, a logit scale by Clip): y = inner(), computed each time the
    graph runs, so that the weight's gradient reaches it (folded at load time, it would
    never train). ``trigger``, a graph input, only places it in the graph: no gradient
    reaches it."""

    roles = ("trigger",)

    def __init__(self, node: Node, trigger: Ref, inner: _Op) -> None:
        super().__init__(node, [trigger])
        self.inner = inner

    def compute(self, trigger: Any) -> tuple[np.ndarray, Any]:
        return self.inner.forward_ctx()

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        self.inner.backward_ctx(ctx, g)
        return [None]


class _Transpose(_Op):
    roles = ("x",)

    def __init__(self, node: Node, operands: Sequence[Operand], perm: list[int] | None) -> None:
        super().__init__(node, operands)
        self.perm = perm

    def permutation(self) -> tuple[int, ...] | None:
        """Its ``perm`` (``cnnmath.receptive``: the moves between channels first and last
        keep the pixels in place); None when absent (the axes reversed, whatever their
        number)."""
        return None if self.perm is None else tuple(self.perm)

    def compute(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        perm = self.perm if self.perm is not None else list(range(x.ndim))[::-1]
        return np.transpose(x, perm), perm

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [np.transpose(g, np.argsort(ctx))]


class _Concat(_Op):
    """Concatenation along ``axis`` of run-time values and constants."""

    roles = ()

    def __init__(self, node: Node, operands: Sequence[Operand], axis: int) -> None:
        super().__init__(node, operands)
        self.axis = axis

    def compute(self, *xs: np.ndarray) -> tuple[np.ndarray, Any]:
        arrays = [np.asarray(x) for x in xs]
        first = arrays[0]
        axis = _axis(self.onnx_node, "attribute 'axis'", self.axis, max(first.ndim, 1))
        others = first.shape[:axis] + first.shape[axis + 1 :]
        for i, a in enumerate(arrays):
            rest = a.shape[:axis] + a.shape[axis + 1 :]
            if a.ndim == 0 or a.ndim != first.ndim or rest != others:
                raise refuse(
                    self.onnx_node,
                    f"input {i}: expected input 0's rank (>= 1) and shape {first.shape} except "
                    f"along axis {axis}, got shape {a.shape}",
                )
        return np.concatenate(arrays, axis=axis), (axis, [a.shape[axis] for a in arrays])

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        axis, sizes = ctx
        return list(np.split(g, np.cumsum(sizes)[:-1], axis=axis))


class _Pad(_Op):
    """Pad: pads = [begin_1 … begin_k, end_1 … end_k] over ``axes`` (all by default); a
    negative entry crops. With a constant (``value``), or in ``mode`` "reflect", "replicate"
    or "circular" (ONNX's reflect, edge and wrap: ``cnnmath.ops.pad``'s index maps)."""

    roles = ("x", "pads", "value", "axes")

    def __init__(self, node: Node, operands: Sequence[Operand], mode: str = "constant") -> None:
        super().__init__(node, operands)
        self.mode = mode

    def _widths(
        self, x: np.ndarray, pads: Any, axes: Any
    ) -> tuple[list[int], list[int], list[int]]:
        pads = [int(v) for v in np.ravel(pads)]
        ax = (
            list(range(x.ndim))
            if axes is None
            else _axes(self.onnx_node, "input 'axes'", axes, x.ndim)
        )
        if len(pads) != 2 * len(ax):
            raise ValueError(f"{FUNC}: Pad: pads: expected {2 * len(ax)} values, got {len(pads)}")
        return ax, pads[: len(ax)], pads[len(ax) :]

    def compute(self, x: np.ndarray, pads: Any, value: Any, axes: Any) -> tuple[np.ndarray, Any]:
        ax, begins, ends = self._widths(x, pads, axes)
        shape = list(np.shape(x))
        for a, b, e in zip(ax, begins, ends):
            shape[a] += b + e
        if min(shape, default=0) >= 0:
            _guard(shape, np.asarray(x).itemsize)
        if self.mode != "constant":
            try:
                y = pad_axes(x, list(zip(begins, ends)), ax, self.mode)
            except ValueError as e:  # the op's own words, naming this node
                raise refuse(self.onnx_node, str(e).replace("pad_axes: ", "")) from None
            return y, (ax, begins, ends)
        fill = 0.0 if value is None or np.size(value) == 0 else np.ravel(value)[0]
        lengths = [x.shape[a] + b + e for a, b, e in zip(ax, begins, ends)]
        return _window(x, [-b for b in begins], lengths, ax, fill), (ax, begins, ends)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        ax, begins, ends = ctx
        x, value = args[0], args[2]
        if self.mode != "constant":
            return [pad_axes_backward(g, x, list(zip(begins, ends)), ax, self.mode)] + [None] * 3
        gx = _window(g, begins, [x.shape[a] for a in ax], ax)
        gv = None
        if value is not None and _is_float(np.asarray(value)) and min(begins, default=0) >= 0:
            gv = np.full(np.shape(value), g.sum() - gx.sum())
        return [gx, None, gv, None]

    def extra_repr(self) -> str:
        """The op type, and the mode unless constant."""
        mode = "" if self.mode == "constant" else f", mode={self.mode!r}"
        return f"onnx_op={self.onnx_op!r}{mode}"


class _Shape(_Op):
    roles = ("x",)

    def __init__(
        self, node: Node, operands: Sequence[Operand], start: int, end: int | None
    ) -> None:
        super().__init__(node, operands)
        self.start, self.end = start, end

    def compute(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        return np.array(np.shape(x)[self.start : self.end], dtype=np.int64), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [None]


class _Gather(_Op):
    roles = ("data", "indices")

    def __init__(self, node: Node, operands: Sequence[Operand], axis: int) -> None:
        super().__init__(node, operands)
        self.axis = axis

    def compute(self, data: Any, indices: Any) -> tuple[np.ndarray, Any]:
        data = np.asarray(data)
        axis = _axis(self.onnx_node, "attribute 'axis'", self.axis, data.ndim)
        idx = np.asarray(indices, dtype=np.int64)
        n = data.shape[axis]
        outside = idx[(idx < -n) | (idx >= n)]
        if outside.size:
            raise refuse(
                self.onnx_node,
                f"input 'indices': expected values in [{-n}, {n - 1}] (axis {axis} of 'data', "
                f"shape {data.shape}), got {int(outside[0])}",
            )
        return np.take(data, idx, axis=axis), axis

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        data, idx, axis = np.asarray(args[0]), np.asarray(args[1], dtype=np.int64), ctx
        if not _is_float(data):
            return [None, None]
        gd = np.zeros_like(data)
        shape = data.shape[:axis] + (idx.size,) + data.shape[axis + 1 :]
        np.add.at(
            np.moveaxis(gd, axis, 0),
            idx.ravel() % data.shape[axis],
            np.moveaxis(g.reshape(shape), axis, 0),
        )
        return [gd, None]


def _slice_axis(n: int, start: int, end: int, step: int) -> slice:
    """ONNX Slice along an axis of n values, as a Python slice: start and end += n where
    negative, then start clamped to [0, n] for a positive step and [0, n − 1] for a negative
    one, end to [0, n] and [−1, n − 1] (an end of −1: through the first value, inclusive)."""
    start = start + n if start < 0 else start
    end = end + n if end < 0 else end
    if step > 0:
        return slice(min(max(start, 0), n), min(max(end, 0), n), step)
    start, end = min(max(start, 0), n - 1), min(max(end, -1), n - 1)
    return slice(start, None if end < 0 else end, step)


class _Slice(_Op):
    """ONNX Slice: data[start_i : end_i : step_i] along each of ``axes`` (the first
    len(starts) axes by default), the bounds clamped as the specification says
    (``_slice_axis``). ∂ℓ/∂data is G scattered back into zeros."""

    roles = ("data", "starts", "ends", "axes", "steps")

    def compute(
        self, data: Any, starts: Any, ends: Any, axes: Any, steps: Any
    ) -> tuple[np.ndarray, Any]:
        data = np.asarray(data)
        node = self.onnx_node
        starts, ends = [int(v) for v in np.ravel(starts)], [int(v) for v in np.ravel(ends)]
        k = len(starts)
        if axes is None and k > data.ndim:
            raise refuse(
                node,
                f"input 'starts': expected at most {data.ndim} values (one per axis of 'data', "
                f"shape {data.shape}), got {k}",
            )
        ax = list(range(k)) if axes is None else _axes(node, "input 'axes'", axes, data.ndim)
        st = [1] * k if steps is None else [int(v) for v in np.ravel(steps)]
        for what, values in (("ends", ends), ("axes", ax), ("steps", st)):
            if len(values) != k:
                raise refuse(
                    node, f"input {what!r}: expected {k} values (one per start), got {len(values)}"
                )
        if len(set(ax)) != k:
            raise refuse(node, f"input 'axes': expected distinct axes, got {ax}")
        if 0 in st:
            raise refuse(node, f"input 'steps': expected non-zero values, got {st}")
        index: list[slice] = [slice(None)] * data.ndim
        for a, b, e, s in zip(ax, starts, ends, st):
            index[a] = _slice_axis(data.shape[a], b, e, s)
        return data[tuple(index)], tuple(index)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        data = np.asarray(args[0])
        if not _is_float(data):
            return [None] * 5
        gd = np.zeros_like(data)
        gd[ctx] = g
        return [gd, None, None, None, None]


class _SplitPart(_Op):
    """Part ``index`` of ONNX Split where the input's rank or length along ``axis`` is known
    only at run time: with n the length along the axis, the parts have the sizes ``split``
    when given, else ⌈n/k⌉ each, the last shorter (``num_outputs``, ``chunked``), else n/k;
    part i is input[…, s_i : s_i + size_i, …], s_i the sizes before it added. ∂ℓ/∂input is G
    scattered back into zeros."""

    roles = ("input", "split")

    def __init__(
        self, node: Node, operands: Sequence[Operand], axis: int, index: int, k: int, chunked: bool
    ) -> None:
        super().__init__(node, operands)
        self.axis, self.index, self.k, self.chunked = axis, index, k, chunked

    def compute(self, data: Any, split: Any) -> tuple[np.ndarray, Any]:
        data = np.asarray(data)
        node = self.onnx_node
        axis = _axis(node, "attribute 'axis'", self.axis, data.ndim)
        n, k = data.shape[axis], self.k
        if split is not None:
            sizes = [int(v) for v in np.ravel(split)]
        elif self.chunked:
            chunk = -(-n // k)
            sizes = [max(min(chunk, n - i * chunk), 0) for i in range(k)]
        else:
            sizes = [n // k] * k
        if len(sizes) != k or sum(sizes) != n or min(sizes) < 0:
            raise refuse(
                node,
                f"split: expected {k} sizes >= 0 (one per output) adding up to the length {n} "
                f"along axis {axis}, got {sizes}",
            )
        start = sum(sizes[: self.index])
        index: list[slice] = [slice(None)] * data.ndim
        index[axis] = slice(start, start + sizes[self.index])
        return data[tuple(index)], tuple(index)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        data = np.asarray(args[0])
        if not _is_float(data):
            return [None, None]
        gd = np.zeros_like(data)
        gd[ctx] = g
        return [gd, None]


# ---------------------------------------------------------------------------------------------
# Converters


def reshape(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    op = node.op_type
    x = ins[0]
    rank = _rank(info, x)
    if op == "Reshape":
        allowzero = bool(attrs.get("allowzero", 0))
        if isinstance(ins[1], Const):  # refused now, not when run
            _check_reshape(node, [int(v) for v in np.ravel(ins[1].value)], rank, allowzero)
        return _generic(_Reshape(node, [x, _plain(ins[1])], "Reshape", allowzero), [x, ins[1]])
    if op == "Flatten":
        axis = attrs.get("axis", 1)
        if rank is not None:
            _axis(node, "attribute 'axis'", axis, rank, end=True)
        if axis == 1 and isinstance(x, Ref) and info["float"].get(x.name, False):
            return nn.Flatten(), [x.name]
        return _generic(_Reshape(node, [x, None], "Flatten", axis), [x])
    axes = attrs.ints("axes", None)
    operands = [x, None if len(ins) < 2 or ins[1] is None else _plain(ins[1])]
    if op == "Unsqueeze" and axes is None and operands[1] is None:
        raise refuse(node, "input 'axes' is required")
    given = axes if axes is not None else getattr(operands[1], "value", None)
    if rank is not None and given is not None:
        what = "attribute 'axes'" if axes is not None else "input 'axes'"
        _axes(node, what, given, rank + (np.size(given) if op == "Unsqueeze" else 0))
    return _generic(_Reshape(node, operands, op, axes), operands)


def transpose(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    return _generic(_Transpose(node, ins[:1], attrs.ints("perm", None)), ins[:1])


def concat(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    if not attrs.has("axis"):
        raise refuse(node, "attribute 'axis' is required")
    axis = attrs.get("axis")
    ranks = [r for r in (_rank(info, o) for o in ins) if r is not None]
    if ranks:
        _axis(node, "attribute 'axis'", axis, max(ranks[0], 1))
    refs = [o for o in ins if isinstance(o, Ref)]
    if len(refs) == len(ins) and all(info["float"].get(o.name, False) for o in refs):
        return nn.Concat(axis), [o.name for o in refs]
    operands = [_plain(o) for o in ins]
    return _generic(_Concat(node, operands, axis), operands)


_PAD_LAYERS: dict[int, dict[str, Any]] = {  # by rank: images, volumes
    4: {
        "reflect": nn.ReflectionPad2d,
        "replicate": nn.ReplicationPad2d,
        "circular": nn.CircularPad2d,
    },
    5: {
        "reflect": nn.ReflectionPad3d,
        "replicate": nn.ReplicationPad3d,
        "circular": nn.CircularPad3d,
    },
}


def pad(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    onnx_mode = attrs.get("mode", "constant")
    if onnx_mode not in PAD_MODES:
        raise refuse(
            node,
            f"attribute 'mode': expected one of {', '.join(map(repr, PAD_MODES))}, got "
            f"{onnx_mode!r}",
        )
    mode = PAD_MODES[onnx_mode]
    operands = [_plain(o) if o is not None else None for o in (ins + [None] * 4)[:4]]
    x, pads, _, axes = operands
    rank = _rank(info, x)
    if (
        mode != "constant"
        and isinstance(x, Ref)
        and info["float"].get(x.name, False)
        and rank in _PAD_LAYERS
        and isinstance(pads, Const)
        and (axes is None or isinstance(axes, Const))
    ):  # PyTorch's padding layers: the image's own pixels around H and W (and D)
        widths = dict.fromkeys(range(rank), (0, 0))
        ax = list(range(rank)) if axes is None else _axes(node, "input 'axes'", axes.value, rank)
        p = [int(v) for v in np.ravel(pads.value)]
        if len(p) == 2 * len(ax):
            widths.update({a: (p[i], p[len(ax) + i]) for i, a in enumerate(ax)})
            if widths[0] == widths[1] == (0, 0):  # PyTorch's order: the last axis first
                sides = tuple(v for a in range(rank - 1, 1, -1) for v in widths[a])
                return _PAD_LAYERS[rank][mode](sides), [x.name]
    return _generic(_Pad(node, operands, mode), operands)


def dropout(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    attrs.get("seed")  # the stream of masks: only drawn when the model trains
    x, ratio, training = (ins + [None, None])[:3]
    p = 0.5
    if node.opset < 12:  # Dropout-10: the ratio is an attribute
        p = float(attrs.get("ratio", 0.5))
    elif ratio is not None:
        given = _const(node, ratio, "ratio")
        p = 0.5 if given is None else float(np.ravel(given)[0])
    mode = None if training is None else _const(node, training, "training_mode")
    if mode is not None and bool(np.ravel(mode)[0]):
        raise refuse(node, "input 'training_mode': only inference (False) is supported")
    if len(info["outputs"]) > 1:  # the mask read: all True in inference (_outputs.py)
        from .._outputs import dropout_mask

        info["more"] = dropout_mask(node, x, info)
    if isinstance(x, Ref):
        return nn.Dropout(p), [x.name]
    return _generic(_Reshape(node, [x, None], "Squeeze", []), [x])  # identity on a constant


def identity(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    x = ins[0]
    if isinstance(x, Ref) and info["float"].get(x.name, False):
        return nn.Identity(), [x.name]
    return _generic(_Reshape(node, [_plain(x), None], "Squeeze", []), [x])


def shape(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    start, end = attrs.get("start", 0), attrs.get("end", None)
    x = ins[0]
    static = info["shapes"].get(x.name) if isinstance(x, Ref) else None
    if static is not None and all(isinstance(n, int) for n in static):  # folded at load time
        info.setdefault("folded_shapes", []).append(node.name)  # the inputs' sizes now fixed
        placeholder = np.broadcast_to(np.zeros((), np.int8), static)
        return _generic(_Shape(node, [Const(placeholder)], start, end), [])
    return _generic(_Shape(node, [_plain(x)], start, end), [x])


def gather(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    operands = [ins[0], _plain(ins[1])]
    axis = attrs.get("axis", 0)
    rank = _rank(info, ins[0])
    if rank is not None:
        _axis(node, "attribute 'axis'", axis, rank)
    return _generic(_Gather(node, operands, axis), operands)


def split(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """Split: X cut along ``axis`` into consecutive parts, one per output, of the sizes
    ``split`` (an input at opset 1 and from 13, an attribute in between), else — from opset
    18 — ``num_outputs`` parts of ⌈n/k⌉ (the last one shorter), else k equal parts for k
    outputs. Each part is a Slice: ``nn.Narrow`` on a float run-time value along an axis of
    known length other than the batch's (as PyTorch's ``x.split`` and ``x.chunk``), a
    Slice op otherwise (folded when X is a constant); where X's rank or its length along the
    axis, or the sizes, are known only at run time (a Squeeze of a value of a run-time size),
    a ``_SplitPart`` per part, sized when it runs. The first part is returned; the others go to
    ``info["more"]`` as (output name, built) for the loader to add."""
    x, given = (ins + [None])[:2]
    outputs = info["all_outputs"]
    shape = _shape(info, x)
    k = len(outputs)
    sizes = attrs.ints("split", None)
    if isinstance(given, Const):
        sizes = [int(v) for v in np.ravel(np.asarray(given.value))]
    parts = attrs.get("num_outputs", None)
    if parts is not None and (sizes is not None or given is not None or parts != k):
        raise refuse(
            node,
            f"attribute 'num_outputs': expected the number of outputs ({k}) and no 'split', "
            f"got {parts}" + (" and a 'split'" if given is not None else ""),
        )
    axis = int(attrs.get("axis", 0))
    if shape is not None:
        axis = _axis(node, "attribute 'axis'", axis, len(shape))
    n = None if shape is None else shape[axis]
    if not isinstance(n, (int, np.integer)) or isinstance(given, Ref):  # known at run time
        split: Operand | None = given if isinstance(given, Ref) else None
        if sizes is not None:
            split = Const(np.array(sizes, np.int64))
        runtime = [
            _generic(_SplitPart(node, [x, split], axis, i, k, parts is not None), [x, split])
            for i in range(k)
        ]
        info["more"] = [(name, part) for name, part in zip(outputs[1:], runtime[1:]) if name]
        return runtime[0]
    if sizes is None:
        chunk = -(-int(n) // k) if parts is not None else int(n) // k
        sizes = [max(min(chunk, int(n) - i * chunk), 0) for i in range(k)]
    if len(sizes) != k or sum(sizes) != n or min(sizes) < 0:
        raise refuse(
            node,
            f"split: expected {k} sizes >= 0 (one per output) adding up to the length {n} "
            f"along axis {axis}, got {sizes}",
        )
    built = []
    for start, size in zip(np.cumsum([0, *sizes[:-1]]), sizes):
        operands = [x, *(Const(np.array([v], np.int64)) for v in (start, start + size, axis))]
        narrow = _as_narrow(operands, info)
        built.append(narrow or _generic(_Slice(node, [*operands, None]), [*operands, None]))
    info["more"] = [(name, part) for name, part in zip(outputs[1:], built[1:]) if name]
    return built[0]


def slice_(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    operands = [ins[0]] + [None if o is None else _plain(o) for o in (ins + [None] * 5)[1:5]]
    narrow = _as_narrow(ins, info)
    if narrow is not None:
        return narrow
    return _generic(_Slice(node, operands), operands)


def _as_narrow(ins: list[Operand], info: dict[str, Any]) -> Built | None:
    """A Slice of a float run-time value along one axis of known size, with constant bounds
    and step 1 (how PyTorch exports ``x.chunk`` and ``x[:, a:b]``): ``nn.Narrow``."""
    x, rest = ins[0], (ins + [None] * 5)[1:5]
    shape = _shape(info, x)
    if not isinstance(x, Ref) or not info["float"].get(x.name, False) or shape is None:
        return None
    values = [None if o is None else getattr(o, "value", "runtime") for o in rest]
    if any(isinstance(v, str) for v in values) or values[0] is None or values[1] is None:
        return None
    starts, ends = np.ravel(values[0]), np.ravel(values[1])
    axes = np.ravel(values[2]) if values[2] is not None else np.arange(starts.size)
    steps = np.ravel(values[3]) if values[3] is not None else np.ones(starts.size)
    if starts.size != 1 or axes.size != 1 or steps.size != 1 or int(steps[0]) != 1:
        return None
    if not -len(shape) <= int(axes[0]) < len(shape):
        return None
    axis = int(axes[0]) % len(shape)
    n = shape[axis]
    if not isinstance(n, (int, np.integer)) or axis == 0:  # the batch axis may vary
        return None
    piece = _slice_axis(int(n), int(starts[0]), int(ends[0]), 1)
    return nn.Narrow(axis, piece.start, max(piece.stop - piece.start, 0)), [x.name]


def range_(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """Range: folded at load time on constants (the window indices PyTorch's exports compute),
    else ``_Range`` at run time. ``stash_type`` concerns float16 and bfloat16 only."""
    attrs.get("stash_type")
    operands = [_plain(o) for o in ins]
    return _generic(_Range(node, operands), operands)


def constant_of_shape(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """ConstantOfShape: folded at load time on a constant shape (the pads PyTorch computes for
    ``F.pad``), else ``_ConstantOfShape`` at run time (swin_t's attention masks)."""
    value = attrs.get("value")
    fill = np.zeros((), np.float32) if value is None else np.asarray(value)
    if fill.size != 1 or fill.dtype not in _ONNX_TYPES:
        raise refuse(
            node,
            f"attribute 'value': expected one element of float32, float64, int32, int64 or "
            f"bool, got shape {fill.shape} of {fill.dtype}",
        )
    operands = [_plain(ins[0])]
    return _generic(_ConstantOfShape(node, operands, fill.reshape(())), operands)
