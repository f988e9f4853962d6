"""The ONNX If op through ``cnnmath.onnx.load``: a condition known at load time (an
initializer, a Constant, or a comparison of a static shape) inlines the taken branch, whose
nodes may read the outer graph's values and initializers by name; a condition computed at run
time loads both branches and runs the one taken, backward through it. Witnesses onnxruntime,
PyTorch (TorchScript exports) and finite differences. A condition that is not a single bool
and branches of another output count are refused, naming the node.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from cnnmath import nn  # noqa: E402
from cnnmath.onnx import load  # noqa: E402
from helpers import check_input_gradients, run_onnxruntime  # noqa: E402

F = TensorProto.FLOAT


def _model(nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model.SerializeToString()


def _branch(name, nodes, outputs, initializers=()):
    return helper.make_graph(nodes, name, [], outputs, initializer=list(initializers))


def _value(name, shape=None):
    return helper.make_tensor_value_info(name, F, shape)


def _outer_model(cond: bool):
    """y = x·w + b (then: w and b outer initializer and a branch initializer) or
    y = tanh(x) - w (else), cond an initializer."""
    then = _branch(
        "then",
        [
            helper.make_node("Mul", ["x", "w"], ["t1"]),
            helper.make_node("Add", ["t1", "b_then"], ["t_out"]),
        ],
        [_value("t_out")],
        [numpy_helper.from_array(np.array([0.5, -1.0, 2.0], np.float32), "b_then")],
    )
    other = _branch(
        "else",
        [helper.make_node("Tanh", ["x"], ["e1"]), helper.make_node("Sub", ["e1", "w"], ["e_out"])],
        [_value("e_out")],
    )
    nodes = [
        helper.make_node("Relu", ["x_in"], ["x"]),
        helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other, name="the_if"),
    ]
    inits = [
        numpy_helper.from_array(np.array(cond), "c"),
        numpy_helper.from_array(np.array([1.5, 2.0, -0.5], np.float32), "w"),
    ]
    return _model(nodes, [_value("x_in", [2, 3])], [_value("y", [2, 3])], inits)


@pytest.mark.parametrize("cond", [True, False])
def test_constant_condition_inlines_the_taken_branch_reading_outer_values(cond):
    data = _outer_model(cond)
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    g = load(data)
    (expected,) = run_onnxruntime(data, {"x_in": x})
    np.testing.assert_allclose(g(x), expected, rtol=1e-6, atol=1e-6)
    assert not any(type(m).__name__ == "If" for _, m in g.named_modules())
    g.to(np.float64)
    check_input_gradients(g, [np.random.default_rng(1).standard_normal((2, 3)) + 0.1])


def test_parameters_inside_and_outside_the_branch_train():
    data = _outer_model(True)
    g = load(data)
    names = g.initializer_names
    assert {"w", "b_then"} <= set(names)
    x = np.random.default_rng(2).standard_normal((2, 3)).astype(np.float32)
    g.train()
    g(x)
    G = np.ones((2, 3), np.float32)
    g.zero_grad()
    g.backward(G)
    params = dict(g.named_parameters())
    # y = relu(x)·w + b: ∂/∂w = Σ_batch relu(x), ∂/∂b = Σ_batch 1
    np.testing.assert_allclose(params[names["w"]].grad, np.maximum(x, 0).sum(0), rtol=1e-6)
    np.testing.assert_allclose(params[names["b_then"]].grad, np.full(3, 2.0), rtol=1e-6)


@pytest.mark.parametrize("width", [3, 5])
def test_condition_folded_from_a_static_shape(width):
    """cond = Shape(x)[1] > 4, folded at load time from the declared shape."""
    then = _branch("then", [helper.make_node("Sigmoid", ["x"], ["a"])], [_value("a")])
    other = _branch("else", [helper.make_node("Neg", ["x"], ["b"])], [_value("b")])
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "one"], ["w"], axis=0),
        helper.make_node("Greater", ["w", "four"], ["c"]),
        helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other),
    ]
    inits = [
        numpy_helper.from_array(np.array(1, np.int64), "one"),
        numpy_helper.from_array(np.array(4, np.int64), "four"),
    ]
    data = _model(nodes, [_value("x", [2, width])], [_value("y")], inits)
    x = np.random.default_rng(3).standard_normal((2, width)).astype(np.float32)
    (expected,) = run_onnxruntime(data, {"x": x})
    np.testing.assert_allclose(load(data)(x), expected, rtol=1e-6, atol=1e-6)


def _nested_model(outer, inner):
    inner_then = _branch(
        "it",
        [helper.make_node("Mul", ["h", "x"], ["p"]), helper.make_node("Exp", ["x"], ["q"])],
        [_value("p"), _value("q")],
    )
    inner_else = _branch(
        "ie",
        [helper.make_node("Add", ["h", "x"], ["p2"]), helper.make_node("Abs", ["h"], ["q2"])],
        [_value("p2"), _value("q2")],
    )
    outer_then = _branch(
        "ot",
        [
            helper.make_node("Sin", ["x"], ["h"]),
            helper.make_node(
                "If", ["ci"], ["u", "v"], then_branch=inner_then, else_branch=inner_else
            ),
        ],
        [_value("u"), _value("v")],
    )
    outer_else = _branch(
        "oe",
        [helper.make_node("Cos", ["x"], ["k"]), helper.make_node("Identity", ["x"], ["k2"])],
        [_value("k"), _value("k2")],
    )
    nodes = [
        helper.make_node("If", ["co"], ["y1", "y2"], then_branch=outer_then, else_branch=outer_else)
    ]
    inits = [
        numpy_helper.from_array(np.array([outer]), "co"),
        numpy_helper.from_array(np.array(inner), "ci"),
    ]
    return _model(nodes, [_value("x", [4])], [_value("y1"), _value("y2")], inits)


@pytest.mark.parametrize("outer", [True, False])
@pytest.mark.parametrize("inner", [True, False])
def test_nested_if_with_several_outputs(outer, inner):
    data = _nested_model(outer, inner)
    x = np.random.default_rng(4).standard_normal(4).astype(np.float32)
    got, expected = load(data)(x), run_onnxruntime(data, {"x": x})
    assert len(got) == 2
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_an_unsupported_op_in_the_branch_not_taken_does_not_matter():
    then = _branch("then", [helper.make_node("Relu", ["x"], ["a"])], [_value("a")])
    other = _branch("else", [helper.make_node("Det", ["x"], ["b"])], [_value("b")])
    nodes = [
        helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(np.array(True))),
        helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other),
    ]
    data = _model(nodes, [_value("x", [3, 3])], [_value("y")])
    x = np.random.default_rng(5).standard_normal((3, 3)).astype(np.float32)
    np.testing.assert_array_equal(load(data)(x), np.maximum(x, 0))
    flipped = data.replace(b"Det", b"Det")  # the same file taking the else branch is refused
    model = onnx.load_from_string(flipped)
    model.graph.node[0].attribute[0].t.CopyFrom(numpy_helper.from_array(np.array(False)))
    with pytest.raises(ValueError, match=r"'Det' is not supported"):
        load(model.SerializeToString())


def _plain_if(cond_input, then_out=1, else_out=1, n_out=1):
    then = _branch(
        "then",
        [helper.make_node("Relu", ["x"], [f"a{i}"]) for i in range(then_out)],
        [_value(f"a{i}") for i in range(then_out)],
    )
    other = _branch(
        "else",
        [helper.make_node("Neg", ["x"], [f"b{i}"]) for i in range(else_out)],
        [_value(f"b{i}") for i in range(else_out)],
    )
    outs = [f"y{i}" for i in range(n_out)]
    return helper.make_node(
        "If", [cond_input], outs, then_branch=then, else_branch=other, name="pick"
    )


def _runtime_model(n_out=1):
    """_outer_model's branches, cond a graph input."""
    model = onnx.load_from_string(_outer_model(True))
    graph = model.graph
    del graph.initializer[0]  # c
    graph.input.append(helper.make_tensor_value_info("c", TensorProto.BOOL, []))
    return model.SerializeToString()


@pytest.mark.parametrize("cond", [True, False])
def test_run_time_condition_runs_the_branch_taken_and_its_backward(cond):
    data = _runtime_model()
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    c = np.array(cond)
    g = load(data)
    (expected,) = run_onnxruntime(data, {"x_in": x, "c": c})
    np.testing.assert_allclose(g(x, c), expected, rtol=1e-6, atol=1e-6)
    # one Parameter for the outer initializer w, read by both branches and trained by both
    names = g.initializer_names
    params = dict(g.named_parameters())
    assert len([k for k in params if k == names["w"]]) == 1
    G = rng.standard_normal((2, 3)).astype(np.float32)
    g.zero_grad()
    g(x, c)
    gx, gc = g.backward(G)
    r = np.maximum(x, 0)
    if cond:  # y = relu(x)·w + b
        np.testing.assert_allclose(params[names["w"]].grad, (G * r).sum(0), rtol=1e-5)
        (branch,) = [m.then_branch for _, m in g.named_modules() if hasattr(m, "then_branch")]
        b = dict(branch.named_parameters())[branch.initializer_names["b_then"]]
        np.testing.assert_allclose(b.grad, G.sum(0), rtol=1e-5)
        np.testing.assert_allclose(gx, G * params[names["w"]].data * (x > 0), rtol=1e-5)
    else:  # y = tanh(relu(x)) - w
        np.testing.assert_allclose(params[names["w"]].grad, -G.sum(0), rtol=1e-5)
        np.testing.assert_allclose(gx, G * (1 - np.tanh(r) ** 2) * (x > 0), rtol=1e-5, atol=1e-7)
    assert not gc.any()
    g.to(np.float64)
    check_input_gradients(g, [rng.standard_normal((2, 3)) + 0.1, c], wrt=[0])


@pytest.mark.parametrize("outer", [True, False])
@pytest.mark.parametrize("inner", [True, False])
def test_nested_run_time_ifs_with_several_outputs(outer, inner):
    model = onnx.load_from_string(_nested_model(True, True))
    del model.graph.initializer[:]
    for name in ("co", "ci"):
        model.graph.input.append(helper.make_tensor_value_info(name, TensorProto.BOOL, [1]))
    data = model.SerializeToString()
    x = np.random.default_rng(8).standard_normal(4).astype(np.float32)
    co, ci = np.array([outer]), np.array([inner])
    got, expected = load(data)(x, co, ci), run_onnxruntime(data, {"x": x, "co": co, "ci": ci})
    assert len(got) == 2
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_a_run_time_condition_not_bool_is_refused():
    data = _model([_plain_if("c")], [_value("x", [2]), _value("c", [])], [_value("y0")])
    with pytest.raises(
        ValueError, match=r"node 'pick' \(If\): input 'cond': expected a single bool"
    ):
        load(data)
    cond = helper.make_tensor_value_info("c", TensorProto.BOOL, None)
    g = load(_model([_plain_if("c")], [_value("x", [2]), cond], [_value("y0")]))
    x = np.ones(2, np.float32)
    with pytest.raises(
        ValueError, match=r"node 'pick' \(If\): input 'cond': expected a single bool"
    ):
        g(x, np.array([True, False]))


def test_a_run_time_if_is_saved_as_an_onnx_if(tmp_path):
    """Written back as an If whose branches are subgraphs: onnxruntime runs the file to the
    original's outputs on an input taking each branch."""
    from cnnmath.onnx import save

    model = onnx.load_from_string(_outer_model(True))
    graph = model.graph
    del graph.initializer[0]  # c, computed here from x: c = (Σx ≠ 0)
    graph.node.insert(0, helper.make_node("ReduceSum", ["x_in"], ["s"], keepdims=0))
    graph.node.insert(1, helper.make_node("Cast", ["s"], ["c"], to=TensorProto.BOOL))
    data = model.SerializeToString()
    g = load(data)
    x = np.random.default_rng(9).standard_normal((2, 3)).astype(np.float32)
    save(g, tmp_path / "m.onnx", x)
    written = (tmp_path / "m.onnx").read_bytes()
    name = onnx.load_from_string(written).graph.input[0].name
    for taking in (x, x - x.mean()):  # Σx ≠ 0: then; Σx = 0: else
        (expected,) = run_onnxruntime(data, {"x_in": taking})
        np.testing.assert_allclose(
            run_onnxruntime(written, {name: taking})[0], expected, rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(g(taking), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "cond", [np.array([True, False]), np.array(1.0, np.float32), np.array(1, np.int64)]
)
def test_a_condition_that_is_not_a_single_bool_is_refused(cond):
    data = _model(
        [_plain_if("c")], [_value("x", [2])], [_value("y0")], [numpy_helper.from_array(cond, "c")]
    )
    with pytest.raises(
        ValueError, match=r"node 'pick' \(If\): input 'cond': expected a single bool"
    ):
        load(data)


@pytest.mark.parametrize("known", [True, False])
def test_branch_output_counts_that_differ_are_refused(known):
    """At load time, whether the condition is known then (the else branch is not taken) or
    computed at run time."""
    c = [numpy_helper.from_array(np.array(True), "c")] if known else []
    inputs = [_value("x", [2])]
    if not known:
        inputs.append(helper.make_tensor_value_info("c", TensorProto.BOOL, []))
    data = _model([_plain_if("c", 1, 2, 1)], inputs, [_value("y0")], c)
    with pytest.raises(
        ValueError,
        match=r"node 'pick' \(If\): attribute 'else_branch': "
        r"expected 1 outputs .*got 2",
    ):
        load(data)


def _exported(net, x, torch):
    """``net`` exported by the TorchScript exporter with a symbolic batch axis (which keeps
    the If: with every axis fixed the exporter folds it away), then that axis fixed at
    x's batch size in the file, as for a deployment at batch 1: the condition then folds."""
    import io

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
    assert [n.op_type for n in model.graph.node].count("If") == 1
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = x.shape[0]
    return model.SerializeToString()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("size", [4, 6])
def test_a_scripted_torch_module_with_shape_dependent_control_flow(size):
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(2, 3, 3, padding=1)

        def forward(self, x):
            y = self.conv(x)
            if x.shape[2] > 4:
                y = torch.relu(y) * 2.0
            else:
                y = torch.sigmoid(y) - x.sum()
            return y

    torch.manual_seed(0)
    net = torch.jit.script(Net())
    x = torch.randn(1, 2, size, size, dtype=torch.float32)
    data = _exported(net, x, torch)
    g = load(data)
    xn = x.numpy()
    expected = net(x).detach().numpy()
    np.testing.assert_allclose(g(xn), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(g(xn), run_onnxruntime(data, {"x": xn})[0], rtol=1e-5, atol=1e-5)
    # gradients of the input: PyTorch's autograd, then finite differences in float64
    xt = x.clone().requires_grad_(True)
    G = torch.randn(expected.shape)
    (net(xt) * G).sum().backward()
    g(xn)
    np.testing.assert_allclose(g.backward(G.numpy()), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    g.to(np.float64)
    check_input_gradients(g, [xn.astype(np.float64) + 0.05])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("size", [4, 6])
def test_the_export_with_a_symbolic_batch_axis_runs_its_if_at_run_time(size):
    """Shape(x)[2] of an input with a symbolic axis is not folded: a run-time condition,
    both branches loaded, the one taken run; at batch sizes 1 and 3."""
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def forward(self, x):
            if x.shape[2] > 4:
                return torch.relu(x) * 3.0
            return torch.sigmoid(x)

    net = torch.jit.script(Net())
    model = onnx.load_from_string(_exported(net, torch.randn(1, 2, 5, 5), torch))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for k, symbol in ((0, "n"), (2, "h"), (3, "w")):  # sizes other than the export's
        dims[k].dim_param = symbol
    data = model.SerializeToString()
    g = load(data)
    assert any(hasattr(m, "then_branch") for _, m in g.named_modules())
    for batch in (1, 3):
        x = torch.randn(batch, 2, size, size)
        expected = net(x).numpy()
        np.testing.assert_allclose(g(x.numpy()), expected, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(
            run_onnxruntime(data, {"x": x.numpy()})[0], expected, rtol=1e-6, atol=1e-6
        )


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_a_scripted_torch_module_with_data_dependent_control_flow(sign, tmp_path):
    """if Σ conv(x) > 0: one branch, else the other — a run-time condition; outputs equal to
    PyTorch's and onnxruntime's, the input's gradient to autograd's and finite differences,
    the conv's weight gradient (an outer initializer read before the If) to autograd's; saved
    back (an If again), onnxruntime runs the file to PyTorch's outputs."""
    from cnnmath.onnx import save

    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(2, 3, 3, padding=1)
            self.scale = torch.nn.Parameter(torch.tensor([0.5, -2.0, 1.5]).reshape(3, 1, 1))

        def forward(self, x):
            y = self.conv(x)
            if bool(y.sum() > 0):
                y = torch.relu(y) * self.scale
            else:
                y = torch.tanh(y) - x.sum()
            return y

    torch.manual_seed(0)
    net = torch.jit.script(Net())
    with torch.no_grad():  # an input taking the branch the sign asks for
        x = next(
            x
            for x in (torch.randn(2, 2, 5, 5) for _ in range(100))
            if bool(net.conv(x).sum() > 0) == (sign > 0)
        )
    import io

    buffer = io.BytesIO()
    torch.onnx.export(net, (x,), buffer, dynamo=False, opset_version=17, input_names=["x"])
    data = buffer.getvalue()
    assert "If" in {n.op_type for n in onnx.load_from_string(data).graph.node}
    g = load(data)
    xn = x.detach().numpy()
    expected = net(x).detach().numpy()
    np.testing.assert_allclose(g(xn), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(run_onnxruntime(data, {"x": xn})[0], expected, rtol=1e-5, atol=1e-5)
    save(g, tmp_path / "m.onnx", xn)
    written = (tmp_path / "m.onnx").read_bytes()
    assert "If" in {n.op_type for n in onnx.load_from_string(written).graph.node}
    name = onnx.load_from_string(written).graph.input[0].name
    np.testing.assert_allclose(
        run_onnxruntime(written, {name: xn})[0], expected, rtol=1e-5, atol=1e-5
    )
    xt = x.clone().requires_grad_(True)
    G = torch.randn(expected.shape)
    net.zero_grad()
    (net(xt) * G).sum().backward()
    g.zero_grad()
    g(xn)
    np.testing.assert_allclose(g.backward(G.numpy()), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    params = {id(p): p for p in g.parameters()}
    weights = [p for p in params.values() if p.shape == (3, 2, 3, 3)]
    assert len(weights) == 1
    np.testing.assert_allclose(weights[0].grad, net.conv.weight.grad.numpy(), rtol=1e-4, atol=1e-5)
    if sign > 0:  # the scale, read only inside the branch taken
        (scale,) = [p for p in params.values() if p.shape == (3, 1, 1)]
        np.testing.assert_allclose(scale.grad, net.scale.grad.numpy(), rtol=1e-4, atol=1e-5)
    g.to(np.float64)
    check_input_gradients(g, [xn.astype(np.float64)])


def test_a_loaded_if_is_saved_as_its_inlined_branch(tmp_path):
    from cnnmath.onnx import save

    data = _outer_model(False)
    x = np.random.default_rng(6).standard_normal((2, 3)).astype(np.float32)
    g = load(data)
    save(g, tmp_path / "m.onnx", x)
    written = (tmp_path / "m.onnx").read_bytes()
    assert "If" not in {n.op_type for n in onnx.load_from_string(written).graph.node}
    (expected,) = run_onnxruntime(data, {"x_in": x})
    (again,) = run_onnxruntime(written, {onnx.load_from_string(written).graph.input[0].name: x})
    np.testing.assert_allclose(again, expected, rtol=1e-6, atol=1e-6)


def _view_model(cond):
    """y = x ⊙ reshape(w, (1, 3)) (then) or −x (else): w an outer initializer read only
    through a Reshape inside a branch; cond an initializer (True, False) or an input (None)."""
    shape = numpy_helper.from_array(np.array([1, 3], np.int64), "shape")
    body = [
        helper.make_node("Reshape", ["w", "shape"], ["wr"]),
        helper.make_node("Mul", ["x", "wr"], ["y0"]),
    ]
    then = _branch("then", body, [_value("y0")])
    other = _branch("else", [helper.make_node("Neg", ["x"], ["e"])], [_value("e")])
    inits = [numpy_helper.from_array(np.array([1.5, 2.0, -0.5], np.float32), "w"), shape]
    inputs = [_value("x", [2, 3])]
    if cond is None:
        inputs.append(helper.make_tensor_value_info("c", TensorProto.BOOL, []))
    else:
        inits.append(numpy_helper.from_array(np.array(cond), "c"))
    node = helper.make_node("If", ["c"], ["y"], name="the_if", then_branch=then, else_branch=other)
    return _model([node], inputs, [_value("y", [2, 3])], inits)


def test_an_initializer_read_through_a_reshape_in_the_inlined_branch_trains_as_without_if():
    """The loader keeps a Reshape of an initializer trainable where the Reshape is its only
    reader; the If's own count of its branches' reads must not make the inlined branch's
    Reshape a second reader: the same parameter as the flat graph, trained by the same
    gradient."""
    graph = load(_view_model(True))
    assert [(n, p.shape) for n, p in graph.named_parameters()] == [("y0.b", (1, 3))]
    assert graph.initializer_names == {"w": "y0.b"}
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    graph.zero_grad()
    graph(x)
    graph.backward(np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(graph.y0.b.grad, x.sum(axis=0, keepdims=True))


@pytest.mark.parametrize("cond", [True, False])
def test_an_outer_initializer_reshaped_only_in_a_run_time_branch_trains(cond):
    """w read only through a Reshape inside a run-time branch: the branch's reshaped copy is
    the only one, so it is w's (listed in initializer_names) and trains: ∂⟨x ⊙ w, G⟩/∂w =
    Σ_rows x ⊙ G on the branch taken, nothing on the other. Outputs are onnxruntime's."""
    data = _view_model(None)
    graph = load(data)
    x = np.array([[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]], np.float32)
    c = np.array(cond)
    np.testing.assert_allclose(graph(x, c), run_onnxruntime(data, {"x": x, "c": c})[0], rtol=1e-6)
    w = dict(graph.named_parameters())[graph.initializer_names["w"]]
    G = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
    graph.train()
    graph.zero_grad()
    graph(x, c)
    graph.backward(G)
    want = (x * G).sum(axis=0) if cond else np.zeros(3, np.float32)
    np.testing.assert_allclose(np.zeros(3) if w.grad is None else w.grad.reshape(-1), want)


def test_an_outer_initializer_read_as_it_is_and_as_a_view_in_a_run_time_branch_is_refused():
    """W read by the graph (a MatMul: its Linear holds Wᵀ) and by a MatMul inside a run-time
    branch (a view of its own there): the two copies would train apart, so the file is
    refused by name, not trained apart (a square W once loaded and gave wrong outputs)."""
    w = numpy_helper.from_array(np.arange(9, dtype=np.float32).reshape(3, 3) / 9, "W")
    then = _branch("then", [helper.make_node("MatMul", ["x", "W"], ["t"])], [_value("t")])
    other = _branch("else", [helper.make_node("Neg", ["x"], ["e"])], [_value("e")])
    nodes = [
        helper.make_node("If", ["c"], ["o"], name="the_if", then_branch=then, else_branch=other),
        helper.make_node("MatMul", ["x", "W"], ["p"]),
        helper.make_node("Add", ["o", "p"], ["y"]),
    ]
    inputs = [_value("x", [2, 3]), helper.make_tensor_value_info("c", TensorProto.BOOL, [])]
    with pytest.raises(ValueError, match=r"node 'the_if' \(If\): the outer initializer 'W' is "
                       r"read as it is \(by the graph, or a subgraph that keeps it "
                       r"untransposed\) and, reshaped or transposed"):  # fmt: skip
        load(_model(nodes, inputs, [_value("y", [2, 3])], [w]))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_one_square_linear_in_both_run_time_branches_is_one_weight(sign):
    """A Linear(4, 4) called in both branches of a data-dependent if: the exporter writes
    its transposed weight once, read by both branches' MatMuls; the branches' Linears hold
    one Parameter, so outputs are PyTorch's (a square weight was once swapped in untransposed)
    and one backward gives autograd's gradients on either branch."""
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 4)

        def forward(self, x):
            if bool(x.sum() > 0):
                y = self.fc(x) * 2
            else:
                y = self.fc(-x)
            return y

    torch.manual_seed(0)
    net = torch.jit.script(Net())
    x = sign * torch.rand(3, 5, 4)
    import io

    buffer = io.BytesIO()
    torch.onnx.export(net, (x,), buffer, dynamo=False, opset_version=17, input_names=["x"])
    graph = load(buffer.getvalue())
    linears = [m for _, m in graph.named_modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 2 and linears[0].weight is linears[1].weight
    xn = x.numpy()
    expected = net(x).detach().numpy()
    np.testing.assert_allclose(graph(xn), expected, rtol=1e-5, atol=1e-6)
    G = torch.randn(expected.shape)
    net.zero_grad()
    (net(x) * G).sum().backward()
    graph.train()
    graph.zero_grad()
    graph(xn)
    graph.backward(G.numpy())
    np.testing.assert_allclose(
        linears[0].weight.grad, net.fc.weight.grad.numpy(), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("runtime", [False, True])
def test_a_branch_initializer_shadowing_an_outer_value_is_refused(runtime):
    """onnxruntime and ONNX's reference read the outer value where a branch initializer has
    its name; cnnmath refuses the file rather than read the other one, whichever way the
    condition is known."""
    then = _branch(
        "then",
        [helper.make_node("Add", ["x", "w"], ["t"])],
        [_value("t")],
        [numpy_helper.from_array(np.array([9.0, 9.0], np.float32), "w")],
    )
    other = _branch("else", [helper.make_node("Neg", ["x"], ["e"])], [_value("e")])
    inits = [numpy_helper.from_array(np.array([1.0, 2.0], np.float32), "w")]
    inputs = [_value("x", [2])]
    if runtime:
        inputs.append(helper.make_tensor_value_info("c", TensorProto.BOOL, []))
    else:
        inits.append(numpy_helper.from_array(np.array(True), "c"))
    node = helper.make_node("If", ["c"], ["y"], name="the_if", then_branch=then, else_branch=other)
    with pytest.raises(
        ValueError, match=r"node 'the_if' \(If\): a branch's initializer 'w' shadows"
    ):
        load(_model([node], inputs, [_value("y", [2])], inits))
