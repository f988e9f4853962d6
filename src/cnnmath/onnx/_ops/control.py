"""ONNX control flow: the If and Loop ops.

An If node holds two subgraphs (attributes ``then_branch`` and ``else_branch``) and reads a
one-element bool ``cond``; its outputs are those of the branch ``cond`` selects. A branch may
read values of the enclosing graphs by name (outer-scope references) besides its own
initializers and nodes, so a node's dependencies are its listed inputs and the outer-scope
values of its subgraphs (``outer_reads``): ``ordered`` sorts nodes by both.

Where ``cond`` is known at load time (an initializer, a Constant, or a value folded from
them, such as a comparison of a static shape, which is what exporters write for
shape-dependent code), the loader inlines the taken branch (``taken_branch``): its nodes
are converted in place of the If node, its outputs bound to the If's, and the other branch
is never converted (only its output count and form are checked). Where ``cond`` is computed
at run time, both branches are loaded as graphs of their own (``runtime_if``) and the module
``_If`` runs the one taken. Either way a branch's own names are first made unique in the
model (``Scopes``): ONNX scopes them, the loader flattens them into one namespace.

A Loop runs its ``body`` (inputs: iteration number, condition, loop-carried values; outputs:
condition, loop-carried values, scan outputs) while t < M and the condition holds. Where M is
known at load time and at most ``UNROLL_LIMIT`` and the condition is known in every iteration
(absent or constant, and passed on or constant in the body: TorchScript's ``for``), the loader
unrolls it (``LoopStep``): each iteration's body is inlined as a taken If branch is, its names
scoped apart, its inputs bound to the previous iteration's values, and the scan outputs are
stacked by Unsqueeze and Concat nodes. Any other Loop loads its body once, as a run-time If
loads a branch (``load_subgraph``), and ``_Loop`` runs it iteration by iteration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ... import nn
from ...nn import Parameter
from .._checks import FUNC, topological_order
from ._node import Const, Node, Operand, Ref, refuse

_GRAPH = 5  # AttributeProto.GRAPH
_BRANCHES = ("then_branch", "else_branch")


def outer_reads(node: Any) -> set[str]:
    """The names the subgraphs of ``node`` (an ONNX NodeProto) read from outside themselves:
    read by one of their nodes (or, recursively, by those nodes' subgraphs) or listed as
    one of their outputs, and written by none of their nodes, inputs or initializers."""
    found: set[str] = set()
    for a in node.attribute:
        graphs = [a.g] if a.type == _GRAPH else list(a.graphs)
        for sub in graphs:
            found |= graph_reads(sub)
    return found


def graph_reads(graph: Any) -> set[str]:
    """The names ``graph`` reads from outside itself (as ``outer_reads``)."""
    defined = {v.name for v in graph.input} | {t.name for t in graph.initializer}
    defined |= {o for n in graph.node for o in n.output if o}
    read = {v for n in graph.node for v in n.input if v} | {o.name for o in graph.output}
    for n in graph.node:
        read |= outer_reads(n)
    return read - defined


class Scopes:
    """Unique value names for the branches a load flattens into one namespace. ONNX scopes a
    subgraph's names: two branches (of sibling Ifs, or an If's two) may each define "tmp",
    and a branch may define a name the enclosing graph defines after the If. Inlined, they
    would meet; so a branch's own names (its initializers and node outputs) already claimed
    — by the graph being loaded (wherever in it) or by a branch scoped before — are renamed
    ``name_1``, ``name_2``, … (the first unused, in the whole model), and every read of them
    in the branch and its nested subgraphs follows. The If's outputs keep the outer names;
    a name first defined by one branch keeps its name (so its initializer's key does)."""

    def __init__(self, graph: Any) -> None:
        self._main = set(defined(graph))
        self.claimed = set(self._main)
        self._avoid = _all_names(graph)
        self._resume: dict[str, int] = {}
        self._within: dict[str, set[str]] = {}  # an If's first output -> its branches' names

    def shadows(self, node: Any, name: str, env: dict[str, Operand]) -> bool:
        """Whether ``name``, a branch initializer of the If ``node``, names a value the If
        sees: one computed before it (in ``env``) by the graph or by a branch enclosing it
        (not by a sibling branch: that name is the branch's own, named apart)."""
        seen = self._within.get(node.output[0], set())
        return name in env and (name in self._main or name in seen)

    def scoped(self, node: Any, graph: Any, deep: bool = False) -> Any:
        """A copy of ``graph``, a branch of the If ``node``, whose own names already claimed
        are renamed (and, ``deep``, those of its nested subgraphs too, each subgraph in turn,
        so that sibling nested branches are named apart: a branch loaded as a model of its
        own, whose load cannot see the model's other names); the names it defines claimed."""
        from onnx import GraphProto

        copy = GraphProto()
        copy.CopyFrom(graph)
        own = self._claim(copy, deep)
        seen = self._within.get(node.output[0], set()) | set(own)
        for n in copy.node:  # the Ifs inlined with this branch see its names
            if n.op_type == "If" and n.output:
                self._within[n.output[0]] = seen
        return copy

    def _claim(self, graph: Any, deep: bool) -> list[str]:
        """``graph``'s own names claimed, in place: those claimed already renamed, the reads
        of them in its nested subgraphs following; with ``deep``, then each nested subgraph's
        own names likewise. Returns ``graph``'s own names as renamed."""
        mapping: dict[str, str] = {}
        own = defined(graph)
        for name in own:
            if name in self.claimed:
                mapping[name] = self._fresh(name)
            self.claimed.add(mapping.get(name, name))
        if mapping:
            _rename(graph, mapping, deep=False)
        if deep:
            for n in graph.node:
                for sub in _subgraphs(n):
                    self._claim(sub, deep=True)
        return [mapping.get(name, name) for name in own]

    def fresh(self, name: str) -> str:
        """A name unused in the model, claimed: ``name_k``."""
        made = self._fresh(name)
        self.claimed.add(made)
        return made

    def _fresh(self, name: str) -> str:
        k = self._resume.get(name, 0) + 1
        while f"{name}_{k}" in self._avoid or f"{name}_{k}" in self.claimed:
            k += 1
        self._resume[name] = k
        self._avoid.add(f"{name}_{k}")
        return f"{name}_{k}"


def _subgraphs(node: Any) -> list[Any]:
    out: list[Any] = []
    for a in node.attribute:
        out.extend([a.g] if a.type == _GRAPH else list(a.graphs))
    return out


def defined(graph: Any, deep: bool = False) -> list[str]:
    """The names ``graph`` defines (inputs, initializers, node outputs), in their order; with
    ``deep``, those of its nested subgraphs too."""
    names = [v.name for v in graph.input] + [t.name for t in graph.initializer]
    for n in graph.node:
        names.extend(o for o in n.output if o)
        if deep:
            for sub in _subgraphs(n):
                names.extend(defined(sub, True))
    return list(dict.fromkeys(names))


def _all_names(graph: Any) -> set[str]:
    """Every value name written anywhere in ``graph`` and its nested subgraphs."""
    names = {v.name for v in [*graph.input, *graph.output, *graph.value_info]}
    names |= {t.name for t in graph.initializer}
    for n in graph.node:
        names.update(n.input, n.output)
        for sub in _subgraphs(n):
            names |= _all_names(sub)
    return names


def _rename(graph: Any, mapping: dict[str, str], deep: bool) -> None:
    """``graph``'s names in ``mapping`` replaced in place, in its nested subgraphs too: all
    of them (``deep``: the mapping covers their own names), or those a subgraph reads from
    outside (a name it defines itself is its own)."""
    for v in [*graph.input, *graph.output, *graph.value_info, *graph.initializer]:
        v.name = mapping.get(v.name, v.name)
    for n in graph.node:
        for field in (n.input, n.output):
            names = [mapping.get(v, v) for v in field]
            del field[:]
            field.extend(names)
        for sub in _subgraphs(n):
            inner = mapping if deep else {k: v for k, v in mapping.items() if k not in defined(sub)}
            if inner:
                _rename(sub, inner, deep)


class _Ordered(NamedTuple):
    """A node as ``topological_order`` sees it: its outer-scope reads counted as inputs."""

    name: str
    op_type: str
    input: list[str]
    output: Sequence[str]


def ordered(nodes: Sequence[Any], defined: Iterable[str]) -> list[int]:
    """``topological_order`` of ``nodes``, where a node with subgraphs also follows the
    writers of the outer-scope values its subgraphs read."""
    viewed = [
        _Ordered(n.name, n.op_type, [*n.input, *sorted(outer_reads(n))], n.output)
        if any(a.type == _GRAPH for a in n.attribute)
        else n
        for n in nodes
    ]
    return topological_order(viewed, defined)


def branches(node: Node, proto: Any) -> dict[str, Any]:
    """The If node's two branches (GraphProtos) by attribute name. Refused: attributes other
    than the two, or not graphs; a branch whose output count differs from the node's; a
    branch with inputs or sparse initializers."""
    graphs: dict[str, Any] = {}
    for a in proto.attribute:
        if a.name not in _BRANCHES:
            raise refuse(node, f"attribute {a.name!r} is not supported")
        if a.type != _GRAPH:
            raise refuse(
                node, f"attribute {a.name!r}: expected a graph, got attribute type {a.type}"
            )
        graphs[a.name] = a.g
    for name in _BRANCHES:
        if name not in graphs:
            raise refuse(node, f"attribute {name!r}: expected a graph (it is required), got none")
    n_out = len(proto.output)
    for name in _BRANCHES:
        graph = graphs[name]
        if len(graph.output) != n_out:
            raise refuse(
                node,
                f"attribute {name!r}: expected {n_out} outputs (one per output of the node), "
                f"got {len(graph.output)}",
            )
        if len(graph.sparse_initializer):
            raise refuse(node, f"attribute {name!r}: sparse initializers are not supported")
        if len(graph.input):
            raise refuse(
                node,
                f"attribute {name!r}: expected a graph without inputs, got "
                f"{len(graph.input)} ({graph.input[0].name!r}, …)",
            )
    return graphs


def taken_branch(node: Node, proto: Any, cond: Const) -> Any:
    """The branch (a GraphProto) the If node ``proto`` takes, its ``cond`` known at load
    time; refused where ``cond`` is not a one-element bool (or as ``branches``)."""
    graphs = branches(node, proto)
    value = np.asarray(cond.value)
    if value.dtype != np.bool_ or value.size != 1:
        raise refuse(
            node,
            f"input 'cond': expected a single bool, got {value.dtype} of shape {value.shape}",
        )
    return graphs["then_branch" if bool(value.reshape(())) else "else_branch"]


class Bind(NamedTuple):
    """After an inlined branch's nodes: the If node's ``outputs`` are the branch's
    ``sources`` (by ONNX name)."""

    outputs: list[str]
    sources: list[str]


_BOOL = 9  # TensorProto.BOOL


class _If(nn.Module):
    """ONNX If on a condition computed at run time: (y₁, …, y_k) = then(v) if cond else
    else(v), each branch a loaded graph whose inputs are the outer run-time values it reads
    (then ``cond``, which it ignores). Backward runs through the branch the call took: the
    gradients of the values it read (zeros for those only the other branch reads), and its
    parameters' — an outer initializer it reads is the outer graph's own Parameter."""

    def __init__(
        self,
        node: Node,
        then_graph: nn.Graph,
        else_graph: nn.Graph,
        reads: tuple[tuple[int, ...], tuple[int, ...]],
        n_out: int,
    ) -> None:
        super().__init__()
        self.onnx_op = "If"
        self.onnx_node = node
        self.then_branch = then_graph
        self.else_branch = else_graph
        self._reads = reads  # per branch: the If's run-time inputs (after cond) it reads
        self.extra_outputs = tuple(f"output{k}" for k in range(1, n_out))

    def forward_ctx(self, cond: np.ndarray, *values: np.ndarray) -> tuple[Any, Any]:
        """The outputs of the branch ``cond`` selects, run on the values it reads."""
        c = np.asarray(cond)
        if c.dtype != np.bool_ or c.size != 1:
            raise ValueError(
                f"{FUNC}: node {self.onnx_node.name!r} (If): input 'cond': expected a single "
                f"bool, got {c.dtype} of shape {c.shape}"
            )
        taken = 0 if bool(c.reshape(())) else 1
        graph = self.then_branch if taken == 0 else self.else_branch
        y, inner = graph.forward_ctx(*(values[i] for i in self._reads[taken]), c)
        meta = [(np.shape(v), np.asarray(v).dtype) for v in values]
        return y, (taken, inner, c, meta)

    def backward_ctx(self, ctx: Any, grad_output: Any) -> Any:
        """(zeros for cond, ∂ℓ/∂v per value read), through the branch taken."""
        taken, inner, c, meta = ctx
        graph = self.then_branch if taken == 0 else self.else_branch
        got = graph.backward_ctx(inner, grad_output)
        got = got if isinstance(got, tuple) else (got,)
        grads = [np.zeros(shape, dtype) for shape, dtype in meta]
        for i, g in zip(self._reads[taken], got):  # the last, cond's, is left out
            grads[i] = np.asarray(g, dtype=grads[i].dtype).reshape(grads[i].shape)
        out = (np.zeros_like(c), *grads)
        return out if len(out) > 1 else out[0]

    def extra_repr(self) -> str:
        """The ONNX op type."""
        return "onnx_op='If'"


def runtime_if(
    node: Node,
    proto: Any,
    cond: Ref,
    env: dict[str, Operand],
    info: dict[str, Any],
    load: Callable[[bytes], nn.Graph],
    scopes: Scopes,
    own: dict[tuple[str, int], Parameter] | None = None,
) -> tuple[nn.Module, list[str]]:
    """An If node on a run-time condition: each branch written as an ONNX model of its own
    (its inputs the outer values it reads that are computed at run time, with their known
    types and shapes, then cond; the outer constants it reads as Constant nodes, the outer
    float initializers as initializers) and loaded by ``load``; each outer initializer's
    parameter in the loaded branch is then replaced by the outer graph's own, so both train
    one Parameter. Each branch's names are first made unique in the model (``scopes``), so
    that its initializers may be listed by name with the outer graph's. Returns the module
    and the run-time values it reads, cond first. ``own``: as ``load_subgraph``'s."""
    from onnx import TensorProto, helper

    graphs = branches(node, proto)
    known = info["types"].get(cond.name)
    shape = info["shapes"].get(cond.name)
    if (known is not None and known != _BOOL) or (
        shape is not None and None not in shape and int(np.prod(shape)) != 1
    ):
        given = TensorProto.DataType.Name(known) if known is not None else "a value"
        raise refuse(node, f"input 'cond': expected a single bool, got {given} of shape {shape}")
    refs: list[str] = []  # the If's run-time inputs after cond, by ONNX name
    loaded: list[nn.Graph] = []
    reads: list[tuple[int, ...]] = []
    for attr in _BRANCHES:

        def cond_input(graph: Any) -> list[Any]:
            name = _fresh_name("cond", _graph_names(graph))
            return [helper.make_tensor_value_info(name, _BOOL, None)]

        branch, read = load_subgraph(
            node, proto, attr, graphs[attr], env, info, load, scopes, refs, cond_input, own=own
        )
        loaded.append(branch)
        reads.append(read)
    module = _If(node, loaded[0], loaded[1], (reads[0], reads[1]), len(proto.output))
    values = [env[n] for n in refs]
    return module, [cond.name, *(v.name for v in values if isinstance(v, Ref))]


def load_subgraph(
    node: Node,
    proto: Any,
    attr: str,
    graph: Any,
    env: dict[str, Operand],
    info: dict[str, Any],
    load: Callable[[bytes], nn.Graph],
    scopes: Scopes,
    refs: list[str],
    own_inputs: Callable[[Any], list[Any]],
    ranks: list[int | None] | None = None,
    own: dict[tuple[str, int], Parameter] | None = None,
) -> tuple[nn.Graph, tuple[int, ...]]:
    """The subgraph ``graph`` (attribute ``attr`` of ``proto``: an If's branch, a Loop's body)
    loaded as a model of its own, run at run time: its inputs are the outer values it reads
    that are computed at run time (with their known types and shapes), then ``own_inputs``
    of its scoped copy (an If branch: a cond it ignores; a Loop body: its own inputs); the
    outer constants it reads are Constant nodes, the outer float initializers initializers
    whose parameter in the loaded graph is then replaced by the outer graph's own, so both
    train one Parameter. Its names are first made unique in the model (``scopes``), so that
    its initializers may be listed by name with the outer graph's. The outer run-time values
    it reads are appended to ``refs`` (ONNX names) where new; returns the loaded graph and,
    per outer run-time value it reads in its input order, its index in ``refs``. Where
    ``ranks`` is given, it is filled with the rank onnx's shape inference gives each output
    of the subgraph (None where unknown). Where ``own`` is given (the node is inlined in
    every iteration of an unrolled Loop), the subgraph's own initializers are held by the
    Parameters ``own`` holds for them from an earlier iteration (``share_own``)."""
    from onnx import helper, numpy_helper

    for t in graph.initializer:  # as an inlined branch: ONNX's readers take the outer value
        if scopes.shadows(proto, t.name, env):
            owner = "a branch" if attr in _BRANCHES else "the body"
            raise refuse(node, f"{owner}'s initializer {t.name!r} shadows a value")
    graph = scopes.scoped(proto, graph, deep=True)
    outer = sorted(graph_reads(graph))
    inputs, nodes, inits, shared = [], [], [], {}
    for name in outer:
        operand = env.get(name)
        if isinstance(operand, Ref):
            elem = info["types"].get(operand.name)
            if elem is None:
                raise refuse(
                    node,
                    f"attribute {attr!r}: the element type of the outer value {name!r} it "
                    "reads is not known at load time",
                )
            inputs.append(
                helper.make_tensor_value_info(name, elem, info["shapes"].get(operand.name))
            )
            if name not in refs:
                refs.append(name)
        elif isinstance(operand, Const) and operand.param is not None:
            inits.append(numpy_helper.from_array(np.asarray(operand.value), name))
            shared[name] = operand.param
        elif isinstance(operand, Const):
            tensor = numpy_helper.from_array(np.asarray(operand.value), name)
            nodes.append(helper.make_node("Constant", [], [name], value=tensor))
    inputs.extend(own_inputs(graph))
    sub = helper.make_graph(
        [*nodes, *graph.node],
        f"{node.name}.{attr}",
        inputs,
        list(graph.output),
        initializer=[*inits, *graph.initializer],
        value_info=list(graph.value_info),
    )
    # the file's imports: com.microsoft's ops in a subgraph are read as in the outer graph
    imports = {"": node.opset, **info.get("other_opsets", {})}
    model = helper.make_model(
        sub, opset_imports=[helper.make_opsetid(d, v) for d, v in imports.items()]
    )
    if ranks is not None:
        ranks.extend(_output_ranks(model))
    try:
        loaded = load(model.SerializeToString())
    except ValueError as err:
        inner = str(err).removeprefix(f"{FUNC}: ")
        raise refuse(node, f"attribute {attr!r}: {inner}") from None
    names = loaded.initializer_names  # type: ignore[attr-defined]
    views = loaded.held_as_views  # type: ignore[attr-defined]
    held_views = info.setdefault("views in subgraphs", {})  # id(outer Parameter) -> its view
    for name, param in shared.items():
        if name in views:  # a view (a MatMul's weight transposed): the subgraphs share one
            if id(param) not in held_views:
                held_views[id(param)] = (node, name, param, _held(loaded, names[name]))
                continue
            if _share(loaded, names[name], held_views[id(param)][3]):
                continue
        if name in views or not _share(loaded, names.get(name), param):
            raise refuse(
                node,
                f"attribute {attr!r}: the outer initializer {name!r} is held reshaped or "
                "transposed (a MatMul's weight as its Linear's) in a subgraph run at run "
                "time, which would train a copy of it apart from the outer graph's (not "
                "supported)",
            )
    if own is not None:
        share_own(node, attr, loaded, graph, own)
    return loaded, tuple(refs.index(n) for n in outer if isinstance(env.get(n), Ref))


def _own_initializers(graph: Any) -> list[str]:
    """The names of ``graph``'s initializers and, recursively, its nested subgraphs', in an
    order that depends only on the graph's structure (not on its names)."""
    names = [t.name for t in graph.initializer]
    for n in graph.node:
        for sub in _subgraphs(n):
            names.extend(_own_initializers(sub))
    return names


def share_own(
    node: Node, attr: str, loaded: nn.Graph, graph: Any, own: dict[tuple[str, int], Parameter]
) -> None:
    """The Parameters of ``loaded`` (the subgraph ``graph``, attribute ``attr`` of an If or
    Loop inlined in every iteration of an unrolled Loop, scoped apart in each) that hold its
    own initializers, replaced by those an earlier iteration's copy holds for the same
    initializer (by its place in the subgraph: ``own``, filled by the first), so that the
    iterations train one Parameter per initializer, as the file has one, its gradient
    summed over them. Refused: a later iteration holding an initializer in another shape or
    values (a view of it whose shape differs from iteration to iteration)."""
    names = loaded.initializer_names  # type: ignore[attr-defined]
    for j, name in enumerate(_own_initializers(graph)):
        key = names.get(name)
        held = _held(loaded, key) if key is not None else None
        if not isinstance(held, Parameter):
            continue
        first = own.setdefault((attr, j), held)
        if first is held:
            continue
        if (
            first.shape != held.shape
            or first.dtype != held.dtype
            or not np.array_equal(first.data, held.data)
        ):
            raise refuse(
                node,
                f"attribute {attr!r}: its initializer {name!r} is held in another shape or "
                f"values ({held.shape}, where an earlier iteration of the unrolled Loop around "
                f"it holds {first.shape}): the two would train apart (not supported)",
            )
        _replace(loaded, held, first)


def _output_ranks(model: Any) -> list[int | None]:
    """The rank of each output of ``model`` as onnx's shape inference tells it (None where
    it cannot, or fails)."""
    from onnx import shape_inference

    try:
        outputs = shape_inference.infer_shapes(model, strict_mode=False).graph.output
    except Exception:  # inference is a convenience: without it, ranks stay unknown
        return [None] * len(model.graph.output)
    return [
        len(v.type.tensor_type.shape.dim) if v.type.tensor_type.HasField("shape") else None
        for v in outputs
    ]


def _graph_names(graph: Any) -> set[str]:
    """Every name a branch writes or reads."""
    names = {o for n in graph.node for o in n.output} | {t.name for t in graph.initializer}
    return names | graph_reads(graph) | {v for n in graph.node for v in n.input}


def _fresh_name(base: str, taken: set[str]) -> str:
    name, k = base, 0
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    return name


def _share(graph: nn.Graph, key: str | None, param: Parameter) -> bool:
    """The parameter held at ``key`` in ``graph`` replaced by ``param`` (the outer graph's,
    of the same values) wherever ``graph`` holds it, where it is held there as read; False
    where ``key`` names a parameter of other values, shape or type (the loader kept a
    reshaped or transposed view of it trainable).
    No key: the branch holds no parameter of it (read only as a constant, e.g. by Shape)."""
    if key is None:
        return True
    held = _held(graph, key)
    if not isinstance(held, Parameter):
        return True
    if (
        held.shape != param.shape
        or held.dtype != param.dtype
        or not np.array_equal(held.data, param.data)
    ):
        return False
    _replace(graph, held, param)
    return True


def _replace(graph: nn.Module, held: Parameter, param: Parameter) -> None:
    """``held`` replaced by ``param`` wherever ``graph`` holds it (a nested subgraph too)."""
    for _, module in graph.named_modules():
        for name, value in list(vars(module).items()):
            if value is held:
                setattr(module, name, param)


def check_views_apart(graph: nn.Graph, info: dict[str, Any]) -> None:
    """Refuses a graph that holds an outer initializer itself and, in a run-time If's
    branches, a view of it (a MatMul's weight transposed for its Linear): the two would train
    apart. The branches share one view; the outer graph may read it neither as it is nor
    through a view of its own."""
    held = {id(p) for p in graph.parameters()}
    for node, name, param, _ in info.get("views in subgraphs", {}).values():
        of = {id(param)}  # the parameter and the outer graph's views of it
        for old, new in info["derived"]:  # in load order: a view of a view follows its source
            if id(old) in of:
                of.add(id(new))
        if of & held:
            raise refuse(
                node,
                f"the outer initializer {name!r} is read as it is (by the graph, or a "
                "subgraph that keeps it untransposed) and, reshaped or "
                "transposed (a MatMul's weight as its Linear's), by a subgraph run at run "
                "time (an If's branch, a Loop's body): the two would train apart (not "
                "supported)",
            )


def _held(graph: nn.Graph, key: str) -> Any:
    """What ``graph`` holds at the state_dict key ``key``."""
    owner: Any = graph
    for part in key.split("."):
        owner = getattr(owner, part, None)
    return owner


def if_(node: Node, attrs: Any, ins: list[Operand], info: dict[str, Any]) -> Any:
    """The If converter's place in the registry: the loader reads If nodes itself (their
    attributes are graphs, and a branch reads the graph being built), through
    ``taken_branch`` and ``runtime_if``."""
    raise refuse(node, "read by the loader (taken_branch, runtime_if)")


#: A Loop whose trip count is known at load time and at most this is unrolled at load time
#: (where its condition is too): each iteration's body inlined, with names of its own.
UNROLL_LIMIT = 64


def loop_body(node: Node, proto: Any, ins: list[Operand]) -> Any:
    """The Loop node's body (a GraphProto), checked against the node: inputs (iteration_num,
    condition, one per loop-carried value), outputs (condition, the loop-carried values, at
    least none scan outputs) and no other attribute. Refused: neither M nor cond given (a
    loop without end), and sparse initializers."""
    body = None
    for a in proto.attribute:
        if a.name != "body":
            raise refuse(node, f"attribute {a.name!r} is not supported")
        if a.type != _GRAPH:
            raise refuse(node, f"attribute 'body': expected a graph, got attribute type {a.type}")
        body = a.g
    if body is None:
        raise refuse(node, "attribute 'body': expected a graph (it is required), got none")
    n_carried = len(ins) - 2
    if n_carried < 0:
        raise refuse(node, f"inputs: expected M, cond and the initial values, got {len(ins)}")
    if len(body.input) != n_carried + 2:
        raise refuse(
            node,
            f"attribute 'body': expected {n_carried + 2} inputs (iteration_num, condition and "
            f"one per loop-carried value), got {len(body.input)}",
        )
    if len(body.output) != 1 + len(proto.output) or len(proto.output) < n_carried:
        raise refuse(
            node,
            f"attribute 'body': expected {1 + len(proto.output)} outputs (condition, then one "
            f"per output of the node), got {len(body.output)}",
        )
    if len(body.sparse_initializer):
        raise refuse(node, "attribute 'body': sparse initializers are not supported")
    if ins[0] is None and ins[1] is None:
        raise refuse(node, "inputs 'M' and 'cond': expected at least one, got neither (no end)")
    return body


def trip_count(node: Node, m: Operand) -> int | None:
    """M as an int where it is known at load time (None where absent or run-time)."""
    if not isinstance(m, Const):
        return None
    value = np.asarray(m.value)
    if value.size != 1 or value.dtype.kind not in "iu":
        raise refuse(
            node, f"input 'M': expected a single integer, got {value.dtype} of shape {value.shape}"
        )
    return int(value.reshape(()))


def unrollable(
    node: Node, proto: Any, body: Any, ins: list[Operand], env: dict[str, Operand]
) -> bool:
    """Whether the Loop unrolls at load time: M known and at most ``UNROLL_LIMIT``, cond
    known or absent, and the body's condition output known in every iteration: the body's
    condition input passed on (directly or through Identity), a Constant, an initializer of
    the body, or an outer value known at load time."""
    trips = trip_count(node, ins[0])
    if trips is None or trips > UNROLL_LIMIT or isinstance(ins[1], Ref):
        return False
    out = body.output[0].name
    cond_in = body.input[1].name
    writers = {o: n for n in body.node for o in n.output}
    seen: set[str] = set()
    while out in writers and writers[out].op_type == "Identity" and out not in seen:
        seen.add(out)
        out = writers[out].input[0]
    if out == cond_in or out in {t.name for t in body.initializer}:
        return True
    if out in writers:
        return writers[out].op_type == "Constant"
    return isinstance(env.get(out), Const)  # an outer value (TorchScript's true)


class LoopStep(NamedTuple):
    """In the loader's queue: the unrolled Loop ``proto`` before its iteration ``k`` (of at
    most ``trips``); ``cond`` names its condition (None: true), ``carried`` its loop-carried
    values, ``scans`` per scan output the value of each iteration so far (ONNX names)."""

    proto: Any
    body: Any
    k: int
    trips: int
    cond: str | None
    carried: list[str]
    scans: list[list[str]]


def stacked(proto: Any, scans: list[list[str]], opset: int, scopes: Scopes) -> list[Any]:
    """NodeProtos that stack an unrolled Loop's scan outputs: per output (that the node
    names), each iteration's value unsqueezed on a new first axis, then concatenated."""
    from onnx import helper, numpy_helper

    n_carried = len(proto.output) - len(scans)
    nodes: list[Any] = []
    axes = scopes.fresh("loop_axes")
    if opset >= 13:
        zero = numpy_helper.from_array(np.array([0], np.int64), axes)
        nodes.append(helper.make_node("Constant", [], [axes], value=zero))
    for j, values in enumerate(scans):
        if not proto.output[n_carried + j]:  # an output not listed: not computed
            continue
        parts = []
        for v in values:
            part = scopes.fresh(f"{v}_scan")
            if opset >= 13:
                nodes.append(helper.make_node("Unsqueeze", [v, axes], [part]))
            else:
                nodes.append(helper.make_node("Unsqueeze", [v], [part], axes=[0]))
            parts.append(part)
        nodes.append(helper.make_node("Concat", parts, [proto.output[n_carried + j]], axis=0))
    return nodes


class _Loop(nn.Module):
    """ONNX Loop run at run time: the body, a loaded graph, runs iteration by iteration,
    t = 0, 1, … while t < M (where given) and the condition holds (where given; then the
    body's condition output):

        (c, v, s_t) = body(outer, t, c, v)

    outputs the final loop-carried v, then each scan output's s_t stacked along a new first
    axis (shape (T, …); T = 0 iterations: the shape inferred at load time). Inputs: the
    run-time values the node reads, in ``slots``' order; an initial value that is a float
    initializer is a Parameter of the module (``initial<k>``, k its input's index), read when
    the loop runs and trained (its gradient is the one the first iteration passes back, which
    sums every later iteration's through the chain of carried values). Backward runs the
    body's backward per iteration in reverse, from each iteration's own context."""

    def __init__(
        self,
        node: Node,
        body: nn.Graph,
        slots: list[tuple[str, Any]],
        reads: tuple[int, ...],
        n_carried: int,
        empty: list[tuple[tuple[int, ...], Any] | None],
        cond_output: str = "condition",
    ) -> None:
        super().__init__()
        self.onnx_op = "Loop"
        self.onnx_node = node
        self.body = body
        for k, slot in enumerate(slots):  # an initializer's Parameter: held, named by its input
            if slot[0] == "param":
                setattr(self, f"initial{k}", slot[1])
                slots = [*slots[:k], ("param", f"initial{k}"), *slots[k + 1 :]]
        # M, cond, each initial value: ("arg", i), ("const", a), ("param", attr), ("none", None)
        self._slots = slots
        self._cond_output = cond_output  # the body's condition output (ONNX name)
        self._reads = reads  # the body's outer run-time inputs: indices of the node's inputs
        self._n_carried = n_carried
        self._empty = empty  # per scan output: its (shape after the first axis, dtype)
        self.extra_outputs = tuple(f"output{k}" for k in range(1, n_carried + len(empty)))

    def _fail(self, what: str) -> ValueError:
        return ValueError(f"{FUNC}: node {self.onnx_node.name!r} (Loop): {what}")

    def forward_ctx(self, *args: np.ndarray) -> tuple[Any, Any]:
        """The final loop-carried values and the stacked scan outputs."""
        given: list[Any] = [self._given(slot, args) for slot in self._slots]
        m, c0, *carried = given
        carried = [np.asarray(v) for v in carried]  # a 0-d result of NumPy is a scalar
        trips = None
        if m is not None:
            m = np.asarray(m)
            if m.dtype.kind not in "iu" or m.size != 1:
                raise self._fail(
                    f"input 'M': expected a single integer (int64), got {m.dtype} of shape "
                    f"{m.shape}"
                )
            trips = int(m.reshape(()))
        cond = np.array(True) if c0 is None else self._single_bool("input 'cond'", c0)
        outer = [args[i] for i in self._reads]
        scans: list[list[np.ndarray]] = [[] for _ in self._empty]
        contexts = []
        t = 0
        while (trips is None or t < trips) and bool(cond):
            y, ctx = self.body.forward_ctx(*outer, np.array(t, np.int64), cond, *carried)
            contexts.append(ctx)
            cond = self._single_bool(f"the body's condition output {self._cond_output!r}", y[0])
            carried = [np.asarray(v) for v in y[1 : 1 + self._n_carried]]
            for j, s in enumerate(y[1 + self._n_carried :]):
                scans[j].append(np.asarray(s))
            t += 1
        if t == 0:  # the initial values returned: copies, not a held Parameter's own array
            carried = [np.array(v) for v in carried]
        stacks = []
        for j, values in enumerate(scans):
            if not values:
                if self._empty[j] is None:
                    raise self._fail(
                        f"scan output {j}: zero iterations, and its shape is not known at "
                        "load time (the stacked output's shape is (0, …) with the body's)"
                    )
                shape, dtype = self._empty[j]  # type: ignore[misc]
                stacks.append(np.zeros((0, *shape), dtype))
                continue
            shapes = {v.shape for v in values}
            if len(shapes) > 1:
                raise self._fail(
                    f"scan output {j}: expected the same shape in every iteration, got "
                    f"{sorted(shapes)}"
                )
            stacks.append(np.stack(values))
        ys = (*carried, *stacks)
        metas = [(np.shape(a), np.asarray(a).dtype) for a in args]
        return (ys if len(ys) > 1 else ys[0]), (contexts, metas, [len(v) for v in scans])

    def _given(self, slot: tuple[str, Any], args: tuple[np.ndarray, ...]) -> Any:
        """The value of one of the node's inputs: a run-time argument, a constant, the
        current data of a held Parameter, or None (absent)."""
        kind, value = slot
        if kind == "arg":
            return args[value]
        if kind == "param":
            return getattr(self, value).data
        return value

    def _single_bool(self, what: str, value: Any) -> np.ndarray:
        """``value`` as a 0-d bool array; refused (naming ``what``) where it is not one
        bool."""
        c = np.asarray(value)
        if c.dtype != np.bool_ or c.size != 1:
            raise self._fail(f"{what}: expected a single bool, got {c.dtype} of shape {c.shape}")
        return c.reshape(())

    def backward_ctx(self, ctx: Any, grad_output: Any) -> Any:
        """∂ℓ/∂ of the node's inputs: the body's backward from the last iteration to the
        first, each from its own context; a loop-carried value's gradient passed back to
        the iteration before, an outer value's summed over iterations."""
        contexts, metas, _ = ctx
        n_out = self._n_carried + len(self._empty)
        gs = list(grad_output) if n_out > 1 else [grad_output]
        grads = [np.zeros(shape, dtype) for shape, dtype in metas]
        g_carried: list[Any] = [None if g is None else np.asarray(g) for g in gs[: self._n_carried]]
        g_scans = gs[self._n_carried :]
        n_outer = len(self._reads)
        for t in range(len(contexts) - 1, -1, -1):
            g_out = (None, *g_carried, *(None if g is None else g[t] for g in g_scans))
            metas_out = contexts[t][3]  # the body's outputs' (shape, dtype): none for ints
            g_out = tuple(
                g if g is not None and np.issubdtype(dtype, np.floating) else None
                for g, (_, dtype) in zip(g_out, metas_out)
            )
            got = self.body.backward_ctx(contexts[t], g_out)
            got = got if isinstance(got, tuple) else (got,)
            for i, g in zip(self._reads, got[:n_outer]):
                grads[i] = grads[i] + np.asarray(g, grads[i].dtype).reshape(grads[i].shape)
            g_carried = [None if g is None else np.asarray(g) for g in got[n_outer + 2 :]]
        for slot, g in zip(self._slots[2:], g_carried):
            if slot[0] == "arg" and g is not None:
                i = slot[1]
                grads[i] = grads[i] + np.asarray(g, grads[i].dtype).reshape(grads[i].shape)
            elif slot[0] == "param" and g is not None:  # an initializer's: trained
                p = getattr(self, slot[1])
                p.grad += np.asarray(g, p.dtype).reshape(p.shape)
        return tuple(grads) if len(grads) > 1 else grads[0]

    def extra_repr(self) -> str:
        """The ONNX op type."""
        return "onnx_op='Loop'"


_INT64 = 7  # TensorProto.INT64


def runtime_loop(
    node: Node,
    proto: Any,
    body: Any,
    ins: list[Operand],
    env: dict[str, Operand],
    info: dict[str, Any],
    load: Callable[[bytes], nn.Graph],
    scopes: Scopes,
    own: dict[tuple[str, int], Parameter] | None = None,
) -> tuple[nn.Module, list[str]]:
    """A Loop run at run time: its body loaded once as a graph (``load_subgraph``; its own
    inputs typed from the node's: iteration_num int64, condition bool, each loop-carried
    value as its initial value, of unknown sizes since they may change across iterations).
    Returns the module and the run-time values it reads (ONNX names). ``own``: as
    ``load_subgraph``'s."""
    from onnx import helper

    refs: list[str] = []
    slots: list[tuple[str, Any]] = []
    for name, operand in zip(proto.input, ins):
        if isinstance(operand, Ref):
            if name not in refs:
                refs.append(name)
            slots.append(("arg", refs.index(name)))
        elif isinstance(operand, Const) and operand.param is not None and len(slots) >= 2:
            slots.append(("param", operand.param))  # a float initializer: trained
        elif isinstance(operand, Const):
            slots.append(("const", np.asarray(operand.value)))
        else:
            slots.append(("none", None))
    n_carried = len(ins) - 2
    if isinstance(ins[0], Ref):  # ONNX's M is int64 (onnxruntime refuses any other type)
        known = info["types"].get(ins[0].name)
        if known is not None and known != _INT64:
            given = helper.tensor_dtype_to_np_dtype(known)
            raise refuse(node, f"input 'M': expected a single int64, got {given}")

    def body_inputs(graph: Any) -> list[Any]:
        made = []
        for k, v in enumerate(graph.input):
            if k < 2:
                made.append(helper.make_tensor_value_info(v.name, (_INT64, _BOOL)[k], []))
                continue
            operand = ins[k]
            if isinstance(operand, Ref):
                elem = info["types"].get(operand.name)
                dims = info["shapes"].get(operand.name)
            else:
                value = np.asarray(operand.value)  # type: ignore[union-attr]
                elem, dims = helper.np_dtype_to_tensor_dtype(value.dtype), value.shape
            elem = elem or v.type.tensor_type.elem_type
            if not elem:
                raise refuse(
                    node, f"input {proto.input[k]!r}: its element type is not known at load time"
                )
            rank = None if dims is None else [None] * len(dims)
            made.append(helper.make_tensor_value_info(v.name, elem, rank))
        return made

    ranks: list[int | None] = []
    loaded, reads = load_subgraph(
        node, proto, "body", body, env, info, load, scopes, refs, body_inputs, ranks, own
    )
    # A carried value whose rank the body keeps (its output's inferred rank is its initial
    # value's) has that rank after the loop; a scan output one more than its body output's.
    # onnx's inference leaves them unknown where the body declares no output shapes
    # (TorchScript's), and a MatMul after the loop then reads its weight as it is, where
    # the same weight inside the body is a Linear's transposed view: held apart.
    for k, name in enumerate(proto.output):
        if not name or info["onnx_shapes"].get(name) is not None:
            continue
        rank = ranks[1 + k] if 1 + k < len(ranks) else None
        if k < n_carried:
            operand = ins[2 + k]
            if isinstance(operand, Ref):
                dims = info["shapes"].get(operand.name)
            else:
                dims = np.shape(operand.value) if isinstance(operand, Const) else None
            if dims is None or rank != len(dims):
                continue
        elif rank is None:
            continue
        else:
            rank += 1
        info["onnx_shapes"][name] = (None,) * rank
    empty: list[tuple[tuple[int, ...], Any] | None] = []
    for k, name in enumerate(proto.output[n_carried:]):
        declared = body.output[1 + n_carried + k].type.tensor_type
        shape = info["onnx_shapes"].get(name)
        elem = info["onnx_types"].get(name) or declared.elem_type
        tail = None if shape is None else shape[1:]
        if (tail is None or None in tail) and declared.HasField("shape"):
            dims = declared.shape.dim
            tail = tuple(int(d.dim_value) if d.HasField("dim_value") else None for d in dims)
        known = tail is not None and None not in tail and elem
        empty.append((tail, helper.tensor_dtype_to_np_dtype(elem)) if known else None)  # type: ignore[arg-type]
    module = _Loop(node, loaded, slots, reads, n_carried, empty, body.output[0].name)
    return module, refs


def loop(node: Node, attrs: Any, ins: list[Operand], info: dict[str, Any]) -> Any:
    """The Loop converter's place in the registry: the loader reads Loop nodes itself (their
    body is a graph reading the graph being built), through ``LoopStep`` and
    ``runtime_loop``."""
    raise refuse(node, "read by the loader (LoopStep, runtime_loop)")
