"""The integer accumulation of QLinearConv, ConvInteger, QLinearMatMul and MatMulInteger is
exact: acc = Σ (x − x_zero_point)(w − w_zero_point) (+ B), wrapped to int32 as a 32-bit
accumulator wraps, equals NumPy's int64 arithmetic on worst-case inputs — 8-bit extremes
(0/255, −128/127) against zero points at the other end, so every product is ±255² or close,
and reductions of up to 36864 terms, past float32's 2²⁴ (one float32 sum of them would be
inexact: the sums lie past 2²⁴ off float32's grid) and past int32's range (wrapped). cnnmath computes
it in float32 products cut into chunks each exact, or float64 where a chunk cannot be; the
tests check which ran. Then QLinearConv (reductions past the chunk limit, groups, depthwise,
per-channel weight scales, uint8 and int8) and QLinearMatMul against onnxruntime, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402
from onnx import helper, numpy_helper  # noqa: E402

from cnnmath.onnx import load  # noqa: E402
from cnnmath.onnx._ops import qlinear  # noqa: E402
from helpers import onnx_model_bytes, run_onnxruntime  # noqa: E402

U8, I8 = np.uint8, np.int8
_CODE = {np.dtype(U8): onnx.TensorProto.UINT8, np.dtype(I8): onnx.TensorProto.INT8}
_F32_EXACT = 2**24


def _int64_conv(x, w, xz, wz, pads, strides, dilations, group):
    """Σ (x − xz)(w − wz) over each window, in int64 (exact): symmetric ``pads`` per spatial
    axis, per-tensor xz, per-tensor or (M,) wz. Written here, apart from cnnmath's code."""
    n = x.ndim - 2
    xs = x.astype(np.int64) - np.int64(xz)
    ws = w.astype(np.int64) - np.asarray(wz, np.int64).reshape(-1, *[1] * (n + 1))
    xs = np.pad(xs, [(0, 0), (0, 0), *[(p, p) for p in pads]])
    span = [(k - 1) * d + 1 for k, d in zip(w.shape[2:], dilations)]
    win = sliding_window_view(xs, span, axis=tuple(range(2, 2 + n)))
    win = win[(slice(None), slice(None), *[slice(None, None, s) for s in strides])]
    win = win[(Ellipsis, *[slice(None, None, d) for d in dilations])]
    N, M, C_g = x.shape[0], w.shape[0], w.shape[1]
    out = win.shape[2 : 2 + n]
    win = win.reshape(N, group, C_g, *out, -1)
    y = np.einsum("ngc...k,gmck->ngm...", win, ws.reshape(group, M // group, C_g, -1))
    return y.reshape(N, M, *out)


def _past_float32(acc):
    """Whether some sum in ``acc`` (int64) has no float32 value (an integer past 2²⁴ that is
    not a multiple of float32's spacing there): a float32 sum could not end on it."""
    return bool((acc.astype(np.float32).astype(np.int64) != acc).any())


def _spy(monkeypatch):
    """Records the float type of each correlation ``_conv_exact`` runs (one per chunk)."""
    calls = []
    real = qlinear._conv_float

    def spy(node, x, w, geo, group):
        calls.append(w.dtype)
        return real(node, x, w, geo, group)

    monkeypatch.setattr(qlinear, "_conv_float", spy)
    return calls


# ---------------------------------------------------------------------------------------------
# ConvInteger: the accumulator itself


_ZEROS = {  # (x type, x zero point, w type, w zero point): every |shifted value| 0 or ~255
    "u8x0_u8w255": (U8, 0, U8, 255),
    "u8x255_s8w-128": (U8, 255, I8, -128),
    "s8x-128_s8w127": (I8, -128, I8, 127),
    "s8x127_u8w0": (I8, 127, U8, 0),
}

_CASES = {  # name: (x, w shapes), (pads, strides, dilations, group), path, far-end odds (x, w)
    "K4608_3x3x512": (((1, 512, 5, 5), (6, 512, 3, 3)), ((1, 1), (1, 1), (1, 1), 1), "chunks"),
    "K4608_grouped": (((2, 1024, 6, 5), (8, 512, 3, 3)), ((1, 0), (2, 1), (1, 2), 2), "chunks"),
    "K1800_1d": (((2, 600, 9), (4, 600, 3)), ((1,), (2,), (1,), 1), "chunks"),
    "K343_3d": (((1, 1, 8, 8, 7), (2, 1, 7, 7, 7)), ((0, 0, 0), (1,) * 3, (1,) * 3, 1), "float64"),
    "K36864_past_int32": (
        ((4, 4096, 3, 3), (2, 4096, 3, 3)),
        ((0, 0), (1, 1), (1, 1), 1),
        "chunks",
    ),
}
_ODDS = {"K343_3d": (1.0, 1.0), "K36864_past_int32": (0.97, 1.0)}  # others (0.9, 0.5)


def _far(rng, zero, shape, p):
    """Values of ``zero``'s type (``zero`` broadcast against ``shape``): the other end of the
    range from the zero point with probability p (a shift of ±255), else the zero point."""
    info = np.iinfo(zero.dtype)
    other = (int(info.min) + int(info.max) - zero.astype(np.int64)).astype(zero.dtype)
    return np.where(rng.random(shape) < p, other, zero).astype(zero.dtype)


@pytest.mark.parametrize("case", list(_CASES))
@pytest.mark.parametrize("zeros", list(_ZEROS))
def test_conv_integer_accumulator_equals_int64_on_worst_case_inputs(case, zeros, monkeypatch):
    """ConvInteger's int32 output (the accumulator) equals the int64 sum wrapped to int32,
    for reductions past float32's exact range, weight zero points per channel at both ends,
    groups, strides, dilations, 1-, 2- and 3-D; the worst-case sums lie past 2²⁴ off float32's grid
    (so a single float32 sum could not give them) and, with 36864 terms, past int32. The
    chunked float32 products ran, or float64 where one channel's kernel alone passes 2²⁴."""
    xt, xz, wt, wz = _ZEROS[zeros]
    (xs, ws), (pads, strides, dilations, group), path = _CASES[case]
    px, pw = _ODDS.get(case, (0.9, 0.5))
    rng = np.random.default_rng([len(case), len(zeros), xz + 128, wz + 128])
    M = ws[0]
    xz = np.array(xz, xt)
    wzs = np.where(np.arange(M) % 2, wz, int(np.iinfo(wt).min) + int(np.iinfo(wt).max) - wz)
    wzs = wzs.astype(wt)  # per channel, at both ends of w's range
    x = _far(rng, xz, xs, px)
    w = _far(rng, wzs.reshape(-1, *[1] * (len(ws) - 1)), ws, pw)
    want64 = _int64_conv(x, w, xz, wzs, pads, strides, dilations, group)
    assert _past_float32(want64)  # one float32 sum of the terms could not give these
    if case == "K36864_past_int32":
        assert np.abs(want64).min() > 2**31  # the int32 accumulator wraps
    inputs = [("w", w), ("x_zero_point", xz), ("w_zero_point", wzs)]
    attrs = {"pads": list(pads) * 2, "strides": list(strides), "dilations": list(dilations)}
    model = onnx_model_bytes(
        [
            helper.make_node(
                "ConvInteger", ["x", *[n for n, _ in inputs]], ["y"], group=group, **attrs
            )
        ],
        [("x", _CODE[np.dtype(xt)], xs)],
        [("y", onnx.TensorProto.INT32)],
        [numpy_helper.from_array(v, n) for n, v in inputs],
        opset=13,
    )
    calls = _spy(monkeypatch)
    got = load(model)(x)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want64.astype(np.int32))  # astype wraps modulo 2³²
    if path == "chunks":
        assert len(calls) > 1 and set(calls) == {np.dtype(np.float32)}
    else:
        assert calls == [np.dtype(np.float64)]


# ---------------------------------------------------------------------------------------------
# MatMulInteger: the accumulator itself

_MATMUL_CASES = {  # name: (a's shape, b's shape, zero points per row / column, far-end odds)
    "K4608_per_row_and_column": ((5, 4608), (4608, 6), True, 0.9),
    "K1000_batched_broadcast": ((2, 1, 3, 1000), (4, 1000, 2), False, 0.9),
    "K4608_vectors": ((4608,), (4608,), False, 0.9),
    "K3000_vector_matrix": ((3000,), (3000, 4), False, 0.9),
    "K40000_past_int32": ((3, 40000), (40000, 2), True, 0.99),
}


@pytest.mark.parametrize("case", list(_MATMUL_CASES))
@pytest.mark.parametrize("zeros", list(_ZEROS))
def test_matmul_integer_accumulator_equals_int64_on_worst_case_inputs(case, zeros):
    """MatMulInteger's int32 output equals NumPy's int64 matmul of the shifted values wrapped
    to int32: reductions of 1000 to 40000 terms of about ±255² (sums past 2²⁴ off float32's grid, and past
    int32 at 40000), zero points per tensor or per row of a and per column of b at both ends,
    batched and broadcast, 1-D operands."""
    at, az, bt, bz = _ZEROS[zeros]
    a_shape, b_shape, rowwise, p = _MATMUL_CASES[case]
    rng = np.random.default_rng([len(case), len(zeros), az + 128, bz + 128])
    if rowwise:  # per row of a / column of b, alternating between the two ends
        ends_a = (int(np.iinfo(at).min) + int(np.iinfo(at).max) - az, az)
        ends_b = (int(np.iinfo(bt).min) + int(np.iinfo(bt).max) - bz, bz)
        azs = np.array([ends_a[i % 2] for i in range(a_shape[0])], at)
        bzs = np.array([ends_b[i % 2] for i in range(b_shape[1])], bt)
        a, b = _far(rng, azs[:, None], a_shape, p), _far(rng, bzs, b_shape, p)
        a64 = a.astype(np.int64) - azs[:, None].astype(np.int64)
        b64 = b.astype(np.int64) - bzs.astype(np.int64)
    else:
        azs, bzs = np.array(az, at), np.array(bz, bt)
        a, b = _far(rng, azs, a_shape, p), _far(rng, bzs, b_shape, p)
        a64, b64 = a.astype(np.int64) - az, b.astype(np.int64) - bz
    want64 = np.asarray(np.matmul(a64, b64))
    assert _past_float32(want64)  # one float32 sum of the terms could not give these
    if case == "K40000_past_int32":
        assert (np.abs(want64) > 2**31).any()
    model = onnx_model_bytes(
        [helper.make_node("MatMulInteger", ["a", "b", "a_zero_point", "b_zero_point"], ["y"])],
        [("a", _CODE[np.dtype(at)], a_shape)],
        [("y", onnx.TensorProto.INT32)],
        [numpy_helper.from_array(v, n) for n, v in (("b", b), ("a_zero_point", azs))]
        + [numpy_helper.from_array(bzs, "b_zero_point")],
        opset=13,
    )
    got = load(model)(a)
    assert got.dtype == np.int32 and got.shape == want64.shape
    np.testing.assert_array_equal(got, want64.astype(np.int32))


# ---------------------------------------------------------------------------------------------
# QLinearConv and QLinearMatMul against onnxruntime

_ORT_CONVS = {  # name: (x's shape, w's shape, attributes, group)
    "K4608": ((1, 512, 6, 6), (16, 512, 3, 3), {"pads": [1, 1, 1, 1]}, 1),
    "K4608_grouped_strided": ((1, 1024, 11, 10), (8, 512, 3, 3), {"strides": [2, 1]}, 2),
    "depthwise": ((2, 48, 9, 9), (48, 1, 3, 3), {"pads": [1, 1, 1, 1], "strides": [2, 2]}, 48),
}
# onnxruntime's pairs (it has no int8 x with uint8 w) and zero points at the far ends, but
# an int8 w's within [-64, 63]: on x86 CPUs without VNNI, onnxruntime's kernels add pairs of
# 8-bit products in int16 with saturation (VPMADDUBSW), which 255 · 128 · 2 overflows, and
# its output is then not the exact sum (cnnmath's exactness past that is the int64 tests')
_ORT_TYPES = {"u8u8": (U8, 0, U8, 255), "u8s8": (U8, 0, I8, -64), "s8s8": (I8, -128, I8, 63)}


def _spread(acc, scale, dtype):
    """A y_scale and y_zero_point (``dtype``) mapping the accumulators ``acc`` (int64) times
    ``scale`` onto about 200 of the 256 output steps, centred: few outputs saturate."""
    lo, hi = float(acc.min()), float(acc.max())
    y_scale = np.float32(scale * (hi - lo) / 200)
    centre = (lo + hi) / 2 * scale / float(y_scale)
    info = np.iinfo(dtype)
    zero = np.clip(np.rint((int(info.min) + int(info.max)) / 2 - centre), info.min, info.max)
    return np.array(y_scale), np.array(zero, dtype)


@pytest.mark.parametrize("conv", list(_ORT_CONVS))
@pytest.mark.parametrize("types", list(_ORT_TYPES))
def test_qlinearconv_past_the_float32_chunk_equals_onnxruntime(conv, types, monkeypatch):
    """QLinearConv with 4608 terms per sum (past the 2²⁴ / 255² = 258 a float32 chunk may
    hold), grouped and depthwise, per-channel weight scales, a bias, mostly extreme values
    against zero points at the far ends: onnxruntime's 8-bit outputs, every element."""
    xt, xz, wt, wz = _ORT_TYPES[types]
    xs, ws, attrs, group = _ORT_CONVS[conv]
    rng = np.random.default_rng([len(conv), len(types), xz + 128, wz + 128])
    M = ws[0]
    xz, wzs = np.array(xz, xt), np.full((M,), wz, wt)  # onnxruntime: one w zero point
    # x far from its zero point with odds that vary over the image (5% to 95%), so that the
    # sums, all of one sign, spread over a wide range
    x = _far(rng, xz, xs, rng.uniform(0.05, 0.95, (1, 1, *xs[2:])))
    w = _far(rng, wzs.reshape(-1, 1, 1, 1), ws, 0.5)
    b = rng.integers(-(2**20), 2**20, size=(M,), dtype=np.int32)
    acc = _int64_conv(
        x, w, xz, wzs, attrs.get("pads", [0, 0])[:2], attrs.get("strides", [1, 1]), [1, 1], group
    )
    if conv != "depthwise":
        assert np.abs(acc).max() > 2 * _F32_EXACT  # past one float32 chunk
    x_scale, w_scale = np.float32(0.02), rng.uniform(0.001, 0.004, (M,)).astype(np.float32)
    y_scale, y_zero = _spread(acc + b[:, None, None], x_scale * np.median(w_scale), xt)
    inits = {
        "x_scale": np.array(x_scale),
        "x_zero_point": xz,
        "w": w,
        "w_scale": w_scale,
        "w_zero_point": wzs,
        "y_scale": y_scale,
        "y_zero_point": y_zero,
        "B": b,
    }
    model = onnx_model_bytes(
        [helper.make_node("QLinearConv", ["x", *inits], ["y"], group=group, **attrs)],
        [("x", _CODE[np.dtype(xt)], xs)],
        [("y", _CODE[np.dtype(xt)])],
        [numpy_helper.from_array(v, n) for n, v in inits.items()],
        opset=13,
    )
    calls = _spy(monkeypatch)
    (want,) = run_onnxruntime(model, {"x": x})
    got = load(model)(x)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    assert len(np.unique(got)) > 40  # spread, not saturated
    assert set(calls) == {np.dtype(np.float32)} and (len(calls) > 1) == (conv != "depthwise")


@pytest.mark.parametrize("types", list(_ORT_TYPES))
def test_qlinearmatmul_past_the_float32_chunk_equals_onnxruntime(types):
    """QLinearMatMul with 4608 terms per sum of mostly extreme values against zero points at
    the far ends: onnxruntime's 8-bit outputs, every element."""
    at, az, bt, bz = _ORT_TYPES[types]
    rng = np.random.default_rng([len(types), az + 128, bz + 128])
    az, bz = np.array(az, at), np.array(bz, bt)
    # odds varying by row of a and column of b: sums of one sign, spread over a wide range
    a = _far(rng, az, (16, 4608), rng.uniform(0.05, 0.95, (16, 1)))
    b = _far(rng, bz, (4608, 12), rng.uniform(0.05, 0.95, (1, 12)))
    acc = (a.astype(np.int64) - az) @ (b.astype(np.int64) - bz)
    assert np.abs(acc).max() > 4 * _F32_EXACT
    a_scale, b_scale = np.float32(0.03), np.float32(0.002)
    y_scale, y_zero = _spread(acc, a_scale * b_scale, at)
    inits = {
        "a_scale": np.array(a_scale),
        "a_zero_point": az,
        "b": b,
        "b_scale": np.array(b_scale),
        "b_zero_point": bz,
        "y_scale": y_scale,
        "y_zero_point": y_zero,
    }
    model = onnx_model_bytes(
        [helper.make_node("QLinearMatMul", ["a", *inits], ["y"])],
        [("a", _CODE[np.dtype(at)], a.shape)],
        [("y", _CODE[np.dtype(at)])],
        [numpy_helper.from_array(v, n) for n, v in inits.items()],
        opset=13,
    )
    (want,) = run_onnxruntime(model, {"a": a})
    got = load(model)(a)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    assert len(np.unique(got)) > 60


# ---------------------------------------------------------------------------------------------
# Requantisation


def _requantize_float64(acc, m, zero, dtype):
    """The formula written out, each step a new array: v = float32(acc) · m in float32,
    rint (half to even), + zero in float64 (exact), NaN to the type's minimum, clipped."""
    with np.errstate(over="ignore", invalid="ignore"):
        v = acc.astype(np.float32) * m.astype(np.float32)
    q = np.rint(v).astype(np.float64) + zero.astype(np.float64)
    info = np.iinfo(dtype)
    return np.where(np.isnan(q), info.min, np.clip(q, info.min, info.max)).astype(dtype)


@pytest.mark.parametrize("dtype", [U8, I8])
def test_requantize_in_float32_in_place_equals_the_formula_in_float64(dtype):
    """The in-place float32 requantisation gives the float64 formula's value on accumulators
    over all of int32 (its ends, ±2²⁴ and around), ties at halves, multipliers from tiny to
    float32's overflow (∞, so 0 · ∞ = NaN) and per channel, zero points at both ends."""
    rng = np.random.default_rng(7)
    info = np.iinfo(dtype)
    specials = [0, 1, -1, 2**24 - 1, 2**24, 2**24 + 1, -(2**24), 2**31 - 1, -(2**31), 255, -256]
    acc = np.concatenate(
        [
            rng.integers(-(2**31), 2**31, 20000),
            rng.integers(-(2**25), 2**25, 20000),
            rng.integers(-600, 600, 20000),
            np.repeat(specials, 200),
        ]
    ).astype(np.int32)
    acc = acc.reshape(-1, 8)
    checked = 0
    for m in [
        np.float32(0.5),  # halves: ties, rounded to even
        np.float32(1.0),
        np.float32(3.0e-8),
        np.float32(1e-4),
        np.float32(7.3),
        np.float32(np.inf),
        rng.uniform(1e-6, 2.0, 8).astype(np.float32),  # per channel (the last axis here)
    ]:
        for zero in (info.min, info.max, 0, 17):
            z = np.array(zero, dtype)
            want = _requantize_float64(acc, np.asarray(m), z, dtype)
            got = qlinear._requantize(acc, np.asarray(m), z, np.dtype(dtype))
            assert got.dtype == dtype and got.shape == acc.shape
            np.testing.assert_array_equal(got, want)
            checked += 1
    assert checked == 28
    # the cases are not trivial: ties, both saturations, and NaN's minimum all occur
    half = _requantize_float64(
        np.array([1, 3, 5], np.int32), np.float32(0.5), np.array(0, dtype), dtype
    )
    assert half.tolist() == [0, 2, 2]
    nan = _requantize_float64(
        np.array([0], np.int32), np.float32(np.inf), np.array(info.max, dtype), dtype
    )
    assert nan.tolist() == [info.min]


@pytest.mark.parametrize("bias", ["float32_values", "wrapping"])
def test_qlinearconv_bias_added_as_onnxruntime_adds_it(bias):
    """B added to the accumulator: small values (cnnmath adds them in float32, where that is
    exact) and values at int32's ends, where acc + B wraps as a 32-bit accumulator:
    onnxruntime's outputs; the graph run twice gives the same (nothing it returns is
    shared)."""
    rng = np.random.default_rng(len(bias))
    M = 6
    x = rng.integers(0, 256, (2, 8, 7, 7), dtype=U8)
    w = rng.integers(-128, 128, (M, 8, 3, 3), dtype=I8)
    b = {
        "float32_values": rng.integers(-(2**16), 2**16, M),
        "wrapping": [2**31 - 1, -(2**31), 2**31 - 5, -(2**31) + 9, 2**31 - 2**20, -(2**31)],
    }[bias]
    b = np.array(b, np.int64).astype(np.int32)
    acc = _int64_conv(x, w, 128, 0, (1, 1), (1, 1), (1, 1), 1)
    if bias == "wrapping":  # some sums leave int32 (and wrap)
        total = acc + b[:, None, None].astype(np.int64)
        assert ((total > 2**31 - 1) | (total < -(2**31))).any()
    # y's scale brings float32(acc + B) back near the zero point: B dominates the sum
    wrapped = (acc + b[:, None, None]).astype(np.int32).astype(np.float64)
    y_scale, y_zero = _spread(wrapped, np.float32(0.01) * np.float32(0.002), U8)
    inits = {
        "x_scale": np.array(np.float32(0.01)),
        "x_zero_point": np.array(128, U8),
        "w": w,
        "w_scale": np.array(np.float32(0.002)),
        "w_zero_point": np.array(0, I8),
        "y_scale": y_scale,
        "y_zero_point": y_zero,
        "B": b,
    }
    model = onnx_model_bytes(
        [helper.make_node("QLinearConv", ["x", *inits], ["y"], pads=[1, 1, 1, 1])],
        [("x", onnx.TensorProto.UINT8, x.shape)],
        [("y", onnx.TensorProto.UINT8)],
        [numpy_helper.from_array(v, n) for n, v in inits.items()],
        opset=13,
    )
    (want,) = run_onnxruntime(model, {"x": x})
    graph = load(model)
    got = graph(x)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(graph(x), got)
    assert ((0 < got) & (got < 255)).any()  # not all saturated


def test_qlinearconv_bias_float32_cannot_hold_cancelling_the_sum_equals_onnxruntime():
    """B = 2²⁴ + odd (no float32 value) against sums of −2²⁴ + 256 (514 products 255·(−128),
    the most one float32 product holds): acc + B is 257…263, and float32(B) + acc would be 1
    off; times 0.75 that shows in the output. onnxruntime's outputs, the exact ones."""
    x = np.full((1, 514, 1, 3), 255, U8)
    w = np.full((4, 514, 1, 1), -128, I8)
    b = np.array([2**24 + 1, 2**24 + 3, 2**24 + 5, 2**24 + 7], np.int32)
    assert (b.astype(np.float32).astype(np.int64) != b).all()
    inits = {
        "x_scale": np.array(np.float32(0.75)),
        "x_zero_point": np.array(0, U8),
        "w": w,
        "w_scale": np.array(np.float32(1.0)),
        "w_zero_point": np.array(0, I8),
        "y_scale": np.array(np.float32(1.0)),
        "y_zero_point": np.array(0, U8),
        "B": b,
    }
    model = onnx_model_bytes(
        [helper.make_node("QLinearConv", ["x", *inits], ["y"])],
        [("x", onnx.TensorProto.UINT8, x.shape)],
        [("y", onnx.TensorProto.UINT8)],
        [numpy_helper.from_array(v, n) for n, v in inits.items()],
        opset=13,
    )
    exact = np.rint((-(2**24) + 256 + b.astype(np.int64)) * 0.75)  # 257…263 · 0.75
    (want,) = run_onnxruntime(model, {"x": x})
    np.testing.assert_array_equal(want[0, :, 0, 0], exact)
    np.testing.assert_array_equal(load(model)(x), want)


def test_shifted_weights_are_kept_while_the_weights_are_unchanged():
    """The float32 w − w_zero_point and its L1 norms a QLinearConv / ConvInteger module keeps
    between calls: reused for equal weights (the same array), recomputed when the weights or
    the zero points changed in place, and equal to a fresh computation in int64."""
    rng = np.random.default_rng(3)
    w = rng.integers(-128, 128, (4, 3, 2, 2), dtype=I8)
    wz = np.array([0, 5, -7, 127], I8)
    cache = [None]
    ws, l1 = qlinear._shifted_weights(w, wz, cache)
    want = w.astype(np.int64) - wz.astype(np.int64)[:, None, None, None]
    np.testing.assert_array_equal(ws, want)
    np.testing.assert_array_equal(l1, np.abs(want).sum(axis=(2, 3)))
    assert not ws.flags.writeable
    assert qlinear._shifted_weights(w.copy(), wz.copy(), cache)[0] is ws  # equal: kept
    w[1, 2, 0, 1] += 1
    ws2, l12 = qlinear._shifted_weights(w, wz, cache)
    assert ws2[1, 2, 0, 1] == ws[1, 2, 0, 1] + 1 and l12 is not l1
    wz[0] = 3
    ws3, _ = qlinear._shifted_weights(w, wz, cache)
    np.testing.assert_array_equal(ws3[0], w[0].astype(np.int64) - 3)


def test_shifted_b_of_a_matmul_is_kept_while_b_is_unchanged():
    """QLinearMatMul / MatMulInteger keep b − b_zero_point (float32) and its bounds between
    calls: reused for equal values, recomputed after a change in place, a bad zero point
    still refused."""
    from cnnmath.onnx._ops import Refusal

    rng = np.random.default_rng(4)
    b = rng.integers(0, 256, (5, 3), dtype=U8)
    bz = np.array([0, 200, 255], U8)
    cache = [None]
    node = onnx.helper.make_node("MatMulInteger", ["a", "b"], ["y"], name="m")
    bf, (bmax, bcol) = qlinear._kept_b(cache, node, b, bz, "B", "b_zero_point")
    want = b.astype(np.int64) - bz.astype(np.int64)
    np.testing.assert_array_equal(bf, want)
    assert bmax == np.abs(want).max() and bcol == np.abs(want).sum(axis=0).max()
    assert qlinear._kept_b(cache, node, b.copy(), bz.copy(), "B", "b_zero_point")[0] is bf
    b[0, 1] += 1
    bf2, _ = qlinear._kept_b(cache, node, b, bz, "B", "b_zero_point")
    assert bf2[0, 1] == bf[0, 1] + 1
    assert qlinear._kept_b(cache, node, b, None, "B", "b_zero_point")[0][0, 1] == b[0, 1]
    with pytest.raises(Refusal, match="b_zero_point"):
        qlinear._kept_b(cache, node, b, bz.astype(I8), "B", "b_zero_point")


# ---------------------------------------------------------------------------------------------
# The bounds take the largest filter, row or column; the caches see every operand


def _conv_integer(x, w, **attrs):
    inits = [
        ("w", w),
        ("x_zero_point", np.array(0, x.dtype)),
        ("w_zero_point", np.array(0, w.dtype)),
    ]
    return onnx_model_bytes(
        [helper.make_node("ConvInteger", ["x", *[n for n, _ in inits]], ["y"], **attrs)],
        [("x", _CODE[x.dtype], x.shape)],
        [("y", onnx.TensorProto.INT32)],
        [numpy_helper.from_array(v, n) for n, v in inits],
        opset=13,
    )


def test_the_conv_bound_is_the_largest_filters():
    """Filter 0 nearly empty, filter 1 of large odd values over 9216 channels (sums near
    2.3·10⁷, off float32's grid): a bound taken from any filter but the largest would sum
    filter 1 in one float32 product and round it. Against the int64 sum."""
    C = 9216
    rng = np.random.default_rng(5)
    x = rng.integers(200, 256, (1, C, 1, 3)).astype(U8)
    w = np.zeros((2, C, 1, 1), U8)
    w[0, 0] = 1
    w[1] = rng.integers(200, 256, (C, 1, 1))
    want = np.einsum("nchw,mc->nmhw", x.astype(np.int64), w[:, :, 0, 0].astype(np.int64))
    assert want.max() > _F32_EXACT
    np.testing.assert_array_equal(load(_conv_integer(x, w))(x), want.astype(np.int32))


def test_a_sum_past_int32_on_the_float64_path_wraps():
    """One channel's kernel alone past 2²⁴ (255² · 600 terms: the float64 path) and the sum
    past 2³¹ (60 channels): the accumulator wraps modulo 2³², as a 32-bit register does."""
    x = np.full((1, 60, 600), 255, U8)
    w = np.full((1, 60, 600), 255, U8)
    exact = 60 * 600 * 255 * 255
    assert exact > 2**31
    got = load(_conv_integer(x, w))(x)
    assert got.ravel()[0] == np.array(exact, np.int64).astype(np.int32)


def test_the_matmul_bound_is_the_largest_rows():
    """a's rows: one all zeros, one all 255; b's columns large and odd where not zero: a row
    bound from the smallest row would sum the other in one float32 product and round it."""
    K = 5000
    a = np.zeros((2, K), np.float32)
    a[1] = 255
    b = np.full((K, 2), 255, np.float32)
    b[::7, 0] = 0
    b[:, 1] = 1
    want = a.astype(np.int64) @ b.astype(np.int64)
    assert want.max() > _F32_EXACT
    np.testing.assert_array_equal(qlinear._matmul_acc(None, a, b), want.astype(np.int32))


def test_the_kept_b_follows_its_zero_point_changed_in_place():
    """The matmul's kept float32 b - b_zero_point is made again when only the zero point
    changed (in place, same shape), not only when b did."""
    rng = np.random.default_rng(0)
    b = rng.integers(0, 256, (4, 3), dtype=U8)
    bz = np.array([1, 2, 3], U8)
    cache = [None]
    node = helper.make_node("MatMulInteger", ["a", "b"], ["y"], name="m")
    qlinear._kept_b(cache, node, b, bz, "B", "b_zero_point")
    bz[1] = 200
    bf, _ = qlinear._kept_b(cache, node, b, bz, "B", "b_zero_point")
    np.testing.assert_array_equal(bf, b.astype(np.int64) - bz.astype(np.int64))


@pytest.mark.parametrize("w_shape", [(0, 3, 3, 3), (4, 0, 3, 3)])
def test_zero_size_weights_are_refused_by_name(w_shape):
    """No filters, or filters of no channels: refused naming the node and the empty shapes."""
    C = w_shape[1]
    x = np.zeros((1, C, 5, 5), U8)
    with pytest.raises(ValueError, match=r"ConvInteger.*expected non-empty channels"):
        load(_conv_integer(x, np.zeros(w_shape, U8)))(x)
