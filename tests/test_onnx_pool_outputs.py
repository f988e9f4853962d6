"""ONNX nodes of several outputs: MaxPool's Indices over 1-D and 3-D inputs, MaxUnpool of any
rank, against onnxruntime, finite differences and save -> onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402

from cnnmath.onnx import load  # noqa: E402
from helpers import check_input_gradients  # noqa: E402


def _model(nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, None) for n, t in outputs],
        initializer=list(initializers),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model.SerializeToString()


def _run_ort(data, feeds):
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


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
