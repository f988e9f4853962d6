"""Ops along axes, and their converters: Softmax and LogSoftmax, the Reduce ops, ArgMax and
ArgMin, Hardmax, the two losses (SoftmaxCrossEntropyLoss, NegativeLogLikelihoodLoss) and
CumSum.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ... import losses, ops
from ._attributes import Attrs
from ._convert import Built, _generic, _plain, _rank
from ._helpers import _axes, _axis, _one_int, _window
from ._module import _Op
from ._node import Const, Node, Operand, refuse


class _ArgExtremum(_Op):
    """ArgMax / ArgMin: the index (int64) of the largest / smallest value along ``axis``,
    the first one among ties (the last with ``select_last_index``); a NaN counts as the
    largest and the smallest (NumPy's rule; onnxruntime's for the first index, ONNX's
    reference evaluator's for both). No gradient: indices."""

    roles = ("data",)

    def __init__(
        self, node: Node, operands: Sequence[Operand], axis: int, keepdims: bool, last: bool
    ) -> None:
        super().__init__(node, operands)
        self.axis, self.keepdims, self.last = axis, keepdims, last

    def compute(self, x: Any) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        a = _axis(self.onnx_node, "attribute 'axis'", self.axis, max(x.ndim, 1))
        if x.shape[a] == 0:
            raise refuse(self.onnx_node, f"input 'data': axis {a} is empty (no index to give)")
        find = np.argmax if self.onnx_op == "ArgMax" else np.argmin
        if self.last:  # the last of the ties: the first in the reversed axis
            index = x.shape[a] - 1 - find(np.flip(x, axis=a), axis=a)
        else:
            index = find(x, axis=a)
        index = index.astype(np.int64)
        return (np.expand_dims(index, a) if self.keepdims else index), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [None]


class _Hardmax(_Op):
    """Hardmax along ``axis`` (opset ≥ 13): 1 at the first largest value, 0 elsewhere.
    Piecewise constant: no gradient reaches the input."""

    roles = ("input",)

    def __init__(self, node: Node, operands: Sequence[Operand], axis: int) -> None:
        super().__init__(node, operands)
        self.axis = axis

    def compute(self, x: Any) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        a = _axis(self.onnx_node, "attribute 'axis'", self.axis, max(x.ndim, 1))
        y = np.zeros_like(x)
        if x.size:
            np.put_along_axis(y, np.expand_dims(np.argmax(x, axis=a), a), 1, axis=a)
        return y, None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [None]


class _Loss(_Op):
    """SoftmaxCrossEntropyLoss(scores, labels, weights) and NegativeLogLikelihoodLoss(input,
    target, weight): PyTorch's ``cross_entropy`` / ``nll_loss`` (``cnnmath.losses``), which
    ONNX defines the same way — classes on axis 1 of (N, C, d1, …), per-class weights,
    ``ignore_index``, "mean" divided by the summed weights of the targets counted, "sum",
    "none". Backward: the loss's gradient times G (G broadcast over the classes for "none");
    nothing reaches the labels or the weights."""

    roles = ("scores", "labels", "weights")

    def __init__(
        self, node: Node, operands: Sequence[Operand], reduction: str, ignore: int | None
    ) -> None:
        super().__init__(node, operands)
        self.reduction, self.ignore = reduction, ignore

    def compute(self, x: Any, y: Any, w: Any) -> tuple[np.ndarray, Any]:
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim < 2:
            raise refuse(self.onnx_node, f"input 0: expected (N, C, …), got shape {x.shape}")
        # no ignore_index: none of the labels (all in [0, C)) equals the stand-in
        ignore = np.iinfo(np.int64).min if self.ignore is None else self.ignore
        f = losses.cross_entropy if self.onnx_op == "SoftmaxCrossEntropyLoss" else losses.nll_loss
        w = None if w is None else np.asarray(w, x.dtype)
        try:
            loss, grad = f(x, y, weight=w, ignore_index=ignore, reduction=self.reduction)
        except ValueError as e:
            raise refuse(self.onnx_node, str(e)) from None
        return np.asarray(loss, x.dtype), grad

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        G = np.asarray(g)
        return [ctx * (np.expand_dims(G, 1) if self.reduction == "none" else G), None, None]

    def extra_repr(self) -> str:
        """The op type and its options."""
        return f"onnx_op={self.onnx_op!r}, reduction={self.reduction!r}, ignore_index={self.ignore}"


def _cumsum(x: np.ndarray, a: int, exclusive: bool, reverse: bool) -> np.ndarray:
    """y_i = Σ x_j along axis ``a`` over j ≤ i (j < i: ``exclusive``; j ≥ i and j > i with
    ``reverse``), accumulated in x's type."""
    if reverse:
        x = np.flip(x, axis=a)
    y = np.cumsum(x, axis=a, dtype=x.dtype)
    if exclusive:  # shifted one along: a 0 first, the last sum dropped
        y = _window(y, [-1], [x.shape[a]], [a])
    return np.flip(y, axis=a) if reverse else y


class _CumSum(_Op):
    """CumSum along ``axis`` (an input: one integer, at load or run time): y_i = Σ_{j ≤ i} x_j,
    Σ_{j < i} with ``exclusive``, and from the other end (j ≥ i, j > i) with ``reverse``.
    Backward: ∂ℓ/∂x_j = Σ_{i ≥ j} G_i — the cumulative sum of G with the same ``exclusive``
    and the opposite ``reverse``."""

    roles = ("x", "axis")

    def __init__(
        self, node: Node, operands: Sequence[Operand], exclusive: bool, reverse: bool
    ) -> None:
        super().__init__(node, operands)
        self.exclusive, self.reverse = exclusive, reverse

    def compute(self, x: Any, axis: Any) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        a = _axis(self.onnx_node, "input 'axis'", _one_int(self.onnx_node, "axis", axis), x.ndim)
        return _cumsum(x, a, self.exclusive, self.reverse), a

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [_cumsum(g, ctx, self.exclusive, not self.reverse), None]

    def extra_repr(self) -> str:
        """The op type and its flags."""
        return (
            f"onnx_op={self.onnx_op!r}, exclusive={int(self.exclusive)}, "
            f"reverse={int(self.reverse)}"
        )


class _Softmax(_Op):
    """Softmax / LogSoftmax along ``axis`` (opset ≥ 13), or, before opset 13, of x flattened
    to 2-D at ``axis`` (the old definition), via ``ops.softmax``."""

    roles = ("x",)

    def __init__(
        self, node: Node, operands: Sequence[Operand], axis: int, log: bool, legacy: bool
    ) -> None:
        super().__init__(node, operands)
        self.axis, self.log, self.legacy = axis, log, legacy

    def _2d(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        a = _axis(self.onnx_node, "attribute 'axis'", self.axis, max(x.ndim, 1))
        if not self.legacy:
            return x, a
        return x.reshape(int(np.prod(x.shape[:a], dtype=np.int64)), -1), 1

    def compute(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        x2, dim = self._2d(x)
        y2 = (ops.log_softmax if self.log else ops.softmax)(x2, dim)
        return y2.reshape(x.shape), (x2, dim, y2)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        x2, dim, y2 = ctx
        back = ops.log_softmax_backward if self.log else ops.softmax_backward
        return [back(g.reshape(x2.shape), x2, dim, output=y2).reshape(args[0].shape)]


def _lowest(dtype: np.dtype) -> Any:
    """The identity of max over ``dtype`` (ONNX's ReduceMax of no values): −∞, the least
    integer, or False."""
    if dtype == np.bool_:
        return False
    return -np.inf if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).min


def _highest(dtype: np.dtype) -> Any:
    if dtype == np.bool_:
        return True
    return np.inf if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).max


def _reduce_max(x: np.ndarray, ax: tuple[int, ...], keep: bool) -> np.ndarray:
    return np.max(x, axis=ax, keepdims=keep, initial=_lowest(x.dtype))


def _reduce_min(x: np.ndarray, ax: tuple[int, ...], keep: bool) -> np.ndarray:
    return np.min(x, axis=ax, keepdims=keep, initial=_highest(x.dtype))


def _reduce_sum_square(x: np.ndarray, ax: tuple[int, ...], keep: bool) -> np.ndarray:
    return np.sum(x * x, axis=ax, keepdims=keep)


def _reduce_log_sum_exp(x: np.ndarray, ax: tuple[int, ...], keep: bool) -> np.ndarray:
    top = _reduce_max(x, ax, True)
    top = np.where(np.isfinite(top), top, 0)  # ±inf or NaN: the plain formula's answer
    with np.errstate(divide="ignore"):
        y = np.log(np.sum(np.exp(x - top), axis=ax, keepdims=True)) + top
    return y if keep else np.squeeze(y, axis=ax)


#: ReduceX → y(x, axes, keepdims), each as ONNX defines it.
_REDUCTIONS: dict[str, Callable[[np.ndarray, tuple[int, ...], bool], np.ndarray]] = {
    "ReduceMean": lambda x, ax, keep: np.mean(x, axis=ax, keepdims=keep),
    "ReduceSum": lambda x, ax, keep: np.sum(x, axis=ax, keepdims=keep),
    "ReduceMax": _reduce_max,
    "ReduceMin": _reduce_min,
    "ReduceProd": lambda x, ax, keep: np.prod(x, axis=ax, keepdims=keep),
    "ReduceSumSquare": _reduce_sum_square,
    "ReduceL1": lambda x, ax, keep: np.sum(np.abs(x), axis=ax, keepdims=keep),
    "ReduceL2": lambda x, ax, keep: np.sqrt(_reduce_sum_square(x, ax, keep)),
    "ReduceLogSum": lambda x, ax, keep: np.log(np.sum(x, axis=ax, keepdims=keep)),
    "ReduceLogSumExp": _reduce_log_sum_exp,
}


def _others_product(x: np.ndarray, ax: tuple[int, ...]) -> np.ndarray:
    """∂(Π_{axes} x)/∂x: for each element the product of the others over ``axes``, as the
    product of the exclusive running products from the left and from the right (no
    division, so a zero among the values is exact)."""
    if x.size == 0:
        return np.zeros_like(x)
    rest = [a for a in range(x.ndim) if a not in ax]
    moved = np.transpose(x, (*rest, *ax))
    flat = moved.reshape(*moved.shape[: len(rest)], -1)
    one = np.ones((*flat.shape[:-1], 1), x.dtype)
    left = np.cumprod(np.concatenate([one, flat[..., :-1]], axis=-1), axis=-1)
    right = np.cumprod(np.concatenate([one, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return np.transpose((left * right).reshape(moved.shape), np.argsort((*rest, *ax)))


class _Reduce(_Op):
    """ReduceMean, ReduceSum, ReduceProd, ReduceMax, ReduceMin, ReduceSumSquare, ReduceL1,
    ReduceL2, ReduceLogSum, ReduceLogSumExp over ``axes`` (all when absent; with
    noop_with_empty_axes none, the per-element part still applied: x², |x|, log x),
    keepdims; over no values the identity (0, 1, −∞ for max, +∞ for min, log 0 = −∞), as
    ONNX defines it. Backward, with Y broadcast back over the axes:

        mean  G/n            sum  G              sum of squares  2x·G
        L1    sign(x)·G      L2   x/Y·G (0 where Y = 0)
        prod  G·Π of the other elements (exclusive products: exact with zeros)
        max, min  G shared equally by the elements equal to Y (PyTorch's amax/amin rule)
        log sum  G/Σx = G·exp(−Y)   log-sum-exp  exp(x − Y)·G (softmax over the axes)."""

    roles = ("x", "axes")

    def __init__(
        self,
        node: Node,
        operands: Sequence[Operand],
        keepdims: bool,
        noop: bool,
        axes_attr: list[int] | None,
    ) -> None:
        super().__init__(node, operands)
        self.keepdims, self.noop, self.axes_attr = keepdims, noop, axes_attr

    def _axes(self, x: np.ndarray, axes: Any) -> tuple[int, ...]:
        """The reduced axes; none (the empty tuple) for noop_with_empty_axes without axes,
        where each op still applies its per-element part (x², |x|, log x, …), as ONNX says."""
        chosen = self.axes_attr if axes is None else [int(a) for a in np.ravel(axes)]
        if not chosen:
            return () if self.noop else tuple(range(x.ndim))
        what = "attribute 'axes'" if axes is None else "input 'axes'"
        return tuple(sorted(_axes(self.onnx_node, what, chosen, x.ndim)))

    def compute(self, x: np.ndarray, axes: Any) -> tuple[np.ndarray, Any]:
        ax = self._axes(x, axes)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            y = np.asarray(_REDUCTIONS[self.onnx_op](x, ax, self.keepdims), dtype=x.dtype)
        return y, (ax, y)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        x, (ax, y) = args[0], ctx
        if not self.keepdims:
            g, y = np.expand_dims(g, ax), np.expand_dims(y, ax)
        op = self.onnx_op
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if op == "ReduceMean":
                share = g / int(np.prod([x.shape[a] for a in ax]))
            elif op == "ReduceSum":
                share = g
            elif op == "ReduceSumSquare":
                share = 2 * x * g
            elif op == "ReduceL1":
                share = np.sign(x) * g
            elif op == "ReduceL2":
                share = np.where(y == 0, 0, x / np.where(y == 0, 1, y)) * g
            elif op == "ReduceLogSum":
                share = g * np.exp(-y)  # 1/Σx
            elif op == "ReduceLogSumExp":
                share = np.exp(x - y) * g
            elif op == "ReduceProd":
                share = _others_product(x, ax) * g
            else:  # max, min: shared by the ties
                hit = x == y
                share = hit * (g / np.sum(hit, axis=ax, keepdims=True))
        return [np.broadcast_to(share, x.shape).astype(x.dtype), None]


# ---------------------------------------------------------------------------------------------
# Converters


def arg_extremum(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    axis = int(attrs.get("axis", 0))
    keepdims, last = bool(attrs.get("keepdims", 1)), bool(attrs.get("select_last_index", 0))
    rank = _rank(info, ins[0])
    if rank is not None:
        _axis(node, "attribute 'axis'", axis, max(rank, 1))
    return _generic(_ArgExtremum(node, ins[:1], axis, keepdims, last), ins[:1])


def hardmax(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    if node.opset < 13:  # before 13: x flattened to 2-D at axis (default 1), as Softmax's
        raise refuse(node, f"opset {node.opset}: expected 13 or later (Hardmax along an axis)")
    return _generic(_Hardmax(node, ins[:1], int(attrs.get("axis", -1))), ins[:1])


def loss(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    reduction = attrs.get("reduction", "mean")
    if reduction not in ("mean", "sum", "none"):
        raise refuse(
            node, f"attribute 'reduction': expected 'mean', 'sum' or 'none', got {reduction!r}"
        )
    ignore = attrs.get("ignore_index", None)
    operands = [ins[0], _plain(ins[1]), None if len(ins) < 3 else _plain(ins[2])]
    outputs = info["all_outputs"]
    if node.op_type == "SoftmaxCrossEntropyLoss" and len(outputs) > 1 and outputs[1]:
        # its second output, log_prob: log softmax of the scores over the classes (axis 1)
        log_softmax = Node(node.name, "LogSoftmax", node.opset)
        built = _generic(_Softmax(log_softmax, ins[:1], 1, True, False), ins[:1])
        info["more"] = [(outputs[1], built)]
    return _generic(_Loss(node, operands, reduction, ignore), operands)


def softmax(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    legacy = node.opset < 13
    axis = attrs.get("axis", 1 if legacy else -1)
    rank = _rank(info, ins[0])
    if rank is not None:
        _axis(node, "attribute 'axis'", axis, max(rank, 1))
    log = node.op_type == "LogSoftmax"
    return _generic(_Softmax(node, ins[:1], axis, log, legacy), ins[:1])


def reduce(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    axes_attr = attrs.ints("axes", None)
    rank = _rank(info, ins[0])
    if rank is not None and axes_attr:
        _axes(node, "attribute 'axes'", axes_attr, rank)
    if rank is not None and len(ins) > 1 and isinstance(ins[1], Const):
        _axes(node, "input 'axes'", ins[1].value, rank)
    keepdims = bool(attrs.get("keepdims", 1))
    noop = bool(attrs.get("noop_with_empty_axes", 0))
    operands = (ins + [None])[:2]
    operands = [operands[0], None if operands[1] is None else _plain(operands[1])]
    return _generic(_Reduce(node, operands, keepdims, noop, axes_attr), operands)


def cum_sum(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    exclusive, reverse = bool(attrs.get("exclusive", 0)), bool(attrs.get("reverse", 0))
    operands = [ins[0], _plain(ins[1])]
    return _generic(_CumSum(node, operands, exclusive, reverse), operands)
