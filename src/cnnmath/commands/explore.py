"""``cnnmath explore [MODEL] [-o DIR]``: an offline, interactive page of a network's feature
maps (see ``cnnmath.explore``); prints the path of DIR/index.html."""

from __future__ import annotations

import argparse

from ._args import whole_number
from ._common import CLIError

NAME = "explore"
HELP = "write an offline page to explore a network's feature maps, receptive fields and sums"
ORDER = 12

_EPILOG = """\
MODEL is a name of cnnmath.models (lenet, resnet20, resnet18, ...; untrained, seed 0) or a
.safetensors file of weights with --arch NAME (never pickle). Without MODEL: the digits CNN
(lenet) trained for a few epochs with seed 0, so every run draws the same page. Inputs: test
digits for a 1x8x8 input, otherwise the bundled photograph resized (mirrored, then noise).
The page is one self-contained HTML file (no network, no build step): one panel per layer;
hover a unit to highlight its receptive field in the input; click it to see the kernel and
the weighted sum that made it. Needs the extras: pip install "cnnmath[all]".

Weights that hold NaN or inf (a training run that diverged, a damaged file) are refused,
naming MODEL and the tensor, as is a layer whose outputs overflow to inf: the page shows
finite numbers only. MODEL must be a regular file (not a FIFO or a device), and an
index.html already in DIR must be a page this command wrote.
"""

#: ``cnnmath.explore``'s parameter names, as the options of this command.
_OPTIONS = {
    "out_dir": "-o",
    "images": "--images",
    "input_shape": "--input",
    "inputs": "--images/--input",
}


def _cli_error(exc: Exception) -> CLIError:
    """``cnnmath.explore``'s message naming this command's argument instead of the function's
    parameter ("explore: out_dir: ..." becomes "-o: ...")."""
    text = str(exc)
    prefix = "explore: "
    if text.startswith(prefix):
        text = text[len(prefix) :]
        name, sep, rest = text.partition(": ")
        option = _OPTIONS.get(name.split("[", 1)[0])
        if sep and option is not None:
            text = f"{option}: {rest}"
    return CLIError(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """MODEL, -o DIR, --arch, --input C H W, --images N."""
    from ..explore import DEFAULT_DIR

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _EPILOG
    parser.add_argument("model", nargs="?", metavar="MODEL", help="see below (default: digits)")
    parser.add_argument(
        "-o",
        "--out",
        metavar="DIR",
        default=DEFAULT_DIR,
        help=f"folder for index.html, created if missing (default ./{DEFAULT_DIR})",
    )
    parser.add_argument("--arch", metavar="NAME", help="the network of a .safetensors MODEL")
    parser.add_argument(
        "--input",
        nargs=3,
        type=whole_number(1),
        metavar=("C", "H", "W"),
        help="input shape (default 1 8 8 for the digits networks, 3 32 32 for resnet20 "
        "and resnet50, else 3 64 64)",
    )
    parser.add_argument(
        "--images",
        type=whole_number(1),
        metavar="N",
        help="inputs, 1-10 (default 6, or as many as the page holds for a large network)",
    )
    parser.add_argument("--quiet", action="store_true", help="no training progress on stderr")


def run(args: argparse.Namespace) -> int:
    """Build the page; print the path of its index.html; return 0."""
    from ..explore import build_explorer

    try:
        index = build_explorer(
            args.out,
            args.model,
            arch=args.arch,
            input_shape=args.input,
            images=args.images,
            progress=not args.quiet,
        )
    except (ValueError, TypeError, OSError) as exc:
        raise _cli_error(exc) from None
    print(index)
    return 0
