"""Image files in and out: cnnmath.images against Pillow read and written directly.

The witness for every round trip is Pillow itself (np.asarray of the file it decodes, or the
array handed to Image.fromarray), never cnnmath's own conversion; files that Pillow cannot
write (16-bit colour, decompression bombs) are written byte by byte here from the PNG and
TIFF specifications.
"""

from __future__ import annotations

import os
import struct
import tempfile
import warnings
import zlib

import numpy as np
import pytest

PIL = pytest.importorskip("PIL")
from PIL import Image, ImageOps  # noqa: E402

from cnnmath._checks import writable_directory  # noqa: E402
from cnnmath.images import (  # noqa: E402
    ImageInfo,
    image_format,
    image_shape,
    load_image,
    sample_image,
    sample_image_path,
    save_image,
    save_label_map,
    voc_palette,
)
from helpers import fifo_never_hangs  # noqa: E402

RNG = np.random.default_rng(5)


def raw_png(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes) -> bytes:
    """A PNG file from its chunks: IHDR (size, depth, colour type), one IDAT, IEND."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def png16(samples: np.ndarray, colour_type: int) -> bytes:
    """A 16-bit PNG of (H, W, S) uint16 samples (colour type 2 = RGB, 4 = LA, 6 = RGBA)."""
    h, w = samples.shape[:2]
    rows = b"".join(b"\x00" + samples[i].astype(">u2").tobytes() for i in range(h))
    return raw_png(w, h, 16, colour_type, rows)


def tiff_rgb16(samples: np.ndarray) -> bytes:
    """A baseline little-endian TIFF, one uncompressed strip, 3 × 16-bit samples per pixel."""
    h, w, _ = samples.shape
    data = samples.astype("<u2").tobytes()
    bits_offset = 8 + len(data)
    bits = struct.pack("<3H", 16, 16, 16) + b"\0\0"
    ifd_offset = bits_offset + len(bits)
    short = lambda tag, value: struct.pack("<HHIHH", tag, 3, 1, value, 0)
    entries = [
        short(256, w),
        short(257, h),
        struct.pack("<HHII", 258, 3, 3, bits_offset),  # BitsPerSample 16,16,16
        short(259, 1),  # no compression
        short(262, 2),  # RGB
        struct.pack("<HHII", 273, 4, 1, 8),  # strip offset
        short(277, 3),  # samples per pixel
        short(278, h),  # rows per strip
        struct.pack("<HHII", 279, 4, 1, len(data)),  # strip byte count
    ]
    ifd = struct.pack("<H", len(entries)) + b"".join(entries) + struct.pack("<I", 0)
    return b"II*\0" + struct.pack("<I", ifd_offset) + data + bits + ifd


def chw(hwc: np.ndarray) -> np.ndarray:
    return hwc.transpose(2, 0, 1) if hwc.ndim == 3 else hwc[None]


# ---------------------------------------------------------------------------------------------
# Reading files Pillow wrote: pixels are the stored integers over 2**bits − 1


@pytest.mark.parametrize(
    ("mode", "channels", "ext"),
    [
        ("L", ("L",), ".png"),
        ("LA", ("L", "A"), ".png"),
        ("RGB", ("R", "G", "B"), ".png"),
        ("RGBA", ("R", "G", "B", "A"), ".png"),
        ("RGB", ("R", "G", "B"), ".bmp"),
        ("RGBA", ("R", "G", "B", "A"), ".tif"),
        ("LA", ("L", "A"), ".tif"),
    ],
)
def test_load_8bit_matches_pillow(tmp_path, mode, channels, ext):
    shape = (5, 7, len(channels)) if len(channels) > 1 else (5, 7)
    q = RNG.integers(0, 256, size=shape, dtype=np.uint8)
    path = tmp_path / f"x{ext}"
    Image.fromarray(q).save(path)
    x, info = load_image(path)
    assert x.dtype == np.float64 and x.shape == (len(channels), 5, 7)
    np.testing.assert_array_equal(x * 255.0, chw(q).astype(np.float64))
    assert info.channels == channels and info.bit_depth == 8 and info.mode == mode
    assert info.has_alpha == (channels[-1] == "A")


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_load_16bit_gray_divides_by_65535(tmp_path, ext):
    q = RNG.integers(0, 65536, size=(6, 4), dtype=np.uint16)
    q[0, 0], q[0, 1] = 0, 65535
    path = tmp_path / f"g16{ext}"
    Image.fromarray(q).save(path)
    x, info = load_image(path)
    assert info.bit_depth == 16 and info.channels == ("L",) and info.mode.startswith("I;16")
    np.testing.assert_array_equal(x[0] * 65535.0, q.astype(np.float64))
    assert x.min() == 0.0 and x.max() == 1.0


def test_load_jpeg_is_pillows_decoding(tmp_path):
    q = RNG.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    path = tmp_path / "x.jpg"
    Image.fromarray(q).save(path)
    with Image.open(path) as im:
        decoded = np.asarray(im)
    x, info = load_image(path)
    assert info.format == "JPEG"
    np.testing.assert_array_equal(x * 255.0, chw(decoded).astype(np.float64))


def test_palette_and_bilevel_are_expanded(tmp_path):
    palette_path = tmp_path / "p.png"
    transparent_path = tmp_path / "t.png"
    bilevel_path = tmp_path / "b.png"
    rgb = np.zeros((2, 3, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[1, 2] = (0, 0, 255)
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(palette_path)
    x, info = load_image(palette_path)
    assert info.mode == "P" and info.channels == ("R", "G", "B") and "palette" in info.converted
    np.testing.assert_array_equal(x * 255, chw(rgb).astype(float))

    p = Image.new("P", (2, 1))
    p.putpalette([0, 0, 0, 255, 255, 255])
    p.putpixel((1, 0), 1)
    p.info["transparency"] = 0
    p.save(transparent_path, transparency=0)
    x, info = load_image(transparent_path)
    assert info.channels == ("R", "G", "B", "A")
    np.testing.assert_array_equal(x[3, 0], [0.0, 1.0])  # index 0 transparent, 1 opaque

    bits = np.array([[True, False, True]])
    Image.fromarray(bits).save(bilevel_path)
    x, info = load_image(bilevel_path)
    assert info.bit_depth == 1 and info.channels == ("L",)
    np.testing.assert_array_equal(x[0], bits.astype(float))


def test_sample_image():
    x = sample_image()
    assert x.shape == (3, 600, 512) and x.dtype == np.float64
    assert 0.0 <= x.min() and x.max() <= 1.0
    with Image.open(sample_image_path()) as im:
        assert im.size == (512, 600)
        np.testing.assert_array_equal(x * 255, chw(np.asarray(im.convert("RGB"))).astype(float))


# ---------------------------------------------------------------------------------------------
# Writing: read back with Pillow


@pytest.mark.parametrize(
    ("channels", "ext", "mode"),
    [
        (1, ".png", "L"),
        (2, ".png", "LA"),
        (3, ".png", "RGB"),
        (4, ".png", "RGBA"),
        (3, ".bmp", "RGB"),
        (4, ".tiff", "RGBA"),
        (1, ".jpeg", "L"),
    ],
)
def test_save_8bit_rounds_to_nearest_level(tmp_path, channels, ext, mode):
    q = RNG.integers(0, 256, size=(channels, 4, 6))
    jitter = RNG.uniform(-0.49, 0.49, size=q.shape)  # stays nearest to level q
    x = np.clip((q + jitter) / 255.0, 0.0, 1.0)
    path = save_image(x, tmp_path / f"out{ext}")
    with Image.open(path) as im:
        assert im.mode == mode
        stored = chw(np.asarray(im)).astype(int)
    if ext == ".jpeg":  # lossy: close, not exact
        assert np.abs(stored - q).max() <= 24
    else:
        np.testing.assert_array_equal(stored, q)


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_save_16bit_gray(tmp_path, ext):
    q = RNG.integers(0, 65536, size=(1, 5, 3))
    x = q / 65535.0
    path = save_image(x, tmp_path / f"g{ext}", bit_depth=16)
    with Image.open(path) as im:
        assert im.mode.startswith("I;16")
        np.testing.assert_array_equal(np.asarray(im).astype(int), q[0])
    back, info = load_image(path)
    assert info.bit_depth == 16
    np.testing.assert_array_equal(back, x)


def test_save_replaces_atomically_and_leaves_nothing_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "keep.png"
    save_image(np.zeros((1, 2, 2)), target)
    before = target.read_bytes()

    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_image(np.ones((1, 2, 2)), target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]


def test_saved_file_has_the_permissions_of_an_ordinary_new_file(tmp_path):
    ordinary = tmp_path / "open.bin"
    ordinary.write_bytes(b"")  # created by open(): 0o666 less the umask
    path = save_image(np.zeros((1, 2, 2)), tmp_path / "p.png")
    assert path.stat().st_mode & 0o777 == ordinary.stat().st_mode & 0o777


# ---------------------------------------------------------------------------------------------
# Refused files


def test_16bit_colour_is_refused(tmp_path):
    samples = np.full((2, 3, 3), 40000, dtype=np.uint16)
    cases = {
        "rgb16.png": png16(samples, 2),
        "rgba16.png": png16(np.full((2, 3, 4), 40000, dtype=np.uint16), 6),
        "la16.png": png16(np.full((2, 3, 2), 40000, dtype=np.uint16), 4),
        "rgb16.tif": tiff_rgb16(samples),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with Image.open(tmp_path / name) as im:  # Pillow would read it, silently, as 8-bit
            assert not im.mode.startswith("I;16")
        with pytest.raises(ValueError, match="16-bit colour"):
            load_image(tmp_path / name)


def test_16bit_gray_png_written_by_hand_is_read_exactly(tmp_path):
    samples = np.array([[[0], [1], [65535]]], dtype=np.uint16)
    rows = b"\x00" + samples[0].astype(">u2").tobytes()
    (tmp_path / "g.png").write_bytes(raw_png(3, 1, 16, 0, rows))
    x, info = load_image(tmp_path / "g.png")
    np.testing.assert_array_equal(x[0, 0], [0.0, 1.0 / 65535.0, 1.0])


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (100_000, 100_000),  # beyond twice Pillow's limit: Pillow raises
        (12_000, 12_000),
    ],  # beyond the limit, within twice: Pillow only warns
)
def test_decompression_bomb_is_an_error_not_a_warning(tmp_path, width, height):
    path = tmp_path / "bomb.png"
    path.write_bytes(raw_png(width, height, 8, 0, b"\x00" * 16))  # a few bytes on disk
    assert path.stat().st_size < 100
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning leaking out would fail here
        with pytest.raises(ValueError, match="decompression bomb"):
            load_image(path)


def test_max_pixels_lowers_the_limit(tmp_path):
    path = save_image(np.zeros((1, 10, 10)), tmp_path / "small.png")
    load_image(path, max_pixels=100)
    with pytest.raises(ValueError, match=r"decompression bomb: 10x10 = 100 pixels exceeds .* 99"):
        load_image(path, max_pixels=99)


def test_not_an_image_and_missing_file(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(ValueError, match="not an image file"):
        load_image(text)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(IsADirectoryError, match="directory"):
        load_image(tmp_path)
    truncated = tmp_path / "cut.png"
    good = save_image(RNG.uniform(size=(3, 40, 40)), tmp_path / "good.png").read_bytes()
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="could not be decoded"):
        load_image(truncated)


@pytest.mark.parametrize("sample_format", ["I;32", "F"])
def test_32bit_samples_are_refused(tmp_path, sample_format):
    data = np.arange(6).reshape(2, 3) * 100_000
    data = data.astype(np.int32 if sample_format == "I;32" else np.float32)
    Image.fromarray(data).save(tmp_path / "wide.tif")
    with pytest.raises(ValueError, match="32-bit"):
        load_image(tmp_path / "wide.tif")


# Error inputs of save_image: (array, file name, keyword arguments, exception, message)
SAVE_ERRORS = [
    (np.zeros((3, 2, 2)), "x.png", {"bit_depth": 16}, ValueError, "bit_depth: 16 bits need one"),
    (np.zeros((1, 2, 2)), "x.jpg", {"bit_depth": 16}, ValueError, "got 1 channel.*JPEG"),
    (np.zeros((1, 2, 2)), "x.png", {"bit_depth": 12}, ValueError, "bit_depth: expected 8 or 16"),
    (np.zeros((4, 2, 2)), "x.jpg", {}, ValueError, "JPEG cannot store RGBA"),
    (np.zeros((2, 2, 2)), "x.bmp", {}, ValueError, "BMP cannot store LA"),
    (np.full((1, 2, 2), 1.5), "x.png", {}, ValueError, r"values in \[0, 1\], got \[1.5, 1.5\]"),
    (np.full((1, 2, 2), -0.25), "x.png", {}, ValueError, r"got \[-0.25, -0.25\]"),
    (np.full((1, 2, 2), np.nan), "x.png", {}, ValueError, "finite"),
    (np.zeros((2, 2), dtype=np.float64), "x.png", {}, ValueError, r"x\[None\]"),
    (np.zeros((5, 2, 2)), "x.png", {}, ValueError, "1, 2, 3 or 4 channels"),
    (np.zeros((1, 2, 2), dtype=np.uint8), "x.png", {}, TypeError, "dtype float32 or float64"),
    (np.zeros((1, 2, 2)), "x.gif", {}, ValueError, "unsupported image extension '.gif'"),
    (np.zeros((1, 2, 2)), "x", {}, ValueError, "unsupported image extension '\\(none\\)'"),
    (
        np.zeros((1, 2, 2)),
        "nodir/x.png",
        {},
        FileNotFoundError,
        "output directory does not exist: .*nodir",
    ),
    (  # libjpeg's limit: Pillow would fail mid-write with "broken data stream"
        np.zeros((1, 1, 65501)),
        "wide.jpg",
        {},
        ValueError,
        "JPEG holds at most 65500 pixels a side, got 1×65501; write PNG or TIFF",
    ),
]


@pytest.mark.parametrize(("x", "name", "kwargs", "error", "pattern"), SAVE_ERRORS)
def test_save_image_errors(tmp_path, x, name, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        save_image(x, tmp_path / name, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_save_tolerates_rounding_just_outside_unit_interval(tmp_path):
    x = np.array([[[1.0 + 1e-15, -1e-15]]])
    path = save_image(x, tmp_path / "edge.png")
    with Image.open(path) as im:
        np.testing.assert_array_equal(np.asarray(im), [[255, 0]])


def test_image_format_and_info_record():
    assert image_format("a/b.JPG") == "JPEG" and image_format("x.tiff") == "TIFF"
    info = ImageInfo(format="PNG", mode="RGBA", bit_depth=8, channels=("R", "G", "B", "A"))
    assert info.has_alpha and not ImageInfo("PNG", "L", 8, ("L",)).has_alpha


# ---------------------------------------------------------------------------------------------
# Output directories that cannot be written: the message names the directory, never the
# temporary file that save_image would have used.


def _refuse_mkstemp(monkeypatch, errno=13, reason="Permission denied"):
    def refuse(*args, dir=None, prefix="", suffix="", **kwargs):
        raise OSError(errno, reason, f"{dir}/{prefix}abc123{suffix}")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)


def test_save_image_into_an_unwritable_directory_names_it(tmp_path, monkeypatch):
    _refuse_mkstemp(monkeypatch)
    with pytest.raises(PermissionError) as info:
        save_image(np.zeros((1, 2, 2)), tmp_path / "y.png")
    message = str(info.value)
    assert message == (
        f"save_image: path: output directory is not writable: {tmp_path} (Permission denied)"
    )
    assert ".part" not in message and "abc123" not in message


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_save_image_into_proc():
    # /proc refuses new files even to root, whatever its permission bits say
    with pytest.raises(
        OSError,
        match=r"^save_image: path: output directory is not writable: "
        r"/proc \(",
    ):
        save_image(np.zeros((1, 2, 2)), "/proc/y.png")


def test_writable_directory(tmp_path, monkeypatch):
    assert writable_directory("out", tmp_path, func="f") == tmp_path
    assert list(tmp_path.iterdir()) == []  # the probe file is gone
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"^f: out: output directory is not a directory"):
        writable_directory("out", tmp_path / "file", func="f")
    with pytest.raises(FileNotFoundError, match=r"^f: out: output directory does not exist: "):
        writable_directory("out", tmp_path / "missing", func="f")
    _refuse_mkstemp(monkeypatch, 30, "Read-only file system")
    with pytest.raises(PermissionError) as info:
        writable_directory("out", tmp_path, func="f")
    assert str(info.value) == (
        f"f: out: output directory is not writable: {tmp_path} (Read-only file system)"
    )


def test_exif_orientation_turns_the_image_upright(tmp_path):
    from PIL import Image

    from cnnmath.images import load_image

    stored = (np.arange(2 * 4 * 3) * 10 % 256).astype(np.uint8).reshape(2, 4, 3)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    Image.fromarray(stored).save(tmp_path / "e.png", exif=exif)
    x, info = load_image(tmp_path / "e.png")
    shown = np.rot90(stored, k=-1)  # numpy's clockwise quarter turn, an independent witness
    np.testing.assert_array_equal(np.round(x * 255).astype(np.uint8).transpose(1, 2, 0), shown)
    assert "EXIF orientation" in info.converted


# -- hostile files (issue 9) -------------------------------------------------------------------


@pytest.mark.parametrize("ext, keep", [("jpg", 60), ("png", 60), ("bmp", 40), ("tif", 100)])
def test_a_truncated_file_names_itself(tmp_path, ext, keep):
    """Finding 7: a JPEG cut inside its header said only 'Truncated File Read'."""
    from cnnmath.images import load_image

    a = (np.arange(32 * 32 * 3) % 251).astype(np.uint8).reshape(32, 32, 3)
    Image.fromarray(a).save(tmp_path / f"whole.{ext}")
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes((tmp_path / f"whole.{ext}").read_bytes()[:keep])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no Pillow warning printed on the side
        with pytest.raises(ValueError, match=r"^load_image: path: '.*cut\.") as info:
            load_image(cut)
    assert "truncated" in str(info.value) or "not an image file" in str(info.value)


def _frames(n: int) -> list:
    return [Image.fromarray(np.full((3, 5), 40 * k, np.uint8)) for k in range(n)]


@pytest.mark.parametrize("ext", ["gif", "tif"])
def test_several_frames_give_the_first_and_say_so(tmp_path, ext):
    """Issue 9: an animated GIF or multi-page TIFF silently gave its first frame."""
    from cnnmath.images import load_image

    first, *rest = _frames(3)
    first.save(tmp_path / f"m.{ext}", save_all=True, append_images=rest)
    x, info = load_image(tmp_path / f"m.{ext}")
    assert x.shape[1:] == (3, 5) and float(np.abs(x).max()) == 0.0  # frame 0 is all zeros
    assert "first of 3 frames used" in info.converted
    _, single = load_image(_save_single(tmp_path, ext))
    assert "frames" not in single.converted


def _save_single(tmp_path, ext):
    path = tmp_path / f"one.{ext}"
    _frames(1)[0].save(path)
    return path


@pytest.mark.parametrize("orientation", [0, 9, 300])
def test_an_invalid_exif_orientation_is_not_a_turn(tmp_path, orientation):
    """Issue 9: a tag outside 1..8 printed 'turned upright' though nothing was turned."""
    from cnnmath.images import load_image

    stored = (np.arange(2 * 4 * 3) * 10 % 256).astype(np.uint8).reshape(2, 4, 3)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(tmp_path / "e.png", exif=exif)
    x, info = load_image(tmp_path / "e.png")
    np.testing.assert_array_equal(np.round(x * 255).astype(np.uint8).transpose(1, 2, 0), stored)
    assert "turned upright" not in info.converted
    assert f"invalid EXIF orientation tag ({orientation})" in info.converted


def test_save_image_into_a_symlink_loop_is_a_clear_error(tmp_path):
    """Finding 1: the output path a → b → a gave a RuntimeError traceback."""
    (tmp_path / "a.png").symlink_to("b.png")
    (tmp_path / "b.png").symlink_to("a.png")
    with pytest.raises(ValueError, match=r"^save_image: path: .*a\.png' is a symlink loop"):
        save_image(np.zeros((1, 2, 2)), tmp_path / "a.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]


def test_image_shape_reads_the_header_only(tmp_path, monkeypatch):
    from cnnmath.images import image_shape

    Image.fromarray(np.zeros((3, 5, 4), np.uint8)).save(tmp_path / "rgba.png")
    Image.fromarray(np.zeros((3, 5), np.uint8)).convert("P").save(tmp_path / "p.png")

    def no_decoding(self, *args, **kwargs):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    assert image_shape(tmp_path / "rgba.png") == (4, 3, 5)
    assert image_shape(tmp_path / "p.png") == (3, 3, 5)  # a palette comes back as RGB


@pytest.mark.parametrize("ext", ["jpg", "png", "webp", "tif"])
@pytest.mark.parametrize("orientation", [1, 3, 5, 6, 7, 8])
def test_image_shape_is_the_shape_load_image_returns(tmp_path, orientation, ext):
    """image_shape reads the header alone, yet agrees with load_image for a picture turned
    a quarter by its EXIF tag (5-8 swap H and W, as ImageOps.exif_transpose does), in
    every format that carries the tag (TIFF's reader turns the size itself)."""
    path = tmp_path / f"e.{ext}"
    picture = Image.fromarray(np.zeros((5, 7, 3), np.uint8))
    if ext == "tif":
        picture.save(path, tiffinfo={0x0112: orientation})
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        picture.save(path, exif=exif)
    with Image.open(path) as im:
        want = ImageOps.exif_transpose(im).size[::-1]
    assert image_shape(path) == (3, *want) == load_image(path)[0].shape


def _png_with_trailing_exif(path, payload):
    """A 5×7 RGB PNG with an eXIf chunk of ``payload`` after its pixel data (before IEND),
    where Pillow finds it only by decoding the pixels."""
    import struct
    import zlib

    Image.fromarray(np.zeros((5, 7, 3), np.uint8)).save(path)
    data = path.read_bytes()
    crc = zlib.crc32(b"eXIf" + payload) & 0xFFFFFFFF
    chunk = struct.pack(">I", len(payload)) + b"eXIf" + payload + struct.pack(">I", crc)
    end = data.rindex(b"IEND") - 4
    path.write_bytes(data[:end] + chunk + data[end:])


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_image_shape_sees_a_png_orientation_wherever_load_image_does(
    tmp_path, monkeypatch, orientation
):
    """An XMP tiff:Orientation before the pixels (as Pillow writes a PNG's XMP) and an eXIf
    chunk after them (found by walking the chunks, not decoding): the shape load_image
    returns, read without decoding (a mask sized from it once came out turned). A trailing
    chunk that is not EXIF is refused by both, as corrupt."""
    from PIL import PngImagePlugin

    from cnnmath.images import image_shape

    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        '22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:tiff="http://ns.adobe.com/'
        f'tiff/1.0/" tiff:Orientation="{orientation}"/></rdf:RDF></x:xmpmeta>'
    )
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp)
    Image.fromarray(np.zeros((5, 7, 3), np.uint8)).save(tmp_path / "xmp.png", pnginfo=info)
    exif = Image.Exif()
    exif[0x0112] = orientation
    _png_with_trailing_exif(tmp_path / "tail.png", exif.tobytes().removeprefix(b"Exif\x00\x00"))
    _png_with_trailing_exif(tmp_path / "junk.png", b"not a TIFF block")
    want = {name: load_image(tmp_path / name)[0].shape for name in ("xmp.png", "tail.png")}
    turned = (3, 7, 5) if orientation in (6, 8) else (3, 5, 7)
    assert want == {"xmp.png": turned, "tail.png": turned}
    corrupt = r"junk\.png' could not be decoded: the file is truncated or corrupt"
    with pytest.raises(ValueError, match=r"^load_image: .*" + corrupt):
        load_image(tmp_path / "junk.png")

    def no_decoding(self, *args, **kwargs):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    assert {name: image_shape(tmp_path / name) for name in want} == want
    with pytest.raises(ValueError, match=r"^image_shape: .*" + corrupt):
        image_shape(tmp_path / "junk.png")


def test_image_shape_refuses_what_load_image_refuses(tmp_path):
    """16-bit colour or gray + alpha and 32-bit samples: the same ValueError from the
    header as from load_image, so a caller checking first is not told a shape in vain."""
    cases = {
        "rgb16.png": png16(np.full((2, 3, 3), 40000, dtype=np.uint16), 2),
        "la16.png": png16(np.full((2, 3, 2), 40000, dtype=np.uint16), 4),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    Image.fromarray(np.zeros((3, 4), np.float32)).save(tmp_path / "float.tif")
    for name, pattern in [("rgb16.png", "16-bit"), ("la16.png", "16-bit"), ("float.tif", "32")]:
        for reader in (image_shape, load_image):
            with pytest.raises(ValueError, match=rf"^{reader.__name__}: path: .*{pattern}"):
                reader(tmp_path / name)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_fifo_is_refused_not_waited_on(tmp_path):
    """A named pipe would block Pillow's read until a writer came: refused before opening."""
    for reader in (image_shape, load_image):
        with fifo_never_hangs(tmp_path / f"{reader.__name__}.png") as fifo:
            with pytest.raises(ValueError, match=rf"^{reader.__name__}: path: .*a FIFO"):
                reader(fifo)


# ---------------------------------------------------------------------------------------------
# Label maps: palette PNGs of class indices

#: PASCAL VOC 2012's class colours as its documentation lists them (background, aeroplane,
#: bicycle, ..., tvmonitor) and the "void" border (255): the witness for the bit formula.
VOC_COLOURS = {
    0: (0, 0, 0), 1: (128, 0, 0), 2: (0, 128, 0), 3: (128, 128, 0), 4: (0, 0, 128),
    5: (128, 0, 128), 6: (0, 128, 128), 7: (128, 128, 128), 8: (64, 0, 0), 9: (192, 0, 0),
    10: (64, 128, 0), 11: (192, 128, 0), 12: (64, 0, 128), 13: (192, 0, 128),
    14: (64, 128, 128), 15: (192, 128, 128), 16: (0, 64, 0), 17: (128, 64, 0),
    18: (0, 192, 0), 19: (128, 192, 0), 20: (0, 64, 128), 255: (224, 224, 192),
}  # fmt: skip


def test_voc_palette_is_pascal_vocs_colour_map():
    palette = voc_palette()
    assert palette.shape == (256, 3) and palette.dtype == np.uint8
    for k, rgb in VOC_COLOURS.items():
        assert tuple(palette[k]) == rgb, k
    assert len({tuple(c) for c in palette}) == 256  # every class its own colour
    np.testing.assert_array_equal(voc_palette(21), palette[:21])
    for bad in (0, 257, 2.0, True):
        with pytest.raises(ValueError, match=r"^voc_palette: n: expected an int in \[1, 256\]"):
            voc_palette(bad)


def test_label_map_is_a_palette_png_of_the_indices(tmp_path):
    labels = RNG.integers(0, 256, (7, 13))
    labels[0, :2] = [0, 255]
    path = save_label_map(labels, tmp_path / "m.png")
    data = path.read_bytes()
    # IHDR from the PNG specification: bit depth 8, colour type 3 (palette)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (13, 7) and (data[24], data[25]) == (8, 3)
    with Image.open(path) as im:
        assert im.mode == "P"
        np.testing.assert_array_equal(np.asarray(im), labels)  # the stored indices
        palette = np.array(im.getpalette(), np.uint8).reshape(-1, 3)
        rgb = np.asarray(im.convert("RGB"))
    assert len(palette) == 256
    for k, colour in VOC_COLOURS.items():
        assert tuple(palette[k]) == colour
    assert tuple(rgb[0, 0]) == (0, 0, 0) and tuple(rgb[0, 1]) == (224, 224, 192)


@pytest.mark.parametrize(
    "labels, name, error, pattern",
    [
        (np.zeros((2, 2)), "m.png", TypeError, r"labels: expected an integer numpy array"),
        ([[0, 1]], "m.png", TypeError, r"labels: expected an integer numpy array .* list"),
        (np.zeros((1, 2, 2), int), "m.png", ValueError, r"labels: expected shape \(H, W\)"),
        (np.zeros((0, 2), int), "m.png", ValueError, r"labels: expected shape \(H, W\)"),
        (np.array([[0, 256]]), "m.png", ValueError, r"0 to 255, got \[0, 256\]"),
        (np.array([[-1, 3]]), "m.png", ValueError, r"0 to 255, got \[-1, 3\]"),
        (np.zeros((2, 2), int), "m.jpg", ValueError, r"path: expected a .png file"),
        (np.zeros((2, 2), int), "no/m.png", FileNotFoundError, r"does not exist"),
    ],
)
def test_save_label_map_errors(tmp_path, labels, name, error, pattern):
    with pytest.raises(error, match=rf"^save_label_map: .*{pattern}"):
        save_label_map(labels, tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_save_label_map_replaces_atomically_and_leaves_nothing_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "keep.png"
    save_label_map(np.zeros((2, 2), np.uint8), target)
    before = target.read_bytes()

    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_label_map(np.ones((2, 2), np.uint8), target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]
