"""What ``cnnmath.onnx.load`` read without a layer, written back: an op as the node it was
read as (``_as_read``), and the extra outputs the loader computes on their own
(LayerNormalization's statistics, BatchNormalization's running statistics in training mode,
Dropout's mask, an output known at load time)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ... import nn
from .._ops import _ConstOutput, _OnWeights, _Op
from .._ops.norm import _BatchNormTraining, _RunningStatistic
from .._ops.qlinear import _DynamicQuantize
from .._ops.shapes import _SplitPart
from .._outputs import _LayerNormStatistic
from ._writer import MIN_OPSET, _needs, _Writer


def _as_read(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """An op of ``cnnmath.onnx.load`` that is one ONNX node on its own inputs, written back as
    that node: its op type, domain (com.microsoft's quantized ops) and attributes as read,
    its run-time inputs by their walk names, its parameters as initializers named by their
    ``state_dict`` keys (their current values: what training changed is written), its fixed
    float values (buffers) as Constant nodes so that they stay fixed when read again — a
    quantized op's (``plain_operands``: its scales) as initializers, as quantizers write
    them, which it reads as fixed values again — its other constants (zero points, int8
    weights, int32 biases) as initializers of their own dtype. The node's semantics are
    those of the opset it was read at, so the file must be of that opset."""
    m = node.module
    assert isinstance(m, _Op) and m.onnx_attributes is not None
    if m.onnx_node.opset < MIN_OPSET:
        raise ValueError(
            f"save: model: node {node.name!r} ({m.onnx_op}) was read from an opset-"
            f"{m.onnx_node.opset} file and is written as read; cnnmath writes opsets "
            f"{MIN_OPSET} on: export the model again at one of those"
        )
    if m.held_dtypes() != m.onnx_dtypes:
        raise ValueError(
            f"save: model: node {node.name!r} ({m.onnx_op}) holds values read as "
            f"{[str(d) for d in m.onnx_dtypes]}, now {[str(d) for d in m.held_dtypes()]} "
            "(the model was converted with .to()); written as read it would mean something "
            "else: save the model in the dtype it was read in"
        )
    if m.onnx_node.opset != w.opset:
        raise ValueError(
            f"save: opset: node {node.name!r} ({m.onnx_op}) was read from an opset-"
            f"{m.onnx_node.opset} file and is written as read; expected opset="
            f"{m.onnx_node.opset} (the default for a model read from one file), got {w.opset}"
        )
    inputs = _operand_names(w, node, m)
    more: Sequence[str] = node.extra_outputs
    if isinstance(m, _BatchNormTraining):  # ONNX wants all 3 outputs in training mode
        more = (f"{node.name}/running_mean", f"{node.name}/running_var")
    if isinstance(m, _DynamicQuantize):  # its three outputs are required (y_scale and
        # y_zero_point, where read, are modules of their own: ``quantized``)
        more = (f"{node.output}/output1", f"{node.output}/output2")
    w.node_as_read(m.onnx_op, inputs, node.output, node.name, m.onnx_attributes, more)
    domain = getattr(m, "domain", "")
    if domain:  # com.microsoft's quantized ops: save imports the domain's opset
        w.nodes[-1].domain = domain


def _on_weights(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """A node computed from trained weights alone (``_OnWeights``): its op written as read,
    its weights as initializers (their current values), without the graph input that only
    placed it in the graph."""
    m = node.module
    assert isinstance(m, _OnWeights)
    if m.inner.onnx_attributes is None:  # the loader made it of several nodes (none so far)
        raise ValueError(
            f"save: model: node {node.name!r} ({m.inner.onnx_op}) computed from weights alone "
            "has no ONNX export"
        )
    _as_read(w, node._replace(module=m.inner, inputs=()), shapes[1:], out)


def _operand_names(w: _Writer, node: nn.Node, m: _Op) -> list[str]:
    """The names of an op's operands in the file: its run-time inputs by their walk names,
    its parameters as initializers named by their ``state_dict`` keys, its fixed float
    values as Constant nodes, its other constants as initializers; absent trailing ones
    left out."""
    runtime = iter(node.inputs)
    inputs = []
    for i, (kind, value) in enumerate(m._slots):
        if kind == "input":
            inputs.append(next(runtime))
        elif kind == "none":
            inputs.append("")
        elif kind == "param":
            inputs.append(w.state(m, value, node))
        elif kind == "buffer":
            held = getattr(m, value)
            name = w.keys.get(id(held), f"{node.name}.{value}")
            if m.plain_operands and name not in w._fixed:  # a quantized op's scale: an
                # initializer, as the file held it (the op reads it plain again)
                inputs.append(w.state(m, value, node))
            elif name in w.initializers:  # a quantized op wrote it as an initializer, which
                # would come back trainable: fixed again, under a name of this node's
                inputs.append(w.fixed(f"{node.name}.{value}", held))
            else:  # a fixed float value (a Constant node's): fixed again
                inputs.append(w.fixed(name, held))
        else:
            role = m.roles[i] if i < len(m.roles) else str(i)
            inputs.append(w.held_constant(f"{node.name}.{role}", value))
    while inputs and not inputs[-1]:  # absent trailing inputs are left out
        inputs.pop()
    return inputs


def _split_part(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """Part i of a Split sized at run time (``_SplitPart``): the whole Split written once,
    at its first part written, each part its node's output (a part no node reads left
    unread). ⌈n/k⌉-sized parts (``num_outputs``) need opset 18, as read."""
    m = node.module
    assert isinstance(m, _SplitPart)
    if m.onnx_node.opset != w.opset:  # as _as_read: opset 18 reads equal parts as ⌈n/k⌉
        raise ValueError(
            f"save: opset: node {node.name!r} ({m.onnx_op}) was read from an opset-"
            f"{m.onnx_node.opset} file and is written as read; expected opset="
            f"{m.onnx_node.opset} (the default for a model read from one file), got {w.opset}"
        )
    inputs = _operand_names(w, node, m)
    written = w.splits.get((id(m.onnx_node), tuple(inputs)))
    if written is not None:  # another part of a Split already written
        written.output[m.index] = node.output
        return
    attrs: dict[str, int] = {"axis": m.axis}
    if m.chunked or (len(inputs) < 2 and w.opset >= 18):  # opset 18 wants one of the two
        _needs(w, node, "Split (num_outputs)", 18)
        attrs["num_outputs"] = m.k
    outputs = [node.output if j == m.index else f"{node.output}/part{j}" for j in range(m.k)]
    split = w.onnx.helper.make_node("Split", inputs, outputs, name=node.name, **attrs)
    w.nodes.append(split)
    w.splits[(id(m.onnx_node), tuple(inputs))] = split


def _layer_norm_statistic(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """LayerNormalization's Mean or InvStdDev read on their own (``_outputs.py``):
    Mean = ReduceMean(X) over the axes a … r − 1 (kept), InvStdDev =
    Reciprocal(Sqrt(ReduceMean((X − Mean)²) + ε)), each Cast to the statistic's type."""
    m = node.module
    assert isinstance(m, _LayerNormStatistic)
    r, base, x = len(shapes[0]), node.name, node.inputs[0]
    axes = list(range(m.axis % max(r, 1), r))

    def mean(value: str, name: str) -> str:
        if w.opset >= 18:
            const = w.const(f"{name}/axes", axes, np.int64)
            return w.node("ReduceMean", [value, const], name, name, keepdims=1)
        return w.node("ReduceMean", [value], name, name, axes=axes, keepdims=1)

    y = mean(x, f"{base}/mean")
    if m.which == "InvStdDev":
        d = w.node("Sub", [x, y], f"{base}/centred", f"{base}/centred")
        sq = w.node("Mul", [d, d], f"{base}/squared", f"{base}/squared")
        var = mean(sq, f"{base}/variance")
        eps = w.const(f"{base}/epsilon", m.eps, w.dtypes[x])
        plus = w.node("Add", [var, eps], f"{base}/plus_eps", f"{base}/plus_eps")
        root = w.node("Sqrt", [plus], f"{base}/std", f"{base}/std")
        y = w.node("Reciprocal", [root], f"{base}/inv_std", f"{base}/inv_std")
    to = w.onnx.helper.np_dtype_to_tensor_dtype(m.dtype)
    w.node("Cast", [y], node.output, node.name, to=to)


def _running_statistic(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """BatchNormalization's running_mean or running_var in training mode read on their own
    (``_ops/norm.py``): input_stat·momentum + batch_stat·(1 − momentum), the batch's mean
    ReduceMean(X) over every axis but 1, its variance the (biased) mean of (X − mean)²."""
    m = node.module
    assert isinstance(m, _RunningStatistic)
    r, base, x = len(shapes[0]), node.name, node.inputs[0]
    axes = [0, *range(2, r)]

    def mean(value: str, name: str, keep: int) -> str:
        if w.opset >= 18:
            const = w.const(f"{name}/axes", axes, np.int64)
            return w.node("ReduceMean", [value, const], name, name, keepdims=keep)
        return w.node("ReduceMean", [value], name, name, axes=axes, keepdims=keep)

    batch = mean(x, f"{base}/mean", 0 if m.which == "running_mean" else 1)
    if m.which == "running_var":
        d = w.node("Sub", [x, batch], f"{base}/centred", f"{base}/centred")
        sq = w.node("Mul", [d, d], f"{base}/squared", f"{base}/squared")
        batch = mean(sq, f"{base}/variance", 0)
    kind, value = m._slots[1]
    if kind == "input":
        stat = node.inputs[1]
    elif kind == "param":
        stat = w.state(m, value, node)
    else:
        held = np.asarray(getattr(m, value) if kind == "buffer" else value, dtype=w.dtypes[x])
        stat = w.fixed(f"{base}.statistic", held)
    kept = w.const(f"{base}/momentum", m.momentum, w.dtypes[x])
    new = w.const(f"{base}/one_minus_momentum", 1.0 - m.momentum, w.dtypes[x])
    a = w.node("Mul", [stat, kept], f"{base}/kept", f"{base}/kept")
    b = w.node("Mul", [batch, new], f"{base}/new", f"{base}/new")
    w.node("Add", [a, b], node.output, node.name)


def _dropout_mask(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """Dropout's mask in inference: ConstantOfShape(Shape(X)) of True."""
    base = node.name
    shape = w.node("Shape", [node.inputs[0]], f"{base}/shape", f"{base}/shape")
    true = w.onnx.numpy_helper.from_array(np.ones(1, dtype=bool), f"{base}/true")
    w.node("ConstantOfShape", [shape], node.output, node.name, value=true)


def _const_output(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """A loaded graph's output known at load time (a static Shape): a Constant node; a
    trained weight returned: its initializer (current values), through an Identity, or the
    Transpose or Reshape that undoes the layer's view of it."""
    m = node.module
    assert isinstance(m, _ConstOutput)
    kind, value = m._slots[1]
    if kind == "param":
        name = w.state(m, value, node)
        if m.undo == "T":
            w.node("Transpose", [name], node.output, node.name)
        elif m.undo == "reshape":
            shape = w.const(f"{node.name}/shape", list(m.shape), np.int64)
            w.node("Reshape", [name, shape], node.output, node.name)
        else:
            w.node("Identity", [name], node.output, node.name)
        return
    array = np.asarray(getattr(m, value) if kind == "buffer" else value)
    tensor = w.onnx.numpy_helper.from_array(array, node.output)
    w.node("Constant", [], node.output, node.name, value=tensor)
