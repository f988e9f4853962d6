"""cnnmath.onnx.load on the ops real CNN files still hit: GroupNormalization (opset 18's
per-group and 21's per-channel scale), QuantizeLinear / DequantizeLinear (the QDQ format of
onnxruntime's quantization tools), TopK, the inverse and hyperbolic trigonometric functions,
Mod, CumSum, GatherElements, Range at run time, LpPool and GlobalLpPool. Hand-built graphs
against onnxruntime (float32) and ONNX's reference evaluator (float64, and the spec's exact
quantization arithmetic); gradients against finite differences (float64) and PyTorch's
autograd; the refusals, each naming node, op type and what was expected. ONNX's own node tests
of these ops run in test_onnx_backend.py."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath.gradcheck import check_gradients
from helpers import rel_error

onnx = pytest.importorskip("onnx")
from onnx import helper, numpy_helper  # noqa: E402

from cnnmath.onnx import load  # noqa: E402

rng = np.random.default_rng(0)


def _graph(nodes, inputs, inits=(), opset=21, outputs=("y",), output_dtypes=None):
    """A model of ``nodes`` whose graph inputs are [(name, array)] (type and shape from the
    arrays), initializers [(name, array)], outputs ``outputs`` (the first input's type unless
    ``output_dtypes`` says)."""
    dtypes = output_dtypes or [inputs[0][1].dtype] * len(outputs)
    graph = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
            for n, a in inputs
        ],
        [
            helper.make_tensor_value_info(o, helper.np_dtype_to_tensor_dtype(np.dtype(d)), None)
            for o, d in zip(outputs, dtypes)
        ],
        initializer=[numpy_helper.from_array(a, n) for n, a in inits],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _ort(model, inputs):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, dict(inputs))


def _reference(model, inputs):
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(model).run(None, dict(inputs))


def _trains(graph, args, wrt=None):
    """∂⟨graph(*args), G⟩ with respect to the float64 inputs ``wrt`` (default: all of them)
    against central differences."""
    wrt = [i for i, a in enumerate(args) if a.dtype == np.float64] if wrt is None else wrt

    def f(*xs):
        full = list(args)
        for i, x in zip(wrt, xs):
            full[i] = x
        return graph(*full)

    def backward(G, *xs):
        f(*xs)
        grads = graph.backward(G)
        grads = grads if isinstance(grads, tuple) else (grads,)
        return tuple(grads[i] for i in wrt) if len(wrt) > 1 else grads[wrt[0]]

    check_gradients(f, backward, [args[i] for i in wrt])


def _kinds(graph):
    return [type(n.module).__name__ for n in graph.walk()]


# ---------------------------------------------------------------------------------------------
# Tan, Asin, Acos, Atan, Sinh, Cosh, Asinh, Acosh, Atanh

_TRIG = {
    # op: (NumPy's function, a sampler inside the domain, away from the poles)
    "Tan": (np.tan, lambda n: rng.uniform(-1.2, 1.2, n)),
    "Asin": (np.arcsin, lambda n: rng.uniform(-0.9, 0.9, n)),
    "Acos": (np.arccos, lambda n: rng.uniform(-0.9, 0.9, n)),
    "Atan": (np.arctan, lambda n: rng.uniform(-3, 3, n)),
    "Sinh": (np.sinh, lambda n: rng.uniform(-3, 3, n)),
    "Cosh": (np.cosh, lambda n: rng.uniform(-3, 3, n)),
    "Asinh": (np.arcsinh, lambda n: rng.uniform(-3, 3, n)),
    "Acosh": (np.arccosh, lambda n: rng.uniform(1.1, 4, n)),
    "Atanh": (np.arctanh, lambda n: rng.uniform(-0.9, 0.9, n)),
}


@pytest.mark.parametrize("op", sorted(_TRIG))
def test_trigonometric_and_hyperbolic_functions_and_their_derivatives(op):
    """Values against NumPy (float64, exact) and onnxruntime (float32); the derivative
    (1 + tan², ±1/√(1 − x²), 1/(1 + x²), cosh, sinh, 1/√(x² + 1), 1/√(x² − 1), 1/(1 − x²))
    against finite differences and PyTorch's autograd; outside the domain, NaN as ONNX."""
    f, sample = _TRIG[op]
    x = sample((3, 4))
    node = helper.make_node(op, ["x"], ["y"], name="f")
    graph = load(_graph([node], [("x", x)]).SerializeToString())
    np.testing.assert_array_equal(graph(x), f(x))
    x32 = x.astype(np.float32)
    model32 = _graph([node], [("x", x32)])
    got32 = load(model32.SerializeToString())(x32)
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, _ort(model32, [("x", x32)])[0], rtol=1e-6, atol=1e-7)
    _trains(graph, [x])
    torch = pytest.importorskip("torch")
    xt = torch.tensor(x, requires_grad=True)
    getattr(torch, op.lower())(xt).sum().backward()
    graph(x)
    assert rel_error(graph.backward(np.ones_like(x)), xt.grad.numpy()) <= 1e-14
    if op in ("Asin", "Acos", "Acosh", "Atanh"):
        outside = np.array([[-2.0, 0.5 if op == "Acosh" else 2.0]])
        assert np.isnan(load(_graph([node], [("x", outside)]).SerializeToString())(outside)).all()
