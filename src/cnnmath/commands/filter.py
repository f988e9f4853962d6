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

Pixels out: the result y is mapped to [0, 1] by ``--scale`` (see ``SCALES``), then quantised
to the output's bit depth. Differences are signed, so by default (``range``) the interval the
operator can produce from pixels in [0, 1] is mapped onto [0, 1]: for a difference d in
[−1, 1] that is 0.5 + d/2 (0 is mid-gray).

Options belong to operators (``OPTIONS``): --magnitude to gradient, --weights to gradient and
grayscale, --k to the poolings, --kernel, --kernel-file and --padding to conv; any other
pairing is a one-line error (exit 2). The output's directory must exist and be writable,
checked before the image is read.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import textwrap
from pathlib import Path

import numpy as np

from ._args import whole_number
from ._common import CLIError

NAME = "filter"
HELP = "apply a filter from the results (gradient, grayscale, pooling, any kernel) to an image"
ORDER = 30

OPERATORS = ("gradient", "grayscale", "avgpool", "maxpool", "conv")

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

#: How a filtered value y becomes a pixel value in [0, 1]. [lo, hi] is the interval the
#: operator can produce from input pixels in [0, 1] (for a kernel w: lo = Σ min(w, 0),
#: hi = Σ max(w, 0)).
SCALES = {
    "range": "(y − lo)/(hi − lo): the operator's possible range onto [0, 1]; a difference "
    "d in [−1, 1] becomes 0.5 + d/2, so 0 is mid-gray (default)",
    "abs": "|y| / max(|lo|, |hi|): the size of y, its sign dropped (0 is black)",
    "minmax": "(y − min y)/(max y − min y) over this image: full contrast, absolute level lost "
    "(a constant image becomes 0.5)",
    "clip": "y clipped to [0, 1], unscaled: negative values become black",
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
weights; gradient: [-1, 1]; magnitude: [0, sqrt 2]; grayscale, pooling: [0, 1]):
{scales}

output: the format follows the -o extension (.png, .jpg, .tif, .bmp); 16-bit gray input
gives 16-bit output where the format allows it (PNG, TIFF), otherwise 8 bits. The file is
written to a temporary file and renamed, so a failure leaves no output behind.

examples:
  cnnmath filter gradient photo.jpg -o edges.png
  cnnmath filter gradient photo.jpg -o edges.png --magnitude
  cnnmath filter grayscale photo.png -o gray.png --weights bt709
  cnnmath filter avgpool photo.png -o small.png --k 4
  cnnmath filter conv photo.png -o sobel.png --kernel="1,0,-1;2,0,-2;1,0,-1"
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
    return _check_kernel(np.array(values, dtype=np.float64), "--kernel")


def load_kernel(path: str) -> np.ndarray:
    """A 2-D kernel from a ``.npy`` file (``numpy.load(..., allow_pickle=False)``), float64."""
    if Path(path).is_dir():
        raise CLIError(f"--kernel-file: '{path}' is a directory, not a .npy file")
    if not Path(path).is_file():
        raise CLIError(f"--kernel-file: no such file: '{path}'")
    with open(path, "rb") as f:  # np.load would take any other file for a pickle
        magic = f.read(6)
    if magic != b"\x93NUMPY" and not magic.startswith(b"PK"):  # PK: an .npz archive
        raise CLIError(
            f"--kernel-file: '{path}' is not a .npy file (it does not start with "
            "NumPy's magic bytes; save the kernel with numpy.save)"
        )
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as exc:  # object arrays need pickle: refused
        raise CLIError(f"--kernel-file: '{path}' cannot be read without pickle ({exc})") from None
    except (OSError, EOFError) as exc:
        raise CLIError(f"--kernel-file: '{path}' is not a .npy file ({exc})") from None
    if not isinstance(loaded, np.ndarray):
        loaded.close()
        raise CLIError(
            f"--kernel-file: expected a .npy file holding one array, got an archive '{path}'"
        )
    if loaded.dtype.kind not in "iuf":
        raise CLIError(f"--kernel-file: expected real numbers, got dtype {loaded.dtype}")
    return _check_kernel(loaded.astype(np.float64), "--kernel-file")


def _check_kernel(w: np.ndarray, name: str) -> np.ndarray:
    if w.ndim != 2 or 0 in w.shape:
        raise CLIError(f"{name}: expected a non-empty 2-D kernel (f1, f2), got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise CLIError(f"{name}: expected finite numbers, got {w.tolist()}")
    if not np.any(w):
        raise CLIError(f"{name}: the kernel is all zeros: its output would be blank")
    with np.errstate(over="ignore"):
        total = np.abs(w).sum()
    if not np.isfinite(total):
        raise CLIError(
            f"{name}: the kernel's weights overflow when summed (its output range "
            "cannot be mapped to pixels); scale it down"
        )
    return w


def parse_weights(text: str):
    """--weights: "bt601", "bt709" or "r,g,b" (three numbers)."""
    key = text.strip().lower().replace(".", "").replace("-", "")
    if key in ("bt601", "bt709"):
        return key
    try:
        weights = tuple(float(v) for v in text.split(","))
    except ValueError:
        weights = ()
    if len(weights) != 3 or not all(math.isfinite(v) for v in weights):
        raise CLIError(f"--weights: expected bt601, bt709 or three numbers r,g,b, got {text!r}")
    if not any(weights):
        raise CLIError(
            f"--weights: the weights are all zero: the output would be blank, got {text!r}"
        )
    if not math.isfinite(sum(abs(v) for v in weights)):
        raise CLIError(f"--weights: the weights overflow when summed, got {text!r}")
    return weights


def _luma_bounds(weights) -> tuple[float, float]:
    from ..filters import BT601, BT709

    w = {"bt601": BT601, "bt709": BT709}.get(weights, weights)
    return sum(min(v, 0.0) for v in w), sum(max(v, 0.0) for v in w)


def _weights_label(weights) -> str:
    if isinstance(weights, str):
        return {"bt601": "BT.601", "bt709": "BT.709"}[weights]
    return "(" + ", ".join(f"{v:g}" for v in weights) + ")"


# ---------------------------------------------------------------------------------------------
# The operators: each returns (y, alpha or None, (lo, hi)) and adds notes for the user.


def _gray_of(x: np.ndarray, channels, weights, notes: list[str], given: set[str]) -> np.ndarray:
    """One gray channel (1, H, W) for result 1: colour through result 3, alpha dropped."""
    from ..filters import to_grayscale

    if channels[0] == "L":
        if len(channels) == 2:
            notes.append("alpha channel dropped (the gradient is of the gray channel)")
        if "--weights" in given:
            notes.append("--weights unused: the input is already gray")
        return x[:1]
    if len(channels) == 4:
        notes.append("alpha channel dropped")
    gray = to_grayscale(x[:3], weights)
    notes.append(
        f"colour input converted to grayscale with {_weights_label(weights)} luma "
        "weights (result 3: a 1x1 convolution) before taking differences"
    )
    return gray


def _gradient(x, channels, args, notes):
    from ..filters import image_gradient

    gray = _gray_of(x, channels, parse_weights(args.weights), notes, args.given_options)
    y1, y2 = image_gradient(gray)
    if args.magnitude:
        return np.sqrt(y1 * y1 + y2 * y2), None, (0.0, math.sqrt(2.0))
    notes.append("output: Y1 (vertical differences) left, Y2 (horizontal) right")
    return np.concatenate([y1, y2], axis=2), None, (-1.0, 1.0)


def _grayscale(x, channels, args, notes):
    from ..filters import to_grayscale

    weights = parse_weights(args.weights)
    alpha = x[-1:] if channels[-1] == "A" else None
    if channels[0] == "L":
        unused = " (--weights unused)" if "--weights" in args.given_options else ""
        notes.append(f"input is already gray: written unchanged{unused}")
        return x[:1], alpha, (0.0, 1.0)
    gray = to_grayscale(x[:3], weights)
    return gray, alpha, _luma_bounds(weights)


def _check_window(x: np.ndarray, k: int, notes: list[str]) -> None:
    H, W = x.shape[1:]
    if k > H or k > W:
        raise CLIError(f"--k: the window {k}x{k} is larger than the image ({H}x{W} pixels)")
    if H % k or W % k:
        notes.append(
            f"{H % k} row(s) and {W % k} column(s) at the bottom/right dropped "
            f"({H}x{W} is not a multiple of k={k})"
        )


def _avgpool(x, channels, args, notes):
    from ..filters import average_pool_by_conv

    _check_window(x, args.k, notes)
    return _split_alpha(average_pool_by_conv(x, args.k), channels)


def _maxpool(x, channels, args, notes):
    from ..ops import max_pool2d

    _check_window(x, args.k, notes)
    return _split_alpha(max_pool2d(x, args.k), channels)


def _split_alpha(y, channels):
    """Pooled channels: (colour, alpha or None, range [0, 1]) — pooling alpha too."""
    if channels[-1] == "A":
        return y[:-1], y[-1:], (0.0, 1.0)
    return y, None, (0.0, 1.0)


def _conv(x, channels, args, notes):
    from ..ops import conv2d

    if args.kernel is not None:
        w = parse_kernel(args.kernel)
    elif args.kernel_file is not None:
        w = load_kernel(args.kernel_file)
    else:
        raise CLIError(
            'conv needs a kernel: --kernel="1,0,-1;2,0,-2;1,0,-1" or --kernel-file K.npy'
        )
    colour = x[:-1] if channels[-1] == "A" else x
    if channels[-1] == "A":
        notes.append("alpha channel dropped")
    # each channel alone: the C channels become a batch of C one-channel images
    y = conv2d(colour[:, None], w[None, None], padding=args.padding)[:, 0]
    return y, None, (float(np.minimum(w, 0).sum()), float(np.maximum(w, 0).sum()))


_APPLY = {
    "gradient": _gradient,
    "grayscale": _grayscale,
    "avgpool": _avgpool,
    "maxpool": _maxpool,
    "conv": _conv,
}


def to_pixels(y: np.ndarray, bounds: tuple[float, float], scale: str) -> np.ndarray:
    """Map filtered values y to pixel values in [0, 1] as ``SCALES[scale]`` says.

    >>> to_pixels(np.array([-1.0, 0.0, 0.5, 1.0]), (-1.0, 1.0), "range")
    array([0.  , 0.5 , 0.75, 1.  ])
    """
    lo, hi = bounds
    if scale == "range":
        out = (y - lo) / (hi - lo)
    elif scale == "abs":
        out = np.abs(y) / max(abs(lo), abs(hi))
    elif scale == "minmax":
        y_min, y_max = (float(y.min()), float(y.max())) if y.size else (0.0, 0.0)
        out = (y - y_min) / (y_max - y_min) if y_max > y_min else np.full_like(y, 0.5)
    elif scale == "clip":
        out = y
    else:
        raise ValueError(f"to_pixels: scale: expected one of {tuple(SCALES)}, got {scale!r}")
    return np.clip(out, 0.0, 1.0)  # rounding can step 1 ulp outside


# ---------------------------------------------------------------------------------------------


def _check_paths(input_path: str, output_path: str) -> str:
    from ..images import check_writable_directory, image_format

    source, target = Path(input_path), Path(output_path)
    if not source.exists():
        raise CLIError(f"INPUT: no such file: '{input_path}'")
    if source.is_dir():
        raise CLIError(f"INPUT: '{input_path}' is a directory, not an image file")
    try:
        fmt = image_format(target)
    except ValueError as exc:
        raise CLIError(f"-o: {exc}".replace("path: ", "", 1)) from None
    if target.is_dir():
        raise CLIError(f"-o: '{output_path}' is a directory; give a file name")
    directory = target.parent
    if not directory.is_dir():
        raise CLIError(f"-o: directory '{directory}' does not exist (create it first)")
    try:
        check_writable_directory(directory, func="-o", name="OUTPUT")
    except OSError as exc:
        raise CLIError(str(exc).replace("OUTPUT: ", "", 1)) from None
    same = source.resolve() == target.resolve() or (
        target.exists() and os.path.samefile(source, target)
    )
    if same:
        raise CLIError(f"-o: '{output_path}' is the input file; write to another path")
    return fmt


def run(args: argparse.Namespace) -> int:
    """Check options and paths, read INPUT, apply the operator, write OUTPUT; return 0 (a
    user error is a ``CLIError``/``ValueError``/``OSError``: one line, exit 2)."""
    from ..images import ALPHA_FORMATS, SIXTEEN_BIT_FORMATS, load_image, save_image

    args.given_options = check_options(args)
    fmt = _check_paths(args.input, args.output)
    if args.operator == "conv" and args.kernel is None and args.kernel_file is None:
        raise CLIError(
            'conv needs a kernel: --kernel="1,0,-1;2,0,-2;1,0,-1" or --kernel-file K.npy'
        )
    if args.operator in ("gradient", "grayscale"):
        parse_weights(args.weights)  # fail before reading the image
    x, info = load_image(args.input)
    notes: list[str] = []
    if info.converted:
        notes.append(f"input: {info.converted}")
    y, alpha, bounds = _APPLY[args.operator](x, info.channels, args, notes)
    pixels = to_pixels(y, bounds, args.scale)
    if alpha is not None:
        if len(pixels) + 1 in ALPHA_FORMATS[fmt]:
            pixels = np.concatenate([pixels, alpha], axis=0)
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
            f"cnnmath filter: wrote {args.output} ({args.operator}, {W}x{H}, "
            f"{C} channel(s), {bit_depth}-bit, scale {args.scale})",
            file=sys.stderr,
        )
    return 0
