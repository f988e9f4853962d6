"""``cnnmath filter OPERATOR INPUT -o OUTPUT``: a result's filter applied to an image file.

Operators (x is the image as float64 in [0, 1], channels first):

    gradient   result 1: Y1[i,j] = X[i+1,j] − X[i,j], Y2[i,j] = X[i,j+1] − X[i,j] (zero
               padding), written side by side (Y1 left, Y2 right: width 2W), or with
               --magnitude the one image sqrt(Y1² + Y2²). Colour input is first turned to
               gray with result 3 (--weights), and the command says so.
    grayscale  result 3: Y′ = w_R R + w_G G + w_B B, a 1×1 convolution; RGBA keeps its alpha
               (written as gray + alpha where the format has alpha).
    avgpool    result 2: k×k average pooling with stride k, computed as the convolution with
               w[c,d,a,b] = δ(c,d)/k²; every channel (alpha too) is pooled.
    maxpool    k×k max pooling with stride k, every channel.
    conv       any 2-D kernel (cross-correlation, not flipped), applied to each colour channel
               on its own; alpha is dropped.

The operators and the pixel scaling are the library's (``cnnmath.filters.filter_image``,
``to_pixels``, ``SCALES``); this module is the command's wiring: options, paths, messages.

Options belong to operators (``OPTIONS``): --magnitude to gradient, --weights to gradient and
grayscale, --k to the poolings, --kernel, --kernel-file and --padding to conv; any other
pairing is a one-line error (exit 2). INPUT and --kernel-file must be regular files (a FIFO
or a device is refused before it is opened). The output path is checked (its folder exists
and is writable, it is no directory and no symlink loop) before the image is read, and the
image is refused before it is decoded when the filter would need more memory than is
available.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap

import numpy as np

from .._checks import output_file
from ..filters import OPERATORS, SCALES, filter_image, filter_memory, image_kernel, luma_weights
from ._args import whole_number
from ._common import CLIError, input_file

NAME = "filter"
HELP = "apply a filter from the results (gradient, grayscale, pooling, any kernel) to an image"
ORDER = 30

#: The operator-specific options: (argparse dest, the operators it applies to, its default).
#: Giving one to another operator is an error: whoever typed it expected it to do something.
OPTIONS = {
    "--magnitude": ("magnitude", ("gradient",), False),
    "--weights": ("weights", ("gradient", "grayscale"), "bt601"),
    "--k": ("k", ("avgpool", "maxpool"), 2),
    "--kernel": ("kernel", ("conv",), None),
    "--kernel-file": ("kernel_file", ("conv",), None),
    "--padding": ("padding", ("conv",), "same"),
}

_EPILOG = """\
operators:
  gradient   result 1: forward differences Y1 (along rows, vertical) and Y2 (along
             columns, horizontal) with zero padding, written side by side (Y1 left, Y2
             right, width 2W), or --magnitude sqrt(Y1^2 + Y2^2). Colour input is converted
             to gray with result 3 first (--weights), and the command says so.
  grayscale  result 3: Y' = wR R + wG G + wB B (--weights). RGBA keeps its alpha
             (gray + alpha) where the output format can store alpha (PNG, TIFF).
  avgpool    result 2: k x k average pooling, stride k, as a convolution (--k).
  maxpool    k x k max pooling, stride k (--k). Both pool every channel, alpha too;
             rows and columns beyond a multiple of k are dropped (floor, as PyTorch).
  conv       any kernel, per colour channel (--kernel or --kernel-file, --padding);
             alpha is dropped.
An option given to an operator it does not belong to (--k with gradient, --kernel with
avgpool, ...) is an error, not silently ignored.

pixel scaling (--scale), with [lo, hi] the range the operator can produce from pixels
in [0, 1] (for a kernel w: lo = sum of its negative weights, hi = sum of its positive
weights; gradient: [-1, 1]; magnitude: [0, sqrt 2] (both scaled by the gray plane's
width hi - lo under other --weights: 1 for BT.601 and BT.709); grayscale, pooling: [0, 1]):
{scales}

output: the format follows the -o extension (.png, .jpg, .tif, .bmp); 16-bit gray input
gives 16-bit output where the format allows it (PNG, TIFF), otherwise 8 bits. The file is
written to a temporary file and renamed, so a failure leaves no output behind.

images larger than memory: a Zarr store (.zarr) or a tiled/BigTIFF input, a .zarr output,
or --scheduler ADDRESS filters block by block through dask (each block grown by the
operator's halo, the numbers of the whole image), in this process or on the dask.distributed
cluster at ADDRESS, with a progress bar; the output is a Zarr store or a tiled BigTIFF of
float pixel values in [0, 1], renamed into place only when complete (see docs/scale.md).

examples:
  cnnmath filter gradient photo.jpg -o edges.png
  cnnmath filter gradient photo.jpg -o edges.png --magnitude
  cnnmath filter grayscale photo.png -o gray.png --weights bt709
  cnnmath filter avgpool photo.png -o small.png --k 4
  cnnmath filter conv photo.png -o sobel.png --kernel="1,0,-1;2,0,-2;1,0,-1"
  cnnmath filter gradient scan.zarr -o edges.zarr --scheduler tcp://HOST:8786
"""


def _padding(text: str) -> int | str:
    if text in ("same", "valid"):
        return text
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"expected 'same', 'valid' or an integer >= 0, got {text!r}"
        )
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """OPERATOR INPUT -o OUTPUT and the options of ``OPTIONS`` (defaults None: see
    ``check_options``), --scale, --quiet; the epilog documents operators and scales."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    scales = "\n".join(
        textwrap.fill(
            f"{name}: {text}", width=88, initial_indent="  ", subsequent_indent="          "
        )
        for name, text in SCALES.items()
    )
    parser.epilog = _EPILOG.format(scales=scales)
    parser.add_argument(
        "operator", metavar="OPERATOR", choices=OPERATORS, help="one of: " + ", ".join(OPERATORS)
    )
    parser.add_argument("input", metavar="INPUT", help="image file to read")
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUTPUT",
        required=True,
        help="image file to write; its extension picks the format",
    )
    # Defaults are None here and filled in by check_options, which can then tell an option
    # the user gave from one left at its default.
    parser.add_argument(
        "--magnitude",
        action="store_true",
        default=None,
        help="gradient: write sqrt(Y1^2 + Y2^2) instead of Y1 | Y2",
    )
    parser.add_argument(
        "--weights",
        default=None,
        metavar="W",
        help="grayscale (and gradient of colour input): bt601 (default), "
        "bt709, or three numbers r,g,b",
    )
    parser.add_argument(
        "--k",
        type=whole_number(1),
        default=None,
        help="avgpool, maxpool: window and stride (default 2)",
    )
    kernel = parser.add_mutually_exclusive_group()
    kernel.add_argument(
        "--kernel",
        metavar="ROWS",
        help='conv: rows split by ";", values by ",", e.g. '
        '--kernel="1,0,-1;2,0,-2;1,0,-1" (use = when it starts with -)',
    )
    kernel.add_argument(
        "--kernel-file", metavar="K.npy", help="conv: a 2-D kernel saved with numpy.save"
    )
    parser.add_argument(
        "--padding",
        type=_padding,
        default=None,
        help="conv: 'same' (default: output the input's size), 'valid', or "
        "zeros added on each side",
    )
    parser.add_argument(
        "--scale",
        choices=tuple(SCALES),
        default="range",
        help="how values become pixels (default range; see below)",
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="run on the dask.distributed cluster at ADDRESS (tcp://HOST:PORT); Zarr and "
        "tiled/BigTIFF files are filtered block by block, in this process by default",
    )


# ---------------------------------------------------------------------------------------------
# Arguments that need more than argparse


def check_options(args: argparse.Namespace) -> set[str]:
    """Refuse an option given to an operator it does not apply to (``OPTIONS``), with a
    ``CLIError`` naming both; set every option left out to its default, in place; return the
    options the user gave (e.g. ``{"--k"}``)."""
    given = set()
    for option, (dest, operators, default) in OPTIONS.items():
        value = getattr(args, dest)
        if value is None:
            setattr(args, dest, default)
            continue
        if args.operator not in operators:
            raise CLIError(
                f"{option} does not apply to {args.operator} (it is for "
                f"{', '.join(operators)}); remove it"
            )
        given.add(option)
    return given


def parse_kernel(text: str) -> np.ndarray:
    """A kernel from the command line: rows split by ";", values by "," → (f1, f2) float64.

    >>> parse_kernel("1,0,-1; 2,0,-2")
    array([[ 1.,  0., -1.],
           [ 2.,  0., -2.]])
    """
    rows = [row.strip() for row in text.strip().strip(";").split(";")]
    if not rows or not rows[0]:
        raise CLIError(f"--kernel: expected rows of numbers like '1,0,-1;2,0,-2', got {text!r}")
    values = []
    for number, row in enumerate(rows, start=1):
        try:
            values.append([float(v) for v in row.replace(" ", "").split(",")])
        except ValueError:
            raise CLIError(
                f"--kernel: row {number} {row!r} is not a list of numbers separated by ','"
            ) from None
    widths = {len(r) for r in values}
    if len(widths) != 1:
        raise CLIError(
            f"--kernel: every row needs the same number of values, got {[len(r) for r in values]}"
        )
    return _kernel(np.array(values, dtype=np.float64), "--kernel")


def load_kernel(path: str) -> np.ndarray:
    """A 2-D kernel from a ``.npy`` file (``numpy.load(..., allow_pickle=False)``), float64.

    Refused with a ``CLIError`` naming --kernel-file: anything but a regular file (checked
    before it is opened: a FIFO would block), a file without NumPy's magic bytes, an ``.npz``
    archive, an array of objects (reading it would need pickle, which could run code), and a
    damaged or truncated ``.npy`` file (a header or data shorter than it says).
    """
    input_file("--kernel-file", path, expected="a .npy file")
    with open(path, "rb") as f:  # np.load would take any other file for a pickle
        magic = f.read(6)
    if magic.startswith(b"PK"):  # a zip archive: an .npz holds several arrays, not one
        raise CLIError(
            f"--kernel-file: expected a .npy file holding one array, got an archive '{path}'"
        )
    if magic != b"\x93NUMPY":
        raise CLIError(
            f"--kernel-file: '{path}' is not a .npy file (it does not start with "
            "NumPy's magic bytes; save the kernel with numpy.save)"
        )
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        if isinstance(exc, ValueError) and "pickle" in str(exc):  # an array of objects
            raise CLIError(
                f"--kernel-file: '{path}' holds Python objects, which cannot be read without "
                f"pickle (refused: it could run code); expected an array of numbers ({exc})"
            ) from None
        raise CLIError(
            f"--kernel-file: '{path}' is a damaged or truncated .npy file ({exc}); save the "
            "kernel again with numpy.save"
        ) from None
    return _kernel(loaded, "--kernel-file")


def _kernel(w: np.ndarray, name: str) -> np.ndarray:
    try:
        return image_kernel(w, name=name)
    except (TypeError, ValueError) as exc:
        raise CLIError(str(exc)) from None


def _weights(text: str) -> tuple[float, float, float]:
    try:
        return luma_weights(text, name="--weights")
    except (TypeError, ValueError) as exc:
        raise CLIError(str(exc)) from None


# ---------------------------------------------------------------------------------------------


def _check_paths(input_path: str, output_path: str) -> str:
    """INPUT is a regular file (not a FIFO or a device), OUTPUT a writable file path of a
    known format that is not INPUT; returns the output's format. Checked before anything is
    read."""
    from ..images import image_format

    source = input_file("INPUT", input_path, expected="an image file")  # no FIFO, no device
    try:
        fmt = image_format(output_path)
    except ValueError as exc:
        raise CLIError(f"-o: {exc}".replace("path: ", "", 1)) from None
    try:
        target = output_file("-o", output_path, func=None)
    except (OSError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    if os.path.realpath(input_path) == str(target) or (
        target.exists() and os.path.samefile(source, target)
    ):
        raise CLIError(f"-o: '{output_path}' is the input file; write to another path")
    return fmt


def _input_error(exc: Exception) -> CLIError:
    """load_image's message, naming the argument (INPUT) rather than the function."""
    text = str(exc)
    for prefix in ("load_image: path: ", "image_shape: path: "):
        text = text.replace(prefix, "", 1)
    return CLIError(f"INPUT: {text}")


def _check_memory(args: argparse.Namespace, kernel: np.ndarray | None) -> None:
    """Refuse, before decoding, an image the filter cannot hold in the memory available."""
    from ..images import available_memory, image_shape

    try:
        shape = image_shape(args.input)
    except (ValueError, OSError) as exc:
        raise _input_error(exc) from None
    need = filter_memory(
        args.operator,
        shape,
        magnitude=bool(args.magnitude),
        k=args.k,
        kernel_shape=None if kernel is None else kernel.shape,
        padding=args.padding,
    )
    have = available_memory()
    if have is not None and need > have:
        C, H, W = shape
        padded = f" with --padding {args.padding}" if isinstance(args.padding, int) else ""
        raise CLIError(
            f"not enough memory: {args.operator} of INPUT '{args.input}' ({H}x{W} pixels, "
            f"{C} channel(s)){padded} would need about {need / 2**30:.3g} GiB, and "
            f"{have / 2**30:.3g} GiB are available; use a smaller image"
            + (" or padding" if padded else "")
        )


def _lazy(args: argparse.Namespace) -> bool:
    """Whether INPUT goes through dask (``cnnmath.tiled_io.wants_lazy``): Zarr, tiled or
    BigTIFF, or --scheduler given."""
    from ..tiled_io import wants_lazy

    return wants_lazy(args.input, args.output, args.scheduler)


#: Block side for a picture sent through dask (decoded whole: the blocks only spread the
#: filtering over the workers).
_PICTURE_BLOCK = 1024


def _run_lazy(
    args: argparse.Namespace, kernel: np.ndarray | None, weights: tuple[float, float, float] | None
) -> int:
    """A Zarr/TIFF image larger than memory: read block by block, filtered through
    ``cnnmath.tiled`` (each block grown by the operator's halo), written whole or not at all,
    here or on the cluster at --scheduler; a progress bar on stderr. A picture that is
    neither a Zarr store nor a TIFF (PNG, JPEG, …) going to a Zarr store or through
    --scheduler is read whole by ``load_image``, as the in-memory path reads it (its notes
    too), and cut into blocks; its values stay float64, as load_image gives them."""
    import warnings

    from .. import tiled_io
    from .._optional import require
    from ..images import load_image
    from ..tiled import TiledRechunkWarning

    if not tiled_io.is_array_path(args.output):
        raise CLIError(
            "-o: through dask (a Zarr or tiled TIFF input, or --scheduler) the output is a "
            f"Zarr store (.zarr) or a tiled TIFF (.tif); got '{args.output}'"
        )
    if os.path.exists(args.output) and os.path.samefile(args.input, args.output):
        raise CLIError(f"-o: '{args.output}' is the input; write to another path")
    input_notes: list[str] = []
    if tiled_io.array_format(args.input) is None:  # a picture: decoded whole, in memory
        da = require("dask.array", "dask", "filter")
        input_file("INPUT", args.input, expected="an image file")
        _check_memory(args, kernel)
        try:
            pixels, info = load_image(args.input)
        except ValueError as exc:
            raise _input_error(exc) from None
        if info.converted:
            input_notes.append(f"input: {info.converted}")
        x = da.from_array(pixels, chunks=(pixels.shape[0], _PICTURE_BLOCK, _PICTURE_BLOCK))
    else:
        if os.path.exists(args.input) and not os.path.isdir(args.input):  # a file:
            input_file("INPUT", args.input, expected="a TIFF file")  # no FIFO, no device
        try:
            x = tiled_io.open_array(args.input)
        except (ValueError, TypeError, OSError) as exc:
            raise _option_error(exc) from None
    with (
        tiled_io.scheduler_client(args.scheduler) as client,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always", TiledRechunkWarning)
        try:
            pixels, notes = tiled_io.filter_array(
                x,
                args.operator,
                weights=weights,
                magnitude=bool(args.magnitude),
                k=args.k,
                kernel=kernel,
                padding=args.padding,
                scale=args.scale,
            )
        except ValueError as exc:  # --scale minmax reads the blocks here
            raise _option_error(exc) from None
        progress = None if args.quiet else sys.stderr
        try:
            tiled_io.save_array(pixels, args.output, scheduler=client, progress=progress)
        except (ValueError, TypeError, OSError) as exc:
            raise _option_error(exc) from None
    if not args.quiet:
        for note in [*input_notes, *notes, *(str(w.message) for w in caught)]:
            print(f"cnnmath filter: {note}", file=sys.stderr)
        C, H, W = pixels.shape
        print(
            f"cnnmath filter: wrote {args.output} ({args.operator}, {H}x{W} pixels, "
            f"{C} channel(s), {pixels.dtype}, scale {args.scale})",
            file=sys.stderr,
        )
    return 0


#: The library's "function: parameter: " prefixes, as this command's arguments.
_OPTION_NAMES = (
    ("filter_image: k: ", "--k: "),
    ("filter_array: k: ", "--k: "),
    ("save_array: path: ", "-o: "),
    ("open_array: path: ", "INPUT: "),  # also a block found damaged when a task read it
    ("filter_image: kernel: ", "--kernel: "),  # a kernel larger than the (padded) image
    ("filter_array: kernel: ", "--kernel: "),
)


def _option_error(exc: Exception) -> CLIError:
    """The library's error naming this command's argument instead of the function's
    parameter (``_OPTION_NAMES``)."""
    text = str(exc)
    for library, option in _OPTION_NAMES:
        text = text.replace(library, option, 1)
    return CLIError(text)


def run(args: argparse.Namespace) -> int:
    """Check options and paths, read INPUT, apply the operator, write OUTPUT; return 0 (a
    user error is a ``CLIError``/``ValueError``/``OSError``: one line, exit 2)."""
    from ..images import ALPHA_FORMATS, SIXTEEN_BIT_FORMATS, load_image, save_image

    given = check_options(args)
    lazy = _lazy(args)
    fmt = "" if lazy else _check_paths(args.input, args.output)
    kernel = None
    if args.operator == "conv":
        if args.kernel is not None:
            kernel = parse_kernel(args.kernel)
        elif args.kernel_file is not None:
            kernel = load_kernel(args.kernel_file)
        else:
            raise CLIError(
                'conv needs a kernel: --kernel="1,0,-1;2,0,-2;1,0,-1" or --kernel-file K.npy'
            )
    weights = None
    if args.operator in ("gradient", "grayscale"):
        weights = _weights(args.weights)  # fail before reading the image
    if lazy:
        return _run_lazy(args, kernel, weights)
    _check_memory(args, kernel)
    try:
        x, info = load_image(args.input)
    except ValueError as exc:
        raise _input_error(exc) from None
    notes: list[str] = []
    if info.converted:
        notes.append(f"input: {info.converted}")
    if "--weights" in given and info.channels[0] == "L":
        notes.append("--weights unused: the input is already gray")
    try:
        result = filter_image(
            x,
            info.channels,
            args.operator,
            weights=weights,
            magnitude=bool(args.magnitude),
            k=args.k,
            kernel=kernel,
            padding=args.padding,
            scale=args.scale,
        )
    except ValueError as exc:
        raise _option_error(exc) from None
    notes.extend(result.notes)
    pixels = result.pixels
    if result.alpha is not None:
        if len(pixels) + 1 in ALPHA_FORMATS[fmt]:
            pixels = np.concatenate([pixels, result.alpha], axis=0)
        else:
            notes.append(f"alpha channel dropped: {fmt} cannot store it")
    bit_depth = 8
    if info.bit_depth == 16:
        if len(pixels) == 1 and fmt in SIXTEEN_BIT_FORMATS:
            bit_depth = 16
        else:
            notes.append(
                f"16-bit input written with 8 bits: {fmt} holds 16 bits only as PNG or TIFF gray"
            )
    save_image(pixels, args.output, bit_depth=bit_depth)
    if not args.quiet:
        for note in notes:
            print(f"cnnmath filter: {note}", file=sys.stderr)
        C, H, W = pixels.shape
        print(
            f"cnnmath filter: wrote {args.output} ({args.operator}, {H}x{W} pixels, "
            f"{C} channel(s), {bit_depth}-bit, scale {args.scale})",
            file=sys.stderr,
        )
    return 0
