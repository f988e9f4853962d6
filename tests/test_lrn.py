"""Local response normalisation: the layer against ``torch.nn.LocalResponseNorm`` (forward
and autograd), ONNX's LRN loaded (odd sizes as the layer, even ones with ONNX's own window)
against onnxruntime and PyTorch, and the layer saved as LRN. The op itself is in the op
records (tests/records/lrn.py: oracle loops, PyTorch, finite differences)."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath import nn
from cnnmath.receptive import receptive_field
from helpers import rel_error

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-6), (np.float64, 1e-14)])
@pytest.mark.parametrize("shape", [(2, 7, 4, 5), (3, 4, 6), (1, 5, 2, 3, 2)], ids=str)
@pytest.mark.parametrize("size", [1, 2, 3, 5, 8])
def test_layer_is_torchs(dtype, tol, shape, size):
    rng = np.random.default_rng(size)
    layer = nn.LocalResponseNorm(size, alpha=0.3, beta=0.75, k=1.5)
    theirs = torch.nn.LocalResponseNorm(size, alpha=0.3, beta=0.75, k=1.5)
    x = rng.standard_normal(shape).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    want = theirs(xt)
    y, ctx = layer.forward_ctx(x)
    assert y.dtype == dtype and rel_error(y, want.detach().numpy()) <= tol
    G = rng.standard_normal(y.shape).astype(dtype)
    want.backward(torch.tensor(G))
    assert rel_error(layer.backward_ctx(ctx, G), xt.grad.numpy()) <= tol
    with pytest.raises(ValueError, match=r"LocalResponseNorm.backward: grad_output"):
        layer.backward_ctx(ctx, G[..., :-1])


def test_layer_repr_arguments_and_field():
    assert repr(nn.LocalResponseNorm(5)) == repr(torch.nn.LocalResponseNorm(5))
    assert repr(nn.LocalResponseNorm(3, 0.5, 0.25, 2.5)) == repr(
        torch.nn.LocalResponseNorm(3, 0.5, 0.25, 2.5)
    )
    with pytest.raises(ValueError, match=r"LocalResponseNorm: size: expected an int >= 1, got 0"):
        nn.LocalResponseNorm(0)
    with pytest.raises(ValueError, match=r"LocalResponseNorm: beta: expected a finite number"):
        nn.LocalResponseNorm(3, beta=float("inf"))
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.LocalResponseNorm(3), nn.MaxPool2d(2))
    fields = receptive_field(model, (1, 10, 10))
    assert [f.size for f in fields[1:]] == [(3, 3), (3, 3), (4, 4)]  # pointwise in space


def _lrn_model(size, shape, dtype):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    elem = TensorProto.DOUBLE if dtype == np.float64 else TensorProto.FLOAT
    node = helper.make_node(
        "LRN", ["x"], ["y"], name="lrn", size=size, alpha=0.4, beta=0.6, bias=1.5
    )
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", elem, list(shape))],
        [helper.make_tensor_value_info("y", elem, list(shape))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6])
def test_onnx_lrn_loads_with_onnxs_window(size):
    """ONNX's window is ⌊(n−1)/2⌋ channels before c and ⌈(n−1)/2⌉ after: PyTorch's for an
    odd n, mirrored for an even n — so PyTorch on the channels reversed is the witness
    (float64, forward and backward); onnxruntime is the float32 one for odd sizes. It
    refuses even ones, and ONNX's ReferenceEvaluator (onnx 1.x) is no witness for them: its
    LRN loops over the batch axis where it means the channels, so channels from N on get
    no energy at all."""
    ort = pytest.importorskip("onnxruntime")
    from cnnmath.onnx import load

    shape = (2, 7, 3, 4)
    rng = np.random.default_rng(size)
    x = rng.standard_normal(shape)
    graph = load(_lrn_model(size, shape, np.float64))
    layers = [m for m in graph.modules() if m is not graph]
    assert len(layers) == 1 and isinstance(layers[0], nn.LocalResponseNorm) == (size % 2 == 1)
    alpha = float(np.float32(0.4))  # ONNX stores float attributes as float32
    theirs = torch.nn.LocalResponseNorm(size, alpha, float(np.float32(0.6)), 1.5)
    xt = torch.tensor(x[:, ::-1].copy(), requires_grad=True)
    want = theirs(xt)
    assert rel_error(graph(x), want.detach().numpy()[:, ::-1]) <= 1e-14
    G = rng.standard_normal(shape)
    want.backward(torch.tensor(G[:, ::-1].copy()))
    graph.train()
    graph(x)
    assert rel_error(graph.backward(G), xt.grad.numpy()[:, ::-1]) <= 1e-14
    data32 = _lrn_model(size, shape, np.float32)
    x32 = x.astype(np.float32)
    if size % 2:
        session = ort.InferenceSession(data32, providers=["CPUExecutionProvider"])
        witness = session.run(None, {"x": x32})[0]
    else:  # onnxruntime refuses even sizes: PyTorch mirrored again, in float32
        with torch.no_grad():
            witness = theirs(torch.tensor(x32[:, ::-1].copy())).numpy()[:, ::-1]
    assert rel_error(load(data32)(x32), witness) <= 2e-6


def test_onnx_lrn_refuses_bad_attributes_naming_them():
    from onnx import TensorProto, helper

    from cnnmath.onnx import load

    for attrs, message in (
        (
            dict(alpha=0.1),
            r"node 'lrn' \(LRN\): attribute 'size': expected a positive int, got None",
        ),
        (dict(size=3, beta=float("nan")), r"attribute 'beta': expected a finite float, got nan"),
    ):
        node = helper.make_node("LRN", ["x"], ["y"], name="lrn", **attrs)
        graph = helper.make_graph(
            [node],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 2, 2])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 2, 2])],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        with pytest.raises(ValueError, match=message):
            load(model.SerializeToString())


def test_saved_as_lrn_runs_in_onnxruntime_and_even_sizes_are_refused(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from cnnmath.onnx import load, save

    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, rng=0), nn.ReLU(), nn.LocalResponseNorm(5, 1e-2, 0.75, 2.0)
    ).eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 9)).astype(np.float32)
    save(model, tmp_path / "m.onnx", x)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert rel_error(got, model(x)) <= 2e-6
    assert rel_error(load(tmp_path / "m.onnx")(x), model(x)) <= 1e-6
    even = nn.Sequential(nn.LocalResponseNorm(4))
    with pytest.raises(
        ValueError, match=r"save: model: node '0' \(LocalResponseNorm\(4\)\): ONNX's LRN window"
    ):
        save(even, tmp_path / "even.onnx", x)
    assert not (tmp_path / "even.onnx").exists()
