"""Activation functions σ and their derivatives σ′, in one registry.

Every function here is elementwise: it takes a float32 or float64 ``numpy.ndarray`` of any
shape (0-d included) and returns a new array of the same shape and dtype. Each value
function ``name(x)`` sits beside its derivative ``name_grad(x)``, which is σ′ as a function
of the input x (not of the output), so that a backward pass is ``grad_out * name_grad(x)``.
Parameters are PyTorch's defaults, and so are the one-sided derivatives at kinks: relu′(0) = 0,
leaky_relu′(0) = 0.01, elu′(0) = 1, softplus′ = 1 above its threshold.

Every function is written to be safe on the whole float range: no overflow or invalid-value
warnings for any finite input (underflow to 0 in a far tail is the right answer and is not
reported either), and ±inf give the limits.

Non-finite values are PyTorch's: NaN in gives NaN out, and each derivative at NaN is what
PyTorch's (vectorised) backward gives — NaN for most, but 1 for identity and relu,
negative_slope for leaky_relu, 0 for hardtanh, relu6, hardsigmoid and step, whose backward
selects by a comparison that NaN fails. step(NaN) is 0, as ``torch.heaviside``. Where PyTorch
returns an artefact NaN at ±∞ (∞·0, ∞/∞), cnnmath keeps the mathematical limit, and says so in
the function's docstring: gelu, gelu_tanh, silu, mish at −∞ (value and derivative) and +∞
(derivative), hardswish at −∞ (value), softsign at ±∞ (value and derivative). The
smooth ones are evaluated in float64 and rounded once, so float32 results are as good as
float32 allows, and every σ flagged non-decreasing is non-decreasing as computed, to the
last bit, in both dtypes (tested): result 4 then holds exactly, not just up to rounding.

``ACTIVATIONS`` maps each name to an :class:`Activation` record: value, derivative, whether
σ is non-decreasing (the hypothesis of SPEC.md's result 4: max pooling commutes with σ
exactly when σ keeps order), a formula, and for the non-monotone ones the location of the
dip below zero that makes result 4 fail (a window holding that point and one far below it).

Every function runs on all the op's threads (``cnnmath.set_num_threads``) for an x of more than
``_BLOCK`` values: the flattened x is cut into blocks of that size (the clamps, a single
pass: one piece per thread, each of about ``_threads._PASS_VALUES`` values, else one call),
each computed by the same code as a small x, so the result is the same bit for bit at any
thread count (and the same as the one-block result). PReLU cuts along its (batch·channel)
planes and adds its slope gradient's per-plane sums in order.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from numbers import Real
from typing import Any, TypeVar

import numpy as np

from .._checks import check_float_array, check_same_dtype
from . import _threads
from .erf import erfc

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "Activation",
    "ACTIVATIONS",
    "glu",
    "glu_backward",
    "hardshrink",
    "shrink_grad",
    "softshrink",
    "tanhshrink",
    "tanhshrink_grad",
    "threshold",
    "threshold_grad",
    "celu",
    "celu_grad",
    "elu",
    "elu_grad",
    "gelu",
    "gelu_grad",
    "gelu_tanh",
    "gelu_tanh_grad",
    "get_activation",
    "hardsigmoid",
    "hardsigmoid_grad",
    "hardswish",
    "hardswish_grad",
    "hardtanh",
    "hardtanh_backward",
    "hardtanh_grad",
    "identity",
    "identity_grad",
    "leaky_relu",
    "leaky_relu_grad",
    "logsigmoid",
    "logsigmoid_grad",
    "mish",
    "mish_grad",
    "prelu",
    "prelu_backward",
    "relu",
    "relu6",
    "relu6_grad",
    "relu_backward",
    "relu_grad",
    "selu",
    "SELU_ALPHA",
    "selu_grad",
    "SELU_SCALE",
    "sigmoid",
    "sigmoid_grad",
    "silu",
    "silu_grad",
    "softplus",
    "softplus_grad",
    "softsign",
    "softsign_grad",
    "step",
    "step_grad",
    "tanh",
    "tanh_grad",
]

_SQRT1_2 = math.sqrt(0.5)  # 1/√2
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

# Minima of the non-monotone activations: the roots of σ′ below zero, to double precision
# (tests/test_activations.py re-finds them by bisection on σ′).
GELU_MINIMUM_AT = -0.7517915246935645
SILU_MINIMUM_AT = -1.2784645427610738
MISH_MINIMUM_AT = -1.1924312145154952
GELU_TANH_MINIMUM_AT = -0.7524614220710163

# Beyond these |x| every tail term below is exactly 0 in float64 (exp(−800) underflows), so
# inputs are clipped there: it keeps x·x finite and avoids inf·0 = NaN at ±inf.
_GAUSS_CLIP = 40.0  # x·φ(x) = 0 beyond, φ the standard normal density
_EXP_CLIP = 800.0  # x·exp(−|x|) = 0 beyond
_SECH_CLIP = 400.0  # sech²(y) = 4·exp(−2|y|)/(1 + exp(−2|y|))² = 0 beyond


def _checked(x: object, func: str) -> np.ndarray:
    return check_float_array("x", x, func=func)


#: Elements per block when an elementwise function runs on all cores. A smaller x is one
#: block, computed as it is, without a thread; the cut depends on x's size only, and every
#: element is computed by the same arithmetic whichever block it falls in.
_BLOCK = 1 << 16


def elementwise(func: F) -> F:
    """Run the elementwise ``func(x, **params)`` on blocks of the flattened x, on the op's
    threads, each block writing its slice of the result; a public op (``_threads.op``).

    ``func`` sets its own NumPy error state, which is per thread, so it holds in every
    block. Its arguments are checked once first, on an empty slice of x, so that a bad
    parameter is reported before any work starts.
    """

    @functools.wraps(func)
    def blocked(x: Any, *args: Any, **kwargs: Any) -> Any:
        x = _checked(x, func.__name__)
        if x.size <= _BLOCK:
            return func(x, *args, **kwargs)
        flat = x.reshape(-1)
        func(flat[:0], *args, **kwargs)  # the parameters' checks
        out = np.empty(x.shape, dtype=x.dtype)
        into = out.reshape(-1)

        def body(i0: int, i1: int) -> None:
            into[i0:i1] = func(flat[i0:i1], *args, **kwargs)

        _threads.parallel(body, _threads.spans(flat.size, _BLOCK))
        return out

    return _threads.op(blocked)  # type: ignore[return-value]


def _clamp(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """min(max(x, low), high) into a new array of x's shape and dtype, one ``np.clip`` over
    all of x, or one per thread over a contiguous share of it where each share is long
    enough to hand off (`_threads.pass_spans`; x already checked): an elementwise pass may
    be cut by the thread count, every element getting the same operation whatever the cut.

    ``np.clip`` with both bounds finite or infinite, never None, runs NumPy's clip loop:
    one pass, about half the time of ``np.maximum`` against a scalar and a third of the
    maximum-then-minimum pair with its temporary (docs/performance.md, "Clamps"). It keeps
    NaN, and keeps −0 where the bounds allow it, as PyTorch's clamps do — at a lower bound
    of 0 from NumPy 2.1 on (NumPy 2.0's clip there, and ``np.maximum(−0, 0)``, give +0).
    Not in cache-sized blocks: one pass has nothing to keep in cache, and each ``np.clip``
    call costs about as much as 25 000 values (blocks of 2^16 took 1.4–1.6 times as long as
    one call on MobileNetV2's and ResNet's maps: docs/performance.md, "Fewer, longer
    passes")."""
    out = np.empty(x.shape, dtype=x.dtype)
    pieces = _threads.pass_spans(x.size, x.size)
    if len(pieces) == 1:
        np.clip(x, low, high, out=out)
        return out
    flat, into = x.reshape(-1), out.reshape(-1)

    def body(i0: int, i1: int) -> None:
        np.clip(flat[i0:i1], low, high, out=into[i0:i1])

    _threads.parallel(body, pieces)
    return out


def _wide(x: object, func: str) -> np.ndarray:
    """The checked input in float64 (no copy when it already is). The smooth activations are
    evaluated in float64 and rounded once to the input's dtype: float32 results are then
    correctly rounded almost always, and a non-decreasing σ stays non-decreasing to the last
    bit, which NumPy's own float32 exp and tanh do not quite manage."""
    return _checked(x, func).astype(np.float64, copy=False)


def _out(y: np.ndarray | np.generic, like: np.ndarray) -> np.ndarray:
    """Back to the input's dtype, as an array (ufuncs turn 0-d arrays into scalars); a tiny
    float64 value rounding to a float32 subnormal or 0 is not worth a warning either."""
    with np.errstate(under="ignore"):
        return np.asarray(y).astype(like.dtype, copy=False)


def _quiet() -> np.errstate:
    """Underflow to subnormals or 0 in the far tails is correct: do not report it."""
    return np.errstate(under="ignore")


def _real(name: str, value: object, func: str, *, positive: bool = False) -> float:
    """A finite real number as a Python float (a weak scalar: float32 arrays stay float32)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (Real, np.floating)):
        raise TypeError(f"{func}: {name}: expected a real number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or (positive and number <= 0):
        wanted = "a finite number > 0" if positive else "a finite number"
        raise ValueError(f"{func}: {name}: expected {wanted}, got {value!r}")
    return number


# Shared pieces, on float64 arrays already checked, called inside _quiet().
def _sigmoid_pair(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(σ(x), σ(−x)) = (σ(x), 1 − σ(x)), each as 1/(1 + exp(∓x)).

    This form is a chain of monotone steps (exp, + 1, reciprocal), each rounded
    monotonically, so the computed σ is itself non-decreasing, to the last bit: result 4
    then holds exactly in floating point, not just up to rounding. (The often-used
    e/(1 + e) for x < 0 is not: numerator and denominator round at different places.) exp
    overflows to inf only where σ is below the smallest normal number; σ is then 0.
    """
    with np.errstate(over="ignore", under="ignore"):
        return 1.0 / (1.0 + np.exp(-x)), 1.0 / (1.0 + np.exp(x))


# Above this, log(1 + exp(x)) rounds to x itself (in float64, hence in float32 too).
_SOFTPLUS_LINEAR = 40.0


def _softplus_exact(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(x)), without a threshold, as log1p(exp(x)): monotone steps again (see
    _sigmoid_pair); x itself above 40, where the two agree to the last bit."""
    return np.where(x > _SOFTPLUS_LINEAR, x, np.log1p(np.exp(np.minimum(x, _SOFTPLUS_LINEAR))))


def _sech2(y: np.ndarray) -> np.ndarray:
    """sech²(y) = 1 − tanh²(y) = 4e/(1 + e)², e = exp(−2|y|): no cancellation near |y| large."""
    e = np.exp(-2.0 * np.minimum(np.abs(y), _SECH_CLIP))
    return 4.0 * e / ((1.0 + e) * (1.0 + e))


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """Φ(x) = ½·erfc(−x/√2): as accurate in the left tail as erfc (1 + erf(x/√2) cancels)."""
    return 0.5 * erfc(np.asarray(-x * _SQRT1_2))


# --------------------------------------------------------------------------- identity
@elementwise
def identity(x: np.ndarray) -> np.ndarray:
    """σ(x) = x, elementwise, any shape; returns a copy of x (same shape and dtype)."""
    return _checked(x, "identity").copy()


@elementwise
def identity_grad(x: np.ndarray) -> np.ndarray:
    """σ′(x) = 1, elementwise, any shape, NaN included (as PyTorch: the gradient passes
    through unchanged); x's shape and dtype."""
    x = _checked(x, "identity_grad")
    return np.ones_like(x)


# --------------------------------------------------------------------------- relu
@_threads.op
def relu(x: np.ndarray) -> np.ndarray:
    """σ(x) = max(x, 0), elementwise, any shape; returns x's shape and dtype (−0 stays −0,
    as PyTorch's ``relu``, from NumPy 2.1 on: `_clamp`)."""
    return _clamp(_checked(x, "relu"), 0.0, math.inf)


@elementwise
def relu_grad(x: np.ndarray) -> np.ndarray:
    """σ′(x) = 0 if x <= 0 else 1 (0 at x = 0, as PyTorch's autograd), elementwise, any shape;
    returns x's shape and dtype. At NaN it is 1, as PyTorch, whose backward masks the
    gradient where the output is <= 0 (false for NaN): g·σ′ passes g through there and the
    forward's NaN marks the element."""
    x = _checked(x, "relu_grad")
    return _out(np.where(x <= 0, 0.0, 1.0), x)


#: Elements per block of `_select` (relu's and hardtanh's backward): enough work per block
#: (its six NumPy calls cost about 5 µs each) that the calls' own cost does not show; 2^15
#: took 1.2–1.75 times as long (docs/performance.md, "Fewer, longer passes").
_SELECT_BLOCK = 1 << 18
#: The unsigned integer of a float's width, and the signed one its masks are made in.
_BITS = {4: (np.uint32, np.int32), 8: (np.uint64, np.int64)}


@_threads.op
def relu_backward(grad_output: np.ndarray, x: np.ndarray) -> np.ndarray:
    """∂ℓ/∂x through y = relu(x), given g = ∂ℓ/∂y (x's shape and dtype):

        ∂ℓ/∂x = g where x > 0 or x is NaN,   +0 where x <= 0

    exactly PyTorch's ReLU backward (0 replaces g there, whatever g holds: inf or NaN
    included, where g·σ′(x) would give NaN). Also right with y in place of x, since
    y <= 0 exactly where x <= 0. Returns a new array of x's shape and dtype.

    Computed as a select without branches (`_select`)."""
    zero = _checked(x, "relu_backward").dtype.type(0)

    def kept(xb: np.ndarray, mask: np.ndarray) -> None:
        np.less_equal(xb, zero, out=mask.view(np.bool_))  # False at NaN
        np.add(mask, -1, out=mask)  # dropped 1 → 0, kept 0 → −1

    return _select(grad_output, x, kept, "relu_backward")


@_threads.op
def hardtanh_backward(
    grad_output: np.ndarray, x: np.ndarray, *, min_val: float = -1.0, max_val: float = 1.0
) -> np.ndarray:
    """∂ℓ/∂x through y = hardtanh(x, min_val, max_val), given g = ∂ℓ/∂y (x's shape and dtype):

        ∂ℓ/∂x = g where min_val < x < max_val,   +0 elsewhere (at both kinks and at NaN)

    exactly PyTorch's hardtanh backward, relu6's with (0, 6) (0 replaces g outside, whatever
    g holds, where g·σ′(x) would give NaN for an infinite g). Also right with y in place of
    x: y lies strictly between the bounds exactly where x does. Returns a new array of x's
    shape and dtype; a select without branches (`_select`)."""
    func = "hardtanh_backward"
    dtype = _checked(x, func).dtype
    low, high = (dtype.type(b) for b in _bounds(min_val, max_val, func))

    def kept(xb: np.ndarray, mask: np.ndarray) -> None:
        inside, below = mask.view(np.bool_), _threads.scratch(func, mask.size, np.bool_)
        np.greater(xb, low, out=inside)
        np.less(xb, high, out=below)
        np.logical_and(inside, below, out=inside)  # False at NaN
        np.negative(mask, out=mask)  # kept 1 → −1

    return _select(grad_output, x, kept, func)


def _select(
    grad_output: np.ndarray,
    x: np.ndarray,
    kept: Callable[[np.ndarray, np.ndarray], None],
    func: str,
) -> np.ndarray:
    """g where ``kept(x, mask)`` writes −1 into the int8 mask, +0 where it writes 0, block
    by block on the op's threads (after checking g against x).

    A select without branches: ``np.where`` branches on every element, and with the signs
    of real activations, half one way and half the other at random, it mispredicts every
    other one (about 7 ns an element against 2 here). Per block, the mask widened to
    integers of g's width is 0 or all ones, and ∂ℓ/∂x is the bits of g AND it. (The mask is
    made in int8, on the comparisons' own bytes: a comparison's bools cast straight to the
    wide integers cost more than the comparison.)"""
    x = _checked(x, func)
    g = check_float_array("grad_output", grad_output, func=func)
    check_same_dtype(func, grad_output=g, x=x)
    if g.shape != x.shape:
        raise ValueError(f"{func}: grad_output: expected the shape of x {x.shape}, got {g.shape}")
    unsigned, signed = _BITS[g.itemsize]
    out = np.empty(g.shape, dtype=g.dtype)
    g_bits = np.ascontiguousarray(g).reshape(-1).view(unsigned)
    x_flat = np.ascontiguousarray(x).reshape(-1)
    out_bits = out.reshape(-1).view(unsigned)

    def body(i0: int, i1: int) -> None:
        n = i1 - i0
        small = _threads.scratch(f"{func} mask", n, np.int8)
        wide = _threads.scratch(f"{func} wide mask", n, signed)
        kept(x_flat[i0:i1], small)
        np.copyto(wide, small)  # −1 stays all ones
        np.bitwise_and(g_bits[i0:i1], wide.view(unsigned), out=out_bits[i0:i1])

    _threads.parallel(body, _threads.spans(x_flat.size, _SELECT_BLOCK))
    return out


# --------------------------------------------------------------------------- leaky_relu
@elementwise
def leaky_relu(x: np.ndarray, *, negative_slope: float = 0.01) -> np.ndarray:
    """σ(x) = x if x > 0 else negative_slope·x, elementwise, any shape; x's shape and dtype.

    ``negative_slope`` defaults to PyTorch's 0.01; the registry entry uses that default.
    """
    x = _checked(x, "leaky_relu")
    slope = _real("negative_slope", negative_slope, "leaky_relu")
    with _quiet():  # slope·x of a tiny x
        return _out(np.where(x > 0, x, slope * x), x)


@elementwise
def leaky_relu_grad(x: np.ndarray, *, negative_slope: float = 0.01) -> np.ndarray:
    """σ′(x) = 1 if x > 0 else negative_slope (negative_slope at x = 0, as PyTorch),
    elementwise, any shape; returns x's shape and dtype; negative_slope at NaN, as PyTorch
    (x > 0 is false there)."""
    x = _checked(x, "leaky_relu_grad")
    slope = _real("negative_slope", negative_slope, "leaky_relu_grad")
    return _out(np.where(x > 0, 1.0, slope), x)


# --------------------------------------------------------------------------- sigmoid
@elementwise
def sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1/(1 + exp(−x)), elementwise, any shape; returns x's shape and dtype.

    Evaluated as written (in float64), which keeps relative accuracy in both tails and
    makes the computed σ non-decreasing to the last bit, so result 4 holds exactly in
    floating point; it is 0 below x ≈ −709.78, where exp(−x) overflows and σ(x) < 6e-309.
    """
    x64 = _wide(x, "sigmoid")
    with _quiet():
        return _out(_sigmoid_pair(x64)[0], x)


@elementwise
def sigmoid_grad(x: np.ndarray) -> np.ndarray:
    """σ′(x) = σ(x)·(1 − σ(x)) = σ(x)·σ(−x), elementwise, any shape; returns x's shape and
    dtype (accurate in both tails, where 1 − σ(x) would cancel)."""
    x64 = _wide(x, "sigmoid_grad")
    with _quiet():
        s, s_neg = _sigmoid_pair(x64)
        return _out(s * s_neg, x)


# --------------------------------------------------------------------------- tanh
@elementwise
def tanh(x: np.ndarray) -> np.ndarray:
    """σ(x) = tanh(x) = (eˣ − e⁻ˣ)/(eˣ + e⁻ˣ), elementwise, any shape; x's shape and dtype."""
    x64 = _wide(x, "tanh")
    return _out(np.tanh(x64), x)


@elementwise
def tanh_grad(x: np.ndarray) -> np.ndarray:
    """σ′(x) = 1 − tanh²(x) = sech²(x), elementwise, any shape; returns x's shape and dtype.

    Computed as 4e/(1 + e)² with e = exp(−2|x|), accurate where 1 − tanh² would cancel.
    """
    x64 = _wide(x, "tanh_grad")
    with _quiet():
        return _out(_sech2(x64), x)


# --------------------------------------------------------------------------- softplus
@elementwise
def softplus(x: np.ndarray, *, beta: float = 1.0, threshold: float = 20.0) -> np.ndarray:
    """σ(x) = log(1 + exp(β·x))/β, and x itself where β·x > threshold (PyTorch's rule),
    elementwise, any shape; returns x's shape and dtype.

    Below the threshold it is evaluated as log1p(exp(βx))/β, which is non-decreasing to the
    last bit (βx above 40 is returned as it is: no overflow). Defaults β = 1, threshold = 20
    as in PyTorch. The switch at the threshold drops the value by log1p(exp(−20)) ≈ 2.1e-9
    (at β = 1): PyTorch's softplus, which this matches, is non-decreasing only up to that
    jump (see ``Activation.non_decreasing``); in float32 the jump rounds away.
    """
    x64 = _wide(x, "softplus")
    b = _real("beta", beta, "softplus", positive=True)
    t = _real("threshold", threshold, "softplus")
    with np.errstate(under="ignore", over="ignore"):  # β·x = ±inf only where x is returned
        bx = b * x64
        return _out(np.where(bx > t, x64, _softplus_exact(bx) / b), x)


@elementwise
def softplus_grad(x: np.ndarray, *, beta: float = 1.0, threshold: float = 20.0) -> np.ndarray:
    """σ′(x) = sigmoid(β·x), and 1 where β·x > threshold (as PyTorch), elementwise, any
    shape; returns x's shape and dtype."""
    x64 = _wide(x, "softplus_grad")
    b = _real("beta", beta, "softplus_grad", positive=True)
    t = _real("threshold", threshold, "softplus_grad")
    with np.errstate(under="ignore", over="ignore"):
        bx = b * x64
        return _out(np.where(bx > t, 1.0, _sigmoid_pair(bx)[0]), x)


# --------------------------------------------------------------------------- elu
@elementwise
def elu(x: np.ndarray, *, alpha: float = 1.0) -> np.ndarray:
    """σ(x) = x if x > 0 else α·(exp(x) − 1), with expm1 for accuracy near 0; α = 1 as
    PyTorch. Elementwise, any shape; returns x's shape and dtype."""
    x64 = _wide(x, "elu")
    a = _real("alpha", alpha, "elu")
    with _quiet():
        return _out(np.where(x64 > 0, x64, a * np.expm1(np.minimum(x64, 0))), x)


@elementwise
def elu_grad(x: np.ndarray, *, alpha: float = 1.0) -> np.ndarray:
    """σ′(x) = 1 if x > 0 else α·exp(x) (α at x = 0, as PyTorch), elementwise, any shape;
    returns x's shape and dtype."""
    x64 = _wide(x, "elu_grad")
    a = _real("alpha", alpha, "elu_grad")
    with _quiet():
        return _out(np.where(x64 > 0, 1.0, a * np.exp(np.minimum(x64, 0))), x)


# --------------------------------------------------------------------------- gelu
def _approximate(approximate: object, func: str) -> str:
    if approximate not in ("none", "tanh") or not isinstance(approximate, str):
        raise ValueError(f"{func}: approximate: expected 'none' or 'tanh', got {approximate!r}")
    return approximate


@elementwise
def gelu(x: np.ndarray, *, approximate: str = "none") -> np.ndarray:
    """σ(x) = x·Φ(x) = ½·x·(1 + erf(x/√2)), the exact GELU (PyTorch's default
    ``approximate="none"``), elementwise, any shape; returns x's shape and dtype.
    ``approximate="tanh"`` gives :func:`gelu_tanh` instead.

    Φ is the standard normal distribution function, computed as ½·erfc(−x/√2) with
    :func:`cnnmath.ops.erf.erfc`. Not monotone: it dips to about −0.170 at x ≈ −0.7518.
    Relative accuracy, value by value, is 1e-15 near 0 and falls to ~1e-13 deep in the left
    tail (x ≈ −25, σ ≈ 1e-130): erfc(y) ≈ exp(−y²) magnifies the rounding of y = −x/√2.
    At −∞ it returns the limit 0, and its derivative the limits 0 at −∞ and 1 at +∞, where
    PyTorch gives NaN (−∞·0).
    """
    if _approximate(approximate, "gelu") == "tanh":
        return gelu_tanh(x)
    x64 = _wide(x, "gelu")
    with _quiet():
        xc = np.maximum(x64, -_GAUSS_CLIP)  # x·Φ(x) is 0 to double precision below −38.5
        return _out(xc * _normal_cdf(xc), x)


@elementwise
def gelu_grad(x: np.ndarray, *, approximate: str = "none") -> np.ndarray:
    """σ′(x) = Φ(x) + x·φ(x), φ(x) = exp(−x²/2)/√(2π) the standard normal density,
    elementwise, any shape; returns x's shape and dtype. Zero at x ≈ −0.7518.
    ``approximate="tanh"`` gives :func:`gelu_tanh_grad`."""
    if _approximate(approximate, "gelu_grad") == "tanh":
        return gelu_tanh_grad(x)
    x64 = _wide(x, "gelu_grad")
    with _quiet():
        xc = np.clip(x64, -_GAUSS_CLIP, _GAUSS_CLIP)
        return _out(_normal_cdf(x64) + xc * (np.exp(-0.5 * xc * xc) * _INV_SQRT_2PI), x)


# --------------------------------------------------------------------------- silu
@elementwise
def silu(x: np.ndarray) -> np.ndarray:
    """σ(x) = x·sigmoid(x) (SiLU, also called swish), elementwise, any shape; returns x's
    shape and dtype. Not monotone: it dips to about −0.278 at x ≈ −1.2785. At −∞ it returns
    the limit 0, and its derivative the limits 0 at −∞ and 1 at +∞, where PyTorch gives NaN
    (−∞·0)."""
    x64 = _wide(x, "silu")
    with _quiet():
        xc = np.maximum(x64, -_EXP_CLIP)
        return _out(xc * _sigmoid_pair(xc)[0], x)


@elementwise
def silu_grad(x: np.ndarray) -> np.ndarray:
    """σ′(x) = s·(1 + x·(1 − s)), s = sigmoid(x), elementwise, any shape; returns x's shape
    and dtype. Zero at x ≈ −1.2785."""
    x64 = _wide(x, "silu_grad")
    with _quiet():
        xc = np.clip(x64, -_EXP_CLIP, _EXP_CLIP)
        s, one_minus_s = _sigmoid_pair(xc)
        return _out(s * (1.0 + xc * one_minus_s), x)


# --------------------------------------------------------------------------- mish
@elementwise
def mish(x: np.ndarray) -> np.ndarray:
    """σ(x) = x·tanh(softplus(x)) = x·tanh(log(1 + eˣ)) (softplus without threshold, as in
    PyTorch's mish), elementwise, any shape; returns x's shape and dtype. Not monotone: it
    dips to about −0.309 at x ≈ −1.1924. At −∞ it returns the limit 0, and its derivative
    the limits 0 at −∞ and 1 at +∞, where PyTorch gives NaN (−∞·0)."""
    x64 = _wide(x, "mish")
    with _quiet():
        xc = np.maximum(x64, -_EXP_CLIP)
        return _out(xc * np.tanh(_softplus_exact(xc)), x)


@elementwise
def mish_grad(x: np.ndarray) -> np.ndarray:
    """σ′(x) = tanh(sp) + x·sech²(sp)·sigmoid(x), sp = softplus(x), elementwise, any shape;
    returns x's shape and dtype. Zero at x ≈ −1.1924."""
    x64 = _wide(x, "mish_grad")
    with _quiet():
        xc = np.clip(x64, -_EXP_CLIP, _EXP_CLIP)
        sp = _softplus_exact(xc)
        return _out(np.tanh(sp) + xc * _sech2(sp) * _sigmoid_pair(xc)[0], x)


# --------------------------------------------------------------------------- gelu, tanh form
_GELU_TANH_K = math.sqrt(2.0 / math.pi)
_GELU_TANH_C = 0.044715


@elementwise
def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """σ(x) = ½·x·(1 + tanh(y)), y = √(2/π)·(x + 0.044715·x³): GELU's tanh approximation
    (``torch.nn.functional.gelu(x, approximate="tanh")``), elementwise, any shape; returns x's
    shape and dtype.

    Evaluated as x·sigmoid(2y), the same number (1 + tanh y = 2·sigmoid(2y)) without the
    cancellation of 1 + tanh(y) in the left tail. Not monotone: it dips to about −0.170 at
    x ≈ −0.7525. At −∞ it returns the limit 0 and its derivative the limit 0 (1 at +∞), where
    PyTorch's formula gives NaN (−∞·0).
    """
    x64 = _wide(x, "gelu_tanh")
    with _quiet():
        # Beyond ±40, sigmoid(2y) is 0 or 1 to the last bit: clipping keeps y finite.
        xc = np.clip(x64, -_GAUSS_CLIP, _GAUSS_CLIP)
        y = _GELU_TANH_K * (xc + _GELU_TANH_C * xc**3)
        return _out(np.maximum(x64, -_GAUSS_CLIP) * _sigmoid_pair(2.0 * y)[0], x)


@elementwise
def gelu_tanh_grad(x: np.ndarray) -> np.ndarray:
    """σ′(x) = s + 2·x·s·(1 − s)·√(2/π)·(1 + 3·0.044715·x²), s = sigmoid(2y), y as in
    :func:`gelu_tanh` (the derivative of x·sigmoid(2y)), elementwise, any shape; returns x's
    shape and dtype. Zero at x ≈ −0.7525."""
    x64 = _wide(x, "gelu_tanh_grad")
    with _quiet():
        xc = np.clip(x64, -_GAUSS_CLIP, _GAUSS_CLIP)
        y = _GELU_TANH_K * (xc + _GELU_TANH_C * xc**3)
        s, one_minus_s = _sigmoid_pair(2.0 * y)
        dy = _GELU_TANH_K * (1.0 + 3.0 * _GELU_TANH_C * xc * xc)
        return _out(s + 2.0 * xc * s * one_minus_s * dy, x)


# --------------------------------------------------------------------------- hardtanh, relu6
def _bounds(min_val: object, max_val: object, func: str) -> tuple[float, float]:
    low = _real("min_val", min_val, func)
    high = _real("max_val", max_val, func)
    if low > high:
        raise ValueError(
            f"{func}: min_val: expected min_val <= max_val, got min_val={min_val!r} > "
            f"max_val={max_val!r}"
        )
    return low, high


@_threads.op
def hardtanh(x: np.ndarray, *, min_val: float = -1.0, max_val: float = 1.0) -> np.ndarray:
    """σ(x) = min(max(x, min_val), max_val), elementwise, any shape; x's shape and dtype.
    Defaults −1, 1 as PyTorch; NaN stays NaN, −0 inside the bounds stays −0 (at a min_val
    of 0 from NumPy 2.1 on: `_clamp`)."""
    x = _checked(x, "hardtanh")
    return _clamp(x, *_bounds(min_val, max_val, "hardtanh"))


@elementwise
def hardtanh_grad(x: np.ndarray, *, min_val: float = -1.0, max_val: float = 1.0) -> np.ndarray:
    """σ′(x) = 1 if min_val < x < max_val else 0 (0 at both kinks and at NaN, as PyTorch's
    vectorised backward), elementwise, any shape; returns x's shape and dtype."""
    x = _checked(x, "hardtanh_grad")
    low, high = _bounds(min_val, max_val, "hardtanh_grad")
    return _out((x > low) & (x < high), x)


@_threads.op
def relu6(x: np.ndarray) -> np.ndarray:
    """σ(x) = min(max(x, 0), 6) = hardtanh(x, 0, 6), elementwise, any shape; x's shape and
    dtype (MobileNet's activation; −0 stays −0, as PyTorch's, from NumPy 2.1 on)."""
    return _clamp(_checked(x, "relu6"), 0.0, 6.0)


@elementwise
def relu6_grad(x: np.ndarray) -> np.ndarray:
    """σ′(x) = 1 if 0 < x < 6 else 0 (0 at both kinks and at NaN, as PyTorch's vectorised
    backward), elementwise, any shape; returns x's shape and dtype."""
    x = _checked(x, "relu6_grad")
    return _out((x > 0) & (x < 6), x)


# --------------------------------------------------------------------------- hard sigmoid/swish
def _relu6_shifted(x: np.ndarray) -> np.ndarray:
    """min(max(x + 3, 0), 6): monotone steps, each rounded monotonically."""
    return np.minimum(np.maximum(x + 3.0, 0.0), 6.0)


@elementwise
def hardsigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = min(max(x + 3, 0), 6)/6: 0 below −3, 1 above 3, x/6 + ½ between; elementwise,
    any shape; returns x's shape and dtype (evaluated in that order, as PyTorch)."""
    x64 = _wide(x, "hardsigmoid")
    return _out(_relu6_shifted(x64) / 6.0, x)


@elementwise
def hardsigmoid_grad(x: np.ndarray) -> np.ndarray:
    """σ′(x) = 1/6 if −3 < x < 3 else 0 (0 at both kinks and at NaN, as PyTorch),
    elementwise, any shape; returns x's shape and dtype."""
    x64 = _wide(x, "hardsigmoid_grad")
    return _out(np.where((x64 > -3.0) & (x64 < 3.0), 1.0 / 6.0, 0.0), x)


HARDSWISH_MINIMUM_AT = -1.5


@elementwise
def hardswish(x: np.ndarray) -> np.ndarray:
    """σ(x) = x·min(max(x + 3, 0), 6)/6 = x·hardsigmoid(x): 0 below −3, x above 3, x(x + 3)/6
    between; elementwise, any shape; returns x's shape and dtype. Not monotone: it dips to
    −0.375 at x = −1.5. At −∞ it is 0, as everywhere below −3, where PyTorch's formula
    gives NaN (−∞·0)."""
    x64 = _wide(x, "hardswish")
    xc = np.clip(x64, -3.0, 3.0)  # x itself above 3, 0 below −3: no x·6 to overflow
    with _quiet():
        between = xc * _relu6_shifted(xc) / 6.0
    return _out(np.where(x64 >= 3.0, x64, np.where(x64 <= -3.0, 0.0, between)), x)


@elementwise
def hardswish_grad(x: np.ndarray) -> np.ndarray:
    """σ′(x) = 0 if x <= −3, 1 if x >= 3, else x/3 + ½ (so 0 at −3 and 1 at 3, and NaN at
    NaN, as PyTorch's vectorised backward), elementwise, any shape; x's shape and dtype."""
    x64 = _wide(x, "hardswish_grad")
    with _quiet(), np.errstate(invalid="ignore"):
        between = x64 / 3.0 + 0.5
    return _out(np.where(x64 <= -3.0, 0.0, np.where(x64 >= 3.0, 1.0, between)), x)


# --------------------------------------------------------------------------- selu, celu
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@elementwise
def selu(x: np.ndarray) -> np.ndarray:
    """σ(x) = λ·x if x > 0 else λ·α·(exp(x) − 1), with PyTorch's constants α ≈ 1.67326 and
    λ ≈ 1.05070 (``SELU_ALPHA``, ``SELU_SCALE``); elementwise, any shape; x's shape and dtype."""
    x64 = _wide(x, "selu")
    with _quiet():
        negative = (SELU_SCALE * SELU_ALPHA) * np.expm1(np.minimum(x64, 0))
        return _out(np.where(x64 > 0, SELU_SCALE * x64, negative), x)


@elementwise
def selu_grad(x: np.ndarray) -> np.ndarray:
    """σ′(x) = λ if x > 0 else λ·α·exp(x) (λα at x = 0, as PyTorch), elementwise, any shape;
    returns x's shape and dtype."""
    x64 = _wide(x, "selu_grad")
    with _quiet():
        negative = (SELU_SCALE * SELU_ALPHA) * np.exp(np.minimum(x64, 0))
        return _out(np.where(x64 > 0, SELU_SCALE, negative), x)


def _alpha_nonzero(alpha: object, func: str) -> float:
    a = _real("alpha", alpha, func)
    if a == 0:
        raise ValueError(f"{func}: alpha: expected a finite number != 0, got {alpha!r}")
    return a


@elementwise
def celu(x: np.ndarray, *, alpha: float = 1.0) -> np.ndarray:
    """σ(x) = x if x > 0 else α·(exp(x/α) − 1) (continuously differentiable ELU), α = 1 as
    PyTorch (α ≠ 0); elementwise, any shape; returns x's shape and dtype."""
    x64 = _wide(x, "celu")
    a = _alpha_nonzero(alpha, "celu")
    with _quiet():
        return _out(np.where(x64 > 0, x64, a * np.expm1(np.minimum(x64, 0) / a)), x)


@elementwise
def celu_grad(x: np.ndarray, *, alpha: float = 1.0) -> np.ndarray:
    """σ′(x) = 1 if x > 0 else exp(x/α) (1 at x = 0), elementwise, any shape; returns x's
    shape and dtype."""
    x64 = _wide(x, "celu_grad")
    a = _alpha_nonzero(alpha, "celu_grad")
    with _quiet():
        return _out(np.where(x64 > 0, 1.0, np.exp(np.minimum(x64, 0) / a)), x)


# --------------------------------------------------------------------------- softsign
_SPLIT = 134217729.0  # 2^27 + 1: Dekker's splitting constant for float64
_SOFTSIGN_LARGE = 2.0**26


def _softsign_magnitude(a: np.ndarray) -> np.ndarray:
    """a/(1 + a) for a >= 0, correctly rounded but for a near-tie, so that it is
    non-decreasing to the last bit (the plain quotient is not: 1 + a rounds at another place
    than a, and the quotient then drops by an ulp now and then).

    Below 2^26: q = a/d, d = fl(1 + a), corrected by the exact residual a − q·(1 + a) (d's
    rounding error e from TwoSum, q·d as an exact sum hi + lo by Dekker's product). From 2^26
    up: 1 − 1/(1 + a), a chain of monotone steps whose rounding error is far below half an
    ulp of the result.
    """
    small = np.minimum(a, _SOFTSIGN_LARGE)
    d = 1.0 + small
    e = (1.0 - (d - (d - 1.0))) + (small - (d - 1.0))  # TwoSum: 1 + small = d + e exactly
    q = small / d
    q_hi, q_lo = _split(q)
    d_hi, d_lo = _split(d)
    p = q * d
    p_err = ((q_hi * d_hi - p) + q_hi * d_lo + q_lo * d_hi) + q_lo * d_lo  # q·d = p + p_err
    residual = ((small - p) - p_err) - q * e
    corrected = q + residual / d
    with np.errstate(over="ignore"):
        large = 1.0 - 1.0 / (1.0 + a)
    return np.where(a < _SOFTSIGN_LARGE, corrected, large)


def _split(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """v = hi + lo exactly, each half with at most 26 significant bits (Dekker)."""
    c = _SPLIT * v
    hi = c - (c - v)
    return hi, v - hi


@elementwise
def softsign(x: np.ndarray) -> np.ndarray:
    """σ(x) = x/(1 + |x|), elementwise, any shape; returns x's shape and dtype.

    Computed as sign(x)·|x|/(1 + |x|) correctly rounded (see ``_softsign_magnitude``), so it
    is non-decreasing to the last bit. At ±∞ it returns the limits ±1 (derivative 0), where
    PyTorch's x/(1 + |x|) gives ∞/∞ = NaN.
    """
    x64 = _wide(x, "softsign")
    with _quiet(), np.errstate(invalid="ignore"):  # NaN passes through quietly
        return _out(np.copysign(_softsign_magnitude(np.abs(x64)), x64), x)


@elementwise
def softsign_grad(x: np.ndarray) -> np.ndarray:
    """σ′(x) = 1/(1 + |x|)², elementwise, any shape; returns x's shape and dtype (0 at ±∞,
    the limit; PyTorch's autograd gives NaN there)."""
    x64 = _wide(x, "softsign_grad")
    with _quiet():
        r = 1.0 / (1.0 + np.abs(x64))
        return _out(r * r, x)


# --------------------------------------------------------------------------- logsigmoid
@elementwise
def logsigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = log(sigmoid(x)) = −log(1 + exp(−x)) = −softplus(−x), elementwise, any shape;
    returns x's shape and dtype. Evaluated as −log1p(exp(−x)) (x itself below −40), accurate
    in both tails and non-decreasing to the last bit; −∞ at −∞."""
    x64 = _wide(x, "logsigmoid")
    with _quiet():
        return _out(-_softplus_exact(-x64), x)


@elementwise
def logsigmoid_grad(x: np.ndarray) -> np.ndarray:
    """σ′(x) = 1 − sigmoid(x) = sigmoid(−x), elementwise, any shape; x's shape and dtype."""
    x64 = _wide(x, "logsigmoid_grad")
    with _quiet():
        return _out(_sigmoid_pair(x64)[1], x)


# --------------------------------------------------------------------------- shrinks
def _shrink_args(x: object, lambd: object, func: str) -> tuple[np.ndarray, float]:
    x = _checked(x, func)
    lam = _real("lambd", lambd, func)
    if lam < 0:
        raise ValueError(f"{func}: lambd: expected a number >= 0, got {lambd!r}")
    return x, lam


def _outside(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Where x is not in [low, high] — NaN included, as PyTorch's backward tests
    ``low <= x <= high`` to zero the gradient."""
    return ~((x >= low) & (x <= high))


@elementwise
def hardshrink(x: np.ndarray, *, lambd: float = 0.5) -> np.ndarray:
    """σ(x) = x where |x| > λ, else 0 (``torch.nn.functional.hardshrink``), λ >= 0."""
    x, lam = _shrink_args(x, lambd, "hardshrink")
    return _out(np.where(_outside(x, -lam, lam), x, 0), x)


@elementwise
def softshrink(x: np.ndarray, *, lambd: float = 0.5) -> np.ndarray:
    """σ(x) = x − λ for x > λ, x + λ for x < −λ, else 0 (``torch.nn.functional.softshrink``,
    soft thresholding), λ >= 0."""
    x, lam = _shrink_args(x, lambd, "softshrink")
    with np.errstate(under="ignore", invalid="ignore"):  # 0·x: 0 inside (−0 below 0), NaN kept
        return _out(np.where(x > lam, x - lam, np.where(x < -lam, x + lam, 0 * x)), x)


@elementwise
def shrink_grad(x: np.ndarray, *, lambd: float = 0.5) -> np.ndarray:
    """σ′ of both shrinks: 1 where |x| > λ, 0 inside [−λ, λ] (the kinks too) and at NaN —
    the rule of PyTorch's vectorised backward, which every element of a long array meets."""
    x, lam = _shrink_args(x, lambd, "shrink_grad")
    return _out((np.abs(x) > lam).astype(np.float64), x)


@elementwise
def tanhshrink(x: np.ndarray) -> np.ndarray:
    """σ(x) = x − tanh(x) (``torch.nn.functional.tanhshrink``)."""
    x64 = _wide(x, "tanhshrink")
    return _out(x64 - np.tanh(x64), x)


@elementwise
def tanhshrink_grad(x: np.ndarray) -> np.ndarray:
    """σ′(x) = 1 − (1 − tanh²x) = tanh²x."""
    x64 = _wide(x, "tanhshrink_grad")
    return _out(np.tanh(x64) ** 2, x)


@elementwise
def threshold(x: np.ndarray, *, threshold: float, value: float) -> np.ndarray:
    """σ(x) = x where x > threshold, else ``value`` (``torch.nn.functional.threshold``; a NaN
    stays NaN, as PyTorch tests x <= threshold)."""
    x = _checked(x, "threshold")
    th, v = _real("threshold", threshold, "threshold"), _real("value", value, "threshold")
    return _out(np.where(x <= th, v, x), x)


@elementwise
def threshold_grad(x: np.ndarray, *, threshold: float, value: float) -> np.ndarray:
    """σ′(x) = 0 where x <= threshold, else 1 (1 at NaN, as PyTorch's backward)."""
    x = _checked(x, "threshold_grad")
    th = _real("threshold", threshold, "threshold_grad")
    _real("value", value, "threshold_grad")
    return _out(np.where(x <= th, 0.0, 1.0), x)


def _halves(x: object, dim: object, func: str) -> tuple[np.ndarray, np.ndarray, int]:
    x = _checked(x, func)
    if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{func}: dim: expected an int, got {dim!r}")
    if not -x.ndim <= dim < x.ndim:
        raise ValueError(f"{func}: dim: expected an axis of x (shape {x.shape}), got {dim}")
    axis = int(dim) % x.ndim
    if x.shape[axis] % 2:
        raise ValueError(
            f"{func}: x: expected an even size along dim {dim} (two halves), got shape {x.shape}"
        )
    a, b = np.split(x, 2, axis=axis)
    return a, b, axis


def glu(x: np.ndarray, dim: int = -1) -> np.ndarray:
    """The gated linear unit (``torch.nn.functional.glu``): x split in halves a, b along
    ``dim``, y = a ⊙ sigmoid(b); y has half x's size along ``dim``."""
    a, b, _ = _halves(x, dim, "glu")
    with np.errstate(under="ignore", invalid="ignore"):  # ∞·0 is NaN, as in PyTorch
        return _out(a * sigmoid(b), a)


def glu_backward(grad_output: np.ndarray, x: np.ndarray, dim: int = -1) -> np.ndarray:
    """∂ℓ/∂x of y = glu(x, dim): ∂ℓ/∂a = G ⊙ σ(b), ∂ℓ/∂b = G ⊙ a ⊙ σ(b)(1 − σ(b)),
    concatenated back along ``dim``."""
    a, b, axis = _halves(x, dim, "glu_backward")
    g = _checked(grad_output, "glu_backward")
    if g.shape != a.shape:
        raise ValueError(
            f"glu_backward: grad_output: expected the output's shape {a.shape}, got {g.shape}"
        )
    s = sigmoid(b)
    with np.errstate(under="ignore", invalid="ignore"):
        return _out(np.concatenate([g * s, g * a * s * (1 - s)], axis=axis), x)


# --------------------------------------------------------------------------- prelu
def _prelu_args(x: object, weight: object, func: str) -> tuple[np.ndarray, np.ndarray]:
    """x and weight checked; weight reshaped to broadcast along x's channel axis 1."""
    x = _checked(x, func)
    w = check_float_array("weight", weight, func=func)
    check_same_dtype(func, x=x, weight=w)
    channels = x.shape[1] if x.ndim >= 2 else 1
    if w.ndim != 1 or w.size not in (1, channels):
        wanted = "(1,)" if channels == 1 else f"(1,) or ({channels},), one slope per channel"
        raise ValueError(
            f"{func}: weight: expected shape {wanted} for x of shape {x.shape} (channels on "
            f"axis 1), got {w.shape}"
        )
    if w.size > 1:
        w = w.reshape((channels,) + (1,) * (x.ndim - 2))
    return x, w


def _planes(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x as (planes, L) — the (n, c) planes of an (N, C, *) x for one slope per channel,
    else single values — and each plane's slope, (planes, 1) in x's dtype."""
    if w.size == 1:
        return x.reshape(-1, 1), np.broadcast_to(w.reshape(1, 1), (x.size, 1))
    planes = math.prod(x.shape[:2])
    x2 = x.reshape(planes, -1) if x.size else x.reshape(planes, 0)
    per_plane = np.broadcast_to(w.reshape(1, -1), (planes // w.size, w.size)).reshape(-1, 1)
    return x2, per_plane


def _plane_spans(x2: np.ndarray) -> list[_threads.Span]:
    """Blocks of planes of about _BLOCK elements (the cut depends on the shape only)."""
    return _threads.spans(x2.shape[0], max(1, _BLOCK // max(1, x2.shape[1])))


@_threads.op
def prelu(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """σ(x) = x if x > 0 else a_c·x, with a learnable slope a_c per channel c, as
    ``torch.nn.functional.prelu(x, weight)``.

    x: float32 or float64, any shape, channels on axis 1 (an input of fewer than 2 axes has
    one channel); weight: (C,) one slope per channel, or (1,) shared. Same dtype. Returns x's
    shape and dtype.

    PReLU is not in ``ACTIVATIONS``: a registry entry is σ of x alone, and this σ has a
    parameter with its own gradient (see :func:`prelu_backward`), like a layer's.
    """
    x, w = _prelu_args(x, weight, "prelu")
    x3, slopes = _planes(x, w)
    y = np.empty(x3.shape, dtype=x.dtype)

    def body(p0: int, p1: int) -> None:
        with _quiet():
            v = x3[p0:p1]
            y[p0:p1] = np.where(v > 0, v, slopes[p0:p1] * v)

    _threads.parallel(body, _plane_spans(x3))
    return y.reshape(x.shape)


@_threads.op
def prelu_backward(
    grad_output: np.ndarray, x: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(∂ℓ/∂x, ∂ℓ/∂weight) of y = prelu(x, weight), g = grad_output (the shape of x):

        ∂ℓ/∂x = g if x > 0 else a_c·g,      ∂ℓ/∂a_c = Σ_{x ≤ 0, channel c} g·x

    (the sum over every axis but the channel one; over all elements for a (1,) weight).
    At x = 0 the slope side is taken (∂ℓ/∂x = a_c·g), as PyTorch. Returns arrays of x's and
    weight's shapes and dtype.
    """
    func = "prelu_backward"
    x, w = _prelu_args(x, weight, func)
    g = check_float_array("grad_output", grad_output, func=func)
    check_same_dtype(func, grad_output=g, x=x)
    if g.shape != x.shape:
        raise ValueError(f"{func}: grad_output: expected the shape of x {x.shape}, got {g.shape}")
    x3, slopes = _planes(x, w)
    g3 = g.reshape(x3.shape)
    grad_x = np.empty(x3.shape, dtype=x.dtype)
    blocks = _plane_spans(x3)
    index = {span: k for k, span in enumerate(blocks)}
    # Σ g·x over x ≤ 0, float64: per plane (one slope per channel) or per block (one slope)
    sums = np.zeros(len(blocks) if w.size == 1 else x3.shape[0])

    def body(p0: int, p1: int) -> None:
        with _quiet(), np.errstate(invalid="ignore", over="ignore"):
            v, gv = x3[p0:p1], g3[p0:p1]
            positive = v > 0
            grad_x[p0:p1] = np.where(positive, gv, slopes[p0:p1] * gv)
            terms = np.where(positive, 0.0, gv.astype(np.float64) * v)
            if w.size == 1:
                sums[index[p0, p1]] = np.sum(terms)
            else:
                np.sum(terms, axis=1, out=sums[p0:p1])

    _threads.parallel(body, blocks)
    with np.errstate(invalid="ignore", over="ignore"):  # blocks, then planes, in order
        grad_w = sums.reshape(-1, w.size).sum(axis=0)
    return grad_x.reshape(x.shape), _out(grad_w, x)


# --------------------------------------------------------------------------- step
@elementwise
def step(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1 if x > 0 else 0 (Heaviside, 0 at 0), elementwise, any shape; returns x's
    shape and dtype. 0 at NaN, as ``torch.heaviside(x, 0)`` (x > 0 is false there)."""
    x = _checked(x, "step")
    return _out(x > 0, x)


@elementwise
def step_grad(x: np.ndarray) -> np.ndarray:
    """σ′(x) = 0 wherever it exists (everywhere but x = 0, where 0 is returned too, and NaN),
    as PyTorch's zero gradient for thresholds; elementwise, any shape; x's shape and dtype.
    Useless for training: the registry marks step not differentiable."""
    x = _checked(x, "step_grad")
    return np.zeros_like(x)


# --------------------------------------------------------------------------- registry
@dataclass(frozen=True, repr=False)
class Activation:
    """One activation σ: value ``f(x)``, derivative ``df(x)`` (both elementwise, any shape,
    dtype preserved), and the facts about it that the results of SPEC.md use.

    Attributes
    ----------
    name : registry key, as in ``torch.nn.functional`` (``"relu"``, ``"gelu"``, ...).
    f, df : σ and σ′ as functions of the input x.
    non_decreasing : whether σ keeps order (x ≤ y ⇒ σ(x) ≤ σ(y)), the hypothesis of result 4
        (max pooling commutes with σ). Refers to the mathematical σ: PyTorch's thresholded
        softplus, which ``softplus`` matches, drops by 2.1e-9 just above x = 20.
    formula : a one-line ASCII formula, for printing.
    minimum_at : for a σ that is not non-decreasing, the location of its dip (the root of
        σ′ below zero); None otherwise.
    differentiable : False when σ′ is zero almost everywhere and useless for gradients
        (``step``); gradient checks skip these.
    params : the keyword parameters ``f`` and ``df`` accept, with their defaults
        (softplus: ``{"beta": 1.0, "threshold": 20.0}``, gelu: ``{"approximate": "none"}``);
        empty for a parameter-free σ. A registry entry is always σ with these defaults;
        GELU's tanh form has its own entry, ``"gelu_tanh"``.

    Calling the record applies σ: ``ACTIVATIONS["relu"](x)`` is ``relu(x)``.
    """

    name: str
    f: Callable[[np.ndarray], np.ndarray]
    df: Callable[[np.ndarray], np.ndarray]
    non_decreasing: bool
    formula: str
    minimum_at: float | None = None
    differentiable: bool = True
    params: Mapping[str, float | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = "Activation"
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"{where}: name: expected a non-empty str, got {self.name!r}")
        for field_name in ("f", "df"):
            if not callable(getattr(self, field_name)):
                raise TypeError(
                    f"{where}: {field_name}: expected a callable, got {getattr(self, field_name)!r}"
                )
        for field_name in ("non_decreasing", "differentiable"):
            if not isinstance(getattr(self, field_name), bool):
                raise TypeError(
                    f"{where}: {field_name}: expected a bool, got {getattr(self, field_name)!r}"
                )
        if not isinstance(self.formula, str):
            raise TypeError(f"{where}: formula: expected a str, got {self.formula!r}")
        if self.minimum_at is not None:
            _real("minimum_at", self.minimum_at, where)
            if self.non_decreasing:
                raise ValueError(
                    f"{where}: minimum_at: a non-decreasing activation has no dip, "
                    f"got minimum_at={self.minimum_at!r} with non_decreasing=True"
                )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.f(x)

    def __repr__(self) -> str:
        order = "non-decreasing" if self.non_decreasing else f"dips at x = {self.minimum_at}"
        extra = ", not differentiable" if not self.differentiable else ""
        return f"Activation({self.name!r}: {self.formula}; {order}{extra})"


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("identity", identity, identity_grad, True, "x"),
        Activation("relu", relu, relu_grad, True, "max(x, 0)"),
        Activation(
            "leaky_relu",
            leaky_relu,
            leaky_relu_grad,
            True,
            "x if x > 0 else 0.01*x",
            params={"negative_slope": 0.01},
        ),
        Activation("sigmoid", sigmoid, sigmoid_grad, True, "1 / (1 + exp(-x))"),
        Activation("tanh", tanh, tanh_grad, True, "tanh(x)"),
        Activation(
            "softplus",
            softplus,
            softplus_grad,
            True,
            "log(1 + exp(x)), or x where x > 20",
            params={"beta": 1.0, "threshold": 20.0},
        ),
        Activation("elu", elu, elu_grad, True, "x if x > 0 else exp(x) - 1", params={"alpha": 1.0}),
        Activation(
            "gelu",
            gelu,
            gelu_grad,
            False,
            "x * Phi(x) = 0.5*x*(1 + erf(x/sqrt(2)))",
            minimum_at=GELU_MINIMUM_AT,
            params={"approximate": "none"},
        ),
        Activation("silu", silu, silu_grad, False, "x * sigmoid(x)", minimum_at=SILU_MINIMUM_AT),
        Activation(
            "mish",
            mish,
            mish_grad,
            False,
            "x * tanh(log(1 + exp(x)))",
            minimum_at=MISH_MINIMUM_AT,
        ),
        Activation("step", step, step_grad, True, "1 if x > 0 else 0", differentiable=False),
        Activation("relu6", relu6, relu6_grad, True, "min(max(x, 0), 6)"),
        Activation(
            "hardtanh",
            hardtanh,
            hardtanh_grad,
            True,
            "min(max(x, -1), 1)",
            params={"min_val": -1.0, "max_val": 1.0},
        ),
        Activation("hardsigmoid", hardsigmoid, hardsigmoid_grad, True, "min(max(x + 3, 0), 6) / 6"),
        Activation(
            "hardswish",
            hardswish,
            hardswish_grad,
            False,
            "x * min(max(x + 3, 0), 6) / 6",
            minimum_at=HARDSWISH_MINIMUM_AT,
        ),
        Activation("selu", selu, selu_grad, True, "1.0507*x if x > 0 else 1.7581*(exp(x) - 1)"),
        Activation(
            "celu", celu, celu_grad, True, "x if x > 0 else exp(x) - 1", params={"alpha": 1.0}
        ),
        Activation("softsign", softsign, softsign_grad, True, "x / (1 + |x|)"),
        Activation("logsigmoid", logsigmoid, logsigmoid_grad, True, "-log(1 + exp(-x))"),
        Activation(
            "gelu_tanh",
            gelu_tanh,
            gelu_tanh_grad,
            False,
            "0.5*x*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x^3)))",
            minimum_at=GELU_TANH_MINIMUM_AT,
        ),
    )
}


def get_activation(name: str | Activation) -> Activation:
    """The registry entry for ``name`` (a key of ``ACTIVATIONS``); an ``Activation`` is
    returned as it is, so that layers can take either.

    >>> get_activation("relu").non_decreasing
    True
    """
    if isinstance(name, Activation):
        return name
    if not isinstance(name, str):
        raise TypeError(f"get_activation: name: expected a str or an Activation, got {name!r}")
    try:
        return ACTIVATIONS[name]
    except KeyError:
        known = ", ".join(ACTIVATIONS)
        raise ValueError(
            f"get_activation: name: unknown activation {name!r}; known: {known}"
        ) from None
