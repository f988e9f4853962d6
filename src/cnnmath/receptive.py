"""Receptive fields: which input pixels each output pixel of a network can depend on.

For a chain of layers with kernel f_l, stride s_l, padding p_l (before the first pixel) and
dilation d_l — pooling counts as a layer, an elementwise layer has f = s = d = 1, p = 0 —
the recurrences, from j_0 = r_0 = 1, c_0 = 0, are, per axis,

    j_l = j_{l−1} s_l                                   (jump: input pixels per output step)
    r_l = r_{l−1} + d_l (f_l − 1) j_{l−1}               (size of one output pixel's field)
    c_l = c_{l−1} + (d_l (f_l − 1)/2 − p_l) j_{l−1}     (start: centre of output 0's field)

so output pixel i of layer l reads input pixels c_l + i j_l ± (r_l − 1)/2 and nothing else
(coordinates may fall in the padding, outside [0, n)). Through a graph a value's field is the
union over its inputs' paths: the inputs of an ``Add`` or ``Concat`` share the jump, and the
union of two centred intervals is again one. A layer that mixes every position (adaptive or
global pooling, ``Flatten``, ``Linear``, a norm whose statistics run over space) makes every
later output depend on the whole input: its field is the union of all its input's fields
and its jump is 0 (every output pixel has the same field).

This is the theorem behind exact tiling (:mod:`cnnmath.tiled`); the tests check it against
the support of the gradient of one output pixel, the empirical field.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, overload

from . import nn
from ._checks import positive_int

__all__ = [
    "AxisWindow",
    "Field",
    "Geometry",
    "ReceptiveFields",
    "layer_geometry",
    "receptive_field",
]


class AxisWindow(NamedTuple):
    """One axis of a sliding-window layer: kernel f, stride s, padding before/after, dilation
    d, and PyTorch's ``ceil_mode`` for pooling."""

    kernel: int
    stride: int
    pad_before: int
    pad_after: int
    dilation: int = 1
    ceil_mode: bool = False

    def output_size(self, n: int) -> int:
        """floor((n + p_b + p_a − d(f−1) − 1)/s) + 1, or with ``ceil_mode`` the ceiling, less
        one when the last window would start past the input and its leading padding."""
        span = n + self.pad_before + self.pad_after - self.dilation * (self.kernel - 1) - 1
        if not self.ceil_mode:
            return span // self.stride + 1 if span >= 0 else 0
        # a window longer than the padded input still gives one output when it starts
        # inside it and overhangs by less than a stride (as the pooling ops count)
        out = max(0, -(-span // self.stride) + 1)
        if out and (out - 1) * self.stride >= n + self.pad_before:
            out -= 1
        return out


class Geometry(NamedTuple):
    """How a layer reads space: ``kind`` is "window" (``axes`` holds the two AxisWindows),
    "pointwise" (each output pixel reads the same pixel of every input) or "global" (each
    output reads every pixel: ``reason`` says why)."""

    kind: str
    axes: tuple[AxisWindow, AxisWindow] | None = None
    reason: str = ""


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


_POINTWISE = {
    "Identity",
    "Dropout",
    "Dropout2d",
    "StochasticDepth",
    "AlphaDropout",  # in eval mode (training: _refuse_random_mask)
    "FeatureAlphaDropout",
    "RReLU",
    "Add",
    "Concat",
    "Mul",
    "BatchNorm1d",
    "BatchNorm2d",
    "InstanceNorm2d",  # in eval mode with running statistics (else global, below)
    "PReLU",
    "LocalResponseNorm",  # mixes channels, pixel by pixel
    "ChannelShuffle",  # permutes channels, pixel by pixel
    "Softmax2d",  # over each pixel's channels
    "Threshold",
    "Hardshrink",
    "Softshrink",
    "Tanhshrink",
    "LayerNorm2d",  # normalises each pixel's channels
    "LayerScale",  # ConvNeXt's γ ⊙ x, one γ per channel
}
#: What may run on a channels-last value (N, H, W, C) between ConvNeXt's two Permutes: the
#: layers that act on each pixel's channels alone (LayerNorm and Linear over the last axis).
_CHANNELS_LAST = {
    "LayerNorm",
    "RMSNorm",
    "Linear",
    "Identity",
    "Dropout",
    "StochasticDepth",
    "Add",
    "Mul",
}
_TO_LAST, _TO_FIRST = (0, 2, 3, 1), (0, 3, 1, 2)
_GLOBAL = {
    "Flatten": "Flatten merges the spatial axes",
    "Linear": "Linear mixes every feature",
    "AdaptiveAvgPool2d": "adaptive pooling's windows depend on the image size",
    "AdaptiveMaxPool2d": "adaptive pooling's windows depend on the image size",
    "GroupNorm": "group_norm's statistics run over the whole image",
    "LayerNorm": "layer_norm's statistics run over the whole image",
    "RMSNorm": "rms_norm's statistics run over the whole image",
    "Softmax": "softmax normalises over a whole axis",
    "LogSoftmax": "log_softmax normalises over a whole axis",
}


#: The 1-D layers: they run on signals (N, C, L), which have no receptive field here.
SIGNAL_LAYERS = (
    nn.Conv1d,
    nn.ConvTranspose1d,
    nn.MaxPool1d,
    nn.AvgPool1d,
    nn.LPPool1d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveMaxPool1d,
    nn.MaxUnpool1d,
    nn.Pad1d,
    nn.Dropout1d,
    nn.InstanceNorm1d,
)

#: The 3-D layers: they run on volumes (N, C, D, H, W), whose receptive fields have a depth
#: this module does not track.
VOLUME_LAYERS = (
    nn.Conv3d,
    nn.ConvTranspose3d,
    nn.MaxPool3d,
    nn.AvgPool3d,
    nn.LPPool3d,
    nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool3d,
    nn.MaxUnpool3d,
    nn.BatchNorm3d,
    nn.Dropout3d,
    nn.InstanceNorm3d,
    nn.Pad3d,
)


def layer_geometry(module: Any) -> Geometry:
    """The spatial geometry of one leaf layer (a node of ``Module.walk``).

    Layers with ``kernel_size`` (convolutions, max/avg pooling) are windows, read from their
    ``kernel_size``, ``stride``, ``padding`` (int, pair, "valid", "same"), ``dilation`` and
    ``ceil_mode``; a padding layer (``ZeroPad2d``, ``ReflectionPad2d``, …) is a 1×1 window
    with its border. A border of the image's own pixels (those layers, or a ``Conv2d``'s
    ``padding_mode``) counts as padding, as zeros do: the field of a pixel near the edge
    reaches past the image, where the reflected or repeated pixels stand.
    ``PixelUnshuffle(r)`` is an r×r window of stride r (each output pixel, over its r²
    channels, holds one block of input pixels); activations (``PReLU`` too), ``Identity``,
    ``Add``, ``Concat``, ``LocalResponseNorm``, ``Narrow`` along the channels (dim 1 or
    −3: ShuffleNetV2's split; along another axis it is refused) and ``Softmax``/
    ``LogSoftmax`` over the channels (they mix channels, pixel by pixel; over another axis
    they are global) and, in
    eval mode, ``Dropout`` and ``BatchNorm1d``/``BatchNorm2d`` (``InstanceNorm2d`` with
    running statistics) are pointwise; ``Flatten``, ``Linear``, adaptive pooling and
    group/layer/instance norm are global (adaptive pooling's windows depend on the image
    size: ``receptive_field`` works them out from the sizes it is given). Layers that upsample
    (``ConvTranspose2d``, ``PixelShuffle``, ``Upsample``, ``ResizeLike``) are refused. In
    training mode ``Dropout`` draws a fresh mask (not a function of the pixels) and
    ``BatchNorm2d`` normalises by the batch's statistics over the whole image: the first is
    refused, the second is global. So is a ``BatchNorm2d`` built with
    ``track_running_stats=False`` in any mode: it keeps no running statistics, so it
    normalises by the batch's in eval mode too. ``LayerNorm2d`` and
    ConvNeXt's ``LayerScale`` act on each pixel's channels: pointwise. A layer may state its
    window itself, ``spatial_window()`` -> (per axis (kernel, stride, pad before, pad after,
    dilation, ceil_mode), "") or (None, why not), as ONNX's Conv and pools with pads that
    differ at the two ends do, or that it is pointwise, ``pointwise_on(channels_last)``, as
    ONNX's elementwise ops with constants the same at every pixel do (``cnnmath.onnx``'s
    ops; a layer with ``permutation()`` is a Permute). (``Permute`` and the
    layers on a channels-last value between two of them are handled by ``receptive_field``,
    which tracks the layout.)

    >>> layer_geometry(nn.Conv2d(1, 1, 3, stride=2, padding=1)).axes[0]
    AxisWindow(kernel=3, stride=2, pad_before=1, pad_after=1, dilation=1, ceil_mode=False)
    """
    name = type(module).__name__
    if isinstance(module, SIGNAL_LAYERS):
        raise ValueError(
            f"receptive_field: model: {name} works on signals (N, C, L); receptive fields are "
            "computed for networks of images (N, C, H, W)"
        )
    if isinstance(module, VOLUME_LAYERS):
        raise ValueError(
            f"receptive_field: model: {name} works on volumes (N, C, D, H, W); receptive "
            "fields are computed for networks of images (N, C, H, W)"
        )
    if name in ("Unfold", "Fold"):
        raise ValueError(
            f"receptive_field: model: {name} turns images into columns of windows (or back), "
            "not an image into an image; receptive fields are not defined through it"
        )
    if name in ("ConvTranspose2d", "MaxUnpool2d", "PixelShuffle", "Upsample", "ResizeLike"):
        raise ValueError(
            f"receptive_field: model: {name} upsamples (a fractional jump), which is not "
            "supported yet"
        )
    if name == "PixelUnshuffle":  # output (h, w), over its r² channels, reads one r×r block
        r = int(module.downscale_factor)
        return Geometry("window", (AxisWindow(r, r, 0, 0), AxisWindow(r, r, 0, 0)))
    window = getattr(module, "spatial_window", None)
    if callable(window):  # a layer that states its window (ONNX's Conv with pads apart)
        found, why = window()
        if found is None:
            raise ValueError(f"receptive_field: model: {name} {why}")
        rows, columns = found
        return Geometry("window", (AxisWindow(*rows), AxisWindow(*columns)))
    if hasattr(module, "kernel_size"):
        kernel = _pair(module.kernel_size)
        stride = _pair(getattr(module, "stride", None) or kernel)
        dilation = _pair(getattr(module, "dilation", 1))
        padding = getattr(module, "padding", 0)
        if isinstance(padding, str):
            if padding == "valid":
                pads = [(0, 0), (0, 0)]
            else:  # "same" (stride 1): d(f−1) in total, the odd one after, as PyTorch
                pads = [
                    (d * (f - 1) // 2, d * (f - 1) - d * (f - 1) // 2)
                    for f, d in zip(kernel, dilation)
                ]
        else:
            pads = [(p, p) for p in _pair(padding)]
        ceil_mode = bool(getattr(module, "ceil_mode", False))
        axes = tuple(
            AxisWindow(f, s, pb, pa, d, ceil_mode)
            for f, s, (pb, pa), d in zip(kernel, stride, pads, dilation)
        )
        return Geometry("window", (axes[0], axes[1]))
    if isinstance(module, nn.Pad2d):  # a 1×1 window with the layer's border
        left, right, top, bottom = module.padding
        if min(module.padding) < 0:
            raise ValueError(
                f"receptive_field: model: {name} crops (a negative padding, "
                f"{module.padding}), which is not supported"
            )
        return Geometry(
            "window",
            (AxisWindow(1, 1, top, bottom, 1, False), AxisWindow(1, 1, left, right, 1, False)),
        )
    if name in ("Softmax", "LogSoftmax", "Softmin") and getattr(module, "dim", None) in (
        None,
        1,
        -3,
    ):
        return Geometry("pointwise")  # over each pixel's channels (None: 1, for an image batch)
    if name == "Narrow":  # keeps some channels (features) of every pixel, or cuts a plane
        if module.dim in (1, -3):
            return Geometry("pointwise")
        raise ValueError(
            f"receptive_field: model: Narrow(dim={module.dim}) cuts along the batch or a "
            "spatial axis, so its pixels do not line up with its input's; only a Narrow "
            "along the channels (dim 1, as ShuffleNetV2's split) is supported"
        )
    if name in _GLOBAL:
        return Geometry("global", reason=_GLOBAL[name])
    _refuse_random_mask(module)
    if name.startswith("BatchNorm") and (
        getattr(module, "training", False) or getattr(module, "running_mean", 0) is None
    ):
        return Geometry(
            "global",
            reason="batch_norm in training mode, or without running statistics, uses the "
            "batch statistics",
        )
    if name == "InstanceNorm2d" and (
        getattr(module, "training", False) or getattr(module, "running_mean", 0) is None
    ):
        return Geometry(
            "global", reason="instance norm normalises each image by its own statistics"
        )
    if name in _POINTWISE or name in {cls.__name__ for cls in nn.ACTIVATION_LAYERS.values()}:
        return Geometry("pointwise")
    if _states_pointwise(module, False):  # an elementwise op of cnnmath.onnx
        return Geometry("pointwise")
    raise ValueError(
        f"receptive_field: model: expected layers whose spatial geometry is known (convolution, "
        f"pooling, activations, Add, Concat, …), got {name}; its receptive field is unknown"
    )


class NodeRef(NamedTuple):
    """A node as :meth:`Module.walk` yields it."""

    name: str
    module: Any
    inputs: tuple[str, ...]
    output: str
    extra_outputs: tuple[str, ...] = ()  # MaxPool2d(return_indices=True)'s indices


def model_nodes(model: Any) -> list[NodeRef]:
    """The leaf nodes of ``model`` in topological order (``Module.walk``), and the name of
    its input value is the first node's first input."""
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"receptive_field: model: expected a cnnmath.nn.Module, got {type(model).__name__}"
        )
    outputs = model.outputs if isinstance(model, nn.Graph) else ()
    if len(outputs) > 1:
        raise ValueError(
            f"receptive_field: model: expected one output, got {len(outputs)} {outputs} (in "
            "evaluation mode, a training-only head is not an output)"
        )
    nodes = [
        NodeRef(n.name, n.module, tuple(n.inputs), n.output, n.extra_outputs) for n in model.walk()
    ]
    if not nodes:
        raise ValueError("receptive_field: model: expected at least one layer, got none")
    for node in nodes:
        if getattr(node.module, "hand_written", False):
            raise ValueError(
                f"receptive_field: model: node {node.name!r} ({type(node.module).__name__}) is "
                "a hand-written module whose inside cannot be walked"
            )
    return nodes


def output_value(nodes: list[NodeRef]) -> str:
    """The model's output: the value of the last node that no later node reads."""
    read = {v for node in nodes for v in node.inputs}
    for node in reversed(nodes):
        if node.output not in read:
            return node.output
    return nodes[-1].output


@dataclass(frozen=True)
class Field:
    """The receptive field of one value (a node's output), per axis (height, width):

    ``size`` r, ``jump`` j and ``start`` c — output pixel i's field is the input interval
    c + i·j ± (r − 1)/2 (a half-integer c for even fields); ``whole`` when every output
    pixel reads the whole input (then j = 0). ``shape`` is the value's (C, H, W), or (F,)
    after a ``Flatten``.
    """

    name: str
    layer: str
    shape: tuple[int, ...]
    size: tuple[int, int]
    jump: tuple[int, int]
    start: tuple[float, float]
    whole: bool = False

    def interval(self, index: int, axis: int) -> tuple[int, int]:
        """The first and last input coordinates (inclusive) of output pixel ``index``'s
        field along ``axis`` (0: height, 1: width); may reach into the padding."""
        centre = self.start[axis] + index * self.jump[axis]
        half = (self.size[axis] - 1) / 2
        return int(centre - half), int(centre + half)


def _fmt_start(c: float) -> str:
    return str(int(c)) if float(c).is_integer() else f"{c:g}"


class ReceptiveFields(Sequence[Field]):
    """The fields of a model's values in walk order, the input first; index by position or
    by node name. ``print`` (or the REPL) shows them as a table."""

    def __init__(self, fields: list[Field]) -> None:
        self._fields = list(fields)

    @overload
    def __getitem__(self, key: int | str) -> Field: ...
    @overload
    def __getitem__(self, key: slice) -> Sequence[Field]: ...
    def __getitem__(self, key: int | str | slice) -> Field | Sequence[Field]:
        if isinstance(key, str):
            for field in self._fields:
                if field.name == key:
                    return field
            raise KeyError(f"receptive_field: no node named {key!r}")
        return self._fields[key]

    def __len__(self) -> int:
        return len(self._fields)

    def __iter__(self) -> Iterator[Field]:
        return iter(self._fields)

    @property
    def output(self) -> Field:
        """The field of the model's output (the last row)."""
        return self._fields[-1]

    def __str__(self) -> str:
        head = ("node", "layer", "output shape", "size", "jump", "start")
        rows = [head]
        for f in self._fields:
            size = f"{f.size[0]}×{f.size[1]}" + (" (whole)" if f.whole else "")
            rows.append(
                (
                    f.name,
                    f.layer,
                    "×".join(map(str, f.shape)),
                    size,
                    f"{f.jump[0]}×{f.jump[1]}",
                    f"{_fmt_start(f.start[0])}, {_fmt_start(f.start[1])}",
                )
            )
        widths = [max(len(r[k]) for r in rows) for k in range(len(head))]
        return "\n".join(
            "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows
        )

    __repr__ = __str__


class _AxisField(NamedTuple):
    r: int
    j: int
    c: float
    n: int  # the value's length along the axis (0 once the axis is flattened away)


def _through_window(f: _AxisField, w: AxisWindow, node: str) -> _AxisField:
    n_out = w.output_size(f.n)
    if n_out < 1:
        raise ValueError(
            f"receptive_field: input_shape: node {node!r}: the window (kernel {w.kernel}, "
            f"dilation {w.dilation}) outgrows its input of size {f.n} padded by "
            f"{w.pad_before}+{w.pad_after}; give a larger input"
        )
    span = w.dilation * (w.kernel - 1)
    return _AxisField(
        r=f.r + span * f.j,
        j=f.j * w.stride,
        c=f.c + (span / 2 - w.pad_before) * f.j,
        n=n_out,
    )


def _whole(f: _AxisField, n_out: int) -> _AxisField:
    """Every output reads every input position: the union of all n input fields."""
    extent = (max(f.n, 1) - 1) * f.j
    return _AxisField(r=f.r + extent, j=0, c=f.c + extent / 2, n=n_out)


def _through_adaptive(f: _AxisField, k: int, node: NodeRef, func: str) -> _AxisField:
    """One axis of adaptive pooling of n = f.n positions to k outputs. PyTorch's window of
    output i is ⌊i·n/k⌋ … ⌈(i+1)·n/k⌉ − 1. Where every window has one length L and they
    start at one step s (k divides n: L = s = n/k; n ≡ 1 mod k, as 7 → 6 or 7 → 3: L = s + 1)
    that is the window of kernel L and stride s; for k = 1 the whole axis; other sizes (5 → 3:
    windows of 2, 3 and 2) differ, and no one field describes them."""
    n = f.n
    if k == 1:
        return _whole(f, 1)
    starts = [i * n // k for i in range(k)]
    lengths = {-(-(i + 1) * n // k) - start for i, start in enumerate(starts)}
    steps = {b - a for a, b in zip(starts, starts[1:])}
    if len(lengths) == 1 and len(steps) == 1:
        return _through_window(f, AxisWindow(lengths.pop(), steps.pop(), 0, 0), node.name)
    raise ValueError(
        f"{func}: input_shape: node {node.name!r} ({type(node.module).__name__}) pools "
        f"{n} positions into {k}: its windows ⌊i·{n}/{k}⌋ … ⌈(i+1)·{n}/{k}⌉ − 1 are "
        f"{sorted(lengths)} long at steps {sorted(steps)}, so no one (size, jump, start) "
        f"describes them; give an input size that makes the pooled map a multiple of {k} "
        "along that axis"
    )


def _union(fields: list[_AxisField], node: str) -> _AxisField:
    """The field of a pointwise node of several inputs: the union over the inputs' paths."""
    if len({f.n for f in fields}) > 1 and all(f.j for f in fields):
        raise ValueError(
            f"receptive_field: model: node {node!r} joins inputs of different sizes "
            f"{[f.n for f in fields]}"
        )
    if any(f.j == 0 for f in fields):
        fields = [_whole(f, fields[0].n) if f.j else f for f in fields]
    elif len({f.j for f in fields}) > 1:
        raise ValueError(
            f"receptive_field: model: node {node!r} joins inputs of different jumps "
            f"{[f.j for f in fields]}; their fields are not one interval per pixel"
        )
    lo = min(f.c - (f.r - 1) / 2 for f in fields)
    hi = max(f.c + (f.r - 1) / 2 for f in fields)
    return _AxisField(r=int(hi - lo) + 1, j=fields[0].j, c=(lo + hi) / 2, n=fields[0].n)


def _check_concat_axis(node: Any, shape: tuple[int, ...], func: str) -> None:
    """A Concat is pointwise only along axis 1 of its batched inputs — channels of
    (B, C, H, W), features of (B, F) — where every pixel stays in place; along the batch
    or a spatial axis it is refused."""
    module = node.module
    if type(module).__name__ != "Concat":
        return
    rank = len(shape) + 1  # with the batch axis
    dim = int(getattr(module, "dim", 1))
    if -rank <= dim < rank and dim % rank == 1:
        return
    raise ValueError(
        f"{func}: model: node {node.name!r} (Concat(dim={dim})) joins inputs of shape "
        f"(B, {', '.join(map(str, shape))}) along the batch or a spatial axis, so its pixels "
        "do not line up with its inputs'; only a Concat along channels (dim 1) is supported"
    )


def _check_blocks(node: Any, hw: list[int], func: str) -> None:
    """A PixelUnshuffle(r) runs only on heights and widths divisible by r (its windows tile
    the image exactly); any other size is refused, as the layer refuses it."""
    module = node.module
    if type(module).__name__ != "PixelUnshuffle":
        return
    r = int(module.downscale_factor)
    if hw[0] % r or hw[1] % r:
        raise ValueError(
            f"{func}: input_shape: node {node.name!r} (PixelUnshuffle(downscale_factor={r})) "
            f"expected a height and width divisible by {r}, got {hw[0]}×{hw[1]}"
        )


def _channels(module: Any, inputs: list[tuple[int, ...]]) -> int:
    """The output's channels: ``out_channels``, or a module's own ``output_channels(C)``
    (a layer that adds channels without a fixed count, as ResNet-20's ShortcutA), else the
    input's."""
    if callable(getattr(module, "output_channels", None)):
        return int(module.output_channels(max(s[0] for s in inputs if len(s) == 3)))
    if hasattr(module, "out_channels"):
        return int(module.out_channels)
    return max(s[0] for s in inputs if len(s) == 3)  # (broadcast: one channel against C)


def _output_shape(
    module: Any, geometry: Geometry, shapes: list[tuple[int, ...]], hw: tuple[int, int]
) -> tuple[int, ...]:
    name = type(module).__name__
    if name == "Flatten":
        return (math.prod(shapes[0]),)
    if name == "Linear":
        return (int(module.out_features),)
    if name.startswith("Adaptive"):  # a None in output_size keeps that axis's input size
        size = module.output_size
        sizes = size if isinstance(size, tuple) else (size, size)
        return (shapes[0][0], *(n if s is None else int(s) for s, n in zip(sizes, shapes[0][1:])))
    if name == "Concat":  # along axis 1 (_check_concat_axis): channels, or features
        return (sum(s[0] for s in shapes), *shapes[0][1:])
    if name == "Narrow":  # along axis 1 (layer_geometry): channels, or features
        return (int(module.length), *shapes[0][1:])
    if len(shapes[0]) != 3:
        return shapes[0]
    return (_channels(module, shapes), *hw)


def receptive_field(model: nn.Module, input_shape: Sequence[int]) -> ReceptiveFields:
    """The receptive field (size, jump, start per axis) of every node of ``model``.

    ``input_shape`` is (C, H, W) or (B, C, H, W); the sizes are needed for the output shapes
    and for the whole-input fields of global layers. Per axis, from j = r = 1, c = 0 at the
    input, a window layer (kernel f, stride s, padding p before, dilation d) maps

        j ← j·s,   r ← r + d(f − 1)·j,   c ← c + (d(f − 1)/2 − p)·j

    (with the old j on the right), a pointwise layer keeps (r, j, c), a node of several
    inputs takes the union of their fields, and a global layer gives every output the union
    of all its input's fields, r ← r + (n − 1)·j, c ← c + (n − 1)·j/2, j ← 0. Adaptive
    pooling of n positions to k per axis is PyTorch's windows: one kernel and stride where
    its windows have one length and one step (k divides n, or n ≡ 1 mod k), the whole axis
    for k = 1, refused otherwise (the message says which input sizes fit). A ``Permute``
    to channels-last (dims [0, 2, 3, 1]) and back, with only per-pixel layers between
    (LayerNorm over the channels, Linear, activations: ConvNeXt's blocks), is pointwise; the
    table shows those values' shapes as (H, W, C).

    Returns a :class:`ReceptiveFields` — the input's row first, then one per node in walk
    order — that prints as a table.

    >>> from cnnmath import nn
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    ...                     nn.Conv2d(4, 4, 3, stride=2, dilation=2))
    >>> print(receptive_field(net, (1, 32, 32)))
    node     layer      output shape  size   jump  start
    (input)  -          1×32×32       1×1    1×1   0, 0
    0        Conv2d     4×32×32       3×3    1×1   0, 0
    1        ReLU       4×32×32       3×3    1×1   0, 0
    2        MaxPool2d  4×16×16       4×4    2×2   0.5, 0.5
    3        Conv2d     4×6×6         12×12  4×4   4.5, 4.5
    """
    func = "receptive_field"
    shape = tuple(input_shape)
    if len(shape) not in (3, 4):
        raise ValueError(
            f"{func}: input_shape: expected (C, H, W) or (B, C, H, W), got {input_shape!r}"
        )
    shape = tuple(positive_int(f"input_shape[{i}]", s, func=func) for i, s in enumerate(shape))[-3:]
    nodes = model_nodes(model)
    start = nodes[0].inputs[0]
    # value → (its shape, its fields per axis, whether whole, whether channels-last)
    values: dict[str, tuple[tuple[int, ...], tuple[_AxisField, _AxisField], bool, bool]] = {
        start: (
            shape,
            (_AxisField(1, 1, 0.0, shape[1]), _AxisField(1, 1, 0.0, shape[2])),
            False,
            False,
        )
    }
    rows = [Field("(input)", "-", shape, (1, 1), (1, 1), (0.0, 0.0))]
    for node in nodes:
        missing = [v for v in node.inputs if v not in values]
        if missing:
            raise ValueError(f"{func}: model: node {node.name!r} reads unknown values {missing}")
        ins = [values[v][:3] for v in node.inputs]
        last = _channels_last(node, [values[v] for v in node.inputs], func)
        if last is not None:  # a Permute, or a per-pixel layer on a channels-last value
            shape, pair, whole = ins[0]
            axes = tuple(_union([v[1][k] for v in ins], node.name) for k in range(2))
            pair = (axes[0], axes[1])
            out_shape = _channels_last_shape(node.module, [v[0] for v in ins], last)
            values[node.output] = (out_shape, pair, any(w for _, _, w in ins), last)
            rows.append(_row(node, out_shape, pair, any(w for _, _, w in ins)))
            continue
        _check_concat_axis(node, ins[0][0], func)
        geometry = layer_geometry(node.module)
        whole = any(w for _, _, w in ins)
        if geometry.kind == "window":
            if len(ins[0][0]) != 3:
                raise ValueError(
                    f"{func}: model: node {node.name!r} ({type(node.module).__name__}) slides "
                    f"a window over a value of shape {ins[0][0]} without spatial axes"
                )
            assert geometry.axes is not None
            _check_blocks(node, [f.n for f in ins[0][1]], func)
            axes = tuple(_through_window(f, w, node.name) for f, w in zip(ins[0][1], geometry.axes))
        elif geometry.kind == "pointwise":
            axes = tuple(_union([v[1][k] for v in ins], node.name) for k in range(2))
        elif isinstance(node.module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            sizes = _output_shape(node.module, geometry, [ins[0][0]], (0, 0))[1:]
            axes = tuple(_through_adaptive(f, k, node, func) for f, k in zip(ins[0][1], sizes))
            whole = whole or all(k == 1 for k in sizes)
        else:
            whole = True
            axes = tuple(_whole(f, f.n) for f in ins[0][1])
        out_shape = _output_shape(
            node.module, geometry, [v[0] for v in ins], (axes[0].n, axes[1].n)
        )
        if len(out_shape) == 3:
            axes = (axes[0]._replace(n=out_shape[1]), axes[1]._replace(n=out_shape[2]))
        else:
            axes = (axes[0]._replace(n=0), axes[1]._replace(n=0))
        pair = (axes[0], axes[1])
        for value in (node.output, *node.extra_outputs):  # the indices: Y's pixels' fields
            values[value] = (out_shape, pair, whole, False)
        rows.append(_row(node, out_shape, pair, whole))
    return ReceptiveFields(rows)


def _row(
    node: NodeRef, shape: tuple[int, ...], pair: tuple[_AxisField, _AxisField], whole: bool
) -> Field:
    return Field(
        node.name,
        type(node.module).__name__,
        shape,
        (pair[0].r, pair[1].r),
        (pair[0].j, pair[1].j),
        (pair[0].c, pair[1].c),
        whole,
    )


#: Layers besides the Dropouts that draw at random in training mode.
_RANDOM_IN_TRAINING = {"StochasticDepth", "AlphaDropout", "FeatureAlphaDropout", "RReLU"}


def _refuse_random_mask(
    module: Any, node: str | None = None, func: str = "receptive_field"
) -> None:
    """A dropout layer, ``StochasticDepth`` or ``RReLU`` in training mode draws a fresh mask
    or slopes (not a function of the pixels: tiles would each draw their own): refused
    (naming ``node``)."""
    name = type(module).__name__
    if (name.startswith("Dropout") or name in _RANDOM_IN_TRAINING) and getattr(
        module, "training", False
    ):
        where = name if node is None else f"node {node!r} ({name})"
        raise ValueError(
            f"{func}: model: {where} in training mode draws a random "
            f"{'slope' if name == 'RReLU' else 'mask'}; call model.eval() first"
        )


def _states_pointwise(module: Any, channels_last: bool) -> bool:
    """Whether a layer says it is pointwise on a value of that layout (``pointwise_on``:
    ``cnnmath.onnx``'s elementwise ops, whose held values must not vary across space)."""
    says = getattr(module, "pointwise_on", None)
    return callable(says) and bool(says(channels_last))


def is_permute(module: Any) -> bool:
    """Whether the layer permutes its input's axes: ``nn.Permute``, or a layer stating its
    ``permutation()`` (``cnnmath.onnx``'s Transpose)."""
    return type(module).__name__ == "Permute" or callable(getattr(module, "permutation", None))


def permutation(module: Any) -> tuple[int, ...] | None:
    """The axes a permuting layer (`is_permute`) moves its input's to; None for "reversed"."""
    if type(module).__name__ == "Permute":
        return tuple(module.dims)
    return module.permutation()


def _channels_last(node: NodeRef, ins: list[Any], func: str) -> bool | None:
    """Whether the node's output is channels-last (N, H, W, C), for a ``Permute`` between the
    two layouts or a layer on a channels-last value; None for any other node (channels
    first). ConvNeXt's blocks permute to channels-last, normalise and mix each pixel's
    channels (LayerNorm, Linear over the last axis: pointwise), and permute back; any other
    Permute, or a layer on a channels-last value that is not per-pixel, is refused."""
    module = node.module
    name = type(module).__name__
    last = any(v[3] for v in ins)
    if is_permute(module):
        dims = permutation(module)
        if len(ins[0][0]) == 3 and dims == (_TO_FIRST if last else _TO_LAST):
            return not last
        shown = "reversed" if dims is None else list(dims)
        raise ValueError(
            f"{func}: model: node {node.name!r} ({name}(dims={shown})) moves a spatial "
            f"axis; only the moves between channels first and channels last "
            f"({list(_TO_LAST)} and back) keep the pixels in place"
        )
    if not last:
        return None
    _refuse_random_mask(module, node.name, func)
    pointwise = (
        name in _CHANNELS_LAST
        or name in {cls.__name__ for cls in nn.ACTIVATION_LAYERS.values()}
        or _states_pointwise(module, True)
    )
    if name in ("LayerNorm", "RMSNorm") and tuple(module.normalized_shape) != ins[0][0][-1:]:
        pointwise = False  # statistics over more than each pixel's channels
    if not pointwise or not all(v[3] for v in ins):
        raise ValueError(
            f"{func}: model: node {node.name!r} ({name}) runs on a channels-last value "
            f"(after a Permute); only layers acting on each pixel's channels (LayerNorm or "
            f"RMSNorm over them, Linear, activations, Add, Mul) are supported there"
        )
    return True


def _channels_last_shape(module: Any, shapes: list[tuple[int, ...]], last: bool) -> tuple[int, ...]:
    """The output shape (without the batch axis) of a node of ``_channels_last``, whose
    inputs have ``shapes`` (a layer of several broadcasts them: one channel against C)."""
    name = type(module).__name__
    shape = shapes[0]
    if len(shapes) > 1 and all(len(s) == len(shape) for s in shapes):
        shape = (*shape[:-1], max(s[-1] for s in shapes))
    if is_permute(module):
        return (shape[1], shape[2], shape[0]) if last else (shape[2], shape[0], shape[1])
    if name == "Linear":
        return (*shape[:-1], int(module.out_features))
    if _states_pointwise(module, True):  # held values may broadcast one channel to C
        return (*shape[:-1], int(module.output_channels(shape[-1], channels_last=True)))
    return shape
