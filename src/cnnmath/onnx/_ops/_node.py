"""The vocabulary every converter speaks: a node (:class:`Node`), its operands — a value
computed at run time (:class:`Ref`) or known at load time (:class:`Const`) — and the
:class:`Refusal` raised, by :func:`refuse`, for a node cnnmath cannot compute exactly.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ...nn import Parameter
from .._checks import FUNC


class Ref(NamedTuple):
    """A value the graph computes at run time, by its name in the cnnmath graph."""

    name: str


class Const(NamedTuple):
    """A value known at load time; ``param`` is the (shared) Parameter of a float initializer,
    None for a Constant node's value or a folded one."""

    value: np.ndarray
    param: Parameter | None = None


Operand = Ref | Const | None


class Refusal(ValueError):
    """A node cnnmath cannot compute exactly; the message names node, op type and attribute."""


class Node(NamedTuple):
    name: str
    op_type: str
    opset: int


def refuse(node: Node, what: str) -> Refusal:
    return Refusal(f"{FUNC}: node {node.name!r} ({node.op_type}): {what}")
