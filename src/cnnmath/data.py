"""Data sets and images for cnnmath: everything ships with a package or is a file the user has.

- ``load_digits(split)`` — scikit-learn's bundled handwritten digits (1797 images of 8×8
  pixels, ten classes), scaled to [0, 1], with one fixed stratified 80/20 train/test split.
- ``read_idx(path)`` / ``load_mnist(images_path, labels_path)`` — MNIST's IDX files, plain
  or gzip-compressed, for users who have them (nothing is downloaded).
- ``load_image_folder(root, size)`` — your own labelled images, one folder per class (the
  layout of torchvision's ``ImageFolder``), resized to one size.
- ``sample_image()`` — the photograph used by ``cnnmath verify`` and the tour (from
  ``cnnmath.images``).
- ``TensorDataset``, ``Subset``, ``random_split``, ``DataLoader``, ``default_collate`` —
  ``torch.utils.data``'s, for a ported loop's ``for xb, yb in loader:`` (from
  ``cnnmath.loader``).

Images come out in the NCHW layout of the ops, ``(N, 1, H, W)``, as float32 by default
(float64 on request); labels as int64 class indices.
"""

from __future__ import annotations

import functools
import gzip
import math
import os
import zlib
from typing import Any

import numpy as np

from ._checks import float_dtype
from ._files import read_regular
from ._optional import require
from .images import sample_image, sample_image_path
from .loader import DataLoader, Subset, TensorDataset, default_collate, random_split

__all__ = [
    "DIGITS_TEST_SIZE",
    "IMAGE_EXTENSIONS",
    "DataLoader",
    "Subset",
    "TensorDataset",
    "default_collate",
    "load_digits",
    "load_image_folder",
    "load_mnist",
    "random_split",
    "read_idx",
    "sample_image",
    "sample_image_path",
]

#: Number of images in the held-out digits test split (about 20 % of 1797, ~36 per class).
DIGITS_TEST_SIZE = 360
#: The seed of the fixed stratified digits split.
DIGITS_SPLIT_SEED = 0
#: Pixel values of scikit-learn's digits are counts 0..16 (of 4×4 blocks of a 32×32 bitmap).
DIGITS_MAX_VALUE = 16.0

_SPLITS = ("train", "test", "all")


@functools.lru_cache(maxsize=1)
def _digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(pixels 0..16 as float64 (1797, 64), labels, train indices, test indices), cached."""
    sklearn_digits = require("sklearn.datasets", "data", "the digits data set").load_digits
    train_test_split = require("sklearn.model_selection", "data").train_test_split
    bunch = sklearn_digits()
    pixels = np.asarray(bunch.data, dtype=np.float64)
    labels = np.asarray(bunch.target, dtype=np.int64)
    index = np.arange(labels.shape[0])
    train_index, test_index = train_test_split(
        index, test_size=DIGITS_TEST_SIZE, stratify=labels, random_state=DIGITS_SPLIT_SEED
    )
    for a in (pixels, labels, train_index, test_index):
        a.setflags(write=False)
    return pixels, labels, np.asarray(train_index), np.asarray(test_index)


def load_digits(split: str = "train", dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's handwritten digits as images ``X (N, 1, 8, 8)`` in [0, 1] and labels ``y``.

    ``X = pixels / 16`` (scikit-learn stores counts 0..16), ``y[i] ∈ {0, …, 9}`` (int64).
    The train/test split is fixed: ``sklearn.model_selection.train_test_split`` with
    ``stratify=y, test_size=360, random_state=0`` on the 1797 images, so ``"train"`` has
    1437 images and ``"test"`` 360 (35 to 37 of each digit), in the order that call returns;
    ``"all"`` is the 1797 images in scikit-learn's order. Nothing is downloaded (the data
    ship with scikit-learn: ``pip install "cnnmath[data]"``).

    Parameters
    ----------
    split : ``"train"``, ``"test"`` or ``"all"``.
    dtype : float32 (default, for training speed) or float64.

    Returns
    -------
    X : (N, 1, 8, 8) array of ``dtype``, fresh (writable, owned by the caller).
    y : (N,) int64.

    >>> X, y = load_digits("test")
    >>> X.shape, y.shape, float(X.max()) <= 1.0
    ((360, 1, 8, 8), (360,), True)
    """
    if not isinstance(split, str) or split not in _SPLITS:
        raise ValueError(f"load_digits: split: expected one of {_SPLITS}, got {split!r}")
    dt = float_dtype("dtype", dtype, func="load_digits")
    pixels, labels, train_index, test_index = _digits_split()
    if split == "train":
        pixels, labels = pixels[train_index], labels[train_index]
    elif split == "test":
        pixels, labels = pixels[test_index], labels[test_index]
    X = (pixels / DIGITS_MAX_VALUE).astype(dt).reshape(-1, 1, 8, 8)
    return X, labels.copy()


# ---------------------------------------------------------------------------------------------
# MNIST's IDX files.
#
# Layout (big-endian): two zero bytes, one byte naming the element type, one byte the number
# of dimensions D; then D unsigned 32-bit sizes; then the elements in row-major order.

#: IDX element-type codes → big-endian NumPy dtypes.
IDX_DTYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: str | os.PathLike) -> bytes:
    raw = read_regular("path", path, func="read_idx", expected="an IDX file")
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"read_idx: {os.fspath(path)}: corrupt gzip data ({exc})") from exc
    return raw


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (MNIST's format), plain or gzip-compressed (detected by its magic bytes).

    The header is ``0x00 0x00 T D`` followed by ``D`` big-endian uint32 sizes; ``T`` is the
    element type (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
    0x0E float64, all big-endian). Returns an array of shape ``(size_1, …, size_D)`` in
    native byte order with the file's element type (MNIST: uint8 images (N, 28, 28) and
    uint8 labels (N,)).

    A file that does not start with two zero bytes and a known type, or holds fewer or more
    element bytes than its header announces (the sizes multiplied exactly, so sizes whose
    product overflows 64 bits cannot pass for a short file), or corrupt gzip data, raises
    ``ValueError`` naming the path; so does a path that is not a regular file (a FIFO would
    block, ``/dev/zero`` never end) before anything opens it. A missing file raises
    ``FileNotFoundError``.
    """
    name = os.fspath(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise ValueError(
            f"read_idx: {name}: not an IDX file: {len(raw)} bytes, shorter than the 4-byte magic"
        )
    zero0, zero1, code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero0 != 0 or zero1 != 0 or code not in IDX_DTYPES:
        raise ValueError(
            f"read_idx: {name}: not an IDX file: magic bytes {raw[:4].hex()}, expected "
            f"0000TTDD with type TT one of {', '.join(f'{c:02x}' for c in IDX_DTYPES)}"
        )
    header_end = 4 + 4 * ndim
    if len(raw) < header_end:
        raise ValueError(
            f"read_idx: {name}: truncated IDX header: {ndim} sizes announced, the file has "
            f"{len(raw)} bytes"
        )
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    # Python's integers: a product of crafted sizes must not wrap around (in int64,
    # 2**16 · 2**16 · 2**16 · 2**16 is 0, which an empty file would match)
    expected = math.prod(shape) * dtype.itemsize
    got = len(raw) - header_end
    if got != expected:
        what = "truncated" if got < expected else "trailing data in"
        raise ValueError(
            f"read_idx: {name}: {what} IDX file: shape {shape} of {dtype.newbyteorder('=')} "
            f"needs {expected} data bytes, the file has {got}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header_end).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def load_mnist(
    images_path: str | os.PathLike,
    labels_path: str | os.PathLike,
    dtype: Any = np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST (or Fashion-MNIST, or any IDX pair in that layout) as ``X (N, 1, H, W)``, ``y (N,)``.

    ``images_path`` holds uint8 images (N, H, W), ``labels_path`` uint8 labels (N,) — e.g.
    ``train-images-idx3-ubyte.gz`` and ``train-labels-idx1-ubyte.gz``; both plain or gzipped.
    Returns ``X = images / 255`` as ``dtype`` (float32 or float64) and ``y`` as int64.
    """
    dt = float_dtype("dtype", dtype, func="load_mnist")
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"load_mnist: images_path: expected uint8 images of shape (N, H, W), got "
            f"{images.dtype} of shape {images.shape} in {os.fspath(images_path)}"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(
            f"load_mnist: labels_path: expected uint8 labels of shape (N,), got "
            f"{labels.dtype} of shape {labels.shape} in {os.fspath(labels_path)}"
        )
    if labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"load_mnist: expected as many labels as images, got {images.shape[0]} images "
            f"in {os.fspath(images_path)} and {labels.shape[0]} labels in "
            f"{os.fspath(labels_path)}"
        )
    X = (images.astype(dt) / dt.type(255)).reshape(images.shape[0], 1, *images.shape[1:])
    return X, labels.astype(np.int64)


#: The file endings ``load_image_folder`` reads as images (torchvision's ImageFolder's list).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def _class_files(root: str, classes: list[str]) -> list[tuple[str, int]]:
    """(path, class index) of every image file under each class folder, the folders in the
    given order, the files (recursively) in sorted path order."""
    samples = []
    for k, name in enumerate(classes):
        found = []
        # the folders in sorted order of their whole paths, as torchvision's (so "a-b" comes
        # before "a/x"), each folder's files sorted by name
        walk = sorted(os.walk(os.path.join(root, name), followlinks=True))
        for dirpath, _, filenames in walk:
            for f in sorted(filenames):
                if f.lower().endswith(IMAGE_EXTENSIONS):
                    found.append(os.path.join(dirpath, f))
        if not found:
            raise ValueError(
                f"load_image_folder: root: class folder {name!r} holds no image file "
                f"(endings {', '.join(IMAGE_EXTENSIONS)})"
            )
        samples += [(path, k) for path in found]
    return samples


def load_image_folder(
    root: str | os.PathLike,
    size: tuple[int, int],
    *,
    channels: int = 3,
    dtype: Any = np.float32,
    max_pixels: int | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Labelled images from a folder per class — ``root/cat/1.png``, ``root/dog/a/2.jpg`` —
    as one batch: (X, y, classes), as torchvision's ``ImageFolder`` orders them.

    ``classes`` are the sub-folders of ``root``, sorted by name, except hidden ones (a
    leading ".", such as ``.ipynb_checkpoints``, which torchvision would count as a class);
    class k's examples are the image files found under its folder (recursively; endings in
    :data:`IMAGE_EXTENSIONS`), folders in sorted order of their paths and each folder's files
    sorted, as torchvision walks them. Each image is read by
    :func:`cnnmath.images.load_image` (pixels in [0, 1]; files are untrusted: corrupt files
    and decompression bombs are refused, naming the file), given ``channels`` channels
    (:func:`cnnmath.images.to_channels`: alpha dropped, gray repeated, or BT.601 luma) and
    resized to ``size`` = (H, W) with Pillow's
    bilinear filter (:func:`cnnmath.images.resize`; the aspect ratio is not kept).

    Returns X (N, channels, H, W) in ``dtype``, y (N,) int64 class indices, and the class
    names. Normalise X (subtract a mean, divide by a std) as the model expects. The batch's
    size is checked against the memory available before any image is decoded.

    >>> X, y, classes = load_image_folder(root, (32, 32))        # doctest: +SKIP
    >>> fit(model, optimizer, (X, y), epochs=10)                  # doctest: +SKIP
    """
    from .images import available_memory, load_image, resize, to_channels

    func = "load_image_folder"
    if not isinstance(root, (str, os.PathLike)) or not os.path.isdir(root):
        raise ValueError(f"{func}: root: expected a folder of class folders, got {root!r}")
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in size
        )
    ):
        raise ValueError(f"{func}: size: expected (H, W), two ints >= 1, got {size!r}")
    if channels not in (1, 3):
        raise ValueError(f"{func}: channels: expected 1 (gray) or 3 (colour), got {channels!r}")
    dt = float_dtype("dtype", dtype, func=func)
    root = os.fspath(root)
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    if not classes:
        raise ValueError(f"{func}: root: expected class folders in '{root}', found none")
    samples = _class_files(root, classes)
    H, W = int(size[0]), int(size[1])
    need = len(samples) * channels * H * W * dt.itemsize
    have = available_memory()
    if have is not None and need > have:
        raise MemoryError(
            f"{func}: size: {len(samples)} images of {channels}x{H}x{W} need "
            f"{need / 2**30:.3g} GiB, and {have / 2**30:.3g} GiB are available"
        )
    X = np.empty((len(samples), channels, H, W), dtype=dt)
    for i, (path, _) in enumerate(samples):  # one file at a time: each is decoded by Pillow
        x, info = load_image(path, max_pixels=max_pixels)
        try:
            x = to_channels(x, info.has_alpha, channels)
        except ValueError as exc:
            raise ValueError(f"{func}: '{path}': {exc}") from None
        X[i] = resize(x, (H, W))
    y = np.array([k for _, k in samples], dtype=np.int64)
    return X, y, classes
