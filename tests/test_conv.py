"""conv2d and conv2d_backward against three witnesses: the literal reference loops, SciPy, PyTorch,
plus finite differences; every method the dispatch can choose is run on every sample."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import signal

from cnnmath import conv2d, conv2d_backward, conv_output_shape, reference
from cnnmath.gradcheck import check_gradients
from cnnmath.ops import conv as conv_module
from helpers import assert_close, rel_error

METHODS = sorted(conv_module.METHODS)

# (x shape, weight shape, bias?, stride, padding, dilation)
SAMPLES = [
    ((2, 3, 7, 8), (4, 3, 3, 3), True, 1, 0, 1),
    ((1, 1, 6, 6), (2, 1, 3, 3), False, 1, 1, 1),  # result 1's shape
    ((2, 3, 8, 8), (3, 3, 2, 2), False, 2, 0, 1),  # result 2's shape
    ((1, 3, 5, 6), (1, 3, 1, 1), False, 1, 0, 1),  # result 3's shape
    ((2, 2, 9, 7), (3, 2, 3, 2), True, (2, 1), (1, 2), (1, 2)),
    ((1, 2, 6, 6), (2, 2, 4, 4), True, 1, "same", 1),  # even kernel: extra zero after
    ((2, 2, 7, 6), (3, 2, 2, 3), True, 1, "same", (2, 1)),
    ((1, 2, 5, 5), (2, 2, 3, 3), True, 1, "valid", 1),
    ((3, 1, 10, 9), (2, 1, 3, 3), True, 3, 1, 2),
    ((1, 2, 4, 4), (1, 2, 4, 4), True, 1, 0, 1),  # kernel as large as the input: 1×1 output
    ((2, 2, 5, 5), (2, 2, 2, 2), False, 3, 0, 1),  # stride leaves rows no window reaches
    ((2, 4, 6), (3, 2, 3, 3), True, 1, 1, 1),  # unbatched (C, H, W)
]
IDS = [f"x{s[0]}-w{s[1]}-s{s[3]}-p{s[4]}-d{s[5]}" for s in SAMPLES]


def _data(sample, dtype=np.float64, seed=0):
    x_shape, w_shape, has_bias, *_ = sample
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype) if has_bias else None
    return x, w, b


def _batched(x):
    return x if x.ndim == 4 else x[None]


@pytest.fixture(params=METHODS)
def method(request, monkeypatch):
    """Force the dispatch to one method, so each is tested on every sample."""
    monkeypatch.setattr(conv_module, "select_method", lambda *a, **k: request.param)
    return request.param


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_forward_matches_reference(sample, dtype, method):
    x, w, b = _data(sample, dtype)
    _, _, _, s, p, d = sample
    y = conv2d(x, w, b, s, p, d)
    want = reference.conv2d(_batched(x), w, b, s, p, d)
    assert y.dtype == dtype
    assert y.shape == (want.shape if x.ndim == 4 else want.shape[1:])
    assert_close(_batched(y), want, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_backward_matches_reference(sample, dtype, method):
    x, w, _ = _data(sample, dtype)
    _, _, _, s, p, d = sample
    y = conv2d(x, w, None, s, p, d)
    g = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    grads = conv2d_backward(g, x, w, s, p, d)
    want = reference.conv2d_backward(_batched(g), _batched(x), w, s, p, d)
    for got, ref, like in zip(grads, want, (x, w, w[:, 0, 0, 0])):
        assert got.shape == like.shape and got.dtype == dtype
        assert_close(_batched(got) if got.ndim == 3 else got, ref, dtype)


def _scipy_conv2d(x, w, b, stride, padding, dilation):
    """An outside witness: scipy.signal.correlate, subsampled for stride, dilated kernel."""
    (sh, sw), (dh, dw) = (np.broadcast_to(stride, 2), np.broadcast_to(dilation, 2))
    f1, f2 = w.shape[2:]
    if padding == "same":
        pads = [(t // 2, t - t // 2) for t in (dh * (f1 - 1), dw * (f2 - 1))]
    else:
        ph, pw = np.broadcast_to(padding if padding != "valid" else 0, 2)
        pads = [(ph, ph), (pw, pw)]
    xp = np.pad(x, [(0, 0), (0, 0), *pads])
    wd = np.zeros((*w.shape[:2], dh * (f1 - 1) + 1, dw * (f2 - 1) + 1))
    wd[:, :, ::dh, ::dw] = w
    out = []
    for xb in xp:
        out.append(
            [
                sum(signal.correlate(xb[g], wd[o, g], mode="valid") for g in range(w.shape[1]))[
                    ::sh, ::sw
                ]
                + (0 if b is None else b[o])
                for o in range(w.shape[0])
            ]
        )
    return np.array(out)


def _scipy_pads(w_shape, padding, dilation):
    f1, f2 = w_shape[2:]
    (dh, dw) = np.broadcast_to(dilation, 2)
    if padding == "same":
        return [(t // 2, t - t // 2) for t in (dh * (f1 - 1), dw * (f2 - 1))]
    ph, pw = np.broadcast_to(padding if padding != "valid" else 0, 2)
    return [(ph, ph), (pw, pw)]


def _spread(a, step):
    """Insert step-1 zeros between the entries of a 2-D array (an independent 'dilate')."""
    sh, sw = step
    out = np.zeros(((a.shape[0] - 1) * sh + 1, (a.shape[1] - 1) * sw + 1))
    out[::sh, ::sw] = a
    return out


def _scipy_conv2d_backward(g, x, w, stride, padding, dilation):
    """The backward pass from SciPy's full convolution and valid correlation, per plane:

    ∂ℓ/∂X̃[β,g] = Σ_o convolve(G[β,o] spread by s, w[o,g] spread by d, "full")
    ∂ℓ/∂w[o,g] = Σ_β correlate(X̃[β,g], G[β,o] spread by s, "valid") taken every d-th entry
    """
    s, d = tuple(np.broadcast_to(stride, 2)), tuple(np.broadcast_to(dilation, 2))
    (pt, pb), (pl, pr) = _scipy_pads(w.shape, padding, dilation)
    B, C_in, m, n = x.shape
    C_out, _, f1, f2 = w.shape
    xp = np.pad(x.astype(np.float64), [(0, 0), (0, 0), (pt, pb), (pl, pr)])
    gx = np.zeros(xp.shape)
    gw = np.zeros(w.shape)
    for beta in range(B):
        for o in range(C_out):
            gs = _spread(g[beta, o].astype(np.float64), s)
            for c in range(C_in):
                full = signal.convolve(gs, _spread(w[o, c].astype(np.float64), d), mode="full")
                gx[beta, c, : full.shape[0], : full.shape[1]] += full
                corr = signal.correlate(xp[beta, c], gs, mode="valid")
                gw[o, c] += corr[:: d[0], :: d[1]][:f1, :f2]
    return gx[:, :, pt : pt + m, pl : pl + n], gw, g.sum(axis=(0, 2, 3))


@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_backward_matches_scipy(sample, method):
    x, w, _ = _data(sample)
    _, _, _, s, p, d = sample
    xb = _batched(x)
    g = np.random.default_rng(4).standard_normal(_batched(conv2d(x, w, None, s, p, d)).shape)
    got = conv2d_backward(g if x.ndim == 4 else g[0], x, w, s, p, d)
    for mine, theirs in zip(got, _scipy_conv2d_backward(g, xb, w, s, p, d)):
        assert_close(_batched(mine) if mine.ndim == 3 else mine, theirs)


@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_forward_matches_scipy(sample, method):
    x, w, b = _data(sample)
    _, _, _, s, p, d = sample
    assert_close(_batched(conv2d(x, w, b, s, p, d)), _scipy_conv2d(_batched(x), w, b, s, p, d))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_against_pytorch(sample, dtype, method):
    torch = pytest.importorskip("torch")
    x, w, b = _data(sample, dtype)
    _, _, _, s, p, d = sample
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    tb = torch.tensor(b if b is not None else np.zeros(w.shape[0], dtype), requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tw, tb, s, p, d)
    g = np.random.default_rng(2).standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.tensor(g))
    y = conv2d(x, w, b, s, p, d)
    if b is None:
        y = y + 0  # torch added a zero bias
    factor = 1.0 if dtype == np.float64 else 2.0  # torch's float32 sums differ in order
    assert_close(y, ty.detach().numpy(), dtype, factor)
    gx, gw, gb = conv2d_backward(g, x, w, s, p, d)
    assert_close(gx, tx.grad.numpy(), dtype, factor)
    assert_close(gw, tw.grad.numpy(), dtype, factor)
    assert_close(gb, tb.grad.numpy(), dtype, factor)


@pytest.mark.parametrize("sample", SAMPLES[:6] + SAMPLES[-3:], ids=IDS[:6] + IDS[-3:])
def test_gradients_match_finite_differences(sample, method):
    x, w, b = _data(sample)
    _, _, _, s, p, d = sample
    if b is None:
        b = np.zeros(w.shape[0])
    errors = check_gradients(
        lambda x_, w_, b_: conv2d(x_, w_, b_, s, p, d),
        lambda g, x_, w_, b_: conv2d_backward(g, x_, w_, s, p, d),
        [x, w, b],
        rtol=1e-7,
    )
    assert max(errors) <= 1e-7


def test_padding_same_puts_the_extra_zero_after():
    # A 2×2 kernel that picks its top-left tap reads x itself only if no zero is added before.
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    w = np.zeros((1, 1, 2, 2))
    w[0, 0, 0, 0] = 1.0
    np.testing.assert_array_equal(conv2d(x, w, padding="same"), x)
    w2 = np.zeros((1, 1, 2, 2))
    w2[0, 0, 1, 1] = 1.0
    shifted = np.zeros_like(x)
    shifted[..., :3, :3] = x[..., 1:, 1:]
    np.testing.assert_array_equal(conv2d(x, w2, padding="same"), shifted)


@given(
    data=st.data(),
    B=st.integers(1, 2),
    C_in=st.integers(1, 3),
    C_out=st.integers(1, 3),
    f1=st.integers(1, 4),
    f2=st.integers(1, 4),
    sh=st.integers(1, 3),
    sw=st.integers(1, 3),
    dh=st.integers(1, 2),
    dw=st.integers(1, 2),
    ph=st.integers(0, 2),
    pw=st.integers(0, 2),
    dtype=st.sampled_from([np.float32, np.float64]),
    method=st.sampled_from(METHODS),
)
def test_hypothesis_against_reference(
    data, B, C_in, C_out, f1, f2, sh, sw, dh, dw, ph, pw, dtype, method
):
    m = data.draw(st.integers(max(1, dh * (f1 - 1) + 1 - 2 * ph), 9), label="m")
    n = data.draw(st.integers(max(1, dw * (f2 - 1) + 1 - 2 * pw), 9), label="n")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    x = rng.standard_normal((B, C_in, m, n)).astype(dtype)
    w = rng.standard_normal((C_out, C_in, f1, f2)).astype(dtype)
    b = rng.standard_normal(C_out).astype(dtype)
    s, p, d = (sh, sw), (ph, pw), (dh, dw)
    original = conv_module.select_method
    conv_module.select_method = lambda *a, **k: method
    try:
        y = conv2d(x, w, b, s, p, d)
        g = rng.standard_normal(y.shape).astype(dtype)
        grads = conv2d_backward(g, x, w, s, p, d)
    finally:
        conv_module.select_method = original
    assert_close(y, reference.conv2d(x, w, b, s, p, d), dtype)
    for got, want in zip(grads, reference.conv2d_backward(g, x, w, s, p, d)):
        assert got.dtype == dtype
        assert_close(got, want, dtype)
    # the outside witness on the same draw (SciPy works in float64)
    assert_close(y, _scipy_conv2d(x.astype(np.float64), w.astype(np.float64), b, s, p, d), dtype)
    for got, want in zip(grads, _scipy_conv2d_backward(g, x, w, s, p, d)):
        assert_close(got, want, dtype)


def _reach(x_shape, w, s, p, d):
    """Which outputs read each input element: conv of an indicator with a ones filter."""
    ones = np.ones((1, w.shape[1], *w.shape[2:]))
    return lambda mask: conv2d(mask, ones, None, s, p, d)[:, 0] > 0


@pytest.mark.parametrize("sample", SAMPLES[:-1], ids=IDS[:-1])
def test_nan_and_inf_propagate(sample, method):
    x, w, b = _data(sample)
    _, _, _, s, p, d = sample
    x = x.copy()
    x[0, 0, x.shape[2] // 2, x.shape[3] // 2] = np.nan
    y = conv2d(x, w, b, s, p, d)
    mask = np.zeros_like(x)
    mask[0, 0, x.shape[2] // 2, x.shape[3] // 2] = 1
    reached = _reach(x.shape, w, s, p, d)(mask)
    assert np.array_equal(np.isnan(y).any(axis=1), reached)
    assert np.isnan(y).any(axis=1).sum() == reached.sum()
    assert np.isfinite(y[~np.broadcast_to(reached[:, None], y.shape)]).all()
    # +inf through strictly positive weights gives +inf wherever it is read
    x_inf = np.abs(_data(sample)[0])
    x_inf[0, 0, 0, 0] = np.inf
    y_inf = conv2d(x_inf, np.abs(w) + 0.1, None, s, p, d)
    mask[:] = 0
    mask[0, 0, 0, 0] = 1
    hit = np.broadcast_to(_reach(x.shape, w, s, p, d)(mask)[:, None], y_inf.shape)
    assert np.all(np.isposinf(y_inf[hit])) and np.isfinite(y_inf[~hit]).all()
    # a NaN in the upstream gradient reaches grad_x, grad_weight and grad_bias
    g = np.ones(y.shape)
    g[0, 0, 0, 0] = np.nan
    gx, gw, gb = conv2d_backward(g, np.nan_to_num(x), w, s, p, d)
    assert np.isnan(gx).any() and np.isnan(gw[0]).all() and np.isnan(gb[0])
    assert not np.isnan(gb[1:]).any()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # 0·inf in the forward pass's padding
@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_nonfinite_weight_gives_the_reference_gradients(sample, method):
    """An inf in w: grad_x sums only real outputs (no 0·inf from padding), as the loops do."""
    x, w, _ = _data(sample)
    _, _, _, s, p, d = sample
    w = w.copy()
    w[0, 0, 0, 0] = np.inf
    y = conv2d(x, w, None, s, p, d)
    g = np.random.default_rng(6).standard_normal(y.shape)
    got = conv2d_backward(g, x, w, s, p, d)
    want = reference.conv2d_backward(_batched(g), _batched(x), w, s, p, d)
    for mine, ref in zip(got, want):
        mine = _batched(mine) if mine.ndim == 3 else mine
        np.testing.assert_array_equal(np.isnan(mine), np.isnan(ref))
        np.testing.assert_array_equal(np.isinf(mine), np.isinf(ref))
        assert_close(mine[np.isfinite(ref)], ref[np.isfinite(ref)])


def test_conv_output_shape_matches_forward():
    for sample in SAMPLES:
        x, w, b = _data(sample)
        _, _, _, s, p, d = sample
        assert conv_output_shape(x.shape, w.shape, s, p, d) == conv2d(x, w, b, s, p, d).shape


def test_dispatch_selects_a_known_method():
    name = conv_module.select_method((1, 1, 8, 8), (1, 1, 3, 3), (1, 1), (1, 1))
    assert name in conv_module.METHODS


def test_doubled_input_doubles_output_and_gradients_are_linear():
    # The backward is linear in grad_output: two upstream gradients add.
    x, w, _ = _data(SAMPLES[4])
    _, _, _, s, p, d = SAMPLES[4]
    y = conv2d(x, w, None, s, p, d)
    rng = np.random.default_rng(5)
    g1, g2 = rng.standard_normal(y.shape), rng.standard_normal(y.shape)
    a = conv2d_backward(g1 + g2, x, w, s, p, d)
    b1, b2 = conv2d_backward(g1, x, w, s, p, d), conv2d_backward(g2, x, w, s, p, d)
    for got, u, v in zip(a, b1, b2):
        assert rel_error(got, u + v) < 1e-13


# ---------------------------------------------------------------------------------------------
# Bad input: (call, exception, message pattern)

x4 = np.zeros((1, 2, 5, 5))
w4 = np.zeros((3, 2, 3, 3))
ERRORS = [
    (
        lambda: conv2d(np.zeros((5, 5)), w4),
        ValueError,
        r"x: expected a 3-D or 4-D.*x\[None, None\]",
    ),
    (lambda: conv2d(np.zeros((1, 1, 1, 5, 5)), w4), ValueError, r"x: expected a 3-D or 4-D.*5-D"),
    (lambda: conv2d(x4, np.zeros((3, 2, 3))), ValueError, r"weight: expected a 4-D"),
    (lambda: conv2d(x4, np.zeros((3, 4, 3, 3))), ValueError, r"weight: expected 2 input channels"),
    (
        lambda: conv2d(x4, np.zeros((3, 2, 6, 3))),
        ValueError,
        r"kernel_size.*height 6.*input height 5",
    ),
    (lambda: conv2d(x4, w4, dilation=3), ValueError, r"effective kernel height 7"),
    (lambda: conv2d(x4, w4, stride=0), ValueError, r"stride: expected values >= 1, got 0"),
    (lambda: conv2d(x4, w4, stride=(1, -2)), ValueError, r"stride: expected values >= 1"),
    (lambda: conv2d(x4, w4, dilation=0), ValueError, r"dilation: expected values >= 1"),
    (lambda: conv2d(x4, w4, padding=-1), ValueError, r"padding: expected values >= 0"),
    (
        lambda: conv2d(x4, w4, padding="full"),
        ValueError,
        r"padding: expected .*'valid' or 'same', got 'full'",
    ),
    (lambda: conv2d(x4, w4, stride=2, padding="same"), ValueError, r"'same' needs stride 1"),
    (lambda: conv2d(x4, w4, stride=1.5), TypeError, r"stride: expected an int or a pair"),
    (lambda: conv2d(x4, w4, stride=(1, 2, 3)), TypeError, r"stride: expected an int or a pair"),
    (
        lambda: conv2d(x4.astype(np.int64), w4),
        TypeError,
        r"x: expected dtype float32 or float64, got int64",
    ),
    (lambda: conv2d(x4.tolist(), w4), TypeError, r"x: expected a numpy.ndarray"),
    (lambda: conv2d(x4.astype(np.float32), w4), TypeError, r"x is float32, weight is float64"),
    (lambda: conv2d(x4, w4, np.zeros(2)), ValueError, r"bias: expected shape \(3,\), got \(2,\)"),
    (lambda: conv2d(x4, w4, np.zeros(3, np.float32)), TypeError, r"bias is float32"),
    (
        lambda: conv2d_backward(np.zeros((1, 3, 4, 4)), x4, w4),
        ValueError,
        r"grad_output: expected shape \(1, 3, 3, 3\), got \(1, 3, 4, 4\)",
    ),
    (
        lambda: conv2d_backward(np.zeros((1, 3, 3, 3), np.float32), x4, w4),
        TypeError,
        r"grad_output is float32, x is float64",
    ),
    (
        lambda: conv2d_backward(np.zeros((1, 3, 3, 3)), np.zeros((5, 5)), w4),
        ValueError,
        r"x\[None, None\]",
    ),
    (lambda: conv_output_shape((1, 2, 5, 5), (3, 2, 3, 3), stride=0), ValueError, r"stride"),
]


@pytest.mark.parametrize("call, exc, pattern", ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_bad_input(call, exc, pattern):
    with pytest.raises(exc, match=pattern) as info:
        call()
    assert re.search(r"conv2d|conv_output_shape", str(info.value))  # names the function
