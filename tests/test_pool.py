"""Pooling and its backward passes against the reference loops, SciPy's ndimage filters,
PyTorch and finite differences. The op records (tests/records/pool.py) check every option
sample by sample; this module adds drawn geometries, hand-worked examples of the rules
(ceil_mode's last window, the adaptive windows, global pooling), the tie/NaN/-inf rule of
the chosen element under every option, and max_unpool2d after max_pool2d."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import ndimage

from cnnmath import (
    adaptive_avg_pool2d,
    adaptive_avg_pool2d_backward,
    adaptive_max_pool2d,
    adaptive_max_pool2d_backward,
    avg_pool2d,
    avg_pool2d_backward,
    max_pool2d,
    max_pool2d_backward,
    max_unpool2d,
    max_unpool2d_backward,
    reference,
)
from cnnmath.gradcheck import check_gradients
from helpers import assert_close

POOLS = {
    "max": (max_pool2d, max_pool2d_backward, reference.max_pool2d, reference.max_pool2d_backward),
    "avg": (avg_pool2d, avg_pool2d_backward, reference.avg_pool2d, reference.avg_pool2d_backward),
}

# (x shape, kernel_size, stride, padding)
SAMPLES = [
    ((2, 3, 8, 8), 2, None, 0),
    ((2, 3, 9, 9), 3, 2, 1),
    ((1, 2, 7, 9), (3, 2), (1, 2), (1, 0)),
    ((2, 1, 10, 7), 3, 3, 0),  # rows and columns left over by the floor
    ((1, 2, 5, 5), 5, 1, 2),
    ((1, 1, 6, 6), 1, 1, 0),
    ((3, 6, 6), 2, None, 0),  # unbatched
]
IDS = [f"x{s[0]}-k{s[1]}-s{s[2]}-p{s[3]}" for s in SAMPLES]


def _x(shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _b(a):
    return a if a.ndim == 4 else a[None]


@pytest.mark.parametrize("kind", POOLS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_matches_reference(sample, dtype, kind):
    f, fb, ref_f, ref_fb = POOLS[kind]
    shape, k, s, p = sample
    x = _x(shape, dtype)
    y = f(x, k, s, p)
    assert y.dtype == dtype and y.ndim == x.ndim
    assert_close(_b(y), ref_f(_b(x), k, s, p), dtype)
    g = _x(y.shape, dtype, seed=1)
    gx = fb(g, x, k, s, p)
    assert gx.shape == x.shape and gx.dtype == dtype
    assert_close(_b(gx), ref_fb(_b(g), _b(x), k, s, p), dtype)


@pytest.mark.parametrize("kind", POOLS)
@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_matches_scipy_ndimage(sample, kind):
    shape, k, s, p = sample
    x = _b(_x(shape))
    k1, k2 = np.broadcast_to(k, 2)
    s1, s2 = np.broadcast_to(k if s is None else s, 2)
    p1, p2 = np.broadcast_to(p, 2)
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x, [(0, 0), (0, 0), (p1, p1), (p2, p2)], constant_values=fill)
    filt = ndimage.maximum_filter if kind == "max" else ndimage.uniform_filter
    # origin moves each window's anchor to its top-left element
    full = filt(
        xp, size=(1, 1, k1, k2), mode="constant", cval=fill, origin=(0, 0, -(k1 // 2), -(k2 // 2))
    )
    H, W = (xp.shape[2] - k1) // s1 + 1, (xp.shape[3] - k2) // s2 + 1
    want = full[:, :, : s1 * (H - 1) + 1 : s1, : s2 * (W - 1) + 1 : s2]
    assert_close(_b(POOLS[kind][0](_x(shape), k, s, p)), want)


@pytest.mark.parametrize("kind", POOLS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_against_pytorch(sample, dtype, kind):
    torch = pytest.importorskip("torch")
    f, fb, *_ = POOLS[kind]
    shape, k, s, p = sample
    x = _x(shape, dtype)
    tx = torch.tensor(x, requires_grad=True)
    tf = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d
    ty = tf(tx, k, s, p)
    g = _x(tuple(ty.shape), dtype, seed=3)
    ty.backward(torch.tensor(g))
    assert_close(f(x, k, s, p), ty.detach().numpy(), dtype)
    assert_close(fb(g, x, k, s, p), tx.grad.numpy(), dtype)


def test_max_pool_ties_send_the_gradient_to_the_first_maximum():
    x = np.ones((1, 1, 4, 4))
    g = np.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    gx = max_pool2d_backward(g, x, 2)
    want = np.zeros_like(x)
    want[0, 0, ::2, ::2] = g[0, 0]
    np.testing.assert_array_equal(gx, want)
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(tx, 2).backward(torch.tensor(g))
    np.testing.assert_array_equal(gx, tx.grad.numpy())


def test_overlapping_windows_accumulate_gradient():
    # One large value read by every window of a stride-1 pool collects every output's gradient.
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 5.0
    gx = max_pool2d_backward(np.ones((1, 1, 2, 2)), x, 2, 1)
    assert gx[0, 0, 1, 1] == 4.0 and gx.sum() == 4.0


@pytest.mark.parametrize("kind", POOLS)
@pytest.mark.parametrize("sample", SAMPLES[:5], ids=IDS[:5])
def test_gradients_match_finite_differences(sample, kind):
    f, fb, *_ = POOLS[kind]
    shape, k, s, p = sample
    # distinct, well-separated values so the arg-max does not move under the perturbation
    x = np.random.default_rng(0).permutation(np.prod(shape)).reshape(shape) * 0.01
    check_gradients(lambda x_: f(x_, k, s, p), lambda g, x_: fb(g, x_, k, s, p), [x], rtol=1e-7)


@pytest.mark.parametrize("kind", POOLS)
def test_nan_and_inf_propagate(kind):
    f, fb, *_ = POOLS[kind]
    x = _x((1, 1, 6, 6))
    x[0, 0, 2, 3] = np.nan
    x[0, 0, 5, 0] = np.inf
    y = f(x, 2)
    assert np.isnan(y[0, 0, 1, 1]) and np.isposinf(y[0, 0, 2, 0])
    assert np.isfinite(np.delete(y.ravel(), [4, 6])).all()
    gx = fb(np.ones_like(y), x, 2)
    assert np.isfinite(gx).all()
    if kind == "max":  # the gradient goes to the NaN, as PyTorch's kernel does
        assert gx[0, 0, 2, 3] == 1.0 and gx[0, 0, 5, 0] == 1.0


@pytest.mark.parametrize("kind", POOLS)
@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_nan_reaches_exactly_the_windows_that_hold_it(sample, kind):
    """Overlapping, padded and strided windows: NaN in y exactly where a window reads it."""
    f, fb, *_ = POOLS[kind]
    shape, k, s, p = sample
    x = _b(_x(shape)).copy()
    i, j = x.shape[2] // 2, x.shape[3] // 2
    x[0, 0, i, j] = np.nan
    y = _b(f(x if len(shape) == 4 else x[0], k, s, p))
    # which outputs read (i, j): pool an indicator with the same geometry (avg > 0 iff read)
    marker = np.zeros_like(x)
    marker[0, 0, i, j] = 1.0
    reads = avg_pool2d(marker, k, s, p) > 0
    np.testing.assert_array_equal(np.isnan(y), reads)
    g = np.ones_like(y)
    g[np.isnan(y)] = np.nan
    g[..., 0, 0] = np.inf  # and a non-finite upstream gradient where x is finite
    gx = _b(fb(g if len(shape) == 4 else g[0], x if len(shape) == 4 else x[0], k, s, p))
    if kind == "avg":  # a NaN upstream gradient flows back to every element its window pooled
        np.testing.assert_array_equal(
            np.isnan(gx), avg_pool2d_backward(reads * 1.0, marker, k, s, p) > 0
        )
    else:  # only to the element that held the maximum (the NaN), never to its neighbours
        assert np.isnan(gx[0, 0, i, j]) == bool(reads.any())
    # both: exactly the reference's NaN and inf pattern, and its finite values
    want = POOLS[kind][3](g, x, k, s, p)
    np.testing.assert_array_equal(np.isnan(gx), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(gx), np.isinf(want))
    assert_close(gx[np.isfinite(want)], want[np.isfinite(want)])


@given(
    data=st.data(),
    k1=st.integers(1, 4),
    k2=st.integers(1, 4),
    s1=st.integers(1, 3),
    s2=st.integers(1, 3),
    dtype=st.sampled_from([np.float32, np.float64]),
    kind=st.sampled_from(sorted(POOLS)),
)
def test_hypothesis_against_reference(data, k1, k2, s1, s2, dtype, kind):
    p1 = data.draw(st.integers(0, k1 // 2), label="p1")
    p2 = data.draw(st.integers(0, k2 // 2), label="p2")
    m = data.draw(st.integers(max(1, k1 - 2 * p1), 9), label="m")
    n = data.draw(st.integers(max(1, k2 - 2 * p2), 9), label="n")
    B, C = data.draw(st.integers(1, 2), label="B"), data.draw(st.integers(1, 3), label="C")
    x = _x((B, C, m, n), dtype, seed=data.draw(st.integers(0, 999), label="seed"))
    f, fb, ref_f, ref_fb = POOLS[kind]
    k, s, p = (k1, k2), (s1, s2), (p1, p2)
    y = f(x, k, s, p)
    assert_close(y, ref_f(x, k, s, p), dtype)
    g = _x(y.shape, dtype, seed=7)
    assert_close(fb(g, x, k, s, p), ref_fb(g, x, k, s, p), dtype)


x4 = np.zeros((1, 2, 5, 5))
ERRORS = [
    (lambda: max_pool2d(np.zeros((5, 5)), 2), ValueError, r"x\[None, None\]"),
    (lambda: avg_pool2d(np.zeros((2, 1, 1, 5, 5)), 2), ValueError, r"x: expected a 3-D or 4-D"),
    (lambda: max_pool2d(x4, 0), ValueError, r"kernel_size: expected values >= 1, got 0"),
    (lambda: avg_pool2d(x4, 2, stride=0), ValueError, r"stride: expected values >= 1"),
    (lambda: max_pool2d(x4, 2, padding=2), ValueError, r"padding: expected at most half"),
    (lambda: max_pool2d(x4, 2, padding=-1), ValueError, r"padding: expected values >= 0"),
    (lambda: avg_pool2d(x4, 6), ValueError, r"kernel_size.*height 6.*input height 5"),
    (
        lambda: max_pool2d(x4.astype(np.uint8), 2),
        TypeError,
        r"x: expected dtype float32 or float64",
    ),
    (lambda: avg_pool2d(x4, "2"), TypeError, r"kernel_size: expected an int or a pair"),
    (lambda: max_pool2d(x4, 3, padding="same"), TypeError, r"padding: expected an int or a pair"),
    (
        lambda: avg_pool2d(x4, 3, padding=(1, 2, 3)),
        TypeError,
        r"padding: expected an int or a pair",
    ),
    (
        lambda: max_pool2d_backward(np.zeros((2, 2)), np.zeros((5, 5)), 2),
        ValueError,
        r"x\[None, None\]",
    ),
    (
        lambda: avg_pool2d_backward(np.zeros((1, 2, 2, 2)), x4.astype(np.int16), 2),
        TypeError,
        r"x: expected dtype float32 or float64",
    ),
    (
        lambda: max_pool2d_backward(np.zeros((1, 2, 3, 3)), x4, 2),
        ValueError,
        r"grad_output: expected shape \(1, 2, 2, 2\), got \(1, 2, 3, 3\)",
    ),
    (
        lambda: avg_pool2d_backward(np.zeros((1, 2, 2, 2), np.float32), x4, 2),
        TypeError,
        r"grad_output is float32, x is float64",
    ),
    (
        lambda: max_pool2d_backward(np.zeros((1, 2, 2, 2)), x4, 2, indices=np.zeros((1, 2, 2))),
        TypeError,
        r"indices: expected an integer array of grad_output's shape \(1, 2, 2, 2\)",
    ),
    (
        lambda: max_pool2d_backward(np.zeros((1, 2, 2, 2)), x4, 2, indices=np.zeros((1, 2, 2, 2))),
        TypeError,
        r"indices: expected an integer array .* got an array of dtype float64",
    ),
    (
        lambda: max_pool2d_backward(
            np.zeros((1, 2, 2, 2)), x4, 2, indices=np.full((1, 2, 2, 2), 25)
        ),
        ValueError,
        r"indices: expected positions in \[0, 25\) of a plane of x 5x5, got values from 25",
    ),
    (
        lambda: max_pool2d_backward(
            np.zeros((1, 2, 2, 2)), x4, 2, indices=-np.ones((1, 2, 2, 2), int)
        ),
        ValueError,
        r"indices: expected positions in \[0, 25\)",
    ),
]


@pytest.mark.parametrize("call, exc, pattern", ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_bad_input(call, exc, pattern):
    with pytest.raises(exc, match=pattern) as info:
        call()
    assert "pool2d" in str(info.value)


def test_max_pool_backward_routes_by_the_indices_it_is_given():
    """Given indices, the backward reads the choice from them, not from x: every window
    naming position 0 of its plane sends all of G there, summed (and nothing elsewhere),
    and a chosen element routed twice collects both."""
    x = _x((2, 3, 6, 6))
    g = _x((2, 3, 3, 3), seed=1)
    gx = max_pool2d_backward(g, x, 2, indices=np.zeros(g.shape, dtype=np.int32))
    np.testing.assert_allclose(gx[:, :, 0, 0], g.sum(axis=(2, 3)), rtol=1e-12)
    gx[:, :, 0, 0] = 0
    assert not gx.any()
    unbatched = max_pool2d_backward(g[0], x[0], 3, 2, 1, indices=np.full(g[0].shape, 35))
    np.testing.assert_allclose(unbatched[:, 5, 5], g[0].sum(axis=(1, 2)), rtol=1e-12)
    for dtype in (np.uint8, np.uint64, np.int16):  # any integer dtype
        gx = max_pool2d_backward(g, x, 2, indices=np.full(g.shape, 7, dtype=dtype))
        np.testing.assert_allclose(gx[:, :, 1, 1], g.sum(axis=(2, 3)), rtol=1e-12)


def _hard_max_input(shape, seed):
    """Few distinct values (many ties), two NaNs in some windows, and an all -inf corner so
    that padded windows hold nothing but -inf among their real elements."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, size=shape).astype(np.float64)
    x[0, 0, 0:3, 0:3] = -np.inf
    x[0, -1, 2, 2] = x[0, -1, 2, 3] = x[0, -1, 3, 2] = np.nan
    x[-1, 0, -1, -1] = np.nan
    return x


@pytest.mark.parametrize("k, s, p", [(2, 2, 0), (3, 2, 1), (3, 1, 1), (2, 1, 1), (3, 3, 1)])
def test_max_pool_rule_on_ties_nans_and_infinities(k, s, p):
    """First maximum in row-major order wins ties, the last NaN wins, padding never does:
    as the reference loops and PyTorch's CPU kernel."""
    x = _hard_max_input((2, 2, 9, 8), seed=k * 10 + s + p)
    y = max_pool2d(x, k, s, p)
    np.testing.assert_array_equal(y, reference.max_pool2d(x, k, s, p))
    g = np.random.default_rng(1).standard_normal(y.shape)
    gx = max_pool2d_backward(g, x, k, s, p)
    np.testing.assert_allclose(
        gx, reference.max_pool2d_backward(g, x, k, s, p), rtol=1e-12, atol=1e-12
    )
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.max_pool2d(tx, k, s, p)
    ty.backward(torch.tensor(g))
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_max_pool_last_nan_takes_the_gradient():
    x = np.zeros((1, 1, 2, 2))
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = np.nan
    gx = max_pool2d_backward(np.ones((1, 1, 1, 1)), x, 2)
    want = np.zeros_like(x)
    want[0, 0, 1, 0] = 1.0  # the later NaN in row-major order
    np.testing.assert_array_equal(gx, want)


def test_max_pool_all_minus_infinity_window_picks_its_first_real_element():
    x = np.full((1, 1, 3, 3), -np.inf)
    gx = max_pool2d_backward(np.ones((1, 1, 2, 2)), x, 3, 2, 1)
    want = np.zeros_like(x)
    want[0, 0, :2, :2] = 1.0  # windows start at rows/columns -1, 1: first real ones 0, 1
    np.testing.assert_array_equal(gx, want)


@pytest.mark.parametrize("kind", POOLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_activations_against_pytorch(kind, dtype):
    """The benchmark's activation shape class, both windows, against PyTorch (float32 sums
    in another order: the tolerance of the dtype)."""
    torch = pytest.importorskip("torch")
    f, fb, *_ = POOLS[kind]
    tf = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d
    x = _x((4, 8, 28, 28), dtype, seed=5)
    for k, s, p in ((2, 2, 0), (3, 2, 1)):
        tx = torch.tensor(x, requires_grad=True)
        ty = tf(tx, k, s, p)
        g = _x(tuple(ty.shape), dtype, seed=6)
        ty.backward(torch.tensor(g))
        assert_close(f(x, k, s, p), ty.detach().numpy(), dtype)
        assert_close(fb(g, x, k, s, p), tx.grad.numpy(), dtype)


@pytest.mark.parametrize("k, s, p", [(2, 2, 0), (3, 2, 1), (2, 1, 0), (3, 3, 1)])
def test_blocks_of_planes_change_nothing(k, s, p, monkeypatch):
    """The ops work on blocks of (batch, channel) planes; with blocks of one plane or a few
    (block budget shrunk to bytes) every output and gradient still matches the reference."""
    from cnnmath.ops.pool import _common

    monkeypatch.setattr(_common, "_BLOCK_BYTES", 3 * 9 * 8 * 8)  # 3 planes per block
    x = _hard_max_input((2, 4, 9, 8), seed=3)
    g = np.random.default_rng(4).standard_normal(max_pool2d(x, k, s, p).shape)
    np.testing.assert_array_equal(max_pool2d(x, k, s, p), reference.max_pool2d(x, k, s, p))
    np.testing.assert_allclose(
        max_pool2d_backward(g, x, k, s, p),
        reference.max_pool2d_backward(g, x, k, s, p),
        rtol=1e-12,
        atol=1e-12,
    )
    x = np.nan_to_num(x, nan=0.5, neginf=-2.0)
    assert_close(avg_pool2d(x, k, s, p), reference.avg_pool2d(x, k, s, p))
    assert_close(avg_pool2d_backward(g, x, k, s, p), reference.avg_pool2d_backward(g, x, k, s, p))


# ---------------------------------------------------------------------------------------------
# The options: dilation, ceil_mode, return_indices, count_include_pad, divisor_override


@given(
    data=st.data(),
    k1=st.integers(1, 4),
    k2=st.integers(1, 4),
    s1=st.integers(1, 3),
    s2=st.integers(1, 3),
    d1=st.integers(1, 3),
    d2=st.integers(1, 3),
    ceil_mode=st.booleans(),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_hypothesis_max_pool_options_against_reference(
    data, k1, k2, s1, s2, d1, d2, ceil_mode, dtype
):
    p = (data.draw(st.integers(0, k1 // 2), label="p1"), data.draw(st.integers(0, k2 // 2)))
    # at least one window's extent (up to 10 rows: 4 taps 3 apart, no padding)
    m_min, n_min = (max(1, d * (k - 1) + 1 - 2 * q) for d, k, q in ((d1, k1, p[0]), (d2, k2, p[1])))
    m = data.draw(st.integers(m_min, max(m_min, 9)), label="m")
    n = data.draw(st.integers(n_min, max(n_min, 9)), label="n")
    x = _x((2, 2, m, n), dtype, seed=data.draw(st.integers(0, 999), label="seed"))
    opts = {"stride": (s1, s2), "padding": p, "dilation": (d1, d2), "ceil_mode": ceil_mode}
    try:
        want, want_idx = reference.max_pool2d(x, (k1, k2), return_indices=True, **opts)
    except ValueError:  # a dilated window that reads padding only: refused by both
        with pytest.raises(ValueError, match="dilation: expected every window"):
            max_pool2d(x, (k1, k2), **opts)
        return
    y, idx = max_pool2d(x, (k1, k2), return_indices=True, **opts)
    assert_close(y, want, dtype)
    np.testing.assert_array_equal(idx, want_idx)
    assert idx.dtype == np.int64
    g = _x(y.shape, dtype, seed=7)
    gx = max_pool2d_backward(g, x, (k1, k2), **opts)
    want_gx = reference.max_pool2d_backward(g, x, (k1, k2), **opts)
    assert_close(gx, want_gx, dtype)
    assert_close(max_pool2d_backward(g, x, (k1, k2), **opts, indices=idx), want_gx, dtype)


@given(
    data=st.data(),
    k1=st.integers(1, 4),
    k2=st.integers(1, 4),
    s1=st.integers(1, 3),
    s2=st.integers(1, 3),
    ceil_mode=st.booleans(),
    count_include_pad=st.booleans(),
    divisor_override=st.sampled_from([None, None, 1, 3, -2]),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_hypothesis_avg_pool_options_against_reference(
    data, k1, k2, s1, s2, ceil_mode, count_include_pad, divisor_override, dtype
):
    p = (data.draw(st.integers(0, k1 // 2), label="p1"), data.draw(st.integers(0, k2 // 2)))
    m = data.draw(st.integers(max(1, k1 - 2 * p[0]), 9), label="m")
    n = data.draw(st.integers(max(1, k2 - 2 * p[1]), 9), label="n")
    x = _x((1, 3, m, n), dtype, seed=data.draw(st.integers(0, 999), label="seed"))
    args = ((k1, k2), (s1, s2), p, ceil_mode, count_include_pad, divisor_override)
    y = avg_pool2d(x, *args)
    assert_close(y, reference.avg_pool2d(x, *args), dtype)
    g = _x(y.shape, dtype, seed=7)
    assert_close(
        avg_pool2d_backward(g, x, *args), reference.avg_pool2d_backward(g, x, *args), dtype
    )


@pytest.mark.parametrize(
    "m, k, s, p, want",
    [
        (5, 2, 2, 0, 3),  # floor gives 2; ceil adds the window at 4 holding x[4] alone
        (5, 3, 3, 1, 2),  # ceil(4/3) + 1 = 3, but window 2 would start at 5: past x
        (6, 3, 2, 1, 4),  # the last window starts at 5 and runs past the right padding
        (4, 2, 2, 1, 3),  # the last window starts at 3 (x's last row), padding after it
    ],
)
def test_ceil_mode_counts_windows_that_start_inside_x_or_its_left_padding(m, k, s, p, want):
    x = _x((1, 1, m, m))
    for f in (max_pool2d, avg_pool2d):
        assert f(x, k, s, p, ceil_mode=True).shape == (1, 1, want, want)
    torch = pytest.importorskip("torch")
    t = torch.nn.functional.max_pool2d(torch.tensor(x), k, s, p, ceil_mode=True)
    assert tuple(t.shape) == (1, 1, want, want)


def test_avg_pool_divisors_by_hand():
    """Ones in, so each output is its window's count of real elements over its divisor."""
    x = np.ones((1, 1, 5, 5))
    # window 3, stride 2, padding 1, ceil_mode: windows start at -1, 1, 3 (the last one runs
    # to 5, the right padding, which is counted) -> every divisor 9, edge windows hold 4 or 6
    y = avg_pool2d(x, 3, 2, 1, ceil_mode=True)
    np.testing.assert_allclose(y[0, 0] * 9, [[4, 6, 4], [6, 9, 6], [4, 6, 4]])
    # without the padding in the divisor every window of ones averages to 1
    np.testing.assert_allclose(avg_pool2d(x, 3, 2, 1, count_include_pad=False), 1.0)
    # window 2, stride 2, ceil_mode, 5 rows: the last window holds row 4 and a position past
    # x with no padding: PyTorch counts only what lies inside the padded input
    y = avg_pool2d(x, 2, 2, 0, ceil_mode=True)
    np.testing.assert_allclose(y[0, 0], 1.0)
    np.testing.assert_allclose(avg_pool2d(x, 2, divisor_override=3), 4 / 3)


def _hard_x(shape, seed):
    """Ties, NaNs, and -inf corners (see _hard_max_input), any shape."""
    x = _hard_max_input((2, 2, 9, 8), seed)[: shape[0], : shape[1], : shape[2], : shape[3]]
    return np.ascontiguousarray(x)


@pytest.mark.parametrize(
    "k, s, p, d, ceil_mode",
    [
        (3, 2, 1, 2, False),
        (2, 1, 1, 3, True),
        (3, 3, 1, 1, True),
        ((2, 3), (1, 2), 1, (3, 2), True),
    ],
)
def test_chosen_element_under_every_option_as_torch(k, s, p, d, ceil_mode):
    """Ties, NaNs and -inf windows with dilation and ceil_mode: the values, the indices and
    the gradient as PyTorch's CPU kernel and the reference loops."""
    torch = pytest.importorskip("torch")
    x = _hard_max_input((2, 2, 9, 8), seed=11)
    y, idx = max_pool2d(x, k, s, p, d, ceil_mode, True)
    want, want_idx = reference.max_pool2d(x, k, s, p, d, ceil_mode, True)
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(idx, want_idx)
    g = np.random.default_rng(2).standard_normal(y.shape)
    gx = max_pool2d_backward(g, x, k, s, p, d, ceil_mode)
    gx_by_indices = max_pool2d_backward(g, x, k, s, p, d, ceil_mode, indices=idx)
    tx = torch.tensor(x, requires_grad=True)
    ty, ti = torch.nn.functional.max_pool2d(tx, k, s, p, d, ceil_mode, True)
    ty.backward(torch.tensor(g))
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(idx, ti.numpy())
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gx_by_indices, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# max_unpool2d


@pytest.mark.parametrize(
    "shape, k, s, p", [((2, 3, 8, 8), 2, 2, 0), ((1, 2, 9, 7), 3, 2, 1), ((2, 2, 7, 8), 3, 1, 1)]
)
def test_unpool_after_max_pool_as_torch(shape, k, s, p):
    """max_pool2d's indices fed to max_unpool2d (overlapping windows repeat indices): each
    maximum back where it came from, and the forward and gradient as PyTorch's."""
    torch = pytest.importorskip("torch")
    x = _x(shape, seed=4)
    y, idx = max_pool2d(x, k, s, p, return_indices=True)
    u = max_unpool2d(y, idx, k, s, p, output_size=shape[-2:])
    planes = (*y.shape[:2], -1)
    back = np.take_along_axis(u.reshape(planes), idx.reshape(planes), axis=2)
    np.testing.assert_array_equal(back, y.reshape(planes))
    np.testing.assert_array_equal(u[u != 0], x[u != 0])
    ty = torch.tensor(y, requires_grad=True)
    tu = torch.nn.functional.max_unpool2d(ty, torch.tensor(idx), k, s, p, output_size=shape[-2:])
    np.testing.assert_array_equal(u, tu.detach().numpy())
    g = _x(u.shape, seed=5)
    tu.backward(torch.tensor(g))
    gx = max_unpool2d_backward(g, y, idx, k, s, p, output_size=shape[-2:])
    np.testing.assert_array_equal(gx, ty.grad.numpy())


def test_unpool_repeated_indices_keep_the_last_value_as_torch():
    torch = pytest.importorskip("torch")
    x = _x((2, 3, 3, 3), seed=6)
    idx = np.random.default_rng(6).integers(0, 5, size=x.shape)  # many repeats in a 6x6 plane
    u = max_unpool2d(x, idx, 2)
    np.testing.assert_array_equal(u, reference.max_unpool2d(x, idx, 2))
    tx = torch.tensor(x, requires_grad=True)
    tu = torch.nn.functional.max_unpool2d(tx, torch.tensor(idx), 2)
    np.testing.assert_array_equal(u, tu.detach().numpy())
    g = _x(u.shape, seed=7)
    tu.backward(torch.tensor(g))
    np.testing.assert_array_equal(max_unpool2d_backward(g, x, idx, 2), tx.grad.numpy())


# ---------------------------------------------------------------------------------------------
# Adaptive pooling


def test_adaptive_windows_follow_the_spec_formula():
    """Cell i of n over a length m reads [floor(i m / n), ceil((i+1) m / n)): over 0..6 in
    three cells that is [0, 3), [2, 5), [4, 7), means 1, 3, 5 and maxima at 2, 4, 6."""
    x = np.arange(7.0).reshape(1, 1, 1, 7)
    np.testing.assert_array_equal(adaptive_avg_pool2d(x, (1, 3))[0, 0, 0], [1.0, 3.0, 5.0])
    y, idx = adaptive_max_pool2d(x, (1, 3), return_indices=True)
    np.testing.assert_array_equal(y[0, 0, 0], [2.0, 4.0, 6.0])
    np.testing.assert_array_equal(idx[0, 0, 0], [2, 4, 6])
    # and the transpose: element 2 and element 4 are each read by two cells
    g = np.ones((1, 1, 1, 3))
    np.testing.assert_allclose(
        adaptive_avg_pool2d_backward(g, x, (1, 3))[0, 0, 0], np.array([1, 1, 2, 1, 2, 1, 1]) / 3
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(2, 3, 7, 5), (4, 6, 6), (1, 1, 1, 9)])
def test_global_pooling_is_the_one_by_one_case(shape, dtype):
    """output_size 1: the mean and the max over H and W (NumPy's own reductions), the index
    of the first maximum (np.argmax's rule), and the gradients they imply."""
    x = _x(shape, dtype, seed=8)
    axes = (-2, -1)
    assert_close(adaptive_avg_pool2d(x, 1), x.mean(axis=axes, keepdims=True), dtype)
    y, idx = adaptive_max_pool2d(x, 1, return_indices=True)
    np.testing.assert_array_equal(y, x.max(axis=axes, keepdims=True))
    flat = x.reshape(*x.shape[:-2], -1)
    np.testing.assert_array_equal(idx[..., 0, 0], flat.argmax(axis=-1))
    g = _x(y.shape, dtype, seed=9)
    assert_close(
        adaptive_avg_pool2d_backward(g, x, 1),
        np.broadcast_to(g / (x.shape[-2] * x.shape[-1]), x.shape),
        dtype,
    )
    want = np.zeros_like(flat)
    np.put_along_axis(want, idx.reshape(*flat.shape[:-1], 1), g.reshape(*flat.shape[:-1], 1), -1)
    np.testing.assert_array_equal(adaptive_max_pool2d_backward(g, x, 1), want.reshape(x.shape))


@pytest.mark.parametrize("shape, k", [((2, 3, 8, 6), 2), ((1, 2, 9, 12), 3), ((3, 8, 4), (4, 2))])
def test_adaptive_pooling_with_tiles_is_plain_pooling(shape, k):
    """When the output size divides the input, the windows are the tiles of kernel = stride
    = size/output: the same values, indices and gradients as max_pool2d / avg_pool2d."""
    x = _x(shape, seed=10)
    k1, k2 = np.broadcast_to(k, 2)
    out = (shape[-2] // k1, shape[-1] // k2)
    assert_close(adaptive_avg_pool2d(x, out), avg_pool2d(x, k))
    y, idx = adaptive_max_pool2d(x, out, return_indices=True)
    want, want_idx = max_pool2d(x, k, return_indices=True)
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(idx, want_idx)
    g = _x(y.shape, seed=11)
    assert_close(adaptive_avg_pool2d_backward(g, x, out), avg_pool2d_backward(g, x, k))
    assert_close(adaptive_max_pool2d_backward(g, x, out), max_pool2d_backward(g, x, k))


def _close_with_nan(got, want, dtype):
    """The same NaN positions, and the finite values within the dtype's tolerance."""
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    assert_close(got[ok], want[ok], dtype)


@given(
    data=st.data(),
    m=st.integers(1, 9),
    n=st.integers(1, 9),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_hypothesis_adaptive_against_reference(data, m, n, dtype):
    out = (data.draw(st.integers(1, 10), label="H"), data.draw(st.integers(1, 10), label="W"))
    x = _x((2, 2, m, n), dtype, seed=data.draw(st.integers(0, 999), label="seed"))
    if data.draw(st.booleans(), label="ties"):  # few distinct values, and a NaN
        x = np.round(x).astype(dtype)
        x[1, 0, m // 2, n // 2] = np.nan
    _close_with_nan(adaptive_avg_pool2d(x, out), reference.adaptive_avg_pool2d(x, out), dtype)
    y, idx = adaptive_max_pool2d(x, out, return_indices=True)
    want, want_idx = reference.adaptive_max_pool2d(x, out, return_indices=True)
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(idx, want_idx)
    g = _x(y.shape, dtype, seed=3)
    _close_with_nan(
        adaptive_avg_pool2d_backward(g, x, out),
        reference.adaptive_avg_pool2d_backward(g, x, out),
        dtype,
    )
    _close_with_nan(
        adaptive_max_pool2d_backward(g, x, out),
        reference.adaptive_max_pool2d_backward(g, x, out),
        dtype,
    )


@pytest.mark.parametrize("output_size", [1, 2, (3, 2)])
def test_adaptive_max_ties_nans_and_infinities_as_torch(output_size):
    """Two NaNs in a window (the later one is chosen), ties, an all -inf window: values,
    indices and gradient as PyTorch's, on the global, tiled and uneven paths."""
    torch = pytest.importorskip("torch")
    x = _hard_max_input((2, 2, 9, 8), seed=5)[:, :, :8, :6].copy()
    x[1, 1, 0, 1] = x[1, 1, 5, 4] = np.nan
    y, idx = adaptive_max_pool2d(x, output_size, return_indices=True)
    g = np.random.default_rng(3).standard_normal(y.shape)
    tx = torch.tensor(x, requires_grad=True)
    ty, ti = torch.nn.functional.adaptive_max_pool2d(tx, output_size, return_indices=True)
    ty.backward(torch.tensor(g))
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(idx, ti.numpy())
    np.testing.assert_allclose(
        adaptive_max_pool2d_backward(g, x, output_size), tx.grad.numpy(), rtol=1e-12, atol=0
    )


@pytest.mark.parametrize(
    "shape, k, s, p",
    [((2, 3, 6, 6), 3, 3, 1), ((2, 3, 8, 6), 2, 2, 0), ((1, 2, 9, 4), (3, 2), (3, 2), 0)],
)
def test_max_pool_windows_that_tile_x_or_only_nearly(shape, k, s, p):
    """Windows that tile x take strided views of x itself; with padding (3/3/1 on 6 rows:
    as many windows as tiles, shifted by the padding) they must not."""
    x = np.random.default_rng(5).integers(0, 3, size=shape).astype(np.float64)  # ties
    x[0, 1, 2, 3] = x[-1, -1, -1, -1] = np.nan
    y, idx = max_pool2d(x, k, s, p, return_indices=True)
    want, want_idx = reference.max_pool2d(x, k, s, p, return_indices=True)
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(idx, want_idx)
    g = np.random.default_rng(2).standard_normal(y.shape)
    want_gx = reference.max_pool2d_backward(g, x, k, s, p)
    np.testing.assert_allclose(max_pool2d_backward(g, x, k, s, p), want_gx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        max_pool2d_backward(g, x, k, s, p, indices=idx), want_gx, rtol=1e-12, atol=1e-12
    )


def test_max_pool_windows_of_more_than_255_taps_along_an_axis():
    """The chosen tap is kept in one byte up to 255 taps per axis, in a wider integer
    beyond: a window of 260 columns with padding, ties and a NaN."""
    x = np.random.default_rng(6).integers(0, 4, size=(1, 2, 3, 300)).astype(np.float64)
    x[0, 1, 2, 280] = np.nan
    y, idx = max_pool2d(x, (2, 260), 1, (1, 100), return_indices=True)
    want, want_idx = reference.max_pool2d(x, (2, 260), 1, (1, 100), return_indices=True)
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(idx, want_idx)
    g = np.random.default_rng(7).standard_normal(y.shape)
    assert_close(
        max_pool2d_backward(g, x, (2, 260), 1, (1, 100)),
        reference.max_pool2d_backward(g, x, (2, 260), 1, (1, 100)),
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape, k", [((1, 1, 8, 8), 2), ((4, 3, 6, 9), (2, 3)), ((5, 4, 4), 1), ((4, 8, 8, 8), 2)]
)
def test_small_tiles_take_the_general_path_rules(shape, k, dtype, monkeypatch):
    """Small inputs whose windows tile x run direct paths (no blocks, no layouts; tiny ones
    an argmax): ties, signed zeros, -inf, NaN and a non-finite gradient give the same bits
    as the general path (forced here by turning the direct ones off), and the reference
    loops' values and chosen elements."""
    from cnnmath.ops.pool import avg_pool as avg_pool_module
    from cnnmath.ops.pool import max_pool as max_pool_module

    rng = np.random.default_rng(7)
    ties = rng.integers(-1, 2, size=shape).astype(dtype)
    ties.flat[rng.choice(ties.size, 3, replace=False)] = -0.0
    minus_inf = ties.copy()
    minus_inf.flat[rng.choice(ties.size, 3, replace=False)] = -np.inf
    with_nan = minus_inf.copy()
    with_nan.flat[rng.choice(ties.size, 2, replace=False)] = np.nan
    g_ok = rng.standard_normal(max_pool2d(ties, k).shape).astype(dtype)
    g_bad = g_ok.copy()
    g_bad.flat[:2] = [np.inf, np.nan]

    def outputs(x, g):
        return [
            max_pool2d(x, k),
            *max_pool2d(x, k, return_indices=True),
            max_pool2d_backward(g, x, k),
            max_pool2d_backward(g, x, k, indices=max_pool2d(x, k, return_indices=True)[1]),
            avg_pool2d(x, k),
            avg_pool2d_backward(g, x, k),
            avg_pool2d(x, k, divisor_override=3),
            avg_pool2d_backward(g, x, k, divisor_override=3),
        ]

    for x, g in ((ties, g_ok), (minus_inf, g_ok), (ties, g_bad), (with_nan, g_ok)):
        fast = outputs(x, g)
        with monkeypatch.context() as m:
            m.setattr(max_pool_module, "_small_tiles", lambda geo: False)
            m.setattr(avg_pool_module, "_small_tiles", lambda geo: False)
            general = outputs(x, g)
        for a, b in zip(fast, general):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))
        np.testing.assert_array_equal(_b(fast[0]), reference.max_pool2d(_b(x), k))
        want = reference.max_pool2d_backward(_b(g), _b(x), k)
        np.testing.assert_array_equal(np.isnan(_b(fast[3])), np.isnan(want))
        np.testing.assert_array_equal(_b(fast[3]) != 0, want != 0)
        np.testing.assert_array_equal(np.isnan(_b(fast[4])), np.isnan(want))
        np.testing.assert_array_equal(_b(fast[4]) != 0, want != 0)


@pytest.mark.parametrize(
    "shape, k",
    [((3, 4, 8, 8), 2), ((2, 3, 6, 12), (2, 3)), ((2, 2, 9, 4), (3, 1)), ((2, 3, 8, 4), (2, 4))],
)
@pytest.mark.parametrize("divisor_override", [None, 3])
def test_avg_pool_backward_on_tiles_in_blocks(shape, k, divisor_override, monkeypatch):
    """Windows that tile x: each share written over its tile (repeated along the tile's row,
    the row copied down), whole or block by block of planes (budget shrunk to 3 planes a
    block), one tile a row included ((2, 4) on 4 columns): the reference loops' gradient,
    the same bits either way."""
    from cnnmath.ops.pool import _common

    rng = np.random.default_rng(12)
    x = rng.standard_normal(shape)
    g = rng.standard_normal(avg_pool2d(x, k).shape)
    whole = avg_pool2d_backward(g, x, k, divisor_override=divisor_override)
    np.testing.assert_allclose(
        whole,
        reference.avg_pool2d_backward(g, x, k, divisor_override=divisor_override),
        rtol=1e-14,
        atol=0,
    )
    monkeypatch.setattr(_common, "_BLOCK_BYTES", 3 * shape[2] * shape[3] * 8)
    blocked = avg_pool2d_backward(g, x, k, divisor_override=divisor_override)
    np.testing.assert_array_equal(blocked.view(np.uint8), whole.view(np.uint8))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape, k",
    [
        ((3, 4, 8, 8), 2),
        ((2, 3, 6, 12), (2, 3)),
        ((2, 2, 9, 4), (3, 1)),
        ((2, 2, 4, 9), (1, 3)),
        ((2, 2, 5, 7), 1),
        ((1, 2, 32, 16), 16),  # 256 taps: 0 … 255, the last that fit a byte
        ((1, 2, 17, 32), (17, 16)),  # 272 taps: the chosen tap takes a wider integer
        ((2, 1, 600, 3), (300, 1)),  # 300 rows: so does the chosen row
        ((2, 3, 12, 40), (3, 4)),
    ],
)
def test_both_tile_walks_make_the_same_choice(shape, k, dtype, monkeypatch):
    """Windows that tile x are walked tap by tap on views of x (`_tile_walk`) or, for
    narrow outputs, one axis at a time along long runs (`_tile_walk_wide`). Forced either
    way, both give the reference loops' values and chosen elements, the same bits as each
    other, on ties, signed zeros, -inf and NaN."""
    from cnnmath.ops.pool import _max_choice
    from cnnmath.ops.pool import max_pool as max_pool_module

    rng = np.random.default_rng(11)
    ties = rng.integers(-1, 2, size=shape).astype(dtype)
    ties.flat[rng.choice(ties.size, 5, replace=False)] = -0.0
    special = ties.copy()
    special.flat[rng.choice(ties.size, 4, replace=False)] = -np.inf
    special.flat[rng.choice(ties.size, 4, replace=False)] = np.nan
    for x in (ties, special):
        found = []
        for narrow in (0, 10**6):  # never the wide walk / always
            with monkeypatch.context() as m:
                m.setattr(_max_choice, "_NARROW", narrow)
                m.setattr(max_pool_module, "_small_tiles", lambda geo: False)
                found.append(max_pool2d(x, k, return_indices=True))
        (y_taps, i_taps), (y_wide, i_wide) = found
        want, want_idx = reference.max_pool2d(x, k, return_indices=True)
        np.testing.assert_array_equal(i_wide, want_idx)
        np.testing.assert_array_equal(i_taps, want_idx)
        np.testing.assert_array_equal(y_wide.view(np.uint8), y_taps.view(np.uint8))
        np.testing.assert_array_equal(y_wide, want)
