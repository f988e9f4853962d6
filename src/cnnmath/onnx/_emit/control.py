"""A run-time If that ``cnnmath.onnx.load`` read (``_If``, both branches loaded) written back
as an ONNX If: each branch graph walked under the If's node name ("the_if.then_branch.…"),
run on the example input's values it reads to learn its shapes, its nodes written by their
own emitters into a subgraph that reads the outer values by name. A run-time Loop (``_Loop``)
is refused: its body's shapes may change from one iteration to the next, which a walk of one
iteration cannot tell its emitters."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import nn
from .._ops.control import _If, _Loop
from ._writer import _Writer


def _if(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """If(cond) with then_branch and else_branch subgraphs; the parameters both branches
    share with the outer graph written once, as its initializers (a subgraph reads them by
    name). Refused where a branch cannot run on the example input's values (the branch not
    taken there is run too, to learn its shapes)."""
    from . import _emitter

    m = node.module
    assert isinstance(m, _If)
    cond, *values = node.inputs
    graphs = {}
    for k, attr in enumerate(("then_branch", "else_branch")):
        graph: Any = getattr(m, attr)
        prefix = f"{node.name}.{attr}"
        reads = (*(values[i] for i in m._reads[k]), cond)
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
        except (ValueError, IndexError, TypeError) as err:
            raise ValueError(
                f"save: model: node {node.name!r} (a run-time If): its {attr} does not run on "
                f"the example input's values, which save needs to learn its shapes ({err})"
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
        outputs = []
        for i, v in enumerate(graph._require_outputs()):
            if v in graph._inputs:  # an outer value returned as it is: written by a node
                read = reads[graph._inputs.index(v)]
                name = sub.node("Identity", [read], f"{prefix}.output{i}", f"{prefix}.output{i}")
                dtype = sub.dtypes[read]
            else:
                name, dtype = f"{prefix}.{v}", sub.dtypes[f"{prefix}.{v}"]
            elem = w.onnx.helper.np_dtype_to_tensor_dtype(dtype)
            outputs.append(w.onnx.helper.make_tensor_value_info(name, elem, None))
        graphs[attr] = w.onnx.helper.make_graph(sub.nodes, prefix, [], outputs)
    made = w.onnx.helper.make_node(
        "If", [cond], [node.output, *node.extra_outputs], name=node.name, **graphs
    )
    w.nodes.append(made)


def _loop(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """Refused: a Loop run at run time (an unrolled one is saved as its inlined nodes)."""
    assert isinstance(node.module, _Loop)
    raise ValueError(
        f"save: model: node {node.name!r} (a Loop run at run time) has no ONNX export: its "
        "body is not written back (a Loop unrolled at load time, of a trip count known and "
        "at most 64, is saved as its nodes)"
    )
