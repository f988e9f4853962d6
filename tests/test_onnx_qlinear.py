"""cnnmath.onnx.load on the quantized operator-format ops (onnxruntime's "QOperator" files,
the ONNX model zoo's int8 models): QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger and
DynamicQuantizeLinear. Single-node graphs against onnxruntime's CPU kernels (bit for bit:
the same uint8/int8 outputs), the integer ops against NumPy's int64 arithmetic too, and
DynamicQuantizeLinear against ONNX's reference evaluator; a small float CNN of cnnmath's,
quantized by onnxruntime's ``quantize_static`` (QOperator), run by both; the refusals, each
naming the node and the input. ONNX's own node tests of these ops run in test_onnx_backend.py.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402
from onnx import helper, numpy_helper  # noqa: E402

import cnnmath.nn as nn  # noqa: E402
from cnnmath.onnx import load, save  # noqa: E402
from cnnmath.onnx._ops import Refusal  # noqa: E402

U8, I8 = np.uint8, np.int8


def _rng(seed: object) -> np.random.Generator:
    """A generator seeded by ``seed`` (an int, or any value: by its repr, the same in every
    run, unlike ``hash``)."""
    return np.random.default_rng(seed if isinstance(seed, int) else zlib.crc32(repr(seed).encode()))


def _ints(rng, dtype, shape):
    """Uniform values over the whole range of an integer ``dtype``."""
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, size=shape, dtype=dtype)


def _model(op, inputs, consts=(), attrs=None, out_dtypes=(np.uint8,), opset=13, outputs=None):
    """A one-node model: ``inputs`` [(name, array)] in the node's order ("" for an absent
    one), those named in ``consts`` initializers, the others graph inputs."""
    outputs = outputs or [f"y{i}" for i in range(len(out_dtypes))]
    node = helper.make_node(op, [n for n, _ in inputs], outputs, **(attrs or {}))
    graph = helper.make_graph(
        [node],
        "g",
        [
            helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
            for n, a in inputs
            if n and n not in consts
        ],
        [
            helper.make_tensor_value_info(o, helper.np_dtype_to_tensor_dtype(np.dtype(d)), None)
            for o, d in zip(outputs, out_dtypes)
        ],
        [numpy_helper.from_array(np.asarray(a), n) for n, a in inputs if n in consts],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _feeds(inputs, consts):
    return {n: a for n, a in inputs if n and n not in consts}


def _onnxruntime(model, feeds):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def _cnnmath(model, feeds):
    got = load(model.SerializeToString())(*feeds.values())
    return list(got) if isinstance(got, tuple) else [got]


def _same(model, feeds):
    """cnnmath's outputs equal onnxruntime's exactly (values, dtypes, shapes); returns them."""
    want, got = _onnxruntime(model, feeds), _cnnmath(model, feeds)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, w.dtype, g.shape, w.shape)
        np.testing.assert_array_equal(g, w)
    return got


def _int_conv(x, w, xz, wz, strides, pads, dilations, group):
    """Σ (x − xz)(w − wz) over each window in int64 (NumPy's integer arithmetic): any number
    of spatial axes, pads as ONNX's (begins, then ends)."""
    n = x.ndim - 2
    xs = x.astype(np.int64) - np.int64(xz)
    ws = w.astype(np.int64) - np.asarray(wz, np.int64).reshape(-1, *[1] * (n + 1))
    xs = np.pad(xs, [(0, 0), (0, 0), *[(pads[i], pads[i + n]) for i in range(n)]])
    k = w.shape[2:]
    span = [(k[i] - 1) * dilations[i] + 1 for i in range(n)]
    win = sliding_window_view(xs, span, axis=tuple(range(2, 2 + n)))
    win = win[(slice(None), slice(None), *[slice(None, None, s) for s in strides])]
    win = win[(Ellipsis, *[slice(None, None, d) for d in dilations])]
    N, C = x.shape[:2]
    M, Cg = w.shape[:2]
    out = win.shape[2 : 2 + n]
    win = win.reshape(N, group, Cg, *out, -1)
    wg = ws.reshape(group, M // group, Cg, -1)
    y = np.einsum("ngc...k,gmck->ngm...", win, wg)
    return y.reshape(N, M, *out)


# ---------------------------------------------------------------------------------------------
# QLinearConv

_CONSTS = (
    "x_scale",
    "x_zero_point",
    "w",
    "w_scale",
    "w_zero_point",
    "y_scale",
    "y_zero_point",
    "B",
)

_GEOMETRIES = {  # name: (x's spatial sizes, kernel, attributes, group)
    "2d": ((9, 8), (3, 3), {}, 1),
    "2d_stride_asym_pads": ((9, 8), (3, 2), {"strides": [2, 1], "pads": [1, 0, 2, 1]}, 1),
    "2d_dilated_groups": ((10, 9), (3, 3), {"dilations": [2, 1], "pads": [1, 1, 1, 1]}, 2),
    "2d_depthwise_same": ((7, 6), (3, 3), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}, 4),
    "2d_same_lower": ((7, 6), (2, 3), {"auto_pad": "SAME_LOWER"}, 1),
    "1d": ((11,), (3,), {"strides": [2], "pads": [2, 1], "dilations": [2]}, 2),
    "3d": ((5, 6, 4), (2, 3, 2), {"strides": [1, 2, 1], "pads": [1, 0, 1, 0, 1, 1]}, 1),
}


def _qlinearconv(rng, xt, wt, per_channel, geometry, bias=True, y_scale=None, ties=False):
    sizes, kernel, attrs, group = _GEOMETRIES[geometry]
    C, M = 4, 8
    x = _ints(rng, xt, (2, C, *sizes))
    w = _ints(rng, wt, (M, C // group, *kernel))
    shape = (M,) if per_channel else ()
    if ties:  # power-of-two scales: acc · m lands on halves, so rounding half to even shows
        x_scale, w_scale = np.float32(0.5), np.full(shape, 0.25, np.float32)
        y_scale = np.float32(1.0)
    else:
        x_scale = np.float32(rng.uniform(0.005, 0.05))
        w_scale = rng.uniform(0.001, 0.02, size=shape).astype(np.float32)
    y_scale = np.float32(rng.uniform(0.05, 0.3) if y_scale is None else y_scale)
    w_zero = np.full(shape, 0 if wt == I8 else 120, wt)  # onnxruntime: one w zero point
    inputs = [
        ("x", x),
        ("x_scale", np.array(x_scale)),
        ("x_zero_point", np.array(_ints(rng, xt, ()), xt)),
        ("w", w),
        ("w_scale", np.asarray(w_scale)),
        ("w_zero_point", w_zero),
        ("y_scale", np.array(y_scale)),
        ("y_zero_point", np.array(_ints(rng, xt, ()) // 2, xt)),
    ]
    if bias:
        inputs.append(("B", rng.integers(-3000, 3000, size=(M,), dtype=np.int32)))
    return _model("QLinearConv", inputs, _CONSTS, {"group": group, **attrs}, (xt,)), {"x": x}


@pytest.mark.parametrize("geometry", list(_GEOMETRIES))
@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
@pytest.mark.parametrize("xt, wt", [(U8, U8), (U8, I8), (I8, I8)], ids=["u8u8", "u8s8", "s8s8"])
def test_qlinearconv_equals_onnxruntime(xt, wt, per_channel, geometry):
    """QLinearConv in 1, 2 and 3 spatial axes (groups, strides, dilations, asymmetric pads,
    SAME), per-tensor and per-channel weight scales, non-zero zero points, a bias: the same
    8-bit outputs as onnxruntime, every element. (onnxruntime has no int8 x with uint8 w.)"""
    rng = _rng((geometry, per_channel, str(xt), str(wt)))
    model, feeds = _qlinearconv(rng, xt, wt, per_channel, geometry)
    (y,) = _same(model, feeds)
    assert len(np.unique(y)) > 20  # not a saturated constant


def test_qlinearconv_without_bias_and_with_ties_equals_onnxruntime():
    """No bias; power-of-two scales, where acc · multiplier is often exactly k + 1/2 and
    rounding half to even (onnxruntime's, the spec's) decides."""
    for i, (xt, wt) in enumerate([(U8, I8), (I8, I8), (U8, U8)]):
        model, feeds = _qlinearconv(_rng(i), xt, wt, True, "2d", bias=False, ties=True)
        _same(model, feeds)
        x_zero = numpy_helper.to_array(model.graph.initializer[1])
        w = numpy_helper.to_array(model.graph.initializer[2])
        w_zero = numpy_helper.to_array(model.graph.initializer[4])
        acc = _int_conv(feeds["x"], w, x_zero, w_zero, [1, 1], [0] * 4, [1, 1], 1)
        assert (acc % 8 == 4).sum() > 10  # acc · 1/8 on a half: ties did occur


def test_qlinearconv_saturates_at_both_ends_as_onnxruntime():
    """A y_scale so small that most outputs leave the 8-bit range: clipped to 0 / 255
    (uint8) and −128 / 127 (int8), as onnxruntime."""
    for xt, wt in [(U8, I8), (I8, I8)]:
        model, feeds = _qlinearconv(_rng(3), xt, wt, False, "2d", y_scale=0.002)
        (y,) = _same(model, feeds)
        info = np.iinfo(xt)
        assert (y == info.min).sum() > 50 and (y == info.max).sum() > 50


def test_qlinearconv_multiplier_beyond_float32_equals_onnxruntime_without_warnings():
    """y_scale so small that x_scale · w_scale / y_scale overflows float32: a sum of 0 (an
    image at its zero point) times ∞ is NaN, which gives the type's minimum, as onnxruntime;
    the other sums saturate. No RuntimeWarning reaches the user."""
    import warnings

    for xt, wt in [(U8, I8), (I8, I8)]:
        model, feeds = _qlinearconv(_rng(5), xt, wt, False, "2d", bias=False, y_scale=1e-44)
        feeds["x"][0] = numpy_helper.to_array(model.graph.initializer[1])  # x's zero point
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            (y,) = _same(model, feeds)
        assert np.all(y[0] == np.iinfo(xt).min)


def test_a_conv_of_the_wrong_rank_is_refused_naming_the_input():
    """A Conv whose pads differ before and after (computed by the loader's own op) given a
    run-time X of 5 or 3 axes: refused naming the node and input, not an IndexError."""
    w = np.ones((2, 1, 3, 3), np.float32)
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="c", pads=[0, 1, 1, 0])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "w")],
    )
    loaded = load(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()
    )
    assert loaded(np.ones((1, 1, 4, 4), np.float32)).shape == (1, 2, 3, 3)
    for shape in [(1, 1, 4, 4, 4), (1, 4, 4)]:
        with pytest.raises(ValueError, match=r"node 'c' \(Conv\): input 'X': expected 4 axes"):
            loaded(np.ones(shape, np.float32))


def test_qlinearconv_sums_beyond_float32_and_differing_zero_points_equal_onnxruntime():
    """Sums of magnitude above 2²⁴ (exact in cnnmath; onnxruntime rounds them to float32
    before scaling, and so does cnnmath); weight zero points that differ per output channel
    (uint8 weights): onnxruntime's outputs, and ONNX's reference evaluator's."""
    from onnx.reference import ReferenceEvaluator

    rng = _rng(11)
    x = np.where(rng.random((1, 72, 6, 6)) < 0.9, 255, 0).astype(U8)
    w = np.full((6, 72, 3, 3), 127, I8)
    w[:3] = -128  # sums of both signs, each 255 · w · (the count of 255s in its window)
    inputs = [
        ("x", x),
        ("x_scale", np.array(0.02, np.float32)),
        ("x_zero_point", np.array(0, U8)),
        ("w", w),
        ("w_scale", np.array(0.001, np.float32)),
        ("w_zero_point", np.array(0, I8)),
        ("y_scale", np.array(3.2, np.float32)),
        ("y_zero_point", np.array(128, U8)),
    ]
    acc = _int_conv(x, w, 0, 0, [1, 1], [0] * 4, [1, 1], 1)
    assert np.abs(acc).min() > 2**24 and np.unique(acc % 2).size == 2  # odd ones: inexact
    (y,) = _same(_model("QLinearConv", inputs, _CONSTS, {}, (U8,)), {"x": x})
    assert 0 < y.min() and y.max() < 255 and len(np.unique(y)) > 5  # none saturated
    x, w = _ints(rng, U8, (2, 4, 6, 6)), _ints(rng, U8, (3, 4, 3, 3))
    inputs[0], inputs[3] = ("x", x), ("w", w)
    inputs[4:6] = [
        ("w_scale", np.array([0.01, 0.02, 0.03], np.float32)),
        ("w_zero_point", np.array([100, 120, 140], U8)),
    ]
    inputs[6:] = [("y_scale", np.array(0.5, np.float32)), ("y_zero_point", np.array(100, U8))]
    model = _model("QLinearConv", inputs, _CONSTS, {"pads": [1, 0, 0, 1]}, (U8,))
    (y,) = _same(model, {"x": x})
    np.testing.assert_array_equal(y, ReferenceEvaluator(model).run(None, {"x": x})[0])


# ---------------------------------------------------------------------------------------------
# QLinearMatMul


def _qlinearmatmul(rng, at, bt, a_shape, b_shape, b_per_column=False, y_scale=None, opset=13):
    a, b = _ints(rng, at, a_shape), _ints(rng, bt, b_shape)
    N = b_shape[-1]
    b_scale = (
        rng.uniform(0.001, 0.02, size=(N,)).astype(np.float32)
        if b_per_column
        else np.array(np.float32(rng.uniform(0.001, 0.02)))
    )
    b_zero = np.full(b_scale.shape, 0 if bt == I8 else 128, bt)
    inputs = [
        ("a", a),
        ("a_scale", np.array(np.float32(rng.uniform(0.005, 0.05)))),
        ("a_zero_point", np.array(_ints(rng, at, ()), at)),
        ("b", b),
        ("b_scale", b_scale),
        ("b_zero_point", b_zero),
        ("y_scale", np.array(np.float32(rng.uniform(0.05, 0.2) if y_scale is None else y_scale))),
        ("y_zero_point", np.array(_ints(rng, at, ()) // 2, at)),
    ]
    consts = [n for n, _ in inputs if n not in ("a",)]
    return _model("QLinearMatMul", inputs, consts, out_dtypes=(at,), opset=opset), {"a": a}


@pytest.mark.parametrize("opset", [13, 21])
@pytest.mark.parametrize(
    "a_shape, b_shape",
    [((5, 40), (40, 7)), ((3, 5, 64), (64, 9)), ((2, 3, 4, 33), (2, 1, 33, 6))],
    ids=["2d", "3d_by_2d", "4d_broadcast"],
)
@pytest.mark.parametrize("at, bt", [(U8, U8), (U8, I8), (I8, I8)], ids=["u8u8", "u8s8", "s8s8"])
def test_qlinearmatmul_equals_onnxruntime(at, bt, a_shape, b_shape, opset):
    """QLinearMatMul, 2-D and batched (broadcast), uint8 and int8, per-tensor scales, non-zero
    zero points, at opsets 13 and 21: onnxruntime's 8-bit outputs, every element."""
    rng = _rng((a_shape, str(at), str(bt), opset))
    model, feeds = _qlinearmatmul(rng, at, bt, a_shape, b_shape, opset=opset)
    (y,) = _same(model, feeds)
    assert len(np.unique(y)) > 10


def test_qlinearmatmul_per_column_and_saturation_equal_onnxruntime():
    """b's scale and zero point per column (N,), and outputs saturated at both ends."""
    for i, (at, bt) in enumerate([(U8, I8), (U8, U8), (I8, I8)]):
        model, feeds = _qlinearmatmul(_rng(10 + i), at, bt, (6, 50), (50, 8), True)
        _same(model, feeds)
        model, feeds = _qlinearmatmul(_rng(20 + i), at, bt, (6, 50), (50, 8), y_scale=0.001)
        (y,) = _same(model, feeds)
        info = np.iinfo(at)
        assert (y == info.min).sum() > 3 and (y == info.max).sum() > 3


def test_qlinearmatmul_per_row_scales_equal_the_reference_evaluator():
    """a's scale and zero point per row ((M, 1), and (M,) for a 2-D a, which cnnmath reads
    as the same), b's per column, as the spec allows and onnxruntime refuses (its a zero
    point must be a scalar): ONNX's reference evaluator's outputs."""
    from onnx.reference import ReferenceEvaluator

    rng = _rng(12)
    a, b = _ints(rng, U8, (6, 40)), _ints(rng, I8, (40, 5))
    a_scale = rng.uniform(0.01, 0.03, (6, 1)).astype(np.float32)
    a_zero = _ints(rng, U8, (6, 1))
    inputs = [
        ("a", a),
        ("a_scale", a_scale),
        ("a_zero_point", a_zero),
        ("b", b),
        ("b_scale", rng.uniform(0.01, 0.03, (5,)).astype(np.float32)),
        ("b_zero_point", np.array([0, 1, -1, 2, 5], I8)),
        ("y_scale", np.array(0.3, np.float32)),
        ("y_zero_point", np.array(128, U8)),
    ]
    consts = [n for n, _ in inputs if n != "a"]
    model = _model("QLinearMatMul", inputs, consts)
    want = ReferenceEvaluator(model).run(None, {"a": a})[0]
    (y,) = _cnnmath(model, {"a": a})
    np.testing.assert_array_equal(y, want)
    assert len(np.unique(y)) > 10
    inputs[1:3] = [("a_scale", a_scale.ravel()), ("a_zero_point", a_zero.ravel())]
    (y,) = _cnnmath(_model("QLinearMatMul", inputs, consts), {"a": a})
    np.testing.assert_array_equal(y, want)


# ---------------------------------------------------------------------------------------------
# ConvInteger and MatMulInteger: int32, exact


@pytest.mark.parametrize("geometry", ["2d", "2d_stride_asym_pads", "2d_dilated_groups", "1d", "3d"])
@pytest.mark.parametrize("wt", [U8, I8])
def test_conv_integer_equals_numpy_and_onnxruntime(wt, geometry):
    """ConvInteger = Σ (x − x_zero_point)(w − w_zero_point) in int64 NumPy arithmetic (the
    padding holds the zero point), int32; onnxruntime's (uint8 x, its only one) the same."""
    sizes, kernel, attrs, group = _GEOMETRIES[geometry]
    rng = _rng((geometry, str(wt)))
    x = _ints(rng, U8, (2, 4, *sizes))
    w = _ints(rng, wt, (6, 4 // group, *kernel))
    x_zero, w_zero = np.array(131, U8), np.array(3 if wt == I8 else 200, wt)
    inputs = [("x", x), ("w", w), ("x_zero_point", x_zero), ("w_zero_point", w_zero)]
    model = _model("ConvInteger", inputs, ("w", "x_zero_point", "w_zero_point"),
                   {"group": group, **attrs}, (np.int32,))  # fmt: skip
    (y,) = _same(model, {"x": x})
    n = len(sizes)
    want = _int_conv(
        x,
        w,
        x_zero,
        w_zero,
        attrs.get("strides", [1] * n),
        attrs.get("pads", [0] * 2 * n),
        attrs.get("dilations", [1] * n),
        group,
    )
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, want)


def test_conv_integer_int8_x_and_per_channel_zero_points_equal_numpy():
    """Where onnxruntime has no kernel (int8 x; a w zero point per output channel) cnnmath
    follows the spec, checked against NumPy's int64 arithmetic; absent zero points are 0."""
    rng = _rng(5)
    x, w = _ints(rng, I8, (2, 6, 7, 7)), _ints(rng, I8, (4, 3, 3, 3))
    w_zero = np.array([-3, 0, 5, 100], I8)
    attrs = {"group": 2, "pads": [1, 2, 0, 1], "strides": [1, 2]}
    inputs = [("x", x), ("w", w), ("x_zero_point", np.array(-7, I8)), ("w_zero_point", w_zero)]
    model = _model("ConvInteger", inputs, ("w", "w_zero_point"), attrs, (np.int32,))
    (y,) = _cnnmath(model, {"x": x, "x_zero_point": np.array(-7, I8)})
    np.testing.assert_array_equal(y, _int_conv(x, w, -7, w_zero, [1, 2], [1, 2, 0, 1], [1, 1], 2))
    w = _ints(rng, I8, (4, 6, 2, 3))
    model = _model("ConvInteger", [("x", x), ("w", w)], ("w",), {}, (np.int32,))
    (y,) = _cnnmath(model, {"x": x})
    np.testing.assert_array_equal(y, _int_conv(x, w, 0, 0, [1, 1], [0] * 4, [1, 1], 1))


def test_matmul_integer_equals_numpy_and_onnxruntime():
    """MatMulInteger = (A − a_zero_point) @ (B − b_zero_point) in int64 NumPy, int32:
    2-D, batched, zero points per tensor, per row of A and per column of B, absent; the
    same as onnxruntime's where it has a kernel."""
    rng = _rng(6)
    for at, bt in [(U8, U8), (U8, I8), (I8, I8), (I8, U8)]:
        a, b = _ints(rng, at, (3, 5, 70)), _ints(rng, bt, (70, 9))
        az, bz = np.array(_ints(rng, at, ()), at), _ints(rng, bt, (9,))
        inputs = [("A", a), ("B", b), ("a_zero_point", az), ("b_zero_point", bz)]
        model = _model("MatMulInteger", inputs, ("B", "a_zero_point", "b_zero_point"),
                       out_dtypes=(np.int32,))  # fmt: skip
        want = (a.astype(np.int64) - az) @ (b.astype(np.int64) - bz)
        if at == U8:
            (y,) = _same(model, {"A": a})
        else:
            (y,) = _cnnmath(model, {"A": a})
        assert y.dtype == np.int32
        np.testing.assert_array_equal(y, want)
    a2, b2 = _ints(rng, U8, (4, 30)), _ints(rng, I8, (30, 5))
    a_rows = _ints(rng, U8, (4,))
    inputs = [("A", a2), ("B", b2), ("a_zero_point", a_rows)]
    model = _model("MatMulInteger", inputs, ("B", "a_zero_point"), out_dtypes=(np.int32,))
    (y,) = _cnnmath(model, {"A": a2})
    np.testing.assert_array_equal(y, (a2.astype(np.int64) - a_rows[:, None]) @ b2)
    model = _model("MatMulInteger", [("A", a2), ("B", b2)], ("B",), out_dtypes=(np.int32,))
    (y,) = _same(model, {"A": a2})
    np.testing.assert_array_equal(y, a2.astype(np.int64) @ b2)


# ---------------------------------------------------------------------------------------------
# DynamicQuantizeLinear


@pytest.mark.parametrize(
    "case",
    [
        "mixed",
        "positive",
        "negative",
        "zeros",
        "tiny",
        "wide",
        "one_value",
        "underflow",
        "overflow",
    ],
)
def test_dynamic_quantize_linear_equals_onnxruntime_and_the_reference(case):
    """y, y_scale, y_zero_point of DynamicQuantizeLinear (the range widened to hold 0): the
    same as onnxruntime's, and as ONNX's reference evaluator's (the spec's arithmetic)."""
    from onnx.reference import ReferenceEvaluator

    rng = _rng(7)
    x = {
        "mixed": rng.normal(0.3, 2.0, (3, 40)),
        "positive": rng.uniform(0.5, 4.0, (50,)),
        "negative": -rng.uniform(0.1, 3.0, (4, 5, 6)),
        "zeros": np.zeros((2, 3)),
        "tiny": rng.normal(0, 1e-6, (30,)),
        "wide": rng.normal(0, 1e4, (30,)),
        "one_value": np.array([[-1.5]]),
        "underflow": np.array([1e-44, 0, -1e-45, 3e-45]),
        "overflow": np.array([3e38, -3e38, 1.0]),
    }[case].astype(np.float32)
    model = _model(
        "DynamicQuantizeLinear", [("x", x)], (), {}, (np.uint8, np.float32, np.uint8), opset=13
    )
    y, scale, zero = _same(model, {"x": x})
    assert scale.shape == () and zero.shape == () and y.dtype == np.uint8
    if case == "underflow":  # the reference casts NaN to uint8 (undefined): onnxruntime only
        assert scale == 0 and zero == 255 and set(y.tolist()) == {0, 255}
        return
    with np.errstate(all="ignore"):
        ref = ReferenceEvaluator(model).run(None, {"x": x})
    assert ref[0].shape == y.shape
    if case == "zeros":  # the spec's 0 / 0: onnxruntime's scale is 1, the reference's 1/255
        assert scale == 1 and ref[1] == np.float32(1 / 255)
        ref[1] = scale
    for got, want in zip((y, scale, zero), ref):
        np.testing.assert_array_equal(got, want)


def test_dynamic_quantize_feeding_matmul_integer_as_quantize_dynamic_writes_it():
    """onnxruntime's ``quantize_dynamic`` of a float MatMul: DynamicQuantizeLinear →
    MatMulInteger → Cast → Mul by the scales; cnnmath runs the file it writes and gives
    onnxruntime's outputs (to float32 rounding: the Mul's order may differ)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = _rng(8)
    w = rng.normal(0, 0.2, (32, 10)).astype(np.float32)
    x = rng.normal(0, 1, (4, 32)).astype(np.float32)
    model = _model("MatMul", [("x", x), ("w", w)], ("w",), out_dtypes=(np.float32,))
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "f.onnx", Path(d) / "q.onnx"
        onnx.save(model, src)
        quantize_dynamic(src, dst, weight_type=QuantType.QUInt8)
        q = onnx.load(dst)
    ops = [n.op_type for n in q.graph.node]
    assert "DynamicQuantizeLinear" in ops and "MatMulInteger" in ops
    want = _onnxruntime(q, {"x": x})[0]
    got = _cnnmath(q, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert np.abs(want - x @ w).max() > 0  # quantized: not the float product


def test_matmul_quantized_by_quantize_static_runs_as_in_onnxruntime(tmp_path):
    """A float MatMul quantized by ``quantize_static`` in QOperator format (QuantizeLinear →
    QLinearMatMul → DequantizeLinear, uint8 and int8 activations): onnxruntime's outputs
    exactly."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    rng = _rng(13)
    w = rng.normal(0, 0.3, (24, 6)).astype(np.float32)
    x = rng.normal(0, 1, (5, 24)).astype(np.float32)
    onnx.save(_model("MatMul", [("x", x), ("w", w)], ("w",), out_dtypes=(np.float32,)),
              tmp_path / "f.onnx")  # fmt: skip

    class Rows(CalibrationDataReader):
        def __init__(self) -> None:
            self.rows = iter([{"x": r} for r in rng.normal(0, 1, (4, 5, 24)).astype(np.float32)])

        def get_next(self):
            return next(self.rows, None)

    for activation in (QuantType.QUInt8, QuantType.QInt8):
        quantize_static(
            tmp_path / "f.onnx",
            tmp_path / "q.onnx",
            Rows(),
            quant_format=QuantFormat.QOperator,
            activation_type=activation,
            weight_type=QuantType.QInt8,
        )
        q = onnx.load(tmp_path / "q.onnx")
        assert "QLinearMatMul" in [n.op_type for n in q.graph.node]
        (y,) = _same(q, {"x": x})
        assert 0 < np.abs(y - x @ w).mean() < 0.1  # quantized: near the float product


# ---------------------------------------------------------------------------------------------
# A quantized CNN, end to end


@pytest.mark.parametrize(
    "activation, weight, per_channel",
    [("QUInt8", "QInt8", False), ("QInt8", "QInt8", True), ("QUInt8", "QUInt8", True)],
)
def test_cnn_quantized_by_quantize_static_runs_as_in_onnxruntime(
    tmp_path, activation, weight, per_channel
):
    """A float CNN of cnnmath's (conv–relu–pool–conv–flatten–linear) saved by
    ``cnnmath.onnx.save``, quantized by onnxruntime's ``quantize_static`` in QOperator
    format (calibrated on random images), loaded by cnnmath: every 8-bit activation equals
    onnxruntime's, and the output agrees to float32 rounding (the last, float, Gemm sums in
    another order). Conv (and the Relu it absorbs) and MaxPool are quantized, the pool run on
    the 8-bit values between the QLinearConvs; Linear's Gemm is left in float (its QGemm, a
    com.microsoft op, is tested in test_onnx_qcontrib.py)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    rng = _rng(9)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, dtype=np.float32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, stride=2, dtype=np.float32),
        nn.Flatten(),
        nn.Linear(16 * 3 * 3, 10, dtype=np.float32),
    )
    model.eval()
    x = rng.standard_normal((2, 3, 16, 16)).astype(np.float32)
    save(model, tmp_path / "f.onnx", x)
    name = onnx.load(tmp_path / "f.onnx").graph.input[0].name

    class Images(CalibrationDataReader):
        def __init__(self) -> None:
            images = rng.standard_normal((6, 1, 3, 16, 16)).astype(np.float32)
            self.batches = iter([{name: image} for image in images])

        def get_next(self):
            return next(self.batches, None)

    quantize_static(
        tmp_path / "f.onnx",
        tmp_path / "q.onnx",
        Images(),
        quant_format=QuantFormat.QOperator,
        op_types_to_quantize=["Conv", "Relu", "MaxPool"],
        activation_type=getattr(QuantType, activation),
        weight_type=getattr(QuantType, weight),
        per_channel=per_channel,
    )
    q = onnx.load(tmp_path / "q.onnx")
    ops = [n.op_type for n in q.graph.node]
    assert ops.count("QLinearConv") == 2 and "Relu" not in ops
    pool = next(n for n in q.graph.node if n.op_type == "MaxPool")
    assert any(n.output[0] == pool.input[0] and n.op_type == "QLinearConv" for n in q.graph.node)
    assert all(n.domain in ("", "ai.onnx") for n in q.graph.node)
    quantized = [
        n.output[0] for n in q.graph.node if n.op_type in ("QuantizeLinear", "QLinearConv")
    ]
    q.graph.output.extend(helper.make_empty_tensor_value_info(v) for v in quantized)
    got, want = _cnnmath(q, {name: x}), _onnxruntime(q, {name: x})
    for g, w in zip(got[1:], want[1:]):
        assert g.dtype == w.dtype and g.dtype in (U8, I8)
        np.testing.assert_array_equal(g, w)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)
    float_y = model(x)
    assert 0 < np.abs(want[0] - float_y).max() < 0.1  # quantized, and close to the float CNN


@pytest.mark.parametrize("dtype", [U8, I8])
@pytest.mark.parametrize(
    "shape, attrs",
    [
        ((2, 3, 8, 8), {"kernel_shape": [2, 2], "strides": [2, 2]}),
        ((2, 3, 9, 9), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 0, 0]}),
        ((2, 3, 9, 9), {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
        ((2, 3, 10), {"kernel_shape": [3], "strides": [2], "pads": [1, 1]}),
        ((1, 2, 4, 6, 6), {"kernel_shape": [2, 2, 2], "strides": [2, 2, 2]}),
    ],
)
def test_max_pool_of_8_bit_values_equals_onnxruntime(dtype, shape, attrs):
    """MaxPool on the quantized values (uint8 or int8, as quantize_static writes it between
    QLinearConvs): the type kept, every value onnxruntime's, padding never winning."""
    t = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    node = helper.make_node("MaxPool", ["x"], ["y"], name="pool", **attrs)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", t, shape)],
        [helper.make_tensor_value_info("y", t, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    info = np.iinfo(dtype)
    x = _rng(4).integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    x.reshape(-1)[:4] = info.min  # a window of only the least value, beside the padding
    (got,), (want,) = _cnnmath(model, {"x": x}), _onnxruntime(model, {"x": x})
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------------------------
# Refusals


def _conv_inputs(**change):
    x = np.zeros((1, 2, 5, 5), U8)
    inputs = dict(
        x=x,
        x_scale=np.array(0.1, np.float32),
        x_zero_point=np.array(3, U8),
        w=np.ones((4, 2, 3, 3), I8),
        w_scale=np.array(0.1, np.float32),
        w_zero_point=np.array(0, I8),
        y_scale=np.array(0.5, np.float32),
        y_zero_point=np.array(0, U8),
    )
    inputs.update(change)
    return list(inputs.items())


@pytest.mark.parametrize(
    "change, message",
    [
        ({"x_scale": np.array(0.0, np.float32)}, r"input 'x_scale': expected finite positive"),
        ({"y_scale": np.array(np.inf, np.float32)}, r"input 'y_scale': expected finite positive"),
        ({"w_scale": np.array([0.1, -1, 1, 1], np.float32)}, r"input 'w_scale': .*positive"),
        ({"x_zero_point": np.array(3, I8)}, r"input 'x_zero_point': expected x's type uint8"),
        ({"w_zero_point": np.array(0, U8)}, r"input 'w_zero_point': expected w's type int8"),
        ({"w_scale": np.ones(3, np.float32)}, r"input 'w_scale': expected a scalar .* \(4,\)"),
        ({"w_zero_point": np.zeros(2, I8)}, r"input 'w_zero_point': .*\(4,\).*got shape \(2,\)"),
        ({"x_scale": np.ones(2, np.float32)}, r"input 'x_scale': expected a scalar, got"),
        ({"x": np.zeros((1, 2, 5, 5), np.int32)}, r"input 'x': expected uint8 or int8"),
        ({"w": np.ones((4, 3, 3, 3), I8)}, r"attribute 'group'"),
        ({"B": np.zeros(4, np.int64)}, r"input 'B': expected int32 of shape \(4,\)"),
        ({"x_scale": np.array(1, np.int32)}, r"input 'x_scale': expected float32"),
    ],
)
def test_qlinearconv_refuses_bad_inputs_naming_them(change, message):
    inputs = _conv_inputs(**change)
    model = _model("QLinearConv", inputs, [n for n, _ in inputs if n != "x"], {}, (U8,))
    with pytest.raises(Refusal, match=r"\(QLinearConv\): " + message):
        _cnnmath(model, {"x": dict(inputs)["x"]})


def test_constant_scales_and_zero_point_types_are_refused_at_load_time():
    """A bad constant scale, or a zero point whose type differs from its (graph input's)
    value's, is refused by ``load`` itself, before anything runs."""
    for change, message in [
        ({"w_scale": np.array(-0.5, np.float32)}, r"input 'w_scale': expected finite positive"),
        ({"x_zero_point": np.array(0, I8)}, r"input 'x_zero_point': expected x's type uint8"),
    ]:
        inputs = _conv_inputs(**change)
        model = _model("QLinearConv", inputs, [n for n, _ in inputs if n != "x"], {}, (U8,))
        with pytest.raises(Refusal, match=r"\(QLinearConv\): " + message):
            load(model.SerializeToString())


def test_qlinear_matmul_and_integer_ops_refuse_bad_inputs_naming_them():
    a = np.zeros((3, 4), U8)
    base = dict(
        a=a,
        a_scale=np.array(0.1, np.float32),
        a_zero_point=np.array(0, U8),
        b=np.zeros((4, 5), U8),
        b_scale=np.array(0.1, np.float32),
        b_zero_point=np.array(0, U8),
        y_scale=np.array(0.1, np.float32),
        y_zero_point=np.array(0, U8),
    )
    for change, message in [
        ({"b_scale": np.ones(4, np.float32)}, r"input 'b_scale': expected a scalar, \(5,\)"),
        ({"a_scale": np.array(np.nan, np.float32)}, r"input 'a_scale': expected finite"),
        ({"b_zero_point": np.array(0, I8)}, r"input 'b_zero_point': expected b's type uint8"),
        ({"b": np.zeros((3, 5), U8)}, r"inputs: shapes \(3, 4\) and \(3, 5\) do not multiply"),
    ]:
        inputs = list({**base, **change}.items())
        model = _model("QLinearMatMul", inputs, [n for n, _ in inputs if n != "a"])
        with pytest.raises(Refusal, match=r"\(QLinearMatMul\): " + message):
            _cnnmath(model, {"a": a})
    inputs = [("A", a), ("B", np.zeros((4, 5), U8)), ("a_zero_point", np.array(0, I8))]
    model = _model("MatMulInteger", inputs, ("B", "a_zero_point"), out_dtypes=(np.int32,))
    with pytest.raises(Refusal, match=r"\(MatMulInteger\): input 'a_zero_point': expected A's"):
        _cnnmath(model, {"A": a})
    x = np.zeros((1, 2, 5, 5), U8)
    inputs = [
        ("x", x),
        ("w", np.zeros((3, 2, 2, 2), U8)),
        ("", None),
        ("w_zero_point", np.zeros(2, U8)),
    ]
    model = _model("ConvInteger", inputs, ("w", "w_zero_point"), out_dtypes=(np.int32,))
    with pytest.raises(Refusal, match=r"\(ConvInteger\): input 'w_zero_point': .*\(3,\)"):
        _cnnmath(model, {"x": x})
    x = np.array([1.0, np.nan], np.float32)
    model = _model("DynamicQuantizeLinear", [("x", x)], (), {}, (U8,))
    with pytest.raises(Refusal, match=r"\(DynamicQuantizeLinear\): input 'x': expected finite"):
        _cnnmath(model, {"x": x})


def test_integer_ops_give_no_gradient_and_dynamic_quantize_refuses_backward():
    """The 8-bit ops take no gradient (their inputs are integers): backward to an 8-bit
    graph input is zeros; DynamicQuantizeLinear's backward raises, naming the node, as
    QuantizeLinear's does."""
    model, feeds = _qlinearconv(_rng(1), U8, I8, False, "2d")
    graph = load(model.SerializeToString())
    graph.train()
    y = graph(feeds["x"])
    gx = graph.backward(np.ones(y.shape, np.float32))
    assert np.asarray(gx).shape == feeds["x"].shape and not np.asarray(gx).any()
    x = np.ones((2, 3), np.float32)
    model = _model("DynamicQuantizeLinear", [("x", x)], (), {}, (U8,))
    graph = load(model.SerializeToString())
    graph.train()
    y = graph(x)
    with pytest.raises(RuntimeError, match=r"DynamicQuantizeLinear\): backward"):
        graph.backward(np.ones(y.shape, np.float32))
