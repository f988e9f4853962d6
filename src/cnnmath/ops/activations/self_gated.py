"""The self-gated activations x·gate(x), non-monotone with a dip below zero: gelu (exact
and tanh forms), silu, mish and hardswish, and where each dip lies."""

from __future__ import annotations

import math

import numpy as np

from ._elementwise import _out, _quiet, _wide, elementwise
from ._smooth import (
    _EXP_CLIP,
    _GAUSS_CLIP,
    _INV_SQRT_2PI,
    _normal_cdf,
    _sech2,
    _sigmoid_pair,
    _softplus_exact,
)
from .sigmoid_like import _relu6_shifted

# Minima of the non-monotone activations: the roots of σ′ below zero, to double precision
# (tests/test_activations.py re-finds them by bisection on σ′).
GELU_MINIMUM_AT = -0.7517915246935645
SILU_MINIMUM_AT = -1.2784645427610738
MISH_MINIMUM_AT = -1.1924312145154952
GELU_TANH_MINIMUM_AT = -0.7524614220710163


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


# --------------------------------------------------------------------------- hardswish
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
