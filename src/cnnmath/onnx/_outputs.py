"""The outputs after the first of ONNX nodes whose first output is a layer: the statistics
of LayerNormalization (Mean, InvStdDev) and Dropout's mask in inference.

Each is an op of its own reading the node's input, handed to the loader through
``info["more"]`` (as Split's and TopK's later outputs are), so the first output keeps its
layer (``nn.LayerNorm``, ``nn.Dropout``) and the file's graph reads the rest as values:

    LayerNormalization (opset 17), X of rank r, a = axis (negative from r), M = the number
    of elements over axes a … r − 1:
        Mean[i]      = (1/M) Σ_j X[i, j]
        InvStdDev[i] = 1 / sqrt((1/M) Σ_j (X[i, j] − Mean[i])² + ε)
    both of X's shape with axes a … r − 1 set to 1, in the stash_type's float (1: float32,
    11: float64; onnxruntime's types), computed in float64. Backward:
        ∂Mean/∂X = 1/M,   ∂InvStdDev/∂X[i, j] = −InvStdDev[i]³ (X[i, j] − Mean[i]) / M.

    Dropout (inference: training_mode absent or false): mask = True everywhere, a bool
    tensor of X's shape; no gradient. (The file's meaning: a loaded graph put in training
    mode with ``.train()`` draws its nn.Dropout, but this mask stays the inference one.)

(https://onnx.ai/onnx/operators/onnx__LayerNormalization.html,
https://onnx.ai/onnx/operators/onnx__Dropout.html)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._ops import Built, Node, Operand, Ref, _axis, _generic, _Op, _plain

#: stash_type -> the statistics' dtype (ONNX's type inference; onnxruntime's outputs)
_STASH: dict[int, np.dtype] = {1: np.dtype(np.float32), 11: np.dtype(np.float64)}


class _LayerNormStatistic(_Op):
    """Mean or InvStdDev of LayerNormalization over the axes ``axis`` … r − 1 (module
    docstring): X (…) float -> (…, 1, …, 1) of ``dtype``; backward as there."""

    roles = ("X",)
    #: an output of its own beside the node's first, which the first op computes in full
    #: (so that op may be written back as the node read, with its first output only)
    apart = True

    def __init__(
        self, node: Node, operands: Sequence[Operand], which: str, axis: int, eps: float,
        dtype: np.dtype,
    ) -> None:  # fmt: skip
        super().__init__(node, operands)
        self.which, self.axis, self.eps, self.dtype = which, axis, eps, dtype

    def compute(self, x: Any) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        a = _axis(self.onnx_node, "attribute 'axis'", self.axis, max(x.ndim, 1))
        axes = tuple(range(a, x.ndim))
        x64 = x.astype(np.float64, copy=False)
        mean = x64.mean(axis=axes, keepdims=True)
        centred = x64 - mean
        inv = 1.0 / np.sqrt((centred * centred).mean(axis=axes, keepdims=True) + self.eps)
        y = mean if self.which == "Mean" else inv
        return y.astype(self.dtype), (axes, centred, inv)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        axes, centred, inv = ctx
        M = int(np.prod([centred.shape[i] for i in axes]))
        G = np.asarray(g, dtype=np.float64)
        if self.which == "Mean":
            return [np.broadcast_to(G / M, centred.shape)]
        return [-(G * inv**3) * centred / M]

    def extra_repr(self) -> str:
        """Which statistic, the axis and ε."""
        return f"onnx_op={self.onnx_op!r}, output={self.which!r}, axis={self.axis}, eps={self.eps}"


def layer_norm_statistics(
    node: Node, x: Operand, axis: int, eps: float, stash: int, info: dict[str, Any]
) -> list[tuple[str, Built]]:
    """(output name, built) for each of LayerNormalization's Mean and InvStdDev the graph
    reads (``info["outputs"]``: the first output, then the read ones by name)."""
    outputs = info["all_outputs"]
    read = set(info["outputs"][1:])
    more = []
    for position, which in ((1, "Mean"), (2, "InvStdDev")):
        if position < len(outputs) and outputs[position] in read:
            stat = Node(node.name, node.op_type, node.opset)
            op = _LayerNormStatistic(stat, [x], which, axis, eps, _STASH[stash])
            more.append((outputs[position], _generic(op, [x])))
    return more


class _DropoutMask(_Op):
    """Dropout's mask in inference: True at every element of X (bool, X's shape); the
    mask takes no gradient and gives X none."""

    roles = ("data",)
    apart = True

    def compute(self, x: Any) -> tuple[np.ndarray, Any]:
        return np.ones(np.shape(x), dtype=bool), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [None]


def dropout_mask(node: Node, x: Operand, info: dict[str, Any]) -> list[tuple[str, Built]]:
    """(mask's name, built) where the graph reads Dropout's mask (inference only: the
    caller refuses training_mode true)."""
    outputs = info["all_outputs"]
    if len(outputs) < 2 or outputs[1] not in info["outputs"][1:]:
        return []
    if not isinstance(x, Ref):  # a constant's mask: folded by the loader
        x = _plain(x)
    mask = Node(node.name, node.op_type, node.opset)
    return [(outputs[1], _generic(_DropoutMask(mask, [x]), [x]))]
