"""ONNX export: a model built from cnnmath's layers written as an ONNX file.

``save(model, path, example_input)`` walks the model (``Module.walk``: every leaf layer or op
in topological order, containers entered) and writes one ONNX node, or a few, per walked
node. Values keep the walk's names (the model's inputs "x", a layer's output its path,
"layer1.0.conv1"); the weights become initializers named by their ``state_dict`` keys
("layer1.0.conv1.weight", "bn1.running_mean"), so a reader maps them back one to one.

What is written is the *evaluation* computation, whatever mode the model is in, as a
deployed network runs: BatchNorm by its running statistics (``BatchNormalization``), Dropout
as the identity. The mapping, layer by layer:

    Conv2d, ConvTranspose2d  Conv, ConvTranspose (explicit pads: "same" is d(f−1) split with
                             the extra zero after, as cnnmath and PyTorch pad); a Conv2d's
                             padding_mode other than zeros as a Pad, then an unpadded Conv
    ZeroPad2d, …Pad2d        Pad, mode constant (with the value), reflect, edge (replicate)
                             or wrap (circular: opset ≥ 19)
    Conv1d, MaxPool1d, …     Conv, MaxPool, AveragePool, Global*Pool with 1-D attributes
    Linear                   Gemm(x, W, b, transB=1) on (B, in); MatMul + Add on more axes
    BatchNorm1d/2d           BatchNormalization (eval: running mean and variance)
    LayerNorm, GroupNorm     LayerNormalization (opset ≥ 17); InstanceNormalization on the
                             (B, G, ·) reshape, then the per-channel affine map; the fixed
                             ones and zeros (that InstanceNormalization's, LayerNorm's
                             without affine) as Constant nodes: load reads them as buffers
    MaxPool2d, AvgPool2d     MaxPool (dilations, ceil_mode), AveragePool (count_include_pad,
                             ceil_mode; divisor_override as a Mul by k1·k2/divisor);
                             return_indices: MaxPool's second output (ONNX's indices over
                             N·C·H·W; a graph output of them as Mod(I, H·W), each plane's,
                             under its own name)
                             (MaxPool1d/3d and the adaptive max poolings' likewise, over
                             L or D·H·W)
    MaxUnpool1d/2d/3d        MaxUnpool, the indices rebased to its output plane where it
                             differs from the pool's input plane; output_size as
                             Concat(Shape(x)[:2], its sizes), a size below the default
                             through the pads (onnxruntime's check: output ≥ the size pads
                             give, each pad < the kernel)
    Adaptive*Pool2d          GlobalAveragePool / GlobalMaxPool for 1×1, else a fixed window
                             when the output size divides the input's (return_indices: a
                             MaxPool of that window, global too, with its Indices)
    loaded LayerNorm-        ReduceMean (Mean); Reciprocal(Sqrt(ReduceMean((X − Mean)²) + ε))
    alization statistics,    (InvStdDev), Cast to the stash type; Dropout's mask as
    Dropout mask             ConstantOfShape(Shape(X)) of True
    activations              Relu, LeakyRelu, PRelu, Sigmoid, Tanh, Elu, Selu, Celu (float32:
                             ONNX's only type for it), Softsign,
                             HardSigmoid, HardSwish, Clip (ReLU6), Softplus (β, threshold kept
                             exactly with Where); GELU, Mish and SiLU as their formulas (the
                             Gelu and Mish ops from opsets 20 and 18)
    Flatten                  Flatten (start_dim=1 to the end) or Reshape with 0/−1 entries
    Dropout(2d), Identity    Identity (StochasticDepth too)
    Softmax, LogSoftmax      Softmax, LogSoftmax (one axis: opset ≥ 13); Softmax2d as Softmax
                             on axis −3, Softmin as Neg then Softmax
    Threshold, Tanhshrink    Where(x ≤ threshold, value, x); x − Tanh(x)
    Hardshrink, Softshrink   Shrink (bias 0, or bias λ)
    Hardtanh, LogSigmoid     Clip; Neg, Softplus, Neg (−softplus(−x), finite far below 0)
    Upsample (nearest)       Resize(mode="nearest", "asymmetric", "floor"): source pixel
                             ⌊i/s⌋, PyTorch's and cnnmath's nearest rule; two Gathers of
                             the layer's own source indices where a Resize of the float32
                             factor (as onnxruntime computes it) would read other pixels
    Upsample (bilinear)      Resize(mode="linear", "half_pixel", or "align_corners" with
                             sizes): PyTorch's coordinates; the scales form for a factor, as
                             the layer's coordinates use 1/s (refused where onnxruntime's
                             float32 output size ⌊s·n⌋ would differ from the layer's)
    Upsample (bicubic)       Resize(mode="cubic", cubic_coeff_a=−0.75, the same coordinates)
    InstanceNorm2d           InstanceNormalization (fixed ones and zeros without affine),
                             BatchNormalization when it tracks running statistics
    LocalResponseNorm        LRN (odd sizes: an even size's ONNX window differs)
    PixelShuffle             DepthToSpace(mode="CRD"), PyTorch's channel order (on other
                             ranks than 4-D: Reshape, Transpose, Reshape)
    PixelUnshuffle           SpaceToDepth(mode="CRD") from opset 28; before 28 (SpaceToDepth
                             then had only the other channel order, "DCR") and on other
                             ranks than 4-D: Reshape, Transpose, Reshape, as PyTorch writes it
    Unfold                   Pad, a Gather of the window rows and one of the window columns,
                             Transpose, Reshape (copies: every value lands as in the layer)
    Fold                     Col2Im (opset ≥ 18)
    ChannelShuffle           Reshape, Transpose, Reshape
    Unflatten                Reshape
    1-D layers               Conv, ConvTranspose, MaxPool, AveragePool, Pad, Identity
                             (Dropout1d), InstanceNormalization on (N, C, L)
    Add, Concat, Mul         Add (Sum for more than two inputs), Concat, Mul (broadcasting)
    Narrow                   Slice along its axis
    Conv3d, MaxPool3d,       Conv, MaxPool, AveragePool with three spatial axes; adaptive
    AvgPool3d, adaptive 3-D  pooling as GlobalAveragePool / GlobalMaxPool or tiling windows;
    pooling, BatchNorm3d     BatchNormalization; a Conv3d's padding_mode other than zeros as
                             a Pad of the three axes, then an unpadded Conv
    ConvTranspose3d          ConvTranspose with three spatial axes
    DeformConv2d             DeformConv (opset ≥ 19; offset_group from the offsets' channels)
    RoIAlign                 RoiAlign (opset ≥ 16) of X, the boxes' columns 1–4 and column 0
                             cast to int64 (Slice, Gather, Cast); RoIPool has no ONNX form
    GridSample               GridSample (opset ≥ 16; "linear", "cubic" from 20; "bilinear",
                             "bicubic" before)
    AffineGrid               AffineGrid (opset ≥ 20) of the fixed size, or of Shape(image)
    ResizeLike               Resize(mode="linear", "half_pixel" or "align_corners") to the
                             sizes Concat(Shape(x)[:−2], Shape(like)[−2:]), read at run time;
                             antialias=True with antialias=1 and exclude_outside=1 (opset ≥
                             18; "half_pixel" only)
    ShortcutA (resnet20)     Slice with step 2, then Pad of the channel axis
    LayerNorm2d, Permute     Transpose, LayerNormalization, Transpose; Transpose
    LayerScale (ConvNeXt)    Mul by the block's layer_scale
    TransformInput           Mul and Add of fixed per-channel constants (GoogLeNet's)
    an op of onnx.load       the node it was read as (op type, attributes, inputs), its
    without a layer          parameters' current values as initializers, at the opset of
    (Reshape, Transpose, …)  the file it came from: a loaded graph, trained here, writes back

The batch axis (axis 0 of every input) is symbolic ("batch"); the other sizes are those of
``example_input``, which the model is run on (node by node, in eval mode, the model's modes
restored afterwards) to learn every value's shape. A hand-written module (its own
``forward``/``backward``: its inside cannot be seen) or a layer with no ONNX form is refused
with a message naming the node and its class. The file is checked with
``onnx.checker.check_model(full_check=True)`` before it is written, and written atomically.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from .. import nn
from .._checks import output_file
from .._files import atomic_output
from .._optional import require
from ..models.convnext import LayerScale
from ..models.googlenet import TransformInput
from ..models.resnet import ShortcutA
from ..ops import activations as _act
from ..ops._geometry import resolve_padding, same_pads
from ._checks import PAD_MODES
from ._ops import _ConstOutput, _Op
from ._ops.norm import _BatchNormTraining, _RunningStatistic
from ._outputs import _DropoutMask, _LayerNormStatistic

__all__ = ["MIN_OPSET", "save"]

#: The oldest opset written (HardSwish arrived in 14; Resize, Slice and Pad take their
#: parameters as inputs from 13 on).
MIN_OPSET = 14

_INT64_MAX = int(np.iinfo(np.int64).max)
#: protobuf's limit on one message, hence on an ONNX file without external data.
_MAX_BYTES = 2**31 - 1


class _Writer:
    """The nodes and initializers of the graph being built, and the names already used."""

    def __init__(self, onnx: Any, opset: int, dtype: np.dtype, keys: dict[int, str]) -> None:
        self.onnx = onnx
        self.opset = opset
        self.dtype = dtype
        self.keys = keys  # id(Parameter or buffer array) -> its state_dict key
        self.nodes: list[Any] = []
        self.initializers: dict[str, Any] = {}
        self._sources: dict[str, int] = {}  # initializer name -> id of the array it holds
        self._fixed: set[str] = set()  # values written by a Constant node (``fixed``)
        # MaxPool2d(return_indices=True)'s indices (cnnmath's, each plane's) -> the file's
        # value of ONNX's flattening over the whole tensor, and the pool's input value
        self.plane_indices: dict[str, tuple[str, str]] = {}
        self.plane_ranks: dict[str, int] = {}  # and the pool's spatial axes (1, 2 or 3)
        self.written_planes: set[str] = set()  # those the file holds as cnnmath's (Mod)
        self.fixed_planes = True  # every input's sizes but the batch fixed: H·W constants
        self.shapes: dict[str, tuple[int, ...]] = {}  # every value's traced shape
        self.dtypes: dict[str, np.dtype] = {}  # and dtype

    def node(self, op: str, inputs: Sequence[str], output: str, name: str, **attrs: Any) -> str:
        """Append ``op(inputs) -> output`` (node name ``name``); returns ``output``."""
        made = self.onnx.helper.make_node(op, list(inputs), [output], name=name, **attrs)
        self.nodes.append(made)
        return output

    def node_as_read(
        self,
        op: str,
        inputs: Sequence[str],
        output: str,
        name: str,
        attributes: Sequence[bytes],
        more: Sequence[str] = (),
    ) -> str:
        """Append ``op(inputs) -> output`` (and the outputs ``more`` after it: MaxPool's
        Indices) with ``attributes`` as they were read (serialized AttributeProtos); returns
        ``output``."""
        made = self.onnx.helper.make_node(op, list(inputs), [output, *more], name=name)
        for raw in attributes:
            attribute = self.onnx.AttributeProto()
            attribute.ParseFromString(raw)
            made.attribute.append(attribute)
        self.nodes.append(made)
        return output

    def plane_size(self, value: str, base: str, rank: int = 2) -> str:
        """H·W of ``value``'s last two axes (the product of its last ``rank``) as an int64
        scalar: a constant when the model's input sizes are fixed (only the batch axis
        varies), else ReduceProd(Slice(Shape(value), −rank, end)) at run time (nodes named
        ``base``/…)."""
        if self.fixed_planes:
            return self.const(f"{base}/plane_size", math.prod(self.shapes[value][-rank:]), np.int64)
        shape = self.node("Shape", [value], f"{base}/shape", f"{base}/shape")
        return self.hw_product(shape, base, rank)

    def hw_product(self, shape: str, base: str, rank: int = 2) -> str:
        """The product of the last two (``rank``) entries of the 1-D int64 value ``shape``
        (a scalar)."""
        start = self.const(f"{base}/start", [-rank], np.int64)
        end = self.const(f"{base}/end", [_INT64_MAX], np.int64)
        hw = self.node("Slice", [shape, start, end], f"{base}/hw", f"{base}/hw")
        return self.node("ReduceProd", [hw], f"{base}/plane_size", f"{base}/prod", keepdims=0)

    def plane_value(self, value: str) -> str:
        """The pool indices ``value`` as cnnmath holds them, each (H, W) plane's index:
        Mod(I, H·W) of the file's whole-tensor Indices, written once, named ``value``."""
        if value not in self.written_planes:
            self.written_planes.add(value)
            whole, pooled = self.plane_indices[value]
            plane = self.plane_size(pooled, f"{value}/input", self.plane_ranks.get(value, 2))
            self.node("Mod", [whole, plane], value, f"{value}/plane")
        return value

    def const(self, name: str, value: Any, dtype: Any = None) -> str:
        """An initializer holding ``value`` (the model's float dtype unless ``dtype``)."""
        array = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        self.initializers[name] = self.onnx.numpy_helper.from_array(array, name)
        return name

    def constant(self, name: str, value: Any) -> str:
        """A Constant node holding ``value`` in the model's float dtype: a fixed value, which
        ``load`` reads back as a buffer (an initializer would come back trainable)."""
        array = np.asarray(value, dtype=self.dtype)
        tensor = self.onnx.numpy_helper.from_array(array, name)
        return self.node("Constant", [], name, name, value=tensor)

    def fixed(self, name: str, array: np.ndarray) -> str:
        """A Constant node holding ``array`` as it is (its own dtype), written once per name:
        a buffer of a loaded op, which ``load`` then reads back as a buffer again (an
        initializer would come back trainable)."""
        if name not in self._fixed:
            self._fixed.add(name)
            tensor = self.onnx.numpy_helper.from_array(np.asarray(array), name)
            self.node("Constant", [], name, name, value=tensor)
        return name

    def state(self, module: nn.Module, attr: str, node: nn.Node) -> str:
        """The initializer of ``module.<attr>`` (a Parameter or a buffer), named by its
        ``state_dict`` key; a module outside the state dict (a wiring op) uses its node's
        path. A tensor shared by several nodes is written once."""
        value = getattr(module, attr)
        array = value.data if isinstance(value, nn.Parameter) else value
        name = self.keys.get(id(value), f"{node.name}.{attr}")
        if self._sources.get(name, id(array)) != id(array):
            raise ValueError(f"save: model: two different tensors would both be named {name!r}")
        if name not in self.initializers:
            self._sources[name] = id(array)
            self.initializers[name] = self.onnx.numpy_helper.from_array(np.asarray(array), name)
        return name


_Emit = Callable[[_Writer, nn.Node, list[tuple[int, ...]], tuple[int, ...]], None]


def _pads(pair: tuple[int, int] | int) -> list[int]:
    """ONNX pads [top, left, bottom, right] of a symmetric (ph, pw) or int padding."""
    ph, pw = (pair, pair) if isinstance(pair, int) else pair
    return [ph, pw, ph, pw]


def _pair(value: int | tuple[int, int]) -> list[int]:
    return [value, value] if isinstance(value, int) else list(value)


#: cnnmath's (PyTorch's) padding modes in ONNX's names; "wrap" arrived in opset 19.
_PAD_MODES = {mode: onnx_mode for onnx_mode, mode in PAD_MODES.items()}


def _pad_node(
    w: _Writer,
    x: str,
    output: str,
    name: str,
    mode: str,
    border: tuple[int, int, int, int],
    rank: int,
    value: float = 0.0,
) -> str:
    """A Pad of the last two axes by PyTorch's (left, right, top, bottom) in ``mode``."""
    if mode == "circular" and w.opset < 19:
        raise ValueError(
            f"save: opset: circular padding (node {name!r}) needs opset 19 or later (Pad's "
            f"mode 'wrap'), got {w.opset}"
        )
    left, right, top, bottom = border
    zeros = [0] * (rank - 2)
    pads = w.const(f"{name}/pads", zeros + [top, left] + zeros + [bottom, right], np.int64)
    inputs = [x, pads]
    if mode == "constant" and value != 0.0:
        inputs.append(w.const(f"{name}/value", value))
    return w.node("Pad", inputs, output, name, mode=_PAD_MODES[mode])


def _pad(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.Pad2d)
    rank = len(shapes[0])
    _pad_node(w, node.inputs[0], node.output, node.name, m.mode, m.padding, rank, m.value)


def _conv(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """Conv2d and Conv1d: a Conv with their explicit pads, or a Pad in their padding_mode
    and then an unpadded Conv."""
    m = node.module
    assert isinstance(m, (nn.Conv2d, nn.Conv1d))
    if isinstance(m, nn.Conv1d):
        (left, right), top, bottom = m.border(), 0, 0
        kernel, strides, dilations = [m.kernel_size], [m.stride], [m.dilation]
    else:
        (top, bottom), (left, right) = resolve_padding(
            m.padding, m.kernel_size, m.dilation, m.stride, func="save"
        )
        kernel, strides, dilations = list(m.kernel_size), list(m.stride), list(m.dilation)
    x = node.inputs[0]
    if m.padding_mode != "zeros":  # the border first, then an unpadded Conv
        border = (left, right, top, bottom)
        pad = f"{node.name}/pad"
        x = _pad_node(w, x, pad, pad, m.padding_mode, border, len(shapes[0]))
        top = bottom = left = right = 0
    inputs = [x, w.state(m, "weight", node)]
    if m.bias is not None:
        inputs.append(w.state(m, "bias", node))
    w.node(
        "Conv",
        inputs,
        node.output,
        node.name,
        kernel_shape=kernel,
        strides=strides,
        pads=[left, right] if isinstance(m, nn.Conv1d) else [top, left, bottom, right],
        dilations=dilations,
        group=m.groups,
    )


def _conv_transpose(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """ConvTranspose1d, 2d and 3d: a ConvTranspose with their geometry (one value per
    spatial axis; both ends of an axis padded alike)."""
    m = node.module
    assert isinstance(m, (nn.ConvTranspose2d, nn.ConvTranspose1d, nn.ConvTranspose3d))
    if isinstance(m, nn.ConvTranspose1d):
        kernel, strides, pads = [m.kernel_size], [m.stride], [m.padding, m.padding]
        output_padding, dilations = [m.output_padding], [m.dilation]
    elif isinstance(m, nn.ConvTranspose3d):
        kernel, strides, pads = list(m.kernel_size), list(m.stride), list(m.padding) * 2
        output_padding, dilations = list(m.output_padding), list(m.dilation)
    else:
        kernel, strides, pads = list(m.kernel_size), list(m.stride), _pads(m.padding)
        output_padding, dilations = list(m.output_padding), list(m.dilation)
    inputs = [node.inputs[0], w.state(m, "weight", node)]
    if m.bias is not None:
        inputs.append(w.state(m, "bias", node))
    w.node(
        "ConvTranspose",
        inputs,
        node.output,
        node.name,
        kernel_shape=kernel,
        strides=strides,
        pads=pads,
        output_padding=output_padding,
        dilations=dilations,
        group=m.groups,
    )


def _linear(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.Linear)
    weight = w.state(m, "weight", node)
    bias = [w.state(m, "bias", node)] if m.bias is not None else []
    if len(shapes[0]) == 2:  # y = x Wᵀ + b, Gemm's own form
        w.node("Gemm", [node.inputs[0], weight, *bias], node.output, node.name, transB=1)
        return
    wt = w.node("Transpose", [weight], f"{node.name}/weight_t", f"{node.name}/transpose")
    if not bias:
        w.node("MatMul", [node.inputs[0], wt], node.output, node.name)
        return
    xw = w.node("MatMul", [node.inputs[0], wt], f"{node.name}/matmul", f"{node.name}/matmul")
    w.node("Add", [xw, bias[0]], node.output, node.name)


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


def _pad1d(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.Pad1d)
    if m.mode == "circular" and w.opset < 19:
        raise ValueError(
            f"save: opset: circular padding (node {node.name!r}) needs opset 19 or later (Pad's "
            f"mode 'wrap'), got {w.opset}"
        )
    zeros = [0] * (len(shapes[0]) - 1)
    pads = w.const(f"{node.name}/pads", [*zeros, m.padding[0], *zeros, m.padding[1]], np.int64)
    inputs = [node.inputs[0], pads]
    if m.mode == "constant" and m.value != 0:
        inputs.append(w.const(f"{node.name}/value", m.value))
    w.node("Pad", inputs, node.output, node.name, mode=_PAD_MODES[m.mode])


def _layer_norm(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.LayerNorm)
    _needs(w, node, "LayerNormalization", 17)
    shape, base = m.normalized_shape, node.name
    if m.weight is not None:
        scale = w.state(m, "weight", node)
    else:
        scale = w.constant(f"{base}/ones", np.ones(shape))
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


def _permute(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.Permute)
    w.node("Transpose", [node.inputs[0]], node.output, node.name, perm=list(m.dims))


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


def _channel_view(w: _Writer, name: str, ndim: int, C: int) -> str:
    """An int64 shape constant (C, 1, …, 1) that lines a per-channel vector up with axis 1."""
    return w.const(name, [C] + [1] * (ndim - 2), np.int64)


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


def _max_pool(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """MaxPool; with ``return_indices`` its two outputs, Y and Indices. ONNX flattens the
    indices over the whole (N, C, H, W) input, (n·C + c)·H·W + p, PyTorch and cnnmath over
    each (H, W) plane, p: the file's Indices value ("<indices>/whole") holds ONNX's, which
    the MaxUnpool nodes written for ``MaxUnpool2d`` read (rebased to their own plane), and
    the indices as cnnmath has them, Mod(I, H·W), are written under their own name where a
    graph output or another node reads them (``_Writer.plane_value``)."""
    m = node.module
    assert isinstance(m, nn.MaxPool2d)
    window = {
        "kernel_shape": _pair(m.kernel_size),
        "strides": _pair(m.stride),
        "pads": _pads(m.padding),
        "dilations": _pair(m.dilation),
        "ceil_mode": int(m.ceil_mode),
    }
    _max_pool_outputs(w, node, window)


def _max_pool_outputs(w: _Writer, node: nn.Node, window: dict[str, Any]) -> None:
    """MaxPool with ``window``'s attributes, and its Indices ("<indices>/whole", ONNX's
    whole-tensor flattening) where the layer returns them (``return_indices`` of any rank,
    an adaptive max pooling's too): registered for ``_Writer.plane_value`` and the
    MaxUnpool nodes, with the pool's number of spatial axes."""
    wholes = [f"{indices}/whole" for indices in node.extra_outputs]
    made = w.onnx.helper.make_node(
        "MaxPool", [node.inputs[0]], [node.output, *wholes], name=node.name, **window
    )
    w.nodes.append(made)
    for indices, whole in zip(node.extra_outputs, wholes):
        w.plane_indices[indices] = (whole, node.inputs[0])
        w.plane_ranks[indices] = len(window["kernel_shape"])


_UNPOOLS = (nn.MaxUnpool1d, nn.MaxUnpool2d, nn.MaxUnpool3d)


def _unpool_pads(node: nn.Node, m: Any, h: tuple, out: tuple) -> list[int]:
    """MaxUnpool's pads [top, left, bottom, right]: the layer's, except where ``output_size``
    is below the default size n_d = (h − 1)·s − 2p + k by d (PyTorch takes any size within
    a stride of it). onnxruntime reads pads only to check that output_shape holds at least
    as many elements as (h − 1)·s − (p_begin + p_end) + k gives, each pad < k: the d rows
    go to the end pad (past k − 1, to the begin pad); refused, naming the node, when pads of
    at most k − 1 cannot pass that check."""
    begin, end, inferred = [], [], []
    r = len(m.kernel_size)
    for n, s, k, p, size in zip(h, m.stride, m.kernel_size, m.padding, out[-r:]):
        total = min(2 * (k - 1), 2 * p + max(0, (n - 1) * s - 2 * p + k - size))
        after = min(k - 1, max(p, total - p))
        begin.append(total - after)
        end.append(after)
        inferred.append((n - 1) * s - total + k)
    if min(inferred) >= 0 and math.prod(inferred) > math.prod(out[-r:]):
        raise ValueError(
            f"save: model: node {node.name!r} ({type(m).__name__}): output_size "
            f"{tuple(out[-r:])} has "
            f"no ONNX form: ONNX's MaxUnpool reaches sizes below the default (kernel "
            f"{m.kernel_size}, stride {m.stride} on input {tuple(h)}) only through pads, each "
            f"smaller than the kernel, and onnxruntime wants at least as many elements as "
            f"those give, {tuple(inferred)}"
        )
    return begin + end


def _unpool_plane(w: _Writer, node: nn.Node, out: tuple, size_hw: str | None) -> str:
    """H·W of the MaxUnpool's output plane as an int64 scalar: a constant where the sizes are
    fixed, else the product of ``size_hw`` (output_size's (H, W)) or of
    (h − 1)·s − 2p + k per axis from X's run-time shape."""
    m = node.module
    assert isinstance(m, _UNPOOLS)
    base, r = node.name, len(m.kernel_size)
    if w.fixed_planes:
        return w.const(f"{base}/plane_size", math.prod(out[-r:]), np.int64)
    if size_hw is None:
        x_shape = w.node("Shape", [node.inputs[0]], f"{base}/x_shape", f"{base}/x_shape")
        start = w.const(f"{base}/x_start", [-r], np.int64)
        stop = w.const(f"{base}/x_end", [_INT64_MAX], np.int64)
        hw = w.node("Slice", [x_shape, start, stop], f"{base}/x_hw", f"{base}/x_hw")
        one = w.const(f"{base}/one", [1] * r, np.int64)
        stride = w.const(f"{base}/stride", list(m.stride), np.int64)
        extra = [k - 2 * p for k, p in zip(m.kernel_size, m.padding)]
        tail = w.const(f"{base}/kernel_less_pads", extra, np.int64)
        less = w.node("Sub", [hw, one], f"{base}/x_hw_less_one", f"{base}/sub")
        times = w.node("Mul", [less, stride], f"{base}/strided", f"{base}/mul_stride")
        size_hw = w.node("Add", [times, tail], f"{base}/out_hw", f"{base}/add_kernel")
    return w.node("ReduceProd", [size_hw], f"{base}/plane_size", f"{base}/prod", keepdims=0)


def _max_unpool(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """MaxUnpool(X, I', output_shape) with the layer's kernel_shape and strides. I is the
    Indices of a MaxPool written for ``MaxPool2d(return_indices=True)`` (ONNX's flattening
    over the pool's input, (n·C + c)·HW_in + p), and MaxUnpool writes Y.flat[I'] over its own
    output, so the index is rebased to the output's plane where the two planes differ:
    I' = (I mod HW_in) + (I div HW_in)·HW_out. output_shape, for a third input, is
    Concat(Shape(X)[:2], its (H, W)): of Shape of a float tensor (whose last two sizes the
    layer takes) or of the integer sizes; ``_unpool_pads`` gives the pads."""
    m = node.module
    assert isinstance(m, _UNPOOLS)
    indices, kind, r = node.inputs[1], type(m).__name__, len(m.kernel_size)
    if w.plane_ranks.get(indices) != r:
        raise ValueError(
            f"save: model: node {node.name!r} ({kind}) reads indices {indices!r} that no "
            f"max pooling of {r} spatial axes (return_indices=True) of the model writes; ONNX's "
            "MaxUnpool reads a MaxPool's Indices (flattened over the whole tensor), which only "
            "those give"
        )
    if any(p >= k for p, k in zip(m.padding, m.kernel_size)):
        raise ValueError(
            f"save: model: node {node.name!r} ({kind}): padding {m.padding} has no ONNX "
            f"form; expected each pad smaller than the kernel {m.kernel_size} (onnxruntime's "
            "MaxUnpool refuses larger pads)"
        )
    whole, pooled = w.plane_indices[indices]
    base = node.name
    size_hw = None  # the output's (H, W) as a 1-D int64 value, when output_size is given
    if len(node.inputs) > 2:
        size = node.inputs[2]
        given = shapes[2]
        if len(given) == 1 and given[0] in (r, r + 2):  # integer (H, W) or (N, C, H, W)
            start = w.const(f"{base}/size_start", [given[0] - r], np.int64)
            stop = w.const(f"{base}/size_end", [given[0]], np.int64)
            size_hw = w.node("Slice", [size, start, stop], f"{base}/size_hw", f"{base}/size_hw")
        elif len(given) >= max(r, 2) and w.dtypes.get(size, np.dtype(np.int64)).kind == "f":
            shape = w.node("Shape", [size], f"{base}/size_shape", f"{base}/size_shape")
            start = w.const(f"{base}/size_start", [-r], np.int64)
            stop = w.const(f"{base}/size_end", [_INT64_MAX], np.int64)
            size_hw = w.node("Slice", [shape, start, stop], f"{base}/size_hw", f"{base}/size_hw")
        else:
            raise ValueError(
                f"save: model: node {node.name!r} ({kind}): output_size {size!r} of shape "
                f"{given} has no ONNX form; expected a float tensor whose shape ends in the "
                f"{r} output sizes or the integer sizes, {r} or {r + 2} of them"
            )
    inputs = [node.inputs[0], whole]
    if w.shapes[pooled][-r:] != tuple(out[-r:]) or not w.fixed_planes:  # rebase the index
        hw_in = w.plane_size(pooled, f"{base}/pool_plane", r)
        hw_out = _unpool_plane(w, node, out, size_hw)
        plane = w.node("Div", [whole, hw_in], f"{base}/index_plane", f"{base}/div")
        at = w.node("Mod", [whole, hw_in], f"{base}/index_in_plane", f"{base}/mod")
        start_of = w.node("Mul", [plane, hw_out], f"{base}/plane_start", f"{base}/mul")
        inputs[1] = w.node("Add", [start_of, at], f"{base}/indices", f"{base}/add")
    pads = list(m.padding) * 2
    if size_hw is not None:
        nc_start = w.const(f"{base}/nc_start", [0], np.int64)
        nc_end = w.const(f"{base}/nc_end", [2], np.int64)
        x_shape = w.node("Shape", [node.inputs[0]], f"{base}/input_shape", f"{base}/input_shape")
        nc = w.node("Slice", [x_shape, nc_start, nc_end], f"{base}/nc", f"{base}/nc")
        inputs.append(
            w.node("Concat", [nc, size_hw], f"{base}/output_shape", f"{base}/output_shape", axis=0)
        )
        pads = _unpool_pads(node, m, shapes[0][-r:], out)
    w.node(
        "MaxUnpool",
        inputs,
        node.output,
        node.name,
        kernel_shape=list(m.kernel_size),
        strides=list(m.stride),
        pads=pads,
    )


def _avg_pool(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.AvgPool2d)
    k1, k2 = _pair(m.kernel_size)
    divisor = m.divisor_override
    if divisor is not None and m.ceil_mode:
        raise ValueError(
            f"save: model: node {node.name!r} (AvgPool2d): divisor_override with ceil_mode has "
            "no ONNX form (AveragePool divides a clipped last window by its own size)"
        )
    attrs = {
        "kernel_shape": [k1, k2],
        "strides": _pair(m.stride),
        "pads": _pads(m.padding),
        "ceil_mode": int(m.ceil_mode),
        # a divisor override replaces the count: the plain k1·k2 mean rescaled below
        "count_include_pad": int(m.count_include_pad or divisor is not None),
    }
    if divisor is None:
        w.node("AveragePool", [node.inputs[0]], node.output, node.name, **attrs)
        return
    mean = w.node(
        "AveragePool", [node.inputs[0]], f"{node.name}/mean", f"{node.name}/pool", **attrs
    )
    factor = w.const(f"{node.name}/rescale", (k1 * k2) / divisor)
    w.node("Mul", [mean, factor], node.output, node.name)


def _adaptive_pool(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d))
    is_max = isinstance(m, nn.AdaptiveMaxPool2d)
    H, W = shapes[0][-2:]
    h, w_out = out[-2:]
    if (h, w_out) == (1, 1) and not m.return_indices:
        op = "GlobalMaxPool" if is_max else "GlobalAveragePool"
        w.node(op, [node.inputs[0]], node.output, node.name)
        return
    if H % h or W % w_out:
        raise ValueError(
            f"save: model: node {node.name!r} ({type(m).__name__}({m.output_size!r})) on a "
            f"{H}×{W} input has cells of unequal sizes, which no ONNX pooling window gives; "
            "export with an input whose size the output size divides"
        )
    window = [H // h, W // w_out]
    if m.return_indices:  # its Indices: a MaxPool's over the tiling windows
        _max_pool_outputs(w, node, {"kernel_shape": window, "strides": window})
        return
    op = "MaxPool" if is_max else "AveragePool"
    w.node(op, [node.inputs[0]], node.output, node.name, kernel_shape=window, strides=window)


def _pool1d(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, (nn.MaxPool1d, nn.AvgPool1d))
    attrs: dict[str, Any] = {
        "kernel_shape": [m.kernel_size],
        "strides": [m.stride],
        "pads": [m.padding, m.padding],
        "ceil_mode": int(m.ceil_mode),
    }
    if isinstance(m, nn.MaxPool1d):
        _max_pool_outputs(w, node, {**attrs, "dilations": [m.dilation]})
        return
    attrs["count_include_pad"] = int(m.count_include_pad)
    w.node("AveragePool", [node.inputs[0]], node.output, node.name, **attrs)


def _triple(v: Any) -> list[int]:
    return list(v) if isinstance(v, tuple) else [int(v)] * 3


def _conv3d(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """Conv3d: a Conv with three spatial axes; "same" as its pads (the odd one after); a
    padding_mode other than zeros as a Pad of those axes, then an unpadded Conv (as Conv2d)."""
    m = node.module
    assert isinstance(m, nn.Conv3d)
    if m.padding == "same":
        pairs: Any = same_pads(m.kernel_size, m.dilation)
    else:
        pairs = [(p, p) for p in ((0, 0, 0) if m.padding == "valid" else m.padding)]
    pads = [before for before, _ in pairs] + [after for _, after in pairs]
    x = node.inputs[0]
    if m.padding_mode != "zeros":  # the border first, then an unpadded Conv
        name = f"{node.name}/pad"
        if m.padding_mode == "circular" and w.opset < 19:
            raise ValueError(
                f"save: opset: circular padding (node {name!r}) needs opset 19 or later (Pad's "
                f"mode 'wrap'), got {w.opset}"
            )
        zeros = [0] * (len(shapes[0]) - 3)  # the batch and channel axes
        widths = w.const(f"{name}/pads", zeros + pads[:3] + zeros + pads[3:], np.int64)
        x = w.node("Pad", [x, widths], name, name, mode=_PAD_MODES[m.padding_mode])
        pads = [0] * 6
    inputs = [x, w.state(m, "weight", node)]
    if m.bias is not None:
        inputs.append(w.state(m, "bias", node))
    w.node(
        "Conv",
        inputs,
        node.output,
        node.name,
        kernel_shape=list(m.kernel_size),
        strides=list(m.stride),
        pads=pads,
        dilations=list(m.dilation),
        group=m.groups,
    )


def _pool3d(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """MaxPool3d / AvgPool3d: MaxPool / AveragePool with three spatial axes (a divisor
    override as the plain mean rescaled, as for AvgPool2d)."""
    m = node.module
    assert isinstance(m, (nn.MaxPool3d, nn.AvgPool3d))
    kernel = _triple(m.kernel_size)
    attrs: dict[str, Any] = {
        "kernel_shape": kernel,
        "strides": _triple(m.stride),
        "pads": _triple(m.padding) * 2,
        "ceil_mode": int(m.ceil_mode),
    }
    if isinstance(m, nn.MaxPool3d):
        attrs["dilations"] = _triple(m.dilation)
        _max_pool_outputs(w, node, attrs)
        return
    divisor = m.divisor_override
    if divisor is not None and m.ceil_mode:
        raise ValueError(
            f"save: model: node {node.name!r} (AvgPool3d): divisor_override with ceil_mode has "
            "no ONNX form (AveragePool divides a clipped last window by its own size)"
        )
    attrs["count_include_pad"] = int(m.count_include_pad or divisor is not None)
    if divisor is None:
        w.node("AveragePool", [node.inputs[0]], node.output, node.name, **attrs)
        return
    mean = w.node(
        "AveragePool", [node.inputs[0]], f"{node.name}/mean", f"{node.name}/pool", **attrs
    )
    factor = w.const(f"{node.name}/rescale", float(np.prod(kernel)) / divisor)
    w.node("Mul", [mean, factor], node.output, node.name)


def _adaptive_pool3d(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """AdaptiveAvgPool3d / AdaptiveMaxPool3d: a global pooling to 1×1×1, else a pooling
    whose windows tile the volume (the output sizes dividing the input's)."""
    m = node.module
    assert isinstance(m, (nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool3d))
    is_max = isinstance(m, nn.AdaptiveMaxPool3d)
    size, cells = shapes[0][-3:], out[-3:]
    if tuple(cells) == (1, 1, 1) and not m.return_indices:
        op = "GlobalMaxPool" if is_max else "GlobalAveragePool"
        w.node(op, [node.inputs[0]], node.output, node.name)
        return
    if any(n % c for n, c in zip(size, cells)):
        raise ValueError(
            f"save: model: node {node.name!r} ({type(m).__name__}({m.output_size!r})) on a "
            f"{'×'.join(map(str, size))} input has cells of unequal sizes, which no ONNX "
            "pooling window gives; export with an input whose size the output size divides"
        )
    window = [n // c for n, c in zip(size, cells)]
    if m.return_indices:  # its Indices: a MaxPool's over the tiling windows
        _max_pool_outputs(w, node, {"kernel_shape": window, "strides": window})
        return
    op = "MaxPool" if is_max else "AveragePool"
    w.node(op, [node.inputs[0]], node.output, node.name, kernel_shape=window, strides=window)


def _adaptive_pool1d(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool1d))
    is_max = isinstance(m, nn.AdaptiveMaxPool1d)
    L, n = shapes[0][-1], out[-1]
    if n == 1 and not m.return_indices:
        w.node(
            "GlobalMaxPool" if is_max else "GlobalAveragePool",
            [node.inputs[0]],
            node.output,
            node.name,
        )
        return
    if L % n:
        raise ValueError(
            f"save: model: node {node.name!r} ({type(m).__name__}({m.output_size})) on a "
            f"signal of length {L} has cells of unequal sizes, which no ONNX pooling window "
            "gives; export with an input whose length the output size divides"
        )
    if m.return_indices:  # its Indices: a MaxPool's over the tiling windows
        _max_pool_outputs(w, node, {"kernel_shape": [L // n], "strides": [L // n]})
        return
    op = "MaxPool" if is_max else "AveragePool"
    w.node(op, [node.inputs[0]], node.output, node.name, kernel_shape=[L // n], strides=[L // n])


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


def _upsample_sources(m: nn.Upsample, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows and columns of an h×w input that Upsample ``m`` copies: it run on the
    pixels' numbers."""
    numbers = m(np.arange(h * w, dtype=np.float64).reshape(1, 1, h, w))[0, 0].astype(np.int64)
    return numbers[:, 0] // w, numbers[0, :] % w


def _resize_sources(scales: Sequence[float] | None, out: Sequence[int], hw: Sequence[int]) -> Any:
    """What Resize (asymmetric, floor) reads along H and W as onnxruntime and ``load``
    compute it (float32): the rows and columns, or None where it copies X unchanged."""
    from ._ops import _nearest_source

    picked = []
    for i, n in enumerate(hw):
        f = np.float32(scales[i]) if scales is not None else np.float32(out[i]) / np.float32(n)
        size = int(f * np.float32(n)) if scales is not None else out[i]
        if size != out[i]:
            return "size differs"
        picked.append(_nearest_source(n, size, float(f), "asymmetric", "floor"))
    return None if tuple(out) == tuple(hw) else picked


def _upsample_interpolated(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """Upsample(mode="bilinear" or "bicubic") as a linear or cubic Resize (a = −0.75, as
    PyTorch's): align_corners's coordinates depend only on the sizes; half_pixel's use the
    factor when the layer has one (1/s, where sizes would give n/out) — so that onnxruntime
    computes the same output size ⌊s·n⌋ is checked."""
    m = node.module
    assert isinstance(m, nn.Upsample)
    attrs: dict[str, Any] = {
        "mode": "linear" if m.mode == "bilinear" else "cubic",
        "coordinate_transformation_mode": "align_corners" if m.align_corners else "half_pixel",
    }
    if m.mode == "bicubic":
        attrs["cubic_coeff_a"] = -0.75
    if m.scale_factor is None or m.align_corners:
        _resize_by_sizes(w, node, out, attrs)
        return
    sh, sw = m.scale_factor if isinstance(m.scale_factor, tuple) else (m.scale_factor,) * 2
    in_hw = tuple(shapes[0][-2:])
    if m.mode == "bilinear":
        # an axis that keeps its length is copied by the layer (as PyTorch), by Resize at scale 1
        sh, sw = (1.0 if n == o else f for f, n, o in zip((sh, sw), in_hw, out[-2:]))
    elif in_hw == tuple(out[-2:]) and (sh, sw) != (1.0, 1.0):
        raise ValueError(
            f"save: model: node {node.name!r} (Upsample): bicubic by scale_factor "
            f"{m.scale_factor!r} keeps the {in_hw[0]}×{in_hw[1]} pixels and resamples them by "
            f"1/s; a Resize to X's own shape copies X (onnxruntime)"
        )
    sizes = [int(np.float32(f) * np.float32(n)) for f, n in zip((sh, sw), in_hw)]
    if sizes != list(out[-2:]):
        raise ValueError(
            f"save: model: node {node.name!r} (Upsample): a Resize by scale_factor "
            f"{m.scale_factor!r} gives {sizes[0]}×{sizes[1]} pixels in float32 (onnxruntime), "
            f"the layer {out[-2]}×{out[-1]}; give the layer size=({out[-2]}, {out[-1]})"
        )
    scales = w.const(f"{node.name}/scales", [1.0, 1.0, sh, sw], np.float32)
    w.node("Resize", [node.inputs[0], "", scales], node.output, node.name, **attrs)


def _upsample(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.Upsample)
    if m.mode != "nearest":
        _upsample_interpolated(w, node, shapes, out)
        return
    base = node.name
    attrs = {
        "mode": "nearest",
        "coordinate_transformation_mode": "asymmetric",
        "nearest_mode": "floor",
    }
    in_hw = tuple(shapes[0][-2:])
    rows, cols = _upsample_sources(m, *in_hw)
    factors = None
    if m.scale_factor is not None:
        factors = m.scale_factor if isinstance(m.scale_factor, tuple) else (m.scale_factor,) * 2
    resize = _resize_sources(factors, out[-2:], in_hw)
    identity = resize is None and np.array_equal(rows, np.arange(in_hw[0]))
    identity = identity and np.array_equal(cols, np.arange(in_hw[1]))
    if isinstance(resize, str) or not (
        identity
        or (
            resize is not None
            and np.array_equal(resize[0], rows)
            and np.array_equal(resize[1], cols)
        )
    ):
        # Resize's float32 coordinates would read other pixels than Upsample's float64
        # ones (a factor such as 0.6 or 49): the same copy as two Gathers of its indices
        source = node.inputs[0]
        for axis, index in ((2, rows), (3, cols)):
            source = w.node(
                "Gather",
                [source, w.const(f"{base}/index{axis}", index, np.int64)],
                node.output if axis == 3 else f"{base}/rows",
                f"{base}/gather{axis}",
                axis=axis,
            )
        return
    if m.scale_factor is not None:
        sh, sw = m.scale_factor if isinstance(m.scale_factor, tuple) else (m.scale_factor,) * 2
        scales = w.const(f"{base}/scales", [1.0, 1.0, sh, sw], np.float32)
        w.node("Resize", [node.inputs[0], "", scales], node.output, base, **attrs)
        return
    _resize_by_sizes(w, node, out, attrs)


def _resize_by_sizes(w: _Writer, node: nn.Node, out: tuple, attrs: dict[str, Any]) -> None:
    """A Resize to the output's (h, w) by its ``sizes`` input: before opset 18 sizes name
    every axis, so (B, C) are read from the input's shape (B is symbolic)."""
    base = node.name
    shape = w.node("Shape", [node.inputs[0]], f"{base}/shape", f"{base}/shape")
    lead = w.node(
        "Slice",
        [
            shape,
            w.const(f"{base}/zero", [0], np.int64),
            w.const(f"{base}/two", [2], np.int64),
        ],
        f"{base}/batch_channels",
        f"{base}/slice",
    )
    hw = w.const(f"{base}/size", list(out[-2:]), np.int64)
    sizes = w.node("Concat", [lead, hw], f"{base}/sizes", f"{base}/sizes", axis=0)
    w.node("Resize", [node.inputs[0], "", "", sizes], node.output, base, **attrs)


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


def _needs(w: _Writer, node: nn.Node, op: str, opset: int) -> None:
    if w.opset < opset:
        raise ValueError(
            f"save: opset: {type(node.module).__name__} (node {node.name!r}) needs opset "
            f"{opset} or later ({op}), got {w.opset}"
        )


def _deform_conv(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """DeformConv2d: a DeformConv (opset ≥ 19) of X, W, the offsets, B and the mask."""
    m = node.module
    assert isinstance(m, nn.DeformConv2d)
    _needs(w, node, "DeformConv", 19)
    x, offset, *mask = node.inputs
    bias = w.state(m, "bias", node) if m.bias is not None else ""
    inputs = [x, w.state(m, "weight", node), offset, bias, *mask]
    (ph, pw), groups = m.padding, m.groups
    offset_group = shapes[1][1] // (2 * m.kernel_size[0] * m.kernel_size[1])
    w.node(
        "DeformConv",
        inputs if mask or m.bias is not None else inputs[:3],
        node.output,
        node.name,
        kernel_shape=list(m.kernel_size),
        strides=list(m.stride),
        pads=[ph, pw, ph, pw],
        dilations=list(m.dilation),
        group=groups,
        offset_group=offset_group,
    )


def _roi_align(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """RoIAlign: RoiAlign (opset ≥ 16, for coordinate_transformation_mode) of X, rois =
    boxes[:, 1:5] and batch_indices = int64(boxes[:, 0]); sampling_ratio ≤ 0 as ONNX's 0."""
    m = node.module
    assert isinstance(m, nn.RoIAlign)
    _needs(w, node, "RoiAlign", 16)
    x, boxes = node.inputs
    b = node.name
    ends = [w.const(f"{b}/{k}", [v], np.int64) for k, v in (("start", 1), ("end", 5), ("axis", 1))]
    rois = w.node("Slice", [boxes, *ends], f"{b}/rois", f"{b}/rois")
    column = w.node(
        "Gather", [boxes, w.const(f"{b}/column", 0, np.int64)], f"{b}/n", f"{b}/n", axis=1
    )
    index = w.node("Cast", [column], f"{b}/batch_indices", f"{b}/cast", to=w.onnx.TensorProto.INT64)
    w.node(
        "RoiAlign",
        [x, rois, index],
        node.output,
        node.name,
        mode="avg",
        output_height=m.output_size[0],
        output_width=m.output_size[1],
        spatial_scale=float(m.spatial_scale),
        sampling_ratio=max(int(m.sampling_ratio), 0),
        coordinate_transformation_mode="half_pixel" if m.aligned else "output_half_pixel",
    )


def _grid_sample(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.GridSample)
    _needs(w, node, "GridSample", 16)
    names = {"bilinear": ("bilinear", "linear"), "bicubic": ("bicubic", "cubic")}  # (< 20, ≥ 20)
    mode = m.mode if m.mode == "nearest" else names[m.mode][w.opset >= 20]
    attrs = {"mode": mode, "padding_mode": m.padding_mode, "align_corners": int(m.align_corners)}
    w.node("GridSample", node.inputs, node.output, node.name, **attrs)


def _affine_grid(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.AffineGrid)
    _needs(w, node, "AffineGrid", 20)
    base = node.name
    if m.size is None:  # the size of the image read: Shape(image), whatever its batch
        size = w.node("Shape", [node.inputs[1]], f"{base}/size", f"{base}/size")
    else:
        size = w.const(f"{base}/size", list(m.size), np.int64)
    attrs = {"align_corners": int(m.align_corners)}
    w.node("AffineGrid", [node.inputs[0], size], node.output, base, **attrs)


def _resize_like(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """ResizeLike as a linear Resize by ``sizes``, x's leading axes and like's last two read
    from their shapes when the model runs (a segmentation model's logits follow the image's
    size, whatever it is)."""
    m = node.module
    assert isinstance(m, nn.ResizeLike)
    if m.antialias:
        _needs(w, node, "Resize's antialias", 18)
        if m.align_corners:
            raise ValueError(
                f"save: model: node {node.name!r} (ResizeLike): antialias with align_corners "
                "centres output i at r·(i + ½), r = (n − 1)/(N − 1) (PyTorch's rule), which no "
                "coordinate_transformation_mode of ONNX's Resize gives"
            )
    base = node.name
    x, like = node.inputs
    x_shape = w.node("Shape", [x], f"{base}/x_shape", f"{base}/x_shape")
    like_shape = w.node("Shape", [like], f"{base}/like_shape", f"{base}/like_shape")
    minus_two = w.const(f"{base}/minus_two", [-2], np.int64)
    lead = w.node(
        "Slice",
        [x_shape, w.const(f"{base}/zero", [0], np.int64), minus_two],
        f"{base}/lead",
        f"{base}/lead",
    )
    hw = w.node(
        "Slice",
        [like_shape, minus_two, w.const(f"{base}/end", [_INT64_MAX], np.int64)],
        f"{base}/hw",
        f"{base}/hw",
    )
    sizes = w.node("Concat", [lead, hw], f"{base}/sizes", f"{base}/sizes", axis=0)
    transform = "align_corners" if m.align_corners else "half_pixel"
    attrs: dict[str, Any] = {"mode": "linear", "coordinate_transformation_mode": transform}
    if m.antialias:
        # ONNX's antialiased weights renormalised over the pixels inside: PyTorch's
        attrs.update(antialias=1, exclude_outside=1)
    w.node("Resize", [x, "", "", sizes], node.output, base, **attrs)


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


# -- activations -------------------------------------------------------------------------


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


_EMITTERS: dict[type, _Emit] = {
    nn.Conv2d: _conv,
    nn.DeformConv2d: _deform_conv,
    nn.Conv1d: _conv,
    nn.MaxPool1d: _pool1d,
    nn.AvgPool1d: _pool1d,
    nn.AdaptiveAvgPool1d: _adaptive_pool1d,
    nn.AdaptiveMaxPool1d: _adaptive_pool1d,
    nn.ConvTranspose2d: _conv_transpose,
    nn.Linear: _linear,
    nn.BatchNorm1d: _batch_norm,
    nn.BatchNorm2d: _batch_norm,
    nn.BatchNorm3d: _batch_norm,
    nn.Conv3d: _conv3d,
    nn.ConvTranspose3d: _conv_transpose,
    nn.MaxPool3d: _pool3d,
    nn.AvgPool3d: _pool3d,
    nn.AdaptiveAvgPool3d: _adaptive_pool3d,
    nn.AdaptiveMaxPool3d: _adaptive_pool3d,
    nn.Dropout3d: _identity,
    nn.LayerNorm: _layer_norm,
    nn.LayerNorm2d: _layer_norm,
    nn.Permute: _permute,
    LayerScale: _layer_scale,
    TransformInput: _transform_input,
    nn.LocalResponseNorm: _local_response_norm,
    nn.InstanceNorm2d: _instance_norm,
    nn.PixelShuffle: _pixel_shuffle,
    nn.PixelUnshuffle: _pixel_unshuffle,
    nn.Unfold: _unfold,
    nn.ChannelShuffle: _channel_shuffle,
    nn.Unflatten: _unflatten,
    nn.Pad1d: _pad1d,
    nn.ConvTranspose1d: _conv_transpose,
    nn.InstanceNorm1d: _instance_norm,
    nn.Softmax2d: _softmax,
    nn.Softmin: _softmin,
    nn.Threshold: _threshold,
    nn.Tanhshrink: _tanhshrink,
    nn.Hardshrink: _shrink,
    nn.Softshrink: _shrink,
    nn.Fold: _fold,
    nn.GroupNorm: _group_norm,
    nn.MaxPool2d: _max_pool,
    nn.MaxUnpool1d: _max_unpool,
    nn.MaxUnpool2d: _max_unpool,
    nn.MaxUnpool3d: _max_unpool,
    nn.AvgPool2d: _avg_pool,
    nn.AdaptiveAvgPool2d: _adaptive_pool,
    nn.AdaptiveMaxPool2d: _adaptive_pool,
    nn.Flatten: _flatten,
    nn.Upsample: _upsample,
    nn.ZeroPad2d: _pad,
    nn.ConstantPad2d: _pad,
    nn.ReflectionPad2d: _pad,
    nn.ReplicationPad2d: _pad,
    nn.CircularPad2d: _pad,
    nn.Pad2d: _pad,
    nn.Add: _add,
    nn.Concat: _concat,
    nn.Mul: _mul,
    nn.Narrow: _narrow,
    nn.GridSample: _grid_sample,
    nn.RoIAlign: _roi_align,
    nn.AffineGrid: _affine_grid,
    nn.ResizeLike: _resize_like,
    nn.Dropout: _identity,  # eval mode
    nn.Dropout2d: _identity,
    nn.StochasticDepth: _identity,
    nn.Softmax: _softmax,
    nn.LogSoftmax: _softmax,
    nn.Hardtanh: _hardtanh,
    nn.LogSigmoid: _logsigmoid,
    nn.Identity: _identity,
    ShortcutA: _shortcut_a,
    nn.ReLU: _simple("Relu"),
    nn.Sigmoid: _simple("Sigmoid"),
    nn.Tanh: _simple("Tanh"),
    nn.Softsign: _simple("Softsign"),
    nn.LeakyReLU: _simple("LeakyRelu", alpha=lambda m: m.negative_slope),
    nn.ELU: _simple("Elu", alpha=lambda m: m.alpha),
    nn.CELU: _celu,
    nn.SELU: _simple("Selu", alpha=_act.SELU_ALPHA, gamma=_act.SELU_SCALE),
    nn.Hardsigmoid: _simple("HardSigmoid", alpha=1.0 / 6.0, beta=0.5),
    nn.Hardswish: _simple("HardSwish"),
    nn.ReLU6: _relu6,
    nn.PReLU: _prelu,
    nn.Softplus: _softplus,
    nn.SiLU: _silu,
    nn.Mish: _mish,
    nn.GELU: _gelu,
}


def _as_read(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """An op of ``cnnmath.onnx.load`` that is one ONNX node on its own inputs, written back as
    that node: its op type and attributes as read, its run-time inputs by their walk names,
    its parameters as initializers named by their ``state_dict`` keys (their current values:
    what training changed is written), its fixed float values (buffers) as Constant nodes so
    that they stay fixed when read again, its other constants as initializers. The
    node's semantics are those of the opset it was read at, so the file must be of that
    opset."""
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
    runtime = iter(node.inputs)
    inputs = []
    for i, (kind, value) in enumerate(m._slots):
        if kind == "input":
            inputs.append(next(runtime))
        elif kind == "none":
            inputs.append("")
        elif kind == "param":
            inputs.append(w.state(m, value, node))
        elif kind == "buffer":  # a fixed float value (a Constant node's): fixed again
            held = getattr(m, value)
            inputs.append(w.fixed(w.keys.get(id(held), f"{node.name}.{value}"), held))
        else:
            role = m.roles[i] if i < len(m.roles) else str(i)
            name = f"{node.name}.{role}"
            w.initializers[name] = w.onnx.numpy_helper.from_array(np.asarray(value), name)
            inputs.append(name)
    while inputs and not inputs[-1]:  # absent trailing inputs are left out
        inputs.pop()
    more: Sequence[str] = node.extra_outputs
    if isinstance(m, _BatchNormTraining):  # ONNX wants all 3 outputs in training mode
        more = (f"{node.name}/running_mean", f"{node.name}/running_var")
    w.node_as_read(m.onnx_op, inputs, node.output, node.name, m.onnx_attributes, more)


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
    """A loaded graph's output known at load time (a static Shape): a Constant node."""
    m = node.module
    assert isinstance(m, _ConstOutput)
    kind, value = m._slots[1]
    array = np.asarray(getattr(m, value) if kind == "buffer" else value)
    tensor = w.onnx.numpy_helper.from_array(array, node.output)
    w.node("Constant", [], node.output, node.name, value=tensor)


def _emitter(node: nn.Node) -> _Emit:
    """The emitter of the node's class: its own, or a layer class's it derives from without
    changing the computation (same ``forward_ctx``); an op of ``cnnmath.onnx.load`` that is
    one ONNX node as read (``_as_read``); otherwise a ValueError naming it."""
    module = node.module
    cls = type(module)
    if isinstance(module, _Op) and module.onnx_attributes is not None:
        return _as_read
    if isinstance(module, _ConstOutput):
        return _const_output
    if isinstance(module, _LayerNormStatistic):
        return _layer_norm_statistic
    if isinstance(module, _DropoutMask):
        return _dropout_mask
    if isinstance(module, _RunningStatistic):
        return _running_statistic
    if module.hand_written:
        raise ValueError(
            f"save: model: node {node.name!r} is a hand-written module ({cls.__name__}, with its "
            "own forward/backward), whose computation ONNX export cannot see; build it from "
            "cnnmath's layers"
        )
    for base in cls.__mro__:
        if base in _EMITTERS:
            if base is cls or cls.forward_ctx is base.forward_ctx:  # type: ignore[attr-defined]
                return _EMITTERS[base]
            break
    supported = ", ".join(sorted(c.__name__ for c in _EMITTERS))
    raise ValueError(
        f"save: model: node {node.name!r} ({cls.__name__}) has no ONNX export; supported "
        f"layers: {supported}"
    )


def _example_inputs(model: nn.Module, example_input: Any) -> tuple[np.ndarray, ...]:
    func = "save"
    names = model.input_names
    given = example_input if isinstance(example_input, (tuple, list)) else (example_input,)
    if len(given) != len(names):
        raise ValueError(
            f"{func}: example_input: expected {len(names)} array(s), one per model input "
            f"{names}, got {len(given)}"
        )
    arrays = []
    for name, x in zip(names, given):
        if not isinstance(x, np.ndarray) or x.dtype not in (np.float32, np.float64):
            what = f"dtype {x.dtype}" if isinstance(x, np.ndarray) else type(x).__name__
            raise TypeError(
                f"{func}: example_input: expected a float32 or float64 numpy.ndarray for input "
                f"{name!r}, got {what}"
            )
        if x.ndim < 2 or x.shape[0] < 1:
            raise ValueError(
                f"{func}: example_input: expected a batch (B, …) with B ≥ 1 for input {name!r} "
                f"(axis 0 becomes the symbolic batch axis; add it with x[None]), got shape "
                f"{x.shape}"
            )
        arrays.append(x)
    dtypes = {x.dtype for x in arrays}
    if len(dtypes) > 1:
        raise TypeError(
            f"{func}: example_input: expected one dtype, got {sorted(map(str, dtypes))}"
        )
    return tuple(arrays)


@contextlib.contextmanager
def _evaluating(model: nn.Module) -> Iterator[None]:
    """The model in eval mode for the block, every module's mode put back after."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode


def _trace(
    nodes: list[nn.Node], inputs: dict[str, np.ndarray]
) -> tuple[dict[str, tuple[int, ...]], dict[str, np.dtype]]:
    """Every value's shape and dtype: the nodes run one by one (the caller sets eval mode)."""
    env = dict(inputs)
    for node in nodes:
        y = node.module.forward_ctx(*(env[v] for v in node.inputs))[0]
        if node.extra_outputs:  # (Y, I) of MaxPool2d(return_indices=True)
            env.update(zip((node.output, *node.extra_outputs), y))
        else:
            env[node.output] = y
    return (
        {name: np.shape(value) for name, value in env.items()},
        {name: np.asarray(value).dtype for name, value in env.items()},
    )


def _needed(nodes: list[nn.Node], outputs: tuple[str, ...]) -> list[nn.Node]:
    """The nodes the outputs depend on, in walk order (a graph's dead branches are dropped)."""
    wanted = set(outputs)
    kept = []
    for node in reversed(nodes):
        if not wanted.isdisjoint((node.output, *node.extra_outputs)):
            kept.append(node)
            wanted.update(node.inputs)
    return kept[::-1]


def save(
    model: nn.Module, path: str | os.PathLike, example_input: Any, opset: int | None = None
) -> None:
    """Write ``model`` (a Sequential, a Graph, a ``cnnmath.models`` network: anything built
    from cnnmath's layers) as the ONNX file ``path``, in its evaluation form.

    Parameters
    ----------
    model : the model; its modes (train/eval) and weights are left as they were.
    path : the .onnx file to write (checked first: its folder must exist and be writable);
        written whole or not at all.
    example_input : a (B, …) float32 or float64 array, or a tuple of them for a Graph of
        several inputs, of the model's dtype: the model runs on it once to learn the shapes.
        Axis 0 is written as the symbolic "batch" axis, the others as given.
    opset : the ONNX opset, ``MIN_OPSET`` (14) to the newest the installed ``onnx`` knows;
        None (the default): 17, or, for a model read by ``cnnmath.onnx.load`` whose ops are
        written back as read, the opset of the file it was read from.

    Each walked node becomes ONNX nodes (see the module docstring's table); weights are
    initializers named by their ``state_dict`` keys; graph inputs are named by the model's
    input names ("x"), the output by its walk name — a Graph of several outputs
    (``set_output(a, b)``) writes them all, in its order, those it returns in eval mode
    (GoogLeNet's training-only auxiliary heads are not written); a lone layer of several
    outputs (``MaxPool2d(return_indices=True)``: Y and "<name>_indices") writes them all.
    Refused with a ValueError naming the node: a hand-written module, a layer with no ONNX
    form, an option ONNX cannot express. Needs the ``onnx`` extra. The model is checked with
    ``onnx.checker.check_model(full_check=True)`` before anything is written. An empty
    Sequential is written as one Identity node.

    onnxruntime runs every float32 file written (its CPU kernels for Conv, the pools and
    several activations are float32 only, so a float64 file is for ``load`` and runtimes
    with double kernels; ONNX stores attributes such as LeakyReLU's slope in float32 either
    way), and cnnmath's own ``cnnmath.onnx.load`` reads every one back into a graph that
    computes the same and trains (its weights parameters again): LayerNorm's
    LayerNormalization as a LayerNorm, GroupNorm's InstanceNormalization as a GroupNorm of
    the (B, G, ·) reshape, Upsample's Resize as an Upsample (factors powers of two) or by
    ONNX's nearest rule, Softplus' Greater and Where as themselves, and the Sum of an Add of
    three or more inputs as an Add.

    >>> import tempfile, onnx
    >>> model = nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.ReLU(), nn.Flatten())
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save(model, folder + "/tiny.onnx", np.zeros((1, 1, 5, 5), np.float32))
    ...     proto = onnx.load(folder + "/tiny.onnx")
    >>> [(n.op_type, n.input, n.output) for n in proto.graph.node]  # doctest: +NORMALIZE_WHITESPACE
    [('Conv', ['x', '0.weight', '0.bias'], ['0']), ('Relu', ['0'], ['1']),
     ('Flatten', ['1'], ['2'])]
    """
    func = "save"
    target = output_file("path", path, func=func)
    onnx = require("onnx", "onnx", "cnnmath.onnx.save")
    require("onnx.numpy_helper", "onnx", "cnnmath.onnx.save")
    require("onnx.shape_inference", "onnx", "cnnmath.onnx.save")
    newest = int(onnx.defs.onnx_opset_version())
    if not isinstance(model, nn.Module):
        raise TypeError(f"{func}: model: expected a cnnmath.nn.Module, got {type(model).__name__}")
    if opset is None:
        opset = _read_opset(model, newest)
    if (
        isinstance(opset, (bool, np.bool_))
        or not isinstance(opset, (int, np.integer))
        or not MIN_OPSET <= opset <= newest
    ):
        raise ValueError(
            f"{func}: opset: expected an int from {MIN_OPSET} to {newest} (the newest the "
            f"installed onnx knows), got {opset!r}"
        )
    opset = int(opset)
    inputs = _example_inputs(model, example_input)
    names = model.input_names
    declared = getattr(model, "onnx_input_dims", None)
    dims = [_input_dims(name, x, declared) for name, x in zip(names, inputs)]  # before running
    _check_read_types(model, names, inputs)
    with _evaluating(model):  # the evaluation form: a training-only head is not written
        walked = list(model.walk())
        emitters = [_emitter(node) for node in walked]  # refuse before any work
        if isinstance(model, nn.Graph):
            outputs = model._require_outputs()
        elif walked:  # a lone layer of several outputs returns them all: (Y, I)
            outputs = (walked[-1].output, *walked[-1].extra_outputs)
        else:  # an empty Sequential is the identity: its output is its input
            outputs = (names[0],)
        shapes, dtypes = _trace(walked, dict(zip(names, inputs)))

    dtype = inputs[0].dtype
    keys = {id(p): key for key, p in model.named_parameters()}
    for key, b in model.named_buffers():
        keys.setdefault(id(b), key)
    writer = _Writer(onnx, opset, dtype, keys)
    writer.shapes, writer.dtypes = shapes, dtypes
    writer.fixed_planes = all(isinstance(d, int) for axes in dims for d in axes[1:])
    kept = {id(node) for node in _needed(walked, outputs)}
    for node, emit in zip(walked, emitters):
        if id(node) in kept:
            for i, value in enumerate(node.inputs):  # pool indices read as cnnmath's
                if value in writer.plane_indices and not (
                    i == 1 and isinstance(node.module, _UNPOOLS)
                ):
                    writer.plane_value(value)
            emit(writer, node, [shapes[v] for v in node.inputs], shapes[node.output])
    written = []
    for i, output in enumerate(outputs):
        if output in names:  # a graph that returns its input: ONNX wants a node to write it
            label = "output" if len(outputs) == 1 else f"output_{i}"
            output = writer.node("Identity", [output], f"{output}/output", label)
        elif output in writer.plane_indices:  # pool indices: each plane's, as cnnmath's
            output = writer.plane_value(output)
        written.append(output)

    helper = onnx.helper
    elem = helper.np_dtype_to_tensor_dtype(dtype)
    graph_inputs = [helper.make_tensor_value_info(name, elem, d) for name, d in zip(names, dims)]
    graph = helper.make_graph(
        writer.nodes,
        type(model).__name__,
        graph_inputs,
        [
            helper.make_tensor_value_info(
                written_name, helper.np_dtype_to_tensor_dtype(dtypes[output]), None
            )
            for written_name, output in zip(written, outputs)
        ],
        initializer=list(writer.initializers.values()),
    )
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(
        graph,
        opset_imports=opsets,
        ir_version=helper.find_min_ir_version_for(opsets),
        producer_name="cnnmath",
        producer_version=_version(),
    )
    # the outputs' shapes as ONNX infers them (the batch axis symbolic where it flows through)
    inferred = onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    for declared, known, output in zip(
        proto.graph.output, inferred.graph.output, outputs, strict=True
    ):
        declared.CopyFrom(known)
        if not declared.type.tensor_type.HasField("shape"):  # (MaxUnpool's output_shape
            # computed at run time): the traced shape, its batch axis symbolic (its other
            # axes too when the model's inputs have symbolic sizes)
            rest = shapes[output][1:] if writer.fixed_planes else [None] * len(shapes[output][1:])
            axes: list[Any] = ["batch", *rest] if shapes[output] else []
            shape = helper.make_tensor_type_proto(elem, axes).tensor_type.shape
            declared.type.tensor_type.shape.CopyFrom(shape)
    size = proto.ByteSize()
    if size > _MAX_BYTES:
        raise ValueError(
            f"{func}: model: the ONNX file would take {size} bytes; protobuf holds at most "
            f"{_MAX_BYTES} in one file (weights in external data files are not written)"
        )
    onnx.checker.check_model(proto, full_check=True)
    data = proto.SerializeToString()
    with atomic_output(target) as handle:
        handle.write(data)


def _input_dims(name: str, x: np.ndarray, declared: Any) -> list[int | str]:
    """The axes an input is declared with: ("batch", the other sizes of x) for a model of
    cnnmath's; for a graph ``cnnmath.onnx.load`` read, the file's own (``onnx_input_dims``:
    a fixed axis stays fixed — its constants may hold it — and must be x's; a symbolic one
    keeps its name)."""
    dims = declared.get(name) if isinstance(declared, dict) else None
    if dims is None:
        return ["batch", *x.shape[1:]]
    if len(dims) != x.ndim:
        raise ValueError(
            f"save: example_input: expected {len(dims)} axes for input {name!r} (as the file "
            f"the model was read from declares it), got shape {x.shape}"
        )
    out: list[int | str] = []
    for axis, (d, n) in enumerate(zip(dims, x.shape)):
        if isinstance(d, int):
            if d != n:
                raise ValueError(
                    f"save: example_input: input {name!r} has a fixed size {d} on axis {axis} "
                    f"in the file the model was read from (its constants may depend on it); "
                    f"expected that size, got shape {x.shape}"
                )
            out.append(d)
        else:
            out.append(d or ("batch" if axis == 0 else f"{name}_{axis}"))
    return out


def _check_read_types(model: nn.Module, names: Sequence[str], inputs: Sequence[np.ndarray]) -> None:
    """A graph ``cnnmath.onnx.load`` read is written in the float type its file declared for
    its inputs: converted with ``.to()``, the ops it writes back as read (a Cast, a
    Resize's float32 scales, a Concat with a constant) would contradict the new type."""
    declared = getattr(model, "onnx_input_types", None)
    if not isinstance(declared, dict) or not any(
        isinstance(m, _Op) and m.onnx_attributes is not None for m in model.modules()
    ):
        return
    for name, x in zip(names, inputs):
        elem = declared.get(name)
        if elem in (1, 11) and x.dtype != (np.float32 if elem == 1 else np.float64):
            raise ValueError(
                f"save: example_input: input {name!r} is {'float32' if elem == 1 else 'float64'} "
                f"in the file the model was read from, whose ops are written back as read; got "
                f"{x.dtype} (a model converted with .to() is saved in the dtype it was read in)"
            )


#: The opset written when neither the caller nor the model says.
DEFAULT_OPSET = 17


def _read_opset(model: nn.Module, newest: int) -> int:
    """The opset of the file the model's as-read ops came from (``cnnmath.onnx.load``), else
    of the file the model was read from where cnnmath writes it, else ``DEFAULT_OPSET``; a
    ValueError when they came from several, or from one older than
    ``MIN_OPSET``."""
    read = {
        m.onnx_node.opset
        for m in model.modules()
        if isinstance(m, _Op) and m.onnx_attributes is not None
    }
    if len(read) > 1:
        raise ValueError(
            f"save: model: holds ONNX ops read at opsets {sorted(read)}, each written as read; "
            "they cannot share one file"
        )
    if not read:  # a graph read from a file keeps its opset where cnnmath can write it
        found = getattr(model, "onnx_opset", None)
        return found if isinstance(found, int) and MIN_OPSET <= found <= newest else DEFAULT_OPSET
    (found,) = read
    if not MIN_OPSET <= found <= newest:
        raise ValueError(
            f"save: model: read from an opset-{found} ONNX file, whose ops are written back as "
            f"read; cnnmath writes opsets {MIN_OPSET} to {newest}: export the model again at "
            f"one of those"
        )
    return found


def _version() -> str:
    from .. import __version__

    return __version__
