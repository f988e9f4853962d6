"""The dense ops and their converters: MatMul, Gemm and Einsum (a Linear layer where the
weight is an initializer, else a private op).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import nn, ops
from ...nn import Parameter
from ...nn.graph import unbroadcast
from ...ops._threads import product
from ...ops.einsum import einsum_shape, integer_einsum, split_equation
from ._attributes import Attrs
from ._convert import Built, _float_param, _generic, _rank
from ._helpers import _guard, _is_float
from ._module import _Op
from ._node import Node, Operand, Ref, refuse


class _MatMul(_Op):
    """y = a @ b, NumPy's matmul (batched, broadcasting, 1-D operands promoted)."""

    roles = ("a", "b")

    def compute(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Any]:
        return product(a, b), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        a, b = args
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = np.asarray(g)
        if b.ndim == 1:  # b's axis first: with a 1-D too, g is a scalar and becomes (1, 1)
            g2 = np.expand_dims(g2, -1)
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        ga = product(g2, np.swapaxes(b2, -1, -2))
        gb = product(np.swapaxes(a2, -1, -2), g2)
        return [
            unbroadcast(ga, a2.shape).reshape(a.shape),
            unbroadcast(gb, b2.shape).reshape(b.shape),
        ]


class _Gemm(_Op):
    """y = α·A′B′ + β·C, A′ = Aᵀ if transA, B′ = Bᵀ if transB, C broadcast (ONNX's Gemm)."""

    roles = ("a", "b", "c")

    def __init__(
        self,
        node: Node,
        operands: Sequence[Operand],
        alpha: float,
        beta: float,
        trans_a: bool,
        trans_b: bool,
    ) -> None:
        super().__init__(node, operands)
        self.alpha, self.beta, self.trans_a, self.trans_b = alpha, beta, trans_a, trans_b

    def compute(self, a: np.ndarray, b: np.ndarray, c: Any) -> tuple[np.ndarray, Any]:
        A = a.T if self.trans_a else a
        B = b.T if self.trans_b else b
        y = product(A, B)
        if self.alpha != 1.0:
            y = y * y.dtype.type(self.alpha)
        if c is not None:
            y = y + (c if self.beta == 1.0 else c * y.dtype.type(self.beta))
        return np.asarray(y, dtype=a.dtype), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        a, b, c = args
        A = a.T if self.trans_a else a
        B = b.T if self.trans_b else b
        gA = self.alpha * product(g, B.T)
        gB = self.alpha * product(A.T, g)
        gc = None if c is None else unbroadcast(self.beta * g, np.shape(c))
        return [gA.T if self.trans_a else gA, gB.T if self.trans_b else gB, gc]


class _Einsum(_Op):
    """Einsum: y = ``ops.einsum(equation, *inputs)`` on any number of inputs; the gradient of
    each is ``ops.einsum_backward``'s (the einsum of G with the others onto its labels).
    Integer inputs (ONNX's int8 … int64, uint8 … uint64, one type) give
    ``integer_einsum``'s result in their type, wrapping on overflow as onnxruntime; no
    gradient (as every integer value here)."""

    def __init__(self, node: Node, operands: Sequence[Operand], equation: str) -> None:
        self.roles = tuple(f"inputs_{i}" for i in range(len(operands)))  # params train
        super().__init__(node, operands)
        self.equation = equation

    def compute(self, *xs: Any) -> tuple[np.ndarray, Any]:
        arrays = [np.asarray(x) for x in xs]
        dtypes = [a.dtype for a in arrays]
        if len(set(dtypes)) > 1 or not (_is_float(arrays[0]) or dtypes[0].kind in "iu"):
            listing = ", ".join(f"inputs[{i}] {d}" for i, d in enumerate(dtypes))
            raise refuse(
                self.onnx_node,
                f"inputs: expected one dtype for all, float32, float64 or an integer type, "
                f"got {listing}",
            )
        try:
            shape = einsum_shape(self.equation, *(a.shape for a in arrays))
            _guard(shape, arrays[0].itemsize)
            if dtypes[0].kind in "iu":
                return integer_einsum(self.equation, *arrays), None
            return ops.einsum(self.equation, *xs), None
        except (TypeError, ValueError) as e:
            raise refuse(self.onnx_node, str(e)) from None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        if not all(_is_float(np.asarray(x)) for x in args):
            return [None] * len(args)  # integers: no gradient
        return list(ops.einsum_backward(self.equation, g, *args))

    def extra_repr(self) -> str:
        """The op type and its equation."""
        return f"onnx_op={self.onnx_op!r}, equation={self.equation!r}"


# ---------------------------------------------------------------------------------------------
# Converters


def matmul(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    a, b = ins
    bp = _float_param(b)
    if isinstance(a, Ref) and bp is not None and bp.data.ndim == 2 and (_rank(info, a) or 0) >= 2:
        K, N = bp.shape
        layer = nn.Linear(K, N, bias=False, dtype=bp.dtype)
        layer.weight = Parameter(np.ascontiguousarray(bp.data.T))
        info["derived"].append((bp, layer.weight))
        return layer, [a.name]
    operands = [a, b]
    return _generic(_MatMul(node, operands), operands)


def gemm(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    a, b, c = ins
    alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
    trans_a, trans_b = bool(attrs.get("transA", 0)), bool(attrs.get("transB", 0))
    bp, cp = _float_param(b), _float_param(c)
    if (
        isinstance(a, Ref)
        and not trans_a
        and alpha == 1.0
        and beta == 1.0
        and bp is not None
        and bp.data.ndim == 2
        and (
            c is None
            or (cp is not None and cp.data.ndim == 1 and cp.size == bp.shape[0 if trans_b else 1])
        )
    ):
        weight = bp if trans_b else Parameter(np.ascontiguousarray(bp.data.T))
        if not trans_b:
            info["derived"].append((bp, weight))
        N, K = weight.shape
        layer = nn.Linear(K, N, bias=c is not None, dtype=weight.dtype)
        layer.weight, layer.bias = weight, cp
        return layer, [a.name]
    operands = [a, b, c]
    return _generic(_Gemm(node, operands, alpha, beta, trans_a, trans_b), operands)


def einsum(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """Einsum: its equation checked at load time (the operands' shapes when it runs)."""
    equation = attrs.get("equation")
    try:
        split_equation(equation, len(ins), prefix="attribute 'equation'")
    except (TypeError, ValueError) as e:
        raise refuse(node, str(e)) from None
    return _generic(_Einsum(node, ins, equation), ins)
