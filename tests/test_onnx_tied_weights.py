"""One initializer read by several nodes of a loaded ONNX graph is one Parameter: a MatMul
weight (held transposed by its Linear) read by two MatMuls, or by a MatMul and a Gemm, and
the weight of a scripted Python for-loop, which TorchScript's exporter unrolls itself into
one MatMul per iteration reading Identity aliases of one initializer. Where the readers
would need the weight held two ways (as it is and transposed), the file is refused by name.
Witnesses: PyTorch autograd and SGD, onnxruntime.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from cnnmath.onnx import load, save  # noqa: E402
from helpers import run_onnxruntime, torch_onnx_export  # noqa: E402

F = TensorProto.FLOAT
_W = np.random.default_rng(0).standard_normal((3, 3)).astype(np.float32)
_X = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
_G = np.random.default_rng(2).standard_normal((2, 3)).astype(np.float32)


def _as_model(graph):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _model(nodes):
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", F, [2, 3])],
        [helper.make_tensor_value_info("y", F, [2, 3])],
        initializer=[numpy_helper.from_array(_W, "W")],
    )
    model = _as_model(graph)
    return model.SerializeToString()


def _sgd_steps(g, lr, steps):
    """``steps`` steps of plain SGD on ⟨g(x), G⟩; the outputs after each."""
    outs = []
    for _ in range(steps):
        g.zero_grad()
        g(_X)
        g.backward(_G)
        for p in g.parameters():
            p.data -= lr * p.grad
        outs.append(g(_X))
    return outs


_TWO_READERS = {
    # y = (x W) W: both MatMuls become Linears holding Wᵀ
    "two MatMuls": [
        helper.make_node("MatMul", ["x", "W"], ["a"]),
        helper.make_node("MatMul", ["a", "W"], ["y"]),
    ],
    # the Gemm without transB holds Wᵀ too
    "MatMul and Gemm": [
        helper.make_node("MatMul", ["x", "W"], ["a"]),
        helper.make_node("Gemm", ["a", "W"], ["y"]),
    ],
    # an Identity alias named by the exporter, read at the top level (TorchScript's for the
    # weight of an unrolled for-loop)
    "MatMul and an alias": [
        helper.make_node("Identity", ["W"], ["onnx::MatMul_2"]),
        helper.make_node("MatMul", ["x", "W"], ["a"]),
        helper.make_node("MatMul", ["a", "onnx::MatMul_2"], ["y"]),
    ],
}


@pytest.mark.parametrize("case", sorted(_TWO_READERS))
def test_a_weight_read_by_two_nodes_is_one_parameter_that_trains_as_in_torch(case, tmp_path):
    data = _model(_TWO_READERS[case])
    g = load(data)
    np.testing.assert_allclose(g(_X), run_onnxruntime(data, {"x": _X})[0], rtol=1e-5, atol=1e-6)
    (weight,) = g.parameters()
    assert g.initializer_names == {"W": dict(g.named_parameters()).popitem()[0]}

    W = torch.tensor(_W, requires_grad=True)
    x, G = torch.tensor(_X), torch.tensor(_G)
    g.zero_grad()
    g(_X)
    g.backward(_G)
    ((x @ W @ W) * G).sum().backward()
    np.testing.assert_allclose(weight.grad.T, W.grad.numpy(), rtol=1e-5, atol=1e-5)

    lr = 0.05
    ours = _sgd_steps(g, lr, 3)
    with torch.no_grad():
        for step in range(3):
            if step:
                W.grad = None
                with torch.enable_grad():
                    ((x @ W @ W) * G).sum().backward()
            W -= lr * W.grad
            np.testing.assert_allclose(ours[step], (x @ W @ W).numpy(), rtol=1e-4, atol=1e-5)

    path = tmp_path / "tied.onnx"
    save(g, path, _X)
    again = load(path.read_bytes())
    assert len(again.parameters()) == 1
    np.testing.assert_allclose(
        run_onnxruntime(path.read_bytes(), {"x": _X})[0], ours[-1], rtol=1e-5, atol=1e-6
    )


def test_a_weight_read_as_it_is_and_transposed_is_refused_by_name():
    """A Gemm with transB reads W as it is (its Linear holds W), a MatMul as Wᵀ: two
    Parameters that would train apart."""
    data = _model(
        [
            helper.make_node("Gemm", ["x", "W"], ["a"], transB=1),
            helper.make_node("MatMul", ["a", "W"], ["y"]),
        ]
    )
    with pytest.raises(ValueError, match=r"node 'y' \(MatMul\).*initializer 'W'.*train apart"):
        load(data)


def test_an_alias_named_as_a_weight_of_its_own_trains_apart():
    """TorchScript's exporter merges two weights that hold the same numbers (the zero
    biases of a new model) into one initializer and an Identity named after the second:
    they stay two Parameters, as in the model exported."""
    graph = helper.make_graph(
        [
            helper.make_node("Identity", ["l1.bias"], ["l2.bias"]),
            helper.make_node("Add", ["x", "l1.bias"], ["a"]),
            helper.make_node("Tanh", ["a"], ["t"]),
            helper.make_node("Add", ["t", "l2.bias"], ["y"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", F, [2, 3])],
        [helper.make_tensor_value_info("y", F, [2, 3])],
        initializer=[numpy_helper.from_array(np.zeros(3, np.float32), "l1.bias")],
    )
    model = _as_model(graph)
    g = load(model.SerializeToString())
    b1, b2 = (torch.zeros(3, requires_grad=True) for _ in range(2))
    ((torch.tanh(torch.tensor(_X) + b1) + b2) * torch.tensor(_G)).sum().backward()
    g.zero_grad()
    g(_X)
    g.backward(_G)
    grads = sorted((p.grad.reshape(-1) for p in g.parameters()), key=lambda a: float(a[0]))
    want = sorted((b1.grad.numpy(), b2.grad.numpy()), key=lambda a: float(a[0]))
    assert len(grads) == 2
    names = g.initializer_names
    assert {"l1.bias", "l2.bias"} <= set(names) and names["l1.bias"] != names["l2.bias"]
    for got, expected in zip(grads, want):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


class _Recurrent(torch.nn.Module):
    """h ← tanh(lin(x) + u(h)) three times, in a Python for-loop."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 3)
        self.u = torch.nn.Linear(3, 3, bias=False)

    def forward(self, x):
        h = self.lin(x)
        for _ in range(3):
            h = torch.tanh(self.lin(x) + self.u(h))
        return h


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_scripted_for_loop_unrolled_by_the_exporter_trains_its_weight_as_one():
    torch.manual_seed(0)
    net = _Recurrent()
    data = torch_onnx_export(torch.jit.script(net), torch.tensor(_X), opset_version=17)
    ops = [n.op_type for n in onnx.load_from_string(data).graph.node]
    assert ops.count("MatMul") == 3 and "Loop" not in ops  # the exporter unrolled it

    g = load(data)
    x = torch.tensor(_X)
    expected = net(x)
    np.testing.assert_allclose(g(_X), expected.detach().numpy(), rtol=1e-5, atol=1e-5)
    (expected * torch.tensor(_G)).sum().backward()
    g.zero_grad()
    g(_X)
    g.backward(_G)
    held = dict(g.named_parameters())
    assert len(held) == 3  # lin.weight, lin.bias, u.weight
    # the file holds uᵀ (the exporter's MatMul operand); its Linear holds u again
    u = next(p for p in held.values() if np.array_equal(p.data, net.u.weight.detach().numpy()))
    np.testing.assert_allclose(u.grad, net.u.weight.grad.numpy(), rtol=1e-4, atol=1e-5)
    assert id(u) in {id(held[k]) for k in g.initializer_names.values()}


def _reshape_by_own_shape(x, out):
    """out = x + Reshape(w, concat([1], Shape(w))): the reshape's shape read off w itself."""
    return [
        helper.make_node("Shape", ["w"], ["sh"]),
        helper.make_node(
            "Constant", [], ["one"], value=numpy_helper.from_array(np.array([1], np.int64))
        ),
        helper.make_node("Concat", ["one", "sh"], ["to"], axis=0),
        helper.make_node("Reshape", ["w", "to"], ["wv"]),
        helper.make_node("Add", [x, "wv"], [out]),
    ]


@pytest.mark.parametrize("trips", [0, 2])
def test_a_weight_whose_shape_is_read_beside_its_reshape_trains(trips):
    """A Shape read of w is no read of its numbers: the Reshape is still w's sole reader,
    and w trains (it was a fixed copy: no gradient at all). ``trips`` 0: at the top level;
    2: in the body of a Loop unrolled at load time, w an outer initializer."""
    w = np.array([1.0, 2.0, 3.0], np.float32)
    if trips:
        body = helper.make_graph(
            [*_reshape_by_own_shape("acc", "acc_o"), helper.make_node("Identity", ["c"], ["co"])],
            "body",
            [
                helper.make_tensor_value_info("i", TensorProto.INT64, []),
                helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                helper.make_tensor_value_info("acc", F, [2, 3]),
            ],
            [
                helper.make_tensor_value_info("co", TensorProto.BOOL, []),
                helper.make_tensor_value_info("acc_o", F, [2, 3]),
            ],
        )
        nodes = [helper.make_node("Loop", ["M", "", "x"], ["y"], body=body, name="L")]
    else:
        nodes = _reshape_by_own_shape("x", "y")
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", F, [2, 3])],
        [helper.make_tensor_value_info("y", F, [2, 3])],
        initializer=[
            numpy_helper.from_array(w, "w"),
            numpy_helper.from_array(np.array(trips, np.int64), "M"),
        ],
    )
    model = _as_model(graph)
    data = model.SerializeToString()
    g = load(data)
    np.testing.assert_allclose(g(_X), run_onnxruntime(data, {"x": _X})[0], rtol=1e-6)

    wt = torch.tensor(w, requires_grad=True)
    y = torch.tensor(_X)
    for _ in range(max(trips, 1)):
        y = y + wt.reshape(1, 3)
    (y * torch.tensor(_G)).sum().backward()
    g.zero_grad()
    g(_X)
    g.backward(_G)
    (held,) = g.parameters()
    np.testing.assert_allclose(held.grad.reshape(3), wt.grad.numpy(), rtol=1e-6)
    assert "w" in g.initializer_names


class _TwoHeads(torch.nn.Module):
    """Two Linears whose weights start equal (zero, as a zero-initialised head's), on
    (B, T, C) inputs: the exporter folds each weight's transpose, finds the two equal and
    keeps one, the second read through an Identity of it."""

    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Linear(3, 3), torch.nn.Linear(3, 3)
        torch.nn.init.zeros_(self.a.weight)
        torch.nn.init.zeros_(self.b.weight)

    def forward(self, x):
        return self.a(x) * x + self.b(torch.tanh(x))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_two_modules_whose_weights_the_exporter_merged_train_apart():
    torch.manual_seed(0)
    net = _TwoHeads()
    x = torch.tensor(_X[None])
    data = torch_onnx_export(net, x, opset_version=17)
    assert "Identity" in [n.op_type for n in onnx.load_from_string(data).graph.node]
    g = load(data)
    (net(x) * torch.tensor(_G[None])).sum().backward()
    g.zero_grad()
    g(_X[None])
    g.backward(_G[None])
    weights = [p for p in g.parameters() if p.shape == (3, 3)]
    assert len(weights) == 2
    got = sorted(weights, key=lambda p: float(np.abs(p.grad - net.a.weight.grad.numpy()).max()))
    np.testing.assert_allclose(got[0].grad, net.a.weight.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[1].grad, net.b.weight.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_a_weight_holding_a_nan_read_by_two_matmuls_is_one_parameter():
    W = _W.copy()
    W[2, 2] = np.nan
    graph = onnx.load_from_string(_model(_TWO_READERS["two MatMuls"]))
    graph.graph.initializer[0].CopyFrom(numpy_helper.from_array(W, "W"))
    g = load(graph.SerializeToString())
    (weight,) = g.parameters()
    np.testing.assert_array_equal(weight.data.T, W)


class _Token(torch.nn.Module):
    """ViT's class token (Expand of a weight, at a batch size fixed at export) and a logit
    scale clamped before use (Clip of a weight): nodes whose inputs are all known at load
    time, one of them a trained weight."""

    def __init__(self):
        super().__init__()
        self.token = torch.nn.Parameter(torch.randn(1, 1, 3))
        self.scale = torch.nn.Parameter(torch.tensor(0.5))
        self.lin = torch.nn.Linear(3, 3)

    def forward(self, x):
        tokens = torch.cat([self.token.expand(x.shape[0], -1, -1), x], dim=1)
        return self.lin(tokens) * torch.clamp(self.scale, max=2.0).exp()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_weight_read_only_by_nodes_known_at_load_time_trains(tmp_path):
    """(Folded at load time, the class token and the scale never trained.)"""
    torch.manual_seed(0)
    net = _Token()
    x = torch.tensor(_X[None])
    data = torch_onnx_export(net, x, opset_version=17)
    ops = {n.op_type for n in onnx.load_from_string(data).graph.node}
    assert {"Expand", "Clip"} <= ops
    g = load(data)
    G = np.random.default_rng(5).standard_normal((1, 3, 3)).astype(np.float32)
    (net(x) * torch.tensor(G)).sum().backward()
    g.zero_grad()
    np.testing.assert_allclose(g(_X[None]), run_onnxruntime(data, {"x": _X[None]})[0], rtol=1e-5)
    g.backward(G)
    held = dict(g.named_parameters())
    for name, want in (("token", net.token), ("scale", net.scale), ("lin.bias", net.lin.bias)):
        got = held[g.initializer_names[name]].grad
        np.testing.assert_allclose(got, want.grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)

    for p in g.parameters():
        p.data -= 0.1 * p.grad
    path = tmp_path / "token.onnx"
    save(g, path, _X[None])
    again = load(path.read_bytes())
    np.testing.assert_allclose(
        run_onnxruntime(path.read_bytes(), {"x": _X[None]})[0], g(_X[None]), rtol=1e-5
    )
    assert len(again.parameters()) == len(g.parameters())


def test_a_reshape_of_a_weight_beside_another_read_of_it_trains_it_whole():
    """y = x·W + Reshape(W): W's gradient is both reads' (the reshape was a fixed copy)."""
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "W"], ["a"]),
            helper.make_node("Reshape", ["W", "to"], ["Wv"]),
            helper.make_node("Add", ["a", "Wv"], ["y"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", F, [2, 3])],
        [helper.make_tensor_value_info("y", F, [2, 3])],
        initializer=[
            numpy_helper.from_array(_W[0], "W"),
            numpy_helper.from_array(np.array([1, 3], np.int64), "to"),
        ],
    )
    model = _as_model(graph)
    g = load(model.SerializeToString())
    W = torch.tensor(_W[0], requires_grad=True)
    ((torch.tensor(_X) * W + W.reshape(1, 3)) * torch.tensor(_G)).sum().backward()
    g.zero_grad()
    g(_X)
    g.backward(_G)
    (held,) = g.parameters()
    np.testing.assert_allclose(held.grad.reshape(3), W.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_a_convolution_whose_weights_the_file_scales_is_a_fixed_layer_that_tiles():
    """Conv(x, Mul(W, s)): a Mul of weights alone is folded (a fixed convolution, as its
    Resize scales or BatchNormalization statistics would be), so tiled.apply runs it."""
    da = pytest.importorskip("dask.array")
    from cnnmath import tiled

    rng = np.random.default_rng(6)
    W = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    s = rng.standard_normal((4, 1, 1, 1)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["W", "s"], ["Ws"], name="scaled"),
            helper.make_node("Conv", ["x", "Ws"], ["y"], pads=[1, 1, 1, 1]),
        ],
        "g",
        [helper.make_tensor_value_info("x", F, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", F, [1, 4, 8, 8])],
        initializer=[numpy_helper.from_array(W, "W"), numpy_helper.from_array(s, "s")],
    )
    model = _as_model(graph)
    g = load(model.SerializeToString())
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    y = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(W * s), padding=1)
    np.testing.assert_allclose(g(x), y.numpy(), rtol=1e-4, atol=1e-5)
    assert not any(type(n.module).__name__ == "_OnWeights" for n in g.walk())
    tiles = tiled.apply(g, da.from_array(x, chunks=(1, 3, 4, 4))).compute()
    np.testing.assert_allclose(tiles, g(x), rtol=1e-5, atol=1e-6)


def test_an_activation_of_a_weight_alone_is_folded():
    """Sigmoid(W) read by a Mul: folded at load time, as before (a fixed value)."""
    W = np.array([-1.0, 0.5, 2.0], np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Sigmoid", ["W"], ["sw"]),
            helper.make_node("Mul", ["x", "sw"], ["y"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", F, [2, 3])],
        [helper.make_tensor_value_info("y", F, [2, 3])],
        initializer=[numpy_helper.from_array(W, "W")],
    )
    model = _as_model(graph)
    g = load(model.SerializeToString())
    np.testing.assert_allclose(g(_X), _X / (1 + np.exp(-W)), rtol=1e-6)
    assert not any(type(n.module).__name__ == "_OnWeights" for n in g.walk())


class _LinearTwice(torch.nn.Module):
    """One Linear called twice on a 3-D input: each call a MatMul with Wᵀ in the export, and
    in cnnmath's save a Transpose of the one weight."""

    def __init__(self):
        super().__init__()
        self.l = torch.nn.Linear(4, 4)

    def forward(self, x):
        return self.l(torch.tanh(self.l(x)))


class _PReLUTwice(torch.nn.Module):
    """One channel-wise PReLU applied twice, a convolution between: save writes its slope
    reshaped to (C, 1, 1)."""

    def __init__(self):
        super().__init__()
        self.p = torch.nn.PReLU(3)
        self.c = torch.nn.Conv2d(3, 3, 1)
        with torch.no_grad():
            self.p.weight.copy_(torch.tensor([0.1, -0.5, 0.7]))

    def forward(self, x):
        return self.p(self.c(self.p(x)))


@pytest.mark.parametrize(
    ("net", "shape"), [(_LinearTwice, (1, 3, 4)), (_PReLUTwice, (1, 3, 4, 4))], ids=str
)
def test_a_shared_weight_saved_and_loaded_again_is_still_one_parameter(net, shape, tmp_path):
    """load, save, load: every torch parameter is one Parameter of the file read again (found
    by its values: the exporter names a MatMul's Wᵀ itself), listed under the initializer
    save wrote for it, with torch's gradient (both uses' parts summed)."""
    torch.manual_seed(0)
    m = net().eval()
    x = torch.randn(shape)
    path = tmp_path / "shared.onnx"
    save(load(torch_onnx_export(m, x, opset_version=17)), path, x.numpy())
    again = load(path.read_bytes())
    y = m(x)
    np.testing.assert_allclose(again(x.numpy()), y.detach().numpy(), rtol=1e-5, atol=1e-6)
    G = np.random.default_rng(3).standard_normal(y.shape).astype(np.float32)
    m.zero_grad()
    (y * torch.tensor(G)).sum().backward()
    again.zero_grad()
    again(x.numpy())
    again.backward(G)
    ours = dict(again.named_parameters())
    assert len(ours) == len(list(m.parameters()))
    assert sorted(again.initializer_names.values()) == sorted(ours)
    for name, p in m.named_parameters():
        theirs = p.detach().numpy()
        (key,) = [k for k, q in ours.items() if _same_numbers(q.data, theirs)]
        np.testing.assert_allclose(
            _as(ours[key].grad, theirs), p.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name
        )


def _as(a, like):
    """``a`` in ``like``'s layout: as it is, reshaped, or (a Linear's weight) transposed."""
    if a.shape == like.shape:
        return a
    return a.T if a.T.shape == like.shape and a.ndim == 2 else a.reshape(like.shape)


def _same_numbers(a, like):
    return a.size == like.size and np.array_equal(_as(a, like), like)


def test_one_transpose_of_a_weight_read_by_two_matmuls_is_one_parameter():
    """y = (x Wᵀ) Wᵀ with Wᵀ = Transpose(W) computed once (as save writes a Linear shared
    on sequences): one Parameter, torch's gradient for W, and it trains as W does."""
    data = _model(
        [
            helper.make_node("Transpose", ["W"], ["t"], perm=[1, 0]),
            helper.make_node("MatMul", ["x", "t"], ["a"]),
            helper.make_node("MatMul", ["a", "t"], ["y"]),
        ]
    )
    g = load(data)
    (key, weight), *rest = g.named_parameters()
    assert not rest and g.initializer_names == {"W": key}
    W = torch.tensor(_W, requires_grad=True)
    x, G = torch.tensor(_X), torch.tensor(_G)
    ((x @ W.T @ W.T) * G).sum().backward()
    g.zero_grad()
    np.testing.assert_allclose(g(_X), run_onnxruntime(data, {"x": _X})[0], rtol=1e-5, atol=1e-6)
    g.backward(_G)
    np.testing.assert_allclose(_as(weight.grad, _W), W.grad.numpy(), rtol=1e-5, atol=1e-5)
    (after,) = _sgd_steps(g, 0.05, 1)
    with torch.no_grad():
        W -= 0.05 * W.grad
        np.testing.assert_allclose(after, (x @ W.T @ W.T).numpy(), rtol=1e-4, atol=1e-5)


_G_W = np.random.default_rng(4).standard_normal(_W.shape).astype(np.float32)
_ACTIVATIONS = {
    "Relu": ({}, torch.relu),
    "Sigmoid": ({}, torch.sigmoid),
    "Tanh": ({}, torch.tanh),
    "LeakyRelu": ({"alpha": 0.1}, lambda t: torch.nn.functional.leaky_relu(t, 0.1)),
    "Elu": ({"alpha": 1.0}, torch.nn.functional.elu),
    "Gelu": ({}, torch.nn.functional.gelu),
    "Softsign": ({}, torch.nn.functional.softsign),
    "HardSwish": ({}, torch.nn.functional.hardswish),
}


@pytest.mark.parametrize("op", sorted(_ACTIVATIONS))
def test_an_activation_of_a_weight_trains_it_with_the_activations_derivative(op):
    """The converter's op for an activation whose input is a trained weight (what load would
    hold if it ran such a node with the graph rather than folding it): the weight's gradient
    is torch's through that activation, not the gradient passed through unchanged."""
    from cnnmath import nn
    from cnnmath.onnx._ops import CONVERTERS
    from cnnmath.onnx._ops._attributes import Attrs
    from cnnmath.onnx._ops._node import Const, Node

    attrs, f = _ACTIVATIONS[op]
    proto = helper.make_node(op, ["W"], ["y"], **attrs)
    node = Node("act", op, 17)
    W = nn.Parameter(_W.copy())
    module, _ = CONVERTERS[op](node, Attrs(node, list(proto.attribute)), [Const(_W, W)], {})
    y, ctx = module.forward_ctx()
    W.grad = np.zeros_like(_W)
    module.backward_ctx(ctx, _G_W)
    Wt = torch.tensor(_W, requires_grad=True)
    (f(Wt) * torch.tensor(_G_W)).sum().backward()
    np.testing.assert_allclose(y, f(Wt).detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(W.grad, Wt.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_a_linear_used_on_sequences_and_on_vectors_saves_and_loads_as_one_parameter(tmp_path):
    """One Linear on a (2, 5, 4) value and on a (2, 4) one: save writes Transpose(W) for the
    first (MatMul) and W itself for the second (Gemm with transB). Read again, W is one
    Parameter (the Transpose beside another read of W runs with the graph), and three SGD
    steps of both models agree (witness: the cnnmath model saved)."""
    from cnnmath import nn

    x = np.random.default_rng(0).standard_normal((2, 5, 4)).astype(np.float32)
    g = nn.Graph("x")
    g.lin = lin = nn.Linear(4, 4, rng=1)
    g.add(lin, "x", name="a")
    g.add(nn.Flatten(1), "x", name="f")
    g.add(nn.Narrow(1, 0, 4), "f", name="n")
    g.add(lin, "n", name="b")
    g.add(nn.Flatten(1), "a", name="af")
    g.add(nn.Narrow(1, 0, 4), "af", name="an")
    g.add(nn.Add(), "an", "b", name="y")
    g.set_output("y")
    path = tmp_path / "mixed.onnx"
    save(g, path, x)
    again = load(path.read_bytes())
    assert [p.data.shape for p in again.parameters()].count((4, 4)) == 1
    assert set(again.initializer_names) == {"lin.weight", "lin.bias"}
    G = np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32)
    for _ in range(3):
        for m in (g, again):
            m.zero_grad()
            m(x)
            m.backward(G)
            for p in m.parameters():
                p.data -= 0.5 * p.grad
        np.testing.assert_allclose(again(x), g(x), rtol=1e-5, atol=1e-5)


def test_a_weight_transposed_outside_and_in_a_run_time_branch_is_refused():
    """W read through a Transpose by the graph and by a branch of an If decided at run time:
    the branch's Linear holds W's transpose of its own, apart from the graph's; refused by
    name rather than trained as two copies."""
    D = TensorProto.DOUBLE

    def out(name):
        return helper.make_tensor_value_info(name, D, None)

    then = helper.make_graph(
        [
            helper.make_node("Transpose", ["W"], ["t_wt"]),
            helper.make_node("MatMul", ["x", "t_wt"], ["t_y"]),
        ],
        "t",
        [],
        [out("t_y")],
    )
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["e_y"])], "e", [], [out("e_y")])
    graph = helper.make_graph(
        [
            helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
            helper.make_node("Greater", ["s", "thr"], ["c"]),
            helper.make_node("Transpose", ["W"], ["Wt"]),
            helper.make_node("MatMul", ["x", "Wt"], ["a"]),
            helper.make_node("If", ["c"], ["b"], then_branch=then, else_branch=other),
            helper.make_node("Add", ["a", "b"], ["y"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", D, [2, 4, 3])],
        [out("y")],
        initializer=[
            numpy_helper.from_array(_W.astype(np.float64), "W"),
            numpy_helper.from_array(np.array(-1e9), "thr"),
        ],
    )
    with pytest.raises(ValueError, match=r"initializer 'W' .*would train apart"):
        load(_as_model(graph).SerializeToString())


_RETURNED = {
    # y = x W (the Linear holds Wᵀ), and W returned
    "a MatMul's weight": (
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "W",
        (3, 4),
        lambda x, W: (x @ W, W),
    ),
    # an exporter's alias of it returned (TorchScript names one for a weight read twice)
    "an alias of a MatMul's weight": (
        [
            helper.make_node("Identity", ["W"], ["onnx::MatMul_3"]),
            helper.make_node("MatMul", ["x", "W"], ["a"]),
            helper.make_node("MatMul", ["x", "onnx::MatMul_3"], ["b"]),
            helper.make_node("Add", ["a", "b"], ["y"]),
        ],
        "onnx::MatMul_3",
        (3, 4),
        lambda x, W: (x @ W + x @ W, W),
    ),
    # Wᵀ = Transpose(W) read by a MatMul and returned
    "a Transpose read by a MatMul": (
        [
            helper.make_node("Transpose", ["W"], ["Wt"], perm=[1, 0]),
            helper.make_node("MatMul", ["x", "Wt"], ["y"]),
        ],
        "Wt",
        (4, 3),
        lambda x, W: (x @ W.T, W.T),
    ),
    # W read by nothing else: the output alone trains it
    "a weight nothing else reads": (
        [helper.make_node("Relu", ["x"], ["y"])],
        "W",
        (3, 4),
        lambda x, W: (torch.relu(x), W),
    ),
}


@pytest.mark.parametrize("case", sorted(_RETURNED))
def test_a_weight_returned_by_the_graph_is_the_weight_as_trained(case, tmp_path):
    """A graph output that is a trained weight (or its alias, or its transpose) returns
    the weight as training changed it, and its gradient reaches the weight; saved after
    training, onnxruntime returns the same (witness: torch autograd and SGD)."""
    nodes, returned, shape, f = _RETURNED[case]
    rng = np.random.default_rng(5)
    W0 = rng.standard_normal(shape).astype(np.float32)
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", F, [2, 3])],
        [
            helper.make_tensor_value_info("y", F, None),
            helper.make_tensor_value_info(returned, F, None),
        ],
        initializer=[numpy_helper.from_array(W0, "W")],
    )
    g = load(_as_model(graph).SerializeToString())
    (key, weight), *rest = g.named_parameters()
    assert not rest and g.initializer_names["W"] == key
    W = torch.tensor(W0, requires_grad=True)
    x = torch.tensor(_X)
    G = [rng.standard_normal(t.shape).astype(np.float32) for t in f(x, W)]
    for step in range(2):
        g.zero_grad()
        ours = g(_X)
        g.backward(tuple(G))
        W.grad = None
        theirs = f(x, W)
        sum((t * torch.tensor(grad)).sum() for t, grad in zip(theirs, G)).backward()
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(
                a, b.detach().numpy(), rtol=1e-5, atol=1e-5, err_msg=str(step)
            )
        np.testing.assert_allclose(_as(weight.grad, W0), W.grad.numpy(), rtol=1e-5, atol=1e-5)
        weight.data -= 0.1 * weight.grad
        with torch.no_grad():
            W -= 0.1 * W.grad
    path = tmp_path / "returned.onnx"
    save(g, path, _X)
    for a, b in zip(run_onnxruntime(path.read_bytes(), {"x": _X}), f(x, W)):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-5, atol=1e-5)


def test_held_as_views_names_the_weights_a_layer_holds_derived_not_those_held_as_read():
    """``held_as_views`` (which the loader reads to share a weight with a run-time branch)
    lists an initializer a layer holds derived from it: a 3-D MatMul's weight, held
    transposed by its Linear, is; batch norm's scale, bias and running statistics, held as
    read, are not. Witness here: the file's arrays against the state_dict."""
    rng = np.random.default_rng(3)
    arrays = {
        "W": rng.standard_normal((4, 3)).astype(np.float32),
        "s": (rng.random(3) + 0.5).astype(np.float32),
        "b": rng.random(3).astype(np.float32),
        "m": rng.random(3).astype(np.float32),
        "v": (rng.random(3) + 0.5).astype(np.float32),
    }
    graph = helper.make_graph(
        [
            helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["n"]),
            helper.make_node("MatMul", ["n", "W"], ["y"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", F, [1, 3, 5, 4])],
        [helper.make_tensor_value_info("y", F, None)],
        initializer=[numpy_helper.from_array(a, k) for k, a in arrays.items()],
    )
    g = load(_as_model(graph).SerializeToString())
    state = g.state_dict()
    differs = {
        name
        for name, key in g.initializer_names.items()
        if state[key].shape != arrays[name].shape or not np.array_equal(state[key], arrays[name])
    }
    assert differs == {"W"}  # the witness agrees with the case's intent
    assert g.held_as_views == differs
