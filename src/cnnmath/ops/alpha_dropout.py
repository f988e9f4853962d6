"""Alpha dropout (Klambauer et al. 2017, self-normalizing networks), as
``torch.nn.functional.alpha_dropout`` and ``feature_alpha_dropout``, and its backward.

Dropout that keeps SELU's fixed point (mean 0, variance 1): a dropped unit is set to SELU's
saturation value α′ = −λα (λ, α: SELU_SCALE, SELU_ALPHA; α′ ≈ −1.7581) rather than to 0,
then an affine map restores the mean and variance. With keep-mask m (m_i ~ Bernoulli(1 − p))
and drop probability p:

    y = a·(x·m + α′·(1 − m)) + b,   a = ((1 − p)(1 + p·α′²))^(−1/2),   b = −a·α′·p

so a kept unit gives a·x + b and a dropped one a·α′ + b = a·α′·(1 − p). For x of mean 0 and
variance 1 (independent of m), y has mean 0 and variance 1 again. In eval, or with p = 0, y
is x; with p = 1 every unit is dropped and y = x·0 (PyTorch's rule: 0, NaN for a non-finite
x; a is infinite there). The backward is ∂ℓ/∂x = a·m·g (0 for p = 1, g in eval).

``feature_alpha_dropout`` draws one m per feature map: a mask of shape (N, C, 1, …, 1) for an
x of shape (N, C, …), broadcast over the map (two axes at least, as PyTorch requires).

The mask is drawn by ``rng`` (``numpy.random.Generator``; None for the default generator,
which ``cnnmath.manual_seed`` seeds) or given (``mask=``, True where kept: deterministic,
which is how the op is tested); ``return_mask=True`` returns it for
:func:`alpha_dropout_backward`.
"""

from __future__ import annotations

import math
from typing import Any, Literal, overload

import numpy as np

from .._checks import check_float_array, flag, real_number
from . import _threads
from .activations import SELU_ALPHA, SELU_SCALE
from .dropout import dropout_mask

__all__ = [
    "ALPHA_DROPOUT_SATURATION",
    "alpha_dropout",
    "alpha_dropout_backward",
    "feature_alpha_dropout",
]

#: α′ = −λα, the value SELU tends to at −∞, which a dropped unit takes before the affine map.
ALPHA_DROPOUT_SATURATION = -SELU_SCALE * SELU_ALPHA


def _affine(p: float) -> tuple[float, float]:
    """(a, b) of the affine map after masking, for drop probability p in [0, 1) (checked by
    the caller): a = ((1 − p)(1 + p·α′²))^(−1/2), b = −a·α′·p (see the module docstring)."""
    s = ALPHA_DROPOUT_SATURATION
    a = 1.0 / math.sqrt((1.0 - p) * (1.0 + p * s * s))
    return a, -a * s * p


def _probability(p: Any, func: str) -> float:
    return real_number("p", p, func=func, low=0.0, high=1.0)


def _mask_shape(x: np.ndarray, feature: bool, func: str) -> tuple[int, ...]:
    """x's shape, or (N, C, 1, …, 1) for one draw per feature map."""
    if not feature:
        return x.shape
    if x.ndim < 2:
        raise ValueError(
            f"{func}: x: expected at least 2 axes (N, C, …), one mask entry per (n, c), "
            f"got shape {x.shape}"
        )
    return x.shape[:2] + (1,) * (x.ndim - 2)


def _check_mask(mask: Any, shape: tuple[int, ...], func: str) -> np.ndarray:
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
        given = f"dtype {mask.dtype}" if isinstance(mask, np.ndarray) else repr(type(mask))
        raise TypeError(
            f"{func}: mask: expected a numpy.ndarray of dtype bool (True where kept), got {given}"
        )
    if mask.shape != shape:
        raise ValueError(f"{func}: mask: expected shape {shape}, got {mask.shape}")
    return mask


def _scale_shift(mask: np.ndarray, p: float, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """(a·m, a·α′·(1 − m) + b) in ``dtype``, of the mask's shape, for p < 1."""
    a, b = _affine(p)
    scale = np.where(mask, a, 0.0).astype(dtype)
    shift = np.where(mask, b, a * ALPHA_DROPOUT_SATURATION + b).astype(dtype)
    return scale, shift


def _alpha_dropout(
    x: Any,
    p: Any,
    training: Any,
    rng: Any,
    mask: Any,
    return_mask: bool,
    *,
    feature: bool,
    func: str,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    x = check_float_array("x", x, func=func)
    p = _probability(p, func)
    training = flag("training", training, func=func)
    shape = _mask_shape(x, feature, func)
    if mask is not None:
        mask = _check_mask(mask, shape, func)
    if not training or p == 0.0:
        y = x.copy()
        keep = np.broadcast_to(np.True_, shape) if mask is None else mask  # (no memory)
    else:
        keep = dropout_mask(shape, p, rng) if mask is None else mask
        with np.errstate(invalid="ignore", over="ignore"):  # inf·0 where an inf is dropped
            if p == 1.0:  # x·0, as PyTorch: −0 for a negative x, NaN for a non-finite one
                y = x * x.dtype.type(0.0)
            else:
                scale, shift = _scale_shift(keep, p, x.dtype)
                y = x * scale + shift
    return (y, keep) if return_mask else y


@overload
def alpha_dropout(
    x: np.ndarray,
    p: float = ...,
    training: bool = ...,
    rng: Any = ...,
    *,
    mask: np.ndarray | None = ...,
    return_mask: Literal[False] = ...,
) -> np.ndarray: ...
@overload
def alpha_dropout(
    x: np.ndarray,
    p: float = ...,
    training: bool = ...,
    rng: Any = ...,
    *,
    mask: np.ndarray | None = ...,
    return_mask: Literal[True],
) -> tuple[np.ndarray, np.ndarray]: ...
@_threads.op
def alpha_dropout(
    x: np.ndarray,
    p: float = 0.5,
    training: bool = False,
    rng: Any = None,
    *,
    mask: np.ndarray | None = None,
    return_mask: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Alpha dropout, one draw per element: y = a·(x·m + α′(1 − m)) + b in training, y = x (a
    copy) in eval or for p = 0, y = x·0 for p = 1; arguments and defaults as
    ``torch.nn.functional.alpha_dropout(input, p=0.5, training=False)`` (training is off by
    default there too).

    x: float32 or float64, any shape. p: the drop probability, in [0, 1]. rng: draws the mask
    (see the module docstring). mask (keyword): bool, x's shape, True where kept, used instead
    of drawing. return_mask (keyword): also return the mask (all True in eval and for p = 0),
    which :func:`alpha_dropout_backward` needs. Returns y of x's shape and dtype (and the mask).

    >>> import numpy as np
    >>> y = alpha_dropout(np.zeros(2), 0.5, True, mask=np.array([True, False]))
    >>> [round(v, 4) for v in y.tolist()]
    [0.7792, -0.7792]
    """
    return _alpha_dropout(
        x, p, training, rng, mask, return_mask, feature=False, func="alpha_dropout"
    )


@overload
def feature_alpha_dropout(
    x: np.ndarray,
    p: float = ...,
    training: bool = ...,
    rng: Any = ...,
    *,
    mask: np.ndarray | None = ...,
    return_mask: Literal[False] = ...,
) -> np.ndarray: ...
@overload
def feature_alpha_dropout(
    x: np.ndarray,
    p: float = ...,
    training: bool = ...,
    rng: Any = ...,
    *,
    mask: np.ndarray | None = ...,
    return_mask: Literal[True],
) -> tuple[np.ndarray, np.ndarray]: ...
@_threads.op
def feature_alpha_dropout(
    x: np.ndarray,
    p: float = 0.5,
    training: bool = False,
    rng: Any = None,
    *,
    mask: np.ndarray | None = None,
    return_mask: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Alpha dropout of whole feature maps, as ``torch.nn.functional.feature_alpha_dropout(
    input, p=0.5, training=False)``: :func:`alpha_dropout` with one mask entry per (n, c),
    m[n, c] applied to all of x[n, c, …].

    x: float32 or float64 of shape (N, C, …), two axes at least ((N, C) is one value per
    map). mask (keyword): bool of shape (N, C, 1, …, 1), x's number of axes. Otherwise as
    :func:`alpha_dropout`; the mask returned has that (N, C, 1, …, 1) shape."""
    return _alpha_dropout(
        x, p, training, rng, mask, return_mask, feature=True, func="feature_alpha_dropout"
    )


@_threads.op
def alpha_dropout_backward(
    grad_output: np.ndarray, mask: np.ndarray, p: float = 0.5, training: bool = False
) -> np.ndarray:
    """∂ℓ/∂x = a·m·g for y = alpha_dropout(x, p, training) or feature_alpha_dropout (m the
    forward's mask, of g's shape or (N, C, 1, …, 1), broadcast over g; a as in the module
    docstring), 0 for p = 1, g itself in eval or for p = 0. g =
    grad_output, float32 or float64; returns g's shape and dtype."""
    func = "alpha_dropout_backward"
    g = check_float_array("grad_output", grad_output, func=func)
    p = _probability(p, func)
    training = flag("training", training, func=func)
    per_map = g.shape[:2] + (1,) * (g.ndim - 2) if g.ndim >= 2 else g.shape
    shape = per_map if isinstance(mask, np.ndarray) and mask.shape == per_map else g.shape
    mask = _check_mask(mask, shape, func)
    if not training or p == 0.0:
        return g.copy()
    with np.errstate(invalid="ignore", over="ignore"):
        if p == 1.0:
            return g * g.dtype.type(0.0)
        return g * _scale_shift(mask, p, g.dtype)[0]
