"""Batch normalisation folded into the convolution before it, for inference.

In evaluation a BatchNorm1d, 2d or 3d is a fixed affine map per channel o,

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
from .layers1d import Conv1d
from .layers3d import BatchNorm3d, Conv3d
from .lists import ModuleDict, ModuleList
from .module import Module
from .normalization import BatchNorm1d, BatchNorm2d
from .parameter import Parameter

__all__ = ["fold_batch_norm"]


def fold_batch_norm(model: Module) -> Module:
    """A copy of ``model`` for inference, each BatchNorm1d, BatchNorm2d or BatchNorm3d that
    directly follows a Conv1d, Conv2d or Conv3d (the one of its rank) folded into it (module
    docstring): w′[o] = s_o w[o], b′_o = s_o (b_o − μ_o) + β_o with s_o = γ_o/√(σ²_o + ε),
    and the normalisation replaced by an ``Identity``.

    The copy is in evaluation mode and computes what ``model.eval()`` computes, to rounding
    error (the products see the scaled filter: about one float rounding per weight). Its
    ``state_dict`` loses the folded layers' keys and gains a bias for a convolution that had
    none; a folded convolution gets parameters of its own (a filter it shared with another
    layer stays with that one, unscaled). Calling ``.train()`` on the copy does not bring the
    folded normalisations back: train ``model`` itself and fold again. ``model`` is left as it
    was (the copy does not take the contexts its last call kept for a backward pass).

    A pair is folded only where nothing else depends on the convolution's own output: the
    normalisation is the only reader of the convolution's output (which is not the model's
    output), neither layer is used anywhere else in the model (a hand-written module's
    inside, which ``Module.walk`` sees as one node, counts as a use), the normalisation keeps
    running statistics (``track_running_stats``; without them evaluation normalises by the
    batch, which no fixed filter can do) and has the convolution's output channels and dtype,
    the normalisation is exactly its class and the convolution its class or a subclass with
    the same ``forward_ctx`` (as ``models.r3d_18``'s; another subclass may compute something
    else). A folded Conv1d → BatchNorm1d pair assumes batched (N, C, L) input, as BatchNorm1d
    after a convolution means it: on one unbatched (C, L) signal BatchNorm1d reads (N, C) and
    normalises across L, which the folded copy does not reproduce (fold only models that run
    on batches). A model in which a
    container passes a value through untouched (an empty Sequential, a Graph whose output is
    one of its inputs) is copied without folding: its ``walk`` does not show who reads what
    there. The scale and the new filter are computed in float64 and rounded once to the
    layer's dtype. A graph from ``cnnmath.onnx.load`` keeps in ``initializer_names`` only the
    initializers still held as they were.

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
    inputs = folded.input_names
    if isinstance(folded, Graph) and len(folded.outputs) > 1:
        outputs = set(folded.outputs)  # the top level's outputs keep their node names
        nodes = list(folded._walk("", inputs, None))
    else:  # the output gets a name no layer can have, so it is found in any model
        outputs = {_OUTPUT}
        nodes = list(folded._walk("", inputs, _OUTPUT))
    written = {v for node in nodes for v in (node.output, *node.extra_outputs)}
    if nodes and (
        not outputs & written
        or any(v not in written and v not in inputs for n in nodes for v in n.inputs)
    ):
        return folded  # a pass-through container: values read under names nothing writes
    uses = Counter(id(m) for node in nodes for m in node.module.modules())
    producer = {v: node for node in nodes for v in (node.output, *node.extra_outputs)}
    readers = Counter(value for node in nodes for value in node.inputs)
    replaced: dict[int, Module] = {}
    prefixes: list[str] = []
    for node in nodes:
        bn: Any = node.module  # a BatchNorm1d/2d/3d once its class is found in _CONV_OF
        conv_class = _CONV_OF.get(type(bn))
        if conv_class is None or len(node.inputs) != 1:
            continue
        (value,) = node.inputs
        source = producer.get(value)
        if source is None or not _computes_as(source.module, conv_class):
            continue
        conv: Any = source.module
        if (
            readers[value] != 1
            or value in outputs
            or uses[id(conv)] != 1
            or uses[id(bn)] != 1
            or bn.running_mean is None
            or bn.running_var is None
            or conv.dtype != bn.dtype
            or conv.out_channels != bn.num_features
        ):
            continue
        _fold_into(conv, bn)
        replaced[id(bn)] = Identity()
        prefixes += [f"{source.name}.", f"{node.name}."]
    _replace(folded, replaced)
    _forget_folded_initializers(folded, tuple(prefixes))
    return folded


#: The convolution each batch normalisation folds into: the one of its number of axes.
_CONV_OF: dict[type, type[Module]] = {BatchNorm1d: Conv1d, BatchNorm2d: Conv2d, BatchNorm3d: Conv3d}


def _computes_as(module: Module, cls: type[Module]) -> bool:
    """module is a ``cls``, or of a subclass that keeps its computation (the same
    ``forward_ctx``: torchvision's video convolutions only change the constructor)."""
    return isinstance(module, cls) and type(module).forward_ctx is cls.forward_ctx


#: The name the model's output value is walked under (no layer path contains a NUL).
_OUTPUT = "\0output"


def _copy_without_contexts(model: Module) -> Module:
    """A deep copy of model that does not copy the contexts of its last calls (activations
    kept for a backward pass the copy will never run), without touching model: the memo
    maps each context holding arrays to None. Contexts of plain values (an int) are not
    shared objects one could tell apart, so they are copied, then cleared in the copy."""
    memo: dict[int, Any] = {}
    for m in model.modules():
        ctx = vars(m).get("_last_ctx")
        if isinstance(ctx, (np.ndarray, list, dict)) or (
            isinstance(ctx, tuple)
            and any(isinstance(e, (np.ndarray, list, dict, tuple)) for e in ctx)
        ):
            memo[id(ctx)] = None
    copied = copy.deepcopy(model, memo)
    for m in copied.modules():
        if "_last_ctx" in vars(m):
            m._last_ctx = None
    return copied


def _forget_folded_initializers(model: Module, prefixes: tuple[str, ...]) -> None:
    """Drop from an ONNX-loaded graph's ``initializer_names`` (initializer -> state_dict key)
    the keys of the folded layers: they no longer hold the file's numbers, or are gone."""
    names = getattr(model, "initializer_names", None)
    if isinstance(names, dict) and prefixes:
        model.initializer_names = {  # type: ignore[attr-defined]
            k: v for k, v in names.items() if not (isinstance(v, str) and v.startswith(prefixes))
        }


def _fold_into(conv: Any, bn: Any) -> None:
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
    w = conv.weight.data.astype(np.float64)
    w = w * s.reshape(-1, *(1,) * (w.ndim - 1))  # s_o on the output channel axis
    conv.weight = Parameter(w.astype(dtype))
    conv.bias = Parameter(shift.astype(dtype))


def _replace(root: Module, replaced: dict[int, Module]) -> None:
    """Put ``replaced[id(m)]`` wherever a container of root holds m: its attributes, a
    Sequential's layers, a ModuleList's or ModuleDict's members, a Graph's nodes."""
    if not replaced:
        return
    for module in root.modules():
        for name, value in list(vars(module).items()):
            if isinstance(value, Module) and id(value) in replaced:
                setattr(module, name, replaced[id(value)])
        if isinstance(module, Sequential):
            module._layers = [replaced.get(id(m), m) for m in module._layers]
        if isinstance(module, ModuleList):
            module._modules_list = [replaced.get(id(m), m) for m in module._modules_list]
        if isinstance(module, ModuleDict):
            module._modules_dict = {
                k: replaced.get(id(m), m) for k, m in module._modules_dict.items()
            }
        if isinstance(module, Graph):
            module._nodes = [_swapped(node, replaced) for node in module._nodes]


def _swapped(node: _GraphNode, replaced: dict[int, Any]) -> _GraphNode:
    new = replaced.get(id(node.module))
    return node if new is None else node._replace(module=new)
