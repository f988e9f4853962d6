"""Graphs of several outputs (``Graph.set_output(a, b, …)``): forward returns a tuple, backward
takes one gradient per output (None for one the loss ignores) and agrees with PyTorch's
autograd of the same network and loss; nodes no output needs are not run; the refusals; ONNX
files of several outputs both ways against onnxruntime and PyTorch's exporter."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

from cnnmath import nn
from cnnmath.receptive import receptive_field
from helpers import rel_error

torch = pytest.importorskip("torch")


def _heads(seed: int = 0) -> nn.Graph:
    """x → conv → relu ("trunk"); out_a = conv_a(trunk); out_b = conv_b(trunk) + trunk, where
    trunk is itself an output too and out_a is read again by out_b's sum."""
    g = nn.Graph()
    g.conv = nn.Conv2d(2, 3, 3, padding=1, rng=seed, dtype=np.float64)
    g.conv_a = nn.Conv2d(3, 3, 1, rng=seed + 1, dtype=np.float64)
    g.conv_b = nn.Conv2d(3, 3, 3, padding=1, rng=seed + 2, dtype=np.float64)
    trunk = g.add(nn.ReLU(), g.add(g.conv, "x"), name="trunk")
    a = g.add(g.conv_a, trunk)
    b = g.add(nn.Add(), g.add(g.conv_b, trunk), trunk, a, name="b")
    g.set_output(a, b, trunk)
    return g


def _torch_heads(g: nn.Graph):
    tn = torch.nn

    class Heads(tn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = tn.Conv2d(2, 3, 3, padding=1).double()
            self.conv_a = tn.Conv2d(3, 3, 1).double()
            self.conv_b = tn.Conv2d(3, 3, 3, padding=1).double()

        def forward(self, x):
            trunk = torch.relu(self.conv(x))
            a = self.conv_a(trunk)
            return a, self.conv_b(trunk) + trunk + a, trunk

    model = Heads()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in g.state_dict().items()})
    return model


def test_forward_returns_each_output_as_pytorch_computes_it():
    g = _heads()
    x = np.random.default_rng(1).standard_normal((2, 2, 5, 6))
    got = g(x)
    assert isinstance(got, tuple) and len(got) == 3 and g.outputs == ("conv_a", "b", "trunk")
    want = _torch_heads(g)(torch.from_numpy(x))
    for mine, theirs in zip(got, want, strict=True):
        assert rel_error(mine, theirs.detach().numpy()) <= 1e-12


@pytest.mark.parametrize("ignored", [None, 0, 2])
def test_backward_of_a_loss_over_several_outputs_equals_autograd(ignored):
    """ℓ = Σ_k ⟨G_k, y_k⟩ over the outputs the loss reads (None for the ignored one): the
    input's and every parameter's gradient equal autograd's, the shared trunk collecting its
    terms through every path (read by both heads and returned itself)."""
    g = _heads(seed=3)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 2, 5, 6))
    ys = g(x)
    grads = [rng.standard_normal(y.shape) for y in ys]
    given = tuple(None if k == ignored else G for k, G in enumerate(grads))
    g.zero_grad()
    gx = g.backward(given)

    model = _torch_heads(g)
    xt = torch.from_numpy(x).requires_grad_()
    loss = sum(
        (y * torch.from_numpy(G)).sum()
        for k, (y, G) in enumerate(zip(model(xt), grads))
        if k != ignored
    )
    loss.backward()
    assert rel_error(gx, xt.grad.numpy()) <= 1e-12
    theirs = dict(model.named_parameters())
    for key, p in g.named_parameters():
        assert rel_error(p.grad, theirs[key].grad.numpy()) <= 1e-12, key


def test_an_input_returned_as_an_output_gets_its_gradient_plus_its_readers():
    g = nn.Graph()
    g.add(nn.Tanh(), "x", name="t")
    g.set_output("t", "x")
    x = np.linspace(-1, 1, 6).reshape(2, 3)
    t, same = g(x)
    assert same is x
    G1, G2 = np.full_like(x, 2.0), np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(g.backward((G1, G2)), G1 * (1 - np.tanh(x) ** 2) + G2, rtol=1e-14)
    np.testing.assert_array_equal(g.backward((None, G2)), G2)
    np.testing.assert_array_equal(g.backward((None, None)), np.zeros_like(x))


def test_the_outputs_gradients_are_checked():
    g = _heads()
    x = np.zeros((1, 2, 4, 4))
    ys = g(x)
    with pytest.raises(TypeError, match=r"grad_output: expected a tuple of 3 gradients.*got 2"):
        g.backward(ys[:2])
    with pytest.raises(TypeError, match=r"expected a tuple of 3 gradients.*got ndarray"):
        g.backward(ys[0])
    with pytest.raises(ValueError, match=r"grad_output\[1\]: expected output 'b'.s shape"):
        g.backward((None, np.zeros((1, 3, 4, 5)), None))
    with pytest.raises(ValueError, match=r"grad_output\[2\].*dtype float64, got .* float32"):
        g.backward((None, None, ys[2].astype(np.float32)))


def test_set_output_refuses_repeats_unknown_and_nothing():
    g = _heads()
    with pytest.raises(ValueError, match="expected distinct names"):
        g.set_output("b", "b")
    with pytest.raises(ValueError, match="expected names among .* got 'nope'"):
        g.set_output("b", "nope")
    with pytest.raises(ValueError, match="expected at least one value name"):
        g.set_output()
    with pytest.raises(ValueError, match=r"the graph has 3 outputs .*read graph.outputs"):
        _ = g.output
    g.set_output("b")
    assert g.output == "b" and g.outputs == ("b",)
    assert isinstance(g(np.zeros((1, 2, 4, 4))), np.ndarray)


def test_a_graph_of_several_outputs_is_not_a_node_of_another():
    outer = nn.Graph()
    outer.inner = _heads()
    outer.set_output(outer.add(outer.inner, "x"))
    with pytest.raises(TypeError, match=r"node 'inner': its graph returns 3 outputs"):
        outer(np.zeros((1, 2, 4, 4)))
    with pytest.raises(ValueError, match="a graph of several outputs is a model's top level"):
        list(outer.walk())


class _Counting(nn.Module):
    """y = 2x, counting its forward calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward_ctx(self, x):
        self.calls += 1
        return 2 * x, None

    def backward_ctx(self, ctx, grad_output):
        return 2 * grad_output


def test_nodes_no_output_needs_are_not_run_nor_walked():
    g = nn.Graph()
    g.add(nn.Tanh(), "x", name="kept")
    g.spy = _Counting()
    g.add(g.spy, "x", name="dead")
    g.add(nn.ReLU(), "dead", name="dead_too")
    g.set_output("kept")
    x = np.ones((2, 2))
    np.testing.assert_array_equal(g(x), np.tanh(x))
    assert g.spy.calls == 0
    assert [n.name for n in g.walk()] == ["kept"]
    np.testing.assert_allclose(g.backward(np.ones((2, 2))), 1 - np.tanh(x) ** 2)
    g.set_output("kept", "dead_too")
    g(x)
    assert g.spy.calls == 1 and [n.name for n in g.walk()] == ["kept", "dead", "dead_too"]


def test_receptive_field_refuses_several_outputs():
    with pytest.raises(ValueError, match=r"receptive_field: model: expected one output, got 3"):
        receptive_field(_heads(), (2, 8, 8))


def test_fold_batch_norm_keeps_a_convolution_whose_value_is_returned():
    """conv → bn is folded unless conv's own value is an output too (folding would change it)."""
    g = nn.Graph()
    g.c1 = nn.Conv2d(2, 3, 3, rng=0, dtype=np.float64)
    g.b1 = nn.BatchNorm2d(3, dtype=np.float64)
    g.c2 = nn.Conv2d(3, 3, 1, rng=1, dtype=np.float64)
    g.b2 = nn.BatchNorm2d(3, dtype=np.float64)
    rng = np.random.default_rng(0)
    for bn in (g.b1, g.b2):
        bn.running_mean[...] = rng.standard_normal(3)
        bn.running_var[...] = rng.uniform(0.5, 2, 3)
    y1 = g.add(g.b1, g.add(g.c1, "x"))
    c2 = g.add(g.c2, y1)
    g.set_output(g.add(g.b2, c2), c2)
    g.eval()
    folded = nn.fold_batch_norm(g)
    assert isinstance(folded.b1, nn.Identity) and isinstance(folded.b2, nn.BatchNorm2d)
    x = rng.standard_normal((2, 2, 6, 6))
    for mine, want in zip(folded(x), g(x), strict=True):
        assert rel_error(mine, want) <= 1e-12


def _export_two_outputs(x):
    """A torch network of two outputs (logits and features) exported to ONNX: its bytes and
    the torch model."""
    tn = torch.nn

    class Two(tn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = tn.Sequential(tn.Conv2d(3, 4, 3), tn.ReLU())
            self.head = tn.Linear(4, 5)

        def forward(self, x):
            f = self.features(x)
            return self.head(f.mean((2, 3))), f

    torch.manual_seed(0)
    model = Two().eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.from_numpy(x),),
            buffer,
            dynamo=False,
            input_names=["x"],
            output_names=["logits", "features"],
        )
    return buffer.getvalue(), model


def test_an_onnx_file_of_two_outputs_loads_as_a_graph_of_two_outputs():
    from cnnmath.onnx import load

    ort = pytest.importorskip("onnxruntime")
    x = np.random.default_rng(2).standard_normal((2, 3, 7, 7)).astype(np.float32)
    data, model = _export_two_outputs(x)
    g = load(data)
    got = g(x)
    witness = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"x": x})
    with torch.no_grad():
        want = model(torch.from_numpy(x))
    assert isinstance(got, tuple) and len(got) == 2
    assert g.onnx_output_names == ("logits", "features")
    for mine, theirs, torchs in zip(got, witness, want, strict=True):
        assert mine.shape == theirs.shape and rel_error(mine, theirs) <= 1e-5
        assert rel_error(mine, torchs.numpy()) <= 1e-5


def test_the_same_value_twice_among_an_onnx_files_outputs():
    """Two ONNX outputs of one value (an Identity, which the loader reads as its input) are two
    outputs of the graph, equal."""
    from onnx import TensorProto, helper

    from cnnmath.onnx import load

    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Identity", ["r"], ["r_again"]),
    ]
    info = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 3]) for n in ("r", "r_again")]
    graph = helper.make_graph(
        nodes, "twice", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])], info
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    g = load(proto.SerializeToString())
    x = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)
    r, again = g(x)
    np.testing.assert_array_equal(r, np.maximum(x, 0))
    np.testing.assert_array_equal(again, np.maximum(x, 0))
    assert len(set(g.outputs)) == 2


def test_an_integer_value_twice_among_the_outputs_saves_and_runs(tmp_path):
    """Two outputs of one int64 value (an ArgMax and its Identity): loaded, saved (the copy
    written as the Identity it was read as), and onnxruntime gives both, equal to cnnmath's."""
    from onnx import TensorProto, helper

    from cnnmath.onnx import load, save

    ort = pytest.importorskip("onnxruntime")
    nodes = [
        helper.make_node("ArgMax", ["x"], ["a"], axis=1),
        helper.make_node("Identity", ["a"], ["a_again"]),
    ]
    graph = helper.make_graph(
        nodes,
        "argmax_twice",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 4])],
        [helper.make_tensor_value_info(n, TensorProto.INT64, None) for n in ("a", "a_again")],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    g = load(proto.SerializeToString())
    x = np.random.default_rng(3).standard_normal((2, 3, 4)).astype(np.float32)
    save(g, tmp_path / "twice.onnx", x)
    got = ort.InferenceSession(str(tmp_path / "twice.onnx")).run(None, {"x": x})
    for mine, theirs in zip(g(x), got, strict=True):
        np.testing.assert_array_equal(theirs, mine)
        np.testing.assert_array_equal(theirs, x.argmax(1)[:, None])


def test_save_writes_every_output_and_reads_back(tmp_path):
    """cnnmath.onnx.save of a graph of three outputs (one an output that later nodes read):
    onnxruntime's outputs equal cnnmath's, and cnnmath's load of the file returns them too."""
    from cnnmath.onnx import load, save

    ort = pytest.importorskip("onnxruntime")
    g = _heads(seed=5).to(np.float32)
    x = np.random.default_rng(6).standard_normal((2, 2, 5, 6)).astype(np.float32)
    path = tmp_path / "heads.onnx"
    save(g, path, x)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["conv_a", "b", "trunk"]
    want = g(x)
    for mine, theirs in zip(want, session.run(None, {"x": x}), strict=True):
        assert rel_error(theirs, mine) <= 1e-6
    for mine, back in zip(want, load(path)(x), strict=True):
        assert rel_error(back, mine) <= 1e-6


def test_a_sequential_refuses_a_layer_of_several_outputs():
    net = nn.Sequential(_heads(), nn.ReLU())
    with pytest.raises(TypeError, match=r"layer '0' returns 3 outputs; .*not a layer of a Seq"):
        net(np.zeros((1, 2, 4, 4)))


def test_an_integer_output_takes_none_for_its_gradient():
    """An ONNX file returning x's shape beside relu(x): the shape's gradient must be None."""
    from onnx import TensorProto, helper

    from cnnmath.onnx import load

    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Shape", ["x"], ["s"])]
    graph = helper.make_graph(
        nodes,
        "shape_too",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [
            helper.make_tensor_value_info("r", TensorProto.FLOAT, [2, 3]),
            helper.make_tensor_value_info("s", TensorProto.INT64, [2]),
        ],
    )
    g = load(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    )
    x = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)
    r, s = g(x)
    np.testing.assert_array_equal(s, [2, 3])
    G = np.ones_like(r)
    with pytest.raises(TypeError, match=r"grad_output\[1\]: output .* holds int64 values, .*None"):
        g.backward((G, np.zeros(2, np.int64)))
    np.testing.assert_array_equal(g.backward((G, None)), (x > 0).astype(np.float32))


class _WrongDouble(_Counting):
    """y = 2x with a backward of 3G: a wrong gradient check_module must see."""

    def backward_ctx(self, ctx, grad_output):
        return 3 * grad_output


def test_check_module_checks_every_output():
    from cnnmath.testing import check_module

    x = np.random.default_rng(7).standard_normal((1, 2, 4, 4))
    assert check_module(_heads(seed=8), x).passed
    g = nn.Graph()
    g.conv = nn.Conv2d(2, 2, 1, rng=0, dtype=np.float64)
    c = g.add(g.conv, "x")
    g.set_output(c, g.add(_WrongDouble(), c, name="wrong"))  # the second output's path is wrong
    report = check_module(g, x)
    assert not report.passed
