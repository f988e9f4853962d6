"""The saturating, sigmoid-like activations: sigmoid, tanh, softplus, softsign (correctly
rounded), logsigmoid and hardsigmoid."""

from __future__ import annotations

import numpy as np

from ._elementwise import _out, _quiet, _real, _wide, elementwise
from ._smooth import _sech2, _sigmoid_pair, _softplus_exact


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


# --------------------------------------------------------------------------- hard sigmoid
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
