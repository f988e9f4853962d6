"""cnnmath.data: the digits split and the IDX reader.

Witnesses: scikit-learn's own ``load_digits`` and ``train_test_split`` (called here, not
through cnnmath) for the split; IDX files written by this module with ``struct`` (the format
spelled out byte by byte), plain and gzipped, for the reader.
"""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np
import pytest

from cnnmath import data
from helpers import fifo_never_hangs

sklearn = pytest.importorskip("sklearn")


# ---------------------------------------------------------------------------------------------
# digits


def test_digits_split_matches_sklearn_stratified_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    X_tr, X_te, y_tr, y_te = train_test_split(
        bunch.data, bunch.target, test_size=360, stratify=bunch.target, random_state=0
    )
    Xa, ya = data.load_digits("train")
    Xb, yb = data.load_digits("test")
    assert Xa.shape == (1437, 1, 8, 8) and Xb.shape == (360, 1, 8, 8)
    assert Xa.dtype == np.float32 and ya.dtype == np.int64
    np.testing.assert_array_equal(ya, y_tr)
    np.testing.assert_array_equal(yb, y_te)
    np.testing.assert_allclose(Xa.reshape(-1, 64), X_tr / 16, rtol=0, atol=1e-7)
    np.testing.assert_allclose(Xb.reshape(-1, 64), X_te / 16, rtol=0, atol=1e-7)
    # stratified: every digit's share of the test split is its share of the whole, within 1
    counts_all = np.bincount(bunch.target)
    assert np.all(np.abs(np.bincount(yb) - 360 * counts_all / counts_all.sum()) < 1)


def test_digits_all_and_float64():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X, y = data.load_digits("all", dtype=np.float64)
    assert X.dtype == np.float64 and X.shape == (1797, 1, 8, 8)
    np.testing.assert_array_equal(X.reshape(-1, 64), bunch.data / 16)
    np.testing.assert_array_equal(y, bunch.target)
    assert X.min() == 0.0 and X.max() == 1.0


def test_digits_returns_fresh_arrays():
    X1, y1 = data.load_digits("test")
    X1[:] = -1
    y1[:] = -1
    X2, y2 = data.load_digits("test")
    assert X2.min() >= 0 and y2.min() >= 0


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"split": "validation"}, ValueError, "split.*'train', 'test', 'all'.*'validation'"),
        ({"split": 1}, ValueError, "split"),
        ({"dtype": np.int32}, TypeError, "dtype.*float32 or float64.*int32"),
        ({"dtype": "nonsense"}, TypeError, "dtype"),
    ],
)
def test_digits_bad_input(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        data.load_digits(**kwargs)


# ---------------------------------------------------------------------------------------------
# IDX files, written byte by byte


def idx_bytes(array: np.ndarray, code: int, big_endian_dtype: str) -> bytes:
    """The IDX encoding: 0, 0, type code, ndim, then sizes as big-endian uint32, then data."""
    header = struct.pack(">BBBB", 0, 0, code, array.ndim)
    header += b"".join(struct.pack(">I", n) for n in array.shape)
    return header + array.astype(big_endian_dtype).tobytes()


IDX_CASES = [  # (code, big-endian dtype, sample array)
    (0x08, ">u1", np.arange(24, dtype=np.uint8).reshape(2, 3, 4) * 10),
    (0x09, ">i1", np.array([-128, -1, 0, 127], dtype=np.int8)),
    (0x0B, ">i2", np.array([[-30000, 2], [3, 30000]], dtype=np.int16)),
    (0x0C, ">i4", np.array([-(2**31), 0, 2**31 - 1], dtype=np.int32)),
    (0x0D, ">f4", np.array([[1.5, -2.25, np.pi]], dtype=np.float32)),
    (0x0E, ">f8", np.array([np.e, -1e300, 0.0], dtype=np.float64)),
]


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("code, be, array", IDX_CASES)
def test_read_idx_round_trip(tmp_path, code, be, array, compress):
    raw = idx_bytes(array, code, be)
    path = tmp_path / ("a.idx.gz" if compress else "a.idx")
    path.write_bytes(gzip.compress(raw) if compress else raw)
    got = data.read_idx(path)
    assert got.shape == array.shape
    assert got.dtype == np.dtype(be).newbyteorder("=")
    assert got.dtype.isnative
    np.testing.assert_array_equal(got, array)


def test_read_idx_empty_array(tmp_path):
    path = tmp_path / "empty.idx"
    path.write_bytes(idx_bytes(np.zeros((0, 28, 28), np.uint8), 0x08, ">u1"))
    assert data.read_idx(path).shape == (0, 28, 28)


@pytest.mark.parametrize(
    "raw, pattern",
    [
        (b"\x00\x00", "shorter than the 4-byte magic"),
        (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "magic bytes 01000801"),
        (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "magic bytes 00000701"),
        (b"\x00\x00\x08\x03" + struct.pack(">I", 2), "truncated IDX header"),
        (idx_bytes(np.zeros((4, 5), np.uint8), 0x08, ">u1")[:-3], "truncated.*needs 20.*has 17"),
        (idx_bytes(np.zeros(4, np.int32), 0x0C, ">i4") + b"xy", "trailing data.*needs 16.*has 18"),
    ],
)
def test_read_idx_bad_files(tmp_path, raw, pattern):
    path = tmp_path / "bad.idx"
    path.write_bytes(raw)
    with pytest.raises(ValueError, match=pattern) as info:
        data.read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_corrupt_gzip(tmp_path):
    raw = gzip.compress(idx_bytes(np.arange(100, dtype=np.uint8), 0x08, ">u1"))
    path = tmp_path / "bad.idx.gz"
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="corrupt gzip") as info:
        data.read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^read_idx: path: no such file"):
        data.read_idx(tmp_path / "nope.idx")


def test_read_idx_corrupt_deflate_data_is_a_value_error(tmp_path):
    """A gzip header over data that is not deflate (zlib's own error) names the path."""
    path = tmp_path / "bad.idx.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00" + b"\xff" * 30)
    with pytest.raises(ValueError, match=r"read_idx: .*bad.idx.gz: corrupt gzip data"):
        data.read_idx(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_read_idx_refuses_what_is_not_a_file(tmp_path):
    """A FIFO would block the read, a device never end: refused before anything opens it."""
    with fifo_never_hangs(tmp_path / "pipe.idx") as fifo:
        with pytest.raises(ValueError, match=r"^read_idx: path: .*a FIFO \(named pipe\)"):
            data.read_idx(fifo)
    if os.path.exists("/dev/zero"):
        with pytest.raises(ValueError, match=r"^read_idx: path: .*a character device"):
            data.read_idx("/dev/zero")


# ---------------------------------------------------------------------------------------------
# MNIST pairs


def write_mnist_pair(tmp_path, images, labels, compress=True):
    ip = tmp_path / ("images.idx3-ubyte" + (".gz" if compress else ""))
    lp = tmp_path / ("labels.idx1-ubyte" + (".gz" if compress else ""))
    raw_i = idx_bytes(images, 0x08, ">u1")
    raw_l = idx_bytes(labels, 0x08, ">u1")
    ip.write_bytes(gzip.compress(raw_i) if compress else raw_i)
    lp.write_bytes(gzip.compress(raw_l) if compress else raw_l)
    return ip, lp


@pytest.mark.parametrize("compress", [False, True])
def test_load_mnist(tmp_path, compress):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=7, dtype=np.uint8)
    ip, lp = write_mnist_pair(tmp_path, images, labels, compress)
    X, y = data.load_mnist(ip, lp)
    assert X.shape == (7, 1, 28, 28) and X.dtype == np.float32
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_allclose(X[:, 0], images / 255.0, rtol=0, atol=1e-7)
    X64, _ = data.load_mnist(ip, lp, dtype=np.float64)
    np.testing.assert_array_equal(X64[:, 0], images / 255.0)


def test_load_mnist_mismatch(tmp_path):
    images = np.zeros((3, 4, 4), np.uint8)
    ip, lp = write_mnist_pair(tmp_path, images, np.zeros(2, np.uint8))
    with pytest.raises(ValueError, match="as many labels as images.*3 images.*2 labels"):
        data.load_mnist(ip, lp)


def test_load_mnist_swapped_files(tmp_path):
    ip, lp = write_mnist_pair(tmp_path, np.zeros((3, 4, 4), np.uint8), np.zeros(3, np.uint8))
    with pytest.raises(
        ValueError, match=r"images_path: expected uint8 images of shape \(N, H, W\)"
    ):
        data.load_mnist(lp, ip)
    with pytest.raises(ValueError, match=r"labels_path: expected uint8 labels of shape \(N,\)"):
        data.load_mnist(ip, ip)


@pytest.mark.parametrize(
    "sizes, data_bytes, needed",
    [
        # 20 · 5581 · 8681 · 49477 · 384773 = 2**64 + 4: in int64 it wraps to 4, and a file
        # with 4 data bytes would pass a check done in int64 (issue 9, finding 8)
        ((20, 5581, 8681, 49477, 384773), 4, 2**64 + 4),
        ((2**16, 2**16, 2**16, 2**16), 0, 2**64),  # wraps to 0: an empty body
    ],
)
def test_read_idx_sizes_that_overflow_int64_are_refused(tmp_path, sizes, data_bytes, needed):
    path = tmp_path / "huge.idx"
    header = struct.pack(">BBBB", 0, 0, 0x08, len(sizes)) + struct.pack(f">{len(sizes)}I", *sizes)
    path.write_bytes(header + bytes(data_bytes))
    with pytest.raises(ValueError, match=f"truncated IDX file.*needs {needed} data bytes") as info:
        data.read_idx(path)
    assert str(path) in str(info.value)
