"""cnnmath.augment: random shifts and flips, against explicit per-image slicing with the same
draws; bad input refused before any random number is drawn."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath.augment import random_shift


def shifted(image, dy, dx):
    """image (C, H, W) moved so that out[:, i, j] = image[:, i + dy, j + dx], zeros outside."""
    C, H, W = image.shape
    out = np.zeros_like(image)
    for i in range(H):
        for j in range(W):
            if 0 <= i + dy < H and 0 <= j + dx < W:
                out[:, i, j] = image[:, i + dy, j + dx]
    return out


@pytest.mark.parametrize("max_shift", [1, 2])
def test_random_shift_moves_each_image_by_its_own_offset(max_shift):
    rng = np.random.default_rng(1)
    x = rng.random((120, 2, 6, 5)) + 0.5  # positive, distinct: each offset is identifiable
    out = random_shift(x, np.random.default_rng(2), max_shift)
    assert out.shape == x.shape and out.dtype == x.dtype
    offsets = set()
    for beta in range(x.shape[0]):
        matches = [
            (dy, dx)
            for dy in range(-max_shift, max_shift + 1)
            for dx in range(-max_shift, max_shift + 1)
            if np.array_equal(out[beta], shifted(x[beta], dy, dx))
        ]
        assert len(matches) == 1, f"image {beta}: no single shift explains the output"
        offsets.add(matches[0])
    assert len(offsets) == (2 * max_shift + 1) ** 2  # every offset drawn at least once
    np.testing.assert_array_equal(random_shift(x, np.random.default_rng(0), 0), x)


# Error inputs of random_shift: (x, rng, max_shift, exception, message pattern)
_X = np.zeros((2, 1, 4, 4))
_RNG = np.random.default_rng(0)
SHIFT_ERRORS = [
    (
        np.zeros((4, 4)),
        _RNG,
        1,
        ValueError,
        r"random_shift: x: expected a 4-D array \(B, C, H, W\), got 2-D with shape \(4, 4\)",
    ),
    (np.zeros((1, 4, 4)), _RNG, 1, ValueError, r"got 3-D .*add the batch axis with x\[None\]"),
    (
        np.zeros((2, 1, 4, 4), np.int64),
        _RNG,
        1,
        TypeError,
        r"random_shift: x: expected dtype float32 or float64, got int64",
    ),
    ([[[[0.0]]]], _RNG, 1, TypeError, r"random_shift: x: expected a numpy.ndarray"),
    (
        _X,
        0,
        1,
        TypeError,
        r"random_shift: rng: expected a numpy.random.Generator, got int 0; .*default_rng",
    ),
    (
        _X,
        np.random.RandomState(0),
        1,
        TypeError,
        r"rng: expected a numpy.random.Generator, got "
        r"RandomState",
    ),
    (_X, _RNG, -1, ValueError, r"random_shift: max_shift: expected an int >= 0, got -1"),
    (_X, _RNG, 1.5, TypeError, r"random_shift: max_shift: expected an int >= 0, got float 1.5"),
    (_X, _RNG, True, TypeError, r"random_shift: max_shift: expected an int >= 0"),
]


@pytest.mark.parametrize(
    ("x", "rng", "max_shift", "error", "pattern"),
    SHIFT_ERRORS,
    ids=[p[:40] for *_, p in SHIFT_ERRORS],
)
def test_random_shift_bad_input(x, rng, max_shift, error, pattern):
    state = _RNG.bit_generator.state
    with pytest.raises(error, match=pattern):
        random_shift(x, rng, max_shift)
    assert _RNG.bit_generator.state == state  # refused before drawing anything


def test_random_shift_float32_stays_float32():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5) + 1
    out = random_shift(x, np.random.default_rng(3), 1)
    assert out.dtype == np.float32 and out.shape == x.shape
    # every value is an input value of the same image and channel, or a shifted-in zero
    for beta in range(2):
        for c in range(3):
            assert set(out[beta, c].ravel()) <= set(x[beta, c].ravel()) | {0.0}


def test_random_flip_mirrors_the_images_its_draws_pick():
    from cnnmath.augment import random_flip

    x = np.random.default_rng(0).standard_normal((64, 2, 3, 5))
    out = random_flip(x, np.random.default_rng(7), p=0.3)
    draws = np.random.default_rng(7).random(64)  # the same stream: one uniform per image
    for b in range(64):  # the literal witness, image by image
        want = x[b, :, :, ::-1] if draws[b] < 0.3 else x[b]
        np.testing.assert_array_equal(out[b], want)
    assert 0 < (draws < 0.3).sum() < 64
    np.testing.assert_array_equal(random_flip(x, np.random.default_rng(1), p=0.0), x)
    np.testing.assert_array_equal(random_flip(x, np.random.default_rng(1), p=1.0), x[..., ::-1])


def test_random_flip_is_torchvisions_hflip():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((4, 3, 5, 6))
    from cnnmath.augment import random_flip

    # torchvision's hflip is torch.flip over the last axis
    np.testing.assert_array_equal(
        random_flip(x, np.random.default_rng(0), p=1.0),
        torch.flip(torch.from_numpy(x), [-1]).numpy(),
    )


def test_compose_applies_in_order_from_one_stream():
    from cnnmath.augment import compose, random_flip, random_shift

    x = np.random.default_rng(0).standard_normal((8, 1, 6, 6))
    both = compose(random_flip, lambda x, rng: random_shift(x, rng, 2))
    rng = np.random.default_rng(3)
    want = random_shift(random_flip(x, rng), rng, 2)
    np.testing.assert_array_equal(both(x, np.random.default_rng(3)), want)
    with pytest.raises(TypeError, match=r"compose: augments\[1\]"):
        compose(random_flip, 3)
    with pytest.raises(ValueError, match="p"):
        random_flip(x, np.random.default_rng(0), p=1.5)
