"""cnnmath.onnx.load on the gaps closed after the loader's split: BatchNormalization in
training mode (Y by the batch's statistics, running_mean and running_var as outputs),
QuantizeLinear of NaN, MaxPool with auto_pad SAME and dilation. (Integer Einsum and ScatterND's
gradients under reduction mul / max / min are tested in test_onnx_einsum.py, a ceil-mode
pooling's declared shape in test_onnx_ceil_pool_shapes.py.) Witnesses: onnxruntime's CPU run,
ONNX's reference evaluator, PyTorch, and central finite differences (float64)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import check_input_gradients

onnx = pytest.importorskip("onnx")
from onnx import helper, numpy_helper  # noqa: E402

from cnnmath.onnx import load, save  # noqa: E402


def _model(nodes, inputs, outputs, inits=(), opset=17):
    """A model of ``nodes``: inputs [(name, element type, shape)], outputs [(name, element
    type)] of undeclared shape (or [(name, type, shape)]), initializers [(name, array)]."""
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [
            helper.make_tensor_value_info(*o)
            if len(o) == 3
            else helper.make_tensor_value_info(*o, None)
            for o in outputs
        ],  # fmt: skip
        initializer=[numpy_helper.from_array(a, n) for n, a in inits],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model.SerializeToString()


def _ort(data, feeds):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def _reference(data, feeds):
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(onnx.load_from_string(data)).run(None, feeds)


def _elem(dtype):
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def _tuple(y):
    return y if isinstance(y, tuple) else (y,)


# ---------------------------------------------------------------------------------------------
# BatchNormalization, training_mode = 1


def _bn_training(
    shape, dtype, outputs=("y", "rm", "rv"), momentum=0.9, opset=15, seed=0, only=None
):
    """BatchNormalization(x, scale, B, mean, var) in training mode with ``outputs`` written
    ("" for one not written); each is the graph's output (or ``only`` that one)."""
    rng = np.random.default_rng(seed)
    C = shape[1]
    inits = [
        ("s", (0.5 + rng.random(C)).astype(dtype)),
        ("b", rng.standard_normal(C).astype(dtype)),
        ("m", rng.standard_normal(C).astype(dtype)),
        ("v", (0.5 + rng.random(C)).astype(dtype)),
    ]
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], list(outputs),
                            name="bn", training_mode=1, momentum=momentum, epsilon=1e-3)  # fmt: skip
    declared = [(o, _elem(dtype)) for o in outputs if o and only in (None, o)]
    return _model([node], [("x", _elem(dtype), shape)], declared, inits, opset), inits


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5), (2, 3, 4, 5), (2, 2, 3, 2, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_training_mode_equals_onnxruntime(shape, dtype):
    """Y by the batch's statistics; running_mean and running_var by the spec's momentum
    average of the biased batch variance: all three as onnxruntime's CPU run."""
    data, _ = _bn_training(shape, dtype, momentum=0.7)
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    witness = _ort(data, {"x": x})
    got = _tuple(load(data)(x))
    assert len(got) == 3
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for mine, theirs in zip(got, witness, strict=True):
        assert mine.dtype == theirs.dtype and mine.shape == theirs.shape
        np.testing.assert_allclose(mine, theirs, rtol=tol, atol=tol)


def test_batch_norm_training_mode_agrees_with_the_reference_and_pytorch():
    """ONNX's reference evaluator for all three outputs; PyTorch's training-mode batch_norm
    for Y (its running_var takes the unbiased variance, which ONNX's does not)."""
    torch = pytest.importorskip("torch")
    data, inits = _bn_training((3, 4, 5, 2), np.float64)
    x = np.random.default_rng(2).standard_normal((3, 4, 5, 2))
    got = load(data)(x)
    ref = _reference(data, {"x": x})
    for mine, theirs in zip(got, ref, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-12)
    s, b = (torch.from_numpy(a) for _, a in inits[:2])
    y = torch.nn.functional.batch_norm(torch.from_numpy(x), None, None, s, b, True, eps=1e-3)
    np.testing.assert_allclose(got[0], y.numpy(), rtol=1e-9, atol=1e-9)  # torch: 1e-10 apart


@pytest.mark.parametrize(
    ("outputs", "only"),
    [(("y", "rm", "rv"), "y"), (("y", "rm", "rv"), "rm"), (("y", "", "rv"), "rv"), (("y",), "y")],
)
def test_batch_norm_training_mode_gradients_match_finite_differences(outputs, only):
    data, _ = _bn_training((3, 2, 4), np.float64, outputs, momentum=0.6, seed=3, only=only)
    x = np.random.default_rng(4).standard_normal((3, 2, 4))
    g = load(data)
    check_input_gradients(g, [x])
    # ONNX's reference: onnxruntime 1.32 crashes (SIGSEGV) on running_mean left unnamed
    witness = _reference(data, {"x": x})[0]
    np.testing.assert_allclose(g(x), witness, rtol=1e-12, atol=1e-12)


def test_batch_norm_training_mode_trains_scale_and_bias_as_pytorch():
    """scale and B load as parameters; their gradients through Y as PyTorch's autograd."""
    torch = pytest.importorskip("torch")
    data, inits = _bn_training((3, 2, 4), np.float64, momentum=0.6, seed=3, only="y")
    x = np.random.default_rng(4).standard_normal((3, 2, 4))
    G = np.random.default_rng(5).standard_normal((3, 2, 4))
    g = load(data)
    g(x)
    g.backward(G)
    s, b = (torch.tensor(a, requires_grad=True) for _, a in inits[:2])
    y = torch.nn.functional.batch_norm(torch.from_numpy(x), None, None, s, b, True, eps=1e-3)
    (y * torch.from_numpy(G)).sum().backward()
    for (_, value), theirs in zip(inits[:2], (s.grad, b.grad)):
        (p,) = [p for p in g.parameters() if np.array_equal(p.data, value)]
        np.testing.assert_allclose(p.grad, theirs.numpy(), rtol=1e-9, atol=1e-9)


def test_batch_norm_training_mode_is_kept_by_eval_and_survives_save(tmp_path):
    """The file says training: ``.eval()`` on the loaded graph leaves Y by the batch's
    statistics (onnxruntime's answer), and a save writes a graph that computes the same."""
    data, _ = _bn_training((4, 3, 2), np.float64, seed=5)
    x = np.random.default_rng(6).standard_normal((4, 3, 2))
    g = load(data)
    g.eval()
    witness = _ort(data, {"x": x})
    for mine, theirs in zip(g(x), witness, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-12)
    save(g, tmp_path / "bn.onnx", x)
    for back, theirs in zip(_ort((tmp_path / "bn.onnx").read_bytes(), {"x": x}), witness):
        np.testing.assert_allclose(back, theirs, rtol=1e-12, atol=1e-12)


def test_batch_norm_training_mode_refusals():
    data, _ = _bn_training((4, 3), np.float32, momentum=1.5)
    with pytest.raises(ValueError, match=r"'bn' \(BatchNormalization\): attribute 'momentum'"):
        load(data)
    g = load(_bn_training((1, 3), np.float64)[0])  # one value per channel: no batch variance
    with pytest.raises(ValueError, match="expected more than 1 value per channel"):
        g(np.ones((1, 3)))


# ---------------------------------------------------------------------------------------------
# QuantizeLinear of NaN


_QUANTIZED = [(np.uint8, 0), (np.uint8, 200), (np.int8, 0), (np.int8, -7), (np.int8, 100),
              (np.int16, 5), (np.uint16, 9), (np.uint8, None)]  # fmt: skip


@pytest.mark.parametrize(
    ("dtype", "zero", "opset"),
    [(d, z, opset) for opset in (13, 21) for d, z in _QUANTIZED
     if opset >= 21 or np.dtype(d).itemsize == 1],  # 16-bit types arrived at opset 21
)  # fmt: skip
@pytest.mark.parametrize("n", [3, 37, 1000])
def test_quantize_linear_of_nan_equals_onnxruntime(dtype, zero, opset, n):
    """NaN quantizes to the minimum of the integer type, whatever the zero point, as
    onnxruntime's CPU kernel (short arrays and its vectorised long ones alike); the other
    values, ±inf among them, as before."""
    x = np.linspace(-300, 300, n).astype(np.float32)
    x[1::7], x[2::11] = np.inf, -np.inf
    x[::5] = np.nan
    inits = [("s", np.array(0.5, np.float32))]
    ins = ["x", "s"]
    if zero is not None:
        inits.append(("z", np.array(zero, dtype)))
        ins.append("z")
    node = helper.make_node("QuantizeLinear", ins, ["y"], name="q")
    data = _model([node], [("x", _elem(np.float32), [n])], [("y", _elem(dtype))], inits, opset)
    witness = _ort(data, {"x": x})[0]
    got = load(data)(x)
    assert got.dtype == witness.dtype
    np.testing.assert_array_equal(got, witness)
    assert (got[::5] == np.iinfo(dtype).min).all()


def test_quantize_linear_of_zero_over_a_zero_scale_equals_onnxruntime():
    """0/0 is NaN too: a per-axis scale with a zero entry, as onnxruntime."""
    x = np.array([[0.0, 1.0, -1.0], [0.0, 2.0, 3.0]], np.float32)
    inits = [("s", np.array([0.0, 0.25], np.float32)), ("z", np.array([3, -4], np.int8))]
    node = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], axis=0)
    data = _model([node], [("x", _elem(np.float32), [2, 3])], [("y", _elem(np.int8))], inits, 21)
    np.testing.assert_array_equal(load(data)(x), _ort(data, {"x": x})[0])


# ---------------------------------------------------------------------------------------------
# MaxPool, auto_pad SAME_UPPER / SAME_LOWER with dilation > 1


def _same_pool_by_torch(x, k, s, d, lower):
    """max_pool2d of x padded (−inf) as ONNX's spec says for SAME: output ceil(in/s), total
    pad (out − 1)·s + d·(k − 1) + 1 − in, the odd one at the end (UPPER) or start (LOWER)."""
    torch = pytest.importorskip("torch")
    pads = []
    for n in reversed(x.shape[2:]):
        out = -(-n // s)
        total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
        small, big = total // 2, total - total // 2
        pads += [big, small] if lower else [small, big]
    t = torch.nn.functional.pad(torch.from_numpy(x), pads, value=-np.inf)
    return torch.nn.functional.max_pool2d(t, k, s, 0, d).numpy()


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER"])
@pytest.mark.parametrize(("size", "k", "s", "d"), [(7, 3, 2, 2), (8, 3, 3, 2), (9, 2, 1, 3),
                                                   (6, 3, 2, 3)])  # fmt: skip
def test_max_pool_same_with_dilation_follows_the_spec(auto_pad, size, k, s, d):
    """Output ceil(in/stride) with pads from the dilated kernel d·(k − 1) + 1: the spec, ONNX's
    shape inference, and PyTorch on the explicitly padded input. (onnxruntime 1.32 pads by the
    undilated kernel instead, which gives fewer outputs than its own shape inference declares
    and warns so; ONNX's reference evaluator agrees with the spec for SAME_UPPER only.)"""
    x = np.random.default_rng(size + k).standard_normal((2, 3, size, size + 1))
    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[k, k], strides=[s, s],
                            dilations=[d, d], auto_pad=auto_pad)  # fmt: skip
    data = _model([node], [("x", _elem(np.float64), x.shape)], [("y", _elem(np.float64))])
    inferred = onnx.shape_inference.infer_shapes(onnx.load_from_string(data))
    (y_info,) = inferred.graph.output
    declared = tuple(dim.dim_value for dim in y_info.type.tensor_type.shape.dim)
    want = _same_pool_by_torch(x, k, s, d, auto_pad == "SAME_LOWER")
    got = load(data)(x)
    assert got.shape == want.shape == declared == (2, 3, -(-size // s), -(-(size + 1) // s))
    np.testing.assert_array_equal(got, want)
