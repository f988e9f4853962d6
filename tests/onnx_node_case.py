"""One ONNX node as a model, run by cnnmath.onnx.load and by onnxruntime (the witness): the
shared scaffolding of test_onnx_selection.py, test_onnx_arrays.py and test_onnx_norms.py."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import helper, numpy_helper  # noqa: E402

from cnnmath.onnx import load  # noqa: E402


def node_model(op, feeds, attrs=None, opset=18, inits=None, out_type=None):
    """A model of one ``op`` node: graph inputs ``feeds`` {name: array} and initializers
    ``inits`` {name: array}, the node's inputs in that order (feeds, then inits), output ``y``
    of element type ``out_type`` (default: the first input's)."""
    inits = inits or {}
    names = [*feeds, *inits]
    first = next(iter({**feeds, **inits}.values()))
    t = helper.np_dtype_to_tensor_dtype(np.dtype(out_type or first.dtype))
    graph = helper.make_graph(
        [helper.make_node(op, names, ["y"], name="n", **(attrs or {}))],
        "g",
        [
            helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
            for n, a in feeds.items()
        ],
        [helper.make_tensor_value_info("y", t, None)],
        initializer=[numpy_helper.from_array(np.asarray(a), n) for n, a in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    return model.SerializeToString()


def ort_run(data, feeds):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def both(op, feeds, attrs=None, opset=18, inits=None, out_type=None):
    """(cnnmath's output, onnxruntime's output, the loaded graph) for one node."""
    data = node_model(op, feeds, attrs, opset, inits, out_type)
    graph = load(data)
    return graph(*feeds.values()), ort_run(data, feeds), graph


def assert_same(got, want, rtol=0.0, atol=0.0):
    """Equal values, dtype and shape (to rtol/atol for floats)."""
    got = np.asarray(got)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
