"""The generic op module :class:`_Op`: an ONNX node without a matching ``nn`` layer, whose
operands mix run-time values, parameters, buffers and integer constants; every private op of
this package is one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import nn
from ._helpers import _fold_limit, _guard, _is_float, _TooLarge
from ._node import Const, Node, Operand, Ref, refuse


class _Op(nn.Module):
    """An ONNX node without a matching ``nn`` layer: y = f(operands), where each operand is a
    run-time input, a parameter (trained: its gradient is added to ``grad``), a buffer, or a
    constant. Subclasses define ``compute(*operands) -> (y, ctx)`` and
    ``gradients(ctx, operands, G)`` -> one gradient (or None) per operand."""

    roles: tuple[str, ...] = ()
    #: the node's attributes as read (serialized AttributeProtos), set by the loader when
    #: the op is that node on its own inputs (``reads_as_given``): save writes it back
    onnx_attributes: tuple[bytes, ...] | None = None
    #: the dtypes of its held values (``held_dtypes``) when the loader set onnx_attributes
    onnx_dtypes: tuple[Any, ...] = ()
    #: its constant operands are all plain (never trained: buffers and constants, as the
    #: quantized ops build them): it reads as given against the plain operands, and save
    #: writes its float constants back as initializers, as the file held them
    plain_operands: bool = False

    def __init__(self, node: Node, operands: Sequence[Operand]) -> None:
        super().__init__()
        self.onnx_op = node.op_type
        self.onnx_node = node
        self._slots: list[tuple[str, Any]] = []
        for role, operand in zip(self.roles, operands):
            if operand is None:
                self._slots.append(("none", None))
            elif isinstance(operand, Ref):
                self._slots.append(("input", None))
            elif operand.param is not None:
                setattr(self, role, operand.param)
                self._slots.append(("param", role))
            elif _is_float(operand.value):
                self.register_buffer(role, operand.value)
                self._slots.append(("buffer", role))
            else:
                self._slots.append(("const", operand.value))
        for _ in range(len(operands) - len(self.roles)):  # variadic (Concat)
            operand = operands[len(self._slots)]
            kind = "input" if isinstance(operand, Ref) else "const"
            self._slots.append((kind, None if kind == "input" else operand.value))  # type: ignore[union-attr]

    def _operands(self, inputs: Sequence[np.ndarray]) -> list[Any]:
        args: list[Any] = []
        it = iter(inputs)
        for kind, value in self._slots:
            if kind == "input":
                args.append(next(it))
            elif kind == "param":
                args.append(getattr(self, value).data)
            elif kind == "buffer":
                args.append(getattr(self, value))
            else:
                args.append(value)
        return args

    def forward_ctx(self, *inputs: np.ndarray) -> tuple[np.ndarray, Any]:
        """y = f(operands) with the run-time ``inputs`` in their places."""
        n_inputs = sum(kind == "input" for kind, _ in self._slots)
        if len(inputs) != n_inputs:
            raise TypeError(
                f"{type(self).__name__}.forward: expected {n_inputs} inputs, got {len(inputs)}"
            )
        args = self._operands(inputs)
        try:
            y, ctx = self.compute(*args)
            if isinstance(y, np.generic):  # NumPy's scalars (np.take of a 0-d index): arrays
                y = np.asarray(y)
            if _fold_limit.get() is not None:  # outputs no window bounds (broadcasting)
                _guard(np.shape(y), 1)
        except _TooLarge as e:
            raise refuse(self.onnx_node, str(e)) from None
        return y, (ctx, args)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> Any:
        """∂ℓ/∂(run-time inputs); adds the parameters' gradients into their ``grad``."""
        inner, args = ctx
        grads = self.gradients(inner, args, grad_output)
        out = []
        for (kind, value), arg, g in zip(self._slots, args, grads, strict=True):
            if kind == "input":
                if g is None or not (_is_float(np.asarray(arg))):
                    g = np.zeros_like(arg)
                out.append(np.asarray(g, dtype=np.asarray(arg).dtype).reshape(np.shape(arg)))
            elif kind == "param" and g is not None:
                p = getattr(self, value)
                p.grad += np.asarray(g, dtype=p.dtype).reshape(p.shape)
        return out[0] if len(out) == 1 else tuple(out)

    #: the op works element by element (with NumPy broadcasting), so that each output pixel
    #: reads the same pixel of its inputs where its held values do not vary across space
    elementwise: bool = False

    def pointwise_on(self, channels_last: bool) -> bool:
        """Whether each output pixel reads only the same pixel of the op's run-time inputs
        (``cnnmath.receptive``, tiles): an elementwise op whose held values are the same at
        every pixel and every image of a batch (N, C, H, W), or (N, H, W, C) where
        ``channels_last``: of size 1 along N, H and W as broadcasting lines them up from
        the right (a per-channel scale (C, 1, 1), or (C,) on channels last; a scalar)."""
        if not self.elementwise:
            return False
        spatial = (-4, -3, -2) if channels_last else (-4, -2, -1)
        return not any(
            len(shape) > 4 or any(-a <= len(shape) and shape[a] != 1 for a in spatial)
            for shape in self._held_shapes()
        )

    def _held_shapes(self) -> list[tuple[int, ...]]:
        """The shapes of the values the op holds (parameters, buffers, constants)."""
        shapes = []
        for kind, value in self._slots:
            if kind in ("param", "buffer"):
                held = getattr(self, value)
                shapes.append(np.shape(held.data if isinstance(held, nn.Parameter) else held))
            elif kind == "const":
                shapes.append(np.shape(value))
        return shapes

    def held_rank(self) -> int:
        """The most axes of a value the op holds (``cnnmath.tiled``: a 4-axis constant gives
        an unbatched image a batch axis); 0 without any."""
        return max((len(shape) for shape in self._held_shapes()), default=0)

    def output_channels(self, in_channels: int, channels_last: bool = False) -> int:
        """The output's channels (``cnnmath.receptive``): ``in_channels`` broadcast against
        the channel axis of each held value of an elementwise op (a (3, 1, 1) constant
        times one channel gives three; axis −1 where ``channels_last``)."""
        channels = in_channels
        if self.elementwise:
            axis = -1 if channels_last else -3
            for shape in self._held_shapes():
                if len(shape) >= -axis and shape[axis] != 1:
                    channels = shape[axis]
        return channels

    def reads_as_given(self, node: Node, ins: Sequence[Operand]) -> bool:
        """Whether this op is ONNX node ``node`` computing on exactly its inputs ``ins``
        (each run-time input, parameter, buffer or constant in its place, absent inputs
        absent), so that writing it back as ``node`` with its attributes is the same
        computation (``cnnmath.onnx.save``; ``onnx_attributes`` set by the loader). An op
        of ``plain_operands`` is compared with the operands as it holds them, each
        initializer's value without its Parameter."""
        if self.plain_operands:
            ins = [Const(o.value) if isinstance(o, Const) else o for o in ins]
        if self.onnx_node != node or len(self._slots) < len(ins):
            return False
        for i, (kind, value) in enumerate(self._slots):
            given = ins[i] if i < len(ins) else None
            if given is None or isinstance(given, Ref):
                if kind != ("none" if given is None else "input"):
                    return False
            elif kind == "param":
                if getattr(self, value) is not given.param:
                    return False
            elif kind == "buffer":
                if given.param is not None or getattr(self, value) is not given.value:
                    return False
            elif kind != "const" or not (
                np.shape(value) == np.shape(given.value)
                and np.asarray(value).dtype == np.asarray(given.value).dtype
                and np.array_equal(value, given.value)
            ):
                return False
        return True

    def held_dtypes(self) -> tuple[Any, ...]:
        """The dtypes of the values the op holds (parameters, buffers, constants), in slot
        order: ``Module.to`` changes the float ones, which a node written as read would
        then contradict (a Resize's scales must stay float32)."""
        return tuple(
            getattr(self, value).dtype if kind in ("param", "buffer") else np.asarray(value).dtype
            for kind, value in self._slots
            if kind in ("param", "buffer", "const")
        )

    def compute(self, *args: Any) -> tuple[np.ndarray, Any]:
        raise NotImplementedError

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        raise NotImplementedError

    def extra_repr(self) -> str:
        """The ONNX op type."""
        return f"onnx_op={self.onnx_op!r}"
