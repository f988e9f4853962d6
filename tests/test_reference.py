"""The oracle checked against independent witnesses.

``cnnmath.reference`` judges every fast op, so it is itself checked three ways: by small
cases computed by hand (NumPy slicing), by SciPy (``scipy.signal.correlate``,
``scipy.ndimage`` filters), and by PyTorch in float64 when it is importable; its backward
loops are also checked against finite differences. Errors are measured relative to the
data's scale, ``max|got − want| / max|want|`` (SPEC.md).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage, signal

from cnnmath import reference
from cnnmath.gradcheck import numerical_vjp

RTOL = 1e-12  # float64 agreement with an outside witness, relative to the data's scale
FD_RTOL = 1e-6  # agreement with finite differences


def rel_err(got, want) -> float:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300))


def _torch():
    return pytest.importorskip("torch")


# Convolution samples: (x shape, weight shape, stride, padding, dilation).
CONV_SAMPLES = [
    ((1, 1, 5, 5), (1, 1, 3, 3), 1, 0, 1),
    ((2, 3, 6, 5), (4, 3, 3, 2), 1, 1, 1),
    ((2, 2, 7, 7), (3, 2, 3, 3), 2, 1, 1),
    ((1, 2, 7, 6), (2, 2, 2, 3), (2, 1), (1, 0), 1),
    ((1, 2, 8, 7), (2, 2, 3, 2), 1, 2, 2),
    ((2, 1, 9, 8), (2, 1, 2, 2), (3, 2), (0, 1), (2, 3)),
    ((1, 2, 5, 6), (3, 2, 3, 3), 1, "same", 1),
    ((1, 2, 6, 5), (2, 2, 2, 4), 1, "same", (2, 1)),
    ((1, 2, 5, 5), (2, 2, 3, 2), 1, "valid", 1),
]
CONV_IDS = [f"x{xs}-w{ws}-s{s}-p{p}-d{d}" for xs, ws, s, p, d in CONV_SAMPLES]

# Pooling samples: (x shape, kernel_size, stride, padding).
POOL_SAMPLES = [
    ((1, 1, 4, 4), 2, None, 0),
    ((2, 2, 5, 6), 3, 2, 1),
    ((1, 2, 7, 5), (3, 2), (2, 1), (1, 1)),
    ((1, 1, 5, 5), 2, 1, 1),
    ((2, 1, 6, 7), (2, 3), None, (1, 0)),
]
POOL_IDS = [f"x{xs}-k{k}-s{s}-p{p}" for xs, k, s, p in POOL_SAMPLES]


def _conv_data(x_shape, w_shape, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    return x, w, b


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# ---------------------------------------------------------------------------------------
# Hand-computed cases
# ---------------------------------------------------------------------------------------

# SPEC.md result 1: forward differences along i and along j.
W_DOWN = np.array([[0, 0, 0], [0, -1, 0], [0, 1, 0]], dtype=np.float64)
W_RIGHT = np.array([[0, 0, 0], [0, -1, 1], [0, 0, 0]], dtype=np.float64)


@pytest.mark.parametrize("n", [3, 4])
def test_result1_forward_differences_with_zero_boundary(n):
    x = np.arange(1.0, n * n + 1).reshape(n, n) ** 2  # not linear, so differences vary
    weight = np.stack([W_DOWN, W_RIGHT])[:, None]  # (2, 1, 3, 3)
    y = reference.conv2d(x[None, None], weight, padding=1)

    x_ext = np.zeros((n + 1, n + 1))  # X[n+1, ·] = X[·, n+1] = 0
    x_ext[:n, :n] = x
    np.testing.assert_array_equal(y[0, 0], x_ext[1:, :n] - x)  # X[i+1, j] − X[i, j]
    np.testing.assert_array_equal(y[0, 1], x_ext[:n, 1:] - x)  # X[i, j+1] − X[i, j]


def test_one_by_one_conv_is_a_weighted_channel_sum():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 4, 5))
    w = rng.standard_normal((2, 3, 1, 1))
    b = rng.standard_normal(2)
    want = np.zeros((2, 2, 4, 5))
    for o in range(2):
        want[:, o] = sum(w[o, g, 0, 0] * x[:, g] for g in range(3)) + b[o]
    assert rel_err(reference.conv2d(x, w, b), want) <= RTOL


def test_result3_grayscale_keeps_white_white():
    luma = np.array([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)
    white = np.full((1, 3, 2, 2), 255.0)
    np.testing.assert_allclose(reference.conv2d(white, luma), 255.0, rtol=1e-15)


@pytest.mark.parametrize("k", [2, 3])
def test_result2_avg_pool_is_a_strided_convolution(k):
    rng = np.random.default_rng(2)
    channels, n = 3, 2 * k
    x = rng.standard_normal((1, channels, n, n))
    weight = np.zeros((channels, channels, k, k))
    for c in range(channels):
        weight[c, c] = 1.0 / k**2  # w[c, d, a, b] = δ(c, d) / k²
    by_conv = reference.conv2d(x, weight, stride=k)
    by_pool = reference.avg_pool2d(x, k)
    by_blocks = x.reshape(1, channels, n // k, k, n // k, k).mean(axis=(3, 5))
    assert rel_err(by_conv, by_blocks) <= RTOL
    assert rel_err(by_pool, by_blocks) <= RTOL


def test_max_pool_by_hand():
    x = np.array([[1.0, 5.0, 2.0, 0.0], [3.0, 4.0, 8.0, 1.0], [0.0, 9.0, 6.0, 7.0]])
    y = reference.max_pool2d(x[None, None], 2, stride=2, padding=(1, 0))
    # windows: rows {pad, 0}, {1, 2}; columns {0, 1}, {2, 3}
    np.testing.assert_array_equal(y[0, 0], [[5.0, 2.0], [9.0, 8.0]])


def test_linear_against_matmul():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 4))
    w = rng.standard_normal((5, 4))
    b = rng.standard_normal(5)
    assert reference.linear(x, w, b).shape == (2, 3, 5)
    assert rel_err(reference.linear(x, w, b), x @ w.T + b) <= RTOL
    assert rel_err(reference.linear(x[0, 0], w), w @ x[0, 0]) <= RTOL


# ---------------------------------------------------------------------------------------
# "same" padding: output size = input size, and the odd zero goes after
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("f", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_same_padding_keeps_the_size(f, d):
    x = np.ones((1, 1, 7, 8))
    y = reference.conv2d(x, np.ones((1, 1, f, f)), padding="same", dilation=d)
    assert y.shape == x.shape


def test_same_padding_puts_the_extra_zero_after():
    x = np.arange(1.0, 21.0).reshape(1, 1, 4, 5)
    first_tap = np.array([[1.0, 0.0], [0.0, 0.0]])[None, None]
    last_tap = np.array([[0.0, 0.0], [0.0, 1.0]])[None, None]
    # total padding 1 per axis: 0 before, 1 after, so the first tap reads X itself ...
    np.testing.assert_array_equal(reference.conv2d(x, first_tap, padding="same"), x)
    # ... and the last tap reads X shifted by one, with a zero row and column at the end.
    shifted = np.zeros_like(x)
    shifted[..., :-1, :-1] = x[..., 1:, 1:]
    np.testing.assert_array_equal(reference.conv2d(x, last_tap, padding="same"), shifted)


def test_same_padding_even_kernel_of_four():
    # f = 4: total 3 zeros, 1 before and 2 after; the second tap (a = 2) reads X itself.
    x = np.arange(1.0, 37.0).reshape(1, 1, 6, 6)
    tap = np.zeros((1, 1, 4, 4))
    tap[0, 0, 1, 1] = 1.0
    np.testing.assert_array_equal(reference.conv2d(x, tap, padding="same"), x)


# ---------------------------------------------------------------------------------------
# SciPy witnesses
# ---------------------------------------------------------------------------------------


def _explicit_pads(padding, w_shape, dilation):
    """The test's own reading of the padding rule: ((top, bottom), (left, right))."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        pads = []
        for f, d in zip(w_shape[2:], _pair(dilation), strict=True):
            pads.append((d * (f - 1) // 2, d * (f - 1) - d * (f - 1) // 2))
        return tuple(pads)
    p1, p2 = _pair(padding)
    return (p1, p1), (p2, p2)


def _scipy_conv2d(x, w, b, stride, padding, dilation):
    """Σ_g correlate(X̃[β,g], dilated w[o,g], 'valid'), subsampled by the stride, plus b[o]."""
    s1, s2 = _pair(stride)
    d1, d2 = _pair(dilation)
    (pt, pb), (pl, pr) = _explicit_pads(padding, w.shape, dilation)
    x_pad = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    c_out, c_in, f1, f2 = w.shape
    w_dil = np.zeros((c_out, c_in, d1 * (f1 - 1) + 1, d2 * (f2 - 1) + 1))
    w_dil[:, :, ::d1, ::d2] = w  # dilation: d − 1 zeros between taps
    out = []
    for beta in range(x.shape[0]):
        planes = []
        for o in range(c_out):
            acc = sum(
                signal.correlate(x_pad[beta, g], w_dil[o, g], mode="valid", method="direct")
                for g in range(c_in)
            )
            planes.append(acc[::s1, ::s2] + b[o])
        out.append(planes)
    return np.array(out)


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "stride", "padding", "dilation"), CONV_SAMPLES, ids=CONV_IDS
)
def test_conv2d_against_scipy_correlate(x_shape, w_shape, stride, padding, dilation):
    x, w, b = _conv_data(x_shape, w_shape)
    got = reference.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation)
    want = _scipy_conv2d(x, w, b, stride, padding, dilation)
    assert got.dtype == np.float64
    assert rel_err(got, want) <= RTOL


def _pool_out(x_shape, kernel_size, stride, padding):
    k = _pair(kernel_size)
    s = k if stride is None else _pair(stride)
    p = _pair(padding)
    return k, s, p, [(x_shape[2 + a] + 2 * p[a] - k[a]) // s[a] + 1 for a in range(2)]


def _filter_and_subsample(filter_, x, fill, kernel_size, stride, padding):
    """Pad with ``fill``, apply the centred ndimage window filter, keep one value per window.

    ndimage centres a window of size k at offset k // 2, so the window starting at padded
    row s·i (0-based) is read at row s·i + k // 2.
    """
    k, s, p, out = _pool_out(x.shape, kernel_size, stride, padding)
    x_pad = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), constant_values=fill)
    filtered = filter_(x_pad, size=(1, 1, *k), mode="constant", cval=fill)
    return filtered[:, :, k[0] // 2 :: s[0], k[1] // 2 :: s[1]][:, :, : out[0], : out[1]]


@pytest.mark.parametrize(
    ("x_shape", "kernel_size", "stride", "padding"), POOL_SAMPLES, ids=POOL_IDS
)
def test_max_pool2d_against_ndimage(x_shape, kernel_size, stride, padding):
    x = np.random.default_rng(4).standard_normal(x_shape)
    want = _filter_and_subsample(ndimage.maximum_filter, x, -np.inf, kernel_size, stride, padding)
    np.testing.assert_array_equal(reference.max_pool2d(x, kernel_size, stride, padding), want)


@pytest.mark.parametrize(
    ("x_shape", "kernel_size", "stride", "padding"), POOL_SAMPLES, ids=POOL_IDS
)
def test_avg_pool2d_against_ndimage(x_shape, kernel_size, stride, padding):
    x = np.random.default_rng(5).standard_normal(x_shape)
    want = _filter_and_subsample(ndimage.uniform_filter, x, 0.0, kernel_size, stride, padding)
    assert rel_err(reference.avg_pool2d(x, kernel_size, stride, padding), want) <= RTOL


# ---------------------------------------------------------------------------------------
# Backward loops against finite differences
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "stride", "padding", "dilation"),
    [CONV_SAMPLES[i] for i in (0, 2, 3, 5, 7)],
    ids=[CONV_IDS[i] for i in (0, 2, 3, 5, 7)],
)
def test_conv2d_backward_against_finite_differences(x_shape, w_shape, stride, padding, dilation):
    x, w, b = _conv_data(x_shape, w_shape, seed=6)
    geometry = dict(stride=stride, padding=padding, dilation=dilation)
    y = reference.conv2d(x, w, b, **geometry)
    grad_y = np.random.default_rng(7).standard_normal(y.shape)
    got = reference.conv2d_backward(grad_y, x, w, **geometry)

    def forward(x, w, b):
        return reference.conv2d(x, w, b, **geometry)

    want = numerical_vjp(forward, [x, w, b], grad_y)
    for name, g, n in zip(("x", "weight", "bias"), got, want, strict=True):
        assert g.shape == n.shape, name
        assert rel_err(g, n) <= FD_RTOL, name


@pytest.mark.parametrize(
    ("x_shape", "kernel_size", "stride", "padding"), POOL_SAMPLES, ids=POOL_IDS
)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_backward_against_finite_differences(kind, x_shape, kernel_size, stride, padding):
    forward = getattr(reference, f"{kind}_pool2d")
    backward = getattr(reference, f"{kind}_pool2d_backward")
    # distinct values spaced far beyond eps, so every max is unique and differentiable
    rng = np.random.default_rng(8)
    x = rng.permutation(np.prod(x_shape)).reshape(x_shape) * 0.1 + 0.01
    y = forward(x, kernel_size, stride, padding)
    grad_y = rng.standard_normal(y.shape)
    got = backward(grad_y, x, kernel_size, stride, padding)
    (want,) = numerical_vjp(lambda x: forward(x, kernel_size, stride, padding), [x], grad_y)
    assert got.shape == x.shape
    assert rel_err(got, want) <= FD_RTOL


def test_linear_backward_against_finite_differences():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3, 4))
    w = rng.standard_normal((5, 4))
    b = rng.standard_normal(5)
    grad_y = rng.standard_normal((2, 3, 5))
    got = reference.linear_backward(grad_y, x, w)
    want = numerical_vjp(reference.linear, [x, w, b], grad_y)
    for g, n in zip(got, want, strict=True):
        assert g.shape == n.shape
        assert rel_err(g, n) <= FD_RTOL


# ---------------------------------------------------------------------------------------
# PyTorch witness (float64)
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "stride", "padding", "dilation"), CONV_SAMPLES, ids=CONV_IDS
)
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_conv2d_and_backward_against_torch(x_shape, w_shape, stride, padding, dilation, with_bias):
    torch = _torch()
    x, w, b = _conv_data(x_shape, w_shape, seed=10)
    b = b if with_bias else None
    geometry = dict(stride=stride, padding=padding, dilation=dilation)
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True) if with_bias else None
    yt = torch.nn.functional.conv2d(xt, wt, bt, **geometry)
    grad_y = np.random.default_rng(11).standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(grad_y))

    assert rel_err(reference.conv2d(x, w, b, **geometry), yt.detach().numpy()) <= RTOL
    grad_x, grad_w, grad_b = reference.conv2d_backward(grad_y, x, w, **geometry)
    assert rel_err(grad_x, xt.grad.numpy()) <= RTOL
    assert rel_err(grad_w, wt.grad.numpy()) <= RTOL
    if with_bias:
        assert rel_err(grad_b, bt.grad.numpy()) <= RTOL
    else:
        assert rel_err(grad_b, grad_y.sum(axis=(0, 2, 3))) <= RTOL


def _torch_pool(torch, kind, x, grad_y_seed, *args):
    xt = torch.tensor(x, requires_grad=True)
    yt = getattr(torch.nn.functional, f"{kind}_pool2d")(xt, *args)
    grad_y = np.random.default_rng(grad_y_seed).standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(grad_y))
    return yt.detach().numpy(), grad_y, xt.grad.numpy()


@pytest.mark.parametrize(
    ("x_shape", "kernel_size", "stride", "padding"), POOL_SAMPLES, ids=POOL_IDS
)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_and_backward_against_torch(kind, x_shape, kernel_size, stride, padding):
    torch = _torch()
    x = np.random.default_rng(12).standard_normal(x_shape)
    args = (kernel_size, stride, padding)
    y_t, grad_y, grad_x_t = _torch_pool(torch, kind, x, 13, *args)
    y = getattr(reference, f"{kind}_pool2d")(x, *args)
    grad_x = getattr(reference, f"{kind}_pool2d_backward")(grad_y, x, *args)
    assert rel_err(y, y_t) <= RTOL
    assert rel_err(grad_x, grad_x_t) <= RTOL


@pytest.mark.parametrize(
    "x",
    [
        pytest.param(np.ones((1, 1, 4, 5)), id="all-equal"),
        pytest.param(np.array([[1.0, 2.0, 2.0], [2.0, 1.0, 2.0], [0.0, 2.0, 2.0]]), id="some-ties"),
        pytest.param(np.full((3, 3), -np.inf), id="all-minus-inf"),
        pytest.param(
            np.array([[1.0, np.nan, 2.0], [np.nan, 0.0, 1.0], [3.0, 3.0, np.nan]]), id="nan"
        ),
    ],
)
@pytest.mark.parametrize(("kernel_size", "stride", "padding"), [(2, 1, 1), (2, 1, 0), (3, 2, 1)])
def test_max_pool_ties_and_nan_match_torch(x, kernel_size, stride, padding):
    torch = _torch()
    x = x.reshape(1, 1, *x.shape[-2:])
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.max_pool2d(xt, kernel_size, stride, padding)
    yt.backward(torch.ones_like(yt))  # unit gradients: the counts show where each went
    y = reference.max_pool2d(x, kernel_size, stride, padding)
    grad_x = reference.max_pool2d_backward(np.ones(y.shape), x, kernel_size, stride, padding)
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(grad_x, xt.grad.numpy())


def test_max_pool_tie_goes_to_the_first_element():
    x = np.ones((1, 1, 2, 2))
    grad_x = reference.max_pool2d_backward(np.full((1, 1, 1, 1), 5.0), x, 2)
    np.testing.assert_array_equal(grad_x[0, 0], [[5.0, 0.0], [0.0, 0.0]])


def test_linear_and_backward_against_torch():
    torch = _torch()
    rng = np.random.default_rng(14)
    x, w, b = rng.standard_normal((3, 2, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = torch.nn.functional.linear(xt, wt, bt)
    grad_y = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(grad_y))
    assert rel_err(reference.linear(x, w, b), yt.detach().numpy()) <= RTOL
    for got, want in zip(reference.linear_backward(grad_y, x, w), (xt, wt, bt), strict=True):
        assert rel_err(got, want.grad.numpy()) <= RTOL


# ---------------------------------------------------------------------------------------
# dtype and bad input
# ---------------------------------------------------------------------------------------


def test_float32_in_float32_out():
    x, w, b = (a.astype(np.float32) for a in _conv_data((1, 2, 5, 5), (2, 2, 3, 3)))
    y = reference.conv2d(x, w, b, padding=1)
    assert y.dtype == np.float32
    grads = reference.conv2d_backward(np.ones_like(y), x, w, padding=1)
    assert [g.dtype for g in grads] == [np.float32] * 3
    assert reference.max_pool2d(x, 2).dtype == np.float32
    assert reference.avg_pool2d_backward(np.ones((1, 2, 2, 2), np.float32), x, 2).dtype == (
        np.float32
    )
    assert reference.linear(x[0, 0], x[0, 1]).dtype == np.float32


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: reference.conv2d(
                np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), stride=2, padding="same"
            ),
            "stride 1",
        ),
        (
            lambda: reference.conv2d(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), padding="full"),
            "padding",
        ),
        (lambda: reference.conv2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3))), "does not fit"),
        (
            lambda: reference.conv2d(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), stride=0),
            "stride",
        ),
        (lambda: reference.max_pool2d(np.ones((1, 1, 5, 5)), 2, padding=2), "at most half"),
        (
            lambda: reference.avg_pool2d_backward(np.ones((1, 1, 3, 3)), np.ones((1, 1, 4, 4)), 2),
            "grad_output",
        ),
        (
            lambda: reference.conv2d_backward(
                np.ones((1, 1, 2, 2)), np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3))
            ),
            "grad_output",
        ),
    ],
)
def test_bad_input_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# The oracle's independence from the package is checked module by module in test_layering.py.
