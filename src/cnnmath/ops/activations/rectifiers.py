"""The piecewise-linear rectifiers: identity, relu, leaky_relu, hardtanh and relu6, with
relu's and hardtanh's branch-free backward selects."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..._checks import check_float_array, check_same_dtype
from .. import _threads
from ._elementwise import _checked, _clamp, _out, _quiet, _real, elementwise


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
