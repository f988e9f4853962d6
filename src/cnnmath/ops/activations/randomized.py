"""RReLU, the randomized leaky rectifier (Xu et al. 2015), as ``torch.nn.functional.rrelu``,
and its backward.

In training each element x ≤ 0 gets its own slope a drawn from U(lower, upper); in eval the
slope is the middle of that range:

    training:  y = x where x > 0,   a·x where x ≤ 0,   a ~ U(lower, upper) per element
    eval:      y = leaky_relu(x, (lower + upper)/2)

The backward uses the forward's slopes: ∂ℓ/∂x = g where x > 0, a·g where x ≤ 0 (the slope
side at 0, as PyTorch). The slopes are an array of x's shape: ``rrelu(...,
return_slopes=True)`` returns the one drawn, ``rrelu(..., slopes=a)`` applies a given one
(deterministic: how it is tested), and ``rrelu_backward(g, x, ..., slopes=a)`` reads it. A
drawn slope array holds a draw for every element, x > 0 included, where it is not used.

NaN, as PyTorch: training compares x ≤ 0, which NaN fails, so NaN passes as itself with
gradient g; eval is leaky_relu, whose gradient at NaN is the slope.
"""

from __future__ import annotations

from typing import Any, Literal, overload

import numpy as np

from ..._checks import check_float_array, check_same_dtype, flag
from .. import _threads
from .._random import default_generator
from ._elementwise import _checked, _quiet, _real
from .rectifiers import leaky_relu, leaky_relu_grad

#: PyTorch's default range of the random slope, [1/8, 1/3].
RRELU_LOWER, RRELU_UPPER = 1.0 / 8.0, 1.0 / 3.0


def _range(lower: Any, upper: Any, func: str) -> tuple[float, float]:
    """(lower, upper) as floats: finite numbers with lower ≤ upper."""
    low, high = _real("lower", lower, func), _real("upper", upper, func)
    if low > high:
        raise ValueError(
            f"{func}: lower: expected lower <= upper, got lower={lower!r} > upper={upper!r}"
        )
    return low, high


def _check_slopes(slopes: Any, x: np.ndarray, func: str) -> np.ndarray:
    a = check_float_array("slopes", slopes, func=func)
    check_same_dtype(func, x=x, slopes=a)
    if a.shape != x.shape:
        raise ValueError(f"{func}: slopes: expected the shape of x {x.shape}, got {a.shape}")
    return a


def rrelu_slopes(
    shape: tuple[int, ...], lower: float, upper: float, dtype: Any, rng: Any = None
) -> np.ndarray:
    """Slopes a ~ U(lower, upper), one per element of ``shape``, drawn in float64 by
    ``rng.uniform`` (``rng`` a ``numpy.random.Generator``; None for the package's default
    generator, which ``cnnmath.manual_seed`` seeds) and rounded to ``dtype``."""
    func = "rrelu_slopes"
    low, high = _range(lower, upper, func)
    if rng is None:
        rng = default_generator()
    elif not isinstance(rng, np.random.Generator):
        raise TypeError(f"{func}: rng: expected a numpy.random.Generator or None, got {rng!r}")
    return rng.uniform(low, high, shape).astype(dtype)


@overload
def rrelu(
    x: np.ndarray,
    lower: float = ...,
    upper: float = ...,
    training: bool = ...,
    rng: Any = ...,
    *,
    slopes: np.ndarray | None = ...,
    return_slopes: Literal[False] = ...,
) -> np.ndarray: ...
@overload
def rrelu(
    x: np.ndarray,
    lower: float = ...,
    upper: float = ...,
    training: bool = ...,
    rng: Any = ...,
    *,
    slopes: np.ndarray | None = ...,
    return_slopes: Literal[True],
) -> tuple[np.ndarray, np.ndarray]: ...
@_threads.op
def rrelu(
    x: np.ndarray,
    lower: float = RRELU_LOWER,
    upper: float = RRELU_UPPER,
    training: bool = False,
    rng: Any = None,
    *,
    slopes: np.ndarray | None = None,
    return_slopes: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Randomized leaky ReLU; arguments and defaults as ``torch.nn.functional.rrelu(input,
    lower=1/8, upper=1/3, training=False)``:

        training:  y = x where x > 0 (or NaN), a·x where x ≤ 0,  a ~ U(lower, upper)
        eval:      y = x where x > 0, ((lower + upper)/2)·x elsewhere

    x: float32 or float64, any shape. lower, upper: finite numbers, lower ≤ upper (either may
    be negative or above 1, as PyTorch allows). rng: a ``numpy.random.Generator`` that draws
    the slopes (:func:`rrelu_slopes`); None for the default generator. slopes (keyword): an
    array of x's shape and dtype used instead of drawing (training only; its values are not
    checked against the range). return_slopes (keyword): also return the slopes, which
    :func:`rrelu_backward` needs (in eval, all (lower + upper)/2). Returns y of x's shape and
    dtype (and the slopes).

    >>> import numpy as np
    >>> rrelu(np.array([-2.0, 3.0]), 0.1, 0.3).tolist()
    [-0.4, 3.0]
    >>> rrelu(np.array([-2.0, 3.0]), training=True, slopes=np.array([0.25, 0.5])).tolist()
    [-0.5, 3.0]
    """
    func = "rrelu"
    x = _checked(x, func)
    low, high = _range(lower, upper, func)
    training = flag("training", training, func=func)
    if slopes is not None:
        slopes = _check_slopes(slopes, x, func)
    if not training:
        middle = (low + high) / 2
        y = leaky_relu(x, negative_slope=middle)
        return (y, np.full(x.shape, middle, dtype=x.dtype)) if return_slopes else y
    a = rrelu_slopes(x.shape, low, high, x.dtype, rng) if slopes is None else slopes
    with _quiet(), np.errstate(invalid="ignore"):
        y = np.where(x <= 0, a * x, x)
    return (y, a) if return_slopes else y


@_threads.op
def rrelu_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    lower: float = RRELU_LOWER,
    upper: float = RRELU_UPPER,
    training: bool = False,
    *,
    slopes: np.ndarray | None = None,
) -> np.ndarray:
    """∂ℓ/∂x through y = rrelu(x, lower, upper, training), given g = ∂ℓ/∂y (x's shape and
    dtype):

        training:  ∂ℓ/∂x = g where x > 0 (or NaN),  a·g where x ≤ 0  (a: the forward's slopes)
        eval:      ∂ℓ/∂x = g where x > 0,  ((lower + upper)/2)·g elsewhere (NaN included)

    ``slopes`` (keyword) is required in training: the array the forward drew. Returns a new
    array of x's shape and dtype."""
    func = "rrelu_backward"
    x = _checked(x, func)
    g = check_float_array("grad_output", grad_output, func=func)
    check_same_dtype(func, grad_output=g, x=x)
    if g.shape != x.shape:
        raise ValueError(f"{func}: grad_output: expected the shape of x {x.shape}, got {g.shape}")
    low, high = _range(lower, upper, func)
    if not flag("training", training, func=func):
        return g * leaky_relu_grad(x, negative_slope=(low + high) / 2)
    if slopes is None:
        raise ValueError(
            f"{func}: slopes: expected the slopes the training forward drew "
            "(rrelu(..., return_slopes=True)), got None"
        )
    a = _check_slopes(slopes, x, func)
    with _quiet(), np.errstate(invalid="ignore", over="ignore"):
        return np.where(x <= 0, a * g, g)
