"""cnnmath.onnx.load on the ops real CNN files still hit: GroupNormalization (opset 18's
per-group and 21's per-channel scale), QuantizeLinear / DequantizeLinear (the QDQ format of
onnxruntime's quantization tools), TopK, the inverse and hyperbolic trigonometric functions,
Mod, CumSum, GatherElements, Range at run time, LpPool and GlobalLpPool. Hand-built graphs
against onnxruntime (float32) and ONNX's reference evaluator (float64, and the spec's exact
quantization arithmetic); gradients against finite differences (float64) and PyTorch's
autograd; the refusals, each naming node, op type and what was expected. ONNX's own node tests
of these ops run in test_onnx_backend.py."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import check_input_gradients, rel_error

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from cnnmath.onnx import load  # noqa: E402

rng = np.random.default_rng(0)


def _graph(nodes, inputs, inits=(), opset=21, outputs=("y",), output_dtypes=None):
    """A model of ``nodes`` whose graph inputs are [(name, array)] (type and shape from the
    arrays), initializers [(name, array)], outputs ``outputs`` (the first input's type unless
    ``output_dtypes`` says)."""
    dtypes = output_dtypes or [inputs[0][1].dtype] * len(outputs)
    graph = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
            for n, a in inputs
        ],
        [
            helper.make_tensor_value_info(o, helper.np_dtype_to_tensor_dtype(np.dtype(d)), None)
            for o, d in zip(outputs, dtypes)
        ],
        initializer=[numpy_helper.from_array(a, n) for n, a in inits],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _ort(model, inputs):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, dict(inputs))


def _reference(model, inputs):
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(model).run(None, dict(inputs))


def _kinds(graph):
    return [type(n.module).__name__ for n in graph.walk()]


# ---------------------------------------------------------------------------------------------
# GroupNormalization


def _gn(groups, inputs=("x", "s", "b"), **attrs):
    return helper.make_node("GroupNormalization", list(inputs), ["y"], name="gn",
                            num_groups=groups, **attrs)  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "opset, groups, layer",
    [(21, 3, "GroupNorm"), (21, 6, "GroupNorm"), (18, 6, "GroupNorm"), (18, 2, "_GroupNorm")],
)
def test_group_normalization_against_the_witnesses_and_finite_differences(
    opset, groups, layer, dtype
):
    """Per-channel scale and bias (opset 21; opset 18 with one group per channel) load as
    nn.GroupNorm holding the initializers; opset 18's per-group ones with fewer groups than
    channels as the op, trained per group. Values against onnxruntime (float32) and the
    reference (float64); ∂x and ∂(scale, bias) against finite differences."""
    C = 6
    n = groups if opset < 21 else C
    s, b = (rng.uniform(0.5, 1.5, n).astype(dtype), rng.standard_normal(n).astype(dtype))
    x = (2 * rng.standard_normal((2, C, 3, 4)) + 1).astype(dtype)
    # stash_type = 11: the reference normalises float64 in float64 (cnnmath always does)
    stash = {"stash_type": 11} if opset >= 21 and dtype == np.float64 else {}
    node = _gn(groups, epsilon=0.01, **stash)
    model = _graph([node], [("x", x)], [("s", s), ("b", b)], opset=opset)
    graph = load(model.SerializeToString())
    assert _kinds(graph) == [layer]
    witness = (_ort if dtype == np.float32 else _reference)(model, [("x", x)])[0]
    assert rel_error(graph(x), witness) <= (1e-12 if dtype == np.float64 else 1e-5)
    assert {graph.initializer_names[k] for k in ("s", "b")} == {
        name for name, _ in graph.named_parameters()
    }
    if dtype == np.float64:
        check_input_gradients(graph, [x])
        named = dict(graph.named_parameters())
        for key in ("s", "b"):
            param = named[graph.initializer_names[key]]
            G = rng.standard_normal(x.shape)
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
            assert param.shape == (n,)
            assert rel_error(param.grad, numeric) <= 1e-6


@pytest.mark.parametrize("opset", [18, 21])
def test_group_normalization_with_run_time_scale_and_bias_differentiates_to_them(opset):
    C, groups = 4, 2
    n = groups if opset < 21 else C
    x, s, b = rng.standard_normal((2, C, 5)), rng.standard_normal(n), rng.standard_normal(n)
    inputs = [("x", x), ("s", s), ("b", b)]
    model = _graph(
        [_gn(groups, **({"stash_type": 11} if opset >= 21 else {}))], inputs, opset=opset
    )
    graph = load(model.SerializeToString())
    assert _kinds(graph) == ["_GroupNorm"]
    assert rel_error(graph(x, s, b), _reference(model, inputs)[0]) <= 1e-12
    check_input_gradients(graph, [x, s, b])


def test_group_normalization_matches_torch_group_norm():
    """ONNX's per-channel GroupNormalization is torch.nn.GroupNorm: values and gradients."""
    torch = pytest.importorskip("torch")
    layer = torch.nn.GroupNorm(2, 6, eps=1e-4).double()
    with torch.no_grad():
        layer.weight.uniform_(0.5, 1.5)
        layer.bias.normal_()
    x = torch.randn(3, 6, 4, 4, dtype=torch.float64, requires_grad=True)
    inits = [("s", layer.weight.detach().numpy()), ("b", layer.bias.detach().numpy())]
    model = _graph([_gn(2, epsilon=1e-4)], [("x", x.detach().numpy())], inits)
    graph = load(model.SerializeToString())
    G = torch.randn(3, 6, 4, 4, dtype=torch.float64)
    (layer(x) * G).sum().backward()
    graph.train()
    got = graph(x.detach().numpy())
    assert rel_error(got, layer(x).detach().numpy()) <= 1e-11
    assert rel_error(graph.backward(G.numpy()), x.grad.numpy()) <= 1e-11
    named = dict(graph.named_parameters())
    for key, p in (("s", layer.weight), ("b", layer.bias)):
        assert rel_error(named[graph.initializer_names[key]].grad, p.grad.numpy()) <= 1e-11


# ---------------------------------------------------------------------------------------------
# QuantizeLinear and DequantizeLinear


def _qdq(dtype, axis=1, block=0, scale_shape=(), zero=True, opset=21):
    """x → QuantizeLinear → (q, an output) → DequantizeLinear → y, sharing scale and zero
    point (initializers of ``scale_shape``)."""
    scale = rng.uniform(0.02, 0.1, scale_shape).astype(np.float32)
    info = np.iinfo(dtype)
    z = rng.integers(info.min // 4, info.max // 4, scale_shape, endpoint=True).astype(dtype)
    names = ["x", "s", "z"] if zero else ["x", "s"]
    attrs = {"axis": axis, **({"block_size": block} if block else {})}
    nodes = [
        helper.make_node("QuantizeLinear", names, ["q"], name="quantize", **attrs),
        helper.make_node("DequantizeLinear", ["q", *names[1:]], ["y"], name="dequantize", **attrs),
    ]
    inits = [("s", scale), ("z", z)] if zero else [("s", scale)]
    return nodes, inits


@pytest.mark.parametrize(
    "dtype, axis, block, scale_shape",
    [
        (np.uint8, 1, 0, ()),
        (np.int8, 1, 0, (3,)),
        (np.int8, -1, 0, (5,)),
        (np.uint16, 0, 0, (2,)),
        (np.int16, 1, 0, ()),
        (np.int8, 2, 2, (2, 3, 2, 5)),  # blocks of 2 along an axis of 4
        (np.uint8, 3, 2, (2, 3, 4, 3)),  # blocks of 2 along an axis of 5: the last one short
    ],
)
def test_quantize_dequantize_is_the_specifications_arithmetic(dtype, axis, block, scale_shape):
    """Both outputs — the quantized integers and the fake-quantized floats — equal ONNX's
    reference evaluator's exactly (and onnxruntime's where it computes the type), per tensor,
    per axis and per block; the values include values beyond the type's range (saturated)."""
    nodes, inits = _qdq(dtype, axis, block, scale_shape)
    s = np.asarray(inits[0][1])
    info = np.iinfo(dtype)
    x = (rng.standard_normal((2, 3, 4, 5)) * 0.8 * (int(info.max) - info.min) * s.max()).astype(
        np.float32
    )
    model = _graph(nodes, [("x", x)], inits, outputs=("q", "y"), output_dtypes=(dtype, np.float32))
    graph = load(model.SerializeToString())
    q, y = graph(x)
    want_q, want_y = _reference(model, [("x", x)])
    assert q.dtype == dtype and y.dtype == np.float32
    np.testing.assert_array_equal(q, want_q)
    np.testing.assert_array_equal(y, want_y)
    assert q.min() == info.min or q.max() == info.max  # something saturated
    if block == 0 and dtype in (np.uint8, np.int8):
        ort_q, ort_y = _ort(model, [("x", x)])
        np.testing.assert_array_equal(q, ort_q)
        np.testing.assert_array_equal(y, ort_y)


def test_quantize_rounds_halves_to_even():
    """x/scale = ±0.5, ±1.5, 2.5 (exact: scale 2⁻¹) round to 0, ±2, 2, as ONNX's rint."""
    x = np.array([0.25, 0.75, 1.25, -0.25, -0.75], np.float32)
    node = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], name="q")
    inits = [("s", np.float32(0.5)), ("z", np.int8(0))]
    model = _graph([node], [("x", x)], inits, output_dtypes=[np.int8])
    np.testing.assert_array_equal(load(model.SerializeToString())(x), [0, 2, 2, 0, -2])
    np.testing.assert_array_equal(_ort(model, [("x", x)])[0], [0, 2, 2, 0, -2])


def test_quantize_without_a_zero_point_writes_uint8_or_output_dtype():
    x = rng.standard_normal((2, 3)).astype(np.float32)
    s = np.float32(0.01)
    for attrs, dtype in (({}, np.uint8), ({"output_dtype": TensorProto.INT8}, np.int8)):
        node = helper.make_node("QuantizeLinear", ["x", "s"], ["y"], name="q", **attrs)
        model = _graph([node], [("x", x)], [("s", np.array(s))], output_dtypes=[dtype])
        got = load(model.SerializeToString())(x)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, _reference(model, [("x", x)])[0])


def test_dequantized_weights_are_folded_into_trainable_float_weights():
    """An int8 weight with its DequantizeLinear (per output channel, axis 0) is folded at load
    time: the Conv loads as nn.Conv2d whose weight is the dequantized array, a parameter."""
    w = rng.integers(-127, 127, (4, 2, 3, 3), endpoint=True).astype(np.int8)
    ws = rng.uniform(0.01, 0.02, 4).astype(np.float32)
    wz = np.zeros(4, np.int8)
    nodes = [
        helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wf"], axis=0),
        helper.make_node("Conv", ["x", "wf"], ["y"], name="conv", pads=[1, 1, 1, 1]),
    ]
    x = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
    model = _graph(nodes, [("x", x)], [("w", w), ("ws", ws), ("wz", wz)], opset=13)
    graph = load(model.SerializeToString())
    assert _kinds(graph) == ["Conv2d"]
    (weight,) = [p for _, p in graph.named_parameters()]
    np.testing.assert_array_equal(weight.data, w.astype(np.float32) * ws.reshape(4, 1, 1, 1))
    assert rel_error(graph(x), _ort(model, [("x", x)])[0]) <= 1e-6


def _calibration_reader(shape, count, seed):
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            data = np.random.default_rng(seed).standard_normal((count, *shape))
            self.batches = iter([{"x": d[None].astype(np.float32)} for d in data])

        def get_next(self):
            return next(self.batches, None)

    return Reader()


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("activations", ["QUInt8", "QInt8"])
def test_a_statically_quantized_torch_network_runs_as_onnxruntime_and_the_spec(
    tmp_path, per_channel, activations
):
    """A small conv net exported from PyTorch, quantized by onnxruntime's ``quantize_static``
    to the QDQ format (int8 weights, per tensor or per channel; uint8 or int8 activations,
    calibrated on random data): cnnmath's output equals ONNX's reference evaluator's
    (the specification's arithmetic, in float32 like cnnmath) and onnxruntime's, which fuses
    the pairs into int8 kernels. Tolerance: one quantization step of the output, at no more
    than 1% of the values — two correct float32 computations summing in different orders
    can fall on either side of a rounding boundary, and onnxruntime's fused kernels requantize
    with fixed-point multipliers; anything else (a wrong zero point, axis or rounding rule)
    moves many values by a step or more. Today the three agree exactly. The weights are
    folded at load time; backward refuses to pass QuantizeLinear, naming it."""
    torch = pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    from helpers import torch_onnx_export

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(4, 8, 3),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 10),
    ).eval()
    float_path, qdq_path = tmp_path / "float.onnx", tmp_path / "qdq.onnx"
    x = torch.randn(2, 1, 12, 12)
    float_path.write_bytes(torch_onnx_export(net, x, opset_version=19,
                                             dynamic_axes={"x": {0: "batch"}}))  # fmt: skip
    quantize_static(
        str(float_path),
        str(qdq_path),
        _calibration_reader((1, 12, 12), 16, seed=1),
        quant_format=QuantFormat.QDQ,
        per_channel=per_channel,
        activation_type=getattr(QuantType, activations),
        weight_type=QuantType.QInt8,
    )
    model = onnx.load(str(qdq_path))
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in model.graph.node}
    graph = load(qdq_path)
    kinds = _kinds(graph)
    assert {"Conv2d", "Linear"} <= set(kinds)  # the int8 weights folded to float layers
    assert kinds.count("_Dequantize") == kinds.count("_Quantize")  # activations only

    xs = np.random.default_rng(2).standard_normal((32, 1, 12, 12)).astype(np.float32)
    got = graph(xs)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    last_q = [n for n in model.graph.node if n.op_type == "QuantizeLinear"][-1]
    step = float(inits[last_q.input[1]])  # the output's quantization step
    session = ort.InferenceSession(str(qdq_path), providers=["CPUExecutionProvider"])
    for witness in (_reference(model, [("x", xs)])[0], session.run(None, {"x": xs})[0]):
        diff = np.abs(got - witness)
        assert diff.max() <= step * (1 + 1e-5)
        assert np.mean(diff > step * 1e-3) <= 0.01

    graph.train()
    graph(xs[:2])
    with pytest.raises(RuntimeError, match=r"\(QuantizeLinear\): backward: .* zero almost"):
        graph.backward(np.ones_like(got[:2]))


def test_backward_through_quantize_is_refused_but_a_leading_one_is_passed():
    """y = DQ(Q(x))·w: the graph's input gradient would cross QuantizeLinear, so backward
    refuses, naming the node; a training step (input_grad=False) needs only w's gradient,
    which lies after it, and gets it."""
    nodes, inits = _qdq(np.int8)
    nodes.append(helper.make_node("Mul", ["y", "w"], ["out"], name="scale"))
    x = rng.standard_normal((2, 3)).astype(np.float32)
    w = rng.standard_normal(3).astype(np.float32)
    model = _graph(nodes, [("x", x)], [*inits, ("w", w)], outputs=("out",))
    graph = load(model.SerializeToString())
    graph.train()
    y = graph(x)
    with pytest.raises(RuntimeError, match=r"node 'quantize' \(QuantizeLinear\): backward"):
        graph.backward(np.ones_like(y))
    graph.zero_grad()
    graph(x)
    graph.backward(np.ones_like(y), input_grad=False)
    (param,) = [p for _, p in graph.named_parameters()]
    fake = _reference(_graph(nodes[:2], [("x", x)], inits), [("x", x)])[0]
    np.testing.assert_allclose(param.grad, fake.sum(axis=0), rtol=1e-6)


def test_int8_graph_inputs_are_read_by_dequantize_only():
    """A quantized input (int8) loads when DequantizeLinear reads it; read by another op it is
    refused at load time, naming the input and its element type."""
    q = rng.integers(-128, 127, (2, 3), endpoint=True).astype(np.int8)
    node = helper.make_node("DequantizeLinear", ["q", "s"], ["y"], name="dq")
    model = _graph([node], [("q", q)], [("s", np.float32(0.5))], output_dtypes=[np.float32])
    np.testing.assert_array_equal(load(model.SerializeToString())(q), q * np.float32(0.5))
    neg = helper.make_node("Neg", ["q"], ["y"], name="neg")
    with pytest.raises(ValueError, match=r"graph input 'q': element type INT8 is not supported"):
        load(_graph([neg], [("q", q)]).SerializeToString())


# ---------------------------------------------------------------------------------------------
# TopK


@pytest.mark.parametrize("largest", [1, 0])
@pytest.mark.parametrize("axis", [1, -1])
def test_top_k_values_and_indices_against_onnxruntime_and_finite_differences(largest, axis):
    """Both outputs against onnxruntime (float32, ties broken to the lower index, K an
    initializer and a run-time input); the values' gradient, scattered back to the indices,
    against finite differences (float64)."""
    x = rng.standard_normal((3, 5, 6)).astype(np.float32)
    x[0, 1, 1] = x[0, 2, 1] = x[0, 1, 2] = x[0, 1, 4] = 3.0  # ties along both axes
    k = np.array([3], np.int64)
    node = helper.make_node("TopK", ["x", "k"], ["v", "i"], name="top", axis=axis,
                            largest=largest)  # fmt: skip
    for inputs, inits in (([("x", x)], [("k", k)]), ([("x", x), ("k", k)], [])):
        model = _graph([node], inputs, inits, outputs=("v", "i"),
                       output_dtypes=(np.float32, np.int64))  # fmt: skip
        graph = load(model.SerializeToString())
        values, indices = graph(*(a for _, a in inputs))
        want_v, want_i = _ort(model, inputs)
        np.testing.assert_array_equal(values, want_v)
        np.testing.assert_array_equal(indices, want_i)
        assert indices.dtype == np.int64
    x64 = x.astype(np.float64) + rng.uniform(0, 1e-3, x.shape)  # no ties: differentiable
    model = _graph([node], [("x", x64)], [("k", k)], outputs=("v",))
    graph = load(model.SerializeToString())
    check_input_gradients(graph, [x64])


def test_top_k_matches_torch_topk_with_its_gradient():
    torch = pytest.importorskip("torch")
    x = torch.randn(4, 7, dtype=torch.float64, requires_grad=True)
    node = helper.make_node("TopK", ["x", "k"], ["v", "i"], name="top")
    model = _graph([node], [("x", x.detach().numpy())], [("k", np.array([4]))], outputs=("v",))
    graph = load(model.SerializeToString())
    values, _ = x.topk(4)
    G = torch.randn_like(values)
    (values * G).sum().backward()
    graph.train()
    np.testing.assert_array_equal(graph(x.detach().numpy()), values.detach().numpy())
    np.testing.assert_array_equal(graph.backward(G.numpy()), x.grad.numpy())


# ---------------------------------------------------------------------------------------------
# Tan, Asin, Acos, Atan, Sinh, Cosh, Asinh, Acosh, Atanh

_TRIG = {
    # op: (NumPy's function, a sampler inside the domain, away from the poles)
    "Tan": (np.tan, lambda n: rng.uniform(-1.2, 1.2, n)),
    "Asin": (np.arcsin, lambda n: rng.uniform(-0.9, 0.9, n)),
    "Acos": (np.arccos, lambda n: rng.uniform(-0.9, 0.9, n)),
    "Atan": (np.arctan, lambda n: rng.uniform(-3, 3, n)),
    "Sinh": (np.sinh, lambda n: rng.uniform(-3, 3, n)),
    "Cosh": (np.cosh, lambda n: rng.uniform(-3, 3, n)),
    "Asinh": (np.arcsinh, lambda n: rng.uniform(-3, 3, n)),
    "Acosh": (np.arccosh, lambda n: rng.uniform(1.1, 4, n)),
    "Atanh": (np.arctanh, lambda n: rng.uniform(-0.9, 0.9, n)),
}


@pytest.mark.parametrize("op", sorted(_TRIG))
def test_trigonometric_and_hyperbolic_functions_and_their_derivatives(op):
    """Values against NumPy (float64, exact) and onnxruntime (float32); the derivative
    (1 + tan², ±1/√(1 − x²), 1/(1 + x²), cosh, sinh, 1/√(x² + 1), 1/√(x² − 1), 1/(1 − x²))
    against finite differences and PyTorch's autograd; outside the domain, NaN as ONNX."""
    f, sample = _TRIG[op]
    x = sample((3, 4))
    node = helper.make_node(op, ["x"], ["y"], name="f")
    graph = load(_graph([node], [("x", x)]).SerializeToString())
    np.testing.assert_array_equal(graph(x), f(x))
    x32 = x.astype(np.float32)
    model32 = _graph([node], [("x", x32)])
    got32 = load(model32.SerializeToString())(x32)
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, _ort(model32, [("x", x32)])[0], rtol=1e-6, atol=1e-7)
    check_input_gradients(graph, [x])
    torch = pytest.importorskip("torch")
    xt = torch.tensor(x, requires_grad=True)
    getattr(torch, op.lower())(xt).sum().backward()
    graph(x)
    assert rel_error(graph.backward(np.ones_like(x)), xt.grad.numpy()) <= 1e-14
    if op in ("Asin", "Acos", "Acosh", "Atanh"):
        outside = np.array([[-2.0, 0.5 if op == "Acosh" else 2.0]])
        assert np.isnan(load(_graph([node], [("x", outside)]).SerializeToString())(outside)).all()


# ---------------------------------------------------------------------------------------------
# Mod, CumSum, GatherElements, Range


@pytest.mark.parametrize("fmod", [0, 1])
def test_mod_values_against_the_reference_and_gradients_against_torch(fmod):
    """Mod of floats with mixed signs: fmod = 0 has the divisor's sign (Python's %),
    fmod = 1 the dividend's (C's fmod), as ONNX's reference and onnxruntime (fmod = 1; its
    opset-13 kernel refuses fmod = 0 on floats); integers too. The gradient to both inputs,
    broadcasting, is torch.remainder's / torch.fmod's."""
    torch = pytest.importorskip("torch")
    a = rng.uniform(-5, 5, (3, 4))
    b = rng.choice([-1, 1], 4) * rng.uniform(0.5, 2, 4)
    node = helper.make_node("Mod", ["a", "b"], ["y"], name="mod", fmod=fmod)
    inputs = [("a", a), ("b", b)]
    model = _graph([node], inputs, opset=13)
    graph = load(model.SerializeToString())
    got = graph(a, b)
    np.testing.assert_array_equal(got, (np.fmod if fmod else np.mod)(a, b))
    reference = _graph([node], inputs, opset=28)
    np.testing.assert_array_equal(got, _reference(reference, inputs)[0])
    if fmod:
        f32 = [(n, v.astype(np.float32)) for n, v in inputs]
        np.testing.assert_array_equal(
            load(_graph([node], f32, opset=13).SerializeToString())(*(v for _, v in f32)),
            _ort(_graph([node], f32, opset=13), f32)[0],
        )
    ints = [("a", np.array([-7, -3, 3, 7], np.int64)), ("b", np.array([3, -3, -2, 2], np.int64))]
    int_model = _graph([node], ints, opset=13)
    np.testing.assert_array_equal(load(int_model.SerializeToString())(*(v for _, v in ints)),
                                  _ort(int_model, ints)[0])  # fmt: skip
    at, bt = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    G = torch.randn(3, 4, dtype=torch.float64)
    ((torch.fmod if fmod else torch.remainder)(at, bt) * G).sum().backward()
    graph.train()
    graph(a, b)
    ga, gb = graph.backward(G.numpy())
    assert rel_error(ga, at.grad.numpy()) <= 1e-14
    assert rel_error(gb, bt.grad.numpy()) <= 1e-14
    check_input_gradients(graph, [a, b])


@pytest.mark.parametrize("exclusive", [0, 1])
@pytest.mark.parametrize("reverse", [0, 1])
def test_cumsum_against_onnxruntime_and_finite_differences(exclusive, reverse):
    """Every combination of exclusive and reverse, the axis an initializer (negative) or a
    run-time input; the gradient (the cumulative sum of G the other way) by differences."""
    x = rng.standard_normal((3, 4, 5))
    node = helper.make_node("CumSum", ["x", "axis"], ["y"], name="cs", exclusive=exclusive,
                            reverse=reverse)  # fmt: skip
    axis = np.array(-2, np.int64)
    x32 = x.astype(np.float32)
    for inputs, inits in (([("x", x32)], [("axis", axis)]), ([("x", x32), ("axis", axis)], [])):
        model = _graph([node], inputs, inits)
        got = load(model.SerializeToString())(*(a for _, a in inputs))
        np.testing.assert_allclose(got, _ort(model, inputs)[0], rtol=1e-6, atol=1e-6)
    graph = load(_graph([node], [("x", x)], [("axis", axis)]).SerializeToString())
    check_input_gradients(graph, [x])


def test_gather_elements_against_onnxruntime_and_its_scatter_add_gradient():
    """Negative indices, indices shorter than data along another axis, and an index read
    twice (its gradient collects both terms), against onnxruntime and finite differences."""
    data = rng.standard_normal((3, 4))
    indices = np.array([[0, -1, 1], [2, 2, 0]], np.int64)  # (2, 3): shorter along both axes
    node = helper.make_node("GatherElements", ["data", "i"], ["y"], name="ge", axis=1)
    d32 = data.astype(np.float32)
    model = _graph([node], [("data", d32)], [("i", indices)])
    np.testing.assert_array_equal(load(model.SerializeToString())(d32),
                                  _ort(model, [("data", d32)])[0])  # fmt: skip
    graph = load(_graph([node], [("data", data)], [("i", indices)]).SerializeToString())
    graph(data)
    g = graph.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(g, [[1, 1, 0, 1], [1, 0, 2, 0], [0, 0, 0, 0]])
    check_input_gradients(graph, [data])


def test_range_at_run_time_against_onnxruntime():
    """Range of run-time scalars (float and integer, negative delta, an empty result)."""
    node = helper.make_node("Range", ["a", "b", "d"], ["y"], name="r")
    for a, b, d in ((1.5, 4.0, 0.5), (10, 4, -2), (0, 5, 2), (3, 1, 1)):
        dtype = np.float32 if isinstance(a, float) else np.int64
        inputs = [(n, np.array(v, dtype)) for n, v in zip("abd", (a, b, d))]
        model = _graph([node], inputs, opset=11)
        got = load(model.SerializeToString())(*(v for _, v in inputs))
        want = _ort(model, inputs)[0]
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------------------------
# LpPool, GlobalLpPool


def _lp(kernel, **attrs):
    return helper.make_node("LpPool", ["x"], ["y"], name="lp", kernel_shape=kernel, **attrs)


LP_POOLS = [
    ("1d_p3", _lp([3], p=3, strides=[2]), (2, 3, 9)),
    ("2d_p2", _lp([2, 2], p=2), (2, 3, 5, 6)),
    ("2d_p1_pads", _lp([3, 3], p=1, pads=[1, 0, 2, 1]), (1, 2, 5, 5)),
    ("2d_p4_dilated", _lp([2, 3], p=4, dilations=[2, 1], strides=[1, 2]), (1, 2, 6, 7)),
    ("2d_same_lower", _lp([2, 2], auto_pad="SAME_LOWER", strides=[2, 2]), (1, 2, 5, 5)),
    ("2d_ceil", _lp([2, 2], p=3, strides=[2, 2], ceil_mode=1), (1, 2, 5, 7)),
    ("3d_p2", _lp([2, 2, 2], strides=[1, 2, 1]), (1, 2, 3, 4, 3)),
]


@pytest.mark.parametrize("node, shape", [c[1:] for c in LP_POOLS], ids=[c[0] for c in LP_POOLS])
def test_lp_pool_against_onnxruntime_and_finite_differences(node, shape):
    x = rng.standard_normal(shape)
    x32 = x.astype(np.float32)
    model = _graph([node], [("x", x32)], opset=18)
    got = load(model.SerializeToString())(x32)
    assert got.dtype == np.float32
    assert rel_error(got, _ort(model, [("x", x32)])[0]) <= 1e-6
    graph = load(_graph([node], [("x", x)], opset=18).SerializeToString())
    check_input_gradients(graph, [x])


@pytest.mark.parametrize("p", [1, 2, 3])
def test_lp_pool_is_torchs_lp_pool2d_of_the_absolute_value(p):
    """ONNX's LpPool sums |x|^p, PyTorch's LPPool2d x^p: on |x| they agree, in value and in
    autograd's gradient through the absolute value (sign(x)·…, 0 at 0)."""
    torch = pytest.importorskip("torch")
    x = torch.randn(2, 3, 7, 8, dtype=torch.float64, requires_grad=True)
    y = torch.nn.functional.lp_pool2d(x.abs(), p, (3, 2), stride=(2, 2))
    G = torch.randn_like(y)
    (y * G).sum().backward()
    node = _lp([3, 2], p=p, strides=[2, 2])
    graph = load(_graph([node], [("x", x.detach().numpy())], opset=18).SerializeToString())
    graph.train()
    assert rel_error(graph(x.detach().numpy()), y.detach().numpy()) <= 1e-12
    assert rel_error(graph.backward(G.numpy()), x.grad.numpy()) <= 1e-12


@pytest.mark.parametrize("p", [1, 2, 3])
def test_global_lp_pool_against_onnxruntime_and_finite_differences(p):
    x = rng.standard_normal((2, 3, 4, 5))
    node = helper.make_node("GlobalLpPool", ["x"], ["y"], name="glp", p=p)
    x32 = x.astype(np.float32)
    model = _graph([node], [("x", x32)], opset=18)
    got = load(model.SerializeToString())(x32)
    assert got.shape == (2, 3, 1, 1)
    assert rel_error(got, _ort(model, [("x", x32)])[0]) <= 1e-6
    graph = load(_graph([node], [("x", x)], opset=18).SerializeToString())
    check_input_gradients(graph, [x])


def test_lp_pool_of_a_window_of_zeros_has_gradient_zero():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, :2, :2] = [[1.0, -2.0], [0.5, 0.0]]
    graph = load(_graph([_lp([2, 2], strides=[2, 2])], [("x", x)], opset=18).SerializeToString())
    y = graph(x)
    np.testing.assert_allclose(y[0, 0], [[np.sqrt(5.25), 0], [0, 0]])
    g = graph.backward(np.ones_like(y))
    np.testing.assert_allclose(g[0, 0, :2, :2], x[0, 0, :2, :2] / np.sqrt(5.25))
    assert not np.any(g[0, 0, 2:]) and not np.any(g[0, 0, :, 2:])


# ---------------------------------------------------------------------------------------------
# Refusals: at load time, naming node, op type and what was expected

_X = np.zeros((2, 4, 3, 3), np.float32)

REFUSALS = [
    (_gn(2, ("x", "s", "b")), 21, [("s", np.ones(2, np.float32)), ("b", np.zeros(2, np.float32))],
     r"input 'scale': expected shape \(C,\) \(one per channel, C = 4; opset 21\), got \(2,\)"),
    (_gn(3), 21, [("s", np.ones(4, np.float32)), ("b", np.zeros(4, np.float32))],
     r"attribute 'num_groups': expected a divisor of the 4 channels of X, got 3"),
    (helper.make_node("GroupNormalization", ["x", "s", "b"], ["y"], name="gn"), 21,
     [("s", np.ones(4, np.float32)), ("b", np.zeros(4, np.float32))],
     r"attribute 'num_groups' is required"),
    (helper.make_node("QuantizeLinear", ["x", "s"], ["y"], name="q",
                      output_dtype=TensorProto.INT4), 21, [("s", np.float32(0.1))],
     r"quantized type INT4 is not supported \(int8, uint8, int16 or uint16\)"),
    (helper.make_node("QuantizeLinear", ["x", "s"], ["y"], name="q",
                      output_dtype=TensorProto.FLOAT8E4M3FN), 21, [("s", np.float32(0.1))],
     r"quantized type FLOAT8E4M3FN is not supported"),
    (helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], name="q", axis=1), 21,
     [("s", np.full(3, 0.1, np.float32)), ("z", np.zeros(3, np.int8))],
     r"input 'y_scale': expected a scalar \(per tensor\) or shape \(4,\) \(per axis 1"),
    (helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], name="q", axis=4), 21,
     [("s", np.full(3, 0.1, np.float32)), ("z", np.zeros(3, np.int8))],
     r"attribute 'axis': expected an axis in \[-4, 3\], got 4"),
    (helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], name="q",
                      output_dtype=TensorProto.UINT8), 21,
     [("s", np.float32(0.1)), ("z", np.int8(0))],
     r"attribute 'output_dtype': expected the zero point's type INT8, got UINT8"),
    (helper.make_node("TopK", ["x", "k"], ["v"], name="t", axis=1), 11,
     [("k", np.array([5]))], r"input 'K': expected 0 ≤ K ≤ 4 \(X's length along axis 1\)"),
    (helper.make_node("TopK", ["x", "k"], ["v"], name="t", largest=2), 11,
     [("k", np.array([1]))], r"attribute 'largest': expected values in \[0, 1\], got 2"),
    (helper.make_node("CumSum", ["x", "a"], ["y"], name="c"), 14,
     [("a", np.array(4))], r"input 'axis': expected an axis in \[-4, 3\], got 4"),
    (helper.make_node("CumSum", ["x", "a"], ["y"], name="c"), 14,
     [("a", np.array([1, 2]))], r"input 'axis': expected one integer"),
    (helper.make_node("GatherElements", ["x", "i"], ["y"], name="g", axis=1), 13,
     [("i", np.full((2, 4, 3, 3), 4))], r"input 'indices': expected values in \[-4, 3\]"),
    (helper.make_node("Mod", ["x", "m"], ["y"], name="m"), 13,
     [("m", np.array(2.0))], r"inputs: expected A and B of one type, got float32 and float64"),
    (_lp([2, 2], p=0), 18, [], r"attribute 'p': expected an integer >= 1, got 0"),
    (_lp([2, 2, 2]), 18, [], r"attribute 'kernel_shape': expected 2 sizes \(X has rank 4\)"),
    (helper.make_node("LpPool", ["x"], ["y"], name="lp"), 18, [],
     r"attribute 'kernel_shape' is required"),
]  # fmt: skip


@pytest.mark.parametrize(
    "node, opset, inits, message", REFUSALS, ids=lambda v: getattr(v, "op_type", "")
)
def test_refusals_name_the_node_and_what_was_expected(node, opset, inits, message):
    model = _graph([node], [("x", _X)], inits, opset=opset, outputs=(node.output[0],))
    with pytest.raises(
        ValueError, match=rf"^cnnmath.onnx.load: node '{node.name}' \({node.op_type}\): {message}"
    ):
        graph = load(model.SerializeToString())
        graph(_X)  # refused when run, for what only the run-time shapes tell


def test_a_float8_initializer_is_refused_naming_its_type():
    """A float8 weight and its DequantizeLinear: refused while reading the tensor, by name."""
    node = helper.make_node("DequantizeLinear", ["w", "s"], ["y"], name="dq")
    w = helper.make_tensor("w", TensorProto.FLOAT8E4M3FN, [2], [1.0, 2.0])
    graph = helper.make_graph(
        [node, helper.make_node("Add", ["x", "y"], ["z"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])],
        [w, numpy_helper.from_array(np.float32(0.5), "s")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    with pytest.raises(ValueError, match=r"tensor 'w': data type FLOAT8E4M3FN \(17\) is not"):
        load(model.SerializeToString())
