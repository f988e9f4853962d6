"""erf / erfc against math.erf / math.erfc (libm) and SciPy, on every range and edge.

Errors here are relative to each value, not to the data's scale: erf is a special function
whose accuracy is quoted per value, and erfc's whole point is relative accuracy in the tail.
"""

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnmath.ops.erf import erf, erfc

TINY = np.finfo(np.float64).tiny  # smallest normal float64
BREAKS = (0.46875, 4.0)  # Cody's range boundaries

_math_erf = np.frompyfunc(math.erf, 1, 1)
_math_erfc = np.frompyfunc(math.erfc, 1, 1)


def math_erf(x):
    return _math_erf(x).astype(np.float64)


def math_erfc(x):
    return _math_erfc(x).astype(np.float64)


def _points() -> np.ndarray:
    """About 1.3·10^5 points, both signs, every range and boundary, tiny to huge."""
    rng = np.random.default_rng(20240601)
    near_breaks = [
        b + np.concatenate([np.arange(-200, 201) * np.spacing(b), np.geomspace(1e-15, 1e-2, 200)])
        for b in BREAKS
    ]
    near_breaks += [b - np.geomspace(1e-15, 1e-2, 200) for b in BREAKS]
    positive = np.concatenate(
        [
            rng.uniform(0.0, 0.5, 25_000),  # range 1
            rng.uniform(0.46875, 4.0, 25_000),  # range 2
            rng.uniform(4.0, 27.3, 25_000),  # range 3, erfc down to underflow
            rng.uniform(0.0, 6.0, 10_000),  # where erf is not yet ±1
            np.geomspace(1e-300, 1e-3, 5_000),  # tiny, normal
            np.geomspace(27.3, 1e308, 500),  # erf = 1, erfc = 0
            *near_breaks,
        ]
    )
    return np.concatenate([positive, -positive, [0.0]])


X = _points()


def _rel(got, want):
    return np.abs(got - want) / np.abs(want)


def test_point_set_is_large_and_covers_the_ranges():
    assert X.size >= 100_000
    for lo, hi in [(0, 0.46875), (0.46875, 4), (4, 27), (-4, -0.46875), (-27, -4)]:
        assert np.count_nonzero((X > lo) & (X < hi)) > 10_000


def test_erf_matches_math_erf():
    got, want = erf(X), math_erf(X)
    normal = np.abs(want) >= TINY
    assert _rel(got[normal], want[normal]).max() <= 1e-14
    np.testing.assert_array_equal(got[~normal], want[~normal])  # x = 0 only


def test_erfc_matches_math_erfc():
    got, want = erfc(X), math_erfc(X)
    normal = want >= TINY  # relative accuracy wherever the result is a normal number
    assert np.count_nonzero(normal) > 0.95 * X.size
    assert _rel(got[normal], want[normal]).max() <= 1e-13
    # in the subnormal tail only absolute accuracy is meaningful
    assert np.abs(got[~normal] - want[~normal]).max() <= 1e-320


@pytest.mark.parametrize("which", ["erf", "erfc"])
def test_matches_scipy(which):
    special = pytest.importorskip("scipy.special")
    ours, theirs = {"erf": (erf, special.erf), "erfc": (erfc, special.erfc)}[which]
    got, want = ours(X), theirs(X)
    normal = np.abs(want) >= TINY
    assert _rel(got[normal], want[normal]).max() <= (1e-14 if which == "erf" else 1e-13)


def test_subnormal_input():
    x = np.array([5e-324, 1e-310, 2e-308, -1e-315])
    np.testing.assert_allclose(erf(x), math_erf(x), rtol=0, atol=1e-323)
    np.testing.assert_array_equal(erfc(x), 1.0)


def test_special_values():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e308, -1e308, 30.0, -30.0])
    e, c = erf(x), erfc(x)
    np.testing.assert_array_equal(e, [np.nan, 1, -1, 0, 0, 1, -1, 1, -1])
    np.testing.assert_array_equal(c, [np.nan, 0, 2, 1, 1, 0, 2, 0, 2])
    assert np.signbit(e[4]) and not np.signbit(e[3])  # erf(-0) = -0


def test_known_values():
    # erf(1) and erfc(10), to the digits of standard tables
    np.testing.assert_allclose(erf(np.array(1.0)), 0.8427007929497149, rtol=1e-15)
    np.testing.assert_allclose(erfc(np.array(10.0)), 2.088487583762545e-45, rtol=1e-14)


def test_no_floating_point_warnings_on_any_input():
    x = np.concatenate(
        [
            np.array([np.nan, np.inf, -np.inf, 0.0, 5e-324, 1e-310, 1.7e308, -1.7e308]),
            np.geomspace(1e-320, 1e308, 2000),
            -np.geomspace(1e-320, 1e308, 2000),
        ]
    )
    x32 = np.concatenate([x[np.abs(x) < 3e38], [np.float32(1e-45)]]).astype(np.float32)
    with np.errstate(all="raise"):
        for values in (x, x32):
            erf(values)
            erfc(values)


def test_identities_on_the_point_set():
    e, c = erf(X), erfc(X)
    np.testing.assert_array_equal(erf(-X), -e)  # odd, exactly
    assert np.all(np.abs(e) <= 1) and np.all((c >= 0) & (c <= 2))
    np.testing.assert_allclose(e + c, 1.0, rtol=0, atol=4e-16)
    np.testing.assert_allclose(erfc(-X) + c, 2.0, rtol=0, atol=8e-16)


def test_non_decreasing_on_a_dense_grid():
    # (at the scale of single ulps, near the 15/32 break, rounding can reorder neighbours)
    g = np.linspace(-7, 7, 280_001)
    assert np.all(np.diff(erf(g)) >= 0)
    assert np.all(np.diff(erfc(g)) <= 0)


@pytest.mark.parametrize("func, exact", [(erf, math.erf), (erfc, math.erfc)])
def test_float32_in_float32_out(func, exact):
    x = np.linspace(-5, 5, 1001, dtype=np.float32)
    got = func(x)
    assert got.dtype == np.float32
    # computed in float64 and rounded once: the float64 answer rounded to float32
    np.testing.assert_array_equal(got, func(x.astype(np.float64)).astype(np.float32))
    want = np.array([exact(float(v)) for v in x])
    np.testing.assert_allclose(got, want, rtol=2**-23, atol=0)  # within one float32 ulp


@pytest.mark.parametrize("func", [erf, erfc])
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3, 4)])
def test_shapes(func, shape):
    x = np.random.default_rng(0).standard_normal(shape)
    y = func(x)
    assert isinstance(y, np.ndarray) and y.shape == shape and y.dtype == np.float64
    np.testing.assert_array_equal(y.ravel(), func(x.ravel()))


def test_non_contiguous_input_and_input_untouched():
    base = np.random.default_rng(1).standard_normal((6, 8))
    x = base[::2, ::-3]
    before = base.copy()
    np.testing.assert_array_equal(erf(x), erf(np.ascontiguousarray(x)))
    np.testing.assert_array_equal(base, before)


ERRORS = [
    (lambda: erf(np.arange(3)), TypeError, r"erf: x: expected dtype float32 or float64, got int"),
    (lambda: erfc(np.zeros(2, bool)), TypeError, r"erfc: x: expected dtype float32 or float64"),
    (lambda: erf(0.5), TypeError, r"erf: x: expected a numpy.ndarray"),
    (lambda: erfc([0.5]), TypeError, r"erfc: x: expected a numpy.ndarray"),
]


@pytest.mark.parametrize("call, exc, pattern", ERRORS)
def test_bad_input(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_float_matches_math(v):
    x = np.array([v, -v])
    with np.errstate(all="raise"):
        e, c = erf(x), erfc(x)
    want_e, want_c = math.erf(v), math.erfc(v)
    if abs(want_e) >= TINY:
        assert abs(e[0] - want_e) <= 1e-14 * abs(want_e)
    else:
        assert abs(e[0] - want_e) <= 1e-323
    if want_c >= TINY:
        assert abs(c[0] - want_c) <= 1e-13 * want_c
    else:
        assert abs(c[0] - want_c) <= 1e-320
    assert e[1] == -e[0]


def test_core_does_not_import_scipy():
    code = "import sys, cnnmath.ops.erf; sys.exit('scipy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
