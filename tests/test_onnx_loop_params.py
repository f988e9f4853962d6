"""The parameters of a loaded ONNX Loop: a float initializer given as a loop-carried initial
value, a body's reshaped initializer, a weight read by a nested loop and by an If in the
outer body; the run-time Loop's refusals; a loaded Loop saved and loaded again keeps its
state_dict keys. Witnesses: onnxruntime, PyTorch (autograd, TorchScript exports) and central
finite differences.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from cnnmath.onnx import load, save  # noqa: E402
from cnnmath.onnx._ops.control import UNROLL_LIMIT, _Loop  # noqa: E402
from helpers import run_onnxruntime, torch_onnx_export  # noqa: E402

F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


def _v(name, elem=F, shape=None):
    return helper.make_tensor_value_info(name, elem, shape)


def _model(nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model.SerializeToString()


def _runtime_loops(g):
    return [m for _, m in g.named_modules() if isinstance(m, _Loop)]


def _param_fd(g, param, args, G, eps=1e-6):
    """∂⟨g(*args), G⟩/∂param by central differences (g in float64)."""
    out = np.zeros_like(param.data)
    flat = param.data.reshape(-1)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + eps
        up = float(np.sum(g(*args) * G))
        flat[i] = keep - eps
        down = float(np.sum(g(*args) * G))
        flat[i] = keep
        out.reshape(-1)[i] = (up - down) / (2 * eps)
    return out


# -- 1. a float initializer as a loop-carried initial value --------------------------------

_A0 = np.array([0.3, -0.7, 0.5], np.float32)


def _initial_value_model(trips, m_input):
    """acc ← tanh(acc ⊙ x + acc), acc's initial value the float initializer a0; M a
    Constant of ``trips`` or a graph input."""
    body = helper.make_graph(
        [
            helper.make_node("Mul", ["acc", "x"], ["ax"]),
            helper.make_node("Add", ["ax", "acc"], ["s"]),
            helper.make_node("Tanh", ["s"], ["acc_o"]),
            helper.make_node("Identity", ["c"], ["co"]),
        ],
        "body",
        [_v("i", I64, []), _v("c", B, []), _v("acc", F, [3])],
        [_v("co", B, []), _v("acc_o", F, [3])],
    )
    inits = [numpy_helper.from_array(_A0, "a0")]
    inputs = [_v("x", F, [3])]
    if m_input:
        inputs.append(_v("M", I64, []))
    else:
        inits.append(numpy_helper.from_array(np.array(trips, np.int64), "M"))
    loop = helper.make_node("Loop", ["M", "", "a0"], ["y"], body=body, name="L")
    return _model([loop], inputs, [_v("y")], inits)


@pytest.mark.parametrize(
    "trips, m_input", [(3, False), (UNROLL_LIMIT + 6, False), (3, True), (0, True)]
)
def test_an_initializer_initial_value_trains_unrolled_or_at_run_time(trips, m_input):
    """a0 is one Parameter (listed in initializer_names) whether the loop unrolls or runs;
    its gradient, summed through every iteration, equals PyTorch's autograd of the same
    recurrence and central differences (run-time loops kept it a constant: no gradient)."""
    torch = pytest.importorskip("torch")
    data = _initial_value_model(trips, m_input)
    g = load(data)
    assert bool(_runtime_loops(g)) == (m_input or trips > UNROLL_LIMIT)
    (param,) = g.parameters()
    assert g.initializer_names["a0"] in dict(g.named_parameters())
    x = np.array([0.4, -0.2, 0.9], np.float32)
    args = (x, np.array(trips, np.int64)) if m_input else (x,)
    feeds = dict(zip(["x", "M"], args))
    np.testing.assert_allclose(g(*args), run_onnxruntime(data, feeds)[0], rtol=1e-5, atol=1e-6)
    G = np.array([1.0, -2.0, 0.5], np.float32)
    at = torch.tensor(_A0.astype(np.float64), requires_grad=True)
    xt = torch.tensor(x.astype(np.float64))
    acc = at
    for _ in range(trips):
        acc = torch.tanh(acc * xt + acc)
    (acc * torch.tensor(G, dtype=torch.float64)).sum().backward()
    g.zero_grad()
    g(*args)
    g.backward(G)
    np.testing.assert_allclose(param.grad, at.grad.numpy(), rtol=1e-4, atol=1e-6)
    g.to(np.float64)
    (param,) = g.parameters()
    fd = _param_fd(g, param, (x.astype(np.float64), *args[1:]), G.astype(np.float64))
    g.zero_grad()
    g(x.astype(np.float64), *args[1:])
    g.backward(G.astype(np.float64))
    np.testing.assert_allclose(param.grad, fd, rtol=1e-5, atol=1e-8)


def test_a_trained_initial_value_is_saved_as_an_initializer(tmp_path):
    """for each row x_i of x (n, 3): acc ← tanh(acc + x_i), acc's initial value a0 (M is
    x's row count, known at run time). Saved back, the run-time Loop reads a0 as an
    initializer named by its state_dict key, with its trained values: onnxruntime runs the
    file at two batch sizes, and the reload holds a0 as a Parameter again."""
    body = helper.make_graph(
        [
            helper.make_node("Gather", ["x", "i"], ["row"], axis=0),
            helper.make_node("Add", ["acc", "row"], ["s"]),
            helper.make_node("Tanh", ["s"], ["acc_o"]),
            helper.make_node("Identity", ["c"], ["co"]),
        ],
        "body",
        [_v("i", I64, []), _v("c", B, []), _v("acc", F, [3])],
        [_v("co", B, []), _v("acc_o", F, [3])],
    )
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["M"], axis=0),
        helper.make_node("Loop", ["M", "", "a0"], ["y"], body=body),
    ]
    inits = [
        numpy_helper.from_array(_A0, "a0"),
        numpy_helper.from_array(np.array(0, np.int64), "zero"),
    ]
    g = load(_model(nodes, [_v("x", F, ["n", 3])], [_v("y")], inits))
    assert _runtime_loops(g)
    (param,) = g.parameters()
    param.data[...] = param.data * 2  # as if trained: the file must hold the new values
    x = np.array([[0.4, -0.2, 0.9], [0.1, 0.3, -0.5]], np.float32)
    save(g, tmp_path / "l.onnx", x)
    written = (tmp_path / "l.onnx").read_bytes()
    proto = onnx.load_from_string(written)
    key = g.initializer_names["a0"]
    assert key in {t.name for t in proto.graph.initializer}
    name = proto.graph.input[0].name
    for rows in (x, np.concatenate([x, x[::-1] * 0.5])):
        expected = 2 * _A0
        for r in rows:
            expected = np.tanh(expected + r)
        np.testing.assert_allclose(g(rows), expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(run_onnxruntime(written, {name: rows})[0], expected, atol=1e-6)
    again = load(written)
    assert [k for k, _ in again.named_parameters()] == [key]
    np.testing.assert_allclose(again(x), g(x), rtol=1e-6)


# -- 3. a body initializer reshaped in an unrolled loop --------------------------------------

_W = np.array([0.9, -0.5, 1.1], np.float32)


def _reshaped_model(trips, outer):
    """acc ← acc ⊙ Reshape(w, (1, 3)), acc of shape (2, 3); w the body's initializer, or
    (``outer``) the graph's."""
    body = helper.make_graph(
        [
            helper.make_node("Reshape", ["w", "shape"], ["w2"]),
            helper.make_node("Mul", ["acc", "w2"], ["acc_o"]),
            helper.make_node("Identity", ["c"], ["co"]),
        ],
        "body",
        [_v("i", I64, []), _v("c", B, []), _v("acc", F, [2, 3])],
        [_v("co", B, []), _v("acc_o", F, [2, 3])],
        initializer=[] if outer else [numpy_helper.from_array(_W, "w")],
    )
    inits = [
        numpy_helper.from_array(np.array(trips, np.int64), "M"),
        numpy_helper.from_array(np.array([1, 3], np.int64), "shape"),
    ]
    if outer:
        inits.append(numpy_helper.from_array(_W, "w"))
    loop = helper.make_node("Loop", ["M", "", "x"], ["y"], body=body)
    return _model([loop], [_v("x", F, [2, 3])], [_v("y")], inits)


@pytest.mark.parametrize("outer", [False, True])
@pytest.mark.parametrize("trips", [3, UNROLL_LIMIT + 1])
def test_a_reshaped_initializer_is_one_parameter_in_every_iteration(trips, outer):
    """Σ G ⊙ (x ⊙ w^M) in an unrolled loop: each iteration folds its own Reshape of w, and
    each made a Parameter of its own (the body's w: M of them, each with one iteration's
    share of the gradient; the graph's w: the first iteration's trained, the others
    frozen). One Parameter, ∂/∂w = M · Σ_rows(G ⊙ x) ⊙ w^(M−1), as run at run time."""
    data = _reshaped_model(trips, outer)
    g = load(data)
    assert bool(_runtime_loops(g)) == (trips > UNROLL_LIMIT)
    x = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]], np.float32)
    np.testing.assert_allclose(g(x), run_onnxruntime(data, {"x": x})[0], rtol=1e-5)
    (param,) = g.parameters()
    assert dict(g.named_parameters())[g.initializer_names["w"]] is param
    G = np.array([[1.0, -1.0, 0.5], [2.0, 0.5, -1.0]], np.float32)
    g.zero_grad()
    g(x)
    g.backward(G)
    w64 = _W.astype(np.float64)
    expected = trips * (G * x).sum(0) * w64 ** (trips - 1)
    np.testing.assert_allclose(param.grad.reshape(-1), expected, rtol=1e-4)


# -- 2. one Linear in a nested loop and in an If of the outer body ----------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_linear_in_a_nested_loop_and_an_if_of_the_outer_body_trains_as_torch():
    """for i: (for j: y = tanh(lin(y))); y = lin(y) if Σy > 0 else lin(−y), y of rank 3:
    TorchScript reads lin's transposed weight in the inner body and, through two Identity
    aliases, in the If's branches. The inner loop's output rank was unknown, so the
    branches held the weight as it is and the inner body its transpose: refused as two
    copies. Loaded, it is one weight and one bias; outputs equal PyTorch's and onnxruntime's,
    the gradients of the input, weight and bias autograd's, with either branch taken."""
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)

        def forward(self, x):
            y = x
            for _ in range(x.size(0)):
                for _ in range(x.size(1)):
                    y = torch.tanh(self.lin(y))
                if bool(y.sum() > 0):
                    y = self.lin(y)
                else:
                    y = self.lin(-y)
            return y

    torch.manual_seed(0)
    plain = Net()
    with torch.no_grad():  # the body then odd in x: x and −x take different branches
        plain.lin.bias.zero_()
    net = torch.jit.script(plain)
    data = torch_onnx_export(
        net, torch.randn(3, 2, 4), opset_version=17, dynamic_axes={"x": {0: "n"}}
    )
    g = load(data)
    assert len(g.parameters()) == 2
    taken = set()
    for shape in ((3, 2, 4), (2, 2, 4)):
        for sign in (1.0, -1.0):
            xt = (sign * torch.randn(*shape)).requires_grad_(True)
            expected = net(xt)
            with torch.no_grad():  # the branches this input takes
                y = xt
                for _ in range(shape[0]):
                    for _ in range(shape[1]):
                        y = torch.tanh(net.lin(y))
                    taken.add(bool(y.sum() > 0))
                    y = net.lin(y if bool(y.sum() > 0) else -y)
            G = torch.randn(expected.shape)
            net.zero_grad()
            (expected * G).sum().backward()
            x = xt.detach().numpy()
            got = g(x)
            np.testing.assert_allclose(got, expected.detach().numpy(), rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(got, run_onnxruntime(data, {"x": x})[0], atol=1e-5)
            g.zero_grad()
            g(x)
            np.testing.assert_allclose(g.backward(G.numpy()), xt.grad.numpy(), atol=1e-5)
            bias, weight = sorted(g.parameters(), key=lambda p: p.size)
            np.testing.assert_allclose(bias.grad, net.lin.bias.grad.numpy(), rtol=1e-4, atol=1e-5)
            tw = net.lin.weight.grad.numpy()
            assert np.allclose(weight.grad, tw, atol=1e-5) or np.allclose(
                weight.grad, tw.T, atol=1e-5
            )
    assert len(taken) == 2  # both branches ran


# -- 4. save and load again -------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("dynamic", [True, False])
def test_a_saved_loop_loads_with_the_same_keys_and_outputs(dynamic, tmp_path):
    """h = h0; for each row: h = tanh(lin(x_i + h)), exported with a symbolic batch axis (a
    run-time Loop) or a fixed one (unrolled): saved and loaded again, twice, the state_dict
    keys, the parameter names and the keys initializer_names maps to stay the same, the
    outputs equal PyTorch's, and each reload takes the first's state_dict."""
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)
            self.h0 = torch.nn.Parameter(torch.randn(4))

        def forward(self, x):
            h = self.h0
            for i in range(x.size(0)):
                h = torch.tanh(self.lin(x[i] + h))
            return h

    torch.manual_seed(1)
    net = torch.jit.script(Net())
    x = torch.randn(3, 4)
    buffer = io.BytesIO()
    axes = {"x": {0: "n"}} if dynamic else None
    torch.onnx.export(
        net, (x,), buffer, dynamo=False, opset_version=17, input_names=["x"], dynamic_axes=axes
    )
    g = load(buffer.getvalue())
    assert bool(_runtime_loops(g)) == dynamic
    keys = sorted(g.state_dict())
    params = [k for k, _ in g.named_parameters()]
    assert g.initializer_names["h0"] in params
    expected = net(x).detach().numpy()
    current = g
    for k in range(2):
        save(current, tmp_path / f"r{k}.onnx", x.numpy())
        current = load(tmp_path / f"r{k}.onnx")
        assert bool(_runtime_loops(current)) == dynamic
        assert sorted(current.state_dict()) == keys
        assert [k for k, _ in current.named_parameters()] == params
        assert sorted(set(current.initializer_names.values())) == sorted(
            set(g.initializer_names.values())
        )
        np.testing.assert_allclose(current(x.numpy()), expected, rtol=1e-5, atol=1e-5)
        current.load_state_dict(g.state_dict())


# -- 5. refusals ------------------------------------------------------------------------------


def test_a_body_condition_of_several_values_is_refused_by_name():
    """The body's condition output of shape (2,) at run time (ONNX: a single bool): a
    ValueError naming the node, the output and its shape (was NumPy's reshape error)."""
    body = helper.make_graph(
        [
            helper.make_node("Greater", ["acc", "zero"], ["keep"]),
            helper.make_node("Mul", ["acc", "half"], ["acc_o"]),
        ],
        "body",
        [_v("i", I64, []), _v("c", B, []), _v("acc", F, [2])],
        [_v("keep", B, [2]), _v("acc_o", F, [2])],
        initializer=[
            numpy_helper.from_array(np.zeros(2, np.float32), "zero"),
            numpy_helper.from_array(np.full(2, 0.5, np.float32), "half"),
        ],
    )
    loop = helper.make_node("Loop", ["", "go", "x"], ["y"], body=body, name="L")
    data = _model([loop], [_v("x", F, [2]), _v("go", B, [])], [_v("y")])
    g = load(data)
    with pytest.raises(
        ValueError,
        match=r"node 'L' \(Loop\): the body's condition output "
        r"'keep': expected a single bool, got bool of shape \(2,\)",
    ):
        g(np.ones(2, np.float32), np.array(True))


def test_a_float_trip_count_is_refused_by_name():
    """M declared float (ONNX says int64; onnxruntime refuses the file): refused at load
    time naming M and its type, not truncated; an M given as a float array to a graph whose
    M is declared int64 is refused when it runs."""
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["c"], ["co"]),
            helper.make_node("Add", ["acc", "acc"], ["acc_o"]),
        ],
        "body",
        [_v("i", I64, []), _v("c", B, []), _v("acc", F, [2])],
        [_v("co", B, []), _v("acc_o", F, [2])],
    )
    loop = helper.make_node("Loop", ["M", "", "x"], ["y"], body=body, name="L")
    data = _model([loop], [_v("x", F, [2]), _v("M", F, [])], [_v("y")])
    with pytest.raises(
        ValueError,
        match=r"node 'L' \(Loop\): input 'M': expected a single "
        r"int64, got float32",
    ):
        load(data)
    with pytest.raises(Exception, match="Type 'tensor.float.' of input parameter .M."):
        run_onnxruntime(data, {"x": np.ones(2, np.float32), "M": np.array(2.5, np.float32)})
    g = load(_model([loop], [_v("x", F, [2]), _v("M", I64, [])], [_v("y")]))
    np.testing.assert_allclose(g(np.ones(2, np.float32), np.array(3, np.int64)), [8.0, 8.0])
    with pytest.raises(
        ValueError,
        match=r"node 'L' \(Loop\): input 'M': expected a single "
        r"integer \(int64\), got float32 of shape \(\)",
    ):
        g(np.ones(2, np.float32), np.array(2.5, np.float32))


# -- 6. the shapes a saved run-time Loop declares ---------------------------------------------


def test_a_saved_scan_output_declares_its_rank_not_the_examples_sizes(tmp_path, capfd):
    """for each row x_i of x (n, 3): acc ← acc + x_i, scan output x ⊙ acc (n, 3), stacked
    (n, n, 3). Saved on an example of 2 rows, the output is declared (T, n, 3) as onnx
    infers it through the body, not the example's sizes: the file passes the full check, and
    onnxruntime runs it at 2 and 4 rows to cnnmath's values without a warning."""
    body = helper.make_graph(
        [
            helper.make_node("Gather", ["x", "i"], ["row"], axis=0),
            helper.make_node("Add", ["acc", "row"], ["acc_o"]),
            helper.make_node("Mul", ["x", "acc_o"], ["s"]),
            helper.make_node("Identity", ["c"], ["co"]),
        ],
        "body",
        [_v("i", I64, []), _v("c", B, []), _v("acc", F, [3])],
        [_v("co", B, []), _v("acc_o", F, [3]), _v("s", F, None)],
    )
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["M"], axis=0),
        helper.make_node("Loop", ["M", "", "a0"], ["y", "scan"], body=body),
    ]
    inits = [
        numpy_helper.from_array(np.array(0, np.int64), "zero"),
        numpy_helper.from_array(np.zeros(3, np.float32), "a0"),
    ]
    g = load(_model(nodes, [_v("x", F, ["n", 3])], [_v("scan")], inits))
    rng = np.random.default_rng(5)
    save(g, tmp_path / "s.onnx", rng.standard_normal((2, 3)).astype(np.float32))
    proto = onnx.load(tmp_path / "s.onnx")
    onnx.checker.check_model(proto, full_check=True)
    dims = proto.graph.output[0].type.tensor_type.shape.dim
    assert len(dims) == 3 and not any(d.HasField("dim_value") for d in dims[:2])  # (T, n, 3)
    name = proto.graph.input[0].name
    written = proto.SerializeToString()
    capfd.readouterr()
    for n in (2, 4):
        x = rng.standard_normal((n, 3)).astype(np.float32)
        acc, expected = np.zeros(3, np.float32), []
        for r in x:
            acc = acc + r
            expected.append(x * acc)
        got = run_onnxruntime(written, {name: x})[0]
        np.testing.assert_allclose(got, np.stack(expected), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(g(x), got, rtol=1e-6, atol=1e-6)
    assert "VerifyOutputSizes" not in capfd.readouterr().err


@pytest.mark.parametrize("relu", [False, True], ids=["as_is", "relu_of_it"])
def test_a_saved_carried_value_declares_free_sizes(tmp_path, capfd, relu):
    """A run-time Loop's carried value growing along axis 1, returned by the graph (or, with
    ``relu``, a Relu of it, which onnx infers no shape for either): declared with free
    sizes, the file passes the full check and onnxruntime runs 4 rows (the example had 2)
    without a size warning."""
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["c"], ["co"]),
            helper.make_node("Slice", ["x", "s0", "s1", "s1"], ["col"]),
            helper.make_node("Concat", ["acc", "col"], ["acc_o"], axis=1),
        ],
        "body",
        [_v("i", I64, []), _v("c", B, []), _v("acc", F, None)],
        [_v("co", B, []), _v("acc_o", F, None)],
    )
    consts = [
        helper.make_node("Constant", [], [n], value=numpy_helper.from_array(np.array(v, np.int64)))
        for n, v in (("s0", [0]), ("s1", [1]), ("zero", 0))
    ]
    nodes = [
        *consts,
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["M"], axis=0),
        helper.make_node("Slice", ["x", "s0", "s1", "s1"], ["acc0"]),
        helper.make_node("Loop", ["M", "", "acc0"], ["y"], body=body),
        helper.make_node("Relu", ["y"], ["ry"]),
    ]
    g = load(_model(nodes, [_v("x", F, ["n", 3])], [_v("ry" if relu else "y")]))
    rng = np.random.default_rng(6)
    save(g, tmp_path / "c.onnx", rng.standard_normal((2, 3)).astype(np.float32))
    proto = onnx.load(tmp_path / "c.onnx")
    onnx.checker.check_model(proto, full_check=True)
    written, name = proto.SerializeToString(), proto.graph.input[0].name
    capfd.readouterr()
    for n in (2, 4):
        x = rng.standard_normal((n, 3)).astype(np.float32)
        expected = np.concatenate([x[:, :1]] * (n + 1), axis=1)
        expected = np.maximum(expected, 0) if relu else expected
        np.testing.assert_allclose(run_onnxruntime(written, {name: x})[0], expected)
        np.testing.assert_allclose(g(x), expected)
    assert "VerifyOutputSizes" not in capfd.readouterr().err


# -- review witnesses: views whose shape changes per iteration; the ranks given after a loop -


def _const(name, value):
    return helper.make_node(
        "Constant", [], [name], value=numpy_helper.from_array(np.asarray(value))
    )


@pytest.mark.parametrize("outer", [False, True], ids=["body_w", "graph_w"])
def test_a_view_whose_shape_changes_per_unrolled_iteration_is_refused_by_name(outer):
    """An unrolled Loop (M = 2) adding Reshape(w, shape_i) to its carried value, shape_0 =
    (1, 3) and shape_1 = (3, 1), y = x + w[None, :] + w[:, None] as onnxruntime gives. The
    two views would be two Parameters (or one and a fixed copy) training apart, where
    PyTorch trains one w: refused, naming the Reshape, w and the Loop. (Reusing the first
    view for the second iteration, as once, loads without a word and gives w[None, :] twice.)"""
    w = np.array([1.0, 2.0, 3.0], np.float32)
    body = helper.make_graph(
        [
            _const("zero", np.array(0, np.int64)),
            _const("sA", np.array([1, 3], np.int64)),
            _const("sB", np.array([3, 1], np.int64)),
            helper.make_node("Equal", ["i", "zero"], ["is0"]),
            helper.make_node("Where", ["is0", "sA", "sB"], ["shape"]),
            helper.make_node("Reshape", ["w", "shape"], ["w2"]),
            helper.make_node("Add", ["acc", "w2"], ["acc_o"]),
            helper.make_node("Identity", ["c"], ["co"]),
        ],
        "body",
        [_v("i", I64, []), _v("c", B, []), _v("acc", F, [3, 3])],
        [_v("co", B, []), _v("acc_o", F, [3, 3])],
        initializer=[] if outer else [numpy_helper.from_array(w, "w")],
    )
    inits = [numpy_helper.from_array(np.array(2, np.int64), "M")]
    inits += [numpy_helper.from_array(w, "w")] if outer else []
    loop = helper.make_node("Loop", ["M", "", "x"], ["y"], body=body, name="L")
    data = _model([loop], [_v("x", F, [3, 3])], [_v("y")], inits)
    x = np.zeros((3, 3), np.float32)
    want = run_onnxruntime(data, {"x": x})[0]
    np.testing.assert_allclose(want, w[None, :] + w[:, None])
    with pytest.raises(ValueError, match=r"node 'w2(_1)?' \(Reshape\): the initializer 'w' .* 'L'"):
        load(data)


def test_a_carried_value_whose_rank_the_body_changes_gets_no_rank():
    """A run-time Loop whose body unsqueezes its carried (N, C, L) value: after one iteration
    it is (N, C, 1, L), so the Conv after the loop must not be given the initial value's rank
    (a 1-D convolution); with a 4-D weight it is a 2-D one, as onnxruntime runs it."""
    rng = np.random.default_rng(1)
    w = rng.standard_normal((3, 2, 1, 3)).astype(np.float32)
    body = helper.make_graph(
        [
            _const("ax", np.array([2], np.int64)),
            helper.make_node("Unsqueeze", ["acc", "ax"], ["acc_o"]),
            helper.make_node("Identity", ["c"], ["co"]),
        ],
        "body",
        [_v("i", I64, []), _v("c", B, []), _v("acc", F, None)],
        [_v("co", B, []), _v("acc_o", F, None)],
    )
    nodes = [
        helper.make_node("Loop", ["M", "", "x"], ["y"], body=body, name="L"),
        helper.make_node("Conv", ["y", "w"], ["out"]),
    ]
    inputs = [_v("x", F, ["n", 2, 5]), _v("M", I64, [])]
    data = _model(nodes, inputs, [_v("out")], [numpy_helper.from_array(w, "w")])
    x = rng.standard_normal((2, 2, 5)).astype(np.float32)
    M = np.array(1, np.int64)
    want = run_onnxruntime(data, {"x": x, "M": M})[0]
    assert want.ndim == 4
    np.testing.assert_allclose(load(data)(x, M), want, rtol=1e-5, atol=1e-5)


def test_a_scan_output_has_one_axis_more_than_each_iterations_value():
    """A run-time Loop's scan output stacks each iteration's (N, C, L) value: (T, N, C, L),
    read by a Conv with a 4-D weight (a 2-D convolution), as onnxruntime runs it."""
    rng = np.random.default_rng(2)
    w = rng.standard_normal((3, 2, 1, 3)).astype(np.float32)
    body = helper.make_graph(
        [
            helper.make_node("Cast", ["i"], ["fi"], to=F),
            helper.make_node("Mul", ["acc", "fi"], ["s"]),
            helper.make_node("Identity", ["acc"], ["acc_o"]),
            helper.make_node("Identity", ["c"], ["co"]),
        ],
        "body",
        [_v("i", I64, []), _v("c", B, []), _v("acc", F, None)],
        [_v("co", B, []), _v("acc_o", F, None), _v("s", F, None)],
    )
    nodes = [
        helper.make_node("Loop", ["M", "", "x"], ["y", "scan"], body=body, name="L"),
        helper.make_node("Conv", ["scan", "w"], ["out"]),
    ]
    inputs = [_v("x", F, [2, 2, 5]), _v("M", I64, [])]
    data = _model(nodes, inputs, [_v("out")], [numpy_helper.from_array(w, "w")])
    x = rng.standard_normal((2, 2, 5)).astype(np.float32)
    M = np.array(3, np.int64)
    want = run_onnxruntime(data, {"x": x, "M": M})[0]
    np.testing.assert_allclose(load(data)(x, M), want, rtol=1e-5, atol=1e-5)


def test_zero_iterations_return_a_copy_of_the_initial_value():
    """M = 0 at run time: the output is a0's value (onnxruntime's), in an array of its own,
    so writing into the output leaves the Parameter as it was."""
    data = _initial_value_model(0, m_input=True)
    g = load(data)
    x, M = np.array([0.4, -0.2, 0.9], np.float32), np.array(0, np.int64)
    y = g(x, M)
    np.testing.assert_array_equal(y, run_onnxruntime(data, {"x": x, "M": M})[0])
    y[...] = 7.0
    (param,) = g.parameters()
    np.testing.assert_array_equal(param.data, _A0)


# -- review witnesses: a subgraph nested in an unrolled body; an If choosing per iteration ---

_NB = np.array([0.5, -1.0, 2.0], np.float32)


def _nested_model(kind):
    """An unrolled Loop (M = 2) whose body holds a subgraph with initializers of its own:
    ``unrolled``, a Loop of K = 2 (a constant) adding its b to acc; ``runtime``, the same
    Loop with K a graph input; ``if``, an If on a graph input p adding then b (or
    subtracting else b, a second initializer of the same name)."""
    b = numpy_helper.from_array(_NB, "b")
    if kind == "if":
        then = helper.make_graph(
            [helper.make_node("Add", ["acc", "b"], ["rt"])], "t", [], [_v("rt")], [b]
        )
        other = helper.make_graph(
            [helper.make_node("Sub", ["acc", "b"], ["re"])], "e", [], [_v("re")], [b]
        )
        inner = helper.make_node("If", ["p"], ["acc_o"], then_branch=then, else_branch=other)
    else:
        body = helper.make_graph(
            [
                helper.make_node("Add", ["a", "b"], ["a_o"]),
                helper.make_node("Identity", ["c2"], ["co2"]),
            ],
            "inner",
            [_v("j", I64, []), _v("c2", B, []), _v("a", F, [3])],
            [_v("co2", B, []), _v("a_o", F, [3])],
            [b],
        )
        trips = "K2" if kind == "unrolled" else "K"
        inner = helper.make_node("Loop", [trips, "", "acc"], ["acc_o"], body=body, name="In")
    outer = helper.make_graph(
        [inner, helper.make_node("Identity", ["c"], ["co"])],
        "outer",
        [_v("i", I64, []), _v("c", B, []), _v("acc", F, [3])],
        [_v("co", B, []), _v("acc_o", F, [3])],
    )
    inputs = [_v("x", F, [3])]
    inputs += [_v("K", I64, [])] if kind == "runtime" else []
    inputs += [_v("p", B, [])] if kind == "if" else []
    inits = [numpy_helper.from_array(np.array(2, np.int64), n) for n in ("M", "K2")]
    inits = inits if kind == "unrolled" else inits[:1]
    loop = helper.make_node("Loop", ["M", "", "x"], ["y"], body=outer, name="Out")
    return _model([loop], inputs, [_v("y")], inits)


@pytest.mark.parametrize(
    ("kind", "taken"),
    [("unrolled", True), ("runtime", True), ("if", True), ("if", False)],
    ids=["unrolled", "runtime", "if_then", "if_else"],
)
def test_a_subgraph_in_an_unrolled_body_keeps_one_parameter_per_initializer(kind, taken):
    """Each initializer of a Loop or If nested in an unrolled Loop's body is one Parameter
    over the outer iterations (each iteration's copy held one, with that iteration's share
    of the gradient): outputs as onnxruntime's, and ∂⟨y, G⟩/∂b by central differences."""
    data = _nested_model(kind)
    g = load(data)
    extra = {"runtime": {"K": np.array(2, np.int64)}, "if": {"p": np.array(taken)}}
    feeds = {"x": np.array([1.0, 2.0, 3.0], np.float32), **extra.get(kind, {})}
    args = list(feeds.values())
    np.testing.assert_allclose(g(*args), run_onnxruntime(data, feeds)[0], rtol=1e-6)
    params = g.parameters()
    assert len({id(p) for p in params}) == (2 if kind == "if" else 1)
    assert set(g.initializer_names) == ({"b", "b_1"} if kind == "if" else {"b"})
    G = np.array([1.0, -2.0, 0.5])
    g.to(np.float64)
    args64 = [np.asarray(a, np.float64) if a.dtype == np.float32 else a for a in args]
    for name, key in g.initializer_names.items():
        param = dict(g.named_parameters())[key]
        fd = _param_fd(g, param, args64, G)
        g.zero_grad()
        g(*args64)
        g.backward(G)
        assert np.abs(fd).max() > 0 or (kind == "if" and (name == "b") != taken)
        np.testing.assert_allclose(param.grad, fd, rtol=1e-6, atol=1e-8)


_IW = np.array([1.0, 2.0, 3.0], np.float32)


def _if_per_iteration_model(outer, as_is, then_at=0):
    """An unrolled Loop (M = 2) whose body holds an If on i == ``then_at``: then acc +
    Reshape(w, (1, 3)), else acc ⊙ Reshape(w, (1, 3)) (``as_is``: acc ⊙ w), so y = (x + w)
    ⊙ w (``then_at`` 1: y = x ⊙ w + w); w the body's initializer, or (``outer``) the
    graph's."""
    then = helper.make_graph(
        [
            helper.make_node("Reshape", ["w", "s13"], ["wt"]),
            helper.make_node("Add", ["acc", "wt"], ["r_then"]),
        ],
        "then",
        [],
        [_v("r_then", F, [2, 3])],
    )
    read = [helper.make_node("Reshape", ["w", "s13"], ["we"])] if not as_is else []
    other = helper.make_graph(
        [*read, helper.make_node("Mul", ["acc", "w" if as_is else "we"], ["r_else"])],
        "else",
        [],
        [_v("r_else", F, [2, 3])],
    )
    body = helper.make_graph(
        [
            _const("zero", np.array(then_at, np.int64)),
            helper.make_node("Equal", ["i", "zero"], ["is0"]),
            helper.make_node("If", ["is0"], ["acc_o"], then_branch=then, else_branch=other),
            helper.make_node("Identity", ["c"], ["co"]),
        ],
        "body",
        [_v("i", I64, []), _v("c", B, []), _v("acc", F, [2, 3])],
        [_v("co", B, []), _v("acc_o", F, [2, 3])],
        initializer=[] if outer else [numpy_helper.from_array(_IW, "w")],
    )
    inits = [numpy_helper.from_array(np.array(2, np.int64), "M")]
    inits.append(numpy_helper.from_array(np.array([1, 3], np.int64), "s13"))
    inits += [numpy_helper.from_array(_IW, "w")] if outer else []
    loop = helper.make_node("Loop", ["M", "", "x"], ["y"], body=body, name="L")
    return _model([loop], [_v("x", F, [2, 3])], [_v("y")], inits)


@pytest.mark.parametrize("outer", [False, True], ids=["body_w", "graph_w"])
def test_views_a_constant_if_makes_per_iteration_are_one_parameter(outer):
    """The If of ``_if_per_iteration_model`` takes then in iteration 0 and else in 1, each
    branch reshaping w to (1, 3): one Parameter (the body's w was two training apart; the
    graph's, the second iteration's view a frozen copy), outputs as onnxruntime's, ∂⟨y, G⟩/∂w
    by central differences and = Σ_rows G ⊙ (x + 2w)."""
    data = _if_per_iteration_model(outer, as_is=False)
    g = load(data)
    x = np.array([[1.0, -1.0, 0.5], [2.0, 0.0, -3.0]], np.float32)
    np.testing.assert_allclose(g(x), run_onnxruntime(data, {"x": x})[0], rtol=1e-6)
    (param,) = g.parameters()
    assert dict(g.named_parameters())[g.initializer_names["w"]] is param
    G = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])
    g.to(np.float64)
    x64 = x.astype(np.float64)
    fd = _param_fd(g, param, (x64,), G)
    g.zero_grad()
    g(x64)
    g.backward(G)
    np.testing.assert_allclose(param.grad, fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(param.grad.reshape(-1), (G * (x + 2 * _IW)).sum(0), rtol=1e-6)


@pytest.mark.parametrize("then_at", [0, 1], ids=["view_first", "view_second"])
@pytest.mark.parametrize("outer", [False, True], ids=["body_w", "graph_w"])
def test_an_initializer_read_as_it_is_and_reshaped_in_other_iterations_is_refused(outer, then_at):
    """``_if_per_iteration_model`` whose else branch reads w as it is (acc ⊙ w): w would be
    held as its (1, 3) view in one iteration and as itself in the other, two Parameters
    training apart (or, the view second and w the graph's, the view a fixed copy whose
    gradient is lost): refused, naming the Reshape, w and the Loop (onnxruntime runs the
    file)."""
    data = _if_per_iteration_model(outer, as_is=True, then_at=then_at)
    x = np.array([[1.0, -1.0, 0.5], [2.0, 0.0, -3.0]], np.float32)
    want = (x + _IW) * _IW if then_at == 0 else x * _IW + _IW
    np.testing.assert_allclose(run_onnxruntime(data, {"x": x})[0], want, rtol=1e-6)
    match = r"node 'wt(_1)?' \(Reshape\): the initializer 'w' .* 'L'"
    with pytest.raises(ValueError, match=match):
        load(data)


def test_a_matmul_weight_in_an_unrolled_body_is_one_parameter():
    """acc ← acc · w in an unrolled Loop (M = 2): each iteration's MatMul becomes a Linear
    holding w transposed, one Parameter over both (it was one per iteration, each with its
    iteration's share of the gradient): ∂⟨y, G⟩/∂ of it by central differences."""
    w = np.arange(9, dtype=np.float32).reshape(3, 3) / 10 - 0.3
    body = helper.make_graph(
        [
            helper.make_node("MatMul", ["acc", "w"], ["acc_o"]),
            helper.make_node("Identity", ["c"], ["co"]),
        ],
        "body",
        [_v("i", I64, []), _v("c", B, []), _v("acc", F, [2, 3])],
        [_v("co", B, []), _v("acc_o", F, [2, 3])],
        initializer=[numpy_helper.from_array(w, "w")],
    )
    inits = [numpy_helper.from_array(np.array(2, np.int64), "M")]
    loop = helper.make_node("Loop", ["M", "", "x"], ["y"], body=body, name="L")
    data = _model([loop], [_v("x", F, [2, 3])], [_v("y")], inits)
    g = load(data)
    x = np.array([[1.0, -1.0, 0.5], [2.0, 0.0, -3.0]], np.float32)
    np.testing.assert_allclose(g(x), run_onnxruntime(data, {"x": x})[0], rtol=1e-6)
    (param,) = g.parameters()
    G = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])
    g.to(np.float64)
    x64 = x.astype(np.float64)
    fd = _param_fd(g, param, (x64,), G)
    g.zero_grad()
    g(x64)
    g.backward(G)
    np.testing.assert_allclose(param.grad, fd, rtol=1e-6, atol=1e-8)


def test_a_loop_in_a_constant_if_and_a_loop_of_the_graph_keep_their_own_initializers():
    """A Loop (M = 2, b₁) as node 0 of the graph and one (b₂) as node 0 of a constant If's
    branch: both unrolled, each body's b its own Parameter (keyed by the place of the Loop,
    the two must not meet), y = x + 2 b₁ + 2 b₂ as onnxruntime gives."""

    def loop(name, b, out):
        body = helper.make_graph(
            [
                helper.make_node("Add", ["a", "b"], ["a_o"]),
                helper.make_node("Identity", ["c2"], ["co2"]),
            ],
            "inner",
            [_v("j", I64, []), _v("c2", B, []), _v("a", F, [3])],
            [_v("co2", B, []), _v("a_o", F, [3])],
            [numpy_helper.from_array(b, "b")],
        )
        return helper.make_node("Loop", ["M", "", "x"], [out], body=body, name=name)

    b1, b2 = np.array([1.0, 2.0, 3.0], np.float32), np.array([10.0, 20.0, 30.0], np.float32)
    then = helper.make_graph([loop("LB", b2, "z")], "t", [], [_v("z", F, [3])])
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["z2"])], "e", [], [_v("z2")])
    nodes = [
        loop("LA", b1, "y"),
        helper.make_node("If", ["T"], ["z"], then_branch=then, else_branch=other),
        helper.make_node("Add", ["y", "z"], ["out"]),
    ]
    inits = [numpy_helper.from_array(np.array(2, np.int64), "M")]
    inits.append(numpy_helper.from_array(np.array(True), "T"))
    data = _model(nodes, [_v("x", F, [3])], [_v("out")], inits)
    x = np.array([0.5, -1.0, 2.0], np.float32)
    want = run_onnxruntime(data, {"x": x})[0]
    np.testing.assert_allclose(want, 2 * x + 2 * b1 + 2 * b2)
    g = load(data)
    np.testing.assert_allclose(g(x), want)
    assert len({id(p) for p in g.parameters()}) == 2


@pytest.mark.parametrize("p", [True, False], ids=["then", "else"])
@pytest.mark.parametrize("trips", ["K", "K2"], ids=["runtime", "unrolled"])
def test_an_if_in_a_loop_in_an_unrolled_body_keeps_one_parameter_per_initializer(trips, p):
    """An unrolled Loop (M = 3) whose body runs a Loop (K = 2: a graph input, run at run
    time, or a constant, unrolled) whose body holds an If on a graph input p: then a + b (b
    reshaped), else a (1, 3) · w reshaped back: the branches' b and w, nested two deep, are
    each one Parameter; outputs as onnxruntime's, gradients by central differences."""
    b = np.array([0.5, -1.0, 2.0], np.float32)
    w = np.array([[0.3, -0.2, 0.1], [0.4, 0.5, -0.6], [0.2, 0.1, 0.9]], np.float32)
    three = numpy_helper.from_array(np.array([3], np.int64), "s")
    then = helper.make_graph(
        [
            helper.make_node("Reshape", ["b", "s"], ["bv"]),
            helper.make_node("Add", ["a", "bv"], ["rt"]),
        ],
        "t",
        [],
        [_v("rt", F, [3])],
        [numpy_helper.from_array(b, "b"), three],
    )
    three.name = "s3"
    other = helper.make_graph(
        [
            helper.make_node("MatMul", ["a2", "w"], ["m"]),
            helper.make_node("Reshape", ["m", "s3"], ["re"]),
        ],
        "e",
        [],
        [_v("re", F, [3])],
        [numpy_helper.from_array(w, "w"), three],
    )
    inner = helper.make_graph(
        [
            _const("s2", np.array([1, 3], np.int64)),
            helper.make_node("Reshape", ["a", "s2"], ["a2"]),
            helper.make_node("If", ["p"], ["a_o"], then_branch=then, else_branch=other),
            helper.make_node("Identity", ["c2"], ["co2"]),
        ],
        "inner",
        [_v("j", I64, []), _v("c2", B, []), _v("a", F, [3])],
        [_v("co2", B, []), _v("a_o", F, [3])],
    )
    outer = helper.make_graph(
        [
            helper.make_node("Loop", [trips, "", "acc"], ["acc_o"], body=inner, name="In"),
            helper.make_node("Identity", ["c"], ["co"]),
        ],
        "outer",
        [_v("i", I64, []), _v("c", B, []), _v("acc", F, [3])],
        [_v("co", B, []), _v("acc_o", F, [3])],
    )
    inits = [numpy_helper.from_array(np.array(n, np.int64), k) for k, n in (("M", 3), ("K2", 2))]
    loop = helper.make_node("Loop", ["M", "", "x"], ["y"], body=outer, name="Out")
    inputs = [_v("x", F, [3]), _v("K", I64, []), _v("p", B, [])]
    data = _model([loop], inputs, [_v("y")], inits)
    feeds = {"x": np.array([1.0, 2.0, 3.0], np.float32), "K": np.array(2, np.int64)}
    feeds["p"] = np.array(p)
    g = load(data)
    args = list(feeds.values())
    np.testing.assert_allclose(g(*args), run_onnxruntime(data, feeds)[0], rtol=1e-5)
    assert len({id(q) for q in g.parameters()}) == 2
    G = np.array([1.0, -2.0, 0.5])
    g.to(np.float64)
    args[0] = args[0].astype(np.float64)
    for param in g.parameters():
        fd = _param_fd(g, param, args, G)
        g.zero_grad()
        g(*args)
        g.backward(G)
        np.testing.assert_allclose(param.grad, fd, rtol=1e-6, atol=1e-8)
