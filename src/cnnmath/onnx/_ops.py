"""The ONNX operators as cnnmath modules: one converter per op type, and small private
modules for what has no ``nn`` layer (broadcasting arithmetic, comparisons and Where,
reshapes, asymmetric padding, Resize in its nearest, linear and cubic modes, DepthToSpace's
other channel order, quantization, TopK, p-norm pooling).

A converter reads one ONNX node — its attributes and its inputs, each either a value the graph
computes at run time (:class:`Ref`) or an array known at load time (:class:`Const`) — and
returns the module that computes the node and the names of the run-time values it reads.
Where an ``nn`` layer computes the op exactly (Conv2d with symmetric padding, BatchNorm2d in
evaluation, LayerNorm, GroupNorm for InstanceNormalization, Upsample for a Resize by powers of
two, the activations, …) the node becomes that layer, so the imported model looks like
one built by hand; otherwise it becomes an :class:`_Op`, whose operands may mix run-time
values, parameters (float initializers: trainable), buffers (Constant nodes) and integer
constants (shapes, axes). Every attribute a converter does not read is refused, so nothing in
a model is silently ignored or approximated; the loader checks a node's inputs against its
op's ONNX signature (``SIGNATURES``) before its converter reads them, so a converter sees
one operand per input name, every required one present.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NamedTuple

import numpy as np

from .. import losses, nn, ops
from ..nn import Parameter
from ..nn.graph import unbroadcast
from ..ops import activations as act
from ..ops._geometry import same_pads
from ..ops._threads import product
from ..ops.einsum import einsum_shape, split_equation
from ..ops.erf import erf
from ..ops.interpolate import (
    antialias_taps_at,
    cubic_taps_at,
    resample_along,
    resample_along_backward,
    sum_into_sources,
    taps_at,
)
from ..ops.pad import pad_axes, pad_axes_backward
from ._checks import FUNC, PAD_MODES, tensor_array
from ._scatter import REDUCTIONS, scatter_nd, scatter_nd_backward


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


# ---------------------------------------------------------------------------------------------
# Attributes


class Attrs:
    """A node's attributes as Python values; ``done`` refuses any attribute nobody read."""

    def __init__(self, node: Node, protos: Sequence[Any]) -> None:
        self.node = node
        self.values: dict[str, Any] = {}
        self.types: dict[str, int] = {}
        self.read: set[str] = set()
        for a in protos:
            self.values[a.name] = _attribute_value(node, a)
            self.types[a.name] = int(a.type)

    def get(self, name: str, default: Any = None) -> Any:
        """The attribute's value (``default`` when absent), refused unless it has the ONNX type
        (and, for flags, counts and window sizes, the range) the op's schema gives it."""
        self.read.add(name)
        if name not in self.values:
            return default
        value = self.values[name]
        expected = _ATTRIBUTE_TYPES.get(name)
        given = self.types[name]
        if expected is not None and given != expected:
            raise refuse(
                self.node,
                f"attribute {name!r}: expected type {_TYPE_NAMES[expected]}, "
                f"got {_TYPE_NAMES.get(given, given)} {value!r}",
            )
        low, high = _ATTRIBUTE_RANGES.get(name, (None, None))
        items = value if isinstance(value, list) else [value]
        if any((low is not None and v < low) or (high is not None and v > high) for v in items):
            what = f">= {low}" if high is None else f"in [{low}, {high}]"
            raise refuse(self.node, f"attribute {name!r}: expected values {what}, got {value!r}")
        return value

    def has(self, name: str) -> bool:
        return name in self.values

    def ints(self, name: str, default: Sequence[int] | None) -> list[int] | None:
        value = self.get(name, default)
        return None if value is None else [int(v) for v in value]

    def done(self) -> None:
        for name in self.values:
            if name not in self.read:
                raise refuse(self.node, f"attribute {name!r} is not supported")


_FLOAT, _INT, _STRING, _TENSOR, _FLOATS, _INTS = 1, 2, 3, 4, 6, 7
_TYPE_NAMES = {1: "FLOAT", 2: "INT", 3: "STRING", 4: "TENSOR", 6: "FLOATS", 7: "INTS", 8: "STRINGS"}
# The ONNX type of every attribute an op here reads (the schemas agree across these ops).
_ATTRIBUTE_TYPES = {
    **dict.fromkeys(
        (
            "alpha",
            "beta",
            "bias",
            "cubic_coeff_a",
            "epsilon",
            "extrapolation_value",
            "gamma",
            "lambd",
            "momentum",
            "ratio",
        ),
        _FLOAT,
    ),
    **dict.fromkeys(
        (
            "align_corners",
            "allowzero",
            "antialias",
            "axis",
            "block_size",
            "blocksize",
            "ceil_mode",
            "count_include_pad",
            "detect_negative",
            "detect_positive",
            "end",
            "exclude_outside",
            "exclusive",
            "fmod",
            "group",
            "ignore_index",
            "keepdims",
            "largest",
            "noop_with_empty_axes",
            "num_groups",
            "num_outputs",
            "offset_group",
            "output_dtype",
            "p",
            "precision",
            "reverse",
            "saturate",
            "seed",
            "select_last_index",
            "sorted",
            "start",
            "stash_type",
            "storage_order",
            "to",
            "training_mode",
            "transA",
            "transB",
            "value_int",
        ),
        _INT,
    ),
    **dict.fromkeys(
        (
            "axes",
            "dilations",
            "kernel_shape",
            "output_padding",
            "output_shape",
            "pads",
            "perm",
            "split",
            "strides",
            "value_ints",
        ),
        _INTS,
    ),
    **dict.fromkeys(
        (
            "approximate",
            "auto_pad",
            "coordinate_transformation_mode",
            "equation",
            "keep_aspect_ratio_policy",
            "mode",
            "nearest_mode",
            "padding_mode",
            "reduction",
        ),
        _STRING,
    ),
    "value": _TENSOR,
    "value_float": _FLOAT,
    "value_floats": _FLOATS,
}
# (low, high) of attributes whose schema bounds them: flags are 0 or 1, counts and sizes >= 1.
_ATTRIBUTE_RANGES: dict[str, tuple[int | None, int | None]] = {
    **dict.fromkeys(
        (
            "align_corners",
            "allowzero",
            "antialias",
            "ceil_mode",
            "count_include_pad",
            "exclude_outside",
            "exclusive",
            "fmod",
            "keepdims",
            "largest",
            "noop_with_empty_axes",
            "reverse",
            "saturate",
            "select_last_index",
            "sorted",
            "storage_order",
            "training_mode",
            "transA",
            "transB",
        ),
        (0, 1),
    ),
    **dict.fromkeys(
        (
            "blocksize",
            "group",
            "kernel_shape",
            "strides",
            "dilations",
            "num_groups",
            "num_outputs",
            "offset_group",
        ),
        (1, None),
    ),
}


def _attribute_value(node: Node, a: Any) -> Any:
    t = a.type
    if t == 1:
        return float(a.f)
    if t == 2:
        return int(a.i)
    if t == 3:
        return a.s.decode("utf-8", "replace")
    if t == 4:
        return tensor_array(a.t)
    if t == 6:
        return [float(v) for v in a.floats]
    if t == 7:
        return [int(v) for v in a.ints]
    if t == 8:
        return [s.decode("utf-8", "replace") for s in a.strings]
    raise refuse(
        node,
        f"attribute {a.name!r}: attribute type {t} (graphs, sparse tensors, "
        "type protos) is not supported",
    )


# ---------------------------------------------------------------------------------------------
# Helpers


def _axis(node: Node, what: str, a: int, rank: int, end: bool = False) -> int:
    """Axis ``a`` of a rank-``rank`` value as 0 … rank−1 (0 … rank with ``end``: Flatten's
    split point; a negative a counts from rank), refused outside that range as onnxruntime
    does, never wrapped."""
    n = rank + 1 if end else rank
    if not -rank <= a < n:
        raise refuse(node, f"{what}: expected an axis in [{-rank}, {n - 1}], got {a}")
    return a + rank if a < 0 else a


def _axes(node: Node, what: str, axes: Any, rank: int) -> list[int]:
    """The axes ``axes`` of a rank-``rank`` value, each checked by ``_axis``."""
    return [_axis(node, what, int(a), rank) for a in np.ravel(axes)]


def _is_float(a: np.ndarray) -> bool:
    return a.dtype in (np.float32, np.float64)


def _broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """Whether an array of ``shape`` broadcasts to ``target`` (ONNX's unidirectional rule)."""
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


# Every value computed while loading (folding) is held to this many elements, the cap
# ConstantOfShape always had: a file of a few hundred bytes must not allocate terabytes.
FOLD_LIMIT = 1 << 26
_fold_limit: ContextVar[int | None] = ContextVar("_fold_limit", default=None)


class _TooLarge(Exception):
    """An output refused before allocation; ``_Op.forward_ctx`` names the node."""


def _memory_bytes() -> int:
    """This machine's physical memory in bytes (POSIX sysconf; 2**62 where unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 1 << 62


def _guard(shape: Sequence[int], itemsize: int) -> None:
    """Refuse an array of ``shape`` before it is allocated: more than ``FOLD_LIMIT`` elements
    while loading, more bytes than this machine's memory at run time. Python ints: a product
    of int64 dimensions can wrap to 0. An empty shape is refused too where NumPy cannot
    make it: the other dimensions and the item size multiply past its index type."""
    n = math.prod(int(v) for v in shape)
    span = itemsize * math.prod(int(v) for v in shape if v)
    if n == 0 and span > np.iinfo(np.intp).max:  # a non-empty one: more than memory, below
        raise _TooLarge(
            f"the output would have shape {tuple(shape)}, which NumPy cannot make even "
            f"empty: its sizes other than 0 times the item size ({itemsize}) come to {span} "
            f"bytes, more than its limit of {np.iinfo(np.intp).max}"
        )
    limit = _fold_limit.get()
    if limit is not None and n > limit:
        raise _TooLarge(
            f"the value computed at load time would have shape {tuple(shape)} ({n} elements), "
            f"more than the load-time budget of {limit} elements"
        )
    if n * itemsize > _memory_bytes():
        raise _TooLarge(
            f"the output would have shape {tuple(shape)} ({n * itemsize / 2**30:.3g} GiB), "
            f"more than this machine's memory ({_memory_bytes() / 2**30:.3g} GiB)"
        )


@contextmanager
def folding() -> Iterator[None]:
    """Within: every value computed is held to ``FOLD_LIMIT`` elements (load-time folding)."""
    token = _fold_limit.set(FOLD_LIMIT)
    try:
        yield
    finally:
        _fold_limit.reset(token)


def _window(
    a: np.ndarray,
    starts: Sequence[int],
    lengths: Sequence[int],
    axes: Sequence[int],
    fill: float = 0.0,
) -> np.ndarray:
    """out[..., i, ...] = a[..., start + i, ...] along each of ``axes`` (i < length), ``fill``
    where start + i falls outside a: padding (negative start, long length) and cropping in one.
    Its adjoint is the window of the gradient with starts −start and a's lengths."""
    shape = list(a.shape)
    src: list[slice] = [slice(None)] * a.ndim
    dst: list[slice] = [slice(None)] * a.ndim
    for axis, start, length in zip(axes, starts, lengths, strict=True):
        n = a.shape[axis]
        shape[axis] = length
        lo, hi = max(start, 0), min(start + length, n)
        if hi <= lo:
            lo = hi = 0
            src[axis] = dst[axis] = slice(0, 0)
        else:
            src[axis] = slice(lo, hi)
            dst[axis] = slice(lo - start, hi - start)
    _guard(shape, a.dtype.itemsize)
    out = np.full(shape, fill, dtype=a.dtype)
    out[tuple(dst)] = a[tuple(src)]
    return out


# ---------------------------------------------------------------------------------------------
# The generic op module


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

    def reads_as_given(self, node: Node, ins: Sequence[Operand]) -> bool:
        """Whether this op is ONNX node ``node`` computing on exactly its inputs ``ins``
        (each run-time input, parameter, buffer or constant in its place, absent inputs
        absent), so that writing it back as ``node`` with its attributes is the same
        computation (``cnnmath.onnx.save``; ``onnx_attributes`` set by the loader)."""
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


# ---------------------------------------------------------------------------------------------
# Elementwise


class _Binary(_Op):
    """y = a ∘ b with NumPy (= ONNX multidirectional) broadcasting, ∘ ∈ {+, −, ×, ÷}."""

    roles = ("a", "b")

    def __init__(self, node: Node, operands: Sequence[Operand], kind: str) -> None:
        super().__init__(node, operands)
        self.kind = kind

    def compute(self, a: Any, b: Any) -> tuple[np.ndarray, Any]:
        a, b = np.asarray(a), np.asarray(b)
        _guard(np.broadcast_shapes(a.shape, b.shape), np.result_type(a, b).itemsize)
        if self.kind == "Add":
            y = a + b
        elif self.kind == "Sub":
            y = a - b
        elif self.kind == "Mul":
            y = a * b
        elif np.issubdtype(a.dtype, np.integer):  # ONNX integer Div truncates toward zero
            y = (np.trunc(a / b)).astype(np.result_type(a, b))
        else:
            y = a / b
        return np.asarray(y), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        a, b = np.asarray(args[0]), np.asarray(args[1])
        if self.kind == "Add":
            ga, gb = g, g
        elif self.kind == "Sub":
            ga, gb = g, -g
        elif self.kind == "Mul":
            ga, gb = g * b, g * a
        else:
            ga, gb = g / b, -g * a / (b * b)
        return [unbroadcast(ga, a.shape), unbroadcast(gb, b.shape)]


class _Pow(_Op):
    """y = x^p elementwise, NumPy (= ONNX multidirectional) broadcasting, in x's dtype (ONNX's
    Pow: the exponent may be of another type, an integer one included).

    ∂y/∂x = p·x^(p−1), 0 where p = 0 (x⁰ = 1 is constant, also at x = 0, as PyTorch);
    ∂y/∂p = y·log x, taken as 0 where x = 0 and p ≥ 0 (PyTorch's rule: the limit of a
    vanishing power), computed only when p is a parameter or a run-time value. An integer
    base to a negative integer power is refused."""

    roles = ("x", "p")

    def compute(self, x: Any, p: Any) -> tuple[np.ndarray, Any]:
        x, p = np.asarray(x), np.asarray(p)
        _guard(np.broadcast_shapes(x.shape, p.shape), x.itemsize)
        if np.issubdtype(x.dtype, np.integer):  # an integer power: exact, as ONNX's
            if np.issubdtype(p.dtype, np.integer) and np.any(p < 0):
                raise refuse(
                    self.onnx_node,
                    "input 'Y': an integer base to a negative integer power (a fraction "
                    "rounded to an integer) is not supported",
                )
            y = np.power(x, p.astype(x.dtype) if np.issubdtype(p.dtype, np.integer) else p)
            return np.asarray(y).astype(x.dtype), None
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            y = np.power(x, p.astype(x.dtype, copy=False))
        return np.asarray(y), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        x, p = np.asarray(args[0]), np.asarray(args[1])
        if not np.issubdtype(x.dtype, np.floating):
            return [None, None]
        q = p.astype(x.dtype, copy=False)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            gx = g * np.where(q == 0, 0, q * np.power(x, q - 1))  # x⁰ is constant: 0 at x = 0 too
            gp = None
            if self._slots[1][0] in ("input", "param") and np.issubdtype(p.dtype, np.floating):
                y = np.power(x, q)
                gp = g * np.where((x == 0) & (q >= 0), 0, y * np.log(x))
                gp = unbroadcast(gp, p.shape)
        return [unbroadcast(gx, x.shape), gp]

    def extra_repr(self) -> str:
        """The op type and its formula."""
        return f"onnx_op={self.onnx_op!r}, y=x^p"


class _Unary(_Op):
    """y = f(x) elementwise with its derivative f′ (the activations without a matching layer)."""

    roles = ("x",)

    def __init__(
        self,
        node: Node,
        operands: Sequence[Operand],
        f: Callable[[np.ndarray], np.ndarray],
        df: Callable[[np.ndarray], np.ndarray],
        formula: str,
    ) -> None:
        super().__init__(node, operands)
        self._f, self._df, self.formula = f, df, formula

    def compute(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        return np.asarray(self._f(x), dtype=x.dtype), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [g * self._df(args[0])]

    def extra_repr(self) -> str:
        """The op type and its formula."""
        return f"onnx_op={self.onnx_op!r}, y={self.formula}"


class _Clip(_Op):
    """y = min(max(x, lo), hi); absent bounds are ±∞. ∂y/∂x = 1 strictly inside [lo, hi]
    (and at a bound, as PyTorch's clamp), the rest of G goes to the bound that was taken."""

    roles = ("x", "lo", "hi")

    def compute(self, x: np.ndarray, lo: Any, hi: Any) -> tuple[np.ndarray, Any]:
        y = x
        if lo is not None:
            y = np.maximum(y, np.asarray(lo, dtype=x.dtype))
        if hi is not None:
            y = np.minimum(y, np.asarray(hi, dtype=x.dtype))
        return np.asarray(y, dtype=x.dtype), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        x, lo, hi = args
        m = x if lo is None else np.maximum(x, lo)
        from_x = np.ones(x.shape, bool) if lo is None else np.broadcast_to(x >= lo, x.shape)
        below_hi = np.ones(x.shape, bool) if hi is None else np.broadcast_to(m <= hi, x.shape)
        zero = g.dtype.type(0)
        g_x = np.where(from_x & below_hi, g, zero)
        g_lo = (
            None if lo is None else unbroadcast(np.where(~from_x & below_hi, g, zero), np.shape(lo))
        )
        g_hi = None if hi is None else unbroadcast(np.where(~below_hi, g, zero), np.shape(hi))
        return [g_x, g_lo, g_hi]


class _PRelu(_Op):
    """y = x where x ≥ 0, slope·x elsewhere, the slope broadcast to x (ONNX's PRelu)."""

    roles = ("x", "slope")

    def compute(self, x: np.ndarray, slope: np.ndarray) -> tuple[np.ndarray, Any]:
        return np.where(x < 0, slope * x, x).astype(x.dtype), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        x, slope = args
        neg = x < 0
        return [
            np.where(neg, slope * g, g).astype(g.dtype),
            unbroadcast(np.where(neg, g * x, 0), slope.shape),
        ]


_COMPARISONS: dict[str, tuple[Callable[..., Any], str]] = {
    "Greater": (np.greater, ">"),
    "Less": (np.less, "<"),
    "Equal": (np.equal, "="),
    "GreaterOrEqual": (np.greater_equal, "≥"),
    "LessOrEqual": (np.less_equal, "≤"),
    "And": (np.logical_and, "and"),
    "Or": (np.logical_or, "or"),
    "Xor": (np.logical_xor, "xor"),
}


def _broadcast(node: Node, roles: Sequence[str], shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    """The shapes' common broadcast shape; a refusal naming the node and inputs otherwise."""
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        listed = ", ".join(f"{r!r} {tuple(sh)}" for r, sh in zip(roles, shapes))
        raise refuse(
            node, f"inputs: expected shapes that broadcast together, got {listed}"
        ) from None


class _Compare(_Op):
    """y = (a ∘ b), a boolean, ∘ ∈ {>, <, =, ≥, ≤} or the logical and, or, xor of two
    booleans, with NumPy (= ONNX multidirectional) broadcasting. Piecewise constant in a and
    b: no gradient reaches them."""

    roles = ("a", "b")

    def compute(self, a: Any, b: Any) -> tuple[np.ndarray, Any]:
        a, b = np.asarray(a), np.asarray(b)
        _guard(_broadcast(self.onnx_node, self.roles, [a.shape, b.shape]), 1)
        return np.asarray(_COMPARISONS[self.onnx_op][0](a, b)), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [None, None]

    def extra_repr(self) -> str:
        """The op type and its formula."""
        return f"onnx_op={self.onnx_op!r}, y=a {_COMPARISONS[self.onnx_op][1]} b"


class _Where(_Op):
    """y = x where the condition holds, else y (ONNX's Where: a bool condition, the three
    broadcast together). ∂ℓ/∂x = G where the condition holds, ∂ℓ/∂y = G elsewhere, each summed
    over the axes broadcasting added or stretched; none reaches the condition."""

    roles = ("condition", "x", "y")

    def compute(self, c: Any, x: Any, y: Any) -> tuple[np.ndarray, Any]:
        c, x, y = np.asarray(c), np.asarray(x), np.asarray(y)
        if c.dtype != np.bool_:
            raise refuse(
                self.onnx_node, f"input 'condition': expected a bool tensor, got dtype {c.dtype}"
            )
        shape = _broadcast(self.onnx_node, self.roles, [c.shape, x.shape, y.shape])
        _guard(shape, np.result_type(x, y).itemsize)
        return np.where(c, x, y), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        c, x, y = (np.asarray(a) for a in args)
        zero = g.dtype.type(0)
        return [
            None,
            unbroadcast(np.where(c, g, zero), x.shape),
            unbroadcast(np.where(c, zero, g), y.shape),
        ]


class _Sum(_Op):
    """y = x_1 + … + x_k (k ≥ 1), added left to right with NumPy (= ONNX multidirectional)
    broadcasting. ∂ℓ/∂x_i = G summed over the axes broadcasting added or stretched for x_i
    (Add's rule, once per input)."""

    def __init__(self, node: Node, operands: Sequence[Operand]) -> None:
        # one role per input (ONNX names them data_0, data_1, …), so that float initializers
        # among them are parameters, as Add's are
        self.roles = tuple(f"data_{i}" for i in range(len(operands)))
        super().__init__(node, operands)

    def compute(self, *xs: Any) -> tuple[np.ndarray, Any]:
        arrays = [np.asarray(x) for x in xs]
        shape = _broadcast(self.onnx_node, self.roles, [a.shape for a in arrays])
        _guard(shape, np.result_type(*arrays).itemsize)
        y = arrays[0]
        for a in arrays[1:]:
            y = y + a
        return np.asarray(y), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [unbroadcast(g, np.shape(x)) for x in args]


class _Extremum(_Sum):
    """Max / Min / Mean of x_1 … x_k (k ≥ 1), elementwise with NumPy (= ONNX
    multidirectional) broadcasting; a NaN in any input gives NaN (ONNX's rule). Backward:
    Mean gives each input G/k; Max and Min give G to the inputs equal to the result, shared
    equally among ties (torch.maximum's rule for two: half each), each summed back over the
    axes broadcasting stretched."""

    def __init__(self, node: Node, operands: Sequence[Operand], kind: str) -> None:
        super().__init__(node, operands)
        self.kind = kind

    def compute(self, *xs: Any) -> tuple[np.ndarray, Any]:
        arrays = [np.asarray(x) for x in xs]
        shape = _broadcast(self.onnx_node, self.roles, [a.shape for a in arrays])
        _guard(shape, np.result_type(*arrays).itemsize)
        if self.kind == "Mean":
            return np.asarray(
                super().compute(*arrays)[0] / len(arrays), np.result_type(*arrays)
            ), None
        pick = np.maximum if self.kind == "Max" else np.minimum  # NaN-propagating
        y = arrays[0]
        for a in arrays[1:]:
            y = pick(y, a)
        return np.asarray(y), y  # the context: the result, which the ties are found against

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        if self.kind == "Mean":
            return [unbroadcast(g / len(args), np.shape(x)) for x in args]
        y = ctx
        hits = [np.asarray(x) == y for x in args]
        ties = np.sum(np.broadcast_arrays(*hits), axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(ties > 0, g / np.maximum(ties, 1), 0)
        return [
            unbroadcast((hit * share).astype(g.dtype), np.shape(x)) for x, hit in zip(args, hits)
        ]


class _Cast(_Op):
    """Cast to ``dtype`` (float32, float64, int32, int64 or bool) at run time: NumPy's
    ``astype`` (float → int truncates toward zero, as ONNX). Backward: between float types G
    cast back; from or to an integer or bool type the result is piecewise constant, so 0."""

    roles = ("input",)

    def __init__(self, node: Node, operands: Sequence[Operand], dtype: Any) -> None:
        super().__init__(node, operands)
        self.dtype = np.dtype(dtype)

    def compute(self, x: Any) -> tuple[np.ndarray, Any]:
        with np.errstate(invalid="ignore"):
            return np.asarray(x).astype(self.dtype), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        smooth = _is_float(np.asarray(args[0])) and np.issubdtype(self.dtype, np.floating)
        return [g if smooth else None]

    def extra_repr(self) -> str:
        """The op type and the target type."""
        return f"onnx_op={self.onnx_op!r}, to={self.dtype.name}"


class _ArgExtremum(_Op):
    """ArgMax / ArgMin: the index (int64) of the largest / smallest value along ``axis``,
    the first one among ties (the last with ``select_last_index``); a NaN counts as the
    largest and the smallest (NumPy's rule; onnxruntime's for the first index, ONNX's
    reference evaluator's for both). No gradient: indices."""

    roles = ("data",)

    def __init__(
        self, node: Node, operands: Sequence[Operand], axis: int, keepdims: bool, last: bool
    ) -> None:
        super().__init__(node, operands)
        self.axis, self.keepdims, self.last = axis, keepdims, last

    def compute(self, x: Any) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        a = _axis(self.onnx_node, "attribute 'axis'", self.axis, max(x.ndim, 1))
        if x.shape[a] == 0:
            raise refuse(self.onnx_node, f"input 'data': axis {a} is empty (no index to give)")
        find = np.argmax if self.onnx_op == "ArgMax" else np.argmin
        if self.last:  # the last of the ties: the first in the reversed axis
            index = x.shape[a] - 1 - find(np.flip(x, axis=a), axis=a)
        else:
            index = find(x, axis=a)
        index = index.astype(np.int64)
        return (np.expand_dims(index, a) if self.keepdims else index), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [None]


class _Size(_Op):
    """Size: the number of elements of the input, an int64 scalar. No gradient."""

    roles = ("data",)

    def compute(self, x: Any) -> tuple[np.ndarray, Any]:
        return np.asarray(np.size(x), np.int64), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [None]


class _Predicate(_Op):
    """IsNaN, IsInf (``detect_negative`` / ``detect_positive``): a bool mask. No gradient."""

    roles = ("X",)

    def __init__(
        self, node: Node, operands: Sequence[Operand], negative: bool, positive: bool
    ) -> None:
        super().__init__(node, operands)
        self.negative, self.positive = negative, positive

    def compute(self, x: Any) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        if self.onnx_op == "IsNaN":
            return np.isnan(x), None
        return (np.isneginf(x) & self.negative) | (np.isposinf(x) & self.positive), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [None]


class _Hardmax(_Op):
    """Hardmax along ``axis`` (opset ≥ 13): 1 at the first largest value, 0 elsewhere.
    Piecewise constant: no gradient reaches the input."""

    roles = ("input",)

    def __init__(self, node: Node, operands: Sequence[Operand], axis: int) -> None:
        super().__init__(node, operands)
        self.axis = axis

    def compute(self, x: Any) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        a = _axis(self.onnx_node, "attribute 'axis'", self.axis, max(x.ndim, 1))
        y = np.zeros_like(x)
        if x.size:
            np.put_along_axis(y, np.expand_dims(np.argmax(x, axis=a), a), 1, axis=a)
        return y, None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [None]


class _LpNormalization(_Op):
    """y = x / ‖x‖_p along ``axis``, p ∈ {1, 2}; a zero vector gives 0. Backward, with
    n = ‖x‖_p and s = Σ_axis G·y: ∂ℓ/∂x = (G − y·s)/n for p = 2 and (G − sign(x)·s)/n for
    p = 1 (0 for a zero vector)."""

    roles = ("input",)

    def __init__(self, node: Node, operands: Sequence[Operand], axis: int, p: int) -> None:
        super().__init__(node, operands)
        self.axis, self.p = axis, p

    def compute(self, x: Any) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        a = _axis(self.onnx_node, "attribute 'axis'", self.axis, max(x.ndim, 1))
        if self.p == 1:
            n = np.sum(np.abs(x), axis=a, keepdims=True)
        else:
            n = np.sqrt(np.sum(x * x, axis=a, keepdims=True))
        y = _safe_divide(x, n)
        return y.astype(x.dtype), (a, n, y)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        a, n, y = ctx
        x = np.asarray(args[0])
        s = np.sum(g * y, axis=a, keepdims=True)
        direction = y if self.p == 2 else np.sign(x)
        return [_safe_divide(g - direction * s, n)]


def _safe_divide(a: np.ndarray, n: np.ndarray) -> np.ndarray:
    """a/n, and 0 where n = 0 (a zero vector normalises to 0, as ONNX's reference and
    onnxruntime give; its gradient there is taken as 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n == 0, 0, a / np.where(n == 0, 1, n))


class _Loss(_Op):
    """SoftmaxCrossEntropyLoss(scores, labels, weights) and NegativeLogLikelihoodLoss(input,
    target, weight): PyTorch's ``cross_entropy`` / ``nll_loss`` (``cnnmath.losses``), which
    ONNX defines the same way — classes on axis 1 of (N, C, d1, …), per-class weights,
    ``ignore_index``, "mean" divided by the summed weights of the targets counted, "sum",
    "none". Backward: the loss's gradient times G (G broadcast over the classes for "none");
    nothing reaches the labels or the weights."""

    roles = ("scores", "labels", "weights")

    def __init__(
        self, node: Node, operands: Sequence[Operand], reduction: str, ignore: int | None
    ) -> None:
        super().__init__(node, operands)
        self.reduction, self.ignore = reduction, ignore

    def compute(self, x: Any, y: Any, w: Any) -> tuple[np.ndarray, Any]:
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim < 2:
            raise refuse(self.onnx_node, f"input 0: expected (N, C, …), got shape {x.shape}")
        # no ignore_index: none of the labels (all in [0, C)) equals the stand-in
        ignore = np.iinfo(np.int64).min if self.ignore is None else self.ignore
        f = losses.cross_entropy if self.onnx_op == "SoftmaxCrossEntropyLoss" else losses.nll_loss
        w = None if w is None else np.asarray(w, x.dtype)
        try:
            loss, grad = f(x, y, weight=w, ignore_index=ignore, reduction=self.reduction)
        except ValueError as e:
            raise refuse(self.onnx_node, str(e)) from None
        return np.asarray(loss, x.dtype), grad

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        G = np.asarray(g)
        return [ctx * (np.expand_dims(G, 1) if self.reduction == "none" else G), None, None]

    def extra_repr(self) -> str:
        """The op type and its options."""
        return f"onnx_op={self.onnx_op!r}, reduction={self.reduction!r}, ignore_index={self.ignore}"


class _Expand(_Op):
    """Expand: x broadcast against ``shape`` (ONNX's rule: the result has the broadcast of
    x's shape and the given one, so a 1 in ``shape`` keeps x's axis). Backward: G summed
    over the axes broadcasting added or stretched."""

    roles = ("input", "shape")

    def compute(self, x: Any, shape: Any) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        target = tuple(int(v) for v in np.ravel(shape))
        out = _broadcast(self.onnx_node, ("input", "shape"), [x.shape, target])
        _guard(out, x.dtype.itemsize)
        return np.broadcast_to(x, out).copy(), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [unbroadcast(g, np.shape(args[0])), None]


class _Tile(_Op):
    """Tile: x repeated ``repeats[a]`` times along each axis a (``np.tile``; PyTorch's
    ``x.repeat``). Backward: the sum of G's tiles — G reshaped to (r_0, n_0, r_1, n_1, …)
    and summed over the r axes."""

    roles = ("input", "repeats")

    def compute(self, x: Any, repeats: Any) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        r = [int(v) for v in np.ravel(repeats)]
        if len(r) != x.ndim or min(r, default=0) < 0:
            raise refuse(
                self.onnx_node,
                f"input 'repeats': expected {x.ndim} counts >= 0 (one per axis of the input, "
                f"shape {x.shape}), got {r}",
            )
        _guard(tuple(n * k for n, k in zip(x.shape, r)), x.dtype.itemsize)
        return np.tile(x, r), r

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        shape = np.shape(args[0])
        split = [v for pair in zip(ctx, shape) for v in pair]
        return [g.reshape(split).sum(axis=tuple(range(0, 2 * len(shape), 2))), None]


# ---------------------------------------------------------------------------------------------
# Dense


class _MatMul(_Op):
    """y = a @ b, NumPy's matmul (batched, broadcasting, 1-D operands promoted)."""

    roles = ("a", "b")

    def compute(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Any]:
        return product(a, b), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        a, b = args
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        ga = product(g2, np.swapaxes(b2, -1, -2))
        gb = product(np.swapaxes(a2, -1, -2), g2)
        return [
            unbroadcast(ga, a2.shape).reshape(a.shape),
            unbroadcast(gb, b2.shape).reshape(b.shape),
        ]


class _Gemm(_Op):
    """y = α·A′B′ + β·C, A′ = Aᵀ if transA, B′ = Bᵀ if transB, C broadcast (ONNX's Gemm)."""

    roles = ("a", "b", "c")

    def __init__(
        self,
        node: Node,
        operands: Sequence[Operand],
        alpha: float,
        beta: float,
        trans_a: bool,
        trans_b: bool,
    ) -> None:
        super().__init__(node, operands)
        self.alpha, self.beta, self.trans_a, self.trans_b = alpha, beta, trans_a, trans_b

    def compute(self, a: np.ndarray, b: np.ndarray, c: Any) -> tuple[np.ndarray, Any]:
        A = a.T if self.trans_a else a
        B = b.T if self.trans_b else b
        y = product(A, B)
        if self.alpha != 1.0:
            y = y * y.dtype.type(self.alpha)
        if c is not None:
            y = y + (c if self.beta == 1.0 else c * y.dtype.type(self.beta))
        return np.asarray(y, dtype=a.dtype), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        a, b, c = args
        A = a.T if self.trans_a else a
        B = b.T if self.trans_b else b
        gA = self.alpha * product(g, B.T)
        gB = self.alpha * product(A.T, g)
        gc = None if c is None else unbroadcast(self.beta * g, np.shape(c))
        return [gA.T if self.trans_a else gA, gB.T if self.trans_b else gB, gc]


# ---------------------------------------------------------------------------------------------
# Convolution and pooling


def _same_pads(m: int, k: int, s: int, d: int, upper: bool) -> tuple[int, int]:
    """auto_pad SAME_UPPER / SAME_LOWER: output ceil(m/s), the odd padding after / before."""
    out = -(-m // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - m, 0)
    before = total // 2 if upper else total - total // 2
    return before, total - before


class _Conv(_Op):
    """ONNX Conv on (N, C, H, W): ``ops.conv2d`` with its stride, dilation and groups; pads
    that differ before and after are applied explicitly (zeros) before a padding-0 conv2d."""

    roles = ("x", "weight", "bias")

    def __init__(self, node: Node, operands: Sequence[Operand], geo: dict[str, Any]) -> None:
        super().__init__(node, operands)
        self.geo = geo

    def _pads(self, x: np.ndarray, w: np.ndarray) -> list[tuple[int, int]]:
        g = self.geo
        if g["auto_pad"] in ("SAME_UPPER", "SAME_LOWER"):
            return [
                _same_pads(m, k, s, d, g["auto_pad"] == "SAME_UPPER")
                for m, k, s, d in zip(x.shape[2:], w.shape[2:], g["strides"], g["dilations"])
            ]
        p = g["pads"]
        return [(p[0], p[2]), (p[1], p[3])]

    def compute(self, x: np.ndarray, w: np.ndarray, b: Any) -> tuple[np.ndarray, Any]:
        g = self.geo
        _check_kernel_shape(self.onnx_node, g, w.shape)
        (pt, pb), (pl, pr) = self._pads(x, w)
        if pt == pb and pl == pr:
            xin, padding, crop = x, (pt, pl), None
        else:
            H, W = x.shape[2:]
            xin = _window(x, (-pt, -pl), (H + pt + pb, W + pl + pr), (2, 3))
            padding, crop = (0, 0), (pt, pl, H, W)
        args = {
            "stride": g["strides"],
            "padding": padding,
            "dilation": g["dilations"],
            "groups": g["group"],
        }
        return ops.conv2d(xin, w, b, **args), (xin, args, crop)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        xin, kw, crop = ctx
        gx, gw, gb = ops.conv2d_backward(g, xin, args[1], **kw)
        if crop is not None:
            pt, pl, H, W = crop
            gx = _window(gx, (pt, pl), (H, W), (2, 3))
        return [gx, gw, gb if args[2] is not None else None]


class _ConvTranspose(_Op):
    """ONNX ConvTranspose: the full transposed convolution (``ops.conv_transpose2d``, no
    padding), then cropped by pads[begin], cut or zero-extended to the output size
    s(m−1) + output_padding + d(k−1) + 1 − pads (or ``output_shape``), plus the bias."""

    roles = ("x", "weight", "bias")

    def __init__(self, node: Node, operands: Sequence[Operand], geo: dict[str, Any]) -> None:
        super().__init__(node, operands)
        self.geo = geo

    def _placement(self, x: np.ndarray, w: np.ndarray) -> tuple[list[int], list[int]]:
        g = self.geo
        starts, lengths = [], []
        for i, (m, k) in enumerate(zip(x.shape[2:], w.shape[2:])):
            s, d, op = g["strides"][i], g["dilations"][i], g["output_padding"][i]
            full = s * (m - 1) + op + (k - 1) * d + 1
            if g["output_shape"] is not None or g["auto_pad"] in ("SAME_UPPER", "SAME_LOWER"):
                target = g["output_shape"][-2 + i] if g["output_shape"] is not None else m * s
                total = full - target
                half = total // 2
                before = half if g["auto_pad"] == "SAME_UPPER" else total - half
                starts.append(before)
                lengths.append(target)
            else:
                pb, pe = g["pads"][i], g["pads"][i + 2]
                starts.append(pb)
                lengths.append(full - pb - pe)
        return starts, lengths

    def compute(self, x: np.ndarray, w: np.ndarray, b: Any) -> tuple[np.ndarray, Any]:
        _check_kernel_shape(self.onnx_node, self.geo, w.shape)
        g = self.geo
        kw = {"stride": g["strides"], "groups": g["group"], "dilation": g["dilations"]}
        starts, lengths = self._placement(x, w)
        full_hw = [
            s * (m - 1) + (k - 1) * d + 1
            for m, k, s, d in zip(x.shape[2:], w.shape[2:], g["strides"], g["dilations"])
        ]
        _guard([x.shape[0], w.shape[1] * g["group"], *full_hw], x.dtype.itemsize)
        _guard([x.shape[0], w.shape[1] * g["group"], *lengths], x.dtype.itemsize)
        full = ops.conv_transpose2d(x, w, None, **kw)
        y = _window(full, starts, lengths, (2, 3))
        if b is not None:
            y += b[:, None, None]
        return y, (kw, starts, full.shape[2:])

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        kw, starts, full_hw = ctx
        x, w, b = args
        g_full = _window(g, [-s for s in starts], full_hw, (2, 3))
        gx, gw, _ = ops.conv_transpose2d_backward(g_full, x, w, **kw)
        return [gx, gw, None if b is None else g.sum(axis=(0, 2, 3))]


def _pool_extent(m: int, k: int, s: int, d: int, pb: int, pe: int, ceil: bool) -> tuple[int, int]:
    """(output size, padded length read) along one axis: windows start at s·i − pb; with
    ``ceil`` the last may run past the end padding but must start inside x or its begin
    padding (the rule of PyTorch and onnxruntime)."""
    span = d * (k - 1) + 1
    room = m + pb + pe - span
    out = (-(-room // s) if ceil else room // s) + 1
    if ceil and (out - 1) * s >= m + pb:
        out -= 1
    return out, (out - 1) * s + span


class _Pool(_Op):
    """ONNX MaxPool / AveragePool on (N, C, H, W), any pads (before ≠ after, more than half the
    window), dilations and ceil_mode: x is padded explicitly (−∞ for max, 0 for the average)
    to exactly the span the windows read, then pooled without padding. The average is a sum
    (a depthwise convolution with ones) over a divisor D counting the window's taps on x
    (count_include_pad = 0) or on x and its declared pads (= 1)."""

    roles = ("x",)

    def __init__(self, node: Node, operands: Sequence[Operand], geo: dict[str, Any]) -> None:
        super().__init__(node, operands)
        self.geo = geo

    def _layout(self, x: np.ndarray) -> tuple[list[int], list[int], list[int], list[int]]:
        g = self.geo
        begins, lengths, outs, declared = [], [], [], []
        for i, m in enumerate(x.shape[2:]):
            k, s, d = g["kernel_shape"][i], g["strides"][i], g["dilations"][i]
            if g["auto_pad"] in ("SAME_UPPER", "SAME_LOWER"):
                pb, pe = _same_pads(m, k, s, d, g["auto_pad"] == "SAME_UPPER")
            else:
                pb, pe = g["pads"][i], g["pads"][i + 2]
            out, length = _pool_extent(m, k, s, d, pb, pe, bool(g["ceil_mode"]))
            if out < 1:
                raise ValueError(
                    f"{FUNC}: {self.onnx_op}: the window ({k}, dilation {d}) is larger than the "
                    f"padded input ({m} + {pb} + {pe})"
                )
            begins.append(pb)
            lengths.append(length)
            outs.append(out)
            declared.append(m + pb + pe)
        return begins, lengths, outs, declared

    def compute(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        g = self.geo
        if x.ndim != 4:
            raise ValueError(
                f"{FUNC}: {self.onnx_op}: x: expected (N, C, H, W), got shape {x.shape}"
            )
        begins, lengths, _, declared = self._layout(x)
        k, s, d = g["kernel_shape"], g["strides"], g["dilations"]
        starts = [-b for b in begins]
        if self.onnx_op == "MaxPool":
            xp = _window(x, starts, lengths, (2, 3), fill=-np.inf)
            return ops.max_pool2d(xp, k, s, 0, d), (xp, begins, None, None)
        xp = _window(x, starts, lengths, (2, 3))
        C = x.shape[1]
        ones = np.ones((C, 1, *k), dtype=x.dtype)
        total = ops.conv2d(xp, ones, None, s, 0, d, groups=C)
        mask = np.zeros((1, 1, *lengths), dtype=x.dtype)
        if g["count_include_pad"]:
            mask[:, :, : declared[0], : declared[1]] = 1
        else:
            mask[:, :, begins[0] : begins[0] + x.shape[2], begins[1] : begins[1] + x.shape[3]] = 1
        D = ops.conv2d(mask, np.ones((1, 1, *k), dtype=x.dtype), None, s, 0, d)
        with np.errstate(divide="ignore", invalid="ignore"):
            return total / D, (xp, begins, ones, D)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        xp, begins, ones, D = ctx
        x = args[0]
        k, s, d = self.geo["kernel_shape"], self.geo["strides"], self.geo["dilations"]
        if ones is None:
            gxp = ops.max_pool2d_backward(g, xp, k, s, 0, d)
        else:
            gxp = ops.conv2d_backward(g / D, xp, ones, s, 0, d, groups=x.shape[1])[0]
        return [_window(gxp, begins, x.shape[2:], (2, 3))]


class _GlobalPool(_Op):
    """Mean or max over every axis after the first two, kept as size-1 axes."""

    roles = ("x",)

    def __init__(self, node: Node, operands: Sequence[Operand], kind: str) -> None:
        super().__init__(node, operands)
        self.kind = kind

    def compute(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        axes = tuple(range(2, x.ndim))
        if self.kind == "avg":
            return x.mean(axis=axes, keepdims=True), axes
        return x.max(axis=axes, keepdims=True), axes

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        x, axes = args[0], ctx
        if self.kind == "avg":
            count = int(np.prod([x.shape[a] for a in axes]))
            return [np.broadcast_to(g / count, x.shape).astype(x.dtype)]
        y = x.max(axis=axes, keepdims=True)
        first = np.cumsum((x == y).reshape(*x.shape[:2], -1), axis=-1).reshape(x.shape) == 1
        return [np.where(first & (x == y), g, 0).astype(x.dtype)]


class _BatchNorm(_Op):
    """BatchNormalization in inference: ``ops.batch_norm`` by the given statistics."""

    roles = ("x", "scale", "B", "input_mean", "input_var")

    def __init__(self, node: Node, operands: Sequence[Operand], eps: float) -> None:
        super().__init__(node, operands)
        self.eps = eps

    def compute(self, x: Any, scale: Any, B: Any, mean: Any, var: Any) -> tuple[np.ndarray, Any]:
        return ops.batch_norm(x, mean, var, scale, B, training=False, eps=self.eps), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        x, scale, B, mean, var = args
        gx, gw, gb = ops.batch_norm_backward(g, x, mean, var, scale, training=False, eps=self.eps)
        return [gx, gw, gb, None, None]


class _LayerNorm(_Op):
    """LayerNormalization: each x[i_0 … i_{a−1}, :] normalised over the axes a … r−1 (a the
    ``axis`` attribute, negative counting from r) by ``ops.layer_norm``, then
    y = x̂·Scale + B with Scale and B broadcast to x. Backward: ∂ℓ/∂x̂ = G·Scale through
    ``ops.layer_norm_backward``; ∂ℓ/∂Scale = G·x̂ and ∂ℓ/∂B = G, summed over the axes the
    broadcast stretched."""

    roles = ("x", "scale", "B")

    def __init__(self, node: Node, operands: Sequence[Operand], axis: int, eps: float) -> None:
        super().__init__(node, operands)
        self.axis, self.eps = axis, eps

    def compute(self, x: np.ndarray, scale: Any, B: Any) -> tuple[np.ndarray, Any]:
        a = _axis(self.onnx_node, "attribute 'axis'", self.axis, max(x.ndim, 1))
        for name, v in (("Scale", scale), ("B", B)):
            if v is not None and not _broadcasts_to(np.shape(v), x.shape):
                raise refuse(
                    self.onnx_node,
                    f"input {name!r}: expected a shape that broadcasts to X's {x.shape}, "
                    f"got {np.shape(v)}",
                )
        shape = x.shape[a:]
        xhat = ops.layer_norm(x, shape, None, None, self.eps)
        y = xhat * scale if B is None else xhat * scale + B
        return np.asarray(y, dtype=x.dtype), (xhat, shape)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        xhat, shape = ctx
        x, scale, B = args
        g_xhat = np.asarray(g * scale, dtype=x.dtype)
        gx = ops.layer_norm_backward(g_xhat, x, shape, None, eps=self.eps)[0]
        return [
            gx,
            unbroadcast(g * xhat, np.shape(scale)),
            None if B is None else unbroadcast(g, np.shape(B)),
        ]


class _InstanceNorm(_Op):
    """InstanceNormalization on (N, C, D1, …): each (n, c) normalised over its D1·D2·…
    values, then scaled and shifted per channel — ``ops.group_norm`` with one group per
    channel, and ``ops.group_norm_backward``."""

    roles = ("x", "scale", "B")

    def __init__(self, node: Node, operands: Sequence[Operand], eps: float) -> None:
        super().__init__(node, operands)
        self.eps = eps

    def compute(self, x: np.ndarray, scale: Any, B: Any) -> tuple[np.ndarray, Any]:
        _instance_shapes(self.onnx_node, np.shape(x), np.shape(scale), np.shape(B))
        return ops.group_norm(x, x.shape[1], scale, B, self.eps), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        x, scale, _ = args
        return list(ops.group_norm_backward(g, x, x.shape[1], scale, eps=self.eps))


def _instance_shapes(node: Node, x: Sequence[Any], scale: Sequence[Any], B: Sequence[Any]) -> None:
    """InstanceNormalization's shapes: input (N, C, D1, …), scale and B (C,); a None (not
    known at load time) passes."""
    if len(x) < 3:
        raise refuse(
            node, f"input 'input': expected (N, C, D1, …) with at least 3 axes, got shape {x}"
        )
    for name, shape in (("scale", scale), ("B", B)):
        if len(shape) != 1 or (x[1] is not None and shape[0] != x[1]):
            C = "C" if x[1] is None else f"C = {x[1]}"
            raise refuse(
                node,
                f"input {name!r}: expected shape (C,), one value per channel ({C}), "
                f"got {tuple(shape)}",
            )


# ---------------------------------------------------------------------------------------------
# GroupNormalization; QuantizeLinear and DequantizeLinear; TopK; Mod, CumSum, GatherElements,
# Range; LpPool and GlobalLpPool


class _GroupNorm(_Op):
    """GroupNormalization on X (N, C, D1, …), G = ``num_groups`` dividing C: each sample's
    group k of C/G consecutive channels is normalised over its m = (C/G)·D1·D2·… values,

        y[n, c] = scale_c · (x[n, c] − μ_nk) / √(σ²_nk + ε) + bias_c     (c in group k),

    μ_nk the mean and σ²_nk the biased variance (``ops.group_norm``). From opset 21 scale and
    bias are (C,), one value per channel; at opset 18 they are (G,), one per group
    (scale_c = scale_k), and their gradients are the sums of their channels'. Backward by
    ``ops.group_norm_backward``."""

    roles = ("x", "scale", "bias")

    def __init__(
        self, node: Node, operands: Sequence[Operand], groups: int, eps: float, per_group: bool
    ) -> None:
        super().__init__(node, operands)
        self.groups, self.eps, self.per_group = groups, eps, per_group

    def _per_channel(self, v: Any, C: int) -> np.ndarray:
        """scale or bias as (C,): a per-group one repeated over its group's channels."""
        v = np.asarray(v)
        return np.repeat(v, C // self.groups) if self.per_group else v

    def compute(self, x: np.ndarray, scale: Any, bias: Any) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        _group_shapes(self.onnx_node, x.shape, np.shape(scale), np.shape(bias), self.groups)
        C = x.shape[1]
        s, b = self._per_channel(scale, C), self._per_channel(bias, C)
        return ops.group_norm(x, self.groups, s, b, self.eps), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        x, scale, _ = args
        C = x.shape[1]
        gx, gs, gb = ops.group_norm_backward(
            g, x, self.groups, self._per_channel(scale, C), eps=self.eps
        )
        if self.per_group:  # one value per group: the sum over its channels
            gs, gb = (v.reshape(self.groups, -1).sum(axis=1) for v in (gs, gb))
        return [gx, gs, gb]

    def extra_repr(self) -> str:
        """The op type, the groups and what scale and bias hold."""
        per = "group" if self.per_group else "channel"
        return f"onnx_op={self.onnx_op!r}, num_groups={self.groups}, eps={self.eps}, per={per!r}"


def _group_shapes(
    node: Node, x: Sequence[Any], scale: Sequence[Any], bias: Sequence[Any], groups: int
) -> None:
    """GroupNormalization's shapes: X (N, C, …) with C a multiple of num_groups; scale and
    bias (C,) from opset 21, (num_groups,) at opset 18. A None (not known at load) passes."""
    if len(x) < 2:
        raise refuse(node, f"input 'X': expected (N, C, D1, …) with at least 2 axes, got {x}")
    C = x[1]
    if C is not None and C % groups:
        raise refuse(
            node,
            f"attribute 'num_groups': expected a divisor of the {C} channels of X, got {groups}",
        )
    per_group = node.opset < 21
    n = groups if per_group else C
    what = f"one per group, num_groups = {groups}" if per_group else f"one per channel, C = {C}"
    for name, shape in (("scale", scale), ("bias", bias)):
        if len(shape) != 1 or (n is not None and shape[0] is not None and shape[0] != n):
            raise refuse(
                node,
                f"input {name!r}: expected shape ({'G' if per_group else 'C'},) ({what}; "
                f"opset {node.opset}), got {tuple(shape)}",
            )


#: The integer types QuantizeLinear writes and DequantizeLinear reads, by ONNX type code,
#: with their ranges (a saturated result is clipped to them). DequantizeLinear reads int32
#: too (a bias quantized with scale x_scale·w_scale).
_QUANTIZED = {2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16}
_QUANT_CODES = {np.dtype(t): code for code, t in _QUANTIZED.items()}


def _type_name(code: Any) -> str:
    """The ONNX name of element type ``code`` (INT4, FLOAT8E4M3FN, …), or the code itself."""
    try:
        from onnx import TensorProto

        return str(TensorProto.DataType.Name(int(code)))
    except Exception:
        return str(code)


def _quant_param(
    node: Node, name: str, v: np.ndarray, shape: tuple[int, ...], axis: int, block: int
) -> np.ndarray:
    """A scale or zero point shaped to broadcast against x of ``shape``: per tensor (a scalar
    or one value), per axis (1-D, one value per index of x's ``axis``) or, with ``block`` > 0,
    blocked (x's rank, ⌈D_axis/block⌉ along the axis and x's sizes elsewhere: each value
    repeated over its block of ``block`` consecutive indices)."""
    v = np.asarray(v)
    if block == 0 and v.size == 1 and v.ndim <= 1:  # per tensor: the axis is not read
        return v.reshape(())
    a = _axis(node, "attribute 'axis'", axis, max(len(shape), 1))
    if block == 0:
        if v.ndim != 1 or v.shape[0] != shape[a]:
            raise refuse(
                node,
                f"input {name!r}: expected a scalar (per tensor) or shape ({shape[a]},) (per "
                f"axis {a} of x's {shape}), got {v.shape}",
            )
        return v.reshape([-1 if i == a else 1 for i in range(len(shape))])
    blocks = -(-shape[a] // block)
    want = tuple(blocks if i == a else n for i, n in enumerate(shape))
    if v.shape != want:
        raise refuse(
            node,
            f"input {name!r}: expected shape {want} (blocks of {block} along axis {a} of x's "
            f"{shape}), got {v.shape}",
        )
    return np.repeat(v, block, axis=a).take(np.arange(shape[a]), axis=a)


class _Dequantize(_Op):
    """DequantizeLinear: y = (x − zero_point)·scale, in the scale's type (float32 or float64;
    every int8, uint8, int16 and uint16 value and difference is exact there), with scale and
    zero point per tensor, per axis or per block (``_quant_param``); no zero point is 0.
    On a constant x (an int8 weight) the node is folded at load time into the float array it
    stands for. ∂ℓ/∂x is not defined (x is an integer); scale and zero point are the
    quantization's fixed constants, not trained."""

    roles = ("x", "x_scale", "x_zero_point")

    def __init__(
        self, node: Node, operands: Sequence[Operand], axis: int, block: int, dtype: Any
    ) -> None:
        super().__init__(node, operands)
        self.axis, self.block = axis, block
        self.dtype = None if dtype is None else np.dtype(dtype)

    def compute(self, x: Any, scale: Any, zero: Any) -> tuple[np.ndarray, Any]:
        x, scale = np.asarray(x), np.asarray(scale)
        if x.dtype not in (*_QUANT_CODES, np.dtype(np.int32)):
            raise refuse(
                self.onnx_node,
                f"input 'x': expected int8, uint8, int16, uint16 or int32 values, got {x.dtype}",
            )
        if not _is_float(scale):
            raise refuse(
                self.onnx_node, f"input 'x_scale': expected float32 or float64, got {scale.dtype}"
            )
        if zero is not None and np.asarray(zero).dtype != x.dtype:
            raise refuse(
                self.onnx_node,
                f"input 'x_zero_point': expected x's type {x.dtype}, got {np.asarray(zero).dtype}",
            )
        s = _quant_param(self.onnx_node, "x_scale", scale, x.shape, self.axis, self.block)
        y = x.astype(scale.dtype)
        if zero is not None:
            z = _quant_param(self.onnx_node, "x_zero_point", zero, x.shape, self.axis, self.block)
            y = y - z.astype(scale.dtype)
        y = y * s
        return (y if self.dtype is None else y.astype(self.dtype)), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [None, None, None]


class _Quantize(_Op):
    """QuantizeLinear: y = saturate(round(x / scale) + zero_point), round halving to even
    (NumPy's ``rint``, as ONNX), saturate clipping to the range of y's type — the zero
    point's (int8, uint8, int16 or uint16), else ``output_dtype``'s, else uint8 — with scale
    and zero point per tensor, per axis or per block (``_quant_param``). x / scale is
    computed in NumPy's promotion of their types (``precision``, when given, casts both to
    float32 or float64 first). A QuantizeLinear → DequantizeLinear pair on an activation is
    fake quantization: the value rounded to the grid scale·(q − zero_point).

    No gradient: y is an integer and round() is piecewise constant, so ONNX's derivative is
    zero almost everywhere (the straight-through estimator of quantization-aware training is
    a different function, which ONNX does not define). Rather than return zeros for
    everything before the node — a training step that silently changes nothing —
    ``backward`` raises, naming the node; a backward that needs only the parameters' gradients
    passes a QuantizeLinear that reads only the graph's inputs (no parameter lies before it).
    """

    roles = ("x", "y_scale", "y_zero_point")

    def __init__(
        self,
        node: Node,
        operands: Sequence[Operand],
        axis: int,
        block: int,
        dtype: Any,
        precision: Any,
    ) -> None:
        super().__init__(node, operands)
        self.axis, self.block, self.dtype = axis, block, np.dtype(dtype)
        self.precision = None if precision is None else np.dtype(precision)

    def compute(self, x: Any, scale: Any, zero: Any) -> tuple[np.ndarray, Any]:
        x, scale = np.asarray(x), np.asarray(scale)
        dtype = self.dtype if zero is None else np.asarray(zero).dtype
        if dtype not in _QUANT_CODES:
            raise refuse(
                self.onnx_node,
                f"input 'y_zero_point': expected int8, uint8, int16 or uint16, got {dtype}",
            )
        if not _is_float(scale):
            raise refuse(
                self.onnx_node, f"input 'y_scale': expected float32 or float64, got {scale.dtype}"
            )
        s = _quant_param(self.onnx_node, "y_scale", scale, x.shape, self.axis, self.block)
        if self.precision is not None:
            x, s = x.astype(self.precision), s.astype(self.precision)
        elif not _is_float(x):  # an int32 x: divided in the scale's type
            x = x.astype(scale.dtype)
        bounds = np.iinfo(dtype)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            q = np.rint(x / s)
            if zero is not None:
                z = _quant_param(
                    self.onnx_node, "y_zero_point", zero, x.shape, self.axis, self.block
                )
                q = q + z.astype(q.dtype)
            return np.clip(q, bounds.min, bounds.max).astype(dtype), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        raise RuntimeError(
            f"{FUNC}: node {self.onnx_node.name!r} (QuantizeLinear): backward: the output is "
            "an integer rounded from x, piecewise constant, so its gradient is zero almost "
            "everywhere (the only one ONNX defines) and nothing before this node would learn. "
            "Train the float model (the file before quantization) instead, or remove the "
            "QuantizeLinear/DequantizeLinear pairs; quantization-aware training's "
            "straight-through estimator is not ONNX's definition"
        )

    def backward_params_ctx(self, ctx: Any, grad_output: np.ndarray) -> None:
        """Nothing to do: reached only when every input is a graph input, and no parameter
        lies before the node."""

    def extra_repr(self) -> str:
        """The op type and the quantized type."""
        return f"onnx_op={self.onnx_op!r}, dtype={self.dtype.name}"


def _one_int(node: Node, name: str, v: Any) -> int:
    """A scalar integer input given as a 0-D tensor or a 1-D tensor of one value (TopK's K,
    CumSum's axis)."""
    v = np.asarray(v)
    if v.size != 1 or v.ndim > 1 or not np.issubdtype(v.dtype, np.integer):
        raise refuse(
            node,
            f"input {name!r}: expected one integer (a 0-D or 1-element tensor), got {v.dtype} "
            f"of shape {v.shape}",
        )
    return int(v.reshape(()))


def _sorted_order(x: np.ndarray, a: int, largest: bool) -> np.ndarray:
    """Indices along axis ``a`` ordering x from largest to smallest (``largest``) or smallest
    to largest, equal values by increasing index (ONNX's TopK rule). A NaN counts as larger
    than every number (NumPy's sort puts it last). The largest-first order is the stable
    ascending sort of x reversed along the axis, mapped back and reversed: no negation, so
    unsigned and the most negative integers sort right."""
    if not largest:
        return np.argsort(x, axis=a, kind="stable")
    n = x.shape[a]
    flipped = np.argsort(np.flip(x, axis=a), axis=a, kind="stable")
    return np.flip(n - 1 - flipped, axis=a)


class _TopK(_Op):
    """TopK: the K largest (``largest`` = 1) or smallest values of X along ``axis`` and their
    indices (int64), in sorted order (also for ``sorted`` = 0, where ONNX leaves the order
    open), equal values by increasing index. K is a one-value input, 0 ≤ K ≤ the axis'
    length, known at load time or computed at run time. Values: X's shape with K along the
    axis; ∂ℓ/∂X is G scattered back to the indices (0 elsewhere: the indices are distinct).
    ``output`` picks the node's output this module computes (0: Values, 1: Indices, no
    gradient)."""

    roles = ("X", "K")

    def __init__(
        self, node: Node, operands: Sequence[Operand], axis: int, largest: bool, output: int
    ) -> None:
        super().__init__(node, operands)
        self.axis, self.largest, self.output = axis, largest, output

    def compute(self, x: Any, k: Any) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        if x.ndim == 0:
            raise refuse(self.onnx_node, "input 'X': expected at least one axis, got a scalar")
        a = _axis(self.onnx_node, "attribute 'axis'", self.axis, x.ndim)
        K = _one_int(self.onnx_node, "K", k)
        if not 0 <= K <= x.shape[a]:
            raise refuse(
                self.onnx_node,
                f"input 'K': expected 0 ≤ K ≤ {x.shape[a]} (X's length along axis {a}), got {K}",
            )
        index = np.take(_sorted_order(x, a, self.largest), np.arange(K), axis=a)
        if self.output == 1:
            return index.astype(np.int64), None
        return np.take_along_axis(x, index, axis=a), (a, index)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        if ctx is None:  # the indices
            return [None, None]
        a, index = ctx
        x = np.asarray(args[0])
        gx = np.zeros(x.shape, g.dtype)
        np.put_along_axis(gx, index, g, axis=a)
        return [gx, None]

    def extra_repr(self) -> str:
        """The op type, the axis and which end."""
        which = "Values" if self.output == 0 else "Indices"
        return f"onnx_op={self.onnx_op!r}, axis={self.axis}, largest={self.largest}, {which}"


class _Mod(_Op):
    """Mod, elementwise with NumPy (= ONNX multidirectional) broadcasting: with ``fmod`` = 0
    r = a − ⌊a/b⌋·b, the sign of b (``numpy.mod``, integers and floats alike: the
    definition of opset 28, which opsets 10 and 13 gave for integers only); with ``fmod`` = 1
    r = a − trunc(a/b)·b, the sign of a (C's fmod, ``numpy.fmod``). A float b = 0 gives
    NaN; an integer b = 0 gives 0 (NumPy's; ONNX leaves it undefined). Backward, for floats
    (as PyTorch's remainder and fmod): ∂r/∂a = 1, ∂r/∂b = −⌊a/b⌋ (fmod = 0) or −trunc(a/b),
    each summed over the axes broadcasting stretched; integers have no gradient."""

    roles = ("A", "B")

    def __init__(self, node: Node, operands: Sequence[Operand], fmod: bool) -> None:
        super().__init__(node, operands)
        self.fmod = fmod

    def compute(self, a: Any, b: Any) -> tuple[np.ndarray, Any]:
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype != b.dtype:
            raise refuse(
                self.onnx_node, f"inputs: expected A and B of one type, got {a.dtype} and {b.dtype}"
            )
        _guard(_broadcast(self.onnx_node, self.roles, [a.shape, b.shape]), a.itemsize)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(np.fmod(a, b) if self.fmod else np.mod(a, b)), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        a, b = np.asarray(args[0]), np.asarray(args[1])
        if not _is_float(a):
            return [None, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.trunc(a / b) if self.fmod else np.floor(a / b)
        return [unbroadcast(g, a.shape), unbroadcast(-g * q, b.shape)]

    def extra_repr(self) -> str:
        """The op type and its formula."""
        return f"onnx_op={self.onnx_op!r}, fmod={int(self.fmod)}"


def _cumsum(x: np.ndarray, a: int, exclusive: bool, reverse: bool) -> np.ndarray:
    """y_i = Σ x_j along axis ``a`` over j ≤ i (j < i: ``exclusive``; j ≥ i and j > i with
    ``reverse``), accumulated in x's type."""
    if reverse:
        x = np.flip(x, axis=a)
    y = np.cumsum(x, axis=a, dtype=x.dtype)
    if exclusive:  # shifted one along: a 0 first, the last sum dropped
        y = _window(y, [-1], [x.shape[a]], [a])
    return np.flip(y, axis=a) if reverse else y


class _CumSum(_Op):
    """CumSum along ``axis`` (an input: one integer, at load or run time): y_i = Σ_{j ≤ i} x_j,
    Σ_{j < i} with ``exclusive``, and from the other end (j ≥ i, j > i) with ``reverse``.
    Backward: ∂ℓ/∂x_j = Σ_{i ≥ j} G_i — the cumulative sum of G with the same ``exclusive``
    and the opposite ``reverse``."""

    roles = ("x", "axis")

    def __init__(
        self, node: Node, operands: Sequence[Operand], exclusive: bool, reverse: bool
    ) -> None:
        super().__init__(node, operands)
        self.exclusive, self.reverse = exclusive, reverse

    def compute(self, x: Any, axis: Any) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        a = _axis(self.onnx_node, "input 'axis'", _one_int(self.onnx_node, "axis", axis), x.ndim)
        return _cumsum(x, a, self.exclusive, self.reverse), a

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [_cumsum(g, ctx, self.exclusive, not self.reverse), None]

    def extra_repr(self) -> str:
        """The op type and its flags."""
        return (
            f"onnx_op={self.onnx_op!r}, exclusive={int(self.exclusive)}, "
            f"reverse={int(self.reverse)}"
        )


class _GatherElements(_Op):
    """GatherElements along ``axis`` a: out[i] = data[i with i_a replaced by indices[i]],
    out of indices' shape (data's rank; along the other axes no longer than data's), an
    index in [−n, n − 1] (n = data's length along a; a negative one counts from the end).
    Backward: G scatter-added into data's shape at the indices gathered (an index read
    twice gets both terms)."""

    roles = ("data", "indices")

    def __init__(self, node: Node, operands: Sequence[Operand], axis: int) -> None:
        super().__init__(node, operands)
        self.axis = axis

    def compute(self, data: Any, indices: Any) -> tuple[np.ndarray, Any]:
        data, indices = np.asarray(data), np.asarray(indices)
        a = _axis(self.onnx_node, "attribute 'axis'", self.axis, max(data.ndim, 1))
        if not np.issubdtype(indices.dtype, np.integer):
            raise refuse(
                self.onnx_node, f"input 'indices': expected int32 or int64, got {indices.dtype}"
            )
        if (
            data.ndim == 0
            or indices.ndim != data.ndim
            or any(m > n for i, (m, n) in enumerate(zip(indices.shape, data.shape)) if i != a)
        ):
            raise refuse(
                self.onnx_node,
                f"input 'indices': expected data's rank {data.ndim} and no axis but {a} longer "
                f"than data's {data.shape}, got shape {indices.shape}",
            )
        n = data.shape[a]
        if indices.size and (indices.min() < -n or indices.max() >= n):
            raise refuse(
                self.onnx_node,
                f"input 'indices': expected values in [{-n}, {n - 1}] (axis {a} of data's "
                f"{data.shape}), got values from {indices.min()} to {indices.max()}",
            )
        index = np.where(indices < 0, indices + n, indices).astype(np.intp)
        where = list(np.indices(index.shape, sparse=True))
        where[a] = index
        return data[tuple(where)], tuple(where)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        data = np.asarray(args[0])
        if not _is_float(data):
            return [None, None]
        gd = np.zeros(data.shape, g.dtype)
        np.add.at(gd, ctx, g)
        return [gd, None]


class _Range(_Op):
    """Range: start + i·delta for i = 0 … n − 1, n = max(⌈(limit − start)/delta⌉, 0), in
    start's type (start, limit and delta are scalars of one type; delta ≠ 0), at load time
    (folded) or at run time. No gradient (as PyTorch's arange)."""

    roles = ("start", "limit", "delta")

    def compute(self, start: Any, limit: Any, delta: Any) -> tuple[np.ndarray, Any]:
        start, limit, delta = (np.asarray(v) for v in (start, limit, delta))
        if any(v.shape != () for v in (start, limit, delta)) or delta == 0:
            raise refuse(
                self.onnx_node,
                "inputs: expected scalars start, limit and a non-zero delta, got shapes "
                f"{start.shape}, {limit.shape}, {delta.shape} and delta {delta}",
            )
        with np.errstate(invalid="ignore", divide="ignore"):
            span = (float(limit) - float(start)) / float(delta)
        if not math.isfinite(span):
            raise refuse(self.onnx_node, f"inputs: expected finite values, got span {span}")
        n = max(math.ceil(span), 0)
        _guard([n], start.itemsize)
        return (start + np.arange(n, dtype=start.dtype) * delta).astype(start.dtype), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [None, None, None]


class _ConstantOfShape(_Op):
    """ConstantOfShape: an array of the shape its input gives (1-D, int64), every element
    ``fill`` (the ``value`` attribute's one element, in its type), at load time (folded, within
    the load-time budget) or at run time (within this machine's memory). No gradient."""

    roles = ("shape",)

    def __init__(self, node: Node, operands: Sequence[Operand], fill: np.ndarray) -> None:
        super().__init__(node, operands)
        self.fill = fill

    def compute(self, shape: Any) -> tuple[np.ndarray, Any]:
        shape = np.asarray(shape)
        dims = [int(v) for v in shape.reshape(-1)]
        if (
            shape.ndim != 1
            or not np.issubdtype(shape.dtype, np.integer)
            or min(dims, default=0) < 0
        ):
            raise refuse(
                self.onnx_node,
                f"input 'input': expected a 1-D integer shape of sizes >= 0, got {dims} "
                f"(dtype {shape.dtype}, {shape.ndim}-D)",
            )
        _guard(dims, self.fill.dtype.itemsize)
        return np.full(dims, self.fill, dtype=self.fill.dtype), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [None]


class _Einsum(_Op):
    """Einsum: y = ``ops.einsum(equation, *inputs)`` on any number of inputs; the gradient of
    each is ``ops.einsum_backward``'s (the einsum of G with the others onto its labels)."""

    def __init__(self, node: Node, operands: Sequence[Operand], equation: str) -> None:
        self.roles = tuple(f"inputs_{i}" for i in range(len(operands)))  # params train
        super().__init__(node, operands)
        self.equation = equation

    def compute(self, *xs: Any) -> tuple[np.ndarray, Any]:
        try:
            shape = einsum_shape(self.equation, *(np.shape(x) for x in xs))
            _guard(shape, np.asarray(xs[0]).itemsize)
            return ops.einsum(self.equation, *xs), None
        except (TypeError, ValueError) as e:
            raise refuse(self.onnx_node, str(e)) from None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return list(ops.einsum_backward(self.equation, g, *args))

    def extra_repr(self) -> str:
        """The op type and its equation."""
        return f"onnx_op={self.onnx_op!r}, equation={self.equation!r}"


class _ScatterND(_Op):
    """ScatterND: a copy of data with the slices indices lists replaced by (or combined
    with) updates (``_scatter``); gradients for reductions "none" and "add". For "mul",
    "max" and "min" backward is refused only when data or updates depends on a graph
    input's values or a parameter (``differentiable``, from the loader); a mask built from
    shapes and constants passes None back."""

    roles = ("data", "indices", "updates")

    def __init__(
        self,
        node: Node,
        operands: Sequence[Operand],
        reduction: str,
        differentiable: bool = True,
    ) -> None:
        super().__init__(node, operands)
        self.reduction = reduction
        self.differentiable = differentiable

    def compute(self, data: Any, indices: Any, updates: Any) -> tuple[np.ndarray, Any]:
        try:
            arrays = np.asarray(data), np.asarray(indices), np.asarray(updates)
            return scatter_nd(*arrays, self.reduction)
        except ValueError as e:
            raise refuse(self.onnx_node, str(e)) from None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        if not _is_float(np.asarray(args[0])):
            return [None, None, None]
        if not self.differentiable and REDUCTIONS[self.reduction] not in (None, np.add):
            return [None, None, None]  # nothing before it takes a gradient
        try:
            g_data, g_updates = scatter_nd_backward(g, ctx, self.reduction)
        except ValueError as e:
            raise refuse(self.onnx_node, f"backward: {e}") from None
        return [g_data, None, g_updates]


def _lp_power(x: np.ndarray, p: int) -> np.ndarray:
    """|x|^p."""
    return np.abs(x) if p == 1 else (x * x if p == 2 else np.abs(x) ** p)


def _lp_backward(x: np.ndarray, y: np.ndarray, g: np.ndarray, p: int) -> tuple[Any, Any]:
    """The two factors of ∂y/∂x for y = (Σ|x|^p)^(1/p): G·y^(1−p) per output (0 where y = 0:
    a window of zeros, where the norm has no derivative) and |x|^(p−1)·sign(x) per input."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        per_output = g if p == 1 else np.where(y > 0, g * y ** (1 - p), 0).astype(g.dtype)
    per_input = np.sign(x) if p == 1 else (x if p == 2 else np.abs(x) ** (p - 1) * np.sign(x))
    return per_output, per_input


class _LpPool(_Op):
    """LpPool on (N, C, D1, …, Dk), k = len(kernel_shape) spatial axes:

        y[n, c, o] = (Σ_{t in the window} |x_pad[n, c, s·o + d·t]|^p)^(1/p),

    x_pad x padded with zeros (``pads``, or auto_pad's SAME_UPPER / SAME_LOWER), windows of
    ``kernel_shape`` taps spaced ``dilations`` apart every ``strides``; output size
    ⌊(D + pb + pe − d(k − 1) − 1)/s⌋ + 1 per axis (⌈·⌉ with ``ceil_mode``, a last window
    starting inside x or its begin padding, as MaxPool's). The sum is a loop over the kernel's
    taps of strided views, never over pixels. Backward:
    ∂y/∂x = (|x|/y)^(p−1)·sign(x), summed over the windows x lies in (0 where y = 0)."""

    roles = ("x",)

    def __init__(self, node: Node, operands: Sequence[Operand], geo: dict[str, Any], p: int):
        super().__init__(node, operands)
        self.geo, self.p = geo, p

    def _layout(self, x: np.ndarray) -> tuple[list[int], list[int], list[int]]:
        g = self.geo
        k = len(g["kernel_shape"])
        if x.ndim != k + 2:
            raise refuse(
                self.onnx_node,
                f"input 'X': expected (N, C) and {k} spatial axes (kernel_shape "
                f"{g['kernel_shape']}), got shape {x.shape}",
            )
        begins, lengths, outs = [], [], []
        for i, m in enumerate(x.shape[2:]):
            kk, s, d = g["kernel_shape"][i], g["strides"][i], g["dilations"][i]
            if g["auto_pad"] in ("SAME_UPPER", "SAME_LOWER"):
                pb, pe = _same_pads(m, kk, s, d, g["auto_pad"] == "SAME_UPPER")
            else:
                pb, pe = g["pads"][i], g["pads"][i + k]
            out, length = _pool_extent(m, kk, s, d, pb, pe, g["ceil_mode"])
            if out < 1:
                raise refuse(
                    self.onnx_node,
                    f"input 'X': the window ({kk}, dilation {d}) is larger than the padded "
                    f"input ({m} + {pb} + {pe}) along axis {i + 2}",
                )
            begins.append(pb)
            lengths.append(length)
            outs.append(out)
        return begins, lengths, outs

    def _taps(self, outs: Sequence[int]) -> Iterator[tuple[slice, ...]]:
        """For each tap t of the kernel, the strided view of the padded input it reads."""
        g = self.geo
        for tap in np.ndindex(*g["kernel_shape"]):
            yield (slice(None), slice(None)) + tuple(
                slice(d * t, d * t + s * (o - 1) + 1, s)
                for t, d, s, o in zip(tap, g["dilations"], g["strides"], outs)
            )

    def compute(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        begins, lengths, outs = self._layout(x)
        axes = range(2, x.ndim)
        xp = _window(_lp_power(x, self.p), [-b for b in begins], lengths, axes)
        total = np.zeros((*x.shape[:2], *outs), x.dtype)
        for view in self._taps(outs):
            total += xp[view]
        y = total if self.p == 1 else (np.sqrt(total) if self.p == 2 else total ** (1 / self.p))
        return y.astype(x.dtype), (y, begins, lengths, outs)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        y, begins, lengths, outs = ctx
        x = np.asarray(args[0])
        per_output, per_input = _lp_backward(x, y, g, self.p)
        gp = np.zeros((*x.shape[:2], *lengths), g.dtype)
        for view in self._taps(outs):
            gp[view] += per_output
        gx = _window(gp, begins, x.shape[2:], range(2, x.ndim))
        return [(gx * per_input).astype(x.dtype)]

    def extra_repr(self) -> str:
        """The op type, p and the window."""
        g = self.geo
        return (
            f"onnx_op={self.onnx_op!r}, p={self.p}, kernel_shape={g['kernel_shape']}, "
            f"strides={g['strides']}, dilations={g['dilations']}"
        )


class _GlobalLpPool(_Op):
    """GlobalLpPool: y[n, c] = (Σ over every spatial position |x[n, c, …]|^p)^(1/p), the
    spatial axes kept as size 1. Backward: ∂y/∂x = (|x|/y)^(p−1)·sign(x) (0 where y = 0)."""

    roles = ("x",)

    def __init__(self, node: Node, operands: Sequence[Operand], p: int) -> None:
        super().__init__(node, operands)
        self.p = p

    def compute(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        if x.ndim < 2:
            raise refuse(self.onnx_node, f"input 'X': expected (N, C, …), got shape {x.shape}")
        total = np.sum(_lp_power(x, self.p), axis=tuple(range(2, x.ndim)), keepdims=True)
        y = total if self.p == 1 else (np.sqrt(total) if self.p == 2 else total ** (1 / self.p))
        return y.astype(x.dtype), y

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        x = np.asarray(args[0])
        per_output, per_input = _lp_backward(x, ctx, g, self.p)
        return [(per_output * per_input).astype(x.dtype)]

    def extra_repr(self) -> str:
        """The op type and p."""
        return f"onnx_op={self.onnx_op!r}, p={self.p}"


# ---------------------------------------------------------------------------------------------
# Softmax, reductions


class _Softmax(_Op):
    """Softmax / LogSoftmax along ``axis`` (opset ≥ 13), or, before opset 13, of x flattened
    to 2-D at ``axis`` (the old definition), via ``ops.softmax``."""

    roles = ("x",)

    def __init__(
        self, node: Node, operands: Sequence[Operand], axis: int, log: bool, legacy: bool
    ) -> None:
        super().__init__(node, operands)
        self.axis, self.log, self.legacy = axis, log, legacy

    def _2d(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        a = _axis(self.onnx_node, "attribute 'axis'", self.axis, max(x.ndim, 1))
        if not self.legacy:
            return x, a
        return x.reshape(int(np.prod(x.shape[:a], dtype=np.int64)), -1), 1

    def compute(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        x2, dim = self._2d(x)
        y2 = (ops.log_softmax if self.log else ops.softmax)(x2, dim)
        return y2.reshape(x.shape), (x2, dim, y2)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        x2, dim, y2 = ctx
        back = ops.log_softmax_backward if self.log else ops.softmax_backward
        return [back(g.reshape(x2.shape), x2, dim, output=y2).reshape(args[0].shape)]


def _lowest(dtype: np.dtype) -> Any:
    """The identity of max over ``dtype`` (ONNX's ReduceMax of no values): −∞, the least
    integer, or False."""
    if dtype == np.bool_:
        return False
    return -np.inf if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).min


def _highest(dtype: np.dtype) -> Any:
    if dtype == np.bool_:
        return True
    return np.inf if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).max


def _reduce_max(x: np.ndarray, ax: tuple[int, ...], keep: bool) -> np.ndarray:
    return np.max(x, axis=ax, keepdims=keep, initial=_lowest(x.dtype))


def _reduce_min(x: np.ndarray, ax: tuple[int, ...], keep: bool) -> np.ndarray:
    return np.min(x, axis=ax, keepdims=keep, initial=_highest(x.dtype))


def _reduce_sum_square(x: np.ndarray, ax: tuple[int, ...], keep: bool) -> np.ndarray:
    return np.sum(x * x, axis=ax, keepdims=keep)


def _reduce_log_sum_exp(x: np.ndarray, ax: tuple[int, ...], keep: bool) -> np.ndarray:
    top = _reduce_max(x, ax, True)
    top = np.where(np.isfinite(top), top, 0)  # ±inf or NaN: the plain formula's answer
    with np.errstate(divide="ignore"):
        y = np.log(np.sum(np.exp(x - top), axis=ax, keepdims=True)) + top
    return y if keep else np.squeeze(y, axis=ax)


#: ReduceX → y(x, axes, keepdims), each as ONNX defines it.
_REDUCTIONS: dict[str, Callable[[np.ndarray, tuple[int, ...], bool], np.ndarray]] = {
    "ReduceMean": lambda x, ax, keep: np.mean(x, axis=ax, keepdims=keep),
    "ReduceSum": lambda x, ax, keep: np.sum(x, axis=ax, keepdims=keep),
    "ReduceMax": _reduce_max,
    "ReduceMin": _reduce_min,
    "ReduceProd": lambda x, ax, keep: np.prod(x, axis=ax, keepdims=keep),
    "ReduceSumSquare": _reduce_sum_square,
    "ReduceL1": lambda x, ax, keep: np.sum(np.abs(x), axis=ax, keepdims=keep),
    "ReduceL2": lambda x, ax, keep: np.sqrt(_reduce_sum_square(x, ax, keep)),
    "ReduceLogSum": lambda x, ax, keep: np.log(np.sum(x, axis=ax, keepdims=keep)),
    "ReduceLogSumExp": _reduce_log_sum_exp,
}


def _others_product(x: np.ndarray, ax: tuple[int, ...]) -> np.ndarray:
    """∂(Π_{axes} x)/∂x: for each element the product of the others over ``axes``, as the
    product of the exclusive running products from the left and from the right (no
    division, so a zero among the values is exact)."""
    if x.size == 0:
        return np.zeros_like(x)
    rest = [a for a in range(x.ndim) if a not in ax]
    moved = np.transpose(x, (*rest, *ax))
    flat = moved.reshape(*moved.shape[: len(rest)], -1)
    one = np.ones((*flat.shape[:-1], 1), x.dtype)
    left = np.cumprod(np.concatenate([one, flat[..., :-1]], axis=-1), axis=-1)
    right = np.cumprod(np.concatenate([one, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return np.transpose((left * right).reshape(moved.shape), np.argsort((*rest, *ax)))


class _Reduce(_Op):
    """ReduceMean, ReduceSum, ReduceProd, ReduceMax, ReduceMin, ReduceSumSquare, ReduceL1,
    ReduceL2, ReduceLogSum, ReduceLogSumExp over ``axes`` (all when absent; with
    noop_with_empty_axes none, the per-element part still applied: x², |x|, log x),
    keepdims; over no values the identity (0, 1, −∞ for max, +∞ for min, log 0 = −∞), as
    ONNX defines it. Backward, with Y broadcast back over the axes:

        mean  G/n            sum  G              sum of squares  2x·G
        L1    sign(x)·G      L2   x/Y·G (0 where Y = 0)
        prod  G·Π of the other elements (exclusive products: exact with zeros)
        max, min  G shared equally by the elements equal to Y (PyTorch's amax/amin rule)
        log sum  G/Σx = G·exp(−Y)   log-sum-exp  exp(x − Y)·G (softmax over the axes)."""

    roles = ("x", "axes")

    def __init__(
        self,
        node: Node,
        operands: Sequence[Operand],
        keepdims: bool,
        noop: bool,
        axes_attr: list[int] | None,
    ) -> None:
        super().__init__(node, operands)
        self.keepdims, self.noop, self.axes_attr = keepdims, noop, axes_attr

    def _axes(self, x: np.ndarray, axes: Any) -> tuple[int, ...]:
        """The reduced axes; none (the empty tuple) for noop_with_empty_axes without axes,
        where each op still applies its per-element part (x², |x|, log x, …), as ONNX says."""
        chosen = self.axes_attr if axes is None else [int(a) for a in np.ravel(axes)]
        if not chosen:
            return () if self.noop else tuple(range(x.ndim))
        what = "attribute 'axes'" if axes is None else "input 'axes'"
        return tuple(sorted(_axes(self.onnx_node, what, chosen, x.ndim)))

    def compute(self, x: np.ndarray, axes: Any) -> tuple[np.ndarray, Any]:
        ax = self._axes(x, axes)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            y = np.asarray(_REDUCTIONS[self.onnx_op](x, ax, self.keepdims), dtype=x.dtype)
        return y, (ax, y)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        x, (ax, y) = args[0], ctx
        if not self.keepdims:
            g, y = np.expand_dims(g, ax), np.expand_dims(y, ax)
        op = self.onnx_op
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if op == "ReduceMean":
                share = g / int(np.prod([x.shape[a] for a in ax]))
            elif op == "ReduceSum":
                share = g
            elif op == "ReduceSumSquare":
                share = 2 * x * g
            elif op == "ReduceL1":
                share = np.sign(x) * g
            elif op == "ReduceL2":
                share = np.where(y == 0, 0, x / np.where(y == 0, 1, y)) * g
            elif op == "ReduceLogSum":
                share = g * np.exp(-y)  # 1/Σx
            elif op == "ReduceLogSumExp":
                share = np.exp(x - y) * g
            elif op == "ReduceProd":
                share = _others_product(x, ax) * g
            else:  # max, min: shared by the ties
                hit = x == y
                share = hit * (g / np.sum(hit, axis=ax, keepdims=True))
        return [np.broadcast_to(share, x.shape).astype(x.dtype), None]


# ---------------------------------------------------------------------------------------------
# Shapes


class _Reshape(_Op):
    """Reshape (0 copies the input's dimension unless allowzero; −1 is inferred), Flatten
    to 2-D at ``axis``, Squeeze, Unsqueeze: y is x with a new shape; ∂ℓ/∂x is G reshaped back."""

    roles = ("x", "shape")

    def __init__(
        self, node: Node, operands: Sequence[Operand], kind: str, param: Any = None
    ) -> None:
        super().__init__(node, operands)
        self.kind, self.param = kind, param

    def _target(self, x: np.ndarray, shape: Any) -> tuple[int, ...]:
        if self.kind == "Flatten":
            a = _axis(self.onnx_node, "attribute 'axis'", self.param, x.ndim, end=True)
            return (int(np.prod(x.shape[:a], dtype=np.int64)), -1)
        if self.kind in ("Squeeze", "Unsqueeze"):
            axes = self.param if shape is None else [int(v) for v in np.ravel(shape)]
            what = "attribute 'axes'" if shape is None else "input 'axes'"
            if self.kind == "Squeeze":
                if axes is None:
                    return tuple(n for n in x.shape if n != 1)
                drop = set(_axes(self.onnx_node, what, axes, x.ndim))
                return tuple(n for i, n in enumerate(x.shape) if i not in drop)
            rank = x.ndim + len(axes)
            add = set(_axes(self.onnx_node, what, axes, rank))
            it = iter(x.shape)
            return tuple(1 if i in add else next(it) for i in range(rank))
        dims = [int(v) for v in np.ravel(shape)]
        _check_reshape(self.onnx_node, dims, x.ndim, bool(self.param))
        if not self.param:  # allowzero = 0: a 0 copies the input's dimension
            dims = [x.shape[i] if v == 0 else v for i, v in enumerate(dims)]
        return tuple(dims)

    def compute(self, x: np.ndarray, shape: Any = None) -> tuple[np.ndarray, Any]:
        target = self._target(x, shape)
        try:
            return np.reshape(x, target), None
        except ValueError:
            raise refuse(
                self.onnx_node,
                f"input 'shape': expected a shape of {x.size} values (those of 'data', shape "
                f"{x.shape}), got {list(target)}",
            ) from None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [g.reshape(np.shape(args[0])), None]


def _check_reshape(node: Node, dims: Sequence[int], rank: int | None, allowzero: bool) -> None:
    """Reshape's ``shape`` input ``dims`` for a ``data`` of rank ``rank`` (None: not known):
    values >= −1, at most one −1; unless allowzero, a 0 copies data's dimension at the same
    index, which must exist; with allowzero, a 0 is a 0 and cannot stand beside a −1."""
    if any(v < -1 for v in dims) or dims.count(-1) > 1:
        raise refuse(
            node, f"input 'shape': expected values >= -1 with at most one -1, got {list(dims)}"
        )
    zeros = [i for i, v in enumerate(dims) if v == 0]
    if allowzero and zeros and -1 in dims:
        raise refuse(
            node, f"input 'shape': expected no -1 beside a 0 with allowzero=1, got {list(dims)}"
        )
    if not allowzero and rank is not None and zeros and zeros[-1] >= rank:
        raise refuse(
            node,
            f"input 'shape': a 0 copies the dimension of 'data' at its index, but {list(dims)} "
            f"has a 0 at index {zeros[-1]} and 'data' has rank {rank}",
        )


class _ConstOutput(_Op):
    """A graph whose output is known at load time (a static Shape): returns the constant,
    whatever the input; no gradient reaches the input."""

    roles = ("x", "value")

    def compute(self, x: Any, value: np.ndarray) -> tuple[np.ndarray, Any]:
        return value.copy(), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [None, None]


class _Transpose(_Op):
    roles = ("x",)

    def __init__(self, node: Node, operands: Sequence[Operand], perm: list[int] | None) -> None:
        super().__init__(node, operands)
        self.perm = perm

    def compute(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        perm = self.perm if self.perm is not None else list(range(x.ndim))[::-1]
        return np.transpose(x, perm), perm

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [np.transpose(g, np.argsort(ctx))]


class _Concat(_Op):
    """Concatenation along ``axis`` of run-time values and constants."""

    roles = ()

    def __init__(self, node: Node, operands: Sequence[Operand], axis: int) -> None:
        super().__init__(node, operands)
        self.axis = axis

    def compute(self, *xs: np.ndarray) -> tuple[np.ndarray, Any]:
        arrays = [np.asarray(x) for x in xs]
        first = arrays[0]
        axis = _axis(self.onnx_node, "attribute 'axis'", self.axis, max(first.ndim, 1))
        others = first.shape[:axis] + first.shape[axis + 1 :]
        for i, a in enumerate(arrays):
            rest = a.shape[:axis] + a.shape[axis + 1 :]
            if a.ndim == 0 or a.ndim != first.ndim or rest != others:
                raise refuse(
                    self.onnx_node,
                    f"input {i}: expected input 0's rank (>= 1) and shape {first.shape} except "
                    f"along axis {axis}, got shape {a.shape}",
                )
        return np.concatenate(arrays, axis=axis), (axis, [a.shape[axis] for a in arrays])

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        axis, sizes = ctx
        return list(np.split(g, np.cumsum(sizes)[:-1], axis=axis))


class _Pad(_Op):
    """Pad: pads = [begin_1 … begin_k, end_1 … end_k] over ``axes`` (all by default); a
    negative entry crops. With a constant (``value``), or in ``mode`` "reflect", "replicate"
    or "circular" (ONNX's reflect, edge and wrap: ``cnnmath.ops.pad``'s index maps)."""

    roles = ("x", "pads", "value", "axes")

    def __init__(self, node: Node, operands: Sequence[Operand], mode: str = "constant") -> None:
        super().__init__(node, operands)
        self.mode = mode

    def _widths(
        self, x: np.ndarray, pads: Any, axes: Any
    ) -> tuple[list[int], list[int], list[int]]:
        pads = [int(v) for v in np.ravel(pads)]
        ax = (
            list(range(x.ndim))
            if axes is None
            else _axes(self.onnx_node, "input 'axes'", axes, x.ndim)
        )
        if len(pads) != 2 * len(ax):
            raise ValueError(f"{FUNC}: Pad: pads: expected {2 * len(ax)} values, got {len(pads)}")
        return ax, pads[: len(ax)], pads[len(ax) :]

    def compute(self, x: np.ndarray, pads: Any, value: Any, axes: Any) -> tuple[np.ndarray, Any]:
        ax, begins, ends = self._widths(x, pads, axes)
        shape = list(np.shape(x))
        for a, b, e in zip(ax, begins, ends):
            shape[a] += b + e
        if min(shape, default=0) >= 0:
            _guard(shape, np.asarray(x).itemsize)
        if self.mode != "constant":
            try:
                y = pad_axes(x, list(zip(begins, ends)), ax, self.mode)
            except ValueError as e:  # the op's own words, naming this node
                raise refuse(self.onnx_node, str(e).replace("pad_axes: ", "")) from None
            return y, (ax, begins, ends)
        fill = 0.0 if value is None or np.size(value) == 0 else np.ravel(value)[0]
        lengths = [x.shape[a] + b + e for a, b, e in zip(ax, begins, ends)]
        return _window(x, [-b for b in begins], lengths, ax, fill), (ax, begins, ends)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        ax, begins, ends = ctx
        x, value = args[0], args[2]
        if self.mode != "constant":
            return [pad_axes_backward(g, x, list(zip(begins, ends)), ax, self.mode)] + [None] * 3
        gx = _window(g, begins, [x.shape[a] for a in ax], ax)
        gv = None
        if value is not None and _is_float(np.asarray(value)) and min(begins, default=0) >= 0:
            gv = np.full(np.shape(value), g.sum() - gx.sum())
        return [gx, None, gv, None]

    def extra_repr(self) -> str:
        """The op type, and the mode unless constant."""
        mode = "" if self.mode == "constant" else f", mode={self.mode!r}"
        return f"onnx_op={self.onnx_op!r}{mode}"


class _Shape(_Op):
    roles = ("x",)

    def __init__(
        self, node: Node, operands: Sequence[Operand], start: int, end: int | None
    ) -> None:
        super().__init__(node, operands)
        self.start, self.end = start, end

    def compute(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        return np.array(np.shape(x)[self.start : self.end], dtype=np.int64), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [None]


class _Gather(_Op):
    roles = ("data", "indices")

    def __init__(self, node: Node, operands: Sequence[Operand], axis: int) -> None:
        super().__init__(node, operands)
        self.axis = axis

    def compute(self, data: Any, indices: Any) -> tuple[np.ndarray, Any]:
        data = np.asarray(data)
        axis = _axis(self.onnx_node, "attribute 'axis'", self.axis, data.ndim)
        idx = np.asarray(indices, dtype=np.int64)
        n = data.shape[axis]
        outside = idx[(idx < -n) | (idx >= n)]
        if outside.size:
            raise refuse(
                self.onnx_node,
                f"input 'indices': expected values in [{-n}, {n - 1}] (axis {axis} of 'data', "
                f"shape {data.shape}), got {int(outside[0])}",
            )
        return np.take(data, idx, axis=axis), axis

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        data, idx, axis = np.asarray(args[0]), np.asarray(args[1], dtype=np.int64), ctx
        if not _is_float(data):
            return [None, None]
        gd = np.zeros_like(data)
        shape = data.shape[:axis] + (idx.size,) + data.shape[axis + 1 :]
        np.add.at(
            np.moveaxis(gd, axis, 0),
            idx.ravel() % data.shape[axis],
            np.moveaxis(g.reshape(shape), axis, 0),
        )
        return [gd, None]


def _slice_axis(n: int, start: int, end: int, step: int) -> slice:
    """ONNX Slice along an axis of n values, as a Python slice: start and end += n where
    negative, then start clamped to [0, n] for a positive step and [0, n − 1] for a negative
    one, end to [0, n] and [−1, n − 1] (an end of −1: through the first value, inclusive)."""
    start = start + n if start < 0 else start
    end = end + n if end < 0 else end
    if step > 0:
        return slice(min(max(start, 0), n), min(max(end, 0), n), step)
    start, end = min(max(start, 0), n - 1), min(max(end, -1), n - 1)
    return slice(start, None if end < 0 else end, step)


class _Slice(_Op):
    """ONNX Slice: data[start_i : end_i : step_i] along each of ``axes`` (the first
    len(starts) axes by default), the bounds clamped as the specification says
    (``_slice_axis``). ∂ℓ/∂data is G scattered back into zeros."""

    roles = ("data", "starts", "ends", "axes", "steps")

    def compute(
        self, data: Any, starts: Any, ends: Any, axes: Any, steps: Any
    ) -> tuple[np.ndarray, Any]:
        data = np.asarray(data)
        node = self.onnx_node
        starts, ends = [int(v) for v in np.ravel(starts)], [int(v) for v in np.ravel(ends)]
        k = len(starts)
        if axes is None and k > data.ndim:
            raise refuse(
                node,
                f"input 'starts': expected at most {data.ndim} values (one per axis of 'data', "
                f"shape {data.shape}), got {k}",
            )
        ax = list(range(k)) if axes is None else _axes(node, "input 'axes'", axes, data.ndim)
        st = [1] * k if steps is None else [int(v) for v in np.ravel(steps)]
        for what, values in (("ends", ends), ("axes", ax), ("steps", st)):
            if len(values) != k:
                raise refuse(
                    node, f"input {what!r}: expected {k} values (one per start), got {len(values)}"
                )
        if len(set(ax)) != k:
            raise refuse(node, f"input 'axes': expected distinct axes, got {ax}")
        if 0 in st:
            raise refuse(node, f"input 'steps': expected non-zero values, got {st}")
        index: list[slice] = [slice(None)] * data.ndim
        for a, b, e, s in zip(ax, starts, ends, st):
            index[a] = _slice_axis(data.shape[a], b, e, s)
        return data[tuple(index)], tuple(index)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        data = np.asarray(args[0])
        if not _is_float(data):
            return [None] * 5
        gd = np.zeros_like(data)
        gd[ctx] = g
        return [gd, None, None, None, None]


# ---------------------------------------------------------------------------------------------
# Resizing

_TRANSFORMS = (
    "asymmetric",
    "half_pixel",
    "pytorch_half_pixel",
    "align_corners",
    "half_pixel_symmetric",
)
_ROUNDINGS = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")
_POLICIES = ("stretch", "not_larger", "not_smaller")


_F32 = np.float32


def _linear_source(n: int, out: int, scale: float, transform: str, dtype: Any) -> np.ndarray:
    """ONNX Resize's source coordinate u of each of the ``out`` outputs along an axis of n
    values resized by s = ``scale``, in ``dtype`` (the data's: float32 as onnxruntime, float64
    for a float64 model): half_pixel u = (i + ½)/s − ½; pytorch_half_pixel the same, 0 when
    out = 1; align_corners u = i·(n − 1)/(out − 1), 0 when out = 1; asymmetric u = i/s.

    align_corners divides by the output's own length, as onnxruntime and PyTorch do; the
    ONNX specification's reference divides by n·s − 1 (n·s unrounded), which differs where
    n·s is not whole — a PyTorch export of ``align_corners=True`` with a scale factor means
    onnxruntime's."""
    dt = np.dtype(dtype)
    i = np.arange(out, dtype=dt)
    s = dt.type(scale)
    if transform == "align_corners":
        if out == 1:
            return np.zeros(1, dt)
        return i * (dt.type(n - 1) / dt.type(out - 1))
    if transform == "asymmetric":
        return i / s
    if transform == "pytorch_half_pixel" and out == 1:
        return np.zeros(1, dt)
    return (i + dt.type(0.5)) / s - dt.type(0.5)


def _nearest_source(n: int, out: int, scale: float, transform: str, rounding: str) -> np.ndarray:
    """ONNX Resize's nearest source index of each of the ``out`` outputs along an axis of n
    values resized by the factor s = ``scale``: output coordinate y mapped back to x by the
    coordinate_transformation_mode,

        asymmetric            x = y/s
        half_pixel            x = (y + ½)/s − ½
        pytorch_half_pixel    the same; x = 0 when out = 1
        align_corners         x = y·(n − 1)/(out − 1); x = 0 when out = 1

    then rounded by the nearest_mode (an integer x is its own index; otherwise ⌊x⌋, ⌈x⌉ or
    the nearer of the two, a tie (x − ⌊x⌋ = ½) going to the floor or the ceiling) and
    clipped to 0 … n − 1; s = 1 copies the axis unchanged. The arithmetic is onnxruntime's,
    float32 from s, y, out and n as float32, which is also what PyTorch computes for its
    exported ``interpolate(mode="nearest")``. (half_pixel_symmetric is refused at load: no
    order of its float32/float64 arithmetic tried here reproduced onnxruntime's indices.)"""
    if scale == 1:
        return np.minimum(np.arange(out), max(n - 1, 0)).astype(np.intp)
    y = np.arange(out, dtype=_F32)
    s, length, width = _F32(scale), _F32(out), _F32(n)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if transform == "asymmetric":
            x = y / s
        elif transform == "align_corners":
            x = np.zeros(out, _F32) if out == 1 else y * (width - _F32(1)) / (length - _F32(1))
        elif transform == "pytorch_half_pixel" and out <= 1:
            x = np.zeros(out, _F32)
        else:
            x = (y + _F32(0.5)) / s - _F32(0.5)
    if rounding.startswith("round") and transform != "align_corners" and out > 1:
        _refuse_near_ties(x, y, float(s), transform)
    low = np.floor(x)
    if rounding == "floor":
        index = low
    elif rounding == "ceil":
        index = np.ceil(x)
    elif rounding == "round_prefer_floor":
        index = np.where(x - low <= 0.5, low, low + 1)
    else:
        index = np.where(x - low < 0.5, low, low + 1)
    index = np.nan_to_num(index.astype(np.float64), nan=0.0)
    return np.clip(index, 0, max(n - 1, 0)).astype(np.intp)


class _NearTie(Exception):
    """A rounded coordinate within float32 error of a tie; ``_Resize`` names the node."""


def _refuse_near_ties(x: np.ndarray, y: np.ndarray, s: float, transform: str) -> None:
    """Refuse coordinates x that float32 rounded off a value within 1e-5·max(1, |x|) of a
    half: onnxruntime's round_prefer_* index there follows neither the float32 nor the
    float64 value (measured against onnxruntime 1.32 over lengths 1…39 and 1…49: outside
    these near-ties the float32 index is onnxruntime's every time). A tie computed exactly
    (scale ½, 2, …) is not near-tie: its float32 and float64 values are equal."""
    y64 = y.astype(np.float64)
    x64 = y64 / s if transform == "asymmetric" else (y64 + 0.5) / s - 0.5
    near = np.abs(x64 - (np.floor(x64) + 0.5)) <= 1e-5 * np.maximum(1.0, np.abs(x64))
    bad = near & (x.astype(np.float64) != x64)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise _NearTie(
            f"output index {i} maps to source coordinate {float(x64[i])!r}, within float32 "
            f"rounding of a tie between two source indices; onnxruntime's choice there is "
            f"not reproduced, so this scale and length are refused with a round_prefer_* "
            f"nearest_mode (nearest_mode 'floor' or 'ceil' has no such ties)"
        )


def _round_half_away(v: Any) -> int:
    """C's ``round`` of a float32 v ≥ 0: the nearer integer, a tie going up."""
    low = np.floor(v)
    return int(low + 1 if v - low >= 0.5 else low)


def _float32_size(node: Node, v: Any) -> int:
    """⌊v⌋ of a float32 output length s·n; a refusal naming the node where it is not finite."""
    if not np.isfinite(v):
        raise refuse(node, f"input 'scales': the output length s·n = {float(v)} is not finite")
    return int(v)


def _resize_axes(node: Node, axes: list[int] | None, rank: int) -> list[int]:
    """The axes Resize's scales or sizes name: all by default, else the distinct ``axes``."""
    if axes is None:
        return list(range(rank))
    checked = _axes(node, "attribute 'axes'", axes, rank)
    if len(set(checked)) != len(checked):
        raise refuse(node, f"attribute 'axes': expected distinct axes, got {axes}")
    return checked


def _guard_indices(node: Node, plan: Sequence[tuple[int, int, float]]) -> None:
    """Refuse, naming the node, a source-index array per resized axis (``out`` intp values)
    larger than this machine's memory."""
    for a, out, _ in plan:
        n = int(out) * np.dtype(np.intp).itemsize
        if n > _memory_bytes():
            raise refuse(
                node,
                f"axis {a}: the output length {out} needs a source index of "
                f"{n / 2**30:.3g} GiB, more than this machine's memory "
                f"({_memory_bytes() / 2**30:.3g} GiB)",
            )


class _Resize(_Op):
    """Resize, mode "nearest": along each resized axis y[…, i, …] = x[…, src(i), …], src by
    ``_nearest_source``; the output size ⌊s·n⌋ for scales, the given size for sizes (then
    s = size/n; keep_aspect_ratio_policy "not_larger" / "not_smaller" takes the least /
    greatest s over the axes and the size s·n rounded, a tie up), in float32 as onnxruntime
    computes them. Backward: the adjoint of the gather —
    G summed into the source each output copied (``src`` is non-decreasing).

    Mode "linear": along each resized axis, in turn, y[…, i, …] = λ0·x[…, i0, …] +
    λ1·x[…, i1, …] around the source coordinate u of ``_linear_source`` (clamped to the
    axis: past an edge the edge value, as onnxruntime; ``cnnmath.ops.interpolate.taps_at``),
    so on two axes the bilinear resize of PyTorch's ``interpolate``. Mode "cubic": the four
    values ⌊u⌋ − 1 … ⌊u⌋ + 2 (clipped to the axis), u unclamped, with the cubic convolution
    weights of ``cubic_coeff_a`` (``cubic_taps_at``; with ``exclude_outside`` the taps
    outside the axis get weight 0 and the rest are renormalised) — PyTorch's bicubic
    ``interpolate`` for a = −0.75 and "half_pixel". Backward of both: the adjoint, axis by
    axis (``resample_linear_backward``'s rule).

    ``antialias=1`` (opset ≥ 18), modes "linear" and "cubic": a shrinking axis's kernel is
    stretched by 1/s (``cnnmath.ops.interpolate.antialias_taps_at``: the kernel at s·(j − u)
    over every pixel it covers, normalised, edges padded — or with ``exclude_outside``
    renormalised over the pixels inside, which with "half_pixel" is PyTorch's
    ``interpolate(antialias=True)``, bicubic with cubic_coeff_a = −0.5). An axis that keeps
    its length is copied whatever its scale, as onnxruntime does (ONNX's reference resamples
    it by 1/s)."""

    roles = ("x", "roi", "scales", "sizes")

    def __init__(
        self,
        node: Node,
        operands: Sequence[Operand],
        axes: list[int] | None,
        transform: str,
        rounding: str,
        policy: str,
        mode: str = "nearest",
        cubic: tuple[float, bool] = (-0.75, False),
        antialias: bool = False,
    ) -> None:
        super().__init__(node, operands)
        self.axes, self.transform, self.rounding, self.policy = axes, transform, rounding, policy
        self.mode = mode
        self.cubic_coeff_a, self.exclude_outside = cubic
        self.antialias = antialias

    def plan(self, shape: Sequence[int], scales: Any, sizes: Any) -> list[tuple[int, int, float]]:
        """(axis, output size, scale) of every axis scales or sizes name, for an X of
        ``shape``; a ValueError naming the node for a bad scales or sizes."""
        node = self.onnx_node
        axes = _resize_axes(node, self.axes, len(shape))
        has_scales = scales is not None and np.size(scales) > 0
        has_sizes = sizes is not None and np.size(sizes) > 0
        if has_scales == has_sizes:
            raise refuse(
                node,
                "inputs 'scales' and 'sizes': expected exactly one of them, non-empty, got "
                + ("both" if has_scales else "neither"),
            )
        what = "input 'scales'" if has_scales else "input 'sizes'"
        values = np.ravel(np.asarray(scales if has_scales else sizes))
        if values.size != len(axes):
            per = "axis of X" if self.axes is None else "axis in attribute 'axes'"
            raise refuse(
                node, f"{what}: expected {len(axes)} values (one per {per}), got {values.size}"
            )
        if has_scales:
            s = values.astype(_F32)
            if not np.all(np.isfinite(s) & (s > 0)):
                raise refuse(node, f"{what}: expected finite values > 0, got {s.tolist()}")
            # onnxruntime: the size ⌊s·n⌋ in float32, s as given
            plan = [(a, _float32_size(node, f * _F32(shape[a])), float(f)) for a, f in zip(axes, s)]
        else:
            if not np.issubdtype(values.dtype, np.integer):
                raise refuse(node, f"{what}: expected int64 values, got dtype {values.dtype}")
            bad = [(a, int(v)) for a, v in zip(axes, values) if v < 0 or (shape[a] == 0 and v != 0)]
            if bad:
                raise refuse(
                    node,
                    f"{what}: expected sizes >= 0, 0 for an empty axis, got "
                    f"{values.tolist()} for X of shape {tuple(shape)}",
                )
            # onnxruntime: s = size/n in float32 (1 for an empty axis)
            f = [
                _F32(int(size)) / _F32(shape[a]) if shape[a] else _F32(1)
                for a, size in zip(axes, values)
            ]
            plan = [(a, int(size), float(g)) for a, size, g in zip(axes, values, f)]
            if self.policy != "stretch":
                g = min(f) if self.policy == "not_larger" else max(f)
                plan = [(a, _round_half_away(g * _F32(shape[a])), float(g)) for a in axes]
        return plan

    def sources(self, n: int, out: int, scale: float) -> np.ndarray:
        """``_nearest_source`` for this node's modes; a near-tie refused naming the node."""
        try:
            return _nearest_source(n, out, scale, self.transform, self.rounding)
        except _NearTie as e:
            raise refuse(self.onnx_node, str(e)) from None

    def compute(self, x: Any, roi: Any, scales: Any, sizes: Any) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        plan = self.plan(x.shape, scales, sizes)
        out_shape = list(x.shape)
        for a, out, _ in plan:
            out_shape[a] = out
        _guard(out_shape, x.dtype.itemsize)
        _guard_indices(self.onnx_node, plan)  # even when X is empty
        y, gathers = x, list[tuple[int, np.ndarray]]()
        if tuple(out_shape) == x.shape:  # onnxruntime copies X whatever the scales
            return y, gathers
        if self.mode != "nearest":
            by_sizes = scales is None or np.size(scales) == 0
            return self._interpolated(x, plan, by_sizes and self.policy == "stretch")
        # shrinking axes first: every intermediate then holds at most max(|X|, |Y|) values
        for a, out, f in sorted(plan, key=lambda p: p[1] - x.shape[p[0]]):
            src = self.sources(x.shape[a], out, f)
            if out != x.shape[a] or not np.array_equal(src, np.arange(out)):
                _guard((*y.shape[:a], out, *y.shape[a + 1 :]), x.dtype.itemsize)
                y = np.take(y, src, axis=a)
                gathers.append((a, src))
        return y, gathers

    def _stencil(self, n: int, out: int, f: float, dtype: np.dtype) -> tuple[Any, Any]:
        """The (indices, weights) of the taps along an axis of n values resized to ``out``
        by the factor f, for this node's mode: two taps for "linear", four for "cubic", the
        widened band of ``antialias_taps_at`` with antialias."""
        u = _linear_source(n, out, f, self.transform, dtype)
        if self.antialias:
            band = antialias_taps_at(u, n, f, self.mode, self.cubic_coeff_a, self.exclude_outside)
            return band.source, band.weight
        if self.mode == "cubic":
            cubic = cubic_taps_at(u, n, self.cubic_coeff_a, self.exclude_outside)
            return cubic.source, cubic.weight
        taps = taps_at(u, n, dtype)
        return (taps.i0, taps.i1), (taps.lambda0, taps.lambda1)

    def _interpolated(
        self, x: np.ndarray, plan: list[tuple[int, int, float]], exact_ratio: bool
    ) -> tuple[np.ndarray, Any]:
        """Modes "linear" and "cubic": the taps of every resized axis applied in turn,
        shrinking axes first; the context lists (axis, taps, input size) for the backward. With
        ``exact_ratio`` (sizes given, stretched) the factor is out/n in x's dtype, not the
        plan's float32 one, so that a float64 model's coordinates are float64 throughout."""
        y, passes = x, list[tuple[int, Any, int]]()
        if not np.issubdtype(x.dtype, np.floating):
            raise refuse(self.onnx_node, f"input 'X': expected float values, got {x.dtype}")
        for a, out, f in sorted(plan, key=lambda p: p[1] - x.shape[p[0]]):
            n = y.shape[a]
            if n == 0 or out == 0:
                shape = list(y.shape)
                shape[a] = out
                y = np.zeros(shape, x.dtype)
                passes.append((a, None, n))
                continue
            if self.antialias and out == n:  # onnxruntime copies it, whatever the scale
                continue
            if exact_ratio:
                f = float(x.dtype.type(out) / x.dtype.type(n))
            index, weight = self._stencil(n, out, f, x.dtype)
            _guard((*y.shape[:a], out, *y.shape[a + 1 :]), x.dtype.itemsize)
            y = resample_along(y, index, weight, a)  # 0·inf is NaN, as onnxruntime
            passes.append((a, (index, weight), n))
        return y, ("interpolated", passes)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        shape = np.shape(args[0])
        if isinstance(ctx, tuple) and ctx and ctx[0] == "interpolated":
            for a, taps, n in reversed(ctx[1]):
                if taps is None:
                    g = np.zeros((*g.shape[:a], n, *g.shape[a + 1 :]), g.dtype)
                    continue
                index, weight = taps
                g = resample_along_backward(g, index, weight, n, a)
            return [g, None, None, None]
        for a, src in reversed(ctx):  # the growing axes summed back first
            if src.size == 0:
                g = np.zeros((*g.shape[:a], shape[a], *g.shape[a + 1 :]), g.dtype)
            else:
                g = sum_into_sources(g, src, shape[a], a)
        return [g, None, None, None]

    def extra_repr(self) -> str:
        """The op type and its rule."""
        aa = ", antialias=1" if self.antialias else ""
        if self.mode == "linear":
            excluded = f", exclude_outside={self.exclude_outside}" if self.antialias else ""
            return (
                f"onnx_op={self.onnx_op!r}, mode='linear', "
                f"coordinate_transformation_mode={self.transform!r}{excluded}{aa}"
            )
        if self.mode == "cubic":
            return (
                f"onnx_op={self.onnx_op!r}, mode='cubic', "
                f"coordinate_transformation_mode={self.transform!r}, "
                f"cubic_coeff_a={self.cubic_coeff_a!r}, exclude_outside={self.exclude_outside}"
                f"{aa}"
            )
        return (
            f"onnx_op={self.onnx_op!r}, mode='nearest', "
            f"coordinate_transformation_mode={self.transform!r}, nearest_mode={self.rounding!r}"
        )


# ---------------------------------------------------------------------------------------------
# Converters


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


def _inputs(node: Node, ins: list[Operand], names: Sequence[str], required: int) -> list[Operand]:
    """The node's inputs, one per name of ``names`` (absent optional ones None); refused when
    there are more than ``names`` or one of the first ``required`` is missing (not listed,
    or listed as the empty name)."""
    if len(ins) > len(names):
        listed = f" ({', '.join(names)})" if names else ""
        raise refuse(
            node,
            f"inputs: expected at most {len(names)}{listed}, got {len(ins)} (opset {node.opset})",
        )
    padded = list(ins) + [None] * (len(names) - len(ins))
    for i, (name, operand) in enumerate(zip(names[:required], padded)):
        if operand is None:
            why = f"input {i} is the empty name" if i < len(ins) else f"{len(ins)} listed"
            raise refuse(
                node,
                f"input {name!r}: expected a value (it is required), got none ({why}; "
                f"required: {', '.join(names[:required])})",
            )
    return padded


def check_inputs(node: Node, ins: list[Operand]) -> list[Operand]:
    """The node's inputs checked against its op's ONNX signature at the node's opset
    (``SIGNATURES``): every required input present, no more than the op has; returned with
    absent optional inputs as None, one per input name (a variadic op's as listed: at least
    one, none empty). An op type without a signature is returned unchecked (the caller
    refuses it)."""
    versions = SIGNATURES.get(node.op_type)
    if versions is None:
        return list(ins)
    found = next(
        ((spec.split(), req) for since, spec, req in reversed(versions) if since <= node.opset),
        None,
    )
    if found is None:  # the op first appears in a later opset than the file's
        raise refuse(
            node,
            f"not defined before opset {versions[0][0]}, the file's opset is {node.opset}",
        )
    names, required = found
    if node.op_type not in VARIADIC:
        return _inputs(node, ins, names, required)
    for i, operand in enumerate(ins or [None]):
        if operand is None:  # ONNX names Sum's data_0, data_1, …; Concat's inputs
            label = f"data_{i}" if names[0] == "data_0" else f"{names[0]}[{i}]"
            why = "the empty name" if ins else "at least one input is required"
            raise refuse(node, f"input {label!r}: expected a value, got none ({why})")
    return list(ins)


def _shape(info: dict[str, Any], operand: Operand) -> tuple[Any, ...] | None:
    """The operand's shape as far as it is known at load time (None per unknown axis)."""
    if isinstance(operand, Const):
        return operand.value.shape
    if isinstance(operand, Ref):
        return info["shapes"].get(operand.name)
    return None


def _epsilon(node: Node, attrs: Attrs) -> float:
    """The ``epsilon`` attribute (default 1e-5), a finite ε > 0 as cnnmath's norms take."""
    eps = float(attrs.get("epsilon", 1e-5))
    if not (math.isfinite(eps) and eps > 0):
        raise refuse(node, f"attribute 'epsilon': expected a finite value > 0, got {eps!r}")
    return eps


def _float_param(operand: Operand) -> Parameter | None:
    """The operand's Parameter if it is a float constant (an initializer or a Constant)."""
    if isinstance(operand, Const) and _is_float(operand.value):
        return operand.param if operand.param is not None else Parameter(operand.value.copy())
    return None


def _geometry(node: Node, attrs: Attrs, n_spatial: int = 2, pool: bool = False) -> dict[str, Any]:
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"):
        raise refuse(
            node,
            "attribute 'auto_pad': expected NOTSET, SAME_UPPER, SAME_LOWER or VALID, "
            f"got {auto_pad!r}",
        )
    kernel = attrs.ints("kernel_shape", None)
    if kernel is not None and len(kernel) != n_spatial:
        raise refuse(
            node, f"attribute 'kernel_shape': only 2-D windows are supported, got {kernel}"
        )
    if pool and kernel is None:
        raise refuse(node, "attribute 'kernel_shape' is required")
    strides = attrs.ints("strides", [1, 1]) or [1, 1]
    dilations = attrs.ints("dilations", [1, 1]) or [1, 1]
    pads = attrs.ints("pads", [0, 0, 0, 0]) or [0, 0, 0, 0]
    for name, value, n, low in (
        ("strides", strides, 2, 1),
        ("dilations", dilations, 2, 1),
        ("pads", pads, 4, 0),
    ):
        if len(value) != n:
            raise refuse(node, f"attribute {name!r}: only 2-D is supported, got {value}")
        if min(value) < low:
            raise refuse(node, f"attribute {name!r}: expected values >= {low}, got {value}")
    if auto_pad != "NOTSET":
        pads = [0, 0, 0, 0]
    return {
        "auto_pad": auto_pad,
        "kernel_shape": kernel,
        "strides": strides,
        "dilations": dilations,
        "pads": pads,
    }


def _check_kernel_shape(node: Node, geo: dict[str, Any], w_shape: tuple[Any, ...] | None) -> None:
    """Refuse a ``kernel_shape`` attribute that disagrees with the 4-D weight's spatial axes,
    as onnxruntime does: at load where the weight's shape is known, else when it runs."""
    k = geo["kernel_shape"]
    if k is None or w_shape is None or len(w_shape) != 4 or None in w_shape[2:]:
        return
    if list(w_shape[2:]) != list(k):
        raise refuse(
            node, f"attribute 'kernel_shape': expected the weight's {list(w_shape[2:])}, got {k}"
        )


def _rank(info: dict[str, Any], operand: Operand) -> int | None:
    shape = _shape(info, operand)
    return None if shape is None else len(shape)


Triple = tuple[int, int, int]


def _geometry3d(
    node: Node, attrs: Attrs, same: tuple[list[int], Triple] | None = None
) -> tuple[list[int] | None, Triple, Triple, Triple | str]:
    """(kernel or None, strides, dilations, pads) of a 3-D Conv or pool: the pads a triple,
    equal at both ends of each axis (auto_pad NOTSET or VALID), as the layers hold them; or,
    given ``same`` = (a convolution's kernel, its dilations), "same" for stride 1 with
    auto_pad SAME_UPPER or the pads PyTorch's "same" gives (d(k − 1)/2 before, the odd one
    after), as cnnmath saves ``Conv3d(padding="same")``."""
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "VALID") and not (same and auto_pad == "SAME_UPPER"):
        raise refuse(
            node,
            f"attribute 'auto_pad': expected NOTSET or VALID for a 3-D window, got {auto_pad!r}",
        )
    kernel = attrs.ints("kernel_shape", None)
    values: dict[str, list[int]] = {}
    for name, default, n, low in (
        ("strides", [1, 1, 1], 3, 1),
        ("dilations", [1, 1, 1], 3, 1),
        ("pads", [0] * 6, 6, 0),
    ):
        value = attrs.ints(name, default) or default
        if len(value) != n or min(value) < low:
            raise refuse(
                node, f"attribute {name!r}: expected {n} values >= {low} (3-D), got {value}"
            )
        values[name] = value
    if kernel is not None and len(kernel) != 3:
        raise refuse(node, f"attribute 'kernel_shape': expected 3 sizes (3-D), got {kernel}")
    pads = [0] * 6 if auto_pad == "VALID" else values["pads"]
    s, d = values["strides"], values["dilations"]
    strides, dilations = (s[0], s[1], s[2]), (d[0], d[1], d[2])
    if same is not None and strides == (1, 1, 1):
        pairs = same_pads(*same)
        torch_same = [before for before, _ in pairs] + [after for _, after in pairs]
        if auto_pad == "SAME_UPPER" or (pads == torch_same and pads[:3] != pads[3:]):
            return kernel, strides, dilations, "same"
    if auto_pad == "SAME_UPPER" or pads[:3] != pads[3:]:
        raise refuse(
            node,
            f"attribute 'pads': expected equal pads at both ends of each axis (or PyTorch's "
            f"'same' for a stride-1 convolution), got {pads}",
        )
    return kernel, strides, dilations, (pads[0], pads[1], pads[2])


def _conv3d(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """A Conv of a volume (N, C, D, H, W) with a constant 5-D weight (and bias) on a run-time
    input: ``nn.Conv3d``."""
    x, w, b = ins
    wp, bp = _float_param(w), _float_param(b)
    k_w = [int(n) for n in wp.shape[2:]] if wp is not None and wp.data.ndim == 5 else [1, 1, 1]
    d_attr = attrs.ints("dilations", [1, 1, 1]) or [1, 1, 1]
    dil = (d_attr + [1, 1, 1])[:3]
    kernel, strides, dilations, pads = _geometry3d(node, attrs, (k_w, (dil[0], dil[1], dil[2])))
    group = attrs.get("group", 1)
    if (
        not isinstance(x, Ref)
        or wp is None
        or wp.data.ndim != 5
        or (b is not None and bp is None)
        or (kernel is not None and list(kernel) != list(wp.shape[2:]))
    ):
        raise refuse(
            node,
            "a 3-D convolution needs a constant 5-D weight (and bias) matching kernel_shape, "
            "on a run-time input",
        )
    C_out, C_per, k0, k1, k2 = wp.shape
    layer = nn.Conv3d(
        C_per * group,
        C_out,
        (k0, k1, k2),
        strides,
        pads,
        dilations,
        group,
        b is not None,
        dtype=wp.dtype,
    )
    layer.weight, layer.bias = wp, bp
    return layer, [x.name]


def _pool3d(node: Node, attrs: Attrs, x: Operand) -> Built:
    """MaxPool / AveragePool of a volume: ``nn.MaxPool3d`` / ``nn.AvgPool3d`` (pads equal at
    both ends and at most half the window, as the layers take them)."""
    kernel, strides, dilations, pads = _geometry3d(node, attrs)
    assert not isinstance(pads, str)  # "same" only for a convolution
    if kernel is None:
        raise refuse(node, "attribute 'kernel_shape' is required")
    ceil = bool(attrs.get("ceil_mode", 0))
    if not isinstance(x, Ref) or any(p > f // 2 for p, f in zip(pads, kernel)):
        raise refuse(
            node,
            f"a 3-D pooling needs a run-time input and pads of at most half the window "
            f"{kernel}, got {list(pads)}",
        )
    if node.op_type == "MaxPool":
        attrs.get("storage_order")  # only orders the Indices output, here not read
        k = (kernel[0], kernel[1], kernel[2])
        return nn.MaxPool3d(k, strides, pads, dilations, ceil_mode=ceil), [x.name]
    if dilations != (1, 1, 1):
        raise refuse(node, f"attribute 'dilations': expected 1s for AveragePool, got {dilations}")
    include = bool(attrs.get("count_include_pad", 0))
    k = (kernel[0], kernel[1], kernel[2])
    layer = nn.AvgPool3d(k, strides, pads, ceil_mode=ceil, count_include_pad=include)
    return layer, [x.name]


def _check_2d(node: Node, info: dict[str, Any], x: Operand) -> None:
    rank = _rank(info, x)
    if rank is not None and rank != 4:
        raise refuse(
            node, f"input 'X': only 2-D (N, C, H, W) inputs are supported, got rank {rank}"
        )


def _geometry1d(node: Node, attrs: Attrs) -> tuple[int | None, int, int, Any]:
    """(kernel, stride, dilation, pad) of a 1-D Conv or pool: a symmetric pad, or "same"."""
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "VALID"):
        raise refuse(
            node,
            f"attribute 'auto_pad': expected NOTSET or VALID for a 1-D window, got {auto_pad!r}",
        )
    kernel = attrs.ints("kernel_shape", None)
    values = {}
    for name, default, n in (
        ("strides", [1], 1),
        ("dilations", [1], 1),
        ("pads", [0, 0], 2),
    ):
        value = attrs.ints(name, default) or default
        if len(value) != n or min(value) < (0 if name == "pads" else 1):
            raise refuse(
                node, f"attribute {name!r}: expected {n} value(s) of a 1-D window, got {value}"
            )
        values[name] = value
    pb, pe = values["pads"] if auto_pad == "NOTSET" else (0, 0)
    if kernel is not None and len(kernel) != 1:
        raise refuse(node, f"attribute 'kernel_shape': expected one value, got {kernel}")
    k = None if kernel is None else kernel[0]
    stride, dilation = values["strides"][0], values["dilations"][0]
    if pb == pe:
        return k, stride, dilation, pb
    total = 0 if k is None else dilation * (k - 1)
    if stride == 1 and (pb, pe) == (total // 2, total - total // 2):
        return k, stride, dilation, "same"  # PyTorch's "same": the extra cell after
    raise refuse(
        node,
        "attribute 'pads': a 1-D window pads both ends alike (or as padding 'same'), got "
        f"{[pb, pe]}",
    )


def _conv1d(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """A Conv of a signal (N, C, L) with a constant weight (C_out, C_in/G, k): nn.Conv1d."""
    k, stride, dilation, pad = _geometry1d(node, attrs)
    group = attrs.get("group", 1)
    x, w, b = ins
    wp, bp = _float_param(w), _float_param(b)
    if not isinstance(x, Ref) or wp is None or wp.data.ndim != 3 or (b is not None and bp is None):
        raise refuse(
            node, "a 1-D convolution needs a constant 3-D weight (and bias) on a run-time input"
        )
    C_out, C_per, f = wp.shape
    if k is not None and k != f:
        raise refuse(node, f"attribute 'kernel_shape': {[k]} disagrees with the weight's {[f]}")
    layer = nn.Conv1d(
        C_per * group, C_out, f, stride, pad, dilation, group, bias=b is not None, dtype=wp.dtype
    )
    layer.weight = wp
    layer.bias = bp
    return layer, [x.name]


def conv(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    if _rank(info, ins[0]) == 3:
        return _conv1d(node, attrs, ins, info)
    if _rank(info, ins[0]) == 5:
        return _conv3d(node, attrs, ins, info)
    _check_2d(node, info, ins[0])
    geo = _geometry(node, attrs)
    geo["group"] = group = attrs.get("group", 1)
    x, w, b = ins
    _check_kernel_shape(node, geo, _shape(info, w))
    wp, bp = _float_param(w), _float_param(b)
    (pt, pl, pb, pr) = geo["pads"]
    if (
        isinstance(x, Ref)
        and wp is not None
        and wp.data.ndim == 4
        and (b is None or bp is not None)
        and geo["auto_pad"] in ("NOTSET", "VALID")
        and pt == pb
        and pl == pr
        and (geo["kernel_shape"] is None or geo["kernel_shape"] == list(wp.shape[2:]))
    ):
        C_out, C_per, f1, f2 = wp.shape
        layer = nn.Conv2d(
            C_per * group,
            C_out,
            (f1, f2),
            geo["strides"],
            (pt, pl),
            geo["dilations"],
            group,
            bias=b is not None,
            dtype=wp.dtype,
        )
        layer.weight = wp
        layer.bias = bp
        return layer, [x.name]
    if w is not None and _rank(info, w) not in (None, 4):
        raise refuse(node, "input 'W': only 2-D convolutions (a 4-D weight) are supported")
    return _generic(_Conv(node, [x, _as_operand(w, wp), _as_operand(b, bp)], geo), [x, w, b])


class _DeformConv(_Op):
    """DeformConv (opset 19): ``ops.deform_conv2d`` on X, W, offset, B and mask, any of W,
    B, mask computed at run time; the gradients of all five from
    ``ops.deform_conv2d_backward``."""

    roles = ("X", "W", "offset", "B", "mask")

    def __init__(
        self, node: Node, operands: Sequence[Operand], options: dict[str, Any], offset_group: int
    ) -> None:
        super().__init__(node, operands)
        self.options, self.offset_group = options, offset_group

    def compute(self, x: Any, w: Any, offset: Any, b: Any, mask: Any) -> tuple[np.ndarray, Any]:
        _check_offset_group(self.onnx_node, self.offset_group, np.shape(w), np.shape(offset))
        try:
            return ops.deform_conv2d(x, offset, w, b, mask=mask, **self.options), None
        except (ValueError, TypeError) as e:
            raise refuse(self.onnx_node, str(e)) from None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        x, w, offset, b, mask = args
        gx, goffset, gw, gb, gmask = ops.deform_conv2d_backward(
            g, x, offset, w, mask=mask, **self.options
        )
        return [gx, gw, goffset, None if b is None else gb, gmask]


def deform_conv(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """DeformConv with symmetric pads: ``nn.DeformConv2d`` when the weight (and bias) are
    initializers, X, the offsets (and mask) run-time values, and the offsets' channel count
    is known to match ``offset_group``; ``_DeformConv`` otherwise (which checks it when run)."""
    _check_2d(node, info, ins[0])
    geo = _geometry(node, attrs)
    group = attrs.get("group", 1)
    offset_group = attrs.get("offset_group", 1)
    (pt, pl, pb, pr) = geo["pads"]
    if geo["auto_pad"] != "NOTSET" or pt != pb or pl != pr:
        raise refuse(node, f"attribute 'pads': expected equal pads at both ends, got {geo['pads']}")
    x, w, offset, b, mask = (ins + [None] * 5)[:5]
    wp, bp = _float_param(w), _float_param(b)
    options = {
        "stride": tuple(geo["strides"]),
        "padding": (pt, pl),
        "dilation": tuple(geo["dilations"]),
    }
    shape = _shape(info, offset)
    known = wp is not None and shape is not None and isinstance(shape[1], (int, np.integer))
    if known:  # refused now; otherwise when the graph runs (_DeformConv)
        assert wp is not None and shape is not None
        _check_offset_group(node, offset_group, wp.shape, shape)
    if (
        known
        and isinstance(x, Ref)
        and isinstance(offset, Ref)
        and (mask is None or isinstance(mask, Ref))
        and wp is not None
        and wp.data.ndim == 4
        and (b is None or bp is not None)
        and (geo["kernel_shape"] is None or geo["kernel_shape"] == list(wp.shape[2:]))
    ):
        C_out, C_per, f1, f2 = wp.shape
        layer = nn.DeformConv2d(
            C_per * group,
            C_out,
            (f1, f2),
            options["stride"],
            options["padding"],
            options["dilation"],
            group,
            bias=b is not None,
            dtype=wp.dtype,
        )
        layer.weight = wp
        layer.bias = bp
        return layer, [x.name, offset.name] + ([] if mask is None else [mask.name])
    operands = [x, _as_operand(w, wp), offset, _as_operand(b, bp), mask]
    return _generic(_DeformConv(node, operands, options, offset_group), operands)


def _check_offset_group(
    node: Node, offset_group: int, w_shape: Sequence[Any], offset_shape: Sequence[Any]
) -> None:
    """Refuse an offset whose channels are not 2·kh·kw per offset group (the op would infer
    another group count from the offset; onnxruntime refuses it)."""
    k = int(w_shape[2]) * int(w_shape[3]) if len(w_shape) == 4 else 0
    if len(offset_shape) < 2 or offset_shape[1] != 2 * k * offset_group:
        raise refuse(
            node,
            f"attribute 'offset_group': {offset_group} groups of {k} taps need "
            f"{2 * k * offset_group} offset channels, the offset has shape "
            f"{tuple(offset_shape)}",
        )


def _as_operand(operand: Operand, param: Parameter | None) -> Operand:
    if isinstance(operand, Const) and param is not None:
        return Const(operand.value, param)
    return operand


def _conv_transpose1d(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """A ConvTranspose of a signal (N, C, L) with a constant weight (C_in, C_out/G, k), both
    ends padded alike: nn.ConvTranspose1d."""
    if attrs.get("auto_pad", "NOTSET") != "NOTSET" or attrs.ints("output_shape", None):
        raise refuse(node, "a 1-D transposed convolution needs explicit pads, no output_shape")
    k, stride, dilation, pad = _geometry1d(node, attrs)
    op = attrs.ints("output_padding", [0]) or [0]
    group = attrs.get("group", 1)
    x, w, b = ins
    wp, bp = _float_param(w), _float_param(b)
    if (
        not isinstance(x, Ref)
        or wp is None
        or wp.data.ndim != 3
        or (b is not None and bp is None)
        or isinstance(pad, str)
        or len(op) != 1
        or op[0] >= max(stride, dilation)
    ):
        raise refuse(
            node,
            "a 1-D transposed convolution needs a constant 3-D weight (and bias) on a run-time "
            "input, pads alike at both ends and one output_padding below stride or dilation",
        )
    C_in, C_per, f = wp.shape
    if k is not None and k != f:
        raise refuse(node, f"attribute 'kernel_shape': {[k]} disagrees with the weight's {[f]}")
    layer = nn.ConvTranspose1d(
        C_in, C_per * group, f, stride, pad, op[0], group, b is not None, dilation, dtype=wp.dtype
    )
    layer.weight = wp
    layer.bias = bp
    return layer, [x.name]


def _conv_transpose3d(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """A ConvTranspose of a volume (N, C, D, H, W) with a constant 5-D weight (C_in, C_out/G,
    f0, f1, f2) (and bias) on a run-time input, both ends of each axis padded alike:
    ``nn.ConvTranspose3d``."""
    if attrs.ints("output_shape", None):
        raise refuse(node, "a 3-D transposed convolution needs explicit pads, no output_shape")
    kernel, strides, dilations, pads = _geometry3d(node, attrs)
    assert not isinstance(pads, str)  # "same" only for a convolution
    op = attrs.ints("output_padding", [0, 0, 0]) or [0, 0, 0]
    group = attrs.get("group", 1)
    x, w, b = ins
    wp, bp = _float_param(w), _float_param(b)
    if (
        not isinstance(x, Ref)
        or wp is None
        or wp.data.ndim != 5
        or (b is not None and bp is None)
        or (kernel is not None and list(kernel) != list(wp.shape[2:]))
        or len(op) != 3
        or any(q >= max(s, d) for q, s, d in zip(op, strides, dilations))
    ):
        raise refuse(
            node,
            "a 3-D transposed convolution needs a constant 5-D weight (and bias) matching "
            "kernel_shape on a run-time input, and 3 output_padding values below stride or "
            f"dilation, got output_padding {op}",
        )
    C_in, C_per, k0, k1, k2 = wp.shape
    layer = nn.ConvTranspose3d(
        C_in,
        C_per * group,
        (k0, k1, k2),
        strides,
        pads,
        (op[0], op[1], op[2]),
        group,
        b is not None,
        dilations,
        dtype=wp.dtype,
    )
    layer.weight, layer.bias = wp, bp
    return layer, [x.name]


def conv_transpose(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    if _rank(info, ins[0]) == 3:
        return _conv_transpose1d(node, attrs, ins, info)
    if 5 in (_rank(info, ins[0]), _rank(info, ins[1])):
        return _conv_transpose3d(node, attrs, ins, info)
    _check_2d(node, info, ins[0])
    geo = _geometry(node, attrs)
    geo["group"] = group = attrs.get("group", 1)
    geo["output_padding"] = attrs.ints("output_padding", [0, 0]) or [0, 0]
    geo["output_shape"] = attrs.ints("output_shape", None)
    for name in ("output_padding", "output_shape"):
        if geo[name] is not None and len(geo[name]) != 2:
            raise refuse(
                node,
                f"attribute {name!r}: expected 2 values (one per spatial axis; only 2-D is "
                f"supported), got {geo[name]}",
            )
    if geo["auto_pad"] == "VALID":
        geo["auto_pad"] = "NOTSET"
    x, w, b = ins
    _check_kernel_shape(node, geo, _shape(info, w))
    wp, bp = _float_param(w), _float_param(b)
    (pt, pl, pb, pr), (s, d, op) = (
        geo["pads"],
        (geo["strides"], geo["dilations"], geo["output_padding"]),
    )
    if (
        isinstance(x, Ref)
        and wp is not None
        and wp.data.ndim == 4
        and (b is None or bp is not None)
        and geo["auto_pad"] == "NOTSET"
        and geo["output_shape"] is None
        and pt == pb
        and pl == pr
        and all(op[i] < max(s[i], d[i]) for i in (0, 1))
    ):
        C_in, C_per, f1, f2 = wp.shape
        layer = nn.ConvTranspose2d(
            C_in,
            C_per * group,
            (f1, f2),
            s,
            (pt, pl),
            op,
            group,
            bias=b is not None,
            dilation=d,
            dtype=wp.dtype,
        )
        layer.weight = wp
        layer.bias = bp
        return layer, [x.name]
    if _rank(info, w) not in (None, 4):
        raise refuse(
            node, "input 'W': only 2-D transposed convolutions (a 4-D weight) are supported"
        )
    return _generic(
        _ConvTranspose(node, [x, _as_operand(w, wp), _as_operand(b, bp)], geo), [x, w, b]
    )


def _pool1d(node: Node, attrs: Attrs, x: Operand) -> Built:
    """A MaxPool or AveragePool of a signal (N, C, L): nn.MaxPool1d / nn.AvgPool1d."""
    k, stride, dilation, pad = _geometry1d(node, attrs)
    if k is None:
        raise refuse(node, "attribute 'kernel_shape' is required")
    ceil = bool(attrs.get("ceil_mode", 0))
    if not isinstance(x, Ref) or not isinstance(pad, int) or pad > k // 2:
        raise refuse(
            node, f"a 1-D window on a run-time input with pads at most half the window, got {pad}"
        )
    if node.op_type == "MaxPool":
        attrs.get("storage_order")
        return nn.MaxPool1d(k, stride, pad, dilation, ceil_mode=ceil), [x.name]
    if dilation != 1:
        raise refuse(
            node, f"attribute 'dilations': a 1-D average pools every tap, got {[dilation]}"
        )
    include = bool(attrs.get("count_include_pad", 0))
    return nn.AvgPool1d(k, stride, pad, ceil_mode=ceil, count_include_pad=include), [x.name]


def pool(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    if node.op_type == "MaxPool" and len(info["outputs"]) > 1:  # Indices read (SegNet)
        from ._unpool import max_pool_indices

        return max_pool_indices(node, attrs, ins, info)
    if _rank(info, ins[0]) == 3:
        return _pool1d(node, attrs, ins[0])
    if _rank(info, ins[0]) == 5:
        return _pool3d(node, attrs, ins[0])
    _check_2d(node, info, ins[0])
    geo = _geometry(node, attrs, pool=True)
    geo["ceil_mode"] = attrs.get("ceil_mode", 0)
    x = ins[0]
    if node.op_type == "MaxPool":
        attrs.get("storage_order")  # only orders the Indices output, here not read
        geo["count_include_pad"] = 0
    else:
        geo["count_include_pad"] = attrs.get("count_include_pad", 0)
    k, s, d, (pt, pl, pb, pr) = geo["kernel_shape"], geo["strides"], geo["dilations"], geo["pads"]
    if any(p >= k[i % 2] for i, p in enumerate(geo["pads"])):
        # a window could lie wholly in the padding: no value to take (−∞ for the maximum,
        # 0/0 for an average without the pads); onnxruntime refuses the node too
        raise refuse(
            node,
            f"attribute 'pads': expected each pad smaller than the window {k}, got {geo['pads']}",
        )
    symmetric = (
        geo["auto_pad"] in ("NOTSET", "VALID")
        and pt == pb
        and pl == pr
        and pt <= k[0] // 2
        and pl <= k[1] // 2
    )
    if isinstance(x, Ref) and symmetric and _rank(info, x) == 4:
        ceil = bool(geo["ceil_mode"])
        if node.op_type == "MaxPool":
            return nn.MaxPool2d(tuple(k), tuple(s), (pt, pl), tuple(d), ceil_mode=ceil), [x.name]
        if d == [1, 1]:
            return nn.AvgPool2d(
                tuple(k),
                tuple(s),
                (pt, pl),
                ceil_mode=ceil,
                count_include_pad=bool(geo["count_include_pad"]),
            ), [x.name]
    return _generic(_Pool(node, [x], geo), [x])


def max_unpool(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    from ._unpool import max_unpool as convert  # with MaxPool's Indices: ONNX's flattening

    return convert(node, attrs, ins, info)


def global_pool(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    x = ins[0]
    kind = "avg" if node.op_type == "GlobalAveragePool" else "max"
    if isinstance(x, Ref) and _rank(info, x) == 4:
        layer = nn.AdaptiveAvgPool2d(1) if kind == "avg" else nn.AdaptiveMaxPool2d(1)
        return layer, [x.name]
    if isinstance(x, Ref) and _rank(info, x) == 3:  # a signal (N, C, L)
        signal = nn.AdaptiveAvgPool1d(1) if kind == "avg" else nn.AdaptiveMaxPool1d(1)
        return signal, [x.name]
    if isinstance(x, Ref) and _rank(info, x) == 5:  # a volume (N, C, D, H, W)
        volume = nn.AdaptiveAvgPool3d(1) if kind == "avg" else nn.AdaptiveMaxPool3d(1)
        return volume, [x.name]
    return _generic(_GlobalPool(node, [x], kind), [x])


def batch_norm(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    if attrs.get("training_mode", 0):
        raise refuse(
            node, "attribute 'training_mode': only inference (training_mode=0) is supported"
        )
    if len(info["outputs"]) > 1:
        raise refuse(
            node,
            "outputs running_mean/running_var are only written in training mode; "
            "only the output Y is supported",
        )
    eps = float(attrs.get("epsilon", 1e-5))
    momentum = float(attrs.get("momentum", 0.9))
    x, scale, B, mean, var = ins
    params = [_float_param(o) for o in (scale, B)]
    consts = [o for o in (mean, var) if isinstance(o, Const) and _is_float(o.value)]
    rank = _rank(info, x)
    if isinstance(x, Ref) and None not in params and len(consts) == 2 and rank in (2, 3, 4, 5):
        w, b = params
        assert w is not None and b is not None
        C = w.size
        cls = {5: nn.BatchNorm3d, 4: nn.BatchNorm2d}.get(rank, nn.BatchNorm1d)
        layer = cls(C, eps=eps, momentum=1.0 - momentum, dtype=w.dtype)
        layer.weight, layer.bias = w, b
        layer.running_mean = consts[0].value.astype(w.dtype, copy=True)
        layer.running_var = consts[1].value.astype(w.dtype, copy=True)
        info["derived"] += [
            (consts[0].value, layer.running_mean),
            (consts[1].value, layer.running_var),
        ]
        layer.eval()
        return layer, [x.name]
    operands = [x, _as_operand(scale, params[0]), _as_operand(B, params[1]), mean, var]
    return _generic(_BatchNorm(node, operands, eps), operands)


def layer_norm(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    x, scale, B = ins
    axis = attrs.get("axis", -1)
    eps = _epsilon(node, attrs)
    stash = attrs.get("stash_type", 1)
    if stash not in (1, 11):  # the statistics' type: cnnmath computes them in float64 anyway
        raise refuse(
            node, f"attribute 'stash_type': expected 1 (float32) or 11 (float64), got {stash}"
        )
    if len(info["outputs"]) > 1:  # Mean, InvStdDev read: ops of their own (_outputs.py)
        from ._outputs import layer_norm_statistics

        info["more"] = layer_norm_statistics(node, x, axis, eps, stash, info)
    static = _shape(info, x)
    if static is not None:
        a = _axis(node, "attribute 'axis'", axis, max(len(static), 1))
    # an initializer is trained; a Constant node's value is fixed (a buffer)
    wp, bp = _initializer_param(scale), _initializer_param(B)
    if isinstance(x, Ref) and info["float"].get(x.name, False) and static is not None:
        tail = static[a:]
        whole = all(isinstance(n, int) and n >= 1 for n in tail)
        if whole and wp is not None and wp.shape == tail and (B is None or bp is not None):
            if bp is None or bp.shape == tail:
                layer = nn.LayerNorm(tail, eps, True, bias=B is not None, dtype=wp.dtype)
                layer.weight, layer.bias = wp, bp
                return layer, [x.name]
        if whole and _fixed(scale, 1.0, tail) and (B is None or _fixed(B, 0.0, tail)):
            assert isinstance(scale, Const)  # no parameters: LayerNorm(elementwise_affine=False)
            return nn.LayerNorm(tail, eps, False, dtype=scale.value.dtype), [x.name]
    operands = [x, scale, B]
    return _generic(_LayerNorm(node, operands, axis, eps), operands)


class _LRN(_Op):
    """ONNX's LRN with an even size: its window is ⌊(n − 1)/2⌋ channels before c and
    ⌈(n − 1)/2⌉ after, one channel further forward than PyTorch's (an odd size is the
    ``nn.LocalResponseNorm`` layer itself)."""

    roles = ("x",)

    def __init__(
        self, node: Node, operands: Sequence[Operand], size: int, coefficients: tuple
    ) -> None:
        super().__init__(node, operands)
        self.size, self.coefficients = size, coefficients
        self.window = ((size - 1) // 2, size // 2)

    def compute(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        alpha, beta, k = self.coefficients
        return ops.local_response_norm(x, self.size, alpha, beta, k, self.window), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        alpha, beta, k = self.coefficients
        return [
            ops.local_response_norm_backward(g, args[0], self.size, alpha, beta, k, self.window)
        ]


def lrn(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    x = ins[0]
    size = attrs.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise refuse(node, f"attribute 'size': expected a positive int, got {size!r}")
    coefficients = []
    for name, default in (("alpha", 1e-4), ("beta", 0.75), ("bias", 1.0)):
        value = attrs.get(name, default)
        if not isinstance(value, float) or not math.isfinite(value):
            raise refuse(node, f"attribute {name!r}: expected a finite float, got {value!r}")
        coefficients.append(value)
    rank = _rank(info, x)
    if rank is not None and rank < 3:
        raise refuse(node, f"input 'X': expected rank >= 3 (N, C, D1, ...), got rank {rank}")
    if size % 2 == 1 and isinstance(x, Ref):
        return nn.LocalResponseNorm(size, *coefficients), [x.name]
    return _generic(_LRN(node, [x], size, tuple(coefficients)), [x])


def _regroup(x: np.ndarray, first: int, second: int) -> np.ndarray:
    """The channels of x (N, first·second, H, W) as a (first, second) grid, transposed:
    channel a·second + b moves to b·first + a."""
    N, _, H, W = x.shape
    grid = x.reshape(N, first, second, H, W).swapaxes(1, 2)
    return np.array(grid).reshape(N, first * second, H, W)


class _SpaceDepth(_Op):
    """DepthToSpace and SpaceToDepth with block size b on a 4-D x (N, C, H, W), through
    ``ops.pixel_shuffle`` / ``ops.pixel_unshuffle``, whose channel order c·b² + i·b + j is
    the ops' mode "CRD", and a regrouping of the channels for the other order,
    (i·b + j)·C' + c, mode "DCR" (the default; SpaceToDepth's only one before opset 28):

        DepthToSpace DCR:  Y = pixel_shuffle(regroup(X, b², C/b²), b)
        SpaceToDepth DCR:  Y = regroup(pixel_unshuffle(X, b), C, b²)

    Each gradient is the inverse permutation: the same steps undone in reverse order."""

    roles = ("x",)

    def __init__(self, node: Node, operands: Sequence[Operand], blocksize: int, mode: str) -> None:
        super().__init__(node, operands)
        self.blocksize, self.mode = blocksize, mode

    def _check(self, x: np.ndarray) -> None:
        if np.ndim(x) != 4 or not _is_float(np.asarray(x)):
            raise refuse(
                self.onnx_node,
                f"input 'input': expected a 4-D (N, C, H, W) float array, got shape "
                f"{np.shape(x)} and dtype {np.asarray(x).dtype}",
            )
        b = self.blocksize
        if self.onnx_op == "DepthToSpace" and x.shape[1] % (b * b):
            raise refuse(
                self.onnx_node,
                f"input 'input': expected channels divisible by blocksize² = {b * b}, got "
                f"shape {x.shape}",
            )
        if self.onnx_op == "SpaceToDepth" and (x.shape[2] % b or x.shape[3] % b):
            raise refuse(
                self.onnx_node,
                f"input 'input': expected height and width divisible by blocksize = {b}, got "
                f"shape {x.shape}",
            )

    def compute(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        self._check(x)
        b, C, dcr = self.blocksize, x.shape[1], self.mode == "DCR"
        if self.onnx_op == "SpaceToDepth":
            y = ops.pixel_unshuffle(x, b)
            return (_regroup(y, C, b * b) if dcr else y), C
        return ops.pixel_shuffle(_regroup(x, b * b, C // (b * b)) if dcr else x, b), C

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        b, C, dcr = self.blocksize, ctx, self.mode == "DCR"
        if self.onnx_op == "SpaceToDepth":
            return [ops.pixel_unshuffle_backward(_regroup(g, b * b, C) if dcr else g, b)]
        gx = ops.pixel_shuffle_backward(g, b)
        return [_regroup(gx, C // (b * b), b * b) if dcr else gx]

    def extra_repr(self) -> str:
        """The ONNX op type, block size and mode."""
        return f"onnx_op={self.onnx_op!r}, blocksize={self.blocksize}, mode={self.mode!r}"


def space_depth(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """DepthToSpace and SpaceToDepth, mode "DCR" (the default) or "CRD" (SpaceToDepth has a
    mode from opset 28 on). "CRD" on a 4-D float value computed at run time is PyTorch's
    ``pixel_shuffle`` (DepthToSpace: how PyTorch exports it) or ``pixel_unshuffle``
    (SpaceToDepth): the ``nn.PixelShuffle`` / ``nn.PixelUnshuffle`` layer. The rest are
    :class:`_SpaceDepth` ops."""
    x = ins[0]
    b = attrs.get("blocksize")
    if b is None:
        raise refuse(node, "attribute 'blocksize' is required")
    mode = "DCR"
    if node.op_type == "DepthToSpace" or node.opset >= 28:  # else 'mode' is refused as unread
        mode = attrs.get("mode", "DCR")
    if mode not in ("DCR", "CRD"):
        raise refuse(node, f"attribute 'mode': expected 'DCR' or 'CRD', got {mode!r}")
    rank = _rank(info, x)
    if rank is not None and rank != 4:
        raise refuse(node, f"input 'input': expected rank 4 (N, C, H, W), got rank {rank}")
    shape = _shape(info, x) or (None,) * 4
    if node.op_type == "DepthToSpace" and isinstance(shape[1], int) and shape[1] % (b * b):
        raise refuse(
            node,
            f"input 'input': expected channels divisible by blocksize² = {b * b}, got {shape[1]}",
        )
    if node.op_type == "SpaceToDepth" and any(isinstance(n, int) and n % b for n in shape[2:]):
        raise refuse(
            node,
            f"input 'input': expected height and width divisible by blocksize = {b}, got "
            f"shape {shape}",
        )
    if mode == "CRD" and rank == 4 and isinstance(x, Ref) and info["float"].get(x.name, False):
        layer = nn.PixelShuffle(b) if node.op_type == "DepthToSpace" else nn.PixelUnshuffle(b)
        return layer, [x.name]
    return _generic(_SpaceDepth(node, [x], b, mode), [x])


def col2im(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """Col2Im on a 3-D value computed at run time, 2 spatial axes and symmetric pads (how
    PyTorch exports ``F.fold``, opset 18 on): the ``nn.Fold`` layer."""
    x = ins[0]
    shapes = {}
    for name, operand in (("image_shape", ins[1]), ("block_shape", ins[2])):
        const = _const(node, operand, name)
        sizes = [int(v) for v in np.ravel(np.asarray(const))] if const is not None else []
        if len(sizes) != 2 or min(sizes) < 1:
            raise refuse(
                node, f"input {name!r}: expected 2 positive sizes (2 spatial axes), got {sizes}"
            )
        shapes[name] = tuple(sizes)
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    if len(pads) != 4 or pads[0] != pads[2] or pads[1] != pads[3] or min(pads) < 0:
        raise refuse(
            node, f"attribute 'pads': expected [top, left, top, left] (symmetric), got {pads}"
        )
    geometry = {}
    for name, key in (("dilation", "dilations"), ("stride", "strides")):
        value = list(attrs.get(key, [1, 1]))
        if len(value) != 2 or min(value) < 1:
            raise refuse(node, f"attribute {key!r}: expected 2 values >= 1, got {value}")
        geometry[name] = tuple(value)
    rank = _rank(info, x)
    if not isinstance(x, Ref) or (rank is not None and rank != 3):
        raise refuse(
            node, "input 'input': expected a 3-D value (N, C·k1·k2, L) computed at run time"
        )
    layer = nn.Fold(
        shapes["image_shape"], shapes["block_shape"], padding=(pads[0], pads[1]), **geometry
    )
    return layer, [x.name]


def _initializer_param(operand: Operand) -> Parameter | None:
    """The Parameter of a float initializer (or a view of one); None for anything else —
    a Constant node's value among them, which stays a buffer."""
    if isinstance(operand, Const) and _is_float(operand.value):
        return operand.param
    return None


def _fixed(operand: Operand, value: float, shape: tuple[Any, ...]) -> bool:
    """Whether ``operand`` is a Constant node's float array of ``shape`` all ``value``."""
    return (
        isinstance(operand, Const)
        and operand.param is None
        and _is_float(operand.value)
        and operand.value.shape == shape
        and bool(np.all(operand.value == value))
    )


def instance_norm(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    x, scale, B = ins
    eps = _epsilon(node, attrs)
    static, s_shape, b_shape = _shape(info, x), _shape(info, scale), _shape(info, B)
    if static is not None and s_shape is not None and b_shape is not None:
        _instance_shapes(node, static, s_shape, b_shape)
    wp, bp = _initializer_param(scale), _initializer_param(B)  # a Constant's: a buffer
    C = static[1] if static is not None else None  # a layer needs a float run-time x, C known
    if isinstance(x, Ref) and info["float"].get(x.name, False) and isinstance(C, int):
        if wp is not None and bp is not None:
            layer = nn.GroupNorm(C, C, eps, affine=True, dtype=wp.dtype)
            layer.weight, layer.bias = wp, bp
            return layer, [x.name]
        if _fixed(scale, 1.0, (C,)) and _fixed(B, 0.0, (C,)):
            assert isinstance(scale, Const)  # fixed ones and zeros: no parameters
            return nn.GroupNorm(C, C, eps, affine=False, dtype=scale.value.dtype), [x.name]
    operands = [x, scale, B]
    return _generic(_InstanceNorm(node, operands, eps), operands)


def _activation(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    op, x = node.op_type, ins[0]
    layer: nn.Module | None = None
    if op == "Relu":
        layer = nn.ReLU()
    elif op == "Sigmoid":
        layer = nn.Sigmoid()
    elif op == "Tanh":
        layer = nn.Tanh()
    elif op == "Softsign":
        layer = nn.Softsign()
    elif op == "Mish":
        layer = nn.Mish()
    elif op == "HardSwish":
        layer = nn.Hardswish()
    elif op == "Swish" and attrs.get("alpha", 1.0) == 1.0:  # x·σ(x)
        layer = nn.SiLU()
    elif (
        op == "HardSigmoid"
        and attrs.get("alpha", 0.2) == _ONE_SIXTH_FLOAT32
        and attrs.get("beta", 0.5) == 0.5
    ):  # PyTorch's Hardsigmoid, 1/6 as a float32 attribute: the layer, with 1/6 exact
        layer = nn.Hardsigmoid()
    elif op == "LeakyRelu":
        layer = nn.LeakyReLU(attrs.get("alpha", 0.01))
    elif op == "Elu":
        layer = nn.ELU(attrs.get("alpha", 1.0))
    elif op == "Celu":
        layer = nn.CELU(attrs.get("alpha", 1.0))
    elif op == "Gelu":
        approximate = attrs.get("approximate", "none")
        if approximate not in ("none", "tanh"):
            raise refuse(
                node, f"attribute 'approximate': expected 'none' or 'tanh', got {approximate!r}"
            )
        layer = nn.GELU(approximate)
    if layer is not None and isinstance(x, Ref):
        return layer, [x.name]
    if layer is not None:  # a constant input: folded at load time, so f′ is never asked for
        return _generic(_Unary(node, [x], layer.forward, lambda v: np.ones_like(v), op), [x])
    f, df, formula = _formula(node, attrs)
    return _generic(_Unary(node, [x], f, df, formula), [x])


#: How an ONNX file holds PyTorch's Hardsigmoid slope 1/6 (a float attribute is float32).
_ONE_SIXTH_FLOAT32 = float(np.float32(1 / 6))


def _formula(node: Node, attrs: Attrs) -> tuple[Callable[..., Any], Callable[..., Any], str]:
    op = node.op_type
    if op == "HardSigmoid":
        alpha, beta = attrs.get("alpha", 0.2), attrs.get("beta", 0.5)

        def hs(x: np.ndarray) -> np.ndarray:
            return np.clip(x * x.dtype.type(alpha) + x.dtype.type(beta), 0, 1)

        def dhs(x: np.ndarray) -> np.ndarray:
            z = x * x.dtype.type(alpha) + x.dtype.type(beta)
            return np.where((z > 0) & (z < 1), x.dtype.type(alpha), 0).astype(x.dtype)

        return hs, dhs, f"max(0, min(1, {alpha}·x + {beta}))"
    if op == "Selu":
        alpha = attrs.get("alpha", 1.67326319217681884765625)
        gamma = attrs.get("gamma", 1.05070102214813232421875)

        def selu(x: np.ndarray) -> np.ndarray:
            with np.errstate(over="ignore"):
                return np.where(
                    x > 0, gamma * x, gamma * alpha * np.expm1(np.minimum(x, 0))
                ).astype(x.dtype)

        def dselu(x: np.ndarray) -> np.ndarray:
            return np.where(x > 0, gamma, gamma * alpha * np.exp(np.minimum(x, 0))).astype(x.dtype)

        return selu, dselu, f"{gamma}·(x if x > 0 else {alpha}·(exp(x) − 1))"
    if op == "Softplus":  # ONNX's softplus has no threshold: log(1 + eˣ) everywhere
        return (lambda x: np.logaddexp(x.dtype.type(0), x), act.sigmoid, "log(1 + exp(x))")
    if op == "Erf":  # exporters write the exact GELU as 0.5·x·(1 + erf(x/√2)) before opset 20

        def derf(x: np.ndarray) -> np.ndarray:
            return (2 / np.sqrt(np.pi) * np.exp(-(x.astype(np.float64) ** 2))).astype(x.dtype)

        return (lambda x: erf(x).astype(x.dtype, copy=False), derf, "erf(x)")
    if op == "Abs":  # Softsign's export: x / (1 + |x|); d|x|/dx = sign(x), 0 at 0
        return (np.abs, lambda x: np.sign(x).astype(x.dtype), "|x|")
    if op == "Swish":  # x·σ(αx)
        alpha = attrs.get("alpha", 1.0)

        def swish(x: np.ndarray) -> np.ndarray:
            return x * act.sigmoid(x.dtype.type(alpha) * x)

        def dswish(x: np.ndarray) -> np.ndarray:
            s = act.sigmoid(x.dtype.type(alpha) * x)
            return s + alpha * x * s * (1 - s)

        return swish, dswish, f"x·σ({alpha}·x)"
    if op == "ThresholdedRelu":  # x where x > α, else 0
        alpha = attrs.get("alpha", 1.0)
        return (
            lambda x: np.where(x > alpha, x, 0).astype(x.dtype),
            lambda x: (x > alpha).astype(x.dtype),
            f"x if x > {alpha} else 0",
        )
    if op in _ELEMENTARY:
        return _ELEMENTARY[op]
    raise refuse(node, f"op type {op!r} is not supported")


def _quiet(f: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """f with NumPy's warnings off: outside its domain an elementary function gives ONNX's
    (and PyTorch's) NaN or ±inf, which is the answer, not an accident to warn about."""

    def quiet(x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return f(x)

    return quiet


# The elementary functions exporters write where a layer has no op of its own (LayerNorm
# before opset 17: ReduceMean, Sub, Pow, Add, Sqrt, Div), each with its derivative.
_ELEMENTARY: dict[str, tuple[Callable[..., Any], Callable[..., Any], str]] = {
    "Sqrt": (_quiet(np.sqrt), _quiet(lambda x: 0.5 / np.sqrt(x)), "√x"),
    "Reciprocal": (_quiet(np.reciprocal), _quiet(lambda x: -1 / (x * x)), "1/x"),
    "Exp": (_quiet(np.exp), _quiet(np.exp), "exp(x)"),
    "Log": (_quiet(np.log), _quiet(np.reciprocal), "log(x)"),
    "Neg": (np.negative, lambda x: np.full_like(x, -1), "−x"),
    "Sin": (_quiet(np.sin), _quiet(np.cos), "sin(x)"),
    "Cos": (_quiet(np.cos), _quiet(lambda x: -np.sin(x)), "cos(x)"),
    "Tan": (_quiet(np.tan), _quiet(lambda x: 1 + np.tan(x) ** 2), "tan(x)"),
    "Asin": (_quiet(np.arcsin), _quiet(lambda x: 1 / np.sqrt(1 - x * x)), "asin(x)"),
    "Acos": (_quiet(np.arccos), _quiet(lambda x: -1 / np.sqrt(1 - x * x)), "acos(x)"),
    "Atan": (_quiet(np.arctan), _quiet(lambda x: 1 / (1 + x * x)), "atan(x)"),
    "Sinh": (_quiet(np.sinh), _quiet(np.cosh), "sinh(x)"),
    "Cosh": (_quiet(np.cosh), _quiet(np.sinh), "cosh(x)"),
    "Asinh": (_quiet(np.arcsinh), _quiet(lambda x: 1 / np.sqrt(x * x + 1)), "asinh(x)"),
    "Acosh": (_quiet(np.arccosh), _quiet(lambda x: 1 / np.sqrt((x - 1) * (x + 1))), "acosh(x)"),
    "Atanh": (_quiet(np.arctanh), _quiet(lambda x: 1 / (1 - x * x)), "atanh(x)"),
    # piecewise constant: derivative 0 (as PyTorch's floor, ceil, round and sign)
    "Floor": (np.floor, np.zeros_like, "⌊x⌋"),
    "Ceil": (np.ceil, np.zeros_like, "⌈x⌉"),
    "Round": (np.round, np.zeros_like, "round(x), halves to even"),
    "Sign": (np.sign, np.zeros_like, "sign(x)"),
    "Not": (np.logical_not, np.zeros_like, "not x"),
}


def shrink(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """Shrink with bias 0 (``nn.Hardshrink``) or bias = lambd (``nn.Softshrink``) on a value
    computed at run time; other biases are refused. A NaN input stays NaN here, as in
    PyTorch's layers, where onnxruntime's Shrink gives 0."""
    x, lambd, bias = ins[0], attrs.get("lambd", 0.5), attrs.get("bias", 0.0)
    if lambd < 0 or not isinstance(x, Ref) or bias not in (0.0, lambd):
        raise refuse(
            node,
            f"attributes: expected lambd >= 0 and bias 0 or lambd (hard or soft shrinkage) on "
            f"a run-time input, got lambd={lambd}, bias={bias}",
        )
    layer = nn.Softshrink(lambd) if bias == lambd and lambd > 0 else nn.Hardshrink(lambd)
    return layer, [x.name]


#: GridSample's modes by their names before opset 20 and from 20 on (ONNX's cubic is
#: PyTorch's bicubic: A = −0.75, each tap padded on its own).
_GRID_MODES = {
    "bilinear": "bilinear",
    "linear": "bilinear",
    "nearest": "nearest",
    "bicubic": "bicubic",
    "cubic": "bicubic",
}


def grid_sample(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """GridSample on a 4-D image and a grid both computed at run time (a spatial
    transformer, as PyTorch exports ``F.grid_sample``): ``nn.GridSample``. Bilinear, nearest
    and bicubic ("bilinear" and "bicubic" before opset 20, "linear" and "cubic" from 20)."""
    x, grid = ins
    mode = attrs.get("mode", "linear" if node.opset >= 20 else "bilinear")
    padding_mode = attrs.get("padding_mode", "zeros")
    align_corners = attrs.get("align_corners", 0)
    renamed = ("bilinear", "bicubic") if node.opset >= 20 else ("linear", "cubic")  # the others'
    if mode not in _GRID_MODES or mode in renamed:
        names = (
            "'linear', 'nearest' or 'cubic'"
            if node.opset >= 20
            else "'bilinear', 'nearest' or 'bicubic'"
        )
        raise refuse(
            node, f"attribute 'mode': expected {names} at opset {node.opset}, got {mode!r}"
        )
    if padding_mode not in ("zeros", "border", "reflection"):
        raise refuse(
            node,
            f"attribute 'padding_mode': expected 'zeros', 'border' or 'reflection', got "
            f"{padding_mode!r}",
        )
    for role, operand, rank in (("X", x, 4), ("grid", grid, 4)):
        given = _rank(info, operand)
        if not isinstance(operand, Ref) or (given is not None and given != rank):
            raise refuse(
                node,
                f"input {role!r}: expected a 4-D value computed at run time (2-D sampling), "
                f"got {'rank ' + str(given) if given is not None else 'a constant'}",
            )
    assert isinstance(x, Ref) and isinstance(grid, Ref)
    layer = nn.GridSample(_GRID_MODES[mode], padding_mode, bool(align_corners))
    return layer, [x.name, grid.name]


def affine_grid(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """AffineGrid (opset 20) of θ computed at run time: for a ``size`` (N, C, H, W) known at
    load time, as PyTorch exports ``F.affine_grid(theta, x.size())``, ``nn.AffineGrid(size)``;
    for ``size = Shape(image)`` of a 4-D run-time value, as cnnmath saves it,
    ``nn.AffineGrid()`` reading that image's shape."""
    theta, size = ins
    if not isinstance(theta, Ref):
        raise refuse(node, "input 'theta': expected a value computed at run time")
    source = info["producers"].get(size.name) if isinstance(size, Ref) else None
    if (
        source is not None
        and isinstance(source[0], _Shape)
        and (source[0].start, source[0].end) == (0, None)
    ):
        image = source[1][0]  # size = Shape(image): the grid of the image's size, as saved
        if _rank(info, Ref(image)) in (None, 4):
            return nn.AffineGrid(align_corners=bool(attrs.get("align_corners", 0))), [
                theta.name,
                image,
            ]
    const = _const(node, size, "size")
    sizes = [int(v) for v in np.ravel(np.asarray(const))] if const is not None else []
    if len(sizes) != 4 or min(sizes) < 1:
        raise refuse(
            node,
            f"input 'size': expected (N, C, H, W), 4 sizes >= 1 known at load time (2-D "
            f"grids) or the Shape of a 4-D value, got {sizes or 'a value computed at run time'}",
        )
    return nn.AffineGrid(tuple(sizes), bool(attrs.get("align_corners", 0))), [theta.name]


def prelu(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    x, slope = ins
    sp = _float_param(slope)
    rank = _rank(info, x)
    if isinstance(x, Ref) and sp is not None and rank is not None and rank >= 2:
        shape = sp.shape
        per_channel = len(shape) == rank - 1 and all(n == 1 for n in shape[1:])
        if (sp.size == 1 and len(shape) <= rank) or per_channel:
            layer = nn.PReLU(sp.size if per_channel else 1, dtype=sp.dtype)
            layer.weight = sp if sp.data.ndim == 1 else Parameter(sp.data.reshape(-1))
            if layer.weight is not sp:
                info["derived"].append((sp, layer.weight))
            return layer, [x.name]
    return _generic(_PRelu(node, [x, _as_operand(slope, sp)]), [x, slope])


def clip(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    x, lo, hi = ins
    lo_v = None if lo is None else (lo.value if isinstance(lo, Const) else "runtime")
    hi_v = None if hi is None else (hi.value if isinstance(hi, Const) else "runtime")
    if isinstance(x, Ref) and isinstance(lo_v, np.ndarray) and lo_v.size == 1 and float(lo_v) == 0:
        if hi_v is None:
            return nn.ReLU(), [x.name]
        if isinstance(hi_v, np.ndarray) and hi_v.size == 1 and float(hi_v) == 6:
            return nn.ReLU6(), [x.name]
    operands = [x, lo, hi]
    operands = [Const(o.value) if isinstance(o, Const) else o for o in operands]  # not trained
    return _generic(_Clip(node, operands), operands)


def _one_shape(info: dict[str, Any], names: Sequence[str]) -> bool:
    """Whether the run-time values ``names`` have one shape whenever the graph runs: the same
    known sizes, and on a symbolic axis the same named dimension (a dim_param such as
    "batch", which shape inference passes along). Two unnamed or differently named symbolic
    axes may differ when run, and nn.Add does not broadcast."""
    shapes = [info["shapes"].get(n) for n in names]
    first = shapes[0]
    if first is None or any(shape != first for shape in shapes):
        return False
    symbols = [info["symbols"].get(n) or ("",) * len(first) for n in names]
    for axis, size in enumerate(first):
        if size is None and (len({s[axis] for s in symbols}) != 1 or symbols[0][axis] == ""):
            return False
    return True


def binary(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    a, b = ins
    if (
        node.op_type == "Add"
        and isinstance(a, Ref)
        and isinstance(b, Ref)
        and _one_shape(info, [a.name, b.name])
        and info["float"].get(a.name, False)
    ):
        return nn.Add(), [a.name, b.name]
    if (
        node.op_type == "Mul"
        and isinstance(a, Ref)
        and isinstance(b, Ref)
        and info["float"].get(a.name, False)
        and info["float"].get(b.name, False)
    ):  # a gate times a signal (squeeze-and-excitation): nn.Mul broadcasts as ONNX's Mul
        return nn.Mul(), [a.name, b.name]
    operands = [a, b]
    return _generic(_Binary(node, operands, node.op_type), operands)


def pow_(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    operands = list(ins)
    return _generic(_Pow(node, operands), operands)


def compare(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    operands = [_plain(o) for o in ins]  # no gradient: constants
    return _generic(_Compare(node, operands), operands)


def where(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    condition, x, y = ins
    if (isinstance(condition, Const) and condition.value.dtype != np.bool_) or (
        isinstance(condition, Ref) and info["float"].get(condition.name, False)
    ):
        given = f"dtype {condition.value.dtype}" if isinstance(condition, Const) else "a float one"
        raise refuse(node, f"input 'condition': expected a bool tensor, got {given}")
    operands = [_plain(condition), x, y]
    return _generic(_Where(node, operands), operands)


def sum_(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    refs = [o for o in ins if isinstance(o, Ref)]
    if (
        len(refs) == len(ins)
        and _one_shape(info, [o.name for o in refs])
        and all(info["float"].get(o.name, False) for o in refs)
    ):  # as binary's Add: one shape at every run, float
        return (nn.Add() if len(refs) > 1 else nn.Identity()), [o.name for o in refs]
    return _generic(_Sum(node, ins), ins)


def cast(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """Cast: folded on a constant; at run time ``_Cast``, or an ``nn.Identity`` when a float
    value already has the type (PyTorch's exports cast a size computed at run time to the
    int64 it already is: that stays a ``_Cast``, nn.Identity holding floats only)."""
    attrs.get("saturate")  # concerns float8 targets only, which are refused
    if node.op_type == "CastLike":  # the type of the second input
        like = ins[1]
        if isinstance(like, Const):
            to = _ONNX_TYPES.get(np.dtype(like.value.dtype))
        else:
            to = info["types"].get(like.name) if isinstance(like, Ref) else None
        if to not in _CAST_TYPES:
            raise refuse(
                node, "input 'target_type': expected float32, float64, int32, int64 or bool"
            )
    else:
        to = attrs.get("to")
        if to not in _CAST_TYPES:
            raise refuse(node, f"attribute 'to': data type {to} is not supported")
    x = ins[0]
    if isinstance(x, Ref) and info["types"].get(x.name) == to and to in _FLOAT_TYPES:
        return nn.Identity(), [x.name]
    operands = [_plain(x)]
    return _generic(_Cast(node, operands, _CAST_TYPES[to]), operands)


def arg_extremum(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    axis = int(attrs.get("axis", 0))
    keepdims, last = bool(attrs.get("keepdims", 1)), bool(attrs.get("select_last_index", 0))
    rank = _rank(info, ins[0])
    if rank is not None:
        _axis(node, "attribute 'axis'", axis, max(rank, 1))
    return _generic(_ArgExtremum(node, ins[:1], axis, keepdims, last), ins[:1])


def size(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    return _generic(_Size(node, [_plain(ins[0])]), [_plain(ins[0])])


def predicate(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    negative = bool(attrs.get("detect_negative", 1)) if node.op_type == "IsInf" else False
    positive = bool(attrs.get("detect_positive", 1)) if node.op_type == "IsInf" else False
    return _generic(_Predicate(node, ins[:1], negative, positive), ins[:1])


def hardmax(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    if node.opset < 13:  # before 13: x flattened to 2-D at axis (default 1), as Softmax's
        raise refuse(node, f"opset {node.opset}: expected 13 or later (Hardmax along an axis)")
    return _generic(_Hardmax(node, ins[:1], int(attrs.get("axis", -1))), ins[:1])


def lp_normalization(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    p = int(attrs.get("p", 2))
    if p not in (1, 2):
        raise refuse(node, f"attribute 'p': expected 1 or 2, got {p}")
    return _generic(_LpNormalization(node, ins[:1], int(attrs.get("axis", -1)), p), ins[:1])


def loss(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    reduction = attrs.get("reduction", "mean")
    if reduction not in ("mean", "sum", "none"):
        raise refuse(
            node, f"attribute 'reduction': expected 'mean', 'sum' or 'none', got {reduction!r}"
        )
    ignore = attrs.get("ignore_index", None)
    operands = [ins[0], _plain(ins[1]), None if len(ins) < 3 else _plain(ins[2])]
    outputs = info["all_outputs"]
    if node.op_type == "SoftmaxCrossEntropyLoss" and len(outputs) > 1 and outputs[1]:
        # its second output, log_prob: log softmax of the scores over the classes (axis 1)
        log_softmax = Node(node.name, "LogSoftmax", node.opset)
        built = _generic(_Softmax(log_softmax, ins[:1], 1, True, False), ins[:1])
        info["more"] = [(outputs[1], built)]
    return _generic(_Loss(node, operands, reduction, ignore), operands)


def extremum(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    return _generic(_Extremum(node, ins, node.op_type), ins)


def expand(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    operands = [ins[0], _plain(ins[1])]
    return _generic(_Expand(node, operands), operands)


def tile(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    operands = [ins[0], _plain(ins[1])]
    return _generic(_Tile(node, operands), operands)


def _power_of_two(f: float) -> bool:
    return f > 0 and math.frexp(f)[0] == 0.5


def resize(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    x, roi, scales, sizes = ins
    choices = (
        ("mode", "nearest", ("nearest", "linear", "cubic")),
        ("coordinate_transformation_mode", "half_pixel", _TRANSFORMS),
        ("nearest_mode", "round_prefer_floor", _ROUNDINGS),
        ("keep_aspect_ratio_policy", "stretch", _POLICIES),
    )
    chosen = []
    for name, default, allowed in choices:
        value = attrs.get(name, default)
        if value not in allowed:
            raise refuse(
                node,
                f"attribute {name!r}: expected {' or '.join(map(repr, allowed))}, got {value!r}",
            )
        chosen.append(value)
    mode, transform, rounding, policy = chosen
    if transform == "half_pixel_symmetric":
        raise refuse(
            node,
            "attribute 'coordinate_transformation_mode': 'half_pixel_symmetric' is not "
            "supported: its rounding is not reproduced exactly as onnxruntime computes it",
        )
    antialias = bool(attrs.get("antialias", 0))  # a kernel widened when shrinking
    if antialias and mode == "nearest":
        raise refuse(node, "attribute 'antialias': expected 0 with mode 'nearest', got 1")
    if antialias and node.opset < 18:
        raise refuse(
            node,
            f"attribute 'antialias': Resize has it from opset 18 on, this model's opset is "
            f"{node.opset}",
        )
    exclude_outside = attrs.get("exclude_outside", 0)
    # it changes the cubic weights and the antialiased ones only (plain linear clamps anyway)
    if exclude_outside and mode != "cubic" and not antialias:
        raise refuse(node, f"attribute 'exclude_outside': expected 0 with mode {mode!r}, got 1")
    a = float(attrs.get("cubic_coeff_a", -0.75))  # mode "cubic" only
    if not np.isfinite(a):
        raise refuse(node, f"attribute 'cubic_coeff_a': expected a finite number, got {a}")
    attrs.get("extrapolation_value")  # "tf_crop_and_resize" only, which is refused
    axes = attrs.ints("axes", None)
    static = _shape(info, x)
    if static is not None:
        _resize_axes(node, axes, len(static))
    operands = [x, _plain(roi), _plain(scales), _plain(sizes)]
    cubic = (a, bool(exclude_outside))
    module = _Resize(node, operands, axes, transform, rounding, policy, mode, cubic, antialias)
    if static is not None and not isinstance(scales, Ref) and not isinstance(sizes, Ref):
        known = tuple(1 if n is None else n for n in static)  # refused now, not when run
        plan = module.plan(known, getattr(scales, "value", None), getattr(sizes, "value", None))
        if None not in static and any(static[a] != out for a, out, _ in plan):
            out_shape = list(static)
            for a, out, _ in plan:
                out_shape[a] = out
            try:  # an output too large for this machine refused now, not when run
                _guard(out_shape, 1)
            except _TooLarge as e:
                raise refuse(node, str(e)) from None
            _guard_indices(node, plan)
            for a, out, f in plan:  # a near-tie refused now too
                if mode == "nearest":
                    module.sources(static[a], out, f)
    if (
        isinstance(x, Ref)
        and info["float"].get(x.name, False)
        and static is not None
        and len(static) == 4
        and (mode, transform, rounding, axes) == ("nearest", "asymmetric", "floor", None)
        and isinstance(scales, Const)
        and scales.value.size == 4
        and sizes is None
    ):
        s = [float(f) for f in np.ravel(scales.value)]
        # Upsample's source ⌊i·(1/s)⌋ is ONNX's ⌊i/s⌋ exactly when 1/s is exact: s = 2^k
        if s[:2] == [1.0, 1.0] and all(f >= 1 and _power_of_two(f) for f in s[2:]):
            factor = s[2] if s[2] == s[3] else (s[2], s[3])
            return nn.Upsample(scale_factor=factor), [x.name]
    return _generic(module, operands)


def matmul(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    a, b = ins
    bp = _float_param(b)
    if isinstance(a, Ref) and bp is not None and bp.data.ndim == 2 and (_rank(info, a) or 0) >= 2:
        K, N = bp.shape
        layer = nn.Linear(K, N, bias=False, dtype=bp.dtype)
        layer.weight = Parameter(np.ascontiguousarray(bp.data.T))
        info["derived"].append((bp, layer.weight))
        return layer, [a.name]
    operands = [a, b]
    return _generic(_MatMul(node, operands), operands)


def gemm(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    a, b, c = ins
    alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
    trans_a, trans_b = bool(attrs.get("transA", 0)), bool(attrs.get("transB", 0))
    bp, cp = _float_param(b), _float_param(c)
    if (
        isinstance(a, Ref)
        and not trans_a
        and alpha == 1.0
        and beta == 1.0
        and bp is not None
        and bp.data.ndim == 2
        and (
            c is None
            or (cp is not None and cp.data.ndim == 1 and cp.size == bp.shape[0 if trans_b else 1])
        )
    ):
        weight = bp if trans_b else Parameter(np.ascontiguousarray(bp.data.T))
        if not trans_b:
            info["derived"].append((bp, weight))
        N, K = weight.shape
        layer = nn.Linear(K, N, bias=c is not None, dtype=weight.dtype)
        layer.weight, layer.bias = weight, cp
        return layer, [a.name]
    operands = [a, b, c]
    return _generic(_Gemm(node, operands, alpha, beta, trans_a, trans_b), operands)


def softmax(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    legacy = node.opset < 13
    axis = attrs.get("axis", 1 if legacy else -1)
    rank = _rank(info, ins[0])
    if rank is not None:
        _axis(node, "attribute 'axis'", axis, max(rank, 1))
    log = node.op_type == "LogSoftmax"
    return _generic(_Softmax(node, ins[:1], axis, log, legacy), ins[:1])


def reduce(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    axes_attr = attrs.ints("axes", None)
    rank = _rank(info, ins[0])
    if rank is not None and axes_attr:
        _axes(node, "attribute 'axes'", axes_attr, rank)
    if rank is not None and len(ins) > 1 and isinstance(ins[1], Const):
        _axes(node, "input 'axes'", ins[1].value, rank)
    keepdims = bool(attrs.get("keepdims", 1))
    noop = bool(attrs.get("noop_with_empty_axes", 0))
    operands = (ins + [None])[:2]
    operands = [operands[0], None if operands[1] is None else _plain(operands[1])]
    return _generic(_Reduce(node, operands, keepdims, noop, axes_attr), operands)


def _plain(o: Operand) -> Operand:
    """A constant that is data of the graph's structure (a shape, axes): never trained."""
    return Const(o.value) if isinstance(o, Const) else o


def reshape(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    op = node.op_type
    x = ins[0]
    rank = _rank(info, x)
    if op == "Reshape":
        allowzero = bool(attrs.get("allowzero", 0))
        if isinstance(ins[1], Const):  # refused now, not when run
            _check_reshape(node, [int(v) for v in np.ravel(ins[1].value)], rank, allowzero)
        return _generic(_Reshape(node, [x, _plain(ins[1])], "Reshape", allowzero), [x, ins[1]])
    if op == "Flatten":
        axis = attrs.get("axis", 1)
        if rank is not None:
            _axis(node, "attribute 'axis'", axis, rank, end=True)
        if axis == 1 and isinstance(x, Ref) and info["float"].get(x.name, False):
            return nn.Flatten(), [x.name]
        return _generic(_Reshape(node, [x, None], "Flatten", axis), [x])
    axes = attrs.ints("axes", None)
    operands = [x, None if len(ins) < 2 or ins[1] is None else _plain(ins[1])]
    if op == "Unsqueeze" and axes is None and operands[1] is None:
        raise refuse(node, "input 'axes' is required")
    given = axes if axes is not None else getattr(operands[1], "value", None)
    if rank is not None and given is not None:
        what = "attribute 'axes'" if axes is not None else "input 'axes'"
        _axes(node, what, given, rank + (np.size(given) if op == "Unsqueeze" else 0))
    return _generic(_Reshape(node, operands, op, axes), operands)


def transpose(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    return _generic(_Transpose(node, ins[:1], attrs.ints("perm", None)), ins[:1])


def concat(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    if not attrs.has("axis"):
        raise refuse(node, "attribute 'axis' is required")
    axis = attrs.get("axis")
    ranks = [r for r in (_rank(info, o) for o in ins) if r is not None]
    if ranks:
        _axis(node, "attribute 'axis'", axis, max(ranks[0], 1))
    refs = [o for o in ins if isinstance(o, Ref)]
    if len(refs) == len(ins) and all(info["float"].get(o.name, False) for o in refs):
        return nn.Concat(axis), [o.name for o in refs]
    operands = [_plain(o) for o in ins]
    return _generic(_Concat(node, operands, axis), operands)


_PAD_LAYERS = {
    "reflect": nn.ReflectionPad2d,
    "replicate": nn.ReplicationPad2d,
    "circular": nn.CircularPad2d,
}


def pad(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    onnx_mode = attrs.get("mode", "constant")
    if onnx_mode not in PAD_MODES:
        raise refuse(
            node,
            f"attribute 'mode': expected one of {', '.join(map(repr, PAD_MODES))}, got "
            f"{onnx_mode!r}",
        )
    mode = PAD_MODES[onnx_mode]
    operands = [_plain(o) if o is not None else None for o in (ins + [None] * 4)[:4]]
    x, pads, _, axes = operands
    if (
        mode != "constant"
        and isinstance(x, Ref)
        and info["float"].get(x.name, False)
        and _rank(info, x) == 4
        and isinstance(pads, Const)
        and (axes is None or isinstance(axes, Const))
    ):  # PyTorch's padding layers: the image's own pixels around H and W
        widths = dict.fromkeys(range(4), (0, 0))
        ax = list(range(4)) if axes is None else _axes(node, "input 'axes'", axes.value, 4)
        p = [int(v) for v in np.ravel(pads.value)]
        if len(p) == 2 * len(ax):
            widths.update({a: (p[i], p[len(ax) + i]) for i, a in enumerate(ax)})
            if widths[0] == widths[1] == (0, 0):
                (top, bottom), (left, right) = widths[2], widths[3]
                return _PAD_LAYERS[mode]((left, right, top, bottom)), [x.name]
    return _generic(_Pad(node, operands, mode), operands)


def dropout(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    attrs.get("seed")  # the stream of masks: only drawn when the model trains
    x, ratio, training = (ins + [None, None])[:3]
    p = 0.5
    if node.opset < 12:  # Dropout-10: the ratio is an attribute
        p = float(attrs.get("ratio", 0.5))
    elif ratio is not None:
        given = _const(node, ratio, "ratio")
        p = 0.5 if given is None else float(np.ravel(given)[0])
    mode = None if training is None else _const(node, training, "training_mode")
    if mode is not None and bool(np.ravel(mode)[0]):
        raise refuse(node, "input 'training_mode': only inference (False) is supported")
    if len(info["outputs"]) > 1:  # the mask read: all True in inference (_outputs.py)
        from ._outputs import dropout_mask

        info["more"] = dropout_mask(node, x, info)
    if isinstance(x, Ref):
        return nn.Dropout(p), [x.name]
    return _generic(_Reshape(node, [x, None], "Squeeze", []), [x])  # identity on a constant


def identity(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    x = ins[0]
    if isinstance(x, Ref) and info["float"].get(x.name, False):
        return nn.Identity(), [x.name]
    return _generic(_Reshape(node, [_plain(x), None], "Squeeze", []), [x])


def shape(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    start, end = attrs.get("start", 0), attrs.get("end", None)
    x = ins[0]
    static = info["shapes"].get(x.name) if isinstance(x, Ref) else None
    if static is not None and all(isinstance(n, int) for n in static):  # folded at load time
        placeholder = np.broadcast_to(np.zeros((), np.int8), static)
        return _generic(_Shape(node, [Const(placeholder)], start, end), [])
    return _generic(_Shape(node, [_plain(x)], start, end), [x])


def gather(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    operands = [ins[0], _plain(ins[1])]
    axis = attrs.get("axis", 0)
    rank = _rank(info, ins[0])
    if rank is not None:
        _axis(node, "attribute 'axis'", axis, rank)
    return _generic(_Gather(node, operands, axis), operands)


def split(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """Split: X cut along ``axis`` into consecutive parts, one per output, of the sizes
    ``split`` (an input at opset 1 and from 13, an attribute in between), else — from opset
    18 — ``num_outputs`` parts of ⌈n/k⌉ (the last one shorter), else k equal parts for k
    outputs. Each part is a Slice: ``nn.Narrow`` on a float run-time value along an axis of
    known length other than the batch's (as PyTorch's ``x.split`` and ``x.chunk``), a
    Slice op otherwise (folded when X is a constant). The first part is returned; the others
    go to ``info["more"]`` as (output name, built) for the loader to add."""
    x, given = (ins + [None])[:2]
    outputs = info["all_outputs"]
    shape = _shape(info, x)
    if shape is None:
        raise refuse(node, "input 'input': expected a value of known rank")
    axis = _axis(node, "attribute 'axis'", int(attrs.get("axis", 0)), len(shape))
    n, k = shape[axis], len(outputs)
    sizes = attrs.ints("split", None)
    if given is not None:
        sizes = [int(v) for v in np.ravel(np.asarray(_const(node, given, "split")))]
    parts = attrs.get("num_outputs", None)
    if not isinstance(n, (int, np.integer)):
        raise refuse(node, f"input 'input': expected a known length along axis {axis}")
    if parts is not None and (sizes is not None or parts != k):
        raise refuse(
            node,
            f"attribute 'num_outputs': expected the number of outputs ({k}) and no 'split', "
            f"got {parts}" + (" and a 'split'" if sizes is not None else ""),
        )
    if sizes is None:
        chunk = -(-int(n) // k) if parts is not None else int(n) // k
        sizes = [max(min(chunk, int(n) - i * chunk), 0) for i in range(k)]
    if len(sizes) != k or sum(sizes) != n or min(sizes) < 0:
        raise refuse(
            node,
            f"split: expected {k} sizes >= 0 (one per output) adding up to the length {n} "
            f"along axis {axis}, got {sizes}",
        )
    built = []
    for start, size in zip(np.cumsum([0, *sizes[:-1]]), sizes):
        operands = [x, *(Const(np.array([v], np.int64)) for v in (start, start + size, axis))]
        narrow = _as_narrow(operands, info)
        built.append(narrow or _generic(_Slice(node, [*operands, None]), [*operands, None]))
    info["more"] = [(name, part) for name, part in zip(outputs[1:], built[1:]) if name]
    return built[0]


def slice_(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    operands = [ins[0]] + [None if o is None else _plain(o) for o in (ins + [None] * 5)[1:5]]
    narrow = _as_narrow(ins, info)
    if narrow is not None:
        return narrow
    return _generic(_Slice(node, operands), operands)


def _as_narrow(ins: list[Operand], info: dict[str, Any]) -> Built | None:
    """A Slice of a float run-time value along one axis of known size, with constant bounds
    and step 1 (how PyTorch exports ``x.chunk`` and ``x[:, a:b]``): ``nn.Narrow``."""
    x, rest = ins[0], (ins + [None] * 5)[1:5]
    shape = _shape(info, x)
    if not isinstance(x, Ref) or not info["float"].get(x.name, False) or shape is None:
        return None
    values = [None if o is None else getattr(o, "value", "runtime") for o in rest]
    if any(isinstance(v, str) for v in values) or values[0] is None or values[1] is None:
        return None
    starts, ends = np.ravel(values[0]), np.ravel(values[1])
    axes = np.ravel(values[2]) if values[2] is not None else np.arange(starts.size)
    steps = np.ravel(values[3]) if values[3] is not None else np.ones(starts.size)
    if starts.size != 1 or axes.size != 1 or steps.size != 1 or int(steps[0]) != 1:
        return None
    if not -len(shape) <= int(axes[0]) < len(shape):
        return None
    axis = int(axes[0]) % len(shape)
    n = shape[axis]
    if not isinstance(n, (int, np.integer)) or axis == 0:  # the batch axis may vary
        return None
    piece = _slice_axis(int(n), int(starts[0]), int(ends[0]), 1)
    return nn.Narrow(axis, piece.start, max(piece.stop - piece.start, 0)), [x.name]


def group_norm(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """GroupNormalization: ``nn.GroupNorm`` on a float run-time X of known channels whose
    scale and bias are one initializer per channel each (opset 21, or opset 18 with one
    group per channel, where per group is per channel) — the layer trains them — or a
    Constant's ones and zeros (a GroupNorm without affine). Otherwise ``_GroupNorm``: a
    run-time scale or bias, and opset 18's per-group scale and bias with fewer groups than
    channels, which stay per group (repeating them per channel would let the channels of a
    group part ways when trained, leaving the function family the file defines)."""
    x, scale, bias = ins
    groups = attrs.get("num_groups")
    if groups is None:
        raise refuse(node, "attribute 'num_groups' is required")
    eps = _epsilon(node, attrs)
    stash = attrs.get("stash_type", 1)
    if stash not in (1, 11):  # the statistics' type: cnnmath keeps them in float64 anyway
        raise refuse(
            node, f"attribute 'stash_type': expected 1 (float32) or 11 (float64), got {stash}"
        )
    per_group = node.opset < 21
    static, s_shape, b_shape = _shape(info, x), _shape(info, scale), _shape(info, bias)
    if static is not None and s_shape is not None and b_shape is not None:
        _group_shapes(node, static, s_shape, b_shape, groups)
    C = static[1] if static is not None and len(static) >= 2 else None
    if isinstance(x, Ref) and info["float"].get(x.name, False) and isinstance(C, int):
        wp, bp = _initializer_param(scale), _initializer_param(bias)
        if wp is not None and bp is not None and (not per_group or groups == C):
            layer = nn.GroupNorm(groups, C, eps, affine=True, dtype=wp.dtype)
            layer.weight, layer.bias = wp, bp
            return layer, [x.name]
        n = groups if per_group else C
        if _fixed(scale, 1.0, (n,)) and _fixed(bias, 0.0, (n,)):
            assert isinstance(scale, Const)  # fixed ones and zeros: no parameters
            return nn.GroupNorm(groups, C, eps, affine=False, dtype=scale.value.dtype), [x.name]
    operands = [x, scale, bias]
    return _generic(_GroupNorm(node, operands, groups, eps, per_group), operands)


def _element_type(info: dict[str, Any], operand: Operand) -> int | None:
    """The ONNX element type of an operand, where known at load time."""
    if isinstance(operand, Const):
        dtype = np.dtype(operand.value.dtype)
        return _QUANT_CODES.get(dtype, _ONNX_TYPES.get(dtype))
    if isinstance(operand, Ref):
        return info["types"].get(operand.name)
    return None


def _quantization(node: Node, attrs: Attrs) -> tuple[int, int]:
    """(axis, block_size) of a QuantizeLinear or DequantizeLinear."""
    axis = int(attrs.get("axis", 1))
    block = int(attrs.get("block_size", 0))
    if block < 0:
        raise refuse(node, f"attribute 'block_size': expected a value >= 0, got {block}")
    return axis, block


def _check_quantization_axis(
    node: Node, info: dict[str, Any], x: Operand, scale: Operand, axis: int, block: int
) -> None:
    """Refuse at load time an ``axis`` outside x's rank where it is read (a scale per axis or
    per block) and both are known; a per-tensor scale ignores it."""
    rank = _rank(info, x)
    per_tensor = isinstance(scale, Const) and scale.value.size == 1 and scale.value.ndim <= 1
    if rank is not None and isinstance(scale, Const) and (block or not per_tensor):
        _axis(node, "attribute 'axis'", axis, max(rank, 1))


def _output_float(node: Node, attrs: Attrs) -> Any:
    """The ``output_dtype`` attribute of a DequantizeLinear (0: the scale's type)."""
    code = attrs.get("output_dtype", 0)
    if code and code not in _FLOAT_TYPES:
        raise refuse(
            node,
            f"attribute 'output_dtype': expected FLOAT or DOUBLE, got {_type_name(code)}",
        )
    return _CAST_TYPES[code] if code else None


def dequantize(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """DequantizeLinear (``_Dequantize``): folded at load time on a constant x (an int8
    weight becomes the float array it stands for), at run time on a value a QuantizeLinear
    wrote or a graph input. x of type int8, uint8, int16, uint16 or int32; the float8, 4-bit
    and 2-bit types are refused, naming the type."""
    x, scale, zero = ins
    axis, block = _quantization(node, attrs)
    dtype = _output_float(node, attrs)
    for name, operand in (("x", x), ("x_zero_point", zero)):
        code = _element_type(info, operand)
        if code is not None and code not in (*_QUANTIZED, 6):
            raise refuse(
                node,
                f"input {name!r}: element type {_type_name(code)} is not supported (int8, "
                "uint8, int16, uint16 or int32)",
            )
    _check_quantization_axis(node, info, x, scale, axis, block)
    operands = [_plain(x), _plain(scale), _plain(zero)]  # the quantization's fixed constants
    return _generic(_Dequantize(node, operands, axis, block, dtype), operands)


_PRECISIONS = {0: None, 1: np.float32, 11: np.float64}


def quantize(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """QuantizeLinear (``_Quantize``) to int8, uint8, int16 or uint16: the zero point's type,
    else ``output_dtype``'s (opset 21 on), else uint8. The float8, 4-bit and 2-bit types are
    refused, naming the type; ``saturate`` concerns float8 only."""
    x, scale, zero = ins
    axis, block = _quantization(node, attrs)
    attrs.get("saturate")  # float8 targets only, which are refused
    precision = attrs.get("precision", 0)
    if precision not in _PRECISIONS:
        raise refuse(
            node, f"attribute 'precision': expected FLOAT or DOUBLE, got {_type_name(precision)}"
        )
    code = attrs.get("output_dtype", 0)
    given = _element_type(info, zero)
    if code and given is not None and code != given:
        raise refuse(
            node,
            f"attribute 'output_dtype': expected the zero point's type {_type_name(given)}, "
            f"got {_type_name(code)}",
        )
    code = given or code or 2  # uint8 by default
    if code not in _QUANTIZED:
        raise refuse(
            node,
            f"quantized type {_type_name(code)} is not supported (int8, uint8, int16 or uint16)",
        )
    _check_quantization_axis(node, info, x, scale, axis, block)
    operands = [_plain(x), _plain(scale), _plain(zero)]
    module = _Quantize(node, operands, axis, block, _QUANTIZED[code], _PRECISIONS[precision])
    return _generic(module, operands)


def top_k(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """TopK: Values (``_TopK``); its Indices, when read, a second ``_TopK`` handed to the
    loader through ``info["more"]`` as (output name, built)."""
    x, k = ins
    axis, largest = int(attrs.get("axis", -1)), bool(attrs.get("largest", 1))
    attrs.get("sorted")  # the values come sorted either way (sorted = 0 leaves the order open)
    rank = _rank(info, x)
    if rank is not None:
        _axis(node, "attribute 'axis'", axis, max(rank, 1))
    operands = [x, _plain(k)]
    outputs = info["all_outputs"]
    if len(outputs) > 1 and outputs[1]:
        indices = [_plain(x), _plain(k)]
        built = _generic(_TopK(node, indices, axis, largest, 1), indices)
        info["more"] = [(outputs[1], built)]
    return _generic(_TopK(node, operands, axis, largest, 0), operands)


def mod(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    operands = list(ins)
    return _generic(_Mod(node, operands, bool(attrs.get("fmod", 0))), operands)


def cum_sum(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    exclusive, reverse = bool(attrs.get("exclusive", 0)), bool(attrs.get("reverse", 0))
    operands = [ins[0], _plain(ins[1])]
    return _generic(_CumSum(node, operands, exclusive, reverse), operands)


def gather_elements(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    axis = int(attrs.get("axis", 0))
    rank = _rank(info, ins[0])
    if rank is not None:
        _axis(node, "attribute 'axis'", axis, max(rank, 1))
    operands = [ins[0], _plain(ins[1])]
    return _generic(_GatherElements(node, operands, axis), operands)


def range_(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """Range: folded at load time on constants (the window indices PyTorch's exports compute),
    else ``_Range`` at run time. ``stash_type`` concerns float16 and bfloat16 only."""
    attrs.get("stash_type")
    operands = [_plain(o) for o in ins]
    return _generic(_Range(node, operands), operands)


def constant_of_shape(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """ConstantOfShape: folded at load time on a constant shape (the pads PyTorch computes for
    ``F.pad``), else ``_ConstantOfShape`` at run time (swin_t's attention masks)."""
    value = attrs.get("value")
    fill = np.zeros((), np.float32) if value is None else np.asarray(value)
    if fill.size != 1 or fill.dtype not in _ONNX_TYPES:
        raise refuse(
            node,
            f"attribute 'value': expected one element of float32, float64, int32, int64 or "
            f"bool, got shape {fill.shape} of {fill.dtype}",
        )
    operands = [_plain(ins[0])]
    return _generic(_ConstantOfShape(node, operands, fill.reshape(())), operands)


def einsum(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """Einsum: its equation checked at load time (the operands' shapes when it runs)."""
    equation = attrs.get("equation")
    try:
        split_equation(equation, len(ins), prefix="attribute 'equation'")
    except (TypeError, ValueError) as e:
        raise refuse(node, str(e)) from None
    return _generic(_Einsum(node, ins, equation), ins)


def scatter_nd_(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    reduction = attrs.get("reduction", "none")
    if reduction not in REDUCTIONS:
        raise refuse(
            node, f"attribute 'reduction': expected one of {list(REDUCTIONS)}, got {reduction!r}"
        )
    operands = [ins[0], _plain(ins[1]), ins[2]]
    differentiable = _differentiable(info, ins[0]) or _differentiable(info, ins[2])
    return _generic(_ScatterND(node, operands, reduction, differentiable), operands)


#: ONNX element types a value may take a gradient in (0: not known at load time)
_GRADIENT_TYPES = (0, 1, 10, 11, 16)


def _differentiable(info: dict[str, Any], operand: Operand) -> bool:
    """Whether the operand's value may depend on a parameter or on a graph input's values
    (so a gradient can be asked of it): a float parameter; a run-time value of a float (or
    unknown) type that is a graph input, or made by a node with parameters or from such a
    value. Shape, Size and ConstantOfShape depend on no values; an integer or bool value
    takes no gradient. A walk back through the nodes built so far (``info["producers"]``),
    each value decided once."""
    if operand is None:
        return False
    if isinstance(operand, Const):
        return operand.param is not None
    memo: dict[str, bool] = info.setdefault("differentiable", {})
    stack = [operand.name]
    while stack:
        name = stack[-1]
        if name in memo:
            stack.pop()
            continue
        producer = info["producers"].get(name)
        if (info["types"].get(name) or 0) not in _GRADIENT_TYPES:
            memo[name] = False
        elif producer is None:  # a graph input (or a layer's extra output)
            memo[name] = True
        elif isinstance(producer[0], (_Shape, _Size, _ConstantOfShape)):
            memo[name] = False
        elif producer[0].parameters():
            memo[name] = True
        elif pending := [r for r in producer[1] if r not in memo]:
            stack.extend(pending)
            continue
        else:
            memo[name] = any(memo[r] for r in producer[1])
        stack.pop()
    return memo[operand.name]


def _lp_order(node: Node, attrs: Attrs) -> int:
    """LpPool's and GlobalLpPool's ``p``, an integer ≥ 1."""
    p = attrs.get("p", 2)
    if p < 1:
        raise refuse(node, f"attribute 'p': expected an integer >= 1, got {p}")
    return int(p)


def lp_pool(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """LpPool (``_LpPool``) over as many spatial axes as ``kernel_shape`` has sizes."""
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"):
        raise refuse(
            node,
            "attribute 'auto_pad': expected NOTSET, SAME_UPPER, SAME_LOWER or VALID, "
            f"got {auto_pad!r}",
        )
    kernel = attrs.ints("kernel_shape", None)
    if not kernel:
        raise refuse(node, "attribute 'kernel_shape' is required")
    k = len(kernel)
    rank = _rank(info, ins[0])
    if rank is not None and rank != k + 2:
        raise refuse(
            node,
            f"attribute 'kernel_shape': expected {rank - 2} sizes (X has rank {rank}), "
            f"got {kernel}",
        )
    geo: dict[str, Any] = {"auto_pad": auto_pad, "kernel_shape": kernel}
    for name, default, n, low in (
        ("strides", [1] * k, k, 1),
        ("dilations", [1] * k, k, 1),
        ("pads", [0] * 2 * k, 2 * k, 0),
    ):
        value = attrs.ints(name, default) or default
        if len(value) != n or min(value) < low:
            raise refuse(node, f"attribute {name!r}: expected {n} values >= {low}, got {value}")
        geo[name] = value
    if auto_pad == "VALID":
        geo["pads"] = [0] * 2 * k
    geo["ceil_mode"] = bool(attrs.get("ceil_mode", 0))
    return _generic(_LpPool(node, ins[:1], geo, _lp_order(node, attrs)), ins[:1])


def global_lp_pool(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    return _generic(_GlobalLpPool(node, ins[:1], _lp_order(node, attrs)), ins[:1])


CONVERTERS: dict[str, Callable[[Node, Attrs, list[Operand], dict[str, Any]], Built]] = {
    "Conv": conv,
    "DeformConv": deform_conv,
    "ConvTranspose": conv_transpose,
    "MaxPool": pool,
    "MaxUnpool": max_unpool,
    "AveragePool": pool,
    "GlobalAveragePool": global_pool,
    "GlobalMaxPool": global_pool,
    "BatchNormalization": batch_norm,
    "LayerNormalization": layer_norm,
    "InstanceNormalization": instance_norm,
    "PRelu": prelu,
    "Clip": clip,
    "Gemm": gemm,
    "MatMul": matmul,
    "Add": binary,
    "Sub": binary,
    "Mul": binary,
    "Div": binary,
    "Pow": pow_,
    "LRN": lrn,
    "DepthToSpace": space_depth,
    "Col2Im": col2im,
    "Shrink": shrink,
    "GridSample": grid_sample,
    "AffineGrid": affine_grid,
    "SpaceToDepth": space_depth,
    "Sum": sum_,
    "Where": where,
    **{op: compare for op in _COMPARISONS},
    "Flatten": reshape,
    "Reshape": reshape,
    "Squeeze": reshape,
    "Unsqueeze": reshape,
    "Transpose": transpose,
    "Concat": concat,
    "Pad": pad,
    **dict.fromkeys(_REDUCTIONS, reduce),
    "Softmax": softmax,
    "LogSoftmax": softmax,
    "Dropout": dropout,
    "Identity": identity,
    "Shape": shape,
    "Gather": gather,
    "Slice": slice_,
    "Split": split,
    **dict.fromkeys(("Max", "Min", "Mean"), extremum),
    "Expand": expand,
    "Tile": tile,
    "Cast": cast,
    "ArgMax": arg_extremum,
    "ArgMin": arg_extremum,
    "Resize": resize,
    **{
        op: _activation
        for op in (
            "Relu",
            "LeakyRelu",
            "Sigmoid",
            "HardSigmoid",
            "HardSwish",
            "Tanh",
            "Softplus",
            "Softsign",
            "Elu",
            "Selu",
            "Celu",
            "Gelu",
            "Mish",
            "Erf",
            "Abs",
            "Swish",
            "ThresholdedRelu",
            *_ELEMENTARY,
        )
    },
    "CastLike": cast,
    "Size": size,
    **dict.fromkeys(("SoftmaxCrossEntropyLoss", "NegativeLogLikelihoodLoss"), loss),
    "Hardmax": hardmax,
    "LpNormalization": lp_normalization,
    **dict.fromkeys(("IsNaN", "IsInf"), predicate),
    "GroupNormalization": group_norm,
    "QuantizeLinear": quantize,
    "DequantizeLinear": dequantize,
    "TopK": top_k,
    "Mod": mod,
    "CumSum": cum_sum,
    "GatherElements": gather_elements,
    "Range": range_,
    "LpPool": lp_pool,
    "GlobalLpPool": global_lp_pool,
    "ConstantOfShape": constant_of_shape,
    "Einsum": einsum,
    "ScatterND": scatter_nd_,
}
"""op type -> converter. ``Constant`` is read by the loader itself."""


# The element types a Cast (and ConstantOfShape's value) may have: ONNX code -> NumPy type.
_CAST_TYPES = {1: np.float32, 11: np.float64, 7: np.int64, 6: np.int32, 9: np.bool_}
_FLOAT_TYPES = (1, 11)  # ONNX's FLOAT and DOUBLE
_ONNX_TYPES = {np.dtype(t): code for code, t in _CAST_TYPES.items()}


# The inputs of every op read here, from the ONNX operator specification: per op, the
# versions of its signature as (the opset it starts at, its input names in order, how many of
# them are required); a later input is optional. The opsets are those the loader reads (11
# on); an input an op gained later (Squeeze's axes at 13) exists from that opset on.
SIGNATURES: dict[str, tuple[tuple[int, str, int], ...]] = {
    **dict.fromkeys(("Add", "Sub", "Mul", "Div", "MatMul", *_COMPARISONS), ((1, "A B", 2),)),
    "Pow": ((1, "X Y", 2),),
    **dict.fromkeys(("Sqrt", "Reciprocal", "Neg", "Floor", "Ceil", "Round", "Not"), ((1, "X", 1),)),
    **dict.fromkeys(("Sin", "Cos", "Sign"), ((1, "input", 1),)),
    **dict.fromkeys(("ArgMax", "ArgMin"), ((1, "data", 1),)),
    "CastLike": ((15, "input target_type", 2),),
    "SoftmaxCrossEntropyLoss": ((12, "scores labels weights", 2),),
    "NegativeLogLikelihoodLoss": ((12, "input target weight", 2),),
    "Size": ((1, "data", 1),),
    **dict.fromkeys(("IsNaN", "IsInf", "Swish"), ((1, "X", 1),)),
    **dict.fromkeys(("Hardmax", "LpNormalization"), ((1, "input", 1),)),
    "ThresholdedRelu": ((10, "X", 1),),
    **dict.fromkeys(("Exp", "Log"), ((1, "input", 1),)),
    **dict.fromkeys(("Conv", "ConvTranspose"), ((1, "X W B", 2),)),
    "DeformConv": ((19, "X W offset B mask", 3),),
    **dict.fromkeys(
        (
            "MaxPool",
            "AveragePool",
            "GlobalAveragePool",
            "GlobalMaxPool",
            "Relu",
            "LeakyRelu",
            "Sigmoid",
            "HardSigmoid",
            "HardSwish",
            "Softplus",
            "Elu",
            "Selu",
            "Celu",
            "Gelu",
            "Mish",
            "Abs",
        ),
        ((1, "X", 1),),
    ),
    **dict.fromkeys(
        (
            "Tanh",
            "Softsign",
            "Erf",
            "Softmax",
            "LogSoftmax",
            "Flatten",
            "Identity",
            "Cast",
            "ConstantOfShape",
        ),
        ((1, "input", 1),),
    ),
    **dict.fromkeys(("Shape", "Transpose"), ((1, "data", 1),)),
    "BatchNormalization": (
        (1, "X scale B mean var", 5),
        (14, "X scale B input_mean input_var", 5),
    ),
    "LayerNormalization": ((1, "X Scale B", 2),),
    "InstanceNormalization": ((1, "input scale B", 3),),
    "LRN": ((1, "X", 1),),
    **dict.fromkeys(("DepthToSpace", "SpaceToDepth"), ((1, "input", 1),)),
    "Col2Im": ((18, "input image_shape block_shape", 3),),
    "Shrink": ((9, "input", 1),),
    "GridSample": ((16, "X grid", 2),),
    "AffineGrid": ((20, "theta size", 2),),
    "Range": ((11, "start limit delta", 3),),
    "GroupNormalization": ((18, "X scale bias", 3),),
    "QuantizeLinear": ((10, "x y_scale y_zero_point", 2),),
    "DequantizeLinear": ((10, "x x_scale x_zero_point", 2),),
    "TopK": ((10, "X K", 2),),
    "MaxUnpool": ((9, "X I output_shape", 2),),
    "Mod": ((10, "A B", 2),),
    "CumSum": ((11, "x axis", 2),),
    "GatherElements": ((11, "data indices", 2),),
    "Einsum": ((12, "Inputs", 1),),
    "ScatterND": ((11, "data indices updates", 3),),
    "RoiAlign": ((10, "X rois batch_indices", 3),),
    "NonMaxSuppression": (
        (10, "boxes scores max_output_boxes_per_class iou_threshold score_threshold", 2),
    ),
    **dict.fromkeys(("LpPool", "GlobalLpPool"), ((1, "X", 1),)),
    **dict.fromkeys(
        ("Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh"),
        ((7, "input", 1),),
    ),
    "PRelu": ((1, "X slope", 2),),
    "Clip": ((1, "input min max", 1),),
    "Gemm": ((1, "A B C", 2),),
    **dict.fromkeys(("Sum", "Max", "Min", "Mean"), ((1, "data_0", 1),)),
    "Expand": ((8, "input shape", 2),),
    "Tile": ((1, "input repeats", 2),),
    "Concat": ((1, "inputs", 1),),
    "Where": ((1, "condition X Y", 3),),
    "Reshape": ((1, "data shape", 2),),
    "Squeeze": ((1, "data", 1), (13, "data axes", 1)),
    "Unsqueeze": ((1, "data", 1), (13, "data axes", 2)),
    "Pad": ((1, "data pads constant_value", 2), (18, "data pads constant_value axes", 2)),
    **dict.fromkeys(set(_REDUCTIONS) - {"ReduceSum"}, ((1, "data", 1), (18, "data axes", 1))),
    "ReduceSum": ((1, "data", 1), (13, "data axes", 1)),
    "Dropout": ((1, "data", 1), (12, "data ratio training_mode", 1)),
    "Gather": ((1, "data indices", 2),),
    "Slice": ((1, "data starts ends axes steps", 3),),
    "Split": ((1, "input split", 1), (2, "input", 1), (13, "input split", 1)),
    "Resize": ((1, "X roi scales sizes", 3), (13, "X roi scales sizes", 1)),
    "Constant": ((1, "", 0),),
}
#: The ops whose one input name stands for any number of inputs (at least one).
VARIADIC = frozenset({"Sum", "Concat", "Max", "Min", "Mean", "Einsum"})

# RoiAlign and NonMaxSuppression: the bulk in _roi.py, which imports this module's helpers
from . import _roi  # noqa: E402

CONVERTERS.update(RoiAlign=_roi.roi_align, NonMaxSuppression=_roi.non_max_suppression)
