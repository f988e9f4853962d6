"""cnnmath._checks: the validators every module shares (one home each).

Each is checked on what it accepts and on what it refuses, with the message naming the
argument; the file-system checks on real folders, links and loops in a temporary folder.
"""

from __future__ import annotations

import numpy as np
import pytest

import cnnmath
from cnnmath._checks import (
    check_float_array,
    float_dtype,
    output_file,
    real_number,
    writable_directory,
)

# Error inputs: (call, exception, message pattern).
ERROR_INPUTS = [
    (lambda: real_number("lr", "0.1", func="f"), TypeError, r"^f: lr: expected a real number"),
    (lambda: real_number("lr", True, func="f"), TypeError, r"^f: lr: expected a real number"),
    (lambda: real_number("lr", float("nan"), func="f"), ValueError, r"expected a finite number"),
    (
        lambda: real_number("p", 1.0, func="f", low=0, high=1, high_open=True),
        ValueError,
        r"^f: p: expected a finite number >= 0 and < 1, got 1.0",
    ),
    (
        lambda: real_number("eps", 0, func="f", low=0, low_open=True),
        ValueError,
        r"expected a finite number > 0, got 0",
    ),
    (lambda: float_dtype("dtype", np.int32, func="f"), TypeError, r"^f: dtype: expected float32"),
    # not a dtype at all: refused (a comparison with None would have let it through)
    (lambda: float_dtype("dtype", "nonsense", func="f"), TypeError, r"got 'nonsense'"),
    (
        lambda: check_float_array("x", np.ma.masked_array([1.0, 2.0], mask=[0, 1]), func="f"),
        TypeError,
        r"^f: x: expected a plain numpy.ndarray, got a numpy.ma.MaskedArray.*x.filled",
    ),
]


@pytest.mark.parametrize("call, exc, pattern", ERROR_INPUTS, ids=range(len(ERROR_INPUTS)))
def test_bad_input_is_refused_with_a_clear_message(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_accepted_values_come_back_as_plain_types():
    assert real_number("p", np.float32(0.5), func="f", low=0, high=1) == 0.5
    assert type(real_number("n", np.int64(3), func="f")) is float
    assert float_dtype("dtype", "float32", func="f") == np.dtype(np.float32)
    assert float_dtype("dtype", np.float64, func="f") == np.dtype(np.float64)


def test_a_masked_array_is_refused_where_its_mask_would_be_ignored():
    """Issue 9: an op given a masked array computed on the masked values too."""
    from cnnmath import conv2d

    x = np.ma.masked_array(np.ones((1, 1, 3, 3)), mask=np.zeros((1, 1, 3, 3), bool))
    with pytest.raises(TypeError, match=r"conv2d: input: .*MaskedArray|MaskedArray"):
        conv2d(x, np.ones((1, 1, 1, 1)))
    assert check_float_array("x", np.ones(2)) is not None  # a plain array still passes


def test_output_file_follows_a_symlink_to_where_open_writes(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "link.png").symlink_to("out/target.png")
    assert output_file("path", tmp_path / "link.png", func="f") == tmp_path / "out" / "target.png"
    assert output_file("path", str(tmp_path / "a.png"), func="f") == tmp_path / "a.png"


@pytest.mark.parametrize("where", ["loop", "sub/loop/x.png"])
def test_a_symlink_loop_is_a_clear_error(tmp_path, where):
    """Finding 1: Path.resolve() raised RuntimeError('Symlink loop') with a traceback."""
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "loop").symlink_to("loop")
    path = tmp_path / ("a" if where == "loop" else where)
    with pytest.raises(ValueError, match=r"^save: path: .* is a symlink loop"):
        output_file("path", path, func="save")


@pytest.mark.parametrize(
    "make, exc, pattern",
    [
        (lambda d: d, IsADirectoryError, r"^f: out: '.*' is a directory; give a file name"),
        (lambda d: "", ValueError, r"^f: out: expected a file path, got an empty string"),
        (lambda d: b"x.png", TypeError, r"^f: out: expected a file path"),
        (lambda d: f"{d}/new/", ValueError, r"^f: out: expected a file path, got .*names a dir"),
        (lambda d: d / "..", ValueError, r"which names a directory"),
        (lambda d: d / "no" / "x.png", FileNotFoundError, r"output directory does not exist"),
        (lambda d: d / "file" / "x.png", NotADirectoryError, r"output directory is not a dir"),
    ],
)
def test_output_file_refuses_what_cannot_be_written(tmp_path, make, exc, pattern):
    (tmp_path / "file").write_text("")
    with pytest.raises(exc, match=pattern):
        output_file("out", make(tmp_path), func="f")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # no probe file left


def test_writable_directory_without_a_function_name(tmp_path):
    assert writable_directory("--out", tmp_path, func=None) == tmp_path
    with pytest.raises(FileNotFoundError, match=r"^--out: output directory does not exist"):
        writable_directory("--out", tmp_path / "missing", func=None)


def test_a_list_of_a_whole_image_is_described_by_its_first_items_not_all_of_them():
    """conv2d given a nested list of a 3×224×224 image (150 528 numbers, several hundred
    kilobytes as text): the message names the argument, the type and how to convert, and
    shows a few items only."""
    image = np.zeros((1, 3, 224, 224)).tolist()
    with pytest.raises(TypeError) as caught:
        cnnmath.conv2d(image, np.ones((4, 3, 3, 3)))
    message = str(caught.value)
    assert message.startswith("conv2d: x: expected a numpy.ndarray of float32 or float64, got list")
    assert "numpy.asarray" in message and len(message) < 500
    short = [1.5, 2.5]  # a short one is shown whole
    with pytest.raises(TypeError, match=r"got list \[1\.5, 2\.5\];"):
        cnnmath.conv2d(short, np.ones((4, 3, 3, 3)))


def test_a_tensor_of_another_library_is_described_by_its_dtype_and_shape():
    torch = pytest.importorskip("torch")
    with pytest.raises(
        TypeError, match=r"got Tensor of dtype torch\.float32 and shape \(1, 3, 4, 4\);"
    ):
        cnnmath.conv2d(torch.zeros(1, 3, 4, 4), np.ones((1, 3, 1, 1)))
    path = "folder/" * 20 + "image.png"  # a long str is shown whole
    with pytest.raises(TypeError, match=rf"got str '{path}'"):
        cnnmath.conv2d(path, np.ones((1, 3, 1, 1)))
