"""cnnmath.onnx.save on quantized graphs read by cnnmath.onnx.load: onnxruntime's com.microsoft
ops (QLinearAdd, QLinearMul, QLinearGlobalAveragePool, QLinearAveragePool, QGemm,
QLinearConcat, QLinearLeakyRelu, QLinearSigmoid, QLinearSoftmax) and ONNX's own (QuantizeLinear,
DequantizeLinear, QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger,
DynamicQuantizeLinear) are written back as read.

The witnesses, per model: the saved file passes ``onnx.checker.check_model(full_check=True)``
and imports com.microsoft's opset 1 where it holds its ops (onnx has no schema for them:
its checker and shape inference skip those nodes); its nodes are the original's (op
type, domain, attributes) with the same constants as initializers of their own dtype (scales
float32, zero points and weights 8-bit, biases int32); onnxruntime gives exactly the same
outputs on it as on the original file (two batch sizes), and so do cnnmath's graph loaded from
the original and the one loaded from the saved file, and that one saved again writes the
same bytes. The models: a ResNet-like CNN and a CNN
holding every contrib op quantized by ``quantize_static`` (QOperator defaults, per channel,
uint8 activations), a CNN quantized by ``quantize_dynamic``, and one small model per op, uint8
and int8. Then the refusals (by name) and a failing save that leaves the file as it was.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import helper, numpy_helper  # noqa: E402

from cnnmath.onnx import load, save  # noqa: E402
from test_onnx_qcontrib import (  # noqa: E402
    _every_contrib_op_net,
    _ints,
    _resnet_like,
    _rng,
    quantized_static,
)

U8, I8 = np.uint8, np.int8
MS = "com.microsoft"


def _ort(model, x):
    data = model if isinstance(model, bytes) else model.SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})


def _signature(model):
    """Per node (Constant nodes aside): op type, domain, its attributes serialized, and the
    dtype and bytes of each of its inputs that is an initializer, by position."""
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    out = []
    for n in model.graph.node:
        if n.op_type == "Constant":
            continue
        consts = tuple(
            (i, str(inits[v].dtype), inits[v].shape, inits[v].tobytes())
            for i, v in enumerate(n.input)
            if v in inits
        )
        attrs = tuple(sorted(a.SerializeToString() for a in n.attribute))
        out.append((n.op_type, n.domain or "", attrs, consts))
    return Counter(out)


def _saved_back(q, x, tmp_path):
    """Save the graph cnnmath loads from ``q`` and check it against ``q`` (module docstring);
    returns the saved ModelProto."""
    g = load(q.SerializeToString())
    path = tmp_path / "saved.onnx"
    save(g, path, x)
    s = onnx.load(path)
    onnx.checker.check_model(s, full_check=True)
    opsets = {o.domain: o.version for o in s.opset_import}
    read = {o.domain: o.version for o in q.opset_import}
    assert opsets[""] == read.get("", read.get("ai.onnx"))
    contrib = [n for n in s.graph.node if n.domain == MS]
    assert (MS in opsets) == bool(contrib) and opsets.get(MS, 1) == 1
    assert [n.op_type for n in contrib] == [n.op_type for n in q.graph.node if n.domain == MS]
    assert _signature(s) == _signature(q)  # the same nodes, attributes and constants
    save(load(path), tmp_path / "again.onnx", x)  # a fixed point: saved once, it stays
    assert (tmp_path / "again.onnx").read_bytes() == path.read_bytes()
    for batch in (x, x[:1]):
        want = _ort(q, batch)
        got_ort = _ort(s, batch)
        ours, again = g(batch), load(path)(batch)
        for got in (got_ort[0], ours, again):
            assert got.dtype == want[0].dtype and got.shape == want[0].shape
            np.testing.assert_array_equal(got, want[0])
    return s


# ---------------------------------------------------------------------------------------------
# Whole networks quantized by onnxruntime's quantizer


@pytest.mark.parametrize(
    "settings", [{}, {"per_channel": True}, {"activation_type": "QUInt8"}], ids=str
)
def test_resnet_like_cnn_quantized_by_default_is_saved_back(tmp_path, settings):
    """The ResNet-like CNN of test_onnx_qcontrib quantized by ``quantize_static`` (QOperator:
    QuantizeLinear, QLinearConv, MaxPool, QLinearAdd, QLinearGlobalAveragePool, Flatten,
    QGemm, DequantizeLinear), saved back: the module docstring's witnesses; its int8 weights,
    int32 biases, float32 scales and 8-bit zero points are initializers of those types."""
    pytest.importorskip("torch")
    x, q = quantized_static(_resnet_like(), tmp_path, ("save", str(settings)), settings)
    s = _saved_back(q, x, tmp_path)
    contrib = {n.op_type for n in s.graph.node if n.domain == MS}
    assert {"QLinearAdd", "QLinearGlobalAveragePool", "QGemm"} <= contrib
    T = onnx.TensorProto
    types = Counter(t.data_type for t in s.graph.initializer)
    # float32 scales, int8 weights, the activations' zero points (uint8 where asked),
    # the 3 convolutions' and QGemm's int32 biases
    activations = {T.UINT8} if settings.get("activation_type") else set()
    assert set(types) == {T.FLOAT, T.INT8, T.INT32} | activations and types[T.INT32] == 4


@pytest.mark.parametrize(
    "settings", [{}, {"activation_type": "QUInt8", "per_channel": True}], ids=str
)
def test_a_cnn_using_every_contrib_op_is_saved_back(tmp_path, settings):
    """The CNN of test_onnx_qcontrib whose quantization writes every com.microsoft op read
    (LeakyRelu, Add, Sigmoid, Mul, Concat, AveragePool, GlobalAveragePool, Gemm, Softmax),
    saved back: every one of them in the saved file, the module docstring's witnesses."""
    pytest.importorskip("torch")
    from cnnmath.onnx._ops import MICROSOFT

    x, q = quantized_static(
        _every_contrib_op_net(), tmp_path, ("save-every", str(settings)), settings
    )
    s = _saved_back(q, x, tmp_path)
    assert {n.op_type for n in s.graph.node if n.domain == MS} == set(MICROSOFT)
    # onnx has no schema for com.microsoft's ops: full_check passes (above) as it skips
    # their nodes, and fails, as on the quantizer's own file, when asked to check them
    for model in (s, q):
        with pytest.raises(onnx.checker.ValidationError, match=r"No Op registered for QLinear"):
            onnx.checker.check_model(model, full_check=True, check_custom_domain=True)


def test_a_cnn_quantized_by_quantize_dynamic_is_saved_back(tmp_path):
    """``quantize_dynamic`` of the ResNet-like CNN (DynamicQuantizeLinear with its three
    outputs read, ConvInteger, MatMulInteger, Cast, Mul, Add): onnxruntime gives the same
    output, bit for bit, on the saved file as on the original, and cnnmath's graph loaded
    from the saved file the same as the one loaded from the original (cnnmath's own float
    Mul/Add after the integer ops may differ from onnxruntime's fused kernels by an ulp:
    test_onnx_qlinear's business, not save's)."""
    torch = pytest.importorskip("torch")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from helpers import torch_onnx_export

    net = _resnet_like()
    x = _rng("dynamic").standard_normal((3, 3, 16, 16)).astype(np.float32)
    (tmp_path / "f.onnx").write_bytes(
        torch_onnx_export(net, torch.from_numpy(x), dynamic_axes={"x": {0: "n"}})
    )
    quantize_dynamic(tmp_path / "f.onnx", tmp_path / "d.onnx", weight_type=QuantType.QUInt8)
    q = onnx.load(tmp_path / "d.onnx")
    ops = {n.op_type for n in q.graph.node}
    assert {"DynamicQuantizeLinear", "ConvInteger", "MatMulInteger"} <= ops
    g = load(q.SerializeToString())
    save(g, tmp_path / "s.onnx", x)
    s = onnx.load(tmp_path / "s.onnx")
    onnx.checker.check_model(s, full_check=True)
    assert ops - {"Reshape"} <= {n.op_type for n in s.graph.node}  # (a constant Reshape folded)
    dynamic = [n for n in s.graph.node if n.op_type == "DynamicQuantizeLinear"]
    assert len(dynamic) == sum(n.op_type == "DynamicQuantizeLinear" for n in q.graph.node)
    save(load(tmp_path / "s.onnx"), tmp_path / "again.onnx", x)  # a fixed point
    assert (tmp_path / "again.onnx").read_bytes() == (tmp_path / "s.onnx").read_bytes()
    for batch in (x, x[:2]):
        want = _ort(q, batch)[0]
        np.testing.assert_array_equal(_ort(s, batch)[0], want)
        ours = g(batch)
        np.testing.assert_array_equal(load(tmp_path / "s.onnx")(batch), ours)
        np.testing.assert_allclose(ours, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("settings", [{}, {"per_channel": True}], ids=str)
def test_a_cnn_quantized_in_the_qdq_format_is_saved_with_float_weights(tmp_path, settings):
    """``quantize_static`` in the QDQ format: load folds each weight's DequantizeLinear of
    int8 values into a float32 weight (a Parameter), so save writes the
    weights as float32 initializers and keeps every activation's QuantizeLinear and
    DequantizeLinear as read. onnxruntime running the saved file's nodes as written
    (optimizations off) gives cnnmath's output exactly, which is onnxruntime's on the
    original; so does the graph loaded from the saved file. (With its optimizations on,
    onnxruntime runs float convolutions in another summation order, and an activation at a
    rounding boundary may quantize one step apart: not a property of the file.)"""
    pytest.importorskip("torch")
    x, q = quantized_static(_resnet_like(), tmp_path, ("qdq", str(settings)), settings, "QDQ")
    g = load(q.SerializeToString())
    path = tmp_path / "saved.onnx"
    save(g, path, x)
    s = onnx.load(path)
    onnx.checker.check_model(s, full_check=True)
    ops = Counter(n.op_type for n in s.graph.node)
    read = Counter(n.op_type for n in q.graph.node)
    assert ops["QuantizeLinear"] == read["QuantizeLinear"] == 9
    assert ops["DequantizeLinear"] == 9 < read["DequantizeLinear"]  # the weights' folded
    inits = {t.name: numpy_helper.to_array(t) for t in s.graph.initializer}
    for n in s.graph.node:
        if n.op_type in ("Conv", "Gemm"):
            assert inits[n.input[1]].dtype == np.float32
    exact = ort.SessionOptions()
    exact.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    batch = _rng("qdq-batch").standard_normal((16, 3, 16, 16)).astype(np.float32)
    session = ort.InferenceSession(path, exact, providers=["CPUExecutionProvider"])
    ours = g(batch)
    np.testing.assert_array_equal(ours, _ort(q, batch)[0])
    np.testing.assert_array_equal(session.run(None, {"x": batch})[0], ours)
    np.testing.assert_array_equal(load(path)(batch), ours)


def test_contrib_ops_in_a_run_time_ifs_branches_load_and_save(tmp_path):
    """An If on a condition computed at run time whose branches hold com.microsoft's
    QLinearAdd (then) and QLinearMul (else): the branches, loaded as graphs of their own,
    read the file's com.microsoft import as the outer graph does. cnnmath gives onnxruntime's
    output exactly on both branches, and so does onnxruntime on the saved file, which
    imports the domain for the branches' nodes."""

    def const(name, v):
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(v, name))

    def branch(op, tag):
        nodes = [
            helper.make_node("QuantizeLinear", ["x", "s", "z"], [f"q{tag}"]),
            helper.make_node(
                op, [f"q{tag}", "s", "z", f"q{tag}", "s", "z", "s2", "z"], [f"r{tag}"], domain=MS
            ),
            helper.make_node("DequantizeLinear", [f"r{tag}", "s2", "z"], [f"y{tag}"]),
        ]
        out = helper.make_tensor_value_info(f"y{tag}", onnx.TensorProto.FLOAT, None)
        return helper.make_graph(nodes, f"b{tag}", [], [out])

    nodes = [
        const("s", np.array(0.05, np.float32)),
        const("z", np.array(128, U8)),
        const("s2", np.array(0.1, np.float32)),
        const("zero", np.array(0, np.float32)),
        helper.make_node("ReduceSum", ["x"], ["t"], keepdims=0),
        helper.make_node("Greater", ["t", "zero"], ["cond"]),
        helper.make_node(
            "If",
            ["cond"],
            ["y"],
            then_branch=branch("QLinearAdd", "a"),
            else_branch=branch("QLinearMul", "m"),
        ),
    ]
    F = onnx.TensorProto.FLOAT
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", F, ["n", 3])],
        [helper.make_tensor_value_info("y", F, None)],
    )
    imports = [helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)]
    q = helper.make_model(graph, opset_imports=imports)
    g = load(q.SerializeToString())
    x = np.abs(_rng("if-contrib").standard_normal((4, 3))).astype(np.float32)
    save(g, tmp_path / "s.onnx", x)
    s = onnx.load(tmp_path / "s.onnx")
    assert {o.domain: o.version for o in s.opset_import}.get(MS) == 1
    for sign in (1, -1):  # the then branch, then the else branch
        batch = sign * x
        want = _ort(q, batch)[0]
        ours = g(batch)
        assert not np.array_equal(ours, _ort(q, -batch)[0])  # the branches differ here
        np.testing.assert_array_equal(ours, want)
        np.testing.assert_array_equal(_ort(s, batch)[0], want)
        np.testing.assert_array_equal(load(tmp_path / "s.onnx")(batch), want)


# ---------------------------------------------------------------------------------------------
# One small model per op: float x → QuantizeLinear → the op → DequantizeLinear (or a float
# output) → y


_X = (2, 4, 5, 5)


def _graph(nodes, inits, x_shape=("n", 3)):
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, list(x_shape))],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _quantized_model(dtype, body, consts, out="r", opset=17, x_shape=_X, dequantize=True):
    """x (float32, batch axis "n") → QuantizeLinear(x, 0.03, zero point 3 of ``dtype``) → "q",
    then the nodes ``body`` reading it, their last output ``out`` dequantized with
    (0.05, out_zp) into y unless ``dequantize`` is False (``out`` is then y's float);
    ``consts`` {name: array} initializers."""
    z = np.asarray(3, dtype)
    inits = {"xs": np.float32(0.03), "xz": z, "out_s": np.float32(0.05), **consts}
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["q"]), *body]
    if dequantize:
        nodes.append(helper.make_node("DequantizeLinear", [out, "out_s", "out_z"], ["y"]))
    else:
        nodes.append(helper.make_node("Identity", [out], ["y"]))
    graph = helper.make_graph(
        nodes,
        "q",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", *x_shape[1:]])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()],
    )
    opsets = [helper.make_opsetid("", opset), helper.make_opsetid(MS, 1)]
    return helper.make_model(graph, opset_imports=opsets)


def _ms(op, inputs, **attrs):
    return helper.make_node(op, inputs, ["r"], domain=MS, **attrs)


def _second(dtype):
    """A second 8-bit value "q2" of x (another scale and zero point)."""
    node = helper.make_node("QuantizeLinear", ["x", "x2s", "x2z"], ["q2"])
    return node, {"x2s": np.float32(0.021), "x2z": np.asarray(-2 if dtype == I8 else 7, dtype)}


def _op_models(dtype):
    """{name: ModelProto} of one small model per quantized op, 8-bit values of ``dtype``."""
    rng = _rng(("ops", np.dtype(dtype).name))
    zp = {"out_z": np.asarray(1, dtype)}
    pair = {"xs": np.float32(0.03), **zp}
    second, more = _second(dtype)
    b = _ints(rng, dtype, (1, 4, 1, 1))
    models = {
        "QLinearAdd": _quantized_model(
            dtype,
            [_ms("QLinearAdd", ["q", "xs", "xz", "b", "bs", "bz", "out_s", "out_z"])],
            {"b": b, "bs": np.float32(0.04), "bz": np.asarray(2, dtype), **zp},
        ),
        "QLinearMul": _quantized_model(
            dtype,
            [second, _ms("QLinearMul", ["q", "xs", "xz", "q2", "x2s", "x2z", "out_s", "out_z"])],
            {**more, **zp},
        ),
        "QLinearGlobalAveragePool": _quantized_model(
            dtype,
            [_ms("QLinearGlobalAveragePool", ["q", "xs", "xz", "out_s", "out_z"], channels_last=0)],
            pair,
        ),  # fmt: skip
        "QLinearGlobalAveragePool-last": _quantized_model(
            dtype,
            [_ms("QLinearGlobalAveragePool", ["q", "xs", "xz", "out_s", "out_z"], channels_last=1)],
            pair,
        ),  # fmt: skip
        "QLinearAveragePool": _quantized_model(
            dtype,
            [
                _ms(
                    "QLinearAveragePool",
                    ["q", "xs", "xz", "out_s", "out_z"],
                    kernel_shape=[3, 3],
                    strides=[2, 2],
                    pads=[1, 1, 1, 1],
                    count_include_pad=0,
                )
            ],
            pair,
        ),  # fmt: skip
        "QLinearConcat": _quantized_model(
            dtype,
            [
                second,
                _ms(
                    "QLinearConcat", ["out_s", "out_z", "q", "xs", "xz", "q2", "x2s", "x2z"], axis=1
                ),
            ],
            {**more, **zp},
        ),  # fmt: skip
        "QLinearLeakyRelu": _quantized_model(
            dtype, [_ms("QLinearLeakyRelu", ["q", "xs", "xz", "out_s", "out_z"], alpha=0.1)], pair
        ),
        "QLinearSigmoid": _quantized_model(
            dtype, [_ms("QLinearSigmoid", ["q", "xs", "xz", "out_s", "out_z"])], pair
        ),
        "QLinearSoftmax": _quantized_model(
            dtype,
            [_ms("QLinearSoftmax", ["q", "xs", "xz", "out_s", "out_z"], opset=13, axis=-1)],
            {"out_s": np.float32(1 / 256), "out_z": np.asarray(-128 if dtype == I8 else 0, dtype)},
        ),
    }
    wq = _ints(rng, I8, (6, 4))
    gemm = ["q", "xs", "xz", "w", "ws", "wz", "bias"]
    w_consts = {"w": wq, "ws": np.float32(rng.uniform(0.01, 0.03, 6)), "wz": np.zeros(6, I8),
                "bias": rng.integers(-300, 300, 6).astype(np.int32)}  # fmt: skip
    models["QGemm"] = _quantized_model(
        dtype,
        [_ms("QGemm", [*gemm, "out_s", "out_z"], transB=1)],
        {**w_consts, **zp},
        x_shape=(2, 4),
    )
    models["QGemm-float"] = _quantized_model(
        dtype,
        [_ms("QGemm", gemm, transB=1, alpha=0.5)],
        w_consts,
        x_shape=(2, 4),
        dequantize=False,
    )
    conv_w = _ints(rng, I8, (3, 4, 3, 3))
    models["QLinearConv"] = _quantized_model(
        dtype,
        [helper.make_node("QLinearConv", ["q", "xs", "xz", "w", "ws", "wz", "out_s", "out_z",
                                          "bias"], ["r"], pads=[1, 1, 1, 1], strides=[2, 1])],
        {"w": conv_w, "ws": np.float32(rng.uniform(0.005, 0.01, 3)), "wz": np.zeros(3, I8),
         "bias": rng.integers(-300, 300, 3).astype(np.int32), **zp},
    )  # fmt: skip
    models["QLinearMatMul"] = _quantized_model(
        dtype,
        [helper.make_node("QLinearMatMul", ["q", "xs", "xz", "w", "ws", "wz", "out_s", "out_z"],
                          ["r"])],
        {"w": wq.T.copy(), "ws": np.float32(0.02), "wz": np.asarray(0, I8), **zp},
        x_shape=(2, 4),
    )  # fmt: skip
    if dtype == U8:  # onnxruntime's ConvInteger and MatMulInteger take uint8 x
        models["ConvInteger"] = _quantized_model(
            dtype,
            [helper.make_node("ConvInteger", ["q", "w", "xz", "wz"], ["i"], pads=[1, 1, 1, 1]),
             helper.make_node("Cast", ["i"], ["r"], to=onnx.TensorProto.FLOAT)],
            {"w": _ints(rng, U8, (3, 4, 3, 3)), "wz": np.asarray(128, U8)},
            dequantize=False,
        )  # fmt: skip
        models["MatMulInteger"] = _quantized_model(
            dtype,
            [helper.make_node("MatMulInteger", ["q", "w", "xz", "wz"], ["i"]),
             helper.make_node("Cast", ["i"], ["r"], to=onnx.TensorProto.FLOAT)],
            {"w": _ints(rng, U8, (4, 6)), "wz": np.asarray(100, U8)},
            x_shape=(2, 4),
            dequantize=False,
        )  # fmt: skip
        models["DynamicQuantizeLinear"] = _graph(  # (of x itself: no QuantizeLinear)
            [helper.make_node("DynamicQuantizeLinear", ["x"], ["d", "ds", "dz"]),
             helper.make_node("DequantizeLinear", ["d", "ds", "dz"], ["y"])],
            {},
            x_shape=("n", *_X[1:]),
        )  # fmt: skip
    return models


_NAMES = [(d, name) for d in (U8, I8) for name in _op_models(d)]


@pytest.mark.parametrize("dtype, name", _NAMES, ids=[f"{np.dtype(d).name}-{n}" for d, n in _NAMES])
def test_each_quantized_op_is_saved_back(tmp_path, dtype, name):
    """One small model per op (uint8 and int8): the module docstring's witnesses, the op's
    attributes (kernel_shape, pads, channels_last, alpha, transB, QLinearSoftmax's opset, …)
    as read, its constants as initializers of their dtype."""
    q = _op_models(dtype)[name]
    shape = [3, *(d.dim_value for d in q.graph.input[0].type.tensor_type.shape.dim[1:])]
    x = (_rng(("x", name)).standard_normal(shape) * 2).astype(np.float32)
    s = _saved_back(q, x, tmp_path)
    op = name.split("-")[0]
    (written,) = [n for n in s.graph.node if n.op_type == op]
    (read,) = [n for n in q.graph.node if n.op_type == op]
    assert written.domain == read.domain
    assert [a.SerializeToString() for a in written.attribute] == [
        a.SerializeToString() for a in read.attribute
    ]


def test_only_dynamic_quantize_linears_scale_and_zero_point_read_save_as_one_node(tmp_path):
    """DynamicQuantizeLinear whose y no node reads, only y_scale and y_zero_point (y =
    y_scale · float(y_zero_point) + x): the saved file holds the one node and no Identity,
    and saving it again gives the same bytes (each round trip used to add Identities)."""
    nodes = [
        helper.make_node("DynamicQuantizeLinear", ["x"], ["d", "ds", "dz"]),
        helper.make_node("Cast", ["dz"], ["f"], to=onnx.TensorProto.FLOAT),
        helper.make_node("Mul", ["ds", "f"], ["p"]),
        helper.make_node("Add", ["x", "p"], ["y"]),
    ]
    q = _graph(nodes, {})
    x = _rng("dql-parts").standard_normal((2, 3)).astype(np.float32)
    save(load(q.SerializeToString()), tmp_path / "s.onnx", x)
    s = onnx.load(tmp_path / "s.onnx")
    assert [n.op_type for n in s.graph.node] == ["DynamicQuantizeLinear", "Cast", "Mul", "Add"]
    save(load(tmp_path / "s.onnx"), tmp_path / "again.onnx", x)
    assert (tmp_path / "again.onnx").read_bytes() == (tmp_path / "s.onnx").read_bytes()
    for batch in (x, x[:1]):
        np.testing.assert_array_equal(_ort(s, batch)[0], _ort(q, batch)[0])


def test_a_fixed_scale_a_float_op_reads_too_stays_fixed(tmp_path):
    """A Constant node's scale read by QuantizeLinear, DequantizeLinear and a float Mul: the
    saved file gives the Mul a fixed value (a Constant node), so the graph loaded from it
    has no Parameter, as the one loaded from the original (the quantized ops keep theirs as
    initializers); the outputs are onnxruntime's on the original."""

    def constant(name, value):
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value))

    nodes = [
        constant("s", np.array(0.05, np.float32)),
        constant("z", np.array(3, U8)),
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
        helper.make_node("DequantizeLinear", ["q", "s", "z"], ["d"]),
        helper.make_node("Mul", ["d", "s"], ["y"]),
    ]
    q = _graph(nodes, {})
    x = _rng("fixed-scale").standard_normal((2, 3)).astype(np.float32)
    g = load(q.SerializeToString())
    assert list(g.named_parameters()) == []
    save(g, tmp_path / "s.onnx", x)
    s = onnx.load(tmp_path / "s.onnx")
    (mul,) = [n for n in s.graph.node if n.op_type == "Mul"]
    assert mul.input[1] in {n.output[0] for n in s.graph.node if n.op_type == "Constant"}
    again = load(tmp_path / "s.onnx")
    assert list(again.named_parameters()) == []
    for batch in (x, x[:1]):
        want = _ort(q, batch)[0]
        np.testing.assert_array_equal(_ort(s, batch)[0], want)
        np.testing.assert_array_equal(again(batch), want)


def test_an_8_bit_weight_several_nodes_read_is_written_once(tmp_path):
    """Four QLinearMatMul reading one uint8 weight and the same scales and zero points: the
    saved file holds each constant once, as the original does (it held a copy per node),
    and onnxruntime gives the same output on both."""
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"])]
    for i in range(4):
        node = helper.make_node("QLinearMatMul", ["q", "s", "z", "w", "ws", "wz", "os", "z"],
                                [f"r{i}"])  # fmt: skip
        nodes += [node, helper.make_node("DequantizeLinear", [f"r{i}", "os", "z"], [f"f{i}"])]
    nodes.append(helper.make_node("Sum", [f"f{i}" for i in range(4)], ["y"]))
    w = _ints(_rng("shared-w"), U8, (3, 64))
    consts = {"s": np.float32(0.05), "z": np.asarray(128, U8), "w": w, "ws": np.float32(0.02)}
    q = _graph(nodes, {**consts, "wz": np.asarray(100, U8), "os": np.float32(0.1)})
    x = _rng("shared-x").standard_normal((2, 3)).astype(np.float32)
    s = _saved_back(q, x, tmp_path)

    def held(model):
        return Counter(
            (str(a.dtype), a.shape, a.tobytes())
            for a in map(numpy_helper.to_array, model.graph.initializer)
        )

    assert held(s) == held(q) and sum(held(s).values()) == 6


def test_a_quantized_op_reads_as_given_only_on_the_operands_it_holds(monkeypatch):
    """``reads_as_given`` (save writes an op back as read only where it holds): true of each
    quantized op on the operands load gave it; false once a constant's value, dtype or shape
    differs, a constant is given as a run-time value, or the node is another."""
    from cnnmath.onnx._ops._module import _Op
    from cnnmath.onnx._ops._node import Const, Node, Ref

    seen = []
    real = _Op.reads_as_given

    def spy(self, node, ins):
        seen.append((self, node, list(ins)))
        return real(self, node, ins)

    monkeypatch.setattr(_Op, "reads_as_given", spy)
    load(_op_models(U8)["QLinearMatMul"].SerializeToString())
    (module, node, ins), *_ = [c for c in seen if c[1].op_type == "QLinearMatMul"]
    assert real(module, node, ins)
    w = next(i for i, o in enumerate(ins) if isinstance(o, Const) and o.value.ndim == 2)
    changed = np.array(ins[w].value)
    changed.flat[0] ^= 1
    for other in (changed, ins[w].value.astype(np.int16), ins[w].value[:, :1], None):
        given = list(ins)
        given[w] = Ref("w") if other is None else Const(other)
        assert not real(module, node, given)
    assert not real(module, Node("other", node.op_type, node.opset), ins)


# ---------------------------------------------------------------------------------------------
# Refusals, and a failed save leaves nothing behind


def _add_graph():
    q = _op_models(I8)["QLinearAdd"]
    x = (_rng("refuse").standard_normal((2, *_X[1:])) * 2).astype(np.float32)
    return q, load(q.SerializeToString()), x


def test_bad_input_to_save_is_refused_by_name(tmp_path):
    """An 8-bit example input, an opset other than the one the ops were read at, a graph
    converted to float64 by ``.to()``: each refused with a message naming the argument or
    node, and no file written."""
    q, g, x = _add_graph()
    path = tmp_path / "out.onnx"
    with pytest.raises(TypeError, match=r"example_input: expected a float32 or float64.*uint8"):
        save(g, path, x.astype(U8))
    with pytest.raises(ValueError, match=r"opset: node .*\(QuantizeLinear\).*expected opset=17"):
        save(g, path, x, opset=18)
    g.to(np.float64)
    with pytest.raises(ValueError, match=r"node .*QuantizeLinear.*converted with \.to\(\)"):
        save(g, path, x)
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_a_contrib_op_of_another_opset_of_its_domain_is_refused_at_load():
    """load reads com.microsoft's opset 1 only, so that save's import of opset 1 is the one
    the ops were read at: a model importing another version is refused, naming the node."""
    q = _op_models(U8)["QLinearSigmoid"]
    for o in q.opset_import:
        if o.domain == MS:
            o.version = 2
    with pytest.raises(ValueError, match=r"QLinearSigmoid.*expected opset 1 imported, got 2"):
        load(q.SerializeToString())


def test_a_save_that_fails_late_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    """A save whose last step (the rename over the file) fails: the file already there keeps
    its bytes, and no temporary file is left in the folder; whereas a save that fails in
    onnx's checker writes nothing at all."""
    import cnnmath._files

    q, g, x = _add_graph()
    path = tmp_path / "model.onnx"
    path.write_bytes(b"old contents")

    def fail(*args):
        raise OSError("disk full")

    with monkeypatch.context() as m:
        m.setattr(cnnmath._files.os, "replace", fail)
        with pytest.raises(OSError, match="disk full"):
            save(g, path, x)
    assert path.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]

    def invalid(*args, **kwargs):
        raise onnx.checker.ValidationError("invalid")

    with monkeypatch.context() as m:
        m.setattr(onnx.checker, "check_model", invalid)
        with pytest.raises(onnx.checker.ValidationError):
            save(g, path, x)
    assert path.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]
    save(g, path, x)  # and once nothing fails, the file is the model
    np.testing.assert_array_equal(load(path)(x), _ort(q, x)[0])
