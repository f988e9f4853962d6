"""Activations and softmaxes: one ONNX op each where the opset has it (``_simple`` for those
with fixed attributes), otherwise their formulas as a few nodes (SiLU, LogSigmoid, Softmin,
Softplus' threshold, GELU before opset 20, Mish before 18, …)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import nn
from ._writer import _channel_view, _Emit, _Writer


def _simple(op: str, **fixed: Any) -> _Emit:
    def emit(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
        attrs = {k: (v(node.module) if callable(v) else v) for k, v in fixed.items()}
        w.node(op, [node.inputs[0]], node.output, node.name, **attrs)

    return emit


def _celu(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.CELU)
    if w.dtype != np.float32:  # ONNX defines Celu on tensor(float) only
        raise ValueError(
            f"save: model: node {node.name!r} (CELU): ONNX's Celu is defined for float32 only, "
            f"got a {np.dtype(w.dtype).name} model; export it in float32"
        )
    w.node("Celu", [node.inputs[0]], node.output, node.name, alpha=m.alpha)


def _relu6(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    lo = w.const(f"{node.name}/min", 0.0)
    hi = w.const(f"{node.name}/max", 6.0)
    w.node("Clip", [node.inputs[0], lo, hi], node.output, node.name)


def _hardtanh(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.Hardtanh)
    lo = w.const(f"{node.name}/min", float(m.min_val))
    hi = w.const(f"{node.name}/max", float(m.max_val))
    w.node("Clip", [node.inputs[0], lo, hi], node.output, node.name)


def _logsigmoid(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """−softplus(−x): Log(Sigmoid(x)) would round to −∞ where x is far below zero."""
    base = node.name
    neg = w.node("Neg", [node.inputs[0]], f"{base}/neg", f"{base}/neg")
    soft = w.node("Softplus", [neg], f"{base}/softplus", f"{base}/softplus")
    w.node("Neg", [soft], node.output, base)


def _softmax(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.Softmax)
    ndim = len(shapes[0])
    dim = m.dim if m.dim is not None else (0 if ndim in (0, 1, 3) else 1)
    op = "LogSoftmax" if isinstance(m, nn.LogSoftmax) else "Softmax"
    w.node(op, [node.inputs[0]], node.output, node.name, axis=dim)  # one axis from opset 13


def _softmin(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """softmax(−x): Neg, then Softmax on the layer's axis."""
    m = node.module
    assert isinstance(m, nn.Softmin)
    ndim = len(shapes[0])
    dim = m.dim if m.dim is not None else (0 if ndim in (0, 1, 3) else 1)
    neg = w.node("Neg", [node.inputs[0]], f"{node.name}/neg", f"{node.name}/neg")
    w.node("Softmax", [neg], node.output, node.name, axis=dim)


def _threshold(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """Where(x <= threshold, value, x): NaN stays NaN, as the layer's."""
    m = node.module
    assert isinstance(m, nn.Threshold)
    base = node.name
    th = w.constant(f"{base}/threshold", float(m.threshold))
    value = w.constant(f"{base}/value", float(m.value))
    at_most = w.node("LessOrEqual", [node.inputs[0], th], f"{base}/at_most", f"{base}/at_most")
    w.node("Where", [at_most, value, node.inputs[0]], node.output, base)


def _tanhshrink(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    base = node.name
    tanh = w.node("Tanh", [node.inputs[0]], f"{base}/tanh", f"{base}/tanh")
    w.node("Sub", [node.inputs[0], tanh], node.output, base)


def _shrink(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """ONNX's Shrink: bias 0 for Hardshrink, bias λ for Softshrink (a NaN input gives 0 in
    ONNX's Shrink, NaN in the layers)."""
    m = node.module
    assert isinstance(m, (nn.Hardshrink, nn.Softshrink))
    bias = m.lambd if isinstance(m, nn.Softshrink) else 0.0
    w.node("Shrink", [node.inputs[0]], node.output, node.name, bias=bias, lambd=m.lambd)


def _prelu(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.PReLU)
    slope = w.state(m, "weight", node)
    n, ndim = m.weight.size, len(shapes[0])
    if n > 1 and ndim > 2:  # (C,) must line up with axis 1, not the last axis
        view = _channel_view(w, f"{node.name}/channel_view", ndim, n)
        slope = w.node("Reshape", [slope, view], f"{node.name}/slope", f"{node.name}/slope")
    w.node("PRelu", [node.inputs[0], slope], node.output, node.name)


def _softplus(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    # log(1 + e^{βx})/β, and x itself where βx > threshold, as PyTorch
    m = node.module
    assert isinstance(m, nn.Softplus)
    x, base = node.inputs[0], node.name
    bx = x
    if m.beta != 1.0:
        bx = w.node("Mul", [x, w.const(f"{base}/beta", m.beta)], f"{base}/bx", f"{base}/bx")
    soft = w.node("Softplus", [bx], f"{base}/softplus", f"{base}/softplus")
    if m.beta != 1.0:
        soft = w.node("Div", [soft, f"{base}/beta"], f"{base}/scaled", f"{base}/div")
    linear = w.node(
        "Greater",
        [bx, w.const(f"{base}/threshold", m.threshold)],
        f"{base}/linear",
        f"{base}/greater",
    )
    w.node("Where", [linear, x, soft], node.output, base)


def _silu(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    x, base = node.inputs[0], node.name
    s = w.node("Sigmoid", [x], f"{base}/sigmoid", f"{base}/sigmoid")
    w.node("Mul", [x, s], node.output, base)


def _mish(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    x, base = node.inputs[0], node.name
    if w.opset >= 18:
        w.node("Mish", [x], node.output, base)
        return
    sp = w.node("Softplus", [x], f"{base}/softplus", f"{base}/softplus")
    t = w.node("Tanh", [sp], f"{base}/tanh", f"{base}/tanh")
    w.node("Mul", [x, t], node.output, base)


def _gelu(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.GELU)
    x, base = node.inputs[0], node.name
    if w.opset >= 20:
        w.node("Gelu", [x], node.output, base, approximate=m.approximate)
        return
    half = w.const(f"{base}/half", 0.5)
    one = w.const(f"{base}/one", 1.0)
    if m.approximate == "tanh":  # 0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))
        x2 = w.node("Mul", [x, x], f"{base}/x2", f"{base}/x2")
        x3 = w.node("Mul", [x2, x], f"{base}/x3", f"{base}/x3")
        c = w.const(f"{base}/c", 0.044715)
        cx3 = w.node("Mul", [x3, c], f"{base}/cx3", f"{base}/cx3")
        inner = w.node("Add", [x, cx3], f"{base}/inner", f"{base}/inner")
        k = w.const(f"{base}/k", np.sqrt(2.0 / np.pi))
        arg = w.node("Mul", [inner, k], f"{base}/arg", f"{base}/arg")
        core = w.node("Tanh", [arg], f"{base}/tanh", f"{base}/tanh")
    else:  # 0.5x(1 + erf(x/√2))
        r2 = w.const(f"{base}/sqrt2", np.sqrt(2.0))
        arg = w.node("Div", [x, r2], f"{base}/arg", f"{base}/arg")
        core = w.node("Erf", [arg], f"{base}/erf", f"{base}/erf")
    onep = w.node("Add", [core, one], f"{base}/one_plus", f"{base}/one_plus")
    hx = w.node("Mul", [x, half], f"{base}/half_x", f"{base}/half_x")
    w.node("Mul", [hx, onep], node.output, base)


def _glu(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """GLU: a = Slice(x, 0, h), b = Slice(x, h, 2h) along dim (h half its size), then
    Mul(a, Sigmoid(b)). The batch axis is symbolic in the file, so halving it is refused."""
    m = node.module
    assert isinstance(m, nn.GLU)
    ndim = len(shapes[0])
    axis = m.dim % ndim if -ndim <= m.dim < ndim else m.dim
    if axis == 0 and ndim > 1:
        raise ValueError(
            f"save: model: node {node.name!r} (GLU): dim: expected an axis other than the batch "
            f"axis 0 (its size is symbolic in the file), got {m.dim}"
        )
    h = shapes[0][axis] // 2
    base, x = node.name, node.inputs[0]
    on = w.const(f"{base}/axis", [axis], np.int64)
    bounds = [w.const(f"{base}/{k}", [v], np.int64) for k, v in (("0", 0), ("h", h), ("2h", 2 * h))]
    a = w.node("Slice", [x, bounds[0], bounds[1], on], f"{base}/a", f"{base}/a")
    b = w.node("Slice", [x, bounds[1], bounds[2], on], f"{base}/b", f"{base}/b")
    gate = w.node("Sigmoid", [b], f"{base}/gate", f"{base}/gate")
    w.node("Mul", [a, gate], node.output, base)
