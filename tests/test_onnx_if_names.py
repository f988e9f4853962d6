"""ONNX If branches' names through ``cnnmath.onnx.load``: a subgraph's names are its own
(ONNX scopes them), so two branches may each define "tmp" or an initializer "k", and a branch
may define a name the outer graph defines after the If. The loader names such a branch value
apart ("k_1"): the files load, give onnxruntime's and ONNX's reference outputs, train (finite
differences, PyTorch's autograd on a TorchScript export), list every initializer in
``initializer_names`` (a run-time If's branches' too) and save back. Shapes are inferred
inside an inlined branch (a Split of a value the branch computes). Saving a run-time If is
refused in one short sentence.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from cnnmath.onnx import load, save  # noqa: E402
from helpers import check_input_gradients, run_onnxruntime, trains_as_torch  # noqa: E402

F = TensorProto.FLOAT
K = {  # the branch initializers, all named "k" in the file: (If, branch) -> values
    (1, "then"): np.array([1.5, -2.0, 0.5], np.float32),
    (1, "else"): np.array([0.25, 3.0, -1.0], np.float32),
    (2, "then"): np.array([-0.75, 1.25, 2.0], np.float32),
    (2, "else"): np.array([2.5, 0.5, -1.5], np.float32),
}


def _value(name, shape=None):
    return helper.make_tensor_value_info(name, F, shape)


def _branch(which, source, op):
    """tmp = op(source, k); out = tmp · source — "tmp", "k" and the node name "n" in every
    branch."""
    k = numpy_helper.from_array(K[which], "k")
    nodes = [
        helper.make_node(op, [source, "k"], ["tmp"], name="n"),
        helper.make_node("Mul", ["tmp", source], [f"out_{which[0]}_{which[1]}"], name="m"),
    ]
    return helper.make_graph(nodes, which[1], [], [_value(nodes[1].output[0])], [k])


def _siblings(c1, c2, runtime=False):
    """y1 = If₁(x), y2 = If₂(y1), then tmp = tanh(y2) in the outer graph (a name both
    branches of both Ifs define), y = tmp + y1. c1, c2 initializers, or inputs (runtime)."""
    nodes = [
        helper.make_node(
            "If",
            ["c1"],
            ["y1"],
            name="first",
            then_branch=_branch((1, "then"), "x", "Mul"),
            else_branch=_branch((1, "else"), "x", "Add"),
        ),
        helper.make_node(
            "If",
            ["c2"],
            ["y2"],
            name="second",
            then_branch=_branch((2, "then"), "y1", "Sub"),
            else_branch=_branch((2, "else"), "y1", "Mul"),
        ),
        helper.make_node("Tanh", ["y2"], ["tmp"]),
        helper.make_node("Add", ["tmp", "y1"], ["y"]),
    ]
    inputs, inits = [_value("x", [2, 3])], []
    for name, c in (("c1", c1), ("c2", c2)):
        if runtime:
            inputs.append(helper.make_tensor_value_info(name, TensorProto.BOOL, []))
        else:
            inits.append(numpy_helper.from_array(np.array(c), name))
    graph = helper.make_graph(nodes, "g", inputs, [_value("y", [2, 3])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)  # valid ONNX: the names are scoped
    return model.SerializeToString()


def _parameter_gradients_by_differences(g, f, x, G, eps=1e-6):
    """∂⟨f(x), G⟩/∂p for every parameter p of g, by central differences (g in float64)."""
    out = {}
    for key, p in g.named_parameters():
        grad = np.zeros_like(p.data)
        for i in np.ndindex(p.data.shape):
            keep = p.data[i]
            p.data[i] = keep + eps
            up = float((f(x) * G).sum())
            p.data[i] = keep - eps
            down = float((f(x) * G).sum())
            p.data[i] = keep
            grad[i] = (up - down) / (2 * eps)
        out[key] = grad
    return out


@pytest.mark.parametrize("c1", [True, False])
@pytest.mark.parametrize("c2", [True, False])
def test_sibling_constant_ifs_whose_branches_reuse_names_load_and_train(c1, c2):
    data = _siblings(c1, c2)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    g = load(data)
    (expected,) = run_onnxruntime(data, {"x": x})
    np.testing.assert_allclose(g(x), expected, rtol=1e-6, atol=1e-6)
    (reference,) = ReferenceEvaluator(onnx.load_from_string(data)).run(None, {"x": x})
    np.testing.assert_allclose(g(x), reference, rtol=1e-6, atol=1e-6)
    # both taken branches' "k": the first keeps its name, the second is named apart
    names = g.initializer_names
    params = dict(g.named_parameters())
    taken = [(1, "then" if c1 else "else"), (2, "then" if c2 else "else")]
    assert set(names) == {"k", "k_1"}
    for onnx_name, which in zip(("k", "k_1"), taken):
        np.testing.assert_array_equal(params[names[onnx_name]].data, K[which])
    assert set(params) == set(names.values())
    g.to(np.float64)
    x64 = x.astype(np.float64)
    check_input_gradients(g, [x64])
    G = rng.standard_normal((2, 3))
    g.zero_grad()
    g(x64)
    g.backward(G)
    for key, want in _parameter_gradients_by_differences(g, g, x64, G).items():
        np.testing.assert_allclose(params[key].grad, want, rtol=1e-6, atol=1e-8)


def test_the_loaded_siblings_save_back(tmp_path):
    data = _siblings(True, False)
    x = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    g = load(data)
    save(g, tmp_path / "m.onnx", x)
    written = (tmp_path / "m.onnx").read_bytes()
    model = onnx.load_from_string(written)
    onnx.checker.check_model(model, full_check=True)
    assert "If" not in {n.op_type for n in model.graph.node}
    (again,) = run_onnxruntime(written, {model.graph.input[0].name: x})
    np.testing.assert_allclose(again, run_onnxruntime(data, {"x": x})[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(load(written)(x), g(x), rtol=1e-6, atol=1e-6)


def test_graphs_with_one_if_or_none_keep_their_names():
    """Nothing is renamed where nothing collides: the only If's branch names stay."""
    data = _siblings(True, True)
    model = onnx.load_from_string(data)
    del model.graph.node[1:]  # only the first If: y1
    model.graph.output[0].name = "y1"
    g = load(model.SerializeToString())
    assert set(g.initializer_names) == {"k"}
    x = np.random.default_rng(2).standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_allclose(g(x), x * K[1, "then"] * x, rtol=1e-6)


def _nested(outer, inner):
    """An outer If whose then branch holds an inner If; the inner If's branches, the outer
    else branch, the branches of a sibling If after it and the outer graph (last) all define
    "tmp", and all those branches an initializer "k"."""
    inner_if = helper.make_node(
        "If",
        ["ci"],
        ["h"],
        name="inner",
        then_branch=_branch((1, "then"), "x", "Mul"),
        else_branch=_branch((1, "else"), "x", "Add"),
    )
    k = numpy_helper.from_array(K[2, "then"], "k0")  # "k" here: ONNX's checker refuses
    outer_then = helper.make_graph(
        [
            helper.make_node("Sub", ["x", "k0"], ["tmp0"], name="n"),
            inner_if,
            helper.make_node("Add", ["tmp0", "h"], ["o1"], name="n2"),
        ],
        "ot",
        [],
        [_value("o1")],
        [k],
    )
    nodes = [
        helper.make_node(
            "If",
            ["co"],
            ["y1"],
            name="outer",
            then_branch=outer_then,
            else_branch=_branch((2, "else"), "x", "Mul"),
        ),
        helper.make_node(
            "If",
            ["co"],
            ["y2"],
            name="sibling",
            then_branch=_branch((1, "then"), "y1", "Sub"),
            else_branch=_branch((1, "else"), "y1", "Add"),
        ),
        helper.make_node("Neg", ["y2"], ["tmp"]),
    ]
    inits = [
        numpy_helper.from_array(np.array(outer), "co"),
        numpy_helper.from_array(np.array(inner), "ci"),
    ]
    graph = helper.make_graph(nodes, "g", [_value("x", [2, 3])], [_value("tmp", [2, 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


@pytest.mark.parametrize("outer", [True, False])
@pytest.mark.parametrize("inner", [True, False])
def test_nested_ifs_reusing_names(outer, inner):
    data = _nested(outer, inner)
    x = np.random.default_rng(3).standard_normal((2, 3)).astype(np.float32)
    g = load(data)
    np.testing.assert_allclose(g(x), run_onnxruntime(data, {"x": x})[0], rtol=1e-6, atol=1e-6)
    reference = ReferenceEvaluator(onnx.load_from_string(data)).run(None, {"x": x})[0]
    np.testing.assert_allclose(g(x), reference, rtol=1e-6, atol=1e-6)
    names = g.initializer_names
    assert len(names) == (3 if outer else 2)  # one "k" per branch taken
    assert set(names.values()) == set(dict(g.named_parameters()))
    g.to(np.float64)
    check_input_gradients(g, [x.astype(np.float64)])


@pytest.mark.parametrize("c1", [True, False])
@pytest.mark.parametrize("c2", [True, False])
def test_run_time_ifs_list_their_branch_initializers(c1, c2):
    """Every branch's "k" (four, of two run-time Ifs) in the outer ``initializer_names``,
    each at a state_dict key holding its values; the one of the branch taken trains."""
    data = _siblings(True, True, runtime=True)
    g = load(data)
    names = g.initializer_names
    assert len(names) == 4 and "k" in names
    state = g.state_dict()
    assert sorted(tuple(state[key]) for key in names.values()) == sorted(
        tuple(v) for v in K.values()
    )
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    feeds = {"x": x, "c1": np.array(c1), "c2": np.array(c2)}
    np.testing.assert_allclose(
        g(x, np.array(c1), np.array(c2)), run_onnxruntime(data, feeds)[0], rtol=1e-6, atol=1e-6
    )
    g.to(np.float64)
    x64 = x.astype(np.float64)

    def f(x):
        return g(x, np.array(c1), np.array(c2))

    G = rng.standard_normal((2, 3))
    g.zero_grad()
    f(x64)
    g.backward(G)
    params = dict(g.named_parameters())
    for key, want in _parameter_gradients_by_differences(g, f, x64, G).items():
        np.testing.assert_allclose(params[key].grad, want, rtol=1e-6, atol=1e-8)
    assert sum(bool(np.any(p.grad)) for p in params.values()) == 2  # one k per If taken


def _computed_conditions():
    """_siblings' two run-time Ifs, their conditions computed from x: c1 = Σx > 0, c2 =
    max(x) > 1 (a graph of one float input, as save's example input is)."""
    model = onnx.load_from_string(_siblings(True, True))
    del model.graph.initializer[:]
    head = [
        helper.make_node("Constant", [], ["zero"], value_float=0.0),
        helper.make_node("Constant", [], ["one"], value_float=1.0),
        helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
        helper.make_node("Greater", ["s", "zero"], ["c1"]),
        helper.make_node("ReduceMax", ["x"], ["mx"], keepdims=0),
        helper.make_node("Greater", ["mx", "one"], ["c2"]),
    ]
    for k, n in enumerate(head):
        model.graph.node.insert(k, n)
    return model.SerializeToString()


def _taking(c1, c2):
    """An x (2, 3) whose Σx > 0 is c1 and max(x) > 1 is c2."""
    x = np.array([[0.5, -0.25, 0.75], [0.25, -0.5, 0.9]], np.float32)
    if c2:
        x[0, 0] = 1.5
    if not c1:
        x[1, 1] = -4.0
    assert (x.sum() > 0, x.max() > 1) == (c1, c2)
    return x


@pytest.mark.parametrize("c1", [True, False])
@pytest.mark.parametrize("c2", [True, False])
def test_a_run_time_if_is_saved_as_an_onnx_if(c1, c2, tmp_path):
    """The two run-time Ifs written back as ONNX Ifs (their branches subgraphs reading the
    outer values and initializers by name): onnxruntime and ONNX's reference run the file,
    on an input taking each branch, to cnnmath's and the original file's outputs; the file
    loads back to the same, and the branches' four "k" keep their values."""
    data = _computed_conditions()
    g = load(data)
    assert sum(hasattr(m, "then_branch") for _, m in g.named_modules()) == 2
    save(g, tmp_path / "m.onnx", _taking(True, True))  # an example taking the then branches
    written = (tmp_path / "m.onnx").read_bytes()
    model = onnx.load_from_string(written)
    assert [n.op_type for n in model.graph.node].count("If") == 2
    x = _taking(c1, c2)
    name = model.graph.input[0].name
    (expected,) = run_onnxruntime(data, {"x": x})
    np.testing.assert_allclose(g(x), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        run_onnxruntime(written, {name: x})[0], expected, rtol=1e-6, atol=1e-6
    )
    reference = ReferenceEvaluator(model).run(None, {name: x})[0]
    np.testing.assert_allclose(reference, expected, rtol=1e-6, atol=1e-6)
    again = load(written)
    np.testing.assert_allclose(again(x), expected, rtol=1e-6, atol=1e-6)
    # the branches' initializers, written under their state_dict keys, read back as such
    before, after = g.state_dict(), again.state_dict()
    for key in g.initializer_names.values():
        np.testing.assert_array_equal(after[again.initializer_names[key]], before[key])
    assert len(g.initializer_names) == 4


def test_a_branch_that_does_not_run_on_the_example_is_refused_by_name(tmp_path):
    """Save runs both branches on the example's values to learn their shapes: an else branch
    reshaping x (2, 3) to 7 elements cannot, and save says so, naming the If."""
    model = onnx.load_from_string(_computed_conditions())
    (second,) = [n for n in model.graph.node if n.name == "second"]
    seven = numpy_helper.from_array(np.array([7], np.int64), "seven")
    other = helper.make_graph(
        [helper.make_node("Reshape", ["y1", "seven"], ["bad"])],
        "else",
        [],
        [_value("bad")],
        [seven],
    )
    (attribute,) = [a for a in second.attribute if a.name == "else_branch"]
    attribute.g.CopyFrom(other)
    g = load(model.SerializeToString())
    with pytest.raises(
        ValueError, match=r"node 'second' \(a run-time If\): its else_branch does not run"
    ):
        save(g, tmp_path / "m.onnx", _taking(True, True))


def test_shapes_are_inferred_inside_an_inlined_branch():
    """A Split (which needs its input's rank at load time) of a value the branch computes:
    its shape comes from inference inside the branch."""
    then = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "x"], ["sq"]),
            helper.make_node("Split", ["sq"], ["a", "b"], axis=1, num_outputs=2),
            helper.make_node("Sub", ["a", "b"], ["d"]),
        ],
        "then",
        [],
        [_value("d")],
    )
    other = helper.make_graph(
        [
            helper.make_node("Split", ["x"], ["a", "b"], axis=1, num_outputs=2),
            helper.make_node("Add", ["a", "b"], ["d"]),
        ],
        "else",
        [],
        [_value("d")],
    )
    for cond in (True, False):
        node = helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)
        c = numpy_helper.from_array(np.array(cond), "c")
        graph = helper.make_graph([node], "g", [_value("x", ["n", 4])], [_value("y")], [c])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
        model.ir_version = 8
        data = model.SerializeToString()
        x = np.random.default_rng(5).standard_normal((3, 4)).astype(np.float32)
        np.testing.assert_allclose(load(data)(x), run_onnxruntime(data, {"x": x})[0], rtol=1e-6)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_torchscript_export_of_sibling_modules_with_ifs_trains_as_torch():
    """Two blocks, each with an ``if`` on the input's height (the TorchScript exporter names
    their branches' values by module path, "/a/…", "/b/…": no collision there), the batch
    axis fixed after export so both conditions fold: outputs and every gradient as PyTorch's
    autograd (float64), parameters found by their ONNX names."""
    import io

    torch = pytest.importorskip("torch")

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(2, 2, 3, padding=1)
            self.scale = torch.nn.Parameter(torch.randn(2, 1, 1))

        def forward(self, x):
            if x.shape[2] > 4:
                y = torch.relu(self.conv(x)) * self.scale
            else:
                y = torch.sigmoid(self.conv(x)) + self.scale
            return y

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = Block()
            self.b = Block()

        def forward(self, x):
            return self.b(self.a(x))

    torch.manual_seed(0)
    net = torch.jit.script(Net())
    x = torch.randn(1, 2, 5, 5)
    buffer = io.BytesIO()
    torch.onnx.export(
        net,
        (x,),
        buffer,
        dynamo=False,
        opset_version=17,
        input_names=["x"],
        dynamic_axes={"x": {0: "n"}},
    )
    model = onnx.load_from_string(buffer.getvalue())
    assert [n.op_type for n in model.graph.node].count("If") == 2
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    g = load(model.SerializeToString())
    assert not any(hasattr(m, "then_branch") for _, m in g.named_modules())
    np.testing.assert_allclose(g(x.numpy()), net(x).detach().numpy(), rtol=1e-5, atol=1e-5)
    assert set(g.initializer_names) == {n for n, _ in net.named_parameters()}
    g.to(np.float64)
    trains_as_torch(net.double(), x.double(), g)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_a_split_of_a_value_whose_rank_is_known_at_run_time(n):
    """What ONNX's AffineGrid expansion writes in an If branch: Split of Squeeze(x), x of
    shape (n, 1, 7) with n given at run time (the Squeeze's rank is 2, or 1 where n = 1):
    each part sized when the graph runs, ⌈7/3⌉ = 3, 3, 1 along axis −1; outputs as
    onnxruntime's, gradients as finite differences."""
    nodes = [
        helper.make_node("Squeeze", ["x"], ["s"]),
        helper.make_node("Split", ["s"], ["a", "b", "c"], axis=-1, num_outputs=3),
        helper.make_node("Mul", ["a", "b"], ["ab"]),
        helper.make_node("Concat", ["ab", "c"], ["y"], axis=-1),
    ]
    graph = helper.make_graph(nodes, "g", [_value("x", ["n", 1, 7])], [_value("y")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    data = model.SerializeToString()
    g = load(data)
    x = np.random.default_rng(6).standard_normal((n, 1, 7)).astype(np.float32)
    expected = run_onnxruntime(data, {"x": x})[0]
    assert expected.shape == ((4,) if n == 1 else (n, 4))
    np.testing.assert_allclose(g(x), expected, rtol=1e-6)
    g.to(np.float64)
    check_input_gradients(g, [x.astype(np.float64)])


def test_range_reads_one_element_bounds_as_onnxruntime():
    """Range(0, W, 1) with W of shape (1,) (the AffineGrid expansion's W, a Split of its size
    input): onnxruntime and ONNX's reference read the one element."""
    i64 = TensorProto.INT64
    nodes = [
        helper.make_node("Constant", [], ["zero"], value_int=0),
        helper.make_node("Constant", [], ["one"], value_int=1),
        helper.make_node("Range", ["zero", "w", "one"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("w", i64, [1])],
        [helper.make_tensor_value_info("y", i64, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    data = model.SerializeToString()
    g = load(data)
    for w in (np.array([5]), np.array([0])):
        expected = run_onnxruntime(data, {"w": w})[0]
        np.testing.assert_array_equal(g(w), expected)
        np.testing.assert_array_equal(ReferenceEvaluator(model).run(None, {"w": w})[0], expected)


def test_nested_run_time_ifs_of_two_outputs_are_saved(tmp_path):
    """test_onnx_if's nested Ifs (an If in a branch, two outputs each), both conditions
    computed from x: the file onnxruntime runs gives the original's outputs, whichever
    branches an input takes (outer then/inner then, outer else, outer then/inner else)."""
    from test_onnx_if import _nested_model

    model = onnx.load_from_string(_nested_model(True, True))
    del model.graph.initializer[:]
    head = [
        helper.make_node("Constant", [], ["z"], value_float=0.0),
        helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
        helper.make_node("Greater", ["s", "z"], ["co"]),
        helper.make_node("ReduceMax", ["x"], ["mx"], keepdims=0),
        helper.make_node("Greater", ["mx", "z"], ["ci"]),
    ]
    for k, n in enumerate(head):
        model.graph.node.insert(k, n)
    model.graph.input[0].CopyFrom(_value("x", [1, 4]))
    data = model.SerializeToString()
    g = load(data)
    xs = [
        np.array([[0.5, 1.0, -0.2, 0.3]], np.float32),
        np.array([[-0.5, -1.0, -0.2, -0.3]], np.float32),
        np.array([[-5.0, -1.0, -0.2, 5.7]], np.float32),
    ]
    save(g, tmp_path / "m.onnx", xs[0])
    written = (tmp_path / "m.onnx").read_bytes()
    name = onnx.load_from_string(written).graph.input[0].name
    taken = set()
    for x in xs:
        taken.add((bool(x.sum() > 0), bool(x.max() > 0)))
        expected = run_onnxruntime(data, {"x": x})
        for got, want in zip(run_onnxruntime(written, {name: x}), expected, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
        for got, want in zip(g(x), expected, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert taken == {(True, True), (False, False), (False, True)}


def test_saving_a_run_time_if_keeps_the_state_dict_keys(tmp_path):
    """load → save → load → save → load of the two run-time Ifs: every load has the first
    load's state_dict keys and values (a branch node's name is written as the branch's own,
    not prefixed by the If's), and each file gives the original's onnxruntime outputs."""
    data = _computed_conditions()
    first = load(data)
    g, keys = first, sorted(first.state_dict())
    x = _taking(True, False)
    (expected,) = run_onnxruntime(data, {"x": x})
    for k in range(2):
        save(g, tmp_path / f"m{k}.onnx", _taking(True, True))
        written = (tmp_path / f"m{k}.onnx").read_bytes()
        name = onnx.load_from_string(written).graph.input[0].name
        np.testing.assert_allclose(
            run_onnxruntime(written, {name: x})[0], expected, rtol=1e-6, atol=1e-6
        )
        g = load(written)
        assert sorted(g.state_dict()) == keys
        for key, value in first.state_dict().items():
            np.testing.assert_array_equal(g.state_dict()[key], value)


def test_range_refuses_a_bound_of_two_axes_as_onnxruntime():
    """Range(0, W, 1) with W of shape (1, 1): onnxruntime refuses it; so does cnnmath, naming
    the input."""
    i64 = TensorProto.INT64
    nodes = [
        helper.make_node("Constant", [], ["zero"], value_int=0),
        helper.make_node("Constant", [], ["one"], value_int=1),
        helper.make_node("Range", ["zero", "w", "one"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("w", i64, [1, 1])],
        [helper.make_tensor_value_info("y", i64, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    data = model.SerializeToString()
    w = np.array([[5]])
    with pytest.raises(Exception):  # noqa: B017 (onnxruntime's own error type)
        run_onnxruntime(data, {"w": w})
    with pytest.raises(ValueError, match=r"'limit'.*\(1, 1\)"):
        load(data)(w)


def test_any_error_of_the_branch_not_taken_is_refused_by_name(tmp_path, monkeypatch):
    """An error other than ValueError (here a ZeroDivisionError raised by the else branch's
    first node) met while save runs the branch not taken: the same message naming the If;
    a KeyboardInterrupt passes through as it is."""
    g = load(_computed_conditions())
    (second,) = [m for name, m in g.named_modules() if name == "second"]
    module = next(iter(second.else_branch._walk("e", tuple(second.else_branch._inputs), None)))
    for error, expected in (
        (ZeroDivisionError, ValueError),
        (KeyboardInterrupt, KeyboardInterrupt),
    ):

        def fail(*args, error=error):
            raise error("boom")

        monkeypatch.setattr(module.module, "forward_ctx", fail)
        match = (
            r"node 'second' \(a run-time If\): its else_branch does not run"
            if expected is ValueError
            else "boom"
        )
        with pytest.raises(expected, match=match):
            save(g, tmp_path / "m.onnx", _taking(True, True))


def test_a_run_time_split_is_saved_only_at_the_opset_it_was_read_at(tmp_path):
    """An opset-14 Split of x (rank unknown at load: sized at run time) into two equal parts:
    at opset 18 its form means ⌈n/k⌉-sized parts (uneven where the original refuses), so
    save refuses it at opset 18, naming the opsets; at opset 14 the file gives onnxruntime's
    parts of the original, from one Split node as read (not one Split per part)."""
    x = helper.make_tensor_value_info("x", F, None)
    outs = [helper.make_tensor_value_info(n, F, None) for n in "ab"]
    graph = helper.make_graph(
        [helper.make_node("Split", ["x"], ["a", "b"], axis=1)], "g", [x], outs
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    data = model.SerializeToString()
    g = load(data)
    example = np.arange(8, dtype=np.float32).reshape(2, 4)
    with pytest.raises(ValueError, match=r"opset-14 file .* got 18"):
        save(g, tmp_path / "m18.onnx", example, opset=18)
    save(g, tmp_path / "m14.onnx", example, opset=14)
    written = (tmp_path / "m14.onnx").read_bytes()
    saved = onnx.load_from_string(written).graph
    assert [n.op_type for n in saved.node] == ["Split"] and len(saved.node[0].output) == 2
    name = saved.input[0].name
    for got, expected in zip(
        run_onnxruntime(written, {name: example}),
        run_onnxruntime(data, {"x": example}),
        strict=True,
    ):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("ranks_differ", [False, True])
def test_a_saved_run_time_if_declares_what_both_branches_allow(ranks_differ, tmp_path, capfd):
    """y = relu(x) if Σx > 0 else (x[:, :, :2], or Flatten(x): another rank), x (n, 3, 4),
    saved on an example taking the then branch. Branches of one rank: onnx infers the If's
    output of free sizes, so onnxruntime runs the else branch without a size warning.
    Branches of different ranks: onnx infers no shape; the file still passes the full check
    (which wants a shape for a graph output) and onnxruntime runs both branches to cnnmath's
    values, warning that the else branch's rank is not the one declared."""
    if ranks_differ:
        other = helper.make_graph(
            [helper.make_node("Flatten", ["x"], ["e"], axis=1)], "else", [], [_value("e")]
        )
    else:
        bounds = [("b", 0), ("e2", 2), ("ax", 2)]  # x[:, :, 0:2]
        starts = [numpy_helper.from_array(np.array([v], np.int64), n) for n, v in bounds]
        other = helper.make_graph(
            [helper.make_node("Slice", ["x", "b", "e2", "ax"], ["e"])],
            "else",
            [],
            [_value("e")],
            initializer=starts,
        )
    then = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then", [], [_value("t")])
    nodes = [
        helper.make_node("Constant", [], ["zero"], value_float=0.0),
        helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
        helper.make_node("Greater", ["s", "zero"], ["c"]),
        helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other),
    ]
    graph = helper.make_graph(nodes, "g", [_value("x", ["n", 3, 4])], [_value("y")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    data = model.SerializeToString()
    g = load(data)
    x = np.abs(np.random.default_rng(7).standard_normal((2, 3, 4))).astype(np.float32) + 0.1
    save(g, tmp_path / "i.onnx", x)
    proto = onnx.load(tmp_path / "i.onnx")
    onnx.checker.check_model(proto, full_check=True)
    written, name = proto.SerializeToString(), proto.graph.input[0].name
    capfd.readouterr()
    for xx in (x, -x[:1]):
        (expected,) = run_onnxruntime(data, {"x": xx})
        np.testing.assert_allclose(run_onnxruntime(written, {name: xx})[0], expected)
        np.testing.assert_allclose(g(xx), expected)
    assert ("VerifyOutputSizes" in capfd.readouterr().err) == ranks_differ


def test_nested_sibling_branches_in_a_run_time_branch_are_named_apart_from_the_file():
    """A run-time If whose then branch holds a run-time If whose two branches each hold an
    initializer "w" (2 and 3), in a file whose outer graph already holds "w_1" (10): the
    nested branches' two "w" are named apart from each other and from the file's "w_1", so
    ``initializer_names`` lists all three, each at a key holding its value, and every
    Parameter of the graph is listed; outputs as onnxruntime's on every path."""

    def const(name, v):
        return numpy_helper.from_array(np.asarray(v, np.float32), name)

    def branch(nodes, out, inits=()):
        return helper.make_graph(nodes, "b", [], [_value(out)], initializer=list(inits))

    inner_then = branch([helper.make_node("Mul", ["x", "w"], ["t"])], "t", [const("w", 2.0)])
    inner_else = branch([helper.make_node("Mul", ["x", "w"], ["t"])], "t", [const("w", 3.0)])
    nested = helper.make_node("If", ["c2"], ["u"], then_branch=inner_then, else_branch=inner_else)
    outer_else = branch([helper.make_node("Add", ["x", "w_1"], ["v"])], "v")
    nodes = [
        helper.make_node(
            "If", ["c1"], ["o"], then_branch=branch([nested], "u"), else_branch=outer_else
        ),  # fmt: skip
        helper.make_node("Add", ["o", "w_1"], ["y"]),
    ]
    bool_in = [helper.make_tensor_value_info(c, TensorProto.BOOL, []) for c in ("c1", "c2")]
    graph = helper.make_graph(
        nodes, "g", [_value("x", [2, 3]), *bool_in], [_value("y")], [const("w_1", 10.0)]
    )
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    data = data.SerializeToString()
    g = load(data)
    names = g.initializer_names
    state = g.state_dict()
    assert sorted(float(state[key]) for key in names.values()) == [2.0, 3.0, 10.0]
    assert {key for key, _ in g.named_parameters()} == set(names.values())
    x = np.random.default_rng(7).standard_normal((2, 3)).astype(np.float32)
    for c1 in (True, False):
        for c2 in (True, False):
            feeds = {"x": x, "c1": np.array(c1), "c2": np.array(c2)}
            want = run_onnxruntime(data, feeds)[0]
            np.testing.assert_allclose(g(x, np.array(c1), np.array(c2)), want, rtol=1e-6)


def test_a_run_time_split_of_three_parts_two_read_is_saved_as_one_split(tmp_path):
    """A Split sized at run time into three parts, the first and last read (by Mul and by the
    output) and the middle one not: the saved file holds one Split whose first and last
    outputs are those the readers read, and gives onnxruntime's values of the original."""
    x = helper.make_tensor_value_info("x", F, None)
    graph = helper.make_graph(
        [
            helper.make_node("Split", ["x"], ["a", "b", "c"], axis=1),
            helper.make_node("Mul", ["a", "a"], ["sq"]),
        ],
        "g",
        [x],
        [helper.make_tensor_value_info(n, F, None) for n in ("sq", "c")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    data = model.SerializeToString()
    g = load(data)
    example = np.random.default_rng(3).standard_normal((2, 6)).astype(np.float32)
    save(g, tmp_path / "m.onnx", example)
    written = (tmp_path / "m.onnx").read_bytes()
    saved = onnx.load_from_string(written).graph
    splits = [n for n in saved.node if n.op_type == "Split"]
    assert len(splits) == 1 and len(splits[0].output) == 3
    name = saved.input[0].name
    for rows in (example, example[:1]):
        want = run_onnxruntime(data, {"x": rows})
        for got, expected in zip(run_onnxruntime(written, {name: rows}), want, strict=True):
            np.testing.assert_array_equal(got, expected)
