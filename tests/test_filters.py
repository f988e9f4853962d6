"""cnnmath.filters (results 1-3 as filters) against their literal matrices, NumPy slicing,
block means, the luma formula, the reference loops and PyTorch."""

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnmath import avg_pool2d, reference
from cnnmath.filters import (
    BT601,
    BT709,
    FORWARD_DIFFERENCE_I,
    FORWARD_DIFFERENCE_J,
    average_pool_by_conv,
    average_pool_filter,
    finite_difference,
    grayscale_filter,
    image_gradient,
    to_grayscale,
)
from helpers import assert_close

# The matrices of SPEC.md result 1, typed here independently of the module.
W1 = [[0, 0, 0], [0, -1, 0], [0, 1, 0]]
W2 = [[0, 0, 0], [0, -1, 1], [0, 0, 0]]

# Sample inputs: (shape of a single-channel batch or image) for image_gradient.
GRADIENT_SHAPES = [(2, 1, 5, 7), (1, 1, 1, 1), (3, 1, 2, 9), (1, 4, 4), (1, 1, 16, 3)]
# (x shape, k) for average_pool_by_conv; k need not divide the size (the floor).
POOL_SAMPLES = [
    ((2, 3, 8, 8), 2),
    ((1, 5, 9, 12), 3),
    ((2, 1, 13, 11), 4),  # 13 = 3*4 + 1, 11 = 2*4 + 3: leftovers dropped
    ((3, 7, 10), 3),  # unbatched
    ((1, 2, 6, 6), 1),
    ((1, 2, 5, 5), 5),
]
POOL_IDS = [f"x{s}-k{k}" for s, k in POOL_SAMPLES]


def _x(shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _b(a):
    return a if a.ndim == 4 else a[None]


# Error inputs: (call, exception, message pattern).
RGB = np.zeros((1, 3, 4, 4))
RGBA = np.zeros((1, 4, 4, 4))
ERROR_INPUTS = [
    (
        lambda: image_gradient(np.zeros((4, 4))),
        ValueError,
        r"x: expected a 3-D or 4-D.*x\[None, None\]",
    ),
    (lambda: image_gradient(RGB), ValueError, r"got 3 channels.*to_grayscale"),
    (lambda: image_gradient(RGBA), ValueError, r"got 4 channels.*to_grayscale.*alpha='drop'"),
    (
        lambda: image_gradient(np.zeros((1, 2, 4, 4))),
        ValueError,
        r"x: expected a single-channel.*got 2",
    ),
    (
        lambda: image_gradient(np.zeros((1, 1, 4, 4), dtype=np.int64)),
        TypeError,
        r"x: expected dtype",
    ),
    (lambda: image_gradient([[[1.0]]]), TypeError, r"x: expected a numpy.ndarray"),
    (lambda: finite_difference(np.int32), TypeError, r"dtype: expected float32 or float64"),
    (lambda: average_pool_filter(0, 2), ValueError, r"channels: expected an int >= 1, got 0"),
    (lambda: average_pool_filter(3, 0), ValueError, r"k: expected an int >= 1, got 0"),
    (lambda: average_pool_filter(3, 2.0), TypeError, r"k: expected an int"),
    (lambda: average_pool_filter(3, 2, dtype="int8"), TypeError, r"dtype: expected float32"),
    (
        lambda: average_pool_by_conv(np.zeros((1, 1, 4, 4)), 0),
        ValueError,
        r"k: expected an int >= 1, got 0",
    ),
    (
        lambda: average_pool_by_conv(np.zeros((1, 1, 4, 4)), -2),
        ValueError,
        r"k: expected an int >= 1, got -2",
    ),
    (lambda: average_pool_by_conv(np.zeros((1, 1, 4, 4)), True), TypeError, r"k: expected an int"),
    (
        lambda: average_pool_by_conv(np.zeros((1, 1, 4, 4)), 5),
        ValueError,
        r"k: expected a window no larger than the image \(4×4\), got k=5",
    ),
    (
        lambda: average_pool_by_conv(np.zeros((4, 4)), 2),
        ValueError,
        r"x: expected a 3-D or 4-D.*got 2-D",
    ),
    (lambda: average_pool_by_conv(np.zeros((1, 0, 4, 4)), 2), ValueError, r"at least one channel"),
    (lambda: grayscale_filter((0.3, 0.6)), ValueError, r"weights: expected three numbers"),
    (
        lambda: grayscale_filter("bt2020"),
        ValueError,
        r"weights: expected 'bt601', 'bt709'.*'bt2020'",
    ),
    (lambda: grayscale_filter((0.3, float("nan"), 0.1)), ValueError, r"weights: expected finite"),
    (lambda: grayscale_filter((0.3, "g", 0.1)), TypeError, r"weights: expected real numbers"),
    (lambda: to_grayscale(np.zeros((4, 4))), ValueError, r"x: expected a 3-D or 4-D.*got 2-D"),
    (lambda: to_grayscale(RGBA), ValueError, r"4 channels \(RGBA.*alpha='drop'.*alpha='keep'"),
    (lambda: to_grayscale(np.zeros((1, 2, 4, 4))), ValueError, r"x: expected 3 channels.*got 2"),
    (
        lambda: to_grayscale(np.zeros((1, 4, 4))),
        ValueError,
        r"x: expected 3 channels.*axis 0, got 1",
    ),
    (lambda: to_grayscale(RGB, alpha="keep"), ValueError, r"alpha: 'keep' needs a 4-channel"),
    (
        lambda: to_grayscale(RGBA, alpha="blend"),
        ValueError,
        r"alpha: expected None, 'drop' or 'keep'",
    ),
    (
        lambda: to_grayscale(RGB.astype(np.uint8)),
        TypeError,
        r"x: expected dtype float32 or float64",
    ),
]


@pytest.mark.parametrize("call, exc, pattern", ERROR_INPUTS, ids=range(len(ERROR_INPUTS)))
def test_bad_input_is_refused_with_a_clear_message(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


# ------------------------------------------------------------------------------ result 1


def test_finite_difference_is_the_literal_matrices():
    w = finite_difference()
    assert w.shape == (2, 1, 3, 3) and w.dtype == np.float64
    np.testing.assert_array_equal(w[0, 0], W1)
    np.testing.assert_array_equal(w[1, 0], W2)
    np.testing.assert_array_equal(FORWARD_DIFFERENCE_I, W1)
    np.testing.assert_array_equal(FORWARD_DIFFERENCE_J, W2)
    assert finite_difference(np.float32).dtype == np.float32


def test_constants_cannot_be_changed_and_results_are_fresh_copies():
    with pytest.raises(ValueError):
        FORWARD_DIFFERENCE_I[1, 1] = 5.0
    w = finite_difference()
    w[0, 0, 1, 1] = 7.0  # the caller's copy; the next call is untouched
    assert finite_difference()[0, 0, 1, 1] == -1.0


def _slicing_gradient(x):
    """Y1[i,j] = X[i+1,j] - X[i,j], Y2[i,j] = X[i,j+1] - X[i,j], zero beyond the edge."""
    y1 = -x.copy()
    y1[..., :-1, :] += x[..., 1:, :]
    y2 = -x.copy()
    y2[..., :, :-1] += x[..., :, 1:]
    return y1, y2


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", GRADIENT_SHAPES, ids=str)
def test_image_gradient_is_the_forward_difference(shape, dtype):
    x = _x(shape, dtype)
    y1, y2 = image_gradient(x)
    want1, want2 = _slicing_gradient(x.astype(np.float64))
    for got, want in ((y1, want1), (y2, want2)):
        assert got.shape == x.shape and got.dtype == dtype
        assert_close(got, want, dtype)


@given(n=st.integers(1, 4), h=st.integers(1, 9), w=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_image_gradient_property(n, h, w, seed):
    x = _x((n, 1, h, w), seed=seed)
    for got, want in zip(image_gradient(x), _slicing_gradient(x)):
        assert_close(got, want)


def test_image_gradient_matches_the_reference_loops_with_the_literal_filter():
    x = _x((2, 1, 6, 5))
    want = reference.conv2d(x, np.array([[W1], [W2]], dtype=np.float64), padding=1)
    y1, y2 = image_gradient(x)
    assert_close(np.concatenate([y1, y2], axis=1), want)


def test_image_gradient_on_a_ramp():
    # X[i, j] = 10 i + j: every interior difference is 10 down and 1 across; the last row and
    # column see the zero padding, -X.
    x = (10.0 * np.arange(4)[:, None] + np.arange(5)[None, :])[None]
    y1, y2 = image_gradient(x)
    assert np.all(y1[0, :-1] == 10.0) and np.all(y1[0, -1] == -x[0, -1])
    assert np.all(y2[0, :, :-1] == 1.0) and np.all(y2[0, :, -1] == -x[0, :, -1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_image_gradient_against_pytorch(dtype):
    torch = pytest.importorskip("torch")
    x = _x((2, 1, 7, 6), dtype)
    w = torch.tensor([[W1], [W2]], dtype=torch.float64 if dtype == np.float64 else torch.float32)
    want = torch.nn.functional.conv2d(torch.tensor(x), w, padding=1).numpy()
    y1, y2 = image_gradient(x)
    assert_close(y1, want[:, 0:1], dtype)
    assert_close(y2, want[:, 1:2], dtype)


# ------------------------------------------------------------------------------ result 2


@pytest.mark.parametrize("C, k", [(1, 1), (2, 2), (3, 3), (4, 2)])
def test_average_pool_filter_is_delta_over_k_squared(C, k):
    w = average_pool_filter(C, k)
    assert w.shape == (C, C, k, k) and w.dtype == np.float64
    want = np.zeros((C, C, k, k))
    for c in range(C):
        for d in range(C):
            for a in range(k):
                for b in range(k):
                    want[c, d, a, b] = (1.0 if c == d else 0.0) / k**2
    np.testing.assert_array_equal(w, want)
    assert average_pool_filter(C, k, dtype=np.float32).dtype == np.float32


def _block_mean(x, k):
    n, c, h, w = x.shape
    return x[:, :, : h // k * k, : w // k * k].reshape(n, c, h // k, k, w // k, k).mean((3, 5))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sample", POOL_SAMPLES, ids=POOL_IDS)
def test_average_pool_by_conv_is_avg_pool2d(sample, dtype):
    shape, k = sample
    x = _x(shape, dtype)
    y = average_pool_by_conv(x, k)
    want = avg_pool2d(x, k)
    assert y.shape == want.shape and y.dtype == dtype  # both floor when k does not divide
    assert_close(y, want, dtype)
    assert_close(_b(y), _block_mean(_b(x).astype(np.float64), k), dtype)
    assert_close(_b(y), reference.avg_pool2d(_b(x), k), dtype)


def test_average_pool_by_conv_floors_like_avg_pool2d():
    x = _x((1, 2, 13, 11))
    for k in (2, 3, 4, 5, 6):
        y = average_pool_by_conv(x, k)
        assert y.shape == (1, 2, 13 // k, 11 // k) == avg_pool2d(x, k).shape


@pytest.mark.parametrize("sample", POOL_SAMPLES, ids=POOL_IDS)
def test_average_pool_by_conv_against_pytorch(sample):
    torch = pytest.importorskip("torch")
    shape, k = sample
    x = _x(shape)
    want = torch.nn.functional.avg_pool2d(torch.tensor(x), k).numpy()
    assert_close(average_pool_by_conv(x, k), want)


# ------------------------------------------------------------------------------ result 3


def test_grayscale_filter_weights():
    w = grayscale_filter()
    assert w.shape == (1, 3, 1, 1) and w.dtype == np.float64
    np.testing.assert_array_equal(w.ravel(), [0.299, 0.587, 0.114])
    np.testing.assert_array_equal(grayscale_filter("bt709").ravel(), [0.2126, 0.7152, 0.0722])
    np.testing.assert_array_equal(grayscale_filter("BT.601").ravel(), [0.299, 0.587, 0.114])
    np.testing.assert_array_equal(grayscale_filter([1, 0, 0]).ravel(), [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(
        grayscale_filter(np.array([0.2, 0.3, 0.5])).ravel(), [0.2, 0.3, 0.5]
    )
    assert grayscale_filter(dtype=np.float32).dtype == np.float32
    assert BT601 == (0.299, 0.587, 0.114) and BT709 == (0.2126, 0.7152, 0.0722)


@pytest.mark.parametrize("weights", [BT601, BT709, "bt709", (0.5, 0.25, 0.25)], ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (3, 6, 7)], ids=str)
def test_to_grayscale_is_the_luma_formula(shape, dtype, weights):
    x = np.random.default_rng(1).uniform(0, 1, shape).astype(dtype)
    y = to_grayscale(x, weights)
    w_r, w_g, w_b = {"bt709": (0.2126, 0.7152, 0.0722)}.get(weights, weights)
    r, g, b = (x.astype(np.float64)[..., c : c + 1, :, :] for c in range(3))
    want = w_r * r + w_g * g + w_b * b
    assert y.shape == want.shape and y.dtype == dtype
    assert_close(y, want, dtype)


def test_to_grayscale_rgba_alpha_choices():
    x = np.random.default_rng(2).uniform(0, 1, (2, 4, 3, 5))
    gray = to_grayscale(x[:, :3])
    np.testing.assert_array_equal(to_grayscale(x, alpha="drop"), gray)
    kept = to_grayscale(x, alpha="keep")
    assert kept.shape == (2, 2, 3, 5)
    np.testing.assert_array_equal(kept[:, :1], gray)
    np.testing.assert_array_equal(kept[:, 1:], x[:, 3:4])
    assert to_grayscale(x[0], alpha="keep").shape == (2, 3, 5)  # unbatched
    np.testing.assert_array_equal(to_grayscale(x[:, :3], alpha="drop"), gray)  # no alpha: fine


def test_white_stays_white_and_gray_stays_gray():
    # BT.601 weights sum to 1 (to rounding): any gray level maps to itself.
    levels = np.linspace(0, 1, 11)
    x = np.broadcast_to(levels, (3, 1, 11)).copy()
    np.testing.assert_allclose(to_grayscale(x)[0, 0], levels, rtol=0, atol=1e-15)
    # The original's 0.581 does not: white 255 becomes 253.47.
    assert to_grayscale(np.full((3, 1, 1), 255.0), (0.299, 0.581, 0.114))[0, 0, 0] == (
        pytest.approx(253.47, abs=1e-9)
    )


def test_to_grayscale_against_pytorch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).uniform(0, 1, (2, 3, 6, 4))
    w = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64).reshape(1, 3, 1, 1)
    want = torch.nn.functional.conv2d(torch.tensor(x), w).numpy()
    assert_close(to_grayscale(x), want)


def test_docstrings_draw_the_kernels():
    import cnnmath.filters as filters

    assert re.search(r"\[0, -1, 0\],\s+\[0, -1, 1\]", filters.finite_difference.__doc__)
    doc = filters.to_grayscale.__doc__.lower()
    assert "luma y′" in doc and "gamma-encoded" in doc and "not linear" in doc
    assert "0.581" in filters.grayscale_filter.__doc__


# ---------------------------------------------------------------------------------------------
# Image files: filter_image, to_pixels, luma_weights, image_kernel (cnnmath filter's library)


def test_luma_weights_names_texts_and_sequences():
    from cnnmath.filters import luma_weights

    assert luma_weights("BT.709") == BT709 and luma_weights("bt-601") == BT601
    assert luma_weights("0.5, 0.25,0.25") == (0.5, 0.25, 0.25)
    assert luma_weights(np.array([1, 2, 3])) == (1.0, 2.0, 3.0)
    for bad, pattern in [
        ("0,0,0", r"^--weights: the weights are all zero"),
        ("1e308,1e308,0", r"^--weights: the weights overflow"),
        ("1,x,2", r"^--weights: expected 'bt601', 'bt709' or three numbers"),
        ("bt2020", r"^--weights: expected 'bt601'"),
    ]:
        with pytest.raises(ValueError, match=pattern):
            luma_weights(bad, name="--weights")


def test_to_pixels_scales():
    from cnnmath.filters import to_pixels

    d = np.linspace(-1.0, 1.0, 9)
    np.testing.assert_allclose(to_pixels(d, (-1.0, 1.0), "range"), 0.5 + d / 2, rtol=0, atol=1e-15)
    np.testing.assert_allclose(to_pixels(d, (-1.0, 2.0), "abs"), np.abs(d) / 2, atol=1e-15)
    np.testing.assert_array_equal(to_pixels(d, (-1.0, 1.0), "clip"), np.maximum(d, 0.0))
    np.testing.assert_array_equal(to_pixels(np.full(3, 7.0), (0.0, 1.0), "minmax"), 0.5)
    np.testing.assert_allclose(to_pixels(d, (0.0, 1.0), "minmax"), (d + 1) / 2, atol=1e-15)
    with pytest.raises(ValueError, match=r"to_pixels: scale: expected one of"):
        to_pixels(d, (0.0, 1.0), "log")


def _picture(C, H=6, W=8, seed=0):
    return np.random.default_rng(seed).random((C, H, W))


def test_filter_image_gradient_is_the_forward_difference_mapped_to_pixels():
    from cnnmath.filters import filter_image

    x = _picture(1)
    got = filter_image(x, ("L",), "gradient")
    d1 = np.zeros_like(x[0])
    d1[:-1] = x[0, 1:] - x[0, :-1]
    d1[-1] = -x[0, -1]
    d2 = np.zeros_like(x[0])
    d2[:, :-1] = x[0, :, 1:] - x[0, :, :-1]
    d2[:, -1] = -x[0, :, -1]
    expected = 0.5 + np.concatenate([d1, d2], axis=1) / 2  # range scale of [-1, 1]
    assert_close(got.pixels[0], expected)
    assert got.alpha is None
    magnitude = filter_image(x, ("L",), "gradient", magnitude=True, scale="clip")
    assert_close(magnitude.pixels[0], np.clip(np.hypot(d1, d2), 0, 1))


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0), (1.0, -0.5, 0.25)])
def test_filter_image_gradient_range_follows_the_luma_weights(weights):
    # the gray plane Σ w_c X_c spans [Σ min(w, 0), Σ max(w, 0)], its differences ± that width
    from cnnmath.filters import filter_image

    x = _picture(3)
    got = filter_image(x, ("R", "G", "B"), "gradient", weights=weights)
    gray = np.tensordot(np.array(weights), x, axes=1)
    lo, hi = sum(min(w, 0.0) for w in weights), sum(max(w, 0.0) for w in weights)
    d1 = np.vstack([gray[1:] - gray[:-1], -gray[-1:]])
    d2 = np.hstack([gray[:, 1:] - gray[:, :-1], -gray[:, -1:]])
    spread = hi - lo
    expected = (np.concatenate([d1, d2], axis=1) + spread) / (2 * spread)
    assert_close(got.pixels[0], expected)
    assert 0 < got.pixels.min() and got.pixels.max() < 1  # nothing saturated
    magnitude = filter_image(x, ("R", "G", "B"), "gradient", weights=weights, magnitude=True)
    assert_close(magnitude.pixels[0], np.hypot(d1, d2) / (math.sqrt(2) * spread))


def test_filter_image_colour_gradient_says_it_went_gray_and_drops_alpha():
    from cnnmath.filters import filter_image

    x = _picture(4)
    got = filter_image(x, ("R", "G", "B", "A"), "gradient", weights="bt709")
    assert got.pixels.shape == (1, 6, 16) and got.alpha is None
    assert any("BT.709" in note for note in got.notes)
    assert "alpha channel dropped" in got.notes


def test_filter_image_grayscale_keeps_alpha_and_its_range_is_the_weights():
    from cnnmath.filters import filter_image

    x = _picture(4)
    got = filter_image(x, ("R", "G", "B", "A"), "grayscale", weights=(1.0, -1.0, 0.5))
    luma = x[0] - x[1] + 0.5 * x[2]
    assert_close(got.pixels[0], (luma + 1.0) / 2.5)  # range [-1, 1.5]
    np.testing.assert_array_equal(got.alpha, x[3:])


@pytest.mark.parametrize("operator, reduce", [("avgpool", np.mean), ("maxpool", np.max)])
def test_filter_image_pooling_is_the_block_reduction_alpha_too(operator, reduce):
    from cnnmath.filters import filter_image

    x = _picture(2, 7, 9)
    got = filter_image(x, ("L", "A"), operator, k=3)
    blocks = reduce(x[:, :6, :9].reshape(2, 2, 3, 3, 3), axis=(2, 4))
    assert_close(got.pixels, blocks[:1])
    assert_close(got.alpha, blocks[1:])
    assert any("1 row(s) and 0 column(s)" in note for note in got.notes)


def test_filter_image_conv_is_scipys_correlation_per_channel():
    signal = pytest.importorskip("scipy.signal")
    from cnnmath.filters import filter_image

    x = _picture(3)
    w = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
    got = filter_image(x, ("R", "G", "B"), "conv", kernel=w, padding=1)
    expected = np.stack([signal.correlate2d(c, w, mode="same") for c in x])
    assert_close(got.pixels, (expected + 4.0) / 8.0)  # range [-4, 4]
    pair = filter_image(x, ("R", "G", "B"), "conv", kernel=w, padding=(1, 1))  # as conv2d's
    assert_close(pair.pixels, (expected + 4.0) / 8.0)


@pytest.mark.parametrize(
    "call, pattern",
    [
        (lambda f: f(_picture(3), ("L",), "gradient"), r"filter_image: channels: expected"),
        (lambda f: f(_picture(1), ("L",), "blur"), r"filter_image: operator: expected one of"),
        (lambda f: f(_picture(1), ("L",), "conv"), r"filter_image: kernel: the conv operator"),
        (lambda f: f(_picture(1), ("L",), "maxpool", k=7), r"k: the window 7x7 is larger"),
        (lambda f: f(_picture(1), ("L",), "conv", kernel=[[0.0]]), r"kernel: the kernel is all"),
        (lambda f: f(_picture(1), ("L",), "conv", kernel=[1.0]), r"expected a non-empty 2-D"),
        (
            lambda f: f(_picture(1), ("L",), "conv", kernel=np.ones((9, 2)), padding=(0, 1)),
            r"^filter_image: kernel: 9x2 is larger than the image \(\d+x\d+ pixels\) with "
            r"padding 0x1$",
        ),
        (
            lambda f: f(_picture(1), ("L",), "conv", kernel=np.ones((3, 3)), padding=-3),
            r"^conv2d: padding: expected values >= 0, got -3",
        ),
    ],
)
def test_filter_image_bad_input(call, pattern):
    from cnnmath.filters import filter_image

    with pytest.raises(ValueError, match=pattern):
        call(filter_image)
