"""onnxruntime's com.microsoft quantized ops, those its quantizer writes by default for a CNN in
the QOperator format (``quantize_static(..., quant_format=QuantFormat.QOperator)``) and the
ONNX model zoo's int8 models use: QLinearAdd, QLinearMul, QLinearGlobalAveragePool,
QLinearAveragePool, QGemm, QLinearConcat, QLinearLeakyRelu, QLinearSigmoid, QLinearSoftmax.
Inference only (no gradient, as ``_Integer``); uint8 or int8 values, each op's scales and
zero points per tensor (QGemm's b per column too).

Each reproduces, bit for bit, what onnxruntime's x86-64 CPU kernels (MLAS) compute, in float32
where they do, their order of operations included:

- QLinearAdd rounds once per fused multiply-add (its AVX2 kernel): with r_a = a_scale/c_scale,
  r_b = b_scale/c_scale and f = c_zp − fma(a_zp, r_a, r_b·b_zp), C = cvt(fma(a, r_a,
  fma(b, r_b, f))); the operands swap roles where a is the one broadcast along the last axis.
  ``_fma32`` computes a float32 fused multiply-add exactly with float64 arithmetic.
- QLinearMul: C = cvt(float32((A − a_zp)(B − b_zp))·m + c_zp), m = a_scale·b_scale/c_scale,
  each product and sum rounded to float32 (the zero point added before the rounding).
- QGemm and QLinearGlobalAveragePool requantize an exact integer accumulation:
  cvt(float32(acc) · m) + zp, m a float32 ratio of scales rounded as the kernel rounds it.
- QLinearConcat, QLinearLeakyRelu and QLinearSigmoid map each value through a table,
  dequantized as float32(scale · (x − zp)), transformed in float32 (the logistic by MLAS's
  rational approximation with fused multiply-adds), quantized as rint(v / y_scale) + y_zp.
- QLinearAveragePool sums each window's dequantized values in float32 in row-major order,
  divides by the count and quantizes as the tables do.
- QLinearSoftmax weighs each value by onnxruntime's exponential table, sums in float32 in
  order and requantises to ⌊1/y_scale⌋ levels (``_QLinearSoftmax``).

Two roundings end the ops. cvt (QLinearAdd, QLinearMul, the pools) rounds half to even and
saturates to the type's range, but a value outside int32's range or NaN gives the type's
minimum: the x86 conversion's 0x80000000, then the saturating packs. The lookup-table ops
(LeakyRelu, Sigmoid, Concat) and QGemm's 8-bit output round as MLAS's QuantizeLinear, which
clamps first: a value past either end gives that end, NaN the minimum (``_clamped``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._attributes import Attrs
from ._convert import Built, _generic, _rank, _shape
from ._helpers import _axis
from ._node import Const, Node, Operand, Ref, refuse
from .pool import _pool_extent
from .qlinear import _EIGHT_BIT, _constants, _eight_bit, _Integer, _scale, _wrap32, _zero
from .quantize import _QUANT_CODES, _saturate

_F32 = np.float32


def _fma32(a: Any, b: Any, c: Any) -> np.ndarray:
    """float32 fma(a, b, c) = a·b + c rounded once to float32, for float32 a, b, c (a·b has at
    most 48 significant bits: exact in float64, barring underflow). The float64 sum s and its
    exact error e (Knuth's two-sum) give s rounded to odd (moved one step toward e where it is
    inexact and even), which float32's rounding then rounds correctly (53 ≥ 24 + 2 bits)."""
    p = np.asarray(a, np.float64) * np.asarray(b, np.float64)
    c = np.asarray(c, np.float64)
    s = p + c
    t = s - p
    e = (p - (s - t)) + (c - t)
    even = (np.asarray(s).view(np.int64) & 1) == 0
    s = np.where((e != 0) & even, np.nextafter(s, np.where(e > 0, np.inf, -np.inf)), s)
    return np.asarray(s).astype(_F32)


def _cvt(v: np.ndarray, dtype: Any, zero: Any = 0) -> np.ndarray:
    """saturate(rint(v) + zero) in ``dtype`` (half to even), NaN or |v| ≥ 2³¹ (x86's conversion
    gives 0x80000000 there) to the type's minimum."""
    r = np.rint(np.asarray(v, np.float64))
    r = np.where(np.abs(r) < 2.0**31, r, np.nan)
    return _saturate(r + float(zero), dtype)


def _clamped(v: np.ndarray, dtype: Any, zero: Any) -> np.ndarray:
    """saturate(rint(v) + zero) in ``dtype`` (half to even), clamped before any conversion: a
    value past either end of the type's range (inf too) gives that end, NaN the minimum."""
    return _saturate(np.rint(np.asarray(v, np.float64)) + float(zero), dtype)


def _quantize(v: np.ndarray, y_scale: np.ndarray, y_zero: np.ndarray) -> np.ndarray:
    """MLAS's QuantizeLinear: saturate(rint(v / y_scale) + y_zero), v / y_scale in float32."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        q = np.asarray(v, _F32) / _F32(y_scale)
    return _clamped(q, y_zero.dtype, y_zero)


def _dequantize(x: np.ndarray, scale: np.ndarray, zero: np.ndarray) -> np.ndarray:
    """float32(scale · (x − zero)): the integer difference is exact in float32, one rounding."""
    return (_F32(scale) * (x.astype(np.int32) - np.int32(zero)).astype(_F32)).astype(_F32)


def _pair(node: Node, x: np.ndarray, names: tuple[str, str], s: Any, z: Any) -> tuple[Any, Any]:
    """A per-tensor (scale, zero point) of x: the scale float32, the zero point of x's type."""
    return _scale(node, names[0], s), _zero(node, names[1], z, names[0][:-6] or "x", x.dtype)


def _same_type(node: Node, names: Sequence[str], values: Sequence[np.ndarray]) -> np.dtype:
    """The one 8-bit type of ``values`` (inputs ``names``), refused when they differ."""
    first = values[0].dtype
    for name, v in zip(names[1:], values[1:]):
        if v.dtype != first:
            raise refuse(node, f"input {name!r}: expected {names[0]}'s type {first}, got {v.dtype}")
    return first


class _Contrib(_Integer):
    """A com.microsoft op: no gradient (``_Integer``); ``cnnmath.onnx.save`` writes it back
    as read, in its domain (``domain``, whose opset 1 the file then imports)."""

    domain = "com.microsoft"


def _input0_scalar(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """Whether onnxruntime's broadcast loop hands a as the scalar operand: a of one value, or
    (b not of one value) a broadcast along the last axis of the output that is not 1."""
    if math.prod(a) == 1:
        return True
    if math.prod(b) == 1:
        return False
    out = np.broadcast_shapes(a, b)
    n = len(out)
    a1 = (1,) * (n - len(a)) + tuple(a)
    for axis in reversed(range(n)):
        if out[axis] != 1:
            return a1[axis] == 1
    return False


class _QLinearAdd(_Contrib):
    """QLinearAdd: C = cvt(f + r_a·A + r_b·B), the dequantized sum A·a_scale + B·b_scale
    requantized to (C_scale, C_zero_point), computed as onnxruntime's AVX2 kernel does (module
    docstring): r_a = a_scale/C_scale, r_b = b_scale/C_scale, f = C_zp − fma(a_zp, r_a,
    r_b·b_zp), C = cvt(fma(A, r_a, fma(B, r_b, f))), every step float32; A and B swap roles
    where A is broadcast along the last axis (onnxruntime passes it as the scalar operand).
    A, B, C of one 8-bit type, NumPy broadcasting; absent zero points 0."""

    roles = (
        "A",
        "A_scale",
        "A_zero_point",
        "B",
        "B_scale",
        "B_zero_point",
        "C_scale",
        "C_zero_point",
    )

    def compute(self, *args: Any) -> tuple[np.ndarray, Any]:
        node = self.onnx_node
        a, sa, za, b, sb, zb, sc, zc = args
        a, b = _eight_bit(node, "A", a), _eight_bit(node, "B", b)
        dtype = _same_type(node, ("A", "B"), (a, b))
        sa, za = _pair(node, a, ("A_scale", "A_zero_point"), sa, za)
        sb, zb = _pair(node, b, ("B_scale", "B_zero_point"), sb, zb)
        sc, zc = _scale(node, "C_scale", sc), _zero(node, "C_zero_point", zc, "A", dtype)
        try:
            np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise refuse(
                node, f"inputs 'A', 'B': shapes {a.shape} and {b.shape} do not broadcast"
            ) from None
        ra, rb = _F32(sa) / _F32(sc), _F32(sb) / _F32(sc)
        v, rv, zv, s, rs, zs = (a, ra, za, b, rb, zb)
        if _input0_scalar(a.shape, b.shape):
            v, rv, zv, s, rs, zs = (b, rb, zb, a, ra, za)
        fixed = _F32(zc) - _fma32(_F32(zv), rv, rs * _F32(zs))
        inner = _fma32(s.astype(_F32), rs, fixed)
        return _cvt(_fma32(v.astype(_F32), rv, inner), dtype), None


class _QLinearMul(_Contrib):
    """QLinearMul: C = cvt(float32((A − a_zp)(B − b_zp)) · m + C_zp), m = a_scale·b_scale /
    C_scale, every step float32 (the product of two 8-bit differences is exact; the zero
    point is added before the rounding, as onnxruntime's x86-64 kernel does). A, B, C of one
    8-bit type, NumPy broadcasting; absent zero points 0."""

    roles = _QLinearAdd.roles

    def compute(self, *args: Any) -> tuple[np.ndarray, Any]:
        node = self.onnx_node
        a, sa, za, b, sb, zb, sc, zc = args
        a, b = _eight_bit(node, "A", a), _eight_bit(node, "B", b)
        dtype = _same_type(node, ("A", "B"), (a, b))
        sa, za = _pair(node, a, ("A_scale", "A_zero_point"), sa, za)
        sb, zb = _pair(node, b, ("B_scale", "B_zero_point"), sb, zb)
        sc, zc = _scale(node, "C_scale", sc), _zero(node, "C_zero_point", zc, "A", dtype)
        try:
            product = (a.astype(np.int32) - np.int32(za)) * (b.astype(np.int32) - np.int32(zb))
        except ValueError:
            raise refuse(
                node, f"inputs 'A', 'B': shapes {a.shape} and {b.shape} do not broadcast"
            ) from None
        m = (_F32(sa) * _F32(sb)) / _F32(sc)
        with np.errstate(over="ignore", invalid="ignore"):
            return _cvt(product.astype(_F32) * m + _F32(zc), dtype), None


def _global_average(
    node: Node, x: np.ndarray, sx: Any, zx: Any, sy: Any, zy: Any, channels_last: bool
) -> np.ndarray:
    """QLinearGlobalAveragePool's computation (``_QLinearGlobalAveragePool``)."""
    axes = tuple(range(1, x.ndim - 1)) if channels_last else tuple(range(2, x.ndim))
    size = math.prod(x.shape[a] for a in axes)
    m = _F32(sx) / (_F32(sy) * _F32(size))
    if size >= 1 << 24 or not 2.0**-32 <= m < 256:
        raise refuse(
            node,
            f"input 'X': {size} positions and scale ratio {m}: expected fewer than 2^24 and "
            "a ratio x_scale / (y_scale · positions) in [2^-32, 256) (onnxruntime's range)",
        )
    total = x.astype(np.int64).sum(axis=axes, keepdims=True) - int(zx) * size
    return _cvt(_wrap32(total).astype(_F32) * m, x.dtype, zy)


class _QLinearGlobalAveragePool(_Contrib):
    """QLinearGlobalAveragePool: Y[n, c] = cvt(float32(Σ_i X[n, c, i] − x_zp·S) · m) + y_zp
    over the S spatial positions, m = x_scale / (y_scale · float32(S)) in float32; the sum is
    exact (int32, as onnxruntime's). X (N, C, *spatial), or with channels_last (N, *spatial,
    C); Y keeps X's rank with the spatial axes 1. As onnxruntime, refused where S ≥ 2²⁴ or
    m lies outside [2⁻³², 256)."""

    roles = ("X", "x_scale", "x_zero_point", "y_scale", "y_zero_point")

    def __init__(self, node: Node, operands: Sequence[Operand], channels_last: bool) -> None:
        super().__init__(node, operands)
        self.channels_last = channels_last

    def compute(self, *args: Any) -> tuple[np.ndarray, Any]:
        node = self.onnx_node
        x, sx, zx, sy, zy = args
        x = _eight_bit(node, "X", x)
        if x.ndim < 3:
            raise refuse(
                node, f"input 'X': expected rank 3 or more (N, C, *spatial), got {x.shape}"
            )
        sx, zx = _pair(node, x, ("x_scale", "x_zero_point"), sx, zx)
        sy, zy = _scale(node, "y_scale", sy), _zero(node, "y_zero_point", zy, "X", x.dtype)
        return _global_average(node, x, sx, zx, sy, zy, self.channels_last), None

    def extra_repr(self) -> str:
        """The op type and the layout."""
        return f"onnx_op={self.onnx_op!r}, channels_last={self.channels_last}"


class _QLinearAveragePool(_Contrib):
    """QLinearAveragePool over 1, 2 or 3 spatial axes, as onnxruntime's kernel: each value
    dequantized to float32(x_scale·(X − x_zp)), each window's values summed in float32 in
    row-major order over the window, the sum divided by its count (the window's positions
    inside X, or with count_include_pad the kernel's size), then Y = rint(float32(mean /
    y_scale) + y_zp) saturated. The window at output i of an axis covers [s·i − p_begin,
    s·i − p_begin + k) ∩ [0, size); there are ⌊(size + p_begin + p_end − k)/s⌋ + 1 outputs.
    A window covering all of X without padding is QLinearGlobalAveragePool's computation (and
    its range), as in onnxruntime. X (N, C, *spatial), or with channels_last (N, *spatial, C)."""

    roles = ("X", "x_scale", "x_zero_point", "y_scale", "y_zero_point")

    def __init__(
        self,
        node: Node,
        operands: Sequence[Operand],
        geo: tuple[list[int], list[int], list[int]],
        include_pad: bool,
        channels_last: bool,
    ) -> None:
        super().__init__(node, operands)
        self.kernel, self.strides, self.pads = geo
        self.include_pad, self.channels_last = include_pad, channels_last

    def compute(self, *args: Any) -> tuple[np.ndarray, Any]:
        node = self.onnx_node
        x, sx, zx, sy, zy = args
        x = _eight_bit(node, "X", x)
        n = len(self.kernel)
        if x.ndim != n + 2:
            raise refuse(
                node, f"input 'X': expected {n} spatial axes (kernel_shape), got {x.shape}"
            )
        sx, zx = _pair(node, x, ("x_scale", "x_zero_point"), sx, zx)
        sy, zy = _scale(node, "y_scale", sy), _zero(node, "y_zero_point", zy, "X", x.dtype)
        if self.channels_last:
            x = np.moveaxis(x, -1, 1)
        sizes = x.shape[2:]
        if list(sizes) == self.kernel and not any(self.pads):
            y = _global_average(node, x, sx, zx, sy, zy, False)
        else:
            y = self._windows(node, x, sx, zx, sy, zy, sizes)
        return (np.moveaxis(y, 1, -1) if self.channels_last else y), None

    def _windows(
        self, node: Node, x: np.ndarray, sx: Any, zx: Any, sy: Any, zy: Any, sizes: Any
    ) -> np.ndarray:
        n = len(self.kernel)
        begins, ends = self.pads[:n], self.pads[n:]
        extents = [
            _pool_extent(m, k, s, 1, b, e, False)
            for m, b, e, k, s in zip(sizes, begins, ends, self.kernel, self.strides)
        ]
        outs = [out for out, _ in extents]
        if min(outs) < 1:
            raise refuse(node, f"input 'X': spatial sizes {sizes} smaller than the window")
        v = _dequantize(x, sx, zx)
        # zeros around X: adding 0.0 leaves a float sum as it is, so a window's clipped part
        # adds nothing, as in onnxruntime's loop over the window's positions inside X
        after = [max(0, read - b - m) for (_, read), b, m in zip(extents, begins, sizes)]
        v = np.pad(v, [(0, 0), (0, 0), *zip(begins, after)])
        total = np.zeros((*x.shape[:2], *outs), _F32)
        for tap in np.ndindex(*self.kernel):  # row-major over the window: onnxruntime's order
            window = tuple(
                slice(t, t + s * (o - 1) + 1, s) for t, s, o in zip(tap, self.strides, outs)
            )
            total = total + v[(slice(None), slice(None)) + window]
        if self.include_pad:
            count = np.asarray(_F32(math.prod(self.kernel)))
        else:
            count = np.ones((1,) * n, _F32)
            for i in range(n):
                start = np.arange(outs[i]) * self.strides[i] - begins[i]
                inside = np.minimum(start + self.kernel[i], sizes[i]) - np.maximum(start, 0)
                count = count * inside.reshape([-1 if j == i else 1 for j in range(n)])
            count = count.astype(_F32)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            mean = total / count
            return _cvt((mean / _F32(sy)).astype(_F32) + _F32(zy), x.dtype)

    def extra_repr(self) -> str:
        """The op type and the window."""
        return (
            f"onnx_op={self.onnx_op!r}, kernel_shape={self.kernel}, strides={self.strides}, "
            f"pads={self.pads}, count_include_pad={self.include_pad}, "
            f"channels_last={self.channels_last}"
        )


class _QGemm(_Contrib):
    """QGemm: acc = α-free integer Gemm Σ_k (A[m, k] − a_zp)(B[k, n] − b_zp[n]) + C[m, n]
    (int32, wrapped; A, B transposed first by transA, transB; C int32 of shape (), (1,),
    (N,), (1, N), (M, 1) or (M, N)), then with s[n] = float32((α·a_scale)·b_scale[n]):
    without y_scale, Y = float32(acc)·s[n], float32; with y_scale and y_zero_point,
    Y = cvt(float32(acc)·(s[n] / y_scale)) + y_zp, of A's type. A (M, K) uint8 with B uint8
    or int8, or A int8 with B int8; b's scale and zero point per tensor or per column (N,)."""

    roles = (
        "A",
        "a_scale",
        "a_zero_point",
        "B",
        "b_scale",
        "b_zero_point",
        "C",
        "y_scale",
        "y_zero_point",
    )

    def __init__(
        self, node: Node, operands: Sequence[Operand], alpha: float, trans_a: int, trans_b: int
    ) -> None:
        super().__init__(node, operands)
        self.alpha, self.trans_a, self.trans_b = alpha, trans_a, trans_b

    def compute(self, *args: Any) -> tuple[np.ndarray, Any]:
        node = self.onnx_node
        a, sa, za, b, sb, zb, c, sy, zy = args
        a, b = _eight_bit(node, "A", a), _eight_bit(node, "B", b)
        if a.dtype == np.int8 and b.dtype != np.int8:
            raise refuse(node, f"input 'B': expected int8 with an int8 A, got {b.dtype}")
        if a.ndim != 2 or b.ndim != 2:
            raise refuse(node, f"inputs 'A', 'B': expected 2-D, got {a.shape} and {b.shape}")
        a = a.T if self.trans_a else a
        b = b.T if self.trans_b else b
        (M, K), (K2, N) = a.shape, b.shape
        if K != K2:
            raise refuse(node, f"inputs 'A', 'B': {a.shape} @ {b.shape} (after transA, transB)")
        if K == 0:
            raise refuse(node, "inputs 'A', 'B': expected K ≥ 1, got an empty inner axis")
        sa = _scale(node, "a_scale", sa)
        za = _zero(node, "a_zero_point", za, "A", a.dtype)
        sb = _scale(node, "b_scale", sb, N, "per column of B")
        zb = _zero(node, "b_zero_point", zb, "B", b.dtype, N, "per column of B")
        acc = (a.astype(np.float64) - float(za)) @ (b.astype(np.float64) - zb.astype(np.float64))
        if c is not None:
            c = np.asarray(c)
            if c.dtype != np.int32 or c.shape not in ((), (1,), (N,), (1, N), (M, 1), (M, N)):
                raise refuse(
                    node,
                    f"input 'C': expected int32 of shape (), (N,), (1, N), (M, 1) or (M, N) with "
                    f"M={M}, N={N}, got {c.dtype} {c.shape}",
                )
            acc = acc + c.astype(np.float64)
        s = (_F32(self.alpha) * _F32(sa)) * sb.astype(_F32)
        total = _wrap32(acc).astype(_F32)
        if sy is None:
            if zy is not None:
                raise refuse(node, "input 'y_zero_point': given without y_scale")
            return (total * s).astype(_F32), None
        sy = _scale(node, "y_scale", sy)
        if zy is None:  # onnxruntime: float output, the scale divided by y_scale
            return (total * (s / _F32(sy))).astype(_F32), None
        zy = _zero(node, "y_zero_point", zy, "A", a.dtype)
        return _clamped(total * (s / _F32(sy)), a.dtype, zy), None

    def extra_repr(self) -> str:
        """The op type and the Gemm attributes."""
        return (
            f"onnx_op={self.onnx_op!r}, alpha={self.alpha}, transA={self.trans_a}, "
            f"transB={self.trans_b}"
        )


class _QLinearConcat(_Contrib):
    """QLinearConcat: Y = concat(Y_i, axis), Y_i = X_i where its scale and zero point equal
    Y's, else saturate(rint(float32(x_scale_i·(X_i − x_zp_i)) / y_scale) + y_zp) (each value
    through onnxruntime's table). Operands: Y_scale, Y_zero_point, then (X_i, x_scale_i,
    x_zero_point_i) per input, all of Y_zero_point's 8-bit type."""

    roles = ("Y_scale", "Y_zero_point")

    def __init__(self, node: Node, operands: Sequence[Operand], axis: int) -> None:
        super().__init__(node, operands)
        self.axis = axis

    def compute(self, *args: Any) -> tuple[np.ndarray, Any]:
        node = self.onnx_node
        sy = _scale(node, "Y_scale", args[0])
        zy = np.asarray(args[1])
        if zy.dtype not in _EIGHT_BIT or zy.size != 1:
            raise refuse(node, f"input 'Y_zero_point': expected one uint8 or int8, got {zy!r}")
        zy = zy.reshape(())
        parts = []
        for i in range(2, len(args), 3):
            k = (i - 2) // 3
            x = _eight_bit(node, f"X[{k}]", args[i])
            if x.dtype != zy.dtype:
                raise refuse(node, f"input 'X[{k}]': expected {zy.dtype}, got {x.dtype}")
            sx = _scale(node, f"x_scale[{k}]", args[i + 1])
            zx = _zero(node, f"x_zero_point[{k}]", args[i + 2], f"X[{k}]", x.dtype)
            if sx == _F32(sy) and zx == zy:
                parts.append(x)
            else:
                parts.append(_quantize(_dequantize(x, sx, zx), sy, zy))
        ranks = {p.ndim for p in parts}
        if len(ranks) != 1:
            raise refuse(node, f"inputs: expected one rank, got shapes {[p.shape for p in parts]}")
        axis = _axis(node, "attribute 'axis'", self.axis, max(parts[0].ndim, 1))
        try:
            return np.concatenate(parts, axis=axis), None
        except ValueError:
            raise refuse(
                node, f"inputs: shapes {[p.shape for p in parts]} do not concatenate on {axis}"
            ) from None

    def extra_repr(self) -> str:
        """The op type and the axis."""
        return f"onnx_op={self.onnx_op!r}, axis={self.axis}"


class _QLinearLeakyRelu(_Contrib):
    """QLinearLeakyRelu: Y = quantize(v ≥ 0 ? v : α·v) of v = float32(X_scale·(X − X_zp)),
    quantize(u) = saturate(rint(u / Y_scale) + Y_zp), α·v in float32 (onnxruntime's table).
    X, Y of one 8-bit type."""

    roles = ("X", "X_scale", "X_zero_point", "Y_scale", "Y_zero_point")

    def __init__(self, node: Node, operands: Sequence[Operand], alpha: float) -> None:
        super().__init__(node, operands)
        self.alpha = alpha

    def compute(self, *args: Any) -> tuple[np.ndarray, Any]:
        node = self.onnx_node
        x, sx, zx, sy, zy = args
        x = _eight_bit(node, "X", x)
        sx, zx = _pair(node, x, ("X_scale", "X_zero_point"), sx, zx)
        sy, zy = _scale(node, "Y_scale", sy), _zero(node, "Y_zero_point", zy, "X", x.dtype)
        v = _dequantize(x, sx, zx)
        v = np.where(v >= 0, v, _F32(self.alpha) * v).astype(_F32)
        return _quantize(v, sy, zy), None

    def extra_repr(self) -> str:
        """The op type and the slope."""
        return f"onnx_op={self.onnx_op!r}, alpha={self.alpha}"


#: MLAS's logistic: the rational approximation (odd numerator of degree 9, even denominator
#: of degree 10 in x, x clipped to ±18) that Eigen uses, its coefficients as float32
_LOGISTIC_P = (4.37031012579801e-11, 1.15627324459942e-07, 6.08574864600143e-05,
               8.51377133304701e-03, 2.48287947061529e-01)  # fmt: skip
_LOGISTIC_Q = (6.10247389755681e-13, 5.76102136993427e-09, 6.29106785017040e-06,
               1.70198817374094e-03, 1.16817656904453e-01, 9.93151921023180e-01)  # fmt: skip


def _logistic32(v: np.ndarray) -> np.ndarray:
    """σ(v) as onnxruntime's x86-64 (FMA3) kernel: x = clip(v, −18, 18), p = x·P(x²),
    q = Q(x²) by Horner's rule with fused multiply-adds, σ = clip(p/q + ½, 0, 1), float32."""
    x = np.clip(np.asarray(v, _F32), _F32(-18), _F32(18))
    x2 = x * x
    p = _fma32(x2, _F32(_LOGISTIC_P[0]), _F32(_LOGISTIC_P[1]))
    for c in _LOGISTIC_P[2:]:
        p = _fma32(p, x2, _F32(c))
    p = p * x
    q = _fma32(x2, _F32(_LOGISTIC_Q[0]), _F32(_LOGISTIC_Q[1]))
    for c in _LOGISTIC_Q[2:]:
        q = _fma32(q, x2, _F32(c))
    return np.clip(p / q + _F32(0.5), _F32(0), _F32(1)).astype(_F32)


class _QLinearSigmoid(_Contrib):
    """QLinearSigmoid: Y = quantize(σ(float32(X_scale·(X − X_zp)))), σ MLAS's float32 rational
    approximation of the logistic (``_logistic32``), quantize(u) = saturate(rint(u / Y_scale)
    + Y_zp). X, Y of one 8-bit type."""

    roles = _QLinearLeakyRelu.roles

    def compute(self, *args: Any) -> tuple[np.ndarray, Any]:
        node = self.onnx_node
        x, sx, zx, sy, zy = args
        x = _eight_bit(node, "X", x)
        sx, zx = _pair(node, x, ("X_scale", "X_zero_point"), sx, zx)
        sy, zy = _scale(node, "Y_scale", sy), _zero(node, "Y_zero_point", zy, "X", x.dtype)
        return _quantize(_logistic32(_dequantize(x, sx, zx)), sy, zy), None


class _QLinearSoftmax(_Contrib):
    """QLinearSoftmax as onnxruntime's kernel: along the reduced axis of length D (opset < 13:
    the flattened axes from ``axis`` on; 13 on: ``axis`` alone), with b = max(0, ln(F/D) − 5)
    / x_scale (F float32's largest; F/D and its log in float32) each value's weight is
    e_k = float32(exp((b − k)·x_scale)) in double, k = max(X) − X along the axis (a table of
    256); s = Σ e_k summed in float32 in order; Y = saturate(rint((e_k / s) · ⌊1/y_scale⌋)
    + y_zp), float32. The zero point of X cancels (a softmax ignores a shift). The order
    (e_k / s) · ⌊1/y_scale⌋ is the one that matched onnxruntime 1.32 on 546 000 fuzzed values
    (e_k · ⌊1/y_scale⌋ / s did not); e_k · (⌊1/y_scale⌋ / s) matched them too."""

    roles = _QLinearLeakyRelu.roles

    def __init__(self, node: Node, operands: Sequence[Operand], axis: int, opset: int) -> None:
        super().__init__(node, operands)
        self.axis, self.opset = axis, opset

    def compute(self, *args: Any) -> tuple[np.ndarray, Any]:
        node = self.onnx_node
        x, sx, zx, sy, zy = args
        x = _eight_bit(node, "X", x)
        sx, sy = _scale(node, "X_scale", sx), _scale(node, "Y_scale", sy)
        _zero(node, "X_zero_point", zx, "X", x.dtype)  # checked only: a softmax ignores a shift
        zy = _zero(node, "Y_zero_point", zy, "X", x.dtype)
        if x.size == 0:
            return x.copy(), None
        axis = _axis(node, "attribute 'axis'", self.axis, max(x.ndim, 1))
        if self.opset < 13:  # the axes from ``axis`` on, flattened
            rows = x.reshape(math.prod(x.shape[:axis]), -1)
        else:
            rows = np.moveaxis(x, axis, -1)
        D = rows.shape[-1]
        shift = float(np.log(np.finfo(_F32).max / _F32(D)))  # in float32, as the kernel's
        shift = max(0.0, shift - 5) / float(sx)
        table = np.array([math.exp((i - 255 + shift) * float(sx)) for i in range(256)])
        k = rows.max(axis=-1, keepdims=True).astype(np.int64) - rows.astype(np.int64)
        e = table.astype(_F32)[255 - k]
        total = np.cumsum(e, axis=-1, dtype=_F32)[..., -1:]  # in order, as the kernel's loop
        levels = _F32(np.floor(_F32(1) / _F32(sy)))
        with np.errstate(over="ignore", invalid="ignore"):
            v = np.rint((e / total) * levels)
        y = _saturate(np.clip(v, -(2.0**31), 2.0**31) + float(zy), x.dtype)
        if self.opset < 13:
            return y.reshape(x.shape), None
        return np.moveaxis(y, -1, axis), None

    def extra_repr(self) -> str:
        """The op type, the axis and the opset whose semantics it follows."""
        return f"onnx_op={self.onnx_op!r}, axis={self.axis}, opset={self.opset}"


# ---------------------------------------------------------------------------------------------
# Converters: each also declares its output's element type and shape where known
# (``info["declares"]``), which onnx's shape inference cannot tell for com.microsoft's ops.


def _code(info: dict[str, Any], operand: Operand) -> int | None:
    """The ONNX element type of an operand where known (a constant's, or a value's)."""
    if isinstance(operand, Const):
        return _QUANT_CODES.get(np.dtype(operand.value.dtype))
    if isinstance(operand, Ref):
        return info["types"].get(operand.name)
    return None


#: com.microsoft's signatures (not ONNX's, so not in ``signatures.SIGNATURES``): per op its
#: inputs' names in order and those of them that are required
_SIGNATURES = {
    "QLinearAdd": (_QLinearAdd.roles, "A A_scale B B_scale C_scale"),
    "QLinearMul": (_QLinearAdd.roles, "A A_scale B B_scale C_scale"),
    "QLinearGlobalAveragePool": (_QLinearGlobalAveragePool.roles, "X x_scale y_scale"),
    "QLinearAveragePool": (_QLinearAveragePool.roles, "X x_scale y_scale"),
    "QGemm": (_QGemm.roles, "A a_scale a_zero_point B b_scale b_zero_point"),
    "QLinearLeakyRelu": (_QLinearLeakyRelu.roles, "X X_scale Y_scale"),
    "QLinearSigmoid": (_QLinearSigmoid.roles, "X X_scale Y_scale"),
    "QLinearSoftmax": (_QLinearSoftmax.roles, "X X_scale Y_scale"),
}


def _checked(node: Node, ins: Sequence[Operand]) -> list[Operand]:
    """The node's inputs, one per name of its signature (absent ones None); refused when it
    lists more, or lacks a required one, naming it."""
    names, required = _SIGNATURES[node.op_type]
    if len(ins) > len(names):
        raise refuse(
            node, f"inputs: expected at most {len(names)} ({', '.join(names)}), got {len(ins)}"
        )
    padded = [*ins, *[None] * (len(names) - len(ins))]
    for name in required.split():
        if padded[names.index(name)] is None:
            raise refuse(node, f"input {name!r}: expected a value (it is required), got none")
    return padded


def _declare(info: dict[str, Any], code: int | None, shape: tuple[Any, ...] | None) -> None:
    info["declares"] = (code, shape)


def _broadcast(info: dict[str, Any], a: Operand, b: Operand) -> tuple[Any, ...] | None:
    """The broadcast shape of a and b where both are known (None per unknown axis)."""
    sa, sb = _shape(info, a), _shape(info, b)
    if sa is None or sb is None:
        return None
    n = max(len(sa), len(sb))
    sa, sb = (1,) * (n - len(sa)) + tuple(sa), (1,) * (n - len(sb)) + tuple(sb)
    return tuple(y if x == 1 else x if y == 1 else (x if x == y else None) for x, y in zip(sa, sb))


def qlinear_binary(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """QLinearAdd (``_QLinearAdd``) and QLinearMul (``_QLinearMul``)."""
    ins = _checked(node, ins)
    operands = _constants(node, info, ins, _QLinearAdd.roles, [(0, 2), (3, 5)])
    cls = _QLinearAdd if node.op_type == "QLinearAdd" else _QLinearMul
    _declare(info, _code(info, ins[7]) or _code(info, ins[0]), _broadcast(info, ins[0], ins[3]))
    return _generic(cls(node, operands), operands)


def qlinear_global_average_pool(
    node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]
) -> Built:
    """QLinearGlobalAveragePool (``_QLinearGlobalAveragePool``)."""
    ins = _checked(node, ins)
    last = int(attrs.get("channels_last", 0))
    if last not in (0, 1):
        raise refuse(node, f"attribute 'channels_last': expected 0 or 1, got {last}")
    operands = _constants(node, info, ins, _QLinearGlobalAveragePool.roles, [(0, 2)])
    shape = _shape(info, ins[0])
    if shape is not None and len(shape) >= 3:
        keep = (0, len(shape) - 1) if last else (0, 1)
        shape = tuple(d if i in keep else 1 for i, d in enumerate(shape))
    _declare(info, _code(info, ins[4]) or _code(info, ins[0]), shape)
    return _generic(_QLinearGlobalAveragePool(node, operands, bool(last)), operands)


def qlinear_average_pool(
    node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]
) -> Built:
    """QLinearAveragePool (``_QLinearAveragePool``): auto_pad NOTSET or VALID, ceil_mode 0,
    dilations 1; the others refused by name."""
    kernel = attrs.ints("kernel_shape", None)
    if not kernel or len(kernel) > 3 or min(kernel) < 1:
        raise refuse(node, f"attribute 'kernel_shape': expected 1 to 3 sizes >= 1, got {kernel}")
    n = len(kernel)
    strides = attrs.ints("strides", [1] * n) or [1] * n
    pads = attrs.ints("pads", [0] * 2 * n) or [0] * 2 * n
    dilations = attrs.ints("dilations", [1] * n) or [1] * n
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "VALID"):
        raise refuse(node, f"attribute 'auto_pad': expected NOTSET or VALID, got {auto_pad!r}")
    if int(attrs.get("ceil_mode", 0)):
        raise refuse(node, "attribute 'ceil_mode': only 0 is supported")
    if dilations != [1] * n:
        raise refuse(node, f"attribute 'dilations': only 1s are supported, got {dilations}")
    if len(strides) != n or min(strides) < 1 or len(pads) != 2 * n or min(pads) < 0:
        raise refuse(
            node,
            f"attributes 'strides', 'pads': expected {n} strides >= 1 and {2 * n} pads >= 0, "
            f"got {strides} and {pads}",
        )
    if auto_pad == "VALID":
        pads = [0] * 2 * n
    include = int(attrs.get("count_include_pad", 0))
    last = int(attrs.get("channels_last", 0))
    if include not in (0, 1) or last not in (0, 1):
        raise refuse(
            node,
            f"attributes 'count_include_pad', 'channels_last': expected 0 or 1, got "
            f"{include} and {last}",
        )
    ins = _checked(node, ins)
    operands = _constants(node, info, ins, _QLinearAveragePool.roles, [(0, 2)])
    _declare(info, _code(info, ins[4]) or _code(info, ins[0]), None)
    module = _QLinearAveragePool(node, operands, (kernel, strides, pads), bool(include), bool(last))
    return _generic(module, operands)


def qgemm(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """QGemm (``_QGemm``); beta is not an attribute of QGemm (C is added as given)."""
    ins = _checked(node, ins)
    alpha = float(attrs.get("alpha", 1.0))
    trans_a, trans_b = int(attrs.get("transA", 0)), int(attrs.get("transB", 0))
    for name, v in (("transA", trans_a), ("transB", trans_b)):
        if v not in (0, 1):
            raise refuse(node, f"attribute {name!r}: expected 0 or 1, got {v}")
    operands = _constants(node, info, ins, _QGemm.roles, [(0, 2), (3, 5)])
    sa, sb = _shape(info, ins[0]), _shape(info, ins[3])
    for name, r in (("A", _rank(info, ins[0])), ("B", _rank(info, ins[3]))):
        if r is not None and r != 2:
            raise refuse(node, f"input {name!r}: expected a 2-D matrix, got rank {r}")
    shape = None
    if sa is not None and sb is not None:
        shape = (sa[1 if trans_a else 0], sb[0 if trans_b else 1])
    code = 1 if ins[7] is None or ins[8] is None else (_code(info, ins[8]) or _code(info, ins[0]))
    _declare(info, code, shape)
    return _generic(_QGemm(node, operands, alpha, trans_a, trans_b), operands)


def qlinear_concat(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """QLinearConcat (``_QLinearConcat``): at least one (X, x_scale, x_zero_point) triple."""
    if not attrs.has("axis"):
        raise refuse(node, "attribute 'axis' is required")
    axis = int(attrs.get("axis"))
    if len(ins) < 5 or (len(ins) - 2) % 3 or any(o is None for o in ins):
        raise refuse(
            node,
            f"inputs: expected Y_scale, Y_zero_point, then (X, x_scale, x_zero_point) per input, "
            f"none empty, got {len(ins)} inputs",
        )
    names = ["Y_scale", "Y_zero_point"]
    for k in range((len(ins) - 2) // 3):
        names += [f"X[{k}]", f"x_scale[{k}]", f"x_zero_point[{k}]"]
    operands = _constants(node, info, ins, names)
    shapes = [_shape(info, ins[i]) for i in range(2, len(ins), 3)]
    shape = None
    if all(s is not None for s in shapes) and len({len(s) for s in shapes}) == 1:  # type: ignore[arg-type]
        rank = len(shapes[0])  # type: ignore[arg-type]
        a = _axis(node, "attribute 'axis'", axis, max(rank, 1))
        sizes = [s[a] for s in shapes]  # type: ignore[index]
        total = sum(sizes) if None not in sizes else None
        shape = tuple(total if i == a else d for i, d in enumerate(shapes[0]))  # type: ignore[arg-type]
    _declare(info, _code(info, ins[1]), shape)
    return _generic(_QLinearConcat(node, operands, axis), operands)


def qlinear_leaky_relu(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """QLinearLeakyRelu (``_QLinearLeakyRelu``)."""
    alpha = float(attrs.get("alpha", 0.01))
    ins = _checked(node, ins)
    operands = _constants(node, info, ins, _QLinearLeakyRelu.roles, [(0, 2)])
    _declare(info, _code(info, ins[4]) or _code(info, ins[0]), _shape(info, ins[0]))
    return _generic(_QLinearLeakyRelu(node, operands, alpha), operands)


def qlinear_sigmoid(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """QLinearSigmoid (``_QLinearSigmoid``)."""
    ins = _checked(node, ins)
    operands = _constants(node, info, ins, _QLinearSigmoid.roles, [(0, 2)])
    _declare(info, _code(info, ins[4]) or _code(info, ins[0]), _shape(info, ins[0]))
    return _generic(_QLinearSigmoid(node, operands), operands)


def qlinear_softmax(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """QLinearSoftmax (``_QLinearSoftmax``): its ``opset`` attribute (required) picks
    Softmax's semantics before or from opset 13; ``axis`` defaults to −1 at every opset, as
    onnxruntime reads it (ONNX's Softmax before opset 13 defaults to 1)."""
    ins = _checked(node, ins)
    if not attrs.has("opset"):
        raise refuse(node, "attribute 'opset' is required")
    opset = int(attrs.get("opset"))
    axis = int(attrs.get("axis", -1))
    operands = _constants(node, info, ins, _QLinearSoftmax.roles, [(0, 4)])
    _declare(info, _code(info, ins[4]) or _code(info, ins[0]), _shape(info, ins[0]))
    return _generic(_QLinearSoftmax(node, operands, axis, opset), operands)


#: com.microsoft's op types read here (opset 1 of that domain), with their converters.
MICROSOFT = {
    "QLinearAdd": qlinear_binary,
    "QLinearMul": qlinear_binary,
    "QLinearGlobalAveragePool": qlinear_global_average_pool,
    "QLinearAveragePool": qlinear_average_pool,
    "QGemm": qgemm,
    "QLinearConcat": qlinear_concat,
    "QLinearLeakyRelu": qlinear_leaky_relu,
    "QLinearSigmoid": qlinear_sigmoid,
    "QLinearSoftmax": qlinear_softmax,
}

__all__ = ["MICROSOFT"]
