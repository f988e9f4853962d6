"""Normalizations by moments, and their converters: MeanVarianceNormalization (no ``nn``
layer) and RMSNormalization (``nn.RMSNorm`` where it fits, else the op here).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import nn
from ...nn.graph import unbroadcast
from ._attributes import Attrs
from ._convert import Built, _generic, _rank, _shape
from ._helpers import _axes, _axis, _broadcasts_to
from ._module import _Op
from ._node import Const, Node, Operand, Ref, refuse
from .norm import _epsilon, _fixed, _initializer_param

#: MeanVarianceNormalization's ε, a constant of its ONNX function body
_MVN_EPSILON = 1e-9


def _float(node: Node, name: str, x: np.ndarray) -> None:
    if x.dtype not in (np.float32, np.float64):
        raise refuse(node, f"input {name!r}: expected float32 or float64, got {x.dtype}")


class _MeanVarianceNormalization(_Op):
    """MeanVarianceNormalization over ``axes`` (default 0, 2, 3): with μ and σ² the mean and
    variance of x over those axes (N values each), y = (x − μ)/(σ + ε), ε = 1e-9 as in ONNX's
    function (σ from the centred squares, never negative; μ summed in float64, so that a
    constant slice gives 0 in float32 too, where onnxruntime's float32 mean can leave x − μ
    at ε's size). Backward, with d = σ + ε and
    x_c = x − μ: ∂ℓ/∂x = (G − mean(G))/d − x_c·Σ(G·x_c)/(N·σ·d²), the second term 0 where
    σ = 0 (then x_c = 0)."""

    roles = ("X",)

    def __init__(self, node: Node, operands: Sequence[Operand], axes: list[int]) -> None:
        super().__init__(node, operands)
        self.axes = axes
        self._as_read: tuple[bytes, ...] | None = None

    def compute(self, x: Any) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        _float(self.onnx_node, "X", x)
        axes = tuple(_axes(self.onnx_node, "attribute 'axes'", self.axes, x.ndim))
        if len(set(axes)) != len(axes):
            raise refuse(
                self.onnx_node, f"attribute 'axes': expected distinct axes, got {self.axes}"
            )
        # the mean summed in float64: a constant slice's μ is then its value, and x − μ is 0
        mu = np.mean(x, axis=axes, keepdims=True, dtype=np.float64).astype(x.dtype)
        xc = x - mu
        sigma = np.sqrt(np.mean(xc * xc, axis=axes, keepdims=True))
        d = sigma + _MVN_EPSILON
        return (xc / d).astype(x.dtype), (axes, xc, sigma, d)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        axes, xc, sigma, d = ctx
        n = xc.size // max(np.size(sigma), 1)
        s = np.sum(g * xc, axis=axes, keepdims=True)
        spread = np.where(sigma > 0, s / (n * np.where(sigma > 0, sigma, 1) * d * d), 0)
        return [(g - np.mean(g, axis=axes, keepdims=True)) / d - xc * spread]

    @property
    def onnx_attributes(self) -> tuple[bytes, ...] | None:
        """The node's attributes as read, ``axes`` written out where the file left it to its
        default: ONNX's shape inference of MVN's function body fails without it, so a file
        saved as read would not pass ``save``'s check."""
        return self._as_read

    @onnx_attributes.setter
    def onnx_attributes(self, protos: tuple[bytes, ...] | None) -> None:
        from onnx import AttributeProto, helper

        names = [AttributeProto.FromString(p).name for p in protos or ()]
        if protos is not None and "axes" not in names:
            protos = (*protos, helper.make_attribute("axes", self.axes).SerializeToString())
        self._as_read = protos

    def extra_repr(self) -> str:
        """The op type and axes."""
        return f"onnx_op={self.onnx_op!r}, axes={self.axes}"


class _RMSNormalization(_Op):
    """RMSNormalization over the axes a … r−1 (a = ``axis``): with N their number of values
    and ρ = sqrt(mean(x²) + ε) over them, y = (x/ρ)·scale, scale broadcast to x. Backward:
    ∂ℓ/∂x = (G·scale)/ρ − x·Σ(G·scale·x)/(N·ρ³), ∂ℓ/∂scale = G·x/ρ summed over the axes
    the broadcast stretched."""

    roles = ("X", "scale")

    def __init__(self, node: Node, operands: Sequence[Operand], axis: int, eps: float) -> None:
        super().__init__(node, operands)
        self.axis, self.eps = axis, eps

    def compute(self, x: Any, scale: Any) -> tuple[np.ndarray, Any]:
        node = self.onnx_node
        x, scale = np.asarray(x), np.asarray(scale)
        _float(node, "X", x)
        if scale.dtype != x.dtype or not _broadcasts_to(scale.shape, x.shape):
            raise refuse(
                node,
                f"input 'scale': expected X's dtype {x.dtype} and a shape that broadcasts to "
                f"X's {x.shape}, got {scale.dtype} {scale.shape}",
            )
        a = _axis(node, "attribute 'axis'", self.axis, max(x.ndim, 1))
        axes = tuple(range(a, x.ndim))
        rho = np.sqrt(np.mean(x * x, axis=axes, keepdims=True) + self.eps)
        xhat = x / rho
        return (xhat * scale).astype(x.dtype), (axes, rho, xhat)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        axes, rho, xhat = ctx
        x, scale = (np.asarray(v) for v in args)
        gs = g * scale
        n = x.size // max(rho.size, 1)
        gx = gs / rho - xhat * np.sum(gs * xhat, axis=axes, keepdims=True) / (n * rho)
        return [gx, unbroadcast(g * xhat, scale.shape)]

    def extra_repr(self) -> str:
        """The op type, axis and ε."""
        return f"onnx_op={self.onnx_op!r}, axis={self.axis}, epsilon={self.eps}"


# ---------------------------------------------------------------------------------------------
# Converters


def mean_variance_normalization(
    node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]
) -> Built:
    """MeanVarianceNormalization: ``_MeanVarianceNormalization`` over ``axes`` (default
    0, 2, 3), distinct."""
    axes = attrs.ints("axes", [0, 2, 3])
    assert axes is not None
    rank = _rank(info, ins[0])
    if rank is not None:
        checked = _axes(node, "attribute 'axes'", axes, rank)
        if len(set(checked)) != len(checked):
            raise refuse(node, f"attribute 'axes': expected distinct axes, got {axes}")
    return _generic(_MeanVarianceNormalization(node, [ins[0]], axes), [ins[0]])


def rms_normalization(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """RMSNormalization over the axes from ``axis`` on, with ε > 0; ``stash_type`` 1 or 11
    (cnnmath computes in X's type): ``nn.RMSNorm`` where X is a float run-time value whose
    normalised axes are known at load time and scale is an initializer of their shape (the
    layer's weight, trained) or a Constant of ones (no weight), as ``cnnmath.onnx.save``
    writes the layer; ``_RMSNormalization`` otherwise (scale broadcast, or given at run
    time)."""
    axis = int(attrs.get("axis", -1))
    eps = _epsilon(node, attrs)
    stash = attrs.get("stash_type", 1)
    if stash not in (1, 11):  # the statistics' type; cnnmath computes in X's type
        raise refuse(
            node, f"attribute 'stash_type': expected 1 (float32) or 11 (float64), got {stash}"
        )
    rank = _rank(info, ins[0])
    if rank is not None:
        _axis(node, "attribute 'axis'", axis, max(rank, 1))
    x, scale = ins
    static = _shape(info, x)
    if isinstance(x, Ref) and info["float"].get(x.name, False) and static is not None:
        tail = static[_axis(node, "attribute 'axis'", axis, max(len(static), 1)) :]
        if all(isinstance(n, int) and n >= 1 for n in tail):
            weight = _initializer_param(scale)
            if weight is not None and weight.shape == tail:
                layer = nn.RMSNorm(tail, eps, True, dtype=weight.dtype)
                layer.weight = weight
                return layer, [x.name]
            if _fixed(scale, 1.0, tail):
                assert isinstance(scale, Const)  # no parameter: RMSNorm(elementwise_affine=False)
                return nn.RMSNorm(tail, eps, False, dtype=scale.value.dtype), [x.name]
    operands = list(ins)
    return _generic(_RMSNormalization(node, operands, axis, eps), operands)
