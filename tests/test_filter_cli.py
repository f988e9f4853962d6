"""``cnnmath filter`` through the command line (``python -m cnnmath`` in a subprocess).

Inputs are images the tests make with Pillow, whose right answers are known in closed form:
a ramp's differences are its slopes, a pure colour's luma is its weight, a block image's
pooled values are the block values. Outputs are read back with Pillow directly.
"""

from __future__ import annotations

import math
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PIL")
from PIL import Image  # noqa: E402


def cnnmath(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cnnmath", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def read(path) -> tuple[np.ndarray, str]:
    with Image.open(path) as im:
        return np.asarray(im).astype(np.int64), im.mode


def assert_ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------------------------
# Images with known answers

H, W = 6, 8
SLOPE_I, SLOPE_J = 5, 3  # the ramp q[i, j] = 5 i + 3 j (8-bit levels)


@pytest.fixture
def ramp(tmp_path):
    i, j = np.mgrid[0:H, 0:W]
    q = (SLOPE_I * i + SLOPE_J * j + 10).astype(np.uint8)
    path = tmp_path / "ramp.png"
    Image.fromarray(q).save(path)
    return path, q


def test_gradient_of_a_ramp_is_its_slopes(tmp_path, ramp):
    path, q = ramp
    out = tmp_path / "grad.png"
    proc = cnnmath("filter", "gradient", path, "-o", out)
    assert_ok(proc)
    pixels, mode = read(out)
    assert mode == "L" and pixels.shape == (H, 2 * W)  # Y1 | Y2 side by side
    d = 2 * pixels / 255.0 - 1.0  # invert the documented 0.5 + d/2; one level = 2/255 in d
    y1, y2 = d[:, :W], d[:, W:]
    step = 2 / 255
    np.testing.assert_allclose(y1[:-1], SLOPE_I / 255, atol=step / 2 + 1e-12)
    np.testing.assert_allclose(y2[:, :-1], SLOPE_J / 255, atol=step / 2 + 1e-12)
    # the zero padding: the last row of Y1 and last column of Y2 are −X
    np.testing.assert_allclose(y1[-1], -q[-1].astype(float) / 255, atol=step / 2 + 1e-12)
    np.testing.assert_allclose(y2[:, -1], -q[:, -1].astype(float) / 255, atol=step / 2 + 1e-12)


def test_gradient_clip_scale_gives_the_slopes_exactly(tmp_path, ramp):
    path, _ = ramp
    out = tmp_path / "grad.png"
    assert_ok(cnnmath("filter", "gradient", path, "-o", out, "--scale", "clip", "--quiet"))
    pixels, _ = read(out)
    assert (pixels[:-1, :W] == SLOPE_I).all() and (pixels[:, W : 2 * W - 1] == SLOPE_J).all()
    assert (pixels[-1, :W] == 0).all() and (pixels[:, -1] == 0).all()  # −X clipped to black


def test_gradient_magnitude(tmp_path, ramp):
    path, _ = ramp
    out = tmp_path / "mag.png"
    assert_ok(cnnmath("filter", "gradient", path, "-o", out, "--magnitude"))
    pixels, _ = read(out)
    assert pixels.shape == (H, W)
    magnitude = math.hypot(SLOPE_I, SLOPE_J) / 255  # interior, scaled by 1/sqrt 2
    assert np.abs(pixels[:-1, :-1] - magnitude / math.sqrt(2) * 255).max() <= 0.5 + 1e-9


def test_gradient_of_16bit_gray_stays_16bit(tmp_path):
    i, j = np.mgrid[0:H, 0:W]
    q = (500 * i + 300 * j + 1000).astype(np.uint16)
    path, out = tmp_path / "ramp16.png", tmp_path / "grad16.png"
    Image.fromarray(q).save(path)
    assert_ok(cnnmath("filter", "gradient", path, "-o", out, "--scale", "clip"))
    pixels, mode = read(out)
    assert mode.startswith("I;16")
    assert (pixels[:-1, :W] == 500).all() and (pixels[:, W : 2 * W - 1] == 300).all()


def test_gradient_of_colour_converts_with_result_3_and_says_so(tmp_path):
    j = np.arange(W)
    rgb = np.zeros((H, W, 3), dtype=np.uint8)
    rgb[:, :, 1] = 20 * j  # green ramp: luma rises by 0.587 · 20 levels per column
    path, out = tmp_path / "green.png", tmp_path / "grad.png"
    Image.fromarray(rgb).save(path)
    proc = cnnmath("filter", "gradient", path, "-o", out, "--scale", "clip")
    assert_ok(proc)
    assert "grayscale" in proc.stderr and "BT.601" in proc.stderr and "result 3" in proc.stderr
    pixels, mode = read(out)
    assert mode == "L" and pixels.shape == (H, 2 * W)
    assert (np.abs(pixels[:, W : 2 * W - 1] - 0.587 * 20) <= 0.5 + 1e-9).all()
    quiet = cnnmath("filter", "gradient", path, "-o", out, "--quiet")
    assert_ok(quiet)
    assert quiet.stderr == "" and quiet.stdout == ""


# Pure colours and their luma in 8-bit levels, from the standards' weights
COLOURS = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [255, 255, 255]]], np.uint8)


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        (None, [[0.299 * 255, 0.587 * 255], [0.114 * 255, 255]]),
        ("bt709", [[0.2126 * 255, 0.7152 * 255], [0.0722 * 255, 255]]),
        ("0.5,0.5,0", [[127.5, 127.5], [0, 255]]),
    ],
)
def test_grayscale_of_known_colours(tmp_path, weights, expected):
    path, out = tmp_path / "colours.png", tmp_path / "gray.png"
    Image.fromarray(COLOURS).save(path)
    extra = [] if weights is None else ["--weights", weights]
    assert_ok(cnnmath("filter", "grayscale", path, "-o", out, *extra))
    pixels, mode = read(out)
    assert mode == "L"
    assert np.abs(pixels - np.array(expected)).max() <= 0.5 + 1e-9


def test_grayscale_keeps_alpha_where_the_format_can(tmp_path):
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[:, :, :3] = COLOURS
    rgba[:, :, 3] = [[255, 128], [7, 0]]
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba).save(path)
    assert_ok(cnnmath("filter", "grayscale", path, "-o", tmp_path / "la.png"))
    pixels, mode = read(tmp_path / "la.png")
    assert mode == "LA"
    np.testing.assert_array_equal(pixels[:, :, 1], rgba[:, :, 3])
    assert abs(pixels[0, 0, 0] - 0.299 * 255) <= 0.5
    proc = cnnmath("filter", "grayscale", path, "-o", tmp_path / "gray.jpg")
    assert_ok(proc)
    assert "alpha channel dropped" in proc.stderr
    assert read(tmp_path / "gray.jpg")[1] == "L"


BLOCKS = np.array([[10, 20, 0, 255], [30, 40, 255, 255], [1, 2, 9, 9], [3, 6, 9, 9]], np.uint8)


@pytest.mark.parametrize(("operator", "reduce"), [("avgpool", np.mean), ("maxpool", np.max)])
def test_pooling_known_blocks(tmp_path, operator, reduce):
    path, out = tmp_path / "blocks.png", tmp_path / "pooled.png"
    Image.fromarray(BLOCKS).save(path)
    assert_ok(cnnmath("filter", operator, path, "-o", out))
    pixels, _ = read(out)
    want = reduce(BLOCKS.reshape(2, 2, 2, 2).astype(float), axis=(1, 3))  # 2×2 block reduce
    assert np.abs(pixels - want).max() <= 0.5 + 1e-9


def test_pooling_rgb_with_k4_and_leftover_rows(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, size=(9, 8, 3), dtype=np.uint8)
    path, out = tmp_path / "rgb.png", tmp_path / "pooled.bmp"
    Image.fromarray(rgb).save(path)
    proc = cnnmath("filter", "avgpool", path, "-o", out, "--k", "4")
    assert_ok(proc)
    assert "1 row(s)" in proc.stderr  # 9 rows: one left over
    pixels, mode = read(out)
    want = rgb[:8].reshape(2, 4, 2, 4, 3).astype(float).mean(axis=(1, 3))
    assert mode == "RGB" and np.abs(pixels - want).max() <= 0.5 + 1e-9


def test_pooling_rgba_pools_alpha_too(tmp_path):
    rgba = np.random.default_rng(1).integers(0, 256, size=(4, 6, 4), dtype=np.uint8)
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba).save(path)
    assert_ok(cnnmath("filter", "maxpool", path, "-o", tmp_path / "pooled.png"))
    pixels, mode = read(tmp_path / "pooled.png")
    assert mode == "RGBA"
    np.testing.assert_array_equal(pixels, rgba.reshape(2, 2, 3, 2, 4).max(axis=(1, 3)))
    proc = cnnmath("filter", "maxpool", path, "-o", tmp_path / "pooled.jpg")
    assert_ok(proc)
    assert "alpha channel dropped: JPEG cannot store it" in proc.stderr
    assert read(tmp_path / "pooled.jpg")[1] == "RGB"


def test_pooling_16bit_keeps_depth_in_tiff(tmp_path):
    q = BLOCKS.astype(np.uint16) * 257
    path, out = tmp_path / "g16.tif", tmp_path / "pooled.tif"
    Image.fromarray(q).save(path)
    assert_ok(cnnmath("filter", "maxpool", path, "-o", out))
    pixels, mode = read(out)
    assert mode.startswith("I;16")
    np.testing.assert_array_equal(pixels, q.reshape(2, 2, 2, 2).max(axis=(1, 3)))
    proc = cnnmath("filter", "maxpool", path, "-o", tmp_path / "pooled.jpg")
    assert_ok(proc)
    assert "16-bit input written with 8 bits" in proc.stderr


def test_conv_kernels_from_the_command_line_and_a_file(tmp_path, ramp):
    path, q = ramp
    assert_ok(
        cnnmath(
            "filter", "conv", path, "-o", tmp_path / "same.png", "--kernel", "0,0,0;0,1,0;0,0,0"
        )
    )
    np.testing.assert_array_equal(read(tmp_path / "same.png")[0], q)  # identity kernel
    # a difference along j, 1×2 kernel (−1, 1): Y[i,j] = X[i,j+1] − X[i,j], no padding
    assert_ok(
        cnnmath(
            "filter",
            "conv",
            path,
            "-o",
            tmp_path / "dj.png",
            "--kernel=-1,1",
            "--padding",
            "valid",
            "--scale",
            "clip",
        )
    )
    pixels, _ = read(tmp_path / "dj.png")
    assert pixels.shape == (H, W - 1) and (pixels == SLOPE_J).all()
    kernel = tmp_path / "k.npy"
    np.save(kernel, np.array([[-1.0], [1.0]]))
    assert_ok(
        cnnmath(
            "filter",
            "conv",
            path,
            "-o",
            tmp_path / "di.png",
            "--kernel-file",
            kernel,
            "--padding",
            "valid",
            "--scale",
            "clip",
        )
    )
    pixels, _ = read(tmp_path / "di.png")
    assert pixels.shape == (H - 1, W) and (pixels == SLOPE_I).all()


def test_conv_range_scaling_of_a_sobel_kernel(tmp_path):
    rgb = np.full((5, 5, 3), 100, dtype=np.uint8)
    path, out = tmp_path / "flat.png", tmp_path / "sobel.png"
    Image.fromarray(rgb).save(path)
    assert_ok(
        cnnmath(
            "filter",
            "conv",
            path,
            "-o",
            out,
            "--kernel",
            "1,0,-1;2,0,-2;1,0,-1",
            "--padding",
            "valid",
        )
    )
    pixels, mode = read(out)
    # a flat image has no edges: y = 0, in the range [−4, 4] of this kernel → 0.5 → 127.5
    assert mode == "RGB" and pixels.shape == (3, 3, 3) and set(np.unique(pixels)) <= {127, 128}


# ---------------------------------------------------------------------------------------------
# Bad input: one line on stderr, exit status 2, no traceback, nothing written


def bomb_png(path) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", 60_000, 60_000, 8, 0, 0, 0, 0)  # 3.6 gigapixels
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def rgb16_png(path) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    rows = b"".join(b"\x00" + np.full((2, 3), 999, ">u2").tobytes() for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _setup_inputs(tmp_path):
    Image.fromarray(BLOCKS).save(tmp_path / "in.png")
    (tmp_path / "notes.png").write_text("this is not an image\n")
    bomb_png(tmp_path / "bomb.png")
    rgb16_png(tmp_path / "rgb16.png")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "k.npy", np.ones((3, 3)))
    whole = (tmp_path / "k.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(whole[:-50])  # data shorter than the header says
    (tmp_path / "cut_header.npy").write_bytes(whole[:8] + b"\xff\xff" + whole[10:20])
    (tmp_path / "zip.npy").write_bytes(b"PK\x03\x04 not really a zip archive")
    (tmp_path / "sub").mkdir()


# (arguments, a phrase the one-line message must contain); out.png must never appear
BAD = [
    (["gradient", "missing.png", "-o", "out.png"], "no such file: 'missing.png'"),
    (["gradient", "notes.png", "-o", "out.png"], "not an image file"),
    (["blur", "in.png", "-o", "out.png"], "invalid choice: 'blur'"),
    (
        ["avgpool", "in.png", "-o", "out.png", "--k", "0"],
        "--k: expected a whole number >= 1, got 0",
    ),
    (["maxpool", "in.png", "-o", "out.png", "--k", "x"], "--k: expected a whole number >= 1"),
    (["maxpool", "in.png", "-o", "out.png", "--k", "5"], "larger than the image"),
    (
        ["gradient", "in.png", "-o", "nowhere/out.png"],
        "-o: output directory does not exist: nowhere",
    ),
    (["gradient", "in.png", "-o", "in.png"], "is the input file"),
    (["gradient", "in.png", "-o", "sub/../in.png"], "is the input file"),
    (["gradient", "bomb.png", "-o", "out.png"], "decompression bomb"),
    (["gradient", "rgb16.png", "-o", "out.png"], "16-bit colour"),
    (["gradient", "in.png", "-o", "out.gif"], "unsupported image extension '.gif'"),
    (["gradient", "in.png"], "-o/--output"),
    (["conv", "in.png", "-o", "out.png"], "conv needs a kernel"),
    (
        [
            "conv",
            "in.png",
            "-o",
            "o.png",
            "--kernel",
            ";".join(["1,1,1,1,1"] * 5),
            "--padding",
            "valid",
        ],
        "error: --kernel: 5x5 is larger than the image (",
    ),
    (["conv", "in.png", "-o", "out.png", "--kernel", "1,2;3"], "same number of values"),
    (["conv", "in.png", "-o", "out.png", "--kernel", "1,a"], "not a list of numbers"),
    (["conv", "in.png", "-o", "out.png", "--kernel", "0,0;0,0"], "all zeros"),
    (["conv", "in.png", "-o", "out.png", "--kernel-file", "none.npy"], "no such file"),
    (
        ["conv", "in.png", "-o", "out.png", "--kernel-file", "objects.npy"],
        "--kernel-file: 'objects.npy' holds Python objects, which cannot be read without pickle",
    ),
    (
        ["conv", "in.png", "-o", "out.png", "--kernel-file", "cut.npy"],
        # NumPy's own reason after the parenthesis differs between versions
        "--kernel-file: 'cut.npy' is a damaged or truncated .npy file (",
    ),
    (
        ["conv", "in.png", "-o", "out.png", "--kernel-file", "cut_header.npy"],
        "--kernel-file: 'cut_header.npy' is a damaged or truncated .npy file (",
    ),
    (
        ["conv", "in.png", "-o", "out.png", "--kernel-file", "zip.npy"],
        "--kernel-file: expected a .npy file holding one array, got an archive 'zip.npy'",
    ),
    (["conv", "in.png", "-o", "out.png", "--kernel", "1", "--padding", "-1"], "--padding"),
    (["grayscale", "in.png", "-o", "out.png", "--weights", "1,2"], "--weights: expected"),
]


def _assert_one_line_and_nothing_written(tmp_path, before, code, stderr, phrase):
    assert code == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("cnnmath filter: error: ")
    assert phrase in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no output, no temp file
    assert (tmp_path / "in.png").read_bytes()  # the input is untouched


@pytest.mark.parametrize(("argv", "phrase"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_exit_2_and_no_output(tmp_path, monkeypatch, capsys, argv, phrase):
    # in-process (a subprocess each cost a second); the process itself is run below
    from cnnmath.cli import main

    _setup_inputs(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    monkeypatch.chdir(tmp_path)
    try:
        code = main(["filter", *argv])
    except SystemExit as exc:  # an argparse error, as the process would exit
        code = exc.code
    _assert_one_line_and_nothing_written(tmp_path, before, code, capsys.readouterr().err, phrase)


@pytest.mark.parametrize("case", [2, 1], ids=["usage", "run"])
def test_bad_input_is_one_line_exit_2_from_the_process(tmp_path, case):
    # an argparse error and an error found while running, through python -m cnnmath
    argv, phrase = BAD[case]
    _setup_inputs(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = cnnmath("filter", *argv, cwd=tmp_path)
    _assert_one_line_and_nothing_written(tmp_path, before, proc.returncode, proc.stderr, phrase)


# ---------------------------------------------------------------------------------------------
# Options that belong to another operator: an error, not silently ignored (in-process: fast)

MISPLACED = [
    (["gradient", "--k", "3"], "--k", "gradient"),
    (["grayscale", "--k", "2"], "--k", "grayscale"),  # even at its default value: it was typed
    (["conv", "--kernel", "1", "--k", "2"], "--k", "conv"),
    (["avgpool", "--weights", "bt709"], "--weights", "avgpool"),
    (["maxpool", "--weights", "bt601"], "--weights", "maxpool"),
    (["conv", "--kernel", "1", "--weights", "0.3,0.3,0.4"], "--weights", "conv"),
    (["avgpool", "--kernel", "1"], "--kernel", "avgpool"),
    (["grayscale", "--kernel=1,0,-1"], "--kernel", "grayscale"),
    (["gradient", "--kernel-file", "k.npy"], "--kernel-file", "gradient"),
    (["grayscale", "--magnitude"], "--magnitude", "grayscale"),
    (["conv", "--kernel", "1", "--magnitude"], "--magnitude", "conv"),
    (["maxpool", "--padding", "1"], "--padding", "maxpool"),
    (["gradient", "--padding", "same"], "--padding", "gradient"),
]


@pytest.mark.parametrize(
    ("extra", "option", "operator"), MISPLACED, ids=[" ".join(e) for e, _, _ in MISPLACED]
)
def test_an_option_of_another_operator_is_an_error(tmp_path, capsys, extra, option, operator):
    from cnnmath.cli import main

    Image.fromarray(BLOCKS).save(tmp_path / "in.png")
    out = tmp_path / "out.png"
    argv = ["filter", extra[0], str(tmp_path / "in.png"), "-o", str(out), *extra[1:]]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"cnnmath filter: error: {option} does not apply to {operator}")
    assert not out.exists()


@pytest.mark.parametrize("operator", ["gradient", "grayscale"])
def test_weights_on_gray_input_is_said_to_be_unused(tmp_path, capsys, operator):
    from cnnmath.cli import main

    Image.fromarray(BLOCKS).save(tmp_path / "in.png")  # mode L
    argv = ["filter", operator, str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png")]
    assert main([*argv, "--weights", "bt709"]) == 0
    assert "--weights unused" in capsys.readouterr().err
    assert main(argv) == 0  # not typed: nothing to say
    assert "--weights" not in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# An output directory that cannot be written: said before any work, naming the directory


def test_unwritable_output_directory_names_it(tmp_path, capsys, monkeypatch):
    import tempfile

    import cnnmath.images
    from cnnmath.cli import main

    Image.fromarray(BLOCKS).save(tmp_path / "in.png")
    target = tmp_path / "out"
    target.mkdir()

    def refuse(*args, **kwargs):  # what a read-only mount answers (root passes chmod checks)
        raise PermissionError(13, "Permission denied", str(target / ".x.part"))

    def not_read(*args, **kwargs):
        raise AssertionError("the image was read before the output directory was checked")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    monkeypatch.setattr(cnnmath.images, "load_image", not_read)
    assert main(["filter", "gradient", str(tmp_path / "in.png"), "-o", str(target / "y.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"cnnmath filter: error: -o: output directory is not writable: {target} (Permission denied)"
    )
    assert list(target.iterdir()) == []


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_proc_as_output_directory(tmp_path):
    Image.fromarray(BLOCKS).save(tmp_path / "in.png")
    proc = cnnmath("filter", "gradient", tmp_path / "in.png", "-o", "/proc/y.png")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("cnnmath filter: error: -o: output directory is not writable: /proc")
    assert ".part" not in lines[0] and "y.png" not in lines[0]  # no temporary name leaks out


# -- found by a probing review ------------------------------------------------------------------


def _rgb(tmp_path, name="in.png"):
    a = (np.arange(6 * 7 * 3) * 7 % 256).astype(np.uint8).reshape(6, 7, 3)
    Image.fromarray(a).save(tmp_path / name)
    return a


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["conv", "in.png", "-o", "o.png", "--kernel=1", "--padding", "100000"],
            "not enough memory",
        ),
        (
            ["grayscale", "in.png", "-o", "o.png", "--weights=0,0,0"],
            "--weights: the weights are all zero",
        ),
        (
            ["grayscale", "in.png", "-o", "o.png", "--weights=1e308,1e308,0"],
            "--weights: the weights overflow",
        ),
        (
            ["conv", "in.png", "-o", "o.png", "--kernel=1e308;1e308"],
            "--kernel: the kernel's weights overflow",
        ),
        (["conv", "in.png", "-o", "o.png", "--kernel-file", "in.png"], "is not a .npy file"),
        (
            ["conv", "in.png", "-o", "o.png", "--kernel-file", "."],
            "is a directory, not a .npy file",
        ),
    ],
)
def test_more_bad_input_is_one_line_and_status_2(tmp_path, args, message):
    _rgb(tmp_path)
    proc = cnnmath("filter", *args, cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr
    assert "Warning" not in proc.stderr and not (tmp_path / "o.png").exists()


def test_rgba_into_bmp_says_alpha_is_dropped_and_the_file_agrees(tmp_path):
    a = np.zeros((4, 4, 4), np.uint8)
    a[..., 3] = 128
    Image.fromarray(a).save(tmp_path / "rgba.png")
    proc = cnnmath("filter", "avgpool", "rgba.png", "-o", "p.bmp", cwd=tmp_path)
    assert proc.returncode == 0 and "alpha channel dropped" in proc.stderr
    assert Image.open(tmp_path / "p.bmp").mode == "RGB"


def test_output_through_a_symlink_writes_its_target(tmp_path):
    _rgb(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "link.png").symlink_to("out/target.png")
    assert_ok(cnnmath("filter", "grayscale", "in.png", "-o", "link.png", "--quiet", cwd=tmp_path))
    assert (tmp_path / "link.png").is_symlink() and (tmp_path / "out" / "target.png").is_file()


def test_a_long_valid_output_name_is_written(tmp_path):
    _rgb(tmp_path)
    name = "a" * 240 + ".png"
    assert_ok(cnnmath("filter", "grayscale", "in.png", "-o", name, "--quiet", cwd=tmp_path))
    assert (tmp_path / name).is_file()


def test_verify_into_a_closed_pipe_stops_quietly(tmp_path):
    proc = subprocess.run(
        f'"{sys.executable}" -m cnnmath verify --no-photo | head -n 1',
        shell=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    # one line came through head (whatever verify's table looks like), and nothing on stderr
    assert len(proc.stdout.splitlines()) == 1 and proc.stderr == "", proc.stderr


# -- hostile input (issue 9) -------------------------------------------------------------------


def test_output_into_a_symlink_loop_is_one_line(tmp_path):
    """Finding 1: `-o loop.png` with loop.png → other.png → loop.png gave a traceback."""
    _rgb(tmp_path)
    (tmp_path / "loop.png").symlink_to("other.png")
    (tmp_path / "other.png").symlink_to("loop.png")
    proc = cnnmath("filter", "grayscale", "in.png", "-o", "loop.png", cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("cnnmath filter: error: -o: 'loop.png' is a symlink loop")


def test_a_truncated_input_names_the_argument_and_the_file(tmp_path):
    """Finding 7: the message was only 'error: Truncated File Read'."""
    _rgb(tmp_path, "whole.jpg")
    (tmp_path / "cut.jpg").write_bytes((tmp_path / "whole.jpg").read_bytes()[:60])
    proc = cnnmath("filter", "grayscale", "cut.jpg", "-o", "o.png", cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("cnnmath filter: error: INPUT: 'cut.jpg' could not be read")
    assert "truncated" in lines[0] and not (tmp_path / "o.png").exists()


def test_an_animated_gif_is_filtered_by_its_first_frame_and_says_so(tmp_path):
    frames = [Image.fromarray(np.full((4, 6), v, np.uint8)) for v in (0, 200, 90)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    proc = cnnmath("filter", "avgpool", "anim.gif", "-o", "o.png", cwd=tmp_path)
    assert_ok(proc)
    assert "first of 3 frames used" in proc.stderr
    pixels, _ = read(tmp_path / "o.png")
    assert pixels.shape[:2] == (2, 3) and (pixels == 0).all()  # frame 0 is black (GIF: RGB)


def _gray_png_of_size(path, height: int, width: int) -> None:
    """A valid gray PNG of any size from a few hundred bytes: every row all zero."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * ((width + 1) * height), 9)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def test_the_memory_guard_counts_what_the_filter_needs_not_pixels(tmp_path, capsys, monkeypatch):
    """Issue 9: an 85 KB PNG under the pixel limit took 6.2 GB. A 1500x1000 gray picture is
    far under the pixel limit; with 100 MB available, its gradient (about 12 planes of
    12 MB) is refused before a pixel is decoded, and its max pooling (a few planes) is not."""
    import cnnmath.images
    from cnnmath.cli import main

    _gray_png_of_size(tmp_path / "big.png", 1000, 1500)
    assert (tmp_path / "big.png").stat().st_size < 10_000
    monkeypatch.setattr(cnnmath.images, "available_memory", lambda: 100 * 2**20)
    decode = Image.Image.load

    def counted(self, *args, **kwargs):
        counted.calls += 1
        return decode(self, *args, **kwargs)

    counted.calls = 0
    monkeypatch.setattr(Image.Image, "load", counted)
    out = tmp_path / "o.png"
    assert main(["filter", "gradient", str(tmp_path / "big.png"), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cnnmath filter: error: not enough memory:")
    assert "gradient of INPUT" in err[0] and "(1000x1500 pixels" in err[0]  # H×W, as arrays
    assert counted.calls == 0 and not out.exists()
    assert main(["filter", "maxpool", str(tmp_path / "big.png"), "-o", str(out), "--quiet"]) == 0
    assert out.exists()


MEMORY_CASES = [
    ("gradient", []),
    ("gradient", ["--magnitude"]),
    ("grayscale", []),
    ("avgpool", []),
    ("maxpool", ["--k", "3"]),
    ("conv", ["--kernel=1,0,-1;2,0,-2;1,0,-1"]),
    ("conv", ["--kernel=1,-1;1,1", "--padding", "40"]),
]


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
@pytest.mark.parametrize(
    "operator, extra", MEMORY_CASES, ids=[" ".join(c[1]) or c[0] for c in MEMORY_CASES]
)
def test_filter_memory_bounds_the_measured_peak(tmp_path, mode, operator, extra):
    """filter_memory against tracemalloc (which NumPy reports its allocations to): the
    estimate is at least the peak of the whole command and not wastefully above it."""
    import tracemalloc

    from cnnmath.cli import main
    from cnnmath.commands.filter import parse_kernel
    from cnnmath.filters import filter_memory

    H, W = 120, 160
    C = len(mode)
    q = np.random.default_rng(0).integers(0, 256, (H, W, C), dtype=np.uint8)
    Image.fromarray(q[:, :, 0] if C == 1 else q, mode).save(tmp_path / "in.png")
    argv = ["filter", operator, str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png")]
    # once untraced first: the modules the first command of a process imports (the commands,
    # numpy.ma, ...) are not the filter's memory, and would fail this test run alone
    assert main([*argv, "--quiet", *extra]) == 0
    tracemalloc.start()
    try:
        assert main([*argv, "--quiet", *extra]) == 0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    kernel = parse_kernel(extra[0].split("=", 1)[1]) if operator == "conv" else None
    estimate = filter_memory(
        operator,
        (C, H, W),
        magnitude="--magnitude" in extra,
        k=int(extra[1]) if extra[:1] == ["--k"] else 2,
        kernel_shape=None if kernel is None else kernel.shape,
        padding=int(extra[2]) if "--padding" in extra else "same",
    )
    assert peak <= estimate <= 3 * peak, (peak, estimate)
