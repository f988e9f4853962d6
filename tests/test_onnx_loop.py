"""The ONNX Loop op through ``cnnmath.onnx.load``: a Loop whose trip count (at most
``UNROLL_LIMIT``) and condition are known at load time is unrolled (each iteration's body
inlined), any other runs its body, loaded once as a graph, iteration by iteration at run time,
scan outputs stacked, backward through every iteration. Witnesses onnxruntime, ONNX's
reference evaluator, PyTorch (TorchScript exports) and finite differences.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from cnnmath.onnx import load  # noqa: E402
from cnnmath.onnx._ops.control import UNROLL_LIMIT, _Loop  # noqa: E402
from helpers import check_input_gradients, run_onnxruntime  # noqa: E402

F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


def _model(nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model.SerializeToString()


def _ref(data, feeds):
    return ReferenceEvaluator(onnx.load_from_string(data)).run(None, feeds)


def _runtime_loops(g):
    return [m for _, m in g.named_modules() if isinstance(m, _Loop)]


def _const(name, value):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name))


def _accumulate_body(scan=True, cond_out="cond_in", step=True):
    """acc ← acc·w + x·i (w an outer initializer, x an outer input, i the iteration
    number); scan output: tanh(acc)."""
    nodes = [
        helper.make_node("CastLike", ["i", "x"], ["i_f"]),
        helper.make_node("Mul", ["x", "i_f"], ["xi"])
        if step
        else helper.make_node("Identity", ["x"], ["xi"]),
        helper.make_node("Mul", ["acc", "w"], ["aw"]),
        helper.make_node("Add", ["aw", "xi"], ["acc_out"]),
    ]
    outputs = [helper.make_tensor_value_info(cond_out, B, []), _v("acc_out", [2, 3])]
    if scan:
        nodes.append(helper.make_node("Tanh", ["acc_out"], ["s"]))
        outputs.append(_v("s", [2, 3]))
    inputs = [
        helper.make_tensor_value_info("i", I64, []),
        helper.make_tensor_value_info("cond_in", B, []),
        _v("acc", [2, 3]),
    ]
    return helper.make_graph(nodes, "body", inputs, outputs)


def _v(name, shape=None):
    return helper.make_tensor_value_info(name, F, shape)


_W = numpy_helper.from_array(np.array([0.9, -0.5, 1.1], np.float32), "w")


def _for_model(trips, m_input=False, scan=True, step=True):
    """A for loop (no cond) of ``trips`` iterations (M a Constant, or an input)."""
    nodes = [] if m_input else [_const("M", np.array(trips, np.int64))]
    outputs = [_v("acc_final")] + ([_v("scan")] if scan else [])
    nodes.append(
        helper.make_node(
            "Loop",
            ["M", "", "acc0"],
            [o.name for o in outputs],
            body=_accumulate_body(scan, step=step),
        )
    )
    inputs = [_v("x", [2, 3]), _v("acc0", [2, 3])]
    if m_input:
        inputs.append(helper.make_tensor_value_info("M", I64, []))
    return _model(nodes, inputs, outputs, [_W])


def _feeds(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((2, 3)).astype(np.float32),
        "acc0": rng.standard_normal((2, 3)).astype(np.float32),
    }


@pytest.mark.parametrize("trips", [0, 1, 5, UNROLL_LIMIT, UNROLL_LIMIT + 1, 200])
def test_a_for_loop_of_known_trip_count(trips):
    """Unrolled up to UNROLL_LIMIT iterations (no Loop module left), run at run time beyond;
    the final value and the scan output equal onnxruntime's and the reference's (zero
    iterations: the initial value, and a scan output of shape (0, 2, 3))."""
    data = _for_model(trips)
    g = load(data)
    assert bool(_runtime_loops(g)) == (trips > UNROLL_LIMIT)
    feeds = _feeds()
    got = g(feeds["x"], feeds["acc0"])
    witness = run_onnxruntime(data, feeds)
    assert len(got) == len(witness) == 2
    for a, b in zip(got, witness):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert got[1].shape == (trips, 2, 3)
    # and the recurrence written out (ONNX's reference evaluator gets this loop wrong: it stacks
    # scan outputs with numpy.vstack, and its final value differs from onnxruntime's)
    acc, w = feeds["acc0"], numpy_helper.to_array(_W)
    for i in range(trips):
        acc = acc * w + feeds["x"] * np.float32(i)
        np.testing.assert_allclose(got[1][i], np.tanh(acc), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[0], acc, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("trips", [0, 1, 4])
def test_a_run_time_trip_count(trips):
    """M a graph input: the body runs at run time, as onnxruntime's; zero iterations give the
    scan output of shape (0, 2, 3), known from the body's declared output."""
    data = _for_model(0, m_input=True)
    g = load(data)
    assert len(_runtime_loops(g)) == 1
    feeds = {**_feeds(1), "M": np.array(trips, np.int64)}
    got = g(feeds["x"], feeds["acc0"], feeds["M"])
    for a, b in zip(got, run_onnxruntime(data, feeds), strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("trips", [3, UNROLL_LIMIT + 6])
def test_gradients_through_the_loop(trips):
    """∂ of the input, the initial value (and the initializer w, read by every iteration)
    against finite differences and PyTorch's autograd of the same recurrence: unrolled, and
    iteration by iteration at run time."""
    torch = pytest.importorskip("torch")
    feeds = _feeds(2)
    # finite differences in float64: a body without the iteration number's Cast to float32
    plain = load(_for_model(trips, scan=False, step=False))
    plain.to(np.float64)
    x, acc0 = (feeds[k].astype(np.float64) * 0.5 for k in ("x", "acc0"))
    check_input_gradients(plain, [x, acc0])
    g = load(_for_model(trips))
    assert bool(_runtime_loops(g)) == (trips > UNROLL_LIMIT)
    x, acc0 = (a.astype(np.float32) for a in (x, acc0))
    xt, at = (torch.tensor(a.astype(np.float64), requires_grad=True) for a in (x, acc0))
    wt = torch.tensor(numpy_helper.to_array(_W).astype(np.float64), requires_grad=True)
    acc, scans = at, []
    for i in range(trips):
        acc = acc * wt + xt * i
        scans.append(torch.tanh(acc))
    rng = np.random.default_rng(3)
    g_final = rng.standard_normal((2, 3)).astype(np.float32)
    g_scan = rng.standard_normal((trips, 2, 3)).astype(np.float32)
    gf, gs = torch.tensor(g_final, dtype=torch.float64), torch.tensor(g_scan, dtype=torch.float64)
    loss = (acc * gf).sum() + (torch.stack(scans) * gs).sum()
    loss.backward()
    g.zero_grad()
    g(x, acc0)
    gx, ga = g.backward((g_final, g_scan))
    scale = max(1.0, float(np.abs(xt.grad.numpy()).max()))  # the recurrence grows as w^T
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-4, atol=1e-5 * scale)
    np.testing.assert_allclose(ga, at.grad.numpy(), rtol=1e-4, atol=1e-5 * scale)
    (w,) = [p for p in g.parameters() if p.shape == (3,)]
    np.testing.assert_allclose(w.grad, wt.grad.numpy(), rtol=1e-4, atol=1e-5 * scale)


def _while_model(m=None):
    """while Σacc < limit: acc ← acc·2 + 1 (M absent, or a bound); the count of iterations
    carried too, and a scan output of each Σacc."""
    body = helper.make_graph(
        [
            helper.make_node("Mul", ["acc", "two"], ["a2"]),
            helper.make_node("Add", ["a2", "one"], ["acc_out"]),
            helper.make_node("ReduceSum", ["acc_out"], ["total"], keepdims=0),
            helper.make_node("Less", ["total", "limit"], ["cond_out"]),
            helper.make_node("Add", ["count", "one_i"], ["count_out"]),
            helper.make_node("Identity", ["total"], ["total_scan"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", I64, []),
            helper.make_tensor_value_info("c", B, []),
            _v("acc", [3]),
            helper.make_tensor_value_info("count", I64, []),
        ],
        [
            helper.make_tensor_value_info("cond_out", B, []),
            _v("acc_out", [3]),
            helper.make_tensor_value_info("count_out", I64, []),
            _v("total_scan", []),
        ],
        initializer=[
            numpy_helper.from_array(np.array(2.0, np.float32), "two"),
            numpy_helper.from_array(np.array(1.0, np.float32), "one"),
            numpy_helper.from_array(np.array(1, np.int64), "one_i"),
        ],
    )
    nodes = [
        helper.make_node("ReduceSum", ["acc0"], ["t0"], keepdims=0),
        helper.make_node("Less", ["t0", "limit"], ["c0"]),
        _const("count0", np.array(0, np.int64)),
    ]
    if m is not None:
        nodes.append(_const("M", np.array(m, np.int64)))
    nodes.append(
        helper.make_node(
            "Loop",
            ["M" if m is not None else "", "c0", "acc0", "count0"],
            ["acc_final", "count_final", "totals"],
            body=body,
        )
    )
    return _model(
        nodes,
        [_v("acc0", [3]), _v("limit", [])],
        [_v("acc_final"), helper.make_tensor_value_info("count_final", I64, None), _v("totals")],
    )


@pytest.mark.parametrize("m", [None, 3, 1000])
@pytest.mark.parametrize("limit", [-5.0, 10.0, 500.0])
def test_a_while_loop(m, limit):
    """The condition computed by the body (M absent or a bound): as onnxruntime and the
    reference; a limit already reached runs no iteration (totals of shape (0,))."""
    data = _while_model(m)
    g = load(data)
    assert len(_runtime_loops(g)) == 1
    feeds = {"acc0": np.array([0.5, -0.25, 1.0], np.float32), "limit": np.array(limit, np.float32)}
    got = g(feeds["acc0"], feeds["limit"])
    for a, b in zip(got, run_onnxruntime(data, feeds), strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-6)
    runs = limit > 1.25
    if runs:  # the reference's scan output is stacked as (T, 1) (numpy.vstack), not (T,)
        reference = _ref(data, feeds)
        for a, b in zip(got[:2], reference[:2]):
            np.testing.assert_allclose(a, b, rtol=1e-6)
        np.testing.assert_allclose(got[2], reference[2].reshape(-1), rtol=1e-6)
    assert (got[1] == 0) == (not runs)


def test_save_writes_an_unrolled_loop_as_its_nodes_and_a_run_time_one_as_a_loop(tmp_path):
    """Saved: an unrolled Loop is its nodes, a run-time one a Loop; onnxruntime runs each file
    to the original's outputs."""
    from cnnmath.onnx import save

    feeds = _feeds(4)
    data = _for_model(3)
    g = load(data)
    save(g, tmp_path / "m.onnx", (feeds["x"], feeds["acc0"]))
    written = (tmp_path / "m.onnx").read_bytes()
    names = [v.name for v in onnx.load_from_string(written).graph.input]
    got = run_onnxruntime(written, dict(zip(names, (feeds["x"], feeds["acc0"]))))
    for a, b in zip(got, run_onnxruntime(data, feeds), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    data = _for_model(UNROLL_LIMIT + 1, step=False)  # (save writes no CastLike)
    g = load(data)
    save(g, tmp_path / "n.onnx", (feeds["x"], feeds["acc0"]))
    written = (tmp_path / "n.onnx").read_bytes()
    assert "Loop" in {n.op_type for n in onnx.load_from_string(written).graph.node}
    names = [v.name for v in onnx.load_from_string(written).graph.input]
    got = run_onnxruntime(written, dict(zip(names, (feeds["x"], feeds["acc0"]))))
    for a, b in zip(got, run_onnxruntime(data, feeds), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def _scan_growing_model():
    """A scan output whose shape grows each iteration (Expand to i + 1 rows)."""
    body = helper.make_graph(
        [
            helper.make_node("Add", ["i", "one"], ["n"]),
            helper.make_node("Concat", ["n", "three"], ["shape"], axis=0),
            helper.make_node("Expand", ["x", "shape"], ["s"]),
            helper.make_node("Identity", ["c"], ["c_out"]),
            helper.make_node("Identity", ["acc"], ["acc_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", I64, []),
            helper.make_tensor_value_info("c", B, []),
            _v("acc", [3]),
        ],
        [helper.make_tensor_value_info("c_out", B, []), _v("acc_out", [3]), _v("s")],
        initializer=[
            numpy_helper.from_array(np.array([1], np.int64), "one"),
            numpy_helper.from_array(np.array([3], np.int64), "three"),
        ],
    )
    loop = helper.make_node("Loop", ["M", "", "x"], ["acc_final", "scan"], body=body)
    inputs = [_v("x", [3]), helper.make_tensor_value_info("M", I64, [])]
    return _model([loop], inputs, [_v("acc_final"), _v("scan")])


def test_scan_outputs_of_differing_shapes_are_refused():
    """Across iterations a scan output must keep its shape (onnxruntime refuses it too)."""
    data = _scan_growing_model()
    g = load(data)
    x = np.array([1.0, 2.0, 3.0], np.float32)
    got = g(x, np.array(1, np.int64))  # one iteration: one shape
    np.testing.assert_allclose(
        got[1], run_onnxruntime(data, {"x": x, "M": np.array(1, np.int64)})[1]
    )
    with pytest.raises(
        ValueError, match=r"node 'acc_final' \(Loop\): scan output 0: expected the same"
    ):
        g(x, np.array(3, np.int64))
    with pytest.raises(Exception):  # noqa: B017  onnxruntime's own error
        run_onnxruntime(data, {"x": x, "M": np.array(3, np.int64)})


def _growing_carried_model():
    """A loop-carried value that grows each iteration (Concat of itself)."""
    body = helper.make_graph(
        [
            helper.make_node("Concat", ["acc", "acc"], ["acc_out"], axis=0),
            helper.make_node("ReduceSum", ["acc_out"], ["s"], keepdims=0),
            helper.make_node("Identity", ["c"], ["c_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", I64, []),
            helper.make_tensor_value_info("c", B, []),
            _v("acc", [None]),
        ],
        [helper.make_tensor_value_info("c_out", B, []), _v("acc_out", [None]), _v("s", [])],
    )
    loop = helper.make_node("Loop", ["M", "", "x"], ["acc_final", "sums"], body=body)
    inputs = [_v("x", [2]), helper.make_tensor_value_info("M", I64, [])]
    return _model([loop], inputs, [_v("acc_final"), _v("sums")])


@pytest.mark.parametrize("trips", [0, 3])
def test_a_loop_carried_value_may_change_shape(trips):
    data = _growing_carried_model()
    feeds = {"x": np.array([1.5, -2.0], np.float32), "M": np.array(trips, np.int64)}
    got = load(data)(feeds["x"], feeds["M"])
    for a, b in zip(got, run_onnxruntime(data, feeds), strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert got[0].shape == (2 * 2**trips,)


def _if_node(cond, then_nodes, then_out, else_nodes, else_out, outputs):
    return helper.make_node(
        "If",
        [cond],
        outputs,
        then_branch=helper.make_graph(then_nodes, "then", [], [then_out]),
        else_branch=helper.make_graph(else_nodes, "else", [], [else_out]),
    )


@pytest.mark.parametrize("m_input", [False, True])
def test_if_in_loop_and_loop_in_if(m_input):
    """A Loop inside an If's branch (the If on a run-time condition), an If inside the Loop's
    body (on the iteration's parity: i mod 2 == 0 adds x, else subtracts it), names shared
    between the scopes: as onnxruntime."""
    inner_if = _if_node(
        "even",
        [helper.make_node("Add", ["acc", "x"], ["t"])],
        _v("t"),
        [helper.make_node("Sub", ["acc", "x"], ["t"])],
        _v("t"),
        ["acc_out"],
    )
    body = helper.make_graph(
        [
            helper.make_node("Mod", ["i", "two"], ["r"]),
            helper.make_node("Equal", ["r", "zero"], ["even"]),
            inner_if,
            helper.make_node("Identity", ["c"], ["c_out"]),
            helper.make_node("Mul", ["acc_out", "x"], ["t"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", I64, []),
            helper.make_tensor_value_info("c", B, []),
            _v("acc", [2]),
        ],
        [helper.make_tensor_value_info("c_out", B, []), _v("acc_out", [2]), _v("t", [2])],
        initializer=[
            numpy_helper.from_array(np.array(2, np.int64), "two"),
            numpy_helper.from_array(np.array(0, np.int64), "zero"),
        ],
    )
    loop = helper.make_node("Loop", ["M", "", "x"], ["y", "t_scan"], body=body)
    m_nodes = [] if m_input else [_const("M", np.array(5, np.int64))]
    outer = _if_node(
        "flag",
        [*m_nodes, loop],
        _v("y"),
        [helper.make_node("Neg", ["x"], ["t"])],
        _v("t"),
        ["out"],
    )
    inputs = [_v("x", [2]), helper.make_tensor_value_info("flag", B, [])]
    if m_input:
        inputs.append(helper.make_tensor_value_info("M", I64, []))
    data = _model([outer], inputs, [_v("out")])
    g = load(data)
    for flag in (True, False):
        feeds = {"x": np.array([0.5, -1.5], np.float32), "flag": np.array(flag)}
        if m_input:
            feeds["M"] = np.array(5, np.int64)
        got = g(*feeds.values())
        np.testing.assert_allclose(got, run_onnxruntime(data, feeds)[0], rtol=1e-6)


def _torch_export(net, x, dynamic):
    import torch

    buffer = io.BytesIO()
    torch.onnx.export(
        net,
        (x,),
        buffer,
        dynamo=False,
        opset_version=17,
        input_names=["x"],
        dynamic_axes={"x": {0: "n"}} if dynamic else None,
    )
    return buffer.getvalue()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("dynamic", [True, False])
def test_scripted_torch_for_and_while_loops(dynamic, tmp_path):
    """TorchScript's ``for i in range(x.size(0))`` and ``while`` loops, exported (a Loop each):
    outputs equal to PyTorch's and onnxruntime's; the input's and w's gradients to autograd's.
    A symbolic batch axis: both run at run time, at two batch sizes; a fixed one: the for
    loop's trip count folds, and it is unrolled. Saved back, onnxruntime runs the file."""
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.tensor([0.5, -1.0, 2.0]))

        def forward(self, x):
            acc = torch.zeros_like(x[0])
            for i in range(x.size(0)):
                acc = torch.tanh(acc * self.w + x[i])
            total = acc.sum()
            k = 0
            while bool(total < 10.0) and k < 20:
                total = total * 1.5 + 1.0
                k += 1
            return acc * total

    net = torch.jit.script(Net())
    torch.manual_seed(0)
    x = torch.randn(4, 3)
    data = _torch_export(net, x, dynamic)
    ops = [n.op_type for n in onnx.load_from_string(data).graph.node]
    assert ops.count("Loop") == 2
    g = load(data)
    assert len(_runtime_loops(g)) == (2 if dynamic else 1)
    for n in (4, 7) if dynamic else (4,):
        xt = torch.randn(n, 3)
        expected = net(xt).detach().numpy()
        xn = xt.numpy()
        np.testing.assert_allclose(g(xn), expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(
            run_onnxruntime(data, {"x": xn})[0], expected, rtol=1e-5, atol=1e-5
        )
    from cnnmath.onnx import save

    save(g, tmp_path / "t.onnx", x.numpy())  # saved back: Loops again, onnxruntime runs it
    written = (tmp_path / "t.onnx").read_bytes()
    ops = [n.op_type for n in onnx.load_from_string(written).graph.node]
    assert ops.count("Loop") == (2 if dynamic else 1)
    name = onnx.load_from_string(written).graph.input[0].name
    expected = net(x).detach().numpy()
    np.testing.assert_allclose(
        run_onnxruntime(written, {name: x.numpy()})[0], expected, rtol=1e-5, atol=1e-5
    )
    xt = x.clone().requires_grad_(True)
    G = torch.randn(3)
    (net(xt) * G).sum().backward()
    g.zero_grad()
    g(x.numpy())
    np.testing.assert_allclose(g.backward(G.numpy()), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    (w,) = [p for p in g.parameters() if p.shape == (3,)]
    np.testing.assert_allclose(w.grad, net.w.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_initializer_names_reach_into_a_run_time_body():
    """The body's own initializers (the while loop's "two", "one", "one_i") are listed in
    ``initializer_names`` under the body's keys, holding the file's values."""
    g = load(_while_model())
    names = g.initializer_names
    state = g.state_dict()
    for name in ("two", "one"):
        assert names[name].startswith("acc_final.body.")
        assert float(state[names[name]]) == {"two": 2.0, "one": 1.0}[name]


def test_malformed_loops_are_refused():
    """Neither M nor cond (no end), and a body whose input count does not match the node's,
    are refused at load time naming the node and the input or attribute."""
    body = _accumulate_body()
    no_end = helper.make_node("Loop", ["", "", "acc0"], ["a", "s"], body=body, name="L")
    with pytest.raises(ValueError, match=r"node 'L' \(Loop\): inputs 'M' and 'cond'"):
        load(_model([no_end], [_v("x", [2, 3]), _v("acc0", [2, 3])], [_v("a"), _v("s")], [_W]))
    m = _const("M", np.array(2, np.int64))
    short = helper.make_node("Loop", ["M", ""], ["a"], body=body, name="L")
    with pytest.raises(ValueError, match=r"node 'L' \(Loop\): attribute 'body': expected 2 inputs"):
        load(_model([m, short], [_v("x", [2, 3])], [_v("a")], [_W]))


@pytest.mark.parametrize("trips", [3, UNROLL_LIMIT + 2])
def test_a_run_time_if_in_a_loop_body(trips):
    """Each iteration branches on Σacc > 0 (a run-time If): acc·w + x, else tanh(acc) − x;
    unrolled (an If per iteration) or at run time: as onnxruntime, and the gradient (float64)
    as finite differences."""
    from cnnmath.onnx._ops.control import _If

    inner_if = _if_node(
        "pos",
        [
            helper.make_node("Mul", ["acc", "w"], ["t"]),
            helper.make_node("Add", ["t", "x"], ["u"]),
        ],
        _v("u"),
        [helper.make_node("Tanh", ["acc"], ["t"]), helper.make_node("Sub", ["t", "x"], ["u"])],
        _v("u"),
        ["acc_out"],
    )
    body = helper.make_graph(
        [
            helper.make_node("ReduceSum", ["acc"], ["total"], keepdims=0),
            helper.make_node("Greater", ["total", "zero"], ["pos"]),
            inner_if,
            helper.make_node("Identity", ["c"], ["c_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", I64, []),
            helper.make_tensor_value_info("c", B, []),
            _v("acc", [2, 3]),
        ],
        [helper.make_tensor_value_info("c_out", B, []), _v("acc_out", [2, 3])],
    )
    nodes = [
        _const("M", np.array(trips, np.int64)),
        _const("zero", np.array(0.0, np.float32)),
        helper.make_node("Loop", ["M", "", "acc0"], ["y"], body=body),
    ]
    data = _model(nodes, [_v("x", [2, 3]), _v("acc0", [2, 3])], [_v("y")], [_W])
    g = load(data)
    ifs = [m for _, m in g.named_modules() if isinstance(m, _If)]
    assert len(ifs) == (trips if trips <= UNROLL_LIMIT else 1)
    for seed in range(3):
        feeds = _feeds(seed)
        got = g(feeds["x"], feeds["acc0"])
        np.testing.assert_allclose(got, run_onnxruntime(data, feeds)[0], rtol=1e-5, atol=1e-5)
    g.to(np.float64)
    feeds = _feeds(5)
    check_input_gradients(g, [feeds["x"].astype(np.float64), feeds["acc0"].astype(np.float64)])


def test_a_loop_in_an_inlined_if_branch_unrolls():
    """A Loop inside the branch of an If whose condition is a Constant: inlined, then
    unrolled (no run-time module left), as onnxruntime."""
    loop = helper.make_node("Loop", ["M", "", "acc0"], ["y", "s"], body=_accumulate_body())
    outer = _if_node(
        "flag",
        [_const("M", np.array(4, np.int64)), loop],
        _v("y"),
        [helper.make_node("Identity", ["acc0"], ["e"])],
        _v("e"),
        ["out"],
    )
    nodes = [_const("flag", np.array(True)), outer]
    data = _model(nodes, [_v("x", [2, 3]), _v("acc0", [2, 3])], [_v("out")], [_W])
    g = load(data)
    assert not _runtime_loops(g)
    feeds = _feeds(6)
    np.testing.assert_allclose(
        g(feeds["x"], feeds["acc0"]), run_onnxruntime(data, feeds)[0], rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("trips", [2, UNROLL_LIMIT + 1])
def test_an_unnamed_scan_output_is_not_computed(trips):
    """The node lists its scan output as "" (not wanted): the final value alone, as
    onnxruntime's for the same Loop with its scan output named (onnxruntime cannot run an
    unnamed one)."""
    nodes = [
        _const("M", np.array(trips, np.int64)),
        helper.make_node("Loop", ["M", "", "acc0"], ["acc_final", ""], body=_accumulate_body()),
    ]
    data = _model(nodes, [_v("x", [2, 3]), _v("acc0", [2, 3])], [_v("acc_final")], [_W])
    feeds = _feeds(7)
    got = load(data)(feeds["x"], feeds["acc0"])
    np.testing.assert_allclose(
        got, run_onnxruntime(_for_model(trips), feeds)[0], rtol=1e-5, atol=1e-5
    )


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("opset", [11, 17])
def test_scripted_torch_loop_growing_its_result(opset):
    """As torchvision's ONNX mask pasting: a scripted loop concatenating one row per
    iteration onto a loop-carried tensor (its shape grows), exported at opset 11 and 17: as
    PyTorch and onnxruntime at two batch sizes, and the input's gradient as autograd's."""
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def forward(self, x):
            res = torch.zeros(0, x.size(1))
            for i in range(x.size(0)):
                row = torch.relu(x[i : i + 1] * (i + 1)) + x[i : i + 1].sum()
                res = torch.cat((res, row), 0)
            return res

    net = torch.jit.script(Net())
    x = torch.randn(3, 4)
    buffer = io.BytesIO()
    torch.onnx.export(
        net,
        (x,),
        buffer,
        dynamo=False,
        opset_version=opset,
        input_names=["x"],
        dynamic_axes={"x": {0: "n"}},
    )
    data = buffer.getvalue()
    assert "Loop" in [n.op_type for n in onnx.load_from_string(data).graph.node]
    g = load(data)
    assert len(_runtime_loops(g)) == 1
    for n in (3, 6):
        xt = torch.randn(n, 4)
        expected = net(xt).numpy()
        np.testing.assert_allclose(g(xt.numpy()), expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(
            run_onnxruntime(data, {"x": xt.numpy()})[0], expected, rtol=1e-5, atol=1e-5
        )
    xt = x.clone().requires_grad_(True)
    G = torch.randn(3, 4)
    (net(xt) * G).sum().backward()
    g(x.numpy())
    np.testing.assert_allclose(g.backward(G.numpy()), xt.grad.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("trips", [3, UNROLL_LIMIT + 1])
def test_a_body_initializer_is_one_parameter_unrolled_or_not(trips):
    """acc ← acc ⊙ w, w the body's own initializer, M times: one Parameter however the loop
    loads (unrolled, each iteration inlined, or run), whose gradient sums every iteration's:
    ∂Σ(x ⊙ w^M)/∂w = M·x·w^(M−1)."""
    w = np.array([0.9, -0.5, 1.1], np.float32)
    body = helper.make_graph(
        [
            helper.make_node("Mul", ["acc", "w"], ["acc_o"]),
            helper.make_node("Identity", ["c"], ["co"]),
        ],
        "body",
        [
            helper.make_tensor_value_info(n, t, s)
            for n, t, s in [("i", I64, []), ("c", B, []), ("acc", F, [3])]
        ],
        [
            helper.make_tensor_value_info("co", B, []),
            helper.make_tensor_value_info("acc_o", F, [3]),
        ],
        initializer=[numpy_helper.from_array(w, "w")],
    )
    data = _model(
        [helper.make_node("Loop", ["M", "", "x"], ["y"], body=body)],
        [helper.make_tensor_value_info("x", F, [3])],
        [helper.make_tensor_value_info("y", F, None)],
        [numpy_helper.from_array(np.array(trips, np.int64), "M")],
    )
    g = load(data)
    assert len(_runtime_loops(g)) == (trips > UNROLL_LIMIT)
    x = np.array([1.0, 2.0, 3.0], np.float32)
    np.testing.assert_allclose(g(x), run_onnxruntime(data, {"x": x})[0], rtol=1e-5)
    g.zero_grad()
    g(x)
    g.backward(np.ones(3, np.float32))
    (param,) = g.parameters()
    w64 = w.astype(np.float64)
    np.testing.assert_allclose(param.grad, trips * x * w64 ** (trips - 1), rtol=1e-4)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_linear_in_both_branches_of_an_if_inside_a_run_time_loop_is_one_weight():
    """for each row: if Σy > 0: y = lin(y) else: y = lin(−y), lin a Linear(4, 4): the weight
    and bias are each one Parameter across both branches and the body (they were held
    apart inside the body's If), trained as PyTorch trains them."""
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)

        def forward(self, x):
            y = x
            for _ in range(x.size(0)):
                if bool(y.sum() > 0):
                    y = torch.tanh(self.lin(y))
                else:
                    y = torch.tanh(self.lin(-y))
            return y

    net = torch.jit.script(Net())
    torch.manual_seed(3)
    x = torch.randn(3, 4)
    g = load(_torch_export(net, x, True))
    assert len(_runtime_loops(g)) == 1
    assert len(g.parameters()) == 2
    for sign in (1.0, -1.0):
        xt = (sign * x).requires_grad_(True)
        expected = net(xt)
        G = torch.randn(expected.shape)
        net.zero_grad()
        (expected * G).sum().backward()
        g.zero_grad()
        np.testing.assert_allclose(g(xt.detach().numpy()), expected.detach().numpy(), atol=1e-5)
        np.testing.assert_allclose(g.backward(G.numpy()), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
        grads = sorted((p.grad for p in g.parameters()), key=np.size)
        np.testing.assert_allclose(grads[0], net.lin.bias.grad.numpy(), rtol=1e-4, atol=1e-5)
        weight = net.lin.weight.grad.numpy()
        assert np.allclose(grads[1], weight, atol=1e-5) or np.allclose(
            grads[1], weight.T, atol=1e-5
        )
