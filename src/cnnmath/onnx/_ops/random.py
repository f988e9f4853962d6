"""ONNX's random ops: RandomNormal, RandomUniform, RandomNormalLike, RandomUniformLike,
Bernoulli and Multinomial (what ``torch.randn_like``, ``torch.rand`` and ``torch.bernoulli``
export to: a VAE's reparameterisation, noise injection, stochastic depth written by hand).

Each is an ``_Random`` op drawing from its own NumPy ``Generator`` (PCG64), declared with
``register_generator`` as "rng" (``graph.named_generators()`` lists it, checkpoints save it).
With the node's ``seed`` attribute (a float) the generator is seeded once, when the graph is
loaded, from that float's bits: a loaded graph's successive calls give a reproducible sequence
of draws, and two loads of one file the same sequence. Without ``seed`` each load draws fresh
entropy. onnxruntime's values cannot be matched (another generator), only their
distribution. To reseed: assign ``module.rng = np.random.default_rng(s)`` (or call
``module.reseed(s)``) on the op, found in ``graph.modules()``.

The ops are never folded at load time (a fresh draw per call): one whose every input is known
at load time (RandomNormal has none) reads the graph's first input as an anchor, only so that
the graph computes it at each call. Their outputs do not depend on any input's values
(the *Like ops read only a shape and type, Bernoulli's probabilities choose among draws):
no gradient flows back to an input (zero, as for a shape input; ONNX defines none).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._attributes import Attrs
from ._convert import Built, _generic, _plain
from ._helpers import _guard, _TooLarge
from ._module import _Op
from ._node import Const, Node, Operand, Ref, refuse
from ._types import _CAST_TYPES

_FLOAT_DTYPES = {1: np.float32, 11: np.float64}
_HALF_NAMES = {10: "float16", 16: "bfloat16"}


def _seed_bits(seed: float) -> int:
    """The ``seed`` attribute (a float) as the non-negative integer of its 64 bits: distinct
    floats seed distinct streams (0.5 and 1.5 included)."""
    return int(np.array(seed, np.float64).view(np.uint64))


class _Random(_Op):
    """A random op: y = draw(shape, dtype) from ``self.rng``, one fresh draw per call.
    Subclasses define ``draw(*operands) -> y``. ``anchored``: the graph passes its first
    input before the operands, read for nothing but to be computed at each call. Gradient:
    zero to every input (the output does not depend on their values)."""

    roles = ("input",)
    #: the output type (None: the input's)
    dtype: Any = None

    def __init__(
        self, node: Node, operands: Sequence[Operand], seed: float | None, anchored: bool
    ) -> None:
        super().__init__(node, operands)
        self.seed = seed
        self.anchored = anchored
        self.register_generator("rng", self._generator(seed))

    @staticmethod
    def _generator(seed: float | None) -> np.random.Generator:
        return np.random.default_rng(None if seed is None else _seed_bits(seed))

    def reseed(self, seed: float | None = None) -> None:
        """A new generator: from ``seed``'s bits as at load (a float or int, the same stream
        as a file with that seed attribute), fresh entropy for None."""
        self.rng = self._generator(None if seed is None else float(seed))

    def forward_ctx(self, *inputs: np.ndarray) -> tuple[np.ndarray, Any]:
        """A fresh draw; the anchor (when anchored) is dropped before the operands."""
        if self.anchored:
            if not inputs:
                raise TypeError(f"{type(self).__name__}.forward: expected 1 input, got 0")
            anchor = np.asarray(inputs[0])
            y, _ = super().forward_ctx(*inputs[1:])
            return y, ("anchor", anchor.shape, anchor.dtype)
        return super().forward_ctx(*inputs)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> Any:
        """Zeros for every run-time input (the anchor's too)."""
        if isinstance(ctx, tuple) and len(ctx) == 3 and ctx[0] == "anchor":
            return np.zeros(ctx[1], ctx[2])
        return super().backward_ctx(ctx, grad_output)

    def compute(self, *args: Any) -> tuple[np.ndarray, Any]:
        return self.draw(*args), None

    def draw(self, *args: Any) -> np.ndarray:
        raise NotImplementedError

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [None] * len(args)

    def _checked(self, shape: Sequence[int], dtype: Any) -> tuple[tuple[int, ...], Any]:
        shape = tuple(int(n) for n in shape)
        try:
            _guard(shape, np.dtype(dtype).itemsize)
        except _TooLarge as e:
            raise refuse(self.onnx_node, str(e)) from None
        return shape, dtype

    def _float_type(self, x: np.ndarray) -> Any:
        """The output type: ``dtype`` if given, else the input's, which must be float."""
        if self.dtype is not None:
            return self.dtype
        if x.dtype not in (np.float32, np.float64):
            raise refuse(
                self.onnx_node,
                f"input 'input': expected float32 or float64 when attribute 'dtype' is "
                f"absent (the output takes its type), got {x.dtype}",
            )
        return x.dtype.type

    def extra_repr(self) -> str:
        """The op type and seed."""
        return f"onnx_op={self.onnx_op!r}, seed={self.seed}"


class _Sampled(_Random):
    """A draw of the attribute ``shape`` (RandomNormal, RandomUniform) or, where that is None,
    of the input's shape (the *Like ops), in ``dtype`` or the input's float type."""

    def __init__(
        self,
        node: Node,
        operands: Sequence[Operand],
        seed: float | None,
        anchored: bool,
        shape: list[int] | None,
        dtype: Any,
    ) -> None:
        super().__init__(node, operands, seed, anchored)
        self.shape, self.dtype = shape, dtype

    def _target(self, args: Sequence[Any]) -> tuple[tuple[int, ...], Any]:
        """(shape, dtype) of this call's draw, checked against the memory guard."""
        if self.shape is None:
            x = np.asarray(args[0])
            return self._checked(x.shape, self._float_type(x))
        return self._checked(self.shape, self.dtype)


class _Normal(_Sampled):
    """RandomNormal(Like): y = mean + scale·z, z ~ N(0, 1) elementwise, of the attribute
    ``shape`` (RandomNormal) or the input's shape (RandomNormalLike), in ``dtype``."""

    def __init__(
        self,
        node: Node,
        operands: Sequence[Operand],
        seed: float | None,
        anchored: bool,
        *,
        mean: float,
        scale: float,
        shape: list[int] | None,
        dtype: Any,
    ) -> None:
        super().__init__(node, operands, seed, anchored, shape, dtype)
        self.mean, self.scale = mean, scale

    def draw(self, *args: Any) -> np.ndarray:
        shape, dtype = self._target(args)
        z = self.rng.standard_normal(shape, dtype=dtype)
        return np.asarray(z * dtype(self.scale) + dtype(self.mean), dtype)


class _Uniform(_Sampled):
    """RandomUniform(Like): y = low + (high − low)·u, u ~ U[0, 1) elementwise, of the attribute
    ``shape`` or the input's shape, in ``dtype``."""

    def __init__(
        self,
        node: Node,
        operands: Sequence[Operand],
        seed: float | None,
        anchored: bool,
        *,
        low: float,
        high: float,
        shape: list[int] | None,
        dtype: Any,
    ) -> None:
        super().__init__(node, operands, seed, anchored, shape, dtype)
        self.low, self.high = low, high

    def draw(self, *args: Any) -> np.ndarray:
        shape, dtype = self._target(args)
        u = self.rng.random(shape, dtype=dtype)
        return np.asarray(dtype(self.low) + dtype(self.high - self.low) * u, dtype)


class _Bernoulli(_Random):
    """Bernoulli: y_i = 1 if u_i < p_i else 0, u ~ U[0, 1) in float64 elementwise, of p's
    shape, in ``dtype`` (float32, float64, int32, int64 or bool; default p's type). p = 0
    never gives 1 and p = 1 always does. No gradient to p (ONNX defines none)."""

    def __init__(
        self,
        node: Node,
        operands: Sequence[Operand],
        seed: float | None,
        anchored: bool,
        dtype: Any,
    ) -> None:
        super().__init__(node, operands, seed, anchored)
        self.dtype = dtype

    def draw(self, p: Any) -> np.ndarray:
        p = np.asarray(p)
        if p.dtype not in (np.float32, np.float64):
            raise refuse(
                self.onnx_node, f"input 'input': expected float32 or float64, got {p.dtype}"
            )
        shape, dtype = self._checked(p.shape, self.dtype or p.dtype.type)
        u = self.rng.random(shape)
        return (u < p).astype(dtype)


class _Multinomial(_Random):
    """Multinomial: for input (B, C) of unnormalised log-probabilities, y (B, S) of class
    indices in 0 … C − 1, each row's S samples drawn independently with probabilities
    softmax(input[b]): the first class whose cumulative probability exceeds u ~ U[0, 1)."""

    def __init__(
        self,
        node: Node,
        operands: Sequence[Operand],
        seed: float | None,
        anchored: bool,
        samples: int,
        dtype: Any,
    ) -> None:
        super().__init__(node, operands, seed, anchored)
        self.samples, self.dtype = samples, dtype

    def draw(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 2 or x.dtype not in (np.float32, np.float64):
            raise refuse(
                self.onnx_node,
                f"input 'input': expected 2 axes (batch, classes) of float32 or float64, "
                f"got shape {x.shape} of {x.dtype}",
            )
        b, c = x.shape
        self._checked((b, self.samples), np.float64)
        z = x.astype(np.float64)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        cdf = np.cumsum(e, axis=1) / e.sum(axis=1, keepdims=True)
        u = self.rng.random((b, self.samples))
        # one search for all rows: row r's CDF (in [0, 1]) and its draws shifted by 2r, so the
        # rows follow one another in a single sorted array; the shift rounds the comparison
        # to 2r's float64 spacing (2^-52 · 2r), far below a draw's resolution that matters
        shift = 2.0 * np.arange(b)[:, None]
        idx = np.searchsorted((cdf + shift).ravel(), (u + shift).ravel(), side="right")
        idx = idx.reshape(b, self.samples) - c * np.arange(b)[:, None]
        return np.minimum(idx, c - 1).astype(self.dtype)


def _typed(node: Node, attrs: Attrs, name: str, kind: int, default: Any) -> Any:
    """An attribute of ONNX type ``kind`` (1 FLOAT, 2 INT, 7 INTS), read here: the shared
    type table gives ``seed`` another type (Dropout's)."""
    attrs.read.add(name)
    if name not in attrs.values:
        return default
    value = attrs.values[name]
    if attrs.types[name] != kind:
        names = {1: "FLOAT", 2: "INT", 7: "INTS"}
        raise refuse(node, f"attribute {name!r}: expected type {names[kind]}, got {value!r}")
    return value


def _dtype(node: Node, attrs: Attrs, default: int | None, allowed: dict[int, Any]) -> Any:
    """The ``dtype`` attribute as a NumPy type (None: absent and no default)."""
    code = _typed(node, attrs, "dtype", 2, default)
    if code is None:
        return None
    if code in _HALF_NAMES:
        raise refuse(
            node,
            f"attribute 'dtype': {_HALF_NAMES[code]} ({code}) is not supported (cnnmath "
            "computes in float32 or float64)",
        )
    if code not in allowed:
        names = {1: "float", 11: "double", 6: "int32", 7: "int64", 9: "bool"}
        listed = ", ".join(f"{c} ({names[c]})" for c in sorted(allowed))
        raise refuse(node, f"attribute 'dtype': expected one of {listed}, got {code}")
    return allowed[code]


def _seed(node: Node, attrs: Attrs) -> float | None:
    return _typed(node, attrs, "seed", 1, None)


def _anchor(node: Node, operands: list[Operand], info: dict[str, Any]) -> list[Operand]:
    """``operands`` itself when one is computed at run time; else [the graph's first input],
    read as an anchor so that the loader does not fold the op (the loader's constant outputs
    are anchored the same way)."""
    if any(isinstance(o, Ref) for o in operands):
        return operands
    inputs = info["inputs"]
    if not inputs:
        raise refuse(node, "expected the graph to have an input to draw at each call, got none")
    return [Ref(inputs[0])]


def _built(module: _Random, operands: Sequence[Operand], anchor: list[Operand]) -> Built:
    module_built, refs = _generic(module, operands)
    if module.anchored:
        refs = [anchor[0].name, *refs]  # type: ignore[union-attr]
    return module_built, refs


def _like_type(node: Node, x: Operand, info: dict[str, Any]) -> None:
    """Refuse at load a *Like op without ``dtype`` on an input known not to be float."""
    code = x.value.dtype if isinstance(x, Const) else info["types"].get(getattr(x, "name", ""))
    if code is None:
        return
    ok = code in (np.float32, np.float64) if isinstance(code, np.dtype) else code in (1, 11)
    if not ok:
        raise refuse(
            node,
            f"input 'input': expected float32 or float64 when attribute 'dtype' is absent "
            f"(the output takes its type), got "
            f"{code if isinstance(code, np.dtype) else f'ONNX element type {code}'}",
        )


def random_normal_uniform(
    node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]
) -> Built:
    """RandomNormal, RandomUniform, RandomNormalLike, RandomUniformLike: ``_Normal`` or
    ``_Uniform`` with ``mean``/``scale`` (scale ≥ 0) or ``low``/``high`` (low ≤ high),
    ``dtype`` float (1) or double (11; default float, or the input's type for the *Like
    ops), ``shape`` (non-negative sizes; not for the *Like ops) and ``seed``."""
    like = node.op_type.endswith("Like")
    normal = node.op_type.startswith("RandomNormal")
    dtype = _dtype(node, attrs, None if like else 1, _FLOAT_DTYPES)
    shape = None
    if not like:
        shape = _typed(node, attrs, "shape", 7, None)
        if shape is None:
            raise refuse(node, "attribute 'shape': expected a list of sizes (it is required)")
        if any(n < 0 for n in shape):
            raise refuse(node, f"attribute 'shape': expected sizes >= 0, got {shape}")
    operands: list[Operand] = [_plain(ins[0])] if like else []
    if like and dtype is None:
        _like_type(node, operands[0], info)
    seed = _seed(node, attrs)
    anchor = _anchor(node, operands, info)
    anchored = anchor is not operands
    module: _Random
    if normal:
        mean = float(_typed(node, attrs, "mean", 1, 0.0))
        scale = float(_typed(node, attrs, "scale", 1, 1.0))
        if not scale >= 0 or not np.isfinite(mean) or not np.isfinite(scale):
            raise refuse(
                node,
                f"attributes 'mean', 'scale': expected a finite mean and a finite scale >= 0, "
                f"got mean {mean}, scale {scale}",
            )
        module = _Normal(
            node, operands, seed, anchored, mean=mean, scale=scale, shape=shape, dtype=dtype
        )
    else:
        low = float(_typed(node, attrs, "low", 1, 0.0))
        high = float(_typed(node, attrs, "high", 1, 1.0))
        if not (np.isfinite(low) and np.isfinite(high) and low <= high):
            raise refuse(
                node,
                f"attributes 'low', 'high': expected finite low <= high, got low {low}, "
                f"high {high}",
            )
        module = _Uniform(
            node, operands, seed, anchored, low=low, high=high, shape=shape, dtype=dtype
        )
    return _built(module, operands, anchor)


def bernoulli(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """Bernoulli: ``_Bernoulli`` with ``dtype`` one of float, double, int32, int64, bool
    (default: the input's type) and ``seed``."""
    dtype = _dtype(node, attrs, None, _CAST_TYPES)
    seed = _seed(node, attrs)
    operands = [_plain(ins[0])]
    anchor = _anchor(node, operands, info)
    anchored = anchor is not operands
    return _built(_Bernoulli(node, operands, seed, anchored, dtype), operands, anchor)


def multinomial(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """Multinomial: ``_Multinomial`` of ``sample_size`` (≥ 1) samples per row, ``dtype`` int32
    (6, the default) or int64 (7), and ``seed``."""
    dtype = _dtype(node, attrs, 6, {6: np.int32, 7: np.int64})
    samples = int(_typed(node, attrs, "sample_size", 2, 1))
    if samples < 1:
        raise refuse(node, f"attribute 'sample_size': expected >= 1, got {samples}")
    seed = _seed(node, attrs)
    operands = [_plain(ins[0])]
    anchor = _anchor(node, operands, info)
    anchored = anchor is not operands
    return _built(_Multinomial(node, operands, seed, anchored, samples, dtype), operands, anchor)
