"""The error function and its complement, vectorised, in double precision, without SciPy.

    erf(x)  = 2/√π ∫₀ˣ exp(−t²) dt          (odd, erf(±∞) = ±1)
    erfc(x) = 1 − erf(x) = 2/√π ∫ₓ^∞ exp(−t²) dt

NumPy has no erf, and the exact GELU, x·Φ(x) with Φ(x) = ½·erfc(−x/√2), needs one. The
method is W. J. Cody's: rational Chebyshev approximations on three ranges of y = |x|, with
the coefficients he published (Math. Comp. 23 (1969) 631–637; the same numbers appear in
his SPECFUN routine CALERF):

    y ≤ 15/32            erf(x)  = x · A(y²) / B(y²)                   (degree 4 / 4)
    15/32 < y ≤ 4        erfc(y) = exp(−y²) · C(y) / D(y)              (degree 8 / 8)
    y > 4                erfc(y) = exp(−y²)/y · (1/√π + z·P(z)/Q(z)),   z = 1/y²   (5 / 5)

and erf(x) = sign(x)·(1 − erfc(y)), erfc(−y) = 2 − erfc(y) for the other signs. The outer
ranges compute erfc as exp(−y²) times a smooth factor, so erfc keeps its *relative*
accuracy far into the tail instead of being 1 − erf (which is 0 beyond y ≈ 6). exp(−y²)
is taken as exp(−u²)·exp(−(y − u)(y + u)) with u = y rounded down to a multiple of 1/16:
u² is exact, so the rounding of y², which exp would magnify by y² ≈ 700, never happens.
The break at 15/32 rather than 1/2 is Cody's own choice in CALERF.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_float_array

__all__ = ["erf", "erfc"]

# Range 1, erf(x) = x * A(x^2) / B(x^2). Highest-degree coefficient last in A, as published.
_A = (
    3.16112374387056560e00,
    1.13864154151050156e02,
    3.77485237685302021e02,
    3.20937758913846947e03,
    1.85777706184603153e-1,
)
_B = (
    2.36012909523441209e01,
    2.44024637934444173e02,
    1.28261652607737228e03,
    2.84423683343917062e03,
)
# Range 2, erfc(y) = exp(-y^2) * C(y) / D(y).
_C = (
    5.64188496988670089e-1,
    8.88314979438837594e00,
    6.61191906371416295e01,
    2.98635138197400131e02,
    8.81952221241769090e02,
    1.71204761263407058e03,
    2.05107837782607147e03,
    1.23033935479799725e03,
    2.15311535474403846e-8,
)
_D = (
    1.57449261107098347e01,
    1.17693950891312499e02,
    5.37181101862009858e02,
    1.62138957456669019e03,
    3.29079923573345963e03,
    4.36261909014324716e03,
    3.43936767414372164e03,
    1.23033935480374942e03,
)
# Range 3, erfc(y) = exp(-y^2)/y * (1/sqrt(pi) - z * P(z) / Q(z)), z = 1/y^2.
_P = (
    3.05326634961232344e-1,
    3.60344899949804439e-1,
    1.25781726111229246e-1,
    1.60837851487422766e-2,
    6.58749161529837803e-4,
    1.63153871373020978e-2,
)
_Q = (
    2.56852019228982242e00,
    1.87295284992346725e00,
    5.27905102951428412e-1,
    6.05183413124413191e-2,
    2.33520497626869185e-3,
)

_INV_SQRT_PI = 5.6418958354775628695e-1  # 1/sqrt(pi)
_BREAK_1 = 0.46875  # 15/32: range 1 below, range 2 above
_BREAK_2 = 4.0  # range 2 below, range 3 above
# erfc(y) < 2**-1075 (half the smallest subnormal) for y > 27.3: clipping y here keeps y*y
# finite for every input and leaves the rounded result, 0, unchanged.
_Y_MAX = 28.0


def _horner(z: np.ndarray, lead: float, coefs: tuple[float, ...]) -> np.ndarray:
    """(((lead·z + c₀)·z + c₁)·z + ...)·z + c_last, in place on one new array."""
    acc = z * lead
    for c in coefs[:-1]:
        acc += c
        acc *= z
    acc += coefs[-1]
    return acc


def _erf_small(x: np.ndarray) -> np.ndarray:
    """erf on |x| <= 15/32: x·A(x²)/B(x²), by Horner's rule in CALERF's order."""
    t = x * x
    out = _horner(t, _A[4], _A[:4])
    out *= x
    out /= _horner(t, 1.0, _B)
    return out


def _exp_minus_square(y: np.ndarray) -> np.ndarray:
    """exp(−y²) for y >= 0 without the error of rounding y²: exp(−u²)·exp(−(y − u)(y + u))
    with u = y rounded down to a multiple of 1/16, so that u² and y − u are exact."""
    u = y * 16.0
    np.floor(u, out=u)
    u /= 16.0
    rest = y - u
    rest *= y + u
    np.negative(rest, out=rest)
    np.exp(rest, out=rest)
    out = u * u
    np.negative(out, out=out)
    np.exp(out, out=out)
    out *= rest
    return out


def _erfc_large(y: np.ndarray) -> np.ndarray:
    """erfc on y > 15/32 (ranges 2 and 3); y is clipped to _Y_MAX, where the result is 0."""
    y = np.minimum(y, _Y_MAX)
    out = np.empty_like(y)
    mid = y <= _BREAK_2
    ym = y[mid]
    r = _horner(ym, _C[8], _C[:8])  # exp(y²)·erfc(y) = C(y)/D(y)
    r /= _horner(ym, 1.0, _D)
    r *= _exp_minus_square(ym)
    out[mid] = r

    far = ~mid  # y > 4 (NaN, unordered, also lands here and stays NaN)
    yf = y[far]
    z = yf * yf
    np.reciprocal(z, out=z)
    tail = _horner(z, _P[5], _P[:5])
    tail *= z
    tail /= _horner(z, 1.0, _Q)
    r = np.subtract(_INV_SQRT_PI, tail, out=tail)  # y·exp(y²)·erfc(y) = 1/√π − z·P(z)/Q(z)
    r /= yf
    r *= _exp_minus_square(yf)
    out[far] = r
    return out


def _as_float64(name: str, x: object, func: str) -> tuple[np.ndarray, np.dtype]:
    x = check_float_array(name, x, func=func)
    return np.asarray(x, dtype=np.float64).ravel(), x.dtype


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, elementwise: erf(x) = 2/√π ∫₀ˣ exp(−t²) dt.

    Parameters
    ----------
    x : numpy.ndarray of float32 or float64, any shape (a 0-d array too)

    Returns
    -------
    numpy.ndarray of x's shape and dtype. float32 input is evaluated in float64 and rounded
    once at the end. NaN gives NaN, ±inf gives ±1, and erf(−x) = −erf(x) exactly.

    Notes
    -----
    Cody's rational approximations (see the module docstring). Against ``math.erf`` on
    3.5·10^6 random points over all ranges the largest relative error measured was 5.6e-16
    (under 3 units in the last place, at the 15/32 break); the tests require 1e-14. No
    floating-point warnings for any input (underflow to subnormals is silent).

    Examples
    --------
    >>> import numpy as np
    >>> erf(np.array([0.0, 0.5, -np.inf]))
    array([ 0.        ,  0.52049988, -1.        ])
    """
    flat, dtype = _as_float64("x", x, "erf")
    out = np.empty_like(flat)
    y = np.abs(flat)
    with np.errstate(under="ignore"):
        small = y <= _BREAK_1
        out[small] = _erf_small(flat[small])
        big = ~small  # includes NaN
        out[big] = np.copysign(1.0 - _erfc_large(y[big]), flat[big])
        return out.reshape(np.shape(x)).astype(dtype, copy=False)  # float32 may underflow


def erfc(x: np.ndarray) -> np.ndarray:
    """The complementary error function, elementwise: erfc(x) = 1 − erf(x) = 2/√π ∫ₓ^∞ e^{−t²} dt.

    Parameters
    ----------
    x : numpy.ndarray of float32 or float64, any shape (a 0-d array too)

    Returns
    -------
    numpy.ndarray of x's shape and dtype, values in [0, 2]. float32 input is evaluated in
    float64 and rounded once. NaN gives NaN, +inf gives 0, −inf gives 2.

    Notes
    -----
    Computed directly, not as 1 − erf, so that the relative accuracy holds in the tail: it
    underflows only where the true value does (erfc(26.5) ≈ 1e-307, subnormal beyond,
    0 from x ≈ 27.3). Against ``math.erfc`` on 3.5·10^6 random points the largest relative
    error measured, over results that are normal numbers, was 1.1e-15 (about 6 units in the
    last place, in the middle range); the tests require 1e-13.

    Examples
    --------
    >>> import numpy as np
    >>> erfc(np.array([0.0, 10.0, -np.inf]))
    array([1.00000000e+00, 2.08848758e-45, 2.00000000e+00])
    """
    flat, dtype = _as_float64("x", x, "erfc")
    out = np.empty_like(flat)
    with np.errstate(under="ignore"):
        small = np.abs(flat) <= _BREAK_1
        out[small] = 1.0 - _erf_small(flat[small])
        negative = flat < -_BREAK_1
        out[negative] = 2.0 - _erfc_large(-flat[negative])
        positive = ~(small | negative)  # x > 15/32, and NaN
        out[positive] = _erfc_large(flat[positive])
        return out.reshape(np.shape(x)).astype(dtype, copy=False)
