"""cnnmath.onnx.load on malformed or hostile nodes: a node missing required inputs or its
output (refused at load time, naming the node and the input, where ONNX's checker refuses
the node against the operator specification), out-of-range Gather indices and Reshape
zeros (where onnxruntime refuses them), Slice's clamping of starts and ends (against
onnxruntime over a grid with the INT_MAX sentinels), and a load time linear in the number
of nodes."""

from __future__ import annotations

import copy
import re
import sys
from collections import Counter

import numpy as np
import pytest

from cnnmath import nn
from cnnmath.gradcheck import check_gradients

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from cnnmath.onnx import load  # noqa: E402
from cnnmath.onnx._ops import (  # noqa: E402
    CONVERTERS,
    SIGNATURES,
    VARIADIC,
    Refusal,
)

INT_MAX = 2**63 - 1
rng = np.random.default_rng(0)


def _model(nodes, inputs, inits=(), opset=17, output="y"):
    """A model of ``nodes`` with graph inputs [(name, ONNX type, shape or None)] and
    initializers [(name, array)]; its output ``output`` float32, of undeclared shape."""
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(a, n) for n, a in inits],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


_X = [("x", TensorProto.FLOAT, [1, 3, 4, 4])]


def _session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _spec_refuses(node, opset):
    """Assert that ONNX's checker refuses ``node`` for its inputs' or outputs' count or an
    empty required input (the specification's verdict, independent of the loader)."""
    ctx = onnx.checker.C.CheckerContext()
    ctx.ir_version, ctx.opset_imports = 8, {"": opset}
    with pytest.raises(onnx.checker.ValidationError, match=r"(in|out)put size|marked single"):
        onnx.checker.check_node(node, ctx, onnx.checker.C.LexicalScopeContext())


def _signature(op, opset):
    """(input names, how many are required) of ``op`` at ``opset`` from the loader's table."""
    since, names, required = [v for v in SIGNATURES[op] if v[0] <= opset][-1]
    return names.split(), required


def _first_opset(op):
    """The first opset from 17 on in which onnx.defs defines ``op`` (Mish: 18, Gelu: 20), not
    as a deprecated version (GroupNormalization: 21; ONNX's checker refuses its opset 18)."""
    for opset in range(17, onnx.defs.onnx_opset_version() + 1):
        try:
            if not onnx.defs.get_schema(op, opset).deprecated:
                return opset
        except Exception:
            continue
    raise AssertionError(op)


# ---------------------------------------------------------------------------------------------
# Inputs and outputs of a node


def test_every_op_read_has_a_signature_and_it_is_the_onnx_specification():
    """The loader's table against onnx.defs (the operator specification) at every opset it
    reads, 11 to the newest onnx knows: the input names, how many are required (the
    'Single' ones), which ops are variadic."""
    Option = onnx.defs.OpSchema.FormalParameterOption
    assert set(SIGNATURES) == {*CONVERTERS, "Constant"}
    for op in SIGNATURES:
        for opset in range(11, onnx.defs.onnx_opset_version() + 1):
            try:
                schema = onnx.defs.get_schema(op, opset)
            except Exception:  # not yet defined at this opset (Gelu before 20)
                continue
            names, required = _signature(op, opset)
            spec = schema.inputs
            assert names == [i.name for i in spec], (op, opset)
            variadic = any(i.option == Option.Variadic for i in spec)
            assert (op in VARIADIC) == variadic, (op, opset)
            singles = sum(i.option == Option.Single for i in spec)
            assert required == (schema.min_input if variadic else singles), (op, opset)


def _missing_one(op):
    """A node of ``op`` listing its required inputs but the last; the missing input's name
    (a variadic op's first: Sum's data_0, Concat's inputs[0], Einsum's Inputs[0])."""
    opset = _first_opset(op)
    names, required = _signature(op, opset)
    missing = names[required - 1]
    if op in VARIADIC and missing in ("inputs", "Inputs"):
        missing += "[0]"
    return helper.make_node(op, ["x"] * (required - 1), ["y"], name="n"), missing, opset


# every op with a required input (Constant, RandomNormal and RandomUniform have none)
@pytest.mark.parametrize("op", sorted(op for op in SIGNATURES if SIGNATURES[op][-1][2] > 0))
def test_a_node_missing_a_required_input_is_refused_at_load_naming_it(op):
    """Every op (Add with one input, Conv without W, Relu with none, Slice with only data,
    …): a Refusal at load time naming the node and the input, where onnxruntime refuses
    the model too (the witness that the node is invalid)."""
    node, missing, opset = _missing_one(op)
    model = _model([node], _X, opset=opset)
    _spec_refuses(node, opset)
    with pytest.raises(
        Refusal, match=rf"^cnnmath.onnx.load: node 'n' \({op}\): input '{re.escape(missing)}'"
    ):
        load(model.SerializeToString())


@pytest.mark.parametrize(
    "op, inputs, missing",
    [
        ("Conv", ["x", ""], "W"),
        ("Gemm", ["x", "", "x"], "B"),
        ("Slice", ["x", "s", ""], "ends"),
        ("Where", ["", "x", "x"], "condition"),
    ],
)
def test_a_required_input_given_as_the_empty_name_is_refused(op, inputs, missing):
    node = helper.make_node(op, inputs, ["y"], name="n")
    model = _model([node], _X, [("s", np.zeros(1, np.int64))])
    _spec_refuses(node, 17)
    with pytest.raises(
        Refusal, match=rf"node 'n' \({op}\): input '{missing}': .*got none \(input \d is the empty"
    ):
        load(model.SerializeToString())


@pytest.mark.parametrize(
    "node, opset, expected",
    [
        (helper.make_node("Relu", ["x", "x"], ["y"], name="n"), 17, r"at most 1 \(X\), got 2"),
        (
            helper.make_node("Squeeze", ["x", "a"], ["y"], name="n"),
            11,
            r"at most 1 \(data\), got 2",
        ),
        (
            helper.make_node("Dropout", ["x", "r"], ["y"], name="n"),
            11,
            r"at most 1 \(data\), got 2",
        ),
        (
            helper.make_node("Constant", ["x"], ["y"], name="n", value_float=1.0),
            17,
            r"at most 0, got 1",
        ),
    ],
    ids=["Relu", "Squeeze-11", "Dropout-11", "Constant"],
)
def test_more_inputs_than_the_op_has_at_its_opset_are_refused(node, opset, expected):
    inits = [("a", np.zeros(1, np.int64)), ("r", np.full((), 0.5, np.float32))]
    model = _model([node], _X, inits, opset)
    _spec_refuses(node, opset)
    with pytest.raises(Refusal, match=rf"node 'n' \({node.op_type}\): inputs: expected {expected}"):
        load(model.SerializeToString())


@pytest.mark.parametrize("outputs", [[], [""]], ids=["none", "empty-name"])
def test_a_node_without_an_output_is_refused_naming_it(outputs):
    if not outputs:
        _spec_refuses(helper.make_node("Relu", ["x"], outputs), 17)
    nodes = [
        helper.make_node("Relu", ["x"], outputs, name="lost"),
        helper.make_node("Relu", ["x"], ["y"], name="kept"),
    ]
    with pytest.raises(Refusal, match=r"node 'lost' \(Relu\): outputs: expected at least one"):
        load(_model(nodes, _X).SerializeToString())
    unnamed = [helper.make_node("Relu", ["x"], outputs), nodes[1]]
    with pytest.raises(Refusal, match=r"node '#0' \(Relu\): outputs: .*\(node 0 of the graph\)"):
        load(_model(unnamed, _X).SerializeToString())


def test_variadic_ops_refuse_an_empty_input_naming_it():
    node = helper.make_node("Concat", ["x", "", "x"], ["y"], name="c", axis=1)
    with pytest.raises(
        Refusal, match=r"node 'c' \(Concat\): input 'inputs\[1\]': expected a value"
    ):
        load(_model([node], _X).SerializeToString())


@pytest.mark.parametrize(
    "attrs",
    [
        dict(output_padding=[1], strides=[2, 2]),
        dict(output_padding=[1, 1, 1], strides=[2, 2]),
        dict(output_shape=[9]),
        dict(output_shape=[1, 2, 9, 9]),
    ],
)
def test_conv_transpose_output_padding_or_shape_not_one_per_spatial_axis_is_refused(attrs):
    """Found by the audit's fuzzing: an IndexError at load or run before; onnxruntime
    refuses these too (one value per spatial axis)."""
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="ct", **attrs)
    model = _model([node], _X, [("w", np.ones((3, 2, 3, 3), np.float32))])
    with pytest.raises(Exception):  # noqa: B017
        _session(model)
    (name, value), *_ = attrs.items()
    with pytest.raises(
        Refusal, match=rf"node 'ct' \(ConvTranspose\): attribute '{name}': expected 2 values"
    ):
        load(model.SerializeToString())


def test_conv_transpose_with_a_weight_not_4d_is_refused_as_conv_is():
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="ct")
    model = _model([node], _X, [("w", np.ones(53, np.float32))])
    with pytest.raises(Exception):  # noqa: B017
        _session(model).run(None, {"x": np.zeros((1, 3, 4, 4), np.float32)})
    with pytest.raises(Refusal, match=r"node 'ct' \(ConvTranspose\): input 'W': only 2-D"):
        load(model.SerializeToString())


@pytest.mark.parametrize("op", ["Conv", "ConvTranspose"])
@pytest.mark.parametrize("weight_known", [True, False])
def test_a_kernel_shape_other_than_the_weights_is_refused(op, weight_known):
    """ConvTranspose ignored it (Conv checked only when run); onnxruntime refuses both: at
    load when the weight is an initializer, when run when it is a graph input."""
    node = helper.make_node(op, ["x", "w"], ["y"], name="c", kernel_shape=[2, 2])
    w = np.ones((3, 3, 3, 3), np.float32)
    if weight_known:
        model = _model([node], _X, [("w", w)])
    else:
        model = _model([node], [*_X, ("w", TensorProto.FLOAT, None)])
    feeds = {"x": np.zeros((1, 3, 4, 4), np.float32), "w": w}
    with pytest.raises(Exception):  # noqa: B017
        _session(model).run(None, feeds if not weight_known else {"x": feeds["x"]})
    message = rf"node 'c' \({op}\): attribute 'kernel_shape': expected the weight's \[3, 3\], got"
    if weight_known:
        with pytest.raises(Refusal, match=message):
            load(model.SerializeToString())
    else:
        graph = load(model.SerializeToString())
        with pytest.raises(ValueError, match=message):
            graph(feeds["x"], w)


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("pads", [[2, 0, 0, 0], [0, 0, 0, 3], [0, 3, 0, 0], [0, 0, 2, 0]])
def test_pool_pads_as_large_as_the_window_are_refused(op, pads):
    """A window could then lie wholly in the padding (the average's 0/0 gave NaN here);
    onnxruntime refuses the node too. One pad less is run, as onnxruntime runs it."""
    x = rng.standard_normal((1, 3, 4, 4)).astype(np.float32)
    node = helper.make_node(op, ["x"], ["y"], name="pool", kernel_shape=[2, 3], pads=pads)
    model = _model([node], _X)
    with pytest.raises(Exception):  # noqa: B017
        _session(model).run(None, {"x": x})
    with pytest.raises(Refusal, match=r"node 'pool' .*attribute 'pads': expected each pad"):
        load(model.SerializeToString())
    fewer = [p - 1 if p else 0 for p in pads]
    node = helper.make_node(op, ["x"], ["y"], name="pool", kernel_shape=[2, 3], pads=fewer)
    model = _model([node], _X)
    want = _session(model).run(None, {"x": x})[0]
    np.testing.assert_allclose(load(model.SerializeToString())(x), want, rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Gather indices, Reshape zeros, Concat shapes


def _shape_gather_reshape(index):
    """Shape(x) → Gather(indices) → Reshape(x, ·), x declared (1, 3, 4, 4): folded at load."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"], name="shape"),
        helper.make_node("Gather", ["s", "i"], ["g"], name="gather"),
        helper.make_node("Concat", ["minus", "g"], ["t"], name="cat", axis=0),
        helper.make_node("Reshape", ["x", "t"], ["y"], name="reshape"),
    ]
    inits = [("i", np.array([index], np.int64)), ("minus", np.array([-1], np.int64))]
    return _model(nodes, _X, inits)


@pytest.mark.parametrize("index", [-4, -1, 0, 3])
def test_gather_indices_in_range_fold_as_onnxruntime_computes(index):
    model = _shape_gather_reshape(index)
    x = rng.standard_normal((1, 3, 4, 4)).astype(np.float32)
    want = _session(model).run(None, {"x": x})[0]
    np.testing.assert_array_equal(load(model.SerializeToString())(x), want)


@pytest.mark.parametrize("index", [-5, 4, 9])
def test_gather_index_out_of_range_is_refused_at_load_naming_the_node(index):
    model = _shape_gather_reshape(index)
    x = np.zeros((1, 3, 4, 4), np.float32)
    with pytest.raises(Exception):  # noqa: B017 - onnxruntime refuses it when run
        _session(model).run(None, {"x": x})
    with pytest.raises(
        Refusal,
        match=rf"node 'gather' \(Gather\): input 'indices': expected values in \[-4, 3\] "
        rf"\(axis 0 of 'data', shape \(4,\)\), got {index}",
    ):
        load(model.SerializeToString())


def test_gather_index_out_of_range_at_run_time_is_a_value_error_naming_the_node():
    node = helper.make_node("Gather", ["x", "i"], ["y"], name="gather", axis=1)
    model = _model([node], [("x", TensorProto.FLOAT, None)], [("i", np.array([0, 3], np.int64))])
    graph = load(model.SerializeToString())
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(Exception):  # noqa: B017
        _session(model).run(None, {"x": x})
    with pytest.raises(ValueError, match=r"node 'gather' \(Gather\): input 'indices': .*got 3"):
        graph(x)
    np.testing.assert_array_equal(graph(np.zeros((2, 4), np.float32)), np.zeros((2, 2)))


def _reshape(shape, x_shape=(1, 3, 4, 4), **attrs):
    node = helper.make_node("Reshape", ["x", "s"], ["y"], name="reshape", **attrs)
    x = [("x", TensorProto.FLOAT, None if x_shape is None else list(x_shape))]
    return _model([node], x, [("s", np.array(shape, np.int64))])


def test_reshape_zero_past_the_inputs_rank_is_refused_at_load_and_when_run():
    """ONNX: a 0 in the shape copies the input's dimension at that index, which must exist.
    Refused at load when the rank is declared, when run (a ValueError naming the node)
    when it is not; onnxruntime refuses it when run."""
    x = np.zeros((1, 3, 4, 4), np.float32)
    message = (
        r"node 'reshape' \(Reshape\): input 'shape': a 0 copies .* index 4 and 'data' has rank 4"
    )
    with pytest.raises(Exception):  # noqa: B017
        _session(_reshape([1, 3, 4, 4, 0])).run(None, {"x": x})
    with pytest.raises(Refusal, match=message):
        load(_reshape([1, 3, 4, 4, 0]).SerializeToString())
    graph = load(_reshape([1, 3, 4, 4, 0], x_shape=None).SerializeToString())
    with pytest.raises(ValueError, match=message):
        graph(x)


@pytest.mark.parametrize(
    "shape, attrs, expected",
    [
        ([0, -1, 4], {}, None),
        ([0, 0, 16], {}, None),
        ([-1, 0], {}, None),
        ([3, -1, -1], {}, r"expected values >= -1 with at most one -1, got \[3, -1, -1\]"),
        ([3, -2, 16], {}, r"expected values >= -1 with at most one -1"),
        ([5, 10], {}, r"expected a shape of 48 values .*got \[5, 10\]"),
        ([0, -1], {"allowzero": 1}, r"expected no -1 beside a 0 with allowzero=1"),
    ],
)
def test_reshape_shapes_as_onnxruntime_reads_them(shape, attrs, expected):
    x = rng.standard_normal((1, 3, 4, 4)).astype(np.float32)
    model = _reshape(shape, x_shape=None, **attrs)
    if expected is None:
        want = _session(model).run(None, {"x": x})[0]
        np.testing.assert_array_equal(load(model.SerializeToString())(x), want)
        return
    with pytest.raises(Exception):  # noqa: B017
        _session(model).run(None, {"x": x})
    with pytest.raises(ValueError, match=rf"node 'reshape' \(Reshape\): input 'shape': {expected}"):
        load(model.SerializeToString())(x)


def test_a_folded_concat_of_mismatched_constants_is_refused_naming_the_node():
    node = helper.make_node("Concat", ["a", "b"], ["c"], name="cat", axis=0)
    add = helper.make_node("Add", ["x", "c"], ["y"])
    inits = [("a", np.zeros((2, 3), np.float32)), ("b", np.zeros((2, 4), np.float32))]
    with pytest.raises(
        Refusal,
        match=r"node 'cat' \(Concat\): input 1: expected input 0's rank \(>= 1\) and shape "
        r"\(2, 3\) except along axis 0, got shape \(2, 4\)",
    ):
        load(_model([node, add], _X, inits).SerializeToString())


# ---------------------------------------------------------------------------------------------
# Slice


def _slice_model(x_shape):
    """Slice(x, starts, ends, axes, steps) with all five as graph inputs (one model, one
    session for a whole grid)."""
    node = helper.make_node("Slice", ["x", "s", "e", "a", "p"], ["y"], name="slice")
    inputs = [("x", TensorProto.FLOAT, list(x_shape))]
    inputs += [(n, TensorProto.INT64, [1]) for n in "seap"]
    return _model([node], inputs)


_INT32_MAX = 2**31 - 1
_BOUNDS = [-INT_MAX, -(2**63), -(2**31), -10, -6, -5, -4, -1, 0, 1, 2, 4, 5, 6, 10]
_BOUNDS += [_INT32_MAX, INT_MAX]
_STEPS = [-INT_MAX, -3, -2, -1, 1, 2, 3, INT_MAX]


def _spec_indices(n, start, end, step):
    """The indices ONNX's Slice reads along an axis of n values, straight from the
    specification's text: start and end += n where negative; start clamped to [0, n] for
    a positive step, [0, n − 1] for a negative one; end to [0, n], [−1, n − 1]; then
    start, start + step, … while before end (after it, stepping down)."""
    start, end = start + n if start < 0 else start, end + n if end < 0 else end
    low, high = (0, n) if step > 0 else (0, n - 1)
    start = min(max(start, low), high)
    end = min(max(end, 0 if step > 0 else -1), high)
    out, i = [], start
    while (i < end) if step > 0 else (i > end):
        out.append(i)
        i += step
    return out


@pytest.mark.parametrize("axis, dim", [(3, 5), (1, 1), (-2, 4)])
def test_slice_clamps_starts_and_ends_as_the_specification_over_a_grid(axis, dim):
    """Every start and end of ``_BOUNDS`` (the INT_MAX sentinels among them) with every
    step of ``_STEPS``: the output against onnxruntime, and its indices along the axis
    against the specification's rule (``_spec_indices``). One known disagreement between
    the two: onnxruntime reads an end of INT32_MAX or INT64_MAX with a negative step as
    "through the first value" (numpy's None), where the specification clamps it to n − 1
    (nothing read from a start ≤ n − 1); cnnmath follows the specification there."""
    x_shape = (2, dim, 4, 5) if axis == 1 else (2, 3, 4, 5)
    model = _slice_model(x_shape)
    session, graph = _session(model), load(model.SerializeToString())
    x = rng.standard_normal(x_shape).astype(np.float32)
    n = x_shape[axis]
    for start in _BOUNDS:
        for end in _BOUNDS:
            for step in _STEPS:
                v = [np.array([k], np.int64) for k in (start, end, axis, step)]
                got = graph(x, *v)
                want = np.take(x, _spec_indices(n, start, end, step), axis=axis)
                assert got.shape == want.shape, (start, end, step)
                np.testing.assert_array_equal(got, want)
                runtime = session.run(None, dict(zip(["x", *"seap"], [x, *v])))[0]
                if end in (_INT32_MAX, INT_MAX) and step < 0:
                    continue
                assert runtime.shape == got.shape, (start, end, step)
                np.testing.assert_array_equal(got, runtime)


def test_slice_with_a_negative_step_from_before_the_first_value_folds_as_onnxruntime():
    """The audit's case: start −5 < −dim, end −10, step −1 on an axis of 4: one value (the
    first), not none."""
    node = helper.make_node("Slice", ["x", "s", "e", "a", "p"], ["y"], name="slice")
    consts = dict(s=[-5], e=[-10], a=[3], p=[-1])
    model = _model([node], _X, [(k, np.array(v, np.int64)) for k, v in consts.items()])
    x = rng.standard_normal((1, 3, 4, 4)).astype(np.float32)
    want = _session(model).run(None, {"x": x})[0]
    assert want.shape == (1, 3, 4, 1)
    np.testing.assert_array_equal(load(model.SerializeToString())(x), want)


def test_slice_with_negative_steps_differentiates_by_finite_differences():
    node = helper.make_node("Slice", ["x", "s", "e", "a", "p"], ["y"], name="slice")
    consts = dict(s=[-1, 7], e=[-INT_MAX, -10], a=[3, 2], p=[-2, -1])
    model = _model(
        [node],
        [("x", TensorProto.DOUBLE, [2, 3, 4, 5])],
        [(k, np.array(v, np.int64)) for k, v in consts.items()],
    )
    graph = load(model.SerializeToString())
    x = rng.standard_normal((2, 3, 4, 5))

    def backward(G, x):
        graph(x)
        return graph.backward(G)

    check_gradients(graph, backward, [x])


@pytest.mark.parametrize(
    "consts, expected",
    [
        (
            dict(s=[0, 0], e=[1], a=[0, 1]),
            r"input 'ends': expected 2 values \(one per start\), got 1",
        ),
        (dict(s=[0], e=[1], a=[1], p=[0]), r"input 'steps': expected non-zero values, got \[0\]"),
        (
            dict(s=[0, 0], e=[1, 1], a=[1, -3]),
            r"input 'axes': expected distinct axes, got \[1, 1\]",
        ),
        (dict(s=[0] * 5, e=[1] * 5), r"input 'starts': expected at most 4 values"),
    ],
    ids=["lengths", "zero-step", "repeated-axis", "too-many"],
)
def test_slice_inputs_onnxruntime_refuses_are_refused_naming_the_node(consts, expected):
    names = ["x", "s", "e"] + [k for k in ("a", "p") if k in consts]
    node = helper.make_node("Slice", names, ["y"], name="slice")
    model = _model([node], _X, [(k, np.array(v, np.int64)) for k, v in consts.items()])
    x = np.zeros((1, 3, 4, 4), np.float32)
    with pytest.raises(Exception):  # noqa: B017
        _session(model).run(None, {"x": x})
    with pytest.raises(ValueError, match=rf"node 'slice' \(Slice\): {expected}"):
        load(model.SerializeToString())(x)


# ---------------------------------------------------------------------------------------------
# Load time linear in the nodes


def _relu_chain(n):
    """n + 1 Relu nodes in a chain, all with one exporter name (so every node after the
    first is named "a_Relu" plus a suffix): the case whose load was quadratic."""
    nodes = [helper.make_node("Relu", ["x"], ["v0"], name="/a/Relu")]
    nodes += [helper.make_node("Relu", [f"v{i}"], [f"v{i + 1}"], name="/a/Relu") for i in range(n)]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info(f"v{n}", TensorProto.FLOAT, None)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_load_work_grows_linearly_with_the_number_of_nodes(monkeypatch):
    """The steps Graph.add (children scanned) and the loader's name search (candidates
    tried) take, counted — deterministic, not timed: 4× the nodes, about 4× the steps
    (quadratic was 16×: 20,001 nodes took minutes)."""
    steps = Counter()
    children = nn.Module.named_children
    names = sys.modules["cnnmath.onnx.load"]._Names
    free = names._free

    def counted_children(self):
        for item in children(self):
            steps["children"] += 1
            yield item

    def counted_free(self, candidate, g):
        steps["candidates"] += 1
        return free(self, candidate, g)

    monkeypatch.setattr(nn.Module, "named_children", counted_children)
    monkeypatch.setattr(names, "_free", counted_free)
    work = {}
    for n in (400, 1600):
        steps.clear()
        graph = load(_relu_chain(n).SerializeToString())
        assert len(graph.nodes) == n + 1 and graph.nodes[-1].name == f"a_Relu_{n - 1}"
        work[n] = dict(steps)
    for kind in ("children", "candidates"):
        assert work[1600][kind] <= 4.5 * work[400][kind], (kind, work)


def test_a_loaded_chain_runs_and_names_its_nodes_in_order():
    graph = load(_relu_chain(3).SerializeToString())
    assert [n.name for n in graph.nodes] == ["a", "a_Relu", "a_Relu_1", "a_Relu_2"]
    x = rng.standard_normal((1, 3)).astype(np.float32)
    np.testing.assert_array_equal(graph(x), np.maximum(x, 0))


def _children_by_scan(g):
    counts = Counter(id(c) for _, c in g.named_children())
    return dict(counts)


def test_graph_add_tells_children_apart_through_assignment_deletion_and_copies():
    """Graph.add's count of children (kept as attributes are set and deleted, rebuilt in a
    copy) agrees with a scan of the attributes, and add names nodes as it always did: a
    child by its attribute name, used again with a suffix; any other module registered."""
    g = nn.Graph()
    relu, tanh = nn.ReLU(), nn.Tanh()
    g.act = relu
    assert g.add(relu, "x") == "act" and g.add(relu, "act") == "act_1"
    g.act = tanh  # relu is no longer a child: registered under a name of its own
    assert g.add(relu, "act_1") == "relu" and g.relu is relu
    g.other = tanh  # one module under two names: the first ("act") is its child name
    assert g.add(tanh, "relu") == "act_2"
    with pytest.raises(AttributeError, match="act: node"):  # nodes apply it: not deleted
        del g.act
    g.act = nn.Identity()  # replaced instead (its nodes follow): tanh a child as "other" only
    assert g.add(tanh, "x") == "other"
    assert g._child_index() == _children_by_scan(g)
    assert [n.name for n in g.nodes] == ["act", "act_1", "relu", "act_2", "other"]
    shallow = copy.copy(g)  # shares g's node list, not its count of children
    shallow.extra = nn.Sigmoid()
    assert shallow._child_index() == _children_by_scan(shallow)
    assert g._child_index() == _children_by_scan(g)
    deep = copy.deepcopy(g)
    assert deep._child_index() == _children_by_scan(deep)
    assert deep.add(deep.other, "x") == "other_1" and "other_1" not in vars(deep)
    deep.other = nn.ReLU()
    assert deep.add(deep.other, "x") == "other_2" and deep._child_index() == _children_by_scan(deep)
