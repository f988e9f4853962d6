"""Inception v3 as torchvision builds it (Szegedy et al. 2016, "Rethinking the Inception
Architecture"): GoogLeNet's parallel branches, with the large kernels factorised — a 5×5 as
two 3×3, an n×n as a 1×n then an n×1 (the 17×17 blocks' 1×7 and 7×1), the 8×8 blocks'
3×3 split into a 1×3 and a 3×1 side by side — and grid reductions that concatenate a
strided convolution with a strided max pool, so that the channels grow as the resolution
falls without a representational bottleneck.

Module names, ``state_dict`` keys and ``repr`` are torchvision's ("Mixed_6b.branch7x7_2
.conv.weight", ``InceptionA`` … ``InceptionE``, ``BasicConv2d``). With ``aux_logits=True``
the auxiliary classifier ``AuxLogits`` (an :class:`InceptionAux` on Mixed_6e's 17×17
features) is built too: training mode returns (logits, aux) — torchvision's
``InceptionOutputs`` order — and evaluation mode the logits alone, the head not computed.
torchvision's class defaults to ``aux_logits=True``; cnnmath's stays False, so that a model
built without options keeps returning one array. torchvision's trained Inception v3 weights
include the head ("AuxLogits.fc.weight", …): they load strictly into
``inception_v3(aux_logits=True)``. Its trained weights expect ``transform_input=True``.
Inputs are at least 75×75; the auxiliary head needs 299×299 (Mixed_6e at 17×17, which its
5×5/3 average pool and 5×5 convolution reduce to 1×1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import nn
from .._checks import positive_int, real_number
from .googlenet import BasicConv2d, TransformInput, _AuxHeads, checked_heads, init_trunc_normal
from .resnet import _wiring

__all__ = [
    "Inception3",
    "InceptionA",
    "InceptionB",
    "InceptionC",
    "InceptionD",
    "InceptionE",
    "InceptionAux",
    "inception_v3",
]


def _chain(graph: nn.Graph, names: tuple[str, ...], source: str = "x") -> str:
    """Apply the graph's children ``names`` one after another to ``source``."""
    out = source
    for name in names:
        out = graph.add(getattr(graph, name), out)
    return out


def _pool(kind: str, graph: nn.Graph, name: str) -> str:
    """F.avg_pool2d(x, 3, 1, 1) or F.max_pool2d(x, 3, 2), as wiring (no child)."""
    layer = nn.AvgPool2d(3, stride=1, padding=1) if kind == "avg" else nn.MaxPool2d(3, stride=2)
    return graph.add(_wiring(layer), "x", name=name)


class InceptionA(nn.Graph):
    """35×35 block: 1×1 (64); 1×1 → 5×5 (48 → 64); 1×1 → 3×3 → 3×3 (64 → 96 → 96);
    3×3 average pool → 1×1 (pool_features)."""

    def __init__(self, in_channels: int, pool_features: int, *, dtype: Any = np.float32) -> None:
        super().__init__()
        c = {"dtype": dtype}
        self.branch1x1 = BasicConv2d(in_channels, 64, 1, **c)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, 1, **c)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2, **c)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1, **c)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1, **c)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1, **c)
        self.branch_pool = BasicConv2d(in_channels, pool_features, 1, **c)
        outputs = [
            _chain(self, ("branch1x1",)),
            _chain(self, ("branch5x5_1", "branch5x5_2")),
            _chain(self, ("branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3")),
            _chain(self, ("branch_pool",), _pool("avg", self, "avg_pool")),
        ]
        self.set_output(self.add(nn.Concat(1), *outputs, name="cat"))


class InceptionB(nn.Graph):
    """35 → 17 grid reduction: 3×3/2 (384); 1×1 → 3×3 → 3×3/2 (64 → 96 → 96); 3×3/2 max
    pool."""

    def __init__(self, in_channels: int, *, dtype: Any = np.float32) -> None:
        super().__init__()
        c = {"dtype": dtype}
        self.branch3x3 = BasicConv2d(in_channels, 384, 3, stride=2, **c)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1, **c)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1, **c)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2, **c)
        outputs = [
            _chain(self, ("branch3x3",)),
            _chain(self, ("branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3")),
            _pool("max", self, "max_pool"),
        ]
        self.set_output(self.add(nn.Concat(1), *outputs, name="cat"))


class InceptionC(nn.Graph):
    """17×17 block with 7×7s factorised: 1×1 (192); 1×1 → 1×7 → 7×1 (c7, c7, 192);
    1×1 → 7×1 → 1×7 → 7×1 → 1×7 (c7 … 192); 3×3 average pool → 1×1 (192)."""

    def __init__(self, in_channels: int, channels_7x7: int, *, dtype: Any = np.float32) -> None:
        super().__init__()
        c7, c = channels_7x7, {"dtype": dtype}
        row, column = (0, 3), (3, 0)  # the paddings of a 1×7 and a 7×1
        self.branch1x1 = BasicConv2d(in_channels, 192, 1, **c)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, 1, **c)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=row, **c)
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=column, **c)
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, 1, **c)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=column, **c)
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=row, **c)
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=column, **c)
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=row, **c)
        self.branch_pool = BasicConv2d(in_channels, 192, 1, **c)
        double = tuple(f"branch7x7dbl_{i}" for i in range(1, 6))
        outputs = [
            _chain(self, ("branch1x1",)),
            _chain(self, ("branch7x7_1", "branch7x7_2", "branch7x7_3")),
            _chain(self, double),
            _chain(self, ("branch_pool",), _pool("avg", self, "avg_pool")),
        ]
        self.set_output(self.add(nn.Concat(1), *outputs, name="cat"))


class InceptionD(nn.Graph):
    """17 → 8 grid reduction: 1×1 → 3×3/2 (192 → 320); 1×1 → 1×7 → 7×1 → 3×3/2 (192);
    3×3/2 max pool."""

    def __init__(self, in_channels: int, *, dtype: Any = np.float32) -> None:
        super().__init__()
        c = {"dtype": dtype}
        self.branch3x3_1 = BasicConv2d(in_channels, 192, 1, **c)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2, **c)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, 1, **c)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3), **c)
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0), **c)
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2, **c)
        outputs = [
            _chain(self, ("branch3x3_1", "branch3x3_2")),
            _chain(self, tuple(f"branch7x7x3_{i}" for i in range(1, 5))),
            _pool("max", self, "max_pool"),
        ]
        self.set_output(self.add(nn.Concat(1), *outputs, name="cat"))


class InceptionE(nn.Graph):
    """8×8 block with the 3×3s split side by side: 1×1 (320); 1×1 (384) → [1×3, 3×1];
    1×1 → 3×3 (448 → 384) → [1×3, 3×1]; 3×3 average pool → 1×1 (192)."""

    def __init__(self, in_channels: int, *, dtype: Any = np.float32) -> None:
        super().__init__()
        c = {"dtype": dtype}
        row, column = (0, 1), (1, 0)  # the paddings of a 1×3 and a 3×1
        self.branch1x1 = BasicConv2d(in_channels, 320, 1, **c)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, 1, **c)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=row, **c)
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=column, **c)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, 1, **c)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1, **c)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=row, **c)
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=column, **c)
        self.branch_pool = BasicConv2d(in_channels, 192, 1, **c)
        single = _chain(self, ("branch3x3_1",))
        double = _chain(self, ("branch3x3dbl_1", "branch3x3dbl_2"))
        outputs = [
            _chain(self, ("branch1x1",)),
            _chain(self, ("branch3x3_2a",), single),
            _chain(self, ("branch3x3_2b",), single),
            _chain(self, ("branch3x3dbl_3a",), double),
            _chain(self, ("branch3x3dbl_3b",), double),
            _chain(self, ("branch_pool",), _pool("avg", self, "avg_pool")),
        ]
        self.set_output(self.add(nn.Concat(1), *outputs, name="cat"))


class InceptionAux(nn.Graph):
    """Inception v3's auxiliary classifier, torchvision's ``InceptionAux``::

        5×5/3 average pool → conv0 (BasicConv2d 1×1, C → 128) → conv1 (BasicConv2d 5×5,
        128 → 768) → adaptive average pool to 1×1 → flatten → fc (768 → num_classes)

    (the pools and the flatten are wiring, as torchvision's functional calls). On Mixed_6e's
    17×17 map the pool gives 5×5 and conv1 1×1; a smaller map is too small for the 5×5
    kernels. Input (B, C, H, W), H, W ≥ 17; output (B, num_classes).
    """

    def __init__(
        self, in_channels: int, num_classes: int, *, rng: Any = None, dtype: Any = np.float32
    ) -> None:
        super().__init__()
        self.conv0 = BasicConv2d(in_channels, 128, 1, dtype=dtype)
        self.conv1 = BasicConv2d(128, 768, 5, dtype=dtype)
        self.fc = nn.Linear(768, num_classes, rng=rng, dtype=dtype)
        out = self.add(_wiring(nn.AvgPool2d(5, stride=3)), "x", name="avg_pool")
        out = _chain(self, ("conv0", "conv1"), out)
        out = self.add(_wiring(nn.AdaptiveAvgPool2d((1, 1))), out, name="adaptive_avg_pool")
        self.set_output(self.add(self.fc, self.add(_wiring(nn.Flatten()), out, name="flatten")))


class Inception3(_AuxHeads):
    """torchvision's ``Inception3``::

        [transform_input] → Conv2d_1a_3x3 /2 → 2a → 2b → maxpool1 → 3b 1×1 → 4a 3×3
        → maxpool2 → Mixed_5b, 5c, 5d (A) → 6a (B) → 6b … 6e (C) → 7a (D) → 7b, 7c (E)
        → avgpool → dropout → flatten → fc

    With ``aux_logits=True``, ``AuxLogits`` = InceptionAux(768) reads Mixed_6e's output:
    training mode returns (logits, aux) — torchvision's order — and ``backward`` takes both
    gradients (None for one the loss ignores); evaluation mode returns the logits and skips
    the head. torchvision's reference loss is CE(logits) + 0.4·CE(aux).

    Initialisation as torchvision's: every convolution and fc weight truncated normal
    (σ = 0.1, cut at ±2) but the auxiliary fc's (σ = 0.001), BatchNorm 1 and 0, the Linear
    biases PyTorch's default. (torchvision also marks AuxLogits.conv1 with σ = 0.01, on the
    BasicConv2d rather than its Conv2d, so its initialisation loop, which reads σ from the
    Conv2d, draws that convolution with σ = 0.1: so does cnnmath.) The head draws from its
    own generator (seed sequence (seed, 1)), so that the rest of the network has the same
    weights with or without it. Input (B, 3, H, W), H, W ≥ 75 (299 with the head in
    training mode); output (B, num_classes).
    """

    def __init__(
        self,
        num_classes: int = 1000,
        aux_logits: bool = False,
        transform_input: bool = False,
        dropout: float = 0.5,
        *,
        seed: int = 0,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = type(self).__name__
        num_classes = positive_int("num_classes", num_classes, func=func)
        dropout = real_number("dropout", dropout, func=func)
        seed = positive_int("seed", seed, func=func, minimum=0)
        self.aux_logits, self.transform_input = checked_heads(func, aux_logits, transform_input)
        rng = np.random.default_rng(seed)
        c = {"dtype": dtype}
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2, **c)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3, **c)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1, **c)
        self.maxpool1 = nn.MaxPool2d(3, stride=2)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1, **c)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3, **c)
        self.maxpool2 = nn.MaxPool2d(3, stride=2)
        self.Mixed_5b = InceptionA(192, 32, **c)
        self.Mixed_5c = InceptionA(256, 64, **c)
        self.Mixed_5d = InceptionA(288, 64, **c)
        self.Mixed_6a = InceptionB(288, **c)
        self.Mixed_6b = InceptionC(768, 128, **c)
        self.Mixed_6c = InceptionC(768, 160, **c)
        self.Mixed_6d = InceptionC(768, 160, **c)
        self.Mixed_6e = InceptionC(768, 192, **c)
        if self.aux_logits:
            aux_rng = np.random.default_rng([seed, 1])
            self.AuxLogits = InceptionAux(768, num_classes, rng=aux_rng, dtype=dtype)
        self.Mixed_7a = InceptionD(768, **c)
        self.Mixed_7b = InceptionE(1280, **c)
        self.Mixed_7c = InceptionE(2048, **c)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout, rng=rng)
        self.fc = nn.Linear(2048, num_classes, rng=rng, dtype=dtype)
        head = self.AuxLogits.modules() if self.aux_logits else []
        in_head = {id(m) for m in head}
        init_trunc_normal([m for m in self.modules() if id(m) not in in_head], 0.1, rng)
        if self.aux_logits:
            init_trunc_normal(head, 0.1, aux_rng, {id(self.AuxLogits.fc): 0.001})
        out = "x"
        if self.transform_input:
            out = self.add(TransformInput(), out, name="transform_input")
        for name, _ in list(self.named_children()):
            if name not in ("fc", "AuxLogits"):
                out = self.add(getattr(self, name), out)
            if name == "dropout":
                out = self.add(_wiring(nn.Flatten()), out, name="flatten")
        logits = self.add(self.fc, out)
        if self.aux_logits:
            self.set_output(logits, self.add(self.AuxLogits, "Mixed_6e"))
        else:
            self.set_output(logits)


def inception_v3(
    num_classes: int = 1000,
    aux_logits: bool = False,
    transform_input: bool = False,
    dropout: float = 0.5,
    *,
    seed: int = 0,
    dtype: Any = np.float32,
) -> Inception3:
    """Inception v3, torchvision's ``inception_v3(aux_logits=False)``: 23 834 568 parameters
    for 1000 classes, the same ``state_dict`` keys and ``repr`` (``inplace=True`` aside). With
    ``aux_logits=True`` (torchvision's class default, not cnnmath's) the auxiliary classifier
    too (27 161 264 parameters, torchvision's published count): training mode returns
    (logits, aux) on 299×299 images, evaluation mode the logits. For torchvision's trained
    weights pass ``aux_logits=True, transform_input=True``, as torchvision builds it.

    >>> inception_v3(10).eval()(np.zeros((1, 3, 75, 75), np.float32)).shape
    (1, 10)
    """
    return Inception3(num_classes, aux_logits, transform_input, dropout, seed=seed, dtype=dtype)
