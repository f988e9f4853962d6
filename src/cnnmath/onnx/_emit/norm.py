"""Normalisations and fixed affine maps: BatchNormalization, InstanceNormalization,
LayerNormalization, RMSNormalization, GroupNorm (InstanceNormalization of the grouped
reshape, then the per-channel affine map), LRN, and the Mul / Add of LayerScale and
TransformInput."""

from __future__ import annotations

import numpy as np

from ... import nn
from ...models.convnext import LayerScale
from ...models.googlenet import TransformInput
from ._writer import _channel_view, _needs, _Writer


def _batch_norm(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.InstanceNorm2d))
    if m.running_mean is None or m.running_var is None:
        raise ValueError(
            f"save: model: node {node.name!r} ({type(m).__name__} with "
            "track_running_stats=False) normalises every batch by its own statistics, also in "
            "eval mode; ONNX's BatchNormalization uses fixed statistics"
        )
    C = m.num_features
    scale = w.state(m, "weight", node) if m.weight is not None else None
    bias = w.state(m, "bias", node) if m.bias is not None else None
    inputs = [
        node.inputs[0],
        scale or w.const(f"{node.name}/ones", np.ones(C)),
        bias or w.const(f"{node.name}/zeros", np.zeros(C)),
        w.state(m, "running_mean", node),
        w.state(m, "running_var", node),
    ]
    w.node("BatchNormalization", inputs, node.output, node.name, epsilon=m.eps)


def _instance_norm(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """InstanceNormalization (each image by its own statistics), or BatchNormalization by the
    running statistics when the layer tracks them (its evaluation form)."""
    m = node.module
    assert isinstance(m, nn.InstanceNorm2d)
    C = shapes[0][1]
    if m.running_mean is not None:
        _batch_norm(w, node, shapes, out)
        return
    scale = w.state(m, "weight", node) if m.weight is not None else None
    bias = w.state(m, "bias", node) if m.bias is not None else None
    inputs = [
        node.inputs[0],
        scale or w.constant(f"{node.name}/ones", np.ones(C)),
        bias or w.constant(f"{node.name}/zeros", np.zeros(C)),
    ]
    w.node("InstanceNormalization", inputs, node.output, node.name, epsilon=m.eps)


def _local_response_norm(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.LocalResponseNorm)
    if m.size % 2 == 0:
        raise ValueError(
            f"save: model: node {node.name!r} (LocalResponseNorm({m.size})): ONNX's LRN window "
            "for an even size reaches one channel further forward than PyTorch's and this "
            "layer's; only odd sizes have an ONNX form"
        )
    attrs = {"size": m.size, "alpha": m.alpha, "beta": m.beta, "bias": m.k}
    w.node("LRN", [node.inputs[0]], node.output, node.name, **attrs)


def _scale(w: _Writer, node: nn.Node, shape: tuple[int, ...]) -> str:
    """A LayerNorm's or RMSNorm's γ: its weight, or fixed ones of ``shape`` without one (a
    Constant node, which ``load`` reads back as no weight)."""
    m = node.module
    assert isinstance(m, (nn.LayerNorm, nn.RMSNorm))
    if m.weight is not None:
        return w.state(m, "weight", node)
    return w.constant(f"{node.name}/ones", np.ones(shape))


def _layer_norm(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.LayerNorm)
    _needs(w, node, "LayerNormalization", 17)
    shape, base = m.normalized_shape, node.name
    scale = _scale(w, node, shape)
    x, output = node.inputs[0], node.output
    if isinstance(m, nn.LayerNorm2d):  # over each pixel's channels: channels last and back
        x = w.node("Transpose", [x], f"{base}/nhwc", f"{base}/nhwc", perm=[0, 2, 3, 1])
        output = f"{base}/normed"
    inputs = [x, scale]
    if m.bias is not None:
        inputs.append(w.state(m, "bias", node))
    w.node("LayerNormalization", inputs, output, base, axis=-len(shape), epsilon=m.eps)
    if isinstance(m, nn.LayerNorm2d):
        w.node("Transpose", [output], node.output, f"{base}/nchw", perm=[0, 3, 1, 2])


def _rms_norm(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """RMSNormalization over the layer's trailing axes; ε None as the layer computes it (the
    machine epsilon of the model's dtype), the mean square in the model's dtype (stash_type
    float64 for a float64 model)."""
    m = node.module
    assert isinstance(m, nn.RMSNorm)
    _needs(w, node, "RMSNormalization", 23)
    shape, base = m.normalized_shape, node.name
    scale = _scale(w, node, shape)
    eps = float(np.finfo(w.dtype).eps) if m.eps is None else m.eps
    stash = 11 if np.dtype(w.dtype) == np.float64 else 1
    w.node(
        "RMSNormalization",
        [node.inputs[0], scale],
        node.output,
        base,
        axis=-len(shape),
        epsilon=eps,
        stash_type=stash,
    )


def _transform_input(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, TransformInput)
    scale, shift = m.scale_shift(w.dtype)
    base = node.name
    scaled = w.node(
        "Mul", [node.inputs[0], w.constant(f"{base}/scale", scale)], f"{base}/scaled", f"{base}/mul"
    )
    w.node("Add", [scaled, w.constant(f"{base}/shift", shift)], node.output, base)


def _layer_scale(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, LayerScale)
    gamma = w.state(m._owner, "layer_scale", node)
    w.node("Mul", [node.inputs[0], gamma], node.output, node.name)


def _group_norm(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    # InstanceNormalization of the (B, G, rest) reshape normalises each group over its
    # channels and pixels; the per-channel γ, β come after the reshape back.
    m = node.module
    assert isinstance(m, nn.GroupNorm)
    G, C, base, ndim = m.num_groups, m.num_channels, node.name, len(shapes[0])
    x = node.inputs[0]
    shape = w.node("Shape", [x], f"{base}/shape", f"{base}/shape")
    grouped = w.node(
        "Reshape",
        [x, w.const(f"{base}/groups", [0, G, -1], np.int64)],
        f"{base}/grouped",
        f"{base}/grouped",
    )
    normed = w.node(
        "InstanceNormalization",
        [
            grouped,
            w.constant(f"{base}/ones", np.ones(G)),
            w.constant(f"{base}/zeros", np.zeros(G)),
        ],
        f"{base}/normed",
        f"{base}/normed",
        epsilon=m.eps,
    )
    y = w.node("Reshape", [normed, shape], f"{base}/ungrouped", f"{base}/ungrouped")
    if m.weight is None and m.bias is None:
        w.node("Identity", [y], node.output, node.name)
        return
    view = _channel_view(w, f"{base}/channel_view", ndim, C)
    for attr, op in (("weight", "Mul"), ("bias", "Add")):
        if getattr(m, attr) is None:
            continue
        last = attr == "bias" or m.bias is None
        v = w.node("Reshape", [w.state(m, attr, node), view], f"{base}/{attr}", f"{base}/{attr}")
        y = w.node(op, [y, v], node.output if last else f"{base}/scaled", f"{base}/{op.lower()}")
