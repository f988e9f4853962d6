"""ONNX import: an ONNX model as a :class:`cnnmath.nn.Graph`.

The file is parsed and checked (``_checks``: malformed protobuf, tensor sizes, external data
inside the model's directory, a DAG), then each node, in topological order, becomes a module
of the graph (``_ops``: an ``nn`` layer where one computes the op exactly, else a private op
module). Values known at load time — initializers, Constant nodes, and whatever is computed
from them alone, such as the Shape → Gather → Unsqueeze → Concat → Reshape chains exporters
write before a flatten when the shapes are static — are folded: they become constants of the
nodes that read them, never nodes. Float initializers read as operands are parameters (the
model trains), and so is a reshape of one folded at load time (GroupNorm's γ viewed as
(C, 1, 1)) when the reshape is the initializer's only reader (else a fixed copy, a buffer);
a Constant node's values are buffers (PyTorch's GroupNorm export: InstanceNormalization's
ones and zeros), and so are BatchNormalization's statistics. The graph is returned in
evaluation mode, as ONNX describes inference.
"""

from __future__ import annotations

import os
import re
from collections import Counter, deque
from pathlib import Path
from typing import Any

import numpy as np

from .. import nn
from .._optional import require
from ._checks import FUNC, model_directory, parse_model, tensor_array
from ._ops import (
    CONVERTERS,
    MICROSOFT,
    Attrs,
    Const,
    Node,
    Operand,
    Ref,
    _ConstOutput,
    _OnWeights,
    _Op,
    check_inputs,
    folding,
    refuse,
)
from ._ops import control as _control
from ._ops.quantize import _QUANTIZED

MIN_OPSET = 11
_CONTRIB = {("com.microsoft", op) for op in MICROSOFT}
_INPUT_TYPES = (1, 6, 7, 9, 11)  # FLOAT, INT32, INT64, BOOL, DOUBLE
_QUANTIZATION_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})
_QUANTIZATION_OPS |= {"QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger", "MaxPool"}
_QUANTIZATION_OPS |= set(MICROSOFT)


def _sanitise(name: str, fallback: str) -> str:
    """An identifier for a graph value: runs of characters other than letters, digits and
    '_' become one '_'; no leading '_' or digit."""
    s = re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_")
    s = re.sub(r"_+", "_", s)
    if not s:
        s = fallback
    if s[0].isdigit():
        s = "v" + s
    return s


class _Names:
    """Fresh identifiers for a graph's values: ``fresh(name, fallback, g)`` is ``name``
    sanitised, with "_1", "_2", … appended while it is taken (by an earlier value, or an
    attribute of the graph ``g``). Names and attributes are only ever added while loading,
    so the search for a base name resumes where its last one stopped: linear in the nodes,
    not quadratic, when many share a name."""

    def __init__(self) -> None:
        self.taken: set[str] = set()
        self._resume: dict[str, int] = {}  # base name -> the suffix its search resumes at

    def __call__(self, name: str, fallback: str, g: nn.Graph | None = None) -> str:
        base = _sanitise(name, fallback)
        k = self._resume.get(base, 0)
        candidate = base if k == 0 else f"{base}_{k}"
        while not self._free(candidate, g):
            k += 1
            candidate = f"{base}_{k}"
        self._resume[base] = k
        self.taken.add(candidate)
        return candidate

    def _free(self, candidate: str, g: nn.Graph | None) -> bool:
        """Whether ``candidate`` is neither taken nor an attribute of ``g``."""
        return candidate not in self.taken and (g is None or not hasattr(g, candidate))


def _node_name(name: str, taken: set[str]) -> str:
    """A readable name for a node: exporters name nodes by module scope and op,
    "/layer1/layer1.0/conv1/Conv"; the module's dotted path (``_module_path``:
    "layer1.0.conv1") sanitised to "layer1_0_conv1" names the node, with the op appended
    when that name is taken (a module holding several ops: "layer1_0" for a block's Add,
    then "layer1_0_Relu"). A name without a scope ("/Flatten", "Conv_0") is kept as it is
    (sanitised by the caller)."""
    parts = [p for p in name.split("/") if p]
    if len(parts) < 2:
        return name
    module = _sanitise(_module_path(parts[:-1]), "node")
    return module if module not in taken else f"{module}_{parts[-1]}"


def _module_path(scopes: list[str]) -> str:
    """The dotted path of a module from the scopes of PyTorch's TorchScript exporter, one
    per module entered: each names its module from the last part of its path that is not a
    number ("layer1", then "layer1.0", then "conv1"; a ModuleList's "block.1"; a Sequential
    in a Sequential "seq.0.0" under "seq.0"). A scope that is the one before it followed by
    numbers continues that module's path ("layer1" -> "layer1.0"); any other is a child of
    it ("layer1.0" -> "layer1.0.conv1"). A container no forward calls (a ModuleList, a
    ModuleDict) has no scope: its name is in the path only where a member's scope carries
    it ("block.1"; a ModuleDict's member "heads.cls" is "cls")."""
    path, before = "", ""
    for scope in scopes:
        rest = scope[len(before) + 1 :] if before and scope.startswith(before + ".") else None
        if rest is not None and all(p.isdigit() for p in rest.split(".")):
            path = f"{path}.{rest}"
        else:
            path = f"{path}.{scope}" if path else scope
        before = scope
    return path


def _static_shapes(
    proto: Any,
) -> tuple[dict[str, tuple[Any, ...]], dict[str, int], dict[str, tuple[str, ...]]]:
    """Shapes (int or None per axis) and element types of the values onnx's shape inference
    can tell, keyed by ONNX name; and for a shape with symbolic axes, each axis' symbol
    (its dim_param, "" where it has none or is known), which inference passes along from
    the graph's inputs ("batch" stays "batch" through a network).

    A pooling in ceil_mode whose last window would start past the input and its begin
    padding yields one window fewer than onnx's inference before opset 22 says (and than a
    file declares that was written from it): the windows computed are those of the spec
    from opset 22, PyTorch and onnxruntime's kernels. Where such a pooling's declared or
    inferred output disagrees with the computed one, its output is declared as computed,
    the shapes declared downstream of it are dropped, and inference runs again (until no
    pooling disagrees), so that a Shape after it folds to the shape the graph computes."""
    infos = _inferred(proto)
    fixed: dict[str, tuple[Any, ...]] = {}
    for _ in range(len(proto.graph.node) + 1):  # each round settles at least one pooling
        shapes, types, symbols = _read_infos(infos)
        wrong = {
            name: dims
            for name, dims in _ceil_pool_outputs(proto.graph, shapes, symbols).items()
            if fixed.get(name) != dims
        }
        if not wrong:
            break
        fixed.update(wrong)
        infos = _inferred(_declared_as(proto, fixed, types))
    return shapes, types, symbols


def _inferred(proto: Any) -> list[Any]:
    """The ValueInfos of onnx's shape inference on ``proto`` (its own where inference fails:
    inference is a convenience, without it fewer nodes fold)."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=False)
        return [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    except Exception:
        return [*proto.graph.value_info, *proto.graph.input, *proto.graph.output]


def _read_infos(
    infos: list[Any],
) -> tuple[dict[str, tuple[Any, ...]], dict[str, int], dict[str, tuple[str, ...]]]:
    """``_static_shapes``' three dicts from ValueInfos."""
    shapes: dict[str, tuple[Any, ...]] = {}
    types: dict[str, int] = {}
    symbols: dict[str, tuple[str, ...]] = {}
    for v in infos:
        t = v.type.tensor_type
        if not v.type.HasField("tensor_type"):
            continue
        types[v.name] = t.elem_type
        if t.HasField("shape"):
            shapes[v.name] = tuple(
                int(d.dim_value) if d.HasField("dim_value") else None for d in t.shape.dim
            )
            if None in shapes[v.name]:
                symbols[v.name] = tuple(
                    "" if d.HasField("dim_value") else d.dim_param for d in t.shape.dim
                )
    return shapes, types, symbols


def _ceil_pool_outputs(
    graph: Any, shapes: dict[str, tuple[Any, ...]], symbols: dict[str, tuple[str, ...]]
) -> dict[str, tuple[Any, ...]]:
    """The outputs of MaxPool, AveragePool and LpPool nodes in ceil_mode (explicit pads)
    whose known shape differs from the one computed from their input's known spatial sizes,
    each with its computed dims (an int per axis, or the symbol, or None, for the batch and
    channel axes). Nodes with attributes the converters will refuse are passed over."""
    from ._ops.pool import _pool_extent

    out: dict[str, tuple[Any, ...]] = {}
    for node in graph.node:
        if node.op_type not in ("MaxPool", "AveragePool", "LpPool") or not node.input:
            continue
        attrs = {a.name: a for a in node.attribute}
        kernel = _window_ints(attrs, "kernel_shape", None, 1)
        x = shapes.get(node.input[0])
        if kernel is None or x is None or len(x) != len(kernel) + 2 or None in x[2:]:
            continue
        ceil, auto_pad = attrs.get("ceil_mode"), attrs.get("auto_pad")
        if (ceil is None or ceil.type != _INT or not ceil.i) or (
            auto_pad is not None and (auto_pad.type, auto_pad.s) != (_STRING, b"NOTSET")
        ):
            continue
        k = len(kernel)
        strides = _window_ints(attrs, "strides", k, 1)
        dilations = _window_ints(attrs, "dilations", k, 1)
        pads = _window_ints(attrs, "pads", 2 * k, 0)
        if strides is None or dilations is None or pads is None:
            continue
        axes = zip(x[2:], kernel, strides, dilations, pads[:k], pads[k:])
        spatial = tuple(_pool_extent(m, f, s, d, pb, pe, True)[0] for m, f, s, d, pb, pe in axes)
        if min(spatial) < 1:
            continue
        for name in node.output[: 2 if node.op_type == "MaxPool" else 1]:  # Indices too
            known = shapes.get(name)
            if name and known is not None and len(known) == k + 2 and known[2:] != spatial:
                lead = [
                    n if n is not None else (symbols.get(name) or ("", ""))[a] or None
                    for a, n in enumerate(known[:2])
                ]
                out[name] = (*lead, *spatial)
    return out


_INT, _STRING, _INTS = 2, 3, 7  # AttributeProto's types


def _window_ints(attrs: dict[str, Any], name: str, n: int | None, low: int) -> list[int] | None:
    """A pooling's INTS attribute: its values, [low] · n where it is absent (n None: required);
    None where it is of another type, of another length than n, or has a value below low."""
    a = attrs.get(name)
    if a is None:
        return None if n is None else [low] * n
    values = list(a.ints)
    if a.type != _INTS or not values or (n is not None and len(values) != n) or min(values) < low:
        return None
    return values


def _declared_as(proto: Any, fixed: dict[str, tuple[Any, ...]], types: dict[str, int]) -> Any:
    """A copy of ``proto`` whose values ``fixed`` are declared with those dims, and whose
    values computed from them (directly or not) are declared without a shape, for inference
    to redo."""
    import onnx
    from onnx import helper

    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    graph = copy.graph
    readers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    below: set[str] = set()
    todo = list(fixed)
    while todo:
        for node in readers.get(todo.pop(), []):
            for name in node.output:
                if name and name not in below and name not in fixed:
                    below.add(name)
                    todo.append(name)
    kept = [v for v in graph.value_info if v.name not in below and v.name not in fixed]
    del graph.value_info[:]
    graph.value_info.extend(kept)
    outputs = {o.name: o for o in graph.output}
    for name, dims in fixed.items():
        declared = helper.make_tensor_value_info(name, types.get(name, 1), list(dims))
        if name in outputs:
            outputs[name].type.CopyFrom(declared.type)
        else:
            graph.value_info.append(declared)
    for name in below & set(outputs):
        outputs[name].type.tensor_type.ClearField("shape")
    return copy


def _constant(node: Node, attrs: Attrs) -> np.ndarray:
    """The value of a Constant node (exactly one of its value attributes)."""
    given = [k for k in attrs.values]
    if len(given) != 1:
        raise refuse(node, f"expected exactly one value attribute, got {given}")
    key = given[0]
    value = attrs.get(key)
    if key == "value":
        return np.asarray(value)
    if key == "value_float":
        return np.asarray(value, dtype=np.float32)
    if key == "value_floats":
        return np.asarray(value, dtype=np.float32).reshape(-1)
    if key == "value_int":
        return np.asarray(value, dtype=np.int64)
    if key == "value_ints":
        return np.asarray(value, dtype=np.int64).reshape(-1)
    raise refuse(node, f"attribute {key!r} is not supported")


def load(model: str | os.PathLike[str] | bytes) -> nn.Graph:
    """The ONNX model ``model`` (a path, or the file's bytes) as a cnnmath Graph.

    The graph runs (``graph(x)``, one input array per ONNX graph input that is not an
    initializer, in their order; a tuple of arrays back, in the file's order, for a graph
    of several outputs: ``graph.onnx_output_names`` names each as the file does, in that
    order, ``graph.outputs`` by its node), lists its nodes (``graph.walk()``), holds the
    initializers as parameters and buffers, and trains (``graph.backward(G)``). It is
    returned in evaluation mode. ``graph.initializer_names`` maps each ONNX initializer name
    to the ``state_dict`` key that holds it (an If branch's and a Loop body's too; a name
    that another scope of the file also defines, as ONNX allows, is named apart: "k_1");
    ``graph.onnx_opset`` and ``graph.onnx_input_dims`` (per input, its declared axes: an
    int fixed, a str symbolic) are the file's, which ``cnnmath.onnx.save`` keeps when it
    writes the graph back. Nodes are named after the module path in the exporter's node name
    ("/layer1/layer1.0/conv1/Conv" -> "layer1_0_conv1"; "_" for ".", as a value name has no
    "."), so the node of a PyTorch model's ``layer3.1.relu`` is "layer3_1_relu" (for
    ``feature_maps`` and ``get_submodule``), and a PyTorch export's "conv1.weight" is held
    at "conv1.weight" when the names allow; a node name without a module path ("/Flatten")
    names the node as it is.

    Opsets 11 to the newest the installed ``onnx`` knows. An op, attribute or input cnnmath
    cannot compute exactly is refused here, at load time, with a ValueError naming the node,
    its op type and the attribute; so are malformed files (truncated protobuf, a cycle, a
    tensor whose declared size disagrees with its data, external data outside the model's
    directory), and float16 constants read by any op but Cast (and Resize's scales).
    Nothing in a model file is executed.

    The inputs' declared sizes are not enforced: like a cnnmath model, the graph runs on any
    batch size and on other image sizes where its ops allow them (onnxruntime refuses a size
    that a file fixes) — except in a file whose Shape nodes read a value of fixed declared
    sizes: those are computed once, here, so the graph holds its inputs to the declared
    sizes (``Graph.fix_input_sizes``) and refuses others by name, as onnxruntime does,
    instead of computing with sizes that are not the input's. Their declared element types
    are checked at load time (float32 or float64; int32, int64 or bool for shapes, indices
    and conditions; int8, uint8, int16 or uint16 for an input read only by the ops of
    quantized values: QuantizeLinear, DequantizeLinear, QLinearConv, QLinearMatMul,
    ConvInteger, MatMulInteger, MaxPool and com.microsoft's quantized ops), the arrays
    given when the graph runs. Of other domains
    than ONNX's own, only com.microsoft's quantized ops that onnxruntime's quantizer writes
    are read (``_ops.MICROSOFT``, the domain's opset 1).
    """
    onnx = require("onnx", "onnx", "cnnmath.onnx.load")
    if isinstance(model, (bytes, bytearray, memoryview)):
        data, base = bytes(model), None
    elif isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if not path.is_file():
            raise ValueError(
                f"{FUNC}: model: expected an ONNX file, got {str(path)!r} (not a file)"
            )
        data, base = path.read_bytes(), model_directory(path)
    else:
        raise TypeError(f"{FUNC}: model: expected a path or bytes, got {type(model).__name__}")
    proto = parse_model(data)
    opsets = {o.domain: int(o.version) for o in proto.opset_import}
    opset = opsets.get("", opsets.get("ai.onnx"))
    newest = onnx.defs.onnx_opset_version()
    if opset is None or not MIN_OPSET <= opset <= newest:
        raise ValueError(
            f"{FUNC}: model: expected default-domain opset {MIN_OPSET} to {newest}, got {opset}"
        )
    graph = proto.graph
    if len(graph.sparse_initializer):
        raise ValueError(f"{FUNC}: graph: sparse initializers are not supported")
    initializers = {t.name: tensor_array(t, base) for t in graph.initializer}
    input_names = [v.name for v in graph.input if v.name not in initializers]
    order = _control.ordered(graph.node, [*input_names, *initializers])
    if not graph.output:
        raise ValueError(f"{FUNC}: graph: expected at least one output, got none")
    shapes, types, symbols = _static_shapes(proto)

    fresh = _Names()
    taken = fresh.taken
    scopes = _control.Scopes(graph)

    for v in graph.input:
        if v.name in initializers:
            continue
        if not v.type.HasField("tensor_type"):
            raise ValueError(
                f"{FUNC}: graph input {v.name!r}: only tensors are supported, not sequences, "
                "maps or optionals"
            )
        elem = v.type.tensor_type.elem_type
        quantized = elem in _QUANTIZED and all(  # 8/16-bit: only of the ops reading them
            n.op_type in _QUANTIZATION_OPS for n in graph.node if v.name in n.input
        )
        if elem not in _INPUT_TYPES and not quantized:
            raise ValueError(
                f"{FUNC}: graph input {v.name!r}: element type "
                f"{onnx.TensorProto.DataType.Name(elem)} is not supported (float32 or float64; "
                "int32 or int64 for shapes and indices; bool for conditions; int8, uint8, "
                f"int16 or uint16 read only by {', '.join(sorted(_QUANTIZATION_OPS))})"
            )
    if not input_names:
        raise ValueError(f"{FUNC}: graph: expected at least one input, got none")
    graph_inputs = [fresh(n, "input") for n in input_names]
    g = nn.Graph(inputs=graph_inputs)
    env: dict[str, Operand] = {}
    info: dict[str, Any] = {
        "shapes": {},
        "symbols": {},
        "float": {},
        "types": {},  # node name -> ONNX element type
        "derived": [],
        "producers": {},  # node name -> (module, input names)
        "inputs": graph_inputs,  # the graph's input nodes (a random op's anchor)
        "opset": opset,
        "other_opsets": {d: v for d, v in opsets.items() if d not in ("", "ai.onnx")},
        "onnx_shapes": shapes,  # ONNX name -> inferred shape (a Loop's scan outputs)
        "onnx_types": types,
    }

    def bind(onnx_name: str, ref: Ref) -> None:
        env[onnx_name] = ref
        info["shapes"][ref.name] = shapes.get(onnx_name)
        info["symbols"][ref.name] = symbols.get(onnx_name)
        info["float"][ref.name] = types.get(onnx_name) in (1, 11)
        info["types"][ref.name] = types.get(onnx_name)

    def add(
        module: nn.Module, refs: list[str], label: str, onnx_name: str, op: str, more: Any = ()
    ) -> None:
        """The node computing ``onnx_name``, named after ``label``, into the graph; ``more``
        names the ONNX outputs of its extra outputs (MaxPool's Indices)."""
        name = fresh(_node_name(label, taken), op.lower(), g)
        while any(f"{name}_{x}" in taken for x in module.extra_outputs):
            name = fresh(name, op.lower(), g)
        added = g._add_made(module, *refs, name=name)
        values = (added,) if isinstance(added, str) else added
        taken.update(values)
        info["producers"][name] = (module, refs)
        for onnx_value, value in zip((onnx_name, *more), values):
            if onnx_value:
                bind(onnx_value, Ref(value))

    for onnx_name, name in zip(input_names, graph_inputs):
        bind(onnx_name, Ref(name))
    params: dict[str, nn.Parameter] = {}

    def bind_initializer(name: str, array: np.ndarray, param: Any = None) -> Any:
        """The initializer bound in ``env``; a float one held by a Parameter (``param``
        where given, else a new one), which is returned (None for any other)."""
        if array.dtype in (np.float32, np.float64):
            params[name] = nn.Parameter(array) if param is None else param
        env[name] = Const(array, params.get(name))
        return params.get(name)

    for name, array in initializers.items():
        bind_initializer(name, array)

    used = {v for n in graph.node for v in n.input} | {o.name for o in graph.output}
    readers = Counter(v for n in graph.node for v in n.input if v)
    readers.update(o.name for o in graph.output)
    # the reads of Shape and Size, which read no number of a value (a view of an
    # initializer that only they read beside trains: it is its sole reader)
    shape_reads = Counter(v for n in graph.node if n.op_type in _SHAPE_ONLY for v in n.input)
    for proto_node in graph.node:  # If's branches, Loop's body read this graph's values
        if proto_node.op_type in ("If", "Loop"):
            outer = _control.outer_reads(proto_node)
            used |= outer
            readers.update(outer)
    queue: deque[tuple[Any, int]] = deque((graph.node[i], i) for i in order)
    # The nodes inlined from an unrolled Loop's body or a constant If's branch: id(node) ->
    # (node, its site: the same tuple for the same body node in every iteration, ("top",
    # index in the graph of the outermost Loop or If inlined, "body" or "then" or "else",
    # index in the body, …)). Keyed by site, so that every iteration of an enclosing
    # unrolled Loop shares them: per unrolled Loop, its body's initializers' Parameters (by
    # index); per run-time If or Loop, its subgraphs' own initializers' Parameters
    # (``_control.share_own``); per converted node, the Parameters a converter derived
    # (``share_derived``); and per (outermost site, id(Parameter viewed), shape), the
    # Parameter a folded view of it became in an unrolled body (every view of one array at
    # one shape holds the same numbers, whichever op and iteration made it).
    sites: dict[int, tuple[Any, tuple[Any, ...]]] = {}
    body_parameters: dict[tuple[Any, ...], dict[int, nn.Parameter]] = {}
    subgraph_parameters: dict[tuple[Any, ...], dict[tuple[str, int], nn.Parameter]] = {}
    site_views: dict[tuple[Any, ...], nn.Parameter] = {}
    site_derived: dict[tuple[Any, ...], nn.Parameter] = {}
    info["view nodes"] = {}  # id(a view's Parameter) -> (its node, its unrolled Loop's name)
    info["frozen views"] = []  # (node, Parameter viewed, Loop): a fixed copy in a loop body

    def share_derived(module: nn.Module, node: Node, site: Any, made: list[Any]) -> None:
        """The Parameters a converter derived for ``module`` from an initializer's (a
        MatMul's weight transposed for its Linear) replaced by those derived before from the
        same Parameter in the same shape, where they hold the same numbers: one Parameter
        however many nodes read the initializer (a weight tied between layers, a scripted
        for-loop TorchScript unrolled, the iterations of an unrolled Loop), as the
        initializer is one. Each is recorded as held by ``node`` (``_check_one_holder``)."""
        for old, new in made:
            if not isinstance(new, nn.Parameter):
                continue
            first = site_derived.setdefault((id(old), new.shape, new.dtype), new)
            if first is not new and np.array_equal(first.data, new.data, equal_nan=True):
                _control._replace(module, new, first)
            else:
                label = None if site is None else loop_of(site)
                info["view nodes"].setdefault(id(new), (node, label))

    loop_names: dict[tuple[Any, ...], str] = {}  # an unrolled Loop's site -> its name

    def site_of(proto_node: Any, i: int) -> tuple[Any, ...]:
        """The site of ``proto_node``, node ``i`` of its graph (the model's, or an inlined
        branch or body, whose nodes all have sites): its inlined site, else ("top", i)."""
        site = sites.get(id(proto_node))
        return site[1] if site is not None else ("top", i)

    def mark_sites(proto_node: Any, i: int, part: str, nodes: Any) -> None:
        """``nodes``, inlined for ``proto_node`` (an unrolled Loop, or an If on a constant
        condition), recorded with their sites."""
        base = site_of(proto_node, i)
        for j, n in enumerate(nodes):
            sites[id(n)] = (n, (*base, part, j))

    def loop_of(site: tuple[Any, ...]) -> str | None:
        """The name of the outermost unrolled Loop whose body holds the node at ``site``."""
        found = (loop_names.get(site[:k]) for k in range(2, len(site) + 1))
        return next(filter(None, found), None)

    def order_of(branch: Any) -> list[int]:
        """The inlined ``branch``'s nodes in reverse topological order (for extendleft)."""
        inner = _control.ordered(branch.node, [*env, *(t.name for t in branch.initializer)])
        return list(reversed(inner))

    def scoped(node: Node, proto_node: Any, branch: Any) -> Any:
        """A copy of ``branch`` (an If's taken branch, an iteration of a Loop's body) whose
        names are apart from the model's (``Scopes``); refused where one of its
        initializers names a value the node sees (ONNX's readers would take that)."""
        for t in branch.initializer:
            if scopes.shadows(proto_node, t.name, env):
                owner = "a branch" if node.op_type == "If" else "the body"
                raise refuse(node, f"{owner}'s initializer {t.name!r} shadows a value")
        branch = scopes.scoped(proto_node, branch)  # its names apart from the model's
        return branch

    def read_inlined(branch: Any, shared: dict[int, nn.Parameter] | None = None) -> None:
        """Before the scoped ``branch``'s nodes are queued: its values' shapes inferred, its
        initializers read, its nodes' reads counted (their inputs bound in ``env``). An
        unrolled Loop's iterations pass one ``shared`` table (initializer index -> its
        Parameter), so that each float initializer of the body is one Parameter."""
        inferred = _branch_shapes(branch, env, info)
        shapes.update(inferred[0])
        types.update(inferred[1])
        symbols.update(inferred[2])
        for j, t in enumerate(branch.initializer):
            initializers[t.name] = array = tensor_array(t, base)
            param = bind_initializer(t.name, array, None if shared is None else shared.get(j))
            if shared is not None and param is not None:
                shared[j] = param
        for n in branch.node:
            outer = _control.outer_reads(n) if n.op_type in ("If", "Loop") else set()
            used.update(n.input, outer)
            readers.update([*(v for v in n.input if v), *outer])
            if n.op_type in _SHAPE_ONLY:
                shape_reads.update(n.input)

    def unroll(step: _control.LoopStep, i: int) -> None:
        """The unrolled Loop's iteration ``step.k`` queued (its body inlined, its inputs
        bound), then the next step; or, the loop done, its outputs bound."""
        proto_node = step.proto
        node = Node(proto_node.name or proto_node.output[0], "Loop", opset)
        going = True
        if step.cond is not None:
            cond = env[step.cond]
            if not isinstance(cond, Const):
                raise refuse(
                    node, "the body's condition is computed at run time in an unrolled loop"
                )
            value = np.asarray(cond.value)
            if value.dtype != np.bool_ or value.size != 1:
                raise refuse(
                    node,
                    f"input 'cond': expected a single bool, got {value.dtype} of shape "
                    f"{value.shape}",
                )
            going = bool(value.reshape(()))
        n = len(step.carried)
        if step.k >= step.trips or not going:  # done: the carried values, the scans stacked
            finals = _control.Bind(list(proto_node.output[:n]), step.carried)
            if step.scans and not step.scans[0]:
                for name in filter(None, proto_node.output[n:]):
                    dims, elem = shapes.get(name), types.get(name)
                    if dims is None or None in dims[1:] or not elem:
                        raise refuse(
                            node,
                            f"output {name!r}: zero iterations, and the shape of the scan "
                            "output (0, …) is not known at load time",
                        )
                    dtype = onnx.helper.tensor_dtype_to_np_dtype(elem)
                    env[name] = Const(np.zeros((0, *dims[1:]), dtype))
                queue.appendleft((finals, i))
                return
            stack = _control.stacked(proto_node, step.scans, opset, scopes)
            for made in stack:
                used.update(made.input)
                readers.update(made.input)
            queue.extendleft([*((made, i) for made in reversed(stack)), (finals, i)])
            return
        body = scoped(node, proto_node, step.body)
        names = [v.name for v in body.input]
        env[names[0]] = Const(np.array(step.k, np.int64))
        env[names[1]] = env[step.cond] if step.cond is not None else Const(np.array(True))
        for name, source in zip(names[2:], step.carried):
            env[name] = env[source]
        del body.input[:]
        mark_sites(proto_node, i, "body", body.node)
        loop_names[site_of(proto_node, i)] = node.name
        read_inlined(body, body_parameters.setdefault(site_of(proto_node, i), {}))
        sources = [o.name for o in body.output]
        used.update(sources)
        readers.update(sources)
        nxt = step._replace(
            k=step.k + 1,
            cond=sources[0],
            carried=sources[1 : 1 + n],
            scans=[[*s, v] for s, v in zip(step.scans, sources[1 + n :])],
        )
        queue.extendleft([(nxt, i), *((body.node[j], j) for j in order_of(body))])

    while queue:
        proto_node, i = queue.popleft()
        if isinstance(proto_node, _control.Bind):  # an inlined branch's outputs are the If's
            for output, source in zip(proto_node.outputs, proto_node.sources):
                if output:
                    env[output] = env[source]
            continue
        if isinstance(proto_node, _control.LoopStep):
            unroll(proto_node, i)
            continue
        outputs = [o for o in proto_node.output]
        label = proto_node.name or next(filter(None, outputs), f"#{i}")  # '#i': no name at all
        node = Node(label, proto_node.op_type, opset)
        domain = proto_node.domain
        if domain not in ("", "ai.onnx") and (domain, node.op_type) not in _CONTRIB:
            raise refuse(
                node,
                f"domain {domain!r} is not supported (only ONNX's own ops, and com.microsoft's "
                f"{', '.join(sorted(MICROSOFT))})",
            )
        if domain == "com.microsoft" and opsets.get(domain) != 1:
            raise refuse(
                node, f"domain 'com.microsoft': expected opset 1 imported, got {opsets.get(domain)}"
            )
        if not outputs or not outputs[0]:
            raise refuse(
                node,
                f"outputs: expected at least one, the first named (node {i} of the graph), "
                f"got {outputs or 'none'}",
            )
        ins = check_inputs(node, [env[v] if v else None for v in proto_node.input])
        cond = ins[0] if ins else None
        if node.op_type == "If" and isinstance(cond, Ref):  # both branches loaded
            site = sites.get(id(proto_node))  # in an unrolled body: one set of Parameters
            own = None if site is None else subgraph_parameters.setdefault(site[1], {})
            module, refs = _control.runtime_if(node, proto_node, cond, env, info, load, scopes, own)
            add(module, refs, proto_node.name or outputs[0], outputs[0], "If", outputs[1:])
            continue
        if node.op_type == "If" and isinstance(cond, Const):  # the taken branch inlined
            branch = _control.taken_branch(node, proto_node, cond)
            # the If's own count of its branches' reads gives way to the taken branch's nodes
            readers.subtract(_control.outer_reads(proto_node))
            which = "then" if bool(np.asarray(cond.value).reshape(())) else "else"
            branch = scoped(node, proto_node, branch)
            mark_sites(proto_node, i, which, branch.node)
            read_inlined(branch)
            sources = [o.name for o in branch.output]
            used.update(sources)
            readers.update(sources)
            aliases = _control.Bind(list(outputs), sources)
            queue.extendleft([(aliases, i), *((branch.node[j], j) for j in order_of(branch))])
            continue
        if node.op_type == "Loop":
            body = _control.loop_body(node, proto_node, ins)
            if _control.unrollable(node, proto_node, body, ins, env):  # unrolled at load time
                readers.subtract(_control.outer_reads(proto_node))
                n = len(ins) - 2
                trips = _control.trip_count(node, ins[0])
                cond_name = proto_node.input[1] or None
                step = _control.LoopStep(
                    proto_node,
                    body,
                    0,
                    trips or 0,
                    cond_name,
                    list(proto_node.input[2:]),
                    [[] for _ in proto_node.output[n:]],
                )
                queue.appendleft((step, i))
                continue
            site = sites.get(id(proto_node))  # in an unrolled body: one set of Parameters
            own = None if site is None else subgraph_parameters.setdefault(site[1], {})
            module, names = _control.runtime_loop(
                node, proto_node, body, ins, env, info, load, scopes, own
            )
            refs = [r.name for r in (env[v] for v in names) if isinstance(r, Ref)]
            if not refs:  # every input known at load time: run it now
                with folding():
                    value, _ = module.forward_ctx()
                values = value if isinstance(value, tuple) else (value,)
                for output, v in zip(outputs, values):
                    if output:
                        env[output] = Const(np.asarray(v))
                continue
            add(module, refs, proto_node.name or outputs[0], outputs[0], "Loop", outputs[1:])
            continue
        attrs = Attrs(node, proto_node.attribute)
        extra = [o for o in outputs[1:] if o and o in used]
        if node.op_type == "Constant":
            env[outputs[0]] = Const(_constant(node, attrs))
            continue
        converter = (MICROSOFT if domain == "com.microsoft" else CONVERTERS).get(node.op_type)
        if converter is None:
            raise refuse(
                node,
                f"op type {node.op_type!r} is not supported (supported: "
                f"{', '.join(sorted(CONVERTERS))}, Constant)",
            )
        if extra and node.op_type not in (
            "BatchNormalization",
            "Dropout",
            "LayerNormalization",
            "MaxPool",
            "SoftmaxCrossEntropyLoss",
            "Split",
            "TopK",
            "DynamicQuantizeLinear",
        ):
            raise refuse(
                node,
                f"output {extra[0]!r} (output {outputs.index(extra[0])}) is not "
                "supported: only the first output",
            )
        half = [
            v
            for v, o in zip(proto_node.input, ins)
            if isinstance(o, Const) and np.asarray(o.value).dtype == np.float16
        ]
        if half and node.op_type not in _HALF_OPERANDS:
            raise refuse(
                node,
                f"input {half[0]!r}: float16 values are not supported as an operand (cnnmath "
                "computes in float32 or float64; Cast them to float first)",
            )
        info["outputs"] = outputs[:1] + extra
        info["all_outputs"] = outputs
        made_from = len(info["derived"])
        module, refs = converter(node, attrs, ins, info)
        attrs.done()
        site = sites[id(proto_node)][1] if id(proto_node) in sites else None
        if refs:
            share_derived(module, node, site, info["derived"][made_from:])
        if "declares" in info:  # a com.microsoft op's output, which onnx's inference skips
            code, dims = info.pop("declares")
            if code and not types.get(outputs[0]):
                types[outputs[0]] = code
            if shapes.get(outputs[0]) is None and dims is not None:
                shapes[outputs[0]] = dims
        more = info.pop("more", [])  # a node's outputs after its first: (name, built)
        apart = all(getattr(m, "apart", False) for _, (m, _) in more)  # Y computed in full
        if isinstance(module, _Op) and apart and module.reads_as_given(node, ins):
            # the node itself: cnnmath.onnx.save writes it back as read
            module.onnx_attributes = tuple(a.SerializeToString() for a in proto_node.attribute)
            module.onnx_dtypes = module.held_dtypes()
        first = ins[0] if ins else None
        if (
            node.op_type == "Identity"
            and isinstance(first, Const)
            and first.param is not None
            and readers[proto_node.input[0]] > 1
        ):
            if not any(outputs[0] in n.input for n in graph.node) or (
                outputs[0].startswith("onnx::") and _read_in_one_scope(graph, proto_node.input[0])
            ):
                # another name for an initializer read elsewhere too, itself read only
                # inside subgraphs (TorchScript's, for a weight that two If branches read),
                # or named by the exporter, not after a weight of its own, and read by one
                # module's nodes (TorchScript's, for the weight of a for-loop it unrolled):
                # the same Parameter, whose readers are now both names' readers
                env[outputs[0]] = first
                both = readers[proto_node.input[0]] - 1 + readers[outputs[0]]
                readers[proto_node.input[0]] = readers[outputs[0]] = both
            else:
                # named as a weight ('l2.bias' = Identity('l1.bias')), or read by several
                # modules' nodes: the exporter's merge of weights that held the same
                # numbers (the zero biases of a new model, layers deep-copied from one), a
                # Parameter of its own that trains apart, as they did
                initializers[outputs[0]] = array = np.array(first.value)
                bind_initializer(outputs[0], array)
                readers[proto_node.input[0]] -= 1
            continue
        if not refs:  # every input known at load time: fold
            with folding():
                value, _ = module.forward_ctx()
            read = proto_node.input[0] if proto_node.input else ""
            sole = bool(read) and readers[read] - shape_reads[read] == 1
            site = sites.get(id(proto_node))
            viewed = first.param if isinstance(first, Const) else None
            key = None  # (a view of another shape is a view of its own)
            looped = site is not None and loop_of(site[1]) is not None
            if looped and viewed is not None and node.op_type in _VIEWS:
                key = (site[1][:2], id(viewed), np.shape(value))  # type: ignore[index]
            kept: nn.Parameter | None = None
            if key is not None and key in site_views:  # an unrolled body's view, seen before
                kept = site_views[key]
            else:
                # (a Transpose is kept outside unrolled bodies only: there each iteration
                # would keep its own, which a key by shape cannot tell from another's)
                keeps = sole and (node.op_type in _VIEWS or not looped)
                kept = _kept_parameter(node, ins, value, info) if keeps else None
                if key is not None and kept is not None:
                    site_views[key] = kept
                if kept is not None:
                    label = None if site is None else loop_of(site[1])
                    info["view nodes"][id(kept)] = (node, label)
            if kept is None and node.op_type in _KEPT_FOLDS:
                value = np.array(value)  # a fixed copy: no buffer sees a Parameter's updates
                if looped and viewed is not None:
                    info["frozen views"].append((node, viewed, loop_of(site[1])))  # type: ignore[index]
            if (
                kept is None
                and site is None
                and not more
                and _on_weights(module, value, node, graph_inputs)
            ):
                # a weight read by a node of the model itself: computed when the graph
                # runs, so that it trains (an unrolled body's views are refused instead)
                trigger = graph_inputs[0]
                held = _OnWeights(node, Ref(trigger), module)  # type: ignore[arg-type]
                add(held, [trigger], proto_node.name or outputs[0], outputs[0], node.op_type)
                continue
            env[outputs[0]] = Const(np.asarray(value), kept)
        else:
            add(module, refs, proto_node.name or outputs[0], outputs[0], node.op_type, outputs[1:])
        for output, (module, refs) in more:
            if not refs:
                with folding():
                    env[output] = Const(np.array(module.forward_ctx()[0]))
                continue
            add(module, refs, output, output, node.op_type)

    returned: list[str] = []
    for declared in graph.output:
        out = env.get(declared.name)
        if isinstance(out, Const):  # e.g. the Shape of a static input: a constant, returned
            node = Node("output", "Constant", opset)
            holder, undo = _output_holder(out, g, info)
            module = _ConstOutput(
                node, [Ref(graph_inputs[0]), Const(out.value, holder)], undo, np.shape(out.value)
            )
            out = Ref(g.add(module, graph_inputs[0], name=fresh("output", "output", g)))
        if not isinstance(out, Ref):
            raise ValueError(f"{FUNC}: graph: the output {declared.name!r} is not computed")
        if out.name in returned:  # two outputs of one value (an Identity read as its input)
            node = Node(declared.name, "Identity", opset)
            module, refs = CONVERTERS["Identity"](node, Attrs(node, []), [out], info)
            if isinstance(module, _Op) and module.reads_as_given(node, [out]):
                module.onnx_attributes, module.onnx_dtypes = (), module.held_dtypes()
            out = Ref(g.add(module, *refs, name=fresh(declared.name, "identity", g)))
        returned.append(out.name)
    g.set_output(*returned)
    g.onnx_output_names = tuple(o.name for o in graph.output)  # type: ignore[attr-defined]
    g.onnx_opset = opset  # type: ignore[attr-defined]
    declared = {v.name: v for v in graph.input}
    input_dims = {
        name: _declared_dims(declared[onnx_name])
        for onnx_name, name in zip(input_names, graph_inputs)
    }
    g.onnx_input_dims = input_dims  # type: ignore[attr-defined]
    if info.get("folded_shapes"):  # sizes computed from the declared ones: hold the inputs
        first = info["folded_shapes"][0]
        g.fix_input_sizes(
            {
                name: tuple(n if isinstance(n, int) else None for n in dims)
                for name, dims in input_dims.items()
                if dims is not None
            },
            f"the file declares this size and its Shape node {first!r} was computed from the "
            "declared sizes when it was loaded (as onnxruntime, cnnmath runs such a file at "
            "its declared sizes only); export with dynamic_axes (TorchScript) or "
            "dynamic_shapes (dynamo) to run other sizes",
        )
    g.onnx_input_types = {  # type: ignore[attr-defined]
        name: declared[onnx_name].type.tensor_type.elem_type
        for onnx_name, name in zip(input_names, graph_inputs)
    }
    g.eval()
    _control.check_views_apart(g, info)
    _check_one_holder(g, info, params)
    g.initializer_names = _initializer_names(g, initializers, params, info["derived"])  # type: ignore[attr-defined]
    g.held_as_views = _held_as_views(g, params)  # type: ignore[attr-defined]
    return g


def _output_holder(
    out: Const, g: nn.Graph, info: dict[str, Any]
) -> tuple[nn.Parameter | None, str | None]:
    """The Parameter a graph output that is a trained weight (``out``, Const with its
    Parameter P) returns, and how (``_ConstOutput``'s ``undo``): P itself where the graph's
    layers hold P or nothing of it (the output is then its only reader); the one Parameter a
    layer derived from P, where its numbers are P's transposed (a MatMul's or Gemm's Linear)
    or reshaped (checked on the values as loaded); else none: the value as loaded, fixed
    (a weight held in several derived forms)."""
    P = out.param
    if P is None:
        return None, None
    held = {id(p) for p in g.parameters()}
    if id(P) in held:
        return P, None
    parent = {id(new): old for old, new in info["derived"]}

    def derives_from_P(p: nn.Parameter) -> bool:
        q = parent.get(id(p))
        while q is not None and q is not P:
            q = parent.get(id(q))
        return q is P

    views = [p for p in g.parameters() if derives_from_P(p)]
    if not views:
        return P, None
    if len(views) != 1 or parent.get(id(views[0])) is not P:  # several, or a view of a view
        return None, None
    (D,) = views
    node, _ = info["view nodes"].get(id(D), (None, None))
    weight = out.value  # P's numbers as loaded
    transposed = node is not None and node.op_type in ("MatMul", "Gemm")
    if transposed and D.data.ndim == 2 and np.array_equal(D.data.T, weight, equal_nan=True):
        return D, "T"
    if (
        not transposed
        and node is not None
        and node.op_type != "Transpose"
        and (
            D.data.size == np.size(weight)
            and np.array_equal(D.data.reshape(np.shape(weight)), weight, equal_nan=True)
        )
    ):
        return D, "reshape"
    return None, None


def _on_weights(module: Any, value: Any, node: Node, graph_inputs: list[str]) -> bool:
    """Whether a node folded at load time (``module``, its value ``value``) should instead
    run with the graph: a float value computed from a trained weight (a Parameter among
    its operands) by one of ``_WEIGHT_READERS``, in a graph that has an input to hang it
    on."""
    return (
        isinstance(module, _Op)
        and bool(graph_inputs)
        and node.op_type in _WEIGHT_READERS
        and np.asarray(value).dtype.kind == "f"
        and any(kind == "param" for kind, _ in module._slots)
    )


_CALLED_AGAIN = re.compile(r"_\d+$")


def _read_in_one_scope(graph: Any, source: str) -> bool:
    """Whether the nodes of ``graph`` that read the value ``source``, directly or through an
    Identity of it, come from one module: TorchScript names each node after the module that
    made it ('/enc/layers.0/linear1/MatMul'), a module called again with a count on its own
    name or the op's ('/lin_1/MatMul', '/u/MatMul_2'), so one module's nodes share their
    scope once the counts are dropped. Unnamed nodes share the scope ''."""
    names = {source} | {
        o for n in graph.node if n.op_type == "Identity" and source in n.input for o in n.output
    }
    scopes = {
        _CALLED_AGAIN.sub("", n.name.rpartition("/")[0])
        for n in graph.node
        if n.op_type != "Identity" and names.intersection(n.input)
    }
    return len(scopes) <= 1


def _check_one_holder(g: nn.Graph, info: dict[str, Any], params: dict[str, nn.Parameter]) -> None:
    """Refuses a graph that would train one initializer as parts apart: two Parameters for
    it (folded views of it, ``_kept_parameter``, of two shapes, or one and the initializer
    as it is — which an unrolled Loop makes, each iteration folding its own views and a
    constant If in its body reading the initializer one way in one iteration and another
    way in the next; or a converter's view of it, a MatMul's weight held transposed by its
    Linear, beside a read of it as it is, a Gemm's with transB), or a reshape of it in an
    unrolled body kept as a fixed copy (it has another reader) while the initializer, or a
    view of it, trains."""
    root: dict[int, int] = {}
    for old, new in info["derived"]:  # in load order: a view of a view follows its source
        root[id(new)] = root.get(id(old), id(old))
    views = info["view nodes"]
    every = {id(p): p for p in g.parameters()}
    held: dict[int, list[nn.Parameter]] = {}  # root -> its views that g holds, and itself
    for p in every.values():
        if id(p) in views:
            held.setdefault(root[id(p)], []).append(p)
    for r, holders in held.items():
        if r in every:
            holders.append(every[r])
    for r, holders in held.items():
        if len(holders) > 1:
            node, loop = views[id(holders[0])]
            shapes = sorted({tuple(p.shape) for p in holders})
            _refuse_apart(
                node,
                params,
                r,
                loop,
                f"{len(holders)} Parameters of shapes {shapes} ("
                + (
                    "as it is, or reshaped differently from one iteration to the next)"
                    if loop is not None
                    else "as it is and as a view a layer holds: the weight of a MatMul, or of "
                    "a Gemm without transB, transposed for its Linear)"
                ),
            )
    for node, viewed, loop in info["frozen views"]:
        r = root.get(id(viewed), id(viewed))
        if r in held or r in every:
            _refuse_apart(
                node,
                params,
                r,
                loop,
                f"a {node.op_type} beside another read of it (as it is, or reshaped in "
                f"another iteration), the {node.op_type} a fixed copy whose gradient would be "
                "lost",
            )


def _refuse_apart(
    node: Node, params: dict[str, nn.Parameter], r: int, loop: str | None, how: str
) -> None:
    """``_check_one_holder``'s refusal: the initializer whose Parameter has id ``r``."""
    name = next((n for n, p in params.items() if id(p) == r), "?")
    where = (
        "by the graph's nodes"
        if loop is None
        else f"in the iterations of the unrolled Loop {loop!r}"
    )
    raise refuse(
        node,
        f"the initializer {name!r} is read {where} as {how}: its parts would train apart, "
        "where the file holds one (not supported)",
    )


def _held_as_views(g: nn.Graph, params: dict[str, nn.Parameter]) -> set[str]:
    """The initializers whose state_dict key holds not the initializer's own Parameter but
    one the loader derived from it (a MatMul weight held transposed by its Linear, a
    reshaped bias; a Transpose then a MatMul's, whose numbers are the file's again). A
    buffer of the initializer's shape (batch norm's running statistics, a constant an op
    holds) holds the array as read: not a view."""
    held = dict(g.named_parameters())
    buffers = dict(g.named_buffers())
    names = g.initializer_names  # type: ignore[attr-defined]

    def as_read(n: str, key: str) -> bool:
        if key in buffers:
            return buffers[key].shape == params[n].data.shape
        return held.get(key) is params[n]

    return {n for n, key in names.items() if n in params and not as_read(n, key)}


def _branch_shapes(
    branch: Any, env: dict[str, Operand], info: dict[str, Any]
) -> tuple[dict[str, tuple[Any, ...]], dict[str, int], dict[str, tuple[str, ...]]]:
    """``_static_shapes`` of the values an inlined branch defines: the branch written as a
    model whose inputs are the outer run-time values it reads (with their known types and
    shapes, a symbolic axis by its symbol) and the outer constants it reads, which
    inference may need the values of (a Reshape's shape), as initializers (a large float
    one, a weight, as an input of its shape: only its shape matters)."""
    from onnx import helper, numpy_helper

    inputs, inits = [], []
    for name in sorted(_control.graph_reads(branch)):
        operand = env.get(name)
        if isinstance(operand, Ref):
            elem = info["types"].get(operand.name)
            dims = info["shapes"].get(operand.name)
            if elem is None:
                continue
            if dims is not None:
                symbols = info["symbols"].get(operand.name) or ("",) * len(dims)
                dims = [d if d is not None else (s or None) for d, s in zip(dims, symbols)]
            inputs.append(helper.make_tensor_value_info(name, elem, dims))
        elif isinstance(operand, Const):
            value = np.asarray(operand.value)
            if value.dtype.kind == "f" and value.size > 64:
                elem = helper.np_dtype_to_tensor_dtype(value.dtype)
                inputs.append(helper.make_tensor_value_info(name, elem, value.shape))
            else:
                inits.append(numpy_helper.from_array(value, name))
    graph = helper.make_graph(
        list(branch.node),
        "branch",
        inputs,
        list(branch.output),
        initializer=[*inits, *branch.initializer],
        value_info=list(branch.value_info),
    )
    imports = [
        helper.make_opsetid(d, v) for d, v in {"": info["opset"], **info["other_opsets"]}.items()
    ]
    found = _static_shapes(helper.make_model(graph, opset_imports=imports))
    own = set(_control.defined(branch))
    return tuple({k: v for k, v in table.items() if k in own} for table in found)  # type: ignore[return-value]


def _declared_dims(value: Any) -> tuple[int | str, ...] | None:
    """A graph input's declared axes: an int for a fixed one, its symbol for a named one
    ("" for an unnamed free axis); None when the file declares no shape."""
    t = value.type.tensor_type
    if not t.HasField("shape"):
        return None
    return tuple(int(d.dim_value) if d.HasField("dim_value") else d.dim_param for d in t.shape.dim)


#: Ops that read only their input's shape.
_SHAPE_ONLY = frozenset({"Shape", "Size"})

#: Ops that may read a float16 constant (Resize's scales, which ONNX allows in float16, and
#: a Cast of a float16 weight to float);
#: any other op is refused one at load time, not when the graph runs.
_HALF_OPERANDS = frozenset({"Resize", "Cast"})


# Ops that fold a trainable initializer into the same numbers in another shape (GroupNorm's
# export reshapes γ and β to (C, 1, 1) before its Mul and Add).
_VIEWS = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout")
# Folds of a trainable initializer read alone that keep a Parameter (`_kept_parameter`):
# the views, and a Transpose (the same numbers in another order).
_KEPT_FOLDS = frozenset({*_VIEWS, "Transpose"})

#: The ops whose folds of a trained weight run with the graph instead (``_on_weights``):
#: those exporters write to use a weight as data (ViT's class token expanded, swin_v2's
#: logit scale clamped, its bias tables made by an MLP over a constant grid, a bias
#: rebuilt by ScatterND, a reshape or transpose of a weight read elsewhere too). Any other op on a
#: weight alone folds as before: a fixed value (a convolution's weight scaled by Mul, a
#: Resize's scales, a BatchNormalization's statistics stay what their layers hold).
_WEIGHT_READERS = frozenset(
    {
        "Expand",
        "Tile",
        "Clip",
        "ScatterND",
        "ScatterElements",
        "MatMul",
        "Gemm",
        "Concat",
        "Transpose",
        *_VIEWS,
    }
)


def _kept_parameter(
    node: Node, ins: list[Operand | None], value: Any, info: dict[str, Any]
) -> nn.Parameter | None:
    """A parameter for the folded ``value`` of a reshape or a transpose of a float
    initializer (or of such a view: a chain of them), so that what reads it trains
    (recorded as derived from the initializer's parameter, whose ONNX name then maps to it);
    None for any other fold. The caller asks only when the view is the initializer's sole
    reader: two Parameters over one initializer would train apart (the view then stays a
    buffer, as any fold). A Transpose is how ``cnnmath.onnx.save`` writes the weight of a
    Linear on a batch of sequences (a MatMul reads Wᵀ), once however many Linears share it:
    kept, the Linears reading it share one Parameter again (`share_derived`)."""
    source = ins[0] if ins else None
    if node.op_type not in _KEPT_FOLDS or not isinstance(source, Const) or source.param is None:
        return None
    kept = nn.Parameter(np.asarray(value))
    info["derived"].append((source.param, kept))
    return kept


def _initializer_names(
    g: nn.Graph,
    arrays: dict[str, np.ndarray],
    params: dict[str, nn.Parameter],
    derived: list[tuple[Any, Any]],
) -> dict[str, str]:
    """ONNX initializer name -> the state_dict key holding it (parameters, and buffers
    holding the initializer's array), those of a run-time If's branches included (a branch
    initializer whose name another scope of the file also defines is listed under the name
    ``Scopes`` gave it, "w_1")."""
    by_id: dict[int, str] = {}
    for name, p in params.items():  # an unrolled body's initializer: its first iteration's name
        by_id.setdefault(id(p), name)
    array_ids = {id(a): name for name, a in arrays.items()}
    for old, new in derived:  # in load order: a view of a view resolves to the initializer
        if id(old) in by_id:
            by_id[id(new)] = by_id[id(old)]
        if id(old) in array_ids:
            array_ids[id(new)] = array_ids[id(old)]
    names: dict[str, str] = {}
    for key, p in g.named_parameters():
        if id(p) in by_id:
            names.setdefault(by_id[id(p)], key)
    for key, b in g.named_buffers():
        if id(b) in array_ids:
            names.setdefault(array_ids[id(b)], key)
    named = {id(_control._held(g, key)) for key in names.values()}
    for path, module in g.named_modules():  # a run-time If's branches, Loop's body: their
        attrs: tuple[str, ...] = ()  # initializers (named apart from the other names)
        if isinstance(module, _control._If):
            attrs = ("then_branch", "else_branch")
        elif isinstance(module, _control._Loop):
            attrs = ("body",)
        for attr in attrs:
            inner = getattr(module, attr).initializer_names
            for name, key in inner.items():
                held = _control._held(g, f"{path}.{attr}.{key}")
                if name in names or (isinstance(held, nn.Parameter) and id(held) in named):
                    continue  # a later unrolled iteration's copy: its first's name is listed
                names[name] = f"{path}.{attr}.{key}"
                named.add(id(held))
    return names
