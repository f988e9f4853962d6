"""``cnnmath tour [--out DIR] [--quick] [--quiet]``: the report of every result, offline HTML.

Runs results 1-4 and checks 6 on the bundled photograph, trains the digits CNN briefly, and
writes DIR/index.html with its figures (see ``cnnmath.tour.build_tour``); prints the path of
index.html on stdout at the end, progress on stderr before that.
"""

from __future__ import annotations

import argparse

from ._common import CLIError

NAME = "tour"
HELP = "run every result on a photograph, train a small CNN, and write an HTML report"
ORDER = 10

_EPILOG = """\
The report is one self-contained page (figures as PNG beside it, no network needed): the
photograph and its gradient (result 1), its grayscale (result 3), pooling by convolution
against avg_pool2d (result 2), activations and max pooling with a counterexample (result
4), a training curve of the digits CNN, and the table of every verified claim (results
1-4 and 6). It is built in a temporary folder and moved into DIR at the end: a failed run
leaves no half-written report. An existing DIR is replaced only if it is empty or an
earlier tour report. Needs the extras: pip install "cnnmath[all]".
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --out DIR, --quick and --quiet to the ``tour`` subparser (help from TRAINING_RUN)."""
    from ..tour import DEFAULT_DIR, TRAINING_RUN

    (quick_epochs, quick_images), (full_epochs, _) = TRAINING_RUN[True], TRAINING_RUN[False]

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _EPILOG
    parser.add_argument(
        "--out",
        metavar="DIR",
        default=DEFAULT_DIR,
        help=f"folder for the report, created if missing (default ./{DEFAULT_DIR})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a faster, smaller run: {quick_epochs} training epochs on "
        f"{'all 1,437' if quick_images is None else quick_images} images (instead of "
        f"{full_epochs} on all 1,437), claims on random tensors only",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace) -> int:
    """Build the report into ``args.out``; print the path of its index.html; return 0."""
    from ..tour import build_tour

    try:
        index = build_tour(args.out, quick=args.quick, progress=not args.quiet)
    except (ValueError, OSError) as exc:
        text = str(exc).removeprefix("build_tour: ")
        if not text.startswith("out_dir: "):
            raise
        raise CLIError(f"--out: {text.removeprefix('out_dir: ')}") from None
    print(index)
    return 0
