"""The quantized operator-format ops (onnxruntime's "QOperator" files, the ONNX model zoo's
int8 models): QLinearConv and QLinearMatMul (8-bit in, 8-bit out), ConvInteger and
MatMulInteger (8-bit in, int32 out), DynamicQuantizeLinear (float in, uint8 out with the
scale and zero point it chose). Inference only: every value they read or write but
DynamicQuantizeLinear's x is an integer or a fixed quantization constant.

The integer accumulation Σ (x − x_zero_point)(w − w_zero_point) is exact: it is computed by
cnnmath's float32 ``ops.conv2d`` / ``ops.conv3d`` / ``np.matmul`` (BLAS's sgemm) on the
shifted values, each product at most 255² < 2¹⁶ in magnitude, in chunks of the reduction
small enough that every partial sum is an integer of magnitude ≤ 2²⁴ — exactly
representable — bounded by max|x| times the filter's L1 norm (see "The integer products");
float64 (exact below 2⁵³, fewer than 2³⁷ terms; refused beyond) where one input channel's
kernel alone passes that bound. It is wrapped to int32 as ONNX allows ("accumulation may
overflow if and only if in 32 bits"), the chunks added in int32.

Requantisation, as onnxruntime's CPU kernels (MLAS) compute it, in float32:
m = (x_scale · w_scale) / y_scale, y = saturate(rint(float32(acc) · m) + y_zero_point), the
rounding half to even.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import ops
from .._checks import FUNC
from ._attributes import Attrs
from ._convert import Built, _generic, _plain, _rank, _shape
from ._module import _Op
from ._node import Const, Node, Operand, refuse
from ._types import _CAST_TYPES
from .conv import _check_kernel_shape, _geometry, _pad_pairs
from .quantize import _QUANTIZED, _element_type, _saturate, _type_name

_EIGHT_BIT = (np.dtype(np.uint8), np.dtype(np.int8))
#: the most terms a float64 sum of 8-bit products holds exactly (each below 2^16)
_MAX_TERMS = 1 << 37
#: float32 holds every integer of magnitude up to 2^24 exactly
_F32_EXACT = float(1 << 24)


# ---------------------------------------------------------------------------------------------
# Checks of the operands, when the node runs (the values may be run-time inputs)


def _eight_bit(node: Node, name: str, v: Any) -> np.ndarray:
    """Input ``name``: a uint8 or int8 array."""
    v = np.asarray(v)
    if v.dtype not in _EIGHT_BIT:
        raise refuse(node, f"input {name!r}: expected uint8 or int8 values, got {v.dtype}")
    return v


def _per(node: Node, name: str, v: np.ndarray, n: int | None, what: str) -> np.ndarray:
    """``v`` as a scalar (one value) or, with ``n``, a 1-D (n,) array (``what`` says along
    which axis); refused otherwise, naming the input and the shapes."""
    if v.size == 1 and v.ndim <= 1:
        return v.reshape(())
    if n is not None and v.shape == (n,):
        return v
    want = "a scalar" if n is None else f"a scalar (per tensor) or shape ({n},) ({what})"
    raise refuse(node, f"input {name!r}: expected {want}, got shape {v.shape}")


def _scale(node: Node, name: str, v: Any, n: int | None = None, what: str = "") -> np.ndarray:
    """A scale: float32 (float64 accepted, as ``Module.to`` leaves it; read as float32, the
    type onnxruntime computes in), finite and positive, per tensor or (n,)."""
    v = np.asarray(v)
    if v.dtype not in (np.float32, np.float64):
        raise refuse(node, f"input {name!r}: expected float32 values, got {v.dtype}")
    return _positive(node, name, _per(node, name, v, n, what).astype(np.float32))


def _positive(node: Node, name: str, v: np.ndarray) -> np.ndarray:
    """``v`` itself, refused unless every value is finite and positive (a scale)."""
    bad = ~(np.isfinite(v) & (v > 0))
    if bad.any():
        raise refuse(
            node,
            f"input {name!r}: expected finite positive scales, got {np.ravel(v)[np.ravel(bad)][0]}",
        )
    return v


def _zero(
    node: Node, name: str, v: Any, of: str, dtype: np.dtype, n: int | None = None, what: str = ""
) -> np.ndarray:
    """A zero point of the type of the value it shifts (input ``of``, ``dtype``), per tensor or
    (n,); absent (None): 0."""
    if v is None:
        return np.zeros((), dtype)
    v = np.asarray(v)
    if v.dtype != dtype:
        raise refuse(node, f"input {name!r}: expected {of}'s type {dtype}, got {v.dtype}")
    return _per(node, name, v, n, what)


def _wrap32(acc: np.ndarray) -> np.ndarray:
    """An exact integer-valued float64 accumulation as int32, wrapped modulo 2³² as a 32-bit
    accumulator would (ONNX lets the accumulation overflow only so)."""
    return acc.astype(np.int64).astype(np.int32)


def _requantize(
    acc: np.ndarray,
    multiplier: np.ndarray,
    zero: np.ndarray,
    dtype: np.dtype,
    overwrite: bool = False,
) -> np.ndarray:
    """y = saturate(rint(float32(acc) · multiplier) + zero) in ``dtype``'s range, the product
    in float32 (onnxruntime's), the rounding half to even; 0 · ∞ (a multiplier that overflowed
    float32, a sum of 0) is NaN, which gives the type's minimum, as QuantizeLinear's NaN.

    In place on one float32 array (each fresh temporary costs a pass and page faults): adding
    the zero point (|zero| ≤ 255) in float32 is exact wherever |rint(...) + zero| ≤ 2²⁴, and
    beyond that float32's rounding is monotone and stays beyond 2²⁴ > 255, so the saturated
    value is the one exact arithmetic gives; fmax(v, min) sends NaN to the minimum. With
    ``overwrite``, a float32 ``acc`` of the result's shape is that array (and is lost)."""
    bounds = np.iinfo(dtype)
    shape = np.broadcast_shapes(np.shape(acc), np.shape(multiplier), np.shape(zero))
    if overwrite and acc.dtype == np.float32 and acc.shape == shape:
        v = acc
    else:
        v = np.empty(shape, np.float32)
        v[...] = acc
    with np.errstate(over="ignore", invalid="ignore"):
        np.multiply(v, multiplier.astype(np.float32), out=v)
    np.rint(v, out=v)
    np.add(v, zero.astype(np.float32), out=v)
    np.fmax(v, np.float32(bounds.min), out=v)
    np.minimum(v, np.float32(bounds.max), out=v)
    return v.astype(dtype)


def _multiplier(a_scale: np.ndarray, b_scale: np.ndarray, y_scale: np.ndarray) -> np.ndarray:
    """(a_scale · b_scale) / y_scale in float32, each step rounded there (onnxruntime's); ∞
    where that overflows float32."""
    with np.errstate(over="ignore"):
        product = a_scale.astype(np.float32) * b_scale.astype(np.float32)
        return product / y_scale.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The integer products
#
# Each term (x − x_zero_point)(w − w_zero_point) is an integer of magnitude at most 255² < 2²⁴,
# so float32 holds it exactly, and BLAS's sgemm (or the float conv engine, which only adds
# such products) adds them exactly as long as every partial sum it forms is an integer of
# magnitude ≤ 2²⁴. Any partial sum of the terms of one output is bounded by the sum of their
# magnitudes, Σ |x_k|·|w_k| ≤ max|x| · Σ |w_k| (the filter's L1 norm), whatever order or
# blocking the product uses. So: one float32 product when max|x| · max L1 ≤ 2²⁴ (trained int8
# filters usually are), else the reduction cut into chunks each within that bound, their
# exact float32 results added in int32 (wrapping modulo 2³², as ONNX lets a 32-bit
# accumulator); float64 (exact below 2⁵³) only where one input channel's kernel alone exceeds it.


def _f32_exact_chunks(bound_per_part: float, parts: int) -> int:
    """How many consecutive parts (input channels, or terms) of the reduction one float32
    product may sum while exact, given the bound on each part's |sum| (0: all of them)."""
    if bound_per_part <= 0:
        return parts
    return min(parts, int(_F32_EXACT // bound_per_part))


def _max_shift(v: np.ndarray, zero: np.ndarray) -> float:
    """max |v − zero| over v (8-bit values, a per-tensor zero point), from v's extremes; 0
    for an empty v."""
    if v.size == 0:
        return 0.0
    z = int(zero)
    return float(max(abs(int(v.max()) - z), abs(int(v.min()) - z)))


def _conv_exact(
    node: Node,
    x: np.ndarray,
    w: np.ndarray,
    xz: np.ndarray,
    wz: np.ndarray,
    geo: dict[str, Any],
    group: int,
    cache: list[Any] | None = None,
) -> np.ndarray:
    """acc[n, m, i] = Σ_{c, k} (x[n, g(m)·C/G + c, s·i + d·k − p] − xz)(w[m, c, k] − wz[m])
    over each group, exactly: x (N, C, *sizes) and w (M, C/G, *kernel) 8-bit, xz per tensor,
    wz per tensor or (M,); the padding (``geo``) adds nothing (x's zero point's place). 1, 2
    or 3 spatial axes (``ops.conv2d`` of height 1, ``ops.conv2d``, ``ops.conv3d``), in
    float32 (exact: see above) or, past that, float64. Returns (N, M, *out): float32 (exact
    integers of magnitude ≤ 2²⁴) where one float32 product held every sum, the caller
    converting; else int32, wrapped modulo 2³². ``cache``: see ``_shifted_weights``."""
    n = x.ndim - 2
    if w.ndim != x.ndim or n != len(geo["strides"]):
        raise refuse(
            node,
            f"inputs 'x', 'w': expected (N, C, *sizes) and (M, C/group, *kernel) of "
            f"{len(geo['strides'])} spatial axes (as read at load), got shapes {x.shape} and "
            f"{w.shape}",
        )
    _check_kernel_shape(node, geo, w.shape)
    M, C_g = w.shape[:2]
    if group < 1 or x.shape[1] != C_g * group or M % group:
        raise refuse(
            node,
            f"attribute 'group': {group} groups need x's {x.shape[1]} channels = group · "
            f"w's {C_g} and w's {M} filters divisible by it",
        )
    if C_g * math.prod(w.shape[2:]) >= _MAX_TERMS:
        raise refuse(node, f"input 'w': {w.shape} sums more terms than float64 holds exactly")
    xs = np.subtract(x, xz.astype(np.float32), dtype=np.float32)
    ws, l1 = _shifted_weights(w, wz, cache)
    bx = _max_shift(x, xz)
    if bx * (l1.sum(axis=1).max() if M else 0.0) <= _F32_EXACT:
        return _conv_float(node, xs, ws, geo, group)
    step = _f32_exact_chunks(bx * float(l1.max()), C_g)
    if step == 0:  # one channel's kernel alone may pass 2²⁴: float64 holds it
        acc = _conv_float(node, xs.astype(np.float64), ws.astype(np.float64), geo, group)
        return _wrap32(acc)
    xg = xs.reshape(x.shape[0], group, C_g, *x.shape[2:])

    def part(c0: int, c1: int) -> np.ndarray:  # input channels [c0, c1) of every group
        xc = xg[:, :, c0:c1].reshape(x.shape[0], group * (c1 - c0), *x.shape[2:])
        return _conv_float(node, xc, np.ascontiguousarray(ws[:, c0:c1]), geo, group)

    return _summed_in_chunks(part, C_g, step)


def _summed_in_chunks(part: Any, total: int, step: int) -> np.ndarray:
    """Σ part(c0, c1) over consecutive chunks [c0, c1) of range(total), as many as ``step``
    gives but of even lengths: each part's exact integers (float) added in int32, wrapping
    modulo 2³² as a 32-bit accumulator."""
    chunks = -(-total // step)
    step = -(-total // chunks)
    out = part(0, min(step, total)).astype(np.int32)
    for c0 in range(step, total, step):  # exact integers below 2²⁴; the int32 sum wraps
        out += part(c0, min(c0 + step, total)).astype(np.int32, copy=False)
    return out


def _shifted_weights(
    w: np.ndarray, wz: np.ndarray, cache: list[Any] | None
) -> tuple[np.ndarray, np.ndarray]:
    """w − wz (wz per tensor or per filter) in float32, read-only, and Σ |w − wz| over each
    filter's kernel per input channel (M, C/G), float64 (exact for any kernel). ``cache``, a
    one-item list a module keeps, holds them with copies of w and wz for the next call, which
    reuses them while its w and wz are equal to those (a compare of 8-bit values costs far
    less than the float32 passes, for a layer of 512×512×3×3 weights some milliseconds)."""
    if cache is not None and cache[0] is not None:
        w0, wz0, ws, l1 = cache[0]
        if w0.shape == w.shape and w0.dtype == w.dtype and wz0.shape == wz.shape:
            if np.array_equal(w0, w) and np.array_equal(wz0, wz):
                return ws, l1
    spatial = (slice(None), *[None] * (w.ndim - 1))
    ws = np.subtract(w, wz.astype(np.float32)[spatial] if wz.ndim else wz, dtype=np.float32)
    taps = math.prod(w.shape[2:])  # (not -1: zero-size weights reach conv's refusal)
    l1 = np.abs(ws).reshape(w.shape[0], w.shape[1], taps).sum(axis=2, dtype=np.float64)
    ws.flags.writeable = False
    if cache is not None:
        cache[0] = (w.copy(), wz.copy(), ws, l1)
    return ws, l1


def _float32_bias(b: np.ndarray) -> bool:
    """Whether an int32 bias B added to float32 accumulators of magnitude ≤ 2²⁴ gives, in one
    float32 addition, float32 of the int32 sum: B a float32 value, and no sum past int32."""
    if not b.size:
        return True
    big = int(np.abs(b.astype(np.int64)).max())
    return big < 2**31 - 2**24 and bool((b.astype(np.float32).astype(np.int32) == b).all())


def _conv_float(
    node: Node, x: np.ndarray, w: np.ndarray, geo: dict[str, Any], group: int
) -> np.ndarray:
    """The grouped correlation of x (N, C, *sizes) and w (M, C/G, *kernel), float, with
    ``geo``'s strides, dilations and padding (zeros): symmetric pads by the conv op itself,
    others made explicit first."""
    n = x.ndim - 2
    pads = _pad_pairs(geo, x.shape[2:], w.shape[2:])
    if all(b == e for b, e in pads):
        padding: tuple[int, ...] = tuple(b for b, _ in pads)
    else:
        x = np.pad(x, [(0, 0), (0, 0), *pads])
        padding = (0,) * n
    try:
        if n == 1:
            s, d = geo["strides"][0], geo["dilations"][0]
            y = ops.conv2d(
                x[:, :, None], w[:, :, None], None, (1, s), (0, padding[0]), (1, d), group
            )
            return np.asarray(y[:, :, 0])
        conv: Any = ops.conv2d if n == 2 else ops.conv3d
        stride, dilation = tuple(geo["strides"]), tuple(geo["dilations"])
        return np.asarray(conv(x, w, None, stride, padding, dilation, group))
    except ValueError as e:
        raise refuse(node, str(e)) from None


def _b_bounds(b: np.ndarray) -> tuple[float, float]:
    """max |b| and the largest L1 norm of a column of b (of b itself when 1-D), float64."""
    if not b.size:
        return 0.0, 0.0
    col = np.abs(b).sum(axis=-2 if b.ndim > 1 else 0, dtype=np.float64)
    return float(max(b.max(), -b.min())), float(np.max(col))


def _matmul_acc(
    node: Node, a: np.ndarray, b: np.ndarray, b_bounds: tuple[float, float] | None = None
) -> np.ndarray:
    """a @ b (NumPy's matmul: batched, broadcast, 1-D operands promoted) of the shifted
    values (float32, each of magnitude ≤ 255), exactly, wrapped to int32: one float32
    product where every sum is bounded by 2²⁴ (max|a| · a column's L1 norm of b, or max|b| ·
    a row's of a), else K cut into the fewest chunks of equal length whose sums stay within it.
    ``b_bounds``: ``_b_bounds(b)``, where the caller kept it."""
    if a.ndim == 0 or b.ndim == 0:
        raise refuse(node, f"inputs: expected at least 1-D a and b, got {a.shape} and {b.shape}")
    K = a.shape[-1]
    if K >= _MAX_TERMS:
        raise refuse(node, f"input 'a': {K} terms per sum, more than float64 holds exactly")
    k_b = -2 if b.ndim > 1 else 0
    if b.shape[k_b] != K:
        raise refuse(node, f"inputs: shapes {a.shape} and {b.shape} do not multiply as matrices")
    amax = float(max(a.max(), -a.min())) if a.size else 0.0
    bmax, bcol = _b_bounds(b) if b_bounds is None else b_bounds
    worst = amax * bcol
    if worst > _F32_EXACT and a.size:  # the other bound, by the rows of a
        worst = min(worst, bmax * float(np.abs(a).sum(axis=-1, dtype=np.float64).max()))
    step = K if worst <= _F32_EXACT else _f32_exact_chunks(amax * bmax, K)
    try:
        if step >= K:
            return np.asarray(np.matmul(a, b)).astype(np.int32)

        def part(k0: int, k1: int) -> np.ndarray:  # terms [k0, k1)
            bk = b[..., k0:k1, :] if b.ndim > 1 else b[k0:k1]
            return np.asarray(np.matmul(a[..., k0:k1], bk))

        return _summed_in_chunks(part, K, step)
    except ValueError:
        raise refuse(
            node, f"inputs: shapes {a.shape} and {b.shape} do not multiply as matrices"
        ) from None


def _rowwise(
    node: Node, name: str, v: np.ndarray, a_shape: tuple[int, ...], axis: int
) -> np.ndarray:
    """A QLinearMatMul / MatMulInteger scale or zero point shaped to broadcast against the
    product: per tensor (a scalar), per row of a (``axis`` −2: a's shape with K → 1, or (M,)
    for a 2-D a) or per column of b (``axis`` −1: b's shape with K → 1, or (N,))."""
    if v.size == 1 and v.ndim <= 1:
        return v.reshape(())
    r = len(a_shape)
    if r >= 2:
        n = a_shape[axis]
        if v.shape == (n,) and (r == 2 or axis == -1):
            return v.reshape((n, 1) if axis == -2 else (n,))
        keep = list(a_shape)
        keep[-1 if axis == -2 else -2] = 1
        if v.shape == tuple(keep):
            return v
        want = f"a scalar, ({n},) or {tuple(keep)}"
    else:
        want = "a scalar (a 1-D operand)"
    side = "per row of a" if axis == -2 else "per column of b"
    raise refuse(node, f"input {name!r}: expected {want} ({side}), got shape {v.shape}")


# ---------------------------------------------------------------------------------------------
# The ops


class _Integer(_Op):
    """Common to the integer ops: no gradient. Their inputs are integers or the fixed
    constants of the quantization (as DequantizeLinear's), so nothing before them is trained
    through them; ``backward`` gives None for every operand (zeros to a run-time input)."""

    plain_operands = True  # cnnmath.onnx.save writes it back as read

    def __init__(self, node: Node, operands: Sequence[Operand]) -> None:
        super().__init__(node, operands)
        self._b: list[Any] = [None]  # the matmuls' _kept_b cache

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [None] * len(args)


class _QLinearConv(_Integer):
    """QLinearConv: Y = saturate(rint(acc · x_scale·w_scale[m]/y_scale) + y_zero_point),
    acc[n, m, i] = Σ (x − x_zero_point)(w[m] − w_zero_point[m]) over the window + B[m], the
    convolution (groups, strides, dilations, pads, auto_pad) of Conv in 1, 2 or 3 spatial
    axes. x, w, Y uint8 or int8 (each with its zero point's type); x_scale, y_scale and their
    zero points per tensor; w_scale, w_zero_point per tensor or per output channel (M,);
    B int32 (M,). Y: (N, M, *out) of y_zero_point's type."""

    roles = (
        "x",
        "x_scale",
        "x_zero_point",
        "w",
        "w_scale",
        "w_zero_point",
        "y_scale",
        "y_zero_point",
        "B",
    )

    def __init__(
        self, node: Node, operands: Sequence[Operand], geo: dict[str, Any], group: int
    ) -> None:
        super().__init__(node, operands)
        self.geo, self.group = geo, group
        self._weights: list[Any] = [None]  # _shifted_weights' cache

    def compute(self, *args: Any) -> tuple[np.ndarray, Any]:
        node = self.onnx_node
        x, xs, xz, w, ws, wz, ys, yz, b = args
        x, w = _eight_bit(node, "x", x), _eight_bit(node, "w", w)
        M = w.shape[0] if w.ndim else None
        per = "per output channel"
        xs, ys = _scale(node, "x_scale", xs), _scale(node, "y_scale", ys)
        ws = _scale(node, "w_scale", ws, M, per)
        xz = _zero(node, "x_zero_point", xz, "x", x.dtype)
        wz = _zero(node, "w_zero_point", wz, "w", w.dtype, M, per)
        yz = np.asarray(yz)
        if yz.dtype not in _EIGHT_BIT:
            raise refuse(node, f"input 'y_zero_point': expected uint8 or int8, got {yz.dtype}")
        yz = _per(node, "y_zero_point", yz, None, "")
        if w.ndim < 3:
            raise refuse(node, f"input 'w': expected (M, C/group, *kernel), got shape {w.shape}")
        if b is not None:
            b = np.asarray(b)
            if b.dtype != np.int32 or b.shape != (M,):
                raise refuse(
                    node, f"input 'B': expected int32 of shape ({M},), got {b.dtype} {b.shape}"
                )
        acc = _conv_exact(node, x, w, xz, wz, self.geo, self.group, self._weights)
        out = (slice(None), *[None] * (acc.ndim - 2))
        if b is not None and acc.dtype == np.float32 and _float32_bias(b):
            # float32(int32 acc + B) is all requantisation reads: with no wrap possible and B
            # a float32 value, one correctly rounded float32 addition gives it
            acc += b.astype(np.float32)[out]
        elif b is not None:
            acc = acc.astype(np.int32, copy=False)
            acc += b[out]  # int32, wrapping modulo 2³² as the accumulator may
        m = _multiplier(xs, ws, ys)
        y = _requantize(acc, m[out] if m.ndim else m, yz, yz.dtype, overwrite=True)
        return y, None

    def extra_repr(self) -> str:
        """The op type and the groups."""
        return f"onnx_op={self.onnx_op!r}, group={self.group}"


class _ConvInteger(_Integer):
    """ConvInteger: Y[n, m, i] = Σ (x − x_zero_point)(w[m] − w_zero_point[m]) over Conv's
    window (groups, strides, dilations, pads, auto_pad; 1, 2 or 3 spatial axes), int32.
    x, w uint8 or int8; x_zero_point per tensor, w_zero_point per tensor or per output
    channel (M,); absent ones 0. The padding holds x_zero_point (it adds nothing)."""

    roles = ("x", "w", "x_zero_point", "w_zero_point")

    def __init__(
        self, node: Node, operands: Sequence[Operand], geo: dict[str, Any], group: int
    ) -> None:
        super().__init__(node, operands)
        self.geo, self.group = geo, group
        self._weights: list[Any] = [None]  # _shifted_weights' cache

    def compute(self, x: Any, w: Any, xz: Any, wz: Any) -> tuple[np.ndarray, Any]:
        node = self.onnx_node
        x, w = _eight_bit(node, "x", x), _eight_bit(node, "w", w)
        if w.ndim < 3:
            raise refuse(node, f"input 'w': expected (M, C/group, *kernel), got shape {w.shape}")
        M = w.shape[0]
        xz = _zero(node, "x_zero_point", xz, "x", x.dtype)
        wz = _zero(node, "w_zero_point", wz, "w", w.dtype, M, "per output channel")
        acc = _conv_exact(node, x, w, xz, wz, self.geo, self.group, self._weights)
        return acc.astype(np.int32, copy=False), None


class _MatMulInteger(_Integer):
    """MatMulInteger: Y = (A − a_zero_point) @ (B − b_zero_point), int32 (NumPy's matmul
    rules: batched, broadcast). A, B uint8 or int8; a_zero_point per tensor or per row of A,
    b_zero_point per tensor or per column of B (``_rowwise``); absent ones 0."""

    roles = ("A", "B", "a_zero_point", "b_zero_point")

    def compute(self, a: Any, b: Any, az: Any, bz: Any) -> tuple[np.ndarray, Any]:
        node = self.onnx_node
        a, b = _eight_bit(node, "A", a), _eight_bit(node, "B", b)
        af = _shifted(node, a, az, "A", "a_zero_point", -2)
        bf, bounds = _kept_b(self._b, node, b, bz, "B", "b_zero_point")
        return _matmul_acc(node, af, bf, bounds), None


def _kept_b(
    cache: list[Any], node: Node, b: np.ndarray, zero: Any, of: str, name: str
) -> tuple[np.ndarray, tuple[float, float]]:
    """``_shifted`` b (read-only) and its ``_b_bounds``, kept in ``cache`` (a one-item list
    the module holds) with copies of b and its zero point, and reused while the next call's
    are equal: b is most often a constant weight, and comparing its 8-bit values costs less
    than shifting them to float32 and bounding them again."""
    z = None if zero is None else np.asarray(zero)
    if cache[0] is not None:
        b0, z0, bf, bounds = cache[0]
        same_zero = (z is None and z0 is None) or (
            z is not None and z0 is not None and z.dtype == z0.dtype and z.shape == z0.shape
        )
        if same_zero and b0.dtype == b.dtype and b0.shape == b.shape:
            if np.array_equal(b0, b) and (z is None or np.array_equal(z0, z)):
                return bf, bounds
    bf = _shifted(node, b, zero, of, name, -1)
    bf.flags.writeable = False
    bounds = _b_bounds(bf)
    cache[0] = (b.copy(), None if z is None else z.copy(), bf, bounds)
    return bf, bounds


def _shifted(node: Node, v: np.ndarray, zero: Any, of: str, name: str, axis: int) -> np.ndarray:
    """v − zero_point in float32 (exact: magnitudes ≤ 255), the zero point of v's type per
    tensor, row or column."""
    if zero is None:
        return v.astype(np.float32)
    zero = np.asarray(zero)
    if zero.dtype != v.dtype:
        raise refuse(node, f"input {name!r}: expected {of}'s type {v.dtype}, got {zero.dtype}")
    return np.subtract(
        v, _rowwise(node, name, zero, v.shape, axis).astype(np.float32), dtype=np.float32
    )


class _QLinearMatMul(_Integer):
    """QLinearMatMul: Y = saturate(rint(acc · a_scale·b_scale/y_scale) + y_zero_point),
    acc = (a − a_zero_point) @ (b − b_zero_point) (NumPy's matmul rules). a, b, Y uint8 or
    int8 (each with its zero point's type); a's scale and zero point per tensor or per row,
    b's per tensor or per column (``_rowwise``), y's per tensor; the scales float32."""

    roles = (
        "a",
        "a_scale",
        "a_zero_point",
        "b",
        "b_scale",
        "b_zero_point",
        "y_scale",
        "y_zero_point",
    )

    def compute(self, *args: Any) -> tuple[np.ndarray, Any]:
        node = self.onnx_node
        a, a_s, az, b, b_s, bz, ys, yz = args
        a, b = _eight_bit(node, "a", a), _eight_bit(node, "b", b)
        scales = []
        for name, s, v, axis in (("a_scale", a_s, a, -2), ("b_scale", b_s, b, -1)):
            s = np.asarray(s)
            if s.dtype not in (np.float32, np.float64):
                raise refuse(node, f"input {name!r}: expected float32 values, got {s.dtype}")
            scales.append(_positive(node, name, _rowwise(node, name, s, v.shape, axis)))
        ys = _scale(node, "y_scale", ys)
        yz = np.asarray(yz)
        if yz.dtype not in _EIGHT_BIT:
            raise refuse(node, f"input 'y_zero_point': expected uint8 or int8, got {yz.dtype}")
        yz = _per(node, "y_zero_point", yz, None, "")
        af = _shifted(node, a, az, "a", "a_zero_point", -2)
        bf, bounds = _kept_b(self._b, node, b, bz, "b", "b_zero_point")
        acc = _matmul_acc(node, af, bf, bounds)
        if a.ndim == 1:  # the row axis NumPy removed
            scales[0] = scales[0].reshape(())
        if b.ndim == 1:
            scales[1] = scales[1].reshape(())
        return _requantize(acc, _multiplier(scales[0], scales[1], ys), yz, yz.dtype), None


class _DynamicQuantize(_Op):
    """DynamicQuantizeLinear of float32 x: the range [lo, hi] = [min(0, min x), max(0, max x)],
    y_scale = (hi − lo) / 255, y_zero_point = saturate(rint(0 − lo / y_scale)) in [0, 255],
    y = saturate(rint(x / y_scale) + y_zero_point), uint8, all in float32, rounding half to
    even. As onnxruntime: an x of zeros only (hi = lo = 0) gives y_scale 1, y_zero_point 0
    and y 0 (the spec's formula divides 0 by 0; ONNX's reference evaluator gives y_scale
    1/255); a range so small that y_scale underflows to 0 gives x / 0 = ±∞ (y 255 or 0) and
    0/0 = NaN, which saturates to 255 in y_zero_point and to 0 in y. x must be finite.
    ``output`` picks the node's output this module computes (0: y, 1: y_scale, 2:
    y_zero_point); y_scale and y_zero_point are scalars.

    No gradient, as QuantizeLinear (``_Quantize``): y is rounded, and y_scale is a scale
    onnxruntime treats as a constant of the quantization."""

    roles = ("x",)
    plain_operands = True  # cnnmath.onnx.save writes it back as read
    apart = True  # y_scale's and y_zero_point's modules compute theirs in full

    def __init__(self, node: Node, operands: Sequence[Operand], output: int) -> None:
        super().__init__(node, operands)
        self.output = output

    def compute(self, x: Any) -> tuple[np.ndarray, Any]:
        node = self.onnx_node
        x = np.asarray(x)
        if x.dtype != np.float32:
            raise refuse(node, f"input 'x': expected float32 values, got {x.dtype}")
        if x.size and not np.isfinite(x).all():
            raise refuse(node, "input 'x': expected finite values, got NaN or infinity")
        zero = np.float32(0)
        lo = min(zero, x.min()) if x.size else zero
        hi = max(zero, x.max()) if x.size else zero
        if lo == hi:  # x all zeros: onnxruntime's scale 1 (the spec's formula gives 0 / 0)
            outputs = (
                np.zeros(x.shape, np.uint8),
                np.asarray(np.float32(1)),
                np.zeros((), np.uint8),
            )
            return outputs[self.output], None
        with np.errstate(all="ignore"):  # a range below float32's least step: scale 0
            scale = np.float32((hi - lo) / np.float32(255))
            if self.output == 1:
                return np.asarray(scale), None
            z = zero - lo / scale
            zp = np.float32(255) if np.isnan(z) else np.float32(np.clip(np.rint(z), 0, 255))
            if self.output == 2:
                return np.asarray(zp).astype(np.uint8), None
            q = np.rint(x / scale) + zp
        return _saturate(q, np.uint8), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        raise RuntimeError(
            f"{FUNC}: node {self.onnx_node.name!r} (DynamicQuantizeLinear): backward: its "
            "outputs are x rounded to uint8 and the quantization's scale and zero point, "
            "piecewise constant or constants of the quantization, so no gradient reaches x; "
            "train the float model (the file before quantization) instead"
        )

    def backward_params_ctx(self, ctx: Any, grad_output: np.ndarray) -> None:
        """Nothing to do: reached only when x is a graph input, and no parameter lies
        before the node (as QuantizeLinear's)."""

    def extra_repr(self) -> str:
        """The op type and which output."""
        which = ("y", "y_scale", "y_zero_point")[self.output]
        return f"onnx_op={self.onnx_op!r}, {which}"


# ---------------------------------------------------------------------------------------------
# Converters


def _spatial(node: Node, info: dict[str, Any], x: Operand, w: Operand, attrs: Attrs) -> int:
    """The number of spatial axes: from w's rank or x's where known at load time, else from
    the kernel_shape, strides, dilations or pads attribute."""
    for operand in (w, x):
        rank = _rank(info, operand)
        if rank is not None:
            if rank < 3:
                raise refuse(
                    node, f"inputs 'x', 'w': expected rank 3 or more (N, C, *sizes), got {rank}"
                )
            return rank - 2
    for name, per in (("kernel_shape", 1), ("strides", 1), ("dilations", 1), ("pads", 2)):
        if attrs.has(name):
            return len(attrs.ints(name, []) or []) // per
    raise refuse(node, "inputs 'x', 'w': the number of spatial axes is not known at load time")


def _conv_geometry(
    node: Node, attrs: Attrs, info: dict[str, Any], x: Operand, w: Operand
) -> tuple[dict[str, Any], int]:
    """Conv's attributes read by the Conv converter's ``_geometry``, any spatial rank, and
    the group count."""
    n = _spatial(node, info, x, w, attrs)
    if n not in (1, 2, 3):
        raise refuse(node, f"inputs 'x', 'w': 1, 2 or 3 spatial axes are supported, got {n}")
    geo = _geometry(node, attrs, n)
    group = int(attrs.get("group", 1))
    if group < 1:
        raise refuse(node, f"attribute 'group': expected a value >= 1, got {group}")
    _check_kernel_shape(node, geo, _shape(info, w))
    return geo, group


def _name(code: int) -> str:
    """The NumPy name of ONNX element type ``code`` (uint8, int32, …), as the run-time
    checks name types; the ONNX name for a type NumPy lacks."""
    dtype = _QUANTIZED.get(code, _CAST_TYPES.get(code))
    return np.dtype(dtype).name if dtype is not None else _type_name(code)


def _constants(
    node: Node,
    info: dict[str, Any],
    ins: Sequence[Operand],
    names: Sequence[str],
    pairs: Sequence[tuple[int, int]] = (),
) -> list[Operand]:
    """The operands with every constant plain (a buffer or constant, never trained), after
    the checks that need no run-time value: a constant scale (an input named ``*_scale``)
    finite and positive, a zero point of its value's element type where both are known
    (``pairs``: (value, zero point) positions)."""
    for name, operand in zip(names, ins):
        if name.endswith("_scale") and isinstance(operand, Const):
            v = np.asarray(operand.value)
            if v.dtype not in (np.float32, np.float64):
                raise refuse(node, f"input {name!r}: expected float32 values, got {v.dtype}")
            _positive(node, name, v)
    for i, j in pairs:
        value, zero = _element_type(info, ins[i]), _element_type(info, ins[j])
        if value and value not in (2, 3):
            raise refuse(
                node, f"input {names[i]!r}: expected uint8 or int8 values, got {_name(value)}"
            )
        if ins[j] is not None and value and zero and value != zero:
            raise refuse(
                node,
                f"input {names[j]!r}: expected {names[i]}'s type {_name(value)}, got {_name(zero)}",
            )
    return [_plain(o) for o in ins]


def qlinear_conv(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """QLinearConv (``_QLinearConv``)."""
    geo, group = _conv_geometry(node, attrs, info, ins[0], ins[3])
    operands = _constants(node, info, ins, _QLinearConv.roles, [(0, 2), (3, 5)])
    return _generic(_QLinearConv(node, operands, geo, group), operands)


def conv_integer(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """ConvInteger (``_ConvInteger``)."""
    geo, group = _conv_geometry(node, attrs, info, ins[0], ins[1])
    operands = _constants(node, info, ins, _ConvInteger.roles, [(0, 2), (1, 3)])
    return _generic(_ConvInteger(node, operands, geo, group), operands)


def qlinear_matmul(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """QLinearMatMul (``_QLinearMatMul``)."""
    operands = _constants(node, info, ins, _QLinearMatMul.roles, [(0, 2), (3, 5)])
    return _generic(_QLinearMatMul(node, operands), operands)


def matmul_integer(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """MatMulInteger (``_MatMulInteger``)."""
    operands = _constants(node, info, ins, _MatMulInteger.roles, [(0, 2), (1, 3)])
    return _generic(_MatMulInteger(node, operands), operands)


def dynamic_quantize(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """DynamicQuantizeLinear: y (``_DynamicQuantize``); its y_scale and y_zero_point, when
    read, more ``_DynamicQuantize`` modules handed to the loader through ``info["more"]``."""
    operands = [_plain(x) for x in ins]
    outputs = info["all_outputs"]
    more = []
    for i in (1, 2):
        if len(outputs) > i and outputs[i]:
            more.append((outputs[i], _generic(_DynamicQuantize(node, operands, i), operands)))
    if more:
        info["more"] = more
    return _generic(_DynamicQuantize(node, operands, 0), operands)


__all__ = [
    "conv_integer",
    "dynamic_quantize",
    "matmul_integer",
    "qlinear_conv",
    "qlinear_matmul",
]
