"""cnnmath.onnx.load on hand-built ONNX graphs: the geometry nn's layers cannot express
(asymmetric pads, auto_pad, pads over half a window, ceil_mode, output_shape) against
onnxruntime; gradients through the private op modules against finite differences; the
refusals (op type, attribute, opset) and the security checks on untrusted files."""

from __future__ import annotations

import os

import numpy as np
import pytest

from cnnmath.gradcheck import check_gradients
from helpers import check_input_gradients, rel_error

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from cnnmath import nn  # noqa: E402
from cnnmath.onnx import load  # noqa: E402

OPSET = 17


def _model(nodes, x_shape, inits=(), dtype=TensorProto.FLOAT, opset=OPSET, out="y"):
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", dtype, list(x_shape))],
        [helper.make_tensor_value_info(out, dtype, None)],
        initializer=[numpy_helper.from_array(a, name) for name, a in inits],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _ort(model, x):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


rng = np.random.default_rng(0)
W = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
B = rng.standard_normal(4).astype(np.float32)

GEOMETRY = [
    # (node, initializers, input shape)
    (
        helper.make_node(
            "Conv",
            ["x", "w", "b"],
            ["y"],
            pads=[1, 0, 2, 1],
            strides=[2, 1],
            dilations=[1, 2],
            group=2,
        ),
        [("w", W), ("b", B)],
        (2, 4, 9, 10),
    ),
    (
        helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER", strides=[2, 2], group=2),
        [("w", W)],
        (2, 4, 8, 9),
    ),
    (
        helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_LOWER", strides=[3, 2], group=2),
        [("w", W)],
        (1, 4, 8, 7),
    ),
    (
        helper.make_node(
            "ConvTranspose",
            ["x", "w", "b"],
            ["y"],
            strides=[2, 3],
            pads=[0, 1, 2, 0],
            output_padding=[1, 2],
        ),
        [("w", W.transpose(1, 0, 2, 3).copy()), ("b", B)],
        (2, 2, 5, 4),
    ),
    (
        helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], output_shape=[10, 9]),
        [("w", W.transpose(1, 0, 2, 3).copy())],
        (1, 2, 5, 4),
    ),
    (
        helper.make_node(
            "MaxPool",
            ["x"],
            ["y"],
            kernel_shape=[3, 2],
            pads=[0, 1, 2, 1],
            strides=[2, 2],
            ceil_mode=1,
        ),
        [],
        (2, 3, 9, 8),
    ),
    (
        helper.make_node(
            "MaxPool", ["x"], ["y"], kernel_shape=[3, 3], dilations=[2, 2], pads=[2, 0, 1, 2]
        ),
        [],
        (1, 2, 7, 7),
    ),
    (
        helper.make_node(
            "AveragePool",
            ["x"],
            ["y"],
            kernel_shape=[3, 3],
            pads=[0, 1, 2, 1],
            strides=[2, 2],
            ceil_mode=1,
        ),
        [],
        (2, 3, 9, 8),
    ),
    (
        helper.make_node(
            "AveragePool",
            ["x"],
            ["y"],
            kernel_shape=[3, 3],
            pads=[1, 1, 1, 1],
            strides=[2, 2],
            count_include_pad=1,
            ceil_mode=1,
        ),
        [],
        (2, 3, 8, 8),
    ),
    (
        helper.make_node(
            "AveragePool", ["x"], ["y"], kernel_shape=[2, 3], auto_pad="SAME_UPPER", strides=[2, 2]
        ),
        [],
        (1, 3, 7, 8),
    ),
    (
        helper.make_node(
            "AveragePool", ["x"], ["y"], kernel_shape=[2, 2], pads=[1, 0, 0, 1], count_include_pad=1
        ),
        [],
        (1, 2, 5, 5),
    ),
]


@pytest.mark.parametrize("node, inits, shape", GEOMETRY, ids=lambda v: getattr(v, "op_type", ""))
def test_geometry_agrees_with_onnxruntime(node, inits, shape):
    model = _model([node], shape, inits)
    x = rng.standard_normal(shape).astype(np.float32)
    want = _ort(model, x)
    got = load(model.SerializeToString())(x)
    assert got.shape == want.shape and got.dtype == np.float32
    assert rel_error(got, want) <= 1e-5


def test_gradients_of_the_private_ops_match_finite_differences():
    """Conv with asymmetric pads, a broadcast Mul by an initializer, an asymmetric average
    pool, Transpose, Gemm with transA and a 2-D bias, Softmax: ∂ℓ/∂x and ∂ℓ/∂(initializer)."""
    w = rng.standard_normal((3, 2, 2, 2))
    scale = rng.standard_normal((3, 1, 1))
    gemm_b = rng.standard_normal((3, 5))
    gemm_c = rng.standard_normal((1, 5))
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[0, 1, 1, 0]),
        helper.make_node("Mul", ["c", "scale"], ["m"]),
        helper.make_node(
            "AveragePool", ["m"], ["p"], kernel_shape=[2, 2], pads=[1, 0, 0, 0], strides=[2, 2]
        ),
        helper.make_node("ReduceMean", ["p"], ["r"], axes=[1, 3], keepdims=0),
        helper.make_node("Transpose", ["r"], ["t"], perm=[1, 0]),
        helper.make_node("Gemm", ["t", "gb", "gc"], ["gm"], transA=1, alpha=0.5, beta=2.0),
        helper.make_node("Softmax", ["gm"], ["y"], axis=1),
    ]
    inits = [("w", w), ("scale", scale), ("gb", gemm_b), ("gc", gemm_c)]
    model = _model(nodes, (2, 2, 5, 5), inits, dtype=TensorProto.DOUBLE)
    graph = load(model.SerializeToString())
    x = rng.standard_normal((2, 2, 5, 5))

    def backward(G, x):
        graph(x)
        return graph.backward(G)

    check_gradients(lambda x: graph(x), backward, [x])
    # a parameter's gradient: d⟨y, G⟩/d(scale) by central differences
    G = rng.standard_normal(graph(x).shape)
    key = graph.initializer_names["scale"]
    param = dict(graph.named_parameters())[key]
    graph.zero_grad()
    graph(x)
    graph.backward(G)
    numeric = np.zeros_like(param.data)
    for i in np.ndindex(param.shape):
        saved = param.data[i]
        param.data[i] = saved + 1e-6
        up = np.sum(graph(x) * G)
        param.data[i] = saved - 1e-6
        down = np.sum(graph(x) * G)
        param.data[i] = saved
        numeric[i] = (up - down) / 2e-6
    assert rel_error(param.grad, numeric) <= 1e-6


def test_static_shape_chain_is_folded_at_load_time():
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Shape", ["r"], ["s"]),
        helper.make_node(
            "Constant", [], ["i"], value=numpy_helper.from_array(np.array(0, np.int64))
        ),
        helper.make_node("Gather", ["s", "i"], ["b"], axis=0),
        helper.make_node("Unsqueeze", ["b", "axes"], ["bu"]),
        helper.make_node("Concat", ["bu", "minus1"], ["shape"], axis=0),
        helper.make_node("Reshape", ["r", "shape"], ["y"]),
    ]
    inits = [("axes", np.array([0], np.int64)), ("minus1", np.array([-1], np.int64))]
    graph = load(_model(nodes, (3, 2, 4, 4), inits).SerializeToString())
    assert [n.name for n in graph.walk()] == ["r", "y"]
    x = rng.standard_normal((3, 2, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(graph(x), np.maximum(x, 0).reshape(3, -1))


def test_initializers_are_named_parameters():
    model = _model(
        [helper.make_node("Conv", ["x", "conv1.weight", "conv1.bias"], ["y"], name="/conv1/Conv")],
        (1, 2, 5, 5),
        [("conv1.weight", W[:, :2] * 1), ("conv1.bias", B)],
    )
    graph = load(model.SerializeToString())
    assert graph.initializer_names == {"conv1.weight": "conv1.weight", "conv1.bias": "conv1.bias"}
    np.testing.assert_array_equal(graph.state_dict()["conv1.weight"], W[:, :2])
    assert graph.num_parameters() == W[:, :2].size + B.size
    assert not graph.training


REFUSALS = [
    (
        helper.make_node("Unique", ["x"], ["y"], name="e"),
        "node 'e' (Unique): op type 'Unique' is not supported",
    ),
    (
        helper.make_node("Pad", ["x", "pads"], ["y"], name="p", mode="mirror"),
        "node 'p' (Pad): attribute 'mode'",
    ),
    (
        helper.make_node("Relu", ["x"], ["y"], name="r", alpha=1.0),
        "node 'r' (Relu): attribute 'alpha' is not supported",
    ),
    (helper.make_node("MaxPool", ["x"], ["y", "idx"], name="m", kernel_shape=[2, 2]), None),
    (helper.make_node("Softmax", ["x"], ["y"], name="s", axis=1), None),
]


@pytest.mark.parametrize("node, message", REFUSALS, ids=lambda v: getattr(v, "op_type", ""))
def test_unsupported_is_refused_at_load_time_naming_node_op_and_attribute(node, message):
    model = _model([node], (1, 2, 4, 4), [("pads", np.zeros(8, np.int64))])
    if message is None:  # supported: loads
        load(model.SerializeToString())
        return
    with pytest.raises(
        ValueError, match="^cnnmath.onnx.load: " + message.replace("(", r"\(").replace(")", r"\)")
    ):
        load(model.SerializeToString())


def test_indices_output_of_a_4d_window_is_refused():
    # 1-D, 2-D and 3-D MaxPools' Indices load (tests/test_onnx_unpool.py,
    # tests/test_onnx_pool_outputs.py); no pooling op has four spatial axes
    node = helper.make_node("MaxPool", ["x"], ["p", "y"], name="m", kernel_shape=[2] * 4)
    with pytest.raises(ValueError, match="node 'm' \\(MaxPool\\): attribute 'kernel_shape'"):
        load(_model([node], (1, 2, 4, 4, 4, 4)).SerializeToString())


def test_opsets_before_11_are_refused():
    with pytest.raises(ValueError, match="opset 11 to .*, got 10"):
        load(_model([helper.make_node("Relu", ["x"], ["y"])], (2,), opset=10).SerializeToString())


@pytest.mark.parametrize(
    "op, n_inputs, since, opset",
    [
        ("Einsum", 2, 12, 11),
        ("GridSample", 2, 16, 15),
        ("CastLike", 2, 15, 14),
        ("GroupNormalization", 3, 18, 17),
        ("AffineGrid", 2, 20, 19),
    ],
)
def test_an_op_newer_than_the_files_opset_is_refused_by_name(op, n_inputs, since, opset):
    names = [f"in{i}" for i in range(n_inputs)]
    inputs = [(n, np.ones((2, 2), np.float32)) for n in names]
    model = _graph([helper.make_node(op, names, ["y"], name="n")], inputs, opset=opset)
    message = f"node 'n' \\({op}\\): not defined before opset {since}, the file's opset is {opset}"
    with pytest.raises(ValueError, match=message):
        load(model.SerializeToString())


# ---------------------------------------------------------------------------------------------
# Untrusted files


def _relu_bytes():
    return _model([helper.make_node("Relu", ["x"], ["y"])], (2, 3)).SerializeToString()


@pytest.mark.parametrize(
    "data", [b"\x00\xff garbage \x12\x34", b"", None], ids=["garbage", "empty", "truncated"]
)
def test_malformed_or_truncated_protobuf_is_refused(data):
    if data is None:
        data = _relu_bytes()[:-7]
    with pytest.raises(ValueError, match="cnnmath.onnx.load: model:"):
        load(data)


def test_cycle_is_refused():
    nodes = [
        helper.make_node("Relu", ["x", "b"], ["a"], name="n1"),
        helper.make_node("Relu", ["a"], ["b"], name="n2"),
        helper.make_node("Relu", ["b"], ["y"], name="n3"),
    ]
    nodes[0] = helper.make_node("Add", ["x", "b"], ["a"], name="n1")
    with pytest.raises(ValueError, match="form a cycle"):
        load(_model(nodes, (2, 3)).SerializeToString())


def test_value_written_twice_is_refused():
    nodes = [helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Tanh", ["x"], ["y"])]
    with pytest.raises(ValueError, match="already defined"):
        load(_model(nodes, (2, 3)).SerializeToString())


def test_tensor_size_disagreeing_with_its_data_is_refused():
    model = _model(
        [helper.make_node("Add", ["x", "c"], ["y"])], (2, 3), [("c", np.ones(3, np.float32))]
    )
    model.graph.initializer[0].raw_data = model.graph.initializer[0].raw_data[:8]
    with pytest.raises(
        ValueError,
        match="tensor 'c': declared shape \\(3,\\).*disagrees with its data \\(8 bytes\\)",
    ):
        load(model.SerializeToString())
    model.graph.initializer[0].ClearField("raw_data")
    model.graph.initializer[0].float_data.extend([1.0, 2.0])
    with pytest.raises(
        ValueError, match="tensor 'c': declared shape \\(3,\\) \\(3 values\\) disagrees"
    ):
        load(model.SerializeToString())


def _external_model(location, offset="0", length="12"):
    """Add(x, c), c's three floats stored in the file ``location`` at ``offset``, ``length``
    bytes (None: no length, read to the end of the file)."""
    model = _model(
        [helper.make_node("Add", ["x", "c"], ["y"])],
        (2, 3),
        [("c", np.arange(3, dtype=np.float32))],
    )
    t = model.graph.initializer[0]
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", offset), ("length", length)):
        if v is not None:
            entry = t.external_data.add()
            entry.key, entry.value = k, v
    return model


def test_external_data_inside_the_directory_is_read(tmp_path):
    (tmp_path / "w.bin").write_bytes(np.arange(3, dtype="<f4").tobytes())
    path = tmp_path / "m.onnx"
    path.write_bytes(_external_model("w.bin").SerializeToString())
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(load(path)(x), x + np.arange(3))
    with pytest.raises(ValueError, match="needs the model's path"):  # bytes have no directory
        load(path.read_bytes())


@pytest.mark.parametrize("offset", [13, 2**62, 2**64, -1])
@pytest.mark.parametrize("length", [None, "0"])
def test_external_data_offset_past_the_file_is_refused_naming_the_tensor(tmp_path, offset, length):
    """An offset beyond the file's 12 bytes, with or without a length (without one the data
    runs from the offset to the file's end): the range refusal, not seek's OSError or
    OverflowError."""
    (tmp_path / "w.bin").write_bytes(np.arange(3, dtype="<f4").tobytes())
    path = tmp_path / "m.onnx"
    path.write_bytes(_external_model("w.bin", str(offset), length).SerializeToString())
    with pytest.raises(
        ValueError,
        match=rf"tensor 'c': external data range offset={offset} length={length} lies outside "
        r"the file 'w.bin' \(12 bytes\)",
    ):
        load(path)


def test_external_data_without_a_length_runs_from_the_offset_to_the_files_end(tmp_path):
    (tmp_path / "w.bin").write_bytes(bytes(4) + np.arange(3, dtype="<f4").tobytes())
    path = tmp_path / "m.onnx"
    path.write_bytes(_external_model("w.bin", "4", None).SerializeToString())
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(load(path)(x), x + np.arange(3))
    path.write_bytes(_external_model("w.bin", "16", None).SerializeToString())
    with pytest.raises(ValueError, match=r"tensor 'c': declared shape .* \(0 bytes\)"):
        load(path)  # the offset at the file's end: no bytes, refused as too few


@pytest.mark.parametrize("where", ["parent", "absolute", "symlink", "dir-symlink"])
def test_external_data_leaving_the_directory_is_refused(tmp_path, where):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.bin"
    secret.write_bytes(bytes(12))
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    location = {
        "parent": "../outside/secret.bin",
        "absolute": str(secret),
        "symlink": "link.bin",
        "dir-symlink": "sub/secret.bin",
    }[where]
    if where == "symlink":
        os.symlink(secret, model_dir / "link.bin")
    if where == "dir-symlink":
        os.symlink(outside, model_dir / "sub")
    path = model_dir / "m.onnx"
    path.write_bytes(_external_model(location).SerializeToString())
    with pytest.raises(ValueError, match="tensor 'c': external data location"):
        load(path)


@pytest.mark.parametrize("arch", ["resnet20", "mobilenet_v2"])
def test_cnnmath_models_round_trip_through_save(arch, tmp_path):
    """save (the export side) then load: the same logits, and every initializer (named by
    its state_dict key on export) lands back in the parameter or buffer it came from."""
    from cnnmath import models
    from cnnmath.onnx import save

    model = getattr(models, arch)(num_classes=10).eval()
    x = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
    save(model, tmp_path / "m.onnx", x)
    graph = load(tmp_path / "m.onnx")
    assert rel_error(graph(x), model(x)) <= 1e-5
    want, got = model.state_dict(), graph.state_dict()
    float_keys = [k for k, v in want.items() if v.dtype.kind == "f"]
    for key in float_keys:
        np.testing.assert_array_equal(got[graph.initializer_names[key]], want[key])


def test_cast_at_run_time_between_floats_and_to_masks():
    """Cast of a run-time value: float32 → float64 → float32 carries the gradient back
    (the product's gradient, 2x); a Cast to the type a value has is an Identity; float → int64
    truncates toward zero and bool marks non-zeros, as onnxruntime, with no gradient."""
    x = np.array([[-1.7, -0.2, 0.0, 0.4, 2.9, 3.0]], np.float32)
    for to in (TensorProto.INT64, TensorProto.INT32, TensorProto.BOOL, TensorProto.DOUBLE):
        node = helper.make_node("Cast", ["x"], ["y"], name="c", to=to)
        model = _model([node], x.shape)
        model.graph.output[0].type.tensor_type.elem_type = to
        got = load(model.SerializeToString())(x)
        want = _ort(model, x)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    nodes = [
        helper.make_node("Cast", ["x"], ["d"], name="up", to=TensorProto.DOUBLE),
        helper.make_node("Mul", ["d", "d"], ["d2"]),
        helper.make_node("Cast", ["d2"], ["y"], name="down", to=TensorProto.FLOAT),
        helper.make_node("Cast", ["y"], ["z"], name="same", to=TensorProto.FLOAT),
    ]
    graph = load(_model(nodes, x.shape, out="z").SerializeToString())
    assert [type(n.module).__name__ for n in graph.walk()] == ["_Cast", "Mul", "_Cast", "Identity"]
    np.testing.assert_array_equal(graph(x), x * x)
    G = np.ones_like(x)
    np.testing.assert_allclose(graph.backward(G), 2 * x, rtol=1e-6)


def test_a_float16_weight_is_refused_at_load_and_a_cast_one_runs():
    """A float16 operand (here a Conv weight beside float32 data, which onnxruntime refuses
    at load too) is refused by load, naming the node and the input; the same weight Cast to
    float first is folded and runs as onnxruntime runs it."""
    w16 = W.astype(np.float16)
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1, 1, 1])
    with pytest.raises(ValueError, match="node 'conv' \\(Conv\\): input 'w': float16 values"):
        load(_model([conv], (1, 2, 5, 5), [("w", w16)]).SerializeToString())
    cast = helper.make_node("Cast", ["w"], ["w32"], name="cast", to=TensorProto.FLOAT)
    conv = helper.make_node("Conv", ["x", "w32"], ["y"], name="conv", pads=[1, 1, 1, 1])
    model = _model([cast, conv], (1, 2, 5, 5), [("w", w16)])
    x = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
    assert rel_error(load(model.SerializeToString())(x), _ort(model, x)) < 1e-6


def test_clip_with_run_time_bounds_differentiates_to_all_three():
    inputs = [
        helper.make_tensor_value_info(n, TensorProto.DOUBLE, s)
        for n, s in (("x", [3, 4]), ("lo", [4]), ("hi", []))
    ]
    graph_proto = helper.make_graph(
        [helper.make_node("Clip", ["x", "lo", "hi"], ["y"])],
        "g",
        inputs,
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)],
    )
    graph = load(
        helper.make_model(
            graph_proto, opset_imports=[helper.make_opsetid("", OPSET)]
        ).SerializeToString()
    )
    x, lo, hi = rng.standard_normal((3, 4)), rng.standard_normal(4) - 0.5, np.array(0.6)
    np.testing.assert_array_equal(graph(x, lo, hi), np.minimum(np.maximum(x, lo), hi))

    def backward(G, *args):
        graph(*args)
        return graph.backward(G)

    check_gradients(graph, backward, [x, lo, hi])


@pytest.mark.parametrize(
    "op, shapes",
    [
        ("Add", [(2, 3, 4), (3, 1)]),
        ("Sub", [(3, 1), (2, 3, 4)]),
        ("Mul", [(2, 3, 4), (4,)]),
        ("Div", [(2, 1, 4), (3, 1)]),
        ("MatMul", [(2, 3, 4), (4, 5)]),
        ("MatMul", [(4,), (2, 4, 3)]),
        ("MatMul", [(4,), (4,)]),  # a scalar out: its gradient reshaped to (1, 1)
        ("MatMul", [(2, 3, 4), (4,)]),
        ("PRelu", [(2, 3, 4), (3, 1)]),
        ("Concat", [(2, 3), (2, 5)]),
        ("Gemm", [(3, 4), (4, 2)]),
    ],
)
def test_two_input_ops_differentiate_to_both_inputs_with_broadcasting(op, shapes):
    names = ["a", "b"]
    inputs = [
        helper.make_tensor_value_info(n, TensorProto.DOUBLE, list(s)) for n, s in zip(names, shapes)
    ]
    kwargs = {"axis": 1} if op == "Concat" else {}
    graph_proto = helper.make_graph(
        [helper.make_node(op, names, ["y"], **kwargs)],
        "g",
        inputs,
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)],
    )
    graph = load(
        helper.make_model(
            graph_proto, opset_imports=[helper.make_opsetid("", OPSET)]
        ).SerializeToString()
    )
    args = [
        rng.standard_normal(s) + (2.5 if op == "Div" and i == 1 else 0)
        for i, s in enumerate(shapes)
    ]

    def backward(G, *xs):
        graph(*xs)
        return graph.backward(G)

    check_gradients(graph, backward, args)


# ---------------------------------------------------------------------------------------------
# Size budget: a tiny file must not make the loader (or a run) allocate terabytes

_C = np.ones((1, 1, 2, 2), np.float32)
_BIG = 10**6


def _on_constant(node):
    """``node`` (output "k") computed from the constant c alone, then added to x: folded."""
    return _model([node, helper.make_node("Add", ["x", "k"], ["y"])], (1, 1, 4, 4), [("c", _C)])


@pytest.mark.parametrize(
    "node, inits",
    [
        (
            helper.make_node("Pad", ["c", "p"], ["k"]),
            [("p", np.array([0, 0, _BIG, _BIG, 0, 0, _BIG, _BIG], np.int64))],
        ),
        (  # pads below the window (a larger pad is refused as onnxruntime refuses it)
            helper.make_node(
                "MaxPool", ["c"], ["k"], kernel_shape=[_BIG + 1, _BIG + 1], pads=[_BIG] * 4
            ),
            [],
        ),
        (
            helper.make_node("ConvTranspose", ["c", "c"], ["k"], output_shape=[_BIG, _BIG]),
            [],
        ),
    ],
    ids=["Pad", "MaxPool", "ConvTranspose"],
)
def test_folding_a_huge_value_is_refused_before_allocating(node, inits):
    model = _on_constant(node)
    model.graph.initializer.extend(numpy_helper.from_array(a, n) for n, a in inits)
    assert len(model.SerializeToString()) < 400
    with pytest.raises(ValueError, match=rf"node 'k' \({node.op_type}\).*load-time budget"):
        load(model.SerializeToString())


def test_a_run_time_output_larger_than_memory_is_refused_naming_the_node():
    pads = np.array([0, 0, 2**40, 2**40, 0, 0, 0, 0], np.int64)
    node = helper.make_node("Pad", ["x", "p"], ["y"], name="big")
    g = load(_model([node], (1, 1, 2, 2), [("p", pads)]).SerializeToString())
    with pytest.raises(ValueError, match=r"node 'big' \(Pad\).*memory"):
        g(np.ones((1, 1, 2, 2), np.float32))


def test_constant_of_shape_cap_does_not_wrap_around():
    # np.prod of int64 [2**32, 2**32] wraps to 0, which passed the old cap
    shape = np.array([2**32, 2**32], np.int64)
    node = helper.make_node("ConstantOfShape", ["s"], ["k"])
    model = _model([node, helper.make_node("Add", ["x", "k"], ["y"])], (1, 1), [("s", shape)])
    with pytest.raises(ValueError, match=r"node 'k' \(ConstantOfShape\)"):
        load(model.SerializeToString())


# ---------------------------------------------------------------------------------------------
# Axes out of range are refused (as onnxruntime does), never wrapped


@pytest.mark.parametrize(
    "node, inits, message",
    [
        (helper.make_node("Softmax", ["x"], ["y"], axis=4), [], r"'axis'.*\[-4, 3\], got 4"),
        (helper.make_node("LogSoftmax", ["x"], ["y"], axis=-5), [], r"\[-4, 3\], got -5"),
        (
            helper.make_node("ReduceMean", ["x"], ["y"], axes=[7]),
            [],
            r"'axes'.*\[-4, 3\], got 7",
        ),
        (helper.make_node("Flatten", ["x"], ["y"], axis=5), [], r"'axis'.*\[-4, 4\], got 5"),
        (
            helper.make_node("Squeeze", ["x", "a"], ["y"]),
            [("a", np.array([4], np.int64))],
            r"input 'axes'.*\[-4, 3\], got 4",
        ),
        (
            helper.make_node("Unsqueeze", ["x", "a"], ["y"]),
            [("a", np.array([-6], np.int64))],
            r"input 'axes'.*\[-5, 4\], got -6",
        ),
        (
            helper.make_node("Concat", ["x", "c"], ["y"], axis=4),
            [("c", np.ones((1, 2, 3, 4), np.float32))],
            r"'axis'.*\[-4, 3\], got 4",
        ),
    ],
    ids=lambda v: getattr(v, "op_type", ""),
)
def test_out_of_range_axes_are_refused_at_load_time(node, inits, message):
    model = _model([node], (1, 2, 3, 4), inits)
    with pytest.raises(ValueError, match=rf"\({node.op_type}\): .*{message}"):
        load(model.SerializeToString())


def test_out_of_range_axis_of_unknown_rank_is_refused_at_run_time():
    node = helper.make_node("Softmax", ["x"], ["y"], axis=2, name="sm")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    g = load(model.SerializeToString())
    with pytest.raises(ValueError, match=r"node 'sm' \(Softmax\): attribute 'axis'.*got 2"):
        g(np.ones((2, 2), np.float32))


# ---------------------------------------------------------------------------------------------
# Attributes of the wrong ONNX type or out of range are refused, never coerced


def _attr(name, value, attr_type):
    return helper.make_attribute(name, value, attr_type=attr_type)


@pytest.mark.parametrize(
    "op, attrs, message",
    [
        (
            "MaxPool",
            [_attr("strides", [1.5, 1.5], 6)],
            r"'strides': expected type INTS, got FLOATS",
        ),
        ("MaxPool", [_attr("ceil_mode", "yes", 3)], r"'ceil_mode': expected type INT, got STRING"),
        ("MaxPool", [_attr("ceil_mode", 2, 2)], r"'ceil_mode': expected values in \[0, 1\]"),
        ("Conv", [_attr("group", "a", 3)], r"'group': expected type INT, got STRING"),
        ("Conv", [_attr("group", -1, 2)], r"'group': expected values >= 1, got -1"),
        ("Conv", [_attr("group", 1.0, 1)], r"'group': expected type INT, got FLOAT"),
        (
            "BatchNormalization",
            [_attr("epsilon", "e", 3)],
            r"'epsilon': expected type FLOAT, got STRING",
        ),
    ],
)
def test_attributes_of_the_wrong_type_or_range_are_refused(op, attrs, message):
    c = np.ones(2, np.float32)
    inputs = {
        "MaxPool": (["x"], [], {"kernel_shape": [2, 2]}),
        "Conv": (["x", "w"], [("w", np.ones((2, 2, 1, 1), np.float32))], {}),
        "BatchNormalization": (["x", "s", "b", "m", "v"], [(k, c) for k in "sbmv"], {}),
    }[op]
    node = helper.make_node(op, inputs[0], ["y"], name="n", **inputs[2])
    node.attribute.extend(attrs)
    with pytest.raises(ValueError, match=rf"node 'n' \({op}\): attribute {message}"):
        load(_model([node], (1, 2, 4, 4), inputs[1]).SerializeToString())


def test_kernel_shape_given_as_int_is_refused_naming_the_type():
    node = helper.make_node("MaxPool", ["x"], ["y"], name="n")
    node.attribute.append(_attr("kernel_shape", 2, 2))
    with pytest.raises(ValueError, match=r"'kernel_shape': expected type INTS, got INT 2"):
        load(_model([node], (1, 2, 4, 4)).SerializeToString())


def test_folding_a_broadcast_larger_than_the_budget_is_refused():
    # (1, 2**14) + (2**14, 1) broadcasts to 2**28 elements: refused before numpy allocates 1 GiB
    inits = [("r", np.ones((1, 2**14), np.float32)), ("s", np.ones((2**14, 1), np.float32))]
    nodes = [helper.make_node("Add", ["r", "s"], ["k"]), helper.make_node("Add", ["x", "k"], ["y"])]
    with pytest.raises(ValueError, match=r"node 'k' \(Add\).*268435456 elements"):
        load(_model(nodes, (1, 1), inits).SerializeToString())


# ---------------------------------------------------------------------------------------------
# LayerNormalization, InstanceNormalization, Resize, Where and the comparisons, Sum: hand-built
# graphs against onnxruntime (float32) and ONNX's reference evaluator (float64), gradients
# against finite differences


def _graph(nodes, inputs, inits=(), opset=OPSET, output="y", output_dtype=None):
    """A model of ``nodes`` whose graph inputs are [(name, array)] (type and shape from the
    arrays), with initializers ``inits`` [(name, array)], its output ``output`` of
    ``output_dtype`` (the first input's by default)."""
    dtype = np.dtype(output_dtype or inputs[0][1].dtype)
    graph = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
            for n, a in inputs
        ],
        [helper.make_tensor_value_info(output, helper.np_dtype_to_tensor_dtype(dtype), None)],
        initializer=[numpy_helper.from_array(a, n) for n, a in inits],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _witness(model, inputs):
    """onnxruntime's output for float32 inputs, ONNX's reference evaluator's otherwise."""
    feeds = dict(inputs)
    if all(a.dtype != np.float64 for a in feeds.values()):
        ort = pytest.importorskip("onnxruntime")
        session = ort.InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        return session.run(None, feeds)[0]
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(model).run(None, feeds)[0]


def _param_gradient_by_differences(graph, args, G, param):
    """d⟨graph(*args), G⟩/d(param) by central differences, one entry at a time."""
    numeric = np.zeros_like(param.data)
    for i in np.ndindex(param.shape):
        saved = param.data[i]
        param.data[i] = saved + 1e-6
        up = np.sum(graph(*args) * G)
        param.data[i] = saved - 1e-6
        down = np.sum(graph(*args) * G)
        param.data[i] = saved
        numeric[i] = (up - down) / 2e-6
    return numeric


def _check_training(graph, args, params=()):
    """∂ℓ/∂(each float graph input) and ∂ℓ/∂(each named initializer) against finite
    differences."""
    check_input_gradients(graph, args)
    G = rng.standard_normal(graph(*args).shape)
    named = dict(graph.named_parameters())
    for name in params:
        param = named[graph.initializer_names[name]]
        graph.zero_grad()
        graph(*args)
        graph.backward(G)
        assert rel_error(param.grad, _param_gradient_by_differences(graph, args, G, param)) <= 1e-6


def _ln(axis=None, inputs=("x", "scale", "bias"), **attrs):
    if axis is not None:
        attrs["axis"] = axis
    return helper.make_node("LayerNormalization", list(inputs), ["y"], name="ln", **attrs)


LAYER_NORMS = [
    # (id, node, X's shape, initializers as {name: shape}, the nn layer it becomes or None)
    ("last_axis", _ln(), (2, 3, 5), {"scale": (5,), "bias": (5,)}, "LayerNorm"),
    ("axis1", _ln(1), (2, 3, 4, 5), {"scale": (3, 4, 5), "bias": (3, 4, 5)}, "LayerNorm"),
    ("axis_negative_2", _ln(-2, ("x", "scale")), (2, 3, 4, 5), {"scale": (4, 5)}, "LayerNorm"),
    ("no_bias", _ln(-1, ("x", "scale")), (2, 3, 5), {"scale": (5,)}, "LayerNorm"),
    ("axis0", _ln(0), (2, 3, 5), {"scale": (2, 3, 5), "bias": (2, 3, 5)}, "LayerNorm"),
    ("broadcast_scale", _ln(-2), (2, 3, 4, 5), {"scale": (1, 5), "bias": (4, 1)}, None),
    (
        "epsilon_stash",
        _ln(2, ("x", "scale"), epsilon=0.1, stash_type=1),
        (2, 3, 4, 5),
        {"scale": (4, 5)},
        "LayerNorm",
    ),
]


@pytest.mark.parametrize(
    "node, shape, inits, layer", [c[1:] for c in LAYER_NORMS], ids=[c[0] for c in LAYER_NORMS]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_normalization_against_the_witnesses_and_finite_differences(
    node, shape, inits, layer, dtype
):
    arrays = [(n, (1 + rng.standard_normal(s)).astype(dtype)) for n, s in inits.items()]
    x = (3 * rng.standard_normal(shape) + 1).astype(dtype)
    model = _graph([node], [("x", x)], arrays)
    graph = load(model.SerializeToString())
    assert [type(n.module).__name__ for n in graph.walk()] == [layer or "_LayerNorm"]
    assert rel_error(graph(x), _witness(model, [("x", x)])) <= (
        1e-12 if dtype == np.float64 else 1e-5
    )
    if dtype == np.float64:
        _check_training(graph, [x], [n for n, _ in arrays])


def test_layer_normalization_with_a_run_time_scale_differentiates_to_it():
    x, scale = rng.standard_normal((3, 4, 5)), rng.standard_normal((4, 5))
    model = _graph([_ln(1, ("x", "scale"))], [("x", x), ("scale", scale)])
    graph = load(model.SerializeToString())
    assert rel_error(graph(x, scale), _witness(model, [("x", x), ("scale", scale)])) <= 1e-12
    _check_training(graph, [x, scale])


def test_layer_normalization_of_a_symbolic_axis_runs_the_op_not_the_layer():
    # normalised over (batch, 5): a LayerNorm layer would need the batch size at load time
    node = _ln(0, ("x", "scale"))
    graph_proto = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["batch", 5])],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)],
        initializer=[numpy_helper.from_array(rng.standard_normal((3, 5)), "scale")],
    )
    model = helper.make_model(graph_proto, opset_imports=[helper.make_opsetid("", OPSET)])
    graph = load(model.SerializeToString())
    assert [type(n.module).__name__ for n in graph.walk()] == ["_LayerNorm"]
    x = rng.standard_normal((3, 5))
    assert rel_error(graph(x), _witness(model, [("x", x)])) <= 1e-12


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (2, 3, 7)], ids=["4d", "3d"])
def test_instance_normalization_against_the_witnesses_and_finite_differences(shape, dtype):
    C = shape[1]
    inits = [("s", rng.uniform(0.5, 1.5, C).astype(dtype)), ("b", rng.normal(size=C).astype(dtype))]
    node = helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"], epsilon=0.01)
    x = (2 * rng.standard_normal(shape) - 1).astype(dtype)
    model = _graph([node], [("x", x)], inits)
    graph = load(model.SerializeToString())
    (layer,) = [n.module for n in graph.walk()]
    assert type(layer).__name__ == "GroupNorm" and layer.num_groups == C
    assert rel_error(graph(x), _witness(model, [("x", x)])) <= (
        1e-12 if dtype == np.float64 else 1e-5
    )
    if dtype == np.float64:
        _check_training(graph, [x], ["s", "b"])


def test_instance_normalization_with_run_time_scale_and_bias_differentiates_to_them():
    x, s, b = rng.standard_normal((2, 3, 4, 4)), rng.standard_normal(3), rng.standard_normal(3)
    node = helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"])
    inputs = [("x", x), ("s", s), ("b", b)]
    model = _graph([node], inputs)
    graph = load(model.SerializeToString())
    assert rel_error(graph(x, s, b), _witness(model, inputs)) <= 1e-12
    _check_training(graph, [x, s, b])


def _resize(inputs, **attrs):
    return helper.make_node("Resize", inputs, ["y"], name="r", **{"mode": "nearest", **attrs})


RESIZES = [
    # (id, node, X's shape, constant inputs, the nn layer it becomes or None)
    (
        "save_scales_2",  # what save writes for Upsample(scale_factor=2): an Upsample
        _resize(["x", "", "s"], coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        (2, 3, 4, 5),
        [("s", np.array([1, 1, 2, 2], np.float32))],
        "Upsample",
    ),
    (
        "scales_4_1",
        _resize(["x", "", "s"], coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        (2, 3, 4, 5),
        [("s", np.array([1, 1, 4, 1], np.float32))],
        "Upsample",
    ),
    (
        # Upsample's ⌊i·(1/49)⌋ is 0 at i = 49 (1/49 rounds down); ONNX's ⌊i/49⌋ is 1
        "scales_49",
        _resize(["x", "", "s"], coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        (1, 2, 3, 2),
        [("s", np.array([1, 1, 49, 1], np.float32))],
        None,
    ),
    (
        "sizes_3x",
        _resize(
            ["x", "", "", "sz"], coordinate_transformation_mode="asymmetric", nearest_mode="floor"
        ),
        (2, 3, 4, 5),
        [("sz", np.array([2, 3, 12, 15], np.int64))],
        None,
    ),
    (
        "defaults_half_pixel",
        _resize(["x", "", "s"]),
        (1, 2, 5, 4),
        [("s", np.array([1, 1, 3, 2], np.float32))],
        None,
    ),
    (
        "half_pixel_ceil_downsample",
        _resize(["x", "", "s"], nearest_mode="ceil"),
        (1, 2, 9, 7),
        [("s", np.array([1, 1, 0.5, 0.6], np.float32))],
        None,
    ),
    (
        "align_corners_sizes",
        _resize(["x", "", "", "sz"], coordinate_transformation_mode="align_corners"),
        (1, 2, 3, 4),
        [("sz", np.array([1, 2, 8, 7], np.int64))],
        None,
    ),
    (
        "pytorch_half_pixel_prefer_ceil",
        _resize(
            ["x", "", "s"],
            coordinate_transformation_mode="pytorch_half_pixel",
            nearest_mode="round_prefer_ceil",
        ),
        (1, 2, 4, 5),
        [("s", np.array([1, 1, 1.5, 2.5], np.float32))],
        None,
    ),
    (
        "axes_sizes_not_larger",
        _resize(["x", "", "", "sz"], axes=[3, 2], keep_aspect_ratio_policy="not_larger"),
        (1, 2, 3, 4),
        [("sz", np.array([10, 9], np.int64))],
        None,
    ),
    (
        "three_d_every_axis",
        _resize(["x", "", "s"], coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        (2, 3, 4),
        [("s", np.array([2, 1, 3], np.float32))],
        None,
    ),
]


@pytest.mark.parametrize(
    "node, shape, consts, layer", [c[1:] for c in RESIZES], ids=[c[0] for c in RESIZES]
)
def test_resize_nearest_against_onnxruntime_and_finite_differences(node, shape, consts, layer):
    x = rng.standard_normal(shape).astype(np.float32)
    model = _graph([node], [("x", x)], consts, opset=19)
    graph = load(model.SerializeToString())
    assert [type(n.module).__name__ for n in graph.walk()] == [layer or "_Resize"]
    want = _witness(model, [("x", x)])
    got = graph(x)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_array_equal(got, want)  # nearest copies: exactly the same numbers
    x64 = x.astype(np.float64)
    _check_training(load(_graph([node], [("x", x64)], consts, opset=19).SerializeToString()), [x64])


_RESIZE_SCALES = (0.6, 0.7, 0.9, 1 / 3, 7 / 3, 2.4, 1.1, 1.2, 0.3, 1.5)
_RESIZE_TRANSFORMS = ("asymmetric", "half_pixel", "pytorch_half_pixel", "align_corners")
_RESIZE_ROUNDINGS = ("floor", "ceil", "round_prefer_floor", "round_prefer_ceil")


def _ort_output(model, inputs):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, dict(inputs))[0]


def _same_as_onnxruntime_or_a_near_tie(model, x, rounding):
    """cnnmath's Resize gives onnxruntime's exact output, or (round_prefer_* only) refuses
    a coordinate within float32 rounding of a tie, naming the node."""
    want = _ort_output(model, [("x", x)])
    try:
        got = load(model.SerializeToString())(x)
    except ValueError as e:
        assert rounding.startswith("round") and "rounding of a tie" in str(e), str(e)
        assert "node 'r' (Resize)" in str(e)
        return
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("transform", _RESIZE_TRANSFORMS)
def test_resize_scales_index_and_size_arithmetic_is_onnxruntimes_float32(transform):
    """Regression: coordinates and output lengths were computed in float64 from the float32
    scale, so 0.6 on 9 rows picked row 4 for onnxruntime's 5 and 0.7 on 10 rows gave 6 rows
    for its 7. Every scale, length and rounding against onnxruntime, bit for bit."""
    for rounding in _RESIZE_ROUNDINGS:
        for f in _RESIZE_SCALES:
            for n in (1, 2, 3, 5, 6, 7, 9, 10, 13, 32):
                x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
                node = _resize(
                    ["x", "", "s"], coordinate_transformation_mode=transform, nearest_mode=rounding
                )
                model = _graph(
                    [node], [("x", x)], [("s", np.array([f, 1.0], np.float32))], opset=19
                )
                if int(np.float32(f) * np.float32(n)) == 0:
                    continue
                _same_as_onnxruntime_or_a_near_tie(model, x, rounding)


@pytest.mark.parametrize("policy", ["stretch", "not_larger", "not_smaller"])
def test_resize_sizes_and_policies_against_onnxruntime(policy):
    """sizes: s = size/n in float32, a policy's length s·n rounded (a tie up), as
    onnxruntime computes them; every transform and rounding, bit for bit."""
    for transform in _RESIZE_TRANSFORMS:
        for rounding in _RESIZE_ROUNDINGS:
            for shape, sizes in [((5, 4), (3, 12)), ((9, 7), (5, 4)), ((6, 10), (7, 3))]:
                x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
                node = _resize(
                    ["x", "", "", "sz"],
                    coordinate_transformation_mode=transform,
                    nearest_mode=rounding,
                    keep_aspect_ratio_policy=policy,
                )
                model = _graph([node], [("x", x)], [("sz", np.array(sizes, np.int64))], opset=19)
                _same_as_onnxruntime_or_a_near_tie(model, x, rounding)


def test_resize_float32_regressions_pinned():
    """The reviewed cases, against onnxruntime: scale 0.6 on 9 rows picks rows
    [0, 1, 3, 5, 6]; 0.7 on 10 rows gives 7 rows; pytorch_half_pixel with one output row
    reads row 0; align_corners divides by the integer length − 1."""
    cases = [
        ((9,), [0.6], dict(coordinate_transformation_mode="asymmetric", nearest_mode="floor")),
        ((10,), [0.7], dict(coordinate_transformation_mode="asymmetric", nearest_mode="floor")),
        (
            (4,),
            [0.3],
            dict(coordinate_transformation_mode="pytorch_half_pixel", nearest_mode="ceil"),
        ),
        ((6,), [0.6], dict(coordinate_transformation_mode="align_corners")),
    ]
    for shape, scales, attrs in cases:
        x = np.arange(shape[0], dtype=np.float32)
        model = _graph(
            [_resize(["x", "", "s"], **attrs)], [("x", x)], [("s", np.array(scales, np.float32))]
        )
        want = _ort_output(model, [("x", x)])
        got = load(model.SerializeToString())(x)
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_resize_to_the_same_shape_copies_the_input_as_onnxruntime_does():
    """Scales 1.1 on 3 rows: ⌊3.3⌋ = 3 rows; onnxruntime copies X (no resampling)."""
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    node = _resize(
        ["x", "", "s"], coordinate_transformation_mode="asymmetric", nearest_mode="floor"
    )
    model = _graph([node], [("x", x)], [("s", np.array([1.1, 1.2], np.float32))], opset=19)
    np.testing.assert_array_equal(
        load(model.SerializeToString())(x), _ort_output(model, [("x", x)])
    )


@pytest.mark.parametrize("transform", _RESIZE_TRANSFORMS)
def test_resize_cubic_against_onnxruntime_and_finite_differences(transform):
    """Mode "cubic" for every coordinate rule, both common kernels (a = −0.75, PyTorch's and
    ONNX's default; −0.5, TensorFlow's), with and without exclude_outside, growing and
    shrinking, by scales and by sizes: onnxruntime's output (float32, to its rounding), and
    in float64 gradients that agree with finite differences."""
    cases = [
        ((1, 2, 5, 7), "s", np.array([1, 1, 2.0, 1.5], np.float32)),
        ((2, 1, 6, 4), "s", np.array([1, 1, 0.5, 0.75], np.float32)),
        ((1, 1, 3, 9), "s", np.array([1, 1, 3.3, 0.4], np.float32)),
        ((1, 2, 8, 8), "s", np.array([1, 1, 1.1, 0.9], np.float32)),
        ((1, 1, 4, 5), "sz", np.array([1, 1, 9, 2], np.int64)),
    ]
    for a in (-0.75, -0.5):
        for exclude in (0, 1):
            for shape, role, value in cases:
                node = _resize(
                    ["x", "", "s"] if role == "s" else ["x", "", "", "sz"],
                    mode="cubic",
                    coordinate_transformation_mode=transform,
                    cubic_coeff_a=a,
                    exclude_outside=exclude,
                )
                x = rng.standard_normal(shape).astype(np.float32)
                model = _graph([node], [("x", x)], [(role, value)], opset=19)
                want = _ort_output(model, [("x", x)])
                got = load(model.SerializeToString())(x)
                assert got.shape == want.shape and got.dtype == np.float32
                assert np.abs(got - want).max() <= 2e-5 * max(1.0, np.abs(want).max())
    x64 = rng.standard_normal((1, 2, 4, 3))
    node = _resize(
        ["x", "", "s"], mode="cubic", coordinate_transformation_mode=transform, exclude_outside=1
    )
    model = _graph([node], [("x", x64)], [("s", np.array([1, 1, 1.5, 2.5], np.float32))], opset=19)
    _check_training(load(model.SerializeToString()), [x64])


#: (X's shape, the input's role, its value): shrinking by 2 and by ONNX's node tests' 0.6, by
#: 1/3 and a non-integer factor, far (wide windows), one axis up and one down, sizes 7 → 3
_ANTIALIAS_CASES = [
    ((1, 2, 8, 8), "s", np.array([1, 1, 0.5, 0.5], np.float32)),
    ((1, 1, 4, 4), "s", np.array([1, 1, 0.6, 0.6], np.float32)),
    ((2, 1, 9, 12), "s", np.array([1, 1, 1 / 3, 0.75], np.float32)),
    ((1, 1, 20, 9), "s", np.array([1, 1, 0.15, 2.5], np.float32)),
    ((1, 2, 7, 10), "sz", np.array([1, 2, 3, 4], np.int64)),
    ((1, 1, 6, 30), "sz", np.array([1, 1, 13, 7], np.int64)),
]


def _antialias_node(role, mode, transform, **attrs):
    inputs = ["x", "", "s"] if role == "s" else ["x", "", "", "sz"]
    return _resize(
        inputs, mode=mode, antialias=1, coordinate_transformation_mode=transform, **attrs
    )


def _antialias_reference(model, x64, mode, a, exclude, transform, role, value):
    """ONNX's reference output in float64. Mode "cubic" runs the reference's own resize
    (``op_resize._interpolate_nd`` with its antialiased cubic coefficients) with a as a Python
    float: through the evaluator, the float32 attribute cubic_coeff_a turns Keys' kernel into
    float32 arithmetic (NumPy 2's promotion), an error of 1e-7 that is not ONNX's definition."""
    if mode != "cubic":
        return _witness(model, [("x", x64)])
    from onnx.reference.ops import op_resize

    return op_resize._interpolate_nd(
        x64,
        lambda ratio, scale: op_resize._cubic_coeffs_antialias(ratio, scale, A=a),
        scale_factors=[float(f) for f in value] if role == "s" else None,
        output_size=[int(n) for n in value] if role == "sz" else None,
        exclude_outside=bool(exclude),
        coordinate_transformation_mode=transform,
    )


@pytest.mark.parametrize("mode", ["linear", "cubic"])
@pytest.mark.parametrize("transform", _RESIZE_TRANSFORMS)
def test_resize_antialias_against_onnxruntime_and_the_reference(mode, transform):
    """antialias=1: a shrinking axis's kernel stretched by 1/s, every coordinate rule, with
    and without exclude_outside, both common cubic kernels: onnxruntime's output in float32
    (to its float32 weights), and in float64 ONNX's reference evaluator's (to rounding) where
    the two agree (not align_corners by a factor whose n·s is fractional: the reference then
    divides by n·s − 1, onnxruntime by the output length − 1). Its own data: the two
    float32 computations differ by up to 3.2e-6 over 12 seeds, so the bound is 1e-5."""
    rng = np.random.default_rng(17)
    for a in (-0.75, -0.5) if mode == "cubic" else (-0.75,):
        for exclude in (0, 1):
            for shape, role, value in _ANTIALIAS_CASES:
                node = _antialias_node(
                    role, mode, transform, cubic_coeff_a=a, exclude_outside=exclude
                )
                x = rng.standard_normal(shape).astype(np.float32)
                model = _graph([node], [("x", x)], [(role, value)], opset=19)
                want = _ort_output(model, [("x", x)])
                got = load(model.SerializeToString())(x)
                assert got.shape == want.shape and got.dtype == np.float32
                assert rel_error(got, want) <= 1e-5, (shape, value, a, exclude)
                fractional = role == "s" and any(
                    float(f) * n != int(float(f) * n) for f, n in zip(value, shape)
                )
                if transform == "align_corners" and fractional:
                    continue
                x64 = x.astype(np.float64)
                model = _graph([node], [("x", x64)], [(role, value)], opset=19)
                got = load(model.SerializeToString())(x64)
                want = _antialias_reference(model, x64, mode, a, exclude, transform, role, value)
                assert rel_error(got, want) <= 1e-12, (shape, value, a, exclude)


@pytest.mark.parametrize("mode", ["linear", "cubic"])
def test_resize_antialias_gradients_agree_with_finite_differences(mode):
    x64 = rng.standard_normal((1, 2, 9, 5))
    for exclude in (0, 1):
        node = _antialias_node("s", mode, "half_pixel", exclude_outside=exclude)
        scales = np.array([1, 1, 0.45, 1.6], np.float32)
        model = _graph([node], [("x", x64)], [("s", scales)], opset=19)
        _check_training(load(model.SerializeToString()), [x64])


@pytest.mark.parametrize("mode", ["linear", "cubic"])
def test_resize_antialias_copies_an_axis_that_keeps_its_length_as_onnxruntime(mode):
    """Scale 1.05 on 8 rows gives 8 rows: onnxruntime copies them with antialias (its plain
    modes resample them by 1/1.05), and so does cnnmath; ONNX's reference resamples them."""
    x = rng.standard_normal((1, 1, 8, 8)).astype(np.float32)
    node = _antialias_node("s", mode, "half_pixel")
    model = _graph([node], [("x", x)], [("s", np.array([1, 1, 1.05, 0.5], np.float32))], opset=19)
    got = load(model.SerializeToString())(x)
    assert rel_error(got, _ort_output(model, [("x", x)])) <= 2e-6
    copied = _graph([node], [("x", x)], [("s", np.array([1, 1, 1, 0.5], np.float32))], opset=19)
    np.testing.assert_array_equal(got, load(copied.SerializeToString())(x))
    from onnx.reference import ReferenceEvaluator

    assert rel_error(got, ReferenceEvaluator(model).run(None, {"x": x})[0]) > 1e-2


@pytest.mark.parametrize(
    "mode, a", [("linear", -0.75), ("cubic", -0.5)], ids=["bilinear", "bicubic"]
)
def test_resize_antialias_with_exclude_outside_is_pytorchs_interpolate(mode, a):
    """With exclude_outside=1 and "half_pixel", an antialiased Resize by sizes is PyTorch's
    ``interpolate(antialias=True)`` (its bicubic with a = −0.5): the weights renormalised over
    the pixels inside, as PyTorch's, where exclude_outside=0 pads the edge."""
    torch = pytest.importorskip("torch")
    x64 = rng.standard_normal((2, 3, 17, 12))
    for size in ((8, 5), (5, 25), (33, 4)):
        node = _antialias_node("sz", mode, "half_pixel", cubic_coeff_a=a, exclude_outside=1)
        sizes = np.array([2, 3, *size], np.int64)
        model = _graph([node], [("x", x64)], [("sz", sizes)], opset=19)
        want = torch.nn.functional.interpolate(
            torch.tensor(x64), size=size, mode="bi" + mode, antialias=True
        ).numpy()
        got = load(model.SerializeToString())(x64)
        assert rel_error(got, want) <= 1e-12
        padded = _antialias_node("sz", mode, "half_pixel", cubic_coeff_a=a)
        model = _graph([padded], [("x", x64)], [("sz", sizes)], opset=19)
        assert rel_error(load(model.SerializeToString())(x64), want) > 1e-3


def test_resize_antialias_before_opset_18_is_refused_naming_the_node():
    x = np.zeros((1, 1, 4, 4), np.float32)
    node = _antialias_node("s", "linear", "half_pixel")
    model = _graph([node], [("x", x)], [("s", np.array([1, 1, 0.5, 0.5], np.float32))], opset=17)
    with pytest.raises(
        ValueError,
        match=r"node 'r' \(Resize\): attribute 'antialias': Resize has it from opset 18 on, "
        r"this model's opset is 17",
    ):
        load(model.SerializeToString())


def test_resize_half_pixel_symmetric_is_refused_naming_the_node():
    x = np.zeros((2, 4), np.float32)
    node = _resize(["x", "", "s"], coordinate_transformation_mode="half_pixel_symmetric")
    model = _graph([node], [("x", x)], [("s", np.array([2 / 3, 2.0], np.float32))], opset=19)
    with pytest.raises(ValueError, match=r"node 'r' \(Resize\).*half_pixel_symmetric"):
        load(model.SerializeToString())


def test_resize_sizes_on_an_empty_batch_as_onnxruntime():
    x = np.zeros((0, 2, 3, 4), np.float32)
    node = _resize(["x", "", "", "sz"])
    model = _graph([node], [("x", x)], [("sz", np.array([0, 2, 6, 2], np.int64))], opset=19)
    want = _ort_output(model, [("x", x)])
    got = load(model.SerializeToString())(x)
    assert got.shape == want.shape == (0, 2, 6, 2)


def _resize_swap_model(k, constant_x=False):
    """Resize by (2^k, 2^-k): X (1, 2^k) to Y (2^k, 1). Growing axis 0 first would make a
    (2^k, 2^k) intermediate. constant_x: X a ConstantOfShape, so Resize folds at load."""
    scales = ("s", np.array([2.0**k, 2.0**-k], np.float32))
    if not constant_x:
        x = np.zeros((1, 2**k), np.float32)
        return _graph([_resize(["x", "", "s"])], [("x", x)], [scales])
    one = helper.make_tensor("v", onnx.TensorProto.FLOAT, [1], [1.0])
    nodes = [
        helper.make_node("ConstantOfShape", ["shape"], ["c"], value=one),
        helper.make_node("Resize", ["c", "", "s"], ["r"], name="r", mode="nearest"),
        helper.make_node("Add", ["x", "r"], ["y"]),
    ]
    inits = [scales, ("shape", np.array([1, 2**k], np.int64))]
    return _graph(nodes, [("x", np.zeros((2**k, 1), np.float32))], inits)


def test_resize_shrinks_first_so_no_intermediate_outgrows_input_and_output():
    """Regression: axes were gathered in order, so (2^k, 2^-k) built a (2^k, 2^k)
    intermediate: 256 MiB for k = 13, a bare MemoryError (TiB) for k = 20 — from a file of
    a few hundred bytes. Now: onnxruntime's output with little memory, and k = 20 runs and
    folds."""
    import tracemalloc

    k = 13
    x = rng.standard_normal((1, 2**k)).astype(np.float32)
    model = _resize_swap_model(k)
    graph = load(model.SerializeToString())
    tracemalloc.start()
    got = graph(x)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2**22  # 4 MiB; the (2^13)² intermediate was 256 MiB
    np.testing.assert_array_equal(got, _ort_output(model, [("x", x)]))
    _check_training(load(_resize_swap_model(3).SerializeToString()), [rng.standard_normal((1, 8))])
    big = load(_resize_swap_model(20).SerializeToString())
    assert big(np.zeros((1, 2**20), np.float32)).shape == (2**20, 1)
    folded = load(_resize_swap_model(20, constant_x=True).SerializeToString())
    assert folded(np.zeros((2**20, 1), np.float32)).shape == (2**20, 1)


def test_resize_too_large_is_refused_naming_the_node_at_load_and_at_run_time():
    huge = ("s", np.array([2.0**20, 2.0**20], np.float32))
    x = np.zeros((1, 2**10), np.float32)
    model = _graph([_resize(["x", "", "s"])], [("x", x)], [huge])
    with pytest.raises(ValueError, match=r"node 'r' \(Resize\).*memory"):
        load(model.SerializeToString())  # X's shape is known: refused at load
    for dim in model.graph.input[0].type.tensor_type.shape.dim:
        dim.dim_param = "n"  # X's shape symbolic: refused when run
    graph = load(model.SerializeToString())
    with pytest.raises(ValueError, match=r"node 'r' \(Resize\).*memory"):
        graph(x)
    one = helper.make_tensor("v", onnx.TensorProto.FLOAT, [1], [1.0])
    nodes = [
        helper.make_node("ConstantOfShape", ["shape"], ["c"], value=one),
        helper.make_node("Resize", ["c", "", "s"], ["r"], name="r", mode="nearest"),
        helper.make_node("Add", ["x", "r"], ["y"]),
    ]
    model = _graph(nodes, [("x", x)], [huge, ("shape", np.array([1, 2**10], np.int64))])
    with pytest.raises(ValueError, match=r"node 'r' \(Resize\)"):
        load(model.SerializeToString())


def test_resize_with_sizes_computed_at_run_time():
    """save's Upsample(size=…) form: sizes = Concat(Shape(x)[0:2], (h, w)), known only when
    the graph runs (the batch axis is symbolic)."""
    from cnnmath import nn
    from cnnmath.onnx import save

    upsample = nn.Upsample(size=(8, 10))
    x = rng.standard_normal((2, 3, 4, 5))
    path_bytes = None
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        save(nn.Sequential(upsample), folder + "/m.onnx", x)
        path_bytes = open(folder + "/m.onnx", "rb").read()
    graph = load(path_bytes)
    assert "_Resize" in [type(n.module).__name__ for n in graph.walk()]
    from onnx.reference import ReferenceEvaluator

    x3 = rng.standard_normal((3, 3, 4, 5))
    want = ReferenceEvaluator(onnx.load_from_string(path_bytes)).run(None, {"x": x3})[0]
    np.testing.assert_array_equal(graph(x3), want)
    _check_training(graph, [x3])


@pytest.mark.parametrize("op", ["Greater", "Less", "Equal", "GreaterOrEqual", "LessOrEqual"])
def test_comparisons_broadcast_and_feed_where(op):
    """y = Where(a op b, a, b·c): the comparison against the witness, bool, broadcast; the
    gradient reaches a, b and c through Where alone."""
    a = np.round(rng.standard_normal((2, 3, 4)), 1)
    b = np.round(rng.standard_normal((3, 1)), 1) + 0.05  # no ties: finite differences below
    c = rng.standard_normal(4)
    nodes = [
        helper.make_node(op, ["a", "b"], ["m"]),
        helper.make_node("Mul", ["b", "c"], ["bc"]),
        helper.make_node("Where", ["m", "a", "bc"], ["y"]),
    ]
    inputs = [("a", a), ("b", b), ("c", c)]
    model = _graph(nodes, inputs)
    graph = load(model.SerializeToString())
    assert rel_error(graph(a, b, c), _witness(model, inputs)) <= 1e-12
    _check_training(graph, [a, b, c])
    # ties: Equal and the OrEquals differ from the strict ones there
    b_tied = b.copy()
    b_tied[0, 0], b_tied[2, 0] = a[0, 0, 0], a[1, 2, 3]
    compare_model = _graph(nodes[:1], [("a", a), ("b", b_tied)], output="m", output_dtype=bool)
    m = load(compare_model.SerializeToString())(a, b_tied)
    assert m.dtype == np.bool_ and m.shape == (2, 3, 4)
    np.testing.assert_array_equal(m, _witness(compare_model, [("a", a), ("b", b_tied)]))


def test_where_with_a_bool_input_and_an_initializer_trains_the_initializer():
    cond = rng.standard_normal((2, 1, 4)) > 0
    x, y0 = rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 1))
    model = _graph(
        [helper.make_node("Where", ["cond", "x", "y0"], ["y"])],
        [("cond", cond), ("x", x)],
        [("y0", y0)],
        output_dtype=np.float64,
    )
    graph = load(model.SerializeToString())
    assert rel_error(graph(cond, x), _witness(model, [("cond", cond), ("x", x)])) <= 1e-12
    _check_training(graph, [cond, x], ["y0"])


@pytest.mark.parametrize(
    "shapes",
    [
        [(2, 3, 4)],
        [(2, 3, 4), (2, 3, 4)],
        [(2, 3, 4), (3, 1), (4,)],
        [(1, 4), (3, 1), (2, 1, 1), (4,)],
    ],
    ids=["one", "two_same", "three_broadcast", "four_broadcast"],
)
def test_sum_of_broadcast_inputs_against_the_witness_and_finite_differences(shapes):
    names = [f"d{i}" for i in range(len(shapes))]
    inputs = [(n, rng.standard_normal(s)) for n, s in zip(names, shapes)]
    model = _graph([helper.make_node("Sum", names, ["y"])], inputs)
    graph = load(model.SerializeToString())
    args = [a for _, a in inputs]
    assert rel_error(graph(*args), _witness(model, inputs)) <= 1e-12
    _check_training(graph, args)


def test_sum_with_an_initializer_trains_it():
    x, c = rng.standard_normal((2, 3)), rng.standard_normal(3)
    model = _graph([helper.make_node("Sum", ["x", "c", "x"], ["y"])], [("x", x)], [("c", c)])
    graph = load(model.SerializeToString())
    assert rel_error(graph(x), _witness(model, [("x", x)])) <= 1e-12
    _check_training(graph, [x], ["c"])


def test_a_reshaped_initializer_stays_a_trainable_parameter():
    """GroupNorm's export reshapes γ (C,) to (C, 1, 1) before its Mul: folded at load time, the
    reshape is still a parameter, under the initializer's name."""
    gamma, view = rng.standard_normal(3), np.array([3, 1, 1], np.int64)
    nodes = [
        helper.make_node("Reshape", ["gamma", "view"], ["g"]),
        helper.make_node("Mul", ["x", "g"], ["y"]),
    ]
    x = rng.standard_normal((2, 3, 4, 4))
    model = _graph(nodes, [("x", x)], [("gamma", gamma), ("view", view)])
    graph = load(model.SerializeToString())
    assert [n.name for n in graph.walk()] == ["y"]
    key = graph.initializer_names["gamma"]
    assert dict(graph.named_parameters())[key].shape == (3, 1, 1)
    assert rel_error(graph(x), x * gamma[:, None, None]) <= 1e-15
    _check_training(graph, [x], ["gamma"])


# -- refusals of the new ops: the node, the argument, what was expected and what was given

_X4 = np.zeros((1, 2, 3, 4), np.float32)
_S2 = ("s", np.ones(2, np.float32))
_B2 = ("b", np.zeros(2, np.float32))
_SCALES = ("sc", np.array([1, 1, 2, 2], np.float32))

NEW_OP_REFUSALS = [
    (
        _ln(inputs=("x", "s"), stash_type=10),
        [("s", np.ones(4, np.float32))],
        r"attribute 'stash_type': expected 1 \(float32\) or 11 \(float64\), got 10",
    ),
    (
        _ln(4, inputs=("x", "s")),
        [("s", np.ones(4, np.float32))],
        r"attribute 'axis': expected an axis in \[-4, 3\], got 4",
    ),
    (
        _ln(inputs=("x", "s"), epsilon=0.0),
        [("s", np.ones(4, np.float32))],
        r"attribute 'epsilon': expected a finite value > 0, got 0.0",
    ),
    (_ln(inputs=("x",)), [], r"input 'Scale': expected a value \(it is required\), got none"),
    (
        _ln(inputs=("x", "s", "s", "s")),
        [("s", np.ones(4, np.float32))],
        r"inputs: expected at most 3 \(X, Scale, B\), got 4",
    ),
    (
        helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"], name="in"),
        [("s", np.ones(3, np.float32)), _B2],
        r"input 's'|input 'scale': expected shape \(C,\), one value per channel \(C = 2\), got \(3,\)",
    ),
    (
        helper.make_node("InstanceNormalization", ["x", "s"], ["y"], name="in"),
        [_S2],
        r"input 'B': expected a value \(it is required\), got none",
    ),
    (
        helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"], name="in", epsilon=-1.0),
        [_S2, _B2],
        r"attribute 'epsilon': expected a finite value > 0, got -1.0",
    ),
    (
        _resize(["x", "", "sc"], mode="bicubic"),
        [_SCALES],
        r"attribute 'mode': expected 'nearest' or 'linear' or 'cubic', got 'bicubic'",
    ),
    (
        _resize(["x", "", "sc"], mode="cubic", cubic_coeff_a=float("nan")),
        [_SCALES],
        r"attribute 'cubic_coeff_a': expected a finite number, got nan",
    ),
    (
        _resize(["x", "", "sc"], coordinate_transformation_mode="tf_crop_and_resize"),
        [_SCALES],
        r"attribute 'coordinate_transformation_mode': expected 'asymmetric' or 'half_pixel' or .*, got 'tf_crop_and_resize'",
    ),
    (
        _resize(["x", "", "sc"], nearest_mode="nearest"),
        [_SCALES],
        r"attribute 'nearest_mode': expected 'round_prefer_floor' or .*, got 'nearest'",
    ),
    (
        _resize(["x", "", "sc"], keep_aspect_ratio_policy="fit"),
        [_SCALES],
        r"attribute 'keep_aspect_ratio_policy': expected 'stretch' or .*, got 'fit'",
    ),
    (
        _resize(["x", "", "sc"], antialias=1),
        [_SCALES],
        r"attribute 'antialias': expected 0 with mode 'nearest', got 1",
    ),
    (  # plain linear resampling clamps: exclude_outside would change nothing
        _resize(["x", "", "sc"], mode="linear", exclude_outside=1),
        [_SCALES],
        r"attribute 'exclude_outside': expected 0 with mode 'linear', got 1",
    ),
    (
        _resize(["x", "", "sc"], exclude_outside=1),
        [_SCALES],
        r"attribute 'exclude_outside': expected 0 with mode 'nearest', got 1",
    ),
    (
        _resize(["x", "", "sc"], axes=[2, -2]),
        [("sc", np.array([2, 2], np.float32))],
        r"attribute 'axes': expected distinct axes, got \[2, -2\]",
    ),
    (
        _resize(["x", "", "sc"], axes=[4]),
        [("sc", np.array([2], np.float32))],
        r"attribute 'axes': expected an axis in \[-4, 3\], got 4",
    ),
    (
        _resize(["x", "", "sc", "sz"]),
        [_SCALES, ("sz", np.array([1, 2, 6, 8], np.int64))],
        r"inputs 'scales' and 'sizes': expected exactly one of them, non-empty, got both",
    ),
    (
        _resize(["x"]),
        [],
        r"inputs 'scales' and 'sizes': expected exactly one of them, non-empty, got neither",
    ),
    (
        _resize(["x", "", "sc"]),
        [("sc", np.array([2, 2], np.float32))],
        r"input 'scales': expected 4 values \(one per axis of X\), got 2",
    ),
    (
        _resize(["x", "", "sc"]),
        [("sc", np.array([1, 1, -2, 2], np.float32))],
        r"input 'scales': expected finite values > 0, got \[1.0, 1.0, -2.0, 2.0\]",
    ),
    (
        _resize(["x", "", "", "sz"]),
        [("sz", np.array([1, 2, -6, 8], np.int64))],
        r"input 'sizes': expected sizes >= 0",
    ),
    (
        _resize(["x", "", "sc", "", "e"]),
        [_SCALES, ("e", np.ones(1, np.float32))],
        r"inputs: expected at most 4 \(X, roi, scales, sizes\), got 5",
    ),
    (
        helper.make_node("Where", ["c", "x"], ["y"], name="w"),
        [("c", np.ones(4, np.bool_))],
        r"input 'Y': expected a value \(it is required\), got none",
    ),
    (
        helper.make_node("Where", ["c", "x", "x"], ["y"], name="w"),
        [("c", np.ones(4, np.float32))],
        r"input 'condition': expected a bool tensor, got dtype float32",
    ),
    (
        helper.make_node("Greater", ["x", "x", "x"], ["y"], name="g"),
        [],
        r"inputs: expected at most 2 \(A, B\), got 3",
    ),
    (
        helper.make_node("Less", ["x"], ["y"], name="l"),
        [],
        r"input 'B': expected a value \(it is required\), got none",
    ),
    (
        helper.make_node("Sum", ["x", "", "x"], ["y"], name="s"),
        [],
        r"input 'data_1': expected a value, got none",
    ),
]


@pytest.mark.parametrize(
    "node, inits, message", NEW_OP_REFUSALS, ids=lambda v: getattr(v, "op_type", "")
)
def test_new_ops_refuse_bad_attributes_and_inputs_naming_node_and_argument(node, inits, message):
    model = _model([node], _X4.shape, inits, opset=19)
    with pytest.raises(
        ValueError, match=rf"^cnnmath.onnx.load: node '{node.name}' \({node.op_type}\): {message}"
    ):
        load(model.SerializeToString())


def test_resize_attribute_of_the_wrong_type_is_refused():
    node = _resize(["x", "", "sc"])
    node.attribute.append(_attr("nearest_mode", 1, 2))
    with pytest.raises(
        ValueError,
        match=r"node 'r' \(Resize\): attribute 'nearest_mode': expected type STRING, got INT 1",
    ):
        load(_model([node], _X4.shape, [_SCALES], opset=19).SerializeToString())


def test_resize_with_run_time_sizes_refuses_bad_ones_when_run_naming_the_node():
    node = _resize(["x", "", "", "sz"])
    x = np.ones((1, 2, 3, 4), np.float32)
    graph = load(_graph([node], [("x", x), ("sz", np.ones(4, np.int64))]).SerializeToString())
    with pytest.raises(
        ValueError,
        match=r"node 'r' \(Resize\): input 'sizes': expected 4 values \(one per axis of X\), got 2",
    ):
        graph(x, np.array([6, 8], np.int64))


_REDUCE_OPS = (
    "ReduceMean",
    "ReduceSum",
    "ReduceProd",
    "ReduceMax",
    "ReduceMin",
    "ReduceSumSquare",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
)


@pytest.mark.parametrize("op", _REDUCE_OPS)
@pytest.mark.parametrize("opset", [13, 18])
@pytest.mark.parametrize("axes, keepdims", [([1, 3], 1), ([-1], 0), (None, 1)])
def test_reductions_against_onnxruntime_and_finite_differences(op, opset, axes, keepdims):
    """Every Reduce op, axes as an attribute (before opset 18; ReduceSum's an input from
    13) or an input, kept or dropped: onnxruntime's output in float32, and in float64 the
    gradient against finite differences (positive inputs without ties, so that L1, the log
    and max/min are differentiable there)."""
    by_input = opset >= 18 or op == "ReduceSum"
    inits = [("axes", np.array(axes, np.int64))] if by_input and axes is not None else []
    attrs = (
        dict(keepdims=keepdims) if by_input or axes is None else dict(axes=axes, keepdims=keepdims)
    )
    names = ["x", "axes"] if inits else ["x"]
    node = helper.make_node(op, names, ["y"], name="r", **attrs)
    x = rng.uniform(0.5, 1.5, (2, 3, 4, 5)).astype(np.float32)
    model = _graph([node], [("x", x)], inits, opset=opset)
    got = load(model.SerializeToString())(x)
    want = _ort_output(model, [("x", x)])
    assert got.shape == want.shape and got.dtype == np.float32
    assert rel_error(got, want) <= 2e-6
    x64 = x.astype(np.float64)
    _check_training(
        load(_graph([node], [("x", x64)], inits, opset=opset).SerializeToString()), [x64]
    )


@pytest.mark.parametrize("op", _REDUCE_OPS)
def test_reductions_over_no_axes_keep_their_per_element_part(op):
    """noop_with_empty_axes=1 and no axes: nothing is summed, but each op still applies its
    per-element part (ReduceSumSquare gives x², ReduceL1 |x|, ReduceLogSum log x), as
    onnxruntime does; the gradient against finite differences."""
    node = helper.make_node(op, ["x"], ["y"], name="r", noop_with_empty_axes=1)
    x = rng.uniform(0.5, 1.5, (2, 3)).astype(np.float32)
    if op in ("ReduceL1", "ReduceL2", "ReduceSumSquare"):
        x[0, 0] = -0.7
    model = _graph([node], [("x", x)], opset=18)
    got = load(model.SerializeToString())(x)
    assert got.shape == x.shape
    np.testing.assert_allclose(got, _ort_output(model, [("x", x)]), rtol=1e-6)
    x64 = x.astype(np.float64)
    _check_training(load(_graph([node], [("x", x64)], opset=18).SerializeToString()), [x64])


@pytest.mark.parametrize(
    ("op", "torch_op"), [("ReduceMax", "amax"), ("ReduceMin", "amin"), ("ReduceProd", "prod")]
)
def test_reduction_gradients_at_ties_and_zeros_are_pytorchs(op, torch_op):
    """Where the derivative is not the smooth one: ties of the max or min share G equally
    (torch.amax/amin's rule), and a product with one or two zeros among its factors is
    differentiated exactly (torch.prod's)."""
    torch = pytest.importorskip("torch")
    x = np.array([[3.0, 1.0, 3.0, 0.0], [2.0, 0.0, 0.0, 5.0], [1.0, 1.0, 1.0, 1.0]])
    node = helper.make_node(op, ["x"], ["y"], name="r", axes=[1], keepdims=0)
    graph = load(_graph([node], [("x", x)], opset=13).SerializeToString())
    G = np.array([1.0, -2.0, 0.5])
    xt = torch.tensor(x, requires_grad=True)
    y = getattr(torch, torch_op)(xt, dim=1) if op != "ReduceProd" else xt.prod(dim=1)
    (y * torch.tensor(G)).sum().backward()
    assert rel_error(graph(x), y.detach().numpy()) <= 1e-15
    np.testing.assert_allclose(graph.backward(G), xt.grad.numpy(), rtol=1e-15)


@pytest.mark.parametrize("op", ["Max", "Min", "Mean"])
def test_elementwise_max_min_mean_broadcast_and_differentiate(op):
    """Three inputs of shapes (2, 3, 4), (3, 1) and (4,): onnxruntime's values, and in
    float64 the gradients of every input against finite differences (no ties)."""
    shapes = [(2, 3, 4), (3, 1), (4,)]
    xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    names = ["x", "b", "c"]
    node = helper.make_node(op, names, ["y"], name="r")
    model = _graph([node], list(zip(names, xs)), opset=13)
    np.testing.assert_allclose(
        load(model.SerializeToString())(*xs), _ort_output(model, list(zip(names, xs))), rtol=1e-6
    )
    x64 = [x.astype(np.float64) for x in xs]
    graph = load(_graph([node], list(zip(names, x64)), opset=13).SerializeToString())
    _check_training(graph, x64)


def test_max_min_share_the_gradient_at_ties_as_torch_maximum():
    """Two equal inputs share G half and half (torch.maximum / minimum's rule); elsewhere
    the larger (smaller) one takes all of it; a NaN wins, as ONNX and torch say."""
    torch = pytest.importorskip("torch")
    a = np.array([1.0, 2.0, 3.0, np.nan])
    b = np.array([1.0, 5.0, 0.0, 2.0])
    G = np.array([1.0, 2.0, 3.0, 4.0])
    for op, fn in (("Max", torch.maximum), ("Min", torch.minimum)):
        node = helper.make_node(op, ["a", "b"], ["y"], name="r")
        graph = load(_graph([node], [("a", a), ("b", b)], opset=13).SerializeToString())
        at, bt = (torch.tensor(v, requires_grad=True) for v in (a, b))
        y = fn(at, bt)
        (y * torch.tensor(G)).sum().backward()
        np.testing.assert_array_equal(graph(a, b), y.detach().numpy())
        got = graph.backward(G)
        np.testing.assert_array_equal(got[0][:3], at.grad.numpy()[:3])
        np.testing.assert_array_equal(got[1][:3], bt.grad.numpy()[:3])


def test_expand_and_tile_against_onnxruntime_and_finite_differences():
    """Expand to (2, 3, 4) from (3, 1) (a 1 in the target keeps an axis: (1, 1) expands
    (3, 1) to itself) and Tile by (2, 1, 3): onnxruntime's values; the gradients (sums over
    the copies) against finite differences."""
    x = rng.standard_normal((3, 1)).astype(np.float32)
    for node, inits in (
        (helper.make_node("Expand", ["x", "s"], ["y"], name="e"), [("s", np.array([2, 3, 4]))]),
        (helper.make_node("Expand", ["x", "s"], ["y"], name="e"), [("s", np.array([1, 1]))]),
        (
            helper.make_node("Tile", ["x3", "r"], ["y"], name="t"),
            [("r", np.array([2, 1, 3])), ("three", np.array([1, 3, 1]))],
        ),
    ):
        nodes = [node]
        if node.op_type == "Tile":
            nodes = [helper.make_node("Reshape", ["x", "three"], ["x3"]), node]
        model = _graph(nodes, [("x", x)], inits, opset=13)
        got = load(model.SerializeToString())(x)
        np.testing.assert_array_equal(got, _ort_output(model, [("x", x)]))
        x64 = x.astype(np.float64)
        _check_training(
            load(_graph(nodes, [("x", x64)], inits, opset=13).SerializeToString()), [x64]
        )


def test_tile_refuses_repeats_of_the_wrong_length_naming_the_node():
    x = np.zeros((2, 3), np.float32)
    node = helper.make_node("Tile", ["x", "r"], ["y"], name="t")
    model = _graph([node], [("x", x)], [("r", np.array([2, 2, 2]))], opset=13)
    with pytest.raises(
        ValueError,
        match=r"node 't' \(Tile\): input 'repeats': expected 2 counts >= 0 \(one per axis of "
        r"the input, shape \(2, 3\)\), got \[2, 2, 2\]",
    ):
        load(model.SerializeToString())(x)


def test_sin_cos_and_the_piecewise_constant_ops_differentiate():
    """sin, cos (derivatives cos, −sin) against finite differences; floor, ceil, round and
    sign pass no gradient (as PyTorch's), so y = sin x · cos x + ⌊x⌋ + ⌈x⌉ + round(x) +
    sign(x) has the derivative cos 2x."""
    x = rng.uniform(-3, 3, (3, 4)) + 0.25  # away from the jumps of the step functions
    nodes = [
        helper.make_node("Sin", ["x"], ["s"]),
        helper.make_node("Cos", ["x"], ["c"]),
        helper.make_node("Mul", ["s", "c"], ["sc"]),
        *(helper.make_node(op, ["x"], [op]) for op in ("Floor", "Ceil", "Round", "Sign")),
        helper.make_node("Sum", ["sc", "Floor", "Ceil", "Round", "Sign"], ["y"]),
    ]
    graph = load(_graph(nodes, [("x", x)], opset=13).SerializeToString())
    want = np.sin(x) * np.cos(x) + np.floor(x) + np.ceil(x) + np.round(x) + np.sign(x)
    assert rel_error(graph(x), want) <= 1e-15
    assert rel_error(graph.backward(np.ones_like(x)), np.cos(2 * x)) <= 1e-14
    _check_training(graph, [x])


@pytest.mark.parametrize(
    "op, attrs",
    [
        ("Swish", dict(alpha=0.5)),
        ("Swish", {}),
        ("ThresholdedRelu", dict(alpha=0.3)),
        ("LpNormalization", dict(axis=1, p=2)),
        ("LpNormalization", dict(axis=-1, p=1)),
    ],
)
def test_swish_thresholded_relu_and_lp_normalization_differentiate(op, attrs):
    """onnxruntime's values (float32) and the gradient against finite differences
    (float64, away from ThresholdedRelu's jump); a zero vector normalises to 0, as
    onnxruntime gives, with gradient 0."""
    x = rng.standard_normal((3, 4, 2)).astype(np.float32)
    x[np.abs(np.abs(x) - 0.3) < 0.05] += 0.2  # no value at the threshold's jump
    x[0, :, 0] = 0.0  # a zero vector along axis 1 (and zeros along the last axis)
    x[1, 0, :] = 0.0
    node = helper.make_node(op, ["x"], ["y"], name="n", **attrs)
    opset = 24 if op == "Swish" else 13
    model = _graph([node], [("x", x)], opset=opset)
    got = load(model.SerializeToString())(x)
    if op != "Swish":  # onnxruntime has no Swish kernel yet: its formula instead
        np.testing.assert_allclose(got, _ort_output(model, [("x", x)]), rtol=1e-6, atol=1e-7)
    else:
        a = attrs.get("alpha", 1.0)
        np.testing.assert_allclose(got, x / (1 + np.exp(-a * x)), rtol=1e-6)
    x64 = x.astype(np.float64)
    graph = load(_graph([node], [("x", x64)], opset=opset).SerializeToString())
    if op == "LpNormalization":  # off the zero vectors, where the norm is not differentiable
        graph(x64)
        g = graph.backward(np.ones_like(x64))
        assert not np.any(g[0, :, 0] if attrs["axis"] == 1 else g[1, 0, :])  # the zero vector
        x64 = x64 + (x64 == 0) * 0.7
    _check_training(graph, [x64])


def _split(outputs, opset, inits=(), **attrs):
    """x (2, 7, 3, 4) → Split along the channels, the parts joined again with Mul/Add (one
    graph output); onnxruntime's answer beside cnnmath's."""
    names = ["x", "sp"] if any(n == "sp" for n, _ in inits) else ["x"]
    nodes = [helper.make_node("Split", names, list(outputs), name="split", **attrs)]
    used = [o for o in outputs if o]
    nodes.append(helper.make_node("Concat", used, ["y"], axis=1))
    return _model(nodes, (2, 7, 3, 4), inits, opset=opset)


@pytest.mark.parametrize(
    "outputs, opset, inits, attrs, sizes",
    [
        (["a", "b", "c"], 18, [], dict(axis=1, num_outputs=3), [3, 3, 1]),  # ⌈7/3⌉, then less
        (["a", "b"], 11, [], dict(axis=1, split=[5, 2]), [5, 2]),  # sizes as an attribute
        (["a", "b", "c"], 13, [("sp", np.array([0, 6, 1], np.int64))], dict(axis=-3), [0, 6, 1]),
        (["a", "", "c"], 13, [("sp", np.array([2, 4, 1], np.int64))], dict(axis=1), [2, 4, 1]),
        (["a"], 13, [], dict(axis=1), [7]),
    ],
)
def test_split_against_numpy_onnxruntime_and_finite_differences(
    outputs, opset, inits, attrs, sizes
):
    """Each output a Narrow of the channels (an unnamed one not built), the parts as
    ``np.split`` cuts them and as onnxruntime does (which crashes on an unnamed output, so
    that case is compared with NumPy alone), and the gradient through the parts (float64)
    against finite differences."""
    x = rng.standard_normal((2, 7, 3, 4)).astype(np.float32)
    model = _split(outputs, opset, inits, **attrs)
    graph = load(model.SerializeToString())
    narrows = [n.module for n in graph.walk() if isinstance(n.module, nn.Narrow)]
    assert [m.length for m in narrows] == [size for size, o in zip(sizes, outputs) if o]
    parts = np.split(x, np.cumsum(sizes)[:-1], axis=1)
    want = np.concatenate([p for p, o in zip(parts, outputs) if o], axis=1)
    np.testing.assert_array_equal(graph(x), want)
    if all(outputs):
        np.testing.assert_array_equal(graph(x), _ort(model, x))
    model64 = _split(outputs, opset, inits, **attrs)
    model64.graph.input[0].type.tensor_type.elem_type = TensorProto.DOUBLE
    model64.graph.output[0].type.tensor_type.elem_type = TensorProto.DOUBLE
    _check_training(load(model64.SerializeToString()), [x.astype(np.float64)])


def test_split_of_a_constant_is_folded():
    """A Split of an initializer: its parts are constants of the graph (folded at load)."""
    w = rng.standard_normal((4, 3)).astype(np.float32)
    nodes = [
        helper.make_node("Split", ["w"], ["w1", "w2"], name="split", axis=0),
        helper.make_node("Mul", ["w1", "w2"], ["p"]),
        helper.make_node("Add", ["x", "p"], ["y"]),
    ]
    model = _model(nodes, (2, 3), [("w", w)])
    graph = load(model.SerializeToString())
    assert not any(type(n.module).__name__ == "_Slice" for n in graph.walk())
    x = rng.standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_allclose(graph(x), x + w[:2] * w[2:], rtol=1e-6)


@pytest.mark.parametrize(
    "outputs, opset, inits, attrs, message",
    [
        (
            ["a", "b"],
            13,
            [("sp", np.array([3, 3], np.int64))],
            dict(axis=1),
            r"node 'split' \(Split\): split: expected 2 sizes >= 0 \(one per output\) adding up "
            r"to the length 7 along axis 1, got \[3, 3\]",
        ),
        (
            ["a", "b"],
            13,
            [],
            dict(axis=1),
            r"split: expected 2 sizes >= 0 \(one per output\) adding up to the length 7 along "
            r"axis 1, got \[3, 3\]",  # 7 channels in two equal parts
        ),
        (
            ["a", "b"],
            18,
            [],
            dict(axis=1, num_outputs=3),
            r"attribute 'num_outputs': expected the number of outputs \(2\) and no 'split', got 3",
        ),
        (
            ["a", "b"],
            13,
            [],
            dict(axis=4),
            r"attribute 'axis': expected an axis in \[-4, 3\], got 4",
        ),
    ],
)
def test_split_refusals_name_the_node_and_the_argument(outputs, opset, inits, attrs, message):
    with pytest.raises(ValueError, match=message):
        load(_split(outputs, opset, inits, **attrs).SerializeToString())


def test_layer_normalization_statistics_outputs_in_use_load():
    # Mean and InvStdDev load (tests/test_onnx_pool_outputs.py checks them against
    # onnxruntime): here Y + Mean against the formula
    nodes = [
        helper.make_node("LayerNormalization", ["x", "s"], ["n", "mean"], name="ln"),
        helper.make_node("Add", ["n", "mean"], ["y"]),
    ]
    model = _model(nodes, _X4.shape, [("s", np.ones(4, np.float32))])
    x = np.random.default_rng(0).standard_normal(_X4.shape).astype(np.float32)
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=-1, keepdims=True)
    want = (x64 - mean) / np.sqrt(x64.var(axis=-1, keepdims=True) + 1e-5) + mean
    got = load(model.SerializeToString())(x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    unused = _model(nodes[:1], _X4.shape, [("s", np.ones(4, np.float32))], out="n")
    load(unused.SerializeToString())  # written but not read: loads


def test_a_view_of_an_initializer_read_elsewhere_too_stays_a_fixed_buffer():
    """Regression: W read by Add and, through a Reshape, by Mul came back as two Parameters
    over one array (state_dict keys a.b and y.b aliased, each trained by its own optimiser
    state). Now W is one Parameter; the view is a fixed copy (a buffer), so W's gradient
    is that of the loaded function, as finite differences measure it."""
    W = rng.standard_normal((3, 4))
    nodes = [
        helper.make_node("Add", ["x", "W"], ["a"]),
        helper.make_node("Reshape", ["W", "shape"], ["W2"]),
        helper.make_node("Mul", ["a", "W2"], ["y"]),
    ]
    x = rng.standard_normal((3, 4))
    model = _graph(nodes, [("x", x)], [("W", W), ("shape", np.array([3, 4], np.int64))])
    graph = load(model.SerializeToString())
    params = graph.parameters()
    assert len(params) == 1 and graph.num_parameters() == W.size
    for key, b in graph.named_buffers():
        assert not np.shares_memory(b, params[0].data), key
    assert rel_error(graph(x), _witness(model, [("x", x)])) <= 1e-12
    _check_training(graph, [x], ["W"])


def test_a_chain_of_views_of_an_initializer_keeps_it_trainable_and_named():
    """Regression: Unsqueeze of an Unsqueeze of W trained, but initializer_names lost W."""
    W = rng.standard_normal(4)
    nodes = [
        helper.make_node("Unsqueeze", ["W", "axis"], ["W1"]),
        helper.make_node("Unsqueeze", ["W1", "axis"], ["W2"]),
        helper.make_node("Mul", ["x", "W2"], ["y"]),
    ]
    x = rng.standard_normal((2, 4, 3, 3))
    model = _graph(nodes, [("x", x)], [("W", W), ("axis", np.array([1], np.int64))])
    graph = load(model.SerializeToString())
    assert graph.num_parameters() == W.size
    assert "W" in graph.initializer_names
    assert rel_error(graph(x), _witness(model, [("x", x)])) <= 1e-12
    _check_training(graph, [x], ["W"])


@pytest.mark.parametrize("op", ["Sum", "Add"])
def test_sum_and_add_of_symbolic_shapes_broadcast_when_run(op):
    """Regression: inputs declared (N, 3) and (M, 3) looked equal (unknown axes compare
    equal) and became nn.Add, which does not broadcast: (4, 3) + (1, 3) failed where
    onnxruntime broadcasts. nn.Add now only for fully known, equal shapes."""
    a = rng.standard_normal((4, 3)).astype(np.float32)
    b = rng.standard_normal((1, 3)).astype(np.float32)
    model = _graph([helper.make_node(op, ["a", "b"], ["y"])], [("a", a), ("b", b)])
    for value_info, dim in zip(model.graph.input, ("N", "M")):
        value_info.type.tensor_type.shape.dim[0].dim_param = dim
    graph = load(model.SerializeToString())
    assert "Add" not in [type(n.module).__name__ for n in graph.walk()]
    assert rel_error(graph(a, b), _witness(model, [("a", a), ("b", b)])) <= 1e-6


@pytest.mark.parametrize("op", ["Sum", "Add"])
def test_sum_and_add_of_one_named_symbolic_shape_are_nn_add(op):
    """Inputs whose symbolic axis is the same named dimension (dim_param "N" on both) have
    one shape at every run: the node is nn.Add, as a graph built by hand has it."""
    a = rng.standard_normal((4, 3)).astype(np.float32)
    b = rng.standard_normal((4, 3)).astype(np.float32)
    model = _graph([helper.make_node(op, ["a", "b"], ["y"])], [("a", a), ("b", b)])
    for value_info in model.graph.input:
        value_info.type.tensor_type.shape.dim[0].dim_param = "N"
    graph = load(model.SerializeToString())
    assert [type(n.module).__name__ for n in graph.walk()] == ["Add"]
    assert rel_error(graph(a, b), _witness(model, [("a", a), ("b", b)])) <= 1e-6
    unnamed = _graph([helper.make_node(op, ["a", "b"], ["y"])], [("a", a), ("b", b)])
    for value_info in unnamed.graph.input:
        value_info.type.tensor_type.shape.dim[0].ClearField("dim_value")  # unknown, unnamed
    assert "Add" not in [type(n.module).__name__ for n in load(unnamed.SerializeToString()).walk()]


def test_a_saved_resnets_residual_sums_load_as_nn_add(tmp_path):
    """cnnmath's save writes the batch axis as the symbolic "batch"; shape inference carries
    it to both inputs of each residual Add, which therefore loads as nn.Add."""
    from cnnmath import models
    from cnnmath.onnx import save

    model = models.resnet20(seed=0).eval()
    x = rng.standard_normal((2, 3, 16, 16)).astype(np.float32)
    save(model, tmp_path / "m.onnx", x)
    graph = load(tmp_path / "m.onnx")
    kinds = [type(n.module).__name__ for n in graph.walk()]
    assert kinds.count("Add") == 9 and "_Binary" not in kinds
    np.testing.assert_array_equal(graph(x), model(x))


@pytest.mark.parametrize("op", ["Sum", "Where", "Greater"])
def test_inputs_that_do_not_broadcast_are_refused_naming_the_node(op):
    """Regression: NumPy's bare 'shape mismatch' came out, without the node."""
    a = rng.standard_normal((2, 3))
    b = rng.standard_normal(4)
    if op == "Where":
        c = np.ones(3, bool)
        inputs = [("c", c), ("a", a), ("b", b)]
        node = helper.make_node(op, ["c", "a", "b"], ["y"], name="n")
    else:
        inputs = [("a", a), ("b", b)]
        node = helper.make_node(op, ["a", "b"], ["y"], name="n")
    model = _graph([node], inputs, output_dtype=bool if op == "Greater" else np.float64)
    with pytest.raises(ValueError, match=rf"node 'n' \({op}\): inputs: expected shapes that"):
        load(model.SerializeToString())(*[v for _, v in inputs])


def test_a_gather_of_one_element_feeds_a_float_layer_as_an_array():
    """Gather with a 0-d index of a 1-D float value gives a 0-d value (NumPy's np.take gives
    a scalar there, which a following Identity layer refused: keypoint R-CNN's export reads
    one score so); equal to onnxruntime's, and its gradient lands at the index."""
    ort = pytest.importorskip("onnxruntime")
    value = helper.make_tensor_value_info
    nodes = [
        helper.make_node("Gather", ["v", "i"], ["e"]),
        helper.make_node("Identity", ["e"], ["s"]),
    ]
    graph_proto = helper.make_graph(
        nodes,
        "g",
        [value("v", TensorProto.FLOAT, ["n"]), value("i", TensorProto.INT64, [])],
        [value("s", TensorProto.FLOAT, None)],
    )
    data = helper.make_model(
        graph_proto, opset_imports=[helper.make_opsetid("", OPSET)]
    ).SerializeToString()
    v, i = np.array([1.5, -2.0, 4.0], np.float32), np.array(1, np.int64)
    graph = load(data)
    got = graph(v, i)
    want = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(
        None, {"v": v, "i": i}
    )
    assert isinstance(got, np.ndarray) and got.shape == () and got == want[0]
    grad_v, _ = graph.backward(np.array(3.0, np.float32))
    np.testing.assert_array_equal(grad_v, [0.0, 3.0, 0.0])
