"""Layers that move, copy or combine values: Flatten, Unflatten, Permute, PixelShuffle and
PixelUnshuffle, ChannelShuffle, Unfold, Fold, Narrow, ResNet-20's ShortcutA, Identity, and the
wiring ops Add, Mul and Concat."""

from __future__ import annotations

import numpy as np

from ... import nn
from ...models.resnet import ShortcutA
from ._writer import _INT64_MAX, _needs, _pair, _Writer
from .pad import _pad_node


def _blocks(w: _Writer, node: nn.Node, shape: tuple, r: int, shuffle: bool) -> None:
    """pixel_shuffle (``shuffle``) or pixel_unshuffle of a (…, C, H, W) value as ONNX's
    Reshape, Transpose, Reshape: the block's rows and columns split off their axes (or the
    channels), moved, and merged. A 0 in a Reshape's shape copies the axis before C (the
    symbolic batch among them)."""
    base, n = node.name, len(shape) - 3
    C, H, W = shape[-3:]
    if shuffle:  # …, c, i, j, h, w → …, c, h, i, w, j
        c = C // (r * r)
        split, perm, merged = [c, r, r, H, W], [n, n + 3, n + 1, n + 4, n + 2], [c, H * r, W * r]
    else:  # …, c, h, i, w, j → …, c, i, j, h, w
        h, w_ = H // r, W // r
        split, perm, merged = [C, h, r, w_, r], [n, n + 2, n + 4, n + 1, n + 3], [C * r * r, h, w_]
    blocks = w.node(
        "Reshape",
        [node.inputs[0], w.const(f"{base}/split", [0] * n + split, np.int64)],
        f"{base}/blocks",
        f"{base}/blocks",
    )
    moved = w.node("Transpose", [blocks], f"{base}/moved", f"{base}/moved", perm=[*range(n), *perm])
    w.node(
        "Reshape", [moved, w.const(f"{base}/merged", [0] * n + merged, np.int64)], node.output, base
    )


def _pixel_shuffle(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.PixelShuffle)
    if len(shapes[0]) == 4:
        w.node(
            "DepthToSpace",
            [node.inputs[0]],
            node.output,
            node.name,
            blocksize=m.upscale_factor,
            mode="CRD",
        )
    else:
        _blocks(w, node, shapes[0], m.upscale_factor, shuffle=True)


def _pixel_unshuffle(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.PixelUnshuffle)
    if len(shapes[0]) == 4 and w.opset >= 28:  # SpaceToDepth's mode arrived in opset 28
        w.node(
            "SpaceToDepth",
            [node.inputs[0]],
            node.output,
            node.name,
            blocksize=m.downscale_factor,
            mode="CRD",
        )
    else:
        _blocks(w, node, shapes[0], m.downscale_factor, shuffle=False)


def _unfold(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """Unfold as the windows gathered: Pad (zeros), Gather of the rows s_h·i + d_h·a along H
    and of the columns s_w·j + d_w·b along W, a Transpose to (N, C, k1, k2, H_out, W_out)
    and a Reshape to (N, C·k1·k2, L). Copies only: every value, NaN and ±inf too, lands as
    in the layer."""
    m = node.module
    assert isinstance(m, nn.Unfold)
    if len(shapes[0]) != 4:
        raise ValueError(
            f"save: model: node {node.name!r} (Unfold): expected a batch (N, C, H, W), got "
            f"shape {shapes[0]}"
        )
    (k1, k2), (dh, dw), (ph, pw), (sh, sw) = (
        _pair(v) for v in (m.kernel_size, m.dilation, m.padding, m.stride)
    )
    C, H, W = shapes[0][1], shapes[0][2] + 2 * ph, shapes[0][3] + 2 * pw
    ho, wo = (H - dh * (k1 - 1) - 1) // sh + 1, (W - dw * (k2 - 1) - 1) // sw + 1
    base, x = node.name, node.inputs[0]
    if ph or pw:
        x = _pad_node(w, x, f"{base}/pad", f"{base}/pad", "constant", (pw, pw, ph, ph), 4)
    rows = np.arange(ho)[:, None] * sh + np.arange(k1)[None, :] * dh
    cols = np.arange(wo)[:, None] * sw + np.arange(k2)[None, :] * dw
    x = w.node(
        "Gather", [x, w.const(f"{base}/rows", rows, np.int64)], f"{base}/r", f"{base}/r", axis=2
    )
    x = w.node(
        "Gather", [x, w.const(f"{base}/cols", cols, np.int64)], f"{base}/c", f"{base}/c", axis=4
    )
    x = w.node("Transpose", [x], f"{base}/t", f"{base}/t", perm=[0, 1, 3, 5, 2, 4])
    shape = w.const(f"{base}/shape", [0, C * k1 * k2, ho * wo], np.int64)
    w.node("Reshape", [x, shape], node.output, base)


def _fold(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.Fold)
    _needs(w, node, "Col2Im", 18)
    if len(shapes[0]) != 3:
        raise ValueError(
            f"save: model: node {node.name!r} (Fold): expected a batch (N, C·k1·k2, L), got "
            f"shape {shapes[0]}"
        )
    (ph, pw), base = _pair(m.padding), node.name
    image = w.const(f"{base}/image_shape", list(_pair(m.output_size)), np.int64)
    block = w.const(f"{base}/block_shape", list(_pair(m.kernel_size)), np.int64)
    w.node(
        "Col2Im",
        [node.inputs[0], image, block],
        node.output,
        base,
        dilations=list(_pair(m.dilation)),
        pads=[ph, pw, ph, pw],
        strides=list(_pair(m.stride)),
    )


def _channel_shuffle(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """ChannelShuffle as Reshape (N, g, C/g, …), Transpose of the two, Reshape back."""
    m = node.module
    assert isinstance(m, nn.ChannelShuffle)
    C, rest, base, g = shapes[0][1], list(shapes[0][2:]), node.name, m.groups
    split = w.const(f"{base}/split", [0, g, C // g, *rest], np.int64)
    x = w.node("Reshape", [node.inputs[0], split], f"{base}/groups", f"{base}/groups")
    perm = [0, 2, 1, *range(3, len(rest) + 3)]
    x = w.node("Transpose", [x], f"{base}/dealt", f"{base}/dealt", perm=perm)
    merged = w.const(f"{base}/merged", [0, C, *rest], np.int64)
    w.node("Reshape", [x, merged], node.output, base)


def _unflatten(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.Unflatten)
    if m.dim % len(shapes[0]) == 0:
        raise ValueError(
            f"save: model: node {node.name!r} (Unflatten): splitting the batch axis has no "
            "ONNX form with a symbolic batch"
        )
    shape = w.const(f"{node.name}/shape", [0, *out[1:]], np.int64)
    w.node("Reshape", [node.inputs[0], shape], node.output, node.name)


def _permute(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.Permute)
    w.node("Transpose", [node.inputs[0]], node.output, node.name, perm=list(m.dims))


def _flatten(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.Flatten)
    n = max(len(shapes[0]), 1)
    start, end = m.start_dim % n, m.end_dim % n
    if start == 1 and end == n - 1:  # torch.flatten(x, 1): ONNX Flatten's 2-D result
        w.node("Flatten", [node.inputs[0]], node.output, node.name, axis=1)
        return
    # 0 copies the input's axis at the same place (the symbolic batch among them), −1 takes
    # the merged axes; the axes after them are static and written out
    target = [0] * start + [-1] + list(shapes[0][end + 1 :])
    shape = w.const(f"{node.name}/shape", target, np.int64)
    w.node("Reshape", [node.inputs[0], shape], node.output, node.name)


def _add(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    op = "Add" if len(node.inputs) == 2 else "Sum"
    w.node(op, node.inputs, node.output, node.name)


def _narrow(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.Narrow)
    base = node.name
    starts = w.const(f"{base}/starts", [m.start], np.int64)
    ends = w.const(f"{base}/ends", [m.start + m.length], np.int64)
    axes = w.const(f"{base}/axes", [m.dim], np.int64)
    w.node("Slice", [node.inputs[0], starts, ends, axes], node.output, base)


def _mul(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    w.node("Mul", node.inputs, node.output, node.name)


def _concat(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.Concat)
    w.node("Concat", node.inputs, node.output, node.name, axis=m.dim)


def _identity(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    w.node("Identity", [node.inputs[0]], node.output, node.name)


def _shortcut_a(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, ShortcutA)
    base = node.name
    sub = w.node(
        "Slice",
        [
            node.inputs[0],
            w.const(f"{base}/starts", [0, 0], np.int64),
            w.const(f"{base}/ends", [_INT64_MAX, _INT64_MAX], np.int64),
            w.const(f"{base}/axes", [2, 3], np.int64),
            w.const(f"{base}/steps", [2, 2], np.int64),
        ],
        f"{base}/subsampled",
        f"{base}/slice",
    )
    pads = w.const(f"{base}/pads", [0, m.pad, 0, 0, 0, m.pad, 0, 0], np.int64)
    w.node("Pad", [sub, pads], node.output, base, mode="constant")
