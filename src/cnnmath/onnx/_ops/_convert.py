"""What every converter uses: the ``Built`` result (a module and the run-time values it
reads), ``_generic`` to build it around an ``_Op``, and the readers of operands — a constant's
value, a shape known at load time, a float constant as a Parameter, a rank.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import nn
from ...nn import Parameter
from ._helpers import _is_float
from ._module import _Op
from ._node import Const, Node, Operand, Ref, refuse

Built = tuple[nn.Module, list[str]]


def _refs(operands: Sequence[Operand]) -> list[str]:
    return [o.name for o in operands if isinstance(o, Ref)]


def _generic(module: _Op, operands: Sequence[Operand]) -> Built:
    return module, _refs(operands)


def _const(node: Node, operand: Operand, what: str) -> np.ndarray | None:
    if operand is None:
        return None
    if not isinstance(operand, Const):
        raise refuse(
            node,
            f"input {what!r}: expected a constant (an initializer or a Constant), "
            "got a value computed at run time",
        )
    return operand.value


def _shape(info: dict[str, Any], operand: Operand) -> tuple[Any, ...] | None:
    """The operand's shape as far as it is known at load time (None per unknown axis)."""
    if isinstance(operand, Const):
        return operand.value.shape
    if isinstance(operand, Ref):
        return info["shapes"].get(operand.name)
    return None


def _float_param(operand: Operand) -> Parameter | None:
    """The operand's Parameter if it is a float constant (an initializer or a Constant)."""
    if isinstance(operand, Const) and _is_float(operand.value):
        return operand.param if operand.param is not None else Parameter(operand.value.copy())
    return None


def _rank(info: dict[str, Any], operand: Operand) -> int | None:
    shape = _shape(info, operand)
    return None if shape is None else len(shape)


def _as_operand(operand: Operand, param: Parameter | None) -> Operand:
    if isinstance(operand, Const) and param is not None:
        return Const(operand.value, param)
    return operand


def _plain(o: Operand) -> Operand:
    """A constant that is data of the graph's structure (a shape, axes): never trained."""
    return Const(o.value) if isinstance(o, Const) else o
