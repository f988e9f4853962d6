"""ONNX nodes of several outputs: MaxPool's Indices over 1-D and 3-D inputs, MaxUnpool of any
rank, against onnxruntime, finite differences and save -> onnxruntime."""

from __future__ import annotations

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


def _pool_unpool(kernel, strides, pads, order=0, dilations=None, ceil=0, unpool=True):
    """x → MaxPool(Y, I) [→ Relu(Y) → MaxUnpool(·, I, Shape(x))]; outputs (U or Y, I)."""
    kw = {"kernel_shape": list(kernel), "strides": list(strides), "pads": list(pads)}
    extra = {"dilations": list(dilations)} if dilations else {}
    pool = helper.make_node("MaxPool", ["x"], ["y", "i"], storage_order=order, ceil_mode=ceil,
                            **kw, **extra)  # fmt: skip
    if not unpool:
        return [pool], "y"
    return [
        pool,
        helper.make_node("Relu", ["y"], ["r"]),
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("MaxUnpool", ["r", "i", "s"], ["u"], **kw),
    ], "u"


# (x shape, kernel, strides, pads, dilations, ceil_mode)
POOLS = [
    ((2, 3, 8), (2,), (2,), (0, 0), None, 0),
    ((2, 2, 9), (3,), (2,), (1, 1), None, 0),
    ((1, 2, 10), (3,), (2,), (0, 0), (2,), 0),
    ((1, 2, 8), (3,), (2,), (0, 0), None, 1),
    ((2, 2, 4, 4, 4), (2, 2, 2), (2, 2, 2), (0,) * 6, None, 0),
    ((1, 2, 5, 4, 5), (3, 3, 3), (2, 2, 2), (1,) * 6, None, 0),
    ((2, 1, 5, 6, 4), (2, 3, 2), (2, 2, 1), (1, 1, 0) * 2, None, 0),
    ((1, 2, 6, 5, 5), (2, 2, 2), (2, 2, 2), (0,) * 6, (1, 2, 1), 1),
]


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize(("shape", "kernel", "strides", "pads", "dil", "ceil"), POOLS)
def test_loaded_maxpool_indices_and_maxunpool_equal_onnxruntime(
    shape, kernel, strides, pads, dil, ceil, order
):
    x = np.random.default_rng(sum(shape)).integers(0, 4, shape).astype(np.float32)  # ties
    # ORT's MaxUnpool reads row-major indices: with storage_order 1 return Y and I only
    # (and after a ceil_mode pool Shape(x) may be below the size MaxUnpool infers)
    nodes, out = _pool_unpool(kernel, strides, pads, order, dil, ceil, unpool=not order + ceil)
    outputs = [(out, TensorProto.FLOAT), ("i", TensorProto.INT64)]
    data = _model(nodes, [("x", TensorProto.FLOAT, shape)], outputs)
    witness = _run_ort(data, {"x": x})
    got = load(data)(x)
    for mine, theirs in zip(got, witness, strict=True):
        assert mine.dtype == theirs.dtype and mine.shape == theirs.shape
        np.testing.assert_array_equal(mine, theirs)
    assert got[1].max() >= np.prod(shape[2:])  # offsets of later planes (n·C + c)·plane


@pytest.mark.parametrize("shape", [(2, 2, 7), (1, 2, 5, 4, 5)], ids=["1d", "3d"])
def test_loaded_graph_gradients_match_finite_differences(shape):
    r = len(shape) - 2
    x = np.random.default_rng(6).standard_normal(shape)
    nodes, out = _pool_unpool((2,) * r, (2,) * r, (0,) * 2 * r)
    data = _model(nodes, [("x", TensorProto.DOUBLE, shape)], [(out, TensorProto.DOUBLE)])
    check_input_gradients(load(data), [x])


@pytest.mark.parametrize(
    ("kw", "shape", "pattern"),
    [
        ({"kernel_shape": [2], "pads": [1, 0]}, [1, 1, 4], "attribute 'pads': expected equal"),
        ({"kernel_shape": [2, 2, 2], "auto_pad": "SAME_UPPER"}, [1, 1, 4, 4, 4], "auto_pad"),
        ({"kernel_shape": [2, 2, 2]}, [1, 1, 4, 4], r"input 'X': expected rank 5"),
        ({"kernel_shape": [2, 2, 2, 2]}, [1, 1, 4, 4, 4, 4], "attribute 'kernel_shape'"),
        ({"kernel_shape": [2], "storage_order": 2}, [1, 1, 4], "attribute 'storage_order'"),
    ],
)
def test_maxpool_indices_refused_where_no_op_computes_them(kw, shape, pattern):
    pool = helper.make_node("MaxPool", ["x"], ["y", "i"], **kw)
    data = _model(
        [pool],
        [("x", TensorProto.FLOAT, shape)],
        [("y", TensorProto.FLOAT), ("i", TensorProto.INT64)],
    )
    with pytest.raises(ValueError, match=r"MaxPool.*" + pattern):
        load(data)


def _ort_outputs(path, feeds):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


_POOLS = {1: (nn.MaxPool1d, nn.MaxUnpool1d), 3: (nn.MaxPool3d, nn.MaxUnpool3d)}

# (pool kwargs, unpool args, x shape, output_size: None, "x" (the pool's input) or the sizes
# of a second float input); the unpool's plane differs from the pool's input plane in all
# but the "x" cases, so the file must rebase ONNX's whole-tensor index
_GEOMETRIES = [
    ({"kernel_size": 2}, (2,), (2, 3, 9), None),  # odd: 8 back
    ({"kernel_size": 3, "stride": 2, "padding": 1}, (3, 2, 1), (2, 2, 9), "x"),
    ({"kernel_size": 3, "stride": 2, "ceil_mode": True}, (3, 2), (2, 1, 8), "x"),  # below
    ({"kernel_size": 2, "stride": 3}, (2, 3), (2, 2, 8), (10,)),  # above the default
    ({"kernel_size": 2}, (2,), (2, 2, 4, 4, 4), None),
    ({"kernel_size": 2}, (2,), (2, 2, 5, 4, 5), "x"),
    ({"kernel_size": (2, 3, 2), "stride": (2, 2, 1)}, ((2, 3, 2), (2, 2, 1)), (2, 1, 4, 7, 4),
     "x"),
    ({"kernel_size": 2, "dilation": (1, 2, 1)}, (2,), (2, 2, 4, 5, 4), (4, 5, 4)),
]  # fmt: skip


@pytest.mark.parametrize(("pool", "unpool", "shape", "size"), _GEOMETRIES)
def test_saved_unpool_equals_onnxruntime_in_every_geometry(tmp_path, pool, unpool, shape, size):
    """onnxruntime runs the file as cnnmath runs the graph; several batch sizes; the file
    loads back to the same numbers; the indices returned are cnnmath's (each plane's)."""
    r = len(shape) - 2
    Pool, Unpool = _POOLS[r]
    inputs = ("x",) if not isinstance(size, tuple) else ("x", "like")
    g = nn.Graph(inputs=inputs)
    y, i = g.add(Pool(**pool, return_indices=True), "x", name="pool")
    read = () if size is None else (inputs[-1],)
    g.add(Unpool(*unpool), y, i, *read, name="un")
    g.set_output("un", i)
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(np.float32)
    like = np.zeros((shape[0], 1, *size), np.float32) if isinstance(size, tuple) else None
    save(g, tmp_path / "m.onnx", x if like is None else (x, like))
    back = load(tmp_path / "m.onnx")
    for n in (shape[0], 1, 3):
        xs = rng.standard_normal((n, *shape[1:])).astype(np.float32)
        args = (xs,) if like is None else (xs, np.zeros((n, *like.shape[1:]), np.float32))
        want = g(*args)
        for got in (_ort_outputs(tmp_path / "m.onnx", dict(zip(inputs, args))), back(*args)):
            for theirs, mine in zip(got, want, strict=True):
                np.testing.assert_array_equal(theirs, mine)


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        (nn.MaxPool1d(3, 2, 1, return_indices=True), (2, 3, 9)),
        (nn.MaxPool3d(2, ceil_mode=True, return_indices=True), (2, 2, 3, 5, 4)),
        (nn.AdaptiveMaxPool1d(3, return_indices=True), (2, 3, 9)),
        (nn.AdaptiveMaxPool2d((2, 3), return_indices=True), (2, 3, 4, 6)),
        (nn.AdaptiveMaxPool2d(1, return_indices=True), (2, 3, 4, 6)),
        (nn.AdaptiveMaxPool3d((1, 2, 2), return_indices=True), (2, 2, 3, 4, 4)),
    ],
)
def test_saved_lone_pool_writes_both_outputs(tmp_path, layer, shape):
    x = np.random.default_rng(4).standard_normal(shape).astype(np.float32)
    save(layer, tmp_path / "p.onnx", x)
    proto = onnx.load(str(tmp_path / "p.onnx"))
    assert [n.op_type for n in proto.graph.node][0] == "MaxPool"
    assert len(proto.graph.output) == 2
    want = layer(x)
    for got in (_ort_outputs(tmp_path / "p.onnx", {"x": x}), load(tmp_path / "p.onnx")(x)):
        for theirs, mine in zip(got, want, strict=True):
            np.testing.assert_array_equal(theirs, mine)


def _layer_norm_model(shape, axis, dtype, stash=1, outputs="ymi", scale_shape=None, only=None):
    """LayerNormalization(x, Scale, B) with its outputs ``outputs`` (Y, Mean, InvStdDev) read:
    Mean and InvStdDev through a Mul each, so that a node reads them."""
    elem = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
    u = TensorProto.FLOAT if stash == 1 else TensorProto.DOUBLE
    r = len(shape)
    tail = scale_shape or shape[axis % r :]
    rng = np.random.default_rng(r + axis)
    inits = [
        onnx.numpy_helper.from_array(rng.standard_normal(tail).astype(dtype), "s"),
        onnx.numpy_helper.from_array(rng.standard_normal(tail).astype(dtype), "b"),
    ]
    names = ["y", "m" if "m" in outputs else "", "i" if "i" in outputs else ""]
    while not names[-1]:
        names.pop()
    ln = helper.make_node("LayerNormalization", ["x", "s", "b"], names, axis=axis,
                          epsilon=1e-3, stash_type=stash)  # fmt: skip
    nodes, declared = [ln], [("y", elem)]
    for o in outputs[1:]:
        nodes.append(helper.make_node("Mul", [o, o], [f"{o}2"]))
        declared.append((f"{o}2", u))
    if only is not None:  # the graph returns that output alone
        declared = [d for d in declared if d[0] == only]
    return _model(nodes, [("x", elem, shape)], declared, inits)


@pytest.mark.parametrize(
    ("shape", "axis", "outputs"),
    [((2, 3, 5), -1, "ymi"), ((2, 3, 4, 5), 1, "ymi"), ((2, 3, 4), -2, "yi"), ((4, 5), 0, "ym")],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loaded_layer_norm_statistics_equal_onnxruntime(shape, axis, outputs, dtype):
    data = _layer_norm_model(shape, axis, dtype, outputs=outputs)
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    witness = _run_ort(data, {"x": x})
    got = load(data)(x)
    for mine, theirs in zip(got, witness, strict=True):
        assert mine.dtype == theirs.dtype and mine.shape == theirs.shape
        np.testing.assert_allclose(mine, theirs, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("axis", [-1, 1])
def test_loaded_layer_norm_statistics_gradients_match_finite_differences(tmp_path, axis):
    x = np.random.default_rng(2).standard_normal((2, 3, 4))
    for only in ("m2", "i2"):
        data = _layer_norm_model((2, 3, 4), axis, np.float64, stash=11, only=only)
        check_input_gradients(load(data), [x])
    g = load(_layer_norm_model((2, 3, 4), axis, np.float64, stash=11))
    save(g, tmp_path / "m.onnx", x)  # written back: the statistics as ReduceMean, Sqrt, …
    for mine, back in zip(g(x), load(tmp_path / "m.onnx")(x), strict=True):
        np.testing.assert_allclose(back, mine, rtol=1e-12)


def test_loaded_dropout_mask_is_true_in_inference_as_onnxruntime(tmp_path):
    ratio = onnx.numpy_helper.from_array(np.array(0.3, np.float32), "r")
    nodes = [
        helper.make_node("Dropout", ["x", "r"], ["y", "mask"]),
        helper.make_node("Not", ["mask"], ["dropped"]),
    ]
    data = _model(
        nodes,
        [("x", TensorProto.FLOAT, [2, 3, 4])],
        [("y", TensorProto.FLOAT), ("dropped", TensorProto.BOOL)],
        [ratio],
    )
    x = np.random.default_rng(3).standard_normal((2, 3, 4)).astype(np.float32)
    witness = _run_ort(data, {"x": x})
    g = load(data)
    got = g(x)
    for mine, theirs in zip(got, witness, strict=True):
        assert mine.dtype == theirs.dtype
        np.testing.assert_array_equal(mine, theirs)
    assert not got[1].any()
    save(g, tmp_path / "m.onnx", x)
    for back, theirs in zip(_ort_outputs(tmp_path / "m.onnx", {"x": x}), witness, strict=True):
        np.testing.assert_array_equal(back, theirs)


def test_training_mode_dropout_with_its_mask_is_still_refused_by_name():
    flag = onnx.numpy_helper.from_array(np.array(True), "t")
    ratio = onnx.numpy_helper.from_array(np.array(0.3, np.float32), "r")
    dropout = helper.make_node("Dropout", ["x", "r", "t"], ["y", "mask"], name="d")
    data = _model(
        [dropout],
        [("x", TensorProto.FLOAT, [2, 3])],
        [("y", TensorProto.FLOAT), ("mask", TensorProto.BOOL)],
        [ratio, flag],
    )
    with pytest.raises(ValueError, match=r"node 'd' \(Dropout\): input 'training_mode'"):
        load(data)
