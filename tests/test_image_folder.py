"""data.load_image_folder against torchvision's ImageFolder: the same classes, the same files
in the same order with the same labels, and pixels within one 8-bit level of
torchvision's Resize + ToTensor (which resizes the 8-bit image, where cnnmath resizes
floats); bad folders and files refused by name."""

import os

import numpy as np
import pytest

from cnnmath.data import load_image_folder
from torchvision_helper import import_torchvision

Image = pytest.importorskip("PIL.Image")


def _write(path, mode, size, seed):
    rng = np.random.default_rng(seed)
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    pixels = rng.integers(0, 256, size=(size[1], size[0], channels), dtype=np.uint8)
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode=mode)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    image.save(path)


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "pets"
    _write(root / "dog" / "b.png", "RGB", (12, 9), 0)
    _write(root / "dog" / "a.png", "L", (7, 7), 1)
    _write(root / "dog" / "puppies" / "c.bmp", "RGB", (5, 11), 2)
    _write(root / "dog" / "puppies" / "x" / "d.png", "RGB", (6, 6), 7)
    _write(root / "dog" / "puppies-2" / "e.png", "RGB", (6, 6), 8)  # '-' sorts before '/'

    _write(root / "cat" / "z.png", "RGBA", (10, 10), 3)
    _write(root / "cat" / "y.tif", "RGB", (8, 8), 4)
    _write(root / "bird" / "x.png", "RGB", (20, 6), 5)
    (root / "bird" / "notes.txt").write_text("not an image")
    _write(tmp_path / "pets" / ".ipynb_checkpoints" / "q.png", "RGB", (4, 4), 6)
    return root


def test_order_labels_and_pixels_are_torchvisions(folder, tmp_path):
    tv = import_torchvision()
    X, y, classes = load_image_folder(folder, (8, 6), dtype=np.float64)
    # torchvision takes hidden folders as classes too (here they are not, as documented):
    # give it the folder without one
    os.rename(folder / ".ipynb_checkpoints", tmp_path / "hidden")
    T = tv.transforms
    theirs = tv.datasets.ImageFolder(
        str(folder), transform=T.Compose([T.Resize((8, 6)), T.ToTensor()])
    )
    assert classes == theirs.classes == ["bird", "cat", "dog"]
    assert y.tolist() == theirs.targets
    assert X.shape == (len(theirs), 3, 8, 6)
    for i in range(len(theirs)):
        image, label = theirs[i]
        assert label == y[i]
        np.testing.assert_allclose(X[i], image.numpy(), atol=1 / 255 + 1e-6)


def test_gray_channels_and_float32(folder):
    X, y, _ = load_image_folder(folder, (5, 5), channels=1)
    assert X.dtype == np.float32 and X.shape == (8, 1, 5, 5)
    assert 0 <= X.min() and X.max() <= 1


@pytest.mark.parametrize(
    ("change", "call", "error", "words"),
    [
        (None, lambda root: load_image_folder(root / "none", (4, 4)), ValueError, ["root", "none"]),
        (None, lambda root: load_image_folder(root, (4, 0)), ValueError, ["size", "(4, 0)"]),
        (
            None,
            lambda root: load_image_folder(root, (4, 4), channels=2),
            ValueError,
            ["channels", "2"],
        ),
        (None, lambda root: load_image_folder(root, (4, 4), dtype=np.int32), TypeError, ["dtype"]),
        (
            "empty",
            lambda root: load_image_folder(root, (4, 4)),
            ValueError,
            ["'fish'", "no image file"],
        ),
        ("corrupt", lambda root: load_image_folder(root, (4, 4)), ValueError, ["broken.png"]),
        (
            "bomb",
            lambda root: load_image_folder(root, (4, 4), max_pixels=50),
            ValueError,
            ["x.png", "pixels"],
        ),
    ],
)
def test_bad_folders_and_files_are_named(folder, change, call, error, words):
    if change == "empty":
        (folder / "fish").mkdir()
    elif change == "corrupt":
        (folder / "cat" / "broken.png").write_bytes(b"\\x89PNG\\r\\n\\x1a\\n not really")
    with pytest.raises(error) as caught:
        call(folder)
    for word in words:
        assert word in str(caught.value)
