"""The activation registry: values and derivatives against PyTorch (float64) on a dense grid
with the kinks, against mpmath element by element, the non-decreasing flags of result 4, the
limits at ±∞ (and where they deliberately differ from PyTorch's), dtypes and the registry's
bad input. The per-op checks (forward and backward against the literal reference, PyTorch and
finite differences; views; NaN/±inf against PyTorch; bad arguments) are in
tests/records/activations.py."""

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import cnnmath.ops
from cnnmath.ops import activations
from cnnmath.ops.activations import ACTIVATIONS, Activation, get_activation, softplus
from helpers import assert_close

NAMES = list(ACTIVATIONS)
DIFFERENTIABLE = [n for n in NAMES if ACTIVATIONS[n].differentiable]
MONOTONE = [n for n in NAMES if ACTIVATIONS[n].non_decreasing]
DIPPING = [n for n in NAMES if not ACTIVATIONS[n].non_decreasing]

# name: (non_decreasing, minimum_at to 4 places as quoted in SPEC.md, differentiable)
EXPECTED = {
    "identity": (True, None, True),
    "relu": (True, None, True),
    "leaky_relu": (True, None, True),
    "sigmoid": (True, None, True),
    "tanh": (True, None, True),
    "softplus": (True, None, True),
    "elu": (True, None, True),
    "gelu": (False, -0.7518, True),
    "silu": (False, -1.2785, True),
    "mish": (False, -1.1924, True),
    "step": (True, None, False),
    "relu6": (True, None, True),
    "hardtanh": (True, None, True),
    "hardsigmoid": (True, None, True),
    "hardswish": (False, -1.5, True),
    "selu": (True, None, True),
    "celu": (True, None, True),
    "softsign": (True, None, True),
    "logsigmoid": (True, None, True),
    "gelu_tanh": (False, -0.7525, True),
}

# name: (σ(−∞), σ(+∞), σ′(−∞), σ′(+∞))
LIMITS = {
    "identity": (-np.inf, np.inf, 1, 1),
    "relu": (0, np.inf, 0, 1),
    "leaky_relu": (-np.inf, np.inf, 0.01, 1),
    "sigmoid": (0, 1, 0, 0),
    "tanh": (-1, 1, 0, 0),
    "softplus": (0, np.inf, 0, 1),
    "elu": (-1, np.inf, 0, 1),
    "gelu": (0, np.inf, 0, 1),
    "silu": (0, np.inf, 0, 1),
    "mish": (0, np.inf, 0, 1),
    "step": (0, 1, 0, 0),
    "relu6": (0, 6, 0, 0),
    "hardtanh": (-1, 1, 0, 0),
    "hardsigmoid": (0, 1, 0, 0),
    "hardswish": (0, np.inf, 0, 1),
    "selu": (-activations.SELU_SCALE * activations.SELU_ALPHA, np.inf, 0, activations.SELU_SCALE),
    "celu": (-1, np.inf, 0, 1),
    "softsign": (-1, 1, 0, 0),
    "logsigmoid": (-np.inf, 0, 1, 0),
    "gelu_tanh": (0, np.inf, 0, 1),
}

# Where cnnmath returns the limit above and PyTorch an artefact NaN (∞·0, ∞/∞), as the ops'
# docstrings and the README list them: (name, x, "f" or "df").
DIFFERENCES = [
    *[(n, -np.inf, "f") for n in ("gelu", "silu", "mish", "gelu_tanh", "hardswish")],
    *[(n, v, "df") for n in ("gelu", "silu", "mish", "gelu_tanh") for v in (-np.inf, np.inf)],
    *[("softsign", v, k) for v in (-np.inf, np.inf) for k in ("f", "df")],
]


def _torch_witnesses(torch):
    F = torch.nn.functional
    zero = torch.zeros((), dtype=torch.float64)
    return {
        "identity": lambda t: t.clone(),
        "relu": F.relu,
        "leaky_relu": F.leaky_relu,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "softplus": F.softplus,
        "elu": F.elu,
        "gelu": F.gelu,
        "silu": F.silu,
        "mish": F.mish,
        "step": lambda t: torch.heaviside(t, zero),
        "relu6": F.relu6,
        "hardtanh": F.hardtanh,
        "hardsigmoid": F.hardsigmoid,  # its float64 backward is 3e-8 off: see DF_FACTOR
        "hardswish": F.hardswish,
        "selu": F.selu,
        "celu": F.celu,
        "softsign": F.softsign,
        "logsigmoid": F.logsigmoid,
        "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),
    }


# F.hardsigmoid's float64 backward multiplies by 1/6 rounded to float32 (a relative error of
# 3e-8, tested below); the records compare against relu6(x + 3)/6 in PyTorch instead, which
# differentiates exactly away from the kinks.
DF_FACTOR = {"hardsigmoid": 1e5}


def _grid() -> np.ndarray:
    """Dense on [−30, 30], plus both tails, the kinks, PyTorch's softplus threshold, the dips."""
    rng = np.random.default_rng(7)
    dips = [a.minimum_at for a in ACTIVATIONS.values() if a.minimum_at is not None]
    kinks = [0.0, -0.0, 20.0, 3.0, -3.0, 6.0, 1.0, -1.0]
    beside = [np.nextafter(k, s * np.inf) for k in kinks for s in (-1, 1)]
    special = [*kinks, *beside, 20 + 1e-9, 20 - 1e-9, 1e-300, -1e-300, *dips]
    tails = np.geomspace(1e-12, 1e4, 400)
    far = np.array([700.0, 709.5, 745.0, 1000.0])
    return np.concatenate(
        [
            np.linspace(-30, 30, 6001),
            3 * rng.standard_normal(2000),
            tails,
            -tails,
            far,
            -far,
            special,
        ]
    )


GRID = _grid()
# windows of different scale, so that large |x| do not hide errors near 0
WINDOWS = [1.0, 10.0, 40.0, np.inf]


def _torch_value_and_grad(torch, fn, x, with_grad=True, **kwargs):
    """PyTorch's σ(x) and, by autograd, σ′(x) (None when not asked: heaviside has none)."""
    t = torch.tensor(x, dtype=torch.float64, requires_grad=with_grad)
    y = fn(t, **kwargs)
    if not with_grad:
        return y.numpy(), None
    y.backward(torch.ones_like(y))
    return y.detach().numpy(), t.grad.numpy()


# ---------------------------------------------------------------- registry and record
def test_registry_contents_and_flags():
    assert NAMES == list(EXPECTED)
    for name, (non_decreasing, dip, differentiable) in EXPECTED.items():
        a = ACTIVATIONS[name]
        assert a.name == name and get_activation(name) is a
        assert a.non_decreasing is non_decreasing and a.differentiable is differentiable
        if dip is None:
            assert a.minimum_at is None
        else:
            assert round(a.minimum_at, 4) == dip
        assert a.f is getattr(activations, name) and a.df is getattr(activations, f"{name}_grad")
        assert isinstance(a.formula, str) and a.formula
        assert name in repr(a) and a.formula in repr(a)
    assert cnnmath.ops.ACTIVATIONS is ACTIVATIONS and cnnmath.ops.Activation is Activation


def test_record_is_callable_frozen_and_passed_through():
    a = get_activation("tanh")
    x = np.linspace(-2, 2, 5)
    np.testing.assert_array_equal(a(x), np.tanh(x))
    assert get_activation(a) is a
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.non_decreasing = False
    custom = Activation("neg", lambda x: -x, lambda x: -np.ones_like(x), False, "-x")
    assert get_activation(custom) is custom and "neg" in repr(custom)


# ---------------------------------------------------------------- against PyTorch
@pytest.mark.parametrize("name", NAMES)
def test_value_and_derivative_match_pytorch(name):
    torch = pytest.importorskip("torch")
    a = ACTIVATIONS[name]
    fn = _torch_witnesses(torch)[name]
    want_f, want_df = _torch_value_and_grad(torch, fn, GRID, a.differentiable)
    got_f, got_df = a.f(GRID), a.df(GRID)
    for width in WINDOWS:
        inside = np.abs(GRID) <= width
        assert_close(got_f[inside], want_f[inside])
        if want_df is not None:  # step: PyTorch's heaviside has no derivative
            assert_close(got_df[inside], want_df[inside], factor=DF_FACTOR.get(name, 1.0))


def test_pytorch_hardsigmoid_backward_rounds_one_sixth_to_float32():
    """Why DF_FACTOR and the records' witness relu6(x + 3)/6: F.hardsigmoid's float64
    gradient is 1/6 rounded to float32, 3e-8 off; cnnmath's is 1/6 (to float64's last bit)."""
    torch = pytest.importorskip("torch")
    t = torch.tensor([0.5], dtype=torch.float64, requires_grad=True)
    torch.nn.functional.hardsigmoid(t).backward(torch.ones(1, dtype=torch.float64))
    assert t.grad.item() == float(np.float32(1 / 6)) != 1 / 6
    assert activations.hardsigmoid_grad(np.array([0.5]))[0] == 1 / 6


def _close_at_unit_scale(got, want, factor=1.0):
    """Error relative to max(1, max|want|): PyTorch's own formulas are only that good (its
    tanh′ = 1 − tanh² and ½x(1 + erf(x/√2)) cancel in the tails; ours do not, see the
    mpmath test below), so a lone tail value is compared at the scale of 1."""
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    err = float(np.abs(got - want).max(initial=0.0)) / scale
    assert err <= 1e-12 * factor, f"error {err:.3g} at unit scale"


@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(max_dims=3, max_side=5),
        elements=st.floats(-50, 50, allow_subnormal=False),
    ),
    st.sampled_from(NAMES),
)
def test_any_array_matches_pytorch(x, name):
    torch = pytest.importorskip("torch")
    a = ACTIVATIONS[name]
    fn = _torch_witnesses(torch)[name]
    want_f, want_df = _torch_value_and_grad(torch, fn, x, a.differentiable)
    got_f = a.f(x)
    assert got_f.shape == x.shape
    _close_at_unit_scale(got_f, want_f)
    if want_df is not None:
        _close_at_unit_scale(a.df(x), want_df, DF_FACTOR.get(name, 1.0))


# ---------------------------------------------------------------- high precision
def _mpmath_references(mp):
    def sig(x):
        return 1 / (1 + mp.exp(-x))

    def sp(x):
        return mp.log1p(mp.exp(x))

    slope = mp.mpf(0.01)
    scale, alpha = mp.mpf(activations.SELU_SCALE), mp.mpf(activations.SELU_ALPHA)

    def gelu_tanh_pair(x):
        """½x(1 + tanh y) = x·sigmoid(2y) and its derivative (1 + tanh y cancels even at
        40 digits in the far left tail; the sigmoid form does not)."""
        k, c = mp.sqrt(2 / mp.pi), mp.mpf(0.044715)
        s = sig(2 * k * (x + c * x**3))
        return x * s, s + 2 * x * s * (1 - s) * k * (1 + 3 * c * x * x)

    return {
        "identity": (lambda x: x, lambda x: 1),
        "relu": (lambda x: max(x, 0), lambda x: 1 if x > 0 else 0),
        "leaky_relu": (lambda x: x if x > 0 else slope * x, lambda x: 1 if x > 0 else slope),
        "sigmoid": (sig, lambda x: sig(x) * sig(-x)),
        "tanh": (mp.tanh, lambda x: mp.sech(x) ** 2),
        "softplus": (lambda x: x if x > 20 else sp(x), lambda x: 1 if x > 20 else sig(x)),
        "elu": (lambda x: x if x > 0 else mp.expm1(x), lambda x: 1 if x > 0 else mp.exp(x)),
        "gelu": (lambda x: x * mp.ncdf(x), lambda x: mp.ncdf(x) + x * mp.npdf(x)),
        "silu": (lambda x: x * sig(x), lambda x: sig(x) * (1 + x * sig(-x))),
        "mish": (
            lambda x: x * mp.tanh(sp(x)),
            lambda x: mp.tanh(sp(x)) + x * mp.sech(sp(x)) ** 2 * sig(x),
        ),
        "step": (lambda x: 1 if x > 0 else 0, lambda x: 0),
        "relu6": (lambda x: min(max(x, 0), 6), lambda x: 1 if 0 < x < 6 else 0),
        "hardtanh": (lambda x: min(max(x, -1), 1), lambda x: 1 if -1 < x < 1 else 0),
        "hardsigmoid": (
            lambda x: min(max(x + 3, 0), 6) / 6,
            lambda x: mp.mpf(1) / 6 if -3 < x < 3 else 0,
        ),
        "hardswish": (
            lambda x: x * min(max(x + 3, 0), 6) / 6,
            lambda x: 0 if x <= -3 else (1 if x >= 3 else (2 * x + 3) / 6),
        ),
        "selu": (
            lambda x: scale * (x if x > 0 else alpha * mp.expm1(x)),
            lambda x: scale * (1 if x > 0 else alpha * mp.exp(x)),
        ),
        "celu": (lambda x: x if x > 0 else mp.expm1(x), lambda x: 1 if x > 0 else mp.exp(x)),
        "softsign": (lambda x: x / (1 + abs(x)), lambda x: 1 / (1 + abs(x)) ** 2),
        "logsigmoid": (lambda x: -sp(-x), lambda x: sig(-x)),
        "gelu_tanh": (lambda x: gelu_tanh_pair(x)[0], lambda x: gelu_tanh_pair(x)[1]),
    }


# GELU's tail inherits erfc's sensitivity to its argument: x/√2 is rounded, and erfc(y) ≈
# exp(−y²) magnifies that relative error 2y² times (6e-14 at x = −24).
ELEMENT_RTOL = {"gelu": 3e-13, "gelu_tanh": 3e-13}


@pytest.mark.parametrize("name", NAMES)
def test_each_value_accurate_against_mpmath(name):
    """Element by element, relative to each value, through both tails down to 1e-290: the
    stable forms keep full relative accuracy where textbook formulas cancel or overflow."""
    mp = pytest.importorskip("mpmath")
    a = ACTIVATIONS[name]
    rng = np.random.default_rng(9)
    tail = np.geomspace(1e-8, 700, 100)
    x = np.concatenate([tail, -tail, rng.uniform(-8, 8, 80)])
    with mp.workdps(40):
        for func, ref in zip((a.f, a.df), _mpmath_references(mp)[name], strict=True):
            want = np.array([float(ref(mp.mpf(v))) for v in x])
            got = func(x)
            # absolute accuracy only: results near subnormal, and σ′ near its root
            absolute = np.abs(want) < 1e-290
            if a.minimum_at is not None and func is a.df:
                absolute |= np.abs(x - a.minimum_at) < 0.05
            rtol = ELEMENT_RTOL.get(name, 1e-14)
            np.testing.assert_allclose(got[~absolute], want[~absolute], rtol=rtol)
            np.testing.assert_allclose(got[absolute], want[absolute], rtol=0, atol=1e-15)


def test_step_has_zero_derivative_and_is_skipped_by_gradient_checks():
    a = ACTIVATIONS["step"]
    x = np.array([-3.0, -0.0, 0.0, 1e-300, 2.0])
    np.testing.assert_array_equal(a.f(x), [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(a.df(x), 0)
    assert not a.differentiable and "step" not in DIFFERENTIABLE


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "name, kwargs",
    [("relu", {}), ("relu6", {}), ("hardtanh", {}), ("hardtanh", {"min_val": -0.5, "max_val": 2})],
)
def test_clamps_are_pytorchs_to_the_bit(name, kwargs, dtype):
    """relu, relu6 and hardtanh give PyTorch's bits, the sign of zero included (−0 stays −0
    inside the bounds, where np.maximum(−0, 0) would give +0), NaN and ±inf kept, on an
    array of several blocks and on a strided view. NumPy 2.0's np.clip turns −0 into +0 at
    a lower bound of 0 (2.1 and later keep it): there relu's and relu6's zeros are compared
    as values."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    witness = {"relu": F.relu, "relu6": F.relu6, "hardtanh": F.hardtanh}[name]
    rng = np.random.default_rng(3)
    special = [-0.0, 0.0, np.nan, np.inf, -np.inf, 6.0, -1.0, 1.0, 2.0, -0.5, 1e-30, -1e-30]
    x = np.concatenate([special, 4 * rng.standard_normal(3 * (1 << 16))]).astype(dtype)
    f = getattr(activations, name)
    keeps_negative_zero = _CLIP_KEEPS_NEGATIVE_ZERO or name == "hardtanh"  # a bound below 0
    for arr in (x, x.reshape(-1, 4)[:, ::2]):
        got = f(arr, **kwargs)
        want = witness(torch.from_numpy(np.ascontiguousarray(arr)), **kwargs).numpy()
        if not keeps_negative_zero:
            want = np.where(want == 0, np.abs(want), want)
        assert got.dtype == arr.dtype and got.shape == arr.shape
        assert got.tobytes() == want.tobytes()
    negative_zero = f(np.array([-0.0], dtype=dtype), **kwargs)
    assert np.signbit(negative_zero)[0] == keeps_negative_zero


_CLIP_KEEPS_NEGATIVE_ZERO = tuple(int(v) for v in np.__version__.split(".")[:2]) >= (2, 1)


def test_kinks_take_pytorchs_one_sided_values():
    zero = np.zeros(3)
    np.testing.assert_array_equal(activations.relu_grad(zero), 0)
    np.testing.assert_array_equal(activations.leaky_relu_grad(zero), 0.01)
    np.testing.assert_array_equal(activations.elu_grad(zero), 1)
    np.testing.assert_array_equal(activations.elu_grad(zero, alpha=0.5), 0.5)
    at, above = np.array([20.0]), np.array([np.nextafter(20.0, 21.0)])
    assert softplus(above)[0] == above[0] and activations.softplus_grad(above)[0] == 1.0
    assert activations.softplus_grad(at)[0] == pytest.approx(1 - math.exp(-20), rel=1e-15)


# ---------------------------------------------------------------- result 4's flag
DENSE = np.concatenate(
    [np.linspace(-60, 60, 240_001), np.geomspace(60, 1e4, 2000), -np.geomspace(60, 1e4, 2000)]
)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", NAMES)
def test_non_decreasing_flag_on_a_dense_grid(name, dtype):
    a = ACTIVATIONS[name]
    g = np.unique(DENSE.astype(dtype))  # sorted
    y = a.f(g)
    if a.non_decreasing:
        assert np.all(np.diff(y) >= 0)
    else:
        assert np.any(np.diff(y) < 0)
        i = int(np.argmin(y))  # the grid's lowest point is the dip
        assert abs(g[i] - a.minimum_at) <= (1e-3 if dtype is np.float64 else 1e-2)
        assert np.all(np.diff(y[: i + 1]) <= 0) and np.all(np.diff(y[i:]) >= 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", MONOTONE)
def test_non_decreasing_to_the_last_bit(name, dtype):
    """Runs of 128 consecutive floats: the computed σ itself keeps order, so result 4 holds
    exactly in floating point, not just to rounding."""
    rng = np.random.default_rng(11)
    centers = np.concatenate([rng.uniform(-40, 40, 1000), rng.standard_normal(1000)])
    centers = centers.astype(dtype)
    ints = np.int64 if dtype is np.float64 else np.int32
    runs = centers.view(ints)[:, None] + np.arange(-64, 64, dtype=ints)
    runs = np.sort(runs.view(dtype), axis=1)
    y = ACTIVATIONS[name].f(runs)
    assert np.all(np.diff(y, axis=1) >= 0)


def test_softplus_threshold_jump_is_pytorchs():
    """PyTorch's softplus returns x above its threshold 20, where log(1 + eˣ) = x + 2.1e-9:
    in float64 the value drops by that much just above 20 (in float32 it rounds away)."""
    x = np.array([20.0, np.nextafter(20.0, 21.0)])
    y = softplus(x)
    assert y[1] < y[0]
    assert y[0] - y[1] == pytest.approx(math.log1p(math.exp(-20.0)), rel=1e-5)
    assert np.all(np.diff(softplus(x.astype(np.float32))) >= 0)


def _bisect_root(df, lo, hi):
    while True:
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            return mid
        if df(np.array(mid)) < 0:
            lo = mid
        else:
            hi = mid


@pytest.mark.parametrize("name", DIPPING)
def test_minimum_at_is_the_root_of_the_derivative(name):
    a = ACTIVATIONS[name]
    assert _bisect_root(a.df, -3.0, -0.3) == pytest.approx(a.minimum_at, abs=1e-14)
    m = a.minimum_at
    assert abs(a.df(np.array(m))) < 1e-15
    assert a.df(np.array(m - 1e-6)) < 0 < a.df(np.array(m + 1e-6))


@pytest.mark.parametrize(
    "name, depth",
    [
        ("gelu", -0.16997),
        ("silu", -0.27846),
        ("mish", -0.30884),
        ("gelu_tanh", -0.17004),
        ("hardswish", -0.375),
    ],
)
def test_dip_depths(name, depth):
    a = ACTIVATIONS[name]
    assert a.f(np.array(a.minimum_at)) == pytest.approx(depth, abs=1e-5)


@pytest.mark.parametrize("name", DIPPING)
def test_dip_breaks_result_4(name):
    """A window holding the dip and a point far below: σ(max N) < max σ(N)."""
    a = ACTIVATIONS[name]
    window = np.array([a.minimum_at, a.minimum_at - 5.0])
    assert a.f(np.array(window.max())) < a.f(window).max()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", MONOTONE)
def test_max_commutes_exactly_with_monotone_activations(name, dtype):
    """Result 4 over windows of 4, some of whose values differ in the last bits only."""
    rng = np.random.default_rng(5)
    base = (rng.standard_normal((500, 1)) * 10).astype(dtype)
    ints = np.int64 if dtype is np.float64 else np.int32
    near = (base.view(ints) + rng.integers(-3, 4, (500, 4)).astype(ints)).view(dtype)
    windows = np.concatenate([near, (rng.standard_normal((500, 4)) * 10).astype(dtype)])
    a = ACTIVATIONS[name]
    np.testing.assert_array_equal(a.f(windows.max(axis=1)), a.f(windows).max(axis=1))


# ---------------------------------------------------------------- edges, dtypes, warnings
@pytest.mark.parametrize("name", NAMES)
def test_infinities_give_the_limits(name):
    a = ACTIVATIONS[name]
    f_lo, f_hi, df_lo, df_hi = LIMITS[name]
    x = np.array([-np.inf, np.inf])
    np.testing.assert_array_equal(a.f(x), [f_lo, f_hi])
    np.testing.assert_array_equal(a.df(x), [df_lo, df_hi])


@pytest.mark.parametrize("name, x, which", DIFFERENCES)
def test_documented_differences_from_pytorch(name, x, which):
    """cnnmath gives the limit, PyTorch NaN: each listed point is still a real difference
    (the records leave these values out of their NaN/±inf comparison, and only these)."""
    torch = pytest.importorskip("torch")
    a = ACTIVATIONS[name]
    fn = _torch_witnesses(torch)[name]
    want_f, want_df = _torch_value_and_grad(torch, fn, np.array([x] * 64))
    torch_value = (want_f if which == "f" else want_df)[0]
    ours = (a.f if which == "f" else a.df)(np.array([x]))[0]
    assert np.isnan(torch_value) and not np.isnan(ours)
    limit = LIMITS[name][(0 if x < 0 else 1) + (0 if which == "f" else 2)]
    assert ours == limit
    assert "PyTorch" in a.f.__doc__ and "NaN" in a.f.__doc__  # the difference is documented


def _wide_range() -> np.ndarray:
    edge = np.arange(709.0, 1000.5, 0.5)
    tiny = np.array([5e-324, 1e-310, 1e-300, 1e-40])
    huge = np.array([1e38, 3e38, 1e300, 1.7e308])
    values = np.concatenate([np.linspace(-1e4, 1e4, 20_001), edge, tiny, huge])
    return np.concatenate([values, -values])


@pytest.mark.parametrize("name", NAMES)
def test_no_floating_point_warnings_and_finite_results(name):
    a = ACTIVATIONS[name]
    x64 = _wide_range()
    x32 = x64[np.abs(x64) < 3e38].astype(np.float32)
    with np.errstate(all="raise"):
        for x in (x64, x32):
            for y in (a.f(x), a.df(x)):
                assert y.dtype == x.dtype and np.all(np.isfinite(y)), name


@given(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(NAMES))
def test_any_finite_float_without_warnings(v, name):
    a = ACTIVATIONS[name]
    with np.errstate(all="raise"):
        for x in (np.array(v), np.array(np.float32(v) if abs(v) < 3e38 else 0, np.float32)):
            assert np.isfinite(a.f(x)) and np.isfinite(a.df(x))


@pytest.mark.parametrize("shape", [(), (0,), (7,), (2, 3, 4)])
@pytest.mark.parametrize("name", NAMES)
def test_dtype_and_shape_preserved(name, shape):
    a = ACTIVATIONS[name]
    x64 = np.asarray(np.random.default_rng(2).standard_normal(shape) * 4)
    x32 = x64.astype(np.float32)
    for func in (a.f, a.df):
        y64, y32 = func(x64), func(x32)
        assert isinstance(y64, np.ndarray) and isinstance(y32, np.ndarray)
        assert y64.shape == shape and y32.shape == shape
        assert y64.dtype == np.float64 and y32.dtype == np.float32
        assert y64 is not x64 and not np.shares_memory(y64, x64)
        assert_close(y32, func(x32.astype(np.float64)), np.float32)


# ---------------------------------------------------------------- bad input
ERRORS = [
    (
        lambda: get_activation("swish"),
        ValueError,
        r"unknown activation 'swish'; known: identity, relu, leaky_relu, sigmoid, tanh, "
        r"softplus, elu, gelu, silu, mish, step, relu6, hardtanh, hardsigmoid, hardswish, "
        r"selu, celu, softsign, logsigmoid, gelu_tanh$",
    ),
    (lambda: get_activation("ReLU"), ValueError, r"known: identity, relu"),
    (lambda: get_activation(None), TypeError, r"get_activation: name: expected a str or an Act"),
    (lambda: activations.elu(np.ones(2), 0.5), TypeError, r"positional"),
    (lambda: Activation("", np.abs, np.sign, False, "|x|"), TypeError, r"name: expected a non"),
    (lambda: Activation("abs", "abs", np.sign, False, "|x|"), TypeError, r"f: expected a callable"),
    (lambda: Activation("abs", np.abs, None, False, "|x|"), TypeError, r"df: expected a callable"),
    (
        lambda: Activation("abs", np.abs, np.sign, 0, "|x|"),
        TypeError,
        r"non_decreasing: expected a bool",
    ),
    (lambda: Activation("abs", np.abs, np.sign, False, None), TypeError, r"formula: expected"),
    (
        lambda: Activation("abs", np.abs, np.sign, False, "|x|", minimum_at="0"),
        TypeError,
        r"minimum_at: expected a real number",
    ),
    (
        lambda: Activation("abs", np.abs, np.sign, False, "|x|", differentiable=None),
        TypeError,
        r"differentiable: expected a bool",
    ),
    (
        lambda: Activation("relu2", np.abs, np.sign, True, "x", minimum_at=0.0),
        ValueError,
        r"a non-decreasing activation has no dip",
    ),
]


@pytest.mark.parametrize("call, exc, pattern", ERRORS)
def test_bad_input(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()
