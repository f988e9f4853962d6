"""The elementwise ops and their converters: broadcasting arithmetic (Add, Sub, Mul, Div, Pow,
Mod, Sum, Max, Min, Mean), Clip, PRelu, comparisons and logical ops, Where, Cast and CastLike,
Size, IsNaN and IsInf, Expand and Tile.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ... import nn
from ...nn import Parameter
from ...nn.graph import unbroadcast
from ._attributes import Attrs
from ._convert import Built, _as_operand, _float_param, _generic, _plain, _rank
from ._helpers import _guard, _is_float
from ._module import _Op
from ._node import Const, Node, Operand, Ref, refuse
from ._types import _CAST_TYPES, _FLOAT_TYPES, _ONNX_TYPES


class _Binary(_Op):
    """y = a ∘ b with NumPy (= ONNX multidirectional) broadcasting, ∘ ∈ {+, −, ×, ÷}."""

    elementwise = True
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

    elementwise = True
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

    elementwise = True
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

    elementwise = True
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


# ---------------------------------------------------------------------------------------------
# Converters


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
    # the bounds are not trained; x may be a weight (a logit scale clamped before use)
    operands = [x, *(Const(o.value) if isinstance(o, Const) else o for o in (lo, hi))]
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


def size(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    return _generic(_Size(node, [_plain(ins[0])]), [_plain(ins[0])])


def predicate(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    negative = bool(attrs.get("detect_negative", 1)) if node.op_type == "IsInf" else False
    positive = bool(attrs.get("detect_positive", 1)) if node.op_type == "IsInf" else False
    return _generic(_Predicate(node, ins[:1], negative, positive), ins[:1])


def extremum(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    return _generic(_Extremum(node, ins, node.op_type), ins)


def expand(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    operands = [ins[0], _plain(ins[1])]
    return _generic(_Expand(node, operands), operands)


def tile(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    operands = [ins[0], _plain(ins[1])]
    return _generic(_Tile(node, operands), operands)


def mod(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    operands = list(ins)
    return _generic(_Mod(node, operands, bool(attrs.get("fmod", 0))), operands)
