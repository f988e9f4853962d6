"""cnnmath.onnx.load on a pooling in ceil_mode whose last window would start past the input
and its begin padding: onnx's shape inference before opset 22 (and a file declaring its
value_info from it) counts that window, the kernels do not, so a Shape read after such a
pooling must give the shape computed, not the one declared. Witnesses: onnxruntime with its
graph optimisations off (its Shape kernel reads the tensor; the default session folds the
declared shape and then fails a Reshape by it), ONNX's reference evaluator, and onnx's own
inference at opset 22, where the rule was corrected."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from cnnmath.onnx import load  # noqa: E402

F32 = TensorProto.FLOAT


def _unoptimised(data, feeds):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3  # the declared-shape mismatch warnings are the point here
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def _inferred(model, name):
    inferred = onnx.shape_inference.infer_shapes(model)
    (v,) = [v for v in inferred.graph.value_info if v.name == name]
    return tuple(
        d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim
    )


def _model(pools, x_shape, declared=None, opset=18):
    """x → pools (each (op, k, s, pad) in ceil_mode, its output p0, p1, …) → Relu → r;
    outputs: y = Cast(Shape(r)) and q = Reshape(last pool, Shape(r)). ``declared``: the
    value_info written for every pooling's output and r (a file's claim), or None."""
    nodes, value = [], "x"
    rank = len(x_shape) - 2
    for i, (op, k, s, pad) in enumerate(pools):
        extra = dict(p=2) if op == "LpPool" else {}
        nodes.append(helper.make_node(op, [value], [f"p{i}"], kernel_shape=[k] * rank,
                                      strides=[s] * rank, pads=[pad] * 2 * rank, ceil_mode=1,
                                      **extra))  # fmt: skip
        value = f"p{i}"
    nodes += [
        helper.make_node("Relu", [value], ["r"]),
        helper.make_node("Shape", ["r"], ["s"]),
        helper.make_node("Reshape", [value, "s"], ["q"]),
        helper.make_node("Cast", ["s"], ["y"], to=F32),
    ]
    names = [f"p{i}" for i in range(len(pools))] + ["r"]
    info = [helper.make_tensor_value_info(n, F32, d) for n, d in zip(names, declared or [])]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", F32, x_shape)],
        [
            helper.make_tensor_value_info("y", F32, None),
            helper.make_tensor_value_info("q", F32, None),
        ],
        value_info=info,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _ops(graph):
    return {getattr(n.module, "onnx_op", None) for n in graph.walk()}


CASES = [  # (pools, x shape, the computed output of the last, onnx's inference before 22)
    ([("MaxPool", 2, 2, 1)], (2, 3, 5, 4), (2, 3, 3, 3), (2, 3, 4, 3)),
    ([("MaxPool", 2, 2, 1)], (1, 2, 5), (1, 2, 3), (1, 2, 4)),
    ([("MaxPool", 1, 3, 0)], (1, 2, 7), (1, 2, 3), (1, 2, 3)),  # agrees: unchanged
    ([("MaxPool", 1, 3, 0)], (1, 2, 5), (1, 2, 2), (1, 2, 3)),  # no pads, stride > kernel
    ([("AveragePool", 2, 2, 1)], (2, 3, 5, 5), (2, 3, 3, 3), (2, 3, 4, 4)),
    ([("LpPool", 2, 2, 1)], (1, 2, 5, 5), (1, 2, 3, 3), (1, 2, 4, 4)),  # ceil_mode: opset 18
    ([("MaxPool", 2, 2, 1), ("MaxPool", 2, 2, 1)], (1, 2, 9, 9), (1, 2, 3, 3), (1, 2, 4, 4)),
]


@pytest.mark.parametrize("declared", [False, True], ids=["inferred", "declared"])
@pytest.mark.parametrize(("pools", "x_shape", "computed", "wider"), CASES)
def test_a_shape_after_a_ceil_mode_pooling_is_the_computed_one(
    pools, x_shape, computed, wider, declared
):
    """Shape(Relu(pool(x))) and a Reshape of the pooling by it: the shape computed (as
    onnxruntime's kernels and ONNX's reference evaluator), still folded at load, whether the
    wider shape comes from onnx's inference or from the file's value_info; two poolings in a
    row settle one after the other."""
    x = np.random.default_rng(len(x_shape)).standard_normal(x_shape).astype(np.float32)
    claims = None
    if declared:  # what an exporter that ran onnx's inference writes
        claims = [_inferred(_model(pools[: i + 1], x_shape), f"p{i}") for i in range(len(pools))]
        claims.append(claims[-1])
    model = _model(pools, x_shape, claims)
    assert _inferred(_model(pools, x_shape), f"p{len(pools) - 1}") == wider
    assert _inferred(_model(pools, x_shape, opset=22), f"p{len(pools) - 1}") == computed
    data = model.SerializeToString()
    graph = load(data)
    assert "Shape" not in _ops(graph)  # folded, to the right shape
    y, q = graph(x)
    want_y, want_q = _unoptimised(data, {"x": x})
    ref_y, ref_q = ReferenceEvaluator(model).run(None, {"x": x})
    np.testing.assert_array_equal(y, np.array(computed, np.float32))
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(y, ref_y)
    assert q.shape == want_q.shape == ref_q.shape == computed
    np.testing.assert_allclose(q, want_q, rtol=1e-6)


def test_a_symbolic_batch_keeps_its_symbol_and_the_shape_runs_at_run_time():
    """x of batch "b": the Shape is not folded but computed per call, (n, 3, 3, 3) at
    batches 2 and 4 as onnxruntime's, where inference says (b, 3, 4, 3)."""
    model = _model([("MaxPool", 2, 2, 1)], ("b", 3, 5, 4))
    assert _inferred(model, "p0") == (None, 3, 4, 3)
    data = model.SerializeToString()
    graph = load(data)
    for n in (2, 4):
        x = np.random.default_rng(n).standard_normal((n, 3, 5, 4)).astype(np.float32)
        y, q = graph(x)
        want_y, want_q = _unoptimised(data, {"x": x})
        np.testing.assert_array_equal(y, want_y)
        np.testing.assert_array_equal(y, np.array([n, 3, 3, 3], np.float32))
        np.testing.assert_allclose(q, want_q, rtol=1e-6)


def test_the_shape_of_max_pools_indices_is_the_computed_one_too():
    """MaxPool's second output (Indices, int64) has the pooled shape: Shape of it as
    onnxruntime's kernels give it, where inference says one window more."""
    nodes = [
        helper.make_node(
            "MaxPool",
            ["x"],
            ["p", "i"],
            kernel_shape=[2, 2],
            strides=[2, 2],
            pads=[1, 1, 1, 1],
            ceil_mode=1,
        ),  # fmt: skip
        helper.make_node("Shape", ["i"], ["s"]),
        helper.make_node("Cast", ["s"], ["y"], to=F32),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", F32, [2, 3, 5, 4])],
        [
            helper.make_tensor_value_info("y", F32, None),
            helper.make_tensor_value_info("p", F32, None),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    assert _inferred(model, "i") == (2, 3, 4, 3)
    data = model.SerializeToString()
    x = np.random.default_rng(9).standard_normal((2, 3, 5, 4)).astype(np.float32)
    y, p = load(data)(x)
    want_y, want_p = _unoptimised(data, {"x": x})
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(y, np.array([2, 3, 3, 3], np.float32))
    np.testing.assert_array_equal(p, want_p)


@pytest.mark.parametrize(
    "H, k, s, d, pads, ceil",
    [
        (1, 2, 2, 2, (1, 0), 1),  # the one window: the begin pad, then past the input
        (1, 2, 3, 3, (1, 0), 1),
        (1, 3, 2, 2, (1, 2), 1),
        (1, 2, 1, 2, (1, 1), 0),  # dilation alone: taps at -1 and 1 around a 1-row input
    ],
)
def test_a_window_holding_only_padding_is_the_empty_windows_value(H, k, s, d, pads, ceil):
    """A window that reads no element of x (pads, dilations and ceil_mode together): the
    average without its pads counted is 0/0, NaN where ONNX's reference evaluator gives NaN;
    the maximum of nothing is −∞ (a MaxPool with pads apart; with symmetric pads the
    dilation case is `max_pool2d`'s refusal). Every window holding an element of x agrees
    with the reference evaluator."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 2, H, 3)).astype(np.float32)

    def model(op, **extra):
        node = helper.make_node(op, ["x"], ["y"], kernel_shape=[k, 1], strides=[s, 1],
                                dilations=[d, 1], pads=[pads[0], 0, pads[1], 0],
                                ceil_mode=ceil, **extra)  # fmt: skip
        graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", F32, x.shape)],
                                  [helper.make_tensor_value_info("y", F32, None)])  # fmt: skip
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
        m.ir_version = 9
        return m

    avg = model("AveragePool", count_include_pad=0)
    with warnings.catch_warnings():  # the evaluator's mean of an empty window says so
        warnings.simplefilter("ignore", RuntimeWarning)
        want = ReferenceEvaluator(avg).run(None, {"x": x})[0]
    got = load(avg.SerializeToString())(x)
    assert got.shape == want.shape and np.isnan(want).any()
    np.testing.assert_allclose(got, want, rtol=1e-6, equal_nan=True)

    empty = np.isnan(want)  # the windows that hold only padding
    if pads[0] != pads[1]:
        y = load(model("MaxPool").SerializeToString())(x)
        assert np.all(y[empty] == -np.inf)
        assert np.isfinite(y[~empty]).all()
    else:
        with pytest.raises(ValueError, match="dilation.*reads only padding"):
            load(model("MaxPool").SerializeToString())(x)
