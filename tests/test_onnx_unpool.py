"""ONNX MaxPool with its Indices output and MaxUnpool: load (against onnxruntime, ONNX's
node tests and finite differences) and save (the file run by onnxruntime)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from cnnmath import nn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402

from cnnmath.onnx import load, save  # noqa: E402
from helpers import check_input_gradients  # noqa: E402
from helpers import onnx_model_bytes as _model  # noqa: E402
from helpers import run_onnxruntime as _run_ort  # noqa: E402


def _pool_unpool(order=0, pads=(0, 0, 0, 0), kernel=(2, 2), strides=(2, 2), shape_input=None):
    """x → MaxPool(Y, I) → Relu(Y) → MaxUnpool(·, I[, output_shape]); outputs (U, I)."""
    pool = helper.make_node(
        "MaxPool",
        ["x"],
        ["y", "i"],
        kernel_shape=list(kernel),
        strides=list(strides),
        pads=list(pads),
        storage_order=order,
    )
    nodes = [pool, helper.make_node("Relu", ["y"], ["r"])]
    unpool_inputs = ["r", "i"]
    if shape_input == "runtime":
        nodes.append(helper.make_node("Shape", ["x"], ["s"]))
        unpool_inputs.append("s")
    kw = {"kernel_shape": list(kernel), "strides": list(strides), "pads": list(pads)}
    nodes.append(helper.make_node("MaxUnpool", unpool_inputs, ["u"], **kw))
    return nodes


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize(
    ("shape", "kernel", "strides", "pads"),
    [
        ((2, 3, 6, 6), (2, 2), (2, 2), (0, 0, 0, 0)),
        ((2, 2, 7, 5), (3, 3), (2, 2), (1, 1, 1, 1)),  # overlapping windows, padding
    ],
)
def test_loaded_maxpool_indices_and_maxunpool_equal_onnxruntime(
    order, shape, kernel, strides, pads
):
    x = np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)
    nodes = _pool_unpool(order, pads, kernel, strides, "runtime" if order == 0 else None)
    if order == 1:  # ORT's MaxUnpool reads row-major indices: return Y and I only
        nodes = nodes[:1]
        outputs = [("y", TensorProto.FLOAT), ("i", TensorProto.INT64)]
    else:
        outputs = [("u", TensorProto.FLOAT), ("i", TensorProto.INT64)]
    data = _model(nodes, [("x", TensorProto.FLOAT, shape)], outputs)
    witness = _run_ort(data, {"x": x})
    got = load(data)(x)
    for mine, theirs in zip(got, witness, strict=True):
        assert mine.dtype == theirs.dtype and mine.shape == theirs.shape
        np.testing.assert_array_equal(mine, theirs)
    assert got[1].max() >= np.prod(shape[2:])  # offsets of later planes (n·C + c)·H·W


def test_loaded_maxunpool_with_a_constant_output_shape_equals_onnxruntime():
    x = np.random.default_rng(5).standard_normal((1, 2, 7, 7)).astype(np.float32)
    shape = helper.make_tensor("s", TensorProto.INT64, [4], [1, 2, 7, 7])
    nodes = _pool_unpool()
    nodes[-1].input.append("s")
    data = _model(nodes, [("x", TensorProto.FLOAT, x.shape)], [("u", TensorProto.FLOAT)], [shape])
    (witness,) = _run_ort(data, {"x": x})
    got = load(data)(x)
    assert got.shape == (1, 2, 7, 7)
    np.testing.assert_array_equal(got, witness)


def test_loaded_graph_gradients_match_finite_differences():
    x = np.random.default_rng(6).standard_normal((2, 2, 5, 5))
    # tiling windows: with overlapping ones an element chosen by two windows gets both
    # gradients (PyTorch's, which the layer tests check) though only one value reaches Y
    nodes = _pool_unpool(shape_input="runtime")  # 5×5 → 2×2 → 5×5
    data = _model(nodes, [("x", TensorProto.DOUBLE, x.shape)], [("u", TensorProto.DOUBLE)])
    g = load(data)
    check_input_gradients(g, [x])


def test_node_tests_of_maxpool_indices_and_maxunpool():
    """ONNX's own node tests: the expected outputs, but where ONNX's reference and
    onnxruntime disagree (MaxUnpool with output_shape: the reference scatters into the
    inferred shape and pads; onnxruntime, like PyTorch, reads the indices as positions in
    the output itself), onnxruntime's numbers."""
    from onnx.backend.test.case import node
    from onnx.numpy_helper import to_array

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # importing an op's case module registers its node tests (all of them: seconds)
        from onnx.backend.test.case.node import maxpool, maxunpool  # noqa: F401
    cases = [
        c
        for c in node._NodeTestCases
        if c.name.startswith(("test_maxunpool_", "test_maxpool_with_argmax_"))
    ]
    assert len(cases) == 4
    for case in cases:
        data = case.model.SerializeToString()
        graph = load(data)
        for inputs, outputs in case.data_sets:
            inputs = [a if isinstance(a, np.ndarray) else to_array(a) for a in inputs]
            outputs = [a if isinstance(a, np.ndarray) else to_array(a) for a in outputs]
            got = graph(*inputs)
            got = got if isinstance(got, tuple) else (got,)
            if case.name == "test_maxunpool_export_with_output_shape":
                assert not np.array_equal(got[0], outputs[0])  # the reference's reading
                outputs = _run_ort(
                    data, dict(zip([i.name for i in case.model.graph.input], inputs))
                )
            for mine, expected in zip(got, outputs, strict=True):
                assert mine.dtype == expected.dtype
                np.testing.assert_array_equal(mine, expected)


@pytest.mark.parametrize(
    ("feeds", "pattern"),
    [
        ({"i": np.full((1, 1, 2, 2), 16, np.int64)}, r"input 'I': expected indices in \[0, 16\)"),
        ({"i": np.full((1, 1, 2, 2), -1, np.int64)}, r"input 'I': .*from -1 to -1"),
        ({"i": np.zeros((1, 1, 2, 3), np.int64)}, r"input 'I': expected an integer tensor of "),
        ({"s": np.array([1, 2, 4, 4])}, r"input 'output_shape': expected 4 integers .*\(1, 1\)"),
        ({"s": np.array([1, 1, 4])}, r"input 'output_shape': expected 4 integers"),
    ],
)
def test_loaded_maxunpool_refuses_bad_inputs_naming_them(feeds, pattern):
    unpool = helper.make_node(
        "MaxUnpool", ["x", "i", "s"], ["u"], kernel_shape=[2, 2], strides=[2, 2]
    )
    data = _model(
        [unpool],
        [
            ("x", TensorProto.DOUBLE, [1, 1, 2, 2]),
            ("i", TensorProto.INT64, None),
            ("s", TensorProto.INT64, None),
        ],
        [("u", TensorProto.DOUBLE)],
    )
    args = {"x": np.ones((1, 1, 2, 2)), "i": np.arange(4).reshape(1, 1, 2, 2), "s": None}
    args.update(feeds)
    if args["s"] is None:
        args["s"] = np.array([1, 1, 4, 4])
    with pytest.raises(ValueError, match=r"cnnmath.onnx.load: node .*MaxUnpool.*" + pattern):
        load(data)(args["x"], args["i"], args["s"])


def test_maxpool_indices_refused_where_no_layer_computes_them():
    pool = helper.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[2, 2], pads=[1, 1, 0, 0])
    data = _model(
        [pool],
        [("x", TensorProto.FLOAT, [1, 1, 4, 4])],
        [("y", TensorProto.FLOAT), ("i", TensorProto.INT64)],
    )
    with pytest.raises(ValueError, match=r"MaxPool.*attribute 'pads': expected equal pads"):
        load(data)


def _segnet(dtype=np.float32):
    g = nn.Graph()
    g.add(nn.Conv2d(2, 3, 3, padding=1, rng=0, dtype=dtype), "x", name="enc")
    y, idx = g.add(nn.MaxPool2d(3, 2, 1, return_indices=True), "enc", name="pool")
    g.add(nn.Conv2d(3, 3, 3, padding=1, rng=1, dtype=dtype), y, name="mid")
    g.add(nn.MaxUnpool2d(3, 2, 1), "mid", idx, "enc", name="unpool")
    g.add(nn.Conv2d(3, 2, 1, rng=2, dtype=dtype), "unpool", name="dec")
    return g, idx


def test_saved_encoder_decoder_runs_in_onnxruntime_as_in_cnnmath(tmp_path):
    g, idx = _segnet()
    g.set_output("dec", idx)
    x = np.random.default_rng(7).standard_normal((2, 2, 7, 6)).astype(np.float32)
    path = tmp_path / "segnet.onnx"
    save(g, path, x)
    proto = onnx.load(str(path))
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("MaxPool") == 1 and ops.count("MaxUnpool") == 1
    (pool,) = [n for n in proto.graph.node if n.op_type == "MaxPool"]
    assert list(pool.output) == ["pool", "pool_indices/whole"]  # ONNX's flattening
    assert [o.name for o in proto.graph.output] == ["dec", "pool_indices"]  # names kept
    want = g(x)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for other in (x, x[:1]):  # the batch axis stays free
        want = g(other)
        for theirs, mine in zip(session.run(None, {"x": other}), want, strict=True):
            assert theirs.dtype == mine.dtype
            np.testing.assert_allclose(theirs, mine, rtol=1e-5, atol=1e-6)
    back = load(path)
    for theirs, mine in zip(back(x), g(x), strict=True):
        np.testing.assert_allclose(theirs, mine, rtol=1e-5, atol=1e-6)


def test_save_of_an_unpool_of_float_indices_names_them(tmp_path):
    g = nn.Graph(inputs=("x", "i"))
    g.add(nn.MaxUnpool2d(2), "x", "i", name="unpool")
    g.set_output("unpool")
    with pytest.raises(TypeError, match=r"max_unpool2d: indices: expected an integer array"):
        save(g, tmp_path / "u.onnx", (np.ones((1, 1, 2, 2), np.float32),) * 2)
    assert not (tmp_path / "u.onnx").exists()


def _ort_outputs(path, feeds):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


# (pool kwargs, unpool kwargs, x shape, output_size: None, "x" (the pool's input) or the
# (H, W) of a second float input): the unpool's plane differs from the pool's input plane
# in all but the "same plane" cases, so the file must rebase ONNX's whole-tensor index
_GEOMETRIES = [
    ({"kernel_size": 3, "stride": 2, "ceil_mode": True}, (3, 2), (2, 1, 8, 8), None),
    ({"kernel_size": 2}, (2,), (2, 3, 7, 6), None),  # odd sizes: 6×6 back
    ({"kernel_size": 2}, (2,), (2, 3, 7, 6), "x"),  # same plane
    ({"kernel_size": 3, "stride": 2, "padding": 1}, (3, 2, 1), (2, 2, 7, 6), "x"),
    ({"kernel_size": 2}, (3, 2), (2, 2, 8, 8), None),  # another geometry: 9×9
    ({"kernel_size": 3, "stride": 2, "ceil_mode": True}, (3, 2), (2, 1, 8, 8), "x"),  # < 9
    ({"kernel_size": 2, "stride": 3}, (2, 3), (2, 2, 8, 8), (10, 10)),  # above the default
    ({"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, (3, 2, 1),
     (2, 1, 8, 10), "x"),  # 1 below the default: pads 1 and 2
    ({"kernel_size": 2}, ((1, 3), 3), (2, 1, 6, 6), (6, 11)),  # 7×9 = 63 ≤ 66: no pads
    ({"kernel_size": (2, 3), "stride": (2, 1), "dilation": (1, 2)}, ((2, 5), (2, 1)),
     (3, 2, 9, 10), "x"),
]  # fmt: skip


@pytest.mark.parametrize(("pool", "unpool", "shape", "size"), _GEOMETRIES)
def test_saved_unpool_equals_onnxruntime_in_every_geometry(tmp_path, pool, unpool, shape, size):
    """onnxruntime, the witness, runs the file as cnnmath runs the graph (bug: MaxUnpool
    read MaxPool's whole-tensor indices over another plane size, and an output_size below
    the default was written with pads onnxruntime refuses); several batch sizes."""
    inputs = ("x",) if not isinstance(size, tuple) else ("x", "like")
    g = nn.Graph(inputs=inputs)
    y, i = g.add(nn.MaxPool2d(**pool, return_indices=True), "x", name="pool")
    read = () if size is None else (inputs[-1],)
    g.add(nn.MaxUnpool2d(*unpool), y, i, *read, name="un")
    g.set_output("un")
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(np.float32)
    like = np.zeros((shape[0], 1, *size), np.float32) if isinstance(size, tuple) else None
    example = (x, like) if like is not None else x
    save(g, tmp_path / "m.onnx", example)
    back = load(tmp_path / "m.onnx")
    for n in (shape[0], 1, 3):
        xs = rng.standard_normal((n, *shape[1:])).astype(np.float32)
        args = (xs,) if like is None else (xs, np.zeros((n, *like.shape[1:]), np.float32))
        want = g(*args)
        (got,) = _ort_outputs(tmp_path / "m.onnx", dict(zip(inputs, args)))
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(back(*args), want)


def test_saved_unpool_below_the_default_beyond_the_pads_is_refused_naming_it(tmp_path):
    g = nn.Graph(inputs=("x", "like"))
    y, i = g.add(nn.MaxPool2d(2, return_indices=True), "x", name="pool")
    g.add(nn.MaxUnpool2d(1, 3), y, i, "like", name="un")  # 6 → 3 → default 7, asked 6
    g.set_output("un")
    x, like = np.ones((1, 1, 6, 6), np.float32), np.ones((1, 1, 6, 6), np.float32)
    assert g(x, like).shape == (1, 1, 6, 6)  # PyTorch's rule: within a stride
    with pytest.raises(ValueError, match=r"node 'un' \(MaxUnpool2d\): output_size \(6, 6\) has no"):
        save(g, tmp_path / "m.onnx", (x, like))
    assert not (tmp_path / "m.onnx").exists()


def test_saved_unpool_with_symbolic_plane_sizes_rebases_at_run_time(tmp_path):
    """A loaded graph whose file leaves H and W symbolic: the plane sizes come from Shape
    at run time, so onnxruntime agrees with cnnmath on other image sizes too."""
    relu = helper.make_node("Relu", ["x"], ["r"])
    data = _model([relu], [("x", TensorProto.FLOAT, ["N", 2, "H", "W"])], [("r", 1)])
    rng = np.random.default_rng(3)
    for size in (None, "r"):
        g = load(data)
        y, i = g.add(nn.MaxPool2d(3, 2, ceil_mode=True, return_indices=True), "r", name="pool")
        g.add(nn.MaxUnpool2d(3, 2), y, i, *(() if size is None else (size,)), name="un")
        g.set_output("un", i)
        save(g, tmp_path / "m.onnx", rng.standard_normal((2, 2, 8, 8)).astype(np.float32))
        for shape in ((2, 2, 8, 8), (3, 2, 7, 9), (1, 2, 11, 6)):
            x = rng.standard_normal(shape).astype(np.float32)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got = _ort_outputs(tmp_path / "m.onnx", {"x": x})
            for theirs, mine in zip(got, g(x), strict=True):
                np.testing.assert_array_equal(theirs, mine)


def test_saved_lone_pool_writes_both_outputs(tmp_path):
    pool = nn.MaxPool2d(2, return_indices=True)
    x = np.random.default_rng(4).standard_normal((2, 3, 5, 4)).astype(np.float32)
    save(pool, tmp_path / "p.onnx", x)
    proto = onnx.load(str(tmp_path / "p.onnx"))
    assert [o.name for o in proto.graph.output] == ["maxpool2d", "maxpool2d_indices"]
    want = pool(x)
    for theirs, mine in zip(_ort_outputs(tmp_path / "p.onnx", {"x": x}), want, strict=True):
        np.testing.assert_array_equal(theirs, mine)
    for theirs, mine in zip(load(tmp_path / "p.onnx")(x), want, strict=True):
        np.testing.assert_array_equal(theirs, mine)


def _unpool_file(kernel=(2, 2), strides=(2, 2), with_shape=True):
    inputs = ["x", "i", "s"] if with_shape else ["x", "i"]
    unpool = helper.make_node("MaxUnpool", inputs, ["u"], kernel_shape=list(kernel),
                              strides=list(strides))  # fmt: skip
    declared = [("x", TensorProto.FLOAT, [1, 1, 2, 2]), ("i", TensorProto.INT64, [1, 1, 2, 2])]
    if with_shape:
        declared.append(("s", TensorProto.INT64, [4]))
    return _model([unpool], declared, [("u", TensorProto.FLOAT)])


def test_loaded_unpool_output_shape_below_the_inferred_one_is_refused_as_onnxruntime():
    data = _unpool_file()
    feeds = {
        "x": np.ones((1, 1, 2, 2), np.float32),
        "i": np.arange(4).reshape(1, 1, 2, 2),
        "s": np.array([1, 1, 3, 4]),
    }
    with pytest.raises(Exception, match="smaller than minimum required"):
        _run_ort(data, feeds)  # the witness refuses it too
    with pytest.raises(ValueError, match=r"MaxUnpool.*'output_shape': expected at least as many"):
        load(data)(*feeds.values())
    for size in ([1, 1, 4, 5], [1, 1, 8, 2]):  # as many elements as (4, 4) or more: both run
        feeds["s"] = np.array(size)
        np.testing.assert_array_equal(load(data)(*feeds.values()), _run_ort(data, feeds)[0])


@pytest.mark.parametrize(
    ("kernel", "size"), [((2, 2), [1, 1, 2**22, 2**22]), ((2, 2), [1, 1, 2**40, 2**40]),
                         ((2**30, 2**30), None)],
)  # fmt: skip
def test_loaded_unpool_of_a_huge_output_is_refused_before_allocating(kernel, size):
    data = _unpool_file(kernel, with_shape=size is not None)
    args = [np.ones((1, 1, 2, 2), np.float32), np.arange(4).reshape(1, 1, 2, 2)]
    if size is not None:
        args.append(np.array(size))
    with pytest.raises(ValueError, match=r"node .*MaxUnpool.*the output would have shape"):
        load(data)(*args)
