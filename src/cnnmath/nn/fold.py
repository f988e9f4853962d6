"""Batch normalisation folded into the convolution before it, for inference.

In evaluation a BatchNorm2d is a fixed affine map per channel o,

    BN(y)[o] = s_o (y[o] − μ_o) + β_o,    s_o = γ_o / √(σ²_o + ε),

with μ, σ² its running statistics. After a convolution y = w ⋆ x + b (any stride, padding,
dilation or groups: output channel o reads only its own filter w[o]), the composition is
again a convolution,

    BN(w ⋆ x + b)[o] = (s_o w[o]) ⋆ x + s_o (b_o − μ_o) + β_o,

so the pair runs as one layer with w′[o] = s_o w[o] and b′_o = s_o (b_o − μ_o) + β_o, and the
normalisation's pass over the activations disappears. This is what inference runtimes do
when they load a network (onnxruntime's graph optimiser, PyTorch's ``fuse_conv_bn_eval``).
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import numpy as np

from .activation import Identity
from .container import Sequential
from .conv import Conv2d
from .graph import Graph, _GraphNode
from .module import Module
from .normalization import BatchNorm2d
from .parameter import Parameter

__all__ = ["fold_batch_norm"]


def fold_batch_norm(model: Module) -> Module:
    """A copy of ``model`` for inference, each BatchNorm2d that directly follows a Conv2d
    folded into it (module docstring): w′[o] = s_o w[o], b′_o = s_o (b_o − μ_o) + β_o with
    s_o = γ_o/√(σ²_o + ε), and the BatchNorm2d replaced by an ``Identity``.

    The copy is in evaluation mode and computes what ``model.eval()`` computes, to rounding
    error (the products see the scaled filter: about one float rounding per weight). Its
    ``state_dict`` loses the folded layers' keys and gains a bias for a convolution that had
    none. ``model`` itself is left as it was.

    A pair is folded only where nothing else depends on the convolution's own output: the
    BatchNorm2d is the only reader of the Conv2d's output (which is not the model's output),
    each of the two layers is used once in the model, the BatchNorm2d keeps running
    statistics (``track_running_stats``; without them evaluation normalises by the batch,
    which no fixed filter can do), and both have one dtype. Every other layer, and a
    hand-written module's inside (``Module.walk`` sees it as one node), is copied as it is.
    The scale is computed in float64 and rounded once to the layer's dtype.

    Shapes: any model whose ``walk`` lists its layers; returns a model of the same
    input and output shapes.

    >>> from cnnmath import nn
    >>> model = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False, rng=0), nn.BatchNorm2d(2), nn.ReLU())
    >>> fold_batch_norm(model)
    Sequential(
      (0): Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1))
      (1): Identity()
      (2): ReLU()
    )
    """
    if not isinstance(model, Module):
        raise TypeError(
            f"fold_batch_norm: model: expected a cnnmath.nn.Module, got {type(model).__name__}"
        )
    folded = _copy_without_contexts(model).eval()
    nodes = list(folded.walk())
    uses = Counter(id(node.module) for node in nodes)
    producer = {node.output: node for node in nodes}
    readers = Counter(value for node in nodes for value in node.inputs)
    outputs = {_output_value(folded, nodes)}
    replaced: dict[int, Module] = {}
    for node in nodes:
        bn = node.module
        if type(bn) is not BatchNorm2d or len(node.inputs) != 1:
            continue
        (value,) = node.inputs
        source = producer.get(value)
        if source is None or type(source.module) is not Conv2d:
            continue
        conv = source.module
        if (
            readers[value] != 1
            or value in outputs
            or uses[id(conv)] != 1
            or uses[id(bn)] != 1
            or bn.running_mean is None
            or bn.running_var is None
            or conv.dtype != bn.dtype
        ):
            continue
        _fold_into(conv, bn)
        replaced[id(bn)] = Identity()
    _replace(folded, replaced)
    return folded


def _output_value(model: Module, nodes: list[Any]) -> str | None:
    """The name ``walk`` gives the model's output value: a Graph's output node (at the top
    level a node's value is named by the node), else the last node's value."""
    if isinstance(model, Graph):
        return model._require_output()
    return nodes[-1].output if nodes else None


def _copy_without_contexts(model: Module) -> Module:
    """A deep copy of model that does not copy the contexts of its last calls (activations
    kept for a backward pass that the copy will never run)."""
    kept = [(m, m._last_ctx) for m in model.modules()]
    try:
        for m, _ in kept:
            m._last_ctx = None
        return copy.deepcopy(model)
    finally:
        for m, ctx in kept:
            m._last_ctx = ctx


def _fold_into(conv: Conv2d, bn: BatchNorm2d) -> None:
    """conv ← BN ∘ conv: w′[o] = s_o w[o], b′_o = s_o (b_o − μ_o) + β_o (float64, rounded
    once); the caller checked that bn keeps running statistics."""
    mean, var = bn.running_mean, bn.running_var
    assert mean is not None and var is not None
    dtype = conv.dtype
    s = 1.0 / np.sqrt(var.astype(np.float64) + bn.eps)
    if bn.weight is not None:
        s = s * bn.weight.data
    b = conv.bias.data.astype(np.float64) if conv.bias is not None else 0.0
    shift = s * (b - mean)
    if bn.bias is not None:
        shift = shift + bn.bias.data
    w = conv.weight.data.astype(np.float64) * s[:, None, None, None]
    conv.weight = Parameter(w.astype(dtype))
    conv.bias = Parameter(shift.astype(dtype))


def _replace(root: Module, replaced: dict[int, Module]) -> None:
    """Put ``replaced[id(m)]`` wherever a container of root holds m: its attributes, a
    Sequential's layers, a Graph's nodes."""
    if not replaced:
        return
    for module in root.modules():
        for name, value in list(vars(module).items()):
            if isinstance(value, Module) and id(value) in replaced:
                setattr(module, name, replaced[id(value)])
        if isinstance(module, Sequential):
            module._layers = [replaced.get(id(m), m) for m in module._layers]
        if isinstance(module, Graph):
            module._nodes = [_swapped(node, replaced) for node in module._nodes]


def _swapped(node: _GraphNode, replaced: dict[int, Any]) -> _GraphNode:
    new = replaced.get(id(node.module))
    return node if new is None else node._replace(module=new)
