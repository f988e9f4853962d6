"""conv2d and conv2d_backward against three witnesses: the literal reference loops, SciPy, PyTorch,
plus finite differences; every method the dispatch can choose is run on every sample."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import signal

from cnnmath import (
    conv2d,
    conv2d_backward,
    conv_output_shape,
    conv_transpose2d,
    conv_transpose2d_backward,
    reference,
)
from cnnmath.gradcheck import check_gradients
from cnnmath.ops import _conv_engine as engine
from cnnmath.ops import _threads, _windows
from cnnmath.ops import conv as conv_module
from cnnmath.ops._conv_engine import _dispatch as engine_dispatch
from cnnmath.ops.conv import _passes as conv_passes
from cnnmath.ops.conv import _plan as conv_plan
from helpers import assert_close, rel_error, set_everywhere
from threads_helper import assert_thread_invariant

METHODS = sorted(engine.METHODS)

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
    set_everywhere(monkeypatch, engine, "select_method", lambda *a, **k: request.param)
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
    with pytest.MonkeyPatch.context() as patch:  # hypothesis runs the body many times
        set_everywhere(patch, engine, "select_method", lambda *a, **k: method)
        y = conv2d(x, w, b, s, p, d)
        g = rng.standard_normal(y.shape).astype(dtype)
        grads = conv2d_backward(g, x, w, s, p, d)
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
    name = engine.select_method((1, 1, 8, 8), (1, 1, 3, 3), (1, 1), (1, 1))
    assert name in engine.METHODS


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


# ---------------------------------------------------------------------------------------------
# Groups: every method forced on grouped and depthwise samples, against the reference loops
# and PyTorch. (x shape, weight shape, bias?, stride, padding, dilation, groups)

GROUPED = [
    ((2, 4, 7, 6), (6, 2, 3, 3), True, 1, 1, 1, 2),
    ((1, 6, 8, 7), (3, 2, 3, 2), False, (2, 1), 0, (1, 2), 3),
    ((2, 3, 8, 7), (3, 1, 3, 3), True, 2, 1, 1, 3),  # depthwise, MobileNet's stride-2 block
    ((3, 4, 6, 6), (4, 1, 3, 3), False, 1, 1, 1, 4),  # depthwise, stride 1
    ((1, 2, 7, 6), (6, 1, 3, 2), True, 1, 2, 2, 2),  # depthwise with a channel multiplier 3
    ((2, 4, 5, 5), (4, 2, 1, 1), True, 1, 0, 1, 2),  # grouped 1×1 (ShuffleNet)
    ((2, 6, 9, 8), (6, 1, 3, 3), True, 3, 1, 1, 6),  # stride above the window's overlap
    ((4, 5, 6), (4, 2, 2, 3), True, 1, "same", 1, 2),  # unbatched
]
GROUPED_IDS = [f"x{s[0]}-w{s[1]}-s{s[3]}-p{s[4]}-d{s[5]}-g{s[6]}" for s in GROUPED]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sample", GROUPED, ids=GROUPED_IDS)
def test_grouped_matches_reference(sample, dtype, method):
    x, w, b = _data(sample, dtype)
    *_, s, p, d, groups = sample
    y = conv2d(x, w, b, s, p, d, groups)
    assert y.dtype == dtype
    assert_close(_batched(y), reference.conv2d(_batched(x), w, b, s, p, d, groups), dtype)
    g = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    grads = conv2d_backward(g, x, w, s, p, d, groups)
    want = reference.conv2d_backward(_batched(g), _batched(x), w, s, p, d, groups)
    for got, ref, like in zip(grads, want, (x, w, w[:, 0, 0, 0])):
        assert got.shape == like.shape and got.dtype == dtype
        assert_close(_batched(got) if got.ndim == 3 else got, ref, dtype)


@pytest.mark.parametrize("sample", GROUPED, ids=GROUPED_IDS)
def test_grouped_against_pytorch(sample, method):
    torch = pytest.importorskip("torch")
    x, w, b = _data(sample)
    *_, s, p, d, groups = sample
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tw, None if b is None else torch.tensor(b), s, p, d, groups)
    g = np.random.default_rng(2).standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(g))
    assert_close(conv2d(x, w, b, s, p, d, groups), ty.detach().numpy())
    gx, gw, _ = conv2d_backward(g, x, w, s, p, d, groups)
    assert_close(gx, tx.grad.numpy())
    assert_close(gw, tw.grad.numpy())


@pytest.mark.parametrize("sample", GROUPED[:4], ids=GROUPED_IDS[:4])
def test_grouped_gradients_match_finite_differences(sample):
    x, w, b = _data(sample)
    *_, s, p, d, groups = sample
    b = np.zeros(w.shape[0]) if b is None else b
    errors = check_gradients(
        lambda x_, w_, b_: conv2d(x_, w_, b_, s, p, d, groups),
        lambda g, x_, w_, b_: conv2d_backward(g, x_, w_, s, p, d, groups),
        [x, w, b],
        rtol=1e-7,
    )
    assert max(errors) <= 1e-7


def test_grouped_is_the_blocks_of_ungrouped_convolutions():
    """Block k of a grouped conv is the plain conv of block k of x with block k of w (an
    identity the grouped code never computes this way)."""
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((2, 6, 7, 7)), rng.standard_normal((9, 2, 3, 3))
    y = conv2d(x, w, None, 2, 1, 1, 3)
    for k in range(3):
        block = conv2d(x[:, 2 * k : 2 * k + 2], w[3 * k : 3 * k + 3], None, 2, 1)
        assert_close(y[:, 3 * k : 3 * k + 3], block)


@pytest.mark.parametrize("groups", [2, 32])
def test_depthwise_makes_no_call_per_group(groups, monkeypatch):
    """The number of correlations does not grow with the number of groups: they all run in
    one call, as the group axis of one batched product or one broadcast."""
    calls = []
    original = engine_dispatch._correlate

    def spy(*args, **kwargs):
        calls.append(args[0].shape)
        return original(*args, **kwargs)

    set_everywhere(monkeypatch, engine, "_correlate", spy)
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, groups, 9, 9)), rng.standard_normal((groups, 1, 3, 3))
    y = conv2d(x, w, None, 2, 1, 1, groups)
    conv2d_backward(np.ones_like(y), x, w, 2, 1, 1, groups)
    # forward 1, grad_weight 1, grad_input one per stride phase (4): 6 whatever the groups
    assert len(calls) == 6 and all(shape[0] == groups for shape in calls)


@pytest.mark.parametrize("s, p", [(2, 1), (3, 2), ((2, 1), (0, 1)), (1, 1)])
def test_depthwise_phases_copied_block_by_block_as_all_at_once(s, p, monkeypatch):
    """Phases too large to copy at once ("Fresh pages") are copied block by block, each into
    its thread's buffer, by "planes" (forward) and "dots" (filter gradient): the same bits
    as one copy of them all, fresh or into the kept buffer (and the same at one thread and
    two), and the reference's values."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 8, 13, 12)).astype(np.float32)
    w = rng.standard_normal((8, 1, 3, 3)).astype(np.float32)
    g = rng.standard_normal(conv2d(x, w, None, s, p, 1, 8).shape).astype(np.float32)
    for name, size in [("_TAPS_CHUNK_BYTES", 256), ("_CHUNK_BYTES", 2048)]:  # a few per block
        set_everywhere(monkeypatch, engine, name, size)
    select = engine.select_method

    def planes_not_einsum_cl(*args, **kwargs):  # such small planes would go to "einsum_cl"
        method = select(*args, **kwargs)
        return "planes" if method == "einsum_cl" else method

    set_everywhere(monkeypatch, engine, "select_method", planes_not_einsum_cl)
    copies = []
    original = _windows.flat_phases

    def spy(*args, **kwargs):
        if len(args) > 3 or "out" in kwargs:
            copies.append((args + (kwargs.get("out"),))[3].shape)
        return original(*args, **kwargs)

    def run():
        copies.clear()
        return (conv2d(x, w, None, s, p, 1, 8), *conv2d_backward(g, x, w, s, p, 1, 8)[:2])

    set_everywhere(monkeypatch, engine, "flat_phases", spy)
    kept = run()
    whole_copies = list(copies)
    monkeypatch.setattr(_threads, "_SCRATCH_BYTES", 0)  # one fresh copy
    fresh = run()
    # at two threads the backward's passes run side by side: their copies interleave in
    # either order, so the lists are compared as multisets
    assert sorted(copies) == sorted(whole_copies)
    set_everywhere(monkeypatch, engine, "_FRESH_PAGES_BYTES", 0)  # a copy per block, fresh buffers
    by_fresh_blocks = run()
    assert len(copies) > 2 * len(whole_copies)
    monkeypatch.setattr(_threads, "_SCRATCH_BYTES", 2048)  # ... into kept ones
    by_kept_blocks = run()
    assert len(copies) > 2 * len(whole_copies)
    for got in (fresh, by_fresh_blocks, by_kept_blocks):
        for a, b in zip(kept, got, strict=True):
            np.testing.assert_array_equal(b, a)
    assert_close(kept[0], reference.conv2d(x, w, None, s, p, 1, 8), np.float32)
    want = reference.conv2d_backward(g, x, w, s, p, 1, 8)
    assert_close(kept[1], want[0], np.float32)
    assert_close(kept[2], want[1], np.float32)
    assert_thread_invariant(run)  # blocks copying into kept buffers on two threads


def test_depthwise_dispatch_uses_planes_and_dots():
    plan = conv_module.dispatch_plan((32, 32, 56, 56), (32, 1, 3, 3), 1, 1, groups=32)
    assert plan == {"forward": ["planes"], "grad_input": ["planes"], "grad_weight": ["dots"]}


@given(
    data=st.data(),
    B=st.integers(1, 2),
    groups=st.integers(1, 3),
    c_in=st.integers(1, 2),
    c_out=st.integers(1, 2),
    f1=st.integers(1, 3),
    f2=st.integers(1, 3),
    sh=st.integers(1, 3),
    sw=st.integers(1, 3),
    dh=st.integers(1, 2),
    dw=st.integers(1, 2),
    ph=st.integers(0, 2),
    pw=st.integers(0, 2),
    method=st.sampled_from(METHODS),
)
def test_hypothesis_grouped_against_reference(
    data, B, groups, c_in, c_out, f1, f2, sh, sw, dh, dw, ph, pw, method
):
    m = data.draw(st.integers(max(1, dh * (f1 - 1) + 1 - 2 * ph), 8), label="m")
    n = data.draw(st.integers(max(1, dw * (f2 - 1) + 1 - 2 * pw), 8), label="n")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    x = rng.standard_normal((B, groups * c_in, m, n))
    w = rng.standard_normal((groups * c_out, c_in, f1, f2))
    s, p, d = (sh, sw), (ph, pw), (dh, dw)
    with pytest.MonkeyPatch.context() as patch:  # hypothesis runs the body many times
        set_everywhere(patch, engine, "select_method", lambda *a, **k: method)
        y = conv2d(x, w, None, s, p, d, groups)
        g = rng.standard_normal(y.shape)
        grads = conv2d_backward(g, x, w, s, p, d, groups)
    assert_close(y, reference.conv2d(x, w, None, s, p, d, groups))
    for got, want in zip(grads, reference.conv2d_backward(g, x, w, s, p, d, groups)):
        assert_close(got, want)


# ---------------------------------------------------------------------------------------------
# conv_transpose2d is the adjoint of conv2d, and conv2d's input gradient is the same code.


def _transpose_draw(data, rng):
    """A random conv_transpose2d problem: y (B, C_in, H, W) for the transpose, w in PyTorch's
    transposed layout (C_in, C_out/groups, f1, f2), options, and x's size (the output)."""
    groups = data.draw(st.integers(1, 3), label="groups")
    c_in, c_out = (groups * data.draw(st.integers(1, 2), label=f"c{k}") for k in range(2))
    f = [data.draw(st.integers(1, 4), label=f"f{k}") for k in range(2)]
    s = [data.draw(st.integers(1, 3), label=f"s{k}") for k in range(2)]
    d = [data.draw(st.integers(1, 3), label=f"d{k}") for k in range(2)]
    hw = [data.draw(st.integers(1, 5), label=f"hw{k}") for k in range(2)]
    op = [data.draw(st.integers(0, max(s[k], d[k]) - 1), label=f"op{k}") for k in range(2)]
    full = [(hw[k] - 1) * s[k] + d[k] * (f[k] - 1) + op[k] + 1 for k in range(2)]
    p = [data.draw(st.integers(0, (full[k] - 1) // 2), label=f"p{k}") for k in range(2)]
    out_hw = tuple(full[k] - 2 * p[k] for k in range(2))
    B = data.draw(st.integers(1, 2), label="B")
    y = rng.standard_normal((B, c_in, *hw))
    w = rng.standard_normal((c_in, c_out // groups, *f))
    options = {
        "stride": tuple(s),
        "padding": tuple(p),
        "output_padding": tuple(op),
        "groups": groups,
        "dilation": tuple(d),
    }
    return y, w, options, out_hw


@given(data=st.data())
def test_conv_transpose2d_is_the_adjoint_of_conv2d(data):
    """⟨conv2d(x, w), y⟩ = ⟨x, conv_transpose2d(y, w)⟩ (SPEC.md, Wave 2) on random shapes,
    strides, paddings, dilations, groups and output paddings."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    y, w, kw, out_hw = _transpose_draw(data, rng)
    x = rng.standard_normal((y.shape[0], w.shape[1] * kw["groups"], *out_hw))
    z = conv_transpose2d(y, w, **kw)
    assert z.shape == x.shape
    # conv2d with the transpose's geometry: its weight is w itself (C_out_conv = C_in of y)
    conv_kw = {k: kw[k] for k in ("stride", "padding", "dilation", "groups")}
    forward = conv2d(x, w, **conv_kw)
    # output_padding >= stride (allowed below the dilation) gives conv2d extra rows that y
    # does not have: the adjoint is of conv2d's first H x W outputs
    H, W = y.shape[2:]
    forward = forward[:, :, :H, :W]
    assert forward.shape == y.shape
    lhs, rhs = np.vdot(forward, y), np.vdot(x, z)
    scale = np.abs(forward * y).sum()  # the sum's own size: its rounding is relative to this
    assert abs(lhs - rhs) <= 1e-12 * scale


@given(data=st.data())
def test_conv2d_input_gradient_is_conv_transpose2d(data):
    """conv2d_backward's grad_x and conv_transpose2d are one code path: equal to the last bit."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    y, w, kw, out_hw = _transpose_draw(data, rng)
    x = rng.standard_normal((y.shape[0], w.shape[1] * kw["groups"], *out_hw))
    conv_kw = {k: kw[k] for k in ("stride", "padding", "dilation", "groups")}
    if conv2d(x, w, **conv_kw).shape != y.shape:  # output_padding >= stride: no conv2d twin
        return
    grad_x, _, _ = conv2d_backward(y, x, w, **conv_kw)
    np.testing.assert_array_equal(grad_x, conv_transpose2d(y, w, **kw))


def test_conv2d_backward_and_conv_transpose2d_call_one_function(monkeypatch):
    calls = []
    original = conv_passes._conv_transpose

    def spy(*args, **kwargs):
        calls.append(args[0].shape)
        return original(*args, **kwargs)

    set_everywhere(monkeypatch, conv_module, "_conv_transpose", spy)
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 4, 8, 8)), rng.standard_normal((6, 2, 3, 3))
    g = rng.standard_normal((1, 6, 4, 4))
    conv2d_backward(g, x, w, 2, 1, 1, 2)
    conv_transpose2d(g, w, None, 2, 1, 1, 2)
    assert calls == [(1, 6, 4, 4), (1, 6, 4, 4)]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "kw",
    [
        {"stride": 2, "padding": 1, "output_padding": 1},
        {"stride": (1, 2), "dilation": (2, 1), "output_padding": (1, 1), "groups": 2},
        {"stride": 3, "padding": 2, "groups": 4},  # depthwise, phases no tap reaches
    ],
    ids=str,
)
def test_conv_transpose2d_every_method_matches_reference(kw, method, monkeypatch):
    set_everywhere(monkeypatch, engine, "select_method", lambda *a, **k: method)
    rng = np.random.default_rng(11)
    groups = kw.get("groups", 1)
    x, w = rng.standard_normal((2, 4, 4, 5)), rng.standard_normal((4, 8 // groups, 3, 2))
    b = rng.standard_normal(8 // groups * groups)
    y = conv_transpose2d(x, w, b, **kw)
    assert_close(y, reference.conv_transpose2d(x, w, b, **kw))
    g = rng.standard_normal(y.shape)
    got = conv_transpose2d_backward(g, x, w, **kw)
    for mine, want in zip(got, reference.conv_transpose2d_backward(g, x, w, **kw)):
        assert_close(mine, want)


def test_conv_transpose2d_cost_does_not_grow_with_the_stride(monkeypatch):
    """Only the stride phases some tap reaches are computed (at most f1·f2 of them); the
    rest of the output is zero without a correlation, or a Python step, per phase. The same
    path is conv2d's input gradient."""
    torch = pytest.importorskip("torch")
    calls = []
    original = engine_dispatch._correlate

    def spy(*args, **kwargs):
        calls.append(args[0].shape)
        return original(*args, **kwargs)

    set_everywhere(monkeypatch, engine, "_correlate", spy)
    # the per-phase Python step: one call per axis for every phase visited
    phase_taps = conv_plan.phase_taps

    def phase_spy(*args, **kwargs):
        calls.append(args)
        return phase_taps(*args, **kwargs)

    set_everywhere(monkeypatch, conv_module, "phase_taps", phase_spy)
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((1, 2, 2, 3)), rng.standard_normal((2, 3, 2, 2))
    transposed, backward = {}, {}
    for stride in (4, 400):
        calls.clear()
        y = conv_transpose2d(x, w, None, stride, 1)
        transposed[stride] = len(calls)
        xt, wt = torch.from_numpy(x), torch.from_numpy(w)
        want = torch.nn.functional.conv_transpose2d(xt, wt, stride=stride, padding=1)
        assert_close(y, want.numpy())

        # conv2d's grad_x: X (1, 2, 2s + 1, 2s + 2) seen by a 2×2 kernel at stride s
        X = rng.standard_normal((1, 2, 2 * stride + 1, 2 * stride + 2))
        wc = rng.standard_normal((3, 2, 2, 2))
        g = rng.standard_normal(conv2d(X, wc, None, stride).shape)
        calls.clear()
        grad_x, _, _ = conv2d_backward(g, X, wc, stride)
        backward[stride] = len(calls)
        Xt = torch.from_numpy(X).requires_grad_()
        torch.nn.functional.conv2d(Xt, torch.from_numpy(wc), stride=stride).backward(
            torch.from_numpy(g)
        )
        assert_close(grad_x, Xt.grad.numpy())
    assert transposed[4] > 0 and backward[4] > 0  # the spies saw the calls
    assert transposed[4] == transposed[400]
    assert backward[4] == backward[400]


def test_conv_transpose2d_output_size_formula():
    # (H-1)s - 2p + d(f-1) + output_padding + 1, per axis
    x, w = np.zeros((1, 2, 5, 3)), np.zeros((2, 4, 4, 3))
    y = conv_transpose2d(x, w, stride=(2, 3), padding=(1, 2), output_padding=(1, 0), dilation=2)
    assert y.shape == (1, 4, 4 * 2 - 2 + 2 * 3 + 1 + 1, 2 * 3 - 4 + 2 * 2 + 0 + 1)


# ---------------------------------------------------------------------------------------------
# Hostile sizes (issue 9, findings 4 and 8): refused before any work, naming the argument.


def _no_work(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("work started before the sizes were checked")

    set_everywhere(monkeypatch, engine, "_correlate", boom)
    for name in ("_row_bands", "_conv_transpose"):
        set_everywhere(monkeypatch, conv_module, name, boom)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"stride": True}, TypeError),  # True == 1 and hash(True) == hash(1)
        ({"stride": (1, True)}, TypeError),
        ({"stride": 1.0}, TypeError),
        ({"padding": (1.0, 1)}, TypeError),
        ({"dilation": [1, 1.0]}, TypeError),
        ({"groups": True}, TypeError),
        ({"groups": 2}, ValueError),  # 3 input channels
        ({"padding": "full"}, ValueError),
    ],
    ids=str,
)
def test_checks_hold_after_the_same_shapes_ran(kwargs, error):
    """The ops keep what a shape's arguments give (geometry, plan) after a first call: an
    argument equal to a valid one as a key but refused by the checks must still be refused,
    with the message the first call would give, by every op."""
    x, w = np.ones((2, 3, 6, 6), np.float32), np.ones((3, 3, 3, 3), np.float32)
    valid = {"stride": 1, "padding": 1, "dilation": 1, "groups": 1}
    y = conv2d(x, w, **valid)
    conv2d_backward(y, x, w, **valid)
    conv_transpose2d(y, w, **valid)
    conv_transpose2d_backward(x, y, w, **valid)
    bad = {**valid, **kwargs}
    calls = {
        "conv2d": lambda: conv2d(x, w, **bad),
        "conv2d_backward": lambda: conv2d_backward(y, x, w, **bad),
        "conv_transpose2d": lambda: conv_transpose2d(y, w, **bad),
        "conv_transpose2d_backward": lambda: conv_transpose2d_backward(x, y, w, **bad),
    }
    for func, call in calls.items():
        if func.startswith("conv_transpose") and kwargs.get("padding") == "full":
            continue  # conv_transpose2d takes no string padding at all (its own message)
        with pytest.raises(error, match=rf"^{func}: (stride|padding|dilation|groups): expected"):
            call()


def test_array_checks_hold_after_the_same_shapes_ran():
    """The array checks are never skipped either: a wrong dtype, a mismatched bias or output
    gradient of a shape that already ran is refused, naming the argument."""
    x, w = np.ones((2, 3, 6, 6), np.float32), np.ones((4, 3, 3, 3), np.float32)
    b = np.ones(4, np.float32)
    y = conv2d(x, w, b, padding=1)
    conv2d_backward(y, x, w, padding=1)
    with pytest.raises(TypeError, match=r"^conv2d: x: expected dtype float32 or float64"):
        conv2d(x.astype(np.int32), w, b, padding=1)
    with pytest.raises(TypeError, match=r"^conv2d: dtype mismatch|^conv2d: .*float64"):
        conv2d(x, w.astype(np.float64), b, padding=1)
    with pytest.raises(TypeError, match=r"^conv2d: x: expected a plain numpy.ndarray"):
        conv2d(np.ma.masked_array(x), w, b, padding=1)
    with pytest.raises(ValueError, match=r"^conv2d: bias: expected shape \(4,\)"):
        conv2d(x, w, b[:3], padding=1)
    with pytest.raises(TypeError, match=r"^conv2d: (dtype mismatch|.*bias)"):
        conv2d(x, w, b.astype(np.float64), padding=1)
    with pytest.raises(ValueError, match=r"^conv2d_backward: grad_output: expected shape"):
        conv2d_backward(y[:, :3], x, w, padding=1)
    with pytest.raises(TypeError, match=r"^conv2d_backward: (dtype mismatch|.*grad_output)"):
        conv2d_backward(y.astype(np.float64), x, w, padding=1)


@pytest.mark.parametrize("padding", [10**6, 10**9, (0, 10**12)])
def test_huge_padding_is_refused_before_any_work(padding, monkeypatch):
    _no_work(monkeypatch)
    x, w = np.zeros((1, 2, 5, 5)), np.zeros((3, 2, 3, 3))
    for call in (
        lambda: conv2d(x, w, padding=padding),
        lambda: conv2d_backward(np.zeros((1, 3, 3, 3)), x, w, padding=padding),
        lambda: conv_module.dispatch_plan(x.shape, w.shape, padding=padding),
    ):
        pattern = r"(conv2d|conv2d_backward|dispatch_plan): padding: the output would have shape"
        with pytest.raises(ValueError, match=pattern):
            call()


@pytest.mark.parametrize("stride", [10**20, (1, 2**63)])
def test_stride_beyond_an_index_is_a_value_error(stride, monkeypatch):
    _no_work(monkeypatch)
    x, w = np.zeros((1, 2, 5, 5)), np.zeros((3, 2, 3, 3))
    pattern = r"stride: expected values at most \d+ \(the largest array index\)"
    with pytest.raises(ValueError, match=pattern):
        conv2d(x, w, stride=stride)
    with pytest.raises(ValueError, match=pattern):
        conv_transpose2d(np.zeros((1, 3, 3, 3)), w, stride=stride)


def test_huge_stride_transposed_is_refused_before_any_work(monkeypatch):
    _no_work(monkeypatch)
    x, w = np.zeros((1, 2, 4, 4)), np.zeros((2, 3, 3, 3))
    with pytest.raises(ValueError, match=r"conv_transpose2d: stride: the output would have"):
        conv_transpose2d(x, w, stride=10**9)
    with pytest.raises(ValueError, match=r"conv_transpose2d_backward: stride: the uncropped"):
        conv_transpose2d_backward(np.zeros((1, 3, 3, 3)), x[..., :2, :2], w, 10**12, 5 * 10**11)


def test_a_stride_past_the_input_reads_one_window():
    """A stride larger than the padded input (an index, but no array stride in bytes could
    hold it times a row) leaves one output position: the same as any such stride."""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 2, 5, 6)), rng.standard_normal((3, 2, 3, 3))
    y = conv2d(x, w, None, 10**18, 1)
    assert_close(y, conv2d(x, w, None, 7, 1))
    g = rng.standard_normal(y.shape)
    for got, want in zip(conv2d_backward(g, x, w, 10**18, 1), conv2d_backward(g, x, w, 7, 1)):
        assert_close(got, want)
    z = conv_transpose2d(g, w, None, 10**18, 1)  # a 1×1 input: the stride is never used
    assert_close(z, conv_transpose2d(g, w, None, 7, 1))


def test_the_bias_is_added_exactly_one_after_another_call():
    """y = correlation + b to the bit, for a batch (the bias repeated into a kept row) and
    one image (broadcast), small planes and large, each call after one of another shape
    and bias: a kept row never carries an earlier call's values."""
    rng = np.random.default_rng(3)
    for x_shape, w_shape in [
        ((4, 2, 9, 9), (5, 2, 3, 3)),
        ((1, 3, 300, 200), (2, 3, 1, 1)),
        ((3, 2, 7, 7), (4, 2, 3, 3)),
        ((2, 3, 64, 64), (3, 3, 1, 1)),
        ((5, 1, 8, 8), (5, 1, 3, 3)),
    ]:
        x = rng.standard_normal(x_shape).astype(np.float32)
        w = rng.standard_normal(w_shape).astype(np.float32)
        b = rng.standard_normal(w_shape[0]).astype(np.float32)
        plain = conv2d(x, w, None, 1, 1)
        assert conv2d(x, w, b, 1, 1).tobytes() == (plain + b[:, None, None]).tobytes()


@pytest.mark.parametrize(
    "op, x_shape, w_shape, order",
    [
        (conv2d, (2, 32, 32, 3), (4, 3, 3, 3), "(0, 3, 1, 2)"),
        (conv2d, (32, 32, 3), (4, 3, 3, 3), "(2, 0, 1)"),
        (conv_transpose2d, (1, 8, 8, 3), (3, 4, 3, 3), "(0, 3, 1, 2)"),
    ],
)
def test_an_image_with_its_channels_last_gets_the_transpose_that_fixes_it(
    op, x_shape, w_shape, order
):
    """An image laid out (B, H, W, C), as Pillow gives it, where the filter wants C channels:
    the message says how to reorder it, and that order then runs."""
    x, w = np.ones(x_shape), np.ones(w_shape)
    with pytest.raises(
        ValueError, match=rf"channels last \(B, H, W, C\).*x\.transpose{re.escape(order)}"
    ):
        op(x, w)
    perm = tuple(int(a) for a in order.strip("()").split(","))
    assert op(x.transpose(perm), w).shape[-3] == (w_shape[0] if op is conv2d else w_shape[1])
    # channels first but wrong, once with a width that equals the weight's channels: no hint
    for wrong in ((2, 5, 8, 8), (2, 4, 3, 3)):
        with pytest.raises(ValueError) as caught:
            op(np.ones(wrong), w)
        assert "channels last" not in str(caught.value)
