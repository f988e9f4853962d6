"""cnnmath.onnx.load on MeanVarianceNormalization and RMSNormalization: outputs against
onnxruntime's, gradients against PyTorch (``rms_norm``; MVN's formula under autograd) and
central finite differences (float64), a scale initializer trained, and refusals; and every op
this change brought written back by cnnmath.onnx.save and run by onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath.onnx import load
from helpers import check_input_gradients
from onnx_node_case import both, node_model

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("axes", [None, [0, 2, 3], [1], [-1, -2], [0, 1, 2, 3]])
def test_mean_variance_normalization_matches_onnxruntime(axes):
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32) * 3 + 1
    attrs = {} if axes is None else {"axes": axes}
    got, want, _ = both("MeanVarianceNormalization", {"x": x}, attrs, opset=13)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("axes", [[0, 2, 3], [1], [-1]])
def test_mean_variance_normalization_gradient_is_torch_autograd_of_its_formula(axes):
    rng = np.random.default_rng(1)
    x, G = rng.standard_normal((2, 3, 4, 3)), rng.standard_normal((2, 3, 4, 3))
    graph = load(node_model("MeanVarianceNormalization", {"x": x}, {"axes": axes}, opset=13))
    y = graph(x)
    gx = graph.backward(G)
    t = torch.tensor(x, requires_grad=True)
    mean = t.mean(dim=axes, keepdim=True)
    sigma = ((t - mean) ** 2).mean(dim=axes, keepdim=True).sqrt()
    want = (t - mean) / (sigma + 1e-9)
    (want * torch.from_numpy(G)).sum().backward()
    np.testing.assert_allclose(y, want.detach().numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(gx, t.grad.numpy(), rtol=1e-10, atol=1e-12)
    check_input_gradients(graph, [x])


def test_mean_variance_normalization_of_a_constant_slice_is_zero_with_a_finite_gradient():
    x = np.ones((1, 2, 3, 3))
    graph = load(node_model("MeanVarianceNormalization", {"x": x}, opset=13))
    np.testing.assert_array_equal(graph(x), np.zeros_like(x))
    for value in (0.1, 1.7, 123.456):  # float32 slices whose float32 mean is not the value
        x32 = np.full((1, 2, 3, 7), value, np.float32)
        g32 = load(node_model("MeanVarianceNormalization", {"x": x32}, {"axes": [2, 3]}, 13))
        np.testing.assert_array_equal(g32(x32), np.zeros_like(x32))
    G = np.random.default_rng(2).standard_normal(x.shape)
    gx = graph.backward(G)
    np.testing.assert_allclose(gx, (G - G.mean(axis=(0, 2, 3), keepdims=True)) / 1e-9)


@pytest.mark.parametrize("axis", [-1, -2, 1, 0])
@pytest.mark.parametrize("epsilon", [1e-5, 0.3])
def test_rms_normalization_matches_onnxruntime_and_torch(axis, epsilon):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    a = axis % 3
    scale = rng.standard_normal(x.shape[a:]).astype(np.float32)
    got, want, _ = both(
        "RMSNormalization",
        {"x": x},
        {"axis": axis, "epsilon": epsilon},
        opset=23,
        inits={"scale": scale},
    )
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    t = torch.nn.functional.rms_norm(
        torch.from_numpy(x), x.shape[a:], torch.from_numpy(scale), epsilon
    )
    np.testing.assert_allclose(got, t.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("axis", [-1, 1])
def test_rms_normalization_gradients_are_torchs_scale_trained(axis):
    """∂ℓ/∂X and ∂ℓ/∂scale (an initializer: a trained Parameter) as torch's rms_norm's."""
    rng = np.random.default_rng(4)
    x, G = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    scale = rng.standard_normal((2, 3, 4)[axis % 3 :])
    graph = load(
        node_model(
            "RMSNormalization",
            {"x": x},
            {"axis": axis, "epsilon": 1e-3},
            opset=23,
            inits={"scale": scale},
        )
    )
    graph.train()
    graph.zero_grad()
    graph(x)
    gx = graph.backward(G)
    (p,) = graph.parameters()
    t, s = torch.tensor(x, requires_grad=True), torch.tensor(scale, requires_grad=True)
    eps = float(np.float32(1e-3))  # the attribute is a FLOAT
    y = torch.nn.functional.rms_norm(t, scale.shape, s, eps)
    (y * torch.from_numpy(G)).sum().backward()
    np.testing.assert_allclose(gx, t.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(p.grad, s.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_rms_normalization_gradients_match_finite_differences_with_a_broadcast_scale():
    rng = np.random.default_rng(5)
    x, scale = rng.standard_normal((2, 3, 4)), rng.standard_normal((1, 4))
    graph = load(node_model("RMSNormalization", {"x": x, "scale": scale}, {"axis": 1}, opset=23))
    check_input_gradients(graph, [x, scale])


@pytest.mark.parametrize(
    ("op", "feeds", "attrs", "message"),
    [
        ("RMSNormalization", {"x": np.ones((2, 3)), "s": np.ones(4)}, {}, "input 'scale': expected X's dtype float64 and a shape that broadcasts"),
        ("RMSNormalization", {"x": np.ones((2, 3)), "s": np.ones(3)}, {"stash_type": 10}, "attribute 'stash_type': expected 1"),
        ("RMSNormalization", {"x": np.ones((2, 3)), "s": np.ones(3)}, {"epsilon": 0.0}, "attribute 'epsilon': expected a finite value > 0"),
        ("RMSNormalization", {"x": np.ones((2, 3), np.int64), "s": np.ones(3, np.int64)}, {}, "input 'X': expected float32 or float64, got int64"),
        ("MeanVarianceNormalization", {"x": np.ones((2, 3))}, {"axes": [0, 2]}, r"attribute 'axes': expected an axis in \[-2, 1\], got 2"),
        ("MeanVarianceNormalization", {"x": np.ones((2, 3))}, {"axes": [1, -1]}, "attribute 'axes': expected distinct axes"),
    ],
)  # fmt: skip
def test_norms_refuse_bad_input_naming_it(op, feeds, attrs, message):
    with pytest.raises(ValueError, match=rf"\({op}\): .*" + message):
        load(node_model(op, feeds, attrs, opset=23))(*feeds.values())


def test_mean_variance_normalization_repeated_axes_on_an_input_of_unknown_rank():
    """Axes checked when the input's rank is known only at run time: refused by name, as at
    load time."""
    from onnx import TensorProto, helper

    node = helper.make_node("MeanVarianceNormalization", ["x"], ["y"], name="n", axes=[1, -3])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, None)],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    loaded = load(model.SerializeToString())
    with pytest.raises(ValueError, match=r"node 'n' .*attribute 'axes': expected distinct axes"):
        loaded(np.ones((2, 3, 4, 5)))


_RNG = np.random.default_rng(9)
_X = _RNG.standard_normal((2, 3, 4, 4)).astype(np.float32)
_SAVE_CASES = {
    "ScatterElements": (
        {"axis": 2, "reduction": "max"},
        18,
        {"i": _RNG.integers(-4, 4, (2, 3, 2, 4)), "u": _RNG.standard_normal((2, 3, 2, 4)).astype(np.float32)},
    ),
    "GatherND": ({"batch_dims": 1}, 18, {"i": np.array([[[1, 2]], [[0, -1]]])}),
    "Compress": ({"axis": 3}, 18, {"c": np.array([1, 0, 1, 1], bool)}),
    "NonZero": ({}, 18, {}),
    "Trilu": ({"upper": 0}, 18, {"k": np.array(1)}),
    "CumProd": ({"reverse": 1, "exclusive": 1}, 26, {"a": np.array(2)}),
    "ReverseSequence": ({"time_axis": 1, "batch_axis": 0}, 18, {"l": np.array([1, 3])}),
    "CenterCropPad": ({"axes": [2, 3]}, 18, {"s": np.array([3, 6])}),
    "MeanVarianceNormalization": ({}, 18, {}),  # axes left to their default
    "RMSNormalization": ({"axis": 2}, 23, {"s": _RNG.standard_normal((4, 4)).astype(np.float32)}),
}  # fmt: skip


@pytest.mark.parametrize("op", sorted(_SAVE_CASES))
def test_the_new_ops_save_back_as_read(op, tmp_path):
    """cnnmath.onnx.save writes each op back as the node it was read as (MVN with its default
    axes made explicit, which ONNX's shape inference of its function needs); the file, loaded
    again and run by onnxruntime, gives the loaded graph's output."""
    from cnnmath.onnx import save
    from onnx_node_case import ort_run

    attrs, opset, inits = _SAVE_CASES[op]
    out_type = np.int64 if op == "NonZero" else None
    graph = load(node_model(op, {"x": _X}, attrs, opset, inits, out_type))
    path = tmp_path / "m.onnx"
    save(graph, path, (_X,))
    want = graph(_X)
    np.testing.assert_array_equal(load(path)(_X), want)
    np.testing.assert_allclose(ort_run(path.read_bytes(), {"x": _X}), want, rtol=1e-6, atol=1e-6)
