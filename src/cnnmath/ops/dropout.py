"""Inverted dropout, as ``torch.nn.functional.dropout``, and its backward.

In training each element is kept with probability 1 − p and scaled by 1/(1 − p), so the
expected output is the input; in eval mode dropout is the identity:

    y = x ⊙ m / (1 − p),  m_i ~ Bernoulli(1 − p)  (training);      y = x  (eval)

The backward needs the mask m: ``dropout(..., return_mask=True)`` returns it beside y, and
``dropout(..., mask=m)`` applies a given one (a fixed mask makes the op deterministic, which
is how it is tested); ``dropout_backward(g, m, p)`` is g ⊙ m/(1 − p). With p = 1 every element
is dropped (y = x·0, NaN for a non-finite x, as PyTorch's multiply by zero).

The mask is drawn whole, by one generator in one call, so a seed gives the same mask at any
thread count; the product with it runs on the op's threads, in blocks fixed by the size.
"""

from __future__ import annotations

from typing import Any, Literal, overload

import numpy as np

from .._checks import check_float_array, real_number
from . import _threads
from ._random import default_generator

__all__ = ["dropout", "dropout_backward", "dropout_mask"]


def _probability(p: Any, func: str) -> float:
    return real_number("p", p, func=func, low=0.0, high=1.0)


def _training(training: Any, func: str) -> bool:
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"{func}: training: expected a bool, got {training!r}")
    return bool(training)


def _check_mask(mask: Any, shape: tuple[int, ...], func: str) -> np.ndarray:
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
        given = f"dtype {mask.dtype}" if isinstance(mask, np.ndarray) else repr(type(mask))
        raise TypeError(
            f"{func}: mask: expected a numpy.ndarray of dtype bool (True where kept), got {given}"
        )
    if mask.shape != shape:
        raise ValueError(f"{func}: mask: expected shape {shape}, got {mask.shape}")
    return mask


#: Elements per block of the masked product on the op's threads (a smaller x is one block).
_BLOCK = 1 << 16


def _masked(x: np.ndarray, mask: np.ndarray, p: float) -> np.ndarray:
    """x ⊙ m/(1 − p) in x's dtype (m/(1 − p) = 0 everywhere when p = 1; inf·0 = NaN where an
    infinite x is dropped), block by block on the op's threads. The factor m·(1/(1 − p)) is a
    product with the mask, not ``np.where(m, keep, 0)``: a select branches on every element
    and mispredicts half of a random mask (docs/performance.md, "ReLU's backward without
    branches")."""
    keep = x.dtype.type(0.0 if p == 1.0 else 1.0 / (1.0 - p))
    flat, flat_mask = x.reshape(-1), mask.reshape(-1)
    out = np.empty(x.shape, dtype=x.dtype)
    into = out.reshape(-1)

    def body(i0: int, i1: int) -> None:
        factor = _threads.scratch("dropout factor", i1 - i0, x.dtype)
        np.multiply(flat_mask[i0:i1], keep, out=factor)  # exactly keep, or +0
        with np.errstate(invalid="ignore"):
            np.multiply(flat[i0:i1], factor, out=into[i0:i1])

    _threads.parallel(body, _threads.spans(flat.size, _BLOCK))
    return out


def dropout_mask(shape: tuple[int, ...], p: float = 0.5, rng: Any = None) -> np.ndarray:
    """A keep-mask of ``shape``: True with probability 1 − p, independently per element,
    drawn as ``rng.random(shape) >= p`` (``rng`` a ``numpy.random.Generator``; None for the
    package's default generator, which ``cnnmath.manual_seed`` seeds)."""
    func = "dropout_mask"
    p = _probability(p, func)
    if rng is None:
        rng = default_generator()
    elif not isinstance(rng, np.random.Generator):
        raise TypeError(f"{func}: rng: expected a numpy.random.Generator or None, got {rng!r}")
    return rng.random(shape) >= p


@overload
def dropout(
    x: np.ndarray,
    p: float = ...,
    training: bool = ...,
    rng: Any = ...,
    *,
    mask: np.ndarray | None = ...,
    return_mask: Literal[False] = ...,
) -> np.ndarray: ...
@overload
def dropout(
    x: np.ndarray,
    p: float = ...,
    training: bool = ...,
    rng: Any = ...,
    *,
    mask: np.ndarray | None = ...,
    return_mask: Literal[True],
) -> tuple[np.ndarray, np.ndarray]: ...
@_threads.op
def dropout(
    x: np.ndarray,
    p: float = 0.5,
    training: bool = True,
    rng: Any = None,
    *,
    mask: np.ndarray | None = None,
    return_mask: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Inverted dropout: y = x ⊙ m/(1 − p) in training, y = x (a copy) in eval; arguments and
    defaults as ``torch.nn.functional.dropout(input, p=0.5, training=True)``.

    x: float32 or float64, any shape. p: the drop probability, in [0, 1]. rng: a
    ``numpy.random.Generator`` that draws the mask (see :func:`dropout_mask`); None for an
    unseeded one. mask (keyword): a bool array of x's shape, True where kept, used instead of
    drawing one. return_mask (keyword): also return the mask (all True in eval), which
    :func:`dropout_backward` needs. Returns y of x's shape and dtype (and the mask).

    >>> import numpy as np
    >>> dropout(np.ones(4), p=0.5, mask=np.array([True, False, True, False])).tolist()
    [2.0, 0.0, 2.0, 0.0]
    """
    func = "dropout"
    check_float_array("x", x, func=func)
    p = _probability(p, func)
    training = _training(training, func)
    if mask is not None:
        mask = _check_mask(mask, x.shape, func)
    if not training:
        y = x.copy()
        keep = np.ones(x.shape, dtype=bool) if mask is None else mask
    else:
        keep = dropout_mask(x.shape, p, rng) if mask is None else mask
        y = _masked(x, keep, p)
    return (y, keep) if return_mask else y


@_threads.op
def dropout_backward(
    grad_output: np.ndarray, mask: np.ndarray, p: float = 0.5, training: bool = True
) -> np.ndarray:
    """∂ℓ/∂x = g ⊙ m/(1 − p) in training (m the forward's keep-mask), g in eval; g =
    grad_output, float32 or float64 of the mask's shape. Returns g's shape and dtype."""
    func = "dropout_backward"
    g = check_float_array("grad_output", grad_output, func=func)
    p = _probability(p, func)
    training = _training(training, func)
    mask = _check_mask(mask, g.shape, func)
    if not training:
        return g.copy()
    return _masked(g, mask, p)
