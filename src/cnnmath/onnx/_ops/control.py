"""ONNX control flow: the If op.

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
        are renamed (and, ``deep``, those of its nested subgraphs too: a branch loaded as a
        model of its own, whose nested names the load cannot see otherwise); the names it
        defines claimed."""
        from onnx import GraphProto

        mapping: dict[str, str] = {}
        own = defined(graph, deep)
        for name in own:
            if name in self.claimed:
                mapping[name] = self._fresh(name)
            self.claimed.add(mapping.get(name, name))
        copy = GraphProto()
        copy.CopyFrom(graph)
        if mapping:
            _rename(copy, mapping, deep)
        seen = self._within.get(node.output[0], set()) | {mapping.get(n, n) for n in own}
        for n in copy.node:  # the Ifs inlined with this branch see its names
            if n.op_type == "If" and n.output:
                self._within[n.output[0]] = seen
        return copy

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
) -> tuple[nn.Module, list[str]]:
    """An If node on a run-time condition: each branch written as an ONNX model of its own
    (its inputs the outer values it reads that are computed at run time, with their known
    types and shapes, then cond; the outer constants it reads as Constant nodes, the outer
    float initializers as initializers) and loaded by ``load``; each outer initializer's
    parameter in the loaded branch is then replaced by the outer graph's own, so both train
    one Parameter. Each branch's names are first made unique in the model (``scopes``), so
    that its initializers may be listed by name with the outer graph's. Returns the module
    and the run-time values it reads, cond first."""
    from onnx import TensorProto, helper, numpy_helper

    graphs = branches(node, proto)
    known = info["types"].get(cond.name)
    shape = info["shapes"].get(cond.name)
    if (known is not None and known != _BOOL) or (
        shape is not None and None not in shape and int(np.prod(shape)) != 1
    ):
        given = TensorProto.DataType.Name(known) if known is not None else "a value"
        raise refuse(node, f"input 'cond': expected a single bool, got {given} of shape {shape}")
    refs: list[str] = []  # the If's run-time inputs after cond, by ONNX name
    branch_views: dict[int, Any] = {}  # an outer Parameter held as a view: the view
    loaded: list[nn.Graph] = []
    reads: list[tuple[int, ...]] = []
    for attr in _BRANCHES:
        graph = graphs[attr]
        for t in graph.initializer:  # as the inlined branch: ONNX's readers take the outer
            if scopes.shadows(proto, t.name, env):
                raise refuse(node, f"a branch's initializer {t.name!r} shadows a value")
        # its names (its initializers' among them) unique in the model
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
        cond_name = _fresh_name("cond", _graph_names(graph))
        inputs.append(helper.make_tensor_value_info(cond_name, _BOOL, None))
        sub = helper.make_graph(
            [*nodes, *graph.node],
            f"{node.name}.{attr}",
            inputs,
            list(graph.output),
            initializer=[*inits, *graph.initializer],
            value_info=list(graph.value_info),
        )
        model = helper.make_model(sub, opset_imports=[helper.make_opsetid("", node.opset)])
        try:
            branch = load(model.SerializeToString())
        except ValueError as err:
            inner = str(err).removeprefix(f"{FUNC}: ")
            raise refuse(node, f"attribute {attr!r}: {inner}") from None
        names = branch.initializer_names  # type: ignore[attr-defined]
        views = branch.held_as_views  # type: ignore[attr-defined]
        for name, param in shared.items():
            if name in views:  # a view (a MatMul's weight transposed): the branches share one
                if id(param) not in branch_views:
                    branch_views[id(param)] = _held(branch, names[name])
                    info.setdefault("views in branches", []).append((node, name, param))
                    continue
                if _share(branch, names[name], branch_views[id(param)]):
                    continue
            if name in views or not _share(branch, names.get(name), param):
                raise refuse(
                    node,
                    f"attribute {attr!r}: the outer initializer {name!r} is held reshaped or "
                    "transposed (a MatMul's weight as its Linear's) in a branch chosen at run "
                    "time, which would train a copy of it apart from the outer graph's (not "
                    "supported)",
                )
        loaded.append(branch)
        reads.append(tuple(refs.index(n) for n in outer if isinstance(env.get(n), Ref)))
    module = _If(node, loaded[0], loaded[1], (reads[0], reads[1]), len(proto.output))
    values = [env[n] for n in refs]
    return module, [cond.name, *(v.name for v in values if isinstance(v, Ref))]


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
    of the same values), where it is held there as read; False where ``key`` names a
    parameter of another shape or type (the loader kept a reshaped view of it trainable).
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
    *path, last = key.split(".")
    setattr(_held(graph, ".".join(path)) if path else graph, last, param)
    return True


def check_views_apart(graph: nn.Graph, info: dict[str, Any]) -> None:
    """Refuses a graph that holds an outer initializer itself and, in a run-time If's
    branches, a view of it (a MatMul's weight transposed for its Linear): the two would train
    apart. The branches share one view; the outer graph may read it neither as it is nor
    through a view of its own."""
    held = {id(p) for p in graph.parameters()}
    for node, name, param in info.get("views in branches", []):
        of = {id(param)}  # the parameter and the outer graph's views of it
        for old, new in info["derived"]:  # in load order: a view of a view follows its source
            if id(old) in of:
                of.add(id(new))
        if of & held:
            raise refuse(
                node,
                f"the outer initializer {name!r} is read by the graph and, reshaped or "
                "transposed (a MatMul's weight as its Linear's), by a branch chosen at run "
                "time: the two would train apart (not supported)",
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
