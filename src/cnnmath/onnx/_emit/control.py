"""A run-time If or Loop that ``cnnmath.onnx.load`` read (``_If``, both branches loaded;
``_Loop``, its body loaded) written back as an ONNX If or Loop: each subgraph walked under
the node's name ("the_if.then_branch.…", "the_loop.body.…"), run on the example input's values
it reads to learn its shapes (a Loop's body: its first iteration's), its nodes written by their
own emitters into a subgraph that reads the outer values by name."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import nn
from .._ops.control import _If, _Loop
from ._writer import _Writer


def _subgraph(
    w: _Writer, node: nn.Node, attr: str, graph: Any, reads: tuple[str, ...], own: int
) -> Any:
    """``graph`` (``attr`` of the node) as a GraphProto: walked with its inputs named
    ``reads`` (those with values in ``w.values``), run on those values, its nodes emitted;
    its last ``own`` inputs are the subgraph's own inputs (a Loop body's), the others outer
    values it reads by name."""
    from . import _emitter

    prefix = f"{node.name}.{attr}"
    walked = list(graph._walk(prefix, reads, None))
    env = {v: w.values[v] for v in reads}
    modes = [(sub, sub.training) for sub in graph.modules()]
    graph.eval()  # as save traces the outer graph
    try:
        for n in walked:
            y = n.module.forward_ctx(*(env[v] for v in n.inputs))[0]
            if n.extra_outputs:
                env.update(zip((n.output, *n.extra_outputs), y))
            else:
                env[n.output] = y
    except Exception as err:  # any error of the branch's ops (not KeyboardInterrupt &c.)
        raise ValueError(
            f"save: model: node {node.name!r} (a run-time {type(node.module).__name__[1:]}): "
            f"its {attr} does not run on the example input's values, which save needs to learn its "
            f"shapes ({err})"
        ) from None
    finally:
        for sub_module, mode in modes:
            sub_module.training = mode
    sub = _Writer(w.onnx, w.opset, w.dtype, w.keys)
    sub.initializers = w.initializers  # the outer graph's: a subgraph reads them by name
    sub._sources = w._sources
    sub.shapes = {**w.shapes, **{v: np.shape(a) for v, a in env.items()}}
    sub.dtypes = {**w.dtypes, **{v: np.asarray(a).dtype for v, a in env.items()}}
    sub.values = env
    for n in walked:
        _emitter(n)(sub, n, [sub.shapes[v] for v in n.inputs], sub.shapes[n.output])
    for made in sub.nodes:  # node names as the branch's own (module names on reload)
        if made.name.startswith(f"{prefix}."):
            made.name = made.name[len(prefix) + 1 :]
    outputs = []
    for i, v in enumerate(graph._require_outputs()):
        if v in graph._inputs:  # an input returned as it is: written by a node
            read = reads[graph._inputs.index(v)]
            name = sub.node("Identity", [read], f"{prefix}.output{i}", f"{prefix}.output{i}")
            dtype = sub.dtypes[read]
        else:
            name, dtype = f"{prefix}.{v}", sub.dtypes[f"{prefix}.{v}"]
        elem = w.onnx.helper.np_dtype_to_tensor_dtype(dtype)
        outputs.append(w.onnx.helper.make_tensor_value_info(name, elem, None))
    inputs = [  # a Loop's iteration number and condition scalars, its carried values' sizes
        w.onnx.helper.make_tensor_value_info(  # free (they may change per iteration)
            v,
            w.onnx.helper.np_dtype_to_tensor_dtype(sub.dtypes[v]),
            [] if k < 2 else [None] * len(sub.shapes[v]),
        )
        for k, v in enumerate(reads[len(reads) - own :])
    ]
    return w.onnx.helper.make_graph(sub.nodes, prefix, inputs, outputs)


def _if(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """If(cond) with then_branch and else_branch subgraphs; the parameters both branches
    share with the outer graph written once, as its initializers (a subgraph reads them by
    name). Refused where a branch cannot run on the example input's values (the branch not
    taken there is run too, to learn its shapes)."""
    m = node.module
    assert isinstance(m, _If)
    cond, *values = node.inputs
    graphs = {}
    for k, attr in enumerate(("then_branch", "else_branch")):
        reads = (*(values[i] for i in m._reads[k]), cond)
        graphs[attr] = _subgraph(w, node, attr, getattr(m, attr), reads, 0)
    made = w.onnx.helper.make_node(
        "If", [cond], [node.output, *node.extra_outputs], name=node.name, **graphs
    )
    w.nodes.append(made)


def _loop(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """Loop(M, cond, v_initial…) with its body subgraph (inputs: iteration number, condition,
    loop-carried values; outer values and parameters read by name); a constant M, cond or
    initial value as a Constant node, an initial value held as a Parameter as an initializer
    (named by its state_dict key). The body is run once, on the initial values, to learn its
    values' shapes (which the subgraph declares as unknown: they may change per
    iteration)."""
    m = node.module
    assert isinstance(m, _Loop)
    args = node.inputs
    given: list[str] = []
    for k, slot in enumerate(m._slots):
        if slot[0] == "arg":
            given.append(args[slot[1]])
        elif slot[0] == "param":  # an initial value that trains: an initializer
            name = w.state(m, slot[1], node)
            value = getattr(m, slot[1]).data
            w.values[name], w.shapes[name], w.dtypes[name] = value, value.shape, value.dtype
            given.append(name)
        elif slot[0] == "const":
            name = w.fixed(f"{node.name}.input{k}", slot[1])
            w.values[name], w.shapes[name] = slot[1], np.shape(slot[1])
            w.dtypes[name] = np.asarray(slot[1]).dtype
            given.append(name)
        else:
            given.append("")
    prefix = f"{node.name}.body"
    own = [f"{prefix}.iteration", f"{prefix}.condition"]
    own += [f"{prefix}.carried{j}" for j in range(len(given) - 2)]
    w.values[own[0]] = np.array(0, np.int64)
    w.values[own[1]] = np.array(True)
    for name, source in zip(own[2:], given[2:]):
        w.values[name] = w.values[source]
    reads = (*(args[i] for i in m._reads), *own)
    body = _subgraph(w, node, "body", m.body, reads, len(own))
    made = w.onnx.helper.make_node(
        "Loop", given, [node.output, *node.extra_outputs], name=node.name, body=body
    )
    w.nodes.append(made)
