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
                             or wrap (circular: opset ≥ 19); …Pad1d and …Pad3d likewise
                             on the last axis or the last three
    Conv1d, MaxPool1d, …     Conv, MaxPool, AveragePool, Global*Pool with 1-D attributes
    Linear                   Gemm(x, W, b, transB=1) on (B, in); MatMul + Add on more axes
    BatchNorm1d/2d           BatchNormalization (eval: running mean and variance)
    RMSNorm                  RMSNormalization (opset ≥ 23; ε None written as the dtype's)
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
    LPPool1d/2d/3d           LpPool for an even norm_type and no ceil_mode window past x (the
                             only case where ONNX's Σ|x|^p is PyTorch's x^p, scaled by K/D
                             past x); p = inf as Abs, MaxPool; else PyTorch's composition
                             Pow(x, p), AveragePool (no pads), Mul by K, Pow(·, 1/p)
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
                             Gelu and Mish ops from opsets 20 and 18); GLU as two Slices, Sigmoid
                             and Mul
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
    InstanceNorm1d/2d/3d     InstanceNormalization (fixed ones and zeros without affine),
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
                             cast to int64 (Slice, Gather, Cast)
    RoIPool                  MaxRoiPool of X and the boxes (K, 5) as they are
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
    a quantized op of        the node as read, com.microsoft's in their domain (its opset 1
    onnx.load (QLinearConv,  imported); its scales, zero points, 8-bit weights and int32
    QuantizeLinear, QGemm,   biases as initializers of their own dtype; DynamicQuantize-
    QLinearAdd, …)           Linear's y_scale and y_zero_point as Identities of its outputs
    a run-time If of         If, each branch a subgraph of its nodes written as above (both
    onnx.load                branches run on the example's values to learn their shapes)
    a run-time Loop of       Loop, its body a subgraph of its nodes written as above (run
    onnx.load                once, on the initial values, to learn its values' ranks; its
                             carried values' sizes left free); a constant trip count,
                             condition or initial value written as a constant

The batch axis (axis 0 of every input) is symbolic ("batch"); the other sizes are those of
``example_input``, which the model is run on (node by node, in eval mode, the model's modes
restored afterwards) to learn every value's shape. A hand-written module (its own
``forward``/``backward``: its inside cannot be seen) or a layer with no ONNX form is refused
with a message naming the node and its class; the message for a hand-written module says
how to write it as an ``nn.Graph`` subclass wired with ``add`` (docs/porting.md, "A model
class of your own"), which exports. The file is checked with
``onnx.checker.check_model(full_check=True)`` before it is written, and written atomically.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .. import nn
from .._checks import output_file
from .._files import atomic_output
from .._optional import require
from ._emit import _emitter  # the ONNX nodes of each layer class (the table above)
from ._emit._writer import MIN_OPSET, _Writer
from ._emit.pool import _UNPOOLS
from ._ops import _Op
from ._ops.control import _If, _Loop

__all__ = ["MIN_OPSET", "save"]

#: protobuf's limit on one message, hence on an ONNX file without external data.
_MAX_BYTES = 2**31 - 1


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
) -> tuple[dict[str, tuple[int, ...]], dict[str, np.dtype], dict[str, Any]]:
    """Every value's shape, dtype and value: the nodes run one by one (the caller sets eval
    mode)."""
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
        env,
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
        shapes, dtypes, values = _trace(walked, dict(zip(names, inputs)))

    dtype = inputs[0].dtype
    keys = {id(p): key for key, p in model.named_parameters()}
    for key, b in model.named_buffers():
        keys.setdefault(id(b), key)
    writer = _Writer(onnx, opset, dtype, keys)
    writer.shapes, writer.dtypes, writer.values = shapes, dtypes, values
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
    # com.microsoft's quantized ops written as read: the domain's opset 1, which they were
    # read at (load reads that one only)
    opsets += [helper.make_opsetid(d, 1) for d in sorted(_domains(writer.nodes))]
    proto = helper.make_model(
        graph,
        opset_imports=opsets,
        ir_version=helper.find_min_ir_version_for(opsets[:1]),  # (onnx knows its own only)
        producer_name="cnnmath",
        producer_version=_version(),
    )
    control_outputs: set[str] = set()  # a run-time If's or Loop's, and what reads them
    for n in walked:  # (walk order: topological)
        if isinstance(n.module, (_If, _Loop)) or not control_outputs.isdisjoint(n.inputs):
            control_outputs.update((n.output, *n.extra_outputs))
    # the outputs' shapes as ONNX infers them (the batch axis symbolic where it flows through)
    inferred = onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    for declared, known, output in zip(
        proto.graph.output, inferred.graph.output, outputs, strict=True
    ):
        declared.CopyFrom(known)
        if not declared.type.tensor_type.HasField("shape") and output in control_outputs:
            # a run-time If's branches or a Loop's iterations (or computed from one): its
            # sizes may differ per run
            free = helper.make_tensor_type_proto(elem, [None] * len(shapes[output]))
            declared.type.tensor_type.shape.CopyFrom(free.tensor_type.shape)
            continue
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


def _domains(nodes: Sequence[Any]) -> set[str]:
    """The op domains other than ONNX's own of ``nodes`` and of their subgraphs (an If's
    branches, a Loop's body)."""
    found: set[str] = set()
    for node in nodes:
        if node.domain not in ("", "ai.onnx"):
            found.add(node.domain)
        for attribute in node.attribute:
            graphs = [attribute.g] if attribute.HasField("g") else list(attribute.graphs)
            for graph in graphs:
                found |= _domains(graph.node)
    return found


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
