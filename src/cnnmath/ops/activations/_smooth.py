"""Float64 pieces the smooth activations share: the logistic pair, softplus without a
threshold, sech², the normal distribution function, and the clips of their tails."""

from __future__ import annotations

import math

import numpy as np

from ..erf import erfc

_SQRT1_2 = math.sqrt(0.5)  # 1/√2
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


# Beyond these |x| every tail term below is exactly 0 in float64 (exp(−800) underflows), so
# inputs are clipped there: it keeps x·x finite and avoids inf·0 = NaN at ±inf.
_GAUSS_CLIP = 40.0  # x·φ(x) = 0 beyond, φ the standard normal density
_EXP_CLIP = 800.0  # x·exp(−|x|) = 0 beyond
_SECH_CLIP = 400.0  # sech²(y) = 4·exp(−2|y|)/(1 + exp(−2|y|))² = 0 beyond


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
