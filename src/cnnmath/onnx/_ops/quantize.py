"""QuantizeLinear and DequantizeLinear: the quantized element types, the scale and zero
point per tensor or per axis, the two ops and their converters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._checks import FUNC
from ._attributes import Attrs
from ._convert import Built, _generic, _plain, _rank
from ._helpers import _axis, _is_float
from ._module import _Op
from ._node import Const, Node, Operand, Ref, refuse
from ._types import _CAST_TYPES, _FLOAT_TYPES, _ONNX_TYPES

#: The integer types QuantizeLinear writes and DequantizeLinear reads, by ONNX type code,
#: with their ranges (a saturated result is clipped to them). DequantizeLinear reads int32
#: too (a bias quantized with scale x_scale·w_scale).
_QUANTIZED = {2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16}
_QUANT_CODES = {np.dtype(t): code for code, t in _QUANTIZED.items()}


def _saturate(q: np.ndarray, dtype: Any) -> np.ndarray:
    """Rounded values q in ``dtype``: clipped to its range, NaN to its minimum (onnxruntime's
    rule, the spec leaving NaN open)."""
    bounds = np.iinfo(dtype)
    return np.where(np.isnan(q), bounds.min, np.clip(q, bounds.min, bounds.max)).astype(dtype)


def _type_name(code: Any) -> str:
    """The ONNX name of element type ``code`` (INT4, FLOAT8E4M3FN, …), or the code itself."""
    try:
        from onnx import TensorProto

        return str(TensorProto.DataType.Name(int(code)))
    except Exception:
        return str(code)


def _quant_param(
    node: Node, name: str, v: np.ndarray, shape: tuple[int, ...], axis: int, block: int
) -> np.ndarray:
    """A scale or zero point shaped to broadcast against x of ``shape``: per tensor (a scalar
    or one value), per axis (1-D, one value per index of x's ``axis``) or, with ``block`` > 0,
    blocked (x's rank, ⌈D_axis/block⌉ along the axis and x's sizes elsewhere: each value
    repeated over its block of ``block`` consecutive indices)."""
    v = np.asarray(v)
    if block == 0 and v.size == 1 and v.ndim <= 1:  # per tensor: the axis is not read
        return v.reshape(())
    a = _axis(node, "attribute 'axis'", axis, max(len(shape), 1))
    if block == 0:
        if v.ndim != 1 or v.shape[0] != shape[a]:
            raise refuse(
                node,
                f"input {name!r}: expected a scalar (per tensor) or shape ({shape[a]},) (per "
                f"axis {a} of x's {shape}), got {v.shape}",
            )
        return v.reshape([-1 if i == a else 1 for i in range(len(shape))])
    blocks = -(-shape[a] // block)
    want = tuple(blocks if i == a else n for i, n in enumerate(shape))
    if v.shape != want:
        raise refuse(
            node,
            f"input {name!r}: expected shape {want} (blocks of {block} along axis {a} of x's "
            f"{shape}), got {v.shape}",
        )
    return np.repeat(v, block, axis=a).take(np.arange(shape[a]), axis=a)


class _Dequantize(_Op):
    """DequantizeLinear: y = (x − zero_point)·scale, in the scale's type (float32 or float64;
    every int8, uint8, int16 and uint16 value and difference is exact there), with scale and
    zero point per tensor, per axis or per block (``_quant_param``); no zero point is 0.
    On a constant x (an int8 weight) the node is folded at load time into the float array it
    stands for. ∂ℓ/∂x is not defined (x is an integer); scale and zero point are the
    quantization's fixed constants, not trained."""

    roles = ("x", "x_scale", "x_zero_point")
    plain_operands = True  # cnnmath.onnx.save writes it back as read

    def __init__(
        self, node: Node, operands: Sequence[Operand], axis: int, block: int, dtype: Any
    ) -> None:
        super().__init__(node, operands)
        self.axis, self.block = axis, block
        self.dtype = None if dtype is None else np.dtype(dtype)

    def compute(self, x: Any, scale: Any, zero: Any) -> tuple[np.ndarray, Any]:
        x, scale = np.asarray(x), np.asarray(scale)
        if x.dtype not in (*_QUANT_CODES, np.dtype(np.int32)):
            raise refuse(
                self.onnx_node,
                f"input 'x': expected int8, uint8, int16, uint16 or int32 values, got {x.dtype}",
            )
        if not _is_float(scale):
            raise refuse(
                self.onnx_node, f"input 'x_scale': expected float32 or float64, got {scale.dtype}"
            )
        if zero is not None and np.asarray(zero).dtype != x.dtype:
            raise refuse(
                self.onnx_node,
                f"input 'x_zero_point': expected x's type {x.dtype}, got {np.asarray(zero).dtype}",
            )
        s = _quant_param(self.onnx_node, "x_scale", scale, x.shape, self.axis, self.block)
        y = x.astype(scale.dtype)
        if zero is not None:
            z = _quant_param(self.onnx_node, "x_zero_point", zero, x.shape, self.axis, self.block)
            y = y - z.astype(scale.dtype)
        y = y * s
        return (y if self.dtype is None else y.astype(self.dtype)), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [None, None, None]


class _Quantize(_Op):
    """QuantizeLinear: y = saturate(round(x / scale) + zero_point), round halving to even
    (NumPy's ``rint``, as ONNX), saturate clipping to the range of y's type — the zero
    point's (int8, uint8, int16 or uint16), else ``output_dtype``'s, else uint8 — with scale
    and zero point per tensor, per axis or per block (``_quant_param``). x / scale is
    computed in NumPy's promotion of their types (``precision``, when given, casts both to
    float32 or float64 first). A QuantizeLinear → DequantizeLinear pair on an activation is
    fake quantization: the value rounded to the grid scale·(q − zero_point).

    A NaN (x NaN, or 0/0 for a zero scale) gives the minimum of y's type (0 for uint8 and
    uint16, −128 for int8, −32768 for int16) whatever the zero point, as onnxruntime's CPU
    kernel does (its clamp, max(NaN, low), returns the low bound); the spec leaves NaN to
    the integer conversion, undefined in C, and ONNX's reference evaluator gives yet other
    values (int8: 127).

    No gradient: y is an integer and round() is piecewise constant, so ONNX's derivative is
    zero almost everywhere (the straight-through estimator of quantization-aware training is
    a different function, which ONNX does not define). Rather than return zeros for
    everything before the node — a training step that silently changes nothing —
    ``backward`` raises, naming the node; a backward that needs only the parameters' gradients
    passes a QuantizeLinear that reads only the graph's inputs (no parameter lies before it).
    """

    roles = ("x", "y_scale", "y_zero_point")
    plain_operands = True  # cnnmath.onnx.save writes it back as read

    def __init__(
        self,
        node: Node,
        operands: Sequence[Operand],
        axis: int,
        block: int,
        dtype: Any,
        precision: Any,
    ) -> None:
        super().__init__(node, operands)
        self.axis, self.block, self.dtype = axis, block, np.dtype(dtype)
        self.precision = None if precision is None else np.dtype(precision)

    def compute(self, x: Any, scale: Any, zero: Any) -> tuple[np.ndarray, Any]:
        x, scale = np.asarray(x), np.asarray(scale)
        dtype = self.dtype if zero is None else np.asarray(zero).dtype
        if dtype not in _QUANT_CODES:
            raise refuse(
                self.onnx_node,
                f"input 'y_zero_point': expected int8, uint8, int16 or uint16, got {dtype}",
            )
        if not _is_float(scale):
            raise refuse(
                self.onnx_node, f"input 'y_scale': expected float32 or float64, got {scale.dtype}"
            )
        s = _quant_param(self.onnx_node, "y_scale", scale, x.shape, self.axis, self.block)
        if self.precision is not None:
            x, s = x.astype(self.precision), s.astype(self.precision)
        elif not _is_float(x):  # an int32 x: divided in the scale's type
            x = x.astype(scale.dtype)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            q = np.rint(x / s)
            if zero is not None:
                z = _quant_param(
                    self.onnx_node, "y_zero_point", zero, x.shape, self.axis, self.block
                )
                q = q + z.astype(q.dtype)
            return _saturate(q, dtype), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        raise RuntimeError(
            f"{FUNC}: node {self.onnx_node.name!r} (QuantizeLinear): backward: the output is "
            "an integer rounded from x, piecewise constant, so its gradient is zero almost "
            "everywhere (the only one ONNX defines) and nothing before this node would learn. "
            "Train the float model (the file before quantization) instead, or remove the "
            "QuantizeLinear/DequantizeLinear pairs; quantization-aware training's "
            "straight-through estimator is not ONNX's definition"
        )

    def backward_params_ctx(self, ctx: Any, grad_output: np.ndarray) -> None:
        """Nothing to do: reached only when every input is a graph input, and no parameter
        lies before the node."""

    def extra_repr(self) -> str:
        """The op type and the quantized type."""
        return f"onnx_op={self.onnx_op!r}, dtype={self.dtype.name}"


# ---------------------------------------------------------------------------------------------
# Converters


def _element_type(info: dict[str, Any], operand: Operand) -> int | None:
    """The ONNX element type of an operand, where known at load time."""
    if isinstance(operand, Const):
        dtype = np.dtype(operand.value.dtype)
        return _QUANT_CODES.get(dtype, _ONNX_TYPES.get(dtype))
    if isinstance(operand, Ref):
        return info["types"].get(operand.name)
    return None


def _quantization(node: Node, attrs: Attrs) -> tuple[int, int]:
    """(axis, block_size) of a QuantizeLinear or DequantizeLinear."""
    axis = int(attrs.get("axis", 1))
    block = int(attrs.get("block_size", 0))
    if block < 0:
        raise refuse(node, f"attribute 'block_size': expected a value >= 0, got {block}")
    return axis, block


def _check_quantization_axis(
    node: Node, info: dict[str, Any], x: Operand, scale: Operand, axis: int, block: int
) -> None:
    """Refuse at load time an ``axis`` outside x's rank where it is read (a scale per axis or
    per block) and both are known; a per-tensor scale ignores it."""
    rank = _rank(info, x)
    per_tensor = isinstance(scale, Const) and scale.value.size == 1 and scale.value.ndim <= 1
    if rank is not None and isinstance(scale, Const) and (block or not per_tensor):
        _axis(node, "attribute 'axis'", axis, max(rank, 1))


def _output_float(node: Node, attrs: Attrs) -> Any:
    """The ``output_dtype`` attribute of a DequantizeLinear (0: the scale's type)."""
    code = attrs.get("output_dtype", 0)
    if code and code not in _FLOAT_TYPES:
        raise refuse(
            node,
            f"attribute 'output_dtype': expected FLOAT or DOUBLE, got {_type_name(code)}",
        )
    return _CAST_TYPES[code] if code else None


def dequantize(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """DequantizeLinear (``_Dequantize``): folded at load time on a constant x (an int8
    weight becomes the float array it stands for), at run time on a value a QuantizeLinear
    wrote or a graph input. x of type int8, uint8, int16, uint16 or int32; the float8, 4-bit
    and 2-bit types are refused, naming the type."""
    x, scale, zero = ins
    axis, block = _quantization(node, attrs)
    dtype = _output_float(node, attrs)
    for name, operand in (("x", x), ("x_zero_point", zero)):
        code = _element_type(info, operand)
        if code is not None and code not in (*_QUANTIZED, 6):
            raise refuse(
                node,
                f"input {name!r}: element type {_type_name(code)} is not supported (int8, "
                "uint8, int16, uint16 or int32)",
            )
    _check_quantization_axis(node, info, x, scale, axis, block)
    operands = [_plain(x), _plain(scale), _plain(zero)]  # the quantization's fixed constants
    return _generic(_Dequantize(node, operands, axis, block, dtype), operands)


_PRECISIONS = {0: None, 1: np.float32, 11: np.float64}


def quantize(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """QuantizeLinear (``_Quantize``) to int8, uint8, int16 or uint16: the zero point's type,
    else ``output_dtype``'s (opset 21 on), else uint8. The float8, 4-bit and 2-bit types are
    refused, naming the type; ``saturate`` concerns float8 only."""
    x, scale, zero = ins
    axis, block = _quantization(node, attrs)
    attrs.get("saturate")  # float8 targets only, which are refused
    precision = attrs.get("precision", 0)
    if precision not in _PRECISIONS:
        raise refuse(
            node, f"attribute 'precision': expected FLOAT or DOUBLE, got {_type_name(precision)}"
        )
    code = attrs.get("output_dtype", 0)
    given = _element_type(info, zero)
    if code and given is not None and code != given:
        raise refuse(
            node,
            f"attribute 'output_dtype': expected the zero point's type {_type_name(given)}, "
            f"got {_type_name(code)}",
        )
    code = given or code or 2  # uint8 by default
    if code not in _QUANTIZED:
        raise refuse(
            node,
            f"quantized type {_type_name(code)} is not supported (int8, uint8, int16 or uint16)",
        )
    _check_quantization_axis(node, info, x, scale, axis, block)
    operands = [_plain(x), _plain(scale), _plain(zero)]
    module = _Quantize(node, operands, axis, block, _QUANTIZED[code], _PRECISIONS[precision])
    return _generic(module, operands)
