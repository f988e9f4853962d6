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


# ---------------------------------------------------------------------------------------------
# RandomResizedCrop, ColorJitter, RandomErasing: the deterministic halves against torchvision's
# functional transforms on the same parameters, image by image; the draws against
# torchvision's get_params by two-sample tests at fixed seeds; the random transforms as
# their deterministic halves of a replayed stream.

from cnnmath.augment import (  # noqa: E402
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    color_jitter,
    compose,
    erase,
    random_erasing,
    random_erasing_boxes,
    random_flip,
    random_resized_crop,
    random_resized_crop_boxes,
    resized_crop,
)


def torchvision_v2():
    """torchvision.transforms.v2.functional and torchvision.transforms (for get_params)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from torchvision_helper import import_torchvision

    tv = import_torchvision()
    from torchvision.transforms.v2 import functional as F

    return F, tv.transforms


# Boxes (top, left, height, width) on 13×17 images: enlarged, shrunk, one side kept, the whole
# image, one pixel, boxes on every edge
BOXES = np.array(
    [
        [0, 0, 13, 17],
        [2, 3, 5, 7],
        [0, 0, 1, 1],
        [12, 16, 1, 1],
        [4, 0, 9, 17],
        [0, 10, 13, 7],
        [1, 2, 11, 4],
        [6, 5, 3, 12],
    ]
)


@pytest.mark.parametrize("size", [None, 8, (20, 31), (13, 5), (1, 1)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_resized_crop_is_torchvisions_box_by_box(size, dtype):
    F, _ = torchvision_v2()
    import torch

    x = np.random.default_rng(0).random((len(BOXES), 3, 13, 17)).astype(dtype)
    out = resized_crop(x, BOXES, size)
    hw = (13, 17) if size is None else (size, size) if isinstance(size, int) else size
    assert out.shape == (len(BOXES), 3, *hw) and out.dtype == dtype
    tol = 1e-14 if dtype == np.float64 else 1e-6
    for b, box in enumerate(BOXES):
        want = F.resized_crop(torch.from_numpy(x[b]), *map(int, box), list(hw), antialias=False)
        np.testing.assert_allclose(out[b], want.numpy(), rtol=0, atol=tol, err_msg=f"box {box}")


def test_resized_crop_stays_inside_the_box():
    """Enlarging a box repeats its edge pixels, never reads the neighbours outside it: a box
    of constant value inside a noisy image resizes to that constant."""
    x = np.random.default_rng(1).random((2, 1, 10, 10))
    x[0, :, 3:6, 2:4] = 0.25
    x[1, :, 0:2, 8:10] = 0.75
    out = resized_crop(x, np.array([[3, 2, 3, 2], [0, 8, 2, 2]]), (9, 7))
    np.testing.assert_array_equal(out[0], 0.25)
    np.testing.assert_array_equal(out[1], 0.75)
    # the whole image at its own size is the image
    np.testing.assert_array_equal(resized_crop(x, np.array([[0, 0, 10, 10]] * 2)), x)


def test_random_resized_crop_is_resized_crop_of_its_boxes():
    x = np.random.default_rng(0).random((16, 3, 20, 24)).astype(np.float32)
    out = random_resized_crop(x, np.random.default_rng(5), size=(12, 10), scale=(0.2, 0.9))
    boxes = random_resized_crop_boxes(np.random.default_rng(5), x.shape, scale=(0.2, 0.9))
    np.testing.assert_array_equal(out, resized_crop(x, boxes, (12, 10)))
    assert out.dtype == np.float32 and out.shape == (16, 3, 12, 10)
    assert len({tuple(b) for b in boxes}) > 12  # every image its own draw
    again = random_resized_crop(x, np.random.default_rng(5), size=(12, 10), scale=(0.2, 0.9))
    np.testing.assert_array_equal(out, again)  # the same seed, the same crops
    assert random_resized_crop(x, np.random.default_rng(0)).shape == x.shape  # size = (H, W)


def box_statistics(boxes, H, W, aspect):
    """Area fraction, log aspect, and the place of top and left among the places possible."""
    top, left, h, w = boxes.T.astype(np.float64)
    return {
        "area": h * w / (H * W),
        "log aspect": np.log(aspect(h, w)),
        "top": (top + 0.5) / (H - h + 1),
        "left": (left + 0.5) / (W - w + 1),
    }


N_DRAWS, H_DRAW, W_DRAW = 4000, 24, 32


@pytest.fixture(scope="module")
def torchvision_crop_boxes():
    """4000 RandomResizedCrop.get_params boxes of a 24×32 image (torch's generator, seed 0)."""
    _, transforms = torchvision_v2()
    import torch

    torch.manual_seed(0)
    image = torch.zeros(3, H_DRAW, W_DRAW)
    get = transforms.RandomResizedCrop.get_params
    return np.array([get(image, (0.08, 1.0), (3 / 4, 4 / 3)) for _ in range(N_DRAWS)])


def test_random_resized_crop_boxes_are_drawn_as_torchvisions(torchvision_crop_boxes):
    """The same distribution as torchvision's get_params: two-sample Kolmogorov–Smirnov tests
    of area fraction, log aspect w/h and placement (fixed seeds); a scale 0.15 in place of
    0.08 is told apart, so the test can fail."""
    ks_2samp = pytest.importorskip("scipy.stats").ks_2samp
    shape = (N_DRAWS, 3, H_DRAW, W_DRAW)
    ours = random_resized_crop_boxes(np.random.default_rng(0), shape)
    aspect = lambda h, w: w / h
    theirs = box_statistics(torchvision_crop_boxes, H_DRAW, W_DRAW, aspect)
    mine = box_statistics(ours, H_DRAW, W_DRAW, aspect)
    for key in theirs:
        assert ks_2samp(theirs[key], mine[key]).pvalue > 1e-3, key
    wrong = random_resized_crop_boxes(np.random.default_rng(0), shape, scale=(0.15, 1.0))
    wrong_area = box_statistics(wrong, H_DRAW, W_DRAW, aspect)["area"]
    assert ks_2samp(theirs["area"], wrong_area).pvalue < 1e-6


def test_random_resized_crop_boxes_lie_in_their_ranges():
    """Inside the image; area fraction and aspect within scale and ratio up to the rounding
    of the sides (|side − √(…)| <= ½); top uniform over its places (mean ½ of the range)."""
    H, W = 30, 40
    boxes = random_resized_crop_boxes(
        np.random.default_rng(3), (3000, 1, H, W), (0.3, 0.7), (0.5, 2)
    )
    top, left, h, w = boxes.T
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= H).all() and (left + w <= W).all()
    assert ((w - 0.5) * (h - 0.5) <= 0.7 * H * W).all() and (
        (w + 0.5) * (h + 0.5) >= 0.3 * H * W
    ).all()
    assert ((w - 0.5) / (h + 0.5) <= 2).all() and ((w + 0.5) / (h - 0.5) >= 0.5).all()
    places = (top + 0.5) / (H - h + 1)  # uniform on (0, 1) up to discreteness: mean ½, var 1/12
    assert abs(places.mean() - 0.5) < 4 * np.sqrt(1 / 12 / 3000)
    assert boxes.dtype == np.intp


@pytest.mark.parametrize(
    ("H", "W", "scale", "ratio"),
    [
        (4, 400, (0.9, 1.0), (3 / 4, 4 / 3)),
        (400, 4, (0.9, 1.0), (3 / 4, 4 / 3)),
        (9, 9, (2, 3), (0.5, 2)),
    ],
    ids=["wide", "tall", "too-large"],
)
def test_random_resized_crop_boxes_fall_back_as_torchvision(H, W, scale, ratio):
    """No try fits: torchvision's central crop of the image's aspect clamped to the ratios
    (deterministic, so equal to get_params')."""
    _, transforms = torchvision_v2()
    import torch

    want = transforms.RandomResizedCrop.get_params(torch.zeros(1, H, W), scale, ratio)
    boxes = random_resized_crop_boxes(np.random.default_rng(0), (5, 1, H, W), scale, ratio)
    assert (boxes == np.array(want)).all(), (boxes[0], want)


# --- colour


def colour_batch(B, C, dtype, seed=0):
    """RGB in [0, 1] with the HSV conversion's special cases: grays, ties between the
    largest channels, values on the sector boundaries, pure black and white."""
    x = np.random.default_rng(seed).random((B, C, 7, 9))
    x[: B // 4] = np.round(x[: B // 4] * 4) / 4  # ties and exact sector edges
    x[B // 4 : B // 3, :, :3] = x[B // 4 : B // 3, :1, :3]  # gray pixels
    x[0, :, 0, 0], x[0, :, 0, 1] = 0.0, 1.0
    return x.astype(dtype)


ADJUST = [  # (ours, torchvision's name, factor range)
    (adjust_brightness, "adjust_brightness", (0.0, 2.0)),
    (adjust_contrast, "adjust_contrast", (0.0, 2.0)),
    (adjust_saturation, "adjust_saturation", (0.0, 2.0)),
    (adjust_hue, "adjust_hue", (-0.5, 0.5)),
]


@pytest.mark.parametrize(("ours", "name", "factors"), ADJUST, ids=[a[1] for a in ADJUST])
@pytest.mark.parametrize("C", [3, 1])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adjust_is_torchvisions_image_by_image(ours, name, factors, C, dtype):
    F, _ = torchvision_v2()
    import torch

    x = colour_batch(24, C, dtype)
    f = np.random.default_rng(1).uniform(*factors, size=24)
    f[:3] = [factors[0], factors[1], (factors[0] + factors[1]) / 2]  # the ends, the middle
    out = ours(x, f)
    assert out.shape == x.shape and out.dtype == dtype
    # torchvision computes hue in float32 whatever the input's dtype
    tol = 2e-6 if dtype == np.float32 or name == "adjust_hue" else 1e-15
    for b in range(24):
        want = getattr(F, name)(torch.from_numpy(x[b]), float(f[b])).numpy()
        np.testing.assert_allclose(out[b], want, rtol=0, atol=tol, err_msg=f"image {b}")
    same = ours(x, float(f[5]))  # one number for every image
    np.testing.assert_array_equal(same[5], out[5])


def test_adjust_hue_float32_is_torchvisions_bit_for_bit():
    F, _ = torchvision_v2()
    import torch

    x = colour_batch(16, 3, np.float32, seed=2)
    f = np.linspace(-0.5, 0.5, 16)
    out = adjust_hue(x, f)
    want = np.stack([F.adjust_hue(torch.from_numpy(x[b]), float(f[b])).numpy() for b in range(16)])
    np.testing.assert_array_equal(out, want)


def test_adjust_known_values():
    red = np.array([[[[1.0]], [[0.0]], [[0.0]]]])
    np.testing.assert_allclose(adjust_hue(red, 1 / 3).ravel(), [0, 1, 0], atol=1e-15)
    np.testing.assert_allclose(
        adjust_hue(np.repeat(red, 3, 0), np.array([1 / 3, -1 / 3, 0.5]))[:, :, 0, 0],
        [[0, 1, 0], [0, 0, 1], [0, 1, 1]],
        atol=1e-15,
    )
    np.testing.assert_array_equal(adjust_saturation(red, 1.0), red)
    np.testing.assert_array_equal(adjust_brightness(red, 0.0), 0 * red)
    x = colour_batch(4, 3, np.float64)
    np.testing.assert_allclose(
        adjust_contrast(x, 0.0),
        np.broadcast_to(
            (0.2989 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).mean(axis=(1, 2))[
                :, None, None, None
            ],
            x.shape,
        ),
        atol=1e-15,
    )
    np.testing.assert_allclose(adjust_hue(x, 0.0), x, rtol=0, atol=1e-14)  # HSV and back


def replay_color_jitter(x, seed, ranges):
    """color_jitter written out with torchvision: the documented draws from the same stream
    (4B uniforms whose argsort is each image's order; B factors per operation used), then
    torchvision's functionals image by image in that image's order."""
    F, _ = torchvision_v2()
    import torch

    rng = np.random.default_rng(seed)
    B = x.shape[0]
    order = np.argsort(rng.random((B, 4)), axis=1)
    factors = [None if r is None else rng.uniform(*r, size=B) for r in ranges]
    names = ["adjust_brightness", "adjust_contrast", "adjust_saturation", "adjust_hue"]
    out = []
    for b in range(B):
        image = torch.from_numpy(x[b])
        for k in order[b]:
            if factors[k] is not None:
                image = getattr(F, names[k])(image, float(factors[k][b]))
        out.append(image.numpy())
    return np.stack(out), order


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_color_jitter_is_torchvisions_in_each_images_order(dtype):
    """Every image its own factors and its own order of the four operations, as torchvision's
    ColorJitter gives one image: the output matches the replay of the documented draws. A
    strong jitter (clipping, hue) makes the orders matter: one order for the whole batch
    does not match, so the test can fail."""
    F, _ = torchvision_v2()
    import torch

    x = colour_batch(48, 3, dtype)
    out = color_jitter(
        x, np.random.default_rng(4), brightness=0.8, contrast=0.8, saturation=(0.0, 3.0), hue=0.4
    )
    ranges = [(0.19999999999999996, 1.8), (0.19999999999999996, 1.8), (0.0, 3.0), (-0.4, 0.4)]
    want, order = replay_color_jitter(x, 4, ranges)
    assert out.dtype == dtype and out.shape == x.shape
    # torchvision's hue is float32 arithmetic, its rounding scaled by the operations after it
    np.testing.assert_allclose(out, want, rtol=0, atol=2e-6 if dtype == np.float32 else 1e-5)
    assert len({tuple(o) for o in order}) > 12  # many different orders among 48 images
    # the same factors in torchvision's fixed order 0, 1, 2, 3 disagree somewhere
    rng = np.random.default_rng(4)
    rng.random((48, 4))
    factors = [rng.uniform(*r, size=48) for r in ranges]
    fixed = [torch.from_numpy(x[b]) for b in range(48)]
    for k, name in enumerate(
        ["adjust_brightness", "adjust_contrast", "adjust_saturation", "adjust_hue"]
    ):
        fixed = [getattr(F, name)(image, float(factors[k][b])) for b, image in enumerate(fixed)]
    assert np.abs(np.stack([f.numpy() for f in fixed]) - out).max() > 0.05


def test_color_jitter_skips_the_operations_at_zero():
    x = colour_batch(12, 3, np.float64)
    np.testing.assert_array_equal(color_jitter(x, np.random.default_rng(0)), x)
    only_hue, _ = replay_color_jitter(x, 2, [None, None, None, (-0.2, 0.2)])
    np.testing.assert_allclose(
        color_jitter(x, np.random.default_rng(2), hue=0.2), only_hue, atol=2e-6
    )
    only_brightness, _ = replay_color_jitter(x, 3, [(0.5, 0.5), None, None, None])
    # brightness (0.5, 0.5): every factor 0.5, drawn all the same
    np.testing.assert_array_equal(
        color_jitter(x, np.random.default_rng(3), brightness=(0.5, 0.5)), only_brightness
    )
    one = colour_batch(6, 1, np.float32)  # gray images: brightness and contrast only
    out = color_jitter(one, np.random.default_rng(1), 0.5, 0.5, 0.5, 0.5)
    assert out.shape == one.shape and out.dtype == np.float32


# --- erasing


def v_dtype(dtype):
    import torch

    return torch.float64 if dtype == np.float64 else torch.float32


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_erase_is_torchvisions_box_by_box(dtype):
    F, _ = torchvision_v2()
    import torch

    x = np.random.default_rng(0).standard_normal((len(BOXES), 3, 13, 17)).astype(dtype)
    boxes = np.vstack([BOXES[:-1], [[3, 4, 0, 5]]])  # the last erases nothing
    noise = np.random.default_rng(1).standard_normal(x.shape).astype(dtype)
    for value in [0, (0.5, -1.0, 2.0), noise]:
        out = erase(x, boxes, value)
        assert out.dtype == dtype
        for b, (t, l, h, w) in enumerate(boxes):
            if value is noise:  # torchvision's v: the box's own values
                v = torch.from_numpy(noise[b, :, t : t + h, l : l + w])
            else:
                v = torch.tensor(np.atleast_1d(value), dtype=v_dtype(dtype))[:, None, None]
            want = F.erase(torch.from_numpy(x[b]), int(t), int(l), int(h), int(w), v)
            np.testing.assert_array_equal(out[b], want.numpy())
    np.testing.assert_array_equal(erase(x, boxes * [1, 1, 0, 1]), x)  # heights 0: nothing


@pytest.fixture(scope="module")
def torchvision_erasing_boxes():
    """4000 RandomErasing.get_params boxes of a 24×32 image, and 2000 of a 3×3 one (where
    most tries fail), torch's generator at seed 0; an image left alone is height 0."""
    _, transforms = torchvision_v2()
    import torch

    torch.manual_seed(0)
    get = transforms.RandomErasing.get_params

    def draw(n, H, W):
        image = torch.zeros(3, H, W)
        boxes = np.array([get(image, (0.02, 0.33), (0.3, 3.3), value=[0.0])[:4] for _ in range(n)])
        boxes[(boxes[:, 2] == H) & (boxes[:, 3] == W)] = 0  # get_params' "leave it"
        return boxes

    return draw(N_DRAWS, H_DRAW, W_DRAW), draw(2000, 3, 3)


def test_random_erasing_boxes_are_drawn_as_torchvisions(torchvision_erasing_boxes):
    ks_2samp = pytest.importorskip("scipy.stats").ks_2samp
    theirs, theirs_small = torchvision_erasing_boxes
    ours = random_erasing_boxes(np.random.default_rng(0), (N_DRAWS, 3, H_DRAW, W_DRAW), p=1.0)
    aspect = lambda h, w: h / w  # torchvision's erasing ratio is height / width
    a = box_statistics(theirs[theirs[:, 2] > 0], H_DRAW, W_DRAW, aspect)
    b = box_statistics(ours[ours[:, 2] > 0], H_DRAW, W_DRAW, aspect)
    for key in a:
        assert ks_2samp(a[key], b[key]).pvalue > 1e-3, key
    # on 3×3 images most tries fail: the fraction left alone (after ten failures) agrees, as
    # binomial proportions (within 4.5 standard deviations of their difference)
    small = random_erasing_boxes(np.random.default_rng(1), (2000, 3, 3, 3), p=1.0)
    left_alone = [np.mean(s[:, 2] == 0) for s in (theirs_small, small)]
    spread = np.sqrt(2 * left_alone[0] * (1 - left_alone[0]) / 2000)
    assert 0.05 < left_alone[0] < 0.95 and abs(left_alone[0] - left_alone[1]) < 4.5 * spread
    sizes = lambda s: {tuple(v) for v in s[s[:, 2] > 0][:, 2:]}
    assert sizes(small) == sizes(theirs_small)  # the same box sizes possible: 1×1, 1×2, 2×1, 2×2
    # a wrong ratio convention (width / height) is told apart
    assert ks_2samp(a["log aspect"], -b["log aspect"] + 0.4).pvalue < 1e-6


def test_random_erasing_erases_with_probability_p():
    x = np.random.default_rng(0).random((2000, 1, 16, 16)) + 1  # positive: erased pixels are 0
    out = random_erasing(x, np.random.default_rng(7), p=0.3, scale=(0.1, 0.2))
    erased = (out == 0).any(axis=(1, 2, 3))
    assert abs(erased.mean() - 0.3) < 4 * np.sqrt(0.3 * 0.7 / 2000)
    boxes = random_erasing_boxes(np.random.default_rng(7), x.shape, p=0.3, scale=(0.1, 0.2))
    np.testing.assert_array_equal(out, erase(x, boxes))  # the boxes of the same draws
    np.testing.assert_array_equal(erased, boxes[:, 2] > 0)
    area = (out == 0).sum(axis=(1, 2, 3))[erased] / 256
    assert (area > 0.1 - 0.1).all() and (area < 0.2 + 0.1).all()  # ≈ scale, to the rounding
    np.testing.assert_array_equal(random_erasing(x, np.random.default_rng(0), p=0.0), x)


def test_random_erasing_with_no_box_that_fits_erases_nothing():
    """Images where none of the ten tries fits (short, wide images; or every try taller than
    the image) get the empty box and are left as they are, as torchvision's RandomErasing
    leaves them (the places were once drawn from an empty range and raised)."""
    tv = pytest.importorskip("torchvision_helper").import_torchvision()
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).random((4, 3, 2, 64))
    for seed in range(20):
        boxes = random_erasing_boxes(np.random.default_rng(seed), x.shape, p=1.0)
        fits = (boxes[:, 2] > 0) & (boxes[:, 2] < 2)
        assert ((boxes == 0).all(axis=1) | fits).all()
    tall = random_erasing(x, np.random.default_rng(0), p=1.0, scale=(0.9, 1.0), ratio=(3.0, 3.3))
    np.testing.assert_array_equal(tall, x)
    erasing = tv.transforms.v2.RandomErasing(p=1.0, scale=(0.9, 1.0), ratio=(3.0, 3.3))
    np.testing.assert_array_equal(erasing(torch.from_numpy(x)).numpy(), x)  # the witness agrees


def test_random_erasing_values():
    x = np.zeros((50, 3, 8, 8), np.float32)
    out = random_erasing(x, np.random.default_rng(1), p=1.0, value=(1.0, 2.0, 3.0))
    for c in range(3):
        assert set(np.unique(out[:, c])) == {0.0, c + 1.0}
    noisy = random_erasing(x, np.random.default_rng(1), p=1.0, value="random")
    rng = np.random.default_rng(1)
    boxes = random_erasing_boxes(rng, x.shape, p=1.0)
    noise = rng.standard_normal(x.shape, dtype=np.float32)  # drawn after the boxes
    np.testing.assert_array_equal(noisy, erase(x, boxes, noise))
    assert noisy.dtype == np.float32 and 0.9 < noisy[noisy != 0].std() < 1.1


# --- together


def test_fit_runs_with_the_augmentations_composed():
    from cnnmath import nn, optim
    from cnnmath.train import fit

    rng = np.random.default_rng(0)
    X = rng.random((24, 3, 12, 12)).astype(np.float32)
    y = rng.integers(0, 3, 24)
    augment = compose(
        lambda x, r: random_resized_crop(x, r, scale=(0.5, 1.0)),
        random_flip,
        lambda x, r: color_jitter(x, r, 0.4, 0.4, 0.4, 0.1),
        lambda x, r: random_erasing(x, r, p=0.5),
    )

    def run():
        model = nn.Sequential(
            nn.Conv2d(3, 4, 3, rng=0), nn.ReLU(), nn.Flatten(), nn.Linear(400, 3, rng=1)
        )
        history = fit(
            model,
            optim.SGD(model.parameters(), lr=0.05),
            (X, y),
            epochs=2,
            batch_size=8,
            seed=3,
            augment=augment,
            progress=False,
            threads=1,
        )
        return [r["loss"] for r in history], model.state_dict()

    (loss_a, weights_a), (loss_b, weights_b) = run(), run()
    assert len(loss_a) == 2 and all(np.isfinite(loss_a))
    assert loss_a == loss_b and all(np.array_equal(weights_a[k], weights_b[k]) for k in weights_a)


# Error inputs of the new transforms: (call, exception, message pattern); each refused before
# any number is drawn from _RNG.
_C3 = np.full((2, 3, 4, 4), 0.5)
NEW_ERRORS = [
    (
        lambda: resized_crop(_C3, np.array([[0, 0, 5, 4], [0, 0, 1, 1]])),
        ValueError,
        r"resized_crop: boxes: expected boxes inside the 4×4 images .* got \(0, 0, 5, 4\) at row 0",
    ),
    (
        lambda: resized_crop(_C3, np.array([[0, 0, 1, 1]])),
        ValueError,
        r"resized_crop: boxes: expected shape \(B, 4\) = \(2, 4\) .* got \(1, 4\)",
    ),
    (
        lambda: resized_crop(_C3, np.zeros((2, 4))),
        TypeError,
        r"resized_crop: boxes: expected an integer numpy.ndarray .* of dtype float64",
    ),
    (
        lambda: resized_crop(_C3, np.array([[0, 0, 0, 1], [0, 0, 1, 1]])),
        ValueError,
        r"height, width >= 1",
    ),
    (
        lambda: resized_crop(_C3, np.array([[0, 0, 1, 1]] * 2), (0, 3)),
        ValueError,
        r"resized_crop: size: expected values >= 1",
    ),
    (
        lambda: random_resized_crop(_C3, _RNG, scale=(0.5, 0.1)),
        ValueError,
        r"random_resized_crop: scale: expected min <= max, got \(0.5, 0.1\)",
    ),
    (
        lambda: random_resized_crop(_C3, _RNG, ratio=(0, 1)),
        ValueError,
        r"random_resized_crop: ratio\[0\]: expected a finite number > 0, got 0",
    ),
    (
        lambda: random_resized_crop(_C3, _RNG, scale=0.5),
        TypeError,
        r"random_resized_crop: scale: expected a pair \(min, max\)",
    ),
    (
        lambda: random_resized_crop(_C3, _RNG, size=2.5),
        TypeError,
        r"random_resized_crop: size: expected an int or a pair",
    ),
    (
        lambda: random_resized_crop(_C3, 0),
        TypeError,
        r"random_resized_crop: rng: expected a numpy.random.Generator",
    ),
    (
        lambda: random_resized_crop_boxes(_RNG, (2, 4, 4)),
        ValueError,
        r"random_resized_crop_boxes: shape: expected a batch's shape \(B, C, H, W\)",
    ),
    (
        lambda: color_jitter(_C3 * 3, _RNG, 0.5),
        ValueError,
        r"color_jitter: x: expected values in \[0, 1\] .*before normalising.*max 1.5",
    ),
    (
        lambda: color_jitter(np.full((2, 2, 4, 4), 0.5), _RNG, 0.5),
        ValueError,
        r"color_jitter: x: expected 1 \(gray\) or 3 \(RGB\) channels, got 2",
    ),
    (
        lambda: color_jitter(_C3, _RNG, hue=0.6),
        ValueError,
        r"color_jitter: hue: expected a number in \[0, 0.5\]",
    ),
    (
        lambda: color_jitter(_C3, _RNG, hue=(-0.6, 0.1)),
        ValueError,
        r"color_jitter: hue\[0\]: expected a finite number >= -0.5 and <= 0.5, got -0.6",
    ),
    (
        lambda: color_jitter(_C3, _RNG, brightness=-1),
        ValueError,
        r"color_jitter: brightness: expected a finite number >= 0, got -1",
    ),
    (
        lambda: color_jitter(_C3, _RNG, contrast="a"),
        TypeError,
        r"color_jitter: contrast: expected a real number, got str 'a'",
    ),
    (
        lambda: color_jitter(_C3[:, :, 0], _RNG),
        ValueError,
        r"color_jitter: x: expected a 4-D array .* add the batch axis",
    ),
    (
        lambda: adjust_hue(_C3, 0.7),
        ValueError,
        r"adjust_hue: hue_factor: expected a finite number >= -0.5 and <= 0.5, got 0.7",
    ),
    (
        lambda: adjust_brightness(_C3, np.array([1.0, -1.0])),
        ValueError,
        r"adjust_brightness: brightness_factor: expected factors >= 0, got -1.0 at index 1",
    ),
    (
        lambda: adjust_contrast(_C3, np.ones(3)),
        ValueError,
        r"adjust_contrast: contrast_factor: expected a number or one per image, shape \(2,\)",
    ),
    (
        lambda: adjust_saturation(_C3 - 1, 1.0),
        ValueError,
        r"adjust_saturation: x: expected values in \[0, 1\]",
    ),
    (
        lambda: erase(_C3, np.array([[0, 0, 1, 1]] * 2), (1.0, 2.0)),
        ValueError,
        r"erase: value: expected a number or one per channel \(3\), got 2 values",
    ),
    (
        lambda: erase(_C3, np.array([[0, 0, 1, 1]] * 2), "random"),
        ValueError,
        r"erase: value: expected a number or one per channel, got 'random'",
    ),
    (
        lambda: erase(_C3, np.array([[0, 0, 1, 1]] * 2), np.zeros((2, 2, 4, 4))),
        ValueError,
        r"erase: value: expected an array broadcastable to x's shape",
    ),
    (
        lambda: random_erasing(_C3, _RNG, value="noise"),
        ValueError,
        r"random_erasing: value: expected a number, one per channel or 'random', got 'noise'",
    ),
    (
        lambda: random_erasing(_C3, _RNG, p=2),
        ValueError,
        r"random_erasing: p: expected a finite number >= 0 and <= 1, got 2",
    ),
    (
        lambda: random_erasing(_C3, _RNG, scale=(0.1, 1.5)),
        ValueError,
        r"random_erasing: scale\[1\]: expected a finite number >= 0 and <= 1, got 1.5",
    ),
    (
        lambda: random_erasing(_C3.astype(int), _RNG),
        TypeError,
        r"random_erasing: x: expected dtype float32 or float64, got int64",
    ),
    (
        lambda: random_erasing_boxes(np.random.RandomState(0), _C3.shape),
        TypeError,
        r"random_erasing_boxes: rng: expected a numpy.random.Generator, got RandomState",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "pattern"), NEW_ERRORS, ids=[p[:50] for *_, p in NEW_ERRORS]
)
def test_new_transforms_bad_input(call, error, pattern):
    state = _RNG.bit_generator.state
    with pytest.raises(error, match=pattern):
        call()
    assert _RNG.bit_generator.state == state  # refused before drawing anything
