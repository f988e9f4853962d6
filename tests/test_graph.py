"""cnnmath.nn.Graph: residual and weight-shared graphs against finite differences (input and
every parameter) and against PyTorch, the walk of a residual block node by node, re-running
a model from its walk alone, and hand-written modules inside containers."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath import nn
from cnnmath.gradcheck import check_gradients
from helpers import rel_error


def _input(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def check_model_gradients(model, x, seed=0):
    """check_gradients on (x, every parameter) of ``model``: func runs model(x) with the given
    parameter values, backward returns ∂φ/∂x and each parameter's grad after model.backward(G)
    with check_gradients' random (non-uniform) G."""
    params = model.parameters()

    def load(values):
        for p, v in zip(params, values, strict=True):
            p.data[...] = v

    def func(x, *values):
        load(values)
        return model(x)

    def backward(G, x, *values):
        load(values)
        model.zero_grad()
        model(x)
        gx = model.backward(G)
        return (gx, *(p.grad.copy() for p in params))

    return check_gradients(func, backward, [x, *(p.data.copy() for p in params)], seed=seed)


class Block(nn.Graph):
    """A residual block as torchvision writes one: layers assigned with their names, one ReLU
    used twice, a downsampling branch, the sum as wiring."""

    def __init__(self, dtype=np.float64):
        super().__init__()
        kw = {"dtype": dtype}
        self.conv1 = nn.Conv2d(2, 3, 3, stride=2, padding=1, rng=1, **kw)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(3, 3, 3, padding=1, rng=2, **kw)
        self.downsample = nn.Sequential(nn.Conv2d(2, 3, 1, stride=2, rng=3, **kw), nn.Tanh())
        out = self.add(self.conv1, "x")
        out = self.add(self.relu, out)
        out = self.add(self.conv2, out)
        identity = self.add(self.downsample, "x")
        out = self.add(nn.Add(), out, identity)
        self.set_output(self.add(self.relu, out))


def _torch_block(torch, block):
    tnn = torch.nn

    class TorchBlock(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(2, 3, 3, stride=2, padding=1)
            self.relu = tnn.ReLU()
            self.conv2 = tnn.Conv2d(3, 3, 3, padding=1)
            self.downsample = tnn.Sequential(tnn.Conv2d(2, 3, 1, stride=2), tnn.Tanh())

        def forward(self, x):
            out = self.conv2(self.relu(self.conv1(x)))
            return self.relu(out + self.downsample(x))

    twin = TorchBlock().double()
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in block.state_dict().items()})
    return twin


# ---------------------------------------------------------------------------------------------
# Gradients: finite differences for the input and every parameter


def test_residual_graph_passes_gradcheck_for_input_and_every_parameter():
    model = nn.Sequential(Block(), nn.Conv2d(3, 2, 2, rng=4, dtype=np.float64))
    errors = check_model_gradients(model, _input((2, 2, 6, 6)))
    assert len(errors) == 1 + 8  # x, then 4 convolutions' weight and bias
    assert max(errors) <= 1e-6


def test_weight_shared_graph_passes_gradcheck_and_sums_both_uses():
    """One convolution used on two paths, its input read by three nodes, and a concatenation:
    the shared weight's gradient is the sum of its two uses' terms."""
    g = nn.Graph()
    conv = nn.Conv2d(2, 2, 3, padding=1, rng=0, dtype=np.float64)
    a = g.add(conv, "x", name="conv")
    t = g.add(nn.Tanh(), a)
    b = g.add(conv, t)  # the same layer again: node "conv_1", parameters "conv.*"
    s = g.add(nn.Add(), a, b, "x")
    c = g.add(nn.Concat(), s, a)
    g.set_output(g.add(nn.Conv2d(4, 1, 1, rng=1, dtype=np.float64), c, name="head"))
    assert b == "conv_1"
    assert list(g.state_dict()) == ["conv.weight", "conv.bias", "head.weight", "head.bias"]
    errors = check_model_gradients(g, _input((2, 2, 4, 5)))
    assert len(errors) == 5 and max(errors) <= 1e-6


def test_a_graph_of_two_inputs_returns_both_gradients():
    g = nn.Graph(inputs=("a", "b"))
    g.set_output(g.add(nn.Concat(), g.add(nn.Tanh(), "a"), "b"))
    a, b = _input((2, 3, 4, 4)), _input((2, 1, 4, 4), seed=1)

    def backward(G, a, b):
        g(a, b)
        return g.backward(G)

    assert max(check_gradients(g, backward, [a, b])) <= 1e-6


def test_residual_block_matches_torch():
    torch = pytest.importorskip("torch")
    block = Block()
    twin = _torch_block(torch, block)
    assert repr(block).replace("Block", "TorchBlock", 1) == repr(twin)
    x, G = _input((2, 2, 7, 7)), _input((2, 3, 4, 4), seed=1)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = twin(xt)
    yt.backward(torch.from_numpy(G))
    assert rel_error(block(x), yt.detach().numpy()) <= 1e-12
    assert rel_error(block.backward(G), xt.grad.numpy()) <= 1e-12
    theirs = dict(twin.named_parameters())
    for name, p in block.named_parameters():
        assert rel_error(p.grad, theirs[name].grad.numpy()) <= 1e-12, name


# ---------------------------------------------------------------------------------------------
# The walk


def test_walk_of_a_residual_block_lists_nodes_and_edges():
    block = Block()
    stem = nn.Conv2d(2, 2, 1, rng=0, dtype=np.float64)
    model = nn.Sequential(stem, block)
    walked = [(n.name, n.inputs, n.output) for n in model.walk()]
    assert walked == [
        ("0", ("x",), "0"),
        ("1.conv1", ("0",), "1.conv1"),
        ("1.relu", ("1.conv1",), "1.relu"),
        ("1.conv2", ("1.relu",), "1.conv2"),
        ("1.downsample.0", ("0",), "1.downsample.0"),
        ("1.downsample.1", ("1.downsample.0",), "1.downsample"),
        ("1.add", ("1.conv2", "1.downsample"), "1.add"),
        ("1.relu_1", ("1.add",), "1"),
    ]
    modules = [n.module for n in model.walk()]
    assert modules[0] is stem and modules[1] is block.conv1
    assert modules[2] is block.relu and modules[7] is block.relu  # one ReLU, two nodes
    assert modules[4] is block.downsample[0] and isinstance(modules[6], nn.Add)


def test_a_model_runs_from_its_walk_alone():
    """An interpreter outside the model, reading only the walk, computes what model(x) does
    and routes the gradients back to the same input gradient."""
    model = nn.Sequential(nn.Conv2d(2, 2, 1, rng=0, dtype=np.float64), Block(), nn.Flatten())
    x = _input((2, 2, 6, 6))
    env, saved = {"x": x}, []
    nodes = list(model.walk())
    for node in nodes:
        env[node.output], ctx = node.module.forward_ctx(*(env[v] for v in node.inputs))
        saved.append(ctx)
    y = model(x)
    np.testing.assert_array_equal(env[nodes[-1].output], y)

    G = _input(y.shape, seed=2)
    grads = {nodes[-1].output: G}
    for node, ctx in zip(reversed(nodes), reversed(saved), strict=True):
        terms = node.module.backward_ctx(ctx, grads.pop(node.output))
        terms = (terms,) if len(node.inputs) == 1 else terms
        for v, t in zip(node.inputs, terms, strict=True):
            grads[v] = grads[v] + t if v in grads else t
    model.zero_grad()
    assert rel_error(grads["x"], model.backward(G)) <= 1e-12


def test_graph_nodes_and_output_are_public():
    block = Block()
    assert [n.name for n in block.nodes] == [
        "conv1",
        "relu",
        "conv2",
        "downsample",
        "add",
        "relu_1",
    ]
    assert block.output == "relu_1" and block.input_names == ("x",)
    assert isinstance(block.nodes[3].module, nn.Sequential)  # not entered: the graph's own


# ---------------------------------------------------------------------------------------------
# Hand-written modules


class Scale(nn.Module):
    """y = a·x with a learnt scalar a, written the old way: state kept on self."""

    def __init__(self, a=1.5):
        super().__init__()
        self.a = nn.Parameter(np.array([a]))

    def forward(self, x):
        self._x = x
        return self.a.data[0] * x

    def backward(self, grad_output):
        self.a.grad += np.sum(grad_output * self._x)
        return self.a.data[0] * grad_output


def test_hand_written_module_trains_inside_sequential_and_graph():
    seq = nn.Sequential(nn.Linear(3, 3, rng=0, dtype=np.float64), Scale(), nn.Tanh())
    assert max(check_model_gradients(seq, _input((4, 3)))) <= 1e-6
    g = nn.Graph()
    h = g.add(nn.Linear(3, 3, rng=0, dtype=np.float64), "x", name="fc")
    g.set_output(g.add(nn.Add(), g.add(Scale(), h, name="scale"), "x"))
    assert max(check_model_gradients(g, _input((4, 3)))) <= 1e-6
    assert Scale().hand_written and not nn.Linear(2, 2).hand_written
    assert [n.name for n in g.walk()] == ["fc", "scale", "add"]  # one opaque node


def test_hand_written_module_used_twice_is_refused_with_a_message():
    scale = Scale()
    model = nn.Sequential(scale, nn.Tanh(), scale)
    model(_input((2, 3)))
    with pytest.raises(RuntimeError, match="Scale.*called again.*separate Scale instance"):
        model.backward(_input((2, 3), seed=1))


class ForwardOnly(nn.Module):
    """A PyTorch-style class: layers in __init__, forward in plain code, no backward."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2, rng=0, dtype=np.float64)

    def forward(self, x):
        return np.maximum(self.fc(x), 0)


@pytest.mark.parametrize("wrapped", [False, True])
def test_a_forward_without_a_backward_says_what_to_write(wrapped):
    """Called alone or inside a Sequential, its backward names the class and the two ways
    on (an nn.Graph subclass, or a backward of its own), not 'called before forward'."""
    model = nn.Sequential(ForwardOnly()) if wrapped else ForwardOnly()
    y = model(_input((4, 3)))
    with pytest.raises(
        NotImplementedError, match=r"ForwardOnly defines forward but not backward.*nn\.Graph"
    ):
        model.backward(np.ones_like(y))
    inner = model[0] if wrapped else model
    assert not inner.fc.weight.has_grad  # nothing half-added


# ---------------------------------------------------------------------------------------------
# Bad input


def _graph():
    g = nn.Graph()
    g.add(nn.ReLU(), "x", name="r")
    return g


GRAPH_ERRORS = [
    (lambda: _graph().add(nn.ReLU(), "y"), ValueError, r"'y' is not a value.*\['r', 'x'\]"),
    (lambda: _graph().add(nn.ReLU(), "x", name="r"), ValueError, "'r' is already used"),
    (lambda: _graph().add(nn.ReLU(), "x", name="a.b"), ValueError, "identifier"),
    (lambda: _graph().add(nn.ReLU(), "x", name="forward"), ValueError, "already an attribute"),
    (lambda: _graph().add("relu", "x"), TypeError, "module"),
    (lambda: _graph().add(nn.ReLU()), ValueError, "inputs"),
    (lambda: _graph().set_output("z"), ValueError, "value"),
    (lambda: _graph()(np.zeros(2)), RuntimeError, "set_output"),
    (lambda: nn.Graph(inputs=()), ValueError, "inputs"),
    (lambda: nn.Graph(inputs=("a", "a")), ValueError, "distinct"),
    (lambda: nn.Add()(np.zeros(2), np.zeros(3)), ValueError, r"inputs\[1\].*\(2,\)"),
    (lambda: nn.Add()(np.zeros(2)), ValueError, "at least 2"),
    (lambda: nn.Concat()(np.zeros((1, 2, 3)), np.zeros((1, 2, 4))), ValueError, r"inputs\[1\]"),
    (lambda: nn.Concat(dim=5)(np.zeros((1, 2))), ValueError, "dim"),
]


@pytest.mark.parametrize("call, exc, pattern", GRAPH_ERRORS)
def test_graph_bad_input(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_a_graph_with_two_inputs_wants_both():
    g = nn.Graph(inputs=("a", "b"))
    g.set_output(g.add(nn.Add(), "a", "b"))
    with pytest.raises(TypeError, match=r"2 input\(s\)"):
        g(np.zeros(2))


def test_replacing_a_child_rewires_its_nodes():
    """Assigning a new module to a child's attribute changes what forward and backward run
    (witness: the new layer applied by hand); a node reading a wiring op or another child
    is untouched, and a non-module or a deletion is refused naming the attribute."""
    g = nn.Graph()
    g.add(nn.Linear(3, 3, rng=0, dtype=np.float64), "x", name="fc")
    g.add(nn.Add(), "fc", "x")
    g.set_output("add")
    new = nn.Linear(3, 3, rng=1, dtype=np.float64)
    g.fc = new
    x = _input((2, 3))
    assert np.allclose(g(x), new(x) + x)
    assert [n.module for n in g.nodes][0] is new
    assert [k for k, _ in g.named_parameters()] == ["fc.weight", "fc.bias"]
    g.zero_grad()
    g(x)
    g.backward(np.ones((2, 3)))
    assert np.allclose(new.weight.grad, np.ones((2, 3)).T @ x)
    with pytest.raises(TypeError, match=r"fc: node\(s\) \['fc'\].*got NoneType"):
        g.fc = None
    with pytest.raises(AttributeError, match=r"fc: node\(s\) \['fc'\].*nn.Identity"):
        del g.fc
    with pytest.raises(ValueError, match="fc: the module contains this graph"):
        g.fc = nn.Sequential(g)
    assert g.fc is new
    assert np.allclose(g(x), new(x) + x)


def test_sequential_item_assignment():
    """seq[i] = layer replaces layer i in forward, the parameters and the state dict
    (negative indices as a list's); a non-module, a bad index or a cycle is refused."""
    seq = nn.Sequential(nn.Linear(2, 3, rng=0, dtype=np.float64), nn.ReLU())
    new = nn.Linear(2, 4, rng=1, dtype=np.float64)
    seq[-2] = new
    x = _input((5, 2))
    assert np.array_equal(seq(x), np.maximum(new(x), 0))
    assert seq.state_dict()["0.weight"].shape == (4, 2)
    with pytest.raises(TypeError, match=r"layers\[1\]: expected a cnnmath.nn.Module, got int"):
        seq[1] = 3
    with pytest.raises(IndexError, match=r"index: expected an int in \[-2, 2\), got 2"):
        seq[2] = nn.ReLU()
    with pytest.raises(TypeError, match="index: expected an int, got '0'"):
        seq["0"] = nn.ReLU()
    with pytest.raises(ValueError, match="contains this Sequential"):
        seq[0] = nn.Sequential(seq)


@pytest.mark.parametrize(
    ("shape_a", "shape_b"),
    [((2, 3, 1, 1), (2, 3, 4, 5)), ((2, 3, 4, 5), (2, 3, 4, 5)), ((3, 1, 1), (2, 3, 4, 5))],
)
def test_mul_broadcasts_and_its_gradients_are_torchs(shape_a, shape_b):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    mul = nn.Mul()
    y = mul(a, b)
    G = rng.standard_normal(y.shape)
    grad_a, grad_b = mul.backward(G)
    ta, tb = (torch.from_numpy(v).requires_grad_() for v in (a, b))
    (ta * tb * torch.from_numpy(G)).sum().backward()
    np.testing.assert_array_equal(y, (ta * tb).detach().numpy())
    assert grad_a.shape == shape_a and grad_b.shape == shape_b
    assert rel_error(grad_a, ta.grad.numpy()) <= 1e-14
    assert rel_error(grad_b, tb.grad.numpy()) <= 1e-14


@pytest.mark.parametrize(
    ("a", "b", "exc", "words"),
    [
        (np.ones((2, 3)), np.ones((2, 4)), ValueError, ["Mul.forward", "b", "(2, 3)", "(2, 4)"]),
        (np.ones(2), np.ones(2, np.float32), TypeError, ["Mul.forward", "float64", "float32"]),
        (np.ones(2, int), np.ones(2), TypeError, ["Mul.forward", "a"]),
    ],
)
def test_mul_bad_input_is_named(a, b, exc, words):
    with pytest.raises(exc) as caught:
        nn.Mul()(a, b)
    for word in words:
        assert word in str(caught.value)


def test_narrow_is_torchs_and_its_gradient_is_the_adjoint():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 3, 4))
    for dim, start, length in ((1, 0, 3), (1, 3, 3), (-1, 1, 2), (2, 2, 1)):
        layer = nn.Narrow(dim, start, length)
        y = layer(x)
        np.testing.assert_array_equal(y, torch.from_numpy(x).narrow(dim, start, length).numpy())
        G = rng.standard_normal(y.shape)
        assert np.vdot(G, y) == pytest.approx(np.vdot(layer.backward(G), x), rel=1e-14)
    assert repr(nn.Narrow(1, 2, 3)) == "Narrow(dim=1, start=2, length=3)"
    with pytest.raises(ValueError, match=r"Narrow.forward: x: expected at least start \+ length"):
        nn.Narrow(1, 4, 3)(x)
    with pytest.raises(ValueError, match=r"Narrow: start: expected"):
        nn.Narrow(1, -1, 3)


def test_a_sequential_of_named_layers_is_torchs():
    """Sequential(OrderedDict(...)) and add_module: torch's repr, keys and attribute access,
    and its state_dict loads into torch's model to the same outputs."""
    from collections import OrderedDict

    torch = pytest.importorskip("torch")
    ours = nn.Sequential(
        OrderedDict(conv0=nn.Conv2d(2, 3, 3, rng=0, dtype=np.float64), relu0=nn.ReLU())
    )
    ours.add_module("pool0", nn.MaxPool2d(2))
    theirs = torch.nn.Sequential(
        OrderedDict(conv0=torch.nn.Conv2d(2, 3, 3).double(), relu0=torch.nn.ReLU())
    )
    theirs.add_module("pool0", torch.nn.MaxPool2d(2))
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["conv0.weight", "conv0.bias"]
    assert ours.conv0 is ours[0] and ours.pool0 is ours[2]
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((1, 2, 6, 6))
    np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-12)
    assert list(ours[1:].state_dict()) == [] and repr(ours[:1]).startswith("Sequential(\n  (conv0)")
    # replacing a named layer, by attribute or by add_module, as in torch: in place
    ours.conv0 = nn.Conv2d(2, 5, 3, rng=1, dtype=np.float64)
    theirs.conv0 = torch.nn.Conv2d(2, 5, 3).double()
    ours.add_module("relu0", nn.Sigmoid())
    theirs.add_module("relu0", torch.nn.Sigmoid())
    assert repr(ours) == repr(theirs)
    assert ours.state_dict()["conv0.weight"].shape == (5, 2, 3, 3)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match=r"name: 'training' is already an attribute"):
        ours.add_module("training", nn.ReLU())
    with pytest.raises(TypeError, match=r"Sequential: conv0: expected a cnnmath.nn.Module"):
        ours.conv0 = 3
    with pytest.raises(ValueError, match=r"name: expected a non-empty str without '.'"):
        ours.add_module("a.b", nn.ReLU())
    # a new module attribute is a new last layer; del by name keeps the names, del by index
    # renames by position: as torch's
    ours.head = nn.Conv2d(5, 1, 1, rng=2, dtype=np.float64)
    theirs.head = torch.nn.Conv2d(5, 1, 1).double()
    assert repr(ours) == repr(theirs)
    del ours.relu0, theirs.relu0
    assert repr(ours) == repr(theirs) and list(ours.state_dict()) == list(theirs.state_dict())
    del ours[0], theirs[0]
    assert repr(ours) == repr(theirs) and list(ours.state_dict()) == list(theirs.state_dict())
    assert nn.Permute((0, -1, 1, 2))(x).shape == (1, 6, 2, 6)


def test_an_empty_sequential_inside_a_model_walks_as_an_identity_node(tmp_path):
    """Its value is written by a node (it was read but never written: save raised KeyError),
    and the saved file computes relu(x) in onnxruntime."""
    g = nn.Graph()
    g.skip = nn.Sequential()
    g.act = nn.ReLU()
    g.set_output(g.add(g.act, g.add(g.skip, "x")))
    nodes = list(g.walk())
    assert [(n.name, type(n.module).__name__, n.inputs) for n in nodes] == [
        ("skip", "Identity", ("x",)),
        ("act", "ReLU", ("skip",)),
    ]
    assert list(nn.Sequential().walk()) == []  # alone it is the model: nothing to walk
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from cnnmath.onnx import save

    save(g, tmp_path / "skip.onnx", np.zeros((1, 2), np.float32))
    x = np.array([[-1.0, 2.0]], np.float32)
    got = ort.InferenceSession(str(tmp_path / "skip.onnx")).run(None, {"x": x})[0]
    np.testing.assert_array_equal(got, [[0.0, 2.0]])
