"""The activations' converter: a node becomes the ``nn`` activation layer that computes it
exactly, else a private elementwise op by its formula and derivative (Erf, Sqrt, the
trigonometric ops, …); Shrink.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ... import nn
from ...ops import activations as act
from ...ops.erf import erf
from ._attributes import Attrs
from ._convert import Built, _generic
from ._node import Node, Operand, Ref, refuse
from .elementwise import _Unary


def _activation(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    op, x = node.op_type, ins[0]
    layer: nn.Module | None = None
    if op == "Relu":
        layer = nn.ReLU()
    elif op == "Sigmoid":
        layer = nn.Sigmoid()
    elif op == "Tanh":
        layer = nn.Tanh()
    elif op == "Softsign":
        layer = nn.Softsign()
    elif op == "Mish":
        layer = nn.Mish()
    elif op == "HardSwish":
        layer = nn.Hardswish()
    elif op == "Swish" and attrs.get("alpha", 1.0) == 1.0:  # x·σ(x)
        layer = nn.SiLU()
    elif (
        op == "HardSigmoid"
        and attrs.get("alpha", 0.2) == _ONE_SIXTH_FLOAT32
        and attrs.get("beta", 0.5) == 0.5
    ):  # PyTorch's Hardsigmoid, 1/6 as a float32 attribute: the layer, with 1/6 exact
        layer = nn.Hardsigmoid()
    elif op == "LeakyRelu":
        layer = nn.LeakyReLU(attrs.get("alpha", 0.01))
    elif op == "Elu":
        layer = nn.ELU(attrs.get("alpha", 1.0))
    elif op == "Celu":
        layer = nn.CELU(attrs.get("alpha", 1.0))
    elif op == "Gelu":
        approximate = attrs.get("approximate", "none")
        if approximate not in ("none", "tanh"):
            raise refuse(
                node, f"attribute 'approximate': expected 'none' or 'tanh', got {approximate!r}"
            )
        layer = nn.GELU(approximate)
    if layer is not None and isinstance(x, Ref):
        return layer, [x.name]
    if layer is not None:  # a constant input: f′ from the layer's own backward
        return _generic(_Unary(node, [x], layer.forward, _derivative(layer), op), [x])
    f, df, formula = _formula(node, attrs)
    return _generic(_Unary(node, [x], f, df, formula), [x])


def _derivative(layer: nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    """f′(x) of an elementwise activation layer: its backward of a gradient of ones. (A
    constant input is folded at load time today, but an op holding a weight must train it
    with the activation's real derivative, not 1.)"""

    def df(x: np.ndarray) -> np.ndarray:
        y, ctx = layer.forward_ctx(x)
        return layer.backward_ctx(ctx, np.ones_like(y))

    return df


#: How an ONNX file holds PyTorch's Hardsigmoid slope 1/6 (a float attribute is float32).
_ONE_SIXTH_FLOAT32 = float(np.float32(1 / 6))


def _formula(node: Node, attrs: Attrs) -> tuple[Callable[..., Any], Callable[..., Any], str]:
    op = node.op_type
    if op == "HardSigmoid":
        alpha, beta = attrs.get("alpha", 0.2), attrs.get("beta", 0.5)

        def hs(x: np.ndarray) -> np.ndarray:
            return np.clip(x * x.dtype.type(alpha) + x.dtype.type(beta), 0, 1)

        def dhs(x: np.ndarray) -> np.ndarray:
            z = x * x.dtype.type(alpha) + x.dtype.type(beta)
            return np.where((z > 0) & (z < 1), x.dtype.type(alpha), 0).astype(x.dtype)

        return hs, dhs, f"max(0, min(1, {alpha}·x + {beta}))"
    if op == "Selu":
        alpha = attrs.get("alpha", 1.67326319217681884765625)
        gamma = attrs.get("gamma", 1.05070102214813232421875)

        def selu(x: np.ndarray) -> np.ndarray:
            with np.errstate(over="ignore"):
                return np.where(
                    x > 0, gamma * x, gamma * alpha * np.expm1(np.minimum(x, 0))
                ).astype(x.dtype)

        def dselu(x: np.ndarray) -> np.ndarray:
            return np.where(x > 0, gamma, gamma * alpha * np.exp(np.minimum(x, 0))).astype(x.dtype)

        return selu, dselu, f"{gamma}·(x if x > 0 else {alpha}·(exp(x) − 1))"
    if op == "Softplus":  # ONNX's softplus has no threshold: log(1 + eˣ) everywhere
        return (lambda x: np.logaddexp(x.dtype.type(0), x), act.sigmoid, "log(1 + exp(x))")
    if op == "Erf":  # exporters write the exact GELU as 0.5·x·(1 + erf(x/√2)) before opset 20

        def derf(x: np.ndarray) -> np.ndarray:
            return (2 / np.sqrt(np.pi) * np.exp(-(x.astype(np.float64) ** 2))).astype(x.dtype)

        return (lambda x: erf(x).astype(x.dtype, copy=False), derf, "erf(x)")
    if op == "Abs":  # Softsign's export: x / (1 + |x|); d|x|/dx = sign(x), 0 at 0
        return (np.abs, lambda x: np.sign(x).astype(x.dtype), "|x|")
    if op == "Swish":  # x·σ(αx)
        alpha = attrs.get("alpha", 1.0)

        def swish(x: np.ndarray) -> np.ndarray:
            return x * act.sigmoid(x.dtype.type(alpha) * x)

        def dswish(x: np.ndarray) -> np.ndarray:
            s = act.sigmoid(x.dtype.type(alpha) * x)
            return s + alpha * x * s * (1 - s)

        return swish, dswish, f"x·σ({alpha}·x)"
    if op == "ThresholdedRelu":  # x where x > α, else 0
        alpha = attrs.get("alpha", 1.0)
        return (
            lambda x: np.where(x > alpha, x, 0).astype(x.dtype),
            lambda x: (x > alpha).astype(x.dtype),
            f"x if x > {alpha} else 0",
        )
    if op in _ELEMENTARY:
        return _ELEMENTARY[op]
    raise refuse(node, f"op type {op!r} is not supported")


def _quiet(f: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """f with NumPy's warnings off: outside its domain an elementary function gives ONNX's
    (and PyTorch's) NaN or ±inf, which is the answer, not an accident to warn about."""

    def quiet(x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return f(x)

    return quiet


# The elementary functions exporters write where a layer has no op of its own (LayerNorm
# before opset 17: ReduceMean, Sub, Pow, Add, Sqrt, Div), each with its derivative.
_ELEMENTARY: dict[str, tuple[Callable[..., Any], Callable[..., Any], str]] = {
    "Sqrt": (_quiet(np.sqrt), _quiet(lambda x: 0.5 / np.sqrt(x)), "√x"),
    "Reciprocal": (_quiet(np.reciprocal), _quiet(lambda x: -1 / (x * x)), "1/x"),
    "Exp": (_quiet(np.exp), _quiet(np.exp), "exp(x)"),
    "Log": (_quiet(np.log), _quiet(np.reciprocal), "log(x)"),
    "Neg": (np.negative, lambda x: np.full_like(x, -1), "−x"),
    "Sin": (_quiet(np.sin), _quiet(np.cos), "sin(x)"),
    "Cos": (_quiet(np.cos), _quiet(lambda x: -np.sin(x)), "cos(x)"),
    "Tan": (_quiet(np.tan), _quiet(lambda x: 1 + np.tan(x) ** 2), "tan(x)"),
    "Asin": (_quiet(np.arcsin), _quiet(lambda x: 1 / np.sqrt(1 - x * x)), "asin(x)"),
    "Acos": (_quiet(np.arccos), _quiet(lambda x: -1 / np.sqrt(1 - x * x)), "acos(x)"),
    "Atan": (_quiet(np.arctan), _quiet(lambda x: 1 / (1 + x * x)), "atan(x)"),
    "Sinh": (_quiet(np.sinh), _quiet(np.cosh), "sinh(x)"),
    "Cosh": (_quiet(np.cosh), _quiet(np.sinh), "cosh(x)"),
    "Asinh": (_quiet(np.arcsinh), _quiet(lambda x: 1 / np.sqrt(x * x + 1)), "asinh(x)"),
    "Acosh": (_quiet(np.arccosh), _quiet(lambda x: 1 / np.sqrt((x - 1) * (x + 1))), "acosh(x)"),
    "Atanh": (_quiet(np.arctanh), _quiet(lambda x: 1 / (1 - x * x)), "atanh(x)"),
    # piecewise constant: derivative 0 (as PyTorch's floor, ceil, round and sign)
    "Floor": (np.floor, np.zeros_like, "⌊x⌋"),
    "Ceil": (np.ceil, np.zeros_like, "⌈x⌉"),
    "Round": (np.round, np.zeros_like, "round(x), halves to even"),
    "Sign": (np.sign, np.zeros_like, "sign(x)"),
    "Not": (np.logical_not, np.zeros_like, "not x"),
}


def shrink(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """Shrink with bias 0 (``nn.Hardshrink``) or bias = lambd (``nn.Softshrink``) on a value
    computed at run time; other biases are refused. A NaN input stays NaN here, as in
    PyTorch's layers, where onnxruntime's Shrink gives 0."""
    x, lambd, bias = ins[0], attrs.get("lambd", 0.5), attrs.get("bias", 0.0)
    if lambd < 0 or not isinstance(x, Ref) or bias not in (0.0, lambd):
        raise refuse(
            node,
            f"attributes: expected lambd >= 0 and bias 0 or lambd (hard or soft shrinkage) on "
            f"a run-time input, got lambd={lambd}, bias={bias}",
        )
    layer = nn.Softshrink(lambd) if bias == lambd and lambd > 0 else nn.Hardshrink(lambd)
    return layer, [x.name]
