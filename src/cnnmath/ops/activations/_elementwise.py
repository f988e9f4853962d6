"""The machinery every activation shares: the input check, the blocked run on the op's
threads (``elementwise``), the one-pass clamp, the float64 round trip and the parameter
checks."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from numbers import Real
from typing import Any, TypeVar

import numpy as np

from ..._checks import check_float_array
from .. import _threads

F = TypeVar("F", bound=Callable[..., Any])


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
