"""torchvision's evaluation preprocessing — ``T.Resize``, ``T.CenterCrop``, ``T.ToTensor``,
``T.Normalize`` on a PIL image — against ``cnnmath.images.resize(..., as_uint8=True)``,
``images.center_crop`` and the normalisation by hand, on PNG files the tests write (random
and smooth pixels; landscape, portrait, odd sizes, gray, an image smaller than the crop).

The 8-bit samples after resizing and cropping must be torchvision's to the last bit; the
normalised tensors agree to float32 rounding (torchvision computes them in float32).
"""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath import images
from torchvision_helper import import_torchvision

pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


def transforms():
    return import_torchvision().transforms


def write_image(path, height, width, channels=3, seed=0):
    """A PNG of (height, width) pixels: a smooth gradient plus noise (uint8), lossless."""
    rng = np.random.default_rng(seed)
    i, j = np.mgrid[0:height, 0:width]
    smooth = 127 + 100 * np.sin(i / 7.0)[..., None] * np.cos(
        j[..., None] / 11.0 + np.arange(channels)
    )
    q = np.clip(smooth + rng.integers(-40, 41, (height, width, channels)), 0, 255)
    q = q.astype(np.uint8)
    Image.fromarray(q[..., 0] if channels == 1 else q).save(path)
    return path


CASES = [  # (H, W), resize, crop: Resize(resize), CenterCrop(crop)
    ((300, 451), 256, 224),  # landscape: the height goes to 256
    ((517, 333), 256, 224),  # portrait
    ((600, 512), 256, 224),  # the sample photograph's shape
    ((257, 259), 255, 224),  # odd sizes: odd margins, rounded to even
    ((61, 47), 40, (48, 37)),  # odd margins on both axes, a rectangular crop
    ((90, 70), 64, 100),  # smaller than the crop: zero-padded on both axes
    ((80, 50), 40, (50, 70)),  # padded along one axis, cropped along the other
    ((200, 120), (150, 149), 149),  # an exact size (the aspect not kept), then a crop
    ((224, 224), 224, 224),  # already the size: neither resized nor cropped
    ((33, 100), 50, 41),  # enlarged
]


def ids(case):
    (H, W), resize, crop = case
    return f"{H}x{W}-resize{resize}-crop{crop}".replace(" ", "")


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_resize_center_crop_normalize_is_torchvisions(tmp_path, case):
    T = transforms()
    (H, W), resize, crop = case
    path = write_image(tmp_path / "x.png", H, W)
    with Image.open(path) as im:
        pil = im.convert("RGB")
        theirs_q = np.asarray(T.CenterCrop(crop)(T.Resize(resize)(pil)))  # (h, w, 3) uint8
        theirs = T.Compose(
            [T.Resize(resize), T.CenterCrop(crop), T.ToTensor(), T.Normalize(MEAN, STD)]
        )(pil).numpy()

    x, _ = images.load_image(path)
    x = images.center_crop(images.resize(x, resize, as_uint8=True), crop)
    q = np.rint(x * 255)
    np.testing.assert_array_equal(q, theirs_q.transpose(2, 0, 1))  # to the last bit
    np.testing.assert_array_equal(x, q / 255)  # on the 8-bit levels
    ours = (x - MEAN[:, None, None]) / STD[:, None, None]
    assert ours.shape == theirs.shape
    ulp = np.finfo(np.float32).eps * np.abs(theirs).max()
    assert np.abs(ours - theirs).max() <= 4 * ulp
    assert (
        np.array_equal(ours.astype(np.float32), theirs)
        or np.abs(ours.astype(np.float32) - theirs).max() <= 4 * ulp
    )


def test_gray_image_and_max_size_are_torchvisions(tmp_path):
    T = transforms()
    path = write_image(tmp_path / "gray.png", 40, 300, channels=1)
    with Image.open(path) as pil:
        theirs = np.asarray(T.Resize(64, max_size=100)(pil))
    x, _ = images.load_image(path)
    ours = images.resize(x, 64, max_size=100, as_uint8=True)
    assert ours.shape == (1, 13, 100)  # the long side limited to 100: ⌊100·64/492⌋ = 13
    np.testing.assert_array_equal(np.rint(ours[0] * 255), theirs)


@pytest.mark.parametrize("H", range(5, 13))
@pytest.mark.parametrize("W", [3, 4, 9, 10])
def test_center_crop_offsets_and_padding_are_torchvisions(H, W):
    """Every margin from −2 to 7 along each axis, on a tensor (the same offsets as on PIL)."""
    torch = pytest.importorskip("torch")
    F = import_torchvision().transforms.functional
    x = np.arange(2 * H * W, dtype=np.float64).reshape(2, H, W) + 1
    for crop in [(5, 5), (7, 4), (8, 6), (4, 11)]:
        theirs = F.center_crop(torch.from_numpy(x), list(crop)).numpy()
        np.testing.assert_array_equal(images.center_crop(x, crop), theirs)


def test_resized_size_is_torchvisions_over_many_shapes():
    F = import_torchvision().transforms.functional
    rng = np.random.default_rng(1)
    for H, W in rng.integers(1, 2000, (300, 2)):
        for size, max_size in ((256, None), (224, None), (7, None), (256, 300), (100, 1000)):
            theirs = F._compute_resized_output_size((int(H), int(W)), [size], max_size)
            assert images.resized_size((H, W), size, max_size=max_size) == tuple(theirs), (
                H,
                W,
                size,
                max_size,
            )


def test_float_resize_keeps_the_aspect_ratio_and_differs_from_uint8_by_a_level(tmp_path):
    """The default (as floats) takes an int size too; it differs from the 8-bit way by at most
    about a level, and is not on the 8-bit levels."""
    path = write_image(tmp_path / "x.png", 300, 451)
    x, _ = images.load_image(path)
    as_float = images.resize(x, 256)
    as_uint8 = images.resize(x, 256, as_uint8=True)
    assert as_float.shape == as_uint8.shape == (3, 256, 384)
    gap = np.abs(as_float - as_uint8).max()
    assert 0 < gap <= 1.01 / 255
    assert images.resize(x, (128, 100)).shape == (3, 128, 100)  # the pair, as before


ERRORS = [
    (lambda x: images.resize(x, 0), ValueError, r"resize: size: expected an int >= 1, got 0"),
    (lambda x: images.resize(x, (1, 2, 3)), TypeError, r"resize: size: expected an int"),
    (lambda x: images.resize(x, 2.5), TypeError, r"resize: size: expected an int"),
    (lambda x: images.resize(x, True), TypeError, r"resize: size: expected an int"),
    (
        lambda x: images.resize(x, (8, 8), max_size=10),
        ValueError,
        r"max_size: applies to an int size",
    ),
    (lambda x: images.resize(x, 8, max_size=8), ValueError, r"max_size: expected more than"),
    (lambda x: images.resize(x * 2, 8, as_uint8=True), ValueError, r"as_uint8 needs .* \[0, 1\]"),
    (lambda x: images.resize(x, 8, as_uint8=1), TypeError, r"as_uint8: expected True or False"),
    (lambda x: images.resize(x[0], 8), ValueError, r"resize: x: expected a 3-D array"),
    (lambda x: images.resize((x * 255).astype(np.uint8), 8), TypeError, r"resize: x: expected"),
    (lambda x: images.center_crop(x, (2, 0)), ValueError, r"center_crop: size: expected an int"),
    (lambda x: images.center_crop(x.tolist(), 2), TypeError, r"center_crop: x: expected a nump"),
    (lambda x: images.center_crop(x[0, 0], 2), ValueError, r"center_crop: x: expected an array"),
]


@pytest.mark.parametrize("call, error, pattern", ERRORS)
def test_bad_arguments_name_the_argument(call, error, pattern):
    x = np.random.default_rng(0).random((3, 6, 5))
    with pytest.raises(error, match=pattern):
        call(x)
