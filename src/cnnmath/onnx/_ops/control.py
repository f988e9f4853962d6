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
is never read beyond its output count. A condition computed at run time is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from .._checks import topological_order
from ._node import Const, Node, Operand, refuse

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
            found |= _graph_reads(sub)
    return found


def _graph_reads(graph: Any) -> set[str]:
    defined = {v.name for v in graph.input} | {t.name for t in graph.initializer}
    defined |= {o for n in graph.node for o in n.output if o}
    read = {v for n in graph.node for v in n.input if v} | {o.name for o in graph.output}
    for n in graph.node:
        read |= outer_reads(n)
    return read - defined


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


def taken_branch(node: Node, proto: Any, cond: Operand) -> Any:
    """The branch (a GraphProto) the If node ``proto`` takes, its ``cond`` known at load
    time. Refused: attributes other than the two branches, or not graphs; a branch whose
    output count differs from the node's; ``cond`` not a one-element bool; ``cond`` computed
    at run time."""
    branches: dict[str, Any] = {}
    for a in proto.attribute:
        if a.name not in _BRANCHES:
            raise refuse(node, f"attribute {a.name!r} is not supported")
        if a.type != _GRAPH:
            raise refuse(
                node, f"attribute {a.name!r}: expected a graph, got attribute type {a.type}"
            )
        branches[a.name] = a.g
    for name in _BRANCHES:
        if name not in branches:
            raise refuse(node, f"attribute {name!r}: expected a graph (it is required), got none")
    n_out = len(proto.output)
    for name in _BRANCHES:
        given = len(branches[name].output)
        if given != n_out:
            raise refuse(
                node,
                f"attribute {name!r}: expected {n_out} outputs (one per output of the node), "
                f"got {given}",
            )
    if not isinstance(cond, Const):
        raise refuse(
            node,
            "input 'cond': a condition computed at run time is not supported (only one known "
            "at load time: an initializer, a Constant, or a value computed from them alone)",
        )
    value = np.asarray(cond.value)
    if value.dtype != np.bool_ or value.size != 1:
        raise refuse(
            node,
            f"input 'cond': expected a single bool, got {value.dtype} of shape {value.shape}",
        )
    graph = branches["then_branch" if bool(value.reshape(())) else "else_branch"]
    if len(graph.sparse_initializer):
        raise refuse(node, "sparse initializers in a branch are not supported")
    if len(graph.input):
        raise refuse(
            node, f"a branch has no inputs, got {len(graph.input)} ({graph.input[0].name!r}, …)"
        )
    return graph


class Bind(NamedTuple):
    """After an inlined branch's nodes: the If node's ``outputs`` are the branch's
    ``sources`` (by ONNX name)."""

    outputs: list[str]
    sources: list[str]


def if_(node: Node, attrs: Any, ins: list[Operand], info: dict[str, Any]) -> Any:
    """The If converter proper: the loader inlines an If whose condition it knows before
    reaching here, so what reaches here has a condition computed at run time (refused)."""
    raise refuse(
        node,
        "input 'cond': a condition computed at run time is not supported (only one known "
        "at load time: an initializer, a Constant, or a value computed from them alone)",
    )
