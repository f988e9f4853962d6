"""The quantized ops' outputs that ``_as_read`` cannot write on their own: DynamicQuantizeLinear's
y_scale and y_zero_point, each a module of its own in the loaded graph (``_DynamicQuantize``
with ``output`` 1 or 2)."""

from __future__ import annotations

from ... import nn
from .._ops.qlinear import _DynamicQuantize
from ._writer import _Writer


def _dynamic_quantize_part(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """Output i of DynamicQuantizeLinear(x) → (y, y_scale, y_zero_point): output i of a
    DynamicQuantizeLinear of the same x already written, renamed to the node's output
    where it held a placeholder, else read through an Identity (the node has no
    attributes: each of x gives the same three values); or else the whole node, output i
    under the node's output name, the others under placeholders. Saved and loaded again,
    the file is the same: the parts add no nodes."""
    m = node.module
    assert isinstance(m, _DynamicQuantize)
    x = node.inputs[0]
    for made in w.nodes:
        if made.op_type == "DynamicQuantizeLinear" and list(made.input) == [x]:
            if made.output[m.output].endswith(f"/output{m.output}"):  # a placeholder (walk
                made.output[m.output] = node.output  # names hold no "/"): this part's name
            else:  # (another DynamicQuantizeLinear node of the same x, read apart)
                w.node("Identity", [made.output[m.output]], node.output, node.name)
            return
    outputs = [node.output if j == m.output else f"{node.output}/output{j}" for j in range(3)]
    name = f"{node.name}_DynamicQuantizeLinear"  # (not the part's: load names y after it)
    w.nodes.append(w.onnx.helper.make_node("DynamicQuantizeLinear", [x], outputs, name=name))
